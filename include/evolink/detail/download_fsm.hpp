// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_DOWNLOAD_FSM_HPP
#define EVOLINK_DETAIL_DOWNLOAD_FSM_HPP

// The decisions of a download, without I/O (as Boost.Redis's *_fsm): which
// request to send (Range, If-Range), what an answer's head means (redirect,
// 200, 206, an error answer), how much may arrive, and after a broken
// transfer whether to resume, start again or give up. download.hpp feeds it
// events and performs the actions it returns; tests/unit/test_download_fsm.cpp
// feeds it events by hand.

#include <evolink/detail/api_error.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/origin.hpp>
#include <evolink/detail/retry.hpp>
#include <evolink/detail/random.hpp>
#include <evolink/detail/http_result.hpp>
#include <evolink/files.hpp>

#include <boost/asio/error.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

namespace evolink::detail {

/// A URL as it may appear in messages and logs: result URLs are presigned
/// bearer links, so the query (the signature) and any user info are dropped:
/// `https://host/path?…`.
EVOLINK_INLINE std::string redacted_url(std::string_view url)
{
    std::string_view rest = url.substr(0, url.find('#'));
    bool query = false;
    if (auto q = rest.find('?'); q != std::string_view::npos) {
        rest = rest.substr(0, q);
        query = true;
    }
    std::string out(rest);
    auto scheme = out.find("://");
    auto from = scheme == std::string::npos ? 0 : scheme + 3;
    auto at = out.find('@', from);
    if (at != std::string::npos && at < out.find('/', from)) out.erase(from, at + 1 - from);
    return query ? out + "?\u2026" : out;
}

/// Scrubs the values of `url`'s query (as sent and decoded, 8 characters or
/// more) from what the server said: an error page may echo the signature.
EVOLINK_INLINE void redact_query_values(diagnostics& d, std::string_view url)
{
    auto u = boost::urls::parse_uri_reference(url);
    if (!u) return;
    for (auto p : u->encoded_params()) {
        if (!p.has_value) continue;
        for (const std::string& v : {std::string(p.value), p.value.decode()})
            if (v.size() >= 8) redact(d, v);
    }
}

/// "bytes a-b/total" → a and total (total 0 when "*").
EVOLINK_INLINE bool parse_content_range(std::string_view v, std::uint64_t& first, std::uint64_t& total)
{
    auto num = [](std::string_view s, std::uint64_t& out) {
        if (s.empty() || s.size() > 19) return false;
        out = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return false;
            out = out * 10 + static_cast<std::uint64_t>(c - '0');
        }
        return true;
    };
    if (!v.starts_with("bytes ")) return false;
    v.remove_prefix(6);
    auto dash = v.find('-'), slash = v.find('/');
    if (dash == std::string_view::npos || slash == std::string_view::npos || dash > slash) return false;
    std::uint64_t last = 0;
    if (!num(v.substr(0, dash), first) || !num(v.substr(dash + 1, slash - dash - 1), last) || last < first) return false;
    auto t = v.substr(slash + 1);
    if (t == "*") total = 0;
    else if (!num(t, total) || total <= last) return false;
    return true;
}

EVOLINK_INLINE std::string size_text(std::uint64_t n)
{
    if (n < 1024 * 1024) return std::to_string(n) + " bytes";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(n) / (1024.0 * 1024.0));
    return std::string(buf) + " (" + std::to_string(n) + " bytes)";
}

/// What the download needs of an answer's head.
struct download_head {
    unsigned status = 0;
    std::string location, content_range, accept_ranges, etag, last_modified, content_type;
    std::optional<std::uint64_t> content_length;
};

/// How an exchange ended: `ec` and `diag` as the transport reports them
/// (`head.sent`: the request started to go out); for an error answer, `head`
/// holds its head and an excerpt of its body.
struct download_end {
    error_code ec;
    diagnostics diag;
    http_result head;
};

