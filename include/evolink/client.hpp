// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_CLIENT_HPP
#define EVOLINK_CLIENT_HPP

/// evolink::client: submits generation tasks and reads them back over
/// verified TLS, from inside the caller's own io_context.
///
/// Threading: a client runs all its work on a strand of the executor it was
/// given, so its operations may be started from any thread and the
/// io_context may be run by several threads. Do not destroy a client while
/// another thread starts an operation on it.

#include <evolink/detail/api_error.hpp>
#include <evolink/detail/async.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/error.hpp>
#include <evolink/options.hpp>
#include <evolink/requests.hpp>
#include <evolink/task.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace evolink {

template <class Token>
concept completion_token_not_diagnostics = !std::same_as<std::decay_t<Token>, diagnostics>;

class client {
public:
    using executor_type = boost::asio::any_io_executor;

    /// Checks the options and builds the TLS context; nothing is sent yet.
    /// Throws evolink::error: errc::missing_api_key when neither the options
    /// nor EVOLINK_API_KEY hold a key; errc::invalid_options for a bad base
    /// URL, an http:// URL without allow_insecure_http, an unreadable CA.
    explicit client(executor_type ex, client_options opts = {})
    {
        auto fail = [](errc e, std::string param, std::string message) {
            diagnostics d;
            d.param = std::move(param);
            d.message = std::move(message);
            throw evolink::error(make_error_code(e), std::move(d));
        };
        if (opts.api_key.empty())
            if (const char* env = std::getenv("EVOLINK_API_KEY")) opts.api_key = env;
        if (opts.api_key.empty())
            fail(errc::missing_api_key, "api_key", "no API key: set client_options::api_key or EVOLINK_API_KEY");
        for (char c : opts.api_key)
            if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F)
                fail(errc::invalid_options, "api_key",
                     "the API key holds a space or a control or non-ASCII character (key not shown)");
        std::string why;
        auto api = detail::parse_origin(opts.base_url, opts.allow_insecure_http, why);
        if (!api) fail(errc::invalid_options, "base_url", "base_url " + detail::quoted(opts.base_url) + " " + why);
        auto files = detail::parse_origin(opts.files_base_url, opts.allow_insecure_http, why);
        if (!files)
            fail(errc::invalid_options, "files_base_url",
                 "files_base_url " + detail::quoted(opts.files_base_url) + " " + why);
        diagnostics tls_diag;
        auto ctx = detail::make_tls_context(opts.tls, tls_diag);
        if (!ctx) fail(errc::invalid_options, tls_diag.param, tls_diag.message);
        api_ = std::move(*api);
        files_ = std::move(*files);
        auto strand = boost::asio::make_strand(ex);
        core_ = std::make_shared<detail::transport>(executor_type(strand), std::move(opts), std::move(ctx));
    }

    client(const client&) = delete;
    client& operator=(const client&) = delete;
    client(client&&) noexcept = default;
    client& operator=(client&&) noexcept = default;

    /// Idle connections are closed; operations still running keep what they
    /// need alive and complete normally.
    ~client()
    {
        if (core_) boost::asio::post(core_->strand(), [core = core_] { core->close_idle(); });
    }

    executor_type get_executor() const noexcept { return core_->strand(); }

    /// Creates a task: validates `req`, then POSTs it to its endpoint.
    ///
    /// Handler: `void(evolink::error_code, evolink::task)`; the task is the
    /// service's answer (status "pending"). With the default token,
    /// `co_await client.submit(req)` returns the task or throws evolink::error.
    /// Errors: errc::invalid_request (nothing sent; diagnostics name the
    /// field), transport errors (errc), API errors (api_errc, the HTTP status).
    /// Cancellation: terminal, partial and total. A cancelled submit whose
    /// request was already written may still have created (and billed) a
    /// task: the outcome is unknown.
    /// Lifetimes: `req` is validated and serialized before this returns; it
    /// need not outlive the call. `diag` (second overload) must live until the
    /// handler runs; it receives the diagnostics before the handler is called.
    template <request R, completion_token_not_diagnostics Token = default_token>
    auto submit(const R& req, Token&& token = {})
    {
        return start_submit(req, nullptr, std::forward<Token>(token));
    }
    template <request R, class Token = default_token>
    auto submit(const R& req, diagnostics& diag, Token&& token = {})
    {
        return start_submit(req, &diag, std::forward<Token>(token));
    }

    /// Reads a task: `GET /v1/tasks/{task_id}`.
    ///
    /// Handler: `void(evolink::error_code, evolink::task)`. Errors as for
    /// submit; an id that cannot be a task id fails with
    /// errc::invalid_request before anything is sent, an unknown or expired
    /// one with api_errc::not_found. Cancellation: terminal, partial and
    /// total; the pooled connection in use is closed, not reused.
    /// Lifetimes: `task_id` is copied; `diag` must live until the handler runs.
    template <completion_token_not_diagnostics Token = default_token>
    auto get_task(std::string_view task_id, Token&& token = {})
    {
        return start_get(task_id, nullptr, std::forward<Token>(token));
    }
    template <class Token = default_token>
    auto get_task(std::string_view task_id, diagnostics& diag, Token&& token = {})
    {
        return start_get(task_id, &diag, std::forward<Token>(token));
    }

    /// Connections opened so far (each one a TCP connect and, for https, a
    /// TLS handshake). Read it on the client's executor.
    std::size_t connections_opened() const noexcept { return core_->connections_opened(); }

