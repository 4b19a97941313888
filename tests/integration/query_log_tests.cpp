// The query log hook (connect_options::on_query, pool_options::on_query) against the real
// server: one event per statement for every kind of call, rows, parameters, failures,
// durations, no parameter values, no internal traffic, and a hook that throws.

#include "pool_support.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/post.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgcoro::client_errc;
using kind = pgcoro::query_event::kind;

namespace {

/// A copy of one query_event (the event itself only lives during the call).
struct recorded {
    kind type = kind::statement;
    std::string sql;
    std::size_t parameters = 0;
    std::chrono::nanoseconds duration{};
    std::uint64_t rows = 0;
    std::size_t batch_size = 0;
    bool failed = false;
    boost::system::error_code code;
    std::string what;
};

/// Collects the events of every connection it is installed on.
struct recorder {
    std::mutex mutex;
    std::vector<recorded> events;

    std::function<void(const pgcoro::query_event&)> hook()
    {
        return [this](const pgcoro::query_event& e) {
            recorded r{e.type, std::string(e.sql), e.parameters, e.duration, e.rows, e.batch_size};
            if (e.failure) {
                r.failed = true;
                r.code = e.failure->code();
                r.what = e.failure->what();
            }
            std::lock_guard guard(mutex);
            events.push_back(std::move(r));
        };
    }

    std::vector<recorded> take()
    {
        std::lock_guard guard(mutex);
        return std::exchange(events, {});
    }
};

asio::awaitable<pgcoro::connection> connect_recorded(recorder& log, std::size_t cache_size = 256)
{
    pgcoro::connect_options options;
    options.conninfo = test::dsn();
    options.statement_cache_size = cache_size;
    options.on_query = log.hook();
    auto db = co_await test::connect(std::move(options));
    co_return db;
}

} // namespace

BOOST_AUTO_TEST_SUITE(query_log_tests)

BOOST_AUTO_TEST_CASE(statement_reports_its_sql_parameters_rows_and_duration)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto db = co_await connect_recorded(log);
        auto numbers = co_await db.query<std::int32_t>("SELECT generate_series(1, $1)", std::int32_t{3});
        BOOST_TEST(numbers.size() == 3u);
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 1u); // preparing it first is not a second event
        BOOST_TEST((events[0].type == kind::statement));
        BOOST_TEST(events[0].sql == "SELECT generate_series(1, $1)");
        BOOST_TEST(events[0].parameters == 1u);
        BOOST_TEST(events[0].rows == 3u);
        BOOST_TEST(events[0].batch_size == 0u);
        BOOST_TEST(!events[0].failed);
        BOOST_TEST(events[0].duration.count() > 0);

        co_await db.execute("CREATE TEMP TABLE logged (id int)");
        co_await db.execute("INSERT INTO logged SELECT generate_series(1, 5)");
        std::uint64_t updated = co_await db.execute("UPDATE logged SET id = id + $1 WHERE id <= $2",
                                                    std::int32_t{10}, std::int32_t{2});
        BOOST_TEST(updated == 2u);
        events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 3u);
        BOOST_TEST(events[1].rows == 5u);
        BOOST_TEST(events[2].rows == 2u); // affected rows, from the command tag
        BOOST_TEST(events[2].parameters == 2u);
    });
}

BOOST_AUTO_TEST_CASE(slow_statement_duration_covers_its_run)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto db = co_await connect_recorded(log);
        co_await db.execute("SELECT pg_sleep(0.2)");
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 1u);
        BOOST_TEST((events[0].duration >= 200ms));
        BOOST_TEST((events[0].duration < 5s));
    });
}

BOOST_AUTO_TEST_CASE(parameter_values_never_appear_in_the_event)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto db = co_await connect_recorded(log);
        const std::string secret = "s3cr3t-p4ssw0rd";
        auto echoed = co_await db.scalar<std::string>("SELECT $1::text", secret);
        BOOST_TEST(echoed == secret);
        pgcoro::batch b;
        b.add("SELECT length($1::text)", secret);
        co_await db.pipeline(std::move(b));
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 2u);
        for (const recorded& e : events) {
            BOOST_TEST(e.sql.find(secret) == std::string::npos, e.sql);
            BOOST_TEST(e.parameters == 1u);
        }
    });
}

