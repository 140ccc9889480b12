// evolink-cpp. Distributed under the Boost Software License, Version 1.0.

// Before the guard: in header-only mode images.hpp includes impl/images.ipp,
// which needs this file's content; included first, this file must let that
// inner inclusion define it.
#include <evolink/images.hpp>

#ifndef EVOLINK_DETAIL_IMAGE_SCAN_HPP
#define EVOLINK_DETAIL_IMAGE_SCAN_HPP

// The format scanners behind <evolink/images.hpp>: PNG, JPEG, WebP, BMP and
// GIF headers read from bytes, bounds-checked, never throwing on any input
// (fuzz/fuzz_image.cpp), and the sentences their failures give.

#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace evolink {

namespace detail {

enum class image_problem { none, empty, not_image, truncated, corrupt };

/// inspect_image()'s result with what check_image() needs besides.
struct image_scan {
    image_info info;
    image_problem problem = image_problem::none;
    std::string why;               ///< "is ..." when problem != none
    std::string_view alpha_reason; ///< PNG: "an alpha channel" or "transparency (a tRNS chunk)"
};

using image_bytes = std::span<const unsigned char>;

// Readers: callers have checked that the bytes are there.
EVOLINK_INLINE std::uint32_t img_be16(const unsigned char* p) noexcept { return (std::uint32_t(p[0]) << 8) | p[1]; }
EVOLINK_INLINE std::uint32_t img_be32(const unsigned char* p) noexcept
{
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) | p[3];
}
EVOLINK_INLINE std::uint32_t img_le16(const unsigned char* p) noexcept { return p[0] | (std::uint32_t(p[1]) << 8); }
EVOLINK_INLINE std::uint32_t img_le24(const unsigned char* p) noexcept
{
    return p[0] | (std::uint32_t(p[1]) << 8) | (std::uint32_t(p[2]) << 16);
}
EVOLINK_INLINE std::uint32_t img_le32(const unsigned char* p) noexcept
{
    return img_le24(p) | (std::uint32_t(p[3]) << 24);
}

/// True when `b` holds `tag` at `at`.
EVOLINK_INLINE bool img_has(image_bytes b, std::size_t at, std::string_view tag) noexcept
{
    if (at > b.size() || b.size() - at < tag.size()) return false;
    for (std::size_t i = 0; i < tag.size(); ++i)
        if (b[at + i] != static_cast<unsigned char>(tag[i])) return false;
    return true;
}

/// "3c 68 74 6d" (at most `max` bytes from `at`).
EVOLINK_INLINE std::string img_hex(image_bytes b, std::size_t at = 0, std::size_t max = 4)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string out;
    for (std::size_t i = at; i < b.size() && i < at + max; ++i) {
        if (!out.empty()) out += ' ';
        out += digits[b[i] >> 4];
        out += digits[b[i] & 0xF];
    }
    return out;
}

/// A four-character code for a message: quoted, unprintable bytes as '?'.
EVOLINK_INLINE std::string img_fourcc(image_bytes b, std::size_t at)
{
    std::string out = "\"";
    for (std::size_t i = at; i < at + 4 && i < b.size(); ++i)
        out += b[i] >= 0x20 && b[i] < 0x7F && b[i] != '"' ? static_cast<char>(b[i]) : '?';
    return out + "\"";
}

/// "FFC0" for a JPEG marker.
EVOLINK_INLINE std::string img_marker(unsigned m)
{
    static constexpr char digits[] = "0123456789ABCDEF";
    return std::string("FF") + digits[(m >> 4) & 0xF] + digits[m & 0xF];
}

EVOLINK_INLINE bool img_fail(image_scan& s, image_problem p, std::string why)
{
    s.problem = p;
    s.why = std::move(why);
    return false;
}

/// "is truncated (PNG header needs 33 bytes, file has 20)".
EVOLINK_INLINE bool img_short(image_scan& s, std::string_view what, std::uint64_t need, std::uint64_t have)
{
    return img_fail(s, image_problem::truncated,
                    "is truncated (" + std::string(what) + " needs " + std::to_string(need) + " bytes, file has " +
                        std::to_string(have) + ")");
}

