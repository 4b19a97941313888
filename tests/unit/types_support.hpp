#pragma once
// Helpers shared by the types_*.cpp unit tests.

#include <pgcoro/error.hpp>
#include <pgcoro/types/traits.hpp>

#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace pgcoro_test {

/// "0001 ff" → the bytes 00 01 ff. Spaces are ignored.
inline std::string from_hex(std::string_view hex)
{
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9')
            return c - '0';
        if (c >= 'a' && c <= 'f')
            return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
            return c - 'A' + 10;
        throw std::invalid_argument("bad hex digit");
    };
    std::string digits;
    for (char c : hex)
        if (c != ' ')
            digits.push_back(c);
    if (digits.size() % 2 != 0)
        throw std::invalid_argument("odd number of hex digits");
    std::string bytes;
    for (std::size_t i = 0; i < digits.size(); i += 2)
        bytes.push_back(static_cast<char>(nibble(digits[i]) * 16 + nibble(digits[i + 1])));
    return bytes;
}

/// The bytes as lower-case hex, no separators.
inline std::string to_hex(std::string_view bytes)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    for (char c : bytes) {
        const auto u = static_cast<unsigned char>(c);
        hex.push_back(digits[u >> 4]);
        hex.push_back(digits[u & 0xF]);
    }
    return hex;
}

/// The binary encoding of `value`.
template <class T> std::string encode(const T& value)
{
    std::string out;
    pgcoro::type_traits<T>::encode(value, out);
    return out;
}

/// Decodes `bytes` as a column of `type` (by default T's own type OID).
template <class T> T decode(std::string_view bytes, pgcoro::oid_t type = pgcoro::type_traits<T>::type_oid)
{
    return pgcoro::type_traits<T>::decode(bytes, type);
}

/// encode then decode.
template <class T> T round_trip(const T& value, pgcoro::oid_t type = pgcoro::type_traits<T>::type_oid)
{
    return decode<T>(encode(value), type);
}

/// Predicate for BOOST_CHECK_EXCEPTION: the pgcoro::error carries `code`.
inline auto has_code(pgcoro::client_errc code)
{
    return [code](const pgcoro::error& e) {
        return e.code() == code;
    };
}

/// Predicate for BOOST_CHECK_EXCEPTION: malformed_value with `fragment` in the message.
inline auto malformed_saying(std::string fragment)
{
    return [fragment](const pgcoro::error& e) {
        return e.code() == pgcoro::client_errc::malformed_value &&
               std::string_view(e.what()).find(fragment) != std::string_view::npos;
    };
}

/// Every strict prefix of a valid encoding, and the encoding with one byte appended, is
/// rejected with client_errc::malformed_value.
template <class T> void check_rejects_truncated_and_oversized(std::string_view valid, pgcoro::oid_t type)
{
    for (std::size_t size = 0; size < valid.size(); ++size) {
        BOOST_TEST_CONTEXT("prefix of " << size << " bytes of " << to_hex(valid))
        {
            BOOST_CHECK_EXCEPTION(decode<T>(valid.substr(0, size), type), pgcoro::error,
                                  has_code(pgcoro::client_errc::malformed_value));
        }
    }
    std::string oversized(valid);
    oversized.push_back('\0');
    BOOST_TEST_CONTEXT("oversized " << to_hex(oversized))
    {
        BOOST_CHECK_EXCEPTION(decode<T>(oversized, type), pgcoro::error,
                              has_code(pgcoro::client_errc::malformed_value));
    }
}

} // namespace pgcoro_test
