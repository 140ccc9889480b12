// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_SLEEP_HPP
#define EVOLINK_DETAIL_SLEEP_HPP

// The pause between two attempts of a retry loop (task reads, creations,
// uploads, downloads), cancellable like any other phase.

#include <evolink/detail/config.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace evolink::detail {

/// Sleeps before a retry; false when cancelled meanwhile.
EVOLINK_INLINE boost::asio::awaitable<bool> retry_sleep(std::chrono::milliseconds d)
{
    namespace asio = boost::asio;
    asio::steady_timer timer(co_await asio::this_coro::executor, d);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    auto cs = co_await asio::this_coro::cancellation_state;
    co_return cs.cancelled() == asio::cancellation_type::none;
}

} // namespace evolink::detail

#endif
