// Loading relations and paging: users with their posts and the posts' tags (models.hpp;
// Post::tags is many-to-many through post_tags) loaded eagerly by selectin (one more
// statement per level, however many parents) and joined (in the parents' own statement),
// then posts paged by offset and by keyset with signed cursors, forward and backward.
//
//   05_loading_and_paging "postgresql://user:password@localhost/db"
//
// Without an argument, PGCORO_TEST_DSN or DATABASE_URL names the server. The tables live in
// a schema named after the process, created by the migrations in examples/migrations and
// dropped at the end, so runs may share a database.

#include <pgcoro/pgcoro.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "example_main.hpp"
#include "models.hpp"

namespace asio = boost::asio;

namespace {

// The example's migration files (examples/migrations; CMake passes the path).
const char* const migrations_directory = PGCORO_EXAMPLE_MIGRATIONS;

// Statements sent since the last reset (pool_options::on_query counts them).
std::vector<std::string> statements;

void expect(bool ok, const std::string& what)
{
    if (!ok)
        throw std::runtime_error("unexpected: " + what);
}

std::string titles(const std::vector<Post>& posts)
{
    std::string out;
    for (const Post& p : posts)
        out += (out.empty() ? "" : ", ") + p.title;
    return out;
}

/// Ann writes posts 01-07, Bob 08-12, Carol nothing; every post is tagged cpp, every third
/// one also sql.
asio::awaitable<void> seed(pgcoro::session& s)
{
    std::vector<User> users;
    for (const char* name : {"Ann", "Bob", "Carol"}) {
        users.emplace_back();
        users.back().name = name;
        users.back().email = users.back().name + "@example.com";
    }
    users = co_await s.insert_many_returning(users);
    std::vector<Tag> tags(2);
    tags[0].name = "cpp";
    tags[1].name = "sql";
    tags = co_await s.insert_many_returning(tags);
    std::vector<Post> posts(12);
    for (int i = 0; i < 12; ++i) {
        posts[i].title = std::string("Post ") + (i < 9 ? "0" : "") + std::to_string(i + 1);
        posts[i].author_id = users.at(i < 7 ? 0 : 1).id;
    }
    posts = co_await s.insert_many_returning(posts);
    std::vector<PostTag> post_tags;
    for (int i = 0; i < 12; ++i) {
        post_tags.push_back({posts.at(i).id, tags.at(0).id});
        if ((i + 1) % 3 == 0)
            post_tags.push_back({posts.at(i).id, tags.at(1).id});
    }
    co_await s.insert_many(post_tags);
    std::cout << "seeded 3 users, 12 posts, " << post_tags.size() << " tags on posts\n";
}

asio::awaitable<void> load_relations(pgcoro::session& s)
{
    // selectin: the users, then every user's posts in one statement (WHERE author_id =
    // ANY($1)), then every post's tags in one more, however many users and posts.
    auto users_with_posts =
        pgcoro::select<User>()
            .order_by(&User::name)
            .load(pgcoro::selectin(&User::posts).order_by(&Post::title).with(pgcoro::selectin(&Post::tags)));
    statements.clear();
    std::vector<User> users = co_await s.all(users_with_posts);
    std::size_t tag_count = 0;
    for (const User& u : users) {
        std::cout << u.name << " wrote " << u.posts->size() << " posts";
        for (const Post& p : *u.posts)
            tag_count += p.tags->size();
        if (!u.posts->empty())
            std::cout << "; " << u.posts->front().title << " is tagged " << u.posts->front().tags->size();
        std::cout << "\n";
    }
    std::cout << "selectin loaded them with " << statements.size() << " statements:\n";
    for (const std::string& sql : statements)
        std::cout << "  SELECT ..." << sql.substr(sql.find(" FROM ")) << "\n"; // the column lists cut
    expect(users.size() == 3 && users[0].posts->size() == 7 && users[1].posts->size() == 5 &&
               users[2].posts->empty() && tag_count == 16 && statements.size() == 3,
           "users, posts and tags loaded by selectin");

    // joined: each post's author in the posts' own statement (a LEFT JOIN), one round trip.
    auto posts_with_authors =
        pgcoro::select<Post>().order_by(&Post::title).load(pgcoro::joined(&Post::author));
    statements.clear();
    std::vector<Post> posts = co_await s.all(posts_with_authors);
    expect(posts.size() == 12 && posts.back().author.get()->name == "Bob" && statements.size() == 1,
           "posts loaded with their authors");
    std::cout << "joined: " << posts.front().title << " by " << posts.front().author.get()->name << ", "
              << posts.back().title << " by " << posts.back().author.get()->name << " (" << statements.size()
              << " statement)\n";
}

asio::awaitable<void> page_posts(pgcoro::session& s)
{
    // By offset: page 2 of 5 per page, the count pipelined in the same round trip.
    auto by_title = pgcoro::select<Post>().order_by(&Post::title);
    pgcoro::page<Post> second = co_await s.page(by_title, 2, 5);
    std::cout << "offset page " << second.page << " of " << second.pages.value() << ": "
              << titles(second.items) << "\n";
    expect(titles(second.items) == "Post 06, Post 07, Post 08, Post 09, Post 10" &&
               second.total.value() == 12 && second.has_next && second.has_prev,
           "offset page 2");

    // By keyset: each page seeks past the previous one's last row; the cursors are signed
    // (HMAC), so a client cannot forge or alter one. Loaders work on pages too.
    auto request = pgcoro::keyset(5).signing_key("keep real keys out of the source");
    auto tagged = pgcoro::select<Post>().order_by(&Post::title).load(pgcoro::selectin(&Post::tags));
    // (Each request is built before the co_await: g++ 12 mishandles temporaries inside one.
    // value() rather than *: a missing cursor throws instead of reading garbage.)
    pgcoro::keyset_page<Post> first = co_await s.page(tagged, request);
    const pgcoro::keyset after_first = request.after(first.next.value());
    pgcoro::keyset_page<Post> middle = co_await s.page(tagged, after_first);
    const pgcoro::keyset after_middle = request.after(middle.next.value());
    pgcoro::keyset_page<Post> last = co_await s.page(tagged, after_middle);
    std::cout << "keyset pages: [" << titles(first.items) << "] [" << titles(middle.items) << "] ["
              << titles(last.items) << "]\n  next cursor of the first: " << first.next.value() << "\n";
    expect(titles(last.items) == "Post 11, Post 12" && !last.has_next && !first.has_prev &&
               !first.items.empty() && first.items.front().tags.loaded(),
           "keyset pages forward");

    // Backward from the last page: the same pages again.
    const pgcoro::keyset before_last = request.before(last.previous.value());
    pgcoro::keyset_page<Post> back = co_await s.page(tagged, before_last);
    const pgcoro::keyset before_back = request.before(back.previous.value());
    pgcoro::keyset_page<Post> front = co_await s.page(tagged, before_back);
    std::cout << "backward: [" << titles(back.items) << "] [" << titles(front.items) << "]\n";
    expect(titles(back.items) == titles(middle.items) && titles(front.items) == titles(first.items) &&
               !front.has_prev,
           "keyset pages backward");

    // An altered cursor is refused before anything is sent.
    std::string forged = first.next.value();
    forged[forged.size() / 2] = forged[forged.size() / 2] == 'A' ? 'B' : 'A';
    const pgcoro::keyset after_forged = request.after(forged);
    bool refused = false;
    try {
        co_await s.page(tagged, after_forged);
    } catch (const pgcoro::error& e) {
        if (e.code() != pgcoro::client_errc::invalid_cursor)
            throw;
        std::cout << "altered cursor: " << e.what() << "\n";
        refused = true;
    }
    expect(refused, "an altered cursor was accepted");
}

asio::awaitable<void> run(std::string conninfo)
{
    auto ex = co_await asio::this_coro::executor;
    const std::string schema = pgcoro::quote_identifier("loading_example_" + std::to_string(::getpid()));
    pgcoro::pool_options options;
    options.conninfo = std::move(conninfo);
    options.pool_size = 1;
    options.pool_timeout = std::chrono::seconds{5};
    // Every connection of the pool works in the example's schema.
    options.hooks.on_connect = [schema](pgcoro::connection& c) -> asio::awaitable<void> {
        co_await c.execute("SELECT set_config('search_path', $1, false)", schema);
    };
    options.on_query = [](const pgcoro::query_event& e) {
        statements.emplace_back(e.sql);
    };
    pgcoro::pool pool(ex, options);
    const std::string create = "CREATE SCHEMA " + schema;
    const std::string drop = "DROP SCHEMA IF EXISTS " + schema + " CASCADE";
    pgcoro::migrator migrator{pgcoro::migration_set::from_directory(migrations_directory)};
    std::exception_ptr failure;
    auto s = co_await pool.session();
    co_await s.execute_script(create);
    try {
        co_await migrator.up(s);
        co_await seed(s);
        co_await load_relations(s);
        co_await page_posts(s);
    } catch (...) {
        failure = std::current_exception();
    }
    co_await s.execute_script(drop); // leave nothing behind, failure or not
    s.release();
    const std::chrono::milliseconds close_timeout{5000};
    co_await pool.close(close_timeout);
    if (failure)
        std::rethrow_exception(failure);
    std::cout << "done\n";
}

} // namespace

int main(int argc, char** argv)
{
    return example::run("05_loading_and_paging", argc, argv, run);
}
