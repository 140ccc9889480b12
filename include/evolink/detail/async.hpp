// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_ASYNC_HPP
#define EVOLINK_DETAIL_ASYNC_HPP

// How every public operation is run: its body is an asio::awaitable that
// returns an outcome (never throws), started with co_spawn on the client's
// strand; its completion is adapted to the caller's completion token with the
// signature void(error_code, T). co_spawn forwards the handler's cancellation
// slot into the coroutine and never completes inline.

#include <evolink/detail/config.hpp>
#include <evolink/error.hpp>

#include <boost/asio/associated_allocator.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/associator.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <concepts>
#include <exception>
#include <memory>
#include <type_traits>
#include <utility>

namespace evolink {
namespace detail {

/// An outcome's diagnostics, allocated only when written. Outcomes are moved
/// through every layer of an operation (a dozen times per request), and a
/// diagnostics is nine strings: moving a pointer instead was 4 % of a
/// request's CPU. Reads of an empty box see empty diagnostics.
class diag_box {
public:
    diag_box() = default;
    diag_box(diagnostics d) : p_(std::make_unique<diagnostics>(std::move(d))) {} // implicit, as a diagnostics was
    diag_box(const diag_box& o) : p_(o.p_ ? std::make_unique<diagnostics>(*o.p_) : nullptr) {}
    diag_box& operator=(const diag_box& o)
    {
        p_ = o.p_ ? std::make_unique<diagnostics>(*o.p_) : nullptr;
        return *this;
    }
    diag_box(diag_box&&) noexcept = default;
    diag_box& operator=(diag_box&&) noexcept = default;

    diagnostics& operator*()
    {
        if (!p_) p_ = std::make_unique<diagnostics>();
        return *p_;
    }
    const diagnostics& operator*() const { return p_ ? *p_ : empty(); }
    diagnostics* operator->() { return &**this; }
    const diagnostics* operator->() const { return &**this; }
    /// Takes the diagnostics out (empty ones when none were written).
    operator diagnostics() && { return p_ ? std::move(*p_) : diagnostics{}; }

private:
    static const diagnostics& empty()
    {
        static const diagnostics none;
        return none;
    }
    std::unique_ptr<diagnostics> p_;
};

template <class T>
struct outcome {
    error_code ec{};
    diag_box diag{};
    T value{};
};

template <class T>
outcome<T> failure(error_code ec, diagnostics diag)
{
    return {ec, std::move(diag), T{}};
}

/// Per-operation cancellation, made safe across executors. co_spawn (Boost
/// 1.81) forwards a cancellation request to the coroutine's executor and
/// emits it there later, even if the coroutine has finished by then (a
/// use-after-free when the caller's executor is not the client's strand).
/// So the caller's slot gets this state instead: the request is posted to
/// the strand and emitted only while the operation is still running; the
/// coroutine marks itself done on the same strand.
struct cancel_state {
    boost::asio::cancellation_signal signal;
    bool done = false; // touched on the strand only
    // The client's running operations, for client::shutdown (op_registry.hpp).
    cancel_state* prev = nullptr;
    cancel_state* next = nullptr;
};

class transport; // detail/transport.hpp
/// An operation of the client `core` starts running (on its strand): false
/// when the client is shut down (the operation then fails with
/// errc::shut_down, nothing sent). Defined in impl/client.ipp.
EVOLINK_DECL bool op_begin(const std::shared_ptr<transport>& core, cancel_state& c);
/// ...and ended (on its strand).
EVOLINK_DECL void op_end(const std::shared_ptr<transport>& core, cancel_state& c) noexcept;

/// The outcome of an operation started after client::shutdown.
template <class T>
outcome<T> shut_down_outcome()
{
    diagnostics d;
    d.message = "the client is shut down (client::shutdown): nothing was sent";
    return {make_error_code(errc::shut_down), std::move(d), T{}};
}

/// The cancel_state of an operation on `strand` whose caller's slot is
/// `slot`: the caller's requests are posted to the strand and emitted there
/// while the operation runs. None when the slot is not connected, unless
/// `always` (a client's operations: client::shutdown reaches them through it).
template <class Slot>
std::shared_ptr<cancel_state> connect_cancel_state(Slot& slot, const boost::asio::any_io_executor& strand, bool always)
{
    if (!slot.is_connected() && !always) return nullptr;
    auto cancel = std::make_shared<cancel_state>();
    if (slot.is_connected())
        slot.assign([cancel, strand](boost::asio::cancellation_type type) {
            boost::asio::post(strand, [cancel, type] {
                if (!cancel->done) cancel->signal.emit(type);
            });
        });
    return cancel;
}

/// Cancellation filters for an operation's body (see launch_op). Every type
/// asked for is recorded (the body reads it); the body's I/O is given
/// terminal, or, while a creation's request is on the wire (shielded), only
/// a terminal request: total and partial then wait for the answer.
struct pass_as_terminal {
    boost::asio::cancellation_type operator()(boost::asio::cancellation_type t) const noexcept
    {
        return t == boost::asio::cancellation_type::none ? t : boost::asio::cancellation_type::terminal;
    }
};
struct terminal_only {
    boost::asio::cancellation_type operator()(boost::asio::cancellation_type t) const noexcept
    {
        return (t & boost::asio::cancellation_type::terminal) != boost::asio::cancellation_type::none
                   ? boost::asio::cancellation_type::terminal
                   : boost::asio::cancellation_type::none;
    }
};

/// The strongest cancellation type in `t` (terminal, then partial, then total).
inline boost::asio::cancellation_type strongest(boost::asio::cancellation_type t) noexcept
{
    using ct = boost::asio::cancellation_type;
    for (auto one : {ct::terminal, ct::partial, ct::total})
        if ((t & one) != ct::none) return one;
    return ct::none;
}

/// Receives co_spawn's (exception_ptr, outcome<T>), stores the diagnostics
/// where the caller asked and calls the caller's handler with (ec, value)
/// on the handler's own executor.
template <class T, class Handler>
struct op_handler {
    Handler handler;
    diagnostics* diag_out;
    std::shared_ptr<cancel_state> cancel;
    boost::asio::cancellation_slot caller_slot;
    boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor> executor;

