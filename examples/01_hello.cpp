// The smallest useful pgcoro program: connect, run one query with bound parameters, print
// its rows (decoded into a struct).
//
//   01_hello "postgresql://user:password@localhost/db"
//
// Without an argument, PGCORO_TEST_DSN or DATABASE_URL names the server. It creates
// nothing, so any number of runs may share a database.

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/describe/class.hpp>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace asio = boost::asio;

namespace {

/// One row of the query: columns are matched to members by name.
struct greeting {
    std::int64_t n = 0;
    std::string text;
};
BOOST_DESCRIBE_STRUCT(greeting, (), (n, text))

asio::awaitable<void> hello(std::string conninfo)
{
    auto executor = co_await asio::this_coro::executor;
    pgcoro::connection db = co_await pgcoro::connection::connect(executor, conninfo);
    std::cout << "connected: server " << db.server_version() << ", backend pid " << db.backend_pid() << "\n";

    // $1 and $2 travel apart from the SQL text, in binary: never spliced into it.
    const std::int64_t count = 3;
    std::vector<greeting> rows = co_await db.query<greeting>(
        "SELECT n, format('%s #%s from %s', $1::text, n, current_database()) AS text "
        "FROM generate_series(1, $2) AS n",
        "hello", count);
    for (const greeting& g : rows)
        std::cout << "  " << g.n << ": " << g.text << "\n";

    // A broken library must not pass for a working one: check what was printed.
    if (rows.size() != 3 || rows.back().n != 3 || rows.back().text.rfind("hello #3 from ", 0) != 0)
        throw std::runtime_error("unexpected rows from the greeting query");
    db.close();
    std::cout << "done\n";
}

std::string conninfo_from(int argc, char** argv)
{
    if (argc >= 2)
        return argv[1];
    for (const char* name : {"PGCORO_TEST_DSN", "DATABASE_URL"})
        if (const char* value = std::getenv(name); value && *value)
            return value;
    return {};
}

} // namespace

int main(int argc, char** argv)
{
    const std::string conninfo = conninfo_from(argc, argv);
    if (conninfo.empty()) {
        std::cerr << "usage: 01_hello CONNINFO (or set PGCORO_TEST_DSN or DATABASE_URL)\n";
        return 2;
    }
    asio::io_context io;
    int status = 0;
    asio::co_spawn(io, hello(conninfo), [&](std::exception_ptr failure) {
        if (!failure)
            return;
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            // pgcoro's messages never contain the password.
            std::cerr << "error: " << e.what() << "\n";
            status = 1;
        }
    });
    io.run();
    return status;
}
