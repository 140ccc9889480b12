// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_OPERATIONS_HPP
#define EVOLINK_DETAIL_OPERATIONS_HPP

// The seam between the client's thin templates (client.hpp: validation,
// serialization, the completion token) and the compiled part of the library
// (impl/client.ipp: transport, retries, waiting, files). Everything a client
// operation hands over is declared here, without Beast or the transport, so
// that with EVOLINK_SEPARATE_COMPILATION a user's translation unit compiles
// none of the operation bodies: they are defined once, by <evolink/src.hpp>.

#include <evolink/account.hpp>
#include <evolink/detail/async.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/origin.hpp>
#include <evolink/detail/wait_completion.hpp>
#include <evolink/error.hpp>
#include <evolink/files.hpp>
#include <evolink/images.hpp>
#include <evolink/options.hpp>
#include <evolink/task.hpp>
#include <evolink/wait.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace evolink::detail {

class transport; // detail/transport.hpp: connections, pools, TLS (compiled part)

using core_ptr = std::shared_ptr<transport>;
using shared_wait_options = std::shared_ptr<const wait_options>;

/// What a client holds: its transport and where its two APIs live.
struct client_parts {
    core_ptr core;
    // Copies of what the transport holds (its strand, one option): the
    // client's templates read them without the transport's definition.
    boost::asio::any_io_executor strand; ///< every operation runs on it
    origin api;
    origin files;
    bool allow_private_callback_urls = false;
};

/// Checks `opts` and builds the TLS context and the transport on a new strand
/// of `ex`. Throws evolink::error (see client::client).
EVOLINK_DECL client_parts make_client(boost::asio::any_io_executor ex, client_options opts);
/// Closes the idle connections of `core`, later, on its strand.
EVOLINK_DECL void close_idle_later(const core_ptr& core);
/// Connections `core` opened so far (read on its strand).
EVOLINK_DECL std::size_t connections_opened(const transport& core) noexcept;
/// client::shutdown's body: new operations fail, running ones are cancelled
/// (total: a creation on the wire gets its answer), terminal after `grace`;
/// completes once none runs. Its value: how many were running at its start.
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<std::size_t>> shutdown_op(core_ptr core, std::chrono::milliseconds grace);

/// A creation request ready to go, but for its local images: each is
/// checked against the model's limits, then uploaded, and its file_url
/// takes its place in `image_urls` before the POST.
struct prepared_create {
    struct local_image {
        std::size_t index = 0; ///< in image_urls
        std::string field;     ///< "image_url", "image_urls[1]"
        std::string path;
    };
    std::string endpoint;
    boost::json::object body;
    std::optional<diagnostics> invalid;
    std::vector<local_image> locals;
    image_limits limits;
    /// With locals: the creation that checks and uploads them first
    /// (create_with_uploads_op), set by client::prepare for the request
    /// types that can carry local images: a program that submits none of
    /// those does not compile the upload path (issue 11).
    boost::asio::awaitable<outcome<task>> (*with_uploads)(std::shared_ptr<transport>, origin, origin,
                                                         std::shared_ptr<const prepared_create>, std::string) = nullptr;
};

/// What to upload: exactly one of a local file, bytes, or a URL.
struct upload_job {
    enum class kind { file, bytes, url } k = kind::file;
    std::string source;    ///< the path, the bytes, or the URL
    std::string mime_type; ///< bytes: their type ("image/png"...)
    upload_options options;
    /// file: its bytes, already read and checked (a local image); the file
    /// is not read again.
    std::shared_ptr<const std::vector<unsigned char>> loaded;
};

struct download_job {
    std::string url;
    std::filesystem::path path;
    download_options options;
};

struct results_job {
    task t;
    std::filesystem::path directory;
    download_options options;
};

// The operation bodies, one per public operation. Each runs on the client's
// strand and returns its outcome (errors are values, never exceptions).
// `invalid`: the argument check's verdict, made before the operation
// started; when set, the body fails with it and sends nothing.

EVOLINK_DECL boost::asio::awaitable<outcome<task>> submit_op(core_ptr core, origin api, origin files,
                                                             std::shared_ptr<const prepared_create> p, std::string key);
/// A creation whose request has local images (prepared_create::with_uploads).
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<task>> create_with_uploads_op(core_ptr core, origin api, origin files,
                                                                          std::shared_ptr<const prepared_create> p,
                                                                          std::string key);
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<task>> get_task_op(core_ptr core, origin api, std::string id,
                                                               std::optional<diagnostics> invalid);
/// A wait is not a coroutine but a record (detail/wait_record.hpp): it is
/// handed the caller's handler, erased, and delivers its outcome to it.
EVOLINK_DECL void wait_op(core_ptr core, origin api, std::string id, std::optional<task> known, shared_wait_options opts,
                          std::optional<diagnostics> invalid, std::unique_ptr<wait_completion> done);
/// The creation is a coroutine; the wait that follows, a record that takes
/// over the handler.
EVOLINK_DECL void generate_op(core_ptr core, origin api, origin files, std::shared_ptr<const prepared_create> p,
                              shared_wait_options opts, std::unique_ptr<wait_completion> done);
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<std::vector<resumed_task>>> resume_op(core_ptr core, origin api,
                                                                                  shared_wait_options opts);
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<file_info>> upload_op(core_ptr core, origin files,
                                                                  std::shared_ptr<const upload_job> job);
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<file_list>> list_files_op(core_ptr core, origin files, unsigned page,
                                                                      unsigned page_size);
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<file_quota>> file_quota_op(core_ptr core, origin files);
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<bool>> delete_file_op(core_ptr core, origin files, std::string id);
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<credit_balance>> credits_op(core_ptr core, origin api);
/// `filter` behind a shared_ptr: see wait options in detail/task_ops.hpp.
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<task_list>> list_tasks_op(core_ptr core, origin api,
                                                                      std::shared_ptr<const task_filter> filter,
                                                                      std::optional<diagnostics> invalid);
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<download_result>> download_op(core_ptr core,
                                                                          std::shared_ptr<const download_job> job);
EVOLINK_LAZY_DECL boost::asio::awaitable<outcome<std::vector<download_result>>>
download_results_op(core_ptr core, std::shared_ptr<const results_job> job);

} // namespace evolink::detail

#endif
