#include "metrics.hpp"

#include <cstdio>
#include <sstream>

namespace service {

void metrics::record(std::string_view method, std::string_view route, unsigned status,
                     std::chrono::nanoseconds elapsed)
{
    double seconds = std::chrono::duration<double>(elapsed).count();
    std::size_t bucket = 0;
    while (bucket < bucket_bounds.size() && seconds > bucket_bounds[bucket])
        ++bucket;
    std::lock_guard lock(mutex_);
    ++requests_[{method, route, status}];
    histogram& h = durations_[route];
    ++h.buckets[bucket];
    h.sum_seconds += seconds;
    ++h.count;
}

namespace {

void gauge(std::ostream& out, std::string_view name, std::string_view help, std::uint64_t value)
{
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " gauge\n"
        << name << ' ' << value << '\n';
}

void counter(std::ostream& out, std::string_view name, std::string_view help, std::uint64_t value)
{
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " counter\n"
        << name << ' ' << value << '\n';
}

std::string number(double value)
{
    char text[32];
    std::snprintf(text, sizeof text, "%.9g", value);
    return text;
}

} // namespace

std::string metrics::render(const pgcoro::pool_stats& pool) const
{
    std::ostringstream out;
    gauge(out, "pgcoro_pool_connections", "Open connections (idle + checked out).", pool.size);
    gauge(out, "pgcoro_pool_idle", "Idle connections.", pool.idle);
    gauge(out, "pgcoro_pool_checked_out", "Connections leased, or being reset or pinged.", pool.checked_out);
    gauge(out, "pgcoro_pool_connecting", "Connects in flight.", pool.connecting);
    gauge(out, "pgcoro_pool_overflow", "Open connections beyond pool_size.", pool.overflow);
    gauge(out, "pgcoro_pool_waiting", "Acquires queued for a connection.", pool.waiting);
    counter(out, "pgcoro_pool_acquires_total", "Connections handed out.", pool.acquires);
    counter(out, "pgcoro_pool_waits_total", "Acquires that had to queue.", pool.waits);
    counter(out, "pgcoro_pool_timeouts_total", "Acquires that failed with pool_timeout.", pool.timeouts);
    counter(out, "pgcoro_pool_cancelled_waits_total", "Acquires cancelled while queued.",
            pool.cancelled_waits);
    counter(out, "pgcoro_pool_created_total", "Connections opened.", pool.created);
    counter(out, "pgcoro_pool_connect_failures_total", "Failed connection attempts.", pool.connect_failures);
    counter(out, "pgcoro_pool_pings_total", "Pre-pings sent.", pool.pings);
    counter(out, "pgcoro_pool_ping_failures_total", "Pre-pings that found a dead connection.",
            pool.ping_failures);
    counter(out, "pgcoro_pool_resets_total", "Returns that needed a rollback or cancel.", pool.resets);
    gauge(out, "pgcoro_pool_generation", "Disconnect generation.", pool.generation);
    out << "# HELP pgcoro_pool_closed_total Connections closed, by reason.\n"
           "# TYPE pgcoro_pool_closed_total counter\n";
    const std::pair<std::string_view, std::uint64_t> closed[] = {
        {"recycled", pool.closed_recycled},       {"idle_timeout", pool.closed_idle_timeout},
        {"max_uses", pool.closed_max_uses},       {"stale", pool.closed_stale},
        {"broken", pool.closed_broken},           {"reset_failed", pool.closed_reset_failed},
        {"surplus", pool.closed_surplus},         {"pool_closed", pool.closed_pool_closed},
        {"hook_failed", pool.closed_hook_failed}, {"discarded", pool.closed_discarded},
    };
    for (const auto& [reason, value] : closed)
        out << "pgcoro_pool_closed_total{reason=\"" << reason << "\"} " << value << '\n';

    out << "# HELP http_requests_in_flight Requests being handled.\n# TYPE http_requests_in_flight gauge\n"
        << "http_requests_in_flight " << in_flight() << '\n';

    std::lock_guard lock(mutex_);
    out << "# HELP http_requests_total Finished requests.\n# TYPE http_requests_total counter\n";
    for (const auto& [key, value] : requests_)
        out << "http_requests_total{method=\"" << std::get<0>(key) << "\",route=\"" << std::get<1>(key)
            << "\",status=\"" << std::get<2>(key) << "\"} " << value << '\n';
    out << "# HELP http_request_duration_seconds Time from a request's last byte to its response.\n"
           "# TYPE http_request_duration_seconds histogram\n";
    for (const auto& [route, h] : durations_) {
        std::uint64_t cumulative = 0;
        for (std::size_t i = 0; i < h.buckets.size(); ++i) {
            cumulative += h.buckets[i];
            std::string le = i < bucket_bounds.size() ? number(bucket_bounds[i]) : "+Inf";
            out << "http_request_duration_seconds_bucket{route=\"" << route << "\",le=\"" << le << "\"} "
                << cumulative << '\n';
        }
        out << "http_request_duration_seconds_sum{route=\"" << route << "\"} " << number(h.sum_seconds)
            << '\n'
            << "http_request_duration_seconds_count{route=\"" << route << "\"} " << h.count << '\n';
    }
    return out.str();
}

} // namespace service
