// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_REDIS_DECISIONS_HPP
#define EVOLINK_DETAIL_REDIS_DECISIONS_HPP

// The Redis part's decisions, without I/O (tests/redis/test_decisions.cpp
// runs them without a socket): the pause before a reconnect, what an
// instance owns in the fleet's journal and what a heartbeat's answer means
// for it, when to heartbeat and to claim, and the shape of Redis's stream
// replies. The Redis commands themselves are in redis/impl/*.ipp.

#include <evolink/detail/config.hpp>
#include <evolink/journal.hpp>
#include <evolink/redis/options.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace evolink::detail {

/// The pause before reconnect attempt `attempt` (0: the first after a
/// drop): min doubled per attempt up to max, scaled into [50 %, 100 %] by
/// `unit` in [0, 1) so that a fleet that lost Redis together does not
/// reconnect in step.
EVOLINK_INLINE std::chrono::milliseconds reconnect_delay(unsigned attempt, std::chrono::milliseconds min,
                                                         std::chrono::milliseconds max, double unit)
{
    double d = static_cast<double>(std::max<std::chrono::milliseconds::rep>(min.count(), 1));
    for (unsigned i = 0; i < attempt && d < static_cast<double>(max.count()); ++i) d *= 2;
    d = std::min(d, static_cast<double>(std::max(max, min).count()));
    d *= 0.5 + 0.5 * std::clamp(unit, 0.0, 1.0);
    return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(std::max(1.0, d)));
}

/// An entry of the fleet's stream: the task and the stream id it has there.
struct fleet_entry {
    std::string entry_id;
    journal_entry e;
};

/// What the heartbeat script answers for each task sent (in the order sent).
enum class beat_status : long long {
    lost = 0,      ///< another instance owns it now (claimed it), or it was finished elsewhere
    refreshed = 1, ///< still ours; its idle time is 0 again
    readded = 2,   ///< Redis had lost it (restarted empty): recorded again, ours
};

/// The tasks one instance owns in the fleet's journal, and the timing of its
/// heartbeats and claims. Not thread-safe: its owner locks.
///
/// Ownership is the consumer group's: an entry pending for consumer "me" is
/// mine. An owner proves it is alive by resetting the idle time of its
/// entries (the heartbeat); an entry idle for `claim_after` belongs to an
/// instance that stopped, and XAUTOCLAIM hands it to exactly one claimer
/// (Redis runs each command alone). Time is Redis's (idle times), never
/// the instances' clocks: an instance whose clock is off changes nothing.
class lease_book {
public:
    using clock = std::chrono::steady_clock;

    lease_book(std::chrono::milliseconds heartbeat, std::chrono::milliseconds claim_after)
        : heartbeat_(heartbeat), claim_after_(claim_after)
    {
    }

    /// Why these timings cannot work, if they cannot: a heartbeat must come
    /// well within the idle time that makes a task claimable, or a live
    /// instance that misses one beat (a slow Redis) loses its tasks.
    static std::optional<std::string> check(std::chrono::milliseconds heartbeat, std::chrono::milliseconds claim_after)
    {
        if (heartbeat.count() <= 0) return "heartbeat must be > 0";
        if (claim_after < 3 * heartbeat) return "claim_after must be at least 3 heartbeats";
        return std::nullopt;
    }

    /// The add script answered: the entry and its owner.
    void added(const journal_entry& e, std::string entry_id, const std::string& owner, const std::string& me)
    {
        if (owner == me) owned_[e.task_id] = fleet_entry{std::move(entry_id), e};
    }
    /// Tasks claimed from a stopped instance are ours from now on.
    void claimed(std::vector<fleet_entry> entries)
    {
        for (auto& f : entries) owned_[f.e.task_id] = std::move(f);
    }
    /// A finish of ours is on its way to Redis. Until finished() or
    /// finish_failed(), a heartbeat that finds no entry for the task has not
    /// lost it (the finish ran first), and one that recorded it again (Redis
    /// restarted empty) must be followed by another finish.
    void finishing(const std::string& task_id) { finishing_.insert(task_id); }
    /// Redis did not take the finish (unreachable): the task stays ours and
    /// heartbeated (nobody claims it; a Redis restarted empty gets it again)
    /// until a beat that reached Redis finishes it (finishes_due()). Else it
    /// would stay in the fleet's journal for as long as this instance lives.
    void finish_failed(const std::string& task_id)
    {
        finishing_.erase(task_id);
        finish_later_.insert(task_id);
    }
    void finished(const std::string& task_id)
    {
        owned_.erase(task_id);
        finishing_.erase(task_id);
        finish_later_.erase(task_id);
    }
    /// The finishes Redis did not take, for the next beat that reaches it.
    std::vector<std::string> finishes_due() const { return {finish_later_.begin(), finish_later_.end()}; }

    bool owns(const std::string& task_id) const { return owned_.count(task_id) != 0; }
    std::size_t size() const noexcept { return owned_.size(); }

    /// The tasks to send with a heartbeat, in a stable order.
    std::vector<fleet_entry> beat_list() const
    {
        std::vector<fleet_entry> out;
        out.reserve(owned_.size());
        for (auto& [id, f] : owned_) out.push_back(f);
        return out;
    }

