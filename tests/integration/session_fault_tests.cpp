// Faults in the session layer: client-side deadlines, cancellation at every await point of a
// unit of work, COMMITs whose answer is lost, backends killed inside a transaction, streams
// and savepoints abandoned midway. Every test checks what a user observes afterwards: the
// error, what was committed, and that the connection the pool hands out next is clean.

#include "pool_support.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgcoro::client_errc;
using pgcoro::transaction_status;
using steady = std::chrono::steady_clock;
using test::describe;

namespace {

/// A table private to this test process (test binaries may share one server).
std::string table(const std::string& what)
{
    return "sfault_" + what + "_" + std::to_string(::getpid());
}

/// One connection and no overflow: "the next session" is always the same backend unless
/// the pool had to close it.
pgcoro::pool_options options_for(const std::string& tag)
{
    auto o = test::pool_options_for("sfault_" + tag);
    o.pool_size = 1;
    o.max_overflow = 0;
    return o;
}

std::chrono::milliseconds since(steady::time_point start)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
}

asio::awaitable<void> create_table(pgcoro::connection& db, std::string name)
{
    const std::string sql =
        "DROP TABLE IF EXISTS " + name + "; CREATE TABLE " + name + " (id int PRIMARY KEY, note text)";
    co_await db.execute_script(sql);
}

/// A table whose COMMIT sleeps `sleep_ms` per inserted row: a deferred constraint trigger
/// runs at COMMIT, so the COMMIT itself is slow (and can be cut off while it runs).
asio::awaitable<void> create_slow_commit_table(pgcoro::connection& db, std::string name, int sleep_ms)
{
    std::string sql =
        "DROP TABLE IF EXISTS " + name + "; CREATE TABLE " + name + " (id int PRIMARY KEY, note text); ";
    sql += "CREATE OR REPLACE FUNCTION " + name + "_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ";
    sql += "PERFORM pg_sleep(" + std::to_string(sleep_ms) + " / 1000.0); RETURN NULL; END $$; ";
    sql += "CREATE CONSTRAINT TRIGGER " + name + "_at_commit AFTER INSERT ON " + name;
    sql += " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION " + name + "_slow()";
    co_await db.execute_script(sql);
}

asio::awaitable<void> drop_table(pgcoro::connection& db, std::string name)
{
    const std::string sql = "DROP TABLE IF EXISTS " + name + "; DROP FUNCTION IF EXISTS " + name + "_slow()";
    co_await db.execute_script(sql);
}

/// Committed rows of a table, as another connection sees them.
asio::awaitable<std::int64_t> count_rows(pgcoro::connection& observer, std::string name)
{
    const std::string sql = "SELECT count(*) FROM " + name;
    std::int64_t n = co_await observer.scalar<std::int64_t>(sql);
    co_return n;
}

/// Committed ids of a table, in order.
asio::awaitable<std::vector<std::int32_t>> committed_ids(pgcoro::connection& observer, std::string name)
{
    const std::string sql = "SELECT id FROM " + name + " ORDER BY id";
    std::vector<std::int32_t> ids = co_await observer.query<std::int32_t>(sql);
    co_return ids;
}

/// pg_stat_activity's state of a backend ("idle", "active", "idle in transaction", ...), or
/// "gone" once it has exited.
asio::awaitable<std::string> backend_state(pgcoro::connection& observer, int pid)
{
    std::optional<std::string> state = co_await observer.query_opt<std::string>(
        "SELECT coalesce(state, '') FROM pg_stat_activity WHERE pid = $1", pid);
    if (!state)
        co_return std::string("gone");
    co_return *state;
}

/// The last (or current) statement of a backend, "" once it has exited.
asio::awaitable<std::string> backend_query(pgcoro::connection& observer, int pid)
{
    std::optional<std::string> query = co_await observer.query_opt<std::string>(
        "SELECT coalesce(query, '') FROM pg_stat_activity WHERE pid = $1", pid);
    if (!query)
        co_return std::string();
    co_return *query;
}

/// Waits (up to 5 s) until a terminated backend has exited; returns whether it did.
asio::awaitable<bool> wait_backend_gone(pgcoro::connection& observer, int pid)
{
    for (int i = 0; i < 250; ++i) {
        std::string state = co_await backend_state(observer, pid);
        if (state == "gone")
            co_return true;
        co_await test::sleep_for(20ms);
    }
    co_return false;
}

/// The middle one of a few measured durations.
std::chrono::microseconds median(std::vector<std::chrono::microseconds> samples)
{
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

/// Delay number `i` of a loop cutting off an operation that typically takes `typical`: a
/// quarter at 0 (cut off just after sending), a quarter long enough never to cut, the rest
/// spread over [0, 1.5 × typical) to land anywhere in between, however fast the machine.
std::chrono::microseconds spread_delay(std::int32_t i, std::chrono::microseconds typical)
{
    if (i % 4 == 0)
        return std::chrono::microseconds{0};
    if (i % 4 == 3)
        return 20 * typical + std::chrono::microseconds{2000};
    return std::chrono::microseconds(typical.count() * ((i * 37) % 150) / 100);
}

/// Runs `op` and cancels it: after `delay`, or with `at_first_wait` as soon as it first
/// waits (the cancellation is posted behind its start: deterministic where a timer of a few
/// microseconds mostly loses against a 50 us round trip). Returns how it failed, if it did.
template <class T>
asio::awaitable<std::exception_ptr> run_cancelled(asio::awaitable<T> op, std::chrono::microseconds delay,
                                                  bool at_first_wait)
{
    auto ex = co_await asio::this_coro::executor;
    if (!at_first_wait) {
        asio::steady_timer timer(ex, delay);
        auto outcome =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(ex, std::move(op), asio::deferred), timer.async_wait(asio::deferred))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        co_return std::get<1>(outcome);
    }
    asio::cancellation_signal signal;
    bool finished = false;
    std::exception_ptr failure;
    auto done = [&](std::exception_ptr e, auto&&...) {
        finished = true;
        failure = e;
    };
    asio::co_spawn(ex, std::move(op), asio::bind_cancellation_slot(signal.slot(), done));
    asio::post(ex, [&] {
        if (!finished)
            signal.emit(asio::cancellation_type::terminal);
    });
    while (!finished)
        co_await test::sleep_for(1ms);
    co_return failure;
}

/// As test::wait_returned, with a limit for a busy machine (10 s): a return that needs a
/// cancel and a rollback finishes in the background.
asio::awaitable<void> wait_all_returned(pgcoro::pool& pool)
{
    for (int i = 0; i < 1000 && pool.stats().checked_out != 0; ++i)
        co_await test::sleep_for(10ms);
    BOOST_TEST(pool.stats().checked_out == 0u);
}

