// Faults the pool must absorb: backends killed by the server, a server outage, leases
// returned in every dirty state, stalled pings, connects that outlive their acquire.

#include "pool_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/types.h>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgcoro::client_errc;
using steady = std::chrono::steady_clock;

namespace {

using test::admin;
using test::env;
using test::settle_sessions;
using test::sleep_for;
using test::wait_returned;

/// Holds n connections at once so the pool opens n, then returns them all.
asio::awaitable<std::vector<int>> warm(pgcoro::pool& pool, int n)
{
    std::vector<pgcoro::lease> held;
    std::vector<int> pids;
    for (int i = 0; i < n; ++i) {
        held.push_back(co_await pool.acquire());
        pids.push_back(held.back()->backend_pid());
    }
    co_return pids;
}

/// The server's start command line (from postmaster.opts), to start it again after a stop.
std::string start_command()
{
    std::ifstream opts(env("PGCORO_TEST_PGDATA") + "/postmaster.opts");
    std::string line;
    std::getline(opts, line);
    auto first_space = line.find(' ');
    std::string args = first_space == std::string::npos ? "" : line.substr(first_space + 1);
    return env("PGCORO_TEST_PG_CTL") + " start -w -t 60 -l " + env("PGCORO_TEST_PGDATA") +
           "/../restart.log -o '" + args + "' >/dev/null 2>&1";
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_fault_tests)

BOOST_AUTO_TEST_CASE(terminated_backends_are_replaced_transparently)
{
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_terminated";
        auto o = test::pool_options_for(tag);
        o.pool_size = 4;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        std::vector<int> pids = co_await warm(pool, 4);
        BOOST_TEST(pool.stats().idle == 4u);

        auto killer = co_await admin();
        for (int pid : pids)
            BOOST_TEST(co_await killer.scalar<bool>("SELECT pg_terminate_backend($1)", pid));
        BOOST_TEST(co_await settle_sessions(tag, 0) == 0);

        // Every acquire now meets a dead connection first; none may surface an error.
        std::vector<pgcoro::lease> held;
        for (int i = 0; i < 4; ++i) {
            held.push_back(co_await pool.acquire());
            BOOST_TEST(co_await held.back()->scalar<std::int32_t>("SELECT $1::int4", i) == i);
            for (int pid : pids)
                BOOST_TEST(held.back()->backend_pid() != pid);
        }
        auto stats = pool.stats();
        BOOST_TEST(stats.closed_broken + stats.closed_stale == 4u);
        BOOST_TEST(stats.ping_failures >= 1u);
        BOOST_TEST(stats.generation >= 1u);
        BOOST_TEST(stats.size == 4u);
        held.clear();
        BOOST_TEST(co_await settle_sessions(tag, 4) == 4);
    });
}

BOOST_AUTO_TEST_CASE(connection_killed_while_leased_is_discarded_on_return)
{
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_killed_leased";
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_options_for(tag));
        {
            auto db = co_await pool.acquire();
            auto killer = co_await admin();
            co_await killer.execute("SELECT pg_terminate_backend($1)", db->backend_pid());
            co_await test::expect_failure(db->scalar<std::int32_t>("SELECT 1"), client_errc::connection_lost);
        }
        co_await wait_returned(pool);
        auto stats = pool.stats();
        BOOST_TEST(stats.size == 0u);
        BOOST_TEST(stats.closed_broken == 1u);
        BOOST_TEST(stats.generation == 1u); // a disconnect invalidates older connections
        auto db = co_await pool.acquire();
        BOOST_TEST(co_await db->scalar<std::int32_t>("SELECT 7") == 7);
    });
}

BOOST_AUTO_TEST_CASE(lease_returned_in_transaction_is_rolled_back_before_reuse)
{
    test::run([]() -> asio::awaitable<void> {
        auto o = test::pool_options_for("pool_reset_tx");
        o.pool_size = 1;
        o.max_overflow = 0;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        {
            auto setup = co_await pool.acquire();
            co_await setup->execute_script("CREATE TEMP TABLE pool_reset_rows (id int)");
        }
        int pid = 0;
        {
            auto db = co_await pool.acquire();
            pid = db->backend_pid();
            co_await db->execute_script("BEGIN");
            co_await db->execute("INSERT INTO pool_reset_rows VALUES (1)");
            BOOST_TEST((db->transaction() == pgcoro::transaction_status::in_transaction));
        }
        auto next = co_await pool.acquire();
        BOOST_TEST(next->backend_pid() == pid); // the same connection, reset
        BOOST_TEST((next->transaction() == pgcoro::transaction_status::idle));
        BOOST_TEST(co_await next->scalar<std::int64_t>("SELECT count(*) FROM pool_reset_rows") == 0);
        BOOST_TEST(pool.stats().resets == 1u);
    });
}

