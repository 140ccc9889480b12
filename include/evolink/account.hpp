// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_ACCOUNT_HPP
#define EVOLINK_ACCOUNT_HPP

/// The account: its credit balance (client::credits, `GET /v1/credits`) and
/// its tasks, newest first (client::list_tasks, `GET /v1/tasks?...`). Both
/// endpoints are undocumented; EvoLink's own newer client uses them. Parsing
/// is tolerant as for tasks: extra fields are ignored, optional ones may be
/// missing, numbers may be integers, floats or numeric strings.

#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>
#include <evolink/task.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace evolink {

/// The account's credits (all of its keys together).
struct user_credits {
    double remaining = 0;
    double used = 0;
};

/// The credits of the API key the client uses (a key may have its own limit).
struct token_credits {
    double remaining = 0;
    double used = 0;
    bool unlimited = false; ///< the key has no limit of its own: the account's balance applies
};

/// client::credits: `data.user` and `data.token` of `GET /v1/credits`.
/// EvoLink's client shows 68 credits as about 1 USD.
struct credit_balance {
    user_credits user;
    token_credits token;
};

/// Which tasks client::list_tasks asks for. Unset fields are not sent (the
/// service's defaults apply). Checked before anything is sent.
struct task_filter {
    // Not an aggregate: see wait_options (a g++ 12 bug with temporaries).
    task_filter() = default;

    /// processing, completed, failed or cancelled (the values the service
    /// filters by; pending and unknown are refused).
    std::optional<task_status> status{};
    /// "image", "video", "audio" or "text" (the task types, task::type).
    std::optional<std::string> type{};
    /// A model name ("wan2.5-text-to-image"): 1 to 256 bytes, no control characters.
    std::optional<std::string> model{};
    /// 1 or more; unset: 1.
    std::optional<int> page{};
    /// 1 to 100; unset: the service's default.
    std::optional<int> page_size{};

    using is_evolink_options = void;
};

/// One entry of client::list_tasks: a task without its result URLs (read
/// it with client::get_task for them).
struct task_summary {
    std::string id;
    std::string model;
    std::string type; ///< "image", "video"...
    task_status status = task_status::unknown;
    std::string status_text; ///< the status as received (useful when unknown)
    int progress = 0;        ///< 0 to 100
    std::int64_t created_at = 0; ///< unix seconds
    std::optional<double> duration;    ///< when the service says (seconds)
    std::optional<bool> has_results;
    std::optional<std::uint64_t> result_count;
    std::optional<bool> has_error;
    std::optional<double> credits_used;
};

/// One page of client::list_tasks, newest first.
struct task_list {
    std::vector<task_summary> tasks;
    std::uint64_t total = 0;     ///< tasks matching the filter, all pages together
    std::uint64_t page = 1;      ///< this page's number (from 1)
    std::uint64_t page_size = 0; ///< tasks per page

    /// True when a later page holds more tasks (ask for page + 1): page *
    /// page_size < total, without overflow whatever the server sent.
    bool has_next_page() const noexcept
    {
        return page_size > 0 && page < total / page_size + (total % page_size != 0 ? 1 : 0);
    }
};

