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

#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/options.hpp>
#include <evolink/requests.hpp>
#include <evolink/task.hpp>
#include <evolink/testing/certificates.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
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
};

/// A canned answer for the next request(s) that match.
struct canned_response {
    std::string method{};      ///< "" matches any method
    std::string path_prefix{}; ///< "" matches any path
    unsigned status = 500;
    std::string body{};
    std::string content_type = "application/json";
    std::vector<std::pair<std::string, std::string>> headers{};
    bool close_connection = false; ///< answer with Connection: close, then close
    std::chrono::milliseconds delay{0}; ///< wait this long before answering (timeouts, cancellation)
    int times = 1;                 ///< how many requests it answers
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
    /// Models accepted without typed validation (besides the four Wan 2.5 ones).
    std::vector<std::string> extra_models{"wan2.6-text-to-video", "wan2.6-image-to-video",
                                          "wan2.6-image-to-video-flash"};
    std::size_t max_request_body = 1024 * 1024; ///< larger bodies get 413
};

namespace detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct fake_task {
    std::string id, model, type;
    std::int64_t created = 0;
    int results = 1;
    std::optional<int> video_duration;
    double credits = 1;
    task_script script;
    std::size_t step = 0;
    std::chrono::steady_clock::time_point born = std::chrono::steady_clock::now();
};

using fake_response = http::response<http::string_body>;

class fake_server_state : public std::enable_shared_from_this<fake_server_state> {
public:
    fake_server_state(asio::strand<asio::any_io_executor> s, fake_server_options o)
        : strand(std::move(s)), opts(std::move(o)), ctx(ssl::context::tls_server), acceptor(strand)
    {
    }

    asio::strand<asio::any_io_executor> strand;
    fake_server_options opts;
    test_certificates certs;
    std::string base_url;
    unsigned short port = 0;

    mutable std::mutex mutex; // guards the three containers below
    std::deque<task_script> scripts;
    std::deque<canned_response> canned;
    std::vector<recorded_request> recorded;
    std::atomic<std::size_t> connections{0}, handshakes{0}, tasks_created{0};

    void start()
    {
        if (opts.tls) {
            certs = opts.certificates ? *opts.certificates : test_certificates::generate();
            ctx.use_certificate_chain(asio::buffer(certs.cert_pem));
            ctx.use_private_key(asio::buffer(certs.key_pem), ssl::context::pem);
        }
        tcp::endpoint ep(asio::ip::make_address(opts.address), opts.port);
        acceptor.open(ep.protocol());
        acceptor.set_option(tcp::acceptor::reuse_address(true));
        acceptor.bind(ep);
        acceptor.listen();
        port = acceptor.local_endpoint().port();
        std::string host = ep.address().is_v6() ? "[" + opts.address + "]" : opts.address;
        base_url = std::string(opts.tls ? "https://" : "http://") + host + ":" + std::to_string(port);
        asio::co_spawn(strand, accept_loop(shared_from_this()), asio::detached);
    }

    void stop()
    {
        stopped_ = true;
        boost::system::error_code ignored;
        acceptor.close(ignored);
        close_connections();
    }

    void close_connections()
    {
        boost::system::error_code ignored;
        for (auto& [id, sock] : live_) {
            sock->shutdown(tcp::socket::shutdown_both, ignored);
            sock->close(ignored);
        }
        for (auto* t : timers_) t->cancel();
    }

private:
    static constexpr auto tuple = asio::as_tuple(asio::use_awaitable_t<asio::any_io_executor>{});

    asio::awaitable<void> accept_loop(std::shared_ptr<fake_server_state> self)
    {
        while (!stopped_) {
            auto [ec, sock] = co_await acceptor.async_accept(tuple);
            if (ec) {
                if (stopped_ || ec == asio::error::operation_aborted) co_return;
                continue;
            }
            ++connections;
            asio::co_spawn(strand, session(self, std::move(sock)), asio::detached);
        }
    }

