// HTTPS through an HTTP proxy (client_options::proxy, the environment's
// HTTPS_PROXY and NO_PROXY): a CONNECT tunnel with TLS to the fake server
// inside, through Debian's tinyproxy and through a scripted proxy in this
// file that can refuse, answer garbage or cut the tunnel. Real sockets and
// TLS on loopback; counts, never timings.
#include "../support/fixture.hpp"

#include <evolink/detail/base64.hpp>

#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

using evolink::errc;
using evolink::task_status;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;

namespace {

/// A proxy on loopback that does what a test scripts: tunnel (optionally
/// cutting the tunnel after some bytes from the client), or answer CONNECT
/// with a canned text and close. Records each CONNECT head and every byte
/// it relayed from the client.
class scripted_proxy {
public:
    enum class mode { tunnel, answer, close };
    mode how = mode::tunnel;
    std::string answer;                 ///< for mode::answer
    std::size_t cut_after = 0;          ///< tunnel: close both sides after this many client bytes (0: never)
    /// Checked on each piece of the server's answer: true, the tunnel is cut there (once).
    std::function<bool()> cut_answer_when;
    std::size_t answered = 0;           ///< bytes relayed from the server
    int cut_times = 1;                  ///< how many tunnels are cut
    std::vector<std::string> heads;     ///< each CONNECT request's head
    std::string relayed;                ///< bytes relayed from the client into tunnels

    explicit scripted_proxy(asio::io_context& io) : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0))
    {
        asio::co_spawn(io, accept_loop(), asio::detached);
    }
    unsigned short port() const { return acceptor_.local_endpoint().port(); }
    std::string url(const std::string& userinfo = "") const
    {
        return "http://" + (userinfo.empty() ? "" : userinfo + "@") + "127.0.0.1:" + std::to_string(port());
    }
    void stop()
    {
        error_code_ignored_ = {};
        acceptor_.close(error_code_ignored_);
        for (auto& w : open_)
            if (auto s = w.lock()) s->close(error_code_ignored_);
    }

private:
    asio::awaitable<void> accept_loop()
    {
        for (;;) {
            auto [ec, s] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) co_return;
            auto sock = std::make_shared<tcp::socket>(std::move(s));
            open_.push_back(sock);
            asio::co_spawn(acceptor_.get_executor(), serve(sock), asio::detached);
        }
    }

    asio::awaitable<void> serve(std::shared_ptr<tcp::socket> client)
    {
        std::string head;
        auto [ec, n] = co_await asio::async_read_until(*client, asio::dynamic_buffer(head), "\r\n\r\n",
                                                       asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        heads.push_back(head.substr(0, n));
        if (how == mode::close) {
            client->close(ec);
            co_return;
        }
        if (how == mode::answer) {
            co_await asio::async_write(*client, asio::buffer(answer), asio::as_tuple(asio::use_awaitable));
            client->close(ec);
            co_return;
        }
        // "CONNECT host:port HTTP/1.1"
        auto target = head.substr(8, head.find(' ', 8) - 8);
        auto colon = target.rfind(':');
        auto server = std::make_shared<tcp::socket>(acceptor_.get_executor());
        open_.push_back(server);
        auto [cec] = co_await server->async_connect(
            tcp::endpoint(asio::ip::make_address(target.substr(0, colon)),
                          static_cast<unsigned short>(std::stoi(target.substr(colon + 1)))),
            asio::as_tuple(asio::use_awaitable));
        if (cec) co_return;
        std::string ok = "HTTP/1.1 200 Connection established\r\n\r\n";
        co_await asio::async_write(*client, asio::buffer(ok), asio::as_tuple(asio::use_awaitable));
        bool cutting = cut_times > 0 && cut_after;
        if (cutting) --cut_times;
        asio::co_spawn(acceptor_.get_executor(), pipe(server, client, false, 0), asio::detached);
        co_await pipe(client, server, true, cutting ? cut_after : 0);
    }

    asio::awaitable<void> pipe(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to, bool record,
                               std::size_t cut)
    {
        char buf[16384];
        std::size_t total = 0;
        for (;;) {
            auto [ec, n] = co_await from->async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            if (!record && cut_answer_when && cut_answer_when()) {
                cut_answer_when = nullptr;
                break;
            }
            if (cut && total + n > cut) n = cut - total; // forward up to the cut, then drop both sides
            if (record) relayed.append(buf, n);
            else answered += n;
            total += n;
            auto [wec, w] = co_await asio::async_write(*to, asio::buffer(buf, n), asio::as_tuple(asio::use_awaitable));
            (void)w;
            if (wec || (cut && total >= cut)) break;
        }
        boost::system::error_code ignored;
        from->close(ignored);
        to->close(ignored);
    }

    tcp::acceptor acceptor_;
    std::vector<std::weak_ptr<tcp::socket>> open_;
    boost::system::error_code error_code_ignored_;
};

