// Issue 9 (safe to embed): nothing blocks the thread that runs the
// io_context. File work (downloads, uploads, local images, the journal) runs
// on the client's file executor; the temporary download file cannot be
// redirected by a planted symlink; overwrite=false never replaces a file.
#include "../support/fixture.hpp"

#include <evolink/detail/download.hpp> // detail::temp_file

#include <boost/asio/thread_pool.hpp>

#include <sys/syscall.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <random>
#include <thread>

namespace fs = std::filesystem;
using evolink::errc;
using evolink::testing::fake_server;
using evolink::testing::fake_server_options;

namespace {

/// Bytes a thread has read and written through system calls (files and
/// sockets alike), from /proc.
struct thread_io {
    std::uint64_t rchar = 0, wchar = 0;
};
thread_io io_of(pid_t tid)
{
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/io");
    REQUIRE(in); // Linux with per-thread I/O accounting
    thread_io t;
    std::string key;
    std::uint64_t value = 0;
    while (in >> key >> value) {
        if (key == "rchar:") t.rchar = value;
        if (key == "wchar:") t.wchar = value;
    }
    return t;
}

pid_t thread_id_in(boost::asio::thread_pool& pool)
{
    std::promise<pid_t> p;
    asio::post(pool, [&] { p.set_value(static_cast<pid_t>(::syscall(SYS_gettid))); });
    return p.get_future().get();
}

std::size_t process_threads()
{
    std::size_t n = 0;
    for ([[maybe_unused]] auto& e : fs::directory_iterator("/proc/self/task")) ++n;
    return n;
}

/// Records which thread calls it, and how many GETs of the task the server
/// had seen when the task was added.
struct recording_journal : evolink::journal {
    fake_server* server = nullptr;
    std::mutex m;
    std::vector<std::thread::id> threads;
    std::size_t gets_at_add = 99;
    std::vector<std::string> events;
    void add(const evolink::journal_entry& e) override
    {
        std::lock_guard l(m);
        threads.push_back(std::this_thread::get_id());
        gets_at_add = server->count("GET", "/v1/tasks/");
        events.push_back("add " + e.task_id);
    }
    void finish(std::string_view id, std::string_view status) override
    {
        std::lock_guard l(m);
        threads.push_back(std::this_thread::get_id());
        events.push_back("finish " + std::string(id) + " " + std::string(status));
    }
    void ready() override
    {
        std::lock_guard l(m);
        threads.push_back(std::this_thread::get_id());
        events.push_back("ready");
    }
    std::vector<evolink::journal_entry> unfinished() override
    {
        std::lock_guard l(m);
        threads.push_back(std::this_thread::get_id());
        events.push_back("unfinished");
        return {};
    }
};

} // namespace

TEST_CASE("file work runs on client_options::file_executor: the journal, download writes, upload reads")
{
    temp_dir dir;
    fake_server_options so;
    so.result_bytes = 1024 * 1024;
    boost::asio::thread_pool files(1);
    const pid_t files_tid = thread_id_in(files);
    std::promise<std::thread::id> p;
    asio::post(files, [&] { p.set_value(std::this_thread::get_id()); });
    const auto files_thread = p.get_future().get();

    fixture fx(so, [&](evolink::client_options opts) {
        opts.file_executor = files.get_executor();
        return opts;
    });
    recording_journal j;
    j.server = &fx.server;
    auto upload = dir.write("big.png", make_png(1280, 720, {.filler = 300 * 1024, .seed = 'x'}));
    fx.run([&]() -> asio::awaitable<void> {
        // The journal: ready (before the creation), add (before the first
        // GET of the wait), finish, and resume's read, all on the file executor.
        evolink::text_to_video req;
        req.prompt = "waves";
        evolink::wait_options wo;
        wo.poll = fast_poll();
        wo.journal = &j;
        auto t = co_await fx.client.video(req, wo);
        CHECK(t.status == evolink::task_status::completed);
        CHECK(j.gets_at_add == 0);
        auto resumed = co_await fx.client.resume(j);
        CHECK(resumed.empty());
        REQUIRE(j.events.size() == 4);
        CHECK(j.events[0] == "ready");
        CHECK(j.events[1] == "add " + t.id);
        CHECK(j.events[2] == "finish " + t.id + " completed");
        CHECK(j.events[3] == "unfinished");
        CHECK(j.threads.size() == 4);
        for (auto& id : j.threads) CHECK(id == files_thread);

        // A download: every byte written by the file executor's thread;
        // progress still reported on the io_context's thread.
        auto before = io_of(files_tid);
        std::vector<std::thread::id> progress_threads;
        evolink::download_options o;
        o.on_progress = [&](const evolink::download_progress&) { progress_threads.push_back(std::this_thread::get_id()); };
        auto r = co_await fx.client.download(t.results[0], dir.path / "out.mp4", o);
        CHECK(r.bytes == so.result_bytes);
        CHECK(read_all(dir.path / "out.mp4") == fx.server.result_content(t.results[0]));
        auto after = io_of(files_tid);
        CHECK(after.wchar - before.wchar >= so.result_bytes);
        REQUIRE(!progress_threads.empty());
        for (auto& id : progress_threads) CHECK(id == std::this_thread::get_id());

        // An upload: the file read by the file executor's thread.
        auto f = co_await fx.client.upload_file(upload);
        CHECK(f.file_size == fs::file_size(upload));
        auto read = io_of(files_tid);
        CHECK(read.rchar - after.rchar >= fs::file_size(upload));
    });
    files.join();
}

