// evolink-cpp: header-only C++20 client for the EvoLink media-generation API.
// Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_CONFIG_HPP
#define EVOLINK_DETAIL_CONFIG_HPP

// Every non-template function in the library is defined in a header; marking
// them inline keeps the library header-only without ODR (multiple definition)
// errors when several translation units include <evolink.hpp>.
#define EVOLINK_INLINE inline

#if __cplusplus < 202002L && !defined(_MSVC_LANG)
#error "evolink-cpp needs C++20 (coroutines): compile with -std=c++20; meson: project('app', 'cpp', default_options : ['cpp_std=c++20']); CMake: set(CMAKE_CXX_STANDARD 20) or target_compile_features(app PRIVATE cxx_std_20)"
#endif

// The project's version, as in meson.build and CMakeLists.txt (tests/cli
// checks that `evolink --version` prints the one of meson.build).
#define EVOLINK_VERSION_STRING "0.1.0"

#endif
