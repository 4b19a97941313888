// Migrations: loading migration files, the applied-migrations table, the advisory lock, and
// running each migration in its own transaction.

#include <pgcoro/detail/hash.hpp>
#include <pgcoro/detail/sql_script.hpp>
#include <pgcoro/identifier.hpp>
#include <pgcoro/migrations.hpp>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <openssl/evp.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <system_error>
#include <tuple>

namespace pgcoro {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using steady = std::chrono::steady_clock;

namespace {

[[noreturn]] void invalid(std::string message)
{
    throw error(client_errc::invalid_migration, std::move(message));
}

[[noreturn]] void conflict(std::string message)
{
    throw error(client_errc::migration_conflict, std::move(message));
}

bool valid_slug(std::string_view slug) noexcept
{
    if (slug.empty() || slug.size() > 200)
        return false;
    return std::all_of(slug.begin(), slug.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '-';
    });
}

std::string padded(std::int64_t version)
{
    std::string text = std::to_string(version);
    if (text.size() < 4)
        text.insert(0, 4 - text.size(), '0');
    return text;
}

std::string read_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in)
        invalid("cannot read migration file " + path.string());
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad())
        invalid("cannot read migration file " + path.string());
    return std::move(text).str();
}

/// `<version>_<slug>.up.sql` / `.down.sql`.
struct file_name {
    std::int64_t version = 0;
    std::string slug;
    bool up = true;
};

/// nullopt for a file that is not SQL (ignored); throws for a .sql file with another name.
std::optional<file_name> parse_file_name(const fs::path& path)
{
    std::string name = path.filename().string();
    constexpr std::string_view sql_suffix = ".sql";
    if (name.size() < sql_suffix.size())
        return std::nullopt;
    std::string extension = name.substr(name.size() - 4);
    std::transform(extension.begin(), extension.end(), extension.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (extension != sql_suffix)
        return std::nullopt;
    auto bad = [&]() -> std::optional<file_name> {
        invalid("migration file " + path.string() +
                ": expected a name like 0001_create_users.up.sql or 0001_create_users.down.sql");
    };
    std::string_view rest(name);
    rest.remove_suffix(sql_suffix.size());
    file_name parsed;
    if (rest.ends_with(".up"))
        rest.remove_suffix(3);
    else if (rest.ends_with(".down")) {
        rest.remove_suffix(5);
        parsed.up = false;
    } else
        return bad();
    std::size_t underscore = rest.find('_');
    if (underscore == 0 || underscore == std::string_view::npos)
        return bad();
    std::string_view digits = rest.substr(0, underscore);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return bad();
    auto converted = std::from_chars(digits.data(), digits.data() + digits.size(), parsed.version);
    if (converted.ec != std::errc{} || parsed.version <= 0)
        invalid("migration file " + path.string() + ": the version must be a positive 64-bit number");
    parsed.slug = std::string(rest.substr(underscore + 1));
    if (!valid_slug(parsed.slug))
        invalid("migration file " + path.string() +
                ": the name after the version may hold only letters, "
                "digits, '_' and '-'");
    return parsed;
}

std::string describe_source(const migration& m, const migration_step& step, bool upward)
{
    std::string text = "migration " + m.name() + " (" + (upward ? "up" : "down");
    if (!step.source.empty())
        text += ", " + step.source;
    else if (step.function)
        text += ", C++ function";
    return text;
}

/// Applies the step's directives and checks its statements; throws invalid_migration naming
/// the migration and the line.
void check_sql_step(const migration& m, migration_step& step, bool upward)
{
    if (step.function)
        return;
    std::string where = describe_source(m, step, upward) + ")";
    if (upward && step.sql.empty())
        invalid(where + ": the up step has neither SQL nor a function");
    std::vector<detail::script_statement> statements;
    try {
        for (const std::string& directive : detail::script_directives(step.sql)) {
            if (directive == "no-transaction")
                step.transactional = false;
            else
                invalid(where + ": unknown directive 'pgcoro:" + directive +
                        "' (known: pgcoro:no-transaction)");
        }
        statements = detail::split_sql_script(step.sql);
    } catch (const error& e) {
        if (e.code() == client_errc::invalid_migration)
            throw;
        invalid(where + ": " + e.diag().message);
    }
    if (upward && statements.empty())
        invalid(where + ": no statement to run (only comments?); write the migration before applying it");
    if (!step.transactional)
        return;
    for (const detail::script_statement& statement : statements) {
        std::string words = detail::first_words(statement.text, 2);
        std::string first = words.substr(0, words.find(' '));
        bool control = first == "BEGIN" || first == "COMMIT" || first == "END" || first == "ROLLBACK" ||
                       first == "ABORT" || words == "START TRANSACTION" || words == "PREPARE TRANSACTION";
        if (control)
            invalid(where + ": line " + std::to_string(statement.line) + ": " + words +
                    " in a transactional migration (each migration already runs in a transaction of its "
                    "own); remove it, or put '-- pgcoro:no-transaction' before the first statement");
    }
}

std::string hex(const unsigned char* data, std::size_t size)
{
    static constexpr char digits[] = "0123456789abcdef";
    std::string text;
    text.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        text += digits[data[i] >> 4];
        text += digits[data[i] & 15];
    }
    return text;
}

