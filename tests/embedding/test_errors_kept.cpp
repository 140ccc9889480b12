// Issue 9 (safe to embed): errors keep their information (a throwing hook of
// the caller's is reported as such, with the task id; a bad 206 is never a
// committed file), and secrets stay out of messages and logs (signed result
// URLs, TLS left unverified by a caller-built context, ids the server sends).
#include "../support/fixture.hpp"

#include <boost/asio/ssl/context.hpp>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <random>
#include <stdexcept>
#include <vector>

using evolink::errc;
using evolink::testing::canned_response;
using evolink::testing::fake_server;
namespace fs = std::filesystem;

namespace {

evolink::text_to_image image_req() { return image_request("a red fox in snow"); }

/// Every request target the server saw.
bool any_target_contains(const fake_server& server, const std::string& s)
{
    for (auto& r : server.requests())
        if (contains(r.target, s)) return true;
    return false;
}

canned_response result_answer(unsigned status, std::string body, std::string content_range)
{
    canned_response r;
    r.method = "GET";
    r.path_prefix = "/results/";
    r.status = status;
    r.body = std::move(body);
    r.content_type = "video/mp4";
    if (!content_range.empty()) r.headers = {{"Content-Range", std::move(content_range)}};
    return r;
}

} // namespace

TEST_CASE("on_submitted that throws: handler_threw with the created task's id; no wait, no second creation")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::wait_options o;
        o.poll = fast_poll();
        o.on_submitted = [](const evolink::task&) { throw std::runtime_error("database is down"); };
        evolink::diagnostics diag;
        auto [ec, t] = co_await fx.client.image(image_req(), o, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::handler_threw);
        CHECK(contains(diag.message, "on_submitted threw: database is down"));
        REQUIRE(!t.id.empty());
        CHECK(diag.task_id == t.id); // the caller can wait for it instead of paying twice
        CHECK(fx.server.tasks_created() == 1);
        CHECK(fx.server.count("GET", "/v1/tasks/") == 0);
    });
}

TEST_CASE("on_submitted that throws with a journal: the task is journaled first, so resume finds it")
{
    temp_dir dir;
    fixture fx;
    evolink::file_journal journal((dir.path / "journal").string());
    fx.run([&]() -> asio::awaitable<void> {
        evolink::wait_options o;
        o.poll = fast_poll();
        o.journal = &journal;
        o.on_submitted = [](const evolink::task&) { throw std::runtime_error("database is down"); };
        auto [ec, t] = co_await fx.client.image(image_req(), o, asio::as_tuple(asio::use_awaitable));
        CHECK(ec == errc::handler_threw);
        REQUIRE(!t.id.empty());
        auto open = journal.unfinished();
        REQUIRE(open.size() == 1);
        CHECK(open[0].task_id == t.id);
        // resume picks it up and finishes it: no second creation.
        evolink::wait_options r;
        r.poll = fast_poll();
        auto resumed = co_await fx.client.resume(journal, r);
        REQUIRE(resumed.size() == 1);
        CHECK(resumed[0].task_id == t.id);
        CHECK(!resumed[0].ec);
        CHECK(journal.unfinished().empty());
        CHECK(fx.server.tasks_created() == 1);
    });
}

namespace {
/// A journal kept elsewhere (a remote store): ready() says whether it can
/// record now, and notes how many tasks the server had when it was asked.
struct remote_journal : evolink::journal {
    evolink::testing::fake_server* server = nullptr;
    bool reachable = true;
    std::vector<std::size_t> created_when_asked;
    std::vector<std::string> added;
    void ready() override
    {
        created_when_asked.push_back(server->tasks_created());
        if (!reachable) throw std::runtime_error("store unreachable");
    }
    void add(const evolink::journal_entry& e) override { added.push_back(e.task_id); }
    void finish(std::string_view, std::string_view) override {}
    std::vector<evolink::journal_entry> unfinished() override { return {}; }
};
} // namespace

