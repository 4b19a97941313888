// Offset and keyset paging, planned and rendered without a server: the ORDER BY made unique
// by the primary key, LIMIT per_page + 1 and OFFSET bound as parameters, the keyset seek
// condition for each shape of ordering (row comparison, mixed directions, explicit NULL
// placement), `before` pages in reverse, and every request or cursor that must be refused
// before anything is sent.

#include <pgcoro/pgcoro.hpp>

#include <boost/describe.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

/// A soft-deleting model with a non-nullable text and integer sort key, a nullable one and
/// a JSONB column.
struct item {
    std::int64_t id = 0;
    std::string title;
    std::int64_t rank = 0;
    std::optional<std::string> label;
    boost::json::value data;
    std::optional<pgcoro::timestamp> deleted_at;
};
BOOST_DESCRIBE_STRUCT(item, (), (id, title, rank, label, data, deleted_at))

/// Another model, for sort keys that are not the paged model's.
struct shelf {
    std::int64_t id = 0;
    std::int64_t rank = 0;
};
BOOST_DESCRIBE_STRUCT(shelf, (), (id, rank))

/// A composite primary key.
struct placement {
    std::int64_t shelf_id = 0;
    std::int64_t item_id = 0;
    std::int64_t position = 0;
};
BOOST_DESCRIBE_STRUCT(placement, (), (shelf_id, item_id, position))

/// A subset of item's columns, for into().
struct item_title {
    std::int64_t id = 0;
    std::string title;
};
BOOST_DESCRIBE_STRUCT(item_title, (), (id, title))

} // namespace

template <> struct pgcoro::model_traits<item> {
    static constexpr std::string_view table = "items";
    static constexpr auto primary_key = &item::id;
    static constexpr auto generated = &item::id;
    static constexpr auto deleted_at = &item::deleted_at;
};

template <> struct pgcoro::model_traits<shelf> {
    static constexpr std::string_view table = "shelves";
    static constexpr auto primary_key = &shelf::id;
};

template <> struct pgcoro::model_traits<placement> {
    static constexpr std::string_view table = "placements";
    static constexpr auto primary_key = std::tuple{&placement::shelf_id, &placement::item_id};
};

namespace {

using pgcoro::client_errc;
using pgcoro::col;
using pgcoro::keyset;
using pgcoro::page_options;
using pgcoro::detail::cursor_data;
using pgcoro::detail::cursor_value;

constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();

/// The text between `from` and `to` (or the end) in `sql`; empty when `from` is missing.
std::string clause(const std::string& sql, std::string_view from, std::string_view to)
{
    const std::size_t start = sql.find(from);
    if (start == std::string::npos)
        return {};
    const std::size_t begin = start + from.size();
    const std::size_t end = to.empty() ? std::string::npos : sql.find(to, begin);
    return sql.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

std::string order_by_of(const std::string& sql)
{
    return clause(sql, " ORDER BY ", " LIMIT ");
}

std::string where_of(const std::string& sql)
{
    return clause(sql, " WHERE ", " ORDER BY ");
}

/// The bytes of each bound parameter (nullopt for NULL), in $n order.
std::vector<std::optional<std::string>> parameters_of(const pgcoro::sql_statement& s)
{
    const pgcoro::detail::statement& n = s.native();
    std::vector<std::optional<std::string>> out;
    std::size_t at = 0;
    for (std::size_t i = 0; i < n.size(); ++i) {
        if (n.lengths[i] < 0) {
            out.emplace_back();
            continue;
        }
        const auto length = static_cast<std::size_t>(n.lengths[i]);
        out.emplace_back(n.values.substr(at, length));
        at += length + (n.formats[i] == 0 ? 1 : 0); // text parameters are NUL-terminated
    }
    return out;
}

/// The bigint bound as parameter $`position`.
std::int64_t int8_parameter(const pgcoro::sql_statement& s, std::size_t position)
{
    BOOST_REQUIRE(position >= 1 && position <= s.parameter_count());
    BOOST_REQUIRE(s.parameter_types()[position - 1] == pgcoro::oids::int8);
    std::optional<std::string> bytes = parameters_of(s)[position - 1];
    BOOST_REQUIRE(bytes.has_value());
    return pgcoro::detail::decode_field<std::int64_t>(std::string_view(*bytes), pgcoro::oids::int8);
}

std::string int8_bytes(std::int64_t value)
{
    std::string out;
    pgcoro::detail::encode_field(value, out);
    return out;
}

cursor_value value_of(std::string bytes)
{
    return {false, std::move(bytes)};
}

cursor_value null_value()
{
    return {true, {}};
}

item sample_item()
{
    item row;
    row.id = 42;
    row.title = "middle";
    row.rank = 7;
    row.label = "green";
    return row;
}

/// A cursor for `row` made by the plan of `query` (the page after it, or before it).
std::string cursor_of(const pgcoro::select_query<item, item>& query, const item& row, bool before,
                      const keyset& request)
{
    return pgcoro::detail::cursor_for(pgcoro::detail::plan_keyset(query, request), row, before);
}

std::string next_cursor(const pgcoro::select_query<item, item>& query, const item& row)
{
    return cursor_of(query, row, false, keyset(10));
}

std::string previous_cursor(const pgcoro::select_query<item, item>& query, const item& row)
{
    return cursor_of(query, row, true, keyset(10));
}

/// The fingerprint keyset paging gives the ordering of `query`.
std::uint32_t fingerprint_of(const pgcoro::select_query<item, item>& query)
{
    return pgcoro::detail::plan_keyset(query, keyset(10)).fingerprint;
}

/// The rendered keyset page query for `request`.
std::string keyset_sql(const pgcoro::select_query<item, item>& query, const keyset& request)
{
    return pgcoro::detail::plan_keyset(query, request).query.render().sql();
}

/// The keyset condition for rows after `values` in the unique ordering of `query`.
std::string condition_sql(const pgcoro::select_query<item, item>& query,
                          const std::vector<cursor_value>& values)
{
    auto plan = pgcoro::detail::plan_keyset(query, keyset(10));
    return pgcoro::detail::keyset_condition(plan.terms, values).sql().render().sql();
}

template <class Body> void expect_code(Body&& body, client_errc expected)
{
    try {
        body();
    } catch (const pgcoro::error& e) {
        BOOST_TEST_INFO("what(): " << e.what());
        BOOST_TEST((e.code() == expected));
        return;
    }
    BOOST_ERROR("expected a pgcoro::error, nothing was thrown");
}

void expect_invalid_argument(const pgcoro::select_query<item, item>& query, std::int64_t number,
                             std::int64_t per_page, const page_options& options)
{
    BOOST_TEST_CONTEXT("page " << number << " of " << per_page)
    {
        expect_code([&] { pgcoro::detail::plan_offset(query, number, per_page, options); },
                    client_errc::invalid_argument);
    }
}

void expect_invalid_keyset(const pgcoro::select_query<item, item>& query, const keyset& request,
                           client_errc expected)
{
    expect_code([&] { pgcoro::detail::plan_keyset(query, request); }, expected);
}

const std::string rank_asc = "\"items\".\"rank\" ASC";
const std::string id_asc = "\"items\".\"id\" ASC";

} // namespace

BOOST_AUTO_TEST_SUITE(paging_tests)

// ---- offset paging ---------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(offset_page_appends_the_primary_key_to_the_order)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    auto plan = pgcoro::detail::plan_offset(q, 1, 10, page_options{});
    BOOST_TEST(order_by_of(plan.query.render().sql()) == rank_asc + ", " + id_asc);
}

