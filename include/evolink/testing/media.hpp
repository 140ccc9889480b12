// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_MEDIA_HPP
#define EVOLINK_TESTING_MEDIA_HPP

/// Placeholder media for the fake server's result files, made locally (no
/// model, no download): real files that viewers and players open.
///
/// - png(): an 8-bit RGB PNG of any size, a gradient with a disc whose
///   colours and place come from the prompt, compressed with Beast's deflate.
/// - mp4(): an MP4 of any whole number of seconds whose H.264 track loops
///   the one-second clip of testing/sample_video.hpp (640x360, 10 fps).
///
/// Both can be padded to a given size with data that decoders skip (a PNG
/// ancillary chunk, an MP4 `free` box), so that tests choose the file size.

#include <evolink/testing/sample_video.hpp>

#include <boost/beast/zlib/deflate_stream.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace evolink::testing::media {

/// CRC-32 (ISO 3309, as PNG chunks use it).
inline std::uint32_t crc32(std::string_view bytes)
{
    static const auto table = [] {
        std::array<std::uint32_t, 256> t{};
        for (std::uint32_t n = 0; n < 256; ++n) {
            std::uint32_t c = n;
            for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            t[n] = c;
        }
        return t;
    }();
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/// Adler-32 (RFC 1950, the zlib stream's trailer).
inline std::uint32_t adler32(std::string_view bytes)
{
    std::uint32_t a = 1, b = 0;
    auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    for (std::size_t i = 0; i < bytes.size();) {
        // 5552 bytes at most between reductions keep b below 2^32.
        for (std::size_t end = std::min(bytes.size(), i + 5552); i < end; ++i) {
            a += p[i];
            b += a;
        }
        a %= 65521;
        b %= 65521;
    }
    return (b << 16) | a;
}

namespace detail {

inline void put32(std::string& s, std::uint64_t v)
{
    for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
}

inline void put16(std::string& s, unsigned v)
{
    s += static_cast<char>((v >> 8) & 0xFF);
    s += static_cast<char>(v & 0xFF);
}

inline std::uint32_t get32(std::string_view s, std::size_t at)
{
    if (at + 4 > s.size()) throw std::runtime_error("media: the sample clip is truncated");
    std::uint32_t v = 0;
    for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
    return v;
}

/// The same bytes on every platform (std::hash is not), for the colours.
inline std::uint64_t fnv1a(std::string_view s)
{
    std::uint64_t h = 0xcbf29ce484222325u;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3u;
    return h;
}

/// Deterministic filler that does not repeat for a long while, so that a
/// download put together at a wrong offset does not compare equal.
inline void fill(std::string& s, std::size_t n, std::uint64_t seed)
{
    for (std::size_t i = 0; i < n; ++i) s += static_cast<char>((i * 131 + seed + i / 251) & 0xFF);
}

inline void png_chunk(std::string& png, std::string_view type, std::string_view data)
{
    put32(png, data.size());
    std::string body(type);
    body += data;
    png += body;
    put32(png, crc32(body));
}

/// A zlib stream (RFC 1950) of `raw`: header, Beast's raw deflate, Adler-32.
inline std::string zlib_compress(std::string_view raw)
{
    boost::beast::zlib::deflate_stream ds;
    ds.reset(1, 15, 8, boost::beast::zlib::Strategy::normal);
    std::string out("\x78\x01", 2); // deflate, 32 KiB window, fastest level
    std::size_t head = out.size();
    out.resize(head + ds.upper_bound(raw.size()));
    boost::beast::zlib::z_params zs;
    zs.next_in = raw.data();
    zs.avail_in = raw.size();
    zs.next_out = out.data() + head;
    zs.avail_out = out.size() - head;
    boost::beast::error_code ec;
    ds.write(zs, boost::beast::zlib::Flush::finish, ec);
    if (ec != boost::beast::zlib::error::end_of_stream) throw std::runtime_error("media: deflate failed");
    out.resize(head + zs.total_out);
    put32(out, adler32(raw));
    return out;
}

/// A bright colour (r, g, b) from 24 bits of the prompt's hash.
inline std::array<unsigned, 3> colour(std::uint64_t bits)
{
    auto c = [&](int shift) { return static_cast<unsigned>(60 + ((bits >> shift) & 0xFF) * 195 / 255); };
    return {c(0), c(8), c(16)};
}

/// The scanlines: the first with PNG filter 1 (Sub: the difference to the
/// pixel on the left), the others with filter 2 (Up: the difference to the
/// pixel above). The gradient is the sum of a vertical and a horizontal
/// one, so Up turns each row outside the disc into one repeated byte, which
/// even deflate's fastest level packs tight. Plain loops: test builds are
/// not optimized, and this runs once per image.
inline std::string scanlines(unsigned width, unsigned height, std::string_view prompt)
{
    auto h = fnv1a(prompt);
    auto top = colour(h), bottom = colour(h >> 24), sun = colour(~h >> 40);
    std::int64_t cx = width * (20 + h % 60) / 100, cy = height * (20 + (h >> 8) % 40) / 100;
    std::int64_t radius = std::min(width, height) / 6;
    std::size_t stride = std::size_t(width) * 3 + 1;
    std::string out(stride * height, '\0'), rows(2 * stride, '\0');
    for (unsigned y = 0; y < height; ++y) {
        auto* px = reinterpret_cast<unsigned char*>(rows.data()) + stride * (y % 2) + 1;
        auto* above = reinterpret_cast<unsigned char*>(rows.data()) + stride * ((y + 1) % 2) + 1;
        for (int c = 0; c < 3; ++c) {
            unsigned left = (top[c] * (height - y) + bottom[c] * y) / height;
            // Towards the right the sky lightens.
            for (unsigned x = 0; x < width; ++x)
                px[3 * x + c] = static_cast<unsigned char>(std::min(255u, left + 80 * x / width));
        }
        std::int64_t dy = y - cy, half2 = radius * radius - dy * dy;
        for (std::int64_t x = std::max<std::int64_t>(0, cx - radius); half2 >= 0 && x < width && x <= cx + radius; ++x)
            if ((x - cx) * (x - cx) <= half2)
                for (int c = 0; c < 3; ++c) px[3 * x + c] = static_cast<unsigned char>(sun[c]);
        auto* f = reinterpret_cast<unsigned char*>(out.data()) + stride * y;
        f[0] = y == 0 ? 1 : 2;
        for (std::size_t i = 0; i < 3 * std::size_t(width); ++i)
            f[1 + i] = static_cast<unsigned char>(px[i] - (y > 0 ? above[i] : i >= 3 ? px[i - 3] : 0));
    }
    return out;
}

} // namespace detail

/// A PNG (8-bit RGB, not interlaced) of `width` x `height` pixels: a
/// gradient with a disc, both derived from `prompt`. When it is shorter than
/// `pad_to` by 12 bytes or more, an ancillary chunk ("evPd", which decoders
/// skip) before IEND makes it exactly `pad_to` bytes long.
inline std::string png(unsigned width, unsigned height, std::string_view prompt, std::size_t pad_to = 0)
{
    if (width == 0 || height == 0 || width > 16384 || height > 16384)
        throw std::invalid_argument("media::png: width and height must be in [1, 16384]");
    std::string png("\x89PNG\r\n\x1a\n", 8), ihdr;
    detail::put32(ihdr, width);
    detail::put32(ihdr, height);
    ihdr += std::string("\x08\x02\x00\x00\x00", 5); // 8 bits, RGB, deflate, filter 0, no interlace
    detail::png_chunk(png, "IHDR", ihdr);
    detail::png_chunk(png, "tEXt", std::string("Comment\0", 8) + "placeholder made locally by the evolink-cpp fake server");
    detail::png_chunk(png, "IDAT", detail::zlib_compress(detail::scanlines(width, height, prompt)));
    constexpr std::size_t chunk_overhead = 12, iend = 12;
    if (pad_to >= png.size() + iend + chunk_overhead) {
        std::string pad;
        detail::fill(pad, pad_to - png.size() - iend - chunk_overhead, detail::fnv1a(prompt));
        detail::png_chunk(png, "evPd", pad);
    }
    detail::png_chunk(png, "IEND", "");
    return png;
}

namespace detail {

inline std::string box(std::string_view type, std::string_view payload)
{
    std::string b;
    put32(b, payload.size() + 8);
    b += type;
    b += payload;
    return b;
}

/// A full box: version 0 and `flags`, then the payload.
inline std::string full_box(std::string_view type, std::uint32_t flags, std::string_view payload)
{
    std::string p;
    put32(p, flags & 0xFFFFFF);
    return box(type, p + std::string(payload));
}

/// The payload of the box at `path` ("moov/trak/mdia") inside `data`.
inline std::string_view find_box(std::string_view data, std::string_view path)
{
    auto slash = path.find('/');
    auto want = path.substr(0, slash);
    for (std::size_t at = 0; at + 8 <= data.size();) {
        std::size_t size = get32(data, at);
        if (size < 8 || at + size > data.size()) break;
        if (data.substr(at + 4, 4) == want) {
            auto payload = data.substr(at + 8, size - 8);
            return slash == std::string_view::npos ? payload : find_box(payload, path.substr(slash + 1));
        }
        at += size;
    }
    throw std::runtime_error("media: the sample clip has no " + std::string(path) + " box");
}

/// What mp4() takes from the sample clip: its sample description (stsd,
/// with the avc1 entry and its SPS/PPS), frame size, time base, and the
/// samples, which ffmpeg writes back to back in mdat.
struct clip {
    std::string_view stsd, mdat;
    std::vector<std::uint32_t> sizes;
    std::uint32_t timescale = 0, delta = 0, width = 0, height = 0;
};

inline clip read_clip()
{
    std::string_view file(reinterpret_cast<const char*>(sample_clip), sizeof sample_clip);
    clip c;
    auto stbl = find_box(file, "moov/trak/mdia/minf/stbl");
    c.stsd = find_box(stbl, "stsd");
    c.mdat = find_box(file, "mdat");
    auto stsz = find_box(stbl, "stsz");
    for (std::uint32_t i = 0, n = get32(stsz, 8); i < n; ++i) c.sizes.push_back(get32(stsz, 12 + 4 * i));
    c.timescale = get32(find_box(file, "moov/trak/mdia/mdhd"), 12);
    auto stts = find_box(stbl, "stts");
    c.delta = get32(stts, 12);
    std::uint64_t total = 0;
    for (auto s : c.sizes) total += s;
    // stsd: version/flags, count, then the avc1 entry: 8-byte header, 24
    // bytes of reserved/predefined fields, width and height (16 bits each).
    auto wh = get32(c.stsd, 8 + 8 + 24);
    c.width = wh >> 16;
    c.height = wh & 0xFFFF;
    if (total != c.mdat.size() || get32(stts, 4) != 1 || std::uint64_t(c.delta) * c.sizes.size() != c.timescale)
        throw std::runtime_error("media: the sample clip is not one second of samples back to back");
    return c;
}

inline std::string identity_matrix()
{
    std::string m;
    for (std::uint32_t v : {0x00010000u, 0u, 0u, 0u, 0x00010000u, 0u, 0u, 0u, 0x40000000u}) put32(m, v);
    return m;
}

inline std::string mvhd(std::uint32_t ms)
{
    std::string p;
    put32(p, 0), put32(p, 0), put32(p, 1000), put32(p, ms); // created, modified, timescale (ms), duration
    put32(p, 0x00010000), put16(p, 0x0100), p.append(10, '\0'); // rate 1.0, volume 1.0, reserved
    p += identity_matrix();
    p.append(24, '\0'); // pre_defined
    put32(p, 2);        // next track id
    return full_box("mvhd", 0, p);
}

inline std::string tkhd(std::uint32_t ms, const clip& c)
{
    std::string p;
    put32(p, 0), put32(p, 0), put32(p, 1), put32(p, 0), put32(p, ms); // created, modified, track 1, reserved
    p.append(8, '\0'), put16(p, 0), put16(p, 0), put16(p, 0), put16(p, 0); // layer, group, volume, reserved
    p += identity_matrix();
    put32(p, c.width << 16), put32(p, c.height << 16);
    return full_box("tkhd", 3, p); // enabled, in movie
}

/// The sample table: `frames` samples, sample i being the clip's sample
/// i % n, each its own chunk at its offset in the one copy in mdat.
inline std::string stbl(const clip& c, std::uint32_t frames, std::uint64_t mdat_data)
{
    std::string stts, stss, stsc, stsz, stco;
    put32(stts, 1), put32(stts, frames), put32(stts, c.delta);
    auto n = static_cast<std::uint32_t>(c.sizes.size());
    put32(stss, frames / n);
    for (std::uint32_t i = 0; i < frames; i += n) put32(stss, i + 1); // each loop starts on the IDR frame
    put32(stsc, 1), put32(stsc, 1), put32(stsc, 1), put32(stsc, 1);    // one sample per chunk
    put32(stsz, 0), put32(stsz, frames);
    put32(stco, frames);
    for (std::uint32_t i = 0; i < frames; ++i) {
        std::uint64_t offset = mdat_data;
        for (std::uint32_t k = 0; k < i % n; ++k) offset += c.sizes[k];
        put32(stsz, c.sizes[i % n]);
        put32(stco, offset);
    }
    return box("stbl", box("stsd", c.stsd) + full_box("stts", 0, stts) + full_box("stss", 0, stss) +
                           full_box("stsc", 0, stsc) + full_box("stsz", 0, stsz) + full_box("stco", 0, stco));
}

inline std::string moov(const clip& c, int seconds, std::uint64_t mdat_data)
{
    auto ms = static_cast<std::uint32_t>(seconds) * 1000;
    auto frames = static_cast<std::uint32_t>(seconds * c.sizes.size());
    std::string mdhd, hdlr, vmhd(8, '\0'), dref, url = full_box("url ", 1, "");
    put32(mdhd, 0), put32(mdhd, 0), put32(mdhd, c.timescale), put32(mdhd, std::uint64_t(c.timescale) * seconds);
    put16(mdhd, 0x55C4), put16(mdhd, 0); // language "und"
    put32(hdlr, 0), hdlr += "vide", hdlr.append(12, '\0'), hdlr += std::string("VideoHandler\0", 13);
    put32(dref, 1), dref += url;
    std::string minf = box("minf", full_box("vmhd", 1, vmhd) + box("dinf", full_box("dref", 0, dref)) +
                                       stbl(c, frames, mdat_data));
    std::string mdia = box("mdia", full_box("mdhd", 0, mdhd) + full_box("hdlr", 0, hdlr) + minf);
    return box("moov", mvhd(ms) + box("trak", tkhd(ms, c) + mdia));
}

} // namespace detail

/// An MP4 of `seconds` seconds (1 to 60): ftyp, moov (before the data, so
/// that players start at once), mdat; one H.264 track that loops the
/// one-second clip of testing/sample_video.hpp. When it is shorter than
/// `pad_to` by 8 bytes or more, a trailing `free` box makes it exactly
/// `pad_to` bytes long.
inline std::string mp4(int seconds, std::size_t pad_to = 0)
{
    if (seconds < 1 || seconds > 60) throw std::invalid_argument("media::mp4: seconds must be in [1, 60]");
    static const detail::clip c = detail::read_clip();
    std::string ftyp("isom"), v;
    detail::put32(ftyp, 0x200);
    ftyp += "isomiso2avc1mp41";
    v = detail::box("ftyp", ftyp);
    // The chunk offsets depend on moov's size, which they do not change.
    auto moov_size = detail::moov(c, seconds, 0).size();
    v += detail::moov(c, seconds, v.size() + moov_size + 8);
    v += detail::box("mdat", c.mdat);
    if (pad_to >= v.size() + 8) {
        std::string pad;
        detail::fill(pad, pad_to - v.size() - 8, static_cast<std::uint64_t>(seconds));
        v += detail::box("free", pad);
    }
    return v;
}

} // namespace evolink::testing::media

#endif
