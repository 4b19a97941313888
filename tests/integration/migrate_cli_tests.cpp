// The migration command line (pgcoro-migrate, run_migrate_cli): every exit code, the output a
// user reads (progress lines, the status table, verify's problems), where the connection
// string and the directory come from, `new` (also --from-model), dry runs, and two real
// processes migrating one database at once. Each test that touches a database gets its own
// (scratch_database) and a temporary migrations directory.
//
// In-process runs call pgcoro::run_migrate_cli with string streams (fast; they can pass
// models and C++ migrations). Process runs start the built pgcoro-migrate
// (PGCORO_MIGRATE_BINARY) with an environment of the test's choosing and capture its
// stdout, stderr and exit status.

#include "migration_support.hpp"

#include <pgcoro/migrate_cli.hpp>
#include <pgcoro/schema.hpp>

#include <boost/describe/class.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

extern char** environ;

#ifndef PGCORO_MIGRATE_BINARY
#error "PGCORO_MIGRATE_BINARY must name the built pgcoro-migrate (tests/CMakeLists.txt)"
#endif

namespace cli_test {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---- models for `new --from-model` ----------------------------------------------------------

struct author;

struct book {
    std::int64_t id = 0;
    std::int64_t author_id = 0;
    std::string title;
    pgcoro::related<std::shared_ptr<author>> writer;
};
BOOST_DESCRIBE_STRUCT(book, (), (id, author_id, title, writer))

struct author {
    std::int64_t id = 0;
    std::string name;
};
BOOST_DESCRIBE_STRUCT(author, (), (id, name))

} // namespace cli_test

template <> struct pgcoro::model_traits<cli_test::author> {
    static constexpr std::string_view table = "cli_authors";
    static constexpr auto primary_key = &cli_test::author::id;
    static constexpr auto generated = &cli_test::author::id;
};

template <> struct pgcoro::model_traits<cli_test::book> {
    static constexpr std::string_view table = "cli_books";
    static constexpr auto primary_key = &cli_test::book::id;
    static constexpr auto generated = &cli_test::book::id;
    static constexpr auto relations =
        std::tuple{pgcoro::belongs_to(&cli_test::book::writer, &cli_test::book::author_id)};
};

