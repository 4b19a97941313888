// Row-lock clauses and identifier quoting: the only SQL text pgcoro builds from names.

#include <pgcoro/error.hpp>
#include <pgcoro/identifier.hpp>
#include <pgcoro/row_lock.hpp>

#include <boost/test/unit_test.hpp>

#include <string>

using pgcoro::client_errc;

namespace {

void expect_invalid(std::string_view name)
{
    try {
        pgcoro::quote_identifier(name);
    } catch (const pgcoro::error& e) {
        BOOST_TEST((e.code() == client_errc::invalid_argument));
        return;
    }
    BOOST_FAIL("quote_identifier accepted an invalid name");
}

} // namespace

BOOST_AUTO_TEST_SUITE(row_lock_unit_tests)

BOOST_AUTO_TEST_CASE(identifiers_are_quoted_with_embedded_quotes_doubled)
{
    BOOST_TEST(pgcoro::quote_identifier("accounts") == "\"accounts\"");
    BOOST_TEST(pgcoro::quote_identifier("Mixed Case") == "\"Mixed Case\"");
    BOOST_TEST(pgcoro::quote_identifier("a\"b") == "\"a\"\"b\"");
    BOOST_TEST(pgcoro::quote_identifier("\"") == "\"\"\"\"");
    // Hostile text stays inside one identifier.
    BOOST_TEST(pgcoro::quote_identifier("x\"; DROP TABLE users; --") == "\"x\"\"; DROP TABLE users; --\"");
    BOOST_TEST(pgcoro::quote_identifier("caf\xc3\xa9") == "\"caf\xc3\xa9\"");
    BOOST_TEST(pgcoro::quote_identifier(std::string(63, 'a')) == "\"" + std::string(63, 'a') + "\"");
    std::string out = "SELECT * FROM ";
    pgcoro::append_identifier(out, "t");
    BOOST_TEST(out == "SELECT * FROM \"t\"");
}

BOOST_AUTO_TEST_CASE(unusable_identifiers_are_rejected)
{
    expect_invalid("");
    expect_invalid(std::string_view("a\0b", 3));
    expect_invalid(std::string(64, 'a')); // the server would truncate it
}

BOOST_AUTO_TEST_CASE(lock_clauses_render_every_strength_and_wait_policy)
{
    BOOST_TEST(pgcoro::for_update().sql() == "FOR UPDATE");
    BOOST_TEST(pgcoro::for_no_key_update().sql() == "FOR NO KEY UPDATE");
    BOOST_TEST(pgcoro::for_share().sql() == "FOR SHARE");
    BOOST_TEST(pgcoro::for_key_share().sql() == "FOR KEY SHARE");
    BOOST_TEST(pgcoro::for_update().nowait().sql() == "FOR UPDATE NOWAIT");
    BOOST_TEST(pgcoro::for_update().skip_locked().sql() == "FOR UPDATE SKIP LOCKED");
    BOOST_TEST(pgcoro::for_share().of("a").of("B").skip_locked().sql() ==
               "FOR SHARE OF \"a\", \"B\" SKIP LOCKED");
    auto lock = pgcoro::for_update().nowait().skip_locked(); // the last policy wins
    BOOST_TEST((lock.wait_policy() == pgcoro::lock_wait_policy::skip_locked));
    BOOST_TEST((lock.strength() == pgcoro::lock_strength::update));
}

BOOST_AUTO_TEST_CASE(lock_tables_are_quoted_and_validated)
{
    BOOST_TEST(pgcoro::for_update().of("x\"y").sql() == "FOR UPDATE OF \"x\"\"y\"");
    try {
        pgcoro::for_update().of("");
        BOOST_FAIL("an empty table name was accepted");
    } catch (const pgcoro::error& e) {
        BOOST_TEST((e.code() == client_errc::invalid_argument));
    }
}

BOOST_AUTO_TEST_CASE(with_row_lock_appends_after_the_statement)
{
    BOOST_TEST(pgcoro::with_row_lock("SELECT 1 FROM t ORDER BY id", pgcoro::for_update()) ==
               "SELECT 1 FROM t ORDER BY id FOR UPDATE");
    // A trailing semicolon or blank would put the clause after the statement's end.
    BOOST_TEST(pgcoro::with_row_lock("SELECT 1 FROM t;\n ", pgcoro::for_update().skip_locked()) ==
               "SELECT 1 FROM t FOR UPDATE SKIP LOCKED");
}

BOOST_AUTO_TEST_SUITE_END()