    // Every error ends the session quietly: the client side is what is tested.
    asio::awaitable<void> session(std::shared_ptr<fake_server_state> self, tcp::socket sock)
    {
        auto id = next_session_++;
        try {
            beast::tcp_stream tcp_stream(std::move(sock));
            if (opts.tls) {
                beast::ssl_stream<beast::tcp_stream> stream(std::move(tcp_stream), ctx);
                live_[id] = &beast::get_lowest_layer(stream).socket();
                beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
                auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, tuple);
                if (!ec) {
                    ++handshakes;
                    co_await serve(stream);
                }
            } else {
                live_[id] = &tcp_stream.socket();
                co_await serve(tcp_stream);
            }
        } catch (const std::exception&) {
        }
        live_.erase(id);
        (void)self;
    }

    template <class Stream>
    asio::awaitable<void> serve(Stream& stream)
    {
        beast::flat_buffer buffer;
        for (;;) {
            http::request_parser<http::string_body> parser;
            parser.body_limit(opts.max_request_body);
            beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(60));
            auto [ec, n] = co_await http::async_read(stream, buffer, parser, tuple);
            bool close = false;
            fake_response res;
            if (ec == http::error::body_limit) {
                res = error_response(413, "request_too_large_error", "", "request body too large", "413");
                close = true;
            } else if (ec) {
                co_return;
            } else {
                auto req = parser.release();
                record(req);
                close = !req.keep_alive();
                std::chrono::milliseconds delay{0};
                res = handle(req, close, delay);
                if (delay.count() > 0) {
                    asio::steady_timer timer(strand, delay);
                    timers_.insert(&timer);
                    co_await timer.async_wait(tuple);
                    timers_.erase(&timer);
                    if (stopped_) co_return;
                }
            }
            res.keep_alive(!close);
            res.prepare_payload();
            auto [wec, wn] = co_await http::async_write(stream, res, tuple);
            if (wec || close) co_return;
        }
    }

    void record(const http::request<http::string_body>& req)
    {
        recorded_request r;
        r.method = std::string(req.method_string());
        r.target = std::string(req.target());
        for (auto& f : req) {
            std::string name(f.name_string());
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            r.headers[name] = std::string(f.value());
        }
        r.body = req.body();
        std::lock_guard lock(mutex);
        recorded.push_back(std::move(r));
    }

    fake_response make(unsigned status, std::string body, std::string content_type = "application/json")
    {
        fake_response res{static_cast<http::status>(status), 11};
        res.set(http::field::server, "evolink-fake");
        if (!content_type.empty()) res.set(http::field::content_type, content_type);
        res.set("X-Request-Id", "fake-req-" + std::to_string(++request_ids_));
        res.body() = std::move(body);
        return res;
    }

    /// EvoLink's error envelope. `code` is sent as an integer when numeric.
    fake_response error_response(unsigned status, std::string type, std::string param, std::string message,
                                 std::string code)
    {
        boost::json::object e{{"message", message}, {"type", type}};
        if (!code.empty() && code.find_first_not_of("0123456789") == std::string::npos) e["code"] = std::stoi(code);
        else e["code"] = code;
        if (!param.empty()) e["param"] = param;
        return make(status, boost::json::serialize(boost::json::object{{"error", std::move(e)}}));
    }

    std::optional<canned_response> take_canned(const http::request<http::string_body>& req)
    {
        std::lock_guard lock(mutex);
        for (auto it = canned.begin(); it != canned.end(); ++it) {
            if ((it->method.empty() || it->method == req.method_string()) &&
                std::string_view(req.target()).starts_with(it->path_prefix)) {
                auto r = *it;
                if (--it->times <= 0) canned.erase(it);
                return r;
            }
        }
        return std::nullopt;
    }

    fake_response handle(const http::request<http::string_body>& req, bool& close, std::chrono::milliseconds& delay)
    {
        std::string_view target(req.target());
        if (auto c = take_canned(req)) {
            auto res = make(c->status, c->body, c->content_type);
            res.erase("X-Request-Id"); // canned answers carry only the headers they name
            for (auto& [k, v] : c->headers) res.set(k, v);
            if (c->close_connection) close = true;
            delay = c->delay;
            return res;
        }
        if (target.starts_with("/results/")) return result_file(req, target);
        if (req[http::field::authorization] != "Bearer " + opts.api_key)
            return error_response(401, "authentication_error", "", "Invalid or missing API key", "401");
        bool images = target == "/v1/images/generations", videos = target == "/v1/videos/generations";
        if (images || videos) {
            if (req.method() != http::verb::post) return error_response(405, "invalid_request_error", "", "use POST", "405");
            return create(req.body(), videos);
        }
        constexpr std::string_view tasks = "/v1/tasks/";
        if (target.starts_with(tasks)) {
            if (req.method() != http::verb::get) return error_response(405, "invalid_request_error", "", "use GET", "405");
            return get_task(std::string(target.substr(tasks.size())));
        }
        return error_response(404, "not_found_error", "", "no such endpoint: " + std::string(target), "404");
    }

    template <class R>
    std::optional<diagnostics> typed_check(const boost::json::object& body, fake_task& t)
    {
        R r;
        if (auto e = from_json(body, r)) return e;
        if (auto e = validate(r)) return e;
        if constexpr (requires { r.n; }) t.results = r.n.value_or(1);
        if constexpr (requires { r.duration; }) t.video_duration = r.duration.value_or(5);
        return std::nullopt;
    }

    fake_response create(const std::string& text, bool videos)
    {
        boost::system::error_code ec;
        auto v = boost::json::parse(text, ec);
        if (ec || !v.is_object())
            return error_response(400, "invalid_request_error", "", "the body is not a JSON object", "400");
        auto& body = v.get_object();
        auto* m = body.if_contains("model");
        if (!m || !m->is_string())
            return error_response(400, "invalid_request_error", "model", "model: is missing; it is required", "400");
        fake_task t;
        t.model = std::string(m->get_string());
        std::optional<diagnostics> bad;
        bool video_model;
        if (t.model == text_to_image::model) bad = typed_check<text_to_image>(body, t), video_model = false;
        else if (t.model == image_to_image::model) bad = typed_check<image_to_image>(body, t), video_model = false;
        else if (t.model == image_to_video::model) bad = typed_check<image_to_video>(body, t), video_model = true;
        else if (t.model == text_to_video::model) bad = typed_check<text_to_video>(body, t), video_model = true;
        else if (std::find(opts.extra_models.begin(), opts.extra_models.end(), t.model) != opts.extra_models.end()) {
            video_model = t.model.find("video") != std::string::npos;
            if (auto* cb = body.if_contains("callback_url"); cb && cb->is_string())
                bad = evolink::detail::check_callback_url(cb->get_string());
        } else {
            return error_response(404, "not_found_error", "model", "model " + t.model + " not found", "404");
        }
        if (bad) return error_response(400, "invalid_request_error", bad->param, bad->message, "400");
        if (video_model != videos)
            return error_response(400, "invalid_request_error", "model",
                                  "model " + t.model + " is not served by this endpoint", "400");
        t.type = videos ? "video" : "image";
        if (videos) t.video_duration = t.video_duration.value_or(5);
        t.credits = videos ? 1.25 * *t.video_duration : 0.5 * t.results;
        t.created = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
        t.id = "task-unified-" + std::to_string(t.created) + "-" + random_suffix();
        {
            std::lock_guard lock(mutex);
            if (!scripts.empty()) {
                t.script = std::move(scripts.front());
                scripts.pop_front();
            } else {
                t.script = opts.script;
            }
        }
        ++tasks_created;
        auto json = task_json(t);
        tasks_[t.id] = std::move(t);
        return make(200, boost::json::serialize(json));
    }

    fake_response get_task(const std::string& id)
    {
        if (!well_formed(id))
            return error_response(400, "invalid_request_error", "task_id", "invalid task id: " + id, "invalid_task_id");
        auto it = tasks_.find(id);
        if (it == tasks_.end())
            return error_response(404, "not_found_error", "task_id", "task not found or expired", "404");
        auto& t = it->second;
        std::size_t last = t.script.progress.size() + 1;
        if (t.script.step_interval.count() > 0) {
            auto elapsed = std::chrono::steady_clock::now() - t.born;
            t.step = std::min<std::size_t>(last, static_cast<std::size_t>(elapsed / t.script.step_interval));
        } else {
            t.step = std::min(last, t.step + 1);
        }
        return make(200, boost::json::serialize(task_json(t)));
    }

    boost::json::object task_json(const fake_task& t) const
    {
        std::size_t last = t.script.progress.size() + 1;
        boost::json::object o{{"id", t.id},
                              {"object", t.type + ".generation.task"},
                              {"created", t.created},
                              {"model", t.model},
                              {"type", t.type}};
        boost::json::object info{{"can_cancel", t.step == 0}, {"estimated_time", t.type == "video" ? 120 : 30}};
        if (t.video_duration) info["video_duration"] = *t.video_duration;
        if (t.step == 0) {
            o["status"] = "pending";
            o["progress"] = 0;
        } else if (t.step < last) {
            o["status"] = "processing";
            o["progress"] = t.script.progress[t.step - 1];
        } else if (t.script.outcome == task_status::completed) {
            o["status"] = "completed";
            o["progress"] = 100;
            boost::json::array results;
            for (int i = 0; i < t.results; ++i)
                results.emplace_back(base_url + "/results/" + t.id + "/" + std::to_string(i) +
                                     (t.type == "video" ? ".mp4" : ".png"));
            o["results"] = std::move(results);
        } else {
            bool cancelled = t.script.outcome == task_status::cancelled;
            o["status"] = cancelled ? "cancelled" : "failed";
            o["progress"] = 0;
            o["error"] = boost::json::object{
                {"code", cancelled ? std::string("request_cancelled") : t.script.error_code},
                {"message", cancelled ? std::string("The task was cancelled") : t.script.error_message},
                {"type", "task_error"}};
        }
        o["task_info"] = std::move(info);
        o["usage"] = boost::json::object{{"billing_rule", "per_call"}, {"credits_reserved", t.credits}, {"user_group", "default"}};
        return o;
    }

    fake_response result_file(const http::request<http::string_body>& req, std::string_view target)
    {
        // /results/{task id}/{index}.{png|mp4}, served for completed tasks only.
        auto rest = target.substr(std::string_view("/results/").size());
        auto slash = rest.find('/');
        auto it = slash == std::string_view::npos ? tasks_.end() : tasks_.find(std::string(rest.substr(0, slash)));
        if (req.method() != http::verb::get || it == tasks_.end())
            return make(404, "not found", "text/plain");
        bool video = target.ends_with(".mp4");
        std::string bytes = video ? std::string("\0\0\0\x18" "ftypmp42\0\0\0\0mp42isom", 24)
                                  : std::string("\x89PNG\r\n\x1a\n", 8);
        bytes += "evolink fake result for " + it->first;
        return make(200, std::move(bytes), video ? "video/mp4" : "image/png");
    }

    static bool well_formed(std::string_view id)
    {
        constexpr std::string_view prefix = "task-unified-";
        if (!id.starts_with(prefix)) return false;
        id.remove_prefix(prefix.size());
        auto dash = id.find('-');
        if (dash == 0 || dash == std::string_view::npos || id.size() - dash - 1 != 8) return false;
        for (std::size_t i = 0; i < id.size(); ++i) {
            char c = id[i];
            bool ok = i < dash ? (c >= '0' && c <= '9') : i == dash || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z');
            if (!ok) return false;
        }
        return true;
    }

    std::string random_suffix()
    {
        static constexpr char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
        std::uniform_int_distribution<int> pick(0, 35);
        std::string s;
        for (int i = 0; i < 8; ++i) s += alphabet[pick(rng_)];
        return s;
    }

    ssl::context ctx;
    tcp::acceptor acceptor;
    bool stopped_ = false;
    std::uint64_t next_session_ = 0;
    std::uint64_t request_ids_ = 0;
    std::map<std::uint64_t, tcp::socket*> live_;
    std::set<asio::steady_timer*> timers_;
    std::map<std::string, fake_task> tasks_;
    std::mt19937 rng_{std::random_device{}()};
};

} // namespace detail

