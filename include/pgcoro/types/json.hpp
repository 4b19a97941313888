#pragma once
// boost::json::value ↔ PostgreSQL jsonb and json.
//
// Binary json is the JSON text itself; binary jsonb (jsonb_send) is a format version byte,
// always 1, followed by the text. Parameters are sent as jsonb.
//
// What does not survive a round trip (Boost.JSON 1.81 and jsonb semantics, not pgcoro):
// numbers beyond double / int64 precision lose digits when parsed, Boost.JSON 1.81's
// parser may be off by one ulp on some doubles, and numbers beyond double's range parse as
// ±infinity (which cannot be sent back); jsonb drops duplicate keys and reorders object
// members. Keep the text in a std::string (json columns and
// `::text` casts decode into one) when the exact text matters. The text must be UTF-8
// (client_encoding UTF8).

#include <pgcoro/types/traits.hpp>

#include <boost/json/value.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace pgcoro {

/// boost::json::value ↔ jsonb (encode), json or jsonb (decode).
template <> struct type_traits<boost::json::value> {
    static constexpr oid_t type_oid = oids::jsonb;
    static constexpr oid_t array_oid = oids::jsonb_array;

    /// Deepest nesting decode accepts. Boost.JSON's default (32) rejects documents that
    /// PostgreSQL stores happily; the bound stays because destroying a boost::json::value
    /// recurses once per level.
    static constexpr std::size_t max_depth = 1000;

    /// True for json and jsonb columns.
    static bool accepts(oid_t type) noexcept { return type == oids::json || type == oids::jsonb; }

    /// Appends the jsonb version byte and the serialized value. Throws
    /// client_errc::invalid_parameter if the value holds a NaN or infinite double, which
    /// JSON cannot represent.
    static void encode(const boost::json::value& value, std::string& out);

    /// Parses a json (plain text) or jsonb (version byte 1, then text) value. Throws
    /// client_errc::malformed_value for an empty jsonb value, another jsonb version,
    /// invalid JSON or invalid UTF-8, or nesting deeper than max_depth.
    static boost::json::value decode(std::string_view bytes, oid_t type);
};

} // namespace pgcoro
