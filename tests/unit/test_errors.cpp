// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// Error categories, error_code comparisons, transient errors, diagnostics and
// the evolink::error exception (/work/shared/evolink-api.md section 4).

#include <evolink/error.hpp>
#include <evolink/options.hpp>
#include <evolink/wait.hpp>

#include <catch2/catch.hpp>

#include <boost/system/errc.hpp>

#include <cstring>
#include <string>

using evolink::api_errc;
using evolink::diagnostics;
using evolink::errc;
using evolink::error_code;
using Catch::Matchers::Contains;

TEST_CASE("client errors are in the \"evolink\" category", "[errors]")
{
    auto e = GENERATE(errc::invalid_request, errc::invalid_options, errc::missing_api_key, errc::timeout,
                      errc::connect_failed, errc::tls_failed, errc::connection_lost, errc::protocol_error,
                      errc::response_too_large, errc::bad_response);
    error_code ec = make_error_code(e);
    INFO("errc value " << static_cast<int>(e));
    CHECK(std::strcmp(ec.category().name(), "evolink") == 0);
    CHECK(ec.category() == evolink::client_category());
    CHECK(ec.value() == static_cast<int>(e));
    CHECK(static_cast<bool>(ec)); // every errc is a failure (none is 0)
    CHECK_FALSE(ec.message().empty());
    CHECK(ec.message() != "unknown evolink error");
    CHECK(evolink::http_status(ec) == 0);
    // Implicit conversion from the enum (is_error_code_enum).
    error_code implicit = e;
    CHECK(implicit == ec);
}

TEST_CASE("API errors are in the \"evolink.api\" category; the value is the HTTP status", "[errors]")
{
    auto [e, status] = GENERATE(table<api_errc, int>({
        {api_errc::bad_request, 400},
        {api_errc::unauthorized, 401},
        {api_errc::insufficient_quota, 402},
        {api_errc::forbidden, 403},
        {api_errc::not_found, 404},
        {api_errc::request_timeout, 408},
        {api_errc::request_too_large, 413},
        {api_errc::rate_limited, 429},
        {api_errc::internal_server_error, 500},
        {api_errc::bad_gateway, 502},
        {api_errc::service_unavailable, 503},
        {api_errc::gateway_timeout, 504},
    }));
    INFO("HTTP " << status);
    error_code ec = make_error_code(e);
    CHECK(std::strcmp(ec.category().name(), "evolink.api") == 0);
    CHECK(ec.category() == evolink::api_category());
    CHECK(ec.value() == status);
    CHECK(evolink::http_status(ec) == status);
    CHECK_THAT(ec.message(), Contains(std::to_string(status)));
    // make_http_error gives the same error for a listed status.
    CHECK(evolink::make_http_error(status) == ec);
    CHECK(evolink::make_http_error(status) == e);
}

TEST_CASE("any HTTP status maps to a distinct API error", "[errors]")
{
    auto status = GENERATE(418, 409, 422, 451, 501, 505, 599);
    INFO("HTTP " << status);
    error_code ec = evolink::make_http_error(status);
    CHECK(std::strcmp(ec.category().name(), "evolink.api") == 0);
    CHECK(ec.value() == status);
    CHECK(evolink::http_status(ec) == status);
    CHECK_THAT(ec.message(), Contains(std::to_string(status)));
    CHECK(ec != evolink::make_http_error(status + 1));
    CHECK(ec != api_errc::bad_request);
}

TEST_CASE("http_status is 0 for errors that are not API errors", "[errors]")
{
    CHECK(evolink::http_status(make_error_code(errc::timeout)) == 0);
    CHECK(evolink::http_status(error_code{}) == 0);
    CHECK(evolink::http_status(make_error_code(boost::system::errc::connection_refused)) == 0);
    // Same integer, another category: still not an HTTP status.
    CHECK(evolink::http_status(error_code(429, boost::system::generic_category())) == 0);
}

