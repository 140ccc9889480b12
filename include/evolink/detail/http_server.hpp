// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_HTTP_SERVER_HPP
#define EVOLINK_DETAIL_HTTP_SERVER_HPP

// A small HTTP/1.1 server (plain or TLS) for the callback receiver and the
// fake EvoLink server: keep-alive sessions, a header and body limit, a read
// timeout against slow clients, a cap on open connections, a pause after
// failed accepts (out of descriptors), and stop() that closes every socket so
// the io_context can run dry. All state lives on one strand. Test tools plug
// in through on_accept() and server_reply::writer (testing/faults.hpp).

#include <evolink/detail/byte_stream.hpp>
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
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
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
    /// Open connections at most: more are accepted and reset at once, so
    /// that a flood neither exhausts descriptors nor fills the backlog unseen.
    std::size_t max_connections = 1024;
};

/// The connection a custom reply writer sends on (plain or TLS), for test
/// tools that answer in odd ways (include/evolink/testing/faults.hpp).
class server_connection {
public:
    virtual ~server_connection() = default;
    /// Writes all `n` bytes at `data` (within the deadline of expires_after).
    virtual boost::asio::awaitable<boost::system::error_code> write(const char* data, std::size_t n) = 0;
    virtual void expires_after(std::chrono::steady_clock::duration d) = 0;
    /// The TCP socket underneath, e.g. to close it with a reset.
    virtual boost::asio::ip::tcp::socket& socket() = 0;
    virtual const http_server_limits& limits() const = 0;
    /// The listener stopped: give up.
    virtual bool stopped() const = 0;
};

/// Sends the answer its own way instead of the normal write; the connection
/// closes afterwards. Runs on the listener's strand.
using reply_writer = std::function<boost::asio::awaitable<void>(server_connection&, server_response&)>;

struct server_reply {
    server_response res;
    reply_writer writer{}; ///< empty: send `res` normally
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

// A template only so that a program that includes it and never listens
// does not compile its coroutines (see EVOLINK_LAZY_DECL in config.hpp):
// use it as http_listener.
template <class Lazy = void>
class basic_http_listener : public std::enable_shared_from_this<basic_http_listener<Lazy>> {
public:
    using tcp = boost::asio::ip::tcp;
    // Every I/O object's type depends on Lazy (lazy_t): else the compiler
    // would instantiate the calls on them when it reads this template.
    using acceptor_type = lazy_t<Lazy, tcp::acceptor>;
    using timer_type = lazy_t<Lazy, boost::asio::steady_timer>;
    using tcp_stream = lazy_t<Lazy, boost::beast::tcp_stream>;
    using tls_stream = lazy_t<Lazy, boost::beast::ssl_stream<boost::beast::tcp_stream>>;
    using stream_type = lazy_t<Lazy, byte_stream>;

    /// `tls` null: plain HTTP.
    basic_http_listener(boost::asio::any_io_executor strand, std::shared_ptr<boost::asio::ssl::context> tls,
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
        boost::asio::co_spawn(strand_, accept_loop(this->shared_from_this()), boost::asio::detached);
    }

    unsigned short port() const noexcept { return port_; }
    bool tls() const noexcept { return tls_ != nullptr; }
    const boost::asio::any_io_executor& strand() const noexcept { return strand_; }
    /// TCP connections accepted (rejected ones included), TLS handshakes done.
    std::size_t connections() const noexcept { return connections_; }
    std::size_t handshakes() const noexcept { return handshakes_; }
    /// Connections reset at once because max_connections were open.
    std::size_t rejected() const noexcept { return rejected_; }
    /// Failed accepts (e.g. out of descriptors), each followed by a pause.
    std::size_t accept_errors() const noexcept { return accept_errors_; }

    /// Before listen(), or on the strand: called with each accepted socket
    /// before anything else; false: the hook closed it (test tools drop
    /// connections this way).
    void on_accept(std::function<bool(tcp::socket&)> hook) { accept_hook_ = std::move(hook); }

    /// On the strand: stop accepting and close every connection.
    void stop()
    {
        stopped_ = true;
        boost::system::error_code ignored;
        acceptor_.close(ignored);
        backoff_.cancel();
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

private:
    static constexpr auto tuple = boost::asio::as_tuple(boost::asio::use_awaitable_t<boost::asio::any_io_executor>{});

    static constexpr std::chrono::milliseconds first_pause{10}, last_pause{1000};

    // An accept error such as EMFILE leaves the connection in the backlog, so
    // retrying at once would spin: pause 10 ms, doubling up to 1 s, until an
    // accept succeeds (descriptors freed up).
    boost::asio::awaitable<void> accept_loop(std::shared_ptr<basic_http_listener> self)
    {
        auto pause = first_pause;
        while (!stopped_) {
            auto [ec, sock] = co_await acceptor_.async_accept(tuple);
            if (stopped_ || ec == boost::asio::error::operation_aborted) co_return;
            if (ec == boost::asio::error::connection_aborted) continue; // the peer gave up: harmless
            if (ec) {
                ++accept_errors_;
                backoff_.expires_after(pause);
                co_await backoff_.async_wait(tuple);
                pause = std::min(pause * 2, last_pause);
                continue;
            }
            pause = first_pause;
            ++connections_;
            if (accept_hook_ && !accept_hook_(sock)) continue;
            if (open_ >= limits_.max_connections) {
                ++rejected_;
                boost::system::error_code ignored;
                sock.set_option(tcp::socket::linger(true, 0), ignored); // RST: no TIME_WAIT left here
                sock.close(ignored);
                continue;
            }
            ++open_;
            boost::asio::co_spawn(strand_, session(self, std::move(sock)), boost::asio::detached);
        }
    }

    // Every failure ends the session quietly: peers get nothing but HTTP.
    boost::asio::awaitable<void> session(std::shared_ptr<basic_http_listener> self, tcp::socket sock)
    {
        using namespace server_ns;
        auto id = next_id_++;
        try {
            boost::system::error_code nodelay_ignored; // answers are written whole (see transport::connect)
            sock.set_option(tcp::no_delay(true), nodelay_ignored);
            tcp_stream plain(std::move(sock));
            if (tls_) {
                tls_stream stream(std::move(plain), *tls_);
                live_[id] = &beast::get_lowest_layer(stream).socket();
                beast::get_lowest_layer(stream).expires_after(limits_.read_timeout);
                auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, tuple);
                if (!ec) {
                    ++handshakes_;
                    stream_type s(&stream, nullptr);
                    co_await serve(s);
                }
            } else {
                live_[id] = &plain.socket();
                stream_type s(nullptr, &plain);
                co_await serve(s);
            }
        } catch (const std::exception&) {
        }
        live_.erase(id);
        --open_;
        (void)self;
    }

