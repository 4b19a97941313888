// Sessions and transaction scopes on a multi-threaded io_context: 32 coroutines move money
// between accounts in every style the session layer offers (row locks in id order,
// SERIALIZABLE with retries, savepoints rolled back, NOWAIT locks that fail), while a tenth
// of the units are cancelled at a random moment and some run with a tiny statement
// deadline. Whatever happens to a unit, a transfer is balance-neutral, so the total of all
// balances must never change, in any consistent snapshot. ./dev test also runs this suite
// under ThreadSanitizer.

#include "pool_support.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <unistd.h>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using pgcoro::client_errc;
using test::describe;

namespace {

constexpr std::int32_t account_count = 50;
constexpr std::int64_t initial_balance = 1000;
constexpr std::int64_t expected_total = account_count * initial_balance;
constexpr unsigned worker_count = 32;

/// Tables private to this process: several test binaries may share the server.
const std::string& accounts_table()
{
    static const std::string name = "sconc_accounts_" + std::to_string(::getpid());
    return name;
}

const std::string& audit_table()
{
    static const std::string name = "sconc_audit_" + std::to_string(::getpid());
    return name;
}

void create_tables()
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        const std::string a = accounts_table();
        const std::string create =
            "DROP TABLE IF EXISTS " + a + "; DROP TABLE IF EXISTS " + audit_table() + "; CREATE TABLE " + a +
            " (id int PRIMARY KEY, balance bigint NOT NULL CHECK (balance >= 0)); INSERT INTO " + a +
            " SELECT g, " + std::to_string(initial_balance) + " FROM generate_series(1, " +
            std::to_string(account_count) + ") g; CREATE TABLE " + audit_table() +
            " (id bigserial PRIMARY KEY, from_id int NOT NULL, to_id int NOT NULL, amount bigint NOT NULL)";
        co_await db.execute_script(create);
    });
}

void drop_tables()
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        const std::string drop = "DROP TABLE " + accounts_table() + "; DROP TABLE " + audit_table();
        co_await db.execute_script(drop);
    });
}

/// Seconds of load (PGCORO_STRESS_SECONDS overrides the default 10).
std::chrono::seconds stress_duration()
{
    const char* value = std::getenv("PGCORO_STRESS_SECONDS");
    return std::chrono::seconds{value && *value ? std::atoi(value) : 10};
}

/// The SQL, built once (and never inside a co_await expression).
struct statements {
    std::string select_pair =
        "SELECT id, balance FROM " + accounts_table() + " WHERE id = ANY($1) ORDER BY id";
    std::string lock_pair = pgcoro::with_row_lock(select_pair, pgcoro::for_update());
    std::string lock_pair_nowait = pgcoro::with_row_lock(select_pair, pgcoro::for_update().nowait());
    std::string change = "UPDATE " + accounts_table() + " SET balance = balance + $2 WHERE id = $1";
    std::string audit = "INSERT INTO " + audit_table() + " (from_id, to_id, amount) VALUES ($1, $2, $3)";
    std::string totals = "SELECT coalesce(sum(balance), 0)::int8, coalesce(min(balance), 0)::int8, "
                         "count(*) FROM " +
                         accounts_table();
};

using account_row = std::tuple<std::int32_t, std::int64_t>;

enum class style {
    locked,       ///< READ COMMITTED, FOR UPDATE in id order
    nowait_first, ///< as locked, but first tries FOR UPDATE NOWAIT inside a savepoint
    serializable, ///< SERIALIZABLE without locks through session::transaction, retried
};

struct transfer {
    std::int32_t from = 0;
    std::int32_t to = 0;
    std::int64_t amount = 0;
    style kind = style::locked;
    bool audit = false;                   ///< an audit row inserted in a savepoint, then rolled back
    std::chrono::milliseconds timeout{0}; ///< with_timeout on the unit's statements
};

