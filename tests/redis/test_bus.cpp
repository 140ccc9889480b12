// redis_callback_bus against a real redis-server: a callback that reaches
// instance B ends the wait on instance A; one that came before the wait is
// found under its key; one delivered to two instances is handed on once;
// with Redis down, the wait ends by polling. Two "instances" here are two
// receivers (sharing the fleet's secret, as behind a load balancer) and two
// buses in one process: everything between them goes through Redis.
#include "../support/fixture.hpp"

#include <evolink/redis.hpp>

#include "redis_server.hpp"

namespace {

const char* const secret = "fleet-secret-0123456789";

evolink::callback_receiver_options receiver_options()
{
    evolink::callback_receiver_options o;
    o.secret = secret;
    return o;
}

evolink::redis_options redis_at(unsigned short port)
{
    auto o = test_redis::options_at(port);
    o.key_prefix = "bus:";
    return o;
}

std::string task_body(const std::string& id, const char* status)
{
    return std::string("{\"id\":\"") + id + "\",\"object\":\"image.generation.task\",\"status\":\"" + status +
           "\",\"progress\":100,\"model\":\"wan2.5-text-to-image\",\"type\":\"image\",\"results\":[]}";
}

} // namespace

TEST_CASE("redis_callback_bus: a callback that reaches instance B ends the wait on instance A")
{
    test_redis::server redis;
    fixture fx;
    evolink::callback_receiver a(fx.io.get_executor(), receiver_options());
    evolink::callback_receiver b(fx.io.get_executor(), receiver_options());
    evolink::redis_callback_bus bus_a(fx.io.get_executor(), a, redis_at(redis.port()));
    evolink::redis_callback_bus bus_b(fx.io.get_executor(), b, redis_at(redis.port()));
    fx.server.push_script({.progress = {50}, .step_interval = 200ms}); // done 400 ms after creation
    fx.run([&]() -> asio::awaitable<void> {
        bool up = co_await within([&] { return bus_a.ready() && bus_b.ready(); }, 5000ms);
        REQUIRE(up);
        auto req = image_request("a lighthouse");
        req.callback_url = b.callback_url(); // the load balancer sent it to B
        evolink::wait_options wo;
        wo.callbacks = &a;                   // the wait runs on A
        wo.poll = poll_every(10s);           // polling alone would take 10 s
        wo.callback_poll_factor = 1;
        auto start = std::chrono::steady_clock::now();
        auto t = co_await fx.client.image(req, wo);
        auto took = std::chrono::steady_clock::now() - start;
        CHECK(t.status == evolink::task_status::completed);
        CHECK(took < 3s);
        CHECK(b.accepted() == 1);
        CHECK(a.accepted() == 0); // nothing reached A over HTTP
        bool counted = co_await within([&] { return bus_b.published() == 1; }, 1000ms); // PUBLISH's own reply may come after A heard it
        CHECK(counted);
        CHECK(bus_a.received() == 1);
        CHECK(fx.server.count("GET", "/v1/tasks/") == 1); // the callback was confirmed, as on one instance
        bus_a.stop();
        bus_b.stop();
        a.stop();
        b.stop();
    });
}

TEST_CASE("redis_callback_bus: a callback published before the wait began is found under its key")
{
    test_redis::server redis;
    asio::io_context io;
    evolink::callback_receiver b(io.get_executor(), receiver_options());
    evolink::redis_callback_bus bus_b(io.get_executor(), b, redis_at(redis.port()));
    std::unique_ptr<evolink::callback_receiver> a;
    std::unique_ptr<evolink::redis_callback_bus> bus_a;
    std::optional<evolink::task> got;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        bool up = co_await within([&] { return bus_b.ready(); }, 5000ms);
        REQUIRE(up);
        auto r = b.handle("POST", "/evolink/callback/" + std::string(secret), task_body("task-early-1", "completed"));
        CHECK(r.status == 200);
        bool sent = co_await within([&] { return bus_b.published() == 1; }, 2000ms);
        REQUIRE(sent);
        // Instance A starts only now: it was not subscribed when B published.
        a = std::make_unique<evolink::callback_receiver>(io.get_executor(), receiver_options());
        bus_a = std::make_unique<evolink::redis_callback_bus>(io.get_executor(), *a, redis_at(redis.port()));
        bool a_up = co_await within([&] { return bus_a->ready(); }, 5000ms);
        REQUIRE(a_up);
        a->wait("task-early-1", [&](evolink::error_code ec, evolink::task t) {
            if (!ec) got = std::move(t);
        });
        bool found = co_await within([&] { return got.has_value(); }, 2000ms);
        CHECK(found);
        CHECK(bus_a->received() == 1);
        CHECK(redis.run({"PTTL", "bus:cb:default:early:task-early-1"}) != "-2"); // kept, with its TTL
        bus_a->stop();
        bus_b.stop();
        a->stop();
        b.stop();
    }, asio::detached);
    io.run_for(30s);
    REQUIRE(got);
    CHECK(got->status == evolink::task_status::completed);
    CHECK(io.stopped());
}

