// cpp20_04_many_tasks: 100 generations, at most 10 at a time, a journal, and a summary.
//
// Ten workers share one client and take the next prompt until none is left:
// at most ten tasks wait at once. Every task id is written to a journal file
// before its wait starts and marked finished when the task ends; a task still
// unfinished (a deadline, a crash) is left there for `client.resume(journal)`.
// The fake server fails one task in ten and leaves another one unfinished at
// a 5 s deadline: its summary is 80 completed, 10 failed, 10 timed out.
//
//   build/examples/cpp20_04_many_tasks [N]          N images (100), the built-in fake server
//   build/examples/cpp20_04_many_tasks --real [N]   the real API (EVOLINK_API_KEY; N tasks billed)
// The journal: many_tasks.journal in the current directory (the fake starts a new one).

#include "example_env.hpp"

#include <evolink.hpp>

#include <boost/asio.hpp>

#include <filesystem>
#include <iostream>
#include <string>

namespace asio = boost::asio;
using namespace std::chrono_literals;

struct summary { int next = 0, completed = 0, failed = 0, timed_out = 0; };

asio::awaitable<void> worker(evolink::client& client, evolink::journal& journal, example::env& env, int total,
                             summary& s)
{
    while (s.next < total) {
        evolink::text_to_image req;
        req.prompt = "fox #" + std::to_string(s.next++);
        evolink::wait_options wo;
        wo.poll = env.poll();
        wo.journal = &journal;                // the id is on disk before the wait starts
        if (env.fake()) wo.deadline = 5s;     // real API: the default, 5 minutes for an image
        try {
            co_await client.image(req, wo);
            ++s.completed;
        } catch (const evolink::error& e) {
            if (e.code() == evolink::errc::deadline_exceeded) ++s.timed_out;   // the task may still finish
            else ++s.failed;
        }
    }
}

int main(int argc, char** argv)
{
    asio::io_context io;
    evolink::testing::fake_server_options so;   // the fake's script for "fox #N", from N
    so.script_for = [](const boost::json::object& body) -> std::optional<evolink::testing::task_script> {
        int n = std::stoi(std::string(body.at("prompt").as_string()).substr(5));
        if (n % 10 == 3)   // fails at once
            return evolink::testing::task_script{.progress = {}, .outcome = evolink::task_status::failed};
        if (n % 10 == 7)   // still pending at the deadline
            return evolink::testing::task_script{.progress = {10}, .step_interval = 1h};
        return std::nullopt;   // the default: completed after 4 reads
    };
    example::env env(io.get_executor(), argc, argv, so);
    const int total = env.args().empty() ? 100 : std::stoi(env.args()[0]);
    const int limit = 10;
    if (env.fake()) std::filesystem::remove("many_tasks.journal");   // the fake's tasks end with it
    evolink::file_journal journal("many_tasks.journal");
    evolink::client client(io.get_executor(), env.client_options());

    summary s;
    int running = limit;   // at most `limit` tasks at a time: one per worker
    for (int w = 0; w < limit; ++w)
        asio::co_spawn(io, worker(client, journal, env, total, s), [&, done = env.on_done()](std::exception_ptr e) {
            if (--running == 0 || e) done(e);   // the last worker stops the fake server
        });
    io.run();
    std::cout << total << " tasks, at most " << limit << " at a time: " << s.completed << " completed, "
              << s.failed << " failed, " << s.timed_out << " timed out\n"
              << journal.unfinished().size() << " unfinished in " << journal.path()
              << " (client.resume(journal) waits for them)\n";
    return env.exit_code();
}
