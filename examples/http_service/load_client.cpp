// http_load: the HTTP service's load client (./dev run, the end-to-end tests, bench/run_http).
//
// --connections persistent keep-alive connections, each driven by one coroutine on its own
// strand of an io_context run by --threads threads, send requests back to back for
// --duration seconds or --requests requests after an uncounted --warmup, then print
// throughput, status counts and latency percentiles (overall and per endpoint), and the
// service's pgcoro_pool_* metrics. Run with --help for the options.
//
// Exit status: 0 no 5xx and no transport error (or --allow-errors), 1 otherwise, 2 usage
// error, 3 the service cannot be reached (or answers the data discovery wrongly) at start.

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using clock_type = std::chrono::steady_clock;

constexpr auto request_timeout = std::chrono::seconds(10);
// A connect that failed is retried after this pause, so a service that went away is not
// hammered by a tight loop of refused connections.
constexpr auto reconnect_pause = std::chrono::milliseconds(100);
constexpr std::uint64_t response_body_limit = 64 * 1024 * 1024;
constexpr int posts_page_size = 20;
constexpr int users_page_size = 20;
constexpr int max_post_pages = 5;

constexpr int exit_ok = 0;
constexpr int exit_errors = 1;
constexpr int exit_usage = 2;
constexpr int exit_unreachable = 3;

// ---- options ---------------------------------------------------------------------------------

enum class scenario { mixed, get_user, list_posts, list_users, transfer };

struct options {
    std::string url;
    std::string host;
    std::string port;
    int connections = 64;
    int threads = 2;
    double duration_seconds = 10;
    bool duration_given = false;
    std::int64_t requests = 0; // 0: no limit
    scenario load = scenario::mixed;
    std::string scenario_name = "mixed";
    double warmup_seconds = 0;
    std::string json_file;
    bool allow_errors = false;
    bool quiet = false;
};

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr std::string_view usage_text =
    R"(usage: http_load --url http://HOST:PORT [options]

  --url URL           the service (http only; no path)
  --connections N     persistent keep-alive connections, one coroutine each (default 64)
  --threads N         threads running the io_context (default 2)
  --duration SECONDS  measured time (default 10; without it, --requests alone ends the run)
  --requests N        stop after N measured requests in total
  --scenario NAME     mixed (default), get-user, list-posts, list-users or transfer
                        get-user    GET /users/{random id}
                        list-posts  GET /posts?limit=20, then its next cursors: at most 5 pages
                        list-users  GET /users?page=random&per_page=20
                        transfer    POST /transfers between two random distinct users
                        mixed       55% get-user, 15% list-posts, 10% list-users,
                                    10% transfer, 5% POST /posts, 5% PUT /users/{id}/profile
  --warmup SECONDS    load sent before the measured time and not counted (default 0)
  --json FILE         also write the results as JSON ('-': stdout)
  --allow-errors      exit 0 even with 5xx responses or transport errors
  --quiet             no summary and no metrics (errors still go to stderr)
  --help              this text

Users are discovered first with GET /users?per_page=1 (ids 1..total). 404 and 422 are
expected outcomes. A refused or cut connection, a timeout (10 s), a malformed response or a
response body that is not the JSON expected is a transport error.

Exit status: 0 no 5xx and no transport error (or --allow-errors), 1 otherwise,
2 usage error, 3 the service cannot be reached at start.
)";

std::int64_t parse_integer(std::string_view name, std::string_view text, std::int64_t min, std::int64_t max)
{
    std::int64_t value = 0;
    const auto* end = text.data() + text.size();
    auto result = std::from_chars(text.data(), end, value);
    if (text.empty() || result.ec != std::errc{} || result.ptr != end || value < min || value > max) {
        throw usage_error(std::string(name) + " needs a whole number from " + std::to_string(min) + " to " +
                          std::to_string(max) + ", not '" + std::string(text) + "'");
    }
    return value;
}

double parse_seconds(std::string_view name, std::string_view text, bool zero_allowed)
{
    double value = 0;
    const auto* end = text.data() + text.size();
    auto result = std::from_chars(text.data(), end, value);
    // One day is far beyond any load run and keeps the time arithmetic far from overflow.
    if (text.empty() || result.ec != std::errc{} || result.ptr != end || !(value >= 0) || value > 86400 ||
        (value == 0 && !zero_allowed)) {
        throw usage_error(std::string(name) + " needs a number of seconds " +
                          (zero_allowed ? "" : "above 0 ") + "up to 86400, not '" + std::string(text) + "'");
    }
    return value;
}

