// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_REPLY_FAULT_HPP
#define EVOLINK_TESTING_REPLY_FAULT_HPP

/// The ways an answer of the fake server can be broken on purpose
/// (canned_response::kind, fake_server.hpp). The writers that break them are
/// in faults.hpp; this header holds only the names, so that fake_server.hpp
/// need not include the listener.

namespace evolink::testing {

/// How an answer goes out: normally, or broken on purpose.
enum class reply_fault {
    none,
    reset,     ///< close the connection (RST) without answering
    cut_body,  ///< send the headers and half the body, then close
    slow_body, ///< send the headers, then the body in pieces spread over `slow_for`
    /// Content-Length says 1000 bytes more than the body; the whole body is
    /// sent, then the connection closes.
    wrong_length,
};

} // namespace evolink::testing

#endif
