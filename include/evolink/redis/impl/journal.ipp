// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_REDIS_IMPL_JOURNAL_IPP
#define EVOLINK_REDIS_IMPL_JOURNAL_IPP

// redis_journal's state: synchronous hiredis connections (the journal's
// calls block by contract and come from the file executor), the Lua scripts
// that keep each change atomic, and the heartbeat thread. What the answers
// mean is decided in detail/redis_decisions.hpp (lease_book), without I/O.

#include <evolink/detail/redis_decisions.hpp>
#include <evolink/redis/journal.hpp>

#include <hiredis/hiredis.h>

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace evolink {
namespace detail {

EVOLINK_INLINE redis_reply copy_sync_reply(const redisReply* r)
{
    redis_reply out;
    switch (r->type) {
    case REDIS_REPLY_STRING: out.type = redis_reply::kind::string; break;
    case REDIS_REPLY_STATUS: out.type = redis_reply::kind::status; break;
    case REDIS_REPLY_ERROR: out.type = redis_reply::kind::error; break;
    case REDIS_REPLY_INTEGER: out.type = redis_reply::kind::integer; break;
    case REDIS_REPLY_ARRAY: out.type = redis_reply::kind::array; break;
    default: out.type = redis_reply::kind::nil; break;
    }
    if (r->str) out.str.assign(r->str, r->len);
    out.integer = r->integer;
    if (r->type == REDIS_REPLY_ARRAY)
        for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_sync_reply(r->element[i]));
    return out;
}

/// One blocking connection, made on first use and again after an error.
/// Errors are std::runtime_error (the journal's contract); their text names
/// the server, never the password.
class redis_sync {
public:
    explicit redis_sync(const redis_options& o) : o_(o) {}
    ~redis_sync() { reset(); }
    redis_sync(const redis_sync&) = delete;
    redis_sync& operator=(const redis_sync&) = delete;

    /// Runs one command. The journal's commands are all idempotent, so one
    /// that failed on a connection that went stale (Redis restarted) is sent
    /// once more on a new one.
    redis_reply run(const std::vector<std::string>& args)
    {
        for (int attempt = 0;; ++attempt) {
            std::string why;
            if (auto* c = get(why)) {
                std::vector<const char*> argv;
                std::vector<std::size_t> lens;
                for (auto& a : args) {
                    argv.push_back(a.data());
                    lens.push_back(a.size());
                }
                auto* r = static_cast<redisReply*>(redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data()));
                if (r) {
                    auto v = copy_sync_reply(r);
                    freeReplyObject(r);
                    if (v.type == redis_reply::kind::error) throw std::runtime_error("Redis at " + where() + " answered: " + v.str);
                    return v;
                }
                why = c->errstr;
                reset();
            }
            if (attempt == 1) throw std::runtime_error("Redis at " + where() + " is unreachable: " + why);
        }
    }

private:
    std::string where() const { return o_.host + ":" + std::to_string(o_.port); }

    redisContext* get(std::string& why)
    {
        if (c_) return c_;
        auto tv = [](std::chrono::milliseconds d) {
            timeval t{};
            t.tv_sec = static_cast<decltype(t.tv_sec)>(d.count() / 1000);
            t.tv_usec = static_cast<decltype(t.tv_usec)>((d.count() % 1000) * 1000);
            return t;
        };
        c_ = redisConnectWithTimeout(o_.host.c_str(), o_.port, tv(o_.connect_timeout));
        if (!c_ || c_->err) {
            why = c_ ? c_->errstr : "out of memory";
            reset();
            return nullptr;
        }
        redisSetTimeout(c_, tv(o_.command_timeout));
        if (!o_.password.empty()) {
            auto* r = o_.user.empty() ? redisCommand(c_, "AUTH %b", o_.password.data(), o_.password.size())
                                      : redisCommand(c_, "AUTH %b %b", o_.user.data(), o_.user.size(),
                                                     o_.password.data(), o_.password.size());
            auto* reply = static_cast<redisReply*>(r);
            bool refused = !reply || reply->type == REDIS_REPLY_ERROR;
            why = !reply ? std::string(c_->errstr) : refused ? "AUTH refused: " + std::string(reply->str, reply->len) : "";
            if (reply) freeReplyObject(reply);
            if (refused) {
                reset();
                return nullptr;
            }
        }
        return c_;
    }

    void reset()
    {
        if (c_) redisFree(c_);
        c_ = nullptr;
    }

    const redis_options& o_;
    redisContext* c_ = nullptr;
};

