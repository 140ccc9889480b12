// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_IMPL_CLIENT_IPP
#define EVOLINK_IMPL_CLIENT_IPP

// The compiled part of evolink::client: the bodies declared in
// detail/operations.hpp. Included by <evolink/client.hpp> in header-only
// mode, or once by <evolink/src.hpp> with EVOLINK_SEPARATE_COMPILATION.
// Each body hands its arguments to the coroutine that does the work
// (detail/task_ops.hpp, files_ops.hpp, download.hpp).

#include <evolink/detail/account_ops.hpp>
#include <evolink/detail/create_ops.hpp>
#include <evolink/detail/download.hpp>
#include <evolink/detail/files_ops.hpp>
#include <evolink/detail/operations.hpp>
#include <evolink/detail/strand.hpp>
#include <evolink/detail/task_ops.hpp>
#include <evolink/detail/transport.hpp>
#include <evolink/detail/wait_ops.hpp>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include <cstdlib>

namespace evolink::detail {

EVOLINK_DECL client_parts make_client(boost::asio::any_io_executor ex, client_options opts)
{
    auto fail = [](errc e, std::string param, std::string message) {
        diagnostics d;
        d.param = std::move(param);
        d.message = std::move(message);
        throw evolink::error(make_error_code(e), std::move(d));
    };
    if (opts.api_key.empty())
        if (const char* env = std::getenv("EVOLINK_API_KEY")) opts.api_key = env;
    if (opts.api_key.empty())
        fail(errc::missing_api_key, "api_key", "neither client_options::api_key nor EVOLINK_API_KEY is set");
    for (char c : opts.api_key)
        if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7F)
            fail(errc::invalid_options, "api_key",
                 "the API key holds a space or a control or non-ASCII character (key not shown)");
    for (char c : opts.user_agent)
        if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7F)
            fail(errc::invalid_options, "user_agent",
                 "user_agent holds a control character (CR, LF...): it would break the request's head");
    std::string why;
    auto api = parse_origin(opts.base_url, opts.allow_insecure_http, why);
    if (!api) fail(errc::invalid_options, "base_url", "base_url " + detail::quoted(opts.base_url) + " " + why);
    auto files = parse_origin(opts.files_base_url, opts.allow_insecure_http, why);
    if (!files)
        fail(errc::invalid_options, "files_base_url", "files_base_url " + detail::quoted(opts.files_base_url) + " " + why);
    if (std::string param, why = invalid_duration(opts, param); !why.empty())
        fail(errc::invalid_options, std::move(param), std::move(why));
    auto route = choose_proxy(opts.proxy, opts.no_proxy,
                              proxy_environment::read([](const char* name) { return std::getenv(name); }));
    if (auto* why = std::get_if<std::string>(&route)) fail(errc::invalid_options, "proxy", std::move(*why));
    diagnostics tls_diag;
    auto ctx = make_tls_context(opts.tls, tls_diag);
    if (!ctx) fail(errc::invalid_options, tls_diag.param, tls_diag.message);
    client_parts parts;
    parts.strand = make_strand_of(ex);
    parts.allow_private_callback_urls = opts.allow_private_callback_urls;
    parts.core = std::make_shared<transport>(parts.strand, std::move(opts), std::move(ctx));
    parts.core->set_proxy(std::get<proxy_route>(std::move(route)));
    parts.api = std::move(*api);
    parts.files = std::move(*files);
    return parts;
}

EVOLINK_DECL void close_idle_later(const core_ptr& core)
{
    boost::asio::post(core->strand(), [core] { core->close_idle(); });
}

EVOLINK_DECL std::size_t connections_opened(const transport& core) noexcept
{
    return core.connections_opened();
}

EVOLINK_DECL bool op_begin(const std::shared_ptr<transport>& core, cancel_state& c)
{
    if (core->ops().closing) return false;
    core->ops().add(c);
    return true;
}

