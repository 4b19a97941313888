#pragma once
// A completed statement's rows, in binary format, without libpq in sight.

#include <pgcoro/types/traits.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <typeinfo>

struct pg_result; // libpq's PGresult, kept opaque

namespace pgcoro {

/// The outcome of one statement: rows (binary format), column metadata, the command tag.
/// Move-only (it owns the libpq result); immutable; safe to read from any thread.
class result {
public:
    result() noexcept = default;
    /// Takes ownership of a libpq result (used by the connection; not for users).
    explicit result(pg_result* handle) noexcept;

    std::size_t size() const noexcept; ///< number of rows
    bool empty() const noexcept { return size() == 0; }
    std::size_t columns() const noexcept; ///< number of columns
    std::string_view column_name(std::size_t column) const noexcept;
    oid_t column_type(std::size_t column) const noexcept;
    /// Index of the column called `name`, if any (exact, case-sensitive match).
    std::optional<std::size_t> find_column(std::string_view name) const noexcept;

    /// The raw binary value, nullopt for NULL. Valid while this result lives.
    std::optional<std::string_view> field(std::size_t row, std::size_t column) const noexcept;

    /// Decodes one field. Throws pgcoro::error (type_mismatch, unexpected_null,
    /// malformed_value) naming the column.
    template <field_type T> T get(std::size_t row, std::size_t column) const;

    /// Rows inserted, updated, deleted, selected, ... as reported by the command tag.
    std::uint64_t rows_affected() const noexcept;
    /// The command tag ("INSERT 0 1", "SELECT 3", "BEGIN").
    std::string_view command_tag() const noexcept;

    /// The libpq handle (for pgcoro's own use).
    pg_result* native_handle() const noexcept { return handle_.get(); }

private:
    struct deleter {
        void operator()(pg_result* handle) const noexcept;
    };
    std::unique_ptr<pg_result, deleter> handle_;
};

namespace detail {
[[noreturn]] void throw_type_mismatch(const result& r, std::size_t column, std::string_view cpp_type);
/// Rethrows the active pgcoro::error with the column's name (and type) added to its message.
[[noreturn]] void rethrow_with_column(const result& r, std::size_t column, std::string_view cpp_type);
std::string cpp_type_name(const std::type_info& type);
} // namespace detail

namespace detail {

/// Throws type_mismatch (naming the column, its PostgreSQL type and T) unless column
/// `column` of `r` can be decoded into T.
template <field_type T> void check_column(const result& r, std::size_t column)
{
    if (!field_accepts<T>(r.column_type(column)))
        throw_type_mismatch(r, column, cpp_type_name(typeid(T)));
}

/// Decodes one field of an already checked column; errors name the column.
template <field_type T> T decode_column(const result& r, std::size_t row, std::size_t column)
{
    try {
        return decode_field<T>(r.field(row, column), r.column_type(column));
    } catch (const error&) {
        rethrow_with_column(r, column, cpp_type_name(typeid(T)));
    }
}

} // namespace detail

template <field_type T> T result::get(std::size_t row, std::size_t column) const
{
    detail::check_column<T>(*this, column);
    return detail::decode_column<T>(*this, row, column);
}

} // namespace pgcoro