/// Awaits `op` and returns what it threw (null when it succeeded). Unlike
/// test::expect_failure this never aborts the test case, so one call can check several.
template <class T> asio::awaitable<std::exception_ptr> failure_of(asio::awaitable<T> op)
{
    std::exception_ptr failure;
    try {
        co_await std::move(op);
    } catch (...) {
        failure = std::current_exception();
    }
    co_return failure;
}

/// True when `failure` is a pgcoro::error whose code equals `expected`.
template <class Code> bool is_error(const std::exception_ptr& failure, Code expected)
{
    if (!failure)
        return false;
    try {
        std::rethrow_exception(failure);
    } catch (const pgcoro::error& e) {
        return e.code() == expected;
    } catch (...) {
        return false;
    }
}

/// A cancellation as the awaiting coroutine sees it: pgcoro's operation_aborted from the
/// connection, or Asio's operation_aborted when the coroutine was already cancelled at its
/// next co_await.
bool is_cancellation(const std::exception_ptr& failure)
{
    if (!failure)
        return false;
    try {
        std::rethrow_exception(failure);
    } catch (const pgcoro::error& e) {
        return e.code() == client_errc::operation_aborted;
    } catch (const boost::system::system_error& e) {
        return e.code() == asio::error::operation_aborted;
    } catch (...) {
        return false;
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(session_fault_tests)

BOOST_AUTO_TEST_CASE(timeout_cancels_a_long_statement_and_the_same_connection_serves_the_next)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("timeout"));
        auto observer = co_await test::connect();
        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        {
            // A handle: it shares the session's connection (and lease) while it exists.
            auto timed = s.with_timeout(200ms);
            BOOST_TEST(timed.timeout() == 200ms);
            BOOST_TEST(s.timeout() == 0ms); // the session itself keeps no deadline

            const auto start = steady::now();
            auto e =
                co_await test::expect_failure(timed.execute("SELECT pg_sleep(10)"), client_errc::timeout);
            const auto elapsed = since(start);
            BOOST_TEST(elapsed >= 150ms);
            BOOST_TEST(elapsed < 2000ms); // far below pg_sleep(10), with room for a busy machine
            BOOST_TEST(std::string(e.what()).find("200 ms") != std::string::npos, e.what());
            BOOST_TEST(std::string(e.what()).find("pg_sleep") != std::string::npos, e.what());
        }

        // Cancelled on the server before the call returned, not merely abandoned.
        BOOST_TEST(co_await backend_state(observer, pid) == "idle");
        BOOST_TEST(s.get_connection().is_idle());
        BOOST_TEST(co_await s.scalar<std::int32_t>("SELECT 1") == 1);
        BOOST_TEST(s.get_connection().backend_pid() == pid);

        s.release();
        co_await wait_all_returned(pool);
        auto next = co_await pool.session();
        BOOST_TEST(next.get_connection().backend_pid() == pid);
        BOOST_TEST((next.get_connection().transaction() == transaction_status::idle));
        BOOST_TEST(co_await next.scalar<std::int32_t>("SELECT 2") == 2);
        BOOST_TEST(pool.stats().closed_broken == 0u);
    });
}