namespace cli_test {

// ---- running the command line ---------------------------------------------------------------

/// What one run of the command line showed.
struct cli_result {
    int code = -1;
    std::string out;
    std::string err;
};

std::ostream& operator<<(std::ostream& os, const cli_result& r)
{
    return os << "exit " << r.code << "\n--- stdout ---\n" << r.out << "--- stderr ---\n" << r.err << "---";
}

/// run_migrate_cli in this process with `args` after the program name.
cli_result run_cli(const std::vector<std::string>& args, pgcoro::migrate_cli_options options)
{
    std::vector<const char*> argv{"pgcoro-migrate"};
    for (const std::string& a : args)
        argv.push_back(a.c_str());
    argv.push_back(nullptr);
    std::ostringstream out;
    std::ostringstream err;
    cli_result r;
    r.code =
        pgcoro::run_migrate_cli(static_cast<int>(argv.size() - 1), argv.data(), std::move(options), out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
}

cli_result run_cli(const std::vector<std::string>& args)
{
    return run_cli(args, pgcoro::migrate_cli_options{});
}

/// The variables the command line reads; a child gets none of them unless a test sets them.
constexpr std::string_view cli_variables[] = {"PGCORO_MIGRATE_DSN", "DATABASE_URL", "PGCORO_MIGRATIONS_DIR"};

using environment = std::vector<std::pair<std::string, std::string>>;

/// A started pgcoro-migrate process with pipes on its stdout and stderr.
struct child_process {
    pid_t pid = -1;
    int out = -1;
    int err = -1;
};

/// Starts PGCORO_MIGRATE_BINARY with `args`, this process's environment less the command
/// line's variables plus `env`, in `working_directory` (empty: this one's).
child_process spawn_cli(const std::vector<std::string>& args, const environment& env,
                        const fs::path& working_directory)
{
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) {
        std::string_view entry(*e);
        std::string_view name = entry.substr(0, entry.find('='));
        bool dropped =
            std::find(std::begin(cli_variables), std::end(cli_variables), name) != std::end(cli_variables);
        for (const auto& [key, value] : env)
            dropped = dropped || name == key;
        if (!dropped)
            env_strings.emplace_back(entry);
    }
    for (const auto& [key, value] : env)
        env_strings.push_back(key + "=" + value);
    std::vector<char*> envp;
    for (std::string& s : env_strings)
        envp.push_back(s.data());
    envp.push_back(nullptr);

    std::vector<std::string> arg_strings{PGCORO_MIGRATE_BINARY};
    arg_strings.insert(arg_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& s : arg_strings)
        argv.push_back(s.data());
    argv.push_back(nullptr);

    int out_pipe[2];
    int err_pipe[2];
    BOOST_REQUIRE(::pipe2(out_pipe, O_CLOEXEC) == 0);
    BOOST_REQUIRE(::pipe2(err_pipe, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err_pipe[1], STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (!working_directory.empty())
        posix_spawn_file_actions_addchdir_np(&actions, working_directory.c_str());
    child_process child;
    int spawned = ::posix_spawn(&child.pid, argv[0], &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(out_pipe[1]);
    ::close(err_pipe[1]);
    child.out = out_pipe[0];
    child.err = err_pipe[0];
    BOOST_REQUIRE_MESSAGE(spawned == 0, "cannot start " PGCORO_MIGRATE_BINARY ": " << std::strerror(spawned));
    return child;
}

/// Reads the child's output until it closes both pipes, then reaps it. A child still running
/// after 30 s is killed and the test fails.
cli_result wait_for(child_process& child)
{
    cli_result r;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    pollfd fds[2] = {{child.out, POLLIN, 0}, {child.err, POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open = 2;
    bool timed_out = false;
    while (open > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left <= 0ms) {
            timed_out = true;
            break;
        }
        int ready = ::poll(fds, 2, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR)
            continue;
        BOOST_REQUIRE(ready >= 0);
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0)
                continue;
            char buffer[4096];
            ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
            if (n > 0)
                sinks[i]->append(buffer, static_cast<std::size_t>(n));
            else if (n == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open;
            }
        }
    }
    if (timed_out) {
        ::kill(child.pid, SIGKILL);
        for (pollfd& fd : fds)
            if (fd.fd >= 0)
                ::close(fd.fd);
    }
    int status = 0;
    while (::waitpid(child.pid, &status, 0) < 0 && errno == EINTR) {
    }
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (timed_out)
        BOOST_FAIL("pgcoro-migrate did not finish within 30 s; output so far:\n" << r);
    return r;
}

/// Runs the pgcoro-migrate executable to its end.
cli_result run_process(const std::vector<std::string>& args, const environment& env,
                       const fs::path& working_directory)
{
    child_process child = spawn_cli(args, env, working_directory);
    return wait_for(child);
}

cli_result run_process(const std::vector<std::string>& args, const environment& env)
{
    return run_process(args, env, fs::path());
}

// ---- connection strings ---------------------------------------------------------------------

bool is_url(const std::string& dsn)
{
    return dsn.starts_with("postgresql://") || dsn.starts_with("postgres://");
}

/// The [user[:password]@]host[:port] part of a URL: its start and length.
std::pair<std::size_t, std::size_t> authority_of(const std::string& url)
{
    std::size_t start = url.find("://") + 3;
    std::size_t end = url.find_first_of("/?", start);
    if (end == std::string::npos)
        end = url.size();
    return {start, end - start};
}

/// `dsn` with its password replaced by `password` (URL-safe).
std::string with_password(const std::string& dsn, const std::string& password)
{
    if (!is_url(dsn))
        return dsn + " password=" + password;
    auto [start, length] = authority_of(dsn);
    std::string authority = dsn.substr(start, length);
    std::size_t at = authority.rfind('@');
    std::string user = at == std::string::npos ? "pgcoro_test" : authority.substr(0, at);
    user = user.substr(0, user.find(':'));
    std::string host = at == std::string::npos ? authority : authority.substr(at + 1);
    return dsn.substr(0, start) + user + ":" + password + "@" + host + dsn.substr(start + length);
}

/// `dsn` pointing at 127.0.0.1:`port`.
std::string with_local_port(const std::string& dsn, int port)
{
    if (!is_url(dsn))
        return dsn + " host=127.0.0.1 hostaddr=127.0.0.1 port=" + std::to_string(port);
    auto [start, length] = authority_of(dsn);
    std::string authority = dsn.substr(start, length);
    std::size_t at = authority.rfind('@');
    std::string user = at == std::string::npos ? std::string() : authority.substr(0, at + 1);
    return dsn.substr(0, start) + user + "127.0.0.1:" + std::to_string(port) + dsn.substr(start + length);
}

/// The password in `dsn` (empty if it has none).
std::string password_of(const std::string& dsn)
{
    if (is_url(dsn)) {
        auto [start, length] = authority_of(dsn);
        std::string authority = dsn.substr(start, length);
        std::size_t at = authority.rfind('@');
        if (at == std::string::npos)
            return {};
        std::string user_info = authority.substr(0, at);
        std::size_t colon = user_info.find(':');
        return colon == std::string::npos ? std::string() : user_info.substr(colon + 1);
    }
    std::size_t key = dsn.find("password=");
    if (key == std::string::npos)
        return {};
    std::size_t start = key + 9;
    return dsn.substr(start, dsn.find(' ', start) - start);
}

/// A TCP port on 127.0.0.1 with nothing listening (bound once by the kernel's choice, then
/// released).
int closed_port()
{
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    BOOST_REQUIRE(s >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    BOOST_REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t size = sizeof address;
    BOOST_REQUIRE(::getsockname(s, reinterpret_cast<sockaddr*>(&address), &size) == 0);
    ::close(s);
    return ntohs(address.sin_port);
}

/// A password no real server has, to look for in the output.
constexpr std::string_view canary_password = "Canary7pw3f9d1bX";

// ---- looking at a database ------------------------------------------------------------------

/// `text` as an SQL string literal (standard_conforming_strings).
std::string sql_literal(std::string_view text)
{
    std::string literal = "'";
    for (char c : text)
        literal += c == '\'' ? std::string("''") : std::string(1, c);
    return literal + "'";
}

template <class T> T scalar_in(const std::string& dsn, const std::string& sql)
{
    return test::run([&]() -> asio::awaitable<T> {
        pgcoro::connect_options options;
        options.conninfo = dsn;
        pgcoro::connection c = co_await test::connect(std::move(options));
        T value = co_await c.scalar<T>(sql);
        co_return value;
    });
}

/// Whether the relation `name` (as written in SQL, optionally schema-qualified) exists.
bool relation_exists(const std::string& dsn, const std::string& name)
{
    return scalar_in<bool>(dsn, "SELECT to_regclass(" + sql_literal(name) + ") IS NOT NULL");
}

/// The versions recorded in `table`, in order; empty when the table does not exist.
std::vector<std::int64_t> recorded_versions(const std::string& dsn, const std::string& table)
{
    if (!relation_exists(dsn, table))
        return {};
    return test::run([&]() -> asio::awaitable<std::vector<std::int64_t>> {
        pgcoro::connect_options options;
        options.conninfo = dsn;
        pgcoro::connection c = co_await test::connect(std::move(options));
        std::string sql = "SELECT version FROM " + table + " ORDER BY version";
        std::vector<std::int64_t> versions = co_await c.query<std::int64_t>(sql);
        co_return versions;
    });
}

std::vector<std::int64_t> recorded_versions(const std::string& dsn)
{
    return recorded_versions(dsn, "schema_migrations");
}

// ---- migration files and output -------------------------------------------------------------

/// Writes `<name>.up.sql` creating table cli_<slug> and `<name>.down.sql` dropping it.
void write_table_migration(const test::temp_directory& dir, const std::string& name, const std::string& table)
{
    dir.write(name + ".up.sql", "CREATE TABLE " + table + " (id int);\n");
    dir.write(name + ".down.sql", "DROP TABLE " + table + ";\n");
}

/// 0001_a, 0002_b, 0003_c (up to `count`), creating and dropping tables cli_a, cli_b, cli_c.
void write_abc(const test::temp_directory& dir, int count)
{
    const char* names[] = {"0001_a", "0002_b", "0003_c"};
    const char* tables[] = {"cli_a", "cli_b", "cli_c"};
    for (int i = 0; i < count; ++i)
        write_table_migration(dir, names[i], tables[i]);
}

std::vector<std::string> lines_of(const std::string& text)
{
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        lines.push_back(line);
    return lines;
}

bool contains(const std::string& text, std::string_view part)
{
    return text.find(part) != std::string::npos;
}

/// The lines of `text` that match `pattern` whole.
std::vector<std::string> matching_lines(const std::string& text, const std::string& pattern)
{
    std::regex re(pattern);
    std::vector<std::string> found;
    for (const std::string& line : lines_of(text))
        if (std::regex_match(line, re))
            found.push_back(line);
    return found;
}

/// The status table's line for `name` ("0002" + spaces + "b"), split on runs of spaces.
std::vector<std::string> status_row(const std::string& out, const std::string& version,
                                    const std::string& slug)
{
    for (const std::string& line : lines_of(out)) {
        std::istringstream in(line);
        std::vector<std::string> words;
        for (std::string word; in >> word;)
            words.push_back(word);
        if (words.size() >= 2 && words[0] == version && words[1] == slug)
            return words;
    }
    return {};
}

/// The command line's arguments for `db` and `dir`, then `more`.
std::vector<std::string> args_for(const test::scratch_database& db, const test::temp_directory& dir,
                                  std::vector<std::string> more)
{
    std::vector<std::string> args{"--dsn", db.dsn(), "--dir", dir.path().string()};
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

std::vector<std::string> dir_files(const fs::path& dir)
{
    std::vector<std::string> names;
    if (!fs::exists(dir))
        return names;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::string read_text(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

/// A C++ migration step: inserts `what` into cli_order_log.
asio::awaitable<void> log_step(pgcoro::queryable& scope, std::string what)
{
    co_await scope.execute("INSERT INTO cli_order_log (what) VALUES ($1)", what);
}

pgcoro::migration code_migration(std::int64_t version, std::string slug, std::string what)
{
    pgcoro::migration m;
    m.version = version;
    m.slug = std::move(slug);
    m.up.function = [what](pgcoro::queryable& scope) {
        return log_step(scope, what);
    };
    pgcoro::migration_step down;
    down.sql = "DELETE FROM cli_order_log WHERE what = " + sql_literal(what);
    m.down = std::move(down);
    return m;
}

} // namespace cli_test

using namespace cli_test;

BOOST_AUTO_TEST_SUITE(migrate_cli)

// ---- exit 0: up, down, status, current, verify ----------------------------------------------

BOOST_AUTO_TEST_CASE(up_applies_every_pending_migration_and_exits_0)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 3);
    cli_result r = run_cli(args_for(db, dir, {"up"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.err.empty());
        BOOST_TEST(contains(r.out, "applied 3 migrations; version 0 -> 3"));
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2, 3}),
               boost::test_tools::per_element());
    BOOST_TEST(relation_exists(db.dsn(), "cli_a"));
    BOOST_TEST(relation_exists(db.dsn(), "cli_c"));
}

BOOST_AUTO_TEST_CASE(up_prints_one_line_per_migration_with_its_duration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    cli_result r = run_cli(args_for(db, dir, {"up"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_REQUIRE(r.code == 0);
        auto progress = matching_lines(r.out, R"(up   \d{4}_\w+ \.\.\. done in \d+\.\d ms)");
        BOOST_REQUIRE(progress.size() == 2u);
        BOOST_TEST(progress[0].starts_with("up   0001_a ... done in "));
        BOOST_TEST(progress[1].starts_with("up   0002_b ... done in "));
    }
}

BOOST_AUTO_TEST_CASE(up_with_nothing_pending_says_so)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"up"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out == "nothing to do; current version 1\n");
    }
}

BOOST_AUTO_TEST_CASE(up_version_stops_at_that_version)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 3);
    cli_result r = run_cli(args_for(db, dir, {"up", "2"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(contains(r.out, "applied 2 migrations; version 0 -> 2"));
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2}),
               boost::test_tools::per_element());
    BOOST_TEST(!relation_exists(db.dsn(), "cli_c"));
}

