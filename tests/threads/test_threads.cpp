// Many threads, one client. Operations are started at once from plain
// std::threads and from coroutines on an io_context run by four threads, some
// of them cancelled from yet another thread; a callback receiver is fed
// through handle() from several threads; and a client is destroyed while its
// operations are in flight. Every operation must complete exactly once with
// the right result, the fake server's counters must match, and the
// io_context must run dry. Its own executable (`threads`), so that CI can
// run it under ThreadSanitizer (scripts/sanitize, docs/threading.md).
//
// Catch2's assertions are not thread-safe: off the main thread, results and
// problems are only recorded; the main thread checks them after joining.
#include "../support/fixture.hpp" // <evolink.hpp>, the test kit, Asio, Catch2; env_guard, fast_poll

#include <boost/json.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

using evolink::task_status;
using evolink::testing::canned_response;
using evolink::testing::fake_server;
using evolink::testing::fake_server_options;
using evolink::testing::task_script;

namespace {

using clock_type = std::chrono::steady_clock;

/// How long the main thread waits for every operation (TSan is slow).
constexpr auto completion_limit = 100s;

thread_local bool on_pool_thread = false;

/// Completions recorded so far, all operations together.
std::atomic<std::size_t> completions{0};

/// Problems seen off the main thread.
class problem_log {
public:
    void add(std::string what)
    {
        std::lock_guard lock(mutex_);
        list_.push_back(std::move(what));
    }
    std::vector<std::string> list() const
    {
        std::lock_guard lock(mutex_);
        return list_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::string> list_;
};

/// The outcome of one operation: how many times it completed, and how the
/// first completion went.
struct once {
    std::atomic<int> calls{0};
    std::atomic<bool> ready{false};
    evolink::error_code ec{};
    evolink::task value{};
    clock_type::time_point at{}; ///< when it first completed

    /// For failure messages.
    std::string describe() const
    {
        if (!ready.load()) return "not completed";
        return std::to_string(calls.load()) + " completion(s), first: " + (ec ? ec.message() : std::string("ok")) +
               ", task \"" + value.id + "\" " + value.status_text + " " + std::to_string(value.progress) + "%";
    }

    void set(evolink::error_code e, evolink::task t)
    {
        if (calls.fetch_add(1, std::memory_order_acq_rel) != 0) return; // counted, checked later
        ec = e;
        value = std::move(t);
        at = clock_type::now();
        ready.store(true, std::memory_order_release);
        ++completions;
    }

    /// For plain threads: false when it did not complete in time or `abort` is set.
    bool await(const std::atomic<bool>& abort) const
    {
        auto until = clock_type::now() + completion_limit;
        while (!ready.load(std::memory_order_acquire)) {
            if (abort || clock_type::now() > until) return false;
            std::this_thread::sleep_for(200us);
        }
        return true;
    }
};

/// An operation to cancel from the canceller thread. The rule: a
/// per-operation cancellation_signal is emitted on the executor of the
/// operation's completion handler. So the handler is bound to (or the
/// coroutine runs on) `strand`, and the emit is posted to it.
struct cancellable {
    cancellable(asio::io_context& io, asio::cancellation_type t, std::chrono::milliseconds d)
        : strand(asio::make_strand(io)), type(t), delay(d)
    {
    }
    asio::strand<asio::io_context::executor_type> strand;
    asio::cancellation_signal signal;
    asio::cancellation_type type;
    std::chrono::milliseconds delay; ///< after the start, so that cancellations land in every phase
    std::atomic<bool> started{false}; ///< set once the operation has been initiated
    clock_type::time_point emitted{}; ///< when the canceller posted the emit (read after joining it)
};

/// The token for a cancellable co_await: (error_code, task), with c's slot.
auto awaitable_with(cancellable& c)
{
    return asio::bind_cancellation_slot(c.signal.slot(), asio::as_tuple(asio::use_awaitable));
}

/// Emits every cancellation, each `delay` after its operation started (in
/// whatever order they start: a slow request holds a pooled connection until
/// it is cancelled, so none may wait for another to start).
void cancel_all(const std::vector<cancellable*>& list, const std::atomic<bool>& abort, problem_log& problems)
{
    std::vector<std::optional<clock_type::time_point>> seen(list.size());
    std::vector<bool> emitted(list.size(), false);
    std::size_t left = list.size();
    auto until = clock_type::now() + completion_limit;
    while (left > 0) {
        if (abort || clock_type::now() > until) {
            problems.add("canceller: " + std::to_string(left) + " operation(s) never started");
            return;
        }
        for (std::size_t i = 0; i < list.size(); ++i) {
            auto* c = list[i];
            if (emitted[i]) continue;
            if (!seen[i] && c->started.load(std::memory_order_acquire)) seen[i] = clock_type::now();
            if (seen[i] && clock_type::now() >= *seen[i] + c->delay) {
                c->emitted = clock_type::now();
                asio::post(c->strand, [c] { c->signal.emit(c->type); });
                emitted[i] = true;
                --left;
            }
        }
        std::this_thread::sleep_for(200us);
    }
}

/// An io_context run by `n` threads; finish() lets it run dry.
class io_pool {
public:
    io_pool(asio::io_context& io, int n) : io_(io), work_(asio::make_work_guard(io))
    {
        for (int i = 0; i < n; ++i)
            threads_.emplace_back([&io] {
                on_pool_thread = true;
                io.run();
            });
    }
    io_pool(const io_pool&) = delete;
    io_pool& operator=(const io_pool&) = delete;
    ~io_pool()
    {
        work_.reset();
        io_.stop();
        join();
    }

