// Every built-in type through the real server: what we send comes back equal, and the
// server renders what we sent exactly as it renders the same value written as a literal.

#include "support.hpp"

#include <boost/describe/class.hpp>
#include <boost/describe/enum.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/uuid/string_generator.hpp>

#include <chrono>
#include <cmath>
#include <limits>

namespace asio = boost::asio;
using namespace std::chrono;
using pgcoro::client_errc;

namespace {

enum class mood { sad, ok, happy };
BOOST_DESCRIBE_ENUM(mood, sad, ok, happy)

template <class T> bool same_value(const T& a, const T& b)
{
    if constexpr (std::is_floating_point_v<T>)
        return (std::isnan(a) && std::isnan(b)) || (a == b && std::signbit(a) == std::signbit(b));
    else
        return a == b;
}

/// Element-wise, so NaN elements compare equal and -0.0 differs from 0.0.
template <class T> bool same_value(const std::vector<T>& a, const std::vector<T>& b)
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (!same_value<T>(a[i], b[i]))
            return false;
    return true;
}

/// Sends `value` as a parameter cast to `type`, checks that it comes back equal, and that
/// the server's text rendering of it equals the rendering of `literal` cast to `type`.
/// (Test code: `type` and `literal` are constants of this file, not user input.)
template <class T>
asio::awaitable<void> check(pgcoro::connection& db, const T& value, std::string type, std::string literal)
{
    BOOST_TEST_CONTEXT("type " << type << ", literal " << literal.substr(0, 80))
    {
        // Statements are built before the co_awaits: g++ 12 double-frees chained string
        // temporaries that live across a suspension.
        const std::string render_sql =
            "SELECT ($1::" + type + ")::text, (" + literal + "::" + type + ")::text";
        const std::string echo_sql = "SELECT $1::" + type;
        const std::string literal_sql = "SELECT " + literal + "::" + type;
        auto rendered = co_await db.query_one<std::tuple<std::string, std::string>>(render_sql, value);
        BOOST_TEST(std::get<0>(rendered).size() == std::get<1>(rendered).size());
        BOOST_TEST((std::get<0>(rendered) == std::get<1>(rendered)));
        T back = co_await db.scalar<T>(echo_sql, value);
        BOOST_TEST(same_value(back, value));
        // And decoding the literal directly.
        T from_literal = co_await db.scalar<T>(literal_sql);
        BOOST_TEST(same_value(from_literal, value));
    }
}

asio::awaitable<pgcoro::connection> connect_utc()
{
    auto db = co_await test::connect();
    co_await db.execute_script(
        "SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; SET DateStyle = 'ISO, YMD'");
    co_return db;
}

template <class Duration>
sys_time<Duration> utc(int y, unsigned mo, unsigned d, int h = 0, int mi = 0, int s = 0)
{
    return sys_days{year{y} / mo / d} + hours{h} + minutes{mi} + seconds{s};
}

} // namespace

BOOST_AUTO_TEST_SUITE(types_roundtrip_tests)

BOOST_AUTO_TEST_CASE(booleans_and_integers_at_their_limits)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        co_await check(db, true, "bool", "'true'");
        co_await check(db, false, "bool", "'false'");
        co_await check(db, std::numeric_limits<std::int16_t>::min(), "int2", "'-32768'");
        co_await check(db, std::numeric_limits<std::int16_t>::max(), "int2", "'32767'");
        co_await check(db, std::numeric_limits<std::int32_t>::min(), "int4", "'-2147483648'");
        co_await check(db, std::numeric_limits<std::int32_t>::max(), "int4", "'2147483647'");
        co_await check(db, std::numeric_limits<std::int64_t>::min(), "int8", "'-9223372036854775808'");
        co_await check(db, std::numeric_limits<std::int64_t>::max(), "int8", "'9223372036854775807'");
        co_await check(db, std::int64_t{0}, "int8", "'0'");
        // Wider C++ integers read narrower columns.
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT 7::int2") == 7);
    });
}

