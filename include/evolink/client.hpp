// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_CLIENT_HPP
#define EVOLINK_CLIENT_HPP

/// evolink::client: submits generation tasks and reads them back over
/// verified TLS, from inside the caller's own io_context.
///
/// Threading: a client runs all its work on a strand of the executor it was
/// given, so its operations may be started from any thread and the
/// io_context may be run by several threads. Do not destroy a client while
/// another thread starts an operation on it.
///
/// Every operation takes any Asio completion token last (default:
/// `co_await` returns the value or throws evolink::error). To keep the
/// diagnostics (attempts, request id, the server's message) whatever the
/// token, wrap it: `client.get_task(id, with_diagnostics(diag, asio::deferred))`;
/// `diag` must then live until the handler runs, and receives the
/// diagnostics before the handler is called.

#include <evolink/account.hpp>
#include <evolink/detail/async.hpp>
#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/operations.hpp>
#include <evolink/callback_receiver.hpp>
#include <evolink/error.hpp>
#include <evolink/files.hpp>
#include <evolink/images.hpp>
#include <evolink/journal.hpp>
#include <evolink/options.hpp>
#include <evolink/requests.hpp>
#include <evolink/task.hpp>
#include <evolink/wait.hpp>

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace evolink {

class client {
public:
    using executor_type = boost::asio::any_io_executor;

    /// Checks the options and builds the TLS context; nothing is sent yet.
    /// Throws evolink::error: errc::missing_api_key when neither the options
    /// nor EVOLINK_API_KEY hold a key; errc::invalid_options for a bad base
    /// URL, an http:// URL without allow_insecure_http, an unreadable CA, a
    /// duration out of range (see client_options).
    explicit client(executor_type ex, client_options opts = {}) : parts_(detail::make_client(std::move(ex), std::move(opts)))
    {
    }

    client(const client&) = delete;
    client& operator=(const client&) = delete;
    client(client&&) noexcept = default;
    client& operator=(client&&) noexcept = default;

    /// Idle connections are closed; operations still running keep what they
    /// need alive and complete normally.
    ~client()
    {
        if (parts_.core) detail::close_idle_later(parts_.core);
    }

    executor_type get_executor() const noexcept { return parts_.strand; }

    /// Creates a task: validates `req`, then POSTs it to its endpoint. Local
    /// image paths in image_to_video::image_url or image_to_image::image_urls
    /// are first checked against the model's limits (format, size,
    /// dimensions, no alpha: images.hpp), all before anything is sent, then
    /// uploaded through the Files API; their file_url is what is sent.
    ///
    /// Handler: `void(evolink::error_code, evolink::task)`; the task is the
    /// service's answer (status "pending"). With the default token,
    /// `co_await client.submit(req)` returns the task or throws evolink::error.
    /// Errors: errc::invalid_request (nothing sent; diagnostics name the
    /// field, and the file and limit for a local image), transport errors
    /// (errc), API errors (api_errc, the HTTP status), an upload's errors
    /// (files_errc; no task was created).
    /// Cancellation (docs/threading.md): before the first byte of the POST is
    /// written (resolving, connecting, handshake, waiting for a connection or
    /// a retry) every type ends it with operation_aborted: nothing was sent.
    /// Once written: terminal interrupts at once with errc::outcome_unknown (a
    /// task may exist; diagnostics give the Idempotency-Key that returns it);
    /// partial waits for the answer, then completes with operation_aborted and
    /// the created task (its id in diagnostics::task_id); total is not
    /// honoured (the task is delivered as if not cancelled).
    /// Lifetimes: `req` is validated and serialized before this returns; it
    /// need not outlive the call. A `diag` given by with_diagnostics(diag,
    /// token) must live until the handler runs.
    template <request R, completion_token_not_diagnostics Token = default_token>
    auto submit(const R& req, Token&& token = {})
    {
        return start_submit(req, {}, std::forward<Token>(token));
    }
    /// The same with options: the caller's own Idempotency-Key.
    template <request R, completion_token_not_diagnostics Token = default_token>
    auto submit(const R& req, const submit_options& opts, Token&& token = {})
    {
        return start_submit(req, opts, std::forward<Token>(token));
    }

    /// Shuts the client down, as a server does on SIGTERM: new operations
    /// fail at once with errc::shut_down (nothing sent); running ones are
    /// cancelled (total): waits end with operation_aborted (their tasks go on
    /// on the server; a journal keeps them unfinished for resume), reads and
    /// transfers end, and a creation whose request is already on the wire
    /// gets up to `grace` for its answer, so that its task id is returned
    /// (and recorded). After `grace`, whatever still runs is stopped
    /// (terminal). Idle connections are closed.
    ///
    /// Handler: `void(evolink::error_code, std::size_t running)`: how many
    /// operations were running when the shutdown began; it runs once none
    /// runs. May be called from any thread, and again (each call completes
    /// once the client has drained). Cancellation: cancelling the call only
    /// stops waiting for it (operation_aborted); the shutdown goes on.
    /// Lifetimes: nothing to keep; the client object may be destroyed after
    /// the call.
    template <completion_token_not_diagnostics Token = default_token>
    auto shutdown(std::chrono::milliseconds grace = std::chrono::seconds(10), Token&& token = {})
    {
        auto body_fn = [core = parts_.core, grace]() mutable { return detail::shutdown_op(std::move(core), grace); };
        // Not one of the operations it waits for.
        return detail::start_untracked<std::size_t>(std::forward<Token>(token), parts_.strand, std::move(body_fn));
    }

    /// Reads a task: `GET /v1/tasks/{task_id}`.
    ///
    /// Handler: `void(evolink::error_code, evolink::task)`. Errors as for
    /// submit; an id that cannot be a task id fails with
    /// errc::invalid_request before anything is sent, an unknown or expired
    /// one with api_errc::not_found. Cancellation: terminal, partial and
    /// total all end it at once (any phase) with operation_aborted; a read has
    /// no effect. The pooled connection in use is closed, not reused.
    /// Lifetimes: `task_id` is copied; `diag` (with_diagnostics) must live until the handler runs.
    template <completion_token_not_diagnostics Token = default_token>
    auto get_task(std::string_view task_id, Token&& token = {})
    {
        return start_get(task_id, std::forward<Token>(token));
    }

    /// Waits until a task finishes: reads it on a paced schedule (see
    /// poll_policy), reports progress, and, when `opts.callbacks` is set,
    /// races the receiver's callback (confirmed by a GET) against slower
    /// polling. Resumes from a bare id (after a crash or a timeout).
    ///
    /// Handler: `void(evolink::error_code, evolink::task)`. Completed: no
    /// error, the task with its result URLs. Failed: errc::task_failed, the
    /// diagnostics carry EvoLink's task error code, message and `retryable`.
    /// Cancelled: errc::task_cancelled. Deadline: errc::deadline_exceeded with
    /// the task id and the last status seen (the remote task goes on). A
    /// transient failure of one read (network, timeout, 408, 429, 5xx) does not
    /// end the wait; any other error does. An `opts.on_progress` that throws
    /// ends it with errc::handler_threw (its what() in the message, the task
    /// id kept). In callback and as_tuple form the task last seen is passed
    /// along with an error.
    /// Cancellation: terminal, partial and total all end it at once, wherever
    /// the wait is (sleeping, reading, waiting for a callback), with
    /// operation_aborted and the task last seen; nothing stays pending. No
    /// remote effect: the task goes on (wait for its id again to resume).
    /// Lifetimes: `task_id` and `opts` are copied; `opts.callbacks` and `diag`
    /// must outlive the operation. Progress callbacks run on the client's strand.
    template <completion_token_not_diagnostics Token = default_token>
    auto wait(std::string_view task_id, const wait_options& opts = {}, Token&& token = {})
    {
        return start_wait(task_id, std::nullopt, opts, std::forward<Token>(token));
    }
    /// The same with default options and a token: `wait(id, token)`.
    template <completion_token_of<task> Token>
    auto wait(std::string_view task_id, Token&& token)
    {
        return start_wait(task_id, std::nullopt, {}, std::forward<Token>(token));
    }
    /// The same, starting from a task already read (no immediate re-read).
    template <completion_token_not_diagnostics Token = default_token>
    auto wait(const task& t, const wait_options& opts = {}, Token&& token = {})
    {
        return start_wait(t.id, t, opts, std::forward<Token>(token));
    }
    template <completion_token_of<task> Token>
    auto wait(const task& t, Token&& token)
    {
        return start_wait(t.id, t, {}, std::forward<Token>(token));
    }

    /// Submits `req`, then waits for the task: one call from request to
    /// finished task. `opts.on_submitted` receives the created task first (store
    /// its id to resume with wait(id)). With `opts.callbacks`, the request's
    /// callback_url is set to the receiver's (unless it already has one).
    ///
    /// Handler: `void(evolink::error_code, evolink::task)`; errors as submit,
    /// then as wait. An `opts.on_submitted` that throws completes it with
    /// errc::handler_threw, the created task (and its id in the diagnostics)
    /// and no wait: resume with wait(id), do not submit again.
    /// Cancellation: as submit while submitting (terminal after the write:
    /// errc::outcome_unknown; partial: operation_aborted with the created
    /// task, on_submitted not called; total after the write: not honoured,
    /// the wait follows), then as wait. Lifetimes: as submit and wait.
    template <request R, completion_token_not_diagnostics Token = default_token>
    auto generate(const R& req, const wait_options& opts = {}, Token&& token = {})
    {
        return start_generate(req, opts, std::forward<Token>(token));
    }
    template <request R, completion_token_of<task> Token>
    auto generate(const R& req, Token&& token)
    {
        return start_generate(req, {}, std::forward<Token>(token));
    }

    /// generate() for image requests (text_to_image, image_to_image).
    template <image_request R, completion_token_not_diagnostics Token = default_token>
    auto image(const R& req, const wait_options& opts = {}, Token&& token = {})
    {
        return start_generate(req, opts, std::forward<Token>(token));
    }
    template <image_request R, completion_token_of<task> Token>
    auto image(const R& req, Token&& token)
    {
        return start_generate(req, {}, std::forward<Token>(token));
    }

    /// generate() for video requests (image_to_video, text_to_video).
    template <video_request R, completion_token_not_diagnostics Token = default_token>
    auto video(const R& req, const wait_options& opts = {}, Token&& token = {})
    {
        return start_generate(req, opts, std::forward<Token>(token));
    }
    template <video_request R, completion_token_of<task> Token>
    auto video(const R& req, Token&& token)
    {
        return start_generate(req, {}, std::forward<Token>(token));
    }

    /// Waits for every task the journal holds as unfinished (after a crash or
    /// an interrupted run), concurrently, each as wait(id, opts) would; each
    /// one that finishes is marked so in the journal.
    ///
    /// Handler: `void(evolink::error_code, std::vector<evolink::resumed_task>)`:
    /// one entry per task with its own outcome; the error is errc::journal_failed
    /// when the journal cannot be read, operation_aborted when cancelled (the
    /// entries are still filled in), else none. Cancellation: terminal,
    /// partial and total all cancel every wait at once, never a task. Lifetimes: `j` must
    /// outlive the operation; `opts` is copied (its journal is set to `&j`).
    template <completion_token_not_diagnostics Token = default_token>
    auto resume(journal& j, const wait_options& options = {}, Token&& token = {})
    {
        wait_options opts = options;
        opts.journal = &j;
        auto body_fn = [core = parts_.core, origin = parts_.api,
                        opts = std::make_shared<const wait_options>(std::move(opts))]() mutable {
            return detail::resume_op(std::move(core), std::move(origin), std::move(opts));
        };
        return detail::start<std::vector<resumed_task>>(std::forward<Token>(token), parts_.core, parts_.strand,
                                                        std::move(body_fn));
    }

    // --- The account ---------------------------------------------------------

    /// The credit balance of the account and of this API key (`GET
    /// /v1/credits`; undocumented, used by EvoLink's own client).
    ///
    /// Handler: `void(evolink::error_code, evolink::credit_balance)`. Errors:
    /// api_errc (401 bad key...), transport errors, errc::bad_response when
    /// the answer has no `data` object or says `"success": false` (the
    /// server's message is in the diagnostics). Transient failures are
    /// retried (a read). Cancellation: terminal, partial and total all end it
    /// at once with operation_aborted (a read: no effect). Lifetimes: `diag`
    /// (with_diagnostics) must live until the handler runs.
    template <completion_token_not_diagnostics Token = default_token>
    auto credits(Token&& token = {})
    {
        return start_api_read<credit_balance>(std::forward<Token>(token), &detail::credits_op);
    }

    /// One page of the key's tasks, newest first, without result URLs (`GET
    /// /v1/tasks?status=&type=&model=&page=&page_size=`, only the fields the
    /// filter sets; undocumented, used by EvoLink's own client).
    ///
    /// Handler: `void(evolink::error_code, evolink::task_list)`. A filter that
    /// fails validate(filter) (status, type, model, page, page_size) fails with
    /// errc::invalid_request before anything is sent; the diagnostics name
    /// the field. Other errors as credits(): api_errc (400 naming `param`,
    /// 401...), transport errors, errc::bad_response (no `data` array, or an
    /// entry without a task id). Transient failures are retried.
    /// Cancellation: as credits(). Lifetimes: `filter` is copied.
    template <completion_token_not_diagnostics Token = default_token>
    auto list_tasks(const task_filter& filter = {}, Token&& token = {})
    {
        auto call = [f = std::make_shared<const task_filter>(filter), invalid = validate(filter)](auto core, auto origin) {
            return detail::list_tasks_op(std::move(core), std::move(origin), f, invalid);
        };
        return start_api_read<task_list>(std::forward<Token>(token), std::move(call));
    }
    template <completion_token_of<task_list> Token>
    auto list_tasks(Token&& token)
    {
        return list_tasks(task_filter{}, std::forward<Token>(token));
    }

    // --- Files API and downloads ------------------------------------------

    /// Uploads a local file through the Files API (`POST
    /// /api/v1/files/upload/stream`, multipart/form-data streamed from disk in
    /// 64 KiB pieces). Use the result's `file_url` in `image_urls`; files
    /// expire after 72 hours and count against the key's file quota.
    ///
    /// Handler: `void(evolink::error_code, evolink::file_info)`. Errors:
    /// errc::invalid_request (unreadable or empty file; nothing sent),
    /// files_errc (40001 too large, 40002 type not allowed, 40003 quota
    /// exceeded, 50001 storage error), api_errc, transport errors. An upload is
    /// retried only when it provably never reached the server, or after a 429.
    /// Cancellation: as submit. Before the first byte is written every type
    /// ends it with operation_aborted (nothing sent); once written, terminal
    /// ends it at once with errc::outcome_unknown (the file may be stored: see
    /// list_files), partial waits for the answer and completes with
    /// operation_aborted naming the stored file's id and URL in the
    /// diagnostics, total is not honoured. Lifetimes: `path` and `opts` are
    /// copied; `diag` (with_diagnostics) must live until the handler runs.
    template <completion_token_not_diagnostics Token = default_token>
    auto upload_file(const std::filesystem::path& path, const upload_options& opts = {}, Token&& token = {})
    {
        return start_upload(detail::upload_job::kind::file, path.string(), {}, opts, std::forward<Token>(token));
    }
    template <completion_token_of<file_info> Token>
    auto upload_file(const std::filesystem::path& path, Token&& token)
    {
        return start_upload(detail::upload_job::kind::file, path.string(), {}, {}, std::forward<Token>(token));
    }

    /// Uploads bytes held in memory (`POST /api/v1/files/upload/base64`, as a
    /// data URL). `mime_type` empty: read from the bytes' magic number.
    /// Handler, errors, cancellation: as upload_file. Lifetimes: `bytes` is
    /// copied (encoded) before this returns.
    template <completion_token_not_diagnostics Token = default_token>
    auto upload_bytes(std::string_view bytes, std::string_view mime_type = {}, const upload_options& opts = {},
                      Token&& token = {})
    {
        return start_upload(detail::upload_job::kind::bytes, std::string(bytes), std::string(mime_type), opts, std::forward<Token>(token));
    }
    template <completion_token_of<file_info> Token>
    auto upload_bytes(std::string_view bytes, Token&& token)
    {
        return start_upload(detail::upload_job::kind::bytes, std::string(bytes), {}, {}, std::forward<Token>(token));
    }
    template <completion_token_of<file_info> Token>
    auto upload_bytes(std::string_view bytes, std::string_view mime_type, Token&& token)
    {
        return start_upload(detail::upload_job::kind::bytes, std::string(bytes), std::string(mime_type), {}, std::forward<Token>(token));
    }

    /// Has the Files API fetch a remote file (`POST /api/v1/files/upload/url`).
    /// Errors as upload_file, plus files_errc::url_download_failed.
    template <completion_token_not_diagnostics Token = default_token>
    auto upload_url(std::string_view url, const upload_options& opts = {}, Token&& token = {})
    {
        return start_upload(detail::upload_job::kind::url, std::string(url), {}, opts, std::forward<Token>(token));
    }
    template <completion_token_of<file_info> Token>
    auto upload_url(std::string_view url, Token&& token)
    {
        return start_upload(detail::upload_job::kind::url, std::string(url), {}, {}, std::forward<Token>(token));
    }

    /// One page of the key's uploaded files (`GET /api/v1/files/list`).
    /// Handler: `void(evolink::error_code, evolink::file_list)`. page >= 1,
    /// page_size 1 to 100 (else errc::invalid_request). Transient failures are
    /// retried. Cancellation: terminal, partial and total all end it at once
    /// with operation_aborted (a read: no effect).
    template <completion_token_not_diagnostics Token = default_token>
    auto list_files(unsigned page = 1, unsigned page_size = 20, Token&& token = {})
    {
        return start_files_read<file_list>(std::forward<Token>(token), [page, page_size](auto core, auto origin) {
            return detail::list_files_op(std::move(core), std::move(origin), page, page_size);
        });
    }
    template <completion_token_of<file_list> Token>
    auto list_files(Token&& token)
    {
        return list_files(1, 20, std::forward<Token>(token));
    }

    /// The key's file quota (`GET /api/v1/files/quota`).
    /// Handler: `void(evolink::error_code, evolink::file_quota)`. As list_files.
    template <completion_token_not_diagnostics Token = default_token>
    auto file_quota(Token&& token = {})
    {
        return start_files_read<evolink::file_quota>(std::forward<Token>(token), &detail::file_quota_op);
    }

    /// Deletes an uploaded file (`DELETE /api/v1/files/{file_id}`), freeing
    /// quota. Handler: `void(evolink::error_code, bool)` (true when deleted).
    /// An id that cannot be one fails with errc::invalid_request before
    /// anything is sent. Retried like a read (deleting twice is harmless).
    /// Cancellation: terminal, partial and total all end it at once with
    /// operation_aborted; a DELETE already written may have taken effect.
    /// Lifetimes: `file_id` is copied.
    template <completion_token_not_diagnostics Token = default_token>
    auto delete_file(std::string_view file_id, Token&& token = {})
    {
        return start_files_read<bool>(std::forward<Token>(token), [id = std::string(file_id)](auto core, auto origin) {
            return detail::delete_file_op(std::move(core), std::move(origin), id);
        });
    }

    /// Downloads `url` to the file `path`: streamed to a temporary file in the
    /// same folder, then renamed into place, so `path` is either absent (or
    /// its old content) or the complete file, never a partial one. Redirects
    /// are followed (never https to http), a broken transfer is resumed with
    /// Range when the server supports it (else started again), both within
    /// client_options::retry. No API key is sent.
    ///
    /// Handler: `void(evolink::error_code, evolink::download_result)`. Errors:
    /// errc::invalid_request (bad URL or path; nothing fetched),
    /// errc::response_too_large (over download_options::max_bytes),
    /// errc::protocol_error (too many redirects, a wrong length), api_errc
    /// (404/403: result URLs expire after 24 hours), transport errors, file
    /// system errors (generic category), errc::handler_threw (`opts.on_progress`
    /// threw). A 206 that is not the continuation asked for is
    /// errc::protocol_error. Messages and logs show a URL without its query
    /// (`https://host/path?…`: result URLs are signed); download_result::url
    /// keeps it whole. Cancellation: terminal, partial and total all end it
    /// at once (any phase) with operation_aborted; the temporary file is
    /// removed, `path` is left as it was. Lifetimes: `url`, `path` and
    /// `opts` are copied; `opts.on_progress` runs on the client's strand.
    template <completion_token_not_diagnostics Token = default_token>
    auto download(std::string_view url, const std::filesystem::path& path, const download_options& opts = {},
                  Token&& token = {})
    {
        return start_download(url, path, opts, std::forward<Token>(token));
    }
    template <completion_token_of<download_result> Token>
    auto download(std::string_view url, const std::filesystem::path& path, Token&& token)
    {
        return start_download(url, path, {}, std::forward<Token>(token));
    }

    /// Downloads every result of a finished task into `directory` (created if
    /// missing), one after the other, as `<task id>-<index><ext>` (the
    /// extension from the URL, else from the Content-Type).
    ///
    /// Handler: `void(evolink::error_code, std::vector<evolink::download_result>)`;
    /// on failure, the results downloaded before it. Errors: as download;
    /// errc::invalid_request for a task without results. Cancellation: as
    /// download (the files completed before it stay, and are passed along).
    /// Lifetimes: as download (`t` is copied).
    template <completion_token_not_diagnostics Token = default_token>
    auto download_results(const task& t, const std::filesystem::path& directory, const download_options& opts = {},
                          Token&& token = {})
    {
        return start_download_results(t, directory, opts, std::forward<Token>(token));
    }
    template <completion_token_of<std::vector<download_result>> Token>
    auto download_results(const task& t, const std::filesystem::path& directory, Token&& token)
    {
        return start_download_results(t, directory, {}, std::forward<Token>(token));
    }

    /// Connections opened so far (each one a TCP connect and, for https, a
    /// TLS handshake). Read it on the client's executor.
    std::size_t connections_opened() const noexcept { return detail::connections_opened(*parts_.core); }

private:
    /// Validates and serializes a creation request, and finds its local
    /// images (uploaded at submit time).
    template <class R>
    std::shared_ptr<const detail::prepared_create> prepare(const R& req) const
    {
        auto p = std::make_shared<detail::prepared_create>();
        p->invalid = validate(req, validation_options{parts_.allow_private_callback_urls});
        p->endpoint = std::string(endpoint_of(req));
        if (p->invalid) return p;
        p->body = to_json(req);
        if constexpr (std::is_same_v<R, image_to_video> || std::is_same_v<R, image_to_image>) {
            constexpr bool video = std::is_same_v<R, image_to_video>;
            p->limits = video ? image_to_video_limits() : image_to_image_limits();
            p->with_uploads = &detail::create_with_uploads_op;
            auto& urls = p->body["image_urls"].as_array();
            for (std::size_t i = 0; i < urls.size(); ++i) {
                std::string ref(urls[i].as_string());
                if (detail::is_local_image(ref))
                    p->locals.push_back({i, video ? std::string("image_url") : "image_urls[" + std::to_string(i) + "]", ref});
            }
        }
        return p;
    }

    template <class R, class Token>
    auto start_submit(const R& req, submit_options opts, Token&& token)
    {
        auto body_fn = [core = parts_.core, api = parts_.api, files = parts_.files, p = prepare(req),
                        key = std::move(opts.idempotency_key)]() mutable {
            return detail::submit_op(std::move(core), std::move(api), std::move(files), std::move(p), std::move(key));
        };
        return detail::start<task>(std::forward<Token>(token), parts_.core, parts_.strand, std::move(body_fn));
    }

    /// list_files, file_quota, delete_file: `call(core, files origin)`
    /// returns the operation's awaitable.
    template <class T, class Token, class Call>
    auto start_files_read(Token&& token, Call call)
    {
        auto body_fn = [core = parts_.core, origin = parts_.files, call = std::move(call)]() mutable {
            return call(std::move(core), std::move(origin));
        };
        return detail::start<T>(std::forward<Token>(token), parts_.core, parts_.strand, std::move(body_fn));
    }

    /// credits, list_tasks: `call(core, api origin)` returns the operation's awaitable.
    template <class T, class Token, class Call>
    auto start_api_read(Token&& token, Call call)
    {
        auto body_fn = [core = parts_.core, origin = parts_.api, call = std::move(call)]() mutable {
            return call(std::move(core), std::move(origin));
        };
        return detail::start<T>(std::forward<Token>(token), parts_.core, parts_.strand, std::move(body_fn));
    }

    template <class Token>
    auto start_upload(detail::upload_job::kind k, std::string source, std::string mime, const upload_options& opts, Token&& token)
    {
        auto job = std::make_shared<detail::upload_job>();
        job->k = k;
        job->source = std::move(source);
        job->mime_type = std::move(mime);
        job->options = opts;
        auto body_fn = [core = parts_.core, origin = parts_.files,
                        job = std::shared_ptr<const detail::upload_job>(std::move(job))]() mutable {
            return detail::upload_op(std::move(core), std::move(origin), std::move(job));
        };
        return detail::start<file_info>(std::forward<Token>(token), parts_.core, parts_.strand, std::move(body_fn));
    }

    template <class Token>
    auto start_download(std::string_view url, const std::filesystem::path& path, const download_options& opts, Token&& token)
    {
        auto job = std::make_shared<detail::download_job>();
        job->url = std::string(url);
        job->path = path;
        job->options = opts;
        auto body_fn = [core = parts_.core, job = std::shared_ptr<const detail::download_job>(std::move(job))]() mutable {
            return detail::download_op(std::move(core), std::move(job));
        };
        return detail::start<download_result>(std::forward<Token>(token), parts_.core, parts_.strand, std::move(body_fn));
    }

    template <class Token>
    auto start_download_results(const task& t, const std::filesystem::path& directory, const download_options& opts, Token&& token)
    {
        auto job = std::make_shared<detail::results_job>();
        job->t = t;
        job->directory = directory;
        job->options = opts;
        auto body_fn = [core = parts_.core, job = std::shared_ptr<const detail::results_job>(std::move(job))]() mutable {
            return detail::download_results_op(std::move(core), std::move(job));
        };
        return detail::start<std::vector<download_result>>(std::forward<Token>(token), parts_.core, parts_.strand,
                                                          std::move(body_fn));
    }

    template <class Token>
    auto start_get(std::string_view task_id, Token&& token)
    {
        auto invalid = detail::check_task_id(task_id);
        auto body_fn = [core = parts_.core, origin = parts_.api, invalid = std::move(invalid),
                        id = std::string(task_id)]() mutable {
            return detail::get_task_op(std::move(core), std::move(origin), std::move(id), std::move(invalid));
        };
        return detail::start<task>(std::forward<Token>(token), parts_.core, parts_.strand, std::move(body_fn));
    }

    template <class Token>
    auto start_wait(std::string_view task_id, std::optional<task> known, wait_options opts, Token&& token)
    {
        auto invalid = detail::check_task_id(task_id);
        // No coroutine: the wait is a record that keeps the handler (detail/wait_completion.hpp).
        auto go = [core = parts_.core, origin = parts_.api, id = std::string(task_id), known = std::move(known),
                   opts = std::make_shared<const wait_options>(std::move(opts)),
                   invalid = std::move(invalid)](std::unique_ptr<detail::wait_completion> done) mutable {
            detail::wait_op(std::move(core), std::move(origin), std::move(id), std::move(known), std::move(opts),
                            std::move(invalid), std::move(done));
        };
        return boost::asio::async_initiate<Token, void(error_code, task)>(
            detail::launch_wait{}, token, static_cast<diagnostics*>(nullptr), parts_.strand, std::move(go));
    }

    template <class R, class Token>
    auto start_generate(const R& original, wait_options opts, Token&& token)
    {
        const R* req = &original;
        std::optional<R> with_callback;
        if (opts.callbacks) {
            // Callbacks expected: the request must name the receiver's URL.
            with_callback = original;
            if constexpr (requires { original.callback_url; }) {
                if (!with_callback->callback_url) with_callback->callback_url = opts.callbacks->callback_url();
            } else {
                if (!with_callback->fields.contains("callback_url"))
                    with_callback->fields["callback_url"] = opts.callbacks->callback_url();
            }
            req = &*with_callback;
        }
        auto go = [core = parts_.core, api = parts_.api, files = parts_.files, p = prepare(*req),
                   opts = std::make_shared<const wait_options>(std::move(opts))](
                      std::unique_ptr<detail::wait_completion> done) mutable {
            detail::generate_op(std::move(core), std::move(api), std::move(files), std::move(p), std::move(opts),
                                std::move(done));
        };
        return boost::asio::async_initiate<Token, void(error_code, task)>(
            detail::launch_wait{}, token, static_cast<diagnostics*>(nullptr), parts_.strand, std::move(go));
    }

    detail::client_parts parts_;
};

} // namespace evolink

#ifndef EVOLINK_SEPARATE_COMPILATION
#include <evolink/impl/client.ipp>
#endif

#endif
