// Users, wallets and profiles through the HTTP service: the README's success paths with their
// exact bodies, status codes and headers, and every kind of bad input the README refuses.
// Suite service_users shares one service on an empty scratch database; service_user_listing
// one seeded with 25 users, which it only reads.

#include "service_support.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

namespace {

using namespace service_test;

struct users_service {
    static std::vector<std::string> arguments() { return {}; }
};
using users = suite_service<users_service>;

struct listing_service {
    static std::vector<std::string> arguments() { return {"--seed", "25"}; }
};
using listing = suite_service<listing_service>;

std::string user_path(std::int64_t id)
{
    return "/users/" + std::to_string(id);
}

/// POSTs `body` as it is to /users and checks the README's 400.
void check_create_refused(http_client& client, const std::string& body)
{
    BOOST_TEST_CONTEXT("POST /users " << body)
    {
        check_error(client.post("/users", body), 400, "bad_request");
    }
}

/// A valid create body with `name` spliced in as raw JSON text.
std::string body_with_name(const std::string& name_json)
{
    return R"({"email": ")" + unique_email("raw") + R"(", "name": )" + name_json + "}";
}

std::int64_t count_users(const std::string& dsn)
{
    return sql_int(dsn, "SELECT count(*) FROM users");
}

} // namespace

BOOST_AUTO_TEST_SUITE(service_users, *boost::unit_test::fixture<users>())

BOOST_AUTO_TEST_CASE(create_user_returns_201_the_user_and_its_location)
{
    http_client client(users::get().service.port());
    std::string email = unique_email("create");
    http_response response = client.post("/users", json::value{{"email", email}, {"name", "Alice"}});
    json::value user = expect_json(response, 201);
    std::int64_t id = check_user_shape(user);
    BOOST_TEST(string_member(user, "email") == email);
    BOOST_TEST(string_member(user, "name") == "Alice");
    BOOST_TEST(response.header("Location") == user_path(id));
}

BOOST_AUTO_TEST_CASE(get_user_returns_what_create_returned)
{
    http_client client(users::get().service.port());
    json::value created = create_user(client, unique_email("get"), "Bob");
    json::value fetched = expect_json(client.get(user_path(int_member(created, "id"))), 200);
    BOOST_TEST(json::serialize(fetched) == json::serialize(created));
}

BOOST_AUTO_TEST_CASE(get_unknown_user_is_404)
{
    http_client client(users::get().service.port());
    check_error(client.get("/users/9223372036854775807"), 404, "not_found");
    check_error(client.get("/users/987654321"), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(new_wallet_holds_the_initial_balance)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("wallet"), "W", 500), "id");
    json::value wallet = expect_json(client.get(user_path(id) + "/wallet"), 200);
    BOOST_TEST(json::serialize(wallet) == json::serialize(json::value{{"user_id", id}, {"balance", 500}}));
}

BOOST_AUTO_TEST_CASE(new_wallet_defaults_to_a_zero_balance)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("wallet0"), "W"), "id");
    BOOST_TEST(wallet_balance(client, id) == 0);
}

