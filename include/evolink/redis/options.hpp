// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_REDIS_OPTIONS_HPP
#define EVOLINK_REDIS_OPTIONS_HPP

/// Where the Redis of a fleet is and how to talk to it (docs/scale-out.md):
/// the options shared by redis_connection (async, on the io_context) and
/// redis_journal (blocking, on the file executor), Redis's replies as values,
/// and the errors of the Redis part.

#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>
#include <evolink/options.hpp>

#include <boost/system/error_code.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

namespace evolink {

struct redis_options {
    /// A host name or an IP address (a name is resolved asynchronously by
    /// redis_connection, by getaddrinfo in redis_journal's file threads).
    std::string host = "127.0.0.1";
    unsigned short port = 6379;
    /// ACL user (Redis 6+): `AUTH user password`; empty: `AUTH password`.
    std::string user{};
    /// Empty: no AUTH. Never logged nor put in an error message.
    std::string password{};
    /// Put before every key the Redis part uses ("evolink:" by default), so
    /// that several fleets or applications can share one Redis.
    std::string key_prefix = "evolink:";
    std::chrono::milliseconds connect_timeout{2000};
    /// How long a command may wait for its answer: each of redis_journal's
    /// blocking calls; redis_connection drops a connection whose oldest
    /// command has waited this long (a paused or unreachable Redis that
    /// keeps the connection open), and reconnects. Blocking commands (BLPOP)
    /// must wait less than this.
    std::chrono::milliseconds command_timeout{2000};
    /// redis_connection: the pause before reconnecting, doubling from
    /// reconnect_min up to reconnect_max, each uniform in [50 %, 100 %].
    std::chrono::milliseconds reconnect_min{100};
    std::chrono::milliseconds reconnect_max{5000};
    /// Messages about connections (never with the password).
    evolink::logger logger{};
};

/// The errors of the Redis part (category "evolink.redis").
enum class redis_errc {
    unreachable = 1, ///< no connection to Redis now (the command was not sent)
    connection_lost, ///< the connection ended with the command in flight: it may or may not have run
    error_reply,     ///< Redis answered with an error (in redis_reply::str)
};

EVOLINK_INLINE const boost::system::error_category& redis_category() noexcept
{
    struct category final : boost::system::error_category {
        const char* name() const noexcept override { return "evolink.redis"; }
        std::string message(int ev) const override
        {
            switch (static_cast<redis_errc>(ev)) {
            case redis_errc::unreachable: return "Redis is unreachable";
            case redis_errc::connection_lost: return "the connection to Redis was lost with the command in flight";
            case redis_errc::error_reply: return "Redis answered with an error";
            }
            return "unknown Redis error";
        }
    };
    static const category c;
    return c;
}

EVOLINK_INLINE error_code make_error_code(redis_errc e) noexcept
{
    return {static_cast<int>(e), redis_category()};
}

/// One Redis reply as a value (hiredis's redisReply, copied).
struct redis_reply {
    enum class kind { nil, string, integer, array, status, error };
    kind type = kind::nil;
    std::string str{};                  ///< string, status and error replies
    long long integer = 0;
    std::vector<redis_reply> elements{}; ///< array replies
};

} // namespace evolink

namespace boost::system {
template <>
struct is_error_code_enum<evolink::redis_errc> : std::true_type {};
} // namespace boost::system

#endif
