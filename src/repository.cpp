#include <pgcoro/repository.hpp>

namespace pgcoro::detail {

void throw_key_in_update(const model_description& d, std::size_t column)
{
    throw error(client_errc::invalid_argument, "update of " + d.display_name + ": \"" + std::string(d.names[column]) +
                                                   "\" is part of the primary key and cannot be updated this way");
}

void throw_no_soft_delete(const model_description& d)
{
    throw error(client_errc::invalid_argument,
                d.type_name + " has no deleted_at member (model_traits::deleted_at), so it cannot be soft-deleted");
}

void throw_nothing_matched(const model_description& d, std::string_view operation)
{
    throw error(client_errc::no_rows,
                std::string(operation) + " of " + d.display_name + ": no row has this primary key");
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

} // namespace pgcoro::detail
