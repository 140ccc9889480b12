// Batched reads, client side (detail/batch_ops.hpp), against the fake
// server over real TLS on loopback: concurrent waits read their tasks in
// POST /v1/tasks/batch; absent ids, an endpoint that is not there, 429, other
// errors and a cancelled wait each take the documented path. Counts of
// requests, never timings.
#include "../support/fixture.hpp"

#include <boost/json.hpp>

#include <cstddef>
#include <deque>
#include <string>
#include <vector>

using evolink::api_errc;
using evolink::task_status;
using evolink::testing::canned_response;
using evolink::testing::fake_server_options;

namespace {

/// One wait's end, as its handler saw it.
struct ended {
    int calls = 0;
    evolink::error_code ec;
    evolink::task task;
};

/// Starts `client.wait(id)` for each id at once (polling every `pace`).
std::deque<ended> start_waits(evolink::client& client, const std::vector<std::string>& ids,
                              std::chrono::milliseconds pace)
{
    std::deque<ended> out(ids.size());
    evolink::wait_options o;
    o.poll = poll_every(pace);
    for (std::size_t i = 0; i < ids.size(); ++i)
        client.wait(ids[i], o, [&e = out[i]](evolink::error_code ec, evolink::task t) {
            ++e.calls;
            e.ec = ec;
            e.task = std::move(t);
        });
    return out;
}

bool all_ended(const std::deque<ended>& e)
{
    for (auto& w : e)
        if (w.calls == 0) return false;
    return true;
}

/// Creates `n` image tasks, all at once; their ids.
asio::awaitable<std::vector<std::string>> create(evolink::client& client, std::size_t n)
{
    std::vector<std::string> ids(n);
    std::size_t made = 0;
    for (std::size_t i = 0; i < n; ++i)
        client.submit(image_request("a lighthouse"), [&ids, &made, i](evolink::error_code ec, evolink::task t) {
            CHECK(!ec);
            ids[i] = t.id;
            ++made;
        });
    co_await until([&] { return made == n; });
    co_return ids;
}

/// Reads of tasks on the wire: GETs of one task, and batches.
std::size_t read_requests(const evolink::testing::fake_server& s)
{
    return s.count("GET", "/v1/tasks/") + s.count_route("POST", "/v1/tasks/batch");
}

#if defined(__SANITIZE_ADDRESS__)
constexpr std::size_t many_waits = 2'000; // sanitizers: the same shape, a fifth of the memory
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr std::size_t many_waits = 2'000;
#else
constexpr std::size_t many_waits = 10'000;
#endif
#else
constexpr std::size_t many_waits = 10'000;
#endif

} // namespace

TEST_CASE("concurrent waits read in batches: each ends with its own task, after the same reads as alone")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto ids = co_await create(fx.client, 120);
        auto before = read_requests(fx.server);
        auto waits = start_waits(fx.client, ids, 100ms);
        co_await until([&] { return all_ended(waits); });
        for (std::size_t i = 0; i < ids.size(); ++i) {
            INFO(ids[i]);
            CHECK(waits[i].calls == 1);
            CHECK(!waits[i].ec);
            CHECK(waits[i].task.id == ids[i]);
            CHECK(waits[i].task.status == task_status::completed);
            CHECK(waits[i].task.results.size() == 1);
            CHECK(fx.server.task_reads(ids[i]) == 4); // pending -> 25 -> 50 -> 75 -> completed
        }
        auto batches = fx.server.count_route("POST", "/v1/tasks/batch");
        CHECK(batches >= 4 * 3);           // 4 rounds of at most 50 ids
        CHECK(read_requests(fx.server) - before <= 480 / 8); // 480 reads
        for (auto& r : fx.server.requests())
            if (r.target == "/v1/tasks/batch")
                CHECK(boost::json::parse(r.body).at("task_ids").as_array().size() <= 50);
    });
}

TEST_CASE("P5: at many concurrent waits, read requests are at most 1/40 of the tasks read")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto ids = co_await create(fx.client, many_waits);
        auto before = read_requests(fx.server);
        auto waits = start_waits(fx.client, ids, 200ms);
        co_await until([&] { return all_ended(waits); });
        std::size_t completed = 0;
        for (auto& w : waits) completed += !w.ec && w.task.status == task_status::completed;
        CHECK(completed == many_waits);
        auto requests = read_requests(fx.server) - before;
        auto reads = 4 * many_waits;
        WARN(many_waits << " waits: " << reads << " task reads in " << requests << " requests ("
                        << fx.server.count("GET", "/v1/tasks/") << " GETs)");
        CHECK(requests * 40 <= reads);
    });
}

TEST_CASE("an id the batch answer leaves out is read alone: the real 404 or expiry reaches its wait")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto ids = co_await create(fx.client, 3);
        fx.server.expire(ids[2]);
        std::vector<std::string> asked{ids[0], "task-unified-1700000000-zzzzzzzz", ids[1], ids[2]};
        auto waits = start_waits(fx.client, asked, 50ms);
        co_await until([&] { return all_ended(waits); });
        CHECK(!waits[0].ec);
        CHECK(!waits[2].ec);
        CHECK(waits[1].ec == api_errc::not_found);
        CHECK(waits[3].ec == api_errc::not_found);
        CHECK(fx.server.count("GET", "/v1/tasks/task-unified-1700000000-zzzzzzzz") == 1);
        CHECK(fx.server.count("GET", "/v1/tasks/" + ids[2]) == 1);
        CHECK(fx.server.task_reads(ids[2]) == 2); // once in the batch, once alone
        CHECK(fx.server.count_route("POST", "/v1/tasks/batch") >= 1);
    });
}

