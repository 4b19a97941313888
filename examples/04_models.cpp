// Models and queries: users, posts and JSONB profiles declared as Boost.Describe structs
// plus model_traits (models.hpp); repository calls (insert, get, update, upsert,
// soft_remove, insert_many), the select builder and JSONB filters, with every value bound
// as a parameter. Loading relations and paging are the next example's.
//
//   04_models "postgresql://user:password@localhost/db"
//
// Without an argument, PGCORO_TEST_DSN or DATABASE_URL names the server. The tables live in
// a schema named after the process, created by the migrations in examples/migrations (the
// first one written by `migrate new create_schema --from-model` from models.hpp), reverted
// and dropped at the end, so runs may share a database.

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/uuid/uuid.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iomanip>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "example_main.hpp"
#include "models.hpp"

namespace asio = boost::asio;

namespace {

// The example's migration files (examples/migrations; CMake passes the path).
const char* const migrations_directory = PGCORO_EXAMPLE_MIGRATIONS;

using pgcoro::col;

void expect(bool ok, const std::string& what)
{
    if (!ok)
        throw std::runtime_error("unexpected: " + what);
}

asio::awaitable<void> demo(pgcoro::pool& pool)
{
    auto s = co_await pool.session();

    // insert: generated id and timestamps come back through RETURNING.
    User ann;
    ann.email = "ann@example.com";
    ann.name = "Ann";
    {
        auto tx = co_await s.begin(); // repositories never commit; the scope does
        ann = co_await tx.insert(ann);
        co_await tx.commit();
    }
    std::cout << "inserted user " << ann.id << " (" << ann.email << ")\n";

    // insert_many: one round trip (pipeline), or COPY for large batches.
    std::vector<User> more;
    for (int i = 0; i < 5; ++i) {
        User u;
        u.email = "user" + std::to_string(i) + "@example.com";
        u.name = i % 2 == 0 ? "Bob" : "Carol";
        more.push_back(u);
    }
    std::uint64_t inserted = co_await s.insert_many(more);
    std::cout << "insert_many stored " << inserted << " users\n";
    expect(ann.id > 0 && ann.created_at && inserted == 5, "inserted users");

    std::vector<Post> posts;
    for (int i = 0; i < 3; ++i) {
        Post p;
        p.author_id = ann.id;
        p.title = "Post " + std::to_string(i + 1);
        posts.push_back(p);
    }
    std::vector<Post> stored = co_await s.insert_many_returning(posts);
    std::cout << "first post id " << boost::uuids::to_string(stored.at(0).id) << "\n";
    expect(stored.size() == 3 && !stored.front().id.is_nil() && stored[0].id != stored[1].id, "post ids");

    // get / get_by
    std::optional<User> again = co_await s.get<User>(ann.id);
    std::cout << "get<User>(" << ann.id << "): " << (again ? again->name : "none")
              << ", posts loaded: " << std::boolalpha << again.value().posts.loaded() << "\n";
    auto by_email = col(&User::email) == "user3@example.com";
    std::optional<User> carol = co_await s.get_by<User>(by_email);
    std::cout << "get_by email: " << (carol ? carol->name : "none") << "\n";
    expect(again && again->name == "Ann" && carol && carol->name == "Carol", "get / get_by");

    // The select builder: values are parameters, identifiers quoted.
    auto bobs = pgcoro::select<User>()
                    .where(col(&User::name) == "Bob" && col(&User::email).like("user%"))
                    .order_by(pgcoro::desc(&User::id))
                    .limit(10);
    std::cout << "SQL: " << bobs.render().sql() << "\n";
    std::vector<User> found = co_await s.all(bobs);
    std::int64_t bob_count = co_await s.count(bobs);
    std::cout << "Bobs: " << found.size() << " (count " << bob_count << ")\n";
    auto cards_query = pgcoro::select<User>().into<UserCard>().order_by(&User::id).limit(3);
    std::vector<UserCard> cards = co_await s.all(cards_query);
    std::cout << "cards: " << cards.size() << ", first " << cards.at(0).name << "\n";
    expect(found.size() == 3 && bob_count == 3 && cards.size() == 3, "select results");

    // update (every column) and partial update (named columns); updated_at = now().
    ann.name = "Ann Smith";
    ann = co_await s.update(ann);
    carol->name = "Caroline";
    carol->email = "not-written@example.com"; // not in the column list: stays as stored
    User caroline = co_await s.update(*carol, pgcoro::columns(&User::name));
    std::cout << "updated: " << ann.name << ", " << caroline.name << " <" << caroline.email << ">\n";
    expect(caroline.name == "Caroline" && caroline.email == "user3@example.com", "partial update");

    // upsert on the unique email: the update branch here.
    User ann_again;
    ann_again.email = "ann@example.com";
    ann_again.name = "Ann S.";
    pgcoro::upsert_result<User> up = co_await s.upsert(ann_again, pgcoro::columns(&User::email));
    std::cout << "upsert: id " << up.row.id << ", inserted " << up.inserted << ", name " << up.row.name
              << "\n";
    expect(!up.inserted && up.row.id == ann.id, "upsert took the update branch");

    // Soft delete: hidden from every read unless asked.
    co_await s.soft_remove(caroline);
    auto everyone = pgcoro::select<User>();
    std::int64_t visible = co_await s.count(everyone);
    everyone.include_deleted();
    std::int64_t all_rows = co_await s.count(everyone);
    std::cout << "after soft_remove: " << visible << " visible, " << all_rows << " stored\n";
    expect(visible == 5 && all_rows == 6, "soft delete");
    co_await s.restore(caroline);

    // JSONB: a path filter, and containment (@>), which the GIN index of 0001 can serve.
    std::vector<Profile> profiles;
    profiles.push_back(
        {ann.id, boost::json::parse(R"({"sun": {"sign": "Aries"}, "langs": ["cpp", "sql"]})")});
    profiles.push_back({caroline.id, boost::json::parse(R"({"sun": {"sign": "Leo"}, "langs": ["rust"]})")});
    co_await s.insert_many(profiles);
    auto aries = pgcoro::select<Profile>().where(col(&Profile::data)["sun"]["sign"].as_text() == "Aries");
    std::vector<Profile> found_aries = co_await s.all(aries);
    boost::json::value cpp_filter = boost::json::parse(R"({"langs": ["cpp"]})");
    auto cpp = pgcoro::select<Profile>().where(col(&Profile::data).contains(cpp_filter));
    std::int64_t cpp_count = co_await s.count(cpp);
    std::cout << "Aries: " << found_aries.size() << ", cpp: " << cpp_count << "\n";
    expect(found_aries.size() == 1 && cpp_count == 1, "JSONB filters");
    // The plan the server chose (on a table this small, a sequential scan).
    std::string plan = co_await s.explain_analyze(cpp);
    std::cout << "plan: " << plan.substr(0, plan.find('\n')) << "\n";

    // Raw SQL stays first-class and maps into the same models.
    std::vector<User> raw =
        co_await s.query<User>("SELECT * FROM users WHERE name = $1 AND deleted_at IS NULL", "Bob");
    std::cout << "raw query: " << raw.size() << " Bobs\n";
    expect(raw.size() == 3, "raw query");

    // A unique violation is a typed error naming the constraint.
    User duplicate;
    duplicate.email = "ann@example.com";
    duplicate.name = "Impostor";
    bool refused = false;
    try {
        co_await s.insert(duplicate);
    } catch (const pgcoro::error& e) {
        if (e.code() != pgcoro::condition::unique_violation)
            throw;
        std::cout << "duplicate email refused by " << e.diag().constraint << "\n";
        refused = true;
    }
    expect(refused, "a duplicate email was stored");
}

asio::awaitable<void> run(std::string conninfo)
{
    auto ex = co_await asio::this_coro::executor;
    const std::string schema = "models_example_" + std::to_string(::getpid());
    pgcoro::pool_options options;
    options.conninfo = std::move(conninfo);
    options.pool_size = 2;
    options.pool_timeout = std::chrono::seconds{5};
    // Every connection of the pool works in the example's schema (a bound parameter, not SQL text).
    options.hooks.on_connect = [schema](pgcoro::connection& c) -> asio::awaitable<void> {
        const std::string path = pgcoro::quote_identifier(schema);
        co_await c.execute("SELECT set_config('search_path', $1, false)", path);
    };
    pgcoro::pool pool(ex, options);
    const std::string create = "CREATE SCHEMA " + pgcoro::quote_identifier(schema);
    const std::string drop = "DROP SCHEMA IF EXISTS " + pgcoro::quote_identifier(schema) + " CASCADE";
    {
        auto s = co_await pool.session();
        co_await s.execute_script(create);
    }
    // The tables by migrations: the files in examples/migrations, applied in order, each in a
    // transaction of its own (but those marked pgcoro:no-transaction, which build indexes
    // CONCURRENTLY), recorded in schema_migrations (in the search_path's first schema).
    pgcoro::migrator migrator{pgcoro::migration_set::from_directory(migrations_directory)};
    std::exception_ptr failure;
    try {
        std::size_t applied_count = 0;
        {
            auto s = co_await pool.session();
            pgcoro::migration_report applied = co_await migrator.up(s);
            for (const auto& m : applied.migrations)
                std::cout << "migrated up " << std::setw(4) << std::setfill('0') << m.version
                          << std::setfill(' ') << "_" << m.slug << " in "
                          << std::chrono::duration<double, std::milli>(m.duration).count() << " ms\n";
            applied_count = applied.migrations.size();
        }
        co_await demo(pool);
        // Every migration reverted, newest first: the schema is empty again but for the
        // (now empty) migrations table.
        auto s = co_await pool.session();
        const std::int64_t none = 0;
        pgcoro::migration_report reverted = co_await migrator.down_to(s, none);
        std::cout << "migrated down " << reverted.migrations.size() << " migrations to version "
                  << reverted.to << "\n";
        expect(applied_count > 0 && reverted.migrations.size() == applied_count && reverted.to == 0,
               "migrations applied and reverted");
    } catch (...) {
        failure = std::current_exception();
    }
    {
        auto s = co_await pool.session(); // leave nothing behind, failure or not
        co_await s.execute_script(drop);
    }
    const std::chrono::milliseconds close_timeout{5000};
    co_await pool.close(close_timeout);
    if (failure)
        std::rethrow_exception(failure);
    std::cout << "done\n";
}

} // namespace

int main(int argc, char** argv)
{
    return example::run("04_models", argc, argv, run);
}
