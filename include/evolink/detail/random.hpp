// evolink-cpp. Distributed under the Boost Software License, Version 1.0.
#ifndef EVOLINK_DETAIL_RANDOM_HPP
#define EVOLINK_DETAIL_RANDOM_HPP

// Random names and seeds. Names that must not collide (Idempotency-Keys,
// multipart boundaries, temporary file names) come from OpenSSL's generator;
// retry jitter only needs a cheap seed, drawn from a per-thread engine so that
// no operation pays for a std::random_device (a trapped CPUID on some VMs).

#include <evolink/detail/config.hpp>

#include <openssl/rand.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <thread>

namespace evolink::detail {

/// `n` characters of [A-Za-z0-9] from OpenSSL's generator (a clock- and
/// thread-seeded engine if OpenSSL cannot give bytes).
EVOLINK_INLINE std::string random_token(std::size_t n)
{
    static constexpr char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    std::string raw(n, '\0');
    auto* bytes = reinterpret_cast<unsigned char*>(raw.data());
    if (RAND_bytes(bytes, static_cast<int>(n)) != 1) {
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
