// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_REDIS_IMPL_CONNECTION_IPP
#define EVOLINK_REDIS_IMPL_CONNECTION_IPP

// redis_connection's state: hiredis's async context driven by Asio. hiredis
// asks for read and write readiness through its ev hooks; each becomes an
// async_wait on a stream_descriptor that watches hiredis's socket (hiredis
// keeps owning and closing the descriptor: ours is released, never closed).
// Everything runs on one strand, hiredis's callbacks included.

#include <evolink/detail/checks.hpp>
#include <evolink/detail/redis_decisions.hpp>
#include <evolink/detail/strand.hpp>
#include <evolink/redis/connection.hpp>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <atomic>
#include <deque>
#include <random>

namespace evolink {
namespace detail {

/// hiredis's reply, copied into a value (hiredis frees its own afterwards).
EVOLINK_INLINE redis_reply copy_reply(const redisReply* r)
{
    redis_reply out;
    switch (r->type) {
    case REDIS_REPLY_STRING: out.type = redis_reply::kind::string; break;
    case REDIS_REPLY_STATUS: out.type = redis_reply::kind::status; break;
    case REDIS_REPLY_ERROR: out.type = redis_reply::kind::error; break;
    case REDIS_REPLY_INTEGER: out.type = redis_reply::kind::integer; break;
    case REDIS_REPLY_ARRAY: out.type = redis_reply::kind::array; break;
    default: out.type = redis_reply::kind::nil; break;
    }
    if (r->str) out.str.assign(r->str, r->len);
    out.integer = r->integer;
    if (r->type == REDIS_REPLY_ARRAY) {
        out.elements.reserve(r->elements);
        for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i]));
    }
    return out;
}

EVOLINK_INLINE void check_redis_options(const redis_options& o)
{
    auto fail = [](const char* param, std::string message) {
        diagnostics d;
        d.param = param;
        d.message = std::move(message);
        throw evolink::error(make_error_code(errc::invalid_options), std::move(d));
    };
    if (o.host.empty()) fail("host", "redis_options::host is empty");
    if (o.connect_timeout.count() <= 0) fail("connect_timeout", "redis_options::connect_timeout must be > 0");
    if (o.command_timeout.count() <= 0) fail("command_timeout", "redis_options::command_timeout must be > 0");
    if (o.reconnect_min.count() <= 0 || o.reconnect_max < o.reconnect_min)
        fail("reconnect_min", "redis_options needs 0 < reconnect_min <= reconnect_max");
}

struct redis_conn_state;

/// A subscription: hiredis calls its callback with this as privdata for
/// every message, so it lives as long as the state (never freed in a callback).
struct redis_subscription {
    redis_conn_state* st;
    std::string channel;
    std::function<void(std::string)> on_message;
};

struct redis_conn_state : std::enable_shared_from_this<redis_conn_state> {
    redis_conn_state(boost::asio::any_io_executor s, redis_options o)
        : strand(std::move(s)), opts(std::move(o)), resolver(strand), timer(strand), watchdog(strand),
          rng(std::random_device{}())
    {
    }

    ~redis_conn_state()
    {
        // Only when the io_context is destroyed with the connection open:
        // the handlers may not run any more, they are dropped.
        dying = true;
        if (ac) redisAsyncFree(ac);
    }

    boost::asio::any_io_executor strand;
    redis_options opts;
    boost::asio::ip::tcp::resolver resolver;
    boost::asio::steady_timer timer; // the pause before a reconnect, or the connect timeout
    boost::asio::steady_timer watchdog; // the oldest command in flight, against command_timeout
    std::minstd_rand rng;
    std::atomic<bool> is_ready{false};
    std::atomic<std::size_t> ready_count{0}, auth_refused{0}, confirmed{0};
    std::function<void()> ready_hook;
    std::vector<std::unique_ptr<redis_subscription>> subs; // on the strand

    // On the strand only:
    redisAsyncContext* ac = nullptr;
    std::unique_ptr<boost::asio::posix::stream_descriptor> sd;
    unsigned long gen = 0; // which context a readiness handler was armed for
    bool want_read = false, want_write = false, reading = false, writing = false;
    bool connected = false; // TCP up (AUTH may still be on its way)
    bool stopped = false, dying = false, forcing = false, watching = false;
    unsigned attempt = 0;
    // When each command in flight was sent (AUTH included; not SUBSCRIBE):
    // Redis answers in order, so the front is the oldest.
    std::deque<std::chrono::steady_clock::time_point> in_flight;

    void log(log_level l, std::string msg) { opts.logger(l, msg); }
    std::string where() const { return opts.host + ":" + std::to_string(opts.port); }

