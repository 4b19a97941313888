#pragma once
// Typed SQL expressions for the select builder and the repository calls: columns named by
// member pointers (`col(&User::email)`), comparisons, IN, LIKE, NULL tests, AND/OR/NOT and
// JSONB paths. Values always travel as bound parameters; identifiers are always quoted.

#include <pgcoro/identifier.hpp>
#include <pgcoro/model.hpp>
#include <pgcoro/sql_statement.hpp>
#include <pgcoro/types/array.hpp>
#include <pgcoro/types/json.hpp>

#include <boost/json/value.hpp>

#include <concepts>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

namespace pgcoro {

/// A SQL boolean expression: a WHERE condition. Combine with &&, || and !. A
/// default-constructed predicate is empty: no condition (every row); `empty && p` is p.
class predicate {
public:
    predicate() = default;
    explicit predicate(detail::sql_builder sql) : sql_(std::move(sql)) {}

    /// True for "no condition".
    bool empty() const noexcept { return sql_.empty(); }
    const detail::sql_builder& sql() const noexcept { return sql_; }

    /// Both must hold. An empty operand is ignored.
    friend predicate operator&&(predicate a, predicate b);
    /// Either holds. An empty operand (no condition, i.e. true) makes the result empty.
    friend predicate operator||(predicate a, predicate b);
    /// Negation. The negation of an empty predicate matches nothing (FALSE).
    friend predicate operator!(predicate a);

private:
    detail::sql_builder sql_;
};

/// Every predicate holds (empty list: no condition).
predicate all_of(std::vector<predicate> predicates);
/// At least one predicate holds (empty list: FALSE, nothing matches).
predicate any_of(std::vector<predicate> predicates);

namespace detail {

/// A model column used as a sort key, as keyset paging needs it: how to read its value from
/// a row and how to bind a value taken back from a cursor (column<C, M>::asc/desc make one).
class sort_key {
public:
    virtual ~sort_key() = default;
    /// The model the column belongs to.
    virtual const std::type_info& model() const noexcept = 0;
    /// The column's (unquoted) name.
    virtual std::string_view name() const noexcept = 0;
    /// Whether the member may hold NULL (a std::optional).
    virtual bool nullable() const noexcept = 0;
    /// Appends the binary value of the column of `row` (a pointer to the model); false for
    /// NULL (nothing appended).
    virtual bool encode(const void* row, std::string& out) const = 0;
    /// Binds `bytes` (a value encode() produced, read back from a cursor) to `b`, after
    /// decoding it to check it. Throws client_errc::invalid_cursor if it does not decode.
    virtual void bind(sql_builder& b, std::string_view bytes) const = 0;
};

[[noreturn]] void throw_cursor_value(std::string_view column);
/// Whether `text` is well-formed UTF-8 (no overlong forms, surrogates or code points above
/// U+10FFFF).
bool valid_utf8(std::string_view text) noexcept;

} // namespace detail

/// Where NULLs of a sort key go.
enum class null_order {
    unspecified, ///< PostgreSQL's default: last when ascending, first when descending
    first,
    last,
};

/// One ORDER BY term: `col(&User::name).desc().nulls_last()`. A term on a model column
/// (`asc(&User::name)`, `col(&User::name).desc()`) is a sort key keyset paging can use.
class order_term {
public:
    /// An arbitrary term (its direction included in `sql`).
    explicit order_term(detail::sql_builder sql) : expression_(sql), sql_(std::move(sql)) {}
    /// `expression ASC|DESC` on a sort key.
    order_term(detail::sql_builder expression, bool descending, std::shared_ptr<const detail::sort_key> key)
        : expression_(std::move(expression)), descending_(descending), key_(std::move(key))
    {
        render();
    }

    order_term nulls_first() const { return with_nulls(null_order::first); }
    order_term nulls_last() const { return with_nulls(null_order::last); }

    /// The whole term, as rendered in ORDER BY.
    const detail::sql_builder& sql() const noexcept { return sql_; }

