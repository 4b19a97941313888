// COPY ... FROM STDIN through connection::copy_in and queryable::copy_in against the real
// server: binary and text round trips, large buffers, server errors mid-copy, statements that
// are not COPY FROM STDIN, cancellation and deadlines mid-copy, killed backends, and the
// session's scope rules.

#include "pool_support.hpp"

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp>
#include <boost/describe/members.hpp>
#include <boost/mp11/algorithm.hpp>
#include <boost/uuid/string_generator.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using pgcoro::client_errc;

namespace copy_test {

enum class mood { sad, ok, happy };
BOOST_DESCRIBE_ENUM(mood, sad, ok, happy)

/// One column of every common type (the table below has them in this order).
struct typed_row {
    std::int32_t id = 0;
    std::optional<bool> flag;
    std::optional<std::int16_t> small;
    std::optional<std::int64_t> big;
    std::optional<float> real4;
    std::optional<double> real8;
    std::optional<std::string> label;
    std::optional<std::vector<std::byte>> bytes;
    std::optional<boost::uuids::uuid> uid;
    std::optional<std::chrono::sys_time<std::chrono::microseconds>> at;
    std::optional<std::chrono::sys_days> day;
    std::optional<pgcoro::interval> span;
    std::optional<pgcoro::numeric> amount;
    std::optional<boost::json::value> doc;
    std::optional<std::vector<std::optional<std::int32_t>>> numbers;
    std::optional<std::vector<std::string>> tags;
    std::optional<mood> feeling;

    friend bool operator==(const typed_row&, const typed_row&) = default;
};
BOOST_DESCRIBE_STRUCT(typed_row, (),
                      (id, flag, small, big, real4, real8, label, bytes, uid, at, day, span, amount, doc,
                       numbers, tags, feeling))

} // namespace copy_test

using copy_test::mood;
using copy_test::typed_row;
BOOST_TEST_DONT_PRINT_LOG_VALUE(typed_row)

