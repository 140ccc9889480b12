// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// Local image checks (include/evolink/images.hpp): every image is built
// here, byte by byte. Each format read right; each model limit just inside
// and just outside; PNG transparency; every prefix of every image (must not
// crash, must fail while shorter than the header); corrupt lengths; files on
// disk, including a 10 MB + 1 file refused from its size.

#include <evolink/images.hpp>

#include "../support/files.hpp" // after the library: see support/fixture.hpp
#include "../support/png.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

using evolink::check_image;
using evolink::check_image_file;
using evolink::image_format;
using evolink::image_info;
using evolink::image_limits;
using evolink::inspect_image;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

using bytes = std::vector<unsigned char>;
namespace fs = std::filesystem;

// ---- byte builders --------------------------------------------------------

void put(bytes& b, std::string_view s) { b.insert(b.end(), s.begin(), s.end()); }
void put(bytes& b, const bytes& s) { b.insert(b.end(), s.begin(), s.end()); }
void be16(bytes& b, std::uint32_t v) { b.insert(b.end(), {static_cast<unsigned char>(v >> 8), static_cast<unsigned char>(v)}); }
void le16(bytes& b, std::uint32_t v) { b.insert(b.end(), {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8)}); }
void le24(bytes& b, std::uint32_t v)
{
    le16(b, v & 0xFFFF);
    b.push_back(static_cast<unsigned char>(v >> 16));
}
void le32(bytes& b, std::uint32_t v)
{
    le16(b, v & 0xFFFF);
    le16(b, v >> 16);
}

/// The shared PNG builder's bytes (tests/support/png.hpp): signature, IHDR,
/// tEXt at offset 33, PLTE, tRNS, IDAT (10 bytes), tRNS after IDAT, IEND.
bytes make_png(std::uint32_t w, std::uint32_t h, unsigned colour = 2, bool trns = false, bool trns_after_idat = false,
               unsigned depth = 8)
{
    auto png = test_support::make_png(
        w, h, {.colour_type = colour, .bit_depth = depth, .trns = trns, .trns_after_idat = trns_after_idat});
    return bytes(png.begin(), png.end());
}

/// SOI, APP0 (JFIF), APP1 (Exif, holding bytes that look like SOF and EOI
/// markers), COM, DQT, fill bytes, SOFn, DHT, SOS, entropy-coded data, EOI.
bytes make_jpeg(std::uint32_t w, std::uint32_t h, unsigned sof = 0xC0)
{
    bytes b{0xFF, 0xD8};
    b.insert(b.end(), {0xFF, 0xE0});
    be16(b, 16);
    put(b, std::string_view("JFIF\0\1\1\0\0\1\0\1\0\0", 14));
    b.insert(b.end(), {0xFF, 0xE1});
    bytes exif;
    put(exif, std::string_view("Exif\0\0", 6));
    exif.insert(exif.end(), {0xFF, 0xC0, 0x00, 0x11, 0x08, 0x00, 0x10, 0x00, 0x10, 0xFF, 0xD9, 0xFF, 0xDA, 0, 0});
    be16(b, static_cast<std::uint32_t>(exif.size() + 2));
    put(b, exif);
    b.insert(b.end(), {0xFF, 0xFE});
    be16(b, 2 + 13);
    put(b, "made by tests");
    b.insert(b.end(), {0xFF, 0xDB});
    be16(b, 67);
    b.push_back(0);
    for (int i = 0; i < 64; ++i) b.push_back(static_cast<unsigned char>(1 + i % 7));
    b.insert(b.end(), {0xFF, 0xFF, 0xFF}); // fill bytes before the next marker
    b.insert(b.end(), {0xFF, static_cast<unsigned char>(sof)});
    be16(b, 17);
    b.push_back(8);
    be16(b, h);
    be16(b, w);
    b.insert(b.end(), {3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1});
    b.insert(b.end(), {0xFF, 0xC4});
    be16(b, 2 + 1 + 16 + 1);
    b.push_back(0x00);
    b.push_back(1);
    for (int i = 1; i < 16; ++i) b.push_back(0);
    b.push_back(0);
    b.insert(b.end(), {0xFF, 0xDA});
    be16(b, 12);
    b.insert(b.end(), {3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0});
    b.insert(b.end(), {0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD0, 0x78, 0x9A});
    b.insert(b.end(), {0xFF, 0xD9});
    return b;
}

bytes riff_chunk(std::string_view fourcc, const bytes& data)
{
    bytes c;
    put(c, fourcc);
    le32(c, static_cast<std::uint32_t>(data.size()));
    put(c, data);
    if (data.size() % 2) c.push_back(0);
    return c;
}

bytes riff_webp(const std::vector<bytes>& chunks)
{
    bytes body;
    put(body, "WEBP");
    for (const auto& c : chunks) put(body, c);
    bytes b;
    put(b, "RIFF");
    le32(b, static_cast<std::uint32_t>(body.size()));
    put(b, body);
    return b;
}

bytes vp8_data(std::uint32_t w, std::uint32_t h)
{
    bytes d;
    le24(d, (1u << 4) | (8u << 5)); // key frame, version 0, shown, first partition of 8 bytes
    d.insert(d.end(), {0x9D, 0x01, 0x2A});
    le16(d, w);
    le16(d, h);
    for (int i = 0; i < 12; ++i) d.push_back(static_cast<unsigned char>(0x30 + i));
    return d;
}

bytes vp8l_data(std::uint32_t w, std::uint32_t h, bool alpha)
{
    bytes d{0x2F};
    le32(d, (w - 1) | ((h - 1) << 14) | (alpha ? 1u << 28 : 0u));
    d.insert(d.end(), {0x07, 0x00, 0x1C, 0x30});
    return d;
}

