// cpp20_06_embedded_server: your own HTTP server, the client and the callback
// receiver on one io_context, run by the service.
//
// POST /images (the body is the prompt) starts client.image() and is answered
// 202 with the task id from wait_options::on_submitted; the wait goes on.
// EvoLink's callback comes to the same server and port, to receiver.handle()
// (a receiver with listen = false has no socket). SIGINT or SIGTERM:
// client.shutdown(), the server stops, io.run() returns. The full version (a
// job table, GET, error mapping, a self-test): embed_server.cpp.
//
//   build/examples/cpp20_06_embedded_server          the fake server: it POSTs to itself once, then stops
//   build/examples/cpp20_06_embedded_server --real   the real API (EVOLINK_API_KEY; billed) on
//       127.0.0.1:8080, with EVOLINK_CALLBACK_BASE_URL: the public https URL your proxy forwards to it

#include "example_env.hpp"   // also <evolink.hpp>, <boost/asio.hpp>, <iostream>

#include <boost/asio/experimental/channel.hpp>
#include <boost/beast.hpp>
#include <csignal>

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using task_id_channel = asio::experimental::channel<void(evolink::error_code, std::string)>;

// One request per connection: EvoLink's callback, or POST /images.
asio::awaitable<void> session(tcp::socket socket, evolink::client& client, evolink::callback_receiver& receiver,
                              bool once)
{
    boost::beast::tcp_stream stream(std::move(socket));
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    stream.expires_after(30s);   // for the request, then the answer (an idle connection delays a shutdown as long)
    co_await http::async_read(stream, buffer, req, asio::use_awaitable);
    http::response<http::string_body> res{http::status::not_found, req.version()};
    if (req.target().starts_with(receiver.path() + "/")) {   // it checks the secret and wakes the wait
        auto r = receiver.handle(req.method_string(), req.target(), req.body());
        std::cout << "callback on this server: " << r.status << '\n';
        res.result(r.status);
        res.body() = r.body;
    } else if (req.method() == http::verb::post && req.target() == "/images") {
        auto created = std::make_shared<task_id_channel>(stream.get_executor(), 1);
        evolink::wait_options wo;
        wo.callbacks = &receiver;   // the request carries receiver.callback_url(): this server
        wo.on_submitted = [created](const evolink::task& t) { created->try_send(evolink::error_code(), t.id); };
        client.image(evolink::text_to_image{.prompt = req.body()}, wo, [created, once, &receiver](auto ec, auto) {
            created->try_send(ec, "");   // the end of the wait: the answer only if no task was created
            std::cout << "wait ended: " << (ec ? ec.message() : "completed") << ", callbacks received: "
                      << receiver.accepted() << '\n';
            if (once) std::raise(SIGTERM);   // the fake run ends here, as on `kill`
        });
        auto [ec, id] = co_await created->async_receive(asio::as_tuple(asio::use_awaitable));
        res.result(ec ? http::status::bad_gateway : http::status::accepted);
        res.body() = ec ? ec.message() : id;
    }
    res.keep_alive(false);
    res.prepare_payload();
    stream.expires_after(30s);
    co_await http::async_write(stream, res, asio::use_awaitable);
}

int main(int argc, char** argv)
{
    asio::io_context io;   // a fake task ends 400 ms after its creation, then calls back
    example::env env(io.get_executor(), argc, argv, {.script = {.progress = {50}, .step_interval = 200ms}});
    const char* public_url = std::getenv("EVOLINK_CALLBACK_BASE_URL");
    if (env.real() && !public_url) { std::cerr << "error: --real needs EVOLINK_CALLBACK_BASE_URL\n"; return 2; }
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), env.real() ? 8080 : 0));
    auto own_url = "http://127.0.0.1:" + std::to_string(acceptor.local_endpoint().port());
    evolink::callback_receiver_options ro;
    ro.listen = false;   // no socket: callbacks come through this server, at its URL
    ro.public_base_url = env.real() ? public_url : own_url;
    evolink::callback_receiver receiver(io.get_executor(), ro);
    evolink::client client(io.get_executor(), env.client_options());

    asio::co_spawn(io, [&]() -> asio::awaitable<void> {   // the server, until the acceptor closes
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            asio::co_spawn(io, session(std::move(socket), client, receiver, !env.real()), asio::detached);
        }
    }, asio::detached);
    if (!env.real())   // the fake run: its own HTTP client, once (example_env.hpp)
        asio::co_spawn(io, example::post_once(acceptor.local_endpoint(), "/images", "A lighthouse on a cliff at dawn"),
                       [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](auto, int) {   // stop all that keeps io.run() busy
        acceptor.close();
        receiver.stop();
        client.shutdown(10s, [&](auto, std::size_t n) {   // the waits end (their tasks go on), then:
            std::cout << "client shut down, " << n << " operation(s) were running\n";
            env.stop();   // the fake server last: it answers the client until then
        });
    });
    io.run();
    std::cout << "io_context::run returned\n";
    return env.exit_code();
}
