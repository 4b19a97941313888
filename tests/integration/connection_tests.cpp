// Connection behaviour against the real server: connect paths, typed queries, the
// statement cache, one-operation-at-a-time, notices, pipelines, streaming, close.

#include "support.hpp"

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/describe/class.hpp>

#include <dirent.h>

#include <chrono>
#include <tuple>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgcoro::client_errc;

namespace {

struct account {
    std::int32_t id;
    std::string owner;
    std::optional<std::int64_t> balance;
};
BOOST_DESCRIBE_STRUCT(account, (), (id, owner, balance))

bool is_url(std::string_view dsn)
{
    return dsn.starts_with("postgresql://") || dsn.starts_with("postgres://");
}

/// Port the test server listens on (from the TCP DSN).
std::string server_port()
{
    std::string dsn = test::dsn();
    if (!is_url(dsn)) {
        auto at = dsn.find("port=");
        return at == std::string::npos ? "5432" : dsn.substr(at + 5, dsn.find(' ', at) - at - 5);
    }
    dsn = dsn.substr(0, dsn.find('?'));
    auto colon = dsn.rfind(':');
    auto slash = dsn.find('/', colon);
    return dsn.substr(colon + 1, slash - colon - 1);
}

/// The test DSN with its host and port replaced (lists allowed), as key=value.
std::string with_host(std::string_view hosts, std::string_view ports)
{
    std::string dsn = test::dsn();
    std::string overrides = " host=" + std::string(hosts) + " port=" + std::string(ports) + " hostaddr=''";
    if (!is_url(dsn))
        return dsn + overrides; // in key=value strings a later keyword wins
    // postgresql://user:password@host:port/db?...: rebuild it as key=value.
    dsn = dsn.substr(0, dsn.find('?'));
    auto scheme = dsn.find("://") + 3;
    auto at = dsn.find('@', scheme);
    auto colon = dsn.find(':', scheme);
    std::string user = dsn.substr(scheme, colon - scheme);
    std::string password = dsn.substr(colon + 1, at - colon - 1);
    std::string db = dsn.substr(dsn.rfind('/') + 1);
    return "user=" + user + " password=" + password + " dbname=" + db + overrides;
}

std::size_t open_fd_count()
{
    std::size_t count = 0;
    if (DIR* dir = opendir("/proc/self/fd")) {
        while (readdir(dir))
            ++count;
        closedir(dir);
    }
    return count;
}

/// A TCP port that accepts connections (the kernel completes the handshake) but never
/// answers: the startup packet goes unanswered, as with a hung server.
struct silent_listener {
    asio::io_context io;
    asio::ip::tcp::acceptor acceptor{io, {asio::ip::make_address("127.0.0.1"), 0}};
    unsigned short port() const { return acceptor.local_endpoint().port(); }
};

} // namespace

BOOST_AUTO_TEST_SUITE(connection_tests)

BOOST_AUTO_TEST_CASE(connects_with_url_and_runs_a_query)
{
    auto value = test::run([]() -> asio::awaitable<std::int32_t> {
        auto db = co_await test::connect();
        BOOST_TEST(db.is_open());
        BOOST_TEST(db.server_version() >= 150000);
        BOOST_TEST(db.backend_pid() > 0);
        BOOST_TEST((db.transaction() == pgcoro::transaction_status::idle));
        co_return co_await db.scalar<std::int32_t>("SELECT $1::int4 + 1", std::int32_t{41});
    });
    BOOST_TEST(value == 42);
}

BOOST_AUTO_TEST_CASE(connects_through_unix_socket_with_key_value_conninfo)
{
    if (test::socket_dsn().empty())
        return; // an external server was given; its socket is unknown
    auto via = test::run([]() -> asio::awaitable<std::string> {
        pgcoro::connect_options options;
        options.conninfo = test::socket_dsn();
        auto db = co_await test::connect(options);
        co_return co_await db.scalar<std::string>("SELECT coalesce(inet_client_addr()::text, 'unix socket')");
    });
    BOOST_TEST(via == "unix socket");
}

