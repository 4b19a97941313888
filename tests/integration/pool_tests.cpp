// The pool against the real server: reuse, limits, timeouts, reset on return, hooks,
// recycling and close.

#include "pool_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgcoro::client_errc;

namespace {

using test::server_sessions;
using test::settle_sessions;
using test::sleep_for;

} // namespace

BOOST_AUTO_TEST_SUITE(pool_tests)

BOOST_AUTO_TEST_CASE(acquire_returns_a_working_connection_and_reuses_it)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_options_for("pool_reuse"));
        int first_pid = 0;
        {
            auto db = co_await pool.acquire();
            BOOST_TEST(co_await db->scalar<std::int32_t>("SELECT 41 + 1") == 42);
            first_pid = db->backend_pid();
            BOOST_TEST(pool.stats().checked_out == 1u);
        }
        auto stats = pool.stats();
        BOOST_TEST(stats.idle == 1u);
        BOOST_TEST(stats.checked_out == 0u);
        auto again = co_await pool.acquire();
        BOOST_TEST(again->backend_pid() == first_pid);
        BOOST_TEST(pool.stats().created == 1u);
        BOOST_TEST(pool.stats().acquires == 2u);
    });
}

BOOST_AUTO_TEST_CASE(invalid_options_are_rejected_naming_the_option)
{
    asio::io_context io;
    auto expect_invalid = [&](pgcoro::pool_options o, const std::string& name) {
        auto e = test::expect_error([&] { pgcoro::pool pool(io.get_executor(), std::move(o)); },
                                    client_errc::invalid_argument);
        BOOST_TEST_INFO("message: " << e.what());
        BOOST_TEST(std::string(e.what()).find("pool_options." + name) != std::string::npos);
    };
    auto base = [] {
        pgcoro::pool_options o;
        o.conninfo = test::dsn();
        return o;
    };
    auto o = base();
    o.max_overflow = -2;
    expect_invalid(o, "max_overflow");
    o = base();
    o.pool_timeout = -1ms;
    expect_invalid(o, "pool_timeout");
    o = base();
    o.min_idle = 6;
    expect_invalid(o, "min_idle");
    o = base();
    o.pool_recycle_jitter = 0.9;
    expect_invalid(o, "pool_recycle_jitter");
    o = base();
    o.connect_timeout = 0ms;
    expect_invalid(o, "connect_timeout");
    o = base();
    o.max_connecting = 0;
    expect_invalid(o, "max_connecting");
    o = base();
    o.conninfo = "host='unterminated password=hunter2";
    expect_invalid(o, "conninfo");
    o = base();
    o.conninfo = "postgresql://user:hunter2@[::1";
    try {
        pgcoro::pool pool(io.get_executor(), o);
        BOOST_FAIL("a malformed URL was accepted");
    } catch (const pgcoro::error& e) {
        BOOST_TEST(std::string(e.what()).find("hunter2") == std::string::npos);
    }
}

BOOST_AUTO_TEST_CASE(exhausted_pool_times_out_with_a_descriptive_error_and_closes_overflow_on_return)
{
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_exhaust";
        auto o = test::pool_options_for(tag);
        o.pool_size = 2;
        o.max_overflow = 1;
        o.pool_timeout = 400ms;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        std::vector<pgcoro::lease> held;
        for (int i = 0; i < 3; ++i)
            held.push_back(co_await pool.acquire());
        BOOST_TEST(pool.stats().overflow == 1u);
        BOOST_TEST(co_await server_sessions(tag) == 3);

        auto start = std::chrono::steady_clock::now();
        auto e = co_await test::expect_failure(pool.acquire(), client_errc::pool_timeout);
        auto waited = std::chrono::steady_clock::now() - start;
        BOOST_TEST((waited >= 390ms && waited < 1500ms));
        std::string text = e.what();
        BOOST_TEST_INFO("message: " << text);
        BOOST_TEST(text.find("size 2 overflow 1 reached") != std::string::npos);
        BOOST_TEST(text.find("checked out 3") != std::string::npos);
        BOOST_TEST(text.find("timeout 0.40 s") != std::string::npos);
        BOOST_TEST(pool.stats().timeouts == 1u);

        held.clear(); // the third return finds pool_size idle: closed
        auto stats = pool.stats();
        BOOST_TEST(stats.idle == 2u);
        BOOST_TEST(stats.size == 2u);
        BOOST_TEST(stats.closed_surplus == 1u);
        BOOST_TEST(co_await settle_sessions(tag, 2) == 2);
    });
}