BOOST_AUTO_TEST_CASE(timeout_inside_a_transaction_aborts_it_until_rollback)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("timeout_tx"));
        auto observer = co_await test::connect();
        const std::string t = table("timeout_tx");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, 'before the timeout')";

        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        auto tx = co_await s.begin();
        co_await tx.execute(insert, 1);
        auto timed = tx.with_timeout(200ms);
        auto start = steady::now();
        co_await test::expect_failure(timed.execute("SELECT pg_sleep(10)"), client_errc::timeout);
        BOOST_TEST(since(start) < 2000ms);

        // Fails at once, without a round trip: the server's last statement is still pg_sleep.
        start = steady::now();
        auto e = co_await test::expect_failure(tx.execute("SELECT 'never_sent_marker'"),
                                               client_errc::transaction_aborted);
        BOOST_TEST(since(start) < 500ms);
        BOOST_TEST((e.code() == pgcoro::condition::in_failed_transaction));
        BOOST_TEST(std::string(e.what()).find("timed out") != std::string::npos, e.what());
        auto last = co_await backend_query(observer, pid);
        BOOST_TEST(last.find("never_sent_marker") == std::string::npos, last);
        // The timed handle is aborted too, and commit refuses (a COMMIT now would roll back).
        co_await test::expect_failure(timed.execute("SELECT 1"), client_errc::transaction_aborted);
        co_await test::expect_failure(tx.commit(), client_errc::transaction_aborted);
        BOOST_TEST(tx.active());

        co_await tx.rollback();
        BOOST_TEST(!tx.active());
        BOOST_TEST(!s.in_transaction());
        BOOST_TEST(co_await s.scalar<std::int32_t>("SELECT 3") == 3);
        BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
        BOOST_TEST(co_await backend_state(observer, pid) == "idle");
        BOOST_TEST(co_await count_rows(observer, t) == 0);
        s.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(cancellation_at_every_await_point_never_leaks_a_transaction)
{
    // One unit of work (acquire, BEGIN, INSERT, COMMIT) cut off by a timer after delays
    // spread over its whole duration. The INSERT sleeps 2 ms and a deferred trigger makes
    // COMMIT sleep 2 ms, so cancellations land before BEGIN, during it, during the INSERT
    // and during the COMMIT. After each: the pool's next session is the same backend, idle
    // on the client and on the server, and the row exists iff COMMIT completed.
    test::captured_log log; // abandoned scopes warn, once per cut-off iteration
    test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, options_for("every_point"));
        auto observer = co_await test::connect();
        const std::string t = table("every_point");
        co_await create_slow_commit_table(observer, t, 2);
        const std::string insert = "INSERT INTO " + t + " SELECT $1::int4, 'unit' FROM pg_sleep(0.002)";
        const std::string exists = "SELECT count(*) FROM " + t + " WHERE id = $1";
        const std::string count_all = "SELECT count(*) FROM " + t;

        int pid = 0;
        {
            auto s = co_await pool.session();
            pid = s.get_connection().backend_pid();
            // Prepare the INSERT once, so every iteration has the same timeline.
            auto tx = co_await s.begin();
            const std::int32_t warm_up = -1;
            co_await tx.execute(insert, warm_up);
            co_await tx.rollback();
        }

        int phase = 0;
        // A named lambda: its closure must outlive the coroutines it creates.
        auto unit = [&pool, &phase, &insert](std::int32_t id) -> asio::awaitable<void> {
            phase = 0;
            auto s = co_await pool.session();
            auto tx = co_await s.begin();
            phase = 1;
            co_await tx.execute(insert, id);
            phase = 2;
            co_await tx.commit();
            phase = 3;
        };

        std::array<int, 3> cancelled{}; // by phase reached
        int completed = 0, commit_kept = 0, commit_lost = 0, outcome_unknown = 0;
        std::int64_t committed = 0;
        // At least 160 iterations, more (up to 480) until every phase was cut off a few times.
        std::int32_t iterations = 0;
        const auto enough = [&] {
            return iterations >= 160 && cancelled[0] >= 5 && cancelled[1] >= 5 && cancelled[2] >= 5 &&
                   completed >= 5;
        };
        for (std::int32_t i = 0; i < 480 && !enough(); ++i, ++iterations) {
            // A third of the delays in the first 150 us (acquire and BEGIN are quick), the
            // rest over 0..7 ms (the INSERT and the COMMIT take 2 ms or more each).
            const auto delay = i % 3 == 0 ? std::chrono::microseconds((i * 7) % 150)
                                          : std::chrono::microseconds((i * 211) % 7000);
            // Every fifth: cut at the first wait (BEGIN's answer), whatever the machine's speed.
            const std::exception_ptr failure = co_await run_cancelled(unit(i), delay, i % 5 == 0);
            const int reached = phase;
            BOOST_TEST_CONTEXT("iteration " << i << ", delay " << delay.count() << " us, phase " << reached
                                            << ", " << describe(failure))
            {
                if (!failure) {
                    BOOST_TEST(reached == 3);
                    ++completed;
                } else {
                    BOOST_TEST(reached < 3);
                    if (reached < 3)
                        ++cancelled[reached];
                    const bool unknown = is_error(failure, client_errc::commit_outcome_unknown);
                    outcome_unknown += unknown;
                    // Only a cut-off COMMIT may leave the outcome unknown.
                    BOOST_TEST((is_cancellation(failure) || (unknown && reached == 2)));
                }

                co_await wait_all_returned(pool);
                auto s = co_await pool.session();
                BOOST_TEST(s.get_connection().backend_pid() == pid);
                BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
                BOOST_TEST(s.get_connection().is_idle());
                BOOST_TEST(!s.in_transaction());
                std::string state = co_await backend_state(observer, pid);
                BOOST_TEST(state == "idle");

                std::int64_t present = co_await observer.scalar<std::int64_t>(exists, i);
                if (reached == 3)
                    BOOST_TEST(present == 1);
                else if (reached < 2)
                    BOOST_TEST(present == 0);
                else if (present == 1)
                    ++commit_kept;
                else
                    ++commit_lost;
                committed += present;
                // Nothing else committed behind our back (no leaked, later-committed work).
                std::int64_t total = co_await count_rows(observer, t);
                BOOST_TEST(total == committed);
                // And the session sees the same: it is not inside a leftover transaction.
                std::int64_t seen = co_await s.scalar<std::int64_t>(count_all);
                BOOST_TEST(seen == committed);
            }
        }
        BOOST_TEST_MESSAGE("cancelled during acquire/BEGIN "
                           << cancelled[0] << ", during INSERT " << cancelled[1] << ", during COMMIT "
                           << cancelled[2] << " (committed anyway " << commit_kept << ", not committed "
                           << commit_lost << ", commit_outcome_unknown " << outcome_unknown << "), completed "
                           << completed);
        BOOST_TEST_MESSAGE(iterations << " iterations");
        BOOST_TEST(cancelled[0] >= 5);
        BOOST_TEST(cancelled[1] >= 5);
        BOOST_TEST(cancelled[2] >= 5);
        BOOST_TEST(completed >= 5);
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(cancellation_at_every_await_point_of_a_savepoint_keeps_the_transaction_consistent)
{
    // Inside one transaction, a savepoint unit (SAVEPOINT, INSERT, RELEASE) is cut off at
    // delays aimed at each of its phases (measured on a few uncut runs first). After each:
    // either the transaction goes on and holds the row iff RELEASE completed, or it reports
    // transaction_aborted (allowed only when SAVEPOINT or RELEASE itself was cut off, whose
    // outcome is unknown) and is rolled back. What is finally committed is exactly what the
    // client believes it committed.
    test::captured_log log; // abandoned savepoints warn
    test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, options_for("sp_points"));
        auto observer = co_await test::connect();
        const std::string t = table("sp_points");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " SELECT $1::int4, 'savepoint' FROM pg_sleep(0.001)";
        const std::string exists = "SELECT count(*) FROM " + t + " WHERE id = $1";

        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        pgcoro::transaction tx = co_await s.begin();
        const std::int32_t warm_up = -1;
        co_await tx.execute(insert, warm_up); // prepared once, so every unit has the same timeline
        co_await tx.rollback();
        tx = co_await s.begin();

        int phase = 0;
        steady::time_point t0;
        std::array<std::chrono::microseconds, 4>
            reached_at{}; // when each phase began, latest run to reach it
        auto unit = [&](std::int32_t id) -> asio::awaitable<void> {
            phase = 0;
            auto sp = co_await tx.begin();
            phase = 1;
            reached_at[1] = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0);
            co_await sp.execute(insert, id);
            phase = 2;
            reached_at[2] = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0);
            co_await sp.commit();
            phase = 3;
            reached_at[3] = std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - t0);
        };

        std::vector<std::int32_t> committed, pending; // pending: in the open transaction
        std::array<int, 3> cancelled{};
        int completed = 0, parent_aborted = 0;
        constexpr std::int32_t calibration = 6;
        // At least 120 iterations, more (up to 400) until each phase was cut off a few times.
        std::int32_t iterations = 0;
        const auto enough = [&] {
            return iterations >= 120 && cancelled[1] >= 5 && cancelled[0] + cancelled[2] >= 5 &&
                   completed >= calibration + 5;
        };
        for (std::int32_t i = 0; i < 400 && !enough(); ++i, ++iterations) {
            std::chrono::microseconds delay{10'000'000}; // calibration runs are never cut off
            if (i >= calibration) {
                const auto a = reached_at[1].count(), b = reached_at[2].count(), c = reached_at[3].count();
                const auto spread = [&](std::int64_t from, std::int64_t to) {
                    return std::chrono::microseconds(from + (i * 37) % std::max<std::int64_t>(1, to - from));
                };
                switch (i % 4) {
                case 0:
                    delay = spread(0, a + 20); // SAVEPOINT
                    break;
                case 1:
                    delay = spread(a, b); // the INSERT
                    break;
                default:
                    delay = spread(std::max<std::int64_t>(0, b - 30), c + 30); // RELEASE
                }
            }
            t0 = steady::now();
            // Every eighth after calibration: cut at the first wait (the SAVEPOINT's answer).
            const bool at_first_wait = i >= calibration && i % 8 == 0;
            const std::exception_ptr failure = co_await run_cancelled(unit(i), delay, at_first_wait);
            const int reached = phase;
            BOOST_TEST_CONTEXT("iteration " << i << ", delay " << delay.count() << " us, phase " << reached
                                            << ", " << describe(failure))
            {
                if (failure) {
                    BOOST_TEST(is_cancellation(failure));
                    if (reached < 3)
                        ++cancelled[reached];
                } else {
                    BOOST_TEST(reached == 3);
                    ++completed;
                }
                BOOST_TEST(tx.active());
                BOOST_TEST(tx.depth() == 1u); // the savepoint ended with its unit
                std::int64_t present = -1;
                std::exception_ptr parent_failure;
                try {
                    present = co_await tx.scalar<std::int64_t>(exists, i);
                } catch (...) {
                    parent_failure = std::current_exception();
                }
                if (parent_failure) {
                    // SAVEPOINT or RELEASE was cut off: the parent cannot know what happened.
                    BOOST_TEST(is_error(parent_failure, client_errc::transaction_aborted),
                               describe(parent_failure));
                    BOOST_TEST((reached == 0 || reached == 2));
                    ++parent_aborted;
                    co_await tx.rollback();
                    pending.clear();
                    tx = co_await s.begin();
                } else {
                    if (reached == 3)
                        BOOST_TEST(present == 1);
                    if (reached < 2)
                        BOOST_TEST(present == 0); // an interrupted savepoint is rolled back
                    if (present == 1)
                        pending.push_back(i);
                }
                if (i % 20 == 19) { // commit what the transaction holds so far, and check it
                    co_await tx.commit();
                    committed.insert(committed.end(), pending.begin(), pending.end());
                    pending.clear();
                    auto ids = co_await committed_ids(observer, t);
                    BOOST_TEST(ids == committed, boost::test_tools::per_element());
                    tx = co_await s.begin();
                }
            }
        }
        co_await tx.commit();
        committed.insert(committed.end(), pending.begin(), pending.end());
        auto ids = co_await committed_ids(observer, t);
        BOOST_TEST(ids == committed, boost::test_tools::per_element());
        BOOST_TEST_MESSAGE("savepoint cut off at SAVEPOINT "
                           << cancelled[0] << ", INSERT " << cancelled[1] << ", RELEASE " << cancelled[2]
                           << "; completed " << completed << "; parent aborted " << parent_aborted
                           << "; committed " << committed.size());
        BOOST_TEST_MESSAGE(iterations << " iterations");
        BOOST_TEST(cancelled[1] >= 5);
        BOOST_TEST(cancelled[0] + cancelled[2] >= 5);
        BOOST_TEST(completed >= calibration + 5);
        BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
        BOOST_TEST(co_await backend_state(observer, pid) == "idle");
        s.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(cancelled_begin_in_a_session_that_goes_on_runs_the_next_statement_outside_a_transaction)
{
    test::captured_log log; // a BEGIN that completed just as it was cancelled is abandoned
    test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, options_for("cancel_begin"));
        auto observer = co_await test::connect();
        const std::string t = table("cancel_begin");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, 'session level')";
        const std::string exists = "SELECT count(*) FROM " + t + " WHERE id = $1";

        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        std::vector<std::chrono::microseconds> samples; // how long an uncut BEGIN takes here
        for (int k = 0; k < 5; ++k) {
            const auto start = steady::now();
            auto tx = co_await s.begin();
            samples.push_back(std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start));
            co_await tx.rollback();
        }
        const auto typical = median(samples);
        int cancelled = 0, midway = 0, begun = 0;
        // At least 80 iterations, more (up to 400) until both outcomes were seen 10 times.
        for (std::int32_t i = 0; i < 400 && (i < 80 || cancelled < 10 || begun < 10); ++i) {
            const auto delay = spread_delay(i, typical);
            BOOST_TEST_CONTEXT("iteration " << i << ", delay " << delay.count() << " us")
            {
                {
                    std::exception_ptr failure;
                    pgcoro::transaction scope;
                    if (i % 4 == 1) {
                        // Deterministic: the cancellation is posted behind begin()'s start, so
                        // it lands while BEGIN's answer is awaited (a timer of a few
                        // microseconds mostly loses against a 50 us round trip).
                        asio::cancellation_signal signal;
                        bool finished = false;
                        asio::co_spawn(ex, s.begin(),
                                       asio::bind_cancellation_slot(
                                           signal.slot(), [&](std::exception_ptr e, pgcoro::transaction tx) {
                                               finished = true;
                                               failure = e;
                                               scope = std::move(tx);
                                           }));
                        asio::post(ex, [&] {
                            if (!finished)
                                signal.emit(asio::cancellation_type::terminal);
                        });
                        while (!finished)
                            co_await test::sleep_for(1ms);
                    } else {
                        asio::steady_timer timer(ex, delay);
                        auto outcome =
                            co_await asio::experimental::make_parallel_group(
                                asio::co_spawn(ex, s.begin(), asio::deferred),
                                timer.async_wait(asio::deferred))
                                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
                        failure = std::get<1>(outcome);
                        scope = std::move(std::get<2>(outcome));
                    }
                    if (failure) {
                        ++cancelled;
                        BOOST_TEST(is_cancellation(failure), describe(failure));
                        // BEGIN was sent but its answer not read: the server may be in a
                        // transaction nobody owns.
                        midway += s.get_connection().is_interrupted();
                    } else {
                        ++begun; // the cancellation came too late: the scope is dropped unused
                        BOOST_TEST(scope.active());
                    }
                }
                BOOST_TEST(!s.in_transaction());
                auto inserted = co_await s.execute(insert, i);
                BOOST_TEST(inserted == 1u);
                BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
                // Visible to another connection at once: it was not inside a transaction.
                std::int64_t present = co_await observer.scalar<std::int64_t>(exists, i);
                BOOST_TEST(present == 1);
                BOOST_TEST(s.get_connection().backend_pid() == pid);
            }
        }
        BOOST_TEST_MESSAGE("BEGIN takes " << typical.count() << " us; begin cancelled " << cancelled << " ("
                                          << midway << " after BEGIN was sent), completed " << begun);
        BOOST_TEST(cancelled >= 10);
        BOOST_TEST(midway >= 1);
        BOOST_TEST(begun >= 10);
        BOOST_TEST(co_await backend_state(observer, pid) == "idle");
        s.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(commit_with_a_lost_answer_reports_commit_outcome_unknown_and_is_not_retried)
{
    // COMMIT takes 5 s (a deferred trigger); the backend is terminated while it runs.
    test::run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, options_for("commit_killed"));
        auto observer = co_await test::connect();
        const std::string t = table("commit_killed");
        co_await create_slow_commit_table(observer, t, 5000);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, 'commit is slow')";

        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        int attempts = 0;
        auto unit = [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
            ++attempts;
            co_await tx.execute(insert, 1);
        };
        bool killed = false;
        std::string seen_running;
        auto killer = [&]() -> asio::awaitable<void> {
            auto admin = co_await test::admin();
            for (int i = 0; i < 150; ++i) { // until the backend runs COMMIT
                seen_running = co_await backend_query(admin, pid);
                std::string state = co_await backend_state(admin, pid);
                if (seen_running == "COMMIT" && state == "active")
                    break;
                co_await test::sleep_for(10ms);
            }
            co_await test::sleep_for(300ms);
            killed = co_await admin.scalar<bool>("SELECT pg_terminate_backend($1)", pid);
        };
        pgcoro::transaction_options options;
        pgcoro::retry_policy policy;
        policy.max_attempts = 5;
        policy.initial_backoff = 1ms;
        auto work = failure_of(s.transaction(unit, options, policy));
        const auto start = steady::now();
        auto outcome = co_await asio::experimental::make_parallel_group(
                           asio::co_spawn(ex, std::move(work), asio::deferred),
                           asio::co_spawn(ex, killer(), asio::deferred))
                           .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        BOOST_TEST(!std::get<1>(outcome)); // failure_of never throws
        BOOST_TEST(!std::get<3>(outcome), describe(std::get<3>(outcome)));
        const std::exception_ptr failure = std::get<2>(outcome);
        BOOST_TEST(seen_running == "COMMIT");
        BOOST_TEST(killed);
        BOOST_TEST(is_error(failure, client_errc::commit_outcome_unknown), describe(failure));
        BOOST_TEST(attempts == 1);         // never retried
        BOOST_TEST(since(start) < 4000ms); // cut off: the COMMIT alone takes 5 s
        const std::string message = describe(failure);
        BOOST_TEST(message.find("terminating connection due to administrator command") != std::string::npos,
                   message);
        BOOST_TEST(!s.in_transaction());
        BOOST_TEST(!s.get_connection().is_open());
        const std::int64_t rows_after_kill = co_await count_rows(observer, t);
        BOOST_TEST_MESSAGE("committed rows after the killed COMMIT: " << rows_after_kill);

        s.release();
        co_await wait_all_returned(pool);
        BOOST_TEST(pool.stats().closed_broken == 1u);
        auto next = co_await pool.session();
        BOOST_TEST(next.get_connection().backend_pid() != pid);
        BOOST_TEST(co_await next.scalar<std::int32_t>("SELECT 8") == 8);
        next.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(cancelled_commit_in_a_transaction_function_reports_commit_outcome_unknown)
{
    test::captured_log log;
    test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, options_for("commit_cancel"));
        auto observer = co_await test::connect();
        const std::string t = table("commit_cancel");
        co_await create_slow_commit_table(observer, t, 5000);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, 'commit is slow')";

        int attempts = 0;
        int pid = 0;
        std::string running;
        auto unit = [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
            ++attempts;
            co_await tx.execute(insert, 1);
        };
        pgcoro::transaction_options options;
        pgcoro::retry_policy policy;
        policy.max_attempts = 5;
        policy.initial_backoff = 1ms;
        // The whole transaction(fn) call is what the caller cancels, as a deadline would.
        auto attempt = [&]() -> asio::awaitable<void> {
            auto s = co_await pool.session();
            pid = s.get_connection().backend_pid();
            co_await s.transaction(unit, options, policy);
        };
        auto watcher = [&]() -> asio::awaitable<void> {
            for (int i = 0; i < 100 && pid == 0; ++i)
                co_await test::sleep_for(5ms);
            for (int i = 0; i < 100 && running != "COMMIT"; ++i) {
                running = co_await backend_query(observer, pid);
                co_await test::sleep_for(5ms);
            }
        };
        asio::steady_timer timer(ex, 400ms);
        std::exception_ptr failure;
        auto cut_off = [&]() -> asio::awaitable<void> {
            auto outcome =
                co_await asio::experimental::make_parallel_group(
                    asio::co_spawn(ex, attempt(), asio::deferred), timer.async_wait(asio::deferred))
                    .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
            BOOST_TEST(std::get<0>(outcome)[0] == 1u); // the timer won
            failure = std::get<1>(outcome);
        };
        const auto start = steady::now();
        co_await asio::experimental::make_parallel_group(asio::co_spawn(ex, cut_off(), asio::deferred),
                                                         asio::co_spawn(ex, watcher(), asio::deferred))
            .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        BOOST_TEST(running == "COMMIT");   // the timer fired while COMMIT ran
        BOOST_TEST(since(start) < 4000ms); // cut off: the COMMIT alone takes 5 s
        BOOST_TEST(attempts == 1);
        BOOST_TEST(is_error(failure, client_errc::commit_outcome_unknown), describe(failure));

        co_await wait_all_returned(pool);
        auto next = co_await pool.session();
        const std::int64_t rows_after_cancel = co_await count_rows(observer, t);
        BOOST_TEST_MESSAGE("same backend after the cancelled COMMIT: "
                           << (next.get_connection().backend_pid() == pid) << "; committed rows "
                           << rows_after_cancel);
        BOOST_TEST((next.get_connection().transaction() == transaction_status::idle));
        BOOST_TEST(next.get_connection().is_idle());
        BOOST_TEST(co_await next.scalar<std::int32_t>("SELECT 9") == 9);
        const int next_pid = next.get_connection().backend_pid();
        BOOST_TEST(co_await backend_state(observer, next_pid) == "idle");
        next.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(killed_backend_inside_a_transaction_fails_the_statement_and_rollback_is_quiet)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("killed_tx"));
        auto observer = co_await test::connect();
        const std::string t = table("killed_tx");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, 'in a killed transaction')";

        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        {
            auto tx = co_await s.begin();
            co_await tx.execute(insert, 1);
            BOOST_TEST(co_await backend_state(observer, pid) == "idle in transaction");
            auto admin = co_await test::admin();
            BOOST_TEST(co_await admin.scalar<bool>("SELECT pg_terminate_backend($1)", pid));
            BOOST_TEST(co_await wait_backend_gone(observer, pid));

            const auto start = steady::now();
            auto e =
                co_await test::expect_failure(tx.execute(insert, 2), pgcoro::condition::connection_error);
            BOOST_TEST(pgcoro::is_fatal(e.code()));
            BOOST_TEST(since(start) < 2000ms);
            // The scope cannot go on; whatever the next statement reports, it is prompt.
            std::exception_ptr again = co_await failure_of(tx.execute("SELECT 1"));
            BOOST_TEST((is_error(again, pgcoro::condition::connection_error) ||
                        is_error(again, pgcoro::condition::in_failed_transaction)),
                       describe(again));
            std::exception_ptr committed = co_await failure_of(tx.commit()); // must not report success
            BOOST_TEST((is_error(committed, pgcoro::condition::connection_error) ||
                        is_error(committed, pgcoro::condition::in_failed_transaction)),
                       describe(committed));
            BOOST_TEST_MESSAGE("commit() after the loss: " << describe(committed)
                                                           << "; scope still open: " << tx.active());
            // A lost connection has lost its transaction: rolling back is not an error.
            std::exception_ptr rolled_back = co_await failure_of(tx.rollback());
            BOOST_TEST(!rolled_back, describe(rolled_back));
            BOOST_TEST(!tx.active());
            BOOST_TEST(!s.in_transaction());
            // A new transaction on the dead connection says so (not "already in a transaction").
            co_await test::expect_failure(s.begin(), client_errc::connection_lost);
        } // every handle of the session has ended
        s.release();
        co_await wait_all_returned(pool);
        auto stats = pool.stats();
        BOOST_TEST(stats.closed_broken == 1u);
        BOOST_TEST(stats.size == 0u);
        auto next = co_await pool.session();
        BOOST_TEST(next.get_connection().backend_pid() != pid);
        BOOST_TEST(co_await next.scalar<std::int32_t>("SELECT 6") == 6);
        BOOST_TEST(co_await count_rows(observer, t) == 0);
        next.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(abandoned_stream_inside_a_transaction_aborts_it)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("stream"));
        auto observer = co_await test::connect();
        const std::string t = table("stream");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, 'before the stream')";

        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        auto tx = co_await s.begin();
        co_await tx.execute(insert, 1);
        {
            auto rows = co_await tx.stream<std::int32_t>("SELECT generate_series(1, 1000000)");
            for (std::int32_t k = 1; k <= 5; ++k) {
                std::optional<std::int32_t> row = co_await rows.next();
                BOOST_TEST((row && *row == k));
            }
        } // destroyed with most rows unread: the statement's outcome is not known
        const auto start = steady::now();
        auto e = co_await test::expect_failure(tx.execute("SELECT 1"), client_errc::transaction_aborted);
        BOOST_TEST(since(start) < 3000ms); // cancelled, not read to the end
        const std::string message = e.what();
        BOOST_TEST_MESSAGE("after an abandoned stream: " << message);
        BOOST_TEST(message.find("cancelled") != std::string::npos, message);
        BOOST_TEST(message.find("roll it back") != std::string::npos, message);
        co_await test::expect_failure(tx.commit(), client_errc::transaction_aborted);
        BOOST_TEST(tx.active());
        co_await tx.rollback();

        BOOST_TEST(co_await s.scalar<std::int32_t>("SELECT 4") == 4);
        BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
        BOOST_TEST(s.get_connection().is_idle());
        BOOST_TEST(co_await backend_state(observer, pid) == "idle");
        BOOST_TEST(co_await count_rows(observer, t) == 0);
        s.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(cancelled_statement_in_an_abandoned_savepoint_leaves_the_parent_usable)
{
    test::captured_log log;
    test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, options_for("sp_cancel"));
        auto observer = co_await test::connect();
        const std::string t = table("sp_cancel");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, $2)";

        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        co_await tx.execute(insert, 1, "parent, before");
        {
            auto sp = co_await tx.begin();
            co_await sp.execute(insert, 3, "savepoint");
            auto sleeper = [&sp]() -> asio::awaitable<void> {
                co_await sp.execute("SELECT pg_sleep(5)");
            };
            asio::steady_timer timer(ex, 200ms);
            auto outcome =
                co_await asio::experimental::make_parallel_group(
                    asio::co_spawn(ex, sleeper(), asio::deferred), timer.async_wait(asio::deferred))
                    .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
            BOOST_TEST(std::get<0>(outcome)[0] == 1u); // the timer won
            BOOST_TEST(is_cancellation(std::get<1>(outcome)), describe(std::get<1>(outcome)));
        } // the savepoint is dropped without rollback()
        BOOST_TEST(log.warnings_containing("without commit() or rollback()") == 1u);
        BOOST_TEST(tx.active());
        BOOST_TEST(tx.depth() == 1u);

        const auto start = steady::now();
        co_await tx.execute(insert, 2, "parent, after");
        co_await tx.commit();
        BOOST_TEST(since(start) < 3000ms); // pg_sleep(5) was cancelled, not waited for
        auto ids = co_await committed_ids(observer, t);
        BOOST_TEST(ids == (std::vector<std::int32_t>{1, 2}), boost::test_tools::per_element());
        BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
        s.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(statement_finishing_before_its_deadline_returns_its_result)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("in_time"));
        auto observer = co_await test::connect();
        const std::string t = table("in_time");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, 'in time')";

        auto s = co_await pool.session();
        auto timed = s.with_timeout(3000ms);
        BOOST_TEST(co_await timed.scalar<std::int32_t>("SELECT 41 + 1 FROM pg_sleep(0.05)") == 42);
        auto rows = co_await timed.query<std::int32_t>("SELECT generate_series(1, 3)");
        BOOST_TEST(rows == (std::vector<std::int32_t>{1, 2, 3}), boost::test_tools::per_element());
        // A server error before the deadline is reported as itself, not as a timeout.
        auto e =
            co_await test::expect_failure(timed.execute("SELECT 1/0"), pgcoro::condition::data_exception);
        BOOST_TEST(e.sqlstate() == "22012");

        auto tx = co_await s.begin();
        auto timed_tx = tx.with_timeout(3000ms);
        BOOST_TEST(co_await timed_tx.execute(insert, 1) == 1u);
        BOOST_TEST(co_await timed_tx.scalar<std::int64_t>("SELECT count(*) FROM pg_sleep(0.05)") == 1);
        co_await tx.execute(insert, 2); // not aborted: nothing timed out
        co_await tx.commit();
        auto ids = co_await committed_ids(observer, t);
        BOOST_TEST(ids == (std::vector<std::int32_t>{1, 2}), boost::test_tools::per_element());
        s.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(timeout_in_a_savepoint_aborts_only_the_savepoint_until_it_is_rolled_back)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("sp_timeout"));
        auto observer = co_await test::connect();
        const std::string t = table("sp_timeout");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, $2)";

        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        co_await tx.execute(insert, 1, "parent");
        auto sp = co_await tx.begin();
        co_await sp.execute(insert, 2, "savepoint");
        auto timed = sp.with_timeout(200ms);
        const auto start = steady::now();
        co_await test::expect_failure(timed.execute("SELECT pg_sleep(10)"), client_errc::timeout);
        BOOST_TEST(since(start) < 2000ms);
        co_await test::expect_failure(sp.execute("SELECT 1"), client_errc::transaction_aborted);
        co_await test::expect_failure(sp.commit(), client_errc::transaction_aborted);
        co_await test::expect_failure(tx.execute("SELECT 1"), client_errc::scope_not_innermost);
        BOOST_TEST(sp.active());
        co_await sp.rollback();
        // The parent was not aborted by its savepoint's timeout.
        co_await tx.execute(insert, 3, "parent, after");
        co_await tx.commit();
        auto ids = co_await committed_ids(observer, t);
        BOOST_TEST(ids == (std::vector<std::int32_t>{1, 3}), boost::test_tools::per_element());
        BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
        s.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(timeout_inside_a_transaction_function_is_not_retried)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("fn_timeout"));
        auto observer = co_await test::connect();
        const std::string t = table("fn_timeout");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, 'attempt')";

        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        int attempts = 0;
        auto unit = [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
            ++attempts;
            co_await tx.execute(insert, attempts);
            auto timed = tx.with_timeout(200ms);
            co_await timed.execute("SELECT pg_sleep(10)");
        };
        pgcoro::transaction_options options;
        pgcoro::retry_policy policy;
        policy.max_attempts = 5;
        policy.initial_backoff = 1ms;
        const auto start = steady::now();
        co_await test::expect_failure(s.transaction(unit, options, policy), client_errc::timeout);
        BOOST_TEST(since(start) < 3000ms);
        BOOST_TEST(attempts == 1);
        BOOST_TEST(!s.in_transaction());
        BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
        BOOST_TEST(co_await s.scalar<std::int32_t>("SELECT 5") == 5);
        BOOST_TEST(co_await backend_state(observer, pid) == "idle");
        BOOST_TEST(co_await count_rows(observer, t) == 0);
        s.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(cancelled_transaction_function_leaves_its_session_outside_any_transaction)
{
    test::captured_log log;
    test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, options_for("fn_cancel"));
        auto observer = co_await test::connect();
        const std::string t = table("fn_cancel");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, $2)";

        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        int attempts = 0;
        auto unit = [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
            ++attempts;
            co_await tx.execute(insert, attempts, "cancelled unit");
            co_await tx.execute("SELECT pg_sleep(5)");
        };
        pgcoro::transaction_options options;
        pgcoro::retry_policy policy;
        policy.max_attempts = 5;
        policy.initial_backoff = 1ms;
        auto work = s.transaction(unit, options, policy);
        asio::steady_timer timer(ex, 300ms);
        const auto start = steady::now();
        auto outcome =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(ex, std::move(work), asio::deferred), timer.async_wait(asio::deferred))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        BOOST_TEST(std::get<0>(outcome)[0] == 1u);
        BOOST_TEST(is_cancellation(std::get<1>(outcome)), describe(std::get<1>(outcome)));
        BOOST_TEST(attempts == 1);
        BOOST_TEST(!s.in_transaction());

        // The same session goes on, outside any transaction, after pg_sleep was cancelled.
        co_await s.execute(insert, 100, "session level");
        BOOST_TEST(since(start) < 3000ms);
        BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
        BOOST_TEST(co_await backend_state(observer, pid) == "idle");
        auto ids = co_await committed_ids(observer, t);
        BOOST_TEST(ids == (std::vector<std::int32_t>{100}), boost::test_tools::per_element());
        s.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(cancelled_rollback_is_finished_before_the_sessions_next_statement)
{
    test::captured_log log;
    test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, options_for("rollback_cancel"));
        auto observer = co_await test::connect();
        const std::string t = table("rollback_cancel");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, $2)";
        const std::string exists = "SELECT count(*) FROM " + t + " WHERE id = $1";

        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        std::vector<std::chrono::microseconds> samples; // how long an uncut ROLLBACK takes here
        for (std::int32_t k = 0; k < 5; ++k) {
            auto tx = co_await s.begin();
            const std::int32_t id = -1 - k;
            co_await tx.execute(insert, id, "calibration");
            const auto start = steady::now();
            co_await tx.rollback();
            samples.push_back(std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start));
        }
        const auto typical = median(samples);
        int cancelled = 0, midway = 0;
        // At least 40 iterations, more (up to 300) until 10 rollbacks were cut off.
        std::int64_t iterations = 0;
        for (std::int32_t i = 0; i < 300 && (i < 40 || cancelled < 10); ++i, ++iterations) {
            const auto delay = spread_delay(i, typical);
            BOOST_TEST_CONTEXT("iteration " << i << ", delay " << delay.count() << " us")
            {
                auto tx = co_await s.begin();
                co_await tx.execute(insert, i, "rolled back");
                // Every fourth: cut at the first wait (ROLLBACK's answer).
                const std::exception_ptr failure = co_await run_cancelled(tx.rollback(), delay, i % 4 == 1);
                if (failure) {
                    ++cancelled;
                    BOOST_TEST(is_cancellation(failure), describe(failure));
                    midway += s.get_connection().is_interrupted();
                }
                BOOST_TEST(!tx.active()); // ended either way
                BOOST_TEST(!s.in_transaction());
                const std::int32_t marker = 1000 + i;
                co_await s.execute(insert, marker, "session level");
                BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
                BOOST_TEST(co_await observer.scalar<std::int64_t>(exists, i) == 0);
                BOOST_TEST(co_await observer.scalar<std::int64_t>(exists, marker) == 1);
            }
        }
        BOOST_TEST_MESSAGE("ROLLBACK takes " << typical.count() << " us; rollback cancelled " << cancelled
                                             << " (" << midway << " after ROLLBACK was sent)");
        BOOST_TEST(cancelled >= 10);
        BOOST_TEST(co_await backend_state(observer, pid) == "idle");
        BOOST_TEST(co_await count_rows(observer, t) == iterations); // the session-level rows only
        s.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(deadline_bounds_scripts_and_pipelines_too)
{
    // with_timeout promises a deadline on "every statement started through the returned
    // handle"; execute_script and pipeline are part of that handle's query surface.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("script_timeout"));
        auto s = co_await pool.session();
        auto timed = s.with_timeout(200ms);

        auto start = steady::now();
        std::exception_ptr script = co_await failure_of(timed.execute_script("SELECT pg_sleep(3)"));
        const auto script_time = since(start);
        BOOST_TEST(is_error(script, client_errc::timeout), describe(script));
        BOOST_TEST(script_time < 1500ms);

        pgcoro::batch b;
        b.add("SELECT pg_sleep(3)");
        start = steady::now();
        std::exception_ptr batch = co_await failure_of(timed.pipeline(std::move(b)));
        const auto batch_time = since(start);
        BOOST_TEST(is_error(batch, client_errc::timeout), describe(batch));
        BOOST_TEST(batch_time < 1500ms);
        BOOST_TEST(co_await s.scalar<std::int32_t>("SELECT 7") == 7);
    });
}

