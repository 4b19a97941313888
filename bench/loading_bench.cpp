// Eager-loading and paging benchmark (issue 6): 1000 parents with 10 children each, loaded
// as one vector of parents each holding its children, by an N+1 loop, by selectin (chunked
// and in one statement), by a joined query, and by a hand-written LEFT JOIN decoded into
// tuples; the other direction (10,000 children each with its parent: belongs_to); and page
// 500 of 10,000 rows by offset and by keyset. bench/run_loading drives it; each mode prints
// RESULT lines.
//
//   loading_bench --mode loading [--parents N] [--children C] [--iterations I] [--warmup W]
//                 [--seed S] [--methods a,b,...] [--conninfo DSN]
//                 [--backend-cpu N] [--show-sql]
//   loading_bench --mode paging [--rows N] [--per-page P] [--page K] [--iterations I]
//                 [--warmup W] [--seed S] [--methods a,b,...] [--conninfo DSN]
//                 [--backend-cpu N] [--show-sql]
//
// --show-sql prints the statements each method sends in its first warm-up call (stderr).
// --backend-cpu N pins the connection's server backend (only it: not the postmaster, not
// other clients' backends) to CPU N with sched_setaffinity; bench/run_loading pins the client
// with taskset, for the same-CPU and split placements. A round trip costs about three times
// as much CPU when the two sit on different CPUs (bench/run measures the same), and
// unpinned the scheduler picks either, so N+1 times are bimodal.
//
// Each mode creates a schema of its own (pgcoro_loading_bench_<pid>: several may share a
// server), reached through search_path (a startup option in the conninfo, so the models
// name their tables unqualified), and drops it at the end. loading:
//
//   parents  (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
//             score integer NOT NULL, created_at timestamptz NOT NULL)
//   children (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
//             parent_id bigint NOT NULL REFERENCES parents, title text NOT NULL,
//             amount integer NOT NULL, created_at timestamptz NOT NULL)
//   CREATE INDEX ON children (parent_id)
//
// filled by generate_series (children inserted round-robin over the parents, so one
// parent's children are not next to each other on disk), then ANALYZEd. Methods (has_many,
// parents ordered by id, each parent's children by id):
//   n_plus_1         co_await s.list<Parent>(), then per parent, one after another,
//                    co_await s.list<Child>(col(&Child::parent_id) == p.id): 1 + N statements
//   selectin         s.all(select<Parent>().order_by(&Parent::id)
//                          .load(selectin(&Parent::children))): the parents, then one
//                    pipelined round trip of ANY($1) statements, 500 keys each (1 + 2)
//   selectin_chunk0  the same with .chunk(0): one ANY($1) statement with every key (1 + 1)
//   joined           .load(joined(&Parent::children)): one LEFT JOIN statement
//   raw_join         hand-written: s.query<std::tuple<...>>("SELECT p.*, c.* FROM parents p
//                    LEFT JOIN children c ... ORDER BY p.id, c.id"), grouped by hand
// and belongs_to (every child, ordered by id, with its parent):
//   bt_n_plus_1      co_await s.list<Child>(), then per child co_await s.get<Parent>(c.parent_id)
//   bt_selectin      s.all(select<Child>().order_by(&Child::id).load(selectin(&Child::parent)))
//                    (1000 distinct keys: 1 + 2 statements)
//   bt_joined        .load(joined(&Child::parent))
// Every call is checked: the parents in order, each with exactly C children of its own in
// order (or each child with its own parent), the sums of ids, amounts, scores and text
// lengths equal to the server's (computed once with SQL), and an order-sensitive
// fingerprint of every decoded field equal across the methods of a direction. A wrong one
// fails the run.
//
// paging: items (id bigint identity PRIMARY KEY, score integer NOT NULL, title text NOT
// NULL, created_at timestamptz NOT NULL), N rows, N / 20 score values of 20 rows each
// spread over the ids, index (score, id); the query select<Item>().order_by(&Item::score)
// (the library appends the primary key). Walks pages 1 .. K-1 by keyset once (untimed,
// every page checked) for the cursor and the boundary row of page K, then times each
// method at page 1 and page K:
//   offset_count     co_await s.page(query, n, P): LIMIT P+1 OFFSET (n-1)*P and the count,
//                    pipelined
//   offset           the same with page_options::count = false
//   keyset           co_await s.page(query, keyset(P)) / keyset(P).after(cursor)
//   raw_offset       hand-written SELECT ... ORDER BY score, id LIMIT $1 OFFSET $2
//   raw_keyset       hand-written SELECT ... WHERE (score, id) > ($1, $2) ORDER BY score,
//                    id LIMIT $3
// Every page is checked against the ids in (score, id) order, and has_next/has_prev, the
// cursors, total and pages against what they must be.
//
// Each method (or paging case) runs W untimed calls first (the statement cache prepared,
// the server's caches warm), then I timed calls, interleaved: iteration i runs them in an
// fresh random order (a generator seeded by --seed), so that no method always follows the
// same other one (what ran just before — its socket buffers, the server's caches — shows
// in a call's time). Per call: the wall time, the client's CPU time (getrusage
// RUSAGE_SELF: user + system of the whole process), the statements and round trips it sent
// (counted by the query-log hook, pool_options::on_query: every statement one event; the
// statements of one pipeline, reported one event each with the batch's size, one round
// trip together) and the time inside them (the events' durations, from sending a statement
// to its last result: the rest of the wall time is the client's own work). The server
// backend's CPU (/proc/<pid>/sched's se.sum_exec_runtime, or /proc/<pid>/stat's 10 ms
// ticks where the kernel lacks the former) is summed over the timed calls. One RESULT line per method:
// medians, quartiles and extremes of the calls.
//
// conninfo defaults to $PGCORO_TEST_DSN.

#include "asio_support.hpp"

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/describe/class.hpp>

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

// ---- the models -------------------------------------------------------------------------------

struct Parent;

struct Child {
    std::int64_t id = 0;
    std::int64_t parent_id = 0;
    std::string title;
    std::int32_t amount = 0;
    std::optional<pgcoro::timestamp> created_at;
    pgcoro::related<std::shared_ptr<Parent>> parent; // belongs_to
};
BOOST_DESCRIBE_STRUCT(Child, (), (id, parent_id, title, amount, created_at, parent))

struct Parent {
    std::int64_t id = 0;
    std::string name;
    std::int32_t score = 0;
    std::optional<pgcoro::timestamp> created_at;
    pgcoro::related<std::vector<Child>> children; // has_many
};
BOOST_DESCRIBE_STRUCT(Parent, (), (id, name, score, created_at, children))

template <> struct pgcoro::model_traits<Parent> {
    static constexpr std::string_view table = "parents";
    static constexpr auto primary_key = &Parent::id;
    static constexpr auto generated = &Parent::id;
    static constexpr auto created_at = &Parent::created_at;
    static constexpr auto relations = std::tuple{pgcoro::has_many(&Parent::children, &Child::parent_id)};
};