BOOST_AUTO_TEST_CASE(failed_statement_is_reported_with_its_error)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto db = co_await connect_recorded(log);
        co_await test::expect_failure(db.execute("SELECT 1 / $1", std::int32_t{0}),
                                      pgcoro::condition::data_exception);
        // A statement that fails while being prepared is reported once, as failed.
        co_await test::expect_failure(db.execute("SELEC 1"), pgcoro::condition::syntax_error);
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 2u);
        BOOST_TEST(events[0].failed);
        BOOST_TEST((events[0].code.category() == pgcoro::sqlstate_category()));
        BOOST_TEST(pgcoro::sqlstate_from_int(events[0].code.value()) == "22012");
        BOOST_TEST(events[0].what.find("division by zero") != std::string::npos, events[0].what);
        BOOST_TEST(events[0].rows == 0u);
        BOOST_TEST(events[1].failed);
        BOOST_TEST((events[1].code == pgcoro::condition::syntax_error));
        BOOST_TEST(events[1].sql == "SELEC 1");
    });
}

BOOST_AUTO_TEST_CASE(pipeline_reports_one_event_per_statement_with_the_batch_size)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto db = co_await connect_recorded(log);
        co_await db.execute("CREATE TEMP TABLE piped (id int)");
        log.take();
        pgcoro::batch b;
        b.add("INSERT INTO piped SELECT generate_series(1, $1)", std::int32_t{4});
        b.add("SELECT id FROM piped WHERE id > $1", std::int32_t{1});
        b.add("DELETE FROM piped");
        co_await db.pipeline(std::move(b));
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 3u);
        for (const recorded& e : events) {
            BOOST_TEST((e.type == kind::pipeline));
            BOOST_TEST(e.batch_size == 3u);
            BOOST_TEST(!e.failed);
            BOOST_TEST((e.duration == events[0].duration)); // the whole batch's time
        }
        BOOST_TEST(events[0].sql == "INSERT INTO piped SELECT generate_series(1, $1)");
        BOOST_TEST(events[0].rows == 4u);
        BOOST_TEST(events[1].rows == 3u);
        BOOST_TEST(events[1].parameters == 1u);
        BOOST_TEST(events[2].rows == 4u);
        BOOST_TEST(events[2].parameters == 0u);
    });
}

BOOST_AUTO_TEST_CASE(pipeline_reports_each_statements_own_failure)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto db = co_await connect_recorded(log);
        pgcoro::batch independent(pgcoro::batch_mode::independent);
        independent.add("SELECT 1");
        independent.add("SELECT 1 / 0");
        independent.add("SELECT 3");
        co_await test::expect_failure(db.pipeline(std::move(independent)), pgcoro::condition::data_exception);
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 3u);
        BOOST_TEST(!events[0].failed);
        BOOST_TEST(events[1].failed);
        BOOST_TEST((events[1].code == pgcoro::condition::data_exception));
        BOOST_TEST(!events[2].failed); // independent: the third still ran
        BOOST_TEST(events[2].rows == 1u);

        pgcoro::batch atomic(pgcoro::batch_mode::atomic);
        atomic.add("SELECT 1");
        atomic.add("SELECT 1 / 0");
        atomic.add("SELECT 3");
        co_await test::expect_failure(db.pipeline(std::move(atomic)), pgcoro::condition::data_exception);
        events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 3u);
        BOOST_TEST((events[1].code == pgcoro::condition::data_exception));
        BOOST_TEST(events[2].failed);
        BOOST_TEST((events[2].code == client_errc::pipeline_aborted)); // skipped after the failure
    });
}

