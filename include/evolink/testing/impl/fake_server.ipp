// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_TESTING_IMPL_FAKE_SERVER_IPP
#define EVOLINK_TESTING_IMPL_FAKE_SERVER_IPP

// The compiled part of evolink::testing::fake_server: the server's state and
// its coroutines (HTTP and TLS on the production listener, the fake API, the
// Files API, result media, callbacks), and the member functions declared in
// <evolink/testing/fake_server.hpp>. Included by that header in header-only
// mode, or once by <evolink/testing/src.hpp> with
// EVOLINK_TESTING_SEPARATE_COMPILATION.

#include <evolink/testing/fake_server.hpp>

#include <evolink/detail/checks.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/http_server.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/options.hpp>
#include <evolink/requests.hpp>
#include <evolink/task.hpp>
#include <evolink/testing/certificates.hpp>
#include <evolink/testing/fake_files.hpp>
#include <evolink/testing/faults.hpp>
#include <evolink/testing/media.hpp>
#include <evolink/testing/request_parser.hpp>

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
#include <boost/url/parse.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace evolink::testing {

namespace detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

struct fake_task {
    std::string id, model, type;
    std::int64_t created = 0;
    std::uint64_t seq = 0; // creation order: tasks of the same second still list newest first
    int results = 1;
    std::optional<int> video_duration;
    double credits = 1;
    task_script script;
    std::size_t step = 0;
    std::string callback_url;
    bool callback_started = false;
    std::chrono::steady_clock::time_point born = std::chrono::steady_clock::now();
};

using evolink::detail::server_request;
using evolink::detail::server_response;

class fake_server_state : public std::enable_shared_from_this<fake_server_state> {
public:
    fake_server_state(asio::strand<asio::any_io_executor> s, fake_server_options o)
        : strand(std::move(s)), opts(std::move(o))
    {
    }

    asio::strand<asio::any_io_executor> strand;
    fake_server_options opts;
    test_certificates certs;
    std::string base_url;
    unsigned short port = 0;
    std::shared_ptr<evolink::detail::http_listener> listener;
    connection_dropper dropper; // fail_handshakes()

    mutable std::mutex mutex; // guards the three containers below
    std::deque<task_script> scripts;
    std::deque<canned_response> canned;
    std::vector<recorded_request> recorded;
    std::atomic<std::size_t> tasks_created{0}, callback_attempts{0}, callbacks_delivered{0};
    fake_files files;

    void start()
    {
        std::shared_ptr<ssl::context> ctx;
        if (opts.tls) {
            certs = opts.certificates ? *opts.certificates : test_certificates::generate();
            ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
            ctx->use_certificate_chain(asio::buffer(certs.cert_pem));
            ctx->use_private_key(asio::buffer(certs.key_pem), ssl::context::pem);
        }
        evolink::detail::http_server_limits limits;
        // Uploads (base64 grows them by a third) may be larger than other
        // requests; answer() holds the others to max_request_body.
        limits.max_body = std::max(opts.max_request_body, opts.max_file_bytes / 3 * 4 + 64 * 1024);
        files.max_file_bytes = opts.max_file_bytes;
        files.quota = opts.file_quota;
        limits.max_header = 16 * 1024;
        std::weak_ptr<fake_server_state> weak = shared_from_this();
        listener = std::make_shared<evolink::detail::http_listener>(
            strand, ctx,
            [weak](server_request& req) -> asio::awaitable<evolink::detail::server_reply> {
                auto self = weak.lock();
                if (!self) return fail_fast();
                return self->handle(self, req);
            },
            limits);
        listener->on_accept(dropper.hook());
        tcp::endpoint ep(asio::ip::make_address(opts.address), opts.port);
        listener->listen(ep);
        port = listener->port();
        std::string host = ep.address().is_v6() ? "[" + opts.address + "]" : opts.address;
        base_url = std::string(opts.tls ? "https://" : "http://") + host + ":" + std::to_string(port);
    }

    void stop()
    {
        stopped_ = true;
        listener->stop();
        for (auto* t : timers_) t->cancel();
        if (callbacks_) callbacks_->close_idle();
    }

    void close_connections()
    {
        listener->close_connections();
        for (auto* t : timers_) t->cancel();
    }

private:
    static constexpr auto tuple = asio::as_tuple(asio::use_awaitable_t<asio::any_io_executor>{});

