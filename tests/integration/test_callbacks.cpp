// Callbacks: the receiver over real sockets (plain and TLS), the fake server
// delivering like EvoLink, and the race between a callback and polling.
#include "../support/fixture.hpp"

#include <boost/json.hpp>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <thread>

using evolink::task_status;
using evolink::testing::fake_server;
using evolink::testing::fake_server_options;
using evolink::testing::task_script;

namespace {

fake_server_options quick_callbacks()
{
    fake_server_options so;
    so.callback_retry_delays = {20ms, 40ms, 80ms};
    so.callback_timeout = 2s;
    return so;
}

task_script timed(std::chrono::milliseconds step = 20ms)
{
    task_script s;
    s.progress = {50};
    s.step_interval = step;
    return s;
}

evolink::poll_policy slow_poll() { return poll_every(5s); }
evolink::text_to_image lighthouse_req() { return image_request("a lighthouse"); }

/// Runs a shell command on another thread while the io_context keeps running.
asio::awaitable<int> run_command(std::string cmd)
{
    std::atomic<int> rc{-1};
    std::atomic<bool> done{false};
    std::thread th([&] {
        rc = std::system(cmd.c_str());
        done = true;
    });
    asio::steady_timer t(co_await asio::this_coro::executor);
    while (!done) {
        t.expires_after(5ms);
        co_await t.async_wait(asio::use_awaitable);
    }
    th.join();
    co_return rc.load();
}

} // namespace

TEST_CASE("a callback ends the wait long before polling would, confirmed by one GET")
{
    fixture fx(quick_callbacks());
    evolink::callback_receiver receiver(fx.io.get_executor());
    fx.run([&]() -> asio::awaitable<void> {
        fx.server.push_script(timed());
        evolink::wait_options o;
        o.poll = slow_poll(); // the first poll would come after 20 s (slowed 4x)
        o.callbacks = &receiver;
        auto start = std::chrono::steady_clock::now();
        auto t = co_await fx.client.image(lighthouse_req(), o);
        CHECK(std::chrono::steady_clock::now() - start < 3s);
        CHECK(t.status == task_status::completed);
        CHECK(t.results.at(0).starts_with(fx.server.base_url()));
        CHECK(receiver.accepted() == 1);
        CHECK(fx.server.callbacks_delivered() == 1);
        CHECK(fx.server.count("GET", "/v1/tasks/") == 1); // the confirmation
        auto create = fx.server.requests().at(0);
        CHECK(boost::json::parse(create.body).at("callback_url") == receiver.callback_url().c_str());
        receiver.stop();
    });
}

TEST_CASE("an HTTPS receiver with the caller's certificate")
{
    auto certs = evolink::testing::test_certificates::generate();
    auto so = quick_callbacks();
    so.callback_ca_pem = certs.ca_pem;
    fixture fx(so);
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    ctx->use_certificate_chain(asio::buffer(certs.cert_pem));
    ctx->use_private_key(asio::buffer(certs.key_pem), asio::ssl::context::pem);
    evolink::callback_receiver_options ro;
    ro.tls = ctx;
    evolink::callback_receiver receiver(fx.io.get_executor(), ro);
    REQUIRE(receiver.callback_url().starts_with("https://127.0.0.1:"));
    fx.run([&]() -> asio::awaitable<void> {
        fx.server.push_script(timed());
        evolink::wait_options o;
        o.poll = slow_poll();
        o.callbacks = &receiver;
        auto t = co_await fx.client.image(lighthouse_req(), o);
        CHECK(t.status == task_status::completed);
        CHECK(receiver.accepted() == 1);
        receiver.stop();
    });
}