void emit(const migrator_options& options, migration_event::kind type, std::string_view direction,
          const migration* subject, std::chrono::nanoseconds duration, int holder_pid)
{
    if (!options.on_progress)
        return;
    migration_event event;
    event.type = type;
    event.direction = direction;
    event.subject = subject;
    event.duration = duration;
    event.holder_pid = holder_pid;
    options.on_progress(event);
}

std::int64_t current_version(const std::vector<migration_status>& statuses) noexcept
{
    std::int64_t current = 0;
    for (const migration_status& status : statuses)
        if (status.state != migration_state::pending)
            current = std::max(current, status.version);
    return current;
}

std::string list_names(const std::vector<const migration_status*>& items)
{
    std::string text;
    for (const migration_status* status : items) {
        if (!text.empty())
            text += ", ";
        text += status->name();
    }
    return text;
}

} // namespace

// ---- migration, migration_set ---------------------------------------------------------------

std::string migration::name() const
{
    return padded(version) + "_" + slug;
}

std::string migration_checksum(std::string_view sql)
{
    if (sql.starts_with("\xEF\xBB\xBF"))
        sql.remove_prefix(3);
    std::string normalised;
    normalised.reserve(sql.size());
    for (std::size_t i = 0; i < sql.size(); ++i)
        if (!(sql[i] == '\r' && i + 1 < sql.size() && sql[i + 1] == '\n'))
            normalised += sql[i];
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int length = 0;
    if (EVP_Digest(normalised.data(), normalised.size(), digest, &length, EVP_sha256(), nullptr) != 1)
        throw error(client_errc::invalid_migration, "SHA-256 is not available (OpenSSL)");
    return hex(digest, length);
}

migration_set& migration_set::add(migration m)
{
    if (m.version <= 0)
        invalid("migration " + std::to_string(m.version) + "_" + m.slug + ": the version must be positive");
    if (!valid_slug(m.slug))
        invalid("migration " + padded(m.version) + ": the slug '" + m.slug +
                "' must be 1-200 letters, digits, '_' or '-'");
    if (const migration* other = find(m.version))
        invalid("two migrations have version " + std::to_string(m.version) + ": " + other->name() + " and " +
                m.name());
    check_sql_step(m, m.up, true);
    if (m.down)
        check_sql_step(m, *m.down, false);
    if (m.checksum.empty() && !m.up.function)
        m.checksum = migration_checksum(m.up.sql);
    auto at = std::lower_bound(migrations_.begin(), migrations_.end(), m.version,
                               [](const migration& a, std::int64_t v) { return a.version < v; });
    migrations_.insert(at, std::move(m));
    return *this;
}

