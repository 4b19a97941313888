// Pool benchmark: point selects through pgcoro::pool from many coroutines, the pool's own
// acquire+release overhead, its memory per connection and over a long run, and a wrapper
// that measures pgbench the same way. bench/run_pool drives it; each mode prints one line.
//
//   pool_bench --mode load --threads T --clients C [--seconds S] [--warmup-seconds W]
//              [--accounts N] [--conninfo DSN]
//   pool_bench --mode pgbench --threads T --clients C [--seconds S] [--pgbench PATH] [--conninfo DSN]
//   pool_bench --mode overhead [--iterations N] [--batches B] [--conninfo DSN]
//   pool_bench --mode memory [--idle-connections K] [--queries Q] [--workers W]
//              [--sample-every N] [--conninfo DSN]
//
// load: a pool with pool_size = C, max_overflow = 0, max_connecting = C (--max-connecting) and
//   otherwise default options (pre_ping on), on an io_context constructed with concurrency hint T and run by
//   T threads. C coroutines loop { auto l = co_await pool.acquire(); co_await l->scalar<std::int32_t>(
//   "SELECT abalance FROM pgbench_accounts WHERE aid=$1", aid); }: one lease per query, as
//   a web handler would, aid from a fixed-seed xorshift sequence per coroutine. All C
//   connections are opened first (each coroutine holds a lease until every one has one),
//   then a warm-up that is not counted (it prepares the statement on each connection),
//   then the measured part. cpu_us is the process's user + system time (getrusage
//   RUSAGE_SELF: every thread) over the measured part, per query. The line also carries
//   the pool's counters: created must equal C, timeouts and connect_failures 0.
//
// pgbench: runs `pgbench -n -S -M prepared -c C -j T` twice as a child: `-t 1` (start-up,
//   C connects with their SCRAM exchange, C queries, exit) and `-T S`. Its CPU time comes
//   from wait4's rusage; cpu_us = (cpu(-T) - cpu(-t 1)) / (queries(-T) - C), so neither
//   side is billed for connecting (cpu_raw_us is the uncorrected figure). qps is pgbench's
//   own "tps (without initial connection time)": one query per transaction with -S.
//
// overhead: ns per acquire+release of an idle connection, no I/O: a pool (pre_ping off) with
//   one connection open, then { auto l = co_await pool.acquire(); } in a tight loop in one
//   coroutine on a 1-thread io_context; the median over B batches. The same with pre_ping
//   on (the connection was idle far less than pre_ping_idle: no ping), and, for scale, a
//   co_await of an empty awaitable coroutine (the floor of any awaitable call).
//
// memory: (a) client RSS (/proc/self/smaps_rollup, exact) after one warm connection, then
//   after K - 1 more (pool_size K, all acquired at once), then after each has run one point
//   select and gone back to the pool: KiB per idle pooled connection (libpq's PGconn and
//   buffers included; use a conninfo without TLS). (b) Q pooled point selects from W
//   coroutines through those connections: RSS and malloc'd bytes (mallinfo2) after the
//   first sample-every queries and at the end; the growth must stay near zero. Small
//   settings make it a leak check under valgrind (bench/run_pool does that).
//
// conninfo defaults to $PGCORO_TEST_DSN.

#include "asio_support.hpp"

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;

