// Allocation guards (issue 12): operator new calls per client.submit, per
// client.get_task and per callback received by callback_receiver, in steady
// state (after a warm-up: pooled connection, TLS session, caches), each with a
// budget that fails the test when exceeded; and the heap one sleeping
// client.wait holds (issue 13). Its own executable (`alloc`),
// because it replaces the global operator new and delete (and aligned_alloc
// and free); not built under
// sanitizers, which replace them themselves.
//
// What is counted: calls of the replaced operator new (every form) and the
// bytes they ask for, made while `counting` is set on the allocating thread.
// The fake server runs in this process and allocates too, so it gets its own
// io_context and thread; `counting` is set only on the thread that runs the
// client's io_context (or the receiver's), and only while measuring. So the
// figures are the client's (the receiver's) own, on its own thread: work the
// library hands to other threads (none in steady state; Asio's resolver thread
// is not used with a pooled connection) is not counted. Not counted either:
// OpenSSL's own allocations (CRYPTO_malloc goes to malloc, not operator new).
// The heap held (live bytes) also counts what Asio takes with aligned_alloc:
// coroutine frames and handlers.
//
// No Catch2 assertion runs while counting (they allocate): results are
// recorded and checked afterwards.
#include "../support/fixture.hpp" // <evolink.hpp>, the test kit, Asio, Catch2; env_guard, run_test

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstddef>
#include <cstdlib>
#include <malloc.h>
#include <iostream>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using evolink::task_status;
using evolink::testing::fake_server;
using evolink::testing::task_script;
using tcp = asio::ip::tcp;

namespace {

// Budgets: allocations (operator new calls) and bytes per operation, in
// steady state. Measured on 2026-12-02 (g++ 12.2, Debian 12, Boost 1.81,
// meson buildtype=debug, library and fake server compiled separately), the
// same to the byte over 3 runs:
//   submit (text_to_image)            36.05 allocations,  3862.1 bytes
//   get_task (a processing task)      17    allocations,  2416.6 bytes
//   callback (completed image task)   52.1  allocations,  5593.6 bytes
// Each budget is that + 25 %, rounded up (bytes to the next 100). A
// regression beyond it fails the test; an improvement should lower it (the
// request written in one piece took submit from 146 to 125, get_task from 107
// to 101; the strands over the io_context's own executor, detail/strand.hpp,
// to 92, 68, and the callback from 133.1 to 75.1; the parsed object moved
// into task::raw instead of copied, to 72, 48 and 52.1; the request head
// written as one string, detail/request_head.hpp, to 57.05 and 38; fewer
// coroutine frames, and diagnostics allocated once written, detail::diag_box,
// to 56.05 and 37, with 250 bytes more: the box is written on every operation;
// task::raw kept only when asked, client_options::keep_raw_json, the answer
// parsed in an arena on the stack, to 36.05 and 17).
constexpr double submit_allocations_budget = 46;
constexpr double submit_bytes_budget = 4'900;
constexpr double get_task_allocations_budget = 22;
constexpr double get_task_bytes_budget = 3'100;
constexpr double callback_allocations_budget = 66;
constexpr double callback_bytes_budget = 7'000;
// Heap held by one wait while it sleeps between reads, with 10,000 open
// (issue 13): 1,805.6 bytes (1,918 with callbacks; an image() past its
// creation: 1,645, was 13,242), measured as above.
constexpr double idle_wait_bytes_budget = 2'048; // issue 13's P2; 16'238 when a wait was coroutine frames
// The same with opts.callbacks: the receiver's wait for the callback too.
constexpr double idle_callback_wait_bytes_budget = 2'048;

/// Operations measured per test, after the warm-up.
constexpr std::size_t n_ops = 20;

} // namespace

// ---------------------------------------------------------------------------
// The counting operator new / delete.

