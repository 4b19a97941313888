// Transaction benchmark: pgbench's built-in simple-update transaction (BEGIN; UPDATE
// pgbench_accounts; SELECT abalance; INSERT INTO pgbench_history; END) through pgcoro's
// sessions, through a hand-written libpq loop and through pgbench itself, plus the session
// layer's own overhead. bench/run_transactions drives it; each mode prints one line.
//
//   transaction_bench --mode session|transaction|lease|libpq --threads T --clients C [--seconds S]
//                     [--warmup-seconds W] [--scale N] [--seed N] [--conninfo DSN]
//   transaction_bench --mode pgbench --threads T --clients C [--seconds S] [--pgbench PATH]
//                     [--conninfo DSN]
//   transaction_bench --mode overhead [--iterations N] [--batches B] [--io-seconds S] [--scale N]
//                     [--conninfo DSN]
//
// The transaction (`pgbench --show-script=simple-update`), with pgbench's distribution:
// aid uniform in 1..100000·scale, bid in 1..scale, tid in 1..10·scale, delta in -5000..5000,
// drawn per transaction from a fixed-seed xorshift sequence per client:
//   BEGIN
//   UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2          (delta, aid)
//   SELECT abalance FROM pgbench_accounts WHERE aid = $1                         (aid)
//   INSERT INTO pgbench_history (tid, bid, aid, delta, mtime)
//          VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)                            (tid, bid, aid, delta)
//   END (pgcoro's commit() sends COMMIT, its synonym)
// The three statements are the text pgbench -M prepared prepares (it numbers the variables
// in order of appearance), with int4 parameters.
//
// session: a pool with pool_size = C, max_overflow = 0, max_connecting = C and otherwise
//   default options (pre_ping on), on an io_context with concurrency hint T run by T threads;
//   C coroutines each loop { auto s = co_await pool.session(); auto tx = co_await s.begin();
//   co_await tx.execute(UPDATE); co_await tx.scalar<std::int32_t>(SELECT); co_await
//   tx.execute(INSERT); co_await tx.commit(); }: a session per transaction, as a web handler
//   would. All C connections are opened first, then a warm-up that is not counted (it
//   prepares the statements on each connection), then the measured part. cpu_us is the
//   process's user + system time (getrusage RUSAGE_SELF: every thread) over the measured
//   part, per transaction. The line carries the pool's counters: created must equal C.
//
// transaction: the same, with the body through session.transaction(unit) (commit when the
//   unit returns; no retries: max_attempts 1, the default).
//
// lease: the baseline without the session layer: { auto l = co_await pool.acquire();
//   co_await l->execute_script("BEGIN"); UPDATE; SELECT; INSERT through l->;
//   co_await l->execute_script("COMMIT"); }, the statements a session sends, without its
//   scope bookkeeping. The difference from session is the whole session layer, per
//   transaction, in situ.
//
// libpq: C threads, each with its own blocking libpq connection, the five statements
//   prepared once (PQprepare, as pgbench -M prepared prepares BEGIN and END too; int4
//   parameter types given, as pgcoro's cache does) and run with PQexecPrepared, binary
//   parameters and a binary result for the SELECT: the plain synchronous loop one would
//   write by hand. Independent of T. Warm-up and measurement as for pgcoro.
//
// pgbench: `pgbench -n -b simple-update -M prepared -c C -j T`, run twice as a child (-t 1
//   and -T S); cpu_us = (cpu(-T) - cpu(-t 1)) / (transactions(-T) - C): connecting is billed
//   to no one (cpu_raw_us is the uncorrected figure). tps is pgbench's own "without initial
//   connection time".
//
// overhead: one pooled connection (pre_ping off), 1 thread, the median over B batches each:
//   (a) ns per { auto l = co_await pool.acquire(); } and per { auto s = co_await
//       pool.session(); }, no I/O, in batches whose order alternates;
//   (b) the statement fast path without I/O: ns to build and drop the awaitable of
//       `SELECT abalance ... WHERE aid = $1` through the connection (lease->scalar), through
//       the session (session.scalar) and through an open transaction (tx.scalar), never
//       awaited: everything a statement costs before its first send, so the differences are
//       what the session's checks add per statement; batches rotate between the paths;
//   (c) the same point select awaited, at C = 1, all three paths on the same connection:
//       batches of 200 rotating between the paths for --io-seconds (the transaction path's
//       BEGIN and COMMIT outside the timing); wall and CPU ns per query (medians over
//       batches) and the median of the per-round differences session - connection and
//       transaction - connection, with their interquartile range (the noise).
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

