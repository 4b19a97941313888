// pgcoro::pool: the I/O around detail::pool_core (connects, pings, resets, the waiter
// queue and its timer).
//
// Deviation from DESIGN.md ("pool state on a strand"): the state sits behind a std::mutex
// held only for pool_core's bookkeeping. A strand would cost two posts per acquire and
// release, far above the 250 ns budget for an idle acquire+release, and the critical
// sections never do I/O or run a completion handler (libpq-asio.md section 9 allows either).
// Each connection still gets its own strand for the pool's background work on it (connect,
// ping, reset), so a parallel group's cancellation never races the coroutine it cancels.

#include <pgcoro/detail/pool_core.hpp>
#include <pgcoro/logger.hpp>
#include <pgcoro/pool.hpp>

#include "detail/exception_text.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <libpq-fe.h>

#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pgcoro {
namespace detail {

namespace asio = boost::asio;
using clock = std::chrono::steady_clock;

namespace {

/// An idle connection that sat at least this long is checked for unread input (one poll):
/// a server that terminated it has sent a FATAL message and closed the socket. Shorter
/// idle periods skip the syscall, so a hot pool pays nothing.
constexpr auto unread_input_check_after = std::chrono::milliseconds{1};

/// How often close() looks whether every lease has ended.
constexpr auto close_poll_interval = std::chrono::milliseconds{5};

[[noreturn]] void invalid(const char* option, const std::string& why)
{
    throw error(client_errc::invalid_argument, std::string("pool_options.") + option + " " + why);
}

std::string seconds_text(std::chrono::milliseconds d)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.2f s", static_cast<double>(d.count()) / 1000.0);
    return text;
}

void validate(const pool_options& o)
{
    if (o.conninfo.empty())
        invalid("conninfo", "is empty");
    char* parse_error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(o.conninfo.c_str(), &parse_error);
    if (!parsed) {
        // libpq's message names the offending keyword; it never quotes values except in
        // URL errors, so only the structure of the string is reported.
        std::string why = parse_error ? parse_error : "could not be parsed";
        PQfreemem(parse_error);
        while (!why.empty() && (why.back() == '\n' || why.back() == ' '))
            why.pop_back();
        if (why.find("password") != std::string::npos || why.find(':') != std::string::npos)
            why = "could not be parsed as a connection string or URL";
        invalid("conninfo", "is invalid: " + why);
    }
    PQconninfoFree(parsed);
    if (o.max_overflow < -1)
        invalid("max_overflow", "must be -1 (unlimited) or more, got " + std::to_string(o.max_overflow));
    if (o.pool_timeout.count() < 0)
        invalid("pool_timeout", "must not be negative");
    if (o.connect_timeout.count() <= 0)
        invalid("connect_timeout", "must be positive");
    if (o.pre_ping_idle.count() < 0)
        invalid("pre_ping_idle", "must not be negative");
    if (o.ping_timeout.count() <= 0)
        invalid("ping_timeout", "must be positive");
    if (o.pool_recycle.count() < 0)
        invalid("pool_recycle", "must not be negative (0 turns it off)");
    if (!(o.pool_recycle_jitter >= 0.0 && o.pool_recycle_jitter <= 0.5))
        invalid("pool_recycle_jitter", "must be within [0, 0.5]");
    if (o.idle_timeout.count() < 0)
        invalid("idle_timeout", "must not be negative (0 turns it off)");
    if (o.pool_size != 0 && o.min_idle > o.pool_size)
        invalid("min_idle", "must not exceed pool_size (" + std::to_string(o.pool_size) + "), got " +
                                std::to_string(o.min_idle));
    if (o.reset_timeout.count() <= 0)
        invalid("reset_timeout", "must be positive");
    if (o.max_connecting == 0)
        invalid("max_connecting", "must be at least 1");
}

pool_limits<clock::duration> limits_from(const pool_options& o)
{
    pool_limits<clock::duration> l;
    l.pool_size = o.pool_size;
    l.max_overflow = o.pool_size == 0 ? -1 : o.max_overflow;
    l.max_connecting = o.max_connecting;
    l.min_idle = o.min_idle;
    l.lifo = o.lifo;
    l.recycle = o.pool_recycle;
    l.recycle_jitter = o.pool_recycle_jitter;
    l.idle_timeout = o.idle_timeout;
    l.max_uses = o.max_uses;
    l.pre_ping = o.pre_ping;
    l.pre_ping_idle = o.pre_ping_idle;
    // The sweep runs often enough to honour the shortest configured period within ~25 %.
    clock::duration period = std::chrono::seconds{1};
    for (auto d : {o.pool_recycle, o.idle_timeout})
        if (d.count() > 0)
            period = std::min<clock::duration>(period, d / 4);
    l.maintenance_period = std::max<clock::duration>(period, std::chrono::milliseconds{10});
    return l;
}

/// Connect failures that retrying with the same settings cannot fix: fail the waiters now
/// instead of letting them wait out pool_timeout. libpq 15 gives no SQLSTATE for connect
/// errors, so this reads the server's (English) message; unrecognised text just means the
/// waiters keep waiting, which is the safe side.
bool is_permanent_connect_error(const std::exception_ptr& failure)
{
    try {
        std::rethrow_exception(failure);
    } catch (const error& e) {
        if (e.code() == client_errc::invalid_connection_string)
            return true;
        std::string_view text = e.what();
        return text.find("authentication failed") != std::string_view::npos ||
               (text.find("database \"") != std::string_view::npos &&
                text.find("does not exist") != std::string_view::npos) ||
               (text.find("role \"") != std::string_view::npos &&
                text.find("does not exist") != std::string_view::npos);
    } catch (...) {
        return false;
    }
}

} // namespace