private:
    template <class R, class Token>
    auto start_submit(const R& req, diagnostics* diag, Token&& token)
    {
        auto invalid = validate(req, validation_options{core_->options().allow_private_callback_urls});
        std::string body = invalid ? std::string() : boost::json::serialize(to_json(req));
        auto body_fn = [core = core_, origin = api_, path = std::string(endpoint_of(req)), body = std::move(body),
                        invalid = std::move(invalid)]() mutable {
            return run_post(std::move(core), std::move(origin), std::move(path), std::move(body), std::move(invalid));
        };
        return detail::start<task>(std::forward<Token>(token), diag, core_->strand(), std::move(body_fn));
    }

    template <class Token>
    auto start_get(std::string_view task_id, diagnostics* diag, Token&& token)
    {
        auto invalid = detail::check_task_id(task_id);
        auto body_fn = [core = core_, origin = api_, target = "/v1/tasks/" + std::string(task_id),
                        invalid = std::move(invalid), id = std::string(task_id)]() mutable {
            return run_get(std::move(core), std::move(origin), std::move(target), std::move(invalid), std::move(id));
        };
        return detail::start<task>(std::forward<Token>(token), diag, core_->strand(), std::move(body_fn));
    }

    static boost::asio::awaitable<detail::outcome<task>> run_post(std::shared_ptr<detail::transport> core,
                                                                  detail::origin origin, std::string path,
                                                                  std::string body, std::optional<diagnostics> invalid)
    {
        if (invalid) {
            core->log(log_level::debug, "request refused before sending: " + invalid->message);
            co_return detail::failure<task>(make_error_code(errc::invalid_request), std::move(*invalid));
        }
        auto r = co_await core->request(origin, boost::beast::http::verb::post, std::move(path), std::move(body));
        auto t = detail::task_outcome(std::move(r), core->options().api_key);
        if (!t.ec) core->log(log_level::info, "created task " + t.value.id + " (" + t.value.model + ")");
        co_return t;
    }

    static boost::asio::awaitable<detail::outcome<task>> run_get(std::shared_ptr<detail::transport> core,
                                                                 detail::origin origin, std::string target,
                                                                 std::optional<diagnostics> invalid, std::string id)
    {
        if (invalid) co_return detail::failure<task>(make_error_code(errc::invalid_request), std::move(*invalid));
        auto r = co_await core->request(origin, boost::beast::http::verb::get, std::move(target), {});
        auto t = detail::task_outcome(std::move(r), core->options().api_key);
        if (t.ec && t.diag.task_id.empty()) t.diag.task_id = std::move(id);
        co_return t;
    }

    std::shared_ptr<detail::transport> core_;
    detail::origin api_;
    detail::origin files_;
};

} // namespace evolink

#endif
