// The pool on a multi-threaded io_context under load with random cancellations. ./dev test
// also runs this suite under ThreadSanitizer.

#include "pool_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

using test::tagged_dsn;

/// The table the workers write to, per process: several test binaries may share a server.
const std::string& stress_table()
{
    static const std::string name = "pool_stress_rows_" + std::to_string(::getpid());
    return name;
}

void create_stress_table()
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        std::string create =
            "DROP TABLE IF EXISTS " + stress_table() + "; CREATE TABLE " + stress_table() + " (v int)";
        co_await db.execute_script(create);
    });
}

void drop_stress_table()
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        std::string drop = "DROP TABLE " + stress_table();
        co_await db.execute_script(drop);
    });
}

/// Seconds of hammering (PGCORO_STRESS_SECONDS overrides the default 10).
std::chrono::seconds stress_duration()
{
    const char* value = std::getenv("PGCORO_STRESS_SECONDS");
    return std::chrono::seconds{value && *value ? std::atoi(value) : 10};
}

struct outcome {
    std::atomic<std::uint64_t> queries{0};
    std::atomic<std::uint64_t> cancelled{0};
    std::atomic<std::uint64_t> dirty_returns{0};
    std::mutex mutex;
    std::vector<std::string> unexpected; // errors that are not the cancellation we caused
};

/// One unit of work as a web handler would do it; some leave the session dirty on purpose.
asio::awaitable<void> handle(pgcoro::pool& pool, int kind, int value, outcome& out)
{
    auto db = co_await pool.acquire();
    if (db->transaction() != pgcoro::transaction_status::idle)
        throw std::runtime_error("acquired a connection that is not idle");
    switch (kind) {
    case 0: // return inside an open transaction
        co_await db->execute_script("BEGIN");
        static const std::string insert = "INSERT INTO " + stress_table() + " VALUES ($1)";
        co_await db->execute(insert, value);
        ++out.dirty_returns;
        break;
    case 1: // return inside a failed transaction
        co_await db->execute_script("BEGIN");
        try {
            co_await db->execute("SELECT 1 / ($1::int4 - $1::int4)", value);
        } catch (const pgcoro::error&) {
        }
        ++out.dirty_returns;
        break;
    case 2: // something slow, likely to be cancelled mid-flight
        co_await db->execute("SELECT pg_sleep(0.002)");
        break;
    default: {
        std::int32_t got = co_await db->scalar<std::int32_t>("SELECT $1::int4", value);
        if (got != value)
            throw std::runtime_error("wrong result");
    }
    }
    ++out.queries;
}

asio::awaitable<void> worker(pgcoro::pool& pool, unsigned seed, steady::time_point end, outcome& out)
{
    std::mt19937 random(seed);
    auto ex = co_await asio::this_coro::executor; // this worker's strand
    while (steady::now() < end) {
        int kind = static_cast<int>(random() % 8);
        int value = static_cast<int>(random() % 1000);
        bool cancel = random() % 4 == 0;
        try {
            if (cancel) {
                // Race the work against a short timer: the loser is cancelled wherever it is
                // (waiting for a connection, mid-query, mid-reset of the previous lease).
                asio::steady_timer timer(ex, std::chrono::microseconds(random() % 3000));
                auto result = co_await asio::experimental::make_parallel_group(
                                  asio::co_spawn(ex, handle(pool, kind, value, out), asio::deferred),
                                  timer.async_wait(asio::deferred))
                                  .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
                std::exception_ptr failure = std::get<1>(result);
                if (std::get<0>(result)[0] == 1) {
                    ++out.cancelled;
                } else if (failure) {
                    std::rethrow_exception(failure);
                }
            } else {
                co_await handle(pool, kind, value, out);
            }
        } catch (const pgcoro::error& e) {
            if (e.code() != pgcoro::client_errc::operation_aborted) {
                std::lock_guard guard(out.mutex);
                out.unexpected.push_back(e.what());
            }
        } catch (const std::exception& e) {
            std::lock_guard guard(out.mutex);
            out.unexpected.push_back(e.what());
        }
    }
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_concurrency_tests, *boost::unit_test::label("concurrency"))

