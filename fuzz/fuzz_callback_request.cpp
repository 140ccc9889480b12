// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// libFuzzer target: a raw HTTP/1.1 request, as a caller's own HTTP server
// would read it, handed to evolink::callback_receiver::handle().
//
// The bytes are parsed with Beast's request_parser (body limit 64 KiB);
// requests Beast refuses are not the receiver's business and are skipped, and
// so are chunked bodies, which the listener refuses with 411 (Boost 1.81's
// chunked parser asserts on some of them: boostorg/beast#2861). The receiver does not listen (listen = false) and uses a fixed
// secret, so seeds can reach the accepting path
// /evolink/callback/fuzzsecret0123456789abcdef. Its max_body is 16 KiB, below
// the parser's limit, so that 413 is reachable too.
//
// Checks: the status is one of 200, 400, 404, 405, 413, 503; a 200 only for a
// POST to the secret path with a task body; the response body never contains
// the secret. Accepted callbacks are delivered (posted to the receiver's
// strand) by polling a static io_context after each input.

#include <evolink/callback_receiver.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

namespace http = boost::beast::http;

constexpr std::string_view secret = "fuzzsecret0123456789abcdef";
constexpr std::string_view secret_path = "/evolink/callback/fuzzsecret0123456789abcdef";

void check(bool ok)
{
    if (!ok) __builtin_trap();
}

struct fixture {
    boost::asio::io_context io;
    evolink::callback_receiver receiver;

    fixture() : receiver(io.get_executor(), options()) {}

    static evolink::callback_receiver_options options()
    {
        evolink::callback_receiver_options o;
        o.listen = false;
        o.public_base_url = "https://hooks.example.com";
        o.secret = std::string(secret);
        o.max_body = 16 * 1024;
        return o;
    }
};

fixture& get_fixture()
{
    static fixture f;
    return f;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto& f = get_fixture();

    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024);
    boost::asio::const_buffer buf(data, size);
    boost::beast::error_code ec;
    // As the listener does (detail/http_server.hpp): the header first; a
    // chunked body is refused there with 411 before any of it is parsed.
    auto chunked = [&] { return parser.is_header_done() && parser.chunked(); };
    while (buf.size() > 0 && !parser.is_done()) {
        if (chunked()) return 0;
        if (parser.is_header_done()) parser.eager(true);
        auto used = parser.put(buf, ec);
        buf += used;
        if (ec == http::error::need_more) {
            ec = {};
            if (used == 0) break; // everything there is has been offered
            continue;
        }
        if (ec) return 0;
    }
    if (chunked()) return 0;
    if (!parser.is_done()) {
        if (!parser.got_some()) return 0; // put_eof() requires some input (an assertion)
        parser.put_eof(ec);
        if (ec || !parser.is_done()) return 0;
    }
    auto& req = parser.get();

    auto r = f.receiver.handle(req.method_string(), req.target(), req.body());
    switch (r.status) {
    case 200: case 400: case 404: case 405: case 413: case 503: break;
    default: check(false);
    }
    check(r.body.find(secret) == std::string::npos);
    if (r.status == 200) {
        std::string_view target = req.target();
        if (auto q = target.find('?'); q != std::string_view::npos) target = target.substr(0, q);
        check(req.method_string() == "POST");
        check(target == secret_path);
        check(evolink::parse_task(req.body()).has_value());
    }

    // Run the deliveries handle() posted, a bounded number of handlers.
    for (int i = 0; i < 64 && f.io.poll_one() > 0; ++i) {
    }
    f.io.restart();
    return 0;
}
