#include <pgcoro/error.hpp>
#include <pgcoro/identifier.hpp>

namespace pgcoro {

namespace {
// NAMEDATALEN - 1 in a default build: longer names are truncated by the server (with only a
// NOTICE), so two different long names could end up as the same object.
constexpr std::size_t max_identifier_bytes = 63;
} // namespace

void append_identifier(std::string& out, std::string_view name)
{
    if (name.empty())
        throw error(client_errc::invalid_argument, "an SQL identifier cannot be empty");
    if (name.find('\0') != std::string_view::npos)
        throw error(client_errc::invalid_argument, "an SQL identifier cannot contain a NUL byte");
    if (name.size() > max_identifier_bytes)
        throw error(client_errc::invalid_argument, "an SQL identifier is limited to 63 bytes (this one has " +
                                                       std::to_string(name.size()) +
                                                       "); PostgreSQL would truncate it");
    out.reserve(out.size() + name.size() + 2);
    out += '"';
    for (char c : name) {
        if (c == '"')
            out += '"';
        out += c;
    }
    out += '"';
}

std::string quote_identifier(std::string_view name)
{
    std::string out;
    append_identifier(out, name);
    return out;
}

} // namespace pgcoro
