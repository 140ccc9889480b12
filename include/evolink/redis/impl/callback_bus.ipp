// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_REDIS_IMPL_CALLBACK_BUS_IPP
#define EVOLINK_REDIS_IMPL_CALLBACK_BUS_IPP

// redis_callback_bus: the receiver's hooks (detail::receiver_bus_hooks) on
// one side, two redis_connections on the other. A message is the sender's
// name, a newline, and the callback's body as it came over HTTP: a bus
// skips its own messages, and every receiver hashes the same bytes (its
// duplicate check holds across the fleet).

#include <evolink/redis/callback_bus.hpp>
#include <evolink/redis/connection.hpp>

#include <boost/asio/detached.hpp>

#include <openssl/rand.h>

#include <atomic>

namespace evolink {
namespace detail {

struct redis_bus_state : std::enable_shared_from_this<redis_bus_state> {
    redis_bus_state(boost::asio::any_io_executor ex, callback_receiver& r, redis_options ro, redis_callback_bus_options o)
        : receiver(r), opts(std::move(o)), channel(ro.key_prefix + "cb:" + opts.fleet),
          early_prefix(ro.key_prefix + "cb:" + opts.fleet + ":early:"), pub(ex, ro), sub(ex, ro)
    {
        unsigned char raw[8];
        if (RAND_bytes(raw, sizeof raw) != 1) throw std::runtime_error("no random bytes for the bus's name");
        static constexpr char hex[] = "0123456789abcdef";
        for (auto b : raw) name += {hex[b >> 4], hex[b & 15]};
    }

    callback_receiver& receiver;
    redis_callback_bus_options opts;
    std::string channel, early_prefix, name;
    redis_connection pub, sub;
    std::atomic<std::size_t> published{0}, received{0};

    /// On the receiver's strand: a callback accepted here, for the others.
    void accepted(const std::string& task_id, const std::string& body)
    {
        std::string msg = name + "\n" + body;
        // One connection, in order: the key is there before anyone hears of it.
        pub.command({"SET", early_prefix + task_id, msg, "PX", std::to_string(opts.early_ttl.count())},
                    boost::asio::detached);
        pub.command({"PUBLISH", channel, std::move(msg)}, [self = shared_from_this()](error_code ec, redis_reply) {
            if (!ec) ++self->published;
        });
    }

    /// On the receiver's strand: a wait began with nothing kept for its task.
    void missed(const std::string& task_id)
    {
        pub.command({"GET", early_prefix + task_id}, [self = shared_from_this()](error_code ec, redis_reply r) {
            if (!ec && r.type == redis_reply::kind::string) self->heard(r.str, true);
        });
    }

    void heard(const std::string& msg, bool early)
    {
        auto nl = msg.find('\n');
        if (nl == std::string::npos) return;
        if (!early && std::string_view(msg).substr(0, nl) == name) return; // our own
        if (receiver_deliver_remote(receiver, std::string_view(msg).substr(nl + 1))) ++received;
    }

    void start()
    {
        std::weak_ptr<redis_bus_state> weak = shared_from_this();
        sub.subscribe(channel, [weak](std::string msg) {
            if (auto self = weak.lock()) self->heard(msg, false);
        });
        receiver_bus_hooks h;
        h.accepted = [weak](const std::string& id, const std::string& body) {
            if (auto self = weak.lock()) self->accepted(id, body);
        };
        h.missed = [weak](const std::string& id) {
            if (auto self = weak.lock()) self->missed(id);
        };
        receiver_attach_bus(receiver, std::move(h));
    }

    void stop()
    {
        receiver_attach_bus(receiver, {});
        pub.stop();
        sub.stop();
    }
};

} // namespace detail

EVOLINK_DECL redis_callback_bus::redis_callback_bus(boost::asio::any_io_executor ex, callback_receiver& receiver,
                                                   redis_options redis, redis_callback_bus_options opts)
{
    if (opts.fleet.empty() || opts.early_ttl.count() <= 0) {
        diagnostics d;
        d.param = opts.fleet.empty() ? "fleet" : "early_ttl";
        d.message = "redis_callback_bus_options needs a fleet name and an early_ttl > 0";
        throw evolink::error(make_error_code(errc::invalid_options), std::move(d));
    }
    st_ = std::make_shared<detail::redis_bus_state>(std::move(ex), receiver, std::move(redis), std::move(opts));
    st_->start();
}

EVOLINK_DECL redis_callback_bus::~redis_callback_bus() { stop(); }

EVOLINK_DECL bool redis_callback_bus::ready() const noexcept
{
    return st_->pub.ready() && st_->sub.ready() && st_->sub.subscribed() > 0;
}

EVOLINK_DECL std::size_t redis_callback_bus::published() const noexcept { return st_->published; }
EVOLINK_DECL std::size_t redis_callback_bus::received() const noexcept { return st_->received; }

EVOLINK_DECL void redis_callback_bus::stop() { st_->stop(); }

} // namespace evolink

#endif