/// Debian's tinyproxy on a free loopback port, in the foreground, logging
/// each request; stopped with the object.
class tinyproxy {
public:
    explicit tinyproxy(const std::string& extra_config = "")
    {
        dir_ = fs::temp_directory_path() / ("evolink-tinyproxy-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
        port_ = free_port();
        std::ofstream(dir_ / "tinyproxy.conf") << "Port " << port_ << "\nListen 127.0.0.1\nTimeout 30\nLogFile \""
                                               << (dir_ / "tinyproxy.log").string()
                                               << "\"\nLogLevel Connect\nMaxClients 20\n"
                                               << extra_config;
        pid_ = ::fork();
        if (pid_ == 0) {
            std::string conf = (dir_ / "tinyproxy.conf").string();
            ::execlp("tinyproxy", "tinyproxy", "-d", "-c", conf.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
        // Listening once a connection succeeds (or it exited: the test fails on the proxy's absence).
        for (int i = 0; i < 500 && !listening(); ++i) ::usleep(10'000);
    }
    ~tinyproxy()
    {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            ::waitpid(pid_, nullptr, 0);
        }
        std::error_code ignored;
        fs::remove_all(dir_, ignored);
    }
    bool listening() const
    {
        asio::io_context io;
        tcp::socket s(io);
        boost::system::error_code ec;
        s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
        return !ec;
    }
    std::string url(const std::string& userinfo = "") const
    {
        return "http://" + (userinfo.empty() ? "" : userinfo + "@") + "127.0.0.1:" + std::to_string(port_);
    }
    std::string log() const
    {
        std::ifstream in(dir_ / "tinyproxy.log");
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    }

private:
    static unsigned short free_port()
    {
        asio::io_context io;
        tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        return a.local_endpoint().port();
    }
    fs::path dir_;
    unsigned short port_ = 0;
    pid_t pid_ = -1;
};

std::size_t occurrences(const std::string& text, const std::string& what)
{
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

/// The client's options for `server` through `proxy_url`, logging into `logs`.
fixture::server_tweak through(std::string proxy_url, const log_capture& logs)
{
    return [proxy_url, logs](evolink::client_options o, const evolink::testing::fake_server&) {
        o.proxy = proxy_url;
        o.logger = logs.logger();
        return o;
    };
}

/// Sets an environment variable for one scope.
struct env_var {
    std::string name;
    env_var(std::string n, const std::string& value) : name(std::move(n)) { ::setenv(name.c_str(), value.c_str(), 1); }
    ~env_var() { ::unsetenv(name.c_str()); }
};

} // namespace

TEST_CASE("through tinyproxy: the API, uploads and result downloads go in a CONNECT tunnel, TLS with the host inside")
{
    tinyproxy proxy;
    REQUIRE(proxy.listening()); // scripts/setup installs tinyproxy
    log_capture logs;
    fixture fx(evolink::testing::fake_server_options{}, through(proxy.url(), logs));
    temp_dir dir;
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await fx.client.submit(image_request("a lighthouse"));
        auto done = co_await fx.client.wait(t, fast_wait());
        CHECK(done.status == task_status::completed);
        CHECK(fx.server.count("POST", "/v1/images/generations") == 1);
        REQUIRE(done.results.size() == 1);
        auto file = co_await fx.client.download(done.results[0], dir.path / "out.png");
        CHECK(read_all(file.path) == fx.server.result_content(done.results[0]));
        auto up = co_await fx.client.upload_file(file.path);
        CHECK(fx.server.files().count(up.file_id) == 1);
    });
    auto log = proxy.log();
    INFO(log);
    auto authority = "127.0.0.1:" + std::to_string(fx.server.port());
    CHECK(occurrences(log, "CONNECT " + authority) >= 1);
    CHECK(occurrences(log, "CONNECT " + authority) == fx.client.connections_opened()); // every connection tunnelled
    CHECK(logs.any_contains("through the proxy 127.0.0.1:"));
    CHECK(!contains(log, fx.server.api_key()));
}

TEST_CASE("through tinyproxy with BasicAuth: credentials from the proxy URL; refused without them, never echoed")
{
    tinyproxy proxy("BasicAuth alice s3cr3t-pw\n");
    REQUIRE(proxy.listening());
    SECTION("with the credentials")
    {
        log_capture logs;
        fixture fx(evolink::testing::fake_server_options{}, through(proxy.url("alice:s3cr3t-pw"), logs));
        fx.run([&]() -> asio::awaitable<void> {
            auto t = co_await fx.client.submit(image_request("a lighthouse"));
            CHECK(!t.id.empty());
        });
        CHECK(!contains(logs.text(), "s3cr3t-pw"));
    }
    SECTION("a wrong password: refused (tinyproxy says 401, most proxies 407), proxy_refused, not retried")
    {
        log_capture logs;
        fixture fx(evolink::testing::fake_server_options{}, through(proxy.url("alice:wrong-pw"), logs));
        fx.run([&]() -> asio::awaitable<void> {
            evolink::diagnostics diag;
            auto [ec, t] = co_await fx.client.get_task("task-unified-1764688000-aaaaaaaa",
                                                       evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
            INFO(diag.message);
            CHECK(ec == errc::proxy_refused);
            CHECK((contains(diag.message, "401 Unauthorized") || contains(diag.message, "407")));
            CHECK(contains(diag.message, "through the proxy 127.0.0.1:"));
            CHECK(!contains(diag.message, "wrong-pw"));
            CHECK(!contains(diag.message, "alice"));
        });
        CHECK(occurrences(proxy.log(), "CONNECT 127.0.0.1:") == 1);
        CHECK(fx.server.requests().empty()); // nothing reached the host
        CHECK(!contains(logs.text(), "wrong-pw"));
    }
}

TEST_CASE("NO_PROXY and proxy = \"\": the host is reached directly")
{
    asio::io_context pio;
    SECTION("client_options::no_proxy names the host")
    {
        fixture fx([&](evolink::client_options o) {
            o.proxy = "http://127.0.0.1:9"; // nothing listens there: a proxied request would fail
            o.no_proxy = "example.com, 127.0.0.0/8";
            return o;
        });
        fx.run([&]() -> asio::awaitable<void> { CHECK(!(co_await fx.client.submit(image_request("x"))).id.empty()); });
    }
    SECTION("from the environment: HTTPS_PROXY, with NO_PROXY naming the host")
    {
        env_var proxy("HTTPS_PROXY", "http://127.0.0.1:9");
        env_var bypass("NO_PROXY", "localhost,127.0.0.1");
        fixture fx;
        fx.run([&]() -> asio::awaitable<void> { CHECK(!(co_await fx.client.submit(image_request("x"))).id.empty()); });
    }
    SECTION("proxy = \"\" ignores HTTPS_PROXY")
    {
        env_var proxy("HTTPS_PROXY", "http://127.0.0.1:9");
        fixture fx([](evolink::client_options o) {
            o.proxy = "";
            return o;
        });
        fx.run([&]() -> asio::awaitable<void> { CHECK(!(co_await fx.client.submit(image_request("x"))).id.empty()); });
    }
    SECTION("HTTPS_PROXY alone is used")
    {
        scripted_proxy sp(pio);
        std::thread t([&] { pio.run(); });
        env_var proxy("HTTPS_PROXY", sp.url());
        fixture fx;
        fx.run([&]() -> asio::awaitable<void> { CHECK(!(co_await fx.client.submit(image_request("x"))).id.empty()); });
        asio::post(pio, [&] { sp.stop(); });
        t.join();
        REQUIRE(sp.heads.size() == 1);
        CHECK(contains(sp.heads[0], "CONNECT 127.0.0.1:" + std::to_string(fx.server.port()) + " HTTP/1.1\r\n"));
    }
}

TEST_CASE("the scripted proxy: the tunnel carries TLS end to end; the proxy sees no key and no request")
{
    asio::io_context pio;
    scripted_proxy sp(pio);
    std::thread th([&] { pio.run(); });
    log_capture logs;
    fixture fx(evolink::testing::fake_server_options{}, through(sp.url("bob:pa%3Ass"), logs));
    fx.run([&]() -> asio::awaitable<void> {
        auto t = co_await fx.client.submit(image_request("a lighthouse"));
        auto got = co_await fx.client.get_task(t.id);
        CHECK(got.id == t.id);
    });
    asio::post(pio, [&] { sp.stop(); });
    th.join();
    REQUIRE(sp.heads.size() == 1); // one kept-alive connection through one tunnel
    CHECK(contains(sp.heads[0], "Host: 127.0.0.1:" + std::to_string(fx.server.port()) + "\r\n"));
    CHECK(contains(sp.heads[0], "Proxy-Authorization: Basic " + evolink::detail::base64("bob:pa:ss") + "\r\n"));
    CHECK(!sp.relayed.empty());
    CHECK(!contains(sp.relayed, fx.server.api_key())); // encrypted inside the tunnel
    CHECK(!contains(sp.relayed, "/v1/images/generations"));
    CHECK(!contains(logs.text(), "pa:ss"));
    CHECK(!contains(logs.text(), "pa%3Ass"));
}

TEST_CASE("a proxy that refuses, breaks or cannot be reached: an error naming the proxy and what happened")
{
    asio::io_context pio;
    scripted_proxy sp(pio);
    std::thread th([&] { pio.run(); });
    struct expectation {
        const char* name;
        scripted_proxy::mode how;
        std::string answer;
        errc expected;
        std::string says;
        bool retried;
    };
    for (auto& e : std::vector<expectation>{
             {"403", scripted_proxy::mode::answer, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
              errc::proxy_refused, "403 Forbidden to CONNECT 127.0.0.1:", false},
             {"502", scripted_proxy::mode::answer, "HTTP/1.0 502 Bad Gateway\r\n\r\n", errc::connect_failed,
              "502 Bad Gateway", true},
             {"garbage", scripted_proxy::mode::answer, "SSH-2.0-OpenSSH_9.2\r\n\r\n", errc::connect_failed,
              "not HTTP", true},
             {"closed", scripted_proxy::mode::close, "", errc::connect_failed, "answer to CONNECT", true}}) {
        DYNAMIC_SECTION(e.name)
        {
            asio::post(pio, [&] {
                sp.how = e.how;
                sp.answer = e.answer;
                sp.heads.clear();
            });
            log_capture logs;
            fixture fx(evolink::testing::fake_server_options{}, through(sp.url("carol:hunter2"), logs));
            fx.run([&]() -> asio::awaitable<void> {
                evolink::diagnostics diag;
                auto [ec, t] = co_await fx.client.get_task("task-unified-1764688000-aaaaaaaa",
                                                           evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
                CHECK(ec == e.expected);
                INFO(diag.message);
                CHECK(contains(diag.message, "through the proxy 127.0.0.1:" + std::to_string(sp.port())));
                CHECK(contains(diag.message, e.says));
                CHECK(!contains(diag.message, "hunter2"));
            });
            std::promise<std::size_t> seen; // read on the proxy's thread
            asio::post(pio, [&] { seen.set_value(sp.heads.size()); });
            auto heads = seen.get_future().get();
            CHECK((heads > 1) == e.retried);
            CHECK(fx.server.requests().empty());
            CHECK(!contains(logs.text(), "hunter2"));
        }
    }
    asio::post(pio, [&] { sp.stop(); });
    th.join();

    // Nothing listening where the proxy should be.
    log_capture logs;
    fixture fx([&](evolink::client_options o) {
        o.proxy = "http://127.0.0.1:9";
        o.retry = evolink::retry_policy::none();
        return o;
    });
    fx.run([&]() -> asio::awaitable<void> {
        evolink::diagnostics diag;
        auto [ec, t] = co_await fx.client.get_task("task-unified-1764688000-aaaaaaaa",
                                                   evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        CHECK(ec == errc::connect_failed);
        CHECK(contains(diag.message, "through the proxy 127.0.0.1:9"));
    });
}

TEST_CASE("a tunnel cut while a creation's answer comes back: the creation rules hold through a proxy")
{
    asio::io_context pio;
    scripted_proxy sp(pio);
    log_capture logs;
    bool keys = GENERATE(true, false);
    fixture fx(evolink::testing::fake_server_options{}, [&](evolink::client_options o, const evolink::testing::fake_server&) {
        o.proxy = sp.url();
        o.logger = logs.logger();
        o.retry.idempotency_keys = keys;
        return o;
    });
    // The first piece the server sends once it has the creation is its answer: cut there.
    sp.cut_answer_when = [&] { return fx.server.count("POST", "/v1/images/generations") >= 1; };
    std::thread th([&] { pio.run(); });
    evolink::error_code ec;
    fx.run([&]() -> asio::awaitable<void> {
        evolink::diagnostics diag;
        auto [e, t] = co_await fx.client.submit(image_request("a lighthouse"),
                                                evolink::with_diagnostics(diag, asio::as_tuple(asio::use_awaitable)));
        ec = e;
    });
    asio::post(pio, [&] { sp.stop(); });
    th.join();
    auto posts = fx.server.requests();
    std::erase_if(posts, [](auto& r) { return r.method != "POST"; });
    CHECK(fx.server.tasks_created() == 1); // never two tasks
    if (keys) { // sent again with the same key: the original task, no error
        CHECK(!ec);
        CHECK(sp.heads.size() == 2); // the cut tunnel, then a new one
        REQUIRE(posts.size() == 2);
        CHECK(posts[0].headers.at("idempotency-key") == posts[1].headers.at("idempotency-key"));
    } else { // no key: never resent, the outcome is unknown
        CHECK(ec == errc::outcome_unknown);
        CHECK(posts.size() == 1);
    }
}

TEST_CASE("a proxy URL that is not one is refused at construction, naming where it came from, not its password")
{
    env_guard env;
    asio::io_context io;
    auto make = [&](evolink::client_options o) {
        o.api_key = "evk-test-0123456789abcdef";
        try {
            evolink::client c(io.get_executor(), o);
        } catch (const evolink::error& e) {
            CHECK(e.code() == errc::invalid_options);
            CHECK(e.get_diagnostics().param == "proxy");
            return e.get_diagnostics().message;
        }
        return std::string("constructed");
    };
    evolink::client_options o;
    o.proxy = "socks5://dave:topsecret@127.0.0.1:1080";
    auto m = make(o);
    CHECK(contains(m, "client_options::proxy"));
    CHECK(contains(m, "socks5"));
    CHECK(!contains(m, "topsecret"));
    o.proxy = "https://127.0.0.1:8443";
    CHECK(contains(make(o), "not supported yet"));
    o.proxy.reset();
    env_var bad("HTTPS_PROXY", "http://eve:pw123@127.0.0.1:3128/some/path");
    m = make(o);
    CHECK(contains(m, "HTTPS_PROXY"));
    CHECK(contains(m, "path"));
    CHECK(!contains(m, "pw123"));
}
