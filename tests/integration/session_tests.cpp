// Sessions and transaction scopes against the real server: visibility of commit and
// rollback, scopes destroyed without either, savepoints to any depth, transaction(fn) with
// retries, the aborted-transaction fast fail, scope misuse, row locks.

#include "pool_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgcoro::client_errc;

namespace {

/// A table private to this test process (binaries may share one server).
std::string table()
{
    return "session_rows_" + std::to_string(::getpid());
}

/// A pool of one connection unless told otherwise, so "the next borrower" is the same
/// backend; the table is recreated empty.
asio::awaitable<void> fresh_table(pgcoro::pool& pool)
{
    auto s = co_await pool.session();
    co_await s.execute_script("DROP TABLE IF EXISTS " + table() + "; CREATE TABLE " + table() +
                              " (id int PRIMARY KEY, note text)");
}

pgcoro::pool_options options_for(const std::string& tag, std::size_t size = 2)
{
    auto o = test::pool_options_for(tag);
    o.pool_size = size;
    o.max_overflow = 0;
    return o;
}

/// Rows of the table as another connection sees them (committed data only).
asio::awaitable<std::int64_t> committed_rows()
{
    auto observer = co_await test::connect();
    auto n = co_await observer.scalar<std::int64_t>("SELECT count(*) FROM " + table());
    co_return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(session_tests)

BOOST_AUTO_TEST_CASE(committed_transaction_is_visible_to_another_session)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_commit"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        BOOST_TEST(s.in_transaction());
        BOOST_TEST(tx.active());
        BOOST_TEST(tx.depth() == 1u);
        co_await tx.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 1, "one");
        BOOST_TEST(co_await committed_rows() == 0); // not yet
        co_await tx.commit();
        BOOST_TEST(!tx.active());
        BOOST_TEST(!s.in_transaction());
        BOOST_TEST(co_await committed_rows() == 1);
        // The session goes on outside a transaction.
        BOOST_TEST(co_await s.scalar<std::int64_t>("SELECT count(*) FROM " + table()) == 1);
        BOOST_TEST((s.get_connection().transaction() == pgcoro::transaction_status::idle));
    });
}

BOOST_AUTO_TEST_CASE(rolled_back_transaction_is_invisible)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_rollback"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        co_await tx.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 1, "one");
        BOOST_TEST(co_await tx.scalar<std::int64_t>("SELECT count(*) FROM " + table()) == 1); // own writes
        co_await tx.rollback();
        co_await tx.rollback(); // a second rollback is a no-op
        BOOST_TEST(co_await committed_rows() == 0);
        BOOST_TEST(co_await s.scalar<std::int64_t>("SELECT count(*) FROM " + table()) == 0);
    });
}

BOOST_AUTO_TEST_CASE(scope_left_without_commit_is_rolled_back_with_a_warning)
{
    test::captured_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_scope_exit", 1));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        {
            auto tx = co_await s.begin();
            co_await tx.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 1, "one");
        }
        BOOST_TEST(log.warnings_containing("without commit() or rollback()") == 1u);
        BOOST_TEST(!s.in_transaction());
        // The session's next statement runs after the rollback, outside any transaction.
        BOOST_TEST(co_await s.scalar<std::int64_t>("SELECT count(*) FROM " + table()) == 0);
        BOOST_TEST((s.get_connection().transaction() == pgcoro::transaction_status::idle));
        // And a scope abandoned just before the session ends is rolled back by the pool.
        {
            auto tx = co_await s.begin();
            co_await tx.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 2, "two");
        }
        const int pid = s.get_connection().backend_pid();
        s.release();
        co_await test::wait_returned(pool);
        auto next = co_await pool.session();
        BOOST_TEST(next.get_connection().backend_pid() == pid);
        BOOST_TEST((next.get_connection().transaction() == pgcoro::transaction_status::idle));
        BOOST_TEST(co_await next.scalar<std::int64_t>("SELECT count(*) FROM " + table()) == 0);
        BOOST_TEST(co_await committed_rows() == 0);
    });
}