    /// Drops the work guard and waits for run() to return in every thread.
    /// False when the io_context did not run dry within `limit` (it is then
    /// stopped, so that the threads can be joined).
    bool finish(std::chrono::seconds limit)
    {
        work_.reset();
        auto until = clock_type::now() + limit;
        while (!io_.stopped() && clock_type::now() < until) std::this_thread::sleep_for(5ms);
        bool dry = io_.stopped();
        if (!dry) io_.stop();
        join();
        return dry;
    }

private:
    void join()
    {
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }

    asio::io_context& io_;
    asio::executor_work_guard<asio::io_context::executor_type> work_;
    std::vector<std::thread> threads_;
};

/// Joins plain threads however the test ends.
struct thread_group {
    std::vector<std::thread> threads;
    ~thread_group() { join(); }
    void join()
    {
        for (auto& t : threads)
            if (t.joinable()) t.join();
    }
};

/// The client's strand (it makes one of the executor it is given: of an
/// io_context's, over that executor itself; docs/threading.md).
using client_strand_type = asio::strand<asio::io_context::executor_type>;
client_strand_type strand_of(const evolink::client& c)
{
    auto ex = c.get_executor();
    auto* s = ex.target<client_strand_type>();
    REQUIRE(s != nullptr);
    return *s;
}

/// EVOLINK_THREADS_LOG=1: the client's warnings (and debug messages with =debug) on stderr.
evolink::logger test_logger()
{
    evolink::logger l;
    const char* v = std::getenv("EVOLINK_THREADS_LOG");
    if (!v) return l;
    l.min_level = std::string_view(v) == "debug" ? evolink::log_level::debug : evolink::log_level::warning;
    l.sink = [](evolink::log_level level, std::string_view msg) {
        static std::mutex m;
        std::lock_guard lock(m);
        std::fprintf(stderr, "[%s] %.*s\n", std::string(evolink::to_string(level)).c_str(),
                     static_cast<int>(msg.size()), msg.data());
    };
    return l;
}

evolink::text_to_image image(const std::string& prompt)
{
    evolink::text_to_image r;
    r.prompt = prompt;
    return r;
}

evolink::text_to_video video(const std::string& prompt)
{
    evolink::text_to_video r;
    r.prompt = prompt;
    return r;
}

/// Tasks whose prompt starts with this never finish (the fake advances them
/// once an hour): waits on them end only by cancellation.
const std::string never_prompt = "never finishes";

fake_server_options server_options()
{
    fake_server_options so;
    so.script_for = [](const boost::json::object& body) -> std::optional<task_script> {
        auto* p = body.if_contains("prompt");
        if (!p || !p->is_string() || !std::string_view(p->get_string()).starts_with(never_prompt))
            return std::nullopt;
        task_script s;
        s.progress = {50};
        s.step_interval = std::chrono::hours(1);
        return s;
    };
    return so;
}

/// A GET of one task answered only after 30 s (the server's sleep ends at stop()).
canned_response slow_get(const std::string& id)
{
    canned_response c;
    c.method = "GET";
    c.path_prefix = "/v1/tasks/" + id;
    c.status = 200;
    c.body = "{}";
    c.delay = 30s;
    return c;
}

// ---------------------------------------------------------------------------
// Test 1: one client, one fake server, one receiver, many threads.

enum class kind {
    get4,          ///< submit, then get_task four times: processing 25, 50, 75, completed
    wait_task,     ///< submit, then wait(task): completed after four reads
    wait_id,       ///< submit, then wait(id): completed after four reads
    cancel_wait,   ///< submit a task that never finishes, wait, cancelled: operation_aborted
    cancel_get,    ///< submit, then a get_task the server answers in 30 s, cancelled
    cancel_submit, ///< a video submit the server answers in 30 s, cancelled
};

const char* name_of(kind k)
{
    switch (k) {
    case kind::get4: return "get4";
    case kind::wait_task: return "wait_task";
    case kind::wait_id: return "wait_id";
    case kind::cancel_wait: return "cancel_wait";
    case kind::cancel_get: return "cancel_get";
    case kind::cancel_submit: return "cancel_submit";
    }
    return "?";
}

struct flow {
    kind k;
    std::string label;
    once submitted;
    std::array<once, 4> gets;
    once waited;                   ///< the wait, or the cancelled get_task
    std::vector<int> progress;     ///< on_progress, on the client's strand only
    std::unique_ptr<cancellable> cancel;

    bool cancelled() const { return k == kind::cancel_wait || k == kind::cancel_get || k == kind::cancel_submit; }
    std::string prompt() const { return (k == kind::cancel_wait ? never_prompt + " " : std::string()) + label; }
    std::size_t expected_completions() const
    {
        switch (k) {
        case kind::get4: return 5;
        case kind::cancel_submit: return 1;
        default: return 2;
        }
    }
};

/// A callback the receiver gets through handle(), and the wait for it.
struct hook {
    std::string id;
    bool delivered = true;               ///< false: never delivered, the wait is cancelled
    once waited;
    std::unique_ptr<cancellable> cancel; ///< for the waits never delivered
};

struct world {
    asio::io_context& io;
    fake_server& server;
    evolink::client& client;
    evolink::callback_receiver& receiver;
    client_strand_type client_strand;
    problem_log problems;
    std::atomic<bool> abort{false};

    evolink::wait_options wait_opts(flow& f)
    {
        evolink::wait_options o;
        o.poll = fast_poll();
        o.on_progress = [this, &f](const evolink::task& t) {
            if (!client_strand.running_in_this_thread())
                problems.add(f.label + ": on_progress not on the client's strand");
            f.progress.push_back(t.progress);
        };
        return o;
    }

