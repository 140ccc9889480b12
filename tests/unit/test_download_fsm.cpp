// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// The rules of a download (detail/download_fsm.hpp) without sockets or files:
// each case feeds the state machine the events a server would cause (heads,
// pieces, broken transfers, error answers) and checks the action it returns.

#include <evolink/detail/download_fsm.hpp>

#include <catch2/catch.hpp>

#include <cerrno>
#include <chrono>
#include <string>

using evolink::errc;
using evolink::detail::download_end;
using evolink::detail::download_fsm;
using evolink::detail::download_head;
using act = download_fsm::act;
using Catch::Matchers::Contains;

namespace {

download_fsm::limits limits(unsigned max_attempts = 4)
{
    download_fsm::limits l;
    l.max_redirects = 5;
    l.max_bytes = 1'000'000;
    l.retry.max_attempts = max_attempts;
    l.retry.initial_backoff = std::chrono::milliseconds(1);
    l.retry.max_backoff = std::chrono::milliseconds(1);
    l.path = "out.mp4";
    return l;
}

download_fsm machine(std::string url = "https://cdn.example/v/0.mp4?sig=secret-signature", unsigned max_attempts = 4)
{
    download_fsm f(std::move(url), limits(max_attempts), 42);
    REQUIRE(f.start().type == act::request);
    return f;
}

download_head ranged(unsigned status = 200, std::uint64_t length = 1000, std::string etag = "\"v1\"")
{
    download_head h;
    h.status = status;
    h.accept_ranges = "bytes";
    h.etag = std::move(etag);
    h.content_type = "video/mp4";
    h.content_length = length;
    return h;
}

download_head redirect(unsigned status, std::string location)
{
    download_head h;
    h.status = status;
    h.location = std::move(location);
    return h;
}

/// The end of an exchange whose body arrived whole.
download_end complete(unsigned status = 200)
{
    download_end e;
    e.head.status = status;
    e.head.sent = true;
    return e;
}

/// A connection lost in the middle of the body.
download_end cut()
{
    download_end e = complete();
    e.ec = make_error_code(errc::connection_lost);
    e.diag.message = "GET https://cdn.example/v/0.mp4?\u2026: connection lost while reading the body";
    return e;
}

/// An error answer and the excerpt of its body.
download_end answer(unsigned status, std::string body = "")
{
    download_end e = complete(status);
    e.head.body = std::move(body);
    return e;
}

/// `n` bytes arrive and are written.
void receive(download_fsm& f, std::size_t n)
{
    REQUIRE(f.on_piece(n).type == act::write);
    f.on_written(n);
}

std::string header(const download_fsm& f, const std::string& name)
{
    for (auto& [k, v] : f.headers())
        if (k == name) return v;
    return "";
}

} // namespace

TEST_CASE("download_fsm: the first request; a URL that cannot be downloaded is refused", "[download]")
{
    auto f = machine();
    CHECK(f.where().tls);
    CHECK(f.where().key() == "https://cdn.example");
    CHECK(f.target() == "/v/0.mp4?sig=secret-signature");
    CHECK(f.headers().empty());
    CHECK(f.what() == "GET https://cdn.example/v/0.mp4?\u2026"); // never the signature

    for (std::string bad : {"cdn.example/x.mp4", "http://cdn.example/x.mp4", "ftp://cdn.example/x"}) {
        INFO(bad);
        download_fsm g(bad, limits());
        auto a = g.start();
        CHECK(a.type == act::fail);
        CHECK(a.ec == errc::invalid_request);
        CHECK(a.diag.param == "url");
    }
    auto l = limits();
    l.allow_insecure_http = true;
    download_fsm plain("http://cdn.example/x.mp4", l);
    CHECK(plain.start().type == act::request);
    CHECK(!plain.where().tls);
}

