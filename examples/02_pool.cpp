// A connection pool shared by many coroutines on several threads: pool_options (pool_size,
// max_overflow, pool_timeout, pre_ping), a batch of inserts per coroutine in one round trip
// (a pipeline), the table read back as a stream, an acquire that times out, pool.stats()
// and pool.close().
//
//   02_pool "postgresql://user:password@localhost/db"
//
// Without an argument, PGCORO_TEST_DSN or DATABASE_URL names the server. The table's name
// carries the process id and is dropped at the end, so runs may share a database.

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "example_main.hpp"

namespace asio = boost::asio;

namespace {

constexpr int workers = 24;
constexpr std::int64_t rows_per_worker = 50;

// The threads the workers ran on (written from all of them).
std::mutex threads_mutex;
std::set<std::thread::id> worker_threads;

void expect(bool ok, const std::string& what)
{
    if (!ok)
        throw std::runtime_error("unexpected: " + what);
}

/// One coroutine's share: its rows in one round trip, then a pause holding the connection,
/// so that the coroutines overlap and the pool has to open overflow connections and queue.
asio::awaitable<void> worker(pgcoro::pool& pool, const std::string& insert, std::int64_t number)
{
    pgcoro::session s = co_await pool.session();
    {
        std::lock_guard lock(threads_mutex);
        worker_threads.insert(std::this_thread::get_id());
    }
    pgcoro::batch batch;
    for (std::int64_t n = 0; n < rows_per_worker; ++n)
        batch.add(insert, number, n);
    co_await s.pipeline(std::move(batch));
    co_await s.execute("SELECT pg_sleep(0.05)");
}

asio::awaitable<void> demo(asio::any_io_executor io, pgcoro::pool& pool, const std::string& table)
{
    // Each worker on a strand of its own: the io_context's threads run them in parallel.
    const std::string insert = "INSERT INTO " + table + " (worker, n) VALUES ($1, $2)";
    using spawned = decltype(asio::co_spawn(io, std::declval<asio::awaitable<void>>(), asio::deferred));
    std::vector<spawned> running;
    for (std::int64_t i = 0; i < workers; ++i)
        running.push_back(asio::co_spawn(asio::make_strand(io), worker(pool, insert, i), asio::deferred));
    auto outcome = co_await asio::experimental::make_parallel_group(std::move(running))
                       .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    for (const std::exception_ptr& failure : std::get<1>(outcome))
        if (failure)
            std::rethrow_exception(failure);
    std::cout << workers << " coroutines on " << worker_threads.size() << " threads inserted "
              << rows_per_worker << " rows each\n";

    // Single-row mode: the rows arrive one at a time, never all in memory.
    pgcoro::session s = co_await pool.session();
    const std::string select = "SELECT worker, n FROM " + table;
    auto rows = co_await s.stream<std::tuple<std::int64_t, std::int64_t>>(select);
    std::int64_t count = 0, sum = 0;
    while (auto row = co_await rows.next()) {
        ++count;
        sum += std::get<1>(*row);
    }
    std::cout << "streamed " << count << " rows back, sum of n " << sum << "\n";
    expect(count == workers * rows_per_worker, "row count");
    expect(sum == workers * rows_per_worker * (rows_per_worker - 1) / 2, "sum of n");
}

/// With every connection leased and no overflow allowed, an acquire fails after
/// pool_timeout with a message naming the limits and the counts.
asio::awaitable<void> show_pool_timeout(asio::any_io_executor io, const std::string& conninfo)
{
    pgcoro::pool_options options;
    options.conninfo = conninfo;
    options.pool_size = 1;
    options.max_overflow = 0;
    options.pool_timeout = std::chrono::milliseconds{200};
    pgcoro::pool small(io, options);
    pgcoro::session held = co_await small.session();
    bool timed_out = false;
    try {
        pgcoro::session second = co_await small.session();
    } catch (const pgcoro::error& e) {
        if (e.code() != pgcoro::client_errc::pool_timeout)
            throw;
        std::cout << "second acquire on a full pool: " << e.what() << "\n";
        timed_out = true;
    }
    expect(timed_out, "an acquire beyond pool_size + max_overflow succeeded");
    held.release();
    const std::chrono::milliseconds close_timeout{5000};
    co_await small.close(close_timeout);
}

asio::awaitable<void> run(asio::any_io_executor io, std::string conninfo)
{
    pgcoro::pool_options options;
    options.conninfo = conninfo;
    options.pool_size = 4;                           // kept open when idle
    options.max_overflow = 4;                        // opened under load, closed when returned
    options.pool_timeout = std::chrono::seconds{10}; // waiting + connecting + pre-ping, in all
    options.pre_ping = true; // an idle connection is checked before it is handed out...
    // ...when it was idle this long: every time here, to show in the stats (default 1 s).
    options.pre_ping_idle = std::chrono::milliseconds{0};
    pgcoro::pool pool(io, options);
    const std::string table = "pool_example_" + std::to_string(::getpid());
    const std::string create = "CREATE TABLE " + table + " (worker bigint NOT NULL, n bigint NOT NULL)";
    const std::string drop = "DROP TABLE IF EXISTS " + table;
    {
        auto s = co_await pool.session();
        co_await s.execute_script(create);
    }
    std::exception_ptr failure;
    try {
        co_await demo(io, pool, table);
        co_await show_pool_timeout(io, conninfo);
    } catch (...) {
        failure = std::current_exception();
    }
    {
        auto s = co_await pool.session(); // leave nothing behind, failure or not
        co_await s.execute_script(drop);
    }
    const pgcoro::pool_stats stats = pool.stats();
    std::cout << "pool: " << stats.size << " open (" << stats.idle << " idle), " << stats.created
              << " created, " << stats.acquires << " acquires, " << stats.waits << " waited, "
              << stats.closed_surplus << " overflow connections closed on return, " << stats.pings
              << " pre-pings\n";
    const std::chrono::milliseconds close_timeout{5000};
    co_await pool.close(close_timeout);
    if (failure)
        std::rethrow_exception(failure);
    expect(stats.acquires == workers + 3, "acquire count");
    expect(stats.created <= 8 && stats.size <= 8, "more connections than pool_size + max_overflow");
    expect(stats.waits > 0, "no coroutine waited for a connection");
    expect(stats.pings > 0, "no pre-ping");
    std::cout << "done\n";
}

} // namespace

int main(int argc, char** argv)
{
    const std::string conninfo = example::conninfo_from("02_pool", argc, argv);
    constexpr int threads = 4;
    asio::io_context io(threads);
    int status = 0; // read after the threads are joined
    asio::co_spawn(asio::make_strand(io), run(io.get_executor(), conninfo), [&](std::exception_ptr failure) {
        if (!failure)
            return;
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            std::cerr << "error: " << e.what() << "\n"; // pgcoro's messages never contain the password
            status = 1;
        }
    });
    std::vector<std::thread> runners;
    for (int i = 1; i < threads; ++i)
        runners.emplace_back([&io] { io.run(); });
    io.run();
    for (std::thread& t : runners)
        t.join();
    return status;
}