namespace {

constexpr const char* typed_table =
    "CREATE TYPE pg_temp.copy_mood AS ENUM ('sad', 'ok', 'happy');"
    "CREATE TEMP TABLE typed (id int PRIMARY KEY, flag bool, small int2, "
    "big int8, real4 float4, real8 float8, label text, bytes bytea, uid uuid, "
    "at timestamptz, day date, span interval, amount numeric, doc jsonb, "
    "numbers int4[], tags text[], feeling pg_temp.copy_mood)";

std::string binary_rows(const std::vector<typed_row>& rows)
{
    pgcoro::binary_copy_writer writer;
    using members = boost::describe::describe_members<typed_row, boost::describe::mod_public>;
    for (const typed_row& row : rows) {
        writer.begin_row(boost::mp11::mp_size<members>::value);
        boost::mp11::mp_for_each<members>([&](auto member) { writer.add(row.*member.pointer); });
    }
    return std::move(writer).finish();
}

typed_row full_row()
{
    using namespace std::chrono;
    typed_row row;
    row.id = 1;
    row.flag = true;
    row.small = -12;
    row.big = 9'000'000'000;
    row.real4 = 1.5f;
    row.real8 = -2.25;
    row.label = "héllo\ttab \\ back";
    row.bytes = std::vector<std::byte>{std::byte{0}, std::byte{0xff}, std::byte{0x10}};
    row.uid = boost::uuids::string_generator()("0e7b6a2c-4c1d-4f6e-9a3b-2d5c8e1f0a7b");
    row.at = sys_days{year{2024} / 2 / 29} + hours{12} + minutes{34} + seconds{56} + microseconds{789012};
    row.day = sys_days{year{1999} / 12 / 31};
    row.span = pgcoro::interval{.microseconds = 3'600'000'001, .days = 2, .months = 14};
    row.amount = pgcoro::numeric{"12345.6789"};
    row.doc = boost::json::value{{"a", boost::json::array{1, 2}}, {"b", nullptr}};
    row.numbers = std::vector<std::optional<std::int32_t>>{1, std::nullopt, 3};
    row.tags = std::vector<std::string>{"x", "y z"};
    row.feeling = mood::happy;
    return row;
}

/// `count` text-format rows "1\n2\n..." (about 7 bytes each).
std::string numbered_lines(std::int64_t first, std::int64_t count)
{
    std::string data;
    data.reserve(static_cast<std::size_t>(count) * 8);
    for (std::int64_t i = first; i < first + count; ++i) {
        data += std::to_string(i);
        data += '\n';
    }
    return data;
}

/// A temp table `slow (id int)` whose insert trigger sleeps 30 s on row 1: the server stops
/// reading COPY data there, so a big copy blocks its sender.
asio::awaitable<void> create_slow_table(pgcoro::connection& db)
{
    co_await db.execute_script("CREATE TEMP TABLE slow (id int);"
                               "CREATE FUNCTION pg_temp.slow_insert() RETURNS trigger LANGUAGE plpgsql AS $$"
                               " BEGIN IF NEW.id = 1 THEN PERFORM pg_sleep(30); END IF; RETURN NEW; END $$;"
                               "CREATE TRIGGER slow_insert BEFORE INSERT ON slow FOR EACH ROW"
                               " EXECUTE FUNCTION pg_temp.slow_insert()");
}

/// Text rows for `slow`, far more than the socket buffers hold while the server sleeps.
std::string big_slow_input()
{
    return numbered_lines(1, 8'000'000); // ~63 MB
}

/// Waits (up to 10 s) until backend `pid` sleeps in pg_sleep (the trigger of `slow`).
asio::awaitable<bool> wait_until_sleeping(pgcoro::connection& observer, int pid)
{
    for (int i = 0; i < 1000; ++i) {
        auto event = co_await observer.scalar<std::optional<std::string>>(
            "SELECT wait_event FROM pg_stat_activity WHERE pid = $1", std::int32_t{pid});
        if (event && *event == "PgSleep")
            co_return true;
        co_await test::sleep_for(10ms);
    }
    co_return false;
}

/// An operation spawned with a cancellation slot, and how it ended.
struct spawned {
    asio::cancellation_signal signal;
    bool finished = false;
    std::exception_ptr failure;

    template <class T> void start(asio::any_io_executor ex, asio::awaitable<T> op)
    {
        asio::co_spawn(ex, std::move(op),
                       asio::bind_cancellation_slot(signal.slot(), [this](auto e, auto&&...) {
                           finished = true;
                           failure = e;
                       }));
    }

    asio::awaitable<void> wait(std::chrono::milliseconds limit = 20s)
    {
        for (auto waited = 0ms; !finished && waited < limit; waited += 5ms)
            co_await test::sleep_for(5ms);
        BOOST_TEST(finished);
    }
};

template <class Code> void check_failure(const std::exception_ptr& failure, Code expected)
{
    BOOST_TEST_REQUIRE(static_cast<bool>(failure));
    try {
        std::rethrow_exception(failure);
    } catch (const pgcoro::error& e) {
        BOOST_TEST_INFO("what(): " << e.what());
        BOOST_TEST((e.code() == expected));
    } catch (const std::exception& e) {
        BOOST_FAIL("not a pgcoro::error: " << e.what());
    }
}

asio::awaitable<std::int64_t> count_rows(pgcoro::connection& db, const std::string& table)
{
    const std::string sql = "SELECT count(*) FROM " + table;
    std::int64_t n = co_await db.scalar<std::int64_t>(sql);
    co_return n;
}

pgcoro::pool_options one_connection(const std::string& tag)
{
    auto o = test::pool_options_for(tag);
    o.pool_size = 1;
    o.max_overflow = 0;
    return o;
}

} // namespace

BOOST_AUTO_TEST_SUITE(copy_tests)

BOOST_AUTO_TEST_CASE(binary_copy_round_trips_every_common_type_and_nulls)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script(typed_table);
        typed_row nulls;
        nulls.id = 2;
        const std::vector<typed_row> rows{full_row(), nulls};
        std::uint64_t copied =
            co_await db.copy_in("COPY typed FROM STDIN (FORMAT binary)", binary_rows(rows));
        BOOST_TEST(copied == 2u);

