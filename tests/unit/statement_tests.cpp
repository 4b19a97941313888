// Parameter encoding into a statement, and the prepared-statement LRU.

#include <pgcoro/batch.hpp>
#include <pgcoro/types.hpp>

#include "../../src/detail/statement_cache.hpp"

#include <boost/test/unit_test.hpp>

using pgcoro::client_errc;
namespace oids = pgcoro::oids;

BOOST_AUTO_TEST_SUITE(statement_unit_tests)

BOOST_AUTO_TEST_CASE(parameters_are_encoded_with_oids_lengths_and_nulls)
{
    auto s = pgcoro::detail::make_statement("SELECT $1, $2, $3, $4, $5", std::int32_t{7}, "abc",
                                            std::optional<std::int64_t>{}, std::nullopt, std::string("xy"));
    BOOST_TEST(s.sql == "SELECT $1, $2, $3, $4, $5");
    BOOST_TEST_REQUIRE(s.size() == 5u);
    BOOST_TEST(s.types[0] == oids::int4);
    BOOST_TEST(s.types[1] == oids::text);
    BOOST_TEST(s.types[2] == oids::int8);        // a typed NULL keeps its type
    BOOST_TEST(s.types[3] == oids::unspecified); // an untyped NULL lets the server infer it
    BOOST_TEST(s.types[4] == oids::text);
    BOOST_TEST(s.lengths[0] == 4);
    BOOST_TEST(s.lengths[1] == 3);
    BOOST_TEST(s.lengths[2] == -1);
    BOOST_TEST(s.lengths[3] == -1);
    BOOST_TEST(s.lengths[4] == 2);
    BOOST_TEST(s.values == std::string("\0\0\0\x07"
                                       "abcxy",
                                       9));
}

BOOST_AUTO_TEST_CASE(bad_parameter_names_its_position_and_fails_before_anything_is_sent)
{
    try {
        pgcoro::detail::make_statement("SELECT $1, $2", std::int32_t{1}, std::string("a\0b", 3));
        BOOST_FAIL("invalid_parameter expected");
    } catch (const pgcoro::error& e) {
        BOOST_TEST((e.code() == client_errc::invalid_parameter));
        BOOST_TEST(std::string(e.what()).find("parameter $2") != std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(batch_encodes_each_statement_when_added)
{
    pgcoro::batch b(pgcoro::batch_mode::independent);
    b.add("SELECT 1").add("SELECT $1", std::int16_t{2});
    BOOST_TEST(b.size() == 2u);
    BOOST_TEST((b.mode() == pgcoro::batch_mode::independent));
    BOOST_TEST(b.statements()[1].types[0] == oids::int2);
    BOOST_CHECK_THROW(b.add("SELECT $1", std::string(1, '\0')), pgcoro::error);
    BOOST_TEST(b.size() == 2u); // the failed add left the batch as it was
}

BOOST_AUTO_TEST_CASE(statement_cache_keeps_the_most_recently_used)
{
    pgcoro::detail::statement_cache cache(2);
    BOOST_TEST(!cache.insert("a", "s1").has_value());
    BOOST_TEST(!cache.insert("b", "s2").has_value());
    BOOST_TEST(*cache.find("a") == "s1"); // a is now the most recent
    auto evicted = cache.insert("c", "s3");
    BOOST_TEST(evicted.value() == "s2");
    BOOST_TEST(cache.find("b") == nullptr);
    BOOST_TEST(*cache.find("a") == "s1");
    BOOST_TEST(*cache.find("c") == "s3");
    BOOST_TEST(cache.size() == 2u);
    cache.clear();
    BOOST_TEST(cache.size() == 0u);
    BOOST_TEST(cache.find("a") == nullptr);
}

BOOST_AUTO_TEST_CASE(statement_cache_keys_may_contain_nul_bytes)
{
    // Keys are SQL text + '\0' + raw parameter OIDs.
    pgcoro::detail::statement_cache cache(4);
    std::string k1("SELECT $1\0\0\0\0\x17", 14), k2("SELECT $1\0\0\0\0\x14", 14);
    cache.insert(k1, "int4");
    cache.insert(k2, "int8");
    BOOST_TEST(*cache.find(k1) == "int4");
    BOOST_TEST(*cache.find(k2) == "int8");
}

BOOST_AUTO_TEST_CASE(statement_cache_survives_many_evictions)
{
    pgcoro::detail::statement_cache cache(3);
    int evictions = 0;
    for (int i = 0; i < 1000; ++i)
        if (cache.insert("sql " + std::to_string(i), "name " + std::to_string(i)))
            ++evictions;
    BOOST_TEST(evictions == 997);
    BOOST_TEST(cache.size() == 3u);
    BOOST_TEST(*cache.find("sql 999") == "name 999");
    BOOST_TEST(cache.find("sql 996") == nullptr);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(long_long_parameters)

BOOST_AUTO_TEST_CASE(long_long_binds_as_int8)
{
    auto s = pgcoro::detail::make_statement("SELECT $1", 5LL);
    BOOST_TEST(s.types[0] == oids::int8);
    BOOST_TEST(s.lengths[0] == 8);
    BOOST_TEST(pgcoro::type_traits<long long>::decode(s.values, oids::int8) == 5LL);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(many_parameters)

BOOST_AUTO_TEST_CASE(more_parameters_than_the_inline_capacity_spill_to_the_heap_intact)
{
    auto s =
        pgcoro::detail::make_statement("SELECT", 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, std::string("twelve"),
                                       std::optional<std::int64_t>{}, 14, 15, 16, 17, 18, 19, 20);
    auto moved = std::move(s);
    BOOST_TEST_REQUIRE(moved.size() == 20u);
    BOOST_TEST(moved.types.size() == 20u);
    BOOST_TEST(moved.types[0] == oids::int4);
    BOOST_TEST(moved.types[11] == oids::text);
    BOOST_TEST(moved.types[12] == oids::int8);
    BOOST_TEST(moved.lengths[11] == 6);
    BOOST_TEST(moved.lengths[12] == -1);
    BOOST_TEST(moved.lengths[19] == 4);
    BOOST_TEST(moved.formats[19] == 1);
    BOOST_TEST(moved.values.size() == 18u * 4 + 6);
}

BOOST_AUTO_TEST_SUITE_END()
