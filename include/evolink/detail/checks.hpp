// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_CHECKS_HPP
#define EVOLINK_DETAIL_CHECKS_HPP

// One check per documented limit (../docs/requests.md lists them). Shared by
// the typed requests' validate() and by the fake server, so both sides hold
// the same rules. Each check returns nothing when the value is fine, else a
// diagnostics naming the field, the value and what is allowed.

#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>

#include <boost/url/parse.hpp>
#include <boost/url/scheme.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evolink::detail {

using check_result = std::optional<diagnostics>;

EVOLINK_INLINE diagnostics invalid(std::string_view field, std::string message)
{
    diagnostics d;
    d.type = "invalid_request_error";
    d.code = "invalid_parameter";
    d.param = std::string(field);
    d.message = std::string(field) + ": " + std::move(message);
    return d;
}

/// A value quoted for an error message; long values are cut (and said so).
EVOLINK_INLINE std::string quoted(std::string_view v, std::size_t max = 80)
{
    std::string out = "\"";
    out.append(v.substr(0, max));
    out += '"';
    if (v.size() > max) out += "... (" + std::to_string(v.size()) + " bytes)";
    return out;
}

/// Number of Unicode code points in `s`, or the byte offset of the first
/// invalid UTF-8 sequence (as a negative number minus one).
EVOLINK_INLINE std::int64_t utf8_length(std::string_view s)
{
    std::int64_t count = 0;
    std::size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
        if (len == 0 || i + len > s.size()) return -static_cast<std::int64_t>(i) - 1;
        std::uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
        for (std::size_t k = 1; k < len; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xC0) != 0x80) return -static_cast<std::int64_t>(i) - 1;
            cp = (cp << 6) | (cc & 0x3F);
        }
        // Overlong forms, surrogates and values past U+10FFFF are invalid.
        static constexpr std::uint32_t min_cp[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
            return -static_cast<std::int64_t>(i) - 1;
        i += len;
        ++count;
    }
    return count;
}

EVOLINK_INLINE check_result check_prompt(std::string_view prompt, std::size_t max_chars = 2000)
{
    auto n = utf8_length(prompt);
    if (n < 0)
        return invalid("prompt", "not valid UTF-8 (at byte " + std::to_string(-n - 1) + "); allowed: UTF-8 text");
    if (prompt.find_first_not_of(" \t\r\n") == std::string_view::npos)
        return invalid("prompt", "is empty; allowed: 1 to " + std::to_string(max_chars) + " characters");
    if (static_cast<std::size_t>(n) > max_chars)
        return invalid("prompt", "has " + std::to_string(n) + " characters; allowed: at most " +
                                     std::to_string(max_chars) + " characters");
    return std::nullopt;
}