BOOST_AUTO_TEST_CASE(script_and_copy_are_reported_once_each)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto db = co_await connect_recorded(log);
        const std::string script = "CREATE TEMP TABLE copied (id int); INSERT INTO copied VALUES (1), (2)";
        co_await db.execute_script(script);
        std::uint64_t copied = co_await db.copy_in("COPY copied FROM STDIN", "3\n4\n5\n");
        BOOST_TEST(copied == 3u);
        co_await test::expect_failure(db.copy_in("COPY copied FROM STDIN", "x\n"),
                                      pgcoro::condition::data_exception);
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 3u);
        BOOST_TEST((events[0].type == kind::script));
        BOOST_TEST(events[0].sql == script);
        BOOST_TEST(events[0].rows == 2u); // the last statement's count
        BOOST_TEST((events[1].type == kind::copy));
        BOOST_TEST(events[1].sql == "COPY copied FROM STDIN");
        BOOST_TEST(events[1].rows == 3u);
        BOOST_TEST(!events[1].failed);
        BOOST_TEST((events[2].type == kind::copy));
        BOOST_TEST(events[2].failed);
        BOOST_TEST(events[2].rows == 0u);
    });
}

BOOST_AUTO_TEST_CASE(stream_is_reported_when_it_ends_with_the_rows_it_delivered)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto db = co_await connect_recorded(log);
        {
            auto rows = co_await db.stream<std::int32_t>("SELECT generate_series(1, $1)", std::int32_t{5});
            int seen = 0;
            for (;;) {
                auto row = co_await rows.next();
                if (!row)
                    break;
                ++seen;
                if (seen == 2)
                    BOOST_TEST(log.take().empty()); // not before its end
            }
            BOOST_TEST(seen == 5);
        }
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 1u);
        BOOST_TEST((events[0].type == kind::stream));
        BOOST_TEST(events[0].rows == 5u);
        BOOST_TEST(events[0].parameters == 1u);
        BOOST_TEST(!events[0].failed);

        {
            // Destroyed after two rows: reported as cut off, with the rows it delivered.
            auto rows = co_await db.stream<std::int32_t>("SELECT generate_series(1, 1000000)");
            co_await rows.next();
            co_await rows.next();
        }
        events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 1u);
        BOOST_TEST(events[0].failed);
        BOOST_TEST((events[0].code == client_errc::operation_aborted));
        BOOST_TEST(events[0].rows == 2u);
        // The recovery the next statement runs is not reported; the statement is.
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1);
        events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 1u);
        BOOST_TEST(events[0].sql == "SELECT 1");
    });
}

BOOST_AUTO_TEST_CASE(cancelled_statement_is_reported_as_aborted)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto db = co_await connect_recorded(log);
        auto ex = co_await asio::this_coro::executor;
        asio::cancellation_signal signal;
        bool finished = false;
        asio::co_spawn(ex, db.execute("SELECT pg_sleep(10)"),
                       asio::bind_cancellation_slot(
                           signal.slot(), [&](std::exception_ptr, std::uint64_t) { finished = true; }));
        asio::post(ex, [&] { signal.emit(asio::cancellation_type::terminal); });
        while (!finished)
            co_await test::sleep_for(1ms);
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 1u);
        BOOST_TEST(events[0].failed);
        BOOST_TEST((events[0].code == client_errc::operation_aborted));
    });
}

BOOST_AUTO_TEST_CASE(cut_off_pipeline_reports_every_statement_as_aborted)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto db = co_await connect_recorded(log);
        auto ex = co_await asio::this_coro::executor;
        pgcoro::batch b;
        b.add("SELECT pg_sleep(10)");
        b.add("SELECT 2");
        asio::cancellation_signal signal;
        bool finished = false;
        asio::co_spawn(
            ex, db.pipeline(std::move(b)),
            asio::bind_cancellation_slot(
                signal.slot(), [&](std::exception_ptr, std::vector<pgcoro::result>) { finished = true; }));
        asio::post(ex, [&] { signal.emit(asio::cancellation_type::terminal); });
        while (!finished)
            co_await test::sleep_for(1ms);
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 2u);
        for (const recorded& e : events) {
            BOOST_TEST((e.type == kind::pipeline));
            BOOST_TEST(e.batch_size == 2u);
            BOOST_TEST(e.failed);
            BOOST_TEST((e.code == client_errc::operation_aborted));
        }
        BOOST_TEST(events[1].sql == "SELECT 2");
    });
}

