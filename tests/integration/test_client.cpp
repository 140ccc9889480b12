// The client against the fake server over real TLS on loopback.
#include "../support/fixture.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <future>
#include <thread>

using evolink::testing::canned_response;
using evolink::testing::fake_server;
using evolink::testing::fake_server_options;

namespace json = boost::json;

TEST_CASE("submit sends only the fields that are set, with the key, and returns the pending task")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "A serene lake at sunset";
        req.size = "1280x1280";
        auto t = co_await fx.client.submit(req);
        CHECK(t.id.starts_with("task-unified-"));
        CHECK(t.status == evolink::task_status::pending);
        CHECK(t.model == "wan2.5-text-to-image");
        CHECK(t.type == "image");
        CHECK(t.info.estimated_time == 30);

        auto seen = fx.server.requests();
        REQUIRE(seen.size() == 1);
        CHECK(seen[0].method == "POST");
        CHECK(seen[0].target == "/v1/images/generations");
        CHECK(seen[0].headers["authorization"] == "Bearer " + fx.server.api_key());
        CHECK(seen[0].headers["content-type"] == "application/json");
        CHECK(seen[0].headers["user-agent"].starts_with("evolink-cpp/"));
        CHECK(json::parse(seen[0].body) ==
              json::value{{"model", "wan2.5-text-to-image"}, {"prompt", "A serene lake at sunset"}, {"size", "1280x1280"}});
    });
}

TEST_CASE("each typed request reaches its endpoint and is accepted by the server's own validation")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::image_to_video i2v;
        i2v.prompt = "A cat playing piano";
        i2v.image_url = "https://example.com/cat.png";
        i2v.duration = 10;
        i2v.quality = "1080p";
        i2v.prompt_extend = false;
        auto v = co_await fx.client.submit(i2v);
        CHECK(v.type == "video");
        CHECK(v.info.video_duration == 10);

        evolink::text_to_video t2v;
        t2v.prompt = "Waves";
        t2v.aspect_ratio = "3:4";
        auto v2 = co_await fx.client.submit(t2v);
        CHECK(v2.model == "wan2.5-text-to-video");

        evolink::image_to_image i2i;
        i2i.prompt = "Make it winter";
        i2i.image_urls = {"https://example.com/a.png", "https://example.com/b.webp"};
        i2i.n = 2;
        auto im = co_await fx.client.submit(i2i);
        CHECK(im.type == "image");

        evolink::generic_request g;
        g.model = "wan2.6-text-to-video";
        g.fields = {{"prompt", "a comet"}, {"duration", 12}, {"model_params", {{"shot_type", "multi"}}}};
        auto gt = co_await fx.client.submit(g);
        CHECK(gt.model == "wan2.6-text-to-video");

        auto seen = fx.server.requests();
        REQUIRE(seen.size() == 4);
        CHECK(seen[0].target == "/v1/videos/generations");
        CHECK(json::parse(seen[0].body).at("image_urls") == json::array{"https://example.com/cat.png"});
        CHECK(seen[1].target == "/v1/videos/generations");
        CHECK(seen[2].target == "/v1/images/generations");
        CHECK(json::parse(seen[3].body).at("model_params").at("shot_type") == "multi");
        CHECK(fx.server.tasks_created() == 4);
    });
}

TEST_CASE("get_task follows the scripted lifecycle to completion and failure")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "two cats";
        req.n = 2;
        auto t = co_await fx.client.submit(req);
        std::vector<std::pair<evolink::task_status, int>> seen;
        while (!t.finished()) {
            t = co_await fx.client.get_task(t.id);
            seen.emplace_back(t.status, t.progress);
        }
        using S = evolink::task_status;
        CHECK(seen == std::vector<std::pair<S, int>>{{S::processing, 25}, {S::processing, 50}, {S::processing, 75},
                                                     {S::completed, 100}});
        REQUIRE(t.results.size() == 2);
        CHECK(t.results[0].starts_with(fx.server.base_url() + "/results/" + t.id + "/0"));

        evolink::testing::task_script fail;
        fail.progress = {10};
        fail.outcome = S::failed;
        fail.error_code = "generation_timeout";
        fx.server.push_script(fail);
        auto f = co_await fx.client.submit(req);
        f = co_await fx.client.get_task(f.id);
        CHECK(f.status == S::processing);
        f = co_await fx.client.get_task(f.id);
        CHECK(f.status == S::failed);
        REQUIRE(f.error);
        CHECK(f.error->code == "generation_timeout");
        CHECK(f.error->retryable());
        CHECK(f.results.empty());
    });
}