    /// A completion handler that records into `o`. `bound`: 0 none (then it
    /// must run on the client's strand), 1 bound to the io_context's executor
    /// (a pool thread).
    auto recorder(once& o, std::string what, int bound)
    {
        return [this, &o, what = std::move(what), bound](evolink::error_code ec, evolink::task t) {
            if (bound == 0 && !client_strand.running_in_this_thread())
                problems.add(what + ": an unbound handler did not run on the client's strand");
            if (bound == 1 && !on_pool_thread) problems.add(what + ": handler not on a pool thread");
            o.set(ec, std::move(t));
        };
    }

    /// Starts `op(token)` with a handler that records into `o`, bound as `bound` says.
    template <class Start>
    void start(once& o, std::string what, int bound, Start op)
    {
        if (bound == 0) op(recorder(o, std::move(what), 0));
        else op(asio::bind_executor(io.get_executor(), recorder(o, std::move(what), 1)));
    }

    /// A handler bound to the flow's own strand, with its cancellation slot.
    auto cancellable_handler(once& o, cancellable& c, std::string what)
    {
        auto h = [this, &o, &c, what = std::move(what)](evolink::error_code ec, evolink::task t) {
            if (!c.strand.running_in_this_thread()) problems.add(what + ": handler not on its strand");
            o.set(ec, std::move(t));
        };
        return asio::bind_cancellation_slot(c.signal.slot(), asio::bind_executor(c.strand, std::move(h)));
    }
};

/// One plain thread driving its flows with callback handlers: every submit
/// at once, then each flow's next operation, the reads of get4 flows one
/// round at a time.
void drive_from_thread(world& w, const std::vector<flow*>& flows)
{
    for (std::size_t i = 0; i < flows.size(); ++i) {
        auto& f = *flows[i];
        if (f.k == kind::cancel_submit) {
            w.client.submit(video(f.prompt()), w.cancellable_handler(f.submitted, *f.cancel, f.label + " submit"));
            f.cancel->started.store(true, std::memory_order_release);
            continue;
        }
        w.start(f.submitted, f.label + " submit", static_cast<int>(i % 2),
                [&](auto&& h) { w.client.submit(image(f.prompt()), std::move(h)); });
    }
    for (auto* f : flows)
        if (f->k != kind::cancel_submit && !f->submitted.await(w.abort)) return;

    for (std::size_t i = 0; i < flows.size(); ++i) {
        auto& f = *flows[i];
        if (f.k == kind::cancel_submit || f.submitted.ec) continue;
        const auto& t = f.submitted.value;
        int bound = static_cast<int>((i + 1) % 2);
        switch (f.k) {
        case kind::get4:
            w.start(f.gets[0], f.label + " get 1", bound, [&](auto&& h) { w.client.get_task(t.id, std::move(h)); });
            break;
        case kind::wait_task:
            w.start(f.waited, f.label + " wait", bound,
                    [&](auto&& h) { w.client.wait(t, w.wait_opts(f), std::move(h)); });
            break;
        case kind::wait_id:
            w.start(f.waited, f.label + " wait", bound,
                    [&](auto&& h) { w.client.wait(t.id, w.wait_opts(f), std::move(h)); });
            break;
        case kind::cancel_wait:
            w.client.wait(t, w.wait_opts(f), w.cancellable_handler(f.waited, *f.cancel, f.label + " wait"));
            f.cancel->started.store(true, std::memory_order_release);
            break;
        case kind::cancel_get:
            w.server.inject(slow_get(t.id));
            w.client.get_task(t.id, w.cancellable_handler(f.waited, *f.cancel, f.label + " get"));
            f.cancel->started.store(true, std::memory_order_release);
            break;
        case kind::cancel_submit: break;
        }
    }

    for (std::size_t round = 1; round < 4; ++round) {
        for (std::size_t i = 0; i < flows.size(); ++i) {
            auto& f = *flows[i];
            if (f.k != kind::get4 || f.submitted.ec) continue;
            if (!f.gets[round - 1].await(w.abort)) return;
            w.start(f.gets[round], f.label + " get " + std::to_string(round + 1), static_cast<int>((i + round) % 2),
                    [&](auto&& h) { w.client.get_task(f.submitted.value.id, std::move(h)); });
        }
    }
}

/// One coroutine per flow: on the io_context's executor (any pool thread), or
/// on the flow's own strand when it is cancelled.
asio::awaitable<void> drive_coroutine(world& w, flow& f)
{
    auto here = [&w, &f](const char* what) {
        bool ok = f.cancel ? f.cancel->strand.running_in_this_thread() : on_pool_thread;
        if (!ok) w.problems.add(f.label + " " + what + ": the coroutine resumed off its executor");
    };
    // A cancellable operation is marked started just before its co_await: it
    // is initiated before the strand handler running this coroutine returns,
    // so the emit the canceller then posts to the strand comes after it.
    // Requests and options are named, not temporaries inside the co_await
    // expression (a g++ 12 bug, docs/reliability.md).
    try {
        if (f.k == kind::cancel_submit) {
            auto req = video(f.prompt());
            f.cancel->started.store(true, std::memory_order_release);
            auto [ec, t] = co_await w.client.submit(req, awaitable_with(*f.cancel));
            here("submit");
            f.submitted.set(ec, std::move(t));
            co_return;
        }
        auto req = image(f.prompt());
        auto [ec, t] = co_await w.client.submit(req, asio::as_tuple(asio::use_awaitable));
        here("submit");
        f.submitted.set(ec, t);
        if (ec) co_return;
        switch (f.k) {
        case kind::get4:
            // The default token: the task, or evolink::error.
            for (auto& g : f.gets) {
                std::optional<evolink::task> r;
                evolink::error_code gec;
                try {
                    r = co_await w.client.get_task(t.id);
                } catch (const evolink::error& e) {
                    gec = e.code();
                }
                here("get");
                g.set(gec, r.value_or(evolink::task{}));
            }
            break;
        case kind::wait_task:
        case kind::wait_id: {
            auto opts = w.wait_opts(f);
            std::tuple<evolink::error_code, evolink::task> r;
            if (f.k == kind::wait_task) r = co_await w.client.wait(t, opts, asio::as_tuple(asio::use_awaitable));
            else r = co_await w.client.wait(t.id, opts, asio::as_tuple(asio::use_awaitable));
            here("wait");
            f.waited.set(std::get<0>(r), std::move(std::get<1>(r)));
            break;
        }
        case kind::cancel_wait: {
            auto opts = w.wait_opts(f);
            f.cancel->started.store(true, std::memory_order_release);
            auto [wec, wt] = co_await w.client.wait(t, opts, awaitable_with(*f.cancel));
            here("wait");
            f.waited.set(wec, std::move(wt));
            break;
        }
        case kind::cancel_get: {
            w.server.inject(slow_get(t.id));
            f.cancel->started.store(true, std::memory_order_release);
            auto [gec, gt] = co_await w.client.get_task(t.id, awaitable_with(*f.cancel));
            here("get");
            f.waited.set(gec, std::move(gt));
            break;
        }
        case kind::cancel_submit: break;
        }
    } catch (const std::exception& e) {
        w.problems.add(f.label + ": exception " + e.what());
    }
}

/// A cancelled operation completed soon after the cancellation was emitted,
/// not when the server's delayed answer (30 s) came.
bool promptly(const once& o, const cancellable& c)
{
    return o.ready.load() && c.emitted != clock_type::time_point{} && o.at - c.emitted < 10s;
}

std::string hook_body(const std::string& id)
{
    boost::json::object o{{"id", id},
                          {"object", "image.generation.task"},
                          {"type", "image"},
                          {"status", "completed"},
                          {"progress", 100},
                          {"results", boost::json::array{"https://files.example.com/" + id + ".png"}}};
    return boost::json::serialize(o);
}

std::string hook_id(std::size_t i)
{
    std::string n = std::to_string(i);
    return "task-unified-1756817821-h" + std::string(7 - n.size(), '0') + n;
}

// The run happens once, the first time one of the TEST_CASEs below asks for
// its report; each TEST_CASE then checks one part of what it saw.

/// A `once`, read after every thread has stopped.
struct outcome {
    int calls = 0;
    bool ready = false;
    evolink::error_code ec{};
    evolink::task value{};
    std::string text; ///< describe(), for failure messages
};

outcome outcome_of(const once& o)
{
    return {o.calls.load(), o.ready.load(), o.ec, o.value, o.describe()};
}

struct flow_report {
    kind k = kind::get4;
    std::string label;
    outcome submitted;
    std::array<outcome, 4> gets;
    outcome waited;
    std::vector<int> progress;
    bool submit_prompt = false; ///< promptly(submitted, cancel), for cancelled flows
    bool wait_prompt = false;   ///< promptly(waited, cancel)
};

struct hook_report {
    std::string id;
    bool delivered = true;
    outcome waited;
    bool prompt = false; ///< promptly(waited, cancel), for the undelivered ones
};

/// Everything test 1's checks need, as plain data: the io_context, the
/// client, the server and the receiver are gone by the time it is checked.
struct test1_report {
    std::vector<std::string> problems;
    std::size_t done = 0, expected = 0;
    bool dry = false, stopped = false;
    std::vector<flow_report> flows;
    std::vector<hook_report> hooks;
    std::size_t creations = 0, cancel_submits = 0;
    std::size_t tasks_created = 0, image_posts = 0, video_posts = 0, task_gets = 0;
    std::vector<std::string> read_targets; ///< every read of a task, in order: a GET's target, or /v1/tasks/ID per id of a batch
    std::size_t batch_posts = 0, batched_reads = 0;
    std::size_t accepted = 0, duplicates = 0, refused = 0;
    std::size_t hook_count = 0, hook_duplicates = 0, hook_refused = 0;
};

test1_report run_test1()
{
    env_guard env;
    completions = 0;
    asio::io_context io(4);
    fake_server server(io.get_executor(), server_options());
    auto co = server.client_options();
    co.retry = evolink::retry_policy::none(); // exact request counts: nothing is sent twice
    co.logger = test_logger();
    evolink::client client(io.get_executor(), co);
    evolink::callback_receiver_options ro;
    ro.listen = false;
    ro.public_base_url = "https://hooks.example.com";
    evolink::callback_receiver receiver(io.get_executor(), ro);
    const std::string hook_target = receiver.callback_url().substr(ro.public_base_url.size());
    world w{io, server, client, receiver, strand_of(client), {}, {}};

    // The flows: 108 on 4 plain threads, 208 in coroutines (one each).
    constexpr std::size_t plain_threads = 4;
    const std::array<kind, 9> plain_mix = {kind::get4, kind::wait_task, kind::wait_id, kind::get4, kind::wait_task,
                                           kind::wait_id, kind::cancel_wait, kind::cancel_get, kind::cancel_submit};
    const std::array<kind, 10> coro_mix = {kind::get4,    kind::wait_task, kind::wait_id,     kind::wait_task,
                                           kind::wait_id, kind::get4,      kind::wait_task,   kind::wait_id,
                                           kind::cancel_wait,              kind::cancel_get};
    std::deque<flow> flows; // stable addresses
    std::vector<std::vector<flow*>> by_thread(plain_threads);
    std::vector<flow*> coroutine_flows;
    std::vector<cancellable*> to_cancel;
    const std::array<asio::cancellation_type, 3> types = {asio::cancellation_type::terminal,
                                                          asio::cancellation_type::partial,
                                                          asio::cancellation_type::total};
    const std::array<std::chrono::milliseconds, 4> delays = {0ms, 2ms, 15ms, 40ms};
    auto add = [&](kind k, std::string label) -> flow& {
        auto& f = flows.emplace_back();
        f.k = k;
        f.label = std::move(label) + " (" + name_of(k) + ")";
        if (f.cancelled()) {
            // Every kind of cancellation, in every phase: a get_task or a
            // wait ends at once whatever the type. A submit whose request is
            // written lets only terminal interrupt it (total and partial wait
            // for the answer, 30 s away here): its flows are cancelled with
            // terminal.
            auto n = to_cancel.size();
            auto type = k == kind::cancel_submit ? asio::cancellation_type::terminal : types[n % types.size()];
            f.cancel = std::make_unique<cancellable>(io, type, delays[n % delays.size()]);
            to_cancel.push_back(f.cancel.get());
        }
        return f;
    };
    for (std::size_t r = 0; r < 3; ++r)
        for (std::size_t th = 0; th < plain_threads; ++th)
            for (std::size_t m = 0; m < plain_mix.size(); ++m)
                by_thread[th].push_back(&add(plain_mix[m], "thread " + std::to_string(th) + " #" +
                                                               std::to_string(r * plain_mix.size() + m)));
    for (std::size_t i = 0; i < 20 * coro_mix.size(); ++i)
        coroutine_flows.push_back(&add(coro_mix[i % coro_mix.size()], "coroutine #" + std::to_string(i)));
    // Coroutines' video submits, cancelled too (the canned answers below).
    for (std::size_t i = 0; i < 8; ++i)
        coroutine_flows.push_back(&add(kind::cancel_submit, "coroutine video #" + std::to_string(i)));

    std::size_t cancel_submits = 0, creations = 0, get_calls = 0, wait_calls = 0, expected = 0;
    for (auto& f : flows) {
        cancel_submits += f.k == kind::cancel_submit;
        creations += f.k != kind::cancel_submit;
        get_calls += f.k == kind::get4 ? 4 : f.k == kind::cancel_get;
        wait_calls += f.k == kind::wait_task || f.k == kind::wait_id || f.k == kind::cancel_wait;
        expected += f.expected_completions();
    }
    REQUIRE(creations + cancel_submits >= 200);
    REQUIRE(get_calls >= 200);
    REQUIRE(wait_calls >= 200);

    // Every video submit gets an answer only after 30 s: cancelled long before.
    canned_response slow_video;
    slow_video.method = "POST";
    slow_video.path_prefix = "/v1/videos/generations";
    slow_video.status = 200;
    slow_video.body = "{}";
    slow_video.delay = 30s;
    slow_video.times = static_cast<int>(cancel_submits);
    server.inject(slow_video);

    // Callbacks: 200 delivered (waited for from coroutines and from the
    // threads that deliver them), 10 never delivered (waits cancelled).
    constexpr std::size_t hook_count = 200, hook_threads = 4;
    std::deque<hook> hooks;
    for (std::size_t i = 0; i < hook_count + 10; ++i) {
        auto& h = hooks.emplace_back();
        h.id = hook_id(i);
        h.delivered = i < hook_count;
        if (!h.delivered) {
            auto n = to_cancel.size();
            h.cancel = std::make_unique<cancellable>(io, types[n % types.size()], delays[n % delays.size()]);
            to_cancel.push_back(h.cancel.get());
        }
    }
    expected += hooks.size();
    std::size_t hook_duplicates = 0, hook_refused = 0;
    for (std::size_t i = 0; i < hook_count; ++i) {
        hook_duplicates += i % 8 == 0;
        hook_refused += i % 20 == 0 ? 2 : 0;
    }

    auto started = clock_type::now();
    io_pool pool(io, 4);
    thread_group threads;
    threads.threads.emplace_back([&] { cancel_all(to_cancel, w.abort, w.problems); });

    // Coroutines, spawned from here, running on the pool.
    for (auto* f : coroutine_flows) {
        auto ex = f->cancel ? asio::any_io_executor(f->cancel->strand) : asio::any_io_executor(io.get_executor());
        asio::co_spawn(ex, drive_coroutine(w, *f), asio::detached);
    }
    for (std::size_t i = 0; i < hooks.size(); ++i) {
        auto& h = hooks[i];
        if (h.delivered && i % 2 == 1) continue; // waited for by the delivering thread
        auto ex = h.cancel ? asio::any_io_executor(h.cancel->strand) : asio::any_io_executor(io.get_executor());
        asio::co_spawn(
            ex,
            [&w, &h]() -> asio::awaitable<void> {
                if (h.cancel) {
                    h.cancel->started.store(true, std::memory_order_release);
                    auto [ec, t] = co_await w.receiver.wait(h.id, awaitable_with(*h.cancel));
                    if (!h.cancel->strand.running_in_this_thread()) w.problems.add(h.id + ": resumed off its strand");
                    h.waited.set(ec, std::move(t));
                } else {
                    auto [ec, t] = co_await w.receiver.wait(h.id, asio::as_tuple(asio::use_awaitable));
                    h.waited.set(ec, std::move(t));
                }
            },
            asio::detached);
    }

    // Plain threads: the client's flows, and the receiver's handle().
    for (std::size_t th = 0; th < plain_threads; ++th)
        threads.threads.emplace_back([&w, &by_thread, th] { drive_from_thread(w, by_thread[th]); });
    for (std::size_t th = 0; th < hook_threads; ++th)
        threads.threads.emplace_back([&, th] {
            for (std::size_t i = th; i < hook_count; i += hook_threads) {
                if (i % 2 == 0) continue; // waited for by a coroutine
                auto h = [&w, &hk = hooks[i]](evolink::error_code ec, evolink::task t) {
                    if (!on_pool_thread) w.problems.add(hk.id + ": handler not on a pool thread");
                    hk.waited.set(ec, std::move(t));
                };
                receiver.wait(hooks[i].id, asio::bind_executor(io.get_executor(), std::move(h)));
            }
            for (std::size_t i = th; i < hook_count; i += hook_threads) {
                auto body = hook_body(hooks[i].id);
                auto r = receiver.handle("POST", hook_target, body);
                if (r.status != 200) w.problems.add(hooks[i].id + ": handle() answered " + std::to_string(r.status));
                if (i % 8 == 0 && receiver.handle("POST", hook_target + "?again=1", body).status != 200)
                    w.problems.add(hooks[i].id + ": the duplicate was not answered 200");
                if (i % 20 == 0) {
                    auto wrong = ro.path + "/" + std::string(64, 'x');
                    if (receiver.handle("POST", wrong, body).status != 404)
                        w.problems.add("a wrong secret was not 404");
                    if (receiver.handle("GET", hook_target, "").status != 405) w.problems.add("a GET was not 405");
                }
            }
        });

    auto until = clock_type::now() + completion_limit;
    while (completions < expected && clock_type::now() < until) std::this_thread::sleep_for(10ms);
    auto done = completions.load();
    w.abort = true;
    threads.join();
    server.stop();
    receiver.stop();
    bool dry = pool.finish(30s);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - started);
    WARN("threads test 1: " << creations + cancel_submits << " submits, " << get_calls << " get_task, " << wait_calls
                              << " waits (" << to_cancel.size() - 10 << " cancelled), " << coroutine_flows.size()
                              << " client coroutines; " << expected << " completions in " << took.count() << " ms");