/// "is truncated (PNG chunk "IDAT" at offset 33 ends at byte 1045, file has 600)".
EVOLINK_INLINE bool img_past_end(image_scan& s, const std::string& what, std::uint64_t end, std::uint64_t have)
{
    return img_fail(s, image_problem::truncated,
                    "is truncated (" + what + " ends at byte " + std::to_string(end) + ", file has " +
                        std::to_string(have) + ")");
}

/// "is a corrupt JPEG (no SOF marker before the image data)".
EVOLINK_INLINE bool img_corrupt(image_scan& s, std::string_view format, const std::string& what)
{
    return img_fail(s, image_problem::corrupt, "is a corrupt " + std::string(format) + " (" + what + ")");
}

EVOLINK_INLINE std::string img_wxh(std::uint64_t w, std::uint64_t h)
{
    return std::to_string(w) + "x" + std::to_string(h);
}

EVOLINK_INLINE bool img_dimensions(image_scan& s, image_format f, std::string_view name, std::uint32_t w,
                                   std::uint32_t h)
{
    if (w == 0 || h == 0) return img_corrupt(s, name, "its header gives " + img_wxh(w, h) + " pixels");
    s.info.format = f;
    s.info.width = w;
    s.info.height = h;
    return true;
}

// PNG: the signature, IHDR as the first chunk (width, height, bit depth,
// colour type), then every chunk's length and type up to IEND. A tRNS chunk
// before the first IDAT means transparency. CRCs are not checked; nothing is
// decompressed. A file that ends right after a whole chunk, once an IDAT has
// been seen, is accepted without IEND (decoders accept it too).
EVOLINK_INLINE bool scan_png(image_bytes b, image_scan& s)
{
    const std::size_t n = b.size();
    if (n < 33) return img_short(s, "PNG header", 33, n);
    if (img_be32(&b[8]) != 13 || !img_has(b, 12, "IHDR"))
        return img_corrupt(s, "PNG", "the first chunk is not a 13-byte IHDR");
    std::uint32_t w = img_be32(&b[16]), h = img_be32(&b[20]);
    unsigned depth = b[24], type = b[25];
    if (w > 0x7FFFFFFFu || h > 0x7FFFFFFFu)
        return img_corrupt(s, "PNG", "IHDR gives " + img_wxh(w, h) + " pixels; the maximum side is 2147483647");
    bool depth_ok = false;
    switch (type) {
    case 0: depth_ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16; break;
    case 3: depth_ok = depth == 1 || depth == 2 || depth == 4 || depth == 8; break;
    case 2:
    case 4:
    case 6: depth_ok = depth == 8 || depth == 16; break;
    default:
        return img_corrupt(s, "PNG", "colour type " + std::to_string(type) + " does not exist");
    }
    if (!depth_ok)
        return img_corrupt(s, "PNG", "bit depth " + std::to_string(depth) + " is not valid with colour type " +
                                         std::to_string(type));
    if (!img_dimensions(s, image_format::png, "PNG", w, h)) return false;
    if (type == 4 || type == 6) {
        s.info.has_alpha = true;
        s.alpha_reason = "an alpha channel";
    }

    std::size_t pos = 33;
    bool idat = false;
    for (;;) {
        if (pos == n) {
            if (idat) return true;
            return img_fail(s, image_problem::truncated,
                            "is truncated (PNG ends after " + std::to_string(n) + " bytes, before its image data)");
        }
        if (n - pos < 8) return img_past_end(s, "PNG chunk header at offset " + std::to_string(pos), pos + 8, n);
        std::uint32_t len = img_be32(&b[pos]);
        for (std::size_t i = pos + 4; i < pos + 8; ++i) {
            unsigned c = b[i] | 0x20;
            if (c < 'a' || c > 'z')
                return img_corrupt(s, "PNG", "the chunk type at offset " + std::to_string(pos) + " is not four letters: " +
                                                 img_hex(b, pos + 4));
        }
        if (len > 0x7FFFFFFFu)
            return img_corrupt(s, "PNG", "chunk " + img_fourcc(b, pos + 4) + " at offset " + std::to_string(pos) + " has length " +
                                             std::to_string(len) + "; the maximum is 2147483647");
        std::uint64_t end = std::uint64_t(pos) + 12 + len;
        if (end > n) return img_past_end(s, "PNG chunk " + img_fourcc(b, pos + 4) + " at offset " + std::to_string(pos), end, n);
        if (img_has(b, pos + 4, "IEND")) {
            if (!idat) return img_corrupt(s, "PNG", "no IDAT chunk before IEND");
            return true;
        }
        if (img_has(b, pos + 4, "IDAT")) idat = true;
        if (!idat && img_has(b, pos + 4, "tRNS")) {
            s.info.has_alpha = true;
            if (s.alpha_reason.empty()) s.alpha_reason = "transparency (a tRNS chunk)";
        }
        pos = static_cast<std::size_t>(end);
    }
}