#include <libpq-fe.h>

#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;

namespace {

using namespace bench;
using namespace std::chrono_literals;

constexpr std::string_view update_sql = "UPDATE pgbench_accounts SET abalance = abalance + $1 WHERE aid = $2";
constexpr std::string_view select_sql = "SELECT abalance FROM pgbench_accounts WHERE aid = $1";
constexpr std::string_view insert_sql =
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES ($1, $2, $3, $4, CURRENT_TIMESTAMP)";

constexpr unsigned int4_oid = 23; // pg_type.dat

// ---- options ----------------------------------------------------------------------------

struct options {
    std::string mode; // session | transaction | lease | libpq | pgbench | overhead
    std::string conninfo = conninfo_from_environment();
    std::size_t threads = 1;
    std::size_t clients = 8;
    double seconds = 5;
    double warmup_seconds = 1;
    std::int32_t scale = 10;
    std::uint64_t seed = 0x5eed'7a'c710ULL;
    std::string pgbench = "/usr/lib/postgresql/15/bin/pgbench";
    long iterations = 2'000'000; // overhead (a), (b): cycles per path over all batches
    int batches = 10;
    double io_seconds = 6; // overhead (c)
};

void usage()
{
    std::cerr << "usage: transaction_bench --mode session|transaction|lease|libpq --threads T --clients C\n"
                 "                         [--seconds S] [--warmup-seconds W] [--scale N] [--seed N]\n"
                 "                         [--conninfo DSN]\n"
                 "       transaction_bench --mode pgbench --threads T --clients C [--seconds S]\n"
                 "                         [--pgbench PATH] [--conninfo DSN]\n"
                 "       transaction_bench --mode overhead [--iterations N] [--batches B] [--io-seconds S]\n"
                 "                         [--scale N] [--conninfo DSN]\n"
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
        else if (flag == "--scale")
            o.scale = parse_number<std::int32_t>(flag, value);
        else if (flag == "--seed")
            o.seed = parse_number<std::uint64_t>(flag, value);
        else if (flag == "--pgbench")
            o.pgbench = value;
        else if (flag == "--iterations")
            o.iterations = parse_number<long>(flag, value);
        else if (flag == "--batches")
            o.batches = parse_number<int>(flag, value);
        else if (flag == "--io-seconds")
            o.io_seconds = parse_number<double>(flag, value);
        else
            fail("unknown option " + std::string(flag));
    }
    if (o.mode != "session" && o.mode != "transaction" && o.mode != "lease" && o.mode != "libpq" &&
        o.mode != "pgbench" && o.mode != "overhead")
        fail("--mode must be session, transaction, lease, libpq, pgbench or overhead");
    if (o.conninfo.empty())
        fail("no --conninfo and no PGCORO_TEST_DSN");
    if (o.threads < 1 || o.clients < 1)
        fail("--threads and --clients must be at least 1");
    if (o.seconds <= 0 || o.warmup_seconds < 0 || o.io_seconds <= 0)
        fail("--seconds and --io-seconds must be positive and --warmup-seconds not negative");
    if (o.scale < 1 || o.scale > 20'000)
        fail("--scale must be within 1..20000");
    if (o.batches < 1 || o.iterations < o.batches)
        fail("--batches must be at least 1 and --iterations at least --batches");
    return o;
}

// ---- the transaction's parameters ---------------------------------------------------------

/// One transaction's variables, as pgbench's simple-update script draws them.
struct simple_update {
    std::int32_t aid = 0;
    std::int32_t bid = 0;
    std::int32_t tid = 0;
    std::int32_t delta = 0;
};

class simple_update_source {
public:
    simple_update_source(std::uint64_t seed, std::int32_t scale) : random_(seed), scale_(scale) {}
    simple_update next() noexcept
    {
        simple_update p;
        p.aid = random_.between(1, 100'000 * scale_);
        p.bid = random_.between(1, scale_);
        p.tid = random_.between(1, 10 * scale_);
        p.delta = random_.between(-5000, 5000);
        return p;
    }

private:
    random_source random_;
    std::int32_t scale_;
};

// ---- pgcoro: a session per transaction ------------------------------------------------------

pgcoro::pool_options pool_options_for(const options& o, std::size_t connections, bool pre_ping)
{
    pgcoro::pool_options po;
    po.conninfo = o.conninfo;
    po.pool_size = connections;
    po.max_overflow = 0;
    po.max_connecting = connections; // all opened at once: set-up stays short (not measured)
    po.pre_ping = pre_ping;
    return po;
}

/// The body of the transaction: UPDATE, SELECT, INSERT through a transaction scope (or,
/// for the lease mode, the bare connection); returns the balance read.
template <class Queryable> asio::awaitable<std::int32_t> simple_update_body(Queryable& tx, simple_update p)
{
    const std::uint64_t updated = co_await tx.execute(update_sql, p.delta, p.aid);
    if (updated != 1)
        fail("the UPDATE changed " + std::to_string(updated) + " rows for aid " + std::to_string(p.aid));
    const std::int32_t balance = co_await tx.template scalar<std::int32_t>(select_sql, p.aid);
    const std::uint64_t inserted = co_await tx.execute(insert_sql, p.tid, p.bid, p.aid, p.delta);
    if (inserted != 1)
        fail("the INSERT inserted " + std::to_string(inserted) + " rows");
    co_return balance;
}

/// The unit of session.transaction(): a plain callable returning the coroutine above (no
/// lambda coroutine, so no closure whose lifetime matters).
struct simple_update_unit {
    simple_update p;
    asio::awaitable<std::int32_t> operator()(pgcoro::transaction& tx) const
    {
        return simple_update_body(tx, p);
    }
};

using load_state = bench::load_state<options>;

asio::awaitable<void> transaction_worker(load_state& s, std::size_t index, std::int64_t& checksum)
{
    try {
        auto executor = co_await asio::this_coro::executor;
        asio::steady_timer timer(executor);
        simple_update_source source(s.o.seed + index, s.o.scale);
        worker_counter& counter = s.counters[index];
        const bool through_unit = s.o.mode == "transaction";
        const bool through_lease = s.o.mode == "lease";
        const pgcoro::transaction_options tx_options;
        const pgcoro::retry_policy policy; // one attempt
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
            const simple_update p = source.next();
            std::int32_t balance = 0;
            if (through_lease) {
                // The baseline without the session layer: BEGIN and COMMIT as scripts on
                // the leased connection, as the session sends them.
                pgcoro::lease l = co_await s.pool.acquire();
                pgcoro::connection& c = *l;
                co_await c.execute_script("BEGIN");
                balance = co_await simple_update_body(c, p);
                co_await c.execute_script("COMMIT");
            } else if (through_unit) {
                pgcoro::session db = co_await s.pool.session();
                const simple_update_unit unit{p};
                balance = co_await db.transaction(unit, tx_options, policy);
            } else {
                pgcoro::session db = co_await s.pool.session();
                pgcoro::transaction tx = co_await db.begin();
                balance = co_await simple_update_body(tx, p);
                co_await tx.commit();
            }
            sum += balance;
            counter.queries.store(++n, std::memory_order_relaxed);
        }
        checksum = sum;
    } catch (...) {
        s.failure.set(std::current_exception());
        s.stop.store(true);
    }
    s.finished.fetch_add(1);
}

void print_load_line(const options& o, const measurement& m, double connect_seconds, const std::string& extra,
                     std::int64_t checksum)
{
    const double n = m.queries > 0 ? static_cast<double>(m.queries) : 1.0;
    std::printf("RESULT mode=%s threads=%zu clients=%zu transactions=%ld seconds=%.3f tps=%.1f cpu_us=%.3f "
                "user_us=%.3f sys_us=%.3f vcsw=%.3f ivcsw=%.4f connect_ms=%.1f %s checksum=%lld\n",
                o.mode.c_str(), o.threads, o.clients, m.queries, m.wall_seconds,
                m.wall_seconds > 0 ? m.queries / m.wall_seconds : 0.0,
                (m.user_seconds + m.sys_seconds) * 1e6 / n, m.user_seconds * 1e6 / n, m.sys_seconds * 1e6 / n,
                m.voluntary_switches / n, m.involuntary_switches / n, connect_seconds * 1e3, extra.c_str(),
                static_cast<long long>(checksum));
    std::fflush(stdout);
}

int run_pgcoro(const options& o)
{
    // Constructed with the thread count as its concurrency hint, as Beast's examples do.
    asio::io_context io(static_cast<int>(o.threads));
    pgcoro::pool pool(io.get_executor(), pool_options_for(o, o.clients, true));

    load_state s(o, pool);
    load_result r;
    run_to_completion(io, o.threads, load_controller(s, r, transaction_worker));
    s.failure.rethrow();

    print_load_line(o, r.m, r.connect_seconds, pool_counters(r.stats), r.checksum);
    if (r.stats.created != o.clients || r.stats.timeouts != 0 || r.stats.connect_failures != 0)
        fail("the pool did not behave as configured: " + pool_counters(r.stats));
    return 0;
}

// ---- raw libpq: C threads, one blocking connection each ----------------------------------------

/// Network byte order int4 parameters: values, lengths and formats for PQexecPrepared.
template <std::size_t N> struct int4_parameters {
    std::uint32_t wire[N];
    const char* values[N];
    int lengths[N];
    int formats[N];
    explicit int4_parameters(const std::int32_t (&v)[N])
    {
        for (std::size_t i = 0; i < N; ++i) {
            wire[i] = htonl(static_cast<std::uint32_t>(v[i]));
            values[i] = reinterpret_cast<const char*>(&wire[i]);
            lengths[i] = sizeof(std::uint32_t);
            formats[i] = 1;
        }
    }
};

class libpq_client {
public:
    explicit libpq_client(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str()))
    {
        if (!conn_ || PQstatus(conn_) != CONNECTION_OK) {
            std::string message = conn_ ? PQerrorMessage(conn_) : "out of memory";
            PQfinish(conn_);
            fail("libpq: connect failed: " + message);
        }
        const Oid int4[4] = {int4_oid, int4_oid, int4_oid, int4_oid};
        prepare("begin", "BEGIN", 0, nullptr);
        prepare("update", std::string(update_sql), 2, int4);
        prepare("select", std::string(select_sql), 1, int4);
        prepare("insert", std::string(insert_sql), 4, int4);
        prepare("end", "END", 0, nullptr);
    }
    ~libpq_client() { PQfinish(conn_); }
    libpq_client(const libpq_client&) = delete;
    libpq_client& operator=(const libpq_client&) = delete;