BOOST_AUTO_TEST_CASE(sixty_four_coroutines_on_four_threads_with_random_cancellation)
{
    const std::string tag = "pool_stress";
    create_stress_table();

    asio::io_context io(4);
    pgcoro::pool_options o;
    o.conninfo = tagged_dsn(tag);
    o.pool_size = 8;
    o.max_overflow = 0;
    o.pool_timeout = 30s;
    auto pool = std::make_unique<pgcoro::pool>(io.get_executor(), o);
    outcome out;
    const auto end = steady::now() + stress_duration();
    std::atomic<int> running{64};
    for (unsigned i = 0; i < 64; ++i) {
        asio::co_spawn(asio::make_strand(io), worker(*pool, 1000 + i, end, out),
                       [&](std::exception_ptr) { --running; });
    }
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&io] { io.run(); });

    // The main thread watches the invariants while the load runs.
    std::size_t max_size = 0;
    bool invariants_held = true;
    std::string broken;
    while (running.load() > 0) {
        auto s = pool->stats();
        max_size = std::max(max_size, s.size);
        if (s.size + s.connecting > 8 || s.idle + s.checked_out != s.size) {
            invariants_held = false;
            broken = "size " + std::to_string(s.size) + " idle " + std::to_string(s.idle) + " checked out " +
                     std::to_string(s.checked_out) + " connecting " + std::to_string(s.connecting);
        }
        std::this_thread::sleep_for(5ms);
    }
    // Dirty returns finish their reset in the background.
    for (int i = 0; i < 500 && pool->stats().checked_out != 0; ++i)
        std::this_thread::sleep_for(10ms);
    auto stats = pool->stats();
    BOOST_TEST_INFO("invariant broken: " << broken);
    BOOST_TEST(invariants_held);
    BOOST_TEST_INFO("first unexpected error: " << (out.unexpected.empty() ? "" : out.unexpected.front()));
    BOOST_TEST(out.unexpected.size() == 0u);
    BOOST_TEST(out.queries.load() > 1000u);
    BOOST_TEST(out.cancelled.load() > 100u);
    BOOST_TEST(out.dirty_returns.load() > 100u);
    BOOST_TEST(max_size <= 8u);
    BOOST_TEST(stats.checked_out == 0u);
    BOOST_TEST(stats.waiting == 0u);
    BOOST_TEST(stats.timeouts == 0u);
    BOOST_TEST(stats.size == stats.idle);
    BOOST_TEST_MESSAGE("stress: " << out.queries.load() << " units, " << out.cancelled.load()
                                  << " cancelled, " << out.dirty_returns.load() << " dirty returns, "
                                  << stats.created << " connections created, " << stats.resets << " resets, "
                                  << stats.closed_reset_failed << " closed after a failed reset");

    // Every connection the pool still holds is idle on the server, and nothing uncommitted
    // survived any return.
    auto final_size = stats.size;
    auto check = [&]() -> asio::awaitable<void> {
        std::vector<pgcoro::lease> held;
        for (std::size_t i = 0; i < final_size; ++i)
            held.push_back(co_await pool->acquire());
        for (auto& l : held)
            BOOST_TEST((l->transaction() == pgcoro::transaction_status::idle));
        std::string count = "SELECT count(*) FROM " + stress_table();
        BOOST_TEST(co_await held.front()->scalar<std::int64_t>(count) == 0);
        auto observer = co_await test::connect();
        std::string session_name = test::session_tag(tag);
        auto idle_in_tx = co_await observer.scalar<std::int64_t>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'",
            session_name);
        BOOST_TEST(idle_in_tx == 0);
        held.clear();
        co_await pool->close(5s);
    };
    std::exception_ptr check_failure;
    asio::co_spawn(io, check(), [&](std::exception_ptr e) { check_failure = e; });
    for (auto& t : threads)
        t.join();
    io.restart();
    io.run();
    if (check_failure)
        std::rethrow_exception(check_failure);
    BOOST_TEST(pool->stats().size == 0u);
    pool.reset();
    drop_stress_table();
}

BOOST_AUTO_TEST_CASE(soak_with_connection_churn_has_no_errors)
{
    // HikariCP's soak shape: lifetimes, idle timeouts and use limits so short that
    // connections are retired and replaced all the time while workers hammer the pool.
    const std::string tag = "pool_churn";
    create_stress_table();
    asio::io_context io(2);
    pgcoro::pool_options o;
    o.conninfo = tagged_dsn(tag);
    o.pool_size = 4;
    o.max_overflow = 4;
    o.min_idle = 2;
    o.pool_recycle = 250ms;
    o.idle_timeout = 150ms;
    o.max_uses = 250;
    o.pre_ping_idle = 50ms;
    o.pool_timeout = 30s;
    auto pool = std::make_unique<pgcoro::pool>(io.get_executor(), o);
    outcome out;
    const auto end = steady::now() + stress_duration() / 2;
    std::atomic<int> running{16};
    pgcoro::pool_stats stats;
    for (unsigned i = 0; i < 16; ++i) {
        asio::co_spawn(asio::make_strand(io), worker(*pool, 5000 + i, end, out), [&](std::exception_ptr) {
            if (--running == 0) {
                // The sweep timer (min_idle, recycle) keeps the io_context busy until the
                // pool is closed; wait for the background resets first.
                auto finish = [&]() -> asio::awaitable<void> {
                    co_await test::wait_returned(*pool);
                    stats = pool->stats();
                    co_await pool->close(5s);
                };
                // Handed to co_spawn as a function object, which keeps the closure alive for
                // the coroutine (calling finish() here would leave it dangling).
                asio::co_spawn(io, std::move(finish), asio::detached);
            }
        });
    }
    std::thread second([&io] { io.run(); });
    io.run();
    second.join();
    BOOST_TEST_INFO("first unexpected error: " << (out.unexpected.empty() ? "" : out.unexpected.front()));
    BOOST_TEST(out.unexpected.size() == 0u);
    BOOST_TEST(out.queries.load() > 500u);
    BOOST_TEST(stats.closed_recycled + stats.closed_max_uses + stats.closed_idle_timeout > 5u);
    BOOST_TEST(stats.created > 8u); // connections really were replaced
    BOOST_TEST(stats.timeouts == 0u);
    BOOST_TEST(stats.checked_out == 0u);
    BOOST_TEST(stats.size <= 8u);
    BOOST_TEST_MESSAGE("churn: " << out.queries.load() << " units, " << stats.created
                                 << " connections created, " << stats.closed_recycled << " recycled, "
                                 << stats.closed_idle_timeout << " idle-timed-out, " << stats.closed_max_uses
                                 << " used up");
    pool.reset();
    drop_stress_table();
}

BOOST_AUTO_TEST_SUITE_END()
