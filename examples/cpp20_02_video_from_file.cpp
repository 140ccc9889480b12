// cpp20_02_video_from_file: a video from a local image, downloaded to disk with progress.
//
// A local path works wherever an image URL does: the client checks the file
// (format, size, no alpha channel) before sending anything, uploads it through
// the Files API, then creates the task. download_results() writes the video
// to disk (a temporary file renamed when complete).
//
//   build/examples/cpp20_02_video_from_file [IMAGE [DIR]]          the built-in fake server
//   build/examples/cpp20_02_video_from_file --real IMAGE [DIR]     the real API (EVOLINK_API_KEY; billed)
//
// Without IMAGE it writes a 640x360 PNG, example-input.png, to use. DIR: videos/.

#include "example_env.hpp"

#include <evolink.hpp>
#include <evolink/testing/media.hpp>

#include <boost/asio.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

namespace asio = boost::asio;

asio::awaitable<void> run(evolink::client& client, example::env& env)
{
    const auto& args = env.args();
    evolink::image_to_video req;
    req.prompt = "The fox wakes up and walks away through the snow";
    req.image_url = args.empty() ? "example-input.png" : args[0];   // a local path: checked and uploaded
    req.duration = 5;
    req.quality = "480p";
    if (args.empty())   // no IMAGE: make one, a 640x360 RGB PNG (the test kit draws it)
        std::ofstream(req.image_url, std::ios::binary) << evolink::testing::media::png(640, 360, "a fox");

    evolink::wait_options wo;
    wo.poll = env.poll();
    wo.on_submitted = [&](const evolink::task& t) {
        std::cout << "checked and uploaded " << req.image_url << ", created " << t.id << '\n';
    };
    wo.on_progress = [](const evolink::task& t) {
        std::cout << "  " << evolink::to_string(t.status) << ' ' << t.progress << "%\n";
    };
    evolink::task t = co_await client.video(req, wo);

    int next = 0;   // print at 0, 25, 50, 75 and 100 %
    evolink::download_options o;
    o.on_progress = [&next](const evolink::download_progress& p) {
        if (!p.total || *p.total == 0 || p.received * 100 < *p.total * next) return;
        int pct = static_cast<int>(p.received * 100 / *p.total);
        std::cout << "  downloaded " << pct << "%\n";
        next = pct / 25 * 25 + 25;
    };
    std::filesystem::path dir = args.size() > 1 ? args[1] : "videos";   // created if missing
    auto files = co_await client.download_results(t, dir, o);
    for (const auto& f : files) std::cout << "saved " << f.path.string() << " (" << f.bytes << " bytes)\n";
}

int main(int argc, char** argv)
{
    asio::io_context io;
    evolink::testing::fake_server_options so;
    so.result_bytes = 4 << 20;   // the fake's video: 4 MiB, to show some progress
    example::env env(io.get_executor(), argc, argv, so);   // the fake server, or --real
    if (env.real() && env.args().empty()) {
        std::cerr << "error: --real needs an IMAGE to animate\n";
        return 2;
    }
    evolink::client client(io.get_executor(), env.client_options());
    asio::co_spawn(io, run(client, env), env.on_done());
    io.run();
    return env.exit_code();
}
