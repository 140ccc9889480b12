// evolink: the command-line client (its behaviour is a contract; see docs/cli.md).
//
//   evolink image --prompt TEXT [--size WxH] [--n N] [--no-prompt-extend] [--out DIR]
//   evolink video --prompt TEXT --image URL|PATH [--duration 5|10] [--quality 480p|720p|1080p] [--out DIR]
//   evolink status TASK_ID        prints the task JSON
//   evolink wait TASK_ID [--out DIR]  waits for a task (resumes an interrupted wait)
//   evolink resume --journal FILE [--out DIR]  waits for every unfinished task of a journal
//   evolink demo [--out DIR]      the whole flow against the in-process fake server (files in ./demo-output)
//   evolink fake-server           runs the fake EvoLink server until interrupted
//
// Common options: --timeout SECONDS, --poll SECONDS, --callback-listen HOST:PORT with
// --callback-public-url URL, --json, --journal FILE. --image takes an http(s) URL or a local
// image file (checked against the model's limits, then uploaded through the Files API).
// --out DIR downloads the results into DIR (progress on stderr) and prints the file paths
// instead of the URLs. Environment: EVOLINK_API_KEY, EVOLINK_BASE_URL, EVOLINK_FILES_BASE_URL,
// EVOLINK_CA_FILE. Exit codes: 0 done, 2 bad usage or invalid request (nothing sent),
// 3 API, network or download error, 4 task failed or cancelled, 5 deadline passed, 130 interrupted.

#include <evolink.hpp>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

enum exit_code { ok = 0, usage_error = 2, api_error = 3, task_error = 4, deadline = 5, interrupted = 130 };

constexpr const char* usage_text = R"(usage:
  evolink image --prompt TEXT [--size WxH] [--n N] [--no-prompt-extend] [--out DIR]
  evolink video --prompt TEXT --image URL|PATH [--duration 5|10] [--quality 480p|720p|1080p] [--out DIR]
  evolink status TASK_ID
  evolink wait TASK_ID [--out DIR]
  evolink resume --journal FILE [--out DIR]
  evolink demo [--out DIR]   (downloads into ./demo-output by default)
  evolink fake-server [--port N] [--ca-out FILE] [--key KEY]
common options:
  --image URL|PATH         an http(s) URL, or a local image file: checked against the model's
                           limits (nothing sent when it does not fit), then uploaded
  --out DIR                download the results into DIR (created if missing) and print the
                           file paths instead of the URLs
  --timeout SECONDS        give up waiting after this long (default: 300 image, 600 video)
  --poll SECONDS           read the task every SECONDS (default: paced for images/videos)
  --callback-listen HOST:PORT  receive EvoLink's callback on this address...
  --callback-public-url URL    ...reachable by EvoLink at this public URL
  --json                   print the final task as JSON instead of result URLs (with --out,
                           plus a "files" array of the paths)
  --journal FILE           record task ids in FILE before waiting (evolink resume --journal FILE
                           waits for the unfinished ones after a crash)
environment: EVOLINK_API_KEY (required but for demo), EVOLINK_BASE_URL, EVOLINK_FILES_BASE_URL,
  EVOLINK_CA_FILE
exit codes: 0 done, 2 bad usage/invalid request, 3 API/network/download error, 4 task failed,
  5 deadline, 130 interrupted
)";

struct usage_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Options as given on the command line: flags without a value map to "".
struct args {
    std::string command;
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;

    bool has(const std::string& k) const { return options.count(k) != 0; }
    std::optional<std::string> get(const std::string& k) const
    {
        auto it = options.find(k);
        return it == options.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    std::string need(const std::string& k) const
    {
        if (auto v = get(k)) return *v;
        throw usage_failure("missing --" + k);
    }
    std::optional<int> integer(const std::string& k) const
    {
        auto v = get(k);
        if (!v) return std::nullopt;
        try {
            std::size_t used = 0;
            int i = std::stoi(*v, &used);
            if (used == v->size()) return i;
        } catch (...) {
        }
        throw usage_failure("--" + k + " takes a whole number, not \"" + *v + "\"");
    }
    std::optional<double> seconds(const std::string& k) const
    {
        auto v = get(k);
        if (!v) return std::nullopt;
        try {
            std::size_t used = 0;
            double d = std::stod(*v, &used);
            if (used == v->size() && d > 0 && d < 1e7) return d;
        } catch (...) {
        }
        throw usage_failure("--" + k + " takes a positive number of seconds, not \"" + *v + "\"");
    }
};

args parse_args(int argc, char** argv)
{
    static const std::map<std::string, bool> known = {
        // name -> takes a value
        {"prompt", true},  {"size", true},    {"n", true},       {"no-prompt-extend", false},
        {"image", true},   {"duration", true}, {"quality", true}, {"timeout", true},
        {"poll", true},    {"callback-listen", true}, {"callback-public-url", true},
        {"json", false},   {"port", true},    {"ca-out", true},  {"key", true},
        {"journal", true}, {"out", true}};
    args a;
    if (argc < 2) throw usage_failure("no command");
    a.command = argv[1];
    for (int i = 2; i < argc; ++i) {
        std::string s = argv[i];
        if (!s.starts_with("--")) {
            a.positional.push_back(s);
            continue;
        }
        auto name = s.substr(2);
        std::optional<std::string> inline_value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        auto it = known.find(name);
        if (it == known.end()) throw usage_failure("unknown option --" + name);
        if (!it->second) {
            if (inline_value) throw usage_failure("--" + name + " takes no value");
            a.options[name] = "";
        } else if (inline_value) {
            a.options[name] = *inline_value;
        } else {
            if (i + 1 >= argc) throw usage_failure("--" + name + " needs a value");
            a.options[name] = argv[++i];
        }
    }
    return a;
}

/// Progress on stderr: a live bar on a terminal, plain lines otherwise.
class progress_display {
public:
    progress_display() : tty_(::isatty(STDERR_FILENO) == 1) {}

