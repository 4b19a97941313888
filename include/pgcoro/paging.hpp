#pragma once
// Pagination of select queries, by offset and by keyset (cursor):
//
//   pgcoro::page<User> p = co_await s.page(pgcoro::select<User>().order_by(&User::name), 3, 20);
//   // p.items, p.total, p.pages, p.has_next ... (the count rides in the same round trip)
//
//   auto q = pgcoro::select<User>().order_by(pgcoro::desc(&User::created_at));
//   pgcoro::keyset_page<User> first = co_await s.page(q, pgcoro::keyset(20));
//   pgcoro::keyset_page<User> second = co_await s.page(q, pgcoro::keyset(20).after(*first.next));
//
// Both make the order unique by appending the primary key, fetch per_page + 1 rows to know
// whether there is more, and work with filters, soft delete and eager loaders.
//
// Keyset paging seeks past the boundary row of the previous page with a WHERE on the sort
// keys: `(a, id) > ($1, $2)` when every key sorts the same way and none is nullable (an
// index on (a, id) serves it), otherwise the expanded form `a > $1 OR (a = $1 AND id > $2)`
// with each key's direction and explicit NULL placement. Its cost does not grow with the
// page number, and rows inserted or deleted meanwhile never make it skip or repeat a row.
// Cursors are opaque, URL-safe tokens (detail/cursor.hpp), optionally HMAC-signed.

#include <pgcoro/detail/cursor.hpp>
#include <pgcoro/expression.hpp>
#include <pgcoro/select.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pgcoro {

/// One page of an offset-paged query.
template <class T> struct page {
    std::vector<T> items;
    std::int64_t page = 1;             ///< this page's number (1-based)
    std::int64_t per_page = 0;         ///< the requested page size
    std::optional<std::int64_t> total; ///< matching rows (when counted)
    std::optional<std::int64_t> pages; ///< ceil(total / per_page) (when counted)
    bool has_next = false;             ///< a row exists after this page
    bool has_prev = false;             ///< page > 1
};

/// A keyset page request: `pgcoro::keyset(20)` (the first page), `.after(cursor)` (the page
/// after a page's `next` cursor), `.before(cursor)` (the page before a page's `previous`).
/// An empty cursor string means the first page (convenient for an absent URL parameter).
class keyset {
public:
    enum class direction { first, after, before, either };

    explicit keyset(std::int64_t per_page) : per_page_(per_page) {}

    /// The page after the row `cursor` names (a page's `next`).
    keyset after(std::string cursor) const { return at(std::move(cursor), direction::after); }
    /// The page before the row `cursor` names (a page's `previous`).
    keyset before(std::string cursor) const { return at(std::move(cursor), direction::before); }
    /// Either: whichever way the cursor was made for.
    keyset cursor(std::string token) const { return at(std::move(token), direction::either); }
    /// Sign new cursors with HMAC-SHA256 under `key` and accept only cursors signed with it.
    keyset signing_key(std::string key) const
    {
        keyset copy = *this;
        copy.signing_key_ = std::move(key);
        return copy;
    }
    /// The largest per_page accepted (default 1000).
    keyset max_per_page(std::int64_t rows) const
    {
        keyset copy = *this;
        copy.max_per_page_ = rows;
        return copy;
    }

    std::int64_t per_page() const noexcept { return per_page_; }
    std::int64_t max_per_page() const noexcept { return max_per_page_; }
    direction where() const noexcept { return cursor_.empty() ? direction::first : direction_; }
    const std::string& token() const noexcept { return cursor_; }
    const std::string& key() const noexcept { return signing_key_; }

private:
    keyset at(std::string token, direction d) const
    {
        keyset copy = *this;
        copy.cursor_ = std::move(token);
        copy.direction_ = d;
        return copy;
    }

    std::int64_t per_page_;
    std::int64_t max_per_page_ = 1000;
    direction direction_ = direction::first;
    std::string cursor_;
    std::string signing_key_;
};

/// One page of a keyset-paged query, in the query's order.
template <class T> struct keyset_page {
    std::vector<T> items;
    std::int64_t per_page = 0;
    bool has_next = false; ///< `next` is set
    bool has_prev = false; ///< `previous` is set
    /// Cursor of the page after this one (pass to keyset::after); unset at the end.
    std::optional<std::string> next;
    /// Cursor of the page before this one (pass to keyset::before); unset on the first page.
    std::optional<std::string> previous;
};

