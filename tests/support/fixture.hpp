// What the integration and embedding tests share: one io_context per test,
// the fake server on loopback TLS and a client of it (`fixture`), a runner
// that fails the test when the coroutine does not finish or the io_context
// does not run dry, and the small helpers every file wanted.
#pragma once

// The library first: evolink/detail/checks.hpp calls its own quoted(...)
// unqualified, and std::quoted (from <filesystem>, via files.hpp) would win
// that call through ADL if it were declared first.
#include <evolink.hpp>
#include <evolink/testing.hpp>

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

#include "files.hpp"
#include "png.hpp"

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using test_support::read_all;
using test_support::make_png;
using test_support::temp_dir;

struct env_guard {
    // Tests control EVOLINK_API_KEY themselves.
    env_guard() { ::unsetenv("EVOLINK_API_KEY"); }
};

/// Runs `body` as a coroutine on `io`, then `after()` (whether the body
/// threw or not); requires that it ended within 60 s and that the
/// io_context then ran dry.
template <class Body, class After>
void run_then(asio::io_context& io, Body body, After after)
{
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        try {
            co_await body();
        } catch (...) {
            failure = std::current_exception();
        }
        after();
        done = true;
    }, asio::detached);
    io.run_for(60s);
    REQUIRE(done);
    if (failure) std::rethrow_exception(failure);
    REQUIRE(io.stopped()); // ran dry: no timer, socket or handler left behind
}

/// The same, then stops `server` so that nothing is left pending.
template <class Body>
void run_test(asio::io_context& io, evolink::testing::fake_server& server, Body body)
{
    run_then(io, std::move(body), [&] { server.stop(); });
}

/// The same without a fake server.
template <class Body>
void run_test(asio::io_context& io, Body body)
{
    run_then(io, std::move(body), [] {});
}

/// Options that never retry: for tests of how one answer is reported.
inline evolink::client_options no_retry(evolink::client_options o)
{
    o.retry = evolink::retry_policy::none();
    return o;
}

/// One test's world: the fake server and a client of it, on one io_context.
/// A tweak changes the client's options: `client_options(client_options)`,
/// or `client_options(client_options, const fake_server&)` when it needs the
/// server (its port...). `run` is run_test on these.
struct fixture {
    using tweak = std::function<evolink::client_options(evolink::client_options)>;
    using server_tweak =
        std::function<evolink::client_options(evolink::client_options, const evolink::testing::fake_server&)>;

    env_guard env; // first: before anything reads the environment
    asio::io_context io;
    evolink::testing::fake_server server;
    evolink::client client;

    // (No delegating constructors: g++ 12 crashed on one here.)
    explicit fixture(evolink::testing::fake_server_options so = {}, const server_tweak& t = nullptr)
        : server(io.get_executor(), std::move(so)),
          client(io.get_executor(), t ? t(server.client_options(), server) : server.client_options())
    {
    }
    fixture(evolink::testing::fake_server_options so, const tweak& t)
        : server(io.get_executor(), std::move(so)), client(io.get_executor(), t(server.client_options()))
    {
    }
    explicit fixture(const tweak& t) : server(io.get_executor()), client(io.get_executor(), t(server.client_options()))
    {
    }
    explicit fixture(const server_tweak& t)
        : server(io.get_executor()), client(io.get_executor(), t(server.client_options(), server))
    {
    }

    template <class Body>
    void run(Body body)
    {
        run_test(io, server, std::move(body));
    }
};

/// Suspends until `done()` holds (run_test's limit ends a test that hangs).
template <class Pred>
asio::awaitable<void> until(Pred done)
{
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (!done()) {
        t.expires_after(2ms);
        co_await t.async_wait(asio::use_awaitable);
    }
}

/// Suspends until `done()` holds or `limit` has passed; returns done().
template <class Pred>
asio::awaitable<bool> within(Pred done, std::chrono::milliseconds limit = 5000ms)
{
    asio::steady_timer t(co_await asio::this_coro::executor);
    for (auto end = std::chrono::steady_clock::now() + limit; !done() && std::chrono::steady_clock::now() < end;) {
        t.expires_after(5ms);
        co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return done();
}

inline bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}

/// Polling at a fixed pace: no growth, no jitter, no estimate.
inline evolink::poll_policy poll_every(std::chrono::milliseconds d)
{
    return {d, d, d, 1.0, 0.0, false};
}
inline evolink::poll_policy fast_poll() { return poll_every(10ms); }
inline evolink::wait_options fast_wait()
{
    evolink::wait_options o;
    o.poll = fast_poll();
    return o;
}

inline evolink::text_to_image image_request(const char* prompt)
{
    evolink::text_to_image r;
    r.prompt = prompt;
    return r;
}

/// A task the fake completed (its result files served by the fake).
/// (The prompt is a pointer: no temporary string lives across a co_await.)
inline asio::awaitable<evolink::task> finished_image(evolink::client& client, const char* prompt)
{
    auto req = image_request(prompt);
    auto o = fast_wait();
    co_return co_await client.image(req, o);
}
inline asio::awaitable<evolink::task> finished_video(evolink::client& client, const char* prompt)
{
    evolink::text_to_video req;
    req.prompt = prompt;
    auto o = fast_wait();
    co_return co_await client.video(req, o);
}

/// The fake's real answer to the next GET of a result file, broken by `kind`.
inline evolink::testing::canned_response result_fault(evolink::testing::fault kind)
{
    evolink::testing::canned_response r;
    r.method = "GET";
    r.path_prefix = "/results/";
    r.status = 0; // the real answer...
    r.process = true;
    r.kind = kind; // ...broken
    return r;
}

/// The path (and query) of a URL.
inline std::string path_of(const std::string& url)
{
    return url.substr(url.find('/', url.find("//") + 2));
}

/// Every line a client logs at `min_level` and up. Copies share the lines,
/// so the logger may outlive the capture's scope.
struct log_capture {
    std::shared_ptr<std::vector<std::string>> lines = std::make_shared<std::vector<std::string>>();

    evolink::logger logger(evolink::log_level min_level = evolink::log_level::debug) const
    {
        evolink::logger l;
        l.min_level = min_level;
        l.sink = [lines = lines](evolink::log_level, std::string_view m) { lines->emplace_back(m); };
        return l;
    }
    bool any_contains(const std::string& s) const
    {
        for (auto& l : *lines)
            if (contains(l, s)) return true;
        return false;
    }
    /// Every line, each followed by '\n'.
    std::string text() const
    {
        std::string out;
        for (auto& l : *lines) out += l + "\n";
        return out;
    }
};
