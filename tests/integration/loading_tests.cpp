// Eager loading (selectin and joined) against the real server: the right children for every
// parent of a 1000-user, 10 000-post dataset (checked against plain SQL), statement counts and
// round trips through the query log, chunk boundaries, soft delete, loader options, nesting,
// self-referencing trees, has_one, the joined loader's paging by parents, loading rows already
// fetched, and server errors, transactions and cancellation in the middle of a load.

#include "model_support.hpp"

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace asio = boost::asio;
using namespace std::chrono_literals;
using boost::uuids::uuid;
using model_test::Category;
using model_test::Comment;
using model_test::Post;
using model_test::PostTag;
using model_test::Profile;
using model_test::Tag;
using model_test::User;
using pgcoro::client_errc;
using pgcoro::col;
using pgcoro::joined;
using pgcoro::selectin;
using event_kind = pgcoro::query_event::kind;
using steady = std::chrono::steady_clock;

// ---- models of this file only (the shared tables, other relations) --------------------------

namespace {

/// users as the author of at most one post: a has_one over posts.author_id, which the schema
/// does not make unique, so an author of two posts has two matching rows.
struct SoleAuthor {
    std::int64_t id = 0;
    std::string email;
    pgcoro::related<std::optional<Post>> post;
};
BOOST_DESCRIBE_STRUCT(SoleAuthor, (), (id, email, post))

/// posts with two one-to-many relations on different tables: joining both multiplies the
/// rows (comments × post_tags rows per post), which the joined loader must undo.
struct LinkedPost {
    uuid id{};
    std::int64_t author_id = 0;
    std::string title;
    pgcoro::related<std::vector<Comment>> comments;
    pgcoro::related<std::vector<PostTag>> links;
};
BOOST_DESCRIBE_STRUCT(LinkedPost, (), (id, author_id, title, comments, links))

} // namespace

template <> struct pgcoro::model_traits<SoleAuthor> {
    static constexpr std::string_view table = "users";
    static constexpr auto primary_key = &SoleAuthor::id;
    static constexpr auto relations = std::tuple{pgcoro::has_one(&SoleAuthor::post, &Post::author_id)};
};

template <> struct pgcoro::model_traits<LinkedPost> {
    static constexpr std::string_view table = "posts";
    static constexpr auto primary_key = &LinkedPost::id;
    static constexpr auto relations = std::tuple{
        pgcoro::has_many(&LinkedPost::comments, &Comment::post_id),
        pgcoro::has_many(&LinkedPost::links, &PostTag::post_id),
    };
};

namespace {

// ---- the query log --------------------------------------------------------------------------

/// One event of the query log.
struct logged_statement {
    event_kind type = event_kind::statement;
    std::string sql;
    std::size_t batch_size = 0;
};

/// The statements a pool's connections report through pool_options::on_query (pgcoro's own
/// resets and pings are not reported).
class statement_log {
public:
    std::function<void(const pgcoro::query_event&)> hook()
    {
        return [this](const pgcoro::query_event& e) {
            std::lock_guard guard(mutex_);
            events_.push_back({e.type, std::string(e.sql), e.batch_size});
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

/// The round trips of `events`, as the statement count of each ("1 2 20"): a statement on its
/// own is one round trip; so are the batch_size events of one pipeline, which must arrive in a
/// row, each kind::pipeline with that batch_size ("broken" marks one that does not).
std::string round_trips(const std::vector<logged_statement>& events)
{
    std::string out;
    for (std::size_t i = 0; i < events.size();) {
        std::size_t size = 1;
        if (events[i].type == event_kind::pipeline) {
            size = events[i].batch_size;
            bool whole = size > 0 && i + size <= events.size();
            for (std::size_t j = i; whole && j < i + size; ++j)
                whole = events[j].type == event_kind::pipeline && events[j].batch_size == size;
            if (!whole) {
                out += out.empty() ? "broken" : " broken";
                ++i;
                continue;
            }
        }
        out += (out.empty() ? "" : " ") + std::to_string(size);
        i += size;
    }
    return out;
}

/// How many of `events` name `table` (quoted, as pgcoro renders it) in their statement.
std::size_t statements_on(const std::vector<logged_statement>& events, std::string_view table)
{
    const std::string quoted = "\"" + std::string(table) + "\"";
    return static_cast<std::size_t>(
        std::count_if(events.begin(), events.end(),
                      [&](const logged_statement& e) { return e.sql.find(quoted) != std::string::npos; }));
}

/// The test schema's pool options with `log` listening.
pgcoro::pool_options logged_options(statement_log& log, std::size_t size)
{
    pgcoro::pool_options o = model_test::pool_options(size);
    o.on_query = log.hook();
    return o;
}

// ---- the bulk dataset -----------------------------------------------------------------------

constexpr std::size_t user_count = 1000;
constexpr std::size_t post_count = 10000;
constexpr std::size_t users_without_posts = 100; // every tenth
constexpr std::size_t heavy_users = 10;          // the 1st, 101st, ... 901st: 200 posts each
constexpr std::size_t heavy_posts = 200;

/// Posts, tags, links, comments and profiles for the users insert_many stored (ids in
/// insertion order). Posts: 2000 for the ten heavy users, 8000 spread by a hash over the 890
/// others that are not every tenth (a handful to about twenty each). Titles are unique:
/// "alpha 00001", "beta 00002", ... (four prefixes in turn). Each post gets 0..3 of the 50
/// tags and 0..2 comments (no comment on about 60% of them); every third user a profile.
/// hashtext() is cast to bigint before abs(): abs(-2^31) overflows int4.
constexpr std::string_view seed_sql = R"sql(
WITH numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM users),
     heavy AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM numbered WHERE n % 100 = 1),
     regular AS (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM numbered
                 WHERE n % 10 <> 0 AND n % 100 <> 1)
INSERT INTO posts (author_id, title, body)
SELECT author, (ARRAY['alpha', 'beta', 'gamma', 'delta'])[g % 4 + 1] || ' ' || lpad(g::text, 5, '0'),
       CASE WHEN g % 3 = 0 THEN NULL ELSE 'body ' || g END
FROM (SELECT g, h.id AS author FROM generate_series(1, 2000) AS g JOIN heavy h ON h.k = g % 10
      UNION ALL
      SELECT g, r.id FROM generate_series(2001, 10000) AS g
      JOIN regular r ON r.k = abs(hashtext(g::text)::bigint) % 890) AS spread;
INSERT INTO tags (name) SELECT 'tag ' || lpad(g::text, 2, '0') FROM generate_series(1, 50) AS g;
INSERT INTO post_tags (post_id, tag_id)
SELECT DISTINCT p.id, t.id
FROM posts p
CROSS JOIN LATERAL generate_series(1, abs(hashtext(p.id::text)::bigint) % 4) AS k
JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM tags) t
  ON t.n = abs(hashtext(p.id::text || ':' || k)::bigint) % 50;
INSERT INTO comments (post_id, body)
SELECT p.id, 'comment ' || k || ' on ' || p.title
FROM posts p CROSS JOIN LATERAL generate_series(1, abs(hashtext(p.id::text || ':c')::bigint) % 5 - 2) AS k;
INSERT INTO profiles (user_id, data) SELECT id, jsonb_build_object('user', id) FROM users WHERE id % 3 = 0;
)sql";

/// Seeds the bulk dataset (see seed_sql): 1000 users through insert_many (COPY at that size).
asio::awaitable<void> seed_dataset(pgcoro::queryable& db)
{
    std::vector<User> users;
    users.reserve(user_count);
    for (std::size_t i = 1; i <= user_count; ++i) {
        std::optional<std::string> name;
        if (i % 7 != 0)
            name = "User " + std::to_string(i);
        users.push_back(model_test::new_user("user" + std::to_string(i) + "@example.com", name));
    }
    co_await db.insert_many(users);
    co_await db.execute_script(seed_sql);
}

// Expected children, computed by plain SQL: (parent key, child key) rows in the order a loader
// must produce them (the child's primary key unless told otherwise).
constexpr std::string_view live_posts_by_author =
    "SELECT author_id, id FROM posts WHERE deleted_at IS NULL ORDER BY author_id, id";
constexpr std::string_view tags_by_post = "SELECT post_id, tag_id FROM post_tags ORDER BY post_id, tag_id";
constexpr std::string_view comments_by_post = "SELECT post_id, id FROM comments ORDER BY post_id, id";
constexpr std::string_view profiles_by_user = "SELECT user_id, user_id FROM profiles ORDER BY user_id";
constexpr std::string_view categories_by_parent =
    "SELECT parent_id, id FROM categories WHERE parent_id IS NOT NULL ORDER BY parent_id, id";

template <class K, class V> using children_of = std::map<K, std::vector<V>>;

/// The two-column rows of `sql` grouped by their first column, in the query's order.
template <class K, class V>
asio::awaitable<children_of<K, V>> expected_children(pgcoro::queryable& db, std::string_view sql)
{
    std::vector<std::tuple<K, V>> rows = co_await db.query<std::tuple<K, V>>(sql);
    children_of<K, V> out;
    for (const auto& row : rows)
        out[std::get<0>(row)].push_back(std::get<1>(row));
    co_return out;
}

template <class V> std::string list(const std::vector<V>& values)
{
    std::ostringstream out;
    out << "[";
    for (std::size_t i = 0; i < values.size(); ++i)
        out << (i ? " " : "") << values[i];
    out << "]";
    return out.str();
}

/// Compares each parent's loaded children with the expected ones (none when the parent is not
/// in the map): in order, or as sets. Reports the first five differences, counts them all.
template <class K, class V> class children_check {
public:
    children_check(const children_of<K, V>& expected, bool ordered) : expected_(expected), ordered_(ordered)
    {}

    void check(const K& parent, std::vector<V> loaded)
    {
        ++parents_;
        children_ += loaded.size();
        auto it = expected_.find(parent);
        std::vector<V> wanted = it == expected_.end() ? std::vector<V>{} : it->second;
        if (!ordered_) {
            std::sort(loaded.begin(), loaded.end());
            std::sort(wanted.begin(), wanted.end());
        }
        if (loaded != wanted && ++mismatched_ <= 5)
            BOOST_TEST_MESSAGE("parent " << parent << ": loaded " << list(loaded) << ", expected "
                                         << list(wanted));
    }

    std::size_t mismatched() const noexcept { return mismatched_; }
    std::size_t parents() const noexcept { return parents_; }
    std::size_t children() const noexcept { return children_; }

private:
    const children_of<K, V>& expected_;
    bool ordered_;
    std::size_t mismatched_ = 0;
    std::size_t parents_ = 0;
    std::size_t children_ = 0;
};

template <class K, class V> std::size_t total_children(const children_of<K, V>& m)
{
    std::size_t n = 0;
    for (const auto& entry : m)
        n += entry.second.size();
    return n;
}

/// The ids of rows, in order.
template <class T> auto ids_of(const std::vector<T>& rows)
{
    std::vector<std::remove_cvref_t<decltype(rows.front().id)>> ids;
    for (const T& row : rows)
        ids.push_back(row.id);
    return ids;
}

