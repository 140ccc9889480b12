// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_API_ERROR_HPP
#define EVOLINK_DETAIL_API_ERROR_HPP

// Turns a non-2xx answer into (error_code, diagnostics). The HTTP status is
// the error, whatever the body says: JSON envelopes (code as integer or
// string), HTML pages from proxies and empty bodies all keep their status.

#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/async.hpp>
#include <evolink/detail/http_result.hpp>
#include <evolink/error.hpp>
#include <evolink/task.hpp>

#include <boost/json/parse.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace evolink::detail {

/// Readable text from a non-JSON body: tags dropped, white space folded, cut.
EVOLINK_INLINE std::string body_excerpt(std::string_view body, std::size_t max = 200)
{
    std::string out;
    bool in_tag = false, space = false;
    for (char c : body) {
        if (c == '<') { in_tag = true; space = !out.empty(); continue; }
        if (c == '>') { in_tag = false; continue; }
        if (in_tag) continue;
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n') { space = !out.empty(); continue; }
        if (static_cast<unsigned char>(c) < 0x20) continue;
        if (space) out += ' ';
        space = false;
        out += c;
        if (out.size() >= max) { out += "..."; break; }
    }
    return out;
}

/// An id the server sent, for a message: quoted, escaped, cut.
EVOLINK_INLINE std::string escaped_quoted(std::string_view v, std::size_t max = 80)
{
    static constexpr char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (char c : v.substr(0, max)) {
        auto u = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') out += {'\\', c};
        else if (u >= 0x20 && u < 0x7F) out += c;
        else out += {'\\', 'x', hex[u >> 4], hex[u & 15]};
    }
    out += '"';
    if (v.size() > max) out += "... (" + std::to_string(v.size()) + " bytes)";
    return out;
}

/// Ids that come from the server go into request paths like the caller's:
/// one that fails the check (`bad`) is a bad answer, never used.
EVOLINK_INLINE std::optional<diagnostics> server_id_problem(std::string_view what, std::string_view id, bool bad,
                                                            std::string_view allowed = "[A-Za-z0-9_-]")
{
    if (!bad) return std::nullopt;
    diagnostics d;
    d.message = "the server sent the " + std::string(what) + " " + escaped_quoted(id) + ", which cannot be one (allowed: 1 to 128 of " +
                std::string(allowed) + "); it was not used in any request";
    return d;
}

EVOLINK_INLINE diagnostics api_diagnostics(const http_result& r)
{
    diagnostics d;
    d.http_status = static_cast<int>(r.status);
    d.request_id = r.request_id;
    boost::system::error_code ec;
    auto v = boost::json::parse(r.body, ec);
    const boost::json::object* o = !ec && v.is_object() ? &v.get_object() : nullptr;
    const boost::json::object* e = o ? json_object(*o, "error") : nullptr;
    if (e) {
        d.code = json_text(e->if_contains("code"));
        d.message = json_text(e->if_contains("message"));
        d.type = json_text(e->if_contains("type"));
        d.param = json_text(e->if_contains("param"));
        d.fallback_suggestion = json_text(e->if_contains("fallback_suggestion"));
        if (d.fallback_suggestion.empty()) d.fallback_suggestion = json_text(e->if_contains("suggestion"));
    } else if (o) { // flat envelopes: {"code":..,"msg":..} (Files API) or {"message":..}
        d.code = json_text(o->if_contains("code"));
        d.message = json_text(o->if_contains("msg"));
        if (d.message.empty()) d.message = json_text(o->if_contains("message"));
    } else if (r.body.find_first_not_of(" \t\r\n") == std::string::npos) {
        d.message = "empty body" + (r.reason.empty() ? std::string() : " (" + r.reason + ")");
    } else {
        d.message = "non-JSON body" + (r.content_type.empty() ? std::string() : " (" + r.content_type + ")") + ": " +
                    body_excerpt(r.body);
    }
    if (d.message.empty()) d.message = r.reason.empty() ? "HTTP " + std::to_string(r.status) : r.reason;
    // "... (request id: X)" at the end of a message names the request when
    // no header did.
    if (d.request_id.empty()) {
        constexpr std::string_view tag = "(request id: ";
        if (auto pos = d.message.rfind(tag); pos != std::string::npos && d.message.back() == ')')
            d.request_id = d.message.substr(pos + tag.size(), d.message.size() - pos - tag.size() - 1);
    }
    return d;
}

/// The task in a 2xx answer (with `raw` when `keep_raw`), the API error of a
/// non-2xx one, or bad_response.
EVOLINK_INLINE outcome<task> task_outcome(outcome<http_result> r, std::string_view secret, bool keep_raw = true)
{
    if (r.ec) return failure<task>(r.ec, std::move(r.diag));
    auto& h = r.value;
    if (h.status < 200 || h.status > 299) {
        auto d = api_diagnostics(h);
        redact(d, secret);
        return failure<task>(make_http_error(static_cast<int>(h.status)), std::move(d));
    }
    if (auto t = keep_raw ? parse_task(h.body) : parse_task_typed(h.body)) {
        if (auto bad = server_id_problem("task id", t->id, check_task_id(t->id).has_value())) {
            bad->http_status = static_cast<int>(h.status);
            bad->request_id = h.request_id;
            redact(*bad, secret);
            return failure<task>(make_error_code(errc::bad_response), std::move(*bad));
        }
        return {{}, {}, std::move(*t)};
    }
    diagnostics d;
    d.http_status = static_cast<int>(h.status);
    d.request_id = h.request_id;
    d.message = "the answer is not a task object: " + (h.body.empty() ? std::string("empty body") : body_excerpt(h.body));
    redact(d, secret);
    return failure<task>(make_error_code(errc::bad_response), std::move(d));
}

} // namespace evolink::detail

#endif