namespace {

using namespace bench;

constexpr std::string_view point_select_sql = "SELECT abalance FROM pgbench_accounts WHERE aid=$1";

using namespace std::chrono_literals;

// ---- options ----------------------------------------------------------------------------

struct options {
    std::string mode; // load | pgbench | overhead | memory
    std::string conninfo = conninfo_from_environment();
    std::size_t threads = 1;
    std::size_t clients = 8;
    double seconds = 5;
    double warmup_seconds = 1;
    std::int32_t accounts = 1'000'000; // pgbench scale 10
    std::uint64_t seed = 0x5eed'0f'a1d5ULL;
    std::string pgbench = "/usr/lib/postgresql/15/bin/pgbench";
    long iterations = 2'000'000; // overhead: acquire+release cycles in all batches
    int batches = 10;
    std::size_t idle_connections = 64; // memory (a)
    long queries = 1'000'000;          // memory (b)
    std::size_t workers = 8;
    long sample_every = 100'000;
    long max_connecting = -1; // -1: as many as the pool has connections; 0: the pool's default
};

void usage()
{
    std::cerr << "usage: pool_bench --mode load --threads T --clients C [--seconds S] [--warmup-seconds W]\n"
                 "                  [--accounts N] [--seed N] [--conninfo DSN]\n"
                 "       pool_bench --mode pgbench --threads T --clients C [--seconds S] [--pgbench PATH]\n"
                 "                  [--conninfo DSN]\n"
                 "       pool_bench --mode overhead [--iterations N] [--batches B] [--conninfo DSN]\n"
                 "       pool_bench --mode memory [--idle-connections K] [--queries Q] [--workers W]\n"
                 "                  [--sample-every N] [--conninfo DSN]\n"
                 "conninfo defaults to $PGCORO_TEST_DSN.\n";
}

options parse_options(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            usage();
            std::exit(0);
        }
        std::string_view value = option_value(argc, argv, i);
        if (flag == "--mode")
            o.mode = value;
        else if (flag == "--conninfo")
            o.conninfo = value;
        else if (flag == "--threads")
            o.threads = parse_number<std::size_t>(flag, value);
        else if (flag == "--clients")
            o.clients = parse_number<std::size_t>(flag, value);
        else if (flag == "--seconds")
            o.seconds = parse_number<double>(flag, value);
        else if (flag == "--warmup-seconds")
            o.warmup_seconds = parse_number<double>(flag, value);
        else if (flag == "--accounts")
            o.accounts = parse_number<std::int32_t>(flag, value);
        else if (flag == "--seed")
            o.seed = parse_number<std::uint64_t>(flag, value);
        else if (flag == "--pgbench")
            o.pgbench = value;
        else if (flag == "--iterations")
            o.iterations = parse_number<long>(flag, value);
        else if (flag == "--batches")
            o.batches = parse_number<int>(flag, value);
        else if (flag == "--idle-connections")
            o.idle_connections = parse_number<std::size_t>(flag, value);
        else if (flag == "--queries")
            o.queries = parse_number<long>(flag, value);
        else if (flag == "--workers")
            o.workers = parse_number<std::size_t>(flag, value);
        else if (flag == "--sample-every")
            o.sample_every = parse_number<long>(flag, value);
        else if (flag == "--max-connecting")
            o.max_connecting = parse_number<long>(flag, value);
        else
            fail("unknown option " + std::string(flag));
    }
    if (o.mode != "load" && o.mode != "pgbench" && o.mode != "overhead" && o.mode != "memory")
        fail("--mode must be load, pgbench, overhead or memory");
    if (o.conninfo.empty())
        fail("no --conninfo and no PGCORO_TEST_DSN");
    if (o.threads < 1 || o.clients < 1 || o.workers < 1)
        fail("--threads, --clients and --workers must be at least 1");
    if (o.seconds <= 0 || o.warmup_seconds < 0)
        fail("--seconds must be positive and --warmup-seconds not negative");
    if (o.accounts < 1)
        fail("--accounts must be positive");
    if (o.batches < 1 || o.iterations < o.batches)
        fail("--batches must be at least 1 and --iterations at least --batches");
    if (o.idle_connections < 2)
        fail("--idle-connections must be at least 2");
    if (o.queries < 1 || o.sample_every < 1 || o.sample_every > o.queries)
        fail("--queries must be positive and --sample-every within 1..queries");
    if (o.max_connecting < -1)
        fail("--max-connecting must be -1 (one per connection), 0 (the pool's default) or more");
    return o;
}