// Every script first makes sure the consumer group exists, and names the
// fleet's epoch: a value set when the group is made. A Redis that restarted
// empty gets a new epoch, and the heartbeat records its owner's tasks again.
// KEYS: 1 the stream, 2 task id -> entry id, 3 the epoch. Group "evolink".
inline constexpr const char* redis_script_ensure = R"lua(
local function ensure()
  local e = redis.call('GET', KEYS[3])
  if not e then
    redis.pcall('XGROUP', 'CREATE', KEYS[1], 'evolink', '0', 'MKSTREAM')
    local t = redis.call('TIME')
    e = t[1] .. '.' .. t[2]
    redis.call('SET', KEYS[3], e)
  end
  return e
end
local function record(me, task, model, type, at)
  local id = redis.call('XADD', KEYS[1], '*', 'task', task, 'model', model, 'type', type, 'at', at)
  redis.call('XCLAIM', KEYS[1], 'evolink', me, 0, id, 'FORCE', 'JUSTID')
  redis.call('HSET', KEYS[2], task, id)
  return id
end
)lua";

// ARGV: me, task, model, type, at. -> {entry id, owner, epoch}. A task the
// fleet has already (an add sent again) keeps its entry and its owner.
inline constexpr const char* redis_script_add = R"lua(
local e = ensure()
local old = redis.call('HGET', KEYS[2], ARGV[2])
if old then
  local p = redis.call('XPENDING', KEYS[1], 'evolink', old, old, 1)
  if #p > 0 then return {old, p[1][2], e} end
end
return {record(ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]), ARGV[1], e}
)lua";

// ARGV: task. -> 1 when it was there.
inline constexpr const char* redis_script_finish = R"lua(
local id = redis.call('HGET', KEYS[2], ARGV[1])
if not id then return 0 end
redis.pcall('XACK', KEYS[1], 'evolink', id)
redis.call('XDEL', KEYS[1], id)
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
)lua";

// ARGV: me, the epoch last seen, then (task, model, type, at) per owned
// task. -> {epoch, {status per task}} (detail::beat_status). Only the
// owner's own entries are refreshed (XCLAIM to itself, idle 0): one that
// another instance claimed meanwhile stays with it.
inline constexpr const char* redis_script_beat = R"lua(
local e = ensure()
-- No epoch known yet: this instance has recorded nothing, nothing to restore.
local emptied = ARGV[2] ~= '' and e ~= ARGV[2]
local out = {}
for i = 3, #ARGV, 4 do
  local id = redis.call('HGET', KEYS[2], ARGV[i])
  local st = 0
  if id then
    local p = redis.call('XPENDING', KEYS[1], 'evolink', id, id, 1)
    if #p > 0 and p[1][2] == ARGV[1] then
      redis.call('XCLAIM', KEYS[1], 'evolink', ARGV[1], 0, id, 'JUSTID')
      st = 1
    end
  elseif emptied then
    record(ARGV[1], ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3])
    st = 2
  end
  out[#out + 1] = st
end
return {e, out}
)lua";

// ARGV: me. -> this consumer's entries, oldest first.
inline constexpr const char* redis_script_own = R"lua(
ensure()
local p = redis.call('XPENDING', KEYS[1], 'evolink', '-', '+', 100000, ARGV[1])
local out = {}
for _, x in ipairs(p) do
  local r = redis.call('XRANGE', KEYS[1], x[1], x[1])
  if #r > 0 then out[#out + 1] = r[1] end
end
return out
)lua";

EVOLINK_INLINE std::string default_instance_name()
{
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = 0;
    return std::string(host[0] ? host : "host") + "-" + std::to_string(::getpid());
}

struct redis_journal_state {
    redis_journal_state(redis_options r, redis_journal_options o)
        : redis(std::move(r)), opts(std::move(o)), book(opts.heartbeat, opts.claim_after), calls(redis), beats(redis)
    {
        if (opts.instance.empty()) opts.instance = default_instance_name();
        auto base = redis.key_prefix + "fleet:" + opts.fleet + ":";
        keys = {base + "tasks", base + "ids", base + "epoch"};
    }

    redis_options redis;
    redis_journal_options opts;
    std::vector<std::string> keys;

    std::mutex book_mutex; // guards book and epoch
    lease_book book;
    std::string epoch;

    std::mutex calls_mutex; // the file executor's calls share one connection
    redis_sync calls;
    std::mutex beats_mutex; // the heartbeat's own connection: never behind a call
    redis_sync beats;

