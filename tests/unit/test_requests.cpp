// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// Validation tables for the typed Wan 2.5 requests and generic_request: every
// documented limit just inside and just outside (see /work/shared/evolink-api.md
// section 2 and the seed pages), then to_json / from_json.

#include <evolink/requests.hpp>
#include <evolink/testing/request_parser.hpp>

#include <catch2/catch.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

using evolink::diagnostics;
using evolink::generic_request;
using evolink::image_to_image;
using evolink::image_to_video;
using evolink::text_to_image;
using evolink::text_to_video;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::string repeat(std::string_view s, std::size_t n)
{
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) out.append(s);
    return out;
}

/// Printable form of a test value: long values cut, bytes >= 0x80 and
/// control characters escaped (the tables hold invalid UTF-8 on purpose).
std::string show(std::string_view s)
{
    std::ostringstream out;
    out << '"';
    std::size_t shown = 0;
    for (unsigned char c : s) {
        if (++shown > 60) break;
        if (c < 0x20 || c >= 0x7F) {
            static constexpr char hex[] = "0123456789ABCDEF";
            out << "\\x" << hex[c >> 4] << hex[c & 0xF];
        } else {
            out << static_cast<char>(c);
        }
    }
    out << '"';
    if (s.size() > 60) out << "... (" << s.size() << " bytes)";
    return out.str();
}

std::string describe(const std::optional<diagnostics>& d)
{
    return d ? "param=" + d->param + " message=" + show(d->message) : std::string("(accepted)");
}

/// The request passed validation.
void expect_valid(const std::optional<diagnostics>& d)
{
    INFO("validate() gave: " << describe(d));
    CHECK_FALSE(d.has_value());
}

/// The request failed validation on `field`: `param` names it, the message
/// starts with it, says what is allowed and, when `value` is given (short
/// values), quotes the offending value.
void expect_invalid(const std::optional<diagnostics>& d, const std::string& field, const std::string& value = {})
{
    INFO("validate() gave: " << describe(d));
    REQUIRE(d.has_value());
    CHECK(d->param == field);
    CHECK_THAT(d->message, StartsWith(field));
    // "n" must not match a message that merely starts with "n..." (another word).
    if (d->message.size() > field.size()) {
        unsigned char next = static_cast<unsigned char>(d->message[field.size()]);
        CHECK_FALSE((std::isalnum(next) || next == '_' || next == '['));
    }
    CHECK_THAT(d->message, Contains("allowed"));
    if (!value.empty()) CHECK_THAT(d->message, Contains(value));
}

// Callback URLs carry secrets: messages show scheme and host, never the path.
void expect_invalid_callback(const std::optional<diagnostics>& d, const std::string& url)
{
    expect_invalid(d, "callback_url");
    auto scheme_end = url.find("://");
    auto path_start = scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
    if (path_start != std::string::npos && url.size() - path_start > 1)
        CHECK_THAT(d->message, !Contains(url.substr(path_start)));
}

// Smallest valid request of each type, and one with every field set.
template <class R>
R minimal();
template <>
text_to_image minimal() { return {.prompt = "A serene lake reflecting the sunset"}; }
template <>
image_to_image minimal() { return {.prompt = "Make it autumn", .image_urls = {"https://example.com/a.png"}}; }
template <>
image_to_video minimal() { return {.prompt = "A cat playing piano", .image_url = "https://example.com/cat.png"}; }
template <>
text_to_video minimal() { return {.prompt = "A cat playing piano"}; }

template <class R>
R full();
template <>
text_to_image full()
{
    return {.prompt = "Un lac paisible au coucher du soleil, \xC3\xA9t\xC3\xA9",
            .size = "1280x1280",
            .n = 4,
            .prompt_extend = false,
            .callback_url = "https://your-domain.com/webhooks/image-task-completed"};
}
template <>
image_to_image full()
{
    return {.prompt = "Blend the two pictures",
            .image_urls = {"https://example.com/a.png", "http://cdn.example.org/b.webp?x=1"},
            .n = 2,
            .callback_url = "https://hooks.example.com/i2i?secret=abc"};
}
template <>
image_to_video full()
{
    return {.prompt = "A cat playing the piano",
            .image_url = "https://example.com/image1.png",
            .duration = 10,
            .quality = "1080p",
            .prompt_extend = true,
            .callback_url = "https://your-domain.com/webhooks/video-task-completed"};
}
template <>
text_to_video full()
{
    return {.prompt = "A city at night, neon lights",
            .aspect_ratio = "3:4",
            .quality = "1080p",
            .duration = 5,
            .prompt_extend = false,
            .callback_url = "https://example.com/cb"};
}

generic_request generic_minimal()
{
    return {.model = "wan2.6-text-to-video", .endpoint = "/v1/videos/generations",
            .fields = {{"prompt", "A cat"}}};
}

std::string url_of_length(std::size_t n)
{
    std::string u = "https://example.com/";
    REQUIRE(n >= u.size());
    u += repeat("a", n - u.size());
    REQUIRE(u.size() == n);
    return u;
}

} // namespace

// ---------------------------------------------------------------------------
// Baselines

TEMPLATE_TEST_CASE("minimal and fully filled requests validate", "[requests][validate]", text_to_image,
                   image_to_image, image_to_video, text_to_video)
{
    expect_valid(evolink::validate(minimal<TestType>()));
    expect_valid(evolink::validate(full<TestType>()));
    STATIC_REQUIRE(evolink::request<TestType>);
}

TEST_CASE("each typed request goes to its documented endpoint", "[requests]")
{
    CHECK(evolink::endpoint_of(text_to_image{}) == "/v1/images/generations");
    CHECK(evolink::endpoint_of(image_to_image{}) == "/v1/images/generations");
    CHECK(evolink::endpoint_of(image_to_video{}) == "/v1/videos/generations");
    CHECK(evolink::endpoint_of(text_to_video{}) == "/v1/videos/generations");
    CHECK(text_to_image::model == "wan2.5-text-to-image");
    CHECK(image_to_image::model == "wan2.5-image-to-image");
    CHECK(image_to_video::model == "wan2.5-image-to-video");
    CHECK(text_to_video::model == "wan2.5-text-to-video");
    STATIC_REQUIRE(evolink::request<generic_request>);
    CHECK(evolink::endpoint_of(generic_request{.model = "m", .endpoint = "/v1/x", .fields = {}}) == "/v1/x");
}

