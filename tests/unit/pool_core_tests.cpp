// The sans-io pool state machine (pgcoro::detail::pool_core), driven with mock connections
// and a manual clock: slot accounting, FIFO waiters, deadlines, connects and their backoff,
// recycling, generations, close, and a randomised run checking every invariant per step.

#include <pgcoro/detail/pool_core.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <ostream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace pgcoro::detail {

// Printable for BOOST_TEST (found by ADL).
inline std::ostream& operator<<(std::ostream& os, close_reason why)
{
    static const char* const names[] = {"recycled",    "idle_timeout", "max_uses", "stale_generation",
                                        "broken",      "reset_failed", "surplus",  "pool_closed",
                                        "hook_failed", "discarded"};
    auto i = static_cast<std::size_t>(why);
    return os << (i < close_reason_count ? names[i] : "?");
}

inline std::ostream& operator<<(std::ostream& os, waiter_failure why)
{
    switch (why) {
    case waiter_failure::timeout:
        return os << "timeout";
    case waiter_failure::pool_closed:
        return os << "pool_closed";
    case waiter_failure::connect_error:
        return os << "connect_error";
    }
    return os << "?";
}

} // namespace pgcoro::detail

namespace {

using namespace std::chrono_literals;
using pgcoro::detail::close_reason;
using pgcoro::detail::close_reason_count;
using pgcoro::detail::waiter_failure;

struct mock_conn {
    int id = 0;
    bool alive = true;
};

/// Only its types are used: every core call takes `now` explicitly.
struct manual_clock {
    using duration = std::chrono::nanoseconds;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::time_point<manual_clock>;
    static constexpr bool is_steady = true;
    static time_point now() noexcept { return time_point{}; }
};

using core_type = pgcoro::detail::pool_core<mock_conn, manual_clock, int>;
using limits_type = pgcoro::detail::pool_limits<manual_clock::duration>;
using duration = manual_clock::duration;
using time_point = manual_clock::time_point;
using record_ptr = core_type::record_ptr;
using effects = core_type::effects;
using waiter_id = core_type::waiter_id;

const time_point t0 = time_point{} + std::chrono::hours{1};

std::size_t idx(close_reason why)
{
    return static_cast<std::size_t>(why);
}

/// Nanoseconds since t0, to compare time points with BOOST_TEST.
long long at(time_point t)
{
    return (t - t0).count();
}
long long at(std::optional<time_point> t)
{
    return t ? at(*t) : -1;
}

/// Everything off except the slot limits.
limits_type make_limits(std::size_t pool_size, std::ptrdiff_t max_overflow, std::size_t max_connecting = 2)
{
    limits_type l;
    l.pool_size = pool_size;
    l.max_overflow = max_overflow;
    l.max_connecting = max_connecting;
    l.min_idle = 0;
    l.recycle = 0s;
    l.idle_timeout = 0s;
    l.max_uses = 0;
    l.pre_ping = true;
    l.pre_ping_idle = 0s;
    return l;
}

/// Drives a core and performs its effects: records handoffs and failures, closes, and
/// counts requested connects that the test completes with succeed() / fail().
struct harness {
    core_type core;
    time_point now = t0;
    int next_conn = 1;
    std::size_t in_flight = 0;                        ///< connects requested and not completed yet
    std::size_t connects_requested = 0;               ///< in total
    std::size_t last_connects = 0;                    ///< requested by the last call
    std::vector<std::pair<int, record_ptr>> handoffs; ///< not yet collected by handed()
    std::vector<int> handoff_order;                   ///< every waiter served by a handoff
    std::vector<std::pair<int, waiter_failure>> failures;
    std::vector<std::pair<int, close_reason>> closes; ///< connection id, reason

    explicit harness(const limits_type& l, std::uint64_t seed = 1) : core(l, seed) {}

    void apply(effects& fx)
    {
        last_connects = fx.connects;
        in_flight += fx.connects;
        connects_requested += fx.connects;
        for (auto& [w, r] : fx.handoffs) {
            BOOST_REQUIRE(r);
            handoff_order.push_back(w);
            handoffs.emplace_back(w, std::move(r));
        }
        for (auto& f : fx.failures)
            failures.push_back(f);
        for (auto& [r, why] : fx.closes) {
            BOOST_REQUIRE(r);
            closes.emplace_back(r->connection.id, why);
        }
    }

    record_ptr take()
    {
        effects fx;
        record_ptr r = core.take(now, fx);
        apply(fx);
        return r;
    }

    waiter_id enqueue(int w, duration timeout = 10s)
    {
        effects fx;
        waiter_id id = core.enqueue(w, now + timeout, now, fx);
        apply(fx);
        return id;
    }

    /// take(), and when nothing is idle, enqueue(w).
    record_ptr acquire(int w, duration timeout = 10s)
    {
        if (record_ptr r = take())
            return r;
        enqueue(w, timeout);
        return nullptr;
    }

    void succeed()
    {
        BOOST_REQUIRE(in_flight > 0u);
        --in_flight;
        effects fx;
        core.connect_succeeded(mock_conn{next_conn++}, now, fx);
        apply(fx);
    }

    void fail(bool permanent = false)
    {
        BOOST_REQUIRE(in_flight > 0u);
        --in_flight;
        effects fx;
        core.connect_failed(now, permanent, fx);
        apply(fx);
    }

    void checkin(record_ptr r)
    {
        effects fx;
        core.checkin(std::move(r), now, fx);
        apply(fx);
    }

    void discard(record_ptr r, close_reason why, bool disconnect)
    {
        effects fx;
        core.discard(std::move(r), why, disconnect, now, fx);
        apply(fx);
    }

    void tick()
    {
        effects fx;
        core.tick(now, fx);
        apply(fx);
    }

    void close()
    {
        effects fx;
        core.close(fx);
        apply(fx);
    }

    /// The record handed to waiter w (the test now holds it).
    record_ptr handed(int w)
    {
        auto it = std::find_if(handoffs.begin(), handoffs.end(), [&](const auto& h) { return h.first == w; });
        BOOST_REQUIRE_MESSAGE(it != handoffs.end(), "no handoff to waiter " << w);
        record_ptr r = std::move(it->second);
        handoffs.erase(it);
        return r;
    }

    std::size_t closed(close_reason why) const
    {
        return static_cast<std::size_t>(
            std::count_if(closes.begin(), closes.end(), [&](const auto& c) { return c.second == why; }));
    }

    std::vector<int> idle_ids() const
    {
        std::vector<int> ids;
        for (const auto& r : core.idle_records())
            ids.push_back(r->connection.id);
        return ids;
    }

    /// Opens `n` connections and puts them in the idle list (needs max_connecting >= n,
    /// room for n idle and no waiters); returns their ids in idle order.
    std::vector<int> open_idle(int n)
    {
        std::vector<record_ptr> held;
        for (int i = 0; i < n; ++i)
            BOOST_REQUIRE(!acquire(1000 + i));
        for (int i = 0; i < n; ++i)
            succeed();
        for (int i = 0; i < n; ++i)
            held.push_back(handed(1000 + i));
        std::vector<int> ids;
        for (auto& r : held) {
            ids.push_back(r->connection.id);
            checkin(std::move(r));
        }
        BOOST_REQUIRE(core.idle() == static_cast<std::size_t>(n));
        return ids;
    }

    void check_slots() const
    {
        BOOST_TEST(core.slots() == core.idle() + core.checked_out() + core.connecting());
        BOOST_TEST(core.slots() <= core.capacity());
        BOOST_TEST(core.connecting() <= core.limits().max_connecting);
        BOOST_TEST(core.connecting() == in_flight);
    }
};

// ---- randomised run -------------------------------------------------------------------------

/// One core with random limits driven by random steps. Every effect is checked against what
/// the semantics predict (who gets a record, why it is closed) and every invariant after
/// every step; the first violation is kept in `error`.
struct random_run {
    enum class rstate : unsigned char { in_core, held, closed };
    enum class wstate : unsigned char { queued, handed, failed, cancelled };
    struct waiter_info {
        waiter_id id = 0;
        time_point deadline{};
        wstate state = wstate::queued;
    };
    /// Where a record must end up after a call.
    struct placement {
        enum kind_type { idle, handoff, close } kind = idle;
        int waiter = -1;
        close_reason why = close_reason::broken;
    };

    static const char* name(placement::kind_type k)
    {
        return k == placement::idle ? "idle" : k == placement::handoff ? "handoff" : "close";
    }

    std::mt19937& rng;
    limits_type limits;
    core_type core;
    time_point now = t0;
    std::string action = "start";
    std::string error;