/// The pool's options for `connections` connections. Everything is left at its default but
/// max_connecting, which by default is raised to open them all at once: set-up stays short
/// (it is not measured) and does not depend on how the pool schedules queued connects.
pgcoro::pool_options pool_options_for(const options& o, std::size_t connections)
{
    pgcoro::pool_options po;
    po.conninfo = o.conninfo;
    po.pool_size = connections;
    po.max_overflow = 0;
    if (o.max_connecting < 0)
        po.max_connecting = connections;
    else if (o.max_connecting > 0)
        po.max_connecting = static_cast<std::size_t>(o.max_connecting);
    return po;
}

// ---- load: C coroutines, a lease per query ------------------------------------------------------

using load_state = bench::load_state<options>;

asio::awaitable<void> load_worker(load_state& s, std::size_t index, std::int64_t& checksum)
{
    try {
        auto executor = co_await asio::this_coro::executor;
        asio::steady_timer timer(executor);
        aid_sequence aids(s.o.seed + index, s.o.accounts);
        worker_counter& counter = s.counters[index];
        {
            // Hold one connection until every coroutine has one: all C are open before the
            // warm-up starts.
            pgcoro::lease first = co_await s.pool.acquire();
            s.ready.fetch_add(1);
            while (!s.go.load(std::memory_order_acquire) && !s.failure.failed())
                co_await pause(timer, 1ms);
        }
        std::int64_t sum = 0;
        long n = 0;
        while (!s.stop.load(std::memory_order_relaxed)) {
            const std::int32_t aid = aids.next();
            pgcoro::lease db = co_await s.pool.acquire();
            const std::int32_t balance = co_await db->scalar<std::int32_t>(point_select_sql, aid);
            sum += aid + balance;
            counter.queries.store(++n, std::memory_order_relaxed);
        }
        checksum = sum;
    } catch (...) {
        s.failure.set(std::current_exception());
        s.stop.store(true);
    }
    s.finished.fetch_add(1);
}

int run_load(const options& o)
{
    // Constructed with the thread count as its concurrency hint, as Beast's examples do.
    asio::io_context io(static_cast<int>(o.threads));
    pgcoro::pool pool(io.get_executor(), pool_options_for(o, o.clients));

    load_state s(o, pool);
    load_result r;
    run_to_completion(io, o.threads, load_controller(s, r, load_worker));
    s.failure.rethrow();

    const measurement& m = r.m;
    const double n = m.queries > 0 ? static_cast<double>(m.queries) : 1.0;
    std::printf("RESULT mode=load threads=%zu clients=%zu queries=%ld seconds=%.3f qps=%.1f cpu_us=%.3f "
                "user_us=%.3f sys_us=%.3f vcsw=%.3f ivcsw=%.4f connect_ms=%.1f %s checksum=%lld\n",
                o.threads, o.clients, m.queries, m.wall_seconds,
                m.wall_seconds > 0 ? m.queries / m.wall_seconds : 0.0,
                (m.user_seconds + m.sys_seconds) * 1e6 / n, m.user_seconds * 1e6 / n, m.sys_seconds * 1e6 / n,
                m.voluntary_switches / n, m.involuntary_switches / n, r.connect_seconds * 1e3,
                pool_counters(r.stats).c_str(), static_cast<long long>(r.checksum));
    std::fflush(stdout);
    if (r.stats.created != o.clients || r.stats.timeouts != 0 || r.stats.connect_failures != 0)
        fail("the pool did not behave as configured: " + pool_counters(r.stats));
    return 0;
}

// ---- pgbench as a child process --------------------------------------------------------------

