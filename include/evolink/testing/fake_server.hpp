// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_FAKE_SERVER_HPP
#define EVOLINK_TESTING_FAKE_SERVER_HPP

/// An in-process fake of the EvoLink API, for tests, examples and demos.
///
/// It listens on loopback (TLS with a certificate it generates, or plain
/// HTTP), checks the bearer key (401), validates creation requests with the
/// documented limits (400 naming `param`), runs each task through a scripted,
/// fast lifecycle (pending -> processing with rising progress -> completed
/// with result URLs it serves itself, or failed/cancelled with a chosen task
/// error code), records every request it receives, and can answer chosen
/// requests with canned responses (any status, HTML or empty bodies...).
///
/// Threading: it runs on a strand of the executor it is given; its public
/// functions may be called from any thread.
///
/// This header declares the server; the server itself (the HTTP and TLS
/// serving, the fake API) is in testing/impl/fake_server.ipp, included at the
/// end of this header unless EVOLINK_TESTING_SEPARATE_COMPILATION is
/// defined, in which case one translation unit includes
/// <evolink/testing/src.hpp> (testing/config.hpp, docs/testing.md).

#include <evolink/options.hpp>
#include <evolink/task.hpp>
#include <evolink/testing/certificates.hpp>
#include <evolink/testing/config.hpp>
#include <evolink/testing/fake_file.hpp>
#include <evolink/testing/reply_fault.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/object.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace evolink::testing {

/// How a task created on the fake server evolves.
struct task_script {
    /// Progress values shown with status "processing", one per step, after
    /// the initial "pending".
    std::vector<int> progress{25, 50, 75};
    /// The terminal status: completed, failed or cancelled.
    task_status outcome = task_status::completed;
    /// For failed tasks: EvoLink's task error code and message.
    std::string error_code = "content_policy_violation";
    std::string error_message = "The content was flagged by the safety system";
    /// 0: every GET of the task advances it one step (deterministic, fast).
    /// Otherwise the task advances one step per interval, whatever the GETs.
    std::chrono::milliseconds step_interval{0};

    // Callbacks, for tasks created with a callback_url (delivered when the
    // task reaches its terminal state, like EvoLink: POST of the task JSON).
    bool callback_lost = false;                  ///< never deliver it
    std::chrono::milliseconds callback_delay{0}; ///< wait this long before the first attempt
    int callback_duplicates = 0;                 ///< deliver it this many extra times
};

/// How a canned answer is broken on purpose.
using fault = reply_fault;

/// A canned answer (or a fault) for the next request(s) that match.
struct canned_response {
    std::string method{};      ///< "" matches any method
    std::string path_prefix{}; ///< "" matches any path
    /// 0: the server's real answer (with `process`), broken by `fault`.
    unsigned status = 500;
    /// Handle the request for real first (a task is created, a key stored),
    /// then answer with this instead: the client sees a failure although the
    /// server did the work, the case that bills twice when retried blindly.
    bool process = false;
    /// none: send the answer; reset: close without answering; cut_body: send
    /// the headers and half the body; slow_body: the body trickles over `delay`.
    fault kind = fault::none;
    int skip = 0; ///< let this many matching requests through first
    std::string body{};
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers{};
    bool close_connection = false; ///< answer with Connection: close, then close
    std::chrono::milliseconds delay{0}; ///< wait this long before answering (slow headers), or the body's pace
    int times = 1;                 ///< how many requests it answers (at least one)
};

/// One request as the server received it. Header names are lower case.
struct recorded_request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;
    std::string body;
};

struct fake_server_options {
    std::string api_key = "evk-test-0123456789abcdef";
    bool tls = true;
    /// Certificates to serve; empty: generated for localhost, 127.0.0.1, ::1.
    std::optional<test_certificates> certificates{};
    std::string address = "127.0.0.1";
    unsigned short port = 0; ///< 0: any free port
    task_script script{};    ///< for tasks without a queued script
    /// Chooses the script of a new task from its request body (after the
    /// queued scripts); nothing: the default `script`.
    std::function<std::optional<task_script>(const boost::json::object& body)> script_for{};
    /// Models accepted without typed validation (besides the four Wan 2.5 ones).
    std::vector<std::string> extra_models{"wan2.6-text-to-video", "wan2.6-image-to-video",
                                          "wan2.6-image-to-video-flash"};
    std::size_t max_request_body = 1024 * 1024; ///< larger bodies get 413 (the Files API's uploads aside)

    /// GET /v1/credits: the balances at start. Each created task's credits
    /// (usage.credits_reserved) then move from remaining to used, on the
    /// account and on the key (unless the key is unlimited).
    double user_credits = 1000;
    double token_credits = 500;
    bool token_unlimited = false;
    /// POST /v1/tasks/batch (undocumented, like EvoLink's): off, it answers
    /// 404 as an unknown route does.
    bool batch_endpoint = true;

