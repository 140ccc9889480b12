// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_IMPL_CALLBACK_RECEIVER_IPP
#define EVOLINK_IMPL_CALLBACK_RECEIVER_IPP

// The compiled part of evolink::callback_receiver: its state, the HTTP
// listener it owns, and the member functions declared in
// <evolink/callback_receiver.hpp>. Included by that header in header-only
// mode, or once by <evolink/src.hpp> with EVOLINK_SEPARATE_COMPILATION.

#include <evolink/callback_receiver.hpp>
#include <evolink/detail/checks.hpp>
#include <evolink/detail/http_server.hpp>
#include <evolink/detail/strand.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/url/parse.hpp>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <atomic>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <vector>

namespace evolink {
namespace detail {

struct receiver_waiter {
    std::string id;
    boost::asio::steady_timer* timer;
    std::optional<task> result;
};

struct receiver_state : std::enable_shared_from_this<receiver_state> {
    receiver_state(boost::asio::any_io_executor s, callback_receiver_options o) : strand(std::move(s)), opts(std::move(o)) {}

    boost::asio::any_io_executor strand; // a strand (make_strand_of)
    callback_receiver_options opts;
    std::string base;
    std::shared_ptr<http_listener> listener;
    std::atomic<std::size_t> accepted{0}, refused{0}, duplicates{0};
    std::atomic<bool> stopped_flag{false}; // for handle(), from any thread
    std::atomic<bool> bus_attached{false}; // handle() keeps the body for the bus only then

    // On the strand only:
    bool stopped = false;
    std::multimap<std::string, receiver_waiter*> waiters;
    std::multimap<std::string, std::shared_ptr<receiver_subscriber>> subscribers; // client waits
    std::map<std::string, task> early;
    std::deque<std::string> early_order;
    std::set<std::pair<std::string, std::size_t>> seen; // (task id, body hash)
    std::deque<std::pair<std::string, std::size_t>> seen_order;
    receiver_bus_hooks bus;

    // Lazy, as the constructor (it starts the listener): see EVOLINK_LAZY_DECL.
    template <class = void>
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
            std::weak_ptr<receiver_state> weak = shared_from_this();
            http_server_limits limits;
            limits.max_body = opts.max_body;
            limits.max_header = opts.max_header;
            limits.max_connections = opts.max_connections;
            limits.read_timeout = opts.read_timeout;
            limits.idle_timeout = opts.read_timeout;
            listener = std::make_shared<http_listener>(
                strand, opts.tls,
                [weak](server_request& req) { return serve(weak.lock(), req); }, limits);
            listener->listen({boost::asio::ip::make_address(opts.listen_address), opts.listen_port});
            if (base.empty()) {
                auto host = opts.listen_address.find(':') != std::string::npos ? "[" + opts.listen_address + "]"
                                                                                 : opts.listen_address;
                base = std::string(opts.tls ? "https://" : "http://") + host + ":" + std::to_string(listener->port());
            }
        }
    }

    template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
    static boost::asio::awaitable<server_reply> serve(std::shared_ptr<receiver_state> self, server_request& req)
    {
        if (!self) co_return server_reply{plain_response(503, "{}")};
        auto r = self->handle(req.method_string(), req.target(), req.body());
        co_return server_reply{plain_response(r.status, std::move(r.body), r.content_type)};
    }

    callback_receiver::response handle(std::string_view method, std::string_view target, std::string_view body)
    {
        auto refuse = [this](unsigned status, std::string_view what) {
            ++refused;
            // Deliberately terse: a prober learns nothing about the secret or the parser.
            return callback_receiver::response{status, "{\"error\":\"" + std::string(what) + "\"}"};
        };
        if (stopped_flag) return callback_receiver::response{503, "{\"error\":\"stopped\"}"};
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
        std::string for_bus = bus_attached ? std::string(body) : std::string(); // no copy without a bus
        boost::asio::post(strand, [self = shared_from_this(), t = std::move(*t), hash, b = std::move(for_bus)]() mutable {
            self->deliver(std::move(t), hash, b);
        });
        return callback_receiver::response{200, "{\"received\":true}"};
    }

