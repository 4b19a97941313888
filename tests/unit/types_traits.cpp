// The non-template parts of traits.hpp: OID tables and the error helpers.

#include "types_support.hpp"

#include <pgcoro/types/traits.hpp>

#include <boost/test/unit_test.hpp>

using namespace pgcoro;
using namespace pgcoro_test;

BOOST_AUTO_TEST_SUITE(types_traits)

BOOST_AUTO_TEST_CASE(array_element_oid_maps_builtin_array_types)
{
    BOOST_TEST(array_element_oid(oids::int4_array) == oids::int4);
    BOOST_TEST(array_element_oid(oids::text_array) == oids::text);
    BOOST_TEST(array_element_oid(oids::bool_array) == oids::bool_);
    BOOST_TEST(array_element_oid(oids::json_array) == oids::json);
    BOOST_TEST(array_element_oid(oids::jsonb_array) == oids::jsonb);
    BOOST_TEST(array_element_oid(oids::timestamptz_array) == oids::timestamptz);
    BOOST_TEST(array_element_oid(oids::numeric_array) == oids::numeric);
    BOOST_TEST(array_element_oid(143) == oids::xml);
}

BOOST_AUTO_TEST_CASE(array_element_oid_is_zero_for_non_arrays)
{
    BOOST_TEST(array_element_oid(oids::unspecified) == 0u);
    BOOST_TEST(array_element_oid(oids::int4) == 0u);
    BOOST_TEST(array_element_oid(oids::unknown) == 0u);
    BOOST_TEST(array_element_oid(16385) == 0u);
}

BOOST_AUTO_TEST_CASE(type_name_names_builtins_arrays_and_others)
{
    BOOST_TEST(type_name(oids::int4) == "int4");
    BOOST_TEST(type_name(oids::text_array) == "text[]");
    BOOST_TEST(type_name(oids::timestamptz) == "timestamptz");
    BOOST_TEST(type_name(oids::jsonb_array) == "jsonb[]");
    BOOST_TEST(type_name(oids::char_) == "\"char\"");
    BOOST_TEST(type_name(16385) == "oid 16385");
    BOOST_TEST(type_name(0) == "oid 0");
}

BOOST_AUTO_TEST_CASE(error_helpers_throw_pgcoro_errors_with_their_codes)
{
    BOOST_CHECK_EXCEPTION(detail::throw_malformed("x"), error, has_code(client_errc::malformed_value));
    BOOST_CHECK_EXCEPTION(detail::throw_invalid_parameter("x"), error,
                          has_code(client_errc::invalid_parameter));
    BOOST_CHECK_EXCEPTION(detail::throw_unexpected_null(), error, has_code(client_errc::unexpected_null));
    BOOST_CHECK_EXCEPTION(detail::throw_malformed("bad thing"), error, malformed_saying("bad thing"));
}

BOOST_AUTO_TEST_SUITE_END()