BOOST_AUTO_TEST_CASE(wallet_of_an_unknown_user_is_404)
{
    http_client client(users::get().service.port());
    check_error(client.get("/users/987654321/wallet"), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(duplicate_email_is_409_conflict)
{
    auto& env = users::get();
    http_client client(env.service.port());
    std::string email = unique_email("dup");
    json::value first = create_user(client, email, "First", 10);
    check_error(client.post("/users", json::value{{"email", email}, {"name", "Second"}}), 409, "conflict");
    json::value still = expect_json(client.get(user_path(int_member(first, "id"))), 200);
    BOOST_TEST(json::serialize(still) == json::serialize(first));
    BOOST_TEST(sql_int(env.database.dsn(), "SELECT count(*) FROM users WHERE email = '" + email + "'") == 1);
    // The refused create's transaction made no wallet either.
    BOOST_TEST(sql_int(env.database.dsn(), "SELECT count(*) FROM wallets") ==
               sql_int(env.database.dsn(), "SELECT count(*) FROM users"));
}

BOOST_AUTO_TEST_CASE(create_user_accepts_boundary_values)
{
    http_client client(users::get().service.port());
    std::string tag = unique_email("b");
    std::string longest_email = std::string(254 - tag.size(), 'x') + tag;
    std::string two_byte_name;
    for (int i = 0; i < 50; ++i)
        two_byte_name += "\xc3\xa9"; // 50 x U+00E9: 100 bytes
    struct sample {
        std::string email;
        std::string name;
        std::int64_t balance;
    };
    std::vector<sample> samples = {{"a@" + std::to_string(::getpid() % 10), "N", 0},
                                   {longest_email, std::string(100, 'n'), 1000000000},
                                   {unique_email("utf8"), two_byte_name, 1}};
    for (const sample& s : samples) {
        BOOST_TEST_CONTEXT("email of " << s.email.size() << " bytes, name of " << s.name.size() << " bytes")
        {
            http_response response = client.post(
                "/users", json::value{{"email", s.email}, {"name", s.name}, {"initial_balance", s.balance}});
            json::value user = expect_json(response, 201);
            BOOST_TEST(string_member(user, "email") == s.email);
            BOOST_TEST(string_member(user, "name") == s.name);
            BOOST_TEST(wallet_balance(client, int_member(user, "id")) == s.balance);
        }
    }
}

BOOST_AUTO_TEST_CASE(create_user_rejects_malformed_json)
{
    http_client client(users::get().service.port());
    for (const std::string& body : std::vector<std::string>{
             "", "{", R"({"email": })", R"({"email": "a@b", "name": "x")", "[1, 2",
             R"({'email': 'a@b', 'name': 'x'})", R"({"email": "a@b", "name": "x"} trailing)",
             R"({"email": "a@b" "name": "x"})", "nul", R"({"email": "a@b", "name": "x",})"})
        check_create_refused(client, body);
}

BOOST_AUTO_TEST_CASE(create_user_rejects_a_body_that_is_not_an_object)
{
    http_client client(users::get().service.port());
    for (const std::string& body :
         std::vector<std::string>{"null", "[]", R"(["a@b", "x"])", R"("a@b")", "42", "true"})
        check_create_refused(client, body);
}

BOOST_AUTO_TEST_CASE(create_user_rejects_wrong_field_types)
{
    http_client client(users::get().service.port());
    const std::string email = "\"" + unique_email("types") + "\"";
    for (const std::string& body : std::vector<std::string>{
             R"({"email": 5, "name": "x"})", R"({"email": null, "name": "x"})",
             R"({"email": ["a@b.c"], "name": "x"})", "{\"email\": " + email + ", \"name\": true}",
             "{\"email\": " + email + ", \"name\": null}", "{\"email\": " + email + ", \"name\": {}}",
             "{\"email\": " + email + ", \"name\": \"x\", \"initial_balance\": \"10\"}",
             "{\"email\": " + email + ", \"name\": \"x\", \"initial_balance\": 1.5}",
             "{\"email\": " + email + ", \"name\": \"x\", \"initial_balance\": true}",
             "{\"email\": " + email + ", \"name\": \"x\", \"initial_balance\": [1]}"})
        check_create_refused(client, body);
}

BOOST_AUTO_TEST_CASE(create_user_rejects_unknown_fields)
{
    http_client client(users::get().service.port());
    const std::string email = "\"" + unique_email("unknown") + "\"";
    for (const std::string& body :
         std::vector<std::string>{"{\"email\": " + email + ", \"name\": \"x\", \"admin\": true}",
                                  "{\"email\": " + email + ", \"name\": \"x\", \"id\": 5}",
                                  "{\"email\": " + email + ", \"name\": \"x\", \"Name\": \"y\"}",
                                  "{\"email\": " + email + ", \"name\": \"x\", \"balance\": 5}"})
        check_create_refused(client, body);
}

BOOST_AUTO_TEST_CASE(create_user_rejects_missing_fields)
{
    http_client client(users::get().service.port());
    for (const std::string& body :
         std::vector<std::string>{"{}", "{\"email\": \"" + unique_email("missing") + "\"}",
                                  R"({"name": "x"})", R"({"initial_balance": 5})"})
        check_create_refused(client, body);
}

BOOST_AUTO_TEST_CASE(create_user_rejects_strings_out_of_bounds)
{
    http_client client(users::get().service.port());
    std::string tag = unique_email("long");
    std::string too_long_email = std::string(255 - tag.size(), 'x') + tag;
    std::string two_byte_name;
    for (int i = 0; i < 51; ++i)
        two_byte_name += "\xc3\xa9"; // 51 characters but 102 bytes
    std::vector<std::pair<std::string, std::string>> samples = {
        {"ab", "x"},
        {too_long_email, "x"},
        {"no-at-sign.example.com", "x"},
        {unique_email("emptyname"), ""},
        {unique_email("longname"), std::string(101, 'n')},
        {unique_email("utf8name"), two_byte_name}};
    for (const auto& [email, name] : samples)
        check_create_refused(client, json::serialize(json::value{{"email", email}, {"name", name}}));
}

BOOST_AUTO_TEST_CASE(create_user_rejects_balances_out_of_range)
{
    http_client client(users::get().service.port());
    for (const std::string& balance :
         std::vector<std::string>{"-1", "1000000001", "9223372036854775807", "18446744073709551615", "1e300",
                                  "-9223372036854775808"})
        check_create_refused(client, "{\"email\": \"" + unique_email("balance") +
                                         "\", \"name\": \"x\", \"initial_balance\": " + balance + "}");
}

BOOST_AUTO_TEST_CASE(create_user_rejects_invalid_utf8)
{
    http_client client(users::get().service.port());
    // A lone continuation byte, a truncated sequence, an overlong '/', a UTF-16 surrogate
    // encoded in UTF-8, and an escaped lone surrogate.
    for (const std::string& name :
         std::vector<std::string>{"\"\xff\"", "\"a\xc3\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", R"("\ud800")"})
        check_create_refused(client, body_with_name(name));
}

BOOST_AUTO_TEST_CASE(create_user_rejects_nul_in_strings)
{
    http_client client(users::get().service.port());
    check_create_refused(client, body_with_name(R"("a\u0000b")"));
    check_create_refused(client, R"({"email": "a\u0000@example.com", "name": "x"})");
}

BOOST_AUTO_TEST_CASE(refused_creates_leave_no_rows)
{
    auto& env = users::get();
    http_client client(env.service.port());
    std::int64_t before = count_users(env.database.dsn());
    check_create_refused(client, body_with_name(R"("a\u0000b")"));
    check_create_refused(client, body_with_name(R"("")"));
    check_create_refused(client, "{\"email\": \"" + unique_email("rows") +
                                     "\", \"name\": \"x\", \"initial_balance\": -1}");
    BOOST_TEST(count_users(env.database.dsn()) == before);
}

BOOST_AUTO_TEST_CASE(oversized_body_is_413)
{
    http_client client(users::get().service.port());
    std::string body =
        json::serialize(json::value{{"email", unique_email("big")}, {"name", std::string(70000, 'n')}});
    check_error(client.post("/users", body), 413, "payload_too_large");
}

BOOST_AUTO_TEST_CASE(body_of_another_content_type_is_415)
{
    http_client client(users::get().service.port());
    std::string body = json::serialize(json::value{{"email", unique_email("type")}, {"name", "x"}});
    for (const std::string& type : std::vector<std::string>{"text/plain", "application/x-www-form-urlencoded",
                                                            "application/jsonp", ""}) {
        BOOST_TEST_CONTEXT("Content-Type \"" << type << "\"")
        {
            http_response response = client.send({http::verb::post, "/users", body, type, {}, 11});
            check_error(response, 415, "unsupported_media_type");
        }
    }
}

BOOST_AUTO_TEST_CASE(json_content_type_with_a_charset_is_accepted)
{
    http_client client(users::get().service.port());
    std::string body = json::serialize(json::value{{"email", unique_email("charset")}, {"name", "x"}});
    http_response response =
        client.send({http::verb::post, "/users", body, "application/json; charset=utf-8", {}, 11});
    BOOST_TEST(response.status == 201u, response.describe());
}

BOOST_AUTO_TEST_CASE(patch_user_changes_the_given_field_and_updated_at)
{
    http_client client(users::get().service.port());
    json::value created = create_user(client, unique_email("patch"), "Before");
    std::int64_t id = int_member(created, "id");
    json::value patched = expect_json(client.patch(user_path(id), json::value{{"name", "After"}}), 200);
    check_user_shape(patched);
    BOOST_TEST(int_member(patched, "id") == id);
    BOOST_TEST(string_member(patched, "name") == "After");
    BOOST_TEST(string_member(patched, "email") == string_member(created, "email"));
    BOOST_TEST(string_member(patched, "created_at") == string_member(created, "created_at"));
    BOOST_TEST(timestamp_sort_key(string_member(patched, "updated_at")) >
               timestamp_sort_key(string_member(created, "updated_at")));
    json::value fetched = expect_json(client.get(user_path(id)), 200);
    BOOST_TEST(json::serialize(fetched) == json::serialize(patched));
}

BOOST_AUTO_TEST_CASE(patch_user_can_change_the_email)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("patchmail"), "M"), "id");
    std::string email = unique_email("patched");
    json::value patched = expect_json(client.patch(user_path(id), json::value{{"email", email}}), 200);
    BOOST_TEST(string_member(patched, "email") == email);
    BOOST_TEST(string_member(patched, "name") == "M");
}

