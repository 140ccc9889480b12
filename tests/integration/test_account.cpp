// The account's reads (credits, list_tasks) and the fake's batch endpoint,
// against the fake server over real TLS on loopback.
#include "../support/fixture.hpp"

#include <evolink/detail/transport.hpp>

#include <boost/json.hpp>

#include <string>
#include <vector>

using evolink::api_errc;
using evolink::errc;
using evolink::task_filter;
using evolink::task_status;
using evolink::testing::canned_response;
using evolink::testing::fake_server_options;
namespace http = boost::beast::http;

namespace {

evolink::text_to_image an_image()
{
    evolink::text_to_image r;
    r.prompt = "a lighthouse";
    return r;
}

evolink::text_to_video a_video()
{
    evolink::text_to_video r;
    r.prompt = "waves";
    return r;
}

/// A request the client has no call for (the batch endpoint), sent with the
/// server's key over the client's own transport: the status and body.
asio::awaitable<evolink::detail::http_result> raw(const evolink::testing::fake_server& server, http::verb method,
                                                  std::string target, std::string body)
{
    auto co = server.client_options();
    evolink::diagnostics d;
    auto ctx = evolink::detail::make_tls_context(co.tls, d);
    std::string why;
    auto origin = evolink::detail::parse_origin(co.base_url, co.allow_insecure_http, why);
    auto ex = co_await asio::this_coro::executor; // (no co_await in constructor arguments: g++ 12)
    auto t = std::make_shared<evolink::detail::transport>(ex, co, ctx);
    auto r = co_await t->request(*origin, method, std::move(target), std::move(body));
    t->close_idle();
    REQUIRE_FALSE(r.ec);
    co_return r.value;
}

boost::json::object json_of(const evolink::detail::http_result& r)
{
    return boost::json::parse(r.body).as_object();
}

std::string batch_body(const std::vector<std::string>& ids)
{
    boost::json::array a;
    for (auto& id : ids) a.emplace_back(id);
    return boost::json::serialize(boost::json::object{{"task_ids", std::move(a)}});
}

std::vector<std::string> ids_of(const evolink::task_list& l)
{
    std::vector<std::string> v;
    for (auto& t : l.tasks) v.push_back(t.id);
    return v;
}

} // namespace

TEST_CASE("credits reads the balances, and each created task moves its credits from remaining to used")
{
    fake_server_options so;
    so.user_credits = 700;
    so.token_credits = 50.5;
    fixture fx(so);
    fx.run([&]() -> asio::awaitable<void> {
        auto b = co_await fx.client.credits();
        CHECK(b.user.remaining == 700);
        CHECK(b.user.used == 0);
        CHECK(b.token.remaining == 50.5);
        CHECK(b.token.used == 0);
        CHECK_FALSE(b.token.unlimited);

        auto r = an_image();
        r.n = 2; // the fake bills 0.5 an image
        co_await fx.client.submit(r);
        evolink::diagnostics diag;
        auto after = co_await fx.client.credits(evolink::with_diagnostics(diag));
        CHECK(after.user.remaining == 699);
        CHECK(after.user.used == 1);
        CHECK(after.token.remaining == 49.5);
        CHECK(after.token.used == 1);
        CHECK(diag.attempts == 1);
        CHECK(fx.server.count_route("GET", "/v1/credits") == 2);
        auto seen = fx.server.requests();
        CHECK(seen.back().headers["authorization"] == "Bearer " + fx.server.api_key());
    });
}

