// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TASK_HPP
#define EVOLINK_TASK_HPP

/// The task object the API returns from creation, `GET /v1/tasks/{id}` and
/// callbacks. Parsing is tolerant: extra fields are kept in `raw`, optional
/// ones may be missing, `error.code` may be an integer or a string, credits
/// may be fractional, and an unknown status is kept as text.

#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>

#include <boost/json/array.hpp>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evolink {

enum class task_status {
    pending,
    processing,
    completed,
    failed,
    cancelled, ///< known to EvoLink's own clients; terminal
    unknown,   ///< a status this version does not know: not finished, see task::status_text
};

EVOLINK_INLINE std::string_view to_string(task_status s) noexcept
{
    switch (s) {
    case task_status::pending: return "pending";
    case task_status::processing: return "processing";
    case task_status::completed: return "completed";
    case task_status::failed: return "failed";
    case task_status::cancelled: return "cancelled";
    case task_status::unknown: break;
    }
    return "unknown";
}

EVOLINK_INLINE task_status parse_task_status(std::string_view s) noexcept
{
    for (auto st : {task_status::pending, task_status::processing, task_status::completed, task_status::failed,
                    task_status::cancelled})
        if (s == to_string(st)) return st;
    if (s == "canceled") return task_status::cancelled;
    return task_status::unknown;
}

/// Completed, failed or cancelled: the task will not change any more.
EVOLINK_INLINE bool is_terminal(task_status s) noexcept
{
    return s == task_status::completed || s == task_status::failed || s == task_status::cancelled;
}

/// Why a task failed (`error` of a failed task).
struct task_error {
    std::string code;       ///< "content_policy_violation", "service_error"...
    std::string message;
    std::string type;       ///< "task_error"
    std::string suggestion; ///< error.suggestion, when given

    /// True for the codes EvoLink documents as "retry later" (a new task may
    /// succeed); false for "fix the input" codes and unknown ones.
    bool retryable() const noexcept
    {
        for (std::string_view c : {"generation_failed_no_content", "service_error", "generation_timeout",
                                   "resource_exhausted", "quota_exceeded", "service_unavailable",
                                   "resource_not_found", "unknown_error"})
            if (code == c) return true;
        return false;
    }
    bool operator==(const task_error&) const = default;
};

struct task_info {
    std::optional<bool> can_cancel;
    std::optional<double> estimated_time; ///< seconds, a hint
    std::optional<double> video_duration; ///< seconds
    bool operator==(const task_info&) const = default;
};

struct task_usage {
    std::string billing_rule;              ///< "per_call"...
    std::optional<double> credits_reserved;
    std::optional<double> credits_used;
    std::string user_group;
    bool operator==(const task_usage&) const = default;
};

struct task {
    std::string id;
    std::string object; ///< "image.generation.task", "video.generation.task"
    std::string model;
    std::string type;   ///< "image", "video", "audio", "text"
    std::int64_t created = 0;
    task_status status = task_status::unknown;
    std::string status_text; ///< the status as received (useful when unknown)
    int progress = 0;        ///< 0 to 100
    std::vector<std::string> results; ///< result URLs (completed tasks); they expire after 24 hours
    task_info info;
    task_usage usage;
    std::optional<task_error> error;
    /// The whole object as received, extra fields included: from the client
    /// only with client_options::keep_raw_json (empty otherwise).
    boost::json::object raw;

    bool finished() const noexcept { return is_terminal(status); }
};

namespace detail {

EVOLINK_INLINE std::string json_text(const boost::json::value* v)
{
    if (!v) return {};
    if (v->is_string()) return std::string(v->get_string());
    if (v->is_int64()) return std::to_string(v->get_int64());
    if (v->is_uint64()) return std::to_string(v->get_uint64());
    if (v->is_double()) return boost::json::serialize(*v);
    if (v->is_bool()) return v->get_bool() ? "true" : "false";
    return {};
}

EVOLINK_INLINE std::optional<double> json_number(const boost::json::value* v)
{
    auto finite = [](double d) -> std::optional<double> {
        if (!std::isfinite(d)) return std::nullopt;
        return d;
    };
    if (!v) return std::nullopt;
    if (v->is_int64()) return static_cast<double>(v->get_int64());
    if (v->is_uint64()) return static_cast<double>(v->get_uint64());
    if (v->is_double()) return finite(v->get_double());
    if (v->is_string()) { // tolerate numbers sent as strings
        try {
            std::size_t used = 0;
            std::string s(v->get_string());
            double d = std::stod(s, &used);
            if (used == s.size()) return finite(d);
        } catch (...) {
        }
    }
    return std::nullopt;
}

EVOLINK_INLINE const boost::json::object* json_object(const boost::json::object& o, std::string_view key)
{
    auto* v = o.if_contains(key);
    return v && v->is_object() ? &v->get_object() : nullptr;
}

} // namespace detail