        auto back = co_await db.query<typed_row>("SELECT * FROM typed ORDER BY id");
        BOOST_TEST_REQUIRE(back.size() == 2u);
        BOOST_TEST((back[0] == rows[0]));
        BOOST_TEST((back[1] == rows[1]));
        // The server read each value as the literal it stands for (not merely something
        // our own decoder turns back into the same bytes).
        std::int64_t matches = co_await db.scalar<std::int64_t>(
            "SELECT count(*) FROM typed WHERE flag AND small = -12 AND big = 9000000000 AND real4 = 1.5 "
            "AND real8 = -2.25 AND label = E'h\\u00e9llo\\ttab \\\\ back' AND bytes = '\\x00ff10'::bytea "
            "AND uid = '0e7b6a2c-4c1d-4f6e-9a3b-2d5c8e1f0a7b' AND at = '2024-02-29 12:34:56.789012+00' "
            "AND day = '1999-12-31' AND span = '1 year 2 mons 2 days 01:00:00.000001' AND amount = "
            "12345.6789 "
            "AND doc = '{\"b\": null, \"a\": [1, 2]}' AND numbers = '{1,NULL,3}' AND tags = '{x,\"y z\"}' "
            "AND feeling = 'happy'");
        BOOST_TEST(matches == 1);
        std::int64_t all_null = co_await db.scalar<std::int64_t>(
            "SELECT count(*) FROM typed t WHERE id = 2 AND num_nulls(VARIADIC ARRAY[flag::text, small::text, "
            "big::text, real4::text, real8::text, label, bytes::text, uid::text, at::text, day::text, "
            "span::text, amount::text, doc::text, numbers::text, tags::text, feeling::text]) = 16");
        BOOST_TEST(all_null == 1);
    });
}

BOOST_AUTO_TEST_CASE(text_and_csv_copies_keep_nulls_and_escapes)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE notes (id int, body text, score numeric)");
        std::uint64_t text_rows =
            co_await db.copy_in("COPY notes FROM STDIN", "1\ttab\\there\t1.50\n"
                                                         "2\t\\N\t\\N\n"
                                                         "3\tline\\nbreak \\\\ slash\t-7\n");
        BOOST_TEST(text_rows == 3u);
        std::uint64_t csv_rows = co_await db.copy_in(
            "/* csv */ copy notes (id, body) FROM STDIN WITH (FORMAT csv)", "4,\"quoted, \"\"comma\"\"\"\n"
                                                                            "5,\n");
        BOOST_TEST(csv_rows == 2u);
        using row = std::tuple<std::int32_t, std::optional<std::string>, std::optional<pgcoro::numeric>>;
        auto rows = co_await db.query<row>("SELECT id, body, score FROM notes ORDER BY id");
        BOOST_TEST_REQUIRE(rows.size() == 5u);
        BOOST_TEST((rows[0] == row{1, "tab\there", pgcoro::numeric{"1.50"}}));
        BOOST_TEST((rows[1] == row{2, std::nullopt, std::nullopt}));
        BOOST_TEST((rows[2] == row{3, "line\nbreak \\ slash", pgcoro::numeric{"-7"}}));
        BOOST_TEST((rows[3] == row{4, "quoted, \"comma\"", std::nullopt}));
        BOOST_TEST((rows[4] == row{5, std::nullopt, std::nullopt})); // an unquoted empty CSV field is NULL
    });
}

BOOST_AUTO_TEST_CASE(copy_of_no_rows_returns_zero)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE empty_target (id int)");
        BOOST_TEST(co_await db.copy_in("COPY empty_target FROM STDIN", "") == 0u);
        std::string header_and_trailer = pgcoro::binary_copy_writer().finish();
        BOOST_TEST(co_await db.copy_in("COPY empty_target FROM STDIN (FORMAT binary)",
                                       std::move(header_and_trailer)) == 0u);
        BOOST_TEST(co_await count_rows(db, "empty_target") == 0);
        BOOST_TEST(db.is_idle());
    });
}