TEST_CASE("credits: an unlimited key, a malformed answer, success false, and a retried 503")
{
    fake_server_options so;
    so.token_unlimited = true;
    fixture fx(so);
    fx.run([&]() -> asio::awaitable<void> {
        auto b = co_await fx.client.credits();
        CHECK(b.token.unlimited);

        canned_response c;
        c.path_prefix = "/v1/credits";
        c.status = 200;
        c.body = R"({"success":false,"message":"account suspended"})";
        fx.server.inject(c);
        evolink::diagnostics diag;
        auto [ec, none] = co_await fx.client.credits(evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::bad_response);
        CHECK_THAT(diag.message, Catch::Contains("account suspended"));
        CHECK(none.user.remaining == 0);

        c.body = R"({"success":true})";
        fx.server.inject(c);
        auto [ec2, none2] = co_await fx.client.credits(evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec2 == errc::bad_response);
        CHECK_THAT(diag.message, Catch::Contains("no \"data\" object"));

        c.status = 503;
        c.body = "<html>busy</html>";
        fx.server.inject(c);
        auto again = co_await fx.client.credits(evolink::with_diagnostics(diag));
        CHECK(again.token.unlimited);
        CHECK(diag.attempts == 2); // a read: the 503 was retried
        CHECK(fx.server.count_route("GET", "/v1/credits") == 5);
    });
}

TEST_CASE("list_tasks: newest first, paged, filtered; a list does not advance tasks")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        // Oldest to newest: image, video, image, video, image.
        std::vector<evolink::task> made;
        made.push_back(co_await fx.client.submit(an_image()));
        made.push_back(co_await fx.client.submit(a_video()));
        made.push_back(co_await fx.client.submit(an_image()));
        made.push_back(co_await fx.client.submit(a_video()));
        made.push_back(co_await fx.client.submit(an_image()));

        task_filter page;
        page.page_size = 2;
        auto p1 = co_await fx.client.list_tasks(page);
        CHECK(ids_of(p1) == std::vector<std::string>{made[4].id, made[3].id});
        CHECK(p1.total == 5);
        CHECK(p1.page == 1);
        CHECK(p1.page_size == 2);
        CHECK(p1.has_next_page());
        page.page = 3;
        auto p3 = co_await fx.client.list_tasks(page);
        CHECK(ids_of(p3) == std::vector<std::string>{made[0].id});
        CHECK_FALSE(p3.has_next_page());
        REQUIRE(p3.tasks.size() == 1);
        CHECK(p3.tasks[0].model == "wan2.5-text-to-image");
        CHECK(p3.tasks[0].type == "image");
        CHECK(p3.tasks[0].status == task_status::pending);
        CHECK(p3.tasks[0].created_at == made[0].created);
        CHECK(p3.tasks[0].has_results == false);

        task_filter videos;
        videos.type = "video";
        auto v = co_await fx.client.list_tasks(videos);
        CHECK(ids_of(v) == std::vector<std::string>{made[3].id, made[1].id});
        CHECK(v.total == 2);
        REQUIRE(v.tasks.size() == 2);
        CHECK(v.tasks[0].duration == 5.0);

        task_filter model;
        model.model = "wan2.5-text-to-image";
        auto m = co_await fx.client.list_tasks(model);
        CHECK(ids_of(m) == std::vector<std::string>{made[4].id, made[2].id, made[0].id});

        // Four reads finish the first image (25, 50, 75, completed); one starts the second.
        for (int i = 0; i < 4; ++i) co_await fx.client.get_task(made[0].id);
        co_await fx.client.get_task(made[2].id);
        task_filter done;
        done.status = task_status::completed;
        auto c = co_await fx.client.list_tasks(done);
        REQUIRE(ids_of(c) == std::vector<std::string>{made[0].id});
        CHECK(c.tasks[0].progress == 100);
        CHECK(c.tasks[0].has_results == true);
        CHECK(c.tasks[0].result_count == 1u);
        CHECK(c.tasks[0].credits_used == 0.5);
        task_filter busy;
        busy.status = task_status::processing;
        busy.type = "image";
        auto b = co_await fx.client.list_tasks(busy);
        REQUIRE(ids_of(b) == std::vector<std::string>{made[2].id});
        CHECK(b.tasks[0].progress == 25);

        // The lists above read nothing from the provider: the newest task is
        // still at its first step.
        auto newest = co_await fx.client.get_task(made[4].id);
        CHECK(newest.status == task_status::processing);
        CHECK(newest.progress == 25);

        CHECK(fx.server.count_route("GET", "/v1/tasks") == 6); // p1, p3, videos, model, done, busy
        auto seen = fx.server.requests();
        bool found = false;
        for (auto& r : seen) found = found || r.target == "/v1/tasks?status=processing&type=image";
        CHECK(found);
    });
}

