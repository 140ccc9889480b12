// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// Task objects: the documented examples (/work/shared/evolink-api.md section 3
// and the seed pages' answers), every status, tolerant parsing, round trips,
// and which task error codes are worth a new task.

#include <evolink/task.hpp>

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <optional>
#include <string>
#include <vector>

using evolink::task;
using evolink::task_error;
using evolink::task_status;

namespace {

using strings = std::vector<std::string>;

task parse_ok(std::string_view json)
{
    INFO("JSON: " << json);
    auto t = evolink::parse_task(json);
    REQUIRE(t.has_value());
    return *t;
}

/// Every typed field of two tasks (raw aside) is the same.
void check_same_typed_fields(const task& a, const task& b)
{
    CHECK(a.id == b.id);
    CHECK(a.object == b.object);
    CHECK(a.model == b.model);
    CHECK(a.type == b.type);
    CHECK(a.created == b.created);
    CHECK(a.status == b.status);
    CHECK(a.status_text == b.status_text);
    CHECK(a.progress == b.progress);
    CHECK(a.results == b.results);
    CHECK(a.info == b.info);
    CHECK(a.usage == b.usage);
    CHECK(a.error == b.error);
}

} // namespace

// ---------------------------------------------------------------------------
// Documented examples

TEST_CASE("the GET /v1/tasks/{id} example of the API notes", "[task][json]")
{
    // Verbatim from evolink-api.md section 3 (with its "…" placeholders).
    const auto t = parse_ok(R"({ "id": "task-unified-1756817821-4x3rx6ny", "object": "video.generation.task",
  "created": 1756817821, "model": "wan2.5-image-to-video", "type": "video",
  "status": "completed", "progress": 100,
  "results": ["https://…/video.mp4"],
  "task_info": { "can_cancel": false, "estimated_time": 120, "video_duration": 5 },
  "usage": { "billing_rule": "per_call", "credits_reserved": 5, "user_group": "default" },
  "error": { "code": "content_policy_violation", "message": "…", "type": "task_error" } })");

    CHECK(t.id == "task-unified-1756817821-4x3rx6ny");
    CHECK(t.object == "video.generation.task");
    CHECK(t.created == 1756817821);
    CHECK(t.model == "wan2.5-image-to-video");
    CHECK(t.type == "video");
    CHECK(t.status == task_status::completed);
    CHECK(t.status_text == "completed");
    CHECK(t.finished());
    CHECK(t.progress == 100);
    CHECK(t.results == strings{"https://\xE2\x80\xA6/video.mp4"});
    CHECK(t.info.can_cancel == false);
    CHECK(t.info.estimated_time == 120.0);
    CHECK(t.info.video_duration == 5.0);
    CHECK(t.usage.billing_rule == "per_call");
    CHECK(t.usage.credits_reserved == 5.0);
    CHECK_FALSE(t.usage.credits_used.has_value());
    CHECK(t.usage.user_group == "default");
    REQUIRE(t.error.has_value());
    CHECK(t.error->code == "content_policy_violation");
    CHECK(t.error->message == "\xE2\x80\xA6");
    CHECK(t.error->type == "task_error");
    CHECK(t.error->suggestion.empty());
    CHECK_FALSE(t.error->retryable());
    CHECK(t.raw.size() == 11);
}

TEST_CASE("the wan2.5-image-to-video creation answer (seed page)", "[task][json]")
{
    const auto t = parse_ok(R"({
  "created": 1757169743,
  "id": "task-unified-1757169743-7cvnl5zw",
  "model": "wan2.5-image-to-video",
  "object": "video.generation.task",
  "progress": 0,
  "status": "pending",
  "task_info": {
    "can_cancel": true,
    "estimated_time": 120
  },
  "type": "video",
  "usage": {
    "billing_rule": "per_call",
    "credits_reserved": 5,
    "user_group": "default"
  }
})");
    CHECK(t.id == "task-unified-1757169743-7cvnl5zw");
    CHECK(t.created == 1757169743);
    CHECK(t.model == "wan2.5-image-to-video");
    CHECK(t.object == "video.generation.task");
    CHECK(t.type == "video");
    CHECK(t.status == task_status::pending);
    CHECK(t.status_text == "pending");
    CHECK_FALSE(t.finished());
    CHECK(t.progress == 0);
    CHECK(t.results.empty());
    CHECK(t.info.can_cancel == true);
    CHECK(t.info.estimated_time == 120.0);
    CHECK_FALSE(t.info.video_duration.has_value());
    CHECK(t.usage.billing_rule == "per_call");
    CHECK(t.usage.credits_reserved == 5.0);
    CHECK(t.usage.user_group == "default");
    CHECK_FALSE(t.error.has_value());
}