    std::mutex stop_mutex;
    std::condition_variable stop_cv;
    bool stopping = false;
    std::thread thread;

    std::vector<std::string> script(const char* body, std::vector<std::string> argv) const
    {
        std::vector<std::string> args{"EVAL", std::string(redis_script_ensure) + body, "3"};
        args.insert(args.end(), keys.begin(), keys.end());
        for (auto& a : argv) args.push_back(std::move(a));
        return args;
    }

    redis_reply call(const std::vector<std::string>& args)
    {
        std::lock_guard lock(calls_mutex);
        return calls.run(args);
    }

    std::vector<journal_entry> claim(redis_sync& conn, std::mutex& m)
    {
        std::vector<fleet_entry> got;
        std::string cursor = "0-0";
        for (int page = 0; page < 1000; ++page) { // a bound: 100,000 tasks per claim
            redis_reply r;
            {
                std::lock_guard lock(m);
                try {
                    r = conn.run({"XAUTOCLAIM", keys[0], "evolink", opts.instance,
                                  std::to_string(opts.claim_after.count()), cursor, "COUNT", "100"});
                } catch (const std::runtime_error& e) {
                    if (std::string_view(e.what()).find("NOGROUP") != std::string_view::npos) break; // nothing yet
                    throw;
                }
            }
            auto p = parse_autoclaim(r);
            if (!p) throw std::runtime_error("Redis answered XAUTOCLAIM with something unexpected");
            for (auto& f : p->entries) got.push_back(std::move(f));
            cursor = p->cursor;
            if (cursor == "0-0") break;
        }
        std::vector<journal_entry> out;
        for (auto& f : got) out.push_back(f.e);
        std::lock_guard lock(book_mutex);
        book.claimed(std::move(got));
        return out;
    }

    /// Finishes `id` on the heartbeat's connection; false when Redis did
    /// not take it.
    bool beat_finish(const std::string& id)
    {
        try {
            std::lock_guard lock(beats_mutex);
            beats.run(script(redis_script_finish, {id}));
            return true;
        } catch (const std::exception&) {
            return false;
        }
    }

    bool beat()
    {
        std::vector<fleet_entry> sent;
        std::vector<std::string> argv;
        {
            std::lock_guard lock(book_mutex);
            sent = book.beat_list();
            argv = {opts.instance, epoch};
        }
        for (auto& f : sent) {
            argv.push_back(f.e.task_id);
            argv.push_back(f.e.model);
            argv.push_back(f.e.type);
            argv.push_back(std::to_string(f.e.recorded_at));
        }
        redis_reply r;
        try {
            std::lock_guard lock(beats_mutex);
            r = beats.run(script(redis_script_beat, std::move(argv)));
        } catch (const std::exception& e) {
            std::lock_guard lock(book_mutex);
            if (book.beat_failed(std::chrono::steady_clock::now()))
                redis.logger(log_level::error, "no heartbeat reached Redis for claim_after: other instances may "
                                               "claim this instance's tasks (" + std::string(e.what()) + ")");
            return false;
        }
        std::optional<std::vector<long long>> statuses;
        if (r.type == redis_reply::kind::array && r.elements.size() == 2 && r.elements[0].type == redis_reply::kind::string)
            statuses = parse_integers(r.elements[1]);
        if (!statuses) return false;
        lease_book::beat_result res;
        {
            std::lock_guard lock(book_mutex);
            epoch = r.elements[0].str;
            res = book.beat_ok(std::chrono::steady_clock::now(), sent, *statuses);
        }
        // Finished here while the beat recorded it again: if this fails, it
        // is left in the fleet's journal, and whoever claims it reads a
        // finished task and ends at once.
        for (auto& id : res.refinish) beat_finish(id);
        std::vector<std::string> due;
        {
            std::lock_guard lock(book_mutex);
            due = book.finishes_due();
        }
        for (auto& id : due) {
            if (!beat_finish(id)) break; // Redis went away again: the next beat tries
            std::lock_guard lock(book_mutex);
            book.finished(id);
        }
        if (res.readded) redis.logger(log_level::warning, "Redis had lost " + std::to_string(res.readded) +
                                                              " task(s) of this instance; recorded them again");
        if (!res.lost.empty()) {
            redis.logger(log_level::warning, std::to_string(res.lost.size()) + " task(s) of this instance are owned by another now");
            if (opts.on_lost) opts.on_lost(std::move(res.lost));
        }
        return true;
    }