    test1_report rep;
    rep.problems = w.problems.list();
    rep.done = done;
    rep.expected = expected;
    rep.dry = dry;
    rep.stopped = io.stopped();
    for (auto& f : flows) {
        flow_report fr;
        fr.k = f.k;
        fr.label = f.label;
        fr.submitted = outcome_of(f.submitted);
        fr.waited = outcome_of(f.waited);
        fr.progress = f.progress;
        for (std::size_t i = 0; i < 4; ++i) fr.gets[i] = outcome_of(f.gets[i]);
        if (f.cancel) {
            fr.submit_prompt = promptly(f.submitted, *f.cancel);
            fr.wait_prompt = promptly(f.waited, *f.cancel);
        }
        rep.flows.push_back(std::move(fr));
    }
    for (auto& h : hooks)
        rep.hooks.push_back({h.id, h.delivered, outcome_of(h.waited), h.cancel && promptly(h.waited, *h.cancel)});
    rep.creations = creations;
    rep.cancel_submits = cancel_submits;
    rep.tasks_created = server.tasks_created();
    rep.image_posts = server.count("POST", "/v1/images/generations");
    rep.video_posts = server.count("POST", "/v1/videos/generations");
    rep.task_gets = server.count("GET", "/v1/tasks/");
    rep.batch_posts = server.count_route("POST", "/v1/tasks/batch");
    for (auto& r : server.requests()) {
        if (r.method == "GET" && r.target.starts_with("/v1/tasks/")) rep.read_targets.push_back(r.target);
        if (r.method != "POST" || r.target != "/v1/tasks/batch") continue;
        auto body = boost::json::parse(r.body);
        for (auto& id : body.at("task_ids").as_array()) {
            rep.read_targets.push_back("/v1/tasks/" + std::string(id.as_string()));
            ++rep.batched_reads;
        }
    }
    rep.accepted = receiver.accepted();
    rep.duplicates = receiver.duplicates();
    rep.refused = receiver.refused();
    rep.hook_count = hook_count;
    rep.hook_duplicates = hook_duplicates;
    rep.hook_refused = hook_refused;
    return rep;
}

/// Test 1's report: run on the first call (a failed run is run again).
const test1_report& test1()
{
    static const test1_report rep = run_test1();
    return rep;
}

} // namespace

