// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_BASE64_HPP
#define EVOLINK_DETAIL_BASE64_HPP

// Base64 for the two places that need it: a file uploaded as base64 data,
// and Proxy-Authorization: Basic.

#include <evolink/detail/config.hpp>

#include <openssl/evp.h>

#include <string>
#include <string_view>

namespace evolink::detail {

/// RFC 4648 base64, with padding (OpenSSL's encoder).
EVOLINK_INLINE std::string base64(std::string_view bytes)
{
    std::string out(4 * ((bytes.size() + 2) / 3), '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

} // namespace evolink::detail

#endif