bytes make_webp_vp8(std::uint32_t w, std::uint32_t h) { return riff_webp({riff_chunk("VP8 ", vp8_data(w, h))}); }
bytes make_webp_vp8l(std::uint32_t w, std::uint32_t h, bool alpha = false)
{
    return riff_webp({riff_chunk("VP8L", vp8l_data(w, h, alpha))});
}
bytes make_webp_vp8x(std::uint32_t w, std::uint32_t h, bool alpha = false)
{
    bytes x{static_cast<unsigned char>(alpha ? 0x10 : 0x00), 0, 0, 0};
    le24(x, w - 1);
    le24(x, h - 1);
    std::vector<bytes> chunks{riff_chunk("VP8X", x)};
    if (alpha) chunks.push_back(riff_chunk("ALPH", bytes{0, 1, 2, 3, 4}));
    chunks.push_back(riff_chunk("VP8 ", vp8_data(w, h)));
    return riff_webp(chunks);
}

/// A BMP with a `header`-byte DIB header (12: BITMAPCOREHEADER; 40, 56,
/// 108, 124...), palette for <= 8 bits, and every row of pixels.
bytes make_bmp(std::int32_t w, std::int32_t h, std::uint32_t header = 40, unsigned bpp = 24,
               std::uint32_t alpha_mask = 0)
{
    std::uint64_t aw = static_cast<std::uint64_t>(w < 0 ? -static_cast<std::int64_t>(w) : w);
    std::uint64_t ah = static_cast<std::uint64_t>(h < 0 ? -static_cast<std::int64_t>(h) : h);
    std::uint32_t palette = bpp <= 8 ? (1u << bpp) * (header == 12 ? 3 : 4) : 0;
    std::uint64_t row = (bpp * aw + 31) / 32 * 4;
    auto pixels = static_cast<std::uint32_t>(row * ah);
    std::uint32_t offset = 14 + header + palette;
    bytes b;
    put(b, "BM");
    le32(b, offset + pixels);
    le32(b, 0);
    le32(b, offset);
    if (header == 12) {
        le32(b, 12);
        le16(b, static_cast<std::uint32_t>(w));
        le16(b, static_cast<std::uint32_t>(h));
        le16(b, 1);
        le16(b, bpp);
    } else {
        le32(b, header);
        le32(b, static_cast<std::uint32_t>(w));
        le32(b, static_cast<std::uint32_t>(h));
        le16(b, 1);
        le16(b, bpp);
        le32(b, header >= 52 && (bpp == 16 || bpp == 32) ? 3 : 0); // BI_BITFIELDS or BI_RGB
        le32(b, pixels);
        le32(b, 2835);
        le32(b, 2835);
        le32(b, 0);
        le32(b, 0);
        if (header >= 52) {
            le32(b, 0x00FF0000);
            le32(b, 0x0000FF00);
            le32(b, 0x000000FF);
        }
        if (header >= 56) le32(b, alpha_mask);
        b.resize(14 + header, 0);
    }
    b.resize(offset, 0x40);
    for (std::uint32_t i = 0; i < pixels; ++i) b.push_back(static_cast<unsigned char>(i * 7));
    return b;
}

bytes make_gif(std::uint32_t w, std::uint32_t h, bool gif89 = true)
{
    bytes b;
    put(b, gif89 ? "GIF89a" : "GIF87a");
    le16(b, w);
    le16(b, h);
    b.insert(b.end(), {0x80, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF});  // global colour table: 2 entries
    b.insert(b.end(), {0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0});       // image descriptor, 1x1
    b.insert(b.end(), {0x02, 0x02, 0x44, 0x01, 0x00, 0x3B});    // LZW data, trailer
    return b;
}

// ---- helpers ---------------------------------------------------------------

std::optional<image_info> inspect(const bytes& b)
{
    std::string why = "stale";
    auto r = inspect_image(b, why);
    if (r) CHECK(why.empty());
    else CHECK_THAT(why, StartsWith("is "));
    return r;
}

std::string why_of(const bytes& b)
{
    std::string why;
    auto r = inspect_image(b, why);
    CHECK_FALSE(r.has_value());
    return why;
}

/// The diagnostics' message for `b` named "./cat.png", or "" when accepted.
std::string refusal(const bytes& b, const image_limits& limits, std::string_view name = "./cat.png")
{
    auto d = check_image(b, name, limits, "image_url");
    if (!d) return "";
    CHECK(d->code == "invalid_parameter");
    CHECK(d->type == "invalid_request_error");
    CHECK(d->param == "image_url");
    CHECK_THAT(d->message, StartsWith("image_url: \"" + std::string(name) + "\" "));
    return d->message;
}

std::size_t end_of(const bytes& b, std::initializer_list<unsigned char> tag, std::size_t extra)
{
    auto it = std::search(b.begin(), b.end(), tag.begin(), tag.end());
    REQUIRE(it != b.end());
    return static_cast<std::size_t>(it - b.begin()) + extra;
}

using test_support::temp_dir;

} // namespace

TEST_CASE("image_format names, MIME types and extensions")
{
    using f = image_format;
    CHECK(evolink::to_string(f::jpeg) == "jpeg");
    CHECK(evolink::to_string(f::png) == "png");
    CHECK(evolink::to_string(f::bmp) == "bmp");
    CHECK(evolink::to_string(f::webp) == "webp");
    CHECK(evolink::to_string(f::gif) == "gif");
    CHECK(evolink::to_string(f::unknown) == "unknown");
    CHECK(evolink::mime_type(f::jpeg) == "image/jpeg");
    CHECK(evolink::mime_type(f::png) == "image/png");
    CHECK(evolink::mime_type(f::bmp) == "image/bmp");
    CHECK(evolink::mime_type(f::webp) == "image/webp");
    CHECK(evolink::mime_type(f::gif) == "image/gif");
    CHECK(evolink::mime_type(f::unknown) == "application/octet-stream");
    CHECK(evolink::file_extension(f::jpeg) == ".jpg");
    CHECK(evolink::file_extension(f::png) == ".png");
    CHECK(evolink::file_extension(f::bmp) == ".bmp");
    CHECK(evolink::file_extension(f::webp) == ".webp");
    CHECK(evolink::file_extension(f::gif) == ".gif");
    CHECK(evolink::file_extension(f::unknown).empty());
}