BOOST_AUTO_TEST_CASE(two_hundred_thousand_row_binary_copy_arrives_complete)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE bulk (id int8, payload text, at timestamptz)");
        constexpr std::int64_t count = 200'000;
        const auto base = std::chrono::sys_days{std::chrono::year{2020} / 1 / 1};
        pgcoro::binary_copy_writer writer;
        for (std::int64_t id = 1; id <= count; ++id) {
            writer.begin_row(3);
            writer.add(id);
            writer.add(std::string(100, static_cast<char>('A' + id % 26)));
            writer.add(std::chrono::sys_time<std::chrono::microseconds>(base + std::chrono::seconds{id}));
        }
        BOOST_TEST(writer.rows() == static_cast<std::size_t>(count));
        std::string data = std::move(writer).finish();
        BOOST_TEST(data.size() > 25'000'000u); // tens of MB: many chunks, many flushes
        std::uint64_t copied = co_await db.copy_in("COPY bulk FROM STDIN (FORMAT binary)", std::move(data));
        BOOST_TEST(copied == static_cast<std::uint64_t>(count));
        // Every row, checked on the server against what it must contain.
        using summary = std::tuple<std::int64_t, pgcoro::numeric, bool, bool>;
        auto check = co_await db.query_one<summary>(
            "SELECT count(*), sum(id), bool_and(payload = repeat(chr(65 + (id % 26)::int), 100)), "
            "bool_and(at = '2020-01-01 00:00:00+00'::timestamptz + id * interval '1 second') FROM bulk");
        BOOST_TEST(std::get<0>(check) == count);
        BOOST_TEST((std::get<1>(check) == pgcoro::numeric{std::to_string(count * (count + 1) / 2)}));
        BOOST_TEST(std::get<2>(check));
        BOOST_TEST(std::get<3>(check));
        BOOST_TEST(db.is_idle());
    });
}

BOOST_AUTO_TEST_CASE(large_copy_over_tls_arrives_complete)
{
    const std::string tls_dsn = test::env("PGCORO_TEST_TLS_DSN");
    if (tls_dsn.empty()) {
        BOOST_TEST_MESSAGE("PGCORO_TEST_TLS_DSN not set: TLS copy test skipped");
        return;
    }
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::connect_options options;
        options.conninfo = tls_dsn;
        auto db = co_await test::connect(std::move(options));
        BOOST_TEST_REQUIRE(
            co_await db.scalar<bool>("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"));
        co_await db.execute_script("CREATE TEMP TABLE over_tls (id int8)");
        std::string data = numbered_lines(1, 1'000'000); // ~7 MB through OpenSSL
        BOOST_TEST(co_await db.copy_in("COPY over_tls FROM STDIN", std::move(data)) == 1'000'000u);
        using summary = std::tuple<std::int64_t, pgcoro::numeric>;
        auto check = co_await db.query_one<summary>("SELECT count(*), sum(id) FROM over_tls");
        BOOST_TEST(std::get<0>(check) == 1'000'000);
        BOOST_TEST((std::get<1>(check) == pgcoro::numeric{"500000500000"}));
    });
}

BOOST_AUTO_TEST_CASE(malformed_binary_row_fails_with_the_server_error_and_copies_nothing)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE strict_ints (id int4)");
        pgcoro::binary_copy_writer writer;
        writer.begin_row(1);
        writer.add(std::int32_t{1});
        writer.begin_row(1);
        writer.add(std::int64_t{2}); // eight bytes for an int4 column
        auto e = co_await test::expect_failure(
            db.copy_in("COPY strict_ints FROM STDIN (FORMAT binary)", std::move(writer).finish()),
            pgcoro::condition::data_exception);
        BOOST_TEST(e.sqlstate() == "22P03"); // invalid_binary_representation
        BOOST_TEST(!pgcoro::is_fatal(e.code()));
        BOOST_TEST(e.diag().statement.find("COPY strict_ints") != std::string::npos);
        BOOST_TEST(db.is_idle());
        BOOST_TEST(co_await count_rows(db, "strict_ints") == 0); // the good first row is gone too
    });
}

BOOST_AUTO_TEST_CASE(bad_row_early_in_a_large_copy_fails_cleanly_after_the_rest_is_sent)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE early_error (id int)");
        // The server fails at line 2 and then discards ~7 MB more while the client sends it.
        std::string data = "1\nnot a number\n" + numbered_lines(3, 1'000'000);
        auto e = co_await test::expect_failure(db.copy_in("COPY early_error FROM STDIN", std::move(data)),
                                               pgcoro::condition::data_exception);
        BOOST_TEST(e.sqlstate() == "22P02");
        BOOST_TEST(e.diag().context.find("line 2") != std::string::npos, e.diag().context);
        BOOST_TEST(db.is_idle());
        BOOST_TEST(co_await count_rows(db, "early_error") == 0);
        BOOST_TEST(co_await db.copy_in("COPY early_error FROM STDIN", "7\n") == 1u);
    });
}

