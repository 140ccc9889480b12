// cpp20_01_first_image: a first image with `co_await client.image(req)`.
//
// `client.image(req, wo)` checks the request, creates the task, waits until it
// is finished and returns it; its results are URLs (valid for 24 hours).
//
//   build/examples/cpp20_01_first_image            the built-in fake server
//   build/examples/cpp20_01_first_image --real     the real API (EVOLINK_API_KEY; billed)
//
// Next: cpp20_02_video_from_file.cpp. All of them: docs/getting-started.md.

#include "example_env.hpp"

#include <evolink.hpp>

#include <boost/asio.hpp>

#include <iostream>

namespace asio = boost::asio;

asio::awaitable<void> run(evolink::client& client, example::env& env)
{
    evolink::text_to_image req;
    req.prompt = "A red fox in the snow, morning light";
    req.size = "1024x1024";

    evolink::wait_options wo;
    wo.poll = env.poll();   // unset against the real API: the default pacing
    wo.on_submitted = [](const evolink::task& t) { std::cout << "created " << t.id << '\n'; };
    wo.on_progress = [](const evolink::task& t) {
        std::cout << "  " << evolink::to_string(t.status) << ' ' << t.progress << "%\n";
    };
    try {
        evolink::task t = co_await client.image(req, wo);   // throws evolink::error unless completed
        std::cout << evolink::to_string(t.status) << ":\n";
        for (const auto& url : t.results) std::cout << url << '\n';
    } catch (const evolink::error& e) {
        if (e.code() != evolink::errc::task_failed) throw;
        std::cout << "task failed: " << e.get_diagnostics().summary() << '\n';
    }
}

int main(int argc, char** argv)
{
    asio::io_context io;
    example::env env(io.get_executor(), argc, argv);   // the fake server, or --real
    evolink::client client(io.get_executor(), env.client_options());
    asio::co_spawn(io, run(client, env), env.on_done());
    io.run();
    return env.exit_code();
}