TEST_CASE("model limits")
{
    auto v = evolink::image_to_video_limits();
    CHECK(v.model == "wan2.5-image-to-video");
    CHECK(v.max_bytes == 10 * 1024 * 1024);
    CHECK(v.min_side == 360);
    CHECK(v.max_side == 2000);
    CHECK_FALSE(v.allow_alpha);
    CHECK(v.formats == std::vector<image_format>{image_format::jpeg, image_format::png, image_format::bmp, image_format::webp});
    auto i = evolink::image_to_image_limits();
    CHECK(i.model == "wan2.5-image-to-image");
    CHECK(i.max_bytes == 10 * 1024 * 1024);
    CHECK(i.min_side == 384);
    CHECK(i.max_side == 5000);
    CHECK_FALSE(i.allow_alpha);
    CHECK(i.formats == v.formats);
}

TEST_CASE("PNG: size, colour types and transparency are read")
{
    auto png = make_png(640, 480);
    auto r = inspect(png);
    REQUIRE(r);
    CHECK(r->format == image_format::png);
    CHECK(r->width == 640);
    CHECK(r->height == 480);
    CHECK_FALSE(r->has_alpha);
    CHECK(r->size == png.size());

    CHECK(inspect(make_png(1, 2, 0, false, false, 1))->height == 2); // 1-bit grey
    CHECK(inspect(make_png(7, 9, 3))->width == 7);                   // palette
    CHECK(inspect(make_png(7, 9, 2, false, false, 16))->width == 7); // 16-bit RGB
    CHECK(inspect(make_png(10, 10, 6))->has_alpha);
    CHECK(inspect(make_png(10, 10, 4))->has_alpha);
    CHECK(inspect(make_png(10, 10, 2, true))->has_alpha);
    CHECK(inspect(make_png(10, 10, 3, true))->has_alpha);
    CHECK(inspect(make_png(10, 10, 0, true))->has_alpha);
    CHECK_FALSE(inspect(make_png(10, 10, 2, false, true))->has_alpha); // tRNS after IDAT does not count

    // Trailing bytes after IEND are ignored; a missing IEND after IDAT is accepted.
    auto tail = png;
    put(tail, "trailing");
    CHECK(inspect(tail));
    auto no_iend = png;
    no_iend.resize(png.size() - 12);
    CHECK(inspect(no_iend));
}

TEST_CASE("JPEG: SOF0 and SOF2 after APPn, COM, DQT and fill bytes")
{
    auto jpg = make_jpeg(1920, 1080);
    auto r = inspect(jpg);
    REQUIRE(r);
    CHECK(r->format == image_format::jpeg);
    CHECK(r->width == 1920);
    CHECK(r->height == 1080);
    CHECK_FALSE(r->has_alpha);
    CHECK(r->size == jpg.size());

    for (unsigned sof : {0xC1u, 0xC2u, 0xC3u, 0xC5u, 0xC9u, 0xCFu}) {
        auto p = inspect(make_jpeg(400, 300, sof));
        REQUIRE(p);
        CHECK(p->width == 400);
        CHECK(p->height == 300);
    }

    // Standalone markers (TEM, RST) and a stray byte before a marker are skipped.
    auto j = make_jpeg(800, 600);
    j.insert(j.begin() + 2, {0xFF, 0x01, 0xFF, 0xD3, 0x00});
    r = inspect(j);
    REQUIRE(r);
    CHECK(r->width == 800);

    // DHT (C4), JPG (C8) and DAC (CC) are not SOFs: a file whose only "SOF" is
    // one of them has no size.
    for (unsigned not_sof : {0xC4u, 0xC8u, 0xCCu})
        CHECK(why_of(make_jpeg(800, 600, not_sof)) == "is a corrupt JPEG (no SOF marker before the image data)");
}

TEST_CASE("WebP: VP8, VP8L and VP8X")
{
    auto lossy = make_webp_vp8(1024, 768);
    auto r = inspect(lossy);
    REQUIRE(r);
    CHECK(r->format == image_format::webp);
    CHECK(r->width == 1024);
    CHECK(r->height == 768);
    CHECK_FALSE(r->has_alpha);
    CHECK(r->size == lossy.size());
    // The top two bits of VP8's 16-bit fields are a scale, not size.
    auto scaled = make_webp_vp8(1024, 768);
    scaled[27] |= 0xC0;
    CHECK(inspect(scaled)->width == 1024);

    r = inspect(make_webp_vp8l(16384, 1));
    REQUIRE(r);
    CHECK(r->width == 16384);
    CHECK(r->height == 1);
    CHECK_FALSE(r->has_alpha);
    CHECK(inspect(make_webp_vp8l(500, 700, true))->has_alpha);
    CHECK(inspect(make_webp_vp8l(500, 700, true))->height == 700);

    r = inspect(make_webp_vp8x(3000, 16777216));
    REQUIRE(r);
    CHECK(r->width == 3000);
    CHECK(r->height == 16777216);
    CHECK_FALSE(r->has_alpha);
    r = inspect(make_webp_vp8x(600, 400, true));
    REQUIRE(r);
    CHECK(r->has_alpha);
    CHECK(r->width == 600);
}