BOOST_AUTO_TEST_CASE(floats_including_nan_infinities_and_extremes)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        co_await check(db, 1.5f, "float4", "'1.5'");
        co_await check(db, std::numeric_limits<float>::max(), "float4", "'3.4028235e+38'");
        co_await check(db, std::numeric_limits<float>::denorm_min(), "float4", "'1e-45'");
        co_await check(db, std::numeric_limits<float>::quiet_NaN(), "float4", "'NaN'");
        co_await check(db, std::numeric_limits<float>::infinity(), "float4", "'Infinity'");
        co_await check(db, -std::numeric_limits<float>::infinity(), "float4", "'-Infinity'");
        co_await check(db, 0.1, "float8", "'0.1'");
        co_await check(db, -0.0, "float8", "'-0'");
        co_await check(db, std::numeric_limits<double>::max(), "float8", "'1.7976931348623157e+308'");
        co_await check(db, std::numeric_limits<double>::denorm_min(), "float8", "'5e-324'");
        co_await check(db, std::numeric_limits<double>::quiet_NaN(), "float8", "'NaN'");
        co_await check(db, std::numeric_limits<double>::infinity(), "float8", "'Infinity'");
        co_await check(db, -std::numeric_limits<double>::infinity(), "float8", "'-Infinity'");
    });
}

BOOST_AUTO_TEST_CASE(text_empty_unicode_quotes_and_one_megabyte)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        co_await check(db, std::string(), "text", "''");
        co_await check(db, std::string("h\xC3\xA9llo w\xC3\xB6rld \xF0\x9F\x8E\x89 \xE6\x97\xA5\xE6\x9C\xAC"),
                       "text", "'h\xC3\xA9llo w\xC3\xB6rld \xF0\x9F\x8E\x89 \xE6\x97\xA5\xE6\x9C\xAC'");
        co_await check(db, std::string("it's \"quoted\" \\ back\\slash; DROP TABLE x; --"), "text",
                       "'it''s \"quoted\" \\ back\\slash; DROP TABLE x; --'");
        co_await check(db, std::string("tab\tnew\nline"), "varchar", "E'tab\\tnew\\nline'");
        std::string big(1024 * 1024, 'a');
        co_await check(db, big, "text", "repeat('a', 1048576)");
        BOOST_TEST(co_await db.scalar<std::string>("SELECT 'ab'::char(4)") == "ab  ");
        BOOST_TEST(co_await db.scalar<std::string>("SELECT 'pg_class'::name") == "pg_class");
    });
}

BOOST_AUTO_TEST_CASE(bytea_every_byte_value)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        std::vector<std::byte> all(256);
        for (int i = 0; i < 256; ++i)
            all[i] = static_cast<std::byte>(i);
        std::string hex = "'\\x";
        for (int i = 0; i < 256; ++i) {
            char buf[3];
            std::snprintf(buf, sizeof buf, "%02x", i);
            hex += buf;
        }
        hex += "'";
        co_await check(db, all, "bytea", hex);
        co_await check(db, std::vector<std::byte>{}, "bytea", "''");
    });
}

BOOST_AUTO_TEST_CASE(uuids)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        boost::uuids::string_generator parse;
        co_await check(db, parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "uuid",
                       "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'");
        co_await check(db, parse("00000000-0000-0000-0000-000000000000"), "uuid",
                       "'00000000-0000-0000-0000-000000000000'");
        co_await check(db, parse("ffffffff-ffff-ffff-ffff-ffffffffffff"), "uuid",
                       "'ffffffff-ffff-ffff-ffff-ffffffffffff'");
    });
}

