// What the benchmarks (point_select.cpp, pool_bench.cpp, transaction_bench.cpp) share: the
// error helper and option parsing (default conninfo, option values, numbers), the fixed-seed
// aid sequence and random source, the process's CPU and wall time over an interval
// (getrusage), and running pgbench as a child with its stdout captured and its CPU time
// from wait4's rusage, then reading its transaction count and tps, once or as a -t 1 / -T
// pair that excludes its start-up. Header-only: inline functions in namespace bench.

#pragma once

#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace bench {

/// Every error ends the benchmark: main prints "<program>: <message>" and returns 1.
[[noreturn]] inline void fail(const std::string& message)
{
    throw std::runtime_error(message);
}

/// The whole of `text` as a T, or fail naming the option.
template <class T> T parse_number(std::string_view flag, std::string_view text)
{
    T value{};
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size())
        fail("invalid value for " + std::string(flag) + ": '" + std::string(text) + "'");
    return value;
}

/// The conninfo both benchmarks default to: $PGCORO_TEST_DSN, or empty.
inline std::string conninfo_from_environment()
{
    const char* dsn = std::getenv("PGCORO_TEST_DSN");
    return dsn ? dsn : "";
}

/// The value of the option argv[i], which is argv[i + 1]; moves i onto it. Fails when the
/// option is the last argument.
inline std::string_view option_value(int argc, char** argv, int& i)
{
    if (i + 1 >= argc)
        fail("missing value for " + std::string(argv[i]));
    return argv[++i];
}

/// xorshift64* (Vigna): a few instructions per aid, so the generator costs the same
/// negligible amount in every loop; the same seed gives the same aids.
class aid_sequence {
public:
    aid_sequence(std::uint64_t seed, std::int32_t accounts)
        : state_(seed ? seed : 1), accounts_(static_cast<std::uint64_t>(accounts))
    {}
    std::int32_t next() noexcept
    {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        std::uint64_t r = state_ * 0x2545F4914F6CDD1DULL;
        // Multiply-shift maps the top 32 bits onto 1..accounts without a division.
        return static_cast<std::int32_t>(1 + (((r >> 32) * accounts_) >> 32));
    }

private:
    std::uint64_t state_;
    std::uint64_t accounts_;
};

/// The same generator for values in any range: pgbench's `random(lo, hi)` is uniform.
class random_source {
public:
    explicit random_source(std::uint64_t seed) : state_(seed ? seed : 1) {}
    std::uint64_t next() noexcept
    {
        state_ ^= state_ >> 12;
        state_ ^= state_ << 25;
        state_ ^= state_ >> 27;
        return state_ * 0x2545F4914F6CDD1DULL;
    }
    /// Uniform in [lo, hi]: multiply-shift of the top 32 bits, no division.
    std::int32_t between(std::int32_t lo, std::int32_t hi) noexcept
    {
        const std::uint64_t span = static_cast<std::uint64_t>(static_cast<std::int64_t>(hi) - lo) + 1;
        return static_cast<std::int32_t>(lo + static_cast<std::int64_t>(((next() >> 32) * span) >> 32));
    }

private:
    std::uint64_t state_;
};

inline double seconds_of(const timeval& tv)
{
    return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
}

/// CPU and wall time of the whole process at one instant, with the queries done by then.
struct snapshot {
    std::chrono::steady_clock::time_point wall;
    rusage usage{};
    long queries = 0;
    static snapshot take(long queries = 0)
    {
        snapshot s;
        getrusage(RUSAGE_SELF, &s.usage); // every thread of the client, library helpers included
        s.wall = std::chrono::steady_clock::now();
        s.queries = queries;
        return s;
    }
};

struct measurement {
    long queries = 0;
    double wall_seconds = 0;
    double user_seconds = 0;
    double sys_seconds = 0;
    long voluntary_switches = 0;
    long involuntary_switches = 0;
};

inline measurement difference(const snapshot& begin, const snapshot& end)
{
    measurement m;
    m.queries = end.queries - begin.queries;
    m.wall_seconds = std::chrono::duration<double>(end.wall - begin.wall).count();
    m.user_seconds = seconds_of(end.usage.ru_utime) - seconds_of(begin.usage.ru_utime);
    m.sys_seconds = seconds_of(end.usage.ru_stime) - seconds_of(begin.usage.ru_stime);
    m.voluntary_switches = end.usage.ru_nvcsw - begin.usage.ru_nvcsw;
    m.involuntary_switches = end.usage.ru_nivcsw - begin.usage.ru_nivcsw;
    return m;
}

// ---- a child process (pgbench) ----------------------------------------------------------------

/// What a child wrote to its stdout, and its rusage: its whole life, start-up included.
struct child_output {
    std::string output;
    rusage usage{};
};