    std::vector<rstate> records; ///< by connection id
    std::vector<record_ptr> held;
    std::size_t in_core = 0; ///< records the core holds idle (after each call)
    std::size_t closed_count = 0;
    std::size_t in_flight = 0;
    std::vector<waiter_info> waiters; ///< by waiter number (= enqueue order)
    std::set<int> queued;
    core_type::counters expected;
    unsigned failures_in_row = 0;
    time_point retry_at = time_point::min();
    time_point next_maintenance = time_point::min();

    random_run(std::mt19937& r, const limits_type& l) : rng(r), limits(l), core(l, r())
    {
        tick(false); // as pgcoro::pool does when it starts: min_idle connects
    }

    template <class... T> static std::string str(const T&... v)
    {
        std::ostringstream os;
        (os << ... << v);
        return os.str();
    }

    void violation(const std::string& what)
    {
        if (error.empty())
            error = what;
    }

    std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng); }
    bool chance(double p) { return std::bernoulli_distribution(p)(rng); }
    duration millis(int lo, int hi)
    {
        return std::chrono::milliseconds{std::uniform_int_distribution<int>(lo, hi)(rng)};
    }

    bool known_record(int id) const { return id >= 0 && static_cast<std::size_t>(id) < records.size(); }
    bool known_waiter(int w) const { return w >= 0 && static_cast<std::size_t>(w) < waiters.size(); }

    std::optional<close_reason> retire_reason(const core_type::record& r) const
    {
        if (r.generation < core.generation())
            return close_reason::stale_generation;
        if (now >= r.expires)
            return close_reason::recycled;
        return std::nullopt;
    }

    /// A record handed out must be current, unexpired and not used up.
    void check_usable(const core_type::record& r, const char* how)
    {
        if (r.generation != core.generation())
            violation(str(how, " record ", r.connection.id, " of generation ", r.generation, " (current ",
                          core.generation(), ")"));
        if (now >= r.expires)
            violation(str(how, " record ", r.connection.id, " already expired"));
        if (r.uses == 0 || (limits.max_uses != 0 && r.uses > limits.max_uses))
            violation(str(how, " record ", r.connection.id, " with uses ", r.uses));
    }

    /// Where a record entering place() (connect result or healthy return) must go.
    placement place_prediction() const
    {
        if (!queued.empty())
            return {placement::handoff, *queued.begin(), close_reason::broken};
        if (limits.pool_size != 0 && core.idle() >= limits.pool_size)
            return {placement::close, -1, close_reason::surplus};
        return {};
    }

    void verify_placement(const effects& fx, int id, const placement& p)
    {
        for (const auto& [w, r] : fx.handoffs) {
            if (r && r->connection.id == id) {
                if (p.kind != placement::handoff || p.waiter != w)
                    violation(str("record ", id, " handed to waiter ", w, ", expected ", name(p.kind),
                                  " waiter ", p.waiter));
                return;
            }
        }
        for (const auto& [r, why] : fx.closes) {
            if (r && r->connection.id == id) {
                if (p.kind != placement::close || p.why != why)
                    violation(str("record ", id, " closed (", why, "), expected ", name(p.kind), " ", p.why));
                return;
            }
        }
        if (p.kind != placement::idle)
            violation(
                str("record ", id, " kept idle, expected ", name(p.kind), " waiter ", p.waiter, " ", p.why));
        else if (core.idle_records().empty() || core.idle_records().back()->connection.id != id)
            violation(str("record ", id, " not at the back of the idle list"));
    }

    void apply(effects& fx, std::optional<waiter_failure> allowed)
    {
        if (fx.connects > 0 && now < retry_at)
            violation("connects started during a backoff");
        if (fx.connects > 0 && core.closed())
            violation("connects started by a closed pool");
        in_flight += fx.connects;
        expected.connects_started += fx.connects;
        for (auto& [w, r] : fx.handoffs) {
            if (!r) {
                violation("null record handed off");
                continue;
            }
            int id = r->connection.id;
            if (!known_record(id) || records[id] != rstate::in_core) {
                violation(str("handoff of record ", id, " the core did not hold"));
            } else {
                records[id] = rstate::held;
                --in_core;
            }
            if (!known_waiter(w) || waiters[w].state != wstate::queued) {
                violation(str("handoff to waiter ", w, " that is not queued"));
            } else {
                waiters[w].state = wstate::handed;
                queued.erase(w);
            }
            check_usable(*r, "handed off");
            ++expected.acquires;
            held.push_back(std::move(r));
        }
        for (auto& [w, why] : fx.failures) {
            if (!allowed || *allowed != why)
                violation(str("unexpected failure ", why, " of waiter ", w));
            if (!known_waiter(w) || waiters[w].state != wstate::queued) {
                violation(str("failure of waiter ", w, " that is not queued"));
                continue;
            }
            waiters[w].state = wstate::failed;
            queued.erase(w);
            if (why == waiter_failure::timeout) {
                ++expected.timeouts;
                if (waiters[w].deadline > now)
                    violation(str("waiter ", w, " timed out before its deadline"));
            }
        }
        for (auto& [r, why] : fx.closes) {
            if (!r) {
                violation("null record closed");
                continue;
            }
            int id = r->connection.id;
            if (!known_record(id) || records[id] != rstate::in_core) {
                violation(str("close of record ", id, " the core did not hold"));
            } else {
                records[id] = rstate::closed;
                --in_core;
                ++closed_count;
            }
            ++expected.closed[idx(why)];
            bool plausible = true;
            switch (why) {
            case close_reason::stale_generation:
                plausible = r->generation < core.generation();
                break;
            case close_reason::recycled:
                plausible = now >= r->expires;
                break;
            case close_reason::max_uses:
                plausible = limits.max_uses != 0 && r->uses >= limits.max_uses;
                break;
            case close_reason::idle_timeout:
                plausible =
                    limits.idle_timeout > duration::zero() && now - r->idle_since >= limits.idle_timeout;
                break;
            case close_reason::surplus:
                plausible = limits.pool_size != 0;
                break;
            case close_reason::pool_closed:
                plausible = core.closed();
                break;
            default:
                break;
            }
            if (!plausible)
                violation(str("record ", id, " closed for an implausible reason: ", why));
        }
    }

    /// No demand left unserved while a connect could start (every call that changes demand,
    /// capacity or the backoff ends with the core starting what it can).
    void check_filled()
    {
        if (core.closed() || now < retry_at)
            return;
        std::size_t demand = queued.size();
        if (limits.min_idle > core.idle())
            demand += limits.min_idle - core.idle();
        if (core.connecting() < demand && core.connecting() < limits.max_connecting &&
            core.slots() < core.capacity())
            violation(str("demand ", demand, " but only ", core.connecting(), " connecting"));
    }

    void check()
    {
        check_filled();
        if (core.slots() != core.idle() + core.checked_out() + core.connecting())
            violation("slots() != idle() + checked_out() + connecting()");
        if (core.slots() > core.capacity())
            violation(str("slots ", core.slots(), " > capacity ", core.capacity()));
        if (core.connecting() > limits.max_connecting)
            violation(str("connecting ", core.connecting(), " > max_connecting"));
        if (core.connecting() != in_flight)
            violation(str("connecting ", core.connecting(), " != connects in flight ", in_flight));
        if (core.checked_out() != held.size())
            violation(str("checked_out ", core.checked_out(), " != held by the test ", held.size()));
        if (core.idle() != in_core)
            violation(str("idle ", core.idle(), " != records left in the core ", in_core));
        if (limits.pool_size != 0 && core.idle() > limits.pool_size)
            violation(str("idle ", core.idle(), " > pool_size"));
        for (const auto& r : core.idle_records()) {
            int id = r ? r->connection.id : -1;
            if (!known_record(id) || records[id] != rstate::in_core)
                violation(str("idle record ", id, " is not the core's"));
        }
        if (core.waiting() != queued.size())
            violation(str("waiting ", core.waiting(), " != queued waiters ", queued.size()));
        if (core.waiting() > 0 && core.idle() > 0)
            violation("waiters queued while connections are idle");
        if (core.closed() && (core.idle() != 0 || core.waiting() != 0))
            violation(str("closed pool keeps ", core.idle(), " idle and ", core.waiting(), " waiting"));
        if (records.size() != in_core + held.size() + closed_count)
            violation(str("created ", records.size(), " != idle ", in_core, " + held ", held.size(),
                          " + closed ", closed_count));
        if (!queued.empty()) {
            time_point first = time_point::max();
            for (int w : queued)
                first = std::min(first, waiters[w].deadline);
            std::optional<time_point> wake = core.next_wakeup();
            if (!wake || *wake > first)
                violation("next_wakeup() later than the first waiter deadline");
        }
        const auto& s = core.stats();
        if (s.acquires != expected.acquires || s.waits != expected.waits || s.timeouts != expected.timeouts ||
            s.cancelled_waits != expected.cancelled_waits ||
            s.connects_started != expected.connects_started || s.created != expected.created ||
            s.connect_failures != expected.connect_failures ||
            s.generation_bumps != expected.generation_bumps || s.closed != expected.closed)
            violation(str("counters differ: acquires ", s.acquires, "/", expected.acquires, " waits ",
                          s.waits, "/", expected.waits, " timeouts ", s.timeouts, "/", expected.timeouts,
                          " cancelled ", s.cancelled_waits, "/", expected.cancelled_waits, " started ",
                          s.connects_started, "/", expected.connects_started, " created ", s.created, "/",
                          expected.created));
        if (s.created != records.size())
            violation("created counter != connect_succeeded calls");
    }

    // ---- actions ----------------------------------------------------------------------------

    void acquire()
    {
        action = "acquire";
        // take(): retired records met first are closed, in idle order.
        std::vector<std::pair<int, close_reason>> retired;
        std::optional<int> expect_id;
        const auto& idle = core.idle_records();
        for (std::size_t i = 0; i < idle.size(); ++i) {
            const auto& r = limits.lifo ? idle[idle.size() - 1 - i] : idle[i];
            if (auto why = retire_reason(*r)) {
                retired.emplace_back(r->connection.id, *why);
            } else {
                expect_id = r->connection.id;
                break;
            }
        }
        effects fx;
        record_ptr r = core.take(now, fx);
        if (fx.closes.size() != retired.size()) {
            violation(str("take closed ", fx.closes.size(), " records, expected ", retired.size()));
        } else {
            for (std::size_t i = 0; i < retired.size(); ++i)
                if (!fx.closes[i].first || fx.closes[i].first->connection.id != retired[i].first ||
                    fx.closes[i].second != retired[i].second)
                    violation(str("take closed the wrong record or for the wrong reason at ", i));
        }
        if ((r ? std::optional<int>(r->connection.id) : std::nullopt) != expect_id)
            violation(
                str("take returned ", r ? r->connection.id : -1, ", expected ", expect_id.value_or(-1)));
        apply(fx, std::nullopt);
        if (r) {
            int id = r->connection.id;
            if (!known_record(id) || records[id] != rstate::in_core) {
                violation(str("take returned record ", id, " the core did not hold"));
            } else {
                records[id] = rstate::held;
                --in_core;
            }
            check_usable(*r, "taken");
            ++expected.acquires;
            held.push_back(std::move(r));
            return;
        }

        action = "acquire (enqueue)";
        int w = static_cast<int>(waiters.size());
        time_point deadline = now + (chance(0.1) ? duration::zero() : millis(1, 2000));
        waiters.push_back({0, deadline, wstate::queued});
        queued.insert(w);
        bool was_closed = core.closed();
        if (!was_closed)
            ++expected.waits;
        effects fx2;
        waiters[w].id = core.enqueue(w, deadline, now, fx2);
        apply(fx2, was_closed ? std::optional(waiter_failure::pool_closed) : std::nullopt);
        if (was_closed && waiters[w].state != wstate::failed)
            violation("enqueue on a closed pool did not fail at once");
        if (!was_closed && waiters[w].state != wstate::queued)
            violation("enqueue completed the waiter at once");
    }

    void cancel()
    {
        action = "cancel";
        if (waiters.empty())
            return;
        int w;
        if (!queued.empty() && chance(0.7)) {
            auto it = queued.begin();
            std::advance(it, static_cast<std::ptrdiff_t>(pick(queued.size())));
            w = *it;
        } else {
            w = static_cast<int>(pick(waiters.size()));
        }
        bool was_queued = waiters[w].state == wstate::queued;
        std::optional<int> got = core.cancel(waiters[w].id);
        if (was_queued) {
            if (!got || *got != w)
                violation(str("cancel of queued waiter ", w, " did not return it"));
            waiters[w].state = wstate::cancelled;
            queued.erase(w);
            ++expected.cancelled_waits;
        } else if (got) {
            violation(str("cancel of completed waiter ", w, " returned a payload"));
        }
    }

    void complete_connect(double success)
    {
        action = "complete a connect";
        if (in_flight == 0)
            return;
        --in_flight;
        effects fx;
        if (chance(success)) {
            action = "connect_succeeded";
            int id = static_cast<int>(records.size());
            records.push_back(rstate::in_core);
            ++in_core;
            ++expected.created;
            failures_in_row = 0;
            retry_at = time_point::min();
            placement p = core.closed() ? placement{placement::close, -1, close_reason::pool_closed}
                                        : place_prediction();
            core.connect_succeeded(mock_conn{id}, now, fx);
            verify_placement(fx, id, p);
            apply(fx, std::nullopt);
        } else {
            bool permanent = chance(0.1);
            action = permanent ? "connect_failed (permanent)" : "connect_failed";
            ++expected.connect_failures;
            ++failures_in_row;
            duration backoff = limits.backoff_initial;
            for (unsigned i = 1; i < failures_in_row && backoff < limits.backoff_max; ++i)
                backoff *= 2;
            retry_at = now + std::min(backoff, limits.backoff_max);
            core.connect_failed(now, permanent, fx);
            apply(fx, permanent ? std::optional(waiter_failure::connect_error) : std::nullopt);
            if (permanent && !queued.empty())
                violation("waiters left after a permanent connect failure");
        }
    }

    void give_back(double checkin_probability)
    {
        action = "give back";
        if (held.empty())
            return;
        std::size_t i = pick(held.size());
        record_ptr r = std::move(held[i]);
        held[i] = std::move(held.back());
        held.pop_back();
        int id = r->connection.id;
        records[id] = rstate::in_core;
        ++in_core;
        effects fx;
        placement p;
        if (chance(checkin_probability)) {
            action = "checkin";
            if (core.closed())
                p = {placement::close, -1, close_reason::pool_closed};
            else if (auto why = retire_reason(*r))
                p = {placement::close, -1, *why};
            else if (limits.max_uses != 0 && r->uses >= limits.max_uses)
                p = {placement::close, -1, close_reason::max_uses};
            else
                p = place_prediction();
            core.checkin(std::move(r), now, fx);
        } else {
            static constexpr close_reason reasons[] = {close_reason::broken, close_reason::reset_failed,
                                                       close_reason::hook_failed, close_reason::discarded};
            close_reason why = reasons[pick(4)];
            bool disconnect = chance(0.25);
            action = disconnect ? "discard (disconnect)" : "discard";
            if (disconnect)
                ++expected.generation_bumps;
            p = {placement::close, -1, why};
            core.discard(std::move(r), why, disconnect, now, fx);
        }
        verify_placement(fx, id, p);
        apply(fx, std::nullopt);
    }

    void tick(bool advance)
    {
        action = advance ? "advance and tick" : "tick";
        if (advance) {
            double kind = std::uniform_real_distribution<double>(0, 1)(rng);
            now += kind < 0.6 ? millis(0, 20) : kind < 0.9 ? millis(0, 500) : millis(0, 5000);
        }
        bool maintenance = now >= next_maintenance;
        if (maintenance)
            next_maintenance = now + limits.maintenance_period;
        effects fx;
        core.tick(now, fx);
        apply(fx, waiter_failure::timeout);
        for (int w : queued)
            if (waiters[w].deadline <= now)
                violation(str("waiter ", w, " still queued past its deadline"));
        if (maintenance) {
            for (const auto& r : core.idle_records()) {
                if (retire_reason(*r))
                    violation(str("maintenance kept retired record ", r->connection.id));
                if (limits.idle_timeout > duration::zero() && core.idle() > limits.min_idle &&
                    now - r->idle_since >= limits.idle_timeout)
                    violation(str("maintenance kept record ", r->connection.id, " idle too long"));
            }
        }
    }

    void bump()
    {
        action = "bump_generation";
        core.bump_generation();
        ++expected.generation_bumps;
    }

    void close()
    {
        action = "close";
        effects fx;
        core.close(fx);
        apply(fx, waiter_failure::pool_closed);
    }

    void step()
    {
        const std::size_t weights[] = {
            30,                                              // acquire
            8,                                               // cancel
            in_flight > 0 ? 25u : 0u,                        // complete a connect
            std::min<std::size_t>(10 + 5 * held.size(), 80), // return a record
            15,                                              // advance and tick
            3,                                               // tick
            1,                                               // bump generation
        };
        std::size_t total = 0;
        for (auto w : weights)
            total += w;
        std::size_t roll = pick(total);
        std::size_t choice = 0;
        while (roll >= weights[choice])
            roll -= weights[choice++];
        switch (choice) {
        case 0:
            acquire();
            break;
        case 1:
            cancel();
            break;
        case 2:
            complete_connect(0.8);
            break;
        case 3:
            give_back(0.75);
            break;
        case 4:
            tick(true);
            break;
        case 5:
            tick(false);
            break;
        default:
            bump();
            break;
        }
        check();
    }

    /// After close(): finish every connect, return every record; nothing may remain.
    void drain()
    {
        while (in_flight > 0 && error.empty()) {
            complete_connect(0.7);
            check();
        }
        while (!held.empty() && error.empty()) {
            give_back(0.75);
            check();
        }
        tick(true);
        check();
        action = "drained";
        if (core.slots() != 0 || closed_count != records.size())
            violation(str("after draining: slots ", core.slots(), ", closed ", closed_count, " of ",
                          records.size(), " created"));
        for (const auto& w : waiters)
            if (w.state == wstate::queued)
                violation("a waiter is still queued after draining");
    }

    std::string describe_limits() const
    {
        return str("pool_size ", limits.pool_size, " max_overflow ", limits.max_overflow, " max_connecting ",
                   limits.max_connecting, " min_idle ", limits.min_idle, " lifo ", limits.lifo, " recycle ",
                   limits.recycle.count(), "ns jitter ", limits.recycle_jitter, " idle_timeout ",
                   limits.idle_timeout.count(), "ns max_uses ", limits.max_uses);
    }
};