TEST_CASE("an endpoint that is not there turns batching off for the client, logged once")
{
    log_capture logs;
    fake_server_options so;
    so.batch_endpoint = false;
    fixture fx(so, [&](evolink::client_options o) {
        o.logger = logs.logger(evolink::log_level::warning);
        return o;
    });
    fx.run([&]() -> asio::awaitable<void> {
        auto ids = co_await create(fx.client, 20);
        auto waits = start_waits(fx.client, ids, 50ms);
        co_await until([&] { return all_ended(waits); });
        for (auto& w : waits) CHECK(w.task.status == task_status::completed);
        CHECK(fx.server.count_route("POST", "/v1/tasks/batch") == 1);
        CHECK(fx.server.count("GET", "/v1/tasks/") >= 20 * 3);
        std::size_t said = 0;
        for (auto& l : *logs.lines) said += contains(l, "batch reads are off for this client");
        CHECK(said == 1);
        CHECK(logs.any_contains("POST /v1/tasks/batch answered 404"));
    });
}

TEST_CASE("a batch answered 429 pauses every wait in it; other errors send each to its GET once")
{
    log_capture logs;
    fixture fx([&](evolink::client_options o) {
        o.logger = logs.logger(evolink::log_level::warning);
        return o;
    });
    fx.run([&]() -> asio::awaitable<void> {
        auto ids = co_await create(fx.client, 10);
        SECTION("429")
        {
            canned_response c;
            c.method = "POST";
            c.path_prefix = "/v1/tasks/batch";
            c.status = 429;
            c.body = R"({"error":{"code":"rate_limit_exceeded","message":"slow down","type":"rate_limit_error"}})";
            c.headers = {{"Retry-After", "1"}};
            fx.server.inject(c);
            auto waits = start_waits(fx.client, ids, 50ms);
            co_await until([&] { return all_ended(waits); });
            for (std::size_t i = 0; i < ids.size(); ++i) {
                CHECK(waits[i].task.status == task_status::completed);
                CHECK(fx.server.task_reads(ids[i]) == 5); // the refused read, then four
                CHECK(fx.server.count("GET", "/v1/tasks/" + ids[i]) == 0); // no GET behind the server's back
            }
            std::size_t said = 0;
            for (auto& l : *logs.lines) said += contains(l, "still waiting") && contains(l, "429");
            CHECK(said == ids.size());
        }
        SECTION("503")
        {
            canned_response c;
            c.method = "POST";
            c.path_prefix = "/v1/tasks/batch";
            c.status = 503;
            c.body = R"({"error":{"code":503,"message":"busy","type":"service_unavailable_error"}})";
            fx.server.inject(c);
            auto waits = start_waits(fx.client, ids, 50ms);
            co_await until([&] { return all_ended(waits); });
            for (std::size_t i = 0; i < ids.size(); ++i) {
                CHECK(waits[i].task.status == task_status::completed);
                CHECK(fx.server.count("GET", "/v1/tasks/" + ids[i]) >= 1); // that read alone
                CHECK(fx.server.task_reads(ids[i]) == 5);
            }
            CHECK(fx.server.count_route("POST", "/v1/tasks/batch") >= 2); // then batches again
            CHECK(!logs.any_contains("batch reads are off"));
        }
    });
}

TEST_CASE("a wait cancelled while its batch is on the wire ends at once; the others get their answers")
{
    fixture fx;
    fx.run([&]() -> asio::awaitable<void> {
        auto ids = co_await create(fx.client, 5);
        canned_response slow; // the server's real answer, held
        slow.method = "POST";
        slow.path_prefix = "/v1/tasks/batch";
        slow.status = 0;
        slow.delay = 500ms;
        fx.server.inject(slow);
        asio::cancellation_signal signal;
        std::deque<ended> waits(ids.size());
        std::vector<std::size_t> order;
        evolink::wait_options o;
        o.poll = poll_every(50ms);
        for (std::size_t i = 0; i < ids.size(); ++i) {
            auto h = [&, i](evolink::error_code ec, evolink::task t) {
                ++waits[i].calls;
                waits[i].ec = ec;
                waits[i].task = std::move(t);
                order.push_back(i);
            };
            if (i == 2) fx.client.wait(ids[i], o, asio::bind_cancellation_slot(signal.slot(), h));
            else fx.client.wait(ids[i], o, h);
        }
        co_await until([&] { return fx.server.count_route("POST", "/v1/tasks/batch") == 1; });
        signal.emit(asio::cancellation_type::terminal);
        co_await until([&] { return all_ended(waits); });
        REQUIRE(!order.empty());
        CHECK(order.front() == 2); // before the held answer came
        CHECK(waits[2].ec == asio::error::operation_aborted);
        for (std::size_t i : {0u, 1u, 3u, 4u}) {
            CHECK(!waits[i].ec);
            CHECK(waits[i].task.status == task_status::completed);
        }
        CHECK(fx.server.task_reads(ids[2]) == 1); // the batch read it; nothing after
    });
}
