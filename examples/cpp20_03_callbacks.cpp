// cpp20_03_callbacks: a callback receiver, and the callback raced against polling.
//
// With `wo.callbacks = &receiver` the request carries the receiver's URL and
// the wait runs two things at once: polling, slowed down 4 times (the first
// read of an image after 12 s), and the receiver's callback. When EvoLink POSTs
// the finished task, the wait reads it once to confirm and returns, long
// before polling would have seen it. Callbacks are hints: polling goes on
// beside them in case one is lost.
//
//   build/examples/cpp20_03_callbacks          the built-in fake server (it delivers callbacks)
//   build/examples/cpp20_03_callbacks --real   the real API (EVOLINK_API_KEY; billed), with
//       EVOLINK_CALLBACK_BASE_URL: the public https URL whose /evolink/callback/ path your
//       proxy forwards to 127.0.0.1:8080, where the receiver listens (docs/callbacks.md)

#include "example_env.hpp"

#include <evolink.hpp>

#include <boost/asio.hpp>

#include <chrono>
#include <cstdlib>
#include <iostream>

namespace asio = boost::asio;
using namespace std::chrono_literals;

asio::awaitable<void> run(evolink::client& client, evolink::callback_receiver& receiver, example::env& env)
{
    evolink::text_to_image req;
    req.prompt = "A lighthouse on a cliff at dawn";
    evolink::wait_options wo;
    wo.callbacks = &receiver;   // the request gets callback_url = receiver.callback_url()
    wo.on_submitted = [](const evolink::task& t) { std::cout << "created " << t.id << '\n'; };
    auto start = std::chrono::steady_clock::now();
    evolink::task t = co_await client.image(req, wo);   // default pacing: no wo.poll

    auto took = std::chrono::steady_clock::now() - start;
    auto first_read = evolink::poll_policy{}.initial_delay * wo.callback_poll_factor;
    std::cout << evolink::to_string(t.status) << " after "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms, callbacks received: "
              << receiver.accepted() << '\n';
    if (receiver.accepted() > 0 && took < first_read)
        std::cout << "the callback won: polling's first read was due after "
                  << std::chrono::duration_cast<std::chrono::seconds>(first_read).count() << " s\n";
    if (env.fake())
        std::cout << "reads of the task: " << env.fake()->task_reads(t.id) << " (the confirmation)\n";
}

int main(int argc, char** argv)
{
    asio::io_context io;
    evolink::testing::fake_server_options so;
    so.script = {.progress = {50}, .step_interval = 200ms};   // a fake task finishes 400 ms after creation
    example::env env(io.get_executor(), argc, argv, so);
    evolink::callback_receiver_options ro;
    if (env.real()) {
        const char* base = std::getenv("EVOLINK_CALLBACK_BASE_URL");
        if (!base) {
            std::cerr << "error: --real needs EVOLINK_CALLBACK_BASE_URL\n";
            return 2;
        }
        ro.public_base_url = base;
        ro.listen_port = 8080;
    }
    evolink::callback_receiver receiver(io.get_executor(), ro);   // plain HTTP on 127.0.0.1
    evolink::client client(io.get_executor(), env.client_options());
    asio::co_spawn(io, run(client, receiver, env), [&, done = env.on_done()](std::exception_ptr e) {
        receiver.stop();   // it keeps io.run() busy too
        done(e);
    });
    io.run();
    return env.exit_code();
}