    struct beat_result {
        std::vector<std::string> lost;   ///< tasks no longer ours (claimed by another, or finished there)
        std::size_t readded = 0;        ///< tasks Redis had lost and has again
        /// Tasks finished here while the heartbeat was in flight, which it
        /// recorded again (Redis had lost them): to be finished once more.
        std::vector<std::string> refinish;
    };

    /// The heartbeat for `sent` (beat_list()) answered `statuses`. A task
    /// finished (or being finished) meanwhile is not lost, and is finished
    /// again when the beat recorded it again; a lost one is dropped: its new
    /// owner heartbeats it.
    beat_result beat_ok(clock::time_point now, const std::vector<fleet_entry>& sent, const std::vector<long long>& statuses)
    {
        beat_result r;
        last_ok_ = now;
        at_risk_ = false;
        for (std::size_t i = 0; i < sent.size() && i < statuses.size(); ++i) {
            const auto& id = sent[i].e.task_id;
            bool readded = statuses[i] == static_cast<long long>(beat_status::readded);
            auto it = owned_.find(id);
            if (readded && (it == owned_.end() || finishing_.count(id))) r.refinish.push_back(id);
            if (it == owned_.end()) continue;
            if (statuses[i] == static_cast<long long>(beat_status::lost)) {
                if (!finishing_.count(id)) r.lost.push_back(id);
                owned_.erase(it);
            } else if (readded) {
                ++r.readded;
            }
        }
        return r;
    }

    /// A heartbeat that could not reach Redis. True once, when the last
    /// successful one is `claim_after` old: from then on another instance
    /// may have claimed our tasks (the next successful beat tells which).
    bool beat_failed(clock::time_point now)
    {
        if (at_risk_ || !last_ok_ || now - *last_ok_ < claim_after_) return false;
        at_risk_ = true;
        return true;
    }

    /// When the next heartbeat is due, the last one having run at `last`.
    clock::time_point next_beat(clock::time_point last) const { return last + heartbeat_; }

    /// Claims run once a heartbeat interval too: a stopped instance's tasks
    /// are claimed between claim_after and claim_after + heartbeat (+ the
    /// claim's own time) after its last heartbeat.
    bool claim_due(clock::time_point now)
    {
        if (last_claim_ && now - *last_claim_ < heartbeat_) return false;
        last_claim_ = now;
        return true;
    }

    std::chrono::milliseconds heartbeat() const noexcept { return heartbeat_; }
    std::chrono::milliseconds claim_after() const noexcept { return claim_after_; }

private:
    std::chrono::milliseconds heartbeat_, claim_after_;
    std::map<std::string, fleet_entry> owned_;
    std::set<std::string> finishing_, finish_later_;
    std::optional<clock::time_point> last_ok_, last_claim_;
    bool at_risk_ = false;
};

// --- Replies ----------------------------------------------------------------

/// A stream entry, [id, [field, value, ...]], as a journal entry; nullopt
/// when it is not one (a deleted entry is nil in XAUTOCLAIM's answer).
EVOLINK_INLINE std::optional<fleet_entry> parse_stream_entry(const redis_reply& r)
{
    using k = redis_reply::kind;
    if (r.type != k::array || r.elements.size() != 2 || r.elements[0].type != k::string ||
        r.elements[1].type != k::array || r.elements[1].elements.size() % 2 != 0)
        return std::nullopt;
    fleet_entry f;
    f.entry_id = r.elements[0].str;
    auto& kv = r.elements[1].elements;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) {
        auto& key = kv[i].str;
        auto& v = kv[i + 1].str;
        if (key == "task") f.e.task_id = v;
        else if (key == "model") f.e.model = v;
        else if (key == "type") f.e.type = v;
        else if (key == "at") {
            try {
                f.e.recorded_at = std::stoll(v);
            } catch (...) {
                f.e.recorded_at = 0;
            }
        }
    }
    if (f.e.task_id.empty()) return std::nullopt;
    return f;
}

struct autoclaim_page {
    std::string cursor; ///< "0-0": the whole stream was scanned
    std::vector<fleet_entry> entries;
};

/// XAUTOCLAIM's answer (Redis 7: [cursor, [entries], [deleted ids]]);
/// nullopt when it has another shape.
EVOLINK_INLINE std::optional<autoclaim_page> parse_autoclaim(const redis_reply& r)
{
    using k = redis_reply::kind;
    if (r.type != k::array || r.elements.size() < 2 || r.elements[0].type != k::string ||
        r.elements[1].type != k::array)
        return std::nullopt;
    autoclaim_page p;
    p.cursor = r.elements[0].str;
    for (auto& e : r.elements[1].elements)
        if (auto f = parse_stream_entry(e)) p.entries.push_back(std::move(*f));
    return p;
}

/// An array of integers (the heartbeat's statuses); nullopt otherwise.
EVOLINK_INLINE std::optional<std::vector<long long>> parse_integers(const redis_reply& r)
{
    if (r.type != redis_reply::kind::array) return std::nullopt;
    std::vector<long long> out;
    for (auto& e : r.elements) {
        if (e.type != redis_reply::kind::integer) return std::nullopt;
        out.push_back(e.integer);
    }
    return out;
}

} // namespace evolink::detail

#endif