TEST_CASE("is_transient", "[errors]")
{
    SECTION("transient")
    {
        auto ec = GENERATE(make_error_code(api_errc::request_timeout), make_error_code(api_errc::rate_limited),
                           make_error_code(api_errc::internal_server_error), make_error_code(api_errc::bad_gateway),
                           make_error_code(api_errc::service_unavailable), make_error_code(api_errc::gateway_timeout),
                           evolink::make_http_error(408), evolink::make_http_error(429),
                           evolink::make_http_error(500), evolink::make_http_error(502),
                           evolink::make_http_error(503), evolink::make_http_error(504),
                           make_error_code(errc::timeout), make_error_code(errc::connect_failed),
                           make_error_code(errc::connection_lost));
        INFO(ec.category().name() << ":" << ec.value() << " " << ec.message());
        CHECK(evolink::is_transient(ec));
    }
    SECTION("not transient")
    {
        auto ec = GENERATE(make_error_code(api_errc::bad_request), make_error_code(api_errc::unauthorized),
                           make_error_code(api_errc::insufficient_quota), make_error_code(api_errc::forbidden),
                           make_error_code(api_errc::not_found), make_error_code(api_errc::request_too_large),
                           evolink::make_http_error(400), evolink::make_http_error(401),
                           evolink::make_http_error(402), evolink::make_http_error(403),
                           evolink::make_http_error(404), evolink::make_http_error(413),
                           evolink::make_http_error(418), make_error_code(errc::invalid_request),
                           make_error_code(errc::invalid_options), make_error_code(errc::missing_api_key),
                           make_error_code(errc::tls_failed), make_error_code(errc::protocol_error),
                           make_error_code(errc::response_too_large), make_error_code(errc::bad_response),
                           error_code{},
                           // Same integers as errc::timeout / HTTP 503, other categories.
                           error_code(static_cast<int>(errc::timeout), boost::system::generic_category()),
                           error_code(503, boost::system::system_category()));
        INFO(ec.category().name() << ":" << ec.value() << " " << ec.message());
        CHECK_FALSE(evolink::is_transient(ec));
    }
}

TEST_CASE("error_code comparisons with the enums", "[errors]")
{
    error_code timeout = make_error_code(errc::timeout);
    CHECK(timeout == errc::timeout);
    CHECK(errc::timeout == timeout);
    CHECK(timeout != errc::connect_failed);
    CHECK(timeout != api_errc::rate_limited);

    error_code limited = evolink::make_http_error(429);
    CHECK(limited == api_errc::rate_limited);
    CHECK(api_errc::rate_limited == limited);
    CHECK(limited != api_errc::service_unavailable);
    CHECK(limited != errc::timeout);

    // The category matters, not only the integer.
    CHECK(error_code(static_cast<int>(errc::timeout), boost::system::generic_category()) != errc::timeout);
    CHECK(error_code(429, boost::system::generic_category()) != api_errc::rate_limited);
    CHECK(error_code(429, evolink::client_category()) != api_errc::rate_limited);

    // A default error_code is no evolink error.
    CHECK(error_code{} != errc::timeout);
    CHECK_FALSE(static_cast<bool>(error_code{}));

    // Assignment from the enums (is_error_code_enum).
    error_code ec;
    ec = api_errc::not_found;
    CHECK(evolink::http_status(ec) == 404);
    ec = errc::invalid_request;
    CHECK(ec == errc::invalid_request);
}