BOOST_AUTO_TEST_CASE(timestamps_before_2000_after_2038_and_infinities)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        using us = sys_time<microseconds>;
        co_await check(db, us{utc<microseconds>(2000, 1, 1)}, "timestamptz", "'2000-01-01 00:00:00+00'");
        co_await check(db, us{utc<microseconds>(1970, 1, 1)}, "timestamptz", "'1970-01-01 00:00:00+00'");
        co_await check(db, us{utc<microseconds>(1900, 1, 1, 12, 34, 56) + microseconds{789012}},
                       "timestamptz", "'1900-01-01 12:34:56.789012+00'");
        co_await check(db, us{utc<microseconds>(1999, 12, 31, 23, 59, 59) + microseconds{999999}},
                       "timestamptz", "'1999-12-31 23:59:59.999999+00'");
        co_await check(db, us{utc<microseconds>(2038, 1, 19, 3, 14, 8)}, "timestamptz",
                       "'2038-01-19 03:14:08+00'");
        co_await check(db, us{utc<microseconds>(2262, 4, 12)}, "timestamptz", "'2262-04-12 00:00:00+00'");
        co_await check(db, us::max(), "timestamptz", "'infinity'");
        co_await check(db, us::min(), "timestamptz", "'-infinity'");
        // Offsets are applied by the server: the instant is what counts.
        BOOST_TEST((co_await db.scalar<us>("SELECT '2024-06-01 12:00:00+02'::timestamptz") ==
                    us{utc<microseconds>(2024, 6, 1, 10)}));

        using local = local_time<microseconds>;
        auto local_of = [](sys_time<microseconds> t) {
            return local{t.time_since_epoch()};
        };
        co_await check(db, local_of(utc<microseconds>(1950, 6, 15, 8, 30)), "timestamp",
                       "'1950-06-15 08:30:00'");
        co_await check(db, local_of(utc<microseconds>(2100, 2, 28, 23, 59, 59)), "timestamp",
                       "'2100-02-28 23:59:59'");
        co_await check(db, local::max(), "timestamp", "'infinity'");
        co_await check(db, local::min(), "timestamp", "'-infinity'");
    });
}

BOOST_AUTO_TEST_CASE(dates_across_centuries_and_infinities)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        co_await check(db, sys_days{year{1999} / 12 / 31}, "date", "'1999-12-31'");
        co_await check(db, sys_days{year{2000} / 1 / 1}, "date", "'2000-01-01'");
        co_await check(db, sys_days{year{1900} / 2 / 28}, "date", "'1900-02-28'");
        co_await check(db, sys_days{year{2040} / 2 / 29}, "date", "'2040-02-29'");
        co_await check(db, sys_days{year{1} / 1 / 1}, "date", "'0001-01-01'");
        co_await check(db, sys_days{year{9999} / 12 / 31}, "date", "'9999-12-31'");
        co_await check(db, sys_days::max(), "date", "'infinity'");
        co_await check(db, sys_days::min(), "date", "'-infinity'");
        co_await check(db, year_month_day{year{2024} / 2 / 29}, "date", "'2024-02-29'");
    });
}

BOOST_AUTO_TEST_CASE(intervals_with_every_field)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        co_await check(db, pgcoro::interval{.microseconds = 2LL * 3600 * 1000000, .days = 1, .months = 0},
                       "interval", "'1 day 02:00:00'");
        co_await check(db,
                       pgcoro::interval{.microseconds = -(4LL * 3600 + 5 * 60 + 6) * 1000000 - 789000,
                                        .days = 3,
                                        .months = -14},
                       "interval", "'-1 year -2 mons +3 days -04:05:06.789'");
        co_await check(db, pgcoro::interval{}, "interval", "'0'");
    });
}

BOOST_AUTO_TEST_CASE(numeric_exact_including_special_values_and_1000_digits)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        const std::vector<std::string> values{"0",
                                              "-0.5",
                                              "12345.678",
                                              "1.50",
                                              "0.000001",
                                              "-99999999999999999999.99999999999",
                                              "10000",
                                              "NaN",
                                              "Infinity",
                                              "-Infinity",
                                              "123456789012345678901234567890"};
        for (const std::string& v : values) {
            // The literal is built before the co_await: g++ 12 double-frees chained string
            // temporaries that live across a suspension.
            const std::string literal = "'" + v + "'";
            const pgcoro::numeric value{v};
            co_await check(db, value, "numeric", literal);
        }
        std::string digits;
        for (int i = 0; i < 1000; ++i)
            digits += static_cast<char>('1' + i % 9);
        const std::string digits_literal = "'" + digits + "'";
        const pgcoro::numeric many_digits{digits};
        co_await check(db, many_digits, "numeric", digits_literal);
        const std::string fraction = "0." + digits;
        const std::string fraction_literal = "'" + fraction + "'";
        const pgcoro::numeric small_fraction{fraction};
        co_await check(db, small_fraction, "numeric", fraction_literal);
        try {
            const pgcoro::numeric garbage{"12abc"};
            co_await db.scalar<pgcoro::numeric>("SELECT $1::numeric", garbage);
            BOOST_FAIL("invalid_parameter expected");
        } catch (const pgcoro::error& e) {
            BOOST_TEST((e.code() == client_errc::invalid_parameter));
        }
    });
}

