// Codec of enum.hpp: BOOST_DESCRIBE_ENUM enums as PostgreSQL enum labels.

#include "types_support.hpp"

#include <pgcoro/detail/statement.hpp>
#include <pgcoro/types/enum.hpp>

#include <boost/describe/enum.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdint>

using namespace pgcoro;
using namespace pgcoro_test;

namespace types_enum_test {

enum class mood { sad, ok, happy };
BOOST_DESCRIBE_ENUM(mood, sad, ok, happy)

enum weekday : std::uint8_t { monday = 1, tuesday = 2 };
BOOST_DESCRIBE_ENUM(weekday, monday, tuesday)

enum class undescribed { a, b };

} // namespace types_enum_test

using types_enum_test::mood;
using types_enum_test::weekday;

BOOST_TEST_DONT_PRINT_LOG_VALUE(types_enum_test::mood)

BOOST_AUTO_TEST_SUITE(types_enum)

BOOST_AUTO_TEST_CASE(enum_encodes_its_enumerator_name)
{
    BOOST_TEST(encode(mood::happy) == "happy");
    BOOST_TEST(encode(mood::sad) == "sad");
    BOOST_TEST(encode(weekday::tuesday) == "tuesday");
}

BOOST_AUTO_TEST_CASE(enum_round_trips_every_enumerator)
{
    for (mood value : {mood::sad, mood::ok, mood::happy})
        BOOST_TEST((round_trip(value, 16385) == value));
    BOOST_TEST(round_trip(weekday::monday, oids::text) == weekday::monday);
}

BOOST_AUTO_TEST_CASE(enum_is_sent_with_an_unspecified_oid_and_has_no_array)
{
    static_assert(pg_type<mood>);
    static_assert(type_traits<mood>::type_oid == oids::unspecified);
    static_assert(type_traits<mood>::array_oid == 0);
    static_assert(!pg_type<types_enum_test::undescribed>);
}

BOOST_AUTO_TEST_CASE(enum_accepts_text_columns_and_user_defined_types)
{
    for (oid_t type : {oids::text, oids::varchar, oids::bpchar, oids::name, oids::unknown,
                       oids::first_normal_object, oid_t{16385}, oid_t{4'000'000'000}})
        BOOST_TEST(type_traits<mood>::accepts(type));
    for (oid_t type : {oids::int4, oids::bytea, oids::jsonb, oids::text_array, oid_t{16383}})
        BOOST_TEST(!type_traits<mood>::accepts(type));
}

BOOST_AUTO_TEST_CASE(enum_decode_of_an_unknown_label_names_it)
{
    BOOST_CHECK_EXCEPTION(decode<mood>("ecstatic", 16385), error, malformed_saying("'ecstatic'"));
    BOOST_CHECK_EXCEPTION(decode<mood>("", 16385), error, has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<mood>("Happy", 16385), error, has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<mood>(std::string("happy\0", 6), 16385), error,
                          has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(decode<mood>(std::string(10'000, 'x'), 16385), error,
                          has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_CASE(enum_encode_of_an_undescribed_value_is_an_invalid_parameter)
{
    std::string out;
    BOOST_CHECK_EXCEPTION(type_traits<mood>::encode(static_cast<mood>(42), out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(type_traits<weekday>::encode(static_cast<weekday>(0), out), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_TEST(out.empty());
}

BOOST_AUTO_TEST_CASE(enum_decode_ignores_bpchar_padding)
{
    BOOST_TEST((decode<mood>("ok   ", oids::bpchar) == mood::ok));
    BOOST_CHECK_EXCEPTION(decode<mood>("ok   ", oids::text), error, has_code(client_errc::malformed_value));
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(types_enum_arrays)

namespace {
enum class colour { red, green, blue };
BOOST_DESCRIBE_ENUM(colour, red, green, blue)
} // namespace

BOOST_AUTO_TEST_CASE(enum_arrays_go_out_as_text_literals_with_nulls)
{
    using traits = pgcoro::type_traits<std::vector<std::optional<colour>>>;
    static_assert(traits::format == 0);
    static_assert(traits::type_oid == pgcoro::oids::unspecified);
    std::string out;
    traits::encode({colour::red, std::nullopt, colour::blue}, out);
    BOOST_TEST(out == "{\"red\",NULL,\"blue\"}");
    out.clear();
    pgcoro::type_traits<std::vector<colour>>::encode({}, out);
    BOOST_TEST(out == "{}");
}

BOOST_AUTO_TEST_CASE(text_parameters_are_nul_terminated_in_the_statement)
{
    auto s =
        pgcoro::detail::make_statement("SELECT $1, $2", std::vector<colour>{colour::green}, std::int16_t{1});
    BOOST_TEST(s.formats[0] == 0);
    BOOST_TEST(s.formats[1] == 1);
    BOOST_TEST(s.lengths[0] == 9); // {"green"}
    BOOST_TEST(s.values == std::string("{\"green\"}\0\0\x01", 12));
}

BOOST_AUTO_TEST_CASE(quoting_escapes_quotes_and_backslashes)
{
    std::string out;
    pgcoro::detail::append_quoted_array_element(out, "a\"b\\c");
    BOOST_TEST(out == "\"a\\\"b\\\\c\"");
}

BOOST_AUTO_TEST_SUITE_END()
