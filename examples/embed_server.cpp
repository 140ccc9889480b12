// Embedding evolink in an existing Beast HTTP server.
//
// A service that already has its own callback-style HTTP server
// (async_accept / async_read / async_write with completion handlers) adds
// video generation without being restructured around coroutines:
//
//   - POST /videos starts client.video(...) with a plain callback token. The
//     HTTP request is answered 202 {"task_id"} from wait_options::on_submitted,
//     as soon as EvoLink has created the task; or, when no task was created,
//     from the completion handler: 400 when validation refused the request,
//     502 when the submit failed. The wait goes on after the 202: progress and
//     the final result (or error) land in an in-memory job table.
//   - GET /videos/{task_id} reads that table.
//   - EvoLink's callbacks arrive on the same server and port:
//     POST /evolink/callback/{secret} is handed to callback_receiver::handle()
//     (a receiver built with listen = false), which wakes the waiting
//     client.video() so that it does not have to poll.
//   - One io_context, run by one thread, holds everything: this HTTP server,
//     the client, the receiver and (by default) the fake EvoLink server.
//     Stopping them lets io_context::run() return by itself.
//
// Backend: the built-in fake EvoLink server (nothing is billed; its tasks
// finish by themselves in about half a second and call back), or the real
// API when EVOLINK_API_KEY is set. The real service only calls public https
// URLs, so then --public-url must name the URL at which EvoLink reaches this
// server (e.g. a TLS-terminating proxy in front of it).
//
//   embed-server [--port N] [--public-url URL] [--self-test]
//
//   curl -s localhost:8080/videos -d '{"prompt":"A red kite over the sea",
//                                       "image_url":"https://example.com/kite.png"}'
//   curl -s localhost:8080/videos/TASK_ID
//
// --self-test acts as its own HTTP client (an invalid POST, one that EvoLink
// refuses, a valid one, then a GET every 100 ms until the video is done),
// checks that the callback came through this server, stops everything and
// exits 0 (or 1 on failure). It always uses the fake server.

#include <evolink.hpp>
#include <evolink/testing.hpp>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

using http_request = http::request<http::string_body>;
using http_response = http::response<http::string_body>;

static void print_line(const std::string& line) { std::cout << line << std::endl; } // flushed: often piped

static http_response json_response(http::status status, const json::value& body, unsigned version, bool keep_alive)
{
    http_response res{status, version};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(keep_alive);
    res.body() = json::serialize(body) + "\n";
    return res;
}

// ---------------------------------------------------------------------------
// The pre-existing part: a plain callback-style Beast HTTP/1.1 server. It
// knows nothing about evolink. A handler gets each request and a `send`
// function, which it may call later (after some asynchronous work), but must
// call exactly once: the session reads nothing more until then.

using send_function = std::function<void(http_response)>;
using request_handler = std::function<void(http_request, send_function)>;

class http_session : public std::enable_shared_from_this<http_session> {
public:
    http_session(tcp::socket socket, request_handler& handler) : stream_(std::move(socket)), handler_(handler) {}

    void start() { read(); }

