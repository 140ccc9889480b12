// The Redis part's decisions without a socket (detail/redis_decisions.hpp):
// reconnect pauses, what a heartbeat's answer means for the tasks an
// instance owns, when it may consider them claimed, and the replies' shapes.
#include <evolink/detail/redis_decisions.hpp>

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using evolink::redis_reply;
using namespace evolink::detail;

namespace {

evolink::journal_entry entry(std::string id)
{
    evolink::journal_entry e;
    e.task_id = std::move(id);
    e.model = "wan2.5-text-to-video";
    e.type = "video";
    e.recorded_at = 1700000000;
    return e;
}

redis_reply str(std::string s)
{
    redis_reply r;
    r.type = redis_reply::kind::string;
    r.str = std::move(s);
    return r;
}

redis_reply arr(std::vector<redis_reply> v)
{
    redis_reply r;
    r.type = redis_reply::kind::array;
    r.elements = std::move(v);
    return r;
}

redis_reply stream_entry(std::string id, std::string task)
{
    return arr({str(std::move(id)), arr({str("task"), str(std::move(task)), str("model"), str("m"), str("type"),
                                         str("image"), str("at"), str("42")})});
}

} // namespace

TEST_CASE("reconnect pauses double from the minimum up to the maximum, jittered into [50 %, 100 %]")
{
    CHECK(reconnect_delay(0, 100ms, 5000ms, 0.999) == 99ms);
    CHECK(reconnect_delay(0, 100ms, 5000ms, 0.0) == 50ms);
    CHECK(reconnect_delay(3, 100ms, 5000ms, 0.999) == 799ms);
    CHECK(reconnect_delay(10, 100ms, 5000ms, 0.999) == 4997ms); // capped
    CHECK(reconnect_delay(1000, 100ms, 5000ms, 0.0) == 2500ms);  // no overflow after many attempts
    CHECK(reconnect_delay(0, 0ms, 0ms, 0.5) >= 1ms);             // never a busy loop
}

TEST_CASE("timings: a heartbeat must come well within claim_after")
{
    CHECK_FALSE(lease_book::check(2s, 10s));
    CHECK_FALSE(lease_book::check(1s, 3s));
    CHECK(lease_book::check(2s, 5s));
    CHECK(lease_book::check(0s, 10s));
}

TEST_CASE("lease_book: an add keeps the task only when this instance owns it")
{
    lease_book b(1s, 5s);
    b.added(entry("t1"), "1-0", "me", "me");
    b.added(entry("t2"), "2-0", "other", "me"); // the fleet had it already, under another owner
    CHECK(b.owns("t1"));
    CHECK_FALSE(b.owns("t2"));
    b.finished("t1");
    CHECK(b.size() == 0);
}

TEST_CASE("lease_book: a heartbeat's answer drops the tasks another instance claimed")
{
    lease_book b(1s, 5s);
    for (auto id : {"a", "b", "c"}) b.added(entry(id), std::string(id) + "-0", "me", "me");
    auto sent = b.beat_list();
    REQUIRE(sent.size() == 3);
    CHECK(sent[0].e.task_id == "a"); // a stable order: the answer is matched by position

    // "b" was claimed by someone else; "c" was recorded again (Redis lost it).
    auto r = b.beat_ok(lease_book::clock::now(), sent, {1, 0, 2});
    CHECK(r.lost == std::vector<std::string>{"b"});
    CHECK(r.readded == 1);
    CHECK(b.owns("a"));
    CHECK_FALSE(b.owns("b"));
    CHECK(b.owns("c"));
}

TEST_CASE("lease_book: a task finished while its heartbeat was in flight is not reported lost")
{
    lease_book b(1s, 5s);
    b.added(entry("a"), "1-0", "me", "me");
    auto sent = b.beat_list();
    b.finished("a");                                   // the finish script deleted it first
    auto r = b.beat_ok(lease_book::clock::now(), sent, {0}); // so the beat did not find it
    CHECK(r.lost.empty());
    CHECK(r.refinish.empty());
}

TEST_CASE("lease_book: a task finished while a heartbeat recorded it again (Redis had lost it) is finished again")
{
    lease_book b(1s, 5s);
    b.added(entry("a"), "1-0", "me", "me");
    b.added(entry("b"), "2-0", "me", "me");
    auto sent = b.beat_list();
    b.finished("a");
    auto r = b.beat_ok(lease_book::clock::now(), sent, {2, 2});
    CHECK(r.refinish == std::vector<std::string>{"a"});
    CHECK(r.readded == 1);
    CHECK(r.lost.empty());
}

