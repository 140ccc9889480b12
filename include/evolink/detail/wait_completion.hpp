// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_WAIT_COMPLETION_HPP
#define EVOLINK_DETAIL_WAIT_COMPLETION_HPP

// A wait's completion handler behind a small virtual base: a wait record
// (compiled part, detail/wait_record.hpp) keeps it while the wait sleeps,
// without a coroutine frame around it. And launch_wait, the initiation of
// client::wait: launch_op's cancellation and handler, without its coroutine.

#include <evolink/detail/async.hpp>
#include <evolink/task.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/execution/outstanding_work.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/prefer.hpp>

#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace evolink::detail {

/// Where a wait delivers its one outcome.
class wait_completion {
public:
    virtual ~wait_completion() = default;
    /// Calls the handler on its own executor, once (an exception: the wait
    /// body failed, as co_spawn would report it).
    virtual void complete(std::exception_ptr ep, outcome<task> r) = 0;
    /// The handler's cancellation slot (may be unconnected).
    virtual boost::asio::cancellation_slot slot() const noexcept = 0;
    /// The client operation's cancel_state (launch_wait's), which the wait
    /// links into the client's op_registry while it runs (client::shutdown);
    /// null for a wait inside another operation (resume's).
    virtual cancel_state* state() const noexcept = 0;
};

/// A handler of (std::exception_ptr, outcome<task>), erased. Like co_spawn,
/// it counts as outstanding work on the handler's executor until it runs.
template <class Handler>
class wait_completion_for final : public wait_completion {
public:
    wait_completion_for(Handler h, const boost::asio::any_io_executor& strand)
        : handler_(std::move(h)),
          work_(boost::asio::prefer(boost::asio::any_io_executor(boost::asio::get_associated_executor(handler_, strand)),
                                    boost::asio::execution::outstanding_work.tracked))
    {
    }

    void complete(std::exception_ptr ep, outcome<task> r) override
    {
        auto ex = work_; // the handler's executor
        boost::asio::dispatch(ex, [h = std::move(handler_), work = std::move(work_), ep, r = std::move(r)]() mutable {
            std::move(h)(ep, std::move(r));
        });
    }

    boost::asio::cancellation_slot slot() const noexcept override
    {
        return boost::asio::get_associated_cancellation_slot(handler_);
    }

    cancel_state* state() const noexcept override
    {
        if constexpr (requires { handler_.cancel; }) return handler_.cancel.get();
        else return nullptr;
    }

private:
    Handler handler_;
    boost::asio::any_io_executor work_; // the handler's executor, tracked: like co_spawn's completion
};

template <class Handler>
std::unique_ptr<wait_completion> make_wait_completion(Handler&& h, const boost::asio::any_io_executor& strand)
{
    return std::make_unique<wait_completion_for<std::decay_t<Handler>>>(std::forward<Handler>(h), strand);
}

/// The initiation of client::wait: as launch_op (the caller's cancellation
/// goes through a cancel_state posted to the strand; op_handler stores the
/// diagnostics and calls the caller's handler), but the body is handed the
/// erased handler instead of being run as a coroutine.
struct launch_wait {
    template <class Handler, class Start>
    void operator()(Handler&& handler, diagnostics* diag_out, boost::asio::any_io_executor strand, Start start) const
    {
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        // Always: client::shutdown cancels the wait through it (op_registry).
        auto cancel = connect_cancel_state(slot, strand, true);
        auto executor = boost::asio::get_associated_executor(handler, strand);
        using op = op_handler<task, std::decay_t<Handler>>;
        start(make_wait_completion(op{std::forward<Handler>(handler), diag_out, cancel, slot, executor}, strand));
    }
};

} // namespace evolink::detail

#endif
