// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// Which proxy a connection takes (detail/proxy_rules.hpp), each rule alone:
// proxy URLs, the environment's variables and their order, NO_PROXY as curl
// matches it.

#include <evolink/detail/proxy_rules.hpp>
#include <evolink/detail/proxy_tunnel.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <variant>

using evolink::errc;
using evolink::detail::base64;
using evolink::detail::choose_proxy;
using evolink::detail::connect_request;
using evolink::detail::judge_connect_answer;
using evolink::detail::origin;
using evolink::detail::parse_origin;
using evolink::detail::proxy_route;
using evolink::detail::no_proxy_matches;
using evolink::detail::parse_proxy_url;
using evolink::detail::proxy_authorization;
using evolink::detail::proxy_endpoint;
using evolink::detail::proxy_environment;
using evolink::detail::proxy_from_environment;
using Catch::Matchers::Contains;

namespace {

proxy_endpoint parsed(const char* url)
{
    auto r = parse_proxy_url(url);
    INFO(url);
    REQUIRE(std::holds_alternative<proxy_endpoint>(r));
    return std::get<proxy_endpoint>(r);
}

std::string refused(const char* url)
{
    auto r = parse_proxy_url(url);
    INFO(url);
    REQUIRE(std::holds_alternative<std::string>(r));
    return std::get<std::string>(r);
}

} // namespace

TEST_CASE("proxy URL: scheme, host, port, credentials")
{
    auto p = parsed("http://proxy.corp:3128");
    CHECK_FALSE(p.tls);
    CHECK(p.host == "proxy.corp");
    CHECK(p.port == 3128);
    CHECK(p.user.empty());
    CHECK(p.label() == "proxy.corp:3128");

    CHECK(parsed("proxy.corp:8080").port == 8080); // no scheme: http, as curl
    CHECK_FALSE(parsed("proxy.corp").tls);
    CHECK(parsed("proxy.corp").port == 1080); // curl's default proxy port
    CHECK(parsed("http://proxy.corp/").port == 1080);
    CHECK(parsed("HTTP://Proxy.Corp:1").port == 1);

    auto s = parsed("https://secure.corp");
    CHECK(s.tls);
    CHECK(s.port == 443);

    auto a = parsed("http://al%40ice:p%3Ass@10.0.0.1:8080");
    CHECK(a.user == "al@ice");
    CHECK(a.password == "p:ss");
    CHECK(a.host == "10.0.0.1");
    CHECK(a.label() == "10.0.0.1:8080"); // never the credentials

    auto v6 = parsed("http://[::1]:3128");
    CHECK(v6.host == "::1");
    CHECK(v6.label() == "[::1]:3128");
    CHECK(parsed("  http://p:1  ").host == "p");
}

TEST_CASE("proxy URL: what is refused says why, without the credentials")
{
    CHECK_THAT(refused(""), Contains("empty"));
    CHECK_THAT(refused("socks5://p:1080"), Contains("socks5") && Contains("http or https"));
    CHECK_THAT(refused("http://p:0"), Contains("port"));
    CHECK_THAT(refused("http://p:3128/path"), Contains("path"));
    CHECK_THAT(refused("http://p:3128/?x=1"), Contains("query"));
    auto why = refused("ftp://user:hunter2@p:21");
    CHECK_THAT(why, !Contains("hunter2"));
    CHECK_THAT(refused("http://:3128"), Contains("host"));
}