TEST_CASE("a journal that cannot record fails image() with journal_failed before the creation is sent")
{
    fixture fx;
    remote_journal journal;
    journal.server = &fx.server;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::wait_options o;
        o.poll = fast_poll();
        o.journal = &journal;
        journal.reachable = false;
        evolink::diagnostics diag;
        auto [ec, t] = co_await fx.client.image(image_req(), o, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::journal_failed);
        CHECK(contains(diag.message, "store unreachable"));
        CHECK(t.id.empty());
        CHECK(fx.server.tasks_created() == 0);
        CHECK(fx.server.count("POST", "/v1/images/generations") == 0);
        CHECK(journal.added.empty());

        journal.reachable = true; // asked again before each creation, before it is sent
        auto [ec2, t2] = co_await fx.client.image(image_req(), o, asio::as_tuple(asio::use_awaitable));
        CHECK_FALSE(ec2);
        CHECK(journal.created_when_asked == std::vector<std::size_t>{0, 0});
        CHECK(journal.added == std::vector<std::string>{t2.id});
        CHECK(fx.server.tasks_created() == 1);
    });
}

TEST_CASE("on_progress that throws ends the wait with handler_threw and the task id")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::wait_options o;
        o.poll = fast_poll();
        o.on_progress = [](const evolink::task& t) {
            if (t.status == evolink::task_status::processing) throw std::runtime_error("ui gone");
        };
        auto t = co_await fx.client.submit(image_req());
        evolink::diagnostics diag;
        auto [ec, last] = co_await fx.client.wait(t.id, o, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::handler_threw);
        CHECK(contains(diag.message, "on_progress threw: ui gone"));
        CHECK(diag.task_id == t.id);
        CHECK(last.status == evolink::task_status::processing);
    });
}

TEST_CASE("resume reports a wait whose on_progress threw as an error, not as done")
{
    temp_dir dir;
    fixture fx;
    evolink::file_journal journal((dir.path / "journal").string());
    fx.run([&]() -> asio::awaitable<void> {
        auto a = co_await fx.client.submit(image_req());
        auto b = co_await fx.client.submit(image_req());
        journal.add({a.id, "m", "image", 1});
        journal.add({b.id, "m", "image", 2});
        evolink::wait_options o;
        o.poll = fast_poll();
        o.on_progress = [bad = b.id](const evolink::task& t) {
            if (t.id == bad) throw std::runtime_error("no room for " + t.id);
        };
        auto resumed = co_await fx.client.resume(journal, o);
        REQUIRE(resumed.size() == 2);
        CHECK(resumed[0].task_id == a.id);
        CHECK(!resumed[0].ec);
        CHECK(resumed[1].task_id == b.id);
        CHECK(resumed[1].ec == errc::handler_threw);
        CHECK(resumed[1].diag.task_id == b.id);
        CHECK(contains(resumed[1].diag.message, "no room for " + b.id));
        auto left = journal.unfinished(); // the one that did not finish stays, to resume later
        REQUIRE(left.size() == 1);
        CHECK(left[0].task_id == b.id);
    });
}

TEST_CASE("a logger sink that throws does not fail the operation")
{
    int calls = 0;
    fixture fx([&calls](evolink::client_options opts) {
        opts.logger.min_level = evolink::log_level::debug;
        opts.logger.sink = [&calls](evolink::log_level, std::string_view) {
            ++calls;
            throw std::runtime_error("disk full");
        };
        return opts;
    });
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await fx.client.submit(image_req());
        auto again = co_await fx.client.get_task(t.id);
        CHECK(again.id == t.id);
        CHECK(calls > 0);
    });
}

TEST_CASE("a download whose on_progress throws: handler_threw, no file left")
{
    temp_dir dir;
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_image(fx.client, "a red fox in snow");
        evolink::download_options dl;
        dl.on_progress = [](const evolink::download_progress& p) {
            if (p.received > 0) throw std::runtime_error("progress bar broke");
        };
        evolink::diagnostics diag;
        auto [ec, r] = co_await fx.client.download(t.results[0], dir.path / "x.png", dl, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::handler_threw);
        CHECK(contains(diag.message, "on_progress threw: progress bar broke"));
        CHECK(dir.entries() == 0);
    });
}

