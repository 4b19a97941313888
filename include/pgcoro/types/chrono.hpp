#pragma once
// std::chrono ↔ PostgreSQL timestamptz, timestamp and date.
//
// On the wire (timestamp_send, date_send) a timestamp is an int64 count of microseconds
// since 2000-01-01 00:00:00 (UTC for timestamptz, wall clock for timestamp) and a date is an
// int32 count of days since 2000-01-01. In binary format there is no dependency on the
// session's TimeZone or DateStyle.
//
// Infinity: PostgreSQL's 'infinity' and '-infinity' are mapped explicitly to the C++ type's
// max() and min():
//   time_point::max()  ↔ infinity   (INT64_MAX on the wire; INT32_MAX for date)
//   time_point::min()  ↔ -infinity  (INT64_MIN on the wire; INT32_MIN for date)
// Every other value must lie in PostgreSQL's range (4714-11-24 BC to 294276-12-31 for
// timestamps, to 5874897-12-31 for dates), or encode throws client_errc::invalid_parameter.
//
// Precision: PostgreSQL keeps microseconds. A time_point finer than that (nanoseconds,
// std::chrono::system_clock::time_point on libstdc++) is floored to the microsecond when
// encoded; decoding is always exact, but throws client_errc::malformed_value if the value
// does not fit the C++ duration (a nanosecond time_point covers only 1677 to 2262).

#include <pgcoro/types/basic.hpp>
#include <pgcoro/types/traits.hpp>

#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <ratio>
#include <string>
#include <string_view>