BOOST_AUTO_TEST_CASE(resolves_host_names_with_asio)
{
    auto addr = test::run([]() -> asio::awaitable<std::string> {
        pgcoro::connect_options options;
        options.conninfo = with_host("localhost", server_port());
        auto db = co_await test::connect(options);
        co_return co_await db.scalar<std::string>("SELECT host(inet_server_addr())");
    });
    BOOST_TEST(addr == "127.0.0.1");
}

BOOST_AUTO_TEST_CASE(falls_through_to_the_next_host_when_the_first_refuses)
{
    // The first host refuses; libpq replaces the socket (often with the same fd number),
    // which hangs a loop that registers the descriptor only once.
    auto start = std::chrono::steady_clock::now();
    auto value = test::run([]() -> asio::awaitable<std::int32_t> {
        pgcoro::connect_options options;
        options.conninfo = with_host("127.0.0.1,127.0.0.1", "1," + server_port());
        options.connect_timeout = 3s;
        auto db = co_await test::connect(options);
        co_return co_await db.scalar<std::int32_t>("SELECT 7");
    });
    BOOST_TEST(value == 7);
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
}

BOOST_AUTO_TEST_CASE(connection_refused_fails_fast_with_connect_failed)
{
    auto start = std::chrono::steady_clock::now();
    auto e = test::expect_error(
        [] {
            test::run([]() -> asio::awaitable<void> {
                pgcoro::connect_options options;
                options.conninfo = with_host("127.0.0.1", "1");
                co_await test::connect(options);
            });
        },
        client_errc::connect_failed);
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
    BOOST_TEST(std::string(e.what()).find("127.0.0.1") != std::string::npos);
    BOOST_TEST((e.code() == pgcoro::condition::connection_error));
}

BOOST_AUTO_TEST_CASE(unanswered_startup_times_out_at_connect_timeout)
{
    silent_listener listener;
    auto start = std::chrono::steady_clock::now();
    test::expect_error(
        [&] {
            test::run([&]() -> asio::awaitable<void> {
                pgcoro::connect_options options;
                options.conninfo = with_host("127.0.0.1", std::to_string(listener.port()));
                options.connect_timeout = 500ms;
                co_await test::connect(options);
            });
        },
        client_errc::connect_timeout);
    auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST((took >= 450ms));
    BOOST_TEST((took < 3s));
}

BOOST_AUTO_TEST_CASE(a_hung_first_host_does_not_stop_the_second_from_being_tried)
{
    // One deadline per host attempt: a single deadline for the whole string would expire
    // on the first host and never try the second.
    silent_listener listener;
    auto start = std::chrono::steady_clock::now();
    auto value = test::run([&]() -> asio::awaitable<std::int32_t> {
        pgcoro::connect_options options;
        options.conninfo =
            with_host("127.0.0.1,127.0.0.1", std::to_string(listener.port()) + "," + server_port());
        options.connect_timeout = 500ms;
        auto db = co_await test::connect(options);
        co_return co_await db.scalar<std::int32_t>("SELECT 8");
    });
    BOOST_TEST(value == 8);
    auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST((took >= 450ms));
    BOOST_TEST((took < 3s));
}

BOOST_AUTO_TEST_CASE(cancelled_connect_stops_promptly_and_leaks_nothing)
{
    silent_listener listener;
    test::run([&]() -> asio::awaitable<void> { co_await test::connect(); }); // warm lazily opened fds
    std::size_t before = open_fd_count();
    auto start = std::chrono::steady_clock::now();
    test::run([&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pgcoro::connect_options options;
        options.conninfo = with_host("127.0.0.1", std::to_string(listener.port()));
        options.connect_timeout = 10s;
        asio::steady_timer timer(ex, 200ms);
        auto outcome =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(ex, pgcoro::connection::connect(ex, std::move(options)), asio::deferred),
                timer.async_wait(asio::deferred))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        BOOST_TEST(std::get<0>(outcome)[0] == 1u); // the timer won
        BOOST_TEST(static_cast<bool>(std::get<1>(outcome)));
    });
    BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
    BOOST_TEST(open_fd_count() == before);
}