BOOST_AUTO_TEST_CASE(patch_user_to_a_taken_email_is_409)
{
    http_client client(users::get().service.port());
    std::string taken = unique_email("taken");
    create_user(client, taken, "A");
    json::value other = create_user(client, unique_email("other"), "B");
    check_error(client.patch(user_path(int_member(other, "id")), json::value{{"email", taken}}), 409,
                "conflict");
    json::value unchanged = expect_json(client.get(user_path(int_member(other, "id"))), 200);
    BOOST_TEST(json::serialize(unchanged) == json::serialize(other));
}

BOOST_AUTO_TEST_CASE(patch_user_without_fields_is_400)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("empty"), "E"), "id");
    check_error(client.patch(user_path(id), "{}"), 400, "bad_request");
}

BOOST_AUTO_TEST_CASE(patch_user_rejects_unknown_and_invalid_fields)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("invalid"), "I"), "id");
    for (const std::string& body :
         std::vector<std::string>{R"({"nickname": "x"})", R"({"name": ""})", R"({"email": "nope"})",
                                  R"({"name": 5})", R"({"initial_balance": 5})", R"({"name": "x", "id": 7})",
                                  R"({"name": "a\u0000b"})", "[]", "{", "null"}) {
        BOOST_TEST_CONTEXT("PATCH " << user_path(id) << " " << body)
        {
            check_error(client.patch(user_path(id), body), 400, "bad_request");
        }
    }
    BOOST_TEST(string_member(expect_json(client.get(user_path(id)), 200), "name") == "I");
}

