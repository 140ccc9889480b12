// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_ERROR_HPP
#define EVOLINK_ERROR_HPP

/// Errors: two `error_code` categories plus a `diagnostics` object that
/// carries what the server (or the validator) said.
///
/// - `evolink::errc` (category "evolink"): failures detected on this side:
///   validation, options, timeouts, TLS, broken connections, bad responses.
/// - `evolink::api_errc` (category "evolink.api"): the API answered with a
///   non-2xx HTTP status; the error value *is* the HTTP status, so any status
///   (even one not listed in the enum) maps to a distinct error.
///
/// Operations complete with `(error_code, T)`. The default completion token
/// (`evolink::default_token`, i.e. with_diagnostics(asio::use_awaitable))
/// turns a failure into an `evolink::error` exception that carries the
/// diagnostics; with any other token, pass a `diagnostics&` to the operation
/// to read them.

#include <evolink/detail/config.hpp>

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <exception>
#include <string>
#include <string_view>
#include <utility>

namespace evolink {

using error_code = boost::system::error_code;

/// Failures detected by the client itself.
enum class errc {
    invalid_request = 1, ///< a request failed validation; nothing was sent
    invalid_options,     ///< client options are unusable (bad base URL, bad CA file...)
    missing_api_key,     ///< no API key in the options nor in EVOLINK_API_KEY
    timeout,             ///< connect, TLS handshake or request timed out
    connect_failed,      ///< name resolution or TCP connect failed
    tls_failed,          ///< TLS handshake or certificate verification failed
    connection_lost,     ///< the connection was closed or reset mid-exchange
    protocol_error,      ///< the peer did not speak valid HTTP
    response_too_large,  ///< response headers or body over the configured limit
    bad_response,        ///< a 2xx answer whose body is not the expected JSON
    task_failed,         ///< the task ended "failed"; diagnostics carry its error code and retryable
    task_cancelled,      ///< the task ended "cancelled"
    deadline_exceeded,   ///< a wait gave up at its deadline; the task may still finish
    /// A creation request failed after it was sent and without an
    /// Idempotency-Key: a task may or may not exist (and be billed). Never
    /// retried; diagnostics carry everything known.
    outcome_unknown,
    journal_failed, ///< the journal could not record a task (its id is in the diagnostics)
    /// A callback of the caller's (on_submitted, on_progress, a download's
    /// on_progress) threw; the message is its what(), the task id is kept.
    handler_threw,
    /// An exception inside the library (a bug in evolink-cpp, or out of
    /// memory); never a statement about the server.
    internal_error,
    /// The HTTP proxy refused the tunnel to the host (407: credentials
    /// wanted or refused; 403/405: not allowed there). Nothing reached the
    /// host; not retried.
    proxy_refused,
    /// The client is shut down (client::shutdown): the operation was not
    /// started, nothing was sent.
    shut_down,
};

/// Non-2xx answers of the API. The numeric value is the HTTP status.
enum class api_errc {
    bad_request = 400,           ///< invalid_request_error; `diagnostics::param` names the field
    unauthorized = 401,          ///< authentication_error: missing or bad key
    insufficient_quota = 402,    ///< balance or per-key quota exhausted: never retry
    forbidden = 403,             ///< permission_error: key may not use that model
    not_found = 404,             ///< unknown model, or task not found / expired
    request_timeout = 408,
    request_too_large = 413,
    rate_limited = 429,          ///< rate or concurrency limit
    internal_server_error = 500,
    bad_gateway = 502,
    service_unavailable = 503,
    gateway_timeout = 504,
};

namespace detail {

class client_category_impl final : public boost::system::error_category {
public:
    constexpr client_category_impl() noexcept : error_category(0x6576'6f6c'696e'6b31ULL) {}
    const char* name() const noexcept override { return "evolink"; }
    std::string message(int ev) const override
    {
        switch (static_cast<errc>(ev)) {
        case errc::invalid_request: return "invalid request (nothing was sent)";
        case errc::invalid_options: return "invalid client options";
        case errc::missing_api_key: return "no API key: set client_options::api_key or EVOLINK_API_KEY";
        case errc::timeout: return "timed out";
        case errc::connect_failed: return "could not connect";
        case errc::tls_failed: return "TLS handshake or certificate verification failed";
        case errc::connection_lost: return "connection closed or reset";
        case errc::protocol_error: return "invalid HTTP from the server";
        case errc::response_too_large: return "response over the size limit";
        case errc::bad_response: return "unexpected response body";
        case errc::task_failed: return "the task failed";
        case errc::task_cancelled: return "the task was cancelled";
        case errc::deadline_exceeded: return "gave up waiting at the deadline (the task may still finish)";
        case errc::outcome_unknown: return "the request may or may not have created a task";
        case errc::journal_failed: return "the journal could not record the task";
        case errc::handler_threw: return "a callback of the caller (on_submitted, on_progress...) threw";
        case errc::internal_error: return "internal error (a bug in evolink-cpp, or out of memory)";
        case errc::proxy_refused: return "the proxy refused the tunnel (nothing reached the host)";
        case errc::shut_down: return "the client is shut down (nothing was sent)";
        }
        return "unknown evolink error";
    }
};

class api_category_impl final : public boost::system::error_category {
public:
    constexpr api_category_impl() noexcept : error_category(0x6576'6f6c'696e'6b32ULL) {}
    const char* name() const noexcept override { return "evolink.api"; }
    std::string message(int status) const override
    {
        switch (status) {
        case 400: return "HTTP 400: bad request";
        case 401: return "HTTP 401: authentication failed (missing or bad API key)";
        case 402: return "HTTP 402: insufficient quota";
        case 403: return "HTTP 403: permission denied";
        case 404: return "HTTP 404: not found";
        case 408: return "HTTP 408: request timeout";
        case 413: return "HTTP 413: request too large";
        case 429: return "HTTP 429: rate limited";
        case 500: return "HTTP 500: internal server error";
        case 502: return "HTTP 502: bad gateway";
        case 503: return "HTTP 503: service unavailable";
        case 504: return "HTTP 504: gateway timeout";
        }
        return "HTTP " + std::to_string(status);
    }
};

} // namespace detail

EVOLINK_INLINE const boost::system::error_category& client_category() noexcept
{
    static const detail::client_category_impl cat;
    return cat;
}

EVOLINK_INLINE const boost::system::error_category& api_category() noexcept
{
    static const detail::api_category_impl cat;
    return cat;
}

EVOLINK_INLINE error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), client_category()};
}