    /// The transaction; returns the balance read.
    std::int32_t run(const simple_update& p)
    {
        command("begin", 0, nullptr, nullptr, nullptr, nullptr);
        const std::int32_t update_values[2] = {p.delta, p.aid};
        int4_parameters<2> update(update_values);
        command("update", 2, update.values, update.lengths, update.formats, "1");
        const std::int32_t select_values[1] = {p.aid};
        int4_parameters<1> select(select_values);
        PGresult* res = PQexecPrepared(conn_, "select", 1, select.values, select.lengths, select.formats, 1);
        // The checks pgcoro makes before decoding: one row, one non-NULL int4.
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) != 1 ||
            PQftype(res, 0) != int4_oid || PQgetisnull(res, 0, 0) || PQgetlength(res, 0, 0) != 4) {
            std::string message = PQresultErrorMessage(res);
            PQclear(res);
            fail("libpq: unexpected SELECT result for aid " + std::to_string(p.aid) + ": " + message);
        }
        std::uint32_t raw;
        std::memcpy(&raw, PQgetvalue(res, 0, 0), sizeof raw);
        PQclear(res);
        const std::int32_t insert_values[4] = {p.tid, p.bid, p.aid, p.delta};
        int4_parameters<4> insert(insert_values);
        command("insert", 4, insert.values, insert.lengths, insert.formats, "1");
        command("end", 0, nullptr, nullptr, nullptr, nullptr);
        return static_cast<std::int32_t>(ntohl(raw));
    }

