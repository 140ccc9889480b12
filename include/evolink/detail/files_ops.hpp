// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_FILES_OPS_HPP
#define EVOLINK_DETAIL_FILES_OPS_HPP

// The Files API calls: uploads (a file streamed as multipart/form-data,
// base64 bytes, a URL), list, quota, delete; and the answers' envelope, whose
// failures come with a non-2xx status or with 200 and "success": false.

#include <evolink/detail/api_error.hpp>
#include <evolink/detail/base64.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/operations.hpp>
#include <evolink/detail/random.hpp>
#include <evolink/detail/retry.hpp>
#include <evolink/detail/retry_loop.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/files.hpp>
#include <evolink/images.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace evolink::detail {

/// The `data` of a successful Files API answer, else the error: a Files API
/// code (files_errc) when the body has one, else the HTTP status (api_errc;
/// on a 200 with "success": false and a status-like code, that code).
EVOLINK_INLINE outcome<boost::json::object> files_outcome(outcome<http_result> r, std::string_view secret)
{
    using result = outcome<boost::json::object>;
    if (r.ec) return failure<boost::json::object>(r.ec, std::move(r.diag));
    auto& h = r.value;
    boost::system::error_code pec;
    auto v = boost::json::parse(h.body, pec);
    const boost::json::object* o = !pec && v.is_object() ? &v.get_object() : nullptr;
    bool ok_status = h.status >= 200 && h.status <= 299;
    auto* success = o ? o->if_contains("success") : nullptr;
    bool failed = !ok_status || (success && success->is_bool() && !success->get_bool());
    if (failed) {
        auto d = api_diagnostics(h);
        auto code = o ? json_number(o->if_contains("code")) : std::nullopt;
        error_code ec = make_http_error(static_cast<int>(ok_status ? 500 : h.status));
        if (code && *code >= 10000 && *code < 100000) ec = {static_cast<int>(*code), files_category()};
        else if (ok_status && code && *code >= 400 && *code <= 599) ec = make_http_error(static_cast<int>(*code));
        if (d.message.empty() || d.message == h.reason) d.message = ec.message();
        redact(d, secret);
        return failure<boost::json::object>(ec, std::move(d));
    }
    if (o) {
        if (auto* data = json_object(*o, "data")) return result{{}, {}, *data};
        if (!o->contains("data")) return result{{}, {}, {}}; // delete: no data
    }
    diagnostics d;
    d.http_status = static_cast<int>(h.status);
    d.request_id = h.request_id;
    d.message = "the answer is not a Files API envelope: " +
                (h.body.empty() ? std::string("empty body") : body_excerpt(h.body));
    redact(d, secret);
    return failure<boost::json::object>(make_error_code(errc::bad_response), std::move(d));
}

EVOLINK_INLINE std::uint64_t json_count(const boost::json::object& o, std::string_view key)
{
    auto n = json_number(o.if_contains(key));
    return n && *n > 0 ? static_cast<std::uint64_t>(*n) : 0;
}

/// A file id as the Files API makes them: safe to put in a path.
EVOLINK_INLINE bool is_file_id(std::string_view id)
{
    return !id.empty() && id.size() <= 128 &&
           id.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
               std::string_view::npos;
}

/// bad_response when a file the server described has an id that could not
/// go into a request path (delete_file(id) would put it there).
EVOLINK_INLINE std::optional<diagnostics> server_file_id_problem(const file_info& f)
{
    return server_id_problem("file id", f.file_id, !is_file_id(f.file_id), "[A-Za-z0-9._-]");
}

EVOLINK_INLINE file_info file_info_from_json(const boost::json::object& o)
{
    file_info f;
    f.file_id = json_text(o.if_contains("file_id"));
    f.file_name = json_text(o.if_contains("file_name"));
    f.original_name = json_text(o.if_contains("original_name"));
    f.file_size = json_count(o, "file_size");
    f.mime_type = json_text(o.if_contains("mime_type"));
    f.upload_path = json_text(o.if_contains("upload_path"));
    f.file_url = json_text(o.if_contains("file_url"));
    f.download_url = json_text(o.if_contains("download_url"));
    f.upload_time = json_text(o.if_contains("upload_time"));
    f.expires_at = json_text(o.if_contains("expires_at"));
    return f;
}

/// A multipart/form-data field name or file name, made safe for a quoted
/// header parameter (quotes and line breaks would end it early).
EVOLINK_INLINE std::string form_quoted(std::string_view s)
{
    std::string out;
    for (char c : s) out += (c == '"' || c == '\r' || c == '\n' || c == '\\') ? '_' : c;
    return out;
}