int run_pgbench(const options& o)
{
    const std::vector<std::string> args = {o.pgbench,
                                           "-n",
                                           "-S",
                                           "-M",
                                           "prepared",
                                           "-c",
                                           std::to_string(o.clients),
                                           "-j",
                                           std::to_string(o.threads)};
    // -T takes whole seconds. One query per transaction with -S.
    const long seconds = std::max(1L, std::lround(o.seconds));
    const pgbench_measurement m = measure_pgbench(args, seconds, o.conninfo, "pool_bench");
    std::printf("RESULT mode=pgbench threads=%zu clients=%zu queries=%.0f seconds=%.3f qps=%.1f cpu_us=%.3f "
                "user_us=%.3f sys_us=%.3f cpu_raw_us=%.3f setup_cpu_ms=%.2f\n",
                o.threads, o.clients, m.transactions, m.seconds, m.tps, m.cpu_us, m.user_us, m.sys_us,
                m.cpu_raw_us, m.setup_cpu_ms);
    std::fflush(stdout);
    return 0;
}

// ---- overhead: acquire+release of an idle connection, no I/O ------------------------------------

struct overhead_result {
    std::vector<double> batch_ns; // ns per cycle, one per batch
    std::uint64_t pings = 0;
    std::uint64_t acquires = 0;
};

/// `{ auto l = co_await pool.acquire(); }` in a loop, after the pool's one connection is open.
asio::awaitable<void> acquire_release_loop(pgcoro::pool& pool, const options& o, overhead_result& r)
{
    {
        pgcoro::lease first = co_await pool.acquire(); // connects
    }
    const long batch = o.iterations / o.batches;
    for (long i = 0; i < batch; ++i) { // warm-up: caches, branch predictors, frame recycling
        pgcoro::lease l = co_await pool.acquire();
    }
    for (int b = 0; b < o.batches; ++b) {
        const steady::time_point start = steady::now();
        for (long i = 0; i < batch; ++i) {
            pgcoro::lease l = co_await pool.acquire();
        }
        const double ns = std::chrono::duration<double, std::nano>(steady::now() - start).count();
        r.batch_ns.push_back(ns / static_cast<double>(batch));
    }
    const pgcoro::pool_stats stats = pool.stats();
    r.pings = stats.pings;
    r.acquires = stats.acquires;
    co_await pool.close();
}

overhead_result measure_acquire_release(const options& o, bool pre_ping)
{
    asio::io_context io(1);
    pgcoro::pool_options po = pool_options_for(o, 1);
    po.pre_ping = pre_ping;
    pgcoro::pool pool(io.get_executor(), std::move(po));
    overhead_result r;
    run_to_completion(io, 1, acquire_release_loop(pool, o, r));
    return r;
}

/// The floor: co_await of an awaitable coroutine that returns at once.
[[gnu::noinline]] asio::awaitable<int> empty_coroutine(int value)
{
    co_return value;
}

asio::awaitable<void> empty_loop(const options& o, std::vector<double>& batch_ns, long& sink)
{
    const long batch = o.iterations / o.batches;
    for (int b = -1; b < o.batches; ++b) { // batch -1: warm-up
        const steady::time_point start = steady::now();
        for (long i = 0; i < batch; ++i) {
            const int value = co_await empty_coroutine(static_cast<int>(i));
            sink += value;
        }
        const double ns = std::chrono::duration<double, std::nano>(steady::now() - start).count();
        if (b >= 0)
            batch_ns.push_back(ns / static_cast<double>(batch));
    }
}

int run_overhead(const options& o)
{
    overhead_result plain = measure_acquire_release(o, false);
    overhead_result pinged = measure_acquire_release(o, true);
    std::vector<double> empty_ns;
    long sink = 0;
    {
        asio::io_context io(1);
        run_to_completion(io, 1, empty_loop(o, empty_ns, sink));
    }
    const long batch = o.iterations / o.batches;
    std::printf(
        "RESULT mode=overhead iterations=%ld batches=%d acquire_release_ns=%.1f "
        "acquire_release_min_ns=%.1f acquire_release_max_ns=%.1f pre_ping_ns=%.1f pre_ping_pings=%llu "
        "empty_coroutine_ns=%.1f acquires=%llu sink=%ld\n",
        batch * o.batches, o.batches, median(plain.batch_ns),
        *std::min_element(plain.batch_ns.begin(), plain.batch_ns.end()),
        *std::max_element(plain.batch_ns.begin(), plain.batch_ns.end()), median(pinged.batch_ns),
        static_cast<unsigned long long>(pinged.pings), median(empty_ns),
        static_cast<unsigned long long>(plain.acquires), sink % 10);
    std::fflush(stdout);
    return 0;
}