    /// `for_bus`: the HTTP body when a bus is attached; empty otherwise and
    /// for a callback that came from the bus.
    void deliver(task t, std::size_t hash, const std::string& for_bus)
    {
        if (stopped) return;
        auto key = std::make_pair(t.id, hash);
        if (!seen.insert(key).second) {
            ++duplicates;
            return;
        }
        if (!for_bus.empty() && bus.accepted) bus.accepted(t.id, for_bus);
        seen_order.push_back(key);
        if (seen_order.size() > opts.max_remembered) {
            seen.erase(seen_order.front());
            seen_order.pop_front();
        }
        auto range = waiters.equal_range(t.id);
        auto subs = subscribers.equal_range(t.id);
        if (range.first != range.second || subs.first != subs.second) {
            for (auto it = range.first; it != range.second; ++it) {
                it->second->result = t;
                it->second->timer->cancel();
            }
            waiters.erase(range.first, range.second);
            std::vector<std::shared_ptr<receiver_subscriber>> to;
            for (auto it = subs.first; it != subs.second; ++it) to.push_back(std::move(it->second));
            subscribers.erase(subs.first, subs.second);
            for (auto& s : to) s->delivered({}, t);
            return;
        }
        if (!early.count(t.id)) early_order.push_back(t.id);
        early[t.id] = std::move(t);
        while (early.size() > opts.max_early && !early_order.empty()) {
            early.erase(early_order.front());
            early_order.pop_front();
        }
    }

    template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
    static boost::asio::awaitable<outcome<task>> wait(std::shared_ptr<receiver_state> self, std::string id)
    {
        if (auto it = self->early.find(id); it != self->early.end()) {
            auto t = std::move(it->second);
            self->early.erase(it);
            std::erase(self->early_order, id);
            co_return outcome<task>{{}, {}, std::move(t)};
        }
        if (self->stopped) co_return failure<task>(boost::asio::error::operation_aborted, {});
        boost::asio::steady_timer timer(self->strand, std::chrono::steady_clock::time_point::max());
        receiver_waiter w{id, &timer, std::nullopt};
        self->waiters.emplace(id, &w);
        if (self->bus.missed) self->bus.missed(id); // registered first: a callback the bus finds now is not missed
        co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
        if (w.result) co_return outcome<task>{{}, {}, std::move(*w.result)};
        // Cancelled or stopped: unregister (deliver() removed it if it ran).
        for (auto it = self->waiters.begin(); it != self->waiters.end(); ++it)
            if (it->second == &w) {
                self->waiters.erase(it);
                break;
            }
        diagnostics d;
        d.task_id = id;
        d.message = "stopped waiting for the callback of " + id;
        co_return failure<task>(boost::asio::error::operation_aborted, std::move(d));
    }

    void subscribe(std::string id, std::shared_ptr<receiver_subscriber> s)
    {
        if (auto it = early.find(id); it != early.end()) {
            auto t = std::move(it->second);
            early.erase(it);
            std::erase(early_order, id);
            return s->delivered({}, std::move(t));
        }
        if (stopped) return s->delivered(boost::asio::error::operation_aborted, {});
        subscribers.emplace(id, std::move(s));
        if (bus.missed) bus.missed(id); // registered first: a callback the bus finds now is not missed
    }

    void unsubscribe(const std::string& id, const std::shared_ptr<receiver_subscriber>& s)
    {
        auto range = subscribers.equal_range(id);
        for (auto it = range.first; it != range.second; ++it)
            if (it->second == s) {
                subscribers.erase(it);
                return s->delivered(boost::asio::error::operation_aborted, {});
            }
    }

    void stop()
    {
        stopped = true;
        stopped_flag = true;
        if (listener) listener->stop();
        for (auto& [id, w] : waiters) w->timer->cancel();
        auto subs = std::move(subscribers);
        subscribers.clear();
        for (auto& [id, s] : subs) s->delivered(boost::asio::error::operation_aborted, {});
    }
};

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<task>> receiver_wait(std::shared_ptr<receiver_state> st, std::string id)
{
    return receiver_state::wait(std::move(st), std::move(id));
}