BOOST_AUTO_TEST_CASE(wrong_password_error_never_contains_the_password)
{
    const std::string secret = "Sup3rSecretPassw0rd";
    auto e = test::expect_error(
        [&] {
            test::run([&]() -> asio::awaitable<void> {
                pgcoro::connect_options options;
                // A later keyword wins in a key=value string.
                options.conninfo = with_host("127.0.0.1", server_port()) + " password=" + secret;
                co_await test::connect(options);
            });
        },
        client_errc::connect_failed);
    std::string text = e.what();
    BOOST_TEST(text.find("password authentication failed") != std::string::npos);
    BOOST_TEST(text.find(secret) == std::string::npos);
}

BOOST_AUTO_TEST_CASE(password_misparsed_into_another_field_is_still_redacted)
{
    // "hostaddr= password=x" makes libpq take "password=x" as the host address and echo it.
    auto e = test::expect_error(
        [&] {
            test::run([&]() -> asio::awaitable<void> {
                pgcoro::connect_options options;
                options.conninfo = "host=127.0.0.1 port=1 hostaddr= password=hunter2xyz user=u";
                co_await test::connect(options);
            });
        },
        client_errc::connect_failed);
    BOOST_TEST(std::string(e.what()).find("hunter2xyz") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(malformed_connection_string_is_rejected_without_echoing_it)
{
    auto e = test::expect_error(
        [] {
            test::run([]() -> asio::awaitable<void> {
                auto executor = co_await asio::this_coro::executor;
                co_await pgcoro::connection::connect(executor,
                                                     std::string("host=x password=hunter2 garbage"));
            });
        },
        client_errc::invalid_connection_string);
    BOOST_TEST(std::string(e.what()).find("hunter2") == std::string::npos);
    BOOST_TEST(std::string(e.what()).find("garbage") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(rows_decode_into_structs_tuples_and_scalars)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE accounts (id int4 PRIMARY KEY, owner text NOT NULL, "
                                   "balance int8, extra text DEFAULT 'ignored')");
        BOOST_TEST(
            co_await db.execute("INSERT INTO accounts (id, owner, balance) VALUES ($1, $2, $3), ($4, $5, $6)",
                                std::int32_t{1}, "ann", std::optional<std::int64_t>{100}, std::int32_t{2},
                                std::string("bob"), std::optional<std::int64_t>{}) == 2u);

        // Struct: by column name, in any order, extra columns ignored.
        auto rows = co_await db.query<account>("SELECT extra, balance, owner, id FROM accounts ORDER BY id");
        BOOST_TEST_REQUIRE(rows.size() == 2u);
        BOOST_TEST(rows[0].id == 1);
        BOOST_TEST(rows[0].owner == "ann");
        BOOST_TEST(rows[0].balance.value() == 100);
        BOOST_TEST(!rows[1].balance.has_value());

        // Tuple: by position.
        auto tuples = co_await db.query<std::tuple<std::string, std::int32_t>>(
            "SELECT owner, id FROM accounts ORDER BY id");
        BOOST_TEST(std::get<0>(tuples[1]) == "bob");
        BOOST_TEST(std::get<1>(tuples[1]) == 2);

        // Scalars and single rows.
        auto ids = co_await db.query<std::int32_t>("SELECT id FROM accounts ORDER BY id DESC");
        BOOST_TEST((ids == std::vector<std::int32_t>{2, 1}));
        auto one = co_await db.query_one<account>("SELECT * FROM accounts WHERE id = $1", std::int32_t{2});
        BOOST_TEST(one.owner == "bob");
        auto none = co_await db.query_opt<account>("SELECT * FROM accounts WHERE id = $1", std::int32_t{3});
        BOOST_TEST(!none.has_value());
        auto some = co_await db.query_opt<account>("SELECT * FROM accounts WHERE id = $1", std::int32_t{1});
        BOOST_TEST(some.value().owner == "ann");
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT count(*) FROM accounts") == 2);
        BOOST_TEST(co_await db.execute("UPDATE accounts SET balance = 0") == 2u);
        BOOST_TEST(co_await db.execute("DELETE FROM accounts WHERE id = $1", std::int32_t{9}) == 0u);
    });
}

BOOST_AUTO_TEST_CASE(single_row_helpers_reject_wrong_row_counts)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await test::expect_failure(db.query_one<std::int32_t>("SELECT 1 WHERE false"),
                                      client_errc::no_rows);
        co_await test::expect_failure(db.query_one<std::int32_t>("SELECT generate_series(1, 2)"),
                                      client_errc::too_many_rows);
        co_await test::expect_failure(db.query_opt<std::int32_t>("SELECT generate_series(1, 2)"),
                                      client_errc::too_many_rows);
        co_await test::expect_failure(db.scalar<std::int32_t>("SELECT 1, 2"),
                                      client_errc::column_count_mismatch);
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 5") == 5); // still usable
    });
}

