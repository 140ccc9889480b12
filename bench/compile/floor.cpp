// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// The floor of bench/compile: what any C++20 client of an HTTPS JSON API
// costs to build with Boost. A coroutine does one verified TLS GET with Beast
// and parses the JSON answer; nothing else. consumer.cpp (the same job done
// with evolink: submit a text-to-image task and wait for it) is measured as
// a ratio of this file's compile time, compiler memory and binary size.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>

#include <iostream>
#include <string>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

asio::awaitable<void> get_task(asio::ssl::context& ctx, std::string host, std::string port, std::string id)
{
    auto ex = co_await asio::this_coro::executor;
    asio::ip::tcp::resolver resolver(ex);
    beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
    SSL_set_tlsext_host_name(stream.native_handle(), host.c_str());
    stream.set_verify_callback(asio::ssl::host_name_verification(host));
    auto endpoints = co_await resolver.async_resolve(host, port, asio::use_awaitable);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    http::request<http::empty_body> req{http::verb::get, "/v1/tasks/" + id, 11};
    req.set(http::field::host, host);
    req.set(http::field::authorization, "Bearer key");
    co_await http::async_write(stream, req, asio::use_awaitable);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    co_await http::async_read(stream, buffer, res, asio::use_awaitable);
    auto doc = boost::json::parse(res.body());
    std::cout << doc.as_object().at("status").as_string() << "\n";
}

int main(int argc, char** argv)
{
    asio::io_context io;
    asio::ssl::context ctx(asio::ssl::context::tls_client);
    ctx.set_default_verify_paths();
    ctx.set_verify_mode(asio::ssl::verify_peer);
    asio::co_spawn(io, get_task(ctx, argc > 1 ? argv[1] : "localhost", "443", "task-1"), asio::detached);
    io.run();
}