BOOST_AUTO_TEST_CASE(patch_unknown_user_is_404)
{
    http_client client(users::get().service.port());
    check_error(client.patch("/users/987654321", json::value{{"name", "x"}}), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(delete_user_is_204_and_then_the_user_is_gone)
{
    auto& env = users::get();
    http_client client(env.service.port());
    std::int64_t id = int_member(create_user(client, unique_email("delete"), "D"), "id");
    http_response deleted = client.del(user_path(id));
    BOOST_TEST(deleted.status == 204u, deleted.describe());
    BOOST_TEST(deleted.body.empty());
    check_error(client.get(user_path(id)), 404, "not_found");
    check_error(client.patch(user_path(id), json::value{{"name", "x"}}), 404, "not_found");
    // Soft delete: the row stays, marked.
    BOOST_TEST(sql_int(env.database.dsn(), "SELECT count(*) FROM users WHERE id = " + std::to_string(id) +
                                               " AND deleted_at IS NOT NULL") == 1);
}

BOOST_AUTO_TEST_CASE(deleting_a_deleted_or_unknown_user_is_404)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("delete2"), "D"), "id");
    BOOST_TEST(client.del(user_path(id)).status == 204u);
    check_error(client.del(user_path(id)), 404, "not_found");
    check_error(client.del("/users/987654321"), 404, "not_found");
}

