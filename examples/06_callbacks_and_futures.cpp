// pgcoro from code that is not a coroutine: the operations are ordinary coroutines, started
// with asio::co_spawn and finished by a completion callback, or by asio::use_future and a
// std::future that the main thread waits on while the io_context runs on another thread.
// An error arrives as the callback's std::exception_ptr, or is thrown by future::get().
//
//   06_callbacks_and_futures "postgresql://user:password@localhost/db"
//
// Without an argument, PGCORO_TEST_DSN or DATABASE_URL names the server. The table's name
// carries the process id and is dropped at the end, so runs may share a database.

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <future>
#include <iostream>
#include <stdexcept>
#include <string>
#include <thread>

#include <unistd.h>

#include "example_main.hpp"

namespace asio = boost::asio;

namespace {

// The operations, written as in the other examples.

asio::awaitable<void> run_script(pgcoro::pool& pool, std::string sql)
{
    auto s = co_await pool.session();
    co_await s.execute_script(sql);
}

asio::awaitable<std::int64_t> add_note(pgcoro::pool& pool, std::string table, std::string text)
{
    auto s = co_await pool.session();
    const std::string insert = "INSERT INTO " + table + " (text) VALUES ($1) RETURNING id";
    const std::int64_t id = co_await s.scalar<std::int64_t>(insert, text);
    co_return id;
}

asio::awaitable<std::int64_t> count_notes(pgcoro::pool& pool, std::string table)
{
    auto s = co_await pool.session();
    const std::string select = "SELECT count(*) FROM " + table;
    const std::int64_t count = co_await s.scalar<std::int64_t>(select);
    co_return count;
}

/// Callbacks: every completion runs a handler; io.run() on this thread returns once none is
/// pending. A handler that starts the next operation chains them. Handlers must not throw:
/// the exception would leave io.run() with operations still pending, whose handlers refer
/// to this function's locals.
void with_callbacks(asio::io_context& io, pgcoro::pool& pool, const std::string& table)
{
    int added = 0;
    std::exception_ptr failure; // the first unexpected one
    auto on_added = [&](std::exception_ptr e, std::int64_t id) {
        if (e)
            failure = failure ? failure : e;
        else
            std::cout << "callback: note " << id << " added (" << ++added << " so far)\n";
    };
    const std::string create = "CREATE TABLE " + table +
                               " (id bigint GENERATED ALWAYS AS IDENTITY, "
                               "text text NOT NULL UNIQUE)";
    asio::co_spawn(io, run_script(pool, create), [&](std::exception_ptr e) {
        if (e) {
            failure = e;
            return;
        }
        // Three inserts in flight at once, each on a session of its own.
        for (const char* text : {"buy milk", "call Ann", "write the report"})
            asio::co_spawn(io, add_note(pool, table, text), on_added);
    });
    bool error_seen = false;
    asio::co_spawn(io, count_notes(pool, "no_such_table"), [&](std::exception_ptr e, std::int64_t) {
        try {
            if (e)
                std::rethrow_exception(e);
        } catch (const pgcoro::error& error) {
            std::cout << "callback: the query failed with SQLSTATE " << error.sqlstate() << ": "
                      << error.diag().message << "\n";
            error_seen = error.code() == pgcoro::condition::undefined_table;
        } catch (...) {
            failure = std::current_exception();
        }
    });
    io.run();
    if (failure)
        std::rethrow_exception(failure);
    if (added != 3 || !error_seen)
        throw std::runtime_error("unexpected: " + std::to_string(added) + " notes added, the error " +
                                 (error_seen ? "seen" : "not seen"));
}

/// Futures: the io_context runs on a thread of its own while this thread waits in get().
void with_futures(asio::io_context& io, pgcoro::pool& pool, const std::string& table)
{
    io.restart();
    auto work = asio::make_work_guard(io); // run() keeps going while nothing is queued
    std::thread runner([&io] { io.run(); });
    // Code that holds only the pool spawns on the pool's executor (here the same io_context).
    const asio::any_io_executor ex = pool.get_executor();
    std::exception_ptr failure;
    try {
        std::future<std::int64_t> count = asio::co_spawn(ex, count_notes(pool, table), asio::use_future);
        const std::int64_t notes = count.get();
        std::cout << "future: " << notes << " notes\n";
        if (notes != 3)
            throw std::runtime_error("unexpected: the note count");

        // A duplicate: the UNIQUE constraint refuses it and get() throws the pgcoro::error.
        std::future<std::int64_t> duplicate =
            asio::co_spawn(ex, add_note(pool, table, "buy milk"), asio::use_future);
        bool refused = false;
        try {
            duplicate.get();
        } catch (const pgcoro::error& e) {
            std::cout << "future: get() threw " << e.what() << "\n";
            refused = e.code() == pgcoro::condition::unique_violation;
        }
        if (!refused)
            throw std::runtime_error("unexpected: a duplicate note was stored");
    } catch (...) {
        failure = std::current_exception();
    }
    try { // leave nothing behind, failure or not
        asio::co_spawn(ex, run_script(pool, "DROP TABLE IF EXISTS " + table), asio::use_future).get();
        asio::co_spawn(ex, pool.close(std::chrono::seconds{5}), asio::use_future).get();
    } catch (...) {
        failure = failure ? failure : std::current_exception();
    }
    work.reset();
    runner.join();
    if (failure)
        std::rethrow_exception(failure);
}

} // namespace

int main(int argc, char** argv)
{
    const std::string conninfo = example::conninfo_from("06_callbacks_and_futures", argc, argv);
    asio::io_context io;
    pgcoro::pool_options options;
    options.conninfo = conninfo;
    options.pool_size = 4;
    options.pool_timeout = std::chrono::seconds{5};
    pgcoro::pool pool(io.get_executor(), options);
    const std::string table = "callbacks_example_" + std::to_string(::getpid());
    std::exception_ptr failure;
    try {
        with_callbacks(io, pool, table);
    } catch (...) {
        failure = std::current_exception();
    }
    try {
        with_futures(io, pool, table); // drops the table and closes the pool in any case
    } catch (...) {
        failure = failure ? failure : std::current_exception();
    }
    if (!failure) {
        std::cout << "done\n";
        return 0;
    }
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n"; // pgcoro's messages never contain the password
    }
    return 1;
}