// ---------------------------------------------------------------------------
// prompt: required, 1 to 2000 code points of valid UTF-8, not only white space

TEMPLATE_TEST_CASE("prompt limits", "[requests][validate][prompt]", text_to_image, image_to_image, image_to_video,
                   text_to_video)
{
    const std::string e_acute = "\xC3\xA9";         // é, 2 bytes
    const std::string han = "\xE4\xB8\xAD";         // 中, 3 bytes
    const std::string emoji = "\xF0\x9F\x98\x80";   // 😀, 4 bytes

    SECTION("accepted")
    {
        auto prompt = GENERATE_COPY(values<std::string>({
            "a",
            " a ",
            "line one\nline two",
            repeat("x", 2000),
            repeat(e_acute, 2000), // 4000 bytes, 2000 code points
            repeat(han, 2000),     // 6000 bytes
            repeat(emoji, 2000),   // 8000 bytes
            repeat("x", 1999) + e_acute,
            repeat(e_acute, 1000) + repeat(emoji, 1000),
            "\xEF\xBF\xBD",        // U+FFFD
            "\xF4\x8F\xBF\xBF",    // U+10FFFF, the last code point
            "\xED\x9F\xBF",        // U+D7FF, just below the surrogates
            "\xEE\x80\x80",        // U+E000, just above them
        }));
        INFO("prompt " << show(prompt));
        auto r = minimal<TestType>();
        r.prompt = prompt;
        expect_valid(evolink::validate(r));
    }

    SECTION("empty or white space only")
    {
        auto prompt = GENERATE(as<std::string>{}, "", " ", "   ", "\t", "\n", "\r\n", " \t\r\n ");
        INFO("prompt " << show(prompt));
        auto r = minimal<TestType>();
        r.prompt = prompt;
        expect_invalid(evolink::validate(r), "prompt");
    }

    SECTION("over 2000 code points: the message counts code points, not bytes")
    {
        auto prompt = GENERATE_COPY(values<std::string>({
            repeat("x", 2001),
            repeat(e_acute, 2001),
            repeat(han, 2001),
            repeat(emoji, 2001),
            repeat("x", 2000) + e_acute,
        }));
        INFO("prompt " << show(prompt));
        auto r = minimal<TestType>();
        r.prompt = prompt;
        expect_invalid(evolink::validate(r), "prompt", "2001");
    }

    SECTION("invalid UTF-8")
    {
        auto prompt = GENERATE_COPY(values<std::string>({
            "\xC0\xAF",                  // overlong '/' (2 bytes)
            "\xC1\xBF",                  // overlong, 2 bytes
            "\xE0\x80\xAF",              // overlong '/' (3 bytes)
            "\xE0\x9F\xBF",              // overlong U+07FF (3 bytes)
            "\xF0\x80\x80\xAF",          // overlong '/' (4 bytes)
            "\xF0\x8F\xBF\xBF",          // overlong U+FFFF (4 bytes)
            "abc\xC3",                   // truncated 2-byte sequence at the end
            "\xE4\xB8",                  // truncated 3-byte sequence
            "\xF0\x9F\x98",              // truncated 4-byte sequence
            "a\xC3(b",                   // lead byte followed by a non-continuation
            "\xED\xA0\x80",              // U+D800, high surrogate
            "\xED\xBF\xBF",              // U+DFFF, low surrogate
            "\xED\xA0\xBD\xED\xB8\x80",  // CESU-8 surrogate pair
            "\xF4\x90\x80\x80",          // U+110000, past the last code point
            "\xF8\x88\x80\x80\x80",      // 5-byte form
            "\x80",                      // lone continuation byte
            "\xFF",
            "\xFE",
            repeat(e_acute, 1999) + "\xC3", // long, then truncated
        }));
        INFO("prompt " << show(prompt));
        auto r = minimal<TestType>();
        r.prompt = prompt;
        expect_invalid(evolink::validate(r), "prompt");
        auto d = evolink::validate(r);
        REQUIRE(d);
        CHECK_THAT(d->message, Contains("UTF-8"));
    }
}

// ---------------------------------------------------------------------------
// size (wan2.5-text-to-image): "WxH", pixels in [768*768, 1440*1440], W/H in [1/4, 4]

TEST_CASE("text_to_image size", "[requests][validate][size]")
{
    SECTION("accepted")
    {
        auto size = GENERATE(as<std::string>{}, "1280x1280", "768x768", "1440x1440", "1024x768", "768x1024",
                             "2048x512",  // ratio exactly 4, 1048576 px
                             "512x2048",  // ratio exactly 1/4
                             "2880x720",  // ratio exactly 4 at exactly 1440*1440 px
                             "720x2880",
                             "1536x384",  // ratio exactly 4 at exactly 768*768 px
                             "384x1536",
                             "1000x590"); // 590000 px, just over 589824
        INFO("size " << size);
        auto r = minimal<text_to_image>();
        r.size = size;
        expect_valid(evolink::validate(r));
    }

    SECTION("not WIDTHxHEIGHT")
    {
        auto size = GENERATE(as<std::string>{}, "1280*1280", "1280X1280", "x1280", "1280x", "01280x1280",
                             "1280x01280", "abc", "x", "1280", "1280x1280x1", " 1280x1280", "1280x1280 ",
                             "1280 x 1280", "+1280x1280", "-768x-768", "1280.0x1280", "0x0", "1280\xC3\x97" "1280");
        INFO("size " << show(size));
        auto r = minimal<text_to_image>();
        r.size = size;
        expect_invalid(evolink::validate(r), "size", size);
    }

    SECTION("empty size")
    {
        auto r = minimal<text_to_image>();
        r.size = "";
        expect_invalid(evolink::validate(r), "size");
    }

    SECTION("total pixels out of range")
    {
        auto size = GENERATE(as<std::string>{}, "768x767", "767x768", "1440x1441", "1441x1440", "100x100",
                             "1x1", "99999x99999",
                             "2881x720",  // ratio ~4 but 1 column too many pixels
                             "1535x384"); // ratio < 4 but 384 px short of 768*768
        INFO("size " << size);
        auto r = minimal<text_to_image>();
        r.size = size;
        expect_invalid(evolink::validate(r), "size", size);
    }

    SECTION("aspect ratio past 4 or 1/4")
    {
        auto size = GENERATE(as<std::string>{}, "2049x512", "512x2049", "1800x440", "440x1800", "1537x384",
                             "384x1537");
        INFO("size " << size);
        auto r = minimal<text_to_image>();
        r.size = size;
        expect_invalid(evolink::validate(r), "size", size);
    }
}

