// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// Our side of bench/fleet_latency (docs/scale-out.md): how long a callback
// that reaches instance B takes to end a wait on instance A, through
// redis_callback_bus, against the same callback POSTed to a single
// instance's own receiver (the floor). Two roles, one process each:
//
//   evolink-bench-fleet instance REDIS_PORT
//       instance B: a callback_receiver (plain HTTP, a free port) and its
//       redis_callback_bus, on one thread. Prints "port=N" once its bus is
//       subscribed, then runs until stdin closes and prints its counters.
//   evolink-bench-fleet waiter REDIS_PORT B_PORT CALLBACKS WARMUP
//       instance A, one io_context on one thread: an evolink::client, a
//       callback_receiver with its redis_callback_bus, and a second receiver
//       without a bus (the single instance of the floor). A sender thread
//       of its own POSTs the callbacks over kept-alive plain HTTP, one at a
//       time, alternating: to the solo receiver (floor: the wait uses it),
//       then to B (bus: the wait uses A's bus receiver). Before each POST the
//       wait for that task is started on A's thread (client.wait with
//       trust_callback_body, polling 60 s away: no request to an EvoLink
//       server ever leaves, so no server runs) and given 1 ms to register.
//       A latency: from just before the POST is written to the moment A's
//       wait completes (its handler, on A's thread). WARMUP pairs first,
//       not counted. Prints, in microseconds,
//       "floor n=N p50=.. p99=.. max=.." and "bus n=N p50=.. p99=.. max=..".
//
// The secret of the callback URL is the bench's own; no API key is used (the
// client's is a placeholder, never sent).
#include <evolink.hpp>
#include <evolink/redis.hpp>

#include <boost/asio/buffers_iterator.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

namespace {

const char* const secret = "fleet-bench-secret-0123456789";
const char* const fleet = "bench";

evolink::redis_options redis_at(unsigned short port)
{
    evolink::redis_options o;
    o.port = port;
    o.key_prefix = "fleet-bench:";
    return o;
}

evolink::redis_callback_bus_options bus_options()
{
    evolink::redis_callback_bus_options o;
    o.fleet = fleet;
    o.early_ttl = std::chrono::seconds(60);
    return o;
}

evolink::callback_receiver_options receiver_options()
{
    evolink::callback_receiver_options o;
    o.secret = secret; // the same on every instance, as behind a load balancer
    return o;
}

// Runs `until` every millisecond on `io` (from its thread) until it holds or
// `limit` passes; then `then(held)`.
template <class Until, class Then>
void poll_until(asio::io_context& io, Until until, Then then, clock_type::time_point limit)
{
    if (until()) return then(true);
    if (clock_type::now() > limit) return then(false);
    auto t = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(1));
    t->async_wait([&io, t, until, then, limit](boost::system::error_code) { poll_until(io, until, then, limit); });
}

// instance B -------------------------------------------------------------------

int run_instance(unsigned short redis_port)
{
    asio::io_context io(1);
    evolink::callback_receiver receiver(io.get_executor(), receiver_options());
    evolink::redis_callback_bus bus(io.get_executor(), receiver, redis_at(redis_port), bus_options());
    asio::posix::stream_descriptor in(io, ::dup(0));
    char byte = 0;
    std::function<void(boost::system::error_code, std::size_t)> on_read = [&](boost::system::error_code ec, std::size_t) {
        if (ec) {
            bus.stop();
            receiver.stop();
            return;
        }
        asio::async_read(in, asio::buffer(&byte, 1), on_read);
    };
    bool up = false;
    poll_until(
        io, [&] { return bus.ready(); },
        [&](bool held) {
            up = held;
            if (!held) {
                std::fprintf(stderr, "instance: the bus was not ready within 10 s\n");
                bus.stop();
                receiver.stop();
                return;
            }
            std::printf("port=%u\n", static_cast<unsigned>(receiver.port()));
            std::fflush(stdout);
            asio::async_read(in, asio::buffer(&byte, 1), on_read); // until bench/fleet_latency closes our stdin
        },
        clock_type::now() + std::chrono::seconds(10));
    io.run();
    std::printf("accepted=%zu duplicates=%zu published=%zu received=%zu\n", receiver.accepted(), receiver.duplicates(),
                bus.published(), bus.received());
    return up ? 0 : 1;
}

