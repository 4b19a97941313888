// The migration command line: argument parsing, one pool of one connection, progress lines
// and exit codes.

#include <pgcoro/logger.hpp>
#include <pgcoro/migrate_cli.hpp>
#include <pgcoro/pool.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace pgcoro {

namespace asio = boost::asio;

namespace {

constexpr std::string_view usage_text = R"(usage: {program} [options] <command> [arguments]

commands:
  new <slug> [--from-model]   create the next <version>_<slug>.up.sql / .down.sql pair in the
                              directory (--from-model: CREATE/DROP of the program's models)
  up [VERSION]                apply every pending migration (up to and including VERSION)
  down [N]                    revert the N newest applied migrations (default 1)
  down --to VERSION           revert every applied migration above VERSION (0: all)
  status                      list known and applied migrations and their state
  current                     print the newest applied version (0: none)
  verify                      check applied migrations against the files (drift, missing,
                              out of order)

options:
  --dsn DSN              connection string (default: $PGCORO_MIGRATE_DSN, then $DATABASE_URL)
  --dir DIR              migrations directory (default: $PGCORO_MIGRATIONS_DIR, then migrations)
  --table NAME           table recording applied migrations (default: schema_migrations)
  --schema NAME          schema of that table (default: the search_path's first)
  --lock-timeout SECS    wait this long for another runner's lock (default 60; 0: do not wait)
  --connect-timeout SECS give up connecting after this long (default 10)
  --force                run despite drifted or missing migrations
  --allow-out-of-order   apply pending migrations older than the newest applied one
  --dry-run              up/down: print what would run, change nothing
  -q, --quiet            no progress lines
  -h, --help             this text

exit codes: 0 ok, 1 a migration (or the command) failed, 2 bad usage, 3 drift / missing /
out-of-order migrations, 4 lock not acquired, 5 cannot connect, 6 malformed migration files
)";

struct usage_error {
    std::string message;
};

struct arguments {
    std::string command;
    std::vector<std::string> positional;
    std::string dsn;
    std::string directory;
    std::string table = "schema_migrations";
    std::string schema;
    std::chrono::milliseconds lock_timeout{std::chrono::seconds{60}};
    std::chrono::milliseconds connect_timeout{std::chrono::seconds{10}};
    std::optional<std::int64_t> up_to;   ///< up VERSION
    std::optional<std::int64_t> down_to; ///< down --to VERSION
    std::size_t down_steps = 1;          ///< down N
    bool from_model = false;
    bool force = false;
    bool allow_out_of_order = false;
    bool dry_run = false;
    bool quiet = false;
    bool help = false;
};

std::int64_t parse_number(std::string_view text, std::string_view what)
{
    std::int64_t value = 0;
    auto converted = std::from_chars(text.data(), text.data() + text.size(), value);
    if (converted.ec != std::errc{} || converted.ptr != text.data() + text.size() || value < 0)
        throw usage_error{std::string(what) + " must be a non-negative whole number, not '" +
                          std::string(text) + "'"};
    return value;
}

std::chrono::milliseconds parse_seconds(std::string_view text, std::string_view what)
{
    std::int64_t seconds = parse_number(text, what);
    if (seconds > 86'400 * 365)
        throw usage_error{std::string(what) + " is too large"};
    return std::chrono::seconds{seconds};
}

const char* env(const char* name)
{
    const char* value = std::getenv(name);
    return value && *value ? value : nullptr;
}

arguments parse(int argc, const char* const* argv)
{
    arguments args;
    auto value_of = [&](int& i, std::string_view option) -> std::string {
        if (i + 1 >= argc)
            throw usage_error{"option " + std::string(option) + " needs a value"};
        return argv[++i];
    };
    for (int i = 1; i < argc; ++i) {
        std::string_view a = argv[i];
        if (a == "-h" || a == "--help")
            args.help = true;
        else if (a == "--dsn")
            args.dsn = value_of(i, a);
        else if (a == "--dir")
            args.directory = value_of(i, a);
        else if (a == "--table")
            args.table = value_of(i, a);
        else if (a == "--schema")
            args.schema = value_of(i, a);
        else if (a == "--lock-timeout")
            args.lock_timeout = parse_seconds(value_of(i, a), "--lock-timeout");
        else if (a == "--connect-timeout")
            args.connect_timeout = parse_seconds(value_of(i, a), "--connect-timeout");
        else if (a == "--to")
            args.down_to = parse_number(value_of(i, a), "--to");
        else if (a == "--from-model")
            args.from_model = true;
        else if (a == "--force")
            args.force = true;
        else if (a == "--allow-out-of-order")
            args.allow_out_of_order = true;
        else if (a == "--dry-run")
            args.dry_run = true;
        else if (a == "-q" || a == "--quiet")
            args.quiet = true;
        else if (a.starts_with("-") && a.size() > 1)
            throw usage_error{"unknown option " + std::string(a)};
        else if (args.command.empty())
            args.command = a;
        else
            args.positional.emplace_back(a);
    }
    if (args.help)
        return args;
    if (args.command.empty())
        throw usage_error{"no command given"};
    auto at_most = [&](std::size_t n) {
        if (args.positional.size() > n)
            throw usage_error{"too many arguments for " + args.command};
    };
    if (args.command == "new") {
        if (args.positional.size() != 1)
            throw usage_error{"new needs exactly one slug, e.g. new create_users"};
    } else if (args.command == "up") {
        at_most(1);
        if (!args.positional.empty())
            args.up_to = parse_number(args.positional[0], "VERSION");
    } else if (args.command == "down") {
        at_most(1);
        if (args.down_to && !args.positional.empty())
            throw usage_error{"down takes either a number of steps or --to VERSION, not both"};
        if (!args.positional.empty()) {
            args.down_steps = static_cast<std::size_t>(parse_number(args.positional[0], "N"));
            if (args.down_steps == 0)
                throw usage_error{"down 0 reverts nothing; give N >= 1 or --to VERSION"};
        }
    } else if (args.command == "status" || args.command == "current" || args.command == "verify") {
        at_most(0);
    } else
        throw usage_error{"unknown command '" + args.command + "'"};
    if (args.from_model && args.command != "new")
        throw usage_error{"--from-model belongs to new"};
    if (args.down_to && args.command != "down")
        throw usage_error{"--to belongs to down"};
    if (args.dry_run && args.command != "up" && args.command != "down")
        throw usage_error{"--dry-run belongs to up and down"};
    if (args.directory.empty())
        args.directory = env("PGCORO_MIGRATIONS_DIR") ? env("PGCORO_MIGRATIONS_DIR") : "migrations";
    return args;
}

std::string format_duration(std::chrono::nanoseconds d)
{
    std::ostringstream text;
    double ms = std::chrono::duration<double, std::milli>(d).count();
    if (ms < 1000)
        text << std::fixed << std::setprecision(1) << ms << " ms";
    else
        text << std::fixed << std::setprecision(2) << ms / 1000 << " s";
    return text.str();
}

std::string format_time(const timestamp& t)
{
    std::time_t seconds =
        std::chrono::system_clock::to_time_t(std::chrono::time_point_cast<std::chrono::seconds>(t));
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S UTC", &utc);
    return text;
}

std::string padded_version(std::int64_t version)
{
    std::string text = std::to_string(version);
    return text.size() < 4 ? std::string(4 - text.size(), '0') + text : text;
}

class cli {
public:
    cli(arguments args, migrate_cli_options options, std::ostream& out, std::ostream& err)
        : args_(std::move(args)), options_(std::move(options)), out_(out), err_(err)
    {}

    int run();

private:
    int create_new();
    migration_set load() const;
    asio::awaitable<int> database(migrator& m);
    void print_status(const std::vector<migration_status>& statuses);
    void progress(const migration_event& event);

    arguments args_;
    migrate_cli_options options_;
    std::ostream& out_;
    std::ostream& err_;
};

int cli::create_new()
{
    std::string up = "-- " + args_.positional[0] + ": up\n";
    std::string down = "-- " + args_.positional[0] + ": down\n";
    if (args_.from_model) {
        if (options_.models.empty()) {
            err_ << options_.program_name
                 << ": no models are registered in this program; build a migration tool of your own that "
                    "passes them to pgcoro::run_migrate_cli (see the README, \"Migrations\")\n";
            return static_cast<int>(migrate_exit::usage);
        }
        schema_script script = schema_sql(options_.models);
        up += "-- generated from the program's models; review before applying\n" + script.up;
        down += script.down;
    }
    auto files = create_migration_files(args_.directory, args_.positional[0], up, down);
    out_ << "created " << files.first.string() << "\ncreated " << files.second.string() << "\n";
    return 0;
}

migration_set cli::load() const
{
    migration_set set = migration_set::from_directory(args_.directory);
    for (const migration& m : options_.code_migrations)
        set.add(m);
    return set;
}

void cli::progress(const migration_event& event)
{
    if (args_.quiet)
        return;
    switch (event.type) {
    case migration_event::kind::waiting_for_lock:
        out_ << "waiting for another migration runner";
        if (event.holder_pid)
            out_ << " (server process " << event.holder_pid << ")";
        out_ << " to release the lock..." << std::endl;
        break;
    case migration_event::kind::locked:
        break;
    case migration_event::kind::started:
        out_ << event.direction << (event.direction == "up" ? "   " : " ") << event.subject->name() << " ... "
             << std::flush;
        break;
    case migration_event::kind::finished:
        out_ << "done in " << format_duration(event.duration) << std::endl;
        break;
    case migration_event::kind::failed:
        out_ << "FAILED" << std::endl;
        break;
    }
}

void cli::print_status(const std::vector<migration_status>& statuses)
{
    if (statuses.empty()) {
        out_ << "no migrations\n";
        return;
    }
    out_ << std::left << std::setw(10) << "version" << std::setw(36) << "name" << std::setw(10) << "state"
         << std::setw(25) << "applied at"
         << "took\n";
    for (const migration_status& s : statuses) {
        std::string state(to_string(s.state));
        if (s.out_of_order)
            state += "*";
        out_ << std::setw(10) << padded_version(s.version) << std::setw(36) << s.slug << std::setw(10)
             << state << std::setw(25) << (s.applied_at ? format_time(*s.applied_at) : std::string("-"))
             << (s.applied_at ? format_duration(s.execution_time) : std::string("-")) << "\n";
    }
    if (std::any_of(statuses.begin(), statuses.end(),
                    [](const migration_status& s) { return s.out_of_order; }))
        out_ << "* pending, but older than the newest applied migration (out of order)\n";
}

asio::awaitable<int> cli::database(migrator& m)
{
    pool_options options;
    options.conninfo = args_.dsn;
    options.pool_size = 1;
    options.max_overflow = 0;
    options.pool_timeout = args_.connect_timeout;
    options.connect_timeout = args_.connect_timeout;
    auto executor = co_await asio::this_coro::executor;
    pgcoro::pool pool(executor, options);
    session s = co_await pool.session();

    const std::string& command = args_.command;
    if (command == "status") {
        auto statuses = co_await m.status(s);
        print_status(statuses);
        co_return 0;
    }
    if (command == "current") {
        std::int64_t current = co_await m.current(s);
        out_ << current << "\n";
        co_return 0;
    }
    if (command == "verify") {
        auto problems = co_await m.verify(s);
        if (problems.empty()) {
            if (!args_.quiet)
                out_ << "ok: every applied migration matches its file\n";
            co_return 0;
        }
        for (const migration_status& p : problems) {
            err_ << p.name() << ": ";
            if (p.state == migration_state::drifted)
                err_ << "drifted (changed since it was applied)\n";
            else if (p.state == migration_state::missing)
                err_ << "missing (applied, but no such migration is known)\n";
            else
                err_ << "pending out of order (older than the newest applied migration)\n";
        }
        co_return static_cast<int>(migrate_exit::conflict);
    }
    if (args_.dry_run) {
        migration_plan plan;
        if (command == "up") {
            if (args_.up_to)
                plan = co_await m.plan_up_to(s, *args_.up_to);
            else
                plan = co_await m.plan_up(s);
        } else if (args_.down_to) {
            plan = co_await m.plan_down_to(s, *args_.down_to);
        } else {
            plan = co_await m.plan_down(s, args_.down_steps);
        }
        out_ << "current version: " << plan.from << "\n";
        if (plan.migrations.empty())
            out_ << "nothing to do\n";
        for (const migration* would : plan.migrations)
            out_ << "would run " << (command == "up" ? "up   " : "down ") << would->name() << "\n";
        co_return 0;
    }

    migration_report report;
    if (command == "up") {
        if (args_.up_to)
            report = co_await m.up_to(s, *args_.up_to);
        else
            report = co_await m.up(s);
    } else {
        if (args_.down_to)
            report = co_await m.down_to(s, *args_.down_to);
        else
            report = co_await m.down(s, args_.down_steps);
    }
    if (!args_.quiet) {
        if (report.migrations.empty())
            out_ << "nothing to do; current version " << report.to << "\n";
        else
            out_ << (command == "up" ? "applied " : "reverted ") << report.migrations.size() << " migration"
                 << (report.migrations.size() == 1 ? "" : "s") << "; version " << report.from << " -> "
                 << report.to << "\n";
    }
    co_return 0;
}

int exit_code_for(const boost::system::error_code& code)
{
    if (code == client_errc::invalid_migration)
        return static_cast<int>(migrate_exit::invalid_migration);
    if (code == client_errc::migration_conflict)
        return static_cast<int>(migrate_exit::conflict);
    if (code == client_errc::migration_locked)
        return static_cast<int>(migrate_exit::locked);
    if (code == client_errc::connect_failed || code == client_errc::connect_timeout ||
        code == client_errc::invalid_connection_string || code == client_errc::pool_timeout)
        return static_cast<int>(migrate_exit::connection_failed);
    if (code == client_errc::invalid_argument)
        return static_cast<int>(migrate_exit::usage);
    return static_cast<int>(migrate_exit::failed);
}

int cli::run()
{
    if (args_.command == "new")
        return create_new();
    if (args_.dsn.empty()) {
        const char* dsn = env("PGCORO_MIGRATE_DSN");
        if (!dsn)
            dsn = env("DATABASE_URL");
        if (!dsn)
            throw usage_error{"no database: give --dsn, or set PGCORO_MIGRATE_DSN or DATABASE_URL"};
        args_.dsn = dsn;
    }
    migrator_options options;
    options.table = args_.table;
    options.schema = args_.schema;
    options.lock_timeout = args_.lock_timeout;
    options.force = args_.force;
    options.allow_out_of_order = args_.allow_out_of_order;
    options.on_progress = [this](const migration_event& event) {
        progress(event);
    };
    migrator m(load(), std::move(options));

    asio::io_context io;
    int code = 0;
    std::exception_ptr failure;
    asio::co_spawn(io, database(m), [&](std::exception_ptr e, int result) {
        failure = e;
        code = result;
    });
    io.run();
    if (failure)
        std::rethrow_exception(failure);
    return code;
}

} // namespace

int run_migrate_cli(int argc, const char* const* argv, migrate_cli_options options, std::ostream& out,
                    std::ostream& err)
{
    std::string program = options.program_name;
    try {
        arguments args = parse(argc, argv);
        if (args.help) {
            std::string text(usage_text);
            text.replace(text.find("{program}"), 9, program);
            out << text;
            return 0;
        }
        // The library's log lines would repeat what the command reports itself (a pool's
        // connect failures, ...): only errors get through, for the duration of the command.
        struct quiet_logger {
            log_function previous;
            ~quiet_logger() { set_logger(std::move(previous)); }
        } logger{set_logger([&err, &program](log_level level, std::string_view line) {
            if (level == log_level::error)
                err << program << ": " << line << "\n";
        })};
        cli runner(std::move(args), std::move(options), out, err);
        return runner.run();
    } catch (const usage_error& e) {
        err << program << ": " << e.message << " (" << program << " --help for usage)\n";
        return static_cast<int>(migrate_exit::usage);
    } catch (const migration_error& e) {
        err << program << ": " << e.what() << "\n";
        if (e.partially_applied())
            err << program
                << ": this migration runs outside a transaction and its earlier statements stay applied; "
                   "make it safe to run again (IF NOT EXISTS, ...) before the next up\n";
        return static_cast<int>(migrate_exit::failed);
    } catch (const error& e) {
        err << program << ": " << detail::describe_error(e.code(), e.diag()) << "\n";
        return exit_code_for(e.code());
    } catch (const std::exception& e) {
        err << program << ": " << e.what() << "\n";
        return static_cast<int>(migrate_exit::failed);
    }
}

int run_migrate_cli(int argc, const char* const* argv, migrate_cli_options options)
{
    return run_migrate_cli(argc, argv, std::move(options), std::cout, std::cerr);
}

} // namespace pgcoro