template <> struct pgcoro::model_traits<Child> {
    static constexpr std::string_view table = "children";
    static constexpr auto primary_key = &Child::id;
    static constexpr auto generated = &Child::id;
    static constexpr auto created_at = &Child::created_at;
    static constexpr auto relations = std::tuple{pgcoro::belongs_to(&Child::parent, &Child::parent_id)};
};

/// The paged table.
struct Item {
    std::int64_t id = 0;
    std::int32_t score = 0;
    std::string title;
    std::optional<pgcoro::timestamp> created_at;
};
BOOST_DESCRIBE_STRUCT(Item, (), (id, score, title, created_at))

template <> struct pgcoro::model_traits<Item> {
    static constexpr std::string_view table = "items";
    static constexpr auto primary_key = &Item::id;
    static constexpr auto generated = &Item::id;
    static constexpr auto created_at = &Item::created_at;
};

namespace asio = boost::asio;

namespace {

using namespace bench;
using pgcoro::col;

// ---- options ----------------------------------------------------------------------------------

const std::vector<std::string> all_methods = {"n_plus_1", "selectin",    "selectin_chunk0", "joined",
                                              "raw_join", "bt_n_plus_1", "bt_selectin",     "bt_joined"};

const std::vector<std::string> all_paging_methods = {"offset_count", "offset", "keyset", "raw_offset",
                                                     "raw_keyset"};

struct options {
    std::string mode; // loading | paging
    std::string conninfo = conninfo_from_environment();
    std::int64_t parents = 1'000;
    std::int64_t children = 10; // per parent
    std::size_t iterations = 0; // 0: 15 for loading, 200 for paging
    std::size_t warmup = 2;
    std::uint64_t seed = 1; // of the order of the calls (bench/run_loading: the run number)
    std::vector<std::string> methods;
    std::int64_t rows = 10'000; // paging
    std::int64_t per_page = 20;
    std::int64_t page = 500;
    bool show_sql = false;          // print the statements of each method's first warm-up call
    std::optional<int> backend_cpu; // pin this process's server backend to that CPU
};

void usage()
{
    std::cerr << "usage: loading_bench --mode loading [--parents N] [--children C] [--iterations I]\n"
                 "                     [--warmup W] [--seed S] [--methods a,b,...] [--conninfo DSN]\n"
                 "                     [--backend-cpu N] [--show-sql]\n"
                 "       loading_bench --mode paging [--rows N] [--per-page P] [--page K] [--iterations I]\n"
                 "                     [--warmup W] [--seed S] [--methods a,b,...] [--conninfo DSN]\n"
                 "                     [--backend-cpu N] [--show-sql]\n"
                 "loading methods: n_plus_1 selectin selectin_chunk0 joined raw_join bt_n_plus_1\n"
                 "                 bt_selectin bt_joined (default: all)\n"
                 "paging methods:  offset_count offset keyset raw_offset raw_keyset (default: all)\n"
                 "--backend-cpu pins this process's server backend to CPU N (pin the client with taskset).\n"
                 "--show-sql prints the statements of each method's first warm-up call to stderr.\n"
                 "conninfo defaults to $PGCORO_TEST_DSN.\n";
}

std::vector<std::string> parse_methods(std::string_view text, const std::vector<std::string>& known)
{
    std::vector<std::string> methods;
    while (!text.empty()) {
        const std::size_t comma = text.find(',');
        std::string method(text.substr(0, comma));
        if (std::find(known.begin(), known.end(), method) == known.end())
            fail("unknown method '" + method + "'");
        methods.push_back(std::move(method));
        text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    }
    if (methods.empty())
        fail("--methods is empty");
    return methods;
}

options parse_options(int argc, char** argv)
{
    options o;
    std::string_view methods;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            usage();
            std::exit(0);
        }
        if (flag == "--show-sql") {
            o.show_sql = true;
            continue;
        }
        std::string_view value = option_value(argc, argv, i);
        if (flag == "--mode")
            o.mode = value;
        else if (flag == "--conninfo")
            o.conninfo = value;
        else if (flag == "--parents")
            o.parents = parse_number<std::int64_t>(flag, value);
        else if (flag == "--children")
            o.children = parse_number<std::int64_t>(flag, value);
        else if (flag == "--iterations")
            o.iterations = parse_number<std::size_t>(flag, value);
        else if (flag == "--warmup")
            o.warmup = parse_number<std::size_t>(flag, value);
        else if (flag == "--backend-cpu")
            o.backend_cpu = parse_number<int>(flag, value);
        else if (flag == "--seed")
            o.seed = parse_number<std::uint64_t>(flag, value);
        else if (flag == "--methods")
            methods = value;
        else if (flag == "--rows")
            o.rows = parse_number<std::int64_t>(flag, value);
        else if (flag == "--per-page")
            o.per_page = parse_number<std::int64_t>(flag, value);
        else if (flag == "--page")
            o.page = parse_number<std::int64_t>(flag, value);
        else
            fail("unknown option " + std::string(flag));
    }
    if (o.mode != "loading" && o.mode != "paging")
        fail("--mode must be loading or paging");
    const std::vector<std::string>& known = o.mode == "loading" ? all_methods : all_paging_methods;
    o.methods = methods.empty() ? known : parse_methods(methods, known);
    if (o.iterations == 0)
        o.iterations = o.mode == "loading" ? 15 : 200;
    if (o.mode == "paging" && (o.per_page < 1 || o.page < 2 || (o.page - 1) * o.per_page >= o.rows))
        fail("--page must be at least 2 and start before row --rows");
    if (o.conninfo.empty())
        fail("no --conninfo and no PGCORO_TEST_DSN");
    if (o.parents < 1 || o.children < 1)
        fail("--parents and --children must be at least 1");
    return o;
}

// ---- the schema -------------------------------------------------------------------------------

std::string schema_name()
{
    return "pgcoro_loading_bench_" + std::to_string(::getpid());
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

/// `text` with every `{name}` replaced by its value.
std::string substitute(std::string text, const std::vector<std::pair<std::string, std::string>>& values)
{
    for (const auto& [name, value] : values)
        for (std::size_t at = text.find(name); at != std::string::npos;
             at = text.find(name, at + value.size()))
            text.replace(at, name.size(), value);
    return text;
}

/// The tables and their rows. Children go in round-robin over the parents (child c of
/// every parent before child c + 1 of any), as rows written over time would be.
std::string loading_ddl(const options& o)
{
    constexpr std::string_view ddl = R"sql(
DROP SCHEMA IF EXISTS {schema} CASCADE;
CREATE SCHEMA {schema};
SET search_path = {schema};
CREATE TABLE parents (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL,
    score integer NOT NULL, created_at timestamptz NOT NULL);
CREATE TABLE children (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id bigint NOT NULL REFERENCES parents (id), title text NOT NULL,
    amount integer NOT NULL, created_at timestamptz NOT NULL);
CREATE INDEX children_parent_id ON children (parent_id);
INSERT INTO parents (name, score, created_at)
    SELECT 'parent ' || g, (g * 7919) % 1000, timestamptz '2026-01-01 00:00:00+00' + g * interval '1 minute'
    FROM generate_series(1, {parents}) AS g ORDER BY g;
INSERT INTO children (parent_id, title, amount, created_at)
    SELECT p, 'child ' || c || ' of parent ' || p, (p * 31 + c * 17) % 10000,
           timestamptz '2026-02-01 00:00:00+00' + (c * {parents} + p) * interval '1 second'
    FROM generate_series(1, {children}) AS c, generate_series(1, {parents}) AS p ORDER BY c, p;
ANALYZE parents;
ANALYZE children;
)sql";
    return substitute(std::string(ddl), {{"{schema}", pgcoro::quote_identifier(schema_name())},
                                         {"{parents}", std::to_string(o.parents)},
                                         {"{children}", std::to_string(o.children)}});
}

