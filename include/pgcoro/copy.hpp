#pragma once
// Building input for COPY ... FROM STDIN (WITH (FORMAT binary)): connection::copy_in and
// queryable::copy_in send it.

#include <pgcoro/error.hpp>
#include <pgcoro/types.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgcoro {

/// Builds PostgreSQL's binary COPY format (https://www.postgresql.org/docs/15/sql-copy.html,
/// "Binary Format"): the 19-byte header, then per row an int16 field count and per field an
/// int32 byte length (-1 for NULL) and the value in the type's binary form, then the int16
/// -1 trailer.
///
///     pgcoro::binary_copy_writer rows;
///     for (const auto& u : users) {
///         rows.begin_row(3);
///         rows.add(u.id);            // std::int64_t -> bigint
///         rows.add(u.name);          // std::string -> text
///         rows.add(u.email);         // std::optional<std::string> -> text or NULL
///     }
///     co_await db.copy_in("COPY users (id, name, email) FROM STDIN (FORMAT binary)",
///                         std::move(rows).finish());
///
/// Values are encoded with the same codecs as query parameters (pgcoro::type_traits), but
/// unlike a parameter, a COPY field carries no type OID: the server decodes each field with
/// its column's type, so the C++ type must match the column exactly (std::int64_t for
/// bigint, std::int32_t for integer, std::vector<std::int32_t> for integer[], ...). A
/// mismatch is a server error when the copy runs (22P03 "incorrect binary data format").
/// boost::json::value is written as jsonb (version byte, then text): for a json column use
/// the text in a std::string. BOOST_DESCRIBE_ENUM enums work (an enum's binary form is its
/// label). Types whose parameters go out in text format (type_traits<T>::format == 0, e.g.
/// arrays of enums) have no binary form here: add() refuses them at compile time.
///
/// Not thread-safe; no I/O. Every function throws std::bad_alloc when memory runs out.
class binary_copy_writer {
public:
    /// PostgreSQL's limit on the columns of a table (MaxHeapAttributeNumber), hence on the
    /// fields of a row.
    static constexpr std::size_t max_fields = 1600;

    /// An empty copy: writes the 19-byte header.
    binary_copy_writer();

    /// Starts a row of `fields` fields; exactly that many add() calls must follow. Throws
    /// client_errc::invalid_parameter for more than max_fields fields, and
    /// client_errc::invalid_argument when the previous row is incomplete.
    void begin_row(std::size_t fields);

    /// Appends one field of the current row: the int32 length (-1 for an empty optional,
    /// i.e. NULL) and the binary encoding of `value`. Throws client_errc::invalid_argument
    /// when no row was begun or the row already has its fields, and the codec's
    /// invalid_parameter for a value PostgreSQL cannot hold or a value above 1 GB (the
    /// buffer is then left as it was before the call).
    template <field_type T>
    requires(detail::field_format<T>() == 1) void add(const T& value)
    {
        const std::size_t start = start_field();
        bool present = false;
        try {
            present = detail::encode_field<T>(value, buffer_);
        } catch (...) {
            buffer_.resize(start);
            throw;
        }
        end_field(start, present);
    }

    /// Types whose parameters go out in text format (arrays of enums) have no binary form
    /// that the server's receive function would read: refused at compile time.
    template <field_type T>
    requires(detail::field_format<T>() != 1) void add(const T& value) = delete;

    /// A string literal or C string as text.
    void add(const char* text) { add(std::string_view(text)); }
    /// An untyped NULL.
    void add(std::nullopt_t);

    /// Appends the trailer and returns the whole buffer; the writer is then spent. Throws
    /// client_errc::invalid_argument when the last row is incomplete.
    std::string finish() &&;

    /// Rows begun so far.
    std::size_t rows() const noexcept { return rows_; }
    /// Bytes written so far (header included, trailer not).
    std::size_t size() const noexcept { return buffer_.size(); }

private:
    /// Checks a field may follow and appends a placeholder length; returns where it starts.
    std::size_t start_field();
    /// Patches the length of the field that starts at `start` (-1 when not `present`).
    void end_field(std::size_t start, bool present);

    std::string buffer_;
    std::size_t rows_ = 0;
    std::size_t fields_left_ = 0; ///< add() calls the current row still needs
};

} // namespace pgcoro
