#pragma once
// The pool's bookkeeping without I/O: idle list, FIFO waiters, slot accounting, deadlines,
// recycling and generations. Templated on the connection, the clock and the waiter payload
// so unit tests drive it with mock connections and a manual clock; pgcoro::pool wraps it
// with real connections, a mutex and one timer (src/pool.cpp).
//
// Every call is synchronous and cheap. Anything the caller must do afterwards (close a
// connection, start connects, complete waiters) comes back in `effects`, which the caller
// performs after releasing its lock: no I/O and no completion handler ever runs inside the
// core.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace pgcoro::detail {

/// Why the pool closed a connection (counted in pool_stats).
enum class close_reason : unsigned char {
    recycled,         ///< older than pool_recycle
    idle_timeout,     ///< idle longer than idle_timeout above min_idle
    max_uses,         ///< checked out max_uses times
    stale_generation, ///< opened before a disconnect error invalidated the pool
    broken,           ///< found dead (pre-ping, or returned broken)
    reset_failed,     ///< could not be brought back to an idle session on return
    surplus,          ///< returned while pool_size connections were already idle
    pool_closed,      ///< the pool was closed
    hook_failed,      ///< on_checkout or on_checkin threw
    discarded,        ///< the lease holder asked for it (lease::discard)
    count_
};

inline constexpr std::size_t close_reason_count = static_cast<std::size_t>(close_reason::count_);

/// Limits and timings the core enforces (validated pool_options, minus I/O settings).
template <class Duration> struct pool_limits {
    std::size_t pool_size = 5;        ///< idle connections kept; 0 = unlimited (no cap at all)
    std::ptrdiff_t max_overflow = 10; ///< beyond pool_size; -1 = unlimited
    std::size_t max_connecting = 2;   ///< connects in flight at once
    std::size_t min_idle = 0;
    bool lifo = false;
    Duration recycle{0};        ///< max age; 0 = off
    double recycle_jitter = 0;  ///< fraction of recycle subtracted at random per connection
    Duration idle_timeout{0};   ///< 0 = off
    std::uint64_t max_uses = 0; ///< 0 = off
    Duration pre_ping_idle{0};  ///< ping when idle at least this long (pre_ping on)
    bool pre_ping = true;
    Duration maintenance_period{std::chrono::seconds{1}};
    Duration backoff_initial{std::chrono::milliseconds{20}};
    Duration backoff_max{std::chrono::seconds{1}};
};

/// Why a waiter failed without a connection.
enum class waiter_failure : unsigned char {
    timeout,       ///< pool_timeout passed
    pool_closed,   ///< the pool was closed
    connect_error, ///< a connect failed in a way retrying cannot fix (bad password, ...)
};

/// One open connection and what the pool knows about it. Moves between the idle list, the
/// caller (checked out) and the close list as a unique_ptr: whoever holds the pointer owns
/// the slot.
template <class Conn, class TimePoint> struct pool_record {
    Conn connection;
    TimePoint created{};
    TimePoint expires = TimePoint::max(); ///< created + recycle - jitter
    TimePoint idle_since{};
    std::uint64_t uses = 0;
    std::uint64_t generation = 0;
    bool fresh = true; ///< handed from its connect straight to a waiter (skips pre-ping)
};