BOOST_AUTO_TEST_CASE(json_and_jsonb_nested_documents)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        boost::json::value doc = boost::json::parse(
            R"({"name":"Ann","tags":["a","b"],"nested":{"deep":{"x":[1,2.5,null,true]}},"uni":"h\u00e9 \ud83c\udf89"})");
        auto back = co_await db.scalar<boost::json::value>("SELECT $1::jsonb", doc);
        BOOST_TEST((back == doc));
        const std::string doc_text = boost::json::serialize(doc);
        auto rendered = co_await db.query_one<std::tuple<std::string, std::string>>(
            "SELECT $1::jsonb::text, $2::jsonb::text", doc, doc_text);
        BOOST_TEST((std::get<0>(rendered) == std::get<1>(rendered)));
        // json (not jsonb) columns decode too, keeping the text's content.
        auto from_json = co_await db.scalar<boost::json::value>("SELECT '{\"a\": [1, 2]}'::json");
        const boost::json::value expected = boost::json::parse(R"({"a":[1,2]})");
        BOOST_TEST((from_json == expected));
        const boost::json::value empty_object = boost::json::object{};
        auto empty = co_await db.scalar<boost::json::value>("SELECT '{}'::jsonb");
        BOOST_TEST((empty == empty_object));
        // Containment works on what we sent: it really is jsonb on the server.
        BOOST_TEST(co_await db.scalar<bool>("SELECT $1::jsonb @> '{\"tags\":[\"b\"]}'", doc));
    });
}

