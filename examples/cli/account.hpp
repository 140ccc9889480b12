// The evolink command line: the account's commands, credits and tasks
// (reads: nothing is created, nothing billed).
#ifndef EVOLINK_CLI_ACCOUNT_HPP
#define EVOLINK_CLI_ACCOUNT_HPP

#include "args.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "output.hpp"

#include <evolink.hpp>

#include <boost/asio.hpp>
#include <boost/json.hpp>

#include <charconv>
#include <ctime>
#include <iostream>
#include <string>

namespace evolink_cli {

/// A number of credits as people write it: 12, 0.5, 49.25.
inline std::string credits_text(double d)
{
    return json_text(boost::json::value(d));
}

/// Unix seconds as "2026-12-03 02:55:37 UTC" (empty when unknown).
inline std::string utc_text(std::int64_t t)
{
    if (t <= 0) return "-";
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

/// The balance as the API's `data` object.
inline boost::json::object credits_json(const evolink::credit_balance& b)
{
    return {{"user", {{"remaining_credits", b.user.remaining}, {"used_credits", b.user.used}}},
            {"token",
             {{"remaining_credits", b.token.remaining}, {"used_credits", b.token.used}, {"unlimited_credits", b.token.unlimited}}}};
}

inline void print_credits(const evolink::credit_balance& b, bool json)
{
    if (json) {
        std::cout << json_text(credits_json(b)) << '\n';
        return;
    }
    std::cout << "account: " << credits_text(b.user.remaining) << " credits left, " << credits_text(b.user.used)
              << " used\n";
    if (b.token.unlimited) std::cout << "key: no limit of its own (" << credits_text(b.token.used) << " used)\n";
    else std::cout << "key: " << credits_text(b.token.remaining) << " credits left, " << credits_text(b.token.used) << " used\n";
}

/// One list entry as the API sends it.
inline boost::json::object summary_json(const evolink::task_summary& t)
{
    boost::json::object o{{"id", t.id},         {"model", t.model}, {"type", t.type},
                          {"status", t.status_text}, {"progress", t.progress}, {"created_at", t.created_at}};
    if (t.duration) o["duration"] = *t.duration;
    if (t.has_results) o["has_results"] = *t.has_results;
    if (t.result_count) o["result_count"] = *t.result_count;
    if (t.has_error) o["has_error"] = *t.has_error;
    if (t.credits_used) o["credits_used"] = *t.credits_used;
    return o;
}

inline void print_tasks(const evolink::task_list& l, bool json)
{
    if (json) {
        boost::json::array data;
        for (auto& t : l.tasks) data.push_back(summary_json(t));
        boost::json::object o{{"data", std::move(data)}, {"total", l.total}, {"page", l.page}, {"page_size", l.page_size}};
        std::cout << json_text(o) << '\n';
        return;
    }
    // One task a line, on stdout: id, status, progress, type, model, creation time (UTC).
    for (auto& t : l.tasks)
        std::cout << t.id << ' ' << (t.status_text.empty() ? "unknown" : t.status_text) << ' ' << t.progress << "% "
                  << (t.type.empty() ? "-" : t.type) << ' ' << (t.model.empty() ? "-" : t.model) << ' '
                  << utc_text(t.created_at) << '\n';
    std::cerr << "page " << l.page << ": " << l.tasks.size() << " of " << l.total << " task" << (l.total == 1 ? "" : "s")
              << (l.has_next_page() ? "; next: --page " + std::to_string(l.page + 1) : std::string()) << '\n';
}

/// --status TEXT: one of the four values the service filters by. A word that
/// is not a status at all is a usage error here; pending (a status, but not
/// a filter value) is refused by the library's check, with the same exit code.
inline evolink::task_filter filter_from(const args& a)
{
    evolink::task_filter f;
    if (auto s = a.get("status")) {
        auto st = evolink::parse_task_status(*s);
        if (st == evolink::task_status::unknown)
            throw usage_failure("--status: \"" + *s + "\" is not a filter value; allowed: processing, completed, failed, cancelled");
        f.status = st;
    }
    f.type = a.get("type");
    f.model = a.get("model");
    f.page = a.integer("page");
    f.page_size = a.integer("page-size");
    return f;
}

/// Runs one account read: `start(token)` with the completion handler, which
/// prints the value with `print` or the error.
template <class T, class Start, class Print>
inline int account_read(Start start, Print print)
{
    asio::io_context io;
    evolink::client client(io.get_executor(), options_from_env());
    evolink::diagnostics diag;
    return run_cancellable(io, [&](asio::cancellation_slot slot, auto finish, const bool&) {
        auto done = [&, finish](evolink::error_code ec, T value) {
            if (ec) {
                print_error(ec, diag);
                return finish(exit_code_for(ec));
            }
            print(value);
            finish(ok);
        };
        start(client, evolink::with_diagnostics(diag, asio::bind_cancellation_slot(slot, done)));
    });
}

inline int credits_command(const args& a)
{
    if (!a.positional.empty()) throw usage_failure("unexpected argument " + a.positional.front());
    bool json = a.has("json");
    return account_read<evolink::credit_balance>([](evolink::client& c, auto token) { c.credits(std::move(token)); },
                                                 [json](const evolink::credit_balance& b) { print_credits(b, json); });
}

inline int tasks_command(const args& a)
{
    if (!a.positional.empty()) throw usage_failure("unexpected argument " + a.positional.front());
    bool json = a.has("json");
    auto filter = filter_from(a);
    return account_read<evolink::task_list>([&filter](evolink::client& c, auto token) { c.list_tasks(filter, std::move(token)); },
                                            [json](const evolink::task_list& l) { print_tasks(l, json); });
}

} // namespace evolink_cli

#endif