struct receiver_access {
    static const std::shared_ptr<receiver_state>& state(callback_receiver& r) { return r.st_; }
};

EVOLINK_DECL void receiver_subscribe(callback_receiver& r, std::string task_id, std::shared_ptr<receiver_subscriber> s)
{
    auto& st = receiver_access::state(r);
    boost::asio::post(st->strand, [st, id = std::move(task_id), s = std::move(s)]() mutable {
        st->subscribe(std::move(id), std::move(s));
    });
}

EVOLINK_DECL void receiver_unsubscribe(callback_receiver& r, std::string task_id, std::shared_ptr<receiver_subscriber> s)
{
    auto& st = receiver_access::state(r);
    boost::asio::post(st->strand, [st, id = std::move(task_id), s = std::move(s)] { st->unsubscribe(id, s); });
}

EVOLINK_DECL void receiver_attach_bus(callback_receiver& r, receiver_bus_hooks hooks)
{
    auto& st = receiver_access::state(r);
    st->bus_attached = static_cast<bool>(hooks.accepted);
    boost::asio::dispatch(st->strand, [st, h = std::move(hooks)]() mutable { st->bus = std::move(h); });
}

EVOLINK_DECL bool receiver_deliver_remote(callback_receiver& r, std::string_view body)
{
    auto& st = receiver_access::state(r);
    auto t = parse_task(body);
    if (!t) return false;
    auto hash = std::hash<std::string_view>{}(body);
    boost::asio::post(st->strand, [st, t = std::move(*t), hash]() mutable { st->deliver(std::move(t), hash, {}); });
    return true;
}

} // namespace detail

EVOLINK_LAZY_DEF callback_receiver::callback_receiver(executor_type ex, callback_receiver_options opts)
    : st_(std::make_shared<detail::receiver_state>(detail::make_strand_of(ex), std::move(opts))), strand_(st_->strand)
{
    st_->init();
}

EVOLINK_DECL callback_receiver::~callback_receiver() { stop(); }

EVOLINK_DECL std::string callback_receiver::callback_url() const
{
    return st_->base + st_->opts.path + "/" + st_->opts.secret;
}

EVOLINK_DECL unsigned short callback_receiver::port() const { return st_->listener ? st_->listener->port() : 0; }

EVOLINK_DECL std::string callback_receiver::local_url() const
{
    auto& a = st_->opts.listen_address;
    return std::string(st_->opts.tls ? "https://" : "http://") +
           (a.find(':') != std::string::npos ? "[" + a + "]" : a) + ":" + std::to_string(port());
}

EVOLINK_DECL callback_receiver::response callback_receiver::handle(std::string_view method, std::string_view target,
                                                                   std::string_view body)
{
    return st_->handle(method, target, body);
}

EVOLINK_DECL const std::string& callback_receiver::path() const noexcept { return st_->opts.path; }

EVOLINK_DECL void callback_receiver::discard(std::string_view task_id)
{
    boost::asio::post(st_->strand, [st = st_, id = std::string(task_id)] {
        if (st->early.erase(id)) std::erase(st->early_order, id);
    });
}

EVOLINK_DECL void callback_receiver::stop()
{
    boost::asio::dispatch(st_->strand, [st = st_] { st->stop(); });
}

EVOLINK_DECL std::size_t callback_receiver::accepted() const noexcept { return st_->accepted; }
EVOLINK_DECL std::size_t callback_receiver::refused() const noexcept { return st_->refused; }
EVOLINK_DECL std::size_t callback_receiver::duplicates() const noexcept { return st_->duplicates; }
EVOLINK_DECL std::size_t callback_receiver::connections_rejected() const noexcept
{
    return st_->listener ? st_->listener->rejected() : 0;
}
EVOLINK_DECL std::size_t callback_receiver::accept_errors() const noexcept
{
    return st_->listener ? st_->listener->accept_errors() : 0;
}

} // namespace evolink

#endif