BOOST_AUTO_TEST_CASE(arrays_empty_with_nulls_and_of_every_element_type)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        // Built outside the co_await expressions: g++ 12 cannot keep an initializer list's
        // backing array in a coroutine frame ("array used as initializer").
        const std::vector<std::int32_t> ints{1, 2, 3};
        const std::vector<std::int32_t> no_ints;
        const std::vector<std::optional<std::int32_t>> ints_with_null{1, std::nullopt, 3};
        const std::vector<std::int64_t> bigints{std::numeric_limits<std::int64_t>::min(), 0};
        const std::vector<std::int16_t> smallints{-1, 1};
        const std::vector<double> doubles{1.5, std::numeric_limits<double>::quiet_NaN()};
        const std::vector<bool> bools{true, false};
        const std::vector<std::optional<std::string>> texts{std::string("a,b"), std::string("q\"uote"),
                                                            std::nullopt, std::string(), std::string("NULL")};
        const std::vector<pgcoro::numeric> numerics{pgcoro::numeric{"1.10"}, pgcoro::numeric{"NaN"}};
        const std::vector<sys_days> dates{sys_days{year{1999} / 1 / 1}, sys_days::max()};
        const std::vector<sys_time<microseconds>> instants{
            sys_time<microseconds>{utc<microseconds>(2030, 1, 1)}};
        boost::uuids::string_generator parse;
        const std::vector<boost::uuids::uuid> uuids{parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")};
        const std::vector<std::vector<std::byte>> blobs{std::vector<std::byte>{std::byte{1}, std::byte{255}}};
        const std::vector<pgcoro::interval> intervals{
            pgcoro::interval{.microseconds = 0, .days = 1, .months = 1}};
        std::vector<boost::json::value> documents;
        documents.push_back(boost::json::parse(R"({"a":1})"));
        documents.emplace_back(nullptr);

        co_await check(db, ints, "int4[]", "'{1,2,3}'");
        co_await check(db, no_ints, "int4[]", "'{}'");
        co_await check(db, ints_with_null, "int4[]", "'{1,NULL,3}'");
        co_await check(db, bigints, "int8[]", "'{-9223372036854775808,0}'");
        co_await check(db, smallints, "int2[]", "'{-1,1}'");
        co_await check(db, doubles, "float8[]", "'{1.5,NaN}'");
        co_await check(db, bools, "bool[]", "'{t,f}'");
        co_await check(db, texts, "text[]", "ARRAY['a,b', 'q\"uote', NULL, '', 'NULL']");
        co_await check(db, numerics, "numeric[]", "'{1.10,NaN}'");
        co_await check(db, dates, "date[]", "'{1999-01-01,infinity}'");
        co_await check(db, instants, "timestamptz[]", "'{\"2030-01-01 00:00:00+00\"}'");
        co_await check(db, uuids, "uuid[]", "'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'");
        co_await check(db, blobs, "bytea[]", "'{\"\\\\x01ff\"}'");
        co_await check(db, intervals, "interval[]", "'{\"1 mon 1 day\"}'");
        co_await check(db, documents, "jsonb[]", "ARRAY['{\"a\": 1}'::jsonb, 'null'::jsonb]");

        // Sent with lower bound 1 (a lower bound of 0 silently shifts every index).
        const std::vector<std::int32_t> five_six{5, 6};
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT array_lower($1::int4[], 1)", five_six) == 1);
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT ($1::int4[])[1]", five_six) == 5);
        // Any lower bound is accepted on the way in.
        auto shifted = co_await db.scalar<std::vector<std::int32_t>>("SELECT '[0:2]={7,8,9}'::int4[]");
        BOOST_TEST((shifted == std::vector<std::int32_t>{7, 8, 9}));
        // NULL element into a non-optional element type: a clear error, connection fine.
        co_await test::expect_failure(db.scalar<std::vector<std::int32_t>>("SELECT '{1,NULL}'::int4[]"),
                                      client_errc::unexpected_null);
        // Multi-dimensional arrays are refused clearly.
        co_await test::expect_failure(db.scalar<std::vector<std::int32_t>>("SELECT '{{1,2},{3,4}}'::int4[]"),
                                      client_errc::malformed_value);
        BOOST_TEST(co_await db.scalar<std::int32_t>("SELECT 1") == 1);
    });
}

BOOST_AUTO_TEST_CASE(described_enums_travel_as_labels)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        co_await db.execute_script("DROP TYPE IF EXISTS pg_temp.mood CASCADE; "
                                   "CREATE TYPE pg_temp.mood AS ENUM ('sad', 'ok', 'happy'); "
                                   "CREATE TEMP TABLE people (name text, feeling pg_temp.mood)");
        co_await db.execute("INSERT INTO people VALUES ($1, $2), ($3, $4)", "ann", mood::happy, "bob",
                            mood::sad);
        BOOST_TEST(
            (co_await db.scalar<mood>("SELECT feeling FROM people WHERE name = $1", "ann") == mood::happy));
        BOOST_TEST(co_await db.scalar<std::string>("SELECT feeling::text FROM people WHERE name = 'bob'") ==
                   "sad");
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT count(*) FROM people WHERE feeling = $1",
                                                    mood::sad) == 1);
        // Arrays of enums: sent as text literals (the enum's OID is per database), read back
        // in binary.
        auto all =
            co_await db.scalar<std::vector<mood>>("SELECT array_agg(feeling ORDER BY name) FROM people");
        const std::vector<mood> expected{mood::happy, mood::sad};
        BOOST_TEST((all == expected));
        co_await db.execute_script("CREATE TEMP TABLE moods (id int, history pg_temp.mood[])");
        const std::vector<std::optional<mood>> history{mood::ok, std::nullopt, mood::happy};
        co_await db.execute("INSERT INTO moods VALUES (1, $1)", history);
        BOOST_TEST(co_await db.scalar<std::string>("SELECT history::text FROM moods") == "{ok,NULL,happy}");
        auto back = co_await db.scalar<std::vector<std::optional<mood>>>("SELECT history FROM moods");
        BOOST_TEST((back == history));
        const std::vector<mood> wanted{mood::sad, mood::ok};
        BOOST_TEST(co_await db.scalar<std::int64_t>("SELECT count(*) FROM people WHERE feeling = ANY($1)",
                                                    wanted) == 1);
        const std::vector<mood> none;
        BOOST_TEST(co_await db.scalar<std::string>("SELECT $1::pg_temp.mood[]::text", none) == "{}");
        co_await test::expect_failure(db.scalar<std::vector<mood>>("SELECT history FROM moods"),
                                      client_errc::unexpected_null);
        co_await test::expect_failure(db.scalar<mood>("SELECT 'furious'::text"),
                                      client_errc::malformed_value);
    });
}

