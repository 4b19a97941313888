// Eager loading (selectin and joined) against the real server: the right children per
// parent, statement counts through the query log, chunk boundaries, nesting, soft delete,
// and the joined loader's paging by parents.

#include "model_support.hpp"

#include <pgcoro/pgcoro.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace asio = boost::asio;
using model_test::Category;
using model_test::Comment;
using model_test::Post;
using model_test::PostTag;
using model_test::Profile;
using model_test::Tag;
using model_test::User;
using pgcoro::client_errc;
using pgcoro::col;

namespace {

/// Counts the statements a connection sends (pipeline statements one each).
struct statement_counter {
    std::mutex mutex;
    std::vector<std::string> sql;

    std::function<void(const pgcoro::query_event&)> hook()
    {
        return [this](const pgcoro::query_event& e) {
            std::lock_guard guard(mutex);
            sql.emplace_back(e.sql);
        };
    }
    std::size_t take()
    {
        std::lock_guard guard(mutex);
        return std::exchange(sql, {}).size();
    }
};

} // namespace

BOOST_FIXTURE_TEST_SUITE(loading_tests, model_test::schema_fixture)

BOOST_AUTO_TEST_CASE(selectin_smoke)
{
    test::run([]() -> asio::awaitable<void> {
        statement_counter counter;
        pgcoro::pool_options options = model_test::pool_options();
        options.on_query = counter.hook();
        pgcoro::pool pool(co_await asio::this_coro::executor, options);
        auto s = co_await pool.session();
        std::vector<User> users;
        for (int i = 0; i < 3; ++i)
            users.push_back(model_test::new_user("u" + std::to_string(i) + "@x", std::nullopt));
        users = co_await s.insert_many_returning(users);
        std::vector<Post> posts{model_test::new_post(users[0].id, "a"),
                                model_test::new_post(users[0].id, "b"),
                                model_test::new_post(users[1].id, "c")};
        posts = co_await s.insert_many_returning(posts);
        std::vector<Tag> tags{Tag{0, "t1"}, Tag{0, "t2"}};
        tags = co_await s.insert_many_returning(tags);
        std::vector<PostTag> links{PostTag{posts[0].id, tags[0].id}, PostTag{posts[0].id, tags[1].id},
                                   PostTag{posts[2].id, tags[1].id}};
        co_await s.insert_many(links);
        Profile profile{users[1].id, boost::json::value{{"a", 1}}};
        co_await s.insert(profile);
        counter.take();

        auto q = pgcoro::select<User>().order_by(&User::id).load(
            pgcoro::selectin(&User::posts)
                .with(pgcoro::selectin(&Post::tags), pgcoro::selectin(&Post::author)),
            pgcoro::selectin(&User::profile));
        std::vector<User> loaded = co_await s.all(q);
        BOOST_TEST(counter.take() == 5u);
        BOOST_TEST_REQUIRE(loaded.size() == 3u);
        BOOST_TEST(loaded[0].posts->size() == 2u);
        BOOST_TEST(loaded[1].posts->size() == 1u);
        BOOST_TEST(loaded[2].posts->empty());
        BOOST_TEST(!loaded[0].profile->has_value());
        BOOST_TEST(loaded[1].profile.get()->user_id == users[1].id);
        std::size_t tags_of_first_user = 0;
        for (const Post& p : *loaded[0].posts)
            tags_of_first_user += p.tags->size();
        BOOST_TEST(tags_of_first_user == 2u);
        BOOST_TEST((*loaded[0].posts)[0].author.get()->email == "u0@x");
        BOOST_TEST(!(*loaded[0].posts)[0].comments.loaded());

        auto jq = pgcoro::select<User>().order_by(&User::id).limit(2).load(pgcoro::joined(&User::posts));
        BOOST_TEST_MESSAGE(pgcoro::detail::render_loaded(jq).sql());
        std::vector<User> joined = co_await s.all(jq);
        BOOST_TEST(counter.take() == 1u);
        BOOST_TEST_REQUIRE(joined.size() == 2u);
        BOOST_TEST(joined[0].posts->size() == 2u);
        BOOST_TEST(joined[1].posts->size() == 1u);

        std::vector<Category> cats;
        Category root{0, std::nullopt, std::string("root")};
        cats.push_back(co_await s.insert(root));
        Category child{0, cats[0].id, std::string("child")};
        cats.push_back(co_await s.insert(child));
        Category grandchild{0, cats[1].id, std::string("grandchild")};
        cats.push_back(co_await s.insert(grandchild));
        auto cq = pgcoro::select<Category>()
                      .order_by(&Category::id)
                      .load(pgcoro::joined(&Category::children).with(pgcoro::selectin(&Category::children)),
                            pgcoro::selectin(&Category::parent));
        std::vector<Category> tree = co_await s.all(cq);
        BOOST_TEST_REQUIRE(tree.size() == 3u);
        BOOST_TEST(tree[0].children->size() == 1u);
        BOOST_TEST((*tree[0].children)[0].children->size() == 1u);
        BOOST_TEST(tree[0].parent.get() == nullptr);
        BOOST_TEST(tree[2].parent.get()->name == "child");
    });
}

BOOST_AUTO_TEST_SUITE_END()
