#include <pgcoro/paging.hpp>

#include <limits>

namespace pgcoro::detail {

void check_per_page(std::int64_t per_page, std::int64_t max_per_page)
{
    if (per_page < 1)
        throw error(client_errc::invalid_argument,
                    "per_page must be at least 1 (got " + std::to_string(per_page) + ")");
    if (per_page > max_per_page)
        throw error(client_errc::invalid_argument, "per_page " + std::to_string(per_page) +
                                                       " is above the maximum of " +
                                                       std::to_string(max_per_page));
    if (per_page == std::numeric_limits<std::int64_t>::max()) // LIMIT per_page + 1 must fit
        throw error(client_errc::invalid_argument,
                    "per_page " + std::to_string(per_page) + " is out of range");
}

void check_page_request(std::int64_t number, std::int64_t per_page, const page_options& options)
{
    check_per_page(per_page, options.max_per_page);
    if (number < 1)
        throw error(client_errc::invalid_argument,
                    "the page number must be at least 1 (got " + std::to_string(number) + ")");
    if (options.max_page > 0 && number > options.max_page)
        throw error(client_errc::invalid_argument, "page " + std::to_string(number) +
                                                       " is above the maximum of " +
                                                       std::to_string(options.max_page));
    if (number - 1 > (std::numeric_limits<std::int64_t>::max() - 1) / per_page - 1)
        throw error(client_errc::invalid_argument, "page " + std::to_string(number) + " is out of range");
}

void throw_paged_query_limited()
{
    throw error(client_errc::invalid_argument,
                "a paged query must not have its own limit or offset: paging sets them");
}

void throw_keyset_term(std::string_view why, std::string_view term)
{
    throw error(client_errc::invalid_argument,
                "keyset paging: the ORDER BY term `" + std::string(term) + "` " + std::string(why));
}

void throw_cursor_mismatch(std::string_view why)
{
    throw error(client_errc::invalid_cursor, "the cursor does not fit this query: " + std::string(why));
}

void check_keyset_terms(const std::vector<order_term>& terms, const std::type_info& model)
{
    for (const order_term& t : terms) {
        if (!t.key() || t.key()->model() != model)
            throw_keyset_term("is not a column of the paged model (order by asc(&T::member) or "
                              "col(&T::member).desc())",
                              t.sql().text());
        if (t.key()->nullable() && t.nulls() == null_order::unspecified)
            throw_keyset_term(
                "is on a nullable column: say where NULLs go with nulls_first() or nulls_last()",
                t.sql().text());
    }
    if (terms.size() > max_cursor_values)
        throw error(client_errc::invalid_argument,
                    "keyset paging: more than " + std::to_string(max_cursor_values) + " sort keys");
}

std::uint32_t ordering_fingerprint(std::string_view table, const std::vector<order_term>& terms)
{
    std::string text(table);
    for (const order_term& t : terms)
        text.append("\n").append(t.sql().text());
    return cursor_fingerprint(text);
}

namespace {

/// `expr = value` / `expr IS NULL`.
predicate equal_to(const order_term& t, const cursor_value& v)
{
    sql_builder b("(");
    b.append(t.expression());
    if (v.null) {
        b.append(" IS NULL");
    } else {
        b.append(" = ");
        t.key()->bind(b, v.bytes);
    }
    b.append(")");
    return predicate(std::move(b));
}

/// Rows whose key comes strictly after `v` in the term's order; nullopt when none can
/// (`v` is NULL and NULLs come last).
std::optional<predicate> strictly_after(const order_term& t, const cursor_value& v)
{
    sql_builder b("(");
    if (v.null) {
        if (t.nulls_after())
            return std::nullopt;
        b.append(t.expression()).append(" IS NOT NULL)");
        return predicate(std::move(b));
    }
    b.append(t.expression()).append(t.descending() ? " < " : " > ");
    t.key()->bind(b, v.bytes);
    if (t.key()->nullable() && t.nulls_after())
        b.append(" OR ").append(t.expression()).append(" IS NULL");
    b.append(")");
    return predicate(std::move(b));
}

} // namespace

predicate keyset_condition(const std::vector<order_term>& terms, const std::vector<cursor_value>& values,
                           bool inclusive)
{
    bool row_comparison = true;
    for (std::size_t i = 0; i < terms.size(); ++i) {
        if (values[i].null && !terms[i].key()->nullable())
            throw_cursor_mismatch("it holds NULL for a column that cannot be NULL");
        if (terms[i].key()->nullable() || values[i].null || terms[i].descending() != terms[0].descending())
            row_comparison = false;
    }
    if (row_comparison) {
        // (a, b, id) > ($1, $2, $3): one index range scan on an index of (a, b, id).
        sql_builder b("((");
        for (std::size_t i = 0; i < terms.size(); ++i)
            b.append(i ? ", " : "").append(terms[i].expression());
        if (inclusive)
            b.append(terms[0].descending() ? ") <= (" : ") >= (");
        else
            b.append(terms[0].descending() ? ") < (" : ") > (");
        for (std::size_t i = 0; i < terms.size(); ++i) {
            b.append(i ? ", " : "");
            terms[i].key()->bind(b, values[i].bytes);
        }
        b.append("))");
        return predicate(std::move(b));
    }
    // Mixed directions or NULLs: a > $1 OR (a = $1 AND b < $2) OR (a = $1 AND b = $2 AND id > $3).
    std::vector<predicate> alternatives;
    std::vector<predicate> equal_prefix;
    for (std::size_t i = 0; i < terms.size(); ++i) {
        if (std::optional<predicate> after = strictly_after(terms[i], values[i])) {
            std::vector<predicate> parts = equal_prefix;
            parts.push_back(std::move(*after));
            alternatives.push_back(all_of(std::move(parts)));
        }
        equal_prefix.push_back(equal_to(terms[i], values[i]));
    }
    if (inclusive)
        alternatives.push_back(all_of(std::move(equal_prefix)));
    return any_of(std::move(alternatives)); // none: FALSE (nothing comes after)
}

} // namespace pgcoro::detail