BOOST_AUTO_TEST_CASE(offset_page_of_an_unordered_query_orders_by_the_primary_key)
{
    auto plan = pgcoro::detail::plan_offset(pgcoro::select<item>(), 1, 10, page_options{});
    BOOST_TEST(order_by_of(plan.query.render().sql()) == id_asc);
}

BOOST_AUTO_TEST_CASE(offset_page_does_not_append_a_primary_key_already_ordered_by)
{
    auto desc_id = pgcoro::select<item>().order_by(pgcoro::desc(&item::id));
    BOOST_TEST(
        order_by_of(pgcoro::detail::plan_offset(desc_id, 1, 10, page_options{}).query.render().sql()) ==
        "\"items\".\"id\" DESC");
    auto id_first = pgcoro::select<item>().order_by(&item::id, &item::rank);
    BOOST_TEST(
        order_by_of(pgcoro::detail::plan_offset(id_first, 1, 10, page_options{}).query.render().sql()) ==
        id_asc + ", " + rank_asc);
}

BOOST_AUTO_TEST_CASE(offset_page_appends_each_missing_column_of_a_composite_key)
{
    auto q = pgcoro::select<placement>().order_by(pgcoro::desc(&placement::item_id));
    auto plan = pgcoro::detail::plan_offset(q, 2, 5, page_options{});
    BOOST_TEST(order_by_of(plan.query.render().sql()) ==
               "\"placements\".\"item_id\" DESC, \"placements\".\"shelf_id\" ASC");
}

BOOST_AUTO_TEST_CASE(offset_page_key_of_another_model_does_not_count_as_the_primary_key)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::asc(&shelf::id));
    auto plan = pgcoro::detail::plan_offset(q, 1, 10, page_options{});
    BOOST_TEST(order_by_of(plan.query.render().sql()) == "\"shelves\".\"id\" ASC, " + id_asc);
}

BOOST_AUTO_TEST_CASE(offset_page_binds_limit_per_page_plus_one_and_offset)
{
    auto q = pgcoro::select<item>().where(col(&item::rank) > 3).order_by(&item::rank);
    for (std::int64_t number : {1, 2, 7}) {
        BOOST_TEST_CONTEXT("page " << number)
        {
            auto plan = pgcoro::detail::plan_offset(q, number, 25, page_options{});
            pgcoro::sql_statement s = plan.query.render();
            BOOST_TEST(s.sql().ends_with(" LIMIT $2 OFFSET $3"));
            BOOST_TEST(s.parameter_count() == 3u);
            BOOST_TEST(int8_parameter(s, 2) == 26);
            BOOST_TEST(int8_parameter(s, 3) == (number - 1) * 25);
            BOOST_TEST(plan.number == number);
            BOOST_TEST(plan.per_page == 25);
        }
    }
}

BOOST_AUTO_TEST_CASE(offset_page_statement_text_is_the_same_for_every_page)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    const std::string first = pgcoro::detail::plan_offset(q, 1, 10, page_options{}).query.render().sql();
    BOOST_TEST(pgcoro::detail::plan_offset(q, 500, 10, page_options{}).query.render().sql() == first);
    BOOST_TEST(pgcoro::detail::plan_offset(q, 3, 99, page_options{}).query.render().sql() == first);
}