    /// Files API: the largest file accepted (40001 above), and how many
    /// files may be stored at once (40003 beyond).
    std::size_t max_file_bytes = 10 * 1024 * 1024;
    std::size_t file_quota = 100;
    /// Result files (/results/...) are placeholder media made locally
    /// (testing/media.hpp): a PNG of the requested size (default 1280x720)
    /// coloured by the prompt, an H.264 MP4 of the requested duration. One
    /// shorter than `result_bytes` is padded to exactly that size with data
    /// decoders skip (unless it is within 12 bytes of it); a longer one is
    /// served whole. fake_server::result_content gives the bytes. Whether
    /// Range requests are honoured (Accept-Ranges, 206, If-Range with the ETag).
    std::size_t result_bytes = 256 * 1024;
    bool result_ranges = true;

    /// Deliver callbacks to the tasks' callback_url. The fake accepts
    /// callback URLs on loopback (plain http there too); the real service
    /// does not.
    bool deliver_callbacks = true;
    /// CA to trust for https callback URLs (the receiver's certificate).
    std::string callback_ca_pem{};
    std::chrono::milliseconds callback_timeout{10'000};
    /// After a non-2xx answer (or no answer), retry after these delays.
    std::vector<std::chrono::milliseconds> callback_retry_delays{std::chrono::seconds(1), std::chrono::seconds(2),
                                                                 std::chrono::seconds(4)};
};

namespace detail {
class fake_server_state; // testing/impl/fake_server.ipp
} // namespace detail

class fake_server {
public:
    /// Binds and starts listening at once (base_url() is valid on return).
    EVOLINK_TESTING_DECL explicit fake_server(boost::asio::any_io_executor ex, fake_server_options opts = {});
    EVOLINK_TESTING_DECL ~fake_server();
    fake_server(const fake_server&) = delete;
    fake_server& operator=(const fake_server&) = delete;

    /// "https://127.0.0.1:PORT" (or http://).
    EVOLINK_TESTING_DECL std::string base_url() const;
    EVOLINK_TESTING_DECL unsigned short port() const;
    /// The CA that signed the server's certificate (empty for plain HTTP).
    EVOLINK_TESTING_DECL const std::string& ca_pem() const;
    EVOLINK_TESTING_DECL const std::string& api_key() const;

    /// Options for an evolink::client that talks to this server: its key, its
    /// URLs, its CA only (not the system store), plain HTTP allowed when the
    /// server is plain.
    EVOLINK_TESTING_DECL evolink::client_options client_options() const;

    /// The next created task follows `s` (queued: one script per task).
    EVOLINK_TESTING_DECL void push_script(task_script s);
    /// Answers the next matching request(s) with `r` instead of the normal answer.
    EVOLINK_TESTING_DECL void inject(canned_response r);

    EVOLINK_TESTING_DECL std::vector<recorded_request> requests() const;
    /// Requests received whose method and path prefix match.
    EVOLINK_TESTING_DECL std::size_t count(std::string_view method, std::string_view path_prefix) const;
    /// Requests received for one route: this method and exactly this path,
    /// whatever the query ("/v1/tasks" counts the lists, not the GETs of one task).
    EVOLINK_TESTING_DECL std::size_t count_route(std::string_view method, std::string_view path) const;
    /// Reads of one task: its GETs, and its entries in POST /v1/tasks/batch
    /// bodies (a client that batches reads a task either way).
    EVOLINK_TESTING_DECL std::size_t task_reads(std::string_view id) const;
    /// The bytes served at a result URL of this server (to compare downloads).
    EVOLINK_TESTING_DECL std::string result_content(std::string_view url) const;
    /// The files the fake Files API holds now, by id.
    EVOLINK_TESTING_DECL std::map<std::string, fake_file> files() const;

    /// TCP connections accepted, and TLS handshakes that succeeded.
    EVOLINK_TESTING_DECL std::size_t connections() const noexcept;
    EVOLINK_TESTING_DECL std::size_t handshakes() const noexcept;
    EVOLINK_TESTING_DECL std::size_t tasks_created() const noexcept;
    /// Callback POSTs sent (retries and duplicates included), and the
    /// callbacks that got a 2xx answer (each counted once, duplicates aside).
    EVOLINK_TESTING_DECL std::size_t callback_attempts() const noexcept;
    EVOLINK_TESTING_DECL std::size_t callbacks_delivered() const noexcept;

    /// The next `n` connections are closed before their TLS handshake
    /// completes (the client sees a failed handshake; nothing was sent).
    EVOLINK_TESTING_DECL void fail_handshakes(std::size_t n);

    /// Forgets a task: reads of it get 404 with code resource_not_found, as
    /// for an expired task.
    EVOLINK_TESTING_DECL void expire(std::string task_id);

    /// Closes every open connection but keeps listening: clients see their
    /// kept-alive connections dropped, as servers do after an idle timeout.
    EVOLINK_TESTING_DECL void stop_connections();

    /// Stops listening and closes every connection, so that the io_context
    /// can run dry. Safe to call more than once, from any thread.
    EVOLINK_TESTING_DECL void stop();

private:
    std::shared_ptr<detail::fake_server_state> st_;
};

} // namespace evolink::testing

#ifndef EVOLINK_TESTING_SEPARATE_COMPILATION
#include <evolink/testing/impl/fake_server.ipp>
#endif

#endif
