// Offset and keyset paging against the real server: every row exactly once and in the order
// of a plain ORDER BY query (duplicate sort values, mixed directions, NULLs at page
// boundaries, both ways), totals and neighbours, the count pipelined with the page, filters,
// soft delete, eager loaders and subset rows on pages, walks undisturbed by concurrent inserts
// and deletes, signed and foreign cursors refused before anything is sent, and the index plan
// of the row-comparison seek.

#include "model_support.hpp"

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using boost::uuids::uuid;
using model_test::Post;
using model_test::PostTag;
using model_test::User;
using pgcoro::client_errc;
using pgcoro::col;
using pgcoro::keyset;
using pgcoro::page_options;
using event_kind = pgcoro::query_event::kind;
using namespace std::chrono_literals;

namespace {

/// A subset of User's columns, for select<User>().into<UserContact>().
struct UserContact {
    std::int64_t id = 0;
    std::string email;
};
BOOST_DESCRIBE_STRUCT(UserContact, (), (id, email))

// ---- the query log --------------------------------------------------------------------------

/// One event of the query log.
struct logged_statement {
    event_kind type = event_kind::statement;
    std::string sql;
    std::size_t batch_size = 0;
    std::uint64_t rows = 0;
};

/// The statements a pool's connections report through pool_options::on_query.
class statement_log {
public:
    std::function<void(const pgcoro::query_event&)> hook()
    {
        return [this](const pgcoro::query_event& e) {
            std::lock_guard guard(mutex_);
            events_.push_back({e.type, std::string(e.sql), e.batch_size, e.rows});
        };
    }
    /// The events since the last take().
    std::vector<logged_statement> take()
    {
        std::lock_guard guard(mutex_);
        return std::exchange(events_, {});
    }

private:
    std::mutex mutex_;
    std::vector<logged_statement> events_;
};

/// The test schema's pool options with `log` listening.
pgcoro::pool_options logged_options(statement_log& log)
{
    pgcoro::pool_options o = model_test::pool_options();
    o.on_query = log.hook();
    return o;
}

// ---- seeding ----------------------------------------------------------------------------------

/// `count` users user1@example.com ... (ids 1..count in a fresh table), named by the SQL
/// expression `name_sql` of g, the user's number.
asio::awaitable<void> seed_users(pgcoro::queryable& s, std::int64_t count, std::string_view name_sql)
{
    const std::string sql = "INSERT INTO users (email, name) SELECT 'user' || g || '@example.com', " +
                            std::string(name_sql) + " FROM generate_series(1, $1::bigint) AS g";
    co_await s.execute(sql, count);
}

/// `authors` users and `posts` posts spread evenly over them (post g to author g % authors),
/// titled 'title 0' ... 'title 6' in turn.
asio::awaitable<void> seed_posts(pgcoro::queryable& s, std::int64_t authors, std::int64_t posts)
{
    co_await s.execute("INSERT INTO users (email) SELECT 'author' || g || '@example.com' "
                       "FROM generate_series(1, $1::bigint) AS g",
                       authors);
    co_await s.execute("INSERT INTO posts (author_id, title) SELECT u.id, 'title ' || (g % 7) "
                       "FROM generate_series(1, $1::bigint) AS g "
                       "JOIN users u ON u.email = 'author' || (g % $2::bigint + 1) || '@example.com'",
                       posts, authors);
}

/// Inserts a user from `other` after `delay`.
asio::awaitable<void> insert_user_after(pgcoro::queryable& other, std::chrono::milliseconds delay)
{
    asio::steady_timer timer(co_await asio::this_coro::executor);
    timer.expires_after(delay);
    co_await timer.async_wait(asio::use_awaitable);
    co_await other.execute("INSERT INTO users (email) VALUES ('late@example.com')");
}

/// Authors author1 ... author12 and ten posts for each of the authors 2..11; returns the
/// authors' ids in order.
asio::awaitable<std::vector<std::int64_t>> seed_ten_posts_each(pgcoro::queryable& s)
{
    co_await s.execute("INSERT INTO users (email) SELECT 'author' || g || '@example.com' "
                       "FROM generate_series(1, 12) AS g");
    std::vector<std::int64_t> authors = co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY id");
    co_await s.execute("INSERT INTO posts (author_id, title) SELECT u.id, 'original' "
                       "FROM users u, generate_series(1, 10) WHERE u.id > $1 AND u.id < $2",
                       authors.front(), authors.back());
    co_return authors;
}

// ---- keys and checks ---------------------------------------------------------------------------

std::int64_t key_of(const User& u)
{
    return u.id;
}

uuid key_of(const Post& p)
{
    return p.id;
}

std::pair<uuid, std::int64_t> key_of(const PostTag& link)
{
    return {link.post_id, link.tag_id};
}

std::int64_t key_of(const UserContact& u)
{
    return u.id;
}

template <class T> auto keys_of(const std::vector<T>& rows)
{
    std::vector<decltype(key_of(rows.front()))> keys;
    for (const T& row : rows)
        keys.push_back(key_of(row));
    return keys;
}

/// `actual` equals `expected`, reported by sizes and the first difference (not a dump of
/// thousands of keys).
template <class K>
void check_same_sequence(const std::vector<K>& actual, const std::vector<K>& expected, std::string_view what)
{
    BOOST_TEST(actual.size() == expected.size(),
               what << ": " << actual.size() << " rows, expected " << expected.size());
    const std::size_t n = std::min(actual.size(), expected.size());
    std::size_t i = 0;
    while (i < n && actual[i] == expected[i])
        ++i;
    BOOST_TEST(i == n, what << ": first difference at row " << i);
}

/// No key occurs twice in `keys`.
template <class K> void check_each_once(const std::vector<K>& keys, std::string_view what)
{
    std::set<K> distinct(keys.begin(), keys.end());
    BOOST_TEST(distinct.size() == keys.size(),
               what << ": " << keys.size() - distinct.size() << " repeated rows");
}

// ---- walking pages -----------------------------------------------------------------------------

/// The page `request` names and every page after it, following `next` (at most `limit`).
template <class T>
asio::awaitable<std::vector<pgcoro::keyset_page<T>>> pages_after(pgcoro::queryable& s,
                                                                 const pgcoro::select_query<T, T>& query,
                                                                 const keyset& request, std::size_t limit)
{
    std::vector<pgcoro::keyset_page<T>> pages;
    pgcoro::keyset_page<T> p = co_await s.page(query, request);
    for (;;) {
        const std::optional<std::string> next = p.next;
        pages.push_back(std::move(p));
        if (!next)
            break;
        if (pages.size() >= limit)
            BOOST_FAIL("the forward walk did not end within " << limit << " pages");
        keyset following = request.after(*next);
        pgcoro::keyset_page<T> fetched = co_await s.page(query, following);
        p = std::move(fetched);
    }
    co_return pages;
}

/// The page `request` names and every page before it, following `previous` (at most
/// `limit`), in the order fetched (the last page of the query first).
template <class T>
asio::awaitable<std::vector<pgcoro::keyset_page<T>>> pages_before(pgcoro::queryable& s,
                                                                  const pgcoro::select_query<T, T>& query,
                                                                  const keyset& request, std::size_t limit)
{
    std::vector<pgcoro::keyset_page<T>> pages;
    pgcoro::keyset_page<T> p = co_await s.page(query, request);
    for (;;) {
        const std::optional<std::string> previous = p.previous;
        pages.push_back(std::move(p));
        if (!previous)
            break;
        if (pages.size() >= limit)
            BOOST_FAIL("the backward walk did not end within " << limit << " pages");
        keyset preceding = request.before(*previous);
        pgcoro::keyset_page<T> fetched = co_await s.page(query, preceding);
        p = std::move(fetched);
    }
    co_return pages;
}

/// The rows of `pages` in query order (`pages` as fetched; backward: last page first).
template <class T> std::vector<T> rows_of(const std::vector<pgcoro::keyset_page<T>>& pages, bool backward)
{
    std::vector<T> rows;
    auto append = [&](const pgcoro::keyset_page<T>& p) {
        rows.insert(rows.end(), p.items.begin(), p.items.end());
    };
    if (backward)
        std::for_each(pages.rbegin(), pages.rend(), append);
    else
        std::for_each(pages.begin(), pages.end(), append);
    return rows;
}

/// Walks `query` forward from its first page to the end, then backward from the last page to
/// the first, and checks each walk yields the keys `expected` (in query order) exactly once.
/// Returns the forward pages.
template <class T, class K>
asio::awaitable<std::vector<pgcoro::keyset_page<T>>>
check_walks(pgcoro::queryable& s, const pgcoro::select_query<T, T>& query, const keyset& request,
            const std::vector<K>& expected, std::string_view what)
{
    const std::size_t limit = expected.size() + 2;
    std::vector<pgcoro::keyset_page<T>> forward = co_await pages_after(s, query, request, limit);
    const std::vector<K> forward_keys = keys_of(rows_of(forward, false));
    const std::string label(what);
    check_each_once(forward_keys, label + " forward");
    check_same_sequence(forward_keys, expected, label + " forward");
    for (std::size_t i = 0; i < forward.size(); ++i) {
        const bool last = i + 1 == forward.size();
        BOOST_TEST(forward[i].items.size() <= static_cast<std::size_t>(request.per_page()),
                   what << " page " << i);
        if (!last)
            BOOST_TEST(forward[i].items.size() == static_cast<std::size_t>(request.per_page()),
                       what << " page " << i);
        BOOST_TEST(forward[i].has_next == !last, what << " page " << i);
        BOOST_TEST(forward[i].has_prev == (i > 0), what << " page " << i);
    }

    std::vector<K> backward_keys = keys_of(forward.back().items);
    if (forward.back().previous) {
        keyset start = request.before(*forward.back().previous);
        std::vector<pgcoro::keyset_page<T>> backward = co_await pages_before(s, query, start, limit);
        std::vector<K> earlier = keys_of(rows_of(backward, true));
        earlier.insert(earlier.end(), backward_keys.begin(), backward_keys.end());
        backward_keys = std::move(earlier);
        for (const pgcoro::keyset_page<T>& p : backward)
            BOOST_TEST(p.has_next, what << " backward pages all have a next page");
        BOOST_TEST(!backward.back().has_prev, what << " the first page has no previous page");
    }
    check_each_once(backward_keys, label + " backward");
    check_same_sequence(backward_keys, expected, label + " backward");
    co_return forward;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(paging_tests, model_test::schema_fixture)

// ---- offset paging -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(offset_pages_cover_every_row_exactly_once_in_query_order)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 1003, "CASE WHEN g % 11 = 0 THEN NULL ELSE 'name ' || (g % 13) END");
        std::vector<std::int64_t> expected =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY name, id");

        auto q = pgcoro::select<User>().order_by(&User::name);
        std::vector<std::int64_t> walked;
        for (std::int64_t number = 1; number <= 101; ++number) {
            pgcoro::page<User> p = co_await s.page(q, number, 10);
            BOOST_TEST(p.items.size() == (number < 101 ? 10u : 3u), "page " << number);
            BOOST_TEST(p.has_next == (number < 101), "page " << number);
            for (const User& u : p.items)
                walked.push_back(u.id);
        }
        check_each_once(walked, "offset pages");
        check_same_sequence(walked, expected, "offset pages");
    });
}