// ---------------------------------------------------------------------------
// n: 1 to 4 (text_to_image, image_to_image)

TEMPLATE_TEST_CASE("n is 1 to 4", "[requests][validate][n]", text_to_image, image_to_image)
{
    auto [n, ok] = GENERATE(table<int, bool>({{0, false}, {1, true}, {2, true}, {4, true}, {5, false},
                                             {-1, false}, {100, false}}));
    INFO("n = " << n);
    auto r = minimal<TestType>();
    r.n = n;
    if (ok) expect_valid(evolink::validate(r));
    else expect_invalid(evolink::validate(r), "n", std::to_string(n));
}

// ---------------------------------------------------------------------------
// duration: 5 or 10; quality: 480p, 720p, 1080p (image_to_video, text_to_video)

TEMPLATE_TEST_CASE("duration is 5 or 10", "[requests][validate][duration]", image_to_video, text_to_video)
{
    auto [duration, ok] = GENERATE(table<int, bool>({{4, false}, {5, true}, {6, false}, {9, false}, {10, true},
                                                    {11, false}, {0, false}, {-5, false}, {15, false}}));
    INFO("duration = " << duration);
    auto r = minimal<TestType>();
    r.duration = duration;
    if (ok) expect_valid(evolink::validate(r));
    else expect_invalid(evolink::validate(r), "duration", std::to_string(duration));
}

TEMPLATE_TEST_CASE("quality is 480p, 720p or 1080p", "[requests][validate][quality]", image_to_video,
                   text_to_video)
{
    SECTION("accepted")
    {
        auto q = GENERATE(as<std::string>{}, "480p", "720p", "1080p");
        INFO("quality " << q);
        auto r = minimal<TestType>();
        r.quality = q;
        expect_valid(evolink::validate(r));
    }
    SECTION("rejected")
    {
        auto q = GENERATE(as<std::string>{}, "720", "4k", "720P", "1080", "360p", "2160p", " 720p", "720p ");
        INFO("quality " << show(q));
        auto r = minimal<TestType>();
        r.quality = q;
        expect_invalid(evolink::validate(r), "quality", q);
    }
    SECTION("empty")
    {
        auto r = minimal<TestType>();
        r.quality = "";
        expect_invalid(evolink::validate(r), "quality");
    }
}

// ---------------------------------------------------------------------------
// aspect_ratio (text_to_video) depends on the quality; unset quality is 720p

TEST_CASE("text_to_video aspect_ratio per quality", "[requests][validate][aspect_ratio]")
{
    const std::vector<std::optional<std::string>> qualities = {std::nullopt, std::string("480p"),
                                                               std::string("720p"), std::string("1080p")};
    const std::vector<std::string> ratios = {"16:9", "9:16", "1:1", "4:3", "3:4", "21:9", "9:21",
                                             "16/9", "",     "4:3 ", "2:1", "1:2", "4:4"};
    int accepted = 0, rejected = 0;
    for (const auto& q : qualities) {
        for (const auto& ar : ratios) {
            bool always = ar == "16:9" || ar == "9:16" || ar == "1:1";
            bool hd_only = ar == "4:3" || ar == "3:4";
            bool ok = always || (hd_only && q != "480p");
            INFO("quality " << (q ? *q : std::string("(unset = 720p)")) << ", aspect_ratio " << show(ar)
                            << (ok ? " should pass" : " should fail"));
            auto r = minimal<text_to_video>();
            r.quality = q;
            r.aspect_ratio = ar;
            if (ok) {
                expect_valid(evolink::validate(r));
                ++accepted;
            } else {
                expect_invalid(evolink::validate(r), "aspect_ratio", ar.empty() ? std::string() : ar);
                ++rejected;
            }
        }
    }
    CHECK(accepted == 3 * 4 + 2 * 3);
    CHECK(rejected == static_cast<int>(qualities.size() * ratios.size()) - accepted);
}

// ---------------------------------------------------------------------------
// image URLs

TEST_CASE("image_to_image image_urls: 1 or 2 absolute http(s) URLs or local paths", "[requests][validate][image_urls]")
{
    const std::string a = "https://example.com/a.png", b = "http://example.org/b.jpg",
                      c = "https://example.net/c.webp";

    SECTION("count")
    {
        auto [urls, ok] = GENERATE_COPY(table<std::vector<std::string>, bool>({
            {std::vector<std::string>{}, false},
            {std::vector<std::string>{a}, true},
            {std::vector<std::string>{a, b}, true},
            {std::vector<std::string>{a, b, c}, false},
            {std::vector<std::string>{a, a, a, a}, false},
        }));
        INFO(urls.size() << " image URLs");
        auto r = minimal<image_to_image>();
        r.image_urls = urls;
        if (ok) expect_valid(evolink::validate(r));
        else expect_invalid(evolink::validate(r), "image_urls", std::to_string(urls.size()));
    }

    SECTION("each URL must be an absolute http(s) URL; the index is named")
    {
        auto bad = GENERATE(as<std::string>{}, "ftp://x/a.png", "file:///etc/passwd", "data:image/png;base64,AAAA",
                            "mailto:a@example.com", "https://", "http:///a.png", "javascript:alert(1)");
        INFO("url " << show(bad));
        auto r = minimal<image_to_image>();
        r.image_urls = {bad};
        expect_invalid(evolink::validate(r), "image_urls[0]", bad);
        r.image_urls = {a, bad};
        expect_invalid(evolink::validate(r), "image_urls[1]", bad);
    }

    SECTION("empty URL")
    {
        auto r = minimal<image_to_image>();
        r.image_urls = {a, ""};
        expect_invalid(evolink::validate(r), "image_urls[1]");
    }

    SECTION("a string without a URI scheme is a local file path: valid here, checked and uploaded at submit")
    {
        auto path = GENERATE(as<std::string>{}, "not a url", "/abs/cat.png", "relative.png", "./cat.png",
                             "example.com/a.png", "C:/images/a.png", "my file (1).png");
        INFO("path " << path);
        CHECK(evolink::detail::is_local_image(path));
        auto r = minimal<image_to_image>();
        r.image_urls = {a, path};
        expect_valid(evolink::validate(r));
    }

    SECTION("a NUL character in a path is refused")
    {
        auto r = minimal<image_to_image>();
        r.image_urls = {std::string("cat\0.png", 8)};
        expect_invalid(evolink::validate(r), "image_urls[0]", "NUL");
    }

    SECTION("accepted URL forms")
    {
        auto good = GENERATE(as<std::string>{}, "https://example.com/a.png", "http://example.com/a.png",
                             "https://example.com:8443/path/to/a.jpg?sig=abc&x=1", "https://93.184.216.34/a.png",
                             "https://[2001:db8::1]/a.png", "https://files-api.evolink.ai/files/a.webp");
        INFO("url " << good);
        auto r = minimal<image_to_image>();
        r.image_urls = {good};
        expect_valid(evolink::validate(r));
    }
}

