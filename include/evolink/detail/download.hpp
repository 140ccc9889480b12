// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_DOWNLOAD_HPP
#define EVOLINK_DETAIL_DOWNLOAD_HPP

// Downloads a URL to a file: streamed to a temporary file beside the
// destination, renamed into place only when complete (so no partial file
// ever carries the final name), redirects followed (never from https to
// http), a broken transfer resumed with Range when the server allows it
// (else started again), a size limit, progress. No API key is sent: result
// URLs are not the API's. The rules are download_fsm's (download_fsm.hpp);
// here they meet the transport (get_streamed) and the file executor.
// Also download_all: every result of a task, one after the other.

#include <evolink/detail/config.hpp>
#include <evolink/detail/download_fsm.hpp>
#include <evolink/detail/operations.hpp>
#include <evolink/detail/file_io.hpp>
#include <evolink/detail/random.hpp>
#include <evolink/detail/sleep.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/files.hpp>

#include <boost/url/parse.hpp>

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

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
        path_ = final_.parent_path() / ("." + name + ".evolink-part-" + random_token(8));
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

/// Why `path` cannot receive a download (checked before anything is fetched).
EVOLINK_INLINE std::optional<diagnostics> destination_problem(const std::filesystem::path& path, bool overwrite)
{
    if (path.empty() || !path.has_filename())
        return invalid("path", detail::quoted(path.string()) + " names no file; allowed: a file path");
    std::error_code fec;
    auto dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
    if (!std::filesystem::is_directory(dir, fec))
        return invalid("path", "the folder " + detail::quoted(dir.string()) + " does not exist");
    if (std::filesystem::is_directory(path, fec))
        return invalid("path", detail::quoted(path.string()) + " is a folder; allowed: a file path");
    if (!overwrite && std::filesystem::exists(path, fec))
        return invalid("path", detail::quoted(path.string()) + " exists and download_options::overwrite is off");
    return std::nullopt;
}

/// One download: performs download_fsm's actions, the requests through the
/// transport (whose answers it receives as a body_sink), the file work on
/// the file executor (file_io.hpp), each 256 KiB piece in one visit.
template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
class downloader final : public transport::body_sink {
public:
    using act = download_fsm::act;
    using action = download_fsm::action;

    downloader(std::shared_ptr<transport> core, const download_job& job)
        : core_(std::move(core)), job_(job),
          fsm_(job.url, {core_->options().allow_insecure_http, job.options.max_redirects, job.options.max_bytes,
                         core_->options().retry, job.path.string()}),
          tmp_(job.path),
          stall_(job.options.stall_timeout.count() > 0 ? job.options.stall_timeout : core_->options().request_timeout)
    {
    }

    asio::awaitable<outcome<download_result>> run()
    {
        auto a = fsm_.start();
        if (a.type == act::fail) co_return failed(a);
        fx_ = core_->file_executor(); // started by the first file operation
        auto create_file = [this] { return tmp_.create(); };
        int cerr = co_await run_blocking(fx_, create_file);
        if (cerr)
            co_return failure<download_result>(make_error_code(errc::invalid_request),
                                               invalid("path", "cannot create a file in the folder of " +
                                                                   detail::quoted(job_.path.string()) + ": " + std::strerror(cerr)));
        for (;;) {
            co_await prepare(a);
            if (a.type == act::request) co_await get(a);
            else if (a.type == act::commit) co_return co_await commit();
            else co_return failed(a);
        }
    }

private:
    /// What every action needs first: its log line, an emptied file.
    asio::awaitable<void> prepare(action& a)
    {
        if (!a.log.empty()) core_->log(a.level, a.log);
        if (!a.truncate) co_return;
        auto truncate_file = [this] { return tmp_.truncate(); };
        bool emptied = co_await run_blocking(fx_, truncate_file);
        if (!emptied)
            a = fsm_.fail(error_code(EIO, boost::system::generic_category()), "cannot rewrite " + tmp_.path().string());
    }

