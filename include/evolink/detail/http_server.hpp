// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_HTTP_SERVER_HPP
#define EVOLINK_DETAIL_HTTP_SERVER_HPP

// A small HTTP/1.1 server (plain or TLS) for the callback receiver and the
// fake EvoLink server: keep-alive sessions, a header and body limit, a read
// timeout against slow clients, and stop() that closes every socket so the
// io_context can run dry. All state lives on one strand.

#include <evolink/detail/config.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <sstream>
#include <string>

namespace evolink::detail {

namespace server_ns {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
} // namespace server_ns

using server_request = boost::beast::http::request<boost::beast::http::string_body>;
using server_response = boost::beast::http::response<boost::beast::http::string_body>;

struct http_server_limits {
    std::size_t max_header = 8 * 1024;
    std::size_t max_body = 1024 * 1024;
    std::chrono::milliseconds read_timeout{10'000}; ///< per request: headers and body
    std::chrono::milliseconds idle_timeout{60'000}; ///< between kept-alive requests
};

/// How an answer goes out: normally, or broken on purpose (fault injection
/// in the fake server).
enum class reply_fault {
    none,
    reset,     ///< close the connection (RST) without answering
    cut_body,  ///< send the headers and half the body, then close
    slow_body, ///< send the headers, then the body in pieces spread over `slow_for`
    /// Content-Length says 1000 bytes more than the body; the whole body is
    /// sent, then the connection closes.
    wrong_length,
};

struct server_reply {
    server_response res;
    reply_fault fault = reply_fault::none;
    std::chrono::milliseconds slow_for{0};
};

/// Answers one request. Set `res.keep_alive(false)` to close afterwards.
using http_handler = std::function<boost::asio::awaitable<server_reply>(server_request&)>;

EVOLINK_INLINE server_response plain_response(unsigned status, std::string body,
                                              std::string content_type = "application/json")
{
    namespace http = boost::beast::http;
    server_response res{static_cast<http::status>(status), 11};
    if (!content_type.empty()) res.set(http::field::content_type, content_type);
    res.body() = std::move(body);
    return res;
}

class http_listener : public std::enable_shared_from_this<http_listener> {
public:
    using tcp = boost::asio::ip::tcp;

    /// `tls` null: plain HTTP.
    http_listener(boost::asio::strand<boost::asio::any_io_executor> strand, std::shared_ptr<boost::asio::ssl::context> tls,
                  http_handler handler, http_server_limits limits)
        : strand_(std::move(strand)), tls_(std::move(tls)), handler_(std::move(handler)), limits_(limits),
          acceptor_(strand_)
    {
    }

    /// Binds and listens (throws boost::system::system_error); then accepts
    /// in the background.
    void listen(const tcp::endpoint& ep)
    {
        acceptor_.open(ep.protocol());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
        boost::asio::co_spawn(strand_, accept_loop(shared_from_this()), boost::asio::detached);
    }

    unsigned short port() const noexcept { return port_; }
    bool tls() const noexcept { return tls_ != nullptr; }
    const boost::asio::strand<boost::asio::any_io_executor>& strand() const noexcept { return strand_; }
    std::size_t connections() const noexcept { return connections_; }
    std::size_t handshakes() const noexcept { return handshakes_; }

    /// On the strand: stop accepting and close every connection.
    void stop()
    {
        stopped_ = true;
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        close_connections();
    }

    /// On the strand: close every connection, keep accepting.
    void close_connections()
    {
        boost::system::error_code ignored;
        for (auto& [id, sock] : live_) {
            sock->shutdown(tcp::socket::shutdown_both, ignored);
            sock->close(ignored);
        }
    }

    bool stopped() const noexcept { return stopped_; }

    /// On the strand: close the next `n` accepted connections at once, before
    /// any TLS handshake (a failed handshake, seen from the client).
    void drop_next_connections(std::size_t n) { drop_ += n; }

private:
    static constexpr auto tuple = boost::asio::as_tuple(boost::asio::use_awaitable_t<boost::asio::any_io_executor>{});

    boost::asio::awaitable<void> accept_loop(std::shared_ptr<http_listener> self)
    {
        while (!stopped_) {
            auto [ec, sock] = co_await acceptor_.async_accept(tuple);
            if (ec) {
                if (stopped_ || ec == boost::asio::error::operation_aborted) co_return;
                continue;
            }
            ++connections_;
            if (drop_ > 0) {
                --drop_;
                boost::system::error_code ignored;
                sock.set_option(tcp::socket::linger(true, 0), ignored); // RST, not FIN
                sock.close(ignored);
                continue;
            }
            boost::asio::co_spawn(strand_, session(self, std::move(sock)), boost::asio::detached);
        }
    }

    // Every failure ends the session quietly: peers get nothing but HTTP.
    boost::asio::awaitable<void> session(std::shared_ptr<http_listener> self, tcp::socket sock)
    {
        using namespace server_ns;
        auto id = next_id_++;
        try {
            beast::tcp_stream tcp_stream(std::move(sock));
            if (tls_) {
                beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), *tls_);
                live_[id] = &beast::get_lowest_layer(stream).socket();
                beast::get_lowest_layer(stream).expires_after(limits_.read_timeout);
                auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, tuple);
                if (!ec) {
                    ++handshakes_;
                    co_await serve(stream);
                }
            } else {
                live_[id] = &tcp_stream.socket();
                co_await serve(tcp_stream);
            }
        } catch (const std::exception&) {
        }
        live_.erase(id);
        (void)self;
    }