BOOST_AUTO_TEST_CASE(lease_returned_in_failed_transaction_is_rolled_back_before_reuse)
{
    test::run([]() -> asio::awaitable<void> {
        auto o = test::pool_options_for("pool_reset_failed_tx");
        o.pool_size = 1;
        o.max_overflow = 0;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        {
            auto db = co_await pool.acquire();
            co_await db->execute_script("BEGIN");
            std::string sqlstate;
            try {
                co_await db->execute("SELECT 1/0");
            } catch (const pgcoro::error& e) {
                sqlstate = e.sqlstate();
            }
            BOOST_TEST(sqlstate == "22012");
            BOOST_TEST((db->transaction() == pgcoro::transaction_status::in_error));
        }
        auto next = co_await pool.acquire();
        BOOST_TEST((next->transaction() == pgcoro::transaction_status::idle));
        BOOST_TEST(co_await next->scalar<std::int32_t>("SELECT 5") == 5);
    });
}

BOOST_AUTO_TEST_CASE(lease_returned_during_a_running_query_is_cancelled_drained_and_rolled_back)
{
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_reset_running";
        auto o = test::pool_options_for(tag);
        o.pool_size = 1;
        o.max_overflow = 0;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        auto ex = co_await asio::this_coro::executor;
        {
            auto setup = co_await pool.acquire();
            co_await setup->execute_script("CREATE TEMP TABLE pool_running_rows (id int)");
        }
        int pid = 0;
        auto busy = [&pool, &pid]() -> asio::awaitable<void> {
            auto db = co_await pool.acquire();
            pid = db->backend_pid();
            co_await db->execute_script("BEGIN");
            co_await db->execute("INSERT INTO pool_running_rows VALUES (1)");
            co_await db->execute("SELECT pg_sleep(10)");
        };
        asio::steady_timer timer(ex, 300ms);
        auto start = steady::now();
        auto outcome = co_await asio::experimental::make_parallel_group(
                           asio::co_spawn(ex, busy(), asio::deferred), timer.async_wait(asio::deferred))
                           .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        BOOST_TEST(std::get<0>(outcome)[0] == 1u); // the timer won; the lease ended mid-query

        auto next = co_await pool.acquire();
        BOOST_TEST((steady::now() - start < 3s)); // cancelled on the server, not waited out
        BOOST_TEST(next->backend_pid() == pid);
        BOOST_TEST((next->transaction() == pgcoro::transaction_status::idle));
        BOOST_TEST(co_await next->scalar<std::int64_t>("SELECT count(*) FROM pool_running_rows") == 0);
        auto observer = co_await test::connect();
        std::string state =
            co_await observer.scalar<std::string>("SELECT state FROM pg_stat_activity WHERE pid = $1", pid);
        BOOST_TEST(state == "idle"); // not "idle in transaction", not still sleeping
    });
}

BOOST_AUTO_TEST_CASE(reset_mode_close_closes_dirty_connections_instead)
{
    test::run([]() -> asio::awaitable<void> {
        auto o = test::pool_options_for("pool_reset_close");
        o.reset_on_return = pgcoro::reset_mode::close;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        int pid = 0;
        {
            auto db = co_await pool.acquire();
            pid = db->backend_pid();
            co_await db->execute_script("BEGIN");
        }
        co_await wait_returned(pool);
        BOOST_TEST(pool.stats().closed_reset_failed == 1u);
        auto next = co_await pool.acquire();
        BOOST_TEST(next->backend_pid() != pid);
    });
}

