#include <pgcoro/types/chrono.hpp>

namespace pgcoro::detail {

void throw_datetime_not_representable(oid_t type)
{
    const char* range =
        type == oids::date ? "4714-11-24 BC to 5874897-12-31" : "4714-11-24 BC to 294276-12-31";
    throw error(client_errc::invalid_parameter, "parameter is outside the range of PostgreSQL " +
                                                    type_name(type) + " (" + range +
                                                    "; use max() / min() for infinity / -infinity)");
}

void throw_datetime_out_of_range(oid_t type)
{
    throw error(client_errc::malformed_value,
                "malformed " + type_name(type) + " value: outside PostgreSQL's range");
}

void throw_datetime_does_not_fit(oid_t type, std::string_view cpp_type)
{
    throw error(client_errc::malformed_value,
                type_name(type) + " value is outside the range of " + std::string(cpp_type));
}

} // namespace pgcoro::detail
