#pragma once
// Codecs for the scalar built-ins: bool, int2/int4/int8, float4/float8, the text family
// and bytea, in PostgreSQL's binary format (boolsend, int2send, float8send, textsend,
// byteasend: fixed-width big-endian numbers, raw bytes for text and bytea).

#include <pgcoro/types/traits.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pgcoro {
namespace detail {

/// Throws client_errc::malformed_value saying that a value of PostgreSQL type `type`
/// must be `expected` bytes long but is `actual`.
[[noreturn]] void throw_wrong_size(oid_t type, std::size_t expected, std::size_t actual);

/// Throws client_errc::type_mismatch: the codec of `cpp_type` was asked to decode a column
/// of `type`, which its accepts() rejects. The result layer checks accepts() before
/// decoding, so this only fires when a codec is called directly with the wrong OID.
[[noreturn]] void throw_type_mismatch(std::string_view cpp_type, oid_t type);

/// Checks that a fixed-width value of PostgreSQL type `type` is exactly `size` bytes.
/// Throws client_errc::malformed_value otherwise.
inline void expect_size(std::string_view bytes, std::size_t size, oid_t type)
{
    if (bytes.size() != size)
        throw_wrong_size(type, size, bytes.size());
}

/// The column types whose binary form is the raw text (textsend and friends): text,
/// varchar, bpchar, name, "char", unknown, json and xml.
constexpr bool is_text_like(oid_t type) noexcept
{
    switch (type) {
    case oids::text:
    case oids::varchar:
    case oids::bpchar:
    case oids::name:
    case oids::char_:
    case oids::unknown:
    case oids::json:
    case oids::xml:
        return true;
    default:
        return false;
    }
}

/// Appends text for a text parameter. Throws client_errc::invalid_parameter if it holds a
/// NUL byte: PostgreSQL text cannot store one, and the server would reject it with a less
/// helpful message (or libpq would cut a text-format parameter at it).
void encode_text(std::string_view text, std::string& out);

/// Shared by int16_t, int32_t and int64_t: an integer decodes any narrower integer column,
/// choosing the wire width from the column OID (never guessing it from the byte count).
template <class Integer> struct integer_traits {
    static constexpr oid_t type_oid = sizeof(Integer) == 2   ? oids::int2
                                      : sizeof(Integer) == 4 ? oids::int4
                                                             : oids::int8;
    static constexpr oid_t array_oid = sizeof(Integer) == 2   ? oids::int2_array
                                       : sizeof(Integer) == 4 ? oids::int4_array
                                                              : oids::int8_array;

    /// True for int2, and for int4 / int8 when Integer is wide enough to hold them.
    static bool accepts(oid_t type) noexcept
    {
        return type == oids::int2 || (sizeof(Integer) >= 4 && type == oids::int4) ||
               (sizeof(Integer) >= 8 && type == oids::int8);
    }

    /// Appends the big-endian value. Never throws (beyond std::bad_alloc).
    static void encode(Integer value, std::string& out) { append_be(out, value); }

    /// Decodes an int2 / int4 / int8 column. Throws client_errc::malformed_value if the
    /// byte count does not match the column type, client_errc::type_mismatch for a column
    /// type accepts() rejects.
    static Integer decode(std::string_view bytes, oid_t type)
    {
        switch (type) {
        case oids::int2:
            expect_size(bytes, 2, type);
            return read_be<std::int16_t>(bytes.data());
        case oids::int4:
            if constexpr (sizeof(Integer) >= 4) {
                expect_size(bytes, 4, type);
                return read_be<std::int32_t>(bytes.data());
            }
            break;
        case oids::int8:
            if constexpr (sizeof(Integer) >= 8) {
                expect_size(bytes, 8, type);
                return read_be<std::int64_t>(bytes.data());
            }
            break;
        default:
            break;
        }
        throw_type_mismatch(sizeof(Integer) == 2   ? "std::int16_t"
                            : sizeof(Integer) == 4 ? "std::int32_t"
                                                   : "std::int64_t",
                            type);
    }
};

} // namespace detail

/// bool ↔ PostgreSQL bool (one byte, 0 or 1).
template <> struct type_traits<bool> {
    static constexpr oid_t type_oid = oids::bool_;
    static constexpr oid_t array_oid = oids::bool_array;

    /// True for bool columns.
    static bool accepts(oid_t type) noexcept { return type == oids::bool_; }

    /// Appends one byte, 1 for true. Never throws (beyond std::bad_alloc).
    static void encode(bool value, std::string& out) { out.push_back(value ? '\1' : '\0'); }

    /// Throws client_errc::malformed_value unless `bytes` is the single byte 0 or 1
    /// (boolsend never sends anything else).
    static bool decode(std::string_view bytes, oid_t)
    {
        detail::expect_size(bytes, 1, oids::bool_);
        if (bytes[0] != '\0' && bytes[0] != '\1')
            detail::throw_malformed("malformed bool value: byte is neither 0 nor 1");
        return bytes[0] == '\1';
    }
};

/// std::int16_t ↔ int2.
template <> struct type_traits<std::int16_t> : detail::integer_traits<std::int16_t> {};
/// std::int32_t ↔ int4; also decodes int2.
template <> struct type_traits<std::int32_t> : detail::integer_traits<std::int32_t> {};
/// std::int64_t ↔ int8; also decodes int2 and int4.
template <> struct type_traits<std::int64_t> : detail::integer_traits<std::int64_t> {};

