#pragma once
// The example's models: users, posts with tags, JSONB profiles, wallets and transfers,
// shared by the examples, the HTTP service and the example's migration tool (migrate.cpp,
// which wrote their first migration). Their tables are created by examples/migrations.

#include <pgcoro/pgcoro.hpp>

#include <boost/describe.hpp>
#include <boost/json.hpp>
#include <boost/uuid/uuid.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

struct User;

struct Tag {
    std::int64_t id = 0;
    std::string name;
};
BOOST_DESCRIBE_STRUCT(Tag, (), (id, name))

/// The association table of Post::tags.
struct PostTag {
    boost::uuids::uuid post_id{};
    std::int64_t tag_id = 0;
};
BOOST_DESCRIBE_STRUCT(PostTag, (), (post_id, tag_id))

struct Post {
    boost::uuids::uuid id{};
    std::int64_t author_id = 0;
    std::string title;
    std::optional<pgcoro::timestamp> created_at;
    std::optional<pgcoro::timestamp> updated_at;
    pgcoro::related<std::shared_ptr<User>> author; // many-to-one
    pgcoro::related<std::vector<Tag>> tags;        // many-to-many through post_tags
};
BOOST_DESCRIBE_STRUCT(Post, (), (id, author_id, title, created_at, updated_at, author, tags))

struct User {
    std::int64_t id = 0;
    std::string email;
    std::string name;
    std::optional<pgcoro::timestamp> created_at;
    std::optional<pgcoro::timestamp> updated_at;
    std::optional<pgcoro::timestamp> deleted_at;
    pgcoro::related<std::vector<Post>> posts; // a relation: never read from or written to "users"
};
BOOST_DESCRIBE_STRUCT(User, (), (id, email, name, created_at, updated_at, deleted_at, posts))

struct Profile {
    std::int64_t user_id = 0;
    boost::json::value data;
};
BOOST_DESCRIBE_STRUCT(Profile, (), (user_id, data))

struct Wallet {
    std::int64_t user_id = 0;
    std::int64_t balance = 0;
};
BOOST_DESCRIBE_STRUCT(Wallet, (), (user_id, balance))

struct Transfer {
    std::int64_t id = 0;
    std::int64_t from_user = 0;
    std::int64_t to_user = 0;
    std::int64_t amount = 0;
    std::optional<pgcoro::timestamp> created_at;
};
BOOST_DESCRIBE_STRUCT(Transfer, (), (id, from_user, to_user, amount, created_at))

/// Only some of a user's columns (select<User>().into<UserCard>()).
struct UserCard {
    std::int64_t id = 0;
    std::string name;
};
BOOST_DESCRIBE_STRUCT(UserCard, (), (id, name))

template <> struct pgcoro::model_traits<Tag> {
    static constexpr std::string_view table = "tags";
    static constexpr auto primary_key = &Tag::id;
    static constexpr auto generated = &Tag::id;
};
template <> struct pgcoro::model_traits<PostTag> {
    static constexpr std::string_view table = "post_tags";
    static constexpr auto primary_key = std::tuple{&PostTag::post_id, &PostTag::tag_id};
};
template <> struct pgcoro::model_traits<User> {
    static constexpr std::string_view table = "users";
    static constexpr auto primary_key = &User::id;
    static constexpr auto generated = &User::id; // bigint identity
    static constexpr auto created_at = &User::created_at;
    static constexpr auto updated_at = &User::updated_at;
    static constexpr auto deleted_at = &User::deleted_at; // soft delete
    static constexpr auto relations = std::tuple{pgcoro::has_many(&User::posts, &Post::author_id)};
};
template <> struct pgcoro::model_traits<Post> {
    static constexpr std::string_view table = "posts";
    static constexpr auto primary_key = &Post::id;
    static constexpr auto generated = &Post::id; // DEFAULT gen_random_uuid()
    static constexpr auto created_at = &Post::created_at;
    static constexpr auto updated_at = &Post::updated_at;
    static constexpr auto relations = std::tuple{
        pgcoro::belongs_to(&Post::author, &Post::author_id),
        pgcoro::many_to_many(&Post::tags, &PostTag::post_id, &PostTag::tag_id),
    };
};
template <> struct pgcoro::model_traits<Wallet> {
    static constexpr std::string_view table = "wallets";
    static constexpr auto primary_key = &Wallet::user_id;
};
template <> struct pgcoro::model_traits<Transfer> {
    static constexpr std::string_view table = "transfers";
    static constexpr auto primary_key = &Transfer::id;
    static constexpr auto generated = &Transfer::id;
    static constexpr auto created_at = &Transfer::created_at;
};
template <> struct pgcoro::model_traits<Profile> {
    static constexpr std::string_view table = "profiles";
    static constexpr auto primary_key = &Profile::user_id;
};

/// The tables' DDL beyond what the models say: constraints, indexes and ON DELETE actions.
/// migrate.cpp writes the first migration (examples/migrations/0001_create_schema) from it.
inline std::vector<pgcoro::table_definition> example_tables()
{
    return {
        pgcoro::table<User>().unique(&User::email),
        pgcoro::table<Post>().references(&Post::author_id, &User::id, pgcoro::referential_action::cascade),
        pgcoro::table<Profile>()
            .references(&Profile::user_id, &User::id, pgcoro::referential_action::cascade)
            .gin(&Profile::data),
    };
}