/// Thrown inside a SERIALIZABLE unit that would overdraw its source: transaction() rolls
/// back and rethrows it.
struct insufficient_funds : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct tally {
    std::atomic<std::uint64_t> units{0};
    std::atomic<std::uint64_t> committed{0};
    std::atomic<std::uint64_t> committed_locked{0};
    std::atomic<std::uint64_t> committed_serializable{0};
    std::atomic<std::uint64_t> rejected{0}; ///< insufficient balance, rolled back
    std::atomic<std::uint64_t> serializable_units{0};
    std::atomic<std::uint64_t> retries{0};       ///< attempts beyond the first
    std::atomic<std::uint64_t> retried_units{0}; ///< units that needed more than one attempt
    std::atomic<std::uint64_t> exhausted{0};     ///< units that ran out of attempts
    std::atomic<std::uint64_t> savepoint_rollbacks{0};
    std::atomic<std::uint64_t> nowait_failures{0};
    std::atomic<std::uint64_t> cancelled{0};            ///< the timer won the race
    std::atomic<std::uint64_t> cancelled_aborted{0};    ///< ... and the unit threw operation_aborted
    std::atomic<std::uint64_t> cancelled_in_backoff{0}; ///< ... as asio's operation_aborted
    std::atomic<std::uint64_t> cancelled_unharmed{0};   ///< ... but the unit finished all the same
    std::atomic<std::uint64_t> timeouts{0};
    std::atomic<std::uint64_t> outcome_unknown{0};
    std::atomic<std::uint64_t> sessions{0};
    std::atomic<std::uint64_t> checks{0};
    std::atomic<std::uint64_t> warnings{0};

    std::mutex mutex;
    std::vector<std::string> unexpected; ///< errors no unit should produce
    std::vector<std::string> violations; ///< broken invariants
    std::vector<std::string> slow;       ///< units that took more than a second

    void record(std::vector<std::string>& list, std::string what)
    {
        std::lock_guard guard(mutex);
        list.push_back(std::move(what));
    }
};

/// Changes both rows in id order, the order in which every style takes its row locks: the
/// transfers can block each other but never deadlock.
asio::awaitable<void> move_money(pgcoro::queryable q, transfer t, const statements& sql)
{
    const bool from_first = t.from < t.to;
    const std::int32_t first = from_first ? t.from : t.to;
    const std::int32_t second = from_first ? t.to : t.from;
    const std::int64_t first_delta = from_first ? -t.amount : t.amount;
    const std::int64_t second_delta = -first_delta;
    const std::uint64_t changed_first = co_await q.execute(sql.change, first, first_delta);
    const std::uint64_t changed_second = co_await q.execute(sql.change, second, second_delta);
    if (changed_first != 1 || changed_second != 1)
        throw std::runtime_error("an UPDATE of one account changed " + std::to_string(changed_first) +
                                 " and " + std::to_string(changed_second) + " rows");
}

/// The balance of `id` among the two rows read; throws if the read is not what it must be.
std::int64_t balance_of(const std::vector<account_row>& rows, std::int32_t id)
{
    if (rows.size() != 2)
        throw std::runtime_error("read " + std::to_string(rows.size()) + " accounts instead of 2");
    for (const auto& row : rows)
        if (std::get<0>(row) == id)
            return std::get<1>(row);
    throw std::runtime_error("account " + std::to_string(id) + " missing from the read");
}

/// An audit row written in a savepoint and undone: the audit table must stay empty.
asio::awaitable<void> audited_savepoint(pgcoro::transaction& tx, transfer t, const statements& sql,
                                        tally& out)
{
    pgcoro::transaction sp = co_await tx.begin();
    co_await sp.execute(sql.audit, t.from, t.to, t.amount);
    co_await sp.rollback();
    ++out.savepoint_rollbacks;
}

/// READ COMMITTED: lock both rows in id order, check the balance, update, commit.
asio::awaitable<void> locked_transfer(pgcoro::session& s, transfer t, const statements& sql, tally& out)
{
    pgcoro::transaction_options options;
    options.isolation = pgcoro::isolation_level::read_committed;
    pgcoro::transaction tx = co_await s.begin(options);
    pgcoro::queryable q = tx;
    if (t.timeout.count() > 0)
        q = tx.with_timeout(t.timeout);
    std::vector<std::int32_t> ids{std::min(t.from, t.to), std::max(t.from, t.to)};
    std::vector<account_row> rows;
    if (t.kind == style::nowait_first) {
        // Try without waiting in a savepoint; a busy row costs only the savepoint.
        pgcoro::transaction sp = co_await tx.begin();
        pgcoro::queryable spq = sp;
        if (t.timeout.count() > 0)
            spq = sp.with_timeout(t.timeout);
        bool busy = false;
        try {
            rows = co_await spq.query<account_row>(sql.lock_pair_nowait, ids);
        } catch (const pgcoro::error& e) {
            if (e.code() != pgcoro::condition::lock_not_available)
                throw;
            busy = true;
        }
        if (busy) {
            co_await sp.rollback();
            ++out.nowait_failures;
            rows = co_await q.query<account_row>(sql.lock_pair, ids);
        } else {
            co_await sp.commit();
        }
    } else {
        rows = co_await q.query<account_row>(sql.lock_pair, ids);
    }
    if (balance_of(rows, t.from) < t.amount) {
        co_await tx.rollback();
        ++out.rejected;
        co_return;
    }
    if (t.audit)
        co_await audited_savepoint(tx, t, sql, out);
    co_await move_money(q, t, sql);
    co_await tx.commit();
    ++out.committed;
    ++out.committed_locked;
}

