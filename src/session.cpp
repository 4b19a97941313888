// Sessions and transaction scopes (DESIGN.md "Session semantics").
//
// The server's transaction status (PQtransactionStatus) is the truth; the client keeps only
// what the server cannot tell it: which scope object owns which level, whether a scope lost
// track of a statement's outcome (an interrupted statement), and what must be rolled back
// because a scope object was destroyed without commit() or rollback(). Destructors cannot
// wait, so that rollback runs before the session's next statement, or in the pool's reset
// when the connection goes back (which also decides from the server's status).

#include <pgcoro/logger.hpp>
#include <pgcoro/session.hpp>

#include "detail/exception_text.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <exception>
#include <random>

namespace asio = boost::asio;

namespace pgcoro {
namespace detail {

/// What a session and all its scopes share. Held by shared_ptr: the session, every scope
/// and every stream keep the lease alive, so none of them can outlive the connection.
struct session_state {
    explicit session_state(lease held_lease) noexcept : held(std::move(held_lease)) {}

    struct scope {
        std::uint64_t id;
        /// Non-empty once the scope must be rolled back: why (shown by transaction_aborted).
        std::string aborted;
    };

    lease held;
    /// Open scopes, outermost first: scopes[0] is the transaction (level 1), then savepoints.
    std::vector<scope> scopes;
    std::uint64_t next_id = 1;
    /// The server may hold a transaction that no scope owns (a top-level scope was
    /// destroyed, or BEGIN / COMMIT / ROLLBACK was interrupted): roll it back before the
    /// next statement.
    bool rollback_pending = false;
    /// A savepoint scope was destroyed while open: this rolls back to it and releases it
    /// before the next statement of its parent.
    std::string savepoint_cleanup;