/// `long long` is int8 too where it is a different type from std::int64_t (LP64 Linux, where
/// int64_t is `long`), so literals such as 5LL bind without a cast.
template <class T>
requires(std::is_same_v<T, long long> && !std::is_same_v<long long, std::int64_t>) struct type_traits<T>
    : detail::integer_traits<long long> {};

/// float ↔ float4 (IEEE-754 single, NaN and ±infinity included).
template <> struct type_traits<float> {
    static constexpr oid_t type_oid = oids::float4;
    static constexpr oid_t array_oid = oids::float4_array;

    /// True for float4 columns only: a float8 would silently lose precision.
    static bool accepts(oid_t type) noexcept { return type == oids::float4; }

    /// Appends the 4-byte IEEE-754 value. Never throws (beyond std::bad_alloc).
    static void encode(float value, std::string& out)
    {
        detail::append_be(out, std::bit_cast<std::uint32_t>(value));
    }

    /// Throws client_errc::malformed_value unless `bytes` is 4 bytes long.
    static float decode(std::string_view bytes, oid_t)
    {
        detail::expect_size(bytes, 4, oids::float4);
        return std::bit_cast<float>(detail::read_be<std::uint32_t>(bytes.data()));
    }
};

/// double ↔ float8 (IEEE-754 double, NaN and ±infinity included); also decodes float4.
template <> struct type_traits<double> {
    static constexpr oid_t type_oid = oids::float8;
    static constexpr oid_t array_oid = oids::float8_array;

    /// True for float8 and float4 columns (a float4 widens exactly).
    static bool accepts(oid_t type) noexcept { return type == oids::float8 || type == oids::float4; }

    /// Appends the 8-byte IEEE-754 value. Never throws (beyond std::bad_alloc).
    static void encode(double value, std::string& out)
    {
        detail::append_be(out, std::bit_cast<std::uint64_t>(value));
    }

    /// Decodes a float8 (8 bytes) or float4 (4 bytes) column. Throws
    /// client_errc::malformed_value on a size mismatch, client_errc::type_mismatch for
    /// other column types.
    static double decode(std::string_view bytes, oid_t type)
    {
        if (type == oids::float4)
            return type_traits<float>::decode(bytes, type);
        if (type != oids::float8)
            detail::throw_type_mismatch("double", type);
        detail::expect_size(bytes, 8, oids::float8);
        return std::bit_cast<double>(detail::read_be<std::uint64_t>(bytes.data()));
    }
};

/// std::string ↔ text. Decodes every text-like column: text, varchar, bpchar, name,
/// "char", unknown, json (its raw text) and xml. The bytes are in the connection's
/// client_encoding and are not validated.
template <> struct type_traits<std::string> {
    static constexpr oid_t type_oid = oids::text;
    static constexpr oid_t array_oid = oids::text_array;

    /// True for the text-like column types listed above.
    static bool accepts(oid_t type) noexcept { return detail::is_text_like(type); }

    /// Appends the raw bytes. Throws client_errc::invalid_parameter if `value` contains a
    /// NUL byte, which PostgreSQL text cannot hold.
    static void encode(const std::string& value, std::string& out) { detail::encode_text(value, out); }

    /// Copies the bytes. Never throws (beyond std::bad_alloc): any byte sequence is text.
    static std::string decode(std::string_view bytes, oid_t) { return std::string(bytes); }
};

/// std::string_view ↔ text, without copying. A decoded view points into the result's
/// buffer: it is valid only while the result (or row) it came from is alive.
template <> struct type_traits<std::string_view> {
    static constexpr oid_t type_oid = oids::text;
    static constexpr oid_t array_oid = oids::text_array;

    /// True for the same text-like column types as std::string.
    static bool accepts(oid_t type) noexcept { return detail::is_text_like(type); }

    /// Appends the raw bytes. Throws client_errc::invalid_parameter if `value` contains a
    /// NUL byte, which PostgreSQL text cannot hold.
    static void encode(std::string_view value, std::string& out) { detail::encode_text(value, out); }

    /// Returns `bytes` itself (valid only while the result lives). Never throws.
    static std::string_view decode(std::string_view bytes, oid_t) noexcept { return bytes; }
};

/// std::vector<std::byte> ↔ bytea (raw bytes, no escaping in binary format).
template <> struct type_traits<std::vector<std::byte>> {
    static constexpr oid_t type_oid = oids::bytea;
    static constexpr oid_t array_oid = oids::bytea_array;

    /// True for bytea columns.
    static bool accepts(oid_t type) noexcept { return type == oids::bytea; }

    /// Appends the bytes unchanged. Never throws (beyond std::bad_alloc).
    static void encode(const std::vector<std::byte>& value, std::string& out)
    {
        if (!value.empty())
            out.append(reinterpret_cast<const char*>(value.data()), value.size());
    }

    /// Copies the bytes. Never throws (beyond std::bad_alloc).
    static std::vector<std::byte> decode(std::string_view bytes, oid_t)
    {
        const auto* first = reinterpret_cast<const std::byte*>(bytes.data());
        return std::vector<std::byte>(first, first + bytes.size());
    }
};

} // namespace pgcoro
