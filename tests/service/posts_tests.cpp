// Posts and tags through the HTTP service: keyset paging walked forwards and backwards over
// every seeded post, posts with their author and sorted tags, creation and deletion, cursors
// that are malformed, forged or signed by another process, and the tag listing. One service
// for the suite, seeded with 20 users (100 posts).

#include "service_support.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace service_test;

struct posts_service {
    static std::vector<std::string> arguments() { return {"--seed", "20"}; }
};
using posts = suite_service<posts_service>;

struct posts_page {
    std::vector<json::value> items;
    std::optional<std::string> next;
    std::optional<std::string> previous;
};

std::optional<std::string> cursor_member(const json::value& body, std::string_view key)
{
    const json::value& value = body.at(key);
    if (value.is_null())
        return std::nullopt;
    require(value.is_string(), std::string(key) + " is neither a string nor null");
    return std::string(value.as_string());
}

posts_page get_posts(http_client& client, const std::string& query)
{
    json::value body = expect_json(client.get(query.empty() ? "/posts" : "/posts?" + query), 200);
    BOOST_TEST_REQUIRE((keys(body) == std::vector<std::string>{"items", "next", "previous"}),
                       "GET /posts?" << query << " gave " << json::serialize(body));
    posts_page page;
    for (const json::value& item : body.at("items").as_array())
        page.items.push_back(item);
    page.next = cursor_member(body, "next");
    page.previous = cursor_member(body, "previous");
    return page;
}

bool is_uuid(std::string_view text)
{
    static const std::regex pattern("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
    return std::regex_match(text.begin(), text.end(), pattern);
}

/// Checks a post's exact shape (author embedded, tags sorted and distinct); returns its id.
std::string check_post_shape(const json::value& post)
{
    BOOST_TEST_CONTEXT("post: " << json::serialize(post))
    {
        BOOST_TEST_REQUIRE((keys(post) == std::vector<std::string>{"author", "author_id", "created_at", "id",
                                                                   "tags", "title", "updated_at"}));
        std::string id = string_member(post, "id");
        BOOST_TEST(is_uuid(id));
        BOOST_TEST(check_user_shape(post.at("author")) == int_member(post, "author_id"));
        BOOST_TEST(is_rfc3339_utc(string_member(post, "created_at")));
        BOOST_TEST(is_rfc3339_utc(string_member(post, "updated_at")));
        BOOST_TEST_REQUIRE(post.at("tags").is_array());
        std::vector<std::string> tags;
        for (const json::value& tag : post.at("tags").as_array()) {
            BOOST_TEST_REQUIRE(tag.is_string());
            tags.emplace_back(tag.as_string());
        }
        BOOST_TEST((std::adjacent_find(tags.begin(), tags.end(), std::greater_equal<>()) == tags.end()),
                   "tags are not sorted by name without duplicates");
        return id;
    }
    return "";
}

/// Newest first: (created_at, id) strictly descending from `a` to `b`.
bool newer(const json::value& a, const json::value& b)
{
    auto key = [](const json::value& post) {
        return std::make_pair(timestamp_sort_key(string_member(post, "created_at")),
                              string_member(post, "id"));
    };
    return key(a) > key(b);
}

/// Follows `next` from the first page; every page checked on the way.
std::vector<posts_page> walk_forwards(http_client& client, int limit, const std::string& filter = "")
{
    std::vector<posts_page> pages;
    std::string base = "limit=" + std::to_string(limit) + filter;
    pages.push_back(get_posts(client, base));
    while (pages.back().next) {
        BOOST_TEST_REQUIRE(pages.size() < 1000u, "the walk does not end");
        pages.push_back(get_posts(client, base + "&after=" + url_encode(*pages.back().next)));
    }
    return pages;
}

std::vector<json::value> flatten(const std::vector<posts_page>& pages)
{
    std::vector<json::value> all;
    for (const posts_page& page : pages)
        all.insert(all.end(), page.items.begin(), page.items.end());
    return all;
}

std::vector<std::string> ids_of(const std::vector<json::value>& posts)
{
    std::vector<std::string> ids;
    for (const json::value& post : posts)
        ids.push_back(string_member(post, "id"));
    return ids;
}

std::int64_t some_author(const std::string& dsn)
{
    return sql_int(dsn, "SELECT min(id) FROM users");
}

std::string unique_tag(std::string_view prefix)
{
    static int counter = 0;
    return std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

/// Every tag of GET /tags, paging through with per_page=100.
std::vector<json::value> all_tags(http_client& client)
{
    std::vector<json::value> tags;
    for (int page = 1;; ++page) {
        json::value body = expect_json(client.get("/tags?per_page=100&page=" + std::to_string(page)), 200);
        for (const json::value& tag : body.at("items").as_array())
            tags.push_back(tag);
        if (page >= int_member(body, "pages"))
            return tags;
    }
}

/// A cursor with one character in the middle replaced by another of its alphabet.
std::string flip_one_character(std::string cursor)
{
    std::size_t middle = cursor.size() / 2;
    cursor[middle] = cursor[middle] == 'A' ? 'B' : 'A';
    return cursor;
}

} // namespace

BOOST_AUTO_TEST_SUITE(service_posts, *boost::unit_test::fixture<posts>())

BOOST_AUTO_TEST_CASE(keyset_walk_forwards_visits_every_post_once_newest_first)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    std::vector<posts_page> pages = walk_forwards(client, 7);
    BOOST_TEST(!pages.front().previous.has_value(), "the first page has a previous cursor");
    for (std::size_t i = 1; i < pages.size(); ++i)
        BOOST_TEST(pages[i].previous.has_value(), "page " << i << " has no previous cursor");
    for (std::size_t i = 0; i + 1 < pages.size(); ++i)
        BOOST_TEST(pages[i].items.size() == 7u);
    std::vector<json::value> all = flatten(pages);
    for (const json::value& post : all)
        check_post_shape(post);
    for (std::size_t i = 0; i + 1 < all.size(); ++i)
        BOOST_TEST(newer(all[i], all[i + 1]), "posts " << i << " and " << i + 1 << " are not newest first");
    std::vector<std::string> ids = ids_of(all);
    std::set<std::string> distinct(ids.begin(), ids.end());
    BOOST_TEST(distinct.size() == ids.size(), "a post appears twice");
    std::vector<std::string> stored = sql_texts(env.database.dsn(), "SELECT id::text FROM posts");
    BOOST_TEST(distinct == std::set<std::string>(stored.begin(), stored.end()));
    BOOST_TEST(ids.size() >= 100u);
}