BOOST_AUTO_TEST_CASE(offset_page_reports_totals_and_neighbours_on_first_middle_and_last_pages)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 25, "'same'");
        auto q = pgcoro::select<User>().order_by(&User::email);

        pgcoro::page<User> first = co_await s.page(q, 1, 10);
        BOOST_TEST(first.items.size() == 10u);
        BOOST_TEST(first.page == 1);
        BOOST_TEST(first.per_page == 10);
        BOOST_TEST_REQUIRE(first.total.has_value());
        BOOST_TEST(*first.total == 25);
        BOOST_TEST_REQUIRE(first.pages.has_value());
        BOOST_TEST(*first.pages == 3);
        BOOST_TEST(first.has_next);
        BOOST_TEST(!first.has_prev);

        pgcoro::page<User> middle = co_await s.page(q, 2, 10);
        BOOST_TEST(middle.items.size() == 10u);
        BOOST_TEST(middle.page == 2);
        BOOST_TEST(*middle.total == 25);
        BOOST_TEST(*middle.pages == 3);
        BOOST_TEST(middle.has_next);
        BOOST_TEST(middle.has_prev);

        pgcoro::page<User> last = co_await s.page(q, 3, 10);
        BOOST_TEST(last.items.size() == 5u);
        BOOST_TEST(*last.total == 25);
        BOOST_TEST(*last.pages == 3);
        BOOST_TEST(!last.has_next);
        BOOST_TEST(last.has_prev);
    });
}

BOOST_AUTO_TEST_CASE(offset_page_beyond_the_last_is_empty_and_still_counts)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 25, "NULL");
        auto q = pgcoro::select<User>();
        const std::vector<std::int64_t> numbers{4, 1000};
        for (std::int64_t number : numbers) {
            pgcoro::page<User> beyond = co_await s.page(q, number, 10);
            BOOST_TEST(beyond.items.empty());
            BOOST_TEST(beyond.page == number);
            BOOST_TEST(*beyond.total == 25);
            BOOST_TEST(*beyond.pages == 3);
            BOOST_TEST(!beyond.has_next);
            BOOST_TEST(beyond.has_prev);
        }
    });
}

BOOST_AUTO_TEST_CASE(offset_page_that_ends_exactly_at_the_last_row_has_no_next)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 20, "NULL");
        auto q = pgcoro::select<User>();
        pgcoro::page<User> full = co_await s.page(q, 2, 10);
        BOOST_TEST(full.items.size() == 10u);
        BOOST_TEST(!full.has_next);
        BOOST_TEST(*full.pages == 2);
        pgcoro::page<User> before_it = co_await s.page(q, 1, 10);
        BOOST_TEST(before_it.has_next);
    });
}

BOOST_AUTO_TEST_CASE(offset_page_of_no_rows_has_zero_pages)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        auto q = pgcoro::select<User>();
        pgcoro::page<User> p = co_await s.page(q, 1, 10);
        BOOST_TEST(p.items.empty());
        BOOST_TEST(*p.total == 0);
        BOOST_TEST(*p.pages == 0);
        BOOST_TEST(!p.has_next);
        BOOST_TEST(!p.has_prev);
    });
}

BOOST_AUTO_TEST_CASE(offset_page_without_count_leaves_total_and_pages_unset)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 25, "NULL");
        const page_options uncounted{.count = false};
        auto q = pgcoro::select<User>();
        pgcoro::page<User> first = co_await s.page(q, 1, 10, uncounted);
        BOOST_TEST(first.items.size() == 10u);
        BOOST_TEST(!first.total.has_value());
        BOOST_TEST(!first.pages.has_value());
        BOOST_TEST(first.has_next);
        pgcoro::page<User> last = co_await s.page(q, 3, 10, uncounted);
        BOOST_TEST(last.items.size() == 5u);
        BOOST_TEST(!last.total.has_value());
        BOOST_TEST(!last.has_next);
        BOOST_TEST(last.has_prev);
    });
}