BOOST_AUTO_TEST_CASE(statements_are_prepared_once_and_cached)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        for (std::int32_t i = 0; i < 5; ++i)
            co_await db.scalar<std::int32_t>("SELECT $1::int4 * 2", i);
        BOOST_TEST(db.prepared_statements() == 1u);
        auto server_side = co_await db.scalar<std::int64_t>("SELECT count(*) FROM pg_prepared_statements");
        BOOST_TEST(server_side == 2); // the first statement and this one
        BOOST_TEST(db.prepared_statements() == 2u);
    });
}

BOOST_AUTO_TEST_CASE(statement_cache_evicts_least_recently_used_and_deallocates_it)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::connect_options options;
        options.statement_cache_size = 2;
        auto db = co_await test::connect(options);
        co_await db.scalar<std::int32_t>("SELECT 1");
        co_await db.scalar<std::int32_t>("SELECT 2");
        co_await db.scalar<std::int32_t>("SELECT 3");
        BOOST_TEST(db.prepared_statements() == 2u);
        auto statements =
            co_await db.query<std::string>("SELECT statement FROM pg_prepared_statements ORDER BY 1");
        // "SELECT 1" was evicted (and deallocated) by "SELECT 3"; this query evicted "SELECT 2".
        BOOST_TEST(statements.size() == 2u);
        for (auto& text : statements)
            BOOST_TEST(text != "SELECT 1");
    });
}

BOOST_AUTO_TEST_CASE(statement_cache_disabled_uses_unnamed_statements)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::connect_options options;
        options.statement_cache_size = 0;
        auto db = co_await test::connect(options);
        for (int i = 0; i < 3; ++i)
            BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT count(*) FROM pg_prepared_statements") == 0);
        BOOST_TEST(db.prepared_statements() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(same_sql_with_different_parameter_types_gets_its_own_statement)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        BOOST_TEST(co_await db.scalar<std::string>("SELECT pg_typeof($1)::text", std::int32_t{1}) ==
                   "integer");
        BOOST_TEST(co_await db.scalar<std::string>("SELECT pg_typeof($1)::text", std::int64_t{1}) ==
                   "bigint");
        BOOST_TEST(co_await db.scalar<std::string>("SELECT pg_typeof($1)::text", "x") == "text");
    });
}

BOOST_AUTO_TEST_CASE(cache_recovers_after_deallocate_all_behind_its_back)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT $1::int4", std::int32_t{1}) == 1);
        co_await db.execute_script("DEALLOCATE ALL");
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT $1::int4", std::int32_t{2}) == 2);
    });
}

BOOST_AUTO_TEST_CASE(second_concurrent_operation_fails_and_leaves_the_first_intact)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto ex = co_await asio::this_coro::executor;
        auto outcome =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(ex, db.scalar<std::int32_t>("SELECT 1 FROM pg_sleep(0.2)"), asio::deferred),
                asio::co_spawn(ex, db.scalar<std::int32_t>("SELECT 2"), asio::deferred))
                .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
        // No structured bindings on co_await results: g++ 12 destroys them twice.
        auto first_error = std::get<1>(outcome);
        auto first_value = std::get<2>(outcome);
        auto second_error = std::get<3>(outcome);
        BOOST_TEST(!first_error);
        BOOST_TEST(first_value == 1);
        BOOST_TEST_REQUIRE(static_cast<bool>(second_error));
        try {
            std::rethrow_exception(second_error);
        } catch (const pgcoro::error& e) {
            BOOST_TEST((e.code() == client_errc::operation_in_progress));
        }
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 3") == 3);
    });
}

