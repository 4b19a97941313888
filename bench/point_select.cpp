// Point-select benchmark over one connection: pgcoro against a hand-written libpq loop, and
// a wrapper that runs another client (pgbench) as a child and measures it the same way.
//
//   point_select --driver pgcoro|libpq [--seconds N | --queries N] [--conninfo STR]
//   point_select --exec /usr/lib/postgresql/15/bin/pgbench -n -S -M prepared -c 1 -j 1 -T 5 DSN
//
// Every driver runs `SELECT abalance FROM pgbench_accounts WHERE aid=$1` with aid drawn
// from the same fixed-seed sequence, one query at a time, on one connection. After a
// warm-up that is not counted, it prints one line for bench/run to parse:
//
//   RESULT driver=libpq queries=... seconds=... qps=... cpu_us=... user_us=... sys_us=...
//          vcsw=... backend_pid=... client_cpus=... backend_cpus=... checksum=...
//
// checksum is the sum of every aid and balance, warm-up included: with --queries and
// --warmup-queries, libpq and pgcoro print the same value (the same work was done).
// cpu_us is the client's own CPU time (getrusage, user + system, every thread of the
// process) per query over the measured part only; vcsw is voluntary context switches per
// query. (bench/run pins the client and the server backend; see there.)

#include "bench_support.hpp"

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include <libpq-fe.h>

#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace asio = boost::asio;

namespace {

using namespace bench;

constexpr std::string_view point_select_sql = "SELECT abalance FROM pgbench_accounts WHERE aid=$1";
constexpr const char* libpq_statement_name = "point_select";
constexpr unsigned int4_oid = 23; // pg_type.dat; aid is int4, so the parameter is too

using steady = std::chrono::steady_clock;

// ---- options ----------------------------------------------------------------------------

struct options {
    std::string driver; // pgcoro | libpq
    double seconds = 5; // measured part, unless queries > 0
    long queries = 0;
    double warmup_seconds = 1; // not counted, unless warmup_queries > 0
    long warmup_queries = 0;
    std::string conninfo = conninfo_from_environment();
    std::uint64_t seed = 0x5eed'0f'a1d5ULL;
    std::int32_t accounts = 1'000'000; // pgbench scale 10
    std::vector<std::string> exec;     // --exec PROGRAM ARGS...
};

void usage()
{
    std::cerr << "usage: point_select --driver pgcoro|libpq [--seconds N | --queries N]\n"
                 "                    [--warmup-seconds N | --warmup-queries N] [--conninfo STR]\n"
                 "                    [--accounts N] [--seed N]\n"
                 "       point_select --exec PROGRAM ARGS...   (runs e.g. pgbench as a child, measures its "
                 "rusage)\n"
                 "conninfo defaults to $PGCORO_TEST_DSN.\n";
}

options parse_options(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--exec") {
            o.exec.assign(argv + i + 1, argv + argc);
            if (o.exec.empty())
                fail("--exec needs a program");
            return o;
        }
        if (flag == "--help" || flag == "-h") {
            usage();
            std::exit(0);
        }
        std::string_view value = option_value(argc, argv, i);
        if (flag == "--driver")
            o.driver = value;
        else if (flag == "--seconds")
            o.seconds = parse_number<double>(flag, value), o.queries = 0;
        else if (flag == "--queries")
            o.queries = parse_number<long>(flag, value), o.seconds = 0;
        else if (flag == "--warmup-seconds")
            o.warmup_seconds = parse_number<double>(flag, value), o.warmup_queries = 0;
        else if (flag == "--warmup-queries") // 0: no warm-up at all
            o.warmup_queries = parse_number<long>(flag, value), o.warmup_seconds = 0;
        else if (flag == "--conninfo")
            o.conninfo = value;
        else if (flag == "--accounts")
            o.accounts = parse_number<std::int32_t>(flag, value);
        else if (flag == "--seed")
            o.seed = parse_number<std::uint64_t>(flag, value);
        else
            fail("unknown option " + std::string(flag));
    }
    if (o.driver != "pgcoro" && o.driver != "libpq")
        fail("--driver must be pgcoro or libpq");
    if (o.conninfo.empty())
        fail("no --conninfo and no PGCORO_TEST_DSN");
    if (o.accounts < 1)
        fail("--accounts must be positive");
    if (o.queries <= 0 && o.seconds <= 0)
        fail("--seconds or --queries must be positive");
    if (o.warmup_queries < 0 || o.warmup_seconds < 0)
        fail("the warm-up cannot be negative");
    return o;
}

// ---- the work shared by every driver -------------------------------------------------------