namespace detail {

/// Boost.JSON reads numbers too large for a double as infinity, which it
/// would then write as the invalid JSON `Infinity`: keep them as null.
EVOLINK_INLINE void drop_non_finite(boost::json::value& v)
{
    if (v.is_double() && !std::isfinite(v.get_double())) v = nullptr;
    else if (v.is_object())
        for (auto& kv : v.get_object()) drop_non_finite(kv.value());
    else if (v.is_array())
        for (auto& e : v.get_array()) drop_non_finite(e);
}

/// The typed fields of a task object (all but `raw`); nothing without a
/// string `id`.
EVOLINK_INLINE std::optional<task> task_fields(const boost::json::object& o)
{
    auto* id = o.if_contains("id");
    if (!id || !id->is_string() || id->get_string().empty()) return std::nullopt;

    task t;
    t.id = std::string(id->get_string());
    t.object = json_text(o.if_contains("object"));
    t.model = json_text(o.if_contains("model"));
    t.type = json_text(o.if_contains("type"));
    // Casting an out-of-range double to an integer is undefined: clamp first.
    auto created = json_number(o.if_contains("created")).value_or(0);
    t.created = created > 0 && created < 1e15 ? static_cast<std::int64_t>(created) : 0;
    t.status_text = json_text(o.if_contains("status"));
    t.status = parse_task_status(t.status_text);
    auto p = json_number(o.if_contains("progress")).value_or(0);
    t.progress = p < 0 ? 0 : p > 100 ? 100 : static_cast<int>(p);

    if (auto* r = o.if_contains("results"); r && r->is_array())
        for (auto& e : r->get_array())
            if (e.is_string()) t.results.emplace_back(e.get_string());
    // Newer answers carry result_data (objects with image_url/video_url/...):
    // use it when results is absent.
    if (auto* rd = o.if_contains("result_data"); rd && t.results.empty()) {
        auto take = [&t](const boost::json::value& e) {
            if (!e.is_object()) return;
            for (auto key : {"url", "image_url", "video_url", "audio_url"})
                if (auto* u = e.get_object().if_contains(key); u && u->is_string()) {
                    t.results.emplace_back(u->get_string());
                    return;
                }
        };
        if (rd->is_array()) for (auto& e : rd->get_array()) take(e);
        else take(*rd);
    }
    if (auto* i = json_object(o, "task_info")) {
        if (auto* c = i->if_contains("can_cancel"); c && c->is_bool()) t.info.can_cancel = c->get_bool();
        t.info.estimated_time = json_number(i->if_contains("estimated_time"));
        t.info.video_duration = json_number(i->if_contains("video_duration"));
    }
    if (auto* u = json_object(o, "usage")) {
        t.usage.billing_rule = json_text(u->if_contains("billing_rule"));
        t.usage.credits_reserved = json_number(u->if_contains("credits_reserved"));
        t.usage.credits_used = json_number(u->if_contains("credits_used"));
        t.usage.user_group = json_text(u->if_contains("user_group"));
    }
    if (auto* e = json_object(o, "error")) {
        task_error te;
        te.code = json_text(e->if_contains("code"));
        te.message = json_text(e->if_contains("message"));
        te.type = json_text(e->if_contains("type"));
        te.suggestion = json_text(e->if_contains("suggestion"));
        if (!te.code.empty() || !te.message.empty()) t.error = std::move(te);
    }
    return t;
}

/// `raw` of a task read from `o` (moved in or copied), without NaN or infinities.
EVOLINK_INLINE void keep_raw(task& t, boost::json::object o)
{
    t.raw = std::move(o);
    for (auto& kv : t.raw) drop_non_finite(kv.value());
}

} // namespace detail

