// Waiting for tasks: paced polling, progress, deadline, task errors,
// cancellation, and one-call image()/video()/generate().
#include "../support/fixture.hpp"

#include <boost/json.hpp>

using evolink::task_status;
using evolink::testing::canned_response;
using evolink::testing::fake_server;
using evolink::testing::task_script;

namespace {

evolink::text_to_image image_req() { return image_request("a red fox in snow"); }

} // namespace

TEST_CASE("wait reports each change of status and progress, then returns the completed task")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await fx.client.submit(image_req());
        std::vector<std::pair<task_status, int>> seen;
        evolink::wait_options o;
        o.poll = fast_poll();
        o.on_progress = [&](const evolink::task& p) { seen.emplace_back(p.status, p.progress); };
        auto done = co_await fx.client.wait(t, o);
        CHECK(done.status == task_status::completed);
        CHECK(done.results.size() == 1);
        CHECK(seen == std::vector<std::pair<task_status, int>>{{task_status::pending, 0}, {task_status::processing, 25},
                                                               {task_status::processing, 50}, {task_status::processing, 75},
                                                               {task_status::completed, 100}});
        // Four reads, no more: each one advanced the task (the first came after the initial delay).
        CHECK(fx.server.count("GET", "/v1/tasks/") == 4);
    });
}

TEST_CASE("progress is reported only on change, however often the task is read")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        task_script slow;
        slow.progress = {40};
        slow.step_interval = 150ms; // time-driven: many reads see the same state
        fx.server.push_script(slow);
        auto t = co_await fx.client.submit(image_req());
        int calls = 0;
        evolink::wait_options o;
        o.poll = fast_poll();
        o.on_progress = [&](const evolink::task&) { ++calls; };
        auto done = co_await fx.client.wait(t.id, o);
        CHECK(done.status == task_status::completed);
        CHECK(fx.server.count("GET", "/v1/tasks/") > 10);
        CHECK(calls == 3); // pending, processing 40, completed
    });
}

TEST_CASE("image() and video() submit, hand over the task id, then wait")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        std::vector<std::string> events;
        evolink::wait_options o;
        o.poll = fast_poll();
        o.on_submitted = [&](const evolink::task& t) { events.push_back("submitted " + std::string(to_string(t.status))); };
        o.on_progress = [&](const evolink::task& t) { events.push_back(std::string(to_string(t.status))); };
        auto img = co_await fx.client.image(image_req(), o);
        CHECK(img.status == task_status::completed);
        REQUIRE(events.size() >= 2);
        CHECK(events[0] == "submitted pending");
        CHECK(events.back() == "completed");

        evolink::image_to_video v;
        v.prompt = "the fox runs";
        v.image_url = img.results.at(0);
        auto vid = co_await fx.client.video(v, o);
        CHECK(vid.type == "video");
        CHECK(vid.results.at(0).ends_with(".mp4"));

        evolink::generic_request g;
        g.model = "wan2.6-text-to-video";
        g.fields = {{"prompt", "comet"}};
        auto gen = co_await fx.client.generate(g, o);
        CHECK(gen.status == task_status::completed);
    });
}

TEST_CASE("wait resumes from a bare id, reading it at once")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await fx.client.submit(image_req());
        evolink::wait_options o;
        o.poll = evolink::poll_policy{10s, 10ms, 10ms, 1.0, 0.0, false};
        // The initial delay applies after the first read only: a bare id is read immediately.
        auto start = std::chrono::steady_clock::now();
        std::vector<int> progress;
        o.on_progress = [&](const evolink::task& p) {
            progress.push_back(p.progress);
            if (progress.size() == 1) CHECK(std::chrono::steady_clock::now() - start < 1s);
        };
        o.deadline = 200ms;
        evolink::diagnostics diag;
        auto [ec, last] = co_await fx.client.wait(t.id, o, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == evolink::errc::deadline_exceeded);
        CHECK(progress == std::vector<int>{25});
    });
}

TEST_CASE("the deadline ends the wait with the task id and the last status seen")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        task_script never;
        never.step_interval = 1h;
        fx.server.push_script(never);
        auto t = co_await fx.client.submit(image_req());
        evolink::wait_options o;
        o.poll = poll_every(50ms);
        o.deadline = 300ms;
        auto start = std::chrono::steady_clock::now();
        try {
            co_await fx.client.wait(t, o);
            FAIL("no deadline");
        } catch (const evolink::error& e) {
            auto took = std::chrono::steady_clock::now() - start;
            CHECK(e.code() == evolink::errc::deadline_exceeded);
            CHECK(e.get_diagnostics().task_id == t.id);
            CHECK(e.get_diagnostics().task_status == "pending");
            CHECK(contains(e.what(), t.id));
            CHECK(took >= 290ms);
            CHECK(took < 1s);
        }
    });
}