limits_type random_limits(std::mt19937& rng)
{
    auto uniform = [&](int lo, int hi) {
        return std::uniform_int_distribution<int>(lo, hi)(rng);
    };
    limits_type l;
    l.pool_size = static_cast<std::size_t>(uniform(0, 4));
    l.max_overflow = uniform(-1, 3);
    l.max_connecting = static_cast<std::size_t>(uniform(1, 3));
    int most_idle = l.pool_size == 0 ? 2 : std::min(static_cast<int>(l.pool_size), 2);
    l.min_idle = uniform(0, 1) ? 0 : static_cast<std::size_t>(uniform(0, most_idle));
    l.lifo = uniform(0, 1) == 1;
    l.recycle = uniform(0, 1) ? duration::zero() : duration{std::chrono::milliseconds{uniform(200, 20000)}};
    static constexpr double jitters[] = {0.0, 0.1, 0.5};
    l.recycle_jitter = jitters[uniform(0, 2)];
    l.idle_timeout =
        uniform(0, 1) ? duration::zero() : duration{std::chrono::milliseconds{uniform(100, 10000)}};
    l.max_uses = uniform(0, 1) ? 0u : static_cast<std::uint64_t>(uniform(1, 5));
    l.maintenance_period = std::chrono::milliseconds{uniform(50, 2000)};
    l.backoff_initial = std::chrono::milliseconds{uniform(1, 50)};
    l.backoff_max = std::chrono::milliseconds{uniform(50, 1000)};
    return l;
}

} // namespace

