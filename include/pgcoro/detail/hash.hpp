#pragma once
// FNV-1a (offset bases and primes from the FNV reference): a hash that is the same on every
// platform, compiler and build (std::hash is not), for values that are stored or compared
// across processes: cursor fingerprints, generated identifier suffixes, advisory lock keys.

#include <cstdint>
#include <string_view>

namespace pgcoro::detail {

constexpr std::uint32_t fnv1a_32(std::string_view text) noexcept
{
    std::uint32_t hash = 2166136261u;
    for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 16777619u;
    }
    return hash;
}

constexpr std::uint64_t fnv1a_64(std::string_view text) noexcept
{
    std::uint64_t hash = 14695981039346656037ull;
    for (char c : text) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 1099511628211ull;
    }
    return hash;
}

} // namespace pgcoro::detail
