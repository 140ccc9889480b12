// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// detail::byte_stream: the one stream type that the client's and the
// receiver's HTTP reads and writes run on, over TLS or plain TCP on loopback.
// What it must keep: every byte of a long buffer sequence (it passes at most
// 16 buffers per write), the order, and per-operation cancellation.
#include "../support/fixture.hpp"

#include <evolink/detail/byte_stream.hpp>
#include <evolink/testing/certificates.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace {

using evolink::detail::byte_stream;
using tcp = asio::ip::tcp;
namespace beast = boost::beast;
constexpr auto tuple = asio::as_tuple(asio::use_awaitable);

// A connected pair on loopback, TLS (handshake done) or plain; each side seen
// through a byte_stream.
struct stream_pair {
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls_a, tls_b;
    std::optional<beast::tcp_stream> plain_a, plain_b;
    std::unique_ptr<byte_stream> a, b;
};

asio::awaitable<void> connect_pair(stream_pair& p, bool tls, asio::ssl::context& server_ctx,
                                   asio::ssl::context& client_ctx)
{
    auto ex = co_await asio::this_coro::executor;
    tcp::acceptor acceptor(ex, {asio::ip::make_address("127.0.0.1"), 0});
    tcp::socket client(ex);
    auto endpoint = acceptor.local_endpoint();
    co_await client.async_connect(endpoint, asio::use_awaitable);
    auto server = co_await acceptor.async_accept(asio::use_awaitable);
    if (!tls) {
        p.plain_a.emplace(std::move(client));
        p.plain_b.emplace(std::move(server));
        p.a = std::make_unique<byte_stream>(nullptr, &*p.plain_a);
        p.b = std::make_unique<byte_stream>(nullptr, &*p.plain_b);
        co_return;
    }
    p.tls_a.emplace(beast::tcp_stream(std::move(client)), client_ctx);
    p.tls_b.emplace(beast::tcp_stream(std::move(server)), server_ctx);
    p.tls_a->set_verify_mode(asio::ssl::verify_peer);
    p.tls_a->set_verify_callback(asio::ssl::host_name_verification("127.0.0.1"));
    // Both handshakes at once: each needs the other's messages.
    std::optional<boost::system::error_code> server_ec;
    p.tls_b->async_handshake(asio::ssl::stream_base::server,
                             [&](boost::system::error_code ec) { server_ec = ec; });
    auto [client_ec] = co_await p.tls_a->async_handshake(asio::ssl::stream_base::client, tuple);
    REQUIRE_FALSE(client_ec);
    asio::steady_timer t(ex);
    while (!server_ec) {
        t.expires_after(1ms);
        co_await t.async_wait(asio::use_awaitable);
    }
    REQUIRE_FALSE(*server_ec);
    p.a = std::make_unique<byte_stream>(&*p.tls_a, nullptr);
    p.b = std::make_unique<byte_stream>(&*p.tls_b, nullptr);
}

struct contexts {
    evolink::testing::test_certificates certs = evolink::testing::test_certificates::generate();
    asio::ssl::context server{asio::ssl::context::tls_server}, client{asio::ssl::context::tls_client};
    contexts()
    {
        server.use_certificate_chain(asio::buffer(certs.cert_pem));
        server.use_private_key(asio::buffer(certs.key_pem), asio::ssl::context::pem);
        client.add_certificate_authority(asio::buffer(certs.ca_pem));
    }
};

// Runs `body(pair)` on a TLS pair, then on a plain TCP pair.
template <class Body>
void on_both_streams(Body body)
{
    contexts ctx;
    for (bool tls : {true, false}) {
        INFO((tls ? "TLS" : "plain TCP"));
        asio::io_context io;
        std::exception_ptr error;
        auto run = [&]() -> asio::awaitable<void> {
            stream_pair p;
            co_await connect_pair(p, tls, ctx.server, ctx.client);
            co_await body(p);
        };
        asio::co_spawn(io, run(), [&](std::exception_ptr e) { error = e; });
        io.run();
        if (error) std::rethrow_exception(error);
    }
}

} // namespace

TEST_CASE("byte_stream carries a sequence of 40 buffers whole and in order, over TLS and plain TCP")
{
    on_both_streams([](stream_pair& p) -> asio::awaitable<void> {
        // 40 pieces of different sizes, empty ones among them: more than
        // the 16 buffers a byte_stream write passes on at a time.
        std::vector<std::string> pieces;
        std::vector<asio::const_buffer> seq;
        std::string expected;
        for (int i = 0; i < 40; ++i) {
            pieces.push_back(i % 7 == 3 ? std::string() : std::string(1 + i * 37 % 5000, char('a' + i % 26)));
            expected += pieces.back();
        }
        for (auto& s : pieces) seq.push_back(asio::buffer(s));
        std::string got(expected.size(), '\0');
        std::optional<boost::system::error_code> read_ec;
        asio::async_read(*p.b, asio::buffer(got), [&](boost::system::error_code ec, std::size_t) { read_ec = ec; });
        auto [ec, n] = co_await asio::async_write(*p.a, seq, tuple);
        CHECK_FALSE(ec);
        CHECK(n == expected.size());
        auto ex = co_await asio::this_coro::executor; // named first: g++ 12 and co_await in arguments
        asio::steady_timer t(ex);
        while (!read_ec) {
            t.expires_after(1ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        CHECK_FALSE(*read_ec);
        CHECK(got == expected);
    });
}

TEST_CASE("byte_stream passes a cancellation on to the read it started, over TLS and plain TCP")
{
    on_both_streams([](stream_pair& p) -> asio::awaitable<void> {
        asio::cancellation_signal cancel;
        char byte = 0;
        std::optional<boost::system::error_code> read_ec;
        p.b->async_read_some(asio::buffer(&byte, 1),
                             asio::bind_cancellation_slot(cancel.slot(), [&](boost::system::error_code e, std::size_t) {
                                 read_ec = e;
                             }));
        auto ex = co_await asio::this_coro::executor; // named first: g++ 12 and co_await in arguments
        asio::steady_timer t(ex);
        t.expires_after(20ms);
        co_await t.async_wait(asio::use_awaitable);
        CHECK_FALSE(read_ec); // nothing was sent: the read is still pending
        cancel.emit(asio::cancellation_type::terminal);
        while (!read_ec) {
            t.expires_after(1ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        CHECK(*read_ec == asio::error::operation_aborted);
    });
}
