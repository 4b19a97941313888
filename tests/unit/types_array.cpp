// Codec of array.hpp: one-dimensional arrays. Expected bytes are array_send output from
// PostgreSQL 15.

#include "types_support.hpp"

#include <pgcoro/types.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <boost/uuid/string_generator.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

using namespace pgcoro;
using namespace pgcoro_test;
using namespace std::chrono_literals;

namespace {

using int_array = std::vector<std::int32_t>;
using nullable_int_array = std::vector<std::optional<std::int32_t>>;

enum class color { red, green };
BOOST_DESCRIBE_ENUM(color, red, green)

// An int4[] header with the given fields, followed by `rest`.
std::string header(std::int32_t dimensions, std::int32_t flags, oid_t element,
                   std::initializer_list<std::int32_t> dimension_fields, std::string_view rest = {})
{
    std::string out;
    detail::append_be(out, dimensions);
    detail::append_be(out, flags);
    detail::append_be(out, element);
    for (std::int32_t field : dimension_fields)
        detail::append_be(out, field);
    out.append(rest);
    return out;
}

} // namespace

BOOST_TEST_DONT_PRINT_LOG_VALUE(nullable_int_array)
BOOST_TEST_DONT_PRINT_LOG_VALUE(std::vector<std::optional<std::string>>)
BOOST_TEST_DONT_PRINT_LOG_VALUE(std::vector<bool>)

BOOST_AUTO_TEST_SUITE(types_array)

BOOST_AUTO_TEST_CASE(int4_array_with_null_matches_postgres_bytes)
{
    // array[1,null,3]::int4[]
    const std::string expected = from_hex("00000001 00000001 00000017 00000003 00000001"
                                          "00000004 00000001 ffffffff 00000004 00000003");
    const nullable_int_array value{1, std::nullopt, 3};
    BOOST_TEST(to_hex(encode(value)) == to_hex(expected));
    BOOST_TEST((decode<nullable_int_array>(expected) == value));
}

BOOST_AUTO_TEST_CASE(empty_array_has_zero_dimensions)
{
    // '{}'::int4[]
    BOOST_TEST(to_hex(encode(int_array{})) == "000000000000000000000017");
    BOOST_TEST(decode<int_array>(from_hex("000000000000000000000017")).empty());
    BOOST_TEST(decode<nullable_int_array>(from_hex("000000000000000000000017")).empty());
    BOOST_TEST(round_trip(std::vector<std::string>{}).empty());
    // A one-dimensional array of length 0 is also empty.
    BOOST_TEST(decode<int_array>(header(1, 0, oids::int4, {0, 1})).empty());
}

BOOST_AUTO_TEST_CASE(arrays_are_sent_with_lower_bound_one_and_no_null_flag)
{
    // array['2000-01-02'::date]
    BOOST_TEST(to_hex(encode(std::vector<std::chrono::sys_days>{
                   std::chrono::sys_days{std::chrono::year{2000} / 1 / 2}})) ==
               "00000001000000000000043a00000001000000010000000400000001");
}

BOOST_AUTO_TEST_CASE(array_decode_accepts_any_lower_bound)
{
    // '[0:1]={10,20}'::int4[]
    const std::string zero_based =
        from_hex("0000000100000000000000170000000200000000000000040000000a0000000400000014");
    BOOST_TEST((decode<int_array>(zero_based) == int_array{10, 20}));
    const std::int32_t lowest = std::numeric_limits<std::int32_t>::min();
    BOOST_TEST((decode<int_array>(header(1, 0, oids::int4, {1, lowest}, from_hex("0000000400000007"))) ==
                int_array{7}));
}

BOOST_AUTO_TEST_CASE(text_and_bool_arrays_match_postgres_bytes)
{
    // array['a',null]::text[]
    const std::string text = from_hex("00000001000000010000001900000002000000010000000161ffffffff");
    const std::vector<std::optional<std::string>> strings{"a", std::nullopt};
    BOOST_TEST(to_hex(encode(strings)) == to_hex(text));
    BOOST_TEST((decode<std::vector<std::optional<std::string>>>(text) == strings));
    // array[true,false,null]
    const std::string bools =
        from_hex("000000010000000100000010000000030000000100000001010000000100ffffffff");
    const std::vector<std::optional<bool>> values{true, false, std::nullopt};
    BOOST_TEST(to_hex(encode(values)) == to_hex(bools));
    BOOST_TEST((decode<std::vector<std::optional<bool>>>(bools) == values));
}

BOOST_AUTO_TEST_CASE(vector_of_bool_round_trips)
{
    const std::vector<bool> values{true, false, false, true};
    static_assert(type_traits<std::vector<bool>>::type_oid == oids::bool_array);
    BOOST_TEST((round_trip(values) == values));
}

