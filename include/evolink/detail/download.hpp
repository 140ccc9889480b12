// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_DOWNLOAD_HPP
#define EVOLINK_DETAIL_DOWNLOAD_HPP

// Downloads a URL to a file: streamed to a temporary file beside the
// destination, renamed into place only when complete (so no partial file
// ever carries the final name), redirects followed (never from https to
// http), a broken transfer resumed with Range when the server allows it
// (else started again), a size limit, progress. No API key is sent: result
// URLs are not the API's.

#include <evolink/detail/config.hpp>
#include <evolink/detail/operations.hpp>
#include <evolink/detail/file_io.hpp>
#include <evolink/detail/task_ops.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/files.hpp>

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace evolink::detail {

/// A temporary file that is removed unless committed (renamed into place).
/// Its calls block: they run on the file executor (see file_io.hpp).
class temp_file {
public:
    explicit temp_file(std::filesystem::path final_path) : final_(std::move(final_path))
    {
        auto name = final_.filename().string();
        path_ = final_.parent_path() / ("." + name + ".evolink-part-" + make_idempotency_key().substr(4, 8));
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
    ~temp_file()
    {
        close();
        if (created_ && !committed_) ::unlink(path_.c_str());
    }
    const std::filesystem::path& path() const { return path_; }

    /// Creates the file; never opens one that exists, nor follows a symlink
    /// planted at its name (O_EXCL|O_NOFOLLOW). Returns 0 or an errno value.
    int create()
    {
        fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd_ < 0) return errno;
        created_ = true;
        return 0;
    }
    /// Empties it (a download that starts again), on the same descriptor.
    bool truncate() { return fd_ >= 0 && ::ftruncate(fd_, 0) == 0 && ::lseek(fd_, 0, SEEK_SET) == 0; }
    /// Appends; 0 or an errno value.
    int write(const char* p, std::size_t n)
    {
        while (n > 0) {
            auto w = ::write(fd_, p, n);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) return w < 0 ? errno : EIO;
            p += w;
            n -= static_cast<std::size_t>(w);
        }
        return 0;
    }
    void close()
    {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }
    /// Flushes to disk and renames onto the final path (atomic on POSIX).
    /// Without `overwrite`, an existing final file is never replaced, even
    /// one that appeared during the download: EEXIST.
    std::error_code commit(bool overwrite)
    {
        int e = fd_ < 0 ? EBADF : ::fsync(fd_) != 0 ? errno : 0;
        close();
        if (!e) e = overwrite ? (std::rename(path_.c_str(), final_.c_str()) == 0 ? 0 : errno) : rename_noreplace();
        committed_ = !e;
        return e ? std::error_code(e, std::generic_category()) : std::error_code();
    }

private:
    int rename_noreplace()
    {
#ifdef SYS_renameat2
        if (::syscall(SYS_renameat2, AT_FDCWD, path_.c_str(), AT_FDCWD, final_.c_str(), 1 /* RENAME_NOREPLACE */) == 0)
            return 0;
        if (errno != EINVAL && errno != ENOSYS) return errno;
#endif
        // No renameat2 here (kernel, file system): link() never replaces
        // either; then the temporary name goes.
        if (::link(path_.c_str(), final_.c_str()) != 0) return errno;
        ::unlink(path_.c_str());
        return 0;
    }

    std::filesystem::path final_, path_;
    int fd_ = -1;
    bool created_ = false, committed_ = false;
};

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