TEST_CASE("invalid requests fail before anything is sent")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "x";
        req.size = "100x100";
        try {
            co_await fx.client.submit(req);
            FAIL("submit accepted an invalid size");
        } catch (const evolink::error& e) {
            CHECK(e.code() == evolink::errc::invalid_request);
            CHECK(e.get_diagnostics().param == "size");
            CHECK(contains(e.get_diagnostics().message, "allowed"));
            CHECK(contains(e.what(), "100x100"));
        }
        evolink::diagnostics diag;
        auto [ec, t] = co_await fx.client.get_task("../../etc/passwd", evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == evolink::errc::invalid_request);
        CHECK(diag.param == "task_id");
        CHECK(fx.server.requests().empty());
    });
}

TEST_CASE("API errors keep the status, EvoLink's fields and the request id")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        // A request the client cannot check (generic) that the server refuses: 400 with param.
        evolink::generic_request g;
        g.model = "wan2.5-text-to-image";
        g.endpoint = "/v1/images/generations";
        g.fields = {{"prompt", "x"}, {"n", 9}};
        evolink::diagnostics diag;
        auto [ec, t] = co_await fx.client.submit(g, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == evolink::api_errc::bad_request);
        CHECK(diag.http_status == 400);
        CHECK(diag.param == "n");
        CHECK(diag.type == "invalid_request_error");
        CHECK(diag.code == "400"); // sent as an integer
        CHECK(contains(diag.message, "allowed"));
        CHECK(diag.request_id.starts_with("fake-req-"));

        // Malformed and unknown task ids.
        auto [ec2, t2] = co_await fx.client.get_task("abc", evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec2 == evolink::api_errc::bad_request);
        CHECK(diag.code == "invalid_task_id"); // sent as a string
        CHECK(diag.task_id == "abc");
        auto [ec3, t3] = co_await fx.client.get_task("task-unified-1756817821-4x3rx6ny", evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec3 == evolink::api_errc::not_found);
        CHECK(diag.http_status == 404);
    });
}

TEST_CASE("every documented error body, HTML and empty bodies map to their HTTP status")
{
    struct row {
        unsigned status;
        std::string type;
        std::string body;
        std::string content_type;
        evolink::error_code expect;
    };
    auto envelope = [](unsigned s, const std::string& type, bool string_code) {
        json::object e{{"message", "something about " + type + " (request id: rid-" + std::to_string(s) + ")"},
                       {"type", type},
                       {"fallback_suggestion", "retry after 60 seconds"}};
        if (string_code) e["code"] = type;
        else e["code"] = s;
        return json::serialize(json::object{{"error", e}});
    };
    std::vector<row> rows;
    std::vector<std::pair<unsigned, std::string>> documented = {
        {400, "invalid_request_error"}, {401, "authentication_error"}, {402, "insufficient_quota_error"},
        {403, "permission_error"},      {404, "not_found_error"},      {413, "request_too_large_error"},
        {429, "rate_limit_error"},      {500, "internal_server_error"}, {502, "upstream_error"},
        {503, "service_unavailable_error"}};
    for (auto& [s, type] : documented) {
        rows.push_back({s, type, envelope(s, type, false), "application/json", evolink::make_http_error(int(s))});
        rows.push_back({s, type, envelope(s, type, true), "application/json", evolink::make_http_error(int(s))});
    }
    rows.push_back({502, "", "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>",
                    "text/html", evolink::api_errc::bad_gateway});
    rows.push_back({503, "", "", "", evolink::api_errc::service_unavailable});
    rows.push_back({504, "", "upstream timed out", "text/plain", evolink::api_errc::gateway_timeout});
    rows.push_back({418, "", "{\"unexpected\":true}", "application/json", evolink::make_http_error(418)});

    fixture fx(no_retry);
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "p";
        for (auto& r : rows) {
            INFO("status " << r.status << " body " << r.body);
            canned_response c;
            c.path_prefix = "/v1/images";
            c.status = r.status;
            c.body = r.body;
            c.content_type = r.content_type;
            fx.server.inject(c);
            evolink::diagnostics diag;
            auto [ec, t] = co_await fx.client.submit(req, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
            CHECK(ec == r.expect);
            CHECK(evolink::http_status(ec) == int(r.status));
            CHECK(diag.http_status == int(r.status));
            if (!r.type.empty()) {
                CHECK(diag.type == r.type);
                CHECK(diag.fallback_suggestion == "retry after 60 seconds");
                CHECK(diag.request_id == "rid-" + std::to_string(r.status)); // from the message: no header id
                CHECK((diag.code == r.type || diag.code == std::to_string(r.status)));
            } else {
                CHECK(!diag.message.empty());
            }
            CHECK(evolink::is_transient(ec) == (r.status == 429 || r.status >= 500));
        }
        // The id from the X-Request-Id header wins over the message.
        canned_response c;
        c.status = 429;
        c.body = envelope(429, "rate_limit_error", false);
        c.headers = {{"X-Request-Id", "hdr-id"}};
        fx.server.inject(c);
        evolink::diagnostics diag;
        auto [ec, t] = co_await fx.client.submit(req, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == evolink::api_errc::rate_limited);
        CHECK(diag.request_id == "hdr-id");
    });
}