private:
    void prepare(const char* name, const std::string& sql, int n, const Oid* types)
    {
        PGresult* res = PQprepare(conn_, name, sql.c_str(), n, types);
        const bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        std::string message = ok ? std::string() : PQresultErrorMessage(res);
        PQclear(res);
        if (!ok)
            fail(std::string("libpq: preparing ") + name + " failed: " + message);
    }

    /// A statement without rows; `rows`, when given, is the command tag's count it must have.
    void command(const char* name, int n, const char* const* values, const int* lengths, const int* formats,
                 const char* rows)
    {
        PGresult* res = PQexecPrepared(conn_, name, n, values, lengths, formats, 1);
        const bool ok =
            PQresultStatus(res) == PGRES_COMMAND_OK && (!rows || std::strcmp(PQcmdTuples(res), rows) == 0);
        if (!ok) {
            std::string message = PQresultErrorMessage(res);
            message += " (rows: ";
            message += PQcmdTuples(res);
            message += ")";
            PQclear(res);
            fail(std::string("libpq: ") + name + " failed: " + message);
        }
        PQclear(res);
    }

    PGconn* conn_;
};

int run_libpq(const options& o)
{
    const std::size_t clients = o.clients;
    auto counters = std::make_unique<worker_counter[]>(clients);
    std::vector<std::int64_t> checksums(clients);
    std::atomic<std::size_t> ready{0};
    std::atomic<bool> go{false};
    std::atomic<bool> stop{false};
    failure_flag failure;

    std::vector<std::thread> threads;
    threads.reserve(clients);
    const steady::time_point started = steady::now();
    for (std::size_t i = 0; i < clients; ++i)
        threads.emplace_back([&, i] {
            try {
                libpq_client client(o.conninfo);
                simple_update_source source(o.seed + i, o.scale);
                ready.fetch_add(1);
                while (!go.load(std::memory_order_acquire) && !failure.failed())
                    std::this_thread::sleep_for(1ms);
                std::int64_t sum = 0;
                long n = 0;
                while (!stop.load(std::memory_order_relaxed)) {
                    sum += client.run(source.next());
                    counters[i].queries.store(++n, std::memory_order_relaxed);
                }
                checksums[i] = sum;
            } catch (...) {
                failure.set(std::current_exception());
                stop.store(true);
            }
        });
    auto total = [&] {
        long sum = 0;
        for (std::size_t i = 0; i < clients; ++i)
            sum += counters[i].queries.load(std::memory_order_relaxed);
        return sum;
    };
    while (ready.load() < clients && !failure.failed())
        std::this_thread::sleep_for(1ms);
    const double connect_seconds = std::chrono::duration<double>(steady::now() - started).count();
    go.store(true, std::memory_order_release);
    measurement m;
    if (!failure.failed()) {
        std::this_thread::sleep_for(to_duration(o.warmup_seconds));
        snapshot begin = snapshot::take(total());
        std::this_thread::sleep_for(to_duration(o.seconds));
        snapshot end = snapshot::take(total());
        m = difference(begin, end);
    }
    stop.store(true);
    for (std::thread& t : threads)
        t.join();
    failure.rethrow();
    std::int64_t checksum = 0;
    for (std::int64_t c : checksums)
        checksum += c;
    print_load_line(o, m, connect_seconds, "connections=" + std::to_string(clients), checksum);
    return 0;
}