BOOST_AUTO_TEST_CASE(released_session_returns_its_connection_now_even_while_scope_handles_exist)
{
    // session::release(): "Returns the connection to the pool now (an open transaction is
    // rolled back by the pool's reset); the session and its scopes then throw
    // connection_closed. Streams still open keep the connection until they end."
    test::captured_log log;
    test::run([&]() -> asio::awaitable<void> {
        auto o = options_for("release");
        o.pool_timeout = 2s; // a connection that never comes back fails fast, not in 30 s
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        auto observer = co_await test::connect();
        const std::string t = table("release");
        co_await create_table(observer, t);
        const std::string insert = "INSERT INTO " + t + " VALUES ($1, 'released')";

        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        auto tx = co_await s.begin();
        co_await tx.execute(insert, 1);
        auto timed = s.with_timeout(1000ms); // a handle to the session scope
        s.release();
        co_await test::wait_returned(pool); // the connection is back (reset) while tx exists
        std::exception_ptr late = co_await failure_of(tx.execute(insert, 2));
        BOOST_TEST(is_error(late, client_errc::connection_closed), describe(late));
        std::exception_ptr handle = co_await failure_of(timed.execute("SELECT 1"));
        BOOST_TEST(is_error(handle, client_errc::connection_closed), describe(handle));
        std::exception_ptr borrowed = co_await failure_of(pool.session());
        BOOST_TEST(!borrowed, describe(borrowed));

        // Whatever happened above, once every handle is gone the connection is reset and
        // reused, and nothing of the released transaction was committed.
        tx = pgcoro::transaction();
        timed = pgcoro::queryable();
        co_await wait_all_returned(pool);
        auto next = co_await pool.session();
        BOOST_TEST(next.get_connection().backend_pid() == pid);
        BOOST_TEST((next.get_connection().transaction() == transaction_status::idle));
        BOOST_TEST(co_await count_rows(observer, t) == 0);
        next.release();
        co_await drop_table(observer, t);
    });
}

