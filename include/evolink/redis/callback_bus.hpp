// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_REDIS_CALLBACK_BUS_HPP
#define EVOLINK_REDIS_CALLBACK_BUS_HPP

/// evolink::redis_callback_bus: callbacks shared by a fleet of instances
/// (docs/scale-out.md). A callback that any instance's callback_receiver
/// accepts over HTTP is published on the fleet's channel (Pub/Sub) and kept
/// under a key with a TTL; every other instance's bus hands it to its own
/// receiver, so the wait for that task ends wherever it runs (it still
/// confirms the task with a GET, as with one instance). A wait that begins
/// after the callback was published finds it under its key.
///
/// Callbacks are hints, so at-most-once delivery is enough: while Redis is
/// unreachable each receiver keeps its own callbacks, and waits elsewhere
/// end by polling.

#include <evolink/callback_receiver.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/redis/options.hpp>

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace evolink {

struct redis_callback_bus_options {
    /// The fleet's name: buses with the same one share their callbacks.
    std::string fleet = "default";
    /// How long a callback is kept for a wait that has not begun yet.
    std::chrono::milliseconds early_ttl{std::chrono::minutes(15)};
};

namespace detail {
struct redis_bus_state;
}

class redis_callback_bus {
public:
    /// Attaches to `receiver` and connects (two connections: one subscribed
    /// to the fleet's channel, one to publish and read), on a strand of
    /// `ex`. The receiver must outlive the bus. Throws evolink::error
    /// (errc::invalid_options) for bad options.
    EVOLINK_DECL redis_callback_bus(boost::asio::any_io_executor ex, callback_receiver& receiver, redis_options redis,
                                    redis_callback_bus_options opts = {});
    /// stop().
    EVOLINK_DECL ~redis_callback_bus();
    redis_callback_bus(const redis_callback_bus&) = delete;
    redis_callback_bus& operator=(const redis_callback_bus&) = delete;

    /// Both connections up and the channel subscribed (a hint, for tests
    /// and health checks).
    EVOLINK_DECL bool ready() const noexcept;
    /// Callbacks published to the fleet, and received from other instances
    /// (through the channel or an early key).
    EVOLINK_DECL std::size_t published() const noexcept;
    EVOLINK_DECL std::size_t received() const noexcept;

    /// Detaches from the receiver and closes both connections. Safe from
    /// any thread, more than once.
    EVOLINK_DECL void stop();

private:
    std::shared_ptr<detail::redis_bus_state> st_;
};

} // namespace evolink

#ifndef EVOLINK_SEPARATE_COMPILATION
#include <evolink/redis/impl/callback_bus.ipp>
#endif

#endif