TEST_CASE("list_tasks: a bad filter fails before anything is sent, naming the field")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        task_filter f;
        f.status = task_status::pending;
        evolink::diagnostics diag;
        auto [ec, l] = co_await fx.client.list_tasks(f, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::invalid_request);
        CHECK(diag.param == "status");
        CHECK_THAT(diag.message, Catch::Contains("allowed: processing, completed, failed, cancelled"));
        CHECK(l.tasks.empty());

        task_filter g;
        g.page_size = 500;
        try {
            co_await fx.client.list_tasks(g);
            FAIL("a page_size of 500 was accepted");
        } catch (const evolink::error& e) {
            CHECK(e.code() == errc::invalid_request);
            CHECK(e.get_diagnostics().param == "page_size");
        }
        CHECK(fx.server.count_route("GET", "/v1/tasks") == 0);
        CHECK(fx.server.requests().empty());
    });
}

TEST_CASE("credits and list_tasks with a bad key: 401, not retried")
{
    fixture fx([](evolink::client_options o) {
        o.api_key = "evk-wrong-key-0000";
        return o;
    });
    fx.run([&]() -> asio::awaitable<void> {
        evolink::diagnostics diag;
        auto [ec, b] = co_await fx.client.credits(evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == api_errc::unauthorized);
        CHECK(diag.http_status == 401);
        CHECK(diag.type == "authentication_error");
        CHECK(diag.attempts == 1);
        CHECK_FALSE(contains(diag.summary(), "evk-wrong-key-0000"));
        auto [ec2, l] = co_await fx.client.list_tasks(task_filter{}, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec2 == api_errc::unauthorized);
        CHECK(fx.server.count_route("GET", "/v1/credits") == 1);
        CHECK(fx.server.count_route("GET", "/v1/tasks") == 1);
    });
}

TEST_CASE("the fake's list refuses a bad parameter as the service does: 400 naming it")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto r = co_await raw(fx.server, http::verb::get, "/v1/tasks?status=pending", {});
        CHECK(r.status == 400);
        auto e = json_of(r).at("error").as_object();
        CHECK(e.at("param").as_string() == "status");
        CHECK(e.at("type").as_string() == "invalid_request_error");
        auto p = co_await raw(fx.server, http::verb::get, "/v1/tasks?page_size=101", {});
        CHECK(p.status == 400);
        CHECK(json_of(p).at("error").at("param").as_string() == "page_size");
    });
}

TEST_CASE("batch: known ids answered as GET answers them (and advanced), unknown and expired ids absent")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto a = co_await fx.client.submit(an_image());
        auto b = co_await fx.client.submit(an_image());
        auto gone = co_await fx.client.submit(an_image());
        fx.server.expire(gone.id);
        // (No braced list inside a co_await expression: g++ 12 cannot copy its array into the frame.)
        std::vector<std::string> ids{a.id, "task-unified-1700000000-zzzzzzzz", b.id, gone.id};
        auto body = batch_body(ids);
        auto r = co_await raw(fx.server, http::verb::post, "/v1/tasks/batch", body);
        REQUIRE(r.status == 200);
        auto data = json_of(r).at("data").as_array();
        REQUIRE(data.size() == 2);
        auto first = evolink::task_from_json(data[0]);
        REQUIRE(first);
        CHECK(first->id == a.id);
        CHECK(first->status == task_status::processing); // a batch read advances like a GET
        CHECK(first->progress == 25);
        CHECK(evolink::task_from_json(data[1])->id == b.id);
        auto next = co_await fx.client.get_task(a.id);
        CHECK(next.progress == 50);
        CHECK(fx.server.count_route("POST", "/v1/tasks/batch") == 1);
    });
}

