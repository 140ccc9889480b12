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

// Bodies a program may never reach: the receiver's HTTP server and wait,
// downloads, the Files API, account reads, resume. g++ 12 compiles every
// non-template inline coroutine a translation unit defines, called or not,
// with all it instantiates: header-only, a program that only submits and
// waits compiled them all (issue 11, docs/building.md). So, header-only,
// these entry points are templates with a defaulted dummy parameter,
// instantiated (once, as <void>) only when the program calls them; the
// detail bodies below them are templates in both modes. Compiled
// separately, the entry points are ordinary functions defined in src.hpp.
//   EVOLINK_LAZY_DECL: the declaration of such an entry point;
//   EVOLINK_LAZY_DEF: its definition, in impl/*.ipp.
#ifdef EVOLINK_SEPARATE_COMPILATION
#define EVOLINK_LAZY_DECL
#define EVOLINK_LAZY_DEF
#else
#define EVOLINK_LAZY_DECL template <class = void>
#define EVOLINK_LAZY_DEF template <class>
#endif

namespace evolink::detail {
/// `T`, as a type that depends on `Lazy`: in a lazy template, the I/O
/// objects' types are written so, else the compiler resolves (and
/// instantiates) every call on them when it reads the template.
template <class Lazy, class T>
struct lazy_type {
    using type = T;
};
template <class Lazy, class T>
using lazy_t = typename lazy_type<Lazy, T>::type;
} // namespace evolink::detail

#if __cplusplus < 202002L && !defined(_MSVC_LANG)
#error "evolink-cpp needs C++20 (coroutines): compile with -std=c++20; meson: project('app', 'cpp', default_options : ['cpp_std=c++20']); CMake: set(CMAKE_CXX_STANDARD 20) or target_compile_features(app PRIVATE cxx_std_20)"
#endif

// The project's version, as in meson.build and CMakeLists.txt (tests/cli
// checks that `evolink --version` prints the one of meson.build).
#define EVOLINK_VERSION_STRING "0.1.0"

#endif
