// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_OP_REGISTRY_HPP
#define EVOLINK_DETAIL_OP_REGISTRY_HPP

// A client's running operations, for client::shutdown: each operation's
// cancel_state is linked in while its body runs (launch_op: op_begin and
// op_end, on the client's strand), so that shutdown can cancel them all and
// learn when the last one has ended. No allocation per operation: the links
// live in the cancel_state the operation has anyway.

#include <evolink/detail/async.hpp>
#include <evolink/detail/config.hpp>

#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstddef>
#include <optional>

namespace evolink::detail {

struct op_registry {
    cancel_state* head = nullptr;
    std::size_t live = 0;
    bool closing = false; ///< shutdown began: new operations fail with errc::shut_down
    /// Shutdown waits on it; cancelled (woken) when `live` reaches 0 while closing.
    std::optional<boost::asio::steady_timer> drained;
    /// The end of shutdown's grace period (then: terminal); cancelled with `drained`.
    std::optional<boost::asio::steady_timer> grace;

    void add(cancel_state& c) noexcept
    {
        c.prev = nullptr;
        c.next = head;
        if (head) head->prev = &c;
        head = &c;
        ++live;
    }

    void remove(cancel_state& c) noexcept
    {
        if (c.prev) c.prev->next = c.next;
        else if (head == &c) head = c.next;
        else return; // not linked
        if (c.next) c.next->prev = c.prev;
        c.prev = c.next = nullptr;
        --live;
        if (closing && live == 0) {
            if (drained) drained->cancel();
            if (grace) grace->cancel();
        }
    }

    /// Emits `type` to every running operation. (An emission only forwards
    /// the request to what the operation awaits, whose completion is posted:
    /// no operation ends, and unlinks itself, inside this loop.)
    void cancel_all(boost::asio::cancellation_type type)
    {
        for (auto* c = head; c;) {
            auto* next = c->next;
            if (!c->done) c->signal.emit(type);
            c = next;
        }
    }
};

} // namespace evolink::detail

#endif