    // --- Connecting ----------------------------------------------------------

    void connect()
    {
        if (stopped) return;
        resolver.async_resolve(opts.host, std::to_string(opts.port),
                               [self = shared_from_this()](error_code ec, boost::asio::ip::tcp::resolver::results_type rs) {
                                   self->resolved(ec, std::move(rs));
                               });
    }

    void resolved(error_code ec, boost::asio::ip::tcp::resolver::results_type rs)
    {
        if (stopped) return;
        if (ec || rs.empty()) {
            log(log_level::warning, "cannot resolve Redis host " + quoted(opts.host) + ": " + ec.message());
            return retry_later();
        }
        auto ep = rs.begin()->endpoint();
        // A non-blocking connect: its end is the first write readiness.
        ac = redisAsyncConnect(ep.address().to_string().c_str(), ep.port());
        if (!ac || ac->err) {
            log(log_level::warning, "cannot connect to Redis at " + where() + ": " + (ac ? ac->errstr : "out of memory"));
            if (ac) redisAsyncFree(ac);
            ac = nullptr;
            return retry_later();
        }
        attach();
        redisAsyncSetDisconnectCallback(ac, &on_disconnect);
        redisAsyncSetConnectCallback(ac, &on_connect); // asks for write readiness: attach() first
        timer.expires_after(opts.connect_timeout);
        timer.async_wait([self = shared_from_this(), g = gen](error_code e) {
            if (e || g != self->gen || !self->ac || self->connected) return;
            self->log(log_level::warning, "connecting to Redis at " + self->where() + " timed out");
            self->drop();
        });
    }

    void attach()
    {
        ++gen;
        in_flight.clear();
        want_read = want_write = reading = writing = false;
        sd = std::make_unique<boost::asio::posix::stream_descriptor>(strand, ac->c.fd);
        ac->data = this;
        ac->ev.data = this;
        ac->ev.addRead = [](void* p) { static_cast<redis_conn_state*>(p)->watch(true, true); };
        ac->ev.delRead = [](void* p) { static_cast<redis_conn_state*>(p)->want_read = false; };
        ac->ev.addWrite = [](void* p) { static_cast<redis_conn_state*>(p)->watch(false, true); };
        ac->ev.delWrite = [](void* p) { static_cast<redis_conn_state*>(p)->want_write = false; };
        ac->ev.cleanup = [](void* p) { static_cast<redis_conn_state*>(p)->detach(); };
    }

    /// hiredis frees the context: stop watching its descriptor, which it closes.
    void detach()
    {
        ++gen; // armed handlers see they are stale
        if (sd) {
            error_code ignored;
            sd->cancel(ignored);
            sd->release();
        }
        want_read = want_write = false;
    }

    /// hiredis wants read (or write) readiness; one async_wait at a time for each.
    void watch(bool read, bool want)
    {
        (read ? want_read : want_write) = want;
        bool& busy = read ? reading : writing;
        if (busy || !sd || dying) return;
        busy = true;
        sd->async_wait(read ? boost::asio::posix::stream_descriptor::wait_read
                            : boost::asio::posix::stream_descriptor::wait_write,
                       [self = shared_from_this(), g = gen, read](error_code ec) { self->ready_for(read, g, ec); });
    }

    void ready_for(bool read, unsigned long g, error_code ec)
    {
        if (g != gen) return; // the context it was for is gone
        (read ? reading : writing) = false;
        if (ec || !ac) return;
        if (read ? !want_read : !want_write) return;
        // May call back into us: replies, a disconnect (which frees ac).
        if (read) redisAsyncHandleRead(ac);
        else redisAsyncHandleWrite(ac);
        if (g == gen && (read ? want_read : want_write)) watch(read, true);
    }

    static void on_connect(const redisAsyncContext* c, int status)
    {
        auto* self = static_cast<redis_conn_state*>(c->data);
        if (status != REDIS_OK) {
            // hiredis frees the context after this returns.
            self->log(log_level::warning, "cannot connect to Redis at " + self->where() + ": " + c->errstr);
            self->ac = nullptr;
            return self->retry_later();
        }
        self->connected = true;
        self->timer.cancel();
        // Ready only once Redis has answered (a TCP connection to a paused
        // Redis succeeds): AUTH, or a PING when there is no password.
        std::vector<std::string> args{"PING"};
        if (!self->opts.password.empty()) {
            args = {"AUTH"};
            if (!self->opts.user.empty()) args.push_back(self->opts.user);
            args.push_back(self->opts.password);
        }
        if (self->send_raw(args, &on_auth, nullptr) != REDIS_OK) return self->drop();
        self->sent();
    }