    void operator()(const evolink::task& t)
    {
        std::string status = t.status_text.empty() ? "unknown" : t.status_text;
        if (tty_) {
            int filled = t.progress / 5;
            std::cerr << "\r  [" << std::string(static_cast<std::size_t>(filled), '#')
                      << std::string(static_cast<std::size_t>(20 - filled), '-') << "] " << (t.progress < 10 ? "  " : t.progress < 100 ? " " : "")
                      << t.progress << "%  " << status << "          " << std::flush;
            open_ = !t.finished();
            if (t.finished()) std::cerr << '\n';
        } else {
            std::cerr << "status: " << status << ' ' << t.progress << "%\n";
        }
    }
    /// Ends a bar left open (before printing something else).
    void close()
    {
        if (tty_ && open_) std::cerr << '\n';
        open_ = false;
    }

private:
    bool tty_;
    bool open_ = false;
};

int exit_code_for(const evolink::error_code& ec)
{
    if (!ec) return ok;
    if (ec == asio::error::operation_aborted) return interrupted;
    if (ec == evolink::errc::invalid_request || ec == evolink::errc::invalid_options ||
        ec == evolink::errc::missing_api_key)
        return usage_error;
    if (ec == evolink::errc::task_failed || ec == evolink::errc::task_cancelled) return task_error;
    if (ec == evolink::errc::deadline_exceeded) return deadline;
    return api_error;
}

/// True when a base URL's host is this machine: 127.x.x.x, localhost or
/// [::1]. A server there (the fake server, a local proxy) may use plain http
/// and call back to loopback; the real service never.
bool is_local_url(const std::string& url)
{
    auto scheme = url.find("://");
    auto authority = url.substr(scheme == std::string::npos ? 0 : scheme + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    authority = authority.substr(authority.rfind('@') == std::string::npos ? 0 : authority.rfind('@') + 1);
    if (authority.starts_with("[")) return authority.starts_with("[::1]");
    auto host = authority.substr(0, authority.find(':'));
    if (host == "localhost") return true;
    return host.starts_with("127.") && host.find_first_not_of("0123456789.") == std::string::npos;
}

evolink::client_options options_from_env()
{
    evolink::client_options o; // api_key: the client reads EVOLINK_API_KEY itself
    const char* base = std::getenv("EVOLINK_BASE_URL");
    const char* files = std::getenv("EVOLINK_FILES_BASE_URL");
    bool base_set = base && *base, files_set = files && *files;
    if (base_set) {
        o.base_url = base;
        o.allow_private_callback_urls = is_local_url(o.base_url);
        // A base URL on this machine (the fake server, a local test proxy)
        // without EVOLINK_FILES_BASE_URL: uploads go to the same host, never
        // to the real Files API with a test key and the user's images.
        if (!files_set && is_local_url(o.base_url)) o.files_base_url = o.base_url;
    }
    if (files_set) o.files_base_url = files;
    // Plain http only on this machine: every http:// URL must be local
    // (else the client refuses it at construction, with the reason).
    auto plain = [](const std::string& u) { return u.starts_with("http://"); };
    bool any_plain = plain(o.base_url) || plain(o.files_base_url);
    o.allow_insecure_http = any_plain && (!plain(o.base_url) || is_local_url(o.base_url)) &&
                            (!plain(o.files_base_url) || is_local_url(o.files_base_url));
    if (const char* ca = std::getenv("EVOLINK_CA_FILE"); ca && *ca) o.tls.ca_file = ca;
    return o;
}

/// Sizes for people, in powers of 1024: "512 B", "256.0 KB", "2.6 MB".
/// size_unit: the unit (0 B, 1 KB, 2 MB...) that suits `n`.
int size_unit(std::uint64_t n)
{
    int u = 0;
    for (double v = static_cast<double>(n); v >= 1024 && u < 4; v /= 1024) ++u;
    return u;
}
std::string scaled(std::uint64_t n, int unit)
{
    if (unit == 0) return std::to_string(n);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(n) / std::pow(1024.0, unit));
    return buf;
}
constexpr const char* unit_names[] = {"B", "KB", "MB", "GB", "TB"};
std::string size_text(std::uint64_t n)
{
    int u = size_unit(n);
    return scaled(n, u) + " " + unit_names[u];
}

/// A word for a shell command line: as is when safe, else single-quoted.
std::string shell_word(const std::string& s)
{
    bool safe = !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("_./:=@%+,-").find(c) != std::string_view::npos;
    });
    if (safe) return s;
    std::string q = "'";
    for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
}

