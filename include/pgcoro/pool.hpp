#pragma once
// A pool of connections: pre-ping, overflow, one deadline per acquire, recycling, reset on
// return, and recovery from server faults (DESIGN.md "Pool semantics").

#include <pgcoro/connect_options.hpp>
#include <pgcoro/connection.hpp>
#include <pgcoro/error.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace pgcoro {

namespace detail {
class pool_impl;
template <class Conn, class TimePoint> struct pool_record;
using pool_entry = pool_record<connection, std::chrono::steady_clock::time_point>;
} // namespace detail

/// What happens to a connection when its lease ends. Whatever the mode, the decision is
/// made from the server's transaction status (PQtransactionStatus), never from what the
/// client believes it did.
enum class reset_mode {
    /// Idle sessions go straight back. An open or failed transaction is rolled back; a
    /// statement still running is cancelled and drained first. A connection that cannot
    /// be brought back to idle within reset_timeout is closed.
    rollback,
    /// As rollback, then `SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`
    /// on every return (one extra round trip, run after the lease is released; prepared
    /// statements survive). For sessions that change settings or take advisory locks.
    full,
    /// Any connection not idle outside a transaction is closed instead of reset (pgx).
    close,
};

/// Coroutine hooks. Each runs with exclusive use of the connection, on the connection's
/// executor. A hook that throws discards the connection (on_connect: the connect counts as
/// failed; on_checkout: the acquire fails with that exception).
struct pool_hooks {
    /// Once per new connection (SET, LISTEN, prepare, ...). Prefer `options=-c ...` in the
    /// conninfo for settings: they survive RESET ALL.
    std::function<boost::asio::awaitable<void>(connection&)> on_connect;
    /// Before a connection is handed out. Not run for the pool's own pings.
    std::function<boost::asio::awaitable<void>(connection&)> on_checkout;
    /// When a lease ends, before the reset. Makes every return take the asynchronous path.
    std::function<boost::asio::awaitable<void>(connection&)> on_checkin;
};

/// Pool configuration. Names and defaults follow SQLAlchemy's QueuePool; differences are
/// marked Δ. Invalid values make the pool constructor throw client_errc::invalid_argument
/// naming the option.
struct pool_options {
    /// libpq connection string or postgresql:// URL (see connect_options::conninfo).
    std::string conninfo;
    /// Connections kept open when idle. 0 = no limit at all (max_overflow ignored).
    std::size_t pool_size = 5;
    /// Extra connections allowed beyond pool_size under load; -1 = unlimited. A connection
    /// returned while pool_size connections are already idle is closed.
    std::ptrdiff_t max_overflow = 10;
    /// Δ One deadline for the whole acquire: waiting, connecting and pre-pinging. 0 fails
    /// at once unless an idle connection is available (a connect is still started).
    std::chrono::milliseconds pool_timeout{std::chrono::seconds{30}};
    /// Deadline of one connection attempt (per host), enforced by pgcoro.
    std::chrono::milliseconds connect_timeout{std::chrono::seconds{10}};
    /// Δ (on by default) Check an idle connection with an empty query before handing it
    /// out, when it was idle at least pre_ping_idle or the server sent something while it
    /// was idle (a termination notice). A dead one is replaced within pool_timeout.
    bool pre_ping = true;
    std::chrono::milliseconds pre_ping_idle{std::chrono::seconds{1}};
    /// Bound on one pre-ping; a slower connection is replaced.
    std::chrono::milliseconds ping_timeout{std::chrono::seconds{5}};
    /// Maximum age of a connection (0 = off). Checked at checkout, at return and by the
    /// background sweep; a leased connection is never interrupted.
    std::chrono::milliseconds pool_recycle{0};
    /// Each connection's age limit is pool_recycle × (1 − u × jitter), u uniform in [0, 1),
    /// so connections opened together do not all expire together. In [0, 0.5].
    double pool_recycle_jitter = 0.025;
    /// Close connections idle this long, keeping at least min_idle (0 = off).
    std::chrono::milliseconds idle_timeout{0};
    /// Idle connections kept open (opened in the background); at most pool_size.
    std::size_t min_idle = 0;
    /// Hand out the most recently returned idle connection first (lets surplus ones age
    /// out). Waiters are always served first come, first served.
    bool lifo = false;
    reset_mode reset_on_return = reset_mode::rollback;
    /// Bound on the reset of a returned connection; past it the connection is closed.
    std::chrono::milliseconds reset_timeout{std::chrono::seconds{5}};
    /// Close a connection after this many checkouts (0 = off).
    std::uint64_t max_uses = 0;
    pool_hooks hooks;
    /// Connects in flight at once (each costs a TLS and SCRAM handshake on the I/O thread).
    std::size_t max_connecting = 2;
    /// Passed to every connection (connect_options).
    std::size_t statement_cache_size = 256;
    std::function<void(const diagnostics&)> on_notice;
    /// Passed to every connection (connect_options::on_query): one event per statement the
    /// pool's users run. The pool's own traffic (pings, resets) is not reported. Called on
    /// the connection's executor, possibly from several threads at once on a multi-threaded
    /// io_context: make it thread-safe.
    std::function<void(const query_event&)> on_query;
};

