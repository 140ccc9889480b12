// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// Case P5 of bench/run (docs/performance.md): WAITS concurrent
// client.wait(id) against the fake server (which serves POST
// /v1/tasks/batch), each task done after four reads; prints the reads of
// tasks and the requests that carried them, counted by the server:
//   evolink-bench-p5 WAITS [off]   ("off": client_options::batch_reads = false)
//   -> "waits=N reads=R requests=Q gets=G batches=B"
// A count, not a timing: tests/integration/test_batch.cpp asserts the same.
#include <evolink.hpp>
#include <evolink/testing.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: evolink-bench-p5 WAITS [off]\n");
        return 2;
    }
    const std::size_t n = std::stoul(argv[1]);
    asio::io_context io(1);
    evolink::testing::fake_server_options so; // named: g++ 12 -O2 warns falsely of a defaulted temporary
    evolink::testing::fake_server server(io.get_executor(), so);
    auto o = server.client_options();
    o.batch_reads = !(argc > 2 && std::string(argv[2]) == "off");
    evolink::client client(io.get_executor(), o);
    std::size_t created = 0, ended = 0, failed = 0, before = 0;
    std::vector<std::string> ids(n);
    evolink::wait_options w;
    w.poll = evolink::poll_policy{200ms, 200ms, 200ms, 1.0, 0.0, false};
    auto reads = [&] { return server.count("GET", "/v1/tasks/") + server.count_route("POST", "/v1/tasks/batch"); };
    auto run = [&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "a lighthouse";
        for (std::size_t i = 0; i < n; ++i)
            client.submit(req, [&, i](evolink::error_code ec, evolink::task t) {
                failed += !!ec;
                ids[i] = t.id;
                ++created;
            });
        asio::steady_timer t(co_await asio::this_coro::executor);
        while (created < n) {
            t.expires_after(2ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        before = reads();
        for (auto& id : ids)
            client.wait(id, w, [&](evolink::error_code ec, evolink::task) {
                failed += !!ec;
                ++ended;
            });
        while (ended < n) {
            t.expires_after(2ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        std::printf("waits=%zu reads=%zu requests=%zu gets=%zu batches=%zu failed=%zu\n", n, 4 * n, reads() - before,
                    server.count("GET", "/v1/tasks/"), server.count_route("POST", "/v1/tasks/batch"), failed);
        server.stop();
    };
    asio::co_spawn(io, run(), asio::detached);
    io.run();
    return failed == 0 ? 0 : 1;
}