/// Builds the request of an upload. Fails (nothing sent) when the file
/// cannot be read or is empty. Blocks (file system, base64): runs on the
/// file executor.
EVOLINK_INLINE std::optional<diagnostics> prepare_upload(const upload_job& job, std::string& target, std::string& json,
                                                         std::shared_ptr<transport::streamed_body>& stream)
{
    boost::json::object o;
    if (!job.options.upload_path.empty()) o["upload_path"] = job.options.upload_path;
    if (!job.options.file_name.empty()) o["file_name"] = job.options.file_name;
    switch (job.k) {
    case upload_job::kind::url:
        if (auto e = check_http_url("file_url", job.source)) return e;
        target = "/api/v1/files/upload/url";
        o["file_url"] = job.source;
        json = boost::json::serialize(o);
        return std::nullopt;
    case upload_job::kind::bytes: {
        if (job.source.empty()) return invalid("bytes", "is empty; allowed: the bytes of a file");
        std::string mime = job.mime_type;
        if (mime.empty())
            mime = mime_type(sniff_image_format(
                std::span(reinterpret_cast<const unsigned char*>(job.source.data()), job.source.size())));
        target = "/api/v1/files/upload/base64";
        o["base64_data"] = "data:" + mime + ";base64," + base64(job.source);
        json = boost::json::serialize(o);
        return std::nullopt;
    }
    case upload_job::kind::file: break;
    }
    std::error_code fec;
    auto size = job.loaded ? job.loaded->size() : std::filesystem::file_size(job.source, fec);
    if (fec) return invalid("path", detail::quoted(job.source) + " cannot be read: " + fec.message());
    if (size == 0) return invalid("path", detail::quoted(job.source) + " is empty; allowed: a file with content");
    unsigned char head[64];
    std::size_t got = 0;
    if (job.loaded) {
        got = std::min(sizeof head, job.loaded->size());
        std::memcpy(head, job.loaded->data(), got);
    } else {
        std::FILE* probe = std::fopen(job.source.c_str(), "rb");
        if (!probe) return invalid("path", detail::quoted(job.source) + " cannot be opened: " + std::strerror(errno));
        got = std::fread(head, 1, sizeof head, probe);
        std::fclose(probe);
    }
    std::string mime(mime_type(sniff_image_format(std::span<const unsigned char>(head, got))));

    stream = std::make_shared<transport::streamed_body>();
    std::string boundary = "evolink-" + random_token(24);
    stream->content_type = "multipart/form-data; boundary=" + boundary;
    for (auto* field : {"upload_path", "file_name"})
        if (auto* v = o.if_contains(field))
            stream->head += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + field + "\"\r\n\r\n" +
                            std::string(v->get_string()) + "\r\n";
    auto name = std::filesystem::path(job.source).filename().string();
    stream->head += "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
                    form_quoted(name) + "\"\r\nContent-Type: " + mime + "\r\n\r\n";
    stream->file = job.source;
    stream->file_size = size;
    stream->bytes = job.loaded;
    stream->tail = "\r\n--" + boundary + "--\r\n";
    target = "/api/v1/files/upload/stream";
    return std::nullopt;
}

/// One Files API call with the client's retry policy. Reads (list, quota,
/// delete: repeating them is harmless) retry transient failures; an upload
/// is retried only when it provably never reached the server or got a 429
/// (a resent upload could store the file twice, counting twice against the
/// quota).
template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<boost::json::object>>
files_call(std::shared_ptr<transport> core, origin o, http::verb method, std::string target, std::string json,
           std::shared_ptr<const transport::streamed_body> stream, bool is_read)
{
    retry_budget budget;
    auto log_line = [&](const diagnostics& d, std::chrono::milliseconds delay) {
        return std::string(http::to_string(method)) + " " + target + " failed (" + d.summary() + "); retrying in " +
               seconds_text(delay);
    };
    for (unsigned attempt = 1;; ++attempt) {
        outcome<http_result> r; // no `?:` around co_await: g++ 12 destroys its result twice
        if (stream) r = co_await core->request_streamed(o, target, stream);
        else r = co_await core->request(o, method, target, json, true, {}, !is_read);
        bool sent = r.value.sent;
        auto retry_after = r.value.retry_after;
        auto held = r.value.held_cancel;
        auto out = files_outcome(std::move(r), core->options().api_key);
        out.diag->attempts = attempt;
        if (out.ec == asio::error::operation_aborted && sent && !is_read) {
            out.ec = make_error_code(errc::outcome_unknown); // terminal after the upload was written
            out.diag->message += "; the upload was written: the file may or may not be stored (see list_files)";
        }
        if (!out.ec && held != asio::cancellation_type::none && held != asio::cancellation_type::total) {
            // Partial: stop, with the effect stated (total is not honoured once written).
            out.ec = asio::error::operation_aborted;
            out.diag->message = "cancelled after the upload was written; the file was stored as " +
                               json_text(out.value.if_contains("file_id")) + " (" +
                               json_text(out.value.if_contains("file_url")) + ")";
        }
        if (!out.ec || out.ec == asio::error::operation_aborted || out.ec == errc::outcome_unknown) co_return out;
        if (held != asio::cancellation_type::none) co_return out; // cancelled meanwhile: no retry
        // Judged by the HTTP status when there was one (a 500 carrying code
        // 50001 is a 500), else by the error.
        auto basis = out.diag->http_status >= 300 ? make_http_error(out.diag->http_status) : out.ec;
        auto verdict = classify_create(basis, sent, false, out.diag->code);
        bool again = is_read ? retryable_read(basis) : verdict == create_verdict::retry;
        if (!again) {
            if (!is_read && verdict == create_verdict::outcome_unknown)
                out.diag->message += "; the upload was sent, so the file may be stored (see list_files); "
                                    "not sent again";
            co_return out;
        }
        auto step = co_await pause_before_retry(*core, budget, attempt, retry_after, *out.diag, log_line);
        if (step == retry_step::cancelled) out.ec = asio::error::operation_aborted;
        if (step != retry_step::again) co_return out;
    }
}