    // One stream type for TLS and plain sessions: the HTTP reads and writes
    // below are compiled once (byte_stream.hpp).
    boost::asio::awaitable<void> serve(stream_type& stream)
    {
        using namespace server_ns;
        beast::flat_buffer buffer;
        for (bool first = true;; first = false) {
            http::request_parser<http::string_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(limits_.max_header));
            parser.body_limit(limits_.max_body);
            auto& lowest = stream.lowest();
            // Wait for the next request at most idle_timeout, then read it
            // whole within read_timeout (the first one: all of it within
            // read_timeout): a slow client cannot hold a session.
            bool idle_wait = !first && buffer.size() == 0;
            lowest.expires_after(idle_wait ? limits_.idle_timeout : limits_.read_timeout);
            auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, tuple);
            bool chunked = !ec && parser.chunked(); // refused before any of the body is parsed
            if (!ec && !chunked && !parser.is_done()) {
                if (idle_wait) lowest.expires_after(limits_.read_timeout);
                std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, tuple);
            }
            if (auto no = refusal_for(ec, chunked)) {
                co_await reply(stream, std::move(*no));
                co_return;
            }
            if (ec) co_return;
            auto req = parser.release();
            bool keep = req.keep_alive();
            auto answer = co_await handler_(req);
            if (stopped_) co_return;
            if (answer.writer) {
                connection conn(stream, *this);
                co_await answer.writer(conn, answer.res);
                co_return;
            }
            auto& res = answer.res;
            if (!keep) res.keep_alive(false);
            keep = res.keep_alive();
            if (!co_await reply(stream, std::move(res)) || !keep) co_return;
        }
    }

    class connection final : public server_connection {
    public:
        connection(stream_type& s, const basic_http_listener& l) : s_(s), l_(l) {}
        boost::asio::awaitable<boost::system::error_code> write(const char* data, std::size_t n) override
        {
            auto [ec, written] = co_await boost::asio::async_write(s_, boost::asio::buffer(data, n), tuple);
            co_return ec;
        }
        void expires_after(std::chrono::steady_clock::duration d) override
        {
            s_.lowest().expires_after(d);
        }
        tcp::socket& socket() override { return s_.lowest().socket(); }
        const http_server_limits& limits() const override { return l_.limits_; }
        bool stopped() const override { return l_.stopped_; }

    private:
        stream_type& s_;
        const basic_http_listener& l_;
    };

    /// What the HTTP layer answers itself, before the connection is closed:
    /// oversized headers or body (a Content-Length over the limit shows
    /// with the header), and any chunked body. Boost 1.81's chunked parser
    /// aborts (an assertion) on a final chunk split across reads
    /// (boostorg/beast#2861), which any peer could send; callbacks are small
    /// and carry a Content-Length.
    static std::optional<server_response> refusal_for(const boost::system::error_code& ec, bool chunked)
    {
        using namespace server_ns;
        auto refuse = [](unsigned status, std::string body) {
            auto res = plain_response(status, std::move(body));
            res.keep_alive(false);
            return res;
        };
        if (ec == http::error::header_limit) return refuse(431, "{\"error\":\"headers too large\"}");
        if (ec == http::error::body_limit)
            return refuse(413, "{\"error\":{\"code\":413,\"message\":\"request body too large\",\"type\":\"request_too_large_error\"}}");
        if (chunked)
            return refuse(411, "{\"error\":{\"code\":411,\"message\":\"chunked request bodies are not accepted: send "
                               "Content-Length\",\"type\":\"length_required\"}}");
        return std::nullopt;
    }

    boost::asio::awaitable<bool> reply(stream_type& stream, server_response res)
    {
        using namespace server_ns;
        res.prepare_payload();
        stream.lowest().expires_after(limits_.read_timeout);
        auto [ec, n] = co_await http::async_write(stream, res, tuple);
        co_return !ec;
    }

    boost::asio::any_io_executor strand_; // a strand: everything of the listener runs on it
    std::shared_ptr<boost::asio::ssl::context> tls_;
    http_handler handler_;
    http_server_limits limits_;
    acceptor_type acceptor_;
    unsigned short port_ = 0;
    bool stopped_ = false;
    std::uint64_t next_id_ = 0;
    std::map<std::uint64_t, tcp::socket*> live_;
    std::size_t open_ = 0;
    std::function<bool(tcp::socket&)> accept_hook_;
    timer_type backoff_{strand_};
    std::atomic<std::size_t> connections_{0}, handshakes_{0}, rejected_{0}, accept_errors_{0};
};

using http_listener = basic_http_listener<>;

} // namespace evolink::detail

#endif