BOOST_AUTO_TEST_CASE(statement_cancelled_during_recovery_from_an_abandoned_stream_keeps_the_session)
{
    // An abandoned stream leaves its statement to be cancelled and drained by the session's
    // next statement. When that next statement is itself cancelled (a caller's deadline)
    // during the recovery, the documented outcome is still a cancellation: operation_aborted,
    // and the connection recovers at the statement after.
    test::captured_log log;
    test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, options_for("recovery_cancel"));
        auto s = co_await pool.session();
        const int pid = s.get_connection().backend_pid();
        int cancelled = 0, completed = 0;
        for (std::int32_t i = 0; i < 30; ++i) {
            const auto delay = std::chrono::microseconds((i * 40) % 1200);
            BOOST_TEST_CONTEXT("iteration " << i << ", delay " << delay.count() << " us")
            {
                {
                    auto rows = co_await s.stream<std::int32_t>("SELECT generate_series(1, 1000000)");
                    std::optional<std::int32_t> first = co_await rows.next();
                    BOOST_TEST((first && *first == 1));
                } // abandoned: the server is still producing rows
                asio::steady_timer timer(ex, delay);
                auto outcome = co_await asio::experimental::make_parallel_group(
                                   asio::co_spawn(ex, s.execute("SELECT 1"), asio::deferred),
                                   timer.async_wait(asio::deferred))
                                   .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
                const std::exception_ptr failure = std::get<1>(outcome);
                if (failure) {
                    ++cancelled;
                    BOOST_TEST(is_cancellation(failure), describe(failure));
                } else {
                    ++completed;
                }
                BOOST_TEST(s.get_connection().is_open());
                if (!s.get_connection().is_open())
                    break; // the session is gone: later iterations would only repeat this
                BOOST_TEST(co_await s.scalar<std::int32_t>("SELECT $1::int4", i) == i);
                BOOST_TEST(s.get_connection().backend_pid() == pid);
                BOOST_TEST(s.get_connection().is_idle());
            }
        }
        BOOST_TEST_MESSAGE("cancelled during recovery " << cancelled << ", completed " << completed);
        BOOST_TEST(cancelled >= 1);
    });
}