// JPEG: SOI, then segments up to the start of scan (SOS). Fill bytes (FF FF)
// and standalone markers (TEM, RST0-7) carry no length; bytes between
// segments that are not a marker are skipped, as libjpeg and Pillow do. The
// first SOF (C0-CF except DHT C4, JPG C8, DAC CC) gives height then width.
EVOLINK_INLINE bool scan_jpeg(image_bytes b, image_scan& s)
{
    const std::size_t n = b.size();
    std::size_t pos = 2;
    bool sof = false;
    for (;;) {
        while (pos < n && b[pos] != 0xFF) ++pos;
        while (pos < n && b[pos] == 0xFF) ++pos;
        if (pos >= n)
            return img_fail(s, image_problem::truncated,
                            "is truncated (JPEG ends after " + std::to_string(n) + " bytes, before " +
                                (sof ? "its image data (no SOS marker)" : "its size (no SOF marker)") + ")");
        unsigned m = b[pos++];
        std::size_t at = pos - 2; // offset of the marker's FF
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD7)) continue;
        if (m == 0xD8) return img_corrupt(s, "JPEG", "a second SOI marker at offset " + std::to_string(at));
        if (m == 0xD9)
            return img_corrupt(s, "JPEG", sof ? "EOI marker at offset " + std::to_string(at) + " before any image data"
                                              : std::string("no SOF marker before the end of the image"));
        if (m == 0xDA && !sof) return img_corrupt(s, "JPEG", "no SOF marker before the image data");
        auto segment = [&] { return "JPEG segment " + img_marker(m) + " at offset " + std::to_string(at); };
        if (n - pos < 2) return img_past_end(s, segment(), pos + 2, n);
        std::uint32_t len = img_be16(&b[pos]);
        if (len < 2)
            return img_corrupt(s, "JPEG", "segment " + img_marker(m) + " at offset " + std::to_string(at) +
                                              " has length " + std::to_string(len) + "; the minimum is 2");
        if (len > n - pos) return img_past_end(s, segment(), std::uint64_t(pos) + len, n);
        if (m == 0xDA) return true;
        bool is_sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (is_sof && !sof) {
            if (len < 8)
                return img_corrupt(s, "JPEG", "SOF segment " + img_marker(m) + " at offset " + std::to_string(at) +
                                                  " has length " + std::to_string(len) + "; the minimum is 8");
            if (!img_dimensions(s, image_format::jpeg, "JPEG", img_be16(&b[pos + 5]), img_be16(&b[pos + 3])))
                return false;
            sof = true;
        }
        pos += len;
    }
}