BOOST_AUTO_TEST_CASE(up_to_an_unknown_version_is_refused_as_usage)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    cli_result r = run_cli(args_for(db, dir, {"up", "7"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "7"));
    }
    BOOST_TEST(recorded_versions(db.dsn()).empty());
}

BOOST_AUTO_TEST_CASE(down_reverts_the_newest_migration_by_default)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 3);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"down"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(matching_lines(r.out, R"(down 0003_c \.\.\. done in \d+\.\d ms)").size() == 1u);
        BOOST_TEST(contains(r.out, "reverted 1 migration; version 3 -> 2"));
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2}),
               boost::test_tools::per_element());
    BOOST_TEST(!relation_exists(db.dsn(), "cli_c"));
    BOOST_TEST(relation_exists(db.dsn(), "cli_b"));
}

BOOST_AUTO_TEST_CASE(down_n_reverts_n_migrations_newest_first)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 3);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"down", "2"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        auto progress = matching_lines(r.out, R"(down \d{4}_\w+ \.\.\. done in .*)");
        BOOST_REQUIRE(progress.size() == 2u);
        BOOST_TEST(progress[0].starts_with("down 0003_c "));
        BOOST_TEST(progress[1].starts_with("down 0002_b "));
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(down_to_version_reverts_every_migration_above_it)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 3);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"down", "--to", "1"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(contains(r.out, "reverted 2 migrations; version 3 -> 1"));
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1}),
               boost::test_tools::per_element());
    BOOST_TEST(relation_exists(db.dsn(), "cli_a"));
    BOOST_TEST(!relation_exists(db.dsn(), "cli_b"));
}

BOOST_AUTO_TEST_CASE(down_to_0_reverts_every_migration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 3);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"down", "--to", "0"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(contains(r.out, "reverted 3 migrations; version 3 -> 0"));
    }
    BOOST_TEST(recorded_versions(db.dsn()).empty());
    BOOST_TEST(!relation_exists(db.dsn(), "cli_a"));
}

BOOST_AUTO_TEST_CASE(status_lists_applied_and_pending_migrations)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up", "1"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"status"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(lines_of(r.out).at(0).starts_with("version"));
        BOOST_TEST(
            matching_lines(r.out, R"(0001 +a +applied +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC +\d+\.\d ms)")
                .size() == 1u);
        BOOST_TEST(matching_lines(r.out, R"(0002 +b +pending +- +-)").size() == 1u);
        BOOST_TEST(!contains(r.out, "out of order"));
    }
}

