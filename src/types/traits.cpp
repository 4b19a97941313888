#include <pgcoro/types/traits.hpp>

#include <array>

namespace pgcoro {
namespace {

// xml[] and timetz are not in pgcoro::oids (no codec maps them) but still deserve a
// readable name in error messages, and xml[] must decode into std::vector<std::string>.
constexpr oid_t xml_array_oid = 143;
constexpr oid_t timetz_oid = 1266;
constexpr oid_t timetz_array_oid = 1270;

struct builtin_type {
    oid_t type;
    oid_t array;
    const char* name;
};

// pg_type.dat: typname, oid and typarray of the built-in types pgcoro knows about.
constexpr std::array builtin_types{
    builtin_type{oids::bool_, oids::bool_array, "bool"},
    builtin_type{oids::bytea, oids::bytea_array, "bytea"},
    builtin_type{oids::char_, oids::char_array, "\"char\""},
    builtin_type{oids::name, oids::name_array, "name"},
    builtin_type{oids::int8, oids::int8_array, "int8"},
    builtin_type{oids::int2, oids::int2_array, "int2"},
    builtin_type{oids::int4, oids::int4_array, "int4"},
    builtin_type{oids::text, oids::text_array, "text"},
    builtin_type{oids::oid, oids::oid_array, "oid"},
    builtin_type{oids::json, oids::json_array, "json"},
    builtin_type{oids::xml, xml_array_oid, "xml"},
    builtin_type{oids::float4, oids::float4_array, "float4"},
    builtin_type{oids::float8, oids::float8_array, "float8"},
    builtin_type{oids::unknown, 0, "unknown"},
    builtin_type{oids::bpchar, oids::bpchar_array, "bpchar"},
    builtin_type{oids::varchar, oids::varchar_array, "varchar"},
    builtin_type{oids::date, oids::date_array, "date"},
    builtin_type{oids::time, oids::time_array, "time"},
    builtin_type{oids::timestamp, oids::timestamp_array, "timestamp"},
    builtin_type{oids::timestamptz, oids::timestamptz_array, "timestamptz"},
    builtin_type{oids::interval, oids::interval_array, "interval"},
    builtin_type{timetz_oid, timetz_array_oid, "timetz"},
    builtin_type{oids::numeric, oids::numeric_array, "numeric"},
    builtin_type{oids::uuid, oids::uuid_array, "uuid"},
    builtin_type{oids::jsonb, oids::jsonb_array, "jsonb"},
};

} // namespace

oid_t array_element_oid(oid_t array_type) noexcept
{
    if (array_type == 0)
        return 0;
    for (const builtin_type& t : builtin_types)
        if (t.array == array_type)
            return t.type;
    return 0;
}

std::string type_name(oid_t type)
{
    for (const builtin_type& t : builtin_types) {
        if (t.type == type)
            return t.name;
        if (t.array != 0 && t.array == type)
            return std::string(t.name) + "[]";
    }
    return "oid " + std::to_string(type);
}

namespace detail {

void throw_malformed(std::string_view what)
{
    throw error(client_errc::malformed_value, std::string(what));
}

void throw_invalid_parameter(std::string_view what)
{
    throw error(client_errc::invalid_parameter, std::string(what));
}

void throw_unexpected_null()
{
    throw error(client_errc::unexpected_null, "NULL value for a non-optional C++ type");
}

} // namespace detail
} // namespace pgcoro