TEST_CASE("the wan2.5-text-to-image creation answer (seed page)", "[task][json]")
{
    const auto t = parse_ok(R"({
  "created": 1757156493,
  "id": "task-unified-1757156493-imcg5zqt",
  "model": "wan2.5-text-to-image",
  "object": "image.generation.task",
  "progress": 0,
  "status": "pending",
  "task_info": {
    "can_cancel": true,
    "estimated_time": 30
  },
  "type": "image",
  "usage": {
    "billing_rule": "per_call",
    "credits_reserved": 1,
    "user_group": "default"
  }
})");
    CHECK(t.id == "task-unified-1757156493-imcg5zqt");
    CHECK(t.created == 1757156493);
    CHECK(t.model == "wan2.5-text-to-image");
    CHECK(t.object == "image.generation.task");
    CHECK(t.type == "image");
    CHECK(t.status == task_status::pending);
    CHECK_FALSE(t.finished());
    CHECK(t.info.can_cancel == true);
    CHECK(t.info.estimated_time == 30.0);
    CHECK(t.usage.credits_reserved == 1.0);
    CHECK_FALSE(t.error.has_value());
}

// ---------------------------------------------------------------------------
// Status

TEST_CASE("every status string", "[task][json][status]")
{
    auto [text, status, finished] = GENERATE(table<std::string, task_status, bool>({
        {"pending", task_status::pending, false},
        {"processing", task_status::processing, false},
        {"completed", task_status::completed, true},
        {"failed", task_status::failed, true},
        {"cancelled", task_status::cancelled, true},
        {"canceled", task_status::cancelled, true},
        {"queued", task_status::unknown, false},
        {"COMPLETED", task_status::unknown, false},
        {"", task_status::unknown, false},
    }));
    INFO("status \"" << text << "\"");
    const auto t = parse_ok(R"({"id":"task-unified-1-abcdefgh","status":")" + text + R"("})");
    CHECK(t.status == status);
    CHECK(t.status_text == text);
    CHECK(t.finished() == finished);
    CHECK(evolink::is_terminal(status) == finished);
    CHECK(evolink::parse_task_status(text) == status);
}

TEST_CASE("status names", "[task][status]")
{
    CHECK(evolink::to_string(task_status::pending) == "pending");
    CHECK(evolink::to_string(task_status::processing) == "processing");
    CHECK(evolink::to_string(task_status::completed) == "completed");
    CHECK(evolink::to_string(task_status::failed) == "failed");
    CHECK(evolink::to_string(task_status::cancelled) == "cancelled");
    CHECK(evolink::to_string(task_status::unknown) == "unknown");
    // "unknown" is not a status the API sends: parsing it stays unknown.
    CHECK(evolink::parse_task_status("unknown") == task_status::unknown);
}

TEST_CASE("a status that is not a string is unknown, not a crash", "[task][json][status]")
{
    for (auto json : {R"({"id":"t1","status":null})", R"({"id":"t1","status":{"x":1}})",
                      R"({"id":"t1","status":["completed"]})"}) {
        INFO(json);
        const auto t = parse_ok(json);
        CHECK(t.status == task_status::unknown);
        CHECK_FALSE(t.finished());
    }
}

// ---------------------------------------------------------------------------
// Tolerated variations

TEST_CASE("error.code as an integer or a string", "[task][json][error]")
{
    auto t = parse_ok(R"({"id":"t1","status":"failed","error":{"code":400,"message":"bad input","type":"task_error"}})");
    REQUIRE(t.error.has_value());
    CHECK(t.error->code == "400");
    CHECK(t.error->message == "bad input");
    CHECK(t.error->type == "task_error");

    t = parse_ok(R"({"id":"t1","status":"failed","error":{"code":"generation_timeout","message":"took too long",
        "type":"task_error","suggestion":"retry later"}})");
    REQUIRE(t.error.has_value());
    CHECK(t.error->code == "generation_timeout");
    CHECK(t.error->suggestion == "retry later");
    CHECK(t.error->retryable());

    // An error object with only a message still counts as an error.
    t = parse_ok(R"({"id":"t1","status":"failed","error":{"message":"something broke"}})");
    REQUIRE(t.error.has_value());
    CHECK(t.error->code.empty());
    CHECK(t.error->message == "something broke");
    CHECK_FALSE(t.error->retryable());

    // null or empty error: no error.
    CHECK_FALSE(parse_ok(R"({"id":"t1","status":"completed","error":null})").error.has_value());
    CHECK_FALSE(parse_ok(R"({"id":"t1","status":"completed","error":{}})").error.has_value());
}