BOOST_AUTO_TEST_CASE(notices_go_to_the_handler_not_stderr)
{
    test::run([]() -> asio::awaitable<void> {
        std::vector<pgcoro::diagnostics> notices;
        pgcoro::connect_options options;
        options.on_notice = [&](const pgcoro::diagnostics& d) {
            notices.push_back(d);
        };
        auto db = co_await test::connect(options);
        co_await db.execute_script("DO $$ BEGIN RAISE NOTICE 'hello %', 42; END $$");
        co_await db.execute("ROLLBACK"); // "there is no transaction in progress"
        BOOST_TEST_REQUIRE(notices.size() == 2u);
        BOOST_TEST(notices[0].message == "hello 42");
        BOOST_TEST(notices[0].severity == "NOTICE");
        BOOST_TEST(notices[1].severity == "WARNING");
        BOOST_TEST(notices[1].sqlstate == "25P01");
    });
}

BOOST_AUTO_TEST_CASE(execute_script_runs_several_statements)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE s1 (a int); INSERT INTO s1 VALUES (1), (2); "
                                   "CREATE TEMP TABLE s2 AS SELECT a * 10 AS b FROM s1");
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT sum(b) FROM s2") == 30);
        try {
            co_await db.execute_script("SELECT 1; SELEC 2; SELECT 3");
            BOOST_FAIL("syntax error expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST(e.sqlstate() == "42601");
        }
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 4") == 4);
    });
}

BOOST_AUTO_TEST_CASE(pipeline_returns_one_result_per_statement_in_order)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE p (id int PRIMARY KEY, name text)");
        pgcoro::batch b;
        for (std::int32_t i = 1; i <= 1000; ++i)
            b.add("INSERT INTO p VALUES ($1, $2)", i, "row " + std::to_string(i));
        b.add("SELECT count(*) FROM p");
        b.add("SELECT name FROM p WHERE id = $1", std::int32_t{500});
        auto results = co_await db.pipeline(std::move(b));
        BOOST_TEST_REQUIRE(results.size() == 1002u);
        BOOST_TEST(results[0].rows_affected() == 1u);
        BOOST_TEST(results[1000].get<std::int64_t>(0, 0) == 1000);
        BOOST_TEST(results[1001].get<std::string>(0, 0) == "row 500");
        BOOST_TEST((db.transaction() == pgcoro::transaction_status::idle));
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1);
    });
}

BOOST_AUTO_TEST_CASE(atomic_pipeline_failure_rolls_back_the_whole_batch)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE pa (id int PRIMARY KEY)");
        pgcoro::batch b;
        b.add("INSERT INTO pa VALUES (1)");
        b.add("INSERT INTO pa VALUES (1)"); // duplicate key
        b.add("INSERT INTO pa VALUES (3)");
        try {
            co_await db.pipeline(std::move(b));
            BOOST_FAIL("unique violation expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST((e.code() == pgcoro::condition::unique_violation));
            BOOST_TEST(std::string(e.what()).find("statement 2 of 3") != std::string::npos);
        }
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT count(*) FROM pa") == 0);
        BOOST_TEST((db.transaction() == pgcoro::transaction_status::idle));
    });
}

BOOST_AUTO_TEST_CASE(independent_pipeline_failure_does_not_stop_the_others)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE pi (id int PRIMARY KEY)");
        pgcoro::batch b(pgcoro::batch_mode::independent);
        b.add("INSERT INTO pi VALUES (1)");
        b.add("INSERT INTO pi VALUES (1)");
        b.add("INSERT INTO pi VALUES (3)");
        co_await test::expect_failure(db.pipeline(std::move(b)), pgcoro::condition::unique_violation);
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT count(*) FROM pi") == 2);
    });
}