BOOST_AUTO_TEST_CASE(scope_unwound_by_an_exception_is_rolled_back)
{
    test::captured_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_unwind", 1));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        bool caught = false;
        try {
            auto tx = co_await s.begin();
            co_await tx.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 1, "one");
            throw std::runtime_error("business rule failed");
        } catch (const std::runtime_error&) {
            caught = true;
        }
        BOOST_TEST(caught);
        BOOST_TEST(log.warnings_containing("destroyed by an exception") == 1u);
        BOOST_TEST(co_await s.scalar<std::int64_t>("SELECT count(*) FROM " + table()) == 0);
        BOOST_TEST(co_await committed_rows() == 0);
    });
}

BOOST_AUTO_TEST_CASE(savepoint_rollback_undoes_only_its_own_work)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_savepoint"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        co_await tx.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 1, "kept");
        auto sp = co_await tx.begin();
        BOOST_TEST(sp.is_savepoint());
        BOOST_TEST(sp.depth() == 2u);
        co_await sp.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 2, "undone");
        co_await sp.rollback();
        BOOST_TEST(!sp.active());
        BOOST_TEST(tx.active());
        auto sp2 = co_await tx.begin(); // the same depth again: the name was released
        co_await sp2.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 3, "released");
        co_await sp2.commit();
        co_await tx.commit();
        auto ids = co_await s.query<std::int32_t>("SELECT id FROM " + table() + " ORDER BY id");
        BOOST_TEST(ids == (std::vector<std::int32_t>{1, 3}), boost::test_tools::per_element());
        BOOST_TEST(co_await committed_rows() == 2);
    });
}

BOOST_AUTO_TEST_CASE(savepoint_recovers_from_a_failed_statement)
{
    // The canonical use: try an insert that may violate a constraint without losing the
    // transaction.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_sp_error"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        co_await tx.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 1, "first");
        auto sp = co_await tx.begin();
        co_await test::expect_failure(sp.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 1, "dup"),
                                      pgcoro::condition::unique_violation);
        // The savepoint is aborted (fast fail); its parent refuses statements while it is open.
        co_await test::expect_failure(sp.execute("SELECT 1"), client_errc::transaction_aborted);
        co_await test::expect_failure(tx.execute("SELECT 1"), client_errc::scope_not_innermost);
        co_await test::expect_failure(sp.commit(), client_errc::transaction_aborted);
        BOOST_TEST(sp.active()); // commit refused: still open, to be rolled back
        co_await sp.rollback();
        co_await tx.execute("INSERT INTO " + table() + " VALUES ($1, $2)", 2, "second");
        co_await tx.commit();
        BOOST_TEST(co_await committed_rows() == 2);
    });
}

BOOST_AUTO_TEST_CASE(three_levels_of_savepoints_nest)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_nesting"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        co_await tx.execute("INSERT INTO " + table() + " VALUES (1, 'level 1')");
        auto a = co_await tx.begin();
        co_await a.execute("INSERT INTO " + table() + " VALUES (2, 'level 2')");
        auto b = co_await a.begin();
        co_await b.execute("INSERT INTO " + table() + " VALUES (3, 'level 3')");
        auto c = co_await b.begin();
        BOOST_TEST(c.depth() == 4u);
        co_await c.execute("INSERT INTO " + table() + " VALUES (4, 'level 4')");
        co_await c.rollback(); // drops 4
        co_await b.commit();   // keeps 3 inside a
        auto d = co_await a.begin();
        co_await d.execute("INSERT INTO " + table() + " VALUES (5, 'level 3 again')");
        co_await d.commit();
        co_await a.commit();
        co_await tx.commit();
        auto ids = co_await s.query<std::int32_t>("SELECT id FROM " + table() + " ORDER BY id");
        BOOST_TEST(ids == (std::vector<std::int32_t>{1, 2, 3, 5}), boost::test_tools::per_element());
    });
}

BOOST_AUTO_TEST_CASE(rolling_back_an_outer_scope_ends_the_inner_ones)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_outer_rb"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        auto a = co_await tx.begin();
        auto b = co_await a.begin();
        co_await b.execute("INSERT INTO " + table() + " VALUES (1, 'gone')");
        co_await test::expect_failure(tx.commit(), client_errc::scope_not_innermost);
        co_await tx.rollback();
        BOOST_TEST(!a.active());
        BOOST_TEST(!b.active());
        co_await test::expect_failure(b.execute("SELECT 1"), client_errc::transaction_closed);
        co_await test::expect_failure(a.commit(), client_errc::transaction_closed);
        BOOST_TEST(co_await s.scalar<std::int64_t>("SELECT count(*) FROM " + table()) == 0);
    });
}