    using executor_type = boost::asio::associated_executor_t<Handler, boost::asio::any_io_executor>;
    executor_type get_executor() const noexcept { return executor; }
    using allocator_type = boost::asio::associated_allocator_t<Handler>;
    allocator_type get_allocator() const noexcept { return boost::asio::get_associated_allocator(handler); }
    using cancellation_slot_type = boost::asio::cancellation_slot;
    cancellation_slot_type get_cancellation_slot() const noexcept
    {
        return cancel ? cancel->signal.slot() : boost::asio::cancellation_slot();
    }

    void operator()(std::exception_ptr ep, outcome<T> r)
    {
        if (ep) { // bodies return errors as values; a hook_exception, bad_alloc and bugs land here
            auto [ec, d] = exception_outcome(ep);
            r.ec = ec;
            r.diag = std::move(d);
        }
        if (caller_slot.is_connected()) caller_slot.clear();
        if (diag_out) *diag_out = std::move(r.diag);
        std::move(handler)(r.ec, std::move(r.value));
    }
};

/// The initiation shared by all operations. Arguments: where to store the
/// diagnostics (may be null), the client's transport, the strand to run on,
/// and the body. `Tracked`: an operation of the client's, linked into its
/// op_registry while it runs (client::shutdown); untracked operations (the
/// callback receiver's wait, shutdown itself) get a null transport and never
/// name op_begin/op_end, which a translation unit without the client's
/// compiled part (header-only: impl/client.ipp) does not define.
template <class T, bool Tracked = true>
struct launch_op {
    template <class Handler, class Body>
    void operator()(Handler&& handler, diagnostics* diag_out, std::shared_ptr<transport> core,
                    boost::asio::any_io_executor strand, Body body) const
    {
        auto slot = boost::asio::get_associated_cancellation_slot(handler);
        // A client's operations always have one: client::shutdown cancels them.
        auto cancel = connect_cancel_state(slot, strand, Tracked);
        auto executor = boost::asio::get_associated_executor(handler, strand);
        boost::asio::co_spawn(
            strand,
            [body = std::move(body), cancel, core = std::move(core)]() mutable -> boost::asio::awaitable<outcome<T>> {
                // Errors are values: a cancelled coroutine must not throw out
                // of the next co_await.
                co_await boost::asio::this_coro::throw_if_cancelled(false);
                // The body sees the type asked for (cancellation_state's
                // cancelled()) and decides per phase what it means; the I/O
                // it awaits gets terminal (Beast honours nothing else).
                co_await boost::asio::this_coro::reset_cancellation_state(boost::asio::enable_total_cancellation(),
                                                                          pass_as_terminal{});
                if constexpr (Tracked) {
                    if (!op_begin(core, *cancel)) {
                        cancel->done = true;
                        co_return shut_down_outcome<T>();
                    }
                    struct ended { // also when the body throws
                        std::shared_ptr<transport>& core;
                        cancel_state& c;
                        ~ended()
                        {
                            c.done = true;
                            op_end(core, c);
                        }
                    } end{core, *cancel};
                    co_return co_await body();
                } else {
                    auto r = co_await body();
                    if (cancel) cancel->done = true;
                    co_return r;
                }
            },
            op_handler<T, std::decay_t<Handler>>{std::forward<Handler>(handler), diag_out, cancel, slot, executor});
    }
};

/// Starts an operation of the client whose transport is `core`. Its
/// initiation's first argument is where to store the diagnostics: none
/// here; with_diagnostics(diag, token) sets it.
template <class T, class Token, class Body>
auto start(Token&& token, std::shared_ptr<transport> core, boost::asio::any_io_executor strand, Body&& body)
{
    return boost::asio::async_initiate<Token, void(error_code, T)>(launch_op<T>{}, token,
                                                                   static_cast<diagnostics*>(nullptr), std::move(core),
                                                                   std::move(strand), std::forward<Body>(body));
}

/// Starts an operation that is no client's (see launch_op).
template <class T, class Token, class Body>
auto start_untracked(Token&& token, boost::asio::any_io_executor strand, Body&& body)
{
    return boost::asio::async_initiate<Token, void(error_code, T)>(
        launch_op<T, false>{}, token, static_cast<diagnostics*>(nullptr), std::shared_ptr<transport>(),
        std::move(strand), std::forward<Body>(body));
}

/// Wraps a handler of (exception_ptr, T) as one of (error_code, T); see
/// with_diagnostics_t.
template <class T, class Handler>
struct throwing_handler {
    Handler handler;
    std::unique_ptr<diagnostics> diag;
    diagnostics* user_diag;