// Splits http://HOST:PORT[/] into host and port; IPv6 literals go in brackets.
void parse_url(options& opts)
{
    constexpr std::string_view scheme = "http://";
    std::string_view rest = opts.url;
    if (rest.substr(0, scheme.size()) != scheme) {
        throw usage_error("--url must start with http:// (https is not supported), not '" + opts.url + "'");
    }
    rest.remove_prefix(scheme.size());
    if (!rest.empty() && rest.back() == '/') {
        rest.remove_suffix(1);
    }
    if (rest.find_first_of("/?#@") != std::string_view::npos) {
        throw usage_error("--url takes a host and port only, without a path or credentials: '" + opts.url +
                          "'");
    }
    std::string_view host = rest;
    std::string_view port = "80";
    if (!rest.empty() && rest.front() == '[') {
        auto close = rest.find(']');
        if (close == std::string_view::npos) {
            throw usage_error("--url has an unclosed '[': '" + opts.url + "'");
        }
        host = rest.substr(1, close - 1);
        auto after = rest.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') {
                throw usage_error("--url has junk after ']': '" + opts.url + "'");
            }
            port = after.substr(1);
        }
    } else if (auto colon = rest.rfind(':'); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.empty()) {
        throw usage_error("--url has no host: '" + opts.url + "'");
    }
    parse_integer("the --url port", port, 1, 65535);
    opts.host = std::string(host);
    opts.port = std::string(port);
}

struct parsed_command_line {
    options opts;
    bool help = false;
};

parsed_command_line parse_command_line(int argc, char** argv)
{
    parsed_command_line parsed;
    options& opts = parsed.opts;
    bool url_given = false;
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            parsed.help = true;
            return parsed;
        }
        if (arg == "--allow-errors") {
            opts.allow_errors = true;
            continue;
        }
        if (arg == "--quiet") {
            opts.quiet = true;
            continue;
        }
        std::string_view name = arg;
        std::string_view value;
        if (auto equals = arg.find('='); arg.substr(0, 2) == "--" && equals != std::string_view::npos) {
            name = arg.substr(0, equals);
            value = arg.substr(equals + 1);
        } else {
            if (name != "--url" && name != "--connections" && name != "--threads" && name != "--duration" &&
                name != "--requests" && name != "--scenario" && name != "--warmup" && name != "--json") {
                throw usage_error("unknown option '" + std::string(arg) + "'");
            }
            if (i + 1 >= argc) {
                throw usage_error(std::string(name) + " needs a value");
            }
            value = argv[++i];
        }
        if (name == "--url") {
            opts.url = std::string(value);
            url_given = true;
        } else if (name == "--connections") {
            opts.connections = static_cast<int>(parse_integer(name, value, 1, 10000));
        } else if (name == "--threads") {
            opts.threads = static_cast<int>(parse_integer(name, value, 1, 256));
        } else if (name == "--duration") {
            opts.duration_seconds = parse_seconds(name, value, false);
            opts.duration_given = true;
        } else if (name == "--requests") {
            opts.requests = parse_integer(name, value, 1, std::int64_t{1} << 40);
        } else if (name == "--warmup") {
            opts.warmup_seconds = parse_seconds(name, value, true);
        } else if (name == "--json") {
            if (value.empty()) {
                throw usage_error("--json needs a file name");
            }
            opts.json_file = std::string(value);
        } else if (name == "--scenario") {
            opts.scenario_name = std::string(value);
            if (value == "mixed") {
                opts.load = scenario::mixed;
            } else if (value == "get-user") {
                opts.load = scenario::get_user;
            } else if (value == "list-posts") {
                opts.load = scenario::list_posts;
            } else if (value == "list-users") {
                opts.load = scenario::list_users;
            } else if (value == "transfer") {
                opts.load = scenario::transfer;
            } else {
                throw usage_error("unknown --scenario '" + std::string(value) +
                                  "' (mixed, get-user, list-posts, list-users, transfer)");
            }
        } else {
            throw usage_error("unknown option '" + std::string(arg) + "'");
        }
    }
    if (!url_given) {
        throw usage_error("--url is required");
    }
    parse_url(opts);
    return parsed;
}

// ---- what is measured ------------------------------------------------------------------------

enum class endpoint : std::uint8_t {
    get_user,
    list_posts,
    list_users,
    create_transfer,
    create_post,
    put_profile,
};
constexpr std::size_t endpoint_count = 6;
constexpr std::array<std::string_view, endpoint_count> endpoint_labels = {
    "GET /users/{id}", "GET /posts",  "GET /users",
    "POST /transfers", "POST /posts", "PUT /users/{id}/profile",
};

// status 0 marks a transport error: no usable response.
struct sample {
    std::uint32_t latency_us;
    std::uint16_t status;
    endpoint target;
};

// Written only by its connection's coroutine (one strand), read after the io_context stops.
struct connection_stats {
    std::vector<sample> samples;
    std::map<std::string, std::int64_t> transport_error_kinds;
    std::int64_t reconnects = 0;
    std::int64_t warmup_requests = 0;
    std::optional<clock_type::time_point> last_measured_completion;
    std::string failure; // an exception that ended the coroutine (a bug, reported as an error)
};

enum class slot { warmup, measured, stop };

struct run_control {
    clock_type::time_point measure_start;
    clock_type::time_point measure_end; // time_point::max() without a duration
    std::int64_t request_limit = 0;
    std::atomic<std::int64_t> claimed{0};
    std::atomic<bool> interrupted{false};