    static asio::awaitable<evolink::detail::server_reply> fail_fast()
    {
        co_return evolink::detail::server_reply{evolink::detail::plain_response(503, "{}")};
    }

    /// Sleeps on the strand; false when the server stopped meanwhile.
    asio::awaitable<bool> sleep(std::chrono::steady_clock::duration d)
    {
        asio::steady_timer timer(strand, d);
        timers_.insert(&timer);
        co_await timer.async_wait(tuple);
        timers_.erase(&timer);
        co_return !stopped_;
    }

    asio::awaitable<evolink::detail::server_reply> handle(std::shared_ptr<fake_server_state> self, server_request& req)
    {
        record(req);
        evolink::detail::server_reply reply;
        auto c = take_canned(req);
        if (!c || c->process) reply.res = answer(req);
        if (c) {
            if (c->status != 0) {
                // Canned answers carry only the headers they name.
                reply.res = evolink::detail::plain_response(c->status, c->body, c->content_type);
                for (auto& [k, v] : c->headers) reply.res.set(k, v);
            }
            if (c->close_connection) reply.res.keep_alive(false);
            reply.writer = broken_reply(c->kind, c->delay); // for slow_body, `delay` is the body's pace
            if (c->kind != fault::slow_body && c->delay.count() > 0 && !co_await sleep(c->delay))
                reply.res.keep_alive(false);
        }
        (void)self;
        co_return reply;
    }

    void record(const server_request& req)
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

    server_response make(unsigned status, std::string body, std::string content_type = "application/json")
    {
        auto res = evolink::detail::plain_response(status, std::move(body), std::move(content_type));
        res.set(http::field::server, "evolink-fake");
        res.set("X-Request-Id", "fake-req-" + std::to_string(++request_ids_));
        return res;
    }

    /// EvoLink's error envelope. `code` is sent as an integer when numeric.
    server_response error_response(unsigned status, std::string type, std::string param, std::string message,
                                   std::string code)
    {
        boost::json::object e{{"message", message}, {"type", type}};
        if (!code.empty() && code.find_first_not_of("0123456789") == std::string::npos) e["code"] = std::stoi(code);
        else e["code"] = code;
        if (!param.empty()) e["param"] = param;
        return make(status, boost::json::serialize(boost::json::object{{"error", std::move(e)}}));
    }

    std::optional<canned_response> take_canned(const server_request& req)
    {
        std::lock_guard lock(mutex);
        for (auto it = canned.begin(); it != canned.end(); ++it) {
            if ((it->method.empty() || it->method == req.method_string()) &&
                std::string_view(req.target()).starts_with(it->path_prefix)) {
                if (it->skip > 0) {
                    --it->skip;
                    return std::nullopt;
                }
                auto r = *it;
                if (--it->times <= 0) canned.erase(it);
                return r;
            }
        }
        return std::nullopt;
    }