/// "WxH" for wan2.5-text-to-image: total pixels in [768*768, 1440*1440],
/// aspect ratio W/H in [1/4, 4].
EVOLINK_INLINE check_result check_size(std::string_view size)
{
    auto x = size.find('x');
    auto digits = [](std::string_view d) {
        return !d.empty() && d.size() <= 5 && d[0] != '0' &&
               std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (x == std::string_view::npos || !digits(size.substr(0, x)) || !digits(size.substr(x + 1)))
        return invalid("size", detail::quoted(size) + " is not WIDTHxHEIGHT; allowed: pixel sizes like \"1280x1280\"");
    auto w = std::stoll(std::string(size.substr(0, x)));
    auto h = std::stoll(std::string(size.substr(x + 1)));
    constexpr long long lo = 768LL * 768, hi = 1440LL * 1440;
    if (w * h < lo || w * h > hi)
        return invalid("size", detail::quoted(size) + " has " + std::to_string(w * h) +
                                   " pixels; allowed: total pixels from 589824 (768x768) to 2073600 (1440x1440)");
    if (w > 4 * h || h > 4 * w)
        return invalid("size", detail::quoted(size) + " has aspect ratio " + std::to_string(w) + ":" + std::to_string(h) +
                                   "; allowed: width/height from 1/4 to 4");
    return std::nullopt;
}

EVOLINK_INLINE check_result check_range(std::string_view field, long long v, long long lo, long long hi)
{
    if (v < lo || v > hi)
        return invalid(field, std::to_string(v) + " is out of range; allowed: " + std::to_string(lo) + " to " +
                                  std::to_string(hi));
    return std::nullopt;
}

/// wan2.5 videos: 5 or 10 seconds.
EVOLINK_INLINE check_result check_duration(long long d)
{
    if (d != 5 && d != 10) return invalid("duration", std::to_string(d) + " is not allowed; allowed: 5 or 10");
    return std::nullopt;
}

EVOLINK_INLINE check_result check_quality(std::string_view q)
{
    if (q != "480p" && q != "720p" && q != "1080p")
        return invalid("quality", detail::quoted(q) + " is not allowed; allowed: \"480p\", \"720p\", \"1080p\"");
    return std::nullopt;
}

/// wan2.5-text-to-video: 480p allows 16:9, 9:16, 1:1; 720p and 1080p also 4:3, 3:4.
/// `quality` is the effective quality (the API's default is 720p).
EVOLINK_INLINE check_result check_aspect_ratio(std::string_view ar, std::string_view quality)
{
    static constexpr std::array<std::string_view, 5> all = {"16:9", "9:16", "1:1", "4:3", "3:4"};
    bool low = quality == "480p";
    auto end = all.begin() + (low ? 3 : 5);
    if (std::find(all.begin(), end, ar) == end) {
        std::string allowed;
        for (auto it = all.begin(); it != end; ++it) allowed += (allowed.empty() ? "\"" : ", \"") + std::string(*it) + "\"";
        return invalid("aspect_ratio", detail::quoted(ar) + " is not allowed at " + std::string(quality) +
                                           "; allowed: " + allowed);
    }
    return std::nullopt;
}

/// An absolute http(s) URL with a host (`file_url` of a URL upload).
EVOLINK_INLINE check_result check_http_url(std::string_view field, std::string_view url)
{
    auto u = boost::urls::parse_uri(url);
    if (!u || (u->scheme_id() != boost::urls::scheme::https && u->scheme_id() != boost::urls::scheme::http) ||
        u->host().empty())
        return invalid(field, detail::quoted(url) + " is not an absolute http(s) URL; allowed: URLs the service can fetch");
    return std::nullopt;
}

/// True when an image field names a local file rather than a URL: it does
/// not start with a URI scheme ("https:", "data:", "file:"...). A one-letter
/// "scheme" is not one ("C:" is not a URL either).
EVOLINK_INLINE bool is_local_image(std::string_view s)
{
    auto colon = s.find(':');
    if (colon == std::string_view::npos || colon < 2) return !s.empty();
    auto scheme = s.substr(0, colon);
    auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); };
    if (!alpha(scheme[0])) return true;
    return !std::all_of(scheme.begin(), scheme.end(), [&](char c) {
        return alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
    });
}

/// An image field: an http(s) URL, or a local file path (checked against the
/// model's limits and uploaded through the Files API at submit time).
EVOLINK_INLINE check_result check_image_url(std::string_view field, std::string_view url)
{
    if (url.empty()) return invalid(field, "is empty; allowed: an http(s) URL, or the path of a local image file");
    if (is_local_image(url)) {
        if (url.find('\0') != std::string_view::npos)
            return invalid(field, detail::quoted(url) + " holds a NUL character; allowed: a file path or an http(s) URL");
        return std::nullopt;
    }
    auto u = boost::urls::parse_uri(url);
    if (!u || (u->scheme_id() != boost::urls::scheme::https && u->scheme_id() != boost::urls::scheme::http) ||
        u->host().empty())
        return invalid(field, detail::quoted(url) + " is not an absolute http(s) URL; allowed: URLs the service can fetch, "
                                            "or the path of a local image file (uploaded first)");
    return std::nullopt;
}

EVOLINK_INLINE check_result check_image_urls(const std::vector<std::string>& urls, std::size_t lo, std::size_t hi)
{
    if (urls.size() < lo || urls.size() > hi) {
        std::string allowed = lo == hi ? "exactly " + std::to_string(lo) : std::to_string(lo) + " to " + std::to_string(hi);
        return invalid("image_urls", "has " + std::to_string(urls.size()) + " images; allowed: " + allowed + " image" +
                                         (hi > 1 ? "s" : ""));
    }
    for (std::size_t i = 0; i < urls.size(); ++i)
        if (auto r = check_image_url("image_urls[" + std::to_string(i) + "]", urls[i])) return r;
    return std::nullopt;
}

/// True for hosts the service refuses to call back: loopback, private,
/// link-local, carrier-grade NAT, unspecified, unique-local, and names of
/// the local machine. (Names that merely resolve to such addresses are the
/// service's to refuse: the client does not resolve callback hosts.)
/// Loopback, private, link-local, carrier-grade NAT, "this network",
/// multicast and reserved IPv4 ranges.
EVOLINK_INLINE bool is_internal_ipv4(const unsigned char* b)
{
    return b[0] == 0 || b[0] == 10 || b[0] == 127 || (b[0] == 169 && b[1] == 254) ||
           (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 100 && (b[1] & 0xC0) == 64) || b[0] >= 224;
}

