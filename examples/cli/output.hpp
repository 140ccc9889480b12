// The evolink command line: how a command prints its outcome (result URLs,
// downloaded paths, the task as JSON) and downloads results (--out DIR).
#ifndef EVOLINK_CLI_OUTPUT_HPP
#define EVOLINK_CLI_OUTPUT_HPP

#include "args.hpp"
#include "display.hpp"
#include "errors.hpp"

#include <evolink.hpp>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evolink_cli {

/// JSON text with numbers as people write them: a whole number stays a whole
/// number (`120`, not `1.2E2` as boost::json prints a double), others in
/// their shortest form (`0.5`).
inline std::string json_text(const boost::json::value& v)
{
    switch (v.kind()) {
    case boost::json::kind::double_: {
        double d = v.get_double();
        if (std::isfinite(d) && d == std::trunc(d) && std::fabs(d) < 9007199254740992.0)
            return std::to_string(static_cast<long long>(d));
        char buf[64];
        auto r = std::to_chars(buf, buf + sizeof buf, d);
        return std::string(buf, r.ptr);
    }
    case boost::json::kind::array: {
        std::string s = "[";
        for (auto& e : v.get_array()) s += (s.size() > 1 ? "," : "") + json_text(e);
        return s + "]";
    }
    case boost::json::kind::object: {
        std::string s = "{";
        for (auto& [k, e] : v.get_object())
            s += (s.size() > 1 ? "," : "") + boost::json::serialize(boost::json::string(k)) + ":" + json_text(e);
        return s + "}";
    }
    default: return boost::json::serialize(v);
    }
}

/// A word for a shell command line: as is when safe, else single-quoted.
inline std::string shell_word(const std::string& s)
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
inline std::optional<std::filesystem::path> out_directory(const args& a)
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

inline output_options output_from(const args& a)
{
    output_options o;
    o.json = a.has("json");
    o.out = out_directory(a);
    if (o.out) o.out_arg = a.need("out");
    return o;
}

/// The outcome of client.download_results.
struct fetched {
    evolink::error_code ec;
    evolink::diagnostics diag;
    std::vector<evolink::download_result> files;
};

/// Downloads the results of the finished task `t` into `dir`, cancelled
/// through `slot`, then calls `then(fetched)`.
template <class Then>
inline void fetch_results(evolink::client& client, const evolink::task& t, const std::filesystem::path& dir,
                   asio::cancellation_slot slot, download_display& display, Then then)
{
    display.begin(t, dir);
    evolink::download_options o;
    o.on_progress = [&display](const evolink::download_progress& p) { display(p); };
    auto diag = std::make_shared<evolink::diagnostics>();
    auto done = [diag, then, &display](evolink::error_code ec, std::vector<evolink::download_result> files) mutable {
        display.end(files);
        then(fetched{ec, std::move(*diag), std::move(files)});
    };
    client.download_results(t, dir, o, evolink::with_diagnostics(*diag, asio::bind_cancellation_slot(slot, std::move(done))));
}

/// The task JSON, with "files": the paths downloaded (--json --out).
inline boost::json::object task_json(const evolink::task& t, const std::vector<evolink::download_result>* files)
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
inline int report_download(const evolink::task& t, const fetched& f, const output_options& out)
{
    if (out.json) std::cout << json_text(task_json(t, &f.files)) << '\n';
    else
        for (auto& file : f.files) std::cout << file.path.string() << '\n';
    std::cout << std::flush;
    if (!f.ec) return ok;
    if (f.ec == asio::error::operation_aborted) {
        std::cerr << "interrupted: the download stopped (no partial file is left); task " << t.id
                  << " is complete. Download its results with: " << out.wait_command(t.id) << '\n';
        return interrupted;
    }
    print_error(f.ec, f.diag, "downloading the results failed: ");
    std::cerr << "task " << t.id << " is complete; download its results again (within 24 hours) with: "
              << out.wait_command(t.id) << '\n';
    return api_error;
}

/// Prints the outcome of a finished command and returns its exit code.
inline int report(const evolink::error_code& ec, const evolink::task& t, const evolink::diagnostics& diag,
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
        print_error(ec, diag);
        if (ec == evolink::errc::deadline_exceeded && !diag.task_id.empty())
            std::cerr << "resume with: " << out.wait_command(diag.task_id) << '\n';
        if (ec == evolink::errc::task_failed)
            std::cerr << (diag.retryable ? "a new attempt may succeed\n" : "fix the request before trying again\n");
        if (out.json && !t.id.empty()) std::cout << json_text(evolink::to_json(t)) << '\n';
        return exit_code_for(ec);
    }
    if (out.json) std::cout << json_text(evolink::to_json(t)) << '\n';
    else
        for (auto& url : t.results) std::cout << url << '\n';
    return ok;
}

} // namespace evolink_cli

#endif