BOOST_AUTO_TEST_CASE(status_with_no_migrations_says_so)
{
    test::scratch_database db;
    test::temp_directory dir;
    cli_result r = run_cli(args_for(db, dir, {"status"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out == "no migrations\n");
    }
}

BOOST_AUTO_TEST_CASE(status_marks_a_drifted_migration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    dir.write("0001_a.up.sql", "CREATE TABLE cli_a (id bigint);\n");
    cli_result r = run_cli(args_for(db, dir, {"status"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        auto a = status_row(r.out, "0001", "a");
        auto b = status_row(r.out, "0002", "b");
        BOOST_REQUIRE(a.size() >= 3u);
        BOOST_REQUIRE(b.size() >= 3u);
        BOOST_TEST(a[2] == "drifted");
        BOOST_TEST(b[2] == "applied");
    }
}

BOOST_AUTO_TEST_CASE(status_marks_a_missing_migration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    fs::remove(dir.path() / "0002_b.up.sql");
    fs::remove(dir.path() / "0002_b.down.sql");
    cli_result r = run_cli(args_for(db, dir, {"status"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        auto b = status_row(r.out, "0002", "b");
        BOOST_REQUIRE(b.size() >= 3u);
        BOOST_TEST(b[2] == "missing");
    }
}

BOOST_AUTO_TEST_CASE(status_marks_an_out_of_order_pending_migration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_table_migration(dir, "0001_a", "cli_a");
    write_table_migration(dir, "0003_c", "cli_c");
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    write_table_migration(dir, "0002_b", "cli_b"); // merged from another branch
    cli_result r = run_cli(args_for(db, dir, {"status"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        auto b = status_row(r.out, "0002", "b");
        auto c = status_row(r.out, "0003", "c");
        BOOST_REQUIRE(b.size() >= 3u);
        BOOST_REQUIRE(c.size() >= 3u);
        BOOST_TEST(b[2] == "pending*");
        BOOST_TEST(c[2] == "applied");
        BOOST_TEST(contains(r.out, "* pending, but older than the newest applied migration (out of order)"));
    }
}

BOOST_AUTO_TEST_CASE(current_prints_the_newest_applied_version)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 3);
    cli_result before = run_cli(args_for(db, dir, {"current"}));
    BOOST_TEST_CONTEXT(before)
    {
        BOOST_TEST(before.code == 0);
        BOOST_TEST(before.out == "0\n");
    }
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up", "2"})).code == 0);
    cli_result after = run_cli(args_for(db, dir, {"current"}));
    BOOST_TEST_CONTEXT(after)
    {
        BOOST_TEST(after.code == 0);
        BOOST_TEST(after.out == "2\n");
    }
}

BOOST_AUTO_TEST_CASE(verify_says_ok_when_the_applied_migrations_match)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up", "1"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"verify"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out == "ok: every applied migration matches its file\n");
        BOOST_TEST(r.err.empty());
    }
}

// ---- exit 3: drift, missing, out of order ---------------------------------------------------

BOOST_AUTO_TEST_CASE(verify_exits_3_naming_a_drifted_migration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    dir.write("0002_b.up.sql", "CREATE TABLE cli_b (id int, extra text);\n");
    cli_result r = run_cli(args_for(db, dir, {"verify"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::conflict));
        BOOST_TEST(r.err == "0002_b: drifted (changed since it was applied)\n");
        BOOST_TEST(!contains(r.out, "ok"));
    }
}

BOOST_AUTO_TEST_CASE(verify_exits_3_naming_a_missing_migration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    fs::remove(dir.path() / "0002_b.up.sql");
    fs::remove(dir.path() / "0002_b.down.sql");
    cli_result r = run_cli(args_for(db, dir, {"verify"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::conflict));
        BOOST_TEST(r.err == "0002_b: missing (applied, but no such migration is known)\n");
    }
}

BOOST_AUTO_TEST_CASE(verify_exits_3_naming_an_out_of_order_migration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_table_migration(dir, "0001_a", "cli_a");
    write_table_migration(dir, "0003_c", "cli_c");
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    write_table_migration(dir, "0002_b", "cli_b");
    cli_result r = run_cli(args_for(db, dir, {"verify"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::conflict));
        BOOST_TEST(r.err == "0002_b: pending out of order (older than the newest applied migration)\n");
    }
}

BOOST_AUTO_TEST_CASE(up_is_refused_with_exit_3_when_an_applied_migration_drifted)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    dir.write("0001_a.up.sql", "CREATE TABLE cli_a (id bigint);\n");
    write_table_migration(dir, "0002_b", "cli_b");
    cli_result r = run_cli(args_for(db, dir, {"up"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::conflict));
        BOOST_TEST(contains(r.err, "0001_a"));
        BOOST_TEST(contains(r.err, "changed since it was applied"));
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1}),
               boost::test_tools::per_element());
    BOOST_TEST(!relation_exists(db.dsn(), "cli_b"));
}

BOOST_AUTO_TEST_CASE(up_with_force_runs_despite_a_drifted_migration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    dir.write("0001_a.up.sql", "CREATE TABLE cli_a (id bigint);\n");
    write_table_migration(dir, "0002_b", "cli_b");
    cli_result r = run_cli(args_for(db, dir, {"up", "--force"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(contains(r.out, "applied 1 migration; version 1 -> 2"));
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(up_is_refused_with_exit_3_for_an_out_of_order_migration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_table_migration(dir, "0001_a", "cli_a");
    write_table_migration(dir, "0003_c", "cli_c");
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    write_table_migration(dir, "0002_b", "cli_b");
    cli_result r = run_cli(args_for(db, dir, {"up"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::conflict));
        BOOST_TEST(contains(r.err, "0002_b"));
    }
    BOOST_TEST(!relation_exists(db.dsn(), "cli_b"));
}

BOOST_AUTO_TEST_CASE(up_with_allow_out_of_order_applies_an_older_pending_migration)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_table_migration(dir, "0001_a", "cli_a");
    write_table_migration(dir, "0003_c", "cli_c");
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    write_table_migration(dir, "0002_b", "cli_b");
    cli_result r = run_cli(args_for(db, dir, {"up", "--allow-out-of-order"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(matching_lines(r.out, R"(up   0002_b \.\.\. done in .*)").size() == 1u);
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2, 3}),
               boost::test_tools::per_element());
    BOOST_TEST(relation_exists(db.dsn(), "cli_b"));
}

// ---- exit 1: a failing migration ------------------------------------------------------------

BOOST_AUTO_TEST_CASE(failing_migration_exits_1_naming_file_statement_line_and_server_error)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    dir.write("0002_bad.up.sql", "CREATE TABLE cli_half (id int);\n"
                                 "-- the next statement fails\n"
                                 "INSERT INTO cli_no_such_table VALUES (1);\n"
                                 "SELECT 1;\n");
    cli_result r = run_cli(args_for(db, dir, {"up"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::failed));
        BOOST_TEST(contains(r.err, "0002_bad.up.sql"));
        BOOST_TEST(contains(r.err, "statement 2 of 3"));
        BOOST_TEST(contains(r.err, "line 3"));
        BOOST_TEST(contains(r.err, "relation \"cli_no_such_table\" does not exist"));
        BOOST_TEST(matching_lines(r.out, R"(up   0002_bad \.\.\. FAILED)").size() == 1u);
    }
}

BOOST_AUTO_TEST_CASE(failed_migration_is_rolled_back_and_earlier_ones_stay_applied)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    dir.write("0002_bad.up.sql", "CREATE TABLE cli_half (id int);\nSELECT 1/0;\n");
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == static_cast<int>(pgcoro::migrate_exit::failed));
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1}),
               boost::test_tools::per_element());
    BOOST_TEST(relation_exists(db.dsn(), "cli_a"));
    BOOST_TEST(!relation_exists(db.dsn(), "cli_half"));
}

BOOST_AUTO_TEST_CASE(failing_no_transaction_migration_says_its_earlier_statements_stay)
{
    test::scratch_database db;
    test::temp_directory dir;
    dir.write("0001_partial.up.sql", "-- pgcoro:no-transaction\n"
                                     "CREATE TABLE cli_partial (id int);\n"
                                     "SELECT 1/0;\n");
    cli_result r = run_cli(args_for(db, dir, {"up"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::failed));
        BOOST_TEST(contains(r.err, "division by zero"));
        BOOST_TEST(contains(r.err, "outside a transaction"));
        BOOST_TEST(contains(r.err, "make it safe to run again"));
    }
    BOOST_TEST(relation_exists(db.dsn(), "cli_partial"));
    BOOST_TEST(recorded_versions(db.dsn()).empty());
}

