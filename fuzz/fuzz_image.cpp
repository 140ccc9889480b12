// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// libFuzzer target: evolink::inspect_image and evolink::check_image on
// arbitrary bytes, with the limits of both wan2.5 image models, limits that
// accept everything read, and a byte limit below the input's size. A success
// has a known format, a non-zero width and height and the input's size; a
// failure says why ("is ..."); check_image succeeds only on inputs that
// inspect_image reads, and then within its limits; its diagnostics name the
// field and the file.

#include <evolink/images.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace {

void check(bool ok)
{
    if (!ok) __builtin_trap();
}

bool same(const evolink::image_info& a, const evolink::image_info& b)
{
    return a.format == b.format && a.width == b.width && a.height == b.height && a.has_alpha == b.has_alpha &&
           a.size == b.size;
}

void check_with(std::span<const unsigned char> bytes, const std::optional<evolink::image_info>& read,
                const evolink::image_limits& limits)
{
    evolink::image_info info;
    info.width = 12345; // must be overwritten
    auto d = evolink::check_image(bytes, "in.png", limits, "image_url", &info);
    check(info.size == bytes.size());
    if (read) check(same(info, *read));
    else check(info.format == evolink::image_format::unknown && info.width == 0 && info.height == 0);
    if (!d) {
        check(read.has_value());
        check(bytes.size() <= limits.max_bytes);
        check(read->width >= limits.min_side && read->height >= limits.min_side);
        check(limits.max_side == 0 || (read->width <= limits.max_side && read->height <= limits.max_side));
        check(limits.formats.empty() ||
              std::find(limits.formats.begin(), limits.formats.end(), read->format) != limits.formats.end());
        check(limits.allow_alpha || read->format != evolink::image_format::png || !read->has_alpha);
        return;
    }
    check(d->code == "invalid_parameter");
    check(d->param == "image_url");
    check(d->message.starts_with("image_url: \"in.png\" is "));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::span<const unsigned char> bytes(data, size);

    std::string why = "stale";
    auto read = evolink::inspect_image(bytes, why);
    if (read) {
        check(why.empty());
        check(read->format != evolink::image_format::unknown);
        check(read->width > 0 && read->height > 0);
        check(read->size == size);
        check(!read->has_alpha || read->format != evolink::image_format::jpeg);
    } else {
        check(why.starts_with("is ") && why.size() > 3);
    }
    // The magic bytes alone agree with a successful read.
    if (read) check(evolink::sniff_image_format(bytes) == read->format);

    static const evolink::image_limits video = evolink::image_to_video_limits();
    static const evolink::image_limits image = evolink::image_to_image_limits();
    static const evolink::image_limits anything = [] {
        evolink::image_limits l;
        l.max_bytes = UINT64_MAX;
        l.allow_alpha = true;
        l.formats.clear();
        return l;
    }();
    check_with(bytes, read, video);
    check_with(bytes, read, image);
    check_with(bytes, read, anything);
    // With no other limit, check_image accepts exactly what inspect_image reads.
    check(!evolink::check_image(bytes, "in.png", anything, "image_url") == read.has_value());

    // A byte limit below the size: always refused, for its size.
    if (size > 0) {
        evolink::image_limits tight = anything;
        tight.max_bytes = size - 1 - (size > 1 ? data[0] % (size - 1) : 0);
        auto d = evolink::check_image(bytes, "in.png", tight, "image_url");
        check(d.has_value() && d->message.find(" allows at most ") != std::string::npos);
    }
    return 0;
}
