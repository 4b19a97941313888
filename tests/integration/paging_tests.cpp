// Offset and keyset paging against the real server.

#include "model_support.hpp"

#include <pgcoro/pgcoro.hpp>

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace asio = boost::asio;
using model_test::Post;
using model_test::User;
using pgcoro::client_errc;
using pgcoro::col;

BOOST_FIXTURE_TEST_SUITE(paging_tests, model_test::schema_fixture)

BOOST_AUTO_TEST_CASE(paging_smoke)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> users;
        for (int i = 0; i < 95; ++i)
            users.push_back(
                model_test::new_user("u" + std::to_string(i) + "@x",
                                     i % 7 == 0 ? std::optional<std::string>() : std::to_string(i % 10)));
        co_await s.insert_many(users);

        auto q = pgcoro::select<User>().order_by(&User::name);
        pgcoro::page<User> p = co_await s.page(q, 2, 10);
        BOOST_TEST(p.items.size() == 10u);
        BOOST_TEST(*p.total == 95);
        BOOST_TEST(*p.pages == 10);
        BOOST_TEST(p.has_next);
        BOOST_TEST(p.has_prev);
        pgcoro::page<User> last = co_await s.page(q, 10, 10);
        BOOST_TEST(last.items.size() == 5u);
        BOOST_TEST(!last.has_next);

        auto kq = pgcoro::select<User>().order_by(pgcoro::desc(&User::name).nulls_last());
        std::set<std::int64_t> seen;
        pgcoro::keyset_page<User> k = co_await s.page(kq, pgcoro::keyset(10));
        std::vector<std::string> cursors;
        for (;;) {
            for (const User& u : k.items)
                BOOST_TEST(seen.insert(u.id).second);
            if (!k.next)
                break;
            cursors.push_back(*k.next);
            k = co_await s.page(kq, pgcoro::keyset(10).after(*k.next));
        }
        BOOST_TEST(seen.size() == 95u);
        BOOST_TEST(cursors.size() == 9u);
        std::set<std::int64_t> back;
        for (;;) {
            for (const User& u : k.items)
                BOOST_TEST(back.insert(u.id).second);
            if (!k.previous)
                break;
            k = co_await s.page(kq, pgcoro::keyset(10).before(*k.previous));
        }
        BOOST_TEST(back.size() == 95u);

        auto rq = pgcoro::select<User>().order_by(&User::email);
        pgcoro::keyset_page<User> r1 = co_await s.page(rq, pgcoro::keyset(10));
        pgcoro::keyset_page<User> r2 = co_await s.page(rq, pgcoro::keyset(10).after(*r1.next));
        BOOST_TEST(r2.items.front().email > r1.items.back().email);
        bool rejected = false;
        try {
            pgcoro::keyset_page<User> bad = co_await s.page(kq, pgcoro::keyset(10).after(*r1.next));
        } catch (const pgcoro::error& e) {
            rejected = e.code() == client_errc::invalid_cursor;
        }
        BOOST_TEST(rejected);
    });
}

BOOST_AUTO_TEST_SUITE_END()