namespace detail {

inline constexpr std::array<task_status, 4> task_filter_statuses = {task_status::processing, task_status::completed,
                                                                    task_status::failed, task_status::cancelled};
inline constexpr std::array<std::string_view, 4> task_filter_types = {"image", "video", "audio", "text"};

inline std::string_view to_string_of(std::string_view s) { return s; }
inline std::string_view to_string_of(task_status s) { return to_string(s); }

/// "a, b, c": the allowed values, for a message.
template <class List>
std::string listed(const List& values)
{
    std::string s;
    for (auto v : values) s += (s.empty() ? "" : ", ") + std::string(to_string_of(v));
    return s;
}

EVOLINK_INLINE check_result check_filter_status(const std::optional<task_status>& s)
{
    if (!s) return std::nullopt;
    for (auto ok : task_filter_statuses)
        if (*s == ok) return std::nullopt;
    return invalid("status", std::string(to_string(*s)) + " is not a filter value; allowed: " +
                                 listed(task_filter_statuses));
}

EVOLINK_INLINE check_result check_filter_type(const std::optional<std::string>& t)
{
    if (!t) return std::nullopt;
    for (auto ok : task_filter_types)
        if (*t == ok) return std::nullopt;
    return invalid("type", detail::quoted(*t) + " is not a task type; allowed: " + listed(task_filter_types));
}

EVOLINK_INLINE check_result check_filter_model(const std::optional<std::string>& m)
{
    if (!m) return std::nullopt;
    if (m->empty()) return invalid("model", "is empty; allowed: a model name like \"wan2.5-text-to-image\"");
    if (m->size() > 256)
        return invalid("model", "is " + std::to_string(m->size()) + " bytes long; allowed: at most 256");
    for (char c : *m)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
            return invalid("model", "holds a control character; allowed: a model name like \"wan2.5-text-to-image\"");
    return std::nullopt;
}

} // namespace detail

/// Checks a filter: nothing when it may be sent, else diagnostics naming the
/// field (`param`: status, type, model, page, page_size), the value and what
/// is allowed.
EVOLINK_INLINE std::optional<diagnostics> validate(const task_filter& f)
{
    if (auto e = detail::check_filter_status(f.status)) return e;
    if (auto e = detail::check_filter_type(f.type)) return e;
    if (auto e = detail::check_filter_model(f.model)) return e;
    if (f.page && *f.page < 1) return detail::invalid("page", std::to_string(*f.page) + " is out of range; allowed: 1 or more");
    if (f.page_size) return detail::check_range("page_size", *f.page_size, 1, 100);
    return std::nullopt;
}

namespace detail {

/// `s` percent-encoded for a query value: all but RFC 3986's unreserved characters.
EVOLINK_INLINE std::string query_encoded(std::string_view s)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                     c == '.' || c == '_' || c == '~';
        if (plain) out += c;
        else out += {'%', hex[u >> 4], hex[u & 15]};
    }
    return out;
}

/// `/v1/tasks` with the filter's set fields as its query (a checked filter).
EVOLINK_INLINE std::string task_list_target(const task_filter& f)
{
    std::string q;
    auto add = [&q](std::string_view name, std::string_view value) {
        q += (q.empty() ? "?" : "&") + std::string(name) + "=" + query_encoded(value);
    };
    if (f.status) add("status", to_string(*f.status));
    if (f.type) add("type", *f.type);
    if (f.model) add("model", *f.model);
    if (f.page) add("page", std::to_string(*f.page));
    if (f.page_size) add("page_size", std::to_string(*f.page_size));
    return "/v1/tasks" + q;
}

EVOLINK_INLINE std::optional<bool> json_flag(const boost::json::value* v)
{
    if (v && v->is_bool()) return v->get_bool();
    if (auto n = json_number(v); n && (*n == 0 || *n == 1)) return *n == 1;
    return std::nullopt;
}

/// A count the server sent (negative or absurd values: nothing).
EVOLINK_INLINE std::optional<std::uint64_t> json_whole(const boost::json::value* v)
{
    auto n = json_number(v);
    if (!n || *n < 0 || *n > 1e15) return std::nullopt;
    return static_cast<std::uint64_t>(*n);
}

/// The JSON object in `body`, or nothing with `why` set.
EVOLINK_INLINE std::optional<boost::json::object> json_body(std::string_view body, std::string& why)
{
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec || !v.is_object()) {
        why = body.empty() ? "empty body" : "not a JSON object";
        return std::nullopt;
    }
    return std::move(v.get_object());
}

