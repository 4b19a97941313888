// Errors: server diagnostics, client-side decoding errors, killed backends, big values.

#include "support.hpp"

#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/describe/class.hpp>

#include <chrono>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgcoro::client_errc;

namespace {

struct person {
    std::int32_t id;
    std::string name; // not optional: NULL must be an error
};
BOOST_DESCRIBE_STRUCT(person, (), (id, name))

struct wrong_types {
    std::int32_t id;
    std::int32_t name; // the column is text
};
BOOST_DESCRIBE_STRUCT(wrong_types, (), (id, name))

struct needs_missing_column {
    std::int32_t id;
    std::string nickname;
};
BOOST_DESCRIBE_STRUCT(needs_missing_column, (), (id, nickname))

template <class Body> pgcoro::error catch_error(Body body)
{
    try {
        body();
    } catch (const pgcoro::error& e) {
        return e;
    }
    BOOST_FAIL("a pgcoro::error was expected");
    throw;
}

} // namespace

BOOST_AUTO_TEST_SUITE(error_tests)

BOOST_AUTO_TEST_CASE(syntax_error_carries_sqlstate_and_position)
{
    auto e = catch_error([] {
        test::run([]() -> asio::awaitable<void> {
            auto db = co_await test::connect();
            co_await db.execute("SELECT 1 FROM");
        });
    });
    BOOST_TEST(e.sqlstate() == "42601");
    BOOST_TEST((e.code() == pgcoro::condition::syntax_error));
    BOOST_TEST(e.diag().position.value_or(0) == 14);
    BOOST_TEST(e.diag().severity == "ERROR");
    BOOST_TEST(e.diag().statement == "SELECT 1 FROM");
    std::string text = e.what();
    BOOST_TEST(text.find("42601") != std::string::npos);
    BOOST_TEST(text.find("syntax error") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(unique_violation_names_the_constraint_and_detail)
{
    auto e = catch_error([] {
        test::run([]() -> asio::awaitable<void> {
            auto db = co_await test::connect();
            co_await db.execute_script("CREATE TEMP TABLE uv (email text CONSTRAINT uq_uv_email UNIQUE)");
            co_await db.execute("INSERT INTO uv VALUES ($1)", "a@b");
            co_await db.execute("INSERT INTO uv VALUES ($1)", "a@b");
        });
    });
    BOOST_TEST(e.sqlstate() == "23505");
    BOOST_TEST((e.code() == pgcoro::condition::unique_violation));
    BOOST_TEST((e.code() == pgcoro::condition::integrity_violation));
    BOOST_TEST(!pgcoro::is_fatal(e.code()));
    BOOST_TEST(e.diag().constraint == "uq_uv_email");
    BOOST_TEST(e.diag().table == "uv");
    BOOST_TEST(e.diag().detail == "Key (email)=(a@b) already exists.");
    BOOST_TEST(std::string(e.what()).find("DETAIL: Key (email)=(a@b) already exists.") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(null_into_a_non_optional_member_names_the_column)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        try {
            co_await db.query<person>("SELECT 1 AS id, NULL::text AS name");
            BOOST_FAIL("unexpected_null expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST((e.code() == client_errc::unexpected_null));
            BOOST_TEST(e.diag().column == "name");
            BOOST_TEST(std::string(e.what()).find("\"name\"") != std::string::npos);
        }
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1); // connection unharmed
    });
}

BOOST_AUTO_TEST_CASE(wrong_cpp_type_names_column_postgres_type_and_cpp_type)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        try {
            co_await db.query<wrong_types>("SELECT 1 AS id, 'x'::text AS name");
            BOOST_FAIL("type_mismatch expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST((e.code() == client_errc::type_mismatch));
            std::string text = e.what();
            BOOST_TEST(text.find("\"name\"") != std::string::npos);
            BOOST_TEST(text.find("text") != std::string::npos);
            BOOST_TEST(text.find("int") != std::string::npos);
        }
        co_await test::expect_failure(db.scalar<std::int16_t>("SELECT 1::int8"), client_errc::type_mismatch);
        try {
            co_await db.query<needs_missing_column>("SELECT 1 AS id");
            BOOST_FAIL("column_not_found expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST((e.code() == client_errc::column_not_found));
            BOOST_TEST(std::string(e.what()).find("nickname") != std::string::npos);
        }
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1);
    });
}