namespace {

/// True on a thread whose allocations are counted now.
constinit thread_local bool counting = false;

std::atomic<std::size_t> allocations_counted{0};
std::atomic<std::size_t> bytes_counted{0};
/// Bytes of counted blocks not freed yet (freed on any thread): the heap a
/// measured phase left behind.
std::atomic<std::ptrdiff_t> live_counted{0};

/// Every block carries this header, just before the pointer returned: what
/// delete needs to find the malloc'd start and to tell a counted block.
struct alignas(16) block_header {
    std::size_t size;
    std::uint32_t offset; // from the malloc'd start to the block
    std::uint32_t counted;
};
static_assert(sizeof(block_header) == 16);

void* place(void* raw, std::size_t size, std::size_t offset) noexcept
{
    if (!raw) return nullptr;
    auto* p = static_cast<char*>(raw) + offset;
    auto* h = reinterpret_cast<block_header*>(p) - 1;
    h->size = size;
    h->offset = static_cast<std::uint32_t>(offset);
    h->counted = counting ? 1 : 0;
    if (counting) {
        allocations_counted.fetch_add(1, std::memory_order_relaxed);
        bytes_counted.fetch_add(size, std::memory_order_relaxed);
        live_counted.fetch_add(static_cast<std::ptrdiff_t>(size), std::memory_order_relaxed);
    }
    return p;
}

void* allocate(std::size_t size) noexcept
{
    return place(std::malloc(size + sizeof(block_header)), size, sizeof(block_header));
}

} // namespace

// Asio allocates coroutine frames and handlers with std::aligned_alloc and
// frees them with std::free (boost/asio/detail/memory.hpp), not with operator
// new: so aligned_alloc is replaced too, and free. A block aligned_alloc gave
// while counting is kept in a table (no header: free cannot tell), and
// counted in live_counted only (its usable size), not in the calls and bytes
// the budgets of submit, get_task and callback count.
extern "C" void* __libc_memalign(std::size_t alignment, std::size_t size) noexcept;
extern "C" void __libc_free(void* p) noexcept;

namespace {

constexpr unsigned table_bits = 18;
std::atomic<void*> aligned_table[std::size_t{1} << table_bits]; // counted blocks; open addressing
std::atomic<std::size_t> aligned_tracked{0};
void* const tombstone = reinterpret_cast<void*>(std::uintptr_t{1});

std::size_t slot_of(void* p) noexcept
{
    return static_cast<std::size_t>((reinterpret_cast<std::uintptr_t>(p) >> 4) * 0x9E3779B97F4A7C15ull >>
                                    (64 - table_bits));
}

void remember(void* p) noexcept
{
    constexpr std::size_t mask = (std::size_t{1} << table_bits) - 1;
    for (auto i = slot_of(p);; i = (i + 1) & mask) {
        void* cur = aligned_table[i].load();
        if ((cur == nullptr || cur == tombstone) && aligned_table[i].compare_exchange_strong(cur, p)) break;
    }
    aligned_tracked.fetch_add(1);
    live_counted.fetch_add(static_cast<std::ptrdiff_t>(malloc_usable_size(p)), std::memory_order_relaxed);
}

void forget(void* p) noexcept
{
    if (aligned_tracked.load(std::memory_order_relaxed) == 0) return;
    constexpr std::size_t mask = (std::size_t{1} << table_bits) - 1;
    for (auto i = slot_of(p);; i = (i + 1) & mask) {
        void* cur = aligned_table[i].load();
        if (cur == nullptr) return;
        if (cur == p && aligned_table[i].compare_exchange_strong(cur, tombstone)) {
            aligned_tracked.fetch_sub(1);
            live_counted.fetch_sub(static_cast<std::ptrdiff_t>(malloc_usable_size(p)), std::memory_order_relaxed);
            return;
        }
    }
}

void* allocate_aligned(std::size_t size, std::align_val_t al) noexcept
{
    auto a = std::max(static_cast<std::size_t>(al), sizeof(block_header)); // a power of two, >= 16
    return place(__libc_memalign(a, size + a), size, a);
}

void release(void* p) noexcept
{
    if (!p) return;
    auto* h = static_cast<block_header*>(p) - 1;
    if (h->counted) live_counted.fetch_sub(static_cast<std::ptrdiff_t>(h->size), std::memory_order_relaxed);
    __libc_free(static_cast<char*>(p) - h->offset);
}

void* or_throw(void* p)
{
    if (!p) throw std::bad_alloc();
    return p;
}

} // namespace