/// SERIALIZABLE without locks: the server detects the conflicts, transaction() retries.
asio::awaitable<void> serializable_transfer(pgcoro::session& s, transfer t, const statements& sql, tally& out)
{
    ++out.serializable_units;
    unsigned attempts = 0;
    auto unit = [&](pgcoro::transaction& tx) -> asio::awaitable<void> {
        ++attempts;
        pgcoro::queryable q = tx;
        if (t.timeout.count() > 0)
            q = tx.with_timeout(t.timeout);
        std::vector<std::int32_t> ids{std::min(t.from, t.to), std::max(t.from, t.to)};
        std::vector<account_row> rows = co_await q.query<account_row>(sql.select_pair, ids);
        if (balance_of(rows, t.from) < t.amount)
            throw insufficient_funds("account " + std::to_string(t.from) + " cannot pay");
        if (t.audit)
            co_await audited_savepoint(tx, t, sql, out);
        co_await move_money(q, t, sql);
    };
    pgcoro::transaction_options options;
    options.isolation = pgcoro::isolation_level::serializable;
    pgcoro::retry_policy policy;
    policy.max_attempts = 10;
    bool rejected = false;
    std::exception_ptr failure;
    try {
        co_await s.transaction(unit, options, policy);
    } catch (const insufficient_funds&) {
        rejected = true;
    } catch (...) {
        failure = std::current_exception();
    }
    if (attempts > 1) {
        out.retries += attempts - 1;
        ++out.retried_units;
    }
    if (failure) {
        // Out of attempts is a legitimate outcome under this much contention (seen under
        // ASan: 4 of 7852 units): the transfer did not happen. Its rate is checked below.
        bool exhausted = false;
        try {
            std::rethrow_exception(failure);
        } catch (const pgcoro::error& e) {
            exhausted = pgcoro::is_retryable(e.code()) && attempts >= policy.max_attempts;
        } catch (...) {
        }
        if (!exhausted)
            std::rethrow_exception(failure);
        ++out.exhausted;
        co_return;
    }
    if (rejected) {
        ++out.rejected;
    } else {
        ++out.committed;
        ++out.committed_serializable;
    }
}

/// One unit of work: a session when the worker has none, then one transfer.
asio::awaitable<void> run_unit(pgcoro::pool& pool, pgcoro::session& s, bool& have_session, transfer t,
                               const statements& sql, tally& out)
{
    if (!have_session) {
        s = co_await pool.session();
        have_session = true;
        ++out.sessions;
    }
    if (t.kind == style::serializable)
        co_await serializable_transfer(s, t, sql, out);
    else
        co_await locked_transfer(s, t, sql, out);
}

transfer pick_transfer(std::mt19937& random)
{
    transfer t;
    t.from = static_cast<std::int32_t>(1 + random() % account_count);
    do
        t.to = static_cast<std::int32_t>(1 + random() % account_count);
    while (t.to == t.from);
    t.amount = static_cast<std::int64_t>(1 + random() % 400);
    const unsigned kind = random() % 100;
    t.kind = kind < 45 ? style::locked : kind < 55 ? style::nowait_first : style::serializable;
    t.audit = random() % 10 == 0;
    return t;
}