/// How a command prints its outcome: --json, --out DIR.
struct output_options {
    bool json = false;
    std::optional<std::filesystem::path> out; ///< --out DIR, checked
    std::string out_arg;                      ///< as given (for the retry hint)

    /// The command that finishes the job for a task: waits, downloads.
    std::string wait_command(const std::string& id) const
    {
        return "evolink wait " + id + (out ? " --out " + shell_word(out_arg) : "");
    }
};

/// --out DIR: a directory that exists or can be created (its nearest existing
/// ancestor is a directory we may write in). Checked before anything is sent.
std::optional<std::filesystem::path> out_directory(const args& a)
{
    namespace fs = std::filesystem;
    auto v = a.get("out");
    if (!v) return std::nullopt;
    if (v->empty()) throw usage_failure("--out takes a directory");
    fs::path dir(*v);
    for (fs::path probe = dir;;) {
        std::error_code ec;
        auto st = fs::status(probe, ec);
        if (st.type() == fs::file_type::not_found) {
            auto parent = probe.parent_path();
            probe = parent.empty() || parent == probe ? fs::path(".") : parent;
            continue;
        }
        if (ec) throw usage_failure("--out " + *v + ": cannot use " + probe.string() + " (" + ec.message() + ")");
        if (!fs::is_directory(st)) throw usage_failure("--out " + *v + ": " + probe.string() + " is not a directory");
        if (::access(probe.c_str(), W_OK | X_OK) != 0)
            throw usage_failure("--out " + *v + ": cannot write in " + probe.string() + " (" + std::strerror(errno) + ")");
        return dir;
    }
}

output_options output_from(const args& a)
{
    output_options o;
    o.json = a.has("json");
    o.out = out_directory(a);
    if (o.out) o.out_arg = a.need("out");
    return o;
}

/// Download progress on stderr. On a terminal: one line redrawn in place,
/// `[1/2] #########...........  45%  1.2/2.6 MB`. Otherwise one line per
/// file once downloaded: `downloaded ./videos/ID-0.mp4 (256.0 KB)`.
class download_display {
public:
    download_display() : tty_(::isatty(STDERR_FILENO) == 1) {}

    void begin(const evolink::task& t, const std::filesystem::path& dir)
    {
        urls_ = t.results;
        index_ = 0;
        drawn_index_ = static_cast<std::size_t>(-1);
        seen_ = complete_ = false;
        received_ = 0;
        if (!tty_)
            std::cerr << "downloading " << urls_.size() << (urls_.size() == 1 ? " result" : " results") << " of "
                      << t.id << " to " << dir.string() << '\n';
    }

    void operator()(const evolink::download_progress& p)
    {
        // Which file: its URL says; after a redirect (another URL), a count
        // that starts again after a complete file is the next file.
        if (index_ < urls_.size()) {
            auto it = std::find(urls_.begin() + static_cast<std::ptrdiff_t>(index_), urls_.end(), p.url);
            if (it != urls_.end()) index_ = static_cast<std::size_t>(it - urls_.begin());
            else if (seen_ && complete_ && p.received < received_ && index_ + 1 < urls_.size()) ++index_;
        }
        bool next_file = index_ != drawn_index_;
        seen_ = true;
        received_ = p.received;
        complete_ = p.total && p.received == *p.total;
        if (!tty_) return;
        // Bytes arrive in small pieces: redraw at most 10 times a second
        // (and always for a new file and at the end of one).
        auto now = std::chrono::steady_clock::now();
        if (!line_.empty() && !next_file && !complete_ && now - drawn_at_ < 100ms) return;
        drawn_at_ = now;
        drawn_index_ = index_;
        std::string line = "[" + std::to_string(index_ + 1) + "/" + std::to_string(urls_.size()) + "] ";
        if (p.total && *p.total > 0) {
            auto pct = static_cast<int>(std::min<std::uint64_t>(100, p.received * 100 / *p.total));
            auto filled = static_cast<std::size_t>(pct / 5);
            char percent[8];
            std::snprintf(percent, sizeof percent, "%3d%%", pct);
            int u = size_unit(*p.total);
            line += std::string(filled, '#') + std::string(20 - filled, '.') + " " + percent + "  " +
                    scaled(p.received, u) + "/" + scaled(*p.total, u) + " " + unit_names[u];
        } else {
            line += size_text(p.received);
        }
        if (p.resumes > 0) line += "  (resumed " + std::to_string(p.resumes) + "x)";
        if (line == line_) return;
        std::cerr << '\r' << line << std::string(line_.size() > line.size() ? line_.size() - line.size() : 0, ' ')
                  << std::flush;
        line_ = std::move(line);
    }

