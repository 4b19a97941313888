// Models and queries: users, posts and JSONB profiles declared as Boost.Describe structs
// plus model_traits; repository calls (insert, get, update, upsert, soft_remove,
// insert_many), the select builder, eager loading and paging, with every value bound as a
// parameter.
//
//   models "postgresql://user:password@localhost/db"
//
// (Without an argument, PGCORO_TEST_DSN or DATABASE_URL names the server.) The tables live
// in a schema of their own, created by the migrations in examples/migrations (the first one
// written by `migrate new create_schema --from-model` from models.hpp), reverted and dropped
// at the end.

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
#include <string>
#include <vector>

#include <unistd.h>

#include "models.hpp"

namespace asio = boost::asio;

namespace {

// The example's migration files (examples/migrations; CMake passes the path).
const char* const migrations_directory = PGCORO_EXAMPLE_MIGRATIONS;

using pgcoro::col;

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

    std::vector<Post> posts;
    for (int i = 0; i < 3; ++i) {
        Post p;
        p.author_id = ann.id;
        p.title = "Post " + std::to_string(i + 1);
        posts.push_back(p);
    }
    std::vector<Post> stored = co_await s.insert_many_returning(posts);
    std::cout << "first post id " << boost::uuids::to_string(stored.front().id) << "\n";

    // get / get_by
    std::optional<User> again = co_await s.get<User>(ann.id);
    std::cout << "get<User>(" << ann.id << "): " << (again ? again->name : "none")
              << ", posts loaded: " << std::boolalpha << again->posts.loaded() << "\n";
    auto by_email = col(&User::email) == "user3@example.com";
    std::optional<User> carol = co_await s.get_by<User>(by_email);
    std::cout << "get_by email: " << (carol ? carol->name : "none") << "\n";

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
    std::cout << "cards: " << cards.size() << ", first " << cards.front().name << "\n";

    // update (every column) and partial update (named columns); updated_at = now().
    ann.name = "Ann Smith";
    ann = co_await s.update(ann);
    carol->name = "Caroline";
    carol->email = "not-written@example.com"; // not in the column list: stays as stored
    User caroline = co_await s.update(*carol, pgcoro::columns(&User::name));
    std::cout << "updated: " << ann.name << ", " << caroline.name << " <" << caroline.email << ">\n";

    // upsert on the unique email: the update branch here.
    User ann_again;
    ann_again.email = "ann@example.com";
    ann_again.name = "Ann S.";
    pgcoro::upsert_result<User> up = co_await s.upsert(ann_again, pgcoro::columns(&User::email));
    std::cout << "upsert: id " << up.row.id << ", inserted " << up.inserted << ", name " << up.row.name
              << "\n";

    // Soft delete: hidden from every read unless asked.
    co_await s.soft_remove(caroline);
    auto everyone = pgcoro::select<User>();
    std::int64_t visible = co_await s.count(everyone);
    everyone.include_deleted();
    std::int64_t all_rows = co_await s.count(everyone);
    std::cout << "after soft_remove: " << visible << " visible, " << all_rows << " stored\n";
    co_await s.restore(caroline);

    // JSONB: a path filter and containment, both served by the GIN index.
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
    std::string plan = co_await s.explain_analyze(aries);
    std::cout << "plan:\n" << plan << "\n";

    // Eager loading: every user's posts in one more statement (never lazily); each post's
    // author, shared, in a second level.
    auto with_posts = pgcoro::select<User>().order_by(&User::id).load(
        pgcoro::selectin(&User::posts).with(pgcoro::selectin(&Post::author)));
    std::vector<User> loaded = co_await s.all(with_posts);
    for (const User& u : loaded)
        if (!u.posts->empty())
            std::cout << u.name << " wrote " << u.posts->size() << " posts; the first by "
                      << u.posts->front().author.get()->name << "\n";

    // Paging: by offset (with the count in the same round trip) and by keyset cursor.
    auto by_name = pgcoro::select<User>().order_by(&User::name);
    pgcoro::page<User> second = co_await s.page(by_name, 2, 2);
    std::cout << "page " << second.page << " of " << *second.pages << ": " << second.items.size()
              << " users, has_next " << second.has_next << "\n";
    pgcoro::keyset_page<User> first_page = co_await s.page(by_name, pgcoro::keyset(4));
    std::cout << "keyset page: " << first_page.items.size() << " users, next cursor " << *first_page.next
              << "\n";
    pgcoro::keyset_page<User> next_page = co_await s.page(by_name, pgcoro::keyset(4).after(*first_page.next));
    std::cout << "next keyset page: " << next_page.items.size() << " users, starting at "
              << next_page.items.front().name << "\n";

    // Raw SQL stays first-class and maps into the same models.
    std::vector<User> raw =
        co_await s.query<User>("SELECT * FROM users WHERE name = $1 AND deleted_at IS NULL", "Bob");
    std::cout << "raw query: " << raw.size() << " Bobs\n";

    // A unique violation is a typed error naming the constraint.
    User duplicate;
    duplicate.email = "ann@example.com";
    duplicate.name = "Impostor";
    try {
        co_await s.insert(duplicate);
    } catch (const pgcoro::error& e) {
        if (e.code() != pgcoro::condition::unique_violation)
            throw;
        std::cout << "duplicate email refused by " << e.diag().constraint << "\n";
    }
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
    // The schema by migrations: the files in examples/migrations, applied in order, each in a
    // transaction of its own, recorded in schema_migrations (in the example's schema, the
    // search_path's first).
    pgcoro::migrator migrator{pgcoro::migration_set::from_directory(migrations_directory)};
    {
        auto s = co_await pool.session();
        const std::string create = "CREATE SCHEMA " + pgcoro::quote_identifier(schema);
        co_await s.execute_script(create);
        pgcoro::migration_report applied = co_await migrator.up(s);
        for (const auto& m : applied.migrations)
            std::cout << "migrated up " << std::setw(4) << std::setfill('0') << m.version << std::setfill(' ')
                      << "_" << m.slug << " in "
                      << std::chrono::duration<double, std::milli>(m.duration).count() << " ms\n";
    }
    std::exception_ptr failure;
    try {
        co_await demo(pool);
    } catch (...) {
        failure = std::current_exception();
    }
    {
        auto s = co_await pool.session();
        // Every migration reverted, newest first: the schema is empty again but for the
        // (now empty) migrations table.
        const std::int64_t none = 0;
        pgcoro::migration_report reverted = co_await migrator.down_to(s, none);
        std::cout << "migrated down " << reverted.migrations.size() << " migrations to version "
                  << reverted.to << "\n";
        const std::string drop = "DROP SCHEMA " + pgcoro::quote_identifier(schema) + " CASCADE";
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
    std::string conninfo;
    if (argc >= 2)
        conninfo = argv[1];
    else if (const char* dsn = std::getenv("PGCORO_TEST_DSN"); dsn && *dsn)
        conninfo = dsn;
    else if (const char* url = std::getenv("DATABASE_URL"); url && *url)
        conninfo = url;
    if (conninfo.empty()) {
        std::cerr << "usage: models CONNINFO (or set PGCORO_TEST_DSN or DATABASE_URL)\n";
        return 2;
    }
    asio::io_context io;
    int status = 0;
    asio::co_spawn(io, run(conninfo), [&](std::exception_ptr failure) {
        if (!failure)
            return;
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            std::cerr << "error: " << e.what() << "\n";
            status = 1;
        }
    });
    io.run();
    return status;
}