TEST_CASE("the client's own file pool starts on the first file operation and ends with the client")
{
    env_guard env;
    temp_dir dir;
    asio::io_context io;
    fake_server server(io.get_executor());
    std::size_t base = 0, after_download = 0;
    {
        evolink::client client(io.get_executor(), server.client_options());
        run_test(io, server, [&]() -> asio::awaitable<void> {
            auto t = co_await finished_video(client, "waves");
            base = process_threads(); // the io_context's resolver thread is up by now; no file work yet
            co_await client.download(t.results[0], dir.path / "out.mp4");
            after_download = process_threads();
        });
    }
    io.restart();
    io.run(); // the client's last handler: its state (and pool) goes
    CHECK(after_download == base + evolink::detail::file_pool::threads);
    CHECK(process_threads() == base); // joined when the client and its operations are gone
}

TEST_CASE("the temporary download file is never opened through a planted symlink")
{
    temp_dir dir;
    auto victim = dir.write("victim.txt", "precious");
    evolink::detail::temp_file tmp(dir.path / "out.mp4");
    fs::create_symlink(victim, tmp.path());
    CHECK(tmp.create() == EEXIST);
    CHECK(tmp.write("overwritten", 11) != 0); // nothing open
    CHECK(read_all(victim) == "precious");
    CHECK(fs::is_symlink(tmp.path()));
}

TEST_CASE("overwrite=false: a file that appears during the download is never replaced")
{
    temp_dir dir;
    fake_server_options so;
    so.result_bytes = 512 * 1024;
    fixture fx(so);
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_video(fx.client, "waves");
        auto target = dir.path / "out.mp4";
        evolink::download_options o;
        o.overwrite = false;
        o.on_progress = [&](const evolink::download_progress& p) {
            if (p.received > 0 && !fs::exists(target)) dir.write("out.mp4", "someone else's");
        };
        evolink::diagnostics d;
        auto [ec, r] = co_await fx.client.download(t.results[0], target, o, evolink::with_diagnostics(d, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::invalid_request);
        CHECK(d.param == "path");
        CHECK(contains(d.message, "exists and download_options::overwrite is off"));
        CHECK(read_all(target) == "someone else's");
        CHECK(dir.names() == std::vector<std::string>{"out.mp4"}); // no temporary file left
    });
}

TEST_CASE("a local image is read once: the bytes checked are the bytes uploaded")
{
    temp_dir dir;
    const auto good = make_png(1280, 720, {.filler = 4096, .seed = 'a'});
    auto path = dir.write("cat.png", good);
    bool changed = false;
    fixture fx([&](evolink::client_options opts) {
        // The upload's connection is made after the check: change the file then
        // (same size, other bytes). A second read would upload those.
        opts.logger.min_level = evolink::log_level::debug;
        opts.logger.sink = [&](evolink::log_level, std::string_view msg) {
            if (!changed && msg.starts_with("connected to")) {
                dir.write("cat.png", make_png(1280, 720, {.filler = 4096, .seed = 'b'}));
                changed = true;
            }
        };
        return opts;
    });
    fx.run([&]() -> asio::awaitable<void> {
        evolink::image_to_video req;
        req.prompt = "the cat plays the piano";
        req.image_url = path.string();
        auto t = co_await fx.client.submit(req);
        CHECK(!t.id.empty());
        CHECK(changed);
        auto stored = fx.server.files();
        REQUIRE(stored.size() == 1);
        CHECK((stored.begin()->second.bytes == good)); // not printed: 4 KiB of binary
    });
}