TEST_CASE("lease_book: a finish still on its way to Redis when the beat answers is neither lost nor left recorded")
{
    lease_book b(1s, 5s);
    b.added(entry("a"), "1-0", "me", "me");
    b.added(entry("b"), "2-0", "me", "me");
    auto sent = b.beat_list();
    b.finishing("a"); // its finish script ran in Redis before the beat
    b.finishing("b"); // Redis restarted empty: the beat recorded it again
    auto r = b.beat_ok(lease_book::clock::now(), sent, {0, 2});
    CHECK(r.lost.empty());
    CHECK(r.refinish == std::vector<std::string>{"b"});
    b.finished("b");
    CHECK(b.size() == 0);
}

TEST_CASE("lease_book: a finish Redis did not take stays owned until a beat makes it")
{
    lease_book b(1s, 5s);
    b.added(entry("a"), "1-0", "me", "me");
    b.finishing("a");
    b.finish_failed("a");
    CHECK(b.owns("a")); // heartbeated meanwhile: nobody claims it
    CHECK(b.finishes_due() == std::vector<std::string>{"a"});
    b.finished("a"); // the beat's finish reached Redis
    CHECK_FALSE(b.owns("a"));
    CHECK(b.finishes_due().empty());
}

TEST_CASE("lease_book: failed heartbeats warn once, when claim_after has passed since the last good one")
{
    lease_book b(1s, 5s);
    auto t0 = lease_book::clock::now();
    CHECK_FALSE(b.beat_failed(t0)); // never beat yet: nothing owned can have been claimed
    b.beat_ok(t0, {}, {});
    CHECK_FALSE(b.beat_failed(t0 + 4s));
    CHECK(b.beat_failed(t0 + 5s));
    CHECK_FALSE(b.beat_failed(t0 + 6s)); // once
    b.beat_ok(t0 + 7s, {}, {});
    CHECK(b.beat_failed(t0 + 12s)); // again after a good beat
}

TEST_CASE("lease_book: claims are paced by the heartbeat")
{
    lease_book b(1s, 5s);
    auto t0 = lease_book::clock::now();
    CHECK(b.claim_due(t0));
    CHECK_FALSE(b.claim_due(t0 + 500ms));
    CHECK(b.claim_due(t0 + 1s));
    CHECK(b.next_beat(t0) == t0 + 1s);
}

TEST_CASE("lease_book: claimed tasks are owned and heartbeated")
{
    lease_book b(1s, 5s);
    b.claimed({fleet_entry{"9-0", entry("x")}});
    CHECK(b.owns("x"));
    CHECK(b.beat_list().at(0).entry_id == "9-0");
}

TEST_CASE("replies: XAUTOCLAIM's answer, deleted entries skipped")
{
    redis_reply nil; // an entry deleted from the stream while pending
    auto r = arr({str("0-0"), arr({stream_entry("1-0", "t1"), nil, stream_entry("2-0", "t2")}), arr({})});
    auto p = parse_autoclaim(r);
    REQUIRE(p);
    CHECK(p->cursor == "0-0");
    REQUIRE(p->entries.size() == 2);
    CHECK(p->entries[0].entry_id == "1-0");
    CHECK(p->entries[0].e.task_id == "t1");
    CHECK(p->entries[0].e.type == "image");
    CHECK(p->entries[0].e.recorded_at == 42);
    CHECK(p->entries[1].e.task_id == "t2");

    CHECK_FALSE(parse_autoclaim(str("OK")));
    CHECK_FALSE(parse_autoclaim(arr({str("0-0")})));
    CHECK_FALSE(parse_stream_entry(arr({str("1-0"), arr({str("model"), str("m")})}))); // no task id
    CHECK_FALSE(parse_stream_entry(arr({str("1-0"), arr({str("task")})})));            // odd fields
}

TEST_CASE("replies: the heartbeat's statuses")
{
    redis_reply one;
    one.type = redis_reply::kind::integer;
    one.integer = 1;
    CHECK(parse_integers(arr({one, one})) == std::vector<long long>{1, 1});
    CHECK_FALSE(parse_integers(arr({one, str("x")})));
    CHECK_FALSE(parse_integers(one));
}
