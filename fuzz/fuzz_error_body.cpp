// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// libFuzzer target: turning an HTTP answer into diagnostics
// (evolink::detail::api_diagnostics and task_outcome).
//
// Input layout:
//   byte 0      status: b % 201 == 200 -> 200, otherwise 400 + b % 201 (400..599)
//   byte 1      bits 0-1 content type, bits 2-3 reason phrase, bits 4-5
//               X-Request-Id, bit 6: splice the API key into the body at the
//               offset given by byte 2 (modulo the body size + 1)
//   byte 2      splice offset (only read when bit 6 of byte 1 is set)
//   the rest    the body
//
// Checks: the HTTP status is kept; a non-2xx answer is an error with a
// non-empty message; and the API key ("SECRETKEY1234") never appears in any
// diagnostics field that task_outcome returns, even when the body, the reason
// phrase or the request id carry it.

#include <evolink/detail/api_error.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view secret = "SECRETKEY1234";

void check(bool ok)
{
    if (!ok) __builtin_trap();
}

bool leaks(const std::string& s)
{
    return s.find(secret) != std::string::npos;
}

void check_no_secret(const evolink::diagnostics& d)
{
    for (auto* s : {&d.code, &d.type, &d.message, &d.param, &d.fallback_suggestion, &d.request_id, &d.task_id,
                    &d.task_status, &d.idempotency_key})
        check(!leaks(*s));
    check(!leaks(d.summary()));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size < 2) return 0;
    static constexpr std::array<std::string_view, 4> content_types = {
        "", "application/json", "text/html; charset=utf-8", "text/plain"};
    static constexpr std::array<std::string_view, 4> reasons = {"", "Bad Gateway", "Too Many Requests",
                                                                "key SECRETKEY1234 refused"};
    static constexpr std::array<std::string_view, 4> request_ids = {"", "req-20250101-abc", "SECRETKEY1234",
                                                                    "r-SECRETKEY1234-x"};

    const unsigned pick = data[0] % 201;
    const unsigned status = pick == 200 ? 200 : 400 + pick;
    const std::uint8_t flags = data[1];
    std::size_t offset = 2;
    std::size_t splice_at = 0;
    const bool splice = (flags & 0x40) != 0;
    if (splice) {
        if (size < 3) return 0;
        splice_at = data[2];
        offset = 3;
    }

    evolink::detail::http_result r;
    r.status = status;
    r.content_type = std::string(content_types[flags & 3]);
    r.reason = std::string(reasons[(flags >> 2) & 3]);
    r.request_id = std::string(request_ids[(flags >> 4) & 3]);
    r.body.assign(reinterpret_cast<const char*>(data + offset), size - offset);
    if (splice) r.body.insert(splice_at % (r.body.size() + 1), secret);
    r.sent = true;

    const bool ok_status = status >= 200 && status <= 299;

    // api_diagnostics: the raw (unredacted) diagnostics of the answer.
    auto d = evolink::detail::api_diagnostics(r);
    check(d.http_status == static_cast<int>(status));
    if (!ok_status) check(!d.message.empty());
    if (!r.request_id.empty()) check(d.request_id == r.request_id);

    // task_outcome: the redacted result a caller sees.
    auto o = evolink::detail::task_outcome({{}, {}, r}, secret);
    if (!ok_status) {
        check(static_cast<bool>(o.ec));
        check(evolink::http_status(o.ec) == static_cast<int>(status));
        check(o.diag->http_status == static_cast<int>(status));
        check(!o.diag->message.empty());
    } else if (o.ec) { // 2xx that is not a task object
        check(o.ec == evolink::make_error_code(evolink::errc::bad_response));
        check(o.diag->http_status == static_cast<int>(status));
        check(!o.diag->message.empty());
    } else {
        check(!o.value.id.empty());
    }
    check_no_secret(*o.diag);

    return 0;
}