// Like GET /users/{id} and its profile: a soft-deleted user has no wallet to show.
BOOST_AUTO_TEST_CASE(wallet_of_a_deleted_user_is_404)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("deletedwallet"), "D", 50), "id");
    BOOST_TEST_REQUIRE(client.del(user_path(id)).status == 204u);
    check_error(client.get(user_path(id) + "/profile"), 404, "not_found");
    check_error(client.get(user_path(id) + "/wallet"), 404, "not_found");
}

// The search must not list a profile whose GET /users/{id}/profile is 404.
BOOST_AUTO_TEST_CASE(profile_search_leaves_out_deleted_users)
{
    http_client client(users::get().service.port());
    std::string marker = unique_email("deletedprofile");
    std::int64_t id = int_member(create_user(client, unique_email("deletedprofile"), "D"), "id");
    expect_json(client.put(user_path(id) + "/profile", json::value{{"gone", marker}}), 200);
    BOOST_TEST_REQUIRE(client.del(user_path(id)).status == 204u);
    std::string query = json::serialize(json::value{{"gone", marker}});
    json::value found = expect_json(client.get("/profiles?contains=" + url_encode(query)), 200);
    BOOST_TEST(found.at("items").as_array().empty(), json::serialize(found));
}

BOOST_AUTO_TEST_CASE(deleted_users_leave_the_listing)
{
    http_client client(users::get().service.port());
    auto total = [&] {
        return int_member(expect_json(client.get("/users"), 200), "total");
    };
    std::int64_t before = total();
    std::int64_t id = int_member(create_user(client, unique_email("listed"), "L"), "id");
    BOOST_TEST(total() == before + 1);
    BOOST_TEST(client.del(user_path(id)).status == 204u);
    BOOST_TEST(total() == before);
}

BOOST_AUTO_TEST_CASE(user_path_ids_must_be_positive_64_bit_integers)
{
    http_client client(users::get().service.port());
    for (const std::string& id :
         std::vector<std::string>{"abc", "0", "-1", "1.5", "1e3", "0x10", "99999999999999999999",
                                  "9223372036854775808", "%20", "1%00"}) {
        for (const std::string& suffix : std::vector<std::string>{"", "/wallet", "/profile"}) {
            std::string target = "/users/" + id + suffix;
            BOOST_TEST_CONTEXT("GET " << target)
            {
                check_error(client.get(target), 400, "bad_request");
            }
        }
        std::string target = "/users/" + id;
        BOOST_TEST_CONTEXT("PATCH " << target)
        {
            check_error(client.patch(target, json::value{{"name", "x"}}), 400, "bad_request");
        }
        BOOST_TEST_CONTEXT("DELETE " << target)
        {
            check_error(client.del(target), 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_CASE(put_profile_stores_and_returns_the_object)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("profile"), "P"), "id");
    json::value data = {{"theme", "dark"}, {"languages", {"en", "fr"}}, {"limits", {{"daily", 5}}}};
    json::value stored = expect_json(client.put(user_path(id) + "/profile", data), 200);
    json::value expected = {{"user_id", id}, {"data", data}};
    BOOST_TEST(stored == expected, json::serialize(stored));
    json::value fetched = expect_json(client.get(user_path(id) + "/profile"), 200);
    BOOST_TEST(fetched == expected, json::serialize(fetched));
}

BOOST_AUTO_TEST_CASE(put_profile_replaces_the_previous_one)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("replace"), "R"), "id");
    expect_json(client.put(user_path(id) + "/profile", json::value{{"old", 1}}), 200);
    expect_json(client.put(user_path(id) + "/profile", json::value{{"new", 2}}), 200);
    json::value fetched = expect_json(client.get(user_path(id) + "/profile"), 200);
    json::value expected = {{"user_id", id}, {"data", {{"new", 2}}}};
    BOOST_TEST(fetched == expected, json::serialize(fetched));
}

