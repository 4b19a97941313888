#pragma once
// Sessions and transactions (DESIGN.md "Session semantics"): a session leases one pooled
// connection; begin() opens a transaction scope, a scope's begin() a savepoint. Sessions,
// transactions and savepoints share one query surface (queryable).

#include <pgcoro/batch.hpp>
#include <pgcoro/connection.hpp>
#include <pgcoro/detail/query_methods.hpp>
#include <pgcoro/error.hpp>
#include <pgcoro/pool.hpp>
#include <pgcoro/result.hpp>
#include <pgcoro/rows.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pgcoro {

/// SQL isolation levels (PostgreSQL runs READ UNCOMMITTED as READ COMMITTED).
enum class isolation_level {
    server_default, ///< whatever default_transaction_isolation says (normally read_committed)
    read_committed,
    repeatable_read,
    serializable,
};

/// Options of a top-level transaction: `BEGIN ISOLATION LEVEL ..., READ ONLY, DEFERRABLE`.
struct transaction_options {
    isolation_level isolation = isolation_level::server_default;
    bool read_only = false;
    /// Only meaningful for serializable read-only transactions: wait for a snapshot that
    /// cannot fail with a serialization error instead of risking one.
    bool deferrable = false;
};

/// How session::transaction retries a unit of work that failed with a serialization
/// failure (40001) or a deadlock (40P01). Nothing else is retried: in particular not a
/// COMMIT whose outcome is unknown, nor a lost connection.
struct retry_policy {
    /// Attempts in total, the first included: 1 never retries.
    unsigned max_attempts = 1;
    /// Sleep before retry n is uniform in [0, min(max_backoff, initial_backoff × 2^(n-1)))
    /// ("full jitter"), so conflicting workers do not retry in lockstep.
    std::chrono::milliseconds initial_backoff{5};
    std::chrono::milliseconds max_backoff{500};
};

class session;
class transaction;

namespace detail {
struct session_state;
} // namespace detail

/// The query surface shared by sessions, transactions and savepoints: a handle to one scope
/// of a session. Copying a queryable copies the handle, not the scope (with_timeout returns
/// such a copy); a handle whose scope has ended throws transaction_closed.
///
/// Statements run on the session's connection, one at a time (a second concurrent one
/// throws operation_in_progress). Only the innermost open scope runs statements: while a
/// transaction is open, the session refuses them, and while a savepoint is open, so does
/// its parent (client_errc::scope_not_innermost); this keeps a statement from landing in a
/// savepoint its author did not mean.
///
/// Inside a transaction, after a statement failed (or was cancelled or timed out, leaving
/// its outcome unknown), every further statement fails at once with
/// client_errc::transaction_aborted, without a round trip, until the scope is rolled back.
///
/// Cancellation: every operation supports terminal cancellation through the awaiting
/// coroutine's cancellation slot. A cancelled statement is cancelled on the server, and its
/// results drained, before the session's next statement or when the connection goes back
/// to the pool; a transaction in which that happened must be rolled back.
///
/// Thread safety: none; use a session (and its scopes) from one coroutine at a time.
class queryable : public detail::query_methods<queryable> {
public:
    queryable() noexcept = default;

    /// The same scope with a client-side deadline on every statement, pipeline, script or
    /// copy_in started through the returned handle: one still running after `timeout` is cancelled
    /// on the server (a cancel request, then its results are drained, before the call
    /// returns) and the call throws client_errc::timeout. Inside a transaction the
    /// transaction is then aborted (roll it back). Zero means no deadline. Streams ignore
    /// it (their rows arrive over time: bound them with cancellation instead).
    ///
    /// The statement runs on the connection's executor while the caller waits.
    queryable with_timeout(std::chrono::milliseconds timeout) const
    {
        queryable copy = *this;
        copy.timeout_ = timeout;
        return copy;
    }

    // query, query_one, query_opt, scalar, execute, query_result, stream and run_encoded
    // come from detail::query_methods. A stream keeps the session's connection leased while
    // it exists; the session runs nothing else until the stream has ended or is destroyed.
    // Destroying it before its end inside a transaction aborts the transaction (the
    // statement is cancelled on the server). Streams take no deadline.

    /// Sends a batch in one round trip (connection::pipeline).
    boost::asio::awaitable<std::vector<result>> pipeline(batch statements);

    /// Runs ;-separated SQL text through the simple query protocol, without parameters
    /// (connection::execute_script). Transaction control statements (BEGIN, COMMIT,
    /// ROLLBACK, SAVEPOINT) belong to begin()/commit()/rollback(), not here.
    boost::asio::awaitable<void> execute_script(std::string_view sql);

    /// Runs an already-encoded statement (the non-template core of the calls above).
    boost::asio::awaitable<result> run(detail::statement statement);