    template <class Stream>
    boost::asio::awaitable<void> serve(Stream& stream)
    {
        using namespace server_ns;
        beast::flat_buffer buffer;
        for (bool first = true;; first = false) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(limits_.max_header));
            parser.body_limit(limits_.max_body);
            auto& lowest = beast::get_lowest_layer(stream);
            // Wait for the next request at most idle_timeout, then read it
            // whole within read_timeout: a slow client cannot hold a session.
            if (!first && buffer.size() == 0) {
                lowest.expires_after(limits_.idle_timeout);
                auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, tuple);
                if (ec) co_return;
                lowest.expires_after(limits_.read_timeout);
                if (!parser.is_done()) {
                    std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, tuple);
                    if (ec && ec != http::error::body_limit) co_return;
                    if (ec) { co_await reply(stream, too_large()); co_return; }
                }
            } else {
                lowest.expires_after(limits_.read_timeout);
                auto [ec, n] = co_await http::async_read(stream, buffer, parser, tuple);
                if (ec == http::error::body_limit) { co_await reply(stream, too_large()); co_return; }
                if (ec == http::error::header_limit) {
                    auto res = plain_response(431, "{\"error\":\"headers too large\"}");
                    res.keep_alive(false);
                    co_await reply(stream, std::move(res));
                    co_return;
                }
                if (ec) co_return;
            }
            auto req = parser.release();
            bool keep = req.keep_alive();
            auto answer = co_await handler_(req);
            if (stopped_) co_return;
            if (answer.fault != reply_fault::none) {
                co_await broken_reply(stream, std::move(answer));
                co_return;
            }
            auto& res = answer.res;
            if (!keep) res.keep_alive(false);
            keep = res.keep_alive();
            if (!co_await reply(stream, std::move(res)) || !keep) co_return;
        }
    }

    /// Sends an answer broken as asked, then closes the connection.
    template <class Stream>
    boost::asio::awaitable<void> broken_reply(Stream& stream, server_reply answer)
    {
        using namespace server_ns;
        auto& sock = beast::get_lowest_layer(stream).socket();
        boost::system::error_code ignored;
        if (answer.fault == reply_fault::reset) {
            sock.set_option(tcp::socket::linger(true, 0), ignored);
            sock.close(ignored);
            co_return;
        }
        answer.res.keep_alive(false);
        answer.res.prepare_payload();
        if (answer.fault == reply_fault::wrong_length) answer.res.content_length(answer.res.body().size() + 1000);
        std::ostringstream os;
        os << answer.res;
        std::string bytes = os.str();
        auto head = bytes.find("\r\n\r\n") + 4;
        auto body = bytes.size() - head;
        beast::get_lowest_layer(stream).expires_after(limits_.read_timeout + answer.slow_for);
        auto send = [&](std::size_t from, std::size_t n) {
            return boost::asio::async_write(stream, boost::asio::buffer(bytes.data() + from, n), tuple);
        };
        if (answer.fault == reply_fault::cut_body) {
            co_await send(0, head + body / 2);
        } else if (answer.fault == reply_fault::wrong_length) {
            co_await send(0, bytes.size());
        } else { // slow_body: the headers at once, the body in ten pieces
            auto [ec, n] = co_await send(0, head);
            boost::asio::steady_timer timer(strand_);
            for (std::size_t i = 0, piece = (body + 9) / 10; !ec && i < body && !stopped_; i += piece) {
                timer.expires_after(answer.slow_for / 10);
                co_await timer.async_wait(tuple);
                std::tie(ec, n) = co_await send(head + i, std::min(piece, body - i));
            }
        }
        sock.set_option(tcp::socket::linger(true, 0), ignored);
        sock.close(ignored);
    }

    static server_response too_large()
    {
        auto res = plain_response(413, "{\"error\":{\"code\":413,\"message\":\"request body too large\",\"type\":\"request_too_large_error\"}}");
        res.keep_alive(false);
        return res;
    }

    template <class Stream>
    boost::asio::awaitable<bool> reply(Stream& stream, server_response res)
    {
        using namespace server_ns;
        res.prepare_payload();
        beast::get_lowest_layer(stream).expires_after(limits_.read_timeout);
        auto [ec, n] = co_await http::async_write(stream, res, tuple);
        co_return !ec;
    }

    boost::asio::strand<boost::asio::any_io_executor> strand_;
    std::shared_ptr<boost::asio::ssl::context> tls_;
    http_handler handler_;
    http_server_limits limits_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    bool stopped_ = false;
    std::uint64_t next_id_ = 0;
    std::map<std::uint64_t, tcp::socket*> live_;
    std::size_t drop_ = 0;
    std::atomic<std::size_t> connections_{0}, handshakes_{0};
};

} // namespace evolink::detail

#endif
