// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_FAULTS_HPP
#define EVOLINK_TESTING_FAULTS_HPP

/// Answers broken on purpose and connections dropped at once, for the fake
/// server. They plug into the production listener (detail/http_server.hpp)
/// through its neutral hooks: server_reply::writer and on_accept().

#include <evolink/detail/http_server.hpp>
#include <evolink/testing/reply_fault.hpp>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <sstream>
#include <string>

namespace evolink::testing {

namespace faults_detail {

inline void reset(boost::asio::ip::tcp::socket& sock)
{
    boost::system::error_code ignored;
    sock.set_option(boost::asio::ip::tcp::socket::linger(true, 0), ignored); // RST, not FIN
    sock.close(ignored);
}

/// Sends `res` broken as `kind` says, then resets the connection.
inline boost::asio::awaitable<void> write_broken(evolink::detail::server_connection& conn,
                                                 evolink::detail::server_response& res, reply_fault kind,
                                                 std::chrono::milliseconds slow_for)
{
    if (kind == reply_fault::reset) {
        reset(conn.socket());
        co_return;
    }
    res.keep_alive(false);
    res.prepare_payload();
    if (kind == reply_fault::wrong_length) res.content_length(res.body().size() + 1000);
    std::ostringstream os;
    os << res;
    std::string bytes = os.str();
    auto head = bytes.find("\r\n\r\n") + 4;
    auto body = bytes.size() - head;
    conn.expires_after(conn.limits().read_timeout + slow_for);
    if (kind == reply_fault::cut_body) {
        co_await conn.write(bytes.data(), head + body / 2);
    } else if (kind == reply_fault::wrong_length) {
        co_await conn.write(bytes.data(), bytes.size());
    } else { // slow_body: the headers at once, the body in ten pieces
        auto ec = co_await conn.write(bytes.data(), head);
        boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
        for (std::size_t i = 0, piece = (body + 9) / 10; !ec && i < body && !conn.stopped(); i += piece) {
            timer.expires_after(slow_for / 10);
            co_await timer.async_wait(boost::asio::as_tuple(boost::asio::use_awaitable));
            ec = co_await conn.write(bytes.data() + head + i, std::min(piece, body - i));
        }
    }
    reset(conn.socket());
}

} // namespace faults_detail

/// The writer that breaks an answer as `kind` says (`slow_for`: the body's
/// pace for slow_body); none: no writer, the answer goes out normally.
inline evolink::detail::reply_writer broken_reply(reply_fault kind, std::chrono::milliseconds slow_for = {})
{
    if (kind == reply_fault::none) return {};
    return [kind, slow_for](evolink::detail::server_connection& conn, evolink::detail::server_response& res) {
        return faults_detail::write_broken(conn, res, kind, slow_for);
    };
}

/// Resets the next connections a listener accepts, before any TLS handshake
/// (the client sees a failed handshake). Install hook() with
/// http_listener::on_accept; call drop_next() on the listener's strand.
class connection_dropper {
public:
    void drop_next(std::size_t n) { *pending_ += n; }

    std::function<bool(boost::asio::ip::tcp::socket&)> hook() const
    {
        return [pending = pending_](boost::asio::ip::tcp::socket& sock) {
            if (*pending == 0) return true;
            --*pending;
            faults_detail::reset(sock);
            return false;
        };
    }

private:
    std::shared_ptr<std::size_t> pending_ = std::make_shared<std::size_t>(0);
};

} // namespace evolink::testing

#endif