/// Reads a task object. Fails (returns nothing) only when `v` is not an
/// object or has no string `id`: everything else is optional.
EVOLINK_INLINE std::optional<task> task_from_json(const boost::json::value& v)
{
    if (!v.is_object()) return std::nullopt;
    auto t = detail::task_fields(v.get_object());
    if (t) detail::keep_raw(*t, v.get_object());
    return t;
}

/// The same, taking `v`'s object over as `raw` instead of copying it.
EVOLINK_INLINE std::optional<task> task_from_json(boost::json::value&& v)
{
    if (!v.is_object()) return std::nullopt;
    auto t = detail::task_fields(v.get_object());
    if (t) detail::keep_raw(*t, std::move(v.get_object()));
    return t;
}

/// Parses JSON text into a task; nothing on invalid JSON or no id.
EVOLINK_INLINE std::optional<task> parse_task(std::string_view json)
{
    boost::system::error_code ec;
    auto v = boost::json::parse(json, ec);
    if (ec) return std::nullopt;
    return task_from_json(std::move(v)); // no copy of the object for `raw`
}

namespace detail {

/// Calls f(v) with `json` parsed into an arena on the stack (nullptr when it
/// is not JSON): what f keeps must be copied out, the arena dies on return.
/// An answer read only for its typed fields costs no allocation beyond them.
template <class F>
auto with_parsed_json(std::string_view json, F&& f)
{
    unsigned char arena[4096]; // a task answer fits; a larger one takes more from the heap
    boost::json::monotonic_resource mr(arena, sizeof arena);
    boost::system::error_code ec;
    auto v = boost::json::parse(json, ec, &mr);
    return f(ec ? nullptr : &std::as_const(v));
}

/// The typed fields of the task in `json`, without `raw` (the client's
/// default: client_options::keep_raw_json).
EVOLINK_INLINE std::optional<task> parse_task_typed(std::string_view json)
{
    return with_parsed_json(json, [](const boost::json::value* v) -> std::optional<task> {
        if (!v || !v->is_object()) return std::nullopt;
        return task_fields(v->get_object());
    });
}

} // namespace detail

/// The task as the API would send it: `raw` with the typed fields laid over it.
EVOLINK_INLINE boost::json::object to_json(const task& t)
{
    boost::json::object o = t.raw;
    o["id"] = t.id;
    if (!t.object.empty()) o["object"] = t.object;
    if (!t.model.empty()) o["model"] = t.model;
    if (!t.type.empty()) o["type"] = t.type;
    if (t.created) o["created"] = t.created;
    o["status"] = t.status == task_status::unknown ? t.status_text : std::string(to_string(t.status));
    o["progress"] = t.progress;
    if (!t.results.empty()) o["results"] = boost::json::array(t.results.begin(), t.results.end());
    boost::json::object info = o.contains("task_info") && o["task_info"].is_object() ? o["task_info"].get_object()
                                                                                        : boost::json::object{};
    if (t.info.can_cancel) info["can_cancel"] = *t.info.can_cancel;
    if (t.info.estimated_time) info["estimated_time"] = *t.info.estimated_time;
    if (t.info.video_duration) info["video_duration"] = *t.info.video_duration;
    if (!info.empty()) o["task_info"] = std::move(info);
    boost::json::object usage = o.contains("usage") && o["usage"].is_object() ? o["usage"].get_object()
                                                                              : boost::json::object{};
    if (!t.usage.billing_rule.empty()) usage["billing_rule"] = t.usage.billing_rule;
    if (t.usage.credits_reserved) usage["credits_reserved"] = *t.usage.credits_reserved;
    if (t.usage.credits_used) usage["credits_used"] = *t.usage.credits_used;
    if (!t.usage.user_group.empty()) usage["user_group"] = t.usage.user_group;
    if (!usage.empty()) o["usage"] = std::move(usage);
    if (t.error) {
        boost::json::object e{{"code", t.error->code}, {"message", t.error->message}, {"type", t.error->type}};
        if (!t.error->suggestion.empty()) e["suggestion"] = t.error->suggestion;
        o["error"] = std::move(e);
    }
    return o;
}

} // namespace evolink

#endif
