#include "api.hpp"

#include "models.hpp"

#include <pgcoro/pgcoro.hpp>

#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/src.hpp> // Boost.URL compiled into this program (its header-only mode)
#include <boost/url/url_view.hpp>
#include <boost/uuid/string_generator.hpp>
#include <boost/uuid/uuid_io.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <ranges>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace service {

namespace asio = boost::asio;
namespace json = boost::json;
using pgcoro::col;

namespace {

// ---- limits (examples/http_service/README.md) -------------------------------------------

constexpr std::int64_t max_per_page = 100;
constexpr std::int64_t max_page = 1'000'000;
constexpr std::int64_t max_amount = 1'000'000'000;
constexpr std::size_t max_tags = 10;
constexpr std::int64_t profile_search_limit = 100;

// ---- errors a handler raises on purpose --------------------------------------------------

/// A request the service refuses: becomes `status` with the JSON error body.
struct http_error : std::runtime_error {
    http_error(http::status s, std::string c, const std::string& message)
        : std::runtime_error(message), status(s), code(std::move(c))
    {}
    http::status status;
    std::string code;
    std::string allow; // for 405
};

[[noreturn]] void bad_request(const std::string& message)
{
    throw http_error(http::status::bad_request, "bad_request", message);
}

[[noreturn]] void not_found(const std::string& message)
{
    throw http_error(http::status::not_found, "not_found", message);
}

[[noreturn]] void unprocessable(const std::string& message, std::string code = "unprocessable")
{
    throw http_error(http::status::unprocessable_entity, std::move(code), message);
}

[[noreturn]] void method_not_allowed(std::string allow)
{
    http_error e(http::status::method_not_allowed, "method_not_allowed",
                 "method not allowed; allowed: " + allow);
    e.allow = std::move(allow);
    throw e;
}

// ---- JSON output ---------------------------------------------------------------------------

std::string rfc3339(const pgcoro::timestamp& t)
{
    auto days = std::chrono::floor<std::chrono::days>(t);
    std::chrono::year_month_day date{days};
    std::chrono::hh_mm_ss<std::chrono::microseconds> time{t - days};
    char text[40];
    std::snprintf(text, sizeof text, "%04d-%02u-%02uT%02d:%02d:%02d.%06ldZ", static_cast<int>(date.year()),
                  static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
                  static_cast<int>(time.hours().count()), static_cast<int>(time.minutes().count()),
                  static_cast<int>(time.seconds().count()), static_cast<long>(time.subseconds().count()));
    return text;
}

json::value timestamp_json(const std::optional<pgcoro::timestamp>& t)
{
    if (!t)
        return nullptr;
    return json::string(rfc3339(*t));
}

json::object user_json(const User& u)
{
    return {{"id", u.id},
            {"email", u.email},
            {"name", u.name},
            {"created_at", timestamp_json(u.created_at)},
            {"updated_at", timestamp_json(u.updated_at)}};
}

json::object post_json(const Post& p)
{
    json::object out{{"id", boost::uuids::to_string(p.id)},
                     {"author_id", p.author_id},
                     {"title", p.title},
                     {"created_at", timestamp_json(p.created_at)},
                     {"updated_at", timestamp_json(p.updated_at)}};
    // A deleted author is not loaded (soft-deleted rows are skipped): null, not an error.
    const std::shared_ptr<User>& author = *p.author;
    out["author"] = author ? json::value(user_json(*author)) : json::value(nullptr);
    json::array tags;
    for (const Tag& t : *p.tags)
        tags.emplace_back(t.name);
    out["tags"] = std::move(tags);
    return out;
}

json::object profile_json(const Profile& p)
{
    return {{"user_id", p.user_id}, {"data", p.data}};
}

json::value cursor_json(const std::optional<std::string>& cursor)
{
    if (!cursor)
        return nullptr;
    return json::string(*cursor);
}

template <class T, class F> json::object offset_page_json(const pgcoro::page<T>& p, F to_json)
{
    json::array items;
    for (const T& item : p.items)
        items.emplace_back(to_json(item));
    return {{"items", std::move(items)},
            {"page", p.page},
            {"per_page", p.per_page},
            {"total", p.total.value_or(0)},
            {"pages", p.pages.value_or(0)}};
}

response json_response(http::status status, const json::value& body, const request& req)
{
    response res{status, req.version()};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(req.keep_alive());
    res.body() = json::serialize(body);
    res.prepare_payload();
    return res;
}

response empty_response(http::status status, const request& req)
{
    response res{status, req.version()};
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    return res;
}

// ---- JSON input ----------------------------------------------------------------------------

bool is_json_media_type(std::string_view content_type)
{
    std::string_view media = content_type.substr(0, content_type.find(';'));
    while (!media.empty() && media.back() == ' ')
        media.remove_suffix(1);
    constexpr std::string_view expected = "application/json";
    return media.size() == expected.size() &&
           std::equal(media.begin(), media.end(), expected.begin(),
                      [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

/// The request body as a JSON object: 415 unless it is application/json, 400 unless it
/// parses (the parser also refuses invalid UTF-8 and nesting deeper than 32) into an object.
json::object json_object_body(const request& req, std::string_view not_an_object)
{
    if (!is_json_media_type(req[http::field::content_type]))
        throw http_error(http::status::unsupported_media_type, "unsupported_media_type",
                         "the body must be application/json");
    boost::system::error_code ec;
    json::value parsed = json::parse(req.body(), ec);
    if (ec)
        bad_request("malformed JSON: " + ec.message());
    if (!parsed.is_object())
        bad_request(std::string(not_an_object));
    return std::move(parsed.as_object());
}

/// A request body that must be a JSON object with only the named fields.
class json_body {
public:
    json_body(const request& req, std::initializer_list<std::string_view> allowed)
        : object_(json_object_body(req, "the body must be a JSON object"))
    {
        for (const auto& field : object_)
            if (std::find(allowed.begin(), allowed.end(), field.key()) == allowed.end())
                bad_request("unknown field '" + printable(field.key()) + "'");
    }

    const json::object& object() const noexcept { return object_; }

    std::optional<std::string> string(std::string_view name, std::size_t min_bytes,
                                      std::size_t max_bytes) const
    {
        const json::value* v = object_.if_contains(name);
        if (!v)
            return std::nullopt;
        return checked_string(*v, std::string(name), min_bytes, max_bytes);
    }

    std::string required_string(std::string_view name, std::size_t min_bytes, std::size_t max_bytes) const
    {
        auto s = string(name, min_bytes, max_bytes);
        if (!s)
            bad_request("'" + std::string(name) + "' is required");
        return *s;
    }

    std::optional<std::int64_t> integer(std::string_view name, std::int64_t min, std::int64_t max) const
    {
        const json::value* v = object_.if_contains(name);
        if (!v)
            return std::nullopt;
        if (!v->is_int64() && !v->is_uint64())
            bad_request("'" + std::string(name) + "' must be an integer");
        if (v->is_uint64() || v->as_int64() < min || v->as_int64() > max)
            bad_request("'" + std::string(name) + "' must be between " + std::to_string(min) + " and " +
                        std::to_string(max));
        return v->as_int64();
    }

    std::int64_t required_integer(std::string_view name, std::int64_t min, std::int64_t max) const
    {
        auto i = integer(name, min, max);
        if (!i)
            bad_request("'" + std::string(name) + "' is required");
        return *i;
    }

    /// A JSON string checked for length and NUL (PostgreSQL text cannot hold one). The
    /// parser has already refused invalid UTF-8.
    static std::string checked_string(const json::value& v, const std::string& name, std::size_t min_bytes,
                                      std::size_t max_bytes)
    {
        if (!v.is_string())
            bad_request("'" + name + "' must be a string");
        std::string_view s = v.get_string();
        if (s.size() < min_bytes || s.size() > max_bytes)
            bad_request("'" + name + "' must be " + std::to_string(min_bytes) + " to " +
                        std::to_string(max_bytes) + " bytes long");
        if (s.find('\0') != std::string_view::npos)
            bad_request("'" + name + "' must not contain NUL");
        return std::string(s);
    }

private:
    /// A field name echoed in an error: cut short so a huge key does not become a huge reply.
    static std::string printable(std::string_view key) { return std::string(key.substr(0, 64)); }

    json::object object_;
};

// ---- URL: path segments and query parameters -----------------------------------------------

class query_params {
public:
    query_params(const boost::urls::url_view& url, std::initializer_list<std::string_view> allowed)
    {
        for (auto param : url.params()) {
            if (param.key.empty() && !param.has_value)
                continue; // "/users?" or "a=1&&b=2": an empty query or an empty pair, not a parameter
            if (std::find(allowed.begin(), allowed.end(), param.key) == allowed.end())
                bad_request("unknown query parameter '" + param.key.substr(0, 64) + "'");
            if (!values_.emplace(param.key, param.value).second)
                bad_request("query parameter '" + param.key + "' given twice");
        }
    }

    std::optional<std::string> get(std::string_view name) const
    {
        auto it = values_.find(name);
        if (it == values_.end())
            return std::nullopt;
        return it->second;
    }

    std::int64_t integer(std::string_view name, std::int64_t min, std::int64_t max,
                         std::int64_t fallback) const
    {
        auto text = get(name);
        if (!text)
            return fallback;
        std::int64_t value = 0;
        auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), value);
        if (ec != std::errc{} || end != text->data() + text->size() || value < min || value > max)
            bad_request("query parameter '" + std::string(name) + "' must be an integer from " +
                        std::to_string(min) + " to " + std::to_string(max));
        return value;
    }

private:
    std::map<std::string, std::string, std::less<>> values_;
};

std::int64_t path_id(std::string_view text, std::string_view what)
{
    std::int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size() || value < 1)
        bad_request(std::string(what) + " id must be a positive 64-bit integer");
    return value;
}

boost::uuids::uuid path_uuid(std::string_view text)
{
    // Only the canonical 8-4-4-4-12 form: string_generator would also take braces and
    // missing dashes, and one resource should have one URL.
    bool canonical = text.size() == 36;
    for (std::size_t i = 0; canonical && i < text.size(); ++i)
        canonical = (i == 8 || i == 13 || i == 18 || i == 23)
                        ? text[i] == '-'
                        : std::isxdigit(static_cast<unsigned char>(text[i])) != 0;
    if (!canonical)
        bad_request("post id must be a UUID");
    return boost::uuids::string_generator{}(text.begin(), text.end());
}

// ---- database errors -----------------------------------------------------------------------

bool database_unavailable(const boost::system::error_code& code)
{
    using pgcoro::client_errc;
    using pgcoro::condition;
    return code == condition::connection_error || code == condition::query_canceled ||
           code == condition::serialization_failure || code == condition::deadlock_detected ||
           code == condition::lock_not_available || code == condition::read_only_transaction ||
           code == client_errc::pool_timeout || code == client_errc::pool_closed ||
           code == client_errc::connect_failed || code == client_errc::connect_timeout ||
           code == client_errc::connection_lost || code == client_errc::connection_closed ||
           code == client_errc::timeout || code == client_errc::operation_aborted;
}

std::string conflict_message(std::string_view constraint)
{
    if (constraint == "uq_users_email")
        return "a user with this email already exists";
    return "the request conflicts with existing data";
}

response database_error(const pgcoro::error& e, const request& req)
{
    const auto& code = e.code();
    if (code == pgcoro::condition::unique_violation)
        return error_response(http::status::conflict, "conflict", conflict_message(e.diag().constraint),
                              req.version(), req.keep_alive());
    if (code == pgcoro::condition::foreign_key_violation)
        return error_response(http::status::unprocessable_entity, "unprocessable",
                              "a referenced row does not exist", req.version(), req.keep_alive());
    if (code == pgcoro::condition::check_violation)
        return error_response(http::status::unprocessable_entity, "unprocessable",
                              "a value breaks a rule of the data", req.version(), req.keep_alive());
    if (code == pgcoro::condition::data_exception || code == pgcoro::client_errc::invalid_parameter)
        return error_response(http::status::bad_request, "bad_request", "a value cannot be stored",
                              req.version(), req.keep_alive());
    if (code == pgcoro::client_errc::invalid_cursor)
        return error_response(http::status::bad_request, "bad_request", "invalid cursor", req.version(),
                              req.keep_alive());
    if (code == pgcoro::client_errc::commit_outcome_unknown) {
        // The connection died during COMMIT: the write may or may not have happened, so the
        // client is told exactly that, and not invited to retry blindly (no Retry-After).
        std::cerr << "http_service: commit outcome unknown: " << e.what() << '\n';
        return error_response(
            http::status::service_unavailable, "outcome_unknown",
            "the database connection was lost during commit: the change may or may not have been "
            "applied",
            req.version(), req.keep_alive());
    }
    if (database_unavailable(code)) {
        std::cerr << "http_service: database unavailable: " << e.what() << '\n';
        response res = error_response(http::status::service_unavailable, "unavailable",
                                      "the database is unavailable", req.version(), req.keep_alive());
        res.set(http::field::retry_after, "1");
        return res;
    }
    std::cerr << "http_service: unexpected database error: " << e.what() << '\n';
    return error_response(http::status::internal_server_error, "internal", "internal error", req.version(),
                          req.keep_alive());
}

// ---- handlers ------------------------------------------------------------------------------

/// What a handler gets: the request, its URL, the path's id segment and the shared state.
struct context {
    const request& req;
    const boost::urls::url_view& url;
    std::string id;
    pgcoro::pool& pool;
    const api_options& options;
    metrics& counters;
};

void validate_email(const std::string& email)
{
    if (email.find('@') == std::string::npos)
        bad_request("'email' must contain '@'");
}

asio::awaitable<response> create_user(context& c)
{
    json_body body(c.req, {"email", "name", "initial_balance"});
    User user;
    user.email = body.required_string("email", 3, 254);
    validate_email(user.email);
    user.name = body.required_string("name", 1, 100);
    std::int64_t balance = body.integer("initial_balance", 0, max_amount).value_or(0);

    auto s = co_await c.pool.session();
    User stored = co_await s.transaction([&](pgcoro::transaction& tx) -> asio::awaitable<User> {
        User inserted = co_await tx.insert(user);
        Wallet wallet{inserted.id, balance};
        co_await tx.insert(wallet);
        co_return inserted;
    });
    response res = json_response(http::status::created, user_json(stored), c.req);
    res.set(http::field::location, "/users/" + std::to_string(stored.id));
    co_return res;
}

asio::awaitable<response> get_user(context& c)
{
    std::int64_t id = path_id(c.id, "user");
    auto s = co_await c.pool.session();
    std::optional<User> user = co_await s.get<User>(id);
    if (!user)
        not_found("no user " + std::to_string(id));
    co_return json_response(http::status::ok, user_json(*user), c.req);
}

asio::awaitable<response> update_user(context& c)
{
    std::int64_t id = path_id(c.id, "user");
    json_body body(c.req, {"email", "name"});
    std::optional<std::string> email = body.string("email", 3, 254);
    if (email)
        validate_email(*email);
    std::optional<std::string> name = body.string("name", 1, 100);
    if (!email && !name)
        bad_request("nothing to update: give 'email' and/or 'name'");

    auto s = co_await c.pool.session();
    User stored = co_await s.transaction([&](pgcoro::transaction& tx) -> asio::awaitable<User> {
        // FOR UPDATE: a concurrent DELETE cannot slip between the read and the write.
        auto query = pgcoro::select<User>().where(col(&User::id) == id).for_update();
        std::optional<User> user = co_await tx.first(query);
        if (!user)
            not_found("no user " + std::to_string(id));
        if (email)
            user->email = *email;
        if (name)
            user->name = *name;
        if (email && name)
            co_return co_await tx.update(*user, pgcoro::columns(&User::email, &User::name));
        if (email)
            co_return co_await tx.update(*user, pgcoro::columns(&User::email));
        co_return co_await tx.update(*user, pgcoro::columns(&User::name));
    });
    co_return json_response(http::status::ok, user_json(stored), c.req);
}

asio::awaitable<response> delete_user(context& c)
{
    std::int64_t id = path_id(c.id, "user");
    auto s = co_await c.pool.session();
    User user;
    user.id = id;
    // soft_remove only touches a row that is not deleted yet, so a second DELETE is a 404.
    bool removed = co_await s.soft_remove(user);
    if (!removed)
        not_found("no user " + std::to_string(id));
    co_return empty_response(http::status::no_content, c.req);
}

asio::awaitable<response> list_users(context& c)
{
    query_params params(c.url, {"page", "per_page"});
    std::int64_t number = params.integer("page", 1, max_page, 1);
    std::int64_t per_page = params.integer("per_page", 1, max_per_page, 20);
    auto s = co_await c.pool.session();
    auto query = pgcoro::select<User>().order_by(&User::id);
    pgcoro::page<User> page = co_await s.page(query, number, per_page);
    co_return json_response(http::status::ok, offset_page_json(page, user_json), c.req);
}

asio::awaitable<response> replace_profile(context& c)
{
    std::int64_t id = path_id(c.id, "user");
    json::object data = json_object_body(c.req, "a profile must be a JSON object"); // any fields
    auto s = co_await c.pool.session();
    Profile stored = co_await s.transaction([&](pgcoro::transaction& tx) -> asio::awaitable<Profile> {
        // FOR SHARE: the user cannot be deleted while its profile is written.
        auto query = pgcoro::select<User>().where(col(&User::id) == id).lock(pgcoro::for_share());
        std::optional<User> user = co_await tx.first(query);
        if (!user)
            not_found("no user " + std::to_string(id));
        Profile profile{id, std::move(data)};
        pgcoro::upsert_result<Profile> up = co_await tx.upsert(profile, pgcoro::columns(&Profile::user_id));
        co_return std::move(up.row);
    });
    co_return json_response(http::status::ok, profile_json(stored), c.req);
}

asio::awaitable<response> get_profile(context& c)
{
    std::int64_t id = path_id(c.id, "user");
    auto s = co_await c.pool.session();
    std::optional<User> user = co_await s.get<User>(id);
    if (!user)
        not_found("no user " + std::to_string(id));
    std::optional<Profile> profile = co_await s.get<Profile>(id);
    if (!profile)
        not_found("user " + std::to_string(id) + " has no profile");
    co_return json_response(http::status::ok, profile_json(*profile), c.req);
}

asio::awaitable<response> get_wallet(context& c)
{
    std::int64_t id = path_id(c.id, "user");
    auto s = co_await c.pool.session();
    std::optional<Wallet> wallet =
        co_await s.query_opt<Wallet>("SELECT w.user_id, w.balance FROM wallets w JOIN users u ON u.id = "
                                     "w.user_id AND u.deleted_at IS NULL "
                                     "WHERE w.user_id = $1",
                                     id);
    if (!wallet)
        not_found("user " + std::to_string(id) + " has no wallet");
    co_return json_response(http::status::ok,
                            json::object{{"user_id", wallet->user_id}, {"balance", wallet->balance}}, c.req);
}

asio::awaitable<response> search_profiles(context& c)
{
    query_params params(c.url, {"contains"});
    auto text = params.get("contains");
    if (!text)
        bad_request("query parameter 'contains' is required");
    boost::system::error_code ec;
    json::value filter = json::parse(*text, ec);
    if (ec || !filter.is_object())
        bad_request("'contains' must be a JSON object");
    auto s = co_await c.pool.session();
    // Plain SQL for the join that leaves out soft-deleted users; `@>` is served by the GIN
    // index on profiles.data.
    std::int64_t limit = profile_search_limit;
    std::vector<Profile> found = co_await s.query<Profile>(
        "SELECT p.user_id, p.data FROM profiles p JOIN users u ON u.id = p.user_id AND u.deleted_at IS NULL "
        "WHERE p.data @> $1::jsonb ORDER BY p.user_id LIMIT $2",
        filter, limit);
    json::array items;
    for (const Profile& p : found)
        items.emplace_back(profile_json(p));
    co_return json_response(http::status::ok, json::object{{"items", std::move(items)}}, c.req);
}

/// The loaders every post response uses: its author, and its tags sorted by name.
auto post_loaders()
{
    return std::tuple{pgcoro::selectin(&Post::author), pgcoro::selectin(&Post::tags).order_by(&Tag::name)};
}

asio::awaitable<response> create_post(context& c)
{
    json_body body(c.req, {"author_id", "title", "tags"});
    Post post;
    post.author_id = body.required_integer("author_id", 1, std::numeric_limits<std::int64_t>::max());
    post.title = body.required_string("title", 1, 200);
    std::set<std::string> tag_set; // sorted and distinct: tags are upserted in one order, so no deadlock
    if (const json::value* tags = body.object().if_contains("tags")) {
        if (!tags->is_array())
            bad_request("'tags' must be an array of strings");
        if (tags->get_array().size() > max_tags)
            bad_request("at most " + std::to_string(max_tags) + " tags");
        for (const json::value& t : tags->get_array())
            tag_set.insert(json_body::checked_string(t, "tags[]", 1, 50));
    }
    std::vector<std::string> tag_names(tag_set.begin(), tag_set.end());

    auto s = co_await c.pool.session();
    Post stored = co_await s.transaction([&](pgcoro::transaction& tx) -> asio::awaitable<Post> {
        // FOR SHARE: the author stays undeleted until this commits (a soft delete is an UPDATE).
        auto author_query =
            pgcoro::select<User>().where(col(&User::id) == post.author_id).lock(pgcoro::for_share());
        std::optional<User> author = co_await tx.first(author_query);
        if (!author)
            unprocessable("author " + std::to_string(post.author_id) + " does not exist");
        Post inserted = co_await tx.insert(post);
        if (!tag_names.empty()) {
            // ON CONFLICT DO NOTHING waits for a concurrent inserter of the same name; the
            // SELECT after it (a new snapshot under READ COMMITTED) then sees its row.
            co_await tx.execute(
                "INSERT INTO tags (name) SELECT unnest($1::text[]) ON CONFLICT (name) DO NOTHING", tag_names);
            co_await tx.execute(
                "INSERT INTO post_tags (post_id, tag_id) SELECT $1, id FROM tags WHERE name = ANY($2)",
                inserted.id, tag_names);
        }
        auto [author_loader, tags_loader] = post_loaders();
        co_await tx.load(inserted, author_loader, tags_loader);
        co_return inserted;
    });
    response res = json_response(http::status::created, post_json(stored), c.req);
    res.set(http::field::location, "/posts/" + boost::uuids::to_string(stored.id));
    co_return res;
}

asio::awaitable<response> get_post(context& c)
{
    boost::uuids::uuid id = path_uuid(c.id);
    auto s = co_await c.pool.session();
    auto [author_loader, tags_loader] = post_loaders();
    auto query = pgcoro::select<Post>().where(col(&Post::id) == id).load(author_loader, tags_loader);
    std::optional<Post> post = co_await s.first(query);
    if (!post)
        not_found("no post " + c.id);
    co_return json_response(http::status::ok, post_json(*post), c.req);
}

asio::awaitable<response> delete_post(context& c)
{
    boost::uuids::uuid id = path_uuid(c.id);
    auto s = co_await c.pool.session();
    Post post;
    post.id = id;
    bool removed = co_await s.remove(post);
    if (!removed)
        not_found("no post " + c.id);
    co_return empty_response(http::status::no_content, c.req);
}

asio::awaitable<response> list_posts(context& c)
{
    query_params params(c.url, {"limit", "after", "before", "author_id"});
    std::int64_t limit = params.integer("limit", 1, max_per_page, 20);
    auto after = params.get("after");
    auto before = params.get("before");
    if (after && before)
        bad_request("give 'after' or 'before', not both");
    // pgcoro takes an empty cursor for the first page; over HTTP an emptied cursor is more
    // likely a client bug than a wish to restart the walk.
    if ((after && after->empty()) || (before && before->empty()))
        bad_request("invalid cursor");
    auto request = pgcoro::keyset(limit).signing_key(c.options.signing_key);
    if (after)
        request = request.after(*after);
    if (before)
        request = request.before(*before);

    auto [author_loader, tags_loader] = post_loaders();
    // created_at is std::optional in the model (the database fills it on insert), so paging
    // must say where NULLs go; NULLS FIRST is what a backward scan of the (created_at, id)
    // index yields for DESC (the column is NOT NULL, so no row is ever NULL). The id is named
    // DESC too: paging would otherwise append it ASC, an order the index cannot give, and
    // every page would sort all the rows before its cursor.
    auto newest_first = pgcoro::desc(&Post::created_at).nulls_first();
    auto then_highest_id = pgcoro::desc(&Post::id);
    auto query =
        pgcoro::select<Post>().order_by(newest_first, then_highest_id).load(author_loader, tags_loader);
    if (params.get("author_id")) {
        std::int64_t author = params.integer("author_id", 1, std::numeric_limits<std::int64_t>::max(), 0);
        query = query.where(col(&Post::author_id) == author);
    }
    auto s = co_await c.pool.session();
    pgcoro::keyset_page<Post> page = co_await s.page(query, request);
    json::array items;
    for (const Post& p : page.items)
        items.emplace_back(post_json(p));
    json::object out{{"items", std::move(items)},
                     {"next", cursor_json(page.next)},
                     {"previous", cursor_json(page.previous)}};
    co_return json_response(http::status::ok, out, c.req);
}

struct tag_count {
    std::string name;
    std::int64_t posts = 0;
};
BOOST_DESCRIBE_STRUCT(tag_count, (), (name, posts))

asio::awaitable<response> list_tags(context& c)
{
    query_params params(c.url, {"page", "per_page"});
    std::int64_t number = params.integer("page", 1, max_page, 1);
    std::int64_t per_page = params.integer("per_page", 1, max_per_page, 20);
    auto s = co_await c.pool.session();
    // An aggregate is plain SQL; the values are still parameters.
    std::vector<tag_count> rows = co_await s.query<tag_count>(
        "SELECT t.name, count(pt.post_id) AS posts FROM tags t LEFT JOIN post_tags pt ON pt.tag_id = t.id "
        "GROUP BY t.id, t.name ORDER BY t.name LIMIT $1 OFFSET $2",
        per_page, (number - 1) * per_page);
    std::int64_t total = co_await s.scalar<std::int64_t>("SELECT count(*) FROM tags");
    pgcoro::page<tag_count> page;
    page.items = std::move(rows);
    page.page = number;
    page.per_page = per_page;
    page.total = total;
    page.pages = (total + per_page - 1) / per_page;
    co_return json_response(http::status::ok,
                            offset_page_json(page,
                                             [](const tag_count& t) {
                                                 return json::object{{"name", t.name}, {"posts", t.posts}};
                                             }),
                            c.req);
}

asio::awaitable<Transfer> transfer_unit(pgcoro::transaction& tx, Transfer transfer)
{
    // Both wallets locked in id order: two opposite transfers take the locks in the same
    // order and cannot deadlock.
    std::vector<std::int64_t> ids{transfer.from_user, transfer.to_user};
    // A soft-deleted user's wallet is gone as far as the API is concerned.
    std::vector<Wallet> wallets =
        co_await tx.query<Wallet>("SELECT w.user_id, w.balance FROM wallets w JOIN users u ON u.id = "
                                  "w.user_id AND u.deleted_at IS NULL "
                                  "WHERE w.user_id = ANY($1) ORDER BY w.user_id FOR UPDATE OF w",
                                  ids);
    auto from = std::find_if(wallets.begin(), wallets.end(),
                             [&](const Wallet& w) { return w.user_id == transfer.from_user; });
    auto to = std::find_if(wallets.begin(), wallets.end(),
                           [&](const Wallet& w) { return w.user_id == transfer.to_user; });
    if (from == wallets.end())
        not_found("user " + std::to_string(transfer.from_user) + " has no wallet");
    if (to == wallets.end())
        not_found("user " + std::to_string(transfer.to_user) + " has no wallet");
    if (from->balance < transfer.amount)
        unprocessable("the balance of user " + std::to_string(transfer.from_user) + " is too low",
                      "insufficient_funds");
    co_await tx.execute("UPDATE wallets SET balance = balance - $1 WHERE user_id = $2", transfer.amount,
                        transfer.from_user);
    co_await tx.execute("UPDATE wallets SET balance = balance + $1 WHERE user_id = $2", transfer.amount,
                        transfer.to_user);
    co_return co_await tx.insert(transfer);
}

asio::awaitable<response> create_transfer(context& c)
{
    json_body body(c.req, {"from", "to", "amount"});
    Transfer transfer;
    transfer.from_user = body.required_integer("from", 1, std::numeric_limits<std::int64_t>::max());
    transfer.to_user = body.required_integer("to", 1, std::numeric_limits<std::int64_t>::max());
    transfer.amount = body.required_integer("amount", 1, max_amount);
    if (transfer.from_user == transfer.to_user)
        bad_request("'from' and 'to' must differ");

    auto s = co_await c.pool.session();
    pgcoro::retry_policy retry;
    retry.max_attempts = 5; // a deadlock or serialization failure is retried, not reported
    pgcoro::transaction_options options;
    Transfer stored = co_await s.transaction(
        [transfer](pgcoro::transaction& tx) { return transfer_unit(tx, transfer); }, options, retry);
    json::object out{{"id", stored.id},
                     {"from", stored.from_user},
                     {"to", stored.to_user},
                     {"amount", stored.amount},
                     {"created_at", timestamp_json(stored.created_at)}};
    co_return json_response(http::status::created, out, c.req);
}

json::object pool_json(const pgcoro::pool_stats& stats)
{
    return {{"size", stats.size},
            {"idle", stats.idle},
            {"checked_out", stats.checked_out},
            {"connecting", stats.connecting},
            {"waiting", stats.waiting}};
}

asio::awaitable<response> health(context& c)
{
    query_params params(c.url, {});
    bool healthy = true;
    try {
        auto s = co_await c.pool.session();
        co_await s.with_timeout(c.options.health_timeout).execute("SELECT 1");
    } catch (const pgcoro::error&) {
        healthy = false;
    }
    json::object out{{"status", healthy ? "ok" : "unavailable"}, {"pool", pool_json(c.pool.stats())}};
    if (healthy)
        co_return json_response(http::status::ok, out, c.req);
    response res = json_response(http::status::service_unavailable, out, c.req);
    res.set(http::field::retry_after, "1");
    co_return res;
}

asio::awaitable<response> metrics_text(context& c)
{
    query_params params(c.url, {});
    response res{http::status::ok, c.req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(c.req.keep_alive());
    res.body() = c.counters.render(c.pool.stats());
    res.prepare_payload();
    co_return res;
}

std::string_view method_label(http::verb v)
{
    switch (v) {
    case http::verb::get:
        return "GET";
    case http::verb::post:
        return "POST";
    case http::verb::put:
        return "PUT";
    case http::verb::patch:
        return "PATCH";
    case http::verb::delete_:
        return "DELETE";
    case http::verb::head:
        return "HEAD";
    default:
        return "OTHER"; // any token is a method: keep the metric's label set bounded
    }
}

} // namespace

response error_response(http::status status, std::string_view code, std::string_view message,
                        unsigned version, bool keep_alive)
{
    json::object body{{"error", json::object{{"code", code}, {"message", message}}}};
    response res{status, version};
    res.set(http::field::content_type, "application/json");
    res.keep_alive(keep_alive);
    res.body() = json::serialize(body);
    res.prepare_payload();
    return res;
}

struct api::route_match {
    std::string_view name = "unmatched"; // the route template, the metrics label
    std::string id;                      // the {id} segment, if any
};

api::api(pgcoro::pool& pool, metrics& counters, api_options options)
    : pool_(pool), metrics_(counters), options_(std::move(options))
{}

namespace {

using handler = asio::awaitable<response> (*)(context&);

/// One route and method. The route template is also the metrics label; `{id}` matches one
/// non-empty path segment. HEAD is served wherever GET is (handle() drops the body).
struct endpoint {
    std::string_view route;
    http::verb method;
    handler run;
};

const endpoint endpoints[] = {
    {"/users", http::verb::get, list_users},
    {"/users", http::verb::post, create_user},
    {"/users/{id}", http::verb::get, get_user},
    {"/users/{id}", http::verb::patch, update_user},
    {"/users/{id}", http::verb::delete_, delete_user},
    {"/users/{id}/profile", http::verb::get, get_profile},
    {"/users/{id}/profile", http::verb::put, replace_profile},
    {"/users/{id}/wallet", http::verb::get, get_wallet},
    {"/posts", http::verb::get, list_posts},
    {"/posts", http::verb::post, create_post},
    {"/posts/{id}", http::verb::get, get_post},
    {"/posts/{id}", http::verb::delete_, delete_post},
    {"/tags", http::verb::get, list_tags},
    {"/profiles", http::verb::get, search_profiles},
    {"/transfers", http::verb::post, create_transfer},
    {"/healthz", http::verb::get, health},
    {"/metrics", http::verb::get, metrics_text},
};

/// The route template the URL's path belongs to and its `{id}` segment, or nullopt.
std::optional<std::pair<std::string_view, std::string>> match_route(const boost::urls::url_view& url)
{
    if (!url.is_path_absolute())
        return std::nullopt;
    std::vector<std::string> parts;
    for (std::string segment : url.segments())
        parts.push_back(std::move(segment));
    for (const endpoint& e : endpoints) {
        std::string id;
        std::size_t i = 0;
        bool matches = true;
        for (auto piece : std::views::split(e.route.substr(1), '/')) {
            std::string_view pattern(piece.begin(), piece.end());
            if (i >= parts.size() || parts[i].empty())
                matches = false;
            else if (pattern == "{id}")
                id = parts[i];
            else if (pattern != parts[i])
                matches = false;
            ++i;
            if (!matches)
                break;
        }
        if (matches && i == parts.size())
            return std::pair{e.route, id};
    }
    return std::nullopt;
}

/// The Allow header of a route: its methods, HEAD after GET.
std::string allowed_methods(std::string_view route)
{
    std::string allow;
    for (const endpoint& e : endpoints) {
        if (e.route != route)
            continue;
        if (!allow.empty())
            allow += ", ";
        allow += http::to_string(e.method);
        if (e.method == http::verb::get)
            allow += ", HEAD";
    }
    return allow;
}

} // namespace

asio::awaitable<response> api::dispatch(const request& req, route_match& route)
{
    auto parsed = boost::urls::parse_origin_form(req.target());
    if (!parsed)
        bad_request("malformed request target");
    boost::urls::url_view url = *parsed;
    auto matched = match_route(url);
    if (!matched)
        not_found("no such resource");
    route.name = matched->first;
    route.id = matched->second;
    context c{req, url, route.id, pool_, options_, metrics_};
    const http::verb method = req.method() == http::verb::head ? http::verb::get : req.method();
    for (const endpoint& e : endpoints)
        if (e.route == route.name && e.method == method)
            co_return co_await e.run(c);
    method_not_allowed(allowed_methods(route.name));
}

asio::awaitable<response> api::handle(const request& req)
{
    const auto started = std::chrono::steady_clock::now();
    metrics_.request_started();
    route_match route;
    response res;
    try {
        res = co_await dispatch(req, route);
    } catch (const http_error& e) {
        res = error_response(e.status, e.code, e.what(), req.version(), req.keep_alive());
        if (!e.allow.empty())
            res.set(http::field::allow, e.allow);
    } catch (const pgcoro::error& e) {
        res = database_error(e, req);
    } catch (const std::exception& e) {
        std::cerr << "http_service: " << route.name << ": unexpected error: " << e.what() << '\n';
        res = error_response(http::status::internal_server_error, "internal", "internal error", req.version(),
                             req.keep_alive());
    }
    if (req.method() == http::verb::head) {
        // RFC 9110 9.3.2: the same header as for GET, no body, whatever the status.
        std::size_t length = res.body().size();
        res.body().clear();
        res.content_length(length);
    }
    metrics_.request_finished();
    metrics_.record(method_label(req.method()), route.name, res.result_int(),
                    std::chrono::steady_clock::now() - started);
    co_return res;
}

} // namespace service