    /// Ends the bar; off a terminal, names the files downloaded.
    void end(const std::vector<evolink::download_result>& files)
    {
        if (tty_ && !line_.empty()) std::cerr << '\n';
        line_.clear();
        if (!tty_)
            for (auto& f : files) std::cerr << "downloaded " << f.path.string() << " (" << size_text(f.bytes) << ")\n";
    }

private:
    bool tty_;
    std::vector<std::string> urls_;
    std::size_t index_ = 0, drawn_index_ = 0;
    std::chrono::steady_clock::time_point drawn_at_{};
    bool seen_ = false, complete_ = false;
    std::uint64_t received_ = 0;
    std::string line_;
};

/// The outcome of client.download_results.
struct fetched {
    evolink::error_code ec;
    evolink::diagnostics diag;
    std::vector<evolink::download_result> files;
};

/// Downloads the results of the finished task `t` into `dir`, cancelled
/// through `slot`, then calls `then(fetched)`.
template <class Then>
void fetch_results(evolink::client& client, const evolink::task& t, const std::filesystem::path& dir,
                   asio::cancellation_slot slot, download_display& display, Then then)
{
    display.begin(t, dir);
    evolink::download_options o;
    o.on_progress = [&display](const evolink::download_progress& p) { display(p); };
    auto diag = std::make_shared<evolink::diagnostics>();
    client.download_results(t, dir, o, *diag,
                            asio::bind_cancellation_slot(slot, [diag, then, &display](evolink::error_code ec,
                                                                                      std::vector<evolink::download_result> files) mutable {
                                display.end(files);
                                then(fetched{ec, std::move(*diag), std::move(files)});
                            }));
}

/// The task JSON, with "files": the paths downloaded (--json --out).
boost::json::object task_json(const evolink::task& t, const std::vector<evolink::download_result>* files)
{
    auto o = evolink::to_json(t);
    if (files) {
        boost::json::array paths;
        for (auto& f : *files) paths.emplace_back(f.path.string());
        o["files"] = std::move(paths);
    }
    return o;
}

/// Prints a finished task's downloads and returns the exit code. stdout: the
/// paths of the files downloaded (or the task JSON with "files"), also those
/// done before a failure. A failure is exit 3 (130 when interrupted) with the
/// command that downloads them again.
int report_download(const evolink::task& t, const fetched& f, const output_options& out)
{
    if (out.json) std::cout << boost::json::serialize(task_json(t, &f.files)) << '\n';
    else
        for (auto& file : f.files) std::cout << file.path.string() << '\n';
    std::cout << std::flush;
    if (!f.ec) return ok;
    if (f.ec == asio::error::operation_aborted) {
        std::cerr << "interrupted: the download stopped (no partial file is left); task " << t.id
                  << " is complete. Download its results with: " << out.wait_command(t.id) << '\n';
        return interrupted;
    }
    std::cerr << "error: downloading the results failed: " << (f.diag.summary().empty() ? f.ec.message() : f.diag.summary())
              << " (" << f.ec.message() << ")\n"
              << "task " << t.id << " is complete; download its results again (within 24 hours) with: "
              << out.wait_command(t.id) << '\n';
    return api_error;
}

/// Prints the outcome of a finished command and returns its exit code.
int report(const evolink::error_code& ec, const evolink::task& t, const evolink::diagnostics& diag,
           const output_options& out, progress_display& progress)
{
    progress.close();
    if (ec == asio::error::operation_aborted) {
        std::cerr << "interrupted: stopped waiting; the task goes on";
        if (!diag.task_id.empty()) std::cerr << ". Resume with: " << out.wait_command(diag.task_id);
        std::cerr << '\n';
        return interrupted;
    }
    if (ec) {
        std::cerr << "error: " << (diag.summary().empty() ? ec.message() : diag.summary()) << " (" << ec.message()
                  << ")\n";
        if (ec == evolink::errc::deadline_exceeded && !diag.task_id.empty())
            std::cerr << "resume with: " << out.wait_command(diag.task_id) << '\n';
        if (ec == evolink::errc::task_failed)
            std::cerr << (diag.retryable ? "a new attempt may succeed\n" : "fix the request before trying again\n");
        if (out.json && !t.id.empty()) std::cout << boost::json::serialize(evolink::to_json(t)) << '\n';
        return exit_code_for(ec);
    }
    if (out.json) std::cout << boost::json::serialize(evolink::to_json(t)) << '\n';
    else
        for (auto& url : t.results) std::cout << url << '\n';
    return ok;
}