TEST_CASE("one client, server and receiver used at once from plain threads and coroutines on four threads")
{
    // Every operation completed, nothing went wrong off the main thread, nothing was left pending.
    const auto& r = test1();
    for (auto& p : r.problems) UNSCOPED_INFO(p);
    CHECK(r.problems.empty());
    CHECK(r.done == r.expected);
    CHECK(r.dry); // nothing left pending: no timer, socket or handler
    CHECK(r.stopped);
}

TEST_CASE("threads test 1: every operation completed exactly once, with the right result")
{
    const auto& r = test1();
    for (auto& f : r.flows) {
        INFO(f.label << ": submit " << f.submitted.text << "; wait/cancelled op " << f.waited.text);
        CHECK(f.submitted.calls == 1);
        if (f.k == kind::cancel_submit) {
            // Before the request was written: nothing happened; after: the outcome is unknown.
            CHECK((f.submitted.ec == asio::error::operation_aborted || f.submitted.ec == evolink::errc::outcome_unknown));
            CHECK(f.submit_prompt);
            continue;
        }
        REQUIRE(f.submitted.ready);
        REQUIRE(!f.submitted.ec);
        const auto& t = f.submitted.value;
        CHECK(t.status == task_status::pending);
        switch (f.k) {
        case kind::get4: {
            const std::array<int, 4> pct = {25, 50, 75, 100};
            for (std::size_t i = 0; i < 4; ++i) {
                INFO("get " << i + 1 << ": " << f.gets[i].text);
                CHECK(f.gets[i].calls == 1);
                CHECK(!f.gets[i].ec);
                CHECK(f.gets[i].value.id == t.id);
                CHECK(f.gets[i].value.progress == pct[i]);
                CHECK(f.gets[i].value.status == (i < 3 ? task_status::processing : task_status::completed));
            }
            CHECK(f.gets[3].value.results.size() == 1);
            break;
        }
        case kind::wait_task:
        case kind::wait_id:
            CHECK(f.waited.calls == 1);
            CHECK(!f.waited.ec);
            CHECK(f.waited.value.id == t.id);
            CHECK(f.waited.value.status == task_status::completed);
            CHECK(f.waited.value.results.size() == 1);
            // wait(task) reports the known pending state first; wait(id) starts with the first read.
            CHECK(f.progress == (f.k == kind::wait_task ? std::vector<int>{0, 25, 50, 75, 100}
                                                        : std::vector<int>{25, 50, 75, 100}));
            break;
        case kind::cancel_wait:
            CHECK(f.waited.calls == 1);
            CHECK(f.waited.ec == asio::error::operation_aborted);
            CHECK(f.wait_prompt);
            CHECK(f.waited.value.id == t.id); // the task last seen
            CHECK(f.waited.value.status == task_status::pending);
            break;
        case kind::cancel_get:
            CHECK(f.waited.calls == 1);
            CHECK(f.waited.ec == asio::error::operation_aborted);
            CHECK(f.wait_prompt);
            break;
        case kind::cancel_submit: break;
        }
    }
}

