// TLS verification is real: the wrong CA, the wrong host name and an
// untrusted self-made CA all fail; each trusted-CA source works.
#include "../support/fixture.hpp"

#include <cstdio>
#include <fstream>

using evolink::testing::fake_server;
using evolink::testing::fake_server_options;
using evolink::testing::test_certificates;

namespace {

/// Submits once from the fixture's client; returns the error code and fills `diag`.
evolink::error_code submit_once(fixture& fx, evolink::diagnostics& diag)
{
    evolink::error_code result = evolink::make_error_code(evolink::errc::bad_response);
    fx.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "p";
        auto [ec, t] = co_await fx.client.submit(req, evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        result = ec;
    });
    return result;
}

/// A client that trusts no CA of its own: the server's is left out.
evolink::client_options without_ca(evolink::client_options o)
{
    o.tls.ca_pem.clear();
    return o;
}

} // namespace

TEST_CASE("the server's own CA is trusted when given as in-memory PEM")
{
    fixture fx;
    evolink::diagnostics diag;
    CHECK(submit_once(fx, diag) == evolink::error_code{});
    CHECK(fx.server.handshakes() == 1);
}

TEST_CASE("a certificate signed by another CA fails verification")
{
    fixture fx([](evolink::client_options opts) {
        opts.tls.ca_pem = test_certificates::generate().ca_pem; // a different CA
        return opts;
    });
    evolink::diagnostics diag;
    CHECK(submit_once(fx, diag) == evolink::errc::tls_failed);
    CHECK(contains(diag.message, "certificate"));
    CHECK(fx.server.handshakes() == 0);
    CHECK(fx.server.requests().empty());
}

TEST_CASE("the system trust store alone does not trust a test CA")
{
    fixture fx([](evolink::client_options opts) {
        opts = without_ca(opts);
        opts.tls.use_system_store = true;
        return opts;
    });
    evolink::diagnostics diag;
    CHECK(submit_once(fx, diag) == evolink::errc::tls_failed);
    CHECK(fx.server.requests().empty());
}

TEST_CASE("a certificate for another host name fails verification")
{
    fake_server_options so;
    so.certificates = test_certificates::generate({"api.evolink.invalid"});
    fixture fx(so);
    evolink::diagnostics diag;
    // Trusted CA, but the certificate names api.evolink.invalid, not 127.0.0.1.
    CHECK(submit_once(fx, diag) == evolink::errc::tls_failed);
    INFO(diag.message);
    CHECK(contains(diag.message, "mismatch"));
    CHECK(fx.server.requests().empty());
}

TEST_CASE("a DNS name in the base URL is verified against the certificate (with SNI)")
{
    auto by_name = [](evolink::client_options opts, const fake_server& server) {
        opts.base_url = "https://localhost:" + std::to_string(server.port());
        return opts;
    };
    fixture fx(by_name); // certificate for localhost, 127.0.0.1, ::1
    evolink::diagnostics diag;
    CHECK(submit_once(fx, diag) == evolink::error_code{});

    fake_server_options so;
    so.certificates = test_certificates::generate({"127.0.0.1"}); // no DNS name
    fixture fx2(so, by_name);
    CHECK(submit_once(fx2, diag) == evolink::errc::tls_failed);
}

TEST_CASE("a CA file and a caller-built ssl::context are honoured")
{
    char path[] = "/tmp/evolink-ca-XXXXXX";
    int fd = ::mkstemp(path);
    REQUIRE(fd >= 0);
    ::close(fd);
    fixture fx([&](evolink::client_options opts, const fake_server& server) {
        std::ofstream(path) << server.ca_pem();
        opts = without_ca(opts);
        opts.tls.ca_file = path;
        return opts;
    });
    evolink::diagnostics diag;
    CHECK(submit_once(fx, diag) == evolink::error_code{});
    std::remove(path);

    fixture fx2([](evolink::client_options opts, const fake_server& server) {
        auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
        ctx->set_verify_mode(asio::ssl::verify_peer);
        ctx->add_certificate_authority(asio::buffer(server.ca_pem()));
        opts = without_ca(opts);
        opts.tls.context = ctx;
        return opts;
    });
    CHECK(submit_once(fx2, diag) == evolink::error_code{});

    // The caller's context without the CA: still verified, still refused.
    fixture fx3([](evolink::client_options opts) {
        opts.tls.context = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
        opts.tls.context->set_verify_mode(asio::ssl::verify_peer);
        return opts;
    });
    CHECK(submit_once(fx3, diag) == evolink::errc::tls_failed);
}

TEST_CASE("connecting to a closed port is connect_failed, with the address in the message")
{
    // A port that was free a moment ago.
    unsigned short port = 0;
    {
        asio::io_context probe_io;
        asio::ip::tcp::acceptor probe(probe_io, {asio::ip::make_address("127.0.0.1"), 0});
        port = probe.local_endpoint().port();
    }
    fixture fx([port](evolink::client_options opts) {
        opts.base_url = "https://127.0.0.1:" + std::to_string(port);
        return opts;
    });
    evolink::diagnostics diag;
    CHECK(submit_once(fx, diag) == evolink::errc::connect_failed);
    CHECK(contains(diag.message, "127.0.0.1:" + std::to_string(port)));
}

TEST_CASE("verification is off only through the option that says so, and that logs a warning")
{
    fake_server_options so;
    so.certificates = test_certificates::generate({"api.evolink.invalid"}); // wrong name, untrusted CA
    log_capture warnings;
    fixture fx(so, [&](evolink::client_options opts) {
        opts = without_ca(opts);
        opts.logger = warnings.logger(evolink::log_level::warning);
        return opts;
    });
    evolink::diagnostics diag;
    // Default: refused, and nothing about verification is logged at construction.
    CHECK(submit_once(fx, diag) == evolink::errc::tls_failed);
    CHECK_FALSE(warnings.any_contains("verification is OFF"));

    fixture fx2(so, [&](evolink::client_options opts) {
        opts = without_ca(opts);
        opts.tls.insecure_skip_verification = true;
        opts.logger = warnings.logger(evolink::log_level::warning);
        return opts;
    });
    CHECK(submit_once(fx2, diag) == evolink::error_code{});
    CHECK(warnings.any_contains("verification is OFF"));
}