/// One acquire waiting for a connection. Lives in the acquiring coroutine's frame (shared
/// with the queue); every field is written under the pool mutex.
struct waiter_node {
    asio::any_completion_handler<void()> handler;
    asio::any_io_executor executor; ///< the handler's associated executor, where it completes
    std::unique_ptr<pool_entry> delivered;
    std::optional<waiter_failure> failure;
    bool cancelled = false;
    std::uint64_t id = 0;
};

class pool_impl : public std::enable_shared_from_this<pool_impl> {
public:
    using core_type = pool_core<connection, clock, std::shared_ptr<waiter_node>>;
    using effects = core_type::effects;
    using record_ptr = core_type::record_ptr;
    using handler_type = asio::any_completion_handler<void()>;

    pool_impl(asio::any_io_executor executor, pool_options options)
        : executor_(std::move(executor)), options_(std::move(options)), core_(limits_from(options_)),
          timer_(executor_)
    {}

    /// Work to do once the mutex is released.
    struct pending {
        effects fx;
        std::vector<std::pair<handler_type, asio::any_io_executor>> ready;
    };

    void start()
    {
        if (options_.pool_size == 0 || options_.max_overflow < 0)
            log(log_level::warning, "pgcoro pool: no connection limit (pool_size 0 or max_overflow -1); "
                                    "a load spike can exhaust the server's max_connections");
        pending work;
        {
            std::lock_guard guard(mutex_);
            core_.tick(clock::now(), work.fx); // min_idle connects, first maintenance
            settle_locked(work);
        }
        apply(work);
    }

    static asio::awaitable<lease> acquire(std::shared_ptr<pool_impl> self);
    void release(pool_entry* entry) noexcept;
    void discard(pool_entry* entry) noexcept;
    void shutdown() noexcept;
    static asio::awaitable<void> close(std::shared_ptr<pool_impl> self, std::chrono::milliseconds timeout);

    void expire() noexcept
    {
        std::lock_guard guard(mutex_);
        core_.bump_generation();
    }

    pool_stats stats() const;
    const pool_options& options() const noexcept { return options_; }
    const asio::any_io_executor& executor() const noexcept { return executor_; }

private:
    friend struct cancel_waiter;

    // ---- bookkeeping under the mutex ------------------------------------------------
    /// Moves completed waiters' handlers out of their nodes (under the mutex, so a
    /// concurrent cancellation sees a consistent node) and re-arms the timer.
    void settle_locked(pending& work)
    {
        for (auto& [node, record] : work.fx.handoffs) {
            node->delivered = std::move(record);
            work.ready.emplace_back(std::move(node->handler), node->executor);
        }
        work.fx.handoffs.clear();
        for (auto& [node, why] : work.fx.failures) {
            node->failure = why;
            if (node->handler)
                work.ready.emplace_back(std::move(node->handler), node->executor);
        }
        work.fx.failures.clear();
        arm_timer_locked();
    }