template <class Conn, class Clock, class Waiter> class pool_core {
public:
    using time_point = typename Clock::time_point;
    using duration = typename Clock::duration;
    using waiter_id = std::uint64_t;

    using record = pool_record<Conn, time_point>;
    using record_ptr = std::unique_ptr<record>;

    /// What the caller must do after a call, outside its lock.
    struct effects {
        std::vector<std::pair<Waiter, record_ptr>> handoffs; ///< complete these waiters with a connection
        std::vector<std::pair<Waiter, waiter_failure>> failures;
        std::vector<std::pair<record_ptr, close_reason>> closes; ///< slot already freed
        std::size_t connects = 0;                                ///< start this many connects

        bool empty() const noexcept
        {
            return handoffs.empty() && failures.empty() && closes.empty() && connects == 0;
        }
    };

    struct counters {
        std::uint64_t acquires = 0; ///< connections handed out (idle or to a waiter)
        std::uint64_t waits = 0;    ///< acquires that had to queue
        std::uint64_t timeouts = 0;
        std::uint64_t cancelled_waits = 0;
        std::uint64_t connects_started = 0;
        std::uint64_t created = 0;
        std::uint64_t connect_failures = 0;
        std::uint64_t generation_bumps = 0;
        std::array<std::uint64_t, close_reason_count> closed{};
    };

    explicit pool_core(pool_limits<duration> limits, std::uint64_t seed = 0x9e3779b97f4a7c15ull)
        : limits_(limits), random_(seed ? seed : 1)
    {}

    // ---- acquire -----------------------------------------------------------------------

    /// Takes a usable idle connection, or returns null. Stale or expired idle connections
    /// met on the way are closed (effects). Never blocks, never queues.
    record_ptr take(time_point now, effects& fx)
    {
        while (!idle_.empty()) {
            record_ptr r;
            if (limits_.lifo) {
                r = std::move(idle_.back());
                idle_.pop_back();
            } else {
                r = std::move(idle_.front());
                idle_.pop_front();
            }
            if (auto why = retire_reason(*r, now)) {
                close(std::move(r), *why, fx);
                continue;
            }
            ++checked_out_;
            ++r->uses;
            ++counters_.acquires;
            fill(now, fx); // keep min_idle warm
            return r;
        }
        return nullptr;
    }

    /// Whether a connection just taken must be pinged first (pre_ping on, not fresh from its
    /// connect, and idle at least pre_ping_idle).
    bool needs_ping(const record& r, time_point now) const noexcept
    {
        return limits_.pre_ping && !r.fresh && now - r.idle_since >= limits_.pre_ping_idle;
    }

    /// Queues a waiter (FIFO) until `deadline` and starts connects if capacity allows. Only
    /// after take() returned null under the same lock. On a closed pool the waiter fails
    /// at once.
    waiter_id enqueue(Waiter w, time_point deadline, time_point now, effects& fx)
    {
        waiter_id id = ++last_waiter_id_;
        if (closed_) {
            fx.failures.emplace_back(std::move(w), waiter_failure::pool_closed);
            return id;
        }
        ++counters_.waits;
        auto deadline_entry = deadlines_.emplace(deadline, id);
        waiters_.emplace(id, waiter_entry{std::move(w), deadline_entry});
        fill(now, fx);
        return id;
    }

    /// Removes a queued waiter (its caller gave up). Returns the payload when it was still
    /// queued; nullopt when it was already completed (then its handoff or failure is in
    /// flight and the caller must let it arrive).
    std::optional<Waiter> cancel(waiter_id id)
    {
        auto it = waiters_.find(id);
        if (it == waiters_.end())
            return std::nullopt;
        Waiter w = std::move(it->second.payload);
        deadlines_.erase(it->second.deadline);
        waiters_.erase(it);
        ++counters_.cancelled_waits;
        return w;
    }

    // ---- connects ----------------------------------------------------------------------

    /// A connect started by effects::connects succeeded: the connection joins the pool (to
    /// the oldest waiter, else idle).
    void connect_succeeded(Conn c, time_point now, effects& fx)
    {
        --connecting_;
        ++counters_.created;
        failures_in_row_ = 0;
        retry_at_ = time_point::min();
        auto r = std::make_unique<record>();
        if (closed_) {
            r->connection = std::move(c);
            return close(std::move(r), close_reason::pool_closed, fx);
        }
        r->connection = std::move(c);
        r->created = now;
        r->generation = generation_;
        if (limits_.recycle > duration::zero()) {
            double cut = limits_.recycle_jitter * next_unit();
            auto lifetime = limits_.recycle - std::chrono::duration_cast<duration>(limits_.recycle * cut);
            r->expires = now + lifetime;
        }
        ++checked_out_; // counted as out until placed
        place(std::move(r), now, fx);
        fill(now, fx); // more waiters may need connects (only max_connecting run at once)
    }

    /// A connect failed. Retries back off exponentially while anyone still needs one.
    /// `permanent` (bad credentials, unknown database, bad conninfo) fails every current
    /// waiter at once instead of letting them wait out pool_timeout.
    void connect_failed(time_point now, bool permanent, effects& fx)
    {
        --connecting_;
        ++counters_.connect_failures;
        ++failures_in_row_;
        duration backoff = limits_.backoff_initial;
        for (unsigned i = 1; i < failures_in_row_ && backoff < limits_.backoff_max; ++i)
            backoff *= 2;
        retry_at_ = now + std::min(backoff, limits_.backoff_max);
        if (permanent)
            fail_all_waiters(waiter_failure::connect_error, fx);
        fill(now, fx);
    }

    // ---- return ------------------------------------------------------------------------

    /// A checked-out connection comes back healthy and reset (idle session, no
    /// transaction). It goes to the oldest waiter, to the idle list, or is closed (pool
    /// closed, stale, expired, used up, or surplus beyond pool_size idle).
    void checkin(record_ptr r, time_point now, effects& fx)
    {
        r->fresh = false;
        if (closed_)
            return close_checked_out(std::move(r), close_reason::pool_closed, now, fx);
        if (auto why = retire_reason(*r, now))
            return close_checked_out(std::move(r), *why, now, fx);
        if (limits_.max_uses != 0 && r->uses >= limits_.max_uses)
            return close_checked_out(std::move(r), close_reason::max_uses, now, fx);
        place(std::move(r), now, fx);
    }

    /// A checked-out connection is destroyed instead of returned (dead, reset failed, hook
    /// failed). `disconnect` bumps the generation: every connection opened before now is
    /// replaced when next seen idle or returned.
    void discard(record_ptr r, close_reason why, bool disconnect, time_point now, effects& fx)
    {
        if (disconnect)
            bump_generation();
        close_checked_out(std::move(r), why, now, fx);
    }

    /// Invalidates every connection opened so far (a disconnect error, or the user's
    /// request): they are replaced lazily, never interrupted while checked out.
    void bump_generation() noexcept
    {
        ++generation_;
        ++counters_.generation_bumps;
    }

    // ---- time --------------------------------------------------------------------------

    /// Expires waiters past their deadline, retires idle connections (recycle, idle_timeout,
    /// stale generation) and starts connects for min_idle or for waiters after a backoff.
    void tick(time_point now, effects& fx)
    {
        while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
            waiter_id id = deadlines_.begin()->second;
            deadlines_.erase(deadlines_.begin());
            auto it = waiters_.find(id);
            fx.failures.emplace_back(std::move(it->second.payload), waiter_failure::timeout);
            waiters_.erase(it);
            ++counters_.timeouts;
        }
        if (now >= next_maintenance_) {
            next_maintenance_ = now + limits_.maintenance_period;
            maintain(now, fx);
        }
        fill(now, fx);
    }

    /// When tick() has something to do next, or nullopt when nothing is pending.
    std::optional<time_point> next_wakeup() const noexcept
    {
        std::optional<time_point> at;
        auto consider = [&](time_point t) {
            if (!at || t < *at)
                at = t;
        };
        if (!deadlines_.empty())
            consider(deadlines_.begin()->first);
        if (!closed_ && maintenance_enabled())
            consider(next_maintenance_);
        if (!closed_ && demand() > connecting_ && retry_at_ != time_point::min())
            consider(retry_at_);
        return at;
    }

    // ---- close -------------------------------------------------------------------------

    /// Fails every waiter, closes idle connections; from now on returns and finished
    /// connects are closed. Idempotent.
    void close(effects& fx)
    {
        closed_ = true;
        fail_all_waiters(waiter_failure::pool_closed, fx);
        while (!idle_.empty()) {
            record_ptr r = std::move(idle_.front());
            idle_.pop_front();
            close(std::move(r), close_reason::pool_closed, fx);
        }
    }

    // ---- observation -------------------------------------------------------------------

    bool closed() const noexcept { return closed_; }
    std::size_t idle() const noexcept { return idle_.size(); }
    std::size_t checked_out() const noexcept { return checked_out_; }
    std::size_t connecting() const noexcept { return connecting_; }
    std::size_t waiting() const noexcept { return waiters_.size(); }
    /// Open connections (idle + checked out); connects in flight excluded.
    std::size_t open() const noexcept { return idle_.size() + checked_out_; }
    /// Slots in use: open connections plus connects in flight. Never exceeds capacity().
    std::size_t slots() const noexcept { return open() + connecting_; }
    std::size_t capacity() const noexcept
    {
        if (limits_.pool_size == 0 || limits_.max_overflow < 0)
            return std::numeric_limits<std::size_t>::max();
        return limits_.pool_size + static_cast<std::size_t>(limits_.max_overflow);
    }
    std::uint64_t generation() const noexcept { return generation_; }
    const counters& stats() const noexcept { return counters_; }
    const pool_limits<duration>& limits() const noexcept { return limits_; }

    /// Read-only view of the idle records, oldest first (for tests and invariants).
    const std::deque<record_ptr>& idle_records() const noexcept { return idle_; }

