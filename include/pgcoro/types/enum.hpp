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
// from the statement; the OID of a user-defined enum differs per database. Arrays of
// enums are not supported for the same reason (their array OID is not known statically).

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

} // namespace pgcoro
