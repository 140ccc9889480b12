// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_CALLBACK_RECEIVER_HPP
#define EVOLINK_CALLBACK_RECEIVER_HPP

/// evolink::callback_receiver: receives EvoLink's task callbacks (webhooks).
///
/// EvoLink POSTs the finished task to the request's callback_url, without a
/// signature. So the receiver makes URLs that carry an unguessable secret,
/// compares it in constant time, accepts only POST with a JSON task body up
/// to a size limit, answers 2xx at once, ignores duplicate deliveries, keeps
/// callbacks that arrive before anyone waits (bounded), and hands tasks to
/// `wait(task_id)`. A callback is only a hint: client::wait confirms it with
/// a GET before returning it (unless told to trust callback bodies).
///
/// It listens by itself (plain HTTP behind a TLS-terminating proxy, or HTTPS
/// with the caller's certificate) on the caller's executor, or, with
/// `listen = false`, takes requests from the caller's own HTTP server through
/// `handle()`.

#include <evolink/detail/async.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>
#include <evolink/task.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>


namespace evolink {

struct callback_receiver_options {
    /// The public base URL EvoLink can reach, e.g. "https://hooks.example.com"
    /// (the proxy in front of the receiver, or the receiver itself).
    std::string public_base_url{};
    /// Path under which callbacks arrive; the secret is appended to it.
    std::string path = "/evolink/callback";
    /// The secret in the URL; empty: 32 random bytes from OpenSSL, as hex.
    std::string secret{};

    bool listen = true;                      ///< false: no socket, feed handle() yourself
    std::string listen_address = "127.0.0.1";
    unsigned short listen_port = 0;          ///< 0: any free port (see port())
    /// HTTPS with the caller's certificate; null: plain HTTP (behind a proxy).
    std::shared_ptr<boost::asio::ssl::context> tls{};

    std::size_t max_body = 1024 * 1024;                ///< larger bodies get 413
    std::size_t max_header = 8 * 1024;                 ///< larger request headers get 431
    std::chrono::milliseconds read_timeout{10'000};     ///< slow clients are dropped
    /// Open connections at most; more are reset at once (see connections_rejected()).
    std::size_t max_connections = 1024;
    std::size_t max_early = 1024;   ///< callbacks kept for tasks nobody waits for yet (oldest dropped)
    std::size_t max_remembered = 4096; ///< deliveries remembered to ignore duplicates
};

namespace detail {
// The receiver's state and its HTTP listener (detail/http_server.hpp) live in
// impl/callback_receiver.ipp: a program that includes this header does not
// compile Beast's HTTP server (docs/building.md).
struct receiver_state;
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<task>> receiver_wait(std::shared_ptr<receiver_state> st, std::string id);
struct receiver_access;

/// A client wait's place in the receiver: what wait() does, without a
/// coroutine (a wait record, detail/wait_record.hpp, is one).
struct receiver_subscriber {
    virtual ~receiver_subscriber() = default;
    /// Once, on the receiver's strand: the callback's task, or
    /// operation_aborted (the receiver stopped, or unsubscribed).
    virtual void delivered(error_code ec, task t) = 0;
};
} // namespace detail

class callback_receiver {
public:
    using executor_type = boost::asio::any_io_executor;

    /// A response for the caller's HTTP stack (see handle()).
    struct response {
        unsigned status = 200;
        std::string body;
        std::string content_type = "application/json";
    };

    /// Starts listening at once when `opts.listen` (throws
    /// boost::system::system_error when it cannot bind; throws evolink::error
    /// with errc::invalid_options for a bad public_base_url or path).
    EVOLINK_LAZY_DECL explicit callback_receiver(executor_type ex, callback_receiver_options opts = {});
    EVOLINK_DECL ~callback_receiver();
    callback_receiver(const callback_receiver&) = delete;
    callback_receiver& operator=(const callback_receiver&) = delete;

    /// The URL to send as callback_url: public base URL + path + "/" + secret.
    EVOLINK_DECL std::string callback_url() const;
    /// The port it listens on (0 when not listening).
    EVOLINK_DECL unsigned short port() const;
    /// "http(s)://ADDRESS:PORT": where the receiver itself can be reached.
    EVOLINK_DECL std::string local_url() const;

