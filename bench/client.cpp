// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// Our side of bench/run (docs/performance.md). One process per case, so that
// its CPU time and peak RSS are the case's alone:
//   evolink-bench p1  BASE_URL CA_FILE TASKS CONCURRENCY   submit + get_task
//   evolink-bench p1b BASE_URL CA_FILE TASKS CONCURRENCY   client.video()
//   evolink-bench p2  BASE_URL CA_FILE WAITS               client.wait(id) x WAITS
//   evolink-bench receiver PORT                            callback receiver
// p1/p1b print "tasks=N failed=F connections=C" (C: TLS connections opened,
// case P4); p2 prints "waits=N heap_per_wait=B rss_per_wait=B" once every
// wait has read its task (which stays processing) and sleeps; the receiver
// prints its URL path, then runs until stdin closes and prints
// "accepted=N refused=R".
#include <evolink.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include <malloc.h>
#include <unistd.h>

namespace asio = boost::asio;

namespace {

struct run_state {
    std::size_t next = 0;   // tasks started
    std::size_t total = 0;
    std::size_t failed = 0;
};

evolink::image_to_video request()
{
    evolink::image_to_video req;
    req.prompt = "a lighthouse at dawn, waves rolling in";
    req.image_url = "https://example.com/lighthouse.png";
    return req;
}

// One of CONCURRENCY workers: takes the next task until all are started.
asio::awaitable<void> worker(evolink::client& client, run_state& st, bool end_to_end)
{
    const auto req = request();
    evolink::wait_options opts; // the canned GET answers "completed": read at once
    evolink::poll_policy now{};
    now.initial_delay = std::chrono::milliseconds(0);
    now.min_interval = std::chrono::milliseconds(1);
    now.use_estimated_time = false;
    opts.poll = now;
    while (st.next < st.total) {
        ++st.next;
        try {
            if (end_to_end) {
                auto done = co_await client.video(req, opts);
                if (!done.finished()) ++st.failed;
            } else {
                auto created = co_await client.submit(req);
                auto read = co_await client.get_task(created.id);
                if (read.id != created.id) ++st.failed;
            }
        } catch (const std::exception& e) {
            if (st.failed++ == 0) std::cerr << "first failure: " << e.what() << "\n";
        }
    }
}

// The client of every case: bench/run's nginx, trusting its CA.
evolink::client_options options(const std::string& base, const std::string& ca)
{
    evolink::client_options o;
    o.api_key = "bench-key";
    o.base_url = base;
    o.files_base_url = base;
    o.tls.ca_file = ca;
    return o;
}

int run_client(bool end_to_end, const std::string& base, const std::string& ca, std::size_t tasks, std::size_t conc)
{
    asio::io_context io(1);
    evolink::client client(io.get_executor(), options(base, ca));
    run_state st;
    st.total = tasks;
    for (std::size_t i = 0; i < conc; ++i) asio::co_spawn(io, worker(client, st, end_to_end), asio::detached);
    io.run();
    std::printf("tasks=%zu failed=%zu connections=%zu\n", tasks, st.failed, client.connections_opened());
    return st.failed == 0 ? 0 : 1;
}

// Bytes the process has from malloc now, and its resident set.
std::size_t heap_in_use()
{
    auto m = ::mallinfo2();
    return m.uordblks + m.hblkhd;
}
std::size_t rss_bytes()
{
    std::size_t pages = 0, resident = 0;
    std::ifstream("/proc/self/statm") >> pages >> resident;
    return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// P2: WAITS concurrent waits on tasks that stay processing (bench/run's nginx
// answers "processing" for ids task-unified-1764688000-wNNNNNNN), measured
// once each has read its task and sleeps until its next read, 60 s away.
int run_waits(const std::string& base, const std::string& ca, std::size_t waits)
{
    asio::io_context io(1);
    evolink::client client(io.get_executor(), options(base, ca));
    auto id = [](std::size_t i) {
        auto n = std::to_string(i);
        return "task-unified-1764688000-w" + std::string(7 - n.size(), '0') + n;
    };
    std::size_t read = 0, heap0 = 0, rss0 = 0;
    evolink::wait_options w;
    w.poll = evolink::poll_policy{std::chrono::seconds(60), std::chrono::seconds(60), std::chrono::seconds(60), 1.0, 0.0, false};
    w.on_progress = [&](const evolink::task&) {
        if (++read < waits) return;
        auto heap = heap_in_use() - heap0;
        auto rss = rss_bytes() - rss0;
        std::printf("waits=%zu heap_per_wait=%zu rss_per_wait=%zu connections=%zu\n", waits, heap / waits, rss / waits,
                    client.connections_opened());
        std::fflush(stdout);
        std::_Exit(0); // the waits would sleep for a minute
    };
    auto start = [&]() -> asio::awaitable<void> {
        co_await client.get_task(id(0)); // a connection open before the baseline, as a running service has
        heap0 = heap_in_use();
        rss0 = rss_bytes();
        for (std::size_t i = 0; i < waits; ++i) client.wait(id(i), w, asio::detached);
    };
    asio::co_spawn(io, start(), asio::detached);
    io.run();
    std::fprintf(stderr, "p2: the waits ended before all had read their task (%zu of %zu)\n", read, waits);
    return 1;
}

int run_receiver(unsigned short port)
{
    asio::io_context io(1);
    evolink::callback_receiver_options o;
    o.public_base_url = "http://127.0.0.1:" + std::to_string(port);
    o.secret = "bench-secret-0123456789";
    o.listen_port = port;
    evolink::callback_receiver receiver(io.get_executor(), o);
    std::printf("path=%s/%s\n", receiver.path().c_str(), o.secret.c_str());
    std::fflush(stdout);
    // Runs until bench/run closes our stdin.
    asio::posix::stream_descriptor in(io, ::dup(0));
    auto until_eof = [&]() -> asio::awaitable<void> {
        char byte;
        boost::system::error_code ec;
        while (!ec) co_await asio::async_read(in, asio::buffer(&byte, 1), asio::redirect_error(asio::use_awaitable, ec));
        receiver.stop();
    };
    asio::co_spawn(io, until_eof(), asio::detached);
    io.run();
    std::printf("accepted=%zu refused=%zu\n", receiver.accepted(), receiver.refused());
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    std::string mode = argc > 1 ? argv[1] : "";
    if ((mode == "p1" || mode == "p1b") && argc == 6)
        return run_client(mode == "p1b", argv[2], argv[3], std::stoul(argv[4]), std::stoul(argv[5]));
    if (mode == "p2" && argc == 5) return run_waits(argv[2], argv[3], std::stoul(argv[4]));
    if (mode == "receiver" && argc == 3) return run_receiver(static_cast<unsigned short>(std::stoul(argv[2])));
    std::cerr << "usage: evolink-bench p1|p1b BASE_URL CA_FILE TASKS CONCURRENCY | p2 BASE_URL CA_FILE WAITS | "
                 "receiver PORT\n";
    return 2;
}
