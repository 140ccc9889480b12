// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_WAIT_RECORD_HPP
#define EVOLINK_DETAIL_WAIT_RECORD_HPP

// One wait as a record: its state (detail/wait_state.hpp), the caller's
// handler, and the phase it is in. Asleep, it is only an entry of the
// client's wait_scheduler; a coroutine runs only while something is in
// flight (a read, the GET that confirms a callback, the journal's calls).
// The receiver's callback is routed to it by task id (the record is the
// receiver's subscriber meanwhile). docs/waiting.md draws the phases.

#include <evolink/callback_receiver.hpp>
#include <evolink/detail/task_ops.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/detail/wait_completion.hpp>
#include <evolink/detail/wait_scheduler.hpp>
#include <evolink/detail/wait_state.hpp>
#include <evolink/journal.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace evolink::detail {

/// A read for a wait: batched (read_for_wait) or a plain GET (the one that
/// confirms a callback). Errors are values even once cancelled.
EVOLINK_INLINE asio::awaitable<outcome<task>> wait_read(std::shared_ptr<transport> core, origin api, std::string id,
                                                        std::chrono::milliseconds allowance, bool batched,
                                                        std::optional<std::chrono::milliseconds>* retry_after)
{
    co_await asio::this_coro::throw_if_cancelled(false);
    if (!batched) co_return co_await read_task(std::move(core), std::move(api), std::move(id), std::nullopt, false);
    co_return co_await read_for_wait(std::move(core), std::move(api), std::move(id), allowance, retry_after);
}

