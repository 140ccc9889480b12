// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_REDIS_HPP
#define EVOLINK_REDIS_HPP

/// The Redis part (optional; only programs that include it link hiredis):
/// what a fleet of instances behind a load balancer shares through Redis
/// (docs/scale-out.md).
///
/// - redis_options, redis_errc, redis_reply: <evolink/redis/options.hpp>
/// - redis_connection: an async hiredis connection on the io_context
/// - redis_callback_bus: callbacks received by any instance reach the
///   waits of every instance
/// - redis_journal: the fleet's journal (heartbeat, claim of a stopped
///   instance's tasks by exactly one live instance)

#include <evolink/redis/callback_bus.hpp>
#include <evolink/redis/connection.hpp>
#include <evolink/redis/journal.hpp>
#include <evolink/redis/options.hpp>

#endif