    server_response answer(const server_request& req)
    {
        std::string_view target(req.target());
        if (target.starts_with("/results/")) return result_file(req, target);
        bool authorized = req[http::field::authorization] == "Bearer " + opts.api_key;
        auto fetch = [this](std::string_view url) -> std::optional<std::string> {
            if (!url.starts_with(base_url + "/results/")) return std::nullopt;
            auto rest = url.substr(base_url.size());
            auto slash = rest.find('/', 9);
            if (slash == std::string_view::npos || !tasks_.count(std::string(rest.substr(9, slash - 9)))) return std::nullopt;
            return result_content_of(rest);
        };
        if (auto r = files.handle(req, authorized, base_url, fetch)) {
            r->set("X-Request-Id", "fake-req-" + std::to_string(++request_ids_));
            return std::move(*r);
        }
        if (req.body().size() > opts.max_request_body)
            return error_response(413, "request_too_large_error", "", "request body too large", "413");
        if (!authorized)
            return error_response(401, "authentication_error", "", "Invalid or missing API key", "401");
        bool images = target == "/v1/images/generations", videos = target == "/v1/videos/generations";
        if (images || videos) {
            if (req.method() != http::verb::post) return error_response(405, "invalid_request_error", "", "use POST", "405");
            return create_once(req, videos);
        }
        auto path = target.substr(0, target.find('?'));
        auto only = [&](http::verb v) { return req.method() == v; };
        if (path == "/v1/credits")
            return only(http::verb::get) ? credits() : error_response(405, "invalid_request_error", "", "use GET", "405");
        if (path == "/v1/tasks")
            return only(http::verb::get) ? list_tasks(target) : error_response(405, "invalid_request_error", "", "use GET", "405");
        if (path == "/v1/tasks/batch" && opts.batch_endpoint)
            return only(http::verb::post) ? batch(req.body()) : error_response(405, "invalid_request_error", "", "use POST", "405");
        constexpr std::string_view tasks = "/v1/tasks/";
        if (target.starts_with(tasks) && path != "/v1/tasks/batch") {
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
        if (auto e = validate(r, validation_options{opts.deliver_callbacks})) return e;
        if constexpr (requires { r.n; }) t.results = r.n.value_or(1);
        if constexpr (requires { r.duration; }) t.video_duration = r.duration.value_or(5);
        if (r.callback_url) t.callback_url = *r.callback_url;
        return std::nullopt;
    }

    /// EvoLink's Idempotency-Key rule: a repeated key returns the original
    /// task (Idempotency-Replayed: true); the same key with another body is
    /// idempotency_conflict.
    server_response create_once(const server_request& req, bool videos)
    {
        std::string key(req["Idempotency-Key"]);
        if (key.empty()) return create(req.body(), videos);
        if (evolink::detail::check_idempotency_key(key))
            return error_response(400, "invalid_request_error", "Idempotency-Key",
                                  "Idempotency-Key must be 16 to 96 characters of [A-Za-z0-9._-]", "400");
        auto hash = std::hash<std::string>{}(std::string(req.target()) + '\n' + req.body());
        if (auto it = keys_.find(key); it != keys_.end()) {
            if (it->second.first != hash)
                return error_response(409, "invalid_request_error", "Idempotency-Key",
                                      "this Idempotency-Key was used with another request", "idempotency_conflict");
            auto t = tasks_.find(it->second.second);
            if (t != tasks_.end()) {
                auto res = make(200, boost::json::serialize(task_json(t->second)));
                res.set("Idempotency-Replayed", "true");
                return res;
            }
        }
        auto res = create(req.body(), videos);
        if (res.result_int() == 200) {
            boost::system::error_code ec;
            auto v = boost::json::parse(res.body(), ec);
            if (!ec && v.is_object() && v.get_object().contains("id"))
                keys_[key] = {hash, std::string(v.get_object().at("id").get_string())};
        }
        return res;
    }

    server_response create(const std::string& text, bool videos)
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
            if (auto* cb = body.if_contains("callback_url"); cb && cb->is_string()) {
                bad = evolink::detail::check_callback_url(cb->get_string(), opts.deliver_callbacks);
                t.callback_url = std::string(cb->get_string());
            }
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
        std::optional<task_script> queued;
        {
            std::lock_guard lock(mutex);
            if (!scripts.empty()) {
                queued = std::move(scripts.front());
                scripts.pop_front();
            }
        }
        // script_for runs unlocked: it may call the server's own functions.
        if (!queued && opts.script_for) queued = opts.script_for(body);
        t.script = queued ? std::move(*queued) : opts.script;
        ++tasks_created;
        t.seq = tasks_created;
        credits_spent_ += t.credits;
        auto json = task_json(t);
        auto id = t.id;
        note_media(id, body, t);
        auto& stored = tasks_[id] = std::move(t);
        if (stored.script.step_interval.count() > 0) maybe_call_back(stored);
        return make(200, boost::json::serialize(json));
    }

    std::size_t current_step(fake_task& t, bool polled)
    {
        std::size_t last = t.script.progress.size() + 1;
        if (t.script.step_interval.count() > 0) {
            auto elapsed = std::chrono::steady_clock::now() - t.born;
            t.step = std::min<std::size_t>(last, static_cast<std::size_t>(elapsed / t.script.step_interval));
        } else if (polled) {
            t.step = std::min(last, t.step + 1);
        }
        return t.step;
    }

