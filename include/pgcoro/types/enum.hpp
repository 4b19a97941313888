#pragma once
// C++ enums described with BOOST_DESCRIBE_ENUM ↔ PostgreSQL enum labels.
//
// The binary form of a PostgreSQL enum (enum_send) is its label as text, so the C++
// enumerator names must be spelled exactly like the labels:
//
//   enum class mood { sad, ok, happy };
//   BOOST_DESCRIBE_ENUM(mood, sad, ok, happy)   // CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy')
//
// Parameters are sent with OID 0 ("unspecified") so that the server infers the enum type
// from the statement; the OID of a user-defined enum differs per database. For the same
// reason arrays of enums (std::vector<E>, std::vector<std::optional<E>>) go out in text
// format, as an array literal the server parses once it has inferred the array type
// ("INSERT ... VALUES ($1)" into a mood[] column, "feeling = ANY($1)", or "$1::mood[]");
// they come back in binary like everything else.

#include <pgcoro/types/array.hpp>
#include <pgcoro/types/traits.hpp>

#include <boost/core/type_name.hpp>
#include <boost/describe/enum.hpp>
#include <boost/describe/enumerators.hpp>
#include <boost/mp11/algorithm.hpp>

#include <string>
#include <string_view>
#include <type_traits>

namespace pgcoro {
namespace detail {

/// Throws client_errc::malformed_value: `label` is not an enumerator of `enum_name`.
[[noreturn]] void throw_unknown_enum_label(std::string_view label, std::string_view enum_name);

/// Throws client_errc::invalid_parameter: `value` is not a described enumerator of
/// `enum_name`.
[[noreturn]] void throw_undescribed_enum_value(std::string_view value, std::string_view enum_name);

} // namespace detail

/// A BOOST_DESCRIBE_ENUM enum ↔ its enumerator name as an enum (or text) label.
template <class Enum>
requires std::is_enum_v<Enum> &&
    boost::describe::has_describe_enumerators<Enum>::value struct type_traits<Enum> {
    static constexpr oid_t type_oid = oids::unspecified;
    static constexpr oid_t array_oid = 0;

    /// True for text-like columns and for any user-defined type (OID >= 16384), which is
    /// where enum types live; a label that does not match still fails in decode().
    static bool accepts(oid_t type) noexcept
    {
        return type == oids::text || type == oids::varchar || type == oids::bpchar || type == oids::name ||
               type == oids::unknown || type >= oids::first_normal_object;
    }

    /// Appends the enumerator's name. Throws client_errc::invalid_parameter if `value` is
    /// not one of the described enumerators.
    static void encode(Enum value, std::string& out)
    {
        const char* label = nullptr;
        boost::mp11::mp_for_each<boost::describe::describe_enumerators<Enum>>([&](auto enumerator) {
            if (label == nullptr && enumerator.value == value)
                label = enumerator.name;
        });
        if (label == nullptr)
            detail::throw_undescribed_enum_value(
                std::to_string(+static_cast<std::underlying_type_t<Enum>>(value)),
                boost::core::type_name<Enum>());
        out.append(label);
    }

    /// Returns the enumerator named `bytes`. Throws client_errc::malformed_value, naming
    /// the label, if there is none.
    static Enum decode(std::string_view bytes, oid_t type)
    {
        // bpchar is blank-padded to its declared length; PostgreSQL ignores the padding
        // when comparing, and so does this.
        if (type == oids::bpchar)
            while (!bytes.empty() && bytes.back() == ' ')
                bytes.remove_suffix(1);
        Enum result{};
        bool found = false;
        boost::mp11::mp_for_each<boost::describe::describe_enumerators<Enum>>([&](auto enumerator) {
            if (!found && bytes == enumerator.name) {
                result = enumerator.value;
                found = true;
            }
        });
        if (!found)
            detail::throw_unknown_enum_label(bytes, boost::core::type_name<Enum>());
        return result;
    }
};

namespace detail {

template <class T>
concept described_enum = std::is_enum_v<T> && boost::describe::has_describe_enumerators<T>::value;

/// Appends `label` as a double-quoted array-literal element (array_in's quoting rules).
void append_quoted_array_element(std::string& out, std::string_view label);

} // namespace detail

/// std::vector<E> / std::vector<std::optional<E>> of described enums ↔ an enum array.
/// Sent as a text array literal with OID 0 (see the top of this file); decoded from binary.
template <class Element>
requires detail::described_enum<detail::field_value_t<Element>>
struct type_traits<std::vector<Element>> {
    using value_type = detail::field_value_t<Element>;

    static constexpr oid_t type_oid = oids::unspecified;
    static constexpr oid_t array_oid = 0;
    static constexpr int format = 0; // text: the binary form would need the enum's OID

    /// True for arrays of text-like types and for any user-defined type (enum arrays have
    /// database-specific OIDs); decode() checks the element type in the array header.
    static bool accepts(oid_t type) noexcept
    {
        const oid_t element = array_element_oid(type);
        return (element != 0 && type_traits<value_type>::accepts(element)) ||
               type >= oids::first_normal_object;
    }

    /// Appends the array literal, e.g. {"sad",NULL,"happy"}. Throws
    /// client_errc::invalid_parameter for a value that is not a described enumerator.
    static void encode(const std::vector<Element>& values, std::string& out)
    {
        out.push_back('{');
        std::string label;
        for (std::size_t i = 0; i < values.size(); ++i) {
            if (i > 0)
                out.push_back(',');
            if constexpr (is_optional_v<Element>) {
                if (!values[i]) {
                    out.append("NULL");
                    continue;
                }
            }
            label.clear();
            type_traits<value_type>::encode(detail::field_value(values[i]), label);
            detail::append_quoted_array_element(out, label);
        }
        out.push_back('}');
    }

    /// Decodes a one-dimensional array whose elements are labels. Throws
    /// client_errc::malformed_value for anything else (including a column that is not an
    /// array at all), unexpected_null for a NULL into a non-optional element.
    static std::vector<Element> decode(std::string_view bytes, oid_t type)
    {
        detail::byte_reader reader(bytes);
        const detail::array_header header = detail::read_array_header(reader, type);
        if (!type_traits<value_type>::accepts(header.element_type))
            detail::throw_array_element_mismatch(type, header.element_type);
        std::vector<Element> result;
        result.reserve(header.count); // bounded by the buffer size in read_array_header
        for (std::size_t i = 0; i < header.count; ++i)
            result.push_back(
                detail::decode_field<Element>(detail::read_array_element(reader, type), header.element_type));
        detail::expect_array_end(reader, type);
        return result;
    }
};

} // namespace pgcoro
