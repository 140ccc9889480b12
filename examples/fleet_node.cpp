// fleet_node: one instance of a fleet behind a load balancer (docs/scale-out.md).
//
// On one io_context: a client, a callback_receiver, the fleet's journal in
// Redis (redis_journal) and the callback bus (redis_callback_bus). It creates
// --tasks images whose callback URL is the load balancer's, so EvoLink calls
// back any instance; the bus brings each callback to the instance that waits.
// When an instance dies, a live one claims its unfinished tasks (on_claimed)
// and resumes their waits. It ends once its own and claimed tasks are finished
// and the fleet's journal is empty (nothing left anywhere to claim); SIGTERM
// ends its waits and leaves their tasks in the fleet's journal for the others.
//
// One line per event on stdout, "<ms> <event> <args>", flushed at once (ms:
// the monotonic clock, one for every process of the machine). A kill -9
// loses no line already written: tests/fleet/run.py reads them.
//   ready <instance> <receiver URL> wall=<seconds since 1970, this process's clock>
//   created <task>     refused <n> (Redis unreachable: nothing sent)     unrecorded <task>
//   claimed <task>     resumed <task>     lost <task>
//   finishing <task>   finished <task> by <instance> <status>   finish-deferred <task>
//   ended <task> <status or error>
//   done|stopped <instance> <counters>
//
// Environment (never printed): EVOLINK_BASE_URL, EVOLINK_CA_FILE and
// EVOLINK_API_KEY, as `evolink fake-server` prints them; FLEET_CALLBACK_SECRET,
// the same on every instance (any of them may receive a callback).
//
//   fleet_node --instance a --listen-port 9001 --lb-url http://127.0.0.1:9000 --redis-port 6379 --tasks 100

#include <evolink.hpp>
#include <evolink/redis.hpp>

#include <boost/asio.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;
constexpr auto tuple = asio::as_tuple(asio::use_awaitable);

struct config {
    std::string instance, fleet = "demo", lb_url, redis_host = "127.0.0.1";
    unsigned short redis_port = 6379, listen_port = 0;
    int tasks = 10, rate = 50; // tasks created per second
    ms heartbeat{200}, claim_after{1000}, poll{1000};
};

// The heartbeat thread (claims) and the file executor (finishes) print too.
class event_log {
public:
    void operator()(const std::string& what)
    {
        auto now = std::chrono::duration_cast<ms>(std::chrono::steady_clock::now().time_since_epoch()).count();
        std::lock_guard lock(m_);
        std::printf("%lld %s\n", static_cast<long long>(now), what.c_str());
        std::fflush(stdout);
    }

private:
    std::mutex m_;
};

// The fleet's journal, saying each finish before and after Redis took it: a
// kill -9 between the two leaves "finishing" alone, a task finished just
// before the kill, which the test tells from a lost one (no line at all).
class told_journal final : public evolink::journal {
public:
    told_journal(evolink::redis_journal& j, event_log& say) : j_(j), say_(say) {}
    void ready() override { j_.ready(); }
    void add(const evolink::journal_entry& e) override { j_.add(e); }
    std::vector<evolink::journal_entry> unfinished() override { return j_.unfinished(); }
    void finish(std::string_view id, std::string_view status) override
    {
        say_("finishing " + std::string(id));
        try {
            j_.finish(id, status);
        } catch (...) { // Redis unreachable: its heartbeat finishes it later
            say_("finish-deferred " + std::string(id));
            throw;
        }
        say_("finished " + std::string(id) + " by " + j_.instance() + " " + std::string(status));
    }

private:
    evolink::redis_journal& j_;
    event_log& say_;
};

class fleet_node {
public:
    fleet_node(asio::io_context& io, config c)
        : io_(io), cfg_(std::move(c)), client_(io.get_executor(), client_options()),
          receiver_(io.get_executor(), receiver_options()), bus_(io.get_executor(), receiver_, redis(), {.fleet = cfg_.fleet}),
          xlen_(io.get_executor(), redis()), journal_(redis(), journal_options()), told_(journal_, say_),
          signals_(io, SIGINT, SIGTERM), to_create_(cfg_.tasks)
    {
        signals_.async_wait([this](auto ec, int) {
            if (!ec) stop("stopped");
        });
    }