    server_response get_task(const std::string& id)
    {
        if (!well_formed(id))
            return error_response(400, "invalid_request_error", "task_id", "invalid task id: " + id, "invalid_task_id");
        auto it = tasks_.find(id);
        if (it == tasks_.end()) {
            if (expired_.count(id))
                return error_response(404, "not_found_error", "task_id", "task expired", "resource_not_found");
            return error_response(404, "not_found_error", "task_id", "task not found or expired", "404");
        }
        return make(200, boost::json::serialize(read(it->second)));
    }

    /// A read of a task (GET or batch): advances a GET-driven task one step,
    /// starts its callback once it is terminal.
    boost::json::object read(fake_task& t)
    {
        current_step(t, true);
        if (t.script.step_interval.count() == 0 && t.step == t.script.progress.size() + 1) maybe_call_back(t);
        return task_json(t);
    }

    /// GET /v1/credits: the balances of the options, less what tasks reserved.
    server_response credits()
    {
        auto left = [this](double start) { return std::max(0.0, start - credits_spent_); };
        boost::json::object token{{"remaining_credits", opts.token_unlimited ? opts.token_credits : left(opts.token_credits)},
                                  {"used_credits", credits_spent_},
                                  {"unlimited_credits", opts.token_unlimited}};
        boost::json::object user{{"remaining_credits", left(opts.user_credits)}, {"used_credits", credits_spent_}};
        boost::json::object data{{"user", std::move(user)}, {"token", std::move(token)}};
        return make(200, boost::json::serialize(boost::json::object{{"success", true}, {"data", std::move(data)}}));
    }

