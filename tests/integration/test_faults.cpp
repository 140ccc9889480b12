// The fault matrix: every fault the fake server can inject, against submit,
// get, wait and callbacks. Each cell asserts the recovery (or the error), the
// number of creation requests and of tasks created (never two billed tasks
// for one logical submit), that the io_context runs dry, and that the API key
// appears in no log line or error text. The table is printed at the end.
// The client reaches the server as `localhost`, so every connection goes
// through the resolver (one row makes a lookup hang).
#include "../support/fixture.hpp" // <evolink/testing.hpp>: the fake server and its fault kinds, the resolve-delay seam

#include <boost/json.hpp>

#include <iomanip>
#include <iostream>
#include <list>
#include <set>
#include <sstream>

using evolink::task_status;
using evolink::testing::canned_response;
using evolink::testing::fake_server;
using evolink::testing::fake_server_options;
using evolink::testing::fault;

namespace {

const std::string secret_key = "sk-matrix-SECRET-5f3a9c21";

struct fault_case {
    std::string name;
    std::function<void(fake_server&, const std::string& method_prefix)> inject;
};

canned_response canned(std::string method, std::string prefix)
{
    canned_response c;
    c.method = std::move(method);
    c.path_prefix = std::move(prefix);
    return c;
}

std::vector<fault_case> faults()
{
    auto api_error = [](unsigned status, std::string body, std::string type, int times,
                        std::vector<std::pair<std::string, std::string>> headers = {}) {
        return [=](fake_server& s, const std::string& m) {
            auto c = canned(m, m == "POST" ? "/v1/" : "/v1/tasks/");
            c.status = status;
            c.body = body;
            c.content_type = type;
            c.times = times;
            c.headers = headers;
            s.inject(c);
        };
    };
    auto broken = [](fault kind, bool process, unsigned status, std::string body, std::chrono::milliseconds delay = {}) {
        return [=](fake_server& s, const std::string& m) {
            auto c = canned(m, m == "POST" ? "/v1/" : "/v1/tasks/");
            c.kind = kind;
            c.process = process;
            c.status = status;
            c.body = body;
            c.delay = delay;
            s.inject(c);
        };
    };
    const std::string rate = R"({"error":{"code":429,"message":"retry after 60 seconds","type":"rate_limit_error"}})";
    return {
        {"429 + Retry-After", api_error(429, rate, "application/json", 1, {{"Retry-After", "1"}})},
        {"429, no Retry-After", api_error(429, rate, "application/json", 1)},
        {"5xx burst (3 x 503)", api_error(503, R"({"error":{"code":503,"message":"busy","type":"service_unavailable_error"}})",
                                          "application/json", 3)},
        {"HTML 502 page", api_error(502, "<html><h1>502 Bad Gateway</h1></html>", "text/html", 1)},
        {"empty 503 body", api_error(503, "", "", 1)},
        {"reset before response", broken(fault::reset, false, 0, "")},
        {"processed, then reset", broken(fault::reset, true, 0, "")},
        {"processed, body cut", broken(fault::cut_body, true, 0, "")},
        {"truncated JSON (200)", broken(fault::none, true, 200, "{\"id\":\"task-unified-1")},
        {"invalid JSON (200)", broken(fault::none, true, 200, "<html>ok</html>")},
        {"slow headers", broken(fault::none, true, 0, "", 600ms)},
        {"slow body", broken(fault::slow_body, true, 0, "", 900ms)},
        {"body over the limit", broken(fault::none, true, 200, "{\"pad\":\"" + std::string(70000, 'x') + "\"}")},
        {"Connection: close", [](fake_server& s, const std::string& m) {
             auto c = canned(m, m == "POST" ? "/v1/" : "/v1/tasks/");
             c.process = true;
             c.status = 0;
             c.close_connection = true;
             s.inject(c);
         }},
        {"TLS handshake fails", [](fake_server& s, const std::string&) { s.fail_handshakes(1); }},
        {"wrong Content-Length, then close", broken(fault::wrong_length, true, 0, "")},
        // An id that could not go into a request path ("../v1/files/x"): a
        // bad answer, read again (the Idempotency-Key makes a resent creation
        // return the same task), never used in a request.
        {"task id that cannot be one (200)",
         broken(fault::none, true, 200, R"({"id":"../v1/files/x","object":"image.generation.task","status":"pending"})")},
        {"DNS lookup over connect_timeout", [](fake_server&, const std::string&) {
             // The next lookup hangs: it gives up at connect_timeout (1 s)
             // with nothing sent, and the retry's lookup answers. A read on
             // a pooled connection makes no lookup (and sees no fault).
             evolink::testing::set_resolve_delay(std::chrono::hours(1), 1);
         }},
    };
}

/// The matrix's client options (a fixture tweak), logging into `logs`.
auto matrix_options(const log_capture& logs, bool keys = true)
{
    return [logger = logs.logger(), keys](evolink::client_options o, const fake_server& server) {
        o.base_url = o.files_base_url = "https://localhost:" + std::to_string(server.port());
        o.api_key = secret_key;
        o.connect_timeout = 1s;
        o.request_timeout = 300ms;
        o.max_response_body_bytes = 64 * 1024;
        o.retry.initial_backoff = 10ms;
        o.retry.max_backoff = 40ms;
        o.retry.max_retry_after = 50ms; // the Retry-After of 1 s is honoured up to this cap
        o.retry.budget = 10s;
        o.retry.max_attempts = 5;
        o.retry.idempotency_keys = keys;
        o.logger = logger;
        return o;
    };
}

fake_server_options matrix_server()
{
    fake_server_options so;
    so.api_key = secret_key;
    so.callback_retry_delays = {20ms, 40ms, 80ms};
    return so;
}

std::string describe(const evolink::error_code& ec)
{
    if (!ec) return "ok";
    if (ec == asio::error::operation_aborted) return "aborted";
    std::string cat = ec.category().name();
    if (cat == "evolink.api") return "HTTP " + std::to_string(ec.value());
    static const char* names[] = {"?", "invalid_request", "invalid_options", "missing_api_key", "timeout",
                                  "connect_failed", "tls_failed", "connection_lost", "protocol_error",
                                  "response_too_large", "bad_response", "task_failed", "task_cancelled",
                                  "deadline_exceeded", "outcome_unknown", "journal_failed",
                                  "handler_threw", "internal_error"};
    if (cat == "evolink" && ec.value() > 0 && ec.value() < int(std::size(names))) return names[ec.value()];
    return ec.message();
}

struct row {
    std::string fault;
    std::map<std::string, std::string> cells;
};

std::vector<row> table;
std::string all_text; // every log line and error text of the matrix

void record(const std::string& fault, const std::string& op, const std::string& outcome)
{
    auto it = std::find_if(table.begin(), table.end(), [&](const row& r) { return r.fault == fault; });
    if (it == table.end()) {
        table.push_back({fault, {}});
        it = table.end() - 1;
    }
    it->cells[op] = outcome;
}

} // namespace