    /// Runs a COPY ... FROM STDIN statement with `data` as its input and returns the number
    /// of rows copied (connection::copy_in, which describes the data format and the errors).
    /// Checked like any statement of this scope (scope_not_innermost, transaction_aborted,
    /// recovery of an interrupted statement first). A with_timeout deadline bounds the whole
    /// copy: past it the copy is ended with a failure and cancelled on the server (it is
    /// rolled back unless its end had already been sent) before client_errc::timeout is
    /// thrown. Inside a transaction, a failed, cancelled or timed-out copy aborts the
    /// transaction like any statement. Runs on the connection's executor.
    boost::asio::awaitable<std::uint64_t> copy_in(std::string_view copy_sql, std::string data);

    /// The deadline with_timeout set (zero: none).
    std::chrono::milliseconds timeout() const noexcept { return timeout_; }

protected:
    friend class transaction;
    queryable(std::shared_ptr<detail::session_state> state, std::size_t level, std::uint64_t id) noexcept
        : state_(std::move(state)), level_(level), id_(id)
    {}

    /// Throws unless this handle's scope is the session's innermost open scope.
    void check_current() const;
    /// True when the scope is still open (it may have open savepoints).
    bool scope_open() const noexcept;

    friend class detail::query_methods<queryable>;

    /// The core of stream() (called by detail::query_methods).
    template <row_type T> boost::asio::awaitable<row_stream<T>> open_stream(detail::statement statement)
    {
        connection* c = co_await prepare_statement();
        row_stream<T> rows = co_await c->template open_stream<T>(std::move(statement));
        rows.keep_alive(state_);
        co_return rows;
    }

    /// Everything a statement needs first, for the slow path: recovery from an interrupted
    /// operation, a pending rollback, the scope and abort checks. Returns the connection.
    boost::asio::awaitable<connection*> prepare_statement();
    /// The synchronous checks of the fast path: the connection when a statement can start
    /// right away, nullptr when prepare_statement() must run first. Throws scope errors.
    connection* ready_connection() const;
    boost::asio::awaitable<result> run_prepared(detail::statement statement);
    /// Awaits `operation` (on the connection's executor) bounded by timeout_; on expiry the
    /// statement is cancelled on the server before client_errc::timeout is thrown.
    template <class T>
    boost::asio::awaitable<T> with_deadline(connection& c, boost::asio::awaitable<T> operation,
                                            std::string what);
    static boost::asio::awaitable<void> run_script(queryable self, std::string text);
    static boost::asio::awaitable<std::uint64_t> run_copy(queryable self, std::string sql, std::string data);

    std::shared_ptr<detail::session_state> state_;
    std::size_t level_ = 0; ///< 0: the session itself; 1: its transaction; 2+: savepoints
    std::uint64_t id_ = 0;  ///< identity of the scope at level_ (0 for the session)
    std::chrono::milliseconds timeout_{0};
};

/// A transaction scope: the top-level transaction of a session (session::begin) or a
/// savepoint inside another scope (transaction::begin), to any depth.
///
/// commit() or rollback() ends the scope. A scope destroyed without either is rolled back:
/// the destructor cannot wait, so it logs a warning and leaves the rollback to the
/// session's next statement, or to the pool's reset when the session ends (decided from
/// the server's transaction status; nobody else gets the connection before).
///
/// Move-only. Keeps the session's connection leased while it exists.
class transaction : public queryable {
public:
    /// An ended scope (for containers and co_spawn results).
    transaction() noexcept = default;
    transaction(transaction&& other) noexcept;
    transaction& operator=(transaction&& other) noexcept;
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    ~transaction();

    /// Opens a savepoint inside this scope (`SAVEPOINT pgcoro_savepoint_N`) and returns its
    /// scope: commit() releases it, rollback() rolls back to it and releases it; this scope
    /// goes on either way. Throws like any statement (transaction_aborted, ...).
    boost::asio::awaitable<transaction> begin();

    /// Top level: COMMIT. A server error at COMMIT (a serialization failure, a deferred
    /// constraint) means the transaction was rolled back and is rethrown as is. If COMMIT
    /// was sent but its answer never arrived (connection lost, cancelled), the outcome is
    /// unknown: client_errc::commit_outcome_unknown, with the cause in the message.
    /// Savepoint: RELEASE SAVEPOINT.
    ///
    /// Ends the scope in every case except two, which leave it open for a rollback:
    /// transaction_aborted (an earlier statement failed: a COMMIT now would silently roll
    /// back) and scope_not_innermost (a savepoint inside it is still open).
    boost::asio::awaitable<void> commit();

    /// Top level: ROLLBACK; a connection already lost counts as rolled back (the server
    /// discards the transaction). Savepoint: ROLLBACK TO SAVEPOINT, then RELEASE. Ends this
    /// scope and every savepoint still open inside it. Cancelling it leaves the rollback
    /// to the session's next statement or to the pool.
    boost::asio::awaitable<void> rollback();

    /// Open: neither committed nor rolled back (nor ended by an enclosing scope).
    bool active() const noexcept { return scope_open(); }
    /// 0 for an ended scope, 1 for a top-level transaction, 2+ for savepoints.
    std::size_t depth() const noexcept { return scope_open() ? level_ : 0; }
    bool is_savepoint() const noexcept { return depth() > 1; }

private:
    friend class session;
    transaction(std::shared_ptr<detail::session_state> state, std::size_t level, std::uint64_t id) noexcept
        : queryable(std::move(state), level, id)
    {}