TEST_CASE("every task error code ends the wait with task_failed, its message and retryability")
{
    const std::vector<std::pair<std::string, bool>> codes = {
        {"content_policy_violation", false}, {"invalid_parameters", false},      {"image_processing_error", false},
        {"image_dimension_mismatch", false}, {"request_cancelled", false},       {"generation_failed_no_content", true},
        {"service_error", true},             {"generation_timeout", true},       {"resource_exhausted", true},
        {"quota_exceeded", true},            {"service_unavailable", true},      {"resource_not_found", true},
        {"unknown_error", true},             {"some_new_code", false}};
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::wait_options o;
        o.poll = fast_poll();
        for (auto& [code, retryable] : codes) {
            INFO(code);
            task_script s;
            s.progress = {50};
            s.outcome = task_status::failed;
            s.error_code = code;
            s.error_message = "because " + code;
            fx.server.push_script(s);
            evolink::diagnostics diag;
            auto [ec, t] = co_await fx.client.image(image_req(), o, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
            CHECK(ec == evolink::errc::task_failed);
            CHECK(diag.code == code);
            CHECK(diag.message == "because " + code);
            CHECK(diag.retryable == retryable);
            CHECK(diag.task_status == "failed");
            CHECK(diag.task_id == t.id);
            CHECK(t.status == task_status::failed); // the failed task comes along
        }
        task_script c;
        c.outcome = task_status::cancelled;
        fx.server.push_script(c);
        evolink::diagnostics diag;
        auto [ec, t] = co_await fx.client.image(image_req(), o, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == evolink::errc::task_cancelled);
        CHECK(diag.code == "request_cancelled");
    });
}

TEST_CASE("a transient failure of one read does not end the wait; a permanent one does")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await fx.client.submit(image_req());
        for (unsigned status : {503u, 429u, 500u, 502u}) {
            canned_response c;
            c.method = "GET";
            c.status = status;
            c.body = status == 502 ? "<html>bad gateway</html>" : "";
            fx.server.inject(c);
        }
        canned_response drop; // the connection closes without an answer being usable
        drop.method = "GET";
        drop.status = 200;
        drop.body = "{";
        drop.close_connection = true;
        evolink::wait_options o;
        o.poll = fast_poll();
        auto done = co_await fx.client.wait(t, o);
        CHECK(done.status == task_status::completed);
        CHECK(fx.server.count("GET", "/v1/tasks/") == 8); // 4 failures + 4 real reads

        auto t2 = co_await fx.client.submit(image_req());
        canned_response denied;
        denied.method = "GET";
        denied.status = 401;
        denied.body = R"({"error":{"code":401,"message":"key revoked","type":"authentication_error"}})";
        fx.server.inject(denied);
        evolink::diagnostics diag;
        auto [ec, last] = co_await fx.client.wait(t2, o, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == evolink::api_errc::unauthorized);
        CHECK(diag.task_id == t2.id);
        CHECK(diag.task_status == "pending");
    });
}

TEST_CASE("an unknown status keeps the wait going")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await fx.client.submit(image_req());
        auto odd = evolink::to_json(t);
        odd["status"] = "queued_for_gpu";
        canned_response c;
        c.method = "GET";
        c.status = 200;
        c.body = boost::json::serialize(odd);
        c.times = 3;
        fx.server.inject(c);
        std::vector<std::string> statuses;
        evolink::wait_options o;
        o.poll = fast_poll();
        o.on_progress = [&](const evolink::task& p) { statuses.push_back(p.status_text); };
        auto done = co_await fx.client.wait(t, o);
        CHECK(done.status == task_status::completed);
        REQUIRE(statuses.size() >= 3);
        CHECK(statuses[1] == "queued_for_gpu");
    });
}

TEST_CASE("cancellation stops a wait at once, asleep or mid-request, and leaves nothing pending")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        auto t = co_await fx.client.submit(image_req());
        for (bool mid_request : {false, true}) {
            INFO("mid request: " << mid_request);
            evolink::wait_options o;
            o.poll = mid_request ? poll_every(1ms) : poll_every(10s);
            if (mid_request) {
                canned_response slow;
                slow.method = "GET";
                slow.status = 200;
                slow.body = boost::json::serialize(evolink::to_json(t));
                slow.delay = 10s;
                fx.server.inject(slow);
            }
            asio::cancellation_signal signal;
            asio::steady_timer timer(ex, 100ms);
            timer.async_wait([&](auto) { signal.emit(asio::cancellation_type::terminal); });
            auto start = std::chrono::steady_clock::now();
            evolink::diagnostics diag;
            auto [ec, last] = co_await fx.client.wait(
                t, o, evolink::with_diagnostics(diag, asio::bind_cancellation_slot(signal.slot(), asio::as_tuple(asio::use_awaitable))));
            CHECK(ec == asio::error::operation_aborted);
            CHECK(std::chrono::steady_clock::now() - start < 1s);
            CHECK(diag.task_id == t.id);
            CHECK(contains(diag.message, "again"));
        }
    });
    // run_test required the io_context to run dry: no timer and no request left.
}

TEST_CASE("wait with a callback token completes exactly once")
{
    fixture fx;
    int completions = 0;
    evolink::wait_options o;
    o.poll = fast_poll();
    fx.client.image(image_req(), o, [&](evolink::error_code ec, evolink::task t) {
        ++completions;
        CHECK(!ec);
        CHECK(t.status == task_status::completed);
        fx.server.stop();
    });
    fx.io.run_for(30s);
    CHECK(completions == 1);
    CHECK(fx.io.stopped());
}
