// The evolink command line: commands, options, help texts and parsing.
// A usage error is one line naming the problem plus "try 'evolink CMD --help'".
#ifndef EVOLINK_CLI_ARGS_HPP
#define EVOLINK_CLI_ARGS_HPP

#include <algorithm>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace evolink_cli {

enum exit_code { ok = 0, usage_error = 2, api_error = 3, task_error = 4, deadline = 5, interrupted = 130 };

struct usage_failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct option_spec {
    std::string_view name;
    bool takes_value;
    std::string_view help; ///< one line of help, the option included
};

inline constexpr option_spec option_specs[] = {
    {"prompt", true, "--prompt TEXT            what to make"},
    {"size", true, "--size WxH               image size, e.g. 1280x720 (total pixels 768x768 to 1440x1440)"},
    {"n", true, "--n N                    how many images, 1 to 4 (each is billed)"},
    {"no-prompt-extend", false, "--no-prompt-extend       send the prompt as written (no rewriting by the model)"},
    {"image", true, "--image URL|PATH         the first frame: an http(s) URL, or a local image file (checked\n"
                    "                           against the model's limits, then uploaded)"},
    {"duration", true, "--duration 5|10          video length in seconds (billed by duration)"},
    {"quality", true, "--quality 480p|720p|1080p  video quality (default 720p)"},
    {"out", true, "--out DIR                download the results into DIR (created if missing) and print\n"
                  "                           the file paths instead of the URLs"},
    {"timeout", true, "--timeout SECONDS        give up waiting after this long (default: 300 image, 600 video)"},
    {"poll", true, "--poll SECONDS           read the task every SECONDS (default: paced for images/videos)"},
    {"callback-listen", true, "--callback-listen HOST:PORT  receive EvoLink's callback on this address..."},
    {"callback-public-url", true, "--callback-public-url URL    ...reachable by EvoLink at this public URL"},
    {"json", false, "--json                   print JSON: the final task (with --out, plus a \"files\" array); for\n"
                    "                           credits and tasks, the API's answer"},
    {"journal", true, "--journal FILE           record task ids in FILE before waiting (for evolink resume)"},
    {"real", false, "--real                   use the real EvoLink API (creates billed tasks; asks first)"},
    {"yes", false, "--yes                    with --real: do not ask (needed when stdin is not a terminal)"},
    {"port", true, "--port N                 listen on port N (default: any free port)"},
    {"ca-out", true, "--ca-out FILE            write the fake's CA certificate to FILE (default: a temporary file)"},
    {"key", true, "--key KEY                the API key the fake accepts (default: a fixed test key)"},
    {"task-time", true, "--task-time SECONDS      how long each task takes, from creation to its end (default 0.8)"},
    {"callback-duplicates", true, "--callback-duplicates N  send each callback N more times (default 0), as EvoLink may"},
    {"status", true, "--status STATUS          only tasks that are processing, completed, failed or cancelled"},
    {"type", true, "--type TYPE              only tasks of this type: image, video, audio or text"},
    {"model", true, "--model MODEL            only tasks of this model (e.g. wan2.5-text-to-image)"},
    {"page", true, "--page N                 which page, from 1 (default 1)"},
    {"page-size", true, "--page-size N            tasks per page, 1 to 100 (default: the service's)"},
};

struct command_spec {
    std::string_view name;
    std::string_view synopsis; ///< after "evolink "
    std::string_view summary;
    std::vector<std::string_view> options;
};