BOOST_AUTO_TEST_CASE(duplicate_key_in_copy_is_a_unique_violation_naming_the_constraint)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script(
            "CREATE TEMP TABLE keyed (id int CONSTRAINT keyed_id_key UNIQUE, note text)");
        co_await db.execute("INSERT INTO keyed VALUES (5, 'existing')");
        auto e = co_await test::expect_failure(db.copy_in("COPY keyed FROM STDIN", "4\ta\n5\tb\n6\tc\n"),
                                               pgcoro::condition::unique_violation);
        BOOST_TEST(e.sqlstate() == "23505");
        BOOST_TEST(e.diag().constraint == "keyed_id_key");
        BOOST_TEST(e.diag().table == "keyed");
        BOOST_TEST(db.is_idle());
        BOOST_TEST(co_await count_rows(db, "keyed") == 1); // 4 was rolled back with the rest
    });
}

BOOST_AUTO_TEST_CASE(statement_that_is_not_copy_is_refused_before_it_is_sent)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE untouched (id int)");
        auto e = co_await test::expect_failure(db.copy_in("INSERT INTO untouched VALUES (1)", "2\n"),
                                               client_errc::unsupported_copy);
        BOOST_TEST(std::string(e.what()).find("nothing was sent") != std::string::npos, e.what());
        co_await test::expect_failure(db.copy_in("SELECT 1", ""), client_errc::unsupported_copy);
        co_await test::expect_failure(db.copy_in("-- COPY\n  copying", ""), client_errc::unsupported_copy);
        BOOST_TEST(co_await count_rows(db, "untouched") == 0); // the INSERT never ran
        BOOST_TEST(db.is_idle());
    });
}

BOOST_AUTO_TEST_CASE(copy_to_stdout_is_refused_and_its_output_discarded)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto e = co_await test::expect_failure(
            db.copy_in("COPY (SELECT generate_series(1, 100000)) TO STDOUT", ""),
            client_errc::unsupported_copy);
        BOOST_TEST(std::string(e.what()).find("TO STDOUT") != std::string::npos, e.what());
        BOOST_TEST(db.is_idle());
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 7") == 7);
    });
}

BOOST_AUTO_TEST_CASE(copy_followed_by_another_statement_is_refused_by_the_server)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE guarded (id int); INSERT INTO guarded VALUES (1)");
        auto e =
            co_await test::expect_failure(db.copy_in("COPY guarded FROM STDIN; DELETE FROM guarded", "2\n"),
                                          pgcoro::condition::syntax_error);
        BOOST_TEST(e.sqlstate() == "42601"); // cannot insert multiple commands into a prepared statement
        co_await test::expect_failure(db.copy_in("COPY no_such_table FROM STDIN", "1\n"),
                                      pgcoro::condition::undefined_table);
        BOOST_TEST(co_await count_rows(db, "guarded") == 1);
        BOOST_TEST(db.is_idle());
    });
}

BOOST_AUTO_TEST_CASE(copy_cancelled_before_the_server_answered_leaves_nothing_and_a_usable_connection)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        co_await db.execute_script("CREATE TEMP TABLE early_cancel (id int)");
        auto ex = co_await asio::this_coro::executor;
        spawned copy;
        copy.start(ex, db.copy_in("COPY early_cancel FROM STDIN", "1\n2\n"));
        // Posted behind the start: the cancellation reaches the copy at its first wait, for
        // the server's COPY_IN answer.
        asio::post(ex, [&] {
            if (!copy.finished)
                copy.signal.emit(asio::cancellation_type::terminal);
        });
        co_await copy.wait();
        check_failure(copy.failure, client_errc::operation_aborted);
        BOOST_TEST(db.is_interrupted());
        const auto start = std::chrono::steady_clock::now();
        BOOST_TEST(co_await count_rows(db, "early_cancel") == 0);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 3s));
        BOOST_TEST(db.is_idle());
    });
}