BOOST_AUTO_TEST_CASE(internal_traffic_is_not_reported)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        // A cache of one: every other statement evicts (DEALLOCATE) the previous one.
        auto db = co_await connect_recorded(log, 1);
        co_await db.scalar<std::int32_t>("SELECT 1");
        co_await db.scalar<std::int32_t>("SELECT 2");
        co_await db.scalar<std::int32_t>("SELECT 1");
        co_await db.ping();
        auto events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 3u);
        BOOST_TEST(events[0].sql == "SELECT 1");
        BOOST_TEST(events[1].sql == "SELECT 2");
        BOOST_TEST(events[2].sql == "SELECT 1");
    });
}

BOOST_AUTO_TEST_CASE(pool_passes_the_hook_to_its_connections_and_hides_its_own_traffic)
{
    recorder log;
    test::run([&]() -> asio::awaitable<void> {
        auto options = test::pool_options_for("query_log_pool");
        options.pool_size = 1;
        options.max_overflow = 0;
        options.pre_ping_idle = 0ms; // ping at every checkout
        options.on_query = log.hook();
        pgcoro::pool pool(co_await asio::this_coro::executor, options);
        {
            auto s = co_await pool.session();
            auto tx = co_await s.begin();
            co_await tx.execute("SELECT $1::int", std::int32_t{1});
            co_await tx.commit();
            // Left in a transaction: the pool's reset rolls it back.
            co_await s.get_connection().execute_script("BEGIN");
        }
        co_await test::wait_returned(pool);
        {
            auto s = co_await pool.session(); // pre-pinged
            BOOST_TEST((s.get_connection().transaction() == pgcoro::transaction_status::idle));
        }
        co_await test::wait_returned(pool);
        auto events = log.take();
        std::vector<std::string> sql;
        for (const recorded& e : events)
            sql.push_back(e.sql);
        // A session's transaction control is the user's; the reset's ROLLBACK and the ping
        // are the pool's.
        const std::vector<std::string> expected{"BEGIN", "SELECT $1::int", "COMMIT", "BEGIN"};
        BOOST_TEST(sql == expected, boost::test_tools::per_element());
        BOOST_TEST_REQUIRE(events.size() == 4u);
        BOOST_TEST((events[0].type == kind::script));
        BOOST_TEST((events[1].type == kind::statement));
        BOOST_TEST(pool.stats().pings >= 1u);
    });
}

BOOST_AUTO_TEST_CASE(throwing_hook_is_logged_and_does_not_break_the_connection)
{
    test::captured_log captured;
    int calls = 0;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::connect_options options;
        options.conninfo = test::dsn();
        options.on_query = [&](const pgcoro::query_event&) {
            ++calls;
            throw std::runtime_error("hook exploded");
        };
        auto db = co_await test::connect(std::move(options));
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 41 + 1") == 42);
        co_await test::expect_failure(db.execute("SELECT 1 / 0"), pgcoro::condition::data_exception);
        pgcoro::batch b;
        b.add("SELECT 1");
        b.add("SELECT 2");
        auto results = co_await db.pipeline(std::move(b));
        BOOST_TEST(results.size() == 2u);
        co_await db.execute_script("CREATE TEMP TABLE hooked (id int)");
        BOOST_TEST(co_await db.copy_in("COPY hooked FROM STDIN", "1\n") == 1u);
        BOOST_TEST(db.is_idle());
    });
    BOOST_TEST(calls == 6);
    BOOST_TEST(captured.warnings_containing("hook exploded") == 6u);
}

BOOST_AUTO_TEST_SUITE_END()