    /// The answer to the first command of a connection (AUTH or PING).
    static void on_auth(redisAsyncContext* c, void* r, void*)
    {
        auto* self = static_cast<redis_conn_state*>(c->data);
        auto* reply = static_cast<redisReply*>(r);
        if (!reply || self->dying) return; // the connection ended: on_disconnect reconnects
        self->answered();
        if (reply->type == REDIS_REPLY_ERROR) {
            // Redis's message names neither the password nor the user's secret.
            std::string what(reply->str, reply->len);
            if (self->opts.password.empty()) {
                self->log(log_level::error, "Redis at " + self->where() + " answered PING with: " + what);
            } else {
                ++self->auth_refused;
                self->log(log_level::error, "Redis at " + self->where() + " refused AUTH: " + what);
            }
            return self->drop();
        }
        self->became_ready();
    }

    void became_ready()
    {
        attempt = 0;
        is_ready = true;
        ++ready_count;
        log(log_level::info, "connected to Redis at " + where());
        for (auto& s : subs) send_subscribe(*s);
        if (ready_hook) ready_hook();
    }

    void send_subscribe(redis_subscription& s)
    {
        if (send_raw({"SUBSCRIBE", s.channel}, &on_message, &s) != REDIS_OK) drop();
    }

    static void on_message(redisAsyncContext* c, void* r, void* priv)
    {
        auto* self = static_cast<redis_conn_state*>(c->data);
        auto* reply = static_cast<redisReply*>(r);
        if (!reply || self->dying || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) return;
        auto* kind = reply->element[0];
        std::string_view k(kind->str ? kind->str : "", kind->str ? kind->len : 0);
        if (k == "subscribe") ++self->confirmed;
        else if (k == "message" && reply->element[2]->str) {
            auto* sub = static_cast<redis_subscription*>(priv);
            if (sub->on_message) sub->on_message(std::string(reply->element[2]->str, reply->element[2]->len));
        }
    }

    static void on_disconnect(const redisAsyncContext* c, int status)
    {
        auto* self = static_cast<redis_conn_state*>(c->data);
        self->ac = nullptr; // hiredis frees it after this returns
        self->is_ready = false;
        self->confirmed = 0;
        self->connected = false;
        self->in_flight.clear();
        if (self->stopped || self->dying || self->forcing) return;
        if (status != REDIS_OK) self->log(log_level::warning, "lost the connection to Redis at " + self->where() + ": " + c->errstr);
        self->retry_later();
    }

    /// Ends the current context (its commands get connection_lost) and
    /// reconnects later, unless stopped.
    void drop()
    {
        if (!ac) return retry_later();
        if (connected) return redisAsyncDisconnect(ac); // on_disconnect follows, with REDIS_OK
        auto* c = ac;
        ac = nullptr;
        redisAsyncFree(c); // not connected yet: no on_disconnect
        retry_later();
    }

    /// Redis stopped answering (paused, or a network that drops packets
    /// without a reset): the connection is dropped at once, its commands
    /// end with connection_lost, and a new one is made after the pause.
    void force_drop()
    {
        if (!ac) return;
        log(log_level::warning, "Redis at " + where() + " did not answer within command_timeout; reconnecting");
        auto* c = ac;
        ac = nullptr;
        forcing = true;
        redisAsyncFree(c); // replies in flight: connection_lost (on_reply)
        forcing = false;
        in_flight.clear();
        retry_later();
    }

    void sent()
    {
        in_flight.push_back(std::chrono::steady_clock::now());
        if (!watching) arm_watchdog();
    }

    void answered()
    {
        if (!in_flight.empty()) in_flight.pop_front();
    }

    void arm_watchdog()
    {
        if (in_flight.empty() || stopped || dying) {
            watching = false;
            return;
        }
        watching = true;
        watchdog.expires_at(in_flight.front() + opts.command_timeout);
        watchdog.async_wait([self = shared_from_this(), g = gen](error_code ec) {
            self->watching = false;
            if (ec || self->stopped || self->dying) return;
            if (g == self->gen && !self->in_flight.empty() &&
                std::chrono::steady_clock::now() - self->in_flight.front() >= self->opts.command_timeout)
                return self->force_drop();
            self->arm_watchdog(); // an answer came, or another connection: watch the oldest now
        });
    }

