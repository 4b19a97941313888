#pragma once
// The migration command line (the pgcoro-migrate program), as a function a project can call
// from its own main() to add its models (for `new --from-model`) and C++ migrations:
//
//   int main(int argc, char** argv) {
//       pgcoro::migrate_cli_options options;
//       options.models = {pgcoro::table<User>(), pgcoro::table<Post>()};
//       return pgcoro::run_migrate_cli(argc, argv, std::move(options));
//   }

#include <pgcoro/migrations.hpp>
#include <pgcoro/schema.hpp>

#include <iosfwd>
#include <string>
#include <vector>

namespace pgcoro {

/// Exit codes of run_migrate_cli, stable for scripts.
enum class migrate_exit : int {
    ok = 0,
    failed = 1,            ///< a migration failed (it was rolled back), or another runtime error
    usage = 2,             ///< bad command line
    conflict = 3,          ///< drift, missing or out-of-order migrations (verify, or up/down refused)
    locked = 4,            ///< another runner held the lock past --lock-timeout
    connection_failed = 5, ///< the server could not be reached or refused the login
    invalid_migration = 6, ///< a migration file is malformed (name, duplicate version, directive)
};

struct migrate_cli_options {
    /// Tables `new --from-model` writes the first migration from (schema_sql()).
    std::vector<table_definition> models;
    /// Migrations written in C++, added to the directory's (their versions must differ).
    std::vector<migration> code_migrations;
    /// Name in the usage text and messages.
    std::string program_name = "pgcoro-migrate";
};

/// Runs one command (`new`, `up`, `down`, `status`, `current`, `verify`; `--help` lists
/// them and their options) and returns its exit code (migrate_exit). Progress goes to `out`,
/// errors to `err`. The connection string comes from --dsn, else PGCORO_MIGRATE_DSN, else
/// DATABASE_URL; it is never printed. Does not throw.
int run_migrate_cli(int argc, const char* const* argv, migrate_cli_options options, std::ostream& out,
                    std::ostream& err);
/// The same on std::cout and std::cerr.
int run_migrate_cli(int argc, const char* const* argv, migrate_cli_options options = {});

} // namespace pgcoro