inline const std::vector<command_spec>& commands()
{
    static const std::vector<std::string_view> waiting = {"timeout", "poll", "callback-listen", "callback-public-url",
                                                          "json", "journal"};
    auto with = [](std::vector<std::string_view> own, const std::vector<std::string_view>& more) {
        own.insert(own.end(), more.begin(), more.end());
        return own;
    };
    static const std::vector<command_spec> list = {
        {"image", "image --prompt TEXT [--size WxH] [--n N] [--no-prompt-extend] [--out DIR]",
         "makes images (wan2.5-text-to-image); prints their URLs", with({"prompt", "size", "n", "no-prompt-extend", "out"}, waiting)},
        {"video", "video --prompt TEXT --image URL|PATH [--duration 5|10] [--quality 480p|720p|1080p] [--out DIR]",
         "makes a video from an image (wan2.5-image-to-video); prints its URL",
         with({"prompt", "image", "duration", "quality", "out"}, waiting)},
        {"status", "status TASK_ID", "prints the task as JSON", {}},
        {"wait", "wait TASK_ID [--out DIR]", "waits for a task (resumes an interrupted or timed-out wait)",
         with({"out"}, waiting)},
        {"resume", "resume --journal FILE [--out DIR]", "waits for every unfinished task of a journal",
         with({"out"}, waiting)},
        {"credits", "credits [--json]", "prints the credits left and used, of the account and of this API key", {"json"}},
        {"tasks", "tasks [--status S] [--type T] [--model M] [--page N] [--page-size N] [--json]",
         "lists the key's tasks, newest first: id, status, progress, type, model, creation time (UTC)",
         {"status", "type", "model", "page", "page-size", "json"}},
        {"demo", "demo [--out DIR] [--real [--yes]]",
         "the whole flow (an image, a video from it, both downloaded) against the built-in fake EvoLink\n"
         "  server: no account, nothing billed. --real uses the real API (asks first)",
         {"out", "timeout", "poll", "real", "yes"}},
        {"fake-server", "fake-server [--port N] [--ca-out FILE] [--key KEY] [--task-time SECONDS] [--callback-duplicates N]",
         "runs a fake EvoLink server until Ctrl-C and prints the export lines that point the CLI at it:\n"
         "  the way to try every command without an account",
         {"port", "ca-out", "key", "task-time", "callback-duplicates"}},
    };
    return list;
}

inline const command_spec* find_command(std::string_view name)
{
    for (auto& c : commands())
        if (c.name == name) return &c;
    return nullptr;
}

inline const option_spec* find_option(std::string_view name)
{
    for (auto& o : option_specs)
        if (o.name == name) return &o;
    return nullptr;
}

inline constexpr std::string_view environment_help =
    "environment: EVOLINK_API_KEY (not needed by demo and fake-server), EVOLINK_BASE_URL,\n"
    "  EVOLINK_FILES_BASE_URL, EVOLINK_CA_FILE\n"
    "exit codes: 0 done, 2 bad usage/invalid request (nothing sent), 3 API/network/download error,\n"
    "  4 task failed, 5 deadline, 130 interrupted\n";

inline std::string usage_text()
{
    std::string s = "usage:\n";
    for (auto& c : commands()) s += "  evolink " + std::string(c.synopsis) + "\n";
    s += "  evolink help COMMAND | evolink COMMAND --help   one command's options\n"
         "  evolink --version\n"
         "without an account: `evolink demo`, or `evolink fake-server` and its export lines\n";
    return s + std::string(environment_help);
}

inline std::string command_help(const command_spec& c)
{
    std::string s = "usage: evolink " + std::string(c.synopsis) + "\n  " + std::string(c.summary) + "\n";
    if (!c.options.empty()) s += "options:\n";
    for (auto name : c.options) s += "  " + std::string(find_option(name)->help) + "\n";
    return s + std::string(environment_help);
}