EVOLINK_DECL void op_end(const std::shared_ptr<transport>& core, cancel_state& c) noexcept
{
    core->ops().remove(c);
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<std::size_t>> shutdown_op(core_ptr core, std::chrono::milliseconds grace)
{
    auto& ops = core->ops();
    std::size_t running = ops.live;
    if (!ops.closing) {
        ops.closing = true;
        ops.drained.emplace(core->strand(), std::chrono::steady_clock::time_point::max());
        core->log(log_level::info, "shutting down: " + std::to_string(running) +
                                       " operation(s) running; a creation already sent gets up to " +
                                       seconds_text(grace) + " for its answer");
        // Total: waits end, nothing new is sent, a creation on the wire waits for its task id.
        ops.cancel_all(boost::asio::cancellation_type::total);
        ops.grace.emplace(core->strand(), grace);
        ops.grace->async_wait([weak = std::weak_ptr<transport>(core)](error_code ec) {
            auto c = weak.lock();
            if (ec || !c || c->ops().live == 0) return;
            c->log(log_level::warning, "shutdown: " + std::to_string(c->ops().live) +
                                           " operation(s) still running after the grace period: stopped now");
            c->ops().cancel_all(boost::asio::cancellation_type::terminal);
        });
        if (ops.live == 0) ops.grace->cancel();
    }
    core->close_idle();
    if (ops.live > 0) co_await ops.drained->async_wait(tuple_awaitable); // woken by the last op_end
    if (ops.live > 0) { // this shutdown call was cancelled; the shutdown goes on
        diagnostics d;
        d.message = "stopped waiting for the shutdown (cancelled); " + std::to_string(ops.live) +
                    " operation(s) still ending";
        co_return outcome<std::size_t>{boost::asio::error::operation_aborted, std::move(d), running};
    }
    core->close_idle(); // the connections the last operations gave back
    co_return outcome<std::size_t>{{}, {}, running};
}

EVOLINK_DECL boost::asio::awaitable<outcome<task>> submit_op(core_ptr core, origin api, origin files,
                                                             std::shared_ptr<const prepared_create> p, std::string key)
{
    return create_task(std::move(core), std::move(api), std::move(files), std::move(p), std::move(key));
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<task>> create_with_uploads_op(core_ptr core, origin api, origin files,
                                                                          std::shared_ptr<const prepared_create> p,
                                                                          std::string key)
{
    return upload_then_post(std::move(core), std::move(api), std::move(files), std::move(p), std::move(key));
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<task>> get_task_op(core_ptr core, origin api, std::string id,
                                                               std::optional<diagnostics> invalid)
{
    return read_task(std::move(core), std::move(api), std::move(id), std::move(invalid));
}

EVOLINK_DECL void wait_op(core_ptr core, origin api, std::string id, std::optional<task> known, shared_wait_options opts,
                          std::optional<diagnostics> invalid, std::unique_ptr<wait_completion> done)
{
    wait_record::start_args a;
    a.id = std::move(id);
    a.known = std::move(known);
    a.opts = std::move(opts);
    a.invalid = std::move(invalid);
    start_wait_record(std::move(core), std::move(api), std::move(a), std::move(done));
}

/// generate's first part: create, journal, on_submitted. Its outcome ends
/// the operation unless `*wait_follows`. Cancelled as launch_op's bodies are.
EVOLINK_INLINE boost::asio::awaitable<outcome<task>> create_for_wait(core_ptr core, origin api, origin files,
                                                                     std::shared_ptr<const prepared_create> p,
                                                                     shared_wait_options opts, bool* wait_follows)
{
    co_await boost::asio::this_coro::throw_if_cancelled(false);
    co_await boost::asio::this_coro::reset_cancellation_state(boost::asio::enable_total_cancellation(),
                                                              pass_as_terminal{});
    if (opts->journal) { // a journal that cannot record fails the operation before anything is sent
        auto unready = co_await journal_ready(core, *opts->journal);
        if (unready) co_return failure<task>(make_error_code(errc::journal_failed), std::move(*unready));
    }
    auto created = co_await create_task(core, api, std::move(files), std::move(p), opts->idempotency_key);
    if (created.ec) co_return created;
    // Journaled before on_submitted runs: a hook that throws leaves the task
    // in the journal, where resume() finds it.
    if (opts->journal) {
        auto failed = co_await journal_add(core, *opts->journal, created.value.id, &created.value);
        if (failed) co_return outcome<task>{make_error_code(errc::journal_failed), std::move(*failed), std::move(created.value)};
    }
    if (opts->on_submitted) {
        // The task exists (and is billed): a throwing hook must not hide its
        // id, or a caller that retries pays twice. No wait follows.
        try {
            opts->on_submitted(created.value);
        } catch (...) {
            auto d = hook_threw("on_submitted", std::current_exception());
            d.task_id = created.value.id;
            d.task_status = created.value.status_text;
            core->log(log_level::error, d.message + " (task " + created.value.id + " was created)");
            co_return outcome<task>{make_error_code(errc::handler_threw), std::move(d), std::move(created.value)};
        }
    }
    *wait_follows = true;
    co_return created;
}

/// What the creation hands over to the wait: the handler, and the
/// creation's own cancellation signal, emitted only while it runs (co_spawn
/// would forward a late request to a finished coroutine; see cancel_state).
struct generation {
    std::unique_ptr<wait_completion> done;
    boost::asio::cancellation_signal cancel;
    bool creating = true;
    bool wait_follows = false;
};

EVOLINK_INLINE void start_generation(core_ptr core, origin api, origin files, std::shared_ptr<const prepared_create> p,
                                     shared_wait_options opts, std::unique_ptr<wait_completion> done)
{
    auto g = std::make_shared<generation>();
    g->done = std::move(done);
    auto* op = g->done->state(); // client::shutdown ends it through this
    if (op && !op_begin(core, *op)) return g->done->complete({}, shut_down_outcome<task>());
    auto slot = g->done->slot();
    if (slot.is_connected())
        slot.assign([w = std::weak_ptr<generation>(g)](boost::asio::cancellation_type t) {
            if (auto g = w.lock(); g && g->creating) g->cancel.emit(t);
        });
    auto strand = core->strand();
    auto created = [g, slot, core, api, opts, op](std::exception_ptr ep, outcome<task> r) mutable {
        g->creating = false;
        if (ep || !g->wait_follows) {
            if (slot.is_connected()) slot.clear();
            if (op) {
                op->done = true;
                op_end(core, *op);
            }
            return g->done->complete(ep, std::move(r));
        }
        wait_record::start_args a; // the record takes the slot over, and the op_registry's link
        a.id = r.value.id;
        a.known = std::move(r.value);
        a.opts = std::move(opts);
        a.recorded = true;
        a.tracked = op != nullptr;
        wait_record::start(core, api, std::move(a), std::move(g->done));
    };
    boost::asio::co_spawn(strand, create_for_wait(core, api, std::move(files), std::move(p), opts, &g->wait_follows),
                          boost::asio::bind_cancellation_slot(g->cancel.slot(), std::move(created)));
}

EVOLINK_DECL void generate_op(core_ptr core, origin api, origin files, std::shared_ptr<const prepared_create> p,
                              shared_wait_options opts, std::unique_ptr<wait_completion> done)
{
    // On the strand: the caller's slot is touched there only.
    auto strand = core->strand();
    boost::asio::post(strand, [core = std::move(core), api = std::move(api), files = std::move(files), p = std::move(p),
                               opts = std::move(opts), done = std::move(done)]() mutable {
        start_generation(std::move(core), std::move(api), std::move(files), std::move(p), std::move(opts),
                         std::move(done));
    });
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<std::vector<resumed_task>>> resume_op(core_ptr core, origin api,
                                                                                  shared_wait_options opts)
{
    return resume_all(std::move(core), std::move(api), std::move(opts));
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<file_info>> upload_op(core_ptr core, origin files,
                                                                  std::shared_ptr<const upload_job> job)
{
    return upload(std::move(core), std::move(files), std::move(job));
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<file_list>> list_files_op(core_ptr core, origin files, unsigned page,
                                                                      unsigned page_size)
{
    return list_files(std::move(core), std::move(files), page, page_size);
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<file_quota>> file_quota_op(core_ptr core, origin files)
{
    return get_file_quota(std::move(core), std::move(files));
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<bool>> delete_file_op(core_ptr core, origin files, std::string id)
{
    return delete_file(std::move(core), std::move(files), std::move(id));
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<credit_balance>> credits_op(core_ptr core, origin api)
{
    return read_credits(std::move(core), std::move(api));
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<task_list>> list_tasks_op(core_ptr core, origin api,
                                                                      std::shared_ptr<const task_filter> filter,
                                                                      std::optional<diagnostics> invalid)
{
    if (invalid) co_return failure<task_list>(make_error_code(errc::invalid_request), std::move(*invalid));
    co_return co_await read_task_list(std::move(core), std::move(api), std::move(filter));
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<download_result>> download_op(core_ptr core,
                                                                          std::shared_ptr<const download_job> job)
{
    return download(std::move(core), std::move(job));
}

EVOLINK_LAZY_DEF boost::asio::awaitable<outcome<std::vector<download_result>>>
download_results_op(core_ptr core, std::shared_ptr<const results_job> job)
{
    return download_all(std::move(core), std::move(job));
}

} // namespace evolink::detail

#endif
