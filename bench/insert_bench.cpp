// Bulk-insert benchmark: N rows of a users model stored one INSERT ... RETURNING at a time,
// with insert_many through a pipeline and through a binary COPY, and by psql's \copy of the
// same rows as CSV; then where COPY starts to beat the pipeline. bench/run_inserts drives it;
// each mode prints RESULT lines.
//
//   insert_bench --mode single|pipeline|copy [--rows N] [--warmup-rows W] [--conninfo DSN]
//   insert_bench --mode crossover [--sizes 1,10,...] [--crossover-rows R] [--min-reps A]
//                [--max-reps B] [--conninfo DSN]
//   insert_bench --mode csv --rows N --csv FILE
//   insert_bench --mode psql-copy|psql-stdin --rows N --csv FILE [--psql PATH] [--conninfo DSN]
//
// Every mode but csv creates a schema of its own (pgcoro_insert_bench_<pid>: several may
// share a server) holding the table below, reached through search_path (a startup option in
// the conninfo, so the model names its table unqualified), and drops it at the end:
//
//   users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE,
//          name text NOT NULL, score integer NOT NULL, preferences jsonb NOT NULL,
//          created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)
//
// The rows come from a fixed-seed generator (about 195 bytes of CSV each: an email, a
// name, an int, a small JSON object), built before any timing. The timed part of a mode is
// the call(s) storing them, parameter encoding included; afterwards the table must hold
// exactly N rows whose score, JSON "visits" and email lengths add up to the generated ones
// (a wrong count or sum fails the run). Before the timed run each pgcoro mode stores
// --warmup-rows rows the same way (prepares its statements, loads the server's caches),
// then truncates. cpu is the client process's user + system time (getrusage) over the
// timed part; server_cpu is the same for its server backend (/proc/<pid>/stat, 10 ms
// ticks; -1 if unreadable). peak_rss_kib is the growth of the client's peak RSS during the
// timed part; allocations counts the malloc/calloc/realloc calls in it (libpq's included).
//
// single:    one session, BEGIN, a loop of co_await tx.insert(user) (one INSERT ... RETURNING
//            round trip per row, the stored row decoded), COMMIT.
// pipeline:  co_await s.insert_many(users, {.method = insert_method::pipeline}): one
//            pipelined round trip of N prepared INSERTs in one implicit transaction.
// copy:      the same with insert_method::copy: a catalog round trip, then a binary COPY
//            users (...) FROM STDIN.
// crossover: for each size (default 1,10,30,100,300,1000,3000,10000), the first `size` rows
//            through insert_many by pipeline and by COPY, alternately (the order swaps each
//            repetition), reps = clamp(crossover_rows / size, min_reps, max_reps) times each,
//            truncating (and counting) between calls, untimed. One RESULT line per size:
//            median and quartiles of the wall time per call, mean client CPU per call, and
//            the median of the per-repetition ratio copy / pipeline (paired, so drift in
//            the machine's load cancels).
// csv:       writes the N rows as CSV (email, name, score, preferences, created_at,
//            updated_at; the timestamps fixed, since the pgcoro modes let the server set
//            them) to FILE, for the psql modes.
// psql-copy: `psql -X -v ON_ERROR_STOP=1 -d DSN -c "\copy schema.users (...) FROM 'FILE'
//            WITH (FORMAT csv)"` as a child; its wall time and its CPU time (wait4's rusage)
//            include psql's start-up and connection (SCRAM). So that it can be taken out,
//            the same process first times `psql -X -d DSN -c "SELECT 1"` three times
//            (startup_seconds, startup_cpu: medians).
// psql-stdin: the same with `-c "COPY schema.users (...) FROM STDIN WITH (FORMAT csv)"` and
//            FILE as psql's standard input.
//
// conninfo defaults to $PGCORO_TEST_DSN.

#include "asio_support.hpp"

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/describe/class.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

// ---- heap allocations ---------------------------------------------------------------------
// malloc, calloc and realloc calls of the whole process (operator new, libpq's PGresults and
// buffers, Asio's and pgcoro's allocations), counted by interposing glibc's allocator (its
// documented replacement interface: the four functions, forwarding to glibc's own). A relaxed
// increment costs a few ns next to a malloc's tens.

extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* pointer, std::size_t size);
void __libc_free(void* pointer);
}