BOOST_AUTO_TEST_CASE(optional_parameters_send_null)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        BOOST_TEST(co_await db.scalar<bool>("SELECT $1::int4 IS NULL", std::optional<std::int32_t>{}));
        BOOST_TEST(co_await db.scalar<bool>("SELECT $1::text IS NULL", std::nullopt));
        auto v = co_await db.scalar<std::optional<std::int32_t>>("SELECT $1::int4",
                                                                 std::optional<std::int32_t>{4});
        BOOST_TEST(v.value() == 4);
        auto none = co_await db.scalar<std::optional<std::string>>("SELECT NULL::text");
        BOOST_TEST(!none.has_value());
    });
}

BOOST_AUTO_TEST_SUITE_END()

// The user type from the type_traits documentation (include/pgcoro/types/traits.hpp),
// specialised outside namespace pgcoro exactly as a user would.
namespace user_code {
struct email {
    std::string address;
    friend bool operator==(const email&, const email&) = default;
};
struct subscriber {
    std::int32_t id;
    email contact;
    std::optional<email> backup;
};
BOOST_DESCRIBE_STRUCT(subscriber, (), (id, contact, backup))
} // namespace user_code

template <> struct pgcoro::type_traits<user_code::email> {
    static constexpr oid_t type_oid = oids::text;
    static constexpr oid_t array_oid = oids::text_array;
    static bool accepts(oid_t t) noexcept { return type_traits<std::string>::accepts(t); }
    static void encode(const user_code::email& e, std::string& out)
    {
        type_traits<std::string>::encode(e.address, out);
    }
    static user_code::email decode(std::string_view b, oid_t t)
    {
        return {type_traits<std::string>::decode(b, t)};
    }
};

BOOST_AUTO_TEST_SUITE(user_type_tests)

BOOST_AUTO_TEST_CASE(documented_user_type_works_as_parameter_column_member_and_array_element)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await connect_utc();
        const user_code::email ann{"ann@example.com"};
        BOOST_TEST((co_await db.scalar<user_code::email>("SELECT $1", ann) == ann));
        BOOST_TEST(co_await db.scalar<std::string>("SELECT pg_typeof($1)::text", ann) == "text");
        auto row = co_await db.query_one<user_code::subscriber>(
            "SELECT 7 AS id, $1::varchar AS contact, NULL::text AS backup", ann);
        BOOST_TEST(row.id == 7);
        BOOST_TEST((row.contact == ann));
        BOOST_TEST(!row.backup.has_value());
        const std::vector<user_code::email> list{ann, user_code::email{"bob@example.com"}};
        auto back = co_await db.scalar<std::vector<user_code::email>>("SELECT $1", list);
        BOOST_TEST((back == list));
        // NUL is refused by the underlying std::string codec, before sending.
        const user_code::email bad{std::string("a\0b", 3)};
        co_await test::expect_failure(db.scalar<user_code::email>("SELECT $1", bad),
                                      client_errc::invalid_parameter);
    });
}

BOOST_AUTO_TEST_SUITE_END()