class wait_record final : public wait_entry,
                          public receiver_subscriber,
                          public std::enable_shared_from_this<wait_record> {
public:
    struct start_args {
        std::string id;
        std::optional<task> known;
        shared_wait_options opts;
        std::optional<diagnostics> invalid;
        bool recorded = false; // the journal has it already
        bool tracked = false;  // in the client's op_registry already (generate's creation put it there)
    };

    wait_record(const std::shared_ptr<transport>& core, const origin& api, std::unique_ptr<wait_completion> done)
        : core_(core), api_(core->wait_origin(api)), done_(std::move(done))
    {
    }

    /// Starts a wait; on the strand.
    static void start(const std::shared_ptr<transport>& core, origin api, start_args a,
                      std::unique_ptr<wait_completion> done)
    {
        auto self = std::make_shared<wait_record>(core, api, std::move(done));
        self->st_.id = std::move(a.id);
        self->st_.opts = std::move(a.opts);
        self->st_.api_key = core->options().api_key;
        if (auto* op = self->done_->state()) { // one of the client's operations: client::shutdown ends it
            if (!a.tracked && !op_begin(core, *op)) return self->complete({}, shut_down_outcome<task>());
            self->op_ = op;
        }
        if (a.invalid) return self->complete({}, failure<task>(make_error_code(errc::invalid_request), std::move(*a.invalid)));
        self->user_slot_ = self->done_->slot();
        if (self->user_slot_.is_connected())
            self->user_slot_.assign([w = std::weak_ptr<wait_record>(self)](asio::cancellation_type t) {
                if (auto r = w.lock()) r->cancel(t);
            });
        if (a.known) self->known_ = std::make_unique<task>(std::move(*a.known));
        if (self->st_.opts->journal && !a.recorded) return self->journal_first(core);
        self->begin(core);
    }

    void due() override
    {
        auto core = core_.lock();
        if (!core) return; // cannot happen: the timer's handler holds the client state
        if (step_.deadline) return end(core, st_.deadline_exceeded());
        read(core);
    }

private:
    enum class phase : unsigned char { starting, asleep, reading, confirming, ending, done };

    void journal_first(const std::shared_ptr<transport>& core)
    {
        // known_ and st_.id live in the record, which the handler keeps.
        asio::co_spawn(core->strand(), journal_add(core, *st_.opts->journal, st_.id, known_.get()),
                       [self = shared_from_this(), core](std::exception_ptr ep, std::optional<diagnostics> failed) {
                           if (ep) return self->complete(ep, {});
                           if (failed)
                               return self->complete({}, {make_error_code(errc::journal_failed), std::move(*failed),
                                                          self->known_ ? *self->known_ : task{}});
                           self->begin(core);
                       });
    }

    void begin(const std::shared_ptr<transport>& core)
    {
        if (cancelled_) return end(core, st_.aborted());
        if (known_) {
            auto known = std::move(known_);
            if (!st_.observe(*known)) return end_hook_failed(core);
            if (known->finished()) return end(core, st_.finish(std::move(*known)));
        }
        if (st_.opts->callbacks) listen(core);
        next(core);
    }

    /// Sleeps until the next read (or the deadline), or reads at once.
    void next(const std::shared_ptr<transport>& core)
    {
        step_ = st_.plan(std::chrono::steady_clock::now());
        if (!step_.deadline && step_.delay.count() == 0) return read(core);
        phase_ = phase::asleep;
        core->waits().add(shared_from_this(), step_.at, core);
    }

    void read(const std::shared_ptr<transport>& core)
    {
        phase_ = phase::reading;
        retry_after_.reset();
        // A read may wait for others to join its batch: a tenth of the pause
        // before it, so that fast polling stays fast (detail/batch_ops.hpp).
        asio::co_spawn(core->strand(), wait_read(core, *api_, st_.id, step_.delay / 10, true, &retry_after_),
                       asio::bind_cancellation_slot(read_signal_.slot(), read_handler{shared_from_this(), core, &wait_record::read_done}));
    }

    /// Where a read (a poll, or a callback's confirmation) goes: one handler
    /// type for both, so that co_spawn's machinery for it is compiled once
    /// (issue 11).
    struct read_handler {
        std::shared_ptr<wait_record> self;
        std::shared_ptr<transport> core;
        void (wait_record::*then)(const std::shared_ptr<transport>&, std::exception_ptr, outcome<task>);
        void operator()(std::exception_ptr ep, outcome<task> r) { ((*self).*then)(core, ep, std::move(r)); }
    };

    void read_done(const std::shared_ptr<transport>& core, std::exception_ptr ep, outcome<task> r)
    {
        if (cancelled_ || r.ec == asio::error::operation_aborted) return end(core, st_.aborted());
        if (ep) return complete(ep, {});
        auto v = st_.judge(std::move(r), retry_after_, core->options().retry.max_retry_after);
        if (v.log) core->log(v.log->level, std::move(v.log->message));
        if (v.end) return end(core, std::move(*v.end));
        if (hint_) return take_hint(core);
        next(core);
    }

    // --- The race with a callback ------------------------------------------

    struct hint {
        error_code ec;
        task t;
    };


    /// Routed to this record by task id (no coroutine meanwhile).
    void listen(const std::shared_ptr<transport>&)
    {
        listening_ = true;
        receiver_subscribe(*st_.opts->callbacks, st_.id, shared_from_this());
    }

    /// On the receiver's strand: over to the client's.
    void delivered(error_code ec, task t) override
    {
        auto core = core_.lock(); // gone: the io_context was destroyed with the wait open
        if (!core) return;
        asio::post(core->strand(), [self = shared_from_this(), core, ec, t = std::move(t)]() mutable {
            self->on_callback(core, ec, std::move(t));
        });
    }

    void on_callback(const std::shared_ptr<transport>& core, error_code ec, task t)
    {
        listening_ = false;
        if (phase_ == phase::ending) { // the end was waiting for the receiver to let go
            keep_.reset();
            return wrap_up(core);
        }
        if (phase_ == phase::done) return;
        hint_ = std::make_unique<hint>(hint{ec, std::move(t)});
        // Arrived during a read: looked at once the read has answered.
        if (phase_ == phase::asleep) take_hint(core);
    }

    void take_hint(const std::shared_ptr<transport>& core)
    {
        auto h = std::move(hint_);
        core->waits().remove(*this); // the pause is planned again, as a new poll would
        if (cancelled_) return end(core, st_.aborted());
        if (h->ec) {
            core->log(log_level::warning, "callback receiver stopped; polling " + st_.id);
            return next(core); // polling alone from here on
        }
        if (!h->t.finished()) {
            listen(core);
            return next(core);
        }
        if (st_.opts->trust_callback_body) {
            if (!st_.observe(h->t)) return end_hook_failed(core);
            return end(core, st_.finish(std::move(h->t)));
        }
        // Callbacks are not signed: confirm with a GET before believing one.
        hint_ = std::move(h); // its status_text, for the log line
        phase_ = phase::confirming;
        asio::co_spawn(core->strand(), wait_read(core, *api_, st_.id, {}, false, nullptr),
                       asio::bind_cancellation_slot(read_signal_.slot(), read_handler{shared_from_this(), core, &wait_record::confirmed}));
    }

    void confirmed(const std::shared_ptr<transport>& core, std::exception_ptr ep, outcome<task> r)
    {
        auto said = std::move(hint_);
        if (cancelled_ || r.ec == asio::error::operation_aborted) return end(core, st_.aborted());
        if (ep) return complete(ep, {});
        if (r.ec && !retryable_read(r.ec)) return end(core, st_.ended_by(std::move(r)));
        if (!r.ec) {
            if (!st_.observe(r.value)) return end_hook_failed(core);
            if (r.value.finished()) return end(core, st_.finish(std::move(r.value)));
            core->log(log_level::warning, "a callback for " + st_.id + " said " + said->t.status_text +
                                              " but the task is " + r.value.status_text + "; ignored it");
        } // else cannot confirm now: polling will tell
        listen(core);
        next(core);
    }

    // --- Cancellation and the end ------------------------------------------

    /// The caller's cancellation, any type: asleep, the wait ends at once; a
    /// read in flight is cancelled (it ends the wait when it returns).
    void cancel(asio::cancellation_type t)
    {
        if (t == asio::cancellation_type::none || cancelled_ || phase_ == phase::ending || phase_ == phase::done)
            return;
        cancelled_ = true;
        if (phase_ == phase::reading || phase_ == phase::confirming)
            return read_signal_.emit(asio::cancellation_type::terminal);
        auto core = core_.lock();
        if (phase_ != phase::asleep || !core) return; // starting: begin() sees the flag
        core->waits().remove(*this);
        // Not from inside the slot's handler: complete() clears that slot. A
        // callback that comes first ends the wait itself (take_hint).
        asio::post(core->strand(), [self = shared_from_this(), core] {
            if (self->phase_ == phase::asleep) self->end(core, self->st_.aborted());
        });
    }

    void end_hook_failed(const std::shared_ptr<transport>& core)
    {
        auto r = st_.hook_failed();
        core->log(log_level::error, r.diag->message + " (waiting for " + st_.id + "; the task goes on)");
        end(core, std::move(r));
    }

    /// The wait has its outcome: stop listening (the receiver's wait has
    /// ended before the handler runs), drop the receiver's copy, mark the
    /// journal, then complete.
    void end(const std::shared_ptr<transport>& core, outcome<task> r)
    {
        phase_ = phase::ending;
        core->waits().remove(*this);
        result_ = std::make_unique<outcome<task>>(std::move(r));
        if (!listening_) return wrap_up(core);
        keep_ = core; // nothing else may hold the client state until the receiver answers
        receiver_unsubscribe(*st_.opts->callbacks, st_.id, shared_from_this()); // on_callback calls wrap_up
    }

    void wrap_up(const std::shared_ptr<transport>& core)
    {
        // A callback for this task that arrives later is of no use.
        if (st_.opts->callbacks) st_.opts->callbacks->discard(st_.id);
        auto* j = st_.opts->journal;
        if (!j) return complete({}, std::move(*result_));
        asio::co_spawn(core->strand(), journal_finish(core, *j, st_.id, *result_),
                       [self = shared_from_this(), core](std::exception_ptr ep) {
                           self->complete(ep, std::move(*self->result_));
                       });
    }

    void complete(std::exception_ptr ep, outcome<task> r)
    {
        if (!done_) return;
        phase_ = phase::done;
        if (user_slot_.is_connected()) user_slot_.clear();
        if (op_) {
            op_->done = true;
            if (auto core = core_.lock()) op_end(core, *op_);
            op_ = nullptr;
        }
        auto done = std::move(done_);
        done->complete(ep, std::move(r));
    }

    // Not owned (the client's state owns the scheduler that holds the record):
    // asleep, the timer's handler holds it; else the handler of what is in
    // flight (a read, the receiver's wait, the journal's call).
    std::weak_ptr<transport> core_;
    std::shared_ptr<const origin> api_;
    std::unique_ptr<wait_completion> done_;
    cancel_state* op_ = nullptr; // done_'s, linked in the client's op_registry
    wait_state st_;
    wait_step step_;
    phase phase_ = phase::starting;
    bool cancelled_ = false;
    bool listening_ = false;
    asio::cancellation_slot user_slot_;
    asio::cancellation_signal read_signal_;
    std::optional<std::chrono::milliseconds> retry_after_;
    std::unique_ptr<task> known_;                      // until the wait begins
    std::unique_ptr<hint> hint_;                       // a callback not looked at yet, or being confirmed
    std::unique_ptr<outcome<task>> result_;            // while the receiver lets go, and the journal marks it
    std::shared_ptr<transport> keep_;                  // while the receiver lets go
};

/// Starts a wait on the client's strand; `done` receives its outcome.
EVOLINK_INLINE void start_wait_record(std::shared_ptr<transport> core, origin api, wait_record::start_args a,
                                      std::unique_ptr<wait_completion> done)
{
    auto strand = core->strand();
    asio::post(strand, [core = std::move(core), api = std::move(api), a = std::move(a), done = std::move(done)]() mutable {
        wait_record::start(core, std::move(api), std::move(a), std::move(done));
    });
}

} // namespace evolink::detail

#endif
