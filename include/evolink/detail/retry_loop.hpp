// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_RETRY_LOOP_HPP
#define EVOLINK_DETAIL_RETRY_LOOP_HPP

// The step every retry loop takes between two attempts (task reads, task
// creation, Files API calls): ask the policy for the next delay, say why
// there is none, log the retry, sleep, notice a cancellation meanwhile.
// What may be retried at all stays with each loop (retry.hpp's verdicts).

#include <evolink/detail/config.hpp>
#include <evolink/detail/random.hpp>
#include <evolink/detail/retry.hpp>
#include <evolink/detail/sleep.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/error.hpp>

#include <chrono>
#include <optional>
#include <random>
#include <string>

namespace evolink::detail {

/// One operation's retry budget: when it started and its jitter.
struct retry_budget {
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::minstd_rand rng{jitter_seed()};
};

enum class retry_step { again, give_up, cancelled };

/// After attempt number `attempt` failed with `diag`: gives up (adding the
/// policy's reason to `diag.message`), or logs `log_line(diag, delay)` and
/// sleeps.
/// `log_line` must outlive the call.
template <class LogLine>
asio::awaitable<retry_step> pause_before_retry(const transport& core, retry_budget& budget, unsigned attempt,
                                               std::optional<std::chrono::milliseconds> retry_after,
                                               diagnostics& diag, const LogLine& log_line)
{
    std::string why;
    auto delay = next_retry(core.options().retry, attempt, budget.start, retry_after, budget.rng, why);
    if (!delay) {
        if (!why.empty()) diag.message += " (" + why + ")";
        co_return retry_step::give_up;
    }
    core.log(log_level::warning, log_line(diag, *delay));
    bool slept = co_await retry_sleep(*delay); // (no co_await inside ?: with g++ 12)
    co_return slept ? retry_step::again : retry_step::cancelled;
}

} // namespace evolink::detail

#endif