void* operator new(std::size_t size) { return or_throw(allocate(size)); }
void* operator new[](std::size_t size) { return or_throw(allocate(size)); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return allocate(size); }
void* operator new(std::size_t size, std::align_val_t al) { return or_throw(allocate_aligned(size, al)); }
void* operator new[](std::size_t size, std::align_val_t al) { return or_throw(allocate_aligned(size, al)); }
void* operator new(std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept
{
    return allocate_aligned(size, al);
}
void* operator new[](std::size_t size, std::align_val_t al, const std::nothrow_t&) noexcept
{
    return allocate_aligned(size, al);
}

extern "C" void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept
{
    void* p = __libc_memalign(alignment, size);
    if (p && counting) remember(p);
    return p;
}

extern "C" void free(void* p) noexcept
{
    if (!p) return;
    forget(p);
    __libc_free(p);
}

void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }

// ---------------------------------------------------------------------------

namespace {

struct totals {
    std::size_t allocations = 0;
    std::size_t bytes = 0;
};

totals now() { return {allocations_counted.load(), bytes_counted.load()}; }

/// Counts this thread's allocations from construction to stop().
class measure {
public:
    measure() : start_(now()) { counting = true; }
    measure(const measure&) = delete;
    measure& operator=(const measure&) = delete;
    ~measure() { counting = false; }

    totals stop()
    {
        counting = false;
        auto end = now();
        return {end.allocations - start_.allocations, end.bytes - start_.bytes};
    }

private:
    totals start_;
};

struct per_op {
    double allocations;
    double bytes;
};

per_op per_operation(totals t, std::size_t n)
{
    return {static_cast<double>(t.allocations) / static_cast<double>(n), static_cast<double>(t.bytes) / static_cast<double>(n)};
}

void report(const char* what, totals t, per_op p)
{
    std::cout << "alloc: " << what << ": " << p.allocations << " allocations, " << p.bytes << " bytes per operation ("
              << t.allocations << " / " << t.bytes << " over " << n_ops << ")\n";
}

/// The fake server on its own io_context and thread; a client of it on
/// `client_io`, which the test runs on its own thread (run_test).
struct client_world {
    env_guard env;
    asio::io_context server_io;
    fake_server server;
    asio::io_context client_io;
    evolink::client client{client_io.get_executor(), server.client_options()};
    std::thread server_thread{[this] { server_io.run(); }};

    explicit client_world(evolink::testing::fake_server_options so = {}) : server(server_io.get_executor(), std::move(so))
    {
    }
    client_world(const client_world&) = delete;
    client_world& operator=(const client_world&) = delete;
    ~client_world()
    {
        server.stop();
        server_thread.join();
    }

    template <class Body>
    void run(Body body)
    {
        run_test(client_io, server, std::move(body)); // stops the server at the end: client_io runs dry
    }
};

/// A long script: every GET of the task shows it processing (the polling case).
task_script long_processing()
{
    task_script s;
    s.progress.clear();
    for (int i = 1; i <= 90; ++i) s.progress.push_back(i);
    return s;
}

} // namespace

TEST_CASE("allocations per client.submit stay within budget")
{
    client_world w;
    totals t;
    std::vector<task_status> statuses;
    std::size_t connections_before = 0, connections_after = 0;
    w.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "A serene lake at sunset";
        req.size = "1280x1280";
        // Warm-up: the pooled connection, its TLS session, the caches.
        auto first = co_await w.client.submit(req);
        auto again = co_await w.client.get_task(first.id);
        statuses.reserve(n_ops);
        connections_before = w.client.connections_opened();
        {
            measure m;
            for (std::size_t i = 0; i < n_ops; ++i) {
                auto task = co_await w.client.submit(req);
                statuses.push_back(task.status);
            }
            t = m.stop();
        }
        connections_after = w.client.connections_opened();
        CHECK(again.status == task_status::processing);
    });
    auto p = per_operation(t, n_ops);
    report("submit", t, p);
    CHECK(statuses == std::vector<task_status>(n_ops, task_status::pending));
    CHECK(w.server.tasks_created() == n_ops + 1);
    CHECK(connections_after == connections_before); // steady state: the pooled connection, reused
    INFO("per submit: " << p.allocations << " allocations, " << p.bytes << " bytes");
    CHECK(p.allocations <= submit_allocations_budget);
    CHECK(p.bytes <= submit_bytes_budget);
}