TEST_CASE("a 206 to a request without Range, or starting elsewhere than asked, is a protocol error; nothing is kept")
{
    temp_dir dir;
    fixture fx([](evolink::client_options opts) {
        opts.retry.initial_backoff = 1ms;
        opts.retry.max_backoff = 1ms;
        return opts;
    });
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_image(fx.client, "a red fox in snow");
        auto url = t.results[0];

        // No Range sent, yet a 206: the body is a piece, not the file.
        fx.server.inject(result_answer(206, "abc", "bytes 100-102/1000"));
        evolink::diagnostics diag;
        auto [ec, r] = co_await fx.client.download(url, dir.path / "a.png", {}, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::protocol_error);
        CHECK(contains(diag.message, "without Range"));
        CHECK(dir.entries() == 0);

        // A cut transfer resumed with Range bytes=N-, answered from byte 0.
        auto cut = result_fault(evolink::testing::fault::cut_body);
        fx.server.inject(cut);
        fx.server.inject(result_answer(206, "abc", "bytes 0-2/" + std::to_string(fx.server.result_content(url).size())));
        auto [ec2, r2] = co_await fx.client.download(url, dir.path / "b.png", {}, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec2 == errc::protocol_error);
        CHECK(contains(diag.message, "Content-Range \"bytes 0-2/"));
        auto seen = fx.server.requests();
        REQUIRE(seen.back().headers.count("range") == 1);
        CHECK(seen.back().headers["range"] != "bytes=0-");
        CHECK(dir.entries() == 0);
    });
}

TEST_CASE("the query of a signed result URL appears in no error message and no log line")
{
    temp_dir dir;
    evolink::testing::fake_server_options so;
    so.result_ranges = false; // a cut starts again from zero: two cuts use up two attempts
    log_capture logs;
    fixture fx(so, [&](evolink::client_options opts) {
        opts.logger = logs.logger();
        opts.retry.initial_backoff = 1ms;
        opts.retry.max_backoff = 1ms;
        opts.retry.max_attempts = 2;
        return opts;
    });
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await finished_image(fx.client, "a red fox in snow");
        auto signed_url = t.results[0] + "?X-Amz-Credential=AKIDEXAMPLE&X-Amz-Signature=secret123";

        // Cut twice (retried, then given up), then an expired link (404).
        auto cut = result_fault(evolink::testing::fault::cut_body);
        cut.times = 2;
        fx.server.inject(cut);
        std::string what;
        try {
            co_await fx.client.download(signed_url, dir.path / "cut.png");
        } catch (const evolink::error& e) {
            what = e.what();
        }
        CHECK(!what.empty());
        // An error page that echoes the signature (as S3's SignatureDoesNotMatch does).
        fx.server.inject(result_answer(404, "<Error><SignatureProvided>secret123</SignatureProvided></Error>", ""));
        evolink::diagnostics diag;
        auto [ec, r] = co_await fx.client.download(signed_url, dir.path / "gone.png", {}, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == evolink::api_errc::not_found);
        CHECK(any_target_contains(fx.server, "X-Amz-Signature=secret123")); // it was sent...
        for (auto& text : {what, diag.message, diag.summary()}) {
            CHECK(!contains(text, "secret123")); // ...and never shown
            CHECK(!contains(text, "AKIDEXAMPLE"));
            CHECK(contains(text, "?\u2026"));
        }
        auto ok = co_await fx.client.download(signed_url, dir.path / "ok.png"); // logs "downloaded ..."
        CHECK(ok.bytes > 0);
        CHECK(!logs.lines->empty());
        CHECK(!logs.any_contains("secret123"));
        CHECK(!logs.any_contains("AKIDEXAMPLE"));
    });
}

TEST_CASE("a caller-built ssl::context left at verify_none is warned about")
{
    env_guard env;
    asio::io_context io;
    fake_server server(io.get_executor());
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_verify_mode(asio::ssl::verify_none);
    log_capture logs;
    auto opts = server.client_options();
    opts.tls.context = ctx;
    opts.logger = logs.logger();
    {
        evolink::client client(io.get_executor(), opts);
        CHECK(logs.any_contains("verification is OFF"));
        CHECK(logs.any_contains("tls_options::context"));
    }
    // A verifying context: no warning.
    log_capture quiet;
    opts.tls.context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    opts.tls.context->set_verify_mode(asio::ssl::verify_peer);
    opts.logger = quiet.logger();
    evolink::client verifying(io.get_executor(), opts);
    CHECK(!quiet.any_contains("verification is OFF"));
    server.stop();
    io.run_for(5s);
}

