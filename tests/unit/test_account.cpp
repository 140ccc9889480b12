// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// The account's answers (GET /v1/credits, GET /v1/tasks) parsed tolerantly,
// their malformed forms refused, and task_filter's validation table: each
// bad field named, with what is allowed.

#include <evolink/account.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <string>

using evolink::task_filter;
using evolink::task_status;
using evolink::detail::parse_credits;
using evolink::detail::parse_task_list;
using Catch::Matchers::Contains;

TEST_CASE("credits: the documented answer, numbers as integers or floats")
{
    std::string why;
    auto b = parse_credits(R"({"success":true,"data":{"user":{"remaining_credits":680,"used_credits":12.5},)"
                           R"("token":{"remaining_credits":"99.25","used_credits":0.75,"unlimited_credits":false}}})",
                           why);
    REQUIRE(b);
    CHECK(b->user.remaining == 680);
    CHECK(b->user.used == 12.5);
    CHECK(b->token.remaining == 99.25); // a numeric string is a number
    CHECK(b->token.used == 0.75);
    CHECK_FALSE(b->token.unlimited);
}

TEST_CASE("credits: missing optional fields are zero; extra fields ignored; success may be absent")
{
    std::string why;
    auto b = parse_credits(R"({"data":{"user":{"remaining_credits":5},"token":{"unlimited_credits":true},"x":1}})", why);
    REQUIRE(b);
    CHECK(b->user.remaining == 5);
    CHECK(b->user.used == 0);
    CHECK(b->token.remaining == 0);
    CHECK(b->token.unlimited);
    auto flag = parse_credits(R"({"data":{"token":{"unlimited_credits":1}}})", why);
    REQUIRE(flag);
    CHECK(flag->token.unlimited); // 0/1 as a flag
    auto empty = parse_credits(R"({"success":true,"data":{}})", why);
    REQUIRE(empty);
    CHECK(empty->user.remaining == 0);
}

TEST_CASE("credits: no data, success false, or not JSON is refused with the reason")
{
    std::string why;
    CHECK_FALSE(parse_credits(R"({"success":true})", why));
    CHECK_THAT(why, Contains("no \"data\" object"));
    CHECK_FALSE(parse_credits(R"({"success":true,"data":[1]})", why));
    CHECK_THAT(why, Contains("no \"data\" object"));
    CHECK_FALSE(parse_credits(R"({"success":false,"message":"key disabled","data":{}})", why));
    CHECK(why == "the answer says \"success\": false: key disabled");
    CHECK_FALSE(parse_credits("<html>busy</html>", why));
    CHECK(why == "not a JSON object");
    CHECK_FALSE(parse_credits("", why));
    CHECK(why == "empty body");
}

TEST_CASE("task list: entries, totals and the next page")
{
    std::string why;
    auto l = parse_task_list(
        R"({"data":[{"id":"task-unified-1756817821-4x3rx6ny","model":"wan2.5-image-to-video","type":"video",)"
        R"("status":"completed","progress":100,"created_at":1756817821,"duration":5,"has_results":true,)"
        R"("result_count":1,"has_error":false,"credits_used":6.25},)"
        R"({"id":"task-unified-1756817800-aaaaaaaa","status":"queued","progress":"40.0","created_at":1756817800.0}],)"
        R"("total":5,"page":1,"page_size":2})",
        task_filter{}, why);
    REQUIRE(l);
    REQUIRE(l->tasks.size() == 2);
    auto& a = l->tasks[0];
    CHECK(a.id == "task-unified-1756817821-4x3rx6ny");
    CHECK(a.model == "wan2.5-image-to-video");
    CHECK(a.type == "video");
    CHECK(a.status == task_status::completed);
    CHECK(a.progress == 100);
    CHECK(a.created_at == 1756817821);
    CHECK(a.duration == 5.0);
    CHECK(a.has_results == true);
    CHECK(a.result_count == 1u);
    CHECK(a.has_error == false);
    CHECK(a.credits_used == 6.25);
    auto& b = l->tasks[1];
    CHECK(b.status == task_status::unknown); // kept as text, not a crash
    CHECK(b.status_text == "queued");
    CHECK(b.progress == 40);
    CHECK(b.created_at == 1756817800);
    CHECK_FALSE(b.duration);
    CHECK_FALSE(b.has_results);
    CHECK_FALSE(b.result_count);
    CHECK_FALSE(b.credits_used);
    CHECK(l->total == 5);
    CHECK(l->page == 1);
    CHECK(l->page_size == 2);
    CHECK(l->has_next_page());
    l->page = 3;
    CHECK_FALSE(l->has_next_page()); // 3 * 2 >= 5
}