    /// The framework-agnostic entry point: one HTTP request in, the response
    /// to send out. Cheap and non-blocking; callable from any thread. The task
    /// is handed to waiters afterwards, on the receiver's strand.
    EVOLINK_DECL response handle(std::string_view method, std::string_view target, std::string_view body);

    /// Waits for the callback of `task_id` (or takes the one that came early).
    ///
    /// Handler: `void(evolink::error_code, evolink::task)`: the task as the
    /// callback body says (unconfirmed). Cancellation: terminal, partial and
    /// total; nothing stays registered. Lifetimes: `task_id` is copied; the
    /// receiver must outlive the operation. Errors: operation_aborted when
    /// cancelled or when the receiver stops.
    template <completion_token_not_diagnostics Token = default_token>
    auto wait(std::string_view task_id, Token&& token = {})
    {
        auto body = [st = st_, id = std::string(task_id)]() mutable {
            return detail::receiver_wait(std::move(st), std::move(id));
        };
        return detail::start_untracked<task>(std::forward<Token>(token), strand_, std::move(body));
    }

    /// The path callbacks arrive under (before the secret): route requests
    /// whose target starts with it to handle().
    EVOLINK_DECL const std::string& path() const noexcept;

    /// Drops a callback kept for `task_id` and no longer needed (client::wait
    /// calls it when a wait ends, however it ended). Safe from any thread.
    EVOLINK_DECL void discard(std::string_view task_id);

    /// Stops listening, closes connections and ends every wait with
    /// operation_aborted. Safe from any thread, more than once.
    EVOLINK_DECL void stop();

    /// Counters: callbacks accepted (2xx), refused (4xx), ignored as duplicates.
    EVOLINK_DECL std::size_t accepted() const noexcept;
    EVOLINK_DECL std::size_t refused() const noexcept;
    EVOLINK_DECL std::size_t duplicates() const noexcept;
    /// Connections reset at once because `max_connections` were open, and
    /// failed accepts (e.g. out of descriptors; each pauses accepting, 10 ms
    /// doubling up to 1 s). 0 when not listening.
    EVOLINK_DECL std::size_t connections_rejected() const noexcept;
    EVOLINK_DECL std::size_t accept_errors() const noexcept;

private:
    friend struct detail::receiver_access;
    std::shared_ptr<detail::receiver_state> st_;
    executor_type strand_; // the state's strand, for wait()'s initiation
};

namespace detail {
/// `s` receives the callback of `task_id` (or the one that came early):
/// callback_receiver::wait() for a wait record. Safe from any thread.
EVOLINK_DECL void receiver_subscribe(callback_receiver& r, std::string task_id, std::shared_ptr<receiver_subscriber> s);
/// Takes `s` back: it receives operation_aborted, unless it had its callback.
EVOLINK_DECL void receiver_unsubscribe(callback_receiver& r, std::string task_id, std::shared_ptr<receiver_subscriber> s);

/// What a callback bus (redis/callback_bus.hpp) plugs into a receiver: each
/// callback it accepted over HTTP (new, not a duplicate), with its body, and
/// each wait that began with no callback kept for its task. Both run on the
/// receiver's strand and must not block; empty functions detach the bus.
struct receiver_bus_hooks {
    std::function<void(const std::string& task_id, const std::string& body)> accepted;
    std::function<void(const std::string& task_id)> missed;
};
/// Safe from any thread; takes effect on the receiver's strand.
EVOLINK_DECL void receiver_attach_bus(callback_receiver& r, receiver_bus_hooks hooks);
/// A callback another instance accepted: handed to this receiver's waits as
/// if it had come over HTTP (duplicates ignored, kept early when nobody
/// waits), but not handed back to the bus. Safe from any thread. False when
/// the body is not a task.
EVOLINK_DECL bool receiver_deliver_remote(callback_receiver& r, std::string_view body);
} // namespace detail

} // namespace evolink

#ifndef EVOLINK_SEPARATE_COMPILATION
#include <evolink/impl/callback_receiver.ipp>
#endif

#endif
