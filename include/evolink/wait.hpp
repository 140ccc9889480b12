// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_WAIT_HPP
#define EVOLINK_WAIT_HPP

/// How `client::wait` (and image/video/generate) waits for a task: the poll
/// pacing, the deadline, progress reports, and callbacks.

#include <evolink/detail/config.hpp>
#include <evolink/task.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace evolink {

class callback_receiver;
class journal;

/// When to read an unfinished task again. Every read makes EvoLink query the
/// provider, so reads are paced: a first read after `initial_delay`, then
/// intervals from `min_interval` growing by `growth` up to `max_interval`,
/// each shifted by up to ±`jitter` (a fraction) so that many waiters do not
/// poll in step. While the task's own `estimated_time` is still ahead, the
/// interval is at least half the time left (capped at max_interval).
struct poll_policy {
    std::chrono::milliseconds initial_delay{3000};
    std::chrono::milliseconds min_interval{3000};
    std::chrono::milliseconds max_interval{6000};
    double growth = 1.25;
    double jitter = 0.1;
    bool use_estimated_time = true;

    /// Images: ~3 s between reads (EvoLink's own clients poll images every ~3 s).
    static poll_policy image() { return {std::chrono::milliseconds(3000), std::chrono::milliseconds(3000), std::chrono::milliseconds(6000), 1.25, 0.1, true}; }
    /// Videos: a first read after ~15 s, then every 8 to 15 s.
    static poll_policy video() { return {std::chrono::milliseconds(15000), std::chrono::milliseconds(8000), std::chrono::milliseconds(15000), 1.25, 0.1, true}; }
    /// The preset for a task type ("image", "video"; anything else: video).
    static poll_policy for_type(std::string_view type) { return type == "image" ? image() : video(); }
};

/// The default deadline for a task type: 5 minutes for images, 10 for the rest.
EVOLINK_INLINE std::chrono::milliseconds default_deadline(std::string_view type)
{
    return type == "image" ? std::chrono::minutes(5) : std::chrono::minutes(10);
}

struct wait_options {
    // Not an aggregate on purpose: g++ 12 corrupts aggregate temporaries that
    // hold a std::string inside a co_await expression (`co_await
    // client.wait(id, {})` freed a bad pointer under ASan). A declared
    // constructor makes `{}` a plain constructor call, which it compiles right.
    wait_options() = default;

    /// Poll pacing; unset: poll_policy::for_type(task type).
    std::optional<poll_policy> poll{};
    /// How long to wait at most, from the start of the wait; zero: the
    /// default for the task type (5 min image, 10 min video). Reaching it
    /// fails with errc::deadline_exceeded; the remote task is not cancelled.
    std::chrono::milliseconds deadline{0};
    /// Called whenever the status or the progress percentage changes (and
    /// once for the first state seen), on the client's strand.
    std::function<void(const task&)> on_progress{};
    /// image/video/generate only: called with the created task before the
    /// wait starts, so that its id can be stored (and the wait resumed later
    /// with client::wait(id) after a crash or a timeout).
    std::function<void(const task&)> on_submitted{};
    /// A receiver for EvoLink's callbacks. When set, the wait races its
    /// callback against polling slowed down by `callback_poll_factor`; the
    /// first terminal answer wins. image/video/generate put its callback_url
    /// into the request. Must outlive the operation.
    callback_receiver* callbacks = nullptr;
    double callback_poll_factor = 4.0;
    /// A callback is a hint, confirmed with a GET of the task before it is
    /// returned (callbacks are not signed). True: return the callback's body.
    bool trust_callback_body = false;
    /// image/video/generate only: the Idempotency-Key of the creation request
    /// (16 to 96 of [A-Za-z0-9._-]); empty: a fresh one per call when the
    /// retry policy sends keys. Reusing a key returns the task it created.
    std::string idempotency_key{};
    /// A journal of tasks: the task is recorded (durably) before the wait
    /// starts (image/video/generate: before on_submitted runs, so a throwing
    /// hook leaves it there for resume) and marked finished when it completes, fails, is cancelled or
    /// is gone; a deadline or a cancelled wait leaves it unfinished, for
    /// client::resume. Must outlive the operation.
    evolink::journal* journal = nullptr;

    using is_evolink_options = void;
};

/// One task of client::resume: its id and how its wait ended.
struct resumed_task {
    std::string task_id;
    error_code ec;      ///< as client::wait would complete
    diagnostics diag;
    task result;        ///< the task last seen (finished when !ec)
};

namespace detail {

/// The poll pacing as a pure function (no I/O), so that it can be tested.
class poll_schedule {
public:
    explicit poll_schedule(poll_policy p) : p_(p) {}

    /// The delay before the next read. `elapsed`: time since the wait began;
    /// `estimated_s`: the task's estimated_time, if known; `unit`: a random
    /// number in [0, 1) for the jitter.
    std::chrono::milliseconds next(std::chrono::milliseconds elapsed, std::optional<double> estimated_s, double unit)
    {
        using ms = std::chrono::milliseconds;
        double base;
        if (reads_++ == 0) {
            base = static_cast<double>(p_.initial_delay.count());
        } else {
            current_ = current_ <= 0 ? static_cast<double>(p_.min_interval.count()) : current_ * std::max(1.0, p_.growth);
            current_ = std::min(current_, static_cast<double>(p_.max_interval.count()));
            base = current_;
            if (p_.use_estimated_time && estimated_s && *estimated_s > 0) {
                double left = *estimated_s * 1000.0 - static_cast<double>(elapsed.count());
                if (left > 0) base = std::max(base, std::min(left / 2, static_cast<double>(p_.max_interval.count())));
            }
        }
        // An initial_delay of zero asks for a read at once: no timer at all.
        // Any other delay is at least 1 ms, so that no schedule busy-loops.
        if (base <= 0 && reads_ == 1) return ms(0);
        double j = std::clamp(p_.jitter, 0.0, 1.0);
        double d = base * (1.0 + j * (2.0 * unit - 1.0));
        return ms(static_cast<ms::rep>(std::max(1.0, d)));
    }

private:
    poll_policy p_;
    double current_ = 0;
    unsigned reads_ = 0;
};

EVOLINK_INLINE poll_policy slowed(poll_policy p, double factor)
{
    factor = std::max(1.0, factor);
    auto scale = [factor](std::chrono::milliseconds d) {
        return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(static_cast<double>(d.count()) * factor));
    };
    p.min_interval = scale(p.min_interval);
    p.max_interval = scale(p.max_interval);
    p.initial_delay = scale(p.initial_delay);
    return p;
}

} // namespace detail
} // namespace evolink

#endif