    // Decides, as a request is about to be sent, whether it counts. With --requests each
    // measured request takes a number first, so exactly that many are measured.
    slot claim()
    {
        if (interrupted.load(std::memory_order_relaxed)) {
            return slot::stop;
        }
        auto now = clock_type::now();
        if (now >= measure_end) {
            return slot::stop;
        }
        if (now < measure_start) {
            return slot::warmup;
        }
        if (request_limit > 0 && claimed.fetch_add(1, std::memory_order_relaxed) >= request_limit) {
            return slot::stop;
        }
        return slot::measured;
    }
};

// ---- one HTTP/1.1 connection -----------------------------------------------------------------

struct exchange_result {
    std::string error; // empty when a response arrived
    unsigned status = 0;
    std::string body;
    clock_type::duration latency{};
};

std::string describe_error(std::string_view phase, const beast::error_code& ec)
{
    if (ec == beast::error::timeout) {
        return "timeout (" + std::to_string(request_timeout.count()) + " s)";
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof) {
        return std::string(phase) + ": connection closed by the service";
    }
    if (ec.category() == beast::error_code(http::error::bad_version).category()) { // framing, headers, chunks
        return std::string(phase) + ": malformed response (" + ec.message() + ")";
    }
    return std::string(phase) + ": " + ec.message();
}

class client_connection {
public:
    client_connection(asio::any_io_executor executor, const tcp::resolver::results_type& endpoints,
                      std::string host_header)
        : executor_(std::move(executor)), endpoints_(endpoints), host_header_(std::move(host_header))
    {}

    http::request<http::string_body> make_request(http::verb method, std::string target) const
    {
        http::request<http::string_body> request{method, target, 11};
        request.set(http::field::host, host_header_);
        request.set(http::field::user_agent, "pgcoro-http-load");
        request.keep_alive(true);
        return request;
    }

    // Sends the request and reads its response, connecting first when needed. Never throws
    // for network trouble: the result's error says what went wrong.
    asio::awaitable<exchange_result> exchange(http::request<http::string_body>& request);

    std::int64_t reconnects() const { return reconnects_; }

private:
    asio::awaitable<std::string> connect();
    void close();

    asio::any_io_executor executor_;
    tcp::resolver::results_type endpoints_;
    std::string host_header_;
    std::optional<beast::tcp_stream> stream_;
    beast::flat_buffer buffer_;
    std::int64_t connects_ = 0; // successful ones
    std::int64_t reconnects_ = 0;
    bool last_connect_failed_ = false;
};

asio::awaitable<std::string> client_connection::connect()
{
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    if (last_connect_failed_) {
        asio::steady_timer pause(executor_, reconnect_pause);
        co_await pause.async_wait(token);
    }
    // basic_stream cannot be move-assigned, and a fresh one drops any state of the old socket.
    stream_.emplace(executor_);
    buffer_.consume(buffer_.size());
    stream_->expires_after(request_timeout);
    co_await stream_->async_connect(endpoints_, token);
    if (ec) {
        last_connect_failed_ = true;
        close();
        co_return describe_error("connect", ec);
    }
    last_connect_failed_ = false;
    if (connects_ > 0) {
        ++reconnects_;
    }
    ++connects_;
    beast::error_code ignored;
    stream_->socket().set_option(tcp::no_delay(true), ignored);
    co_return std::string();
}

void client_connection::close()
{
    if (stream_) {
        beast::error_code ignored;
        stream_->socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream_->close();
        stream_.reset();
    }
}

asio::awaitable<exchange_result> client_connection::exchange(http::request<http::string_body>& request)
{
    exchange_result result;
    beast::error_code ec;
    auto token = asio::redirect_error(asio::use_awaitable, ec);
    auto start = clock_type::now();
    if (!stream_) {
        std::string error = co_await connect();
        if (!error.empty()) {
            result.error = std::move(error);
            result.latency = clock_type::now() - start;
            co_return result;
        }
        // A request's time does not include its connection's set-up.
        start = clock_type::now();
    }
    // No retry, not even of a GET on a reused connection the service may have closed while
    // idle: under load no connection sits idle, so a cut connection is the service's doing
    // and must show.
    std::string_view phase = "write";
    stream_->expires_after(request_timeout); // one deadline for writing and reading
    co_await http::async_write(*stream_, request, token);
    if (!ec) {
        phase = "read";
        http::response_parser<http::string_body> parser;
        parser.body_limit(response_body_limit);
        co_await http::async_read(*stream_, buffer_, parser, token);
        if (!ec) {
            auto& response = parser.get();
            result.status = response.result_int();
            result.latency = clock_type::now() - start;
            bool keep_alive = response.keep_alive();
            result.body = std::move(response.body());
            stream_->expires_never();
            if (!keep_alive) {
                close(); // the next request reconnects, and that counts as a reconnect
            }
            co_return result;
        }
    }
    close();
    result.error = describe_error(phase, ec);
    result.latency = clock_type::now() - start;
    co_return result;
}

// ---- response checks ---------------------------------------------------------------------------