TEST_CASE("BMP: core, 40-byte and 124-byte headers, top-down, alpha mask")
{
    auto core = make_bmp(13, 11, 12, 24);
    auto r = inspect(core);
    REQUIRE(r);
    CHECK(r->format == image_format::bmp);
    CHECK(r->width == 13);
    CHECK(r->height == 11);
    CHECK_FALSE(r->has_alpha);
    CHECK(r->size == core.size());

    r = inspect(make_bmp(17, 5, 40, 8));
    REQUIRE(r);
    CHECK(r->width == 17);
    CHECK(r->height == 5);

    r = inspect(make_bmp(9, -4, 124, 24)); // top-down
    REQUIRE(r);
    CHECK(r->width == 9);
    CHECK(r->height == 4);
    CHECK_FALSE(r->has_alpha);

    CHECK(inspect(make_bmp(3, 3, 124, 32, 0xFF000000))->has_alpha);
    CHECK(inspect(make_bmp(3, 3, 108, 32, 0xFF000000))->has_alpha);
    CHECK(inspect(make_bmp(3, 3, 56, 16, 0x8000))->has_alpha);
    CHECK_FALSE(inspect(make_bmp(3, 3, 124, 32, 0))->has_alpha);
    CHECK_FALSE(inspect(make_bmp(3, 3, 124, 24, 0xFF000000))->has_alpha); // 24 bits: no room for alpha
    CHECK_FALSE(inspect(make_bmp(3, 3, 40, 32))->has_alpha);              // no alpha mask in a 40-byte header
    CHECK(inspect(make_bmp(1, 1, 40, 1))->width == 1);
}

TEST_CASE("GIF is read, then refused by the models")
{
    for (bool gif89 : {true, false}) {
        auto gif = make_gif(500, 400, gif89);
        auto r = inspect(gif);
        REQUIRE(r);
        CHECK(r->format == image_format::gif);
        CHECK(r->width == 500);
        CHECK(r->height == 400);
        CHECK(refusal(gif, evolink::image_to_video_limits(), "./a.gif") ==
              "image_url: \"./a.gif\" is gif; wan2.5-image-to-video allows jpeg, png, bmp, webp");
    }
    image_limits any;
    any.formats.clear(); // every format read
    CHECK(refusal(make_gif(5, 5), any).empty());
}

TEST_CASE("sniff_image_format reads only the magic bytes")
{
    auto head = [](const bytes& b) { return evolink::sniff_image_format(std::span(b.data(), std::min<std::size_t>(b.size(), 12))); };
    CHECK(head(make_png(1, 1)) == image_format::png);
    CHECK(head(make_jpeg(1, 1)) == image_format::jpeg);
    CHECK(head(make_webp_vp8(1, 1)) == image_format::webp);
    CHECK(head(make_bmp(1, 1)) == image_format::bmp);
    CHECK(head(make_gif(1, 1)) == image_format::gif);
    CHECK(head(bytes{'<', 'h', 't', 'm', 'l'}) == image_format::unknown);
    CHECK(head(bytes{}) == image_format::unknown);
    CHECK(evolink::sniff_image_format(std::span(make_png(1, 1).data(), 4)) == image_format::unknown);
}

TEST_CASE("wan2.5-image-to-video sides: 359 / 360 / 2000 / 2001")
{
    const auto limits = evolink::image_to_video_limits();
    using maker = bytes (*)(std::uint32_t, std::uint32_t);
    std::vector<std::pair<const char*, maker>> makers{
        {"png", [](std::uint32_t w, std::uint32_t h) { return make_png(w, h); }},
        {"jpeg", [](std::uint32_t w, std::uint32_t h) { return make_jpeg(w, h); }},
        {"webp", [](std::uint32_t w, std::uint32_t h) { return make_webp_vp8x(w, h); }},
        {"bmp", [](std::uint32_t w, std::uint32_t h) { return make_bmp(static_cast<std::int32_t>(w), static_cast<std::int32_t>(h), 40, 1); }},
    };
    for (auto& [name, make] : makers) {
        INFO(name);
        for (std::uint32_t side : {360u, 361u, 1999u, 2000u}) {
            CHECK(refusal(make(side, 1000), limits).empty());
            CHECK(refusal(make(1000, side), limits).empty());
        }
        for (std::uint32_t side : {1u, 359u, 2001u, 16383u}) {
            auto m = refusal(make(side, 1000), limits);
            CHECK(m == "image_url: \"./cat.png\" is " + std::to_string(side) +
                           "x1000 pixels; wan2.5-image-to-video allows width and height in [360, 2000]");
            CHECK_THAT(refusal(make(1000, side), limits), Contains("is 1000x" + std::to_string(side) + " pixels"));
        }
    }
    CHECK(refusal(make_png(300, 500), limits) ==
          "image_url: \"./cat.png\" is 300x500 pixels; wan2.5-image-to-video allows width and height in [360, 2000]");
}

TEST_CASE("wan2.5-image-to-image sides: 383 / 384 / 5000 / 5001")
{
    const auto limits = evolink::image_to_image_limits();
    for (std::uint32_t side : {384u, 5000u}) {
        CHECK(refusal(make_png(side, 1000), limits).empty());
        CHECK(refusal(make_jpeg(1000, side), limits).empty());
        CHECK(refusal(make_webp_vp8l(side, side), limits).empty());
        CHECK(refusal(make_webp_vp8(side, 4000), limits).empty());
    }
    CHECK(refusal(make_bmp(5000, 384, 40, 1), limits).empty());
    CHECK(refusal(make_bmp(384, -5000, 124, 1), limits).empty());
    for (std::uint32_t side : {383u, 5001u}) {
        std::string tail = " pixels; wan2.5-image-to-image allows width and height in [384, 5000]";
        CHECK(refusal(make_png(side, 1000), limits) == "image_url: \"./cat.png\" is " + std::to_string(side) + "x1000" + tail);
        CHECK(refusal(make_jpeg(1000, side), limits) == "image_url: \"./cat.png\" is 1000x" + std::to_string(side) + tail);
        CHECK_THAT(refusal(make_webp_vp8l(side, side), limits), Contains(tail));
        CHECK_THAT(refusal(make_webp_vp8(side, 4000), limits), Contains(tail));
    }
    CHECK_THAT(refusal(make_bmp(5001, 384, 40, 1), limits), Contains("is 5001x384 pixels"));
    CHECK_THAT(refusal(make_bmp(384, -383, 124, 1), limits), Contains("is 384x383 pixels"));

    image_limits open_ended = limits;
    open_ended.max_side = 0;
    CHECK(refusal(make_png(100000, 384), open_ended).empty());
    CHECK(refusal(make_png(100, 384), open_ended) ==
          "image_url: \"./cat.png\" is 100x384 pixels; wan2.5-image-to-image allows width and height of at least 384");
}