EVOLINK_INLINE asio::awaitable<outcome<download_result>> download(std::shared_ptr<transport> core,
                                                                  std::shared_ptr<const download_job> job)
{
    using result = outcome<download_result>;
    const auto& opts = core->options();
    const auto& dl = job->options;
    auto stall = dl.stall_timeout.count() > 0 ? dl.stall_timeout : opts.request_timeout;
    auto fail = [&](error_code ec, std::string message, unsigned status = 0) {
        diagnostics d;
        d.http_status = static_cast<int>(status);
        d.message = std::move(message);
        d.param = "url";
        redact(d, opts.api_key);
        return failure<download_result>(ec, std::move(d));
    };
    auto invalid_request = [&](std::string field, std::string message) {
        return failure<download_result>(make_error_code(errc::invalid_request), invalid(field, std::move(message)));
    };
    if (job->path.empty() || !job->path.has_filename())
        co_return invalid_request("path", detail::quoted(job->path.string()) + " names no file; allowed: a file path");
    {
        std::error_code fec;
        auto dir = job->path.parent_path().empty() ? std::filesystem::path(".") : job->path.parent_path();
        if (!std::filesystem::is_directory(dir, fec))
            co_return invalid_request("path", "the folder " + detail::quoted(dir.string()) + " does not exist");
        if (std::filesystem::is_directory(job->path, fec))
            co_return invalid_request("path", detail::quoted(job->path.string()) + " is a folder; allowed: a file path");
        if (!dl.overwrite && std::filesystem::exists(job->path, fec))
            co_return invalid_request("path", detail::quoted(job->path.string()) +
                                                  " exists and download_options::overwrite is off");
    }

    std::string url = job->url;
    std::string why;
    auto check_url = [&](const std::string& u, std::optional<origin>& o, std::string& target) {
        auto parsed = boost::urls::parse_absolute_uri(u);
        if (!parsed) return "is not an absolute URL";
        std::string base = std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_authority());
        o = parse_origin(base, opts.allow_insecure_http, why);
        if (!o) return "cannot be downloaded";
        target = std::string(parsed->encoded_path());
        if (target.empty()) target = "/";
        if (parsed->has_query()) target += "?" + std::string(parsed->encoded_query());
        return "";
    };
    std::optional<origin> o;
    std::string target;
    if (std::string e = check_url(url, o, target); !e.empty())
        co_return invalid_request("url", detail::quoted(redacted_url(url)) + " " + e + (why.empty() ? "" : ": URL " + why));

    // Every file call blocks: it runs on the file executor (file_io.hpp).
    auto fx = core->file_executor();
    temp_file tmp(job->path);
    auto create_file = [&] { return tmp.create(); };
    auto truncate_file = [&] { return tmp.truncate(); };
    int cerr = co_await run_blocking(fx, create_file);
    if (cerr)
        co_return invalid_request("path", "cannot create a file in the folder of " + detail::quoted(job->path.string()) + ": " +
                                              std::strerror(cerr));

    download_result out;
    std::uint64_t have = 0, best = 0;      // bytes in the temporary file; the most ever had
    std::optional<std::uint64_t> total;    // the whole size, once known
    bool ranges = false;                   // the server said Accept-Ranges: bytes
    std::string validator;                 // ETag (or Last-Modified) for If-Range
    auto start = std::chrono::steady_clock::now();
    std::minstd_rand rng{std::random_device{}()};
    unsigned failures = 0;                 // attempts since the file last grew
    std::vector<char> piece(256 * 1024); // one visit of the file executor per piece
    auto progress = [&] {
        if (!dl.on_progress) return;
        try {
            dl.on_progress(download_progress{url, have, total, out.resumes});
        } catch (...) { // ends the download (the temporary file goes): errc::handler_threw
            throw hook_exception(hook_threw("download_options::on_progress", std::current_exception()));
        }
    };

    for (;;) {
        // One attempt: a GET (with Range when resuming), then the body.
        http::request<http::empty_body> req{http::verb::get, o->path + target, 11};
        http_headers extra;
        if (have > 0) {
            extra.emplace_back("Range", "bytes=" + std::to_string(have) + "-");
            if (!validator.empty()) extra.emplace_back("If-Range", validator);
        }
        core->set_headers(req, *o, false, extra);
        req.set(http::field::accept, "*/*");
        std::string what = "GET " + redacted_url(url); // never the query: it holds the signature

        error_code ec;
        diagnostics diag;
        unsigned status = 0;
        bool reuse = false;
        std::optional<std::chrono::milliseconds> retry_after;
        auto leased = co_await core->checkout(*o);
        if (leased.ec) {
            ec = leased.ec;
            diag = std::move(leased.diag);
        } else {
            auto& conn = leased.value;
            http::response_parser<http::buffer_body> parser;
            parser.header_limit(static_cast<std::uint32_t>(opts.max_response_header_bytes));
            parser.body_limit(boost::none); // counted here, against max_bytes
            const char* phase = "writing the request";
            conn->lowest().expires_after(opts.request_timeout);
            ec = co_await core->write_on(*conn, req, nullptr);
            if (!ec) {
                phase = "reading the answer";
                ec = co_await transport::read_on(*conn, parser, transport::read_mode::header);
            }
            auto& res = parser.get();
            status = ec ? 0 : res.result_int();
            bool redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
            if (!ec && redirect) {
                std::string location(res[http::field::location]);
                if (location.empty())
                    co_return fail(make_error_code(errc::protocol_error), what + ": a " + std::to_string(status) +
                                                                              " redirect without a Location", status);
                if (++out.redirects > dl.max_redirects)
                    co_return fail(make_error_code(errc::protocol_error),
                                   what + ": more than " + std::to_string(dl.max_redirects) + " redirects", status);
                boost::urls::url next;
                auto base = boost::urls::parse_absolute_uri(url);
                auto ref = boost::urls::parse_uri_reference(location);
                if (!base || !ref || !boost::urls::resolve(*base, *ref, next))
                    co_return fail(make_error_code(errc::protocol_error),
                                   what + ": cannot follow the redirect to " + detail::quoted(redacted_url(location)), status);
                std::string next_url(next.buffer());
                if (o->tls && next.scheme_id() != boost::urls::scheme::https)
                    co_return fail(make_error_code(errc::protocol_error),
                                   what + ": refused a redirect from https to " + detail::quoted(redacted_url(next_url)), status);
                std::optional<origin> no;
                std::string nt;
                why.clear();
                if (std::string e = check_url(next_url, no, nt); !e.empty())
                    co_return fail(make_error_code(errc::protocol_error),
                                   what + ": redirected to " + detail::quoted(redacted_url(next_url)) + ", which " + e +
                                       (why.empty() ? "" : ": " + why), status);
                core->log(log_level::debug, what + " -> " + std::to_string(status) + " " + redacted_url(next_url));
                url = std::move(next_url);
                o = std::move(no);
                target = std::move(nt);
                if (have > 0) { // a resumed offset is only valid for the same resource
                    have = 0;
                    co_await run_blocking(fx, truncate_file);
                }
                continue; // the lease closes the connection (its body is unread)
            }
            if (!ec && (status == 200 || status == 206)) {
                std::uint64_t first = 0, whole = 0;
                bool partial = status == 206 && have > 0 && parse_content_range(res[http::field::content_range], first, whole) &&
                               first == have;
                // A 206 is only a continuation of what we have, from where we asked;
                // anything else would commit a file with a hole or a missing head.
                if (status == 206 && !partial)
                    co_return fail(make_error_code(errc::protocol_error),
                                   what + ": the server answered " +
                                       (have == 0 ? std::string("a request without Range")
                                                  : "Range bytes=" + std::to_string(have) + "-") +
                                       " with a 206 and Content-Range " + detail::quoted(res[http::field::content_range]) +
                                       "; nothing was left at " + detail::quoted(job->path.string()),
                                   status);
                if (!partial && have > 0) { // a 200: the server sent the whole file again
                    have = 0;
                    if (!co_await run_blocking(fx, truncate_file))
                        co_return fail(error_code(EIO, boost::system::generic_category()), "cannot rewrite " + tmp.path().string());
                }
                ranges = beast::iequals(res[http::field::accept_ranges], "bytes") || partial;
                validator = std::string(res[http::field::etag]);
                if (validator.empty() || validator.starts_with("W/")) validator = std::string(res[http::field::last_modified]);
                if (partial) total = whole > 0 ? std::optional(whole) : total;
                else if (auto len = parser.content_length()) total = *len;
                else total.reset();
                out.content_type = std::string(res[http::field::content_type]);
                if (total && *total > dl.max_bytes)
                    co_return fail(make_error_code(errc::response_too_large),
                                   what + ": the file is " + size_text(*total) + "; download_options::max_bytes allows " +
                                       size_text(dl.max_bytes) + " (nothing was written)", status);
                progress();
                // The body, piece by piece, straight to the file. A read gives
                // one TLS record (16 KiB) at most: the piece is filled by as
                // many reads as it takes, so that the file executor is visited
                // once per 256 KiB, not once per record.
                while (!ec && !parser.is_done()) {
                    res.body().data = piece.data();
                    res.body().size = piece.size();
                    while (!ec && !parser.is_done() && res.body().size > 0) {
                        conn->lowest().expires_after(stall);
                        ec = co_await transport::read_on(*conn, parser, transport::read_mode::some);
                    }
                    if (ec == http::error::need_buffer) ec = {}; // the piece is full
                    std::size_t got = piece.size() - res.body().size;
                    if (got > 0) {
                        if (have + got > dl.max_bytes)
                            co_return fail(make_error_code(errc::response_too_large),
                                           what + ": more than download_options::max_bytes (" + size_text(dl.max_bytes) +
                                               ") arrived; the partial file was removed", status);
                        auto write_piece = [&] { return tmp.write(piece.data(), got); };
                        int werr = co_await run_blocking(fx, write_piece);
                        if (werr)
                            co_return fail(error_code(werr, boost::system::generic_category()),
                                           "cannot write " + tmp.path().string() + ": " + std::strerror(werr));
                        have += got;
                        progress();
                        // A cancellation during the write shows only now.
                        if (co_await cancelled()) ec = asio::error::operation_aborted;
                    }
                }
                reuse = !ec && res.keep_alive();
                phase = "reading the body";
            } else if (!ec) {
                // An error answer: read a little of it for the message.
                std::string text;
                char small[4096];
                res.body().data = small;
                res.body().size = sizeof small;
                conn->lowest().expires_after(stall);
                auto body_ec = co_await transport::read_on(*conn, parser, transport::read_mode::some);
                (void)body_ec; // a short excerpt is enough; an error here changes nothing
                text.assign(small, sizeof small - res.body().size);
                http_result h = transport::read_head(res);
                h.body = std::move(text);
                diag = api_diagnostics(h);
                diag.message = what + ": " + diag.message;
                redact_query_values(diag, url);
                ec = make_http_error(static_cast<int>(status));
                if (status == 416 && have > 0) { // the offset is past the end: the file changed; start over
                    have = 0;
                    co_await run_blocking(fx, truncate_file);
                }
                retry_after = h.retry_after;
                if (status == 404 || status == 410 || status == 403)
                    diag.message += " (result URLs expire 24 hours after the task finished)";
            }
            if (ec && !diag.message.size()) {
                auto d = core->describe(ec, phase, what, stall);
                ec = d.first;
                diag = std::move(d.second);
                if (total && have < *total)
                    diag.message += " (" + std::to_string(have) + " of " + std::to_string(*total) + " bytes received)";
            }
            if (!ec) conn.checkin(reuse);
        }
        if (!ec) break;
        if (ec == asio::error::operation_aborted) {
            diag.param = "url";
            co_return failure<download_result>(ec, std::move(diag));
        }
        // A broken transfer: resume (Range) or start again, within the policy.
        // The count of attempts starts afresh when a resumable transfer got
        // further than ever before (a long download over a flaky link goes on
        // while it progresses); restarts from zero never reset it.
        if (failures == 0 || (ranges && have > best)) {
            best = std::max(best, have);
            failures = 0;
            start = std::chrono::steady_clock::now();
        }
        ++failures;
        std::string gave_up;
        std::optional<std::chrono::milliseconds> delay;
        if (retryable_read(ec) || status == 416)
            delay = next_retry(opts.retry, failures, start, retry_after, rng, gave_up);
        if (!delay) {
            if (!gave_up.empty()) diag.message += " (" + gave_up + ")";
            diag.message += "; nothing was left at " + detail::quoted(job->path.string());
            diag.param = "url";
            diag.attempts = failures;
            redact(diag, opts.api_key);
            co_return failure<download_result>(ec, std::move(diag));
        }
        if (have > 0 && !ranges) { // no Range support: the whole file again
            have = 0;
            if (!co_await run_blocking(fx, truncate_file))
                co_return fail(error_code(EIO, boost::system::generic_category()), "cannot rewrite " + tmp.path().string());
        }
        ++out.resumes;
        core->log(log_level::warning, diag.message + "; " + (have > 0 ? "resuming at byte " + std::to_string(have)
                                                                       : std::string("starting again")) +
                                          " in " + seconds_text(*delay));
        if (!co_await retry_sleep(*delay)) co_return fail(asio::error::operation_aborted, what + ": cancelled");
    }
    if (total && have != *total)
        co_return fail(make_error_code(errc::protocol_error), "GET " + redacted_url(url) + ": " + std::to_string(have) + " bytes received, " +
                                                                  std::to_string(*total) + " announced");
    bool overwrite = dl.overwrite;
    auto commit_file = [&] { return tmp.commit(overwrite); };
    auto cec = co_await run_blocking(fx, commit_file);
    if (cec == std::errc::file_exists) // appeared during the download: never replaced
        co_return invalid_request("path", detail::quoted(job->path.string()) +
                                              " exists and download_options::overwrite is off (it appeared during the "
                                              "download, which was discarded)");
    if (cec)
        co_return fail(error_code(cec.value(), boost::system::generic_category()),
                       "cannot move the download into place at " + detail::quoted(job->path.string()) + ": " + cec.message());
    out.path = job->path;
    out.bytes = have;
    out.url = url;
    progress();
    core->log(log_level::info, "downloaded " + redacted_url(url) + " to " + job->path.string() + " (" + size_text(have) + ")");
    co_return result{{}, {}, std::move(out)};
}

} // namespace evolink::detail

#endif
