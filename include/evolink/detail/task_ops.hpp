// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_TASK_OPS_HPP
#define EVOLINK_DETAIL_TASK_OPS_HPP

// The bodies of the client's operations, as coroutines that return outcomes:
// create a task, read a task, and wait for a task (paced polling, progress,
// deadline, and the race against a callback).

#include <evolink/callback_receiver.hpp>
#include <evolink/detail/api_error.hpp>
#include <evolink/detail/async.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/error.hpp>
#include <evolink/task.hpp>
#include <evolink/wait.hpp>

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <memory>
#include <random>
#include <string>

namespace evolink::detail {

EVOLINK_INLINE asio::awaitable<outcome<task>> post_task(std::shared_ptr<transport> core, origin o, std::string path,
                                                        std::string body, std::optional<diagnostics> invalid)
{
    if (invalid) {
        core->log(log_level::debug, "request refused before sending: " + invalid->message);
        co_return failure<task>(make_error_code(errc::invalid_request), std::move(*invalid));
    }
    auto r = co_await core->request(o, http::verb::post, std::move(path), std::move(body));
    auto t = task_outcome(std::move(r), core->options().api_key);
    if (!t.ec) core->log(log_level::info, "created task " + t.value.id + " (" + t.value.model + ")");
    co_return t;
}

EVOLINK_INLINE asio::awaitable<outcome<task>> read_task(std::shared_ptr<transport> core, origin o, std::string id,
                                                        std::optional<diagnostics> invalid = std::nullopt)
{
    if (invalid) co_return failure<task>(make_error_code(errc::invalid_request), std::move(*invalid));
    auto r = co_await core->request(o, http::verb::get, "/v1/tasks/" + id, {});
    auto t = task_outcome(std::move(r), core->options().api_key);
    if (t.ec && t.diag.task_id.empty()) t.diag.task_id = std::move(id);
    co_return t;
}

/// What a wait knows, shared by the polling loop and the callback race.
struct wait_state {
    std::shared_ptr<transport> core;
    origin api;
    std::string id;
    wait_options opts;
    std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point deadline{};
    std::optional<task> last;
    std::optional<poll_schedule> schedule;
    std::minstd_rand rng{std::random_device{}()};
    bool paced_by_type = false; // the schedule and deadline follow the task's type

    std::chrono::milliseconds elapsed() const
    {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    }

    /// Takes a fresh state; reports it when status or percent changed.
    void observe(const task& t)
    {
        bool changed = !last || last->status != t.status || last->progress != t.progress ||
                       last->status_text != t.status_text;
        last = t;
        if (!paced_by_type) {
            paced_by_type = true;
            // Pacing and deadline follow the task type, known from the first read.
            auto policy = opts.poll.value_or(poll_policy::for_type(t.type));
            if (opts.callbacks) policy = slowed(policy, opts.callback_poll_factor);
            schedule.emplace(policy);
            auto limit = opts.deadline.count() > 0 ? opts.deadline : default_deadline(t.type);
            deadline = start + limit;
        }
        if (changed && opts.on_progress) opts.on_progress(t);
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
        redact(d, core->options().api_key);
        return {make_error_code(e), std::move(d), std::move(t)};
    }

    /// A read error that ends the wait: it carries the task id, the last
    /// status seen and the last task (so the caller can tell a wait that
    /// failed from a task that was never created).
    outcome<task> ended_by(outcome<task> r) const
    {
        r.diag.task_id = id;
        r.diag.task_status = last ? last->status_text : std::string();
        r.value = last.value_or(task{});
        return r;
    }

