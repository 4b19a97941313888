// Codec of interval.hpp.

#include "types_support.hpp"

#include <pgcoro/types/interval.hpp>

#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>

using namespace pgcoro;
using namespace pgcoro_test;

BOOST_TEST_DONT_PRINT_LOG_VALUE(pgcoro::interval)

BOOST_AUTO_TEST_SUITE(types_interval)

BOOST_AUTO_TEST_CASE(interval_matches_postgres_bytes)
{
    // '1 day 2 hours'
    const interval one_day_two_hours{7'200'000'000, 1, 0};
    BOOST_TEST(to_hex(encode(one_day_two_hours)) == to_hex(from_hex("00000001ad274800 00000001 00000000")));
    BOOST_TEST((decode<interval>(from_hex("00000001ad2748000000000100000000")) == one_day_two_hours));
    // '-1 year -2 mons +3 days -04:05:06.789'
    const interval mixed{-14'706'789'000, 3, -14};
    BOOST_TEST(to_hex(encode(mixed)) == "fffffffc9368357800000003fffffff2");
    BOOST_TEST((decode<interval>(from_hex("fffffffc9368357800000003fffffff2")) == mixed));
}

BOOST_AUTO_TEST_CASE(interval_round_trips_field_extremes)
{
    using i64 = std::numeric_limits<std::int64_t>;
    using i32 = std::numeric_limits<std::int32_t>;
    for (const interval& value : {interval{}, interval{i64::min(), i32::min(), i32::min()},
                                  interval{i64::max(), i32::max(), i32::max()}, interval{-1, -1, -1}})
        BOOST_TEST((round_trip(value) == value));
}

BOOST_AUTO_TEST_CASE(interval_equality_is_field_wise)
{
    BOOST_TEST((interval{86'400'000'000, 0, 0} != interval{0, 1, 0}));
    BOOST_TEST((interval{0, 30, 0} != interval{0, 0, 1}));
}

BOOST_AUTO_TEST_CASE(interval_decode_rejects_truncated_and_oversized_buffers)
{
    check_rejects_truncated_and_oversized<interval>(from_hex("00000001ad2748000000000100000000"),
                                                    oids::interval);
}

BOOST_AUTO_TEST_SUITE_END()