TEST_CASE("image_to_video image_url: required absolute http(s) URL or local path", "[requests][validate][image_url]")
{
    SECTION("empty")
    {
        auto r = minimal<image_to_video>();
        r.image_url = "";
        expect_invalid(evolink::validate(r), "image_url");
    }
    SECTION("not an absolute http(s) URL")
    {
        auto bad = GENERATE(as<std::string>{}, "ftp://x/a.png", "file:///tmp/a.png", "https://", "mailto:a@b.c");
        INFO("url " << show(bad));
        auto r = minimal<image_to_video>();
        r.image_url = bad;
        expect_invalid(evolink::validate(r), "image_url", bad);
    }
    SECTION("http and https URLs and local paths accepted")
    {
        auto good = GENERATE(as<std::string>{}, "http://example.com/a.png", "https://example.com/first-frame.jpg",
                             "./cat.png", "/tmp/first frame.jpg");
        auto r = minimal<image_to_video>();
        r.image_url = good;
        expect_valid(evolink::validate(r));
    }
}

// URI schemes are case-insensitive (RFC 3986 section 3.1), and callback_url
// already accepts "HTTPS://": an image URL with an upper-case scheme is an
// absolute https URL too. [header bug: check_image_url compares the scheme
// case-sensitively]
TEST_CASE("image URLs: the scheme is case-insensitive", "[requests][validate][image_urls]")
{
    auto url = GENERATE(as<std::string>{}, "HTTPS://example.com/a.png", "Http://example.com/a.png");
    INFO("url " << url);
    auto i2i = minimal<image_to_image>();
    i2i.image_urls = {url};
    expect_valid(evolink::validate(i2i));
    auto i2v = minimal<image_to_video>();
    i2v.image_url = url;
    expect_valid(evolink::validate(i2v));
}

// ---------------------------------------------------------------------------
// callback_url: https only, public host, at most 2048 characters. Checked the
// same way on every typed request and in generic_request's fields.

namespace {

/// validate() of each request type with callback_url set to `url`.
std::vector<std::pair<std::string, std::optional<diagnostics>>> validate_callback_everywhere(const std::string& url)
{
    std::vector<std::pair<std::string, std::optional<diagnostics>>> out;
    auto t2i = minimal<text_to_image>();
    t2i.callback_url = url;
    out.emplace_back("text_to_image", evolink::validate(t2i));
    auto i2i = minimal<image_to_image>();
    i2i.callback_url = url;
    out.emplace_back("image_to_image", evolink::validate(i2i));
    auto i2v = minimal<image_to_video>();
    i2v.callback_url = url;
    out.emplace_back("image_to_video", evolink::validate(i2v));
    auto t2v = minimal<text_to_video>();
    t2v.callback_url = url;
    out.emplace_back("text_to_video", evolink::validate(t2v));
    auto g = generic_minimal();
    g.fields["callback_url"] = url;
    out.emplace_back("generic_request", evolink::validate(g));
    return out;
}

} // namespace

TEST_CASE("callback_url accepted", "[requests][validate][callback_url]")
{
    auto url = GENERATE(values<std::string>({
        "https://your-domain.com/webhooks/video-task-completed",
        "https://example.com",
        "https://example.com:8443/hook?token=s3cr3t&task=1",
        "HTTPS://example.com/hook", // schemes are case-insensitive
        "https://172.32.0.1/cb",    // just past 172.16.0.0/12
        "https://172.15.0.1/cb",    // just before it
        "https://8.8.8.8/cb",
        "https://11.0.0.1/cb",
        "https://192.169.1.1/cb",
        "https://169.255.1.1/cb",
        "https://126.255.255.255/cb",
        "https://128.0.0.1/cb",
        "https://[2606:4700:4700::1111]/cb",
        "https://localhost.example.com/cb", // "localhost" only as a label of a public name
        "https://mylocalhost.com/cb",
        "https://example.com/hook#fragment", // string<uri> allows a fragment
        "https://[64:ff9b::808:808]/cb",     // NAT64 of a public address
        "https://1.example.com/cb",          // numeric labels are fine unless last
        url_of_length(2048),
    }));
    INFO("callback_url " << show(url));
    for (auto& [type, d] : validate_callback_everywhere(url)) {
        INFO("request type " << type);
        expect_valid(d);
    }
}

