// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// Pure functions of the client's wire and pacing: the request head it writes
// (detail/request_head.hpp), parsed back with Beast's own parser, the random
// names it sends (detail/random.hpp), and the poll schedule
// (detail::poll_schedule::next, the rule docs/waiting.md states).

#include <evolink/detail/random.hpp>
#include <evolink/detail/request_head.hpp>
#include <evolink/wait.hpp>

#include <catch2/catch.hpp>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include <chrono>
#include <set>
#include <string>
#include <vector>

#include <sys/wait.h>
#include <unistd.h>

namespace http = boost::beast::http;
using evolink::detail::request_head;
using std::chrono::milliseconds;

namespace {

/// Parses `text` as a request head with Beast's parser: the bytes must be valid HTTP/1.1.
http::request<http::empty_body> parsed(const std::string& text)
{
    http::request_parser<http::empty_body> p;
    boost::system::error_code ec;
    auto n = p.put(boost::asio::buffer(text), ec);
    REQUIRE_FALSE(ec);
    REQUIRE(n == text.size());
    REQUIRE(p.is_header_done());
    return p.release();
}

} // namespace

TEST_CASE("a request head is the request line, the fields in order and a blank line")
{
    request_head h(http::verb::post, "/v1/videos/generations");
    h.set("Host", "api.evolink.ai");
    h.set("Authorization", "Bearer k");
    h.content_length(1234);
    CHECK(h.text() == "POST /v1/videos/generations HTTP/1.1\r\nHost: api.evolink.ai\r\nAuthorization: Bearer k\r\n"
                      "Content-Length: 1234\r\n\r\n");
    auto req = parsed(h.text());
    CHECK(req.method() == http::verb::post);
    CHECK(req.target() == "/v1/videos/generations");
    CHECK(req.version() == 11);
    CHECK(req[http::field::content_length] == "1234");
    CHECK(req.keep_alive()); // HTTP/1.1 without Connection: close
}

TEST_CASE("setting a field again replaces it where it stands, whatever its case")
{
    request_head h(http::verb::get, "/v1/tasks/t-1");
    h.set("Host", "h");
    h.set("Accept", "application/json");
    h.set("User-Agent", "ua");
    h.set("accept", "*/*");
    CHECK(h.text() == "GET /v1/tasks/t-1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\nUser-Agent: ua\r\n\r\n");
    auto req = parsed(h.text());
    CHECK(req.count(http::field::accept) == 1);
    CHECK(req[http::field::accept] == "*/*");
}

TEST_CASE("a head without fields, a zero length, and the field limit")
{
    request_head bare(http::verb::delete_, "/files/f");
    CHECK(bare.text() == "DELETE /files/f HTTP/1.1\r\n\r\n");
    request_head zero(http::verb::post, "/x");
    zero.content_length(0);
    CHECK(parsed(zero.text())[http::field::content_length] == "0");
    request_head full(http::verb::get, "/");
    std::vector<std::string> names;
    for (int i = 0; i < 17; ++i) names.push_back("X-F" + std::to_string(i));
    for (int i = 0; i < 16; ++i) full.set(names[i], "v");
    CHECK_THROWS_AS(full.set(names[16], "v"), std::length_error);
    full.set("x-f3", "again"); // a replacement needs no room
    CHECK(parsed(full.text())["X-F3"] == "again");
}

TEST_CASE("the poll schedule: first delay, growth, cap, estimate, jitter")
{
    using evolink::poll_policy;
    using evolink::detail::poll_schedule;
    auto no_jitter = [](poll_policy p) {
        p.jitter = 0;
        return p;
    };
    SECTION("an image without an estimate: 3, 3, 3.75, 4.69, 5.86, 6, 6 s")
    {
        poll_schedule s(no_jitter(poll_policy::image()));
        std::vector<long> got;
        for (int i = 0; i < 7; ++i) got.push_back(s.next(milliseconds(0), std::nullopt, 0.5).count());
        CHECK(got == std::vector<long>{3000, 3000, 3750, 4687, 5859, 6000, 6000});
    }
    SECTION("a video: 15, 8, 10, 12.5, 15 s")
    {
        poll_schedule s(no_jitter(poll_policy::video()));
        std::vector<long> got;
        for (int i = 0; i < 5; ++i) got.push_back(s.next(milliseconds(0), std::nullopt, 0.5).count());
        CHECK(got == std::vector<long>{15000, 8000, 10000, 12500, 15000});
    }
    SECTION("the estimate raises an interval to half the time left, capped, never the first delay")
    {
        poll_schedule s(no_jitter(poll_policy::image()));
        CHECK(s.next(milliseconds(0), 30.0, 0.5) == milliseconds(3000));     // first: initial_delay
        CHECK(s.next(milliseconds(3000), 30.0, 0.5) == milliseconds(6000));  // 13.5 s left / 2, capped at 6 s
        CHECK(s.next(milliseconds(28000), 30.0, 0.5) == milliseconds(3750)); // 2 s left: half of it is below the interval
    }
    SECTION("jitter multiplies by a factor in [1 - jitter, 1 + jitter)")
    {
        poll_policy p = poll_policy::image(); // jitter 0.1
        CHECK(poll_schedule(p).next(milliseconds(0), std::nullopt, 0.0) == milliseconds(2700));
        CHECK(poll_schedule(p).next(milliseconds(0), std::nullopt, 0.5) == milliseconds(3000));
        CHECK(poll_schedule(p).next(milliseconds(0), std::nullopt, 0.999) == milliseconds(3299));
    }
    SECTION("an initial_delay of zero reads at once; every later delay is at least 1 ms")
    {
        poll_policy p{milliseconds(0), milliseconds(0), milliseconds(0), 1.25, 0.5, false};
        poll_schedule s(p);
        CHECK(s.next(milliseconds(0), std::nullopt, 0.0) == milliseconds(0));
        CHECK(s.next(milliseconds(0), std::nullopt, 0.0) == milliseconds(1));
        CHECK(s.next(milliseconds(0), std::nullopt, 0.0) == milliseconds(1));
    }
}

TEST_CASE("Idempotency-Keys: 32 characters of [A-Za-z0-9] after evk-, never repeated, not across fork()")
{
    std::set<std::string> seen;
    for (int i = 0; i < 200; ++i) { // 6,400 random bytes: several refills of the 1 KiB pool
        auto key = evolink::detail::make_idempotency_key();
        REQUIRE(key.size() == 36);
        CHECK(key.starts_with("evk-"));
        CHECK(key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 4) ==
              std::string::npos);
        CHECK(seen.insert(key).second);
    }
    // A child made by fork() must not hand out the bytes its parent will.
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        auto key = evolink::detail::make_idempotency_key();
        auto n = ::write(fds[1], key.data(), key.size());
        ::_exit(n == static_cast<ssize_t>(key.size()) ? 0 : 1);
    }
    std::string child(36, '\0');
    std::size_t got = 0;
    while (got < child.size()) {
        auto n = ::read(fds[0], child.data() + got, child.size() - got);
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(fds[0]);
    ::close(fds[1]);
    REQUIRE(got == child.size());
    auto parent = evolink::detail::make_idempotency_key();
    CHECK(parent != child);
    CHECK(seen.count(child) == 0);
}
