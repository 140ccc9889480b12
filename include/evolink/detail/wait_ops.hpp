// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_WAIT_OPS_HPP
#define EVOLINK_DETAIL_WAIT_OPS_HPP

// resume_all: a wait record per unfinished task of the journal (client::wait
// starts one in impl/client.ipp; generate, once the task is created).

#include <evolink/detail/checks.hpp>
#include <evolink/detail/task_ops.hpp>
#include <evolink/detail/wait_completion.hpp>
#include <evolink/detail/wait_record.hpp>
#include <evolink/journal.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace evolink::detail {

/// Waits, concurrently, for every unfinished task of the journal.
template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<std::vector<resumed_task>>> resume_all(std::shared_ptr<transport> core, origin api,
                                                                              shared_wait_options opts)
{
    using result = outcome<std::vector<resumed_task>>;
    std::vector<journal_entry> todo;
    std::string failed = co_await journal_call(core, [&] { todo = opts->journal->unfinished(); });
    if (!failed.empty()) {
        diagnostics d;
        d.message = "cannot read the journal: " + failed;
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
        // A record per wait: no coroutine frame while it sleeps.
        auto done = asio::bind_cancellation_slot(st->signals[i]->slot(), [st, i](std::exception_ptr ep, outcome<task> r) {
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
        });
        wait_record::start_args a;
        a.id = todo[i].task_id;
        a.opts = opts;
        start_wait_record(core, api, std::move(a), make_wait_completion(std::move(done), core->strand()));
    }
    bool cancelled_all = false;
    while (st->remaining > 0) {
        co_await st->done.async_wait(tuple_awaitable);
        if (!cancelled_all && co_await cancellation_requested() != asio::cancellation_type::none) {
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
