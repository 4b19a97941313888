// The error categories, conditions and classification helpers.

#include <pgcoro/error.hpp>

#include <boost/test/unit_test.hpp>

using pgcoro::client_errc;
using pgcoro::condition;

namespace {

boost::system::error_code sqlstate(std::string_view code)
{
    return {pgcoro::sqlstate_to_int(code), pgcoro::sqlstate_category()};
}

} // namespace

BOOST_AUTO_TEST_SUITE(error_unit_tests)

BOOST_AUTO_TEST_CASE(sqlstate_codes_round_trip_through_int)
{
    for (std::string_view code : {"00000", "23505", "40P01", "57014", "XX000", "ZZZZZ", "08006"})
        BOOST_TEST(pgcoro::sqlstate_from_int(pgcoro::sqlstate_to_int(code)) == code);
    BOOST_TEST(pgcoro::sqlstate_to_int("2350") == 0);  // too short
    BOOST_TEST(pgcoro::sqlstate_to_int("2350a") == 0); // lower case is not SQLSTATE
    BOOST_TEST(pgcoro::sqlstate_to_int("23 05") == 0);
    BOOST_TEST(sqlstate("42601").message() == "SQLSTATE 42601");
}

BOOST_AUTO_TEST_CASE(specific_sqlstates_match_their_conditions)
{
    BOOST_TEST((sqlstate("23505") == condition::unique_violation));
    BOOST_TEST((sqlstate("23505") == condition::integrity_violation));
    BOOST_TEST((sqlstate("23505") != condition::foreign_key_violation));
    BOOST_TEST((sqlstate("23503") == condition::foreign_key_violation));
    BOOST_TEST((sqlstate("23502") == condition::not_null_violation));
    BOOST_TEST((sqlstate("23514") == condition::check_violation));
    BOOST_TEST((sqlstate("40001") == condition::serialization_failure));
    BOOST_TEST((sqlstate("40P01") == condition::deadlock_detected));
    BOOST_TEST((sqlstate("25006") == condition::read_only_transaction));
    BOOST_TEST((sqlstate("57014") == condition::query_canceled));
    BOOST_TEST((sqlstate("42601") == condition::syntax_error));
    BOOST_TEST((sqlstate("42P01") == condition::undefined_table));
    BOOST_TEST((sqlstate("25P02") == condition::in_failed_transaction));
    BOOST_TEST((sqlstate("22012") == condition::data_exception));
    BOOST_TEST((sqlstate("22021") == condition::data_exception));
    BOOST_TEST((sqlstate("42601") != condition::data_exception));
}

BOOST_AUTO_TEST_CASE(connection_errors_from_server_and_client_share_a_condition)
{
    BOOST_TEST((sqlstate("08006") == condition::connection_error));
    BOOST_TEST((sqlstate("08001") == condition::connection_error));
    BOOST_TEST((sqlstate("57P01") == condition::connection_error));
    BOOST_TEST((sqlstate("57P03") == condition::connection_error));
    BOOST_TEST((make_error_code(client_errc::connection_lost) == condition::connection_error));
    BOOST_TEST((make_error_code(client_errc::connect_timeout) == condition::connection_error));
    BOOST_TEST((make_error_code(client_errc::unexpected_null) != condition::connection_error));
}

BOOST_AUTO_TEST_CASE(transaction_errors_have_conditions_and_are_not_retried)
{
    // The fast fail of an aborted transaction matches the server's own 25P02.
    BOOST_TEST((make_error_code(client_errc::transaction_aborted) == condition::in_failed_transaction));
    BOOST_TEST((sqlstate("25P02") == condition::in_failed_transaction));
    BOOST_TEST((sqlstate("55P03") == condition::lock_not_available));
    for (auto e : {client_errc::transaction_aborted, client_errc::transaction_in_progress,
                   client_errc::transaction_closed, client_errc::scope_not_innermost,
                   client_errc::commit_outcome_unknown, client_errc::timeout}) {
        BOOST_TEST(!pgcoro::is_retryable(make_error_code(e)));
        BOOST_TEST(!pgcoro::is_fatal(make_error_code(e)));
        BOOST_TEST(make_error_code(e).message() != "unknown pgcoro client error");
    }
    BOOST_TEST(!pgcoro::is_retryable(sqlstate("55P03")));
}

BOOST_AUTO_TEST_CASE(fatal_means_the_connection_is_gone)
{
    BOOST_TEST(pgcoro::is_fatal(make_error_code(client_errc::connection_lost)));
    BOOST_TEST(pgcoro::is_fatal(sqlstate("57P01")));
    BOOST_TEST(pgcoro::is_fatal(sqlstate("08006")));
    BOOST_TEST(!pgcoro::is_fatal(sqlstate("23505")));
    BOOST_TEST(!pgcoro::is_fatal(sqlstate("57014"))); // a cancelled statement leaves the session usable
    BOOST_TEST(!pgcoro::is_fatal(make_error_code(client_errc::type_mismatch)));
}

BOOST_AUTO_TEST_CASE(only_serialization_failures_and_deadlocks_are_retryable)
{
    BOOST_TEST(pgcoro::is_retryable(sqlstate("40001")));
    BOOST_TEST(pgcoro::is_retryable(sqlstate("40P01")));
    BOOST_TEST(!pgcoro::is_retryable(sqlstate("23505")));
    BOOST_TEST(!pgcoro::is_retryable(make_error_code(client_errc::connection_lost)));
}

BOOST_AUTO_TEST_CASE(what_names_sqlstate_message_detail_hint_and_statement)
{
    pgcoro::diagnostics diag;
    diag.severity = "ERROR";
    diag.sqlstate = "23505";
    diag.message = "duplicate key value violates unique constraint \"uq\"";
    diag.detail = "Key (a)=(1) already exists.";
    diag.hint = "Try another key.";
    diag.position = 8;
    diag.statement = "INSERT INTO t VALUES ($1)";
    pgcoro::error e(sqlstate("23505"), diag);
    std::string text = e.what();
    BOOST_TEST(text.find("ERROR 23505: duplicate key value") != std::string::npos);
    BOOST_TEST(text.find("(at character 8)") != std::string::npos);
    BOOST_TEST(text.find("DETAIL: Key (a)=(1) already exists.") != std::string::npos);
    BOOST_TEST(text.find("HINT: Try another key.") != std::string::npos);
    BOOST_TEST(text.find("STATEMENT: INSERT INTO t VALUES ($1)") != std::string::npos);
    BOOST_TEST(e.sqlstate() == "23505");
}

BOOST_AUTO_TEST_CASE(client_errors_carry_their_message)
{
    pgcoro::error e(client_errc::no_rows, "expected one row");
    BOOST_TEST((e.code() == client_errc::no_rows));
    BOOST_TEST(std::string(e.what()).find("expected one row") != std::string::npos);
    BOOST_TEST(e.sqlstate().empty());
    BOOST_TEST(std::string(e.code().category().name()) == "pgcoro.client");
}

BOOST_AUTO_TEST_SUITE_END()