    void retry_later()
    {
        is_ready = false;
        connected = false;
        if (stopped || dying) return;
        auto d = reconnect_delay(attempt++, opts.reconnect_min, opts.reconnect_max,
                                 std::uniform_real_distribution<double>(0, 1)(rng));
        timer.expires_after(d);
        timer.async_wait([self = shared_from_this()](error_code ec) {
            if (!ec) self->connect();
        });
    }

    // --- Commands ------------------------------------------------------------

    int send_raw(const std::vector<std::string>& args, redisCallbackFn* fn, void* priv)
    {
        std::vector<const char*> argv;
        std::vector<std::size_t> lens;
        for (auto& a : args) {
            argv.push_back(a.data());
            lens.push_back(a.size());
        }
        return redisAsyncCommandArgv(ac, fn, priv, static_cast<int>(argv.size()), argv.data(), lens.data());
    }

    static void on_reply(redisAsyncContext* c, void* r, void* priv)
    {
        std::unique_ptr<redis_pending> p(static_cast<redis_pending*>(priv));
        auto* self = static_cast<redis_conn_state*>(c->data);
        if (self->dying) return; // the io_context is going away: the handler is dropped
        auto* reply = static_cast<redisReply*>(r);
        if (reply) self->answered();
        if (!reply)
            return p->complete(self->stopped ? error_code(boost::asio::error::operation_aborted)
                                             : make_error_code(redis_errc::connection_lost),
                               {});
        auto v = copy_reply(reply);
        error_code ec = v.type == redis_reply::kind::error ? make_error_code(redis_errc::error_reply) : error_code{};
        p->complete(ec, std::move(v));
    }

    void send(std::vector<std::string> args, std::unique_ptr<redis_pending> p)
    {
        if (stopped) return p->complete(boost::asio::error::operation_aborted, {});
        if (!subs.empty()) return p->complete(boost::asio::error::operation_not_supported, {});
        if (!ac || !is_ready) return p->complete(make_error_code(redis_errc::unreachable), {});
        if (send_raw(args, &on_reply, p.get()) != REDIS_OK) // hiredis refused it (disconnecting)
            return p->complete(make_error_code(redis_errc::unreachable), {});
        p.release(); // hiredis owns it until on_reply
        sent();
    }

    void stop()
    {
        if (stopped) return;
        stopped = true;
        is_ready = false;
        resolver.cancel();
        timer.cancel();
        watchdog.cancel();
        if (ac) {
            auto* c = ac;
            ac = nullptr;
            redisAsyncFree(c); // the commands in flight: operation_aborted (on_reply)
        }
    }
};

EVOLINK_DECL void redis_send(const std::shared_ptr<redis_conn_state>& st, std::vector<std::string> args,
                             std::unique_ptr<redis_pending> p)
{
    // Posted even on the strand: the handler never runs inside the initiation.
    boost::asio::post(st->strand, [st, args = std::move(args), p = std::move(p)]() mutable {
        st->send(std::move(args), std::move(p));
    });
}

} // namespace detail

EVOLINK_DECL redis_connection::redis_connection(executor_type ex, redis_options opts)
{
    detail::check_redis_options(opts);
    st_ = std::make_shared<detail::redis_conn_state>(detail::make_strand_of(ex), std::move(opts));
    strand_ = st_->strand;
    boost::asio::dispatch(strand_, [st = st_] { st->connect(); });
}

EVOLINK_DECL redis_connection::~redis_connection() { stop(); }

EVOLINK_DECL void redis_connection::on_ready(std::function<void()> f)
{
    st_->ready_hook = std::move(f);
}

EVOLINK_DECL void redis_connection::subscribe(std::string channel, std::function<void(std::string)> on_message)
{
    boost::asio::dispatch(st_->strand, [st = st_, c = std::move(channel), f = std::move(on_message)]() mutable {
        st->subs.push_back(std::make_unique<detail::redis_subscription>(detail::redis_subscription{st.get(), std::move(c), std::move(f)}));
        if (st->ac && st->is_ready) st->send_subscribe(*st->subs.back());
    });
}

EVOLINK_DECL std::size_t redis_connection::subscribed() const noexcept { return st_->confirmed; }

EVOLINK_DECL bool redis_connection::ready() const noexcept { return st_->is_ready; }
EVOLINK_DECL std::size_t redis_connection::connects() const noexcept { return st_->ready_count; }
EVOLINK_DECL std::size_t redis_connection::auth_failures() const noexcept { return st_->auth_refused; }

EVOLINK_DECL void redis_connection::stop()
{
    boost::asio::dispatch(st_->strand, [st = st_] { st->stop(); });
}

EVOLINK_DECL const redis_options& redis_connection::options() const noexcept { return st_->opts; }

} // namespace evolink

#endif
