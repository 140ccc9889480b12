// evolink: the command-line client (its behaviour is a contract; see docs/cli.md).
//
//   evolink image --prompt TEXT [--size WxH] [--n N] [--no-prompt-extend]
//   evolink video --prompt TEXT --image URL [--duration 5|10] [--quality 480p|720p|1080p]
//   evolink status TASK_ID        prints the task JSON
//   evolink wait TASK_ID          waits for a task (resumes an interrupted wait)
//   evolink resume --journal FILE waits for every unfinished task of a journal
//   evolink demo                  the whole flow against the in-process fake server
//   evolink fake-server           runs the fake EvoLink server until interrupted
//
// Common options: --timeout SECONDS, --poll SECONDS, --callback-listen HOST:PORT with
// --callback-public-url URL, --json, --journal FILE. Environment: EVOLINK_API_KEY, EVOLINK_BASE_URL,
// EVOLINK_CA_FILE. Exit codes: 0 done, 2 bad usage or invalid request (nothing sent),
// 3 API or network error, 4 task failed or cancelled, 5 deadline passed, 130 interrupted.

#include <evolink.hpp>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

enum exit_code { ok = 0, usage_error = 2, api_error = 3, task_error = 4, deadline = 5, interrupted = 130 };

constexpr const char* usage_text = R"(usage:
  evolink image --prompt TEXT [--size WxH] [--n N] [--no-prompt-extend]
  evolink video --prompt TEXT --image URL [--duration 5|10] [--quality 480p|720p|1080p]
  evolink status TASK_ID
  evolink wait TASK_ID
  evolink resume --journal FILE
  evolink demo
  evolink fake-server [--port N] [--ca-out FILE] [--key KEY]
common options:
  --timeout SECONDS        give up waiting after this long (default: 300 image, 600 video)
  --poll SECONDS           read the task every SECONDS (default: paced for images/videos)
  --callback-listen HOST:PORT  receive EvoLink's callback on this address...
  --callback-public-url URL    ...reachable by EvoLink at this public URL
  --json                   print the final task as JSON instead of result URLs
  --journal FILE           record task ids in FILE before waiting (evolink resume --journal FILE
                           waits for the unfinished ones after a crash)
environment: EVOLINK_API_KEY (required but for demo), EVOLINK_BASE_URL, EVOLINK_CA_FILE
exit codes: 0 done, 2 bad usage/invalid request, 3 API error, 4 task failed, 5 deadline, 130 interrupted
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
        {"journal", true}};
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

evolink::client_options options_from_env()
{
    evolink::client_options o; // api_key: the client reads EVOLINK_API_KEY itself
    if (const char* base = std::getenv("EVOLINK_BASE_URL"); base && *base) {
        o.base_url = base;
        // A server on this machine (the fake server, a local proxy) may use
        // plain http and call back to loopback; the real service never.
        std::string b = base;
        b = b.substr(b.find("://") == std::string::npos ? 0 : b.find("://") + 3);
        bool local = b.starts_with("127.") || b.starts_with("localhost") || b.starts_with("[::1]");
        o.allow_insecure_http = local;
        o.allow_private_callback_urls = local;
    }
    if (const char* ca = std::getenv("EVOLINK_CA_FILE"); ca && *ca) o.tls.ca_file = ca;
    return o;
}

/// Prints the outcome of a finished command and returns its exit code.
int report(const evolink::error_code& ec, const evolink::task& t, const evolink::diagnostics& diag, bool json,
           progress_display& progress)
{
    progress.close();
    if (ec == asio::error::operation_aborted) {
        std::cerr << "interrupted: stopped waiting; the task goes on";
        if (!diag.task_id.empty()) std::cerr << ". Resume with: evolink wait " << diag.task_id;
        std::cerr << '\n';
        return interrupted;
    }
    if (ec) {
        std::cerr << "error: " << (diag.summary().empty() ? ec.message() : diag.summary()) << " (" << ec.message()
                  << ")\n";
        if (ec == evolink::errc::deadline_exceeded && !diag.task_id.empty())
            std::cerr << "resume with: evolink wait " << diag.task_id << '\n';
        if (ec == evolink::errc::task_failed)
            std::cerr << (diag.retryable ? "a new attempt may succeed\n" : "fix the request before trying again\n");
        if (json && !t.id.empty()) std::cout << boost::json::serialize(evolink::to_json(t)) << '\n';
        return exit_code_for(ec);
    }
    if (json) std::cout << boost::json::serialize(evolink::to_json(t)) << '\n';
    else
        for (auto& url : t.results) std::cout << url << '\n';
    return ok;
}

