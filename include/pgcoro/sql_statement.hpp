#pragma once
// SQL text plus its bound, encoded parameters: what the query builders render to, and what
// query<T>() and friends accept in place of (sql, args...).

#include <pgcoro/detail/statement.hpp>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgcoro {

/// A statement ready to run: SQL text with $1..$n placeholders and the values bound to them,
/// already encoded. The text never contains a value. Inspect it with sql() and describe()
/// (for logs: it names the parameter types, never their values); run it with
/// `query<T>(statement)`, `execute(statement)` and the other calls of a session or connection.
class sql_statement {
public:
    sql_statement() = default;
    explicit sql_statement(detail::statement statement) noexcept : statement_(std::move(statement)) {}

    /// The SQL text.
    const std::string& sql() const noexcept { return statement_.sql; }
    /// How many parameters are bound.
    std::size_t parameter_count() const noexcept { return statement_.size(); }
    /// The OID of each parameter's type (0: left to the server to infer).
    std::vector<oid_t> parameter_types() const { return {statement_.types.begin(), statement_.types.end()}; }
    /// The SQL text, then one comment line listing the parameters' type OIDs and whether each
    /// is NULL (never a value): safe to log.
    std::string describe() const;

    const detail::statement& native() const& noexcept { return statement_; }
    detail::statement native() && noexcept { return std::move(statement_); }

private:
    detail::statement statement_;
};

namespace detail {

/// SQL under construction: text with parameter slots and the slots' encoded values. Slots
/// stay in text order, so appending one builder to another keeps the numbering right;
/// render() writes $1..$n into the slots.
class sql_builder {
public:
    sql_builder() = default;
    explicit sql_builder(std::string text) : text_(std::move(text)) {}

    sql_builder& append(std::string_view text)
    {
        text_ += text;
        return *this;
    }
    /// Appends another builder's text and parameters.
    sql_builder& append(const sql_builder& other);

    /// Appends a parameter slot bound to `value` (encoded now). Throws pgcoro::error
    /// (invalid_parameter) for a value that cannot be sent.
    template <class V> sql_builder& bind(const V& value)
    {
        try {
            params_.add(value);
        } catch (const error& e) {
            rethrow_parameter_error(e, params_.size() + 1);
        }
        slots_.push_back(text_.size());
        return *this;
    }

    bool empty() const noexcept { return text_.empty(); }
    const std::string& text() const noexcept { return text_; }
    std::size_t parameter_count() const noexcept { return params_.size(); }

    /// The finished statement. Throws client_errc::invalid_argument beyond 65535 parameters.
    sql_statement render() const&;
    sql_statement render() &&;

private:
    std::string placeholders() const;

    std::string text_;
    std::vector<std::size_t> slots_; // offsets into text_, ascending
    statement params_;               // params_.sql is unused
};

} // namespace detail
} // namespace pgcoro