BOOST_AUTO_TEST_CASE(offset_page_counts_with_the_query_filter_and_soft_delete)
{
    auto q = pgcoro::select<item>().where(col(&item::title) == "x").order_by(&item::rank);
    auto plan = pgcoro::detail::plan_offset(q, 3, 10, page_options{});
    BOOST_TEST_REQUIRE(plan.count.has_value());
    BOOST_TEST(plan.count->sql() == q.render_count().sql());
    BOOST_TEST(plan.count->sql().starts_with("SELECT count(*) FROM \"items\" WHERE "));
    BOOST_TEST(plan.count->sql().find("\"items\".\"title\" = $1") != std::string::npos);
    BOOST_TEST(plan.count->sql().find("\"items\".\"deleted_at\" IS NULL") != std::string::npos);
    BOOST_TEST(plan.count->sql().find("LIMIT") == std::string::npos);
    BOOST_TEST(plan.count->sql().find("OFFSET") == std::string::npos);
    BOOST_TEST(plan.count->parameter_count() == 1u);

    auto everything = pgcoro::select<item>().include_deleted();
    auto all_plan = pgcoro::detail::plan_offset(everything, 1, 10, page_options{});
    BOOST_TEST(all_plan.count->sql() == "SELECT count(*) FROM \"items\"");
}

BOOST_AUTO_TEST_CASE(offset_page_without_count_plans_no_count_statement)
{
    page_options options;
    options.count = false;
    auto plan = pgcoro::detail::plan_offset(pgcoro::select<item>(), 1, 10, options);
    BOOST_TEST(!plan.count.has_value());
}

BOOST_AUTO_TEST_CASE(offset_page_of_subset_rows_keeps_the_subset_select_list)
{
    auto q = pgcoro::select<item>().into<item_title>();
    auto plan = pgcoro::detail::plan_offset(q, 2, 10, page_options{});
    pgcoro::sql_statement s = plan.query.render();
    BOOST_TEST(s.sql().starts_with("SELECT \"items\".\"id\", \"items\".\"title\" FROM \"items\""));
    BOOST_TEST(order_by_of(s.sql()) == id_asc);
    BOOST_TEST(int8_parameter(s, 1) == 11);
    BOOST_TEST(int8_parameter(s, 2) == 10);
}

BOOST_AUTO_TEST_CASE(offset_page_finish_computes_pages_and_neighbours)
{
    auto plan = pgcoro::detail::plan_offset(pgcoro::select<item>(), 3, 10, page_options{});
    pgcoro::page<item> p = pgcoro::detail::finish_offset(plan, std::vector<item>(10), true, 41);
    BOOST_TEST(p.page == 3);
    BOOST_TEST(p.per_page == 10);
    BOOST_TEST(*p.total == 41);
    BOOST_TEST(*p.pages == 5);
    BOOST_TEST(p.has_next);
    BOOST_TEST(p.has_prev);
    pgcoro::page<item> exact = pgcoro::detail::finish_offset(plan, std::vector<item>(10), false, 30);
    BOOST_TEST(*exact.pages == 3);
    BOOST_TEST(!exact.has_next);
    pgcoro::page<item> empty = pgcoro::detail::finish_offset(plan, {}, false, 0);
    BOOST_TEST(*empty.pages == 0);
    pgcoro::page<item> uncounted = pgcoro::detail::finish_offset(plan, {}, false, std::nullopt);
    BOOST_TEST(!uncounted.total.has_value());
    BOOST_TEST(!uncounted.pages.has_value());
    auto first = pgcoro::detail::plan_offset(pgcoro::select<item>(), 1, 10, page_options{});
    BOOST_TEST(!pgcoro::detail::finish_offset(first, {}, false, 0).has_prev);
}

BOOST_AUTO_TEST_CASE(offset_page_rejects_per_page_below_one)
{
    auto q = pgcoro::select<item>();
    expect_invalid_argument(q, 1, 0, page_options{});
    expect_invalid_argument(q, 1, -1, page_options{});
    expect_invalid_argument(q, 1, std::numeric_limits<std::int64_t>::min(), page_options{});
}

BOOST_AUTO_TEST_CASE(offset_page_rejects_per_page_above_max_per_page)
{
    auto q = pgcoro::select<item>();
    expect_invalid_argument(q, 1, 1001, page_options{}); // the default maximum is 1000
    BOOST_CHECK_NO_THROW(pgcoro::detail::plan_offset(q, 1, 1000, page_options{}));
    page_options small;
    small.max_per_page = 50;
    expect_invalid_argument(q, 1, 51, small);
    expect_invalid_argument(q, 1, int64_max, small);
    BOOST_CHECK_NO_THROW(pgcoro::detail::plan_offset(q, 1, 50, small));
}

BOOST_AUTO_TEST_CASE(offset_page_rejects_page_numbers_below_one)
{
    auto q = pgcoro::select<item>();
    expect_invalid_argument(q, 0, 10, page_options{});
    expect_invalid_argument(q, -5, 10, page_options{});
    expect_invalid_argument(q, std::numeric_limits<std::int64_t>::min(), 10, page_options{});
}

BOOST_AUTO_TEST_CASE(offset_page_rejects_page_numbers_above_max_page)
{
    auto q = pgcoro::select<item>();
    page_options capped;
    capped.max_page = 100;
    expect_invalid_argument(q, 101, 10, capped);
    expect_invalid_argument(q, int64_max, 10, capped);
    BOOST_CHECK_NO_THROW(pgcoro::detail::plan_offset(q, 100, 10, capped));
}

