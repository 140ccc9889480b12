// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_PROXY_RULES_HPP
#define EVOLINK_DETAIL_PROXY_RULES_HPP

// Which proxy a connection goes through, without I/O (issue 14's first step;
// the CONNECT tunnel comes next): a proxy URL parsed, the environment read as
// curl reads it, and NO_PROXY matched as curl matches it. Pure functions, so
// each rule is tested alone (tests/unit/test_proxy_rules.cpp).
//
// The rules, as curl 7.86 and later apply them:
// - the proxy for an https origin: `https_proxy`, else `HTTPS_PROXY`, else
//   `all_proxy`, else `ALL_PROXY` (lower case first, as curl); empty = unset;
// - `no_proxy`, else `NO_PROXY`: comma-separated entries, spaces around each
//   ignored, matched without regard to case; `*` alone matches every host;
//   a name matches itself and its subdomains, a leading dot changing nothing
//   (`example.com` and `.example.com` both match `example.com` and
//   `api.example.com`, not `badexample.com`); a trailing dot on either side is
//   ignored; an IP address matches that address only, and `ADDR/BITS` the
//   addresses in that range (IPv4 or IPv6; `[::1]` brackets ignored);
// - a proxy URL is `http://[user:pass@]host[:port]` (port 1080 by default,
//   as curl's) or `https://...` (443), a missing scheme meaning http; user
//   and password are percent-decoded; anything else (socks, a path) is
//   refused, naming what was wrong.

