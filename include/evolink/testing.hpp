// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_HPP
#define EVOLINK_TESTING_HPP

/// The test kit, apart from the client (<evolink.hpp>): a fake EvoLink server
/// on loopback with real TLS (fake_server), its faults (faults.hpp), real
/// media for its results (media.hpp), throwaway certificates
/// (certificates.hpp) and a host name lookup that hangs (resolve_delay.hpp).
/// See docs/testing.md.
///
/// With EVOLINK_TESTING_SEPARATE_COMPILATION (the fake server compiled once,
/// testing/src.hpp), faults.hpp is left out: its building blocks
/// (broken_reply, connection_dropper) are the listener's hooks and would
/// bring the whole listener (detail/http_server.hpp) back into every test
/// file, the cost the mode is there to save. The fault kinds (reply_fault,
/// fake_server's `fault`) stay; include <evolink/testing/faults.hpp> for the
/// building blocks.

#include <evolink/testing/certificates.hpp>
#include <evolink/testing/fake_server.hpp>
#include <evolink/testing/media.hpp>
#include <evolink/testing/reply_fault.hpp>
#ifndef EVOLINK_TESTING_SEPARATE_COMPILATION
#include <evolink/testing/faults.hpp>
#endif
#include <evolink/testing/request_parser.hpp>
#include <evolink/testing/resolve_delay.hpp>

#endif
