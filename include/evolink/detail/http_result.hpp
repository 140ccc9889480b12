// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_HTTP_RESULT_HPP
#define EVOLINK_DETAIL_HTTP_RESULT_HPP

// What one HTTP exchange gave, as the transport hands it to the mappers
// (api_error.hpp) and the retry loops: a plain struct, no I/O; and the
// redaction of the API key from anything that may be shown.

#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>

#include <boost/asio/cancellation_type.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evolink::detail {

/// Extra request headers, name and value, in order.
using http_headers = std::vector<std::pair<std::string, std::string>>;

struct http_result {
    unsigned status = 0;
    std::string reason;
    std::string body;
    std::string content_type;
    std::string request_id;
    /// Set on failures too: the request started to go out (before that -
    /// DNS, connect, TLS handshake - nothing can have reached the server).
    bool sent = false;
    std::optional<std::chrono::milliseconds> retry_after; ///< Retry-After or retry-after-ms
    bool replayed = false;                                ///< Idempotency-Replayed: true
    /// A partial or total cancellation that arrived while a shielded
    /// (creation) request was on the wire: it was held back until the answer.
    boost::asio::cancellation_type held_cancel = boost::asio::cancellation_type::none;
    /// A failure on a reused connection that was not checked before use,
    /// before any byte of the answer: the server had most likely closed it
    /// while idle (transport::exchange sends such a request again).
    bool stale = false;
};

/// Replaces every occurrence of `secret` in `s` (no-op for short secrets).
EVOLINK_INLINE void redact(std::string& s, std::string_view secret)
{
    if (secret.size() < 4) return;
    for (auto pos = s.find(secret); pos != std::string::npos; pos = s.find(secret, pos))
        s.replace(pos, secret.size(), "[redacted]");
}

/// The same in every text field of `d`.
EVOLINK_INLINE void redact(diagnostics& d, std::string_view secret)
{
    for (auto* s : {&d.code, &d.type, &d.message, &d.param, &d.fallback_suggestion, &d.request_id, &d.task_id})
        redact(*s, secret);
}

} // namespace evolink::detail

#endif