BOOST_AUTO_TEST_CASE(offset_page_rejects_a_page_whose_offset_would_overflow)
{
    auto q = pgcoro::select<item>();
    expect_invalid_argument(q, int64_max, 10, page_options{});
    expect_invalid_argument(q, int64_max / 10 + 2, 10, page_options{}); // (n - 1) * 10 > INT64_MAX
    expect_invalid_argument(q, int64_max / 1000 + 2, 1000, page_options{});
    expect_invalid_argument(q, int64_max, 1, page_options{});
}

BOOST_AUTO_TEST_CASE(offset_page_near_the_overflow_boundary_is_rejected_or_exact)
{
    // Every page accepted has OFFSET (n - 1) * per_page and LIMIT per_page + 1 exactly, with
    // no wrap-around; a page whose offset does not fit is refused.
    auto q = pgcoro::select<item>();
    for (std::int64_t per_page : {1, 2, 7, 10, 1000}) {
        const std::int64_t last_fitting = int64_max / per_page; // the largest n - 1 whose offset fits
        // One past it, but n = before + 1 must itself fit (per_page 1: INT64_MAX - 1).
        const std::int64_t stop = last_fitting < int64_max - 1 ? last_fitting + 1 : int64_max - 1;
        for (std::int64_t before = last_fitting - 3; before <= stop; ++before) {
            const std::int64_t n = before + 1;
            BOOST_TEST_CONTEXT("page " << n << " of " << per_page)
            {
                std::int64_t offset = 0;
                const bool overflows = __builtin_mul_overflow(n - 1, per_page, &offset);
                try {
                    auto plan = pgcoro::detail::plan_offset(q, n, per_page, page_options{});
                    BOOST_TEST_REQUIRE(!overflows);
                    BOOST_TEST(*plan.query.offset_value() == offset);
                    BOOST_TEST(*plan.query.limit_value() == per_page + 1);
                } catch (const pgcoro::error& e) {
                    BOOST_TEST((e.code() == client_errc::invalid_argument));
                }
                if (overflows)
                    expect_invalid_argument(q, n, per_page, page_options{});
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(offset_page_rejects_a_query_with_its_own_limit_or_offset)
{
    expect_invalid_argument(pgcoro::select<item>().limit(5), 1, 10, page_options{});
    expect_invalid_argument(pgcoro::select<item>().offset(5), 1, 10, page_options{});
    expect_invalid_argument(pgcoro::select<item>().limit(0), 1, 10, page_options{});
    expect_invalid_argument(pgcoro::select<item>().offset(0), 1, 10, page_options{});
}

// ---- keyset paging: the first page -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(keyset_first_page_has_no_seek_and_limits_to_per_page_plus_one)
{
    auto q = pgcoro::select<item>().where(col(&item::title) == "x").order_by(&item::rank);
    auto plan = pgcoro::detail::plan_keyset(q, keyset(20));
    pgcoro::sql_statement s = plan.query.render();
    BOOST_TEST(order_by_of(s.sql()) == rank_asc + ", " + id_asc);
    BOOST_TEST(where_of(s.sql()) == "((\"items\".\"title\" = $1) AND \"items\".\"deleted_at\" IS NULL)");
    BOOST_TEST(s.sql().ends_with(" LIMIT $2"));
    BOOST_TEST(s.sql().find("OFFSET") == std::string::npos);
    BOOST_TEST(int8_parameter(s, 2) == 21);
    BOOST_TEST(!plan.backward);
    BOOST_TEST(!plan.from_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_empty_cursor_means_the_first_page)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    const std::string first = keyset_sql(q, keyset(10));
    BOOST_TEST(keyset_sql(q, keyset(10).after("")) == first);
    BOOST_TEST(keyset_sql(q, keyset(10).before("")) == first);
    BOOST_TEST(keyset_sql(q, keyset(10).cursor("")) == first);
    BOOST_TEST(!pgcoro::detail::plan_keyset(q, keyset(10).before("")).backward);
}

BOOST_AUTO_TEST_CASE(keyset_does_not_append_a_primary_key_already_ordered_by)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::desc(&item::id));
    auto plan = pgcoro::detail::plan_keyset(q, keyset(10));
    BOOST_TEST(plan.terms.size() == 1u);
    BOOST_TEST(order_by_of(plan.query.render().sql()) == "\"items\".\"id\" DESC");
    auto after = pgcoro::detail::plan_keyset(q, keyset(10).after(next_cursor(q, sample_item())));
    BOOST_TEST(where_of(after.query.render().sql()) ==
               "(((\"items\".\"id\") < ($1)) AND \"items\".\"deleted_at\" IS NULL)");
}

// ---- keyset paging: the seek condition ---------------------------------------------------------

BOOST_AUTO_TEST_CASE(keyset_same_direction_keys_render_a_row_comparison)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    const std::vector<cursor_value> values{value_of(int8_bytes(7)), value_of(int8_bytes(42))};
    BOOST_TEST(condition_sql(q, values) == "((\"items\".\"rank\", \"items\".\"id\") > ($1, $2))");
}

BOOST_AUTO_TEST_CASE(keyset_all_descending_keys_render_a_row_comparison_with_less_than)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::desc(&item::rank), pgcoro::desc(&item::id));
    const std::vector<cursor_value> values{value_of(int8_bytes(7)), value_of(int8_bytes(42))};
    BOOST_TEST(condition_sql(q, values) == "((\"items\".\"rank\", \"items\".\"id\") < ($1, $2))");
}

