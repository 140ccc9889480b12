// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_TRANSPORT_HPP
#define EVOLINK_DETAIL_TRANSPORT_HPP

// HTTPS transport: a bounded keep-alive connection pool per host, Beast over
// ssl::stream with SNI, peer and host name verification, per-phase timeouts,
// size limits, and errors mapped to evolink::errc with readable diagnostics.
// All state is touched only from coroutines running on the client's strand.

#include <evolink/detail/async.hpp>
#include <evolink/detail/batch_reads.hpp>
#include <evolink/detail/wait_scheduler.hpp>
#include <evolink/detail/byte_stream.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/file_io.hpp>
#include <evolink/detail/http_result.hpp>
#include <evolink/detail/origin.hpp>
#include <evolink/detail/request_head.hpp>
#include <evolink/detail/op_registry.hpp>
#include <evolink/detail/proxy_rules.hpp>
#include <evolink/detail/proxy_tunnel.hpp>
#include <evolink/detail/resolve_delay.hpp>
#include <evolink/detail/retry.hpp>
#include <evolink/error.hpp>
#include <evolink/options.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <sys/socket.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace evolink::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using use_awaitable_t = asio::use_awaitable_t<asio::any_io_executor>;
/// The body of a request that has none (a GET, a streamed upload's own part).
inline const std::string no_body;

/// Builds the TLS context the options ask for (system trust store by default,
/// peer verification always on, TLS 1.2 at least).
EVOLINK_INLINE std::shared_ptr<ssl::context> make_tls_context(const tls_options& t, diagnostics& diag)
{
    if (t.context) return t.context;
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_verify_mode(t.insecure_skip_verification ? ssl::verify_none : ssl::verify_peer);
    boost::system::error_code ec;
    auto fail = [&](std::string what) {
        diag.param = "tls";
        diag.message = std::move(what) + ": " + ec.message();
        return nullptr;
    };
    if (t.use_system_store && ctx->set_default_verify_paths(ec)) return fail("cannot load the system trust store");
    if (!t.ca_file.empty() && ctx->load_verify_file(t.ca_file, ec)) return fail("cannot load CA file " + t.ca_file);
    if (!t.ca_dir.empty() && ctx->add_verify_path(t.ca_dir, ec)) return fail("cannot use CA directory " + t.ca_dir);
    if (!t.ca_pem.empty() && ctx->add_certificate_authority(asio::buffer(t.ca_pem), ec))
        return fail("cannot read the in-memory CA PEM");
    return ctx;
}

/// One keep-alive connection, TLS or plain.
struct connection {
    std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
    std::optional<beast::tcp_stream> plain;
    beast::flat_buffer buffer;
    std::optional<byte_stream> stream; ///< see io()
    std::chrono::steady_clock::time_point idle_since{};
    unsigned requests = 0;

    beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
    /// The stream that HTTP reads and writes go through (byte_stream.hpp),
    /// made once: it points into this connection, which never moves (it
    /// lives behind a unique_ptr).
    byte_stream& io()
    {
        if (!stream) stream.emplace(tls ? &*tls : nullptr, plain ? &*plain : nullptr);
        return *stream;
    }

