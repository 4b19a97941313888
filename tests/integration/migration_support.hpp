#pragma once
// Helpers for the migration tests: a throwaway database per test (migrations create and drop
// whole schemas' worth of objects, and "nothing left" is only checkable on a database of
// one's own) and a temporary migrations directory.

#include "support.hpp"

#include <pgcoro/migrations.hpp>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

namespace test {

/// `dsn` with its database replaced by `database` (a postgresql:// URL or key=value pairs).
inline std::string with_database(const std::string& dsn, const std::string& database)
{
    if (dsn.starts_with("postgresql://") || dsn.starts_with("postgres://")) {
        std::size_t query = dsn.find('?');
        std::size_t path = dsn.rfind('/', query == std::string::npos ? dsn.size() : query);
        std::size_t authority = dsn.find("//") + 2;
        std::string head = path != std::string::npos && path >= authority ? dsn.substr(0, path) : dsn;
        if (query != std::string::npos && path == std::string::npos)
            head = dsn.substr(0, query);
        return head + "/" + database + (query == std::string::npos ? "" : dsn.substr(query));
    }
    return dsn + " dbname=" + database;
}

/// A database created for one test and dropped (WITH (FORCE)) when the object dies.
class scratch_database {
public:
    scratch_database()
    {
        static std::atomic<int> counter{0};
        name_ = "pgcoro_mig_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
        admin([this](pgcoro::connection& c) -> asio::awaitable<void> {
            std::string sql = "DROP DATABASE IF EXISTS " + pgcoro::quote_identifier(name_) + " WITH (FORCE)";
            co_await c.execute_script(sql);
            sql = "CREATE DATABASE " + pgcoro::quote_identifier(name_);
            co_await c.execute_script(sql);
        });
        dsn_ = with_database(test::dsn(), name_);
    }
    ~scratch_database()
    {
        try {
            admin([this](pgcoro::connection& c) -> asio::awaitable<void> {
                std::string sql =
                    "DROP DATABASE IF EXISTS " + pgcoro::quote_identifier(name_) + " WITH (FORCE)";
                co_await c.execute_script(sql);
            });
        } catch (const std::exception& e) {
            BOOST_TEST_MESSAGE("could not drop " << name_ << ": " << e.what());
        }
    }
    scratch_database(const scratch_database&) = delete;
    scratch_database& operator=(const scratch_database&) = delete;

    const std::string& name() const noexcept { return name_; }
    /// Connection string of the scratch database.
    const std::string& dsn() const noexcept { return dsn_; }

    /// A pool of the scratch database.
    pgcoro::pool_options pool_options(std::size_t size = 4) const
    {
        pgcoro::pool_options options;
        options.conninfo = dsn_;
        options.pool_size = size;
        options.max_overflow = 0;
        options.pool_timeout = std::chrono::seconds{20};
        return options;
    }

private:
    template <class F> void admin(F body)
    {
        test::run([&]() -> asio::awaitable<void> {
            pgcoro::connect_options options;
            options.conninfo = test::dsn();
            pgcoro::connection c = co_await test::connect(std::move(options));
            co_await body(c);
        });
    }

    std::string name_;
    std::string dsn_;
};

/// A temporary directory, removed with its files when the object dies.
class temp_directory {
public:
    temp_directory()
    {
        std::random_device random;
        path_ = std::filesystem::temp_directory_path() /
                ("pgcoro-migrations-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
        std::filesystem::create_directories(path_);
    }
    ~temp_directory()
    {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    temp_directory(const temp_directory&) = delete;
    temp_directory& operator=(const temp_directory&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }

    /// Writes `file` (a name inside the directory) with `content`, replacing it.
    void write(const std::string& file, const std::string& content) const
    {
        std::ofstream out(path_ / file, std::ios::binary | std::ios::trunc);
        out << content;
        BOOST_REQUIRE(out.good());
    }

private:
    std::filesystem::path path_;
};

} // namespace test