namespace detail {

void check_page_request(std::int64_t number, std::int64_t per_page, const page_options& options);
void check_per_page(std::int64_t per_page, std::int64_t max_per_page);
[[noreturn]] void throw_paged_query_limited();
[[noreturn]] void throw_keyset_term(std::string_view why, std::string_view term);
[[noreturn]] void throw_cursor_mismatch(std::string_view why);
/// The keyset condition for rows after `values` in the order of `terms` (or at them too, if
/// `inclusive`).
predicate keyset_condition(const std::vector<order_term>& terms, const std::vector<cursor_value>& values,
                           bool inclusive = false);

/// An offset page's query (LIMIT per_page + 1 OFFSET ...) and its count statement.
template <class T, class R> struct offset_plan {
    select_query<T, R> query;
    std::optional<sql_statement> count;
    std::int64_t number = 1;
    std::int64_t per_page = 0;
};

template <class T, class R>
offset_plan<T, R> plan_offset(const select_query<T, R>& query, std::int64_t number, std::int64_t per_page,
                              const page_options& options)
{
    check_page_request(number, per_page, options);
    if (query.limit_value() || query.offset_value())
        throw_paged_query_limited();
    offset_plan<T, R> plan{query, std::nullopt, number, per_page};
    plan.query.clear_order();
    for (const order_term& t : unique_ordering(query))
        plan.query.order_by(t);
    plan.query.limit(per_page + 1).offset((number - 1) * per_page);
    if (options.count)
        plan.count = query.render_count();
    return plan;
}

/// The page from the fetched rows (at most per_page of them kept by the caller; `more`:
/// whether the extra row came back).
template <class T, class R>
pgcoro::page<R> finish_offset(const offset_plan<T, R>& plan, std::vector<R> rows, bool more,
                              std::optional<std::int64_t> total)
{
    pgcoro::page<R> p;
    p.items = std::move(rows);
    p.page = plan.number;
    p.per_page = plan.per_page;
    p.total = total;
    if (total)
        p.pages = (*total + plan.per_page - 1) / plan.per_page;
    p.has_next = more;
    p.has_prev = plan.number > 1;
    return p;
}

/// A keyset page's query and what finishing it needs.
template <class T> struct keyset_plan {
    select_query<T, T> query;
    std::vector<order_term> terms; // the unique ordering, in the query's direction
    bool backward = false;         // fetched in reverse order (a `before` page)
    bool from_cursor = false;
    std::vector<cursor_value> boundary; // the cursor's values (an empty page links back to them)
    std::int64_t per_page = 0;
    std::uint32_t fingerprint = 0;
    std::string signing_key;
};

/// What a cursor made for `terms` must carry to be accepted.
std::uint32_t ordering_fingerprint(std::string_view table, const std::vector<order_term>& terms);
/// Checks `terms` are usable sort keys of `model` (columns; nullable ones with explicit NULL
/// placement).
void check_keyset_terms(const std::vector<order_term>& terms, const std::type_info& model);

template <class T> keyset_plan<T> plan_keyset(const select_query<T, T>& query, const keyset& request)
{
    check_per_page(request.per_page(), request.max_per_page());
    if (query.limit_value() || query.offset_value())
        throw_paged_query_limited();
    keyset_plan<T> plan;
    plan.query = query;
    plan.terms = unique_ordering(query);
    check_keyset_terms(plan.terms, typeid(T));
    plan.per_page = request.per_page();
    plan.signing_key = request.key();
    plan.fingerprint = ordering_fingerprint(describe_model<T>().table, plan.terms);

    std::vector<order_term> order = plan.terms;
    predicate seek;
    if (request.where() != keyset::direction::first) {
        cursor_data cursor = decode_cursor(request.token(), request.key());
        if (cursor.fingerprint != plan.fingerprint || cursor.values.size() != plan.terms.size())
            throw_cursor_mismatch("it was made for another query's ordering");
        if ((request.where() == keyset::direction::after && cursor.before) ||
            (request.where() == keyset::direction::before && !cursor.before))
            throw_cursor_mismatch(cursor.before ? "it is a `previous` cursor, passed to after()"
                                                : "it is a `next` cursor, passed to before()");
        plan.backward = cursor.before;
        plan.from_cursor = true;
        if (plan.backward)
            for (order_term& t : order)
                t = t.reversed();
        seek = keyset_condition(order, cursor.values, cursor.inclusive);
        plan.boundary = std::move(cursor.values);
    }
    plan.query.clear_order();
    for (const order_term& t : order)
        plan.query.order_by(t);
    plan.query.where(std::move(seek)).limit(plan.per_page + 1);
    return plan;
}

template <class T> std::string cursor_for(const keyset_plan<T>& plan, const T& row, bool before)
{
    cursor_data c;
    c.before = before;
    c.fingerprint = plan.fingerprint;
    for (const order_term& t : plan.terms) {
        cursor_value v;
        v.null = !t.key()->encode(&row, v.bytes);
        c.values.push_back(std::move(v));
    }
    return encode_cursor(c, plan.signing_key);
}

/// The page from its rows (already in the query's order, at most per_page).
template <class T> keyset_page<T> finish_keyset(const keyset_plan<T>& plan, std::vector<T> rows, bool more)
{
    keyset_page<T> p;
    p.per_page = plan.per_page;
    const bool next = plan.backward ? true : more;
    const bool previous = plan.backward ? more : plan.from_cursor;
    if (!rows.empty()) {
        if (next)
            p.next = cursor_for(plan, rows.back(), false);
        if (previous)
            p.previous = cursor_for(plan, rows.front(), true);
    } else if (plan.from_cursor) {
        // Nothing on this side of the boundary row (rows were deleted since, or it was the
        // last): the way back is the page that includes the boundary row itself.
        cursor_data back{!plan.backward, plan.fingerprint, plan.boundary, true};
        (plan.backward ? p.next : p.previous) = encode_cursor(back, plan.signing_key);
    }
    p.has_next = p.next.has_value();
    p.has_prev = p.previous.has_value();
    p.items = std::move(rows);
    return p;
}

} // namespace detail
} // namespace pgcoro