    void arm_timer_locked()
    {
        std::optional<clock::time_point> next = core_.next_wakeup();
        if (!next) {
            // Nothing left to wake up for: a pending wait would keep io_context::run() busy
            // until it expires (up to pool_timeout after the last waiter was served).
            if (armed_) {
                armed_.reset();
                timer_.cancel();
            }
            return;
        }
        if (armed_ && *armed_ <= *next)
            return;
        armed_ = *next;
        timer_.expires_at(*next); // cancels a wait for a later time
        timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
            if (ec == asio::error::operation_aborted)
                return;
            if (auto self = weak.lock())
                self->on_timer();
        });
    }

    /// Performs what the core asked for: closes connections, starts connects, completes
    /// waiters (each on its own executor, never inline).
    void apply(pending& work) noexcept
    {
        for (auto& [record, why] : work.fx.closes)
            record->connection.close();
        work.fx.closes.clear();
        for (std::size_t i = 0; i < work.fx.connects; ++i)
            start_connect();
        for (auto& [handler, ex] : work.ready) {
            asio::post(ex, [h = std::move(handler)]() mutable {
                asio::get_associated_cancellation_slot(h).clear();
                std::move(h)();
            });
        }
    }

    void on_timer() noexcept
    {
        pending work;
        {
            std::lock_guard guard(mutex_);
            armed_.reset();
            core_.tick(clock::now(), work.fx);
            settle_locked(work);
        }
        apply(work);
    }

    // ---- waiting ------------------------------------------------------------------------
    template <class Token>
    auto async_wait_for_connection(std::shared_ptr<waiter_node> node, clock::time_point deadline,
                                   Token&& token)
    {
        return asio::async_initiate<Token, void()>(
            [this](auto handler, std::shared_ptr<waiter_node> n, clock::time_point d) {
                // Only awaitable handlers come here: their executor is an any_io_executor.
                n->executor = asio::get_associated_executor(handler, executor_);
                begin_wait(std::move(n), d, handler_type(std::move(handler)));
            },
            token, std::move(node), deadline);
    }

    void begin_wait(std::shared_ptr<waiter_node> node, clock::time_point deadline, handler_type handler);
    void cancel_wait(waiter_node* node) noexcept;

    // ---- background work ---------------------------------------------------------------
    void start_connect() noexcept;
    static asio::awaitable<void> connect_task(std::shared_ptr<pool_impl> self, asio::any_io_executor strand);
    void connect_finished(connection c, std::exception_ptr failure) noexcept;
    static asio::awaitable<bool> ping(connection& c, clock::duration timeout);
    static asio::awaitable<void> return_task(std::shared_ptr<pool_impl> self, record_ptr record);
    asio::awaitable<bool> reset(connection& c);
    void finish_return(record_ptr record, bool healthy, close_reason why, bool disconnect) noexcept;

    /// Ends a lease by closing its connection (slot freed). A broken connection counts as a
    /// disconnect and bumps the generation.
    void drop(lease& held, close_reason why) noexcept
    {
        record_ptr record(std::exchange(held.entry_, nullptr));
        held.connection_ = nullptr;
        held.pool_.reset();
        bool disconnect = record->connection.is_broken();
        finish_return(std::move(record), false, disconnect ? close_reason::broken : why, disconnect);
    }

    /// The pool_timeout error (call with the mutex held: it reports the counts).
    error timeout_error() const;
    error waiter_error(const waiter_node& node) const;

    asio::any_io_executor executor_;
    pool_options options_;
    mutable std::mutex mutex_;
    core_type core_;
    asio::steady_timer timer_;
    std::optional<clock::time_point> armed_;
    std::string last_connect_error_; // empty after a successful connect
    unsigned failures_in_row_ = 0;
    std::uint64_t pings_ = 0;
    std::uint64_t ping_failures_ = 0;
    std::uint64_t resets_ = 0;
};

/// Installed in an acquire's cancellation slot while it waits.
struct cancel_waiter {
    pool_impl* pool;
    waiter_node* node;
    void operator()(asio::cancellation_type type) const noexcept
    {
        if ((type & (asio::cancellation_type::terminal | asio::cancellation_type::partial |
                     asio::cancellation_type::total)) != asio::cancellation_type::none)
            pool->cancel_wait(node);
    }
};

