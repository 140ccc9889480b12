// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// The longest stall of the thread that runs the client's io_context: a 1 ms
// repeating timer on that io_context records how late each tick fires while
// the client downloads 200 MB, uploads a 10 MB file and writes 1,000 journal
// records (500 waits on a finished task with a file_journal: an add and a
// finish each, both fsync'd). The fake server runs in a process of its own,
// so that only the client's work is measured. Prints one line
// per run: the three together, then nothing for as long (the floor: how late
// a timer fires on this machine anyway), then each alone:
//   <label> <work> <longest stall ms> <p99 stall ms> <ticks> <seconds>
//   <CPU ms the thread used within its longest stall: near the stall's
//    length, our code ran that long; near 0, the thread was off the CPU>
//   <when the longest stall ended, in seconds from the start>
// Built and run by bench/stall (see docs/performance.md).
#include <evolink.hpp>
#if __has_include(<evolink/testing.hpp>)
#include <evolink/testing.hpp>
#else // an older revision (bench/stall REV): the fake server came with <evolink.hpp>
#include <evolink/testing/fake_server.hpp>
#endif

#include <boost/asio.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <csignal>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>
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

/// CPU time used so far by the calling thread, in ms.
double thread_cpu_ms()
{
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

struct ticker {
    asio::steady_timer timer;
    clock_type::time_point expected;
    std::vector<double> late_ms;
    double last_cpu = 0;
    double worst_late = -1, worst_cpu = 0; ///< the longest stall, and the thread's CPU time within it
    clock_type::time_point began, worst_at;
    bool stop = false;
    explicit ticker(asio::io_context& io) : timer(io) {}
    void start()
    {
        began = clock_type::now();
        expected = began + 1ms;
        last_cpu = thread_cpu_ms();
        arm();
    }
    void arm()
    {
        timer.expires_at(expected);
        timer.async_wait([this](boost::system::error_code) {
            auto now = clock_type::now();
            double late = std::chrono::duration<double, std::milli>(now - expected).count();
            double cpu = thread_cpu_ms();
            late_ms.push_back(late);
            // Was the thread running (our code) or off the CPU (blocked, or
            // preempted) while it was late?
            if (late > worst_late) worst_late = late, worst_cpu = cpu - last_cpu, worst_at = now;
            last_cpu = cpu;
            if (stop) return;
            expected = std::max(expected + 1ms, now); // a long stall counts once
            arm();
        });
    }
};

/// The fake server, in a process of its own: it stands in for a remote
/// machine. (In this process, its freeing of each 200 MB answer held the
/// address space's lock long enough to stall the client's thread: a figure of
/// the bench's set-up, not of the client.) At the lowest CPU priority it also
/// leaves the two cores to the client first.
struct server_process {
    pid_t pid = -1;
    evolink::client_options options;
};

server_process start_server()
{
    int fds[2];
    if (::pipe(fds) != 0) std::abort();
    server_process sp;
    sp.pid = ::fork();
    if (sp.pid == 0) {
        ::close(fds[0]);
        ::setpriority(PRIO_PROCESS, 0, 19);
        asio::io_context server_io;
        evolink::testing::fake_server_options so;
        so.result_bytes = 200 * 1000 * 1000;
        so.max_file_bytes = 16 * 1024 * 1024;
        evolink::testing::fake_server server(server_io.get_executor(), so);
        auto o = server.client_options();
        std::string msg;
        for (auto* part : {&o.base_url, &o.api_key, &o.tls.ca_pem}) msg += std::to_string(part->size()) + "\n" + *part;
        if (::write(fds[1], msg.data(), msg.size()) != static_cast<ssize_t>(msg.size())) std::_Exit(1);
        ::close(fds[1]);
        auto work = asio::make_work_guard(server_io);
        server_io.run(); // until SIGTERM
        std::_Exit(0);
    }
    ::close(fds[1]);
    std::string in;
    char buf[4096];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) in.append(buf, static_cast<std::size_t>(n));
    ::close(fds[0]);
    std::size_t pos = 0;
    auto next = [&] {
        auto nl = in.find('\n', pos);
        auto len = std::stoul(in.substr(pos, nl - pos));
        pos = nl + 1 + len;
        return in.substr(nl + 1, len);
    };
    sp.options.base_url = sp.options.files_base_url = next();
    sp.options.api_key = next();
    sp.options.tls.use_system_store = false;
    sp.options.tls.ca_pem = next();
    return sp;
}

} // namespace

int main(int argc, char** argv)
{
    const char* label = argc > 1 ? argv[1] : "this";
    auto dir = fs::temp_directory_path() / ("evolink-stall-" + std::to_string(::getpid()));
    fs::create_directories(dir);

    auto server = start_server();
    asio::io_context io; // run by this thread only
    auto opts = server.options;
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

    // One run: the work named by `what` ("all", "download", "upload",
    // "journal"; "idle": none, the machine's own floor) with the ticker on
    // the same io_context.
    clock_type::duration idle_for = 5s;
    auto run = [&](std::string what) {
        ticker tick(io);
        bool all = what == "all";
        int running = all ? 3 : 1;
        asio::steady_timer idle(io);
        if (what == "idle") { // the floor: the ticker alone, as long as "all" took
            idle.expires_after(idle_for);
            idle.async_wait([&](boost::system::error_code) { tick.stop = true; });
        }
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
        if (all || what == "download")
            asio::co_spawn(io, [&]() -> asio::awaitable<void> {
                co_await client.download(done.results[0], dir / "result.mp4");
            }, finished);
        if (all || what == "upload")
            asio::co_spawn(io, [&]() -> asio::awaitable<void> { co_await client.upload_file(upload); }, finished);
        if (all || what == "journal")
            asio::co_spawn(io, [&]() -> asio::awaitable<void> {
                evolink::wait_options wo;
                wo.journal = &journal;
                for (int i = 0; i < 500; ++i) co_await client.wait(done, wo); // an add and a finish each
            }, finished);
        io.run();
        io.restart();
        double seconds = std::chrono::duration<double>(clock_type::now() - t0).count();
        if (all) idle_for = std::chrono::duration_cast<clock_type::duration>(clock_type::now() - t0);
        auto& v = tick.late_ms;
        std::sort(v.begin(), v.end());
        double p99 = v.empty() ? 0 : v[std::min(v.size() - 1, v.size() * 99 / 100)];
        std::printf("%-10s %-9s %10.1f %10.2f %8zu %8.1f %10.1f %8.2f%s\n", label, what.c_str(),
                    v.empty() ? 0 : v.back(), p99, v.size(), seconds, tick.worst_cpu,
                    std::chrono::duration<double>(tick.worst_at - tick.began).count(),
                    failures ? "  (some work failed)" : "");
        std::fflush(stdout);
    };
    for (auto what : {"all", "idle", "download", "upload", "journal"}) run(what);

    ::kill(server.pid, SIGTERM);
    ::waitpid(server.pid, nullptr, 0);
    std::error_code ignored;
    fs::remove_all(dir, ignored);

    return failures ? 1 : 0;
}
