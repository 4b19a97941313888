// What the pooled benchmarks, pool_bench.cpp and transaction_bench.cpp, share on top of
// bench_support.hpp: timers and thread runners for an io_context, the first-failure flag of
// a group of coroutines (or threads), per-worker counters, the pool's counters as text and
// a median, and the controller of C load coroutines on a pool. Header-only: inline functions in namespace
// bench.

#pragma once

#include "bench_support.hpp"

#include <pgcoro/pool.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace bench {

using steady = std::chrono::steady_clock;

inline boost::asio::awaitable<void> pause(boost::asio::steady_timer& timer, steady::duration d)
{
    timer.expires_after(d);
    co_await timer.async_wait(boost::asio::use_awaitable);
}

inline steady::duration to_duration(double seconds)
{
    return std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds));
}

/// Runs `io` on `threads` threads (this one included) until it runs out of work.
inline void run_threads(boost::asio::io_context& io, std::size_t threads)
{
    std::vector<std::thread> extra;
    for (std::size_t i = 1; i < threads; ++i)
        extra.emplace_back([&io] { io.run(); });
    io.run();
    for (std::thread& t : extra)
        t.join();
}

/// Spawns `body` on `io`, runs it on `threads` threads and rethrows its exception.
inline void run_to_completion(boost::asio::io_context& io, std::size_t threads,
                              boost::asio::awaitable<void> body)
{
    std::exception_ptr failure;
    boost::asio::co_spawn(io, std::move(body), [&failure](std::exception_ptr e) { failure = e; });
    run_threads(io, threads);
    if (failure)
        std::rethrow_exception(failure);
}

/// First exception of a group of coroutines; stops the others.
class failure_flag {
public:
    void set(std::exception_ptr e) noexcept
    {
        std::lock_guard guard(mutex_);
        if (!first_)
            first_ = e;
        failed_.store(true, std::memory_order_release);
    }
    bool failed() const noexcept { return failed_.load(std::memory_order_acquire); }
    void rethrow() const
    {
        std::lock_guard guard(mutex_);
        if (first_)
            std::rethrow_exception(first_);
    }

private:
    mutable std::mutex mutex_;
    std::exception_ptr first_;
    std::atomic<bool> failed_{false};
};

/// Written by one coroutine (which may move between threads, never run on two at once) or
/// one thread, read by the controller: a relaxed atomic on its own cache line costs a plain
/// store.
struct alignas(64) worker_counter {
    std::atomic<long> queries{0};
};

inline std::string pool_counters(const pgcoro::pool_stats& s)
{
    char text[256];
    std::snprintf(text, sizeof text,
                  "created=%llu timeouts=%llu connect_failures=%llu waits=%llu pings=%llu resets=%llu "
                  "closed_broken=%llu",
                  static_cast<unsigned long long>(s.created), static_cast<unsigned long long>(s.timeouts),
                  static_cast<unsigned long long>(s.connect_failures),
                  static_cast<unsigned long long>(s.waits), static_cast<unsigned long long>(s.pings),
                  static_cast<unsigned long long>(s.resets),
                  static_cast<unsigned long long>(s.closed_broken));
    return text;
}

inline double median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/// What C load coroutines share with their controller. Options names clients, seconds and
/// warmup_seconds (and whatever the workers read).
template <class Options> struct load_state {
    load_state(const Options& opts, pgcoro::pool& p)
        : o(opts), pool(p), counters(std::make_unique<worker_counter[]>(opts.clients))
    {}

    const Options& o;
    pgcoro::pool& pool;
    std::unique_ptr<worker_counter[]> counters;
    std::atomic<std::size_t> ready{0};    // coroutines holding their first connection
    std::atomic<std::size_t> finished{0}; // coroutines done (or failed)
    std::atomic<bool> go{false};
    std::atomic<bool> stop{false};
    failure_flag failure;

    /// Units (queries or transactions) done by all workers so far.
    long total() const noexcept
    {
        long sum = 0;
        for (std::size_t i = 0; i < o.clients; ++i)
            sum += counters[i].queries.load(std::memory_order_relaxed);
        return sum;
    }
};

struct load_result {
    measurement m;
    double connect_seconds = 0;
    pgcoro::pool_stats stats;
    std::int64_t checksum = 0;
};

/// Starts one `worker(s, index, checksum)` per client, waits until each holds its first
/// connection, lets them run through the warm-up, measures `seconds`, stops them, and
/// collects the pool's stats and the checksums before closing the pool.
template <class Options>
boost::asio::awaitable<void>
load_controller(load_state<Options>& s, load_result& r,
                boost::asio::awaitable<void> (*worker)(load_state<Options>&, std::size_t, std::int64_t&))
{
    auto executor = co_await boost::asio::this_coro::executor;
    boost::asio::steady_timer timer(executor);
    const std::size_t clients = s.o.clients;
    std::vector<std::int64_t> checksums(clients);
    const steady::time_point started = steady::now();
    for (std::size_t i = 0; i < clients; ++i)
        boost::asio::co_spawn(executor, worker(s, i, checksums[i]), boost::asio::detached);
    while (s.ready.load() < clients && !s.failure.failed())
        co_await pause(timer, std::chrono::milliseconds{1});
    r.connect_seconds = std::chrono::duration<double>(steady::now() - started).count();
    s.go.store(true, std::memory_order_release);

    if (!s.failure.failed()) {
        if (s.o.warmup_seconds > 0)
            co_await pause(timer, to_duration(s.o.warmup_seconds));
        snapshot begin = snapshot::take(s.total());
        co_await pause(timer, to_duration(s.o.seconds));
        snapshot end = snapshot::take(s.total());
        r.m = difference(begin, end);
    }
    s.stop.store(true);
    while (s.finished.load() < clients)
        co_await pause(timer, std::chrono::milliseconds{1});
    r.stats = s.pool.stats();
    for (std::int64_t c : checksums)
        r.checksum += c;
    co_await s.pool.close();
}

} // namespace bench