/// Runs one operation (or a chain of them) to completion with Ctrl-C
/// (SIGINT/SIGTERM) wired to its cancellation. `start` receives the slot
/// (bind each operation of the chain to it), the completion function, and
/// a flag set by Ctrl-C (for a chain: do not start the next operation).
template <class Start>
int run_cancellable(asio::io_context& io, Start start)
{
    asio::signal_set signals(io, SIGINT, SIGTERM);
    asio::cancellation_signal cancel;
    bool done = false, signalled = false;
    int rc = api_error;
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (ec || done) return;
        signalled = true;
        cancel.emit(asio::cancellation_type::terminal);
    });
    start(cancel.slot(), [&](int code) {
        done = true;
        rc = code;
        signals.cancel();
    }, static_cast<const bool&>(signalled));
    io.run();
    return rc;
}

struct waiting_setup {
    evolink::wait_options opts;
    std::unique_ptr<evolink::callback_receiver> receiver;
    std::unique_ptr<evolink::file_journal> journal;
};

waiting_setup waiting_from(const args& a, asio::io_context& io, progress_display& progress)
{
    waiting_setup w;
    if (auto t = a.seconds("timeout")) w.opts.deadline = std::chrono::milliseconds(static_cast<long long>(*t * 1000));
    if (auto p = a.seconds("poll")) {
        auto every = std::chrono::milliseconds(static_cast<long long>(*p * 1000));
        w.opts.poll = evolink::poll_policy{every, every, every, 1.0, 0.1, false};
    }
    w.opts.on_progress = [&progress](const evolink::task& t) { progress(t); };
    w.opts.on_submitted = [](const evolink::task& t) { std::cerr << "task: " << t.id << '\n'; };
    if (auto path = a.get("journal")) {
        try {
            w.journal = std::make_unique<evolink::file_journal>(*path);
        } catch (const std::exception& e) {
            throw usage_failure(e.what());
        }
        w.opts.journal = w.journal.get();
    }
    if (a.has("callback-listen") != a.has("callback-public-url"))
        throw usage_failure("--callback-listen and --callback-public-url go together");
    if (a.has("callback-listen")) {
        auto listen = a.need("callback-listen");
        auto colon = listen.rfind(':');
        if (colon == std::string::npos) throw usage_failure("--callback-listen takes HOST:PORT");
        evolink::callback_receiver_options ro;
        ro.listen_address = listen.substr(0, colon);
        if (ro.listen_address.size() > 2 && ro.listen_address.front() == '[')
            ro.listen_address = ro.listen_address.substr(1, ro.listen_address.size() - 2);
        try {
            ro.listen_port = static_cast<unsigned short>(std::stoi(listen.substr(colon + 1)));
        } catch (...) {
            throw usage_failure("--callback-listen takes HOST:PORT");
        }
        ro.public_base_url = a.need("callback-public-url");
        w.receiver = std::make_unique<evolink::callback_receiver>(io.get_executor(), ro);
        w.opts.callbacks = w.receiver.get();
    }
    return w;
}

/// The end of image, video and wait: reports the task, and with --out
/// downloads its results first (cancelled by Ctrl-C like the wait).
template <class Finish>
void finish_task(evolink::client& client, const evolink::error_code& ec, const evolink::task& t,
                 const evolink::diagnostics& diag, const output_options& out, progress_display& progress,
                 download_display& downloads, asio::cancellation_slot slot, const bool& signalled, Finish finish)
{
    if (ec || !out.out) return finish(report(ec, t, diag, out, progress));
    progress.close();
    if (signalled) return finish(report_download(t, fetched{asio::error::operation_aborted, {}, {}}, out));
    fetch_results(client, t, *out.out, slot, downloads,
                  [&out, t, finish](const fetched& f) { finish(report_download(t, f, out)); });
}