pgcoro::pool_options pool_options_for(const options& o)
{
    pgcoro::pool_options po;
    po.conninfo = conninfo_with_schema(o.conninfo);
    po.pool_size = 1;
    po.max_overflow = 0;
    return po;
}

// ---- statement counting -----------------------------------------------------------------------

/// What the query-log hook saw: statements, and round trips (a pipeline's statements arrive
/// as one event each, with the batch's size: together one round trip). Written by the hook
/// on the connection's thread, read between calls by the benchmark's coroutine (the same
/// thread here: relaxed atomics only keep it honest if that changes).
struct statement_counter {
    std::atomic<std::uint64_t> statements{0};
    std::atomic<std::uint64_t> pipeline_trips{0};   // pipelines: one round trip each
    std::atomic<std::uint64_t> single_trips{0};     // statements sent on their own
    std::atomic<std::uint64_t> pending_in_batch{0}; // events still to come of the current pipeline
    std::atomic<std::int64_t> statement_ns{0};      // send to last result, a pipeline's once
    std::atomic<bool> show_sql{false};              // --show-sql: each statement to stderr

    void record(const pgcoro::query_event& e)
    {
        statements.fetch_add(1, std::memory_order_relaxed);
        if (show_sql.load(std::memory_order_relaxed))
            std::fprintf(stderr, "  [%s%s, %.3f ms, %llu rows] %.*s\n",
                         e.type == pgcoro::query_event::kind::pipeline ? "pipeline of " : "statement",
                         e.type == pgcoro::query_event::kind::pipeline ? std::to_string(e.batch_size).c_str()
                                                                       : "",
                         std::chrono::duration<double, std::milli>(e.duration).count(),
                         static_cast<unsigned long long>(e.rows),
                         static_cast<int>(std::min<std::size_t>(e.sql.size(), 300)), e.sql.data());
        if (e.type == pgcoro::query_event::kind::pipeline && e.batch_size > 0) {
            // The events of one batch come one after another: the first of each opens a trip.
            if (pending_in_batch.load(std::memory_order_relaxed) == 0) {
                pipeline_trips.fetch_add(1, std::memory_order_relaxed);
                pending_in_batch.store(e.batch_size, std::memory_order_relaxed);
                statement_ns.fetch_add(e.duration.count(), std::memory_order_relaxed); // the batch's time
            }
            pending_in_batch.fetch_sub(1, std::memory_order_relaxed);
        } else {
            single_trips.fetch_add(1, std::memory_order_relaxed);
            statement_ns.fetch_add(e.duration.count(), std::memory_order_relaxed);
        }
    }
    std::uint64_t round_trips() const
    {
        return single_trips.load(std::memory_order_relaxed) + pipeline_trips.load(std::memory_order_relaxed);
    }
};

// ---- measurement helpers ----------------------------------------------------------------------

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

/// A backend's CPU time so far.
struct backend_cpu {
    double seconds = -1; ///< -1: unreadable
    bool precise = false;
};

double ticks_of(std::int32_t pid);

/// The scheduler's own count (se.sum_exec_runtime in /proc/<pid>/sched, in ms to the ns, on
/// kernels with CONFIG_SCHED_DEBUG), else utime + stime from /proc/<pid>/stat (10 ms ticks).
backend_cpu backend_cpu_of(std::int32_t pid)
{
    backend_cpu cpu;
    {
        std::ifstream sched("/proc/" + std::to_string(pid) + "/sched");
        std::string line;
        while (sched && std::getline(sched, line))
            if (line.rfind("se.sum_exec_runtime", 0) == 0) {
                const std::size_t colon = line.find(':');
                if (colon == std::string::npos)
                    break;
                cpu.precise = true;
                cpu.seconds = std::strtod(line.c_str() + colon + 1, nullptr) / 1e3;
                return cpu;
            }
    }
    cpu.seconds = ticks_of(pid);
    return cpu;
}

/// utime + stime from /proc/<pid>/stat in seconds, or -1.
double ticks_of(std::int32_t pid)
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

/// --backend-cpu: pins the backend `pid` to that CPU; fails if it is not a local postgres
/// process or cannot be pinned (neither root nor the server's user, or no such CPU).
void pin_backend(std::int32_t pid, const options& o)
{
    if (!o.backend_cpu)
        return;
    // A pid from a server on another host would name some unrelated local process.
    std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
    std::string name;
    if (!comm || !std::getline(comm, name) || name != "postgres")
        fail("--backend-cpu: process " + std::to_string(pid) + " is not a local postgres backend");
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(*o.backend_cpu, &set);
    if (sched_setaffinity(pid, sizeof set, &set) != 0)
        fail("cannot pin the backend " + std::to_string(pid) + " to CPU " + std::to_string(*o.backend_cpu) +
             ": " + std::strerror(errno));
}

// ---- checking what a method loaded ------------------------------------------------------------

/// FNV-1a over every decoded field, in order: two methods that loaded the same rows in the
/// same order (and attached them to the same owners) agree.
class fingerprint {
public:
    void add(std::string_view bytes)
    {
        for (unsigned char c : bytes) {
            hash_ ^= c;
            hash_ *= 0x100000001b3ULL;
        }
    }
    void add(std::int64_t value)
    {
        add(std::string_view(reinterpret_cast<const char*>(&value), sizeof value));
    }
    void add(const std::optional<pgcoro::timestamp>& t)
    {
        add(static_cast<std::int64_t>(t ? t->time_since_epoch().count() : -1));
    }
    std::uint64_t value() const noexcept { return hash_; }

private:
    std::uint64_t hash_ = 0xcbf29ce484222325ULL;
};

/// What the tables add up to (from the server, once) and what a method loaded.
struct totals {
    std::int64_t parents = 0;
    std::int64_t children = 0;
    std::int64_t parent_ids = 0;
    std::int64_t child_ids = 0;
    std::int64_t scores = 0;
    std::int64_t amounts = 0;
    std::int64_t text_bytes = 0; // names and titles
    friend bool operator==(const totals&, const totals&) = default;
};