/// When a phase (warm-up or measurement) ends: after a number of queries, or at a deadline.
/// The clock is read only every 64 queries, the same way in every driver, so its cost is
/// identical and negligible (~20 ns per 64 queries).
class phase {
public:
    phase(double seconds, long queries)
        : queries_(queries),
          deadline_(steady::now() +
                    std::chrono::duration_cast<steady::duration>(std::chrono::duration<double>(seconds)))
    {}
    bool empty() const noexcept { return queries_ <= 0 && deadline_ <= steady::now(); }
    bool done(long count) const noexcept
    {
        if (queries_ > 0)
            return count >= queries_;
        return count % 64 == 0 && steady::now() >= deadline_;
    }

private:
    long queries_;
    steady::time_point deadline_;
};

std::string cpu_list_of(const cpu_set_t& set)
{
    std::string text;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &set))
            continue;
        int last = cpu;
        while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set))
            ++last;
        if (!text.empty())
            text += ',';
        text += std::to_string(cpu);
        if (last > cpu)
            text += '-' + std::to_string(last);
        cpu = last;
    }
    return text.empty() ? "?" : text;
}

std::string client_cpus()
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return "?";
    return cpu_list_of(set);
}

/// The CPUs the server backend may run on, from /proc (readable for any user's process):
/// the proof that pinning the postmaster reached the backend.
std::string backend_cpus(int pid)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("Cpus_allowed_list:", 0) == 0) {
            std::size_t start = line.find_first_not_of(" \t", std::strlen("Cpus_allowed_list:"));
            return start == std::string::npos ? "?" : line.substr(start);
        }
    return "?"; // another machine, or /proc hidden
}

struct run_info {
    measurement m;
    int backend_pid = 0;
    std::string backend_cpus = "?";
    std::int64_t checksum = 0;
};

void print_result(std::string_view driver, const run_info& r)
{
    const measurement& m = r.m;
    const double n = m.queries > 0 ? static_cast<double>(m.queries) : 1.0;
    std::printf("RESULT driver=%.*s queries=%ld seconds=%.3f qps=%.1f cpu_us=%.3f user_us=%.3f sys_us=%.3f "
                "vcsw=%.3f ivcsw=%.4f backend_pid=%d client_cpus=%s backend_cpus=%s checksum=%lld\n",
                static_cast<int>(driver.size()), driver.data(), m.queries, m.wall_seconds,
                m.wall_seconds > 0 ? m.queries / m.wall_seconds : 0.0,
                (m.user_seconds + m.sys_seconds) * 1e6 / n, m.user_seconds * 1e6 / n, m.sys_seconds * 1e6 / n,
                m.voluntary_switches / n, m.involuntary_switches / n, r.backend_pid, client_cpus().c_str(),
                r.backend_cpus.c_str(), static_cast<long long>(r.checksum));
    std::fflush(stdout);
}

// ---- raw libpq: the best one could write by hand in C ------------------------------------

class libpq_client {
public:
    explicit libpq_client(const std::string& conninfo) : conn_(PQconnectdb(conninfo.c_str()))
    {
        if (!conn_ || PQstatus(conn_) != CONNECTION_OK)
            fail(std::string("libpq: connect failed: ") + (conn_ ? PQerrorMessage(conn_) : "out of memory"));
        // Prepared once, with the parameter type given explicitly, as pgcoro's cache does.
        const Oid types[1] = {int4_oid};
        PGresult* res =
            PQprepare(conn_, libpq_statement_name, std::string(point_select_sql).c_str(), 1, types);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        std::string message = ok ? std::string() : PQresultErrorMessage(res);
        PQclear(res);
        if (!ok)
            fail("libpq: prepare failed: " + message);
        fd_ = PQsocket(conn_);
    }
    ~libpq_client() { PQfinish(conn_); }
    libpq_client(const libpq_client&) = delete;
    libpq_client& operator=(const libpq_client&) = delete;

    int backend_pid() const { return PQbackendPID(conn_); }

    /// One query: send, wait for the socket, read to the terminating NULL result.
    std::int32_t balance(std::int32_t aid)
    {
        const std::uint32_t wire = htonl(static_cast<std::uint32_t>(aid));
        const char* values[1] = {reinterpret_cast<const char*>(&wire)};
        const int lengths[1] = {sizeof wire};
        const int formats[1] = {1};
        // The connection is in blocking mode: this returns once the message is written.
        if (!PQsendQueryPrepared(conn_, libpq_statement_name, 1, values, lengths, formats, 1))
            fail(std::string("libpq: send failed: ") + PQerrorMessage(conn_));
        std::optional<std::int32_t> value;
        for (;;) {
            while (PQisBusy(conn_)) {
                pollfd p{fd_, POLLIN, 0};
                if (poll(&p, 1, -1) < 0 && errno != EINTR)
                    fail(std::string("poll: ") + std::strerror(errno));
                if (!PQconsumeInput(conn_))
                    fail(std::string("libpq: read failed: ") + PQerrorMessage(conn_));
            }
            PGresult* res = PQgetResult(conn_);
            if (!res)
                break;
            // The same checks pgcoro makes before decoding: one row, one non-NULL int4.
            if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && PQnfields(res) == 1 &&
                PQftype(res, 0) == int4_oid && !PQgetisnull(res, 0, 0) && PQgetlength(res, 0, 0) == 4) {
                std::uint32_t raw;
                std::memcpy(&raw, PQgetvalue(res, 0, 0), sizeof raw);
                value = static_cast<std::int32_t>(ntohl(raw));
            } else {
                std::string message = PQresultErrorMessage(res);
                PQclear(res);
                fail("libpq: unexpected result for aid " + std::to_string(aid) + ": " + message);
            }
            PQclear(res);
        }
        if (!value)
            fail("libpq: no result for aid " + std::to_string(aid));
        return *value;
    }