BOOST_AUTO_TEST_CASE(keyset_page_after_a_cursor_binds_the_boundary_row_values)
{
    auto q = pgcoro::select<item>().order_by(&item::title, &item::rank);
    item row = sample_item();
    auto plan = pgcoro::detail::plan_keyset(q, keyset(10).after(next_cursor(q, row)));
    pgcoro::sql_statement s = plan.query.render();
    BOOST_TEST(where_of(s.sql()) ==
               "(((\"items\".\"title\", \"items\".\"rank\", \"items\".\"id\") > ($1, $2, $3)) "
               "AND \"items\".\"deleted_at\" IS NULL)");
    BOOST_TEST(order_by_of(s.sql()) == "\"items\".\"title\" ASC, " + rank_asc + ", " + id_asc);
    BOOST_TEST(s.sql().ends_with(" LIMIT $4"));
    auto parameters = parameters_of(s);
    BOOST_TEST_REQUIRE(parameters.size() == 4u);
    BOOST_TEST((parameters[0] == std::optional<std::string>("middle")));
    BOOST_TEST(int8_parameter(s, 2) == 7);
    BOOST_TEST(int8_parameter(s, 3) == 42);
    BOOST_TEST(int8_parameter(s, 4) == 11);
    BOOST_TEST(plan.from_cursor);
    BOOST_TEST(!plan.backward);
}

BOOST_AUTO_TEST_CASE(keyset_mixed_directions_render_the_expanded_or_of_ands)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::asc(&item::rank), pgcoro::desc(&item::title));
    const std::vector<cursor_value> values{value_of(int8_bytes(7)), value_of("m"), value_of(int8_bytes(42))};
    BOOST_TEST(
        condition_sql(q, values) ==
        "(((\"items\".\"rank\" > $1)) OR ((\"items\".\"rank\" = $2) AND (\"items\".\"title\" < $3)) OR "
        "((\"items\".\"rank\" = $4) AND (\"items\".\"title\" = $5) AND (\"items\".\"id\" > $6)))");
}

BOOST_AUTO_TEST_CASE(keyset_mixed_directions_bind_each_value_where_it_is_compared)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::desc(&item::rank));
    q.order_by(pgcoro::asc(&item::id));
    auto plan = pgcoro::detail::plan_keyset(q, keyset(10));
    pgcoro::sql_statement s =
        pgcoro::detail::keyset_condition(plan.terms, {value_of(int8_bytes(7)), value_of(int8_bytes(42))})
            .sql()
            .render();
    BOOST_TEST(s.sql() ==
               "(((\"items\".\"rank\" < $1)) OR ((\"items\".\"rank\" = $2) AND (\"items\".\"id\" > $3)))");
    BOOST_TEST(int8_parameter(s, 1) == 7);
    BOOST_TEST(int8_parameter(s, 2) == 7);
    BOOST_TEST(int8_parameter(s, 3) == 42);
}

BOOST_AUTO_TEST_CASE(keyset_nullable_key_nulls_last_includes_nulls_after_a_value)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_last());
    BOOST_TEST(condition_sql(q, {value_of("green"), value_of(int8_bytes(42))}) ==
               "(((\"items\".\"label\" > $1 OR \"items\".\"label\" IS NULL)) OR "
               "((\"items\".\"label\" = $2) AND (\"items\".\"id\" > $3)))");
}

BOOST_AUTO_TEST_CASE(keyset_nullable_key_nulls_last_after_a_null_stays_among_the_nulls)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_last());
    BOOST_TEST(condition_sql(q, {null_value(), value_of(int8_bytes(42))}) ==
               "(((\"items\".\"label\" IS NULL) AND (\"items\".\"id\" > $1)))");
}

BOOST_AUTO_TEST_CASE(keyset_nullable_key_nulls_first_excludes_nulls_after_a_value)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_first());
    BOOST_TEST(condition_sql(q, {value_of("green"), value_of(int8_bytes(42))}) ==
               "(((\"items\".\"label\" > $1)) OR ((\"items\".\"label\" = $2) AND (\"items\".\"id\" > $3)))");
}

BOOST_AUTO_TEST_CASE(keyset_nullable_key_nulls_first_after_a_null_takes_every_value)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_first());
    BOOST_TEST(condition_sql(q, {null_value(), value_of(int8_bytes(42))}) ==
               "(((\"items\".\"label\" IS NOT NULL)) OR ((\"items\".\"label\" IS NULL) AND (\"items\".\"id\" "
               "> $1)))");
}

BOOST_AUTO_TEST_CASE(keyset_nullable_descending_key_nulls_last_includes_nulls_after_a_value)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::desc(&item::label).nulls_last());
    BOOST_TEST(condition_sql(q, {value_of("green"), value_of(int8_bytes(42))}) ==
               "(((\"items\".\"label\" < $1 OR \"items\".\"label\" IS NULL)) OR "
               "((\"items\".\"label\" = $2) AND (\"items\".\"id\" > $3)))");
}

BOOST_AUTO_TEST_CASE(keyset_nullable_key_never_uses_a_row_comparison)
{
    // A row comparison treats NULL as unknown: (label, id) > ($1, $2) would drop NULL rows.
    auto q = pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_first());
    const std::string sql = condition_sql(q, {value_of("green"), value_of(int8_bytes(42))});
    BOOST_TEST(sql.find(", \"items\".\"id\") >") == std::string::npos);
}

BOOST_AUTO_TEST_CASE(keyset_null_placement_is_rendered_in_the_order_by)
{
    auto first = pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_first());
    BOOST_TEST(order_by_of(keyset_sql(first, keyset(10))) ==
               "\"items\".\"label\" ASC NULLS FIRST, " + id_asc);
    auto last = pgcoro::select<item>().order_by(pgcoro::desc(&item::label).nulls_last());
    BOOST_TEST(order_by_of(keyset_sql(last, keyset(10))) == "\"items\".\"label\" DESC NULLS LAST, " + id_asc);
}

