// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_REDIS_SRC_HPP
#define EVOLINK_REDIS_SRC_HPP

/// Separate compilation of the Redis part: with EVOLINK_SEPARATE_COMPILATION
/// defined everywhere, include this in exactly one .cpp file (besides
/// <evolink/src.hpp>, which never needs hiredis). Meson's
/// `evolink-redis-compiled` does it (src/redis.cpp).

#ifndef EVOLINK_SEPARATE_COMPILATION
#error "<evolink/redis/src.hpp> is for separate compilation: define EVOLINK_SEPARATE_COMPILATION, or drop this include to use <evolink/redis.hpp> header-only (docs/scale-out.md)"
#endif

#include <evolink/redis.hpp>
#include <evolink/redis/impl/callback_bus.ipp>
#include <evolink/redis/impl/connection.ipp>
#include <evolink/redis/impl/journal.ipp>

#endif
