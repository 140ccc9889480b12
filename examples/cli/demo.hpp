// The evolink command line: `evolink demo` (the whole flow against the
// built-in fake, or with --real and a confirmation against the real API) and
// `evolink fake-server`.
#ifndef EVOLINK_CLI_DEMO_HPP
#define EVOLINK_CLI_DEMO_HPP

#include "args.hpp"
#include "commands.hpp"
#include "display.hpp"
#include "errors.hpp"
#include "output.hpp"

#include <evolink.hpp>
#include <evolink/testing.hpp>

#include <boost/asio.hpp>

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

namespace evolink_cli {

/// This run's folder, DIR/run-N (N one more than the highest there), so that
/// runs never mix; `earlier` counts the runs already in DIR.
inline std::filesystem::path demo_run_dir(const std::filesystem::path& dir, int& earlier)
{
    namespace fs = std::filesystem;
    int last = 0;
    earlier = 0;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        auto name = it->path().filename().string();
        if (!name.starts_with("run-") || name.size() < 5 || name.size() > 12 ||
            name.find_first_not_of("0123456789", 4) != std::string::npos)
            continue;
        last = std::max(last, std::stoi(name.substr(4)));
        ++earlier;
    }
    return dir / ("run-" + std::to_string(last + 1));
}

/// --real: says what the demo creates and what it costs, then asks on a
/// terminal; otherwise it needs --yes. ok to go on, else the exit code.
inline int confirm_real(const args& a, const std::string& base_url)
{
    const std::string what = "2 billed tasks on " + base_url;
    if (!a.has("yes") && ::isatty(STDIN_FILENO) != 1) {
        std::cerr << "evolink: demo --real creates " << what << "; add --yes to confirm (stdin is not a terminal)\n";
        return usage_error;
    }
    std::cerr << "evolink demo --real creates " << what << ":\n"
              << "  1. a text-to-image (" << evolink::text_to_image{}.model << "): one 1280x720 image\n"
              << "  2. an image-to-video (" << evolink::image_to_video{}.model
              << ") from it: 5 s at 720p (billed by duration)\n"
              << "and uploads the image through the Files API. Both tasks cost credits, per the EvoLink price list.\n";
    if (a.has("yes")) return ok;
    std::cerr << "Create " << what << "? [y/N] " << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer == "y" || answer == "Y" || answer == "yes") return ok;
    std::cerr << "nothing created\n";
    return usage_error;
}

/// The whole flow, against the built-in fake server unless --real: an image,
/// downloaded; a video made from that local file (checked, uploaded), its
/// completion arriving by callback (fake only); the video downloaded. Each
/// run into its own folder DIR/run-N. stdout: the two file paths.
inline int demo_command(const args& a)
{
    asio::io_context io;
    progress_display progress(io.get_executor());
    const bool real = a.has("real");
    if (a.has("yes") && !real) throw usage_failure("--yes goes with --real");
    std::optional<evolink::testing::fake_server> server;
    std::optional<evolink::callback_receiver> receiver;
    evolink::client_options opts;
    evolink::wait_options w;
    if (real) {
        opts = options_from_env();
    } else { // never the environment's key or URLs: nothing is billed, whatever is exported
        evolink::testing::fake_server_options so;
        so.script.progress = {8, 23, 41, 64, 88};
        so.script.step_interval = 250ms;
        server.emplace(io.get_executor(), so);
        opts = server->client_options();
        receiver.emplace(io.get_executor());
        w.poll = evolink::poll_policy{200ms, 200ms, 400ms, 1.2, 0.1, false};
    }
    watch_from(a, w, progress);
    evolink::client client(io.get_executor(), opts); // a missing key or bad URL is said before asking
    output_options out = output_from(a);
    if (!out.out) out.out = "demo-output"; // the demo always downloads
    int earlier = 0;
    const std::filesystem::path dir = demo_run_dir(*out.out, earlier);
    out.out = dir;
    out.out_arg = dir.string();
    if (real) {
        if (int c = confirm_real(a, opts.base_url); c != ok) return c;
    } else {
        std::cerr << "using the built-in fake EvoLink server (" << server->base_url()
                  << "): no account needed, nothing billed (`evolink demo --real` uses the real API)\n";
    }
    std::cerr << "files go to " << dir.string();
    if (earlier > 0)
        std::cerr << " (" << earlier << (earlier == 1 ? " earlier run" : " earlier runs") << " kept in "
                  << dir.parent_path().string() << ")";
    std::cerr << '\n';
    download_display display;
    evolink::diagnostics diag;
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish, const bool&) {
        auto end = [&, finish](int code) mutable {
            if (receiver) receiver->stop();
            if (server) server->stop();
            finish(code);
        };
        evolink::text_to_image image;
        image.prompt = "A lighthouse on a cliff at dawn, soft mist, cinematic";
        image.size = "1280x720";
        std::cerr << "\n1. text-to-image (" << image.model << ")\n";
        client.image(image, w, evolink::with_diagnostics(diag, asio::bind_cancellation_slot(slot, [&, slot, end](evolink::error_code ec, evolink::task img) mutable {
            if (ec || img.results.empty()) return end(report(ec, img, diag, out, progress));
            progress.close();
            std::cerr << "\n2. download the image to " << dir.string() << "\n";
            fetch_results(client, img, dir, slot, display, [&, slot, end, img](fetched f) mutable {
                int code = report_download(img, f, out); // stdout: the image's path
                if (code != ok || f.files.empty()) return end(code);
                // The video starts from the local file: checked against the
                // model's limits, uploaded through the Files API, then sent.
                evolink::image_to_video video;
                video.prompt = "The camera slowly flies toward the lighthouse as the mist clears";
                video.image_url = f.files.front().path.string();
                video.duration = 5;
                video.quality = "720p";
                std::cerr << "\n3. image-to-video (" << video.model << ") from the local file " << video.image_url
                          << (receiver ? ", finished by callback" : "") << "\n";
                auto vw = w;
                if (receiver) vw.callbacks = &*receiver;
                announce_local_image(video.image_url, vw, progress);
                client.video(video, vw, evolink::with_diagnostics(diag, asio::bind_cancellation_slot(slot, [&, slot, end](evolink::error_code ec2, evolink::task vid) mutable {
                    if (ec2) return end(report(ec2, vid, diag, out, progress));
                    progress.close();
                    if (receiver) std::cerr << "  callbacks received: " << receiver->accepted() << '\n';
                    std::cerr << "\n4. download the video to " << dir.string() << "\n";
                    fetch_results(client, vid, dir, slot, display,
                                  [&, end, vid](fetched f2) mutable { end(report_download(vid, f2, out)); });
                })));
            });
        })));
    });
}

