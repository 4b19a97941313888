#pragma once
// Quoting SQL identifiers (table, column, savepoint names) for the rare SQL text pgcoro or
// its users must build: values never go into SQL text, they are bound as parameters.

#include <string>
#include <string_view>

namespace pgcoro {

/// `name` as a quoted identifier: wrapped in double quotes, embedded quotes doubled, case
/// kept (`Users` stays `"Users"`, unlike the unquoted Users). Throws
/// client_errc::invalid_argument for an empty name, a NUL byte, or more than 63 bytes
/// (PostgreSQL would silently truncate it to a possibly different name).
std::string quote_identifier(std::string_view name);

/// Appends quote_identifier(name) to `out`.
void append_identifier(std::string& out, std::string_view name);

} // namespace pgcoro
