#pragma once
// Helpers for tests against the real server named by PGCORO_TEST_DSN (./dev starts one).

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <exception>
#include <mutex>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace test {

namespace asio = boost::asio;

/// The test server's connection string; fails the test when none is configured.
inline std::string dsn()
{
    const char* value = std::getenv("PGCORO_TEST_DSN");
    if (!value || !*value)
        BOOST_FAIL("PGCORO_TEST_DSN is not set: run the tests through ./dev test");
    return value;
}

/// Same server through its unix socket (set by ./dev; empty when PGCORO_TEST_DSN was given).
inline std::string socket_dsn()
{
    const char* value = std::getenv("PGCORO_TEST_SOCKET_DSN");
    return value ? value : "";
}

/// Runs a coroutine to completion on a fresh io_context and returns its result (or
/// rethrows its exception).
template <class F> auto run(F&& make)
{
    using awaitable_type = std::invoke_result_t<F&>;
    using value_type = typename awaitable_type::value_type;
    asio::io_context io;
    std::exception_ptr failure;
    std::optional<std::conditional_t<std::is_void_v<value_type>, bool, value_type>> value;
    if constexpr (std::is_void_v<value_type>) {
        asio::co_spawn(io, make(), [&](std::exception_ptr e) {
            failure = e;
            value.emplace(true);
        });
    } else {
        asio::co_spawn(io, make(), [&](std::exception_ptr e, value_type v) {
            failure = e;
            if (!e)
                value.emplace(std::move(v));
        });
    }
    io.run();
    if (failure)
        std::rethrow_exception(failure);
    if constexpr (!std::is_void_v<value_type>)
        return std::move(*value);
}

// No default argument: g++ 12 corrupts a by-value coroutine parameter initialised from a
// default argument (the moved std::string's buffer is freed twice).
inline asio::awaitable<pgcoro::connection> connect(pgcoro::connect_options options)
{
    if (options.conninfo.empty())
        options.conninfo = dsn();
    // Not nested in one expression: g++ 12 mis-handles temporaries of a co_await that sits in
    // the arguments of another co_await (double free of the argument's std::string).
    auto executor = co_await asio::this_coro::executor;
    pgcoro::connection db = co_await pgcoro::connection::connect(executor, std::move(options));
    co_return db;
}

inline asio::awaitable<pgcoro::connection> connect()
{
    pgcoro::connect_options options;
    options.conninfo = dsn();
    return connect(std::move(options));
}

/// Awaits `operation`, checks that it throws pgcoro::error whose code equals `expected`
/// (a client_errc, a condition or an error_code) and returns that error.
template <class T, class Code>
asio::awaitable<pgcoro::error> expect_failure(asio::awaitable<T> operation, Code expected)
{
    try {
        co_await std::move(operation);
    } catch (const pgcoro::error& e) {
        BOOST_TEST_INFO("what(): " << e.what());
        BOOST_TEST((e.code() == expected));
        co_return e;
    }
    BOOST_FAIL("expected a pgcoro::error, the operation succeeded");
    throw; // unreachable: BOOST_FAIL throws
}

/// Runs `body` and checks it throws pgcoro::error whose code equals `expected` (a
/// client_errc, a condition, or an error_code); returns the error for further checks.
template <class Body, class Code> pgcoro::error expect_error(Body&& body, Code expected)
{
    try {
        body();
    } catch (const pgcoro::error& e) {
        BOOST_TEST_INFO("what(): " << e.what());
        BOOST_TEST((e.code() == expected));
        return e;
    }
    BOOST_FAIL("expected a pgcoro::error, nothing was thrown");
    throw; // unreachable
}

/// what() of a captured exception ("no exception" for none), for test messages.
inline std::string describe(const std::exception_ptr& failure)
{
    if (!failure)
        return "no exception";
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "unknown exception";
    }
}

/// Captures pgcoro's log lines for the lifetime of the object.
struct captured_log {
    captured_log()
    {
        previous = pgcoro::set_logger([this](pgcoro::log_level level, std::string_view line) {
            std::lock_guard guard(mutex);
            lines.emplace_back(level, std::string(line));
        });
    }
    ~captured_log() { pgcoro::set_logger(std::move(previous)); }
    captured_log(const captured_log&) = delete;
    captured_log& operator=(const captured_log&) = delete;

    std::size_t warnings_containing(std::string_view text)
    {
        std::lock_guard guard(mutex);
        std::size_t n = 0;
        for (auto& [level, line] : lines)
            n += level == pgcoro::log_level::warning && line.find(text) != std::string::npos;
        return n;
    }

    std::mutex mutex;
    std::vector<std::pair<pgcoro::log_level, std::string>> lines;
    pgcoro::log_function previous;
};

} // namespace test
