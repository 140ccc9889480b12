// Shared helpers for the integration tests: one io_context per test, the
// fake server on loopback TLS, and a runner that fails the test when the
// coroutine does not finish or the io_context does not run dry.
#pragma once

#include <evolink.hpp>
#include <evolink/testing.hpp>

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct env_guard {
    // Tests control EVOLINK_API_KEY themselves.
    env_guard() { ::unsetenv("EVOLINK_API_KEY"); }
};

/// Runs `body` as a coroutine on `io`; then stops `server` so that nothing
/// is left pending, and requires that the io_context ran dry.
template <class Body>
void run_test(asio::io_context& io, evolink::testing::fake_server& server, Body body)
{
    bool done = false;
    std::exception_ptr failure;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        try {
            co_await body();
        } catch (...) {
            failure = std::current_exception();
        }
        server.stop();
        done = true;
    }, asio::detached);
    io.run_for(60s);
    REQUIRE(done);
    if (failure) std::rethrow_exception(failure);
    REQUIRE(io.stopped()); // ran dry: no timer, socket or handler left behind
}

/// Options that never retry: for tests of how one answer is reported.
inline evolink::client_options no_retry(evolink::client_options o)
{
    o.retry = evolink::retry_policy::none();
    return o;
}

inline bool contains(const std::string& haystack, const std::string& needle)
{
    return haystack.find(needle) != std::string::npos;
}
