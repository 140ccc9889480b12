// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_BATCH_READS_HPP
#define EVOLINK_DETAIL_BATCH_READS_HPP

// Batched reads, the decisions without I/O: the request body, and what an
// answer of `POST /v1/tasks/batch` means for each wait in the batch
// (detail/batch_ops.hpp does the I/O; tests/unit/test_batch_reads.cpp tests
// this part without sockets). The endpoint is not in EvoLink's public docs:
// anything it does not answer as expected sends the waits back to their own
// GET, which gives each its real answer.

#include <evolink/detail/api_error.hpp>
#include <evolink/detail/async.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/http_result.hpp>
#include <evolink/task.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evolink::detail {

/// The endpoint takes at most this many ids per request.
inline constexpr std::size_t max_batch_ids = 50;

/// `{"task_ids":[...]}`.
EVOLINK_INLINE std::string batch_body(const std::vector<std::string>& ids)
{
    boost::json::array a;
    a.reserve(ids.size());
    for (auto& id : ids) a.emplace_back(id);
    return boost::json::serialize(boost::json::object{{"task_ids", std::move(a)}});
}

/// What one batch answer means for the waits that asked.
struct batch_verdict {
    enum class kind {
        tasks,      ///< `tasks[i]` answers ids[i]; an absent id reads alone (GET: its real 404 or expiry)
        all_alone,  ///< every wait reads alone this time
        all_failed, ///< every wait gets `failure` as its read's outcome (429: they pause)
    };
    kind k = kind::all_alone;
    std::vector<std::optional<task>> tasks;
    outcome<task> failure;
    std::optional<std::chrono::milliseconds> retry_after; ///< with `failure`: the server's Retry-After
    /// The endpoint is not there, or not as expected: per-task GETs for good
    /// (`why` says what it answered, for the one log line).
    bool turn_off = false;
    std::string why;
};

/// The tasks of a 2xx answer `{"data":[task...]}`, in the order of `ids`
/// (with `raw` when `whole`); nothing when the body is not that shape.
/// Entries whose id was not asked for are ignored.
EVOLINK_INLINE std::optional<std::vector<std::optional<task>>> batch_tasks(const std::vector<std::string>& ids,
                                                                          std::string_view body, bool whole)
{
    using tasks = std::vector<std::optional<task>>;
    return with_parsed_json(body, [&](const boost::json::value* v) -> std::optional<tasks> {
        const boost::json::value* data = v && v->is_object() ? v->get_object().if_contains("data") : nullptr;
        if (!data || !data->is_array()) return std::nullopt;
        tasks out(ids.size());
        for (auto& e : data->get_array()) {
            auto t = e.is_object() ? task_fields(e.get_object()) : std::nullopt;
            auto at = t ? std::find(ids.begin(), ids.end(), t->id) : ids.end();
            if (at == ids.end() || out[static_cast<std::size_t>(at - ids.begin())]) continue;
            // A copy on the default resource: the arena dies with this call.
            if (whole) keep_raw(*t, boost::json::object(e.get_object(), boost::json::storage_ptr()));
            out[static_cast<std::size_t>(at - ids.begin())] = std::move(*t);
        }
        return out;
    });
}

/// Judges the answer `r` to a batch of `ids`. `secret`: the API key, kept
/// out of any diagnostics.
EVOLINK_INLINE batch_verdict judge_batch(const std::vector<std::string>& ids, outcome<http_result> r,
                                         std::string_view secret, bool whole)
{
    batch_verdict v;
    auto& h = r.value;
    if (r.ec) return v; // connection trouble: each wait's own GET tells it
    auto status = "POST /v1/tasks/batch answered " + std::to_string(h.status);
    if (h.status == 404 || h.status == 405) { // no such endpoint here
        v.turn_off = true;
        v.why = status;
        return v;
    }
    if (h.status == 429) { // slow down: every wait pauses, as for a GET's 429
        v.k = batch_verdict::kind::all_failed;
        auto d = api_diagnostics(h);
        redact(d, secret);
        v.failure = failure<task>(make_http_error(429), std::move(d));
        v.retry_after = h.retry_after;
        return v;
    }
    if (h.status < 200 || h.status > 299) return v; // 401, 5xx...: the GET gives each wait the real answer
    auto tasks = batch_tasks(ids, h.body, whole);
    if (!tasks) {
        v.turn_off = true;
        v.why = status + " with a body that is not {\"data\":[tasks]}";
        return v;
    }
    v.k = batch_verdict::kind::tasks;
    v.tasks = std::move(*tasks);
    return v;
}

/// One wait's due read, queued for the next batch (on the client's strand).
struct batch_ticket {
    batch_ticket(const boost::asio::any_io_executor& ex, std::string task_id)
        : id(std::move(task_id)), ready(ex, std::chrono::steady_clock::time_point::max())
    {
    }
    enum class state { queued, sent, answered, alone };
    std::string id;
    boost::asio::steady_timer ready; ///< cancelled once `st` is answered or alone
    state st = state::queued;
    outcome<task> result;            ///< when answered
    std::optional<std::chrono::milliseconds> retry_after;
};

/// A client's batching state; touched on its strand only.
struct batch_state {
    std::vector<std::shared_ptr<batch_ticket>> queue;
    /// Closes the batch being gathered: armed whenever `queue` is not empty.
    std::optional<boost::asio::steady_timer> window;
    unsigned window_gen = 0; ///< which arming of `window` is current
    bool off = false; ///< the endpoint answered 404/405 or oddly: GETs for good
};

} // namespace evolink::detail

#endif