// ---- pgbench ------------------------------------------------------------------------------------

int run_pgbench(const options& o)
{
    const std::vector<std::string> args = {o.pgbench, "-n",
                                           "-b",      "simple-update",
                                           "-M",      "prepared",
                                           "-c",      std::to_string(o.clients),
                                           "-j",      std::to_string(o.threads)};
    const long seconds = std::max(1L, std::lround(o.seconds)); // -T takes whole seconds
    const pgbench_measurement m = measure_pgbench(args, seconds, o.conninfo, "transaction_bench");
    std::printf("RESULT mode=pgbench threads=%zu clients=%zu transactions=%.0f seconds=%.3f tps=%.1f "
                "cpu_us=%.3f user_us=%.3f sys_us=%.3f cpu_raw_us=%.3f setup_cpu_ms=%.2f\n",
                o.threads, o.clients, m.transactions, m.seconds, m.tps, m.cpu_us, m.user_us, m.sys_us,
                m.cpu_raw_us, m.setup_cpu_ms);
    std::fflush(stdout);
    return 0;
}

// ---- overhead ------------------------------------------------------------------------------------

struct overhead_result {
    std::vector<double> acquire_ns, session_ns;                       // (a), per batch
    std::vector<double> build_conn_ns, build_session_ns, build_tx_ns; // (b), per batch
    // (c), per round: wall and CPU ns per query of each path
    std::vector<double> io_conn_ns, io_session_ns, io_tx_ns;
    std::vector<double> io_conn_cpu_ns, io_session_cpu_ns, io_tx_cpu_ns;
    std::vector<double> io_session_diff_ns, io_tx_diff_ns;
    long io_queries = 0; // per path
    std::int64_t sink = 0;
};

