// Codecs of chrono.hpp: timestamptz, timestamp and date. Expected bytes were dumped from
// PostgreSQL 15 with resultFormat=1 and TimeZone=UTC.

#include "types_support.hpp"

#include <pgcoro/types/chrono.hpp>

#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstdint>
#include <limits>

using namespace pgcoro;
using namespace pgcoro_test;
using namespace std::chrono;
using namespace std::chrono_literals;

namespace {

using sys_us = sys_time<microseconds>;
using sys_ns = sys_time<nanoseconds>;
using local_us = local_time<microseconds>;

std::string be64(std::int64_t value)
{
    std::string out;
    detail::append_be(out, value);
    return out;
}

} // namespace

// Boost.Test prints the values of failed comparisons; time points have no operator<<.
BOOST_TEST_DONT_PRINT_LOG_VALUE(sys_us)
BOOST_TEST_DONT_PRINT_LOG_VALUE(sys_ns)
BOOST_TEST_DONT_PRINT_LOG_VALUE(local_us)
BOOST_TEST_DONT_PRINT_LOG_VALUE(sys_days)
BOOST_TEST_DONT_PRINT_LOG_VALUE(year_month_day)

BOOST_AUTO_TEST_SUITE(types_chrono)

BOOST_AUTO_TEST_CASE(timestamptz_encodes_microseconds_since_2000)
{
    BOOST_TEST(to_hex(encode(sys_us{sys_days{2000y / 1 / 1} + 1s})) == "00000000000f4240");
    BOOST_TEST(to_hex(encode(sys_us{})) == "fffca2fec4c82000"); // 1970-01-01
    BOOST_TEST(to_hex(encode(sys_us{sys_days{2000y / 1 / 1}})) == "0000000000000000");
}

BOOST_AUTO_TEST_CASE(timestamptz_round_trips_before_2000_and_after_2038)
{
    const sys_us before_1970 = sys_days{1900y / 2 / 28} + 12h + 34min + 56s + 500ms;
    BOOST_TEST(to_hex(encode(before_1970)) == "fff4ce87cab8fd20");
    BOOST_TEST((decode<sys_us>(from_hex("fff4ce87cab8fd20")) == before_1970));
    const sys_us after_2038 = sys_days{2038y / 1 / 19} + 3h + 14min + 8s;
    BOOST_TEST(to_hex(encode(after_2038)) == "0004441ec4c82000");
    BOOST_TEST((decode<sys_us>(from_hex("0004441ec4c82000")) == after_2038));
    for (sys_us value : {sys_us{sys_days{1999y / 12 / 31} + 23h + 59min + 59s + 999999us},
                         sys_us{sys_days{1066y / 10 / 14}}, sys_us{sys_days{9999y / 12 / 31}}, sys_us{-1us}})
        BOOST_TEST((round_trip(value) == value));
}

BOOST_AUTO_TEST_CASE(timestamptz_maps_infinity_to_time_point_max_and_min)
{
    BOOST_TEST(to_hex(encode(sys_us::max())) == "7fffffffffffffff");
    BOOST_TEST(to_hex(encode(sys_us::min())) == "8000000000000000");
    BOOST_TEST((decode<sys_us>(from_hex("7fffffffffffffff")) == sys_us::max()));
    BOOST_TEST((decode<sys_us>(from_hex("8000000000000000")) == sys_us::min()));
    BOOST_TEST((decode<sys_ns>(from_hex("7fffffffffffffff")) == sys_ns::max()));
    BOOST_TEST((decode<sys_ns>(from_hex("8000000000000000")) == sys_ns::min()));
    BOOST_TEST(to_hex(encode(sys_ns::max())) == "7fffffffffffffff");
    BOOST_TEST(to_hex(encode(sys_ns::min())) == "8000000000000000");
}

BOOST_AUTO_TEST_CASE(timestamptz_round_trips_the_earliest_postgres_timestamp)
{
    const sys_us earliest = sys_days{year{-4713} / 11 / 24}; // 4714-11-24 BC
    BOOST_TEST(to_hex(encode(earliest)) == "fd0f7cc1411fa000");
    BOOST_TEST((decode<sys_us>(from_hex("fd0f7cc1411fa000")) == earliest));
}