/// Runs one operation to completion with Ctrl-C (SIGINT/SIGTERM) wired to
/// its cancellation. `start` receives the completion handler and the slot.
template <class Start>
int run_cancellable(asio::io_context& io, Start start)
{
    asio::signal_set signals(io, SIGINT, SIGTERM);
    asio::cancellation_signal cancel;
    bool done = false;
    int rc = api_error;
    signals.async_wait([&](const boost::system::error_code& ec, int) {
        if (!ec && !done) cancel.emit(asio::cancellation_type::terminal);
    });
    start(cancel.slot(), [&](int code) {
        done = true;
        rc = code;
        signals.cancel();
    });
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

int generate_command(const args& a)
{
    asio::io_context io;
    progress_display progress;
    auto w = waiting_from(a, io, progress);
    evolink::client client(io.get_executor(), options_from_env());
    bool json = a.has("json");
    evolink::diagnostics diag;
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish) {
        auto done = [&, finish](evolink::error_code ec, evolink::task t) {
            if (w.receiver) w.receiver->stop();
            finish(report(ec, t, diag, json, progress));
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
            r.image_url = a.need("image");
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
    auto w = waiting_from(a, io, progress);
    w.opts.on_submitted = nullptr;
    evolink::client client(io.get_executor(), options_from_env());
    std::cerr << "task: " << a.positional[0] << '\n';
    evolink::diagnostics diag;
    bool json = a.has("json");
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish) {
        client.wait(a.positional[0], w.opts, diag,
                    asio::bind_cancellation_slot(slot, [&, finish](evolink::error_code ec, evolink::task t) {
                        if (w.receiver) w.receiver->stop();
                        finish(report(ec, t, diag, json, progress));
                    }));
    });
}

/// Waits for every task a journal holds as unfinished (after a crash, a
/// timeout or Ctrl-C). Exit code: 0 when all completed, else the code of the
/// first task (in journal order) that did not.
int resume_command(const args& a)
{
    if (!a.has("journal")) throw usage_failure("resume needs --journal FILE");
    if (!a.positional.empty()) throw usage_failure("unexpected argument " + a.positional.front());
    asio::io_context io;
    progress_display progress;
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
    bool json = a.has("json");
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish) {
        client.resume(*w.journal, w.opts,
                      asio::bind_cancellation_slot(slot, [&, finish](evolink::error_code ec,
                                                                     std::vector<evolink::resumed_task> results) {
                          if (w.receiver) w.receiver->stop();
                          if (ec && ec != asio::error::operation_aborted) {
                              std::cerr << "error: " << ec.message() << '\n';
                              return finish(exit_code_for(ec));
                          }
                          int code = ok;
                          for (auto& r : results) {
                              if (!r.ec) {
                                  if (json) std::cout << boost::json::serialize(evolink::to_json(r.result)) << '\n';
                                  else
                                      for (auto& url : r.result.results) std::cout << url << '\n';
                                  continue;
                              }
                              if (r.ec != asio::error::operation_aborted)
                                  std::cerr << "error: " << r.task_id << ": " << r.diag.summary() << " (" << r.ec.message()
                                            << ")\n";
                              if (code == ok) code = exit_code_for(r.ec);
                          }
                          if (ec == asio::error::operation_aborted) {
                              std::cerr << "interrupted: the tasks go on. Resume with: evolink resume --journal "
                                        << w.journal->path() << '\n';
                              code = interrupted;
                          }
                          finish(code);
                      }));
    });
}

int status_command(const args& a)
{
    if (a.positional.size() != 1) throw usage_failure("status takes one TASK_ID");
    asio::io_context io;
    evolink::client client(io.get_executor(), options_from_env());
    evolink::diagnostics diag;
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish) {
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
/// EVOLINK_API_KEY is set): an image, then a video made from it, with live
/// progress, the video's completion arriving by callback (fake server only).
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
    bool json = a.has("json");
    evolink::diagnostics diag;
    auto stop_all = [&] {
        if (receiver) receiver->stop();
        if (server) server->stop();
    };
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish) {
        evolink::text_to_image image;
        image.prompt = "A lighthouse on a cliff at dawn, soft mist, cinematic";
        image.size = "1280x720";
        std::cerr << "\n1. text-to-image (" << image.model << ")\n";
        client.image(image, w, diag, asio::bind_cancellation_slot(slot, [&, slot, finish](evolink::error_code ec, evolink::task img) mutable {
            if (ec || img.results.empty()) {
                stop_all();
                return finish(report(ec, img, diag, json, progress));
            }
            report(ec, img, diag, json, progress);
            evolink::image_to_video video;
            video.prompt = "The camera slowly flies toward the lighthouse as the mist clears";
            video.image_url = img.results.front();
            video.duration = 5;
            std::cerr << "\n2. image-to-video (" << video.model << ") from that image"
                      << (receiver ? ", finished by callback" : "") << "\n";
            auto vw = w;
            if (receiver) vw.callbacks = &*receiver;
            client.video(video, vw, diag, asio::bind_cancellation_slot(slot, [&, finish](evolink::error_code ec2, evolink::task vid) {
                if (receiver && !ec2) std::cerr << "  callbacks received: " << receiver->accepted() << '\n';
                stop_all();
                finish(report(ec2, vid, diag, json, progress));
            }));
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
    // "[slow]" never finishes.
    so.script.step_interval = 200ms;
    so.script_for = [](const boost::json::object& body) -> std::optional<evolink::testing::task_script> {
        auto* p = body.if_contains("prompt");
        if (!p || !p->is_string()) return std::nullopt;
        std::string prompt(p->get_string());
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
    if (auto out = a.get("ca-out")) std::ofstream(*out) << server.ca_pem();
    std::cout << "EVOLINK_BASE_URL=" << server.base_url() << std::endl;
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