template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<file_info>> upload(std::shared_ptr<transport> core, origin o, std::shared_ptr<const upload_job> job)
{
    std::string target, json;
    std::shared_ptr<transport::streamed_body> stream;
    auto prepare = [&] { return prepare_upload(*job, target, json, stream); };
    std::optional<diagnostics> bad;
    if (job->k == upload_job::kind::url) bad = prepare();
    else bad = co_await run_blocking(core->file_executor(), prepare);
    if (bad) co_return failure<file_info>(make_error_code(errc::invalid_request), std::move(*bad));
    if (stream && !stream->bytes) stream->file_ex = core->file_executor();
    auto r = co_await files_call(core, std::move(o), http::verb::post, std::move(target), std::move(json),
                                 std::move(stream), false);
    if (r.ec) co_return failure<file_info>(r.ec, std::move(r.diag));
    auto f = file_info_from_json(r.value);
    if (f.file_url.empty()) {
        diagnostics d;
        d.message = "the upload answer has no data.file_url: " + body_excerpt(boost::json::serialize(r.value));
        co_return failure<file_info>(make_error_code(errc::bad_response), std::move(d));
    }
    if (auto bad = server_file_id_problem(f)) {
        bad->message += "; the file was stored as " + f.file_url;
        co_return failure<file_info>(make_error_code(errc::bad_response), std::move(*bad));
    }
    core->log(log_level::info, "uploaded " + (job->k == upload_job::kind::file ? job->source : f.original_name) +
                                   " as " + f.file_id + " (" + std::to_string(f.file_size) + " bytes)");
    co_return outcome<file_info>{{}, {}, std::move(f)};
}

template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<file_list>> list_files(std::shared_ptr<transport> core, origin o, unsigned page,
                                                              unsigned page_size)
{
    if (page < 1 || page_size < 1 || page_size > 100) {
        auto d = invalid(page < 1 ? "page" : "page_size",
                         page < 1 ? "is " + std::to_string(page) + "; allowed: 1 or more"
                                  : "is " + std::to_string(page_size) + "; allowed: 1 to 100");
        co_return failure<file_list>(make_error_code(errc::invalid_request), std::move(d));
    }
    std::string target = "/api/v1/files/list?page=" + std::to_string(page) + "&pageSize=" + std::to_string(page_size);
    auto r = co_await files_call(core, std::move(o), http::verb::get, std::move(target), {}, nullptr, true);
    if (r.ec) co_return failure<file_list>(r.ec, std::move(r.diag));
    file_list l;
    l.total = json_count(r.value, "total");
    if (auto* files = r.value.if_contains("files"); files && files->is_array())
        for (auto& f : files->get_array())
            if (f.is_object()) l.files.push_back(file_info_from_json(f.get_object()));
    for (auto& f : l.files)
        if (auto bad = server_file_id_problem(f)) // all or nothing: a list with a hole would mislead
            co_return failure<file_list>(make_error_code(errc::bad_response), std::move(*bad));
    co_return outcome<file_list>{{}, {}, std::move(l)};
}

template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<file_quota>> get_file_quota(std::shared_ptr<transport> core, origin o)
{
    auto r = co_await files_call(core, std::move(o), http::verb::get, "/api/v1/files/quota", {}, nullptr, true);
    if (r.ec) co_return failure<file_quota>(r.ec, std::move(r.diag));
    file_quota q;
    q.user_group = json_text(r.value.if_contains("user_group"));
    q.used_files = json_count(r.value, "used_files");
    q.max_files = json_count(r.value, "max_files");
    q.remain_files = json_count(r.value, "remain_files");
    co_return outcome<file_quota>{{}, {}, std::move(q)};
}

/// A caller's file id, checked before it goes into a request path.
EVOLINK_INLINE std::optional<diagnostics> check_file_id(std::string_view id)
{
    if (!is_file_id(id))
        return invalid("file_id", detail::quoted(id) + " is not a file id; allowed: 1 to 128 of [A-Za-z0-9._-]");
    return std::nullopt;
}

template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<bool>> delete_file(std::shared_ptr<transport> core, origin o, std::string id)
{
    if (auto e = check_file_id(id)) co_return failure<bool>(make_error_code(errc::invalid_request), std::move(*e));
    auto r = co_await files_call(core, std::move(o), http::verb::delete_, "/api/v1/files/" + id, {}, nullptr, true);
    if (r.ec) co_return failure<bool>(r.ec, std::move(r.diag));
    co_return outcome<bool>{{}, {}, true};
}

} // namespace evolink::detail

#endif
