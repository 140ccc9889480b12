// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_RANDOM_HPP
#define EVOLINK_DETAIL_RANDOM_HPP

// Random names and seeds. Names that must not collide (Idempotency-Keys,
// multipart boundaries, temporary file names) come from OpenSSL's generator;
// retry jitter only needs a cheap seed, drawn from a per-thread engine so that
// no operation pays for a std::random_device (a trapped CPUID on some VMs).

#include <evolink/detail/config.hpp>

#include <openssl/rand.h>

#include <array>
#include <chrono>
#include <cstring>
#include <mutex>
#include <span>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <thread>

#include <pthread.h>

namespace evolink::detail {

/// OpenSSL's random bytes, drawn 1 KiB at a time per thread: each RAND_bytes
/// call takes locks, a getpid() system call and a generator step, which were
/// 3 % of a submit's CPU for 32 bytes. A process made by fork() starts with an
/// empty buffer (pthread_atfork), so that parent and child never hand out the
/// same bytes.
struct random_pool {
    std::array<unsigned char, 1024> bytes{};
    std::size_t next = 1024; ///< bytes[next..] are unused
};

EVOLINK_INLINE random_pool& thread_random_pool()
{
    thread_local random_pool pool;
    static std::once_flag at_fork;
    std::call_once(at_fork, [] { ::pthread_atfork(nullptr, nullptr, [] { thread_random_pool().next = 1024; }); });
    return pool;
}

/// Fills `out` from the pool; false when OpenSSL could not give bytes.
EVOLINK_INLINE bool pooled_random_bytes(std::span<unsigned char> out)
{
    auto& pool = thread_random_pool();
    if (out.size() > pool.bytes.size()) return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
    if (pool.bytes.size() - pool.next < out.size()) {
        if (RAND_bytes(pool.bytes.data(), static_cast<int>(pool.bytes.size())) != 1) return false;
        pool.next = 0;
    }
    std::memcpy(out.data(), pool.bytes.data() + pool.next, out.size());
    std::memset(pool.bytes.data() + pool.next, 0, out.size()); // handed out once
    pool.next += out.size();
    return true;
}

/// `n` characters of [A-Za-z0-9] from OpenSSL's generator (a random_device
/// if OpenSSL cannot give bytes).
EVOLINK_INLINE std::string random_token(std::size_t n)
{
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string raw(n, '\0');
    auto* bytes = reinterpret_cast<unsigned char*>(raw.data());
    if (!pooled_random_bytes({bytes, n})) {
        std::random_device rd;
        for (auto& b : raw) b = static_cast<char>(rd());
    }
    for (auto& c : raw) c = alphabet[static_cast<unsigned char>(c) % 62];
    return raw;
}

/// A fresh Idempotency-Key: "evk-" and 32 random characters.
EVOLINK_INLINE std::string make_idempotency_key() { return "evk-" + random_token(32); }

/// A seed for an operation's own jitter engine (std::minstd_rand), taken from
/// an engine per thread that is seeded once. The operation keeps its engine
/// by value: a coroutine may resume on another thread.
EVOLINK_INLINE std::uint_fast32_t jitter_seed()
{
    thread_local std::minstd_rand engine = [] {
        std::uint32_t seed = 0;
        if (RAND_bytes(reinterpret_cast<unsigned char*>(&seed), sizeof seed) != 1)
            seed = static_cast<std::uint32_t>(std::chrono::steady_clock::now().time_since_epoch().count() ^
                                              std::hash<std::thread::id>{}(std::this_thread::get_id()));
        return std::minstd_rand(seed);
    }();
    return engine();
}

} // namespace evolink::detail

#endif