std::vector<std::int64_t> profile_ids(const std::optional<Profile>& profile)
{
    std::vector<std::int64_t> ids;
    if (profile)
        ids.push_back(profile->user_id);
    return ids;
}

std::vector<std::int64_t> link_tags(const std::vector<PostTag>& links)
{
    std::vector<std::int64_t> ids;
    for (const PostTag& l : links)
        ids.push_back(l.tag_id);
    return ids;
}

asio::awaitable<std::vector<User>> all_users(pgcoro::queryable& db)
{
    auto q = pgcoro::select<User>().order_by(&User::id);
    std::vector<User> users = co_await db.all(q);
    co_return users;
}

asio::awaitable<std::vector<Post>> all_posts(pgcoro::queryable& db)
{
    auto q = pgcoro::select<Post>().order_by(&Post::id);
    std::vector<Post> posts = co_await db.all(q);
    co_return posts;
}

/// The id of the first user with `posts` live posts (the seeded heavy users have 200).
asio::awaitable<std::int64_t> user_with_posts(pgcoro::queryable& db, std::int64_t posts)
{
    std::int64_t id = co_await db.scalar<std::int64_t>(
        "SELECT author_id FROM posts WHERE deleted_at IS NULL GROUP BY author_id HAVING count(*) = $1 "
        "ORDER BY author_id LIMIT 1",
        posts);
    co_return id;
}

std::vector<User> first_users(const std::vector<User>& users, std::size_t n)
{
    return std::vector<User>(users.begin(), users.begin() + static_cast<std::ptrdiff_t>(n));
}

// ---- small fixtures -------------------------------------------------------------------------

/// Three users: ann (posts "a1", "a2"), bob (post "b1"), cid (no post). Returned as stored.
struct blog {
    std::vector<User> users;
    std::vector<Post> posts;
};

asio::awaitable<blog> seed_blog(pgcoro::queryable& db)
{
    blog b;
    std::vector<User> users{model_test::new_user("ann@example.com", "Ann"),
                            model_test::new_user("bob@example.com", "Bob"),
                            model_test::new_user("cid@example.com", std::nullopt)};
    b.users = co_await db.insert_many_returning(users);
    std::vector<Post> posts{model_test::new_post(b.users[0].id, "a1"),
                            model_test::new_post(b.users[0].id, "a2"),
                            model_test::new_post(b.users[1].id, "b1")};
    b.posts = co_await db.insert_many_returning(posts);
    co_return b;
}

/// A category tree four levels deep: roots "a" and "b" with three children each, each of those
/// with two, and two again ("a.1.2.1"); and a root "lonely" without children. 45 rows.
constexpr std::string_view tree_sql = R"sql(
INSERT INTO categories (parent_id, name) VALUES (NULL, 'a'), (NULL, 'b'), (NULL, 'lonely');
INSERT INTO categories (parent_id, name)
SELECT c.id, c.name || '.' || g FROM categories c, generate_series(1, 3) AS g
WHERE c.parent_id IS NULL AND c.name <> 'lonely';
INSERT INTO categories (parent_id, name)
SELECT c.id, c.name || '.' || g FROM categories c, generate_series(1, 2) AS g WHERE c.name ~ '^[a-z]+\.[0-9]+$';
INSERT INTO categories (parent_id, name)
SELECT c.id, c.name || '.' || g FROM categories c, generate_series(1, 2) AS g
WHERE c.name ~ '^[a-z]+(\.[0-9]+){2}$';
)sql";
constexpr std::size_t tree_size = 45;

/// 1 for a root, 4 for a leaf: one more than the dots in the name.
std::size_t depth_of(const Category& c)
{
    return 1 + static_cast<std::size_t>(std::count(c.name.begin(), c.name.end(), '.'));
}

// ---- cancellation (the pattern of session_fault_tests.cpp) ---------------------------------

/// Runs `op` and cancels it: after `delay`, or with `at_first_wait` as soon as it first waits
/// (the cancellation is posted behind its start). Returns how it failed, if it did.
template <class T>
asio::awaitable<std::exception_ptr> run_cancelled(asio::awaitable<T> op, std::chrono::microseconds delay,
                                                  bool at_first_wait)
{
    auto ex = co_await asio::this_coro::executor;
    if (!at_first_wait) {
        asio::steady_timer timer(ex, delay);
        auto outcome =
            co_await asio::experimental::make_parallel_group(
                asio::co_spawn(ex, std::move(op), asio::deferred), timer.async_wait(asio::deferred))
                .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        co_return std::get<1>(outcome);
    }
    asio::cancellation_signal signal;
    bool finished = false;
    std::exception_ptr failure;
    auto done = [&](std::exception_ptr e, auto&&...) {
        finished = true;
        failure = e;
    };
    asio::co_spawn(ex, std::move(op), asio::bind_cancellation_slot(signal.slot(), done));
    asio::post(ex, [&] {
        if (!finished)
            signal.emit(asio::cancellation_type::terminal);
    });
    while (!finished)
        co_await test::sleep_for(1ms);
    co_return failure;
}

/// A cancellation as the awaiting coroutine sees it: pgcoro's operation_aborted, or Asio's
/// when the coroutine was already cancelled at its next co_await.
bool is_cancellation(const std::exception_ptr& failure)
{
    if (!failure)
        return false;
    try {
        std::rethrow_exception(failure);
    } catch (const pgcoro::error& e) {
        return e.code() == client_errc::operation_aborted;
    } catch (const boost::system::system_error& e) {
        return e.code() == asio::error::operation_aborted;
    } catch (...) {
        return false;
    }
}

/// As test::wait_returned, with a limit for a busy machine (10 s).
asio::awaitable<void> wait_all_returned(pgcoro::pool& pool)
{
    for (int i = 0; i < 1000 && pool.stats().checked_out != 0; ++i)
        co_await test::sleep_for(10ms);
    BOOST_TEST(pool.stats().checked_out == 0u);
}

/// The first 200 users with posts (and their tags and comments) and profiles: three levels,
/// two of them pipelined. Returns the number of posts loaded.
asio::awaitable<std::size_t> load_first_users(pgcoro::pool& pool)
{
    auto s = co_await pool.session();
    auto q = pgcoro::select<User>().order_by(&User::id).limit(200).load(
        selectin(&User::posts).with(selectin(&Post::tags), selectin(&Post::comments)),
        selectin(&User::profile));
    std::vector<User> users = co_await s.all(q);
    std::size_t posts = 0;
    for (const User& u : users)
        posts += u.posts->size();
    co_return posts;
}

// ---- the same relation named twice ---------------------------------------------------------

/// Loads users with `q`; returns what it threw, if anything.
asio::awaitable<std::exception_ptr> try_load(pgcoro::queryable& db, const pgcoro::select_query<User, User>& q,
                                             std::vector<User>& out)
{
    std::exception_ptr failure;
    try {
        out = co_await db.all(q);
    } catch (...) {
        failure = std::current_exception();
    }
    co_return failure;
}

/// Tags and comments for the blog's posts: a1 gets two of each, b1 one of each.
constexpr std::string_view blog_extras_sql = R"sql(
INSERT INTO tags (name) VALUES ('red'), ('blue');
INSERT INTO post_tags (post_id, tag_id) SELECT p.id, t.id FROM posts p, tags t WHERE p.title = 'a1';
INSERT INTO post_tags (post_id, tag_id) SELECT p.id, t.id FROM posts p, tags t WHERE p.title = 'b1' AND t.name = 'red';
INSERT INTO comments (post_id, body) SELECT id, 'first' FROM posts WHERE title IN ('a1', 'b1');
INSERT INTO comments (post_id, body) SELECT id, 'second' FROM posts WHERE title = 'a1';
)sql";

/// The load was refused with invalid_argument before anything was attached.
void check_refused(const std::exception_ptr& failure, const std::vector<User>& users)
{
    BOOST_TEST_REQUIRE(static_cast<bool>(failure));
    BOOST_TEST_INFO("threw: " << test::describe(failure));
    bool refused = false;
    try {
        std::rethrow_exception(failure);
    } catch (const pgcoro::error& e) {
        refused = e.code() == client_errc::invalid_argument;
    } catch (...) {
    }
    BOOST_TEST(refused);
    BOOST_TEST(users.empty());
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(loading_tests, model_test::schema_fixture)

// ---- 1. every parent gets exactly its children (1000 users, 10 000 posts) -------------------

BOOST_AUTO_TEST_CASE(selectin_attaches_every_users_posts_exactly)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);
        std::vector<Post> stored = co_await all_posts(s);
        std::map<uuid, Post> by_id;
        for (const Post& p : stored)
            by_id.emplace(p.id, p);

        auto q = pgcoro::select<User>().order_by(&User::id).load(selectin(&User::posts));
        std::vector<User> users = co_await s.all(q);

        BOOST_TEST(users.size() == user_count);
        children_check<std::int64_t, uuid> check(expected, false);
        std::size_t empty = 0;
        std::size_t heavy = 0;
        std::size_t different_rows = 0;
        for (const User& u : users) {
            check.check(u.id, ids_of(*u.posts));
            empty += u.posts->empty();
            heavy += u.posts->size() == heavy_posts;
            for (const Post& p : *u.posts) {
                auto it = by_id.find(p.id);
                different_rows += it == by_id.end() || !(it->second == p);
            }
        }
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.children() == post_count);
        BOOST_TEST(different_rows == 0u); // every column of every post, as select<Post>() reads it
        // The dataset is as uneven as intended.
        BOOST_TEST(empty == users_without_posts);
        BOOST_TEST(heavy == heavy_users);
    });
}

BOOST_AUTO_TEST_CASE(selectin_attaches_every_posts_tags_exactly)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<uuid, std::int64_t>(s, tags_by_post);
        auto tag_query = pgcoro::select<Tag>();
        std::vector<Tag> tags = co_await s.all(tag_query);
        std::map<std::int64_t, std::string> names;
        for (const Tag& t : tags)
            names.emplace(t.id, t.name);

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::tags)));
        std::vector<User> users = co_await s.all(q);

        children_check<uuid, std::int64_t> check(expected, true);
        std::size_t wrong_names = 0;
        for (const User& u : users)
            for (const Post& p : *u.posts) {
                check.check(p.id, ids_of(*p.tags));
                for (const Tag& t : *p.tags)
                    wrong_names += names[t.id] != t.name;
            }
        BOOST_TEST(check.parents() == post_count);
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.children() == total_children(expected));
        BOOST_TEST(wrong_names == 0u);
        BOOST_TEST(total_children(expected) > post_count); // 0..3 per post: about 1.5 on average
    });
}

BOOST_AUTO_TEST_CASE(selectin_attaches_every_posts_comments_exactly)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<uuid, std::int64_t>(s, comments_by_post);

        auto q = pgcoro::select<Post>().load(selectin(&Post::comments));
        std::vector<Post> posts = co_await s.all(q);

        BOOST_TEST(posts.size() == post_count);
        children_check<uuid, std::int64_t> check(expected, true);
        std::size_t foreign = 0;
        for (const Post& p : posts) {
            check.check(p.id, ids_of(*p.comments));
            for (const Comment& c : *p.comments)
                foreign += c.post_id != p.id;
        }
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.children() == total_children(expected));
        BOOST_TEST(foreign == 0u);
        BOOST_TEST(expected.size() < post_count); // some posts have none
    });
}

