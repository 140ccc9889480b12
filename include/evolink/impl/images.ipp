// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_IMPL_IMAGES_IPP
#define EVOLINK_IMPL_IMAGES_IPP

// The compiled part of <evolink/images.hpp>: the checks, on top of the
// scanners in detail/image_scan.hpp. Included by that header in header-only
// mode, or once by <evolink/src.hpp> with EVOLINK_SEPARATE_COMPILATION.

#include <evolink/detail/checks.hpp>
#include <evolink/detail/image_scan.hpp>
#include <evolink/images.hpp>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <limits>
#include <new>
#include <system_error>
#include <utility>

namespace evolink {

EVOLINK_DECL image_format sniff_image_format(std::span<const unsigned char> head) noexcept
{
    return detail::img_magic(head, nullptr);
}

EVOLINK_DECL std::optional<image_info> inspect_image(std::span<const unsigned char> bytes, std::string& why)
{
    try {
        detail::image_scan s;
        if (detail::scan_image(bytes, s)) {
            why.clear();
            return s.info;
        }
        why = std::move(s.why);
    } catch (const std::bad_alloc&) { // only messages allocate
        why.clear();
    }
    return std::nullopt;
}

EVOLINK_DECL std::optional<diagnostics> check_image(std::span<const unsigned char> bytes, std::string_view name,
                                                      const image_limits& limits, std::string_view field,
                                                      image_info* info)
{
    detail::image_scan s;
    bool ok = detail::scan_image(bytes, s);
    if (info) *info = s.info;
    const std::string who = detail::img_who(name);
    const std::string model = limits.model.empty() ? "the model" : limits.model;
    if (bytes.size() > limits.max_bytes) return detail::invalid(field, detail::img_too_big(who, bytes.size(), limits));
    if (!ok) {
        std::string message = who + " " + s.why;
        if (s.problem == detail::image_problem::not_image) message += "; " + model + " allows " + detail::img_format_list(limits);
        return detail::invalid(field, std::move(message));
    }
    const image_info& i = s.info;
    if (!limits.formats.empty() && std::find(limits.formats.begin(), limits.formats.end(), i.format) == limits.formats.end())
        return detail::invalid(field, who + " is " + std::string(to_string(i.format)) + "; " + model + " allows " +
                                          detail::img_format_list(limits));
    bool small = i.width < limits.min_side || i.height < limits.min_side;
    bool large = limits.max_side != 0 && (i.width > limits.max_side || i.height > limits.max_side);
    if (small || large)
        return detail::invalid(
            field, who + " is " + detail::img_wxh(i.width, i.height) + " pixels; " + model + " allows width and height " +
                       (limits.max_side != 0 ? "in [" + std::to_string(limits.min_side) + ", " +
                                                   std::to_string(limits.max_side) + "]"
                                             : "of at least " + std::to_string(limits.min_side)));
    if (!limits.allow_alpha && i.format == image_format::png && i.has_alpha)
        return detail::invalid(field, who + " is a PNG with " + std::string(s.alpha_reason) + "; " + model +
                                          " allows no transparent channel (flatten it or save as JPEG)");
    return std::nullopt;
}

namespace detail {

/// The reading part of check_image_file: the whole file into `buf`, after
/// refusing what is missing, not a regular file or over the size limit.
EVOLINK_DECL std::optional<diagnostics> read_image_file(const std::filesystem::path& path, const image_limits& limits,
                                                          std::string_view field, image_info* info,
                                                          std::vector<unsigned char>& buf)
{
    namespace fs = std::filesystem;
    if (info) *info = image_info{};
    const std::string name = path.string();
    const std::string who = detail::img_who(name);
    std::error_code ec;
    auto st = fs::status(path, ec);
    if (st.type() == fs::file_type::not_found && !ec) ec = std::make_error_code(std::errc::no_such_file_or_directory);
    if (ec) return detail::invalid(field, who + " cannot be read (" + ec.message() + ")");
    if (fs::is_directory(st)) return detail::invalid(field, who + " is a directory, not an image file");
    if (!fs::is_regular_file(st)) return detail::invalid(field, who + " is not a regular file");
    std::uintmax_t size = fs::file_size(path, ec);
    if (ec) return detail::invalid(field, who + " cannot be read (" + ec.message() + ")");
    if (info) info->size = size;
    if (size > limits.max_bytes) return detail::invalid(field, detail::img_too_big(who, size, limits));
    if (size >= std::numeric_limits<std::size_t>::max()) return detail::invalid(field, who + " is too large to read");

    errno = 0;
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        int e = errno;
        return detail::invalid(field, who + " cannot be opened" +
                                          (e != 0 ? " (" + std::generic_category().message(e) + ")" : std::string()));
    }
    // One byte more than the size seen: a file that grew in between is
    // refused for its size rather than cut short.
    buf.resize(static_cast<std::size_t>(size) + 1);
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
    if (in.bad()) {
        int e = errno;
        return detail::invalid(field, who + " cannot be read" +
                                          (e != 0 ? " (" + std::generic_category().message(e) + ")" : std::string()));
    }
    buf.resize(static_cast<std::size_t>(in.gcount()));
    return std::nullopt;
}

} // namespace detail

EVOLINK_DECL std::optional<diagnostics> check_image_file(const std::filesystem::path& path,
                                                           const image_limits& limits, std::string_view field,
                                                           image_info* info,
                                                           std::vector<unsigned char>* bytes)
{
    std::vector<unsigned char> own;
    auto& buf = bytes ? *bytes : own;
    if (auto e = detail::read_image_file(path, limits, field, info, buf)) return e;
    return check_image(buf, path.string(), limits, field, info);
}

} // namespace evolink

#endif