TEST_CASE("credits as a float or an integer", "[task][json][usage]")
{
    auto t = parse_ok(R"({"id":"t1","usage":{"billing_rule":"per_call","credits_reserved":2.5,"credits_used":1.25}})");
    CHECK(t.usage.credits_reserved == 2.5);
    CHECK(t.usage.credits_used == 1.25);
    CHECK(t.usage.billing_rule == "per_call");

    t = parse_ok(R"({"id":"t1","usage":{"credits_reserved":5,"credits_used":0}})");
    CHECK(t.usage.credits_reserved == 5.0);
    CHECK(t.usage.credits_used == 0.0);

    t = parse_ok(R"({"id":"t1","usage":{"credits_reserved":"7.5"}})");
    CHECK(t.usage.credits_reserved == 7.5);

    t = parse_ok(R"({"id":"t1","usage":{"credits_reserved":"lots"}})");
    CHECK_FALSE(t.usage.credits_reserved.has_value());
}

TEST_CASE("only an id: every other field takes its default", "[task][json]")
{
    const auto t = parse_ok(R"({"id":"task-unified-1756817821-4x3rx6ny"})");
    CHECK(t.id == "task-unified-1756817821-4x3rx6ny");
    CHECK(t.object.empty());
    CHECK(t.model.empty());
    CHECK(t.type.empty());
    CHECK(t.created == 0);
    CHECK(t.status == task_status::unknown);
    CHECK(t.status_text.empty());
    CHECK_FALSE(t.finished());
    CHECK(t.progress == 0);
    CHECK(t.results.empty());
    CHECK(t.info == evolink::task_info{});
    CHECK(t.usage == evolink::task_usage{});
    CHECK_FALSE(t.error.has_value());
    CHECK(t.raw.size() == 1);
}

TEST_CASE("unknown fields are kept in raw", "[task][json]")
{
    const std::string json = R"({"id":"t1","status":"completed","results":["https://cdn.example.com/a.png"],
        "new_field":{"nested":[1,2,3]},"usage":{"credits_reserved":1,"cost":{"amount":0.07,"currency":"USD"}},
        "flag":true})";
    const auto t = parse_ok(json);
    CHECK(t.raw == boost::json::parse(json).as_object());
    REQUIRE(t.raw.contains("new_field"));
    CHECK(t.raw.at("new_field").at("nested") == boost::json::array{1, 2, 3});
    CHECK(t.raw.at("usage").at("cost").at("currency") == "USD");
    CHECK(t.raw.at("flag") == true);

    // ... and survive to_json.
    const auto o = evolink::to_json(t);
    CHECK(o.at("new_field") == t.raw.at("new_field"));
    CHECK(o.at("usage").at("cost") == t.raw.at("usage").at("cost"));
    CHECK(o.at("usage").at("credits_reserved") == 1.0);
}

TEST_CASE("result_data instead of results", "[task][json][results]")
{
    SECTION("an array of objects")
    {
        const auto t = parse_ok(R"({"id":"t1","status":"completed","result_data":[
            {"image_url":"https://cdn.example.com/1.png","width":1280},
            {"image_url":"https://cdn.example.com/2.png"},
            {"video_url":"https://cdn.example.com/3.mp4"},
            {"audio_url":"https://cdn.example.com/4.mp3"},
            {"url":"https://cdn.example.com/5.bin"},
            {"nothing":"here"}, "not an object", 42]})");
        CHECK(t.results == strings{"https://cdn.example.com/1.png", "https://cdn.example.com/2.png",
                                   "https://cdn.example.com/3.mp4", "https://cdn.example.com/4.mp3",
                                   "https://cdn.example.com/5.bin"});
    }
    SECTION("a single object")
    {
        const auto t = parse_ok(R"({"id":"t1","status":"completed","result_data":{"video_url":"https://cdn.example.com/v.mp4","duration":5}})");
        CHECK(t.results == strings{"https://cdn.example.com/v.mp4"});
    }
    SECTION("results wins when both are present")
    {
        const auto t = parse_ok(R"({"id":"t1","status":"completed","results":["https://cdn.example.com/r.png"],
            "result_data":[{"image_url":"https://cdn.example.com/rd.png"}]})");
        CHECK(t.results == strings{"https://cdn.example.com/r.png"});
    }
    SECTION("results of strings; other entries skipped")
    {
        const auto t = parse_ok(R"({"id":"t1","results":["https://a.example/1.png", 5, null, "https://a.example/2.png"]})");
        CHECK(t.results == strings{"https://a.example/1.png", "https://a.example/2.png"});
    }
}