BOOST_AUTO_TEST_CASE(selectin_has_one_attaches_a_profile_exactly_to_the_users_that_have_one)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<std::int64_t, std::int64_t>(s, profiles_by_user);

        auto q = pgcoro::select<User>().order_by(&User::id).load(selectin(&User::profile));
        std::vector<User> users = co_await s.all(q);

        children_check<std::int64_t, std::int64_t> check(expected, true);
        std::size_t wrong_documents = 0;
        std::size_t not_loaded = 0;
        for (const User& u : users) {
            not_loaded += !u.profile.loaded();
            check.check(u.id, profile_ids(*u.profile));
            if (*u.profile)
                wrong_documents += (*u.profile)->data != boost::json::value{{"user", u.id}};
        }
        BOOST_TEST(not_loaded == 0u);
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.children() == expected.size());
        BOOST_TEST(expected.size() == user_count / 3);
        BOOST_TEST(wrong_documents == 0u);
    });
}

// ---- 2. statement counts and round trips ---------------------------------------------------

BOOST_AUTO_TEST_CASE(selectin_without_chunking_costs_one_statement_per_level)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        log.take();

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).chunk(0).with(selectin(&Post::tags).chunk(0)));
        std::vector<User> users = co_await s.all(q);
        const auto events = log.take();

        // A naive loop would cost 1 + 1000 + 10 000 statements.
        BOOST_TEST(events.size() == 3u);
        BOOST_TEST(round_trips(events) == "1 1 1");
        std::size_t posts = 0;
        for (const User& u : users)
            posts += u.posts->size();
        BOOST_TEST(posts == post_count);
    });
}

BOOST_AUTO_TEST_CASE(selectin_default_chunks_cost_a_statement_per_500_keys_in_one_round_trip_per_level)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        log.take();

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::tags)));
        std::vector<User> users = co_await s.all(q);
        const auto events = log.take();

        // 1000 user keys: 2 chunks; 10 000 post keys: 20 chunks; each level one pipeline.
        BOOST_TEST(events.size() == 23u);
        BOOST_TEST(round_trips(events) == "1 2 20");
        BOOST_TEST(statements_on(events, "post_tags") == 20u);
        BOOST_TEST(users.size() == user_count);
    });
}

BOOST_AUTO_TEST_CASE(chunked_and_unchunked_selectin_load_the_same_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);

        auto whole = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts)
                .chunk(0)
                .with(selectin(&Post::tags).chunk(0), selectin(&Post::comments).chunk(0)),
            selectin(&User::profile).chunk(0));
        auto chunked = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts)
                .chunk(37)
                .with(selectin(&Post::tags).chunk(501), selectin(&Post::comments)),
            selectin(&User::profile).chunk(1));
        std::vector<User> a = co_await s.all(whole);
        std::vector<User> b = co_await s.all(chunked);

        BOOST_TEST(a.size() == user_count);
        BOOST_TEST((a == b));
    });
}

// ---- 3. chunk boundaries --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(selectin_sends_one_statement_per_500_distinct_keys_at_the_boundaries)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);
        const std::vector<User> everyone = co_await all_users(s);
        const auto posts = selectin(&User::posts);

        const std::array<std::size_t, 6> sizes{0, 1, 499, 500, 501, 1000};
        const std::array<std::size_t, 6> statements{0, 1, 1, 1, 2, 2};
        const std::array<std::string_view, 6> trips{"", "1", "1", "1", "2", "2"};
        for (std::size_t i = 0; i < sizes.size(); ++i) {
            std::vector<User> parents = first_users(everyone, sizes[i]);
            log.take();
            co_await s.load(parents, posts);
            const auto events = log.take();
            BOOST_TEST_CONTEXT(sizes[i] << " parents")
            {
                BOOST_TEST(events.size() == statements[i]);
                BOOST_TEST(round_trips(events) == trips[i]);
                children_check<std::int64_t, uuid> check(expected, true);
                std::size_t not_loaded = 0;
                for (const User& u : parents) {
                    not_loaded += !u.posts.loaded();
                    if (u.posts.loaded())
                        check.check(u.id, ids_of(*u.posts));
                }
                BOOST_TEST(not_loaded == 0u);
                BOOST_TEST(check.mismatched() == 0u);
            }
        }
    });
}

BOOST_AUTO_TEST_CASE(selectin_chunks_count_distinct_keys_not_parents)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);
        const std::vector<User> everyone = co_await all_users(s);
        const auto posts = selectin(&User::posts);

        // 1000 parents, 500 distinct keys (each user twice): one statement, both copies filled.
        std::vector<User> twice = first_users(everyone, 500);
        twice.insert(twice.end(), everyone.begin(), everyone.begin() + 500);
        log.take();
        co_await s.load(twice, posts);
        auto events = log.take();
        BOOST_TEST(events.size() == 1u);
        children_check<std::int64_t, uuid> check(expected, true);
        for (const User& u : twice)
            check.check(u.id, ids_of(*u.posts));
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.parents() == 1000u);

        // 1002 parents, 501 distinct keys: two statements.
        std::vector<User> more = first_users(everyone, 501);
        more.insert(more.end(), everyone.begin(), everyone.begin() + 501);
        co_await s.load(more, posts);
        events = log.take();
        BOOST_TEST(events.size() == 2u);
        BOOST_TEST(round_trips(events) == "2");

        // Posts of 10 000 parents, 900 distinct authors: two chunks for belongs_to.
        std::vector<Post> all = co_await all_posts(s);
        log.take();
        const auto author = selectin(&Post::author);
        co_await s.load(all, author);
        events = log.take();
        BOOST_TEST(events.size() == 2u);
        std::size_t wrong = 0;
        for (const Post& p : all)
            wrong += !*p.author || (*p.author)->id != p.author_id;
        BOOST_TEST(wrong == 0u);

        // Many-to-many: 600 parents, each post twice; both copies get the post's tags.
        const auto tags = co_await expected_children<uuid, std::int64_t>(s, tags_by_post);
        std::vector<Post> doubled(all.begin(), all.begin() + 300);
        doubled.insert(doubled.end(), all.begin(), all.begin() + 300);
        log.take();
        const auto post_tags = selectin(&Post::tags);
        co_await s.load(doubled, post_tags);
        events = log.take();
        BOOST_TEST(events.size() == 1u);
        children_check<uuid, std::int64_t> check_tags(tags, true);
        for (const Post& p : doubled)
            check_tags.check(p.id, ids_of(*p.tags));
        BOOST_TEST(check_tags.mismatched() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(selectin_on_no_parents_sends_nothing)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_blog(s);
        log.take();

        std::vector<User> none;
        const auto posts = selectin(&User::posts).with(selectin(&Post::tags));
        co_await s.load(none, posts);
        BOOST_TEST(log.take().size() == 0u);
        BOOST_TEST(none.empty());

        // A query that selects no parent: its own statement only.
        auto q = pgcoro::select<User>().where(col(&User::id) < 0).load(posts, selectin(&User::profile));
        std::vector<User> selected = co_await s.all(q);
        BOOST_TEST(selected.empty());
        BOOST_TEST(log.take().size() == 1u);
    });
}

BOOST_AUTO_TEST_CASE(selectin_of_parents_whose_keys_are_all_null_sends_nothing_and_loads_none)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await s.execute_script(tree_sql);
        auto roots_query = pgcoro::select<Category>().where(col(&Category::parent_id).is_null());
        std::vector<Category> roots = co_await s.all(roots_query);
        BOOST_TEST_REQUIRE(roots.size() == 3u);
        log.take();

        const auto parent = selectin(&Category::parent);
        co_await s.load(roots, parent);

        BOOST_TEST(log.take().size() == 0u);
        for (const Category& c : roots) {
            BOOST_TEST(c.parent.loaded());
            BOOST_TEST(c.parent->get() == nullptr);
        }
    });
}

// ---- 4. empty, not loaded, soft delete ------------------------------------------------------

BOOST_AUTO_TEST_CASE(parents_without_children_get_an_empty_loaded_collection)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        const blog b = co_await seed_blog(s);

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::tags), selectin(&Post::comments)),
            selectin(&User::profile));
        std::vector<User> users = co_await s.all(q);
        auto jq =
            pgcoro::select<User>().order_by(&User::id).load(joined(&User::posts), joined(&User::profile));
        std::vector<User> by_join = co_await s.all(jq);

        BOOST_TEST_REQUIRE(users.size() == 3u);
        BOOST_TEST_REQUIRE(by_join.size() == 3u);
        for (const std::vector<User>* loaded : {&users, &by_join}) {
            const User& cid = (*loaded)[2];
            BOOST_TEST(cid.posts.loaded());
            BOOST_TEST(cid.posts->empty());
            BOOST_TEST(cid.profile.loaded());
            BOOST_TEST(!cid.profile->has_value());
        }
        BOOST_TEST_REQUIRE(users[0].posts->size() == 2u);
        for (const Post& p : *users[0].posts) {
            BOOST_TEST(p.tags.loaded());
            BOOST_TEST(p.tags->empty());
            BOOST_TEST(p.comments.loaded());
            BOOST_TEST(p.comments->empty());
        }
        BOOST_TEST(b.users.size() == 3u);
    });
}

BOOST_AUTO_TEST_CASE(a_relation_no_loader_named_stays_not_loaded_and_throws_when_read)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_blog(s);

        auto q = pgcoro::select<User>().order_by(&User::id).load(selectin(&User::posts));
        std::vector<User> users = co_await s.all(q);

        BOOST_TEST_REQUIRE(users.size() == 3u);
        BOOST_TEST_REQUIRE(users[0].posts->size() == 2u);
        const User& ann = users[0];
        const Post& post = (*ann.posts)[0];
        BOOST_TEST(!ann.profile.loaded());
        BOOST_TEST(!post.tags.loaded());
        BOOST_TEST(!post.author.loaded());
        BOOST_TEST(!post.comments.loaded());
        test::expect_error([&] { (void)ann.profile.get(); }, client_errc::relation_not_loaded);
        test::expect_error([&] { (void)post.tags->size(); }, client_errc::relation_not_loaded);
        test::expect_error([&] { (void)*post.author; }, client_errc::relation_not_loaded);
    });
}

BOOST_AUTO_TEST_CASE(belongs_to_a_soft_deleted_author_loads_as_none)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        const blog b = co_await seed_blog(s);
        co_await s.execute("UPDATE users SET deleted_at = now() WHERE id = $1", b.users[0].id);

        auto q = pgcoro::select<Post>().order_by(&Post::title).load(selectin(&Post::author));
        std::vector<Post> posts = co_await s.all(q);
        auto jq = pgcoro::select<Post>().order_by(&Post::title).load(joined(&Post::author));
        std::vector<Post> by_join = co_await s.all(jq);

        for (const std::vector<Post>* loaded : {&posts, &by_join}) {
            BOOST_TEST_REQUIRE(loaded->size() == 3u); // a1, a2 (ann's, soft-deleted), b1
            for (std::size_t i = 0; i < 2; ++i) {
                BOOST_TEST((*loaded)[i].author.loaded());
                BOOST_TEST((*loaded)[i].author->get() == nullptr);
            }
            BOOST_TEST_REQUIRE((*loaded)[2].author->get() != nullptr);
            BOOST_TEST((*loaded)[2].author.get()->email == "bob@example.com");
        }
    });
}

