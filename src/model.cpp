#include <pgcoro/identifier.hpp>
#include <pgcoro/loading.hpp>
#include <pgcoro/model.hpp>
#include <pgcoro/relations.hpp>

namespace pgcoro::detail {

void throw_relation_not_loaded()
{
    throw error(client_errc::relation_not_loaded,
                "the relation was not loaded; load it (or set it) before reading it");
}

void throw_not_a_column(std::string_view type)
{
    throw error(client_errc::invalid_argument, "the member is not a column of " + std::string(type) +
                                                   " (not described, or a pgcoro::related)");
}

void finish_description(model_description& d, std::string_view schema, std::string_view table)
{
    if (d.key.empty())
        throw error(client_errc::invalid_argument,
                    d.type_name + ": model_traits::primary_key names no column");
    d.table.clear();
    d.display_name.clear();
    if (!schema.empty()) {
        append_identifier(d.table, schema);
        d.table += '.';
        d.display_name.append(schema).append(".");
    }
    append_identifier(d.table, table);
    d.display_name.append(table);
    for (std::size_t i = 0; i < d.names.size(); ++i) {
        d.quoted.push_back(quote_identifier(d.names[i]));
        d.qualified.push_back(d.table + '.' + d.quoted.back());
        if (i > 0) {
            d.select_list += ", ";
            d.returning_list += ", ";
        }
        d.select_list += d.qualified.back();
        d.returning_list += d.quoted.back();
    }
}

void throw_relation_not_declared(std::string_view parent)
{
    throw error(client_errc::invalid_argument, "no relation is declared for this member in model_traits<" +
                                                   std::string(parent) + ">::relations");
}

void throw_has_one_several(std::string_view parent, std::string_view child)
{
    throw error(client_errc::too_many_rows, "a one-to-one relation of " + std::string(parent) +
                                                " found several " + std::string(child) +
                                                " rows for one parent");
}

void throw_joined_unsupported(std::string_view why)
{
    throw error(client_errc::invalid_argument, "joined() loading does not support " + std::string(why));
}

void throw_joined_in_load()
{
    throw error(
        client_errc::invalid_argument,
        "joined() loaders apply to a query (select_query::load); load rows already fetched with selectin()");
}

void throw_relation_loaded_twice()
{
    throw error(
        client_errc::invalid_argument,
        "two loaders fill the same relation; use one loader and name all its nested loaders in one with()");
}

void throw_loaders_need_model_rows()
{
    throw error(client_errc::invalid_argument,
                "into<R>() cannot keep eager loaders: they fill the model's own rows");
}

} // namespace pgcoro::detail