BOOST_AUTO_TEST_CASE(offset_page_fetches_rows_and_count_in_one_round_trip)
{
    statement_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log));
        auto s = co_await pool.session();
        co_await seed_users(s, 25, "NULL");
        log.take();
        auto q = pgcoro::select<User>().order_by(&User::email);
        pgcoro::page<User> p = co_await s.page(q, 2, 10);
        BOOST_TEST(p.items.size() == 10u);
        BOOST_TEST(*p.total == 25);
        std::vector<logged_statement> events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 2u);
        for (const logged_statement& e : events) {
            BOOST_TEST((e.type == event_kind::pipeline));
            BOOST_TEST(e.batch_size == 2u);
        }
        BOOST_TEST(events[0].sql.find("LIMIT") != std::string::npos);
        BOOST_TEST(events[1].sql.find("count(*)") != std::string::npos);
    });
}

BOOST_AUTO_TEST_CASE(offset_page_without_count_sends_only_the_page_query)
{
    statement_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log));
        auto s = co_await pool.session();
        co_await seed_users(s, 25, "NULL");
        log.take();
        const page_options uncounted{.count = false};
        auto q = pgcoro::select<User>();
        pgcoro::page<User> p = co_await s.page(q, 2, 10, uncounted);
        BOOST_TEST(p.items.size() == 10u);
        std::vector<logged_statement> events = log.take();
        BOOST_TEST_REQUIRE(events.size() == 1u);
        BOOST_TEST((events[0].type == event_kind::statement));
        BOOST_TEST(events[0].sql.find("count(*)") == std::string::npos);
    });
}

BOOST_AUTO_TEST_CASE(offset_page_honours_filters_and_soft_delete_in_rows_and_count)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        // 60 users: 'even' / 'odd' by number; every third soft-deleted.
        co_await seed_users(s, 60, "CASE WHEN g % 2 = 0 THEN 'even' ELSE 'odd' END");
        co_await s.execute("UPDATE users SET deleted_at = now() WHERE id % 3 = 0");
        std::vector<std::int64_t> expected = co_await s.query<std::int64_t>(
            "SELECT id FROM users WHERE name = 'even' AND deleted_at IS NULL ORDER BY id");
        BOOST_TEST_REQUIRE(expected.size() == 20u);

        auto q = pgcoro::select<User>().where(col(&User::name) == "even");
        std::vector<std::int64_t> walked;
        for (std::int64_t number = 1; number <= 3; ++number) {
            pgcoro::page<User> p = co_await s.page(q, number, 7);
            BOOST_TEST(*p.total == 20);
            BOOST_TEST(*p.pages == 3);
            BOOST_TEST(p.has_next == (number < 3));
            for (const User& u : p.items) {
                BOOST_TEST((u.name == std::optional<std::string>("even")));
                BOOST_TEST(!u.deleted_at.has_value());
                walked.push_back(u.id);
            }
        }
        check_same_sequence(walked, expected, "filtered pages");

        auto with_deleted = pgcoro::select<User>().where(col(&User::name) == "even").include_deleted();
        pgcoro::page<User> all = co_await s.page(with_deleted, 1, 7);
        BOOST_TEST(*all.total == 30);
        BOOST_TEST(*all.pages == 5);
    });
}

BOOST_AUTO_TEST_CASE(offset_page_total_agrees_with_its_rows_in_a_repeatable_read_transaction)
{
    // The count and the page are two statements in one round trip: under READ COMMITTED each
    // takes its own snapshot (documented), inside REPEATABLE READ they share one. Each row the
    // page reads here takes 100 ms (so does each row the count reads), and another session
    // commits a new row 250 ms in: after the rows' snapshot, before the count starts.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(2));
        auto s = co_await pool.session();
        auto other = co_await pool.session();
        co_await seed_users(s, 5, "NULL");
        auto slow = pgcoro::select<User>().where(
            pgcoro::predicate(pgcoro::detail::sql_builder("pg_sleep(0.1) IS NOT NULL")));
        pgcoro::transaction_options repeatable;
        repeatable.isolation = pgcoro::isolation_level::repeatable_read;
        auto tx = co_await s.begin(repeatable);
        bool inserted = false;
        auto executor = co_await asio::this_coro::executor;
        asio::co_spawn(executor, insert_user_after(other, 250ms),
                       [&](std::exception_ptr e) { inserted = !e; });
        pgcoro::page<User> p = co_await tx.page(slow, 1, 10);
        co_await tx.commit();
        BOOST_TEST(inserted);
        BOOST_TEST(p.items.size() == 5u);
        BOOST_TEST(!p.has_next);
        BOOST_TEST(*p.total == static_cast<std::int64_t>(p.items.size()),
                   "total " << *p.total << " but " << p.items.size() << " rows on the only page");
        BOOST_TEST(*p.pages == 1);
        std::int64_t now = co_await s.scalar<std::int64_t>("SELECT count(*) FROM users");
        BOOST_TEST(now == 6); // the insert did commit meanwhile
    });
}

BOOST_AUTO_TEST_CASE(offset_page_runs_selectin_loaders_on_its_rows)
{
    statement_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log));
        auto s = co_await pool.session();
        co_await seed_posts(s, 10, 37); // authors 1..10: 3 or 4 posts each
        co_await s.execute("INSERT INTO users (email) VALUES ('no.posts@example.com')");
        log.take();
        auto q = pgcoro::select<User>().order_by(&User::email).load(pgcoro::selectin(&User::posts));
        std::set<std::int64_t> seen;
        for (std::int64_t number = 1; number <= 3; ++number) {
            pgcoro::page<User> p = co_await s.page(q, number, 4);
            BOOST_TEST(*p.total == 11);
            for (const User& u : p.items) {
                seen.insert(u.id);
                BOOST_TEST_REQUIRE(u.posts.loaded());
                std::vector<uuid> expected =
                    co_await s.query<uuid>("SELECT id FROM posts WHERE author_id = $1 ORDER BY id", u.id);
                std::vector<uuid> loaded = keys_of(*u.posts);
                std::sort(loaded.begin(), loaded.end());
                BOOST_TEST((loaded == expected), u.email);
                for (const Post& post : *u.posts)
                    BOOST_TEST(post.author_id == u.id);
            }
        }
        BOOST_TEST(seen.size() == 11u);
        std::vector<logged_statement> events = log.take();
        BOOST_TEST_REQUIRE(!events.empty());
        BOOST_TEST((events[0].type == event_kind::pipeline && events[0].batch_size == 2u));
        BOOST_TEST(events[2].sql.find("\"posts\"") != std::string::npos); // the loader, after the page
    });
}

BOOST_AUTO_TEST_CASE(offset_page_with_joined_loader_counts_parents_not_joined_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_posts(s, 7, 21); // 7 authors with 3 posts each
        co_await s.execute("INSERT INTO users (email) VALUES ('b.no.posts@example.com')");
        auto q = pgcoro::select<User>().order_by(&User::email).load(pgcoro::joined(&User::posts));
        std::vector<std::int64_t> walked;
        for (std::int64_t number = 1; number <= 4; ++number) {
            pgcoro::page<User> p = co_await s.page(q, number, 2);
            BOOST_TEST(p.items.size() == 2u, "page " << number);
            BOOST_TEST(*p.total == 8);
            BOOST_TEST(*p.pages == 4);
            BOOST_TEST(p.has_next == (number < 4), "page " << number);
            for (const User& u : p.items) {
                walked.push_back(u.id);
                BOOST_TEST_REQUIRE(u.posts.loaded());
                BOOST_TEST(u.posts->size() == (u.email == "b.no.posts@example.com" ? 0u : 3u), u.email);
            }
        }
        std::vector<std::int64_t> expected =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY email");
        check_same_sequence(walked, expected, "joined pages");
    });
}

