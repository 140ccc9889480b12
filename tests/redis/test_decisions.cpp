// The Redis part's decisions without a socket (detail/redis_decisions.hpp):
// reconnect pauses.
#include <evolink/detail/redis_decisions.hpp>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using namespace evolink::detail;

TEST_CASE("reconnect pauses double from the minimum up to the maximum, jittered into [50 %, 100 %]")
{
    CHECK(reconnect_delay(0, 100ms, 5000ms, 0.999) == 99ms);
    CHECK(reconnect_delay(0, 100ms, 5000ms, 0.0) == 50ms);
    CHECK(reconnect_delay(3, 100ms, 5000ms, 0.999) == 799ms);
    CHECK(reconnect_delay(10, 100ms, 5000ms, 0.999) == 4997ms); // capped
    CHECK(reconnect_delay(1000, 100ms, 5000ms, 0.0) == 2500ms);  // no overflow after many attempts
    CHECK(reconnect_delay(0, 0ms, 0ms, 0.5) >= 1ms);             // never a busy loop
}

