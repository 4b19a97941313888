// The HTTP service example: a Boost.Beast HTTP/1.1 JSON API on a pgcoro pool, served by a
// multi-threaded io_context. The API and the options are in README.md next to this file.
//
//   http_service --dsn postgresql://app@localhost/app --migrate --seed 1000 --listen 127.0.0.1:8080
//
// Start-up: parse options, open the pool, apply migrations and seed (if asked), listen,
// print the URL. SIGINT/SIGTERM: stop accepting, finish requests in flight, close the
// pool, exit 0.

#include "api.hpp"
#include "metrics.hpp"
#include "seed.hpp"
#include "server.hpp"

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

struct options {
    std::string dsn;
    std::string host = "127.0.0.1";
    unsigned short port = 8080;
    std::string port_file;
    unsigned threads = std::max(2u, std::thread::hardware_concurrency());
    std::size_t pool_size = 16;
    // A fixed-size pool: under steady load above pool_size, overflow connections open and
    // close continuously (64 clients on 16 + 16: 618 connects in 10 s, half the throughput
    // of 16 + 0 on the 2-CPU test machine). Raise it for bursty traffic.
    std::ptrdiff_t max_overflow = 0;
    std::int64_t pool_timeout_ms = 2000;
    std::int64_t statement_timeout_ms = 5000;
    bool migrate = false;
    std::string migrations = PGCORO_EXAMPLE_MIGRATIONS;
    std::int64_t seed = 0;
    std::size_t max_body_bytes = 64 * 1024;
    std::int64_t shutdown_timeout_ms = 10000;
    std::string signing_key;
};

[[noreturn]] void usage(const std::string& problem)
{
    std::cerr
        << "http_service: " << problem << "\n"
        << "usage: http_service [--dsn DSN] [--listen HOST:PORT] [--port-file FILE] [--threads N]\n"
           "         [--pool-size N] [--max-overflow N] [--pool-timeout-ms N] [--statement-timeout-ms N]\n"
           "         [--migrate] [--migrations DIR] [--seed N] [--max-body-bytes N]\n"
           "         [--shutdown-timeout-ms N] [--signing-key KEY]\n";
    std::exit(2);
}

std::int64_t number(const std::string& name, const std::string& text, std::int64_t min, std::int64_t max)
{
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max)
        usage(name + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
    return value;
}

std::string random_key()
{
    std::random_device device;
    std::string key;
    for (int i = 0; i < 32; ++i)
        key.push_back(static_cast<char>(device() & 0xff));
    return key;
}

options parse(int argc, char** argv)
{
    options o;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc)
                usage(arg + " needs a value");
            return argv[++i];
        };
        if (arg == "--dsn")
            o.dsn = value();
        else if (arg == "--listen") {
            std::string listen = value();
            auto colon = listen.rfind(':');
            if (colon == std::string::npos)
                usage("--listen takes HOST:PORT");
            o.host = listen.substr(0, colon);
            o.port =
                static_cast<unsigned short>(number("--listen's port", listen.substr(colon + 1), 0, 65535));
        } else if (arg == "--port-file")
            o.port_file = value();
        else if (arg == "--threads")
            o.threads = static_cast<unsigned>(number(arg, value(), 1, 256));
        else if (arg == "--pool-size")
            o.pool_size = static_cast<std::size_t>(number(arg, value(), 1, 1000));
        else if (arg == "--max-overflow")
            o.max_overflow = number(arg, value(), -1, 1000);
        else if (arg == "--pool-timeout-ms")
            o.pool_timeout_ms = number(arg, value(), 1, 600000);
        else if (arg == "--statement-timeout-ms")
            o.statement_timeout_ms = number(arg, value(), 0, 3600000);
        else if (arg == "--migrate")
            o.migrate = true;
        else if (arg == "--migrations")
            o.migrations = value();
        else if (arg == "--seed")
            o.seed = number(arg, value(), 0, 10'000'000);
        else if (arg == "--max-body-bytes")
            o.max_body_bytes = static_cast<std::size_t>(number(arg, value(), 1, 64 << 20));
        else if (arg == "--shutdown-timeout-ms")
            o.shutdown_timeout_ms = number(arg, value(), 0, 3600000);
        else if (arg == "--signing-key")
            o.signing_key = value();
        else if (arg == "--help" || arg == "-h")
            usage("help");
        else
            usage("unknown option " + arg);
    }
    if (o.dsn.empty())
        for (const char* name : {"PGCORO_TEST_DSN", "DATABASE_URL"})
            if (const char* env = std::getenv(name); env && *env) {
                o.dsn = env;
                break;
            }
    if (o.dsn.empty())
        usage("no server: pass --dsn or set PGCORO_TEST_DSN or DATABASE_URL");
    if (o.signing_key.empty())
        o.signing_key = random_key(); // cursors then stop working across restarts, by design
    return o;
}