#include <evolink/detail/base64.hpp>
#include <evolink/detail/config.hpp>
#include <evolink/detail/origin.hpp>

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace evolink::detail {

/// A proxy to tunnel through.
struct proxy_endpoint {
    bool tls = false; ///< https:// proxy: TLS to the proxy, then TLS to the origin inside
    std::string host;
    unsigned short port = 1080;
    std::string user, password; ///< percent-decoded; never logged

    /// "host:port", for logs and errors: never the credentials.
    std::string label() const
    {
        bool v6 = host.find(':') != std::string::npos;
        return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
    }
    bool operator==(const proxy_endpoint&) const = default;
};

/// The Proxy-Authorization value for `p`, or "" when it has no user.
EVOLINK_INLINE std::string proxy_authorization(const proxy_endpoint& p)
{
    if (p.user.empty() && p.password.empty()) return {};
    return "Basic " + base64(p.user + ":" + p.password);
}

/// `text` parsed as a proxy URL, or why it is not one (without the
/// credentials it may hold).
EVOLINK_INLINE std::variant<proxy_endpoint, std::string> parse_proxy_url(std::string_view text)
{
    std::string s(text);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
    s.erase(0, std::min(s.size(), s.find_first_not_of(" \t")));
    if (s.empty()) return std::string("is empty");
    if (s.find("://") == std::string::npos) s = "http://" + s; // curl: no scheme means http
    auto u = boost::urls::parse_uri(s);
    if (!u) return std::string("is not a URL; allowed: http://[user:password@]host[:port] or https://...");
    proxy_endpoint p;
    auto scheme = u->scheme();
    std::string lower(scheme);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (lower == "https") {
        p.tls = true;
        p.port = 443;
    } else if (lower != "http") {
        return "has scheme \"" + lower + "\"; allowed: http or https (SOCKS proxies are not supported)";
    }
    p.host = u->encoded_host_address().decode(); // IPv6 without its brackets
    if (p.host.empty()) return std::string("has no host");
    if (u->has_port()) {
        if (u->port().empty() || u->port_number() == 0) return std::string("has port 0 or an empty port; allowed: 1 to 65535");
        p.port = u->port_number();
    }
    auto path = u->encoded_path();
    if (!path.empty() && path != "/") return std::string("has a path; allowed: scheme, credentials, host and port only");
    if (u->has_query() || u->has_fragment()) return std::string("has a query or fragment; allowed: scheme, credentials, host and port only");
    if (u->has_userinfo()) {
        p.user = u->encoded_user().decode();
        p.password = u->encoded_password().decode();
    }
    return p;
}

/// `s` without surrounding spaces, brackets and trailing dot, in lower case.
EVOLINK_INLINE std::string no_proxy_name(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
    if (!s.empty() && s.back() == '.') s.remove_suffix(1);
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

/// Whether `host` (an IP address) lies in `entry` (an address, or ADDR/BITS).
EVOLINK_INLINE bool no_proxy_address_matches(const boost::asio::ip::address& host, std::string_view entry)
{
    auto slash = entry.find('/');
    boost::system::error_code ec;
    auto net = boost::asio::ip::make_address(std::string(entry.substr(0, slash)), ec);
    if (ec || net.is_v4() != host.is_v4()) return false;
    unsigned max = net.is_v4() ? 32 : 128;
    unsigned bits = max;
    if (slash != std::string_view::npos) {
        auto b = entry.substr(slash + 1);
        if (b.empty() || b.size() > 3 || !std::all_of(b.begin(), b.end(), [](char c) { return c >= '0' && c <= '9'; }))
            return false;
        bits = static_cast<unsigned>(std::stoul(std::string(b)));
        if (bits > max) return false;
    }
    auto a = host.is_v4() ? std::string(reinterpret_cast<const char*>(host.to_v4().to_bytes().data()), 4)
                          : std::string(reinterpret_cast<const char*>(host.to_v6().to_bytes().data()), 16);
    auto n = net.is_v4() ? std::string(reinterpret_cast<const char*>(net.to_v4().to_bytes().data()), 4)
                         : std::string(reinterpret_cast<const char*>(net.to_v6().to_bytes().data()), 16);
    for (unsigned i = 0; i < bits; ++i) {
        unsigned mask = 0x80u >> (i % 8);
        if ((static_cast<unsigned char>(a[i / 8]) & mask) != (static_cast<unsigned char>(n[i / 8]) & mask)) return false;
    }
    return true;
}

/// Whether `host` goes direct under the NO_PROXY list `list`.
EVOLINK_INLINE bool no_proxy_matches(std::string_view list, std::string_view host_text)
{
    auto host = no_proxy_name(host_text);
    if (host.empty()) return false;
    boost::system::error_code ec;
    auto ip = boost::asio::ip::make_address(host, ec);
    bool is_ip = !ec;
    while (!list.empty()) {
        auto comma = list.find(',');
        auto entry = no_proxy_name(list.substr(0, comma));
        list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
        if (entry.empty()) continue;
        if (entry == "*") return true;
        if (is_ip) {
            if (no_proxy_address_matches(ip, entry)) return true;
            continue;
        }
        std::string_view e = entry;
        if (e.front() == '.') e.remove_prefix(1); // ".example.com" is "example.com"
        if (host == e) return true;
        if (host.size() > e.size() && host.ends_with(e) && host[host.size() - e.size() - 1] == '.') return true;
    }
    return false;
}

/// The proxy variables a process has (empty: unset).
struct proxy_environment {
    std::string https_proxy; ///< https_proxy, else HTTPS_PROXY
    std::string all_proxy;   ///< all_proxy, else ALL_PROXY
    std::string no_proxy;    ///< no_proxy, else NO_PROXY

    /// Read with `get(name)` (std::getenv by default), lower case first.
    template <class Get>
    static proxy_environment read(Get get)
    {
        auto either = [&](const char* lower, const char* upper) {
            const char* v = get(lower);
            if (!v || !*v) v = get(upper);
            return std::string(v ? v : "");
        };
        return {either("https_proxy", "HTTPS_PROXY"), either("all_proxy", "ALL_PROXY"), either("no_proxy", "NO_PROXY")};
    }
};

/// The proxy URL the environment names for https (nothing: none), and which
/// variable named it (for errors): HTTPS_PROXY's pair before ALL_PROXY's.
struct proxy_choice {
    std::string url;
    std::string variable;
};
EVOLINK_INLINE std::optional<proxy_choice> environment_proxy(const proxy_environment& env)
{
    if (!env.https_proxy.empty()) return proxy_choice{env.https_proxy, "HTTPS_PROXY"};
    if (!env.all_proxy.empty()) return proxy_choice{env.all_proxy, "ALL_PROXY"};
    return std::nullopt;
}

/// The same for a connection to `host`: nothing when NO_PROXY names it.
EVOLINK_INLINE std::optional<proxy_choice> proxy_from_environment(const proxy_environment& env, std::string_view host)
{
    auto c = environment_proxy(env);
    if (c && no_proxy_matches(env.no_proxy, host)) return std::nullopt;
    return c;
}

/// A client's proxy settings, settled at construction.
struct proxy_route {
    std::optional<proxy_endpoint> proxy;
    std::string no_proxy;

    /// The proxy a connection to `o` goes through; null: direct. Only https
    /// origins are proxied (http:// ones are loopback tests and TLS-terminating
    /// proxies: allow_insecure_http).
    const proxy_endpoint* for_origin(const origin& o) const
    {
        if (!proxy || !o.tls || no_proxy_matches(no_proxy, o.host)) return nullptr;
        return &*proxy;
    }
};

/// The route from client_options::proxy and ::no_proxy (unset: `env`), or
/// why the proxy URL cannot be used (naming where it came from, never its
/// password).
EVOLINK_INLINE std::variant<proxy_route, std::string> choose_proxy(const std::optional<std::string>& option,
                                                                   const std::optional<std::string>& no_proxy,
                                                                   const proxy_environment& env)
{
    proxy_route route;
    route.no_proxy = no_proxy.value_or(env.no_proxy);
    auto named = option ? proxy_choice{*option, "client_options::proxy"} : environment_proxy(env).value_or(proxy_choice{});
    if (named.url.empty()) return route;
    const auto& url = named.url;
    std::string from = option ? named.variable : named.variable + " (from the environment)";
    auto parsed = parse_proxy_url(url);
    if (auto* why = std::get_if<std::string>(&parsed)) return from + " " + *why;
    auto& p = std::get<proxy_endpoint>(parsed);
    if (p.tls)
        return from + " is an https:// proxy (TLS to the proxy itself), which is not supported yet; allowed: http:// "
                      "(the tunnel still carries TLS to the host end to end)";
    route.proxy = std::move(p);
    return route;
}

} // namespace evolink::detail

#endif