private:
    struct waiter_entry {
        Waiter payload;
        typename std::multiset<std::pair<time_point, waiter_id>>::iterator deadline;
    };

    bool maintenance_enabled() const noexcept
    {
        return limits_.recycle > duration::zero() || limits_.idle_timeout > duration::zero() ||
               limits_.min_idle > 0;
    }

    /// Connections someone is waiting for: one per waiter, plus what min_idle lacks.
    std::size_t demand() const noexcept
    {
        std::size_t want = waiters_.size();
        if (limits_.min_idle > idle_.size())
            want += limits_.min_idle - idle_.size();
        return want;
    }

    /// Starts connects while there is demand, capacity and connect concurrency left, and no
    /// backoff pending.
    void fill(time_point now, effects& fx)
    {
        if (closed_ || now < retry_at_)
            return;
        std::size_t want = demand();
        while (connecting_ < want && connecting_ < limits_.max_connecting && slots() < capacity()) {
            ++connecting_;
            ++counters_.connects_started;
            ++fx.connects;
        }
    }

    /// Gives a checked-out (or just created) record to the oldest waiter, else to the idle
    /// list, else closes it as surplus.
    void place(record_ptr r, time_point now, effects& fx)
    {
        if (!waiters_.empty()) {
            auto it = waiters_.begin(); // lowest id = oldest
            deadlines_.erase(it->second.deadline);
            r->idle_since = now; // it was in use until now: no pre-ping for it
            ++r->uses;
            ++counters_.acquires;
            fx.handoffs.emplace_back(std::move(it->second.payload), std::move(r));
            waiters_.erase(it);
            return; // stays checked out, now by the waiter
        }
        if (limits_.pool_size != 0 && idle_.size() >= limits_.pool_size)
            return close_checked_out(std::move(r), close_reason::surplus, now, fx);
        --checked_out_;
        r->idle_since = now;
        r->fresh = false; // once idle, it is judged by its idle time like any other
        idle_.push_back(std::move(r));
    }

    std::optional<close_reason> retire_reason(const record& r, time_point now) const noexcept
    {
        if (r.generation < generation_)
            return close_reason::stale_generation;
        if (now >= r.expires)
            return close_reason::recycled;
        return std::nullopt;
    }

    void maintain(time_point now, effects& fx)
    {
        // Oldest idle first in both orders: returns are pushed at the back.
        for (auto it = idle_.begin(); it != idle_.end();) {
            std::optional<close_reason> why = retire_reason(**it, now);
            if (!why && limits_.idle_timeout > duration::zero() && idle_.size() > limits_.min_idle &&
                now - (*it)->idle_since >= limits_.idle_timeout)
                why = close_reason::idle_timeout;
            if (why) {
                record_ptr r = std::move(*it);
                it = idle_.erase(it);
                close(std::move(r), *why, fx);
            } else {
                ++it;
            }
        }
    }

    void close_checked_out(record_ptr r, close_reason why, time_point now, effects& fx)
    {
        --checked_out_;
        close(std::move(r), why, fx);
        fill(now, fx); // a waiter may now get a new connection in the freed slot
    }

    void close(record_ptr r, close_reason why, effects& fx)
    {
        ++counters_.closed[static_cast<std::size_t>(why)];
        fx.closes.emplace_back(std::move(r), why);
    }

    void fail_all_waiters(waiter_failure why, effects& fx)
    {
        for (auto& [id, entry] : waiters_)
            fx.failures.emplace_back(std::move(entry.payload), why);
        waiters_.clear();
        deadlines_.clear();
    }

    /// Uniform in [0, 1) (xorshift64*; quality is irrelevant, determinism helps tests).
    double next_unit() noexcept
    {
        random_ ^= random_ >> 12;
        random_ ^= random_ << 25;
        random_ ^= random_ >> 27;
        return static_cast<double>((random_ * 0x2545F4914F6CDD1Dull) >> 11) * 0x1.0p-53;
    }

    pool_limits<duration> limits_;
    std::deque<record_ptr> idle_;
    std::map<waiter_id, waiter_entry> waiters_; // ordered by id: FIFO
    std::multiset<std::pair<time_point, waiter_id>> deadlines_;
    std::size_t checked_out_ = 0;
    std::size_t connecting_ = 0;
    waiter_id last_waiter_id_ = 0;
    std::uint64_t generation_ = 0;
    unsigned failures_in_row_ = 0;
    time_point retry_at_ = time_point::min();
    time_point next_maintenance_ = time_point::min();
    bool closed_ = false;
    counters counters_;
    std::uint64_t random_;
};

} // namespace pgcoro::detail
