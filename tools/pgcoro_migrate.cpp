// pgcoro-migrate: the migration command line for SQL migration files. A project that wants
// `new --from-model` or migrations written in C++ builds its own copy of this main() and
// passes its models (see include/pgcoro/migrate_cli.hpp).

#include <pgcoro/migrate_cli.hpp>

int main(int argc, char** argv)
{
    return pgcoro::run_migrate_cli(argc, argv);
}