// Why a response is unusable (a transport error), or "" when it is fine. A 5xx is counted as
// a server error whatever its body; every other response but 204 must carry a JSON object
// (the service's contract: documents or {"error": ...}).
std::string check_body(endpoint target, unsigned status, const std::string& body,
                       std::optional<std::string>& next)
{
    next.reset();
    if (status >= 500 || status == 204) {
        return {};
    }
    std::string_view label = endpoint_labels[static_cast<std::size_t>(target)];
    json::error_code ec;
    json::value value = json::parse(body, ec);
    if (ec) {
        return "bad body: not JSON (" + std::string(label) + " " + std::to_string(status) + ")";
    }
    if (!value.is_object()) {
        return "bad body: not a JSON object (" + std::string(label) + " " + std::to_string(status) + ")";
    }
    if (target == endpoint::list_posts && status == 200) {
        const auto& object = value.get_object();
        const auto* items = object.if_contains("items");
        const auto* cursor = object.if_contains("next");
        if (items == nullptr || !items->is_array() || cursor == nullptr ||
            !(cursor->is_null() || cursor->is_string())) {
            return "bad body: a GET /posts page without items and next";
        }
        if (cursor->is_string() && !cursor->get_string().empty()) {
            next = std::string(cursor->get_string());
        }
    }
    return {};
}

std::string url_encode(std::string_view text)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size() * 3);
    for (unsigned char c : text) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

// ---- the load ------------------------------------------------------------------------------------

struct shared_context {
    const options* opts = nullptr;
    tcp::resolver::results_type endpoints;
    std::string host_header;
    std::int64_t users = 0; // ids 1..users were seeded
    run_control* control = nullptr;
};

// Tags the seeded ones may or may not share: a new name is created on first use.
constexpr std::array<std::string_view, 20> tag_names = {
    "postgres",  "cpp",         "coroutines", "asio",       "beast",        "json",   "http",
    "benchmark", "performance", "testing",    "databases",  "networking",   "linux",  "concurrency",
    "pooling",   "sql",         "indexes",    "migrations", "transactions", "design",
};

enum class operation { get_user, list_posts, list_users, transfer, create_post, put_profile };

operation pick_operation(scenario load, std::mt19937_64& rng)
{
    switch (load) {
    case scenario::get_user:
        return operation::get_user;
    case scenario::list_posts:
        return operation::list_posts;
    case scenario::list_users:
        return operation::list_users;
    case scenario::transfer:
        return operation::transfer;
    case scenario::mixed:
        break;
    }
    int roll = std::uniform_int_distribution<int>(0, 99)(rng);
    if (roll < 55) {
        return operation::get_user;
    }
    if (roll < 70) {
        return operation::list_posts;
    }
    if (roll < 80) {
        return operation::list_users;
    }
    if (roll < 90) {
        return operation::transfer;
    }
    if (roll < 95) {
        return operation::create_post;
    }
    return operation::put_profile;
}

std::int64_t random_user(std::int64_t users, std::mt19937_64& rng)
{
    return std::uniform_int_distribution<std::int64_t>(1, std::max<std::int64_t>(users, 1))(rng);
}

struct planned_request {
    endpoint target;
    http::verb method;
    std::string path;
    std::string body; // JSON, or empty for none
};

planned_request plan_request(operation op, std::int64_t users, std::mt19937_64& rng)
{
    switch (op) {
    case operation::get_user:
        return {endpoint::get_user, http::verb::get, "/users/" + std::to_string(random_user(users, rng)), {}};
    case operation::list_posts:
        return {endpoint::list_posts, http::verb::get, "/posts?limit=" + std::to_string(posts_page_size), {}};
    case operation::list_users: {
        std::int64_t pages = std::max<std::int64_t>(1, (users + users_page_size - 1) / users_page_size);
        std::int64_t page = std::uniform_int_distribution<std::int64_t>(1, pages)(rng);
        return {endpoint::list_users,
                http::verb::get,
                "/users?page=" + std::to_string(page) + "&per_page=" + std::to_string(users_page_size),
                {}};
    }
    case operation::transfer: {
        // Distinct ids: from == to is a 400, which would mean a broken client.
        std::int64_t from = random_user(users, rng);
        std::int64_t to = from + 1;
        if (users >= 2) {
            to = std::uniform_int_distribution<std::int64_t>(1, users - 1)(rng);
            if (to >= from) {
                ++to;
            }
        }
        int amount = std::uniform_int_distribution<int>(1, 5)(rng);
        return {endpoint::create_transfer, http::verb::post, "/transfers",
                R"({"from":)" + std::to_string(from) + R"(,"to":)" + std::to_string(to) + R"(,"amount":)" +
                    std::to_string(amount) + "}"};
    }
    case operation::create_post: {
        std::array<std::size_t, tag_names.size()> order{};
        for (std::size_t i = 0; i < order.size(); ++i) {
            order[i] = i;
        }
        int tag_count = std::uniform_int_distribution<int>(0, 3)(rng);
        std::string tags;
        for (int i = 0; i < tag_count; ++i) {
            // A partial Fisher-Yates shuffle: distinct tags.
            auto j = std::uniform_int_distribution<std::size_t>(static_cast<std::size_t>(i),
                                                                order.size() - 1)(rng);
            std::swap(order[static_cast<std::size_t>(i)], order[j]);
            tags += (i == 0 ? "\"" : ",\"");
            tags += tag_names[order[static_cast<std::size_t>(i)]];
            tags += '"';
        }
        return {endpoint::create_post, http::verb::post, "/posts",
                R"({"author_id":)" + std::to_string(random_user(users, rng)) +
                    R"(,"title":"load test post )" + std::to_string(rng() % 1000000) + R"(","tags":[)" +
                    tags + "]}"};
    }
    case operation::put_profile: {
        std::int64_t user = random_user(users, rng);
        bool dark = rng() % 2 == 0;
        return {endpoint::put_profile, http::verb::put, "/users/" + std::to_string(user) + "/profile",
                R"({"theme":")" + std::string(dark ? "dark" : "light") + R"(","visits":)" +
                    std::to_string(rng() % 1000) + R"(,"bio":"written by the load client"})"};
    }
    }
    throw std::logic_error("unknown operation");
}

