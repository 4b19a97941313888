#pragma once
// Helpers shared by the pool tests: recognisable connections, server-side session counts,
// and waiting for background returns.

#include "support.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace test {

/// The application_name a test's pool uses: the tag plus this process's id, so test
/// binaries sharing a server never count each other's sessions.
inline std::string session_tag(const std::string& tag)
{
    return tag + "_" + std::to_string(::getpid());
}

/// The test DSN with application_name=session_tag(tag), so the pool's sessions can be
/// counted in pg_stat_activity.
inline std::string tagged_dsn(const std::string& tag)
{
    std::string base = dsn();
    std::string name = session_tag(tag);
    if (base.find("://") != std::string::npos)
        return base + (base.find('?') == std::string::npos ? "?" : "&") + "application_name=" + name;
    return base + " application_name=" + name;
}

/// Default pool options on the tagged DSN.
inline pgcoro::pool_options pool_options_for(const std::string& tag)
{
    pgcoro::pool_options o;
    o.conninfo = tagged_dsn(tag);
    return o;
}

/// An environment variable, or "" when unset.
inline std::string env(const char* name)
{
    const char* value = std::getenv(name);
    return value ? value : "";
}

inline asio::awaitable<void> sleep_for(std::chrono::milliseconds d)
{
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::use_awaitable);
}

/// A superuser connection when ./dev provides one (PGCORO_TEST_ADMIN_DSN), else the test role.
inline asio::awaitable<pgcoro::connection> admin()
{
    pgcoro::connect_options o;
    o.conninfo = env("PGCORO_TEST_ADMIN_DSN").empty() ? dsn() : env("PGCORO_TEST_ADMIN_DSN");
    auto db = co_await connect(std::move(o));
    co_return db;
}

/// Server-side sessions of the pool tagged `tag` (see tagged_dsn).
inline asio::awaitable<std::int64_t> server_sessions(const std::string& tag)
{
    auto observer = co_await connect();
    std::string name = session_tag(tag);
    std::int64_t n = co_await observer.scalar<std::int64_t>(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name);
    co_return n;
}

/// Waits until the server reports `expected` sessions for `tag` (backends exit
/// asynchronously after the client closes), up to 5 s; returns the last count.
inline asio::awaitable<std::int64_t> settle_sessions(const std::string& tag, std::int64_t expected)
{
    std::int64_t n = -1;
    for (int i = 0; i < 100; ++i) {
        n = co_await server_sessions(tag);
        if (n == expected)
            break;
        co_await sleep_for(std::chrono::milliseconds{50});
    }
    co_return n;
}

/// Waits (up to 2 s) until every lease has come back: returns that need a reset finish in
/// the background.
inline asio::awaitable<void> wait_returned(pgcoro::pool& pool)
{
    for (int i = 0; i < 200 && pool.stats().checked_out != 0; ++i)
        co_await sleep_for(std::chrono::milliseconds{10});
    BOOST_TEST(pool.stats().checked_out == 0u);
}

} // namespace test