const migration* migration_set::find(std::int64_t version) const noexcept
{
    auto at = std::lower_bound(migrations_.begin(), migrations_.end(), version,
                               [](const migration& a, std::int64_t v) { return a.version < v; });
    return at != migrations_.end() && at->version == version ? &*at : nullptr;
}

std::int64_t migration_set::head() const noexcept
{
    return migrations_.empty() ? 0 : migrations_.back().version;
}

migration_set migration_set::from_directory(const fs::path& directory)
{
    std::error_code failure;
    fs::directory_iterator entries(directory, failure);
    if (failure)
        invalid("cannot read the migrations directory " + directory.string() + ": " + failure.message());
    struct pair {
        std::string slug;
        std::string digits; ///< the version as spelt in the first file seen
        std::string first;  ///< that file's name
        std::optional<fs::path> up, down;
    };
    std::map<std::int64_t, pair> found;
    for (const fs::directory_entry& entry : entries) {
        if (!entry.is_regular_file())
            continue;
        std::optional<file_name> name = parse_file_name(entry.path());
        if (!name)
            continue;
        pair& slot = found[name->version];
        std::string file = entry.path().filename().string();
        std::string digits = file.substr(0, file.find('_'));
        if (!slot.digits.empty() && slot.digits != digits)
            invalid("two migration files spell version " + std::to_string(name->version) +
                    " differently: " + slot.first + " and " + file + " (in " + directory.string() + ")");
        slot.digits = digits;
        slot.first = file;
        if (!slot.slug.empty() && slot.slug != name->slug)
            invalid("two migrations have version " + std::to_string(name->version) + ": " +
                    padded(name->version) + "_" + slot.slug + " and " + padded(name->version) + "_" +
                    name->slug + " (in " + directory.string() + ")");
        slot.slug = name->slug;
        (name->up ? slot.up : slot.down) = entry.path();
    }
    migration_set set;
    for (auto& [version, files] : found) {
        if (!files.up)
            invalid("migration file " + files.down->string() + " has no matching .up.sql file");
        migration m;
        m.version = version;
        m.slug = files.slug;
        m.up.sql = read_file(*files.up);
        m.up.source = files.up->string();
        if (files.down) {
            migration_step down;
            down.sql = read_file(*files.down);
            down.source = files.down->string();
            m.down = std::move(down);
        }
        set.add(std::move(m));
    }
    return set;
}

std::pair<fs::path, fs::path> create_migration_files(const fs::path& directory, std::string_view slug,
                                                     std::string_view up_sql, std::string_view down_sql)
{
    if (!valid_slug(slug))
        invalid("the slug '" + std::string(slug) + "' must be 1-200 letters, digits, '_' or '-'");
    std::error_code failure;
    fs::create_directories(directory, failure);
    if (failure)
        invalid("cannot create the migrations directory " + directory.string() + ": " + failure.message());
    // The next version from the file names only: the newest pair may still be a fresh,
    // unwritten one (from_directory would refuse its empty up step).
    std::int64_t head = 0;
    fs::directory_iterator entries(directory, failure);
    if (failure)
        invalid("cannot read the migrations directory " + directory.string() + ": " + failure.message());
    for (const fs::directory_entry& entry : entries)
        if (entry.is_regular_file())
            if (std::optional<file_name> name = parse_file_name(entry.path()))
                head = std::max(head, name->version);
    if (head == std::numeric_limits<std::int64_t>::max())
        invalid("no version is left after " + std::to_string(head) + " in " + directory.string());
    std::string base = padded(head + 1) + "_" + std::string(slug);
    fs::path up = directory / (base + ".up.sql");
    fs::path down = directory / (base + ".down.sql");
    auto write = [](const fs::path& path, std::string_view text) {
        // "x": never overwrite (C++23's noreplace mode; fopen has it as a glibc/C11 flag).
        std::FILE* file = std::fopen(path.c_str(), "wx");
        if (!file)
            invalid("cannot create " + path.string() + " (it may already exist)");
        bool written = std::fwrite(text.data(), 1, text.size(), file) == text.size();
        if (std::fclose(file) != 0 || !written)
            invalid("cannot write " + path.string());
    };
    write(up, up_sql);
    try {
        write(down, down_sql);
    } catch (...) {
        fs::remove(up, failure);
        throw;
    }
    return {up, down};
}