    /// The sorted expression (without direction).
    const detail::sql_builder& expression() const noexcept { return expression_; }
    /// The column behind the term when it is one of a model's (nullptr otherwise).
    const detail::sort_key* key() const noexcept { return key_.get(); }
    bool descending() const noexcept { return descending_; }
    null_order nulls() const noexcept { return nulls_; }
    /// Whether NULLs come after every value in this term's order.
    bool nulls_after() const noexcept
    {
        return nulls_ == null_order::last || (nulls_ == null_order::unspecified && !descending_);
    }
    /// The same key sorted the other way (direction and NULL placement flipped). Only for
    /// sort keys.
    order_term reversed() const
    {
        order_term r = *this;
        r.descending_ = !descending_;
        if (nulls_ != null_order::unspecified)
            r.nulls_ = nulls_ == null_order::first ? null_order::last : null_order::first;
        r.render();
        return r;
    }

private:
    order_term with_nulls(null_order nulls) const
    {
        order_term t = *this;
        t.nulls_ = nulls;
        if (key_) {
            t.render();
        } else {
            t.sql_.append(nulls == null_order::first ? " NULLS FIRST" : " NULLS LAST");
        }
        return t;
    }
    void render()
    {
        sql_ = expression_;
        sql_.append(descending_ ? " DESC" : " ASC");
        if (nulls_ != null_order::unspecified)
            sql_.append(nulls_ == null_order::first ? " NULLS FIRST" : " NULLS LAST");
    }

    detail::sql_builder expression_;
    bool descending_ = false;
    null_order nulls_ = null_order::unspecified;
    std::shared_ptr<const detail::sort_key> key_;
    detail::sql_builder sql_;
};

/// A SQL expression whose values decode as V (a field type): a column, a JSONB path's text,
/// ... Compare it with values (==, !=, <, <=, >, >=: the value is converted to V's type and
/// bound as a parameter) or with other expressions.
template <class V> class expression {
public:
    using value_type = V;

    explicit expression(detail::sql_builder sql) : sql_(std::move(sql)) {}
    const detail::sql_builder& sql() const noexcept { return sql_; }

    predicate is_null() const { return suffixed(" IS NULL"); }
    predicate is_not_null() const { return suffixed(" IS NOT NULL"); }

    /// `expr = ANY($n)` with the values bound as one array parameter (so the statement text
    /// does not depend on how many there are). An empty range matches nothing.
    template <class Range> predicate in(const Range& values) const { return any(values, " = ANY(", ")"); }
    /// `expr <> ALL($n)`. An empty range matches every non-NULL value.
    template <class Range> predicate not_in(const Range& values) const
    {
        return any(values, " <> ALL(", ")");
    }

    /// LIKE with a bound pattern (% and _ are wildcards; escape them with a backslash).
    predicate
    like(std::string_view pattern) const requires std::same_as<detail::field_value_t<V>, std::string>
    {
        return pattern_match(" LIKE ", pattern);
    }
    predicate
    not_like(std::string_view pattern) const requires std::same_as<detail::field_value_t<V>, std::string>
    {
        return pattern_match(" NOT LIKE ", pattern);
    }
    /// Case-insensitive LIKE.
    predicate
    ilike(std::string_view pattern) const requires std::same_as<detail::field_value_t<V>, std::string>
    {
        return pattern_match(" ILIKE ", pattern);
    }

    order_term asc() const { return order(" ASC"); }
    order_term desc() const { return order(" DESC"); }

private:
    predicate suffixed(std::string_view suffix) const
    {
        detail::sql_builder b("(");
        b.append(sql_).append(suffix).append(")");
        return predicate(std::move(b));
    }
    predicate pattern_match(std::string_view op, std::string_view pattern) const
    {
        detail::sql_builder b("(");
        b.append(sql_).append(op).bind(pattern).append(")");
        return predicate(std::move(b));
    }
    template <class Range>
    predicate any(const Range& values, std::string_view open, std::string_view close) const
    {
        using B = detail::field_value_t<V>;
        std::vector<B> list;
        for (const auto& v : values)
            list.push_back(static_cast<B>(v));
        detail::sql_builder b("(");
        b.append(sql_).append(open).bind(list).append(close).append(")");
        return predicate(std::move(b));
    }
    order_term order(std::string_view direction) const
    {
        detail::sql_builder b = sql_;
        b.append(direction);
        return order_term(std::move(b));
    }

    detail::sql_builder sql_;
};

template <class E>
concept sql_expression = requires
{
    typename E::value_type;
}
&&std::derived_from<E, expression<typename E::value_type>>;

namespace detail {

/// Binds `value` converted to the non-optional type of V.
template <class V, class A> void bind_as(sql_builder& b, const A& value)
{
    using B = field_value_t<V>;
    if constexpr (std::is_same_v<std::remove_cvref_t<A>, B>)
        b.bind(value);
    else
        b.bind(B(value));
}

template <class V, class A> predicate compare(const sql_builder& lhs, std::string_view op, const A& value)
{
    sql_builder b("(");
    b.append(lhs).append(op);
    bind_as<V>(b, value);
    b.append(")");
    return predicate(std::move(b));
}

predicate compare_expressions(const sql_builder& lhs, std::string_view op, const sql_builder& rhs);

template <class E, class A>
concept comparable_value = sql_expression<E> && !sql_expression<A> &&
                           std::constructible_from<field_value_t<typename E::value_type>, const A&>;

} // namespace detail

// Comparisons of an expression with a value (bound as a parameter) or another expression.
#define PGCORO_COMPARISON(op, sql_op)                                                                        \
    template <sql_expression E, class A>                                                                     \
    requires detail::comparable_value<E, A> predicate operator op(const E& e, const A& value)                \
    {                                                                                                        \
        return detail::compare<typename E::value_type>(e.sql(), sql_op, value);                              \
    }                                                                                                        \
    template <sql_expression E, sql_expression F> predicate operator op(const E& e, const F& f)              \
    {                                                                                                        \
        return detail::compare_expressions(e.sql(), sql_op, f.sql());                                        \
    }
PGCORO_COMPARISON(==, " = ")
PGCORO_COMPARISON(!=, " <> ")
PGCORO_COMPARISON(<, " < ")
PGCORO_COMPARISON(<=, " <= ")
PGCORO_COMPARISON(>, " > ")
PGCORO_COMPARISON(>=, " >= ")
#undef PGCORO_COMPARISON

class json_text;

/// A path into a JSONB column: `col(&Profile::data)["sun"]["sign"]`. Keys are bound as a
/// text[] parameter. Equality and containment are written so that a GIN index on the
/// column (jsonb_ops or jsonb_path_ops) can serve them: `path == v` becomes
/// `(data @> {"sun":{"sign":v}} AND data #> '{sun,sign}' = v)`.
class json_path {
public:
    json_path(detail::sql_builder root, std::vector<std::string> keys)
        : root_(std::move(root)), keys_(std::move(keys))
    {}

