// The models layer against the real server: CRUD round trips, soft delete on every read
// path, upsert, insert_many (pipeline and COPY), the select builder on real rows, JSONB paths
// and their GIN plans, constraint violations, hostile strings, raw SQL into models, and model
// calls inside transactions, savepoints and on a raw connection.

#include "model_support.hpp"

#include <boost/json/parse.hpp>
#include <boost/uuid/random_generator.hpp>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace asio = boost::asio;
using model_test::Post;
using model_test::PostTag;
using model_test::Profile;
using model_test::Tag;
using model_test::User;
using pgcoro::client_errc;
using pgcoro::col;

namespace {

/// A subset of User's columns, for select<User>().into<UserContact>().
struct UserContact {
    std::int64_t id = 0;
    std::string email;
};
BOOST_DESCRIBE_STRUCT(UserContact, (), (id, email))

/// Not a subset of User: nickname is no column of users.
struct UserNickname {
    std::int64_t id = 0;
    std::string nickname;
};
BOOST_DESCRIBE_STRUCT(UserNickname, (), (id, nickname))

/// posts with author_id declared int4 instead of bigint.
struct MistypedPost {
    boost::uuids::uuid id{};
    std::int32_t author_id = 0;
    std::string title;
    std::optional<pgcoro::timestamp> created_at;
    std::optional<pgcoro::timestamp> updated_at;
};
BOOST_DESCRIBE_STRUCT(MistypedPost, (), (id, author_id, title, created_at, updated_at))

std::vector<std::string> emails_of(const std::vector<User>& users)
{
    std::vector<std::string> emails;
    for (const User& u : users)
        emails.push_back(u.email);
    return emails;
}

} // namespace

template <> struct pgcoro::model_traits<MistypedPost> {
    static constexpr std::string_view table = "posts";
    static constexpr auto primary_key = &MistypedPost::id;
    static constexpr auto generated = &MistypedPost::id;
    static constexpr auto created_at = &MistypedPost::created_at;
    static constexpr auto updated_at = &MistypedPost::updated_at;
};

namespace {

std::vector<std::int64_t> ids_of(const std::vector<User>& users)
{
    std::vector<std::int64_t> ids;
    for (const User& u : users)
        ids.push_back(u.id);
    return ids;
}

/// Escapes LIKE's wildcards and its escape character, so the pattern matches `text` only.
std::string like_literal(const std::string& text)
{
    std::string pattern;
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\')
            pattern += '\\';
        pattern += c;
    }
    return pattern;
}

/// Five users for the select builder tests, as stored, in insertion (and id) order:
/// ann, bob (example.com), carol, dave without a name (example.org), eve (example.net).
asio::awaitable<std::vector<User>> seed_people(pgcoro::queryable& db)
{
    std::vector<User> people;
    people.push_back(model_test::new_user("ann@example.com", "Ann"));
    people.push_back(model_test::new_user("bob@example.com", "Bob"));
    people.push_back(model_test::new_user("carol@example.org", "Carol"));
    people.push_back(model_test::new_user("dave@example.org", std::nullopt));
    people.push_back(model_test::new_user("eve@example.net", "eve"));
    std::vector<User> stored = co_await db.insert_many_returning(people);
    co_return stored;
}

/// The emails of people[i] for each i, for expected results.
std::vector<std::string> emails_at(const std::vector<User>& people, std::vector<std::size_t> indexes)
{
    std::vector<std::string> emails;
    for (std::size_t i : indexes)
        emails.push_back(people[i].email);
    return emails;
}

/// One user and one profile per document; returns the profiles' user ids in document order.
asio::awaitable<std::vector<std::int64_t>> seed_profiles(pgcoro::queryable& db,
                                                         const std::vector<boost::json::value>& documents)
{
    std::vector<User> users;
    for (std::size_t i = 0; i < documents.size(); ++i)
        users.push_back(model_test::new_user("profile" + std::to_string(i) + "@example.com", std::nullopt));
    std::vector<User> stored = co_await db.insert_many_returning(users);
    std::vector<Profile> profiles;
    std::vector<std::int64_t> ids;
    for (std::size_t i = 0; i < documents.size(); ++i) {
        profiles.push_back(Profile{stored[i].id, documents[i]});
        ids.push_back(stored[i].id);
    }
    co_await db.insert_many(profiles);
    co_return ids;
}

/// The (sorted) document indexes of the profiles in `rows`.
std::vector<std::size_t> documents_of(const std::vector<Profile>& rows, const std::vector<std::int64_t>& ids)
{
    std::vector<std::size_t> found;
    for (const Profile& p : rows)
        found.push_back(static_cast<std::size_t>(std::find(ids.begin(), ids.end(), p.user_id) - ids.begin()));
    std::sort(found.begin(), found.end());
    return found;
}

/// How many of the five test tables exist in this process's schema.
template <class Db> asio::awaitable<std::int64_t> tables_present(Db& db)
{
    std::int64_t n =
        co_await db.template scalar<std::int64_t>("SELECT count(*) FROM pg_tables WHERE schemaname = "
                                                  "current_schema() AND tablename IN ('users', 'posts', "
                                                  "'tags', 'post_tags', 'profiles')");
    co_return n;
}

template <class Db> asio::awaitable<std::int64_t> user_rows(Db& db)
{
    std::int64_t n = co_await db.template scalar<std::int64_t>("SELECT count(*) FROM users");
    co_return n;
}

/// A profile document parsed from JSON text.
boost::json::value json(std::string_view text)
{
    return boost::json::parse(text);
}

} // namespace

namespace {

/// A table and columns named by reserved words and mixed case: every identifier must be
/// quoted for these statements to parse, or to reach the right column.
struct Reserved {
    std::int64_t id = 0;
    std::string select;
    std::optional<std::string> Group;
    std::optional<std::string> group; // a different column from "Group"

    friend bool operator==(const Reserved&, const Reserved&) = default;
};
BOOST_DESCRIBE_STRUCT(Reserved, (), (id, select, Group, group))

} // namespace

template <> struct pgcoro::model_traits<Reserved> {
    static constexpr std::string_view table = "order";
    static constexpr auto primary_key = &Reserved::id;
    static constexpr auto generated = &Reserved::id;
};

BOOST_FIXTURE_TEST_SUITE(model_tests, model_test::schema_fixture)

// ---- 1. CRUD round trips -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(insert_returns_generated_keys_and_timestamps)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User stored = co_await s.insert(ann);
        BOOST_TEST(stored.id > 0);
        BOOST_TEST(stored.email == "ann@example.com");
        BOOST_TEST((stored.name == std::optional<std::string>("Ann")));
        BOOST_TEST(stored.created_at.has_value());
        BOOST_TEST((stored.updated_at == stored.created_at)); // one now() per statement
        BOOST_TEST(!stored.deleted_at.has_value());
        BOOST_TEST(!stored.posts.loaded());
        auto server_now = co_await s.scalar<pgcoro::timestamp>("SELECT now()");
        BOOST_TEST((*stored.created_at <= server_now));

        User bob = model_test::new_user("bob@example.com", std::nullopt);
        User second = co_await s.insert(bob);
        BOOST_TEST(second.id > stored.id);
        BOOST_TEST(!second.name.has_value());

        Post post = model_test::new_post(stored.id, "Hello");
        Post stored_post = co_await s.insert(post);
        BOOST_TEST(!stored_post.id.is_nil()); // gen_random_uuid()
        BOOST_TEST(stored_post.author_id == stored.id);
        BOOST_TEST(stored_post.created_at.has_value());
        BOOST_TEST(!stored_post.body.has_value());

        // The row the server holds is the one RETURNING reported.
        auto email = co_await s.scalar<std::string>("SELECT email FROM users WHERE id = $1", stored.id);
        BOOST_TEST(email == "ann@example.com");
        auto title = co_await s.scalar<std::string>("SELECT title FROM posts WHERE id = $1", stored_post.id);
        BOOST_TEST(title == "Hello");
    });
}

BOOST_AUTO_TEST_CASE(get_finds_rows_by_bigint_uuid_and_composite_key)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User user = co_await s.insert(ann);
        Post draft = model_test::new_post(user.id, "Hello");
        draft.body = "first post";
        Post post = co_await s.insert(draft);
        Tag tag_value;
        tag_value.name = "news";
        Tag tag = co_await s.insert(tag_value);
        PostTag link_value{post.id, tag.id};
        PostTag link = co_await s.insert(link_value);
        Profile profile_value{user.id, json(R"({"theme": "dark"})")};
        Profile profile = co_await s.insert(profile_value);

        auto by_id = co_await s.get<User>(user.id);
        BOOST_TEST_REQUIRE(by_id.has_value());
        BOOST_TEST((*by_id == user));
        auto by_uuid = co_await s.get<Post>(post.id);
        BOOST_TEST_REQUIRE(by_uuid.has_value());
        BOOST_TEST((*by_uuid == post));
        BOOST_TEST(*by_uuid->body == "first post");
        auto key = std::tuple{post.id, tag.id};
        auto by_tuple = co_await s.get<PostTag>(key);
        BOOST_TEST_REQUIRE(by_tuple.has_value());
        BOOST_TEST((*by_tuple == link));
        auto by_user = co_await s.get<Profile>(user.id);
        BOOST_TEST_REQUIRE(by_user.has_value());
        BOOST_TEST((by_user->data == profile.data));
        auto tag_by_id = co_await s.get<Tag>(tag.id);
        BOOST_TEST_REQUIRE(tag_by_id.has_value());
        BOOST_TEST(tag_by_id->name == "news");
    });
}

BOOST_AUTO_TEST_CASE(get_of_a_missing_key_returns_nullopt)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User user = co_await s.insert(ann);
        auto missing_user = co_await s.get<User>(user.id + 1000);
        BOOST_TEST(!missing_user.has_value());
        const boost::uuids::uuid random_id = boost::uuids::random_generator()();
        auto missing_post = co_await s.get<Post>(random_id);
        BOOST_TEST(!missing_post.has_value());
        auto key = std::tuple{random_id, std::int64_t{1}};
        auto missing_link = co_await s.get<PostTag>(key);
        BOOST_TEST(!missing_link.has_value());
        auto missing_even_with_deleted = co_await s.get<User>(user.id + 1000, pgcoro::include_deleted);
        BOOST_TEST(!missing_even_with_deleted.has_value());
    });
}