void record(connection_stats& stats, slot kind, endpoint target, const exchange_result& result,
            const std::string& body_error)
{
    if (kind == slot::warmup) {
        ++stats.warmup_requests;
        return;
    }
    auto completion = clock_type::now();
    if (!stats.last_measured_completion || completion > *stats.last_measured_completion) {
        stats.last_measured_completion = completion;
    }
    const std::string& error = result.error.empty() ? body_error : result.error;
    auto latency_us = std::chrono::duration_cast<std::chrono::microseconds>(result.latency).count();
    sample s{};
    s.latency_us = static_cast<std::uint32_t>(std::clamp<std::int64_t>(latency_us, 0, UINT32_MAX));
    s.target = target;
    // A 5xx stays a 5xx even with an odd body; anything else unusable is a transport error.
    s.status = static_cast<std::uint16_t>(error.empty() || result.status >= 500 ? result.status : 0);
    if (s.status == 0) {
        ++stats.transport_error_kinds[error];
    }
    stats.samples.push_back(s);
}

// One request of the run: claims its slot, sends it, records it. Returns false when the run
// is over. next receives a listing's next cursor.
asio::awaitable<bool> run_request(client_connection& connection, const shared_context& context,
                                  connection_stats& stats, planned_request& planned,
                                  std::optional<std::string>& next)
{
    next.reset();
    slot kind = context.control->claim();
    if (kind == slot::stop) {
        co_return false;
    }
    auto request = connection.make_request(planned.method, planned.path);
    if (!planned.body.empty()) {
        request.set(http::field::content_type, "application/json");
        request.body() = planned.body;
    }
    request.prepare_payload();
    std::int64_t reconnects_before = connection.reconnects();
    exchange_result result = co_await connection.exchange(request);
    if (kind == slot::measured) {
        stats.reconnects += connection.reconnects() - reconnects_before;
    }
    std::string body_error;
    if (result.error.empty()) {
        body_error = check_body(planned.target, result.status, result.body, next);
    }
    record(stats, kind, planned.target, result, body_error);
    co_return true;
}

asio::awaitable<void> run_connection(const shared_context& context, connection_stats& stats,
                                     std::uint64_t seed)
{
    auto executor = co_await asio::this_coro::executor;
    client_connection connection(executor, context.endpoints, context.host_header);
    std::mt19937_64 rng(seed);
    std::optional<std::string> next;
    bool running = true;
    while (running) {
        operation op = pick_operation(context.opts->load, rng);
        planned_request planned = plan_request(op, context.users, rng);
        running = co_await run_request(connection, context, stats, planned, next);
        // A listing's next pages, newest first, as a reader scrolling on would fetch them.
        for (int page = 2; running && op == operation::list_posts && next && page <= max_post_pages; ++page) {
            planned.path = "/posts?limit=" + std::to_string(posts_page_size) + "&after=" + url_encode(*next);
            running = co_await run_request(connection, context, stats, planned, next);
        }
    }
}

// ---- discovery and metrics ---------------------------------------------------------------------

struct discovery_result {
    std::string error;
    std::int64_t users = 0;
};

asio::awaitable<discovery_result> discover(const shared_context& context)
{
    discovery_result found;
    auto executor = co_await asio::this_coro::executor;
    client_connection connection(executor, context.endpoints, context.host_header);
    auto request = connection.make_request(http::verb::get, "/users?per_page=1");
    request.prepare_payload();
    exchange_result result = co_await connection.exchange(request);
    if (!result.error.empty()) {
        found.error = result.error;
        co_return found;
    }
    if (result.status != 200) {
        found.error = "GET /users?per_page=1 answered " + std::to_string(result.status);
        co_return found;
    }
    json::error_code ec;
    json::value value = json::parse(result.body, ec);
    const json::value* total = nullptr;
    if (!ec && value.is_object()) {
        total = value.get_object().if_contains("total");
    }
    if (total == nullptr || !total->is_int64() || total->get_int64() < 0) {
        found.error = "GET /users?per_page=1 answered 200 without a \"total\" count";
        co_return found;
    }
    found.users = total->get_int64();
    co_return found;
}