BOOST_AUTO_TEST_SUITE(pool_core_tests)

// ---- slots ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(overflow_caps_slots_and_surplus_returns_are_closed)
{
    harness h(make_limits(2, 1, 3));
    BOOST_TEST(h.core.capacity() == 3u);

    for (int w = 1; w <= 3; ++w)
        BOOST_TEST(!h.acquire(w));
    BOOST_TEST(h.connects_requested == 3u);
    BOOST_TEST(h.core.connecting() == 3u);
    BOOST_TEST(h.core.slots() == 3u);

    // The 4th acquire queues and connects nothing: every slot is taken.
    BOOST_TEST(!h.take());
    waiter_id fourth = h.enqueue(4);
    BOOST_TEST(h.last_connects == 0u);
    BOOST_TEST(h.connects_requested == 3u);
    BOOST_TEST(h.core.waiting() == 4u);

    for (int i = 0; i < 3; ++i)
        h.succeed();
    BOOST_TEST(h.connects_requested == 3u);
    BOOST_TEST(h.core.checked_out() == 3u);
    BOOST_TEST(h.core.waiting() == 1u);
    BOOST_TEST(h.core.slots() == 3u);
    h.check_slots();

    std::optional<int> gave_up = h.core.cancel(fourth);
    BOOST_REQUIRE(gave_up);
    BOOST_TEST(*gave_up == 4);

    // Three returns: two stay idle (pool_size), the third is surplus.
    record_ptr r1 = h.handed(1), r2 = h.handed(2), r3 = h.handed(3);
    int third_id = r3->connection.id;
    h.checkin(std::move(r1));
    h.checkin(std::move(r2));
    BOOST_TEST(h.closes.empty());
    h.checkin(std::move(r3));
    BOOST_REQUIRE(h.closes.size() == 1u);
    BOOST_TEST(h.closes[0].first == third_id);
    BOOST_TEST(h.closes[0].second == close_reason::surplus);
    BOOST_TEST(h.core.idle() == 2u);
    BOOST_TEST(h.core.checked_out() == 0u);
    BOOST_TEST(h.core.slots() == 2u);
    h.check_slots();

    const auto& s = h.core.stats();
    BOOST_TEST(s.created == 3u);
    BOOST_TEST(s.connects_started == 3u);
    BOOST_TEST(s.acquires == 3u);
    BOOST_TEST(s.waits == 4u);
    BOOST_TEST(s.cancelled_waits == 1u);
    BOOST_TEST(s.timeouts == 0u);
    BOOST_TEST(s.closed[idx(close_reason::surplus)] == 1u);
    std::uint64_t all_closed = 0;
    for (auto n : s.closed)
        all_closed += n;
    BOOST_TEST(all_closed == 1u);

    // Both idle ones can be taken; a third take finds nothing.
    record_ptr a = h.take(), b = h.take();
    BOOST_TEST(a);
    BOOST_TEST(b);
    BOOST_TEST(!h.take());
    BOOST_TEST(h.core.stats().acquires == 5u);
}

BOOST_AUTO_TEST_CASE(unlimited_pool_size_or_overflow_has_no_capacity_limit)
{
    harness unlimited_size(make_limits(0, 0, 100));
    harness unlimited_overflow(make_limits(3, -1, 100));
    BOOST_TEST((unlimited_size.core.capacity() == std::numeric_limits<std::size_t>::max()));
    BOOST_TEST((unlimited_overflow.core.capacity() == std::numeric_limits<std::size_t>::max()));
    for (int w = 0; w < 50; ++w) {
        unlimited_size.acquire(w);
        unlimited_overflow.acquire(w);
    }
    BOOST_TEST(unlimited_size.connects_requested == 50u);
    BOOST_TEST(unlimited_overflow.connects_requested == 50u);
}

// ---- waiters --------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(waiters_are_served_oldest_first)
{
    harness h(make_limits(3, 0, 3));
    for (int w = 1; w <= 6; ++w)
        BOOST_TEST(!h.acquire(w));
    BOOST_TEST(h.connects_requested == 3u);
    for (int i = 0; i < 3; ++i)
        h.succeed();
    BOOST_TEST(h.handoff_order == (std::vector<int>{1, 2, 3}), boost::test_tools::per_element());

    // Returns in any order go to the remaining waiters oldest first.
    record_ptr r1 = h.handed(1), r2 = h.handed(2), r3 = h.handed(3);
    int second_id = r2->connection.id;
    h.checkin(std::move(r2));
    h.checkin(std::move(r3));
    h.checkin(std::move(r1));
    BOOST_TEST(h.handoff_order == (std::vector<int>{1, 2, 3, 4, 5, 6}), boost::test_tools::per_element());
    BOOST_TEST(h.handed(4)->connection.id == second_id);
    BOOST_TEST(h.core.waiting() == 0u);
    BOOST_TEST(h.core.idle() == 0u);
    BOOST_TEST(h.core.checked_out() == 3u);
}