BOOST_AUTO_TEST_CASE(copy_cancelled_while_sending_data_is_rolled_back_and_the_connection_reused)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto observer = co_await test::connect();
        co_await create_slow_table(db);
        const int pid = db.backend_pid();
        auto ex = co_await asio::this_coro::executor;
        spawned copy;
        copy.start(ex, db.copy_in("COPY slow FROM STDIN", big_slow_input()));
        // The server sleeps in row 1's trigger and reads no more: the copy waits to send.
        BOOST_TEST_REQUIRE(co_await wait_until_sleeping(observer, pid));
        co_await test::sleep_for(200ms);
        BOOST_TEST(!copy.finished);
        const auto start = std::chrono::steady_clock::now();
        copy.signal.emit(asio::cancellation_type::terminal);
        co_await copy.wait();
        check_failure(copy.failure, client_errc::operation_aborted);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 1s)); // at once, not after recovery
        // Recovery cancels the sleeping trigger first (the server does not read the rest of
        // the data before), then drains: well before the 30 s sleep, on the same backend.
        BOOST_TEST(co_await count_rows(db, "slow") == 0);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
        BOOST_TEST(db.backend_pid() == pid);
        BOOST_TEST(db.is_idle());
        BOOST_TEST(co_await db.copy_in("COPY slow FROM STDIN", "2\n3\n") == 2u);
    });
}

BOOST_AUTO_TEST_CASE(backend_killed_mid_copy_reports_connection_lost)
{
    test::run([]() -> asio::awaitable<void> {
        auto victim = co_await test::connect();
        auto killer = co_await test::connect();
        co_await create_slow_table(victim);
        const int pid = victim.backend_pid();
        auto ex = co_await asio::this_coro::executor;
        spawned copy;
        copy.start(ex, victim.copy_in("COPY slow FROM STDIN", big_slow_input()));
        BOOST_TEST_REQUIRE(co_await wait_until_sleeping(killer, pid));
        const auto start = std::chrono::steady_clock::now();
        BOOST_TEST(co_await killer.scalar<bool>("SELECT pg_terminate_backend($1)", std::int32_t{pid}));
        co_await copy.wait(10s);
        check_failure(copy.failure, client_errc::connection_lost);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
        BOOST_TEST(!victim.is_open());
        co_await test::expect_failure(victim.copy_in("COPY slow FROM STDIN", "1\n"),
                                      client_errc::connection_lost);
    });
}

BOOST_AUTO_TEST_CASE(copy_timing_out_while_sending_data_is_cancelled_and_throws_timeout)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, one_connection("copy_timeout_data"));
        auto s = co_await pool.session();
        co_await create_slow_table(s.get_connection());
        const auto start = std::chrono::steady_clock::now();
        auto e = co_await test::expect_failure(
            s.with_timeout(500ms).copy_in("COPY slow FROM STDIN", big_slow_input()), client_errc::timeout);
        const auto took = std::chrono::steady_clock::now() - start;
        BOOST_TEST((took >= 500ms));
        BOOST_TEST((took < 5s)); // the recovery before the throw did not wait for the 30 s sleep
        BOOST_TEST(std::string(e.what()).find("COPY slow") != std::string::npos, e.what());
        BOOST_TEST(std::string(e.what()).find("recovering the connection failed") == std::string::npos,
                   e.what());
        BOOST_TEST(s.get_connection().is_idle()); // recovered before the call returned
        BOOST_TEST(co_await s.scalar<std::int64_t>("SELECT count(*) FROM slow") == 0);
    });
}

BOOST_AUTO_TEST_CASE(copy_timing_out_after_its_data_was_sent_is_cancelled_on_the_server)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, one_connection("copy_timeout_rows"));
        auto s = co_await pool.session();
        co_await create_slow_table(s.get_connection());
        const auto start = std::chrono::steady_clock::now();
        // Three small rows: all sent at once; the server then sleeps in row 1's trigger.
        co_await test::expect_failure(s.with_timeout(300ms).copy_in("COPY slow FROM STDIN", "1\n2\n3\n"),
                                      client_errc::timeout);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
        BOOST_TEST(s.get_connection().is_idle());
        BOOST_TEST(co_await s.scalar<std::int64_t>("SELECT count(*) FROM slow") == 0);
    });
}