BOOST_AUTO_TEST_CASE(waiter_gets_the_connection_returned_by_another_coroutine)
{
    test::run([]() -> asio::awaitable<void> {
        auto o = test::pool_options_for("pool_handoff");
        o.pool_size = 1;
        o.max_overflow = 0;
        o.pool_timeout = 5s;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        auto first = co_await pool.acquire();
        int pid = first->backend_pid();
        auto ex = co_await asio::this_coro::executor;
        asio::co_spawn(
            ex,
            [held = std::move(first)]() mutable -> asio::awaitable<void> {
                co_await sleep_for(100ms);
                held.release();
            },
            asio::detached);
        auto second = co_await pool.acquire();
        BOOST_TEST(second->backend_pid() == pid);
        // Both acquires queued: the first for the pool's first connect, the second for the
        // handoff. One connection served both.
        BOOST_TEST(pool.stats().waits == 2u);
        BOOST_TEST(pool.stats().created == 1u);
    });
}

BOOST_AUTO_TEST_CASE(recycled_connection_is_replaced_at_checkout)
{
    test::run([]() -> asio::awaitable<void> {
        auto o = test::pool_options_for("pool_recycle");
        o.pool_recycle = 300ms;
        o.pool_recycle_jitter = 0;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        int pid = 0;
        {
            auto db = co_await pool.acquire();
            pid = db->backend_pid();
        }
        {
            auto db = co_await pool.acquire();
            BOOST_TEST(db->backend_pid() == pid); // young enough
        }
        co_await sleep_for(400ms);
        auto db = co_await pool.acquire();
        BOOST_TEST(db->backend_pid() != pid);
        BOOST_TEST(pool.stats().closed_recycled == 1u);
    });
}

BOOST_AUTO_TEST_CASE(idle_timeout_closes_idle_connections_but_keeps_min_idle)
{
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_idle_timeout";
        auto o = test::pool_options_for(tag);
        o.pool_size = 4;
        o.min_idle = 1;
        o.idle_timeout = 200ms;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        {
            std::vector<pgcoro::lease> held;
            for (int i = 0; i < 3; ++i)
                held.push_back(co_await pool.acquire());
        }
        // Three, or four when min_idle's own connect finished after the acquires were served.
        BOOST_TEST(pool.stats().idle >= 3u);
        co_await sleep_for(700ms);
        auto stats = pool.stats();
        BOOST_TEST(stats.idle == 1u);
        BOOST_TEST(stats.created >= 3u); // min_idle's own connect may have added one
        BOOST_TEST(stats.closed_idle_timeout == stats.created - 1);
        BOOST_TEST(co_await settle_sessions(tag, 1) == 1);
        co_await pool.close(1s);
    });
}

BOOST_AUTO_TEST_CASE(min_idle_connections_are_opened_in_the_background)
{
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_min_idle";
        auto o = test::pool_options_for(tag);
        o.min_idle = 2;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        for (int i = 0; i < 200 && pool.stats().idle < 2; ++i)
            co_await sleep_for(10ms);
        BOOST_TEST(pool.stats().idle == 2u);
        BOOST_TEST(pool.stats().acquires == 0u);
        {
            auto db = co_await pool.acquire(); // takes one; the pool tops up behind it
            for (int i = 0; i < 200 && pool.stats().idle < 2; ++i)
                co_await sleep_for(10ms);
            BOOST_TEST(pool.stats().idle == 2u);
        }
        BOOST_TEST(co_await settle_sessions(tag, 3) == 3);
        co_await pool.close(1s);
    });
}

BOOST_AUTO_TEST_CASE(max_uses_retires_a_connection_after_that_many_checkouts)
{
    test::run([]() -> asio::awaitable<void> {
        auto o = test::pool_options_for("pool_max_uses");
        o.max_uses = 3;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        std::vector<int> pids;
        for (int i = 0; i < 4; ++i) {
            auto db = co_await pool.acquire();
            pids.push_back(db->backend_pid());
        }
        BOOST_TEST(pids[0] == pids[1]);
        BOOST_TEST(pids[1] == pids[2]);
        BOOST_TEST(pids[3] != pids[2]);
        BOOST_TEST(pool.stats().closed_max_uses == 1u);
    });
}

