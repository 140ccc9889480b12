// The evolink command line: client options from the environment, exit codes,
// and errors in the user's terms (environment variables and flags, not
// client_options fields; a local check is not dressed as a server error).
#ifndef EVOLINK_CLI_ERRORS_HPP
#define EVOLINK_CLI_ERRORS_HPP

#include "args.hpp"

#include <evolink.hpp>

#include <boost/asio.hpp>

#include <cstdlib>
#include <iostream>
#include <map>
#include <string>

namespace evolink_cli {

inline int exit_code_for(const evolink::error_code& ec)
{
    if (!ec) return ok;
    if (ec == boost::asio::error::operation_aborted) return interrupted;
    if (ec == evolink::errc::invalid_request || ec == evolink::errc::invalid_options ||
        ec == evolink::errc::missing_api_key)
        return usage_error;
    if (ec == evolink::errc::task_failed || ec == evolink::errc::task_cancelled) return task_error;
    if (ec == evolink::errc::deadline_exceeded) return deadline;
    return api_error;
}

/// True when a base URL's host is this machine: 127.x.x.x, localhost or
/// [::1]. A server there (the fake server, a local proxy) may use plain http
/// and call back to loopback; the real service never.
inline bool is_local_url(const std::string& url)
{
    auto scheme = url.find("://");
    auto authority = url.substr(scheme == std::string::npos ? 0 : scheme + 3);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    authority = authority.substr(authority.rfind('@') == std::string::npos ? 0 : authority.rfind('@') + 1);
    if (authority.starts_with("[")) return authority.starts_with("[::1]");
    auto host = authority.substr(0, authority.find(':'));
    if (host == "localhost") return true;
    return host.starts_with("127.") && host.find_first_not_of("0123456789.") == std::string::npos;
}

inline evolink::client_options options_from_env()
{
    evolink::client_options o; // api_key: the client reads EVOLINK_API_KEY itself
    o.keep_raw_json = true;    // --json prints each task whole, untyped fields included
    const char* base = std::getenv("EVOLINK_BASE_URL");
    const char* files = std::getenv("EVOLINK_FILES_BASE_URL");
    bool base_set = base && *base, files_set = files && *files;
    if (base_set) {
        o.base_url = base;
        o.allow_private_callback_urls = is_local_url(o.base_url);
        // A base URL on this machine (the fake server, a local test proxy)
        // without EVOLINK_FILES_BASE_URL: uploads go to the same host, never
        // to the real Files API with a test key and the user's images.
        if (!files_set && is_local_url(o.base_url)) o.files_base_url = o.base_url;
    }
    if (files_set) o.files_base_url = files;
    // Plain http only on this machine: every http:// URL must be local
    // (else the client refuses it at construction, with the reason).
    auto plain = [](const std::string& u) { return u.starts_with("http://"); };
    bool any_plain = plain(o.base_url) || plain(o.files_base_url);
    o.allow_insecure_http = any_plain && (!plain(o.base_url) || is_local_url(o.base_url)) &&
                            (!plain(o.files_base_url) || is_local_url(o.files_base_url));
    if (const char* ca = std::getenv("EVOLINK_CA_FILE"); ca && *ca) o.tls.ca_file = ca;
    return o;
}

/// `message` without a leading "field: " (or "field[0]: ") that repeats `param`.
inline std::string without_field(const std::string& message, const std::string& param)
{
    auto colon = message.find(": ");
    if (param.empty() || !message.starts_with(param) || colon == std::string::npos ||
        message.substr(0, colon).find(' ') != std::string::npos)
        return message;
    return message.substr(colon + 2);
}

/// A request refused before sending, named by the CLI's flag:
/// `--n: 7 is out of range; allowed: 1 to 4`.
inline std::string refusal_text(const evolink::diagnostics& d)
{
    static const std::map<std::string, std::string> flags = {
        {"prompt", "--prompt"},     {"size", "--size"},         {"n", "--n"},
        {"prompt_extend", "--no-prompt-extend"}, {"image_url", "--image"}, {"image_urls", "--image"},
        {"duration", "--duration"}, {"quality", "--quality"},   {"task_id", "TASK_ID"},
        {"callback_url", "--callback-public-url"}, {"status", "--status"}, {"type", "--type"},
        {"model", "--model"},       {"page", "--page"},         {"page_size", "--page-size"}};
    auto it = flags.find(d.param);
    std::string name = it != flags.end() ? it->second : d.param;
    std::string text = without_field(d.message, d.param);
    return name.empty() ? text : name + ": " + text;
}

/// A failure said once: the diagnostics' summary (host, what failed, the
/// attempts once), plus the error code's words only where they add to it.
inline std::string error_text(const evolink::error_code& ec, const evolink::diagnostics& d)
{
    std::string s = d.summary();
    if (s.empty()) return ec.message();
    auto attempts = "after " + std::to_string(d.attempts) + " attempts";
    if (auto at = s.find(" [" + attempts + "]"); d.attempts > 1 && d.message.find(attempts) != std::string::npos &&
                                                  at != std::string::npos)
        s.erase(at, attempts.size() + 3);
    using evolink::errc;
    for (errc said : {errc::timeout, errc::connect_failed, errc::tls_failed, errc::connection_lost,
                      errc::deadline_exceeded, errc::invalid_request})
        if (ec == said) return s;
    std::string words = ec.message();
    if (ec.category() == evolink::api_category() && words.starts_with("HTTP ") && words.find(": ") != std::string::npos)
        words = words.substr(words.find(": ") + 2); // the summary already says "HTTP 401"
    return s + " (" + words + ")";
}

/// Prints a failure on stderr: `evolink: --n: ...` for a request refused
/// before sending (exit 2), else `error: ...`.
inline void print_error(const evolink::error_code& ec, const evolink::diagnostics& d, const std::string& context = {})
{
    if (ec == evolink::errc::invalid_request) std::cerr << "evolink: " << context << refusal_text(d) << '\n';
    else std::cerr << "error: " << context << error_text(ec, d) << '\n';
}

/// Options refused when the client is built: said with the environment
/// variable that set them.
inline std::string options_error_text(const evolink::error& e)
{
    const auto& d = e.get_diagnostics();
    if (e.code() == evolink::errc::missing_api_key)
        return "no API key: set one with `export EVOLINK_API_KEY=...` (`evolink demo` and "
               "`evolink fake-server` need none)";
    if (d.param == "base_url" || d.param == "files_base_url") {
        std::string var = d.param == "base_url" ? "EVOLINK_BASE_URL" : "EVOLINK_FILES_BASE_URL";
        const char* v = std::getenv(var.c_str());
        std::string value = v ? v : "";
        if (value.starts_with("http://"))
            return var + "=" + value + " uses plain http://, allowed only for a server on this machine "
                   "(127.x, localhost, [::1]); use https://";
        if (d.message.starts_with(d.param + " ")) return var + d.message.substr(d.param.size());
        return var + ": " + d.message;
    }
    if (d.param == "tls") return "EVOLINK_CA_FILE: " + d.message;
    if (d.param == "api_key") return "EVOLINK_API_KEY: " + d.message;
    return d.message.empty() ? e.code().message() : d.message;
}

} // namespace evolink_cli

#endif