    asio::awaitable<void> run()
    {
        for (int i = 0; i < 100 && !bus_.ready(); ++i) co_await pause(50ms); // subscribed before callbacks come
        say_("ready " + cfg_.instance + " " + receiver_.local_url() + " wall=" +
             std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch()).count()));
        asio::co_spawn(io_, until_quiet(), rethrow);
        for (int n = 1; n <= cfg_.tasks && !stopping_; ++n) {
            --to_create_;
            ++running_;
            asio::co_spawn(io_, own(n), rethrow);
            co_await pause(ms(1000 / std::max(1, cfg_.rate)));
        }
    }

    // Done, or SIGTERM: the waits end (their tasks go on, and stay in the
    // fleet's journal, claimable once this instance's heartbeat has stopped).
    void stop(const char* why)
    {
        if (stopping_) return;
        stopping_ = true;
        client_.shutdown(5s, [this, why](auto, std::size_t interrupted) {
            journal_.stop(); // joins the heartbeat thread: at most one Redis round trip
            bus_.stop();
            receiver_.stop();
            xlen_.stop();
            signals_.cancel(); // the last thing that kept io.run() busy
            say_(std::string(why) + " " + cfg_.instance + " own=" + std::to_string(cfg_.tasks - to_create_) +
                 " claimed=" + std::to_string(claimed_) + " interrupted=" + std::to_string(interrupted) +
                 " errors=" + std::to_string(errors_) + " http_callbacks=" + std::to_string(receiver_.accepted()) +
                 " bus_received=" + std::to_string(bus_.received()) + " bus_published=" + std::to_string(bus_.published()) +
                 " duplicates=" + std::to_string(receiver_.duplicates()));
        });
    }

    int exit_code() const { return errors_ == 0 ? 0 : 1; }

private:
    static void rethrow(std::exception_ptr e)
    {
        if (e) std::rethrow_exception(e);
    }

    evolink::client_options client_options() const
    {
        evolink::client_options co; // the key: EVOLINK_API_KEY, read by the client
        if (const char* url = std::getenv("EVOLINK_BASE_URL")) co.base_url = co.files_base_url = url;
        if (const char* ca = std::getenv("EVOLINK_CA_FILE")) co.tls.ca_file = ca; // verified TLS, the fake's CA added
        // A load balancer on this machine: the fake calls it back; EvoLink would refuse such a URL.
        co.allow_private_callback_urls = cfg_.lb_url.starts_with("http://127.");
        co.logger.sink = [name = cfg_.instance](evolink::log_level l, std::string_view m) {
            std::cerr << name << ": " << evolink::to_string(l) << ": " << m << '\n';
        };
        co.logger.min_level = evolink::log_level::warning; // not a line per task created
        return co;
    }

    evolink::callback_receiver_options receiver_options() const
    {
        evolink::callback_receiver_options o;
        o.public_base_url = cfg_.lb_url; // what EvoLink calls: any instance may get the callback
        o.listen_port = cfg_.listen_port;
        const char* secret = std::getenv("FLEET_CALLBACK_SECRET");
        o.secret = secret ? secret : "";
        return o;
    }

    evolink::redis_options redis() const
    {
        evolink::redis_options o;
        o.host = cfg_.redis_host;
        o.port = cfg_.redis_port;
        o.logger.sink = [name = cfg_.instance](evolink::log_level l, std::string_view m) {
            std::cerr << name << ": redis: " << evolink::to_string(l) << ": " << m << '\n';
        };
        return o;
    }

    evolink::redis_journal_options journal_options()
    {
        evolink::redis_journal_options o;
        o.fleet = cfg_.fleet;
        o.instance = cfg_.instance;
        o.heartbeat = cfg_.heartbeat;
        o.claim_after = cfg_.claim_after;
        // From the heartbeat thread: say it now, resume on the io_context.
        o.on_claimed = [this](std::vector<evolink::journal_entry> tasks) {
            for (auto& e : tasks) say_("claimed " + e.task_id);
            asio::post(io_, [this, tasks = std::move(tasks)] {
                for (auto& e : tasks) resume(e.task_id);
            });
        };
        o.on_lost = [this](std::vector<std::string> ids) {
            for (auto& id : ids) say_("lost " + id);
        };
        return o;
    }

    evolink::wait_options wait_options()
    {
        evolink::wait_options wo;
        wo.callbacks = &receiver_;
        wo.journal = &told_;
        wo.poll = evolink::poll_policy{.initial_delay = cfg_.poll, .min_interval = cfg_.poll, .max_interval = cfg_.poll};
        return wo;
    }

    asio::awaitable<void> pause(ms d)
    {
        asio::steady_timer t(io_, d);
        co_await t.async_wait(tuple);
    }

    // The n-th task of this instance: created, recorded, waited for.
    asio::awaitable<void> own(int n)
    {
        evolink::text_to_image req;
        req.prompt = "fleet " + cfg_.instance + " #" + std::to_string(n);
        auto wo = wait_options();
        wo.on_submitted = [this](const evolink::task& t) { say_("created " + t.id); }; // recorded by then
        for (;;) {
            auto [ec, t] = co_await client_.image(req, wo, tuple);
            if (ec == evolink::errc::journal_failed && t.id.empty() && !stopping_) {
                say_("refused " + std::to_string(n)); // Redis unreachable: nothing was sent, try again
                co_await pause(250ms);
                continue;
            }
            if (ec == evolink::errc::journal_failed && !t.id.empty()) { // created, then Redis went away
                say_("created " + t.id);
                say_("unrecorded " + t.id);
                co_await follow(t.id);
                co_return;
            }
            co_return ended(t.id.empty() ? "#" + std::to_string(n) : t.id, ec, t);
        }
    }

    // A claimed task: ours from now on.
    void resume(std::string id)
    {
        if (stopping_) return; // not waited for here: claimable again once our heartbeat stops
        ++running_;
        ++claimed_;
        say_("resumed " + id);
        asio::co_spawn(io_, follow(std::move(id)), rethrow);
    }

    // Waits for a task that exists; wait(id) records it first, and that
    // fails while Redis is unreachable: try again.
    asio::awaitable<void> follow(std::string id)
    {
        auto wo = wait_options();
        for (;;) {
            auto [ec, t] = co_await client_.wait(id, wo, tuple);
            if (ec == evolink::errc::journal_failed && !stopping_) {
                co_await pause(250ms);
                continue;
            }
            co_return ended(id, ec, t);
        }
    }

    void ended(const std::string& id, evolink::error_code ec, const evolink::task& t)
    {
        --running_;
        if (ec && ec != asio::error::operation_aborted && ec != evolink::errc::shut_down) ++errors_; // not SIGTERM's
        say_("ended " + id + " " + (ec ? ec.message() : t.status_text));
    }

    // Done when nothing of ours runs and the fleet's journal is empty: no
    // task is unfinished anywhere, so none is left to claim.
    asio::awaitable<void> until_quiet()
    {
        std::string stream = redis().key_prefix + "fleet:" + cfg_.fleet + ":tasks";
        while (!stopping_) {
            co_await pause(cfg_.heartbeat);
            if (stopping_ || to_create_ > 0 || running_ > 0) continue;
            std::vector<std::string> cmd{"XLEN", stream};
            auto [ec, r] = co_await xlen_.command(std::move(cmd), tuple);
            if (!ec && r.type == evolink::redis_reply::kind::integer && r.integer == 0) stop("done");
        }
    }

    asio::io_context& io_;
    config cfg_;
    event_log say_;
    evolink::client client_;
    evolink::callback_receiver receiver_;
    evolink::redis_callback_bus bus_;
    evolink::redis_connection xlen_; // the quiet check's
    evolink::redis_journal journal_; // its heartbeat thread starts now: the members it calls back exist
    told_journal told_;
    asio::signal_set signals_;
    int to_create_;
    int running_ = 0, claimed_ = 0, errors_ = 0;
    bool stopping_ = false;
};