// ---- keyset paging: pages before a cursor --------------------------------------------------------

BOOST_AUTO_TEST_CASE(keyset_before_cursor_reverses_the_order_and_the_comparison)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    auto plan = pgcoro::detail::plan_keyset(q, keyset(10).before(previous_cursor(q, sample_item())));
    const std::string sql = plan.query.render().sql();
    BOOST_TEST(order_by_of(sql) == "\"items\".\"rank\" DESC, \"items\".\"id\" DESC");
    BOOST_TEST(where_of(sql) ==
               "(((\"items\".\"rank\", \"items\".\"id\") < ($1, $2)) AND \"items\".\"deleted_at\" IS NULL)");
    BOOST_TEST(plan.backward);
    BOOST_TEST(plan.from_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_before_cursor_flips_null_placement_and_mixed_directions)
{
    auto q =
        pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_first(), pgcoro::desc(&item::rank));
    auto plan = pgcoro::detail::plan_keyset(q, keyset(10).before(previous_cursor(q, sample_item())));
    const std::string sql = plan.query.render().sql();
    BOOST_TEST(order_by_of(sql) ==
               "\"items\".\"label\" DESC NULLS LAST, \"items\".\"rank\" ASC, \"items\".\"id\" DESC");
    // Before "green": smaller labels, then NULLs (they come first in the query's order).
    BOOST_TEST(
        where_of(sql).starts_with("((((\"items\".\"label\" < $1 OR \"items\".\"label\" IS NULL)) OR "));
}

BOOST_AUTO_TEST_CASE(keyset_cursor_either_way_follows_the_direction_it_was_made_for)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    auto forward = pgcoro::detail::plan_keyset(q, keyset(10).cursor(next_cursor(q, sample_item())));
    BOOST_TEST(!forward.backward);
    auto backward = pgcoro::detail::plan_keyset(q, keyset(10).cursor(previous_cursor(q, sample_item())));
    BOOST_TEST(backward.backward);
    BOOST_TEST(order_by_of(backward.query.render().sql()) ==
               "\"items\".\"rank\" DESC, \"items\".\"id\" DESC");
}

BOOST_AUTO_TEST_CASE(keyset_finish_sets_cursors_for_the_neighbouring_pages)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    std::vector<item> rows(3, sample_item());
    rows[0].id = 1;
    rows[2].id = 3;

    auto first = pgcoro::detail::plan_keyset(q, keyset(3));
    pgcoro::keyset_page<item> p = pgcoro::detail::finish_keyset(first, rows, true);
    BOOST_TEST(p.has_next);
    BOOST_TEST(!p.has_prev);
    BOOST_TEST_REQUIRE(p.next.has_value());
    BOOST_TEST(!p.previous.has_value());
    cursor_data next = pgcoro::detail::decode_cursor(*p.next, "");
    BOOST_TEST(!next.before);
    BOOST_TEST((next.values == std::vector<cursor_value>{value_of(int8_bytes(7)), value_of(int8_bytes(3))}));

    auto middle = pgcoro::detail::plan_keyset(q, keyset(3).after(*p.next));
    pgcoro::keyset_page<item> m = pgcoro::detail::finish_keyset(middle, rows, false);
    BOOST_TEST(!m.has_next);
    BOOST_TEST_REQUIRE(m.previous.has_value());
    cursor_data previous = pgcoro::detail::decode_cursor(*m.previous, "");
    BOOST_TEST(previous.before);
    BOOST_TEST(
        (previous.values == std::vector<cursor_value>{value_of(int8_bytes(7)), value_of(int8_bytes(1))}));

    auto back = pgcoro::detail::plan_keyset(q, keyset(3).before(*m.previous));
    pgcoro::keyset_page<item> b = pgcoro::detail::finish_keyset(back, rows, false);
    BOOST_TEST(b.has_next); // the page we came back from
    BOOST_TEST(!b.has_prev);
}

BOOST_AUTO_TEST_CASE(keyset_signed_cursor_is_signed_with_the_request_key)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    const std::string token = cursor_of(q, sample_item(), false, keyset(10).signing_key("k"));
    BOOST_CHECK_NO_THROW(pgcoro::detail::decode_cursor(token, "k"));
    BOOST_CHECK_NO_THROW(pgcoro::detail::plan_keyset(q, keyset(10).signing_key("k").after(token)));
}

// ---- keyset paging: requests refused -------------------------------------------------------------

