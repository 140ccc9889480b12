// redis_connection against a real redis-server on loopback: commands on the
// io_context, error replies, no connection, Redis killed and restarted,
// AUTH with a password and with an ACL user.
#include <evolink/redis.hpp>

#include "../support/fixture.hpp"
#include "redis_server.hpp"

#include <boost/asio.hpp>
#include <catch2/catch.hpp>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using evolink::redis_errc;
using evolink::redis_reply;

constexpr auto tuple_token = asio::as_tuple(asio::use_awaitable);

TEST_CASE("redis_connection: commands round-trip on the io_context; an error reply is error_reply")
{
    test_redis::server redis;
    asio::io_context io;
    evolink::redis_connection conn(io.get_executor(), test_redis::options_at(redis.port()));
    run_test(io, [&]() -> asio::awaitable<void> {
        REQUIRE(co_await within([&] { return conn.ready(); }));
        std::string binary("a\0b\r\nc", 6); // bulk strings: nothing is formatted
        std::vector<std::string> cmd1{"SET", "k", binary};
        auto [ec1, set] = co_await conn.command(std::move(cmd1), tuple_token);
        CHECK_FALSE(ec1);
        CHECK(set.type == redis_reply::kind::status);
        CHECK(set.str == "OK");
        std::vector<std::string> cmd2{"GET", "k"};
        auto [ec2, got] = co_await conn.command(std::move(cmd2), tuple_token);
        CHECK_FALSE(ec2);
        CHECK(got.type == redis_reply::kind::string);
        CHECK(got.str == binary);
        std::vector<std::string> cmd3{"INCR", "k"};
        auto [ec3, bad] = co_await conn.command(std::move(cmd3), tuple_token);
        CHECK(ec3 == redis_errc::error_reply);
        CHECK(bad.type == redis_reply::kind::error);
        CHECK(bad.str.find("not an integer") != std::string::npos);
        std::vector<std::string> cmd4{"RPUSH", "l", "x", "y"};
        auto [ec4, arr] = co_await conn.command(std::move(cmd4), tuple_token);
        CHECK(arr.integer == 2);
        std::vector<std::string> cmd5{"LRANGE", "l", "0", "-1"};
        auto [ec5, list] = co_await conn.command(std::move(cmd5), tuple_token);
        REQUIRE(list.elements.size() == 2);
        CHECK(list.elements[1].str == "y");
        CHECK(conn.connects() == 1);
        conn.stop(); // the io_context runs dry once the connection is closed
    });
    CHECK(redis.run({"GET", "k"}) == std::string("a\0b\r\nc", 6)); // outside the coroutine
}

TEST_CASE("redis_connection: with no Redis, commands fail at once with unreachable; it connects when Redis comes")
{
    auto port = test_redis::free_port();
    asio::io_context io;
    evolink::redis_connection conn(io.get_executor(), test_redis::options_at(port));
    std::unique_ptr<test_redis::server> redis;
    run_test(io, [&]() -> asio::awaitable<void> {
        auto t0 = std::chrono::steady_clock::now();
        std::vector<std::string> cmd6{"PING"};
        auto [ec, r] = co_await conn.command(std::move(cmd6), tuple_token);
        CHECK(ec == redis_errc::unreachable);
        CHECK(std::chrono::steady_clock::now() - t0 < 500ms); // failed at once, not queued
        CHECK_FALSE(co_await within([&] { return conn.ready(); }, 300ms)); // retries, in vain
        CHECK(conn.connects() == 0);
        redis = std::make_unique<test_redis::server>(port); // on that port now
        REQUIRE(co_await within([&] { return conn.ready(); }));
        std::vector<std::string> cmd7{"PING"};
        auto [ec2, r2] = co_await conn.command(std::move(cmd7), tuple_token);
        CHECK_FALSE(ec2);
        CHECK(conn.connects() == 1);
        conn.stop();
    });
}

TEST_CASE("redis_connection: Redis killed mid-command and restarted; the command is connection_lost, then it reconnects")
{
    test_redis::server redis;
    asio::io_context io;
    evolink::redis_connection conn(io.get_executor(), test_redis::options_at(redis.port()));
    int readies = 0;
    conn.on_ready([&] { ++readies; });
    run_test(io, [&]() -> asio::awaitable<void> {
        REQUIRE(co_await within([&] { return conn.ready(); }));
        // A command that waits on the server, in flight when Redis dies.
        auto ex = co_await asio::this_coro::executor;
        std::optional<evolink::error_code> lost;
        std::vector<std::string> blpop{"BLPOP", "nothing", "10"};
        conn.command(std::move(blpop), asio::bind_executor(ex, [&](evolink::error_code ec, redis_reply) { lost = ec; }));
        asio::steady_timer t(ex, 100ms);
        co_await t.async_wait(tuple_token);
        redis.kill();
        REQUIRE(co_await within([&] { return lost.has_value(); }));
        CHECK(*lost == redis_errc::connection_lost);
        REQUIRE(co_await within([&] { return !conn.ready(); }));
        std::vector<std::string> cmd8{"PING"};
        auto [ec1, r1] = co_await conn.command(std::move(cmd8), tuple_token);
        CHECK(ec1 == redis_errc::unreachable);

        redis.start(); // same port, empty
        REQUIRE(co_await within([&] { return conn.ready(); }));
        std::vector<std::string> cmd9{"PING"};
        auto [ec2, r2] = co_await conn.command(std::move(cmd9), tuple_token);
        CHECK_FALSE(ec2);
        CHECK(r2.str == "PONG");
        CHECK(conn.connects() == 2);
        CHECK(readies == 2); // on_ready: once per connection
        conn.stop();
    });
}