TEST_CASE("threads test 1: the server saw exactly what the flows sent")
{
    const auto& r = test1();
    // One task per creation, each created once.
    std::set<std::string> ids;
    std::map<std::string, const flow_report*> by_id;
    for (auto& f : r.flows) {
        if (f.k == kind::cancel_submit || !f.submitted.ready || f.submitted.ec) continue;
        INFO(f.label);
        CHECK(ids.insert(f.submitted.value.id).second);
        by_id[f.submitted.value.id] = &f;
    }
    CHECK(r.tasks_created == r.creations);
    CHECK(ids.size() == r.creations);
    CHECK(r.image_posts == r.creations);
    CHECK(r.video_posts <= r.cancel_submits);
    std::map<std::string, std::size_t> reads;
    for (auto& target : r.read_targets) ++reads[target.substr(std::string("/v1/tasks/").size())];
    // Waits' reads may go in batches (POST /v1/tasks/batch): each id in one is a read.
    CHECK(r.read_targets.size() == r.task_gets + r.batched_reads);
    for (auto& [id, n] : reads) {
        INFO(id);
        REQUIRE(by_id.count(id) == 1); // no read of a task nobody created
        auto k = by_id[id]->k;
        if (k == kind::cancel_get) CHECK(n <= 1);
        else if (k != kind::cancel_wait) CHECK(n == 4);
    }
    for (auto& [id, f] : by_id)
        if (f->k == kind::get4 || f->k == kind::wait_task || f->k == kind::wait_id) CHECK(reads[id] == 4);
}