int generate_command(const args& a)
{
    asio::io_context io;
    progress_display progress;
    download_display downloads;
    auto out = output_from(a);
    auto w = waiting_from(a, io, progress);
    evolink::client client(io.get_executor(), options_from_env());
    evolink::diagnostics diag;
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish, const bool& signalled) {
        auto done = [&, slot, finish](evolink::error_code ec, evolink::task t) {
            if (w.receiver) w.receiver->stop();
            finish_task(client, ec, t, diag, out, progress, downloads, slot, signalled, finish);
        };
        if (a.command == "image") {
            evolink::text_to_image r;
            r.prompt = a.need("prompt");
            r.size = a.get("size");
            r.n = a.integer("n");
            if (a.has("no-prompt-extend")) r.prompt_extend = false;
            client.image(r, w.opts, diag, asio::bind_cancellation_slot(slot, done));
        } else {
            evolink::image_to_video r;
            r.prompt = a.need("prompt");
            r.image_url = a.need("image"); // a URL, or a local file (checked, then uploaded)
            r.duration = a.integer("duration");
            r.quality = a.get("quality");
            client.video(r, w.opts, diag, asio::bind_cancellation_slot(slot, done));
        }
    });
}

int wait_command(const args& a)
{
    if (a.positional.size() != 1) throw usage_failure("wait takes one TASK_ID");
    asio::io_context io;
    progress_display progress;
    download_display downloads;
    auto out = output_from(a);
    auto w = waiting_from(a, io, progress);
    w.opts.on_submitted = nullptr;
    evolink::client client(io.get_executor(), options_from_env());
    std::cerr << "task: " << a.positional[0] << '\n';
    evolink::diagnostics diag;
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish, const bool& signalled) {
        client.wait(a.positional[0], w.opts, diag,
                    asio::bind_cancellation_slot(slot, [&, slot, finish](evolink::error_code ec, evolink::task t) {
                        if (w.receiver) w.receiver->stop();
                        finish_task(client, ec, t, diag, out, progress, downloads, slot, signalled, finish);
                    }));
    });
}

/// Waits for every task a journal holds as unfinished (after a crash, a
/// timeout or Ctrl-C), then with --out downloads the results of those that
/// completed, one task after the other. Exit code: 0 when all completed
/// (and downloaded), else the code of the first task (in journal order) that
/// did not (3 for a completed task whose download failed).
int resume_command(const args& a)
{
    if (!a.has("journal")) throw usage_failure("resume needs --journal FILE");
    if (!a.positional.empty()) throw usage_failure("unexpected argument " + a.positional.front());
    asio::io_context io;
    progress_display progress;
    download_display downloads;
    auto out = output_from(a);
    auto w = waiting_from(a, io, progress);
    auto todo = w.journal->unfinished();
    if (todo.empty()) {
        std::cerr << "nothing to resume in " << w.journal->path() << '\n';
        return ok;
    }
    for (auto& e : todo) std::cerr << "task: " << e.task_id << '\n';
    // Several tasks at once: plain lines that name the task.
    w.opts.on_progress = [](const evolink::task& t) {
        std::cerr << "status: " << t.id << ' ' << (t.status_text.empty() ? "unknown" : t.status_text) << ' ' << t.progress
                  << "%\n";
    };
    evolink::client client(io.get_executor(), options_from_env());
    std::vector<evolink::resumed_task> results;
    evolink::error_code resume_ec;
    int code = ok;
    // Reports results[i..] in journal order; with --out, downloads each
    // completed task before going on.
    std::function<void(std::size_t)> step;
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish, const bool& signalled) {
        auto conclude = [&, finish] {
            if (resume_ec == asio::error::operation_aborted) {
                std::cerr << "interrupted: the tasks go on. Resume with: evolink resume --journal "
                          << w.journal->path() << (out.out ? " --out " + shell_word(out.out_arg) : "") << '\n';
                code = interrupted;
            }
            finish(code);
        };
        step = [&, slot, conclude](std::size_t i) {
            for (; i < results.size(); ++i) {
                auto& r = results[i];
                if (r.ec) {
                    if (r.ec != asio::error::operation_aborted)
                        std::cerr << "error: " << r.task_id << ": " << r.diag.summary() << " (" << r.ec.message() << ")\n";
                    if (code == ok) code = exit_code_for(r.ec);
                    continue;
                }
                if (!out.out) {
                    if (out.json) std::cout << boost::json::serialize(evolink::to_json(r.result)) << '\n';
                    else
                        for (auto& url : r.result.results) std::cout << url << '\n';
                    continue;
                }
                if (signalled) { // Ctrl-C between two downloads: name what is left
                    std::cerr << "not downloaded: task " << r.task_id << " is complete. Download its results with: "
                              << out.wait_command(r.task_id) << '\n';
                    code = interrupted;
                    continue;
                }
                fetch_results(client, r.result, *out.out, slot, downloads, [&, i](const fetched& f) {
                    int c = report_download(results[i].result, f, out);
                    if (c == interrupted) code = interrupted;
                    else if (code == ok) code = c;
                    step(i + 1);
                });
                return;
            }
            conclude();
        };
        client.resume(*w.journal, w.opts,
                      asio::bind_cancellation_slot(slot, [&](evolink::error_code ec, std::vector<evolink::resumed_task> rs) {
                          if (w.receiver) w.receiver->stop();
                          if (ec && ec != asio::error::operation_aborted) {
                              std::cerr << "error: " << ec.message() << '\n';
                              return finish(exit_code_for(ec));
                          }
                          resume_ec = ec;
                          results = std::move(rs);
                          step(0);
                      }));
    });
}