TEST_CASE("Proxy-Authorization: Basic of user:password; none without a user")
{
    CHECK(base64("") == "");
    CHECK(base64("f") == "Zg==");
    CHECK(base64("fo") == "Zm8=");
    CHECK(base64("foo") == "Zm9v");
    CHECK(base64("Aladdin:open sesame") == "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    CHECK(proxy_authorization(parsed("http://Aladdin:open%20sesame@p:1")) == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
    CHECK(proxy_authorization(parsed("http://p:1")).empty());
    CHECK(proxy_authorization(parsed("http://u@p:1")) == "Basic " + base64("u:"));
}

TEST_CASE("NO_PROXY: a name matches itself and its subdomains, with or without a leading dot")
{
    for (const char* entry : {"example.com", ".example.com", " example.com ", "EXAMPLE.com", "example.com."}) {
        INFO(entry);
        CHECK(no_proxy_matches(entry, "example.com"));
        CHECK(no_proxy_matches(entry, "api.example.com"));
        CHECK(no_proxy_matches(entry, "a.b.Example.COM"));
        CHECK(no_proxy_matches(entry, "api.example.com.")); // a trailing dot on the host too
        CHECK_FALSE(no_proxy_matches(entry, "badexample.com"));
        CHECK_FALSE(no_proxy_matches(entry, "example.com.evil.net"));
        CHECK_FALSE(no_proxy_matches(entry, "example.org"));
    }
}

TEST_CASE("NO_PROXY: lists, spaces, empty entries, and * alone")
{
    CHECK(no_proxy_matches("localhost, .corp ,example.com", "files.corp"));
    CHECK(no_proxy_matches("localhost,,example.com", "example.com"));
    CHECK_FALSE(no_proxy_matches("localhost,,example.com", "api.evolink.ai"));
    CHECK(no_proxy_matches("*", "api.evolink.ai"));
    CHECK(no_proxy_matches(" * ", "127.0.0.1"));
    CHECK_FALSE(no_proxy_matches("*.example.com", "api.example.com")); // not a glob: * only alone
    CHECK_FALSE(no_proxy_matches("", "example.com"));
    CHECK_FALSE(no_proxy_matches(" , ", "example.com"));
}

TEST_CASE("NO_PROXY: IP addresses match exactly, or by range; names and addresses do not mix")
{
    CHECK(no_proxy_matches("127.0.0.1", "127.0.0.1"));
    CHECK_FALSE(no_proxy_matches("127.0.0.1", "127.0.0.2"));
    CHECK(no_proxy_matches("10.0.0.0/8", "10.200.3.4"));
    CHECK_FALSE(no_proxy_matches("10.0.0.0/8", "11.0.0.1"));
    CHECK(no_proxy_matches("192.168.1.0/24", "192.168.1.77"));
    CHECK_FALSE(no_proxy_matches("192.168.1.0/24", "192.168.2.1"));
    CHECK(no_proxy_matches("0.0.0.0/0", "8.8.8.8"));
    CHECK(no_proxy_matches("::1", "::1"));
    CHECK(no_proxy_matches("[::1]", "[::1]"));
    CHECK(no_proxy_matches("fd00::/8", "fd12:3456::1"));
    CHECK_FALSE(no_proxy_matches("fd00::/8", "fe80::1"));
    CHECK_FALSE(no_proxy_matches("127.0.0.1", "::1"));          // another family
    CHECK_FALSE(no_proxy_matches("10.0.0.0/33", "10.0.0.1"));    // no such range
    CHECK_FALSE(no_proxy_matches("10.0.0.0/x", "10.0.0.1"));
    CHECK_FALSE(no_proxy_matches("localhost", "127.0.0.1"));     // no name lookups
    CHECK_FALSE(no_proxy_matches("127.0.0.1", "localhost"));
}

TEST_CASE("the environment: https_proxy before HTTPS_PROXY before all_proxy before ALL_PROXY; empty is unset")
{
    std::map<std::string, std::string> vars;
    auto get = [&](const char* name) -> const char* {
        auto it = vars.find(name);
        return it == vars.end() ? nullptr : it->second.c_str();
    };
    auto proxy = [&](const char* host) {
        auto c = proxy_from_environment(proxy_environment::read(get), host);
        return c ? c->url + " from " + c->variable : std::string("direct");
    };
    CHECK(proxy("api.evolink.ai") == "direct");
    vars["ALL_PROXY"] = "http://all-upper:1";
    CHECK(proxy("api.evolink.ai") == "http://all-upper:1 from ALL_PROXY");
    vars["all_proxy"] = "http://all-lower:1";
    CHECK(proxy("api.evolink.ai") == "http://all-lower:1 from ALL_PROXY");
    vars["HTTPS_PROXY"] = "http://https-upper:1";
    CHECK(proxy("api.evolink.ai") == "http://https-upper:1 from HTTPS_PROXY");
    vars["https_proxy"] = "http://https-lower:1";
    CHECK(proxy("api.evolink.ai") == "http://https-lower:1 from HTTPS_PROXY");
    vars["https_proxy"] = ""; // empty: as if unset
    CHECK(proxy("api.evolink.ai") == "http://https-upper:1 from HTTPS_PROXY");

    vars["NO_PROXY"] = "evolink.ai";
    CHECK(proxy("api.evolink.ai") == "direct");
    CHECK(proxy("cdn.example.com") == "http://https-upper:1 from HTTPS_PROXY"); // each host on its own
    vars["no_proxy"] = "example.com"; // lower case first
    CHECK(proxy("api.evolink.ai") == "http://https-upper:1 from HTTPS_PROXY");
    CHECK(proxy("cdn.example.com") == "direct");
    vars["http_proxy"] = "http://plain:1"; // only for http:// origins, which the client does not proxy
    vars.erase("HTTPS_PROXY");
    vars.erase("all_proxy");
    vars.erase("ALL_PROXY");
    CHECK(proxy("api.evolink.ai") == "direct");
}

namespace {

origin origin_of(const char* url)
{
    std::string why;
    auto o = parse_origin(url, true, why);
    REQUIRE(o);
    return *o;
}

} // namespace

TEST_CASE("CONNECT: the host and port of the origin, credentials when the URL has them")
{
    auto o = origin_of("https://api.evolink.ai");
    CHECK(connect_request(parsed("http://p:3128"), o, "ua/1") ==
          "CONNECT api.evolink.ai:443 HTTP/1.1\r\nHost: api.evolink.ai:443\r\nUser-Agent: ua/1\r\n\r\n");
    CHECK(connect_request(parsed("http://u:p@p:3128"), origin_of("https://[::1]:8443"), "") ==
          "CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\nProxy-Authorization: Basic dTpw\r\n\r\n");
}

TEST_CASE("CONNECT's answer: any 2xx opens the tunnel; refusals and failures say what the proxy answered")
{
    auto o = origin_of("https://api.evolink.ai");
    for (const char* ok : {"HTTP/1.1 200 Connection established\r\n\r\n", "HTTP/1.0 200\r\n\r\n",
                           "HTTP/1.1 204 No Content\r\nVia: x\r\n\r\n"}) {
        INFO(ok);
        CHECK(!judge_connect_answer(ok, o).ec);
    }
    auto v = judge_connect_answer("HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", o);
    CHECK(v.ec == errc::proxy_refused);
    CHECK(v.status == 407);
    CHECK_THAT(v.message, Contains("407 Proxy Authentication Required to CONNECT api.evolink.ai:443") &&
                              Contains("user:password"));
    CHECK(judge_connect_answer("HTTP/1.0 401 Unauthorized\r\n\r\n", o).ec == errc::proxy_refused);
    CHECK(judge_connect_answer("HTTP/1.1 403 Forbidden\r\n\r\n", o).ec == errc::proxy_refused);
    CHECK(judge_connect_answer("HTTP/1.1 405 Method Not Allowed\r\n\r\n", o).ec == errc::proxy_refused);
    auto bad_gateway = judge_connect_answer("HTTP/1.1 502 Bad Gateway\r\n\r\n", o);
    CHECK(bad_gateway.ec == errc::connect_failed); // retried: the proxy could not reach the host now
    CHECK_THAT(bad_gateway.message, Contains("502 Bad Gateway"));
    for (const char* junk : {"", "SSH-2.0-OpenSSH\r\n\r\n", "HTTP/2 200\r\n\r\n", "HTTP/1.1 2000 x\r\n\r\n",
                             "HTTP/1.1 abc\r\n\r\n", "HTTP/1.1 099 x\r\n\r\n"}) {
        INFO(junk);
        auto j = judge_connect_answer(junk, o);
        CHECK(j.ec == errc::connect_failed);
        CHECK_THAT(j.message, Contains("not HTTP"));
    }
}

TEST_CASE("the route: the option before the environment, \"\" for none, NO_PROXY per host, http origins direct")
{
    proxy_environment env{"http://env-https:1", "http://env-all:1", "localhost"};
    auto route = [](const std::variant<proxy_route, std::string>& r) {
        REQUIRE(std::holds_alternative<proxy_route>(r));
        return std::get<proxy_route>(r);
    };
    auto from_env = route(choose_proxy(std::nullopt, std::nullopt, env));
    REQUIRE(from_env.proxy);
    CHECK(from_env.proxy->host == "env-https");
    CHECK(from_env.no_proxy == "localhost");
    CHECK(from_env.for_origin(origin_of("https://api.evolink.ai")));
    CHECK_FALSE(from_env.for_origin(origin_of("https://localhost:8443")));
    CHECK_FALSE(from_env.for_origin(origin_of("http://127.0.0.1:8080"))); // plain http: never proxied

    auto option = route(choose_proxy(std::string("http://opt:2"), std::string("evolink.ai"), env));
    CHECK(option.proxy->host == "opt");
    CHECK_FALSE(option.for_origin(origin_of("https://api.evolink.ai")));
    CHECK(option.for_origin(origin_of("https://localhost")));

    auto none = route(choose_proxy(std::string(""), std::nullopt, env));
    CHECK_FALSE(none.proxy);
    CHECK_FALSE(none.for_origin(origin_of("https://api.evolink.ai")));
    CHECK_FALSE(route(choose_proxy(std::nullopt, std::nullopt, proxy_environment{})).proxy);
    CHECK(route(choose_proxy(std::nullopt, std::nullopt, proxy_environment{"", "http://all:3", ""})).proxy->host == "all");

    auto bad = choose_proxy(std::nullopt, std::nullopt, proxy_environment{"", "socks5://u:pw@h:1", ""});
    REQUIRE(std::holds_alternative<std::string>(bad));
    CHECK_THAT(std::get<std::string>(bad), Contains("ALL_PROXY") && Contains("socks5") && !Contains("pw"));
    auto https = choose_proxy(std::string("https://h"), std::nullopt, env);
    REQUIRE(std::holds_alternative<std::string>(https));
    CHECK_THAT(std::get<std::string>(https), Contains("client_options::proxy") && Contains("not supported yet"));
}
