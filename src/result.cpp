#include <pgcoro/detail/query_methods.hpp>
#include <pgcoro/rows.hpp>

#include <boost/core/demangle.hpp>

#include <libpq-fe.h>

#include <charconv>
#include <cstring>

namespace pgcoro {

void result::deleter::operator()(pg_result* handle) const noexcept
{
    PQclear(handle);
}

result::result(pg_result* handle) noexcept : handle_(handle) {}

std::size_t result::size() const noexcept
{
    return handle_ ? static_cast<std::size_t>(PQntuples(handle_.get())) : 0;
}

std::size_t result::columns() const noexcept
{
    return handle_ ? static_cast<std::size_t>(PQnfields(handle_.get())) : 0;
}

std::string_view result::column_name(std::size_t column) const noexcept
{
    const char* name = PQfname(handle_.get(), static_cast<int>(column));
    return name ? std::string_view{name} : std::string_view{};
}

oid_t result::column_type(std::size_t column) const noexcept
{
    return PQftype(handle_.get(), static_cast<int>(column));
}

std::optional<std::size_t> result::find_column(std::string_view name) const noexcept
{
    // PQfnumber would case-fold unquoted names; struct members must match exactly.
    for (std::size_t i = 0, n = columns(); i < n; ++i)
        if (column_name(i) == name)
            return i;
    return std::nullopt;
}

std::optional<std::string_view> result::field(std::size_t row, std::size_t column) const noexcept
{
    int r = static_cast<int>(row);
    int c = static_cast<int>(column);
    if (PQgetisnull(handle_.get(), r, c))
        return std::nullopt;
    return std::string_view{PQgetvalue(handle_.get(), r, c),
                            static_cast<std::size_t>(PQgetlength(handle_.get(), r, c))};
}

std::uint64_t result::rows_affected() const noexcept
{
    if (!handle_)
        return 0;
    const char* text = PQcmdTuples(handle_.get());
    std::uint64_t count = 0;
    std::from_chars(text, text + std::strlen(text), count);
    return count;
}

std::string_view result::command_tag() const noexcept
{
    const char* tag = handle_ ? PQcmdStatus(handle_.get()) : nullptr;
    return tag ? std::string_view{tag} : std::string_view{};
}

namespace detail {

std::string cpp_type_name(const std::type_info& type)
{
    return boost::core::demangle(type.name());
}

void throw_type_mismatch(const result& r, std::size_t column, std::string_view cpp_type)
{
    throw error(client_errc::type_mismatch, "column \"" + std::string(r.column_name(column)) +
                                                "\" has PostgreSQL type " + type_name(r.column_type(column)) +
                                                ", which cannot be read into " + std::string(cpp_type));
}

void rethrow_with_column(const result& r, std::size_t column, std::string_view cpp_type)
{
    try {
        throw;
    } catch (const error& e) {
        diagnostics diag = e.diag();
        diag.column = std::string(r.column_name(column));
        diag.message = "column \"" + diag.column + "\" (" + type_name(r.column_type(column)) + " into " +
                       std::string(cpp_type) + "): " + diag.message;
        throw error(e.code(), std::move(diag));
    }
}

void throw_column_count(const result& r, std::size_t expected, std::string_view cpp_type)
{
    throw error(client_errc::column_count_mismatch, "the query returned " + std::to_string(r.columns()) +
                                                        " column(s); " + std::string(cpp_type) + " needs " +
                                                        std::to_string(expected));
}

void throw_column_not_found(std::string_view member, std::string_view cpp_type)
{
    throw error(client_errc::column_not_found, "no column named \"" + std::string(member) + "\" for member " +
                                                   std::string(cpp_type) + "::" + std::string(member));
}

bool check_single_row(const result& r, bool allow_empty)
{
    return check_row_count(r.size(), allow_empty);
}

bool check_row_count(std::size_t rows, bool allow_empty)
{
    if (rows > 1)
        throw error(client_errc::too_many_rows,
                    "expected at most one row, the query returned " + std::to_string(rows));
    if (rows == 0) {
        if (allow_empty)
            return false;
        throw error(client_errc::no_rows, "expected one row, the query returned none");
    }
    return true;
}

} // namespace detail

} // namespace pgcoro