/// The rules of one download, as events in and actions out.
class download_fsm {
public:
    struct limits {
        bool allow_insecure_http = false;
        unsigned max_redirects = 5;
        std::uint64_t max_bytes = 0;
        retry_policy retry;
        std::string path; ///< the destination, named in messages
    };

    enum class act {
        request, ///< send a GET for target() to where() with headers(), after `delay`
        stream,  ///< (on a head) read the body, piece by piece, into the file
        excerpt, ///< (on a head) an error answer: read a little of it for the message
        drop,    ///< (on a head) close without reading the body; then on_end()
        write,   ///< (on a piece) append it to the file, then on_written()
        commit,  ///< the file is complete: move it into place
        fail,    ///< give up with `ec` and `diag`
    };
    struct action {
        act type = act::fail;
        bool truncate = false; ///< empty the file first (it starts again from byte 0)
        std::optional<std::chrono::milliseconds> delay; ///< request: sleep this long first
        error_code ec;         ///< fail
        diagnostics diag;      ///< fail
        std::string log;       ///< a line to log first (a redirect, a retry), at `level`
        log_level level = log_level::debug;
    };

    download_fsm(std::string url, limits l, std::uint_fast32_t seed = jitter_seed())
        : url_(std::move(url)), limits_(std::move(l)), rng_(seed)
    {
    }

    // The state the caller reports (progress, the result).
    const std::string& url() const noexcept { return url_; }
    const origin& where() const noexcept { return *origin_; }
    const std::string& target() const noexcept { return target_; }
    std::uint64_t have() const noexcept { return have_; }
    std::optional<std::uint64_t> total() const noexcept { return total_; }
    unsigned redirects() const noexcept { return redirects_; }
    unsigned resumes() const noexcept { return resumes_; }
    const std::string& content_type() const noexcept { return content_type_; }
    /// "GET <url>" without the query (it holds the signature).
    std::string what() const { return "GET " + redacted_url(url_); }

    /// The first request, or errc::invalid_request for a URL that cannot be
    /// downloaded.
    action start()
    {
        std::string why;
        if (std::string e = check_url(url_, origin_, target_, why); !e.empty()) {
            diagnostics d = invalid("url", detail::quoted(redacted_url(url_)) + " " + e + (why.empty() ? "" : ": URL " + why));
            return remember(make_error_code(errc::invalid_request), std::move(d));
        }
        return make(act::request);
    }

    /// The headers of the next request: Range and If-Range when resuming.
    http_headers headers() const
    {
        http_headers extra;
        if (have_ > 0) {
            extra.emplace_back("Range", "bytes=" + std::to_string(have_) + "-");
            if (!validator_.empty()) extra.emplace_back("If-Range", validator_);
        }
        return extra;
    }

    /// An answer's head arrived.
    action on_head(const download_head& h)
    {
        if (failed_) return *failed_;
        status_ = h.status;
        if (h.status == 301 || h.status == 302 || h.status == 303 || h.status == 307 || h.status == 308)
            return redirect(h);
        if (h.status == 200 || h.status == 206) return body(h);
        return make(act::excerpt);
    }

    /// `n` bytes of the body arrived (not yet written).
    action on_piece(std::size_t n)
    {
        if (have_ + n > limits_.max_bytes)
            return fail(make_error_code(errc::response_too_large),
                        what() + ": more than download_options::max_bytes (" + size_text(limits_.max_bytes) +
                            ") arrived; the partial file was removed",
                        status_);
        return make(act::write);
    }
    void on_written(std::size_t n) { have_ += n; }

    /// The exchange is over: the next request (a redirect, a retry), the
    /// commit, or the end.
    action on_end(download_end e)
    {
        if (failed_) return *failed_;
        if (redirected_) {
            redirected_ = false;
            return make(act::request);
        }
        if (!e.ec && e.head.status != 0 && e.head.status != 200 && e.head.status != 206) {
            error_answer(e);
        } else {
            e.head.retry_after.reset(); // only an error answer's Retry-After paces the retry
            if (e.ec && e.head.sent && total_ && have_ < *total_)
                e.diag.message += " (" + std::to_string(have_) + " of " + std::to_string(*total_) + " bytes received)";
        }
        if (e.ec) return broken(std::move(e));
        if (total_ && have_ != *total_)
            return fail(make_error_code(errc::protocol_error), what() + ": " + std::to_string(have_) + " bytes received, " +
                                                                   std::to_string(*total_) + " announced");
        return make(act::commit);
    }