BOOST_AUTO_TEST_CASE(soft_deleted_children_are_not_attached_by_default)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        const blog b = co_await seed_blog(s);
        co_await s.execute("UPDATE posts SET deleted_at = now() WHERE title = 'a2'");

        auto q = pgcoro::select<User>().order_by(&User::id).load(selectin(&User::posts));
        std::vector<User> users = co_await s.all(q);
        auto jq = pgcoro::select<User>().order_by(&User::id).load(joined(&User::posts));
        std::vector<User> by_join = co_await s.all(jq);
        std::vector<User> one_user{b.users[0]};
        const auto posts = selectin(&User::posts);
        co_await s.load(one_user, posts);

        for (const std::vector<User>* loaded : {&users, &by_join, &one_user}) {
            BOOST_TEST_REQUIRE((*loaded)[0].posts->size() == 1u);
            BOOST_TEST((*loaded)[0].posts.get()[0].title == "a1");
        }
    });
}

BOOST_AUTO_TEST_CASE(include_deleted_loader_attaches_soft_deleted_children_and_targets)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_blog(s);
        co_await s.execute("UPDATE posts SET deleted_at = now() WHERE title = 'a2'");
        co_await s.execute("UPDATE users SET deleted_at = now() WHERE email = 'bob@example.com'");

        // Children: ann's soft-deleted a2 comes back.
        auto q = pgcoro::select<User>().order_by(&User::id).load(selectin(&User::posts).include_deleted());
        std::vector<User> users = co_await s.all(q);
        auto jq = pgcoro::select<User>().order_by(&User::id).load(joined(&User::posts).include_deleted());
        std::vector<User> by_join = co_await s.all(jq);
        for (const std::vector<User>* loaded : {&users, &by_join}) {
            BOOST_TEST_REQUIRE(loaded->size() == 2u); // bob himself stays hidden: the parents' query
            BOOST_TEST((*loaded)[0].posts->size() == 2u);
        }

        // Targets: bob, soft-deleted, is the author of b1 again.
        auto pq = pgcoro::select<Post>()
                      .include_deleted()
                      .order_by(&Post::title)
                      .load(selectin(&Post::author).include_deleted());
        std::vector<Post> posts = co_await s.all(pq);
        auto pjq = pgcoro::select<Post>()
                       .include_deleted()
                       .order_by(&Post::title)
                       .load(joined(&Post::author).include_deleted());
        std::vector<Post> posts_by_join = co_await s.all(pjq);
        for (const std::vector<Post>* loaded : {&posts, &posts_by_join}) {
            BOOST_TEST_REQUIRE(loaded->size() == 3u);
            BOOST_TEST_REQUIRE((*loaded)[2].author->get() != nullptr);
            BOOST_TEST((*loaded)[2].author.get()->email == "bob@example.com");
            BOOST_TEST((*loaded)[2].author.get()->deleted_at.has_value());
        }
    });
}

// ---- 5. loader options ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(loader_where_filters_children_not_parents)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<std::int64_t, uuid>(
            s, "SELECT author_id, id FROM posts WHERE title LIKE 'alpha%' ORDER BY author_id, id");

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).where(col(&Post::title).like("alpha%")));
        std::vector<User> users = co_await s.all(q);

        BOOST_TEST(users.size() == user_count);
        children_check<std::int64_t, uuid> check(expected, true);
        for (const User& u : users)
            check.check(u.id, ids_of(*u.posts));
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.children() == post_count / 4);
    });
}

BOOST_AUTO_TEST_CASE(loader_order_by_orders_each_collection)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto by_title_desc = co_await expected_children<std::int64_t, uuid>(
            s, "SELECT author_id, id FROM posts ORDER BY author_id, title DESC");
        const auto by_title = co_await expected_children<std::int64_t, uuid>(
            s, "SELECT author_id, id FROM posts ORDER BY author_id, title");

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).order_by(pgcoro::desc(&Post::title)));
        std::vector<User> descending = co_await s.all(q);
        auto aq =
            pgcoro::select<User>().order_by(&User::id).load(selectin(&User::posts).order_by(&Post::title));
        std::vector<User> ascending = co_await s.all(aq);

        children_check<std::int64_t, uuid> check_desc(by_title_desc, true);
        for (const User& u : descending)
            check_desc.check(u.id, ids_of(*u.posts));
        BOOST_TEST(check_desc.mismatched() == 0u);
        children_check<std::int64_t, uuid> check_asc(by_title, true);
        for (const User& u : ascending)
            check_asc.check(u.id, ids_of(*u.posts));
        BOOST_TEST(check_asc.mismatched() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(many_to_many_loader_where_and_order_by_apply_to_each_collection)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<uuid, std::int64_t>(
            s, "SELECT pt.post_id, t.id FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
               "WHERE t.name LIKE 'tag 1%' ORDER BY pt.post_id, t.name DESC");

        auto q = pgcoro::select<Post>().load(
            selectin(&Post::tags).where(col(&Tag::name).like("tag 1%")).order_by(pgcoro::desc(&Tag::name)));
        std::vector<Post> posts = co_await s.all(q);

        BOOST_TEST(posts.size() == post_count);
        children_check<uuid, std::int64_t> check(expected, true);
        for (const Post& p : posts)
            check.check(p.id, ids_of(*p.tags));
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.children() == total_children(expected));
        BOOST_TEST(check.children() > 0u);
    });
}

BOOST_AUTO_TEST_CASE(selectin_orders_each_collection_by_the_primary_key_by_default)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);

        auto q = pgcoro::select<User>().order_by(&User::id).load(selectin(&User::posts));
        std::vector<User> users = co_await s.all(q);

        children_check<std::int64_t, uuid> check(expected, true);
        for (const User& u : users)
            check.check(u.id, ids_of(*u.posts));
        BOOST_TEST(check.mismatched() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(loader_chunk_sets_the_keys_per_statement)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);
        log.take();

        auto q = pgcoro::select<User>().order_by(&User::id).limit(100).load(selectin(&User::posts).chunk(7));
        std::vector<User> users = co_await s.all(q);
        const auto events = log.take();

        BOOST_TEST(round_trips(events) == "1 15"); // ceil(100 / 7)
        children_check<std::int64_t, uuid> check(expected, true);
        for (const User& u : users)
            check.check(u.id, ids_of(*u.posts));
        BOOST_TEST(check.parents() == 100u);
        BOOST_TEST(check.mismatched() == 0u);
    });
}

// ---- 6. nested paths ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(nested_selectin_loads_comments_and_tags_of_every_post_one_round_trip_per_level)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto comments = co_await expected_children<uuid, std::int64_t>(s, comments_by_post);
        const auto tags = co_await expected_children<uuid, std::int64_t>(s, tags_by_post);
        log.take();

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::comments), selectin(&Post::tags)));
        std::vector<User> users = co_await s.all(q);
        const auto events = log.take();

        // Level 3: 20 chunks of post keys for each of the two relations, in one pipeline.
        BOOST_TEST(round_trips(events) == "1 2 40");
        BOOST_TEST(statements_on(events, "comments") == 20u);
        BOOST_TEST(statements_on(events, "post_tags") == 20u);
        children_check<uuid, std::int64_t> check_comments(comments, true);
        children_check<uuid, std::int64_t> check_tags(tags, true);
        for (const User& u : users)
            for (const Post& p : *u.posts) {
                check_comments.check(p.id, ids_of(*p.comments));
                check_tags.check(p.id, ids_of(*p.tags));
            }
        BOOST_TEST(check_comments.parents() == post_count);
        BOOST_TEST(check_comments.mismatched() == 0u);
        BOOST_TEST(check_tags.mismatched() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(nested_many_to_one_then_one_to_one_loads_each_posts_author_profile)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto profiles = co_await expected_children<std::int64_t, std::int64_t>(s, profiles_by_user);
        log.take();

        auto q = pgcoro::select<Post>().load(selectin(&Post::author).with(selectin(&User::profile)));
        std::vector<Post> posts = co_await s.all(q);
        const auto events = log.take();

        // 900 distinct authors: two chunks for the authors, two for their profiles.
        BOOST_TEST(round_trips(events) == "1 2 2");
        BOOST_TEST(posts.size() == post_count);
        children_check<std::int64_t, std::int64_t> check(profiles, true);
        std::size_t wrong_authors = 0;
        for (const Post& p : posts) {
            const std::shared_ptr<User>& author = *p.author;
            wrong_authors += !author || author->id != p.author_id;
            if (author)
                check.check(author->id, profile_ids(*author->profile));
        }
        BOOST_TEST(wrong_authors == 0u);
        BOOST_TEST(check.mismatched() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(selectin_belongs_to_shares_one_author_object_between_posts)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);

        auto q = pgcoro::select<Post>().load(selectin(&Post::author));
        std::vector<Post> posts = co_await s.all(q);

        std::map<std::int64_t, const User*> first_seen;
        std::size_t distinct_objects = 0;
        std::size_t not_shared = 0;
        for (const Post& p : posts) {
            const User* author = p.author->get();
            auto [it, inserted] = first_seen.try_emplace(p.author_id, author);
            distinct_objects += inserted;
            not_shared += !inserted && it->second != author;
        }
        BOOST_TEST(not_shared == 0u);
        BOOST_TEST(distinct_objects == user_count - users_without_posts);
    });
}

BOOST_AUTO_TEST_CASE(independent_relations_of_one_level_share_one_pipeline)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto profiles = co_await expected_children<std::int64_t, std::int64_t>(s, profiles_by_user);
        log.take();

        // Unchunked, each relation is one statement: level 2 (posts, profile) and level 3
        // (comments, tags) one pipeline of two each.
        auto q = pgcoro::select<User>().order_by(&User::id).limit(50).load(
            selectin(&User::posts).with(selectin(&Post::comments).chunk(0), selectin(&Post::tags).chunk(0)),
            selectin(&User::profile));
        std::vector<User> users = co_await s.all(q);
        const auto events = log.take();

        BOOST_TEST(round_trips(events) == "1 2 2");
        children_check<std::int64_t, std::int64_t> check(profiles, true);
        std::size_t not_loaded = 0;
        for (const User& u : users) {
            check.check(u.id, profile_ids(*u.profile));
            for (const Post& p : *u.posts)
                not_loaded += !p.comments.loaded() || !p.tags.loaded();
        }
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(not_loaded == 0u);
    });
}

