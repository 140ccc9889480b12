// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_SRC_HPP
#define EVOLINK_SRC_HPP

/// Separate compilation (opt-in, as in Boost.MySQL and Beast): build every
/// translation unit of the program with EVOLINK_SEPARATE_COMPILATION defined,
/// and include this header in exactly one .cpp file. That file compiles the
/// library's operation bodies (transport, retries, waiting, files) once; the
/// others see only their declarations and compile in a fraction of the time.
/// Meson's `evolink-compiled` dependency and CMake's `evolink::compiled`
/// target do both for you (docs/building.md).

#ifndef EVOLINK_SEPARATE_COMPILATION
#error "<evolink/src.hpp> is for separate compilation: define EVOLINK_SEPARATE_COMPILATION in every translation unit (e.g. -DEVOLINK_SEPARATE_COMPILATION), or drop this include to use evolink-cpp header-only (docs/building.md)"
#endif

#include <evolink/client.hpp>
#include <evolink/impl/callback_receiver.ipp>
#include <evolink/impl/client.ipp>
#include <evolink/impl/images.ipp>

#endif
