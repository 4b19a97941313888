#pragma once
// Request counters and latency histograms for GET /metrics (Prometheus text format 0.0.4),
// plus the pool's own statistics.

#include <pgcoro/pool.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

namespace service {

class metrics {
public:
    /// Counts one finished request under its route template ("/users/{id}"), never the raw
    /// path: raw paths would give every id its own time series. `method` and `route` must be
    /// static strings (the api's endpoint table and literals): they are kept as views, so
    /// counting a request allocates nothing once its series exists.
    void record(std::string_view method, std::string_view route, unsigned status,
                std::chrono::nanoseconds elapsed);

    void request_started() noexcept { in_flight_.fetch_add(1, std::memory_order_relaxed); }
    void request_finished() noexcept { in_flight_.fetch_sub(1, std::memory_order_relaxed); }
    std::int64_t in_flight() const noexcept { return in_flight_.load(std::memory_order_relaxed); }

    /// Everything in the Prometheus text exposition format.
    std::string render(const pgcoro::pool_stats& pool) const;

private:
    // Upper bounds in seconds; the last bucket (+Inf) is implicit.
    static constexpr std::array<double, 12> bucket_bounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                          0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
    struct histogram {
        std::array<std::uint64_t, bucket_bounds.size() + 1> buckets{};
        double sum_seconds = 0;
        std::uint64_t count = 0;
    };

    // A mutex, not atomics per series: series appear at run time, and one lock per request
    // (held for a map lookup) is noise next to a database round trip.
    mutable std::mutex mutex_;
    std::map<std::tuple<std::string_view, std::string_view, unsigned>, std::uint64_t>
        requests_;                                    // method, route, status
    std::map<std::string_view, histogram> durations_; // by route
    std::atomic<std::int64_t> in_flight_{0};
};

} // namespace service