    /// False when the peer has closed (or reset) the idle connection, or sent
    /// bytes nobody asked for: such a connection must not carry a request.
    bool usable()
    {
        auto& sock = lowest().socket();
        if (!sock.is_open()) return false;
        char c;
        auto n = ::recv(sock.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    void close()
    {
        boost::system::error_code ignored;
        lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
        lowest().socket().close(ignored);
    }
};

struct host_pool {
    explicit host_pool(const asio::any_io_executor& ex) : wake(ex, std::chrono::steady_clock::time_point::max()) {}
    std::vector<std::unique_ptr<connection>> idle;
    std::size_t open = 0;  ///< idle + busy + being connected
    asio::steady_timer wake; ///< never expires; cancel_one() wakes a waiter when a slot frees up
};

/// The cancellation asked for so far in this operation (none, or its
/// strongest type): read after every step that may not have honoured it.
EVOLINK_INLINE asio::awaitable<asio::cancellation_type> cancellation_requested()
{
    auto cs = co_await asio::this_coro::cancellation_state;
    co_return strongest(cs.cancelled());
}


/// Whether the cancellation `asked` so far stops an exchange before its next
/// step. Checked between the write and the read: a cancellation that arrives
/// while the write's completion is already queued on the strand reaches no
/// operation, and the read (which may wait as long as the server does) would
/// not see it. `creation`: only terminal counts once written (see launch_op).
EVOLINK_INLINE bool stops_next_step(asio::cancellation_type asked, bool creation) noexcept
{
    auto t = creation ? terminal_only{}(asked) : pass_as_terminal{}(asked);
    return t != asio::cancellation_type::none;
}

/// Shared, strand-confined state of a client: options, TLS context, pools.
class transport : public std::enable_shared_from_this<transport> {
public:
    transport(asio::any_io_executor strand, client_options opts, std::shared_ptr<ssl::context> ctx)
        : strand_(std::move(strand)), opts_(std::move(opts)), ctx_(std::move(ctx)),
          insecure_(opts_.tls.insecure_skip_verification && !opts_.tls.context), bearer_("Bearer " + opts_.api_key)
    {
        if (insecure_)
            log(log_level::warning, "TLS certificate and host name verification is OFF "
                                    "(tls_options::insecure_skip_verification): the API key and every answer "
                                    "can be read and forged by anyone on the path");
        else if (opts_.tls.context && SSL_CTX_get_verify_mode(opts_.tls.context->native_handle()) == SSL_VERIFY_NONE)
            log(log_level::warning, "TLS certificate verification is OFF: the ssl::context in tls_options::context "
                                    "is at verify_none, so the API key and every answer can be read and forged by "
                                    "anyone on the path (set_verify_mode(ssl::verify_peer) to verify)");
    }

    const asio::any_io_executor& strand() const noexcept { return strand_; }
    const client_options& options() const noexcept { return opts_; }
    /// Set once, before the first request (make_client).
    void set_proxy(proxy_route r) { proxy_ = std::move(r); }
    /// The running operations (client::shutdown); on the strand only.
    op_registry& ops() noexcept { return ops_; }

    /// Whether log() would pass a message of level `l` on: messages that
    /// cost something to build are built only then.
    bool logs(log_level l) const noexcept { return opts_.logger.sink && l >= opts_.logger.min_level; }

    void log(log_level l, std::string msg) const
    {
        if (!opts_.logger.sink || l < opts_.logger.min_level) return;
        redact(msg, opts_.api_key);
        opts_.logger(l, msg);
    }

    /// Closes idle connections (on the strand).
    void close_idle()
    {
        for (auto& [key, pool] : pools_) {
            for (auto& c : pool->idle) c->close();
            pool->open -= pool->idle.size();
            pool->idle.clear();
        }
    }

    std::size_t connections_opened() const noexcept { return connections_opened_; }

    /// The waits' reads being gathered into batches (detail/batch_ops.hpp).
    batch_state& batches() noexcept { return batches_; }

    /// The waits asleep between two reads (detail/wait_record.hpp).
    wait_scheduler& waits() noexcept { return waits_; }

    /// `o`, shared by the records of the waits that read from it (all of
    /// them: a client has one API origin), instead of a copy in each.
    std::shared_ptr<const origin> wait_origin(const origin& o)
    {
        auto same = [&](const origin& a) {
            return a.tls == o.tls && a.host == o.host && a.port == o.port && a.path == o.path &&
                   a.host_header == o.host_header && a.host_is_ip == o.host_is_ip;
        };
        if (!wait_origin_ || !same(*wait_origin_)) wait_origin_ = std::make_shared<const origin>(o);
        return wait_origin_;
    }

    /// Where blocking file work runs (see file_io.hpp); on the strand only.
    asio::any_io_executor file_executor() { return file_pool_.get(); }

    /// A pooled connection checked out for one exchange. Give it back with
    /// checkin(); a lease dropped without it closes its connection and frees
    /// its slot (error and cancellation paths).
    class lease {
    public:
        lease() = default;
        lease(transport* t, host_pool* p, std::unique_ptr<connection> c) : t_(t), pool_(p), conn_(std::move(c)) {}
        lease(lease&& o) noexcept : t_(o.t_), pool_(o.pool_), conn_(std::move(o.conn_)) {}
        lease& operator=(lease&& o) noexcept
        {
            if (this != &o) {
                checkin(false);
                t_ = o.t_;
                pool_ = o.pool_;
                conn_ = std::move(o.conn_);
            }
            return *this;
        }
        ~lease() { checkin(false); }
        connection& operator*() const { return *conn_; }
        connection* operator->() const { return conn_.get(); }
        explicit operator bool() const { return conn_ != nullptr; }
        /// Back to the pool when `reuse` (a complete answer on a keep-alive
        /// connection), else closed.
        void checkin(bool reuse)
        {
            if (!conn_) return;
            if (reuse) {
                conn_->lowest().expires_never();
                conn_->idle_since = std::chrono::steady_clock::now();
                ++conn_->requests;
                pool_->idle.push_back(std::move(conn_));
                pool_->wake.cancel_one();
            } else {
                conn_->close();
                conn_.reset();
                t_->release_slot(*pool_);
            }
        }

    private:
        transport* t_ = nullptr;
        host_pool* pool_ = nullptr;
        std::unique_ptr<connection> conn_;
    };

    /// Sends one request and reads its answer. A non-2xx status is not an
    /// error here: the caller reads status and body. `body` empty: no body.
    /// `authorize`: send the API key (false for URLs that are not the API's:
    /// result files, callback deliveries). `creation`: the request creates
    /// something (a task, a file), so once its first byte is written only a
    /// terminal cancellation interrupts it; a partial or total one waits for
    /// the answer and is reported in http_result::held_cancel.
    asio::awaitable<outcome<http_result>> request(const origin& o, http::verb method, std::string target,
                                                  std::string body, bool authorize = true, http_headers extra = {},
                                                  bool creation = false)
    {
        // Every request is a head and raw body bytes (detail/request_head.hpp).
        const std::string prefixed = o.path.empty() ? std::string() : o.path + target;
        request_head head(method, o.path.empty() ? std::string_view(target) : std::string_view(prefixed));
        set_headers(head, o, authorize, extra);
        if (!body.empty()) head.set("Content-Type", "application/json");
        // As Beast's prepare_payload: a length when there is a body, and
        // for POST, PUT and OPTIONS even when it is empty.
        if (!body.empty() || method == http::verb::post || method == http::verb::put || method == http::verb::options)
            head.content_length(body.size());
        const std::string text = head.text();
        // Creations check an idle connection before using it (a syscall): one
        // written on a dead connection has an unknown outcome. Other requests
        // skip the check, and go again once, on a checked connection, when a
        // reused one fails before any byte of the answer (as Go's client does).
        for (bool verify = creation;; verify = true) {
            auto r = co_await exchange(o, method, target, text, body, nullptr, creation, verify);
            if (r.ec != make_error_code(errc::connection_lost) || !r.value.stale) co_return r;
            if (logs(log_level::debug)) log(log_level::debug, r.diag->message + "; sending it again");
        }
    }

    /// A multipart/form-data body streamed from a file: `head`, the file's
    /// bytes read in pieces (never all in memory), then `tail`.
    struct streamed_body {
        std::string content_type; ///< multipart/form-data; boundary=...
        std::string head;
        std::string file;         ///< path of the file to stream
        std::uint64_t file_size = 0;
        std::string tail;
        /// The file's bytes, when already read (a checked local image): sent
        /// from memory, the file is not read again.
        std::shared_ptr<const std::vector<unsigned char>> bytes;
        asio::any_io_executor file_ex; ///< reads the file (empty: on the strand)
    };

    /// POSTs a streamed body and reads the (JSON) answer, as request() does.
    /// The file is read on b->file_ex, 64 KiB at a time; a file that changes
    /// size meanwhile fails the request (the Content-Length was sent).
    template <class Lazy = void> // only uploads stream a body
    asio::awaitable<outcome<http_result>> request_streamed(const origin& o, std::string target,
                                                           std::shared_ptr<const streamed_body> b)
    {
        const std::string path = o.path + target;
        request_head head(http::verb::post, path);
        set_headers(head, o, true, {});
        head.set("Content-Type", b->content_type);
        head.content_length(b->head.size() + b->file_size + b->tail.size());
        const std::string text = head.text();
        write_streamed_ = &write_streamed<Lazy>; // see write_on
        co_return co_await exchange(o, http::verb::post, target, text, no_body, b.get(), true, true); // an upload: a creation
    }

    /// Where a streamed GET (get_streamed) puts its answer: the head decides
    /// what becomes of the body, which then arrives piece by piece.
    class body_sink {
    public:
        enum class plan {
            stream,  ///< read the body into buffer(), calling on_piece() for each piece
            excerpt, ///< read up to 4 KiB of it into http_result::body (an error answer)
            drop,    ///< leave it unread (the connection closes)
        };
        /// The answer's head; `length`: its Content-Length, if any.
        virtual asio::awaitable<plan> on_head(const http::response_header<>& head,
                                              std::optional<std::uint64_t> length) = 0;
        /// Where the body goes. Each piece fills it, from as many reads as
        /// it takes, before on_piece() is called.
        virtual std::span<char> buffer() = 0;
        /// The first `n` bytes of buffer() are the next piece. An error ends
        /// the exchange and is returned as it is (not described).
        virtual asio::awaitable<error_code> on_piece(std::size_t n) = 0;

    protected:
        ~body_sink() = default;
    };

    /// GETs a file that is not the API's (no API key, Accept: */*; downloads)
    /// and hands its answer to `sink`. `what` names the request in messages
    /// (the caller redacts it); `stall` bounds each read of the body. The
    /// result holds the answer's head (and an excerpt's body), or the error
    /// described (http_result::sent: the request started to go out).
    template <class Lazy = void>
    asio::awaitable<outcome<http_result>> get_streamed(const origin& o, const std::string& target, const http_headers& extra,
                                                       body_sink& sink, const std::string& what,
                                                       std::chrono::milliseconds stall)
    {
        auto self = shared_from_this(); // keep the pools alive across suspensions
        const std::string path = o.path + target;
        request_head head(http::verb::get, path);
        set_headers(head, o, false, extra);
        head.set("Accept", "*/*");
        const std::string text = head.text();
        auto leased = co_await checkout(o);
        if (leased.ec) co_return failure<http_result>(leased.ec, std::move(leased.diag)); // sent = false
        auto& conn = leased.value;

        lazy_t<Lazy, http::response_parser<http::buffer_body>> parser;
        parser.header_limit(static_cast<std::uint32_t>(opts_.max_response_header_bytes));
        parser.body_limit(boost::none); // the sink counts
        conn->lowest().expires_after(opts_.request_timeout);
        const char* phase = "writing the request";
        auto ec = co_await write_on(*conn, text, no_body, nullptr);
        if (!ec) {
            phase = "reading the answer";
            auto cs = co_await asio::this_coro::cancellation_state;
            if (stops_next_step(cs.cancelled(), false)) ec = asio::error::operation_aborted;
        }
        if (!ec) ec = co_await read_on<read_mode::header>(*conn, parser);
        http_result r;
        r.sent = true;
        bool sink_failed = false;
        if (!ec) {
            auto& res = parser.get();
            r = read_head(res);
            std::optional<std::uint64_t> length;
            if (auto n = parser.content_length()) length = *n;
            auto plan = co_await sink.on_head(res, length);
            if (plan == body_sink::plan::excerpt) {
                r.body = co_await read_excerpt(*conn, parser, stall);
            } else if (plan == body_sink::plan::stream) {
                phase = "reading the body";
                ec = co_await read_body(*conn, parser, sink, stall, sink_failed);
                if (!ec) conn.checkin(res.keep_alive());
            } // excerpt, drop: the lease closes the connection (its body is unread)
        }
        if (ec && !sink_failed) {
            auto d = describe(ec, phase, what, std::string_view(phase) == "reading the body" ? stall : opts_.request_timeout);
            co_return outcome<http_result>{d.first, std::move(d.second), std::move(r)};
        }
        co_return outcome<http_result>{ec, {}, std::move(r)};
    }

private:
    /// A connection to `o`: an idle pooled one, else a new one once the pool
    /// has room. The caller must keep the transport alive while it holds it.
    asio::awaitable<outcome<lease>> checkout(const origin& o, bool verify = true)
    {
        auto& pool = pool_for(o);
        auto acquired = co_await acquire(pool, o, verify);
        if (acquired.ec) {
            release_slot(pool);
            co_return failure<lease>(acquired.ec, std::move(acquired.diag));
        }
        lease l(this, &pool, std::move(acquired.value));
        auto cs = co_await asio::this_coro::cancellation_state; // inline: a coroutine call costs a frame
        if (cs.cancelled() != asio::cancellation_type::none) {
            // Nothing was written: the connection is good, the request not sent.
            l.checkin(true);
            diagnostics d;
            d.message = "cancelled before the request to " + o.key() + " was sent (nothing was sent)";
            co_return failure<lease>(asio::error::operation_aborted, std::move(d));
        }
        co_return outcome<lease>{{}, {}, std::move(l)};
    }

    /// One exchange on a pooled connection: the request is written, then
    /// the answer read whole (within the size limits). `verify`: check an
    /// idle connection before using it. http_result::stale: it failed on a
    /// reused connection that had not been checked, before any byte of the
    /// answer.
    asio::awaitable<outcome<http_result>> exchange(const origin& o, http::verb method, const std::string& target,
                                                   const std::string& head, const std::string& body,
                                                   const streamed_body* b, bool creation, bool verify)
    {
        auto self = shared_from_this(); // keep the pools alive across suspensions
        auto leased = co_await checkout(o, verify);
        if (leased.ec) co_return failure<http_result>(leased.ec, std::move(leased.diag)); // sent = false
        auto& conn = leased.value;

        http::response_parser<http::string_body> parser;
        parser.header_limit(static_cast<std::uint32_t>(opts_.max_response_header_bytes));
        parser.body_limit(opts_.max_response_body_bytes);
        conn->lowest().expires_after(opts_.request_timeout);
        // checkout() saw no cancellation: from the first byte on, a creation
        // lets only terminal through to its I/O (see launch_op).
        if (creation)
            co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation(), terminal_only{});
        const char* phase = "writing the request";
        auto ec = co_await write_on(*conn, head, body, b);
        if (!ec) {
            phase = "reading the answer";
            auto cs = co_await asio::this_coro::cancellation_state;
            if (stops_next_step(cs.cancelled(), creation)) ec = asio::error::operation_aborted;
        }
        if (!ec) ec = co_await read_on<read_mode::whole>(*conn, parser);
        auto held = asio::cancellation_type::none;
        if (creation) {
            auto cs = co_await asio::this_coro::cancellation_state;
            held = strongest(cs.cancelled());
            co_await asio::this_coro::reset_cancellation_state(asio::enable_total_cancellation(), pass_as_terminal{});
        }
        auto what = [&] { return std::string(http::to_string(method)) + " " + o.key() + o.path + target; };
        if (ec) {
            bool reused = conn->requests > 0;
            conn.checkin(false);
            auto d = describe(ec, phase, what(), opts_.request_timeout);
            if (reused && d.first == make_error_code(errc::connection_lost))
                d.second.message += " (on a reused connection)";
            http_result sent;
            sent.sent = true;
            sent.held_cancel = held;
            sent.stale = reused && !verify && !parser.got_some();
            if (!sent.stale || d.first != make_error_code(errc::connection_lost)) log(log_level::warning, d.second.message);
            co_return outcome<http_result>{d.first, std::move(d.second), std::move(sent)};
        }
        auto& res = parser.get();
        http_result r = read_head(res);
        r.body = std::move(res.body());
        r.held_cancel = held;
        if (logs(log_level::debug))
            log(log_level::debug, what() + " -> " + std::to_string(r.status) +
                                      (r.request_id.empty() ? "" : " [request id: " + r.request_id + "]"));
        conn.checkin(res.keep_alive());
        co_return outcome<http_result>{{}, {}, std::move(r)};
    }


    /// A streamed body, piece by piece, into the sink. A read gives one TLS
    /// record (16 KiB) at most: each piece is filled by as many reads as it
    /// takes, so that the sink (a visit of the file executor, for a
    /// download) is called once per piece, not once per record.
    template <class Parser>
    static asio::awaitable<error_code> read_body(connection& c, Parser& parser, body_sink& sink,
                                                 std::chrono::milliseconds stall, bool& sink_failed)
    {
        auto piece = sink.buffer();
        auto& body = parser.get().body();
        error_code ec;
        while (!ec && !parser.is_done()) {
            body.data = piece.data();
            body.size = piece.size();
            while (!ec && !parser.is_done() && body.size > 0) {
                c.lowest().expires_after(stall);
                ec = co_await read_on<read_mode::some>(c, parser);
            }
            if (ec == http::error::need_buffer) ec = {}; // the piece is full
            std::size_t got = piece.size() - body.size;
            if (got == 0) continue;
            if (auto sec = co_await sink.on_piece(got)) {
                sink_failed = true;
                co_return sec;
            }
            // A cancellation while the sink worked (on another executor) shows only now.
            if (co_await cancellation_requested() != asio::cancellation_type::none) ec = asio::error::operation_aborted;
        }
        co_return ec;
    }

    /// The start of an error answer's body, for its message.
    template <class Parser>
    static asio::awaitable<std::string> read_excerpt(connection& c, Parser& parser, std::chrono::milliseconds stall)
    {
        char small[4096];
        auto& body = parser.get().body();
        body.data = small;
        body.size = sizeof small;
        c.lowest().expires_after(stall);
        auto ec = co_await read_on<read_mode::some>(c, parser);
        (void)ec; // a short excerpt is enough; an error here changes nothing
        co_return std::string(small, sizeof small - body.size);
    }
    /// How a streamed body's parts are written: write_streamed, reached
    /// through a pointer that request_streamed sets, so that a program that
    /// never uploads does not compile it (issue 11).
    using parts_writer = asio::awaitable<error_code> (*)(byte_stream&, const streamed_body&, std::chrono::milliseconds);

    /// Writes a request: a whole message, or the header of a streamed one
    /// followed by its parts (`parts`). (Coroutine helpers here take
    /// references only: g++ 12 miscompiles class objects passed by value to
    /// coroutines.)
    static asio::awaitable<error_code> write_request(byte_stream& s, const std::string& head, const std::string& body,
                                                     const streamed_body* b, parts_writer parts,
                                                     std::chrono::milliseconds timeout)
    {
        // The head and a body in memory go out in one write: over TLS,
        // Beast's flat_stream then makes them one record and one send (two
        // writes cost a record, a syscall and a wake-up more per POST).
        const std::array<asio::const_buffer, 2> out{asio::buffer(head), asio::buffer(body)};
        auto [ec, n] = co_await write_all(s, std::span<const asio::const_buffer>(out.data(), body.empty() ? 1 : 2));
        (void)n;
        if (ec || !b) co_return ec;
        co_return co_await parts(s, *b, timeout);
    }

    /// A streamed body's multipart head, its bytes (from memory, or from the
    /// file piece by piece) and its tail. Each piece of the file is read on
    /// the file executor while the strand is free, then written.
    template <class Lazy = void>
    static asio::awaitable<error_code> write_streamed(byte_stream& s, const streamed_body& b, std::chrono::milliseconds timeout)
    {
        auto [ec, n] = co_await write_all(s, asio::buffer(b.head));
        (void)n;
        if (!ec && b.bytes) {
            s.lowest().expires_after(timeout);
            std::tie(ec, n) = co_await write_all(s, asio::buffer(*b.bytes));
        } else if (!ec) {
            ec = co_await write_file_part<Lazy>(s, b, timeout);
        }
        if (!ec) std::tie(ec, n) = co_await write_all(s, asio::buffer(b.tail));
        co_return ec;
    }

    /// The file of a streamed body, piece by piece.
    template <class>
    static asio::awaitable<error_code> write_file_part(byte_stream& s, const streamed_body& b, std::chrono::milliseconds timeout)
    {
        std::vector<char> piece(64 * 1024);
        std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(nullptr, &std::fclose);
        std::uint64_t left = b.file_size;
        std::size_t got = 0;
        int err = 0;
        auto read = [&] { // opens on the first call; 0 bytes: shrank or unreadable since its size was sent
            if (!f) f.reset(std::fopen(b.file.c_str(), "rb"));
            auto want = static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), left));
            got = f ? std::fread(piece.data(), 1, want, f.get()) : 0;
            return err = got > 0 ? 0 : (f ? EIO : (errno ? errno : EIO));
        };
        while (left > 0) {
            if (b.file_ex) co_await run_blocking(b.file_ex, read);
            else read();
            // Not seen during the blocking read. A streamed body is an upload
            // (a creation): only terminal stops it once it is on the wire;
            // partial and total are held until the answer (see exchange).
            auto cs = co_await asio::this_coro::cancellation_state;
            if ((cs.cancelled() & asio::cancellation_type::terminal) != asio::cancellation_type::none)
                co_return asio::error::operation_aborted;
            if (err) co_return error_code(err, boost::system::generic_category());
            left -= got;
            s.lowest().expires_after(timeout); // per piece: a slow uplink is not a timeout
            auto [ec, n] = co_await write_all(s, asio::const_buffer(piece.data(), got));
            (void)n;
            if (ec) co_return ec;
        }
        co_return error_code{};
    }

    /// Writes a request on the connection's TLS or plain stream. (Not a
    /// coroutine: no frame of its own; the caller keeps the arguments.)
    asio::awaitable<error_code> write_on(connection& c, const std::string& head, const std::string& body,
                                         const streamed_body* b) const
    {
        return write_request(c.io(), head, body, b, write_streamed_, opts_.request_timeout);
    }

    /// Reads (part of) an answer with `parser` on the connection's stream:
    /// the header only, the next piece of the body, or the whole message.
    enum class read_mode { header, some, whole };
    template <read_mode Mode, class Parser>
    static asio::awaitable<error_code> read_on(connection& c, Parser& parser)
    {
        auto& s = c.io();
        std::tuple<error_code, std::size_t> r;
        if constexpr (Mode == read_mode::header) r = co_await http::async_read_header(s, c.buffer, parser, tuple_awaitable);
        else if constexpr (Mode == read_mode::some) r = co_await http::async_read_some(s, c.buffer, parser, tuple_awaitable);
        else r = co_await http::async_read(s, c.buffer, parser, tuple_awaitable);
        co_return std::get<0>(r);
    }

    /// Maps a transport error to (evolink error, diagnostics).
    std::pair<error_code, diagnostics> describe(const error_code& ec, std::string_view phase, const std::string& what,
                                                std::chrono::milliseconds limit) const
    {
        diagnostics d;
        error_code out;
        if (ec == asio::error::operation_aborted || ec == boost::system::errc::operation_canceled) {
            out = asio::error::operation_aborted;
            d.message = what + ": cancelled while " + std::string(phase);
        } else if (ec == beast::error::timeout) {
            out = make_error_code(errc::timeout);
            d.message = what + ": timed out after " + seconds_text(limit) + " while " + std::string(phase);
        } else if (phase == "resolving the host" || phase == "connecting") {
            out = make_error_code(errc::connect_failed);
            d.message = what + ": " + std::string(phase) + " failed: " + ec.message();
        } else if (phase == "the TLS handshake") {
            out = make_error_code(errc::tls_failed);
            d.message = what + ": the TLS handshake failed: " + ec.message();
        } else if (ec == http::error::body_limit || ec == http::error::header_limit ||
                   ec == http::error::buffer_overflow) {
            out = make_error_code(errc::response_too_large);
            d.message = what + ": the answer is over the limit (" + ec.message() + ")";
        } else if (ec.category() == http::make_error_code(http::error::end_of_stream).category() && ec != http::error::end_of_stream &&
                   ec != http::error::partial_message) {
            out = make_error_code(errc::protocol_error);
            d.message = what + ": invalid HTTP while " + std::string(phase) + ": " + ec.message();
        } else if (ec.category() == boost::system::generic_category() && ec != boost::system::errc::connection_reset &&
                   ec != boost::system::errc::broken_pipe) {
            out = ec; // a local file or system failure (an upload's source file...)
            d.message = what + ": " + std::string(phase) + " failed: " + ec.message();
        } else {
            out = make_error_code(errc::connection_lost);
            d.message = what + ": connection lost while " + std::string(phase) + ": " + ec.message();
        }
        return {out, std::move(d)};
    }

    /// The common headers of every request: Host, Authorization (the API's
    /// own hosts only), User-Agent, Accept, keep-alive, then `extra`.
    /// (HTTP/1.1 keeps the connection alive unless told otherwise.)
    void set_headers(request_head& head, const origin& o, bool authorize, const http_headers& extra) const
    {
        head.set("Host", o.host_header);
        if (authorize) head.set("Authorization", bearer_);
        head.set("User-Agent", opts_.user_agent);
        head.set("Accept", "application/json");
        for (auto& [name, value] : extra) head.set(name, value);
    }


    /// What an answer's header says (everything but the body).
    template <class Fields>
    static http_result read_head(const http::header<false, Fields>& res)
    {
        http_result r;
        r.status = res.result_int();
        r.reason = std::string(res.reason());
        r.content_type = std::string(res[http::field::content_type]);
        r.request_id = std::string(res["X-Request-Id"]);
        if (r.request_id.empty()) r.request_id = std::string(res["X-Oneapi-Request-Id"]);
        r.sent = true;
        if (auto ms = res["retry-after-ms"]; !ms.empty()) r.retry_after = parse_retry_after_ms(ms);
        if (auto ra = res[http::field::retry_after]; !r.retry_after && !ra.empty())
            r.retry_after = parse_retry_after(ra, std::chrono::system_clock::now());
        r.replayed = beast::iequals(res["Idempotency-Replayed"], "true");
        return r;
    }


    /// (Found without building the key: it is looked up on every request.)
    host_pool& pool_for(const origin& o)
    {
        auto it = pools_.find(pool_key{o.tls, o.host_header});
        if (it == pools_.end())
            it = pools_.emplace(std::pair<bool, std::string>{o.tls, o.host_header}, std::make_unique<host_pool>(strand_)).first;
        return *it->second;
    }

    void release_slot(host_pool& pool)
    {
        --pool.open;
        pool.wake.cancel_one();
    }

    /// A usable idle connection, else a new one once the pool has room,
    /// waited for at most request_timeout (errc::timeout). On success the
    /// caller owns one slot of `pool.open`; on failure too (it must call
    /// release_slot).
    asio::awaitable<outcome<std::unique_ptr<connection>>> acquire(host_pool& pool, const origin& o, bool verify)
    {
        using result = outcome<std::unique_ptr<connection>>;
        auto deadline = std::chrono::steady_clock::now() + opts_.request_timeout;
        std::optional<asio::steady_timer> bound; // wakes every waiter at our deadline
        for (;;) {
            while (!pool.idle.empty()) {
                auto c = std::move(pool.idle.back());
                pool.idle.pop_back();
                bool stale = std::chrono::steady_clock::now() - c->idle_since > opts_.idle_timeout;
                if (!stale && (!verify || c->usable())) co_return result{{}, {}, std::move(c)};
                c->close(); // closed by the server or idle too long: replace it
                --pool.open;
                log(log_level::debug, "dropped an idle connection to " + o.key() + (stale ? " (idle timeout)" : " (closed by the server)"));
            }
            if (pool.open < std::max<std::size_t>(1, opts_.max_connections_per_host)) {
                ++pool.open;
                co_return co_await connect(o);
            }
            if (std::chrono::steady_clock::now() >= deadline) {
                ++pool.open; // keep the caller's release_slot balanced
                diagnostics d;
                d.message = "timed out after " + seconds_text(opts_.request_timeout) +
                            " waiting for a free connection to " + o.key() + " (" + std::to_string(pool.open - 1) +
                            " in use; client_options::max_connections_per_host)";
                co_return result{make_error_code(errc::timeout), std::move(d), {}};
            }
            if (!bound) {
                bound.emplace(strand_, deadline);
                bound->async_wait([weak = weak_from_this(), p = &pool](error_code ec) {
                    if (auto alive = weak.lock(); alive && !ec) p->wake.cancel(); // the waiters recheck
                });
            }
            // (woken, aborted, when a slot frees up; a cancellation that came
            // before the wait is not signalled to it: look first)
            if (co_await cancellation_requested() == asio::cancellation_type::none)
                co_await pool.wake.async_wait(tuple_awaitable);
            if (co_await cancellation_requested() != asio::cancellation_type::none) {
                ++pool.open; // keep the caller's release_slot balanced
                diagnostics d;
                d.message = "cancelled while waiting for a free connection to " + o.key() + " (nothing was sent)";
                co_return result{asio::error::operation_aborted, std::move(d), {}};
            }
        }
    }

    /// What resolve() shares with the resolver's completion, which may come
    /// long after the operation gave up (getaddrinfo cannot be interrupted).
    struct pending_resolve {
        explicit pending_resolve(const asio::any_io_executor& ex) : resolver(ex), wake(ex), hold(ex) {}
        tcp::resolver resolver;
        asio::steady_timer wake; ///< expires at the connect deadline; cancelled by the answer
        asio::steady_timer hold; ///< the test seam's delay
        std::optional<std::pair<error_code, tcp::resolver::results_type>> answer;
    };

    /// Resolves the host, ending at once on cancellation or at `deadline`:
    /// the resolver ignores cancellation slots, so the operation waits on a
    /// timer the answer wakes, and leaves a late answer behind.
    asio::awaitable<outcome<tcp::resolver::results_type>> resolve(const origin& o,
                                                                   std::chrono::steady_clock::time_point deadline)
    {
        using result = outcome<tcp::resolver::results_type>;
        auto st = std::make_shared<pending_resolve>(strand_);
        st->wake.expires_at(deadline);
        auto start = [st, host = o.host, port = o.port] {
            st->resolver.async_resolve(host, port, [st](error_code ec, tcp::resolver::results_type r) {
                st->answer.emplace(ec, std::move(r));
                st->wake.cancel();
            });
        };
        if (auto ms = take_test_resolve_delay(); ms > 0) {
            st->hold.expires_after(std::chrono::milliseconds(ms));
            st->hold.async_wait([start](error_code ec) {
                if (!ec) start();
            });
        } else {
            start();
        }
        // A cancellation emitted before this point (while a file call ran on
        // the pool, say) is not signalled to the wait again: look first.
        if (co_await cancellation_requested() == asio::cancellation_type::none)
            co_await st->wake.async_wait(tuple_awaitable);
        error_code ec;
        if (co_await cancellation_requested() != asio::cancellation_type::none) ec = asio::error::operation_aborted;
        else if (!st->answer) ec = beast::error::timeout;
        else ec = st->answer->first;
        if (!st->answer) { // given up: stop the resolver (or the seam) if it has not started
            st->hold.cancel();
            st->resolver.cancel();
        }
        if (ec) {
            auto d = describe(ec, "resolving the host", "connecting to " + o.key(), opts_.connect_timeout);
            co_return result{d.first, std::move(d.second), {}};
        }
        co_return result{{}, {}, std::move(st->answer->second)};
    }

    /// A new connection: resolve and TCP connect within connect_timeout
    /// together, then the TLS handshake within handshake_timeout. The
    /// cancellation state is checked after every step.
    asio::awaitable<outcome<std::unique_ptr<connection>>> connect(const origin& o)
    {
        using result = outcome<std::unique_ptr<connection>>;
        auto c = std::make_unique<connection>();
        if (o.tls) c->tls.emplace(strand_, *ctx_);
        else c->plain.emplace(strand_);
        const proxy_endpoint* via = proxy_.for_origin(o);
        std::string what = "connecting to " + o.key() + (via ? " through the proxy " + via->label() : std::string());
        // Through a proxy, DNS and TCP go to the proxy (which resolves the host).
        std::optional<origin> proxy_at;
        if (via) proxy_at = origin{false, via->host, std::to_string(via->port), {}, via->label(), false};

        auto deadline = std::chrono::steady_clock::now() + opts_.connect_timeout;
        auto endpoints = co_await resolve(via ? *proxy_at : o, deadline);
        if (endpoints.ec) {
            if (via) endpoints.diag->message = what + ": " + endpoints.diag->message;
            co_return result{endpoints.ec, std::move(endpoints.diag), {}};
        }
        log(log_level::debug, "resolved " + (via ? via->host : o.host) + "; " + what);
        auto& lowest = c->lowest();
        lowest.expires_at(deadline);
        auto [cec, ep] = co_await lowest.async_connect(endpoints.value, tuple_awaitable);
        (void)ep;
        if (!cec && co_await cancellation_requested() != asio::cancellation_type::none) cec = asio::error::operation_aborted;
        if (cec) {
            auto d = describe(cec, "connecting", what, opts_.connect_timeout);
            co_return result{d.first, std::move(d.second), {}};
        }
        if (via) {
            auto t = co_await open_tunnel(lowest, *via, o, opts_.user_agent);
            if (!t.io_error && co_await cancellation_requested() != asio::cancellation_type::none)
                t.io_error = asio::error::operation_aborted;
            if (t.io_error) {
                auto d = describe(t.io_error, t.phase, what, opts_.connect_timeout);
                if (d.first == errc::connection_lost) d.first = make_error_code(errc::connect_failed); // nothing reached the host
                log(log_level::warning, d.second.message);
                co_return result{d.first, std::move(d.second), {}};
            }
            if (t.verdict.ec) {
                diagnostics d;
                d.message = what + ": the proxy " + t.verdict.message;
                log(log_level::warning, d.message);
                co_return result{t.verdict.ec, std::move(d), {}};
            }
        }
        // Requests and their parts are written whole: Nagle's algorithm would
        // only hold a last short segment back for an ACK (curl and Node turn it
        // off too). A socket that refuses keeps working as it is.
        error_code nodelay_ignored;
        lowest.socket().set_option(tcp::no_delay(true), nodelay_ignored);
        if (c->tls) {
            auto* native = c->tls->native_handle();
            // SNI only for names: RFC 6066 forbids IP literals there.
            if (!o.host_is_ip) SSL_set_tlsext_host_name(native, o.host.c_str());
            // Host name (or IP) verification by OpenSSL itself, so that a
            // mismatch is reported as such ("hostname mismatch").
            X509_VERIFY_PARAM* param = SSL_get0_param(native);
            if (insecure_) param = nullptr; // tls_options::insecure_skip_verification
            if (param) X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            int set = !param       ? 1
                      : o.host_is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, o.host.c_str())
                                     : X509_VERIFY_PARAM_set1_host(param, o.host.c_str(), o.host.size());
            if (set != 1) {
                diagnostics d;
                d.message = what + ": cannot verify the host name " + o.host;
                co_return result{make_error_code(errc::tls_failed), std::move(d), {}};
            }
            lowest.expires_after(opts_.handshake_timeout);
            auto [hec] = co_await c->tls->async_handshake(ssl::stream_base::client, tuple_awaitable);
            if (!hec && co_await cancellation_requested() != asio::cancellation_type::none)
                hec = asio::error::operation_aborted;
            if (hec) {
                auto d = describe(hec, "the TLS handshake", what, opts_.handshake_timeout);
                long vr = SSL_get_verify_result(native);
                if (vr != X509_V_OK && d.first != asio::error::operation_aborted) {
                    d.first = make_error_code(errc::tls_failed);
                    d.second.message += " (certificate: " + std::string(X509_verify_cert_error_string(vr)) + ")";
                } else if (d.first == errc::tls_failed && hec.category() != asio::error::get_ssl_category()) {
                    // Closed or reset mid-handshake: a network failure, not a TLS verdict.
                    d.first = make_error_code(errc::connection_lost);
                    d.second.message = what + ": the connection closed during the TLS handshake: " + hec.message();
                }
                log(log_level::warning, d.second.message);
                co_return result{d.first, std::move(d.second), {}};
            }
        }
        lowest.expires_never();
        ++connections_opened_;
        log(log_level::debug, "connected to " + o.key() + (o.tls ? " (TLS)" : " (plain HTTP)") +
                                  (via ? " through the proxy " + via->label() : std::string()));
        co_return result{{}, {}, std::move(c)};
    }

    asio::any_io_executor strand_;
    client_options opts_;
    std::shared_ptr<ssl::context> ctx_;
    /// Pools by origin: (TLS or not, Host header).
    struct pool_key {
        bool tls;
        std::string_view host;
    };
    struct pool_order {
        using is_transparent = void;
        static pool_key view(const pool_key& k) { return k; }
        static pool_key view(const std::pair<bool, std::string>& k) { return {k.first, k.second}; }
        template <class A, class B>
        bool operator()(const A& a, const B& b) const
        {
            auto x = view(a), y = view(b);
            return x.tls != y.tls ? x.tls < y.tls : x.host < y.host;
        }
    };
    std::map<std::pair<bool, std::string>, std::unique_ptr<host_pool>, pool_order> pools_;
    std::size_t connections_opened_ = 0;
    parts_writer write_streamed_ = nullptr; ///< set by the first request_streamed
    bool insecure_ = false;
    std::string bearer_; ///< "Bearer <key>", the Authorization value (never logged)
    file_pool file_pool_{opts_.file_executor};
    batch_state batches_;
    proxy_route proxy_;
    op_registry ops_;
    wait_scheduler waits_{strand_};
    std::shared_ptr<const origin> wait_origin_;
};

} // namespace evolink::detail

#endif