namespace {
std::atomic<std::uint64_t> allocation_count{0};
} // namespace

extern "C" {
void* malloc(std::size_t size) noexcept
{
    allocation_count.fetch_add(1, std::memory_order_relaxed);
    return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept
{
    allocation_count.fetch_add(1, std::memory_order_relaxed);
    return __libc_calloc(count, size);
}
void* realloc(void* pointer, std::size_t size) noexcept
{
    allocation_count.fetch_add(1, std::memory_order_relaxed);
    return __libc_realloc(pointer, size);
}
void free(void* pointer) noexcept
{
    __libc_free(pointer);
}
}

// ---- the model ----------------------------------------------------------------------------

struct User {
    std::int64_t id = 0;
    std::string email;
    std::string name;
    std::int32_t score = 0;
    boost::json::value preferences;
    std::optional<pgcoro::timestamp> created_at;
    std::optional<pgcoro::timestamp> updated_at;
};
BOOST_DESCRIBE_STRUCT(User, (), (id, email, name, score, preferences, created_at, updated_at))

template <> struct pgcoro::model_traits<User> {
    static constexpr std::string_view table = "users";
    static constexpr auto primary_key = &User::id;
    static constexpr auto generated = &User::id; // bigint identity
    static constexpr auto created_at = &User::created_at;
    static constexpr auto updated_at = &User::updated_at;
};

namespace asio = boost::asio;

namespace {

using namespace bench;

constexpr std::string_view table_columns = "email, name, score, preferences, created_at, updated_at";
// The CSV's created_at and updated_at (the pgcoro modes let the server write now()).
constexpr std::string_view csv_timestamp = "2026-11-21 12:00:00+00";

// ---- options ------------------------------------------------------------------------------

struct options {
    std::string mode; // single | pipeline | copy | crossover | csv | psql-copy | psql-stdin
    std::string conninfo = conninfo_from_environment();
    std::size_t rows = 100'000;
    std::size_t warmup_rows = 1'000;
    std::vector<std::size_t> sizes{1, 10, 30, 100, 300, 1'000, 3'000, 10'000};
    std::size_t crossover_rows = 30'000;
    std::size_t min_reps = 7;
    std::size_t max_reps = 300;
    std::uint64_t seed = 0x5eed'1'05e7ULL;
    std::string csv;
    std::string psql = "/usr/lib/postgresql/15/bin/psql";
};

void usage()
{
    std::cerr
        << "usage: insert_bench --mode single|pipeline|copy [--rows N] [--warmup-rows W] [--conninfo DSN]\n"
           "       insert_bench --mode crossover [--sizes 1,10,...] [--crossover-rows R] [--min-reps A]\n"
           "                    [--max-reps B] [--conninfo DSN]\n"
           "       insert_bench --mode csv --rows N --csv FILE\n"
           "       insert_bench --mode psql-copy|psql-stdin --rows N --csv FILE [--psql PATH]\n"
           "                    [--conninfo DSN]\n"
           "conninfo defaults to $PGCORO_TEST_DSN.\n";
}

std::vector<std::size_t> parse_sizes(std::string_view flag, std::string_view text)
{
    std::vector<std::size_t> sizes;
    while (!text.empty()) {
        const std::size_t comma = text.find(',');
        sizes.push_back(parse_number<std::size_t>(flag, text.substr(0, comma)));
        if (sizes.back() == 0)
            fail(std::string(flag) + ": sizes must be positive");
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    }
    if (sizes.empty())
        fail(std::string(flag) + " is empty");
    return sizes;
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
        else if (flag == "--rows")
            o.rows = parse_number<std::size_t>(flag, value);
        else if (flag == "--warmup-rows")
            o.warmup_rows = parse_number<std::size_t>(flag, value);
        else if (flag == "--sizes")
            o.sizes = parse_sizes(flag, value);
        else if (flag == "--crossover-rows")
            o.crossover_rows = parse_number<std::size_t>(flag, value);
        else if (flag == "--min-reps")
            o.min_reps = parse_number<std::size_t>(flag, value);
        else if (flag == "--max-reps")
            o.max_reps = parse_number<std::size_t>(flag, value);
        else if (flag == "--seed")
            o.seed = parse_number<std::uint64_t>(flag, value);
        else if (flag == "--csv")
            o.csv = value;
        else if (flag == "--psql")
            o.psql = value;
        else
            fail("unknown option " + std::string(flag));
    }
    const bool psql_mode = o.mode == "psql-copy" || o.mode == "psql-stdin";
    if (o.mode != "single" && o.mode != "pipeline" && o.mode != "copy" && o.mode != "crossover" &&
        o.mode != "csv" && !psql_mode)
        fail("--mode must be single, pipeline, copy, crossover, csv, psql-copy or psql-stdin");
    if (o.mode != "csv" && o.conninfo.empty())
        fail("no --conninfo and no PGCORO_TEST_DSN");
    if (o.rows < 1)
        fail("--rows must be at least 1");
    if (o.min_reps < 1 || o.max_reps < o.min_reps)
        fail("--min-reps must be at least 1 and --max-reps at least --min-reps");
    if ((o.mode == "csv" || psql_mode) && o.csv.empty())
        fail("--mode " + o.mode + " needs --csv FILE");
    if (o.csv.find('\'') != std::string::npos)
        fail("--csv: the path must not contain a single quote (it goes into psql's \\copy)");
    return o;
}

// ---- the rows -----------------------------------------------------------------------------

/// What the table must add up to once the rows are in.
struct row_sums {
    std::int64_t count = 0;
    std::int64_t score = 0;
    std::int64_t visits = 0;
    std::int64_t email_length = 0;
    friend bool operator==(const row_sums&, const row_sums&) = default;
};

std::string describe(const row_sums& s)
{
    return "count " + std::to_string(s.count) + ", sum(score) " + std::to_string(s.score) + ", sum(visits) " +
           std::to_string(s.visits) + ", sum(octet_length(email)) " + std::to_string(s.email_length);
}

/// One of `choices`, uniformly.
template <std::size_t N> std::string_view pick(random_source& random, const std::string_view (&choices)[N])
{
    return choices[random.between(0, static_cast<std::int32_t>(N) - 1)];
}

/// `rows` users from a fixed seed: the same rows for every mode and every process.
std::vector<User> make_users(std::size_t rows, std::uint64_t seed)
{
    static constexpr std::string_view first_names[] = {"Ann",   "Bob",  "Carol", "Dmitri", "Eve",  "Fatima",
                                                       "Grace", "Hiro", "Ines",  "José",   "Kofi", "Lena",
                                                       "Mei",   "Nils", "Olga",  "Priya"};
    static constexpr std::string_view last_names[] = {"Smith",  "Müller",  "Okafor", "Tanaka",
                                                      "Rossi",  "Novak",   "Silva",  "Kowalski",
                                                      "Nguyen", "O'Brien", "Larsen", "Haddad"};
    static constexpr std::string_view themes[] = {"light", "dark", "system"};
    static constexpr std::string_view locales[] = {"en-GB", "de-DE", "fr-FR", "ja-JP", "pt-BR"};
    static constexpr std::string_view tags[] = {"beta", "admin", "newsletter", "trial", "vip"};
    random_source random(seed);
    std::vector<User> users;
    users.reserve(rows);
    for (std::size_t i = 0; i < rows; ++i) {
        User u;
        const std::string_view first = pick(random, first_names);
        const std::string_view last = pick(random, last_names);
        u.name.append(first).append(" ").append(last);
        // Unique (the column is): the row number makes it so.
        u.email.append("user").append(std::to_string(i)).append(".");
        for (char c : first)
            u.email.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
        u.email.append("@example.com");
        u.score = random.between(0, 1'000'000);
        boost::json::object prefs;
        prefs["theme"] = pick(random, themes);
        prefs["locale"] = pick(random, locales);
        prefs["newsletter"] = random.between(0, 1) == 1;
        prefs["visits"] = random.between(0, 5'000);
        boost::json::array user_tags;
        for (std::int32_t t = random.between(0, 2); t > 0; --t)
            user_tags.emplace_back(pick(random, tags));
        prefs["tags"] = std::move(user_tags);
        u.preferences = std::move(prefs);
        users.push_back(std::move(u));
    }
    return users;
}

row_sums sums_of(const std::vector<User>& users, std::size_t count)
{
    row_sums s;
    for (std::size_t i = 0; i < count; ++i) {
        const User& u = users[i];
        s.count += 1;
        s.score += u.score;
        s.visits += u.preferences.as_object().at("visits").to_number<std::int64_t>();
        s.email_length += static_cast<std::int64_t>(u.email.size());
    }
    return s;
}

/// One CSV field, quoted when it must be (RFC 4180; an empty string quoted, as PostgreSQL
/// reads an unquoted empty field as NULL).
void append_csv_field(std::string& out, std::string_view value)
{
    const bool quote = value.empty() || value.find_first_of(",\"\r\n") != std::string_view::npos ||
                       value.front() == ' ' || value.back() == ' ';
    if (!quote) {
        out.append(value);
        return;
    }
    out.push_back('"');
    for (char c : value) {
        if (c == '"')
            out.push_back('"');
        out.push_back(c);
    }
    out.push_back('"');
}

int write_csv(const options& o)
{
    const std::vector<User> users = make_users(o.rows, o.seed);
    std::string text;
    text.reserve(o.rows * 160);
    for (const User& u : users) {
        append_csv_field(text, u.email);
        text.push_back(',');
        append_csv_field(text, u.name);
        text.push_back(',');
        text.append(std::to_string(u.score));
        text.push_back(',');
        append_csv_field(text, boost::json::serialize(u.preferences));
        text.push_back(',');
        text.append(csv_timestamp);
        text.push_back(',');
        text.append(csv_timestamp);
        text.push_back('\n');
    }
    std::ofstream file(o.csv, std::ios::binary | std::ios::trunc);
    file.write(text.data(), static_cast<std::streamsize>(text.size()));
    file.close();
    if (!file)
        fail("cannot write " + o.csv);
    std::printf("RESULT mode=csv rows=%zu bytes=%zu\n", o.rows, text.size());
    return 0;
}

// ---- the schema -----------------------------------------------------------------------------

std::string schema_name()
{
    return "pgcoro_insert_bench_" + std::to_string(::getpid());
}

std::string qualified_table()
{
    return pgcoro::quote_identifier(schema_name()) + ".users";
}

/// The conninfo with search_path = schema_name() as a startup option (it survives the
/// pool's session reset).
std::string conninfo_with_schema(const std::string& base)
{
    if (base.find("://") != std::string::npos)
        return base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-c%20search_path%3D" +
               schema_name();
    return base + " options='-c search_path=" + schema_name() + "'";
}

std::string schema_ddl()
{
    const std::string schema = pgcoro::quote_identifier(schema_name());
    return "DROP SCHEMA IF EXISTS " + schema + " CASCADE; CREATE SCHEMA " + schema + "; CREATE TABLE " +
           qualified_table() +
           " (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, email text NOT NULL UNIQUE, "
           "name text NOT NULL, score integer NOT NULL, preferences jsonb NOT NULL, "
           "created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)";
}

pgcoro::pool_options pool_options_for(const options& o)
{
    pgcoro::pool_options po;
    po.conninfo = conninfo_with_schema(o.conninfo);
    po.pool_size = 1;
    po.max_overflow = 0;
    return po;
}

asio::awaitable<void> truncate_table(pgcoro::session& s)
{
    const std::string sql = "TRUNCATE " + qualified_table();
    co_await s.execute_script(sql);
}

/// What the table holds now; fails unless it is `expected`.
asio::awaitable<void> check_table(pgcoro::session& s, row_sums expected, std::string what)
{
    using sums_row = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
    const std::string sql = "SELECT count(*), coalesce(sum(score), 0)::int8, "
                            "coalesce(sum((preferences->>'visits')::int8), 0)::int8, "
                            "coalesce(sum(octet_length(email)), 0)::int8, "
                            "count(*) FILTER (WHERE created_at IS NULL OR updated_at IS NULL) FROM " +
                            qualified_table();
    const sums_row row = co_await s.query_one<sums_row>(sql);
    row_sums found;
    found.count = std::get<0>(row);
    found.score = std::get<1>(row);
    found.visits = std::get<2>(row);
    found.email_length = std::get<3>(row);
    if (found != expected || std::get<4>(row) != 0)
        fail(what + ": the table holds " + describe(found) + " (" + std::to_string(std::get<4>(row)) +
             " rows without timestamps); expected " + describe(expected));
}

/// A backend's CPU seconds (utime + stime from /proc/<pid>/stat), or -1 if unreadable.
double backend_cpu_seconds(std::int32_t pid)
{
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text;
    if (!stat || !std::getline(stat, text))
        return -1;
    // Fields after the command (which may hold spaces) start after the last ')'.
    const std::size_t close = text.rfind(')');
    if (close == std::string::npos)
        return -1;
    std::vector<std::string> fields;
    std::size_t at = close + 2;
    while (at < text.size() && fields.size() < 13) {
        const std::size_t space = text.find(' ', at);
        fields.push_back(text.substr(at, space - at));
        if (space == std::string::npos)
            break;
        at = space + 1;
    }
    if (fields.size() < 13) // state is field 3, utime 14, stime 15
        return -1;
    const double ticks = std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr);
    return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long peak_rss_kib()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

// ---- single, pipeline, copy ---------------------------------------------------------------

/// The rows stored by one mode; returns the rows the library reported stored.
asio::awaitable<std::uint64_t> store(pgcoro::session& s, const std::string& mode,
                                     const std::vector<User>& users)
{
    if (mode == "single") {
        pgcoro::transaction tx = co_await s.begin();
        std::uint64_t stored = 0;
        for (const User& u : users) {
            const User row = co_await tx.insert(u);
            if (row.id <= 0 || !row.created_at || !row.updated_at)
                fail("insert() returned a row without its id or timestamps");
            ++stored;
        }
        co_await tx.commit();
        co_return stored;
    }
    pgcoro::insert_many_options options;
    options.method = mode == "copy" ? pgcoro::insert_method::copy : pgcoro::insert_method::pipeline;
    const std::uint64_t stored = co_await s.insert_many(users, options);
    co_return stored;
}

struct store_result {
    measurement m;
    double server_cpu_seconds = -1;
    long peak_rss_growth_kib = 0;
    std::uint64_t allocations = 0;
};

asio::awaitable<void> store_body(pgcoro::pool& pool, const options& o, const std::vector<User>& users,
                                 const std::vector<User>& warmup, store_result& r)
{
    pgcoro::session s = co_await pool.session();
    const std::string ddl = schema_ddl();
    co_await s.execute_script(ddl);
    const std::int32_t backend = co_await s.scalar<std::int32_t>("SELECT pg_backend_pid()");

    // Warm-up: the same mode on fewer rows (prepares, loads the catalog caches), not timed.
    const std::uint64_t warmed = co_await store(s, o.mode, warmup);
    if (warmed != warmup.size())
        fail("the warm-up stored " + std::to_string(warmed) + " rows, not " + std::to_string(warmup.size()));
    const row_sums warmup_sums = sums_of(warmup, warmup.size());
    const std::string warmup_what = o.mode + " warm-up";
    co_await check_table(s, warmup_sums, warmup_what);
    co_await truncate_table(s);

    const long rss_before = peak_rss_kib();
    const double server_before = backend_cpu_seconds(backend);
    const std::uint64_t allocations_before = allocation_count.load(std::memory_order_relaxed);
    const snapshot begin = snapshot::take();
    const std::uint64_t stored = co_await store(s, o.mode, users);
    const snapshot end = snapshot::take(static_cast<long>(stored));
    r.allocations = allocation_count.load(std::memory_order_relaxed) - allocations_before;
    const double server_after = backend_cpu_seconds(backend);
    r.peak_rss_growth_kib = peak_rss_kib() - rss_before;
    r.m = difference(begin, end);
    if (server_before >= 0 && server_after >= 0)
        r.server_cpu_seconds = server_after - server_before;

    if (stored != users.size())
        fail(o.mode + " reported " + std::to_string(stored) + " rows stored, not " +
             std::to_string(users.size()));
    const row_sums expected = sums_of(users, users.size());
    co_await check_table(s, expected, o.mode);
    const std::string drop = "DROP SCHEMA " + pgcoro::quote_identifier(schema_name()) + " CASCADE";
    co_await s.execute_script(drop);
    s.release();
    co_await pool.close();
}

/// Drops the schema after a failure, on a connection of its own; errors are ignored.
asio::awaitable<void> drop_schema_quietly(pgcoro::pool& pool)
{
    try {
        pgcoro::session s = co_await pool.session();
        const std::string drop =
            "DROP SCHEMA IF EXISTS " + pgcoro::quote_identifier(schema_name()) + " CASCADE";
        co_await s.execute_script(drop);
    } catch (...) {
    }
    co_await pool.close();
}

void drop_schema_after_failure(const options& o)
{
    asio::io_context io(1);
    pgcoro::pool pool(io.get_executor(), pool_options_for(o));
    try {
        run_to_completion(io, 1, drop_schema_quietly(pool));
    } catch (...) {
    }
}

/// Runs `body` on a one-thread io_context with a one-connection pool; on failure drops the
/// schema before rethrowing.
template <class Body> void run_with_schema(const options& o, Body body)
{
    try {
        asio::io_context io(1);
        pgcoro::pool pool(io.get_executor(), pool_options_for(o));
        run_to_completion(io, 1, body(pool));
    } catch (...) {
        drop_schema_after_failure(o);
        throw;
    }
}

struct store_body_call {
    const options& o;
    const std::vector<User>& users;
    const std::vector<User>& warmup;
    store_result& r;
    asio::awaitable<void> operator()(pgcoro::pool& pool) const
    {
        return store_body(pool, o, users, warmup, r);
    }
};

int run_store(const options& o)
{
    const std::vector<User> users = make_users(o.rows, o.seed);
    // Other rows than the measured ones (another seed): the warm-up leaves nothing behind.
    const std::vector<User> warmup = make_users(std::min(o.warmup_rows, o.rows), o.seed + 1);
    store_result r;
    run_with_schema(o, store_body_call{o, users, warmup, r});
    const measurement& m = r.m;
    const double rows = static_cast<double>(o.rows);
    std::printf("RESULT mode=%s rows=%zu seconds=%.4f rows_per_second=%.0f cpu=%.4f user=%.4f sys=%.4f "
                "cpu_us_per_row=%.3f server_cpu=%.3f vcsw=%ld ivcsw=%ld peak_rss_kib=%ld allocations=%llu "
                "allocations_per_row=%.2f\n",
                o.mode.c_str(), o.rows, m.wall_seconds, rows / m.wall_seconds, m.user_seconds + m.sys_seconds,
                m.user_seconds, m.sys_seconds, (m.user_seconds + m.sys_seconds) * 1e6 / rows,
                r.server_cpu_seconds, m.voluntary_switches, m.involuntary_switches, r.peak_rss_growth_kib,
                static_cast<unsigned long long>(r.allocations), static_cast<double>(r.allocations) / rows);
    std::fflush(stdout);
    return 0;
}

// ---- crossover ------------------------------------------------------------------------------

double cpu_seconds_now()
{
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return seconds_of(u.ru_utime) + seconds_of(u.ru_stime);
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

struct timed_calls {
    std::vector<double> wall_us;
    double cpu_seconds = 0;
};

/// One insert_many of `rows` by `method`, timed; then counted and truncated, untimed.
asio::awaitable<void> timed_insert_many(pgcoro::session& s, std::span<const User> rows,
                                        pgcoro::insert_method method, row_sums expected, timed_calls& into)
{
    pgcoro::insert_many_options options;
    options.method = method;
    const double cpu_start = cpu_seconds_now();
    const steady::time_point start = steady::now();
    const std::uint64_t stored = co_await s.insert_many(rows, options);
    into.wall_us.push_back(std::chrono::duration<double, std::micro>(steady::now() - start).count());
    into.cpu_seconds += cpu_seconds_now() - cpu_start;
    if (stored != rows.size())
        fail("insert_many reported " + std::to_string(stored) + " rows stored, not " +
             std::to_string(rows.size()));
    const std::string what = "crossover, " + std::to_string(rows.size()) + " rows";
    co_await check_table(s, expected, what);
    co_await truncate_table(s);
}

asio::awaitable<void> crossover_body(pgcoro::pool& pool, const options& o, const std::vector<User>& users)
{
    pgcoro::session s = co_await pool.session();
    const std::string ddl = schema_ddl();
    co_await s.execute_script(ddl);
    for (std::size_t size : o.sizes) {
        const std::span<const User> rows(users.data(), size);
        const row_sums expected = sums_of(users, size);
        const std::size_t reps = std::clamp(o.crossover_rows / size, o.min_reps, o.max_reps);
        timed_calls pipeline;
        timed_calls copy;
        timed_calls unused;
        // Warm-up, not counted: both paths prepared, the table's pages in the cache.
        co_await timed_insert_many(s, rows, pgcoro::insert_method::pipeline, expected, unused);
        co_await timed_insert_many(s, rows, pgcoro::insert_method::copy, expected, unused);
        std::vector<double> ratios;
        for (std::size_t rep = 0; rep < reps; ++rep) {
            if (rep % 2 == 0) {
                co_await timed_insert_many(s, rows, pgcoro::insert_method::pipeline, expected, pipeline);
                co_await timed_insert_many(s, rows, pgcoro::insert_method::copy, expected, copy);
            } else {
                co_await timed_insert_many(s, rows, pgcoro::insert_method::copy, expected, copy);
                co_await timed_insert_many(s, rows, pgcoro::insert_method::pipeline, expected, pipeline);
            }
            ratios.push_back(copy.wall_us.back() / pipeline.wall_us.back());
        }
        const double n = static_cast<double>(reps);
        std::size_t copy_faster = 0;
        for (double r : ratios)
            copy_faster += r < 1 ? 1 : 0;
        std::printf(
            "RESULT mode=crossover size=%zu reps=%zu pipeline_us=%.1f pipeline_p25_us=%.1f "
            "pipeline_p75_us=%.1f copy_us=%.1f copy_p25_us=%.1f copy_p75_us=%.1f pipeline_cpu_us=%.1f "
            "copy_cpu_us=%.1f ratio=%.3f ratio_p25=%.3f ratio_p75=%.3f copy_faster=%.3f\n",
            size, reps, median(pipeline.wall_us), quantile(pipeline.wall_us, 0.25),
            quantile(pipeline.wall_us, 0.75), median(copy.wall_us), quantile(copy.wall_us, 0.25),
            quantile(copy.wall_us, 0.75), pipeline.cpu_seconds * 1e6 / n, copy.cpu_seconds * 1e6 / n,
            median(ratios), quantile(ratios, 0.25), quantile(ratios, 0.75),
            static_cast<double>(copy_faster) / n);
        std::fflush(stdout);
    }
    const std::string drop = "DROP SCHEMA " + pgcoro::quote_identifier(schema_name()) + " CASCADE";
    co_await s.execute_script(drop);
    s.release();
    co_await pool.close();
}

struct crossover_body_call {
    const options& o;
    const std::vector<User>& users;
    asio::awaitable<void> operator()(pgcoro::pool& pool) const { return crossover_body(pool, o, users); }
};

int run_crossover(const options& o)
{
    const std::vector<User> users = make_users(*std::max_element(o.sizes.begin(), o.sizes.end()), o.seed);
    run_with_schema(o, crossover_body_call{o, users});
    return 0;
}

// ---- psql ------------------------------------------------------------------------------------

/// psql's standard input from a file while a child runs (run_child's children inherit it);
/// restored on destruction.
class stdin_from_file {
public:
    explicit stdin_from_file(const std::string& path)
    {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            fail("cannot open " + path);
        saved_ = ::dup(STDIN_FILENO);
        ::dup2(fd, STDIN_FILENO);
        ::close(fd);
    }
    ~stdin_from_file()
    {
        if (saved_ >= 0) {
            ::dup2(saved_, STDIN_FILENO);
            ::close(saved_);
        }
    }
    stdin_from_file(const stdin_from_file&) = delete;
    stdin_from_file& operator=(const stdin_from_file&) = delete;

private:
    int saved_ = -1;
};

struct child_run {
    std::string output;
    double wall_seconds = 0;
    double user_seconds = 0;
    double sys_seconds = 0;
    double cpu_seconds() const noexcept { return user_seconds + sys_seconds; }
};

child_run run_timed(const std::vector<std::string>& args, const std::string& stdin_path)
{
    std::optional<stdin_from_file> redirect;
    if (!stdin_path.empty())
        redirect.emplace(stdin_path);
    const steady::time_point start = steady::now();
    child_output child = run_child(args, "insert_bench");
    child_run r;
    r.wall_seconds = std::chrono::duration<double>(steady::now() - start).count();
    r.user_seconds = seconds_of(child.usage.ru_utime);
    r.sys_seconds = seconds_of(child.usage.ru_stime);
    r.output = std::move(child.output);
    return r;
}

/// Runs one psql load of the CSV; fails unless it reports `rows` rows copied.
child_run psql_load(const options& o, bool from_stdin)
{
    std::vector<std::string> args = {o.psql, "-X", "-v", "ON_ERROR_STOP=1", "-d", o.conninfo, "-c"};
    const std::string target = qualified_table() + " (" + std::string(table_columns) + ")";
    if (from_stdin)
        args.push_back("COPY " + target + " FROM STDIN WITH (FORMAT csv)");
    else
        args.push_back("\\copy " + target + " FROM '" + o.csv + "' WITH (FORMAT csv)");
    child_run r = run_timed(args, from_stdin ? o.csv : std::string());
    const std::string expected = "COPY " + std::to_string(o.rows);
    if (r.output.find(expected) == std::string::npos) {
        std::cerr << r.output;
        fail("psql did not report " + expected);
    }
    return r;
}

struct psql_result {
    child_run timed;
    std::vector<double> startup_wall;
    std::vector<double> startup_cpu;
};

/// Set-up, checks and tear-down on a connection of the benchmark's own; psql (run as a
/// blocking child: nothing else runs on this io_context meanwhile) makes its own.
asio::awaitable<void> psql_body(pgcoro::pool& pool, const options& o, psql_result& r)
{
    const bool from_stdin = o.mode == "psql-stdin";
    const row_sums expected = sums_of(make_users(o.rows, o.seed), o.rows);
    pgcoro::session s = co_await pool.session();
    const std::string ddl = schema_ddl();
    co_await s.execute_script(ddl);

    // psql's start-up, connection (SCRAM) and exit around one trivial statement.
    const std::vector<std::string> empty_run = {o.psql, "-X",       "-v", "ON_ERROR_STOP=1",
                                                "-d",   o.conninfo, "-c", "SELECT 1"};
    for (int i = 0; i < 3; ++i) {
        const child_run startup = run_timed(empty_run, std::string());
        r.startup_wall.push_back(startup.wall_seconds);
        r.startup_cpu.push_back(startup.cpu_seconds());
    }
    // Warm-up, not counted: the file and psql in the page cache, the server's caches.
    psql_load(o, from_stdin);
    const std::string warmup_what = o.mode + " warm-up";
    co_await check_table(s, expected, warmup_what);
    co_await truncate_table(s);

    r.timed = psql_load(o, from_stdin);
    co_await check_table(s, expected, o.mode);
    const std::string drop = "DROP SCHEMA " + pgcoro::quote_identifier(schema_name()) + " CASCADE";
    co_await s.execute_script(drop);
    s.release();
    co_await pool.close();
}

struct psql_body_call {
    const options& o;
    psql_result& r;
    asio::awaitable<void> operator()(pgcoro::pool& pool) const { return psql_body(pool, o, r); }
};

int run_psql(const options& o)
{
    psql_result r;
    run_with_schema(o, psql_body_call{o, r});
    const child_run& timed = r.timed;
    const double rows = static_cast<double>(o.rows);
    const double startup = median(r.startup_wall);
    std::printf(
        "RESULT mode=%s rows=%zu seconds=%.4f rows_per_second=%.0f cpu=%.4f user=%.4f sys=%.4f "
        "cpu_us_per_row=%.3f startup_seconds=%.4f startup_cpu=%.4f rows_per_second_without_startup=%.0f\n",
        o.mode.c_str(), o.rows, timed.wall_seconds, rows / timed.wall_seconds, timed.cpu_seconds(),
        timed.user_seconds, timed.sys_seconds, timed.cpu_seconds() * 1e6 / rows, startup,
        median(r.startup_cpu), rows / std::max(1e-6, timed.wall_seconds - startup));
    std::fflush(stdout);
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        const options o = parse_options(argc, argv);
        if (o.mode == "csv")
            return write_csv(o);
        if (o.mode == "crossover")
            return run_crossover(o);
        if (o.mode == "psql-copy" || o.mode == "psql-stdin")
            return run_psql(o);
        return run_store(o);
    } catch (const std::exception& e) {
        std::cerr << "insert_bench: " << e.what() << "\n";
        return 1;
    }
}