asio::awaitable<exchange_result> fetch_metrics(const shared_context& context)
{
    auto executor = co_await asio::this_coro::executor;
    client_connection connection(executor, context.endpoints, context.host_header);
    auto request = connection.make_request(http::verb::get, "/metrics");
    request.prepare_payload();
    exchange_result result = co_await connection.exchange(request);
    co_return result;
}

// Runs one coroutine to completion on a fresh io_context run by this thread.
template <typename T>
T run_alone(asio::awaitable<T> (*function)(const shared_context&), const shared_context& context)
{
    asio::io_context io;
    std::optional<T> value;
    std::exception_ptr failure;
    asio::co_spawn(io, function(context), [&](std::exception_ptr e, T result) {
        failure = e;
        if (!e) {
            value = std::move(result);
        }
    });
    io.run();
    if (failure) {
        std::rethrow_exception(failure);
    }
    return std::move(*value);
}

// ---- results -------------------------------------------------------------------------------------

struct latency_summary {
    std::int64_t requests = 0;
    std::int64_t server_errors = 0;
    std::int64_t transport_errors = 0;
    double p50 = 0;
    double p90 = 0;
    double p99 = 0;
    double max = 0;
};

// Nearest rank on all the samples (sorted in place): the smallest latency with at least
// permille/1000 of the samples at or below it. Integer arithmetic, so p99 of 100 samples is
// exactly the 99th.
double percentile_ms(const std::vector<std::uint32_t>& sorted, std::uint64_t permille)
{
    if (sorted.empty()) {
        return 0;
    }
    std::uint64_t rank = (sorted.size() * permille + 999) / 1000;
    rank = std::clamp<std::uint64_t>(rank, 1, sorted.size());
    return sorted[rank - 1] / 1000.0;
}

latency_summary summarise(std::vector<std::uint32_t>& latencies, std::int64_t requests,
                          std::int64_t server_errors, std::int64_t transport_errors)
{
    std::sort(latencies.begin(), latencies.end());
    latency_summary summary;
    summary.requests = requests;
    summary.server_errors = server_errors;
    summary.transport_errors = transport_errors;
    summary.p50 = percentile_ms(latencies, 500);
    summary.p90 = percentile_ms(latencies, 900);
    summary.p99 = percentile_ms(latencies, 990);
    summary.max = latencies.empty() ? 0 : latencies.back() / 1000.0;
    return summary;
}

struct run_results {
    double duration_seconds = 0;
    std::int64_t requests = 0;
    std::int64_t warmup_requests = 0;
    std::map<unsigned, std::int64_t> status_counts;
    std::int64_t transport_errors = 0;
    std::int64_t server_errors = 0;
    std::int64_t reconnects = 0;
    std::map<std::string, std::int64_t> transport_error_kinds;
    latency_summary overall;
    std::array<std::optional<latency_summary>, endpoint_count> endpoints;
    std::vector<std::string> failures;

    double requests_per_second() const { return duration_seconds > 0 ? requests / duration_seconds : 0; }
};

run_results collect(std::vector<std::unique_ptr<connection_stats>>& all, const run_control& control,
                    clock_type::time_point finished)
{
    run_results results;
    // Latency percentiles cover the requests that got a response; transport errors have no
    // meaningful latency (a refused connect is fast, a timeout is the timeout).
    std::vector<std::uint32_t> overall;
    std::array<std::vector<std::uint32_t>, endpoint_count> per_endpoint;
    std::array<std::int64_t, endpoint_count> requests{}, server_errors{}, transport_errors{};
    std::optional<clock_type::time_point> last;
    for (auto& stats : all) {
        results.warmup_requests += stats->warmup_requests;
        results.reconnects += stats->reconnects;
        if (!stats->failure.empty()) {
            results.failures.push_back(stats->failure);
        }
        for (const auto& [kind, count] : stats->transport_error_kinds) {
            results.transport_error_kinds[kind] += count;
        }
        if (stats->last_measured_completion && (!last || *stats->last_measured_completion > *last)) {
            last = stats->last_measured_completion;
        }
        for (const sample& s : stats->samples) {
            auto index = static_cast<std::size_t>(s.target);
            ++requests[index];
            ++results.requests;
            if (s.status == 0) {
                ++transport_errors[index];
                ++results.transport_errors;
                continue;
            }
            ++results.status_counts[s.status];
            if (s.status >= 500) {
                ++server_errors[index];
                ++results.server_errors;
            }
            overall.push_back(s.latency_us);
            per_endpoint[index].push_back(s.latency_us);
        }
        stats->samples = {}; // the percentiles' copies are enough
    }
    // The measured time runs from its start to the last measured response, which may come a
    // little after the deadline: requests in flight then are waited for and counted.
    auto end = last.value_or(std::min(finished, control.measure_end));
    results.duration_seconds =
        std::max(0.0, std::chrono::duration<double>(end - std::min(end, control.measure_start)).count());
    results.overall = summarise(overall, results.requests, results.server_errors, results.transport_errors);
    for (std::size_t i = 0; i < endpoint_count; ++i) {
        if (requests[i] > 0) {
            results.endpoints[i] =
                summarise(per_endpoint[i], requests[i], server_errors[i], transport_errors[i]);
        }
    }
    return results;
}

