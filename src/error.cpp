#include <pgcoro/error.hpp>

#include <array>

namespace pgcoro {
namespace {

class client_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "pgcoro.client"; }

    std::string message(int value) const override
    {
        switch (static_cast<client_errc>(value)) {
        case client_errc::operation_in_progress:
            return "another operation is in progress on this connection";
        case client_errc::connection_lost:
            return "connection to the server lost";
        case client_errc::connection_closed:
            return "connection is closed";
        case client_errc::connect_failed:
            return "could not connect to the server";
        case client_errc::connect_timeout:
            return "timed out connecting to the server";
        case client_errc::invalid_connection_string:
            return "invalid connection string";
        case client_errc::unexpected_null:
            return "NULL value for a non-optional field";
        case client_errc::type_mismatch:
            return "column type does not match the C++ type";
        case client_errc::column_not_found:
            return "no column for a struct member";
        case client_errc::column_count_mismatch:
            return "wrong number of columns";
        case client_errc::malformed_value:
            return "malformed binary value";
        case client_errc::invalid_parameter:
            return "invalid query parameter";
        case client_errc::no_rows:
            return "query returned no rows";
        case client_errc::too_many_rows:
            return "query returned more than one row";
        case client_errc::protocol_violation:
            return "unexpected response from the server";
        case client_errc::unsupported_copy:
            return "COPY is not supported through the query API";
        case client_errc::operation_aborted:
            return "operation aborted";
        case client_errc::timeout:
            return "operation timed out";
        case client_errc::invalid_argument:
            return "invalid argument";
        case client_errc::pipeline_aborted:
            return "statement skipped: an earlier statement in the pipeline failed";
        case client_errc::pool_timeout:
            return "timed out waiting for a pooled connection";
        case client_errc::pool_closed:
            return "the pool is closed";
        case client_errc::transaction_aborted:
            return "the transaction is aborted; roll back first";
        case client_errc::transaction_in_progress:
            return "a transaction is already begun on this session";
        case client_errc::transaction_closed:
            return "the transaction is already committed or rolled back";
        case client_errc::scope_not_innermost:
            return "a nested transaction scope is open; run statements through it";
        case client_errc::commit_outcome_unknown:
            return "COMMIT was sent but its outcome is unknown";
        case client_errc::relation_not_loaded:
            return "the relation was not loaded";
        case client_errc::invalid_cursor:
            return "invalid paging cursor";
        case client_errc::invalid_migration:
            return "invalid migration";
        case client_errc::migration_conflict:
            return "the applied migrations do not match the known ones";
        case client_errc::migration_locked:
            return "another migration runner holds the migration lock";
        }
        return "unknown pgcoro client error";
    }

    boost::system::error_condition default_error_condition(int value) const noexcept override;
};

const client_category_impl client_category_instance;

class sqlstate_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "pgcoro.sqlstate"; }
    std::string message(int value) const override { return "SQLSTATE " + sqlstate_from_int(value); }
    boost::system::error_condition default_error_condition(int value) const noexcept override;
};

const sqlstate_category_impl sqlstate_category_instance;

constexpr int sqlstate_class(int value) noexcept
{
    // The first two characters are the class: value / 36^3.
    return value / (36 * 36 * 36);
}

constexpr int class_of(std::string_view two) noexcept
{
    const char code[] = {two[0], two[1], '0', '0', '0'};
    return sqlstate_class(sqlstate_to_int(std::string_view{code, 5}));
}

std::optional<condition> condition_for_sqlstate(int value) noexcept
{
    switch (value) {
    case sqlstate_to_int("23505"):
        return condition::unique_violation;
    case sqlstate_to_int("23503"):
        return condition::foreign_key_violation;
    case sqlstate_to_int("23502"):
        return condition::not_null_violation;
    case sqlstate_to_int("23514"):
        return condition::check_violation;
    case sqlstate_to_int("40001"):
        return condition::serialization_failure;
    case sqlstate_to_int("40P01"):
        return condition::deadlock_detected;
    case sqlstate_to_int("25006"):
        return condition::read_only_transaction;
    case sqlstate_to_int("57014"):
        return condition::query_canceled;
    case sqlstate_to_int("42601"):
        return condition::syntax_error;
    case sqlstate_to_int("42P01"):
        return condition::undefined_table;
    case sqlstate_to_int("25P02"):
        return condition::in_failed_transaction;
    case sqlstate_to_int("55P03"):
        return condition::lock_not_available;
    case sqlstate_to_int("57P01"):
    case sqlstate_to_int("57P02"):
    case sqlstate_to_int("57P03"):
        return condition::connection_error;
    default:
        break;
    }
    int cls = sqlstate_class(value);
    if (cls == class_of("08"))
        return condition::connection_error;
    if (cls == class_of("22"))
        return condition::data_exception;
    if (cls == class_of("23"))
        return condition::integrity_violation;
    return std::nullopt;
}