double ns_per(steady::time_point start, long n)
{
    return std::chrono::duration<double, std::nano>(steady::now() - start).count() / static_cast<double>(n);
}

double cpu_seconds_now()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return seconds_of(u.ru_utime) + seconds_of(u.ru_stime);
}

/// (a): acquire+release and session+destruction of the pool's one idle connection.
asio::awaitable<void> cycle_batches(pgcoro::pool& pool, const options& o, overhead_result& r)
{
    const long batch = o.iterations / o.batches;
    for (int b = -1; b < o.batches; ++b) { // batch -1: warm-up (caches, frame recycling)
        double acquire_ns = 0;
        double session_ns = 0;
        for (int k = 0; k < 2; ++k) { // the order alternates from batch to batch
            const steady::time_point start = steady::now();
            if ((b + k) % 2 == 0) {
                for (long i = 0; i < batch; ++i) {
                    pgcoro::lease l = co_await pool.acquire();
                }
                acquire_ns = ns_per(start, batch);
            } else {
                for (long i = 0; i < batch; ++i) {
                    pgcoro::session s = co_await pool.session();
                }
                session_ns = ns_per(start, batch);
            }
        }
        if (b >= 0) {
            r.acquire_ns.push_back(acquire_ns);
            r.session_ns.push_back(session_ns);
        }
    }
}