    /// One level deeper (an object key).
    json_path operator[](std::string key) const
    {
        json_path deeper = *this;
        deeper.keys_.push_back(std::move(key));
        return deeper;
    }

    /// The value at the path as text (`#>>`): a JSON string without quotes, other values as
    /// JSON text; NULL when the path is missing or holds null. `==` on it is GIN-assisted.
    json_text as_text() const;
    /// The value at the path as jsonb (`#>`); NULL when the path is missing.
    expression<std::optional<boost::json::value>> value() const;

    /// The value at the path contains `v` (jsonb `@>`), written against the column itself
    /// so a GIN index applies.
    predicate contains(const boost::json::value& v) const;
    /// The value at the path is an object with key `key` (or an array holding that string).
    predicate has_key(std::string_view key) const;
    /// The path exists (its value may be JSON null).
    predicate exists() const;

    /// The value at the path equals `v` as JSON (GIN-assisted).
    friend predicate operator==(const json_path& path, const boost::json::value& v);
    /// The path exists and its value differs from `v`.
    friend predicate operator!=(const json_path& path, const boost::json::value& v);

    const detail::sql_builder& root() const noexcept { return root_; }
    const std::vector<std::string>& keys() const noexcept { return keys_; }
    /// {"k1": {"k2": ... leaf}} for this path's keys.
    boost::json::value nest(boost::json::value leaf) const;

private:
    detail::sql_builder root_;
    std::vector<std::string> keys_;
};

/// The text at a JSONB path (json_path::as_text()). Comparing it with == adds a containment
/// pre-filter that a GIN index can serve, then checks the exact text.
class json_text : public expression<std::optional<std::string>> {
public:
    json_text(detail::sql_builder sql, json_path path)
        : expression<std::optional<std::string>>(std::move(sql)), path_(std::move(path))
    {}
    const json_path& path() const noexcept { return path_; }