TEST_CASE("an HTML error page keeps its status and a readable excerpt")
{
    fixture fx(no_retry);
    fx.run([&]() -> asio::awaitable<void> {
        canned_response c;
        c.status = 502;
        c.content_type = "text/html";
        c.body = "<html><body><h1>502 Bad Gateway</h1>\n<p>nginx</p></body></html>";
        fx.server.inject(c);
        try {
            co_await fx.client.get_task("task-unified-1756817821-4x3rx6ny");
            FAIL("no error");
        } catch (const evolink::error& e) {
            CHECK(e.code() == evolink::api_errc::bad_gateway);
            CHECK(e.get_diagnostics().message == "non-JSON body (text/html): 502 Bad Gateway nginx");
            CHECK(contains(e.what(), "HTTP 502"));
        }
    });
}

TEST_CASE("a 2xx answer that is not a task is a bad_response, not a crash")
{
    fixture fx(no_retry);
    fx.run([&]() -> asio::awaitable<void> {
        for (std::string body : {"", "{", "[]", "{\"status\":\"pending\"}", "<html>ok</html>"}) {
            INFO(body);
            canned_response c;
            c.status = 200;
            c.body = body;
            fx.server.inject(c);
            evolink::diagnostics diag;
            auto [ec, t] = co_await fx.client.get_task("task-unified-1756817821-4x3rx6ny", evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
            CHECK(ec == evolink::errc::bad_response);
            CHECK(diag.http_status == 200);
        }
    });
}

TEST_CASE("a wrong key gets 401 and the key never appears in errors or logs")
{
    const std::string secret = "sk-evolink-SECRET-0123456789";
    log_capture logs;
    fixture fx([&](evolink::client_options opts) {
        opts.api_key = secret;
        opts.logger = logs.logger();
        return no_retry(opts);
    });
    std::string all_errors;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "p";
        try {
            co_await fx.client.submit(req);
            FAIL("no error");
        } catch (const evolink::error& e) {
            CHECK(e.code() == evolink::api_errc::unauthorized);
            CHECK(e.get_diagnostics().type == "authentication_error");
            all_errors += e.what();
        }
        // A server (or proxy) that echoes the key back: it is scrubbed.
        canned_response echo;
        echo.status = 401;
        echo.body = "{\"error\":{\"code\":401,\"message\":\"Invalid key " + secret +
                    "\",\"type\":\"authentication_error\",\"param\":\"" + secret + "\"}}";
        fx.server.inject(echo);
        try {
            co_await fx.client.get_task("task-unified-1756817821-4x3rx6ny");
        } catch (const evolink::error& e) {
            all_errors += e.what();
            CHECK(contains(e.get_diagnostics().message, "[redacted]"));
        }
        canned_response weird;
        weird.status = 200;
        weird.body = "not json but the key: " + secret;
        fx.server.inject(weird);
        try {
            co_await fx.client.get_task("task-unified-1756817821-4x3rx6ny");
        } catch (const evolink::error& e) {
            all_errors += e.what();
        }
    });
    const auto log_text = logs.text();
    CHECK(!all_errors.empty());
    CHECK(!log_text.empty());
    CHECK_FALSE(contains(all_errors, secret));
    CHECK_FALSE(contains(log_text, secret));
    // ...although the key was sent where it belongs.
    CHECK(fx.server.requests().at(0).headers.at("authorization") == "Bearer " + secret);
}