BOOST_AUTO_TEST_CASE(update_writes_the_columns_and_bumps_updated_at)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User user = co_await s.insert(ann);
        // An hour ago, so the update's now() is later whatever the clock resolution.
        co_await s.execute("UPDATE users SET created_at = now() - interval '1 hour', "
                           "updated_at = now() - interval '1 hour' WHERE id = $1",
                           user.id);
        auto before = co_await s.get<User>(user.id);
        BOOST_TEST_REQUIRE(before.has_value());

        User changed = *before;
        changed.email = "ann.b@example.com";
        changed.name = "Ann B";
        User after = co_await s.update(changed);
        BOOST_TEST(after.id == user.id);
        BOOST_TEST(after.email == "ann.b@example.com");
        BOOST_TEST((after.name == std::optional<std::string>("Ann B")));
        BOOST_TEST((after.created_at == before->created_at));
        BOOST_TEST((*after.updated_at > *before->updated_at));
        BOOST_TEST((*after.updated_at > *after.created_at));

        auto reread = co_await s.get<User>(user.id);
        BOOST_TEST_REQUIRE(reread.has_value());
        BOOST_TEST((*reread == after));
    });
}

BOOST_AUTO_TEST_CASE(update_never_writes_created_at_or_deleted_at)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User user = co_await s.insert(ann);
        User changed = user;
        changed.name = "Ann B";
        changed.created_at = pgcoro::timestamp{}; // 1970: must not be written
        changed.deleted_at = *user.created_at;    // soft delete belongs to soft_remove()
        User after = co_await s.update(changed);
        BOOST_TEST((after.created_at == user.created_at));
        BOOST_TEST(!after.deleted_at.has_value());
        auto visible = co_await s.get<User>(user.id);
        BOOST_TEST_REQUIRE(visible.has_value());
        BOOST_TEST((visible->name == std::optional<std::string>("Ann B")));
    });
}

BOOST_AUTO_TEST_CASE(partial_update_writes_only_the_named_columns)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User user = co_await s.insert(ann);
        User changed = user;
        changed.name = "Annie";
        changed.email = "somewhere.else@example.com"; // changed in memory only
        auto only_name = pgcoro::columns(&User::name);
        User after = co_await s.update(changed, only_name);
        BOOST_TEST((after.name == std::optional<std::string>("Annie")));
        BOOST_TEST(after.email == "ann@example.com");
        auto stored_email = co_await s.scalar<std::string>("SELECT email FROM users WHERE id = $1", user.id);
        BOOST_TEST(stored_email == "ann@example.com");
        auto stored_name = co_await s.scalar<std::string>("SELECT name FROM users WHERE id = $1", user.id);
        BOOST_TEST(stored_name == "Annie");
        BOOST_TEST((*after.updated_at >= *user.updated_at));
    });
}

BOOST_AUTO_TEST_CASE(update_of_a_missing_key_reports_no_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ghost = model_test::new_user("ghost@example.com", "Ghost");
        ghost.id = 987'654'321;
        co_await test::expect_failure(s.update(ghost), client_errc::no_rows);
        auto only_name = pgcoro::columns(&User::name);
        co_await test::expect_failure(s.update(ghost, only_name), client_errc::no_rows);
        BOOST_TEST(co_await user_rows(s) == 0); // and the session goes on
    });
}

BOOST_AUTO_TEST_CASE(update_naming_a_key_column_is_an_invalid_argument)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User user = co_await s.insert(ann);
        User changed = user;
        changed.id = user.id + 1;
        auto key = pgcoro::columns(&User::id);
        co_await test::expect_failure(s.update(changed, key), client_errc::invalid_argument);
        auto with_key = pgcoro::columns(&User::name, &User::id);
        co_await test::expect_failure(s.update(user, with_key), client_errc::invalid_argument);
        const boost::uuids::uuid random_id = boost::uuids::random_generator()();
        PostTag link{random_id, 1};
        auto part_of_key = pgcoro::columns(&PostTag::tag_id);
        co_await test::expect_failure(s.update(link, part_of_key), client_errc::invalid_argument);
        auto unchanged = co_await s.get<User>(user.id);
        BOOST_TEST_REQUIRE(unchanged.has_value());
        BOOST_TEST((*unchanged == user));
    });
}

BOOST_AUTO_TEST_CASE(update_of_a_model_with_only_key_columns_returns_the_row)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User user = co_await s.insert(ann);
        Post draft = model_test::new_post(user.id, "Hello");
        Post post = co_await s.insert(draft);
        Tag tag_value;
        tag_value.name = "news";
        Tag tag = co_await s.insert(tag_value);
        PostTag link_value{post.id, tag.id};
        PostTag link = co_await s.insert(link_value);
        PostTag same = co_await s.update(link);
        BOOST_TEST((same == link));
        PostTag other{post.id, tag.id + 1};
        co_await test::expect_failure(s.update(other), client_errc::no_rows);
    });
}

BOOST_AUTO_TEST_CASE(remove_deletes_the_row_once)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User user = co_await s.insert(ann);
        User bob_value = model_test::new_user("bob@example.com", "Bob");
        User bob = co_await s.insert(bob_value);
        BOOST_TEST(co_await s.remove(user));
        BOOST_TEST(!co_await s.remove(user));
        auto gone = co_await s.get<User>(user.id, pgcoro::include_deleted);
        BOOST_TEST(!gone.has_value());
        auto physically =
            co_await s.scalar<std::int64_t>("SELECT count(*) FROM users WHERE id = $1", user.id);
        BOOST_TEST(physically == 0);
        auto kept = co_await s.get<User>(bob.id);
        BOOST_TEST(kept.has_value());

        Post draft = model_test::new_post(bob.id, "Hello");
        Post post = co_await s.insert(draft);
        Tag tag_value;
        tag_value.name = "news";
        Tag tag = co_await s.insert(tag_value);
        PostTag link_value{post.id, tag.id};
        PostTag link = co_await s.insert(link_value);
        BOOST_TEST(co_await s.remove(link)); // composite key
        BOOST_TEST(!co_await s.remove(link));
        BOOST_TEST(co_await s.remove(post)); // uuid key
        auto no_post = co_await s.get<Post>(post.id, pgcoro::include_deleted);
        BOOST_TEST(!no_post.has_value());
    });
}

BOOST_AUTO_TEST_CASE(relation_members_are_never_written_or_read)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        ann.posts.set({model_test::new_post(0, "not a column")});
        User stored = co_await s.insert(ann); // the loaded relation is not sent
        BOOST_TEST(!stored.posts.loaded());
        stored.posts.set({});
        stored.name = "Ann B";
        User updated = co_await s.update(stored);
        BOOST_TEST(!updated.posts.loaded());
        auto on_email = pgcoro::columns(&User::email);
        pgcoro::upsert_result<User> upserted = co_await s.upsert(ann, on_email);
        BOOST_TEST(!upserted.row.posts.loaded());
        auto everyone = pgcoro::select<User>();
        auto rows = co_await s.all(everyone);
        BOOST_TEST_REQUIRE(rows.size() == 1u);
        BOOST_TEST(!rows[0].posts.loaded());
        auto posts = co_await s.scalar<std::int64_t>("SELECT count(*) FROM posts");
        BOOST_TEST(posts == 0);
        // Naming one as a column is refused.
        test::expect_error([] { (void)pgcoro::columns(&User::posts); }, client_errc::invalid_argument);
        test::expect_error([] { (void)pgcoro::columns(&User::name, &User::posts); },
                           client_errc::invalid_argument);
    });
}

BOOST_AUTO_TEST_CASE(reserved_and_mixed_case_identifiers_are_quoted)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        co_await s.execute_script(
            "CREATE TABLE \"order\" (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
            "\"select\" text NOT NULL CONSTRAINT \"uq_order_select\" UNIQUE, "
            "\"Group\" text, \"group\" text)");
        Reserved value{0, "from", "Upper", "lower"};
        Reserved stored = co_await s.insert(value);
        BOOST_TEST(stored.id > 0);
        BOOST_TEST((stored.Group == std::optional<std::string>("Upper")));
        BOOST_TEST((stored.group == std::optional<std::string>("lower")));
        auto by_id = co_await s.get<Reserved>(stored.id);
        BOOST_TEST_REQUIRE(by_id.has_value());
        BOOST_TEST((*by_id == stored));

        stored.group = "changed";
        auto only_group = pgcoro::columns(&Reserved::group);
        Reserved updated = co_await s.update(stored, only_group);
        BOOST_TEST((updated.Group == std::optional<std::string>("Upper")));
        BOOST_TEST((updated.group == std::optional<std::string>("changed")));

        auto where = pgcoro::select<Reserved>()
                         .where(col(&Reserved::select) == "from" && col(&Reserved::Group) == "Upper")
                         .order_by(pgcoro::desc(&Reserved::group));
        auto rows = co_await s.all(where);
        BOOST_TEST(rows.size() == 1u);
        Reserved again{0, "from", "Other", std::nullopt};
        auto on_select = pgcoro::columns(&Reserved::select);
        pgcoro::upsert_result<Reserved> upserted = co_await s.upsert(again, on_select);
        BOOST_TEST(!upserted.inserted);
        BOOST_TEST((upserted.row.Group == std::optional<std::string>("Other")));
        BOOST_TEST(co_await s.remove(stored));
        auto everything = pgcoro::select<Reserved>();
        BOOST_TEST(co_await s.count(everything) == 0);
    });
}

// ---- 2. Soft delete -------------------------------------------------------------------------

namespace {

/// kept@example.com (visible) and gone@example.com (soft-deleted), in that order.
asio::awaitable<std::vector<User>> kept_and_gone(pgcoro::queryable& db)
{
    std::vector<User> users;
    users.push_back(model_test::new_user("kept@example.com", "Kept"));
    users.push_back(model_test::new_user("gone@example.com", "Gone"));
    std::vector<User> stored = co_await db.insert_many_returning(users);
    bool removed = co_await db.soft_remove(stored[1]);
    BOOST_TEST_REQUIRE(removed);
    co_return stored;
}

} // namespace

BOOST_AUTO_TEST_CASE(soft_deleted_rows_are_hidden_from_every_default_read)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> users = co_await kept_and_gone(s);
        const User& kept = users[0];
        const User& gone = users[1];

        auto by_key = co_await s.get<User>(gone.id);
        BOOST_TEST(!by_key.has_value());
        auto gone_email = col(&User::email) == gone.email;
        auto by_email = co_await s.get_by<User>(gone_email);
        BOOST_TEST(!by_email.has_value());

        std::vector<std::string> only_kept{kept.email};
        auto listed = co_await s.list<User>();
        BOOST_TEST(emails_of(listed) == only_kept, boost::test_tools::per_element());
        auto both_match = col(&User::email).like("%@example.com");
        auto listed_by = co_await s.list<User>(both_match);
        BOOST_TEST(emails_of(listed_by) == only_kept, boost::test_tools::per_element());

        auto everyone = pgcoro::select<User>().order_by(&User::id);
        auto selected = co_await s.all(everyone);
        BOOST_TEST(emails_of(selected) == only_kept, boost::test_tools::per_element());
        auto gone_query = pgcoro::select<User>().where(col(&User::email) == gone.email);
        auto first = co_await s.first(gone_query);
        BOOST_TEST(!first.has_value());
        co_await test::expect_failure(s.one(gone_query), client_errc::no_rows);
        BOOST_TEST(co_await s.count(everyone) == 1);
        BOOST_TEST(co_await s.count(gone_query) == 0);
        BOOST_TEST(!co_await s.exists(gone_query));

        // Still there: soft delete is an UPDATE.
        auto physically = co_await s.scalar<std::int64_t>("SELECT count(*) FROM users WHERE id = $1 AND "
                                                          "deleted_at IS NOT NULL",
                                                          gone.id);
        BOOST_TEST(physically == 1);
    });
}

