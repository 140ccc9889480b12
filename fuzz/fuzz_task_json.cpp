// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
//
// libFuzzer target: evolink::parse_task on arbitrary bytes. When the bytes
// make a task, the task must survive to_json() -> task_from_json() (and the
// same through JSON text: serialize -> parse_task) with every typed field
// unchanged, and progress must stay within 0..100.

#include <algorithm>
#include <cmath>
#include <optional>
#include <evolink/task.hpp>

#include <boost/json/serialize.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {

void check(bool ok)
{
    if (!ok) __builtin_trap();
}

void check_same(const evolink::task& a, const evolink::task& b)
{
    check(a.id == b.id);
    check(a.status == b.status);
    check(a.progress == b.progress);
    check(a.results == b.results);
    check(a.object == b.object);
    check(a.model == b.model);
    check(a.type == b.type);
    check(a.created == b.created);
    check(a.info == b.info);
    check(a.usage == b.usage);
    check(a.error == b.error);
}

// Boost.JSON 1.81 parses decimal text to the nearest double only
// approximately (exact parsing came later), so numbers read back from text
// are compared with a relative tolerance.
bool near(const std::optional<double>& a, const std::optional<double>& b)
{
    if (a.has_value() != b.has_value()) return false;
    if (!a) return true;
    double scale = std::max({1.0, std::abs(*a), std::abs(*b)});
    return std::abs(*a - *b) <= 1e-9 * scale;
}

void check_same_text(const evolink::task& a, const evolink::task& b)
{
    check(a.id == b.id && a.status == b.status && a.progress == b.progress && a.results == b.results);
    check(a.object == b.object && a.model == b.model && a.type == b.type && a.error == b.error && a.created == b.created);
    check(a.info.can_cancel == b.info.can_cancel && near(a.info.estimated_time, b.info.estimated_time) &&
          near(a.info.video_duration, b.info.video_duration));
    check(a.usage.billing_rule == b.usage.billing_rule && a.usage.user_group == b.usage.user_group &&
          near(a.usage.credits_reserved, b.usage.credits_reserved) && near(a.usage.credits_used, b.usage.credits_used));
}

void check_task(const evolink::task& t)
{
    check(!t.id.empty());
    check(t.progress >= 0 && t.progress <= 100);
    check(t.created >= 0);
    check(t.status == evolink::parse_task_status(t.status_text));
    check(t.finished() == evolink::is_terminal(t.status));
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto t = evolink::parse_task(text);
    if (!t) return 0;
    check_task(*t);

    // Value round trip.
    boost::json::value v = evolink::to_json(*t);
    auto back = evolink::task_from_json(v);
    check(back.has_value());
    check_task(*back);
    check_same(*t, *back);

    // Text round trip: what a callback or a cache would store and read again.
    auto again = evolink::parse_task(boost::json::serialize(v));
    check(again.has_value());
    check_same_text(*t, *again);
    return 0;
}