    static std::optional<long> whole_number(std::string_view v)
    {
        if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string_view::npos) return std::nullopt;
        return std::stol(std::string(v));
    }

    /// The query of GET /v1/tasks checked as the service does (400 naming the
    /// parameter); unknown parameters are ignored.
    struct list_query {
        std::string status, type, model;
        long page = 1, page_size = 20;
    };
    std::optional<server_response> parse_list_query(std::string_view target, list_query& q)
    {
        auto bad = [this](const std::string& param, const std::string& allowed, std::string_view value) {
            return error_response(400, "invalid_request_error", param,
                                  param + ": \"" + std::string(value) + "\" is not allowed; allowed: " + allowed, "400");
        };
        auto u = boost::urls::parse_origin_form(target);
        if (!u) return error_response(400, "invalid_request_error", "", "the query cannot be parsed", "400");
        for (auto p : u->params()) {
            if (p.key == "status") {
                if (p.value != "processing" && p.value != "completed" && p.value != "failed" && p.value != "cancelled")
                    return bad("status", "processing, completed, failed, cancelled", p.value);
                q.status = p.value;
            } else if (p.key == "type") {
                if (p.value != "image" && p.value != "video" && p.value != "audio" && p.value != "text")
                    return bad("type", "image, video, audio, text", p.value);
                q.type = p.value;
            } else if (p.key == "model") {
                q.model = p.value;
            } else if (p.key == "page") {
                auto n = whole_number(p.value);
                if (!n || *n < 1) return bad("page", "1 or more", p.value);
                q.page = *n;
            } else if (p.key == "page_size") {
                auto n = whole_number(p.value);
                if (!n || *n < 1 || *n > 100) return bad("page_size", "1 to 100", p.value);
                q.page_size = *n;
            }
        }
        return std::nullopt;
    }

    /// A list entry: the task without its result URLs.
    boost::json::object summary_json(const fake_task& t) const
    {
        auto [status, progress] = state_of(t);
        bool done = status == "completed", bad = status == "failed" || status == "cancelled";
        boost::json::object o{{"id", t.id},         {"model", t.model},       {"type", t.type},
                              {"status", status},   {"progress", progress},   {"created_at", t.created},
                              {"has_results", done}, {"result_count", done ? t.results : 0},
                              {"has_error", bad},   {"credits_used", done ? t.credits : 0.0}};
        if (t.video_duration) o["duration"] = *t.video_duration;
        return o;
    }

    /// GET /v1/tasks?status=&type=&model=&page=&page_size=: newest first. A
    /// list does not advance GET-driven tasks (it reads no provider).
    server_response list_tasks(std::string_view target)
    {
        list_query q;
        if (auto bad = parse_list_query(target, q)) return std::move(*bad);
        std::vector<fake_task*> hits;
        for (auto& [id, t] : tasks_) {
            current_step(t, false);
            if ((q.status.empty() || state_of(t).first == q.status) && (q.type.empty() || t.type == q.type) &&
                (q.model.empty() || t.model == q.model))
                hits.push_back(&t);
        }
        std::sort(hits.begin(), hits.end(), [](const fake_task* a, const fake_task* b) {
            return std::pair(a->created, a->seq) > std::pair(b->created, b->seq);
        });
        boost::json::array data;
        auto first = static_cast<std::size_t>(q.page - 1) * static_cast<std::size_t>(q.page_size);
        for (auto i = first; i < hits.size() && i < first + static_cast<std::size_t>(q.page_size); ++i)
            data.push_back(summary_json(*hits[i]));
        boost::json::object o{{"data", std::move(data)}, {"total", hits.size()}, {"page", q.page}, {"page_size", q.page_size}};
        return make(200, boost::json::serialize(o));
    }

    /// POST /v1/tasks/batch {"task_ids":[at most 50]}: each known task as a
    /// GET would read it (advancing it); unknown or expired ids are absent.
    server_response batch(const std::string& text)
    {
        boost::system::error_code ec;
        auto v = boost::json::parse(text, ec);
        auto* ids = !ec && v.is_object() ? v.get_object().if_contains("task_ids") : nullptr;
        bool strings = ids && ids->is_array() && std::all_of(ids->get_array().begin(), ids->get_array().end(),
                                                             [](const boost::json::value& e) { return e.is_string(); });
        if (!strings)
            return error_response(400, "invalid_request_error", "task_ids", "task_ids: must be an array of task ids", "400");
        auto& list = ids->get_array();
        if (list.size() > 50)
            return error_response(400, "invalid_request_error", "task_ids",
                                  "task_ids: has " + std::to_string(list.size()) + " ids; allowed: at most 50", "400");
        boost::json::array data;
        for (auto& id : list)
            if (auto it = tasks_.find(std::string(id.get_string())); it != tasks_.end()) data.push_back(read(it->second));
        return make(200, boost::json::serialize(boost::json::object{{"data", std::move(data)}}));
    }

    /// Starts the delivery of a task's callback (once per task).
    void maybe_call_back(fake_task& t)
    {
        if (t.callback_url.empty() || t.callback_started || !opts.deliver_callbacks || t.script.callback_lost) return;
        t.callback_started = true;
        asio::co_spawn(strand, deliver(shared_from_this(), t.id), asio::detached);
    }

    asio::awaitable<void> deliver(std::shared_ptr<fake_server_state> self, std::string id)
    {
        auto& first = tasks_.at(id);
        auto script = first.script;
        auto url = first.callback_url;
        // Wait for the terminal state (time-driven tasks), then the chosen delay.
        if (script.step_interval.count() > 0) {
            auto done_at = first.born + script.step_interval * static_cast<int>(script.progress.size() + 1);
            if (!co_await sleep(done_at - std::chrono::steady_clock::now())) co_return;
        }
        if (script.callback_delay.count() > 0 && !co_await sleep(script.callback_delay)) co_return;

        std::string why;
        auto parsed = boost::urls::parse_uri(url);
        if (!parsed) co_return;
        // The origin is scheme://authority; path and query go into the target.
        auto origin = evolink::detail::parse_origin(
            std::string(parsed->scheme()) + "://" + std::string(parsed->encoded_authority()), true, why);
        if (!origin) co_return;
        std::string target = std::string(parsed->encoded_path());
        if (target.empty()) target = "/";
        if (parsed->has_query()) target += "?" + std::string(parsed->encoded_query());
        if (!callbacks_) {
            client_options co;
            co.api_key = "unused";
            co.allow_insecure_http = true;
            co.request_timeout = opts.callback_timeout;
            co.tls.use_system_store = false;
            co.tls.ca_pem = opts.callback_ca_pem;
            diagnostics ignored;
            callbacks_ = std::make_shared<evolink::detail::transport>(
                asio::any_io_executor(strand), co, evolink::detail::make_tls_context(co.tls, ignored));
        }
        auto transport = callbacks_;
        auto& t = tasks_.at(id);
        current_step(t, false);
        std::string body = boost::json::serialize(task_json(t));
        bool delivered = false;
        for (std::size_t attempt = 0; !delivered && !stopped_; ++attempt) {
            ++callback_attempts;
            auto r = co_await transport->request(*origin, http::verb::post, target, body, false);
            delivered = !r.ec && r.value.status >= 200 && r.value.status < 300;
            if (delivered) ++callbacks_delivered;
            if (delivered || attempt >= opts.callback_retry_delays.size()) break;
            if (!co_await sleep(opts.callback_retry_delays[attempt])) co_return;
        }
        for (int i = 0; i < script.callback_duplicates && !stopped_; ++i) {
            ++callback_attempts;
            co_await transport->request(*origin, http::verb::post, target, body, false);
        }
        (void)self;
    }

    /// The status and progress a task shows at its current step.
    static std::pair<std::string, int> state_of(const fake_task& t)
    {
        std::size_t last = t.script.progress.size() + 1;
        if (t.step == 0) return {"pending", 0};
        if (t.step < last) return {"processing", t.script.progress[t.step - 1]};
        if (t.script.outcome == task_status::completed) return {"completed", 100};
        return {t.script.outcome == task_status::cancelled ? "cancelled" : "failed", 0};
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
        auto [status, progress] = state_of(t);
        o["status"] = status;
        o["progress"] = progress;
        if (t.step < last) {
            // pending or processing: nothing more to show
        } else if (t.script.outcome == task_status::completed) {
            boost::json::array results;
            for (int i = 0; i < t.results; ++i)
                results.emplace_back(base_url + "/results/" + t.id + "/" + std::to_string(i) +
                                     (t.type == "video" ? ".mp4" : ".png"));
            o["results"] = std::move(results);
        } else {
            bool cancelled = t.script.outcome == task_status::cancelled;
            o["error"] = boost::json::object{
                {"code", cancelled ? std::string("request_cancelled") : t.script.error_code},
                {"message", cancelled ? std::string("The task was cancelled") : t.script.error_message},
                {"type", "task_error"}};
        }
        o["task_info"] = std::move(info);
        o["usage"] = boost::json::object{{"billing_rule", "per_call"}, {"credits_reserved", t.credits}, {"user_group", "default"}};
        return o;
    }

