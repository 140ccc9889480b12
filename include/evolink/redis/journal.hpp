// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_REDIS_JOURNAL_HPP
#define EVOLINK_REDIS_JOURNAL_HPP

/// evolink::redis_journal: the `journal` of a fleet of instances, kept in
/// Redis (docs/scale-out.md). Every task is an entry of one stream per
/// fleet, pending in its consumer group for the instance that waits for it
/// (its owner). The owner's heartbeat resets the idle time of its entries;
/// an entry idle for `claim_after` belongs to an instance that stopped, and
/// XAUTOCLAIM hands it to exactly one live instance, which resumes the wait.
/// A finished task is acknowledged and deleted from the stream.
///
/// Its calls block, as the `journal` interface says (they run on the
/// client's file executor): each is one round trip on a synchronous hiredis
/// connection of its own, so a journal call never waits behind the
/// io_context, and the io_context never waits for Redis.

#include <evolink/detail/config.hpp>
#include <evolink/journal.hpp>
#include <evolink/redis/options.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace evolink {

struct redis_journal_options {
    /// The fleet's name: instances with the same name share their tasks.
    std::string fleet = "default";
    /// This instance's name in the fleet, unique among live instances. Keep
    /// it across restarts to find the instance's own tasks in unfinished();
    /// empty: host name and process id.
    std::string instance{};
    /// How often the owner proves it is alive (and claims, with on_claimed).
    std::chrono::milliseconds heartbeat{2000};
    /// An entry whose owner has been silent this long is claimable; at least
    /// 3 heartbeats.
    std::chrono::milliseconds claim_after{10000};
    /// When set, each heartbeat also claims the tasks of stopped instances
    /// and hands them over here, from the heartbeat thread: wait for each
    /// (client.wait(id) with this journal in the wait_options). Must not block long.
    std::function<void(std::vector<journal_entry>)> on_claimed{};
    /// Tasks of ours that another instance claimed (this one was silent for
    /// claim_after: paused, or cut from Redis), from the heartbeat thread.
    /// Their local waits go on; the new owner resumes them too.
    std::function<void(std::vector<std::string>)> on_lost{};
};

namespace detail {
struct redis_journal_state;
}

class redis_journal : public journal {
public:
    /// Checks the options (evolink::error, errc::invalid_options) and starts
    /// the heartbeat thread. Does not need Redis yet: each call connects
    /// when it has no connection.
    EVOLINK_DECL redis_journal(redis_options redis, redis_journal_options opts = {});
    /// stop().
    EVOLINK_DECL ~redis_journal() override;
    redis_journal(const redis_journal&) = delete;
    redis_journal& operator=(const redis_journal&) = delete;

    /// One PING: throws std::runtime_error when Redis cannot be reached, so
    /// that image/video/generate fail before the creation is sent.
    EVOLINK_DECL void ready() override;
    /// Records the task, owned by this instance (a task the fleet has
    /// already stays with its owner). Throws std::runtime_error.
    EVOLINK_DECL void add(const journal_entry& e) override;
    /// Acknowledges and deletes the task's entry, whoever owns it. Redis
    /// unreachable: throws std::runtime_error, and the heartbeat finishes it
    /// once Redis answers again (it stays this instance's until then).
    EVOLINK_DECL void finish(std::string_view task_id, std::string_view status) override;
    /// This instance's own unfinished tasks (by its name), oldest first;
    /// they are heartbeated from now on. After a restart with the same name.
    EVOLINK_DECL std::vector<journal_entry> unfinished() override;

    /// Claims, now, the tasks whose owner has been silent for claim_after
    /// (XAUTOCLAIM: each goes to one claimer only); they are this
    /// instance's from now on. Blocking, like the rest.
    EVOLINK_DECL std::vector<journal_entry> claim();
    /// One heartbeat now (the thread runs one every `heartbeat`). False when
    /// Redis could not be reached.
    EVOLINK_DECL bool heartbeat();

    /// Stops the heartbeat thread (the instance looks dead to the fleet
    /// after claim_after). Idempotent.
    EVOLINK_DECL void stop();

    EVOLINK_DECL const std::string& instance() const noexcept;
    /// Tasks this instance owns now.
    EVOLINK_DECL std::size_t owned() const;

private:
    std::unique_ptr<detail::redis_journal_state> st_;
};

} // namespace evolink

#ifndef EVOLINK_SEPARATE_COMPILATION
#include <evolink/redis/impl/journal.ipp>
#endif

#endif