std::string describe(const totals& t)
{
    return std::to_string(t.parents) + " parents, " + std::to_string(t.children) +
           " children, sum(parent id) " + std::to_string(t.parent_ids) + ", sum(child id) " +
           std::to_string(t.child_ids) + ", sum(score) " + std::to_string(t.scores) + ", sum(amount) " +
           std::to_string(t.amounts) + ", text bytes " + std::to_string(t.text_bytes);
}

/// The totals of the has_many direction (each child once, each parent once) and of the
/// belongs_to direction (each child once, its parent's score and name once per child).
struct expected_totals {
    totals has_many;
    totals belongs_to;
};

asio::awaitable<expected_totals> server_totals(pgcoro::session& s)
{
    using row = std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                           std::int64_t, std::int64_t, std::int64_t, std::int64_t>;
    const std::string sql =
        "SELECT (SELECT count(*) FROM parents), (SELECT count(*) FROM children),"
        " (SELECT sum(id)::int8 FROM parents), (SELECT sum(id)::int8 FROM children),"
        " (SELECT sum(score)::int8 FROM parents), (SELECT sum(amount)::int8 FROM children),"
        " (SELECT sum(octet_length(name))::int8 FROM parents) + (SELECT sum(octet_length(title))::int8 FROM "
        "children),"
        " (SELECT sum(p.id)::int8 FROM children c JOIN parents p ON p.id = c.parent_id),"
        " (SELECT sum(p.score)::int8 FROM children c JOIN parents p ON p.id = c.parent_id),"
        " (SELECT sum(octet_length(p.name) + octet_length(c.title))::int8 FROM children c JOIN parents p ON"
        " p.id = c.parent_id)";
    const row r = co_await s.query_one<row>(sql);
    expected_totals e;
    e.has_many.parents = std::get<0>(r);
    e.has_many.children = std::get<1>(r);
    e.has_many.parent_ids = std::get<2>(r);
    e.has_many.child_ids = std::get<3>(r);
    e.has_many.scores = std::get<4>(r);
    e.has_many.amounts = std::get<5>(r);
    e.has_many.text_bytes = std::get<6>(r);
    e.belongs_to = e.has_many;
    e.belongs_to.parents = e.has_many.children; // one parent attached per child
    e.belongs_to.parent_ids = std::get<7>(r);
    e.belongs_to.scores = std::get<8>(r);
    e.belongs_to.text_bytes = std::get<9>(r);
    co_return e;
}

/// Checks parents-with-children; returns the fingerprint.
std::uint64_t check_parents(const std::vector<Parent>& parents, const options& o, const totals& expected,
                            const std::string& method)
{
    if (static_cast<std::int64_t>(parents.size()) != o.parents)
        fail(method + ": loaded " + std::to_string(parents.size()) + " parents, not " +
             std::to_string(o.parents));
    totals found;
    fingerprint f;
    std::int64_t previous_parent = 0;
    for (const Parent& p : parents) {
        if (p.id <= previous_parent)
            fail(method + ": parents out of order (" + std::to_string(p.id) + " after " +
                 std::to_string(previous_parent) + ")");
        previous_parent = p.id;
        if (!p.children.loaded())
            fail(method + ": parent " + std::to_string(p.id) + " has no children loaded");
        const std::vector<Child>& children = *p.children;
        if (static_cast<std::int64_t>(children.size()) != o.children)
            fail(method + ": parent " + std::to_string(p.id) + " has " + std::to_string(children.size()) +
                 " children, not " + std::to_string(o.children));
        found.parents += 1;
        found.parent_ids += p.id;
        found.scores += p.score;
        found.text_bytes += static_cast<std::int64_t>(p.name.size());
        f.add(p.id);
        f.add(p.name);
        f.add(p.score);
        f.add(p.created_at);
        std::int64_t previous_child = 0;
        for (const Child& c : children) {
            if (c.parent_id != p.id)
                fail(method + ": child " + std::to_string(c.id) + " of parent " +
                     std::to_string(c.parent_id) + " attached to parent " + std::to_string(p.id));
            if (c.id <= previous_child)
                fail(method + ": the children of parent " + std::to_string(p.id) + " are out of order");
            previous_child = c.id;
            found.children += 1;
            found.child_ids += c.id;
            found.amounts += c.amount;
            found.text_bytes += static_cast<std::int64_t>(c.title.size());
            f.add(c.id);
            f.add(c.parent_id);
            f.add(c.title);
            f.add(c.amount);
            f.add(c.created_at);
        }
    }
    if (found != expected)
        fail(method + ": loaded " + describe(found) + "; the tables hold " + describe(expected));
    return f.value();
}

/// Checks children-with-parents; returns the fingerprint.
std::uint64_t check_children(const std::vector<Child>& children, const options& o, const totals& expected,
                             const std::string& method)
{
    if (static_cast<std::int64_t>(children.size()) != o.parents * o.children)
        fail(method + ": loaded " + std::to_string(children.size()) + " children, not " +
             std::to_string(o.parents * o.children));
    totals found;
    fingerprint f;
    std::int64_t previous = 0;
    for (const Child& c : children) {
        if (c.id <= previous)
            fail(method + ": children out of order");
        previous = c.id;
        if (!c.parent.loaded() || !*c.parent)
            fail(method + ": child " + std::to_string(c.id) + " has no parent loaded");
        const Parent& p = **c.parent;
        if (p.id != c.parent_id)
            fail(method + ": child " + std::to_string(c.id) + " of parent " + std::to_string(c.parent_id) +
                 " holds parent " + std::to_string(p.id));
        found.parents += 1;
        found.children += 1;
        found.parent_ids += p.id;
        found.child_ids += c.id;
        found.scores += p.score;
        found.amounts += c.amount;
        found.text_bytes += static_cast<std::int64_t>(p.name.size() + c.title.size());
        f.add(c.id);
        f.add(c.parent_id);
        f.add(c.title);
        f.add(c.amount);
        f.add(c.created_at);
        f.add(p.id);
        f.add(p.name);
        f.add(p.score);
        f.add(p.created_at);
    }
    if (found != expected)
        fail(method + ": loaded " + describe(found) + "; the tables hold " + describe(expected));
    return f.value();
}

// ---- the methods ------------------------------------------------------------------------------

asio::awaitable<std::vector<Parent>> load_n_plus_1(pgcoro::session& s)
{
    std::vector<Parent> parents = co_await s.list<Parent>();
    for (Parent& p : parents) {
        const pgcoro::predicate mine = col(&Child::parent_id) == p.id;
        auto op = s.list<Child>(mine);
        std::vector<Child> children = co_await std::move(op);
        p.children.set(std::move(children));
    }
    co_return parents;
}

asio::awaitable<std::vector<Parent>> load_selectin(pgcoro::session& s, std::optional<std::size_t> chunk)
{
    auto loader = pgcoro::selectin(&Parent::children);
    if (chunk)
        loader = loader.chunk(*chunk);
    const auto query = pgcoro::select<Parent>().order_by(&Parent::id).load(loader);
    std::vector<Parent> parents = co_await s.all(query);
    co_return parents;
}