    void operator()(error_code ec, T value)
    {
        if (user_diag) *user_diag = *diag;
        if (ec)
            std::move(handler)(std::make_exception_ptr(evolink::error(ec, std::move(*diag))), T{});
        else
            std::move(handler)(std::exception_ptr(), std::move(value));
    }
};

template <class T, class Init>
struct throwing_initiation {
    Init init;
    template <class Handler, class... Rest>
    void operator()(Handler&& handler, diagnostics* user_diag, Rest&&... rest)
    {
        auto d = std::make_unique<diagnostics>();
        auto* raw = d.get();
        std::move(init)(throwing_handler<T, std::decay_t<Handler>>{std::forward<Handler>(handler), std::move(d), user_diag},
                        raw, std::forward<Rest>(rest)...);
    }
};

} // namespace detail

/// Any completion token but a diagnostics object or an options struct: so
/// that `op(..., diag)` is refused at the call (use with_diagnostics(diag,
/// token)) rather than deep inside async_initiate, and options are never
/// taken for a token.
template <class Token>
concept completion_token_not_diagnostics =
    !std::same_as<std::decay_t<Token>, diagnostics> && !requires { typename std::decay_t<Token>::is_evolink_options; };

/// A completion token adapter: the operation completes with
/// `(std::exception_ptr, T)` instead of `(error_code, T)`, the exception being
/// an `evolink::error` that carries the diagnostics. With `asio::deferred`
/// inside a coroutine, `co_await` then returns T or throws evolink::error.
template <class Token>
struct with_diagnostics_t {
    Token token{};
};

template <class Token>
    requires(!std::same_as<std::decay_t<Token>, diagnostics>)
with_diagnostics_t<std::decay_t<Token>> with_diagnostics(Token&& token)
{
    return {std::forward<Token>(token)};
}

/// A completion token adapter: the operation stores its diagnostics in
/// `*diag` (on success too: attempts, request id), then completes as the
/// inner token says. Made by `with_diagnostics(diag, token)`.
template <class Token>
struct diagnostics_into_t {
    diagnostics* diag;
    Token token;
};

/// `with_diagnostics(diag, token)`: complete as `token` says, with the
/// diagnostics stored in `diag` first (it must live until then). Without a
/// token, the default one: `co_await op(..., with_diagnostics(diag))` returns
/// the value or throws evolink::error, and leaves the diagnostics in `diag`.
/// The style of asio::bind_cancellation_slot; works with any token.
template <class Token = with_diagnostics_t<boost::asio::use_awaitable_t<>>>
diagnostics_into_t<std::decay_t<Token>> with_diagnostics(diagnostics& diag, Token&& token = {})
{
    return {&diag, std::forward<Token>(token)};
}

namespace detail {
template <class Token>
inline constexpr bool is_with_diagnostics = false;
template <class Inner>
inline constexpr bool is_with_diagnostics<with_diagnostics_t<Inner>> = true;
template <class Inner>
inline constexpr bool is_with_diagnostics<diagnostics_into_t<Inner>> = true;
} // namespace detail

/// A completion token for an operation that completes with (error_code, T):
/// what selects the overloads that take the token right after the required
/// arguments, e.g. `client.download(url, path, asio::deferred)`.
template <class Token, class T>
concept completion_token_of =
    completion_token_not_diagnostics<Token> &&
    (detail::is_with_diagnostics<std::decay_t<Token>> ||
     boost::asio::completion_token_for<Token, void(error_code, T)>);

/// The default completion token of every operation: `co_await op(...)` in an
/// asio::awaitable returns the value or throws evolink::error (with its
/// diagnostics), and operations compose with awaitable_operators (`&&`, `||`).
/// Not asio::deferred: in Boost 1.81, co_await of a deferred operation whose
/// signature is (exception_ptr, T) does not compile (an Asio bug), so the
/// exception-with-diagnostics form would be lost. Passing asio::deferred
/// explicitly works, with a plain system_error on failure.
using default_token = with_diagnostics_t<boost::asio::use_awaitable_t<>>;

} // namespace evolink