// instance A --------------------------------------------------------------------

// One kept-alive plain HTTP connection to a receiver, blocking (the sender's thread).
class poster {
public:
    explicit poster(unsigned short port) : port_(port) { connect(); }

    // POSTs one callback; returns the status (0: the connection failed twice).
    unsigned post(const std::string& body)
    {
        for (int attempt = 0; attempt < 2; ++attempt) {
            boost::system::error_code ec;
            std::string req = "POST /evolink/callback/" + std::string(secret) + " HTTP/1.1\r\nHost: 127.0.0.1:" +
                              std::to_string(port_) + "\r\nContent-Type: application/json\r\nContent-Length: " +
                              std::to_string(body.size()) + "\r\n\r\n" + body;
            asio::write(sock_, asio::buffer(req), ec);
            if (!ec) {
                if (unsigned status = read_response(ec); !ec) return status;
            }
            connect(); // closed by the receiver (idle): once more on a new connection
        }
        return 0;
    }

private:
    void connect()
    {
        boost::system::error_code ignored;
        sock_.close(ignored);
        sock_.connect(tcp::endpoint(asio::ip::make_address_v4("127.0.0.1"), port_));
        sock_.set_option(tcp::no_delay(true));
        buf_.consume(buf_.size());
    }

    unsigned read_response(boost::system::error_code& ec)
    {
        std::size_t head = asio::read_until(sock_, buf_, "\r\n\r\n", ec);
        if (ec) return 0;
        std::string text(asio::buffers_begin(buf_.data()), asio::buffers_begin(buf_.data()) + static_cast<std::ptrdiff_t>(head));
        buf_.consume(head);
        unsigned status = 0;
        std::sscanf(text.c_str(), "HTTP/1.1 %u", &status);
        std::size_t length = 0;
        for (auto& name : {"Content-Length:", "content-length:"})
            if (auto at = text.find(name); at != std::string::npos)
                length = std::strtoul(text.c_str() + at + std::char_traits<char>::length(name), nullptr, 10);
        if (buf_.size() < length) asio::read(sock_, buf_, asio::transfer_exactly(length - buf_.size()), ec);
        buf_.consume(length);
        return status;
    }

    asio::io_context io_;
    tcp::socket sock_{io_};
    unsigned short port_;
    asio::streambuf buf_;
};

std::string callback_body(const std::string& id)
{
    return "{\"id\":\"" + id + "\",\"object\":\"video.generation.task\",\"created\":1764688000," +
           "\"model\":\"wan2.5-image-to-video\",\"status\":\"completed\",\"progress\":100,\"type\":\"video\"," +
           "\"results\":[\"https://cdn.example.com/" + id + ".mp4\"]}";
}

// What the sender thread and A's thread share for one callback.
struct handoff {
    std::mutex m;
    std::condition_variable cv;
    bool started = false, ended = false;
    clock_type::time_point ended_at{};
    std::string error;
};

void print_stats(const char* name, std::vector<double> us)
{
    std::sort(us.begin(), us.end());
    auto at = [&](double q) {
        auto i = static_cast<std::size_t>(q * static_cast<double>(us.size()) + 0.999999);
        return us[std::min(us.size(), std::max<std::size_t>(i, 1)) - 1];
    };
    std::printf("%s n=%zu p50=%.1f p99=%.1f max=%.1f\n", name, us.size(), at(0.50), at(0.99), us.back());
}

