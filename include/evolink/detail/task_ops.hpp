// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_TASK_OPS_HPP
#define EVOLINK_DETAIL_TASK_OPS_HPP

// The bodies of the client's operations, as coroutines that return outcomes:
// create a task, read a task, and wait for a task (paced polling, progress,
// deadline, and the race against a callback).

#include <evolink/callback_receiver.hpp>
#include <evolink/detail/api_error.hpp>
#include <evolink/detail/async.hpp>
#include <evolink/detail/batch_ops.hpp>
#include <evolink/detail/checks.hpp>
#include <evolink/detail/operations.hpp>
#include <evolink/detail/random.hpp>
#include <evolink/detail/retry.hpp>
#include <evolink/detail/retry_loop.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/error.hpp>
#include <evolink/journal.hpp>
#include <evolink/task.hpp>
#include <evolink/wait.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <memory>
#include <random>
#include <string>

namespace evolink::detail {

/// Reads a task, retrying transient failures when `retries` (a wait's reads
/// do not: its own schedule paces them). `retry_after_out` receives the
/// server's Retry-After, if any.
EVOLINK_INLINE asio::awaitable<outcome<task>> read_task(std::shared_ptr<transport> core, origin o, std::string id,
                                                        std::optional<diagnostics> invalid = std::nullopt,
                                                        bool retries = true,
                                                        std::optional<std::chrono::milliseconds>* retry_after_out = nullptr)
{
    if (invalid) co_return failure<task>(make_error_code(errc::invalid_request), std::move(*invalid));
    retry_budget budget;
    auto log_line = [&](const diagnostics& d, std::chrono::milliseconds delay) {
        return "reading " + id + " failed (" + d.summary() + "); retrying in " + seconds_text(delay);
    };
    for (unsigned attempt = 1;; ++attempt) {
        auto r = co_await core->request(o, http::verb::get, "/v1/tasks/" + id, {});
        auto retry_after = r.value.retry_after;
        if (retry_after_out) *retry_after_out = retry_after;
        auto t = task_outcome(std::move(r), core->options().api_key, core->options().keep_raw_json);
        t.diag->attempts = attempt;
        if (t.ec && t.diag->task_id.empty()) t.diag->task_id = id;
        if (!t.ec || !retries || !retryable_read(t.ec)) co_return t;
        auto step = co_await pause_before_retry(*core, budget, attempt, retry_after, *t.diag, log_line);
        if (step == retry_step::cancelled) t.ec = asio::error::operation_aborted;
        if (step != retry_step::again) co_return t;
    }
}

/// A wait's read of `id`: in a batch with the other reads due within
/// `allowance` when the client batches them, else (or when the batch had no
/// answer for it) a GET. `retry_after_out` as for read_task.
EVOLINK_INLINE asio::awaitable<outcome<task>> read_for_wait(std::shared_ptr<transport> core, origin api,
                                                            std::string id, std::chrono::milliseconds allowance,
                                                            std::optional<std::chrono::milliseconds>* retry_after_out)
{
    auto batched = co_await read_in_batch(core, api, id, allowance, retry_after_out);
    if (batched) co_return std::move(*batched);
    co_return co_await read_task(std::move(core), std::move(api), std::move(id), std::nullopt, false, retry_after_out);
}

/// Wait options travel between coroutines behind a shared_ptr, never by value:
/// GCC 12 miscompiles some by-value class parameters passed from one
/// coroutine to another (a std::string member ended up pointing into a freed
/// frame; found by ASan).

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
    std::minstd_rand rng{jitter_seed()};
    bool paced_by_type = false; // the schedule and deadline follow the task's type
    std::chrono::milliseconds min_next_delay{0}; // from a Retry-After

    std::chrono::milliseconds elapsed() const
    {
        return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    }