// ---- 7. self-referencing --------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(self_referencing_children_load_three_levels_deep)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await s.execute_script(tree_sql);
        const auto expected = co_await expected_children<std::int64_t, std::int64_t>(s, categories_by_parent);
        log.take();

        auto q = pgcoro::select<Category>()
                     .where(col(&Category::parent_id).is_null())
                     .order_by(&Category::id)
                     .load(selectin(&Category::children)
                               .with(selectin(&Category::children).with(selectin(&Category::children))));
        std::vector<Category> roots = co_await s.all(q);
        const auto events = log.take();

        BOOST_TEST(round_trips(events) == "1 1 1 1");
        BOOST_TEST_REQUIRE(roots.size() == 3u);
        children_check<std::int64_t, std::int64_t> check(expected, true);
        std::size_t leaves = 0;
        std::size_t leaves_loaded = 0;
        std::size_t wrong_depth = 0;
        for (const Category& root : roots) {
            check.check(root.id, ids_of(*root.children));
            for (const Category& second : *root.children) {
                check.check(second.id, ids_of(*second.children));
                wrong_depth += depth_of(second) != 2;
                for (const Category& third : *second.children) {
                    check.check(third.id, ids_of(*third.children));
                    wrong_depth += depth_of(third) != 3;
                    for (const Category& leaf : *third.children) {
                        ++leaves;
                        leaves_loaded += leaf.children.loaded(); // a fourth level no loader named
                        wrong_depth += depth_of(leaf) != 4;
                    }
                }
            }
        }
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.parents() == 3u + 6u + 12u);
        BOOST_TEST(leaves == 24u);
        BOOST_TEST(leaves_loaded == 0u);
        BOOST_TEST(wrong_depth == 0u);
        BOOST_TEST(roots[2].name == "lonely");
        BOOST_TEST(roots[2].children->empty());
    });
}

BOOST_AUTO_TEST_CASE(a_relation_without_keys_next_to_one_with_keys_gets_its_own_results)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await s.execute_script(tree_sql);
        const auto expected = co_await expected_children<std::int64_t, std::int64_t>(s, categories_by_parent);
        log.take();

        // The roots have no parent key (no statement for `parent`) but have children: the
        // level's results must still reach the right relation, whichever is named first.
        auto q = pgcoro::select<Category>()
                     .where(col(&Category::parent_id).is_null())
                     .order_by(&Category::id)
                     .load(selectin(&Category::parent), selectin(&Category::children).chunk(2));
        std::vector<Category> roots = co_await s.all(q);
        const auto events = log.take();

        BOOST_TEST(round_trips(events) == "1 2"); // three root keys, two per chunk
        BOOST_TEST_REQUIRE(roots.size() == 3u);
        children_check<std::int64_t, std::int64_t> check(expected, true);
        for (const Category& root : roots) {
            BOOST_TEST(root.parent.loaded());
            BOOST_TEST(root.parent->get() == nullptr);
            check.check(root.id, ids_of(*root.children));
        }
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.children() == 6u);
    });
}

BOOST_AUTO_TEST_CASE(self_referencing_parent_chain_loads_up_to_the_root)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await s.execute_script(tree_sql);

        auto q =
            pgcoro::select<Category>()
                .where(col(&Category::name).like("%.%.%.%"))
                .order_by(&Category::id)
                .load(selectin(&Category::parent)
                          .with(selectin(&Category::parent)
                                    .with(selectin(&Category::parent).with(selectin(&Category::parent)))));
        std::vector<Category> leaves = co_await s.all(q);

        BOOST_TEST_REQUIRE(leaves.size() == 24u);
        std::size_t wrong = 0;
        for (const Category& leaf : leaves) {
            const Category* at = &leaf;
            for (int up = 0; up < 3; ++up) {
                const std::shared_ptr<Category>& parent = *at->parent;
                if (!parent || !at->parent_id || parent->id != *at->parent_id ||
                    at->name.rfind(parent->name + ".", 0) != 0) {
                    ++wrong;
                    break;
                }
                at = parent.get();
            }
            // `at` is the root: its parent is loaded (the fourth loader) and none.
            wrong += depth_of(*at) != 1 || !at->parent.loaded() || at->parent->get() != nullptr;
        }
        BOOST_TEST(wrong == 0u);
    });
}

BOOST_AUTO_TEST_CASE(self_referencing_siblings_share_one_parent_object)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await s.execute_script(tree_sql);

        auto q = pgcoro::select<Category>()
                     .where(col(&Category::name).like("%.%.%.%"))
                     .load(selectin(&Category::parent)
                               .with(selectin(&Category::parent).with(selectin(&Category::parent))));
        std::vector<Category> leaves = co_await s.all(q);

        BOOST_TEST_REQUIRE(leaves.size() == 24u);
        std::map<std::int64_t, const Category*> parents;
        std::map<std::string, const Category*> roots;
        std::size_t not_shared = 0;
        for (const Category& leaf : leaves) {
            const Category* parent = leaf.parent->get();
            BOOST_TEST_REQUIRE(parent != nullptr);
            auto [it, inserted] = parents.try_emplace(parent->id, parent);
            not_shared += !inserted && it->second != parent;
            const Category* grandparent = parent->parent->get();
            BOOST_TEST_REQUIRE(grandparent != nullptr);
            const Category* root = grandparent->parent->get();
            BOOST_TEST_REQUIRE(root != nullptr);
            auto [r, first] = roots.try_emplace(root->name, root);
            not_shared += !first && r->second != root;
        }
        BOOST_TEST(parents.size() == 12u);
        BOOST_TEST(roots.size() == 2u);
        BOOST_TEST(not_shared == 0u);
    });
}

BOOST_AUTO_TEST_CASE(one_relation_named_by_two_selectin_loaders_is_refused)
{
    // Each loader of User::posts would append to the same collection (every post attached
    // twice): refused as an invalid_argument before anything is sent.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_blog(s);
        co_await s.execute_script(blog_extras_sql);

        // The nested loader is on the second path only: its pointers are taken after both
        // loaders appended, so this shows the duplicates without undefined behaviour.
        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts), selectin(&User::posts).with(selectin(&Post::comments)));
        std::vector<User> users;
        const std::exception_ptr failure = co_await try_load(s, q, users);
        check_refused(failure, users);
    });
}

// The next two were a use after free before duplicate loaders were refused (ASan:
// heap-use-after-free in selectin_step<many_to_many>::distribute).
BOOST_AUTO_TEST_CASE(one_relation_in_two_selectin_loaders_with_nested_loaders_is_refused)
{
    // The first loader's nested tags step would keep pointers to the posts it attached; the
    // second loader's push_backs would reallocate those vectors before the tags are attached.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_blog(s);
        co_await s.execute_script(blog_extras_sql);

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::tags)),
            selectin(&User::posts).with(selectin(&Post::comments)));
        std::vector<User> users;
        const std::exception_ptr failure = co_await try_load(s, q, users);
        check_refused(failure, users);
    });
}

BOOST_AUTO_TEST_CASE(one_relation_in_a_joined_and_a_selectin_loader_with_nested_loaders_is_refused)
{
    // The selectin step's constructor would reset User::posts, freeing the posts the joined
    // loader's nested tags step points to.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_blog(s);
        co_await s.execute_script(blog_extras_sql);

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            joined(&User::posts).with(selectin(&Post::tags)),
            selectin(&User::posts).with(selectin(&Post::comments)));
        std::vector<User> users;
        const std::exception_ptr failure = co_await try_load(s, q, users);
        check_refused(failure, users);
    });
}

BOOST_AUTO_TEST_CASE(one_relation_named_twice_in_a_nested_list_or_in_load_is_refused)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_blog(s);

        auto nested = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::tags), selectin(&Post::tags).order_by(&Tag::name)));
        std::vector<User> users;
        const std::exception_ptr failure = co_await try_load(s, nested, users);
        check_refused(failure, users);

        std::vector<User> fetched = co_await s.all(pgcoro::select<User>().order_by(&User::id));
        auto op = s.load(fetched, selectin(&User::posts), selectin(&User::posts));
        co_await test::expect_failure(std::move(op), client_errc::invalid_argument);
        BOOST_TEST(!fetched[0].posts.loaded());

        std::vector<User> fine =
            co_await s.all(pgcoro::select<User>().order_by(&User::id).load(selectin(&User::posts)));
        BOOST_TEST(fine[0].posts->size() == 2u); // the session is still usable
    });
}

// ---- 8. has_one -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(has_one_with_two_matching_rows_throws_too_many_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        const blog b = co_await seed_blog(s); // ann has two posts, bob one, cid none

        auto one_post = pgcoro::select<SoleAuthor>()
                            .where(col(&SoleAuthor::id) != b.users[0].id)
                            .order_by(&SoleAuthor::id);
        auto with_selectin = one_post;
        with_selectin.load(selectin(&SoleAuthor::post));
        std::vector<SoleAuthor> fine = co_await s.all(with_selectin);
        BOOST_TEST_REQUIRE(fine.size() == 2u);
        BOOST_TEST_REQUIRE(fine[0].post->has_value());
        BOOST_TEST((*fine[0].post)->title == "b1");
        BOOST_TEST(!fine[1].post->has_value());

        auto everyone =
            pgcoro::select<SoleAuthor>().order_by(&SoleAuthor::id).load(selectin(&SoleAuthor::post));
        auto op = s.all(everyone);
        co_await test::expect_failure(std::move(op), client_errc::too_many_rows);
        auto everyone_joined =
            pgcoro::select<SoleAuthor>().order_by(&SoleAuthor::id).load(joined(&SoleAuthor::post));
        auto joined_op = s.all(everyone_joined);
        co_await test::expect_failure(std::move(joined_op), client_errc::too_many_rows);

        std::int64_t users = co_await s.scalar<std::int64_t>("SELECT count(*) FROM users");
        BOOST_TEST(users == 3);
    });
}

BOOST_AUTO_TEST_CASE(has_one_target_gets_its_nested_relations)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        const blog b = co_await seed_blog(s);
        co_await s.execute_script(blog_extras_sql);

        // bob has one post (b1: tag "red", one comment); cid none.
        auto q =
            pgcoro::select<SoleAuthor>()
                .where(col(&SoleAuthor::id) != b.users[0].id)
                .order_by(&SoleAuthor::id)
                .load(selectin(&SoleAuthor::post).with(selectin(&Post::tags), selectin(&Post::comments)));
        std::vector<SoleAuthor> authors = co_await s.all(q);
        auto jq = pgcoro::select<SoleAuthor>()
                      .where(col(&SoleAuthor::id) != b.users[0].id)
                      .order_by(&SoleAuthor::id)
                      .load(joined(&SoleAuthor::post).with(selectin(&Post::tags), selectin(&Post::comments)));
        std::vector<SoleAuthor> by_join = co_await s.all(jq);

        for (const std::vector<SoleAuthor>* loaded : {&authors, &by_join}) {
            BOOST_TEST_REQUIRE(loaded->size() == 2u);
            const std::optional<Post>& post = *(*loaded)[0].post;
            BOOST_TEST_REQUIRE(post.has_value());
            BOOST_TEST_REQUIRE(post->tags->size() == 1u);
            BOOST_TEST(post->tags.get()[0].name == "red");
            BOOST_TEST(post->comments->size() == 1u);
            BOOST_TEST(!(*loaded)[1].post->has_value());
        }
    });
}