EVOLINK_INLINE error_code make_error_code(api_errc e) noexcept
{
    return {static_cast<int>(e), api_category()};
}

/// The error for an HTTP status (any non-2xx status, listed in api_errc or not).
EVOLINK_INLINE error_code make_http_error(int status) noexcept
{
    return {status, api_category()};
}

/// The HTTP status behind an API error, or 0 when `ec` is not one.
EVOLINK_INLINE int http_status(const error_code& ec) noexcept
{
    return ec.category() == api_category() ? ec.value() : 0;
}

/// True for failures that a later, identical *read* (get, poll) may not hit:
/// timeouts, lost or refused connections, 408, 429 and 5xx. Never true for
/// validation errors nor for 400/401/402/403/404/413.
EVOLINK_INLINE bool is_transient(const error_code& ec) noexcept
{
    if (ec.category() == api_category()) {
        int s = ec.value();
        return s == 408 || s == 429 || s >= 500;
    }
    if (ec.category() == client_category()) {
        auto e = static_cast<errc>(ec.value());
        return e == errc::timeout || e == errc::connect_failed || e == errc::connection_lost;
    }
    return false;
}

/// What the server or the validator said about a failure. Every field may be
/// empty. The API key never appears in any of them: text received from the
/// server is scrubbed of it before it is stored.
struct diagnostics {
    int http_status = 0;             ///< 0 when no HTTP answer was read
    std::string code;                ///< EvoLink's error code ("400", "invalid_task_id"...)
    std::string type;                ///< EvoLink's error type ("invalid_request_error"...)
    std::string message;             ///< human-readable message
    std::string param;               ///< the offending field, when known
    std::string fallback_suggestion; ///< EvoLink's advice, when given
    std::string request_id;          ///< X-Request-Id / X-Oneapi-Request-Id
    std::string task_id;             ///< the task concerned, when known
    std::string task_status;         ///< the task's last status seen, when known
    /// For errc::task_failed: whether EvoLink's task error code says a new
    /// attempt may succeed ("retry later" codes) rather than "fix the input".
    bool retryable = false;
    /// The Idempotency-Key of a creation request: sending the same request
    /// again with this key returns the task it created, if any.
    std::string idempotency_key;
    unsigned attempts = 0; ///< requests made by the operation (retries included)

