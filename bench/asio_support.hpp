// What the pooled benchmarks, pool_bench.cpp and transaction_bench.cpp, share on top of
// bench_support.hpp: timers and thread runners for an io_context, the first-failure flag of
// a group of coroutines (or threads), per-worker counters, the pool's counters as text and
// a median. Header-only: inline functions in namespace bench.

#pragma once

#include "bench_support.hpp"

#include <pgcoro/pool.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
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

} // namespace bench