BOOST_AUTO_TEST_CASE(waiter_times_out_at_its_deadline_via_tick)
{
    harness h(make_limits(1, 0, 1));
    BOOST_TEST(!h.acquire(0));
    h.succeed();
    record_ptr held = h.handed(0);

    waiter_id late = h.enqueue(1, 100ms);
    h.enqueue(2, 50ms);
    BOOST_TEST(h.core.waiting() == 2u);
    BOOST_TEST(at(h.core.next_wakeup()) == at(t0 + 50ms));

    h.now = t0 + 50ms - 1ns;
    h.tick();
    BOOST_TEST(h.failures.empty());
    BOOST_TEST(h.core.waiting() == 2u);

    h.now = t0 + 50ms;
    h.tick();
    BOOST_REQUIRE(h.failures.size() == 1u);
    BOOST_TEST(h.failures[0].first == 2);
    BOOST_TEST(h.failures[0].second == waiter_failure::timeout);
    BOOST_TEST(h.core.waiting() == 1u);
    BOOST_TEST(at(h.core.next_wakeup()) == at(t0 + 100ms));

    h.now = t0 + 100ms - 1ns;
    h.tick();
    BOOST_TEST(h.failures.size() == 1u);

    h.now = t0 + 100ms;
    h.tick();
    BOOST_REQUIRE(h.failures.size() == 2u);
    BOOST_TEST(h.failures[1].first == 1);
    BOOST_TEST(h.failures[1].second == waiter_failure::timeout);
    BOOST_TEST(h.core.waiting() == 0u);
    BOOST_TEST(!h.core.next_wakeup());
    BOOST_TEST(!h.core.cancel(late)); // already failed
    BOOST_TEST(h.core.stats().timeouts == 2u);

    // Nobody waits any more: the return goes idle.
    h.checkin(std::move(held));
    BOOST_TEST(h.handoffs.empty());
    BOOST_TEST(h.core.idle() == 1u);
}

BOOST_AUTO_TEST_CASE(cancelled_waiter_leaves_its_connect_running_and_the_connection_goes_idle)
{
    harness h(make_limits(2, 0, 2));
    BOOST_TEST(!h.take());
    waiter_id id = h.enqueue(1);
    BOOST_TEST(h.last_connects == 1u);

    std::optional<int> gave_up = h.core.cancel(id);
    BOOST_REQUIRE(gave_up);
    BOOST_TEST(*gave_up == 1);
    BOOST_TEST(h.core.waiting() == 0u);
    BOOST_TEST(h.core.connecting() == 1u); // not cancelled
    BOOST_TEST(h.core.slots() == 1u);

    h.succeed();
    BOOST_TEST(h.handoffs.empty());
    BOOST_TEST(h.closes.empty());
    BOOST_TEST(h.core.idle() == 1u);
    BOOST_TEST(h.core.checked_out() == 0u);
    BOOST_TEST(h.core.slots() == 1u);
    h.check_slots();
    BOOST_TEST(h.core.stats().cancelled_waits == 1u);
    BOOST_TEST(h.core.stats().created == 1u);
    BOOST_TEST(h.core.stats().acquires == 0u);

    record_ptr r = h.take();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->connection.id == 1);
    BOOST_TEST(!r->fresh); // it went idle: judged by its idle time like any other
}

BOOST_AUTO_TEST_CASE(cancelled_waiters_connect_goes_to_the_next_waiter)
{
    harness h(make_limits(1, 0, 1));
    BOOST_TEST(!h.take());
    waiter_id first = h.enqueue(1);
    BOOST_TEST(!h.take());
    h.enqueue(2);
    BOOST_TEST(h.connects_requested == 1u); // capacity 1

    BOOST_TEST(h.core.cancel(first).has_value());
    h.succeed();
    BOOST_TEST(h.handoff_order == (std::vector<int>{2}), boost::test_tools::per_element());
    BOOST_TEST(h.core.idle() == 0u);
    BOOST_TEST(h.core.checked_out() == 1u);
    BOOST_TEST(h.core.slots() == 1u);
    h.check_slots();
}

BOOST_AUTO_TEST_CASE(cancel_after_handoff_returns_nullopt_and_the_record_comes_back_with_checkin)
{
    harness h(make_limits(1, 0, 1));
    BOOST_TEST(!h.acquire(0));
    h.succeed();
    record_ptr r0 = h.handed(0);
    int id = r0->connection.id;

    waiter_id w1 = h.enqueue(1);
    waiter_id w2 = h.enqueue(2);
    h.checkin(std::move(r0)); // handoff to 1 emitted, not delivered yet
    BOOST_REQUIRE(h.handoffs.size() == 1u);

    // Waiter 1 gives up while its handoff is in flight: too late to cancel.
    BOOST_TEST(!h.core.cancel(w1).has_value());
    BOOST_TEST(h.core.stats().cancelled_waits == 0u);
    BOOST_TEST(h.core.checked_out() == 1u);

    // Its caller returns the connection: the next waiter gets it.
    h.checkin(h.handed(1));
    BOOST_TEST(h.handoff_order == (std::vector<int>{0, 1, 2}), boost::test_tools::per_element());
    BOOST_TEST(!h.core.cancel(w2).has_value());
    record_ptr r2 = h.handed(2);
    BOOST_TEST(r2->connection.id == id);
    h.checkin(std::move(r2));

    BOOST_TEST(h.core.idle() == 1u);
    BOOST_TEST(h.core.checked_out() == 0u);
    BOOST_TEST(h.core.waiting() == 0u);
    BOOST_TEST(h.closes.empty());
    BOOST_TEST(h.idle_ids() == (std::vector<int>{id}), boost::test_tools::per_element());
    BOOST_TEST(h.core.stats().created == 1u);
}

// ---- recycling, idle timeout, min_idle, max_uses, pre-ping -----------------------------------

BOOST_AUTO_TEST_CASE(recycle_without_jitter_expires_exactly_at_created_plus_recycle)
{
    limits_type l = make_limits(2, 0, 1);
    l.recycle = 10s;
    l.recycle_jitter = 0;
    harness h(l);

    BOOST_TEST(!h.acquire(1));
    h.now = t0 + 1s;
    h.succeed();
    record_ptr r = h.handed(1);
    BOOST_TEST(at(r->created) == at(t0 + 1s));
    BOOST_TEST(at(r->expires) == at(t0 + 11s));

    // Idle until 1 ns before expiry: still usable.
    h.checkin(std::move(r));
    h.now = t0 + 11s - 1ns;
    r = h.take();
    BOOST_REQUIRE(r);
    h.checkin(std::move(r));
    BOOST_TEST(h.core.idle() == 1u);

    // At expiry take() closes it instead.
    h.now = t0 + 11s;
    BOOST_TEST(!h.take());
    BOOST_REQUIRE(h.closes.size() == 1u);
    BOOST_TEST(h.closes[0].second == close_reason::recycled);
    BOOST_TEST(h.core.idle() == 0u);
    BOOST_TEST(h.core.slots() == 0u);

    // A checked-out one past expiry is closed when returned.
    BOOST_TEST(!h.acquire(2));
    h.succeed(); // created t0 + 11s, expires t0 + 21s
    r = h.handed(2);
    h.now = t0 + 21s;
    h.checkin(std::move(r));
    BOOST_TEST(h.closed(close_reason::recycled) == 2u);
    BOOST_TEST(h.core.idle() == 0u);
    BOOST_TEST(h.core.checked_out() == 0u);
    BOOST_TEST(h.core.stats().closed[idx(close_reason::recycled)] == 2u);
}

BOOST_AUTO_TEST_CASE(recycle_jitter_spreads_expiry_within_bounds)
{
    limits_type l = make_limits(0, -1, 1);
    l.recycle = 100s;
    l.recycle_jitter = 0.25;
    harness h(l, 12345);

    duration shortest = duration::max(), longest = duration::zero();
    for (int w = 0; w < 200; ++w) {
        h.now += 7ms;
        BOOST_TEST(!h.acquire(w));
        h.succeed();
        record_ptr r = h.handed(w);
        BOOST_TEST(at(r->created) == at(h.now));
        const duration lifetime = r->expires - r->created;
        BOOST_TEST(lifetime.count() >= duration{75s}.count());
        BOOST_TEST(lifetime.count() <= duration{100s}.count());
        shortest = std::min(shortest, lifetime);
        longest = std::max(longest, lifetime);
        h.discard(std::move(r), close_reason::discarded, false); // the next acquire connects again
    }
    // 200 draws over a 25 s range: the jitter is really applied.
    BOOST_TEST((longest - shortest).count() > duration{15s}.count());
    BOOST_TEST(shortest.count() < duration{80s}.count());
}