BOOST_AUTO_TEST_CASE(abandoned_savepoint_is_rolled_back_before_the_parent_goes_on)
{
    test::captured_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_sp_abandon"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        co_await tx.execute("INSERT INTO " + table() + " VALUES (1, 'kept')");
        {
            auto sp = co_await tx.begin();
            co_await sp.execute("INSERT INTO " + table() + " VALUES (2, 'undone')");
        }
        BOOST_TEST(log.warnings_containing("without commit() or rollback()") == 1u);
        co_await tx.execute("INSERT INTO " + table() + " VALUES (3, 'kept')");
        co_await tx.commit();
        auto ids = co_await s.query<std::int32_t>("SELECT id FROM " + table() + " ORDER BY id");
        BOOST_TEST(ids == (std::vector<std::int32_t>{1, 3}), boost::test_tools::per_element());
    });
}

BOOST_AUTO_TEST_CASE(failed_statement_makes_the_rest_fail_fast_without_a_round_trip)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_fast_fail"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        co_await test::expect_failure(tx.execute("SELECT 1/0 AS failing_statement_marker"),
                                      pgcoro::condition::data_exception);
        const int pid = s.get_connection().backend_pid();
        auto e = co_await test::expect_failure(tx.execute("SELECT 2 AS never_sent_marker, $1::int", 7),
                                               client_errc::transaction_aborted);
        BOOST_TEST((e.code() == pgcoro::condition::in_failed_transaction));
        BOOST_TEST(std::string(e.what()).find("22012") != std::string::npos); // names the first error
        BOOST_TEST(std::string(e.what()).find("roll it back") != std::string::npos);
        co_await test::expect_failure(tx.query<std::int32_t>("SELECT 3"), client_errc::transaction_aborted);
        co_await test::expect_failure(tx.begin(), client_errc::transaction_aborted);
        co_await test::expect_failure(tx.commit(), client_errc::transaction_aborted);
        BOOST_TEST(tx.active());
        // No round trip: the backend's last statement is still the failing one.
        auto observer = co_await test::connect();
        auto last =
            co_await observer.scalar<std::string>("SELECT query FROM pg_stat_activity WHERE pid = $1", pid);
        BOOST_TEST(last.find("failing_statement_marker") != std::string::npos, last);
        co_await tx.rollback();
        BOOST_TEST(co_await s.scalar<std::int32_t>("SELECT 4") == 4);
    });
}

BOOST_AUTO_TEST_CASE(scope_misuse_is_reported)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_misuse"));
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        co_await test::expect_failure(s.begin(), client_errc::transaction_in_progress);
        co_await test::expect_failure(s.execute("SELECT 1"), client_errc::scope_not_innermost);
        co_await tx.commit();
        co_await test::expect_failure(tx.execute("SELECT 1"), client_errc::transaction_closed);
        co_await test::expect_failure(tx.commit(), client_errc::transaction_closed);
        co_await test::expect_failure(tx.begin(), client_errc::transaction_closed);
        // A transaction ended behind the scope's back is noticed.
        auto tx2 = co_await s.begin();
        co_await s.get_connection().execute_script("COMMIT");
        co_await test::expect_failure(tx2.execute("SELECT 1"), client_errc::transaction_closed);
        BOOST_TEST(!tx2.active());
        BOOST_TEST(co_await s.scalar<std::int32_t>("SELECT 5") == 5);
        // A default-constructed scope and a released session refuse statements.
        pgcoro::transaction empty;
        co_await test::expect_failure(empty.execute("SELECT 1"), client_errc::connection_closed);
        s.release();
        co_await test::expect_failure(s.execute("SELECT 1"), client_errc::connection_closed);
    });
}