BOOST_AUTO_TEST_CASE(include_deleted_opts_out_on_every_read)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> users = co_await kept_and_gone(s);
        const User& gone = users[1];
        std::vector<std::string> both{users[0].email, users[1].email};

        auto by_key = co_await s.get<User>(gone.id, pgcoro::include_deleted);
        BOOST_TEST_REQUIRE(by_key.has_value());
        BOOST_TEST(by_key->deleted_at.has_value());
        auto gone_email = col(&User::email) == gone.email;
        auto by_email = co_await s.get_by<User>(gone_email, pgcoro::include_deleted);
        BOOST_TEST(by_email.has_value());

        auto listed = co_await s.list<User>(pgcoro::include_deleted);
        BOOST_TEST(emails_of(listed) == both, boost::test_tools::per_element());
        auto both_match = col(&User::email).like("%@example.com");
        auto listed_by = co_await s.list<User>(both_match, pgcoro::include_deleted);
        BOOST_TEST(emails_of(listed_by) == both, boost::test_tools::per_element());

        auto everyone = pgcoro::select<User>().order_by(&User::id).include_deleted();
        auto selected = co_await s.all(everyone);
        BOOST_TEST(emails_of(selected) == both, boost::test_tools::per_element());
        auto gone_query = pgcoro::select<User>().where(col(&User::email) == gone.email).include_deleted();
        auto first = co_await s.first(gone_query);
        BOOST_TEST(first.has_value());
        User one = co_await s.one(gone_query);
        BOOST_TEST(one.id == gone.id);
        BOOST_TEST(co_await s.count(everyone) == 2);
        BOOST_TEST(co_await s.exists(gone_query));
        // include_deleted(false) turns the filter back on.
        everyone.include_deleted(false);
        BOOST_TEST(co_await s.count(everyone) == 1);
    });
}

BOOST_AUTO_TEST_CASE(soft_remove_and_restore_report_whether_they_changed_the_row)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User user = co_await s.insert(ann);
        BOOST_TEST(!co_await s.restore(user)); // not deleted
        BOOST_TEST(co_await s.soft_remove(user));
        BOOST_TEST(!co_await s.soft_remove(user)); // already deleted
        auto deleted = co_await s.get<User>(user.id, pgcoro::include_deleted);
        BOOST_TEST_REQUIRE(deleted.has_value());
        BOOST_TEST(deleted->deleted_at.has_value());
        BOOST_TEST((*deleted->updated_at >= *user.updated_at));

        BOOST_TEST(co_await s.restore(user));
        BOOST_TEST(!co_await s.restore(user));
        auto back = co_await s.get<User>(user.id);
        BOOST_TEST_REQUIRE(back.has_value());
        BOOST_TEST(!back->deleted_at.has_value());
        BOOST_TEST(back->email == "ann@example.com");

        User ghost = model_test::new_user("ghost@example.com", std::nullopt);
        ghost.id = 987'654'321;
        BOOST_TEST(!co_await s.soft_remove(ghost));
        BOOST_TEST(!co_await s.restore(ghost));
    });
}

BOOST_AUTO_TEST_CASE(soft_remove_of_a_model_without_deleted_at_is_an_invalid_argument)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        Tag tag_value;
        tag_value.name = "news";
        Tag tag = co_await s.insert(tag_value);
        co_await test::expect_failure(s.soft_remove(tag), client_errc::invalid_argument);
        co_await test::expect_failure(s.restore(tag), client_errc::invalid_argument);
        auto still = co_await s.get<Tag>(tag.id);
        BOOST_TEST(still.has_value());
    });
}

// ---- 3. Upsert ------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(upsert_without_conflict_inserts)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        auto on_email = pgcoro::columns(&User::email);
        pgcoro::upsert_result<User> result = co_await s.upsert(ann, on_email);
        BOOST_TEST(result.inserted);
        BOOST_TEST(result.row.id > 0);
        BOOST_TEST(result.row.email == "ann@example.com");
        BOOST_TEST(result.row.created_at.has_value());
        auto stored = co_await s.get<User>(result.row.id);
        BOOST_TEST_REQUIRE(stored.has_value());
        BOOST_TEST((*stored == result.row));
    });
}

BOOST_AUTO_TEST_CASE(upsert_on_conflict_updates_the_existing_row)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User original = co_await s.insert(ann);
        co_await s.execute("UPDATE users SET created_at = now() - interval '1 hour', "
                           "updated_at = now() - interval '1 hour' WHERE id = $1",
                           original.id);
        auto before = co_await s.get<User>(original.id);
        BOOST_TEST_REQUIRE(before.has_value());

        User again = model_test::new_user("ann@example.com", "Ann Again");
        auto on_email = pgcoro::columns(&User::email);
        pgcoro::upsert_result<User> result = co_await s.upsert(again, on_email);
        BOOST_TEST(!result.inserted);
        BOOST_TEST(result.row.id == original.id);
        BOOST_TEST((result.row.name == std::optional<std::string>("Ann Again")));
        BOOST_TEST((result.row.created_at == before->created_at));
        BOOST_TEST((*result.row.updated_at > *before->updated_at));
        BOOST_TEST(co_await user_rows(s) == 1);
    });
}

BOOST_AUTO_TEST_CASE(upsert_with_update_columns_touches_only_those)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User original = co_await s.insert(ann);
        BOOST_TEST_REQUIRE(co_await s.soft_remove(original));

        // The default update list leaves deleted_at alone: the row stays soft-deleted.
        User again = model_test::new_user("ann@example.com", "Second");
        auto on_email = pgcoro::columns(&User::email);
        pgcoro::upsert_result<User> by_default = co_await s.upsert(again, on_email);
        BOOST_TEST(!by_default.inserted);
        BOOST_TEST((by_default.row.name == std::optional<std::string>("Second")));
        BOOST_TEST(by_default.row.deleted_at.has_value());

        // Naming deleted_at only: the row comes back, its name is not touched.
        User third = model_test::new_user("ann@example.com", "Third");
        auto only_deleted_at = pgcoro::columns(&User::deleted_at);
        pgcoro::upsert_result<User> restored = co_await s.upsert(third, on_email, only_deleted_at);
        BOOST_TEST(!restored.inserted);
        BOOST_TEST(restored.row.id == original.id);
        BOOST_TEST(!restored.row.deleted_at.has_value());
        BOOST_TEST((restored.row.name == std::optional<std::string>("Second")));
        auto stored_name =
            co_await s.scalar<std::string>("SELECT name FROM users WHERE id = $1", original.id);
        BOOST_TEST(stored_name == "Second");
        auto visible = co_await s.get<User>(original.id);
        BOOST_TEST(visible.has_value());
    });
}

BOOST_AUTO_TEST_CASE(upsert_without_conflict_columns_uses_the_primary_key)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User user = co_await s.insert(ann);
        pgcoro::column_list<Profile> primary_key; // empty: ON CONFLICT (user_id)
        Profile first{user.id, json(R"({"theme": "dark"})")};
        pgcoro::upsert_result<Profile> created = co_await s.upsert(first, primary_key);
        BOOST_TEST(created.inserted);
        BOOST_TEST((created.row == first));
        Profile second{user.id, json(R"({"theme": "light", "font": 12})")};
        pgcoro::upsert_result<Profile> replaced = co_await s.upsert(second, primary_key);
        BOOST_TEST(!replaced.inserted);
        BOOST_TEST((replaced.row == second));
        auto stored = co_await s.get<Profile>(user.id);
        BOOST_TEST_REQUIRE(stored.has_value());
        BOOST_TEST((stored->data == second.data));
        auto rows = co_await s.scalar<std::int64_t>("SELECT count(*) FROM profiles");
        BOOST_TEST(rows == 1);
    });
}

BOOST_AUTO_TEST_CASE(upsert_with_nothing_to_update_returns_the_existing_row)
{
    // Tag's only column besides its generated key is the conflict target: "get or create".
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        Tag news;
        news.name = "news";
        auto on_name = pgcoro::columns(&Tag::name);
        pgcoro::upsert_result<Tag> created = co_await s.upsert(news, on_name);
        BOOST_TEST(created.inserted);
        BOOST_TEST(created.row.id > 0);
        pgcoro::upsert_result<Tag> existing = co_await s.upsert(news, on_name);
        BOOST_TEST(!existing.inserted);
        BOOST_TEST((existing.row == created.row));
        auto rows = co_await s.scalar<std::int64_t>("SELECT count(*) FROM tags");
        BOOST_TEST(rows == 1);
    });
}

// ---- 4. insert_many ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(insert_many_stores_100k_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        constexpr std::size_t n = 100'000;
        std::vector<User> users;
        std::vector<std::string> emails, names;
        users.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            emails.push_back("bulk" + std::to_string(i) + "@example.com");
            names.push_back("name " + std::to_string(i * 7919 % n));
            users.push_back(model_test::new_user(emails.back(), names.back()));
        }
        // automatic picks COPY for this many rows; the pipeline is asked for explicitly (one
        // round trip of 100k statements: libpq must read while it writes).
        const std::vector<std::pair<pgcoro::insert_method, std::string>> methods{
            {pgcoro::insert_method::automatic, "automatic"}, {pgcoro::insert_method::pipeline, "pipeline"}};
        for (const auto& method : methods) {
            BOOST_TEST_CONTEXT("insert_method::" << method.second)
            {
                co_await s.execute_script("TRUNCATE users CASCADE");
                pgcoro::insert_many_options options{.method = method.first};
                std::uint64_t inserted = co_await s.insert_many(users, options);
                BOOST_TEST(inserted == n);
                BOOST_TEST(co_await user_rows(s) == static_cast<std::int64_t>(n));
                // Every (email, name) pair is stored, each exactly once (emails are unique).
                auto matched =
                    co_await s.scalar<std::int64_t>("SELECT count(*) FROM users JOIN unnest($1::text[], "
                                                    "$2::text[]) AS sent(email, name) USING (email, name)",
                                                    emails, names);
                BOOST_TEST(matched == static_cast<std::int64_t>(n));
                auto distinct_ids = co_await s.scalar<std::int64_t>("SELECT count(DISTINCT id) FROM users");
                BOOST_TEST(distinct_ids == static_cast<std::int64_t>(n));
                auto stamped =
                    co_await s.scalar<std::int64_t>("SELECT count(*) FROM users WHERE created_at IS NOT NULL "
                                                    "AND updated_at = created_at AND deleted_at IS NULL");
                BOOST_TEST(stamped == static_cast<std::int64_t>(n));
            }
        }
    });
}