BOOST_AUTO_TEST_CASE(reset_mode_full_undoes_session_settings)
{
    test::run([]() -> asio::awaitable<void> {
        auto o = test::pool_options_for("pool_reset_full");
        o.pool_size = 1;
        o.max_overflow = 0;
        o.reset_on_return = pgcoro::reset_mode::full;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        {
            auto db = co_await pool.acquire();
            co_await db->execute_script("SET statement_timeout = '1234s'; SELECT pg_advisory_lock(4242)");
            BOOST_TEST(co_await db->scalar<std::string>("SHOW statement_timeout") == "1234s");
        }
        co_await wait_returned(pool);
        auto next = co_await pool.acquire();
        BOOST_TEST(co_await next->scalar<std::string>("SHOW statement_timeout") == "0");
        BOOST_TEST(co_await next->scalar<std::int64_t>("SELECT count(*) FROM pg_locks WHERE locktype = "
                                                       "'advisory' AND pid = pg_backend_pid()") == 0);
        BOOST_TEST(next->prepared_statements() > 0u); // the statement cache survives
    });
}

BOOST_AUTO_TEST_CASE(stalled_ping_is_bounded_and_the_connection_replaced)
{
    test::run([]() -> asio::awaitable<void> {
        auto o = test::pool_options_for("pool_stalled_ping");
        o.pool_size = 1;
        o.pre_ping_idle = 0ms; // ping every checkout
        o.ping_timeout = 300ms;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        int pid = 0;
        {
            auto db = co_await pool.acquire();
            pid = db->backend_pid();
        }
        // A stopped backend accepts the ping's bytes and never answers.
        if (::kill(pid, SIGSTOP) != 0) {
            BOOST_TEST_MESSAGE("cannot stop the backend (not root?): stalled ping test skipped");
            co_return;
        }
        auto start = steady::now();
        std::optional<pgcoro::lease> db;
        try {
            db.emplace(co_await pool.acquire());
        } catch (...) {
            ::kill(pid, SIGCONT);
            throw;
        }
        auto waited = steady::now() - start;
        ::kill(pid, SIGCONT);
        BOOST_TEST((waited >= 290ms && waited < 2s));
        BOOST_TEST((*db)->backend_pid() != pid);
        BOOST_TEST(co_await (*db)->scalar<std::int32_t>("SELECT 8") == 8);
        BOOST_TEST(pool.stats().ping_failures == 1u);
        BOOST_TEST(pool.stats().generation == 0u); // slow is not a disconnect
        auto killer = co_await admin();
        co_await killer.execute("SELECT pg_terminate_backend($1)", pid);
    });
}

BOOST_AUTO_TEST_CASE(cancelled_acquire_does_not_cancel_its_connect)
{
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_cancel_connect";
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_options_for(tag));
        auto ex = co_await asio::this_coro::executor;
        // Cancel the very first acquire almost at once: its connect is still in flight.
        asio::steady_timer timer(ex, 1ms);
        auto outcome =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(ex, pool.acquire(), asio::deferred), timer.async_wait(asio::deferred))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        BOOST_TEST(std::get<0>(outcome)[0] == 1u);
        BOOST_TEST(pool.stats().cancelled_waits == 1u);
        for (int i = 0; i < 200 && pool.stats().idle == 0; ++i)
            co_await sleep_for(10ms);
        auto stats = pool.stats();
        BOOST_TEST(stats.idle == 1u); // the connect finished and joined the pool
        BOOST_TEST(stats.created == 1u);
        BOOST_TEST(stats.checked_out == 0u);
        auto db = co_await pool.acquire();
        BOOST_TEST(pool.stats().created == 1u); // and serves the next acquire
    });
}