std::string migration_status::name() const
{
    return padded(version) + "_" + slug;
}

std::string_view to_string(migration_state state) noexcept
{
    switch (state) {
    case migration_state::applied:
        return "applied";
    case migration_state::pending:
        return "pending";
    case migration_state::drifted:
        return "drifted";
    case migration_state::missing:
        return "missing";
    }
    return "unknown";
}

migration_error::migration_error(const error& cause, std::string context, bool partially_applied)
    : error(cause.code(), cause.diag()),
      what_(std::move(context) + ": " + detail::describe_error(cause.code(), cause.diag())),
      partial_(partially_applied)
{}

// ---- migrator -------------------------------------------------------------------------------

namespace detail {

std::vector<migration_status> merge_status(const migration_set& known,
                                           const std::vector<applied_migration>& applied)
{
    std::vector<migration_status> statuses;
    std::int64_t highest_applied = 0;
    for (const applied_migration& row : applied)
        highest_applied = std::max(highest_applied, row.version);
    std::size_t next = 0;
    auto add_applied = [&](const applied_migration& row, const migration* m) {
        migration_status status;
        status.version = row.version;
        status.slug = m ? m->slug : row.slug;
        status.applied_at = row.applied_at;
        status.execution_time = row.execution_time;
        status.applied_checksum = row.checksum;
        if (!m)
            status.state = migration_state::missing;
        else {
            status.known_checksum = m->checksum;
            bool checked = !m->checksum.empty() && !row.checksum.empty();
            status.state =
                checked && m->checksum != row.checksum ? migration_state::drifted : migration_state::applied;
        }
        statuses.push_back(std::move(status));
    };
    for (const migration& m : known.list()) {
        while (next < applied.size() && applied[next].version < m.version) {
            add_applied(applied[next], nullptr);
            ++next;
        }
        if (next < applied.size() && applied[next].version == m.version) {
            add_applied(applied[next], &m);
            ++next;
            continue;
        }
        migration_status status;
        status.version = m.version;
        status.slug = m.slug;
        status.state = migration_state::pending;
        status.known_checksum = m.checksum;
        status.out_of_order = m.version < highest_applied;
        statuses.push_back(std::move(status));
    }
    for (; next < applied.size(); ++next)
        add_applied(applied[next], nullptr);
    return statuses;
}

} // namespace detail

migrator::migrator(migration_set migrations, migrator_options options)
    : migrations_(std::move(migrations)), options_(std::move(options))
{
    if (options_.table.empty())
        throw error(client_errc::invalid_argument, "migrator_options::table must not be empty");
    if (options_.lock_timeout.count() < 0)
        throw error(client_errc::invalid_argument, "migrator_options::lock_timeout must not be negative");
    table_ = options_.schema.empty()
                 ? quote_identifier(options_.table)
                 : quote_identifier(options_.schema) + "." + quote_identifier(options_.table);
    // One lock per table name, whatever the schema: "schema_migrations" and
    // "public"."schema_migrations" may be the same table, and must share the lock.
    lock_key_ = static_cast<std::int64_t>(detail::fnv1a_64("pgcoro.migrations:" + options_.table));
}

asio::awaitable<migration_report> migrator::up(session& s)
{
    // Everything pending: no target to be below the current version (which a forced run
    // over missing migrations newer than the known ones may be).
    return run(s, true, std::numeric_limits<std::int64_t>::max(), 0);
}

