// Codec of json.hpp: boost::json::value ↔ json / jsonb.

#include "types_support.hpp"

#include <pgcoro/types/json.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>

using namespace pgcoro;
using namespace pgcoro_test;

namespace {

boost::json::value nested(std::size_t depth)
{
    boost::json::value value = "leaf";
    for (std::size_t i = 0; i < depth; ++i) {
        if (i % 2 == 0)
            value = boost::json::array{std::move(value)};
        else
            value = boost::json::object{{"k", std::move(value)}};
    }
    return value;
}

std::string nested_text(std::size_t depth)
{
    return std::string(depth, '[') + std::string(depth, ']');
}

} // namespace

BOOST_AUTO_TEST_SUITE(types_json)

BOOST_AUTO_TEST_CASE(jsonb_encodes_as_version_byte_and_text)
{
    static_assert(type_traits<boost::json::value>::type_oid == oids::jsonb);
    static_assert(type_traits<boost::json::value>::array_oid == oids::jsonb_array);
    BOOST_TEST(to_hex(encode(boost::json::value{{"a", 1}})) == "01" + to_hex(R"({"a":1})"));
}

BOOST_AUTO_TEST_CASE(jsonb_decodes_postgres_bytes)
{
    // '{"a": [1, {"b": null}]}'::jsonb
    const auto value =
        decode<boost::json::value>(from_hex("017b2261223a205b312c207b2262223a206e756c6c7d5d7d"), oids::jsonb);
    BOOST_TEST(value == boost::json::parse(R"({"a":[1,{"b":null}]})"));
}

BOOST_AUTO_TEST_CASE(json_decodes_plain_text_without_version_byte)
{
    const auto value = decode<boost::json::value>(from_hex("7b2261223a20317d"), oids::json);
    BOOST_TEST(value == boost::json::parse(R"({"a":1})"));
}

BOOST_AUTO_TEST_CASE(json_accepts_json_and_jsonb_columns_only)
{
    BOOST_TEST(type_traits<boost::json::value>::accepts(oids::json));
    BOOST_TEST(type_traits<boost::json::value>::accepts(oids::jsonb));
    BOOST_TEST(!type_traits<boost::json::value>::accepts(oids::text));
    BOOST_TEST(!type_traits<boost::json::value>::accepts(oids::jsonb_array));
}

BOOST_AUTO_TEST_CASE(json_round_trips_nested_values_and_edge_numbers)
{
    const boost::json::value value = {
        {"empty_object", boost::json::object{}},
        {"empty_array", boost::json::array{}},
        {"null", nullptr},
        {"bools", {true, false}},
        {"int64", {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}},
        {"uint64", std::numeric_limits<std::uint64_t>::max()},
        {"doubles", {0.5, -1536.25, 1e300}},
        {"unicode \xC3\xA9\xE2\x82\xAC", "\xF0\x9F\x98\x80 \"quoted\" \\ \n\t\x01"},
        {"nested", nested(200)},
    };
    BOOST_TEST(round_trip(value, oids::jsonb) == value);
    BOOST_TEST(round_trip(boost::json::value(nullptr), oids::jsonb) == boost::json::value(nullptr));
    const boost::json::value scalar = "scalar";
    BOOST_TEST(round_trip(scalar, oids::jsonb) == scalar);
}

BOOST_AUTO_TEST_CASE(jsonb_decode_rejects_other_versions_and_empty_values)
{
    BOOST_CHECK_EXCEPTION(decode<boost::json::value>(from_hex("027b7d"), oids::jsonb), error,
                          malformed_saying("version 2"));
    BOOST_CHECK_EXCEPTION(decode<boost::json::value>(from_hex("007b7d"), oids::jsonb), error,
                          malformed_saying("version 0"));
    BOOST_CHECK_EXCEPTION(decode<boost::json::value>("", oids::jsonb), error,
                          has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<boost::json::value>("", oids::json), error,
                          has_code(client_errc::malformed_value));
    // A json column has no version byte: a leading 0x01 is not JSON.
    BOOST_CHECK_EXCEPTION(decode<boost::json::value>(from_hex("017b7d"), oids::json), error,
                          has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(json_decode_rejects_invalid_json_and_utf8)
{
    for (std::string text :
         {"{", "[1,]", "nul", "1 2", "{\"a\" 1}", "\"\xff\"", "'a'", "NaN", "\"\xC3\"", "[1] x"}) {
        BOOST_TEST_CONTEXT(to_hex(text))
        {
            BOOST_CHECK_EXCEPTION(decode<boost::json::value>(text, oids::json), error,
                                  has_code(client_errc::malformed_value));
            BOOST_CHECK_EXCEPTION(decode<boost::json::value>("\x01" + text, oids::jsonb), error,
                                  has_code(client_errc::malformed_value));
        }
    }
}

BOOST_AUTO_TEST_CASE(json_decode_limits_nesting_depth)
{
    constexpr std::size_t limit = type_traits<boost::json::value>::max_depth;
    BOOST_TEST(decode<boost::json::value>(nested_text(limit), oids::json).is_array());
    BOOST_CHECK_EXCEPTION(decode<boost::json::value>(nested_text(limit + 1), oids::json), error,
                          has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(json_encode_rejects_nan_and_infinity)
{
    for (double bad : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                       std::numeric_limits<double>::quiet_NaN()}) {
        std::string out;
        BOOST_CHECK_EXCEPTION(type_traits<boost::json::value>::encode(boost::json::value(bad), out), error,
                              has_code(client_errc::invalid_parameter));
        const boost::json::value deep = {{"a", {1, {{"b", {bad}}}}}};
        BOOST_CHECK_EXCEPTION(type_traits<boost::json::value>::encode(deep, out), error,
                              has_code(client_errc::invalid_parameter));
        BOOST_TEST(out.empty());
    }
}

BOOST_AUTO_TEST_CASE(json_decoders_reject_truncated_and_oversized_buffers)
{
    const std::string jsonb = from_hex("017b2261223a205b312c207b2262223a206e756c6c7d5d7d");
    check_rejects_truncated_and_oversized<boost::json::value>(jsonb, oids::jsonb);
    check_rejects_truncated_and_oversized<boost::json::value>(jsonb.substr(1), oids::json);
}

BOOST_AUTO_TEST_SUITE_END()