class fake_server {
public:
    /// Binds and starts listening at once (base_url() is valid on return).
    explicit fake_server(boost::asio::any_io_executor ex, fake_server_options opts = {})
        : st_(std::make_shared<detail::fake_server_state>(boost::asio::make_strand(ex), std::move(opts)))
    {
        st_->start();
    }
    ~fake_server() { stop(); }
    fake_server(const fake_server&) = delete;
    fake_server& operator=(const fake_server&) = delete;

    /// "https://127.0.0.1:PORT" (or http://).
    std::string base_url() const { return st_->base_url; }
    unsigned short port() const { return st_->port; }
    /// The CA that signed the server's certificate (empty for plain HTTP).
    const std::string& ca_pem() const { return st_->certs.ca_pem; }
    const std::string& api_key() const { return st_->opts.api_key; }

    /// Options for an evolink::client that talks to this server: its key, its
    /// URLs, its CA only (not the system store), plain HTTP allowed when the
    /// server is plain.
    evolink::client_options client_options() const
    {
        evolink::client_options o;
        o.api_key = st_->opts.api_key;
        o.base_url = st_->base_url;
        o.files_base_url = st_->base_url;
        o.allow_insecure_http = !st_->opts.tls;
        o.tls.use_system_store = false;
        o.tls.ca_pem = st_->certs.ca_pem;
        return o;
    }

