#pragma once
// The SQL behind the repository calls of sessions and connections (get, insert, update,
// upsert, remove, soft_remove, restore, insert_many). Each statement is rendered from the
// model's description; every value is a bound parameter and every identifier is quoted.
// Repositories never commit: the statements run in whatever scope the caller runs them.

#include <pgcoro/batch.hpp>
#include <pgcoro/copy.hpp>
#include <pgcoro/expression.hpp>
#include <pgcoro/model.hpp>
#include <pgcoro/select.hpp>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>

namespace pgcoro {
namespace detail {

template <class P> struct member_pointer_value;
template <class C, class M> struct member_pointer_value<M C::*> {
    using type = M;
};

[[noreturn]] void throw_key_in_update(const model_description& d, std::size_t column);
[[noreturn]] void throw_no_soft_delete(const model_description& d);
[[noreturn]] void throw_nothing_matched(const model_description& d, std::string_view operation);
[[noreturn]] void throw_copy_incapable(const model_description& d);

/// The column list of an INSERT: every column but the generated ones.
std::string insert_columns(const model_description& d);
/// `COPY <table> (<insert columns>) FROM STDIN (FORMAT binary)`
std::string copy_statement(const model_description& d);
/// Columns update() sets when none are named: every column except the key, created_at,
/// updated_at (set to now() separately) and deleted_at (soft_remove/restore own it).
bool updated_by_default(const model_description& d, std::size_t column);

template <class B> struct is_sys_time : std::false_type {};
template <class Duration>
struct is_sys_time<std::chrono::time_point<std::chrono::system_clock, Duration>> : std::true_type {};

/// Checks that every copied column's type takes the member's binary encoding (COPY carries
/// no type OIDs, so a mismatch would be misread or refused), then writes now() into the
/// timestamp slots. Throws client_errc::type_mismatch naming the column.
void prepare_copy(const model_description& d, const std::vector<oid_t>& member_types,
                  const std::vector<bool (*)(oid_t)>& accepts, const result& catalog, copy_plan& plan);

template <class T> struct model_statements {
    static_assert(model<T>, "repository calls need a model (see pgcoro::model_traits)");

    using key_members = decltype(as_member_tuple(model_traits<T>::primary_key));
    static constexpr std::size_t key_size = std::tuple_size_v<key_members>;

    static const model_description& description() { return describe_model<T>(); }

    /// `"t"."k1" = $i AND "t"."k2" = $j` from a key value (a std::tuple for a composite key).
    template <class Key> static void bind_key(sql_builder& b, const Key& key)
    {
        const model_description& d = description();
        if constexpr (!is_tuple<Key>::value) {
            static_assert(key_size == 1,
                          "the model has a composite primary key: pass a std::tuple of its values");
            using M = typename member_pointer_value<std::tuple_element_t<0, key_members>>::type;
            b.append(d.qualified[d.key[0]]).append(" = ");
            bind_as<M>(b, key);
        } else {
            static_assert(std::tuple_size_v<Key> == key_size,
                          "the key tuple must have one value per primary key column");
            [&]<std::size_t... I>(std::index_sequence<I...>)
            {
                (([&] {
                     using M = typename member_pointer_value<std::tuple_element_t<I, key_members>>::type;
                     if (I > 0)
                         b.append(" AND ");
                     b.append(d.qualified[d.key[I]]).append(" = ");
                     bind_as<M>(b, std::get<I>(key));
                 }()),
                 ...);
            }
            (std::make_index_sequence<key_size>{});
        }
    }

    /// The key condition with the values of `object`'s key members.
    static void bind_object_key(sql_builder& b, const T& object)
    {
        const model_description& d = description();
        for (std::size_t k = 0; k < d.key.size(); ++k) {
            if (k > 0)
                b.append(" AND ");
            b.append(d.qualified[d.key[k]]).append(" = ");
            for_each_column_value(object, [&](std::size_t i, const auto& value) {
                if (i == d.key[k])
                    b.bind(value);
            });
        }
    }

    template <class Key> static sql_statement get(const Key& key, deleted_rows deleted)
    {
        const model_description& d = description();
        sql_builder b("SELECT ");
        b.append(d.select_list).append(" FROM ").append(d.table).append(" WHERE ");
        bind_key(b, key);
        if (d.soft_delete() && deleted == deleted_rows::exclude)
            b.append(" AND ").append(d.not_deleted());
        return std::move(b).render();
    }

    /// The rows matching `condition`, ordered by primary key; at most `limit` if given.
    static sql_statement list(const predicate& condition, deleted_rows deleted,
                              std::optional<std::int64_t> limit)
    {
        select_query<T, T> query = select<T>();
        query.where(condition).include_deleted(deleted == deleted_rows::include);
        const model_description& d = description();
        for (std::size_t k : d.key)
            query.order_by(order_term(sql_builder(d.qualified[k])));
        if (limit)
            query.limit(*limit);
        return query.render();
    }

    /// `INSERT INTO t (columns) VALUES (...)`, created_at/updated_at set to now().
    static sql_builder insert_builder(const T& object)
    {
        const model_description& d = description();
        sql_builder b("INSERT INTO ");
        b.append(d.table);
        std::string columns = insert_columns(d);
        if (columns.empty())
            return std::move(b.append(" DEFAULT VALUES"));
        b.append(" (").append(columns).append(") VALUES (");
        bool first = true;
        for_each_column_value(object, [&](std::size_t i, const auto& value) {
            if (d.generated[i])
                return;
            if (!first)
                b.append(", ");
            first = false;
            if (i == d.created_at || i == d.updated_at)
                b.append("now()");
            else
                b.bind(value);
        });
        b.append(")");
        return b;
    }

    static sql_statement insert(const T& object)
    {
        sql_builder b = insert_builder(object);
        b.append(" RETURNING ").append(description().returning_list);
        return std::move(b).render();
    }

    /// The parameters of insert_builder(object) under the SQL text `sql` (for pipelines:
    /// every row shares the text, so it is prepared once).
    static statement insert_row(const std::string& sql, const T& object)
    {
        const model_description& d = description();
        statement s;
        s.sql = sql;
        for_each_column_value(object, [&](std::size_t i, const auto& value) {
            if (!d.generated[i] && i != d.created_at && i != d.updated_at)
                s.add(value);
        });
        return s;
    }

    /// One INSERT per row, in one atomic pipeline.
    static batch insert_batch(std::span<const T> rows, bool returning)
    {
        batch b(batch_mode::atomic);
        if (rows.empty())
            return b;
        sql_builder first = insert_builder(rows.front());
        if (returning)
            first.append(" RETURNING ").append(description().returning_list);
        const std::string sql = first.render().sql();
        b.statements().reserve(rows.size());
        for (const T& row : rows)
            b.statements().push_back(insert_row(sql, row));
        return b;
    }

    /// Whether insert_many may use a binary COPY for T: every column has a binary encoding,
    /// and created_at/updated_at (written as the server's now()) are system_clock
    /// time_points.
    static constexpr bool copy_capable = [] {
        bool capable = true;
        for_each_column<T>([&](auto member) {
            using M = member_type_t<T, decltype(member)>;
            if constexpr (field_format<M>() != 1)
                capable = false;
        });
        using traits = model_traits<T>;
        if constexpr (requires { traits::created_at; })
            capable =
                capable && is_sys_time<field_value_t<
                               std::remove_cvref_t<decltype(std::declval<T&>().*traits::created_at)>>>::value;
        if constexpr (requires { traits::updated_at; })
            capable =
                capable && is_sys_time<field_value_t<
                               std::remove_cvref_t<decltype(std::declval<T&>().*traits::updated_at)>>>::value;
        return capable;
    }();

    /// The COPY statement and its data for `rows` (timestamps still placeholders).
    static copy_plan copy_rows(std::span<const T> rows)
    {
        const model_description& d = description();
        std::size_t fields = 0;
        for (std::size_t i = 0; i < d.names.size(); ++i)
            fields += d.generated[i] ? 0 : 1;
        copy_plan plan;
        plan.sql = copy_statement(d);
        binary_copy_writer writer;
        for (const T& row : rows) {
            writer.begin_row(fields);
            for_each_column_value(row, [&](std::size_t i, const auto& value) {
                if (d.generated[i])
                    return;
                using M = std::remove_cvref_t<decltype(value)>;
                if constexpr (copy_capable && field_format<M>() == 1) {
                    if (i == d.created_at || i == d.updated_at) {
                        plan.timestamp_slots.push_back(writer.size() + 4); // after the length
                        writer.add(pgcoro::timestamp{});
                    } else {
                        writer.add(value);
                    }
                }
            });
        }
        plan.data = std::move(writer).finish();
        return plan;
    }

    /// The catalog check before a COPY (see prepare_copy).
    static void prepare(const result& catalog, copy_plan& plan)
    {
        static const std::vector<oid_t> types = [] {
            std::vector<oid_t> oids;
            for_each_column<T>(
                [&](auto member) { oids.push_back(field_oid<member_type_t<T, decltype(member)>>()); });
            return oids;
        }();
        static const std::vector<bool (*)(oid_t)> accepts = [] {
            std::vector<bool (*)(oid_t)> functions;
            for_each_column<T>([&](auto member) {
                functions.push_back(
                    +[](oid_t type) { return field_accepts<member_type_t<T, decltype(member)>>(type); });
            });
            return functions;
        }();
        prepare_copy(description(), types, accepts, catalog, plan);
    }

    /// `UPDATE t SET ... , updated_at = now() WHERE <key> RETURNING ...`: the named columns,
    /// or (null) every column updated_by_default.
    static sql_statement update(const T& object, const column_list<T>* only)
    {
        const model_description& d = description();
        if (only)
            for (std::size_t i : only->indexes())
                if (d.in_key[i])
                    throw_key_in_update(d, i);
        sql_builder b("UPDATE ");
        b.append(d.table).append(" SET ");
        bool first = true;
        for_each_column_value(object, [&](std::size_t i, const auto& value) {
            bool wanted = only ? only->contains(i) && i != d.updated_at : updated_by_default(d, i);
            if (!wanted)
                return;
            if (!first)
                b.append(", ");
            first = false;
            b.append(d.quoted[i]).append(" = ").bind(value);
        });
        if (d.updated_at != no_column) {
            if (!first)
                b.append(", ");
            first = false;
            b.append(d.quoted[d.updated_at]).append(" = now()");
        }
        if (first) // nothing to set: a no-op assignment keeps the statement valid
            b.append(d.quoted[d.key[0]]).append(" = ").append(d.quoted[d.key[0]]);
        b.append(" WHERE ");
        bind_object_key(b, object);
        b.append(" RETURNING ").append(d.returning_list);
        return std::move(b).render();
    }

    /// INSERT ... ON CONFLICT (conflict) DO UPDATE SET c = EXCLUDED.c ... RETURNING ...,
    /// (xmax = 0) AS pgcoro_inserted. conflict empty: the primary key. update null: every
    /// inserted column but the conflict and key columns, created_at and deleted_at.
    static sql_statement upsert(const T& object, const column_list<T>& conflict, const column_list<T>* update)
    {
        const model_description& d = description();
        sql_builder b = insert_builder(object);
        b.append(" ON CONFLICT (");
        const std::vector<std::size_t>& targets = conflict.empty() ? d.key : conflict.indexes();
        for (std::size_t i = 0; i < targets.size(); ++i) {
            if (i > 0)
                b.append(", ");
            b.append(d.quoted[targets[i]]);
        }
        b.append(") DO UPDATE SET ");
        bool first = true;
        auto assign = [&](std::size_t i) {
            if (!first)
                b.append(", ");
            first = false;
            b.append(d.quoted[i]).append(" = EXCLUDED.").append(d.quoted[i]);
        };
        for (std::size_t i = 0; i < d.names.size(); ++i) {
            if (i == d.updated_at)
                continue;
            bool in_targets = std::find(targets.begin(), targets.end(), i) != targets.end();
            bool wanted = update ? update->contains(i)
                                 : !d.generated[i] && !d.in_key[i] && !in_targets && i != d.created_at &&
                                       i != d.deleted_at;
            if (wanted)
                assign(i);
        }
        if (d.updated_at != no_column) {
            if (!first)
                b.append(", ");
            first = false;
            b.append(d.quoted[d.updated_at]).append(" = now()");
        }
        if (first) // nothing to update: still touch the row so RETURNING yields it
            assign(targets.front());
        b.append(" RETURNING ").append(d.returning_list).append(", (xmax = 0) AS pgcoro_inserted");
        return std::move(b).render();
    }

    static sql_statement remove(const T& object)
    {
        const model_description& d = description();
        sql_builder b("DELETE FROM ");
        b.append(d.table).append(" WHERE ");
        bind_object_key(b, object);
        return std::move(b).render();
    }

    /// soft_remove (deleted = true) or restore (false); throws if the model has no
    /// deleted_at.
    static sql_statement set_deleted(const T& object, bool deleted)
    {
        const model_description& d = description();
        if (!d.soft_delete())
            throw_no_soft_delete(d);
        sql_builder b("UPDATE ");
        b.append(d.table).append(" SET ").append(d.quoted[d.deleted_at]);
        b.append(deleted ? " = now()" : " = NULL");
        if (d.updated_at != no_column)
            b.append(", ").append(d.quoted[d.updated_at]).append(" = now()");
        b.append(" WHERE ");
        bind_object_key(b, object);
        b.append(" AND ").append(d.qualified[d.deleted_at]).append(deleted ? " IS NULL" : " IS NOT NULL");
        return std::move(b).render();
    }
};

} // namespace detail
} // namespace pgcoro