// WebP: RIFF header (its size must fit in the file), then the first chunk:
// "VP8 " (lossy key frame: start code 9d 01 2a, 14-bit width and height),
// "VP8L" (lossless: signature 0x2f, 14-bit width-1 and height-1, alpha hint)
// or "VP8X" (extended: flags, 24-bit canvas width-1 and height-1).
EVOLINK_INLINE bool scan_webp(image_bytes b, image_scan& s)
{
    const std::size_t n = b.size();
    if (n < 20) return img_short(s, "WebP chunk header", 20, n);
    std::size_t need = img_has(b, 12, "VP8 ") ? 10 : img_has(b, 12, "VP8L") ? 5 : img_has(b, 12, "VP8X") ? 10 : 0;
    std::string chunk = img_fourcc(b, 12);
    if (need == 0) return img_corrupt(s, "WebP", "the first chunk is " + chunk + ", not \"VP8 \", \"VP8L\" or \"VP8X\"");
    if (n < 20 + need) return img_short(s, "WebP " + chunk + " header", 20 + need, n);
    std::uint64_t riff = img_le32(&b[4]), size = img_le32(&b[16]);
    if (size < need)
        return img_corrupt(s, "WebP", "chunk " + chunk + " has size " + std::to_string(size) + "; the minimum is " +
                                          std::to_string(need));
    if (riff < 12 + size)
        return img_corrupt(s, "WebP", "the RIFF size " + std::to_string(riff) + " is smaller than its first chunk (" +
                                          std::to_string(8 + size) + " bytes)");
    if (riff + 8 > n)
        return img_fail(s, image_problem::truncated,
                        "is truncated (its RIFF header says " + std::to_string(riff + 8) + " bytes, file has " +
                            std::to_string(n) + ")");
    const unsigned char* d = &b[20];
    if (need == 5) { // VP8L
        if (d[0] != 0x2F) return img_corrupt(s, "WebP", "no VP8L signature byte 2f");
        std::uint32_t bits = img_le32(d + 1);
        if ((bits >> 29) != 0) return img_corrupt(s, "WebP", "VP8L version " + std::to_string(bits >> 29) + " does not exist");
        s.info.has_alpha = ((bits >> 28) & 1) != 0;
        return img_dimensions(s, image_format::webp, "WebP", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1);
    }
    if (img_has(b, 12, "VP8X")) {
        s.info.has_alpha = (d[0] & 0x10) != 0;
        return img_dimensions(s, image_format::webp, "WebP", img_le24(d + 4) + 1, img_le24(d + 7) + 1);
    }
    std::uint32_t tag = img_le24(d);
    if ((tag & 1) != 0) return img_corrupt(s, "WebP", "the VP8 frame is not a key frame");
    if (d[3] != 0x9D || d[4] != 0x01 || d[5] != 0x2A) return img_corrupt(s, "WebP", "no VP8 start code 9d 01 2a");
    return img_dimensions(s, image_format::webp, "WebP", img_le16(d + 6) & 0x3FFF, img_le16(d + 8) & 0x3FFF);
}