TEST_CASE("threads test 1: the receiver handed every callback to its wait once")
{
    // Duplicates and bad requests counted, the undelivered waits cancelled.
    const auto& r = test1();
    for (auto& h : r.hooks) {
        INFO(h.id);
        CHECK(h.waited.calls == 1);
        if (h.delivered) {
            CHECK(!h.waited.ec);
            CHECK(h.waited.value.id == h.id);
            CHECK(h.waited.value.status == task_status::completed);
        } else {
            CHECK(h.waited.ec == asio::error::operation_aborted);
            CHECK(h.prompt);
        }
    }
    CHECK(r.accepted == r.hook_count + r.hook_duplicates);
    CHECK(r.duplicates == r.hook_duplicates);
    CHECK(r.refused == r.hook_refused);
}

// ---------------------------------------------------------------------------
// Test 2: the client goes away while its operations run.

TEST_CASE("a client destroyed while operations are in flight: they complete, nothing crashes or leaks")
{
    env_guard env;
    completions = 0;
    asio::io_context io(4);
    fake_server server(io.get_executor(), server_options());
    auto co = server.client_options();
    co.retry = evolink::retry_policy::none();
    co.max_connections_per_host = 2; // operations queue for a connection when the client goes
    std::optional<evolink::client> client(std::in_place, io.get_executor(), co);
    const auto client_strand = strand_of(*client); // outlives the client object
    problem_log problems;
    std::atomic<bool> abort{false};
    io_pool pool(io, 4);

    // Records into `o`; unbound, so it must run on the client's strand, also
    // after the client object is gone.
    auto recorder = [&](once& o) {
        return [&o, &problems, client_strand](evolink::error_code ec, evolink::task t) {
            if (!client_strand.running_in_this_thread()) problems.add("a handler ran off the client's strand");
            o.set(ec, std::move(t));
        };
    };

    // Tasks to work on, created first; four of them never finish.
    constexpr std::size_t n_tasks = 48, coroutine_tasks = 12, n_never = 4;
    std::deque<once> created(n_tasks), never_created(n_never);
    for (auto& c : created) client->submit(image("a harbour"), recorder(c));
    for (auto& c : never_created) client->submit(image(never_prompt), recorder(c));
    for (auto& c : created) REQUIRE(c.await(abort));
    for (auto& c : never_created) REQUIRE(c.await(abort));
    for (auto& c : created) REQUIRE(!c.ec);
    for (auto& c : never_created) REQUIRE(!c.ec);

    // Waits that are still running when the client goes, whatever the
    // timing: cancelled afterwards, through the client's state they keep.
    std::deque<once> never_waits(n_never);
    std::deque<cancellable> never_cancel;
    for (std::size_t i = 0; i < n_never; ++i) {
        auto& c = never_cancel.emplace_back(io, asio::cancellation_type::terminal, 0ms);
        auto h = [&o = never_waits[i], &c, &problems](evolink::error_code ec, evolink::task t) {
            if (!c.strand.running_in_this_thread()) problems.add("a cancellable handler ran off its strand");
            o.set(ec, std::move(t));
        };
        client->wait(never_created[i].value, fast_wait(),
                     asio::bind_cancellation_slot(c.signal.slot(), asio::bind_executor(c.strand, std::move(h))));
    }

    // Then, at once: from 3 plain threads, a get_task, a wait(task) or a
    // wait(id) per task, and new submits; from coroutines, waits.
    std::deque<once> results(n_tasks), submits(12);
    const auto wo = fast_wait();
    {
        thread_group starters;
        for (std::size_t th = 0; th < 3; ++th)
            starters.threads.emplace_back([&, th] {
                auto& cl = *client;
                for (std::size_t i = coroutine_tasks + th; i < n_tasks; i += 3) {
                    const auto& t = created[i].value;
                    auto& r = results[i];
                    switch (i % 3) {
                    case 0: cl.get_task(t.id, recorder(r)); break;
                    case 1:
                        cl.wait(t, wo, asio::bind_executor(io.get_executor(), [&r, &problems](auto ec, auto t2) {
                                    if (!on_pool_thread) problems.add("a bound handler ran off the pool");
                                    r.set(ec, std::move(t2));
                                }));
                        break;
                    default: cl.wait(t.id, wo, recorder(r)); break;
                    }
                }
                for (std::size_t i = th; i < submits.size(); i += 3)
                    cl.submit(image("a lighthouse"), recorder(submits[i]));
            });
        for (std::size_t i = 0; i < coroutine_tasks; ++i)
            asio::co_spawn(
                io,
                [&, i]() -> asio::awaitable<void> {
                    // The client is only touched by the call; the operation
                    // owns what it needs.
                    auto [ec, t] = co_await client->wait(created[i].value, wo, asio::as_tuple(asio::use_awaitable));
                    if (!on_pool_thread) problems.add("a coroutine resumed off the pool");
                    results[i].set(ec, std::move(t));
                },
                asio::detached);
        starters.join();
    }
    // The coroutines have started their waits once the server sees their reads.
    auto until = clock_type::now() + completion_limit;
    for (std::size_t i = 0; i < coroutine_tasks; ++i)
        while (server.task_reads(created[i].value.id) == 0 && clock_type::now() < until)
            std::this_thread::sleep_for(200us);
    const std::size_t expected = 2 * (n_tasks + n_never) + submits.size(); // the creations included
    const std::size_t in_flight = expected - completions.load();
    client.reset(); // operations in flight keep the client's state alive
    WARN("threads test 2: " << in_flight << " of " << expected - n_tasks - n_never
                              << " operations not finished when the client was destroyed");
    for (auto& c : never_cancel) {
        c.emitted = clock_type::now();
        asio::post(c.strand, [&c] { c.signal.emit(c.type); });
    }

    while (completions < expected && clock_type::now() < until) std::this_thread::sleep_for(10ms);
    auto done = completions.load();
    server.stop();
    bool dry = pool.finish(30s);

    for (auto& p : problems.list()) UNSCOPED_INFO(p);
    CHECK(problems.list().empty());
    CHECK(done == expected);
    CHECK(dry);
    CHECK(in_flight >= n_never);
    for (std::size_t i = 0; i < n_never; ++i) {
        INFO("never-finishing task " << i << ": " << never_waits[i].describe());
        CHECK(never_waits[i].calls.load() == 1);
        CHECK(never_waits[i].ec == asio::error::operation_aborted);
        CHECK(promptly(never_waits[i], never_cancel[i]));
        CHECK(never_waits[i].value.id == never_created[i].value.id);
    }
    for (std::size_t i = 0; i < n_tasks; ++i) {
        INFO("task " << i);
        CHECK(results[i].calls.load() == 1);
        CHECK(!results[i].ec);
        CHECK(results[i].value.id == created[i].value.id);
        if (i >= coroutine_tasks && i % 3 == 0) {
            CHECK(results[i].value.status == task_status::processing); // one get_task: the first step
            CHECK(results[i].value.progress == 25);
        } else {
            CHECK(results[i].value.status == task_status::completed);
        }
    }
    for (auto& s : submits) {
        CHECK(s.calls.load() == 1);
        CHECK(!s.ec);
        CHECK(s.value.status == task_status::pending);
    }
    CHECK(server.tasks_created() == n_tasks + n_never + submits.size());
    CHECK(server.count("POST", "/v1/images/generations") == n_tasks + n_never + submits.size());
}