asio::awaitable<std::vector<Parent>> load_joined(pgcoro::session& s)
{
    const auto query = pgcoro::select<Parent>().order_by(&Parent::id).load(pgcoro::joined(&Parent::children));
    std::vector<Parent> parents = co_await s.all(query);
    co_return parents;
}

/// The baseline: the same LEFT JOIN written by hand, decoded into tuples and grouped.
asio::awaitable<std::vector<Parent>> load_raw_join(pgcoro::session& s)
{
    using joined_row =
        std::tuple<std::int64_t, std::string, std::int32_t, pgcoro::timestamp, std::optional<std::int64_t>,
                   std::optional<std::int64_t>, std::optional<std::string>, std::optional<std::int32_t>,
                   std::optional<pgcoro::timestamp>>;
    const std::string sql =
        "SELECT p.id, p.name, p.score, p.created_at, c.id, c.parent_id, c.title, c.amount, "
        "c.created_at FROM parents p LEFT JOIN children c ON c.parent_id = p.id "
        "ORDER BY p.id, c.id";
    std::vector<joined_row> rows = co_await s.query<joined_row>(sql);
    std::vector<Parent> parents;
    for (joined_row& r : rows) {
        if (parents.empty() || parents.back().id != std::get<0>(r)) {
            Parent p;
            p.id = std::get<0>(r);
            p.name = std::move(std::get<1>(r));
            p.score = std::get<2>(r);
            p.created_at = std::get<3>(r);
            p.children.set({});
            parents.push_back(std::move(p));
        }
        if (!std::get<4>(r))
            continue; // a parent without children
        Child c;
        c.id = *std::get<4>(r);
        c.parent_id = *std::get<5>(r);
        c.title = std::move(*std::get<6>(r));
        c.amount = *std::get<7>(r);
        c.created_at = std::get<8>(r);
        parents.back().children->push_back(std::move(c));
    }
    co_return parents;
}

asio::awaitable<std::vector<Child>> load_bt_n_plus_1(pgcoro::session& s)
{
    std::vector<Child> children = co_await s.list<Child>();
    for (Child& c : children) {
        auto op = s.get<Parent>(c.parent_id);
        std::optional<Parent> parent = co_await std::move(op);
        if (parent)
            c.parent.set(std::make_shared<Parent>(std::move(*parent)));
        else
            c.parent.set(nullptr);
    }
    co_return children;
}

asio::awaitable<std::vector<Child>> load_bt_selectin(pgcoro::session& s)
{
    const auto query = pgcoro::select<Child>().order_by(&Child::id).load(pgcoro::selectin(&Child::parent));
    std::vector<Child> children = co_await s.all(query);
    co_return children;
}

asio::awaitable<std::vector<Child>> load_bt_joined(pgcoro::session& s)
{
    const auto query = pgcoro::select<Child>().order_by(&Child::id).load(pgcoro::joined(&Child::parent));
    std::vector<Child> children = co_await s.all(query);
    co_return children;
}

bool is_belongs_to(const std::string& method)
{
    return method.rfind("bt_", 0) == 0;
}

/// One call of `method`, checked; returns its fingerprint. The timed part is the loading
/// call alone (the check comes after the clock stops).
struct call_result {
    double wall_us = 0;
    double cpu_us = 0;
    std::uint64_t statements = 0;
    std::uint64_t round_trips = 0;
    double statement_us = 0; // in the statements: from sending each to its last result (query log)
    std::uint64_t fingerprint = 0;
};

asio::awaitable<std::vector<Parent>> load_parents(pgcoro::session& s, const std::string& method)
{
    std::vector<Parent> parents;
    if (method == "n_plus_1") {
        auto op = load_n_plus_1(s);
        parents = co_await std::move(op);
    } else if (method == "selectin") {
        const std::optional<std::size_t> default_chunk;
        auto op = load_selectin(s, default_chunk);
        parents = co_await std::move(op);
    } else if (method == "selectin_chunk0") {
        const std::optional<std::size_t> one_statement = 0;
        auto op = load_selectin(s, one_statement);
        parents = co_await std::move(op);
    } else if (method == "joined") {
        auto op = load_joined(s);
        parents = co_await std::move(op);
    } else {
        auto op = load_raw_join(s);
        parents = co_await std::move(op);
    }
    co_return parents;
}

asio::awaitable<std::vector<Child>> load_children(pgcoro::session& s, const std::string& method)
{
    std::vector<Child> children;
    if (method == "bt_n_plus_1") {
        auto op = load_bt_n_plus_1(s);
        children = co_await std::move(op);
    } else if (method == "bt_selectin") {
        auto op = load_bt_selectin(s);
        children = co_await std::move(op);
    } else {
        auto op = load_bt_joined(s);
        children = co_await std::move(op);
    }
    co_return children;
}

asio::awaitable<call_result> run_method(pgcoro::session& s, statement_counter& counter, const options& o,
                                        const expected_totals& expected, const std::string& method)
{
    call_result r;
    const std::uint64_t statements_before = counter.statements.load();
    const std::uint64_t trips_before = counter.round_trips();
    const std::int64_t statement_ns_before = counter.statement_ns.load();
    if (is_belongs_to(method)) {
        const double cpu_start = cpu_seconds_now();
        const steady::time_point start = steady::now();
        auto op = load_children(s, method);
        std::vector<Child> children = co_await std::move(op);
        r.wall_us = std::chrono::duration<double, std::micro>(steady::now() - start).count();
        r.cpu_us = (cpu_seconds_now() - cpu_start) * 1e6;
        r.fingerprint = check_children(children, o, expected.belongs_to, method);
    } else {
        const double cpu_start = cpu_seconds_now();
        const steady::time_point start = steady::now();
        auto op = load_parents(s, method);
        std::vector<Parent> parents = co_await std::move(op);
        r.wall_us = std::chrono::duration<double, std::micro>(steady::now() - start).count();
        r.cpu_us = (cpu_seconds_now() - cpu_start) * 1e6;
        r.fingerprint = check_parents(parents, o, expected.has_many, method);
    }
    r.statements = counter.statements.load() - statements_before;
    r.round_trips = counter.round_trips() - trips_before;
    r.statement_us = static_cast<double>(counter.statement_ns.load() - statement_ns_before) / 1e3;
    co_return r;
}

/// What the timed calls of one method (or paging case) gave.
struct method_record {
    std::vector<double> wall_us;
    std::vector<double> cpu_us;
    std::vector<double> statement_us;
    double server_cpu_seconds = 0;
    bool server_cpu_known = true;
    bool server_cpu_precise = true;
    std::uint64_t statements = 0;
    std::uint64_t round_trips = 0;
    std::uint64_t fingerprint = 0;
};