BOOST_AUTO_TEST_CASE(server_outage_gives_bounded_errors_and_the_pool_recovers)
{
    if (env("PGCORO_TEST_PG_CTL").empty() || env("PGCORO_TEST_PGDATA").empty()) {
        BOOST_TEST_MESSAGE("PGCORO_TEST_PG_CTL not set (external server): outage test skipped");
        return;
    }
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_outage";
        auto o = test::pool_options_for(tag);
        o.pool_size = 4;
        o.max_overflow = 2;
        o.pool_timeout = 1s;
        o.connect_timeout = 1s;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        co_await warm(pool, 4);

        std::atomic<int> phase{0}; // 0 before the stop, 1 down, 2 restarted
        struct tally {
            int ok = 0;
            int errors_down = 0;
            int errors_after = 0;
            steady::duration slowest{};
            std::vector<std::string> after_messages;
        } counts;
        bool stop_load = false;
        auto worker = [&]() -> asio::awaitable<void> {
            while (!stop_load) {
                auto began = steady::now();
                int seen_phase = phase.load();
                try {
                    auto db = co_await pool.acquire();
                    co_await db->scalar<std::int32_t>("SELECT 1");
                    ++counts.ok;
                } catch (const pgcoro::error& e) {
                    if (seen_phase == 2 && phase.load() == 2)
                        counts.after_messages.push_back(e.what());
                    (seen_phase == 2 ? counts.errors_after : counts.errors_down)++;
                }
                counts.slowest = std::max(counts.slowest, steady::now() - began);
                co_await sleep_for(5ms);
            }
        };
        auto ex = co_await asio::this_coro::executor;
        for (int i = 0; i < 6; ++i)
            asio::co_spawn(ex, worker(), asio::detached);

        co_await sleep_for(300ms);
        std::string stop = env("PGCORO_TEST_PG_CTL") + " stop -m fast -w -t 60 >/dev/null 2>&1";
        std::string start = start_command();
        std::thread outage([&] {
            BOOST_REQUIRE(std::system(stop.c_str()) == 0);
            phase = 1;
            std::this_thread::sleep_for(2s);
            BOOST_REQUIRE(std::system(start.c_str()) == 0);
            phase = 2;
        });
        while (phase.load() != 2)
            co_await sleep_for(20ms);
        outage.join();
        int ok_before_after = counts.ok;
        co_await sleep_for(1500ms);
        stop_load = true;
        co_await sleep_for(200ms);
        co_await wait_returned(pool);

        BOOST_TEST_INFO("first error after the restart: "
                        << (counts.after_messages.empty() ? "" : counts.after_messages.front()));
        BOOST_TEST(counts.errors_after == 0);
        BOOST_TEST(counts.errors_down > 0);    // the outage was seen...
        BOOST_TEST((counts.slowest < 2500ms)); // ...and no call hung beyond pool_timeout
        BOOST_TEST(counts.ok > ok_before_after + 50);
        auto stats = pool.stats();
        BOOST_TEST(stats.size <= 6u);
        BOOST_TEST(stats.waiting == 0u);
        BOOST_TEST(co_await settle_sessions(tag, static_cast<std::int64_t>(stats.size)) ==
                   static_cast<std::int64_t>(stats.size));
    });
}

BOOST_AUTO_TEST_CASE(black_holed_server_bounds_every_acquire_by_pool_timeout)
{
    // A listener whose kernel accepts the TCP connection but which never answers the
    // startup packet: each connect hangs until connect_timeout, and acquires must give up
    // at pool_timeout with that reason, however many are queued.
    asio::io_context listener_io;
    asio::ip::tcp::acceptor listener(listener_io, {asio::ip::make_address("127.0.0.1"), 0});
    const unsigned short port = listener.local_endpoint().port();
    test::run([port]() -> asio::awaitable<void> {
        pgcoro::pool_options o;
        o.conninfo = "host=127.0.0.1 port=" + std::to_string(port) + " user=u dbname=d";
        o.pool_timeout = 600ms;
        o.connect_timeout = 250ms;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        auto ex = co_await asio::this_coro::executor;
        int failures = 0;
        steady::duration slowest{};
        auto one = [&]() -> asio::awaitable<void> {
            auto began = steady::now();
            try {
                auto db = co_await pool.acquire();
            } catch (const pgcoro::error& e) {
                if (e.code() == client_errc::pool_timeout &&
                    std::string(e.what()).find("timeout") != std::string::npos)
                    ++failures;
            }
            slowest = std::max(slowest, steady::now() - began);
        };
        for (int i = 0; i < 5; ++i)
            asio::co_spawn(ex, one(), asio::detached);
        co_await sleep_for(1500ms);
        BOOST_TEST(failures == 5);
        BOOST_TEST((slowest < 1200ms));
        BOOST_TEST(pool.stats().waiting == 0u);
        BOOST_TEST(pool.stats().connect_failures >= 2u);
        co_await pool.close(2s); // waits for the connects still in flight (bounded by connect_timeout)
        BOOST_TEST(pool.stats().connecting == 0u);
    });
}

BOOST_AUTO_TEST_SUITE_END()