BOOST_AUTO_TEST_CASE(offset_page_decodes_subset_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 25, "NULL");
        auto q = pgcoro::select<User>().into<UserContact>().order_by(pgcoro::desc(&User::id));
        pgcoro::page<UserContact> p = co_await s.page(q, 2, 10);
        BOOST_TEST(p.items.size() == 10u);
        BOOST_TEST(*p.total == 25);
        BOOST_TEST(p.has_next);
        BOOST_TEST(p.items.front().id == 15);
        BOOST_TEST(p.items.front().email == "user15@example.com");
        BOOST_TEST(p.items.back().id == 6);
    });
}

BOOST_AUTO_TEST_CASE(offset_page_rejects_invalid_requests_before_sending_anything)
{
    statement_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log));
        auto s = co_await pool.session();
        co_await seed_users(s, 5, "NULL");
        log.take();
        auto q = pgcoro::select<User>();
        co_await test::expect_failure(s.page(q, 1, 0), client_errc::invalid_argument);
        co_await test::expect_failure(s.page(q, 1, -1), client_errc::invalid_argument);
        co_await test::expect_failure(s.page(q, 1, 1001), client_errc::invalid_argument);
        co_await test::expect_failure(s.page(q, 0, 10), client_errc::invalid_argument);
        co_await test::expect_failure(s.page(q, -5, 10), client_errc::invalid_argument);
        const page_options capped{.max_page = 3};
        co_await test::expect_failure(s.page(q, 4, 10, capped), client_errc::invalid_argument);
        co_await test::expect_failure(s.page(q, std::numeric_limits<std::int64_t>::max(), 10),
                                      client_errc::invalid_argument);
        auto limited = pgcoro::select<User>().limit(3);
        co_await test::expect_failure(s.page(limited, 1, 10), client_errc::invalid_argument);
        BOOST_TEST(log.take().empty());
        pgcoro::page<User> p = co_await s.page(q, 1, 10); // and the session goes on
        BOOST_TEST(p.items.size() == 5u);
    });
}

// ---- keyset paging -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(keyset_walk_forward_visits_every_row_once_in_query_order)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_posts(s, 100, 10000); // 100 posts per author_id
        std::vector<uuid> expected = co_await s.query<uuid>("SELECT id FROM posts ORDER BY author_id, id");
        auto q = pgcoro::select<Post>().order_by(&Post::author_id);
        const keyset request(50);
        std::vector<pgcoro::keyset_page<Post>> pages = co_await pages_after(s, q, request, 1000);
        BOOST_TEST(pages.size() == 200u);
        std::vector<uuid> walked = keys_of(rows_of(pages, false));
        check_each_once(walked, "forward");
        check_same_sequence(walked, expected, "forward");
        BOOST_TEST(!pages.front().has_prev);
        BOOST_TEST(!pages.back().has_next);
    });
}

BOOST_AUTO_TEST_CASE(keyset_walk_backward_from_the_end_visits_every_row_once_in_query_order)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_posts(s, 100, 10000);
        std::vector<uuid> expected = co_await s.query<uuid>("SELECT id FROM posts ORDER BY author_id, id");
        auto q = pgcoro::select<Post>().order_by(&Post::author_id);
        // To the end in big pages; back to the start in small ones (a cursor does not depend
        // on the page size).
        const keyset big(1000);
        std::vector<pgcoro::keyset_page<Post>> to_end = co_await pages_after(s, q, big, 100);
        BOOST_TEST_REQUIRE(to_end.size() == 10u);
        BOOST_TEST_REQUIRE(to_end.back().previous.has_value());
        keyset start = keyset(50).before(*to_end.back().previous);
        std::vector<pgcoro::keyset_page<Post>> back = co_await pages_before(s, q, start, 1000);
        BOOST_TEST(back.size() == 180u);
        std::vector<uuid> walked = keys_of(rows_of(back, true));
        std::vector<uuid> last_page = keys_of(to_end.back().items);
        walked.insert(walked.end(), last_page.begin(), last_page.end());
        check_each_once(walked, "backward");
        check_same_sequence(walked, expected, "backward");
        BOOST_TEST(!back.back().has_prev);
        BOOST_TEST(back.back().has_next);
    });
}

BOOST_AUTO_TEST_CASE(keyset_previous_then_next_returns_the_same_pages)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_posts(s, 5, 100);
        auto q = pgcoro::select<Post>().order_by(&Post::author_id);
        const keyset request(15);
        std::vector<pgcoro::keyset_page<Post>> pages = co_await pages_after(s, q, request, 100);
        BOOST_TEST_REQUIRE(pages.size() == 7u);
        // From page 4 back to page 3, then forward again to page 4.
        keyset back = keyset(15).before(*pages[3].previous);
        pgcoro::keyset_page<Post> third = co_await s.page(q, back);
        BOOST_TEST((keys_of(third.items) == keys_of(pages[2].items)));
        BOOST_TEST(third.has_prev);
        BOOST_TEST_REQUIRE(third.next.has_value());
        keyset forth = keyset(15).after(*third.next);
        pgcoro::keyset_page<Post> fourth = co_await s.page(q, forth);
        BOOST_TEST((keys_of(fourth.items) == keys_of(pages[3].items)));
        // The first page, reached backward, says there is nothing before it.
        keyset to_first = keyset(15).before(*pages[1].previous);
        pgcoro::keyset_page<Post> first = co_await s.page(q, to_first);
        BOOST_TEST((keys_of(first.items) == keys_of(pages[0].items)));
        BOOST_TEST(!first.has_prev);
        BOOST_TEST(first.has_next);
    });
}

BOOST_AUTO_TEST_CASE(keyset_mixed_directions_walk_in_query_order)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_posts(s, 20, 2000); // 7 distinct titles per author
        std::vector<uuid> expected =
            co_await s.query<uuid>("SELECT id FROM posts ORDER BY author_id ASC, title DESC, id ASC");
        auto q = pgcoro::select<Post>().order_by(pgcoro::asc(&Post::author_id), pgcoro::desc(&Post::title));
        const keyset request(37);
        co_await check_walks(s, q, request, expected, "author_id ASC, title DESC");
    });
}

BOOST_AUTO_TEST_CASE(keyset_mixed_directions_with_nullable_keys_walk_in_query_order)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 300, "CASE WHEN g % 5 = 0 THEN NULL ELSE 'name ' || (g % 3) END");
        co_await s.execute(
            "UPDATE users SET created_at = timestamptz '2024-01-01' + (id % 4) * interval '1 hour'");
        std::vector<std::int64_t> expected = co_await s.query<std::int64_t>(
            "SELECT id FROM users ORDER BY name ASC NULLS LAST, created_at DESC NULLS LAST, id ASC");
        auto q = pgcoro::select<User>().order_by(pgcoro::asc(&User::name).nulls_last(),
                                                 pgcoro::desc(&User::created_at).nulls_last());
        const keyset request(23);
        co_await check_walks(s, q, request, expected, "name ASC NULLS LAST, created_at DESC NULLS LAST");
        auto reverse = pgcoro::select<User>().order_by(pgcoro::desc(&User::name).nulls_first(),
                                                       pgcoro::asc(&User::created_at).nulls_first());
        std::vector<std::int64_t> reverse_expected = co_await s.query<std::int64_t>(
            "SELECT id FROM users ORDER BY name DESC NULLS FIRST, created_at ASC NULLS FIRST, id ASC");
        co_await check_walks(s, reverse, request, reverse_expected,
                             "name DESC NULLS FIRST, created_at ASC NULLS FIRST");
    });
}

