#pragma once
// pgcoro::interval ↔ PostgreSQL interval (interval_send: int64 microseconds, int32 days,
// int32 months). The three fields are kept apart, as PostgreSQL does, because a day is not
// always 24 hours (DST) and a month is not a fixed number of days.

#include <pgcoro/types/basic.hpp>
#include <pgcoro/types/traits.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace pgcoro {

/// A PostgreSQL interval, field for field. `'1 day 2 hours'` is {7'200'000'000, 1, 0};
/// `'1 year'` is {0, 0, 12}. Equality is field-wise, so 24 hours != 1 day (PostgreSQL's
/// own `=` compares them after normalising; this type does not).
struct interval {
    std::int64_t microseconds = 0; ///< time part
    std::int32_t days = 0;         ///< day part
    std::int32_t months = 0;       ///< month part (years are 12 months)

    friend bool operator==(const interval&, const interval&) = default;
};

/// pgcoro::interval ↔ interval.
template <> struct type_traits<interval> {
    static constexpr oid_t type_oid = oids::interval;
    static constexpr oid_t array_oid = oids::interval_array;

    /// True for interval columns.
    static bool accepts(oid_t type) noexcept { return type == oids::interval; }

    /// Appends the 16-byte value. Never throws (beyond std::bad_alloc).
    static void encode(const interval& value, std::string& out)
    {
        detail::append_be(out, value.microseconds);
        detail::append_be(out, value.days);
        detail::append_be(out, value.months);
    }

    /// Throws client_errc::malformed_value unless `bytes` is exactly 16 bytes long.
    static interval decode(std::string_view bytes, oid_t)
    {
        detail::expect_size(bytes, 16, oids::interval);
        return interval{detail::read_be<std::int64_t>(bytes.data()),
                        detail::read_be<std::int32_t>(bytes.data() + 8),
                        detail::read_be<std::int32_t>(bytes.data() + 12)};
    }
};

} // namespace pgcoro
