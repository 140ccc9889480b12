// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_STRAND_HPP
#define EVOLINK_DETAIL_STRAND_HPP

// The strand a client or a callback receiver runs on.

#include <evolink/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

namespace evolink::detail {

/// A strand of `ex`, made over the io_context's own executor when that is
/// what `ex` holds: a strand<io_context::executor_type> fits inside an
/// any_io_executor, where a strand of an any_io_executor does not and costs
/// two heap allocations each time an operation takes the executor (co_spawn's
/// work guard, every handler's executor: about 30 per submit and per
/// get_task, tests/alloc). Any other executor gets a strand of itself.
EVOLINK_INLINE boost::asio::any_io_executor make_strand_of(const boost::asio::any_io_executor& ex)
{
    if (auto* own = ex.target<boost::asio::io_context::executor_type>()) return boost::asio::make_strand(*own);
    return boost::asio::make_strand(ex);
}

} // namespace evolink::detail

#endif
