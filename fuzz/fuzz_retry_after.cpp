// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// libFuzzer target: Retry-After and retry-after-ms header values
// (evolink::detail::parse_retry_after, parse_retry_after_ms, parse_http_date).
//
// Checks: every delay is non-negative; a date Retry-After is the distance
// from the fixed `now` (zero in the past); and a parsed HTTP-date (any of the
// three forms), formatted again as an IMF-fixdate with
// strftime("%a, %d %b %Y %H:%M:%S GMT"), parses back to the same instant.

#include <evolink/detail/retry.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <string_view>

namespace {

void check(bool ok)
{
    if (!ok) __builtin_trap();
}

// Sun, 06 Nov 1994 08:49:37 GMT minus one hour: dates before and after it
// are both easy for the fuzzer to reach.
constexpr std::int64_t now_s = 784111777 - 3600;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace std::chrono;
    std::string_view v(reinterpret_cast<const char*>(data), size);
    const system_clock::time_point now{seconds(now_s)};

    auto ra = evolink::detail::parse_retry_after(v, now);
    if (ra) check(ra->count() >= 0);

    auto ms = evolink::detail::parse_retry_after_ms(v);
    if (ms) check(ms->count() >= 0);

    auto at = evolink::detail::parse_http_date(v);
    if (!at) return 0;
    check(*at >= 0);
    // A value that is a date is read as one by parse_retry_after too.
    check(ra.has_value());
    check(ra->count() == (*at > now_s ? (*at - now_s) * 1000 : 0));

    // Format it again as an IMF-fixdate and read that back.
    std::time_t t = static_cast<std::time_t>(*at);
    std::tm tm{};
    check(gmtime_r(&t, &tm) != nullptr);
    char buf[64];
    std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    check(n > 0);
    // parse_http_date accepts years up to 9999 and seconds up to 60 (leap
    // second): "Fri, 31 Dec 9999 23:59:60 GMT" is an instant of year 10000,
    // which no IMF-fixdate can spell. Only 4-digit years can round-trip.
    if (tm.tm_year + 1900 > 9999) return 0;
    auto again = evolink::detail::parse_http_date(std::string_view(buf, n));
    check(again.has_value());
    check(*again == *at);
    return 0;
}
