// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_HPP
#define EVOLINK_TESTING_HPP

/// The test kit, apart from the client (<evolink.hpp>): a fake EvoLink server
/// on loopback with real TLS (fake_server), its faults (faults.hpp), real
/// media for its results (media.hpp), throwaway certificates
/// (certificates.hpp) and a host name lookup that hangs (resolve_delay.hpp).
/// See docs/testing.md.

#include <evolink/testing/certificates.hpp>
#include <evolink/testing/fake_server.hpp>
#include <evolink/testing/faults.hpp>
#include <evolink/testing/media.hpp>
#include <evolink/testing/request_parser.hpp>
#include <evolink/testing/resolve_delay.hpp>

#endif