// ---- 9. joined ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(joined_limit_and_offset_page_by_parents_and_match_selectin)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);
        const std::vector<User> everyone = co_await all_users(s);

        // Offset 95: users 96..105, one without posts (100) and one with 200 (101).
        const std::array<std::int64_t, 2> offsets{20, 95};
        for (std::int64_t offset : offsets) {
            auto jq = pgcoro::select<User>().order_by(&User::id).limit(10).offset(offset).load(
                joined(&User::posts));
            auto sq = pgcoro::select<User>().order_by(&User::id).limit(10).offset(offset).load(
                selectin(&User::posts));
            log.take();
            std::vector<User> by_join = co_await s.all(jq);
            const auto events = log.take();
            std::vector<User> by_selectin = co_await s.all(sq);
            BOOST_TEST_CONTEXT("offset " << offset)
            {
                BOOST_TEST(round_trips(events) == "1");
                BOOST_TEST_REQUIRE(by_join.size() == 10u);
                children_check<std::int64_t, uuid> check(expected, true);
                for (std::size_t i = 0; i < by_join.size(); ++i) {
                    BOOST_TEST(by_join[i].id == everyone[static_cast<std::size_t>(offset) + i].id);
                    check.check(by_join[i].id, ids_of(*by_join[i].posts));
                }
                BOOST_TEST(check.mismatched() == 0u);
                BOOST_TEST((by_join == by_selectin));
            }
        }
    });
}

BOOST_AUTO_TEST_CASE(joined_many_to_one_attaches_each_posts_author)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const std::vector<User> everyone = co_await all_users(s);
        std::map<std::int64_t, User> users;
        for (const User& u : everyone)
            users.emplace(u.id, u);

        auto q = pgcoro::select<Post>().order_by(&Post::id).load(joined(&Post::author));
        std::vector<Post> posts = co_await s.all(q);
        std::vector<Post> plain = co_await all_posts(s);

        BOOST_TEST_REQUIRE(posts.size() == post_count);
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < posts.size(); ++i) {
            const Post& p = posts[i];
            const User* author = p.author->get();
            wrong += p.id != plain[i].id || !author || !(*author == users[p.author_id]);
        }
        BOOST_TEST(wrong == 0u);
    });
}

BOOST_AUTO_TEST_CASE(joined_many_to_one_with_nested_selectin_loads_the_targets_relations)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto profiles = co_await expected_children<std::int64_t, std::int64_t>(s, profiles_by_user);

        auto q = pgcoro::select<Post>().order_by(&Post::id).load(
            joined(&Post::author).with(selectin(&User::profile)));
        std::vector<Post> posts = co_await s.all(q);

        BOOST_TEST(posts.size() == post_count);
        children_check<std::int64_t, std::int64_t> check(profiles, true);
        std::size_t wrong_authors = 0;
        for (const Post& p : posts) {
            const User* author = p.author->get();
            wrong_authors += !author || author->id != p.author_id;
            if (author)
                check.check(author->id, profile_ids(*author->profile));
        }
        BOOST_TEST(wrong_authors == 0u);
        BOOST_TEST(check.mismatched() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(joined_returns_the_parents_in_the_querys_order)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);
        std::vector<User> everyone = co_await all_users(s);
        std::reverse(everyone.begin(), everyone.end());

        // Descending ids, the join in the parents' own query.
        auto q = pgcoro::select<User>().order_by(pgcoro::desc(&User::id)).load(joined(&User::posts));
        std::vector<User> users = co_await s.all(q);
        BOOST_TEST((ids_of(users) == ids_of(everyone)));
        children_check<std::int64_t, uuid> check(expected, true);
        for (const User& u : users)
            check.check(u.id, ids_of(*u.posts));
        BOOST_TEST(check.mismatched() == 0u);

        // A page ordered by a nullable column (every seventh name is NULL: first when
        // descending), across the NULLs' end; equal to the selectin page.
        auto jq = pgcoro::select<User>()
                      .order_by(pgcoro::desc(&User::name), &User::id)
                      .limit(30)
                      .offset(130)
                      .load(joined(&User::posts));
        std::vector<User> by_join = co_await s.all(jq);
        auto sq = pgcoro::select<User>()
                      .order_by(pgcoro::desc(&User::name), &User::id)
                      .limit(30)
                      .offset(130)
                      .load(selectin(&User::posts));
        std::vector<User> by_selectin = co_await s.all(sq);
        BOOST_TEST_REQUIRE(by_join.size() == 30u);
        BOOST_TEST(!by_join.front().name.has_value());
        BOOST_TEST(by_join.back().name.has_value());
        BOOST_TEST((ids_of(by_join) == ids_of(by_selectin)));
        BOOST_TEST((by_join == by_selectin));
    });
}

BOOST_AUTO_TEST_CASE(joined_with_nested_selectin_loads_the_childrens_relations)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto posts = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);
        const auto tags = co_await expected_children<uuid, std::int64_t>(s, tags_by_post);
        log.take();

        auto q = pgcoro::select<User>().order_by(&User::id).limit(150).load(
            joined(&User::posts).with(selectin(&Post::tags)));
        std::vector<User> users = co_await s.all(q);
        const auto events = log.take();

        BOOST_TEST_REQUIRE(users.size() == 150u);
        children_check<std::int64_t, uuid> check_posts(posts, true);
        children_check<uuid, std::int64_t> check_tags(tags, true);
        for (const User& u : users) {
            check_posts.check(u.id, ids_of(*u.posts));
            for (const Post& p : *u.posts)
                check_tags.check(p.id, ids_of(*p.tags));
        }
        BOOST_TEST(check_posts.mismatched() == 0u);
        BOOST_TEST(check_tags.mismatched() == 0u);
        BOOST_TEST(check_tags.parents() > 1000u);
        // The posts came with the users; their tags in one round trip, a statement per 500 posts.
        const std::size_t tag_chunks = (check_tags.parents() + 499) / 500;
        BOOST_TEST(round_trips(events) == "1 " + std::to_string(tag_chunks));
    });
}

BOOST_AUTO_TEST_CASE(joined_self_referencing_children_match_the_table)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await s.execute_script(tree_sql);
        const auto expected = co_await expected_children<std::int64_t, std::int64_t>(s, categories_by_parent);

        auto q = pgcoro::select<Category>().order_by(&Category::id).load(joined(&Category::children));
        std::vector<Category> all = co_await s.all(q);
        auto page = pgcoro::select<Category>()
                        .where(col(&Category::parent_id).is_null())
                        .order_by(&Category::id)
                        .limit(2)
                        .load(joined(&Category::children));
        std::vector<Category> roots = co_await s.all(page);

        BOOST_TEST(all.size() == tree_size);
        children_check<std::int64_t, std::int64_t> check(expected, true);
        for (const Category& c : all)
            check.check(c.id, ids_of(*c.children));
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.children() == tree_size - 3);
        BOOST_TEST_REQUIRE(roots.size() == 2u);
        for (const Category& root : roots) {
            check.check(root.id, ids_of(*root.children));
            BOOST_TEST(root.children->size() == 3u);
        }
        BOOST_TEST(check.mismatched() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(joined_self_referencing_children_with_nested_selectin_load_the_grandchildren)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await s.execute_script(tree_sql);
        const auto expected = co_await expected_children<std::int64_t, std::int64_t>(s, categories_by_parent);

        auto q = pgcoro::select<Category>()
                     .where(col(&Category::parent_id).is_null())
                     .order_by(&Category::id)
                     .load(joined(&Category::children).with(selectin(&Category::children)),
                           selectin(&Category::parent));
        std::vector<Category> roots = co_await s.all(q);

        BOOST_TEST_REQUIRE(roots.size() == 3u);
        children_check<std::int64_t, std::int64_t> check(expected, true);
        std::size_t grandchildren_unloaded = 0;
        for (const Category& root : roots) {
            BOOST_TEST(root.parent->get() == nullptr);
            check.check(root.id, ids_of(*root.children));
            for (const Category& child : *root.children) {
                check.check(child.id, ids_of(*child.children));
                for (const Category& grandchild : *child.children)
                    grandchildren_unloaded += !grandchild.children.loaded() ? 1 : 0;
            }
        }
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(check.parents() == 3u + 6u);
        BOOST_TEST(grandchildren_unloaded == 12u); // no loader for a third level
    });
}

BOOST_AUTO_TEST_CASE(joined_self_referencing_parent_matches_the_table)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await s.execute_script(tree_sql);

        auto q = pgcoro::select<Category>().order_by(&Category::id).load(joined(&Category::parent));
        std::vector<Category> all = co_await s.all(q);

        BOOST_TEST(all.size() == tree_size);
        std::size_t wrong = 0;
        for (const Category& c : all) {
            const Category* parent = c.parent->get();
            if (!c.parent_id)
                wrong += parent != nullptr;
            else
                wrong += !parent || parent->id != *c.parent_id || c.name.rfind(parent->name + ".", 0) != 0;
        }
        BOOST_TEST(wrong == 0u);
    });
}

BOOST_AUTO_TEST_CASE(two_joined_relations_do_not_duplicate_children)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto posts = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);
        const auto profiles = co_await expected_children<std::int64_t, std::int64_t>(s, profiles_by_user);
        const auto comments = co_await expected_children<uuid, std::int64_t>(s, comments_by_post);
        const auto tags = co_await expected_children<uuid, std::int64_t>(s, tags_by_post);

        // A to-many and a to-one.
        auto uq =
            pgcoro::select<User>().order_by(&User::id).load(joined(&User::posts), joined(&User::profile));
        std::vector<User> users = co_await s.all(uq);
        BOOST_TEST(users.size() == user_count);
        children_check<std::int64_t, uuid> check_posts(posts, true);
        children_check<std::int64_t, std::int64_t> check_profiles(profiles, true);
        for (const User& u : users) {
            check_posts.check(u.id, ids_of(*u.posts));
            check_profiles.check(u.id, profile_ids(*u.profile));
        }
        BOOST_TEST(check_posts.mismatched() == 0u);
        BOOST_TEST(check_profiles.mismatched() == 0u);

        // Two to-many: comments × post_tags rows per post.
        auto lq = pgcoro::select<LinkedPost>()
                      .order_by(&LinkedPost::id)
                      .load(joined(&LinkedPost::comments), joined(&LinkedPost::links));
        std::vector<LinkedPost> linked = co_await s.all(lq);
        BOOST_TEST(linked.size() == post_count);
        children_check<uuid, std::int64_t> check_comments(comments, true);
        children_check<uuid, std::int64_t> check_links(tags, true);
        for (const LinkedPost& p : linked) {
            check_comments.check(p.id, ids_of(*p.comments));
            check_links.check(p.id, link_tags(*p.links));
        }
        BOOST_TEST(check_comments.mismatched() == 0u);
        BOOST_TEST(check_links.mismatched() == 0u);
        BOOST_TEST(check_comments.children() == total_children(comments));
        BOOST_TEST(check_links.children() == total_children(tags));
    });
}