TEST_CASE("callback_url rejected", "[requests][validate][callback_url]")
{
    SECTION("not https")
    {
        auto url = GENERATE(as<std::string>{}, "http://example.com/hook", "ftp://example.com/hook",
                            "ws://example.com/hook", "wss://example.com/hook");
        INFO("callback_url " << url);
        for (auto& [type, d] : validate_callback_everywhere(url)) {
            INFO("request type " << type);
            expect_invalid_callback(d, url);
        }
    }
    SECTION("not an absolute URL")
    {
        auto url = GENERATE(as<std::string>{}, "not a url", "/webhooks/done", "example.com/hook", "https://");
        INFO("callback_url " << url);
        for (auto& [type, d] : validate_callback_everywhere(url)) {
            INFO("request type " << type);
            expect_invalid_callback(d, url);
        }
    }
    SECTION("empty")
    {
        for (auto& [type, d] : validate_callback_everywhere("")) {
            INFO("request type " << type);
            expect_invalid(d, "callback_url");
        }
    }
    SECTION("longer than 2048 characters")
    {
        auto len = GENERATE(2049u, 2050u, 10000u);
        auto url = url_of_length(len);
        INFO("callback_url of " << url.size() << " characters");
        for (auto& [type, d] : validate_callback_everywhere(url)) {
            INFO("request type " << type);
            expect_invalid(d, "callback_url", "2048");
        }
    }
    SECTION("internal addresses")
    {
        auto host = GENERATE(as<std::string>{}, "127.0.0.1", "127.1.2.3", "127.255.255.255", "10.0.0.1",
                             "10.255.255.255", "172.16.0.1", "172.31.255.255", "192.168.1.1", "192.168.0.0",
                             "169.254.1.1", "169.254.169.254", "0.0.0.0", "[::1]", "[::]", "[fe80::1]",
                             "[febf::1]", "[fc00::1]", "[fd12:3456::1]", "[::ffff:127.0.0.1]",
                             "[::ffff:10.0.0.1]", "[::ffff:192.168.1.1]", "localhost", "LOCALHOST", "LocalHost",
                             "localhost.", "foo.localhost", "a.b.LOCALHOST", "127.0.0.1:8443",
                             "localhost:443", "user@127.0.0.1",
                             // shorthands some resolvers read as 127.0.0.1, and IPv4 embedded in IPv6
                             "127.1", "2130706433", "0x7f.0.0.1", "0x7f000001", "[::127.0.0.1]",
                             "[64:ff9b::7f00:1]", "[64:ff9b::a00:1]", "[ff02::1]");
        std::string url = "https://" + host + "/callback";
        INFO("callback_url " << url);
        for (auto& [type, d] : validate_callback_everywhere(url)) {
            INFO("request type " << type);
            expect_invalid_callback(d, url);
        }
    }
}

// The same address written as an IPv4-mapped IPv6 address gets the IPv4 rules.
TEST_CASE("callback_url: IPv4-mapped IPv6 hosts get the IPv4 rules", "[requests][validate][callback_url]")
{
    auto host = GENERATE(as<std::string>{}, "100.64.0.1", "100.127.255.255", "224.0.0.1", "255.255.255.255");
    for (const auto& h : {host, "[::ffff:" + host + "]"}) {
        std::string url = "https://" + h + "/cb";
        INFO("callback_url " << url);
        auto r = minimal<text_to_image>();
        r.callback_url = url;
        expect_invalid_callback(evolink::validate(r), url);
    }
}

TEST_CASE("callback_url: 100.64/10 boundaries (IPv4)", "[requests][validate][callback_url]")
{
    auto [host, ok] = GENERATE(table<std::string, bool>({{"100.63.255.255", true},
                                                         {"100.64.0.0", false},
                                                         {"100.127.255.255", false},
                                                         {"100.128.0.0", true},
                                                         {"223.255.255.255", true}}));
    std::string url = "https://" + host + "/cb";
    INFO("callback_url " << url);
    auto r = minimal<text_to_image>();
    r.callback_url = url;
    if (ok) expect_valid(evolink::validate(r));
    else expect_invalid_callback(evolink::validate(r), url);
}

// ---------------------------------------------------------------------------
// generic_request: a model, an API path, a consistent "model", callback_url

TEST_CASE("generic_request validation", "[requests][validate][generic]")
{
    SECTION("any fields are fine")
    {
        auto g = generic_minimal();
        g.fields["duration"] = 15;
        g.fields["audio_url"] = "https://example.com/a.mp3";
        g.fields["seed"] = 42;
        g.fields["model_params"] = boost::json::object{{"shot_type", "multi"}};
        g.fields["anything"] = nullptr;
        expect_valid(evolink::validate(g));

        g.fields["model"] = g.model; // the same model twice is fine
        expect_valid(evolink::validate(g));

        g.endpoint = "/v1/images/generations";
        expect_valid(evolink::validate(g));

        expect_valid(evolink::validate(generic_request{.model = "kling-v2", .endpoint = "/v1/videos/generations",
                                                       .fields = {}}));
        expect_valid(evolink::validate(generic_request{.model = "seedance", .fields = {{"prompt", "x"}}}));
    }

    SECTION("empty model")
    {
        auto g = generic_minimal();
        g.model = "";
        expect_invalid(evolink::validate(g), "model");
    }

    SECTION("bad endpoint")
    {
        auto ep = GENERATE(as<std::string>{}, "", "/", "v1/videos/generations", "/v2/videos/generations",
                           "/V1/videos/generations", "/v1", "/v1/videos?x=1", "/v1/videos#frag", "/v1/../admin",
                           "/v1/videos/..", "/v1/..", "/v1/video generations", "/v1/videos\tx",
                           "https://api.evolink.ai/v1/videos/generations", "//evil.example/v1/x");
        INFO("endpoint " << show(ep));
        auto g = generic_minimal();
        g.endpoint = ep;
        expect_invalid(evolink::validate(g), "endpoint", ep);
    }

    SECTION("good endpoints")
    {
        auto ep = GENERATE(as<std::string>{}, "/v1/videos/generations", "/v1/images/generations",
                           "/v1/audios/generations", "/v1/x.y/z");
        INFO("endpoint " << ep);
        auto g = generic_minimal();
        g.endpoint = ep;
        expect_valid(evolink::validate(g));
    }

    SECTION("a \"model\" in fields that is not a string is rejected")
    {
        auto g = generic_minimal();
        g.fields["model"] = 5;
        auto d = evolink::validate(g);
        REQUIRE(d);
        CHECK(d->param == "model");
        CHECK_THAT(d->message, StartsWith("model"));
    }

    SECTION("callback_url in fields that is not a string")
    {
        auto g = generic_minimal();
        g.fields["callback_url"] = 5;
        expect_invalid(evolink::validate(g), "callback_url");
        g.fields["callback_url"] = nullptr;
        expect_invalid(evolink::validate(g), "callback_url");
    }
}

// The validator's contract (requests.hpp): a message "says what is wrong and
// what is allowed". [header bug: the model-conflict message says neither what
// is allowed nor which value conflicts]
TEST_CASE("generic_request: a different \"model\" in fields is rejected with an explicit message",
          "[requests][validate][generic]")
{
    auto g = generic_minimal();
    g.fields["model"] = "other-model";
    auto d = evolink::validate(g);
    expect_invalid(d, "model", "other-model");
}