    /// One GET (after the retry delay, if any); `a` becomes the next action.
    asio::awaitable<void> get(action& a)
    {
        if (a.delay) {
            bool slept = co_await retry_sleep(*a.delay);
            if (!slept) {
                a = fsm_.fail(asio::error::operation_aborted, fsm_.what() + ": cancelled");
                co_return;
            }
        }
        // Copies: a redirect changes the fsm's URL while the exchange runs.
        origin o = fsm_.where();
        std::string target = fsm_.target(), what = fsm_.what();
        http_headers extra = fsm_.headers();
        auto r = co_await core_->get_streamed(o, target, extra, *this, what, stall_);
        download_end e;
        e.ec = r.ec;
        e.diag = std::move(r.diag);
        e.head = std::move(r.value);
        a = fsm_.on_end(std::move(e));
    }

    asio::awaitable<plan> on_head(const http::response_header<>& res, std::optional<std::uint64_t> length) override
    {
        download_head h;
        h.status = res.result_int();
        h.location = std::string(res[http::field::location]);
        h.content_range = std::string(res[http::field::content_range]);
        h.accept_ranges = std::string(res[http::field::accept_ranges]);
        h.etag = std::string(res[http::field::etag]);
        h.last_modified = std::string(res[http::field::last_modified]);
        h.content_type = std::string(res[http::field::content_type]);
        h.content_length = length;
        auto a = fsm_.on_head(h);
        co_await prepare(a);
        if (a.type == act::stream) progress();
        co_return a.type == act::stream ? plan::stream : a.type == act::excerpt ? plan::excerpt : plan::drop;
    }

    std::span<char> buffer() override { return piece_; }

    asio::awaitable<error_code> on_piece(std::size_t n) override
    {
        auto a = fsm_.on_piece(n);
        if (a.type != act::write) co_return a.ec; // over max_bytes: the fsm keeps the failure
        auto write_piece = [this, n] { return tmp_.write(piece_.data(), n); };
        int err = co_await run_blocking(fx_, write_piece);
        if (err) {
            error_code ec(err, boost::system::generic_category());
            fsm_.fail(ec, "cannot write " + tmp_.path().string() + ": " + std::strerror(err));
            co_return ec;
        }
        fsm_.on_written(n);
        progress();
        co_return error_code{};
    }

    /// Moves the complete file into place.
    asio::awaitable<outcome<download_result>> commit()
    {
        bool overwrite = job_.options.overwrite;
        auto commit_file = [this, overwrite] { return tmp_.commit(overwrite); };
        auto cec = co_await run_blocking(fx_, commit_file);
        if (cec == std::errc::file_exists) // appeared during the download: never replaced
            co_return failure<download_result>(
                make_error_code(errc::invalid_request),
                invalid("path", detail::quoted(job_.path.string()) +
                                    " exists and download_options::overwrite is off (it appeared during the "
                                    "download, which was discarded)"));
        if (cec) {
            auto a = fsm_.fail(error_code(cec.value(), boost::system::generic_category()),
                               "cannot move the download into place at " + detail::quoted(job_.path.string()) + ": " +
                                   cec.message());
            co_return failed(a);
        }
        download_result out;
        out.path = job_.path;
        out.bytes = fsm_.have();
        out.content_type = fsm_.content_type();
        out.url = fsm_.url();
        out.redirects = fsm_.redirects();
        out.resumes = fsm_.resumes();
        progress();
        core_->log(log_level::info, "downloaded " + redacted_url(out.url) + " to " + job_.path.string() + " (" +
                                        size_text(out.bytes) + ")");
        co_return outcome<download_result>{{}, {}, std::move(out)};
    }

    outcome<download_result> failed(action& a) const
    {
        redact(a.diag, core_->options().api_key);
        return failure<download_result>(a.ec, std::move(a.diag));
    }

    void progress()
    {
        const auto& hook = job_.options.on_progress;
        if (!hook) return;
        try {
            hook(download_progress{fsm_.url(), fsm_.have(), fsm_.total(), fsm_.resumes()});
        } catch (...) { // ends the download (the temporary file goes): errc::handler_threw
            throw hook_exception(hook_threw("download_options::on_progress", std::current_exception()));
        }
    }