pgcoro::pool_options pool_options_for(const options& o)
{
    pgcoro::pool_options p;
    p.conninfo = o.dsn;
    p.pool_size = o.pool_size;
    p.max_overflow = o.max_overflow;
    p.pool_timeout = std::chrono::milliseconds(o.pool_timeout_ms);
    p.connect_timeout =
        std::min(std::chrono::milliseconds(o.pool_timeout_ms), std::chrono::milliseconds(10000));
    // A statement that hangs (a lock, a stalled server) ends as a 503 instead of holding a
    // connection and a client forever. Integers only: nothing user-supplied reaches the SQL.
    std::int64_t statement_timeout = o.statement_timeout_ms;
    p.hooks.on_connect = [statement_timeout](pgcoro::connection& c) -> asio::awaitable<void> {
        co_await c.execute("SELECT set_config('statement_timeout', $1, false)",
                           std::to_string(statement_timeout));
    };
    return p;
}

void write_port_file(const std::string& path, unsigned short port)
{
    // Written whole, then renamed: a reader polling for the file never sees it half written.
    std::string temporary = path + ".tmp";
    {
        std::ofstream out(temporary);
        out << port << '\n';
    }
    std::filesystem::rename(temporary, path);
}

/// What request handlers use. It outlives every handler that runs (main joins the io
/// threads before it is destroyed) and is destroyed before the io_context: the pool's
/// destructor needs the io_context's services. A handler abandoned after the shutdown
/// timeout is destroyed with the io_context without running again; its lease only needs the
/// pool's shared state, which may outlive the pool object.
struct shared_state {
    std::optional<pgcoro::pool> pool;
    service::metrics counters;
    std::optional<service::api> api;
};

asio::awaitable<void> run(asio::io_context& io, const options& o, shared_state& state)
{
    // Signals first: a SIGTERM during migrations is kept and handled once serving starts.
    asio::signal_set signals(io, SIGINT, SIGTERM);
    pgcoro::pool& pool = state.pool.emplace(io.get_executor(), pool_options_for(o));

    if (o.migrate) {
        pgcoro::migrator migrator(pgcoro::migration_set::from_directory(o.migrations));
        auto s = co_await pool.session();
        pgcoro::migration_report report = co_await migrator.up(s);
        std::cerr << "http_service: migrations: " << report.migrations.size() << " applied, at version "
                  << report.to << '\n';
    }
    if (o.seed > 0) {
        std::int64_t created = co_await service::seed(pool, o.seed);
        std::cerr << "http_service: seed: "
                  << (created > 0 ? std::to_string(created) + " users created"
                                  : std::string("users exist, nothing added"))
                  << '\n';
    }

    service::metrics& counters = state.counters;
    service::api& api = state.api.emplace(pool, counters, service::api_options{.signing_key = o.signing_key});
    service::server_options server_options;
    server_options.max_body_bytes = o.max_body_bytes;
    tcp::endpoint endpoint(asio::ip::make_address(o.host), o.port);
    auto server = std::make_shared<service::server>(io, endpoint, api, server_options);
    server->start();
    unsigned short port = server->local_endpoint().port();
    if (!o.port_file.empty())
        write_port_file(o.port_file, port);
    std::cout << "listening on http://" << o.host << ':' << port << std::endl;

    int signal = co_await signals.async_wait(asio::use_awaitable);
    std::cerr << "http_service: " << (signal == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down ("
              << counters.in_flight() << " request(s) in flight)\n";
    co_await server->shutdown(std::chrono::milliseconds(o.shutdown_timeout_ms));
    // Requests are done (or abandoned): the pool's wait is short. A lease still held by an
    // abandoned handler is closed when it ends.
    co_await pool.close(std::chrono::seconds(1));
    std::cerr << "http_service: stopped\n";
}

} // namespace

int main(int argc, char** argv)
{
    options o = parse(argc, argv);
    asio::io_context io(static_cast<int>(o.threads)); // destroyed last: ends abandoned handlers
    shared_state state;                               // destroyed before io, after the threads end
    int exit_code = 0;
    asio::co_spawn(io, run(io, o, state), [&](std::exception_ptr e) {
        if (e) {
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& failure) {
                // pgcoro errors never contain the password; the DSN itself is never printed.
                std::cerr << "http_service: " << failure.what() << '\n';
            }
            exit_code = 1;
        }
        io.stop();
    });
    std::vector<std::thread> threads;
    for (unsigned i = 1; i < o.threads; ++i)
        threads.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : threads)
        t.join();
    return exit_code;
}
