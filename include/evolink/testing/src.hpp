// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_SRC_HPP
#define EVOLINK_TESTING_SRC_HPP

/// The test kit compiled once (opt-in, like <evolink/src.hpp> for the
/// library): build every translation unit of the test program with
/// EVOLINK_TESTING_SEPARATE_COMPILATION defined, and include this header in
/// exactly one .cpp file. That file compiles the fake server (its HTTP and
/// TLS serving, the fake API) once; the test files see only fake_server's
/// declarations. Meson's `evolink-testing` dependency does both for you, and
/// compiles the library separately too (docs/testing.md).

#ifndef EVOLINK_TESTING_SEPARATE_COMPILATION
#error "<evolink/testing/src.hpp> is for compiling the test kit separately: define EVOLINK_TESTING_SEPARATE_COMPILATION in every translation unit (e.g. -DEVOLINK_TESTING_SEPARATE_COMPILATION), or drop this include to use the fake server header-only (docs/testing.md)"
#endif

#include <evolink/testing/fake_server.hpp>
#include <evolink/testing/impl/fake_server.ipp>

#endif