/// (b): the awaitable of a point select built and dropped, never awaited: `path` 0 through
/// the connection, 1 the session, 2 the transaction `tx` (open on the session). Returns ns per
/// awaitable.
double build_batch(int path, pgcoro::connection& conn, pgcoro::session& s, pgcoro::transaction& tx,
                   simple_update_source& source, long batch)
{
    const steady::time_point start = steady::now();
    for (long i = 0; i < batch; ++i) {
        const std::int32_t aid = source.next().aid;
        if (path == 0) {
            asio::awaitable<std::int32_t> op = conn.scalar<std::int32_t>(select_sql, aid);
        } else if (path == 1) {
            asio::awaitable<std::int32_t> op = s.scalar<std::int32_t>(select_sql, aid);
        } else {
            asio::awaitable<std::int32_t> op = tx.scalar<std::int32_t>(select_sql, aid);
        }
    }
    return ns_per(start, batch);
}

/// (c): one batch of awaited point selects through `q` (the connection, the session or the
/// transaction); adds wall and CPU ns per query to the vectors.
template <class Queryable>
asio::awaitable<void> io_batch(Queryable& q, simple_update_source& source, long batch, std::int64_t& sink,
                               std::vector<double>& wall, std::vector<double>& cpu)
{
    const double cpu_start = cpu_seconds_now();
    const steady::time_point start = steady::now();
    for (long i = 0; i < batch; ++i) {
        const std::int32_t aid = source.next().aid;
        const std::int32_t balance = co_await q.template scalar<std::int32_t>(select_sql, aid);
        sink += balance;
    }
    wall.push_back(ns_per(start, batch));
    cpu.push_back((cpu_seconds_now() - cpu_start) * 1e9 / static_cast<double>(batch));
}

/// (c) for the transaction path: BEGIN, the batch, COMMIT, the two outside the timing.
asio::awaitable<void> io_batch_in_transaction(pgcoro::session& s, simple_update_source& source, long batch,
                                              std::int64_t& sink, std::vector<double>& wall,
                                              std::vector<double>& cpu)
{
    pgcoro::transaction tx = co_await s.begin();
    co_await io_batch(tx, source, batch, sink, wall, cpu);
    co_await tx.commit();
}

asio::awaitable<void> overhead_body(pgcoro::pool& pool, const options& o, overhead_result& r)
{
    {
        pgcoro::lease first = co_await pool.acquire(); // connects
    }
    co_await cycle_batches(pool, o, r);

    // (b) and (c) run all three paths on the same connection: each connection's server
    // backend lands on its own CPU, which changes a round trip's cost far more than what
    // is measured here.
    pgcoro::session s = co_await pool.session();
    pgcoro::connection& conn = s.get_connection();
    const std::int32_t one = 1;
    const std::int32_t first = co_await conn.scalar<std::int32_t>(select_sql, one); // prepares it
    r.sink += first;

    simple_update_source source(o.seed, o.scale);
    const long batch = o.iterations / o.batches;
    for (int b = -1; b < o.batches; ++b) { // batch -1: warm-up
        for (int k = 0; k < 3; ++k) {
            const int path = (b + 1 + k) % 3; // the order rotates
            double ns = 0;
            if (path == 2) {
                // The session refuses statements while its transaction is open.
                pgcoro::transaction tx = co_await s.begin();
                ns = build_batch(path, conn, s, tx, source, batch);
                co_await tx.commit();
            } else {
                pgcoro::transaction none;
                ns = build_batch(path, conn, s, none, source, batch);
            }
            if (b < 0)
                continue;
            if (path == 0)
                r.build_conn_ns.push_back(ns);
            else if (path == 1)
                r.build_session_ns.push_back(ns);
            else
                r.build_tx_ns.push_back(ns);
        }
    }

    constexpr long io_batch_size = 200;
    std::vector<double> unused;
    // Warm-up round, not counted.
    co_await io_batch(conn, source, io_batch_size, r.sink, unused, unused);
    co_await io_batch(s, source, io_batch_size, r.sink, unused, unused);
    co_await io_batch_in_transaction(s, source, io_batch_size, r.sink, unused, unused);
    const steady::time_point deadline = steady::now() + to_duration(o.io_seconds);
    for (int round = 0; steady::now() < deadline; ++round) {
        // The order rotates, so no path always runs first in its round.
        for (int k = 0; k < 3; ++k) {
            switch ((round + k) % 3) {
            case 0:
                co_await io_batch(conn, source, io_batch_size, r.sink, r.io_conn_ns, r.io_conn_cpu_ns);
                break;
            case 1:
                co_await io_batch(s, source, io_batch_size, r.sink, r.io_session_ns, r.io_session_cpu_ns);
                break;
            default:
                co_await io_batch_in_transaction(s, source, io_batch_size, r.sink, r.io_tx_ns,
                                                 r.io_tx_cpu_ns);
                break;
            }
        }
        r.io_session_diff_ns.push_back(r.io_session_ns.back() - r.io_conn_ns.back());
        r.io_tx_diff_ns.push_back(r.io_tx_ns.back() - r.io_conn_ns.back());
        r.io_queries += io_batch_size;
    }
    s.release();
    co_await pool.close();
}