TEST_CASE("redis_connection: AUTH with a password, with an ACL user, and refused; the password is never logged")
{
    test_redis::server redis({"--requirepass", "pw-Secret-1", "--user", "alice", "on", ">alice-Secret-2", "~app:*", "+@all"});
    asio::io_context io;
    log_capture logs;

    auto plain = test_redis::options_at(redis.port());
    plain.password = "pw-Secret-1";
    plain.logger = logs.logger();
    auto acl = test_redis::options_at(redis.port());
    acl.user = "alice";
    acl.password = "alice-Secret-2";
    acl.logger = logs.logger();
    auto wrong = test_redis::options_at(redis.port());
    wrong.password = "wrong-Secret-3";
    wrong.logger = logs.logger();

    evolink::redis_connection a(io.get_executor(), plain);
    evolink::redis_connection b(io.get_executor(), acl);
    evolink::redis_connection c(io.get_executor(), wrong);
    run_test(io, [&]() -> asio::awaitable<void> {
        REQUIRE(co_await within([&] { return a.ready() && b.ready(); }));
        std::vector<std::string> cmd10{"SET", "x", "1"};
        auto [ec1, r1] = co_await a.command(std::move(cmd10), tuple_token);
        CHECK_FALSE(ec1);
        std::vector<std::string> cmd11{"SET", "app:y", "1"};
        auto [ec2, r2] = co_await b.command(std::move(cmd11), tuple_token);
        CHECK_FALSE(ec2);
        std::vector<std::string> cmd12{"SET", "other", "1"};
        auto [ec3, r3] = co_await b.command(std::move(cmd12), tuple_token); // outside alice's keys
        CHECK(ec3 == redis_errc::error_reply);
        std::vector<std::string> cmd13{"ACL", "WHOAMI"};
        auto [ec4, r4] = co_await b.command(std::move(cmd13), tuple_token);
        CHECK(r4.str == "alice");
        REQUIRE(co_await within([&] { return c.auth_failures() >= 2; })); // refused, and tried again later
        CHECK_FALSE(c.ready());
        std::vector<std::string> cmd14{"PING"};
        auto [ec5, r5] = co_await c.command(std::move(cmd14), tuple_token);
        CHECK(ec5 == redis_errc::unreachable);
        a.stop();
        b.stop();
        c.stop();
    });
    CHECK(logs.text().find("refused AUTH") != std::string::npos);
    CHECK(logs.text().find("Secret") == std::string::npos);
}

TEST_CASE("redis_connection: subscribe receives messages, subscribes again after Redis restarted, and runs nothing else")
{
    test_redis::server redis;
    asio::io_context io;
    evolink::redis_connection sub(io.get_executor(), test_redis::options_at(redis.port()));
    std::vector<std::string> got;
    sub.subscribe("chan", [&](std::string m) { got.push_back(std::move(m)); });
    run_test(io, [&]() -> asio::awaitable<void> {
        REQUIRE(co_await within([&] { return sub.subscribed() == 1; }));
        redis.run({"PUBLISH", "chan", "one"});
        redis.run({"PUBLISH", "other", "not for us"});
        REQUIRE(co_await within([&] { return got.size() == 1; }));
        std::vector<std::string> cmd1{"PING"};
        auto [ec1, r1] = co_await sub.command(std::move(cmd1), tuple_token);
        CHECK(ec1 == asio::error::operation_not_supported);

        redis.kill();
        REQUIRE(co_await within([&] { return sub.subscribed() == 0; }));
        redis.start();
        REQUIRE(co_await within([&] { return sub.subscribed() == 1; }));
        redis.run({"PUBLISH", "chan", "two"});
        REQUIRE(co_await within([&] { return got.size() == 2; }));
        CHECK(got == std::vector<std::string>{"one", "two"});
        CHECK(sub.connects() == 2);
        sub.stop();
    });
}

TEST_CASE("redis_connection: a Redis that stops answering (SIGSTOP) is dropped after command_timeout, then reached again")
{
    test_redis::server redis;
    asio::io_context io;
    auto o = test_redis::options_at(redis.port());
    o.command_timeout = 300ms;
    evolink::redis_connection conn(io.get_executor(), o);
    run_test(io, [&]() -> asio::awaitable<void> {
        REQUIRE(co_await within([&] { return conn.ready(); }));
        redis.pause();
        auto t0 = std::chrono::steady_clock::now();
        std::vector<std::string> cmd1{"PING"};
        auto [ec1, r1] = co_await conn.command(std::move(cmd1), tuple_token);
        auto waited = std::chrono::steady_clock::now() - t0;
        CHECK(ec1 == redis_errc::connection_lost);
        CHECK(waited >= 300ms);
        CHECK(waited < 1500ms);
        CHECK_FALSE(co_await within([&] { return conn.ready(); }, 500ms)); // connects, but no answer: not ready
        CHECK(conn.connects() == 1);
        redis.resume();
        REQUIRE(co_await within([&] { return conn.ready(); }));
        CHECK(conn.connects() == 2);
        std::vector<std::string> cmd2{"PING"};
        auto [ec2, r2] = co_await conn.command(std::move(cmd2), tuple_token);
        CHECK_FALSE(ec2);
        CHECK(r2.str == "PONG");
        conn.stop();
    });
}
