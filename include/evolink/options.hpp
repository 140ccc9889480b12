// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_OPTIONS_HPP
#define EVOLINK_OPTIONS_HPP

/// Client options: a plain aggregate, copied by the client at construction.
///
/// Durations, one rule: a timeout must be > 0 (zero or less would fail every
/// request at once); the retry policy's durations must be >= 0, where 0 has
/// the meaning its field documents. Anything else is refused by the client
/// constructor with errc::invalid_options, `diagnostics::param` naming the
/// field. Per-call options (wait_options::deadline,
/// download_options::stall_timeout) document 0 as "the default".

#include <evolink/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace evolink {

enum class log_level { debug, info, warning, error };

EVOLINK_INLINE std::string_view to_string(log_level l) noexcept
{
    switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warning: return "warning";
    case log_level::error: return "error";
    }
    return "?";
}

/// A logger hook. The library never passes the API key (nor the
/// Authorization header) to it. Called on the client's strand.
struct logger {
    std::function<void(log_level, std::string_view)> sink{}; ///< empty: no logging
    log_level min_level = log_level::info;

    /// A sink that throws is ignored (the message is lost): a failing logger
    /// never fails an operation, which may already have created a task.
    void operator()(log_level l, std::string_view msg) const noexcept
    {
        if (!sink || l < min_level) return;
        try {
            sink(l, msg);
        } catch (...) {
        }
    }
};

/// Which certificates the client trusts. By default the system trust store,
/// with peer and host name verification on. Anything set here is added to it
/// (set `use_system_store = false` to trust only these).
struct tls_options {
    bool use_system_store = true;
    std::string ca_file{}; ///< a PEM file of extra trusted CAs (a corporate CA...)
    std::string ca_dir{};  ///< a directory of hashed CA certificates (c_rehash)
    std::string ca_pem{};  ///< extra trusted CAs as in-memory PEM text
    /// A caller-built context used as is, instead of all of the above. The
    /// client still sets SNI and host name verification on every connection;
    /// the context's own verify mode is respected.
    std::shared_ptr<boost::asio::ssl::context> context{};
    /// Turns certificate and host name verification OFF: anyone on the path
    /// can read the API key and forge answers. For a broken test setup only;
    /// the client logs a warning at construction. Ignored with `context`.
    bool insecure_skip_verification = false;
};