BOOST_AUTO_TEST_CASE(insert_many_stores_the_same_rows_through_pipeline_and_copy)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User author_value = model_test::new_user("author@example.com", "Author");
        User author = co_await s.insert(author_value);
        const std::vector<std::pair<pgcoro::insert_method, std::string>> methods{
            {pgcoro::insert_method::pipeline, "pipeline"},
            {pgcoro::insert_method::copy, "copy"},
            {pgcoro::insert_method::automatic, "automatic"}};
        for (const auto& method : methods) {
            BOOST_TEST_CONTEXT("insert_method::" << method.second)
            {
                constexpr std::size_t n = 1500; // above the default copy_threshold
                std::vector<User> users;
                std::vector<Post> posts;
                for (std::size_t i = 0; i < n; ++i) {
                    std::optional<std::string> name;
                    if (i % 3 != 0)
                        name = "n" + std::to_string(i);
                    users.push_back(
                        model_test::new_user(method.second + std::to_string(i) + "@example.com", name));
                    Post p = model_test::new_post(author.id, method.second + " " + std::to_string(i));
                    if (i % 2 == 0)
                        p.body = "body " + std::to_string(i);
                    posts.push_back(std::move(p));
                }
                pgcoro::insert_many_options options{.method = method.first};
                std::uint64_t inserted_users = co_await s.insert_many(users, options);
                BOOST_TEST(inserted_users == n);
                std::uint64_t inserted_posts = co_await s.insert_many(posts, options);
                BOOST_TEST(inserted_posts == n);

                std::string pattern = method.second + "%";
                auto stored =
                    co_await s.query<User>("SELECT * FROM users WHERE email LIKE $1 ORDER BY id", pattern);
                BOOST_TEST_REQUIRE(stored.size() == n);
                std::size_t mismatches = 0;
                for (std::size_t i = 0; i < n; ++i)
                    mismatches += stored[i].email != users[i].email || stored[i].name != users[i].name ||
                                  !stored[i].created_at || stored[i].updated_at != stored[i].created_at ||
                                  stored[i].deleted_at.has_value();
                BOOST_TEST(mismatches == 0u);

                auto stored_posts =
                    co_await s.query<Post>("SELECT * FROM posts WHERE title LIKE $1 ORDER BY title", pattern);
                BOOST_TEST_REQUIRE(stored_posts.size() == n);
                std::set<std::string> titles, ids;
                std::size_t bodies = 0;
                for (const Post& p : stored_posts) {
                    titles.insert(p.title);
                    ids.insert(boost::uuids::to_string(p.id));
                    bodies += p.body.has_value();
                    mismatches += p.author_id != author.id || !p.created_at || p.id.is_nil();
                }
                BOOST_TEST(titles.size() == n);
                BOOST_TEST(ids.size() == n); // generated by the database, one each
                BOOST_TEST(bodies == n / 2);
                BOOST_TEST(mismatches == 0u);
            }
        }
    });
}

BOOST_AUTO_TEST_CASE(insert_many_automatic_switches_to_copy_at_copy_threshold)
{
    test::run([]() -> asio::awaitable<void> {
        // The query log shows which way each call went: one pipeline event per row, or one
        // copy event for the whole batch.
        auto kinds = std::make_shared<std::vector<pgcoro::query_event::kind>>();
        pgcoro::pool_options options = model_test::pool_options(1);
        options.on_query = [kinds](const pgcoro::query_event& e) {
            kinds->push_back(e.type);
        };
        pgcoro::pool pool(co_await asio::this_coro::executor, options);
        auto s = co_await pool.session();
        const std::size_t threshold = pgcoro::insert_many_options{}.copy_threshold;
        for (std::size_t n : {threshold - 1, threshold}) {
            BOOST_TEST_CONTEXT(n << " rows")
            {
                std::vector<User> users;
                for (std::size_t i = 0; i < n; ++i)
                    users.push_back(model_test::new_user(
                        "auto" + std::to_string(n) + "_" + std::to_string(i) + "@example.com", std::nullopt));
                kinds->clear();
                std::uint64_t inserted = co_await s.insert_many(users);
                BOOST_TEST(inserted == n);
                const auto copies = std::count(kinds->begin(), kinds->end(), pgcoro::query_event::kind::copy);
                const auto pipelined =
                    std::count(kinds->begin(), kinds->end(), pgcoro::query_event::kind::pipeline);
                if (n < threshold) {
                    BOOST_TEST(copies == 0);
                    BOOST_TEST(static_cast<std::size_t>(pipelined) == n);
                } else {
                    BOOST_TEST(copies == 1);
                    BOOST_TEST(pipelined == 0);
                }
            }
        }
    });
}

BOOST_AUTO_TEST_CASE(insert_many_is_all_or_nothing)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        const std::vector<std::pair<pgcoro::insert_method, std::string>> methods{
            {pgcoro::insert_method::pipeline, "pipeline"}, {pgcoro::insert_method::copy, "copy"}};
        for (const auto& method : methods) {
            BOOST_TEST_CONTEXT("insert_method::" << method.second)
            {
                std::vector<User> users;
                for (std::size_t i = 0; i < 2000; ++i)
                    users.push_back(model_test::new_user("atomic" + std::to_string(i) + "@example.com", "x"));
                users[1500].email = users[10].email; // one duplicate, late in the batch
                pgcoro::insert_many_options options{.method = method.first};
                pgcoro::error e = co_await test::expect_failure(s.insert_many(users, options),
                                                                pgcoro::condition::unique_violation);
                BOOST_TEST(e.diag().constraint == "uq_users_email");
                BOOST_TEST(co_await user_rows(s) == 0);
            }
        }
    });
}

BOOST_AUTO_TEST_CASE(insert_many_by_copy_refuses_a_member_whose_type_does_not_match_its_column)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User author_value = model_test::new_user("author@example.com", "Author");
        User author = co_await s.insert(author_value);
        std::vector<MistypedPost> posts(3);
        for (auto& p : posts) {
            p.author_id = static_cast<std::int32_t>(author.id);
            p.title = "mistyped";
        }
        // A parameter carries its type, so the pipeline converts int4 to bigint; a binary
        // COPY field does not, so the int4 would be misread as a malformed bigint.
        pgcoro::insert_many_options copy{.method = pgcoro::insert_method::copy};
        pgcoro::error e =
            co_await test::expect_failure(s.insert_many(posts, copy), client_errc::type_mismatch);
        BOOST_TEST(std::string(e.what()).find("author_id") != std::string::npos);
        auto none = co_await s.scalar<std::int64_t>("SELECT count(*) FROM posts");
        BOOST_TEST(none == 0);
        pgcoro::insert_many_options pipeline{.method = pgcoro::insert_method::pipeline};
        std::uint64_t inserted = co_await s.insert_many(posts, pipeline);
        BOOST_TEST(inserted == 3u);
    });
}

BOOST_AUTO_TEST_CASE(insert_many_returning_returns_the_stored_rows_in_order)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> users;
        for (int i = 0; i < 50; ++i)
            users.push_back(
                model_test::new_user("r" + std::to_string(i) + "@example.com", "R" + std::to_string(i)));
        std::vector<User> stored = co_await s.insert_many_returning(users);
        BOOST_TEST_REQUIRE(stored.size() == users.size());
        BOOST_TEST(emails_of(stored) == emails_of(users), boost::test_tools::per_element());
        std::vector<std::int64_t> ids = ids_of(stored);
        const bool increasing =
            std::adjacent_find(ids.begin(), ids.end(), std::greater_equal<>()) == ids.end();
        BOOST_TEST(increasing);
        for (const User& u : stored) {
            BOOST_TEST(u.created_at.has_value());
            auto reread = co_await s.get<User>(u.id);
            BOOST_TEST_REQUIRE(reread.has_value());
            BOOST_TEST((*reread == u));
        }
    });
}

BOOST_AUTO_TEST_CASE(insert_many_of_nothing_makes_no_round_trip)
{
    test::run([]() -> asio::awaitable<void> {
        // A closed connection fails every statement: these calls must not send one.
        pgcoro::connection closed;
        std::vector<User> none;
        std::uint64_t inserted = co_await closed.insert_many(none);
        BOOST_TEST(inserted == 0u);
        pgcoro::insert_many_options copy{.method = pgcoro::insert_method::copy};
        std::uint64_t copied = co_await closed.insert_many(none, copy);
        BOOST_TEST(copied == 0u);
        std::vector<User> returned = co_await closed.insert_many_returning(none);
        BOOST_TEST(returned.empty());
        std::vector<User> one{model_test::new_user("one@example.com", std::nullopt)};
        co_await test::expect_failure(closed.insert_many(one), client_errc::connection_closed);
    });
}

// ---- 5. The select builder on real rows ----------------------------------------------------

BOOST_AUTO_TEST_CASE(where_with_equality_and_comparisons_selects_the_matching_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);

        auto bob = pgcoro::select<User>().where(col(&User::email) == "bob@example.com");
        auto found = co_await s.all(bob);
        BOOST_TEST(emails_of(found) == emails_at(people, {1}), boost::test_tools::per_element());

        auto before_carol = pgcoro::select<User>().where(col(&User::id) < people[2].id).order_by(&User::id);
        auto earlier = co_await s.all(before_carol);
        BOOST_TEST(emails_of(earlier) == emails_at(people, {0, 1}), boost::test_tools::per_element());

        auto from_carol = pgcoro::select<User>().where(col(&User::id) >= people[2].id).order_by(&User::id);
        auto later = co_await s.all(from_carol);
        BOOST_TEST(emails_of(later) == emails_at(people, {2, 3, 4}), boost::test_tools::per_element());

        auto not_bob = pgcoro::select<User>().where(col(&User::name) != "Bob").order_by(&User::id);
        auto others = co_await s.all(not_bob); // dave's NULL name is not "not Bob" in SQL
        BOOST_TEST(emails_of(others) == emails_at(people, {0, 2, 4}), boost::test_tools::per_element());
    });
}

