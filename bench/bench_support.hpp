// What the two benchmarks, point_select.cpp and pool_bench.cpp, share: the error helper and
// option parsing (default conninfo, option values, numbers), the fixed-seed aid sequence,
// the process's CPU and wall time over an interval (getrusage), and running pgbench as a
// child with its stdout captured and its CPU time from wait4's rusage, then reading its
// transaction count and tps. Header-only: inline functions in namespace bench.

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

} // namespace bench