BOOST_AUTO_TEST_CASE(pipeline_with_syntax_error_in_a_new_statement)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        pgcoro::batch b;
        b.add("SELECT 1");
        b.add("SELEC 2");
        b.add("SELECT 3");
        try {
            co_await db.pipeline(std::move(b));
            BOOST_FAIL("syntax error expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST(e.sqlstate() == "42601");
        }
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 3") == 3);
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1);
    });
}

BOOST_AUTO_TEST_CASE(pipeline_evicting_cached_statements_mid_batch_still_runs_them)
{
    // Cache of 2 and 5 distinct statements, each used twice: statements evicted while the
    // batch is being built are still needed by its later entries, so they may only be
    // deallocated after the batch.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::connect_options options;
        options.statement_cache_size = 2;
        auto db = co_await test::connect(options);
        pgcoro::batch b;
        for (int round = 0; round < 2; ++round)
            for (std::int32_t i = 0; i < 5; ++i)
                b.add("SELECT $1::int4 + " + std::to_string(i), std::int32_t{100});
        auto results = co_await db.pipeline(std::move(b));
        BOOST_TEST_REQUIRE(results.size() == 10u);
        for (std::size_t i = 0; i < 10; ++i)
            BOOST_TEST(results[i].get<std::int32_t>(0, 0) == 100 + static_cast<std::int32_t>(i % 5));
        BOOST_TEST(db.prepared_statements() == 2u);
        // The server holds no more than the cache does (plus this query's statement).
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT count(*) FROM pg_prepared_statements") <= 3);
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT $1::int4 + 4", std::int32_t{1}) == 5);
    });
}

BOOST_AUTO_TEST_CASE(pipeline_without_statement_cache_uses_unnamed_statements)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::connect_options options;
        options.statement_cache_size = 0;
        auto db = co_await test::connect(options);
        pgcoro::batch b;
        for (std::int32_t i = 0; i < 50; ++i)
            b.add("SELECT $1::int4 * 2", i);
        auto results = co_await db.pipeline(std::move(b));
        BOOST_TEST(results.at(49).get<std::int32_t>(0, 0) == 98);
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT count(*) FROM pg_prepared_statements") == 0);
    });
}

BOOST_AUTO_TEST_CASE(notices_without_a_handler_go_to_the_logger)
{
    std::vector<std::pair<pgcoro::log_level, std::string>> lines;
    auto previous = pgcoro::set_logger(
        [&](pgcoro::log_level level, std::string_view line) { lines.emplace_back(level, line); });
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute("ROLLBACK"); // WARNING: there is no transaction in progress
    });
    pgcoro::set_logger(std::move(previous));
    BOOST_TEST_REQUIRE(lines.size() == 1u);
    BOOST_TEST((lines[0].first == pgcoro::log_level::warning));
    BOOST_TEST(lines[0].second.find("there is no transaction in progress") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(raw_results_expose_columns_and_command_tags)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto r =
            co_await db.query_result("SELECT 1::int4 AS a, NULL::text AS b, 'x'::text AS \"Mixed Case\"");
        BOOST_TEST(r.size() == 1u);
        BOOST_TEST(r.columns() == 3u);
        BOOST_TEST(r.column_name(0) == "a");
        BOOST_TEST(r.column_type(0) == pgcoro::oids::int4);
        BOOST_TEST(!r.field(0, 1).has_value());
        BOOST_TEST(r.find_column("Mixed Case").value() == 2u);
        BOOST_TEST(!r.find_column("mixed case").has_value());
        BOOST_TEST(!r.get<std::optional<std::string>>(0, 1).has_value());
        BOOST_TEST(r.command_tag() == "SELECT 1");
        co_await db.execute_script("CREATE TEMP TABLE tags (a int)");
        auto insert = co_await db.query_result("INSERT INTO tags SELECT generate_series(1, 3)");
        BOOST_TEST(insert.command_tag() == "INSERT 0 3");
        BOOST_TEST(insert.rows_affected() == 3u);
        BOOST_TEST(insert.columns() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(parameter_errors_surface_when_awaited_not_when_called)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        const std::string bad("a\0b", 3);
        // Creating the operation must not throw: with co_spawn the error has to reach the
        // completion token like any other error of the operation.
        auto pending = db.scalar<std::string>("SELECT $1", bad);
        auto pending_stream = db.stream<std::string>("SELECT $1", bad);
        co_await test::expect_failure(std::move(pending), client_errc::invalid_parameter);
        co_await test::expect_failure(std::move(pending_stream), client_errc::invalid_parameter);
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1);
    });
}