// ---------------------------------------------------------------------------
// to_json: model always, set fields only, no nulls

namespace {

void expect_no_nulls(const boost::json::object& o)
{
    for (auto& kv : o) {
        INFO("key " << std::string(kv.key()));
        CHECK_FALSE(kv.value().is_null());
    }
}

std::vector<std::string> keys(const boost::json::object& o)
{
    std::vector<std::string> k;
    for (auto& kv : o) k.emplace_back(kv.key());
    std::sort(k.begin(), k.end());
    return k;
}

using keyset = std::vector<std::string>;

} // namespace

TEST_CASE("to_json: minimal requests carry model and the required fields only", "[requests][json]")
{
    auto t2i = evolink::to_json(minimal<text_to_image>());
    CHECK(keys(t2i) == keyset{"model", "prompt"});
    CHECK(t2i.at("model") == "wan2.5-text-to-image");
    CHECK(t2i.at("prompt") == "A serene lake reflecting the sunset");
    CHECK_FALSE(t2i.contains("n"));
    CHECK_FALSE(t2i.contains("size"));
    expect_no_nulls(t2i);

    auto i2i = evolink::to_json(minimal<image_to_image>());
    CHECK(keys(i2i) == keyset{"image_urls", "model", "prompt"});
    CHECK(i2i.at("model") == "wan2.5-image-to-image");
    CHECK(i2i.at("image_urls") == boost::json::array{"https://example.com/a.png"});
    expect_no_nulls(i2i);

    auto i2v = evolink::to_json(minimal<image_to_video>());
    CHECK(keys(i2v) == keyset{"image_urls", "model", "prompt"});
    CHECK(i2v.at("model") == "wan2.5-image-to-video");
    CHECK(i2v.at("image_urls") == boost::json::array{"https://example.com/cat.png"});
    CHECK_FALSE(i2v.contains("image_url"));
    expect_no_nulls(i2v);

    auto t2v = evolink::to_json(minimal<text_to_video>());
    CHECK(keys(t2v) == keyset{"model", "prompt"});
    CHECK(t2v.at("model") == "wan2.5-text-to-video");
    expect_no_nulls(t2v);
}

TEST_CASE("to_json: every set field with its JSON type", "[requests][json]")
{
    auto t2i = evolink::to_json(full<text_to_image>());
    CHECK(keys(t2i) == keyset{"callback_url", "model", "n", "prompt", "prompt_extend", "size"});
    CHECK(t2i.at("size") == "1280x1280");
    CHECK(t2i.at("n").is_int64());
    CHECK(t2i.at("n") == 4);
    CHECK(t2i.at("prompt_extend").is_bool());
    CHECK(t2i.at("prompt_extend") == false);
    CHECK(t2i.at("callback_url") == "https://your-domain.com/webhooks/image-task-completed");
    CHECK(t2i.at("prompt") == "Un lac paisible au coucher du soleil, \xC3\xA9t\xC3\xA9");

    auto i2i = evolink::to_json(full<image_to_image>());
    CHECK(keys(i2i) == keyset{"callback_url", "image_urls", "model", "n", "prompt"});
    CHECK(i2i.at("image_urls") ==
          boost::json::array{"https://example.com/a.png", "http://cdn.example.org/b.webp?x=1"});
    CHECK(i2i.at("n") == 2);

    auto i2v = evolink::to_json(full<image_to_video>());
    CHECK(keys(i2v) == keyset{"callback_url", "duration", "image_urls", "model", "prompt", "prompt_extend", "quality"});
    CHECK(i2v.at("image_urls") == boost::json::array{"https://example.com/image1.png"});
    CHECK(i2v.at("duration").is_int64());
    CHECK(i2v.at("duration") == 10);
    CHECK(i2v.at("quality") == "1080p");
    CHECK(i2v.at("prompt_extend") == true);

    auto t2v = evolink::to_json(full<text_to_video>());
    CHECK(keys(t2v) ==
          keyset{"aspect_ratio", "callback_url", "duration", "model", "prompt", "prompt_extend", "quality"});
    CHECK(t2v.at("aspect_ratio") == "3:4");
    CHECK(t2v.at("duration") == 5);
    CHECK(t2v.at("model") == "wan2.5-text-to-video");

    // Only some optionals set: the others stay absent.
    auto partial = minimal<text_to_video>();
    partial.duration = 10;
    auto p = evolink::to_json(partial);
    CHECK(keys(p) == keyset{"duration", "model", "prompt"});
    expect_no_nulls(p);

    // prompt_extend=false is a set value, not "unset".
    auto pe = minimal<image_to_video>();
    pe.prompt_extend = false;
    auto pj = evolink::to_json(pe);
    REQUIRE(pj.contains("prompt_extend"));
    CHECK(pj.at("prompt_extend") == false);
}

TEST_CASE("to_json(generic_request): fields as given plus model", "[requests][json][generic]")
{
    generic_request g{.model = "wan2.6-text-to-video",
                      .endpoint = "/v1/videos/generations",
                      .fields = {{"prompt", "A cat"}, {"duration", 15}, {"model_params", {{"shot_type", "multi"}}}}};
    auto o = evolink::to_json(g);
    CHECK(keys(o) == keyset{"duration", "model", "model_params", "prompt"});
    CHECK(o.at("model") == "wan2.6-text-to-video");
    CHECK(o.at("duration") == 15);
    CHECK(o.at("model_params").at("shot_type") == "multi");

    auto empty = evolink::to_json(generic_request{.model = "kling-v2", .endpoint = "/v1/videos/generations", .fields = {}});
    CHECK(keys(empty) == keyset{"model"});
    CHECK(empty.at("model") == "kling-v2");
}

// ---------------------------------------------------------------------------
// from_json: the strict inverse of to_json