BOOST_AUTO_TEST_CASE(keyset_rejects_per_page_out_of_range)
{
    auto q = pgcoro::select<item>();
    expect_invalid_keyset(q, keyset(0), client_errc::invalid_argument);
    expect_invalid_keyset(q, keyset(-1), client_errc::invalid_argument);
    expect_invalid_keyset(q, keyset(1001), client_errc::invalid_argument);
    expect_invalid_keyset(q, keyset(int64_max), client_errc::invalid_argument);
    expect_invalid_keyset(q, keyset(11).max_per_page(10), client_errc::invalid_argument);
    BOOST_CHECK_NO_THROW(pgcoro::detail::plan_keyset(q, keyset(1000)));
    BOOST_CHECK_NO_THROW(pgcoro::detail::plan_keyset(q, keyset(5000).max_per_page(5000)));
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_per_page_whose_limit_would_overflow)
{
    // LIMIT is per_page + 1: INT64_MAX rows per page cannot be fetched that way.
    expect_invalid_keyset(pgcoro::select<item>(), keyset(int64_max).max_per_page(int64_max),
                          client_errc::invalid_argument);
    page_options unbounded;
    unbounded.max_per_page = int64_max;
    expect_invalid_argument(pgcoro::select<item>(), 1, int64_max, unbounded);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_query_with_its_own_limit_or_offset)
{
    expect_invalid_keyset(pgcoro::select<item>().limit(5), keyset(10), client_errc::invalid_argument);
    expect_invalid_keyset(pgcoro::select<item>().offset(5), keyset(10), client_errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_ordering_by_a_json_path)
{
    auto q = pgcoro::select<item>().order_by(col(&item::data)["color"].as_text().asc());
    expect_invalid_keyset(q, keyset(10), client_errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_ordering_by_a_raw_order_term)
{
    auto q = pgcoro::select<item>().order_by(
        pgcoro::order_term(pgcoro::detail::sql_builder("lower(\"items\".\"title\") ASC")));
    expect_invalid_keyset(q, keyset(10), client_errc::invalid_argument);
    auto same_column = pgcoro::select<item>().order_by(
        pgcoro::order_term(pgcoro::detail::sql_builder("\"items\".\"rank\" ASC")));
    expect_invalid_keyset(same_column, keyset(10), client_errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_ordering_by_another_models_column)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::asc(&shelf::rank));
    expect_invalid_keyset(q, keyset(10), client_errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_nullable_key_without_null_placement)
{
    expect_invalid_keyset(pgcoro::select<item>().order_by(&item::label), keyset(10),
                          client_errc::invalid_argument);
    expect_invalid_keyset(pgcoro::select<item>().order_by(pgcoro::desc(&item::label)), keyset(10),
                          client_errc::invalid_argument);
    BOOST_CHECK_NO_THROW(pgcoro::detail::plan_keyset(
        pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_last()), keyset(10)));
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_garbage_cursor)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    const std::vector<std::string> garbage{
        "!!!", "not a cursor", "AAAA", "a", "====", std::string(5000, 'A'), std::string("\0", 1)};
    for (const std::string& token : garbage)
        expect_invalid_keyset(q, keyset(10).after(token), client_errc::invalid_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_cursor_made_for_another_ordering)
{
    auto by_rank = pgcoro::select<item>().order_by(&item::rank);
    auto by_title = pgcoro::select<item>().order_by(&item::title);
    auto by_rank_desc = pgcoro::select<item>().order_by(pgcoro::desc(&item::rank));
    auto by_label_first = pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_first());
    auto by_label_last = pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_last());
    const std::string token = next_cursor(by_rank, sample_item());
    expect_invalid_keyset(by_title, keyset(10).after(token), client_errc::invalid_cursor);
    expect_invalid_keyset(by_rank_desc, keyset(10).after(token), client_errc::invalid_cursor);
    expect_invalid_keyset(by_label_last, keyset(10).after(next_cursor(by_label_first, sample_item())),
                          client_errc::invalid_cursor);
    auto shelves = pgcoro::select<shelf>().order_by(&shelf::rank);
    shelf s{42, 7};
    const std::string shelf_token =
        pgcoro::detail::cursor_for(pgcoro::detail::plan_keyset(shelves, keyset(10)), s, false);
    BOOST_CHECK_EXCEPTION(pgcoro::detail::plan_keyset(by_rank, keyset(10).after(shelf_token)), pgcoro::error,
                          [](const pgcoro::error& e) { return e.code() == client_errc::invalid_cursor; });
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_cursor_with_the_right_fingerprint_but_wrong_value_count)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    cursor_data fewer{false, fingerprint_of(q), {value_of(int8_bytes(7))}};
    expect_invalid_keyset(q, keyset(10).after(pgcoro::detail::encode_cursor(fewer, "")),
                          client_errc::invalid_cursor);
    cursor_data more{
        false, fingerprint_of(q), {value_of(int8_bytes(7)), value_of(int8_bytes(1)), value_of("")}};
    expect_invalid_keyset(q, keyset(10).after(pgcoro::detail::encode_cursor(more, "")),
                          client_errc::invalid_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_next_cursor_passed_to_before)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    expect_invalid_keyset(q, keyset(10).before(next_cursor(q, sample_item())), client_errc::invalid_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_previous_cursor_passed_to_after)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    expect_invalid_keyset(q, keyset(10).after(previous_cursor(q, sample_item())),
                          client_errc::invalid_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_cursor_value_that_does_not_decode_as_the_column_type)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    for (std::string bytes :
         {std::string("abc"), std::string(), std::string(9, '\0'), std::string(4, '\x01')}) {
        BOOST_TEST_CONTEXT("a rank of " << bytes.size() << " bytes")
        {
            cursor_data c{false, fingerprint_of(q), {value_of(bytes), value_of(int8_bytes(42))}};
            expect_invalid_keyset(q, keyset(10).after(pgcoro::detail::encode_cursor(c, "")),
                                  client_errc::invalid_cursor);
            cursor_data bad_id{false, fingerprint_of(q), {value_of(int8_bytes(7)), value_of(bytes)}};
            expect_invalid_keyset(q, keyset(10).after(pgcoro::detail::encode_cursor(bad_id, "")),
                                  client_errc::invalid_cursor);
        }
    }
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_text_cursor_value_postgresql_cannot_hold)
{
    // Text with a NUL byte decodes as a std::string but cannot be bound: the cursor is
    // invalid, it is not the caller's parameter that is.
    auto q = pgcoro::select<item>().order_by(&item::title);
    cursor_data c{false, fingerprint_of(q), {value_of(std::string("a\0b", 3)), value_of(int8_bytes(42))}};
    expect_invalid_keyset(q, keyset(10).after(pgcoro::detail::encode_cursor(c, "")),
                          client_errc::invalid_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_text_cursor_value_that_is_not_utf8)
{
    // The server would refuse such a parameter with an SQL error (22021): the client refuses
    // the cursor before sending anything.
    auto q = pgcoro::select<item>().order_by(&item::title);
    for (std::string bad : {std::string("\xff"), std::string("a\xc3"), std::string("\xc0\xaf"),
                            std::string("\xed\xa0\x80"), std::string("\xf4\x90\x80\x80")}) {
        cursor_data c{false, fingerprint_of(q), {value_of(bad), value_of(int8_bytes(42))}};
        expect_invalid_keyset(q, keyset(10).after(pgcoro::detail::encode_cursor(c, "")),
                              client_errc::invalid_cursor);
    }
    cursor_data fine{false,
                     fingerprint_of(q),
                     {value_of(std::string("\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80")), value_of(int8_bytes(42))}};
    BOOST_TEST(keyset_sql(q, keyset(10).after(pgcoro::detail::encode_cursor(fine, ""))).find("> ($1, $2)") !=
               std::string::npos);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_null_cursor_value_for_a_non_nullable_key)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    cursor_data null_rank{false, fingerprint_of(q), {null_value(), value_of(int8_bytes(42))}};
    expect_invalid_keyset(q, keyset(10).after(pgcoro::detail::encode_cursor(null_rank, "")),
                          client_errc::invalid_cursor);
    cursor_data null_id{false, fingerprint_of(q), {value_of(int8_bytes(7)), null_value()}};
    expect_invalid_keyset(q, keyset(10).after(pgcoro::detail::encode_cursor(null_id, "")),
                          client_errc::invalid_cursor);
    cursor_data null_before{true, fingerprint_of(q), {null_value(), value_of(int8_bytes(42))}};
    expect_invalid_keyset(q, keyset(10).before(pgcoro::detail::encode_cursor(null_before, "")),
                          client_errc::invalid_cursor);
    // Mixed directions take the expanded path, which must refuse it too.
    auto mixed = pgcoro::select<item>().order_by(pgcoro::desc(&item::rank));
    mixed.order_by(pgcoro::asc(&item::id));
    cursor_data null_mixed{false, fingerprint_of(mixed), {null_value(), value_of(int8_bytes(42))}};
    expect_invalid_keyset(mixed, keyset(10).after(pgcoro::detail::encode_cursor(null_mixed, "")),
                          client_errc::invalid_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_accepts_a_null_cursor_value_for_a_nullable_key)
{
    auto q = pgcoro::select<item>().order_by(pgcoro::asc(&item::label).nulls_first());
    cursor_data c{false, fingerprint_of(q), {null_value(), value_of(int8_bytes(42))}};
    BOOST_CHECK_NO_THROW(
        pgcoro::detail::plan_keyset(q, keyset(10).after(pgcoro::detail::encode_cursor(c, ""))));
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_cursor_signed_with_another_key)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    const std::string token = cursor_of(q, sample_item(), false, keyset(10).signing_key("k"));
    expect_invalid_keyset(q, keyset(10).signing_key("other").after(token), client_errc::invalid_cursor);
    expect_invalid_keyset(q, keyset(10).signing_key("K").after(token), client_errc::invalid_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_an_unsigned_cursor_when_a_signing_key_is_set)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    expect_invalid_keyset(q, keyset(10).signing_key("k").after(next_cursor(q, sample_item())),
                          client_errc::invalid_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_signed_cursor_when_no_signing_key_is_set)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    const std::string token = cursor_of(q, sample_item(), false, keyset(10).signing_key("k"));
    expect_invalid_keyset(q, keyset(10).after(token), client_errc::invalid_cursor);
}

