// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_PROXY_TUNNEL_HPP
#define EVOLINK_DETAIL_PROXY_TUNNEL_HPP

// The CONNECT tunnel through an HTTP proxy: the request, what its answer
// means (both without I/O, tested in tests/unit/test_proxy_rules.cpp), and
// the exchange on a TCP connection to the proxy. TLS then runs inside the
// tunnel with the origin itself (SNI and host name verification against the
// API host, never the proxy): detail/transport.hpp's connect().

#include <evolink/detail/async.hpp>
#include <evolink/detail/byte_stream.hpp>
#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/origin.hpp>
#include <evolink/detail/proxy_rules.hpp>
#include <evolink/error.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <string>
#include <string_view>

namespace evolink::detail {

namespace asio = boost::asio;

/// The most of a CONNECT answer's head read: a proxy's answer is a few lines.
inline constexpr std::size_t max_connect_head = 16 * 1024;

/// "host:port" of the origin, as CONNECT names it (IPv6 in brackets).
EVOLINK_INLINE std::string connect_authority(const origin& o)
{
    return (o.host.find(':') != std::string::npos ? "[" + o.host + "]" : o.host) + ":" + o.port;
}

/// The CONNECT request for `o` through `p` (with Proxy-Authorization when
/// the proxy URL has a user).
EVOLINK_INLINE std::string connect_request(const proxy_endpoint& p, const origin& o, std::string_view user_agent)
{
    auto authority = connect_authority(o);
    std::string r = "CONNECT " + authority + " HTTP/1.1\r\nHost: " + authority + "\r\n";
    if (auto auth = proxy_authorization(p); !auth.empty()) r += "Proxy-Authorization: " + auth + "\r\n";
    if (!user_agent.empty()) r += "User-Agent: " + std::string(user_agent) + "\r\n";
    r += "\r\n";
    return r;
}

/// What a proxy's answer to CONNECT means. `head`: its head, up to the
/// blank line. Empty message: the tunnel is open.
struct tunnel_verdict {
    error_code ec;
    std::string message; ///< after "the proxy ...": what it answered, and what to check
    int status = 0;
};

EVOLINK_INLINE tunnel_verdict judge_connect_answer(std::string_view head, const origin& o)
{
    tunnel_verdict v;
    auto line = head.substr(0, head.find("\r\n"));
    // "HTTP/1.1 200 Connection established"
    bool http = line.size() >= 12 && line.starts_with("HTTP/1.") && line[8] == ' ' && line[9] >= '1' && line[9] <= '5' &&
                line[10] >= '0' && line[10] <= '9' && line[11] >= '0' && line[11] <= '9' &&
                (line.size() == 12 || line[12] == ' ');
    if (!http) {
        v.ec = make_error_code(errc::connect_failed);
        v.message = "answered CONNECT with something that is not HTTP (" + quoted(line, 40) + ")";
        return v;
    }
    v.status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    if (v.status >= 200 && v.status <= 299) return v;
    std::string said = "answered " + std::string(line.substr(9)) + " to CONNECT " + connect_authority(o);
    if (v.status == 407 || v.status == 401) { // 401: some proxies (tinyproxy) say it so
        v.ec = make_error_code(errc::proxy_refused);
        v.message = said + ": it wants credentials, or refused the ones in the proxy URL (http://user:password@host:port)";
    } else if (v.status == 403 || v.status == 405) {
        v.ec = make_error_code(errc::proxy_refused);
        v.message = said + ": it does not allow a tunnel to this host and port";
    } else {
        v.ec = make_error_code(errc::connect_failed); // 502, 503...: the proxy could not reach the host (now)
        v.message = said;
    }
    return v;
}

/// Opens the tunnel to `o` on `s`, a TCP connection to the proxy `p`,
/// within the stream's expiry. An I/O failure comes back as (ec, phase) for
/// the caller to describe; an answer as its verdict.
struct tunnel_result {
    error_code io_error;
    std::string phase;
    tunnel_verdict verdict;
};

EVOLINK_INLINE asio::awaitable<tunnel_result> open_tunnel(boost::beast::tcp_stream& tcp, const proxy_endpoint& p,
                                                          const origin& o, std::string_view user_agent)
{
    // Through the type-erased stream, as every HTTP exchange: the write
    // below is the transport's own (write_all), not one more over tcp_stream.
    byte_stream s(nullptr, &tcp);
    tunnel_result r;
    auto request = connect_request(p, o, user_agent);
    auto [wec, written] = co_await write_all(s, asio::buffer(request));
    (void)written;
    if (wec) {
        r.io_error = wec;
        r.phase = "sending CONNECT to the proxy";
        co_return r;
    }
    std::string head;
    auto [rec, n] = co_await asio::async_read_until(s, asio::dynamic_buffer(head, max_connect_head), "\r\n\r\n",
                                                    tuple_awaitable);
    if (rec == asio::error::not_found) {
        r.verdict.ec = make_error_code(errc::connect_failed);
        r.verdict.message = "answered CONNECT with a head over " + std::to_string(max_connect_head / 1024) + " KiB";
        co_return r;
    }
    if (rec) {
        r.io_error = rec;
        r.phase = "reading the proxy's answer to CONNECT";
        co_return r;
    }
    r.verdict = judge_connect_answer(std::string_view(head).substr(0, n), o);
    if (!r.verdict.ec && head.size() > n) { // the origin speaks only after our TLS hello
        r.verdict.ec = make_error_code(errc::connect_failed);
        r.verdict.message = "sent bytes after its answer to CONNECT, before the tunnel carried anything";
    }
    co_return r;
}

} // namespace evolink::detail

#endif