BOOST_AUTO_TEST_CASE(in_matches_listed_values_and_an_empty_list_matches_nothing)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);

        std::vector<std::int64_t> ids{people[4].id, people[0].id, 999'999};
        auto listed = pgcoro::select<User>().where(col(&User::id).in(ids)).order_by(&User::id);
        auto found = co_await s.all(listed);
        BOOST_TEST(emails_of(found) == emails_at(people, {0, 4}), boost::test_tools::per_element());

        std::vector<std::string> emails{"carol@example.org", "nobody@example.org"};
        auto by_email = pgcoro::select<User>().where(col(&User::email).in(emails));
        auto carol = co_await s.all(by_email);
        BOOST_TEST(emails_of(carol) == emails_at(people, {2}), boost::test_tools::per_element());

        std::vector<std::int64_t> no_ids;
        auto nothing = pgcoro::select<User>().where(col(&User::id).in(no_ids));
        auto none = co_await s.all(nothing);
        BOOST_TEST(none.empty());
        BOOST_TEST(co_await s.count(nothing) == 0);

        auto not_in_nothing = pgcoro::select<User>().where(col(&User::id).not_in(no_ids));
        BOOST_TEST(co_await s.count(not_in_nothing) == 5);
        auto not_listed = pgcoro::select<User>().where(col(&User::id).not_in(ids)).order_by(&User::id);
        auto rest = co_await s.all(not_listed);
        BOOST_TEST(emails_of(rest) == emails_at(people, {1, 2, 3}), boost::test_tools::per_element());
    });
}

BOOST_AUTO_TEST_CASE(like_and_ilike_match_patterns)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);

        auto org = pgcoro::select<User>().where(col(&User::email).like("%@example.org")).order_by(&User::id);
        auto found = co_await s.all(org);
        BOOST_TEST(emails_of(found) == emails_at(people, {2, 3}), boost::test_tools::per_element());

        auto capital_e = pgcoro::select<User>().where(col(&User::name).like("E%"));
        BOOST_TEST(co_await s.count(capital_e) == 0);
        auto any_e = pgcoro::select<User>().where(col(&User::name).ilike("E%"));
        auto eve = co_await s.all(any_e);
        BOOST_TEST(emails_of(eve) == emails_at(people, {4}), boost::test_tools::per_element());

        auto one_char = pgcoro::select<User>().where(col(&User::name).like("_o_")); // Bob
        auto bob = co_await s.all(one_char);
        BOOST_TEST(emails_of(bob) == emails_at(people, {1}), boost::test_tools::per_element());

        auto not_com = pgcoro::select<User>().where(col(&User::email).not_like("%.com")).order_by(&User::id);
        auto rest = co_await s.all(not_com);
        BOOST_TEST(emails_of(rest) == emails_at(people, {2, 3, 4}), boost::test_tools::per_element());
    });
}

BOOST_AUTO_TEST_CASE(is_null_and_boolean_combinations_select_the_matching_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);

        auto no_name = pgcoro::select<User>().where(col(&User::name).is_null());
        auto dave = co_await s.all(no_name);
        BOOST_TEST(emails_of(dave) == emails_at(people, {3}), boost::test_tools::per_element());
        auto named = pgcoro::select<User>().where(col(&User::name).is_not_null());
        BOOST_TEST(co_await s.count(named) == 4);

        auto org_and_named =
            pgcoro::select<User>().where(col(&User::email).like("%.org") && col(&User::name).is_not_null());
        auto carol = co_await s.all(org_and_named);
        BOOST_TEST(emails_of(carol) == emails_at(people, {2}), boost::test_tools::per_element());

        auto ann_or_bob = pgcoro::select<User>()
                              .where(col(&User::name) == "Ann" || col(&User::name) == "Bob")
                              .order_by(&User::id);
        auto two = co_await s.all(ann_or_bob);
        BOOST_TEST(emails_of(two) == emails_at(people, {0, 1}), boost::test_tools::per_element());

        auto not_ann = pgcoro::select<User>().where(!(col(&User::name) == "Ann")).order_by(&User::id);
        auto rest = co_await s.all(not_ann); // NOT (NULL = 'Ann') is NULL: dave is not selected
        BOOST_TEST(emails_of(rest) == emails_at(people, {1, 2, 4}), boost::test_tools::per_element());

        // Two where() calls are ANDed.
        auto chained =
            pgcoro::select<User>().where(col(&User::email).like("%.org")).where(col(&User::name).is_null());
        auto also_dave = co_await s.all(chained);
        BOOST_TEST(emails_of(also_dave) == emails_at(people, {3}), boost::test_tools::per_element());

        auto any = pgcoro::select<User>().where(pgcoro::any_of({}));
        BOOST_TEST(co_await s.count(any) == 0);
        auto all = pgcoro::select<User>().where(pgcoro::all_of({}));
        BOOST_TEST(co_await s.count(all) == 5);
    });
}

BOOST_AUTO_TEST_CASE(order_by_sorts_ascending_and_descending)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);

        auto by_email_desc = pgcoro::select<User>().order_by(pgcoro::desc(&User::email));
        auto descending = co_await s.all(by_email_desc);
        BOOST_TEST(emails_of(descending) == emails_at(people, {4, 3, 2, 1, 0}),
                   boost::test_tools::per_element());

        // PostgreSQL puts NULLs first in descending order unless told otherwise.
        auto by_name_desc = pgcoro::select<User>().order_by(col(&User::name).desc());
        auto nulls_first = co_await s.all(by_name_desc);
        BOOST_TEST(emails_of(nulls_first) == emails_at(people, {3, 4, 2, 1, 0}),
                   boost::test_tools::per_element());
        auto by_name_desc_nulls_last =
            pgcoro::select<User>().order_by(pgcoro::desc(&User::name).nulls_last());
        auto nulls_last = co_await s.all(by_name_desc_nulls_last);
        BOOST_TEST(emails_of(nulls_last) == emails_at(people, {4, 2, 1, 0, 3}),
                   boost::test_tools::per_element());

        // Several terms, NULLs placed explicitly.
        auto by_null_then_id =
            pgcoro::select<User>().order_by(col(&User::name).asc().nulls_first(), &User::id);
        auto mixed = co_await s.all(by_null_then_id);
        BOOST_TEST(emails_of(mixed) == emails_at(people, {3, 0, 1, 2, 4}), boost::test_tools::per_element());
    });
}

BOOST_AUTO_TEST_CASE(limit_and_offset_page_through_ordered_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);

        auto page = pgcoro::select<User>().order_by(&User::id).limit(2).offset(1);
        auto middle = co_await s.all(page);
        BOOST_TEST(emails_of(middle) == emails_at(people, {1, 2}), boost::test_tools::per_element());
        auto last = pgcoro::select<User>().order_by(&User::id).limit(2).offset(4);
        auto tail = co_await s.all(last);
        BOOST_TEST(emails_of(tail) == emails_at(people, {4}), boost::test_tools::per_element());
        auto beyond = pgcoro::select<User>().order_by(&User::id).offset(5);
        auto none = co_await s.all(beyond);
        BOOST_TEST(none.empty());
        auto zero = pgcoro::select<User>().limit(0);
        auto nothing = co_await s.all(zero);
        BOOST_TEST(nothing.empty());
        test::expect_error([] { pgcoro::select<User>().limit(-1); }, client_errc::invalid_argument);
    });
}

BOOST_AUTO_TEST_CASE(count_honours_filter_limit_and_offset)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);
        auto everyone = pgcoro::select<User>();
        BOOST_TEST(co_await s.count(everyone) == 5);
        auto org = pgcoro::select<User>().where(col(&User::email).like("%.org"));
        BOOST_TEST(co_await s.count(org) == 2);
        auto limited = pgcoro::select<User>().limit(3);
        BOOST_TEST(co_await s.count(limited) == 3);
        auto tail = pgcoro::select<User>().order_by(&User::id).limit(10).offset(3);
        BOOST_TEST(co_await s.count(tail) == 2);
        auto org_limited = pgcoro::select<User>().where(col(&User::email).like("%.org")).limit(1);
        BOOST_TEST(co_await s.count(org_limited) == 1);
    });
}

BOOST_AUTO_TEST_CASE(exists_reports_whether_any_row_matches)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        auto everyone = pgcoro::select<User>();
        BOOST_TEST(!co_await s.exists(everyone)); // empty table
        std::vector<User> people = co_await seed_people(s);
        BOOST_TEST(co_await s.exists(everyone));
        auto net = pgcoro::select<User>().where(col(&User::email).like("%.net"));
        BOOST_TEST(co_await s.exists(net));
        auto gov = pgcoro::select<User>().where(col(&User::email).like("%.gov"));
        BOOST_TEST(!co_await s.exists(gov));
        auto past_the_end = pgcoro::select<User>().offset(5);
        BOOST_TEST(!co_await s.exists(past_the_end));
    });
}

BOOST_AUTO_TEST_CASE(into_selects_a_subset_of_the_columns)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);
        BOOST_TEST_REQUIRE(co_await s.soft_remove(people[1]));

        auto contacts = pgcoro::select<User>().where(col(&User::email).like("%.com")).order_by(&User::id);
        auto subset = contacts.into<UserContact>();
        BOOST_TEST(subset.render().sql().find("\"name\"") == std::string::npos);
        std::vector<UserContact> rows = co_await s.all(subset);
        BOOST_TEST_REQUIRE(rows.size() == 1u); // bob is soft-deleted: into() keeps the filter
        BOOST_TEST(rows[0].id == people[0].id);
        BOOST_TEST(rows[0].email == "ann@example.com");
        auto one = co_await s.first(subset);
        BOOST_TEST_REQUIRE(one.has_value());
        BOOST_TEST(one->email == "ann@example.com");

        auto bad = contacts.into<UserNickname>();
        co_await test::expect_failure(s.all(bad), client_errc::invalid_argument);
        BOOST_TEST(co_await s.count(contacts) == 1); // nothing was sent; the session goes on
    });
}

BOOST_AUTO_TEST_CASE(first_returns_the_first_row_or_nullopt)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        auto everyone = pgcoro::select<User>().order_by(pgcoro::desc(&User::id));
        auto nothing = co_await s.first(everyone);
        BOOST_TEST(!nothing.has_value());
        std::vector<User> people = co_await seed_people(s);
        auto newest = co_await s.first(everyone);
        BOOST_TEST_REQUIRE(newest.has_value());
        BOOST_TEST(newest->email == people[4].email);
        auto gov = pgcoro::select<User>().where(col(&User::email).like("%.gov"));
        auto none = co_await s.first(gov);
        BOOST_TEST(!none.has_value());
    });
}

BOOST_AUTO_TEST_CASE(first_of_a_query_limited_to_no_rows_is_nullopt)
{
    // first() is "the first row the query selects": a query with LIMIT 0 selects none, so
    // first() must not widen it to LIMIT 1.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);
        auto none = pgcoro::select<User>().order_by(&User::id).limit(0);
        BOOST_TEST(co_await s.count(none) == 0);
        auto first = co_await s.first(none);
        BOOST_TEST(!first.has_value());
        // A larger limit is narrowed, and the offset kept.
        auto third = pgcoro::select<User>().order_by(&User::id).limit(3).offset(2);
        auto from_third = co_await s.first(third);
        BOOST_TEST_REQUIRE(from_third.has_value());
        BOOST_TEST(from_third->id == people[2].id);
    });
}

