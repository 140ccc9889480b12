// cpp20_05_no_coroutines: the same operations without coroutines, from ordinary threads.
//
// Every operation takes any Asio completion token. A plain callback gets
// (evolink::error_code, result) on the client's strand; `asio::use_future`
// returns a std::future to block on. One thread runs the io_context; the
// others start operations (from any thread, several at once) and wait.
// Never call future::get() on a thread that runs the io_context.
//
//   build/examples/cpp20_05_no_coroutines          the built-in fake server
//   build/examples/cpp20_05_no_coroutines --real   the real API (EVOLINK_API_KEY; 4 images billed)
//
// The images go to no_coroutines/.

#include "example_env.hpp"

#include <evolink.hpp>

#include <boost/asio.hpp>

#include <future>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;

int main(int argc, char** argv)
{
    asio::io_context io;
    example::env env(io.get_executor(), argc, argv);   // the fake server, or --real
    evolink::client client(io.get_executor(), env.client_options());
    auto work = asio::make_work_guard(io);             // run() returns only after work.reset()
    std::thread runner([&] { io.run(); });

    evolink::text_to_image req;
    req.prompt = "A red fox in the snow";
    evolink::wait_options wo;
    wo.poll = env.poll();

    // 1. Plain callbacks: the image, then in its handler the download.
    std::promise<void> finished;   // only so that main waits for the chain
    client.image(req, wo, [&](evolink::error_code ec, evolink::task t) {
        if (ec) {   // e.g. evolink::errc::task_failed
            std::cout << "callback: " << ec.message() << '\n';
            finished.set_value();
            return;
        }
        std::cout << "callback: " << evolink::to_string(t.status) << ' ' << t.id << '\n';
        auto saved = [&](evolink::error_code ec2, std::vector<evolink::download_result> f) {
            std::cout << "callback: " << (ec2 ? ec2.message() : "saved " + f.at(0).path.string()) << '\n';
            finished.set_value();
        };
        client.download_results(t, "no_coroutines", saved);
    });
    finished.get_future().wait();

    // 2. asio::use_future from three threads at once: each blocks on its own futures.
    std::vector<std::thread> threads;
    for (int i = 1; i <= 3; ++i)
        threads.emplace_back([&, i] {
            std::string line = "thread " + std::to_string(i) + ": ";
            try {
                evolink::task t = client.image(req, wo, asio::use_future).get();
                auto files = client.download_results(t, "no_coroutines", asio::use_future).get();
                line += evolink::to_string(t.status);
                line += ", saved " + files.at(0).path.string();
            } catch (const std::exception& e) {   // boost::system::system_error
                line += e.what();
            }
            std::cout << line + '\n';   // one write: lines of different threads do not mix
        });
    for (auto& t : threads) t.join();

    env.stop();   // from any thread
    work.reset();
    runner.join();
}
