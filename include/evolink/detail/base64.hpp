// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_BASE64_HPP
#define EVOLINK_DETAIL_BASE64_HPP

// Base64 for the two places that need it: a file uploaded as base64 data,
// and Proxy-Authorization: Basic.

#include <evolink/detail/config.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace evolink::detail {

/// RFC 4648 base64, with padding.
EVOLINK_INLINE std::string base64(std::string_view in)
{
    static constexpr char digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out((in.size() + 2) / 3 * 4, '=');
    char* o = out.data();
    for (std::size_t i = 0; i < in.size(); i += 3, o += 4) {
        std::uint32_t n = static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16;
        if (i + 1 < in.size()) n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8;
        if (i + 2 < in.size()) n |= static_cast<unsigned char>(in[i + 2]);
        o[0] = digits[(n >> 18) & 63];
        o[1] = digits[(n >> 12) & 63];
        if (i + 1 < in.size()) o[2] = digits[(n >> 6) & 63];
        if (i + 2 < in.size()) o[3] = digits[n & 63];
    }
    return out;
}

} // namespace evolink::detail

#endif