std::string format(const char* pattern, double value)
{
    char text[64];
    std::snprintf(text, sizeof text, pattern, value);
    return text;
}

void write_json(std::ostream& out, const run_results& results)
{
    auto latencies = [](const latency_summary& s) {
        return "\"p50\": " + format("%.3f", s.p50) + ", \"p90\": " + format("%.3f", s.p90) +
               ", \"p99\": " + format("%.3f", s.p99) + ", \"max\": " + format("%.3f", s.max);
    };
    // One top-level key a line: shell scripts read it with sed.
    out << "{\n";
    out << "  \"requests\": " << results.requests << ",\n";
    out << "  \"duration_seconds\": " << format("%.3f", results.duration_seconds) << ",\n";
    out << "  \"requests_per_second\": " << format("%.1f", results.requests_per_second()) << ",\n";
    out << "  \"status\": {";
    bool first = true;
    for (const auto& [status, count] : results.status_counts) {
        out << (first ? "" : ", ") << '"' << status << "\": " << count;
        first = false;
    }
    out << "},\n";
    out << "  \"transport_errors\": " << results.transport_errors << ",\n";
    out << "  \"reconnects\": " << results.reconnects << ",\n";
    out << "  \"server_errors\": " << results.server_errors << ",\n";
    out << "  \"latency_ms\": {" << latencies(results.overall) << "},\n";
    out << "  \"endpoints\": {";
    first = true;
    for (std::size_t i = 0; i < endpoint_count; ++i) {
        if (!results.endpoints[i]) {
            continue;
        }
        const auto& s = *results.endpoints[i];
        out << (first ? "\n" : ",\n") << "    \"" << endpoint_labels[i] << "\": {\"requests\": " << s.requests
            << ", \"server_errors\": " << s.server_errors << ", \"transport_errors\": " << s.transport_errors
            << ", " << latencies(s) << "}";
        first = false;
    }
    out << (first ? "}\n" : "\n  }\n");
    out << "}\n";
}

void print_summary(std::ostream& out, const options& opts, std::int64_t users, const run_results& results)
{
    char line[256];
    out << "http_load: scenario " << opts.scenario_name << ", " << opts.connections << " connections, "
        << opts.threads << " threads, " << opts.url << " (" << users << " users)\n";
    std::snprintf(line, sizeof line, "duration          %.3f s", results.duration_seconds);
    out << line;
    if (opts.warmup_seconds > 0) {
        std::snprintf(line, sizeof line, " (after a %.1f s warm-up of %lld requests, not counted)",
                      opts.warmup_seconds, static_cast<long long>(results.warmup_requests));
        out << line;
    }
    std::snprintf(line, sizeof line, "\nrequests          %lld (%.1f req/s)\n",
                  static_cast<long long>(results.requests), results.requests_per_second());
    out << line;
    out << "status           ";
    if (results.status_counts.empty()) {
        out << " none";
    }
    for (const auto& [status, count] : results.status_counts) {
        out << ' ' << status << ": " << count;
    }
    out << "\nserver errors     " << results.server_errors << " (5xx)\n";
    out << "transport errors  " << results.transport_errors << "\n";
    for (const auto& [kind, count] : results.transport_error_kinds) {
        out << "    " << count << " x " << kind << "\n";
    }
    out << "reconnects        " << results.reconnects << "\n";
    out << "latency (ms, requests with a response):\n";
    std::snprintf(line, sizeof line, "  %-24s %9s %6s %9s %9s %9s %9s %9s\n", "endpoint", "requests", "5xx",
                  "transport", "p50", "p90", "p99", "max");
    out << line;
    auto row = [&](std::string_view label, const latency_summary& s) {
        std::snprintf(line, sizeof line, "  %-24.*s %9lld %6lld %9lld %9.3f %9.3f %9.3f %9.3f\n",
                      static_cast<int>(label.size()), label.data(), static_cast<long long>(s.requests),
                      static_cast<long long>(s.server_errors), static_cast<long long>(s.transport_errors),
                      s.p50, s.p90, s.p99, s.max);
        out << line;
    };
    row("overall", results.overall);
    for (std::size_t i = 0; i < endpoint_count; ++i) {
        if (results.endpoints[i]) {
            row(endpoint_labels[i], *results.endpoints[i]);
        }
    }
    for (const auto& failure : results.failures) {
        out << "connection coroutine failed: " << failure << "\n";
    }
}

void print_pool_metrics(std::ostream& out, const shared_context& context)
{
    exchange_result metrics = run_alone(&fetch_metrics, context);
    if (!metrics.error.empty() || metrics.status != 200) {
        out << "pool metrics: GET /metrics failed ("
            << (metrics.error.empty() ? "status " + std::to_string(metrics.status) : metrics.error) << ")\n";
        return;
    }
    out << "pool metrics (GET /metrics):\n";
    std::string_view body = metrics.body;
    bool any = false;
    while (!body.empty()) {
        auto end = body.find('\n');
        std::string_view line = body.substr(0, end);
        body.remove_prefix(end == std::string_view::npos ? body.size() : end + 1);
        if (line.substr(0, 12) == "pgcoro_pool_") {
            out << "  " << line << "\n";
            any = true;
        }
    }
    if (!any) {
        out << "  (no pgcoro_pool_* lines)\n";
    }
}