TEST_CASE("byte limit: max_bytes and max_bytes + 1")
{
    auto png = make_png(640, 480);
    image_limits limits = evolink::image_to_video_limits();
    limits.max_bytes = png.size();
    CHECK(refusal(png, limits).empty());
    limits.max_bytes = png.size() - 1;
    std::string n = std::to_string(png.size()), max = std::to_string(png.size() - 1);
    CHECK(refusal(png, limits) == "image_url: \"./cat.png\" is 0.1 KB (" + n +
                                      " bytes); wan2.5-image-to-video allows at most 0.1 KB (" + max + " bytes)");

    // Sizes far apart need no exact counts; whole limits print without decimals.
    bytes big = make_bmp(100, 10, 40, 24); // 3054 bytes
    REQUIRE(big.size() == 3054);
    limits.min_side = 0;
    limits.max_bytes = 2048;
    CHECK(refusal(big, limits, "big.bmp") == "image_url: \"big.bmp\" is 3.0 KB; wan2.5-image-to-video allows at most 2 KB");
    limits.max_bytes = 3053;
    CHECK(refusal(big, limits, "big.bmp") ==
          "image_url: \"big.bmp\" is 3.0 KB (3054 bytes); wan2.5-image-to-video allows at most 3.0 KB (3053 bytes)");
    limits.max_bytes = 3054;
    CHECK(refusal(big, limits, "big.bmp").empty());

    // The size is checked first, even on bytes that are not an image.
    limits.max_bytes = 3;
    CHECK_THAT(refusal(bytes{'a', 'b', 'c', 'd'}, limits), Contains("is 0.0 KB (4 bytes); wan2.5-image-to-video allows at most 0.0 KB (3 bytes)"));
    limits.model.clear();
    CHECK_THAT(refusal(bytes{'a', 'b', 'c', 'd'}, limits), Contains("; the model allows at most"));

    // One real 10 MB + 1 byte buffer against the real limit.
    bytes huge = make_png(1000, 1000);
    huge.resize(10 * 1024 * 1024 + 1, 0);
    CHECK(refusal(huge, evolink::image_to_video_limits()) ==
          "image_url: \"./cat.png\" is 10.0 MB (10485761 bytes); wan2.5-image-to-video allows at most 10 MB (10485760 bytes)");
    image_info info;
    CHECK(check_image(huge, "x", evolink::image_to_video_limits(), "image_url", &info));
    CHECK(info.size == huge.size());
}

TEST_CASE("PNG with alpha or tRNS is refused unless allow_alpha")
{
    auto limits = evolink::image_to_video_limits();
    CHECK(refusal(make_png(800, 600, 6), limits) ==
          "image_url: \"./cat.png\" is a PNG with an alpha channel; wan2.5-image-to-video allows no transparent channel "
          "(flatten it or save as JPEG)");
    CHECK(refusal(make_png(800, 600, 4), limits) == refusal(make_png(800, 600, 6), limits));
    CHECK(refusal(make_png(800, 600, 2, true), limits) ==
          "image_url: \"./cat.png\" is a PNG with transparency (a tRNS chunk); wan2.5-image-to-video allows no "
          "transparent channel (flatten it or save as JPEG)");
    CHECK_THAT(refusal(make_png(800, 600, 3, true), limits), Contains("transparent"));
    CHECK_THAT(refusal(make_png(800, 600, 6, true), limits), Contains("an alpha channel"));
    CHECK(refusal(make_png(800, 600, 2, false, true), limits).empty());

    limits.allow_alpha = true;
    for (unsigned type : {6u, 4u})
        CHECK(refusal(make_png(800, 600, type), limits).empty());
    CHECK(refusal(make_png(800, 600, 2, true), limits).empty());

    // The rule names PNG only: WebP and BMP with alpha pass (has_alpha says so).
    auto strict = evolink::image_to_image_limits();
    image_info info;
    CHECK_FALSE(check_image(make_webp_vp8x(800, 600, true), "a.webp", strict, "image_urls[0]", &info));
    CHECK(info.has_alpha);
    CHECK_FALSE(check_image(make_webp_vp8l(800, 600, true), "a.webp", strict, "image_urls[0]"));
    CHECK_FALSE(check_image(make_bmp(400, 400, 124, 32, 0xFF000000), "a.bmp", strict, "image_urls[0]", &info));
    CHECK(info.has_alpha);
    CHECK(info.format == image_format::bmp);

    // Dimensions are reported before transparency.
    CHECK_THAT(refusal(make_png(10, 10, 6), evolink::image_to_video_limits()), Contains("is 10x10 pixels"));
}