double quantile(std::vector<double> v, double q)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    const double at = q * static_cast<double>(v.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(at);
    const std::size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (at - static_cast<double>(lo));
}

int run_overhead(const options& o)
{
    overhead_result r;
    {
        asio::io_context io(1);
        pgcoro::pool pool(io.get_executor(), pool_options_for(o, 1, false));
        run_to_completion(io, 1, overhead_body(pool, o, r));
    }
    const long batch = o.iterations / o.batches;
    std::printf(
        "RESULT mode=overhead iterations=%ld batches=%d acquire_release_ns=%.1f session_cycle_ns=%.1f "
        "session_cycle_min_ns=%.1f session_cycle_max_ns=%.1f build_connection_ns=%.1f "
        "build_session_ns=%.1f build_transaction_ns=%.1f io_queries=%ld io_rounds=%zu "
        "io_connection_ns=%.0f io_session_ns=%.0f io_transaction_ns=%.0f io_connection_cpu_ns=%.0f "
        "io_session_cpu_ns=%.0f io_transaction_cpu_ns=%.0f io_session_diff_ns=%.0f "
        "io_session_diff_p25_ns=%.0f io_session_diff_p75_ns=%.0f io_transaction_diff_ns=%.0f "
        "io_transaction_diff_p25_ns=%.0f io_transaction_diff_p75_ns=%.0f sink=%lld\n",
        batch * o.batches, o.batches, median(r.acquire_ns), median(r.session_ns),
        *std::min_element(r.session_ns.begin(), r.session_ns.end()),
        *std::max_element(r.session_ns.begin(), r.session_ns.end()), median(r.build_conn_ns),
        median(r.build_session_ns), median(r.build_tx_ns), r.io_queries, r.io_session_diff_ns.size(),
        median(r.io_conn_ns), median(r.io_session_ns), median(r.io_tx_ns), median(r.io_conn_cpu_ns),
        median(r.io_session_cpu_ns), median(r.io_tx_cpu_ns), median(r.io_session_diff_ns),
        quantile(r.io_session_diff_ns, 0.25), quantile(r.io_session_diff_ns, 0.75), median(r.io_tx_diff_ns),
        quantile(r.io_tx_diff_ns, 0.25), quantile(r.io_tx_diff_ns, 0.75),
        static_cast<long long>(r.sink % 10));
    std::fflush(stdout);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        options o = parse_options(argc, argv);
        if (o.mode == "session" || o.mode == "transaction" || o.mode == "lease")
            return run_pgcoro(o);
        if (o.mode == "libpq")
            return run_libpq(o);
        if (o.mode == "pgbench")
            return run_pgbench(o);
        return run_overhead(o);
    } catch (const std::exception& e) {
        std::cerr << "transaction_bench: " << e.what() << "\n";
        return 1;
    }
}
