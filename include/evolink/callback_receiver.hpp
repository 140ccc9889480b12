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
#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/http_server.hpp>
#include <evolink/error.hpp>
#include <evolink/task.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/url/parse.hpp>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
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
    explicit callback_receiver(executor_type ex, callback_receiver_options opts = {})
        : st_(std::make_shared<state>(boost::asio::make_strand(ex), std::move(opts)))
    {
        st_->init();
    }
    ~callback_receiver() { stop(); }
    callback_receiver(const callback_receiver&) = delete;
    callback_receiver& operator=(const callback_receiver&) = delete;

    /// The URL to send as callback_url: public base URL + path + "/" + secret.
    std::string callback_url() const { return st_->base + st_->opts.path + "/" + st_->opts.secret; }
    /// The port it listens on (0 when not listening).
    unsigned short port() const { return st_->listener ? st_->listener->port() : 0; }
    /// "http(s)://ADDRESS:PORT": where the receiver itself can be reached.
    std::string local_url() const
    {
        auto& a = st_->opts.listen_address;
        return std::string(st_->opts.tls ? "https://" : "http://") +
               (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" + std::to_string(port());
    }

    /// The framework-agnostic entry point: one HTTP request in, the response
    /// to send out. Cheap and non-blocking; callable from any thread. The task
    /// is handed to waiters afterwards, on the receiver's strand.
    response handle(std::string_view method, std::string_view target, std::string_view body)
    {
        return st_->handle(method, target, body);
    }

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
        auto body = [st = st_, id = std::string(task_id)]() mutable { return state::wait(std::move(st), std::move(id)); };
        return detail::start<task>(std::forward<Token>(token), nullptr, st_->strand, std::move(body));
    }

    /// The path callbacks arrive under (before the secret): route requests
    /// whose target starts with it to handle().
    const std::string& path() const noexcept { return st_->opts.path; }

    /// Drops a callback kept for `task_id` and no longer needed (client::wait
    /// calls it when a wait ends, however it ended). Safe from any thread.
    void discard(std::string_view task_id)
    {
        boost::asio::post(st_->strand, [st = st_, id = std::string(task_id)] {
            if (st->early.erase(id)) std::erase(st->early_order, id);
        });
    }

    /// Stops listening, closes connections and ends every wait with
    /// operation_aborted. Safe from any thread, more than once.
    void stop()
    {
        boost::asio::dispatch(st_->strand, [st = st_] { st->stop(); });
    }

    /// Counters: callbacks accepted (2xx), refused (4xx), ignored as duplicates.
    std::size_t accepted() const noexcept { return st_->accepted; }
    std::size_t refused() const noexcept { return st_->refused; }
    std::size_t duplicates() const noexcept { return st_->duplicates; }
    /// Connections reset at once because `max_connections` were open, and
    /// failed accepts (e.g. out of descriptors; each pauses accepting, 10 ms
    /// doubling up to 1 s). 0 when not listening.
    std::size_t connections_rejected() const noexcept { return st_->listener ? st_->listener->rejected() : 0; }
    std::size_t accept_errors() const noexcept { return st_->listener ? st_->listener->accept_errors() : 0; }