TEST_CASE("diagnostics::summary", "[errors][diagnostics]")
{
    SECTION("an API error with everything")
    {
        diagnostics d;
        d.http_status = 400;
        d.code = "400"; // equal to the status: not repeated
        d.type = "invalid_request_error";
        d.param = "size";
        d.message = "size: \"1280*1280\" is not WIDTHxHEIGHT";
        d.fallback_suggestion = "use 1280x1280";
        d.task_id = "task-unified-1-abc";
        d.request_id = "req-42";
        CHECK(d.summary() ==
              "HTTP 400 invalid_request_error (param: size): size: \"1280*1280\" is not WIDTHxHEIGHT"
              " (suggestion: use 1280x1280) [task: task-unified-1-abc] [request id: req-42]");
    }
    SECTION("the documented example shape")
    {
        diagnostics d;
        d.http_status = 400;
        d.type = "invalid_request_error";
        d.param = "size";
        d.message = "bad size";
        d.request_id = "abc";
        CHECK(d.summary() == "HTTP 400 invalid_request_error (param: size): bad size [request id: abc]");
    }
    SECTION("a code that differs from the status and the type is shown")
    {
        diagnostics d;
        d.http_status = 400;
        d.code = "invalid_task_id";
        d.type = "invalid_request_error";
        d.message = "bad id";
        CHECK(d.summary() == "HTTP 400 invalid_request_error [invalid_task_id]: bad id");
    }
    SECTION("a code equal to the type is not repeated")
    {
        diagnostics d;
        d.http_status = 429;
        d.code = "rate_limit_error";
        d.type = "rate_limit_error";
        d.message = "slow down";
        CHECK(d.summary() == "HTTP 429 rate_limit_error: slow down");
    }
    SECTION("a validation error (no HTTP status)")
    {
        diagnostics d;
        d.type = "invalid_request_error";
        d.code = "invalid_parameter";
        d.param = "n";
        d.message = "n: 5 is out of range; allowed: 1 to 4";
        CHECK(d.summary() ==
              "invalid_request_error [invalid_parameter] (param: n): n: 5 is out of range; allowed: 1 to 4");
    }
    SECTION("only a message")
    {
        diagnostics d;
        d.message = "connection reset";
        CHECK(d.summary() == "connection reset");
    }
    SECTION("only a status")
    {
        diagnostics d;
        d.http_status = 502;
        CHECK(d.summary() == "HTTP 502");
    }
    SECTION("empty")
    {
        CHECK(diagnostics{}.summary().empty());
    }
    SECTION("clear")
    {
        diagnostics d;
        d.http_status = 500;
        d.message = "x";
        d.request_id = "r";
        d.clear();
        CHECK(d.summary().empty());
        CHECK(d.http_status == 0);
        CHECK(d.request_id.empty());
    }
}

TEST_CASE("evolink::error carries the diagnostics", "[errors][exception]")
{
    diagnostics d;
    d.http_status = 400;
    d.type = "invalid_request_error";
    d.param = "size";
    d.message = "size is not WIDTHxHEIGHT";
    d.request_id = "req-7f3a";
    const std::string summary = d.summary();

    try {
        throw evolink::error(evolink::make_http_error(400), d);
    } catch (const evolink::error& e) {
        CHECK(e.code() == api_errc::bad_request);
        CHECK(evolink::http_status(e.code()) == 400);
        CHECK(e.get_diagnostics().param == "size");
        CHECK(e.get_diagnostics().request_id == "req-7f3a");
        CHECK(e.get_diagnostics().summary() == summary);
        const std::string what = e.what();
        CHECK_THAT(what, Contains(summary));
        CHECK_THAT(what, Contains("400"));
        CHECK_THAT(what, Contains("invalid_request_error"));
        CHECK_THAT(what, Contains("size"));
        CHECK_THAT(what, Contains("size is not WIDTHxHEIGHT"));
        CHECK_THAT(what, Contains("req-7f3a"));
    }

    // Catchable as boost::system::system_error and std::exception.
    try {
        throw evolink::error(make_error_code(errc::timeout), diagnostics{});
    } catch (const boost::system::system_error& e) {
        CHECK(e.code() == errc::timeout);
        CHECK_THAT(std::string(e.what()), Contains("timed out"));
    }
    CHECK_THROWS_AS(throw evolink::error(make_error_code(errc::invalid_request), d), std::exception);
}

// g++ 12 corrupts aggregate temporaries holding a std::string inside a
// co_await expression; the option types passed as `{}` must not be aggregates.
static_assert(!std::is_aggregate_v<evolink::wait_options>);
static_assert(!std::is_aggregate_v<evolink::submit_options>);

// ---------------------------------------------------------------------------
// Retry rules (detail/retry.hpp): Retry-After, backoff, what may be resent.

#include <evolink/detail/retry.hpp>