TEST_CASE("allocations per client.get_task stay within budget")
{
    client_world w;
    totals t;
    std::vector<int> progress;
    std::vector<task_status> statuses;
    std::size_t connections_before = 0, connections_after = 0;
    w.server.push_script(long_processing());
    w.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "A serene lake at sunset";
        auto task = co_await w.client.submit(req);
        const std::string id = task.id;
        task = co_await w.client.get_task(id); // warm-up
        progress.reserve(n_ops);
        statuses.reserve(n_ops);
        connections_before = w.client.connections_opened();
        {
            measure m;
            for (std::size_t i = 0; i < n_ops; ++i) {
                auto seen = co_await w.client.get_task(id);
                progress.push_back(seen.progress);
                statuses.push_back(seen.status);
            }
            t = m.stop();
        }
        connections_after = w.client.connections_opened();
    });
    auto p = per_operation(t, n_ops);
    report("get_task", t, p);
    std::vector<int> expected;
    for (int i = 2; i < 2 + static_cast<int>(n_ops); ++i) expected.push_back(i); // the warm-up saw 1
    CHECK(progress == expected);
    CHECK(statuses == std::vector<task_status>(n_ops, task_status::processing));
    CHECK(w.server.count("GET", "/v1/tasks/") == n_ops + 1);
    CHECK(connections_after == connections_before);
    INFO("per get_task: " << p.allocations << " allocations, " << p.bytes << " bytes");
    CHECK(p.allocations <= get_task_allocations_budget);
    CHECK(p.bytes <= get_task_bytes_budget);
}

namespace {

/// A callback like EvoLink's (and the fake's): the completed task's JSON.
std::string callback_body(const std::string& id)
{
    return "{\"id\":\"" + id +
           "\",\"object\":\"image.generation.task\",\"created\":1795299177,\"model\":\"wan2.5-text-to-image\","
           "\"type\":\"image\",\"status\":\"completed\",\"progress\":100,"
           "\"results\":[\"https://cdn.example.com/results/" + id + "/0.png\"],"
           "\"task_info\":{\"can_cancel\":false,\"estimated_time\":30},"
           "\"usage\":{\"billing_rule\":\"per_call\",\"credits_reserved\":0.5,\"user_group\":\"default\"}}";
}

std::string callback_request(const std::string& target, const std::string& body)
{
    return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body; // kept alive
}

/// Sends one callback on `sock` and reads the answer (blocking); returns the
/// status code, 0 when the answer could not be read.
unsigned post_callback(tcp::socket& sock, const std::string& request)
{
    asio::write(sock, asio::buffer(request));
    std::string in;
    std::size_t head = asio::read_until(sock, asio::dynamic_buffer(in), "\r\n\r\n");
    std::string headers = in.substr(0, head);
    std::size_t length = 0;
    for (const char* name : {"Content-Length: ", "content-length: "}) {
        auto at = headers.find(name);
        if (at != std::string::npos) length = std::stoul(headers.substr(at + std::string(name).size()));
    }
    if (in.size() < head + length) asio::read(sock, asio::dynamic_buffer(in), asio::transfer_exactly(head + length - in.size()));
    if (!headers.starts_with("HTTP/1.1 ")) return 0;
    return static_cast<unsigned>(std::stoul(headers.substr(9, 3)));
}

/// Runs `f` on the thread of `io` and waits until it has run.
template <class F>
void run_on(asio::io_context& io, F f)
{
    std::atomic<bool> ran{false};
    asio::post(io, [&] {
        f();
        ran.store(true); // after f: nothing allocates here
    });
    while (!ran.load()) std::this_thread::sleep_for(1ms);
}

} // namespace

