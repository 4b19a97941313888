#pragma once
// Errors: pgcoro::error (a boost::system::system_error carrying diagnostics), the client
// error category, the SQLSTATE category and the portable conditions users match on.

#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace pgcoro {

/// Errors raised by pgcoro itself (not by the server).
enum class client_errc {
    operation_in_progress = 1, ///< a second operation was started while one is running
    connection_lost,           ///< the socket or the backend went away; the connection is unusable
    connection_closed,         ///< the connection was closed (or never opened)
    connect_failed,            ///< libpq could not establish the connection
    connect_timeout,           ///< a host attempt exceeded connect_timeout
    invalid_connection_string, ///< the conninfo or URL could not be parsed
    unexpected_null,           ///< NULL arrived for a non-optional C++ value
    type_mismatch,             ///< a column's PostgreSQL type cannot be decoded into the C++ type
    column_not_found,          ///< a struct member has no column of that name
    column_count_mismatch,     ///< a tuple or scalar does not fit the number of columns
    malformed_value,           ///< the server's binary value failed validation
    invalid_parameter,         ///< a parameter cannot be sent (embedded NUL, out of range, ...)
    no_rows,                   ///< query_one / scalar got no row
    too_many_rows,             ///< query_one / query_opt / scalar got more than one row
    protocol_violation,        ///< the server answered something libpq or pgcoro did not expect
    unsupported_copy,          ///< COPY ... FROM STDIN / TO STDOUT through the query API
    operation_aborted,         ///< the operation was cancelled; the connection needs recovery
    timeout,                   ///< a client-side deadline expired
    invalid_argument,          ///< a caller-supplied option or argument is invalid
    pipeline_aborted,          ///< an earlier statement of the same pipeline segment failed
    pool_timeout,              ///< no connection could be acquired within pool_timeout
    pool_closed,               ///< the pool was closed
    transaction_aborted,       ///< an earlier statement of the transaction failed: roll back first
    transaction_in_progress,   ///< begin() on a session that already has an open transaction
    transaction_closed,        ///< the transaction (or savepoint) was already committed or rolled back
    scope_not_innermost, ///< a statement through a scope that has a savepoint (or transaction) open inside it
    commit_outcome_unknown, ///< COMMIT was sent but its answer never arrived
    relation_not_loaded,    ///< a pgcoro::related member was read before it was loaded
    invalid_cursor,         ///< a keyset paging cursor is malformed, tampered with or for another query
    invalid_migration,  ///< a migration file or definition is malformed (name, version, duplicate, directive)
    migration_conflict, ///< applied migrations disagree with the known ones (checksum drift, missing, out of
                        ///< order)
    migration_locked,   ///< another migration runner held the migration lock past lock_timeout
};

/// The category of client_errc codes.
const boost::system::error_category& client_category() noexcept;

inline boost::system::error_code make_error_code(client_errc e) noexcept
{
    return {static_cast<int>(e), client_category()};
}

/// The category of server SQLSTATE codes. A five-character SQLSTATE is stored as an int
/// (base 36 per character, see sqlstate_to_int); message() returns the code itself.
const boost::system::error_category& sqlstate_category() noexcept;

/// Packs a five-character SQLSTATE ("42601") into an int; 0 for anything malformed.
constexpr int sqlstate_to_int(std::string_view code) noexcept
{
    if (code.size() != 5)
        return 0;
    int value = 0;
    for (char c : code) {
        int digit = 0;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'A' && c <= 'Z')
            digit = c - 'A' + 10;
        else
            return 0;
        value = value * 36 + digit;
    }
    return value;
}

/// Inverse of sqlstate_to_int.
std::string sqlstate_from_int(int value);

/// Conditions that group client errors and SQLSTATEs the way callers match on them:
/// `if (e.code() == pgcoro::condition::unique_violation)`.
enum class condition {
    unique_violation = 1,  ///< 23505
    foreign_key_violation, ///< 23503
    not_null_violation,    ///< 23502
    check_violation,       ///< 23514
    serialization_failure, ///< 40001
    deadlock_detected,     ///< 40P01
    read_only_transaction, ///< 25006
    query_canceled,        ///< 57014 (cancel request or statement_timeout)
    syntax_error,          ///< 42601
    undefined_table,       ///< 42P01
    connection_error,      ///< class 08, 57P01..57P03, and client connection_lost / connect errors
    in_failed_transaction, ///< 25P02 and client transaction_aborted
    data_exception,        ///< class 22
    integrity_violation,   ///< class 23
    lock_not_available,    ///< 55P03 (NOWAIT, lock_timeout)
};

const boost::system::error_category& condition_category() noexcept;

inline boost::system::error_condition make_error_condition(condition c) noexcept
{
    return {static_cast<int>(c), condition_category()};
}

/// Every field the server (or libpq) reported about an error or notice. Server text is
/// untrusted: it may echo user data.
struct diagnostics {
    std::string severity; ///< ERROR, FATAL, PANIC, WARNING, NOTICE, ... (non-localised)
    std::string sqlstate; ///< five characters, empty for client-side errors
    std::string message;  ///< primary message
    std::string detail;
    std::string hint;
    std::optional<int> position; ///< 1-based character index into the statement
    std::string context;
    std::string schema;
    std::string table;
    std::string column;
    std::string datatype;
    std::string constraint;
    std::string statement; ///< first 200 characters of the statement (never parameter values)
};

/// The exception every pgcoro operation throws. code() is either a client_errc or a
/// SQLSTATE (sqlstate_category); both compare equal to the matching `condition`.
class error : public boost::system::system_error {
public:
    error(boost::system::error_code code, diagnostics diag);
    error(client_errc code, std::string message);

    const diagnostics& diag() const noexcept { return diag_; }
    std::string_view sqlstate() const noexcept { return diag_.sqlstate; }

private:
    diagnostics diag_;
};

/// True when the connection that produced `code` can no longer be used.
bool is_fatal(const boost::system::error_code& code) noexcept;

/// True for errors a transaction retry may cure: serialization failure and deadlock.
bool is_retryable(const boost::system::error_code& code) noexcept;

namespace detail {
/// The text of an error without the error code suffix what() adds: "ERROR 42601: message
/// (at character n)", then DETAIL, HINT and STATEMENT lines.
std::string describe_error(const boost::system::error_code& code, const diagnostics& diag);
} // namespace detail

} // namespace pgcoro

namespace boost::system {
template <> struct is_error_code_enum<pgcoro::client_errc> : std::true_type {};
template <> struct is_error_condition_enum<pgcoro::condition> : std::true_type {};
} // namespace boost::system