class condition_category_impl final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "pgcoro.condition"; }

    std::string message(int value) const override
    {
        switch (static_cast<condition>(value)) {
        case condition::unique_violation:
            return "unique violation";
        case condition::foreign_key_violation:
            return "foreign key violation";
        case condition::not_null_violation:
            return "not-null violation";
        case condition::check_violation:
            return "check violation";
        case condition::serialization_failure:
            return "serialization failure";
        case condition::deadlock_detected:
            return "deadlock detected";
        case condition::read_only_transaction:
            return "read-only transaction";
        case condition::query_canceled:
            return "query canceled";
        case condition::syntax_error:
            return "syntax error";
        case condition::undefined_table:
            return "undefined table";
        case condition::connection_error:
            return "connection error";
        case condition::in_failed_transaction:
            return "in failed transaction";
        case condition::data_exception:
            return "data exception";
        case condition::integrity_violation:
            return "integrity constraint violation";
        case condition::lock_not_available:
            return "lock not available";
        }
        return "unknown condition";
    }

    bool equivalent(const boost::system::error_code& code, int value) const noexcept override
    {
        auto wanted = static_cast<condition>(value);
        if (code.category() == sqlstate_category_instance) {
            int state = code.value();
            if (condition_for_sqlstate(state) == wanted)
                return true;
            // Specific codes also belong to their class-wide condition.
            if (wanted == condition::integrity_violation)
                return sqlstate_class(state) == class_of("23");
            if (wanted == condition::data_exception)
                return sqlstate_class(state) == class_of("22");
            if (wanted == condition::connection_error)
                return sqlstate_class(state) == class_of("08");
            return false;
        }
        if (code.category() == client_category_instance) {
            auto e = static_cast<client_errc>(code.value());
            if (wanted == condition::in_failed_transaction)
                return e == client_errc::transaction_aborted;
            return wanted == condition::connection_error &&
                   (e == client_errc::connection_lost || e == client_errc::connect_failed ||
                    e == client_errc::connect_timeout || e == client_errc::connection_closed);
        }
        return false;
    }
};

const condition_category_impl condition_category_instance;

boost::system::error_condition client_category_impl::default_error_condition(int value) const noexcept
{
    return {value, *this};
}

boost::system::error_condition sqlstate_category_impl::default_error_condition(int value) const noexcept
{
    return {value, *this};
}

} // namespace

namespace detail {
std::string describe_error(const boost::system::error_code& code, const diagnostics& diag)
{
    std::string text;
    if (!diag.sqlstate.empty()) {
        text += diag.severity.empty() ? "ERROR" : diag.severity;
        text += ' ';
        text += diag.sqlstate;
        text += ": ";
    }
    text += diag.message.empty() ? code.message() : diag.message;
    if (diag.position)
        text += " (at character " + std::to_string(*diag.position) + ")";
    if (!diag.detail.empty())
        text += "\nDETAIL: " + diag.detail;
    if (!diag.hint.empty())
        text += "\nHINT: " + diag.hint;
    if (!diag.statement.empty())
        text += "\nSTATEMENT: " + diag.statement;
    return text;
}

} // namespace detail

const boost::system::error_category& client_category() noexcept
{
    return client_category_instance;
}
const boost::system::error_category& sqlstate_category() noexcept
{
    return sqlstate_category_instance;
}
const boost::system::error_category& condition_category() noexcept
{
    return condition_category_instance;
}

std::string sqlstate_from_int(int value)
{
    std::string code(5, '0');
    for (int i = 4; i >= 0; --i) {
        int digit = value % 36;
        value /= 36;
        code[static_cast<std::size_t>(i)] = static_cast<char>(digit < 10 ? '0' + digit : 'A' + digit - 10);
    }
    return code;
}

error::error(boost::system::error_code code, diagnostics diag)
    : boost::system::system_error(code, detail::describe_error(code, diag)), diag_(std::move(diag))
{}

namespace {
diagnostics client_diagnostics(std::string message)
{
    diagnostics diag;
    diag.message = std::move(message);
    return diag;
}
} // namespace

error::error(client_errc code, std::string message)
    : error(make_error_code(code), client_diagnostics(std::move(message)))
{}

bool is_fatal(const boost::system::error_code& code) noexcept
{
    if (code.category() == client_category_instance) {
        auto e = static_cast<client_errc>(code.value());
        return e == client_errc::connection_lost || e == client_errc::connection_closed ||
               e == client_errc::connect_failed || e == client_errc::connect_timeout ||
               e == client_errc::protocol_violation;
    }
    if (code.category() == sqlstate_category_instance) {
        int cls = sqlstate_class(code.value());
        // Class 08 (connection exception), 57P01..57P03 (admin shutdown, crash shutdown,
        // cannot connect now) end the session.
        return cls == class_of("08") || code.value() == sqlstate_to_int("57P01") ||
               code.value() == sqlstate_to_int("57P02") || code.value() == sqlstate_to_int("57P03");
    }
    return false;
}

bool is_retryable(const boost::system::error_code& code) noexcept
{
    return code == condition::serialization_failure || code == condition::deadlock_detected;
}

} // namespace pgcoro
