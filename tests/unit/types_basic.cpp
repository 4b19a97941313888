// Codecs of basic.hpp: bool, integers, floating point, text, bytea.

#include "types_support.hpp"

#include <pgcoro/types/basic.hpp>

#include <boost/test/unit_test.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

using namespace pgcoro;
using namespace pgcoro_test;

BOOST_AUTO_TEST_SUITE(types_basic)

BOOST_AUTO_TEST_CASE(bool_encodes_as_one_byte_and_round_trips)
{
    BOOST_TEST(to_hex(encode(true)) == "01");
    BOOST_TEST(to_hex(encode(false)) == "00");
    BOOST_TEST(round_trip(true) == true);
    BOOST_TEST(round_trip(false) == false);
}

BOOST_AUTO_TEST_CASE(bool_decode_rejects_bytes_other_than_0_and_1)
{
    BOOST_CHECK_EXCEPTION(decode<bool>(from_hex("02")), error, has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<bool>(from_hex("ff")), error, has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(integers_round_trip_their_minimum_and_maximum)
{
    for (std::int16_t v : {std::numeric_limits<std::int16_t>::min(), std::int16_t{-1}, std::int16_t{0},
                           std::numeric_limits<std::int16_t>::max()})
        BOOST_TEST(round_trip(v) == v);
    for (std::int32_t v :
         {std::numeric_limits<std::int32_t>::min(), -1, 0, std::numeric_limits<std::int32_t>::max()})
        BOOST_TEST(round_trip(v) == v);
    for (std::int64_t v : {std::numeric_limits<std::int64_t>::min(), std::int64_t{-1}, std::int64_t{0},
                           std::numeric_limits<std::int64_t>::max()})
        BOOST_TEST(round_trip(v) == v);
}

BOOST_AUTO_TEST_CASE(integers_encode_big_endian_like_postgres)
{
    BOOST_TEST(to_hex(encode(std::int16_t{1})) == "0001");
    BOOST_TEST(to_hex(encode(std::int16_t{-32768})) == "8000");
    BOOST_TEST(to_hex(encode(std::int32_t{1})) == "00000001");
    BOOST_TEST(to_hex(encode(std::int64_t{1})) == "0000000000000001");
    BOOST_TEST(to_hex(encode(std::numeric_limits<std::int64_t>::max())) == "7fffffffffffffff");
}

BOOST_AUTO_TEST_CASE(wider_integers_decode_narrower_columns_sign_extended)
{
    BOOST_TEST(decode<std::int64_t>(from_hex("8000"), oids::int2) == -32768);
    BOOST_TEST(decode<std::int64_t>(from_hex("80000000"), oids::int4) ==
               std::numeric_limits<std::int32_t>::min());
    BOOST_TEST(decode<std::int32_t>(from_hex("ffff"), oids::int2) == -1);
    BOOST_TEST(decode<std::int32_t>(from_hex("7fff"), oids::int2) == 32767);
}

BOOST_AUTO_TEST_CASE(integers_accept_only_columns_that_fit)
{
    BOOST_TEST(type_traits<std::int16_t>::accepts(oids::int2));
    BOOST_TEST(!type_traits<std::int16_t>::accepts(oids::int4));
    BOOST_TEST(!type_traits<std::int16_t>::accepts(oids::int8));
    BOOST_TEST(type_traits<std::int32_t>::accepts(oids::int2));
    BOOST_TEST(type_traits<std::int32_t>::accepts(oids::int4));
    BOOST_TEST(!type_traits<std::int32_t>::accepts(oids::int8));
    BOOST_TEST(type_traits<std::int64_t>::accepts(oids::int2));
    BOOST_TEST(type_traits<std::int64_t>::accepts(oids::int4));
    BOOST_TEST(type_traits<std::int64_t>::accepts(oids::int8));
    BOOST_TEST(!type_traits<std::int64_t>::accepts(oids::oid));
    BOOST_TEST(!type_traits<std::int64_t>::accepts(oids::numeric));
}

BOOST_AUTO_TEST_CASE(integer_decode_checks_the_size_of_the_column_type)
{
    // The width comes from the OID, so 4 bytes in an int2 column are malformed, not an int4.
    BOOST_CHECK_EXCEPTION(decode<std::int64_t>(from_hex("00000001"), oids::int2), error,
                          has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<std::int64_t>(from_hex("0001"), oids::int8), error,
                          has_code(client_errc::malformed_value));
    check_rejects_truncated_and_oversized<std::int16_t>(from_hex("0102"), oids::int2);
    check_rejects_truncated_and_oversized<std::int32_t>(from_hex("01020304"), oids::int4);
    check_rejects_truncated_and_oversized<std::int64_t>(from_hex("0102030405060708"), oids::int8);
    check_rejects_truncated_and_oversized<std::int64_t>(from_hex("01020304"), oids::int4);
}

BOOST_AUTO_TEST_CASE(integer_decode_of_a_column_it_does_not_accept_is_a_type_mismatch)
{
    BOOST_CHECK_EXCEPTION(decode<std::int16_t>(from_hex("00000001"), oids::int4), error,
                          has_code(client_errc::type_mismatch));
    BOOST_CHECK_EXCEPTION(decode<std::int64_t>(from_hex("00000001"), oids::oid), error,
                          has_code(client_errc::type_mismatch));
}

BOOST_AUTO_TEST_CASE(floats_round_trip_nan_infinities_and_extremes)
{
    using limits = std::numeric_limits<float>;
    for (float v : {0.0f, -0.0f, 1.5f, limits::min(), limits::max(), limits::lowest(), limits::denorm_min(),
                    limits::infinity(), -limits::infinity()}) {
        const float back = round_trip(v);
        BOOST_TEST(std::bit_cast<std::uint32_t>(back) == std::bit_cast<std::uint32_t>(v));
    }
    BOOST_TEST(std::isnan(round_trip(limits::quiet_NaN())));
}

BOOST_AUTO_TEST_CASE(doubles_round_trip_nan_infinities_and_extremes)
{
    using limits = std::numeric_limits<double>;
    for (double v : {0.0, -0.0, 1.5, 0.1, limits::min(), limits::max(), limits::lowest(),
                     limits::denorm_min(), limits::infinity(), -limits::infinity()}) {
        const double back = round_trip(v);
        BOOST_TEST(std::bit_cast<std::uint64_t>(back) == std::bit_cast<std::uint64_t>(v));
    }
    BOOST_TEST(std::isnan(round_trip(limits::quiet_NaN())));
}

BOOST_AUTO_TEST_CASE(floats_match_postgres_bytes)
{
    BOOST_TEST(to_hex(encode(1.5f)) == "3fc00000");
    BOOST_TEST(to_hex(encode(1.5)) == "3ff8000000000000");
    BOOST_TEST(std::isnan(decode<double>(from_hex("7ff8000000000000"))));
    BOOST_TEST(decode<float>(from_hex("ff800000")) == -std::numeric_limits<float>::infinity());
}

BOOST_AUTO_TEST_CASE(double_decodes_float4_columns_but_float_rejects_float8)
{
    BOOST_TEST(type_traits<double>::accepts(oids::float4));
    BOOST_TEST(!type_traits<float>::accepts(oids::float8));
    BOOST_TEST(decode<double>(from_hex("3fc00000"), oids::float4) == 1.5);
    BOOST_CHECK_EXCEPTION(decode<double>(from_hex("3fc00000"), oids::float8), error,
                          has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(fixed_width_decoders_reject_truncated_and_oversized_buffers)
{
    check_rejects_truncated_and_oversized<bool>(from_hex("01"), oids::bool_);
    check_rejects_truncated_and_oversized<float>(from_hex("3fc00000"), oids::float4);
    check_rejects_truncated_and_oversized<double>(from_hex("3ff8000000000000"), oids::float8);
    check_rejects_truncated_and_oversized<double>(from_hex("3fc00000"), oids::float4);
}

BOOST_AUTO_TEST_CASE(string_round_trips_empty_unicode_and_one_megabyte)
{
    BOOST_TEST(round_trip(std::string()).empty());
    const std::string unicode = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x82\xAC \xF0\x9F\x98\x80";
    BOOST_TEST(round_trip(unicode) == unicode);
    BOOST_TEST(encode(unicode) == unicode);
    std::string large(1 << 20, 'x');
    for (std::size_t i = 0; i < large.size(); i += 7)
        large[i] = static_cast<char>('a' + i % 26);
    BOOST_TEST(round_trip(large) == large);
}

BOOST_AUTO_TEST_CASE(string_accepts_every_text_like_column)
{
    for (oid_t type : {oids::text, oids::varchar, oids::bpchar, oids::name, oids::unknown, oids::char_,
                       oids::json, oids::xml}) {
        BOOST_TEST(type_traits<std::string>::accepts(type));
        BOOST_TEST(type_traits<std::string_view>::accepts(type));
    }
    for (oid_t type : {oids::bytea, oids::int4, oids::jsonb, oids::uuid}) {
        BOOST_TEST(!type_traits<std::string>::accepts(type));
        BOOST_TEST(!type_traits<std::string_view>::accepts(type));
    }
    // bpchar keeps its blank padding, as the server sends it.
    BOOST_TEST(decode<std::string>(from_hex("6162632020"), oids::bpchar) == "abc  ");
}

BOOST_AUTO_TEST_CASE(string_encode_rejects_an_embedded_nul)
{
    const std::string with_nul("ab\0c", 4);
    std::string out;
    BOOST_CHECK_EXCEPTION(type_traits<std::string>::encode(with_nul, out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(type_traits<std::string_view>::encode(with_nul, out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(type_traits<std::string>::encode(std::string(1, '\0'), out), error,
                          has_code(client_errc::invalid_parameter));
}

BOOST_AUTO_TEST_CASE(string_view_decode_points_into_the_buffer)
{
    const std::string buffer = "hello";
    const std::string_view view = decode<std::string_view>(buffer);
    BOOST_TEST(view == "hello");
    BOOST_TEST(static_cast<const void*>(view.data()) == static_cast<const void*>(buffer.data()));
    BOOST_TEST(encode(std::string_view("abc")) == "abc");
}

BOOST_AUTO_TEST_CASE(bytea_round_trips_every_byte_value_and_empty)
{
    std::vector<std::byte> all;
    for (int i = 0; i < 256; ++i)
        all.push_back(static_cast<std::byte>(i));
    BOOST_TEST((round_trip(all) == all));
    BOOST_TEST(round_trip(std::vector<std::byte>{}).empty());
    BOOST_TEST(to_hex(encode(std::vector<std::byte>{std::byte{1}, std::byte{2}})) == "0102");
}

BOOST_AUTO_TEST_CASE(byte_vector_is_bytea_not_an_array)
{
    static_assert(pg_type<std::vector<std::byte>>);
    static_assert(type_traits<std::vector<std::byte>>::type_oid == oids::bytea);
    static_assert(type_traits<std::vector<std::byte>>::array_oid == oids::bytea_array);
    BOOST_TEST(type_traits<std::vector<std::byte>>::accepts(oids::bytea));
    BOOST_TEST(!type_traits<std::vector<std::byte>>::accepts(oids::bytea_array));
}

BOOST_AUTO_TEST_SUITE_END()