// The argument checks run when the operation is awaited (these are coroutines), so an error
// reaches a co_spawn completion token like any other.
asio::awaitable<migration_report> migrator::up_to(session& s, std::int64_t target)
{
    check_up_target(target);
    co_return co_await run(s, true, target, 0);
}

asio::awaitable<migration_report> migrator::down(session& s, std::size_t steps)
{
    return run(s, false, 0, steps);
}

asio::awaitable<migration_report> migrator::down_to(session& s, std::int64_t target)
{
    check_down_target(target);
    co_return co_await run(s, false, target, std::numeric_limits<std::size_t>::max());
}

asio::awaitable<migration_plan> migrator::plan_up(session& s)
{
    return plan_run(s, true, std::numeric_limits<std::int64_t>::max(), 0);
}

asio::awaitable<migration_plan> migrator::plan_up_to(session& s, std::int64_t target)
{
    check_up_target(target);
    co_return co_await plan_run(s, true, target, 0);
}

asio::awaitable<migration_plan> migrator::plan_down(session& s, std::size_t steps)
{
    return plan_run(s, false, 0, steps);
}

asio::awaitable<migration_plan> migrator::plan_down_to(session& s, std::int64_t target)
{
    check_down_target(target);
    co_return co_await plan_run(s, false, target, std::numeric_limits<std::size_t>::max());
}

void migrator::check_up_target(std::int64_t target) const
{
    if (!migrations_.find(target))
        throw error(client_errc::invalid_argument,
                    "up_to: no known migration has version " + std::to_string(target));
}

void migrator::check_down_target(std::int64_t target)
{
    if (target < 0)
        throw error(client_errc::invalid_argument, "down_to: the target version must not be negative");
}

asio::awaitable<migration_plan> migrator::plan_run(session& s, bool upward, std::int64_t target,
                                                   std::size_t steps)
{
    std::vector<migration_status> statuses = co_await read_status(s, table_);
    migration_plan plan;
    plan.from = current_version(statuses);
    plan.migrations = make_plan(statuses, upward, target, steps);
    co_return plan;
}

asio::awaitable<std::vector<migration_status>> migrator::read_status(session& s, const std::string& table)
{
    std::vector<detail::applied_migration> applied;
    bool exists = co_await s.scalar<bool>("SELECT to_regclass($1) IS NOT NULL", table);
    if (exists) {
        auto rows =
            co_await s.query<std::tuple<std::int64_t, std::string, std::string, timestamp, std::int64_t>>(
                "SELECT version, slug, checksum, applied_at, "
                "(extract(epoch FROM execution_time) * 1000000)::int8 FROM " +
                table + " ORDER BY version");
        applied.reserve(rows.size());
        for (auto& row : rows) {
            detail::applied_migration a;
            a.version = std::get<0>(row);
            a.slug = std::move(std::get<1>(row));
            a.checksum = std::move(std::get<2>(row));
            a.applied_at = std::get<3>(row);
            a.execution_time = std::chrono::microseconds{std::get<4>(row)};
            applied.push_back(std::move(a));
        }
    }
    co_return detail::merge_status(migrations_, applied);
}

asio::awaitable<std::vector<migration_status>> migrator::status(session& s)
{
    return read_status(s, table_);
}

asio::awaitable<std::int64_t> migrator::current(session& s)
{
    std::vector<migration_status> statuses = co_await read_status(s, table_);
    co_return current_version(statuses);
}

asio::awaitable<std::vector<migration_status>> migrator::verify(session& s)
{
    std::vector<migration_status> statuses = co_await read_status(s, table_);
    std::erase_if(statuses, [](const migration_status& status) {
        return status.state == migration_state::applied ||
               (status.state == migration_state::pending && !status.out_of_order);
    });
    co_return statuses;
}

