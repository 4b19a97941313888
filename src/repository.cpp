#include <pgcoro/repository.hpp>

#include <cstring>

namespace pgcoro::detail {

void throw_key_in_update(const model_description& d, std::size_t column)
{
    throw error(client_errc::invalid_argument,
                "update of " + d.display_name + ": \"" + std::string(d.names[column]) +
                    "\" is part of the primary key and cannot be updated this way");
}

void throw_no_soft_delete(const model_description& d)
{
    throw error(client_errc::invalid_argument,
                d.type_name +
                    " has no deleted_at member (model_traits::deleted_at), so it cannot be soft-deleted");
}

void throw_nothing_matched(const model_description& d, std::string_view operation)
{
    throw error(client_errc::no_rows,
                std::string(operation) + " of " + d.display_name + ": no row has this primary key");
}

void throw_copy_incapable(const model_description& d)
{
    throw error(
        client_errc::invalid_argument,
        "insert_many with insert_method::copy: " + d.type_name +
            " has a member without a binary COPY form (a text-format type such as an enum array, or a "
            "created_at/updated_at that is not a std::chrono::sys_time); use insert_method::pipeline");
}

void throw_not_in_model(std::string_view member, const model_description& model, std::string_view row_type)
{
    throw error(client_errc::invalid_argument, std::string(row_type) + "::" + std::string(member) +
                                                   " is not a column of " + model.type_name);
}

void check_limit(std::int64_t value, std::string_view what)
{
    if (value < 0)
        throw error(client_errc::invalid_argument, std::string(what) + " must not be negative");
}

std::string insert_columns(const model_description& d)
{
    std::string columns;
    for (std::size_t i = 0; i < d.names.size(); ++i) {
        if (d.generated[i])
            continue;
        if (!columns.empty())
            columns += ", ";
        columns += d.quoted[i];
    }
    return columns;
}

std::string copy_statement(const model_description& d)
{
    return "COPY " + d.table + " (" + insert_columns(d) + ") FROM STDIN (FORMAT binary)";
}

bool updated_by_default(const model_description& d, std::size_t column)
{
    return !d.in_key[column] && column != d.created_at && column != d.updated_at && column != d.deleted_at;
}

std::string copy_catalog_query()
{
    // A domain's binary form is its base type's, so compare against the base type.
    return "SELECT a.attname::text, (CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid "
           "END)::int8, "
           "now() FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
           "WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped";
}

namespace {

bool text_like(oid_t type)
{
    return type == oids::text || type == oids::varchar || type == oids::bpchar || type == oids::name;
}

} // namespace

void prepare_copy(const model_description& d, const std::vector<oid_t>& member_types,
                  const std::vector<bool (*)(oid_t)>& accepts, const result& catalog, copy_plan& plan)
{
    if (catalog.empty())
        throw error(client_errc::protocol_violation, "insert_many: no columns found for " + d.display_name);
    for (std::size_t i = 0; i < d.names.size(); ++i) {
        if (d.generated[i])
            continue;
        std::optional<oid_t> column_type;
        for (std::size_t row = 0; row < catalog.size(); ++row)
            if (catalog.get<std::string>(row, 0) == d.names[i])
                column_type = static_cast<oid_t>(catalog.get<std::int64_t>(row, 1));
        if (!column_type)
            throw error(client_errc::column_not_found, "insert_many: " + d.display_name +
                                                           " has no column \"" + std::string(d.names[i]) +
                                                           "\"");
        const oid_t sent = member_types[i];
        // A COPY field carries no type: the column's receive function reads the member's
        // binary encoding, which must therefore be that type's (text-like types share one).
        const bool compatible = sent != oids::unspecified
                                    ? sent == *column_type || (text_like(sent) && text_like(*column_type))
                                    : accepts[i](*column_type);
        if (!compatible)
            throw error(client_errc::type_mismatch,
                        "insert_many via COPY into " + d.display_name + ": column \"" +
                            std::string(d.names[i]) + "\" has type OID " + std::to_string(*column_type) +
                            " but " + d.type_name + "::" + std::string(d.names[i]) + " encodes type OID " +
                            std::to_string(sent) +
                            "; make the member's type match the column, or use insert_method::pipeline");
    }
    if (plan.timestamp_slots.empty())
        return;
    const auto now = catalog.get<timestamp>(0, 2);
    std::string encoded;
    encode_field<timestamp>(now, encoded);
    for (std::size_t slot : plan.timestamp_slots)
        std::memcpy(plan.data.data() + slot, encoded.data(), encoded.size());
}

} // namespace pgcoro::detail