int status_command(const args& a)
{
    if (a.positional.size() != 1) throw usage_failure("status takes one TASK_ID");
    asio::io_context io;
    evolink::client client(io.get_executor(), options_from_env());
    evolink::diagnostics diag;
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish, const bool&) {
        client.get_task(a.positional[0], diag,
                        asio::bind_cancellation_slot(slot, [&, finish](evolink::error_code ec, evolink::task t) {
                            if (ec) {
                                std::cerr << "error: " << diag.summary() << " (" << ec.message() << ")\n";
                                return finish(exit_code_for(ec));
                            }
                            std::cout << boost::json::serialize(evolink::to_json(t)) << '\n';
                            finish(ok);
                        }));
    });
}

/// The whole flow against the in-process fake server (or the real API when
/// EVOLINK_API_KEY is set): an image, downloaded; a video made from that local
/// file (checked, uploaded), with live progress, its completion arriving by
/// callback (fake server only); the video downloaded. stdout: the image URL,
/// then the video file path.
int demo_command(const args& a)
{
    asio::io_context io;
    progress_display progress;
    const char* key = std::getenv("EVOLINK_API_KEY");
    bool real = key && *key;
    std::optional<evolink::testing::fake_server> server;
    std::optional<evolink::callback_receiver> receiver;
    evolink::client_options opts = options_from_env();
    evolink::wait_options w;
    if (real) {
        std::cerr << "EVOLINK_API_KEY is set: the demo uses the real API at " << opts.base_url
                  << " and creates two billed tasks\n";
    } else {
        evolink::testing::fake_server_options so;
        so.script.progress = {8, 23, 41, 64, 88};
        so.script.step_interval = 250ms;
        server.emplace(io.get_executor(), so);
        opts = server->client_options();
        receiver.emplace(io.get_executor());
        w.poll = evolink::poll_policy{200ms, 200ms, 400ms, 1.2, 0.1, false};
        std::cerr << "No EVOLINK_API_KEY: using the built-in fake EvoLink server at " << server->base_url() << '\n';
    }
    if (auto t = a.seconds("timeout")) w.deadline = std::chrono::milliseconds(static_cast<long long>(*t * 1000));
    w.on_progress = [&progress](const evolink::task& t) { progress(t); };
    w.on_submitted = [&progress](const evolink::task& t) {
        progress.close();
        std::cerr << "task: " << t.id << '\n';
    };
    evolink::client client(io.get_executor(), opts);
    output_options out = output_from(a);
    if (!out.out) { // the demo always downloads: by default into ./demo-output
        out.out = "demo-output";
        out.out_arg = "demo-output";
    }
    const std::filesystem::path out_dir = *out.out;
    download_display display;
    evolink::diagnostics diag;
    auto stop_all = [&] {
        if (receiver) receiver->stop();
        if (server) server->stop();
    };
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish, const bool&) {
        evolink::text_to_image image;
        image.prompt = "A lighthouse on a cliff at dawn, soft mist, cinematic";
        image.size = "1280x720";
        std::cerr << "\n1. text-to-image (" << image.model << ")\n";
        client.image(image, w, diag, asio::bind_cancellation_slot(slot, [&, slot, finish](evolink::error_code ec, evolink::task img) mutable {
            if (ec || img.results.empty()) {
                stop_all();
                return finish(report(ec, img, diag, out, progress));
            }
            report(ec, img, diag, out, progress);
            std::cerr << "\n2. download the image to " << out_dir.string() << "\n";
            fetch_results(client, img, out_dir, slot, display, [&, slot, finish, img](fetched f) mutable {
                if (f.ec || f.files.empty()) {
                    stop_all();
                    return finish(report_download(img, f, out));
                }
                // The video starts from the local file: checked against the
                // model's limits, uploaded through the Files API, then sent.
                evolink::image_to_video video;
                video.prompt = "The camera slowly flies toward the lighthouse as the mist clears";
                video.image_url = f.files.front().path.string();
                video.duration = 5;
                std::cerr << "\n3. image-to-video (" << video.model << ") from the local file " << video.image_url
                          << " (checked, uploaded)" << (receiver ? ", finished by callback" : "") << "\n";
                auto vw = w;
                if (receiver) vw.callbacks = &*receiver;
                client.video(video, vw, diag, asio::bind_cancellation_slot(slot, [&, slot, finish](evolink::error_code ec2, evolink::task vid) mutable {
                    if (receiver && !ec2) std::cerr << "  callbacks received: " << receiver->accepted() << '\n';
                    if (ec2) {
                        stop_all();
                        return finish(report(ec2, vid, diag, out, progress));
                    }
                    progress.close();
                    std::cerr << "\n4. download the video to " << out_dir.string() << "\n";
                    fetch_results(client, vid, out_dir, slot, display, [&, finish, vid](fetched f2) mutable {
                        stop_all();
                        finish(report_download(vid, f2, out));
                    });
                }));
            });
        }));
    });
}

