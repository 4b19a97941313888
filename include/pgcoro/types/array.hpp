#pragma once
// One-dimensional PostgreSQL arrays ↔ std::vector<T> and std::vector<std::optional<T>>,
// for every pg_type T that has an array OID (type_traits<T>::array_oid != 0).
// std::vector<std::byte> is not an array: it is bytea (basic.hpp).
//
// Wire format (array_send): int32 ndim, int32 flags (1 = has NULLs), uint32 element OID,
// ndim × (int32 length, int32 lower bound), then per element an int32 byte length (-1 for
// NULL) and the element's binary value.
//
// Arrays are sent with lower bound 1, PostgreSQL's default: a lower bound of 0 would
// silently create '[0:n-1]' arrays whose a[1] is the second element. Any lower bound is
// accepted on decode (slices and int2vector/oidvector casts produce others) and dropped.

#include <pgcoro/types/basic.hpp>
#include <pgcoro/types/traits.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgcoro {
namespace detail {

/// A type that can be the element of a one-dimensional array: a pg_type with an array
/// OID, or std::optional of one (for arrays holding NULLs).
template <class Element>
concept array_element = field_type<Element> &&(type_traits<field_value_t<Element>>::array_oid != 0);

/// What read_array_header found: the element count and the element OID.
struct array_header {
    std::size_t count = 0;
    oid_t element_type = 0;
};

/// Reads and validates an array header: one dimension at most, flags 0 or 1, a
/// non-negative length no larger than the remaining bytes could hold (so a hostile length
/// cannot trigger a huge allocation). Throws client_errc::malformed_value naming
/// `array_type` otherwise.
array_header read_array_header(byte_reader& reader, oid_t array_type);

/// Reads one element's length word and bytes; nullopt for NULL. Throws
/// client_errc::malformed_value for a negative length other than -1 or one beyond the
/// buffer.
std::optional<std::string_view> read_array_element(byte_reader& reader, oid_t array_type);

/// Throws client_errc::malformed_value for bytes left after the last element.
void expect_array_end(const byte_reader& reader, oid_t array_type);

/// Throws client_errc::malformed_value: the header's element OID cannot be decoded into
/// the C++ element type.
[[noreturn]] void throw_array_element_mismatch(oid_t array_type, oid_t element_type);

/// Appends the array header; `element_count` 0 writes an empty (zero-dimension) array.
/// The flags are written as 0; mark_array_has_nulls sets them. Throws
/// client_errc::invalid_parameter for more than INT32_MAX elements.
void append_array_header(std::string& out, std::size_t element_count, oid_t element_type);

/// Sets the has-NULLs flag of the header appended at `header_at`.
void mark_array_has_nulls(std::string& out, std::size_t header_at) noexcept;

/// Fills in the length word at `length_at` with the size of what follows it. Throws
/// client_errc::invalid_parameter if an element exceeds INT32_MAX bytes.
void patch_element_length(std::string& out, std::size_t length_at);

} // namespace detail

/// std::vector<Element> ↔ Element's array type, Element being T or std::optional<T>.
/// A NULL element decodes into std::nullopt, or throws client_errc::unexpected_null when
/// Element is not optional. Elements decoded as std::string_view point into the result
/// and are valid only while it lives.
template <class Element>
requires detail::array_element<Element>
struct type_traits<std::vector<Element>> {
    using value_type = detail::field_value_t<Element>;

    static constexpr oid_t type_oid = type_traits<value_type>::array_oid;
    static constexpr oid_t array_oid = 0; // only one-dimensional arrays are supported

    /// True for a built-in array type whose element type Element accepts.
    static bool accepts(oid_t type) noexcept
    {
        const oid_t element = array_element_oid(type);
        return element != 0 && detail::field_accepts<Element>(element);
    }

    /// Appends a one-dimensional array with lower bound 1 (zero dimensions when empty).
    /// Throws what the element encoder throws, or client_errc::invalid_parameter for more
    /// than INT32_MAX elements or an element larger than INT32_MAX bytes.
    static void encode(const std::vector<Element>& values, std::string& out)
    {
        const std::size_t header_at = out.size();
        detail::append_array_header(out, values.size(), detail::field_oid<Element>());
        bool has_nulls = false;
        // `const auto&` would not bind to std::vector<bool>'s proxy; this binds to both.
        for (auto&& value : values) {
            const std::size_t length_at = out.size();
            detail::append_be(out, std::int32_t{-1});
            if (detail::encode_field<Element>(value, out))
                detail::patch_element_length(out, length_at);
            else
                has_nulls = true;
        }
        if (has_nulls)
            detail::mark_array_has_nulls(out, header_at);
    }

    /// Decodes an array of zero or one dimension. Throws client_errc::malformed_value for
    /// more dimensions, an element OID Element does not accept, a bad length or trailing
    /// bytes; client_errc::unexpected_null for a NULL into a non-optional Element; and
    /// whatever the element decoder throws.
    static std::vector<Element> decode(std::string_view bytes, oid_t)
    {
        detail::byte_reader reader(bytes);
        const detail::array_header header = detail::read_array_header(reader, type_oid);
        if (!detail::field_accepts<Element>(header.element_type))
            detail::throw_array_element_mismatch(type_oid, header.element_type);
        std::vector<Element> result;
        result.reserve(header.count); // bounded by the buffer size in read_array_header
        for (std::size_t i = 0; i < header.count; ++i)
            result.push_back(detail::decode_field<Element>(detail::read_array_element(reader, type_oid),
                                                           header.element_type));
        detail::expect_array_end(reader, type_oid);
        return result;
    }
};

} // namespace pgcoro
