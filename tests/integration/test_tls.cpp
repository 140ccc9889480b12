// TLS verification is real: the wrong CA, the wrong host name and an
// untrusted self-made CA all fail; each trusted-CA source works.
#include "support.hpp"

#include <cstdio>
#include <fstream>

using evolink::testing::fake_server;
using evolink::testing::fake_server_options;
using evolink::testing::test_certificates;

namespace {

/// Submits once; returns the error code and fills `diag`.
evolink::error_code submit_once(asio::io_context& io, fake_server& server, const evolink::client_options& opts,
                                evolink::diagnostics& diag)
{
    evolink::error_code result = evolink::make_error_code(evolink::errc::bad_response);
    evolink::client client(io.get_executor(), opts);
    run_test(io, server, [&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "p";
        auto [ec, t] = co_await client.submit(req, diag, asio::as_tuple(asio::use_awaitable));
        result = ec;
    });
    return result;
}

} // namespace

TEST_CASE("the server's own CA is trusted when given as in-memory PEM")
{
    env_guard env;
    asio::io_context io;
    fake_server server(io.get_executor());
    evolink::diagnostics diag;
    CHECK(submit_once(io, server, server.client_options(), diag) == evolink::error_code{});
    CHECK(server.handshakes() == 1);
}

TEST_CASE("a certificate signed by another CA fails verification")
{
    env_guard env;
    asio::io_context io;
    fake_server server(io.get_executor());
    auto opts = server.client_options();
    opts.tls.ca_pem = test_certificates::generate().ca_pem; // a different CA
    evolink::diagnostics diag;
    CHECK(submit_once(io, server, opts, diag) == evolink::errc::tls_failed);
    CHECK(contains(diag.message, "certificate"));
    CHECK(server.handshakes() == 0);
    CHECK(server.requests().empty());
}

TEST_CASE("the system trust store alone does not trust a test CA")
{
    env_guard env;
    asio::io_context io;
    fake_server server(io.get_executor());
    auto opts = server.client_options();
    opts.tls.ca_pem.clear();
    opts.tls.use_system_store = true;
    evolink::diagnostics diag;
    CHECK(submit_once(io, server, opts, diag) == evolink::errc::tls_failed);
    CHECK(server.requests().empty());
}

TEST_CASE("a certificate for another host name fails verification")
{
    env_guard env;
    asio::io_context io;
    fake_server_options so;
    so.certificates = test_certificates::generate({"api.evolink.invalid"});
    fake_server server(io.get_executor(), so);
    evolink::diagnostics diag;
    // Trusted CA, but the certificate names api.evolink.invalid, not 127.0.0.1.
    CHECK(submit_once(io, server, server.client_options(), diag) == evolink::errc::tls_failed);
    INFO(diag.message);
    CHECK(contains(diag.message, "mismatch"));
    CHECK(server.requests().empty());
}

TEST_CASE("a DNS name in the base URL is verified against the certificate (with SNI)")
{
    env_guard env;
    asio::io_context io;
    fake_server server(io.get_executor()); // certificate for localhost, 127.0.0.1, ::1
    auto opts = server.client_options();
    opts.base_url = "https://localhost:" + std::to_string(server.port());
    evolink::diagnostics diag;
    CHECK(submit_once(io, server, opts, diag) == evolink::error_code{});

    asio::io_context io2;
    fake_server_options so;
    so.certificates = test_certificates::generate({"127.0.0.1"}); // no DNS name
    fake_server server2(io2.get_executor(), so);
    auto opts2 = server2.client_options();
    opts2.base_url = "https://localhost:" + std::to_string(server2.port());
    CHECK(submit_once(io2, server2, opts2, diag) == evolink::errc::tls_failed);
}

TEST_CASE("a CA file and a caller-built ssl::context are honoured")
{
    env_guard env;
    asio::io_context io;
    fake_server server(io.get_executor());
    char path[] = "/tmp/evolink-ca-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    std::ofstream(path) << server.ca_pem();
    auto opts = server.client_options();
    opts.tls.ca_pem.clear();
    opts.tls.ca_file = path;
    evolink::diagnostics diag;
    CHECK(submit_once(io, server, opts, diag) == evolink::error_code{});
    std::remove(path);

    asio::io_context io2;
    fake_server server2(io2.get_executor());
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    ctx->set_verify_mode(asio::ssl::verify_peer);
    ctx->add_certificate_authority(asio::buffer(server2.ca_pem()));
    auto opts2 = server2.client_options();
    opts2.tls.ca_pem.clear();
    opts2.tls.context = ctx;
    CHECK(submit_once(io2, server2, opts2, diag) == evolink::error_code{});

    // The caller's context without the CA: still verified, still refused.
    asio::io_context io3;
    fake_server server3(io3.get_executor());
    auto opts3 = server3.client_options();
    opts3.tls.context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    opts3.tls.context->set_verify_mode(asio::ssl::verify_peer);
    CHECK(submit_once(io3, server3, opts3, diag) == evolink::errc::tls_failed);
}

TEST_CASE("connecting to a closed port is connect_failed, with the address in the message")
{
    env_guard env;
    asio::io_context io;
    fake_server server(io.get_executor());
    auto opts = server.client_options();
    // A port that was free a moment ago.
    asio::ip::tcp::acceptor probe(io, {asio::ip::make_address("127.0.0.1"), 0});
    auto port = probe.local_endpoint().port();
    probe.close();
    opts.base_url = "https://127.0.0.1:" + std::to_string(port);
    evolink::diagnostics diag;
    CHECK(submit_once(io, server, opts, diag) == evolink::errc::connect_failed);
    CHECK(contains(diag.message, "127.0.0.1:" + std::to_string(port)));
}

TEST_CASE("verification is off only through the option that says so, and that logs a warning")
{
    env_guard env;
    asio::io_context io;
    fake_server_options so;
    so.certificates = test_certificates::generate({"api.evolink.invalid"}); // wrong name, untrusted CA
    fake_server server(io.get_executor(), so);
    auto opts = server.client_options();
    opts.tls.ca_pem.clear();
    std::string log_text;
    opts.logger.sink = [&](evolink::log_level l, std::string_view m) {
        if (l == evolink::log_level::warning) log_text += std::string(m) + "\n";
    };
    evolink::diagnostics diag;
    // Default: refused, and nothing about verification is logged at construction.
    CHECK(submit_once(io, server, opts, diag) == evolink::errc::tls_failed);
    CHECK_FALSE(contains(log_text, "verification is OFF"));

    asio::io_context io2;
    fake_server server2(io2.get_executor(), so);
    auto opts2 = server2.client_options();
    opts2.tls.ca_pem.clear();
    opts2.tls.insecure_skip_verification = true;
    opts2.logger = opts.logger;
    CHECK(submit_once(io2, server2, opts2, diag) == evolink::error_code{});
    CHECK(contains(log_text, "verification is OFF"));
}
