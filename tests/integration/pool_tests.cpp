// The pool against the real server: reuse, limits, timeouts, reset on return, hooks,
// recycling and close.

#include "support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgcoro::client_errc;

namespace {

/// A conninfo whose connections are recognisable in pg_stat_activity.
std::string tagged_dsn(const std::string& tag)
{
    std::string base = test::dsn();
    if (base.find("://") != std::string::npos)
        return base + (base.find('?') == std::string::npos ? "?" : "&") + "application_name=" + tag;
    return base + " application_name=" + tag;
}

pgcoro::pool_options options_for(const std::string& tag)
{
    pgcoro::pool_options o;
    o.conninfo = tagged_dsn(tag);
    return o;
}

asio::awaitable<void> sleep_for(std::chrono::milliseconds d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

/// Server-side sessions with this application_name (counted from a separate connection).
asio::awaitable<std::int64_t> server_sessions(const std::string& tag)
{
    auto observer = co_await test::connect();
    std::int64_t n = co_await observer.scalar<std::int64_t>(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", tag);
    co_return n;
}

/// Waits until the server reports `expected` sessions for `tag` (backends exit
/// asynchronously after the client closes), up to 5 s.
asio::awaitable<std::int64_t> settle_sessions(const std::string& tag, std::int64_t expected)
{
    std::int64_t n = -1;
    for (int i = 0; i < 100; ++i) {
        n = co_await server_sessions(tag);
        if (n == expected)
            break;
        co_await sleep_for(50ms);
    }
    co_return n;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_tests)

BOOST_AUTO_TEST_CASE(acquire_returns_a_working_connection_and_reuses_it)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, options_for("pool_reuse"));
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
        auto o = options_for(tag);
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
        auto o = options_for("pool_handoff");
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

BOOST_AUTO_TEST_SUITE_END()