namespace boost::asio {

template <class Inner, class T>
class async_result<evolink::diagnostics_into_t<Inner>, void(evolink::error_code, T)> {
public:
    /// Every operation's initiation takes where to store the diagnostics as
    /// its first argument (null without this adapter): point it at the caller's.
    template <class Initiation, class RawToken, class... Args>
    static auto initiate(Initiation&& init, RawToken&& token, evolink::diagnostics*, Args&&... args)
    {
        auto& inner = token.token; // async_initiate takes the token by lvalue reference
        return async_initiate<Inner, void(evolink::error_code, T)>(std::forward<Initiation>(init), inner, token.diag,
                                                                    std::forward<Args>(args)...);
    }
};

template <class Inner, class T>
class async_result<evolink::with_diagnostics_t<Inner>, void(evolink::error_code, T)> {
public:
    template <class Initiation, class RawToken, class... Args>
    static auto initiate(Initiation&& init, RawToken&& token, Args&&... args)
    {
        auto& inner = token.token; // async_initiate takes the token by lvalue reference
        return async_initiate<Inner, void(std::exception_ptr, T)>(
            evolink::detail::throwing_initiation<T, std::decay_t<Initiation>>{std::forward<Initiation>(init)}, inner,
            std::forward<Args>(args)...);
    }
};

template <template <class, class> class Associator, class T, class Handler, class DefaultCandidate>
struct associator<Associator, evolink::detail::throwing_handler<T, Handler>, DefaultCandidate>
    : Associator<Handler, DefaultCandidate> {
    static typename Associator<Handler, DefaultCandidate>::type
    get(const evolink::detail::throwing_handler<T, Handler>& h) noexcept
    {
        return Associator<Handler, DefaultCandidate>::get(h.handler);
    }
    static auto get(const evolink::detail::throwing_handler<T, Handler>& h, const DefaultCandidate& c) noexcept
        -> decltype(Associator<Handler, DefaultCandidate>::get(h.handler, c))
    {
        return Associator<Handler, DefaultCandidate>::get(h.handler, c);
    }
};

} // namespace boost::asio

#endif