TEST_CASE("duplicate deliveries are answered 2xx but delivered once")
{
    fixture fx(quick_callbacks());
    evolink::callback_receiver receiver(fx.io.get_executor());
    fx.run([&]() -> asio::awaitable<void> {
        auto s = timed();
        s.callback_duplicates = 3;
        fx.server.push_script(s);
        evolink::wait_options o;
        o.poll = slow_poll();
        o.callbacks = &receiver;
        auto t = co_await fx.client.image(lighthouse_req(), o);
        CHECK(t.status == task_status::completed);
        // Let the duplicates arrive.
        asio::steady_timer pause(co_await asio::this_coro::executor);
        for (int i = 0; i < 200 && fx.server.callback_attempts() < 4; ++i) {
            pause.expires_after(5ms);
            co_await pause.async_wait(asio::use_awaitable);
        }
        pause.expires_after(50ms);
        co_await pause.async_wait(asio::use_awaitable);
        CHECK(fx.server.callback_attempts() == 4);
        CHECK(receiver.accepted() == 4);
        CHECK(receiver.duplicates() == 3);
        // Nothing was kept for a later waiter either: a new wait does not return at once.
        asio::cancellation_signal sig;
        pause.expires_after(50ms);
        pause.async_wait([&](auto) { sig.emit(asio::cancellation_type::terminal); });
        auto [ec, again] = co_await receiver.wait(t.id, asio::bind_cancellation_slot(sig.slot(), asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == asio::error::operation_aborted);
        receiver.stop();
    });
}

TEST_CASE("a callback that never comes: polling wins")
{
    fixture fx(quick_callbacks());
    evolink::callback_receiver receiver(fx.io.get_executor());
    fx.run([&]() -> asio::awaitable<void> {
        auto s = timed();
        s.callback_lost = true;
        fx.server.push_script(s);
        evolink::wait_options o;
        o.poll = fast_poll();
        o.callbacks = &receiver;
        auto t = co_await fx.client.image(lighthouse_req(), o);
        CHECK(t.status == task_status::completed);
        CHECK(receiver.accepted() == 0);
        CHECK(fx.server.callback_attempts() == 0);
        receiver.stop();
    });
}

TEST_CASE("a callback that arrives before anyone waits is kept")
{
    fixture fx;
    evolink::callback_receiver receiver(fx.io.get_executor());
    fx.run([&]() -> asio::awaitable<void> {
        auto body = R"({"id":"task-unified-1757169743-7cvnl5zw","status":"completed","progress":100,"results":["https://x/y.png"]})";
        auto r = receiver.handle("POST", path_of(receiver.callback_url()), body);
        CHECK(r.status == 200);
        // Let the delivery reach the receiver's strand first.
        co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
        auto t = co_await receiver.wait("task-unified-1757169743-7cvnl5zw");
        CHECK(t.results.at(0) == "https://x/y.png");
        receiver.stop();
    });
}

TEST_CASE("bad callbacks are refused without detail and deliver nothing")
{
    fixture fx;
    evolink::callback_receiver_options ro;
    ro.max_body = 1000;
    evolink::callback_receiver receiver(fx.io.get_executor(), ro);
    fx.run([&]() -> asio::awaitable<void> {
        auto path = path_of(receiver.callback_url());
        std::string good = R"({"id":"task-unified-1-abcdefgh","status":"completed"})";
        std::string wrong_secret = path;
        wrong_secret.back() = wrong_secret.back() == 'a' ? 'b' : 'a';
        CHECK(receiver.handle("POST", wrong_secret, good).status == 404);
        CHECK(receiver.handle("POST", path.substr(0, path.size() - 1), good).status == 404);
        CHECK(receiver.handle("POST", "/evolink/callback", good).status == 404);
        CHECK(receiver.handle("GET", path, good).status == 405);
        CHECK(receiver.handle("PUT", path, good).status == 405);
        CHECK(receiver.handle("POST", path, "not json").status == 400);
        CHECK(receiver.handle("POST", path, R"({"status":"completed"})").status == 400);
        CHECK(receiver.handle("POST", path, "{\"id\":\"task-unified-1-abcdefgh\",\"pad\":\"" + std::string(1000, 'x') + "\"}").status == 413);
        auto r = receiver.handle("POST", wrong_secret, good);
        CHECK_FALSE(contains(r.body, receiver.callback_url().substr(receiver.callback_url().rfind('/') + 1)));
        CHECK(receiver.refused() == 9);
        CHECK(receiver.accepted() == 0);
        // Nothing was delivered.
        asio::cancellation_signal sig;
        asio::steady_timer t(co_await asio::this_coro::executor, 50ms);
        t.async_wait([&](auto) { sig.emit(asio::cancellation_type::terminal); });
        auto [ec, task] = co_await receiver.wait("task-unified-1-abcdefgh",
                                                 asio::bind_cancellation_slot(sig.slot(), asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == asio::error::operation_aborted);
        receiver.stop();
    });
}

TEST_CASE("a forged callback that the confirming GET contradicts is ignored")
{
    log_capture logs;
    fixture fx(quick_callbacks(), [&](evolink::client_options opts) {
        opts.logger = logs.logger(evolink::log_level::info);
        return opts;
    });
    evolink::callback_receiver receiver(fx.io.get_executor());
    fx.run([&]() -> asio::awaitable<void> {
        fx.server.push_script(timed(150ms)); // completes after ~300 ms
        evolink::wait_options o;
        o.poll = slow_poll();
        o.callbacks = &receiver;
        o.on_submitted = [&](const evolink::task& t) {
            auto forged = evolink::to_json(t);
            forged["status"] = "completed";
            forged["progress"] = 100;
            forged["results"] = boost::json::array{"https://attacker.example/evil.png"};
            CHECK(receiver.handle("POST", path_of(receiver.callback_url()), boost::json::serialize(forged)).status == 200);
        };
        auto t = co_await fx.client.image(lighthouse_req(), o);
        CHECK(t.status == task_status::completed);
        CHECK(t.results.at(0).starts_with(fx.server.base_url())); // the genuine result, not the forged one
        CHECK(logs.any_contains("ignored"));
        CHECK(receiver.accepted() == 2);
        CHECK(fx.server.count("GET", "/v1/tasks/") == 2); // one refuted the forgery, one confirmed the real callback
        receiver.stop();
    });
}

TEST_CASE("trusting callback bodies skips the confirming GET")
{
    fixture fx(quick_callbacks());
    evolink::callback_receiver receiver(fx.io.get_executor());
    fx.run([&]() -> asio::awaitable<void> {
        fx.server.push_script(timed());
        evolink::wait_options o;
        o.poll = slow_poll();
        o.callbacks = &receiver;
        o.trust_callback_body = true;
        auto t = co_await fx.client.image(lighthouse_req(), o);
        CHECK(t.status == task_status::completed);
        CHECK(fx.server.count("GET", "/v1/tasks/") == 0);
        receiver.stop();
    });
}

TEST_CASE("callback and polling racing to the finish complete every wait exactly once")
{
    fixture fx(quick_callbacks());
    evolink::callback_receiver receiver(fx.io.get_executor());
    std::map<std::string, int> completions;
    int finished = 0;
    constexpr int n = 30;
    evolink::wait_options o;
    o.poll = poll_every(1ms);
    o.callback_poll_factor = 1; // polling as fast as the callback
    o.callbacks = &receiver;
    for (int i = 0; i < n; ++i) {
        fx.server.push_script(timed(5ms));
        fx.client.image(lighthouse_req(), o, [&](evolink::error_code ec, evolink::task t) {
            CHECK(!ec);
            ++completions[t.id];
            if (++finished == n) {
                // Let late callbacks land, then stop everything.
                auto timer = std::make_shared<asio::steady_timer>(fx.io, 200ms);
                timer->async_wait([&, timer](auto) {
                    receiver.stop();
                    fx.server.stop();
                });
            }
        });
    }
    fx.io.run_for(60s);
    CHECK(finished == n);
    CHECK(completions.size() == std::size_t(n));
    for (auto& [id, count] : completions) CHECK(count == 1);
    CHECK(fx.io.stopped()); // no timer, waiter or connection left behind
}

TEST_CASE("curl, as an outside client, posts to the receiver")
{
    REQUIRE(std::system("curl --version > /dev/null 2>&1") == 0);
    fixture fx;
    evolink::callback_receiver_options ro;
    ro.max_body = 2000;
    evolink::callback_receiver receiver(fx.io.get_executor(), ro);
    fx.run([&]() -> asio::awaitable<void> {
        char dir_template[] = "/tmp/evolink-curl-XXXXXX";
        std::string dir = ::mkdtemp(dir_template);
        std::ofstream(dir + "/good.json") << R"({"id":"task-unified-1757169743-7cvnl5zw","status":"completed","results":["https://r/1.mp4"]})";
        std::ofstream(dir + "/big.json") << "{\"id\":\"x\",\"pad\":\"" << std::string(5000, 'p') << "\"}";
        auto url = receiver.callback_url();
        auto curl = [&](const std::string& args, const std::string& out) {
            return "curl -s -o /dev/null -w '%{http_code}' " + args + " > " + dir + "/" + out;
        };
        auto json = std::string("-H 'Content-Type: application/json' ");
        CHECK(co_await run_command(curl(json + "--data-binary @" + dir + "/good.json '" + url + "'", "good")) == 0);
        CHECK(co_await run_command(curl(json + "--data-binary @" + dir + "/good.json '" + url + "x'", "secret")) == 0);
        CHECK(co_await run_command(curl("'" + url + "'", "get")) == 0);
        CHECK(co_await run_command(curl(json + "--data-binary @" + dir + "/big.json '" + url + "'", "big")) == 0);
        CHECK(read_all(dir + "/good") == "200");
        CHECK(read_all(dir + "/secret") == "404");
        CHECK(read_all(dir + "/get") == "405");
        CHECK(read_all(dir + "/big") == "413");
        auto t = co_await receiver.wait("task-unified-1757169743-7cvnl5zw");
        CHECK(t.results.at(0) == "https://r/1.mp4");
        std::system(("rm -rf " + dir).c_str());
        receiver.stop();
    });
}

TEST_CASE("the receiver drops a client that sends its request too slowly")
{
    fixture fx;
    evolink::callback_receiver_options ro;
    ro.read_timeout = 200ms;
    evolink::callback_receiver receiver(fx.io.get_executor(), ro);
    fx.run([&]() -> asio::awaitable<void> {
        asio::ip::tcp::socket sock(co_await asio::this_coro::executor);
        co_await sock.async_connect({asio::ip::make_address("127.0.0.1"), receiver.port()}, asio::use_awaitable);
        std::string partial = "POST /evolink/callback/x HTTP/1.1\r\nHost: a\r\n";
        co_await asio::async_write(sock, asio::buffer(partial), asio::use_awaitable);
        auto start = std::chrono::steady_clock::now();
        char buf[64];
        auto [ec, n] = co_await sock.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
        CHECK(ec); // closed by the receiver
        CHECK(std::chrono::steady_clock::now() - start < 2s);
        receiver.stop();
    });
}

TEST_CASE("the fake server retries a callback answered non-2xx, after the configured delays")
{
    fixture fx(quick_callbacks());
    // The callback target: another fake server (plain HTTP) that answers 500 twice, then 204.
    fake_server_options target_opts;
    target_opts.tls = false;
    fake_server target(fx.io.get_executor(), target_opts);
    evolink::testing::canned_response fail;
    fail.method = "POST";
    fail.path_prefix = "/hook";
    fail.status = 500;
    fail.times = 2;
    target.inject(fail);
    evolink::testing::canned_response ok;
    ok.method = "POST";
    ok.path_prefix = "/hook";
    ok.status = 204;
    target.inject(ok);
    fx.run([&]() -> asio::awaitable<void> {
        fx.server.push_script(timed());
        auto req = lighthouse_req();
        req.callback_url = target.base_url() + "/hook/abc?x=1";
        auto t = co_await fx.client.submit(req);
        auto start = std::chrono::steady_clock::now();
        asio::steady_timer pause(co_await asio::this_coro::executor);
        // The target counts a POST when it reads it; the fake counts a delivery only when it has read
        // the 204 back, a moment later. Wait for both, or the check below races the answer.
        while ((target.count("POST", "/hook") < 3 || fx.server.callbacks_delivered() < 1) &&
               std::chrono::steady_clock::now() - start < 5s) {
            pause.expires_after(5ms);
            co_await pause.async_wait(asio::use_awaitable);
        }
        auto took = std::chrono::steady_clock::now() - start;
        CHECK(target.count("POST", "/hook/abc?x=1") == 3);
        CHECK(took >= 60ms); // 20 ms + 40 ms between the three attempts
        CHECK(fx.server.callback_attempts() == 3);
        CHECK(fx.server.callbacks_delivered() == 1);
        REQUIRE(!target.requests().empty());
        auto body = boost::json::parse(target.requests().back().body);
        CHECK(body.at("id") == t.id.c_str());
        CHECK(body.at("status") == "completed");
        target.stop();
    });
}