// ---- memory -------------------------------------------------------------------------------------

/// Resident set of this process in KiB. smaps_rollup walks the page tables: exact, unlike
/// VmRSS, which the kernel may update lazily per thread.
long rss_kib()
{
    std::ifstream in("/proc/self/smaps_rollup");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("Rss:", 0) == 0)
            return std::strtol(line.c_str() + 4, nullptr, 10);
    std::ifstream status("/proc/self/status");
    while (std::getline(status, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::strtol(line.c_str() + 6, nullptr, 10);
    fail("cannot read the RSS from /proc/self");
}

/// Bytes handed out by malloc and not freed (every arena, mmap'd blocks included).
long long heap_in_use()
{
    struct mallinfo2 mi = mallinfo2();
    return static_cast<long long>(mi.uordblks + mi.hblkhd);
}

struct memory_state {
    memory_state(const options& opts, pgcoro::pool& p) : o(opts), pool(p) {}

    const options& o;
    pgcoro::pool& pool;
    // Phase (a): single-threaded, so plain counters.
    std::size_t holding = 0;
    std::size_t queried = 0;
    std::size_t released = 0;
    int step = 0; // 0: hold; 1: run one query; 2: release
    // Phase (b).
    long issued = 0;
    long completed = 0;
    std::size_t workers_done = 0;
    long rss_sampled_kib = 0;
    long long heap_sampled = 0;
    std::vector<long> rss_trace;
    std::int64_t checksum = 0;
    failure_flag failure;
};

asio::awaitable<void> wait_for(asio::steady_timer& timer, const std::size_t& counter, std::size_t target,
                               const failure_flag& failure)
{
    while (counter < target && !failure.failed())
        co_await pause(timer, 1ms);
    if (failure.failed())
        failure.rethrow();
}

asio::awaitable<void> holder(memory_state& s, std::size_t index)
{
    try {
        auto executor = co_await asio::this_coro::executor;
        asio::steady_timer timer(executor);
        pgcoro::lease db = co_await s.pool.acquire();
        ++s.holding;
        while (s.step < 1 && !s.failure.failed())
            co_await pause(timer, 1ms);
        const std::int32_t aid =
            static_cast<std::int32_t>(1 + index % static_cast<std::size_t>(s.o.accounts));
        const std::int32_t balance = co_await db->scalar<std::int32_t>(point_select_sql, aid);
        s.checksum += aid + balance;
        ++s.queried;
        while (s.step < 2 && !s.failure.failed())
            co_await pause(timer, 1ms);
    } catch (...) {
        s.failure.set(std::current_exception());
    }
    ++s.released;
}

asio::awaitable<void> query_worker(memory_state& s, std::size_t index)
{
    try {
        aid_sequence aids(s.o.seed + index, s.o.accounts);
        while (s.issued < s.o.queries && !s.failure.failed()) {
            ++s.issued;
            const std::int32_t aid = aids.next();
            pgcoro::lease db = co_await s.pool.acquire();
            const std::int32_t balance = co_await db->scalar<std::int32_t>(point_select_sql, aid);
            s.checksum += aid + balance;
            if (++s.completed % s.o.sample_every == 0) {
                s.rss_trace.push_back(rss_kib());
                if (s.completed == s.o.sample_every) {
                    s.rss_sampled_kib = s.rss_trace.back();
                    s.heap_sampled = heap_in_use();
                }
            }
        }
    } catch (...) {
        s.failure.set(std::current_exception());
    }
    ++s.workers_done;
}

struct memory_result {
    long rss_start = 0;     // one warm connection
    long rss_connected = 0; // K connections, each held
    long rss_idle = 0;      // each ran one query and went back to the pool
    long rss_after_sample = 0;
    long rss_end = 0;
    long long heap_after_sample = 0;
    long long heap_end = 0;
    std::vector<long> rss_trace;
    pgcoro::pool_stats stats;
};

asio::awaitable<void> memory_controller(memory_state& s, memory_result& r)
{
    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    const std::size_t k = s.o.idle_connections;
    {
        // One connection first: libpq, OpenSSL and the statement cache set themselves up
        // once per process, which is not a per-connection cost.
        pgcoro::lease db = co_await s.pool.acquire();
        const std::int32_t one = 1;
        const std::int32_t balance = co_await db->scalar<std::int32_t>(point_select_sql, one);
        s.checksum += balance;
    }
    r.rss_start = rss_kib();

    // (a) K connections (1 idle + K - 1 new), acquired at once.
    for (std::size_t i = 0; i < k; ++i)
        asio::co_spawn(executor, holder(s, i), asio::detached);
    co_await wait_for(timer, s.holding, k, s.failure);
    r.rss_connected = rss_kib();
    s.step = 1;
    co_await wait_for(timer, s.queried, k, s.failure);
    s.step = 2;
    co_await wait_for(timer, s.released, k, s.failure);
    r.rss_idle = rss_kib();

    // (b) Q pooled queries from W coroutines.
    for (std::size_t i = 0; i < s.o.workers; ++i)
        asio::co_spawn(executor, query_worker(s, i), asio::detached);
    co_await wait_for(timer, s.workers_done, s.o.workers, s.failure);
    r.rss_end = rss_kib();
    r.heap_end = heap_in_use();
    r.rss_after_sample = s.rss_sampled_kib;
    r.heap_after_sample = s.heap_sampled;
    r.rss_trace = s.rss_trace;
    r.stats = s.pool.stats();
    co_await s.pool.close();
}

int run_memory(const options& o)
{
    memory_result r;
    std::int64_t checksum = 0;
    {
        asio::io_context io(1);
        pgcoro::pool pool(io.get_executor(), pool_options_for(o, o.idle_connections));
        memory_state s(o, pool);
        run_to_completion(io, 1, memory_controller(s, r));
        s.failure.rethrow();
        checksum = s.checksum;
    }
    const double per_conn = static_cast<double>(o.idle_connections - 1);
    std::string trace;
    for (long v : r.rss_trace) {
        if (!trace.empty())
            trace += ',';
        trace += std::to_string(v);
    }
    std::printf(
        "RESULT mode=memory idle_connections=%zu rss_start_kib=%ld connected_kib_per_conn=%.1f "
        "idle_kib_per_conn=%.1f queries=%ld workers=%zu sample_every=%ld rss_after_sample_kib=%ld "
        "rss_end_kib=%ld rss_growth_kib=%ld heap_growth_bytes=%lld %s checksum=%lld rss_trace_kib=%s\n",
        o.idle_connections, r.rss_start, (r.rss_connected - r.rss_start) / per_conn,
        (r.rss_idle - r.rss_start) / per_conn, o.queries, o.workers, o.sample_every, r.rss_after_sample,
        r.rss_end, r.rss_end - r.rss_after_sample, r.heap_end - r.heap_after_sample,
        pool_counters(r.stats).c_str(), static_cast<long long>(checksum), trace.c_str());
    std::fflush(stdout);
    if (r.stats.created != o.idle_connections || r.stats.timeouts != 0)
        fail("the pool did not behave as configured: " + pool_counters(r.stats));
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        options o = parse_options(argc, argv);
        if (o.mode == "load")
            return run_load(o);
        if (o.mode == "pgbench")
            return run_pgbench(o);
        if (o.mode == "overhead")
            return run_overhead(o);
        return run_memory(o);
    } catch (const std::exception& e) {
        std::cerr << "pool_bench: " << e.what() << "\n";
        return 1;
    }
}