BOOST_AUTO_TEST_CASE(begin_options_reach_the_server)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_options"));
        auto s = co_await pool.session();
        {
            auto tx = co_await s.begin(
                {.isolation = pgcoro::isolation_level::serializable, .read_only = true, .deferrable = true});
            BOOST_TEST(co_await tx.scalar<std::string>("SHOW transaction_isolation") == "serializable");
            BOOST_TEST(co_await tx.scalar<std::string>("SHOW transaction_read_only") == "on");
            BOOST_TEST(co_await tx.scalar<std::string>("SHOW transaction_deferrable") == "on");
            co_await test::expect_failure(tx.execute("CREATE TEMP TABLE nope (x int)"),
                                          pgcoro::condition::read_only_transaction);
            co_await tx.rollback();
        }
        {
            auto tx = co_await s.begin({.isolation = pgcoro::isolation_level::repeatable_read});
            BOOST_TEST(co_await tx.scalar<std::string>("SHOW transaction_isolation") == "repeatable read");
            BOOST_TEST(co_await tx.scalar<std::string>("SHOW transaction_read_only") == "off");
            co_await tx.commit();
        }
        auto tx = co_await s.begin();
        BOOST_TEST(co_await tx.scalar<std::string>("SHOW transaction_isolation") == "read committed");
        co_await tx.commit();
    });
}

BOOST_AUTO_TEST_CASE(transaction_function_commits_on_return_and_rolls_back_on_exception)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_fn"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        const std::string insert = "INSERT INTO " + table() + " VALUES ($1, $2)";
        auto inserted =
            co_await s.transaction([&](pgcoro::transaction& tx) -> asio::awaitable<std::uint64_t> {
                auto n = co_await tx.execute(insert, 1, "one");
                co_return n;
            });
        BOOST_TEST(inserted == 1u);
        BOOST_TEST(co_await committed_rows() == 1);
        bool caught = false;
        try {
            co_await s.transaction([&](pgcoro::transaction& tx) -> asio::awaitable<void> {
                co_await tx.execute(insert, 2, "two");
                throw std::logic_error("changed my mind");
            });
        } catch (const std::logic_error& e) {
            caught = std::string(e.what()) == "changed my mind";
        }
        BOOST_TEST(caught);
        BOOST_TEST(!s.in_transaction());
        BOOST_TEST(co_await committed_rows() == 1);
        // A server error inside is rethrown as is, after the rollback.
        co_await test::expect_failure(s.transaction([&](pgcoro::transaction& tx) -> asio::awaitable<void> {
            co_await tx.execute(insert, 3, "three");
            co_await tx.execute(insert, 1, "duplicate");
        }),
                                      pgcoro::condition::unique_violation);
        BOOST_TEST(co_await committed_rows() == 1);
        BOOST_TEST((s.get_connection().transaction() == pgcoro::transaction_status::idle));
        // A unit may give up quietly by rolling back itself: nothing is committed or thrown.
        co_await s.transaction([&](pgcoro::transaction& tx) -> asio::awaitable<void> {
            co_await tx.execute(insert, 4, "four");
            co_await tx.rollback();
        });
        BOOST_TEST(co_await committed_rows() == 1);
    });
}

BOOST_AUTO_TEST_CASE(serializable_conflict_is_retried_to_success)
{
    // Two sessions read the same rows and each writes what the other read (write skew):
    // under SERIALIZABLE one of them fails with 40001 and the retry succeeds.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_retry"));
        co_await fresh_table(pool);
        {
            auto s = co_await pool.session();
            co_await s.execute("INSERT INTO " + table() + " VALUES (1, 'on'), (2, 'on')");
        }
        auto a = co_await pool.session();
        auto b = co_await pool.session();
        int attempts_a = 0, attempts_b = 0;
        bool a_read = false, b_read = false;
        auto ex = co_await asio::this_coro::executor;
        auto wait_for = [ex](bool& flag) -> asio::awaitable<void> {
            for (int i = 0; i < 200 && !flag; ++i) {
                asio::steady_timer t(ex, 5ms);
                co_await t.async_wait(asio::use_awaitable);
            }
        };
        // "Turn off my row if the other is on", each: both succeeding would turn both off.
        auto worker = [&](pgcoro::session& s, int mine, int other, int& attempts, bool& read_flag,
                          bool& other_flag) -> asio::awaitable<void> {
            co_await s.transaction(
                [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
                    ++attempts;
                    auto on = co_await tx.scalar<std::int64_t>(
                        "SELECT count(*) FROM " + table() + " WHERE note = 'on' AND id = $1", other);
                    read_flag = true;
                    if (attempts == 1)
                        co_await wait_for(other_flag); // both have read before either writes
                    if (on == 1)
                        co_await tx.execute("UPDATE " + table() + " SET note = 'off' WHERE id = $1", mine);
                },
                {.isolation = pgcoro::isolation_level::serializable}, {.max_attempts = 5});
        };
        auto group = co_await asio::experimental::make_parallel_group(
                         asio::co_spawn(ex, worker(a, 1, 2, attempts_a, a_read, b_read), asio::deferred),
                         asio::co_spawn(ex, worker(b, 2, 1, attempts_b, b_read, a_read), asio::deferred))
                         .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        BOOST_TEST(!std::get<1>(group));
        BOOST_TEST(!std::get<2>(group));
        BOOST_TEST(attempts_a + attempts_b == 3); // exactly one retry
        auto on = co_await a.scalar<std::int64_t>("SELECT count(*) FROM " + table() + " WHERE note = 'on'");
        BOOST_TEST(on == 1); // serial outcome: one turned off, the other saw it and kept its row
    });
}