    template <class A>
    requires std::constructible_from<std::string, const A&>
    friend predicate operator==(const json_text& text, const A& value)
    {
        return text.equals(std::string(value));
    }

private:
    predicate equals(const std::string& value) const;
    json_path path_;
};

namespace detail {

template <class C, class M> class column_sort_key final : public sort_key {
public:
    column_sort_key(M C::*member, std::string_view name) : member_(member), name_(name) {}
    const std::type_info& model() const noexcept override { return typeid(C); }
    std::string_view name() const noexcept override { return name_; }
    bool nullable() const noexcept override { return is_optional_v<M>; }
    bool encode(const void* row, std::string& out) const override
    {
        return encode_field<M>(static_cast<const C*>(row)->*member_, out);
    }
    void bind(sql_builder& b, std::string_view bytes) const override
    {
        using B = field_value_t<M>;
        if constexpr (std::is_same_v<B, std::string>)
            if (!valid_utf8(bytes)) // the server would refuse it with an SQL error
                throw_cursor_value(name_);
        try {
            b.bind(decode_field<B>(bytes, field_oid<B>())); // e.g. text with a NUL cannot be sent
        } catch (const error&) {
            throw_cursor_value(name_);
        }
    }

private:
    M C::*member_;
    std::string_view name_;
};

} // namespace detail

/// A column of model (or described struct) C holding M: what col() returns. A jsonb column
/// (boost::json::value) also has paths, containment and key tests.
template <class C, class M> class column : public expression<M> {
public:
    column(detail::sql_builder sql, std::string_view name, M C::*member)
        : expression<M>(std::move(sql)), name_(name), member_(member)
    {}

    /// The column's (unquoted) name.
    std::string_view name() const noexcept { return name_; }

    /// Ascending / descending by this column: a sort key (keyset paging can use it).
    order_term asc() const { return keyed(false); }
    order_term desc() const { return keyed(true); }

    json_path
    operator[](std::string key) const requires std::same_as<detail::field_value_t<M>, boost::json::value>
    {
        return json_path(this->sql(), {std::move(key)});
    }
    /// `column @> v` (GIN-assisted).
    predicate contains(
        const boost::json::value& v) const requires std::same_as<detail::field_value_t<M>, boost::json::value>
    {
        return json_path(this->sql(), {}).contains(v);
    }
    /// `column ? key` (GIN-assisted with jsonb_ops).
    predicate
    has_key(std::string_view key) const requires std::same_as<detail::field_value_t<M>, boost::json::value>
    {
        return json_path(this->sql(), {}).has_key(key);
    }

private:
    order_term keyed(bool descending) const
    {
        if constexpr (model<C>)
            return order_term(this->sql(), descending,
                              std::make_shared<const detail::column_sort_key<C, M>>(member_, name_));
        else
            return descending ? expression<M>::desc() : expression<M>::asc();
    }

    std::string_view name_;
    M C::*member_;
};

namespace detail {
/// The quoted (and, for models, table-qualified) name of a described column.
template <class C, class M> std::pair<std::string, std::string_view> column_sql(M C::*member)
{
    static_assert(field_type<M>, "col() needs a member that is a column (a field type)");
    if constexpr (model<C>) {
        const model_description& d = describe_model<C>();
        std::size_t index = column_index<C>(member);
        return {d.qualified[index], d.names[index]};
    } else {
        std::size_t index = column_index<C>(member);
        std::string_view name;
        std::size_t i = 0;
        for_each_column<C>([&](auto m) {
            if (i++ == index)
                name = m.name;
        });
        return {quote_identifier(name), name};
    }
}
} // namespace detail

/// The column behind a member of a described struct: `col(&User::email) == "a@b.c"`. For a
/// model the name is qualified by its table. Throws client_errc::invalid_argument for a
/// member that is not a column.
template <class C, class M> column<C, M> col(M C::*member)
{
    auto named = detail::column_sql(member);
    return column<C, M>(detail::sql_builder(std::move(named.first)), named.second, member);
}

/// Ascending / descending by a member: `order_by(asc(&User::name))`.
template <class C, class M> order_term asc(M C::*member)
{
    return col(member).asc();
}
template <class C, class M> order_term desc(M C::*member)
{
    return col(member).desc();
}

} // namespace pgcoro