asio::awaitable<void> migrator::lock(session& s)
{
    auto started = steady::now();
    std::chrono::milliseconds pause{25};
    std::optional<int> holder; // looked up once, at the first failed try
    for (;;) {
        if (co_await s.scalar<bool>("SELECT pg_try_advisory_lock($1)", lock_key_))
            break;
        auto waited = steady::now() - started;
        if (!holder) {
            // The holder, for the message: advisory locks on a bigint key are listed with the
            // key's high half in classid, the low half in objid and objsubid 1.
            auto key = static_cast<std::uint64_t>(lock_key_);
            auto pids = co_await s.query<std::int32_t>(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
                "AND classid::int8 = $1 AND objid::int8 = $2 AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())",
                static_cast<std::int64_t>(key >> 32), static_cast<std::int64_t>(key & 0xffffffffu));
            holder = pids.empty() ? 0 : pids.front();
            emit(options_, migration_event::kind::waiting_for_lock, {}, nullptr, waited, *holder);
        }
        if (waited >= options_.lock_timeout)
            throw error(client_errc::migration_locked,
                        "another migration runner" +
                            (*holder ? " (server process " + std::to_string(*holder) + ")" : std::string()) +
                            " holds the migration lock of " + table_ + "; gave up after " +
                            std::to_string(options_.lock_timeout.count()) + " ms");
        // Never past the deadline: the last pause ends at it, for one last try.
        auto remaining =
            std::chrono::duration_cast<std::chrono::milliseconds>(options_.lock_timeout - waited);
        auto executor = co_await asio::this_coro::executor;
        asio::steady_timer timer(executor,
                                 std::max(std::min(pause, remaining), std::chrono::milliseconds{1}));
        auto result = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (std::get<0>(result))
            throw error(client_errc::operation_aborted, "cancelled while waiting for the migration lock");
        pause = std::min(pause * 2, std::chrono::milliseconds{500});
    }
    emit(options_, migration_event::kind::locked, {}, nullptr, steady::now() - started, 0);
}

asio::awaitable<migration_report> migrator::run(session& s, bool upward, std::int64_t target,
                                                std::size_t steps)
{
    if (s.in_transaction())
        throw error(client_errc::invalid_argument, "migrations need a session outside a transaction");
    bool locked = false;
    std::exception_ptr failure;
    migration_report report;
    try {
        co_await lock(s);
        locked = true;
        std::string table = co_await resolve_table(s);
        report = co_await run_locked(s, table, upward, target, steps);
    } catch (const error& e) {
        failure = std::current_exception();
        // Not holding the lock for sure only when lock() gave up on its own.
        if (!locked && e.code() == client_errc::migration_locked)
            std::rethrow_exception(failure);
    } catch (...) {
        failure = std::current_exception();
    }
    // The lock must not outlive the run on a connection that goes back to a pool. After a
    // cancellation the clean-up still runs (Asio would otherwise fail every further
    // co_await): the session cancels the interrupted statement on the server and drains it
    // (bounded) before the unlock. When the unlock cannot run (a lost connection, a second
    // cancellation), closing the connection ends the server session and with it the lock
    // (and any transaction still open).
    bool released = false;
    try {
        if (failure)
            co_await asio::this_coro::reset_cancellation_state();
        released = co_await s.scalar<bool>("SELECT pg_advisory_unlock($1)", lock_key_);
        released = released || !locked; // an interrupted lock() may or may not have taken it
    } catch (...) {
    }
    if (!released)
        s.get_connection().close();
    if (failure)
        std::rethrow_exception(failure);
    co_return report;
}