TEST_CASE("download_fsm: a redirect chain is followed, relative Locations resolved", "[download]")
{
    auto f = machine();
    auto a = f.on_head(redirect(302, "/w/1.mp4?sig=other-signature"));
    CHECK(a.type == act::drop); // the body is not read
    CHECK(!a.truncate);
    CHECK_THAT(a.log, Contains("-> 302 https://cdn.example/w/1.mp4?\u2026"));
    CHECK_THAT(a.log, !Contains("signature"));
    CHECK(f.on_end(complete(302)).type == act::request);
    CHECK(f.url() == "https://cdn.example/w/1.mp4?sig=other-signature");
    CHECK(f.target() == "/w/1.mp4?sig=other-signature");

    CHECK(f.on_head(redirect(301, "https://store.example:8443/x.mp4")).type == act::drop);
    CHECK(f.on_end(complete(301)).type == act::request);
    CHECK(f.where().key() == "https://store.example:8443");
    CHECK(f.redirects() == 2);

    CHECK(f.on_head(ranged()).type == act::stream);
    receive(f, 1000);
    CHECK(f.on_end(complete()).type == act::commit);
    CHECK(f.have() == 1000);
    CHECK(f.content_type() == "video/mp4");
}

TEST_CASE("download_fsm: a redirect from https to http is refused, even with plain HTTP allowed", "[download]")
{
    auto l = limits();
    l.allow_insecure_http = true;
    download_fsm f("https://cdn.example/0.mp4", l);
    REQUIRE(f.start().type == act::request);
    auto a = f.on_head(redirect(307, "http://cdn.example/0.mp4"));
    CHECK(a.type == act::fail);
    CHECK(a.ec == errc::protocol_error);
    CHECK(a.diag.http_status == 307);
    CHECK_THAT(a.diag.message, Contains("refused a redirect from https to \"http://cdn.example/0.mp4\""));
    CHECK(f.on_end(complete(307)).type == act::fail); // the failure stays
}

TEST_CASE("download_fsm: too many redirects, or one without a Location, is a protocol error", "[download]")
{
    auto f = machine();
    for (int i = 0; i < 5; ++i) {
        REQUIRE(f.on_head(redirect(302, "/loop")).type == act::drop);
        REQUIRE(f.on_end(complete(302)).type == act::request);
    }
    auto a = f.on_head(redirect(302, "/loop"));
    CHECK(a.type == act::fail);
    CHECK(a.ec == errc::protocol_error);
    CHECK_THAT(a.diag.message, Contains("more than 5 redirects"));

    auto g = machine();
    auto b = g.on_head(redirect(303, ""));
    CHECK(b.type == act::fail);
    CHECK_THAT(b.diag.message, Contains("a 303 redirect without a Location"));
}

TEST_CASE("download_fsm: a redirect after a broken transfer starts the file again", "[download]")
{
    auto f = machine();
    REQUIRE(f.on_head(ranged()).type == act::stream);
    receive(f, 400);
    REQUIRE(f.on_end(cut()).type == act::request);
    CHECK(header(f, "Range") == "bytes=400-");
    auto a = f.on_head(redirect(302, "/elsewhere.mp4"));
    CHECK(a.type == act::drop);
    CHECK(a.truncate); // a resumed offset is only valid for the same resource
    CHECK(f.have() == 0);
    CHECK(f.on_end(complete(302)).type == act::request);
    CHECK(f.headers().empty());
}

TEST_CASE("download_fsm: a broken transfer resumes with Range and If-Range; the 206 continues the file", "[download]")
{
    auto f = machine();
    REQUIRE(f.on_head(ranged()).type == act::stream);
    receive(f, 400);
    auto a = f.on_end(cut());
    CHECK(a.type == act::request);
    CHECK(!a.truncate);
    CHECK(a.delay.has_value());
    CHECK(a.level == evolink::log_level::warning);
    CHECK_THAT(a.log, Contains("(400 of 1000 bytes received)"));
    CHECK_THAT(a.log, Contains("resuming at byte 400"));
    CHECK(header(f, "Range") == "bytes=400-");
    CHECK(header(f, "If-Range") == "\"v1\"");
    CHECK(f.resumes() == 1);

    auto h = ranged(206, 600);
    h.content_range = "bytes 400-999/1000";
    auto b = f.on_head(h);
    CHECK(b.type == act::stream);
    CHECK(!b.truncate);
    receive(f, 600);
    CHECK(f.on_end(complete(206)).type == act::commit);
    CHECK(f.have() == 1000);
    CHECK(f.total() == 1000u);
}