    /// Server shutdown: closes the connection; pending reads and writes end.
    void close()
    {
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_.close();
    }

private:
    void read()
    {
        request_ = {};
        stream_.expires_after(30s); // also how long an idle keep-alive connection stays open
        http::async_read(stream_, buffer_, request_,
                         [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
    }

    void on_read(beast::error_code ec)
    {
        if (ec) return close(); // closed by the peer, timed out, or not HTTP
        // The send function holds the session: it stays alive however long
        // the handler takes to answer.
        handler_(std::move(request_), [self = shared_from_this()](http_response res) { self->write(std::move(res)); });
    }

    void write(http_response res)
    {
        auto msg = std::make_shared<http_response>(std::move(res)); // must live until the write completes
        msg->prepare_payload();
        stream_.expires_after(30s);
        http::async_write(stream_, *msg, [self = shared_from_this(), msg](beast::error_code ec, std::size_t) {
            if (ec || !msg->keep_alive()) return self->close();
            self->read();
        });
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    http_request request_;
    request_handler& handler_;
};

class http_server {
public:
    /// Binds at once, so that the port is known before the rest is built
    /// (the callback URL names it).
    http_server(asio::io_context& io, const tcp::endpoint& ep) : io_(io), acceptor_(io)
    {
        acceptor_.open(ep.protocol());
        acceptor_.set_option(tcp::acceptor::reuse_address(true));
        acceptor_.bind(ep);
        acceptor_.listen();
        port_ = acceptor_.local_endpoint().port();
    }

    unsigned short port() const { return port_; }

    void start(request_handler handler)
    {
        handler_ = std::move(handler);
        accept();
    }

    /// Stops accepting and closes every connection, so that nothing of the
    /// server keeps the io_context busy.
    void stop()
    {
        beast::error_code ignored;
        acceptor_.close(ignored);
        for (auto& weak : sessions_)
            if (auto s = weak.lock()) s->close();
        sessions_.clear();
    }

private:
    void accept()
    {
        acceptor_.async_accept(io_, [this](beast::error_code ec, tcp::socket socket) {
            if (!acceptor_.is_open()) return; // stopped
            if (!ec) {
                auto session = std::make_shared<http_session>(std::move(socket), handler_);
                std::erase_if(sessions_, [](const auto& w) { return w.expired(); });
                sessions_.push_back(session);
                session->start();
            }
            accept();
        });
    }

    asio::io_context& io_;
    tcp::acceptor acceptor_;
    unsigned short port_ = 0;
    request_handler handler_;
    std::vector<std::weak_ptr<http_session>> sessions_;
};

// ---------------------------------------------------------------------------
// The new part: video jobs backed by evolink.
//
// Threading: one thread runs the io_context. The HTTP handlers run there, and
// so do the client's callbacks (on_submitted, on_progress and the completion
// handler run on the client's strand, a strand of the same io_context), so
// the job table needs no lock. With several threads, post them to one strand.

constexpr std::string_view callback_path = "/evolink/callback";

/// What GET /videos/{task_id} shows.
struct video_job {
    std::string status = "pending"; ///< EvoLink's status; "error" when we stopped following the task
    int progress = 0;
    std::vector<std::string> results;
    std::string error;
};

/// The answer to one POST /videos, sent at most once (later calls do nothing).
class one_reply {
public:
    one_reply(send_function send, unsigned version, bool keep_alive)
        : send_(std::move(send)), version_(version), keep_alive_(keep_alive)
    {
    }
    bool sent() const { return !send_; }
    void send(http::status status, const json::value& body)
    {
        if (!send_) return;
        auto send = std::move(send_);
        send_ = nullptr;
        send(json_response(status, body, version_, keep_alive_));
    }

private:
    send_function send_;
    unsigned version_;
    bool keep_alive_;
};

/// One POST /videos, from the request to the end of the wait.
struct video_call {
    video_call(send_function send, unsigned version, bool keep_alive) : reply(std::move(send), version, keep_alive) {}
    one_reply reply;
    evolink::diagnostics diag;       ///< filled before the completion handler runs
    std::string task_id;             ///< known from on_submitted on
};

/// Reads {"prompt", "image_url", "duration"?, "quality"?} into `out`. Only
/// the JSON shape is checked here: the limits (duration 5 or 10, the
/// qualities...) are the library's, checked by client.video() before it
/// sends anything. Returns what is wrong, if anything.
static std::optional<std::string> parse_video_request(std::string_view body, evolink::image_to_video& out)
{
    boost::system::error_code ec;
    auto v = json::parse(body, ec);
    if (ec || !v.is_object()) return "the body must be a JSON object";
    for (auto& [key, value] : v.get_object()) {
        if ((key == "prompt" || key == "image_url" || key == "quality") && !value.is_string())
            return std::string(key) + ": must be a string";
        if (key == "prompt") out.prompt = value.get_string();
        else if (key == "image_url") out.image_url = value.get_string();
        else if (key == "quality") out.quality = std::string(value.get_string());
        else if (key == "duration") {
            auto n = value.is_number() ? value.to_number<int>(ec) : 0;
            if (!value.is_number() || ec) return "duration: must be an integer (seconds)";
            out.duration = n;
        } else {
            return "unknown field \"" + std::string(key) + "\"; allowed: prompt, image_url, duration, quality";
        }
    }
    return std::nullopt;
}

class video_service {
public:
    /// `wait_template`: the pacing and deadline of every wait (callbacks and
    /// the progress/submitted hooks are added per request).
    video_service(evolink::client& client, evolink::callback_receiver& receiver, evolink::wait_options wait_template)
        : client_(client), receiver_(receiver), wait_template_(std::move(wait_template))
    {
    }

    /// The request handler given to the HTTP server.
    void handle(http_request req, send_function send)
    {
        std::string_view target = req.target();
        if (target.starts_with(std::string(callback_path) + "/")) {
            // EvoLink's callback. The receiver checks the secret in the path,
            // answers at once (terse 404/405/413/400 for anything wrong) and
            // hands the task to the waiting client.video().
            auto r = receiver_.handle(req.method_string(), target, req.body());
            print_line("callback " + std::string(req.method_string()) + " -> " + std::to_string(r.status));
            http_response res{static_cast<http::status>(r.status), req.version()};
            res.set(http::field::content_type, r.content_type);
            res.keep_alive(req.keep_alive());
            res.body() = std::move(r.body);
            return send(std::move(res));
        }
        if (req.method() == http::verb::post && target == "/videos") return start_video(req, std::move(send));
        if (req.method() == http::verb::get && target.starts_with("/videos/"))
            return send(show_video(target.substr(8), req.version(), req.keep_alive()));
        send(json_response(http::status::not_found, {{"error", "not found"}}, req.version(), req.keep_alive()));
    }

private:
    void start_video(const http_request& req, send_function send)
    {
        auto call = std::make_shared<video_call>(std::move(send), req.version(), req.keep_alive());
        evolink::image_to_video video;
        if (auto bad = parse_video_request(req.body(), video)) {
            print_line("POST /videos -> 400 " + *bad);
            return call->reply.send(http::status::bad_request, {{"error", *bad}});
        }

        evolink::wait_options wo = wait_template_;
        wo.callbacks = &receiver_; // client.video() puts receiver_.callback_url() into the request
        wo.on_submitted = [this, call](const evolink::task& t) {
            // The task exists (and bills): record it and answer the POST now,
            // without waiting minutes for the video.
            call->task_id = t.id;
            jobs_[t.id] = video_job{};
            print_line("POST /videos -> 202 " + t.id);
            call->reply.send(http::status::accepted, {{"task_id", t.id}});
        };
        wo.on_progress = [this](const evolink::task& t) {
            // Terminal states are left to the completion handler, which stores
            // them together with the results or the error: a GET must never
            // see "completed" without results.
            if (t.finished()) return;
            auto& job = jobs_[t.id];
            job.status = evolink::to_string(t.status);
            job.progress = t.progress;
        };

        // A plain callback as the completion token; with_diagnostics puts in
        // call->diag which field failed validation, or what EvoLink answered.
        // client.shutdown() (on SIGTERM) ends the wait.
        auto done = [this, call](evolink::error_code ec, evolink::task t) {
            finish(*call, ec, t);
        };
        client_.video(video, std::move(wo), evolink::with_diagnostics(call->diag, done));
    }

    void finish(video_call& call, evolink::error_code ec, const evolink::task& t)
    {
        const auto& d = call.diag;
        if (!call.reply.sent()) {
            // on_submitted never ran: no task was created; answer the POST now.
            if (ec == evolink::errc::invalid_request) {
                // e.g. param "duration", message "duration: 7 is not allowed; allowed: 5 or 10"
                print_line("POST /videos -> 400 " + d.message);
                call.reply.send(http::status::bad_request, {{"error", d.message}, {"field", d.param}});
            } else {
                auto why = d.summary().empty() ? ec.message() : d.summary(); // the key never appears in it
                print_line("POST /videos -> 502 " + why);
                call.reply.send(http::status::bad_gateway, {{"error", why}});
            }
            return;
        }
        auto& job = jobs_[call.task_id];
        job.progress = t.progress;
        if (!ec) {
            job.status = "completed";
            job.results = t.results;
            print_line("task " + call.task_id + " completed: " + std::to_string(t.results.size()) + " result(s)");
        } else {
            // failed or cancelled by EvoLink, or we stopped following it (deadline, shutdown, a 4xx on a read).
            job.status = t.finished() ? std::string(evolink::to_string(t.status)) : "error";
            job.error = d.message.empty() ? ec.message() : d.code.empty() ? d.message : d.code + ": " + d.message;
            print_line("task " + call.task_id + " " + job.status + ": " + job.error);
        }
    }

    http_response show_video(std::string_view id, unsigned version, bool keep_alive) const
    {
        auto it = jobs_.find(std::string(id));
        if (it == jobs_.end())
            return json_response(http::status::not_found, {{"error", "no such video"}}, version, keep_alive);
        const auto& job = it->second;
        json::object o{{"status", job.status}, {"progress", job.progress}};
        json::array results;
        for (const auto& url : job.results) results.emplace_back(url);
        o["results"] = std::move(results);
        if (!job.error.empty()) o["error"] = job.error;
        return json_response(http::status::ok, o, version, keep_alive);
    }

    evolink::client& client_;
    evolink::callback_receiver& receiver_;
    evolink::wait_options wait_template_;
    std::map<std::string, video_job> jobs_; // by task id; never pruned in this example
};

// ---------------------------------------------------------------------------
// --self-test: this process as a client of itself, on the same io_context.

struct http_result {
    unsigned status = 0;
    json::value body;
};

static asio::awaitable<http_result> call(beast::tcp_stream& stream, beast::flat_buffer& buffer, http::verb verb,
                                         std::string target, std::string body = {})
{
    http_request req{verb, target, 11};
    req.set(http::field::host, "127.0.0.1");
    if (!body.empty()) req.set(http::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    stream.expires_after(10s);
    co_await http::async_write(stream, req, asio::use_awaitable);
    http_response res;
    co_await http::async_read(stream, buffer, res, asio::use_awaitable);
    boost::system::error_code ec;
    auto parsed = json::parse(res.body(), ec);
    co_return http_result{res.result_int(), ec ? json::value() : std::move(parsed)};
}

static std::string field(const json::value& v, std::string_view key)
{
    auto* o = v.if_object();
    auto* f = o ? o->if_contains(key) : nullptr;
    return f && f->is_string() ? std::string(f->get_string()) : f ? json::serialize(*f) : std::string();
}

static asio::awaitable<bool> self_test(unsigned short port, evolink::testing::fake_server& fake,
                                       const evolink::callback_receiver& receiver)
{
    auto ex = co_await asio::this_coro::executor;
    beast::tcp_stream stream(ex);
    beast::flat_buffer buffer;
    co_await stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), asio::use_awaitable);
    bool ok = true;
    auto check = [&ok](bool good, const std::string& what) {
        print_line(std::string(good ? "  ok    " : "  FAIL  ") + what);
        ok = ok && good;
        return good;
    };
    const std::string image = "\"image_url\":\"https://example.com/kite.png\"";

    auto bad = co_await call(stream, buffer, http::verb::post, "/videos",
                             "{\"prompt\":\"A red kite over the sea\"," + image + ",\"duration\":7}");
    check(bad.status == 400 && field(bad.body, "error").find("duration") != std::string::npos,
          "duration 7: " + std::to_string(bad.status) + " " + json::serialize(bad.body));

    // EvoLink refusing the submit: no task, so the POST is answered by the completion handler.
    evolink::testing::canned_response overloaded;
    overloaded.method = "POST";
    overloaded.path_prefix = "/v1/videos/";
    overloaded.status = 402; // never retried: the submit fails at once
    overloaded.body = R"({"error":{"code":402,"message":"insufficient balance","type":"insufficient_quota_error"}})";
    fake.inject(overloaded);
    auto refused = co_await call(stream, buffer, http::verb::post, "/videos",
                                 "{\"prompt\":\"A red kite over the sea\"," + image + "}");
    check(refused.status == 502 && field(refused.body, "error").find("insufficient") != std::string::npos,
          "submit refused upstream: " + std::to_string(refused.status) + " " + json::serialize(refused.body));

    auto created = co_await call(stream, buffer, http::verb::post, "/videos",
                                 "{\"prompt\":\"A red kite over the sea\"," + image + ",\"duration\":5}");
    auto id = field(created.body, "task_id");
    if (!check(created.status == 202 && !id.empty(), "valid request: " + std::to_string(created.status) + " " +
                                                         json::serialize(created.body)))
        co_return false;

    // Poll our own GET, as a front end would, until the job is done.
    asio::steady_timer timer(ex);
    auto give_up = std::chrono::steady_clock::now() + 20s;
    http_result job;
    std::string seen;
    for (;;) {
        job = co_await call(stream, buffer, http::verb::get, "/videos/" + id);
        auto status = field(job.body, "status");
        auto now = status + " " + field(job.body, "progress") + "%";
        if (now != seen) print_line("  GET /videos/" + id + ": " + (seen = now));
        if (status != "pending" && status != "processing") break;
        if (std::chrono::steady_clock::now() > give_up) break;
        timer.expires_after(100ms);
        co_await timer.async_wait(asio::use_awaitable);
    }
    check(field(job.body, "status") == "completed", "completed: " + json::serialize(job.body));
    auto* results = job.body.is_object() ? job.body.as_object().if_contains("results") : nullptr;
    check(results && results->is_array() && !results->as_array().empty(), "results are not empty");

    // The fake calls back when the task finishes; polling may have seen the
    // end first, so give the callback the rest of the time.
    while ((fake.callbacks_delivered() == 0 || receiver.accepted() == 0) && std::chrono::steady_clock::now() < give_up) {
        timer.expires_after(20ms);
        co_await timer.async_wait(asio::use_awaitable);
    }
    check(fake.callbacks_delivered() >= 1 && receiver.accepted() >= 1,
          "callback delivered through this server: fake sent " + std::to_string(fake.callbacks_delivered()) +
              ", receiver accepted " + std::to_string(receiver.accepted()));

    auto missing = co_await call(stream, buffer, http::verb::get, "/videos/task-unified-1-nothing");
    check(missing.status == 404, "unknown video: " + std::to_string(missing.status));
    auto other = co_await call(stream, buffer, http::verb::get, "/elsewhere");
    check(other.status == 404, "unknown route: " + std::to_string(other.status));

    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    co_return ok;
}

// ---------------------------------------------------------------------------

struct arguments {
    unsigned short port = 8080;
    std::string public_url;
    bool self_test = false;
};

static std::optional<arguments> parse_arguments(int argc, char** argv)
{
    arguments a;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        bool has_value = i + 1 < argc;
        if (arg == "--self-test") {
            a.self_test = true;
        } else if (arg == "--port" && has_value) {
            char* end = nullptr;
            long p = std::strtol(argv[++i], &end, 10);
            if (*end != '\0' || p < 0 || p > 65535) return std::nullopt;
            a.port = static_cast<unsigned short>(p);
        } else if (arg == "--public-url" && has_value) {
            a.public_url = argv[++i];
        } else {
            return std::nullopt;
        }
    }
    return a;
}

int main(int argc, char** argv)
{
    auto args = parse_arguments(argc, argv);
    if (!args) {
        std::cerr << "usage: " << argv[0] << " [--port N (default 8080, 0: any)] [--public-url URL] [--self-test]\n";
        return 2;
    }
    const char* key = std::getenv("EVOLINK_API_KEY");
    bool real = key && *key && !args->self_test; // the self-test never bills
    if (real) {
        // EvoLink only calls public https URLs; check now rather than
        // refusing every POST /videos later (the check never sees the secret).
        if (args->public_url.empty()) {
            std::cerr << "EVOLINK_API_KEY is set: --public-url URL (where EvoLink reaches this server) is required\n";
            return 2;
        }
        evolink::image_to_video probe;
        probe.prompt = "probe";
        probe.image_url = "https://example.com/probe.png";
        probe.callback_url = args->public_url + std::string(callback_path) + "/probe";
        if (auto bad = evolink::validate(probe)) {
            std::cerr << "--public-url: " << bad->message << '\n';
            return 2;
        }
    }

    try {
        asio::io_context io; // run by this thread only (see video_service)
        http_server server(io, {asio::ip::make_address("127.0.0.1"), args->port});
        const std::string own_url = "http://127.0.0.1:" + std::to_string(server.port());

        std::optional<evolink::testing::fake_server> fake;
        evolink::client_options client_opts; // real API: the key comes from EVOLINK_API_KEY
        evolink::wait_options wait_template; // real API: video pacing, slowed down while a callback is expected
        if (real) {
            print_line("WARNING: EVOLINK_API_KEY is set: POST /videos creates real tasks on " + client_opts.base_url +
                " and bills credits");
        } else {
            evolink::testing::fake_server_options fo;
            fo.script.step_interval = 100ms; // tasks advance by themselves: done ~0.4 s after creation, then call back
            fake.emplace(io.get_executor(), fo);
            client_opts = fake->client_options(); // its key and CA; callback URLs on loopback allowed
            // The fake is quick: poll it often, so that GET /videos/{id} shows progress.
            wait_template.poll = evolink::poll_policy{.initial_delay = 100ms, .min_interval = 100ms, .max_interval = 100ms,
                                                      .growth = 1.0, .jitter = 0.0, .use_estimated_time = false};
            wait_template.callback_poll_factor = 1;
        }

        // No socket of its own: its requests come through `server`, so its
        // public base URL is this server's (or the proxy's in front of it).
        evolink::callback_receiver_options ro;
        ro.listen = false;
        ro.path = std::string(callback_path);
        ro.public_base_url = real ? args->public_url : own_url;
        evolink::callback_receiver receiver(io.get_executor(), ro);

        evolink::client client(io.get_executor(), client_opts);
        video_service videos(client, receiver, wait_template);
        server.start([&videos](http_request req, send_function send) { videos.handle(std::move(req), std::move(send)); });

        print_line("embed-server listening on " + own_url);
        print_line(fake ? "  backend: built-in fake EvoLink server at " + fake->base_url() + " (nothing is billed)"
                 : "  backend: " + client_opts.base_url);
        print_line("  callbacks: POST " + ro.public_base_url + ro.path + "/<secret>");

        // Everything that could keep io.run() busy, stopped once.
        asio::signal_set signals(io, SIGINT, SIGTERM);
        bool stopped = false;
        auto stop_all = [&] {
            if (std::exchange(stopped, true)) return;
            server.stop();   // acceptor and open connections
            receiver.stop(); // (waits for callbacks end; it has no socket)
            signals.cancel();
            signals.clear(); // a second Ctrl-C gets the default action: exit at once
            // The client's waits end (their remote tasks go on: client.wait(task_id)
            // resumes them); a video whose creation is on the wire gets up to
            // 10 s for its task id. Then the fake, which answers those requests.
            client.shutdown(10s, [&](evolink::error_code, std::size_t running) {
                print_line("client shut down (" + std::to_string(running) + " operation(s) were running)");
                if (fake) fake->stop();
            });
        };
        signals.async_wait([&](beast::error_code ec, int sig) {
            if (ec) return; // cancelled by stop_all()
            print_line("signal " + std::to_string(sig) + ": stopping");
            stop_all();
        });

        int rc = 0;
        if (args->self_test) {
            print_line("self-test:");
            asio::co_spawn(io, self_test(server.port(), *fake, receiver), [&](std::exception_ptr e, bool ok) {
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& x) {
                        print_line(std::string("  FAIL  ") + x.what());
                    }
                }
                rc = !e && ok ? 0 : 1;
                print_line(rc == 0 ? "self-test passed" : "self-test FAILED");
                stop_all();
            });
        }
        io.run(); // returns once everything above has stopped: nothing is left pending
        return rc;
    } catch (const std::exception& e) { // cannot bind, bad client options...
        std::cerr << "error: " << e.what() << '\n';
        return 1;
    }
}