/// The balance in the body of a 2xx `GET /v1/credits`; nothing, with `why`,
/// when it has no `data` object or says `"success": false` (its message in `why`).
EVOLINK_INLINE std::optional<credit_balance> parse_credits(std::string_view body, std::string& why)
{
    auto o = json_body(body, why);
    if (!o) return std::nullopt;
    if (auto* s = o->if_contains("success"); s && s->is_bool() && !s->get_bool()) {
        auto message = json_text(o->if_contains("message"));
        why = "the answer says \"success\": false" + (message.empty() ? std::string() : ": " + message);
        return std::nullopt;
    }
    auto* data = json_object(*o, "data");
    if (!data) {
        why = "the answer has no \"data\" object";
        return std::nullopt;
    }
    credit_balance b;
    if (auto* u = json_object(*data, "user")) {
        b.user.remaining = json_number(u->if_contains("remaining_credits")).value_or(0);
        b.user.used = json_number(u->if_contains("used_credits")).value_or(0);
    }
    if (auto* t = json_object(*data, "token")) {
        b.token.remaining = json_number(t->if_contains("remaining_credits")).value_or(0);
        b.token.used = json_number(t->if_contains("used_credits")).value_or(0);
        b.token.unlimited = json_flag(t->if_contains("unlimited_credits")).value_or(false);
    }
    return b;
}

/// One list entry; nothing when it is not an object with a task id.
EVOLINK_INLINE std::optional<task_summary> task_summary_from_json(const boost::json::value& v)
{
    auto* o = v.if_object();
    auto* id = o ? o->if_contains("id") : nullptr;
    if (!id || !id->is_string() || check_task_id(id->get_string())) return std::nullopt;
    task_summary s;
    s.id = std::string(id->get_string());
    s.model = json_text(o->if_contains("model"));
    s.type = json_text(o->if_contains("type"));
    s.status_text = json_text(o->if_contains("status"));
    s.status = parse_task_status(s.status_text);
    auto p = json_number(o->if_contains("progress")).value_or(0);
    s.progress = p < 0 ? 0 : p > 100 ? 100 : static_cast<int>(p);
    s.created_at = static_cast<std::int64_t>(json_whole(o->if_contains("created_at")).value_or(0));
    s.duration = json_number(o->if_contains("duration"));
    s.has_results = json_flag(o->if_contains("has_results"));
    s.result_count = json_whole(o->if_contains("result_count"));
    s.has_error = json_flag(o->if_contains("has_error"));
    s.credits_used = json_number(o->if_contains("credits_used"));
    return s;
}

/// The page in the body of a 2xx `GET /v1/tasks`; nothing, with `why`, when
/// `data` is not an array or an entry is not a task (all or nothing: a list
/// with a hole would mislead). `asked`: page and page_size when the answer
/// does not say.
EVOLINK_INLINE std::optional<task_list> parse_task_list(std::string_view body, const task_filter& asked,
                                                        std::string& why)
{
    auto o = json_body(body, why);
    if (!o) return std::nullopt;
    auto* data = o->if_contains("data");
    if (!data || !data->is_array()) {
        why = "the answer has no \"data\" array";
        return std::nullopt;
    }
    task_list l;
    for (std::size_t i = 0; i < data->get_array().size(); ++i) {
        auto s = task_summary_from_json(data->get_array()[i]);
        if (!s) {
            why = "data[" + std::to_string(i) + "] is not a task with an id of [A-Za-z0-9_-]";
            return std::nullopt;
        }
        l.tasks.push_back(std::move(*s));
    }
    l.total = json_whole(o->if_contains("total")).value_or(l.tasks.size());
    l.page = json_whole(o->if_contains("page")).value_or(asked.page.value_or(1));
    l.page_size = json_whole(o->if_contains("page_size"))
                      .value_or(asked.page_size ? static_cast<std::uint64_t>(*asked.page_size) : l.tasks.size());
    return l;
}

} // namespace detail

} // namespace evolink

#endif