TEST_CASE("download_fsm: a weak ETag is not a validator: If-Range takes Last-Modified", "[download]")
{
    auto f = machine();
    auto h = ranged(200, 1000, "W/\"v1\"");
    h.last_modified = "Sun, 06 Nov 1994 08:49:37 GMT";
    REQUIRE(f.on_head(h).type == act::stream);
    receive(f, 10);
    REQUIRE(f.on_end(cut()).type == act::request);
    CHECK(header(f, "If-Range") == "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST_CASE("download_fsm: a 200 to a ranged request (the file changed: new ETag) starts the file again", "[download]")
{
    auto f = machine();
    REQUIRE(f.on_head(ranged()).type == act::stream);
    receive(f, 400);
    REQUIRE(f.on_end(cut()).type == act::request);
    auto a = f.on_head(ranged(200, 1200, "\"v2\""));
    CHECK(a.type == act::stream);
    CHECK(a.truncate); // the whole file again, from byte 0
    CHECK(f.have() == 0);
    CHECK(f.total() == 1200u);
    receive(f, 500);
    REQUIRE(f.on_end(cut()).type == act::request);
    CHECK(header(f, "Range") == "bytes=500-");
    CHECK(header(f, "If-Range") == "\"v2\"");
}

TEST_CASE("download_fsm: a 206 that is not the continuation asked for is a protocol error", "[download]")
{
    auto f = machine();
    auto h = ranged(206, 3);
    h.content_range = "bytes 100-102/1000";
    auto a = f.on_head(h);
    CHECK(a.type == act::fail);
    CHECK(a.ec == errc::protocol_error);
    CHECK_THAT(a.diag.message, Contains("a request without Range"));
    CHECK_THAT(a.diag.message, Contains("nothing was left at \"out.mp4\""));

    auto g = machine();
    REQUIRE(g.on_head(ranged()).type == act::stream);
    receive(g, 400);
    REQUIRE(g.on_end(cut()).type == act::request);
    h.content_range = "bytes 0-2/1000";
    auto b = g.on_head(h);
    CHECK(b.type == act::fail);
    CHECK_THAT(b.diag.message, Contains("Range bytes=400- with a 206 and Content-Range \"bytes 0-2/1000\""));
}

TEST_CASE("download_fsm: a 416 to a resume starts the file again", "[download]")
{
    auto f = machine();
    REQUIRE(f.on_head(ranged()).type == act::stream);
    receive(f, 1000); // every byte arrived, but the connection broke before the end was seen
    REQUIRE(f.on_end(cut()).type == act::request);
    CHECK(header(f, "Range") == "bytes=1000-");
    download_head h;
    h.status = 416;
    CHECK(f.on_head(h).type == act::excerpt);
    auto a = f.on_end(answer(416));
    CHECK(a.type == act::request);
    CHECK(a.truncate);
    CHECK_THAT(a.log, Contains("starting again"));
    CHECK(f.have() == 0);
    CHECK(f.headers().empty());
}

TEST_CASE("download_fsm: an error answer: its status, a hint, no signature; 503 is retried", "[download]")
{
    auto f = machine();
    download_head h;
    h.status = 404;
    REQUIRE(f.on_head(h).type == act::excerpt);
    auto a = f.on_end(answer(404, "<Error><Signature>secret-signature</Signature></Error>"));
    CHECK(a.type == act::fail);
    CHECK(a.ec == evolink::api_errc::not_found);
    CHECK(a.diag.param == "url");
    CHECK_THAT(a.diag.message, Contains("expire 24 hours"));
    CHECK_THAT(a.diag.message, !Contains("secret-signature"));

    auto g = machine();
    h.status = 503;
    REQUIRE(g.on_head(h).type == act::excerpt);
    auto busy = answer(503);
    busy.head.retry_after = std::chrono::milliseconds(2000);
    auto b = g.on_end(busy);
    CHECK(b.type == act::request);
    REQUIRE(b.delay.has_value());
    CHECK(*b.delay == std::chrono::milliseconds(2000)); // Retry-After, over the 1 ms backoff
}

TEST_CASE("download_fsm: max_bytes, announced or arriving", "[download]")
{
    auto f = machine();
    auto a = f.on_head(ranged(200, 1'000'001));
    CHECK(a.type == act::fail);
    CHECK(a.ec == errc::response_too_large);
    CHECK_THAT(a.diag.message, Contains("nothing was written"));

    auto g = machine();
    auto h = ranged();
    h.content_length.reset(); // unannounced: counted as it arrives
    REQUIRE(g.on_head(h).type == act::stream);
    receive(g, 999'999);
    auto b = g.on_piece(2);
    CHECK(b.type == act::fail);
    CHECK(b.ec == errc::response_too_large);
    CHECK_THAT(b.diag.message, Contains("more than download_options::max_bytes"));
    CHECK(g.on_end(complete()).type == act::fail);
}

TEST_CASE("download_fsm: fewer bytes than announced, without an error, is a protocol error", "[download]")
{
    auto f = machine();
    REQUIRE(f.on_head(ranged()).type == act::stream);
    receive(f, 900);
    auto a = f.on_end(complete());
    CHECK(a.type == act::fail);
    CHECK(a.ec == errc::protocol_error);
    CHECK_THAT(a.diag.message, Contains("900 bytes received, 1000 announced"));
}

TEST_CASE("download_fsm: without ranges each break starts again, until the attempts run out", "[download]")
{
    auto f = machine("https://cdn.example/0.mp4", 3);
    auto h = ranged();
    h.accept_ranges.clear();
    for (int attempt = 1; attempt <= 2; ++attempt) {
        REQUIRE(f.on_head(h).type == act::stream);
        receive(f, 100 * static_cast<unsigned>(attempt));
        auto a = f.on_end(cut());
        CHECK(a.type == act::request);
        CHECK(a.truncate);
        CHECK(f.headers().empty()); // never a Range
    }
    REQUIRE(f.on_head(h).type == act::stream);
    receive(f, 500); // further than ever, but from zero: no fresh count
    auto a = f.on_end(cut());
    CHECK(a.type == act::fail);
    CHECK(a.ec == errc::connection_lost);
    CHECK(a.diag.attempts == 3);
    CHECK_THAT(a.diag.message, Contains("gave up after 3 attempts"));
    CHECK_THAT(a.diag.message, Contains("nothing was left at \"out.mp4\""));
    CHECK(f.resumes() == 2);
}

TEST_CASE("download_fsm: a resumed transfer that progresses gets a fresh count of attempts", "[download]")
{
    auto f = machine("https://cdn.example/0.mp4", 2);
    REQUIRE(f.on_head(ranged()).type == act::stream);
    receive(f, 100);
    REQUIRE(f.on_end(cut()).type == act::request); // attempt 1 failed
    auto h = ranged(206, 900);
    h.content_range = "bytes 100-999/1000";
    REQUIRE(f.on_head(h).type == act::stream);
    receive(f, 100);
    REQUIRE(f.on_end(cut()).type == act::request); // further than ever: counted afresh
    h.content_range = "bytes 200-999/1000";
    REQUIRE(f.on_head(h).type == act::stream);
    auto a = f.on_end(cut()); // no progress: the second attempt of this count
    CHECK(a.type == act::fail);
    CHECK(a.diag.attempts == 2);
}

TEST_CASE("download_fsm: a cancellation ends it at once; a failure before sending adds no byte count", "[download]")
{
    auto f = machine();
    REQUIRE(f.on_head(ranged()).type == act::stream);
    receive(f, 10);
    auto e = cut();
    e.ec = boost::asio::error::operation_aborted;
    e.diag.message = "GET x: cancelled while reading the body";
    auto a = f.on_end(e);
    CHECK(a.type == act::fail);
    CHECK(a.ec == boost::asio::error::operation_aborted);
    CHECK(a.diag.param == "url");
    CHECK(a.diag.attempts == 0);

    auto g = machine();
    REQUIRE(g.on_head(ranged()).type == act::stream);
    receive(g, 10);
    REQUIRE(g.on_end(cut()).type == act::request);
    download_end refused; // the connect failed: nothing was sent
    refused.ec = make_error_code(errc::connect_failed);
    refused.diag.message = "connecting to https://cdn.example: connecting failed";
    auto b = g.on_end(refused);
    CHECK(b.type == act::request);
    CHECK_THAT(b.log, !Contains("bytes received"));
}

TEST_CASE("download_fsm: a failure reported by the caller (a file error) is final", "[download]")
{
    auto f = machine();
    REQUIRE(f.on_head(ranged()).type == act::stream);
    auto a = f.fail(evolink::error_code(EIO, boost::system::generic_category()), "cannot write x");
    CHECK(a.type == act::fail);
    CHECK(a.diag.param == "url");
    CHECK(f.on_end(complete()).type == act::fail);
    CHECK(f.on_head(ranged()).type == act::fail);
}