BOOST_AUTO_TEST_CASE(one_and_get_by_refuse_several_rows)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);
        auto org = pgcoro::select<User>().where(col(&User::email).like("%.org"));
        co_await test::expect_failure(s.one(org), client_errc::too_many_rows);
        auto gov = pgcoro::select<User>().where(col(&User::email).like("%.gov"));
        co_await test::expect_failure(s.one(gov), client_errc::no_rows);
        auto net = pgcoro::select<User>().where(col(&User::email).like("%.net"));
        User eve = co_await s.one(net);
        BOOST_TEST(eve.id == people[4].id);

        auto two_match = col(&User::email).like("%.org");
        co_await test::expect_failure(s.get_by<User>(two_match), client_errc::too_many_rows);
        auto one_match = col(&User::email) == "carol@example.org";
        auto carol = co_await s.get_by<User>(one_match);
        BOOST_TEST_REQUIRE(carol.has_value());
        BOOST_TEST(carol->id == people[2].id);
    });
}

BOOST_AUTO_TEST_CASE(locked_rows_are_skipped_by_another_sessions_skip_locked_select)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options(2));
        auto holder = co_await pool.session();
        auto other = co_await pool.session();
        std::vector<User> people = co_await seed_people(holder);

        auto tx = co_await holder.begin();
        auto ann = pgcoro::select<User>().where(col(&User::id) == people[0].id).for_update();
        auto locked = co_await tx.all(ann);
        BOOST_TEST(locked.size() == 1u);
        auto bob = pgcoro::select<User>().where(col(&User::id) == people[1].id).lock(pgcoro::for_share());
        auto shared = co_await tx.first(bob);
        BOOST_TEST(shared.has_value());

        auto skipping = pgcoro::select<User>().order_by(&User::id).lock(pgcoro::for_update().skip_locked());
        auto unlocked = co_await other.all(skipping);
        BOOST_TEST(emails_of(unlocked) == emails_at(people, {2, 3, 4}), boost::test_tools::per_element());
        auto not_waiting =
            pgcoro::select<User>().where(col(&User::id) == people[0].id).lock(pgcoro::for_update().nowait());
        co_await test::expect_failure(other.all(not_waiting), pgcoro::condition::lock_not_available);
        // count() and exists() ignore the lock clause: they see every row.
        BOOST_TEST(co_await other.count(skipping) == 5);

        co_await tx.rollback();
        auto all_free = co_await other.all(skipping);
        BOOST_TEST(all_free.size() == 5u);
    });
}

// ---- 6. JSONB -------------------------------------------------------------------------------

namespace {

/// Documents for the path tests; the comments say which filters each must (not) match.
std::vector<boost::json::value> zodiac_documents()
{
    return {
        json(R"({"sun": {"sign": "Aries"}, "tags": ["fire", "cardinal"], "n": 5})"), // 0: sign, n
        json(R"({"sun": {"sign": "Taurus"}, "n": "5"})"),                            // 1: n (a string)
        json(R"({"sun": {"sign": ["Aries"]}, "n": [5]})"),               // 2: arrays holding the values
        json(R"({"sun": {"sign": "Aries", "moon": "Leo"}, "n": "05"})"), // 3: sign; not n
        json(R"({"sun": {}})"),                                          // 4: path missing
        json(R"({"other": {"sun": {"sign": "Aries"}}})"),                // 5: same keys, deeper
        json(R"({"sun": {"sign": "aries"}, "n": 50})"),                  // 6: other case; not n
        json(R"({"sun": "Aries"})"),                                     // 7: sun is no object
        json(R"({"sun": {"sign": {"name": "Aries"}}, "n": null})"),      // 8: sign is an object
        json(R"({"sun": {"sign": "Aries"}, "n": true})"),                // 9: sign
    };
}

} // namespace

BOOST_AUTO_TEST_CASE(json_path_text_equality_matches_exactly_the_text_at_the_path)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<boost::json::value> documents = zodiac_documents();
        std::vector<std::int64_t> ids = co_await seed_profiles(s, documents);

        auto aries = pgcoro::select<Profile>().where(col(&Profile::data)["sun"]["sign"].as_text() == "Aries");
        auto signs = co_await s.all(aries);
        BOOST_TEST(documents_of(signs, ids) == (std::vector<std::size_t>{0, 3, 9}),
                   boost::test_tools::per_element());

        // The number 5 and the string "5" both read as the text 5; [5], "05" and 50 do not.
        auto five = pgcoro::select<Profile>().where(col(&Profile::data)["n"].as_text() == "5");
        auto fives = co_await s.all(five);
        BOOST_TEST(documents_of(fives, ids) == (std::vector<std::size_t>{0, 1}),
                   boost::test_tools::per_element());

        auto truth = pgcoro::select<Profile>().where(col(&Profile::data)["n"].as_text() == "true");
        auto truths = co_await s.all(truth);
        BOOST_TEST(documents_of(truths, ids) == (std::vector<std::size_t>{9}),
                   boost::test_tools::per_element());

        // A JSON null reads as SQL NULL.
        auto null_n = pgcoro::select<Profile>().where(col(&Profile::data)["n"].as_text().is_null() &&
                                                      col(&Profile::data)["n"].exists());
        auto nulls = co_await s.all(null_n);
        BOOST_TEST(documents_of(nulls, ids) == (std::vector<std::size_t>{8}),
                   boost::test_tools::per_element());

        auto missing =
            pgcoro::select<Profile>().where(col(&Profile::data)["sun"]["sign"].as_text().is_null());
        auto without = co_await s.all(missing);
        BOOST_TEST(documents_of(without, ids) == (std::vector<std::size_t>{4, 5, 7}),
                   boost::test_tools::per_element());
    });
}

BOOST_AUTO_TEST_CASE(json_path_value_equality_matches_the_whole_value)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<boost::json::value> documents = zodiac_documents();
        std::vector<std::int64_t> ids = co_await seed_profiles(s, documents);

        boost::json::value aries_only = json(R"({"sign": "Aries"})");
        auto exact = pgcoro::select<Profile>().where(col(&Profile::data)["sun"] == aries_only);
        auto rows = co_await s.all(exact);
        // Not 3 (one more key), not 2 (an array), not 5 (deeper).
        BOOST_TEST(documents_of(rows, ids) == (std::vector<std::size_t>{0, 9}),
                   boost::test_tools::per_element());

        boost::json::value five = 5;
        auto number = pgcoro::select<Profile>().where(col(&Profile::data)["n"] == five);
        auto numbers = co_await s.all(number);
        BOOST_TEST(documents_of(numbers, ids) == (std::vector<std::size_t>{0}),
                   boost::test_tools::per_element());

        boost::json::value aries = "Aries";
        auto not_aries = pgcoro::select<Profile>().where(col(&Profile::data)["sun"]["sign"] != aries);
        auto others = co_await s.all(not_aries); // the path must exist
        BOOST_TEST(documents_of(others, ids) == (std::vector<std::size_t>{1, 2, 6, 8}),
                   boost::test_tools::per_element());
    });
}

BOOST_AUTO_TEST_CASE(json_containment_and_key_tests_select_the_matching_documents)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<boost::json::value> documents = zodiac_documents();
        std::vector<std::int64_t> ids = co_await seed_profiles(s, documents);

        boost::json::value sun_in_aries = json(R"({"sun": {"sign": "Aries"}})");
        auto contains = pgcoro::select<Profile>().where(col(&Profile::data).contains(sun_in_aries));
        auto rows = co_await s.all(contains);
        BOOST_TEST(documents_of(rows, ids) == (std::vector<std::size_t>{0, 3, 9}),
                   boost::test_tools::per_element());

        boost::json::value aries_only = json(R"({"sign": "Aries"})");
        auto path_contains = pgcoro::select<Profile>().where(col(&Profile::data)["sun"].contains(aries_only));
        auto path_rows = co_await s.all(path_contains);
        BOOST_TEST(documents_of(path_rows, ids) == (std::vector<std::size_t>{0, 3, 9}),
                   boost::test_tools::per_element());

        boost::json::value fire_array = json(R"(["fire"])");
        auto tags = pgcoro::select<Profile>().where(col(&Profile::data)["tags"].contains(fire_array));
        auto tagged = co_await s.all(tags);
        BOOST_TEST(documents_of(tagged, ids) == (std::vector<std::size_t>{0}),
                   boost::test_tools::per_element());

        auto has_tags = pgcoro::select<Profile>().where(col(&Profile::data).has_key("tags"));
        auto with_tags = co_await s.all(has_tags);
        BOOST_TEST(documents_of(with_tags, ids) == (std::vector<std::size_t>{0}),
                   boost::test_tools::per_element());
        auto has_moon = pgcoro::select<Profile>().where(col(&Profile::data)["sun"].has_key("moon"));
        auto with_moon = co_await s.all(has_moon);
        BOOST_TEST(documents_of(with_moon, ids) == (std::vector<std::size_t>{3}),
                   boost::test_tools::per_element());
        auto has_sun = pgcoro::select<Profile>().where(col(&Profile::data).has_key("sun"));
        BOOST_TEST(co_await s.count(has_sun) == 9); // not 5, whose "sun" is deeper
    });
}

BOOST_AUTO_TEST_CASE(json_path_contains_a_scalar_held_in_an_array)
{
    // json_path::contains is documented as "the value at the path contains v (jsonb @>)".
    // PostgreSQL's @> lets an array contain a scalar: ('["fire", "cardinal"]'::jsonb @>
    // '"fire"') is true, so data #> '{tags}' @> '"fire"' holds for document 0. The rewrite
    // data @> '{"tags": "fire"}' (GIN-friendly) is false for it: nested containment needs
    // equal types.
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<boost::json::value> documents = zodiac_documents();
        std::vector<std::int64_t> ids = co_await seed_profiles(s, documents);

        auto server_says = co_await s.query<std::int64_t>(
            "SELECT user_id FROM profiles WHERE data #> '{tags}' @> '\"fire\"'::jsonb ORDER BY user_id");
        BOOST_TEST_REQUIRE(server_says.size() == 1u);
        BOOST_TEST(server_says[0] == ids[0]);

        boost::json::value fire = "fire";
        auto tags = pgcoro::select<Profile>().where(col(&Profile::data)["tags"].contains(fire));
        auto tagged = co_await s.all(tags);
        BOOST_TEST(documents_of(tagged, ids) == (std::vector<std::size_t>{0}),
                   boost::test_tools::per_element());
    });
}

