#pragma once

#include <pgcoro/error.hpp>

#include <chrono>
#include <cstddef>
#include <functional>
#include <string>

namespace pgcoro {

/// How to reach the server and how a connection behaves.
struct connect_options {
    /// A libpq connection string, as key=value pairs ("host=db user=app dbname=app") or a
    /// URL ("postgresql://app:secret@db:5432/app?sslmode=require"). Several hosts
    /// ("host=a,b port=5432,5433") are tried in order, each with its own deadline.
    std::string conninfo;

    /// Deadline for one host attempt (DNS excluded). A connect_timeout in the connection
    /// string overrides it (seconds, at least 2, as libpq does).
    std::chrono::milliseconds connect_timeout{std::chrono::seconds{10}};

    /// Distinct statements (SQL text + parameter types) kept prepared per connection; the
    /// least recently used is deallocated beyond that. 0 disables automatic preparation:
    /// every statement goes out unnamed (parse + plan each time).
    std::size_t statement_cache_size = 256;

    /// Receives server notices and warnings (RAISE NOTICE, "there is no transaction in
    /// progress", ...). Called on the connection's executor; must not throw and must not use
    /// the connection. Empty: notices go to pgcoro::log.
    std::function<void(const diagnostics&)> on_notice;
};

} // namespace pgcoro