BOOST_AUTO_TEST_CASE(keyset_nullable_key_with_nulls_first_walks_every_row_once_both_ways)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        // 40 users: a third without a name, the rest named 'a', 'b' or 'c'.
        co_await seed_users(s, 40,
                            "CASE WHEN g % 3 = 0 THEN NULL ELSE chr((97 + g % 3 + (g / 3) % 2)::int) END");
        std::vector<std::int64_t> ascending =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY name ASC NULLS FIRST, id");
        std::vector<std::int64_t> descending =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY name DESC NULLS FIRST, id");
        auto asc_q = pgcoro::select<User>().order_by(pgcoro::asc(&User::name).nulls_first());
        auto desc_q = pgcoro::select<User>().order_by(pgcoro::desc(&User::name).nulls_first());
        const std::vector<std::int64_t> sizes{1, 2, 3, 7, 13, 40, 41};
        for (std::int64_t per_page : sizes) {
            const keyset request(per_page);
            const std::string size = " per_page " + std::to_string(per_page);
            const std::string asc_q_label = "ASC NULLS FIRST" + size;
            co_await check_walks(s, asc_q, request, ascending, asc_q_label);
            const std::string desc_q_label = "DESC NULLS FIRST" + size;
            co_await check_walks(s, desc_q, request, descending, desc_q_label);
        }
    });
}

BOOST_AUTO_TEST_CASE(keyset_nullable_key_with_nulls_last_walks_every_row_once_both_ways)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 40,
                            "CASE WHEN g % 3 = 0 THEN NULL ELSE chr((97 + g % 3 + (g / 3) % 2)::int) END");
        std::vector<std::int64_t> ascending =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY name ASC NULLS LAST, id");
        std::vector<std::int64_t> descending =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY name DESC NULLS LAST, id");
        auto asc_q = pgcoro::select<User>().order_by(pgcoro::asc(&User::name).nulls_last());
        auto desc_q = pgcoro::select<User>().order_by(pgcoro::desc(&User::name).nulls_last());
        const std::vector<std::int64_t> sizes{1, 2, 3, 7, 13, 40, 41};
        for (std::int64_t per_page : sizes) {
            const keyset request(per_page);
            const std::string size = " per_page " + std::to_string(per_page);
            const std::string asc_q_label = "ASC NULLS LAST" + size;
            co_await check_walks(s, asc_q, request, ascending, asc_q_label);
            const std::string desc_q_label = "DESC NULLS LAST" + size;
            co_await check_walks(s, desc_q, request, descending, desc_q_label);
        }
    });
}

BOOST_AUTO_TEST_CASE(keyset_page_boundary_on_a_null_key_continues_among_the_nulls)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        // ids 1..4 named, 5..10 without a name: with NULLS LAST and 3 per page, the second
        // page ends on a NULL (id 6) and the third starts at the next NULL (id 7).
        co_await seed_users(s, 10, "CASE WHEN g <= 4 THEN 'x' END");
        auto q = pgcoro::select<User>().order_by(pgcoro::asc(&User::name).nulls_last());
        const keyset request(3);
        std::vector<pgcoro::keyset_page<User>> pages = co_await pages_after(s, q, request, 10);
        BOOST_TEST_REQUIRE(pages.size() == 4u);
        BOOST_TEST((keys_of(pages[1].items) == std::vector<std::int64_t>{4, 5, 6}));
        BOOST_TEST((keys_of(pages[2].items) == std::vector<std::int64_t>{7, 8, 9}));
        BOOST_TEST((keys_of(pages[3].items) == std::vector<std::int64_t>{10}));
        keyset back = keyset(3).before(*pages[2].previous);
        pgcoro::keyset_page<User> again = co_await s.page(q, back);
        BOOST_TEST((keys_of(again.items) == std::vector<std::int64_t>{4, 5, 6}));
    });
}

BOOST_AUTO_TEST_CASE(keyset_walk_is_undisturbed_by_inserts_and_deletes_between_pages)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(2));
        auto s = co_await pool.session();
        auto other = co_await pool.session();
        // Ten posts for each of the authors 1..10 (author 0 and 11 have none yet).
        std::vector<std::int64_t> authors = co_await seed_ten_posts_each(other);
        BOOST_TEST_REQUIRE(authors.size() == 12u);
        std::vector<uuid> original = co_await s.query<uuid>("SELECT id FROM posts ORDER BY author_id, id");
        BOOST_TEST_REQUIRE(original.size() == 100u);

        auto q = pgcoro::select<Post>().order_by(&Post::author_id);
        std::vector<Post> seen;
        const keyset first_page(10);
        pgcoro::keyset_page<Post> p = co_await s.page(q, first_page);
        std::set<uuid> inserted_before, inserted_after, deleted_ahead;
        for (int page = 1;; ++page) {
            BOOST_TEST_REQUIRE(page <= 50);
            seen.insert(seen.end(), p.items.begin(), p.items.end());
            if (!p.next)
                break;
            if (page == 3) {
                // The cursor is on the last post of authors[3]. Before it: posts of authors[0]
                // (before every row) and authors[2] (a page already read); after it: posts of
                // authors[4] (the very next page) and authors[11] (after every row).
                const std::string add = "INSERT INTO posts (author_id, title) SELECT $1, 'new' "
                                        "FROM generate_series(1, $2::bigint) RETURNING id";
                const std::int64_t four = 4;
                const std::vector<std::size_t> before_cursor{0, 2}, after_cursor{4, 11};
                for (std::size_t a : before_cursor) {
                    std::vector<uuid> ids = co_await other.query<uuid>(add, authors[a], four);
                    inserted_before.insert(ids.begin(), ids.end());
                }
                for (std::size_t a : after_cursor) {
                    std::vector<uuid> ids = co_await other.query<uuid>(add, authors[a], four);
                    inserted_after.insert(ids.begin(), ids.end());
                }
                // Deleted: the boundary row itself, a row already read, two rows not read yet.
                co_await other.execute("DELETE FROM posts WHERE id = $1", seen.back().id);
                co_await other.execute("DELETE FROM posts WHERE id = $1", seen.front().id);
                std::vector<uuid> ahead = co_await other.query<uuid>(
                    "DELETE FROM posts WHERE id IN (SELECT id FROM posts WHERE author_id = $1 ORDER BY id "
                    "LIMIT 2) RETURNING id",
                    authors[5]);
                deleted_ahead.insert(ahead.begin(), ahead.end());
            }
            if (page == 6) {
                // Again, with the next page's first rows deleted and rows inserted among them.
                std::vector<uuid> ahead = co_await other.query<uuid>(
                    "DELETE FROM posts WHERE id IN (SELECT id FROM posts WHERE author_id = $1 ORDER BY id "
                    "LIMIT 3) RETURNING id",
                    p.items.back().author_id + 1);
                deleted_ahead.insert(ahead.begin(), ahead.end());
                std::vector<uuid> ids =
                    co_await other.query<uuid>("INSERT INTO posts (author_id, title) SELECT $1, 'new' FROM "
                                               "generate_series(1, 3) RETURNING id",
                                               p.items.back().author_id + 1);
                inserted_after.insert(ids.begin(), ids.end());
            }
            keyset following = keyset(10).after(*p.next);
            pgcoro::keyset_page<Post> fetched = co_await s.page(q, following);
            p = std::move(fetched);
        }

        std::vector<uuid> walked = keys_of(seen);
        check_each_once(walked, "walk");
        std::multiset<uuid> counted(walked.begin(), walked.end());
        for (const uuid& id : inserted_before)
            BOOST_TEST(counted.count(id) == 0u, "a row inserted before the cursor appeared: " << id);
        for (const uuid& id : inserted_after)
            BOOST_TEST(counted.count(id) == 1u, "a row inserted after the cursor: " << id);
        for (const uuid& id : deleted_ahead)
            BOOST_TEST(counted.count(id) == 0u, "a row deleted before it was reached appeared: " << id);
        for (const uuid& id : original)
            if (!deleted_ahead.contains(id))
                BOOST_TEST(counted.count(id) == 1u, "an existing row was skipped: " << id);
        BOOST_TEST(walked.size() == original.size() - deleted_ahead.size() + inserted_after.size());
        for (std::size_t i = 1; i < seen.size(); ++i) {
            const bool ordered =
                std::tie(seen[i - 1].author_id, seen[i - 1].id) < std::tie(seen[i].author_id, seen[i].id);
            BOOST_TEST(ordered, "out of order at row " << i);
        }
    });
}

