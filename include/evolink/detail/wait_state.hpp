// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_WAIT_STATE_HPP
#define EVOLINK_DETAIL_WAIT_STATE_HPP

// What one wait knows, and its decisions without I/O: when to read next
// (or give up at the deadline), and what a read's outcome means (finish,
// end by error, read again). detail/wait_record.hpp does the I/O around
// them; tests/unit/test_wait_state.cpp tests them without sockets.

#include <evolink/detail/async.hpp>
#include <evolink/detail/http_result.hpp>
#include <evolink/detail/random.hpp>
#include <evolink/detail/retry.hpp>
#include <evolink/error.hpp>
#include <evolink/options.hpp>
#include <evolink/task.hpp>
#include <evolink/wait.hpp>

#include <boost/asio/error.hpp>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

namespace evolink::detail {

/// Wait options travel behind a shared_ptr, never by value: GCC 12
/// miscompiles some by-value class parameters passed from one coroutine to
/// another (a std::string member ended up pointing into a freed frame; found
/// by ASan), and thousands of waits share one copy.
using shared_wait_options = std::shared_ptr<const wait_options>;

/// A log line a decision asks for (the caller has the logger).
struct wait_log {
    log_level level = log_level::warning;
    std::string message;
};

/// What a wait does next: read at `at` (at once when `delay` is zero), or,
/// when the next read would come too late, end at the deadline.
struct wait_step {
    bool deadline = false;
    std::chrono::steady_clock::time_point at{};
    std::chrono::milliseconds delay{0};
};

/// What a read's outcome means: the wait's end, or read again.
struct read_verdict {
    std::optional<outcome<task>> end;
    std::optional<wait_log> log;
};

struct wait_state {
    using clock = std::chrono::steady_clock;

    std::string id;
    shared_wait_options opts;
    std::string_view api_key; // redacted from task errors; the client's (outlives the wait)
    clock::time_point start = clock::now();
    clock::time_point deadline{};
    std::optional<task> last;
    std::optional<poll_schedule> schedule;
    std::minstd_rand rng{jitter_seed()};
    bool paced_by_type = false;                  // the schedule and deadline follow the task's type
    std::chrono::milliseconds min_next_delay{0}; // from a Retry-After
    std::unique_ptr<diagnostics> hook_error;     // on_progress threw (rare: not kept inline)

    std::chrono::milliseconds elapsed(clock::time_point now = clock::now()) const
    {
        return std::chrono::duration_cast<std::chrono::milliseconds>(now - start);
    }

    /// Takes a fresh state; reports it when status or percent changed. False
    /// when on_progress threw: hook_failed() is then the wait's outcome.
    [[nodiscard]] bool observe(const task& t)
    {
        bool changed = !last || last->status != t.status || last->progress != t.progress ||
                       last->status_text != t.status_text;
        last = t;
        if (!paced_by_type) {
            paced_by_type = true;
            // Pacing and deadline follow the task type, known from the first read.
            auto policy = opts->poll.value_or(poll_policy::for_type(t.type));
            if (opts->callbacks) policy = slowed(policy, opts->callback_poll_factor);
            schedule.emplace(policy);
            auto limit = opts->deadline.count() > 0 ? opts->deadline : default_deadline(t.type);
            deadline = start + limit;
        }
        if (changed && opts->on_progress) {
            try {
                opts->on_progress(t);
            } catch (...) {
                hook_error = std::make_unique<diagnostics>(hook_threw("on_progress", std::current_exception()));
                return false;
            }
        }
        return true;
    }

    /// The end of a wait whose on_progress threw: the task goes on. The
    /// caller logs d.message.
    outcome<task> hook_failed() const
    {
        diagnostics d = *hook_error;
        d.task_id = id;
        d.task_status = last ? last->status_text : std::string();
        return {make_error_code(errc::handler_threw), std::move(d), last.value_or(task{})};
    }

    std::string last_seen() const
    {
        if (!last) return "no status read yet";
        return "last seen " + (last->status_text.empty() ? std::string("unknown") : last->status_text) + " " +
               std::to_string(last->progress) + "%";
    }

