// evolink: the command-line client (its behaviour is a contract; see docs/cli.md).
//
//   evolink image --prompt TEXT [--size WxH] [--n N] [--no-prompt-extend] [--out DIR]
//   evolink video --prompt TEXT --image URL|PATH [--duration 5|10] [--quality 480p|720p|1080p] [--out DIR]
//   evolink status TASK_ID        prints the task JSON
//   evolink wait TASK_ID [--out DIR]  waits for a task (resumes an interrupted wait)
//   evolink resume --journal FILE [--out DIR]  waits for every unfinished task of a journal
//   evolink credits [--json]      the credits left and used (account and key)
//   evolink tasks [--status S] [--type T] [--model M] [--page N] [--page-size N] [--json]
//   evolink demo [--out DIR] [--real [--yes]]  the whole flow against the built-in fake server
//   evolink fake-server           runs the fake EvoLink server until interrupted
//   evolink help [COMMAND], evolink COMMAND --help, evolink --version
//
// Exit codes: 0 done, 2 bad usage or invalid request (nothing sent), 3 API, network or
// download error, 4 task failed or cancelled, 5 deadline passed, 130 interrupted.
//
// The parts, in examples/cli/: args.hpp (commands, options, help, parsing), display.hpp
// (progress on stderr), errors.hpp (environment, exit codes, messages), output.hpp (what is
// printed, downloads), commands.hpp (image, video, wait, resume, status), account.hpp
// (credits, tasks), demo.hpp (demo,
// fake-server). Headers of one translation unit: the program compiles <evolink.hpp> once.

#include "cli/account.hpp"
#include "cli/args.hpp"
#include "cli/commands.hpp"
#include "cli/demo.hpp"
#include "cli/errors.hpp"

#include <evolink.hpp>
#include <evolink/testing.hpp>

#include <exception>
#include <iostream>
#include <string>

namespace {

using namespace evolink_cli;

int run(const args& a)
{
    if (a.version) {
        std::cout << "evolink " << EVOLINK_VERSION_STRING << '\n';
        return ok;
    }
    if (a.help) {
        std::cout << (a.command.empty() ? usage_text() : command_help(*find_command(a.command)));
        return ok;
    }
    if (a.command == "image" || a.command == "video") {
        if (!a.positional.empty()) throw usage_failure("unexpected argument " + a.positional.front());
        return generate_command(a);
    }
    if (a.command == "status") return status_command(a);
    if (a.command == "wait") return wait_command(a);
    if (a.command == "resume") return resume_command(a);
    if (a.command == "credits") return credits_command(a);
    if (a.command == "tasks") return tasks_command(a);
    if (a.command == "demo") return demo_command(a);
    return fake_server_command(a);
}

} // namespace

int main(int argc, char** argv)
{
    std::string command; // for the "try" hint
    if (argc > 1 && find_command(argv[1])) command = argv[1];
    try {
        auto a = parse_args(argc, argv);
        command = a.command;
        return run(a);
    } catch (const usage_failure& e) {
        std::cerr << "evolink: " << e.what() << "\ntry 'evolink " << (command.empty() ? "" : command + " ")
                  << "--help'\n";
        return usage_error;
    } catch (const evolink::error& e) {
        // Options refused at construction (no key, bad base URL, bad CA file).
        std::cerr << "evolink: " << options_error_text(e) << '\n';
        return exit_code_for(e.code());
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << '\n';
        return api_error;
    }
}
