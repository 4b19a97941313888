// The first pgcoro program: connect, create a table, insert with bound parameters, read
// rows into a struct, stream a large result, send a pipeline batch.
//
//   hello "postgresql://user:password@localhost/db"
//
// (./dev run starts a throwaway server and passes its URL.)

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/describe/class.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>
#include <iostream>
#include <optional>
#include <string>

namespace asio = boost::asio;

struct user {
    std::int64_t id;
    std::string name;
    std::optional<std::string> email;
    boost::json::value profile;
    std::chrono::sys_time<std::chrono::microseconds> created_at;
};
BOOST_DESCRIBE_STRUCT(user, (), (id, name, email, profile, created_at))

asio::awaitable<void> hello(std::string conninfo)
{
    auto executor = co_await asio::this_coro::executor;
    pgcoro::connection db = co_await pgcoro::connection::connect(executor, conninfo);
    std::cout << "connected: server " << db.server_version() << ", backend pid " << db.backend_pid() << "\n";

    co_await db.execute_script(R"(
        DROP TABLE IF EXISTS hello_users;
        CREATE TABLE hello_users (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name text NOT NULL,
            email text UNIQUE,
            profile jsonb NOT NULL DEFAULT '{}',
            created_at timestamptz NOT NULL DEFAULT now()))");
    std::cout << "created table hello_users\n";

    // Values are always bound as parameters, in binary, never spliced into the SQL.
    boost::json::value profile = {{"sun", {{"sign", "Aries"}}}};
    auto id = co_await db.scalar<std::int64_t>(
        "INSERT INTO hello_users (name, email, profile) VALUES ($1, $2, $3) RETURNING id", "Ann",
        std::optional<std::string>{"ann@example.com"}, profile);
    co_await db.execute("INSERT INTO hello_users (name, email) VALUES ($1, $2)",
                        "Bob'; DROP TABLE hello_users; --", std::optional<std::string>{});
    std::cout << "inserted Ann with id " << id << " and a user with a hostile name\n";

    for (const user& u : co_await db.query<user>("SELECT * FROM hello_users ORDER BY id"))
        std::cout << "  user " << u.id << ": " << u.name << " <" << u.email.value_or("no email") << "> "
                  << boost::json::serialize(u.profile) << "\n";

    auto ann = co_await db.query_opt<user>("SELECT * FROM hello_users WHERE email = $1", "ann@example.com");
    std::cout << "looked up by email: " << (ann ? ann->name : "nobody") << "\n";

    // Single-row mode: a million rows, never in memory at once.
    auto rows = co_await db.stream<std::int64_t>("SELECT g FROM generate_series(1, $1::int8) AS g",
                                                 std::int64_t{1'000'000});
    std::int64_t sum = 0;
    while (auto value = co_await rows.next())
        sum += *value;
    std::cout << "streamed 1000000 rows, sum " << sum << "\n";

    // One round trip for a whole batch; atomic: all or nothing.
    pgcoro::batch batch;
    for (int i = 0; i < 100; ++i)
        batch.add("INSERT INTO hello_users (name) VALUES ($1)", "user " + std::to_string(i));
    batch.add("SELECT count(*) FROM hello_users");
    auto results = co_await db.pipeline(std::move(batch));
    std::cout << "pipelined 100 inserts; count is now " << results.back().get<std::int64_t>(0, 0) << "\n";

    try {
        co_await db.execute("INSERT INTO hello_users (name, email) VALUES ($1, $2)", "Ann again",
                            std::optional<std::string>{"ann@example.com"});
    } catch (const pgcoro::error& e) {
        if (e.code() == pgcoro::condition::unique_violation)
            std::cout << "duplicate email rejected: constraint " << e.diag().constraint << " (SQLSTATE "
                      << e.sqlstate() << ")\n";
    }

    co_await db.execute("DROP TABLE hello_users");
    db.close();
    std::cout << "done\n";
}

int main(int argc, char** argv)
{
    if (argc < 2) {
        std::cerr << "usage: hello CONNINFO\n";
        return 2;
    }
    asio::io_context io;
    int status = 0;
    asio::co_spawn(io, hello(argv[1]), [&](std::exception_ptr failure) {
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
