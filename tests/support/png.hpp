// The tests' PNG builder: a file whose chunks say what a test needs (size,
// colour type, bit depth, transparency, size on disk), built byte by byte.
// Not an image a decoder could draw: IDAT holds a tiny zlib stream or filler,
// which nothing here decompresses. (evolink/testing/media.hpp's png() makes
// real pictures, but only 8-bit RGB, and at the cost of every pixel: far too
// slow for 4000x4000 in an unoptimized build.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace test_support {

/// CRC-32 as PNG chunks use it, bit by bit (independent of the table-driven
/// one in evolink/testing/media.hpp, which tests check against it).
inline std::uint32_t crc32(std::string_view s)
{
    std::uint32_t c = 0xFFFFFFFFu;
    for (unsigned char b : s) {
        c ^= b;
        for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1)));
    }
    return ~c;
}

struct png_shape {
    unsigned colour_type = 2;     ///< 0 grey, 2 RGB, 3 palette (adds a PLTE), 4 grey + alpha, 6 RGBA
    unsigned bit_depth = 8;
    bool trns = false;            ///< a tRNS chunk (transparency) before IDAT
    bool trns_after_idat = false; ///< one after IDAT, where it does not count
    std::size_t filler = 0;       ///< 0: IDAT holds a 10-byte zlib stream; else this many filler bytes
    unsigned char seed = 0;       ///< the filler's first byte: two seeds, same size, other bytes
};

/// Signature, IHDR, tEXt, PLTE (palette), tRNS, IDAT, tRNS after IDAT, IEND,
/// each chunk with its CRC: IHDR at offset 8, tEXt at 33 (unit tests cut
/// and corrupt it there).
inline std::string make_png(std::uint32_t width, std::uint32_t height, const png_shape& shape = {})
{
    auto be32 = [](std::string& s, std::uint32_t v) {
        for (int i = 3; i >= 0; --i) s += static_cast<char>((v >> (8 * i)) & 0xFF);
    };
    std::string out("\x89PNG\r\n\x1a\n", 8);
    auto chunk = [&](std::string_view type, std::string_view data) {
        be32(out, static_cast<std::uint32_t>(data.size()));
        auto at = out.size();
        out += type;
        out += data;
        be32(out, crc32(std::string_view(out).substr(at)));
    };
    std::string ihdr;
    be32(ihdr, width);
    be32(ihdr, height);
    ihdr += static_cast<char>(shape.bit_depth);
    ihdr += static_cast<char>(shape.colour_type);
    ihdr += std::string(3, '\0'); // deflate, filter 0, not interlaced
    chunk("IHDR", ihdr);
    chunk("tEXt", std::string_view("Comment\0hi", 10));
    if (shape.colour_type == 3) chunk("PLTE", std::string(6, '\x80'));
    std::string trns(shape.colour_type == 3 ? 1 : shape.colour_type == 0 ? 2 : 6, '\0');
    if (shape.trns) chunk("tRNS", trns);
    std::string idat;
    if (shape.filler == 0) idat.assign("\x78\x9C\x63\x60\x00\x00\x00\x02\x00\x01", 10);
    for (std::size_t i = 0; i < shape.filler; ++i) idat += static_cast<char>(shape.seed + i * 7);
    chunk("IDAT", idat);
    if (shape.trns_after_idat) chunk("tRNS", trns);
    chunk("IEND", "");
    return out;
}

} // namespace test_support
