// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_ORIGIN_HPP
#define EVOLINK_DETAIL_ORIGIN_HPP

// Where requests go: a base URL taken apart once, when the client is made.

#include <evolink/detail/config.hpp>

#include <boost/url/parse.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace evolink::detail {

/// A base URL taken apart: "https://api.evolink.ai" or "http://127.0.0.1:8080/prefix".
struct origin {
    bool tls = true;
    std::string host;      ///< without brackets for IPv6
    std::string port;      ///< always set ("443" by default)
    std::string path;      ///< prefix without trailing slash ("" or "/prefix")
    std::string host_header;
    bool host_is_ip = false;
    std::string key() const { return (tls ? "https://" : "http://") + host_header; }
};

EVOLINK_INLINE std::optional<origin> parse_origin(std::string_view url, bool allow_http, std::string& why)
{
    auto u = boost::urls::parse_absolute_uri(url);
    if (!u || u->host().empty()) {
        why = "is not an absolute URL like https://api.evolink.ai";
        return std::nullopt;
    }
    origin o;
    std::string scheme = u->scheme();
    if (u->scheme_id() == boost::urls::scheme::https) o.tls = true;
    else if (u->scheme_id() == boost::urls::scheme::http && allow_http) o.tls = false;
    else if (u->scheme_id() == boost::urls::scheme::http) {
        why = "uses http://; set client_options::allow_insecure_http to allow it (a TLS-terminating proxy, tests)";
        return std::nullopt;
    } else {
        why = "has scheme \"" + scheme + "\"; allowed: https (or http when allowed)";
        return std::nullopt;
    }
    if (u->has_query() || u->has_fragment() || u->has_userinfo()) {
        why = "must not carry a query, fragment or user info";
        return std::nullopt;
    }
    o.host = u->host_type() == boost::urls::host_type::ipv6 ? std::string(u->host_ipv6_address().to_string())
                                                           : std::string(u->host());
    o.host_is_ip = u->host_type() == boost::urls::host_type::ipv4 || u->host_type() == boost::urls::host_type::ipv6;
    o.port = u->has_port() ? std::string(u->port()) : (o.tls ? "443" : "80");
    o.path = std::string(u->path());
    while (!o.path.empty() && o.path.back() == '/') o.path.pop_back();
    std::string h = u->host_type() == boost::urls::host_type::ipv6 ? "[" + o.host + "]" : o.host;
    bool default_port = (o.tls && o.port == "443") || (!o.tls && o.port == "80");
    o.host_header = default_port ? h : h + ":" + o.port;
    return o;
}

} // namespace evolink::detail

#endif