/// Runs `args` (args[0] looked up in PATH) with its stdout captured; its stderr is ours.
/// `self` names this program in the message the child prints when the exec fails. Unless
/// the child exits with status 0, copies its output to std::cerr and fails.
inline child_output run_child(const std::vector<std::string>& args, const char* self)
{
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0)
        fail(std::string("pipe: ") + std::strerror(errno));
    std::vector<char*> argv;
    for (const std::string& arg : args)
        argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);

    pid_t pid = fork();
    if (pid < 0)
        fail(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        dup2(pipe_fds[1], STDOUT_FILENO);
        close(pipe_fds[0]);
        close(pipe_fds[1]);
        execvp(argv[0], argv.data());
        std::fprintf(stderr, "%s: cannot run %s: %s\n", self, argv[0], std::strerror(errno));
        _exit(127);
    }
    close(pipe_fds[1]);
    child_output child;
    char buffer[4096];
    for (;;) {
        ssize_t got = read(pipe_fds[0], buffer, sizeof buffer);
        if (got > 0)
            child.output.append(buffer, static_cast<std::size_t>(got));
        else if (got == 0 || errno != EINTR)
            break;
    }
    close(pipe_fds[0]);
    int status = 0;
    while (wait4(pid, &status, 0, &child.usage) < 0)
        if (errno != EINTR)
            fail(std::string("wait4: ") + std::strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::cerr << child.output;
        fail(args[0] + " failed (status " + std::to_string(status) + ")");
    }
    return child;
}

/// The number after `label` in `text`, if present.
inline std::optional<double> number_after(std::string_view text, std::string_view label)
{
    std::size_t at = text.find(label);
    if (at == std::string_view::npos)
        return std::nullopt;
    const char* start = text.data() + at + label.size();
    char* end = nullptr;
    double value = std::strtod(start, &end);
    if (end == start)
        return std::nullopt;
    return value;
}

struct pgbench_figures {
    double processed = 0; // transactions; one query each with -S
    double tps = 0;       // without initial connection time
};

/// From pgbench's output: "number of transactions actually processed: N" and "tps = X
/// (without initial connection time)". Fails, after copying the output to std::cerr, when
/// either is missing or pgbench reports failed transactions; `program` names pgbench there.
inline pgbench_figures pgbench_figures_of(const std::string& output, const std::string& program)
{
    auto processed = number_after(output, "number of transactions actually processed: ");
    auto tps = number_after(output, "tps = ");
    if (!processed || !tps || *tps <= 0) {
        std::cerr << output;
        fail("could not find the transaction count and tps in the output of " + program);
    }
    if (auto failed = number_after(output, "number of failed transactions: "); failed && *failed > 0) {
        std::cerr << output;
        fail(program + " reported failed transactions");
    }
    return {*processed, *tps};
}

/// One pgbench run: its figures and its CPU time (wait4's rusage: its whole life, start-up
/// and connecting included).
struct pgbench_run {
    double processed = 0;
    double tps = 0;
    double user_seconds = 0;
    double sys_seconds = 0;
    double cpu_seconds() const noexcept { return user_seconds + sys_seconds; }
};

/// Runs pgbench (`args`, args[0] the binary) with its stdout captured; `self` as in run_child.
inline pgbench_run run_pgbench_once(const std::vector<std::string>& args, const char* self)
{
    const child_output child = run_child(args, self);
    const pgbench_figures figures = pgbench_figures_of(child.output, args[0]);
    pgbench_run r;
    r.processed = figures.processed;
    r.tps = figures.tps;
    r.user_seconds = seconds_of(child.usage.ru_utime);
    r.sys_seconds = seconds_of(child.usage.ru_stime);
    return r;
}

/// pgbench measured without its start-up: the same command run twice, with `-t 1` (start-up,
/// every client connects with its SCRAM exchange, one transaction each, exit) and with `-T
/// seconds`; the CPU time per transaction is the difference in CPU over the difference in
/// transactions, so neither pgbench nor a client measured from inside its process is billed
/// for connecting.
struct pgbench_measurement {
    double transactions = 0; ///< of the -T run
    double seconds = 0;      ///< its measured interval (transactions / tps)
    double tps = 0;          ///< pgbench's own, "without initial connection time"
    double cpu_us = 0;       ///< per transaction, start-up excluded
    double user_us = 0;      ///< the user/system split of the correction is approximate
    double sys_us = 0;       ///< (tick sampling); their sum is not
    double cpu_raw_us = 0;   ///< per transaction, the -T run as it is
    double setup_cpu_ms = 0; ///< the whole -t 1 run
};

/// `args`: pgbench and its options, without -t / -T and without the conninfo (appended last).
inline pgbench_measurement measure_pgbench(const std::vector<std::string>& args, long seconds,
                                           const std::string& conninfo, const char* self)
{
    std::vector<std::string> setup = args;
    setup.insert(setup.end(), {"-t", "1", conninfo});
    std::vector<std::string> timed_args = args;
    timed_args.insert(timed_args.end(), {"-T", std::to_string(seconds), conninfo});

    const pgbench_run base = run_pgbench_once(setup, self);
    const pgbench_run timed = run_pgbench_once(timed_args, self);
    const double transactions = timed.processed - base.processed;
    if (transactions <= 0)
        fail("pgbench processed no more transactions in -T " + std::to_string(seconds) + " than with -t 1");
    pgbench_measurement m;
    m.transactions = timed.processed;
    m.tps = timed.tps;
    m.seconds = timed.processed / timed.tps;
    m.cpu_us = (timed.cpu_seconds() - base.cpu_seconds()) * 1e6 / transactions;
    m.user_us = (timed.user_seconds - base.user_seconds) * 1e6 / transactions;
    m.sys_us = (timed.sys_seconds - base.sys_seconds) * 1e6 / transactions;
    m.cpu_raw_us = timed.cpu_seconds() * 1e6 / timed.processed;
    m.setup_cpu_ms = base.cpu_seconds() * 1e3;
    return m;
}

} // namespace bench