/// Adds one timed call to `rec`; fails if its statement or round-trip count differs from the
/// earlier calls' (a statement prepared late, a pipeline split).
void record_call(method_record& rec, const std::string& name, const call_result& r, backend_cpu server_before,
                 backend_cpu server_after)
{
    rec.wall_us.push_back(r.wall_us);
    rec.cpu_us.push_back(r.cpu_us);
    rec.statement_us.push_back(r.statement_us);
    if (server_before.seconds < 0 || server_after.seconds < 0)
        rec.server_cpu_known = false;
    else
        rec.server_cpu_seconds += server_after.seconds - server_before.seconds;
    rec.server_cpu_precise = rec.server_cpu_precise && server_before.precise && server_after.precise;
    if (rec.wall_us.size() > 1 && (r.statements != rec.statements || r.round_trips != rec.round_trips))
        fail(name + ": " + std::to_string(r.statements) + " statements in " + std::to_string(r.round_trips) +
             " round trips, earlier " + std::to_string(rec.statements) + " in " +
             std::to_string(rec.round_trips));
    rec.statements = r.statements;
    rec.round_trips = r.round_trips;
}

/// The figures every RESULT line carries: statements, round trips, the wall time's median,
/// quartiles and extremes, the client CPU's median and mean, the median time inside the
/// statements (the query log's durations: from sending each to its last result, a
/// pipeline's once; the rest of the wall time is the library's own work on the client),
/// the backend's mean CPU.
std::string figures_of(const method_record& rec)
{
    const double n = static_cast<double>(rec.wall_us.size());
    double cpu_sum = 0;
    for (double v : rec.cpu_us)
        cpu_sum += v;
    const std::string server_cpu_ms =
        rec.server_cpu_known ? std::to_string(rec.server_cpu_seconds * 1e3 / n) : std::string("n/a");
    char text[512];
    std::snprintf(
        text, sizeof text,
        "iterations=%zu statements=%llu round_trips=%llu ms=%.4f ms_p25=%.4f ms_p75=%.4f ms_min=%.4f "
        "ms_max=%.4f cpu_ms=%.4f cpu_ms_mean=%.4f statement_ms=%.4f server_cpu_ms=%s server_cpu_clock=%s",
        rec.wall_us.size(), static_cast<unsigned long long>(rec.statements),
        static_cast<unsigned long long>(rec.round_trips), median(rec.wall_us) / 1e3,
        quantile(rec.wall_us, 0.25) / 1e3, quantile(rec.wall_us, 0.75) / 1e3, quantile(rec.wall_us, 0) / 1e3,
        quantile(rec.wall_us, 1) / 1e3, median(rec.cpu_us) / 1e3, cpu_sum / n / 1e3,
        median(rec.statement_us) / 1e3, server_cpu_ms.c_str(), rec.server_cpu_precise ? "sched" : "ticks");
    return text;
}

/// 0 .. n-1 in a random order.
std::vector<std::size_t> shuffled(std::size_t n, std::mt19937_64& random)
{
    std::vector<std::size_t> order(n);
    for (std::size_t i = 0; i < n; ++i)
        order[i] = i;
    std::shuffle(order.begin(), order.end(), random);
    return order;
}

/// --show-sql: the statements of the first warm-up call of each method go to stderr.
void show_statements(statement_counter& counter, const options& o, std::size_t warmup_round,
                     const std::string& name)
{
    if (!o.show_sql || warmup_round != 0)
        return;
    std::fprintf(stderr, "%s:\n", name.c_str());
    counter.show_sql = true;
}

/// --show-sql: the connection's prepared statements and how the server planned them (custom
/// plans are planned again on every execution).
asio::awaitable<void> show_prepared(pgcoro::session& s, const options& o)
{
    if (!o.show_sql)
        co_return;
    using prepared = std::tuple<std::string, std::string, std::int64_t, std::int64_t>;
    const std::string sql = "SELECT left(regexp_replace(statement, '\\s+', ' ', 'g'), 200), "
                            "parameter_types::text, generic_plans, custom_plans FROM pg_prepared_statements "
                            "ORDER BY statement";
    const std::vector<prepared> rows = co_await s.query<prepared>(sql);
    std::fprintf(stderr, "prepared statements (generic plans, custom plans, parameter types):\n");
    for (const prepared& p : rows)
        std::fprintf(stderr, "  %6lld %6lld %s %s\n", static_cast<long long>(std::get<2>(p)),
                     static_cast<long long>(std::get<3>(p)), std::get<1>(p).c_str(), std::get<0>(p).c_str());
}

asio::awaitable<void> drop_own_schema(pgcoro::pool& pool, pgcoro::session& s)
{
    const std::string drop = "DROP SCHEMA " + pgcoro::quote_identifier(schema_name()) + " CASCADE";
    co_await s.execute_script(drop);
    s.release();
    co_await pool.close();
}

asio::awaitable<void> loading_body(pgcoro::pool& pool, statement_counter& counter, const options& o)
{
    pgcoro::session s = co_await pool.session();
    const std::string ddl = loading_ddl(o);
    co_await s.execute_script(ddl);
    const expected_totals expected = co_await server_totals(s);
    if (expected.has_many.parents != o.parents || expected.has_many.children != o.parents * o.children)
        fail("the tables hold " + describe(expected.has_many));
    const std::int32_t backend = co_await s.scalar<std::int32_t>("SELECT pg_backend_pid()");
    pin_backend(backend, o);

    std::map<std::string, method_record> records;
    std::optional<std::uint64_t> has_many_print;
    std::optional<std::uint64_t> belongs_to_print;
    // Warm-up, not counted: every statement prepared, the server's caches warm.
    for (std::size_t w = 0; w < o.warmup; ++w)
        for (const std::string& method : o.methods) {
            show_statements(counter, o, w, method);
            const call_result r = co_await run_method(s, counter, o, expected, method);
            counter.show_sql = false;
            records[method].fingerprint = r.fingerprint;
        }
    std::mt19937_64 random(o.seed);
    for (std::size_t i = 0; i < o.iterations; ++i) {
        for (std::size_t k : shuffled(o.methods.size(), random)) {
            const std::string& method = o.methods[k];
            const backend_cpu server_before = backend_cpu_of(backend);
            const call_result r = co_await run_method(s, counter, o, expected, method);
            const backend_cpu server_after = backend_cpu_of(backend);
            method_record& rec = records[method];
            record_call(rec, method, r, server_before, server_after);
            if (r.fingerprint != rec.fingerprint)
                fail(method + ": a call loaded other rows than the warm-up did");
            std::optional<std::uint64_t>& reference =
                is_belongs_to(method) ? belongs_to_print : has_many_print;
            if (!reference)
                reference = r.fingerprint;
            else if (*reference != r.fingerprint)
                fail(method + ": loaded other rows (or in another order) than the other methods");
        }
    }
    for (const std::string& method : o.methods) {
        const method_record& rec = records[method];
        std::printf(
            "RESULT mode=loading method=%s relation=%s parents=%lld children=%lld %s fingerprint=%016llx\n",
            method.c_str(), is_belongs_to(method) ? "belongs_to" : "has_many",
            static_cast<long long>(o.parents), static_cast<long long>(o.parents * o.children),
            figures_of(rec).c_str(), static_cast<unsigned long long>(rec.fingerprint));
    }
    std::fflush(stdout);
    co_await show_prepared(s, o);
    co_await drop_own_schema(pool, s);
}