void pool_impl::begin_wait(std::shared_ptr<waiter_node> node, clock::time_point deadline,
                           handler_type handler)
{
    pending work;
    {
        std::lock_guard guard(mutex_);
        clock::time_point now = clock::now();
        // A connection may have come back since acquire() looked.
        if (record_ptr r = core_.take(now, work.fx)) {
            node->delivered = std::move(r);
            work.ready.emplace_back(std::move(handler), node->executor);
        } else {
            // swap, not move-assignment: Boost 1.81's any_completion_handler::operator=(&&)
            // recurses until the stack overflows (it copies `other` through its template
            // constructor; fixed in 1.82).
            node->handler.swap(handler);
            auto slot = asio::get_associated_cancellation_slot(node->handler);
            if (slot.is_connected())
                slot.template emplace<cancel_waiter>(cancel_waiter{this, node.get()});
            waiter_node* raw = node.get();
            raw->id = core_.enqueue(std::move(node), deadline, now, work.fx);
        }
        settle_locked(work);
    }
    apply(work);
}

void pool_impl::cancel_wait(waiter_node* node) noexcept
{
    pending work;
    {
        std::lock_guard guard(mutex_);
        std::optional<std::shared_ptr<waiter_node>> queued = core_.cancel(node->id);
        if (!queued)
            return; // already handed a connection or failed: that completion is on its way
        node->cancelled = true;
        work.ready.emplace_back(std::move(node->handler), node->executor);
        settle_locked(work);
    }
    apply(work);
}

// ---- acquire ---------------------------------------------------------------------------

asio::awaitable<lease> pool_impl::acquire(std::shared_ptr<pool_impl> self)
{
    clock::time_point now = clock::now();
    const clock::time_point deadline = now + self->options_.pool_timeout;
    for (bool first = true;; first = false) {
        record_ptr taken;
        bool must_ping = false;
        clock::duration idle_for{};
        {
            pending work;
            {
                std::lock_guard guard(self->mutex_);
                if (self->core_.closed())
                    throw error(client_errc::pool_closed, "the pool is closed");
                if (!first)
                    now = clock::now(); // (the first pass reuses the deadline's reading)
                taken = self->core_.take(now, work.fx);
                if (taken) {
                    must_ping = self->core_.needs_ping(*taken, now);
                    idle_for = now - taken->idle_since;
                }
                if (!work.fx.empty())
                    self->settle_locked(work);
            }
            self->apply(work);
        }
        // Outside the mutex: a system call.
        if (taken && !must_ping && self->options_.pre_ping && !taken->fresh &&
            idle_for >= unread_input_check_after)
            must_ping = taken->connection.has_unread_input();
        if (!taken) {
            auto node = std::make_shared<waiter_node>();
            co_await self->async_wait_for_connection(node, deadline, asio::use_awaitable);
            if (node->cancelled)
                throw error(client_errc::operation_aborted, "acquire cancelled");
            if (node->failure)
                throw self->waiter_error(*node);
            if (!node->delivered)
                throw error(client_errc::pool_timeout, "the pool completed a wait without a result");
            taken = std::move(node->delivered);
            // A handoff is fresh or was in use a moment ago; the wait may also have found an
            // idle one, which is judged like any other.
            must_ping = self->core_.needs_ping(*taken, clock::now());
        }

        // From here the connection is held by a lease, so a cancellation or exception
        // returns it (and its slot) through the normal return path.
        connection* conn = &taken->connection;
        lease held(self, taken.release(), conn);
        if (must_ping) {
            clock::duration remaining = deadline - clock::now();
            clock::duration bound = std::min<clock::duration>(self->options_.ping_timeout, remaining);
            bool alive = false;
            if (bound > clock::duration::zero())
                alive = co_await ping(*conn, bound);
            {
                std::lock_guard guard(self->mutex_);
                ++self->pings_;
                if (!alive)
                    ++self->ping_failures_;
            }
            if (!alive) {
                // Dead (a disconnect: older connections are suspect too) or too slow.
                self->drop(held, close_reason::broken);
                if (clock::now() >= deadline) {
                    std::lock_guard guard(self->mutex_);
                    throw self->timeout_error();
                }
                continue;
            }
        }
        if (self->options_.hooks.on_checkout) {
            try {
                co_await self->options_.hooks.on_checkout(*conn);
            } catch (...) {
                self->drop(held, close_reason::hook_failed);
                throw;
            }
        }
        co_return held;
    }
}