TEST_CASE("many requests share a bounded pool of kept-alive connections")
{
    fixture fx([](evolink::client_options opts) {
        opts.max_connections_per_host = 4;
        return opts;
    });
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "p";
        // 40 submits in flight at once.
        int ok = 0;
        auto one = [&]() -> asio::awaitable<void> {
            auto t = co_await fx.client.submit(req);
            if (!t.id.empty()) ++ok;
        };
        using namespace asio::experimental::awaitable_operators;
        for (int round = 0; round < 5; ++round)
            co_await (one() && one() && one() && one() && one() && one() && one() && one());
        CHECK(ok == 40);
        CHECK(fx.server.handshakes() <= 4);
        CHECK(fx.server.handshakes() >= 1);
        auto before = fx.server.handshakes();
        // Sequential reads reuse the idle connections: no new handshake.
        auto t = co_await fx.client.submit(req);
        for (int i = 0; i < 20; ++i) t = co_await fx.client.get_task(t.id);
        CHECK(fx.server.handshakes() == before);
        CHECK(fx.client.connections_opened() == fx.server.handshakes());
    });
}

TEST_CASE("a connection the server closed is replaced, not reused")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "p";
        auto t = co_await fx.client.submit(req);
        CHECK(fx.server.handshakes() == 1);
        // Answer once with Connection: close; the next request needs a new connection.
        canned_response c;
        c.status = 200;
        c.body = json::serialize(evolink::to_json(t));
        c.close_connection = true;
        fx.server.inject(c);
        auto same = co_await fx.client.get_task(t.id);
        CHECK(same.id == t.id);
        auto again = co_await fx.client.get_task(t.id);
        CHECK(again.status == evolink::task_status::processing);
        CHECK(fx.server.handshakes() == 2);
        // A kept-alive connection the server drops while idle is not used again.
        fx.server.stop_connections();
        co_await asio::steady_timer(co_await asio::this_coro::executor, 50ms).async_wait(asio::use_awaitable);
        auto third = co_await fx.client.get_task(t.id);
        CHECK(third.progress == 50);
        CHECK(fx.server.handshakes() == 3);
    });
}

TEST_CASE("an idle connection the server dropped: a read goes again, a creation checks first")
{
    // No retries and no Idempotency-Key: only the transport's own rules can
    // make these succeed, and a creation written on a dead connection would
    // end in errc::outcome_unknown.
    fixture fx([](evolink::client_options o) {
        o.retry.idempotency_keys = false;
        return no_retry(o);
    });
    fx.run([&]() -> asio::awaitable<void> {
        auto pause = [&]() -> asio::awaitable<void> {
            co_await asio::steady_timer(co_await asio::this_coro::executor, 50ms).async_wait(asio::use_awaitable);
        };
        evolink::text_to_image req;
        req.prompt = "p";
        auto t = co_await fx.client.submit(req);
        REQUIRE(fx.server.handshakes() == 1);
        // A read uses the idle connection unchecked, fails before any answer,
        // and is sent again on a new connection: the caller sees no error.
        fx.server.stop_connections();
        co_await pause();
        auto read = co_await fx.client.get_task(t.id);
        CHECK(read.id == t.id);
        CHECK(fx.server.handshakes() == 2);
        // A creation checks the idle connection first and never writes on a dead one.
        fx.server.stop_connections();
        co_await pause();
        auto posts = [&] {
            auto all = fx.server.requests();
            return std::count_if(all.begin(), all.end(), [](const auto& r) { return r.method == "POST"; });
        };
        auto posts_before = posts();
        auto created = co_await fx.client.submit(req);
        CHECK_FALSE(created.id.empty());
        CHECK(fx.server.handshakes() == 3);
        CHECK(posts() == posts_before + 1);
        CHECK(fx.client.connections_opened() == 3);
    });
}

