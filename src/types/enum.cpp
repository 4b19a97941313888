#include <pgcoro/types/enum.hpp>

namespace pgcoro::detail {

void throw_unknown_enum_label(std::string_view label, std::string_view enum_name)
{
    // Labels are at most 63 bytes; anything longer is garbage not worth echoing in full.
    constexpr std::size_t shown = 64;
    std::string message = "malformed enum value: '";
    message.append(label.substr(0, shown));
    if (label.size() > shown)
        message.append("...");
    message.append("' is not an enumerator of ");
    message.append(enum_name);
    throw error(client_errc::malformed_value, std::move(message));
}

void throw_undescribed_enum_value(std::string_view value, std::string_view enum_name)
{
    throw error(client_errc::invalid_parameter,
                "enum parameter " + std::string(enum_name) + "(" + std::string(value) +
                    ") is not a described enumerator (see BOOST_DESCRIBE_ENUM)");
}

void append_quoted_array_element(std::string& out, std::string_view label)
{
    // Double quotes protect commas, braces, blanks and the word NULL; backslash escapes
    // the two characters that are special inside them.
    out.push_back('"');
    for (char c : label) {
        if (c == '"' || c == '\\')
            out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('"');
}

} // namespace pgcoro::detail