asio::awaitable<bool> pool_impl::ping(connection& c, clock::duration timeout)
{
    // The ping runs on the connection's strand and the timer fires there too, so the
    // group's cancellation of a slow ping (which co_spawn dispatches to that strand) never
    // races the ping itself, whatever executor the acquiring coroutine runs on.
    auto strand = c.get_executor();
    asio::steady_timer timer(strand, timeout);
    auto outcome = co_await asio::experimental::make_parallel_group(
                       asio::co_spawn(strand, c.ping(), asio::deferred), timer.async_wait(asio::deferred))
                       .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    co_return std::get<0>(outcome)[0] == 0 && !std::get<1>(outcome);
}

error pool_impl::waiter_error(const waiter_node& node) const
{
    std::lock_guard guard(mutex_);
    switch (*node.failure) {
    case waiter_failure::pool_closed:
        return error(client_errc::pool_closed, "the pool is closed");
    case waiter_failure::connect_error:
        return error(client_errc::connect_failed,
                     "the pool could not open a connection: " + last_connect_error_);
    case waiter_failure::timeout:
    default:
        return timeout_error();
    }
}

error pool_impl::timeout_error() const
{
    // SQLAlchemy's wording, plus the counts a person debugging the timeout needs.
    std::string text;
    bool at_limit = core_.slots() >= core_.capacity();
    if (at_limit)
        text = "pool limit of size " + std::to_string(options_.pool_size) + " overflow " +
               std::to_string(options_.max_overflow) + " reached, connection timed out, timeout " +
               seconds_text(options_.pool_timeout);
    else
        text = "no connection could be opened within the pool timeout of " +
               seconds_text(options_.pool_timeout) + " (pool_size " + std::to_string(options_.pool_size) +
               ", max_overflow " + std::to_string(options_.max_overflow) + ")";
    text += " (open " + std::to_string(core_.open()) + ", checked out " +
            std::to_string(core_.checked_out()) + ", idle " + std::to_string(core_.idle()) + ", connecting " +
            std::to_string(core_.connecting()) + ", waiting " + std::to_string(core_.waiting()) + ")";
    if (!last_connect_error_.empty())
        text += "; last connect error: " + last_connect_error_;
    return error(client_errc::pool_timeout, text);
}

// ---- connects ----------------------------------------------------------------------------

void pool_impl::start_connect() noexcept
{
    try {
        auto strand = asio::make_strand(executor_);
        // Detached and owned by the pool, not by the acquire that asked for it: cancelling
        // that acquire never cancels the connect (DESIGN.md "Pool semantics").
        asio::co_spawn(strand, connect_task(shared_from_this(), strand), asio::detached);
    } catch (...) {
        connect_finished(connection{}, std::current_exception());
    }
}

asio::awaitable<void> pool_impl::connect_task(std::shared_ptr<pool_impl> self, asio::any_io_executor strand)
{
    connect_options o;
    o.conninfo = self->options_.conninfo;
    o.connect_timeout = self->options_.connect_timeout;
    o.statement_cache_size = self->options_.statement_cache_size;
    o.on_notice = self->options_.on_notice;
    o.on_query = self->options_.on_query;
    connection c;
    std::exception_ptr failure;
    try {
        c = co_await connection::connect(strand, std::move(o));
        if (self->options_.hooks.on_connect)
            co_await self->options_.hooks.on_connect(c);
    } catch (...) {
        failure = std::current_exception();
        c.close();
    }
    self->connect_finished(std::move(c), failure);
}

void pool_impl::connect_finished(connection c, std::exception_ptr failure) noexcept
{
    pending work;
    unsigned in_row = 0;
    {
        std::lock_guard guard(mutex_);
        clock::time_point now = clock::now();
        failures_in_row_ = failure ? failures_in_row_ + 1 : 0;
        in_row = failures_in_row_;
        if (failure) {
            last_connect_error_ = detail::exception_text(failure);
            core_.connect_failed(now, is_permanent_connect_error(failure), work.fx);
        } else {
            last_connect_error_.clear();
            core_.connect_succeeded(std::move(c), now, work.fx);
        }
        settle_locked(work);
    }
    // An outage makes every retry fail: warn on the first failure after a success and then
    // every tenth, the rest at debug level.
    if (failure) {
        bool loud = in_row % 10 == 1;
        log(loud ? log_level::warning : log_level::debug,
            "pgcoro pool: connect failed (" + std::to_string(in_row) +
                " in a row): " + detail::exception_text(failure));
    }
    apply(work);
}

