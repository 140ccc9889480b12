// The evolink command line: the commands that create or wait for tasks
// (image, video, wait, resume) and status.
#ifndef EVOLINK_CLI_COMMANDS_HPP
#define EVOLINK_CLI_COMMANDS_HPP

#include "args.hpp"
#include "display.hpp"
#include "errors.hpp"
#include "output.hpp"

#include <evolink.hpp>

#include <boost/asio.hpp>

#include <csignal>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace evolink_cli {

/// Runs one operation (or a chain of them) to completion with Ctrl-C
/// (SIGINT/SIGTERM) wired to its cancellation. `start` receives the slot
/// (bind each operation of the chain to it), the completion function, and
/// a flag set by Ctrl-C (for a chain: do not start the next operation).
template <class Start>
inline int run_cancellable(asio::io_context& io, Start start)
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

/// --timeout and --poll into `w`; progress on `progress`, the task id on stderr.
inline void watch_from(const args& a, evolink::wait_options& w, progress_display& progress)
{
    if (auto t = a.seconds("timeout")) w.deadline = std::chrono::milliseconds(static_cast<long long>(*t * 1000));
    if (auto p = a.seconds("poll")) {
        auto every = std::chrono::milliseconds(static_cast<long long>(*p * 1000));
        w.poll = evolink::poll_policy{every, every, every, 1.0, 0.1, false};
    }
    w.on_progress = [&progress](const evolink::task& t) { progress(t); };
    w.on_submitted = [&progress](const evolink::task& t) {
        progress.close();
        progress.begin();
        std::cerr << "task: " << t.id << '\n';
    };
}

inline waiting_setup waiting_from(const args& a, asio::io_context& io, progress_display& progress)
{
    waiting_setup w;
    watch_from(a, w.opts, progress);
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
inline void finish_task(evolink::client& client, const evolink::error_code& ec, const evolink::task& t,
                 const evolink::diagnostics& diag, const output_options& out, progress_display& progress,
                 download_display& downloads, asio::cancellation_slot slot, const bool& signalled, Finish finish)
{
    if (ec || !out.out) return finish(report(ec, t, diag, out, progress));
    progress.close();
    if (signalled) return finish(report_download(t, fetched{asio::error::operation_aborted, {}, {}}, out));
    fetch_results(client, t, *out.out, slot, downloads,
                  [&out, t, finish](const fetched& f) { finish(report_download(t, f, out)); });
}

/// A local --image: one line once it was checked and uploaded (the task
/// exists only then), before the task id.
inline void announce_local_image(const std::string& image, evolink::wait_options& opts, progress_display& progress)
{
    if (image.starts_with("http://") || image.starts_with("https://")) return;
    std::error_code ec;
    auto bytes = std::filesystem::file_size(image, ec);
    std::string size = ec ? std::string() : " (" + size_text(bytes) + ")";
    opts.on_submitted = [&progress, line = "image: " + image + size + " checked and uploaded"](const evolink::task& t) {
        progress.begin();
        std::cerr << line << "\ntask: " << t.id << '\n';
    };
}

inline int generate_command(const args& a)
{
    asio::io_context io;
    progress_display progress(io.get_executor());
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
            client.image(r, w.opts, evolink::with_diagnostics(diag, asio::bind_cancellation_slot(slot, done)));
        } else {
            evolink::image_to_video r;
            r.prompt = a.need("prompt");
            r.image_url = a.need("image"); // a URL, or a local file (checked, then uploaded)
            announce_local_image(r.image_url, w.opts, progress);
            r.duration = a.integer("duration");
            r.quality = a.get("quality");
            client.video(r, w.opts, evolink::with_diagnostics(diag, asio::bind_cancellation_slot(slot, done)));
        }
    });
}

inline int wait_command(const args& a)
{
    if (a.positional.size() != 1) throw usage_failure("wait takes one TASK_ID");
    asio::io_context io;
    progress_display progress(io.get_executor());
    download_display downloads;
    auto out = output_from(a);
    auto w = waiting_from(a, io, progress);
    w.opts.on_submitted = nullptr;
    evolink::client client(io.get_executor(), options_from_env());
    std::cerr << "task: " << a.positional[0] << '\n';
    progress.begin();
    evolink::diagnostics diag;
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish, const bool& signalled) {
        auto done = [&, slot, finish](evolink::error_code ec, evolink::task t) {
            if (w.receiver) w.receiver->stop();
            finish_task(client, ec, t, diag, out, progress, downloads, slot, signalled, finish);
        };
        client.wait(a.positional[0], w.opts, evolink::with_diagnostics(diag, asio::bind_cancellation_slot(slot, done)));
    });
}

/// Waits for every task a journal holds as unfinished (after a crash, a
/// timeout or Ctrl-C), then with --out downloads the results of those that
/// completed, one task after the other. Exit code: 0 when all completed
/// (and downloaded), else the code of the first task (in journal order) that
/// did not (3 for a completed task whose download failed).
inline int resume_command(const args& a)
{
    if (!a.has("journal")) throw usage_failure("resume needs --journal FILE");
    if (!a.positional.empty()) throw usage_failure("unexpected argument " + a.positional.front());
    std::error_code exists_ec;
    if (!std::filesystem::is_regular_file(a.need("journal"), exists_ec))
        throw usage_failure("--journal " + a.need("journal") + ": no such file");
    asio::io_context io;
    progress_display progress(io.get_executor());
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
                        print_error(r.ec, r.diag, r.task_id + ": ");
                    if (code == ok) code = exit_code_for(r.ec);
                    continue;
                }
                if (!out.out) {
                    if (out.json) std::cout << json_text(evolink::to_json(r.result)) << '\n';
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

inline int status_command(const args& a)
{
    if (a.positional.size() != 1) throw usage_failure("status takes one TASK_ID");
    asio::io_context io;
    evolink::client client(io.get_executor(), options_from_env());
    evolink::diagnostics diag;
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish, const bool&) {
        auto done = [&, finish](evolink::error_code ec, evolink::task t) {
            if (ec) {
                print_error(ec, diag);
                return finish(exit_code_for(ec));
            }
            std::cout << json_text(evolink::to_json(t)) << '\n';
            finish(ok);
        };
        client.get_task(a.positional[0], evolink::with_diagnostics(diag, asio::bind_cancellation_slot(slot, done)));
    });
}

} // namespace evolink_cli

#endif