BOOST_AUTO_TEST_CASE(keyset_backward_walk_is_undisturbed_by_inserts_and_deletes_between_pages)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(2));
        auto s = co_await pool.session();
        auto other = co_await pool.session();
        std::vector<std::int64_t> authors = co_await seed_ten_posts_each(other);
        std::vector<uuid> original = co_await s.query<uuid>("SELECT id FROM posts ORDER BY author_id, id");
        BOOST_TEST_REQUIRE(original.size() == 100u);

        auto q = pgcoro::select<Post>().order_by(&Post::author_id);
        const keyset request(10);
        std::vector<pgcoro::keyset_page<Post>> to_end = co_await pages_after(s, q, request, 20);
        BOOST_TEST_REQUIRE(to_end.size() == 10u);
        std::vector<pgcoro::keyset_page<Post>> fetched{to_end.back()}; // walking backward from here
        std::set<uuid> inserted_behind, inserted_ahead, deleted_ahead;
        for (int page = 1; fetched.back().previous; ++page) {
            BOOST_TEST_REQUIRE(page <= 50);
            if (page == 3) {
                // The cursor is on the first post of authors[8]. Behind it (walked past already):
                // new posts of authors[11] and authors[9]; ahead of it: authors[7] (the very next
                // page) and authors[0] (before every row).
                const std::string add = "INSERT INTO posts (author_id, title) SELECT $1, 'new' "
                                        "FROM generate_series(1, 4) RETURNING id";
                const std::vector<std::size_t> behind{11, 9}, ahead{7, 0};
                for (std::size_t a : behind) {
                    std::vector<uuid> ids = co_await other.query<uuid>(add, authors[a]);
                    inserted_behind.insert(ids.begin(), ids.end());
                }
                for (std::size_t a : ahead) {
                    std::vector<uuid> ids = co_await other.query<uuid>(add, authors[a]);
                    inserted_ahead.insert(ids.begin(), ids.end());
                }
                // Deleted: the boundary row itself, and two rows not reached yet.
                co_await other.execute("DELETE FROM posts WHERE id = $1", fetched.back().items.front().id);
                std::vector<uuid> gone = co_await other.query<uuid>(
                    "DELETE FROM posts WHERE id IN (SELECT id FROM posts WHERE author_id = $1 ORDER BY id "
                    "LIMIT 2) RETURNING id",
                    authors[4]);
                deleted_ahead.insert(gone.begin(), gone.end());
            }
            const keyset preceding = request.before(*fetched.back().previous);
            pgcoro::keyset_page<Post> p = co_await s.page(q, preceding);
            fetched.push_back(std::move(p));
        }

        const std::vector<Post> rows = rows_of(fetched, true);
        std::vector<uuid> walked = keys_of(rows);
        check_each_once(walked, "backward walk");
        std::multiset<uuid> counted(walked.begin(), walked.end());
        for (const uuid& id : inserted_behind)
            BOOST_TEST(counted.count(id) == 0u, "a row inserted behind the cursor appeared: " << id);
        for (const uuid& id : inserted_ahead)
            BOOST_TEST(counted.count(id) == 1u, "a row inserted ahead of the cursor: " << id);
        for (const uuid& id : deleted_ahead)
            BOOST_TEST(counted.count(id) == 0u, "a row deleted before it was reached appeared: " << id);
        for (const uuid& id : original)
            if (!deleted_ahead.contains(id))
                BOOST_TEST(counted.count(id) == 1u, "an existing row was skipped: " << id);
        BOOST_TEST(walked.size() == original.size() - deleted_ahead.size() + inserted_ahead.size());
        for (std::size_t i = 1; i < rows.size(); ++i) {
            const bool ordered =
                std::tie(rows[i - 1].author_id, rows[i - 1].id) < std::tie(rows[i].author_id, rows[i].id);
            BOOST_TEST(ordered, "out of order at row " << i);
        }
    });
}

BOOST_AUTO_TEST_CASE(keyset_signed_cursors_round_trip)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 50, "NULL");
        std::vector<std::int64_t> expected =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY email, id");
        auto q = pgcoro::select<User>().order_by(&User::email);
        const keyset signed_pages = keyset(20).signing_key("k");
        std::vector<pgcoro::keyset_page<User>> pages =
            co_await check_walks(s, q, signed_pages, expected, "signed");
        BOOST_TEST_REQUIRE(pages.size() == 3u);
        // Signed with that key, and with no other.
        BOOST_CHECK_NO_THROW(pgcoro::detail::decode_cursor(*pages[0].next, "k"));
        const keyset unsigned_next = keyset(20).after(*pages[0].next);
        co_await test::expect_failure(s.page(q, unsigned_next), client_errc::invalid_cursor);
        const keyset other_key_next = keyset(20).signing_key("j").after(*pages[0].next);
        co_await test::expect_failure(s.page(q, other_key_next), client_errc::invalid_cursor);
    });
}

BOOST_AUTO_TEST_CASE(keyset_tampered_signed_cursor_is_rejected_and_the_session_stays_usable)
{
    statement_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log));
        auto s = co_await pool.session();
        co_await seed_users(s, 50, "NULL");
        auto q = pgcoro::select<User>().order_by(&User::email);
        const keyset signed_pages = keyset(20).signing_key("k");
        pgcoro::keyset_page<User> first = co_await s.page(q, signed_pages);
        BOOST_TEST_REQUIRE(first.next.has_value());
        const std::string token = *first.next;
        log.take();
        const std::vector<std::size_t> positions{0, token.size() / 2, token.size() - 1};
        for (std::size_t at : positions) {
            std::string tampered = token;
            tampered[at] = tampered[at] == 'A' ? 'B' : 'A';
            const keyset request = signed_pages.after(tampered);
            co_await test::expect_failure(s.page(q, request), client_errc::invalid_cursor);
        }
        BOOST_TEST(log.take().empty()); // refused before anything was sent
        const keyset genuine = signed_pages.after(token);
        pgcoro::keyset_page<User> second = co_await s.page(q, genuine);
        std::vector<std::int64_t> expected =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY email OFFSET 20 LIMIT 20");
        BOOST_TEST((keys_of(second.items) == expected));
        std::int64_t one = co_await s.scalar<std::int64_t>("SELECT 1::bigint");
        BOOST_TEST(one == 1);
    });
}

