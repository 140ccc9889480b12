// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_CONFIG_HPP
#define EVOLINK_TESTING_CONFIG_HPP

// The test kit's compiled part: the fake server's members (fake_server.hpp;
// their bodies and the server itself are in testing/impl/fake_server.ipp).
// Header-only (the default): inline, defined in every translation unit that
// includes <evolink/testing/fake_server.hpp>. With
// EVOLINK_TESTING_SEPARATE_COMPILATION defined in every translation unit of
// the program, they are only declared, and one translation unit includes
// <evolink/testing/src.hpp> to define them once: the fake server is then
// compiled once per build, not once per test file (docs/testing.md).
//
// The macro is apart from EVOLINK_SEPARATE_COMPILATION: a program may compile
// the library separately and still use the fake server header-only. The
// translation unit of <evolink/testing/src.hpp> needs both.
#ifdef EVOLINK_TESTING_SEPARATE_COMPILATION
#define EVOLINK_TESTING_DECL
#else
#define EVOLINK_TESTING_DECL inline
#endif

#endif
