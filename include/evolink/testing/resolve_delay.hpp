// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_RESOLVE_DELAY_HPP
#define EVOLINK_TESTING_RESOLVE_DELAY_HPP

// A test seam: host name resolution that hangs, so that tests can cancel an
// operation (or let connect_timeout expire) while the host is being resolved.

#include <evolink/detail/resolve_delay.hpp>

#include <chrono>
#include <cstdint>

namespace evolink::testing {

/// From now on host name resolutions (of every client in the process) start
/// `d` late: all of them, or only the next `lookups` when that is not
/// negative. Zero turns the seam off. Not for production use.
inline void set_resolve_delay(std::chrono::milliseconds d, std::int64_t lookups = -1) noexcept
{
    evolink::detail::test_resolve_delays_left.store(lookups, std::memory_order_relaxed);
    evolink::detail::test_resolve_delay_ms.store(d.count(), std::memory_order_relaxed);
}

/// Sets the delay for a scope (a test), then turns the seam off.
struct resolve_delay_guard {
    explicit resolve_delay_guard(std::chrono::milliseconds d) noexcept { set_resolve_delay(d); }
    ~resolve_delay_guard() { set_resolve_delay(std::chrono::milliseconds(0)); }
    resolve_delay_guard(const resolve_delay_guard&) = delete;
    resolve_delay_guard& operator=(const resolve_delay_guard&) = delete;
};

} // namespace evolink::testing

#endif