BOOST_AUTO_TEST_CASE(tick_maintenance_closes_expired_idle_connections)
{
    limits_type l = make_limits(3, 0, 2);
    l.recycle = 10s;
    l.maintenance_period = 1s;
    harness h(l);

    // Two connections created at t0 and t0 + 5s, both idle since t0 + 5s.
    BOOST_TEST(!h.acquire(0));
    BOOST_TEST(!h.acquire(1));
    h.succeed();
    h.now = t0 + 5s;
    h.succeed();
    record_ptr a = h.handed(0), b = h.handed(1);
    std::vector<int> ids{a->connection.id, b->connection.id};
    h.checkin(std::move(a));
    h.checkin(std::move(b));
    h.tick(); // first maintenance at t0 + 5s
    BOOST_TEST(h.core.idle() == 2u);
    BOOST_TEST(at(h.core.next_wakeup()) == at(t0 + 6s));

    h.now = t0 + 10s;
    h.tick();
    BOOST_REQUIRE(h.closes.size() == 1u);
    BOOST_TEST(h.closes[0].first == ids[0]);
    BOOST_TEST(h.closes[0].second == close_reason::recycled);
    BOOST_TEST(h.idle_ids() == (std::vector<int>{ids[1]}), boost::test_tools::per_element());

    h.now = t0 + 15s;
    h.tick();
    BOOST_TEST(h.closed(close_reason::recycled) == 2u);
    BOOST_TEST(h.core.idle() == 0u);
    BOOST_TEST(h.core.slots() == 0u);
}

BOOST_AUTO_TEST_CASE(idle_timeout_closes_long_idle_connections_but_keeps_min_idle)
{
    limits_type l = make_limits(5, 0, 5);
    l.min_idle = 2;
    l.idle_timeout = 30s;
    l.maintenance_period = 1ns; // every tick
    harness h(l);

    h.tick(); // min_idle connects
    BOOST_TEST(h.last_connects == 2u);
    h.succeed();
    h.succeed();
    std::vector<int> first_two = h.idle_ids(); // idle since t0

    h.now = t0 + 1s;
    record_ptr r = h.take(); // first_two[0], refilled by a third
    BOOST_REQUIRE(r);
    BOOST_TEST(r->connection.id == first_two[0]);
    BOOST_TEST(h.last_connects == 1u);
    h.succeed(); // idle since t0 + 1s
    h.now = t0 + 2s;
    h.checkin(std::move(r)); // idle since t0 + 2s
    BOOST_TEST(h.core.idle() == 3u);

    h.now = t0 + 30s - 1ns;
    h.tick();
    BOOST_TEST(h.closes.empty());

    // first_two[1] has been idle 30 s: closed. The others have been idle as long by
    // t0 + 32s, but min_idle keeps two.
    h.now = t0 + 30s;
    h.tick();
    BOOST_REQUIRE(h.closes.size() == 1u);
    BOOST_TEST(h.closes[0].first == first_two[1]);
    BOOST_TEST(h.closes[0].second == close_reason::idle_timeout);
    BOOST_TEST(h.last_connects == 0u);

    h.now = t0 + 100s;
    h.tick();
    BOOST_TEST(h.closes.size() == 1u);
    BOOST_TEST(h.core.idle() == 2u);
    BOOST_TEST(h.connects_requested == 3u);
    BOOST_TEST(h.core.stats().closed[idx(close_reason::idle_timeout)] == 1u);
}

BOOST_AUTO_TEST_CASE(tick_starts_min_idle_connects_and_refills_after_closes)
{
    limits_type l = make_limits(4, 0, 4);
    l.min_idle = 2;
    l.maintenance_period = 1s;
    harness h(l);

    BOOST_TEST(h.core.next_wakeup().has_value()); // min_idle needs a first tick
    h.tick();
    BOOST_TEST(h.last_connects == 2u);
    h.tick();
    BOOST_TEST(h.last_connects == 0u); // already connecting
    h.succeed();
    h.succeed();
    BOOST_TEST(h.core.idle() == 2u);
    h.now += 1s;
    h.tick();
    BOOST_TEST(h.last_connects == 0u);

    // Taking one starts a replacement at once.
    record_ptr r = h.take();
    BOOST_REQUIRE(r);
    BOOST_TEST(h.last_connects == 1u);
    h.succeed();
    BOOST_TEST(h.core.idle() == 2u);
    h.discard(std::move(r), close_reason::broken, false);
    BOOST_TEST(h.last_connects == 0u);

    // Both idle ones become stale: maintenance closes them and the same tick refills.
    h.core.bump_generation();
    h.now += 1s;
    h.tick();
    BOOST_TEST(h.closed(close_reason::stale_generation) == 2u);
    BOOST_TEST(h.last_connects == 2u);
    h.succeed();
    h.succeed();
    BOOST_TEST(h.core.idle() == 2u);
    BOOST_TEST(h.core.stats().created == 5u);
    BOOST_TEST(h.connects_requested == 5u);
    h.check_slots();
}

BOOST_AUTO_TEST_CASE(checkin_closes_connection_that_reached_max_uses)
{
    limits_type l = make_limits(1, 0, 1);
    l.max_uses = 2;
    harness h(l);

    BOOST_TEST(!h.acquire(1));
    h.succeed();
    record_ptr r = h.handed(1);
    BOOST_TEST(r->uses == 1u);
    h.checkin(std::move(r));
    BOOST_TEST(h.core.idle() == 1u);

    r = h.take();
    BOOST_REQUIRE(r);
    BOOST_TEST(r->uses == 2u);
    h.checkin(std::move(r));
    BOOST_REQUIRE(h.closes.size() == 1u);
    BOOST_TEST(h.closes[0].second == close_reason::max_uses);
    BOOST_TEST(h.core.idle() == 0u);
    BOOST_TEST(h.core.slots() == 0u);
    BOOST_TEST(h.core.stats().closed[idx(close_reason::max_uses)] == 1u);
}

BOOST_AUTO_TEST_CASE(needs_ping_unless_fresh_from_connect_and_only_when_idle_long_enough)
{
    limits_type l = make_limits(1, 0, 1);
    l.pre_ping_idle = 5s;
    harness h(l);

    BOOST_TEST(!h.acquire(1));
    h.succeed();
    record_ptr r = h.handed(1);
    BOOST_TEST(r->fresh);
    BOOST_TEST(!h.core.needs_ping(*r, t0 + 1h)); // never used yet
    h.checkin(std::move(r));                     // idle since t0

    h.now = t0 + 5s - 1ns;
    r = h.take();
    BOOST_REQUIRE(r);
    BOOST_TEST(!r->fresh);
    BOOST_TEST(!h.core.needs_ping(*r, h.now));
    BOOST_TEST(h.core.needs_ping(*r, t0 + 5s));

    limits_type off = l;
    off.pre_ping = false;
    core_type no_ping(off);
    BOOST_TEST(!no_ping.needs_ping(*r, t0 + 1h));

    // A connection that went idle straight from its connect is judged by its idle time too.
    harness g(l);
    BOOST_TEST(!g.take());
    BOOST_TEST(g.core.cancel(g.enqueue(1)).has_value());
    g.succeed(); // idle since t0
    g.now = t0 + 5s;
    record_ptr idle_first = g.take();
    BOOST_REQUIRE(idle_first);
    BOOST_TEST(!idle_first->fresh);
    BOOST_TEST(g.core.needs_ping(*idle_first, g.now));
    BOOST_TEST(!g.core.needs_ping(*idle_first, g.now - 1ns));
}

// ---- generations ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(generation_bump_closes_stale_idle_connections_lazily_at_take)
{
    harness h(make_limits(3, 0, 3));
    std::vector<int> old_ids = h.open_idle(2);

    h.core.bump_generation();
    BOOST_TEST(h.core.generation() == 1u);
    BOOST_TEST(h.core.idle() == 2u); // nothing closed yet
    BOOST_TEST(h.closes.empty());

    BOOST_TEST(!h.take());
    BOOST_REQUIRE(h.closes.size() == 2u);
    BOOST_TEST(h.closes[0].first == old_ids[0]);
    BOOST_TEST(h.closes[1].first == old_ids[1]);
    BOOST_TEST(h.closed(close_reason::stale_generation) == 2u);
    BOOST_TEST(h.core.slots() == 0u);

    // A new connection is of the new generation and is kept.
    BOOST_TEST(!h.acquire(1));
    h.succeed();
    record_ptr fresh = h.handed(1);
    BOOST_TEST(fresh->generation == 1u);
    int fresh_id = fresh->connection.id;
    h.checkin(std::move(fresh));
    record_ptr again = h.take();
    BOOST_REQUIRE(again);
    BOOST_TEST(again->connection.id == fresh_id);
    BOOST_TEST(h.closes.size() == 2u);
    BOOST_TEST(h.core.stats().generation_bumps == 1u);
}