BOOST_AUTO_TEST_CASE(keyset_rejects_a_signed_cursor_with_any_character_changed)
{
    auto q = pgcoro::select<item>().order_by(&item::rank);
    const std::string token = cursor_of(q, sample_item(), false, keyset(10).signing_key("k"));
    for (std::size_t i = 0; i < token.size(); ++i) {
        std::string tampered = token;
        tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
        BOOST_TEST_CONTEXT("character " << i)
        {
            expect_invalid_keyset(q, keyset(10).signing_key("k").after(tampered),
                                  client_errc::invalid_cursor);
        }
    }
}

BOOST_AUTO_TEST_CASE(keyset_hostile_cursor_values_never_reach_the_sql_text)
{
    const std::string hostile = "'; DROP TABLE items; --\\\"";
    auto q = pgcoro::select<item>().order_by(&item::title, pgcoro::asc(&item::label).nulls_last());
    item row = sample_item();
    row.title = hostile;
    row.label = hostile;
    for (const std::string& token : {next_cursor(q, row), previous_cursor(q, row)}) {
        pgcoro::sql_statement s = pgcoro::detail::plan_keyset(q, keyset(10).cursor(token)).query.render();
        BOOST_TEST(s.sql().find("DROP") == std::string::npos);
        BOOST_TEST(s.sql().find('\'') == std::string::npos);
        BOOST_TEST(s.describe().find("DROP") == std::string::npos);
        auto parameters = parameters_of(s);
        BOOST_TEST((parameters[0] == std::optional<std::string>(hostile)));
    }
}

BOOST_AUTO_TEST_SUITE_END()