int fake_server_command(const args& a)
{
    asio::io_context io;
    evolink::testing::fake_server_options so;
    if (auto port = a.integer("port")) so.port = static_cast<unsigned short>(*port);
    if (auto key = a.get("key")) so.api_key = *key;
    // Prompts steer the outcome, for trying the CLI's exit codes:
    // "[fail:CODE]" fails with that task error code, "[cancel]" cancels,
    // "[slow]" never finishes; "[slow-download]" makes the next download of
    // a result file trickle over 30 s, "[broken-download]" answers it 404.
    so.script.step_interval = 200ms;
    evolink::testing::fake_server* self = nullptr; // set once it exists
    so.script_for = [&self](const boost::json::object& body) -> std::optional<evolink::testing::task_script> {
        auto* p = body.if_contains("prompt");
        if (!p || !p->is_string()) return std::nullopt;
        std::string prompt(p->get_string());
        if (self && (prompt.find("[slow-download]") != std::string::npos ||
                     prompt.find("[broken-download]") != std::string::npos)) {
            evolink::testing::canned_response r;
            r.method = "GET";
            r.path_prefix = "/results/";
            if (prompt.find("[slow-download]") != std::string::npos) {
                r.status = 0; // the real file...
                r.process = true;
                r.kind = evolink::testing::fault::slow_body; // ...in ten pieces over 30 s
                r.delay = 30s;
            } else {
                r.status = 404;
                r.body = R"({"error":{"code":"not_found","message":"no such file","type":"not_found_error"}})";
            }
            self->inject(std::move(r));
        }
        evolink::testing::task_script s;
        s.step_interval = 200ms;
        if (auto at = prompt.find("[fail:"); at != std::string::npos) {
            s.outcome = evolink::task_status::failed;
            s.error_code = prompt.substr(at + 6, prompt.find(']', at) - at - 6);
            return s;
        }
        if (prompt.find("[cancel]") != std::string::npos) {
            s.outcome = evolink::task_status::cancelled;
            return s;
        }
        if (prompt.find("[slow]") != std::string::npos) {
            s.step_interval = 1h;
            return s;
        }
        return std::nullopt;
    };
    evolink::testing::fake_server server(io.get_executor(), so);
    self = &server;
    if (auto out = a.get("ca-out")) std::ofstream(*out) << server.ca_pem();
    // The fake serves the Files API on its own base URL too.
    std::cout << "EVOLINK_BASE_URL=" << server.base_url() << '\n'
              << "EVOLINK_FILES_BASE_URL=" << server.base_url() << std::endl;
    std::cerr << "fake EvoLink server on " << server.base_url() << " (its CA: " << a.get("ca-out").value_or("use --ca-out FILE")
              << "); Ctrl-C stops it\n";
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) { server.stop(); });
    io.run();
    return ok;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        auto a = parse_args(argc, argv);
        if (a.has("out") && a.command != "image" && a.command != "video" && a.command != "wait" &&
            a.command != "resume" && a.command != "demo")
            throw usage_failure("--out is for image, video, wait, resume and demo");
        if (a.command == "image" || a.command == "video") {
            if (!a.positional.empty()) throw usage_failure("unexpected argument " + a.positional.front());
            return generate_command(a);
        }
        if (a.command == "status") return status_command(a);
        if (a.command == "wait") return wait_command(a);
        if (a.command == "resume") return resume_command(a);
        if (a.command == "demo") return demo_command(a);
        if (a.command == "fake-server") return fake_server_command(a);
        if (a.command == "help" || a.command == "--help" || a.command == "-h") {
            std::cout << usage_text;
            return ok;
        }
        throw usage_failure("unknown command " + a.command);
    } catch (const usage_failure& e) {
        std::cerr << "evolink: " << e.what() << "\n\n" << usage_text;
        return usage_error;
    } catch (const evolink::error& e) {
        // Options refused at construction (no key, bad base URL, bad CA file).
        std::cerr << "error: " << e.what() << '\n';
        return exit_code_for(e.code());
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << '\n';
        return api_error;
    }
}