    /// One line for logs and exception texts, e.g.
    /// `HTTP 400 invalid_request_error (param: size): ... [request id: abc]`.
    std::string summary() const
    {
        std::string s;
        auto sep = [&s] { if (!s.empty()) s += ' '; };
        if (http_status != 0) s += "HTTP " + std::to_string(http_status);
        if (!type.empty()) { sep(); s += type; }
        if (!code.empty() && code != type && code != std::to_string(http_status)) {
            sep(); s += "[" + code + "]";
        }
        if (!param.empty()) { sep(); s += "(param: " + param + ")"; }
        if (!message.empty()) { s += s.empty() ? "" : ": "; s += message; }
        if (!fallback_suggestion.empty()) s += " (suggestion: " + fallback_suggestion + ")";
        if (!task_id.empty()) s += " [task: " + task_id + (task_status.empty() ? "" : ", " + task_status) + "]";
        if (!request_id.empty()) s += " [request id: " + request_id + "]";
        if (attempts > 1) s += " [after " + std::to_string(attempts) + " attempts]";
        return s;
    }

    void clear() { *this = diagnostics{}; }
};

/// The exception thrown by the default completion token: an error code plus
/// everything the diagnostics knew. `what()` is `summary(): ec.message()`.
class error : public boost::system::system_error {
public:
    error(error_code ec, evolink::diagnostics diag)
        : system_error(diag.summary().empty() ? system_error(ec) : system_error(ec, diag.summary())),
          diag_(std::move(diag))
    {
    }
    const evolink::diagnostics& get_diagnostics() const noexcept { return diag_; }

private:
    evolink::diagnostics diag_;
};

namespace detail {

/// The outcome of an exception caught where the library calls a hook of the
/// caller's: errc::handler_threw, its message naming the hook.
EVOLINK_INLINE diagnostics hook_threw(std::string_view hook, std::exception_ptr ep)
{
    diagnostics d;
    d.param = std::string(hook);
    try {
        std::rethrow_exception(ep);
    } catch (const std::exception& e) {
        d.message = std::string(hook) + " threw: " + e.what();
    } catch (...) {
        d.message = std::string(hook) + " threw an exception that is not a std::exception";
    }
    return d;
}

/// Thrown by the library through its own frames when a hook threw where no
/// outcome can be returned directly (a download's on_progress); the
/// operation then completes with errc::handler_threw and these diagnostics.
class hook_exception : public std::exception {
public:
    explicit hook_exception(diagnostics d) : diag_(std::move(d)) {}
    const char* what() const noexcept override { return diag_.message.c_str(); }
    const diagnostics& diag() const noexcept { return diag_; }

private:
    diagnostics diag_;
};

/// Maps an exception that escaped an operation's body to its outcome:
/// handler_threw for a hook_exception, else internal_error (never a
/// server-side code: nothing the server did throws).
EVOLINK_INLINE std::pair<error_code, diagnostics> exception_outcome(std::exception_ptr ep)
{
    diagnostics d;
    try {
        std::rethrow_exception(ep);
    } catch (const hook_exception& e) {
        return {make_error_code(errc::handler_threw), e.diag()};
    } catch (const std::exception& e) {
        d.message = std::string("a bug in evolink-cpp or out of memory: ") + e.what();
    } catch (...) {
        d.message = "a bug in evolink-cpp: an exception that is not a std::exception";
    }
    return {make_error_code(errc::internal_error), std::move(d)};
}

} // namespace detail

} // namespace evolink

namespace boost::system {
template <>
struct is_error_code_enum<evolink::errc> : std::true_type {};
template <>
struct is_error_code_enum<evolink::api_errc> : std::true_type {};
} // namespace boost::system

#endif
