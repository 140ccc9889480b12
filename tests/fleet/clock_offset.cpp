// clock_offset: preloaded (LD_PRELOAD) into a fleet_node by tests/fleet/run.py,
// it puts the process's wall clock FLEET_CLOCK_OFFSET seconds off: clock_gettime
// of the CLOCK_REALTIME clocks, time() and gettimeofday(), which
// std::chrono::system_clock, OpenSSL's certificate checks and the journal's
// recorded_at read. The monotonic clocks are left alone, as a clock set wrong
// leaves them.
//
// Not libfaketime: it looks its symbols up lazily, with dlsym, which allocates,
// and ASan's allocator reads the clock while holding its lock: the first
// allocation deadlocked. Here a raw system call, no lookup, no allocation; the
// module is built without sanitizers (tests/meson.build).

#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>

namespace {

long offset_s = 0; // set before main(), before any thread; 0 for calls made earlier

[[gnu::constructor]] void read_offset()
{
    if (const char* v = std::getenv("FLEET_CLOCK_OFFSET")) offset_s = std::strtol(v, nullptr, 10);
}

int real_clock_gettime(clockid_t id, timespec* ts)
{
    return static_cast<int>(::syscall(SYS_clock_gettime, id, ts));
}

} // namespace

extern "C" {

int clock_gettime(clockid_t id, timespec* ts) noexcept
{
    int r = real_clock_gettime(id, ts);
    if (r == 0 && (id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE)) ts->tv_sec += offset_s;
    return r;
}

time_t time(time_t* out) noexcept
{
    timespec ts{};
    clock_gettime(CLOCK_REALTIME, &ts);
    if (out) *out = ts.tv_sec;
    return ts.tv_sec;
}

int gettimeofday(timeval* __restrict tv, void* __restrict) noexcept
{
    timespec ts{};
    int r = clock_gettime(CLOCK_REALTIME, &ts);
    if (r == 0) { // tv: declared nonnull
        tv->tv_sec = ts.tv_sec;
        tv->tv_usec = ts.tv_nsec / 1000;
    }
    return r;
}

} // extern "C"