TEST_CASE("allocations per callback received stay within budget")
{
    // The receiver listens on its own io_context and thread; the callbacks are
    // POSTed from this thread over one kept-alive connection, each answer read
    // before the next is sent. Only the receiver's thread counts.
    asio::io_context receiver_io;
    evolink::callback_receiver receiver(receiver_io.get_executor());
    std::thread receiver_thread([&] { receiver_io.run(); });
    std::vector<unsigned> answers;
    totals t;
    std::size_t accepted_before = 0;
    {
        asio::io_context sender_io; // blocking operations only
        tcp::socket sock(sender_io);
        sock.connect({asio::ip::make_address("127.0.0.1"), receiver.port()});
        const std::string target = path_of(receiver.callback_url());
        std::vector<std::string> requests;
        for (std::size_t i = 0; i < n_ops + 2; ++i) {
            auto suffix = std::to_string(10000000 + i);
            requests.push_back(callback_request(target, callback_body("task-unified-1795299177-" + suffix.substr(0, 8))));
        }
        answers.reserve(n_ops + 2);
        answers.push_back(post_callback(sock, requests[0])); // warm-up
        answers.push_back(post_callback(sock, requests[1]));
        std::this_thread::sleep_for(50ms); // what the receiver does after answering is done
        accepted_before = receiver.accepted();

        totals start, end;
        run_on(receiver_io, [&] {
            start = now();
            counting = true;
        });
        for (std::size_t i = 2; i < n_ops + 2; ++i) answers.push_back(post_callback(sock, requests[i]));
        std::this_thread::sleep_for(50ms);
        run_on(receiver_io, [&] {
            counting = false;
            end = now();
        });
        t = {end.allocations - start.allocations, end.bytes - start.bytes};
    }
    auto accepted_after = receiver.accepted();
    receiver.stop();
    receiver_thread.join();

    auto p = per_operation(t, n_ops);
    report("callback", t, p);
    CHECK(answers == std::vector<unsigned>(n_ops + 2, 200u));
    CHECK(accepted_before == 2);
    CHECK(accepted_after == n_ops + 2);
    CHECK(receiver.duplicates() == 0);
    CHECK(receiver.refused() == 0);
    INFO("per callback: " << p.allocations << " allocations, " << p.bytes << " bytes");
    CHECK(p.allocations <= callback_allocations_budget);
    CHECK(p.bytes <= callback_bytes_budget);
}

