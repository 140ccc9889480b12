// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// Batched reads without sockets (detail/batch_reads.hpp): the request body,
// the tasks of an answer in the order asked, and what each kind of answer
// means for the waits in the batch. The I/O around it is tested over TLS in
// tests/integration/test_batch.cpp.

#include <evolink/detail/batch_reads.hpp>

#include <catch2/catch.hpp>

#include <boost/asio/error.hpp>
#include <boost/json/parse.hpp>

#include <string>
#include <vector>

using evolink::task_status;
using evolink::detail::batch_body;
using evolink::detail::batch_tasks;
using evolink::detail::batch_verdict;
using evolink::detail::http_result;
using evolink::detail::judge_batch;
using evolink::detail::outcome;
using Catch::Matchers::Contains;

namespace {

const std::string a = "task-unified-1764688000-aaaaaaaa";
const std::string b = "task-unified-1764688000-bbbbbbbb";
const std::string c = "task-unified-1764688000-cccccccc";
const std::string secret = "evk-secret-0123456789abcdef";

std::string task_json(const std::string& id, const std::string& status, int progress = 0)
{
    return R"({"id":")" + id + R"(","object":"video.generation.task","created":1764688000,"model":"wan2.5-text-to-video",)"
           R"("status":")" + status + R"(","progress":)" + std::to_string(progress) +
           R"(,"type":"video","task_info":{"can_cancel":true,"estimated_time":120}})";
}

outcome<http_result> batch_answer(unsigned status, std::string body)
{
    outcome<http_result> r;
    r.value.status = status;
    r.value.body = std::move(body);
    r.value.content_type = "application/json";
    r.value.sent = true;
    return r;
}

} // namespace

TEST_CASE("batch body: the ids as task_ids, in order")
{
    auto v = boost::json::parse(batch_body({a, b}));
    CHECK(v == boost::json::parse(R"({"task_ids":[")" + a + R"(",")" + b + R"("]})"));
}

TEST_CASE("batch tasks: in the order asked, whatever the order answered; an absent id has none")
{
    auto data = R"({"data":[)" + task_json(c, "completed", 100) + "," + task_json(a, "processing", 40) + "]}";
    auto t = batch_tasks({a, b, c}, data, false);
    REQUIRE(t);
    REQUIRE(t->size() == 3);
    REQUIRE((*t)[0]);
    CHECK((*t)[0]->id == a);
    CHECK((*t)[0]->status == task_status::processing);
    CHECK((*t)[0]->progress == 40);
    CHECK_FALSE((*t)[1]); // b: read alone with GET, which tells why it is missing
    REQUIRE((*t)[2]);
    CHECK((*t)[2]->status == task_status::completed);
    CHECK((*t)[0]->raw.empty()); // not asked for
}

TEST_CASE("batch tasks: an id not asked for, a repeat and a non-object entry are ignored")
{
    auto data = R"({"data":[)" + task_json(c, "completed") + "," + task_json(a, "processing", 10) + "," +
                task_json(a, "completed", 100) + R"(,42,"x"]})";
    auto t = batch_tasks({a, b}, data, false);
    REQUIRE(t);
    REQUIRE((*t)[0]);
    CHECK((*t)[0]->progress == 10); // the first answer for a counts
    CHECK_FALSE((*t)[1]);
}

TEST_CASE("batch tasks: with raw JSON when asked, a copy that outlives the parse")
{
    auto t = batch_tasks({a}, R"({"data":[)" + task_json(a, "pending") + "]}", true);
    REQUIRE(t);
    REQUIRE((*t)[0]);
    CHECK((*t)[0]->raw.at("model") == "wan2.5-text-to-video");
    CHECK((*t)[0]->raw.at("id").as_string() == a);
}

TEST_CASE("batch tasks: nothing when the body is not {\"data\":[...]}")
{
    for (const char* body : {"", "[]", "{}", R"({"data":{}})", R"({"data":"x"})", "{\"data\":[", "null"}) {
        INFO(body);
        CHECK_FALSE(batch_tasks({a}, body, false));
    }
    auto empty = batch_tasks({a, b}, R"({"data":[]})", false);
    REQUIRE(empty); // all absent: each reads alone
    CHECK_FALSE((*empty)[0]);
    CHECK_FALSE((*empty)[1]);
}

TEST_CASE("judge batch: a 2xx with tasks answers the waits it names")
{
    auto v = judge_batch({a, b}, batch_answer(200, R"({"data":[)" + task_json(b, "processing", 50) + "]}"), secret, false);
    CHECK(v.k == batch_verdict::kind::tasks);
    CHECK_FALSE(v.turn_off);
    REQUIRE(v.tasks.size() == 2);
    CHECK_FALSE(v.tasks[0]);
    REQUIRE(v.tasks[1]);
    CHECK(v.tasks[1]->progress == 50);
}

TEST_CASE("judge batch: 404 and 405 mean no such endpoint: batching off, saying what was answered")
{
    for (unsigned status : {404u, 405u}) {
        INFO(status);
        auto v = judge_batch({a, b}, batch_answer(status, R"({"error":{"message":"no route"}})"), secret, false);
        CHECK(v.turn_off);
        CHECK(v.k == batch_verdict::kind::all_alone);
        CHECK_THAT(v.why, Contains("POST /v1/tasks/batch answered " + std::to_string(status)));
    }
}

TEST_CASE("judge batch: a 2xx of another shape turns batching off too")
{
    auto v = judge_batch({a}, batch_answer(200, "<html>hello</html>"), secret, false);
    CHECK(v.turn_off);
    CHECK(v.k == batch_verdict::kind::all_alone);
    CHECK_THAT(v.why, Contains("200") && Contains("not {\"data\":[tasks]}"));
}

TEST_CASE("judge batch: 429 pauses every wait, with the server's Retry-After, the key kept out")
{
    auto r = batch_answer(429, R"({"error":{"code":"rate_limit_exceeded","message":"slow down, key )" + secret +
                             R"(","type":"rate_limit_error"}})");
    r.value.retry_after = std::chrono::milliseconds(3000);
    auto v = judge_batch({a, b}, std::move(r), secret, false);
    CHECK(v.k == batch_verdict::kind::all_failed);
    CHECK_FALSE(v.turn_off);
    CHECK(v.failure.ec == evolink::api_errc::rate_limited);
    REQUIRE(v.retry_after);
    CHECK(*v.retry_after == std::chrono::milliseconds(3000));
    CHECK(v.failure.diag->http_status == 429);
    CHECK_THAT(v.failure.diag->message, !Contains(secret));
}

TEST_CASE("judge batch: other errors and connection trouble send each wait to its own GET, batching stays on")
{
    for (unsigned status : {400u, 401u, 500u, 502u, 503u}) {
        INFO(status);
        auto v = judge_batch({a, b}, batch_answer(status, R"({"error":{"message":"x"}})"), secret, false);
        CHECK(v.k == batch_verdict::kind::all_alone);
        CHECK_FALSE(v.turn_off);
    }
    outcome<http_result> broken;
    broken.ec = boost::asio::error::connection_reset;
    auto v = judge_batch({a}, std::move(broken), secret, false);
    CHECK(v.k == batch_verdict::kind::all_alone);
    CHECK_FALSE(v.turn_off);
}
