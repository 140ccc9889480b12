// The README's first command: text-to-image, then image-to-video from the
// image it made, each submitted and then read back until it finishes.
// Runs against the built-in fake EvoLink server, or against the real API when
// EVOLINK_API_KEY is set (EVOLINK_BASE_URL overrides the host).

#include <evolink.hpp>

#include <boost/asio.hpp>

#include <cstdlib>
#include <iostream>
#include <optional>

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Reads the task back until it finishes. (client.wait() does this with
// paced polling, a deadline and callbacks; the loop shows the raw API.)
static asio::awaitable<evolink::task> follow(evolink::client& client, evolink::task t,
                                             std::chrono::milliseconds every)
{
    asio::steady_timer timer(co_await asio::this_coro::executor);
    int last = -1;
    while (!t.finished()) {
        timer.expires_after(every);
        co_await timer.async_wait(asio::deferred);
        t = co_await client.get_task(t.id);
        if (t.progress != last || t.finished()) {
            std::cout << "  " << t.id << "  " << to_string(t.status) << "  " << t.progress << "%\n";
            last = t.progress;
        }
    }
    co_return t;
}

static void show(const evolink::task& t)
{
    std::cout << "  -> " << to_string(t.status);
    if (t.usage.credits_reserved) std::cout << ", credits reserved: " << *t.usage.credits_reserved;
    std::cout << '\n';
    for (auto& url : t.results) std::cout << "  result: " << url << '\n';
    if (t.error) std::cout << "  error: " << t.error->code << ": " << t.error->message << '\n';
}

int main()
{
    asio::io_context io;
    const char* key = std::getenv("EVOLINK_API_KEY");
    bool real = key && *key;

    std::optional<evolink::testing::fake_server> server;
    evolink::client_options options;
    if (real) {
        if (const char* base = std::getenv("EVOLINK_BASE_URL")) options.base_url = base;
        std::cout << "EVOLINK_API_KEY is set: using the real API at " << options.base_url << " (this bills credits)\n";
    } else {
        server.emplace(io.get_executor());
        options = server->client_options();
        std::cout << "No EVOLINK_API_KEY: using the built-in fake EvoLink server at " << server->base_url() << "\n";
    }
    auto every = real ? 5000ms : 100ms;

    int rc = 0;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
            evolink::client client(co_await asio::this_coro::executor, options);
            try {
                evolink::text_to_image image_req;
                image_req.prompt = "A lighthouse on a cliff at dawn, soft mist, cinematic";
                image_req.size = "1280x720";
                std::cout << "\n1. text-to-image (" << image_req.model << ")\n";
                auto image = co_await client.submit(image_req);
                std::cout << "  submitted " << image.id << " (" << to_string(image.status) << ")\n";
                image = co_await follow(client, image, every);
                show(image);
                if (image.results.empty()) throw std::runtime_error("the image task produced no result");

                evolink::image_to_video video_req;
                video_req.prompt = "The camera slowly flies toward the lighthouse as the mist clears";
                video_req.image_url = image.results.front();
                video_req.duration = 5;
                video_req.quality = "720p";
                std::cout << "\n2. image-to-video (" << video_req.model << ") from the image above\n";
                auto video = co_await client.submit(video_req);
                std::cout << "  submitted " << video.id << " (" << to_string(video.status) << ")\n";
                video = co_await follow(client, video, real ? 15000ms : every);
                show(video);

                std::cout << "\n3. a request the library refuses before sending anything\n";
                evolink::text_to_video bad;
                bad.prompt = "A city at night";
                bad.quality = "480p";
                bad.aspect_ratio = "4:3";
                try {
                    co_await client.submit(bad);
                } catch (const evolink::error& e) {
                    std::cout << "  refused: " << e.get_diagnostics().message << '\n';
                }
            } catch (const evolink::error& e) {
                std::cerr << "error: " << e.what() << '\n';
                rc = 1;
            } catch (const std::exception& e) {
                std::cerr << "error: " << e.what() << '\n';
                rc = 1;
            }
            if (server) server->stop();
        },
        [](std::exception_ptr e) {
            if (e) std::rethrow_exception(e);
        });
    io.run();
    if (rc == 0) std::cout << "\ndone\n";
    return rc;
}