BOOST_AUTO_TEST_CASE(keyset_cursor_of_another_ordering_is_rejected_before_sending_anything)
{
    statement_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log));
        auto s = co_await pool.session();
        co_await seed_users(s, 30, "'n' || g % 4");
        auto by_email = pgcoro::select<User>().order_by(&User::email);
        const keyset first_page(10);
        pgcoro::keyset_page<User> first = co_await s.page(by_email, first_page);
        BOOST_TEST_REQUIRE(first.next.has_value());
        log.take();
        auto by_name = pgcoro::select<User>().order_by(pgcoro::desc(&User::name).nulls_last());
        const keyset after_first = keyset(10).after(*first.next);
        co_await test::expect_failure(s.page(by_name, after_first), client_errc::invalid_cursor);
        auto by_email_desc = pgcoro::select<User>().order_by(pgcoro::desc(&User::email));
        co_await test::expect_failure(s.page(by_email_desc, after_first), client_errc::invalid_cursor);
        auto posts = pgcoro::select<Post>().order_by(&Post::title);
        co_await test::expect_failure(s.page(posts, after_first), client_errc::invalid_cursor);
        const keyset next_as_previous = keyset(10).before(*first.next);
        co_await test::expect_failure(s.page(by_email, next_as_previous), client_errc::invalid_cursor);
        const keyset garbage = keyset(10).after("garbage!");
        co_await test::expect_failure(s.page(by_email, garbage), client_errc::invalid_cursor);
        BOOST_TEST(log.take().empty());
        // The filter is not part of the ordering: a cursor carries over to a filtered query.
        auto filtered = pgcoro::select<User>().where(col(&User::name) == "n1").order_by(&User::email);
        pgcoro::keyset_page<User> continued = co_await s.page(filtered, after_first);
        std::vector<std::int64_t> expected = co_await s.query<std::int64_t>(
            "SELECT id FROM users WHERE name = 'n1' AND email > $1 ORDER BY email", first.items.back().email);
        BOOST_TEST(!expected.empty());
        BOOST_TEST((keys_of(continued.items) == expected));
    });
}

BOOST_AUTO_TEST_CASE(keyset_empty_cursor_is_the_first_page)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 30, "NULL");
        auto q = pgcoro::select<User>().order_by(pgcoro::desc(&User::email));
        const keyset first_page(10);
        pgcoro::keyset_page<User> first = co_await s.page(q, first_page);
        const std::vector<keyset> requests{keyset(10).after(""), keyset(10).before(""), keyset(10).cursor(""),
                                           keyset(10).signing_key("k").after("")};
        for (const keyset& request : requests) {
            pgcoro::keyset_page<User> p = co_await s.page(q, request);
            BOOST_TEST((keys_of(p.items) == keys_of(first.items)));
            BOOST_TEST(p.has_next);
            BOOST_TEST(!p.has_prev);
        }
    });
}

BOOST_AUTO_TEST_CASE(keyset_row_comparison_is_served_by_an_index_on_the_sort_column_and_id)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_posts(s, 100, 10000);
        co_await s.execute("CREATE INDEX ix_posts_author_id_id ON posts (author_id, id)");
        co_await s.execute_script("VACUUM ANALYZE posts");
        auto q = pgcoro::select<Post>().order_by(&Post::author_id);
        const keyset big(1000);
        std::vector<pgcoro::keyset_page<Post>> pages = co_await pages_after(s, q, big, 20);
        BOOST_TEST_REQUIRE(pages.size() == 10u);
        auto plan = pgcoro::detail::plan_keyset(q, keyset(20).after(*pages[4].next)); // the middle
        std::string text = co_await s.explain(plan.query.render());
        BOOST_TEST_INFO("plan:\n" << text);
        BOOST_TEST(text.find("Index Scan using ix_posts_author_id_id") != std::string::npos);
        BOOST_TEST(text.find("Index Cond: (ROW(") != std::string::npos);
        BOOST_TEST(text.find("Sort") == std::string::npos);
    });
}

BOOST_AUTO_TEST_CASE(keyset_page_sends_one_statement_per_page)
{
    statement_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log));
        auto s = co_await pool.session();
        co_await seed_users(s, 25, "NULL");
        log.take();
        auto q = pgcoro::select<User>().order_by(&User::email);
        const keyset request(10);
        std::vector<pgcoro::keyset_page<User>> pages = co_await pages_after(s, q, request, 10);
        BOOST_TEST(pages.size() == 3u);
        std::vector<logged_statement> events = log.take();
        BOOST_TEST(events.size() == 3u);
        for (const logged_statement& e : events) {
            BOOST_TEST((e.type == event_kind::statement));
            BOOST_TEST(e.sql.find("OFFSET") == std::string::npos);
            BOOST_TEST(e.sql.find("count(") == std::string::npos);
        }
    });
}

BOOST_AUTO_TEST_CASE(keyset_page_runs_selectin_loaders_on_its_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_posts(s, 10, 37);
        co_await s.execute("INSERT INTO users (email) VALUES ('no.posts@example.com')");
        auto q =
            pgcoro::select<User>().order_by(pgcoro::desc(&User::email)).load(pgcoro::selectin(&User::posts));
        std::vector<std::int64_t> expected =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY email DESC");
        const keyset request(4);
        std::vector<pgcoro::keyset_page<User>> pages =
            co_await check_walks(s, q, request, expected, "selectin");
        for (const User& u : rows_of(pages, false)) {
            BOOST_TEST_REQUIRE(u.posts.loaded());
            std::vector<uuid> want =
                co_await s.query<uuid>("SELECT id FROM posts WHERE author_id = $1 ORDER BY id", u.id);
            std::vector<uuid> loaded = keys_of(*u.posts);
            std::sort(loaded.begin(), loaded.end());
            BOOST_TEST((loaded == want), u.email);
        }
    });
}

BOOST_AUTO_TEST_CASE(keyset_page_with_joined_loader_pages_by_parents)
{
    statement_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log));
        auto s = co_await pool.session();
        co_await seed_posts(s, 9, 40); // 4 or 5 posts each
        co_await s.execute("INSERT INTO users (email) VALUES ('author5.5@example.com')");
        const keyset request(3);
        auto q = pgcoro::select<User>().order_by(&User::email).load(pgcoro::joined(&User::posts));
        std::vector<std::int64_t> expected =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY email");
        log.take();
        std::vector<pgcoro::keyset_page<User>> pages =
            co_await check_walks(s, q, request, expected, "joined");
        BOOST_TEST(pages.size() == 4u);
        // Each page reads per_page + 1 parents with their posts (at most 5 each), not every
        // parent after the cursor.
        for (const logged_statement& e : log.take())
            BOOST_TEST(e.rows <= 4u * 5u, e.rows << " rows for one page of 3 parents");
        for (const User& u : rows_of(pages, false)) {
            BOOST_TEST_REQUIRE(u.posts.loaded());
            std::int64_t want =
                co_await s.scalar<std::int64_t>("SELECT count(*) FROM posts WHERE author_id = $1", u.id);
            BOOST_TEST(u.posts->size() == static_cast<std::size_t>(want), u.email);
        }
    });
}

BOOST_AUTO_TEST_CASE(keyset_walk_by_the_primary_key_alone_visits_every_row_once)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 95, "NULL");
        std::vector<std::int64_t> expected =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY id DESC");
        auto q = pgcoro::select<User>().order_by(pgcoro::desc(&User::id));
        const keyset request(10);
        co_await check_walks(s, q, request, expected, "id DESC");
    });
}

BOOST_AUTO_TEST_CASE(keyset_walk_appends_every_column_of_a_composite_primary_key)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_posts(s, 10, 400);
        co_await s.execute("INSERT INTO tags (name) SELECT 'tag ' || g FROM generate_series(1, 3) AS g");
        co_await s.execute(
            "INSERT INTO post_tags (post_id, tag_id) SELECT p.id, t.id FROM posts p CROSS JOIN tags t");
        std::vector<PostTag> ascending_rows =
            co_await s.query<PostTag>("SELECT post_id, tag_id FROM post_tags ORDER BY tag_id, post_id");
        std::vector<PostTag> descending_rows =
            co_await s.query<PostTag>("SELECT post_id, tag_id FROM post_tags ORDER BY tag_id DESC, post_id");
        const auto ascending = keys_of(ascending_rows);
        const auto descending = keys_of(descending_rows);
        BOOST_TEST_REQUIRE(ascending.size() == 1200u);
        const keyset request(47);
        auto asc_q = pgcoro::select<PostTag>().order_by(&PostTag::tag_id); // row comparison
        co_await check_walks(s, asc_q, request, ascending, "tag_id ASC, post_id ASC");
        auto desc_q = pgcoro::select<PostTag>().order_by(pgcoro::desc(&PostTag::tag_id)); // mixed directions
        co_await check_walks(s, desc_q, request, descending, "tag_id DESC, post_id ASC");
    });
}