// ---- return ------------------------------------------------------------------------------

void pool_impl::release(pool_entry* entry) noexcept
{
    record_ptr record(entry);
    const connection& c = record->connection;
    const bool open = c.is_open();
    const bool broken = c.is_broken();
    if (c.is_idle() && !options_.hooks.on_checkin && options_.reset_on_return != reset_mode::full) {
        // The common case: nothing to reset, no I/O. Back in the pool synchronously.
        return finish_return(std::move(record), true, close_reason::reset_failed, false);
    }
    if (open) {
        // The return cannot be cancelled: detached, with no cancellation slot, on the
        // connection's own strand. (Out of memory here loses the slot along with the
        // connection; nothing better is possible in a noexcept path.)
        try {
            auto strand = c.get_executor();
            asio::co_spawn(strand, return_task(shared_from_this(), std::move(record)), asio::detached);
        } catch (...) {
            log(log_level::error, "pgcoro pool: could not start the reset of a returned connection");
        }
        return;
    }
    finish_return(std::move(record), false, broken ? close_reason::broken : close_reason::reset_failed,
                  broken);
}

void pool_impl::discard(pool_entry* entry) noexcept
{
    record_ptr record(entry);
    bool broken = record->connection.is_broken();
    finish_return(std::move(record), false, broken ? close_reason::broken : close_reason::discarded, broken);
}

asio::awaitable<void> pool_impl::return_task(std::shared_ptr<pool_impl> self, record_ptr record)
{
    connection& c = record->connection;
    bool healthy = false;
    close_reason why = close_reason::reset_failed;
    if (self->options_.hooks.on_checkin) {
        try {
            co_await self->options_.hooks.on_checkin(c);
        } catch (...) {
            why = close_reason::hook_failed;
        }
    }
    if (why != close_reason::hook_failed) {
        try {
            auto strand = c.get_executor();
            asio::steady_timer timer(strand, self->options_.reset_timeout);
            auto outcome =
                co_await asio::experimental::make_parallel_group(
                    asio::co_spawn(strand, self->reset(c), asio::deferred), timer.async_wait(asio::deferred))
                    .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
            healthy = std::get<0>(outcome)[0] == 0 && !std::get<1>(outcome) && std::get<2>(outcome);
        } catch (...) {
            healthy = false;
        }
    }
    bool disconnect = !healthy && c.is_broken();
    if (disconnect)
        why = close_reason::broken;
    self->finish_return(std::move(record), healthy, why, disconnect);
}

asio::awaitable<bool> pool_impl::reset(connection& c)
{
    if (options_.reset_on_return == reset_mode::close && !c.is_idle())
        co_return false;
    if (!c.is_idle()) {
        std::lock_guard guard(mutex_);
        ++resets_;
    }
    co_await c.recover(); // cancel + drain an interrupted statement (throws when lost)
    switch (c.transaction()) {
    case transaction_status::idle:
        break;
    case transaction_status::in_transaction:
    case transaction_status::in_error:
        co_await detail::execute_internal_script(c, "ROLLBACK"); // not the user's: on_query does not see it
        break;
    default:
        co_return false;
    }
    if (options_.reset_on_return == reset_mode::full)
        co_await detail::execute_internal_script(
            c, "SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL");
    co_return c.is_idle();
}

void pool_impl::finish_return(record_ptr record, bool healthy, close_reason why, bool disconnect) noexcept
{
    pending work;
    {
        std::lock_guard guard(mutex_);
        clock::time_point now = clock::now();
        if (healthy)
            core_.checkin(std::move(record), now, work.fx);
        else
            core_.discard(std::move(record), why, disconnect, now, work.fx);
        // Neither call queues a waiter or moves a deadline: with no effects there is
        // nothing to hand over and no timer to re-arm (the hot path of every release).
        if (!work.fx.empty())
            settle_locked(work);
    }
    apply(work);
}

// ---- close -------------------------------------------------------------------------------

void pool_impl::shutdown() noexcept
{
    pending work;
    {
        std::lock_guard guard(mutex_);
        core_.close(work.fx);
        settle_locked(work);
        timer_.cancel();
        armed_.reset();
    }
    apply(work);
}

