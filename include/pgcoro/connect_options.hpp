#pragma once

#include <pgcoro/error.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace pgcoro {

/// What a connection reports about each statement it ran (connect_options::on_query).
/// Valid only during the call: copy what you keep (`sql` and `failure` point into the
/// connection's own data).
struct query_event {
    /// Which call ran the statement.
    enum class kind {
        statement, ///< query, query_one, query_opt, scalar, execute, query_result, run
        pipeline,  ///< one statement of connection::pipeline (one event per statement)
        script,    ///< execute_script (also a session's BEGIN, COMMIT, ROLLBACK, SAVEPOINT)
        copy,      ///< copy_in
        stream,    ///< a stream, reported when it ends (its last row, an error, or destruction)
    };
    kind type = kind::statement;
    /// The statement text (the whole script for kind::script), never parameter values.
    std::string_view sql;
    /// How many parameters were bound.
    std::size_t parameters = 0;
    /// From sending the statement (preparing it included, when the statement cache had to)
    /// to its last result; for a pipeline, the whole batch's time; for a stream, until it
    /// ended.
    std::chrono::nanoseconds duration{};
    /// Rows returned or affected: a SELECT's rows, an UPDATE's count, a COPY's rows, the
    /// rows a stream delivered. 0 for a failure.
    std::uint64_t rows = 0;
    /// Statements in the pipeline (kind::pipeline), 0 otherwise.
    std::size_t batch_size = 0;
    /// The error when the statement failed (a server error, a cancellation, a lost
    /// connection), nullptr when it succeeded.
    const error* failure = nullptr;
};

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

    /// Called after every statement run through query/execute/run (and the other typed
    /// calls), each statement of a pipeline, execute_script, copy_in, and each stream (when
    /// it ends), successful or not. Internal traffic (preparing and deallocating cached
    /// statements, pings, recovery after an interrupted operation, pool resets) is not
    /// reported, nor is an operation refused before anything was sent (operation_in_progress,
    /// a closed connection, a failed recovery). Called on the connection's executor, before
    /// the operation returns to its caller; must not throw (an exception is caught and
    /// logged as a warning) and must not use the connection. Empty (the default): nothing is
    /// measured, not even the clock read.
    std::function<void(const query_event&)> on_query;
};

} // namespace pgcoro