/// How failed requests are retried. Reads (get_task; a wait's reads have
/// their own pacing) retry connection and read failures, timeouts, 408, 429
/// and 5xx. Task creation retries only when it is safe: the request provably
/// never reached the server, or a 429, or an Idempotency-Key makes a resend
/// return the original task. Retry-After / retry-after-ms are honoured (up to
/// max_retry_after); a retry that would start after `budget` is not made.
struct retry_policy {
    unsigned max_attempts = 4; ///< attempts per operation, the first included (1: never retry)
    std::chrono::milliseconds initial_backoff{500}; ///< >= 0 (0: retry at once)
    std::chrono::milliseconds max_backoff{15'000};  ///< >= 0 (0: retry at once)
    double multiplier = 2.0;   ///< backoff growth, >= 1; each delay is uniform in [0, backoff] (full jitter)
    std::chrono::milliseconds budget{60'000};          ///< >= 0: time from the first attempt after which no retry starts
    std::chrono::milliseconds max_retry_after{60'000}; ///< >= 0: cap on a server's Retry-After (0: ignore it)
    /// Send an Idempotency-Key with every creation request (one key per
    /// logical submit, reused on every attempt). Off: an ambiguous failure is
    /// errc::outcome_unknown and is never retried.
    bool idempotency_keys = true;

    static retry_policy none()
    {
        retry_policy p;
        p.max_attempts = 1;
        return p;
    }
};

struct client_options {
    /// The API key. Empty: read EVOLINK_API_KEY; neither set is an error
    /// (errc::missing_api_key) at construction.
    std::string api_key{};
    std::string base_url = "https://api.evolink.ai";
    std::string files_base_url = "https://files-api.evolink.ai";
    /// Allow http:// base URLs (a TLS-terminating proxy on loopback, tests).
    /// Off: an http:// base URL is refused at construction.
    bool allow_insecure_http = false;
    /// Accept callback URLs on loopback or private networks (and plain http
    /// there): for tests against the fake server and local development only.
    /// The real service refuses such URLs.
    bool allow_private_callback_urls = false;
    tls_options tls{};

    /// The HTTP proxy that https connections (the API, the Files API,
    /// downloads) go through, as a `CONNECT` tunnel with TLS to the host
    /// itself inside (docs/tls-and-connections.md#proxies). Unset: from the
    /// environment as curl reads it (https_proxy, HTTPS_PROXY, all_proxy,
    /// ALL_PROXY); "": none, whatever the environment says; else a URL
    /// `http://[user:password@]host[:port]` (port 1080 by default). A URL
    /// that is not one is refused at construction (errc::invalid_options),
    /// without echoing its password.
    std::optional<std::string> proxy{};
    /// Hosts reached without the proxy, NO_PROXY's syntax (`a.com,.b.org,
    /// 10.0.0.0/8,*`). Unset: no_proxy, else NO_PROXY, from the environment.
    std::optional<std::string> no_proxy{};

    // Timeouts: each > 0 (see the rule at the top of this file).
    std::chrono::milliseconds connect_timeout{10'000};   ///< DNS + TCP connect
    std::chrono::milliseconds handshake_timeout{10'000}; ///< TLS handshake
    std::chrono::milliseconds request_timeout{60'000};   ///< writing a request and reading its answer
    /// An idle pooled connection older than this is closed, not reused
    /// (servers drop idle connections; reusing one risks a failed request).
    std::chrono::milliseconds idle_timeout{30'000};

    /// Connections kept per host (scheme, host, port). Requests beyond it
    /// wait for a free connection: no unbounded fan-out, few handshakes.
    std::size_t max_connections_per_host = 8;
    std::size_t max_response_header_bytes = 16 * 1024;
    std::size_t max_response_body_bytes = 8 * 1024 * 1024;

    /// Read the tasks of many waits in one request (`POST /v1/tasks/batch`,
    /// up to 50 ids; EvoLink's own newer client uses it, its public docs do
    /// not list it): the reads that fall due within `batch_window` of each
    /// other go out together. A lone read is a plain GET, and so is the read
    /// of a task the batch answer leaves out (the GET gives its real error).
    /// When the endpoint answers 404 or 405 (or not as expected), the client
    /// logs it once and reads each task with GET from then on. See
    /// docs/waiting.md.
    bool batch_reads = true;
    /// How long a due read waits for others to join its batch: > 0, at most
    /// 5 s (a read is late by at most this much).
    std::chrono::milliseconds batch_window{50};

    /// Keep each task's whole JSON object in task::raw (fields the library
    /// does not type, for evolink::to_json). Off: task::raw stays empty and
    /// a task answer is parsed without keeping it, which is most of the
    /// allocations of reading a task (docs/tasks.md, docs/performance.md).
    /// Tasks from parse_task, task_from_json and callbacks always keep it.
    bool keep_raw_json = false;

    std::string user_agent = "evolink-cpp/" EVOLINK_VERSION_STRING;
    retry_policy retry{};
    evolink::logger logger{};

    /// Where blocking file work runs (reading an image or an upload, writing
    /// and fsync'ing a download, renaming it into place, the journal's
    /// add/finish): never on the io_context's threads. Empty (the default):
    /// a pool of two threads owned by the client, started on its first file
    /// operation. Set it to share your own pool (e.g. a
    /// boost::asio::thread_pool's executor); it must outlive the client's
    /// operations. (The client's own io_context works too, but brings the
    /// blocking back onto its threads.) See docs/threading.md.
    boost::asio::any_io_executor file_executor{};
};

namespace detail {

/// The rule for durations (top of this file): empty when `o` keeps it, else
/// why not, with `field` set to the offending field.
EVOLINK_INLINE std::string invalid_duration(const client_options& o, std::string& field)
{
    using ms = std::chrono::milliseconds;
    auto text = [](ms d) { return std::to_string(d.count()) + " ms"; };
    const std::pair<const char*, ms> timeouts[] = {{"connect_timeout", o.connect_timeout},
                                                   {"handshake_timeout", o.handshake_timeout},
                                                   {"request_timeout", o.request_timeout},
                                                   {"idle_timeout", o.idle_timeout}};
    for (auto& [name, d] : timeouts)
        if (d.count() <= 0) {
            field = name;
            return field + " is " + text(d) + ", which would time out at once; allowed: > 0";
        }
    const std::pair<const char*, ms> retry[] = {{"retry.initial_backoff", o.retry.initial_backoff},
                                                {"retry.max_backoff", o.retry.max_backoff},
                                                {"retry.budget", o.retry.budget},
                                                {"retry.max_retry_after", o.retry.max_retry_after}};
    for (auto& [name, d] : retry)
        if (d.count() < 0) {
            field = name;
            return field + " is " + text(d) + "; allowed: >= 0";
        }
    if (o.batch_reads && (o.batch_window.count() <= 0 || o.batch_window > ms(5000))) {
        field = "batch_window";
        return field + " is " + text(o.batch_window) + "; allowed: 1 to 5000 ms (or batch_reads = false)";
    }
    if (!(o.retry.multiplier >= 1.0 && o.retry.multiplier <= 1e6)) {
        field = "retry.multiplier";
        return field + " is " + std::to_string(o.retry.multiplier) + "; allowed: 1 to 1000000";
    }
    return {};
}

} // namespace detail

/// Options of a single submit.
struct submit_options {
    // Not an aggregate: see wait_options (a g++ 12 bug with temporaries).
    submit_options() = default;
    explicit submit_options(std::string key) : idempotency_key(std::move(key)) {}

    /// The Idempotency-Key (16 to 96 of [A-Za-z0-9._-]); empty: a fresh one
    /// per call when client_options::retry.idempotency_keys (the default).
    /// Send the same request with the same key again and the service returns
    /// the task the key created instead of creating (and billing) another.
    std::string idempotency_key{};

    using is_evolink_options = void;
};

} // namespace evolink

#endif