BOOST_AUTO_TEST_CASE(joined_where_filters_children_not_parents_and_order_by_orders_them)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto expected = co_await expected_children<std::int64_t, uuid>(
            s, "SELECT author_id, id FROM posts WHERE title LIKE 'beta%' ORDER BY author_id, title DESC");
        const std::vector<User> everyone = co_await all_users(s);
        const auto beta_desc =
            joined(&User::posts).where(col(&Post::title).like("beta%")).order_by(pgcoro::desc(&Post::title));

        // No LIMIT (the join in the parents' own query), then a LIMIT (wrapped in a subquery):
        // parameters on both sides of the join.
        auto all_query = pgcoro::select<User>()
                             .where(col(&User::id) > everyone[40].id)
                             .order_by(&User::id)
                             .load(beta_desc);
        std::vector<User> all = co_await s.all(all_query);
        auto page_query = pgcoro::select<User>()
                              .where(col(&User::id) > everyone[40].id)
                              .order_by(&User::id)
                              .limit(7)
                              .offset(2)
                              .load(beta_desc);
        std::vector<User> page = co_await s.all(page_query);

        BOOST_TEST(all.size() == user_count - 41);
        children_check<std::int64_t, uuid> check(expected, true);
        for (const User& u : all)
            check.check(u.id, ids_of(*u.posts));
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST_REQUIRE(page.size() == 7u);
        for (std::size_t i = 0; i < page.size(); ++i) {
            BOOST_TEST(page[i].id == everyone[43 + i].id);
            check.check(page[i].id, ids_of(*page[i].posts));
        }
        BOOST_TEST(check.mismatched() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(joined_many_to_many_throws_invalid_argument_and_the_session_stays_usable)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        const blog b = co_await seed_blog(s);
        log.take();

        auto q = pgcoro::select<Post>().load(joined(&Post::tags));
        auto op = s.all(q);
        co_await test::expect_failure(std::move(op), client_errc::invalid_argument);
        BOOST_TEST(log.take().size() == 0u); // refused before sending anything

        auto ok = pgcoro::select<Post>().order_by(&Post::title).load(selectin(&Post::tags));
        std::vector<Post> posts = co_await s.all(ok);
        BOOST_TEST(posts.size() == b.posts.size());
    });
}

BOOST_AUTO_TEST_CASE(two_joined_relations_on_one_table_throw_invalid_argument)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await s.execute_script(tree_sql);
        log.take();

        auto q = pgcoro::select<Category>().load(joined(&Category::children), joined(&Category::parent));
        auto op = s.all(q);
        co_await test::expect_failure(std::move(op), client_errc::invalid_argument);
        BOOST_TEST(log.take().size() == 0u);

        auto ok = pgcoro::select<Category>().load(joined(&Category::children), selectin(&Category::parent));
        std::vector<Category> all = co_await s.all(ok);
        BOOST_TEST(all.size() == tree_size);
    });
}

BOOST_AUTO_TEST_CASE(joined_in_session_load_throws_invalid_argument_and_the_session_stays_usable)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        const blog b = co_await seed_blog(s);
        std::vector<User> users = b.users;
        User one = b.users[0];
        log.take();

        const auto posts = joined(&User::posts);
        auto op = s.load(users, posts);
        co_await test::expect_failure(std::move(op), client_errc::invalid_argument);
        auto one_op = s.load(one, posts);
        co_await test::expect_failure(std::move(one_op), client_errc::invalid_argument);
        BOOST_TEST(log.take().size() == 0u);
        BOOST_TEST(!users[0].posts.loaded());

        const auto by_selectin = selectin(&User::posts);
        co_await s.load(users, by_selectin);
        BOOST_TEST(users[0].posts->size() == 2u);
    });
}

BOOST_AUTO_TEST_CASE(joined_with_for_update_throws_invalid_argument_and_the_session_stays_usable)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_blog(s);
        auto tx = co_await s.begin();

        auto q = pgcoro::select<User>().for_update().load(joined(&User::posts));
        auto op = tx.all(q);
        co_await test::expect_failure(std::move(op), client_errc::invalid_argument);

        // Nothing was sent: the transaction is not aborted, and selectin may lock the parents.
        auto locked = pgcoro::select<User>().order_by(&User::id).for_update().load(selectin(&User::posts));
        std::vector<User> users = co_await tx.all(locked);
        BOOST_TEST_REQUIRE(users.size() == 3u);
        BOOST_TEST(users[0].posts->size() == 2u);
        co_await tx.commit();
    });
}

BOOST_AUTO_TEST_CASE(first_with_loaders_returns_the_first_parent_with_all_its_children)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const std::int64_t heavy = co_await user_with_posts(s, static_cast<std::int64_t>(heavy_posts));
        const auto tags = co_await expected_children<uuid, std::int64_t>(s, tags_by_post);

        auto jq = pgcoro::select<User>()
                      .where(col(&User::id) >= heavy)
                      .order_by(&User::id)
                      .load(joined(&User::posts).with(selectin(&Post::tags)));
        std::optional<User> by_join = co_await s.first(jq);
        auto sq = pgcoro::select<User>()
                      .where(col(&User::id) >= heavy)
                      .order_by(&User::id)
                      .load(selectin(&User::posts).with(selectin(&Post::tags)));
        std::optional<User> by_selectin = co_await s.first(sq);
        auto none = pgcoro::select<User>().where(col(&User::id) < 0).load(joined(&User::posts));
        std::optional<User> nobody = co_await s.first(none);

        BOOST_TEST_REQUIRE(by_join.has_value());
        BOOST_TEST(by_join->id == heavy);
        BOOST_TEST(by_join->posts->size() == heavy_posts); // LIMIT 1 counts parents, not rows
        children_check<uuid, std::int64_t> check(tags, true);
        for (const Post& p : *by_join->posts)
            check.check(p.id, ids_of(*p.tags));
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST((by_join == by_selectin));
        BOOST_TEST(!nobody.has_value());
    });
}

BOOST_AUTO_TEST_CASE(one_with_loaders_returns_the_parent_with_all_its_children)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const std::int64_t heavy = co_await user_with_posts(s, static_cast<std::int64_t>(heavy_posts));

        // 200 joined rows, one parent: not too_many_rows.
        auto jq = pgcoro::select<User>()
                      .where(col(&User::id) == heavy)
                      .load(joined(&User::posts), selectin(&User::profile));
        User by_join = co_await s.one(jq);
        auto sq = pgcoro::select<User>()
                      .where(col(&User::id) == heavy)
                      .load(selectin(&User::posts), selectin(&User::profile));
        User by_selectin = co_await s.one(sq);
        BOOST_TEST(by_join.posts->size() == heavy_posts);
        BOOST_TEST((by_join == by_selectin));

        auto none = pgcoro::select<User>().where(col(&User::id) < 0).load(joined(&User::posts));
        auto none_op = s.one(none);
        co_await test::expect_failure(std::move(none_op), client_errc::no_rows);
        auto two = pgcoro::select<User>().where(col(&User::id) <= 2).load(joined(&User::posts));
        auto two_op = s.one(two);
        co_await test::expect_failure(std::move(two_op), client_errc::too_many_rows);
    });
}

// ---- 10. loading rows already fetched --------------------------------------------------------

BOOST_AUTO_TEST_CASE(session_load_fills_relations_of_fetched_rows)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto posts = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);
        const auto tags = co_await expected_children<uuid, std::int64_t>(s, tags_by_post);
        const auto profiles = co_await expected_children<std::int64_t, std::int64_t>(s, profiles_by_user);
        std::vector<User> users = co_await all_users(s);
        log.take();

        const auto with_tags = selectin(&User::posts).with(selectin(&Post::tags));
        const auto profile = selectin(&User::profile);
        co_await s.load(users, with_tags, profile);
        const auto events = log.take();

        BOOST_TEST(round_trips(events) == "4 20"); // posts and profiles (2 chunks each), then tags
        children_check<std::int64_t, uuid> check_posts(posts, true);
        children_check<uuid, std::int64_t> check_tags(tags, true);
        children_check<std::int64_t, std::int64_t> check_profiles(profiles, true);
        for (const User& u : users) {
            check_posts.check(u.id, ids_of(*u.posts));
            check_profiles.check(u.id, profile_ids(*u.profile));
            for (const Post& p : *u.posts)
                check_tags.check(p.id, ids_of(*p.tags));
        }
        BOOST_TEST(check_posts.mismatched() == 0u);
        BOOST_TEST(check_tags.mismatched() == 0u);
        BOOST_TEST(check_profiles.mismatched() == 0u);
        BOOST_TEST(check_tags.parents() == post_count);
    });
}

BOOST_AUTO_TEST_CASE(session_load_fills_relations_of_one_row)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const std::int64_t heavy = co_await user_with_posts(s, static_cast<std::int64_t>(heavy_posts));
        const auto posts = co_await expected_children<std::int64_t, uuid>(s, live_posts_by_author);
        std::optional<User> found = co_await s.get<User>(heavy);
        BOOST_TEST_REQUIRE(found.has_value());
        User user = *found;
        log.take();

        const auto with_comments = selectin(&User::posts).with(selectin(&Post::comments));
        const auto profile = selectin(&User::profile);
        co_await s.load(user, with_comments, profile);
        const auto events = log.take();

        BOOST_TEST(round_trips(events) == "2 1");
        children_check<std::int64_t, uuid> check(posts, true);
        check.check(user.id, ids_of(*user.posts));
        BOOST_TEST(check.mismatched() == 0u);
        BOOST_TEST(user.profile.loaded());
        for (const Post& p : *user.posts)
            BOOST_TEST(p.comments.loaded());
    });
}

BOOST_AUTO_TEST_CASE(loading_again_replaces_a_collection_rather_than_appending)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        const blog b = co_await seed_blog(s);
        std::vector<User> users = b.users;

        const auto posts = selectin(&User::posts);
        co_await s.load(users, posts);
        co_await s.execute("UPDATE posts SET deleted_at = now() WHERE title = 'a1'");
        co_await s.load(users, posts);

        BOOST_TEST_REQUIRE(users[0].posts->size() == 1u);
        BOOST_TEST(users[0].posts.get()[0].title == "a2");
        BOOST_TEST(users[1].posts->size() == 1u);
        BOOST_TEST(users[2].posts->empty());
    });
}

// ---- 11. errors, transactions, cancellation --------------------------------------------------

BOOST_AUTO_TEST_CASE(loader_statement_failing_on_the_server_throws_and_the_session_stays_usable)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const int pid = s.get_connection().backend_pid();
        co_await s.execute("DROP TABLE comments");

        // Level 3 (comments and tags, one pipeline) fails after two levels succeeded.
        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::comments), selectin(&Post::tags)));
        auto op = s.all(q);
        pgcoro::error e = co_await test::expect_failure(std::move(op), pgcoro::condition::undefined_table);
        BOOST_TEST(e.sqlstate() == "42P01");

        BOOST_TEST(s.get_connection().is_idle());
        BOOST_TEST((s.get_connection().transaction() == pgcoro::transaction_status::idle));
        auto fine = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::tags)));
        std::vector<User> users = co_await s.all(fine);
        BOOST_TEST(users.size() == user_count);
        BOOST_TEST(s.get_connection().backend_pid() == pid);
    });
}