int run(const options& opts)
{
    shared_context context;
    context.opts = &opts;
    context.host_header = opts.url.substr(7);
    if (!context.host_header.empty() && context.host_header.back() == '/') {
        context.host_header.pop_back();
    }
    {
        asio::io_context io;
        tcp::resolver resolver(io);
        beast::error_code ec;
        context.endpoints = resolver.resolve(opts.host, opts.port, ec);
        if (ec) {
            std::cerr << "http_load: cannot resolve " << opts.host << ": " << ec.message() << "\n";
            return exit_unreachable;
        }
    }

    discovery_result found = run_alone(&discover, context);
    if (!found.error.empty()) {
        std::cerr << "http_load: the service at " << opts.url << " cannot be reached: " << found.error
                  << "\n";
        return exit_unreachable;
    }
    context.users = found.users;

    run_control control;
    control.request_limit = opts.requests;
    context.control = &control;
    auto start = clock_type::now();
    auto to_duration = [](double seconds) {
        return std::chrono::duration_cast<clock_type::duration>(std::chrono::duration<double>(seconds));
    };
    control.measure_start = start + to_duration(opts.warmup_seconds);
    control.measure_end = opts.duration_given || opts.requests == 0
                              ? control.measure_start + to_duration(opts.duration_seconds)
                              : clock_type::time_point::max();

    asio::io_context io(opts.threads);
    auto signal_strand = asio::make_strand(io);
    asio::signal_set signals(signal_strand, SIGINT, SIGTERM);
    signals.async_wait([&](const beast::error_code& ec, int) {
        if (!ec) {
            // The requests in flight finish and the summary is printed; a second signal,
            // with the default disposition back, ends the process.
            control.interrupted = true;
            beast::error_code ignored;
            signals.clear(ignored);
        }
    });

    std::vector<std::unique_ptr<connection_stats>> all_stats;
    std::atomic<int> remaining{opts.connections};
    std::random_device random_device;
    std::uint64_t base_seed = (std::uint64_t{random_device()} << 32) ^ random_device();
    for (int i = 0; i < opts.connections; ++i) {
        all_stats.push_back(std::make_unique<connection_stats>());
        connection_stats& stats = *all_stats.back();
        auto seed = base_seed + static_cast<std::uint64_t>(i) * 0x9E3779B97F4A7C15ULL;
        asio::co_spawn(asio::make_strand(io), run_connection(context, stats, seed),
                       [&](std::exception_ptr e) {
                           if (e) {
                               try {
                                   std::rethrow_exception(e);
                               } catch (const std::exception& failure) {
                                   stats.failure = failure.what();
                               } catch (...) {
                                   stats.failure = "unknown exception";
                               }
                           }
                           if (remaining.fetch_sub(1) == 1) {
                               asio::post(signal_strand, [&] { signals.cancel(); });
                           }
                       });
    }
    std::vector<std::thread> threads;
    for (int i = 1; i < opts.threads; ++i) {
        threads.emplace_back([&] { io.run(); });
    }
    io.run();
    for (auto& thread : threads) {
        thread.join();
    }
    run_results results = collect(all_stats, control, clock_type::now());

    if (!opts.quiet) {
        print_summary(std::cout, opts, context.users, results);
        print_pool_metrics(std::cout, context);
        std::cout.flush();
    }
    if (!opts.json_file.empty()) {
        if (opts.json_file == "-") {
            write_json(std::cout, results);
            std::cout.flush();
        } else {
            std::ofstream file(opts.json_file);
            write_json(file, results);
            file.close();
            if (!file) {
                std::cerr << "http_load: cannot write " << opts.json_file << "\n";
                return exit_errors;
            }
        }
    }
    if (!results.failures.empty()) {
        return exit_errors;
    }
    bool errors = results.server_errors > 0 || results.transport_errors > 0;
    if (errors && !opts.allow_errors) {
        std::cerr << "http_load: " << results.server_errors << " server error(s) (5xx) and "
                  << results.transport_errors << " transport error(s)\n";
        return exit_errors;
    }
    return exit_ok;
}

} // namespace

int main(int argc, char** argv)
{
    options opts;
    try {
        parsed_command_line parsed = parse_command_line(argc, argv);
        if (parsed.help) {
            std::cout << usage_text;
            return exit_ok;
        }
        opts = std::move(parsed.opts);
    } catch (const usage_error& e) {
        std::cerr << "http_load: " << e.what() << "\n"
                  << "run http_load --help for the options\n";
        return exit_usage;
    }
    try {
        return run(opts);
    } catch (const std::exception& e) {
        std::cerr << "http_load: " << e.what() << "\n";
        return exit_errors;
    }
}
