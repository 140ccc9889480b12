// A wait's decisions without I/O (detail/wait_state.hpp): when the next read
// is due, when the deadline ends the wait, and what each read's outcome means.
#include <evolink.hpp>
#include <evolink/detail/wait_state.hpp>
#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;
using evolink::task;
using evolink::task_status;
using evolink::detail::outcome;
using evolink::detail::wait_state;

namespace {

/// No jitter, no estimate: the pauses are exactly the policy's.
evolink::poll_policy steady(std::chrono::milliseconds first, std::chrono::milliseconds then)
{
    return {first, then, then, 1.0, 0.0, false};
}

wait_state state_with(evolink::wait_options o)
{
    wait_state st;
    st.id = "task-unified-1";
    st.opts = std::make_shared<const evolink::wait_options>(std::move(o));
    st.api_key = "evk-secret-key-0123";
    return st;
}

task seen(task_status s, int progress = 0, std::string type = "image")
{
    task t;
    t.id = "task-unified-1";
    t.type = std::move(type);
    t.status = s;
    t.status_text = std::string(evolink::to_string(s));
    t.progress = progress;
    return t;
}

outcome<task> read_ok(task t) { return {{}, {}, std::move(t)}; }

outcome<task> read_failed(evolink::error_code ec)
{
    evolink::diagnostics d;
    d.message = "no";
    return {ec, std::move(d), task{}};
}

} // namespace

TEST_CASE("wait_state: the first read is at once; then the schedule of the task's type paces reads")
{
    evolink::wait_options o;
    o.poll = steady(1s, 2s);
    auto st = state_with(o);
    auto now = st.start;
    auto s = st.plan(now);
    CHECK(!s.deadline);
    CHECK(s.delay == 0ms);
    CHECK(s.at == now);

    auto v = st.judge(read_ok(seen(task_status::processing, 10)), std::nullopt, 60s);
    CHECK(!v.end);
    CHECK(!v.log);
    s = st.plan(now);
    CHECK(s.delay == 1s);
    CHECK(s.at == now + 1s);
    CHECK(st.plan(now + 1s).delay == 2s);
    CHECK(st.deadline == st.start + evolink::default_deadline("image"));
}

TEST_CASE("wait_state: a read that would come at or after the deadline is not made")
{
    evolink::wait_options o;
    o.poll = steady(1s, 2s);
    o.deadline = 2500ms;
    auto st = state_with(o);
    REQUIRE(st.observe(seen(task_status::processing)));
    auto s = st.plan(st.start);
    CHECK(!s.deadline);
    CHECK(s.delay == 1s);
    s = st.plan(st.start + 1s); // 2 s more: 3 s >= 2.5 s
    CHECK(s.deadline);
    CHECK(s.at == st.start + 2500ms);
    auto r = st.deadline_exceeded();
    CHECK(r.ec == evolink::errc::deadline_exceeded);
    CHECK(r.diag->task_id == "task-unified-1");
    CHECK(r.diag->message.find("gave up after") != std::string::npos);
    CHECK(r.diag->message.find("last seen processing 0%") != std::string::npos);
    CHECK(r.value.status == task_status::processing);
}

TEST_CASE("wait_state: a transient read error keeps the wait, honours Retry-After up to the cap, and paces like a video")
{
    evolink::wait_options o;
    auto st = state_with(o);
    auto v = st.judge(read_failed(make_error_code(evolink::api_errc::rate_limited)), 90s, 30s);
    CHECK(!v.end);
    REQUIRE(v.log);
    CHECK(v.log->level == evolink::log_level::warning);
    CHECK(v.log->message.find("reading task-unified-1 failed") != std::string::npos);
    REQUIRE(st.schedule);
    CHECK(st.deadline == st.start + evolink::default_deadline(""));
    auto s = st.plan(st.start);
    CHECK(s.delay == 30s); // more than the video preset's first 15 s (jittered): the capped Retry-After
    CHECK(st.min_next_delay == 0ms);
}

TEST_CASE("wait_state: a permanent read error ends the wait with the id and the last task")
{
    auto st = state_with({});
    REQUIRE(st.observe(seen(task_status::processing, 40)));
    auto v = st.judge(read_failed(make_error_code(evolink::api_errc::not_found)), std::nullopt, 30s);
    REQUIRE(v.end);
    CHECK(v.end->ec == evolink::api_errc::not_found);
    CHECK(v.end->diag->task_id == "task-unified-1");
    CHECK(v.end->diag->task_status == "processing");
    CHECK(v.end->value.progress == 40);
}

TEST_CASE("wait_state: terminal states end the wait; a failed task's message is redacted")
{
    auto st = state_with({});
    auto done = st.judge(read_ok(seen(task_status::completed, 100)), std::nullopt, 30s);
    REQUIRE(done.end);
    CHECK(!done.end->ec);
    CHECK(done.end->value.status == task_status::completed);

    auto failed = seen(task_status::failed);
    failed.error = evolink::task_error{"content_policy_violation", "flagged for evk-secret-key-0123", "task_error", ""};
    auto st2 = state_with({});
    auto v = st2.judge(read_ok(failed), std::nullopt, 30s);
    REQUIRE(v.end);
    CHECK(v.end->ec == evolink::errc::task_failed);
    CHECK(v.end->diag->code == "content_policy_violation");
    CHECK(v.end->diag->message.find("evk-secret-key-0123") == std::string::npos);

    auto st3 = state_with({});
    auto c = st3.judge(read_ok(seen(task_status::cancelled)), std::nullopt, 30s);
    REQUIRE(c.end);
    CHECK(c.end->ec == evolink::errc::task_cancelled);
}

TEST_CASE("wait_state: progress is reported on change only; a throwing hook ends the wait")
{
    int calls = 0;
    evolink::wait_options o;
    o.on_progress = [&](const task& t) {
        ++calls;
        if (t.progress == 50) throw std::runtime_error("hook broke");
    };
    auto st = state_with(o);
    CHECK(!st.judge(read_ok(seen(task_status::processing, 10)), std::nullopt, 30s).end);
    CHECK(!st.judge(read_ok(seen(task_status::processing, 10)), std::nullopt, 30s).end);
    CHECK(calls == 1);
    auto v = st.judge(read_ok(seen(task_status::processing, 50)), std::nullopt, 30s);
    CHECK(calls == 2);
    REQUIRE(v.end);
    CHECK(v.end->ec == evolink::errc::handler_threw);
    REQUIRE(v.log);
    CHECK(v.log->level == evolink::log_level::error);
    CHECK(v.log->message.find("the task goes on") != std::string::npos);
}

TEST_CASE("wait_state: a cancelled wait says how to resume")
{
    auto st = state_with({});
    auto r = st.aborted();
    CHECK(r.ec == boost::asio::error::operation_aborted);
    CHECK(r.diag->message.find("stopped waiting (cancelled)") != std::string::npos);
    CHECK(r.diag->message.find("wait for task-unified-1 again") != std::string::npos);
}