    /// Ends the scope without waiting: the rollback is left to the session's next statement
    /// or the pool. Logs a warning unless `quietly`.
    void abandon(bool quietly) noexcept;
};

/// A connection leased from a pool for the session's lifetime, with the query surface and
/// transaction scopes. Move-only; the connection goes back to the pool when the session
/// and every scope and stream created from it have ended (so a scope may safely outlive
/// its session object).
class session : public queryable {
public:
    /// A session without a connection (every statement throws connection_closed).
    session() noexcept = default;
    /// Wraps a lease taken with pool::acquire.
    explicit session(lease connection);
    session(session&&) noexcept = default;
    session& operator=(session&&) noexcept = default;
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session() = default;

    /// `BEGIN` with the options and returns the transaction scope. Throws
    /// client_errc::transaction_in_progress if this session already has an open transaction
    /// (nest with transaction::begin instead). If the BEGIN is cancelled or fails midway,
    /// whatever the server opened is rolled back before the session's next statement or by
    /// the pool's reset.
    boost::asio::awaitable<pgcoro::transaction> begin(transaction_options options = {});

    /// Runs `unit` (a callable `awaitable<R>(pgcoro::transaction&)`) in a transaction:
    /// commits when it returns (unless it ended the transaction itself, e.g. with
    /// rollback()), rolls back and rethrows when it throws. With
    /// policy.max_attempts > 1, a serialization failure (40001) or deadlock (40P01) anywhere
    /// in the attempt, COMMIT included, rolls back, sleeps (policy) and runs `unit` again;
    /// the last attempt's error is rethrown. Never retried: a COMMIT with an unknown outcome
    /// (commit_outcome_unknown), a lost connection, a cancellation. `unit` may run several
    /// times: keep side effects outside the database out of it.
    template <class Unit>
    std::invoke_result_t<Unit&, pgcoro::transaction&> transaction(Unit unit, transaction_options options = {},
                                                                  retry_policy policy = {})
    {
        using value_type = typename std::invoke_result_t<Unit&, pgcoro::transaction&>::value_type;
        return run_transaction<value_type>(std::move(unit), options, policy);
    }

    /// True while a transaction scope of this session is open.
    bool in_transaction() const noexcept;

    /// The leased connection (for what the session does not offer). Running transaction
    /// control statements on it directly confuses the session's scopes.
    connection& get_connection() const;

    /// Returns the connection to the pool now (an open transaction is rolled back by the
    /// pool's reset) and ends every scope: the session, its scopes and with_timeout handles
    /// then throw connection_closed. A stream still open keeps the connection until it ends.
    void release() noexcept;

private:
    // No default argument on a coroutine's by-value parameter (g++ 12 mis-copies it).
    boost::asio::awaitable<pgcoro::transaction> begin_with(transaction_options options);

    template <class T, class Unit>
    boost::asio::awaitable<T> run_transaction(Unit unit, transaction_options options, retry_policy policy)
    {
        for (unsigned attempt = 1;; ++attempt) {
            std::exception_ptr failure;
            pgcoro::transaction tx = co_await begin_with(options);
            try {
                // A unit may end the transaction itself (rollback() to give up quietly).
                if constexpr (std::is_void_v<T>) {
                    co_await unit(tx);
                    if (tx.active())
                        co_await tx.commit();
                    co_return;
                } else {
                    T value = co_await unit(tx);
                    if (tx.active())
                        co_await tx.commit();
                    co_return value;
                }
            } catch (...) {
                failure = std::current_exception();
            }
            // A cancelled coroutine cannot await anything more: the rollback is left to the
            // session's next statement or the pool, and the unit's own error goes out.
            auto cancellation = co_await boost::asio::this_coro::cancellation_state;
            if (cancellation.cancelled() != boost::asio::cancellation_type::none) {
                tx.abandon(true);
                rethrow_cancelled(failure); // a retryable failure becomes operation_aborted
            }
            // co_await is not allowed inside a handler: roll back out here.
            co_await end_failed_attempt(tx);
            std::chrono::milliseconds pause = retry_delay(failure, attempt, policy);
            if (pause.count() < 0)
                std::rethrow_exception(failure);
            co_await sleep(pause);
        }
    }

    /// Rolls back what is left of a failed attempt; never throws (a rollback that cannot
    /// run is left to the session's next statement or to the pool).
    static boost::asio::awaitable<void> end_failed_attempt(pgcoro::transaction& tx);
    /// The pause before the next attempt, or a negative duration when `failure` must be
    /// rethrown.
    std::chrono::milliseconds retry_delay(const std::exception_ptr& failure, unsigned attempt,
                                          const retry_policy& policy) const;
    static boost::asio::awaitable<void> sleep(std::chrono::milliseconds pause);
    /// Rethrows `failure`, except that a failure the policy would have retried is reported
    /// as the cancellation that stopped the retry (client_errc::operation_aborted).
    [[noreturn]] static void rethrow_cancelled(const std::exception_ptr& failure);
};

} // namespace pgcoro