BOOST_AUTO_TEST_CASE(generation_bump_closes_checked_out_connection_only_at_checkin)
{
    harness h(make_limits(3, 0, 3));
    for (int w = 1; w <= 3; ++w)
        BOOST_TEST(!h.acquire(w));
    for (int i = 0; i < 3; ++i)
        h.succeed();
    record_ptr a = h.handed(1), b = h.handed(2), c = h.handed(3);

    // A disconnect error on `a`: closed as broken and the generation bumped, but b and c,
    // checked out, are left alone.
    h.discard(std::move(a), close_reason::broken, true);
    BOOST_TEST(h.core.generation() == 1u);
    BOOST_TEST(h.core.stats().generation_bumps == 1u);
    BOOST_REQUIRE(h.closes.size() == 1u);
    BOOST_TEST(h.closes[0].second == close_reason::broken);
    BOOST_TEST(h.core.checked_out() == 2u);

    int b_id = b->connection.id;
    h.checkin(std::move(b));
    BOOST_REQUIRE(h.closes.size() == 2u);
    BOOST_TEST(h.closes[1].first == b_id);
    BOOST_TEST(h.closes[1].second == close_reason::stale_generation);
    BOOST_TEST(h.core.idle() == 0u);

    // A new connection (generation 1) returned next to the stale one is kept.
    BOOST_TEST(!h.acquire(4));
    h.succeed();
    record_ptr d = h.handed(4);
    BOOST_TEST(d->generation == 1u);
    h.checkin(std::move(d));
    h.checkin(std::move(c));
    BOOST_TEST(h.closed(close_reason::stale_generation) == 2u);
    BOOST_TEST(h.core.idle() == 1u);
    BOOST_TEST(h.core.checked_out() == 0u);
    h.check_slots();
}

// ---- connect failures -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(connect_failures_back_off_exponentially_before_retrying)
{
    limits_type l = make_limits(2, 0, 1);
    l.backoff_initial = 20ms;
    l.backoff_max = 100ms;
    harness h(l);

    BOOST_TEST(!h.acquire(1, 1h));
    BOOST_TEST(h.last_connects == 1u);

    // 20, 40, 80, then capped at 100.
    for (duration backoff :
         {duration{20ms}, duration{40ms}, duration{80ms}, duration{100ms}, duration{100ms}}) {
        time_point failed_at = h.now;
        h.fail();
        BOOST_TEST(h.last_connects == 0u);
        BOOST_TEST(h.core.connecting() == 0u);
        BOOST_TEST(at(h.core.next_wakeup()) == at(failed_at + backoff));

        // A new acquire does not bypass the backoff either.
        h.now = failed_at + backoff - 1ns;
        waiter_id extra = h.enqueue(2, 1h);
        BOOST_TEST(h.last_connects == 0u);
        BOOST_TEST(h.core.cancel(extra).has_value());
        h.tick();
        BOOST_TEST(h.last_connects == 0u);

        h.now = failed_at + backoff;
        h.tick();
        BOOST_TEST(h.last_connects == 1u);
        h.now += 3ms;
    }

    // Success resets the backoff.
    h.succeed();
    BOOST_TEST(h.handoff_order == (std::vector<int>{1}), boost::test_tools::per_element());
    BOOST_TEST(!h.acquire(3, 1h));
    time_point failed_at = h.now;
    h.fail();
    BOOST_TEST(at(h.core.next_wakeup()) == at(failed_at + 20ms));
    BOOST_TEST(h.core.stats().connect_failures == 6u);
    BOOST_TEST(h.failures.empty());
}

BOOST_AUTO_TEST_CASE(next_wakeup_reports_retry_only_while_someone_needs_a_connect)
{
    limits_type l = make_limits(2, 0, 1);
    l.backoff_initial = 20ms;
    harness h(l);

    BOOST_TEST(!h.take());
    waiter_id id = h.enqueue(1, 1s);
    h.fail();
    BOOST_TEST(at(h.core.next_wakeup()) == at(t0 + 20ms)); // before the deadline at 1 s

    BOOST_TEST(h.core.cancel(id).has_value());
    BOOST_TEST(!h.core.next_wakeup()); // no demand: nothing to retry
}

BOOST_AUTO_TEST_CASE(discarding_a_record_at_capacity_connects_for_the_waiter)
{
    harness h(make_limits(1, 0, 1));
    BOOST_TEST(!h.acquire(1));
    h.succeed();
    record_ptr r = h.handed(1);
    BOOST_TEST(!h.acquire(2));
    BOOST_TEST(h.last_connects == 0u); // no capacity

    h.discard(std::move(r), close_reason::broken, false);
    BOOST_TEST(h.last_connects == 1u);
    h.succeed();
    BOOST_TEST(h.handoff_order == (std::vector<int>{1, 2}), boost::test_tools::per_element());
    h.check_slots();
}

BOOST_AUTO_TEST_CASE(permanent_connect_failure_fails_every_waiter)
{
    harness h(make_limits(5, 0, 2));
    for (int w = 1; w <= 4; ++w)
        BOOST_TEST(!h.acquire(w));
    BOOST_TEST(h.core.connecting() == 2u);

    h.fail(true);
    BOOST_REQUIRE(h.failures.size() == 4u);
    for (int w = 1; w <= 4; ++w) {
        BOOST_TEST(h.failures[w - 1].first == w);
        BOOST_TEST(h.failures[w - 1].second == waiter_failure::connect_error);
    }
    BOOST_TEST(h.core.waiting() == 0u);
    BOOST_TEST(h.core.connecting() == 1u);

    // The connect still in flight joins the idle list.
    h.succeed();
    BOOST_TEST(h.handoffs.empty());
    BOOST_TEST(h.core.idle() == 1u);
    h.check_slots();
}

BOOST_AUTO_TEST_CASE(max_connecting_caps_connects_in_flight_with_many_waiters)
{
    harness h(make_limits(10, 10, 3));
    for (int w = 0; w < 12; ++w) {
        BOOST_TEST(!h.acquire(w));
        BOOST_TEST(h.core.connecting() <= 3u);
    }
    BOOST_TEST(h.connects_requested == 3u);
    BOOST_TEST(h.core.connecting() == 3u);
    BOOST_TEST(h.core.waiting() == 12u);

    // Served in order; never more than 3 connects at once (ticks give the core every chance
    // to start more).
    int guard = 0;
    while (h.core.waiting() > 0 && ++guard < 100) {
        if (h.in_flight > 0)
            h.succeed();
        h.tick();
        BOOST_TEST(h.core.connecting() <= 3u);
        h.check_slots();
    }
    BOOST_TEST(h.core.waiting() == 0u);
    BOOST_TEST(h.handoff_order.size() == 12u);
    BOOST_TEST(std::is_sorted(h.handoff_order.begin(), h.handoff_order.end()));
}

BOOST_AUTO_TEST_CASE(finished_connect_starts_the_next_one_for_remaining_waiters)
{
    // Without any tick: a connect result must let the core start the next connect while
    // waiters remain (nothing else wakes it before their deadlines).
    harness h(make_limits(10, 10, 2));
    for (int w = 0; w < 5; ++w)
        BOOST_TEST(!h.acquire(w));
    BOOST_TEST(h.core.connecting() == 2u);

    h.succeed(); // waiter 0 served; 4 still wait
    BOOST_TEST(h.core.waiting() == 4u);
    BOOST_TEST(h.last_connects == 1u);
    BOOST_TEST(h.core.connecting() == 2u);
}

BOOST_AUTO_TEST_CASE(connect_success_after_a_failure_resumes_connects_at_once)
{
    // A success clears the backoff of an earlier failure: connects for the remaining
    // waiters start at once (next_wakeup() no longer reports the cleared retry time).
    harness h(make_limits(10, 10, 2));
    for (int w = 0; w < 5; ++w)
        BOOST_TEST(!h.acquire(w));
    h.fail();
    BOOST_TEST(h.core.connecting() == 1u);
    h.succeed(); // waiter 0 served; 4 still wait
    BOOST_TEST(h.core.waiting() == 4u);
    BOOST_TEST(h.core.connecting() == 2u);
    BOOST_TEST(at(h.core.next_wakeup()) == at(t0 + 10s)); // only the waiters' deadline
}