BOOST_AUTO_TEST_CASE(loader_where_the_server_rejects_throws_and_the_session_stays_usable)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_blog(s);

        // A condition on the parents' table: the posts statement has no such FROM entry
        // (42P01), in a pipelined level (posts and profiles).
        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).where(col(&User::name).is_not_null()), selectin(&User::profile));
        auto op = s.all(q);
        pgcoro::error e = co_await test::expect_failure(std::move(op), pgcoro::condition::undefined_table);
        BOOST_TEST(e.diag().message.find("users") != std::string::npos);

        BOOST_TEST(s.get_connection().is_idle());
        BOOST_TEST((s.get_connection().transaction() == pgcoro::transaction_status::idle));
        auto fine = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).where(col(&Post::title).like("a%")), selectin(&User::profile));
        std::vector<User> users = co_await s.all(fine);
        BOOST_TEST_REQUIRE(users.size() == 3u);
        BOOST_TEST(users[0].posts->size() == 2u);
        BOOST_TEST(users[1].posts->empty());
    });
}

BOOST_AUTO_TEST_CASE(loader_blocked_by_a_lock_fails_with_lock_not_available_and_the_session_recovers)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(2));
        auto s = co_await pool.session();
        co_await seed_dataset(s);
        const auto comments = co_await expected_children<uuid, std::int64_t>(s, comments_by_post);
        auto holder = co_await pool.session();
        pgcoro::transaction lock = co_await holder.begin();
        co_await lock.execute("LOCK TABLE comments IN ACCESS EXCLUSIVE MODE");
        co_await s.execute("SET lock_timeout = '200ms'");

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::comments), selectin(&Post::tags)));
        auto op = s.all(q);
        co_await test::expect_failure(std::move(op), pgcoro::condition::lock_not_available);

        co_await lock.rollback();
        std::vector<User> users = co_await s.all(q);
        co_await s.execute("RESET lock_timeout");
        children_check<uuid, std::int64_t> check(comments, true);
        for (const User& u : users)
            for (const Post& p : *u.posts)
                check.check(p.id, ids_of(*p.comments));
        BOOST_TEST(check.parents() == post_count);
        BOOST_TEST(check.mismatched() == 0u);
    });
}

BOOST_AUTO_TEST_CASE(loader_statement_past_a_deadline_times_out_and_the_session_recovers)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(2));
        auto s = co_await pool.session();
        co_await seed_blog(s);
        auto holder = co_await pool.session();
        pgcoro::transaction lock = co_await holder.begin();
        co_await lock.execute("LOCK TABLE comments IN ACCESS EXCLUSIVE MODE");

        // Level 3 waits for the lock: the deadline of the handle cancels it on the server.
        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::comments), selectin(&Post::tags)));
        pgcoro::queryable bounded = s.with_timeout(300ms);
        const auto start = steady::now();
        auto op = bounded.all(q);
        co_await test::expect_failure(std::move(op), client_errc::timeout);
        BOOST_TEST((steady::now() - start < 5s));

        co_await lock.rollback();
        BOOST_TEST(s.get_connection().is_idle());
        BOOST_TEST((s.get_connection().transaction() == pgcoro::transaction_status::idle));
        std::vector<User> users = co_await s.all(q);
        BOOST_TEST_REQUIRE(users.size() == 3u);
        BOOST_TEST(users[0].posts->size() == 2u);
        BOOST_TEST(users[0].posts.get()[0].comments.loaded());
    });
}

BOOST_AUTO_TEST_CASE(loading_in_a_transaction_sees_its_uncommitted_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(2));
        auto s = co_await pool.session();
        const blog b = co_await seed_blog(s);

        auto tx = co_await s.begin();
        Post extra = model_test::new_post(b.users[0].id, "a3");
        co_await tx.insert(extra);
        User dan = model_test::new_user("dan@example.com", "Dan");
        dan = co_await tx.insert(dan);
        Post dans = model_test::new_post(dan.id, "d1");
        co_await tx.insert(dans);
        Profile profile{dan.id, boost::json::value{{"user", dan.id}}};
        co_await tx.insert(profile);

        // Level 2 is a pipeline (posts and profile): inside the transaction, not a commit.
        auto q =
            pgcoro::select<User>().order_by(&User::id).load(selectin(&User::posts), selectin(&User::profile));
        std::vector<User> inside = co_await tx.all(q);
        BOOST_TEST(tx.active());
        auto other = co_await pool.session();
        std::vector<User> outside = co_await other.all(q);
        co_await tx.rollback();
        std::vector<User> after = co_await s.all(q);

        BOOST_TEST_REQUIRE(inside.size() == 4u);
        BOOST_TEST(inside[0].posts->size() == 3u);
        BOOST_TEST(inside[3].posts->size() == 1u);
        BOOST_TEST(inside[3].profile->has_value());
        BOOST_TEST_REQUIRE(outside.size() == 3u);
        BOOST_TEST(outside[0].posts->size() == 2u);
        BOOST_TEST_REQUIRE(after.size() == 3u);
        BOOST_TEST(after[0].posts->size() == 2u);
    });
}

BOOST_AUTO_TEST_CASE(loading_in_a_savepoint_sees_its_rows_which_roll_back_with_it)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        const blog b = co_await seed_blog(s);
        auto q =
            pgcoro::select<User>().order_by(&User::id).load(selectin(&User::posts), selectin(&User::profile));

        auto tx = co_await s.begin();
        Post outer = model_test::new_post(b.users[2].id, "c1");
        co_await tx.insert(outer);
        auto savepoint = co_await tx.begin();
        Post inner = model_test::new_post(b.users[2].id, "c2");
        co_await savepoint.insert(inner);
        Profile profile{b.users[2].id, boost::json::value{{"user", b.users[2].id}}};
        co_await savepoint.insert(profile);

        std::vector<User> in_savepoint = co_await savepoint.all(q); // level 2 pipelined
        co_await savepoint.rollback();
        std::vector<User> after_savepoint = co_await tx.all(q);
        co_await tx.commit();

        BOOST_TEST_REQUIRE(in_savepoint.size() == 3u);
        BOOST_TEST(in_savepoint[2].posts->size() == 2u);
        BOOST_TEST(in_savepoint[2].profile->has_value());
        BOOST_TEST_REQUIRE(after_savepoint.size() == 3u);
        BOOST_TEST_REQUIRE(after_savepoint[2].posts->size() == 1u);
        BOOST_TEST(after_savepoint[2].posts.get()[0].title == "c1");
        BOOST_TEST(!after_savepoint[2].profile->has_value());
    });
}

BOOST_AUTO_TEST_CASE(failed_load_in_a_transaction_aborts_it_until_rolled_back)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(1));
        auto s = co_await pool.session();
        co_await seed_blog(s);
        auto q = pgcoro::select<User>().order_by(&User::id).load(
            selectin(&User::posts).with(selectin(&Post::comments), selectin(&Post::tags)));

        auto tx = co_await s.begin();
        co_await tx.execute("DROP TABLE comments");
        auto op = tx.all(q);
        co_await test::expect_failure(std::move(op), pgcoro::condition::undefined_table);
        auto next = tx.scalar<std::int64_t>("SELECT count(*) FROM posts");
        co_await test::expect_failure(std::move(next), client_errc::transaction_aborted);
        co_await tx.rollback();

        // The rollback brought the table back.
        std::vector<User> users = co_await s.all(q);
        BOOST_TEST_REQUIRE(users.size() == 3u);
        BOOST_TEST_REQUIRE(users[0].posts->size() == 2u);
        BOOST_TEST(users[0].posts.get()[0].comments.loaded());
    });
}

BOOST_AUTO_TEST_CASE(cancelled_load_leaves_the_pool_usable)
{
    test::run([]() -> asio::awaitable<void> {
        statement_log log;
        pgcoro::pool pool(co_await asio::this_coro::executor, logged_options(log, 1));
        std::size_t expected_posts = 0;
        {
            auto s = co_await pool.session();
            co_await seed_dataset(s);
            std::int64_t n = co_await s.scalar<std::int64_t>(
                "SELECT count(*) FROM posts WHERE author_id IN (SELECT id FROM users ORDER BY id LIMIT 200)");
            expected_posts = static_cast<std::size_t>(n);
        }
        std::vector<std::chrono::microseconds> samples;
        for (int i = 0; i < 3; ++i) {
            const auto start = steady::now();
            std::size_t n = co_await load_first_users(pool);
            samples.push_back(std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - start));
            BOOST_TEST(n == expected_posts);
        }
        std::sort(samples.begin(), samples.end());
        const std::chrono::microseconds typical = samples[1];
        BOOST_TEST_MESSAGE("a load takes about " << typical.count() << " us");
        log.take();

        constexpr int iterations = 24;
        std::array<std::size_t, 4> cut_after{}; // statements the cut-off load had sent: 0, 1, 2, 3+
        std::size_t completed = 0;
        std::size_t cancelled = 0;
        for (int i = 0; i < iterations; ++i) {
            // Every sixth: at the first wait; the rest spread over 0 .. 1.5 × typical, and a
            // few long enough never to cut.
            const bool at_first_wait = i % 6 == 0;
            const auto delay = i % 6 == 5
                                   ? 20 * typical
                                   : std::chrono::microseconds(typical.count() * ((i * 37) % 150) / 100);
            auto op = load_first_users(pool);
            const std::exception_ptr failure = co_await run_cancelled(std::move(op), delay, at_first_wait);
            const std::size_t sent = log.take().size();
            co_await wait_all_returned(pool);
            auto s = co_await pool.session();
            const bool idle = s.get_connection().is_idle() &&
                              s.get_connection().transaction() == pgcoro::transaction_status::idle;
            auto check = pgcoro::select<User>().order_by(&User::id).limit(200).load(selectin(&User::posts));
            std::vector<User> users = co_await s.all(check);
            std::size_t posts = 0;
            for (const User& u : users)
                posts += u.posts->size();
            log.take();
            BOOST_TEST_CONTEXT("iteration " << i << ", delay " << delay.count() << " us, " << sent
                                            << " statements sent, " << test::describe(failure))
            {
                if (failure) {
                    BOOST_TEST(is_cancellation(failure));
                    ++cancelled;
                    ++cut_after[std::min<std::size_t>(sent, 3)];
                } else {
                    ++completed;
                }
                BOOST_TEST(idle);
                BOOST_TEST(posts == expected_posts);
            }
        }
        BOOST_TEST_MESSAGE("cancelled " << cancelled << " (after 0, 1, 2, 3+ statements: " << cut_after[0]
                                        << ", " << cut_after[1] << ", " << cut_after[2] << ", "
                                        << cut_after[3] << "), completed " << completed);
        BOOST_TEST(cancelled >= 4u);
        BOOST_TEST(completed >= 3u);
    });
}

BOOST_AUTO_TEST_SUITE_END()