BOOST_AUTO_TEST_CASE(copy_in_a_transaction_that_is_rolled_back_leaves_nothing)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, one_connection("copy_tx"));
        auto s = co_await pool.session();
        co_await s.execute_script("CREATE TEMP TABLE tx_rows (id int)");
        auto tx = co_await s.begin();
        BOOST_TEST(co_await tx.copy_in("COPY tx_rows FROM STDIN", "1\n2\n3\n") == 3u);
        BOOST_TEST(co_await tx.scalar<std::int64_t>("SELECT count(*) FROM tx_rows") == 3);
        co_await tx.rollback();
        BOOST_TEST(co_await s.scalar<std::int64_t>("SELECT count(*) FROM tx_rows") == 0);
        // And committed, it stays.
        auto kept = co_await s.begin();
        BOOST_TEST(co_await kept.copy_in("COPY tx_rows FROM STDIN", "4\n") == 1u);
        co_await kept.commit();
        BOOST_TEST(co_await s.scalar<std::int64_t>("SELECT count(*) FROM tx_rows") == 1);
    });
}

BOOST_AUTO_TEST_CASE(copy_through_a_scope_that_is_not_innermost_is_refused)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, one_connection("copy_scope"));
        auto s = co_await pool.session();
        co_await s.execute_script("CREATE TEMP TABLE scoped (id int)");
        auto tx = co_await s.begin();
        co_await test::expect_failure(s.copy_in("COPY scoped FROM STDIN", "1\n"),
                                      client_errc::scope_not_innermost);
        auto savepoint = co_await tx.begin();
        co_await test::expect_failure(tx.copy_in("COPY scoped FROM STDIN", "1\n"),
                                      client_errc::scope_not_innermost);
        BOOST_TEST(co_await savepoint.copy_in("COPY scoped FROM STDIN", "1\n") == 1u);
        co_await savepoint.commit();
        co_await tx.commit();
        BOOST_TEST(co_await s.scalar<std::int64_t>("SELECT count(*) FROM scoped") == 1);
    });
}

BOOST_AUTO_TEST_CASE(copy_in_an_aborted_transaction_fails_without_a_round_trip)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, one_connection("copy_aborted"));
        auto s = co_await pool.session();
        co_await s.execute_script("CREATE TEMP TABLE aborted_rows (id int PRIMARY KEY)");
        auto tx = co_await s.begin();
        // A failed copy aborts the transaction like any statement...
        co_await test::expect_failure(tx.copy_in("COPY aborted_rows FROM STDIN", "1\n1\n"),
                                      pgcoro::condition::unique_violation);
        // ...and the next one fails at once.
        co_await test::expect_failure(tx.copy_in("COPY aborted_rows FROM STDIN", "2\n"),
                                      client_errc::transaction_aborted);
        co_await tx.rollback();
        BOOST_TEST(co_await s.copy_in("COPY aborted_rows FROM STDIN", "2\n") == 1u);
    });
}

BOOST_AUTO_TEST_CASE(cancelled_copy_to_stdout_through_the_query_api_is_drained_by_the_next_operation)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await test::connect();
        auto ex = co_await asio::this_coro::executor;
        spawned query;
        query.start(ex,
                    db.execute("COPY (SELECT repeat('x', 100) FROM generate_series(1, 3000000)) TO STDOUT"));
        co_await test::sleep_for(100ms); // rows are streaming in: the query drains them
        BOOST_TEST(!query.finished);
        query.signal.emit(asio::cancellation_type::terminal);
        co_await query.wait();
        check_failure(query.failure, client_errc::operation_aborted);
        // Recovery meets the COPY OUT state again and must read it to its end, not loop.
        const auto start = std::chrono::steady_clock::now();
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 8") == 8);
        BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
        BOOST_TEST(db.is_idle());
    });
}

BOOST_AUTO_TEST_CASE(copy_on_a_closed_connection_fails_with_connection_closed)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::connection never_opened;
        co_await test::expect_failure(never_opened.copy_in("COPY t FROM STDIN", ""),
                                      client_errc::connection_closed);
        auto db = co_await test::connect();
        db.close();
        co_await test::expect_failure(db.copy_in("COPY t FROM STDIN", ""), client_errc::connection_closed);
    });
}

BOOST_AUTO_TEST_SUITE_END()