/// Edit distance, for "did you mean".
inline std::size_t distance(std::string_view a, std::string_view b)
{
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

/// The candidate closest to `word` when it is close (a typo, a prefix), else "".
inline std::string closest(std::string_view word, const std::vector<std::string_view>& candidates)
{
    std::string best;
    std::size_t best_d = std::max<std::size_t>(2, word.size() / 3) + 1;
    for (auto c : candidates) {
        std::size_t d = c.starts_with(word) && word.size() >= 2 ? 1 : distance(word, c);
        if (d < best_d) best_d = d, best = std::string(c);
    }
    return best;
}

/// Options as given on the command line: flags without a value map to "".
struct args {
    std::string command;
    bool help = false;    ///< --help / -h: print the command's help
    bool version = false; ///< --version / -V
    std::vector<std::string> positional;
    std::map<std::string, std::string> options;

    bool has(const std::string& k) const { return options.count(k) != 0; }
    std::optional<std::string> get(const std::string& k) const
    {
        auto it = options.find(k);
        return it == options.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
    std::string need(const std::string& k) const
    {
        if (auto v = get(k)) return *v;
        throw usage_failure(command + " needs --" + k);
    }
    std::optional<int> integer(const std::string& k) const;
    std::optional<double> seconds(const std::string& k) const;
};

inline std::optional<int> args::integer(const std::string& k) const
{
    auto v = get(k);
    if (!v) return std::nullopt;
    try {
        std::size_t used = 0;
        int i = std::stoi(*v, &used);
        if (used == v->size()) return i;
    } catch (...) {
    }
    throw usage_failure("--" + k + " takes a whole number, not \"" + *v + "\"");
}

inline std::optional<double> args::seconds(const std::string& k) const
{
    auto v = get(k);
    if (!v) return std::nullopt;
    try {
        std::size_t used = 0;
        double d = std::stod(*v, &used);
        if (used == v->size() && d > 0 && d < 1e7) return d;
    } catch (...) {
    }
    throw usage_failure("--" + k + " takes a positive number of seconds, not \"" + *v + "\"");
}

/// An option that the command does not take: unknown (with "did you mean"),
/// or known but for other commands.
[[noreturn]] inline void refuse_option(const command_spec& c, const std::string& given, const std::string& name)
{
    if (given.starts_with("--") && find_option(name))
        throw usage_failure("--" + name + " is not an option of " + std::string(c.name));
    auto guess = closest(name, c.options);
    throw usage_failure("unknown option " + given + (guess.empty() ? "" : "; did you mean --" + guess + "?"));
}

/// Parses argv. The command is argv[1]; `evolink help CMD` is `evolink CMD --help`.
inline args parse_args(int argc, char** argv)
{
    args a;
    std::vector<std::string> rest(argv + std::min(argc, 1), argv + argc);
    if (rest.empty()) throw usage_failure("no command (image, video, status, wait, resume, credits, tasks, demo, fake-server)");
    std::string first = rest.front();
    rest.erase(rest.begin());
    if (first == "--version" || first == "-V") {
        a.version = true;
        return a;
    }
    if (first == "--help" || first == "-h" || first == "help") {
        a.help = true;
        if (rest.empty()) return a;
        first = rest.front();
        rest.erase(rest.begin());
    }
    const command_spec* c = find_command(first);
    if (!c) {
        std::vector<std::string_view> names;
        for (auto& k : commands()) names.push_back(k.name);
        auto guess = closest(first, names);
        throw usage_failure("unknown command " + first + (guess.empty() ? "" : "; did you mean " + guess + "?"));
    }
    a.command = first;
    for (std::size_t i = 0; i < rest.size(); ++i) {
        const std::string& s = rest[i];
        if (s == "--help" || s == "-h") a.help = true;
        if (a.help) continue; // help wins over anything else on the line
        if (s.size() < 2 || s[0] != '-') {
            a.positional.push_back(s);
            continue;
        }
        auto name = s.substr(s.starts_with("--") ? 2 : 1);
        std::optional<std::string> inline_value;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inline_value = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        auto& own = c->options;
        if (!s.starts_with("--") || std::find(own.begin(), own.end(), name) == own.end())
            refuse_option(*c, s.substr(0, s.find('=')), name);
        if (!find_option(name)->takes_value) {
            if (inline_value) throw usage_failure("--" + name + " takes no value");
            a.options[name] = "";
        } else if (inline_value) {
            a.options[name] = *inline_value;
        } else {
            if (i + 1 >= rest.size()) throw usage_failure("--" + name + " needs a value");
            a.options[name] = rest[++i];
        }
    }
    return a;
}

} // namespace evolink_cli

#endif
