// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_RESOLVE_DELAY_HPP
#define EVOLINK_DETAIL_RESOLVE_DELAY_HPP

// The state of a test seam that the transport reads before each host name
// lookup (detail/transport.hpp) and testing/resolve_delay.hpp sets. Apart
// from the transport so that the test kit can set it without including it.

#include <atomic>
#include <cstdint>

namespace evolink::detail {

/// Test seam (evolink::testing::set_resolve_delay): host name resolutions
/// start this many milliseconds late, as if the resolver hung; all of them,
/// or only the next `test_resolve_delays_left` when that is not negative.
inline std::atomic<std::int64_t> test_resolve_delay_ms{0};
inline std::atomic<std::int64_t> test_resolve_delays_left{-1};

/// The seam's delay for the lookup about to start (0: none).
inline std::int64_t take_test_resolve_delay() noexcept
{
    auto ms = test_resolve_delay_ms.load(std::memory_order_relaxed);
    if (ms <= 0) return 0;
    auto left = test_resolve_delays_left.load(std::memory_order_relaxed);
    while (left >= 0) {
        if (left == 0) return 0;
        if (test_resolve_delays_left.compare_exchange_weak(left, left - 1, std::memory_order_relaxed)) break;
    }
    return ms;
}

} // namespace evolink::detail

#endif
