// Moving money between accounts with transaction scopes: begin()/commit()/rollback() around
// rows locked before they change, savepoints that undo one failed step and keep the rest,
// and session::transaction(), which reruns a SERIALIZABLE unit of work when the server
// reports a conflict.
//
//   03_transactions "postgresql://user:password@localhost/db"
//
// Without an argument, PGCORO_TEST_DSN or DATABASE_URL names the server. The accounts live
// in a schema named after the process, dropped at the end, so runs may share a database.

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

#include "example_main.hpp"

namespace asio = boost::asio;

namespace {

void expect(bool ok, const std::string& what)
{
    if (!ok)
        throw std::runtime_error("unexpected: " + what);
}

/// Thrown inside a unit of work to refuse an overdraft: transaction() rolls back and
/// rethrows it.
struct insufficient_funds : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The statements on the accounts table (in the run's own schema, see run()).
// ORDER BY before FOR UPDATE: rows are locked in one fixed order, so two transfers in
// opposite directions queue behind each other instead of deadlocking.
const char* const lock_pair =
    "SELECT name, balance FROM accounts WHERE name = ANY($1) ORDER BY name FOR UPDATE";
const char* const read_balance = "SELECT balance FROM accounts WHERE name = $1";
const char* const change_balance = "UPDATE accounts SET balance = balance + $2 WHERE name = $1";

/// READ COMMITTED with explicit row locks: nobody can change the balance between the check
/// and the update, so the check holds.
asio::awaitable<bool> transfer_with_locks(pgcoro::session& s, std::string from, std::string to,
                                          std::int64_t amount)
{
    auto tx = co_await s.begin();
    std::vector<std::string> names{from, to};
    auto rows = co_await tx.query<std::tuple<std::string, std::int64_t>>(lock_pair, names);
    expect(rows.size() == 2, "no account " + from + " or " + to);
    const auto& source = std::get<0>(rows[0]) == from ? rows[0] : rows[1];
    if (std::get<1>(source) < amount) {
        // Releases the locks now rather than when `tx` dies (which would log a warning).
        co_await tx.rollback();
        co_return false;
    }
    const std::int64_t debit = -amount;
    co_await tx.execute(change_balance, from, debit);
    co_await tx.execute(change_balance, to, amount);
    co_await tx.commit();
    co_return true;
}

/// One transaction paying several people, each payment in a savepoint: the payment the
/// CHECK constraint refuses (an overdraft) is undone alone and the others are committed.
asio::awaitable<int> pay_each_in_a_savepoint(pgcoro::session& s, std::string from,
                                             std::map<std::string, std::int64_t> payments)
{
    auto tx = co_await s.begin();
    int paid = 0;
    for (const auto& payment : payments) {
        auto savepoint = co_await tx.begin();
        bool refused = false;
        try {
            const std::int64_t debit = -payment.second;
            co_await savepoint.execute(change_balance, from, debit);
            co_await savepoint.execute(change_balance, payment.first, payment.second);
        } catch (const pgcoro::error& e) {
            if (e.code() != pgcoro::condition::check_violation)
                throw;
            refused = true;
        }
        if (refused) {
            co_await savepoint.rollback(); // co_await is not allowed in a catch block
        } else {
            co_await savepoint.commit();
            ++paid;
        }
        std::cout << "  " << from << " -> " << payment.first << " " << payment.second << ": "
                  << (refused ? "refused by the CHECK, rolled back to its savepoint\n" : "paid\n");
    }
    co_await tx.commit();
    co_return paid;
}

/// SERIALIZABLE without locks: the server fails any transfer that could not have happened
/// one after the other, and transaction() rolls back and runs the unit again on fresh data.
/// The unit may run more than once, so the outcome is printed after transaction() returns.
asio::awaitable<void> transfer_serializable(pgcoro::session& s, std::string from, std::string to,
                                            std::int64_t amount, int& refusals)
{
    unsigned attempts = 0;
    auto unit = [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
        ++attempts;
        const std::int64_t balance = co_await tx.scalar<std::int64_t>(read_balance, from);
        if (balance < amount)
            throw insufficient_funds("only " + std::to_string(balance) + " left");
        const std::int64_t debit = -amount;
        co_await tx.execute(change_balance, from, debit);
        co_await tx.execute(change_balance, to, amount);
    };
    pgcoro::transaction_options options;
    options.isolation = pgcoro::isolation_level::serializable;
    pgcoro::retry_policy policy;
    policy.max_attempts = 10;
    std::string outcome = "committed";
    try {
        co_await s.transaction(unit, options, policy);
    } catch (const insufficient_funds& e) {
        outcome = std::string("refused, ") + e.what();
        ++refusals;
    }
    std::cout << "  " << from << " -> " << to << " " << amount << ": " << outcome << " after " << attempts
              << " attempt(s)\n";
}

asio::awaitable<std::map<std::string, std::int64_t>> print_balances(pgcoro::pool& pool)
{
    auto s = co_await pool.session();
    auto rows = co_await s.query<std::tuple<std::string, std::int64_t>>("SELECT name, balance FROM accounts");
    std::map<std::string, std::int64_t> balances;
    std::int64_t total = 0;
    std::cout << "balances:";
    for (const auto& row : rows) {
        balances[std::get<0>(row)] = std::get<1>(row);
        total += std::get<1>(row);
    }
    for (const auto& account : balances)
        std::cout << " " << account.first << " " << account.second;
    std::cout << ", total " << total << "\n";
    expect(total == 1500, "money appeared or vanished");
    co_return balances;
}

asio::awaitable<void> demo(pgcoro::pool& pool)
{
    // Strings passed to a coroutine are built first: g++ 12 mishandles temporaries inside
    // a co_await expression.
    const std::string alice = "alice", bob = "bob", carol = "carol", dave = "dave", erin = "erin";
    co_await print_balances(pool);
    {
        auto s = co_await pool.session();
        const bool first = co_await transfer_with_locks(s, alice, bob, 300);
        std::cout << "locked transfer alice -> bob 300: " << (first ? "committed" : "rejected") << "\n";
        const bool second = co_await transfer_with_locks(s, bob, carol, 5000);
        std::cout << "locked transfer bob -> carol 5000: " << (second ? "committed" : "rejected") << "\n";
        expect(first && !second, "outcome of the locked transfers");

        std::cout << "bob (800) pays three people in one transaction:\n";
        const std::map<std::string, std::int64_t> payments{{"carol", 300}, {"dave", 400}, {"erin", 200}};
        const int paid = co_await pay_each_in_a_savepoint(s, bob, payments);
        expect(paid == 2, "payments made in savepoints");
    }
    std::map<std::string, std::int64_t> balances = co_await print_balances(pool);
    expect(balances[bob] == 100 && balances[erin] == 0, "balances after the savepoints");

    // Four payments out of alice's 700 at once, each on its own session: all read her
    // balance, then write it, so the server fails all but one at a time and they are
    // retried. They ask for 800 in all: exactly one finds too little and is refused. The
    // sessions are taken first, so that the payments start together.
    std::cout << "four concurrent SERIALIZABLE payments of 200 from alice:\n";
    std::vector<pgcoro::session> sessions;
    for (int i = 0; i < 4; ++i) {
        pgcoro::session s = co_await pool.session();
        sessions.push_back(std::move(s));
    }
    const std::string* payees[] = {&bob, &carol, &dave, &erin};
    int refusals = 0;
    auto ex = co_await asio::this_coro::executor;
    using spawned = decltype(asio::co_spawn(ex, std::declval<asio::awaitable<void>>(), asio::deferred));
    std::vector<spawned> payments;
    for (std::size_t i = 0; i < sessions.size(); ++i)
        payments.push_back(asio::co_spawn(
            ex, transfer_serializable(sessions[i], alice, *payees[i], 200, refusals), asio::deferred));
    auto outcome = co_await asio::experimental::make_parallel_group(std::move(payments))
                       .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
    for (const std::exception_ptr& failure : std::get<1>(outcome))
        if (failure)
            std::rethrow_exception(failure);
    sessions.clear(); // back to the pool

    balances = co_await print_balances(pool);
    expect(refusals == 1 && balances[alice] == 100, "balances after the concurrent payments");
}

asio::awaitable<void> run(std::string conninfo)
{
    // A schema of its own per run, first on every connection's search_path: runs sharing a
    // database never see each other's accounts.
    const std::string schema = pgcoro::quote_identifier("transactions_example_" + std::to_string(::getpid()));
    pgcoro::pool_options options;
    options.conninfo = std::move(conninfo);
    options.pool_size = 4; // one session per concurrent payment
    options.max_overflow = 0;
    options.pool_timeout = std::chrono::seconds{5}; // a server that is down fails the run quickly
    options.hooks.on_connect = [schema](pgcoro::connection& c) -> asio::awaitable<void> {
        co_await c.execute("SELECT set_config('search_path', $1, false)", schema);
    };
    auto ex = co_await asio::this_coro::executor;
    pgcoro::pool pool(ex, options);
    const std::string create = "CREATE SCHEMA " + schema +
                               "; CREATE TABLE accounts (name text PRIMARY KEY, balance bigint NOT NULL"
                               " CHECK (balance >= 0)); INSERT INTO accounts VALUES"
                               " ('alice', 1000), ('bob', 500), ('carol', 0), ('dave', 0), ('erin', 0)";
    const std::string drop = "DROP SCHEMA IF EXISTS " + schema + " CASCADE";
    {
        auto s = co_await pool.session();
        co_await s.execute_script(create);
    }
    std::exception_ptr failure;
    try {
        co_await demo(pool);
    } catch (...) {
        failure = std::current_exception();
    }
    {
        auto s = co_await pool.session(); // leave nothing behind, failure or not
        co_await s.execute_script(drop);
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
    return example::run("03_transactions", argc, argv, run);
}