// BMP: "BM", the pixel data offset at 10, the DIB header size at 14: 12 is a
// BITMAPCOREHEADER (uint16 width and height), 40 or more a BITMAPINFOHEADER
// or later (int32 width, int32 height, negative for top-down). Uncompressed
// pixel data (BI_RGB, BI_BITFIELDS, BI_ALPHABITFIELDS) must be all there.
EVOLINK_INLINE bool scan_bmp(image_bytes b, image_scan& s)
{
    const std::size_t n = b.size();
    if (n < 18) return img_short(s, "BMP header", 26, n);
    std::uint32_t header = img_le32(&b[14]);
    if (header != 12 && (header < 40 || header > 4096))
        return img_corrupt(s, "BMP", "DIB header size " + std::to_string(header) + " is not 12 nor 40 to 4096");
    if (n < 14 + header) return img_short(s, "BMP header", 14 + header, n);
    std::uint32_t w = 0, h = 0, bpp = 0, compression = 0;
    if (header == 12) {
        w = img_le16(&b[18]);
        h = img_le16(&b[20]);
        bpp = img_le16(&b[24]);
    } else {
        auto sw = static_cast<std::int32_t>(img_le32(&b[18]));
        auto sh = static_cast<std::int32_t>(img_le32(&b[22]));
        if (sw <= 0 || sh == 0 || sh == std::numeric_limits<std::int32_t>::min())
            return img_corrupt(s, "BMP", "its header gives width " + std::to_string(sw) + " and height " +
                                             std::to_string(sh));
        w = static_cast<std::uint32_t>(sw);
        h = sh < 0 ? static_cast<std::uint32_t>(-sh) : static_cast<std::uint32_t>(sh);
        bpp = img_le16(&b[28]);
        compression = img_le32(&b[30]);
        if (header >= 56 && (bpp == 16 || bpp == 32) && img_le32(&b[66]) != 0) s.info.has_alpha = true;
    }
    if (!img_dimensions(s, image_format::bmp, "BMP", w, h)) return false;
    std::uint64_t offset = img_le32(&b[10]);
    if (offset == 0) offset = 14 + header; // some writers leave it 0; Pillow then reads on from the header
    if (offset > n)
        return img_fail(s, image_problem::truncated,
                        "is truncated (BMP pixel data starts at offset " + std::to_string(offset) + ", file has " +
                            std::to_string(n) + ")");
    if (compression == 0 || compression == 3 || compression == 6) {
        if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
            return img_corrupt(s, "BMP", std::to_string(bpp) + " bits per pixel is not valid");
        std::uint64_t row = (std::uint64_t(bpp) * w + 31) / 32 * 4;
        std::uint64_t room = n - offset;
        if (h > room / row) {
            if (h > (std::numeric_limits<std::uint64_t>::max() - offset) / row)
                return img_corrupt(s, "BMP", img_wxh(w, h) + " pixels at " + std::to_string(bpp) +
                                                 " bits do not fit in any file");
            return img_past_end(s, "BMP pixel data (" + img_wxh(w, h) + " at " + std::to_string(bpp) +
                                       " bits per pixel, from offset " + std::to_string(offset) + ")",
                                offset + row * h, n);
        }
    }
    return true;
}

// GIF: "GIF87a" or "GIF89a", then the logical screen width and height.
EVOLINK_INLINE bool scan_gif(image_bytes b, image_scan& s)
{
    if (b.size() < 10) return img_short(s, "GIF header", 10, b.size());
    return img_dimensions(s, image_format::gif, "GIF", img_le16(&b[6]), img_le16(&b[8]));
}

/// The format named by the magic bytes, or unknown. With `s`, says why
/// when the bytes are empty, too short for a signature they begin, or of a
/// format not read here (with `s` null, nothing is allocated).
EVOLINK_INLINE image_format img_magic(image_bytes b, image_scan* s)
{
    struct signature {
        std::string_view bytes;
        image_format format;
        std::string_view header; ///< for "is truncated (<header> needs N bytes...)"
        std::size_t need;
    };
    static constexpr signature signatures[] = {
        {std::string_view("\x89PNG\r\n\x1a\n", 8), image_format::png, "PNG signature", 8},
        {"\xFF\xD8", image_format::jpeg, "JPEG signature", 2},
        {"GIF87a", image_format::gif, "GIF signature", 6},
        {"GIF89a", image_format::gif, "GIF signature", 6},
        {"BM", image_format::bmp, "BMP signature", 2},
        {"RIFF", image_format::webp, "RIFF header", 12},
    };
    const std::size_t n = b.size();
    const std::string_view head(reinterpret_cast<const char*>(b.data()), n);
    if (n == 0) {
        if (s) img_fail(*s, image_problem::empty, "is empty (0 bytes)");
        return image_format::unknown;
    }
    for (const auto& sig : signatures) {
        if (!head.starts_with(sig.bytes)) continue;
        if (sig.format != image_format::webp) return sig.format;
        if (n < 12) {
            if (s) img_short(*s, sig.header, sig.need, n);
            return image_format::unknown;
        }
        if (img_has(b, 8, "WEBP")) return image_format::webp;
        if (s)
            img_fail(*s, image_problem::not_image,
                     "is not an image (a RIFF file of type " + img_fourcc(b, 8) + ", not WEBP)");
        return image_format::unknown;
    }
    for (const auto& sig : signatures)
        if (n < sig.bytes.size() && sig.bytes.starts_with(head)) {
            if (s) img_short(*s, sig.header, sig.need, n);
            return image_format::unknown;
        }
    if (!s) return image_format::unknown;
    // Formats people try that are not accepted: say what they are.
    if (head.starts_with(std::string_view("II*\0", 4)) || head.starts_with(std::string_view("MM\0*", 4)))
        img_fail(*s, image_problem::not_image, "is a TIFF image (not supported)");
    else if (n >= 12 && img_has(b, 4, "ftyp")) {
        std::string_view brand = head.substr(8, 4);
        static constexpr std::string_view heif[] = {"heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1"};
        if (brand == "avif" || brand == "avis")
            img_fail(*s, image_problem::not_image, "is an AVIF image (not supported)");
        else if (std::find(std::begin(heif), std::end(heif), brand) != std::end(heif))
            img_fail(*s, image_problem::not_image, "is a HEIC/HEIF image (not supported)");
        else
            img_fail(*s, image_problem::not_image,
                     "is not an image (an MP4/QuickTime-style file of brand " + img_fourcc(b, 8) + ")");
    } else
        img_fail(*s, image_problem::not_image, "is not an image (unknown magic bytes " + img_hex(b) + ")");
    return image_format::unknown;
}