BOOST_AUTO_TEST_CASE(statements_with_many_parameters_bind_every_one)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto sum = co_await db.scalar<std::int64_t>("SELECT $1::int8 + $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 "
                                                    "+ $10 + $11 + $12 + $13 + $14 + $15 + $16 + $17 "
                                                    "+ $18 + $19 + length($20)",
                                                    1LL, 2LL, 3LL, 4LL, 5LL, 6LL, 7LL, 8LL, 9LL, 10LL, 11LL,
                                                    12LL, 13LL, 14LL, 15LL, 16LL, 17LL, 18LL, 19LL, "twenty");
        BOOST_TEST(sum == 190 + 6);
    });
}

BOOST_AUTO_TEST_CASE(stream_reads_rows_one_at_a_time)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto rows = co_await db.stream<std::tuple<std::int64_t, std::string>>(
            "SELECT g, repeat('x', 100) FROM generate_series(1, $1::int8) g", std::int64_t{200'000});
        std::int64_t count = 0, sum = 0;
        while (auto row = co_await rows.next()) {
            ++count;
            sum += std::get<0>(*row);
            BOOST_TEST_REQUIRE(std::get<1>(*row).size() == 100u);
        }
        BOOST_TEST(count == 200'000);
        BOOST_TEST(sum == 200'000LL * 200'001 / 2);
        BOOST_TEST(!(co_await rows.next()).has_value());
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1);
    });
}

BOOST_AUTO_TEST_CASE(stream_blocks_other_operations_until_finished)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto rows = co_await db.stream<std::int32_t>("SELECT generate_series(1, 3)");
        co_await test::expect_failure(db.scalar<std::int32_t>("SELECT 1"),
                                      client_errc::operation_in_progress);
        int seen = 0;
        while (co_await rows.next())
            ++seen;
        BOOST_TEST(seen == 3);
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1);
    });
}

BOOST_AUTO_TEST_CASE(abandoned_stream_is_cancelled_and_drained_by_the_next_operation)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        {
            auto rows = co_await db.stream<std::int64_t>("SELECT g FROM generate_series(1, 100000000) g");
            BOOST_TEST((co_await rows.next()).value() == 1);
        } // destroyed after one row of 10^8
        auto start = std::chrono::steady_clock::now();
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 42") == 42);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 3s));
        BOOST_TEST((db.transaction() == pgcoro::transaction_status::idle));
    });
}

BOOST_AUTO_TEST_CASE(stream_reports_an_error_after_some_rows)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto rows = co_await db.stream<std::int32_t>(
            "SELECT 10 / (3 - g) FROM generate_series(1, 5) g"); // division by zero at g = 3
        std::vector<std::int32_t> seen;
        try {
            while (auto v = co_await rows.next())
                seen.push_back(*v);
            BOOST_FAIL("division by zero expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST(e.sqlstate() == "22012");
        }
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1);
    });
}

BOOST_AUTO_TEST_CASE(cancelled_query_is_cancelled_on_the_server_and_connection_reused)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto ex = co_await asio::this_coro::executor;
        asio::steady_timer timer(ex, 200ms);
        auto start = std::chrono::steady_clock::now();
        auto outcome =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(ex, db.scalar<std::int32_t>("SELECT 1 FROM pg_sleep(10)"), asio::deferred),
                timer.async_wait(asio::deferred))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        auto order = std::get<0>(outcome);
        auto query_error = std::get<1>(outcome);
        BOOST_TEST(order[0] == 1u);
        BOOST_TEST_REQUIRE(static_cast<bool>(query_error));
        try {
            std::rethrow_exception(query_error);
        } catch (const pgcoro::error& e) {
            BOOST_TEST((e.code() == client_errc::operation_aborted));
        }
        // The next statement sends the cancel request and drains: it must not wait 10 s.
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 2") == 2);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
        BOOST_TEST(db.is_open());
    });
}