TEST_CASE("fault matrix: submit recovers without ever creating two tasks")
{
    for (auto& f : faults()) {
        INFO("fault: " << f.name);
        evolink::testing::resolve_delay_guard unarmed(0ms); // no delay left over for the next row
        log_capture logs;
        fixture fx(matrix_server(), matrix_options(logs));
        evolink::error_code ec;
        evolink::diagnostics diag;
        evolink::task t;
        fx.run([&]() -> asio::awaitable<void> {
            f.inject(fx.server, "POST");
            evolink::text_to_image req;
            req.prompt = "matrix";
            std::tie(ec, t) = co_await fx.client.submit(req, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        });
        all_text += logs.text() + diag.summary() + "\n";
        CHECK(!ec);
        CHECK(t.id.starts_with("task-unified-"));
        CHECK(fx.server.tasks_created() == 1); // one logical submit, one task
        auto posts = fx.server.requests();
        std::set<std::string> keys;
        for (auto& r : posts)
            if (r.method == "POST") keys.insert(r.headers["idempotency-key"]);
        CHECK(keys.size() == 1); // the same key on every attempt
        record(f.name, "submit", describe(ec) + " (" + std::to_string(fx.server.count("POST", "/v1/")) + " POST, " +
                                     std::to_string(fx.server.tasks_created()) + " task)");
    }
}

TEST_CASE("fault matrix: submit without Idempotency-Key never resends an ambiguous request")
{
    for (auto& f : faults()) {
        INFO("fault: " << f.name);
        evolink::testing::resolve_delay_guard unarmed(0ms); // no delay left over for the next row
        log_capture logs;
        fixture fx(matrix_server(), matrix_options(logs, false));
        evolink::error_code ec;
        evolink::diagnostics diag;
        fx.run([&]() -> asio::awaitable<void> {
            f.inject(fx.server, "POST");
            evolink::text_to_image req;
            req.prompt = "matrix";
            auto [e, t] = co_await fx.client.submit(req, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
            ec = e;
        });
        all_text += logs.text() + diag.summary() + "\n";
        auto posts = fx.server.count("POST", "/v1/");
        // Never two tasks; an ambiguous failure is reported, not resent.
        CHECK(fx.server.tasks_created() <= 1);
        if (ec == evolink::errc::outcome_unknown) {
            CHECK(posts == 1);
            CHECK(contains(diag.message, "may or may not exist"));
        } else {
            CHECK(!ec);
            CHECK(fx.server.tasks_created() == 1);
        }
        for (auto& r : fx.server.requests()) CHECK(r.headers.count("idempotency-key") == 0);
        record(f.name, "submit, no key",
               describe(ec) + " (" + std::to_string(posts) + " POST, " + std::to_string(fx.server.tasks_created()) + " task)");
    }
}

TEST_CASE("fault matrix: get_task retries what is worth retrying")
{
    for (auto& f : faults()) {
        INFO("fault: " << f.name);
        evolink::testing::resolve_delay_guard unarmed(0ms); // no delay left over for the next row
        log_capture logs;
        fixture fx(matrix_server(), matrix_options(logs));
        evolink::error_code ec;
        evolink::diagnostics diag;
        fx.run([&]() -> asio::awaitable<void> {
            evolink::text_to_image req;
            req.prompt = "matrix";
            auto created = co_await fx.client.submit(req);
            f.inject(fx.server, "GET");
            auto [e, t] = co_await fx.client.get_task(created.id, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
            ec = e;
            if (!e) CHECK(t.id == created.id);
        });
        all_text += logs.text() + diag.summary() + "\n";
        if (f.name == "body over the limit") CHECK(ec == evolink::errc::response_too_large); // not retried: it would recur
        else CHECK(!ec);
        CHECK(fx.server.tasks_created() == 1);
        for (auto& r : fx.server.requests()) CHECK_FALSE(contains(r.target, "files/x")); // a bad id is never used
        record(f.name, "get", describe(ec) + " (" + std::to_string(fx.server.count("GET", "/v1/tasks/")) + " GET)");
    }
}

TEST_CASE("fault matrix: a wait rides out every fault of a read")
{
    for (auto& f : faults()) {
        INFO("fault: " << f.name);
        evolink::testing::resolve_delay_guard unarmed(0ms); // no delay left over for the next row
        log_capture logs;
        fixture fx(matrix_server(), matrix_options(logs));
        evolink::error_code ec;
        evolink::diagnostics diag;
        fx.run([&]() -> asio::awaitable<void> {
            evolink::text_to_image req;
            req.prompt = "matrix";
            auto created = co_await fx.client.submit(req);
            f.inject(fx.server, "GET");
            evolink::wait_options o;
            o.poll = fast_poll();
            o.deadline = 20s;
            auto [e, t] = co_await fx.client.wait(created, o, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
            ec = e;
            if (!e) CHECK(t.status == task_status::completed);
        });
        all_text += logs.text() + diag.summary() + "\n";
        if (f.name == "body over the limit") CHECK(ec == evolink::errc::response_too_large);
        else CHECK(!ec);
        for (auto& r : fx.server.requests()) CHECK_FALSE(contains(r.target, "files/x")); // a bad id is never used
        record(f.name, "wait", describe(ec));
    }
}

TEST_CASE("fault matrix: expired tasks, and callbacks duplicated, late or lost")
{
    {
        log_capture logs;
        fixture fx(matrix_server(), matrix_options(logs));
        evolink::error_code get_ec, wait_ec;
        evolink::diagnostics diag;
        fx.run([&]() -> asio::awaitable<void> {
            evolink::text_to_image req;
            req.prompt = "matrix";
            auto t = co_await fx.client.submit(req);
            fx.server.expire(t.id);
            co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
            std::tie(get_ec, std::ignore) = co_await fx.client.get_task(t.id, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
            CHECK(diag.code == "resource_not_found");
            std::tie(wait_ec, std::ignore) = co_await fx.client.wait(t, {}, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        });
        all_text += logs.text() + diag.summary() + "\n";
        CHECK(get_ec == evolink::api_errc::not_found);
        CHECK(wait_ec == evolink::api_errc::not_found);
        record("task expired", "get", describe(get_ec));
        record("task expired", "wait", describe(wait_ec));
    }
    struct cb_case {
        std::string name;
        int duplicates;
        std::chrono::milliseconds delay;
        bool lost;
    };
    for (auto& c : {cb_case{"callback duplicated x3", 3, 0ms, false}, cb_case{"callback late (after polling won)", 0, 400ms, false},
                    cb_case{"callback lost", 0, 0ms, true}}) {
        INFO(c.name);
        log_capture logs;
        fixture fx(matrix_server(), matrix_options(logs));
        evolink::callback_receiver receiver(fx.io.get_executor());
        int completions = 0;
        evolink::error_code ec;
        fx.run([&]() -> asio::awaitable<void> {
            evolink::testing::task_script s;
            s.progress = {50};
            s.step_interval = 20ms;
            s.callback_duplicates = c.duplicates;
            s.callback_delay = c.delay;
            s.callback_lost = c.lost;
            fx.server.push_script(s);
            evolink::wait_options o;
            o.callbacks = &receiver;
            o.callback_poll_factor = 1;
            o.poll = c.name == "callback duplicated x3" ? poll_every(5s) : poll_every(20ms);
            evolink::text_to_image req;
            req.prompt = "matrix";
            auto [e, t] = co_await fx.client.image(req, o, asio::as_tuple(asio::use_awaitable));
            ec = e;
            ++completions;
            asio::steady_timer settle(co_await asio::this_coro::executor, 600ms); // let late deliveries land
            co_await settle.async_wait(asio::use_awaitable);
            receiver.stop();
        });
        all_text += logs.text();
        CHECK(!ec);
        CHECK(completions == 1);
        CHECK(fx.server.tasks_created() == 1);
        if (c.duplicates) CHECK(receiver.duplicates() == std::size_t(c.duplicates));
        if (c.lost) CHECK(receiver.accepted() == 0);
        record(c.name, "callback", describe(ec) + " (" + std::to_string(receiver.accepted()) + " received, " +
                                       std::to_string(receiver.duplicates()) + " dup)");
    }
}

TEST_CASE("fault matrix: a download answered with a piece it did not ask for keeps nothing")
{
    // A 206 that is not the continuation asked for: a piece taken for the
    // whole file would be committed truncated.
    struct dl_case {
        std::string name;
        bool resumed; // a cut first, so that the retry sends Range
    };
    for (auto& c : {dl_case{"206 to a request without Range", false}, dl_case{"206 elsewhere than asked", true}}) {
        INFO(c.name);
        temp_dir dir;
        log_capture logs;
        fixture fx(matrix_server(), matrix_options(logs));
        evolink::error_code ec;
        evolink::diagnostics diag;
        fx.run([&]() -> asio::awaitable<void> {
            auto t = co_await finished_image(fx.client, "matrix");
            auto url = t.results.at(0);
            auto total = std::to_string(fx.server.result_content(url).size());
            if (c.resumed) fx.server.inject(result_fault(fault::cut_body));
            auto piece = canned("GET", "/results/");
            piece.status = 206;
            piece.body = "abc";
            piece.content_type = "image/png";
            piece.headers = {{"Content-Range", c.resumed ? "bytes 0-2/" + total : "bytes 100-102/" + total}};
            fx.server.inject(piece);
            std::tie(ec, std::ignore) =
                co_await fx.client.download(url, dir.path / "out.png", {}, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        });
        all_text += logs.text() + diag.summary() + "\n";
        CHECK(ec == evolink::errc::protocol_error);
        CHECK(dir.entries() == 0); // nothing committed, no temporary left
        record(c.name, "download", describe(ec) + " (" + std::to_string(fx.server.count("GET", "/results/")) + " GET, no file)");
    }
}

TEST_CASE("fault matrix: a callback listener at its connection cap; the wait finishes by polling")
{
    log_capture logs;
    fixture fx(matrix_server(), matrix_options(logs));
    evolink::callback_receiver_options ro;
    ro.max_connections = 1;
    evolink::callback_receiver receiver(fx.io.get_executor(), ro);
    evolink::error_code ec;
    fx.run([&]() -> asio::awaitable<void> {
        // One idle connection holds the only slot; a second shows it is held.
        asio::ip::tcp::endpoint at(asio::ip::make_address("127.0.0.1"), receiver.port());
        std::list<asio::ip::tcp::socket> idle;
        for (int i = 0; i < 2; ++i) idle.emplace_back(fx.io).connect(at);
        asio::steady_timer pause(fx.io);
        for (int i = 0; i < 1000 && receiver.connections_rejected() < 1; ++i) {
            pause.expires_after(5ms);
            co_await pause.async_wait(asio::use_awaitable);
        }
        REQUIRE(receiver.connections_rejected() == 1);
        evolink::testing::task_script s;
        s.progress = {50};
        s.step_interval = 20ms;
        fx.server.push_script(s);
        evolink::wait_options o;
        o.callbacks = &receiver;
        o.callback_poll_factor = 1;
        o.poll = poll_every(100ms);
        evolink::text_to_image req;
        req.prompt = "matrix";
        std::tie(ec, std::ignore) = co_await fx.client.image(req, o, asio::as_tuple(asio::use_awaitable));
        pause.expires_after(300ms); // the fake's retries of the delivery (20, 40, 80 ms) are over
        co_await pause.async_wait(asio::use_awaitable);
        for (auto& sock : idle) sock.close();
        receiver.stop();
    });
    all_text += logs.text();
    CHECK(!ec);
    CHECK(receiver.accepted() == 0);
    CHECK(receiver.connections_rejected() >= 2); // the fake's deliveries were reset too
    CHECK(fx.server.tasks_created() == 1);
    record("callback listener at its cap", "callback",
           describe(ec) + " (by polling; " + std::to_string(receiver.connections_rejected()) + " reset)");
}

TEST_CASE("fault matrix: summary, and the key in no log line or error text")
{
    CHECK(!all_text.empty());
    CHECK_FALSE(contains(all_text, secret_key));
    std::vector<std::string> ops = {"submit", "submit, no key", "get", "wait", "download", "callback"};
    std::ostringstream out;
    out << "\nfault matrix (fault x operation -> outcome)\n";
    out << std::left << std::setw(34) << "fault";
    for (auto& op : ops) out << " | " << std::setw(op == "submit, no key" || op == "download" ? 32 : 26) << op;
    out << "\n" << std::string(34 + 6 * 29 + 2 * 6 + 4, '-') << "\n";
    for (auto& r : table) {
        out << std::left << std::setw(34) << r.fault;
        for (auto& op : ops) {
            auto it = r.cells.find(op);
            out << " | " << std::setw(op == "submit, no key" || op == "download" ? 32 : 26) << (it == r.cells.end() ? "-" : it->second);
        }
        out << "\n";
    }
    std::cout << out.str() << std::endl;
    CHECK(table.size() >= 25); // 18 faults, the expired task, 3 callback cases, 2 downloads, the cap
}
