// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_WAIT_SCHEDULER_HPP
#define EVOLINK_DETAIL_WAIT_SCHEDULER_HPP

// The sleeping waits of one client, by due time, and the one timer that
// wakes them: a wait asleep between two reads is an entry here (a record,
// detail/wait_record.hpp), not a suspended coroutine. On the client's
// strand only.

#include <evolink/detail/config.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstddef>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace evolink::detail {

struct wait_entry;
using wait_queue = std::multimap<std::chrono::steady_clock::time_point, std::shared_ptr<wait_entry>>;

/// What the scheduler wakes.
struct wait_entry {
    virtual ~wait_entry() = default;
    /// Its time has come (called on the strand, out of the queue).
    virtual void due() = 0;

    bool queued = false;
    wait_queue::iterator where{};
};

class wait_scheduler {
public:
    using time_point = std::chrono::steady_clock::time_point;

    explicit wait_scheduler(boost::asio::any_io_executor strand) : timer_(std::move(strand)) {}
    wait_scheduler(const wait_scheduler&) = delete;
    wait_scheduler& operator=(const wait_scheduler&) = delete;

    /// Wakes `e` at `at`. `keep` (the client's state) is held while the timer
    /// is armed: sleeping waits keep their client alive, as their coroutines
    /// did, and an io_context destroyed with waits open frees it all.
    void add(std::shared_ptr<wait_entry> e, time_point at, std::shared_ptr<void> keep)
    {
        e->where = queue_.emplace(at, e);
        e->queued = true;
        if (at < armed_) arm(at, std::move(keep));
    }

    /// Takes `e` out of the queue, if it is there. The timer stops when the
    /// queue is empty, so that an io_context with no wait left runs dry.
    void remove(wait_entry& e)
    {
        if (!e.queued) return;
        e.queued = false;
        queue_.erase(e.where);
        if (queue_.empty()) {
            armed_ = time_point::max();
            ++generation_;
            timer_.cancel();
        }
    }

    std::size_t size() const noexcept { return queue_.size(); }

private:
    void arm(time_point at, std::shared_ptr<void> keep)
    {
        armed_ = at;
        timer_.expires_at(at); // the handler set before sees an older generation
        timer_.async_wait([this, keep = std::move(keep), gen = ++generation_](boost::system::error_code) {
            if (gen == generation_) fire(keep);
        });
    }

    void fire(const std::shared_ptr<void>& keep)
    {
        armed_ = time_point::max();
        auto now = std::chrono::steady_clock::now();
        std::vector<std::shared_ptr<wait_entry>> ready;
        while (!queue_.empty() && queue_.begin()->first <= now) {
            auto it = queue_.begin();
            it->second->queued = false;
            ready.push_back(std::move(it->second));
            queue_.erase(it);
        }
        if (!queue_.empty()) arm(queue_.begin()->first, keep);
        for (auto& e : ready) e->due();
    }

    wait_queue queue_;
    boost::asio::steady_timer timer_;
    time_point armed_ = time_point::max();
    unsigned long generation_ = 0;
};

} // namespace evolink::detail

#endif