    std::shared_ptr<transport> core_;
    const download_job& job_;
    download_fsm fsm_;
    temp_file tmp_;
    asio::any_io_executor fx_;
    std::chrono::milliseconds stall_;
    std::vector<char> piece_ = std::vector<char>(256 * 1024); // one visit of the file executor per piece
};

template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<download_result>> download(std::shared_ptr<transport> core, std::shared_ptr<const download_job> job)
{
    if (auto d = destination_problem(job->path, job->options.overwrite))
        co_return failure<download_result>(make_error_code(errc::invalid_request), std::move(*d));
    downloader<> one(std::move(core), *job);
    co_return co_await one.run();
}

/// The file name extension of a URL's path (".mp4"), when it is a short
/// alphanumeric one; else "".
EVOLINK_INLINE std::string url_extension(std::string_view url)
{
    auto u = boost::urls::parse_uri(url);
    if (!u) return {};
    std::string path(u->path());
    auto slash = path.rfind('/'), dot = path.rfind('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return {};
    std::string ext = path.substr(dot);
    if (ext.size() < 2 || ext.size() > 6) return {};
    for (auto& c : ext.substr(1)) {
        if (!std::isalnum(static_cast<unsigned char>(c))) return {};
    }
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return ext;
}

/// The extension for a Content-Type, when the URL had none.
EVOLINK_INLINE std::string_view type_extension(std::string_view content_type)
{
    auto semi = content_type.find(';');
    auto t = content_type.substr(0, semi);
    if (t == "video/mp4") return ".mp4";
    if (t == "video/webm") return ".webm";
    if (t == "video/quicktime") return ".mov";
    if (t == "image/png") return ".png";
    if (t == "image/jpeg") return ".jpg";
    if (t == "image/webp") return ".webp";
    if (t == "image/gif") return ".gif";
    if (t == "image/bmp") return ".bmp";
    return ".bin";
}

/// Downloads every result of a task into a directory, one after the other,
/// as `<task id>-<index><ext>`.
template <class = void> // lazy: see EVOLINK_LAZY_DECL in config.hpp
asio::awaitable<outcome<std::vector<download_result>>>
download_all(std::shared_ptr<transport> core, std::shared_ptr<const results_job> job)
{
    using list = std::vector<download_result>;
    const auto& t = job->t;
    if (t.results.empty()) {
        auto d = invalid("task", "task " + detail::quoted(t.id) + " (status " + std::string(to_string(t.status)) +
                                     ") has no result URLs; allowed: a completed task");
        d.task_id = t.id;
        co_return failure<list>(make_error_code(errc::invalid_request), std::move(d));
    }
    std::error_code fec;
    if (!std::filesystem::is_directory(job->directory, fec)) {
        std::filesystem::create_directories(job->directory, fec);
        if (fec)
            co_return failure<list>(make_error_code(errc::invalid_request),
                                    invalid("directory", "cannot create " + detail::quoted(job->directory.string()) + ": " +
                                                             fec.message()));
    }
    std::string stem;
    for (char c : t.id) stem += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? c : '_';
    if (stem.empty()) stem = "task";
    list done;
    for (std::size_t i = 0; i < t.results.size(); ++i) {
        auto ext = url_extension(t.results[i]);
        auto dj = std::make_shared<download_job>();
        dj->url = t.results[i];
        dj->path = job->directory / (stem + "-" + std::to_string(i) + ext);
        dj->options = job->options;
        auto r = co_await download(core, dj);
        if (r.ec) {
            r.diag->task_id = t.id;
            r.diag->message = "result " + std::to_string(i) + " of task " + t.id + ": " + r.diag->message;
            co_return outcome<list>{r.ec, std::move(r.diag), std::move(done)};
        }
        if (ext.empty()) { // name it from its Content-Type
            auto named = r.value.path;
            named += std::string(type_extension(r.value.content_type));
            std::filesystem::rename(r.value.path, named, fec);
            if (!fec) r.value.path = named;
        }
        done.push_back(std::move(r.value));
    }
    co_return outcome<list>{{}, {}, std::move(done)};
}

} // namespace evolink::detail

#endif
