#pragma once
// The select builder: `pgcoro::select<User>().where(col(&User::email) == e).order_by(
// desc(&User::id)).limit(10)`, run with `session.all(query)`, `one`, `first`, `count`,
// `exists`. Rendering never splices a value into the SQL text.

#include <pgcoro/detail/load_step.hpp>
#include <pgcoro/expression.hpp>
#include <pgcoro/model.hpp>
#include <pgcoro/row_lock.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <tuple>
#include <typeinfo>
#include <utility>
#include <vector>

namespace pgcoro {

namespace detail {
[[noreturn]] void throw_not_in_model(std::string_view member, const model_description& model,
                                     std::string_view row_type);
void check_limit(std::int64_t value, std::string_view what);
[[noreturn]] void throw_loaders_need_model_rows();
} // namespace detail

/// A SELECT on model T's table whose rows decode into Row (T itself, or a struct with a
/// subset of T's columns, see into()). A value type: each call modifies this query and
/// returns it, so calls chain on temporaries and on named queries alike.
///
/// Soft delete: for a model with deleted_at, rows whose deleted_at is set are excluded
/// unless include_deleted() is called.
template <class T, class Row> class select_query {
    static_assert(model<T>, "select<T>() needs a model (see pgcoro::model_traits)");

public:
    /// Adds a condition (ANDed with the earlier ones).
    select_query& where(predicate condition) &
    {
        where_ = std::move(where_) && std::move(condition);
        return *this;
    }
    select_query&& where(predicate condition) && { return std::move(where(std::move(condition))); }

    /// Appends ORDER BY terms: order terms (`desc(&User::id)`, `col(...).asc()`) or member
    /// pointers (ascending).
    template <class... Terms> select_query& order_by(const Terms&... terms) &
    {
        (order_.push_back(to_term(terms)), ...);
        return *this;
    }
    template <class... Terms> select_query&& order_by(const Terms&... terms) &&
    {
        return std::move(order_by(terms...));
    }

    /// Removes every ORDER BY term.
    select_query& clear_order() &
    {
        order_.clear();
        return *this;
    }
    select_query&& clear_order() && { return std::move(clear_order()); }

    /// LIMIT (bound as a parameter). Throws client_errc::invalid_argument if negative.
    select_query& limit(std::int64_t rows) &
    {
        detail::check_limit(rows, "limit");
        limit_ = rows;
        return *this;
    }
    select_query&& limit(std::int64_t rows) && { return std::move(limit(rows)); }

    /// OFFSET (bound as a parameter). Throws client_errc::invalid_argument if negative.
    select_query& offset(std::int64_t rows) &
    {
        detail::check_limit(rows, "offset");
        offset_ = rows;
        return *this;
    }
    select_query&& offset(std::int64_t rows) && { return std::move(offset(rows)); }

    /// A row-level lock clause: `lock(pgcoro::for_update().skip_locked())`. Ignored by
    /// count() and exists().
    select_query& lock(row_lock clause) &
    {
        lock_ = std::move(clause);
        return *this;
    }
    select_query&& lock(row_lock clause) && { return std::move(lock(std::move(clause))); }
    select_query& for_update() & { return lock(pgcoro::for_update()); }
    select_query&& for_update() && { return std::move(lock(pgcoro::for_update())); }
    select_query& for_share() & { return lock(pgcoro::for_share()); }
    select_query&& for_share() && { return std::move(lock(pgcoro::for_share())); }

    /// Also returns soft-deleted rows.
    select_query& include_deleted(bool include = true) &
    {
        include_deleted_ = include;
        return *this;
    }
    select_query&& include_deleted(bool include = true) && { return std::move(include_deleted(include)); }

    /// Eager loading: after the rows are fetched, fills these relations (selectin(...),
    /// joined(...), see pgcoro/loading.hpp). Needs Row = T.
    template <class... Loaders> select_query& load(const Loaders&... loaders) &
    {
        static_assert(std::is_same_v<Row, T>, "eager loading needs rows of the model itself");
        (loaders_.push_back(loader<T>(loaders)), ...);
        return *this;
    }
    template <class... Loaders> select_query&& load(const Loaders&... loaders) &&
    {
        return std::move(load(loaders...));
    }

    /// The same query selecting only R's members (each must be a column of T, by name) and
    /// decoding into R. Throws client_errc::invalid_argument when rendered if one is not.
    template <class R> select_query<T, R> into() const
    {
        static_assert(described_row<R>, "into<R>() needs a described struct");
        if (!loaders_.empty())
            detail::throw_loaders_need_model_rows();
        select_query<T, R> other;
        other.where_ = where_;
        other.order_ = order_;
        other.limit_ = limit_;
        other.offset_ = offset_;
        other.lock_ = lock_;
        other.include_deleted_ = include_deleted_;
        return other;
    }

    /// `SELECT <Row's columns> FROM <table> WHERE ... ORDER BY ... LIMIT $n OFFSET $m <lock>`.
    sql_statement render() const
    {
        const detail::model_description& d = detail::describe_model<T>();
        detail::sql_builder b("SELECT ");
        b.append(select_list(d)).append(" FROM ").append(d.table);
        append_tail(b, d, true);
        return std::move(b).render();
    }

    /// `SELECT count(*)` of the rows this query selects (honouring limit and offset).
    sql_statement render_count() const
    {
        const detail::model_description& d = detail::describe_model<T>();
        detail::sql_builder b;
        if (limit_ || offset_) {
            b.append("SELECT count(*) FROM (SELECT 1 FROM ").append(d.table);
            append_tail(b, d, false);
            b.append(") AS pgcoro_counted");
        } else {
            b.append("SELECT count(*) FROM ").append(d.table);
            append_filter(b, d);
        }
        return std::move(b).render();
    }

    /// `SELECT EXISTS (SELECT 1 FROM ...)`.
    sql_statement render_exists() const
    {
        const detail::model_description& d = detail::describe_model<T>();
        detail::sql_builder b("SELECT EXISTS (SELECT 1 FROM ");
        b.append(d.table);
        append_tail(b, d, false);
        b.append(")");
        return std::move(b).render();
    }

    /// The combined condition, soft delete excluded.
    const predicate& condition() const noexcept { return where_; }
    const std::vector<order_term>& ordering() const noexcept { return order_; }
    std::optional<std::int64_t> limit_value() const noexcept { return limit_; }
    std::optional<std::int64_t> offset_value() const noexcept { return offset_; }
    bool includes_deleted() const noexcept { return include_deleted_; }
    const std::optional<row_lock>& locking() const noexcept { return lock_; }
    /// The eager loaders, in the order given.
    const std::vector<loader<T>>& loaders() const noexcept { return loaders_; }
    /// The condition the query applies: condition() plus the soft-delete filter.
    predicate filter() const
    {
        const detail::model_description& d = detail::describe_model<T>();
        predicate condition = where_;
        if (d.soft_delete() && !include_deleted_)
            condition = std::move(condition) && predicate(detail::sql_builder(d.not_deleted()));
        return condition;
    }

private:
    template <class, class> friend class select_query;

    static order_term to_term(const order_term& term) { return term; }
    template <class C, class M> static order_term to_term(M C::*member) { return col(member).asc(); }

    static std::string select_list(const detail::model_description& d)
    {
        if constexpr (std::is_same_v<Row, T>) {
            return d.select_list;
        } else {
            std::string list;
            detail::for_each_column<Row>([&](auto member) {
                std::size_t found = detail::no_column;
                for (std::size_t i = 0; i < d.names.size(); ++i)
                    if (d.names[i] == member.name)
                        found = i;
                if (found == detail::no_column)
                    detail::throw_not_in_model(member.name, d, detail::cpp_type_name(typeid(Row)));
                if (!list.empty())
                    list += ", ";
                list += d.qualified[found];
            });
            return list;
        }
    }

    void append_filter(detail::sql_builder& b, const detail::model_description&) const
    {
        predicate condition = filter();
        if (!condition.empty())
            b.append(" WHERE ").append(condition.sql());
    }

    void append_tail(detail::sql_builder& b, const detail::model_description& d, bool with_lock) const
    {
        append_filter(b, d);
        if (!order_.empty()) {
            b.append(" ORDER BY ");
            for (std::size_t i = 0; i < order_.size(); ++i) {
                if (i > 0)
                    b.append(", ");
                b.append(order_[i].sql());
            }
        }
        if (limit_)
            b.append(" LIMIT ").bind(*limit_);
        if (offset_)
            b.append(" OFFSET ").bind(*offset_);
        if (with_lock && lock_)
            b.append(" ").append(lock_->sql());
    }

    predicate where_;
    std::vector<order_term> order_;
    std::optional<std::int64_t> limit_;
    std::optional<std::int64_t> offset_;
    std::optional<row_lock> lock_;
    bool include_deleted_ = false;
    std::vector<loader<T>> loaders_;
};

namespace detail {

/// Whether `terms` already has a sort key on column `name` of model `model`.
inline bool has_key_term(const std::vector<order_term>& terms, const std::type_info& model,
                         std::string_view name)
{
    return std::any_of(terms.begin(), terms.end(), [&](const order_term& t) {
        return t.key() && t.key()->model() == model && t.key()->name() == name;
    });
}

/// The query's ordering with T's primary key columns appended (ascending) where missing.
template <class T, class R> std::vector<order_term> unique_ordering(const select_query<T, R>& query)
{
    std::vector<order_term> terms = query.ordering();
    std::apply(
        [&](auto... key) {
            (
                [&] {
                    auto column = col(key);
                    if (!has_key_term(terms, typeid(T), column.name()))
                        terms.push_back(column.asc());
                }(),
                ...);
        },
        as_member_tuple(model_traits<T>::primary_key));
    return terms;
}

} // namespace detail

/// A SELECT of every column of model T: `co_await s.all(pgcoro::select<User>().where(...))`.
template <class T> select_query<T, T> select()
{
    return {};
}

} // namespace pgcoro