TEST_CASE("redis_callback_bus: the same callback delivered to two instances is handed to the wait once")
{
    test_redis::server redis;
    asio::io_context io;
    evolink::callback_receiver a(io.get_executor(), receiver_options());
    evolink::callback_receiver b(io.get_executor(), receiver_options());
    evolink::redis_callback_bus bus_a(io.get_executor(), a, redis_at(redis.port()));
    evolink::redis_callback_bus bus_b(io.get_executor(), b, redis_at(redis.port()));
    int handed = 0;
    bool done = false;
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
        bool up = co_await within([&] { return bus_a.ready() && bus_b.ready(); }, 5000ms);
        REQUIRE(up);
        // Two waits on A for the task (receiver.wait hands a callback to every wait registered).
        a.wait("task-twice", [&](evolink::error_code ec, evolink::task) { handed += !ec; });
        auto body = task_body("task-twice", "completed");
        auto target = "/evolink/callback/" + std::string(secret);
        CHECK(a.handle("POST", target, body).status == 200); // EvoLink's first attempt reached A...
        CHECK(b.handle("POST", target, body).status == 200); // ...its retry reached B
        // B sees the callback twice (over HTTP, and A's copy through Redis, in
        // either order) and hands it on once; A's copy from B, if B's came
        // first, is a duplicate too.
        bool seen = co_await within([&] { return b.duplicates() == 1; }, 2000ms);
        CHECK(seen);
        // A later wait on A: nothing kept for it locally; the early key in
        // Redis brings the callback back, and A knows it already.
        a.wait("task-twice", [&](evolink::error_code ec, evolink::task) { handed += !ec; });
        asio::steady_timer settle(io, 200ms);
        co_await settle.async_wait(asio::use_awaitable);
        CHECK(handed == 1);
        CHECK(a.duplicates() >= 1);
        bus_a.stop();
        bus_b.stop();
        a.stop(); // ends the second wait with operation_aborted
        b.stop();
        done = true;
    }, asio::detached);
    io.run_for(30s);
    CHECK(done);
    CHECK(handed == 1);
}

TEST_CASE("redis_callback_bus: with Redis down, the wait on A still ends, by polling")
{
    auto port = test_redis::free_port(); // nothing listens there
    fixture fx;
    evolink::callback_receiver a(fx.io.get_executor(), receiver_options());
    evolink::callback_receiver b(fx.io.get_executor(), receiver_options());
    evolink::redis_callback_bus bus_a(fx.io.get_executor(), a, redis_at(port));
    evolink::redis_callback_bus bus_b(fx.io.get_executor(), b, redis_at(port));
    fx.server.push_script({.progress = {50}, .step_interval = 100ms});
    fx.run([&]() -> asio::awaitable<void> {
        auto req = image_request("a lighthouse");
        req.callback_url = b.callback_url();
        evolink::wait_options wo;
        wo.callbacks = &a;
        wo.poll = poll_every(300ms);
        wo.callback_poll_factor = 1;
        auto t = co_await fx.client.image(req, wo);
        CHECK(t.status == evolink::task_status::completed);
        bool cb = co_await within([&] { return b.accepted() == 1; }, 2000ms);
        CHECK(cb);                        // B had it...
        CHECK(bus_b.published() == 0);    // ...and could not share it
        CHECK(bus_a.received() == 0);
        CHECK_FALSE(bus_a.ready());
        bus_a.stop();
        bus_b.stop();
        a.stop();
        b.stop();
    });
}
