#pragma once
// What the graded examples after 01_hello share: where the server comes from, and a main()
// that runs one coroutine and turns its outcome into the exit status. 01_hello spells both
// out in full.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>

namespace example {

/// The server: argv[1], else PGCORO_TEST_DSN, else DATABASE_URL. Without one, prints the
/// usage line of program `name` and exits with status 2.
inline std::string conninfo_from(std::string_view name, int argc, char** argv)
{
    if (argc >= 2)
        return argv[1];
    for (const char* variable : {"PGCORO_TEST_DSN", "DATABASE_URL"})
        if (const char* value = std::getenv(variable); value && *value)
            return value;
    std::cerr << "usage: " << name << " CONNINFO (or set PGCORO_TEST_DSN or DATABASE_URL)\n";
    std::exit(2);
}

/// main() of an example whose work is one coroutine `body(conninfo)` on a single-threaded
/// io_context: 0 when it completes, 1 (with the error on stderr) when it throws.
inline int run(std::string_view name, int argc, char** argv,
               boost::asio::awaitable<void> (*body)(std::string conninfo))
{
    const std::string conninfo = conninfo_from(name, argc, argv);
    boost::asio::io_context io;
    int status = 0;
    boost::asio::co_spawn(io, body(conninfo), [&](std::exception_ptr failure) {
        if (!failure)
            return;
        try {
            std::rethrow_exception(failure);
        } catch (const std::exception& e) {
            std::cerr << "error: " << e.what() << "\n"; // pgcoro's messages never contain the password
            status = 1;
        }
    });
    io.run();
    return status;
}

} // namespace example
