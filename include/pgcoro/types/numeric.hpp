#pragma once
// pgcoro::numeric ↔ PostgreSQL numeric, exactly: the value travels as a decimal string on
// the C++ side (never through double) and in numeric's binary form on the wire
// (numeric_send: int16 ndigits, int16 weight, uint16 sign, int16 dscale, then ndigits
// base-10000 digits).

#include <pgcoro/types/traits.hpp>

#include <string>
#include <string_view>

namespace pgcoro {

/// An exact PostgreSQL numeric held as decimal text.
///
/// Decoded values are exactly what PostgreSQL's numeric_out prints: the display scale is
/// kept ("1.50"), no exponent, "NaN", "Infinity", "-Infinity". A value to encode may be
/// anything PostgreSQL's numeric_in accepts in its plain form: `[+-]digits[.digits]` with
/// an optional exponent `e[+-]digits`, surrounded by optional whitespace, or NaN /
/// [+-]Infinity / [+-]inf in any letter case. Its scale is preserved ("1.50" is stored
/// with scale 2; "1e3" is 1000 with scale 0).
///
/// Equality is textual: numeric{"1.5"} != numeric{"1.50"}, although PostgreSQL's `=`
/// treats them as equal.
struct numeric {
    std::string value; ///< the decimal text

    friend bool operator==(const numeric&, const numeric&) = default;
};

/// pgcoro::numeric ↔ numeric.
template <> struct type_traits<numeric> {
    static constexpr oid_t type_oid = oids::numeric;
    static constexpr oid_t array_oid = oids::numeric_array;

    /// True for numeric columns.
    static bool accepts(oid_t type) noexcept { return type == oids::numeric; }

    /// Appends the binary form of `value`. Throws client_errc::invalid_parameter if the
    /// text is not a number, or if it overflows numeric's format (more than 131072 digits
    /// before the decimal point or a scale above 16383), exactly where numeric_in would.
    static void encode(const numeric& value, std::string& out);

    /// Renders the binary value as numeric_out would. Throws client_errc::malformed_value
    /// for a truncated or oversized buffer, an invalid sign, a scale above 16383 or a
    /// digit outside 0..9999 (the checks numeric_recv makes).
    static numeric decode(std::string_view bytes, oid_t type);
};

} // namespace pgcoro
