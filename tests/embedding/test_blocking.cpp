// Issue 9 (safe to embed): nothing blocks the thread that runs the
// io_context. File work (downloads, uploads, local images, the journal) runs
// on the client's file executor; the temporary download file cannot be
// redirected by a planted symlink; overwrite=false never replaces a file.
#include "../integration/support.hpp"

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

struct scratch_dir {
    fs::path path;
    scratch_dir()
    {
        std::random_device rd;
        path = fs::temp_directory_path() / ("evolink-blocking-test-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path);
    }
    ~scratch_dir()
    {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    fs::path write(const std::string& name, const std::string& bytes) const
    {
        std::ofstream(path / name, std::ios::binary | std::ios::trunc) << bytes;
        return path / name;
    }
    std::vector<std::string> names() const
    {
        std::vector<std::string> out;
        for (auto& e : fs::directory_iterator(path)) out.push_back(e.path().filename().string());
        std::sort(out.begin(), out.end());
        return out;
    }
};

std::string slurp(const fs::path& p)
{
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// A PNG (RGB) whose header says w x h: enough for the checks and the fake.
std::string png(std::uint32_t w, std::uint32_t h, char fill, std::size_t pad = 4096)
{
    auto be32 = [](std::string& s, std::uint32_t v) {
        for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
    };
    auto chunk = [&](std::string& s, std::string_view type, const std::string& data) {
        be32(s, static_cast<std::uint32_t>(data.size()));
        s += type;
        s += data;
        be32(s, 0);
    };
    std::string out("\x89PNG\r\n\x1a\n", 8), ihdr;
    be32(ihdr, w);
    be32(ihdr, h);
    ihdr += std::string{8, 2, 0, 0, 0};
    chunk(out, "IHDR", ihdr);
    chunk(out, "IDAT", std::string(pad, fill));
    chunk(out, "IEND", "");
    return out;
}

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
    std::vector<evolink::journal_entry> unfinished() override { return {}; }
};

evolink::poll_policy fast() { return {10ms, 10ms, 10ms, 1.0, 0.0, false}; }

} // namespace

TEST_CASE("file work runs on client_options::file_executor: the journal, download writes, upload reads")
{
    env_guard env;
    scratch_dir dir;
    asio::io_context io;
    fake_server_options so;
    so.result_bytes = 1024 * 1024;
    fake_server server(io.get_executor(), so);
    boost::asio::thread_pool files(1);
    const pid_t files_tid = thread_id_in(files);
    std::promise<std::thread::id> p;
    asio::post(files, [&] { p.set_value(std::this_thread::get_id()); });
    const auto files_thread = p.get_future().get();

    auto opts = server.client_options();
    opts.file_executor = files.get_executor();
    evolink::client client(io.get_executor(), opts);
    recording_journal j;
    j.server = &server;
    auto upload = dir.write("big.png", png(1280, 720, 'x', 300 * 1024));
    run_test(io, server, [&]() -> asio::awaitable<void> {
        // The journal: add (before the first GET of the wait) and finish,
        // both on the file executor.
        evolink::text_to_video req;
        req.prompt = "waves";
        evolink::wait_options wo;
        wo.poll = fast();
        wo.journal = &j;
        auto t = co_await client.video(req, wo);
        CHECK(t.status == evolink::task_status::completed);
        CHECK(j.gets_at_add == 0);
        REQUIRE(j.events.size() == 2);
        CHECK(j.events[0] == "add " + t.id);
        CHECK(j.events[1] == "finish " + t.id + " completed");
        for (auto& id : j.threads) CHECK(id == files_thread);

        // A download: every byte written by the file executor's thread;
        // progress still reported on the io_context's thread.
        auto before = io_of(files_tid);
        std::vector<std::thread::id> progress_threads;
        evolink::download_options o;
        o.on_progress = [&](const evolink::download_progress&) { progress_threads.push_back(std::this_thread::get_id()); };
        auto r = co_await client.download(t.results[0], dir.path / "out.mp4", o);
        CHECK(r.bytes == so.result_bytes);
        CHECK(slurp(dir.path / "out.mp4") == server.result_content(t.results[0]));
        auto after = io_of(files_tid);
        CHECK(after.wchar - before.wchar >= so.result_bytes);
        REQUIRE(!progress_threads.empty());
        for (auto& id : progress_threads) CHECK(id == std::this_thread::get_id());

        // An upload: the file read by the file executor's thread.
        auto f = co_await client.upload_file(upload);
        CHECK(f.file_size == fs::file_size(upload));
        auto read = io_of(files_tid);
        CHECK(read.rchar - after.rchar >= fs::file_size(upload));
    });
    files.join();
}

TEST_CASE("the client's own file pool starts on the first file operation and ends with the client")
{
    env_guard env;
    scratch_dir dir;
    asio::io_context io;
    fake_server server(io.get_executor());
    std::size_t base = 0, after_download = 0;
    {
        evolink::client client(io.get_executor(), server.client_options());
        run_test(io, server, [&]() -> asio::awaitable<void> {
            evolink::text_to_video req;
            req.prompt = "waves";
            evolink::wait_options wo;
            wo.poll = fast();
            auto t = co_await client.video(req, wo);
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
    scratch_dir dir;
    auto victim = dir.write("victim.txt", "precious");
    evolink::detail::temp_file tmp(dir.path / "out.mp4");
    fs::create_symlink(victim, tmp.path());
    CHECK(tmp.create() == EEXIST);
    CHECK(tmp.write("overwritten", 11) != 0); // nothing open
    CHECK(slurp(victim) == "precious");
    CHECK(fs::is_symlink(tmp.path()));
}

TEST_CASE("overwrite=false: a file that appears during the download is never replaced")
{
    env_guard env;
    scratch_dir dir;
    asio::io_context io;
    fake_server_options so;
    so.result_bytes = 512 * 1024;
    fake_server server(io.get_executor(), so);
    evolink::client client(io.get_executor(), server.client_options());
    run_test(io, server, [&]() -> asio::awaitable<void> {
        evolink::text_to_video req;
        req.prompt = "waves";
        evolink::wait_options wo;
        wo.poll = fast();
        auto t = co_await client.video(req, wo);
        auto target = dir.path / "out.mp4";
        evolink::download_options o;
        o.overwrite = false;
        o.on_progress = [&](const evolink::download_progress& p) {
            if (p.received > 0 && !fs::exists(target)) dir.write("out.mp4", "someone else's");
        };
        evolink::diagnostics d;
        auto [ec, r] = co_await client.download(t.results[0], target, o, d, asio::as_tuple(asio::use_awaitable));
        CHECK(ec == errc::invalid_request);
        CHECK(d.param == "path");
        CHECK(contains(d.message, "exists and download_options::overwrite is off"));
        CHECK(slurp(target) == "someone else's");
        CHECK(dir.names() == std::vector<std::string>{"out.mp4"}); // no temporary file left
    });
}

TEST_CASE("a local image is read once: the bytes checked are the bytes uploaded")
{
    env_guard env;
    scratch_dir dir;
    const auto good = png(1280, 720, 'a');
    auto path = dir.write("cat.png", good);
    asio::io_context io;
    fake_server server(io.get_executor());
    auto opts = server.client_options();
    // The upload's connection is made after the check: change the file then
    // (same size, other bytes). A second read would upload those.
    opts.logger.min_level = evolink::log_level::debug;
    bool changed = false;
    opts.logger.sink = [&](evolink::log_level, std::string_view msg) {
        if (!changed && msg.starts_with("connected to")) {
            dir.write("cat.png", png(1280, 720, 'b'));
            changed = true;
        }
    };
    evolink::client client(io.get_executor(), opts);
    run_test(io, server, [&]() -> asio::awaitable<void> {
        evolink::image_to_video req;
        req.prompt = "the cat plays the piano";
        req.image_url = path.string();
        auto t = co_await client.submit(req);
        CHECK(!t.id.empty());
        CHECK(changed);
        auto stored = server.files();
        REQUIRE(stored.size() == 1);
        CHECK((stored.begin()->second.bytes == good)); // not printed: 4 KiB of binary
    });
}