TEMPLATE_TEST_CASE("from_json(to_json(r)) == r", "[requests][json][roundtrip]", text_to_image, image_to_image,
                   image_to_video, text_to_video)
{
    auto which = GENERATE(as<std::string>{}, "minimal", "full");
    INFO(which << " request");
    const TestType original = which == "minimal" ? minimal<TestType>() : full<TestType>();

    TestType direct{};
    auto d1 = evolink::testing::from_json(evolink::to_json(original), direct);
    INFO("from_json gave: " << describe(d1));
    CHECK_FALSE(d1.has_value());
    CHECK(direct == original);

    // And through JSON text, as the fake server receives it.
    TestType via_text{};
    auto text = boost::json::serialize(evolink::to_json(original));
    auto d2 = evolink::testing::from_json(boost::json::parse(text).as_object(), via_text);
    CHECK_FALSE(d2.has_value());
    CHECK(via_text == original);

    // The round trip is not trivially true: changing a field is seen.
    auto changed = original;
    changed.prompt += "!";
    CHECK_FALSE(direct == changed);
}

TEST_CASE("from_json reads the documented request bodies", "[requests][json]")
{
    // The seed pages' curl examples.
    image_to_video i2v{};
    auto d = evolink::testing::from_json(boost::json::parse(R"({"model":"wan2.5-image-to-video","prompt":"A cat playing piano",
        "image_urls":["https://example.com/image1.png"],"duration":5,"quality":"720p","prompt_extend":true,
        "callback_url":"https://your-domain.com/webhooks/video-task-completed"})").as_object(), i2v);
    CHECK_FALSE(d.has_value());
    CHECK(i2v.image_url == "https://example.com/image1.png");
    CHECK(i2v.duration == 5);
    CHECK(i2v.quality == "720p");
    CHECK(i2v.prompt_extend == true);

    text_to_image t2i{};
    d = evolink::testing::from_json(boost::json::parse(R"({"model":"wan2.5-text-to-image",
        "prompt":"A serene lake reflecting the beautiful sunset scenery"})").as_object(), t2i);
    CHECK_FALSE(d.has_value());
    CHECK(t2i.prompt == "A serene lake reflecting the beautiful sunset scenery");
    CHECK_FALSE(t2i.size.has_value());
    CHECK_FALSE(t2i.n.has_value());
    CHECK_FALSE(t2i.prompt_extend.has_value());
}

namespace {

template <class R>
std::optional<diagnostics> parse_as(std::string_view json)
{
    R r{};
    return evolink::testing::from_json(boost::json::parse(json).as_object(), r);
}

void expect_param(const std::optional<diagnostics>& d, const std::string& field)
{
    INFO("from_json gave: " << describe(d));
    REQUIRE(d.has_value());
    CHECK(d->param == field);
    CHECK_THAT(d->message, StartsWith(field));
}

} // namespace