BOOST_AUTO_TEST_CASE(exhausted_retries_rethrow_the_original_error)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_retry_budget"));
        auto s = co_await pool.session();
        int attempts = 0;
        auto e = co_await test::expect_failure(
            s.transaction(
                [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
                    ++attempts;
                    // A serialization failure raised by the server itself, every time.
                    co_await tx.execute_script("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001', "
                                               "MESSAGE = 'simulated conflict'; END $$");
                },
                {}, {.max_attempts = 3, .initial_backoff = 1ms}),
            pgcoro::condition::serialization_failure);
        BOOST_TEST(attempts == 3);
        BOOST_TEST(std::string(e.what()).find("simulated conflict") != std::string::npos);
        BOOST_TEST(!s.in_transaction());
        BOOST_TEST((s.get_connection().transaction() == pgcoro::transaction_status::idle));
        // Without a policy, nothing is retried.
        attempts = 0;
        co_await test::expect_failure(s.transaction([&](pgcoro::transaction& tx) -> asio::awaitable<void> {
            ++attempts;
            co_await tx.execute_script("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40P01', MESSAGE = "
                                       "'simulated deadlock'; END $$");
        }),
                                      pgcoro::condition::deadlock_detected);
        BOOST_TEST(attempts == 1);
        // Other errors are never retried.
        attempts = 0;
        co_await test::expect_failure(s.transaction(
                                          [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
                                              ++attempts;
                                              co_await tx.execute("SELECT 1/0");
                                          },
                                          {}, {.max_attempts = 5}),
                                      pgcoro::condition::data_exception);
        BOOST_TEST(attempts == 1);
    });
}

BOOST_AUTO_TEST_CASE(serialization_failure_at_commit_is_retried)
{
    // A deferred constraint trigger raising 40001 fails COMMIT itself: the outcome is known
    // (rolled back), so the unit runs again.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_commit_40001"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        const std::string t = table();
        co_await s.execute_script(
            "CREATE OR REPLACE FUNCTION " + t +
            "_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.note = 'fail at commit' THEN RAISE EXCEPTION USING ERRCODE = '40001', "
            "MESSAGE = 'conflict at commit'; END IF; RETURN NULL; END $$; "
            "CREATE CONSTRAINT TRIGGER " +
            t + "_deferred AFTER INSERT ON " + t +
            " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION " + t + "_fail()");
        int attempts = 0;
        co_await s.transaction(
            [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
                ++attempts;
                co_await tx.execute("INSERT INTO " + t + " VALUES ($1, $2)", attempts,
                                    attempts == 1 ? "fail at commit" : "fine");
            },
            {}, {.max_attempts = 2, .initial_backoff = 1ms});
        BOOST_TEST(attempts == 2);
        auto ids = co_await s.query<std::int32_t>("SELECT id FROM " + t);
        BOOST_TEST(ids == (std::vector<std::int32_t>{2}), boost::test_tools::per_element());
        co_await s.execute_script("DROP TABLE " + t + "; DROP FUNCTION " + t + "_fail()");
    });
}