asio::awaitable<void> worker(pgcoro::pool& pool, unsigned seed, steady::time_point end, const statements& sql,
                             tally& out)
{
    std::mt19937 random(seed);
    auto ex = co_await asio::this_coro::executor; // this worker's strand
    pgcoro::session s;
    bool have_session = false;
    // How long a unit usually takes, so that cancellations land anywhere inside one
    // (acquire, BEGIN, the statements, COMMIT) rather than always at the start.
    std::chrono::microseconds typical{3000};
    while (steady::now() < end) {
        transfer t = pick_transfer(random);
        const unsigned fate = random() % 100;
        const bool cancel = fate < 10;
        const bool timed = fate >= 10 && fate < 15;
        if (timed)
            t.timeout = std::chrono::milliseconds(1 + random() % 2);
        if (have_session && random() % 8 == 0) {
            s = pgcoro::session(); // back to the pool; the next unit takes another
            have_session = false;
        }
        ++out.units;
        bool timer_won = false;
        bool lost = false;
        const auto unit_start = steady::now();
        // For the report of an unexpected error: what the unit was and how it ended.
        auto context = [&] {
            const auto took =
                std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - unit_start).count();
            return std::string(t.kind == style::locked         ? "locked"
                               : t.kind == style::nowait_first ? "nowait"
                                                               : "serializable") +
                   (t.audit ? "+audit" : "") +
                   (cancel ? (timer_won ? ", cancelled" : ", cancel timer lost") : "") +
                   (timed ? ", timeout " + std::to_string(t.timeout.count()) + " ms" : "") + ", after " +
                   std::to_string(took) + " ms: ";
        };
        try {
            if (cancel) {
                const auto span = static_cast<unsigned>(typical.count() * 3 / 2) + 1;
                asio::steady_timer timer(ex, std::chrono::microseconds(random() % span));
                auto result =
                    co_await asio::experimental::make_parallel_group(
                        asio::co_spawn(ex, run_unit(pool, s, have_session, t, sql, out), asio::deferred),
                        timer.async_wait(asio::deferred))
                        .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
                std::exception_ptr failure = std::get<1>(result);
                timer_won = std::get<0>(result)[0] == 1;
                if (timer_won) {
                    ++out.cancelled;
                    if (!failure)
                        ++out.cancelled_unharmed;
                }
                if (failure)
                    std::rethrow_exception(failure);
            } else {
                const auto start = steady::now();
                co_await run_unit(pool, s, have_session, t, sql, out);
                const auto took =
                    std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start);
                typical = (typical * 7 + took) / 8;
            }
            const auto took = steady::now() - unit_start;
            if (took > 1s)
                out.record(out.slow, context() + "completed");
            continue;
        } catch (const pgcoro::error& e) {
            lost = pgcoro::is_fatal(e.code());
            if (timer_won && e.code() == client_errc::commit_outcome_unknown)
                ++out.outcome_unknown;
            else if (timer_won && e.code() == client_errc::operation_aborted)
                ++out.cancelled_aborted;
            else if (timed && e.code() == client_errc::timeout)
                ++out.timeouts;
            else
                out.record(out.unexpected,
                           context() + "pgcoro::error " + e.code().to_string() + ": " + e.what());
        } catch (const boost::system::system_error& e) {
            // The backoff sleep of transaction() is a plain Asio timer.
            if (timer_won && e.code() == asio::error::operation_aborted)
                ++out.cancelled_in_backoff;
            else
                out.record(out.unexpected,
                           context() + "system_error " + e.code().to_string() + ": " + e.what());
        } catch (const std::exception& e) {
            out.record(out.unexpected, context() + "exception: " + e.what());
        }
        // After a failure, keep the session half of the time (its next statement recovers
        // and rolls back) and hand it back to the pool otherwise (the pool's reset does). A
        // session whose connection is lost is of no further use, as in any application.
        if (have_session && (lost || random() % 2 == 0)) {
            s = pgcoro::session();
            have_session = false;
        }
    }
}

/// The totals in one consistent snapshot: REPEATABLE READ, read only.
asio::awaitable<void> check_totals(pgcoro::pool& pool, const statements& sql, tally& out)
{
    auto s = co_await pool.session();
    pgcoro::transaction_options options;
    options.isolation = pgcoro::isolation_level::repeatable_read;
    options.read_only = true;
    pgcoro::transaction tx = co_await s.begin(options);
    std::tuple<std::int64_t, std::int64_t, std::int64_t> totals =
        co_await tx.query_one<std::tuple<std::int64_t, std::int64_t, std::int64_t>>(sql.totals);
    co_await tx.commit();
    ++out.checks;
    const std::int64_t sum = std::get<0>(totals);
    const std::int64_t lowest = std::get<1>(totals);
    const std::int64_t count = std::get<2>(totals);
    if (sum != expected_total || lowest < 0 || count != account_count)
        out.record(out.violations, "snapshot " + std::to_string(out.checks.load()) + ": total " +
                                       std::to_string(sum) + " (expected " + std::to_string(expected_total) +
                                       "), lowest balance " + std::to_string(lowest) + ", " +
                                       std::to_string(count) + " accounts");
}