BOOST_AUTO_TEST_CASE(put_profile_rejects_non_objects)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("nonobject"), "N"), "id");
    for (const std::string& body :
         std::vector<std::string>{"[]", "[1]", R"("text")", "1", "null", "true", "{", ""}) {
        BOOST_TEST_CONTEXT("PUT profile " << body)
        {
            check_error(client.put(user_path(id) + "/profile", body), 400, "bad_request");
        }
    }
    check_error(client.get(user_path(id) + "/profile"), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(put_profile_rejects_strings_postgresql_cannot_store)
{
    // jsonb refuses \u0000 (SQLSTATE 22P05): the service must refuse it as input, not fail.
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("nul"), "N"), "id");
    for (const std::string& body :
         std::vector<std::string>{R"({"a": "x\u0000y"})", R"({"a\u0000": 1})", R"({"a": ["\u0000"]})"}) {
        BOOST_TEST_CONTEXT("PUT profile " << body)
        {
            check_error(client.put(user_path(id) + "/profile", body), 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_CASE(profile_of_an_unknown_user_is_404)
{
    http_client client(users::get().service.port());
    check_error(client.put("/users/987654321/profile", json::value{{"a", 1}}), 404, "not_found");
    check_error(client.get("/users/987654321/profile"), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(missing_profile_is_404)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("noprofile"), "N"), "id");
    check_error(client.get(user_path(id) + "/profile"), 404, "not_found");
}

BOOST_AUTO_TEST_CASE(profiles_contains_finds_exactly_the_matching_profiles)
{
    http_client client(users::get().service.port());
    std::string marker = unique_email("marker");
    std::set<std::int64_t> expected;
    for (int i = 0; i < 3; ++i) {
        std::int64_t id = int_member(create_user(client, unique_email("contains"), "C"), "id");
        json::value data = {{"marker", i < 2 ? marker : "other"}, {"rank", i}};
        expect_json(client.put(user_path(id) + "/profile", data), 200);
        if (i < 2)
            expected.insert(id);
    }
    std::string query = json::serialize(json::value{{"marker", marker}});
    json::value found = expect_json(client.get("/profiles?contains=" + url_encode(query)), 200);
    BOOST_TEST((keys(found) == std::vector<std::string>{"items"}));
    std::set<std::int64_t> ids;
    for (const json::value& item : found.at("items").as_array()) {
        BOOST_TEST((keys(item) == std::vector<std::string>{"data", "user_id"}));
        ids.insert(int_member(item, "user_id"));
        BOOST_TEST(string_member(item.at("data"), "marker") == marker);
    }
    BOOST_TEST(ids == expected);
}

BOOST_AUTO_TEST_CASE(profiles_contains_returns_at_most_100)
{
    http_client client(users::get().service.port());
    std::string marker = unique_email("many");
    for (int i = 0; i < 105; ++i) {
        std::int64_t id = int_member(create_user(client, unique_email("many"), "M"), "id");
        expect_json(client.put(user_path(id) + "/profile", json::value{{"bulk", marker}}), 200);
    }
    std::string query = json::serialize(json::value{{"bulk", marker}});
    json::value found = expect_json(client.get("/profiles?contains=" + url_encode(query)), 200);
    BOOST_TEST(found.at("items").as_array().size() == 100u);
}

BOOST_AUTO_TEST_CASE(profiles_contains_must_be_a_json_object)
{
    http_client client(users::get().service.port());
    for (const std::string& contains :
         std::vector<std::string>{"[1]", "5", "\"x\"", "null", "{bad", "", "%7B%22a%22%3A"}) {
        std::string target = "/profiles?contains=" +
                             (contains.find('%') == std::string::npos ? url_encode(contains) : contains);
        BOOST_TEST_CONTEXT("GET " << target)
        {
            check_error(client.get(target), 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_CASE(profiles_reject_unknown_query_parameters)
{
    http_client client(users::get().service.port());
    std::string contains = url_encode(R"({"a": 1})");
    check_error(client.get("/profiles?contains=" + contains + "&limit=5"), 400, "bad_request");
    check_error(client.get("/profiles?contain=" + contains), 400, "bad_request");
}

BOOST_AUTO_TEST_CASE(deeply_nested_json_is_refused)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("deep"), "D"), "id");
    auto nested = [](int depth) {
        return "{\"a\": " + std::string(depth, '[') + std::string(depth, ']') + "}";
    };
    check_error(client.put(user_path(id) + "/profile", nested(20000)), 400, "bad_request");
    check_error(client.post("/users", nested(20000)), 400, "bad_request");
    // Short enough for the request line's limit.
    check_error(client.get("/profiles?contains=" + url_encode(nested(1000))), 400, "bad_request");
}

BOOST_AUTO_TEST_CASE(concurrent_creates_of_one_email_give_one_201_and_409s)
{
    unsigned short port = users::get().service.port();
    std::string email = unique_email("race");
    std::vector<unsigned> statuses = in_parallel(16, [&](int) -> unsigned {
        try {
            http_client client(port);
            return client.post("/users", json::value{{"email", email}, {"name", "Racer"}}).status;
        } catch (const std::exception&) {
            return 0;
        }
    });
    BOOST_TEST(std::count(statuses.begin(), statuses.end(), 201u) == 1);
    BOOST_TEST(std::count(statuses.begin(), statuses.end(), 409u) == 15);
}

BOOST_AUTO_TEST_CASE(concurrent_profile_puts_for_one_user_all_succeed)
{
    auto& env = users::get();
    http_client client(env.service.port());
    std::int64_t id = int_member(create_user(client, unique_email("upsert"), "U"), "id");
    std::vector<unsigned> statuses = in_parallel(16, [&](int i) -> unsigned {
        try {
            http_client writer(env.service.port());
            return writer.put(user_path(id) + "/profile", json::value{{"writer", i}}).status;
        } catch (const std::exception&) {
            return 0;
        }
    });
    BOOST_TEST(std::count(statuses.begin(), statuses.end(), 200u) == 16);
    BOOST_TEST(sql_int(env.database.dsn(),
                       "SELECT count(*) FROM profiles WHERE user_id = " + std::to_string(id)) == 1);
}

BOOST_AUTO_TEST_CASE(concurrent_deletes_of_one_user_give_one_204)
{
    http_client client(users::get().service.port());
    std::int64_t id = int_member(create_user(client, unique_email("deleterace"), "D"), "id");
    std::vector<unsigned> statuses = in_parallel(16, [&](int) -> unsigned {
        try {
            http_client deleter(users::get().service.port());
            return deleter.del(user_path(id)).status;
        } catch (const std::exception&) {
            return 0;
        }
    });
    BOOST_TEST(std::count(statuses.begin(), statuses.end(), 204u) == 1);
    BOOST_TEST(std::count(statuses.begin(), statuses.end(), 404u) == 15);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(service_user_listing, *boost::unit_test::fixture<listing>())

BOOST_AUTO_TEST_CASE(seed_creates_users_with_wallets_profiles_tags_and_posts)
{
    const std::string& dsn = listing::get().database.dsn();
    BOOST_TEST(sql_int(dsn, "SELECT count(*) FROM users") == 25);
    BOOST_TEST(sql_int(dsn, "SELECT count(*) FROM wallets WHERE balance = 1000") == 25);
    BOOST_TEST(sql_int(dsn, "SELECT count(*) FROM profiles") == 25);
    BOOST_TEST(sql_int(dsn, "SELECT count(*) FROM tags") == 20);
    BOOST_TEST(sql_int(dsn, "SELECT count(*) FROM posts") == 125);
    BOOST_TEST(sql_int(dsn, "SELECT count(*) FROM (SELECT author_id FROM posts GROUP BY author_id "
                            "HAVING count(*) = 5) five") == 25);
    BOOST_TEST(sql_int(dsn, "SELECT coalesce(max(n), 0) FROM (SELECT count(pt.tag_id) AS n FROM posts p "
                            "LEFT JOIN post_tags pt ON pt.post_id = p.id GROUP BY p.id) t") <= 3);
}

BOOST_AUTO_TEST_CASE(users_pages_cover_every_user_once_in_id_order)
{
    auto& env = listing::get();
    http_client client(env.service.port());
    std::vector<std::string> seen;
    for (int page = 1; page <= 3; ++page) {
        json::value body =
            expect_json(client.get("/users?page=" + std::to_string(page) + "&per_page=10"), 200);
        BOOST_TEST((keys(body) == std::vector<std::string>{"items", "page", "pages", "per_page", "total"}));
        BOOST_TEST(int_member(body, "page") == page);
        BOOST_TEST(int_member(body, "per_page") == 10);
        BOOST_TEST(int_member(body, "total") == 25);
        BOOST_TEST(int_member(body, "pages") == 3);
        const json::array& items = body.at("items").as_array();
        BOOST_TEST(items.size() == (page < 3 ? 10u : 5u));
        for (const json::value& user : items)
            seen.push_back(std::to_string(check_user_shape(user)));
    }
    std::vector<std::string> expected =
        sql_texts(env.database.dsn(), "SELECT id::text FROM users ORDER BY users.id");
    BOOST_TEST(seen == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(users_listing_defaults_to_page_1_of_20)
{
    http_client client(listing::get().service.port());
    json::value body = expect_json(client.get("/users"), 200);
    BOOST_TEST(int_member(body, "page") == 1);
    BOOST_TEST(int_member(body, "per_page") == 20);
    BOOST_TEST(int_member(body, "total") == 25);
    BOOST_TEST(int_member(body, "pages") == 2);
    BOOST_TEST(body.at("items").as_array().size() == 20u);
}

BOOST_AUTO_TEST_CASE(users_per_page_accepts_1_and_100)
{
    http_client client(listing::get().service.port());
    json::value one = expect_json(client.get("/users?per_page=1&page=25"), 200);
    BOOST_TEST(one.at("items").as_array().size() == 1u);
    BOOST_TEST(int_member(one, "pages") == 25);
    json::value hundred = expect_json(client.get("/users?per_page=100"), 200);
    BOOST_TEST(hundred.at("items").as_array().size() == 25u);
    BOOST_TEST(int_member(hundred, "pages") == 1);
}

BOOST_AUTO_TEST_CASE(users_page_past_the_end_is_empty)
{
    http_client client(listing::get().service.port());
    json::value body = expect_json(client.get("/users?page=4&per_page=10"), 200);
    BOOST_TEST(body.at("items").as_array().empty());
    BOOST_TEST(int_member(body, "total") == 25);
    BOOST_TEST(int_member(body, "pages") == 3);
}

BOOST_AUTO_TEST_CASE(users_listing_rejects_bad_paging_parameters)
{
    http_client client(listing::get().service.port());
    for (const std::string& query : std::vector<std::string>{
             "page=0", "page=-1", "page=abc", "page=1.5", "page=", "per_page=0", "per_page=101",
             "per_page=-5", "per_page=x", "page=99999999999999999999", "per_page=1e1", "page=%00"}) {
        BOOST_TEST_CONTEXT("GET /users?" << query)
        {
            check_error(client.get("/users?" + query), 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_CASE(users_listing_rejects_unknown_query_parameters)
{
    http_client client(listing::get().service.port());
    for (const std::string& query :
         std::vector<std::string>{"sort=name", "page=1&limit=5", "Page=1", "perpage=5"}) {
        BOOST_TEST_CONTEXT("GET /users?" << query)
        {
            check_error(client.get("/users?" + query), 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_CASE(huge_page_numbers_are_refused_or_empty)
{
    // page * per_page overflows a 64-bit offset: a 400 or an empty page, never a 500.
    http_client client(listing::get().service.port());
    for (const std::string& target : std::vector<std::string>{
             "/users?page=9223372036854775807&per_page=100", "/users?page=92233720368547759",
             "/tags?page=9223372036854775807&per_page=100"}) {
        http_response response = client.get(target);
        BOOST_TEST_CONTEXT("GET " << target << ": " << response.describe())
        {
            BOOST_TEST((response.status == 200u || response.status == 400u));
            if (response.status == 200u)
                BOOST_TEST(response.json().at("items").as_array().empty());
            else
                check_error(response, 400, "bad_request");
        }
    }
}

BOOST_AUTO_TEST_CASE(seeded_wallets_hold_1000)
{
    auto& env = listing::get();
    http_client client(env.service.port());
    for (const std::string& id :
         sql_texts(env.database.dsn(), "SELECT id::text FROM users ORDER BY users.id LIMIT 3"))
        BOOST_TEST(wallet_balance(client, std::stoll(id)) == 1000);
}

BOOST_AUTO_TEST_SUITE_END()