TEST_CASE("request timeout and cancellation close the connection and leave nothing pending")
{
    fixture fx([](evolink::client_options opts) {
        opts.request_timeout = 200ms;
        return no_retry(opts);
    });
    fx.run([&]() -> asio::awaitable<void> {
        canned_response slow;
        slow.status = 200;
        slow.body = "{}";
        slow.delay = 2s;
        fx.server.inject(slow);
        evolink::diagnostics diag;
        auto start = std::chrono::steady_clock::now();
        auto [ec, t] = co_await fx.client.get_task("task-unified-1756817821-4x3rx6ny", evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == evolink::errc::timeout);
        CHECK(contains(diag.message, "timed out after 200 ms"));
        CHECK(std::chrono::steady_clock::now() - start < 1500ms);

        // Per-operation cancellation through a cancellation slot.
        fx.server.inject(slow);
        asio::cancellation_signal signal;
        asio::steady_timer timer(co_await asio::this_coro::executor, 50ms);
        timer.async_wait([&](auto) { signal.emit(asio::cancellation_type::terminal); });
        auto [ec2, t2] = co_await fx.client.get_task(
            "task-unified-1756817821-4x3rx6ny",
            asio::bind_cancellation_slot(signal.slot(), asio::as_tuple(asio::use_awaitable)));
        CHECK(ec2 == asio::error::operation_aborted);

        // The client still works afterwards, on a fresh connection.
        evolink::text_to_image req;
        req.prompt = "p";
        auto ok = co_await fx.client.submit(req);
        CHECK(!ok.id.empty());
    });
}

TEST_CASE("any completion token: callback, future, deferred, as_tuple")
{
    fixture fx;
    evolink::text_to_image req;
    req.prompt = "p";

    // A plain callback, run on the client's executor.
    std::string id;
    fx.client.submit(req, [&](evolink::error_code ec, evolink::task t) {
        CHECK(!ec);
        id = t.id;
        fx.client.get_task(id, [&](evolink::error_code ec2, evolink::task t2) {
            CHECK(!ec2);
            CHECK(t2.progress == 25);
            // An error through a callback: a code, no exception.
            fx.client.get_task("no such id!", [&](evolink::error_code ec3, evolink::task) {
                CHECK(ec3 == evolink::errc::invalid_request);
                fx.server.stop();
            });
        });
    });
    fx.io.run_for(30s);
    CHECK(!id.empty());
    CHECK(fx.io.stopped());

    // A future, with the io_context run by another thread.
    fixture fx2;
    auto guard = asio::make_work_guard(fx2.io);
    std::thread runner([&] { fx2.io.run(); });
    auto fut = fx2.client.submit(req, asio::use_future);
    auto t = fut.get();
    CHECK(t.status == evolink::task_status::pending);
    req.size = "1x1";
    auto bad = fx2.client.submit(req, evolink::with_diagnostics(asio::use_future));
    try {
        bad.get();
        FAIL("no error");
    } catch (const evolink::error& e) {
        CHECK(e.get_diagnostics().param == "size");
    }
    // asio::deferred: an operation started later.
    auto op = fx2.client.get_task(t.id, asio::deferred);
    std::promise<int> progress;
    std::move(op)([&](evolink::error_code, evolink::task t2) { progress.set_value(t2.progress); });
    CHECK(progress.get_future().get() == 25);
    fx2.server.stop();
    guard.reset();
    runner.join();
    CHECK(fx2.io.stopped());
}

TEST_CASE("options are checked at construction")
{
    env_guard env;
    asio::io_context io;
    auto code_of = [&](evolink::client_options o) {
        try {
            evolink::client c(io.get_executor(), o);
        } catch (const evolink::error& e) {
            return e.code();
        }
        return evolink::error_code{};
    };
    evolink::client_options o;
    CHECK(code_of(o) == evolink::errc::missing_api_key);
    ::setenv("EVOLINK_API_KEY", "from-env-key", 1);
    CHECK(code_of(o) == evolink::error_code{});
    ::unsetenv("EVOLINK_API_KEY");
    o.api_key = "k";
    o.base_url = "http://api.example.com";
    CHECK(code_of(o) == evolink::errc::invalid_options);
    o.allow_insecure_http = true;
    CHECK(code_of(o) == evolink::error_code{});
    o.base_url = "not a url";
    CHECK(code_of(o) == evolink::errc::invalid_options);
    o.base_url = "https://api.evolink.ai";
    o.tls.ca_file = "/nonexistent/ca.pem";
    CHECK(code_of(o) == evolink::errc::invalid_options);
    o.tls.ca_file.clear();
    o.api_key = "bad key\r\nX-Injected: 1";
    CHECK(code_of(o) == evolink::errc::invalid_options);
    try {
        o.api_key = "secret-with space";
        evolink::client c(io.get_executor(), o);
    } catch (const evolink::error& e) {
        CHECK_FALSE(contains(e.what(), "secret-with"));
    }
    o.api_key = "k";
    o.user_agent = "my-app/1.0\r\nX-Injected: 1"; // would end the header line
    CHECK(code_of(o) == evolink::errc::invalid_options);
    try {
        evolink::client c(io.get_executor(), o);
    } catch (const evolink::error& e) {
        CHECK(e.get_diagnostics().param == "user_agent");
    }
    o.user_agent = "my-app/1.0 (tab\tok)";
    CHECK(code_of(o) == evolink::error_code{});
}