TEST_CASE("every prefix of every image: an error, never a crash")
{
    struct sample {
        std::string name;
        bytes data;
        std::size_t header; // no shorter prefix may succeed
    };
    std::vector<sample> samples;
    auto png = make_png(500, 400);
    samples.push_back({"png", png, end_of(png, {'I', 'D', 'A', 'T'}, 4 + 10 + 4)});
    auto png_a = make_png(500, 400, 2, true);
    samples.push_back({"png tRNS", png_a, end_of(png_a, {'I', 'D', 'A', 'T'}, 4 + 10 + 4)});
    for (unsigned sof : {0xC0u, 0xC2u}) {
        auto j = make_jpeg(500, 400, sof);
        samples.push_back({"jpeg " + std::to_string(sof), j, end_of(j, {0xFF, 0xDA, 0x00, 0x0C}, 2 + 12)});
    }
    for (auto& w : {make_webp_vp8(500, 400), make_webp_vp8l(500, 400, true), make_webp_vp8x(500, 400, true)})
        samples.push_back({"webp", w, w.size()}); // the RIFF size covers the whole file
    for (std::uint32_t header : {12u, 40u, 124u}) {
        auto b = make_bmp(30, 20, header, 24);
        samples.push_back({"bmp " + std::to_string(header), b, b.size()}); // every row must be there
    }
    samples.push_back({"bmp 8-bit", make_bmp(30, -20, 40, 8), make_bmp(30, -20, 40, 8).size()});
    samples.push_back({"gif", make_gif(500, 400), 10});

    auto limits = evolink::image_to_image_limits(); // any side, alpha, format
    limits.min_side = limits.max_side = 0;
    limits.allow_alpha = true;
    limits.formats.clear();
    for (const auto& s : samples) {
        INFO(s.name);
        auto full = inspect(s.data);
        REQUIRE(full);
        CHECK(refusal(s.data, limits).empty());
        for (std::size_t len = 0; len < s.data.size(); ++len) {
            INFO("prefix of " << len << " bytes");
            bytes prefix(s.data.begin(), s.data.begin() + static_cast<std::ptrdiff_t>(len));
            std::string why = "stale";
            auto r = inspect_image(prefix, why);
            if (len < s.header) {
                REQUIRE_FALSE(r);
                CHECK_THAT(why, StartsWith("is "));
                auto d = check_image(prefix, "cut", limits, "image_url");
                REQUIRE(d);
                CHECK(d->message == "image_url: \"cut\" " + why +
                                        (why.starts_with("is not an image") ? "; wan2.5-image-to-image allows jpeg, png, bmp, webp, gif" : ""));
            } else if (r) {
                CHECK(r->format == full->format);
                CHECK(r->width == full->width);
                CHECK(r->height == full->height);
                CHECK(r->size == len);
            }
        }
    }
    CHECK(why_of(bytes{}) == "is empty (0 bytes)");
    CHECK(why_of(bytes(png.begin(), png.begin() + 20)) == "is truncated (PNG header needs 33 bytes, file has 20)");
    CHECK(why_of(bytes(png.begin(), png.begin() + 5)) == "is truncated (PNG signature needs 8 bytes, file has 5)");
    CHECK(why_of(bytes(png.begin(), png.begin() + 33)) == "is truncated (PNG ends after 33 bytes, before its image data)");
    CHECK(why_of(bytes(png.begin(), png.begin() + 50)) == "is truncated (PNG chunk \"tEXt\" at offset 33 ends at byte 55, file has 50)");
    auto jpg = make_jpeg(500, 400);
    CHECK(why_of(bytes(jpg.begin(), jpg.begin() + 1)) == "is truncated (JPEG signature needs 2 bytes, file has 1)");
    CHECK(why_of(bytes(jpg.begin(), jpg.begin() + 10)) == "is truncated (JPEG segment FFE0 at offset 2 ends at byte 20, file has 10)");
    auto sos = end_of(jpg, {0xFF, 0xDA, 0x00, 0x0C}, 0);
    CHECK(why_of(bytes(jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(sos))) ==
          "is truncated (JPEG ends after " + std::to_string(sos) + " bytes, before its image data (no SOS marker))");
    auto webp = make_webp_vp8l(500, 400);
    CHECK(why_of(bytes(webp.begin(), webp.begin() + 24)) == "is truncated (WebP \"VP8L\" header needs 25 bytes, file has 24)");
    CHECK(why_of(bytes(webp.begin(), webp.end() - 1)) ==
          "is truncated (its RIFF header says " + std::to_string(webp.size()) + " bytes, file has " + std::to_string(webp.size() - 1) + ")");
    auto bmp = make_bmp(30, 20, 124, 24);
    CHECK(why_of(bytes(bmp.begin(), bmp.begin() + 100)) == "is truncated (BMP header needs 138 bytes, file has 100)");
    CHECK(why_of(bytes(bmp.begin(), bmp.end() - 1)) ==
          "is truncated (BMP pixel data (30x20 at 24 bits per pixel, from offset 138) ends at byte 1978, file has 1977)");
    CHECK(why_of(bytes{'G', 'I', 'F', '8', '9', 'a', 1, 0}) == "is truncated (GIF header needs 10 bytes, file has 8)");
}

