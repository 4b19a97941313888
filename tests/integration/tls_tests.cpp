// The same operations over TLS: the receive loop must check OpenSSL's buffer before
// waiting for the socket (decrypted bytes do not make the socket readable).

#include "support.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

std::string tls_dsn()
{
    const char* value = std::getenv("PGCORO_TEST_TLS_DSN");
    return value ? value : "";
}

asio::awaitable<pgcoro::connection> connect_tls()
{
    pgcoro::connect_options options;
    options.conninfo = tls_dsn();
    return test::connect(std::move(options));
}

} // namespace

BOOST_AUTO_TEST_SUITE(tls_tests)

BOOST_AUTO_TEST_CASE(large_results_and_parameters_over_tls)
{
    if (tls_dsn().empty()) {
        BOOST_TEST_MESSAGE("PGCORO_TEST_TLS_DSN not set: TLS tests skipped");
        return;
    }
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_tls();
        BOOST_TEST(co_await db.scalar<bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"));
        // Rows of many sizes, so TLS records end at every possible offset of libpq's buffer.
        for (std::int32_t width : {1, 100, 1000, 8191, 8192, 8193, 16384, 100000}) {
            auto rows =
                co_await db.query<std::string>("SELECT repeat('x', $1) FROM generate_series(1, 50)", width);
            BOOST_TEST_REQUIRE(rows.size() == 50u);
            BOOST_TEST(rows.back().size() == static_cast<std::size_t>(width));
        }
        std::string big(4 * 1024 * 1024, 'y');
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT length($1::text)", big) == 4 * 1024 * 1024);
        auto stream =
            co_await db.stream<std::string>("SELECT repeat('z', 300) FROM generate_series(1, 100000)");
        std::size_t count = 0;
        while (auto row = co_await stream.next())
            count += row->size() == 300;
        BOOST_TEST(count == 100000u);
        pgcoro::batch b;
        for (std::int32_t i = 0; i < 500; ++i)
            b.add("SELECT $1::int4, repeat('p', 1000)", i);
        auto results = co_await db.pipeline(std::move(b));
        BOOST_TEST(results.at(499).get<std::int32_t>(0, 0) == 499);
    });
}

BOOST_AUTO_TEST_CASE(cancel_and_reuse_over_tls)
{
    if (tls_dsn().empty())
        return;
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_tls();
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer timer(ex, 100ms);
        auto start = std::chrono::steady_clock::now();
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(ex, db.execute("SELECT pg_sleep(10)"), asio::deferred),
            timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
    });
}

BOOST_AUTO_TEST_CASE(falls_back_to_plain_tcp_when_the_server_rejects_tls)
{
    // hba rejects TLS for this role; with sslmode=prefer libpq retries without TLS on a new
    // socket. The connect loop must re-register the socket after every poll step.
    const char* dsn = std::getenv("PGCORO_TEST_TLS_FALLBACK_DSN");
    if (!dsn || !*dsn) {
        BOOST_TEST_MESSAGE("PGCORO_TEST_TLS_FALLBACK_DSN not set: skipped");
        return;
    }
    auto start = std::chrono::steady_clock::now();
    auto uses_tls = test::run([dsn]() -> asio::awaitable<bool> {
        pgcoro::connect_options options;
        options.conninfo = dsn;
        options.connect_timeout = 3s;
        auto db = co_await test::connect(std::move(options));
        co_return co_await db.scalar<bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    });
    BOOST_TEST(!uses_tls);
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
}

BOOST_AUTO_TEST_SUITE_END()