int run_waiter(unsigned short redis_port, unsigned short b_port, int callbacks, int warmup)
{
    asio::io_context io(1);
    evolink::client_options co;
    co.api_key = "fleet-bench-placeholder"; // never sent: the waits never poll
    co.base_url = co.files_base_url = "https://127.0.0.1:9";
    evolink::client client(io.get_executor(), co);
    evolink::callback_receiver fleet_rx(io.get_executor(), receiver_options());
    evolink::redis_callback_bus bus(io.get_executor(), fleet_rx, redis_at(redis_port), bus_options());
    evolink::callback_receiver solo_rx(io.get_executor(), receiver_options()); // no bus: a single instance
    auto work = asio::make_work_guard(io);
    std::thread io_thread([&] { io.run(); });

    auto on_io = [&](auto f) {
        std::promise<void> done;
        asio::post(io, [&] {
            f();
            done.set_value();
        });
        done.get_future().wait();
    };
    auto ready_by = clock_type::now() + std::chrono::seconds(10);
    bool up = false;
    while (!up && clock_type::now() < ready_by) {
        on_io([&] { up = bus.ready(); });
        if (!up) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }

    int rc = 0;
    std::vector<double> floor_us, bus_us;
    if (!up) {
        std::fprintf(stderr, "waiter: the bus was not ready within 10 s\n");
        rc = 1;
    } else {
        poster to_solo(solo_rx.port()), to_b(b_port);
        std::string tag = std::to_string(::getpid());
        evolink::wait_options wo;
        wo.trust_callback_body = true; // no confirming GET: the bus's own latency
        wo.callback_poll_factor = 1;
        wo.deadline = std::chrono::seconds(120);
        evolink::poll_policy never{};
        never.initial_delay = never.min_interval = never.max_interval = std::chrono::seconds(60);
        never.use_estimated_time = false;
        wo.poll = never;
        for (int i = 0; i < warmup + callbacks && rc == 0; ++i) {
            for (int path = 0; path < 2 && rc == 0; ++path) { // 0: floor (solo), 1: bus (POST to B)
                std::string id = "task-unified-1764688000-" + tag + (path ? "b" : "f") + std::to_string(i);
                auto hp = std::make_shared<handoff>(); // the handler may outlive this loop (a wait that never ended)
                auto& h = *hp;
                auto opts = wo;
                opts.callbacks = path ? &fleet_rx : &solo_rx;
                asio::post(io, [&client, hp, id, opts] {
                    client.wait(id, opts, [hp](evolink::error_code ec, evolink::task t) {
                        auto now = clock_type::now();
                        std::lock_guard lock(hp->m);
                        hp->ended = true;
                        hp->ended_at = now;
                        if (ec) hp->error = ec.message();
                        else if (t.status != evolink::task_status::completed) hp->error = "not completed: " + t.status_text;
                        hp->cv.notify_all();
                    });
                    std::lock_guard lock(hp->m);
                    hp->started = true;
                    hp->cv.notify_all();
                });
                {
                    std::unique_lock lock(h.m);
                    h.cv.wait(lock, [&] { return h.started; });
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(1)); // the wait registers with its receiver
                auto body = callback_body(id);
                auto sent_at = clock_type::now();
                unsigned status = (path ? to_b : to_solo).post(body);
                std::unique_lock lock(h.m);
                bool ended = h.cv.wait_for(lock, std::chrono::seconds(5), [&] { return h.ended; });
                if (status != 200 || !ended || !h.error.empty()) {
                    std::fprintf(stderr, "waiter: callback %s (%s): status %u, %s\n", id.c_str(), path ? "bus" : "floor",
                                 status, !ended ? "the wait did not end within 5 s" : h.error.c_str());
                    rc = 1;
                    break;
                }
                if (i >= warmup)
                    (path ? bus_us : floor_us)
                        .push_back(std::chrono::duration<double, std::micro>(h.ended_at - sent_at).count());
            }
        }
    }
    std::size_t bus_received = 0;
    on_io([&] {
        bus_received = bus.received();
        client.shutdown(std::chrono::seconds(1), [](auto...) {});
        bus.stop();
        fleet_rx.stop();
        solo_rx.stop();
    });
    work.reset();
    io_thread.join();
    if (rc != 0) return rc;
    print_stats("floor", floor_us);
    print_stats("bus", bus_us);
    std::printf("bus_received=%zu solo_accepted=%zu fleet_accepted=%zu\n", bus_received, solo_rx.accepted(),
                fleet_rx.accepted());
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    std::string mode = argc > 1 ? argv[1] : "";
    try {
        if (mode == "instance" && argc == 3) return run_instance(static_cast<unsigned short>(std::stoul(argv[2])));
        if (mode == "waiter" && argc == 6)
            return run_waiter(static_cast<unsigned short>(std::stoul(argv[2])),
                              static_cast<unsigned short>(std::stoul(argv[3])), std::stoi(argv[4]), std::stoi(argv[5]));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "evolink-bench-fleet: %s\n", e.what());
        return 1;
    }
    std::fprintf(stderr, "usage: evolink-bench-fleet instance REDIS_PORT\n"
                         "       evolink-bench-fleet waiter REDIS_PORT B_PORT CALLBACKS WARMUP\n");
    return 2;
}