    void run()
    {
        auto next = std::chrono::steady_clock::now();
        for (;;) {
            {
                std::unique_lock lock(stop_mutex);
                if (stop_cv.wait_until(lock, next, [this] { return stopping; })) return;
            }
            bool ok = beat();
            next = book.next_beat(std::chrono::steady_clock::now());
            bool due;
            {
                std::lock_guard lock(book_mutex);
                due = ok && opts.on_claimed && book.claim_due(std::chrono::steady_clock::now());
            }
            if (!due) continue;
            try {
                auto got = claim(beats, beats_mutex);
                if (!got.empty()) {
                    redis.logger(log_level::info, "claimed " + std::to_string(got.size()) + " task(s) of stopped instances");
                    opts.on_claimed(std::move(got));
                }
            } catch (const std::exception& e) {
                redis.logger(log_level::warning, std::string("claiming failed: ") + e.what());
            }
        }
    }

    void stop()
    {
        {
            std::lock_guard lock(stop_mutex);
            stopping = true;
        }
        stop_cv.notify_all();
        if (thread.joinable() && thread.get_id() != std::this_thread::get_id()) thread.join();
    }
};

} // namespace detail

EVOLINK_DECL redis_journal::redis_journal(redis_options redis, redis_journal_options opts)
{
    auto fail = [](const char* param, std::string message) {
        diagnostics d;
        d.param = param;
        d.message = std::move(message);
        throw evolink::error(make_error_code(errc::invalid_options), std::move(d));
    };
    if (redis.host.empty()) fail("host", "redis_options::host is empty");
    if (auto bad = detail::lease_book::check(opts.heartbeat, opts.claim_after)) fail("claim_after", *bad);
    if (opts.fleet.empty()) fail("fleet", "redis_journal_options::fleet is empty");
    st_ = std::make_unique<detail::redis_journal_state>(std::move(redis), std::move(opts));
    st_->thread = std::thread([s = st_.get()] { s->run(); });
}

EVOLINK_DECL redis_journal::~redis_journal() { stop(); }

EVOLINK_DECL void redis_journal::ready() { st_->call({"PING"}); }

EVOLINK_DECL void redis_journal::add(const journal_entry& e)
{
    auto r = st_->call(st_->script(detail::redis_script_add, {st_->opts.instance, e.task_id, e.model, e.type,
                                                              std::to_string(e.recorded_at)}));
    if (r.type != redis_reply::kind::array || r.elements.size() != 3)
        throw std::runtime_error("Redis answered the journal's add with something unexpected");
    std::lock_guard lock(st_->book_mutex);
    // The epoch the first records were made in: a heartbeat that sees
    // another one knows Redis lost them. Only heartbeats move it on after.
    if (st_->epoch.empty()) st_->epoch = r.elements[2].str;
    st_->book.added(e, r.elements[0].str, r.elements[1].str, st_->opts.instance);
}

EVOLINK_DECL void redis_journal::finish(std::string_view task_id, std::string_view)
{
    std::string id(task_id);
    {
        std::lock_guard lock(st_->book_mutex);
        st_->book.finishing(id);
    }
    try {
        st_->call(st_->script(detail::redis_script_finish, {id}));
    } catch (const std::exception& e) {
        std::lock_guard lock(st_->book_mutex);
        st_->book.finish_failed(id);
        throw std::runtime_error(std::string(e.what()) + " (the heartbeat marks it finished once Redis answers)");
    }
    std::lock_guard lock(st_->book_mutex);
    st_->book.finished(id);
}

EVOLINK_DECL std::vector<journal_entry> redis_journal::unfinished()
{
    auto r = st_->call(st_->script(detail::redis_script_own, {st_->opts.instance}));
    std::vector<detail::fleet_entry> own;
    for (auto& e : r.elements)
        if (auto f = detail::parse_stream_entry(e)) own.push_back(std::move(*f));
    std::vector<journal_entry> out;
    for (auto& f : own) out.push_back(f.e);
    std::lock_guard lock(st_->book_mutex);
    st_->book.claimed(std::move(own));
    return out;
}

EVOLINK_DECL std::vector<journal_entry> redis_journal::claim() { return st_->claim(st_->calls, st_->calls_mutex); }

EVOLINK_DECL bool redis_journal::heartbeat() { return st_->beat(); }

EVOLINK_DECL void redis_journal::stop() { st_->stop(); }

EVOLINK_DECL const std::string& redis_journal::instance() const noexcept { return st_->opts.instance; }

EVOLINK_DECL std::size_t redis_journal::owned() const
{
    std::lock_guard lock(st_->book_mutex);
    return st_->book.size();
}

} // namespace evolink

#endif