namespace {

/// 10 000 documents: five with sun sign "Aries", four tagged "rare", the rest spread over
/// many values, so both filters are highly selective.
std::vector<boost::json::value> many_documents()
{
    std::vector<boost::json::value> documents;
    for (int i = 0; i < 10'000; ++i) {
        boost::json::object sun;
        sun["sign"] = i % 2000 == 0 ? std::string("Aries") : "S" + std::to_string(i % 997);
        boost::json::object doc;
        doc["sun"] = std::move(sun);
        doc["n"] = i;
        boost::json::array tags;
        tags.emplace_back("t" + std::to_string(i % 50));
        tags.emplace_back(i % 3000 == 7 ? "rare" : "common");
        doc["tags"] = std::move(tags);
        documents.emplace_back(std::move(doc));
    }
    return documents;
}

} // namespace

BOOST_AUTO_TEST_CASE(json_path_filters_use_the_gin_index)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<boost::json::value> documents = many_documents();
        std::vector<std::int64_t> ids = co_await seed_profiles(s, documents);
        // VACUUM moves the rows out of the GIN index's pending list (a manual ANALYZE does
        // not), so the planner costs the index as it will be in steady state.
        co_await s.execute_script("VACUUM ANALYZE profiles");

        auto aries = pgcoro::select<Profile>().where(col(&Profile::data)["sun"]["sign"].as_text() == "Aries");
        std::string path_plan = co_await s.explain_analyze(aries);
        BOOST_TEST_INFO("plan:\n" << path_plan);
        BOOST_TEST(path_plan.find("Bitmap Index Scan on ix_profiles_data") != std::string::npos);
        auto signs = co_await s.all(aries);
        BOOST_TEST(documents_of(signs, ids) == (std::vector<std::size_t>{0, 2000, 4000, 6000, 8000}),
                   boost::test_tools::per_element());

        boost::json::value rare = json(R"({"tags": ["rare"]})");
        auto tagged = pgcoro::select<Profile>().where(col(&Profile::data).contains(rare));
        std::string containment_plan = co_await s.explain_analyze(tagged);
        BOOST_TEST_INFO("plan:\n" << containment_plan);
        BOOST_TEST(containment_plan.find("Bitmap Index Scan on ix_profiles_data") != std::string::npos);
        auto rares = co_await s.all(tagged);
        BOOST_TEST(documents_of(rares, ids) == (std::vector<std::size_t>{7, 3007, 6007, 9007}),
                   boost::test_tools::per_element());
    });
}

// ---- 7. Constraint violations ---------------------------------------------------------------

BOOST_AUTO_TEST_CASE(duplicate_email_is_a_unique_violation_naming_the_constraint)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User stored = co_await s.insert(ann);
        User twin = model_test::new_user("ann@example.com", "Twin");
        pgcoro::error e = co_await test::expect_failure(s.insert(twin), pgcoro::condition::unique_violation);
        BOOST_TEST(e.diag().constraint == "uq_users_email");
        BOOST_TEST(e.diag().table == "users");
        BOOST_TEST(e.diag().schema == model_test::schema_name());
        BOOST_TEST(std::string(e.what()).find("23505") != std::string::npos);

        // The same through update: bob takes ann's email.
        User bob_value = model_test::new_user("bob@example.com", "Bob");
        User bob = co_await s.insert(bob_value);
        bob.email = "ann@example.com";
        pgcoro::error again =
            co_await test::expect_failure(s.update(bob), pgcoro::condition::unique_violation);
        BOOST_TEST(again.diag().constraint == "uq_users_email");

        // The session is usable at once.
        auto rows = co_await s.list<User>();
        BOOST_TEST(rows.size() == 2u);
        auto still = co_await s.get<User>(stored.id);
        BOOST_TEST((still->name == std::optional<std::string>("Ann")));
    });
}

BOOST_AUTO_TEST_CASE(post_of_a_missing_author_is_a_foreign_key_violation)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        Post orphan = model_test::new_post(987'654'321, "Orphan");
        pgcoro::error e =
            co_await test::expect_failure(s.insert(orphan), pgcoro::condition::foreign_key_violation);
        BOOST_TEST(e.diag().constraint == "fk_posts_author_id");
        BOOST_TEST(e.diag().table == "posts");
        User ann = model_test::new_user("ann@example.com", "Ann");
        User author = co_await s.insert(ann);
        Post post = model_test::new_post(author.id, "Fine");
        Post stored = co_await s.insert(post);
        BOOST_TEST(!stored.id.is_nil());
    });
}

BOOST_AUTO_TEST_CASE(constraint_violation_aborts_the_transaction_until_rollback)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User stored = co_await s.insert(ann);

        auto tx = co_await s.begin();
        User bob = model_test::new_user("bob@example.com", "Bob");
        co_await tx.insert(bob);
        User twin = model_test::new_user("ann@example.com", "Twin");
        co_await test::expect_failure(tx.insert(twin), pgcoro::condition::unique_violation);
        co_await test::expect_failure(tx.get<User>(stored.id), client_errc::transaction_aborted);
        auto everyone = pgcoro::select<User>();
        co_await test::expect_failure(tx.count(everyone), client_errc::transaction_aborted);
        co_await tx.rollback();
        BOOST_TEST(co_await s.count(everyone) == 1); // bob went with the transaction

        // In a savepoint, only the savepoint is lost.
        auto outer = co_await s.begin();
        co_await outer.insert(bob);
        auto sp = co_await outer.begin();
        Post orphan = model_test::new_post(987'654'321, "Orphan");
        co_await test::expect_failure(sp.insert(orphan), pgcoro::condition::foreign_key_violation);
        co_await test::expect_failure(sp.list<Post>(), client_errc::transaction_aborted);
        co_await sp.rollback();
        User carol = model_test::new_user("carol@example.com", "Carol");
        co_await outer.insert(carol);
        co_await outer.commit();
        BOOST_TEST(co_await s.count(everyone) == 3);
    });
}

// ---- 8. Hostile strings ---------------------------------------------------------------------

namespace {

std::vector<std::string> hostile_strings()
{
    return {
        "'; DROP TABLE users; --",
        "Robert'); DROP TABLE students;--",
        "it's a 'quoted' string ''",
        "say \"hello\" \"\" \"users\"",
        "back\\slash \\' \\\\ \\x41",
        "$1 $2::text $$ dollar $$",
        "E'\\x27' U&'\\0027'",
        "ünïcödé 中文 😀 \u202e reversed",
        "%_ 100% a_b \\%",
        "-- comment\n/* block */; SELECT pg_sleep(10);",
        "\t\r\n whitespace ",
        "{a,\"b\"},{NULL}", // an array literal, should anything parse it as one
        "null",
        "",
    };
}

} // namespace

BOOST_AUTO_TEST_CASE(hostile_strings_are_stored_and_matched_verbatim)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        const std::vector<std::string> hostile = hostile_strings();
        for (std::size_t i = 0; i < hostile.size(); ++i) {
            const std::string& h = hostile[i];
            BOOST_TEST_CONTEXT("string " << i)
            {
                // insert
                User value = model_test::new_user(h, h);
                User stored = co_await s.insert(value);
                BOOST_TEST(stored.email == h);
                BOOST_TEST((stored.name == std::optional<std::string>(h)));
                // where ==
                auto by_email = col(&User::email) == h;
                auto found = co_await s.get_by<User>(by_email);
                BOOST_TEST_REQUIRE(found.has_value());
                BOOST_TEST(found->id == stored.id);
                // like, with the wildcards escaped: matches this row only
                auto like = pgcoro::select<User>().where(col(&User::name).like(like_literal(h)));
                auto liked = co_await s.all(like);
                BOOST_TEST_REQUIRE(liked.size() == 1u);
                BOOST_TEST(liked[0].id == stored.id);
                // update
                User changed = stored;
                changed.name = h + h;
                User updated = co_await s.update(changed);
                BOOST_TEST((updated.name == std::optional<std::string>(h + h)));
                // upsert (conflict branch)
                User again = model_test::new_user(h, "upserted " + h);
                auto on_email = pgcoro::columns(&User::email);
                pgcoro::upsert_result<User> upserted = co_await s.upsert(again, on_email);
                BOOST_TEST(!upserted.inserted);
                BOOST_TEST(upserted.row.id == stored.id);
                auto name = co_await s.scalar<std::string>("SELECT name FROM users WHERE id = $1", stored.id);
                BOOST_TEST(name == "upserted " + h);
            }
        }
        BOOST_TEST(co_await user_rows(s) == static_cast<std::int64_t>(hostile.size()));
        BOOST_TEST(co_await tables_present(s) == 5);
    });
}

BOOST_AUTO_TEST_CASE(like_wildcards_in_values_are_wildcards_only_where_unescaped)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> users{
            model_test::new_user("a@example.com", "100%"), model_test::new_user("b@example.com", "1000"),
            model_test::new_user("c@example.com", "a_b"), model_test::new_user("d@example.com", "axb")};
        co_await s.insert_many(users);
        auto percent_wild = pgcoro::select<User>().where(col(&User::name).like("100%"));
        BOOST_TEST(co_await s.count(percent_wild) == 2);
        auto percent_literal = pgcoro::select<User>().where(col(&User::name).like("100\\%"));
        auto percent = co_await s.all(percent_literal);
        BOOST_TEST_REQUIRE(percent.size() == 1u);
        BOOST_TEST(*percent[0].name == "100%");
        auto underscore_wild = pgcoro::select<User>().where(col(&User::name).like("a_b"));
        BOOST_TEST(co_await s.count(underscore_wild) == 2);
        auto underscore_literal = pgcoro::select<User>().where(col(&User::name).like("a\\_b"));
        auto underscore = co_await s.all(underscore_literal);
        BOOST_TEST_REQUIRE(underscore.size() == 1u);
        BOOST_TEST(*underscore[0].name == "a_b");
    });
}

BOOST_AUTO_TEST_CASE(hostile_jsonb_keys_and_values_round_trip_and_match)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        const std::vector<std::string> hostile = hostile_strings();
        std::vector<boost::json::value> documents;
        for (const std::string& h : hostile) {
            boost::json::object inner;
            inner[h] = h;
            boost::json::object doc;
            doc[h] = std::move(inner);
            documents.emplace_back(std::move(doc));
        }
        std::vector<std::int64_t> ids = co_await seed_profiles(s, documents);
        for (std::size_t i = 0; i < hostile.size(); ++i) {
            const std::string& h = hostile[i];
            BOOST_TEST_CONTEXT("string " << i)
            {
                auto stored = co_await s.get<Profile>(ids[i]);
                BOOST_TEST_REQUIRE(stored.has_value());
                BOOST_TEST((stored->data == documents[i]));
                auto text = pgcoro::select<Profile>().where(col(&Profile::data)[h][h].as_text() == h);
                auto by_text = co_await s.all(text);
                BOOST_TEST(documents_of(by_text, ids) == (std::vector<std::size_t>{i}),
                           boost::test_tools::per_element());
                auto key = pgcoro::select<Profile>().where(col(&Profile::data).has_key(h));
                auto by_key = co_await s.all(key);
                BOOST_TEST(documents_of(by_key, ids) == (std::vector<std::size_t>{i}),
                           boost::test_tools::per_element());
                auto contained = pgcoro::select<Profile>().where(col(&Profile::data).contains(documents[i]));
                auto by_containment = co_await s.all(contained);
                BOOST_TEST(documents_of(by_containment, ids) == (std::vector<std::size_t>{i}),
                           boost::test_tools::per_element());
            }
        }
        BOOST_TEST(co_await tables_present(s) == 5);
    });
}

