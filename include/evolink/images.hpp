// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_IMAGES_HPP
#define EVOLINK_IMAGES_HPP

/// Local checks of an image before it is uploaded or a task is paid for:
/// format, byte size, width and height, and transparency, read from the
/// file's headers (nothing is decoded or decompressed). ../docs/images.md
/// lists what is read per format and the limits of each model.
///
/// Formats read: PNG, JPEG, WebP (VP8, VP8L, VP8X), BMP, and GIF (only so
/// that the error can say that GIF is not accepted). The parsers never read
/// out of bounds, never throw and never crash, whatever the bytes (they are
/// fuzzed: ../fuzz/fuzz_image.cpp).

#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace evolink {

enum class image_format { unknown, jpeg, png, bmp, webp, gif };

/// "jpeg", "png", "bmp", "webp", "gif", "unknown".
EVOLINK_INLINE std::string_view to_string(image_format f) noexcept
{
    switch (f) {
    case image_format::jpeg: return "jpeg";
    case image_format::png: return "png";
    case image_format::bmp: return "bmp";
    case image_format::webp: return "webp";
    case image_format::gif: return "gif";
    case image_format::unknown: break;
    }
    return "unknown";
}

/// "image/jpeg", "image/png", "image/bmp", "image/webp", "image/gif";
/// "application/octet-stream" for unknown.
EVOLINK_INLINE std::string_view mime_type(image_format f) noexcept
{
    switch (f) {
    case image_format::jpeg: return "image/jpeg";
    case image_format::png: return "image/png";
    case image_format::bmp: return "image/bmp";
    case image_format::webp: return "image/webp";
    case image_format::gif: return "image/gif";
    case image_format::unknown: break;
    }
    return "application/octet-stream";
}

/// ".jpg", ".png", ".bmp", ".webp", ".gif"; "" for unknown.
EVOLINK_INLINE std::string_view file_extension(image_format f) noexcept
{
    switch (f) {
    case image_format::jpeg: return ".jpg";
    case image_format::png: return ".png";
    case image_format::bmp: return ".bmp";
    case image_format::webp: return ".webp";
    case image_format::gif: return ".gif";
    case image_format::unknown: break;
    }
    return "";
}

/// What inspect_image() read from a file's headers.
struct image_info {
    image_format format = image_format::unknown;
    std::uint32_t width = 0, height = 0;
    /// True when the headers declare transparency:
    /// - PNG: colour type 4 (grey + alpha) or 6 (RGBA), or a tRNS chunk
    ///   before the first IDAT (any colour type);
    /// - WebP: the VP8X alpha flag (0x10), or the VP8L alpha_is_used bit;
    ///   a plain lossy "VP8 " file has none;
    /// - BMP: 16 or 32 bits per pixel with a BITMAPV3INFOHEADER or later
    ///   (header size >= 56) whose alpha mask is non-zero.
    /// Never set for JPEG (no alpha) nor GIF (its transparent colour index,
    /// in a Graphic Control Extension, is not read). Whether any pixel is
    /// actually transparent is not examined: nothing is decoded.
    bool has_alpha = false;
    std::uint64_t size = 0; ///< bytes of the whole file
};

/// What a model accepts.
struct image_limits {
    std::string model;                           ///< for messages, e.g. "wan2.5-image-to-video"
    std::uint64_t max_bytes = 10 * 1024 * 1024;  ///< at most this many bytes
    /// Width and height each in [min_side, max_side]; max_side 0 means no
    /// upper bound (so the defaults check no side at all).
    std::uint32_t min_side = 0, max_side = 0;
    /// "png (no alpha)": when false, a PNG with an alpha channel or a tRNS
    /// chunk is refused. Only PNG: the documented rule names PNG alone, so a
    /// WebP or BMP with alpha passes (image_info::has_alpha tells callers who
    /// want to be stricter).
    bool allow_alpha = false;
    /// Accepted formats; an empty list accepts every format read here.
    std::vector<image_format> formats{image_format::jpeg, image_format::png, image_format::bmp, image_format::webp};
};

/// wan2.5-image-to-video: at most 10 MB, width and height in [360, 2000],
/// jpeg/png (no alpha)/bmp/webp.
EVOLINK_INLINE image_limits image_to_video_limits()
{
    image_limits l;
    l.model = "wan2.5-image-to-video";
    l.min_side = 360;
    l.max_side = 2000;
    return l;
}

/// wan2.5-image-to-image: at most 10 MB (each image), width and height in
/// [384, 5000], jpeg/png (no alpha)/bmp/webp.
EVOLINK_INLINE image_limits image_to_image_limits()
{
    image_limits l;
    l.model = "wan2.5-image-to-image";
    l.min_side = 384;
    l.max_side = 5000;
    return l;
}

/// The format named by the first bytes of a file (the first 12 are enough),
/// without reading further: for a MIME type from the head of a file. Says
/// nothing of whether the rest is a valid image; inspect_image() does.
EVOLINK_DECL image_format sniff_image_format(std::span<const unsigned char> head) noexcept;

/// Reads format, dimensions and alpha from the bytes of a whole file. Never
/// reads out of bounds, never throws, never crashes on any input (it is
/// fuzzed). On success clears `why`; on failure returns nullopt and sets
/// `why` to a sentence about the file, to follow its name, such as
/// "is truncated (PNG header needs 33 bytes, file has 20)",
/// "is not an image (unknown magic bytes 3c 68 74 6d)",
/// "is a corrupt JPEG (no SOF marker before the image data)".
///
/// Besides the headers, it checks that the file is not cut short where that
/// is cheap: every PNG chunk up to IEND fits and there is an IDAT; a JPEG's
/// segments up to its start of scan fit; a WebP file is as long as its RIFF
/// header says; an uncompressed BMP holds all its rows. Nothing is decoded.
EVOLINK_DECL std::optional<image_info> inspect_image(std::span<const unsigned char> bytes, std::string& why);

/// Checks bytes (named `name` in messages, e.g. the file path) against
/// `limits`, in this order: byte size, readable image, format, width and
/// height, PNG transparency. Returns nothing when fine; else diagnostics
/// from detail::invalid(field, message), whose message names the file, the
/// value and the limit, e.g.
/// `image_url: "./cat.png" is 300x500 pixels; wan2.5-image-to-video allows width and height in [360, 2000]`.
/// `info` (optional) receives what was read (format unknown, size set, when
/// the bytes are not a readable image).
EVOLINK_DECL std::optional<diagnostics> check_image(std::span<const unsigned char> bytes, std::string_view name,
                                                      const image_limits& limits, std::string_view field,
                                                      image_info* info = nullptr);

/// The same for a file on disk. A missing or unreadable path gives
/// diagnostics naming the path and the system's reason; a directory or
/// other non-regular file is refused; the size is checked from the file
/// system before anything is read (a 3 GB file is refused without reading
/// it); then the whole file is read and checked with check_image(). The
/// diagnostics are those of detail::invalid (code "invalid_parameter").
/// `info` receives what was read (only the size when the file was refused
/// before being read). `bytes` (optional) receives the bytes read, so that
/// they need not be read again (the client uploads them).
EVOLINK_DECL std::optional<diagnostics> check_image_file(const std::filesystem::path& path,
                                                           const image_limits& limits, std::string_view field,
                                                           image_info* info = nullptr,
                                                           std::vector<unsigned char>* bytes = nullptr);

} // namespace evolink

#ifndef EVOLINK_SEPARATE_COMPILATION
#include <evolink/impl/images.ipp>
#endif

#endif
