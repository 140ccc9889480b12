// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// The Redis part's one translation unit in separate-compilation mode:
// meson's `evolink-redis-compiled` builds it with EVOLINK_SEPARATE_COMPILATION
// (docs/scale-out.md). Kept apart from src/evolink.cpp so that the core
// library never needs hiredis.
#include <evolink/redis/src.hpp>