std::vector<const migration*> migrator::make_plan(const std::vector<migration_status>& statuses, bool upward,
                                                  std::int64_t target, std::size_t steps) const
{
    const std::int64_t from = current_version(statuses);

    // Drift anywhere blocks up (the schema is not what the files describe); down cares only
    // about what it reverts.
    auto refuse_drift = [&](const std::vector<const migration_status*>& candidates) {
        std::vector<const migration_status*> problems;
        for (const migration_status* status : candidates)
            if (status->state == migration_state::drifted || status->state == migration_state::missing)
                problems.push_back(status);
        if (problems.empty() || options_.force)
            return;
        std::string text = "the database's applied migrations differ from the known ones:";
        for (const migration_status* status : problems)
            text +=
                std::string("\n  ") + status->name() + ": " +
                (status->state == migration_state::missing
                     ? "applied, but no such migration is known"
                     : "changed since it was applied (checksum " + status->applied_checksum.substr(0, 12) +
                           " applied, " + status->known_checksum.substr(0, 12) + " now)");
        text += "\nrevert the change, or run with force to ignore it";
        conflict(std::move(text));
    };

    std::vector<const migration*> plan;
    if (upward) {
        std::vector<const migration_status*> all;
        for (const migration_status& status : statuses)
            all.push_back(&status);
        refuse_drift(all);
        if (target < from)
            conflict("the target version " + std::to_string(target) + " is below the current version " +
                     std::to_string(from) + "; migrate down instead");
        std::vector<const migration_status*> out_of_order;
        for (const migration_status& status : statuses) {
            if (status.state != migration_state::pending || status.version > target)
                continue;
            if (status.out_of_order)
                out_of_order.push_back(&status);
            plan.push_back(migrations_.find(status.version));
        }
        if (!out_of_order.empty() && !options_.allow_out_of_order)
            conflict("pending migrations older than the newest applied one (" + std::to_string(from) +
                     "): " + list_names(out_of_order) +
                     "; apply them with allow_out_of_order if they are independent");
    } else {
        std::vector<const migration_status*> revert;
        for (auto it = statuses.rbegin(); it != statuses.rend(); ++it) {
            if (it->state == migration_state::pending)
                continue;
            if (revert.size() >= steps || it->version <= target)
                break;
            revert.push_back(&*it);
        }
        refuse_drift(revert);
        for (const migration_status* status : revert) {
            const migration* m = migrations_.find(status->version);
            if (!m)
                conflict("cannot revert " + status->name() +
                         ": it is applied but not among the known migrations");
            if (!m->down)
                conflict("cannot revert " + m->name() +
                         ": it has no down step (irreversible); nothing was reverted");
            plan.push_back(m);
        }
    }

    return plan;
}

asio::awaitable<std::string> migrator::resolve_table(session& s)
{
    if (!options_.schema.empty())
        co_return table_;
    std::optional<std::string> schema =
        co_await s.scalar<std::optional<std::string>>("SELECT current_schema()");
    if (!schema)
        throw error(client_errc::invalid_argument,
                    "the search_path names no existing schema to keep the migrations "
                    "table in; set migrator_options::schema (--schema)");
    co_return quote_identifier(*schema) + "." + quote_identifier(options_.table);
}

asio::awaitable<migration_report> migrator::run_locked(session& s, const std::string& table, bool upward,
                                                       std::int64_t target, std::size_t steps)
{
    // Built before the co_await: g++ 12 mis-evaluates a ?: yielding a class inside one.
    std::string bootstrap;
    if (!options_.schema.empty())
        bootstrap = "CREATE SCHEMA IF NOT EXISTS " + quote_identifier(options_.schema) + ";\n";
    bootstrap += "CREATE TABLE IF NOT EXISTS " + table +
                 " (\n"
                 "    version bigint PRIMARY KEY,\n"
                 "    slug text NOT NULL,\n"
                 "    checksum text NOT NULL,\n"
                 "    applied_at timestamptz NOT NULL DEFAULT now(),\n"
                 "    execution_time interval NOT NULL\n"
                 ")";
    co_await s.execute_script(bootstrap);
    std::vector<migration_status> statuses = co_await read_status(s, table);
    migration_report report;
    report.from = current_version(statuses);
    report.to = report.from;
    std::vector<const migration*> plan = make_plan(statuses, upward, target, steps);

    std::string_view direction = upward ? "up" : "down";
    for (const migration* m : plan) {
        emit(options_, migration_event::kind::started, direction, m, {}, 0);
        std::chrono::nanoseconds took{0};
        try {
            took = co_await apply(s, table, *m, upward);
        } catch (...) {
            emit(options_, migration_event::kind::failed, direction, m, {}, 0);
            throw;
        }
        emit(options_, migration_event::kind::finished, direction, m, took, 0);
        migration_report::entry entry;
        entry.version = m->version;
        entry.slug = m->slug;
        entry.duration = took;
        report.migrations.push_back(std::move(entry));
    }
    std::vector<migration_status> after = co_await read_status(s, table);
    report.to = current_version(after);
    co_return report;
}