TEST_CASE("corrupt lengths and values")
{
    // PNG chunk length 0xFFFFFFFF, on IHDR and on a later chunk.
    auto png = make_png(500, 400);
    auto p = png;
    p[8] = p[9] = p[10] = p[11] = 0xFF;
    CHECK(why_of(p) == "is a corrupt PNG (the first chunk is not a 13-byte IHDR)");
    p = png;
    p[33] = p[34] = p[35] = p[36] = 0xFF;
    CHECK(why_of(p) == "is a corrupt PNG (chunk \"tEXt\" at offset 33 has length 4294967295; the maximum is 2147483647)");
    p = png;
    p[33] = 0x7F; // 2 GB: runs past the end
    CHECK_THAT(why_of(p), StartsWith("is truncated (PNG chunk \"tEXt\" at offset 33 ends at byte 21"));
    p = png;
    p[37] = 0x01; // chunk type not letters
    CHECK(why_of(p) == "is a corrupt PNG (the chunk type at offset 33 is not four letters: 01 45 58 74)");
    CHECK(why_of(make_png(0, 400)) == "is a corrupt PNG (its header gives 0x400 pixels)");
    CHECK(why_of(make_png(500, 0x80000000u)) ==
          "is a corrupt PNG (IHDR gives 500x2147483648 pixels; the maximum side is 2147483647)");
    CHECK(why_of(make_png(5, 5, 5)) == "is a corrupt PNG (colour type 5 does not exist)");
    CHECK(why_of(make_png(5, 5, 6, false, false, 4)) == "is a corrupt PNG (bit depth 4 is not valid with colour type 6)");
    // No IDAT before IEND.
    p = png;
    auto idat = end_of(p, {'I', 'D', 'A', 'T'}, 0) - 4;
    p.erase(p.begin() + static_cast<std::ptrdiff_t>(idat), p.begin() + static_cast<std::ptrdiff_t>(idat + 22));
    CHECK(why_of(p) == "is a corrupt PNG (no IDAT chunk before IEND)");

    // JPEG segment lengths 0 and 1, and past the end.
    auto jpg = make_jpeg(500, 400);
    for (unsigned len : {0u, 1u}) {
        auto j = jpg;
        j[4] = 0;
        j[5] = static_cast<unsigned char>(len);
        CHECK(why_of(j) == "is a corrupt JPEG (segment FFE0 at offset 2 has length " + std::to_string(len) + "; the minimum is 2)");
    }
    auto j = jpg;
    j[4] = 0xFF;
    j[5] = 0xFF;
    CHECK(why_of(j) == "is truncated (JPEG segment FFE0 at offset 2 ends at byte 65539, file has " + std::to_string(jpg.size()) + ")");
    // SOF too short, zero sides.
    auto sof = end_of(jpg, {0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01}, 0); // the real SOF (height 400 = 0x0190)
    j = jpg;
    j[sof + 3] = 7;
    CHECK_THAT(why_of(j), StartsWith("is a corrupt JPEG (SOF segment FFC0 at offset " + std::to_string(sof) + " has length 7; the minimum is 8)"));
    CHECK(why_of(make_jpeg(0, 400)) == "is a corrupt JPEG (its header gives 0x400 pixels)");
    CHECK(why_of(make_jpeg(500, 0)) == "is a corrupt JPEG (its header gives 500x0 pixels)");
    // SOS or EOI before any SOF; a second SOI.
    CHECK(why_of(bytes{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02}) == "is a corrupt JPEG (no SOF marker before the image data)");
    CHECK(why_of(bytes{0xFF, 0xD8, 0xFF, 0xD9}) == "is a corrupt JPEG (no SOF marker before the end of the image)");
    CHECK(why_of(bytes{0xFF, 0xD8, 0xFF, 0xD8}) == "is a corrupt JPEG (a second SOI marker at offset 2)");
    CHECK(why_of(bytes{0xFF, 0xD8, 0xFF}) == "is truncated (JPEG ends after 3 bytes, before its size (no SOF marker))");
    CHECK(refusal(bytes{0xFF, 0xD8, 0xFF, 0xDA, 0x00, 0x02}, evolink::image_to_video_limits()) ==
          "image_url: \"./cat.png\" is a corrupt JPEG (no SOF marker before the image data)");

    // WebP: sizes that disagree, bad signatures.
    auto webp = make_webp_vp8l(500, 400);
    auto w = webp;
    w[16] = 3; // VP8L chunk of 3 bytes
    CHECK(why_of(w) == "is a corrupt WebP (chunk \"VP8L\" has size 3; the minimum is 5)");
    w = webp;
    w[4] = 10; // RIFF size smaller than its chunk
    w[5] = w[6] = w[7] = 0;
    CHECK(why_of(w) == "is a corrupt WebP (the RIFF size 10 is smaller than its first chunk (17 bytes))");
    w = webp;
    w[4] = w[5] = w[6] = w[7] = 0xFF;
    CHECK(why_of(w) == "is truncated (its RIFF header says 4294967303 bytes, file has 30)");
    w = webp;
    w[20] = 0x2E;
    CHECK(why_of(w) == "is a corrupt WebP (no VP8L signature byte 2f)");
    w = webp;
    w[24] |= 0x20;
    CHECK(why_of(w) == "is a corrupt WebP (VP8L version 1 does not exist)");
    w = webp;
    w[12] = 'X';
    CHECK(why_of(w) == "is a corrupt WebP (the first chunk is \"XP8L\", not \"VP8 \", \"VP8L\" or \"VP8X\")");
    w = make_webp_vp8(500, 400);
    w[20] |= 1;
    CHECK(why_of(w) == "is a corrupt WebP (the VP8 frame is not a key frame)");
    w = make_webp_vp8(500, 400);
    w[23] = 0x9C;
    CHECK(why_of(w) == "is a corrupt WebP (no VP8 start code 9d 01 2a)");
    CHECK(why_of(make_webp_vp8(0, 400)) == "is a corrupt WebP (its header gives 0x400 pixels)");

    // BMP: width <= 0, height 0 or INT32_MIN, odd header sizes, bits per pixel.
    CHECK(why_of(make_bmp(-5, 10)) == "is a corrupt BMP (its header gives width -5 and height 10)");
    CHECK(why_of(make_bmp(0, 10)) == "is a corrupt BMP (its header gives width 0 and height 10)");
    auto b = make_bmp(5, 10);
    b[22] = b[23] = b[24] = 0;
    b[25] = 0x80; // INT32_MIN
    CHECK(why_of(b) == "is a corrupt BMP (its header gives width 5 and height -2147483648)");
    b[25] = 0;
    CHECK(why_of(b) == "is a corrupt BMP (its header gives width 5 and height 0)");
    b = make_bmp(5, 10);
    b[14] = b[15] = b[16] = b[17] = 0xFF;
    CHECK(why_of(b) == "is a corrupt BMP (DIB header size 4294967295 is not 12 nor 40 to 4096)");
    b[14] = 20;
    b[15] = b[16] = b[17] = 0;
    CHECK(why_of(b) == "is a corrupt BMP (DIB header size 20 is not 12 nor 40 to 4096)");
    b = make_bmp(5, 10);
    b[28] = 7;
    CHECK(why_of(b) == "is a corrupt BMP (7 bits per pixel is not valid)");
    CHECK(why_of(make_bmp(0, 4, 12)) == "is a corrupt BMP (its header gives 0x4 pixels)");
    b = make_bmp(5, 10, 40, 1);
    b[18] = b[22] = 0xFF; // width and height 2147483647: far past the end of the file
    b[19] = b[23] = 0xFF;
    b[20] = b[24] = 0xFF;
    b[21] = b[25] = 0x7F;
    CHECK_THAT(why_of(b), StartsWith("is truncated (BMP pixel data (2147483647x2147483647 at 1 bits per pixel"));
    b = make_bmp(5, 10);
    b[10] = b[11] = b[12] = 0xFF;
    CHECK(why_of(b) == "is truncated (BMP pixel data starts at offset 16777215, file has " + std::to_string(b.size()) + ")");

    CHECK(why_of(make_gif(0, 10)) == "is a corrupt GIF (its header gives 0x10 pixels)");
}

