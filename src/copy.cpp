#include <pgcoro/copy.hpp>

namespace pgcoro {
namespace {

// "PGCOPY\n\377\r\n\0": the signature, then an int32 flags field (bit 16: OIDs included; not
// used) and an int32 header extension length (none).
constexpr char signature[] = {'P', 'G', 'C', 'O', 'P', 'Y', '\n', '\xff', '\r', '\n', '\0'};
constexpr std::size_t length_size = 4;
constexpr std::size_t max_field_size = 0x3fffffff; // PostgreSQL's 1 GB field limit

[[noreturn]] void throw_misuse(const std::string& what)
{
    throw error(client_errc::invalid_argument, "binary_copy_writer: " + what);
}

} // namespace

binary_copy_writer::binary_copy_writer()
{
    buffer_.append(signature, sizeof signature);
    detail::append_be(buffer_, std::int32_t{0}); // flags
    detail::append_be(buffer_, std::int32_t{0}); // header extension length
}

void binary_copy_writer::begin_row(std::size_t fields)
{
    if (fields_left_ != 0)
        throw_misuse("row " + std::to_string(rows_) + " still needs " + std::to_string(fields_left_) +
                     " field(s)");
    if (fields > max_fields)
        throw error(client_errc::invalid_parameter, "binary_copy_writer: " + std::to_string(fields) +
                                                        " fields in a row; a table has at most " +
                                                        std::to_string(max_fields) + " columns");
    detail::append_be(buffer_, static_cast<std::int16_t>(fields));
    fields_left_ = fields;
    ++rows_;
}

void binary_copy_writer::add(std::nullopt_t)
{
    end_field(start_field(), false);
}

std::string binary_copy_writer::finish() &&
{
    if (fields_left_ != 0)
        throw_misuse("the last row still needs " + std::to_string(fields_left_) + " field(s)");
    detail::append_be(buffer_, std::int16_t{-1});
    return std::move(buffer_);
}

std::size_t binary_copy_writer::start_field()
{
    if (fields_left_ == 0)
        throw_misuse(rows_ == 0 ? std::string("add() before begin_row()")
                                : "row " + std::to_string(rows_) + " already has all its fields");
    const std::size_t start = buffer_.size();
    buffer_.append(length_size, '\0'); // patched by end_field()
    return start;
}

void binary_copy_writer::end_field(std::size_t start, bool present)
{
    std::int32_t length = -1;
    if (present) {
        const std::size_t size = buffer_.size() - start - length_size;
        if (size > max_field_size) {
            buffer_.resize(start);
            throw error(client_errc::invalid_parameter, "binary_copy_writer: a field larger than 1 GB");
        }
        length = static_cast<std::int32_t>(size);
    }
    const auto bits = static_cast<std::uint32_t>(length);
    for (std::size_t i = 0; i < length_size; ++i)
        buffer_[start + i] = static_cast<char>((bits >> (8 * (length_size - 1 - i))) & 0xff);
    --fields_left_;
}

} // namespace pgcoro
