// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_FILE_IO_HPP
#define EVOLINK_DETAIL_FILE_IO_HPP

// Blocking file work (reads, writes, fsync, rename, the journal) runs on a
// file executor, never on the thread that runs the io_context: the user's
// (client_options::file_executor) or a small thread pool the client starts
// on its first file operation. An operation hops there for one blocking
// call and comes back to the client's strand with the result.

#include <evolink/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <csignal>
#include <exception>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <pthread.h>

namespace evolink::detail {

/// The file executor of one client. Touched on the client's strand only.
/// Its own pool is an io_context run by two threads, not an
/// asio::thread_pool: the program already compiles io_context's executor
/// inside an any_io_executor (the client's strand), where a thread pool's
/// executor would be one more type to compile all of that for (issue 11).
class file_pool {
public:
    explicit file_pool(boost::asio::any_io_executor user) : user_(std::move(user)) {}
    file_pool(const file_pool&) = delete;
    file_pool& operator=(const file_pool&) = delete;
    ~file_pool()
    {
        if (!ctx_) return;
        work_.reset(); // the threads return once the queued work is done
        // Operations hold the client's shared state, so nothing of ours is
        // queued here any more. Never join a pool from one of its threads.
        if (ctx_->get_executor().running_in_this_thread())
            std::thread([c = std::move(ctx_), t = std::move(threads_)]() mutable {
                for (auto& th : t) th.join();
            }).detach();
        else
            for (auto& th : threads_) th.join();
    }

    /// The user's executor, else the client's own pool (started now, on the
    /// first call: a client that never touches a file starts no thread).
    boost::asio::any_io_executor get()
    {
        if (user_) return user_;
        if (!ctx_) start();
        return ctx_->get_executor();
    }

    static constexpr std::size_t threads = 2;

private:
    void start()
    {
        ctx_ = std::make_unique<boost::asio::io_context>(static_cast<int>(threads));
        work_.emplace(ctx_->get_executor());
        // As asio::thread_pool does: the threads start with every signal
        // blocked, so that signals go to the program's own threads.
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_BLOCK, &all, &old);
        for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([c = ctx_.get()] { c->run(); });
        pthread_sigmask(SIG_SETMASK, &old, nullptr);
    }

    boost::asio::any_io_executor user_;
    std::unique_ptr<boost::asio::io_context> ctx_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
    std::vector<std::thread> threads_;
};

/// The initiation of the hop to the file executor: runs `call(obj)` on
/// `file_ex`, then completes the handler on its own executor (the strand).
/// The io_context keeps outstanding work meanwhile. Cancellation is not
/// forwarded: a blocking call in progress finishes, and the caller checks
/// its cancellation state afterwards. The call is type-erased here so that
/// this machinery (two posts, a work guard) is compiled once, not once per
/// call site (issue 11).
struct blocking_hop {
    void (*call)(void*);
    void* obj;
    boost::asio::any_io_executor file_ex;

    template <class Handler>
    void operator()(Handler&& handler) const
    {
        auto work = boost::asio::make_work_guard(boost::asio::get_associated_executor(handler));
        boost::asio::post(file_ex, [call = call, obj = obj, h = std::forward<Handler>(handler), work = std::move(work)]() mutable {
            std::exception_ptr ep;
            try {
                call(obj);
            } catch (...) { // bad_alloc and the like: rethrown in the coroutine, not on the pool
                ep = std::current_exception();
            }
            auto back = work.get_executor();
            boost::asio::post(back, [h = std::move(h), ep]() mutable { std::move(h)(ep); });
        });
    }
};

/// `co_await hop(ex, call, obj)`: call(obj) runs on `file_ex`; the
/// coroutine resumes on its own executor (or with call's exception).
inline boost::asio::awaitable<void> hop(const boost::asio::any_io_executor& file_ex, void (*call)(void*), void* obj)
{
    return boost::asio::async_initiate<const boost::asio::use_awaitable_t<>, void(std::exception_ptr)>(
        blocking_hop{call, obj, file_ex}, boost::asio::use_awaitable);
}

/// `co_await run_blocking(ex, f)`: f() (a blocking call that returns a
/// default-constructible value) runs on `file_ex`; the coroutine resumes on
/// its own executor with the value (or f's exception). `f` lives in the
/// caller's frame until then.
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> run_blocking(const boost::asio::any_io_executor& file_ex, F& f)
{
    using R = std::invoke_result_t<F&>;
    static_assert(std::is_same_v<R, std::decay_t<R>>, "f returns a value");
    R r{};
    auto set = [&] { r = f(); };
    co_await hop(file_ex, [](void* p) { (*static_cast<decltype(set)*>(p))(); }, &set);
    co_return r;
}

} // namespace evolink::detail

#endif