public:
    /// The bytes of the result file at `path` ("/results/{id}/{i}.{ext}"):
    /// real media (see fake_server_options::result_bytes), made once per
    /// path and kept, so that every download and range sees the same bytes.
    /// Any thread.
    std::string result_content_of(std::string_view path) const
    {
        std::lock_guard lock(media_mutex_);
        auto& bytes = media_cache_[std::string(path)];
        if (bytes.empty()) bytes = make_media(path);
        return bytes;
    }

private:
    struct media_spec {
        unsigned width = 1280, height = 720;
        int seconds = 5;
        std::string prompt;
    };
    mutable std::mutex media_mutex_; // guards the two maps below
    std::map<std::string, media_spec> media_specs_; // by task id
    mutable std::map<std::string, std::string> media_cache_; // by result path

    /// Keeps what the result files show: the prompt, the image size, the duration.
    void note_media(const std::string& id, const boost::json::object& body, const fake_task& t)
    {
        media_spec m;
        if (auto* p = body.if_contains("prompt"); p && p->is_string()) m.prompt = std::string(p->get_string());
        if (auto* z = body.if_contains("size"); z && z->is_string()) {
            unsigned w = 0, h = 0;
            char x = 0, end = 0;
            if (std::sscanf(z->get_string().c_str(), "%u%c%u%c", &w, &x, &h, &end) == 3 && x == 'x' &&
                w > 0 && h > 0 && w <= 16384 && h <= 16384)
                m.width = w, m.height = h;
        }
        m.seconds = std::clamp(t.video_duration.value_or(5), 1, 60);
        std::lock_guard lock(media_mutex_);
        media_specs_[id] = std::move(m);
    }

    /// Under media_mutex_. Paths of unknown tasks get the defaults.
    std::string make_media(std::string_view path) const
    {
        auto rest = path.substr(std::min(path.size(), std::string_view("/results/").size()));
        auto slash = rest.find('/');
        auto it = media_specs_.find(std::string(rest.substr(0, slash)));
        media_spec m = it != media_specs_.end() ? it->second : media_spec{1280, 720, 5, std::string(path)};
        if (path.ends_with(".mp4")) return media::mp4(m.seconds, opts.result_bytes);
        // Each of a task's images looks different: the index joins the prompt.
        auto index = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        return media::png(m.width, m.height, m.prompt + "#" + std::string(index.substr(0, index.find('.'))),
                          opts.result_bytes);
    }