BOOST_AUTO_TEST_CASE(down_of_an_irreversible_migration_exits_3_and_reverts_nothing)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    dir.write("0002_one_way.up.sql", "CREATE TABLE cli_one_way (id int);\n"); // no .down.sql
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"down", "2"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::conflict));
        BOOST_TEST(contains(r.err, "0002_one_way"));
        BOOST_TEST(contains(r.err, "no down step"));
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2}),
               boost::test_tools::per_element());
}

// ---- exit 2: usage --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(no_command_exits_2)
{
    test::temp_directory dir;
    cli_result r = run_cli({"--dir", dir.path().string()});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "no command given"));
        BOOST_TEST(contains(r.err, "--help"));
        BOOST_TEST(r.out.empty());
    }
}

BOOST_AUTO_TEST_CASE(unknown_command_exits_2_naming_it)
{
    cli_result r = run_cli({"sideways"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "unknown command 'sideways'"));
    }
}

BOOST_AUTO_TEST_CASE(unknown_option_exits_2_naming_it)
{
    cli_result r = run_cli({"up", "--frobnicate"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "unknown option --frobnicate"));
    }
}

BOOST_AUTO_TEST_CASE(option_without_its_value_exits_2)
{
    cli_result r = run_cli({"up", "--dsn"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "--dsn needs a value"));
    }
}

BOOST_AUTO_TEST_CASE(non_numeric_lock_timeout_exits_2)
{
    cli_result r = run_cli({"up", "--lock-timeout", "soon"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "--lock-timeout"));
    }
}

BOOST_AUTO_TEST_CASE(down_0_exits_2_and_reverts_nothing)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"down", "0"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "down 0"));
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(down_0_is_refused_without_a_database)
{
    // A bad command line is reported as such even when the server cannot be reached.
    // Numbers are checked while parsing: no connection is tried (the port is closed).
    test::temp_directory dir;
    std::string dsn = with_local_port(test::dsn(), closed_port());
    cli_result r =
        run_cli({"--dsn", dsn, "--dir", dir.path().string(), "--connect-timeout", "1", "down", "0"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
    }
}

BOOST_AUTO_TEST_CASE(dry_run_down_0_is_refused_like_down_0)
{
    // The dry run once took 0 steps as "no limit" and listed every applied migration.
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"down", "0", "--dry-run"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(!contains(r.out, "would run"));
    }
}

BOOST_AUTO_TEST_CASE(to_without_down_exits_2)
{
    test::temp_directory dir;
    cli_result r = run_cli({"--dir", dir.path().string(), "up", "--to", "1"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "--to belongs to down"));
    }
}

BOOST_AUTO_TEST_CASE(dry_run_outside_up_and_down_exits_2)
{
    test::temp_directory dir;
    cli_result r = run_cli({"--dir", dir.path().string(), "status", "--dry-run"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "--dry-run belongs to up and down"));
    }
}

BOOST_AUTO_TEST_CASE(new_without_a_slug_exits_2_and_creates_nothing)
{
    test::temp_directory dir;
    cli_result r = run_cli({"--dir", dir.path().string(), "new"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "new needs exactly one slug"));
    }
    BOOST_TEST(dir_files(dir.path()).empty());
}

BOOST_AUTO_TEST_CASE(no_connection_string_anywhere_exits_2)
{
    test::temp_directory dir;
    write_abc(dir, 1);
    cli_result r = run_process({"--dir", dir.path().string(), "status"}, {});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "--dsn"));
        BOOST_TEST(contains(r.err, "PGCORO_MIGRATE_DSN"));
        BOOST_TEST(contains(r.err, "DATABASE_URL"));
    }
}

BOOST_AUTO_TEST_CASE(help_exits_0_and_mentions_every_command)
{
    cli_result r = run_cli({"--help"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out.starts_with("usage: pgcoro-migrate "));
        for (std::string_view command : {"\n  new <slug>", "\n  up ", "\n  down ", "\n  down --to",
                                         "\n  status ", "\n  current ", "\n  verify "})
            BOOST_TEST(contains(r.out, command), "--help mentions '" << command.substr(3) << "'");
        BOOST_TEST(r.err.empty());
    }
}

BOOST_AUTO_TEST_CASE(help_names_the_program_it_was_given)
{
    pgcoro::migrate_cli_options options;
    options.program_name = "shop-migrate";
    cli_result r = run_cli({"-h"}, std::move(options));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out.starts_with("usage: shop-migrate "));
    }
}

// ---- exit 4: the lock -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(lock_held_elsewhere_with_lock_timeout_0_exits_4)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    pgcoro::migrator default_table{pgcoro::migration_set{}};
    std::string lock_sql = "SELECT pg_advisory_lock(" + std::to_string(default_table.lock_key()) + ")";
    // The test's connection holds the runner's lock while the command line runs (its own
    // io_context, on this thread).
    auto started = std::chrono::steady_clock::now();
    cli_result r = test::run([&]() -> asio::awaitable<cli_result> {
        pgcoro::connect_options options;
        options.conninfo = db.dsn();
        pgcoro::connection holder = co_await test::connect(std::move(options));
        co_await holder.execute_script(lock_sql);
        cli_result inner = run_cli(args_for(db, dir, {"up", "--lock-timeout", "0"}));
        co_return inner;
    });
    auto took = std::chrono::steady_clock::now() - started;
    BOOST_TEST(took < 5s); // 0 means not waiting at all (the default is 60 s)
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::locked));
        BOOST_TEST(contains(r.err, "another migration runner"));
    }
    BOOST_TEST(recorded_versions(db.dsn()).empty());
}

// ---- exit 5: connecting ---------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(unreachable_server_exits_5)
{
    test::temp_directory dir;
    write_abc(dir, 1);
    std::string dsn = with_local_port(test::dsn(), closed_port());
    auto started = std::chrono::steady_clock::now();
    cli_result r = run_cli({"--dsn", dsn, "--dir", dir.path().string(), "--connect-timeout", "1", "status"});
    auto took = std::chrono::steady_clock::now() - started;
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::connection_failed));
        BOOST_TEST(contains(r.err, "Connection refused"));
    }
    // The pool retries a refused connection until --connect-timeout (default 10 s), no longer.
    BOOST_TEST(took < 5s);
}

BOOST_AUTO_TEST_CASE(wrong_password_exits_5)
{
    test::temp_directory dir;
    write_abc(dir, 1);
    std::string dsn = with_password(test::dsn(), std::string(canary_password));
    cli_result r = run_cli({"--dsn", dsn, "--dir", dir.path().string(), "--connect-timeout", "5", "status"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::connection_failed));
        BOOST_TEST(contains(r.err, "password"));
    }
}