BOOST_AUTO_TEST_CASE(keyset_walk_backwards_with_before_visits_every_post_once)
{
    http_client client(posts::get().service.port());
    std::vector<std::string> forwards = ids_of(flatten(walk_forwards(client, 7)));
    // The last page of the forward walk, then previous until there is none.
    std::vector<posts_page> pages = walk_forwards(client, 7);
    std::vector<json::value> sequence = pages.back().items;
    std::optional<std::string> cursor = pages.back().previous;
    int steps = 0;
    while (cursor) {
        BOOST_TEST_REQUIRE(++steps < 1000, "the backward walk does not end");
        posts_page page = get_posts(client, "limit=7&before=" + url_encode(*cursor));
        BOOST_TEST_REQUIRE(!page.items.empty(), "a backward page is empty but had a cursor to it");
        BOOST_TEST(page.next.has_value(), "a page reached backwards has no next cursor");
        sequence.insert(sequence.begin(), page.items.begin(), page.items.end());
        cursor = page.previous;
    }
    BOOST_TEST(ids_of(sequence) == forwards, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(posts_carry_their_author_and_their_tags)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    std::vector<json::value> all = flatten(walk_forwards(client, 100));
    std::set<std::string> api;
    std::map<std::int64_t, json::value> authors;
    for (const json::value& post : all) {
        std::string tags;
        for (const json::value& tag : post.at("tags").as_array())
            tags += (tags.empty() ? "" : ",") + std::string(tag.as_string());
        api.insert(string_member(post, "id") + "|" + tags);
        authors.emplace(int_member(post, "author_id"), post.at("author"));
    }
    std::vector<std::string> stored = sql_texts(
        env.database.dsn(),
        "SELECT p.id::text || '|' || coalesce(string_agg(t.name, ',' ORDER BY t.name COLLATE \"C\"), '') "
        "FROM posts p LEFT JOIN post_tags pt ON pt.post_id = p.id "
        "LEFT JOIN tags t ON t.id = pt.tag_id GROUP BY p.id");
    BOOST_TEST(api == std::set<std::string>(stored.begin(), stored.end()));
    for (const auto& [id, author] : authors) {
        json::value user = expect_json(client.get("/users/" + std::to_string(id)), 200);
        BOOST_TEST(author == user, json::serialize(author) << " is not " << json::serialize(user));
    }
}

BOOST_AUTO_TEST_CASE(author_filter_pages_through_that_authors_posts_only)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    std::int64_t author = some_author(env.database.dsn());
    std::vector<json::value> all = flatten(walk_forwards(client, 2, "&author_id=" + std::to_string(author)));
    for (const json::value& post : all)
        BOOST_TEST(int_member(post, "author_id") == author);
    BOOST_TEST(static_cast<std::int64_t>(all.size()) ==
               sql_int(env.database.dsn(),
                       "SELECT count(*) FROM posts WHERE author_id = " + std::to_string(author)));
}

