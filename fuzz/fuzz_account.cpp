// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// libFuzzer target: the account's answers on arbitrary bytes. Byte 0 picks
// the parser (even: detail::parse_credits, odd: detail::parse_task_list with
// a filter asking for page 2 of 10); the rest is the body. A success has
// finite balances, or entries whose ids are task ids (they may go into a
// request path), progress within 0..100, created_at >= 0, and
// has_next_page() equal to page * page_size < total computed without
// overflow. A failure always says why.

#include <evolink/account.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace {

void check(bool ok)
{
    if (!ok) __builtin_trap();
}

void check_credits(std::string_view body)
{
    std::string why;
    auto b = evolink::detail::parse_credits(body, why);
    if (!b) {
        check(!why.empty());
        return;
    }
    for (double d : {b->user.remaining, b->user.used, b->token.remaining, b->token.used}) check(std::isfinite(d));
}

void check_list(std::string_view body)
{
    evolink::task_filter asked;
    asked.page = 2;
    asked.page_size = 10;
    std::string why;
    auto l = evolink::detail::parse_task_list(body, asked, why);
    if (!l) {
        check(!why.empty());
        return;
    }
    for (auto& t : l->tasks) {
        check(!evolink::detail::check_task_id(t.id));
        check(t.progress >= 0 && t.progress <= 100);
        check(t.created_at >= 0);
        check(t.status == evolink::parse_task_status(t.status_text));
        if (t.duration) check(std::isfinite(*t.duration));
        if (t.credits_used) check(std::isfinite(*t.credits_used));
    }
    unsigned __int128 shown = static_cast<unsigned __int128>(l->page) * l->page_size;
    check(l->has_next_page() == (l->page_size > 0 && shown < l->total));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    if (size == 0) return 0;
    std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
    if (data[0] % 2 == 0) check_credits(body);
    else check_list(body);
    return 0;
}