private:
    PGconn* conn_;
    int fd_ = -1;
};

run_info run_libpq(const options& o)
{
    libpq_client client(o.conninfo);
    aid_sequence aids(o.seed, o.accounts);
    run_info info;
    info.backend_pid = client.backend_pid();
    std::int64_t sum = 0;

    phase warmup(o.warmup_seconds, o.warmup_queries);
    if (!warmup.empty())
        for (long n = 0; !warmup.done(n); ++n) {
            const std::int32_t aid = aids.next();
            const std::int32_t balance = client.balance(aid);
            sum += aid + balance;
        }

    snapshot begin = snapshot::take(0);
    phase measured(o.seconds, o.queries);
    long n = 0;
    do {
        const std::int32_t aid = aids.next();
        const std::int32_t balance = client.balance(aid);
        sum += aid + balance;
        ++n;
    } while (!measured.done(n));
    snapshot end = snapshot::take(n);

    info.m = difference(begin, end);
    info.backend_cpus = backend_cpus(info.backend_pid);
    info.checksum = sum;
    return info;
}

// ---- pgcoro ---------------------------------------------------------------------------------

/// The coroutine body is a function, not a capturing lambda: a lambda coroutine's captures
/// live in the closure object, a temporary that dies before io.run() resumes the frame.
asio::awaitable<void> pgcoro_loop(const options& o, run_info& info)
{
    // Two statements, not one nested co_await (a g++ 12 pitfall; see the README).
    auto executor = co_await asio::this_coro::executor;
    auto db = co_await pgcoro::connection::connect(executor, o.conninfo);
    aid_sequence aids(o.seed, o.accounts);
    info.backend_pid = db.backend_pid();
    std::int64_t sum = 0;

    // The first query prepares the statement (pgcoro's cache), inside the warm-up.
    phase warmup(o.warmup_seconds, o.warmup_queries);
    if (!warmup.empty())
        for (long n = 0; !warmup.done(n); ++n) {
            const std::int32_t aid = aids.next();
            const std::int32_t balance = co_await db.scalar<std::int32_t>(point_select_sql, aid);
            sum += aid + balance;
        }

    snapshot begin = snapshot::take(0);
    phase measured(o.seconds, o.queries);
    long n = 0;
    do {
        const std::int32_t aid = aids.next();
        const std::int32_t balance = co_await db.scalar<std::int32_t>(point_select_sql, aid);
        sum += aid + balance;
        ++n;
    } while (!measured.done(n));
    snapshot end = snapshot::take(n);

    info.m = difference(begin, end);
    info.backend_cpus = backend_cpus(info.backend_pid);
    info.checksum = sum;
}

run_info run_pgcoro(const options& o)
{
    run_info info;
    // Default-constructed, as the documentation's examples do.
    asio::io_context io;
    std::exception_ptr failure;
    asio::co_spawn(io, pgcoro_loop(o, info), [&](std::exception_ptr e) { failure = e; });
    io.run();
    if (failure)
        std::rethrow_exception(failure);
    return info;
}

// ---- another client as a child process (pgbench) ---------------------------------------------

/// Runs the program with its stdout captured and reads pgbench's figures from it; its CPU
/// time comes from wait4's rusage (the child's whole life, connection set-up included: a few
/// ms, < 0.1% of a 5 s run).
int run_exec(const options& o)
{
    const child_output child = run_child(o.exec, "point_select");
    // One query per transaction with -S.
    const pgbench_figures pgbench = pgbench_figures_of(child.output, o.exec[0]);

    std::string name = o.exec[0].substr(o.exec[0].find_last_of('/') + 1);
    run_info info;
    info.m.queries = static_cast<long>(pgbench.processed);
    info.m.wall_seconds = pgbench.processed / pgbench.tps; // pgbench's own measured interval
    info.m.user_seconds = seconds_of(child.usage.ru_utime);
    info.m.sys_seconds = seconds_of(child.usage.ru_stime);
    info.m.voluntary_switches = child.usage.ru_nvcsw;
    info.m.involuntary_switches = child.usage.ru_nivcsw;
    print_result(name, info);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        options o = parse_options(argc, argv);
        if (!o.exec.empty())
            return run_exec(o);
        run_info info = o.driver == "libpq" ? run_libpq(o) : run_pgcoro(o);
        print_result(o.driver, info);
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "point_select: " << e.what() << "\n";
        return 1;
    }
}
