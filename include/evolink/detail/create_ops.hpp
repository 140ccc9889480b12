// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_CREATE_OPS_HPP
#define EVOLINK_DETAIL_CREATE_OPS_HPP

// Creating a task, the one step that bills: local images checked and
// uploaded first (files_ops.hpp), then one POST under one Idempotency-Key,
// retried only when it cannot bill twice (retry.hpp's classify_create), and
// "outcome unknown" when a written request's answer is lost.

#include <evolink/detail/api_error.hpp>
#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/file_io.hpp>
#include <evolink/detail/files_ops.hpp>
#include <evolink/detail/operations.hpp>
#include <evolink/detail/random.hpp>
#include <evolink/detail/retry.hpp>
#include <evolink/detail/retry_loop.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/images.hpp>
#include <evolink/task.hpp>

#include <boost/json/serialize.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace evolink::detail {

/// A creation interrupted after its request was written: the task may or
/// may not exist (errc::outcome_unknown).
EVOLINK_INLINE void cancelled_after_write(outcome<task>& t, const std::string& key)
{
    t.ec = make_error_code(errc::outcome_unknown);
    t.diag->message += key.empty() ? "; the request was written: a task may or may not exist (and be billed)"
                                  : "; the request was written: a task may or may not exist (and be billed); sending "
                                    "it again with Idempotency-Key " + key + " returns it if it does";
}

/// Creates a task: POSTs the body, retrying only when it cannot bill twice
/// (see classify_create). `key`: the caller's Idempotency-Key, or empty.
EVOLINK_INLINE asio::awaitable<outcome<task>> post_task(std::shared_ptr<transport> core, origin o, std::string path,
                                                        std::string body, std::optional<diagnostics> invalid,
                                                        std::string key = {})
{
    if (!invalid && !key.empty()) invalid = check_idempotency_key(key);
    if (invalid) {
        core->log(log_level::debug, "request refused before sending: " + invalid->message);
        co_return failure<task>(make_error_code(errc::invalid_request), std::move(*invalid));
    }
    const auto& policy = core->options().retry;
    if (key.empty() && policy.idempotency_keys) key = make_idempotency_key();
    http_headers headers;
    if (!key.empty()) headers.emplace_back("Idempotency-Key", key);
    retry_budget budget;
    unsigned attempt = 1;
    auto log_line = [&](const diagnostics& d, std::chrono::milliseconds delay) {
        return "creating a task failed (" + d.summary() + "); attempt " + std::to_string(attempt + 1) + " in " +
               seconds_text(delay) + (key.empty() ? "" : " with the same Idempotency-Key");
    };
    bool maybe_created = false; // an earlier attempt was written and its outcome is unknown
    for (;; ++attempt) {
        auto r = co_await core->request(o, http::verb::post, path, body, true, headers, true);
        bool sent = r.value.sent, replayed = r.value.replayed;
        auto retry_after = r.value.retry_after;
        auto held = r.value.held_cancel;
        bool aborted = r.ec == asio::error::operation_aborted;
        auto t = task_outcome(std::move(r), core->options().api_key, core->options().keep_raw_json);
        t.diag->idempotency_key = key;
        t.diag->attempts = attempt;
        if (aborted) {
            if (sent || maybe_created) cancelled_after_write(t, key);
            co_return t;
        }
        auto verdict = classify_create(t.ec, sent, !key.empty(), t.diag->code);
        if (held != asio::cancellation_type::none && !t.ec) {
            core->log(log_level::info, "created task " + t.value.id + " although cancelled meanwhile");
            if (held != asio::cancellation_type::total) {
                // Partial (or a terminal that came with the answer): stop
                // here; the effect is that the task exists.
                t.ec = asio::error::operation_aborted;
                t.diag->task_id = t.value.id;
                t.diag->message = "cancelled after the request was written; the task was created: " +
                                 t.value.id + " (wait for it to get its result)";
            } // total is not honoured once the request is written: the task is delivered
            co_return t;
        }
        if (held != asio::cancellation_type::none && verdict == create_verdict::retry) verdict = create_verdict::done;
        if (verdict == create_verdict::done) {
            if (!t.ec && core->logs(log_level::info))
                core->log(log_level::info, "created task " + t.value.id + " (" + t.value.model + ")" +
                                               (replayed ? ", replayed for its Idempotency-Key" : ""));
            co_return t;
        }
        if (verdict == create_verdict::outcome_unknown) {
            t.diag->message = "the request was sent, then: " + t.diag->message +
                             ". A task may or may not exist (and be billed); it was not sent again because it "
                             "carried no Idempotency-Key";
            t.ec = make_error_code(errc::outcome_unknown);
            core->log(log_level::error, t.diag->message);
            co_return t;
        }
        bool unanswered = sent && t.diag->http_status == 0; // written, no answer
        auto step = co_await pause_before_retry(*core, budget, attempt, retry_after, *t.diag, log_line);
        if (step == retry_step::give_up) {
            if (sent && !key.empty())
                t.diag->message += "; a task may exist: sending the request again with Idempotency-Key " + key +
                                  " returns it";
            co_return t;
        }
        maybe_created = maybe_created || unanswered;
        if (step == retry_step::cancelled) {
            t.ec = asio::error::operation_aborted;
            t.diag->message = "cancelled while waiting to retry: " + t.diag->message;
            if (maybe_created) cancelled_after_write(t, key);
            co_return t;
        }
    }
}