// ---- exit 6: malformed migration files ------------------------------------------------------

BOOST_AUTO_TEST_CASE(malformed_file_name_exits_6_naming_the_file_and_applies_nothing)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    dir.write("0002-add-index.up.sql", "CREATE INDEX ON cli_a (id);\n");
    cli_result r = run_cli(args_for(db, dir, {"up"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::invalid_migration));
        BOOST_TEST(contains(r.err, "0002-add-index.up.sql"));
    }
    BOOST_TEST(!relation_exists(db.dsn(), "cli_a"));
}

BOOST_AUTO_TEST_CASE(code_migration_with_the_version_of_a_file_exits_6)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    dir.write("0002_log.up.sql", "CREATE TABLE cli_order_log (seq serial, what text);\n");
    pgcoro::migrate_cli_options options;
    options.code_migrations.push_back(code_migration(2, "also_two", "code"));
    cli_result r = run_cli(args_for(db, dir, {"up"}), std::move(options));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::invalid_migration));
        BOOST_TEST(contains(r.err, "two migrations have version 2"));
    }
    BOOST_TEST(recorded_versions(db.dsn()).empty());
}

// ---- the password is never printed ----------------------------------------------------------

BOOST_AUTO_TEST_CASE(password_is_not_printed_after_a_wrong_password)
{
    test::temp_directory dir;
    write_abc(dir, 1);
    std::string dsn = with_password(test::dsn(), std::string(canary_password));
    cli_result r = run_process({"--dsn", dsn, "--dir", dir.path().string(), "up"}, {});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::connection_failed));
        BOOST_TEST(!r.err.empty());
        BOOST_TEST(!contains(r.out, canary_password));
        BOOST_TEST(!contains(r.err, canary_password));
    }
}

BOOST_AUTO_TEST_CASE(password_is_not_printed_when_the_server_is_unreachable)
{
    test::temp_directory dir;
    write_abc(dir, 1);
    std::string dsn =
        with_local_port(with_password(test::dsn(), std::string(canary_password)), closed_port());
    cli_result r =
        run_process({"--dsn", dsn, "--dir", dir.path().string(), "--connect-timeout", "1", "up"}, {});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::connection_failed));
        BOOST_TEST(!r.err.empty());
        BOOST_TEST(!contains(r.out, canary_password));
        BOOST_TEST(!contains(r.err, canary_password));
    }
}

BOOST_AUTO_TEST_CASE(password_is_not_printed_when_a_migration_fails)
{
    test::scratch_database db;
    test::temp_directory dir;
    std::string password = password_of(db.dsn());
    BOOST_REQUIRE_MESSAGE(!password.empty(), "the test server's DSN has no password to look for");
    dir.write("0001_bad.up.sql", "SELECT no_such_function_cli();\n");
    cli_result r = run_process(args_for(db, dir, {"up"}), {});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::failed));
        BOOST_TEST(contains(r.err, "no_such_function_cli"));
        BOOST_TEST(!contains(r.out, password));
        BOOST_TEST(!contains(r.err, password));
    }
}

BOOST_AUTO_TEST_CASE(password_is_not_printed_by_status)
{
    test::scratch_database db;
    test::temp_directory dir;
    std::string password = password_of(db.dsn());
    BOOST_REQUIRE_MESSAGE(!password.empty(), "the test server's DSN has no password to look for");
    write_abc(dir, 2);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up", "1"})).code == 0);
    cli_result r = run_process(args_for(db, dir, {"status"}), {});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(status_row(r.out, "0001", "a").size() >= 3u);
        BOOST_TEST(!contains(r.out, password));
        BOOST_TEST(!contains(r.err, password));
    }
}

// ---- where the connection string and the directory come from --------------------------------

BOOST_AUTO_TEST_CASE(dsn_option_beats_pgcoro_migrate_dsn_and_database_url)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    std::string nowhere = with_local_port(test::dsn(), closed_port());
    cli_result r =
        run_process(args_for(db, dir, {"up"}), {{"PGCORO_MIGRATE_DSN", nowhere}, {"DATABASE_URL", nowhere}});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(pgcoro_migrate_dsn_beats_database_url)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    std::string nowhere = with_local_port(test::dsn(), closed_port());
    cli_result r = run_process({"--dir", dir.path().string(), "up"},
                               {{"PGCORO_MIGRATE_DSN", db.dsn()}, {"DATABASE_URL", nowhere}});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(database_url_is_used_when_nothing_else_names_a_database)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    cli_result r = run_process({"--dir", dir.path().string(), "up"}, {{"DATABASE_URL", db.dsn()}});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(dir_option_beats_pgcoro_migrations_dir)
{
    test::scratch_database db;
    test::temp_directory chosen;
    test::temp_directory other;
    write_table_migration(chosen, "0001_chosen", "cli_chosen");
    write_table_migration(other, "0001_other", "cli_other");
    cli_result r = run_process({"--dsn", db.dsn(), "--dir", chosen.path().string(), "up"},
                               {{"PGCORO_MIGRATIONS_DIR", other.path().string()}});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
    }
    BOOST_TEST(relation_exists(db.dsn(), "cli_chosen"));
    BOOST_TEST(!relation_exists(db.dsn(), "cli_other"));
}

BOOST_AUTO_TEST_CASE(pgcoro_migrations_dir_is_used_without_dir)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_table_migration(dir, "0001_from_env", "cli_from_env");
    cli_result r = run_process({"--dsn", db.dsn(), "up"}, {{"PGCORO_MIGRATIONS_DIR", dir.path().string()}});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
    }
    BOOST_TEST(relation_exists(db.dsn(), "cli_from_env"));
}

BOOST_AUTO_TEST_CASE(migrations_directory_defaults_to_migrations_in_the_working_directory)
{
    test::scratch_database db;
    test::temp_directory work;
    fs::create_directories(work.path() / "migrations");
    std::ofstream(work.path() / "migrations" / "0001_default.up.sql")
        << "CREATE TABLE cli_default (id int);\n";
    cli_result r = run_process({"--dsn", db.dsn(), "up"}, {}, work.path());
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
    }
    BOOST_TEST(relation_exists(db.dsn(), "cli_default"));
}