/// True for hosts the service refuses to call back: loopback, private,
/// link-local, carrier-grade NAT, unspecified, unique-local, IPv4 addresses
/// embedded in IPv6 (mapped, compatible, NAT64) that are such, names of the
/// local machine, and numeric shorthands ("127.1", "2130706433", "0x7f.1")
/// that some resolvers read as IPv4. (Names that merely resolve to internal
/// addresses are the service's to refuse: the client does not resolve them.)
EVOLINK_INLINE bool is_internal_host(const boost::urls::url_view& u)
{
    switch (u.host_type()) {
    case boost::urls::host_type::ipv4: {
        auto b = u.host_ipv4_address().to_bytes();
        return is_internal_ipv4(b.data());
    }
    case boost::urls::host_type::ipv6: {
        auto a = u.host_ipv6_address();
        auto b = a.to_bytes();
        if (a.is_loopback() || a.is_unspecified()) return true;
        if ((b[0] & 0xFE) == 0xFC || (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) || b[0] == 0xFF) return true;
        bool first80_zero = std::all_of(b.begin(), b.begin() + 10, [](unsigned char c) { return c == 0; });
        bool mapped = first80_zero && b[10] == 0xFF && b[11] == 0xFF;
        bool compatible = first80_zero && b[10] == 0 && b[11] == 0;
        static constexpr unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
        bool translated = std::equal(b.begin(), b.begin() + 12, nat64);
        return (mapped || compatible || translated) && is_internal_ipv4(b.data() + 12);
    }
    case boost::urls::host_type::name: {
        std::string h = u.host();
        for (auto& c : h) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
        if (!h.empty() && h.back() == '.') h.pop_back();
        auto ends = [&h](std::string_view s) { return h.size() >= s.size() && h.compare(h.size() - s.size(), s.size(), s) == 0; };
        // No public DNS name has an all-numeric (or hex) last label; such
        // hosts are IPv4 shorthands.
        auto last = h.substr(h.rfind('.') == std::string::npos ? 0 : h.rfind('.') + 1);
        bool numeric = !last.empty() && (last.find_first_not_of("0123456789") == std::string::npos ||
                                         (last.starts_with("0x") && last.find_first_not_of("0123456789abcdef", 2) == std::string::npos));
        return numeric || h.empty() || h == "localhost" || ends(".localhost") || ends(".local") || ends(".internal");
    }
    default:
        return true; // IPvFuture and the like: nothing a public callback can use
    }
}

/// HTTPS only, at most 2048 characters, no internal address (unless
/// `allow_private`, for tests: then http:// on loopback is accepted too).
EVOLINK_INLINE check_result check_callback_url(std::string_view url, bool allow_private = false)
{
    // A callback URL usually carries a secret in its path or query: messages
    // show only its scheme and host.
    auto u = boost::urls::parse_uri(url);
    auto shown = [&] {
        if (!u) return detail::quoted(url.substr(0, 12)) + "...";
        std::string s = std::string(u->scheme()) + "://" + std::string(u->encoded_authority());
        return detail::quoted(s) + (u->encoded_path().size() > 1 || u->has_query() ? " (path not shown)" : "");
    };
    if (url.size() > 2048)
        return invalid("callback_url", "is " + std::to_string(url.size()) + " characters long; allowed: at most 2048");
    if (!u || u->host().empty())
        return invalid("callback_url", shown() + " is not an absolute URL; allowed: https://host/path");
    if (allow_private && u->scheme_id() == boost::urls::scheme::http && is_internal_host(*u)) return std::nullopt;
    if (u->scheme_id() != boost::urls::scheme::https)
        return invalid("callback_url", shown() + " does not use https; allowed: https URLs only");
    if (!allow_private && is_internal_host(*u))
        return invalid("callback_url", shown() +
                                           " points to an internal address; allowed: a public host (not loopback, "
                                           "10.x, 172.16-31.x, 192.168.x, link-local or localhost)");
    return std::nullopt;
}

/// Task ids go into a URL path: only [A-Za-z0-9_-], 1 to 128 characters.
EVOLINK_INLINE check_result check_task_id(std::string_view id)
{
    bool ok = !id.empty() && id.size() <= 128 && std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    });
    if (!ok)
        return invalid("task_id", detail::quoted(id) +
                                      " is not a task id; allowed: 1 to 128 of [A-Za-z0-9_-], like "
                                      "\"task-unified-1756817821-4x3rx6ny\"");
    return std::nullopt;
}

/// 16 to 96 characters of [A-Za-z0-9._-] (EvoLink's rule).
EVOLINK_INLINE check_result check_idempotency_key(std::string_view key)
{
    bool ok = key.size() >= 16 && key.size() <= 96 && std::all_of(key.begin(), key.end(), [](char c) {
                  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                         c == '_' || c == '-';
              });
    if (!ok) return invalid("idempotency_key", "is not 16 to 96 characters of [A-Za-z0-9._-]; allowed: such a key");
    return std::nullopt;
}

} // namespace evolink::detail

#endif
