#include <pgcoro/types/json.hpp>

#include <boost/json/parse.hpp>
#include <boost/json/serializer.hpp>

#include <cmath>
#include <stdexcept>
#include <vector>

namespace pgcoro {
namespace {

// jsonb_recv accepts only this version of the binary format.
constexpr char jsonb_version = 1;

void check_finite(const boost::json::value& root)
{
    // Iterative, so that a deeply nested value built in C++ cannot exhaust the stack.
    std::vector<const boost::json::value*> pending{&root};
    while (!pending.empty()) {
        const boost::json::value* value = pending.back();
        pending.pop_back();
        switch (value->kind()) {
        case boost::json::kind::double_:
            // Boost.JSON would write "Infinity" / "NaN", which is not JSON.
            if (!std::isfinite(value->get_double()))
                detail::throw_invalid_parameter(
                    "jsonb parameter contains a NaN or infinite number, which JSON cannot "
                    "represent");
            break;
        case boost::json::kind::array:
            for (const boost::json::value& element : value->get_array())
                if (element.is_structured() || element.is_double())
                    pending.push_back(&element);
            break;
        case boost::json::kind::object:
            for (const auto& member : value->get_object())
                if (member.value().is_structured() || member.value().is_double())
                    pending.push_back(&member.value());
            break;
        default:
            break;
        }
    }
}

} // namespace

void type_traits<boost::json::value>::encode(const boost::json::value& value, std::string& out)
{
    check_finite(value);
    out.push_back(jsonb_version);
    // Serialize straight into `out` rather than through a temporary std::string.
    boost::json::serializer serializer;
    serializer.reset(&value);
    char buffer[4096];
    while (!serializer.done())
        out.append(serializer.read(buffer, sizeof buffer));
}

boost::json::value type_traits<boost::json::value>::decode(std::string_view bytes, oid_t type)
{
    std::string_view text = bytes;
    if (type == oids::jsonb) {
        if (text.empty())
            detail::throw_malformed("malformed jsonb value: empty (no version byte)");
        if (text.front() != jsonb_version)
            detail::throw_malformed("malformed jsonb value: unsupported format version " +
                                    std::to_string(static_cast<unsigned char>(text.front())));
        text.remove_prefix(1);
    }
    // Other column types only get here through a direct call; they are read as json text.
    const char* kind = type == oids::jsonb ? "jsonb" : "json";
    boost::json::parse_options options;
    options.max_depth = max_depth;
    boost::system::error_code ec;
    try {
        boost::json::value result =
            boost::json::parse(boost::json::string_view(text.data(), text.size()), ec, {}, options);
        if (!ec)
            return result;
    } catch (const std::length_error&) {
        // A string or container beyond Boost.JSON's size limits.
        detail::throw_malformed(std::string("malformed ") + kind +
                                " value: a string or container is too large for boost::json");
    }
    detail::throw_malformed(std::string("malformed ") + kind + " value: " + ec.message());
}

} // namespace pgcoro