    outcome<task> aborted() const
    {
        return {asio::error::operation_aborted,
                about("stopped waiting (cancelled); the task goes on: wait for " + id + " again to resume"),
                last.value_or(task{})};
    }
};

EVOLINK_INLINE asio::awaitable<bool> cancelled()
{
    auto cs = co_await asio::this_coro::cancellation_state;
    co_return cs.cancelled() != asio::cancellation_type::none;
}

/// Reads the task on its schedule until it is terminal, the deadline passes,
/// a non-transient error occurs, or the operation is cancelled.
EVOLINK_INLINE asio::awaitable<outcome<task>> poll_until_done(std::shared_ptr<wait_state> st)
{
    asio::steady_timer timer(co_await asio::this_coro::executor);
    for (;;) {
        auto now = std::chrono::steady_clock::now();
        std::chrono::milliseconds delay{0};
        if (st->schedule) {
            std::uniform_real_distribution<double> unit(0.0, 1.0);
            std::optional<double> estimate = st->last ? st->last->info.estimated_time : std::nullopt;
            delay = st->schedule->next(st->elapsed(), estimate, unit(st->rng));
            if (now + delay >= st->deadline) {
                // Sleeping past the deadline would only add a useless read.
                timer.expires_at(st->deadline);
                co_await timer.async_wait(tuple_awaitable);
                if (co_await cancelled()) co_return st->aborted();
                auto limit = std::chrono::duration_cast<std::chrono::milliseconds>(st->deadline - st->start);
                co_return outcome<task>{make_error_code(errc::deadline_exceeded),
                                        st->about("gave up after " + seconds_text(limit) + " (" + st->last_seen() +
                                                  "); the task may still finish: wait for " + st->id + " again"),
                                        st->last.value_or(task{})};
            }
        }
        if (delay.count() > 0) {
            timer.expires_after(delay);
            co_await timer.async_wait(tuple_awaitable);
            if (co_await cancelled()) co_return st->aborted();
        }
        auto r = co_await read_task(st->core, st->api, st->id);
        if (r.ec == asio::error::operation_aborted || co_await cancelled()) co_return st->aborted();
        if (r.ec) {
            if (!is_transient(r.ec)) // not worth another read: 401, 404 (unknown or expired id)...
                co_return st->ended_by(std::move(r));
            st->core->log(log_level::warning, "reading " + st->id + " failed (" + r.diag.summary() +
                                                  "); still waiting");
            if (!st->schedule) {
                // No state yet: pace retries like a video until the type is known
                // (observe() then sets the pacing and deadline for that type).
                st->schedule.emplace(st->opts.poll.value_or(poll_policy::video()));
                st->deadline = st->start + (st->opts.deadline.count() > 0 ? st->opts.deadline : default_deadline(""));
            }
            continue;
        }
        st->observe(r.value);
        if (r.value.finished()) co_return st->finish(std::move(r.value));
    }
}

/// The whole wait: polling alone, or the race of a callback against slower
/// polling. Delivers exactly one outcome.
EVOLINK_INLINE asio::awaitable<outcome<task>> wait_for_task(std::shared_ptr<transport> core, origin api, std::string id,
                                                            std::optional<task> known, wait_options opts)
{
    auto st = std::make_shared<wait_state>();
    st->core = std::move(core);
    st->api = std::move(api);
    st->id = std::move(id);
    st->opts = std::move(opts);
    if (known) {
        st->observe(*known);
        if (known->finished()) co_return st->finish(std::move(*known));
    }
    if (!st->opts.callbacks) co_return co_await poll_until_done(st);

    using namespace asio::experimental::awaitable_operators;
    auto* receiver = st->opts.callbacks;
    // However the wait ends, a callback for this task that arrives later is
    // of no use: the receiver need not keep it.
    struct forget_later {
        callback_receiver* r;
        std::string id;
        ~forget_later() { r->discard(id); }
    } forget{receiver, st->id};
    for (;;) {
        auto winner = co_await (poll_until_done(st) || receiver->wait(st->id, asio::as_tuple(use_awaitable_t{})));
        if (winner.index() == 0) co_return std::get<0>(std::move(winner));
        auto [ec, hint] = std::get<1>(std::move(winner));
        if (co_await cancelled()) co_return st->aborted();
        if (ec) {
            // The receiver stopped: polling alone from here on.
            st->core->log(log_level::warning, "callback receiver stopped; polling " + st->id);
            co_return co_await poll_until_done(st);
        }
        if (!hint.finished()) continue;
        if (st->opts.trust_callback_body) {
            st->observe(hint);
            co_return st->finish(std::move(hint));
        }
        // Callbacks are not signed: confirm with a GET before believing one.
        auto confirmed = co_await read_task(st->core, st->api, st->id);
        if (confirmed.ec == asio::error::operation_aborted || co_await cancelled()) co_return st->aborted();
        if (confirmed.ec) {
            if (!is_transient(confirmed.ec)) co_return st->ended_by(std::move(confirmed));
            continue; // cannot confirm now: polling will tell
        }
        st->observe(confirmed.value);
        if (confirmed.value.finished()) co_return st->finish(std::move(confirmed.value));
        st->core->log(log_level::warning, "a callback for " + st->id + " said " + hint.status_text +
                                              " but the task is " + confirmed.value.status_text + "; ignored it");
    }
}

} // namespace evolink::detail

#endif
