// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// The longest stall of the thread that runs the client's io_context: a 1 ms
// repeating timer on that io_context records how late each tick fires while
// the client downloads 200 MB, uploads a 10 MB file and writes 1,000 journal
// records (500 waits on a finished task with a file_journal: an add and a
// finish each, both fsync'd). The fake server runs on its own thread and
// io_context, so that only the client's work is measured. Prints one line:
//   <label> <longest stall ms> <p99 stall ms> <ticks> <seconds>
// Built and run by bench/stall (see docs/performance.md).
#include <evolink.hpp>
#include <evolink/testing/fake_server.hpp>

#include <boost/asio.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

/// A PNG header, then `size` bytes in all (the fake accepts it as an image).
void write_png(const fs::path& p, std::size_t size)
{
    auto be32 = [](std::string& s, std::uint32_t v) {
        for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
    };
    std::string head("\x89PNG\r\n\x1a\n", 8), ihdr;
    be32(head, 13);
    head += "IHDR";
    be32(head, 1280);
    be32(head, 720);
    head += std::string("\x08\x02\x00\x00\x00", 5);
    be32(head, 0);
    std::size_t data = size - head.size() - 24;
    be32(head, static_cast<std::uint32_t>(data));
    head += "IDAT";
    std::string body(data, '\0');
    for (std::size_t i = 0; i < data; ++i) body[i] = static_cast<char>(i * 131 + i / 251);
    std::string tail;
    be32(tail, 0);
    be32(tail, 0);
    tail += "IEND";
    be32(tail, 0);
    std::ofstream(p, std::ios::binary) << head << body << tail;
}

struct ticker {
    asio::steady_timer timer;
    clock_type::time_point expected;
    std::vector<double> late_ms;
    bool stop = false;
    explicit ticker(asio::io_context& io) : timer(io) {}
    void start()
    {
        expected = clock_type::now() + 1ms;
        arm();
    }
    void arm()
    {
        timer.expires_at(expected);
        timer.async_wait([this](boost::system::error_code) {
            auto now = clock_type::now();
            late_ms.push_back(std::chrono::duration<double, std::milli>(now - expected).count());
            if (stop) return;
            expected = std::max(expected + 1ms, now); // a long stall counts once
            arm();
        });
    }
};

} // namespace

int main(int argc, char** argv)
{
    const char* label = argc > 1 ? argv[1] : "this";
    auto dir = fs::temp_directory_path() / ("evolink-stall-" + std::to_string(::getpid()));
    fs::create_directories(dir);

    asio::io_context server_io;
    evolink::testing::fake_server_options so;
    so.result_bytes = 200 * 1000 * 1000;
    so.max_file_bytes = 16 * 1024 * 1024;
    evolink::testing::fake_server server(server_io.get_executor(), so);
    auto server_work = asio::make_work_guard(server_io);
    std::thread server_thread([&] { server_io.run(); });

    asio::io_context io; // run by this thread only
    auto opts = server.client_options();
    opts.request_timeout = 120s;
    evolink::client client(io.get_executor(), opts);
    auto upload = dir / "upload.png";
    write_png(upload, 10 * 1000 * 1000);
    evolink::file_journal journal((dir / "journal.jsonl").string());

    // A finished task first (its result is the 200 MB file).
    evolink::text_to_video req;
    req.prompt = "waves";
    evolink::wait_options fast;
    fast.poll = evolink::poll_policy{10ms, 10ms, 10ms, 1.0, 0.0, false};
    evolink::task done;
    int failures = 0;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { done = co_await client.video(req, fast); }, asio::detached);
    io.run();
    io.restart();

    ticker tick(io);
    int running = 3;
    auto finished = [&](std::exception_ptr e) {
        if (e) {
            ++failures;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::fprintf(stderr, "failed: %s\n", x.what());
            }
        }
        if (--running == 0) tick.stop = true;
    };
    auto t0 = clock_type::now();
    tick.start();
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        co_await client.download(done.results[0], dir / "result.mp4");
    }, finished);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> { co_await client.upload_file(upload); }, finished);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        evolink::wait_options wo;
        wo.journal = &journal;
        for (int i = 0; i < 500; ++i) co_await client.wait(done, wo); // an add and a finish each
    }, finished);
    io.run();
    double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();

    server_work.reset();
    asio::post(server_io, [&] { server.stop(); });
    server_thread.join();
    std::error_code ignored;
    fs::remove_all(dir, ignored);

    auto& v = tick.late_ms;
    std::sort(v.begin(), v.end());
    double p99 = v.empty() ? 0 : v[std::min(v.size() - 1, v.size() * 99 / 100)];
    std::printf("%-10s %10.1f %10.2f %8zu %8.1f%s\n", label, v.empty() ? 0 : v.back(), p99, v.size(), seconds,
                failures ? "  (some work failed)" : "");
    return failures ? 1 : 0;
}