asio::awaitable<void> pool_impl::close(std::shared_ptr<pool_impl> self, std::chrono::milliseconds timeout)
{
    self->shutdown();
    const clock::time_point deadline = clock::now() + timeout;
    asio::steady_timer timer(self->executor_);
    for (;;) {
        std::size_t busy = 0;
        {
            std::lock_guard guard(self->mutex_);
            busy = self->core_.checked_out() + self->core_.connecting();
        }
        if (busy == 0)
            co_return;
        if (clock::now() >= deadline) {
            log(log_level::warning, "pgcoro pool: close() timed out with " + std::to_string(busy) +
                                        " connection(s) still leased or connecting; they are closed when "
                                        "their lease ends");
            co_return;
        }
        timer.expires_after(close_poll_interval);
        co_await timer.async_wait(asio::use_awaitable);
    }
}

pool_stats pool_impl::stats() const
{
    std::lock_guard guard(mutex_);
    pool_stats s;
    s.idle = core_.idle();
    s.checked_out = core_.checked_out();
    s.size = core_.open();
    s.connecting = core_.connecting();
    s.overflow = options_.pool_size != 0 && s.size > options_.pool_size ? s.size - options_.pool_size : 0;
    s.waiting = core_.waiting();
    const auto& c = core_.stats();
    s.acquires = c.acquires;
    s.waits = c.waits;
    s.timeouts = c.timeouts;
    s.cancelled_waits = c.cancelled_waits;
    s.created = c.created;
    s.connect_failures = c.connect_failures;
    s.pings = pings_;
    s.ping_failures = ping_failures_;
    s.resets = resets_;
    s.generation = core_.generation();
    auto closed = [&](close_reason r) {
        return c.closed[static_cast<std::size_t>(r)];
    };
    s.closed_recycled = closed(close_reason::recycled);
    s.closed_idle_timeout = closed(close_reason::idle_timeout);
    s.closed_max_uses = closed(close_reason::max_uses);
    s.closed_stale = closed(close_reason::stale_generation);
    s.closed_broken = closed(close_reason::broken);
    s.closed_reset_failed = closed(close_reason::reset_failed);
    s.closed_surplus = closed(close_reason::surplus);
    s.closed_pool_closed = closed(close_reason::pool_closed);
    s.closed_hook_failed = closed(close_reason::hook_failed);
    s.closed_discarded = closed(close_reason::discarded);
    return s;
}

} // namespace detail

// ---- lease -------------------------------------------------------------------------------

lease::lease(lease&& other) noexcept
    : pool_(std::move(other.pool_)), entry_(std::exchange(other.entry_, nullptr)),
      connection_(std::exchange(other.connection_, nullptr))
{}

lease& lease::operator=(lease&& other) noexcept
{
    if (this != &other) {
        release();
        pool_ = std::move(other.pool_);
        entry_ = std::exchange(other.entry_, nullptr);
        connection_ = std::exchange(other.connection_, nullptr);
    }
    return *this;
}

lease::~lease()
{
    release();
}

void lease::release() noexcept
{
    if (entry_) {
        connection_ = nullptr;
        pool_->release(std::exchange(entry_, nullptr));
        pool_.reset();
    }
}

void lease::discard() noexcept
{
    if (entry_) {
        connection_ = nullptr;
        pool_->discard(std::exchange(entry_, nullptr));
        pool_.reset();
    }
}

// ---- pool --------------------------------------------------------------------------------

pool::pool(boost::asio::any_io_executor executor, pool_options options)
{
    detail::validate(options);
    impl_ = std::make_shared<detail::pool_impl>(std::move(executor), std::move(options));
    impl_->start();
}

pool::~pool()
{
    if (impl_)
        impl_->shutdown();
}

boost::asio::awaitable<lease> pool::acquire()
{
    return detail::pool_impl::acquire(impl_);
}

boost::asio::awaitable<void> pool::close(std::chrono::milliseconds timeout)
{
    return detail::pool_impl::close(impl_, timeout);
}

void pool::expire() noexcept
{
    impl_->expire();
}

pool_stats pool::stats() const
{
    return impl_->stats();
}

const pool_options& pool::options() const noexcept
{
    return impl_->options();
}

boost::asio::any_io_executor pool::get_executor() const noexcept
{
    return impl_->executor();
}

} // namespace pgcoro