    /// Ends the download with `ec` (a file error, a cancellation, a refusal):
    /// every later event returns this failure.
    action fail(error_code ec, std::string message, unsigned status = 0)
    {
        diagnostics d;
        d.http_status = static_cast<int>(status);
        d.message = std::move(message);
        d.param = "url";
        return remember(ec, std::move(d));
    }

private:
    /// "" when `u` can be downloaded (then `o` and `t` are set), else why not.
    std::string check_url(const std::string& u, std::optional<origin>& o, std::string& t, std::string& why) const
    {
        auto parsed = boost::urls::parse_absolute_uri(u);
        if (!parsed) return "is not an absolute URL";
        std::string base = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_authority());
        o = parse_origin(base, limits_.allow_insecure_http, why);
        if (!o) return "cannot be downloaded";
        t = std::string(parsed->encoded_path());
        if (t.empty()) t = "/";
        if (parsed->has_query()) t += "?" + std::string(parsed->encoded_query());
        return "";
    }

    action redirect(const download_head& h)
    {
        auto refuse = [&](std::string why) { return fail(make_error_code(errc::protocol_error), what() + ": " + why, h.status); };
        if (h.location.empty()) return refuse("a " + std::to_string(h.status) + " redirect without a Location");
        if (++redirects_ > limits_.max_redirects)
            return refuse("more than " + std::to_string(limits_.max_redirects) + " redirects");
        boost::urls::url next;
        auto base = boost::urls::parse_absolute_uri(url_);
        auto ref = boost::urls::parse_uri_reference(h.location);
        if (!base || !ref || !boost::urls::resolve(*base, *ref, next))
            return refuse("cannot follow the redirect to " + detail::quoted(redacted_url(h.location)));
        std::string next_url(next.buffer());
        if (origin_->tls && next.scheme_id() != boost::urls::scheme::https)
            return refuse("refused a redirect from https to " + detail::quoted(redacted_url(next_url)));
        std::optional<origin> o;
        std::string t, why;
        if (std::string e = check_url(next_url, o, t, why); !e.empty())
            return refuse("redirected to " + detail::quoted(redacted_url(next_url)) + ", which " + e +
                          (why.empty() ? "" : ": " + why));
        std::string log = what() + " -> " + std::to_string(h.status) + " " + redacted_url(next_url);
        url_ = std::move(next_url);
        origin_ = std::move(o);
        target_ = std::move(t);
        restart(); // a resumed offset is only valid for the same resource
        redirected_ = true;
        auto a = make(act::drop); // its body is unread: the connection closes
        a.log = std::move(log);
        return a;
    }

    /// A 200 or 206: the body to stream, if it is what was asked for.
    action body(const download_head& h)
    {
        std::uint64_t first = 0, whole = 0;
        bool partial = h.status == 206 && have_ > 0 && parse_content_range(h.content_range, first, whole) && first == have_;
        // A 206 is only a continuation of what we have, from where we asked;
        // anything else would commit a file with a hole or a missing head.
        if (h.status == 206 && !partial)
            return fail(make_error_code(errc::protocol_error),
                        what() + ": the server answered " +
                            (have_ == 0 ? std::string("a request without Range") : "Range bytes=" + std::to_string(have_) + "-") +
                            " with a 206 and Content-Range " + detail::quoted(h.content_range) + "; nothing was left at " +
                            detail::quoted(limits_.path),
                        h.status);
        if (!partial) restart(); // a 200: the server sent the whole file (again)
        ranges_ = boost::beast::iequals(h.accept_ranges, "bytes") || partial;
        validator_ = h.etag;
        if (validator_.empty() || validator_.starts_with("W/")) validator_ = h.last_modified;
        if (partial) total_ = whole > 0 ? std::optional(whole) : total_;
        else total_ = h.content_length;
        content_type_ = h.content_type;
        if (total_ && *total_ > limits_.max_bytes)
            return fail(make_error_code(errc::response_too_large),
                        what() + ": the file is " + size_text(*total_) + "; download_options::max_bytes allows " +
                            size_text(limits_.max_bytes) + " (nothing was written)",
                        h.status);
        return make(act::stream);
    }

    /// An answer other than 200, 206 or a redirect: its error.
    void error_answer(download_end& e)
    {
        e.diag = api_diagnostics(e.head);
        e.diag.message = what() + ": " + e.diag.message;
        redact_query_values(e.diag, url_);
        e.ec = make_http_error(static_cast<int>(e.head.status));
        if (e.head.status == 416) restart(); // the offset is past the end: the file changed
        if (e.head.status == 404 || e.head.status == 410 || e.head.status == 403)
            e.diag.message += " (result URLs expire 24 hours after the task finished)";
    }

    /// A broken transfer: resume (Range) or start again, within the policy.
    /// The count of attempts starts afresh when a resumable transfer got
    /// further than ever before (a long download over a flaky link goes on
    /// while it progresses); restarts from zero never reset it.
    action broken(download_end e)
    {
        if (e.ec == boost::asio::error::operation_aborted) {
            e.diag.param = "url";
            return remember(e.ec, std::move(e.diag));
        }
        if (failures_ == 0 || (ranges_ && have_ > best_)) {
            best_ = std::max(best_, have_);
            failures_ = 0;
            start_ = std::chrono::steady_clock::now();
        }
        ++failures_;
        std::string gave_up;
        std::optional<std::chrono::milliseconds> delay;
        if (retryable_read(e.ec) || e.head.status == 416)
            delay = next_retry(limits_.retry, failures_, start_, e.head.retry_after, rng_, gave_up);
        if (!delay) {
            if (!gave_up.empty()) e.diag.message += " (" + gave_up + ")";
            e.diag.message += "; nothing was left at " + detail::quoted(limits_.path);
            e.diag.param = "url";
            e.diag.attempts = failures_;
            return remember(e.ec, std::move(e.diag));
        }
        if (!ranges_) restart(); // no Range support: the whole file again
        ++resumes_;
        auto a = make(act::request);
        a.delay = delay;
        a.level = log_level::warning;
        a.log = e.diag.message + "; " +
                (have_ > 0 ? "resuming at byte " + std::to_string(have_) : std::string("starting again")) + " in " +
                seconds_text(*delay);
        return a;
    }

    /// Back to byte 0: the file is emptied before the next action.
    void restart()
    {
        if (have_ > 0) truncate_ = true;
        have_ = 0;
    }
    action make(act t)
    {
        action a;
        a.type = t;
        a.truncate = std::exchange(truncate_, false);
        return a;
    }
    /// A failure: returned now and for every later event.
    action remember(error_code ec, diagnostics d)
    {
        action a;
        a.ec = ec;
        a.diag = std::move(d);
        failed_ = a;
        return a;
    }

    std::string url_;
    limits limits_;
    std::minstd_rand rng_;
    std::optional<origin> origin_;
    std::string target_;
    std::uint64_t have_ = 0, best_ = 0; // bytes in the file; the most ever had
    std::optional<std::uint64_t> total_; // the whole size, once known
    bool ranges_ = false;                // the server said Accept-Ranges: bytes
    std::string validator_;              // ETag (or Last-Modified) for If-Range
    std::string content_type_;
    unsigned status_ = 0;                // of the answer being read
    unsigned redirects_ = 0, resumes_ = 0;
    unsigned failures_ = 0;              // attempts since the file last grew
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    bool redirected_ = false;            // on_end() sends the request to the new URL
    bool truncate_ = false;              // the next action empties the file first
    std::optional<action> failed_;
};

} // namespace evolink::detail

#endif