    diagnostics about(std::string message) const
    {
        diagnostics d;
        d.task_id = id;
        d.task_status = last ? last->status_text : std::string();
        d.message = std::move(message);
        return d;
    }

    /// The outcome for a task in a terminal state.
    outcome<task> finish(task t) const
    {
        if (t.status == task_status::completed) return {{}, {}, std::move(t)};
        diagnostics d = about({});
        d.type = "task_error";
        d.task_status = t.status_text;
        if (t.error) {
            d.code = t.error->code;
            d.message = t.error->message;
            d.fallback_suggestion = t.error->suggestion;
            d.retryable = t.error->retryable();
        }
        auto e = t.status == task_status::cancelled ? errc::task_cancelled : errc::task_failed;
        if (d.message.empty()) d.message = e == errc::task_cancelled ? "the task was cancelled" : "the task failed";
        redact(d, api_key);
        return {make_error_code(e), std::move(d), std::move(t)};
    }

    /// A read error that ends the wait: it carries the task id, the last
    /// status seen and the last task (so the caller can tell a wait that
    /// failed from a task that was never created).
    outcome<task> ended_by(outcome<task> r) const
    {
        r.diag->task_id = id;
        r.diag->task_status = last ? last->status_text : std::string();
        r.value = last.value_or(task{});
        return r;
    }

    outcome<task> aborted() const
    {
        return {boost::asio::error::operation_aborted,
                about("stopped waiting (cancelled); the task goes on: wait for " + id + " again to resume"),
                last.value_or(task{})};
    }

    outcome<task> deadline_exceeded() const
    {
        auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - start);
        return {make_error_code(errc::deadline_exceeded),
                about("gave up after " + seconds_text(limit) + " (" + last_seen() +
                      "); the task may still finish: wait for " + id + " again"),
                last.value_or(task{})};
    }

    /// When to read next: the schedule's pause (at least a Retry-After); no
    /// pause before the first state is known. A read that would come at or
    /// after the deadline is not made: the wait ends at the deadline.
    wait_step plan(clock::time_point now)
    {
        wait_step s;
        if (schedule) {
            std::uniform_real_distribution<double> unit(0.0, 1.0);
            std::optional<double> estimate = last ? last->info.estimated_time : std::nullopt;
            s.delay = std::max(schedule->next(elapsed(now), estimate, unit(rng)), min_next_delay);
            min_next_delay = std::chrono::milliseconds(0);
            if (now + s.delay >= deadline) {
                s.deadline = true;
                s.at = deadline;
                return s;
            }
        }
        s.at = now + s.delay;
        return s;
    }

    /// What a read's outcome (not a cancellation) means. `retry_after`: the
    /// server's, with the read; `max_retry_after`: the client's cap on it.
    read_verdict judge(outcome<task> r, std::optional<std::chrono::milliseconds> retry_after,
                       std::chrono::milliseconds max_retry_after)
    {
        read_verdict v;
        if (r.ec) {
            if (!retryable_read(r.ec)) { // not worth another read: 401, 404 (unknown or expired id)...
                v.end = ended_by(std::move(r));
                return v;
            }
            v.log = wait_log{log_level::warning, "reading " + id + " failed (" + r.diag->summary() + "); still waiting"};
            // The server asked for a pause (429 + Retry-After): the next read waits at least that long.
            if (retry_after) min_next_delay = std::min(*retry_after, max_retry_after);
            if (!schedule) {
                // No state yet: pace retries like a video until the type is known
                // (observe() then sets the pacing and deadline for that type).
                schedule.emplace(opts->poll.value_or(poll_policy::video()));
                deadline = start + (opts->deadline.count() > 0 ? opts->deadline : default_deadline(""));
            }
            return v;
        }
        if (!observe(r.value)) {
            v.end = hook_failed();
            v.log = wait_log{log_level::error, v.end->diag->message + " (waiting for " + id + "; the task goes on)"};
        } else if (r.value.finished()) {
            v.end = finish(std::move(r.value));
        }
        return v;
    }
};

} // namespace evolink::detail

#endif