TEST_CASE("task list: page and page_size missing from the answer come from the filter")
{
    std::string why;
    task_filter f;
    f.page = 2;
    f.page_size = 10;
    auto l = parse_task_list(R"({"data":[]})", f, why);
    REQUIRE(l);
    CHECK(l->tasks.empty());
    CHECK(l->total == 0);
    CHECK(l->page == 2);
    CHECK(l->page_size == 10);
    CHECK_FALSE(l->has_next_page());
}

TEST_CASE("task list: no data array, or an entry that is not a task, is refused whole")
{
    std::string why;
    CHECK_FALSE(parse_task_list(R"({"total":3})", task_filter{}, why));
    CHECK_THAT(why, Contains("no \"data\" array"));
    CHECK_FALSE(parse_task_list(R"({"data":{"id":"x"}})", task_filter{}, why));
    CHECK_THAT(why, Contains("no \"data\" array"));
    CHECK_FALSE(parse_task_list(R"({"data":[{"id":"task-unified-1-abcdefgh"},{"model":"m"}]})", task_filter{}, why));
    CHECK_THAT(why, Contains("data[1]"));
    CHECK_FALSE(parse_task_list(R"({"data":[{"id":"../../v1/credits"}]})", task_filter{}, why));
    CHECK_THAT(why, Contains("data[0]"));
    CHECK_FALSE(parse_task_list("[]", task_filter{}, why));
}

namespace {

struct bad_filter {
    const char* name;
    task_filter filter;
    const char* param;
    const char* says;
};

task_filter with(void (*set)(task_filter&))
{
    task_filter f;
    set(f);
    return f;
}

} // namespace

TEST_CASE("task_filter: each bad field is named, with its value and what is allowed")
{
    const bad_filter table[] = {
        {"pending", with([](task_filter& f) { f.status = task_status::pending; }), "status",
         "status: pending is not a filter value; allowed: processing, completed, failed, cancelled"},
        {"unknown status", with([](task_filter& f) { f.status = task_status::unknown; }), "status",
         "allowed: processing, completed, failed, cancelled"},
        {"type", with([](task_filter& f) { f.type = "movie"; }), "type",
         "type: \"movie\" is not a task type; allowed: image, video, audio, text"},
        {"empty type", with([](task_filter& f) { f.type = ""; }), "type", "allowed: image, video, audio, text"},
        {"empty model", with([](task_filter& f) { f.model = ""; }), "model", "model: is empty"},
        {"model with a newline", with([](task_filter& f) { f.model = "wan\nx"; }), "model", "control character"},
        {"long model", with([](task_filter& f) { f.model = std::string(257, 'm'); }), "model", "allowed: at most 256"},
        {"page 0", with([](task_filter& f) { f.page = 0; }), "page", "page: 0 is out of range; allowed: 1 or more"},
        {"page -3", with([](task_filter& f) { f.page = -3; }), "page", "-3 is out of range"},
        {"page_size 0", with([](task_filter& f) { f.page_size = 0; }), "page_size",
         "page_size: 0 is out of range; allowed: 1 to 100"},
        {"page_size 101", with([](task_filter& f) { f.page_size = 101; }), "page_size", "101 is out of range"},
    };
    for (auto& row : table) {
        INFO(row.name);
        auto d = evolink::validate(row.filter);
        REQUIRE(d);
        CHECK(d->param == row.param);
        CHECK_THAT(d->message, Contains(row.says));
        CHECK(d->type == "invalid_request_error");
    }
}

TEST_CASE("task_filter: good values pass, and only set fields go into the query, encoded")
{
    CHECK_FALSE(evolink::validate(task_filter{}));
    task_filter f;
    f.status = task_status::cancelled;
    f.type = "audio";
    f.model = "wan2.5 text&to=image/ü";
    f.page = 1;
    f.page_size = 100;
    CHECK_FALSE(evolink::validate(f));
    CHECK(evolink::detail::task_list_target(f) ==
          "/v1/tasks?status=cancelled&type=audio&model=wan2.5%20text%26to%3Dimage%2F%C3%BC&page=1&page_size=100");
    CHECK(evolink::detail::task_list_target(task_filter{}) == "/v1/tasks");
    task_filter p;
    p.page_size = 1;
    CHECK(evolink::detail::task_list_target(p) == "/v1/tasks?page_size=1");
}