BOOST_AUTO_TEST_CASE(hooks_run_per_connection_per_checkout_and_per_checkin)
{
    test::run([]() -> asio::awaitable<void> {
        int connects = 0, checkouts = 0, checkins = 0;
        auto o = test::pool_options_for("pool_hooks");
        o.hooks.on_connect = [&](pgcoro::connection& c) -> asio::awaitable<void> {
            ++connects;
            co_await c.execute_script("SET search_path TO pg_catalog, public");
        };
        o.hooks.on_checkout = [&](pgcoro::connection&) -> asio::awaitable<void> {
            ++checkouts;
            co_return;
        };
        o.hooks.on_checkin = [&](pgcoro::connection&) -> asio::awaitable<void> {
            ++checkins;
            co_return;
        };
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        for (int i = 0; i < 3; ++i) {
            {
                auto db = co_await pool.acquire();
                BOOST_TEST(co_await db->scalar<std::string>("SHOW search_path") == "pg_catalog, public");
            }
            // The checkin hook runs on the return path, in the background; an acquire
            // meanwhile would (rightly) open a second connection.
            for (int wait = 0; wait < 100 && pool.stats().checked_out != 0; ++wait)
                co_await sleep_for(5ms);
        }
        BOOST_TEST(connects == 1);
        BOOST_TEST(checkouts == 3);
        BOOST_TEST(checkins == 3);
    });
}

BOOST_AUTO_TEST_CASE(failing_checkout_hook_fails_the_acquire_and_discards_the_connection)
{
    test::run([]() -> asio::awaitable<void> {
        auto o = test::pool_options_for("pool_hook_fails");
        bool fail = true;
        o.hooks.on_checkout = [&](pgcoro::connection& c) -> asio::awaitable<void> {
            if (fail)
                co_await c.execute("SELECT 1/0");
        };
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        std::string sqlstate;
        try {
            auto db = co_await pool.acquire();
        } catch (const pgcoro::error& e) {
            sqlstate = e.sqlstate();
        }
        BOOST_TEST(sqlstate == "22012");
        BOOST_TEST(pool.stats().closed_hook_failed == 1u);
        BOOST_TEST(pool.stats().size == 0u);
        fail = false;
        auto db = co_await pool.acquire();
        BOOST_TEST(co_await db->scalar<std::int32_t>("SELECT 3") == 3);
    });
}

BOOST_AUTO_TEST_CASE(expire_replaces_idle_connections_lazily)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_options_for("pool_expire"));
        int pid = 0;
        {
            auto db = co_await pool.acquire();
            pid = db->backend_pid();
            pool.expire(); // a leased connection is not interrupted...
            BOOST_TEST(co_await db->scalar<std::int32_t>("SELECT 1") == 1);
        }
        BOOST_TEST(pool.stats().closed_stale == 1u); // ...but closed on return
        auto db = co_await pool.acquire();
        BOOST_TEST(db->backend_pid() != pid);
    });
}

BOOST_AUTO_TEST_CASE(close_waits_for_leases_then_refuses_acquires)
{
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_close";
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_options_for(tag));
        auto ex = co_await asio::this_coro::executor;
        auto idle = co_await pool.acquire();
        auto busy = co_await pool.acquire();
        idle.release();
        asio::co_spawn(
            ex,
            [held = std::move(busy)]() mutable -> asio::awaitable<void> {
                co_await sleep_for(200ms);
                held.release();
            },
            asio::detached);
        auto start = std::chrono::steady_clock::now();
        co_await pool.close(5s);
        auto waited = std::chrono::steady_clock::now() - start;
        BOOST_TEST((waited >= 190ms && waited < 2s));
        BOOST_TEST(pool.stats().size == 0u);
        BOOST_TEST(pool.stats().closed_pool_closed == 2u);
        co_await test::expect_failure(pool.acquire(), client_errc::pool_closed);
        BOOST_TEST(co_await settle_sessions(tag, 0) == 0);
        co_await pool.close(1s); // idempotent
    });
}