BOOST_AUTO_TEST_CASE(posts_of_an_author_without_posts_are_an_empty_page)
{
    http_client client(posts::get().service.port());
    posts_page page = get_posts(client, "author_id=987654321");
    BOOST_TEST(page.items.empty());
    BOOST_TEST(!page.next.has_value());
}

BOOST_AUTO_TEST_CASE(posts_limit_defaults_to_20_and_accepts_1_to_100)
{
    http_client client(posts::get().service.port());
    BOOST_TEST(get_posts(client, "").items.size() == 20u);
    posts_page one = get_posts(client, "limit=1");
    BOOST_TEST(one.items.size() == 1u);
    BOOST_TEST(one.next.has_value());
    BOOST_TEST(get_posts(client, "limit=100").items.size() == 100u);
}

BOOST_AUTO_TEST_CASE(posts_limit_out_of_range_is_400)
{
    http_client client(posts::get().service.port());
    for (const std::string& query :
         std::vector<std::string>{"limit=0", "limit=101", "limit=-1", "limit=x", "limit=", "limit=1.5",
                                  "limit=99999999999999999999"}) {
        BOOST_TEST_CONTEXT("GET /posts?" << query)
        {
            check_error(client.get("/posts?" + query), 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_CASE(posts_reject_unknown_query_parameters)
{
    http_client client(posts::get().service.port());
    for (const std::string& query :
         std::vector<std::string>{"page=1", "limit=5&sort=asc", "Limit=5", "tag=x"}) {
        BOOST_TEST_CONTEXT("GET /posts?" << query)
        {
            check_error(client.get("/posts?" + query), 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_CASE(posts_reject_bad_author_ids)
{
    http_client client(posts::get().service.port());
    for (const std::string& id :
         std::vector<std::string>{"0", "-1", "abc", "", "1.5", "99999999999999999999"}) {
        BOOST_TEST_CONTEXT("GET /posts?author_id=" << id)
        {
            check_error(client.get("/posts?author_id=" + id), 400, "bad_request");
        }
    }
}

// An empty cursor too: taken for "no cursor" it would silently restart a walk at the first page.
BOOST_AUTO_TEST_CASE(posts_reject_malformed_cursors)
{
    http_client client(posts::get().service.port());
    for (const std::string& cursor : std::vector<std::string>{
             "garbage", "", "%00", "%FF%FE", std::string(5000, 'A'), "eyJ9", "....", "null"}) {
        for (const char* direction : {"after", "before"}) {
            std::string target = std::string("/posts?") + direction + "=" + cursor;
            BOOST_TEST_CONTEXT("GET " << target.substr(0, 80))
            {
                check_error(client.get(target), 400, "bad_request");
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(posts_reject_forged_cursors)
{
    http_client client(posts::get().service.port());
    posts_page first = get_posts(client, "limit=3");
    BOOST_TEST_REQUIRE(first.next.has_value());
    const std::string& cursor = *first.next;
    BOOST_TEST_REQUIRE(cursor.size() > 4u);
    for (const std::string& forged :
         std::vector<std::string>{flip_one_character(cursor), cursor.substr(0, cursor.size() - 1),
                                  cursor + "A", cursor.substr(1)}) {
        BOOST_TEST_CONTEXT("after=" << forged)
        {
            check_error(client.get("/posts?limit=3&after=" + url_encode(forged)), 400, "bad_request");
        }
    }
    // The genuine cursor still works.
    BOOST_TEST(get_posts(client, "limit=3&after=" + url_encode(cursor)).items.size() == 3u);
}

BOOST_AUTO_TEST_CASE(posts_reject_after_and_before_together)
{
    http_client client(posts::get().service.port());
    posts_page second = get_posts(client, "limit=3&after=" + url_encode(*get_posts(client, "limit=3").next));
    BOOST_TEST_REQUIRE((second.next && second.previous));
    check_error(client.get("/posts?limit=3&after=" + url_encode(*second.next) +
                           "&before=" + url_encode(*second.previous)),
                400, "bad_request");
}

BOOST_AUTO_TEST_CASE(cursor_of_another_process_is_400)
{
    auto& env = posts::get();
    std::string foreign;
    {
        service_process other(env.database.dsn());
        http_client other_client(other.port());
        posts_page page = get_posts(other_client, "limit=3");
        BOOST_TEST_REQUIRE(page.next.has_value());
        foreign = *page.next;
        other_client.close();
        other.stop();
    }
    http_client client(env.service.port());
    check_error(client.get("/posts?limit=3&after=" + url_encode(foreign)), 400, "bad_request");
}

BOOST_AUTO_TEST_CASE(cursor_signed_with_a_shared_key_works_in_another_process)
{
    auto& env = posts::get();
    const std::string key = "shared-signing-key-for-the-test";
    service_process first(env.database.dsn(), {"--signing-key", key});
    service_process second(env.database.dsn(), {"--signing-key", key});
    {
        http_client a(first.port());
        http_client b(second.port());
        posts_page page = get_posts(a, "limit=3");
        BOOST_TEST_REQUIRE(page.next.has_value());
        std::vector<std::string> from_a =
            ids_of(get_posts(a, "limit=3&after=" + url_encode(*page.next)).items);
        std::vector<std::string> from_b =
            ids_of(get_posts(b, "limit=3&after=" + url_encode(*page.next)).items);
        BOOST_TEST(from_a == from_b, boost::test_tools::per_element());
    }
    first.stop();
    second.stop();
}

BOOST_AUTO_TEST_CASE(create_post_returns_201_with_author_sorted_tags_and_location)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    std::int64_t author = some_author(env.database.dsn());
    std::string zeta = unique_tag("zeta"), alpha = unique_tag("alpha"), middle = unique_tag("mid");
    http_response response =
        client.post("/posts", json::value{{"author_id", author},
                                          {"title", "Hello"},
                                          {"tags", json::array{zeta, alpha, alpha, middle}}});
    json::value post = expect_json(response, 201);
    std::string id = check_post_shape(post);
    BOOST_TEST(response.header("Location") == "/posts/" + id);
    BOOST_TEST(int_member(post, "author_id") == author);
    BOOST_TEST(string_member(post, "title") == "Hello");
    BOOST_TEST(post.at("tags") == json::value(json::array{alpha, middle, zeta}),
               json::serialize(post.at("tags")));
    json::value user = expect_json(client.get("/users/" + std::to_string(author)), 200);
    BOOST_TEST(post.at("author") == user);
    json::value fetched = expect_json(client.get("/posts/" + id), 200);
    BOOST_TEST(fetched == post, json::serialize(fetched) << " vs " << json::serialize(post));
}

BOOST_AUTO_TEST_CASE(create_post_without_tags_has_an_empty_tag_list)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    json::value post =
        expect_json(client.post("/posts", json::value{{"author_id", some_author(env.database.dsn())},
                                                      {"title", "No tags"}}),
                    201);
    BOOST_TEST(post.at("tags") == json::value(json::array{}));
}

BOOST_AUTO_TEST_CASE(create_post_accepts_boundary_title_and_tags)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    json::array tags;
    for (int i = 0; i < 9; ++i)
        tags.emplace_back(unique_tag("ten"));
    std::string longest = unique_tag("l");
    longest += std::string(50 - longest.size(), 'x');
    tags.emplace_back(longest);
    http_response response = client.post("/posts", json::value{{"author_id", some_author(env.database.dsn())},
                                                               {"title", std::string(200, 't')},
                                                               {"tags", tags}});
    json::value post = expect_json(response, 201);
    BOOST_TEST(post.at("tags").as_array().size() == 10u);
    BOOST_TEST(string_member(post, "title").size() == 200u);
}

BOOST_AUTO_TEST_CASE(create_post_creates_a_tag_on_first_use_only)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    std::int64_t author = some_author(env.database.dsn());
    std::string tag = unique_tag("fresh");
    auto stored = [&] {
        return sql_int(env.database.dsn(), "SELECT count(*) FROM tags WHERE name = '" + tag + "'");
    };
    BOOST_TEST(stored() == 0);
    for (int i = 0; i < 2; ++i)
        expect_json(
            client.post("/posts",
                        json::value{{"author_id", author}, {"title", "T"}, {"tags", json::array{tag}}}),
            201);
    BOOST_TEST(stored() == 1);
    std::vector<json::value> tags = all_tags(client);
    auto found = std::find_if(tags.begin(), tags.end(),
                              [&](const json::value& t) { return string_member(t, "name") == tag; });
    BOOST_TEST_REQUIRE((found != tags.end()), "the new tag is not listed");
    BOOST_TEST(int_member(*found, "posts") == 2);
}

BOOST_AUTO_TEST_CASE(concurrent_posts_with_one_new_tag_all_succeed_and_share_it)
{
    auto& env = posts::get();
    std::int64_t author = some_author(env.database.dsn());
    std::string tag = unique_tag("race");
    std::vector<unsigned> statuses = in_parallel(16, [&](int) -> unsigned {
        try {
            http_client client(env.service.port());
            return client
                .post("/posts",
                      json::value{{"author_id", author}, {"title", "Race"}, {"tags", json::array{tag}}})
                .status;
        } catch (const std::exception&) {
            return 0;
        }
    });
    BOOST_TEST(std::count(statuses.begin(), statuses.end(), 201u) == 16);
    BOOST_TEST(sql_int(env.database.dsn(), "SELECT count(*) FROM tags WHERE name = '" + tag + "'") == 1);
    BOOST_TEST(
        sql_int(env.database.dsn(), "SELECT count(*) FROM post_tags pt JOIN tags t ON t.id = pt.tag_id "
                                    "WHERE t.name = '" +
                                        tag + "'") == 16);
}

BOOST_AUTO_TEST_CASE(create_post_for_an_unknown_author_is_422)
{
    http_client client(posts::get().service.port());
    check_error(client.post("/posts", json::value{{"author_id", 987654321}, {"title", "T"}}), 422,
                "unprocessable");
    check_error(client.post("/posts", json::value{{"author_id", INT64_MAX}, {"title", "T"}}), 422,
                "unprocessable");
}

BOOST_AUTO_TEST_CASE(create_post_for_a_deleted_author_is_422)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    std::int64_t author = int_member(create_user(client, unique_email("gone"), "Gone"), "id");
    BOOST_TEST_REQUIRE(client.del("/users/" + std::to_string(author)).status == 204u);
    std::int64_t before = sql_int(env.database.dsn(), "SELECT count(*) FROM posts");
    check_error(client.post("/posts", json::value{{"author_id", author}, {"title", "T"}}), 422,
                "unprocessable");
    BOOST_TEST(sql_int(env.database.dsn(), "SELECT count(*) FROM posts") == before);
}

BOOST_AUTO_TEST_CASE(create_post_rejects_invalid_titles)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    std::string author = std::to_string(some_author(env.database.dsn()));
    for (const std::string& title :
         std::vector<std::string>{R"("")", "\"" + std::string(201, 't') + "\"", "5", "null", R"(["t"])",
                                  R"("a\u0000b")", "\"\xff\""}) {
        std::string body = "{\"author_id\": " + author + ", \"title\": " + title + "}";
        BOOST_TEST_CONTEXT("POST /posts " << body.substr(0, 100))
        {
            check_error(client.post("/posts", body), 400, "bad_request");
        }
    }
    check_error(client.post("/posts", "{\"author_id\": " + author + "}"), 400, "bad_request");
}

BOOST_AUTO_TEST_CASE(create_post_rejects_invalid_tags)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    std::string author = std::to_string(some_author(env.database.dsn()));
    std::string eleven = "[";
    for (int i = 0; i < 11; ++i)
        eleven += (i ? ", \"" : "\"") + unique_tag("eleven") + "\"";
    eleven += "]";
    for (const std::string& tags :
         std::vector<std::string>{eleven, R"([""])", "[\"" + std::string(51, 'x') + "\"]", R"("solo")", "[1]",
                                  "[null]", R"([["nested"]])", "{}", R"(["a\u0000b"])", "[\"\xc3\"]"}) {
        std::string body = "{\"author_id\": " + author + ", \"title\": \"T\", \"tags\": " + tags + "}";
        BOOST_TEST_CONTEXT("POST /posts " << body.substr(0, 200))
        {
            check_error(client.post("/posts", body), 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_CASE(create_post_rejects_invalid_author_ids)
{
    http_client client(posts::get().service.port());
    for (const std::string& author :
         std::vector<std::string>{R"("1")", "0", "-1", "1.5", "null", "true", "9223372036854775808"}) {
        std::string body = "{\"author_id\": " + author + ", \"title\": \"T\"}";
        BOOST_TEST_CONTEXT("POST /posts " << body)
        {
            check_error(client.post("/posts", body), 400, "bad_request");
        }
    }
    check_error(client.post("/posts", R"({"title": "T"})"), 400, "bad_request");
}

BOOST_AUTO_TEST_CASE(create_post_rejects_unknown_fields)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    json::value body = {{"author_id", some_author(env.database.dsn())}, {"title", "T"}, {"body", "text"}};
    check_error(client.post("/posts", body), 400, "bad_request");
}

BOOST_AUTO_TEST_CASE(post_ids_must_be_uuids)
{
    http_client client(posts::get().service.port());
    for (const std::string& id : std::vector<std::string>{
             "xyz", "123", "00000000-0000-0000-0000-00000000000", "00000000-0000-0000-0000-0000000000000",
             "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz", "00000000000000000000000000000000-", "%00"}) {
        BOOST_TEST_CONTEXT("/posts/" << id)
        {
            check_error(client.get("/posts/" + id), 400, "bad_request");
            check_error(client.del("/posts/" + id), 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_CASE(unknown_post_is_404)
{
    http_client client(posts::get().service.port());
    check_error(client.get("/posts/00000000-0000-4000-8000-000000000000"), 404, "not_found");
    check_error(client.del("/posts/00000000-0000-4000-8000-000000000000"), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(delete_post_is_204_then_404)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    json::value post =
        expect_json(client.post("/posts", json::value{{"author_id", some_author(env.database.dsn())},
                                                      {"title", "Doomed"}}),
                    201);
    std::string path = "/posts/" + string_member(post, "id");
    http_response deleted = client.del(path);
    BOOST_TEST(deleted.status == 204u, deleted.describe());
    BOOST_TEST(deleted.body.empty());
    check_error(client.get(path), 404, "not_found");
    check_error(client.del(path), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(tags_listing_counts_posts_per_tag_in_name_order)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    std::vector<json::value> tags = all_tags(client);
    std::vector<std::string> api;
    for (const json::value& tag : tags) {
        BOOST_TEST((keys(tag) == std::vector<std::string>{"name", "posts"}));
        api.push_back(string_member(tag, "name") + ":" + std::to_string(int_member(tag, "posts")));
    }
    std::vector<std::string> stored = sql_texts(
        env.database.dsn(), "SELECT t.name || ':' || count(pt.post_id) FROM tags t "
                            "LEFT JOIN post_tags pt ON pt.tag_id = t.id GROUP BY t.name ORDER BY t.name");
    BOOST_TEST(api == stored, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(tags_listing_pages_with_totals)
{
    auto& env = posts::get();
    http_client client(env.service.port());
    std::int64_t total = sql_int(env.database.dsn(), "SELECT count(*) FROM tags");
    json::value second = expect_json(client.get("/tags?page=2&per_page=7"), 200);
    BOOST_TEST((keys(second) == std::vector<std::string>{"items", "page", "pages", "per_page", "total"}));
    BOOST_TEST(int_member(second, "total") == total);
    BOOST_TEST(int_member(second, "pages") == (total + 6) / 7);
    BOOST_TEST(int_member(second, "page") == 2);
    BOOST_TEST(int_member(second, "per_page") == 7);
    std::vector<std::string> names;
    for (const json::value& tag : second.at("items").as_array())
        names.push_back(string_member(tag, "name"));
    std::vector<std::string> expected =
        sql_texts(env.database.dsn(), "SELECT name FROM tags ORDER BY name OFFSET 7 LIMIT 7");
    BOOST_TEST(names == expected, boost::test_tools::per_element());
    // A page size that leaves one tag over, whatever the suite created before.
    std::string per_page = std::to_string(total - 1);
    json::value last = expect_json(client.get("/tags?page=2&per_page=" + per_page), 200);
    BOOST_TEST(int_member(last, "pages") == 2);
    BOOST_TEST(last.at("items").as_array().size() == 1u);
    json::value first = expect_json(client.get("/tags"), 200);
    BOOST_TEST(int_member(first, "per_page") == 20);
    BOOST_TEST(int_member(first, "page") == 1);
}

BOOST_AUTO_TEST_CASE(tags_listing_rejects_bad_parameters)
{
    http_client client(posts::get().service.port());
    for (const std::string& query : std::vector<std::string>{"page=0", "per_page=0", "per_page=101", "page=x",
                                                             "name=a", "per_page=-1"}) {
        BOOST_TEST_CONTEXT("GET /tags?" << query)
        {
            check_error(client.get("/tags?" + query), 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_SUITE_END()
