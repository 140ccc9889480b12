// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_TASK_OPS_HPP
#define EVOLINK_DETAIL_TASK_OPS_HPP

// The bodies of the client's operations on tasks, as coroutines that return
// outcomes: read a task (alone, or in a batch for a wait), and record a wait
// in the journal. The wait itself is a record (detail/wait_record.hpp).

#include <evolink/detail/api_error.hpp>
#include <evolink/detail/async.hpp>
#include <evolink/detail/batch_ops.hpp>
#include <evolink/detail/checks.hpp>
#include <evolink/detail/file_io.hpp>
#include <evolink/detail/operations.hpp>
#include <evolink/detail/retry.hpp>
#include <evolink/detail/retry_loop.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/error.hpp>
#include <evolink/journal.hpp>
#include <evolink/task.hpp>
#include <evolink/wait.hpp>

#include <boost/asio/co_spawn.hpp>

#include <chrono>
#include <memory>
#include <optional>
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

/// Runs a call of the journal's, `f()`, on the file executor (its calls
/// block: a file, a remote store); the reason it threw, empty if it did not.
template <class F>
asio::awaitable<std::string> journal_call(std::shared_ptr<transport> core, F f)
{
    auto call = [&]() -> std::string {
        try {
            f();
            return {};
        } catch (const std::exception& ex) {
            return ex.what();
        }
    };
    co_return co_await run_blocking(core->file_executor(), call);
}

/// Asks the journal whether it can record a task, before the creation is
/// sent (journal::ready). An error: nothing was sent.
EVOLINK_INLINE asio::awaitable<std::optional<diagnostics>> journal_ready(std::shared_ptr<transport> core, journal& j)
{
    std::string failed = co_await journal_call(core, [&] { j.ready(); });
    if (failed.empty()) co_return std::nullopt;
    diagnostics d;
    d.message = "the journal cannot record a task now, so none was created: " + failed;
    core->log(log_level::error, d.message);
    co_return d;
}

/// Records the task in `opts->journal` before its wait starts. The journal's
/// calls block (fsync): they run on the file executor. An error says the task
/// exists but could not be recorded (errc::journal_failed, with its id).
EVOLINK_INLINE asio::awaitable<std::optional<diagnostics>> journal_add(std::shared_ptr<transport> core,
                                                                       journal& j, const std::string& id,
                                                                       const task* known)
{
    journal_entry e;
    e.task_id = id;
    if (known) {
        e.model = known->model;
        e.type = known->type;
    }
    e.recorded_at =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string failed = co_await journal_call(core, [&] { j.add(e); });
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
    std::string failed = co_await journal_call(core, [&] { j.finish(id, status); });
    if (!failed.empty()) core->log(log_level::error, "the journal could not mark " + id + " finished: " + failed);
}

} // namespace evolink::detail

#endif
