// Codec of uuid.hpp.

#include "types_support.hpp"

#include <pgcoro/types/uuid.hpp>

#include <boost/test/unit_test.hpp>
#include <boost/uuid/nil_generator.hpp>
#include <boost/uuid/string_generator.hpp>

using namespace pgcoro;
using namespace pgcoro_test;

BOOST_AUTO_TEST_SUITE(types_uuid)

BOOST_AUTO_TEST_CASE(uuid_is_sixteen_bytes_in_rfc_order)
{
    const auto value = boost::uuids::string_generator()("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    BOOST_TEST(to_hex(encode(value)) == "a0eebc999c0b4ef8bb6d6bb9bd380a11");
    BOOST_TEST(decode<boost::uuids::uuid>(from_hex("a0eebc999c0b4ef8bb6d6bb9bd380a11")) == value);
}

BOOST_AUTO_TEST_CASE(uuid_round_trips_nil_and_all_ones)
{
    const boost::uuids::uuid nil = boost::uuids::nil_uuid();
    BOOST_TEST(round_trip(nil) == nil);
    const auto ones = boost::uuids::string_generator()("ffffffff-ffff-ffff-ffff-ffffffffffff");
    BOOST_TEST(round_trip(ones) == ones);
}

BOOST_AUTO_TEST_CASE(uuid_accepts_only_uuid_columns)
{
    static_assert(type_traits<boost::uuids::uuid>::type_oid == oids::uuid);
    static_assert(type_traits<boost::uuids::uuid>::array_oid == oids::uuid_array);
    BOOST_TEST(type_traits<boost::uuids::uuid>::accepts(oids::uuid));
    BOOST_TEST(!type_traits<boost::uuids::uuid>::accepts(oids::text));
    BOOST_TEST(!type_traits<boost::uuids::uuid>::accepts(oids::bytea));
}

BOOST_AUTO_TEST_CASE(uuid_decode_rejects_truncated_and_oversized_buffers)
{
    check_rejects_truncated_and_oversized<boost::uuids::uuid>(from_hex("a0eebc999c0b4ef8bb6d6bb9bd380a11"),
                                                              oids::uuid);
}

BOOST_AUTO_TEST_SUITE_END()