/// Checks the invariant every ~100 ms while the workers run, and once more after them.
asio::awaitable<void> checker(pgcoro::pool& pool, const statements& sql, std::atomic<unsigned>& running,
                              tally& out)
{
    auto ex = co_await asio::this_coro::executor;
    for (;;) {
        const bool last = running.load() == 0;
        try {
            co_await check_totals(pool, sql, out);
        } catch (const std::exception& e) {
            out.record(out.unexpected, std::string("invariant check failed: ") + e.what());
        }
        if (last)
            break;
        asio::steady_timer timer(ex, 100ms);
        co_await timer.async_wait(asio::use_awaitable);
    }
}

/// Counts pgcoro's warnings (an abandoned scope logs one) instead of printing thousands.
struct counting_logger {
    explicit counting_logger(tally& out)
    {
        previous = pgcoro::set_logger([&out](pgcoro::log_level level, std::string_view) {
            if (level >= pgcoro::log_level::warning)
                ++out.warnings;
        });
    }
    ~counting_logger() { pgcoro::set_logger(std::move(previous)); }
    pgcoro::log_function previous;
};

} // namespace

BOOST_AUTO_TEST_SUITE(session_concurrency_tests, *boost::unit_test::label("concurrency"))

BOOST_AUTO_TEST_CASE(concurrent_transfers_keep_the_total_balance)
{
    const std::string tag = "sconc_transfer";
    create_tables();
    tally out;
    counting_logger logger(out);
    const statements sql;

    asio::io_context io(4);
    auto o = test::pool_options_for(tag);
    o.pool_size = 8;
    o.max_overflow = 0;
    o.pool_timeout = 30s;
    auto pool = std::make_unique<pgcoro::pool>(io.get_executor(), o);
    // The checker has its own connection: its snapshots never queue behind the workers.
    auto check_options = test::pool_options_for("sconc_check");
    check_options.pool_size = 1;
    check_options.max_overflow = 0;
    auto check_pool = std::make_unique<pgcoro::pool>(io.get_executor(), check_options);

    // The final checks run when the checker has seen the workers end. They close the pools,
    // whose timers would otherwise keep io.run() busy (an armed acquire deadline stays
    // armed after its waiter is gone, up to pool_timeout).
    pgcoro::pool_stats stats;
    std::int64_t not_idle = -1;
    std::int64_t idle_in_transaction = -1;
    std::int64_t audit_rows = -1;
    auto finish = [&]() -> asio::awaitable<void> {
        co_await test::wait_returned(*pool); // the only Boost.Test assertion off the main thread
        stats = pool->stats();
        auto observer = co_await test::connect();
        const std::string name = test::session_tag(tag);
        idle_in_transaction = co_await observer.scalar<std::int64_t>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state LIKE 'idle in "
            "transaction%'",
            name);
        not_idle = co_await observer.scalar<std::int64_t>(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'", name);
        const std::string count_audit = "SELECT count(*) FROM " + audit_table();
        audit_rows = co_await observer.scalar<std::int64_t>(count_audit);
        co_await pool->close(5s);
        co_await check_pool->close(5s);
    };
    std::exception_ptr finish_failure;

    const auto duration = stress_duration();
    const auto end = steady::now() + duration;
    std::atomic<unsigned> running{worker_count};
    std::atomic<steady::rep> workers_done{0}, checker_done{0};
    for (unsigned i = 0; i < worker_count; ++i) {
        asio::co_spawn(asio::make_strand(io), worker(*pool, 7000 + i, end, sql, out),
                       [&](std::exception_ptr failure) {
                           if (failure)
                               out.record(out.unexpected, "worker ended with: " + describe(failure));
                           if (--running == 0)
                               workers_done = steady::now().time_since_epoch().count();
                       });
    }
    asio::co_spawn(asio::make_strand(io), checker(*check_pool, sql, running, out),
                   [&](std::exception_ptr failure) {
                       if (failure)
                           out.record(out.unexpected, "checker ended with: " + describe(failure));
                       checker_done = steady::now().time_since_epoch().count();
                       // Handed over as a function object: co_spawn keeps the closure alive.
                       asio::co_spawn(io, finish, [&](std::exception_ptr e) { finish_failure = e; });
                   });
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i)
        threads.emplace_back([&io] { io.run(); });
    for (auto& t : threads)
        t.join();
    const auto finished = steady::now();
    if (finish_failure)
        BOOST_ERROR("final checks failed: " << describe(finish_failure));

    BOOST_TEST_MESSAGE("session stress ("
                       << duration.count() << " s, " << worker_count << " coroutines, 4 threads): "
                       << out.units.load() << " units, " << out.committed.load() << " transfers committed ("
                       << out.committed_locked.load() << " locked, " << out.committed_serializable.load()
                       << " serializable), " << out.rejected.load() << " rejected for insufficient balance");
    BOOST_TEST_MESSAGE("  serializable: " << out.serializable_units.load() << " units, " << out.retries.load()
                                          << " retries in " << out.retried_units.load() << " units, "
                                          << out.exhausted.load() << " out of attempts");
    // Retrying works: exhausting 10 attempts stays rare (1 %) even on a slow build.
    BOOST_TEST(out.exhausted.load() * 100 <= out.serializable_units.load());
    BOOST_TEST_MESSAGE("  savepoints rolled back: " << out.savepoint_rollbacks.load()
                                                    << ", NOWAIT lock failures: "
                                                    << out.nowait_failures.load());
    BOOST_TEST_MESSAGE("  cancelled: " << out.cancelled.load() << " (" << out.cancelled_aborted.load()
                                       << " operation_aborted, " << out.outcome_unknown.load()
                                       << " commit_outcome_unknown, " << out.cancelled_in_backoff.load()
                                       << " in a retry backoff, " << out.cancelled_unharmed.load()
                                       << " finished all the same), timeouts: " << out.timeouts.load());
    auto after_end = [&](steady::rep ticks) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   steady::time_point(steady::duration(ticks)) - end)
            .count();
    };
    BOOST_TEST_MESSAGE("  after the deadline, the last worker ended at +"
                       << after_end(workers_done.load()) << " ms, the checker at +"
                       << after_end(checker_done.load()) << " ms, the final checks at +"
                       << std::chrono::duration_cast<std::chrono::milliseconds>(finished - end).count()
                       << " ms; " << out.slow.size() << " units took more than 1 s");
    BOOST_TEST_MESSAGE("  sessions taken: "
                       << out.sessions.load() << ", invariant checks: " << out.checks.load()
                       << ", pgcoro warnings: " << out.warnings.load() << ", pool: " << stats.created
                       << " connections created, " << stats.resets << " resets, " << stats.closed_reset_failed
                       << " closed after a failed reset, " << stats.closed_broken << " closed broken");

    {
        std::lock_guard guard(out.mutex);
        for (std::size_t i = 0; i < out.unexpected.size() && i < 20; ++i)
            BOOST_TEST_MESSAGE("unexpected error: " << out.unexpected[i]);
        for (std::size_t i = 0; i < out.slow.size() && i < 20; ++i)
            BOOST_TEST_MESSAGE("slow unit: " << out.slow[i]);
        for (std::size_t i = 0; i < out.violations.size() && i < 20; ++i)
            BOOST_TEST_MESSAGE("invariant violated: " << out.violations[i]);
        BOOST_TEST_INFO("first unexpected error: " << (out.unexpected.empty() ? "" : out.unexpected.front()));
        BOOST_TEST(out.unexpected.size() == 0u);
        BOOST_TEST_INFO("first violation: " << (out.violations.empty() ? "" : out.violations.front()));
        BOOST_TEST(out.violations.size() == 0u);
    }
    BOOST_TEST(out.checks.load() >= 2u);
    BOOST_TEST(stats.checked_out == 0u);
    BOOST_TEST(stats.waiting == 0u);
    BOOST_TEST(stats.timeouts == 0u);
    BOOST_TEST(idle_in_transaction == 0);
    BOOST_TEST(not_idle == 0);
    BOOST_TEST(audit_rows == 0); // every audit row was in a savepoint that was rolled back
    // Every kind of event happened, so the invariant was tested against all of them.
    BOOST_TEST(out.committed.load() > 0u);
    BOOST_TEST(out.committed_locked.load() > 0u);
    BOOST_TEST(out.committed_serializable.load() > 0u);
    BOOST_TEST(out.rejected.load() > 0u);
    BOOST_TEST(out.retries.load() > 0u);
    BOOST_TEST(out.savepoint_rollbacks.load() > 0u);
    BOOST_TEST(out.nowait_failures.load() > 0u);
    BOOST_TEST(out.cancelled.load() > 0u);
    BOOST_TEST(out.cancelled_aborted.load() > 0u);
    BOOST_TEST(out.timeouts.load() > 0u);
    BOOST_TEST(out.outcome_unknown.load() > 0u);

    check_pool.reset();
    pool.reset();
    drop_tables();
}

BOOST_AUTO_TEST_SUITE_END()
