// Faults the connection must survive or report cleanly: server restarts, server-side
// timeouts, sessions the server closes, and very large pipelines.

#include "support.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdlib>
#include <thread>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgcoro::client_errc;

namespace {

/// The command that controls the test server (set by ./dev), empty for an external server.
std::string pg_ctl()
{
    const char* value = std::getenv("PGCORO_TEST_PG_CTL");
    return value ? value : "";
}

void restart_server()
{
    std::string command = pg_ctl() + " restart -m fast -w -t 60 >/dev/null 2>&1";
    BOOST_REQUIRE_MESSAGE(std::system(command.c_str()) == 0, "pg_ctl restart failed");
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

} // namespace

BOOST_AUTO_TEST_SUITE(fault_tests)

BOOST_AUTO_TEST_CASE(server_restart_fails_open_connections_cleanly_and_new_ones_work)
{
    if (pg_ctl().empty()) {
        BOOST_TEST_MESSAGE("PGCORO_TEST_PG_CTL not set (external server): restart test skipped");
        return;
    }
    test::run([]() -> asio::awaitable<void> {
        auto idle = co_await test::connect();
        BOOST_TEST(co_await idle.scalar<std::int32_t>("SELECT 1") == 1);
        restart_server(); // blocks this thread; the connection is idle meanwhile
        auto start = std::chrono::steady_clock::now();
        co_await test::expect_failure(idle.scalar<std::int32_t>("SELECT 1"), client_errc::connection_lost);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
        BOOST_TEST(!idle.is_open());
        auto fresh = co_await test::connect();
        BOOST_TEST(co_await fresh.scalar<std::int32_t>("SELECT 2") == 2);
    });
}

BOOST_AUTO_TEST_CASE(server_restart_during_a_query_reports_connection_lost)
{
    if (pg_ctl().empty())
        return;
    test::run([]() -> asio::awaitable<void> {
        auto busy = co_await test::connect();
        // The restart runs on another thread while this one waits for the query.
        std::thread restarter([] {
            std::this_thread::sleep_for(300ms);
            restart_server();
        });
        auto start = std::chrono::steady_clock::now();
        auto e =
            co_await test::expect_failure(busy.execute("SELECT pg_sleep(30)"), client_errc::connection_lost);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 10s));
        BOOST_TEST(pgcoro::is_fatal(e.code()));
        restarter.join();
        auto fresh = co_await test::connect();
        BOOST_TEST(co_await fresh.scalar<std::int32_t>("SELECT 3") == 3);
    });
}

BOOST_AUTO_TEST_CASE(server_side_statement_timeout_is_a_clean_query_canceled)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute("SET statement_timeout = '100ms'");
        auto e = co_await test::expect_failure(db.execute("SELECT pg_sleep(5)"),
                                               pgcoro::condition::query_canceled);
        BOOST_TEST(e.sqlstate() == "57014");
        BOOST_TEST(!pgcoro::is_fatal(e.code()));
        BOOST_TEST(db.is_open());
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 4") == 4);
    });
}

BOOST_AUTO_TEST_CASE(session_closed_by_idle_session_timeout_is_reported_as_lost)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute("SET idle_session_timeout = '200ms'");
        co_await sleep_for(600ms);
        co_await test::expect_failure(db.scalar<std::int32_t>("SELECT 1"), client_errc::connection_lost);
        BOOST_TEST(!db.is_open());
    });
}

BOOST_AUTO_TEST_CASE(twenty_thousand_statement_pipeline_does_not_deadlock)
{
    // Far more than fits in the socket buffers in either direction: sending must keep
    // reading, or client and server block on each other.
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE big_pipeline (id int, payload text)");
        const std::string payload(200, 'p');
        pgcoro::batch b;
        for (std::int32_t i = 0; i < 20'000; ++i)
            b.add("INSERT INTO big_pipeline VALUES ($1, $2) RETURNING payload", i, payload);
        auto results = co_await db.pipeline(std::move(b));
        BOOST_TEST(results.size() == 20'000u);
        BOOST_TEST(results.back().get<std::string>(0, 0) == payload);
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT count(*) FROM big_pipeline") == 20'000);
    });
}

BOOST_AUTO_TEST_CASE(close_while_a_query_runs_fails_that_query_promptly)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto ex = co_await asio::this_coro::executor;
        asio::co_spawn(
            ex,
            [&db]() -> asio::awaitable<void> {
                co_await sleep_for(100ms);
                db.close(); // from another coroutine, while the query waits for the server
            },
            asio::detached);
        auto start = std::chrono::steady_clock::now();
        co_await test::expect_failure(db.execute("SELECT pg_sleep(10)"), client_errc::connection_closed);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
        BOOST_TEST(!db.is_open());
        co_await test::expect_failure(db.scalar<std::int32_t>("SELECT 1"), client_errc::connection_closed);
    });
}

BOOST_AUTO_TEST_CASE(cancellation_at_any_point_leaves_a_usable_idle_connection)
{
    // Cancels operations after delays from 0 to ~2 ms, so the cancellation lands at every
    // stage: before sending, while preparing, while waiting, mid-result, mid-pipeline. After
    // each, the next statement must run on the same connection and find it idle.
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto ex = co_await asio::this_coro::executor;
        co_await db.execute_script("CREATE TEMP TABLE cancel_points (id int)");

        // A named lambda: it must outlive the coroutines it creates (a temporary closure
        // would be destroyed while its coroutine still runs).
        auto operation = [&db](int i) -> asio::awaitable<void> {
            switch (i % 4) {
            case 0: { // a new statement each time: the prepare path
                const std::string sql = "SELECT $1::int4 + " + std::to_string(i);
                co_await db.scalar<std::int32_t>(sql, std::int32_t{1});
                break;
            }
            case 1: {
                auto rows = co_await db.stream<std::int32_t>("SELECT generate_series(1, 20000)");
                while (co_await rows.next()) {
                }
                break;
            }
            case 2: {
                pgcoro::batch b(i % 8 == 2 ? pgcoro::batch_mode::atomic : pgcoro::batch_mode::independent);
                for (int k = 0; k < 50; ++k)
                    b.add("INSERT INTO cancel_points VALUES ($1)", std::int32_t{k});
                co_await db.pipeline(std::move(b));
                break;
            }
            default:
                co_await db.execute("SELECT pg_sleep(0.002)");
            }
        };

        int aborted = 0, completed = 0;
        for (int i = 0; i < 120; ++i) {
            const auto delay = std::chrono::microseconds((i * 37) % 2000);
            asio::steady_timer timer(ex, delay);
            auto outcome =
                co_await asio::experimental::make_parallel_group(
                    asio::co_spawn(ex, operation(i), asio::deferred), timer.async_wait(asio::deferred))
                    .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
            if (auto failure = std::get<1>(outcome)) {
                ++aborted;
                try {
                    std::rethrow_exception(failure);
                } catch (const pgcoro::error& e) {
                    BOOST_TEST((e.code() == client_errc::operation_aborted),
                               "iteration " << i << ": " << e.what());
                }
            } else {
                ++completed;
            }
            BOOST_TEST_CONTEXT("iteration " << i << ", delay " << delay.count() << " us")
            {
                BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT $1::int4", std::int32_t{i}) == i);
                BOOST_TEST((db.transaction() == pgcoro::transaction_status::idle));
                BOOST_TEST(db.is_open());
            }
        }
        BOOST_TEST_MESSAGE("cancelled " << aborted << ", completed " << completed);
        BOOST_TEST(aborted > 10); // the test only means something if many were cut off
        BOOST_TEST(completed > 10);
    });
}

BOOST_AUTO_TEST_SUITE_END()