namespace {

/// Runs one step's statements through `scope`; a failure becomes a migration_error naming
/// the statement.
asio::awaitable<void> run_step(queryable& scope, const migration& m, const migration_step& step, bool upward)
{
    if (step.function) {
        try {
            co_await step.function(scope);
        } catch (const error& e) {
            throw migration_error(e, describe_source(m, step, upward) + ")", !step.transactional);
        }
        co_return;
    }
    std::vector<detail::script_statement> statements = detail::split_sql_script(step.sql);
    for (std::size_t i = 0; i < statements.size(); ++i) {
        try {
            co_await scope.execute_script(statements[i].text);
        } catch (const error& e) {
            throw migration_error(e,
                                  describe_source(m, step, upward) + ", statement " + std::to_string(i + 1) +
                                      " of " + std::to_string(statements.size()) + " at line " +
                                      std::to_string(statements[i].line) + ")",
                                  !step.transactional && i > 0);
        }
    }
}

} // namespace

asio::awaitable<std::chrono::nanoseconds> migrator::apply(session& s, const std::string& table,
                                                          const migration& m, bool upward)
{
    const migration_step& step = upward ? m.up : *m.down;
    auto started = steady::now();
    std::chrono::nanoseconds took{0};
    std::string record = upward ? "INSERT INTO " + table +
                                      " (version, slug, checksum, execution_time) "
                                      "VALUES ($1, $2, $3, make_interval(secs => $4))"
                                : "DELETE FROM " + table + " WHERE version = $1";
    if (!step.transactional) {
        queryable& scope = s;
        co_await run_step(scope, m, step, upward);
        took = steady::now() - started;
        if (upward)
            co_await s.execute(record, m.version, m.slug, m.checksum,
                               std::chrono::duration<double>(took).count());
        else
            co_await s.execute(record, m.version);
        co_return took;
    }
    pgcoro::transaction tx = co_await s.begin();
    std::exception_ptr failure;
    try {
        queryable& scope = tx;
        co_await run_step(scope, m, step, upward);
        took = steady::now() - started;
        if (upward)
            co_await tx.execute(record, m.version, m.slug, m.checksum,
                                std::chrono::duration<double>(took).count());
        else
            co_await tx.execute(record, m.version);
        co_await tx.commit();
    } catch (const migration_error&) {
        failure = std::current_exception();
    } catch (const error& e) {
        // The record or the COMMIT (a deferred constraint fails there).
        failure = std::make_exception_ptr(
            migration_error(e, describe_source(m, step, upward) + ", recording it or at commit)", false));
    } catch (...) {
        failure = std::current_exception();
    }
    if (failure) {
        // Explicitly, so the session is clean for the unlock; after a cancellation too (the
        // session first cancels the interrupted statement on the server). A lost session
        // fails here; the caller then closes the connection.
        if (tx.active()) {
            try {
                co_await asio::this_coro::reset_cancellation_state();
                co_await tx.rollback();
            } catch (...) {
            }
        }
        std::rethrow_exception(failure);
    }
    co_return took;
}

} // namespace pgcoro