// ---- paging -----------------------------------------------------------------------------------

/// The items table: `rows` rows whose score takes rows / 20 values, 20 rows each, spread
/// over the ids ((id * 7919) mod values), so that (score, id) is the only unique order;
/// the index (score, id) serves both the offset scan and the keyset seek.
std::string paging_ddl(const options& o)
{
    constexpr std::string_view ddl = R"sql(
DROP SCHEMA IF EXISTS {schema} CASCADE;
CREATE SCHEMA {schema};
SET search_path = {schema};
CREATE TABLE items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, score integer NOT NULL,
    title text NOT NULL, created_at timestamptz NOT NULL);
INSERT INTO items (score, title, created_at)
    SELECT (g * 7919) % {values}, 'item ' || g, timestamptz '2026-03-01 00:00:00+00' + g * interval '1 second'
    FROM generate_series(1, {rows}) AS g ORDER BY g;
CREATE INDEX items_score_id ON items (score, id);
ANALYZE items;
)sql";
    return substitute(std::string(ddl), {{"{schema}", pgcoro::quote_identifier(schema_name())},
                                         {"{values}", std::to_string(std::max<std::int64_t>(1, o.rows / 20))},
                                         {"{rows}", std::to_string(o.rows)}});
}

/// What the paging cases need: the ids in (score, id) order (from the server, once), the
/// cursor after page `page - 1` and that page's last row, both found by walking to it.
struct paging_fixture {
    std::vector<std::int64_t> ids;
    std::string cursor;
    std::int32_t boundary_score = 0;
    std::int64_t boundary_id = 0;
    std::vector<std::pair<std::int32_t, std::int64_t>> walk_boundaries; // (score, id) ending pages 1 .. K-2
};

// The hand-written statements (raw_offset, raw_keyset).
constexpr std::string_view raw_offset_sql =
    "SELECT id, score, title, created_at FROM items ORDER BY score, id LIMIT $1 OFFSET $2";
constexpr std::string_view raw_first_sql =
    "SELECT id, score, title, created_at FROM items ORDER BY score, id LIMIT $1";
constexpr std::string_view raw_keyset_sql =
    "SELECT id, score, title, created_at FROM items WHERE (score, id) > ($1, $2) ORDER BY score, id LIMIT $3";

/// The query every case pages: ordered by the non-unique score (the library appends the
/// primary key).
pgcoro::select_query<Item, Item> paged_query()
{
    return pgcoro::select<Item>().order_by(&Item::score);
}

/// Fails unless `items` are exactly the rows of page `number`.
void check_page_items(const std::vector<Item>& items, const paging_fixture& f, const options& o,
                      std::int64_t number, const std::string& name)
{
    const std::size_t first = static_cast<std::size_t>((number - 1) * o.per_page);
    const std::size_t count = std::min(static_cast<std::size_t>(o.per_page), f.ids.size() - first);
    if (items.size() != count)
        fail(name + ": " + std::to_string(items.size()) + " rows, not " + std::to_string(count));
    for (std::size_t i = 0; i < count; ++i)
        if (items[i].id != f.ids[first + i])
            fail(name + ": row " + std::to_string(i) + " is id " + std::to_string(items[i].id) + ", not " +
                 std::to_string(f.ids[first + i]));
}

void check_flag(bool found, bool expected, const std::string& name, const char* what)
{
    if (found != expected)
        fail(name + ": " + what + " is " + (found ? "true" : "false"));
}

asio::awaitable<paging_fixture> prepare_paging(pgcoro::session& s, const options& o)
{
    paging_fixture f;
    f.ids = co_await s.query<std::int64_t>("SELECT id FROM items ORDER BY score, id");
    if (static_cast<std::int64_t>(f.ids.size()) != o.rows)
        fail("items holds " + std::to_string(f.ids.size()) + " rows, not " + std::to_string(o.rows));
    // Walk by keyset to page `page - 1`, checking every page on the way.
    const auto query = paged_query();
    std::optional<std::string> next;
    for (std::int64_t number = 1; number < o.page; ++number) {
        pgcoro::keyset request(o.per_page);
        if (next)
            request = request.after(*next);
        auto op = s.page(query, request);
        pgcoro::keyset_page<Item> p = co_await std::move(op);
        const std::string name = "keyset walk, page " + std::to_string(number);
        check_page_items(p.items, f, o, number, name);
        check_flag(p.has_prev, number > 1, name, "has_prev");
        check_flag(p.has_next, true, name, "has_next");
        if (!p.next)
            fail(name + ": no next cursor");
        next = std::move(p.next);
        if (number > 1)
            f.walk_boundaries.emplace_back(f.boundary_score, f.boundary_id);
        f.boundary_score = p.items.back().score;
        f.boundary_id = p.items.back().id;
    }
    f.cursor = *next;
    co_return f;
}

/// raw_keyset's statement through the pages the walk read by cursor (2 .. K-1; untimed,
/// checked), so that it reaches page K with the same history in the server's plan cache as
/// the library's statement: PostgreSQL plans a prepared statement afresh on every execution
/// (a custom plan) or once (a generic plan) by comparing the costs of its earlier
/// executions, and the walk's early pages make custom plans look cheap.
asio::awaitable<void> walk_raw_keyset(pgcoro::session& s, const options& o, const paging_fixture& f)
{
    const std::int64_t limit = o.per_page + 1;
    std::int64_t number = 2;
    for (const auto& [score, id] : f.walk_boundaries) {
        auto op = s.query<Item>(raw_keyset_sql, score, id, limit);
        std::vector<Item> items = co_await std::move(op);
        items.resize(std::min(items.size(), static_cast<std::size_t>(o.per_page)));
        check_page_items(items, f, o, number, "raw keyset walk, page " + std::to_string(number));
        ++number;
    }
}