BOOST_AUTO_TEST_CASE(keyset_cursor_either_way_follows_next_and_previous)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 30, "NULL");
        auto q = pgcoro::select<User>().order_by(&User::email);
        std::vector<std::int64_t> expected =
            co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY email");
        const keyset first_page(10);
        pgcoro::keyset_page<User> first = co_await s.page(q, first_page);
        const keyset forward = keyset(10).cursor(*first.next);
        pgcoro::keyset_page<User> second = co_await s.page(q, forward);
        BOOST_TEST((keys_of(second.items) ==
                    std::vector<std::int64_t>(expected.begin() + 10, expected.begin() + 20)));
        BOOST_TEST_REQUIRE(second.previous.has_value());
        const keyset backward = keyset(10).cursor(*second.previous);
        pgcoro::keyset_page<User> again = co_await s.page(q, backward);
        BOOST_TEST((keys_of(again.items) == keys_of(first.items)));
        BOOST_TEST(!again.has_prev);
    });
}

BOOST_AUTO_TEST_CASE(keyset_page_emptied_meanwhile_still_links_back)
{
    // Every row after the cursor deleted before the page is fetched: the page is empty, but it
    // is not the first page, so there is a page before it (and, going backward, one after it).
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 30, "NULL");
        auto q = pgcoro::select<User>().order_by(&User::id);
        const keyset first_page(10);
        pgcoro::keyset_page<User> first = co_await s.page(q, first_page);
        const keyset second_page = keyset(10).after(*first.next);
        pgcoro::keyset_page<User> second = co_await s.page(q, second_page);
        BOOST_TEST_REQUIRE(second.next.has_value());
        BOOST_TEST_REQUIRE(second.previous.has_value());
        co_await s.execute("DELETE FROM users WHERE id > 20 OR id <= 10");

        const keyset third_page = keyset(10).after(*second.next);
        pgcoro::keyset_page<User> third = co_await s.page(q, third_page);
        BOOST_TEST(third.items.empty());
        BOOST_TEST(!third.has_next);
        BOOST_TEST_REQUIRE(third.has_prev, "the page after page 2 offers no way back");
        const std::vector<std::int64_t> page_two = keys_of(second.items);
        const keyset from_third = keyset(10).before(*third.previous);
        pgcoro::keyset_page<User> back_to_second = co_await s.page(q, from_third);
        BOOST_TEST((keys_of(back_to_second.items) == page_two));

        const keyset back_page = keyset(10).before(*second.previous);
        pgcoro::keyset_page<User> back = co_await s.page(q, back_page);
        BOOST_TEST(back.items.empty());
        BOOST_TEST(!back.has_prev);
        BOOST_TEST_REQUIRE(back.has_next, "the page before page 2 offers no way forward");
        const keyset from_back = keyset(10).after(*back.next);
        pgcoro::keyset_page<User> forward_to_second = co_await s.page(q, from_back);
        BOOST_TEST((keys_of(forward_to_second.items) == page_two));
    });
}

BOOST_AUTO_TEST_CASE(keyset_walk_leaves_out_soft_deleted_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 60, "'n' || g % 4");
        co_await s.execute("UPDATE users SET deleted_at = now() WHERE id % 3 = 0");
        auto q = pgcoro::select<User>().order_by(&User::email);
        std::vector<std::int64_t> visible =
            co_await s.query<std::int64_t>("SELECT id FROM users WHERE deleted_at IS NULL ORDER BY email");
        BOOST_TEST_REQUIRE(visible.size() == 40u);
        const keyset request(7);
        co_await check_walks(s, q, request, visible, "soft delete");
        std::vector<std::int64_t> all = co_await s.query<std::int64_t>("SELECT id FROM users ORDER BY email");
        auto everything = pgcoro::select<User>().order_by(&User::email).include_deleted();
        co_await check_walks(s, everything, request, all, "include_deleted");
    });
}

BOOST_AUTO_TEST_CASE(keyset_walk_continues_past_a_boundary_row_soft_deleted_meanwhile)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 30, "NULL");
        auto q = pgcoro::select<User>().order_by(&User::id);
        const keyset first_page(10);
        pgcoro::keyset_page<User> first = co_await s.page(q, first_page);
        BOOST_TEST_REQUIRE(first.next.has_value());
        bool removed = co_await s.soft_remove(first.items.back());
        BOOST_TEST(removed);
        const keyset next_page = keyset(10).after(*first.next);
        pgcoro::keyset_page<User> second = co_await s.page(q, next_page);
        BOOST_TEST(second.items.size() == 10u);
        BOOST_TEST(second.items.front().id == 11);
        BOOST_TEST(second.items.back().id == 20);
    });
}

BOOST_AUTO_TEST_CASE(keyset_rejects_invalid_requests_before_sending_anything)
{
    statement_log log;
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log));
        auto s = co_await pool.session();
        co_await seed_users(s, 5, "NULL");
        log.take();
        auto q = pgcoro::select<User>().order_by(&User::email);
        const std::vector<std::int64_t> bad_sizes{0, -1, 1001};
        for (std::int64_t per_page : bad_sizes) {
            const keyset request(per_page);
            co_await test::expect_failure(s.page(q, request), client_errc::invalid_argument);
        }
        const keyset request(10);
        auto nullable = pgcoro::select<User>().order_by(&User::name);
        co_await test::expect_failure(s.page(nullable, request), client_errc::invalid_argument);
        auto raw =
            pgcoro::select<User>().order_by(pgcoro::order_term(pgcoro::detail::sql_builder("random()")));
        co_await test::expect_failure(s.page(raw, request), client_errc::invalid_argument);
        auto limited = pgcoro::select<User>().order_by(&User::email).limit(2);
        co_await test::expect_failure(s.page(limited, request), client_errc::invalid_argument);
        BOOST_TEST(log.take().empty());
        pgcoro::keyset_page<User> p = co_await s.page(q, request); // and the session goes on
        BOOST_TEST(p.items.size() == 5u);
    });
}

BOOST_AUTO_TEST_CASE(keyset_forged_cursor_values_are_bound_not_interpolated)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await seed_users(s, 10, "NULL");
        auto q = pgcoro::select<User>().order_by(&User::email);
        // An unsigned cursor forged with a hostile email: it only picks where the page starts.
        User forged;
        forged.email = "user5@example.com'; DROP TABLE users; --";
        forged.id = 0;
        const std::string token =
            pgcoro::detail::cursor_for(pgcoro::detail::plan_keyset(q, keyset(10)), forged, false);
        const keyset request = keyset(10).after(token);
        pgcoro::keyset_page<User> p = co_await s.page(q, request);
        std::vector<std::string> emails;
        for (const User& u : p.items)
            emails.push_back(u.email);
        BOOST_TEST((emails == std::vector<std::string>{"user6@example.com", "user7@example.com",
                                                       "user8@example.com", "user9@example.com"}));
        std::int64_t users = co_await s.scalar<std::int64_t>("SELECT count(*) FROM users");
        BOOST_TEST(users == 10);
    });
}

BOOST_AUTO_TEST_SUITE_END()