TEST_CASE("not a task: nothing", "[task][json]")
{
    auto json = GENERATE(as<std::string>{},
                         "",                              // not JSON
                         "not json",                      //
                         "{",                             // truncated
                         R"({"id":"t1",})",               // trailing comma
                         R"({"id":"t1"} trailing)",       // garbage after the object
                         "[]",                            // not an object
                         R"([{"id":"t1"}])",              //
                         "42",                            //
                         R"("task-unified-1-abc")",       //
                         "null",                          //
                         "{}",                            // no id
                         R"({"status":"completed"})",     //
                         R"({"id":""})",                  // empty id
                         R"({"id":null})",                // id not a string
                         R"({"id":12345})",               //
                         R"({"id":["t1"]})");
    INFO("JSON: " << json);
    CHECK_FALSE(evolink::parse_task(json).has_value());
    boost::system::error_code ec;
    auto v = boost::json::parse(json, ec);
    if (!ec) CHECK_FALSE(evolink::task_from_json(v).has_value());
}

TEST_CASE("task_from_json on a parsed value", "[task][json]")
{
    boost::json::value v = {{"id", "t1"}, {"status", "processing"}, {"progress", 40}};
    auto t = evolink::task_from_json(v);
    REQUIRE(t.has_value());
    CHECK(t->status == task_status::processing);
    CHECK(t->progress == 40);
    CHECK_FALSE(evolink::task_from_json(boost::json::value(boost::json::array{v})).has_value());
}

TEST_CASE("progress is clamped to 0..100", "[task][json][progress]")
{
    auto [progress, expected] = GENERATE(table<std::string, int>({
        {"0", 0},
        {"1", 1},
        {"42", 42},
        {"99", 99},
        {"100", 100},
        {"101", 100},
        {"150", 100},
        {"1e300", 100},
        {"18446744073709551615", 100},
        {"-1", 0},
        {"-5", 0},
        {"-1e300", 0},
        {"42.9", 42},
        {R"("55")", 55},   // a number sent as a string
        {R"("abc")", 0},   // not a number
        {"null", 0},
        {"true", 0},
    }));
    INFO("progress: " << progress);
    const auto t = parse_ok(R"({"id":"t1","progress":)" + progress + "}");
    CHECK(t.progress == expected);
}

// Numbers sent as strings are tolerated through std::stod, which also reads
// "nan" and "inf". A NaN progress must still land in 0..100 (the field's
// documented range), not in an out-of-range int.
// [header bug: task.hpp clamps with `p < 0 ? 0 : p > 100 ? 100 : int(p)`,
// which lets NaN through to static_cast<int>(NaN), undefined behaviour]
TEST_CASE("progress stays in 0..100 for NaN and infinities sent as strings", "[task][json][progress]")
{
    auto progress = GENERATE(as<std::string>{}, R"("nan")", R"("NaN")", R"("inf")", R"("-inf")", R"("infinity")");
    INFO("progress: " << progress);
    const auto t = parse_ok(R"({"id":"t1","progress":)" + progress + "}");
    CHECK(t.progress >= 0);
    CHECK(t.progress <= 100);
}

// ---------------------------------------------------------------------------
// to_json(task) and back