/// Reads `b` into `s`; false (with s.problem and s.why) when it cannot.
EVOLINK_INLINE bool scan_image(image_bytes b, image_scan& s)
{
    s = image_scan{};
    s.info.size = b.size();
    bool ok = false;
    switch (img_magic(b, &s)) {
    case image_format::png: ok = scan_png(b, s); break;
    case image_format::jpeg: ok = scan_jpeg(b, s); break;
    case image_format::webp: ok = scan_webp(b, s); break;
    case image_format::bmp: ok = scan_bmp(b, s); break;
    case image_format::gif: ok = scan_gif(b, s); break;
    case image_format::unknown: break;
    }
    if (!ok) {
        s.info = image_info{};
        s.info.size = b.size();
        s.alpha_reason = {};
        if (s.problem == image_problem::none) // not reached: every failure says why
            img_fail(s, image_problem::corrupt, "is not a readable image");
    }
    return ok;
}

/// "12.3 MB", "512.0 KB": below 1 MB in KB, else in MB, one decimal, rounded.
EVOLINK_INLINE std::string img_size_text(std::uint64_t n)
{
    constexpr std::uint64_t kb = 1024, mb = 1024 * 1024;
    std::uint64_t unit = n < mb ? kb : mb;
    std::uint64_t tenths = n / unit * 10 + ((n % unit) * 10 + unit / 2) / unit;
    return std::to_string(tenths / 10) + "." + std::to_string(tenths % 10) + (unit == kb ? " KB" : " MB");
}

/// `"./cat.png" is 12.3 MB; wan2.5-image-to-video allows at most 10 MB`,
/// with exact byte counts when the rounded sizes would read the same.
EVOLINK_INLINE std::string img_too_big(const std::string& who, std::uint64_t size, const image_limits& limits)
{
    constexpr std::uint64_t kb = 1024, mb = 1024 * 1024;
    const std::uint64_t max = limits.max_bytes;
    std::string have = img_size_text(size);
    std::string allowed = max >= mb && max % mb == 0   ? std::to_string(max / mb) + " MB"
                          : max > 0 && max < mb && max % kb == 0 ? std::to_string(max / kb) + " KB"
                          : max == 0                    ? std::string("0 bytes")
                                                        : img_size_text(max);
    if (have == img_size_text(max)) {
        have += " (" + std::to_string(size) + " bytes)";
        if (max != 0) allowed += " (" + std::to_string(max) + " bytes)";
    }
    return who + " is " + have + "; " + (limits.model.empty() ? "the model" : limits.model) + " allows at most " +
           allowed;
}

EVOLINK_INLINE std::string img_format_list(const image_limits& limits)
{
    std::string out;
    for (auto f : limits.formats) {
        if (!out.empty()) out += ", ";
        out += to_string(f);
    }
    return out.empty() ? "jpeg, png, bmp, webp, gif" : out;
}

/// A file name for messages: quoted, cut only when very long.
EVOLINK_INLINE std::string img_who(std::string_view name) { return detail::quoted(name, 200); }

} // namespace detail

} // namespace evolink

#endif