TEST_CASE("not images")
{
    CHECK(why_of(bytes{'<', 'h', 't', 'm', 'l', '>'}) == "is not an image (unknown magic bytes 3c 68 74 6d)");
    CHECK(why_of(bytes{0x00}) == "is not an image (unknown magic bytes 00)");
    bytes avi;
    put(avi, "RIFF");
    le32(avi, 4);
    put(avi, "AVI ");
    CHECK(why_of(avi) == "is not an image (a RIFF file of type \"AVI \", not WEBP)");
    CHECK(why_of(bytes{'R', 'I', 'F', 'F', 0, 0}) == "is truncated (RIFF header needs 12 bytes, file has 6)");
    CHECK(why_of(bytes{'I', 'I', '*', 0, 8, 0, 0, 0}) == "is a TIFF image (not supported)");
    bytes heic{0, 0, 0, 0x18};
    put(heic, "ftypheic");
    heic.resize(24, 0);
    CHECK(why_of(heic) == "is a HEIC/HEIF image (not supported)");
    bytes mp4{0, 0, 0, 0x18};
    put(mp4, "ftypisom");
    mp4.resize(24, 0);
    CHECK(why_of(mp4) == "is not an image (an MP4/QuickTime-style file of brand \"isom\")");

    const auto limits = evolink::image_to_video_limits();
    CHECK(refusal(bytes{'<', 'h', 't', 'm', 'l', '>'}, limits, "./page.html") ==
          "image_url: \"./page.html\" is not an image (unknown magic bytes 3c 68 74 6d); wan2.5-image-to-video allows "
          "jpeg, png, bmp, webp");
    CHECK(refusal(heic, limits, "IMG_0001.HEIC") ==
          "image_url: \"IMG_0001.HEIC\" is a HEIC/HEIF image (not supported); wan2.5-image-to-video allows jpeg, png, bmp, webp");
    CHECK(refusal(bytes{}, limits, "empty.png") == "image_url: \"empty.png\" is empty (0 bytes)");

    image_info info;
    info.width = 7;
    CHECK(check_image(bytes{'x', 'y'}, "f", limits, "image_url", &info));
    CHECK(info.format == image_format::unknown);
    CHECK(info.width == 0);
    CHECK(info.size == 2);
}

TEST_CASE("check_image_file: files on disk")
{
    temp_dir dir;
    const auto limits = evolink::image_to_video_limits();

    auto good = dir.write("cat.png", make_png(800, 600));
    image_info info;
    CHECK_FALSE(check_image_file(good, limits, "image_url", &info));
    CHECK(info.format == image_format::png);
    CHECK(info.width == 800);
    CHECK(info.height == 600);
    CHECK(info.size == make_png(800, 600).size());

    auto small = dir.write("small.jpg", make_jpeg(200, 600));
    auto d = check_image_file(small, limits, "image_url");
    REQUIRE(d);
    CHECK(d->message == "image_url: \"" + small.string() +
                            "\" is 200x600 pixels; wan2.5-image-to-video allows width and height in [360, 2000]");

    // Missing: the path and the system's reason.
    auto missing = dir.path / "nope.png";
    d = check_image_file(missing, limits, "image_url", &info);
    REQUIRE(d);
    CHECK(d->code == "invalid_parameter");
    CHECK(d->param == "image_url");
    CHECK(d->message == "image_url: \"" + missing.string() + "\" cannot be read (No such file or directory)");
    CHECK(info.size == 0);
    CHECK(info.format == image_format::unknown);

    d = check_image_file(dir.path, limits, "image_url");
    REQUIRE(d);
    CHECK(d->message == "image_url: \"" + dir.path.string() + "\" is a directory, not an image file");

    d = check_image_file(dir.write("page.png", bytes{'<', 'h', 't', 'm', 'l', '>'}), limits, "image_url");
    REQUIRE(d);
    CHECK_THAT(d->message, Contains("page.png\" is not an image (unknown magic bytes 3c 68 74 6d)"));

    // 10 MB + 1 byte, written for real: refused from its size. The file is
    // made unreadable first (where permissions bind: not as root), so a
    // read would fail differently.
    bytes big = make_png(1000, 1000);
    big.resize(10 * 1024 * 1024 + 1, 0);
    auto big_path = dir.write("big.png", big);
    REQUIRE(fs::file_size(big_path) == 10485761);
    fs::permissions(big_path, fs::perms::none);
    d = check_image_file(big_path, limits, "image_url", &info);
    REQUIRE(d);
    CHECK(d->message == "image_url: \"" + big_path.string() +
                            "\" is 10.0 MB (10485761 bytes); wan2.5-image-to-video allows at most 10 MB (10485760 bytes)");
    CHECK(info.size == 10485761);
    CHECK(info.format == image_format::unknown); // not read
    fs::permissions(big_path, fs::perms::owner_all);

    // Exactly 10 MB is read and accepted.
    big.resize(10 * 1024 * 1024);
    big_path = dir.write("ten.png", big);
    CHECK_FALSE(check_image_file(big_path, limits, "image_url", &info));
    CHECK(info.width == 1000);

    // Sparse files: 12.3 MB and 3 GB, refused at once without being read.
    auto sparse = dir.write("sparse.png", make_png(800, 600));
    fs::resize_file(sparse, 12897484); // 12.3 MB
    d = check_image_file(sparse, limits, "image_url");
    REQUIRE(d);
    CHECK(d->message == "image_url: \"" + sparse.string() + "\" is 12.3 MB; wan2.5-image-to-video allows at most 10 MB");
    fs::resize_file(sparse, 3ull << 30);
    auto start = std::chrono::steady_clock::now();
    d = check_image_file(sparse, limits, "image_url", &info);
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
    REQUIRE(d);
    CHECK_THAT(d->message, Contains("is 3072.0 MB; wan2.5-image-to-video allows at most 10 MB"));
    CHECK(info.size == (3ull << 30));
}
