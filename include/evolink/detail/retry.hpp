// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_RETRY_HPP
#define EVOLINK_DETAIL_RETRY_HPP

// Retry decisions as pure functions (no I/O), so that every rule can be
// tested on its own: Retry-After parsing, full-jitter backoff, and which
// failures may be retried for reads and for task creation.

#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>
#include <evolink/options.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <ctime>
#include <optional>
#include <random>
#include <string>
#include <string_view>

namespace evolink::detail {

using std::chrono::milliseconds;

EVOLINK_INLINE std::string_view trim(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

/// Parses an HTTP-date (IMF-fixdate, RFC 850 or asctime, RFC 9110 5.6.7)
/// into seconds since the epoch.
EVOLINK_INLINE std::optional<std::int64_t> parse_http_date(std::string_view s)
{
    s = trim(s);
    static constexpr std::array<std::string_view, 12> months = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    auto number = [](std::string_view d, int& out) {
        if (d.empty() || d.size() > 4) return false;
        out = 0;
        for (char c : d) {
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
        }
        return true;
    };
    auto month = [&](std::string_view m, int& out) {
        for (int i = 0; i < 12; ++i)
            if (m == months[static_cast<std::size_t>(i)]) return out = i, true;
        return false;
    };
    auto clock = [&](std::string_view t, int& h, int& mi, int& se) {
        return t.size() == 8 && t[2] == ':' && t[5] == ':' && number(t.substr(0, 2), h) && number(t.substr(3, 2), mi) &&
               number(t.substr(6, 2), se);
    };
    int day = 0, mon = 0, year = 0, h = 0, mi = 0, se = 0;
    auto comma = s.find(',');
    bool ok = false;
    if (comma == 3 && s.size() == 29) { // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
        ok = s[4] == ' ' && number(s.substr(5, 2), day) && s[7] == ' ' && month(s.substr(8, 3), mon) && s[11] == ' ' &&
             number(s.substr(12, 4), year) && s[16] == ' ' && clock(s.substr(17, 8), h, mi, se) && s.substr(25) == " GMT";
    } else if (comma != std::string_view::npos && comma > 3) { // RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT"
        auto r = s.substr(comma + 1);
        ok = r.size() == 23 && r[0] == ' ' && number(r.substr(1, 2), day) && r[3] == '-' && month(r.substr(4, 3), mon) &&
             r[7] == '-' && number(r.substr(8, 2), year) && r[10] == ' ' && clock(r.substr(11, 8), h, mi, se) &&
             r.substr(19) == " GMT";
        year += year < 70 ? 2000 : 1900;
    } else if (comma == std::string_view::npos && s.size() == 24) { // asctime: "Sun Nov  6 08:49:37 1994"
        auto d = s.substr(8, 2);
        if (!d.empty() && d[0] == ' ') d.remove_prefix(1);
        ok = s[3] == ' ' && month(s.substr(4, 3), mon) && s[7] == ' ' && number(d, day) && s[10] == ' ' &&
             clock(s.substr(11, 8), h, mi, se) && s[19] == ' ' && number(s.substr(20, 4), year);
    }
    if (!ok || day < 1 || day > 31 || h > 23 || mi > 59 || se > 60 || year < 1970 || year > 9999) return std::nullopt;
    // Days from civil (Howard Hinnant's algorithm): no timegm, no locale.
    int y = year - (mon < 2);
    int era = y / 400;
    int yoe = y - era * 400;
    int mp = (mon + 10) % 12;
    int doy = (153 * mp + 2) / 5 + day - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
    return days * 86400 + h * 3600 + mi * 60 + se;
}

/// Retry-After: delay-seconds or an HTTP-date (relative to `now`). Nothing
/// for an unreadable value; a date in the past is zero.
EVOLINK_INLINE std::optional<milliseconds> parse_retry_after(std::string_view v, std::chrono::system_clock::time_point now)
{
    v = trim(v);
    if (v.empty()) return std::nullopt;
    if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (v.size() > 9) return milliseconds(std::int64_t(999'999'999) * 1000); // absurd: the cap will apply
        return milliseconds(std::stoll(std::string(v)) * 1000);
    }
    auto at = parse_http_date(v);
    if (!at) return std::nullopt;
    auto now_s = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    return milliseconds(std::max<std::int64_t>(0, *at - now_s) * 1000);
}

/// retry-after-ms: a non-negative number of milliseconds (fractions allowed).
EVOLINK_INLINE std::optional<milliseconds> parse_retry_after_ms(std::string_view v)
{
    v = trim(v);
    if (v.empty() || v.size() > 20) return std::nullopt;
    bool dot = false;
    for (char c : v) {
        if (c == '.' && !dot) dot = true;
        else if (c < '0' || c > '9') return std::nullopt;
    }
    if (v == ".") return std::nullopt;
    double ms = std::stod(std::string(v));
    if (!std::isfinite(ms)) return std::nullopt;
    return milliseconds(static_cast<milliseconds::rep>(std::min(ms, 1e12)));
}

/// Full jitter: a uniform delay in [0, min(max_backoff, initial * multiplier^(retry-1))].
/// `retry` counts from 1; `unit` is uniform in [0, 1).
EVOLINK_INLINE milliseconds backoff(const retry_policy& p, unsigned retry, double unit)
{
    double cap = static_cast<double>(p.max_backoff.count());
    double exp = static_cast<double>(p.initial_backoff.count()) *
                 std::pow(std::max(1.0, p.multiplier), static_cast<double>(std::max(1u, retry) - 1));
    double d = std::min(cap, exp) * std::clamp(unit, 0.0, 1.0);
    return milliseconds(static_cast<milliseconds::rep>(d));
}

/// Reads may be retried after transient failures and after an answer that
/// could not be read (cut, garbled): reading twice costs nothing.
EVOLINK_INLINE bool retryable_read(const error_code& ec)
{
    return is_transient(ec) || ec == errc::bad_response || ec == errc::protocol_error;
}

enum class create_verdict {
    done,            ///< success, or an error not worth retrying
    retry,           ///< safe to send again (with the same Idempotency-Key, if any)
    outcome_unknown, ///< the request may have created a task: never resend it without a key
};

/// Task creation. `sent`: the request's bytes started to go out (a failure
/// before that - DNS, connect, TLS handshake - provably created nothing).
/// `code`: EvoLink's error code of a non-2xx answer.
EVOLINK_INLINE create_verdict classify_create(const error_code& ec, bool sent, bool keyed, std::string_view code)
{
    if (!ec) return create_verdict::done;
    if (code == "idempotency_conflict") return create_verdict::done;
    if (code == "paid_outcome_unknown") return keyed ? create_verdict::retry : create_verdict::outcome_unknown;
    int s = http_status(ec);
    if (s == 429) return create_verdict::retry; // refused, not processed
    if (s == 400 || s == 401 || s == 402 || s == 403 || s == 404 || s == 409 || s == 413 || s == 422)
        return create_verdict::done;
    if (!sent) return ec == errc::connect_failed || ec == errc::connection_lost || ec == errc::timeout
                          ? create_verdict::retry
                          : create_verdict::done;
    // Sent, then no readable answer: the task may exist. (A 2xx whose body
    // cannot be read is the same: created, id unknown.)
    bool ambiguous = s >= 500 || s == 408 || ec == errc::connection_lost || ec == errc::timeout ||
                     ec == errc::response_too_large || ec == errc::protocol_error || ec == errc::bad_response;
    if (!ambiguous) return create_verdict::done;
    return keyed ? create_verdict::retry : create_verdict::outcome_unknown;
}

/// "3 s" or "250 ms", for messages.
EVOLINK_INLINE std::string seconds_text(std::chrono::milliseconds d)
{
    auto ms = d.count();
    return ms % 1000 == 0 ? std::to_string(ms / 1000) + " s" : std::to_string(ms) + " ms";
}

/// The delay before retry number `retry`, or nothing when the policy's
/// attempts or time budget forbid it (then `why` says which).
EVOLINK_INLINE std::optional<std::chrono::milliseconds> next_retry(const retry_policy& p, unsigned attempts_made,
                                                                   std::chrono::steady_clock::time_point start,
                                                                   std::optional<std::chrono::milliseconds> retry_after,
                                                                   std::minstd_rand& rng, std::string& why)
{
    if (attempts_made >= std::max(1u, p.max_attempts)) {
        if (p.max_attempts <= 1) return std::nullopt; // retries are off: nothing to explain
        why = "gave up after " + std::to_string(attempts_made) + " attempt" + (attempts_made > 1 ? "s" : "");
        return std::nullopt;
    }
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    auto delay = backoff(p, attempts_made, unit(rng));
    if (retry_after) delay = std::max(delay, std::min(*retry_after, p.max_retry_after));
    if (std::chrono::steady_clock::now() + delay > start + p.budget) {
        why = "gave up: the next attempt (in " + seconds_text(delay) + (retry_after ? ", as Retry-After asks" : "") +
              ") would start after the retry budget of " + seconds_text(p.budget);
        return std::nullopt;
    }
    return delay;
}

} // namespace evolink::detail

#endif