inline int fake_server_command(const args& a)
{
    asio::io_context io;
    evolink::testing::fake_server_options so;
    if (auto port = a.integer("port")) so.port = static_cast<unsigned short>(*port);
    if (auto key = a.get("key")) so.api_key = *key;
    // A task goes through four steps (pending, processing three times, then
    // its end), a quarter of --task-time each: 200 ms by default. Several
    // seconds let a test stop a program in the middle of its waits.
    auto task_ms = static_cast<long>(a.seconds("task-time").value_or(0.8) * 1000);
    so.script.step_interval = std::chrono::milliseconds(std::max(1L, task_ms / 4));
    auto duplicates = a.integer("callback-duplicates").value_or(0);
    if (duplicates < 0 || duplicates > 10) throw usage_failure("--callback-duplicates takes 0 to 10");
    so.script.callback_duplicates = duplicates;
    // Prompts steer the outcome, for trying the CLI's exit codes:
    // "[fail:CODE]" fails with that task error code, "[cancel]" cancels,
    // "[slow]" never finishes; "[slow-download]" makes the next download of
    // a result file trickle over 30 s, "[broken-download]" answers it 404.
    evolink::testing::fake_server* self = nullptr; // set once it exists
    so.script_for = [&self, base = so.script](const boost::json::object& body) -> std::optional<evolink::testing::task_script> {
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
        auto s = base;
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
    namespace fs = std::filesystem;
    const bool own_ca = !a.has("ca-out"); // a temporary file, removed at exit
    fs::path ca = own_ca ? fs::temp_directory_path() / ("evolink-fake-ca-" + std::to_string(server.port()) + ".pem")
                         : fs::path(*a.get("ca-out"));
    if (!(std::ofstream(ca) << server.ca_pem())) throw usage_failure("--ca-out " + ca.string() + ": cannot write it");
    ca = fs::absolute(ca);
    // Lines to paste: the fake serves the Files API on its own base URL too.
    auto url = shell_word(server.base_url());
    std::cout << "export EVOLINK_BASE_URL=" << url << "\nexport EVOLINK_FILES_BASE_URL=" << url
              << "\nexport EVOLINK_CA_FILE=" << shell_word(ca.string())
              << "\nexport EVOLINK_API_KEY=" << shell_word(server.api_key()) << std::endl;
    std::cerr << "fake EvoLink server on " << server.base_url()
              << ". Paste the export lines above into another shell (the key is the fake's test key), then try\n"
                 "  evolink image --prompt \"a lighthouse\" --poll 0.2\nCtrl-C stops it.\n";
    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) { server.stop(); });
    io.run();
    // What it did, for a test that runs a program against it: its counters.
    std::cerr << "fake EvoLink server stopped: " << server.tasks_created() << " task(s) created, "
              << server.callback_attempts() << " callback POST(s), " << server.callbacks_delivered()
              << " callback(s) answered 2xx\n";
    std::error_code ec;
    if (own_ca) fs::remove(ca, ec);
    return ok;
}

} // namespace evolink_cli

#endif
