// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_ACCOUNT_OPS_HPP
#define EVOLINK_DETAIL_ACCOUNT_OPS_HPP

// The account's reads on the API host: the credit balance and the list of
// tasks. Plain JSON GETs, retried as every read is (detail/retry.hpp).

#include <evolink/account.hpp>
#include <evolink/detail/api_error.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/operations.hpp>
#include <evolink/detail/retry.hpp>
#include <evolink/detail/retry_loop.hpp>
#include <evolink/detail/transport.hpp>

#include <memory>
#include <optional>
#include <string>

namespace evolink::detail {

/// A GET of `target` on the API host: its 2xx answer, else the error (the
/// HTTP status as api_errc with the server's diagnostics, or the
/// transport's), transient failures retried with the client's policy.
template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<http_result>> api_get(std::shared_ptr<transport> core, origin o,
                                                             std::string target)
{
    retry_budget budget;
    auto log_line = [&](const diagnostics& d, std::chrono::milliseconds delay) {
        return "GET " + target + " failed (" + d.summary() + "); retrying in " + seconds_text(delay);
    };
    for (unsigned attempt = 1;; ++attempt) {
        auto r = co_await core->request(o, http::verb::get, target, {});
        if (!r.ec && (r.value.status < 200 || r.value.status > 299)) {
            auto d = api_diagnostics(r.value);
            redact(d, core->options().api_key);
            r.ec = make_http_error(static_cast<int>(r.value.status));
            r.diag = std::move(d);
        }
        r.diag->attempts = attempt;
        if (!r.ec || !retryable_read(r.ec)) co_return r;
        auto step = co_await pause_before_retry(*core, budget, attempt, r.value.retry_after, *r.diag, log_line);
        if (step == retry_step::cancelled) r.ec = asio::error::operation_aborted;
        if (step != retry_step::again) co_return r;
    }
}

/// errc::bad_response for a 2xx answer that is not what `target` returns.
template <class T>
outcome<T> bad_answer(const http_result& h, std::string_view target, const std::string& why, std::string_view secret)
{
    diagnostics d;
    d.http_status = static_cast<int>(h.status);
    d.request_id = h.request_id;
    d.message = "GET " + std::string(target) + ": " + why;
    if (!why.starts_with("the answer says")) // else the server's own message says it d.message += ": " + (h.body.empty() ? std::string("empty body") : body_excerpt(h.body));
    redact(d, secret);
    return failure<T>(make_error_code(errc::bad_response), std::move(d));
}

template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<credit_balance>> read_credits(std::shared_ptr<transport> core, origin o)
{
    constexpr std::string_view target = "/v1/credits";
    auto r = co_await api_get(core, std::move(o), std::string(target));
    if (r.ec) co_return failure<credit_balance>(r.ec, std::move(r.diag));
    std::string why;
    auto b = parse_credits(r.value.body, why);
    if (!b) co_return bad_answer<credit_balance>(r.value, target, why, core->options().api_key);
    co_return outcome<credit_balance>{{}, std::move(r.diag), *b};
}

template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<task_list>> read_task_list(std::shared_ptr<transport> core, origin o,
                                                                  std::shared_ptr<const task_filter> f)
{
    auto target = task_list_target(*f);
    auto r = co_await api_get(core, std::move(o), target);
    if (r.ec) co_return failure<task_list>(r.ec, std::move(r.diag));
    std::string why;
    auto l = parse_task_list(r.value.body, *f, why);
    if (!l) co_return bad_answer<task_list>(r.value, target, why, core->options().api_key);
    co_return outcome<task_list>{{}, std::move(r.diag), std::move(*l)};
}

} // namespace evolink::detail

#endif
