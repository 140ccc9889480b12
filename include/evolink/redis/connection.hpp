// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_REDIS_CONNECTION_HPP
#define EVOLINK_REDIS_CONNECTION_HPP

/// evolink::redis_connection: one connection to Redis that runs on the
/// caller's io_context and never blocks it. hiredis's redisAsyncContext
/// writes the commands and parses the replies; its socket is watched by
/// Asio (a posix::stream_descriptor assigned hiredis's descriptor, waiting
/// for read and write readiness on a strand). When the connection drops it
/// reconnects by itself, after a pause that doubles (redis_options), and
/// authenticates again (AUTH, or AUTH user password).
///
/// Commands are not queued while there is no connection: they fail at once
/// with redis_errc::unreachable, so that the caller falls back (a wait polls,
/// docs/scale-out.md) instead of piling up work for a Redis that is gone.

#include <evolink/detail/config.hpp>
#include <evolink/redis/options.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace evolink {

namespace detail {
struct redis_conn_state;

/// A command's handler, erased: hiredis keeps it as the reply's privdata.
struct redis_pending {
    virtual ~redis_pending() = default;
    /// Once, on the connection's strand; completes the handler on its own
    /// executor (never inside the initiating call).
    virtual void complete(error_code ec, redis_reply r) = 0;
};

template <class Handler>
class redis_pending_of final : public redis_pending {
public:
    redis_pending_of(Handler h, const boost::asio::any_io_executor& fallback)
        : h_(std::move(h)),
          work_(boost::asio::prefer(boost::asio::get_associated_executor(h_, fallback),
                                    boost::asio::execution::outstanding_work.tracked))
    {
    }
    void complete(error_code ec, redis_reply r) override
    {
        auto ex = std::move(work_); // the work ends once the handler has run
        boost::asio::post(ex, [h = std::move(h_), ec, r = std::move(r), ex]() mutable { std::move(h)(ec, std::move(r)); });
    }

private:
    Handler h_;
    boost::asio::any_io_executor work_;
};

EVOLINK_DECL void redis_send(const std::shared_ptr<redis_conn_state>& st, std::vector<std::string> args,
                             std::unique_ptr<redis_pending> p);
} // namespace detail

class redis_connection {
public:
    using executor_type = boost::asio::any_io_executor;

    /// Starts connecting at once (on a strand of `ex`). The options are
    /// copied. Throws evolink::error (errc::invalid_options) for a bad
    /// option (empty host, reconnect_min > reconnect_max, a timeout <= 0).
    EVOLINK_DECL redis_connection(executor_type ex, redis_options opts);
    /// stop().
    EVOLINK_DECL ~redis_connection();
    redis_connection(const redis_connection&) = delete;
    redis_connection& operator=(const redis_connection&) = delete;

    /// Sends one command, e.g. {"SET", key, value}: each argument is sent as
    /// one bulk string (binary-safe; nothing is formatted or split).
    ///
    /// Handler: `void(evolink::error_code, evolink::redis_reply)`. Errors:
    /// redis_errc::unreachable (not connected now: nothing was sent),
    /// redis_errc::connection_lost (sent, the connection ended before the
    /// reply: it may have run), redis_errc::error_reply (the reply, with
    /// Redis's message in `str`), operation_aborted (stop()),
    /// operation_not_supported (a connection that subscribe()d). Cancellation:
    /// none (a command written cannot be taken back; stop() ends them all).
    /// Lifetimes: `args` is moved into the operation; the connection may be
    /// destroyed before the handler runs (it then gets operation_aborted).
    template <class Token>
    auto command(std::vector<std::string> args, Token&& token)
    {
        return boost::asio::async_initiate<Token, void(error_code, redis_reply)>(
            [](auto handler, std::shared_ptr<detail::redis_conn_state> st, executor_type strand,
               std::vector<std::string> a) {
                using H = std::decay_t<decltype(handler)>;
                detail::redis_send(st, std::move(a), std::make_unique<detail::redis_pending_of<H>>(std::move(handler), strand));
            },
            token, st_, strand_, std::move(args));
    }

    /// Called on the connection's strand each time a connection is ready
    /// (connected, and Redis answered AUTH or PING): after each reconnect.
    /// Set it before the io_context runs, or from the strand.
    EVOLINK_DECL void on_ready(std::function<void()> f);

    /// Subscribes to `channel` (SUBSCRIBE) as soon as a connection is
    /// ready, and again after each reconnect; `on_message(payload)` runs on
    /// the connection's strand for each message published there. Redis lets
    /// a subscribed connection run nothing else: command() on it then fails
    /// with operation_not_supported (use a second connection). Safe from
    /// any thread. Messages published while the connection was down are
    /// not delivered (Pub/Sub keeps nothing).
    EVOLINK_DECL void subscribe(std::string channel, std::function<void(std::string)> on_message);
    /// Subscriptions Redis has confirmed on the current connection.
    EVOLINK_DECL std::size_t subscribed() const noexcept;

    /// Connected, and Redis answered its first command (AUTH, or PING
    /// without a password), now (may change at once: a hint).
    EVOLINK_DECL bool ready() const noexcept;
    /// Connections made ready so far (1 after the first; each reconnect adds one).
    EVOLINK_DECL std::size_t connects() const noexcept;
    /// AUTH refusals so far.
    EVOLINK_DECL std::size_t auth_failures() const noexcept;

    /// Closes the connection, stops reconnecting, ends every command in
    /// flight with operation_aborted. Safe from any thread, more than once.
    EVOLINK_DECL void stop();

    EVOLINK_DECL const redis_options& options() const noexcept;

private:
    std::shared_ptr<detail::redis_conn_state> st_;
    executor_type strand_;
};

} // namespace evolink

#ifndef EVOLINK_SEPARATE_COMPILATION
#include <evolink/redis/impl/connection.ipp>
#endif

#endif