// ---- new --------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(new_creates_the_first_pair_in_an_empty_directory)
{
    test::temp_directory dir;
    cli_result r = run_cli({"--dir", dir.path().string(), "new", "create_users"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(contains(r.out, "created " + (dir.path() / "0001_create_users.up.sql").string() + "\n"));
        BOOST_TEST(contains(r.out, "created " + (dir.path() / "0001_create_users.down.sql").string() + "\n"));
    }
    BOOST_TEST(dir_files(dir.path()) ==
                   (std::vector<std::string>{"0001_create_users.down.sql", "0001_create_users.up.sql"}),
               boost::test_tools::per_element());
    BOOST_TEST(read_text(dir.path() / "0001_create_users.up.sql") == "-- create_users: up\n");
    BOOST_TEST(read_text(dir.path() / "0001_create_users.down.sql") == "-- create_users: down\n");
}

BOOST_AUTO_TEST_CASE(new_creates_a_missing_directory)
{
    test::temp_directory dir;
    fs::path nested = dir.path() / "db" / "migrations";
    cli_result r = run_cli({"--dir", nested.string(), "new", "first"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
    }
    BOOST_TEST(dir_files(nested) == (std::vector<std::string>{"0001_first.down.sql", "0001_first.up.sql"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(new_numbers_the_next_pair_after_the_highest_version)
{
    test::temp_directory dir;
    BOOST_REQUIRE(run_cli({"--dir", dir.path().string(), "new", "first"}).code == 0);
    cli_result r = run_cli({"--dir", dir.path().string(), "new", "second"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
    }
    BOOST_TEST(fs::exists(dir.path() / "0002_second.up.sql"));
    BOOST_TEST(fs::exists(dir.path() / "0002_second.down.sql"));
    dir.write("0041_jump.up.sql", "SELECT 1;\n");
    BOOST_REQUIRE(run_cli({"--dir", dir.path().string(), "new", "third"}).code == 0);
    BOOST_TEST(fs::exists(dir.path() / "0042_third.up.sql"));
}

BOOST_AUTO_TEST_CASE(new_refuses_a_bad_slug_and_creates_nothing)
{
    test::temp_directory dir;
    cli_result r = run_cli({"--dir", dir.path().string(), "new", "add users;drop"});
    BOOST_TEST_CONTEXT(r)
    {
        // A bad slug is the user's typing (usage, 2) or a name no migration file may have
        // (invalid_migration, 6): either is sensible; the message must say what a slug may hold.
        BOOST_TEST((r.code == static_cast<int>(pgcoro::migrate_exit::usage) ||
                    r.code == static_cast<int>(pgcoro::migrate_exit::invalid_migration)));
        BOOST_TEST(contains(r.err, "letters, digits"));
    }
    BOOST_TEST(dir_files(dir.path()).empty());
}

BOOST_AUTO_TEST_CASE(new_never_writes_through_an_existing_name)
{
    // A dangling symlink with the new file's name: not a migration (it is no regular file),
    // but creating the file through it would write elsewhere.
    test::temp_directory dir;
    write_abc(dir, 1);
    fs::path elsewhere = dir.path() / "elsewhere.txt";
    fs::create_symlink(elsewhere, dir.path() / "0002_b.up.sql");
    cli_result r = run_cli({"--dir", dir.path().string(), "new", "b"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code != 0);
        BOOST_TEST(contains(r.err, "0002_b.up.sql"));
    }
    BOOST_TEST(!fs::exists(elsewhere));
    BOOST_TEST(!fs::exists(dir.path() / "0002_b.down.sql"));
}

BOOST_AUTO_TEST_CASE(new_leaves_no_half_pair_when_the_down_file_cannot_be_created)
{
    test::temp_directory dir;
    write_abc(dir, 1);
    fs::path elsewhere = dir.path() / "elsewhere.txt";
    fs::create_symlink(elsewhere, dir.path() / "0002_b.down.sql");
    cli_result r = run_cli({"--dir", dir.path().string(), "new", "b"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code != 0);
        BOOST_TEST(contains(r.err, "0002_b.down.sql"));
    }
    BOOST_TEST(!fs::exists(elsewhere));
    BOOST_TEST(!fs::exists(dir.path() / "0002_b.up.sql"));
}

BOOST_AUTO_TEST_CASE(new_from_model_without_models_exits_2_with_a_clear_message)
{
    test::temp_directory dir;
    cli_result r = run_cli({"--dir", dir.path().string(), "new", "initial", "--from-model"});
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(contains(r.err, "no models are registered"));
        BOOST_TEST(contains(r.err, "run_migrate_cli"));
    }
    BOOST_TEST(dir_files(dir.path()).empty());
}

pgcoro::migrate_cli_options with_models()
{
    pgcoro::migrate_cli_options options;
    // The referencing table first: the script must order them by their references.
    options.models = {pgcoro::table<book>(), pgcoro::table<author>()};
    return options;
}

BOOST_AUTO_TEST_CASE(new_from_model_writes_create_up_and_drop_down)
{
    test::temp_directory dir;
    cli_result r = run_cli({"--dir", dir.path().string(), "new", "initial", "--from-model"}, with_models());
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_REQUIRE(r.code == 0);
    }
    std::string up = read_text(dir.path() / "0001_initial.up.sql");
    std::string down = read_text(dir.path() / "0001_initial.down.sql");
    BOOST_TEST_CONTEXT("up:\n" << up << "\ndown:\n" << down)
    {
        std::size_t create_authors = up.find("CREATE TABLE \"cli_authors\"");
        std::size_t create_books = up.find("CREATE TABLE \"cli_books\"");
        BOOST_TEST(create_authors != std::string::npos);
        BOOST_TEST(create_books != std::string::npos);
        BOOST_TEST(create_authors < create_books);
        std::size_t drop_authors = down.find("DROP TABLE \"cli_authors\"");
        std::size_t drop_books = down.find("DROP TABLE \"cli_books\"");
        BOOST_TEST(drop_books != std::string::npos);
        BOOST_TEST(drop_authors != std::string::npos);
        BOOST_TEST(drop_books < drop_authors);
        BOOST_TEST(!contains(down, "CREATE"));
    }
}

BOOST_AUTO_TEST_CASE(new_from_model_migration_applies_and_reverts)
{
    test::scratch_database db;
    test::temp_directory dir;
    BOOST_REQUIRE(
        run_cli({"--dir", dir.path().string(), "new", "initial", "--from-model"}, with_models()).code == 0);
    cli_result up = run_cli(args_for(db, dir, {"up"}));
    BOOST_TEST_CONTEXT(up)
    {
        BOOST_REQUIRE(up.code == 0);
    }
    BOOST_TEST(relation_exists(db.dsn(), "cli_authors"));
    BOOST_TEST(relation_exists(db.dsn(), "cli_books"));
    BOOST_TEST(scalar_in<std::int64_t>(db.dsn(), "SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND "
                                                 "conrelid = 'cli_books'::regclass AND "
                                                 "confrelid = 'cli_authors'::regclass") == 1);
    cli_result down = run_cli(args_for(db, dir, {"down"}));
    BOOST_TEST_CONTEXT(down)
    {
        BOOST_REQUIRE(down.code == 0);
    }
    BOOST_TEST(!relation_exists(db.dsn(), "cli_authors"));
    BOOST_TEST(!relation_exists(db.dsn(), "cli_books"));
    BOOST_TEST(recorded_versions(db.dsn()).empty());
}

// ---- --dry-run, --quiet, --table / --schema -------------------------------------------------

BOOST_AUTO_TEST_CASE(dry_run_up_prints_what_would_run_and_changes_nothing)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    cli_result r = run_cli(args_for(db, dir, {"up", "--dry-run"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out == "current version: 0\nwould run up   0001_a\nwould run up   0002_b\n");
    }
    BOOST_TEST(!relation_exists(db.dsn(), "schema_migrations"));
    BOOST_TEST(!relation_exists(db.dsn(), "cli_a"));
}

BOOST_AUTO_TEST_CASE(dry_run_up_version_lists_only_up_to_that_version)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 3);
    cli_result r = run_cli(args_for(db, dir, {"up", "2", "--dry-run"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out == "current version: 0\nwould run up   0001_a\nwould run up   0002_b\n");
    }
}

BOOST_AUTO_TEST_CASE(dry_run_down_prints_what_would_run_and_changes_nothing)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 3);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"down", "2", "--dry-run"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out == "current version: 3\nwould run down 0003_c\nwould run down 0002_b\n");
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2, 3}),
               boost::test_tools::per_element());
    BOOST_TEST(relation_exists(db.dsn(), "cli_c"));
}