    connection& conn() const
    {
        if (!held)
            throw error(client_errc::connection_closed, "the session has released its connection");
        return *held;
    }
};

} // namespace detail

namespace {

std::string savepoint_name(std::size_t level)
{
    // One name per depth is enough: a savepoint is always released when its scope ends
    // (RELEASE, or ROLLBACK TO + RELEASE), so a name is never live twice. Releasing also
    // keeps a loop of savepoints from piling up subtransactions on the server.
    return "pgcoro_savepoint_" + std::to_string(level);
}

std::string begin_statement(const transaction_options& options)
{
    std::string sql = "BEGIN";
    const char* separator = " ";
    auto add = [&](const char* mode) {
        sql += separator;
        sql += mode;
        separator = ", ";
    };
    switch (options.isolation) {
    case isolation_level::server_default:
        break;
    case isolation_level::read_committed:
        add("ISOLATION LEVEL READ COMMITTED");
        break;
    case isolation_level::repeatable_read:
        add("ISOLATION LEVEL REPEATABLE READ");
        break;
    case isolation_level::serializable:
        add("ISOLATION LEVEL SERIALIZABLE");
        break;
    }
    if (options.read_only)
        add("READ ONLY");
    if (options.deferrable)
        add("DEFERRABLE");
    return sql;
}

[[noreturn]] void throw_aborted(std::string_view reason)
{
    throw error(client_errc::transaction_aborted,
                "the transaction is aborted (" + std::string(reason) + "); roll it back first");
}

bool server_in_transaction(const connection& c) noexcept
{
    auto status = c.transaction();
    return status == transaction_status::in_transaction || status == transaction_status::in_error;
}

/// Transaction control needs the connection to itself: a stream still open owns it, and
/// ending the scope under it would leave the server's transaction to a later statement.
void check_no_stream(const connection& c)
{
    if (c.transaction() == transaction_status::active && !c.is_interrupted())
        throw error(client_errc::operation_in_progress,
                    "a stream is still open on this session: read it to the end or destroy it first");
}

} // namespace

// ---- queryable ---------------------------------------------------------------------------

void queryable::check_current() const
{
    if (!state_ || !state_->held)
        throw error(client_errc::connection_closed, "the session has no connection (moved from or released)");
    const auto& scopes = state_->scopes;
    if (level_ > 0 && (level_ > scopes.size() || scopes[level_ - 1].id != id_))
        throw error(client_errc::transaction_closed,
                    level_ == 1 ? "the transaction has already been committed or rolled back"
                                : "the savepoint has already been released or rolled back");
    if (level_ < scopes.size())
        throw error(
            client_errc::scope_not_innermost,
            level_ == 0
                ? "the session has an open transaction: run statements through it"
                : "a savepoint is open inside this scope: run statements through it, or end it first");
}

bool queryable::scope_open() const noexcept
{
    return state_ && level_ > 0 && level_ <= state_->scopes.size() && state_->scopes[level_ - 1].id == id_;
}

connection* queryable::ready_connection() const
{
    check_current();
    connection& c = state_->conn();
    if (state_->rollback_pending || !state_->savepoint_cleanup.empty() || c.is_interrupted())
        return nullptr;
    if (level_ > 0) {
        const auto& scope = state_->scopes.back();
        if (!scope.aborted.empty())
            throw_aborted(scope.aborted);
        auto status = c.transaction();
        if (status == transaction_status::in_error)
            throw_aborted("an earlier statement failed: " + c.last_error());
        if (status == transaction_status::idle || status == transaction_status::unknown)
            return nullptr; // prepare_statement() finds out what happened
        // active: a stream owns the connection, which refuses the statement itself.
    }
    return &c;
}

asio::awaitable<connection*> queryable::prepare_statement()
{
    check_current();
    detail::session_state& state = *state_;
    connection& c = state.conn();
    // An interrupted statement's outcome is unknown: cancel it on the server and drain.
    const bool interrupted = c.is_interrupted();
    if (interrupted) {
        try {
            co_await c.recover();
        } catch (const error& e) {
            // Cancelled while recovering: still interrupted, the next statement tries again.
            if (is_fatal(e.code()) && !state.scopes.empty())
                state.scopes.back().aborted = "the connection was lost";
            throw;
        }
    }
    if (state.rollback_pending) {
        // A transaction no scope owns (level 0 here: every scope had ended).
        if (server_in_transaction(c))
            co_await c.execute_script("ROLLBACK");
        state.rollback_pending = false;
        state.savepoint_cleanup.clear();
    } else if (!state.savepoint_cleanup.empty()) {
        // A savepoint scope was abandoned; the interrupted statement (if any) was its own.
        std::string cleanup = std::move(state.savepoint_cleanup);
        state.savepoint_cleanup.clear();
        if (server_in_transaction(c)) {
            try {
                co_await c.execute_script(cleanup);
            } catch (...) {
                if (!state.scopes.empty())
                    state.scopes.back().aborted = "rolling back an abandoned savepoint failed";
                throw;
            }
        }
    } else if (interrupted && !state.scopes.empty()) {
        // The statement ran in the innermost scope (only it runs statements): it may or may
        // not have taken effect, so the scope cannot be committed.
        state.scopes.back().aborted = "a statement was cancelled or timed out before its outcome was known";
    }
    check_current(); // a scope may have ended while this coroutine waited
    if (level_ > 0) {
        const auto& scope = state.scopes.back();
        if (!scope.aborted.empty())
            throw_aborted(scope.aborted);
        switch (c.transaction()) {
        case transaction_status::in_transaction:
        case transaction_status::active: // a stream is open: the connection refuses the statement
            break;
        case transaction_status::in_error:
            throw_aborted("an earlier statement failed: " + c.last_error());
        default:
            // COMMIT or ROLLBACK ran behind the scopes' back (or the connection is gone).
            if (!c.is_open())
                throw error(client_errc::connection_lost, "the connection to the server was lost");
            state.scopes.clear();
            throw error(client_errc::transaction_closed,
                        "the server is no longer in a transaction: it was ended by a statement outside the "
                        "transaction scopes (run COMMIT, ROLLBACK and SAVEPOINT through them)");
        }
    }
    co_return &c;
}

asio::awaitable<result> queryable::run(detail::statement statement)
{
    try {
        connection* c = ready_connection();
        if (c && timeout_.count() == 0)
            return c->run(std::move(statement)); // the fast path: no frame of the session's own
        return run_prepared(std::move(statement));
    } catch (...) {
        return detail::fail_with<result>(std::current_exception());
    }
}

asio::awaitable<result> queryable::run_prepared(detail::statement statement)
{
    connection* c = co_await prepare_statement();
    if (timeout_.count() > 0) {
        std::string what = statement.sql.substr(0, 200);
        result timed = co_await with_deadline(*c, c->run(std::move(statement)), std::move(what));
        co_return timed;
    }
    result r = co_await c->run(std::move(statement));
    co_return r;
}

template <class T>
asio::awaitable<T> queryable::with_deadline(connection& c, asio::awaitable<T> operation, std::string what)
{
    // The operation and the timer run on the connection's executor, so the timer's
    // cancellation and the operation's completion cannot race (libpq-asio.md 7.4). The
    // caller waits on its own executor.
    auto executor = c.get_executor();
    asio::steady_timer timer(executor, timeout_);
    auto outcome =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(executor, std::move(operation), asio::deferred), timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    const boost::system::error_code timer_error = std::get<std::tuple_size_v<decltype(outcome)> - 1>(outcome);
    const bool expired = std::get<0>(outcome)[0] == 1 && !timer_error;
    if (!expired) {
        if (std::get<1>(outcome))
            std::rethrow_exception(std::get<1>(outcome));
        if constexpr (std::is_void_v<T>)
            co_return;
        else
            co_return std::move(std::get<2>(outcome));
    }
    // Stop the server's work now, not at the next statement: a runaway query holds locks
    // and a backend. recover() sends the cancel off the I/O thread and drains (bounded).
    std::string recovery;
    try {
        co_await c.recover();
    } catch (const std::exception& e) {
        recovery = std::string("; recovering the connection failed: ") + e.what();
    }
    if (level_ > 0 && scope_open() && level_ == state_->scopes.size())
        state_->scopes.back().aborted = "a statement timed out";
    throw error(client_errc::timeout, "the statement did not finish within " +
                                          std::to_string(timeout_.count()) + " ms and was cancelled" +
                                          recovery + ": " + what);
}

asio::awaitable<std::vector<result>> queryable::pipeline(batch statements)
{
    connection* c = ready_connection();
    if (!c)
        c = co_await prepare_statement();
    if (timeout_.count() > 0) {
        std::string what = "a pipeline of " + std::to_string(statements.size()) + " statements";
        std::vector<result> timed =
            co_await with_deadline(*c, c->pipeline(std::move(statements)), std::move(what));
        co_return timed;
    }
    std::vector<result> results = co_await c->pipeline(std::move(statements));
    co_return results;
}

asio::awaitable<void> queryable::execute_script(std::string_view sql)
{
    return run_script(*this, std::string(sql)); // copied now: the awaitable runs later
}

asio::awaitable<void> queryable::run_script(queryable self, std::string text)
{
    connection* c = self.ready_connection();
    if (!c)
        c = co_await self.prepare_statement();
    if (self.timeout_.count() > 0) {
        std::string what = text.substr(0, 200);
        co_await self.with_deadline(*c, c->execute_script(text), std::move(what));
        co_return;
    }
    co_await c->execute_script(text);
}

asio::awaitable<std::uint64_t> queryable::copy_in(std::string_view copy_sql, std::string data)
{
    return run_copy(*this, std::string(copy_sql), std::move(data)); // the SQL copied now
}

asio::awaitable<std::uint64_t> queryable::run_copy(queryable self, std::string sql, std::string data)
{
    connection* c = self.ready_connection();
    if (!c)
        c = co_await self.prepare_statement();
    auto copy = c->copy_in(sql, std::move(data));
    if (self.timeout_.count() > 0) {
        std::string what = sql.substr(0, 200);
        const std::uint64_t timed = co_await self.with_deadline(*c, std::move(copy), std::move(what));
        co_return timed;
    }
    const std::uint64_t rows = co_await std::move(copy);
    co_return rows;
}

// ---- transaction -------------------------------------------------------------------------

transaction::transaction(transaction&& other) noexcept : queryable(std::move(other))
{
    other.state_.reset();
}

transaction& transaction::operator=(transaction&& other) noexcept
{
    if (this != &other) {
        abandon(false);
        queryable::operator=(std::move(other));
        other.state_.reset();
    }
    return *this;
}

transaction::~transaction()
{
    abandon(false);
}

void transaction::abandon(bool quietly) noexcept
{
    if (!scope_open())
        return;
    detail::session_state& state = *state_;
    if (level_ == 1) {
        state.scopes.clear();
        state.savepoint_cleanup.clear();
        state.rollback_pending = true;
    } else {
        state.scopes.resize(level_ - 1);
        try {
            const std::string name = savepoint_name(level_);
            state.savepoint_cleanup = "ROLLBACK TO SAVEPOINT " + name + "; RELEASE SAVEPOINT " + name;
        } catch (...) {
            // Out of memory: the parent cannot know what its savepoint did.
            if (!state.scopes.empty())
                state.scopes.back().aborted = "a savepoint could not be rolled back";
        }
    }
    if (!quietly)
        log(log_level::warning,
            std::uncaught_exceptions() > 0
                ? "pgcoro: a transaction scope was destroyed by an exception without commit() or rollback(); "
                  "it is rolled back"
                : "pgcoro: a transaction scope was destroyed without commit() or rollback(); it is rolled "
                  "back");
}

asio::awaitable<transaction> transaction::begin()
{
    connection* c = co_await prepare_statement();
    check_no_stream(*c);
    const std::size_t level = level_ + 1;
    // A failure (or cancellation) leaves this scope as it was: a server error aborts it as
    // any failed statement does, an interruption is caught by the next statement's recovery.
    // Built first: no string temporaries inside a co_await (g++ 12, see README).
    const std::string sql = "SAVEPOINT " + savepoint_name(level);
    co_await c->execute_script(sql);
    detail::session_state& state = *state_;
    const std::uint64_t id = state.next_id++;
    state.scopes.push_back({id, {}});
    co_return transaction(state_, level, id);
}

asio::awaitable<void> transaction::commit()
{
    // Throws transaction_closed, scope_not_innermost or transaction_aborted with the scope
    // still open: the caller must roll back (a COMMIT of a failed transaction would report
    // success and roll back). A lost connection ends it: nothing is left to commit.
    connection* c = nullptr;
    try {
        c = co_await prepare_statement();
    } catch (const error& e) {
        if (is_fatal(e.code()))
            abandon(true);
        throw;
    }
    check_no_stream(*c);
    detail::session_state& state = *state_;
    if (level_ > 1) {
        state.scopes.resize(level_ - 1);
        const std::string sql = "RELEASE SAVEPOINT " + savepoint_name(level_);
        try {
            co_await c->execute_script(sql);
        } catch (...) {
            if (!state.scopes.empty() && state.scopes.back().aborted.empty())
                state.scopes.back().aborted = "releasing a savepoint failed";
            throw;
        }
        co_return;
    }
    state.scopes.clear();
    state.rollback_pending = true; // whatever is left after a failure is rolled back
    std::exception_ptr failure;
    try {
        co_await c->execute_script("COMMIT");
        state.rollback_pending = false;
        co_return;
    } catch (...) {
        failure = std::current_exception();
    }
    if (!c->is_interrupted() && c->transaction() == transaction_status::idle) {
        // The server answered: an error at COMMIT (serialization failure, deferred
        // constraint) means it rolled the transaction back. The outcome is known.
        state.rollback_pending = false;
        std::rethrow_exception(failure);
    }
    if (!c->is_interrupted() && server_in_transaction(*c) && c->is_open()) {
        // Failed before anything was sent (e.g. cancelled on entry): not committed.
        std::rethrow_exception(failure);
    }
    throw error(client_errc::commit_outcome_unknown,
                "COMMIT was sent but no answer arrived (" + detail::exception_text(failure) +
                    "): the transaction may or may not have been committed");
}

asio::awaitable<void> transaction::rollback()
{
    if (!scope_open())
        co_return; // already ended: rollback() is safe to call on any path
    detail::session_state& state = *state_;
    if (!state.held) {
        state.scopes.clear();
        co_return;
    }
    connection& c = *state.held;
    check_no_stream(c);
    if (level_ == 1) {
        state.scopes.clear();
        state.savepoint_cleanup.clear();
        state.rollback_pending = true;
        try {
            if (c.is_interrupted())
                co_await c.recover();
            if (server_in_transaction(c))
                co_await c.execute_script("ROLLBACK");
            state.rollback_pending = false;
        } catch (const error& e) {
            // A lost connection has lost its transaction too: that is a rollback.
            if (!is_fatal(e.code()))
                throw;
            state.rollback_pending = false;
        }
        co_return;
    }
    state.scopes.resize(level_ - 1);
    state.savepoint_cleanup.clear(); // rolling back to this level covers deeper ones
    try {
        if (c.is_interrupted())
            co_await c.recover();
        const std::string name = savepoint_name(level_);
        const std::string sql = "ROLLBACK TO SAVEPOINT " + name + "; RELEASE SAVEPOINT " + name;
        co_await c.execute_script(sql);
    } catch (...) {
        if (!state.scopes.empty() && state.scopes.back().aborted.empty())
            state.scopes.back().aborted = "rolling back a savepoint failed";
        throw;
    }
}

// ---- session -----------------------------------------------------------------------------

session::session(lease connection)
    : queryable(std::make_shared<detail::session_state>(std::move(connection)), 0, 0)
{}

asio::awaitable<transaction> session::begin(transaction_options options)
{
    return begin_with(options);
}

asio::awaitable<transaction> session::begin_with(transaction_options options)
{
    if (state_ && !state_->scopes.empty())
        throw error(client_errc::transaction_in_progress,
                    "a transaction is already begun on this session; nest with transaction::begin()");
    connection* c = co_await prepare_statement();
    if (!c->is_open())
        throw error(client_errc::connection_lost,
                    "the connection to the server was lost; start a new session");
    check_no_stream(*c);
    if (c->transaction() != transaction_status::idle)
        throw error(
            client_errc::transaction_in_progress,
            "the server is already in a transaction block that no scope owns (a BEGIN run as a statement?)");
    detail::session_state& state = *state_;
    // From the moment BEGIN is sent until the scope exists, a transaction on the server is
    // nobody's: if BEGIN is cancelled or fails midway, it is rolled back later.
    state.rollback_pending = true;
    co_await c->execute_script(begin_statement(options));
    state.rollback_pending = false;
    const std::uint64_t id = state.next_id++;
    state.scopes.push_back({id, {}});
    co_return pgcoro::transaction(state_, 1, id);
}

bool session::in_transaction() const noexcept
{
    return state_ && !state_->scopes.empty();
}

connection& session::get_connection() const
{
    if (!state_)
        throw error(client_errc::connection_closed, "the session has no connection (moved from or released)");
    return state_->conn();
}

void session::release() noexcept
{
    if (!state_)
        return;
    detail::session_state& state = *state_;
    // A stream still reading holds a pointer into the connection: it keeps the lease (the
    // state) until it ends. Otherwise the connection goes back now; the pool's reset rolls
    // back whatever transaction is open, and every scope of the session is over.
    const bool stream_open = state.held && state.held->transaction() == transaction_status::active &&
                             !state.held->is_interrupted();
    if (!stream_open) {
        state.scopes.clear();
        state.rollback_pending = false;
        state.savepoint_cleanup.clear();
        state.held.release();
    }
    state_.reset();
}

asio::awaitable<void> session::end_failed_attempt(pgcoro::transaction& tx)
{
    if (!tx.active())
        co_return;
    try {
        co_await tx.rollback();
    } catch (...) {
        tx.abandon(true); // cancelled or failed: the session's next statement or the pool rolls back
    }
}

std::chrono::milliseconds session::retry_delay(const std::exception_ptr& failure, unsigned attempt,
                                               const retry_policy& policy) const
{
    constexpr std::chrono::milliseconds rethrow{-1};
    if (attempt >= policy.max_attempts)
        return rethrow;
    try {
        std::rethrow_exception(failure);
    } catch (const error& e) {
        if (!is_retryable(e.code()))
            return rethrow;
    } catch (...) {
        return rethrow;
    }
    if (!state_ || !state_->held || !state_->held->is_open())
        return rethrow;
    // Full jitter: uniform in [0, min(max, initial × 2^(attempt-1))).
    const unsigned shift = std::min(attempt - 1, 20u);
    const auto ceiling =
        std::min<std::int64_t>(policy.max_backoff.count(), policy.initial_backoff.count() << shift);
    if (ceiling <= 0)
        return std::chrono::milliseconds{0};
    thread_local std::minstd_rand random{std::random_device{}()};
    std::uniform_int_distribution<std::int64_t> pick(0, ceiling - 1);
    log(log_level::debug, "pgcoro: transaction attempt " + std::to_string(attempt) + " failed (" +
                              detail::exception_text(failure) + "); retrying");
    return std::chrono::milliseconds{pick(random)};
}

void session::rethrow_cancelled(const std::exception_ptr& failure)
{
    try {
        std::rethrow_exception(failure);
    } catch (const error& e) {
        if (is_retryable(e.code()))
            throw error(client_errc::operation_aborted,
                        std::string("cancelled instead of retrying the transaction after: ") + e.what());
        throw;
    }
}

asio::awaitable<void> session::sleep(std::chrono::milliseconds pause)
{
    if (pause.count() == 0)
        co_return;
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor, pause);
    auto waited = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (std::get<0>(waited))
        throw error(client_errc::operation_aborted, "cancelled while waiting to retry the transaction");
}

// ---- pool ---------------------------------------------------------------------------------

asio::awaitable<pgcoro::session> pool::session()
{
    lease leased = co_await acquire();
    co_return pgcoro::session(std::move(leased));
}

} // namespace pgcoro
