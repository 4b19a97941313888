#include "seed.hpp"

#include <pgcoro/session.hpp>

namespace service {

namespace asio = boost::asio;

namespace {

asio::awaitable<std::int64_t> seed_unit(pgcoro::transaction& tx, std::int64_t users)
{
    // Seeding twice (two service processes at once) must not double the data: the first
    // takes this lock, the second waits and then finds the users.
    // Seeding is a batch job: the per-request statement_timeout (set on every pooled
    // connection) must not cut it short. SET LOCAL ends with this transaction.
    co_await tx.execute("SET LOCAL statement_timeout = 0");
    co_await tx.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE");
    std::int64_t existing = co_await tx.scalar<std::int64_t>("SELECT count(*) FROM users");
    if (existing > 0)
        co_return 0;
    // Set-based SQL: tens of thousands of rows in a few statements. The count is a parameter.
    co_await tx.execute("INSERT INTO users (email, name) SELECT 'user' || g || '@example.com', 'User ' || g "
                        "FROM generate_series(1, $1::bigint) g",
                        users);
    co_await tx.execute("INSERT INTO wallets (user_id, balance) SELECT id, 1000 FROM users");
    co_await tx.execute("INSERT INTO profiles (user_id, data) SELECT id, jsonb_build_object("
                        "'theme', (ARRAY['light', 'dark'])[1 + id % 2], "
                        "'lang', (ARRAY['en', 'de', 'fr'])[1 + id % 3], "
                        "'newsletter', id % 5 = 0) FROM users");
    co_await tx.execute("INSERT INTO tags (name) SELECT 'topic-' || g FROM generate_series(1, 20) g "
                        "ON CONFLICT (name) DO NOTHING");
    // Distinct created_at values a second apart, newest for the highest user id, so keyset
    // pages have a stable order to walk.
    co_await tx.execute("INSERT INTO posts (author_id, title, created_at, updated_at) "
                        "SELECT u.id, 'Post ' || p || ' by user ' || u.id, "
                        "now() - make_interval(secs => ($1::bigint - u.id) * 5 + (5 - p)), now() "
                        "FROM users u, generate_series(1, 5) p",
                        users);
    co_await tx.execute("INSERT INTO post_tags (post_id, tag_id) "
                        "SELECT p.id, t.id FROM posts p CROSS JOIN LATERAL ("
                        "  SELECT id FROM tags ORDER BY md5(p.id::text || tags.id::text) "
                        "  LIMIT abs(hashtext(p.id::text)) % 4) t");
    co_return users;
}

} // namespace

asio::awaitable<std::int64_t> seed(pgcoro::pool& pool, std::int64_t users)
{
    auto s = co_await pool.session();
    co_return co_await s.transaction([users](pgcoro::transaction& tx) { return seed_unit(tx, users); });
}

} // namespace service