namespace pgcoro {
namespace detail {

// Limits from PostgreSQL's src/include/datatype/timestamp.h, counted from PostgreSQL's
// epoch (2000-01-01). END_* values are the first ones out of range.
inline constexpr std::int64_t postgres_epoch_unix_days = 10'957;
inline constexpr std::int64_t postgres_epoch_unix_microseconds = postgres_epoch_unix_days * 86'400'000'000;
inline constexpr std::int64_t min_timestamp = -211'813'488'000'000'000;  // 4714-11-24 BC
inline constexpr std::int64_t end_timestamp = 9'223'371'331'200'000'000; // 294277-01-01
inline constexpr std::int32_t min_date = -2'451'545;                     // 4714-11-24 BC
inline constexpr std::int32_t end_date = 2'145'031'949;                  // 5874898-01-01

/// A duration that every microsecond count converts to exactly (microseconds,
/// nanoseconds, ...), with an ordinary signed integer representation.
template <class Duration>
concept microsecond_multiple = std::signed_integral<typename Duration::rep> &&
                                   sizeof(typename Duration::rep) <= 8 &&
                               std::ratio_divide<std::micro, typename Duration::period>::den == 1;

/// Throws client_errc::invalid_parameter: a C++ value lies outside the range of the
/// PostgreSQL type `type` (timestamp, timestamptz or date).
[[noreturn]] void throw_datetime_not_representable(oid_t type);

/// Throws client_errc::malformed_value: the server sent a `type` value outside
/// PostgreSQL's own range (timestamp_recv / date_recv would reject it).
[[noreturn]] void throw_datetime_out_of_range(oid_t type);

/// Throws client_errc::malformed_value: a valid `type` value does not fit the C++ type
/// it is decoded into.
[[noreturn]] void throw_datetime_does_not_fit(oid_t type, std::string_view cpp_type);

/// Shared by timestamptz (system_clock) and timestamp (local_t).
template <class Clock, microsecond_multiple Duration, oid_t Type, oid_t ArrayType> struct timestamp_traits {
    using time_point = std::chrono::time_point<Clock, Duration>;
    using rep = typename Duration::rep;

    static constexpr oid_t type_oid = Type;
    static constexpr oid_t array_oid = ArrayType;
    static constexpr std::intmax_t ticks_per_microsecond =
        std::ratio_divide<std::micro, typename Duration::period>::num;

    /// True for columns of exactly this PostgreSQL type.
    static bool accepts(oid_t type) noexcept { return type == Type; }

    /// Appends the microseconds since 2000-01-01 (floored), or ±infinity for max() /
    /// min(). Throws client_errc::invalid_parameter for a value before 4714-11-24 BC.
    static void encode(const time_point& value, std::string& out)
    {
        if (value == time_point::max()) {
            append_be(out, std::numeric_limits<std::int64_t>::max());
            return;
        }
        if (value == time_point::min()) {
            append_be(out, std::numeric_limits<std::int64_t>::min());
            return;
        }
        // floor, not duration_cast: -1 ns is in the microsecond before the epoch.
        const std::int64_t unix_microseconds =
            std::chrono::floor<std::chrono::microseconds>(value.time_since_epoch()).count();
        // The subtraction below cannot overflow past this check, and no int64 count of
        // microseconds since 1970 reaches end_timestamp, so no upper check is needed.
        if (unix_microseconds < min_timestamp + postgres_epoch_unix_microseconds)
            throw_datetime_not_representable(Type);
        append_be(out, unix_microseconds - postgres_epoch_unix_microseconds);
    }

    /// Decodes 8 bytes. Throws client_errc::malformed_value for a wrong size, a value
    /// outside PostgreSQL's range, or one that does not fit Duration.
    static time_point decode(std::string_view bytes, oid_t)
    {
        expect_size(bytes, 8, Type);
        const auto value = read_be<std::int64_t>(bytes.data());
        if (value == std::numeric_limits<std::int64_t>::max())
            return time_point::max();
        if (value == std::numeric_limits<std::int64_t>::min())
            return time_point::min();
        if (value < min_timestamp || value >= end_timestamp)
            throw_datetime_out_of_range(Type);
        // value is bounded below, so only the upper side of the addition can overflow.
        if (value > std::numeric_limits<std::int64_t>::max() - postgres_epoch_unix_microseconds)
            throw_datetime_does_not_fit(Type, "std::chrono::time_point");
        const std::int64_t unix_microseconds = value + postgres_epoch_unix_microseconds;
        if (unix_microseconds > std::numeric_limits<rep>::max() / ticks_per_microsecond ||
            unix_microseconds < std::numeric_limits<rep>::min() / ticks_per_microsecond)
            throw_datetime_does_not_fit(Type, "std::chrono::time_point");
        const time_point result{Duration{static_cast<rep>(unix_microseconds * ticks_per_microsecond)}};
        // A finite value must not come back as ±infinity when re-encoded.
        if (result == time_point::max() || result == time_point::min())
            throw_datetime_does_not_fit(Type, "std::chrono::time_point");
        return result;
    }
};

} // namespace detail

/// A timestamptz at PostgreSQL's precision (microseconds): the natural type for created_at,
/// updated_at and deleted_at members.
using timestamp = std::chrono::sys_time<std::chrono::microseconds>;

/// std::chrono::sys_time<D> ↔ timestamptz, for D = microseconds or finer (nanoseconds,
/// so std::chrono::system_clock::time_point too). See the top of this header for
/// infinity, range and precision.
template <detail::microsecond_multiple Duration>
struct type_traits<std::chrono::time_point<std::chrono::system_clock, Duration>>
    : detail::timestamp_traits<std::chrono::system_clock, Duration, oids::timestamptz,
                               oids::timestamptz_array> {};

/// std::chrono::local_time<D> ↔ timestamp (without time zone), for D = microseconds or
/// finer. See the top of this header for infinity, range and precision.
template <detail::microsecond_multiple Duration>
struct type_traits<std::chrono::time_point<std::chrono::local_t, Duration>>
    : detail::timestamp_traits<std::chrono::local_t, Duration, oids::timestamp, oids::timestamp_array> {};

/// std::chrono::sys_days ↔ date. sys_days::max() / min() ↔ infinity / -infinity.
template <> struct type_traits<std::chrono::sys_days> {
    static constexpr oid_t type_oid = oids::date;
    static constexpr oid_t array_oid = oids::date_array;

    /// True for date columns.
    static bool accepts(oid_t type) noexcept { return type == oids::date; }

    /// Appends the days since 2000-01-01, or ±infinity for max() / min(). Throws
    /// client_errc::invalid_parameter outside 4714-11-24 BC .. 5874897-12-31.
    static void encode(const std::chrono::sys_days& value, std::string& out)
    {
        if (value == std::chrono::sys_days::max()) {
            detail::append_be(out, std::numeric_limits<std::int32_t>::max());
            return;
        }
        if (value == std::chrono::sys_days::min()) {
            detail::append_be(out, std::numeric_limits<std::int32_t>::min());
            return;
        }
        const std::int64_t unix_days = value.time_since_epoch().count();
        if (unix_days < detail::min_date + detail::postgres_epoch_unix_days ||
            unix_days >= detail::end_date + detail::postgres_epoch_unix_days)
            detail::throw_datetime_not_representable(oids::date);
        detail::append_be(out, static_cast<std::int32_t>(unix_days - detail::postgres_epoch_unix_days));
    }

    /// Decodes 4 bytes. Throws client_errc::malformed_value for a wrong size or a value
    /// outside PostgreSQL's date range.
    static std::chrono::sys_days decode(std::string_view bytes, oid_t)
    {
        detail::expect_size(bytes, 4, oids::date);
        const auto value = detail::read_be<std::int32_t>(bytes.data());
        if (value == std::numeric_limits<std::int32_t>::max())
            return std::chrono::sys_days::max();
        if (value == std::numeric_limits<std::int32_t>::min())
            return std::chrono::sys_days::min();
        if (value < detail::min_date || value >= detail::end_date)
            detail::throw_datetime_out_of_range(oids::date);
        return std::chrono::sys_days{
            std::chrono::days{std::int64_t{value} + detail::postgres_epoch_unix_days}};
    }
};

/// std::chrono::year_month_day ↔ date. A year_month_day has no infinity and only covers
/// years -32767..32767: decoding ±infinity or a later date throws
/// client_errc::malformed_value (decode into std::chrono::sys_days to get those).
template <> struct type_traits<std::chrono::year_month_day> {
    static constexpr oid_t type_oid = oids::date;
    static constexpr oid_t array_oid = oids::date_array;

    /// True for date columns.
    static bool accepts(oid_t type) noexcept { return type == oids::date; }

    /// Appends the days since 2000-01-01. Throws client_errc::invalid_parameter if `value`
    /// is not a valid calendar date (!ok()) or lies before 4714-11-24 BC.
    static void encode(const std::chrono::year_month_day& value, std::string& out)
    {
        if (!value.ok())
            detail::throw_invalid_parameter("year_month_day parameter is not a valid date");
        type_traits<std::chrono::sys_days>::encode(std::chrono::sys_days{value}, out);
    }

    /// Decodes 4 bytes. Throws client_errc::malformed_value for a wrong size, a value
    /// outside PostgreSQL's range, ±infinity or a year beyond 32767.
    static std::chrono::year_month_day decode(std::string_view bytes, oid_t type)
    {
        namespace chrono = std::chrono;
        const chrono::sys_days value = type_traits<chrono::sys_days>::decode(bytes, type);
        if (value == chrono::sys_days::max() || value == chrono::sys_days::min())
            detail::throw_malformed("date ±infinity cannot be represented as "
                                    "std::chrono::year_month_day (decode into sys_days)");
        constexpr chrono::sys_days first{chrono::year::min() / chrono::January / 1};
        constexpr chrono::sys_days last{chrono::year::max() / chrono::December / 31};
        if (value < first || value > last)
            detail::throw_datetime_does_not_fit(oids::date, "std::chrono::year_month_day");
        return chrono::year_month_day{value};
    }
};

} // namespace pgcoro
