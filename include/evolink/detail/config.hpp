// evolink-cpp: header-only C++20 client for the EvoLink media-generation API.
// Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_CONFIG_HPP
#define EVOLINK_DETAIL_CONFIG_HPP

// Helpers defined in headers are inline: several translation units may
// include them without multiple definitions.
#define EVOLINK_INLINE inline

// The compiled part's entry points (detail/operations.hpp; their bodies are in
// impl/client.ipp). Header-only (the default): inline, defined in every
// translation unit that includes <evolink/client.hpp>. With
// EVOLINK_SEPARATE_COMPILATION defined in every translation unit of the
// program, they are only declared, and one translation unit includes
// <evolink/src.hpp> to define them once (as Boost.MySQL and Beast do).
#ifdef EVOLINK_SEPARATE_COMPILATION
#define EVOLINK_DECL
#else
#define EVOLINK_DECL inline
#endif

#if __cplusplus < 202002L && !defined(_MSVC_LANG)
#error "evolink-cpp needs C++20 (coroutines): compile with -std=c++20; meson: project('app', 'cpp', default_options : ['cpp_std=c++20']); CMake: set(CMAKE_CXX_STANDARD 20) or target_compile_features(app PRIVATE cxx_std_20)"
#endif

// The project's version, as in meson.build and CMakeLists.txt (tests/cli
// checks that `evolink --version` prints the one of meson.build).
#define EVOLINK_VERSION_STRING "0.1.0"

#endif
