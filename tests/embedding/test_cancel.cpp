// Issue 9: cancellation means what the docs say. Every operation is cancelled
// in each phase it can be in (resolving the host name, the TLS handshake,
// waiting for a pooled connection, waiting for the answer, sleeping before a
// retry or the next read) with each cancellation type; the checks are what
// it completed with and what the fake server saw. The base URL names the
// host (`localhost`), so the resolver runs; a test seam makes it hang.
#include "../support/fixture.hpp"

#include <evolink/testing/resolve_delay.hpp>

#include <boost/asio/ssl.hpp> // ssl::stream, for the peer that never finishes its handshake

#include <array>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

namespace {

using evolink::testing::fake_server;
using ct = asio::cancellation_type;
namespace fs = std::filesystem;

const std::array<ct, 3> every_type = {ct::terminal, ct::partial, ct::total};

const char* type_name(ct t)
{
    return t == ct::terminal ? "terminal" : t == ct::partial ? "partial" : "total";
}

/// What an operation completed with.
struct seen {
    evolink::error_code ec;
    evolink::diagnostics diag;
    std::string id; ///< the task (or file) it returned, if any
};

/// What an operation under test gets: the client, the host it talks to,
/// a folder for downloads and the slot to cancel it through.
struct context {
    evolink::client& client;
    std::string base; ///< https://localhost:PORT
    fs::path dir;
    asio::cancellation_slot slot;
    auto token() { return asio::bind_cancellation_slot(slot, asio::as_tuple(asio::use_awaitable)); }
};

// The operations, as coroutines taking references only (g++ 12).
asio::awaitable<seen> op_submit(context& c)
{
    evolink::text_to_image req;
    req.prompt = "a lake";
    seen s;
    auto [ec, t] = co_await c.client.submit(req, evolink::with_diagnostics(s.diag, c.token()));
    s.ec = ec;
    s.id = t.id;
    co_return s;
}
asio::awaitable<seen> op_get(context& c)
{
    seen s;
    auto [ec, t] = co_await c.client.get_task("task-unified-1756817821-4x3rx6ny", evolink::with_diagnostics(s.diag, c.token()));
    s.ec = ec;
    s.id = t.id;
    co_return s;
}
asio::awaitable<seen> op_wait(context& c)
{
    seen s;
    auto opts = fast_wait();
    opts.poll->initial_delay = opts.poll->min_interval = opts.poll->max_interval = std::chrono::seconds(30); // sleeps after an error
    auto [ec, t] = co_await c.client.wait("task-unified-1756817821-4x3rx6ny", opts, evolink::with_diagnostics(s.diag, c.token()));
    s.ec = ec;
    s.id = t.id;
    co_return s;
}
asio::awaitable<seen> op_image(context& c)
{
    evolink::text_to_image req;
    req.prompt = "a lake";
    auto opts = fast_wait();
    seen s;
    auto [ec, t] = co_await c.client.image(req, opts, evolink::with_diagnostics(s.diag, c.token()));
    s.ec = ec;
    s.id = t.id;
    co_return s;
}
asio::awaitable<seen> op_video(context& c)
{
    evolink::text_to_video req;
    req.prompt = "a lake";
    auto opts = fast_wait();
    seen s;
    auto [ec, t] = co_await c.client.video(req, opts, evolink::with_diagnostics(s.diag, c.token()));
    s.ec = ec;
    s.id = t.id;
    co_return s;
}
asio::awaitable<seen> op_upload(context& c)
{
    auto png = make_png(400, 400);
    seen s;
    evolink::upload_options opts;
    auto [ec, f] = co_await c.client.upload_bytes(png, "image/png", opts, evolink::with_diagnostics(s.diag, c.token()));
    s.ec = ec;
    s.id = f.file_id;
    co_return s;
}
asio::awaitable<seen> op_download(context& c)
{
    auto url = c.base + "/results/task-unified-1756817821-4x3rx6ny/0.mp4";
    auto path = c.dir / "out.mp4";
    evolink::download_options opts;
    seen s;
    auto [ec, r] = co_await c.client.download(url, path, opts, evolink::with_diagnostics(s.diag, c.token()));
    s.ec = ec;
    s.id = r.path.string();
    co_return s;
}
asio::awaitable<seen> op_download_results(context& c)
{
    evolink::task t;
    t.id = "task-unified-1756817821-4x3rx6ny";
    t.status = evolink::task_status::completed;
    t.results = {c.base + "/results/task-unified-1756817821-4x3rx6ny/0.mp4"};
    auto dir = c.dir / "all";
    evolink::download_options opts;
    seen s;
    auto [ec, r] = co_await c.client.download_results(t, dir, opts, evolink::with_diagnostics(s.diag, c.token()));
    s.ec = ec;
    s.id = r.empty() ? std::string() : r[0].path.string();
    co_return s;
}

struct operation {
    const char* name;
    asio::awaitable<seen> (*run)(context&);
    bool creation;        ///< creates a task or a file
    std::string method;   ///< of its (first) request
    std::string path;     ///< prefix of its (first) request's target
};

const std::vector<operation>& operations()
{
    static const std::vector<operation> ops = {
        {"submit", &op_submit, true, "POST", "/v1/images/generations"},
        {"get_task", &op_get, false, "GET", "/v1/tasks/"},
        {"wait", &op_wait, false, "GET", "/v1/tasks/"},
        {"image", &op_image, true, "POST", "/v1/images/generations"},
        {"video", &op_video, true, "POST", "/v1/videos/generations"},
        {"upload", &op_upload, true, "POST", "/api/v1/files/upload"},
        {"download", &op_download, false, "GET", "/results/"},
        {"download_results", &op_download_results, false, "GET", "/results/"},
    };
    return ops;
}

/// Runs `op` and emits `type` on its slot once `ready()` (polled every
/// millisecond on the test's executor, which is the handler's).
asio::awaitable<seen> run_cancelled(context& c, const operation& op, ct type, std::function<bool()> ready)
{
    struct trigger {
        asio::cancellation_signal signal;
        bool done = false;
        std::function<bool()> ready;
    };
    auto tr = std::make_shared<trigger>();
    tr->ready = std::move(ready);
    c.slot = tr->signal.slot();
    auto ex = co_await asio::this_coro::executor;
    asio::co_spawn(ex, [tr, type]() -> asio::awaitable<void> {
        // (co_spawn may start this inline: the operation starts first.)
        asio::steady_timer t(co_await asio::this_coro::executor);
        do {
            t.expires_after(std::chrono::milliseconds(1));
            co_await t.async_wait(asio::use_awaitable);
        } while (!tr->done && !tr->ready());
        if (!tr->done) tr->signal.emit(type);
    }, asio::detached);
    auto r = co_await op.run(c);
    tr->done = true;
    co_return r;
}

/// A TCP listener on 127.0.0.1 that accepts connections and reads their
/// first bytes (a TLS ClientHello) but never answers.
struct silent_server {
    explicit silent_server(asio::io_context& io) : acceptor(io, {asio::ip::make_address("127.0.0.1"), 0})
    {
        asio::co_spawn(io, serve(), asio::detached);
    }
    asio::awaitable<void> serve()
    {
        auto [ec, s] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        peer.emplace(std::move(s));
        char buf[64];
        auto [rec, n] = co_await peer->async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
        got_bytes = !rec && n > 0;
    }
    void stop()
    {
        boost::system::error_code ignored;
        acceptor.close(ignored);
        if (peer) peer->close(ignored);
    }
    asio::ip::tcp::acceptor acceptor;
    std::optional<asio::ip::tcp::socket> peer;
    bool got_bytes = false;
};

/// A listener whose accept queue is full (backlog 0, never accepting, filled
/// by two connects of its own): Linux drops further SYNs, so a connect to it
/// hangs.
struct full_listener {
    explicit full_listener(asio::io_context& io) : acceptor(io)
    {
        acceptor.open(asio::ip::tcp::v4());
        acceptor.bind({asio::ip::make_address("127.0.0.1"), 0});
        acceptor.listen(0);
        for (auto& f : fillers) {
            f.emplace(io);
            f->async_connect(acceptor.local_endpoint(), [](boost::system::error_code) {});
        }
    }
    void stop()
    {
        boost::system::error_code ignored;
        for (auto& f : fillers) f->close(ignored);
        acceptor.close(ignored);
    }
    asio::ip::tcp::acceptor acceptor;
    std::array<std::optional<asio::ip::tcp::socket>, 3> fillers;
};

/// A TLS server that completes the handshake, reads the first kilobyte of
/// the request and then reads no more: a large upload stalls mid-write.
struct stalling_server {
    stalling_server(asio::io_context& io, const evolink::testing::test_certificates& certs)
        : ctx(asio::ssl::context::tls_server), acceptor(io, {asio::ip::make_address("127.0.0.1"), 0})
    {
        ctx.use_certificate_chain(asio::buffer(certs.cert_pem));
        ctx.use_private_key(asio::buffer(certs.key_pem), asio::ssl::context::pem);
        asio::co_spawn(io, serve(), asio::detached);
    }
    asio::awaitable<void> serve()
    {
        auto [ec, s] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        peer.emplace(std::move(s), ctx);
        auto [hec] = co_await peer->async_handshake(asio::ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
        if (hec) co_return;
        char buf[1024];
        auto [rec, n] = co_await asio::async_read(*peer, asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
        got_bytes = !rec && n == sizeof buf;
    }
    void stop()
    {
        boost::system::error_code ignored;
        acceptor.close(ignored);
        if (peer) peer->lowest_layer().close(ignored);
    }
    asio::ssl::context ctx;
    asio::ip::tcp::acceptor acceptor;
    std::optional<asio::ssl::stream<asio::ip::tcp::socket>> peer;
    bool got_bytes = false;
};

evolink::client_options localhost_options(evolink::client_options o, unsigned short port)
{
    o.base_url = o.files_base_url = "https://localhost:" + std::to_string(port);
    return o;
}

} // namespace

TEST_CASE("a cancel before anything is written ends every operation at once, whatever its type")
{
    env_guard env;
    enum class phase { resolve, connect, handshake };
    const char* const names[] = {"resolving the host", "connecting", "the TLS handshake"};
    for (auto ph : {phase::resolve, phase::connect, phase::handshake})
        for (auto& op : operations())
            for (auto type : every_type) {
                INFO(op.name << ", " << names[static_cast<int>(ph)] << ", " << type_name(type));
                std::optional<evolink::testing::resolve_delay_guard> hang;
                if (ph == phase::resolve) hang.emplace(std::chrono::hours(1));
                asio::io_context io;
                fake_server server(io.get_executor());
                silent_server silent(io);
                full_listener full(io);
                auto port = ph == phase::resolve  ? server.port()
                            : ph == phase::connect ? full.acceptor.local_endpoint().port()
                                                   : silent.acceptor.local_endpoint().port();
                auto o = localhost_options(server.client_options(), port);
                // "At once": were a cancellation left for the deadline to
                // notice, the test would hang here instead of passing late.
                o.connect_timeout = o.handshake_timeout = std::chrono::hours(1);
                bool connecting = false; // logged just before the TCP connect starts
                o.logger.min_level = evolink::log_level::debug;
                o.logger.sink = [&](evolink::log_level, std::string_view m) {
                    connecting |= m.find("; connecting to") != std::string_view::npos;
                };
                evolink::client client(io.get_executor(), o);
                temp_dir dir;
                context c{client, "https://localhost:" + std::to_string(port), dir.path, {}};
                run_test(io, server, [&]() -> asio::awaitable<void> {
                    auto ready = [&] {
                        return ph == phase::resolve || (ph == phase::connect && connecting) || silent.got_bytes;
                    };
                    auto s = co_await run_cancelled(c, op, type, ready);
                    silent.stop();
                    full.stop();
                    INFO(s.diag.message);
                    CHECK(s.ec == asio::error::operation_aborted);
                    // (wait says so in its own words; the others name the phase.)
                    auto said = std::string(op.name) == "wait"
                                    ? std::string("stopped waiting (cancelled)")
                                    : "cancelled while " + std::string(names[static_cast<int>(ph)]);
                    CHECK(contains(s.diag.message, said));
                    CHECK(server.requests().empty());
                    CHECK(dir.files() == 0);
                });
            }
}

TEST_CASE("connect_timeout covers resolving the host name")
{
    evolink::testing::resolve_delay_guard hang(std::chrono::hours(1));
    fixture fx([](evolink::client_options o, const fake_server& server) {
        o = localhost_options(o, server.port());
        o.connect_timeout = std::chrono::milliseconds(100);
        return no_retry(o);
    });
    fx.run([&]() -> asio::awaitable<void> {
        evolink::diagnostics d;
        auto [ec, t] = co_await fx.client.get_task("task-unified-1756817821-4x3rx6ny", evolink::with_diagnostics(d, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == evolink::errc::timeout);
        CHECK(d.message == "connecting to https://localhost:" + std::to_string(fx.server.port()) +
                               ": timed out after 100 ms while resolving the host");
        CHECK(fx.server.requests().empty());
    });
}

TEST_CASE("waiting for a pooled connection is bounded by request_timeout and ends on every cancellation type")
{
    for (int round = 0; round < 4; ++round) {
        // round 0: the bound; rounds 1-3: each cancellation type.
        INFO("round " << round);
        evolink::testing::resolve_delay_guard hang(std::chrono::hours(1));
        fixture fx([round](evolink::client_options o, const fake_server& server) {
            o = localhost_options(o, server.port());
            o.max_connections_per_host = 1;
            o.connect_timeout = std::chrono::seconds(50); // the first connect outlives the second's wait
            if (round == 0) o.request_timeout = std::chrono::milliseconds(100);
            return no_retry(o);
        });
        temp_dir dir;
        fx.run([&]() -> asio::awaitable<void> {
            // The first read holds the only slot, resolving for ever.
            asio::cancellation_signal first;
            bool first_done = false;
            fx.client.get_task("task-unified-1756817821-4x3rx6ny",
                            asio::bind_cancellation_slot(first.slot(), [&](evolink::error_code ec, evolink::task) {
                                CHECK(ec == asio::error::operation_aborted);
                                first_done = true;
                            }));
            context c{fx.client, "https://localhost:" + std::to_string(fx.server.port()), dir.path, {}};
            seen s;
            if (round == 0) {
                auto [ec, t] = co_await fx.client.get_task("task-unified-1756817821-4x3rx6ny", evolink::with_diagnostics(s.diag, asio::as_tuple(asio::use_awaitable)));
                s.ec = ec;
                CHECK(s.ec == evolink::errc::timeout);
                CHECK(s.diag.message == "timed out after 100 ms waiting for a free connection to " + c.base +
                                            " (1 in use; client_options::max_connections_per_host)");
            } else {
                auto type = every_type[static_cast<std::size_t>(round - 1)];
                s = co_await run_cancelled(c, operations()[1], type, [] { return true; });
                CHECK(s.ec == asio::error::operation_aborted);
                CHECK(contains(s.diag.message, "cancelled while waiting for a free connection to " + c.base));
            }
            first.emit(ct::terminal);
            asio::steady_timer t(fx.io);
            while (!first_done) {
                t.expires_after(std::chrono::milliseconds(1));
                co_await t.async_wait(asio::use_awaitable);
            }
            CHECK(fx.server.requests().empty());
        });
    }
}

TEST_CASE("a cancel while the answer is awaited: reads stop at once, creations by the type's meaning")
{
    for (auto& op : operations())
        for (auto type : every_type) {
            INFO(op.name << ", waiting for the answer, " << type_name(type));
            fixture fx([](evolink::client_options o, const fake_server& server) {
                return no_retry(localhost_options(o, server.port()));
            });
            // The answer comes late; a creation is done by then (process).
            evolink::testing::canned_response slow;
            slow.method = op.method;
            slow.path_prefix = op.path;
            slow.status = 0;
            slow.process = true;
            // (partial and total wait for a creation's answer: late enough that
            // the cancel, emitted within a millisecond of the request's
            // arrival, comes first, even under sanitizers; not later)
            slow.delay = op.creation ? std::chrono::milliseconds(1000) : std::chrono::milliseconds(30'000);
            fx.server.inject(slow);
            temp_dir dir;
            context c{fx.client, "https://localhost:" + std::to_string(fx.server.port()), dir.path, {}};
            fx.run([&]() -> asio::awaitable<void> {
                auto arrived = [&] { return fx.server.count(op.method, op.path) > 0; };
                auto s = co_await run_cancelled(c, op, type, arrived);
                INFO(s.diag.message);
                auto created = fx.server.tasks_created() + fx.server.files().size();
                CHECK(fx.server.count(op.method, op.path) == 1);
                CHECK(dir.files() == 0);
                if (!op.creation) {
                    CHECK(s.ec == asio::error::operation_aborted);
                    CHECK(created == 0);
                    co_return;
                }
                CHECK(created == 1);
                if (type == ct::terminal) {
                    // Stopped at once: the creation's outcome is unknown.
                    CHECK(s.ec == evolink::errc::outcome_unknown);
                    CHECK(contains(s.diag.message, "may or may not"));
                } else if (type == ct::partial) {
                    // Stopped after the answer: what was created is named.
                    CHECK(s.ec == asio::error::operation_aborted);
                    CHECK((contains(s.diag.message, "cancelled after the request was written") ||
                           contains(s.diag.message, "cancelled after the upload was written")));
                    auto named = op.path.starts_with("/api/") ? fx.server.files().begin()->first : s.diag.task_id;
                    CHECK(!named.empty());
                    CHECK(contains(s.diag.message, named));
                } else {
                    // Total cannot be honoured once written: the operation completes.
                    CHECK(!s.ec);
                    CHECK(!s.id.empty());
                }
            });
        }
}

TEST_CASE("a cancel while sleeping before a retry or the next read ends every operation at once")
{
    for (auto& op : operations())
        for (auto type : every_type) {
            INFO(op.name << ", sleeping, " << type_name(type));
            bool warned = false;
            fixture fx([&warned](evolink::client_options o, const fake_server& server) {
                o = localhost_options(o, server.port());
                o.retry.initial_backoff = o.retry.max_backoff = std::chrono::seconds(30);
                o.logger.sink = [&warned](evolink::log_level l, std::string_view) {
                    warned |= l == evolink::log_level::warning;
                };
                return o;
            });
            // A refusal that is retried (or, for wait, polled again) after a long pause.
            evolink::testing::canned_response busy;
            busy.method = op.method;
            busy.path_prefix = op.path;
            busy.status = 429;
            busy.body = R"({"error":{"code":"rate_limit_exceeded","message":"slow down"}})";
            busy.times = 10;
            fx.server.inject(busy);
            temp_dir dir;
            context c{fx.client, "https://localhost:" + std::to_string(fx.server.port()), dir.path, {}};
            fx.run([&]() -> asio::awaitable<void> {
                // The warning is logged just before the sleep, on the client's strand.
                auto s = co_await run_cancelled(c, op, type, [&] { return warned; });
                INFO(s.diag.message);
                CHECK(s.ec == asio::error::operation_aborted);
                CHECK(fx.server.count(op.method, op.path) == 1);
                CHECK(fx.server.tasks_created() + fx.server.files().size() == 0);
                CHECK(dir.files() == 0);
            });
        }
}

TEST_CASE("a cancel while an upload is being written: terminal stops it, partial and total let it finish")
{
    env_guard env;
    for (auto type : every_type) {
        INFO(type_name(type));
        asio::io_context io;
        evolink::testing::fake_server_options fo;
        fo.certificates = evolink::testing::test_certificates::generate();
        fake_server server(io.get_executor(), fo);
        stalling_server stall(io, *fo.certificates);
        auto o = no_retry(localhost_options(server.client_options(), stall.acceptor.local_endpoint().port()));
        // What ends a write that never finishes; long enough for the cancel to land first on a busy machine.
        o.request_timeout = std::chrono::milliseconds(2000);
        evolink::client client(io.get_executor(), o);
        temp_dir dir;
        auto big = dir.path / "big.png";
        {
            std::ofstream f(big, std::ios::binary);
            auto png = make_png(400, 400);
            f << png << std::string(48 * 1024 * 1024, 'x'); // far more than the socket buffers hold
        }
        run_test(io, server, [&]() -> asio::awaitable<void> {
            asio::cancellation_signal signal;
            bool done = false;
            evolink::diagnostics d;
            evolink::error_code ec;
            evolink::upload_options uo;
            client.upload_file(big, uo, evolink::with_diagnostics(d, asio::bind_cancellation_slot(signal.slot(), [&](evolink::error_code e, evolink::file_info) {
                                   ec = e;
                                   done = true;
                               })));
            asio::steady_timer t(io);
            while (!stall.got_bytes) { // the server has the first kilobyte: the write is under way
                t.expires_after(std::chrono::milliseconds(1));
                co_await t.async_wait(asio::use_awaitable);
            }
            signal.emit(type);
            while (!done) {
                t.expires_after(std::chrono::milliseconds(1));
                co_await t.async_wait(asio::use_awaitable);
            }
            stall.stop();
            INFO(d.message);
            if (type == ct::terminal) {
                CHECK(ec == evolink::errc::outcome_unknown);
                CHECK(contains(d.message, "cancelled while writing the request"));
                CHECK(contains(d.message, "may or may not be stored"));
            } else {
                // Not interrupted: the write went on until request_timeout.
                CHECK(ec == evolink::errc::timeout);
                CHECK(contains(d.message, "timed out after 2 s while writing the request"));
            }
            CHECK(server.requests().empty());
        });
    }
}