private:
    server_response result_file(const server_request& req, std::string_view target)
    {
        // /results/{task id}/{index}.{png|mp4}, served for known tasks, with
        // Range support (one "bytes=N-" or "bytes=N-M" range).
        auto rest = target.substr(std::string_view("/results/").size());
        auto slash = rest.find('/');
        auto it = slash == std::string_view::npos ? tasks_.end() : tasks_.find(std::string(rest.substr(0, slash)));
        if (req.method() != http::verb::get || it == tasks_.end()) return make(404, "not found", "text/plain");
        std::string bytes = result_content_of(target);
        std::string type = target.ends_with(".mp4") ? "video/mp4" : "image/png";
        std::string etag = "\"" + std::to_string(std::hash<std::string>{}(bytes)) + "\"";
        std::string_view range = req[http::field::range];
        std::string_view if_range = req[http::field::if_range];
        if (!opts.result_ranges || range.empty() || (!if_range.empty() && if_range != etag)) {
            auto res = make(200, std::move(bytes), type);
            res.set(http::field::etag, etag);
            if (opts.result_ranges) res.set(http::field::accept_ranges, "bytes");
            return res;
        }
        std::size_t first = 0, last = bytes.size() - 1;
        bool ok = range.starts_with("bytes=") && range.find(',') == std::string_view::npos;
        auto spec = ok ? range.substr(6) : std::string_view();
        auto dash = spec.find('-');
        ok = ok && dash != std::string_view::npos && dash > 0;
        auto number = [](std::string_view v, std::size_t& out) {
            if (v.empty() || v.size() > 15 || v.find_first_not_of("0123456789") != std::string_view::npos) return false;
            out = std::stoull(std::string(v));
            return true;
        };
        ok = ok && number(spec.substr(0, dash), first);
        if (ok && dash + 1 < spec.size()) ok = number(spec.substr(dash + 1), last) && last >= first;
        if (!ok) return make(400, "bad Range", "text/plain");
        if (first >= bytes.size()) {
            auto res = make(416, "", type);
            res.set(http::field::content_range, "bytes */" + std::to_string(bytes.size()));
            return res;
        }
        last = std::min(last, bytes.size() - 1);
        auto res = make(206, bytes.substr(first, last - first + 1), type);
        res.set(http::field::content_range,
                "bytes " + std::to_string(first) + "-" + std::to_string(last) + "/" + std::to_string(bytes.size()));
        res.set(http::field::etag, etag);
        res.set(http::field::accept_ranges, "bytes");
        return res;
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

    bool stopped_ = false;
    std::uint64_t request_ids_ = 0;
    std::set<asio::steady_timer*> timers_;
    std::map<std::string, fake_task> tasks_;
    std::map<std::string, std::pair<std::size_t, std::string>> keys_; // Idempotency-Key -> (request hash, task id)
    std::set<std::string> expired_;
    double credits_spent_ = 0; // reserved by the tasks created so far (GET /v1/credits)

public:
    /// On the strand: forget a task, as EvoLink does after its retention.
    void expire(const std::string& id)
    {
        if (tasks_.erase(id)) expired_.insert(id);
    }
    std::size_t creations() const { return tasks_.size() + expired_.size(); }

private:
    std::shared_ptr<evolink::detail::transport> callbacks_;
    std::mt19937 rng_{std::random_device{}()};
};

} // namespace detail


EVOLINK_TESTING_DECL fake_server::fake_server(boost::asio::any_io_executor ex, fake_server_options opts)
    : st_(std::make_shared<detail::fake_server_state>(boost::asio::make_strand(ex), std::move(opts)))
{
    st_->start();
}

EVOLINK_TESTING_DECL fake_server::~fake_server() { stop(); }

EVOLINK_TESTING_DECL std::string fake_server::base_url() const { return st_->base_url; }
EVOLINK_TESTING_DECL unsigned short fake_server::port() const { return st_->port; }
EVOLINK_TESTING_DECL const std::string& fake_server::ca_pem() const { return st_->certs.ca_pem; }
EVOLINK_TESTING_DECL const std::string& fake_server::api_key() const { return st_->opts.api_key; }

