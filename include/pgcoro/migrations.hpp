#pragma once
// Migrations (DESIGN.md layer 9): versioned schema changes applied in order, each exactly
// once, recorded in a table, under an advisory lock.
//
//   migrations/0001_create_users.up.sql     -- applied by up
//   migrations/0001_create_users.down.sql   -- applied by down (optional: irreversible without)
//   migrations/0002_index_email.up.sql      -- "-- pgcoro:no-transaction" on a first line: run
//                                           --  outside a transaction (CREATE INDEX CONCURRENTLY)
//
//   auto set = pgcoro::migration_set::from_directory("migrations");
//   pgcoro::migrator m{set};
//   auto s = co_await pool.session();
//   co_await m.up(s);                      // to the newest version
//   co_await m.down(s, 1);                 // revert the newest applied one

#include <pgcoro/error.hpp>
#include <pgcoro/session.hpp>
#include <pgcoro/types/chrono.hpp>

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgcoro {

/// A migration direction written in C++: runs its statements through `scope` (the
/// migration's transaction, or the session for a non-transactional migration).
using migration_function = std::function<boost::asio::awaitable<void>(queryable& scope)>;

/// One direction of a migration: SQL text or a C++ function.
struct migration_step {
    /// SQL statements separated by ';' (psql's rules: quotes, dollar quotes and comments are
    /// respected). Run one statement at a time, so a failure names its statement and line.
    /// Ignored when `function` is set.
    std::string sql;
    /// Code to run instead of `sql`.
    migration_function function;
    /// Run inside a transaction of its own (the default). A non-transactional step runs each
    /// statement on its own (required by CREATE INDEX CONCURRENTLY and similar); a failure
    /// then leaves the statements before it applied.
    bool transactional = true;
    /// Where the SQL came from (a file path), for messages; empty for inline steps.
    std::string source;
};

/// One versioned migration.
struct migration {
    /// Positive; migrations are applied in increasing order.
    std::int64_t version = 0;
    /// Short name: letters, digits, '_' and '-'.
    std::string slug;
    migration_step up;
    /// How to revert it; none: the migration is irreversible and down() stops before it.
    std::optional<migration_step> down;
    /// Identifies the content of `up` as applied; a changed checksum is drift. For SQL steps
    /// migration_set fills it (SHA-256 of the text, line endings and a BOM normalised) when
    /// empty; for a C++ function the author may set a revision string (empty: not checked;
    /// nor is a migration applied while it had none).
    std::string checksum;

    /// "0007_add_index": the version padded to 4 digits, '_', the slug.
    std::string name() const;
};

/// The known migrations, ordered by version.
class migration_set {
public:
    migration_set() = default;

    /// Reads every `<version>_<slug>.up.sql` and `<version>_<slug>.down.sql` in `directory`
    /// (not recursive). Other files are ignored, except `.sql` files (any case) with any
    /// other name, which are an error (a misspelt migration must not be skipped silently), as
    /// are two spellings of one version (0001_x and 01_x). A
    /// `-- pgcoro:no-transaction` comment before a file's first statement makes that
    /// direction non-transactional.
    ///
    /// Throws client_errc::invalid_migration naming the file: an unreadable directory or file,
    /// a bad name, a version that is 0 or does not fit 64 bits, two migrations with one
    /// version, a down file without its up file, an unknown `pgcoro:` directive.
    static migration_set from_directory(const std::filesystem::path& directory);

    /// Adds a migration. Throws client_errc::invalid_migration for a version that is not
    /// positive or is already present, a bad slug, an SQL up step without any statement (a
    /// file fresh from `new`: applying it would record it, and editing it afterwards would be
    /// drift), an unterminated quote or comment, transaction control in a transactional step,
    /// or an unknown directive. An SQL down step may be empty ("nothing to undo").
    migration_set& add(migration m);

    /// The migrations in version order.
    const std::vector<migration>& list() const noexcept { return migrations_; }
    /// The migration with this version, nullptr if none.
    const migration* find(std::int64_t version) const noexcept;
    /// The highest version (0 when empty).
    std::int64_t head() const noexcept;
    bool empty() const noexcept { return migrations_.empty(); }

private:
    std::vector<migration> migrations_;
};

/// The files of a new migration pair in `directory` (created if missing): version = the
/// highest version found there + 1, `<version>_<slug>.up.sql` with `up_sql` and
/// `.down.sql` with `down_sql`. Never overwrites: throws client_errc::invalid_migration for
/// a bad slug, a malformed `.sql` file name in the directory, or a file that already exists.
/// Returns the two paths (up, down).
std::pair<std::filesystem::path, std::filesystem::path>
create_migration_files(const std::filesystem::path& directory, std::string_view slug, std::string_view up_sql,
                       std::string_view down_sql);

/// The SHA-256 (64 hex digits) of a SQL script with a leading UTF-8 BOM dropped and CRLF
/// line endings read as LF, so a checkout's line-ending conversion is not drift.
std::string migration_checksum(std::string_view sql);

/// Where a migration stands against the database.
enum class migration_state {
    applied, ///< recorded, checksum matches (or is not checked)
    pending, ///< known, not applied
    drifted, ///< recorded, but its up step changed since (checksums differ)
    missing, ///< recorded, but not among the known migrations
};

struct migration_status {
    std::int64_t version = 0;
    std::string slug;
    migration_state state = migration_state::pending;
    /// A pending migration below the highest applied version (merged from another branch):
    /// up() refuses it unless migrator_options::allow_out_of_order.
    bool out_of_order = false;
    /// When and how long it ran (applied, drifted and missing ones).
    std::optional<timestamp> applied_at;
    std::chrono::microseconds execution_time{0};
    std::string applied_checksum; ///< as recorded
    std::string known_checksum;   ///< of the known migration (empty when missing)

    /// "0007_add_index", as migration::name().
    std::string name() const;
};

/// Something on the way of up/down, reported by migrator_options::on_progress.
struct migration_event {
    enum class kind {
        waiting_for_lock, ///< another runner holds the lock (holder_pid says which backend)
        locked,           ///< the lock is taken; the run starts
        started,          ///< a migration starts (migration, direction)
        finished,         ///< it was applied or reverted (duration)
        failed,           ///< it failed and was rolled back (or left partial; see migration_error)
    };
    kind type = kind::started;
    /// "up" or "down".
    std::string_view direction;
    /// The migration (started, finished, failed); nullptr otherwise.
    const migration* subject = nullptr;
    std::chrono::nanoseconds duration{0};
    /// The lock holder's backend pid (waiting_for_lock; 0 if it could not be seen).
    int holder_pid = 0;
};

struct migrator_options {
    /// The table that records applied migrations, created by the first up() or down().
    std::string table = "schema_migrations";
    /// Its schema (empty: the first schema of the search_path, like an unqualified name).
    std::string schema;
    /// How long up()/down() wait for another runner's lock before throwing
    /// client_errc::migration_locked. Zero: do not wait.
    std::chrono::milliseconds lock_timeout{std::chrono::seconds{60}};
    /// Run despite drifted or missing migrations (verify() still reports them).
    bool force = false;
    /// Apply pending migrations below the highest applied version instead of refusing.
    bool allow_out_of_order = false;
    /// Called on the session's executor for each event (progress output). Must not throw.
    std::function<void(const migration_event&)> on_progress;
};

/// What up() or down() did.
struct migration_report {
    struct entry {
        std::int64_t version = 0;
        std::string slug;
        std::chrono::nanoseconds duration{0};
    };
    std::vector<entry> migrations; ///< in the order they ran
    std::int64_t from = 0;         ///< the highest applied version before (0: none)
    std::int64_t to = 0;           ///< and after
};

/// What up() or down() would run now (migrator::plan_up / plan_down).
struct migration_plan {
    std::vector<const migration*> migrations; ///< in the order they would run (point into the migrator's set)
    std::int64_t from = 0;                    ///< the highest applied version now
};

/// A failed migration: the server's (or the client's) error with the migration, file,
/// statement number and line it happened at. code() and diag() are the original error's,
/// so `e.code() == pgcoro::condition::unique_violation` still works.
class migration_error : public error {
public:
    migration_error(const error& cause, std::string context, bool partially_applied);
    const char* what() const noexcept override { return what_.c_str(); }
    /// A non-transactional step failed after some of its statements had run: they stay.
    bool partially_applied() const noexcept { return partial_; }

private:
    std::string what_;
    bool partial_ = false;
};

/// Applies and reverts a migration_set on a database.
///
/// up() and down() take a PostgreSQL session-level advisory lock (a key derived from the
/// table's name, not its schema: runners of the same table name in different schemas wait
/// for each other, which is harmless) first, so concurrent runners apply each migration once: the second one
/// waits (lock_timeout), then re-reads what is applied. Each migration runs in its own
/// transaction together with its row in the table, so a failed one leaves the schema and
/// the table exactly as before it; the migrations before it stay applied. The lock is
/// released at the end; if the run ends in a way that leaves the connection's state
/// unknown (cancellation, a lost connection), the session's connection is closed instead,
/// which releases the lock on the server.
///
/// The table's schema is resolved when a run starts (migrator_options::schema, else the
/// search_path's first existing schema), so a migration that changes search_path (pg_dump
/// output does) is still recorded in the right table.
///
/// The session must not be in a transaction. Cancellation: terminal cancellation of the
/// awaiting coroutine cancels the running statement on the server, rolls the current
/// migration back and releases the lock (bounded clean-up; past it, or on a second
/// cancellation, the connection is closed) before operation_aborted is thrown. Runs on the
/// session's executor.
class migrator {
public:
    explicit migrator(migration_set migrations, migrator_options options = {});

    /// Applies every pending migration (up_to: those up to and including `target`, which
    /// must be a known version). Throws client_errc::migration_conflict before applying
    /// anything when the database has drifted or missing migrations (unless
    /// options.force) or an out-of-order pending one (unless options.allow_out_of_order),
    /// and when `target` is below the current version; client_errc::migration_locked;
    /// migration_error for a failed migration (after the earlier ones were committed).
    boost::asio::awaitable<migration_report> up(session& s);
    boost::asio::awaitable<migration_report> up_to(session& s, std::int64_t target);

    /// Reverts the `steps` most recently applied migrations (0: none; down_to: every applied
    /// migration above `target`, 0 reverting all), newest first. Throws
    /// client_errc::migration_conflict before reverting anything when one of them has no
    /// down step, is missing, or has drifted (unless options.force); drift elsewhere does
    /// not matter to down. As up() otherwise.
    boost::asio::awaitable<migration_report> down(session& s, std::size_t steps);
    boost::asio::awaitable<migration_report> down_to(session& s, std::int64_t target);

    /// What up() / up_to(target) / down(steps) / down_to(target) would run now, with the same
    /// checks and errors, changing nothing and taking no lock (a concurrent runner may change
    /// the answer). For reviews and dry runs.
    boost::asio::awaitable<migration_plan> plan_up(session& s);
    boost::asio::awaitable<migration_plan> plan_up_to(session& s, std::int64_t target);
    boost::asio::awaitable<migration_plan> plan_down(session& s, std::size_t steps);
    boost::asio::awaitable<migration_plan> plan_down_to(session& s, std::int64_t target);

    /// Every known and every recorded migration, by version. Read-only, no lock.
    boost::asio::awaitable<std::vector<migration_status>> status(session& s);
    /// The highest applied version, 0 if none (or no table yet). Read-only, no lock.
    boost::asio::awaitable<std::int64_t> current(session& s);
    /// The statuses that are a problem: drifted, missing, out of order. Read-only, no lock.
    boost::asio::awaitable<std::vector<migration_status>> verify(session& s);

    const migration_set& migrations() const noexcept { return migrations_; }
    const migrator_options& options() const noexcept { return options_; }
    /// The advisory lock key (stable for a given table name).
    std::int64_t lock_key() const noexcept { return lock_key_; }

private:
    boost::asio::awaitable<migration_report> run(session& s, bool upward, std::int64_t target,
                                                 std::size_t steps);
    boost::asio::awaitable<migration_report> run_locked(session& s, const std::string& table, bool upward,
                                                        std::int64_t target, std::size_t steps);
    void check_up_target(std::int64_t target) const;
    static void check_down_target(std::int64_t target);
    /// The table, schema-qualified (options_.schema, else current_schema()).
    boost::asio::awaitable<std::string> resolve_table(session& s);
    boost::asio::awaitable<migration_plan> plan_run(session& s, bool upward, std::int64_t target,
                                                    std::size_t steps);
    /// The migrations to run, in order; throws migration_conflict as documented at up/down.
    std::vector<const migration*> make_plan(const std::vector<migration_status>& statuses, bool upward,
                                            std::int64_t target, std::size_t steps) const;
    boost::asio::awaitable<void> lock(session& s);
    boost::asio::awaitable<std::chrono::nanoseconds> apply(session& s, const std::string& table,
                                                           const migration& m, bool upward);
    boost::asio::awaitable<std::vector<migration_status>> read_status(session& s, const std::string& table);

    migration_set migrations_;
    migrator_options options_;
    std::string table_; ///< quoted, schema-qualified when a schema is set (status, verify)
    std::int64_t lock_key_ = 0;
};

namespace detail {
/// A row of the migrations table.
struct applied_migration {
    std::int64_t version = 0;
    std::string slug;
    std::string checksum;
    timestamp applied_at{};
    std::chrono::microseconds execution_time{0};
};
/// Known and applied migrations side by side, by version (`applied` sorted by version).
std::vector<migration_status> merge_status(const migration_set& known,
                                           const std::vector<applied_migration>& applied);
} // namespace detail

/// Text for a migration_state: "applied", "pending", "drifted", "missing".
std::string_view to_string(migration_state state) noexcept;

} // namespace pgcoro