BOOST_AUTO_TEST_CASE(backend_killed_mid_query_reports_connection_lost)
{
    test::run([]() -> asio::awaitable<void> {
        auto victim = co_await test::connect();
        auto killer = co_await test::connect();
        auto ex = co_await asio::this_coro::executor;
        int pid = victim.backend_pid();
        bool killer_done = false;
        asio::co_spawn(
            ex,
            [&killer, &killer_done, pid]() -> asio::awaitable<void> {
                asio::steady_timer t(co_await asio::this_coro::executor, 200ms);
                co_await t.async_wait(asio::use_awaitable);
                co_await killer.execute("SELECT pg_terminate_backend($1)", pid);
                killer_done = true;
            },
            asio::detached);
        try {
            co_await victim.execute("SELECT pg_sleep(10)");
            BOOST_FAIL("connection_lost expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST((e.code() == client_errc::connection_lost));
            BOOST_TEST(pgcoro::is_fatal(e.code()));
            BOOST_TEST((e.code() == pgcoro::condition::connection_error));
            BOOST_TEST(e.diag().sqlstate == "57P01"); // the server's reason is kept
        }
        BOOST_TEST(!victim.is_open());
        co_await test::expect_failure(victim.execute("SELECT 1"), client_errc::connection_lost);
        // The victim may notice its end before the killer has read its own answer: keep the
        // killer's connection alive until then (ASan caught the use after free).
        for (int i = 0; i < 500 && !killer_done; ++i) {
            asio::steady_timer t(ex, 10ms);
            co_await t.async_wait(asio::use_awaitable);
        }
        BOOST_TEST(killer_done);
    });
}

BOOST_AUTO_TEST_CASE(backend_killed_while_idle_is_noticed_at_next_use)
{
    test::run([]() -> asio::awaitable<void> {
        auto victim = co_await test::connect();
        auto killer = co_await test::connect();
        co_await killer.execute("SELECT pg_terminate_backend($1)", victim.backend_pid());
        asio::steady_timer t(co_await asio::this_coro::executor, 100ms);
        co_await t.async_wait(asio::use_awaitable);
        co_await test::expect_failure(victim.execute("SELECT 1"), client_errc::connection_lost);
        BOOST_TEST(!victim.is_open());
    });
}

BOOST_AUTO_TEST_CASE(invalid_utf8_in_text_parameter_is_rejected_by_the_server)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        try {
            co_await db.scalar<std::string>("SELECT $1::text", std::string("ab\xff\xfe"));
            BOOST_FAIL("22021 expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST(e.sqlstate() == "22021");
            BOOST_TEST((e.code() == pgcoro::condition::data_exception));
        }
        BOOST_TEST(co_await db.scalar<std::string>("SELECT $1::text", "ok") == "ok");
    });
}

BOOST_AUTO_TEST_CASE(embedded_nul_in_text_parameter_fails_before_sending)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        try {
            co_await db.scalar<std::string>("SELECT $1::text || 'never sent'", std::string("a\0b", 3));
            BOOST_FAIL("invalid_parameter expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST((e.code() == client_errc::invalid_parameter));
            BOOST_TEST(std::string(e.what()).find("$1") != std::string::npos);
            BOOST_TEST(e.sqlstate().empty()); // client side: no server error
        }
        // Nothing was sent: the statement text never reached the server.
        auto prepared = co_await db.scalar<std::int64_t>(
            "SELECT count(*) FROM pg_prepared_statements WHERE strpos(statement, $1) > 0", "never sent");
        BOOST_TEST(prepared == 0);
    });
}

BOOST_AUTO_TEST_CASE(ten_megabyte_parameters_round_trip)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        std::string text(10 * 1024 * 1024, 'x');
        for (std::size_t i = 0; i < text.size(); i += 997)
            text[i] = static_cast<char>('a' + i % 26);
        auto back = co_await db.scalar<std::string>("SELECT $1::text", text);
        BOOST_TEST((back == text));
        std::vector<std::byte> bytes(10 * 1024 * 1024);
        for (std::size_t i = 0; i < bytes.size(); ++i)
            bytes[i] = static_cast<std::byte>(i * 31 % 251);
        auto length = co_await db.scalar<std::int32_t>("SELECT length($1::bytea)", bytes);
        BOOST_TEST(length == 10 * 1024 * 1024);
        auto echoed = co_await db.scalar<std::vector<std::byte>>("SELECT $1::bytea", bytes);
        BOOST_TEST((echoed == bytes));
    });
}

BOOST_AUTO_TEST_CASE(hundred_thousand_row_result)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto rows = co_await db.query<std::tuple<std::int32_t, std::string>>(
            "SELECT g, 'row ' || g FROM generate_series(1, 100000) g");
        BOOST_TEST_REQUIRE(rows.size() == 100000u);
        BOOST_TEST(std::get<0>(rows.back()) == 100000);
        BOOST_TEST(std::get<1>(rows[41]) == "row 42");
    });
}

BOOST_AUTO_TEST_CASE(error_message_names_sqlstate_message_and_detail)
{
    auto e = catch_error([] {
        test::run([]() -> asio::awaitable<void> {
            auto db = co_await test::connect();
            co_await db.execute_script("CREATE TEMP TABLE fk_parent (id int PRIMARY KEY); "
                                       "CREATE TEMP TABLE fk_child (parent int REFERENCES fk_parent)");
            co_await db.execute("INSERT INTO fk_child VALUES ($1)", std::int32_t{7});
        });
    });
    BOOST_TEST((e.code() == pgcoro::condition::foreign_key_violation));
    std::string text = e.what();
    BOOST_TEST(text.find("23503") != std::string::npos);
    BOOST_TEST(text.find("violates foreign key constraint") != std::string::npos);
    BOOST_TEST(text.find("DETAIL:") != std::string::npos);
    BOOST_TEST(text.find("INSERT INTO fk_child") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(long_statements_are_cut_to_200_characters_in_errors)
{
    auto e = catch_error([] {
        test::run([]() -> asio::awaitable<void> {
            auto db = co_await test::connect();
            std::string sql = "SELECT 1 FROM missing_table WHERE " + std::string(500, ' ') + "true";
            co_await db.execute(sql);
        });
    });
    BOOST_TEST(e.sqlstate() == "42P01");
    BOOST_TEST(e.diag().statement.size() <= 203u);
}

BOOST_AUTO_TEST_SUITE_END()