EVOLINK_TESTING_DECL evolink::client_options fake_server::client_options() const
{
    evolink::client_options o;
    o.api_key = st_->opts.api_key;
    o.base_url = st_->base_url;
    o.files_base_url = st_->base_url;
    o.allow_insecure_http = !st_->opts.tls;
    o.allow_private_callback_urls = st_->opts.deliver_callbacks;
    o.tls.use_system_store = false;
    o.tls.ca_pem = st_->certs.ca_pem;
    return o;
}

EVOLINK_TESTING_DECL void fake_server::push_script(task_script s)
{
    std::lock_guard lock(st_->mutex);
    st_->scripts.push_back(std::move(s));
}

EVOLINK_TESTING_DECL void fake_server::inject(canned_response r)
{
    std::lock_guard lock(st_->mutex);
    st_->canned.push_back(std::move(r));
}

EVOLINK_TESTING_DECL std::vector<recorded_request> fake_server::requests() const
{
    std::lock_guard lock(st_->mutex);
    return st_->recorded;
}

EVOLINK_TESTING_DECL std::size_t fake_server::count(std::string_view method, std::string_view path_prefix) const
{
    std::lock_guard lock(st_->mutex);
    std::size_t n = 0;
    for (auto& r : st_->recorded)
        if (r.method == method && r.target.starts_with(path_prefix)) ++n;
    return n;
}

EVOLINK_TESTING_DECL std::size_t fake_server::count_route(std::string_view method, std::string_view path) const
{
    std::lock_guard lock(st_->mutex);
    std::size_t n = 0;
    for (auto& r : st_->recorded)
        if (r.method == method && std::string_view(r.target).substr(0, r.target.find('?')) == path) ++n;
    return n;
}

EVOLINK_TESTING_DECL std::size_t fake_server::task_reads(std::string_view id) const
{
    std::lock_guard lock(st_->mutex);
    std::size_t n = 0;
    for (auto& r : st_->recorded) {
        auto path = std::string_view(r.target).substr(0, r.target.find('?'));
        if (r.method == "GET" && path.starts_with("/v1/tasks/") && path.substr(10) == id) ++n;
        if (r.method != "POST" || path != "/v1/tasks/batch") continue;
        boost::system::error_code ec;
        auto v = boost::json::parse(r.body, ec);
        auto* ids = !ec && v.is_object() ? v.get_object().if_contains("task_ids") : nullptr;
        if (ids && ids->is_array())
            n += static_cast<std::size_t>(std::count(ids->get_array().begin(), ids->get_array().end(), boost::json::value(id)));
    }
    return n;
}

EVOLINK_TESTING_DECL std::string fake_server::result_content(std::string_view url) const
{
    auto path = url.substr(std::min(url.size(), st_->base_url.size()));
    return st_->result_content_of(path);
}

EVOLINK_TESTING_DECL std::map<std::string, fake_file> fake_server::files() const { return st_->files.files(); }

EVOLINK_TESTING_DECL std::size_t fake_server::connections() const noexcept { return st_->listener->connections(); }
EVOLINK_TESTING_DECL std::size_t fake_server::handshakes() const noexcept { return st_->listener->handshakes(); }
EVOLINK_TESTING_DECL std::size_t fake_server::tasks_created() const noexcept { return st_->tasks_created; }
EVOLINK_TESTING_DECL std::size_t fake_server::callback_attempts() const noexcept { return st_->callback_attempts; }
EVOLINK_TESTING_DECL std::size_t fake_server::callbacks_delivered() const noexcept { return st_->callbacks_delivered; }

EVOLINK_TESTING_DECL void fake_server::fail_handshakes(std::size_t n)
{
    boost::asio::dispatch(st_->strand, [st = st_, n] { st->dropper.drop_next(n); });
}

EVOLINK_TESTING_DECL void fake_server::expire(std::string task_id)
{
    boost::asio::dispatch(st_->strand, [st = st_, id = std::move(task_id)] { st->expire(id); });
}

EVOLINK_TESTING_DECL void fake_server::stop_connections()
{
    boost::asio::dispatch(st_->strand, [st = st_] { st->close_connections(); });
}

EVOLINK_TESTING_DECL void fake_server::stop()
{
    boost::asio::dispatch(st_->strand, [st = st_] { st->stop(); });
}

} // namespace evolink::testing

#endif