TEST_CASE("batch: more than 50 ids is a 400; a malformed body too")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        std::vector<std::string> ids(51, "task-unified-1700000000-aaaaaaaa");
        auto r = co_await raw(fx.server, http::verb::post, "/v1/tasks/batch", batch_body(ids));
        CHECK(r.status == 400);
        CHECK(json_of(r).at("error").at("param").as_string() == "task_ids");
        ids.pop_back();
        auto fifty = co_await raw(fx.server, http::verb::post, "/v1/tasks/batch", batch_body(ids));
        CHECK(fifty.status == 200);
        CHECK(json_of(fifty).at("data").as_array().empty());
        auto bad = co_await raw(fx.server, http::verb::post, "/v1/tasks/batch", R"({"task_ids":"x"})");
        CHECK(bad.status == 400);
    });
}

TEST_CASE("batch: switched off it is an unknown route (404); faults can target it")
{
    SECTION("off")
    {
        fake_server_options so;
        so.batch_endpoint = false;
        fixture fx(so);
        fx.run([&]() -> asio::awaitable<void> {
            auto a = co_await fx.client.submit(an_image());
            std::vector<std::string> ids{a.id};
            auto r = co_await raw(fx.server, http::verb::post, "/v1/tasks/batch", batch_body(ids));
            CHECK(r.status == 404);
            CHECK(json_of(r).at("error").at("type").as_string() == "not_found_error");
            auto t = co_await fx.client.get_task(a.id); // the per-task GET still works
            CHECK(t.progress == 25);
        });
    }
    SECTION("a canned 503 for the batch only")
    {
        fixture fx;
        fx.run([&]() -> asio::awaitable<void> {
            auto a = co_await fx.client.submit(an_image());
            canned_response c;
            c.method = "POST";
            c.path_prefix = "/v1/tasks/batch";
            c.status = 503;
            c.body = R"({"error":{"code":503,"message":"busy","type":"service_unavailable_error"}})";
            fx.server.inject(c);
            std::vector<std::string> ids{a.id};
            auto r = co_await raw(fx.server, http::verb::post, "/v1/tasks/batch", batch_body(ids));
            CHECK(r.status == 503);
            auto t = co_await fx.client.get_task(a.id); // not hit by the fault
            CHECK(t.progress == 25);
            auto again = co_await raw(fx.server, http::verb::post, "/v1/tasks/batch", batch_body(ids));
            CHECK(again.status == 200); // the fault answered once
            CHECK(fx.server.count_route("POST", "/v1/tasks/batch") == 2);
        });
    }
}

TEST_CASE("credits and list_tasks: even a total cancellation ends them at once with operation_aborted")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        canned_response slow; // the real answer, 5 s late
        slow.status = 0;
        slow.delay = 5s;
        slow.times = 2;
        fx.server.inject(slow);
        auto ex = co_await asio::this_coro::executor;
        for (int op = 0; op < 2; ++op) {
            asio::cancellation_signal sig;
            asio::steady_timer timer(ex, 100ms);
            timer.async_wait([&sig](boost::system::error_code) { sig.emit(asio::cancellation_type::total); });
            auto start = std::chrono::steady_clock::now();
            auto token = asio::bind_cancellation_slot(sig.slot(), asio::as_tuple(asio::use_awaitable));
            evolink::error_code ec;
            if (op == 0) ec = std::get<0>(co_await fx.client.credits(token));
            else ec = std::get<0>(co_await fx.client.list_tasks(task_filter{}, token));
            CHECK(ec == asio::error::operation_aborted);
            CHECK(std::chrono::steady_clock::now() - start < 3s);
        }
        CHECK(fx.server.count_route("GET", "/v1/credits") == 1);
        CHECK(fx.server.count_route("GET", "/v1/tasks") == 1);
    });
}