/// Checks every local image (all of them, before anything is sent), uploads
/// them, then creates the task as post_task does.
template <class = void> // lazy: reached through prepared_create::with_uploads
asio::awaitable<outcome<task>> upload_then_post(std::shared_ptr<transport> core, origin api, origin files,
                                                               std::shared_ptr<const prepared_create> p, std::string key)
{
    // Arguments are named first: g++ 12 destroys some temporaries of a
    // co_await expression twice (see docs/reliability.md).
    std::string endpoint = p->endpoint;
    if (!key.empty())
        if (auto e = check_idempotency_key(key)) co_return failure<task>(make_error_code(errc::invalid_request), std::move(*e));
    // Each image is read once, on the file executor: checked, then
    // uploaded from those bytes.
    std::vector<std::shared_ptr<std::vector<unsigned char>>> loaded;
    auto read_all = [&]() -> std::optional<diagnostics> {
        for (auto& l : p->locals) {
            loaded.push_back(std::make_shared<std::vector<unsigned char>>());
            if (auto e = check_image_file(l.path, p->limits, l.field, nullptr, loaded.back().get())) return e;
        }
        return std::nullopt;
    };
    auto bad = co_await run_blocking(core->file_executor(), read_all);
    if (bad) {
        core->log(log_level::debug, "request refused before sending: " + bad->message);
        co_return failure<task>(make_error_code(errc::invalid_request), std::move(*bad));
    }
    auto body = p->body;
    auto& urls = body["image_urls"].as_array();
    for (std::size_t i = 0; i < p->locals.size(); ++i) {
        auto& l = p->locals[i];
        auto job = std::make_shared<upload_job>();
        job->source = l.path;
        job->loaded = std::move(loaded[i]);
        auto up = co_await upload(core, files, job);
        if (up.ec) {
            up.diag->message = "uploading " + l.field + " " + detail::quoted(l.path) + " failed (no task was created): " +
                              up.diag->message;
            if (up.diag->param.empty()) up.diag->param = l.field;
            co_return failure<task>(up.ec, std::move(up.diag));
        }
        urls[l.index] = up.value.file_url;
    }
    std::string json = boost::json::serialize(body);
    std::optional<diagnostics> none;
    co_return co_await post_task(std::move(core), std::move(api), std::move(endpoint), std::move(json), std::move(none),
                                 std::move(key));
}

/// Creates a task: a request without local images is posted at once
/// (post_task); one with local images goes through upload_then_post, by
/// the pointer its prepare() set. Not a coroutine: no frame of its own on
/// the common path.
EVOLINK_INLINE asio::awaitable<outcome<task>> create_task(std::shared_ptr<transport> core, origin api, origin files,
                                                          std::shared_ptr<const prepared_create> p, std::string key)
{
    if (!p->invalid && !p->locals.empty()) {
        auto with_uploads = p->with_uploads; // set whenever locals are
        return with_uploads(std::move(core), std::move(api), std::move(files), std::move(p), std::move(key));
    }
    std::string json = p->invalid ? std::string() : boost::json::serialize(p->body);
    return post_task(std::move(core), std::move(api), p->endpoint, std::move(json), p->invalid, std::move(key));
}

} // namespace evolink::detail

#endif