BOOST_AUTO_TEST_CASE(cancellation_during_a_retry_backoff_is_a_pgcoro_error_and_leaves_no_transaction)
{
    test::run([]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::pool pool(ex, options_for("retry_backoff"));
        auto s = co_await pool.session();
        int attempts = 0;
        // Every attempt fails with 40001; the first pause is long (up to 3 s), so the
        // cancellation at 300 ms lands while transaction() sleeps before retrying.
        auto unit = [&attempts](pgcoro::transaction& tx) -> asio::awaitable<void> {
            ++attempts;
            co_await tx.execute_script("DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = "
                                       "'always conflicting'; END $$");
        };
        pgcoro::retry_policy policy{.max_attempts = 5,
                                    .initial_backoff = std::chrono::milliseconds{3000},
                                    .max_backoff = std::chrono::milliseconds{3000}};
        std::exception_ptr failure;
        const auto start = steady::now();
        for (int tries = 0; tries < 20 && !failure; ++tries) {
            attempts = 0;
            asio::steady_timer timer(ex, 300ms);
            auto outcome = co_await asio::experimental::make_parallel_group(
                               asio::co_spawn(ex, s.transaction(unit, {}, policy), asio::deferred),
                               timer.async_wait(asio::deferred))
                               .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
            // The jittered pause may be shorter than 300 ms: then the second attempt is cut.
            if (attempts == 1)
                failure = std::get<1>(outcome);
        }
        BOOST_TEST_REQUIRE(static_cast<bool>(failure));
        BOOST_TEST(is_error(failure, client_errc::operation_aborted), describe(failure));
        BOOST_TEST(since(start) < 10000ms);
        BOOST_TEST(!s.in_transaction());
        BOOST_TEST(co_await s.scalar<std::int32_t>("SELECT 7") == 7);
        BOOST_TEST((s.get_connection().transaction() == transaction_status::idle));
    });
}

BOOST_AUTO_TEST_SUITE_END()