BOOST_AUTO_TEST_CASE(close_gives_up_waiting_after_its_timeout)
{
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_close_timeout";
        pgcoro::pool pool(co_await asio::this_coro::executor, test::pool_options_for(tag));
        auto held = co_await pool.acquire();
        auto start = std::chrono::steady_clock::now();
        co_await pool.close(200ms);
        auto waited = std::chrono::steady_clock::now() - start;
        BOOST_TEST((waited >= 190ms && waited < 1s));
        BOOST_TEST(co_await held->scalar<std::int32_t>("SELECT 2") == 2); // still usable
        held.release();                                                   // and closed on return
        BOOST_TEST(co_await settle_sessions(tag, 0) == 0);
    });
}

BOOST_AUTO_TEST_CASE(lease_outlives_its_pool_object)
{
    test::run([]() -> asio::awaitable<void> {
        const std::string tag = "pool_outlived";
        std::optional<pgcoro::pool> pool;
        pool.emplace(co_await asio::this_coro::executor, test::pool_options_for(tag));
        auto held = co_await pool->acquire();
        pool.reset();
        BOOST_TEST(co_await held->scalar<std::int32_t>("SELECT 6") == 6);
        held.release();
        BOOST_TEST(co_await settle_sessions(tag, 0) == 0);
    });
}

BOOST_AUTO_TEST_CASE(unreachable_server_times_out_naming_the_last_connect_error)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool_options o;
        o.conninfo = "host=127.0.0.1 port=1 user=nobody dbname=nothing password=hunter2";
        o.pool_timeout = 500ms;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        auto start = std::chrono::steady_clock::now();
        auto e = co_await test::expect_failure(pool.acquire(), client_errc::pool_timeout);
        auto waited = std::chrono::steady_clock::now() - start;
        BOOST_TEST((waited >= 490ms && waited < 2s));
        std::string text = e.what();
        BOOST_TEST_INFO("message: " << text);
        BOOST_TEST(text.find("last connect error") != std::string::npos);
        BOOST_TEST(text.find("refused") != std::string::npos);
        BOOST_TEST(text.find("hunter2") == std::string::npos);
        BOOST_TEST(pool.stats().connect_failures >= 2u); // retried with backoff meanwhile
        BOOST_TEST(pool.stats().size == 0u);
    });
}

BOOST_AUTO_TEST_CASE(wrong_password_fails_the_acquire_at_once)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool_options o;
        std::string dsn = test::dsn();
        auto at = dsn.find('@');
        auto colon = dsn.rfind(':', at);
        if (dsn.find("://") == std::string::npos || at == std::string::npos) {
            BOOST_TEST_MESSAGE("PGCORO_TEST_DSN is not a URL with a password: test skipped");
            co_return;
        }
        o.conninfo = dsn.substr(0, colon + 1) + "wrong-hunter2" + dsn.substr(at);
        o.pool_timeout = 10s;
        pgcoro::pool pool(co_await asio::this_coro::executor, o);
        auto start = std::chrono::steady_clock::now();
        auto e = co_await test::expect_failure(pool.acquire(), client_errc::connect_failed);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 3s)); // not pool_timeout
        std::string text = e.what();
        BOOST_TEST(text.find("authentication failed") != std::string::npos);
        BOOST_TEST(text.find("hunter2") == std::string::npos);
    });
}

BOOST_AUTO_TEST_CASE(run_returns_once_the_queued_acquires_are_served)
{
    // The pool's timer waits only while an acquire has a deadline: once the last queued one
    // is served, io_context::run() returns, although pool_timeout is still far away.
    asio::io_context io;
    auto o = test::pool_options_for("pool_run_returns");
    o.pool_size = 1;
    o.max_overflow = 0;
    o.pool_timeout = 8s;
    pgcoro::pool pool(io.get_executor(), o);
    int served = 0;
    auto holder = [&]() -> asio::awaitable<void> {
        auto lease = co_await pool.acquire();
        co_await sleep_for(100ms);
        ++served;
    };
    auto queued = [&]() -> asio::awaitable<void> {
        co_await sleep_for(20ms);
        auto lease = co_await pool.acquire(); // waits for the holder's connection
        ++served;
    };
    asio::co_spawn(io, holder(), asio::detached);
    asio::co_spawn(io, queued(), asio::detached);
    const auto start = std::chrono::steady_clock::now();
    io.run();
    BOOST_TEST(served == 2);
    BOOST_TEST(pool.stats().acquires == 2u);
    BOOST_TEST((std::chrono::steady_clock::now() - start < 3s));
}

BOOST_AUTO_TEST_SUITE_END()
