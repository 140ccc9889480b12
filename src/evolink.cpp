// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// The library's one translation unit in separate-compilation mode: meson's
// `evolink-compiled` dependency and CMake's `evolink::compiled` target build
// it with EVOLINK_SEPARATE_COMPILATION defined (docs/building.md).
#include <evolink/src.hpp>
