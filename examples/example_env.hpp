// example_env.hpp: what the cpp20_* examples share, kept apart so that each of
// them shows one idea. By default an example talks to the fake EvoLink server
// built into the library (<evolink/testing.hpp>): offline, no account, nothing
// billed. With --real (and EVOLINK_API_KEY set) it talks to the real API.
#ifndef EVOLINK_EXAMPLE_ENV_HPP
#define EVOLINK_EXAMPLE_ENV_HPP

#include <evolink.hpp>
#include <evolink/testing.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace example {

class env {
public:
    // Reads --real from the command line; the other arguments are in args().
    // --real without EVOLINK_API_KEY: a one-line error, exit 2.
    env(boost::asio::any_io_executor ex, int argc, char** argv, evolink::testing::fake_server_options so = {})
    {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "--real") real_ = true;
            else if (a.starts_with("--")) fail("unknown option " + a + " (the only one is --real)");
            else args_.push_back(a);
        }
        const char* key = std::getenv("EVOLINK_API_KEY");
        if (real_ && (!key || !*key)) fail("--real needs EVOLINK_API_KEY (the real API bills every task)");
        if (!real_) fake_ = std::make_unique<evolink::testing::fake_server>(ex, std::move(so));
    }

    bool real() const { return real_; }
    const std::vector<std::string>& args() const { return args_; }
    evolink::testing::fake_server* fake() const { return fake_.get(); }

    // The fake server's options (its URL, key and CA), or the real API's:
    // client_options{} reads the key from EVOLINK_API_KEY.
    evolink::client_options client_options() const
    {
        return fake_ ? fake_->client_options() : evolink::client_options{};
    }

    // Polling: the fake finishes in a few reads, so read it every 100 ms; the
    // real API: unset, the library's default pacing.
    std::optional<evolink::poll_policy> poll() const
    {
        using namespace std::chrono_literals;
        if (real_) return std::nullopt;
        return evolink::poll_policy{.initial_delay = 100ms, .min_interval = 100ms, .max_interval = 100ms};
    }

    // The fake server keeps io.run() busy until stopped.
    void stop()
    {
        if (fake_) fake_->stop();
    }

    // A completion handler for co_spawn: stops the fake server, and reports
    // an exception the coroutine let escape (then exit_code() is 1).
    auto on_done()
    {
        return [this](std::exception_ptr e) {
            stop();
            if (!e) return;
            exit_code_ = 1;
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& x) {
                std::cerr << "error: " << x.what() << '\n';
            }
        };
    }
    int exit_code() const { return exit_code_; }

private:
    [[noreturn]] static void fail(const std::string& what)
    {
        std::cerr << "error: " << what << '\n';
        std::exit(2);
    }

    bool real_ = false;
    std::vector<std::string> args_;
    std::unique_ptr<evolink::testing::fake_server> fake_;
    int exit_code_ = 0;
};

// The fake run of cpp20_06's own HTTP client: POSTs `body` to `target` on
// `to`, prints the answer's status and body.
inline boost::asio::awaitable<void> post_once(boost::asio::ip::tcp::endpoint to, std::string target, std::string body)
{
    namespace http = boost::beast::http;
    boost::beast::tcp_stream stream(co_await boost::asio::this_coro::executor);
    co_await stream.async_connect(to, boost::asio::use_awaitable);
    http::request<http::string_body> req{http::verb::post, target, 11, std::move(body)};
    req.prepare_payload();
    co_await http::async_write(stream, req, boost::asio::use_awaitable);
    boost::beast::flat_buffer buffer;
    http::response<http::string_body> res;
    co_await http::async_read(stream, buffer, res, boost::asio::use_awaitable);
    std::cout << "POST " << target << ": " << res.result_int() << ' ' << res.body() << '\n';
}

} // namespace example

#endif