/// One page by one method, checked; the timed part is the call alone.
asio::awaitable<call_result> run_paging_case(pgcoro::session& s, statement_counter& counter, const options& o,
                                             const paging_fixture& f, const std::string& method,
                                             std::int64_t number)
{
    const std::string name = method + ", page " + std::to_string(number);
    const std::int64_t last_page = (o.rows + o.per_page - 1) / o.per_page;
    const bool more = number < last_page;
    const auto query = paged_query();
    call_result r;
    const std::uint64_t statements_before = counter.statements.load();
    const std::uint64_t trips_before = counter.round_trips();
    const std::int64_t statement_ns_before = counter.statement_ns.load();
    std::vector<Item> items;
    if (method == "offset_count" || method == "offset") {
        pgcoro::page_options options;
        options.count = method == "offset_count";
        const double cpu_start = cpu_seconds_now();
        const steady::time_point start = steady::now();
        auto op = s.page(query, number, o.per_page, options);
        pgcoro::page<Item> p = co_await std::move(op);
        r.wall_us = std::chrono::duration<double, std::micro>(steady::now() - start).count();
        r.cpu_us = (cpu_seconds_now() - cpu_start) * 1e6;
        check_flag(p.has_next, more, name, "has_next");
        check_flag(p.has_prev, number > 1, name, "has_prev");
        if (p.page != number || p.per_page != o.per_page)
            fail(name + ": the page says it is page " + std::to_string(p.page) + " of " +
                 std::to_string(p.per_page));
        if (options.count) {
            if (!p.total || *p.total != o.rows || !p.pages || *p.pages != last_page)
                fail(name + ": wrong total or page count");
        } else if (p.total || p.pages) {
            fail(name + ": counted although page_options::count is false");
        }
        items = std::move(p.items);
    } else if (method == "keyset") {
        pgcoro::keyset request(o.per_page);
        if (number > 1)
            request = request.after(f.cursor);
        const double cpu_start = cpu_seconds_now();
        const steady::time_point start = steady::now();
        auto op = s.page(query, request);
        pgcoro::keyset_page<Item> p = co_await std::move(op);
        r.wall_us = std::chrono::duration<double, std::micro>(steady::now() - start).count();
        r.cpu_us = (cpu_seconds_now() - cpu_start) * 1e6;
        check_flag(p.has_next, more, name, "has_next");
        check_flag(p.next.has_value(), more, name, "next");
        check_flag(p.has_prev, number > 1, name, "has_prev");
        check_flag(p.previous.has_value(), number > 1, name, "previous");
        items = std::move(p.items);
    } else {
        // Hand-written statements: what a page costs without the library's planning, cursor
        // encoding and decoding.
        const std::int64_t limit = o.per_page + 1;
        const double cpu_start = cpu_seconds_now();
        const steady::time_point start = steady::now();
        if (method == "raw_offset") {
            const std::int64_t offset = (number - 1) * o.per_page;
            auto op = s.query<Item>(raw_offset_sql, limit, offset);
            items = co_await std::move(op);
        } else if (number == 1) {
            auto op = s.query<Item>(raw_first_sql, limit);
            items = co_await std::move(op);
        } else {
            auto op = s.query<Item>(raw_keyset_sql, f.boundary_score, f.boundary_id, limit);
            items = co_await std::move(op);
        }
        const bool found_more = items.size() > static_cast<std::size_t>(o.per_page);
        if (found_more)
            items.resize(static_cast<std::size_t>(o.per_page));
        r.wall_us = std::chrono::duration<double, std::micro>(steady::now() - start).count();
        r.cpu_us = (cpu_seconds_now() - cpu_start) * 1e6;
        check_flag(found_more, more, name, "a row after the page");
    }
    check_page_items(items, f, o, number, name);
    r.statements = counter.statements.load() - statements_before;
    r.round_trips = counter.round_trips() - trips_before;
    r.statement_us = static_cast<double>(counter.statement_ns.load() - statement_ns_before) / 1e3;
    co_return r;
}

asio::awaitable<void> paging_body(pgcoro::pool& pool, statement_counter& counter, const options& o)
{
    pgcoro::session s = co_await pool.session();
    const std::string ddl = paging_ddl(o);
    co_await s.execute_script(ddl);
    const std::int32_t backend = co_await s.scalar<std::int32_t>("SELECT pg_backend_pid()");
    pin_backend(backend, o);

    const std::uint64_t walk_statements = counter.statements.load();
    const steady::time_point walk_start = steady::now();
    const paging_fixture f = co_await prepare_paging(s, o);
    const double walk_ms = std::chrono::duration<double, std::milli>(steady::now() - walk_start).count();
    std::printf("RESULT mode=paging_walk pages=%lld per_page=%lld rows=%lld ms=%.3f statements=%llu\n",
                static_cast<long long>(o.page - 1), static_cast<long long>(o.per_page),
                static_cast<long long>(o.rows), walk_ms,
                static_cast<unsigned long long>(counter.statements.load() - walk_statements - 1));

    if (std::find(o.methods.begin(), o.methods.end(), "raw_keyset") != o.methods.end())
        co_await walk_raw_keyset(s, o, f);

    // Every method at page 1 and at page `page`, interleaved.
    std::vector<std::pair<std::string, std::int64_t>> cases;
    for (std::int64_t number : {std::int64_t{1}, o.page})
        for (const std::string& method : o.methods)
            cases.emplace_back(method, number);
    std::map<std::pair<std::string, std::int64_t>, method_record> records;
    for (std::size_t w = 0; w < o.warmup; ++w)
        for (const auto& c : cases) {
            show_statements(counter, o, w, c.first + ", page " + std::to_string(c.second));
            const call_result r = co_await run_paging_case(s, counter, o, f, c.first, c.second);
            counter.show_sql = false;
            (void)r;
        }
    std::mt19937_64 random(o.seed);
    for (std::size_t i = 0; i < o.iterations; ++i)
        for (std::size_t k : shuffled(cases.size(), random)) {
            const auto& c = cases[k];
            const backend_cpu server_before = backend_cpu_of(backend);
            const call_result r = co_await run_paging_case(s, counter, o, f, c.first, c.second);
            const backend_cpu server_after = backend_cpu_of(backend);
            const std::string name = c.first + ", page " + std::to_string(c.second);
            record_call(records[c], name, r, server_before, server_after);
        }
    for (const auto& c : cases)
        std::printf("RESULT mode=paging method=%s page=%lld per_page=%lld rows=%lld offset=%lld %s\n",
                    c.first.c_str(), static_cast<long long>(c.second), static_cast<long long>(o.per_page),
                    static_cast<long long>(o.rows), static_cast<long long>((c.second - 1) * o.per_page),
                    figures_of(records[c]).c_str());
    std::fflush(stdout);
    co_await show_prepared(s, o);
    co_await drop_own_schema(pool, s);
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

int run(const options& o)
{
    statement_counter counter;
    try {
        asio::io_context io(1);
        pgcoro::pool_options po = pool_options_for(o);
        po.on_query = [&counter](const pgcoro::query_event& e) {
            counter.record(e);
        };
        pgcoro::pool pool(io.get_executor(), po);
        if (o.mode == "loading")
            run_to_completion(io, 1, loading_body(pool, counter, o));
        else
            run_to_completion(io, 1, paging_body(pool, counter, o));
    } catch (...) {
        drop_schema_after_failure(o);
        throw;
    }
    return 0;
}

} // namespace

int main(int argc, char** argv)
{
    try {
        const options o = parse_options(argc, argv);
        return run(o);
    } catch (const std::exception& e) {
        std::cerr << "loading_bench: " << e.what() << "\n";
        return 1;
    }
}