BOOST_AUTO_TEST_CASE(arrays_of_every_element_type_round_trip)
{
    const std::vector<std::int16_t> shorts{std::numeric_limits<std::int16_t>::min(), 0,
                                           std::numeric_limits<std::int16_t>::max()};
    BOOST_TEST((round_trip(shorts) == shorts));
    const std::vector<std::int64_t> longs{std::numeric_limits<std::int64_t>::min(), -1,
                                          std::numeric_limits<std::int64_t>::max()};
    BOOST_TEST((round_trip(longs) == longs));
    const std::vector<double> doubles{0.5, -std::numeric_limits<double>::infinity(), 1e300};
    BOOST_TEST((round_trip(doubles) == doubles));
    const std::vector<float> floats{0.5f, std::numeric_limits<float>::max()};
    BOOST_TEST((round_trip(floats) == floats));
    const std::vector<std::string> strings{"", "h\xC3\xA9llo", std::string(100'000, 'z'), "\xF0\x9F\x98\x80"};
    BOOST_TEST((round_trip(strings) == strings));
    const std::vector<std::vector<std::byte>> blobs{{}, {std::byte{0}, std::byte{255}}};
    BOOST_TEST((round_trip(blobs) == blobs));
    const std::vector<numeric> numerics{{"1.50"}, {"NaN"}, {"-123456789.000000001"}};
    BOOST_TEST((round_trip(numerics) == numerics));
    const std::vector<boost::uuids::uuid> uuids{
        boost::uuids::string_generator()("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")};
    BOOST_TEST((round_trip(uuids) == uuids));
    const std::vector<interval> intervals{{1, 2, 3}, {-1, -2, -3}};
    BOOST_TEST((round_trip(intervals) == intervals));
    const std::vector<std::chrono::sys_time<std::chrono::microseconds>> times{
        std::chrono::sys_time<std::chrono::microseconds>::max(),
        std::chrono::sys_days{std::chrono::year{1999} / 12 / 31} + 1us};
    BOOST_TEST((round_trip(times) == times));
    const std::vector<std::chrono::year_month_day> dates{std::chrono::year{1999} / 12 / 31};
    BOOST_TEST((round_trip(dates) == dates));
    const std::vector<boost::json::value> documents{boost::json::parse(R"({"a":[1,null]})"), nullptr};
    BOOST_TEST((round_trip(documents) == documents));
}

BOOST_AUTO_TEST_CASE(string_view_array_elements_point_into_the_buffer)
{
    const std::string bytes = encode(std::vector<std::string>{"ab", "cd"});
    const auto views = decode<std::vector<std::string_view>>(bytes);
    BOOST_TEST(views.size() == 2u);
    BOOST_TEST(views[1] == "cd");
    // Boost.Test would compare char pointers as strings; compare offsets instead.
    const auto offset = views[1].data() - bytes.data();
    BOOST_TEST(offset == static_cast<std::ptrdiff_t>(bytes.size() - 2));
}

BOOST_AUTO_TEST_CASE(null_element_into_non_optional_vector_throws_unexpected_null)
{
    const std::string with_null = encode(nullable_int_array{1, std::nullopt});
    BOOST_CHECK_EXCEPTION(decode<int_array>(with_null), error, has_code(client_errc::unexpected_null));
}

BOOST_AUTO_TEST_CASE(array_oids_follow_the_element_type)
{
    static_assert(type_traits<int_array>::type_oid == oids::int4_array);
    static_assert(type_traits<nullable_int_array>::type_oid == oids::int4_array);
    static_assert(type_traits<std::vector<std::optional<std::string>>>::type_oid == oids::text_array);
    static_assert(type_traits<std::vector<boost::json::value>>::type_oid == oids::jsonb_array);
    static_assert(type_traits<int_array>::array_oid == 0);
    // Only one dimension; std::byte is not a pg_type. Enum arrays are pg_types, sent as
    // text because their OID is per database (types_enum.cpp).
    static_assert(!pg_type<std::vector<int_array>>);
    static_assert(pg_type<std::vector<color>>);
    static_assert(type_traits<std::vector<color>>::format == 0);
    static_assert(pg_type<color>);
    static_assert(!pg_type<std::vector<std::optional<std::byte>>>);
    // std::vector<std::byte> stays bytea even with array.hpp included.
    static_assert(type_traits<std::vector<std::byte>>::type_oid == oids::bytea);
    // Element OID of an encoded array: the element's type OID.
    BOOST_TEST(to_hex(encode(std::vector<std::string_view>{"x"}).substr(8, 4)) == "00000019");
}

BOOST_AUTO_TEST_CASE(array_accepts_array_columns_whose_elements_it_accepts)
{
    using longs = std::vector<std::int64_t>;
    BOOST_TEST(type_traits<longs>::accepts(oids::int2_array));
    BOOST_TEST(type_traits<longs>::accepts(oids::int4_array));
    BOOST_TEST(type_traits<longs>::accepts(oids::int8_array));
    BOOST_TEST(!type_traits<longs>::accepts(oids::int8));
    BOOST_TEST(!type_traits<int_array>::accepts(oids::int8_array));
    using strings = std::vector<std::optional<std::string>>;
    BOOST_TEST(type_traits<strings>::accepts(oids::varchar_array));
    BOOST_TEST(type_traits<strings>::accepts(oids::name_array));
    BOOST_TEST(type_traits<strings>::accepts(143)); // xml[]
    BOOST_TEST(!type_traits<strings>::accepts(oids::text));
    BOOST_TEST(!type_traits<strings>::accepts(oids::unspecified));
    BOOST_TEST(!type_traits<strings>::accepts(16385));
}

BOOST_AUTO_TEST_CASE(array_decode_uses_the_header_element_type)
{
    // An int2[] decoded into std::vector<std::int64_t> widens each element.
    const std::string int2_array = header(1, 0, oids::int2, {2, 1}, from_hex("00000002fffe 000000027fff"));
    BOOST_TEST((decode<std::vector<std::int64_t>>(int2_array, oids::int2_array) ==
                std::vector<std::int64_t>{-2, 32767}));
}

BOOST_AUTO_TEST_CASE(multi_dimensional_arrays_are_rejected)
{
    // '{{1,2},{3,4}}'::int4[]
    const std::string matrix =
        from_hex("000000020000000000000017000000020000000100000002000000010000000400000001000000040000"
                 "000200000004000000030000000400000004");
    BOOST_CHECK_EXCEPTION(decode<int_array>(matrix), error,
                          malformed_saying("multi-dimensional arrays are not supported"));
}

BOOST_AUTO_TEST_CASE(array_decode_rejects_a_foreign_element_type)
{
    const std::string text_array = encode(std::vector<std::string>{"1"});
    BOOST_CHECK_EXCEPTION(decode<int_array>(text_array), error, has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(0, 0, oids::text, {})), error,
                          has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(1, 0, 0, {1, 1}, from_hex("0000000400000001"))), error,
                          has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(array_decode_rejects_hostile_lengths_without_allocating)
{
    constexpr std::int32_t int32_max = std::numeric_limits<std::int32_t>::max();
    // Each case would need far more memory than its bytes if the length were trusted.
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(1, 0, oids::int4, {int32_max, 1})), error,
                          malformed_saying("array length"));
    BOOST_CHECK_EXCEPTION(decode<std::vector<std::optional<std::string>>>(
                              header(1, 1, oids::text, {int32_max, 1}, from_hex("ffffffffffffffff"))),
                          error, malformed_saying("array length"));
    BOOST_CHECK_EXCEPTION(
        decode<int_array>(header(1, 0, oids::int4, {3, 1}, from_hex("0000000400000001 00000004"))), error,
        has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(1, 0, oids::int4, {-1, 1})), error,
                          malformed_saying("negative array length"));
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(1, 0, oids::int4, {1, 1}, from_hex("fffffffe"))), error,
                          malformed_saying("negative element length"));
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(1, 0, oids::int4, {1, 1}, from_hex("80000000"))), error,
                          malformed_saying("negative element length"));
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(1, 0, oids::int4, {1, 1}, from_hex("7fffffff00000001"))),
                          error, malformed_saying("past the end"));
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(-1, 0, oids::int4, {})), error,
                          has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(
        decode<int_array>(header(2, 0, oids::int4, {1, 1, 1, 1}, from_hex("0000000400000001"))), error,
        malformed_saying("multi-dimensional"));
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(int32_max, 0, oids::int4, {})), error,
                          malformed_saying("multi-dimensional"));
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(1, 2, oids::int4, {1, 1}, from_hex("0000000400000001"))),
                          error, malformed_saying("flags"));
}

