// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_BATCH_OPS_HPP
#define EVOLINK_DETAIL_BATCH_OPS_HPP

// Batched reads, the I/O: a wait's due read joins the batch being gathered
// on the client's strand; the batch goes out when it holds 50 ids or when
// client_options::batch_window has passed since its first, as one
// `POST /v1/tasks/batch`. A batch of one is a plain GET. The decisions are
// in detail/batch_reads.hpp; docs/waiting.md describes the whole.

#include <evolink/detail/async.hpp>
#include <evolink/detail/batch_reads.hpp>
#include <evolink/detail/origin.hpp>
#include <evolink/detail/transport.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace evolink::detail {

/// Sends one batch and hands each ticket its answer (or sends it to its own
/// GET). Not cancellable by any one wait: it serves them all, bounded by the
/// request timeout; client::shutdown cancels it.
EVOLINK_INLINE asio::awaitable<void> send_batch(std::shared_ptr<transport> core, origin api,
                                                std::vector<std::shared_ptr<batch_ticket>> batch)
{
    // Any cancellation (only client::shutdown sends one) ends the request.
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation(), pass_as_terminal{});
    std::vector<std::string> ids;
    ids.reserve(batch.size());
    for (auto& t : batch) ids.push_back(t->id);
    auto r = co_await core->request(api, http::verb::post, "/v1/tasks/batch", batch_body(ids));
    auto v = judge_batch(ids, std::move(r), core->options().api_key, core->options().keep_raw_json);
    auto& state = core->batches();
    if (v.turn_off && !state.off) {
        state.off = true;
        core->log(log_level::warning, v.why + ": batch reads are off for this client; each task is read with GET");
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
        auto& t = *batch[i];
        t.st = batch_ticket::state::alone;
        if (v.k == batch_verdict::kind::tasks && v.tasks[i]) {
            t.result = {{}, {}, std::move(*v.tasks[i])};
            t.st = batch_ticket::state::answered;
        } else if (v.k == batch_verdict::kind::all_failed) {
            t.result = v.failure;
            t.retry_after = v.retry_after;
            t.st = batch_ticket::state::answered;
        }
        t.ready.cancel();
    }
}

/// Sends what the queue holds, 50 ids at a time; a lone id reads alone.
EVOLINK_INLINE void send_queued(const std::shared_ptr<transport>& core, const origin& api)
{
    auto& q = core->batches().queue;
    while (!q.empty()) {
        auto n = std::min(q.size(), max_batch_ids);
        std::vector<std::shared_ptr<batch_ticket>> batch(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
        q.erase(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(n));
        if (n == 1 || core->batches().off) {
            for (auto& t : batch) {
                t->st = batch_ticket::state::alone;
                t->ready.cancel();
            }
            continue;
        }
        // A running operation of the client's: client::shutdown cancels it too.
        auto op = std::make_shared<cancel_state>();
        if (!op_begin(core, *op)) {
            for (auto& t : batch) {
                t->st = batch_ticket::state::alone;
                t->ready.cancel();
            }
            continue;
        }
        for (auto& t : batch) t->st = batch_ticket::state::sent;
        auto done = [batch, core, op](std::exception_ptr ep) {
            op->done = true;
            op_end(core, *op);
            if (!ep) return;
            for (auto& t : batch) // bad_alloc or a bug: no wait is left hanging
                if (t->st == batch_ticket::state::sent) {
                    t->st = batch_ticket::state::alone;
                    t->ready.cancel();
                }
        };
        asio::co_spawn(core->strand(), send_batch(core, api, batch),
                       asio::bind_cancellation_slot(op->signal.slot(), std::move(done)));
    }
}

/// Queues `t`, to go out within `allowance` (at most the batch window):
/// the batch goes when the earliest of its reads is due.
EVOLINK_INLINE void queue_read(const std::shared_ptr<transport>& core, const origin& api,
                               std::shared_ptr<batch_ticket> t, std::chrono::milliseconds allowance)
{
    auto& state = core->batches();
    state.queue.push_back(std::move(t));
    if (state.queue.size() >= max_batch_ids) return send_queued(core, api);
    auto due = std::chrono::steady_clock::now() + std::min(allowance, core->options().batch_window);
    if (state.queue.size() > 1 && state.window->expiry() <= due) return; // the open window closes in time
    if (!state.window) state.window.emplace(core->strand());
    state.window->expires_at(due); // an earlier close than the one set, if any
    state.window->async_wait([weak = std::weak_ptr<transport>(core), api, gen = ++state.window_gen](error_code) {
        auto core = weak.lock();
        if (!core || core->batches().window_gen != gen) return; // the client is gone, or the window was moved
        send_queued(core, api);
    });
}

/// A wait's read of `id` in a batch with the other reads due within
/// `allowance`: its outcome, or nothing when it is to be read alone (the
/// client does not batch, the batch was one read, or left it out).
/// `retry_after_out` as for read_task.
EVOLINK_INLINE asio::awaitable<std::optional<outcome<task>>>
read_in_batch(std::shared_ptr<transport> core, origin api, std::string id, std::chrono::milliseconds allowance,
              std::optional<std::chrono::milliseconds>* retry_after_out)
{
    if (!core->options().batch_reads || core->batches().off) co_return std::nullopt;
    auto t = std::make_shared<batch_ticket>(core->strand(), std::move(id));
    queue_read(core, api, t, allowance);
    if (t->st == batch_ticket::state::queued || t->st == batch_ticket::state::sent)
        co_await t->ready.async_wait(tuple_awaitable);
    switch (t->st) {
    case batch_ticket::state::answered:
        if (retry_after_out) *retry_after_out = t->retry_after;
        co_return std::move(t->result);
    case batch_ticket::state::alone:
        co_return std::nullopt;
    default: // this wait was cancelled
        std::erase(core->batches().queue, t);
        co_return failure<task>(asio::error::operation_aborted, {});
    }
}

} // namespace evolink::detail

#endif
