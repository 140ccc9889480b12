// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// The test kit's one translation unit in separate-compilation mode: meson's
// `evolink-testing` dependency builds it with EVOLINK_SEPARATE_COMPILATION and
// EVOLINK_TESTING_SEPARATE_COMPILATION defined, so that the fake server is
// compiled once per build rather than in every test file (docs/testing.md).
#include <evolink/testing/src.hpp>
