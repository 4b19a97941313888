// The example project's migration tool: pgcoro-migrate plus the project's models, so
// `migrate new <slug> --from-model` can write a migration that creates their tables.
//
//   migrate new create_schema --from-model --dir examples/migrations
//   migrate --dsn postgresql://app@localhost/app --dir examples/migrations up
//
// A project copies this file, includes its own models and lists its tables.

#include "models.hpp"

#include <pgcoro/migrate_cli.hpp>

int main(int argc, char** argv)
{
    pgcoro::migrate_cli_options options;
    options.program_name = "migrate";
    options.models = example_tables();
    return pgcoro::run_migrate_cli(argc, argv, std::move(options));
}