BOOST_AUTO_TEST_CASE(dry_run_with_nothing_to_do_says_so)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"up", "--dry-run"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out == "current version: 1\nnothing to do\n");
    }
}

BOOST_AUTO_TEST_CASE(dry_run_up_exits_3_when_up_would_be_refused)
{
    // A dry run makes the checks up() makes first (drift, missing, out of order): a CI step
    // that uses it as a gate must fail where `up` would.
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    dir.write("0001_a.up.sql", "CREATE TABLE cli_a (id bigint);\n");
    write_table_migration(dir, "0002_b", "cli_b");
    cli_result r = run_cli(args_for(db, dir, {"up", "--dry-run"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::conflict));
        BOOST_TEST(!contains(r.out, "would run up   0002_b"));
    }
}

BOOST_AUTO_TEST_CASE(dry_run_up_to_an_unknown_version_is_refused_like_up)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    cli_result r = run_cli(args_for(db, dir, {"up", "7", "--dry-run"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == static_cast<int>(pgcoro::migrate_exit::usage));
        BOOST_TEST(!contains(r.out, "would run"));
    }
}

BOOST_AUTO_TEST_CASE(quiet_up_prints_nothing)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    cli_result r = run_cli(args_for(db, dir, {"--quiet", "up"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out.empty());
        BOOST_TEST(r.err.empty());
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(quiet_verify_prints_nothing_when_ok)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 1);
    BOOST_REQUIRE(run_cli(args_for(db, dir, {"up"})).code == 0);
    cli_result r = run_cli(args_for(db, dir, {"-q", "verify"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
        BOOST_TEST(r.out.empty());
    }
}

BOOST_AUTO_TEST_CASE(table_and_schema_options_record_in_that_table)
{
    test::scratch_database db;
    test::temp_directory dir;
    write_abc(dir, 2);
    cli_result r = run_cli(args_for(db, dir, {"--schema", "cli_meta", "--table", "cli_history", "up"}));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_TEST(r.code == 0);
    }
    BOOST_TEST(recorded_versions(db.dsn(), "cli_meta.cli_history") == (std::vector<std::int64_t>{1, 2}),
               boost::test_tools::per_element());
    BOOST_TEST(!relation_exists(db.dsn(), "schema_migrations"));
    cli_result elsewhere = run_cli(args_for(db, dir, {"current"}));
    BOOST_TEST(elsewhere.out == "0\n");
    cli_result same =
        run_cli(args_for(db, dir, {"--schema", "cli_meta", "--table", "cli_history", "current"}));
    BOOST_TEST(same.out == "2\n");
}

// ---- C++ migrations ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(code_migrations_run_in_version_order_with_the_directory_ones)
{
    test::scratch_database db;
    test::temp_directory dir;
    dir.write("0001_log.up.sql", "CREATE TABLE cli_order_log (seq serial, what text);\n");
    dir.write("0003_file.up.sql", "INSERT INTO cli_order_log (what) VALUES ('file3');\n");
    pgcoro::migrate_cli_options options;
    options.code_migrations.push_back(code_migration(4, "code_four", "code4"));
    options.code_migrations.push_back(code_migration(2, "code_two", "code2"));
    cli_result r = run_cli(args_for(db, dir, {"up"}), std::move(options));
    BOOST_TEST_CONTEXT(r)
    {
        BOOST_REQUIRE(r.code == 0);
        auto progress = matching_lines(r.out, R"(up   \d{4}_\w+ \.\.\. done in .*)");
        BOOST_REQUIRE(progress.size() == 4u);
        BOOST_TEST(progress[1].starts_with("up   0002_code_two "));
        BOOST_TEST(progress[3].starts_with("up   0004_code_four "));
    }
    std::string order =
        scalar_in<std::string>(db.dsn(), "SELECT string_agg(what, ',' ORDER BY seq) FROM cli_order_log");
    BOOST_TEST(order == "code2,file3,code4");
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2, 3, 4}),
               boost::test_tools::per_element());
}

// ---- two processes at once ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(two_concurrent_processes_apply_each_migration_once)
{
    test::scratch_database db;
    test::temp_directory dir;
    // Slow and not idempotent: a second application would fail on CREATE TABLE.
    for (int i = 1; i <= 3; ++i)
        dir.write("000" + std::to_string(i) + "_slow" + std::to_string(i) + ".up.sql",
                  "SELECT pg_sleep(0.3);\nCREATE TABLE cli_slow" + std::to_string(i) + " (id int);\n");
    std::vector<std::string> args = args_for(db, dir, {"up", "--lock-timeout", "20"});
    child_process first = spawn_cli(args, {}, fs::path());
    child_process second = spawn_cli(args, {}, fs::path());
    cli_result a = wait_for(first);
    cli_result b = wait_for(second);
    BOOST_TEST_CONTEXT("first: " << a << "\nsecond: " << b)
    {
        BOOST_TEST(a.code == 0);
        BOOST_TEST(b.code == 0);
        bool a_waited = contains(a.out, "waiting for another migration runner");
        bool b_waited = contains(b.out, "waiting for another migration runner");
        BOOST_TEST(a_waited != b_waited);
        const cli_result& waiter = b_waited ? b : a;
        const cli_result& runner = b_waited ? a : b;
        BOOST_TEST(contains(runner.out, "applied 3 migrations; version 0 -> 3"));
        BOOST_TEST(contains(waiter.out, "nothing to do; current version 3"));
    }
    BOOST_TEST(recorded_versions(db.dsn()) == (std::vector<std::int64_t>{1, 2, 3}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