    std::optional<diagnostics> hook_error; // on_progress threw

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
            auto policy = opts.poll.value_or(poll_policy::for_type(t.type));
            if (opts.callbacks) policy = slowed(policy, opts.callback_poll_factor);
            schedule.emplace(policy);
            auto limit = opts.deadline.count() > 0 ? opts.deadline : default_deadline(t.type);
            deadline = start + limit;
        }
        if (changed && opts.on_progress) {
            try {
                opts.on_progress(t);
            } catch (...) {
                hook_error = hook_threw("on_progress", std::current_exception());
                return false;
            }
        }
        return true;
    }

    /// The end of a wait whose on_progress threw: the task goes on.
    outcome<task> hook_failed() const
    {
        diagnostics d = *hook_error;
        d.task_id = id;
        d.task_status = last ? last->status_text : std::string();
        core->log(log_level::error, d.message + " (waiting for " + id + "; the task goes on)");
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
        redact(d, core->options().api_key);
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
            delay = std::max(st->schedule->next(st->elapsed(), estimate, unit(st->rng)), st->min_next_delay);
            st->min_next_delay = std::chrono::milliseconds(0);
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
        std::optional<std::chrono::milliseconds> retry_after;
        // A read may wait for others to join its batch: a tenth of the pause
        // before it, so that fast polling stays fast (detail/batch_ops.hpp).
        auto r = co_await read_for_wait(st->core, st->api, st->id, delay / 10, &retry_after);
        if (r.ec == asio::error::operation_aborted || co_await cancelled()) co_return st->aborted();
        if (r.ec) {
            if (!retryable_read(r.ec)) // not worth another read: 401, 404 (unknown or expired id)...
                co_return st->ended_by(std::move(r));
            st->core->log(log_level::warning, "reading " + st->id + " failed (" + r.diag->summary() +
                                                  "); still waiting");
            // The server asked for a pause (429 + Retry-After): the next read waits at least that long.
            if (retry_after) st->min_next_delay = std::min(*retry_after, st->core->options().retry.max_retry_after);
            if (!st->schedule) {
                // No state yet: pace retries like a video until the type is known
                // (observe() then sets the pacing and deadline for that type).
                st->schedule.emplace(st->opts.poll.value_or(poll_policy::video()));
                st->deadline = st->start + (st->opts.deadline.count() > 0 ? st->opts.deadline : default_deadline(""));
            }
            continue;
        }
        if (!st->observe(r.value)) co_return st->hook_failed();
        if (r.value.finished()) co_return st->finish(std::move(r.value));
    }
}

EVOLINK_INLINE asio::awaitable<outcome<task>> race_with_callback(std::shared_ptr<wait_state> st);

/// The whole wait: polling alone, or the race of a callback against slower
/// polling. Delivers exactly one outcome.
EVOLINK_INLINE asio::awaitable<outcome<task>> wait_unjournaled(std::shared_ptr<transport> core, origin api,
                                                               std::string id, std::optional<task> known,
                                                               shared_wait_options opts)
{
    auto st = std::make_shared<wait_state>();
    st->core = std::move(core);
    st->api = std::move(api);
    st->id = std::move(id);
    st->opts = *opts;
    if (known) {
        if (!st->observe(*known)) co_return st->hook_failed();
        if (known->finished()) co_return st->finish(std::move(*known));
    }
    if (!st->opts.callbacks) co_return co_await poll_until_done(st);
    auto r = co_await race_with_callback(st);
    // However the wait ended, a callback for this task that arrives later is
    // of no use: the receiver need not keep it.
    st->opts.callbacks->discard(st->id);
    co_return r;
}

/// The race of the receiver's callback against slowed polling.
EVOLINK_INLINE asio::awaitable<outcome<task>> race_with_callback(std::shared_ptr<wait_state> st)
{
    using namespace asio::experimental::awaitable_operators;
    auto* receiver = st->opts.callbacks;
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
            if (!st->observe(hint)) co_return st->hook_failed();
            co_return st->finish(std::move(hint));
        }
        // Callbacks are not signed: confirm with a GET before believing one.
        auto confirmed = co_await read_task(st->core, st->api, st->id, std::nullopt, false);
        if (confirmed.ec == asio::error::operation_aborted || co_await cancelled()) co_return st->aborted();
        if (confirmed.ec) {
            if (!retryable_read(confirmed.ec)) co_return st->ended_by(std::move(confirmed));
            continue; // cannot confirm now: polling will tell
        }
        if (!st->observe(confirmed.value)) co_return st->hook_failed();
        if (confirmed.value.finished()) co_return st->finish(std::move(confirmed.value));
        st->core->log(log_level::warning, "a callback for " + st->id + " said " + hint.status_text +
                                              " but the task is " + confirmed.value.status_text + "; ignored it");
    }
}

/// Records the task in `opts->journal` before its wait starts. The journal's
/// calls block (fsync): they run on the file executor. An error says the task
/// exists but could not be recorded (errc::journal_failed, with its id).
EVOLINK_INLINE asio::awaitable<std::optional<diagnostics>> journal_add(std::shared_ptr<transport> core,
                                                                       journal& j, const std::string& id,
                                                                       const std::optional<task>& known)
{
    journal_entry e;
    e.task_id = id;
    if (known) {
        e.model = known->model;
        e.type = known->type;
    }
    e.recorded_at =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    auto add = [&]() -> std::string { // the reason it failed; empty: recorded
        try {
            j.add(e);
            return {};
        } catch (const std::exception& ex) {
            return ex.what();
        }
    };
    std::string failed = co_await run_blocking(core->file_executor(), add);
    if (failed.empty()) co_return std::nullopt;
    diagnostics d;
    d.task_id = id;
    d.message = "the task exists but the journal could not record it: " + failed;
    core->log(log_level::error, d.message);
    co_return d;
}

