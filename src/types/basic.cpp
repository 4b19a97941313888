#include <pgcoro/types/basic.hpp>

namespace pgcoro::detail {

void throw_wrong_size(oid_t type, std::size_t expected, std::size_t actual)
{
    throw error(client_errc::malformed_value, "malformed " + type_name(type) + " value: expected " +
                                                  std::to_string(expected) + " bytes, got " +
                                                  std::to_string(actual));
}

void throw_type_mismatch(std::string_view cpp_type, oid_t type)
{
    throw error(client_errc::type_mismatch,
                "a " + type_name(type) + " value cannot be decoded into " + std::string(cpp_type));
}

void encode_text(std::string_view text, std::string& out)
{
    if (text.find('\0') != std::string_view::npos)
        throw_invalid_parameter("text parameter contains a NUL byte, which PostgreSQL text "
                                "cannot store (send binary data as bytea)");
    out.append(text);
}

} // namespace pgcoro::detail