TEST_CASE("to_json(task) then task_from_json keeps every typed field", "[task][json][roundtrip]")
{
    SECTION("a fully filled failed task")
    {
        task t;
        t.id = "task-unified-1756817821-4x3rx6ny";
        t.object = "video.generation.task";
        t.model = "wan2.5-text-to-video";
        t.type = "video";
        t.created = 1756817821;
        t.status = task_status::failed;
        t.status_text = "failed";
        t.progress = 37;
        t.results = {"https://cdn.example.com/a.mp4", "https://cdn.example.com/b.mp4"};
        t.info = {.can_cancel = false, .estimated_time = 120.5, .video_duration = 10.0};
        t.usage = {.billing_rule = "per_call", .credits_reserved = 2.75, .credits_used = 1.5, .user_group = "vip"};
        t.error = task_error{.code = "generation_timeout",
                             .message = "the provider took too long",
                             .type = "task_error",
                             .suggestion = "retry later"};

        const auto o = evolink::to_json(t);
        CHECK(o.at("status") == "failed");
        CHECK(o.at("progress") == 37);
        CHECK(o.at("error").at("code") == "generation_timeout");

        auto back = evolink::task_from_json(o);
        REQUIRE(back.has_value());
        check_same_typed_fields(*back, t);

        // And through text.
        auto again = evolink::parse_task(boost::json::serialize(o));
        REQUIRE(again.has_value());
        check_same_typed_fields(*again, t);
    }

    SECTION("a completed task without error")
    {
        task t;
        t.id = "t-2";
        t.status = task_status::completed;
        t.status_text = "completed";
        t.progress = 100;
        t.results = {"https://cdn.example.com/x.png"};
        t.info.can_cancel = true;
        auto back = evolink::task_from_json(evolink::to_json(t));
        REQUIRE(back.has_value());
        check_same_typed_fields(*back, t);
        CHECK_FALSE(evolink::to_json(t).contains("error"));
    }

    SECTION("an unknown status keeps its text")
    {
        const auto t = parse_ok(R"({"id":"t-3","status":"queued","progress":5})");
        const auto o = evolink::to_json(t);
        CHECK(o.at("status") == "queued");
        auto back = evolink::task_from_json(o);
        REQUIRE(back.has_value());
        CHECK(back->status == task_status::unknown);
        CHECK(back->status_text == "queued");
        check_same_typed_fields(*back, t);
    }

    SECTION("each documented example")
    {
        auto json = GENERATE(as<std::string>{},
                             R"({"created":1757169743,"id":"task-unified-1757169743-7cvnl5zw","model":"wan2.5-image-to-video","object":"video.generation.task","progress":0,"status":"pending","task_info":{"can_cancel":true,"estimated_time":120},"type":"video","usage":{"billing_rule":"per_call","credits_reserved":5,"user_group":"default"}})",
                             R"({"created":1757156493,"id":"task-unified-1757156493-imcg5zqt","model":"wan2.5-text-to-image","object":"image.generation.task","progress":0,"status":"pending","task_info":{"can_cancel":true,"estimated_time":30},"type":"image","usage":{"billing_rule":"per_call","credits_reserved":1,"user_group":"default"}})",
                             R"({"id":"task-unified-1756817821-4x3rx6ny","object":"video.generation.task","created":1756817821,"model":"wan2.5-image-to-video","type":"video","status":"completed","progress":100,"results":["https://cdn.example.com/video.mp4"],"task_info":{"can_cancel":false,"estimated_time":120,"video_duration":5},"usage":{"billing_rule":"per_call","credits_reserved":5,"user_group":"default"},"error":{"code":"content_policy_violation","message":"blocked","type":"task_error"}})");
        const auto t = parse_ok(json);
        auto back = evolink::task_from_json(evolink::to_json(t));
        REQUIRE(back.has_value());
        check_same_typed_fields(*back, t);
    }
}

// ---------------------------------------------------------------------------
// task_error::retryable

TEST_CASE("task_error::retryable follows the documented code lists", "[task][error]")
{
    SECTION("retry-later codes")
    {
        auto code = GENERATE(as<std::string>{}, "generation_failed_no_content", "service_error", "generation_timeout",
                             "resource_exhausted", "quota_exceeded", "service_unavailable", "resource_not_found",
                             "unknown_error");
        INFO("code " << code);
        CHECK(task_error{.code = code, .message = "", .type = "task_error", .suggestion = ""}.retryable());
    }
    SECTION("fix-the-input codes")
    {
        auto code = GENERATE(as<std::string>{}, "content_policy_violation", "invalid_parameters",
                             "image_processing_error", "image_dimension_mismatch", "request_cancelled");
        INFO("code " << code);
        CHECK_FALSE(task_error{.code = code, .message = "", .type = "task_error", .suggestion = ""}.retryable());
    }
    SECTION("unknown codes")
    {
        auto code = GENERATE(as<std::string>{}, "", "brand_new_code", "400", "500", "SERVICE_ERROR", "service_error ");
        INFO("code \"" << code << "\"");
        CHECK_FALSE(task_error{.code = code, .message = "", .type = "task_error", .suggestion = ""}.retryable());
    }
}