namespace {

/// Waits open at once in the idle-wait test.
constexpr std::size_t n_waits = 10000;

/// A task that stays pending: it advances once an hour, whatever the reads.
evolink::testing::fake_server_options frozen_tasks()
{
    evolink::testing::fake_server_options so;
    so.script.step_interval = std::chrono::hours(1);
    return so;
}

/// Reads once at once (no pacing before the first state), then once an hour.
evolink::wait_options sleepy_waits()
{
    evolink::wait_options o;
    o.poll = evolink::poll_policy{std::chrono::hours(1), std::chrono::hours(1), std::chrono::hours(1), 1.0, 0.0, false};
    o.deadline = std::chrono::hours(2);
    return o;
}

/// Sleeps on the client's thread (the waits' reads go on meanwhile).
asio::awaitable<void> pause(std::chrono::milliseconds d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

} // namespace

namespace {

/// How many of `ids` the server read exactly once (by GET or in a batch);
/// fake_server::task_reads, but for all ids in one pass over the requests.
std::size_t read_once(const fake_server& server, const std::vector<std::string>& ids)
{
    std::map<std::string, int, std::less<>> reads;
    for (auto& r : server.requests()) {
        std::string_view path(r.target);
        path = path.substr(0, path.find('?'));
        if (r.method == "GET" && path.starts_with("/v1/tasks/")) ++reads[std::string(path.substr(10))];
        if (r.method != "POST" || path != "/v1/tasks/batch") continue;
        auto v = boost::json::parse(r.body);
        for (auto& id : v.at("task_ids").as_array()) ++reads[std::string(id.as_string())];
    }
    std::size_t n = 0;
    for (auto& id : ids) {
        auto it = reads.find(id);
        n += it != reads.end() && it->second == 1 ? 1 : 0;
    }
    return n;
}

/// What the idle-wait test saw.
struct idle_figures {
    double per_wait = 0;       ///< held by one sleeping wait
    double with_the_reads = 0; ///< the same, with what the first reads left (connections, caches)
    std::size_t read_before_sleep = 0, ended = 0;
    std::vector<evolink::error_code> ends;
};

enum class idle_kind { wait, wait_with_callbacks, image };

/// n_waits waits on tasks that stay pending, each asleep until its next read
/// (an hour away): client.wait(id) past its first read, with a receiver on
/// the same thread or not; or client.image(), once it created its task. The
/// heap they hold: live bytes while they sleep minus live bytes once all were
/// cancelled and ended (what stays, pooled connections and caches, is in both).
idle_figures idle_waits(idle_kind kind)
{
    client_world w(frozen_tasks());
    evolink::callback_receiver receiver(w.client_io.get_executor());
    std::vector<std::string> ids;
    std::vector<asio::cancellation_signal> signals(n_waits);
    idle_figures f;
    f.ends.resize(n_waits);
    std::ptrdiff_t live_start = 0, live_asleep = 0, live_end = 0;
    auto handler = [&f](std::size_t i) {
        return [&f, i](evolink::error_code ec, evolink::task) {
            f.ends[i] = ec;
            ++f.ended;
        };
    };
    w.run([&]() -> asio::awaitable<void> {
        evolink::text_to_image req;
        req.prompt = "A serene lake at sunset";
        ids.reserve(n_waits);
        if (kind != idle_kind::image)
            for (std::size_t i = 0; i < n_waits; ++i) ids.push_back((co_await w.client.submit(req)).id);
        auto opts = sleepy_waits();
        if (kind == idle_kind::wait_with_callbacks) opts.callbacks = &receiver;
        live_start = live_counted.load();
        counting = true;
        for (std::size_t i = 0; i < n_waits; ++i) {
            auto h = asio::bind_cancellation_slot(signals[i].slot(), handler(i));
            if (kind == idle_kind::image) w.client.image(req, opts, std::move(h));
            else w.client.wait(ids[i], opts, std::move(h));
        }
        for (int tries = 0; tries < 300; ++tries) { // every wait made its first read (image: its task)
            co_await pause(100ms);
            counting = false; // the fake's records allocate
            f.read_before_sleep = kind == idle_kind::image ? w.server.tasks_created() : read_once(w.server, ids);
            counting = true;
            if (f.read_before_sleep == n_waits) break;
        }
        co_await pause(100ms); // the last answers reach their waits
        live_asleep = live_counted.load();
        for (auto& s : signals) s.emit(asio::cancellation_type::terminal);
        while (f.ended < n_waits) co_await pause(10ms);
        co_await pause(10ms); // what the receiver held is gone too
        live_end = live_counted.load();
        counting = false;
        receiver.stop();
    });
    f.per_wait = static_cast<double>(live_asleep - live_end) / static_cast<double>(n_waits);
    f.with_the_reads = static_cast<double>(live_asleep - live_start) / static_cast<double>(n_waits);
    const char* names[] = {"wait", "wait with callbacks", "image()"};
    std::cout << "alloc: idle " << names[static_cast<int>(kind)] << ": " << f.per_wait
              << " bytes of heap per sleeping wait (" << f.with_the_reads
              << " with what the first reads left: connections, caches; " << n_waits << " waits)\n";
    return f;
}

} // namespace

TEST_CASE("heap per idle wait stays within budget")
{
    auto f = idle_waits(idle_kind::wait);
    CHECK(f.read_before_sleep == n_waits);
    CHECK(f.ended == n_waits);
    CHECK(f.ends == std::vector<evolink::error_code>(n_waits, asio::error::operation_aborted));
    INFO("per idle wait: " << f.per_wait << " bytes");
    CHECK(f.per_wait <= idle_wait_bytes_budget);
}

TEST_CASE("heap per idle wait with callbacks stays within budget")
{
    auto f = idle_waits(idle_kind::wait_with_callbacks);
    CHECK(f.read_before_sleep == n_waits);
    CHECK(f.ended == n_waits);
    CHECK(f.ends == std::vector<evolink::error_code>(n_waits, asio::error::operation_aborted));
    INFO("per idle wait with callbacks: " << f.per_wait << " bytes");
    CHECK(f.per_wait <= idle_callback_wait_bytes_budget);
}

TEST_CASE("heap per idle image() wait stays within budget")
{
    auto f = idle_waits(idle_kind::image);
    CHECK(f.read_before_sleep == n_waits);
    CHECK(f.ended == n_waits);
    CHECK(f.ends == std::vector<evolink::error_code>(n_waits, asio::error::operation_aborted));
    INFO("per idle image() wait: " << f.per_wait << " bytes");
    CHECK(f.per_wait <= idle_wait_bytes_budget);
}