TEST_CASE("from_json rejects another model", "[requests][json]")
{
    expect_param(parse_as<text_to_image>(R"({"model":"wan2.5-image-to-image","prompt":"x"})"), "model");
    expect_param(parse_as<image_to_image>(R"({"model":"wan2.5-text-to-image","prompt":"x","image_urls":["https://e.com/a.png"]})"), "model");
    expect_param(parse_as<image_to_video>(R"({"model":"wan2.6-image-to-video","prompt":"x","image_urls":["https://e.com/a.png"]})"), "model");
    expect_param(parse_as<text_to_video>(R"({"model":"wan2.6-text-to-video","prompt":"x"})"), "model");
    // Missing, not a string, case changed.
    expect_param(parse_as<text_to_image>(R"({"prompt":"x"})"), "model");
    expect_param(parse_as<text_to_image>(R"({"model":null,"prompt":"x"})"), "model");
    expect_param(parse_as<text_to_image>(R"({"model":["wan2.5-text-to-image"],"prompt":"x"})"), "model");
    expect_param(parse_as<text_to_video>(R"({"model":"WAN2.5-TEXT-TO-VIDEO","prompt":"x"})"), "model");
}

TEST_CASE("from_json rejects a field of the wrong JSON type", "[requests][json]")
{
    struct row {
        const char* json;
        const char* param;
    };
    const row t2i_rows[] = {
        {R"({"model":"wan2.5-text-to-image","prompt":"x","n":"2"})", "n"},
        {R"({"model":"wan2.5-text-to-image","prompt":"x","n":1.5})", "n"},
        {R"({"model":"wan2.5-text-to-image","prompt":"x","n":true})", "n"},
        {R"({"model":"wan2.5-text-to-image","prompt":"x","n":null})", "n"},
        {R"({"model":"wan2.5-text-to-image","prompt":"x","prompt_extend":"true"})", "prompt_extend"},
        {R"({"model":"wan2.5-text-to-image","prompt":"x","prompt_extend":1})", "prompt_extend"},
        {R"({"model":"wan2.5-text-to-image","prompt":"x","size":1280})", "size"},
        {R"({"model":"wan2.5-text-to-image","prompt":5})", "prompt"},
        {R"({"model":"wan2.5-text-to-image","prompt":["x"]})", "prompt"},
        {R"({"model":"wan2.5-text-to-image","prompt":"x","callback_url":{"url":"https://e.com"}})", "callback_url"},
    };
    for (auto& r : t2i_rows) {
        INFO(r.json);
        expect_param(parse_as<text_to_image>(r.json), r.param);
    }
    const row i2i_rows[] = {
        {R"({"model":"wan2.5-image-to-image","prompt":"x","image_urls":"https://e.com/a.png"})", "image_urls"},
        {R"({"model":"wan2.5-image-to-image","prompt":"x","image_urls":[1]})", "image_urls"},
        {R"({"model":"wan2.5-image-to-image","prompt":"x","image_urls":["https://e.com/a.png"],"n":"1"})", "n"},
    };
    for (auto& r : i2i_rows) {
        INFO(r.json);
        expect_param(parse_as<image_to_image>(r.json), r.param);
    }
    const row i2v_rows[] = {
        {R"({"model":"wan2.5-image-to-video","prompt":"x","image_urls":["https://e.com/a.png"],"duration":"5"})", "duration"},
        {R"({"model":"wan2.5-image-to-video","prompt":"x","image_urls":["https://e.com/a.png"],"quality":720})", "quality"},
        {R"({"model":"wan2.5-image-to-video","prompt":"x","image_urls":["https://e.com/a.png"],"prompt_extend":"true"})", "prompt_extend"},
        {R"({"model":"wan2.5-image-to-video","prompt":"x","image_urls":"https://e.com/a.png"})", "image_urls"},
    };
    for (auto& r : i2v_rows) {
        INFO(r.json);
        expect_param(parse_as<image_to_video>(r.json), r.param);
    }
    const row t2v_rows[] = {
        {R"({"model":"wan2.5-text-to-video","prompt":"x","duration":5.5})", "duration"},
        {R"({"model":"wan2.5-text-to-video","prompt":"x","aspect_ratio":1.77})", "aspect_ratio"},
        {R"({"model":"wan2.5-text-to-video","prompt":"x","prompt_extend":"true"})", "prompt_extend"},
    };
    for (auto& r : t2v_rows) {
        INFO(r.json);
        expect_param(parse_as<text_to_video>(r.json), r.param);
    }
}

TEST_CASE("from_json rejects fields the model does not document", "[requests][json]")
{
    // Section 2: no EvoLink Wan 2.5 page documents audio_url, negative_prompt,
    // seed, watermark or a video size; each model also lacks the others' fields.
    auto extra = GENERATE(as<std::string>{}, "seed", "negative_prompt", "audio_url", "watermark");
    INFO("extra field " << extra);
    const std::string add = ",\"" + extra + "\":1}";
    auto body = [&](std::string base) {
        base.pop_back();
        return base + add;
    };
    expect_param(parse_as<text_to_image>(body(R"({"model":"wan2.5-text-to-image","prompt":"x"})")), extra);
    expect_param(parse_as<image_to_image>(body(R"({"model":"wan2.5-image-to-image","prompt":"x","image_urls":["https://e.com/a.png"]})")), extra);
    expect_param(parse_as<image_to_video>(body(R"({"model":"wan2.5-image-to-video","prompt":"x","image_urls":["https://e.com/a.png"]})")), extra);
    expect_param(parse_as<text_to_video>(body(R"({"model":"wan2.5-text-to-video","prompt":"x"})")), extra);
}

TEST_CASE("from_json rejects another model's fields", "[requests][json]")
{
    expect_param(parse_as<text_to_image>(R"({"model":"wan2.5-text-to-image","prompt":"x","image_urls":["https://e.com/a.png"]})"), "image_urls");
    expect_param(parse_as<text_to_image>(R"({"model":"wan2.5-text-to-image","prompt":"x","duration":5})"), "duration");
    expect_param(parse_as<image_to_image>(R"({"model":"wan2.5-image-to-image","prompt":"x","image_urls":["https://e.com/a.png"],"size":"1280x1280"})"), "size");
    expect_param(parse_as<image_to_image>(R"({"model":"wan2.5-image-to-image","prompt":"x","image_urls":["https://e.com/a.png"],"prompt_extend":true})"), "prompt_extend");
    expect_param(parse_as<image_to_video>(R"({"model":"wan2.5-image-to-video","prompt":"x","image_urls":["https://e.com/a.png"],"aspect_ratio":"16:9"})"), "aspect_ratio");
    expect_param(parse_as<image_to_video>(R"({"model":"wan2.5-image-to-video","prompt":"x","image_url":"https://e.com/a.png"})"), "image_url");
    expect_param(parse_as<text_to_video>(R"({"model":"wan2.5-text-to-video","prompt":"x","size":"1280x720"})"), "size");
    expect_param(parse_as<text_to_video>(R"({"model":"wan2.5-text-to-video","prompt":"x","image_urls":["https://e.com/a.png"]})"), "image_urls");
}

TEST_CASE("from_json rejects a missing required field", "[requests][json]")
{
    expect_param(parse_as<text_to_image>(R"({"model":"wan2.5-text-to-image"})"), "prompt");
    expect_param(parse_as<text_to_image>(R"({"model":"wan2.5-text-to-image","n":1})"), "prompt");
    expect_param(parse_as<image_to_image>(R"({"model":"wan2.5-image-to-image","image_urls":["https://e.com/a.png"]})"), "prompt");
    expect_param(parse_as<image_to_image>(R"({"model":"wan2.5-image-to-image","prompt":"x"})"), "image_urls");
    expect_param(parse_as<image_to_video>(R"({"model":"wan2.5-image-to-video","image_urls":["https://e.com/a.png"]})"), "prompt");
    expect_param(parse_as<image_to_video>(R"({"model":"wan2.5-image-to-video","prompt":"x"})"), "image_urls");
    expect_param(parse_as<text_to_video>(R"({"model":"wan2.5-text-to-video","duration":5})"), "prompt");
}

TEST_CASE("from_json(image_to_video) wants exactly one image", "[requests][json]")
{
    expect_param(parse_as<image_to_video>(R"({"model":"wan2.5-image-to-video","prompt":"x","image_urls":[]})"), "image_urls");
    expect_param(parse_as<image_to_video>(
                     R"({"model":"wan2.5-image-to-video","prompt":"x","image_urls":["https://e.com/a.png","https://e.com/b.png"]})"),
                 "image_urls");
    CHECK_FALSE(parse_as<image_to_video>(R"({"model":"wan2.5-image-to-video","prompt":"x","image_urls":["https://e.com/a.png"]})")
                    .has_value());
}

TEST_CASE("from_json parses, validate judges: out-of-range values parse", "[requests][json]")
{
    // from_json checks shape (types, fields, model); the limits are validate()'s.
    text_to_image r{};
    REQUIRE_FALSE(evolink::testing::from_json(boost::json::parse(R"({"model":"wan2.5-text-to-image","prompt":"x","n":7})").as_object(), r));
    CHECK(r.n == 7);
    expect_invalid(evolink::validate(r), "n", "7");
}

TEST_CASE("callback_url errors never show the URL's path or query (they hold the secret)", "[requests][validate][callback_url]")
{
    for (std::string url : std::vector<std::string>{"http://hooks.example.com/evolink/callback/0123456789abcdefSECRET",
                            "https://10.1.2.3/cb/0123456789abcdefSECRET", "http://hooks.example.com/x?token=0123456789abcdefSECRET",
                            std::string("https://hooks.example.com/") + std::string(2100, 'S') + "SECRET"}) {
        auto r = minimal<text_to_image>();
        r.callback_url = url;
        auto d = evolink::validate(r);
        REQUIRE(d);
        INFO(d->message);
        CHECK_THAT(d->message, !Contains("SECRET"));
    }
}