TEST_CASE("a task id from the server that cannot be one is a bad response and never goes into a request")
{
    fixture fx(no_retry);
    fx.run([&]() -> asio::awaitable<void> {
        canned_response bad;
        bad.method = "POST";
        bad.path_prefix = "/v1/";
        bad.status = 200;
        bad.body = R"({"id":"../files/x?y\"","object":"image.generation.task","status":"pending","progress":0})";
        fx.server.inject(bad);
        evolink::wait_options o;
        o.poll = fast_poll();
        evolink::diagnostics diag;
        auto [ec, t] = co_await fx.client.image(image_req(), o, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::bad_response);
        CHECK(contains(diag.message, R"("../files/x?y\"")")); // quoted, escaped
        CHECK(fx.server.count("GET", "/") == 0);
        CHECK(!any_target_contains(fx.server, "files/x"));
    });
}

TEST_CASE("a file id from the server that cannot be one is a bad response, for an upload and for a list")
{
    fixture fx(no_retry);
    fx.run([&]() -> asio::awaitable<void> {
        const std::string bad_file =
            R"({"file_id":"../tasks/x","file_name":"a.png","file_size":3,"file_url":"https://files.example/a.png"})";
        canned_response upload;
        upload.method = "POST";
        upload.path_prefix = "/api/v1/files/upload/";
        upload.status = 200;
        upload.body = R"({"success":true,"code":200,"msg":"ok","data":)" + bad_file + "}";
        fx.server.inject(upload);
        evolink::diagnostics diag;
        auto [ec, f] = co_await fx.client.upload_bytes(make_png(400, 400), "", {}, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::bad_response);
        CHECK(contains(diag.message, R"(file id "../tasks/x")"));
        CHECK(contains(diag.message, "https://files.example/a.png")); // where it was stored, all the same

        canned_response list;
        list.method = "GET";
        list.path_prefix = "/api/v1/files/list";
        list.status = 200;
        list.body = R"({"success":true,"code":200,"msg":"ok","data":{"total":1,"files":[)" + bad_file + "]}}";
        fx.server.inject(list);
        evolink::diagnostics ldiag;
        auto [lec, l] = co_await fx.client.list_files(1, 20, evolink::with_diagnostics(ldiag, asio::as_tuple(asio::use_awaitable)));
        CHECK(lec == errc::bad_response);
        CHECK(l.files.empty()); // all or nothing
        CHECK(contains(ldiag.message, R"(file id "../tasks/x")"));
        CHECK(!any_target_contains(fx.server, "tasks/x"));
    });
}

TEST_CASE("durations that would time out at once are refused at construction, naming the field")
{
    env_guard env;
    asio::io_context io;
    using ms = std::chrono::milliseconds;
    struct bad_case {
        const char* field;
        std::function<void(evolink::client_options&)> set;
    };
    const bad_case cases[] = {
        {"connect_timeout", [](auto& o) { o.connect_timeout = ms(0); }},
        {"handshake_timeout", [](auto& o) { o.handshake_timeout = ms(-5); }},
        {"request_timeout", [](auto& o) { o.request_timeout = ms(0); }},
        {"idle_timeout", [](auto& o) { o.idle_timeout = ms(-1); }},
        {"retry.initial_backoff", [](auto& o) { o.retry.initial_backoff = ms(-1); }},
        {"retry.max_backoff", [](auto& o) { o.retry.max_backoff = ms(-1); }},
        {"retry.budget", [](auto& o) { o.retry.budget = ms(-1); }},
        {"retry.max_retry_after", [](auto& o) { o.retry.max_retry_after = ms(-1); }},
        {"retry.multiplier", [](auto& o) { o.retry.multiplier = 0.5; }},
    };
    for (auto& c : cases) {
        evolink::client_options o;
        o.api_key = "evk-test-0123456789abcdef";
        c.set(o);
        INFO(c.field);
        try {
            evolink::client client(io.get_executor(), o);
            FAIL("accepted");
        } catch (const evolink::error& e) {
            CHECK(e.code() == errc::invalid_options);
            CHECK(e.get_diagnostics().param == c.field);
            CHECK(contains(e.get_diagnostics().message, c.field));
        }
    }
    // Zero where it means something (no backoff, no retry budget) is fine.
    evolink::client_options o;
    o.api_key = "evk-test-0123456789abcdef";
    o.retry.initial_backoff = ms(0);
    o.retry.budget = ms(0);
    CHECK_NOTHROW(evolink::client(io.get_executor(), o));
}