/// Marks the task finished in the journal once its wait has an end that will
/// not change (done, failed, cancelled, or gone from the server).
EVOLINK_INLINE asio::awaitable<void> journal_finish(std::shared_ptr<transport> core, journal& j,
                                                    const std::string& id, const outcome<task>& r)
{
    std::string status;
    if (!r.ec || r.ec == errc::task_failed || r.ec == errc::task_cancelled) status = r.value.status_text;
    else if (r.ec == api_errc::not_found) status = "gone"; // expired or unknown: it will never finish
    if (status.empty()) co_return;
    auto finish = [&]() -> std::string {
        try {
            j.finish(id, status);
            return {};
        } catch (const std::exception& ex) {
            return ex.what();
        }
    };
    std::string failed = co_await run_blocking(core->file_executor(), finish);
    if (!failed.empty()) core->log(log_level::error, "the journal could not mark " + id + " finished: " + failed);
}

/// wait_unjournaled, with the task recorded in the journal (if any) before
/// the wait (unless `recorded`: the caller did it) and marked finished after
/// it, when it did finish. The wait starts only once add() has returned.
EVOLINK_INLINE asio::awaitable<outcome<task>> wait_for_task(std::shared_ptr<transport> core, origin api, std::string id,
                                                            std::optional<task> known, shared_wait_options opts,
                                                            bool recorded = false)
{
    auto* j = opts->journal;
    if (j && !recorded) {
        auto failed = co_await journal_add(core, *j, id, known);
        if (failed) co_return outcome<task>{make_error_code(errc::journal_failed), std::move(*failed), known.value_or(task{})};
    }
    auto r = co_await wait_unjournaled(core, std::move(api), id, std::move(known), opts);
    if (j) co_await journal_finish(core, *j, id, r);
    co_return r;
}

/// Waits, concurrently, for every unfinished task of the journal.
EVOLINK_INLINE asio::awaitable<outcome<std::vector<resumed_task>>> resume_all(std::shared_ptr<transport> core, origin api,
                                                                              shared_wait_options opts)
{
    using result = outcome<std::vector<resumed_task>>;
    std::vector<journal_entry> todo;
    try {
        todo = opts->journal->unfinished();
    } catch (const std::exception& ex) {
        diagnostics d;
        d.message = std::string("cannot read the journal: ") + ex.what();
        co_return result{make_error_code(errc::journal_failed), std::move(d), {}};
    }
    struct state {
        explicit state(const asio::any_io_executor& ex) : done(ex, std::chrono::steady_clock::time_point::max()) {}
        std::vector<resumed_task> results;
        std::vector<std::unique_ptr<asio::cancellation_signal>> signals;
        std::size_t remaining = 0;
        asio::steady_timer done;
    };
    auto ex = co_await asio::this_coro::executor; // the client's strand: children run on it too
    auto st = std::make_shared<state>(ex);
    st->results.resize(todo.size());
    st->remaining = todo.size();
    core->log(log_level::info, "resuming " + std::to_string(todo.size()) + " unfinished task(s)");
    for (std::size_t i = 0; i < todo.size(); ++i) {
        st->signals.push_back(std::make_unique<asio::cancellation_signal>());
        st->results[i].task_id = todo[i].task_id;
        if (auto bad = check_task_id(todo[i].task_id)) { // never put in a request path
            bad->message = "the journal holds an entry that is not a task id: " + bad->message;
            st->results[i].ec = make_error_code(errc::journal_failed);
            st->results[i].diag = std::move(*bad);
            --st->remaining;
            continue;
        }
        asio::co_spawn(ex, wait_for_task(core, api, todo[i].task_id, std::nullopt, opts),
                       asio::bind_cancellation_slot(st->signals[i]->slot(), [st, i](std::exception_ptr ep, outcome<task> r) {
                           if (ep) { // a child that threw did not finish: say why
                               auto [ec, d] = exception_outcome(ep);
                               r.ec = ec;
                               r.diag = std::move(d);
                               r.diag->task_id = st->results[i].task_id;
                           }
                           st->results[i].ec = r.ec;
                           st->results[i].diag = std::move(r.diag);
                           st->results[i].result = std::move(r.value);
                           if (--st->remaining == 0) st->done.cancel();
                       }));
    }
    bool cancelled_all = false;
    while (st->remaining > 0) {
        co_await st->done.async_wait(tuple_awaitable);
        if (!cancelled_all && co_await cancelled()) {
            // Cancelling resume cancels every wait (never the tasks); their
            // outcomes are still collected.
            cancelled_all = true;
            for (auto& s : st->signals) s->emit(asio::cancellation_type::terminal);
            co_await asio::this_coro::reset_cancellation_state();
        }
    }
    if (cancelled_all) co_return result{asio::error::operation_aborted, {}, std::move(st->results)};
    co_return result{{}, {}, std::move(st->results)};
}

} // namespace evolink::detail

#endif
