// The non-template half of the array codec: header and length handling, shared by every
// std::vector<T> instantiation. Layout and limits follow array_send / array_recv in
// PostgreSQL's src/backend/utils/adt/arrayfuncs.c.

#include <pgcoro/types/array.hpp>

#include <boost/endian/conversion.hpp>

#include <limits>

namespace pgcoro::detail {
namespace {

constexpr std::int32_t flag_has_nulls = 1;
constexpr std::size_t flags_offset = 4; // after ndim

[[noreturn]] void throw_malformed_array(oid_t array_type, std::string_view what)
{
    throw error(client_errc::malformed_value,
                "malformed " + type_name(array_type) + " value: " + std::string(what));
}

void write_be_at(std::string& out, std::size_t at, std::int32_t value) noexcept
{
    boost::endian::store_big_s32(reinterpret_cast<unsigned char*>(out.data() + at), value);
}

} // namespace

array_header read_array_header(byte_reader& reader, oid_t array_type)
{
    if (reader.remaining() < 12)
        throw_malformed_array(array_type, "shorter than the 12-byte array header");
    const auto dimensions = reader.read<std::int32_t>();
    const auto flags = reader.read<std::int32_t>();
    const auto element_type = reader.read<oid_t>();
    if (dimensions < 0)
        throw_malformed_array(array_type, "negative number of dimensions");
    if (dimensions > 1)
        throw_malformed_array(array_type, "multi-dimensional arrays are not supported (" +
                                              std::to_string(dimensions) + " dimensions)");
    if (flags != 0 && flags != flag_has_nulls)
        throw_malformed_array(array_type, "invalid array flags");
    if (dimensions == 0)
        return {0, element_type};

    if (reader.remaining() < 8)
        throw_malformed_array(array_type, "truncated dimension");
    const auto length = reader.read<std::int32_t>();
    reader.read<std::int32_t>(); // lower bound: any is fine, it is not kept
    if (length < 0)
        throw_malformed_array(array_type, "negative array length");
    // Every element takes at least its 4-byte length word: a count the buffer cannot
    // hold is rejected before the caller reserves memory for it.
    if (static_cast<std::size_t>(length) > reader.remaining() / 4)
        throw_malformed_array(array_type, "array length exceeds the value's size");
    return {static_cast<std::size_t>(length), element_type};
}

std::optional<std::string_view> read_array_element(byte_reader& reader, oid_t array_type)
{
    if (reader.remaining() < 4)
        throw_malformed_array(array_type, "truncated element length");
    const auto length = reader.read<std::int32_t>();
    if (length == -1)
        return std::nullopt;
    if (length < 0)
        throw_malformed_array(array_type, "negative element length");
    if (static_cast<std::size_t>(length) > reader.remaining())
        throw_malformed_array(array_type, "element extends past the end of the value");
    return reader.read_bytes(static_cast<std::size_t>(length));
}

void expect_array_end(const byte_reader& reader, oid_t array_type)
{
    if (!reader.done())
        throw_malformed_array(array_type, "trailing bytes after the last element");
}

void throw_array_element_mismatch(oid_t array_type, oid_t element_type)
{
    throw_malformed_array(array_type, "the header's element type " + type_name(element_type) +
                                          " cannot be decoded into the C++ element type");
}

void append_array_header(std::string& out, std::size_t element_count, oid_t element_type)
{
    if (element_count > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
        throw_invalid_parameter("array parameter has more than INT32_MAX elements");
    const std::int32_t dimensions = element_count == 0 ? 0 : 1;
    append_be(out, dimensions);
    append_be(out, std::int32_t{0}); // flags, see mark_array_has_nulls
    append_be(out, element_type);
    if (dimensions == 1) {
        append_be(out, static_cast<std::int32_t>(element_count));
        append_be(out, std::int32_t{1}); // lower bound
    }
}

void mark_array_has_nulls(std::string& out, std::size_t header_at) noexcept
{
    write_be_at(out, header_at + flags_offset, flag_has_nulls);
}

void patch_element_length(std::string& out, std::size_t length_at)
{
    const std::size_t length = out.size() - length_at - 4;
    if (length > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
        throw_invalid_parameter("array parameter has an element larger than INT32_MAX bytes");
    write_be_at(out, length_at, static_cast<std::int32_t>(length));
}

} // namespace pgcoro::detail