static config parse(int argc, char** argv)
{
    std::map<std::string, std::string> a;
    for (int i = 1; i + 1 < argc; i += 2) a[argv[i]] = argv[i + 1];
    auto take = [&](const char* k) {
        auto it = a.find(k);
        if (it == a.end()) return std::string();
        auto v = it->second;
        a.erase(it);
        return v;
    };
    auto number = [&](const char* k, long fallback) {
        auto v = take(k);
        return v.empty() ? fallback : std::stol(v);
    };
    config c;
    c.instance = take("--instance");
    c.lb_url = take("--lb-url");
    if (auto f = take("--fleet"); !f.empty()) c.fleet = f;
    if (auto h = take("--redis-host"); !h.empty()) c.redis_host = h;
    c.redis_port = static_cast<unsigned short>(number("--redis-port", 6379));
    c.listen_port = static_cast<unsigned short>(number("--listen-port", 0));
    c.tasks = static_cast<int>(number("--tasks", 10));
    c.rate = static_cast<int>(number("--rate", 50));
    c.heartbeat = ms(number("--heartbeat-ms", 200));
    c.claim_after = ms(number("--claim-after-ms", 1000));
    c.poll = ms(number("--poll-ms", 1000));
    const char* secret = std::getenv("FLEET_CALLBACK_SECRET");
    if (c.instance.empty() || c.lb_url.empty() || !a.empty() || argc % 2 == 0 || !secret || !*secret) {
        std::cerr << "usage: fleet_node --instance NAME --lb-url URL [--fleet NAME] [--redis-host H] [--redis-port N]\n"
                     "  [--listen-port N] [--tasks N] [--rate PER_S] [--heartbeat-ms N] [--claim-after-ms N] [--poll-ms N]\n"
                     "  with FLEET_CALLBACK_SECRET (and EVOLINK_BASE_URL, EVOLINK_CA_FILE, EVOLINK_API_KEY) set\n";
        std::exit(2);
    }
    return c;
}

int main(int argc, char** argv)
{
    asio::io_context io;
    std::unique_ptr<fleet_node> node;
    try {
        node = std::make_unique<fleet_node>(io, parse(argc, argv));
    } catch (const evolink::error& e) { // an option refused (a short secret...), without its value
        std::cerr << "fleet_node: " << e.what() << '\n';
        return 2;
    }
    asio::co_spawn(io, node->run(), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);
    });
    io.run(); // until the node has stopped (done, or SIGTERM) and nothing is left
    return node->exit_code();
}