    /// The next created task follows `s` (queued: one script per task).
    void push_script(task_script s)
    {
        std::lock_guard lock(st_->mutex);
        st_->scripts.push_back(std::move(s));
    }
    /// Answers the next matching request(s) with `r` instead of the normal answer.
    void inject(canned_response r)
    {
        std::lock_guard lock(st_->mutex);
        st_->canned.push_back(std::move(r));
    }

    std::vector<recorded_request> requests() const
    {
        std::lock_guard lock(st_->mutex);
        return st_->recorded;
    }
    /// Requests received whose method and path prefix match.
    std::size_t count(std::string_view method, std::string_view path_prefix) const
    {
        std::lock_guard lock(st_->mutex);
        std::size_t n = 0;
        for (auto& r : st_->recorded)
            if (r.method == method && r.target.starts_with(path_prefix)) ++n;
        return n;
    }
    /// TCP connections accepted, and TLS handshakes that succeeded.
    std::size_t connections() const noexcept { return st_->connections; }
    std::size_t handshakes() const noexcept { return st_->handshakes; }
    std::size_t tasks_created() const noexcept { return st_->tasks_created; }

    /// Closes every open connection but keeps listening: clients see their
    /// kept-alive connections dropped, as servers do after an idle timeout.
    void stop_connections()
    {
        boost::asio::dispatch(st_->strand, [st = st_] { st->close_connections(); });
    }

    /// Stops listening and closes every connection, so that the io_context
    /// can run dry. Safe to call more than once, from any thread.
    void stop()
    {
        boost::asio::dispatch(st_->strand, [st = st_] { st->stop(); });
    }

private:
    std::shared_ptr<detail::fake_server_state> st_;
};

} // namespace evolink::testing

#endif