// ---- close ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(close_fails_every_waiter_and_starts_nothing_afterwards)
{
    limits_type l = make_limits(2, 0, 2);
    l.min_idle = 1;
    harness h(l);
    h.tick();
    BOOST_TEST(h.last_connects == 1u); // min_idle
    h.succeed();
    record_ptr a = h.take();
    BOOST_REQUIRE(a);
    BOOST_TEST(h.last_connects == 1u); // min_idle refill
    h.succeed();
    record_ptr b = h.take();
    BOOST_REQUIRE(b);
    BOOST_TEST(h.last_connects == 0u); // no capacity left
    BOOST_TEST(!h.take());
    waiter_id w1 = h.enqueue(1);
    BOOST_TEST(!h.take());
    h.enqueue(2);
    BOOST_TEST(h.core.waiting() == 2u);

    h.close();
    BOOST_TEST(h.core.closed());
    BOOST_REQUIRE(h.failures.size() == 2u);
    BOOST_TEST(h.failures[0].first == 1);
    BOOST_TEST(h.failures[0].second == waiter_failure::pool_closed);
    BOOST_TEST(h.failures[1].first == 2);
    BOOST_TEST(h.failures[1].second == waiter_failure::pool_closed);
    BOOST_TEST(h.core.waiting() == 0u);
    BOOST_TEST(!h.core.cancel(w1).has_value());
    BOOST_TEST(!h.core.next_wakeup());
    BOOST_TEST(h.core.checked_out() == 2u); // leases are not interrupted

    // A slot frees up and min_idle lacks one, but a closed pool connects nothing.
    h.checkin(std::move(a));
    BOOST_TEST(h.last_connects == 0u);
    h.now += 1h;
    h.tick();
    BOOST_TEST(h.last_connects == 0u);
    BOOST_TEST(h.connects_requested == 2u);

    // Idempotent.
    std::size_t closes = h.closes.size();
    h.close();
    BOOST_TEST(h.closes.size() == closes);
    BOOST_TEST(h.failures.size() == 2u);
    h.checkin(std::move(b));
    BOOST_TEST(h.closed(close_reason::pool_closed) == 2u);
    BOOST_TEST(h.core.slots() == 0u);
}

BOOST_AUTO_TEST_CASE(close_closes_idle_connections)
{
    harness h(make_limits(3, 0, 3));
    std::vector<int> ids = h.open_idle(3);
    h.close();
    BOOST_REQUIRE(h.closes.size() == 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        BOOST_TEST(h.closes[i].first == ids[i]);
        BOOST_TEST(h.closes[i].second == close_reason::pool_closed);
    }
    BOOST_TEST(h.core.idle() == 0u);
    BOOST_TEST(h.core.slots() == 0u);
    BOOST_TEST(!h.take());
    BOOST_TEST(h.core.stats().closed[idx(close_reason::pool_closed)] == 3u);
}

BOOST_AUTO_TEST_CASE(checkin_after_close_closes_the_connection)
{
    harness h(make_limits(3, 0, 3));
    BOOST_TEST(!h.acquire(1));
    h.succeed();
    record_ptr r = h.handed(1);
    h.close();
    BOOST_TEST(h.closes.empty());
    BOOST_TEST(h.core.checked_out() == 1u);

    h.checkin(std::move(r));
    BOOST_REQUIRE(h.closes.size() == 1u);
    BOOST_TEST(h.closes[0].second == close_reason::pool_closed);
    BOOST_TEST(h.core.idle() == 0u);
    BOOST_TEST(h.core.slots() == 0u);
}

BOOST_AUTO_TEST_CASE(connect_finishing_after_close_is_closed)
{
    harness h(make_limits(3, 0, 3));
    BOOST_TEST(!h.acquire(1));
    BOOST_TEST(!h.acquire(2));
    BOOST_TEST(h.core.connecting() == 2u);
    h.close();
    BOOST_TEST(h.failures.size() == 2u);

    h.fail();
    BOOST_TEST(h.last_connects == 0u);
    h.succeed();
    BOOST_TEST(h.handoffs.empty());
    BOOST_REQUIRE(h.closes.size() == 1u);
    BOOST_TEST(h.closes[0].second == close_reason::pool_closed);
    BOOST_TEST(h.core.idle() == 0u);
    BOOST_TEST(h.core.slots() == 0u);
    BOOST_TEST(!h.take()); // nothing handed out from a closed pool
}

BOOST_AUTO_TEST_CASE(enqueue_on_closed_pool_fails_at_once)
{
    harness h(make_limits(3, 0, 3));
    h.close();
    BOOST_TEST(!h.take());
    waiter_id id = h.enqueue(7);
    BOOST_REQUIRE(h.failures.size() == 1u);
    BOOST_TEST(h.failures[0].first == 7);
    BOOST_TEST(h.failures[0].second == waiter_failure::pool_closed);
    BOOST_TEST(h.last_connects == 0u);
    BOOST_TEST(h.core.waiting() == 0u);
    BOOST_TEST(!h.core.cancel(id).has_value());
    BOOST_TEST(h.core.stats().waits == 0u);
}

// ---- idle order -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(fifo_idle_hands_out_the_least_recently_returned)
{
    harness h(make_limits(3, 0, 3));
    std::vector<int> ids = h.open_idle(3); // returned in this order
    for (int expected : ids) {
        record_ptr r = h.take();
        BOOST_REQUIRE(r);
        BOOST_TEST(r->connection.id == expected);
    }
}

BOOST_AUTO_TEST_CASE(lifo_idle_hands_out_the_most_recently_returned)
{
    limits_type l = make_limits(3, 0, 3);
    l.lifo = true;
    harness h(l);
    std::vector<int> ids = h.open_idle(3);
    for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
        record_ptr r = h.take();
        BOOST_REQUIRE(r);
        BOOST_TEST(r->connection.id == *it);
    }
}

// ---- randomised ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(random_steps_keep_slot_accounting_and_lose_no_record_or_waiter)
{
    constexpr std::size_t steps_per_seed = 8000;
    std::size_t total_steps = 0, episodes = 0, records_created = 0;
    core_type::counters seen; // summed over episodes: every path must have been exercised
    for (unsigned seed = 1; seed <= 16; ++seed) {
        std::mt19937 rng(seed);
        std::size_t steps = 0;
        for (int episode = 0; steps < steps_per_seed; ++episode) {
            random_run run(rng, random_limits(rng));
            auto fail_if_broken = [&] {
                if (!run.error.empty())
                    BOOST_FAIL("seed " << seed << " episode " << episode << " step " << steps << " ("
                                       << run.action << ", " << run.describe_limits() << "): " << run.error);
            };
            // Open for a while (or until a random close), then a few steps closed, then drain.
            std::size_t open_steps = 200 + run.pick(3000);
            std::size_t closed_steps = run.pick(150);
            for (std::size_t i = 0; i < open_steps && !run.core.closed(); ++i, ++steps) {
                if (run.chance(1.0 / 4000)) {
                    run.close();
                    run.check();
                } else {
                    run.step();
                }
                fail_if_broken();
            }
            if (!run.core.closed()) {
                run.close();
                run.check();
                fail_if_broken();
            }
            for (std::size_t i = 0; i < closed_steps; ++i, ++steps) {
                run.step();
                fail_if_broken();
            }
            run.drain();
            fail_if_broken();
            ++episodes;
            records_created += run.records.size();
            const auto& s = run.core.stats();
            seen.acquires += s.acquires;
            seen.waits += s.waits;
            seen.timeouts += s.timeouts;
            seen.cancelled_waits += s.cancelled_waits;
            seen.connect_failures += s.connect_failures;
            seen.generation_bumps += s.generation_bumps;
            for (std::size_t i = 0; i < close_reason_count; ++i)
                seen.closed[i] += s.closed[i];
        }
        total_steps += steps;
    }
    BOOST_TEST(total_steps >= 100000u);
    BOOST_TEST(seen.acquires > 10000u);
    BOOST_TEST(seen.waits > 1000u);
    BOOST_TEST(seen.timeouts > 100u);
    BOOST_TEST(seen.cancelled_waits > 100u);
    BOOST_TEST(seen.connect_failures > 100u);
    BOOST_TEST(seen.generation_bumps > 100u);
    for (std::size_t i = 0; i < close_reason_count; ++i)
        BOOST_TEST(seen.closed[i] > 10u, "close reason " << static_cast<close_reason>(i));
    BOOST_TEST_MESSAGE("pool_core random: " << total_steps << " steps, " << episodes << " episodes, "
                                            << records_created << " connections, " << seen.acquires
                                            << " acquires, " << seen.waits << " waits, " << seen.timeouts
                                            << " timeouts, " << seen.cancelled_waits << " cancels");
}

BOOST_AUTO_TEST_SUITE_END()
