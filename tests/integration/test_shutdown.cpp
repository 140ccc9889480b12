// client::shutdown, as a server calls it on SIGTERM: new operations fail at
// once, a sleeping wait ends (its task stays unfinished in the journal), a
// creation already on the wire gets its answer, a download in flight stops
// and leaves no file, and the handler runs once nothing of the client runs
// (the io_context then runs dry). Against the fake server over TLS; counts,
// not timings.
#include "../support/fixture.hpp"

#include <evolink/journal.hpp>

#include <future>
#include <thread>

using evolink::errc;
using evolink::task_status;
using evolink::testing::canned_response;
using evolink::testing::task_script;
namespace fs = std::filesystem;

namespace {

struct op_end_seen {
    int calls = 0;
    evolink::error_code ec;
};

} // namespace

TEST_CASE("shutdown with nothing running: at once; then every operation fails with shut_down, nothing sent")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto running = co_await fx.client.shutdown(1s);
        CHECK(running == 0);
        evolink::diagnostics diag;
        auto [ec, t] = co_await fx.client.get_task("task-unified-1764688000-aaaaaaaa",
                                                   evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::shut_down);
        CHECK(contains(diag.message, "nothing was sent"));
        auto [sec, st] = co_await fx.client.submit(image_request("x"), asio::as_tuple(asio::use_awaitable));
        CHECK(sec == errc::shut_down);
        CHECK(fx.server.requests().empty());
        CHECK(co_await fx.client.shutdown(1s) == 0); // again: still fine
    });
}

TEST_CASE("shutdown: a sleeping wait ends, a creation on the wire gets its task, a download stops")
{
    temp_dir dir;
    evolink::file_journal journal((dir.path / "journal").string());
    log_capture logs;
    fixture fx([&](evolink::client_options o) {
        o.logger = logs.logger(evolink::log_level::info);
        return o;
    });
    fx.run([&]() -> asio::awaitable<void> {
        // A task that stays processing, waited for with a slow poll: asleep.
        task_script never;
        never.step_interval = 1h;
        fx.server.push_script(never);
        auto slow_task = co_await fx.client.submit(image_request("a slow one"));
        auto done_task = co_await finished_image(fx.client, "a finished one");
        evolink::wait_options wo;
        wo.poll = poll_every(1h);
        wo.journal = &journal;
        op_end_seen wait, download;
        fx.client.wait(slow_task.id, wo, [&](evolink::error_code ec, evolink::task) {
            ++wait.calls;
            wait.ec = ec;
        });
        // A download whose body trickles.
        auto slow_body = result_fault(evolink::testing::fault::slow_body);
        slow_body.delay = 30s;
        fx.server.inject(slow_body);
        fx.client.download(done_task.results[0], dir.path / "out.png", [&](evolink::error_code ec, evolink::download_result) {
            ++download.calls;
            download.ec = ec;
        });
        // A creation whose answer the server holds back.
        canned_response held;
        held.method = "POST";
        held.path_prefix = "/v1/images/generations";
        held.status = 0; // the real answer (the task made), later
        held.process = true;
        held.delay = 500ms;
        fx.server.inject(held);
        op_end_seen created;
        evolink::task created_task;
        fx.client.submit(image_request("on the wire"), [&](evolink::error_code ec, evolink::task t) {
            ++created.calls;
            created.ec = ec;
            created_task = std::move(t);
        });
        co_await until([&] {
            return fx.server.count("POST", "/v1/images/generations") == 3 && fx.server.count("GET", "/results/") == 1 &&
                   fx.server.task_reads(slow_task.id) == 1;
        });
        auto posts_before = fx.server.count("POST", "/v1/images/generations");

        auto running = co_await fx.client.shutdown(5s);

        CHECK(running == 3); // the wait, the download, the creation
        CHECK(wait.calls == 1);
        CHECK(wait.ec == asio::error::operation_aborted);
        CHECK(download.calls == 1);
        CHECK(download.ec);
        CHECK(!fs::exists(dir.path / "out.png"));
        CHECK(created.calls == 1);
        CHECK(!created.ec); // its answer came within the grace period
        CHECK(!created_task.id.empty());
        CHECK(fx.server.tasks_created() == 3);
        CHECK(fx.server.count("POST", "/v1/images/generations") == posts_before); // nothing sent after
        auto unfinished = journal.unfinished();
        REQUIRE(unfinished.size() == 1); // the wait's task stays for resume
        CHECK(unfinished[0].task_id == slow_task.id);
        auto [ec, t] = co_await fx.client.get_task(slow_task.id, asio::as_tuple(asio::use_awaitable));
        CHECK(ec == errc::shut_down);
    });
    // run_test required the io_context to run dry: no timer or connection left.
    CHECK(logs.any_contains("shutting down: 3 operation(s) running"));
}

TEST_CASE("shutdown: after the grace period, a creation whose answer has not come is stopped")
{
    log_capture logs;
    fixture fx([&](evolink::client_options o) {
        o.logger = logs.logger(evolink::log_level::info);
        return o;
    });
    fx.run([&]() -> asio::awaitable<void> {
        canned_response held;
        held.method = "POST";
        held.path_prefix = "/v1/images/generations";
        held.status = 0;
        held.process = true;
        held.delay = 20s;
        fx.server.inject(held);
        op_end_seen created;
        fx.client.submit(image_request("on the wire"), [&](evolink::error_code ec, evolink::task) {
            ++created.calls;
            created.ec = ec;
        });
        co_await until([&] { return fx.server.count("POST", "/v1/images/generations") == 1; });
        auto running = co_await fx.client.shutdown(200ms);
        CHECK(running == 1);
        CHECK(created.calls == 1);
        CHECK(created.ec); // stopped: the task may exist (its id unknown)
        CHECK(logs.any_contains("still running after the grace period: stopped now"));
        fx.server.stop(); // the held answer is dropped with the server
    });
}

TEST_CASE("shutdown from another thread, with a future, while the io_context runs elsewhere")
{
    fixture fx;
    std::thread runner([&] {
        auto guard = asio::make_work_guard(fx.io);
        fx.io.run_for(30s);
    });
    auto t = fx.client.submit(image_request("x"), asio::use_future).get();
    CHECK(!t.id.empty());
    evolink::wait_options wo;
    wo.poll = poll_every(1h);
    task_script never;
    never.step_interval = 1h;
    fx.server.push_script(never);
    auto slow = fx.client.submit(image_request("y"), asio::use_future).get();
    std::promise<evolink::error_code> waited;
    fx.client.wait(slow.id, wo, [&](evolink::error_code ec, evolink::task) { waited.set_value(ec); });
    while (fx.server.task_reads(slow.id) == 0) std::this_thread::sleep_for(1ms);
    auto running = fx.client.shutdown(1s, asio::use_future).get();
    CHECK(running == 1);
    CHECK(waited.get_future().get() == asio::error::operation_aborted);
    fx.server.stop();
    fx.io.stop();
    runner.join();
}
