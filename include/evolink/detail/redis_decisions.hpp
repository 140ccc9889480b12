// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_REDIS_DECISIONS_HPP
#define EVOLINK_DETAIL_REDIS_DECISIONS_HPP

// The Redis part's decisions, without I/O (tests/redis/test_decisions.cpp
// runs them without a socket): the pause before a reconnect. The Redis
// commands themselves are in redis/impl/*.ipp.

#include <evolink/detail/config.hpp>
#include <evolink/journal.hpp>
#include <evolink/redis/options.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace evolink::detail {

/// The pause before reconnect attempt `attempt` (0: the first after a
/// drop): min doubled per attempt up to max, scaled into [50 %, 100 %] by
/// `unit` in [0, 1) so that a fleet that lost Redis together does not
/// reconnect in step.
EVOLINK_INLINE std::chrono::milliseconds reconnect_delay(unsigned attempt, std::chrono::milliseconds min,
                                                         std::chrono::milliseconds max, double unit)
{
    double d = static_cast<double>(std::max<std::chrono::milliseconds::rep>(min.count(), 1));
    for (unsigned i = 0; i < attempt && d < static_cast<double>(max.count()); ++i) d *= 2;
    d = std::min(d, static_cast<double>(std::max(max, min).count()));
    d *= 0.5 + 0.5 * std::clamp(unit, 0.0, 1.0);
    return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(std::max(1.0, d)));
}

} // namespace evolink::detail

#endif