private:
    struct waiter {
        std::string id;
        boost::asio::steady_timer* timer;
        std::optional<task> result;
    };

    struct state : std::enable_shared_from_this<state> {
        state(boost::asio::strand<executor_type> s, callback_receiver_options o) : strand(std::move(s)), opts(std::move(o)) {}

        boost::asio::strand<executor_type> strand;
        callback_receiver_options opts;
        std::string base;
        std::shared_ptr<detail::http_listener> listener;
        std::atomic<std::size_t> accepted{0}, refused{0}, duplicates{0};
        std::atomic<bool> stopped_flag{false}; // for handle(), from any thread

        // On the strand only:
        bool stopped = false;
        std::multimap<std::string, waiter*> waiters;
        std::map<std::string, task> early;
        std::deque<std::string> early_order;
        std::set<std::pair<std::string, std::size_t>> seen; // (task id, body hash)
        std::deque<std::pair<std::string, std::size_t>> seen_order;

        void init()
        {
            auto fail = [](std::string param, std::string message) {
                diagnostics d;
                d.param = std::move(param);
                d.message = std::move(message);
                throw evolink::error(make_error_code(errc::invalid_options), std::move(d));
            };
            if (opts.secret.empty()) {
                unsigned char raw[32];
                if (RAND_bytes(raw, sizeof raw) != 1) fail("secret", "no random bytes for the callback secret");
                static constexpr char hex[] = "0123456789abcdef";
                for (auto b : raw) opts.secret += {hex[b >> 4], hex[b & 15]};
            } else if (opts.secret.size() < 16 ||
                       opts.secret.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") !=
                           std::string::npos) {
                fail("secret", "the callback secret must be at least 16 characters of [A-Za-z0-9_-]");
            }
            if (opts.path.empty() || opts.path.front() != '/' || opts.path.back() == '/' ||
                opts.path.find_first_of("?#% ") != std::string::npos)
                fail("path", "path " + detail::quoted(opts.path) + " must start with '/' and not end with one");
            base = opts.public_base_url;
            while (!base.empty() && base.back() == '/') base.pop_back();
            if (!base.empty()) {
                auto u = boost::urls::parse_uri(base);
                if (!u || u->host().empty() || u->has_query() || u->has_fragment())
                    fail("public_base_url", "public_base_url " + detail::quoted(base) + " is not a URL like https://hooks.example.com");
            }
            if (!opts.listen && base.empty())
                fail("public_base_url", "a receiver that does not listen needs public_base_url (where EvoLink reaches "
                                        "your server)");
            if (opts.listen && opts.max_connections == 0)
                fail("max_connections", "max_connections must be at least 1 (0 would refuse every connection)");
            if (opts.listen) {
                std::weak_ptr<state> weak = shared_from_this();
                detail::http_server_limits limits;
                limits.max_body = opts.max_body;
                limits.max_header = opts.max_header;
                limits.max_connections = opts.max_connections;
                limits.read_timeout = opts.read_timeout;
                limits.idle_timeout = opts.read_timeout;
                listener = std::make_shared<detail::http_listener>(
                    strand, opts.tls,
                    [weak](detail::server_request& req) { return serve(weak.lock(), req); }, limits);
                listener->listen({boost::asio::ip::make_address(opts.listen_address), opts.listen_port});
                if (base.empty()) {
                    auto host = opts.listen_address.find(':') != std::string::npos ? "[" + opts.listen_address + "]"
                                                                                     : opts.listen_address;
                    base = std::string(opts.tls ? "https://" : "http://") + host + ":" + std::to_string(listener->port());
                }
            }
        }

        static boost::asio::awaitable<detail::server_reply> serve(std::shared_ptr<state> self, detail::server_request& req)
        {
            if (!self) co_return detail::server_reply{detail::plain_response(503, "{}")};
            auto r = self->handle(req.method_string(), req.target(), req.body());
            co_return detail::server_reply{detail::plain_response(r.status, std::move(r.body), r.content_type)};
        }

        response handle(std::string_view method, std::string_view target, std::string_view body)
        {
            auto refuse = [this](unsigned status, std::string_view what) {
                ++refused;
                // Deliberately terse: a prober learns nothing about the secret or the parser.
                return response{status, "{\"error\":\"" + std::string(what) + "\"}"};
            };
            if (stopped_flag) return response{503, "{\"error\":\"stopped\"}"};
            if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
            std::string_view prefix = opts.path;
            bool path_ok = target.size() == prefix.size() + 1 + opts.secret.size() && target.starts_with(prefix) &&
                           target[prefix.size()] == '/' &&
                           CRYPTO_memcmp(target.data() + prefix.size() + 1, opts.secret.data(), opts.secret.size()) == 0;
            if (!path_ok) return refuse(404, "not found");
            if (method != "POST") return refuse(405, "method not allowed");
            if (body.size() > opts.max_body) return refuse(413, "too large");
            auto t = parse_task(body);
            if (!t) return refuse(400, "bad request");
            ++accepted;
            auto hash = std::hash<std::string_view>{}(body);
            boost::asio::post(strand, [self = shared_from_this(), t = std::move(*t), hash]() mutable {
                self->deliver(std::move(t), hash);
            });
            return response{200, "{\"received\":true}"};
        }

        void deliver(task t, std::size_t hash)
        {
            if (stopped) return;
            auto key = std::make_pair(t.id, hash);
            if (!seen.insert(key).second) {
                ++duplicates;
                return;
            }
            seen_order.push_back(key);
            if (seen_order.size() > opts.max_remembered) {
                seen.erase(seen_order.front());
                seen_order.pop_front();
            }
            auto range = waiters.equal_range(t.id);
            if (range.first != range.second) {
                for (auto it = range.first; it != range.second; ++it) {
                    it->second->result = t;
                    it->second->timer->cancel();
                }
                waiters.erase(range.first, range.second);
                return;
            }
            if (!early.count(t.id)) early_order.push_back(t.id);
            early[t.id] = std::move(t);
            while (early.size() > opts.max_early && !early_order.empty()) {
                early.erase(early_order.front());
                early_order.pop_front();
            }
        }

        static boost::asio::awaitable<detail::outcome<task>> wait(std::shared_ptr<state> self, std::string id)
        {
            if (auto it = self->early.find(id); it != self->early.end()) {
                auto t = std::move(it->second);
                self->early.erase(it);
                std::erase(self->early_order, id);
                co_return detail::outcome<task>{{}, {}, std::move(t)};
            }
            if (self->stopped) co_return detail::failure<task>(boost::asio::error::operation_aborted, {});
            boost::asio::steady_timer timer(self->strand, std::chrono::steady_clock::time_point::max());
            waiter w{id, &timer, std::nullopt};
            self->waiters.emplace(id, &w);
            co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
            if (w.result) co_return detail::outcome<task>{{}, {}, std::move(*w.result)};
            // Cancelled or stopped: unregister (deliver() removed it if it ran).
            for (auto it = self->waiters.begin(); it != self->waiters.end(); ++it)
                if (it->second == &w) {
                    self->waiters.erase(it);
                    break;
                }
            diagnostics d;
            d.task_id = id;
            d.message = "stopped waiting for the callback of " + id;
            co_return detail::failure<task>(boost::asio::error::operation_aborted, std::move(d));
        }

        void stop()
        {
            stopped = true;
            stopped_flag = true;
            if (listener) listener->stop();
            for (auto& [id, w] : waiters) w->timer->cancel();
        }
    };

    std::shared_ptr<state> st_;
};

} // namespace evolink

#endif