BOOST_AUTO_TEST_CASE(cancelled_pipeline_is_cancelled_drained_and_left_in_normal_mode)
{
    for (auto mode : {pgcoro::batch_mode::atomic, pgcoro::batch_mode::independent}) {
        test::run([mode]() -> asio::awaitable<void> {
            auto db = co_await test::connect();
            co_await db.execute_script("CREATE TEMP TABLE cp (id int)");
            auto ex = co_await asio::this_coro::executor;
            pgcoro::batch b(mode);
            b.add("INSERT INTO cp VALUES (1)");
            b.add("SELECT pg_sleep(10)");
            b.add("INSERT INTO cp VALUES (2)");
            asio::steady_timer timer(ex, 200ms);
            auto start = std::chrono::steady_clock::now();
            auto outcome = co_await asio::experimental::make_parallel_group(
                               asio::co_spawn(ex, db.pipeline(std::move(b)), asio::deferred),
                               timer.async_wait(asio::deferred))
                               .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
            BOOST_TEST(std::get<0>(outcome)[0] == 1u); // the timer won
            // The next statement cancels the sleep, drains the rest of the pipeline, leaves
            // pipeline mode, and runs normally.
            BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 3") == 3);
            BOOST_TEST((std::chrono::steady_clock::now() - start < 3s));
            BOOST_TEST((db.transaction() == pgcoro::transaction_status::idle));
            // Atomic: the whole segment was rolled back. Independent: the first insert had
            // committed, the one after the cancelled sleep still ran.
            auto rows = co_await db.scalar<std::int64_t>("SELECT count(*) FROM cp");
            BOOST_TEST(rows == (mode == pgcoro::batch_mode::atomic ? 0 : 2));
        });
    }
}

BOOST_AUTO_TEST_CASE(copy_through_the_query_api_is_refused_and_connection_stays_usable)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE c (a int)");
        try {
            co_await db.execute("COPY c FROM STDIN");
            BOOST_FAIL("COPY FROM STDIN must be refused");
        } catch (const pgcoro::error& e) {
            // The server aborts the COPY with the reason pgcoro gave it.
            BOOST_TEST(std::string(e.what()).find("COPY is not supported through the query API") !=
                           std::string::npos,
                       e.what());
        }
        co_await test::expect_failure(db.execute("COPY (SELECT generate_series(1, 1000)) TO STDOUT"),
                                      client_errc::unsupported_copy);
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT count(*) FROM c") == 0);
    });
}

BOOST_AUTO_TEST_CASE(close_is_idempotent_and_operations_after_it_fail_cleanly)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        db.close();
        db.close();
        BOOST_TEST(!db.is_open());
        co_await test::expect_failure(db.scalar<std::int32_t>("SELECT 1"), client_errc::connection_closed);
    });
}

BOOST_AUTO_TEST_CASE(destroying_connections_without_close_leaks_no_descriptor)
{
    // Warm up lazily created descriptors (resolver, thread pool) first.
    test::run([]() -> asio::awaitable<void> { co_await test::connect(); });
    std::size_t before = open_fd_count();
    test::run([]() -> asio::awaitable<void> {
        for (int i = 0; i < 30; ++i) {
            auto db = co_await test::connect();
            co_await db.scalar<std::int32_t>("SELECT 1");
        }
    });
    BOOST_TEST(open_fd_count() == before);
}

BOOST_AUTO_TEST_CASE(moved_from_connection_reports_closed)
{
    test::run([]() -> asio::awaitable<void> {
        auto a = co_await test::connect();
        pgcoro::connection b = std::move(a);
        BOOST_TEST(b.is_open());
        BOOST_TEST(!a.is_open());
        co_await test::expect_failure(a.scalar<std::int32_t>("SELECT 1"), client_errc::connection_closed);
        BOOST_TEST(co_await b.scalar<std::int32_t>("SELECT 1") == 1);
    });
}

BOOST_AUTO_TEST_SUITE_END()