TEST_CASE("plain HTTP works only when allowed (a TLS-terminating proxy on loopback)")
{
    fake_server_options so;
    so.tls = false;
    fixture fx(so);
    REQUIRE(fx.server.base_url().starts_with("http://"));
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_video req;
        req.prompt = "p";
        auto t = co_await fx.client.submit(req);
        CHECK(t.type == "video");
        CHECK(fx.server.handshakes() == 0);
        CHECK(fx.server.connections() == 1);
    });
}

TEST_CASE("a task's raw JSON is kept only when asked; its typed fields are the same either way")
{
    canned_response odd;
    odd.status = 200;
    odd.body = R"({"id":"task-unified-1-abcdefgh","status":"processing","progress":40,"type":"video",)"
               R"("task_info":{"estimated_time":120,"queue":3},"brand_new":{"x":[1,2]}})";
    auto read = [&](bool keep) {
        evolink::task t;
        fixture fx([keep](evolink::client_options opts) {
            opts.keep_raw_json = keep;
            return no_retry(opts);
        });
        fx.run([&]() -> asio::awaitable<void> {
            fx.server.inject(odd);
            t = co_await fx.client.get_task("task-unified-1-abcdefgh");
        });
        return t;
    };
    auto lean = read(false), whole = read(true);
    CHECK(lean.raw.empty());
    CHECK(whole.raw == boost::json::parse(odd.body).as_object());
    for (auto* t : {&lean, &whole}) {
        CHECK(t->id == "task-unified-1-abcdefgh");
        CHECK(t->status == evolink::task_status::processing);
        CHECK(t->progress == 40);
        CHECK(t->info.estimated_time == 120);
    }
    CHECK(evolink::to_json(whole).at("brand_new").at("x") == boost::json::array{1, 2});
    CHECK_FALSE(evolink::to_json(lean).contains("brand_new"));
}

TEST_CASE("answers over the size limits are refused, not buffered without bound")
{
    fixture fx([](evolink::client_options opts) {
        opts.max_response_body_bytes = 4096;
        opts.max_response_header_bytes = 2048;
        opts.keep_raw_json = true;
        return no_retry(opts);
    });
    fx.run([&]() -> asio::awaitable<void> {
        canned_response big;
        big.status = 200;
        big.body = "{\"id\":\"task-unified-1-abcdefgh\",\"pad\":\"" + std::string(5000, 'x') + "\"}";
        fx.server.inject(big);
        evolink::diagnostics diag;
        auto [ec, t] = co_await fx.client.get_task("task-unified-1-abcdefgh", evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == evolink::errc::response_too_large);
        canned_response fat_headers;
        fat_headers.status = 200;
        fat_headers.body = "{}";
        fat_headers.headers = {{"X-Padding", std::string(3000, 'h')}};
        fx.server.inject(fat_headers);
        auto [ec2, t2] = co_await fx.client.get_task("task-unified-1-abcdefgh", evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec2 == evolink::errc::response_too_large);
        // Just under the limit is fine.
        big.body = "{\"id\":\"task-unified-1-abcdefgh\",\"pad\":\"" + std::string(4000, 'x') + "\"}";
        fx.server.inject(big);
        auto t3 = co_await fx.client.get_task("task-unified-1-abcdefgh");
        CHECK(t3.raw.at("pad").as_string().size() == 4000);
    });
}