TEST_CASE("Retry-After: delay-seconds and the three HTTP-date forms", "[retry]")
{
    using evolink::detail::parse_retry_after;
    using std::chrono::milliseconds;
    // 1994-11-06 08:49:37 UTC is 784111777 s after the epoch.
    auto now = std::chrono::system_clock::time_point(std::chrono::seconds(784111777 - 120));
    CHECK(parse_retry_after("120", now) == milliseconds(120000));
    CHECK(parse_retry_after(" 0 ", now) == milliseconds(0));
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now) == milliseconds(120000));
    CHECK(parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", now) == milliseconds(120000));
    CHECK(parse_retry_after("Sun Nov  6 08:49:37 1994", now) == milliseconds(120000));
    auto later = now + std::chrono::seconds(1000);
    CHECK(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", later) == milliseconds(0)); // in the past
    CHECK_FALSE(parse_retry_after("-5", now));
    CHECK_FALSE(parse_retry_after("soon", now));
    CHECK_FALSE(parse_retry_after("Sun, 06 Nov 1994 25:49:37 GMT", now));
    CHECK_FALSE(parse_retry_after("", now));
    CHECK(evolink::detail::parse_retry_after_ms("1500") == milliseconds(1500));
    CHECK(evolink::detail::parse_retry_after_ms("2.5") == milliseconds(2));
    CHECK_FALSE(evolink::detail::parse_retry_after_ms("-1"));
    CHECK_FALSE(evolink::detail::parse_retry_after_ms("abc"));
}

TEST_CASE("full-jitter backoff grows, is capped and never negative", "[retry]")
{
    evolink::retry_policy p;
    p.initial_backoff = std::chrono::milliseconds(100);
    p.multiplier = 2;
    p.max_backoff = std::chrono::milliseconds(1000);
    using evolink::detail::backoff;
    CHECK(backoff(p, 1, 0.999).count() == 99);
    CHECK(backoff(p, 3, 0.999).count() == 399);
    CHECK(backoff(p, 10, 0.999).count() == 999); // capped
    CHECK(backoff(p, 3, 0.0).count() == 0);      // full jitter reaches zero
}

TEST_CASE("creation requests are resent only when that cannot bill twice", "[retry]")
{
    using evolink::detail::classify_create;
    using V = evolink::detail::create_verdict;
    auto http = [](int s) { return evolink::make_http_error(s); };
    auto e = [](evolink::errc c) { return evolink::make_error_code(c); };
    // Nothing sent: always safe.
    CHECK(classify_create(e(evolink::errc::connect_failed), false, false, "") == V::retry);
    CHECK(classify_create(e(evolink::errc::connection_lost), false, false, "") == V::retry);
    CHECK(classify_create(e(evolink::errc::tls_failed), false, true, "") == V::done); // certificates do not heal
    // Refused, not processed.
    CHECK(classify_create(http(429), true, false, "") == V::retry);
    // Sent, then no usable answer: only with a key.
    for (auto ec : {http(500), http(502), http(503), http(504), e(evolink::errc::connection_lost),
                    e(evolink::errc::timeout), e(evolink::errc::bad_response)}) {
        CHECK(classify_create(ec, true, true, "") == V::retry);
        CHECK(classify_create(ec, true, false, "") == V::outcome_unknown);
    }
    CHECK(classify_create(http(500), true, true, "paid_outcome_unknown") == V::retry);
    CHECK(classify_create(http(500), true, false, "paid_outcome_unknown") == V::outcome_unknown);
    CHECK(classify_create(http(409), true, true, "idempotency_conflict") == V::done);
    for (int s : {400, 401, 402, 403, 404, 413}) CHECK(classify_create(http(s), true, true, "") == V::done);
    CHECK(classify_create({}, true, true, "") == V::done);
}

TEST_CASE("reads retry transient and unreadable answers only", "[retry]")
{
    using evolink::detail::retryable_read;
    for (int s : {408, 429, 500, 502, 503, 504}) CHECK(retryable_read(evolink::make_http_error(s)));
    for (int s : {400, 401, 402, 403, 404, 413}) CHECK_FALSE(retryable_read(evolink::make_http_error(s)));
    CHECK(retryable_read(evolink::make_error_code(evolink::errc::bad_response)));
    CHECK(retryable_read(evolink::make_error_code(evolink::errc::timeout)));
    CHECK_FALSE(retryable_read(evolink::make_error_code(evolink::errc::tls_failed)));
    CHECK_FALSE(retryable_read(evolink::make_error_code(evolink::errc::response_too_large)));
}