BOOST_AUTO_TEST_CASE(stream_inside_a_transaction_keeps_the_connection)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_stream", 1));
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        std::int64_t sum = 0;
        {
            auto rows = co_await tx.stream<std::int32_t>("SELECT generate_series(1, $1::int)", 1000);
            co_await test::expect_failure(tx.execute("SELECT 1"), client_errc::operation_in_progress);
            while (auto v = co_await rows.next())
                sum += *v;
        }
        BOOST_TEST(sum == 500500);
        {
            // Transaction control waits for the stream: refused, the scope stays open.
            auto rows = co_await tx.stream<std::int32_t>("SELECT generate_series(1, 3)");
            co_await test::expect_failure(tx.commit(), client_errc::operation_in_progress);
            co_await test::expect_failure(tx.rollback(), client_errc::operation_in_progress);
            co_await test::expect_failure(tx.begin(), client_errc::operation_in_progress);
            BOOST_TEST(tx.active());
            while (co_await rows.next()) {
            }
        }
        co_await tx.commit();
        // A stream outliving its session keeps the lease until it ends.
        auto rows = co_await s.stream<std::int32_t>("SELECT generate_series(1, 3)");
        s.release();
        BOOST_TEST(pool.stats().checked_out == 1u);
        int n = 0;
        while (co_await rows.next())
            ++n;
        BOOST_TEST(n == 3);
    });
}

BOOST_AUTO_TEST_CASE(pipeline_and_script_run_inside_the_scope)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_pipeline"));
        co_await fresh_table(pool);
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        pgcoro::batch b;
        for (int i = 1; i <= 10; ++i)
            b.add("INSERT INTO " + table() + " VALUES ($1, $2)", i, "batch");
        auto results = co_await tx.pipeline(std::move(b));
        BOOST_TEST(results.size() == 10u);
        co_await tx.execute_script("UPDATE " + table() + " SET note = 'script'");
        co_await tx.rollback();
        BOOST_TEST(co_await committed_rows() == 0);
    });
}

BOOST_AUTO_TEST_CASE(row_locks_block_skip_and_fail_fast)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_locks"));
        co_await fresh_table(pool);
        auto a = co_await pool.session();
        co_await a.execute("INSERT INTO " + table() + " SELECT g, 'job' FROM generate_series(1, 5) g");
        const std::string select = "SELECT id FROM " + table() + " ORDER BY id LIMIT 2";
        auto holder = co_await a.begin();
        auto locked =
            co_await holder.query<std::int32_t>(pgcoro::with_row_lock(select, pgcoro::for_update()));
        BOOST_TEST(locked == (std::vector<std::int32_t>{1, 2}), boost::test_tools::per_element());

        auto b = co_await pool.session();
        auto other = co_await b.begin();
        auto next = co_await other.query<std::int32_t>(
            pgcoro::with_row_lock(select, pgcoro::for_update().skip_locked()));
        BOOST_TEST(next == (std::vector<std::int32_t>{3, 4}), boost::test_tools::per_element());
        co_await other.rollback();

        auto third = co_await b.begin();
        auto e = co_await test::expect_failure(third.query<std::int32_t>(pgcoro::with_row_lock(
                                                   select, pgcoro::for_update().of(table()).nowait())),
                                               pgcoro::condition::lock_not_available);
        BOOST_TEST(e.sqlstate() == "55P03");
        co_await third.rollback();
        // FOR KEY SHARE does not conflict with FOR NO KEY UPDATE.
        co_await holder.rollback();
        auto c = co_await a.begin();
        co_await c.query<std::int32_t>(pgcoro::with_row_lock(select, pgcoro::for_no_key_update()));
        auto d = co_await b.begin();
        auto shared =
            co_await d.query<std::int32_t>(pgcoro::with_row_lock(select, pgcoro::for_key_share().nowait()));
        BOOST_TEST(shared.size() == 2u);
        co_await d.rollback();
        co_await c.rollback();
    });
}

BOOST_AUTO_TEST_CASE(session_from_a_lease_and_scope_outliving_its_session)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sess_outlive", 1));
        co_await fresh_table(pool);
        pgcoro::transaction tx;
        {
            pgcoro::session s(co_await pool.acquire());
            tx = co_await s.begin();
        }
        // The scope holds the connection: the session's end did not return it.
        BOOST_TEST(pool.stats().checked_out == 1u);
        co_await tx.execute("INSERT INTO " + table() + " VALUES (1, 'late')");
        co_await tx.commit();
        tx = pgcoro::transaction();
        co_await test::wait_returned(pool);
        BOOST_TEST(co_await committed_rows() == 1);
    });
}

BOOST_AUTO_TEST_SUITE_END()