BOOST_AUTO_TEST_CASE(array_header_bounds_the_element_count_by_the_buffer)
{
    // The count read_array_header returns is what decode reserves: it never exceeds a
    // quarter of the remaining bytes (one length word per element).
    const std::string nulls = from_hex("ffffffff ffffffff ffffffff ffffffff");
    const std::string four_nulls = header(1, 1, oids::int4, {4, 1}, nulls);
    detail::byte_reader reader(four_nulls);
    BOOST_TEST(detail::read_array_header(reader, oids::int4_array).count == 4u);
    const std::string five_claimed = header(1, 1, oids::int4, {5, 1}, nulls);
    detail::byte_reader short_reader(five_claimed);
    BOOST_CHECK_EXCEPTION(detail::read_array_header(short_reader, oids::int4_array), error,
                          has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(array_decode_rejects_trailing_bytes_and_bad_elements)
{
    const std::string valid = encode(nullable_int_array{1, std::nullopt, 3});
    check_rejects_truncated_and_oversized<nullable_int_array>(valid, oids::int4_array);
    check_rejects_truncated_and_oversized<int_array>(encode(int_array{}), oids::int4_array);
    // An element of the wrong size for its type is reported by the element decoder.
    BOOST_CHECK_EXCEPTION(decode<int_array>(header(1, 0, oids::int4, {1, 1}, from_hex("000000020001"))),
                          error, has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(array_encode_propagates_element_errors)
{
    std::string out;
    BOOST_CHECK_EXCEPTION(type_traits<std::vector<std::string>>::encode({"ok", std::string("n\0ul", 4)}, out),
                          error, has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(type_traits<std::vector<numeric>>::encode({{"1"}, {"x"}}, out), error,
                          has_code(client_errc::invalid_parameter));
}

BOOST_AUTO_TEST_SUITE_END()