BOOST_AUTO_TEST_CASE(timestamptz_encode_rejects_values_before_4714_bc)
{
    const sys_us too_early = sys_us{sys_days{year{-4713} / 11 / 24}} - 1us;
    std::string out;
    BOOST_CHECK_EXCEPTION(type_traits<sys_us>::encode(too_early, out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(type_traits<sys_us>::encode(sys_us::min() + 1us, out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(timestamptz_decode_rejects_values_outside_postgres_range)
{
    // One microsecond before 4714-11-24 BC, and 294277-01-01 (END_TIMESTAMP).
    BOOST_CHECK_EXCEPTION(decode<sys_us>(from_hex("fd0f7cc1411f9fff")), error,
                          has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<sys_us>(be64(9'223'371'331'200'000'000)), error,
                          has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(timestamptz_beyond_the_int64_microsecond_range_does_not_fit)
{
    // 294276-12-31 23:59:59.999999 is valid in PostgreSQL but past year 294247, where an
    // int64 count of microseconds since 1970 ends.
    BOOST_CHECK_EXCEPTION(decode<sys_us>(from_hex("7fffff5bb3b29fff")), error,
                          has_code(client_errc::malformed_value));
    const std::int64_t epoch = 946'684'800'000'000;
    const std::int64_t last = std::numeric_limits<std::int64_t>::max() - epoch - 1;
    BOOST_TEST((decode<sys_us>(be64(last)) == sys_us::max() - 1us));
    // One more would be sys_us::max(), which means infinity: refused rather than aliased.
    BOOST_CHECK_EXCEPTION(decode<sys_us>(be64(last + 1)), error, has_code(client_errc::malformed_value));
    BOOST_TEST(to_hex(encode(sys_us::max() - 1us)) == to_hex(be64(last)));
}

BOOST_AUTO_TEST_CASE(nanosecond_time_point_encode_floors_to_the_microsecond)
{
    const sys_ns value = sys_days{2000y / 1 / 1} + 1s + 999ns;
    BOOST_TEST(to_hex(encode(value)) == "00000000000f4240");
    // Before the epochs, flooring goes down, not towards zero.
    BOOST_TEST(to_hex(encode(sys_ns{-1ns})) == to_hex(encode(sys_us{-1us})));
    BOOST_TEST(to_hex(encode(sys_ns{sys_days{2000y / 1 / 1}} - 1ns)) == "ffffffffffffffff");
}

BOOST_AUTO_TEST_CASE(nanosecond_time_point_decode_is_exact_within_its_range)
{
    // sys_time<nanoseconds> spans 1677-09-21 00:12:43.145224192 .. 2262-04-11
    // 23:47:16.854775807.
    const sys_ns last = sys_days{2262y / 4 / 11} + 23h + 47min + 16s + 854775us;
    BOOST_TEST((decode<sys_ns>(from_hex("001d679a6aab73f7")) == last));
    BOOST_CHECK_EXCEPTION(decode<sys_ns>(from_hex("001d679a6aab73f8")), error,
                          has_code(client_errc::malformed_value));
    const sys_ns first = sys_days{1677y / 9 / 21} + 12min + 43s + 145225us;
    BOOST_TEST((decode<sys_ns>(from_hex("ffdbde631ee4cc09")) == first));
    BOOST_CHECK_EXCEPTION(decode<sys_ns>(from_hex("ffdbde631ee4cc08")), error,
                          has_code(client_errc::malformed_value));
    BOOST_TEST((round_trip(sys_ns{sys_days{2038y / 1 / 19} + 123456us}) ==
                sys_ns{sys_days{2038y / 1 / 19} + 123456us}));
}

BOOST_AUTO_TEST_CASE(system_clock_time_point_is_a_timestamptz)
{
    static_assert(pg_type<system_clock::time_point>);
    static_assert(type_traits<system_clock::time_point>::type_oid == oids::timestamptz);
    static_assert(type_traits<system_clock::time_point>::array_oid == oids::timestamptz_array);
    static_assert(!pg_type<sys_seconds>); // would not decode microseconds exactly
    const system_clock::time_point value = sys_days{2024y / 2 / 29} + 1h + 5us;
    BOOST_TEST((round_trip(value) == value));
}

BOOST_AUTO_TEST_CASE(timestamp_without_time_zone_is_local_time)
{
    static_assert(type_traits<local_us>::type_oid == oids::timestamp);
    static_assert(type_traits<local_us>::array_oid == oids::timestamp_array);
    BOOST_TEST(type_traits<local_us>::accepts(oids::timestamp));
    BOOST_TEST(!type_traits<local_us>::accepts(oids::timestamptz));
    BOOST_TEST(!type_traits<sys_us>::accepts(oids::timestamp));
    const local_us value = local_days{2000y / 1 / 1} + 1s;
    BOOST_TEST(to_hex(encode(value)) == "00000000000f4240");
    BOOST_TEST((round_trip(value) == value));
    BOOST_TEST(to_hex(encode(local_us::min())) == "8000000000000000");
    BOOST_TEST((decode<local_us>(from_hex("7fffffffffffffff")) == local_us::max()));
}

BOOST_AUTO_TEST_CASE(date_encodes_days_since_2000)
{
    BOOST_TEST(to_hex(encode(sys_days{1999y / 12 / 31})) == "ffffffff");
    BOOST_TEST(to_hex(encode(sys_days{2000y / 1 / 2})) == "00000001");
    BOOST_TEST(to_hex(encode(sys_days{1970y / 1 / 1})) == "ffffd533");
    BOOST_TEST(to_hex(encode(sys_days{2100y / 3 / 1})) == "00008ee8");
    BOOST_TEST((decode<sys_days>(from_hex("00008ee8")) == sys_days{2100y / 3 / 1}));
}

BOOST_AUTO_TEST_CASE(date_maps_infinity_to_sys_days_max_and_min)
{
    BOOST_TEST(to_hex(encode(sys_days::max())) == "7fffffff");
    BOOST_TEST(to_hex(encode(sys_days::min())) == "80000000");
    BOOST_TEST((decode<sys_days>(from_hex("7fffffff")) == sys_days::max()));
    BOOST_TEST((decode<sys_days>(from_hex("80000000")) == sys_days::min()));
}

BOOST_AUTO_TEST_CASE(date_round_trips_the_postgres_range_limits)
{
    const sys_days first{year{-4713} / 11 / 24}; // 4714-11-24 BC
    BOOST_TEST(to_hex(encode(first)) == "ffda97a7");
    BOOST_TEST((decode<sys_days>(from_hex("ffda97a7")) == first));
    // 5874897-12-31 is beyond year_month_day's years; it is 2145031948 days after 2000.
    BOOST_TEST((decode<sys_days>(from_hex("7fda970c")) == sys_days{2000y / 1 / 1} + days{2'145'031'948}));
    BOOST_TEST(to_hex(encode(sys_days{2000y / 1 / 1} + days{2'145'031'948})) == "7fda970c");
}

BOOST_AUTO_TEST_CASE(date_encode_rejects_values_outside_postgres_range)
{
    std::string out;
    BOOST_CHECK_EXCEPTION(type_traits<sys_days>::encode(sys_days{year{-4713} / 11 / 23}, out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(type_traits<sys_days>::encode(sys_days{2000y / 1 / 1} + days{2'145'031'949}, out),
                          error, has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(type_traits<sys_days>::encode(sys_days::max() - days{1}, out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(type_traits<sys_days>::encode(sys_days::min() + days{1}, out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(date_decode_rejects_values_outside_postgres_range)
{
    BOOST_CHECK_EXCEPTION(decode<sys_days>(from_hex("ffda97a6")), error,
                          has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<sys_days>(from_hex("7fda970d")), error,
                          has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<sys_days>(from_hex("7ffffffe")), error,
                          has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(year_month_day_round_trips)
{
    for (year_month_day value : {1999y / 12 / 31, 2000y / 2 / 29, 2100y / 3 / 1, 1066y / 10 / 14,
                                 2038y / 1 / 20, year{-4713} / 11 / 24, 32767y / 12 / 31})
        BOOST_TEST((round_trip(value) == value));
    BOOST_TEST(to_hex(encode(1999y / 12 / 31)) == "ffffffff");
}

BOOST_AUTO_TEST_CASE(year_month_day_encode_rejects_invalid_dates)
{
    std::string out;
    BOOST_CHECK_EXCEPTION(type_traits<year_month_day>::encode(2023y / 2 / 29, out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(type_traits<year_month_day>::encode(2023y / 13 / 1, out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(type_traits<year_month_day>::encode(year{-32767} / 1 / 1, out), error,
                          has_code(client_errc::invalid_parameter));
}

BOOST_AUTO_TEST_CASE(year_month_day_decode_rejects_infinity_and_years_beyond_32767)
{
    BOOST_CHECK_EXCEPTION(decode<year_month_day>(from_hex("7fffffff")), error,
                          has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<year_month_day>(from_hex("80000000")), error,
                          has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<year_month_day>(from_hex("7fda970c")), error,
                          has_code(client_errc::malformed_value));
    const sys_days after_last = sys_days{32767y / 12 / 31} + days{1};
    BOOST_CHECK_EXCEPTION(decode<year_month_day>(encode(after_last)), error,
                          has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(chrono_decoders_reject_truncated_and_oversized_buffers)
{
    check_rejects_truncated_and_oversized<sys_us>(from_hex("00000000000f4240"), oids::timestamptz);
    check_rejects_truncated_and_oversized<sys_ns>(from_hex("00000000000f4240"), oids::timestamptz);
    check_rejects_truncated_and_oversized<local_us>(from_hex("00000000000f4240"), oids::timestamp);
    check_rejects_truncated_and_oversized<sys_days>(from_hex("ffffffff"), oids::date);
    check_rejects_truncated_and_oversized<year_month_day>(from_hex("ffffffff"), oids::date);
}

BOOST_AUTO_TEST_SUITE_END()