BOOST_AUTO_TEST_CASE(embedded_nul_is_refused_before_anything_is_sent)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        const std::string with_nul("nul\0byte@example.com", 20);
        // Inside a transaction: had anything reached the server and failed there, the
        // transaction would now be aborted.
        auto tx = co_await s.begin();
        User bad = model_test::new_user(with_nul, "Nul");
        co_await test::expect_failure(tx.insert(bad), client_errc::invalid_parameter);
        auto on_email = pgcoro::columns(&User::email);
        co_await test::expect_failure(tx.upsert(bad, on_email), client_errc::invalid_parameter);
        std::vector<User> batch{model_test::new_user("fine@example.com", "Fine"), bad};
        co_await test::expect_failure(tx.insert_many(batch), client_errc::invalid_parameter);
        pgcoro::insert_many_options copy{.method = pgcoro::insert_method::copy};
        co_await test::expect_failure(tx.insert_many(batch, copy), client_errc::invalid_parameter);
        test::expect_error([&] { (void)(col(&User::email) == with_nul); }, client_errc::invalid_parameter);
        test::expect_error([&] { (void)col(&User::name).like(with_nul); }, client_errc::invalid_parameter);

        User good = model_test::new_user("good@example.com", "Good");
        User stored = co_await tx.insert(good);
        User changed = stored;
        changed.name = with_nul;
        co_await test::expect_failure(tx.update(changed), client_errc::invalid_parameter);
        BOOST_TEST(co_await user_rows(tx) == 1);
        co_await tx.commit();
        auto reread = co_await s.get<User>(stored.id);
        BOOST_TEST_REQUIRE(reread.has_value());
        BOOST_TEST((reread->name == std::optional<std::string>("Good")));

        // In JSON a NUL is the escape \u0000, which jsonb cannot store: refused by the client
        // or by the server, either way a pgcoro::error, and the session goes on.
        boost::json::object with_nul_value;
        with_nul_value["k"] = with_nul;
        Profile nul_profile{stored.id, std::move(with_nul_value)};
        bool refused = false;
        try {
            co_await s.insert(nul_profile);
        } catch (const pgcoro::error& e) {
            BOOST_TEST_INFO("what(): " << e.what());
            BOOST_TEST((e.code() == client_errc::invalid_parameter ||
                        e.code() == pgcoro::condition::data_exception));
            refused = true;
        }
        BOOST_TEST(refused);
        BOOST_TEST(co_await user_rows(s) == 1);
    });
}

// ---- 9. Raw SQL -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(raw_sql_maps_rows_into_models)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);
        std::string pattern = "%@example.org";
        auto rows = co_await s.query<User>("SELECT * FROM users WHERE email LIKE $1 ORDER BY id", pattern);
        BOOST_TEST_REQUIRE(rows.size() == 2u);
        BOOST_TEST((rows[0] == people[2]));
        BOOST_TEST((rows[1] == people[3]));
        BOOST_TEST(!rows[0].posts.loaded()); // a relation is never filled by a query
        test::expect_error([&] { (void)rows[0].posts.get(); }, client_errc::relation_not_loaded);

        // Columns are matched by name: any order, extra columns ignored.
        auto reordered = co_await s.query_one<User>("SELECT deleted_at, updated_at, created_at, name, email, "
                                                    "id, 42 AS extra FROM users WHERE id = $1",
                                                    people[0].id);
        BOOST_TEST((reordered == people[0]));
    });
}

BOOST_AUTO_TEST_CASE(rendered_statements_run_through_the_raw_calls_and_hold_no_values)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        std::vector<User> people = co_await seed_people(s);
        const std::string needle = "carol@example.org";
        pgcoro::sql_statement statement = pgcoro::select<User>().where(col(&User::email) == needle).render();
        BOOST_TEST(statement.sql().find("carol") == std::string::npos);
        BOOST_TEST(statement.describe().find("carol") == std::string::npos);
        BOOST_TEST(statement.parameter_count() == 1u);
        // The statement is passed by value: the calls are made before their co_await, so no
        // by-value argument lives across a suspension (g++ 12).
        auto all_rows = s.query<User>(statement);
        auto rows = co_await std::move(all_rows);
        BOOST_TEST_REQUIRE(rows.size() == 1u);
        BOOST_TEST((rows[0] == people[2]));
        BOOST_TEST(!rows[0].posts.loaded());
        auto one_row = s.query_one<User>(statement);
        User one = co_await std::move(one_row);
        BOOST_TEST(one.id == people[2].id);
        auto as_contacts = s.query<UserContact>(statement); // decoded into another struct
        auto contacts = co_await std::move(as_contacts);
        BOOST_TEST_REQUIRE(contacts.size() == 1u);
        BOOST_TEST(contacts[0].email == needle);

        pgcoro::sql_statement counting =
            pgcoro::select<User>().where(col(&User::id) > people[1].id).render_count();
        auto count_row = s.query_one<std::int64_t>(std::move(counting));
        auto counted = co_await std::move(count_row);
        BOOST_TEST(counted == 3);
    });
}

// ---- 10. Transactions: the repository never commits ----------------------------------------

BOOST_AUTO_TEST_CASE(model_writes_in_a_rolled_back_transaction_leave_nothing)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        auto observer = co_await model_test::connect();
        auto tx = co_await s.begin();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User stored = co_await tx.insert(ann);
        std::vector<User> batch;
        for (int i = 0; i < 10; ++i)
            batch.push_back(model_test::new_user("tx" + std::to_string(i) + "@example.com", std::nullopt));
        co_await tx.insert_many(batch);
        pgcoro::insert_many_options copy{.method = pgcoro::insert_method::copy};
        std::vector<User> copied{model_test::new_user("copied@example.com", std::nullopt)};
        co_await tx.insert_many(copied, copy);
        stored.name = "Ann B";
        co_await tx.update(stored);
        User bob = model_test::new_user("bob@example.com", "Bob");
        auto on_email = pgcoro::columns(&User::email);
        pgcoro::upsert_result<User> inserted = co_await tx.upsert(bob, on_email);
        BOOST_TEST(inserted.inserted);
        pgcoro::upsert_result<User> conflicted = co_await tx.upsert(bob, on_email); // row of this transaction
        BOOST_TEST(!conflicted.inserted);
        BOOST_TEST(co_await user_rows(tx) == 13);
        BOOST_TEST(co_await user_rows(observer) == 0); // nothing committed
        co_await tx.rollback();
        BOOST_TEST(co_await user_rows(s) == 0);
        BOOST_TEST(co_await user_rows(observer) == 0);
    });
}

BOOST_AUTO_TEST_CASE(model_writes_commit_with_their_transaction)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        auto observer = co_await model_test::connect();
        auto tx = co_await s.begin();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User stored = co_await tx.insert(ann);
        BOOST_TEST(co_await user_rows(observer) == 0);
        co_await tx.commit();
        auto seen = co_await observer.get<User>(stored.id);
        BOOST_TEST_REQUIRE(seen.has_value());
        BOOST_TEST((*seen == stored));
    });
}

BOOST_AUTO_TEST_CASE(model_calls_work_on_savepoints)
{
    test::run([]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, model_test::pool_options());
        auto s = co_await pool.session();
        auto tx = co_await s.begin();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User kept = co_await tx.insert(ann);
        {
            auto sp = co_await tx.begin();
            User bob = model_test::new_user("bob@example.com", "Bob");
            co_await sp.insert(bob);
            BOOST_TEST(co_await sp.soft_remove(kept));
            auto visible = co_await sp.list<User>();
            BOOST_TEST(emails_of(visible) == std::vector<std::string>{"bob@example.com"},
                       boost::test_tools::per_element());
            co_await sp.rollback();
        }
        {
            auto sp = co_await tx.begin();
            User carol = model_test::new_user("carol@example.com", "Carol");
            co_await sp.insert(carol);
            kept.name = "Ann B";
            co_await sp.update(kept);
            co_await sp.commit();
        }
        co_await tx.commit();
        auto rows = co_await s.list<User>();
        BOOST_TEST(emails_of(rows) == (std::vector<std::string>{"ann@example.com", "carol@example.com"}),
                   boost::test_tools::per_element());
        BOOST_TEST((rows[0].name == std::optional<std::string>("Ann B")));
        BOOST_TEST(!rows[0].deleted_at.has_value()); // the soft delete was rolled back
    });
}

BOOST_AUTO_TEST_CASE(model_calls_work_on_a_raw_connection)
{
    test::run([]() -> asio::awaitable<void> {
        auto db = co_await model_test::connect();
        User ann = model_test::new_user("ann@example.com", "Ann");
        User stored = co_await db.insert(ann);
        auto got = co_await db.get<User>(stored.id);
        BOOST_TEST(got.has_value());
        stored.name = "Ann B";
        User updated = co_await db.update(stored);
        BOOST_TEST((updated.name == std::optional<std::string>("Ann B")));
        std::vector<User> more{model_test::new_user("bob@example.com", "Bob"),
                               model_test::new_user("carol@example.com", "Carol")};
        BOOST_TEST(co_await db.insert_many(more) == 2u);
        auto everyone = pgcoro::select<User>().order_by(&User::id);
        auto rows = co_await db.all(everyone);
        BOOST_TEST(rows.size() == 3u);
        BOOST_TEST(co_await db.soft_remove(stored));
        BOOST_TEST(co_await db.count(everyone) == 2);
        auto on_email = pgcoro::columns(&User::email);
        pgcoro::upsert_result<User> upserted = co_await db.upsert(ann, on_email);
        BOOST_TEST(!upserted.inserted);
        BOOST_TEST(co_await db.remove(stored));
        BOOST_TEST(co_await db.count(everyone) == 2);
        auto listed = co_await db.list<User>();
        BOOST_TEST(listed.size() == 2u);
        // No transaction was left open behind the caller's back.
        BOOST_TEST((db.transaction() == pgcoro::transaction_status::idle));
    });
}

BOOST_AUTO_TEST_SUITE_END()