/// Counters and gauges of a pool at one instant.
struct pool_stats {
    std::size_t size = 0; ///< open connections (idle + checked out)
    std::size_t idle = 0;
    std::size_t checked_out = 0; ///< leased, or being reset or pinged
    std::size_t connecting = 0;  ///< connects in flight
    std::size_t overflow = 0;    ///< open connections beyond pool_size
    std::size_t waiting = 0;     ///< acquires queued for a connection

    std::uint64_t acquires = 0;        ///< connections handed out
    std::uint64_t waits = 0;           ///< acquires that had to queue
    std::uint64_t timeouts = 0;        ///< acquires that failed with pool_timeout
    std::uint64_t cancelled_waits = 0; ///< acquires cancelled while queued
    std::uint64_t created = 0;
    std::uint64_t connect_failures = 0;
    std::uint64_t pings = 0;
    std::uint64_t ping_failures = 0;
    std::uint64_t resets = 0; ///< returns that needed a rollback or cancel
    std::uint64_t generation = 0;

    /// Connections closed, by reason.
    std::uint64_t closed_recycled = 0;
    std::uint64_t closed_idle_timeout = 0;
    std::uint64_t closed_max_uses = 0;
    std::uint64_t closed_stale = 0;
    std::uint64_t closed_broken = 0;
    std::uint64_t closed_reset_failed = 0;
    std::uint64_t closed_surplus = 0;
    std::uint64_t closed_pool_closed = 0;
    std::uint64_t closed_hook_failed = 0;
    std::uint64_t closed_discarded = 0;
};

class pool;
class session;

/// A connection borrowed from a pool. Move-only; returns the connection on destruction
/// (or release()). The return cannot be cancelled and never blocks: a connection that
/// needs a rollback or a cancel is reset in the background before anyone else gets it.
///
/// Use the connection from one coroutine at a time. A lease may outlive its pool object:
/// the connection is then closed when the lease ends.
class lease {
public:
    lease() noexcept = default;
    lease(lease&& other) noexcept;
    lease& operator=(lease&& other) noexcept;
    ~lease();

    connection& operator*() const noexcept { return *connection_; }
    connection* operator->() const noexcept { return connection_; }
    connection& get() const noexcept { return *connection_; }
    explicit operator bool() const noexcept { return connection_ != nullptr; }

    /// Returns the connection now; the lease becomes empty. Idempotent.
    void release() noexcept;

    /// Closes the connection instead of returning it (e.g. after changing session state
    /// the reset cannot undo); its slot is freed. The lease becomes empty.
    void discard() noexcept;

private:
    friend class detail::pool_impl;
    lease(std::shared_ptr<detail::pool_impl> pool, detail::pool_entry* entry, connection* conn) noexcept
        : pool_(std::move(pool)), entry_(entry), connection_(conn)
    {}

    std::shared_ptr<detail::pool_impl> pool_;
    detail::pool_entry* entry_ = nullptr;
    connection* connection_ = nullptr;
};

/// A pool of connections to one server.
///
/// The pool starts empty (or opens min_idle connections in the background) and opens
/// connections on demand up to pool_size + max_overflow. Connects are not owned by the
/// acquire that caused them: cancelling an acquire never cancels a connect, whose
/// connection joins the pool. A disconnect error (a failed pre-ping, a lease returned
/// with a broken connection) bumps a generation: connections opened before it are
/// replaced when next idle.
///
/// Thread safety: all members may be called concurrently from any thread of the
/// io_context (the state sits behind a mutex held only for bookkeeping; no I/O and no
/// completion handler runs under it). Each connection gets its own strand for the pool's
/// background work (connect, ping, reset).
class pool {
public:
    /// Validates the options (client_errc::invalid_argument names the bad one) and starts
    /// min_idle connects. Connects nothing else: acquire a connection to check the server.
    pool(boost::asio::any_io_executor executor, pool_options options);

    /// Closes idle connections and fails queued acquires with pool_closed. Leases stay
    /// valid; their connections are closed when they end.
    ~pool();

    pool(const pool&) = delete;
    pool& operator=(const pool&) = delete;

    /// Borrows a connection: an idle one (pre-pinged if it was idle a while), a new one, or
    /// the next one returned, first come first served, all within pool_timeout.
    ///
    /// Throws client_errc::pool_timeout (the message names the limits, the counts and the
    /// last connect error), pool_closed, a connect error that retrying cannot fix (bad
    /// password, unknown database), an on_checkout exception, or operation_aborted when
    /// cancelled. Supports terminal cancellation; a connection handed over just as the
    /// acquire is cancelled goes back to the pool.
    boost::asio::awaitable<lease> acquire();

    /// acquire() wrapped in a session (transaction scopes, the shared query surface); throws
    /// as acquire(). Declared here, defined with the session (pgcoro/session.hpp), which
    /// callers include.
    boost::asio::awaitable<pgcoro::session> session();

    /// Fails queued and future acquires with pool_closed, closes idle connections, then
    /// waits up to `timeout` for leases to end and connects to finish. Connections still
    /// leased after that are closed when their lease ends. Idempotent.
    boost::asio::awaitable<void> close(std::chrono::milliseconds timeout = std::chrono::seconds{30});

    /// Marks every open connection stale (as a disconnect error does): idle ones are
    /// replaced at their next checkout, leased ones closed on return.
    void expire() noexcept;

    pool_stats stats() const;
    const pool_options& options() const noexcept;
    boost::asio::any_io_executor get_executor() const noexcept;

private:
    std::shared_ptr<detail::pool_impl> impl_;
};

} // namespace pgcoro
