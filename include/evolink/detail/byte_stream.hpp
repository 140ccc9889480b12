// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_BYTE_STREAM_HPP
#define EVOLINK_DETAIL_BYTE_STREAM_HPP

// A connection's TLS or plain stream behind one type. Beast's HTTP reads and
// writes are templates over the stream: run on two stream types, they were
// compiled twice, and they are most of a program's object code (issue 11).
// Over this type they are compiled once; the handler and the buffers are
// type-erased at this one point, and only here do the two real streams get
// instantiated. The price: one handler allocation per read or write, from
// Asio's recycling allocator.

#include <evolink/detail/config.hpp>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <cstddef>
#include <span>

namespace evolink::detail {

class byte_stream {
public:
    using executor_type = boost::asio::any_io_executor;
    using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;
    using io_handler = boost::asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;

    /// Exactly one of the two is set. Both outlive this object.
    byte_stream(tls_stream* tls, boost::beast::tcp_stream* plain) : tls_(tls), plain_(plain) {}
    byte_stream(const byte_stream&) = delete; // the buffer lists below are in use during an operation

    executor_type get_executor() { return lowest().get_executor(); }
    /// The TCP stream underneath: its timer bounds every read and write.
    boost::beast::tcp_stream& lowest() { return tls_ ? boost::beast::get_lowest_layer(*tls_) : *plain_; }

    template <class MutableBuffers, class Token>
    auto async_read_some(const MutableBuffers& buffers, Token&& token)
    {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](io_handler h, const MutableBuffers& b) { read_some(take(reading_, b), std::move(h)); }, token,
            buffers);
    }

    template <class ConstBuffers, class Token>
    auto async_write_some(const ConstBuffers& buffers, Token&& token)
    {
        return boost::asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](io_handler h, const ConstBuffers& b) { write_some(take(writing_, b), std::move(h)); }, token,
            buffers);
    }

private:
    // A read or write may move fewer bytes than asked (every caller loops),
    // so the first non-empty buffers of a longer sequence are enough.
    static constexpr std::size_t max_buffers = 16;
    template <class Buffer>
    struct buffer_list {
        std::array<Buffer, max_buffers> items;
        std::size_t size = 0;
    };

    template <class Buffer, class Sequence>
    static std::span<const Buffer> take(buffer_list<Buffer>& list, const Sequence& seq)
    {
        list.size = 0;
        for (auto it = boost::asio::buffer_sequence_begin(seq), end = boost::asio::buffer_sequence_end(seq);
             it != end && list.size < max_buffers; ++it)
            if (Buffer b(*it); b.size() != 0) list.items[list.size++] = b;
        return {list.items.data(), list.size};
    }

    // The erased handler, bound to the stream's executor: Boost 1.81's
    // any_completion_executor cannot be asked for blocking.never, which
    // beast::basic_stream needs (fixed in 1.82).
    struct bound_handler {
        using executor_type = boost::asio::any_io_executor;
        io_handler h;
        executor_type ex;
        using allocator_type = io_handler::allocator_type;
        using cancellation_slot_type = io_handler::cancellation_slot_type;
        executor_type get_executor() const noexcept { return ex; }
        allocator_type get_allocator() const noexcept { return h.get_allocator(); }
        cancellation_slot_type get_cancellation_slot() const noexcept { return h.get_cancellation_slot(); }
        void operator()(boost::system::error_code ec, std::size_t n) { std::move(h)(ec, n); }
    };

    void read_some(std::span<const boost::asio::mutable_buffer> b, io_handler h)
    {
        bound_handler bound{std::move(h), get_executor()};
        if (tls_) tls_->async_read_some(b, std::move(bound));
        else plain_->async_read_some(b, std::move(bound));
    }
    void write_some(std::span<const boost::asio::const_buffer> b, io_handler h)
    {
        bound_handler bound{std::move(h), get_executor()};
        if (tls_) tls_->async_write_some(b, std::move(bound));
        else plain_->async_write_some(b, std::move(bound));
    }

    tls_stream* tls_;
    boost::beast::tcp_stream* plain_;
    buffer_list<boost::asio::mutable_buffer> reading_; // in use until the read completes
    buffer_list<boost::asio::const_buffer> writing_;
};

/// The completion token of the library's own I/O: `co_await` gives (error, ...).
inline constexpr auto tuple_awaitable = boost::asio::as_tuple(boost::asio::use_awaitable_t<boost::asio::any_io_executor>{});

/// Writes all of `buffers`. Every write of a request (the transport's, the
/// proxy's CONNECT) goes through this one instantiation of async_write:
/// each buffer type would be one more (issue 11).
inline auto write_all(byte_stream& s, std::span<const boost::asio::const_buffer> buffers)
{
    return boost::asio::async_write(s, buffers, tuple_awaitable);
}
inline auto write_all(byte_stream& s, const boost::asio::const_buffer& b)
{
    return write_all(s, std::span<const boost::asio::const_buffer>(&b, 1));
}

} // namespace evolink::detail

#endif
