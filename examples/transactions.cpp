// Moving money between accounts with transaction scopes: an explicit begin()/commit() scope
// that locks the rows it is about to change, and session::transaction(), which reruns a
// SERIALIZABLE unit of work when the server reports a conflict.
//
//   transactions "postgresql://user:password@localhost/db"
//
// (Without an argument, PGCORO_TEST_DSN or DATABASE_URL names the server.)

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

namespace asio = boost::asio;

namespace {

/// Thrown inside a unit of work to refuse an overdraft: transaction() rolls back and
/// rethrows it.
struct insufficient_funds : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// The accounts table and the statements on it. The name is unique per process, so runs
/// sharing a server never see each other's accounts.
struct bank {
    explicit bank(std::string name)
        : table(std::move(name)),
          create("CREATE TABLE " + table +
                 " (name text PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0));"
                 " INSERT INTO " +
                 table + " VALUES ('alice', 1000), ('bob', 500), ('carol', 0), ('dave', 0), ('erin', 0)"),
          drop("DROP TABLE IF EXISTS " + table),
          lock_pair(pgcoro::with_row_lock("SELECT name, balance FROM " + table +
                                              " WHERE name = ANY($1) ORDER BY name",
                                          pgcoro::for_update())),
          read_balance("SELECT balance FROM " + table + " WHERE name = $1"),
          change_balance("UPDATE " + table + " SET balance = balance + $2 WHERE name = $1"),
          all_balances("SELECT name, balance FROM " + table + " ORDER BY name")
    {}
    std::string table;
    std::string create;
    std::string drop;
    std::string lock_pair;
    std::string read_balance;
    std::string change_balance;
    std::string all_balances;
};

/// READ COMMITTED with explicit row locks: nobody can change the balance between the check
/// and the update, so the check holds.
asio::awaitable<bool> transfer_with_locks(pgcoro::session& s, const bank& b, std::string from, std::string to,
                                          std::int64_t amount)
{
    auto tx = co_await s.begin();
    // Lock both rows in one fixed order (by name, ORDER BY before FOR UPDATE): two transfers
    // in opposite directions then queue behind each other instead of deadlocking.
    std::vector<std::string> names{from, to};
    auto rows = co_await tx.query<std::tuple<std::string, std::int64_t>>(b.lock_pair, names);
    if (rows.size() != 2)
        throw std::runtime_error("no such account: " + from + " or " + to);
    const auto& source = std::get<0>(rows[0]) == from ? rows[0] : rows[1];
    if (std::get<1>(source) < amount) {
        // Nothing was written, but rolling back now releases the locks at once instead of
        // when the scope object dies (which would only log a warning and roll back later).
        co_await tx.rollback();
        co_return false;
    }
    const std::int64_t debit = -amount;
    co_await tx.execute(b.change_balance, from, debit);
    co_await tx.execute(b.change_balance, to, amount);
    co_await tx.commit();
    co_return true;
}

/// SERIALIZABLE without locks: the server lets the transfers run side by side and fails
/// any that could not have happened one after the other; transaction() then rolls back
/// and runs the unit again on fresh data. The outcome is printed after transaction()
/// returns, never inside the unit, because the unit may run more than once.
asio::awaitable<void> transfer_serializable(pgcoro::session& s, const bank& b, std::string from,
                                            std::string to, std::int64_t amount)
{
    unsigned attempts = 0;
    auto unit = [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
        ++attempts;
        const std::int64_t balance = co_await tx.scalar<std::int64_t>(b.read_balance, from);
        if (balance < amount)
            throw insufficient_funds(from + " has " + std::to_string(balance) + ", cannot pay " +
                                     std::to_string(amount));
        const std::int64_t debit = -amount;
        co_await tx.execute(b.change_balance, from, debit);
        co_await tx.execute(b.change_balance, to, amount);
    };
    pgcoro::transaction_options options;
    options.isolation = pgcoro::isolation_level::serializable;
    pgcoro::retry_policy policy;
    policy.max_attempts = 5;
    try {
        co_await s.transaction(unit, options, policy);
        std::cout << "  " << from << " -> " << to << " " << amount << ": committed after " << attempts
                  << (attempts == 1 ? " attempt\n" : " attempts (serialization conflicts retried)\n");
    } catch (const insufficient_funds& e) {
        std::cout << "  " << from << " -> " << to << " " << amount << ": rejected after " << attempts
                  << (attempts == 1 ? " attempt" : " attempts") << ", " << e.what() << "\n";
    }
}

asio::awaitable<void> print_balances(pgcoro::pool& pool, const bank& b)
{
    auto s = co_await pool.session();
    auto rows = co_await s.query<std::tuple<std::string, std::int64_t>>(b.all_balances);
    std::int64_t total = 0;
    for (const auto& row : rows) {
        std::cout << "  " << std::get<0>(row) << ": " << std::get<1>(row) << "\n";
        total += std::get<1>(row);
    }
    std::cout << "  total: " << total << "\n";
}

asio::awaitable<void> demo(pgcoro::pool& pool, const bank& b)
{
    const std::string alice = "alice", bob = "bob", carol = "carol", dave = "dave", erin = "erin";
    std::cout << "balances:\n";
    co_await print_balances(pool, b);

    {
        auto s = co_await pool.session();
        bool done = co_await transfer_with_locks(s, b, alice, bob, 300);
        std::cout << "locked transfer alice -> bob 300: " << (done ? "committed" : "rejected") << "\n";
        done = co_await transfer_with_locks(s, b, bob, carol, 5000);
        std::cout << "locked transfer bob -> carol 5000: " << (done ? "committed" : "rejected (overdraft)")
                  << "\n";
    }

    // Four payments out of alice's account at once, each on its own session: all read her
    // balance, then write it, so the server fails all but one and they are retried. She
    // has 700 left and they ask for 800: the last to run finds too little and is refused.
    // The sessions are taken first, so that the payments start together rather than each
    // as its connection comes up.
    std::cout << "four concurrent SERIALIZABLE payments of 200 from alice:\n";
    std::vector<pgcoro::session> sessions;
    for (int i = 0; i < 4; ++i) {
        pgcoro::session s = co_await pool.session();
        sessions.push_back(std::move(s));
    }
    const std::string* payees[] = {&bob, &carol, &dave, &erin};
    auto ex = co_await asio::this_coro::executor;
    using spawned = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
    std::vector<spawned> payments;
    for (std::size_t i = 0; i < sessions.size(); ++i)
        payments.push_back(asio::co_spawn(ex, transfer_serializable(sessions[i], b, alice, *payees[i], 200),
                                          asio::deferred));
    auto outcome = co_await asio::experimental::make_parallel_group(std::move(payments))
                       .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    for (const std::exception_ptr& failure : std::get<1>(outcome))
        if (failure)
            std::rethrow_exception(failure);
    sessions.clear(); // back to the pool

    std::cout << "balances (the total has not changed):\n";
    co_await print_balances(pool, b);
}

asio::awaitable<void> run(std::string conninfo)
{
    auto ex = co_await asio::this_coro::executor;
    pgcoro::pool_options options;
    options.conninfo = std::move(conninfo);
    options.pool_size = 4; // one session per concurrent payment
    options.max_overflow = 0;
    options.pool_timeout = std::chrono::seconds{5}; // a server that is down fails the run quickly
    pgcoro::pool pool(ex, options);
    const bank b("transactions_example_" + std::to_string(::getpid()));
    {
        auto s = co_await pool.session();
        co_await s.execute_script(b.create);
    }
    std::exception_ptr failure;
    try {
        co_await demo(pool, b);
    } catch (...) {
        failure = std::current_exception();
    }
    // Leave nothing behind, failure or not.
    {
        auto s = co_await pool.session();
        co_await s.execute_script(b.drop);
    }
    const std::chrono::milliseconds close_timeout{5000};
    co_await pool.close(close_timeout);
    if (failure)
        std::rethrow_exception(failure);
    std::cout << "done\n";
}

} // namespace

int main(int argc, char** argv)
{
    std::string conninfo;
    if (argc >= 2)
        conninfo = argv[1];
    else if (const char* dsn = std::getenv("PGCORO_TEST_DSN"); dsn && *dsn)
        conninfo = dsn;
    else if (const char* url = std::getenv("DATABASE_URL"); url && *url)
        conninfo = url;
    if (conninfo.empty()) {
        std::cerr << "usage: transactions CONNINFO (or set PGCORO_TEST_DSN or DATABASE_URL)\n";
        return 2;
    }
    asio::io_context io;
    int status = 0;
    asio::co_spawn(io, run(conninfo), [&](std::exception_ptr failure) {
        if (!failure)
            return;
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            std::cerr << "error: " << e.what() << "\n";
            status = 1;
        }
    });
    io.run();
    return status;
}
