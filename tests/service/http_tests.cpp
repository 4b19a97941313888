// The HTTP layer of the service: routing (404, 405 with Allow), keep-alive and pipelining,
// malformed requests (garbage request lines, huge headers, bad lengths, truncated bodies) that
// must get a 400 or a closed connection and never a crash, /healthz and /metrics, and the
// process itself (the listening line, SIGINT, bad options, --seed on a non-empty database).

#include "service_support.hpp"

#include <boost/json/serialize.hpp>

#include <csignal>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <sys/wait.h>

namespace {

using namespace service_test;

struct http_service_tag {
    static std::vector<std::string> arguments() { return {}; }
};
using http_suite = suite_service<http_service_tag>;

std::set<std::string> allowed_methods(const http_response& response)
{
    std::set<std::string> methods;
    std::stringstream list(response.header("Allow"));
    std::string method;
    while (std::getline(list, method, ',')) {
        method.erase(0, method.find_first_not_of(' '));
        method.erase(method.find_last_not_of(' ') + 1);
        if (!method.empty())
            methods.insert(method);
    }
    return methods;
}

/// A malformed request must get a 400 (or 431/414 for sizes) or a closed connection within the
/// time allowed: never a 5xx, never a connection left hanging.
void check_refused_or_closed(unsigned short port, const std::string& bytes,
                             std::set<unsigned> allowed = {400})
{
    raw_outcome outcome = raw_exchange(port, bytes, 5s);
    BOOST_TEST_CONTEXT("sent " << bytes.substr(0, 120) << (bytes.size() > 120 ? "..." : "") << "; received "
                               << outcome.received.substr(0, 300))
    {
        unsigned status = outcome.first_status();
        if (status != 0) {
            BOOST_TEST(allowed.count(status) == 1u, "status " << status);
            BOOST_TEST(leaked_detail(outcome.received) == "");
        } else {
            BOOST_TEST(outcome.received.empty(), "the answer is not HTTP");
        }
        BOOST_TEST(outcome.closed, "the connection was neither answered and closed nor closed within 5 s");
    }
}

/// The sum of http_requests_total samples whose labels contain every one of `labels`.
double requests_total(const std::string& metrics, const std::vector<std::string>& labels)
{
    double sum = 0;
    std::stringstream lines(metrics);
    std::string line;
    while (std::getline(lines, line)) {
        if (!line.starts_with("http_requests_total{"))
            continue;
        // rfind: route labels hold braces themselves ("/users/{id}").
        std::size_t close = line.rfind('}');
        std::string label_text = line.substr(0, close);
        bool all = true;
        for (const std::string& label : labels)
            all = all && label_text.find(label) != std::string::npos;
        if (all)
            sum += std::stod(line.substr(close + 1));
    }
    return sum;
}

} // namespace

BOOST_AUTO_TEST_SUITE(service_http, *boost::unit_test::fixture<http_suite>())

BOOST_AUTO_TEST_CASE(unknown_routes_are_404)
{
    http_client client(http_suite::get().service.port());
    for (const std::string& target :
         std::vector<std::string>{"/", "/nope", "/users/1/unknown", "/users/1/wallet/x",
                                  "/posts/00000000-0000-4000-8000-000000000000/tags", "/healthz/x", "/USERS",
                                  "/api/users", "//users"}) {
        BOOST_TEST_CONTEXT("GET " << target)
        {
            check_error(client.get(target), 404, "not_found");
        }
    }
}

BOOST_AUTO_TEST_CASE(wrong_methods_are_405_with_allow)
{
    http_client client(http_suite::get().service.port());
    struct sample {
        http::verb method;
        std::string target;
        std::set<std::string> allow;
    };
    const std::string post = "/posts/00000000-0000-4000-8000-000000000000";
    std::vector<sample> samples = {
        {http::verb::delete_, "/users", {"GET", "POST"}},
        {http::verb::put, "/users/1", {"GET", "PATCH", "DELETE"}},
        {http::verb::post, "/users/1", {"GET", "PATCH", "DELETE"}},
        {http::verb::post, "/users/1/wallet", {"GET"}},
        {http::verb::delete_, "/users/1/profile", {"GET", "PUT"}},
        {http::verb::patch, "/posts", {"GET", "POST"}},
        {http::verb::put, post, {"GET", "DELETE"}},
        {http::verb::get, "/transfers", {"POST"}},
        {http::verb::post, "/tags", {"GET"}},
        {http::verb::post, "/profiles", {"GET"}},
        {http::verb::post, "/healthz", {"GET"}},
        {http::verb::delete_, "/metrics", {"GET"}},
    };
    for (const sample& s : samples) {
        BOOST_TEST_CONTEXT(http::to_string(s.method) << " " << s.target)
        {
            http_response response = client.send({s.method, s.target, std::nullopt, "", {}, 11});
            check_error(response, 405, "method_not_allowed");
            std::set<std::string> allow = allowed_methods(response);
            for (const std::string& method : s.allow)
                BOOST_TEST(allow.count(method) == 1u,
                           "Allow \"" << response.header("Allow") << "\" lacks " << method);
            BOOST_TEST(allow.count(std::string(http::to_string(s.method))) == 0u,
                       "Allow \"" << response.header("Allow") << "\" lists the refused method");
        }
    }
}

BOOST_AUTO_TEST_CASE(empty_query_string_means_no_parameters)
{
    // "/users?" is the URL "/users" with an empty query, not a parameter named "".
    http_client client(http_suite::get().service.port());
    for (const std::string& target : std::vector<std::string>{"/users?", "/posts?", "/tags?"}) {
        http_response response = client.get(target);
        BOOST_TEST(response.status == 200u, "GET " << target << ": " << response.describe());
    }
}

BOOST_AUTO_TEST_CASE(healthz_reports_ok_with_the_pool)
{
    http_client client(http_suite::get().service.port());
    json::value health = expect_json(client.get("/healthz"), 200);
    BOOST_TEST((keys(health) == std::vector<std::string>{"pool", "status"}), json::serialize(health));
    BOOST_TEST(string_member(health, "status") == "ok");
    BOOST_TEST((health.at("pool").is_object() && !health.at("pool").as_object().empty()));
}

BOOST_AUTO_TEST_CASE(metrics_are_prometheus_text)
{
    http_client client(http_suite::get().service.port());
    client.get("/healthz");
    http_response metrics = client.get("/metrics");
    BOOST_TEST_REQUIRE(metrics.status == 200u);
    BOOST_TEST(metrics.header("Content-Type").starts_with("text/plain; version=0.0.4"),
               metrics.header("Content-Type"));
    for (const char* expected :
         {"# TYPE http_requests_total counter", "\nhttp_requests_total{", "pgcoro_pool_",
          "# TYPE http_request_duration_seconds histogram", "http_request_duration_seconds_bucket{",
          "le=\"+Inf\"", "http_request_duration_seconds_count", "http_requests_in_flight"})
        BOOST_TEST(metrics.body.find(expected) != std::string::npos,
                   "no \"" << expected << "\" in the metrics");
    BOOST_TEST(requests_total(metrics.body, {"method=\"GET\"", "route=", "status=\"200\""}) >= 1);
}

BOOST_AUTO_TEST_CASE(metrics_count_requests_by_route_and_status)
{
    http_client client(http_suite::get().service.port());
    const std::vector<std::string> health = {"method=\"GET\"", "healthz", "status=\"200\""};
    const std::vector<std::string> not_found = {"method=\"GET\"", "status=\"404\""};
    std::string before = client.get("/metrics").body;
    for (int i = 0; i < 3; ++i)
        client.get("/healthz");
    client.get("/users/987654321");
    std::string after = client.get("/metrics").body;
    BOOST_TEST(requests_total(after, health) - requests_total(before, health) == 3.0);
    BOOST_TEST(requests_total(after, not_found) - requests_total(before, not_found) == 1.0);
}

BOOST_AUTO_TEST_CASE(in_flight_gauge_counts_only_running_requests)
{
    http_client client(http_suite::get().service.port());
    for (int i = 0; i < 5; ++i)
        client.get(i % 2 ? "/healthz" : "/nope");
    std::string metrics = client.get("/metrics").body;
    const std::string name = "\nhttp_requests_in_flight ";
    std::size_t at = metrics.find(name);
    BOOST_TEST_REQUIRE(at != std::string::npos);
    // Only the /metrics request itself is running.
    BOOST_TEST(std::stod(metrics.substr(at + name.size())) <= 1.0, metrics.substr(at, 40));
}

BOOST_AUTO_TEST_CASE(metrics_label_routes_by_template_not_by_raw_path)
{
    // A label per raw path would grow without bound (one series per user id or bad URL).
    http_client client(http_suite::get().service.port());
    client.get("/users/7777777123");
    client.get("/users/7777777456/wallet");
    client.get("/no-such-route-8888888");
    std::string metrics = client.get("/metrics").body;
    for (const char* raw : {"7777777123", "7777777456", "8888888"})
        BOOST_TEST(metrics.find(raw) == std::string::npos,
                   "a metric label carries the raw path part " << raw);
}

BOOST_AUTO_TEST_CASE(keep_alive_serves_many_requests_on_one_connection)
{
    http_client client(http_suite::get().service.port());
    for (int i = 0; i < 50; ++i) {
        http_response response = client.get(i % 2 ? "/healthz" : "/users/987654321");
        BOOST_TEST(response.keep_alive);
    }
    BOOST_TEST(client.reconnects() == 0);
    BOOST_TEST(client.is_open());
}

BOOST_AUTO_TEST_CASE(keep_alive_survives_error_responses)
{
    http_client client(http_suite::get().service.port());
    client.post("/users", "{");
    client.get("/users/abc");
    client.send({http::verb::post, "/users", "{}", "text/plain", {}, 11});
    http_response after = client.get("/healthz");
    BOOST_TEST(after.status == 200u);
    BOOST_TEST(client.reconnects() == 0);
}

BOOST_AUTO_TEST_CASE(pipelined_requests_are_answered_in_order)
{
    http_client client(http_suite::get().service.port());
    std::int64_t first = int_member(create_user(client, unique_email("pipe"), "First"), "id");
    std::int64_t second = int_member(create_user(client, unique_email("pipe"), "Second"), "id");
    client.write_raw("GET /users/" + std::to_string(first) + " HTTP/1.1\r\nHost: x\r\n\r\nGET /users/" +
                     std::to_string(second) +
                     " HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    BOOST_TEST(int_member(expect_json(client.read_response(), 200), "id") == first);
    BOOST_TEST(int_member(expect_json(client.read_response(), 200), "id") == second);
    BOOST_TEST(client.read_response().status == 404u);
}

BOOST_AUTO_TEST_CASE(http_1_0_request_is_answered_and_closed)
{
    http_client client(http_suite::get().service.port());
    http_response response = client.send({http::verb::get, "/healthz", std::nullopt, "", {}, 10});
    BOOST_TEST(response.status == 200u);
    BOOST_TEST(!response.keep_alive);
    BOOST_TEST(!client.is_open());
}

BOOST_AUTO_TEST_CASE(connection_close_is_honoured)
{
    http_client client(http_suite::get().service.port());
    http_response response =
        client.send({http::verb::get, "/healthz", std::nullopt, "", {{"Connection", "close"}}, 11});
    BOOST_TEST(response.status == 200u);
    BOOST_TEST(!response.keep_alive);
}

// RFC 9110 9.3.2: a response to HEAD has no body, whatever its status; one sent anyway is read
// by the client as the start of the next response on the connection.
BOOST_AUTO_TEST_CASE(head_response_carries_no_body)
{
    // Whatever the status, a response to HEAD ends with its header: a body would be read as
    // the start of the next response on the connection.
    raw_outcome outcome = raw_exchange(http_suite::get().service.port(),
                                       "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                                       "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                       5s);
    std::size_t end_of_head = outcome.received.find("\r\n\r\n");
    BOOST_TEST_REQUIRE(end_of_head != std::string::npos, outcome.received);
    BOOST_TEST(outcome.received.substr(end_of_head + 4).starts_with("HTTP/1.1 200"), outcome.received);
}

BOOST_AUTO_TEST_CASE(expect_100_continue_is_answered)
{
    http_client client(http_suite::get().service.port());
    std::string body = json::serialize(json::value{{"email", unique_email("continue")}, {"name", "Patient"}});
    client.write_raw(
        "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nExpect: 100-continue\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n");
    BOOST_TEST_REQUIRE(client.read_response().status == 100u);
    client.write_raw(body);
    json::value user = expect_json(client.read_response(), 201);
    BOOST_TEST(string_member(user, "name") == "Patient");
}

BOOST_AUTO_TEST_CASE(chunked_request_body_is_accepted)
{
    http_client client(http_suite::get().service.port());
    std::string body = json::serialize(json::value{{"email", unique_email("chunked")}, {"name", "Chunky"}});
    std::string half = body.substr(0, body.size() / 2);
    std::string rest = body.substr(body.size() / 2);
    std::ostringstream request;
    request << "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            << "Transfer-Encoding: chunked\r\n\r\n"
            << std::hex << half.size() << "\r\n"
            << half << "\r\n"
            << rest.size() << "\r\n"
            << rest << "\r\n0\r\n\r\n";
    client.write_raw(request.str());
    json::value user = expect_json(client.read_response(), 201);
    BOOST_TEST(string_member(user, "name") == "Chunky");
}

BOOST_AUTO_TEST_CASE(oversized_chunked_body_is_413)
{
    // The service may stop reading at the limit: the rest of the body can meet a closed
    // connection, but the 413 must have been sent first.
    std::string chunk(40000, ' ');
    std::ostringstream request;
    request << "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            << "Transfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 3; ++i)
        request << std::hex << chunk.size() << "\r\n" << chunk << "\r\n";
    request << "0\r\n\r\n";
    raw_outcome outcome = raw_exchange(http_suite::get().service.port(), request.str(), 5s);
    BOOST_TEST(outcome.first_status() == 413u, outcome.received.substr(0, 300));
    BOOST_TEST(outcome.received.find("\"payload_too_large\"") != std::string::npos,
               outcome.received.substr(0, 300));
}

BOOST_AUTO_TEST_CASE(declared_oversized_content_length_is_413)
{
    // Refused from the header alone: the service must not wait for 10 MB that never come.
    http_client client(http_suite::get().service.port(), 5s);
    client.write_raw("POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 10000000\r\n\r\n{\"email\"");
    check_error(client.read_response(), 413, "payload_too_large");
}

BOOST_AUTO_TEST_CASE(garbage_request_lines_get_400_or_a_closed_connection)
{
    unsigned short port = http_suite::get().service.port();
    for (const std::string& bytes : std::vector<std::string>{
             "GARBAGE\r\n\r\n", "GET\r\n\r\n", std::string("\x00\x01\x02\x03\r\n\r\n", 8),
             "GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", "GET /healthz FTP/1.1\r\n\r\n",
             "GET /he\x01lthz HTTP/1.1\r\nHost: x\r\n\r\n", "GET /healthz HTTP/1.1\r\n\xff\xfe: x\r\n\r\n"})
        check_refused_or_closed(port, bytes);
    BOOST_TEST(one_shot(port, {http::verb::get, "/healthz"}).status == 200u);
}

BOOST_AUTO_TEST_CASE(huge_header_gets_400_or_a_closed_connection)
{
    unsigned short port = http_suite::get().service.port();
    check_refused_or_closed(
        port, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(100000, 'a') + "\r\n\r\n",
        {400, 431});
    std::string many = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 5000; ++i)
        many += "X-H" + std::to_string(i) + ": v\r\n";
    check_refused_or_closed(port, many + "\r\n", {400, 431});
    check_refused_or_closed(port, "GET /users/" + std::string(100000, '1') + " HTTP/1.1\r\nHost: x\r\n\r\n",
                            {400, 414, 431});
    BOOST_TEST(one_shot(port, {http::verb::get, "/healthz"}).status == 200u);
}

BOOST_AUTO_TEST_CASE(bad_body_framing_gets_400_or_a_closed_connection)
{
    unsigned short port = http_suite::get().service.port();
    const std::string head = "POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
    for (const std::string& bytes : std::vector<std::string>{
             head + "Content-Length: -1\r\n\r\n{}", head + "Content-Length: abc\r\n\r\n{}",
             head + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
             head + "Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
             head + "Transfer-Encoding: gzip\r\n\r\n{}",
             head + "Content-Length: 99999999999999999999999\r\n\r\n{}"})
        check_refused_or_closed(port, bytes, {400, 413, 501});
    BOOST_TEST(one_shot(port, {http::verb::get, "/healthz"}).status == 200u);
}

BOOST_AUTO_TEST_CASE(client_vanishing_mid_body_does_not_disturb_the_service)
{
    auto& env = http_suite::get();
    std::int64_t before = sql_int(env.database.dsn(), "SELECT count(*) FROM users");
    for (int i = 0; i < 5; ++i) {
        http_client client(env.service.port());
        client.write_raw("POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: 100\r\n\r\n{\"email\": \"a@b\"");
        client.close();
    }
    http_client client(env.service.port());
    create_user(client, unique_email("after-vanish"), "After");
    BOOST_TEST(sql_int(env.database.dsn(), "SELECT count(*) FROM users") == before + 1);
}

BOOST_AUTO_TEST_CASE(stalled_clients_do_not_block_other_requests)
{
    unsigned short port = http_suite::get().service.port();
    std::vector<std::unique_ptr<http_client>> stalled;
    for (int i = 0; i < 8; ++i) {
        stalled.push_back(std::make_unique<http_client>(port));
        stalled.back()->write_raw("GET /heal");
    }
    http_client client(port, 3s);
    auto began = std::chrono::steady_clock::now();
    for (int i = 0; i < 20; ++i)
        BOOST_TEST(client.get("/healthz").status == 200u);
    BOOST_TEST((std::chrono::steady_clock::now() - began < 3s));
}

BOOST_AUTO_TEST_CASE(requests_succeed_after_every_kind_of_bad_input)
{
    // The battery of the other suites' bad inputs in one place, then a burst of valid
    // requests: none may find a crashed worker or a pooled connection left in a failed state.
    auto& env = http_suite::get();
    unsigned short port = env.service.port();
    {
        http_client client(port);
        std::int64_t id = int_member(create_user(client, unique_email("victim"), "V", 10), "id");
        std::string user = "/users/" + std::to_string(id);
        std::vector<http_request> bad = {
            {http::verb::post, "/users", std::string("{\"email\": \"x@y\", \"name\": \"a\\u0000b\"}")},
            {http::verb::post, "/users", std::string("{\"email\": \"x@y\", \"name\": \"\xff\"}")},
            {http::verb::put, user + "/profile", std::string(R"({"a": "\u0000"})")},
            {http::verb::patch, user, std::string(R"({"name": "a\u0000"})")},
            {http::verb::post, "/posts", std::string(R"({"author_id": 1, "title": "a\u0000"})")},
            {http::verb::post, "/transfers", std::string(R"({"from": 1, "to": 1, "amount": 1})")},
            {http::verb::post, "/transfers",
             "{\"from\": " + std::to_string(id) + ", \"to\": 987654321, \"amount\": 1}"},
            {http::verb::get, "/posts?after=garbage"},
            {http::verb::get, "/profiles?contains=" + url_encode(R"({"a": "\u0000"})")},
            {http::verb::get, "/users?page=99999999999999999"},
            {http::verb::get, "/posts/zzz"},
        };
        for (const http_request& request : bad) {
            http_response response = client.send(request);
            BOOST_TEST(response.status < 500u, http::to_string(request.method)
                                                   << " " << request.target << ": " << response.describe());
        }
    }
    check_refused_or_closed(port, "GARBAGE\r\n\r\n");
    http_client client(port);
    for (int i = 0; i < 20; ++i) {
        json::value user = create_user(client, unique_email("burst"), "B", 5);
        std::int64_t id = int_member(user, "id");
        BOOST_TEST(wallet_balance(client, id) == 5);
        expect_json(client.put("/users/" + std::to_string(id) + "/profile", json::value{{"i", i}}), 200);
    }
    BOOST_TEST(string_member(expect_json(client.get("/healthz"), 200), "status") == "ok");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(service_process_lifecycle)

BOOST_AUTO_TEST_CASE(startup_prints_the_listening_url)
{
    test::scratch_database database;
    service_process service(database.dsn());
    std::string expected = "listening on http://127.0.0.1:" + std::to_string(service.port());
    // Scripts read this line while the service runs: it must not wait in a buffer until exit.
    bool printed = eventually([&] { return service.stdout_text().find(expected) != std::string::npos; }, 3s);
    BOOST_TEST(printed, "stdout while running: \"" << service.stdout_text() << "\"");
    service.stop();
}

BOOST_AUTO_TEST_CASE(sigint_stops_the_service_with_status_0)
{
    test::scratch_database database;
    service_process service(database.dsn());
    BOOST_TEST(one_shot(service.port(), {http::verb::get, "/healthz"}).status == 200u);
    service.signal(SIGINT);
    service.check_clean_exit(service.wait_for(15s));
}

BOOST_AUTO_TEST_CASE(unknown_option_exits_non_zero_without_crashing)
{
    temporary_directory directory("pgcoro-service-args");
    for (const std::vector<std::string>& arguments :
         std::vector<std::vector<std::string>>{{"--bogus"},
                                               {"--threads", "abc"},
                                               {"--listen", "nonsense"},
                                               {"--max-body-bytes", "-5"},
                                               {"--dsn"}}) {
        std::vector<std::string> argv = {service_binary()};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        child_process child(argv, directory.path() / "out", directory.path() / "err");
        std::optional<int> status = child.wait_for(15s);
        BOOST_TEST_CONTEXT("http_service " << arguments.front()
                                           << (arguments.size() > 1 ? " " + arguments[1] : ""))
        {
            BOOST_TEST_REQUIRE(status.has_value(), "still running after 15 s");
            BOOST_TEST((WIFEXITED(*status) && WEXITSTATUS(*status) != 0), describe_wait_status(*status));
            BOOST_TEST(!read_file(directory.path() / "err").empty(), "no message on stderr");
        }
    }
}

BOOST_AUTO_TEST_CASE(unreachable_database_exits_non_zero_without_printing_the_password)
{
    temporary_directory directory("pgcoro-service-unreachable");
    std::string password = "secret-" + std::to_string(::getpid());
    std::vector<std::string> argv = {service_binary(),
                                     "--dsn",
                                     "postgresql://someone:" + password +
                                         "@127.0.0.1:1/nothing?connect_timeout=2",
                                     "--migrate",
                                     "--listen",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     (directory.path() / "port").string()};
    child_process child(argv, directory.path() / "out", directory.path() / "err");
    std::optional<int> status = child.wait_for(30s);
    BOOST_TEST_REQUIRE(status.has_value(), "still running 30 s after its database refused");
    std::string output = read_file(directory.path() / "out") + read_file(directory.path() / "err");
    BOOST_TEST_CONTEXT("output: " << output)
    {
        BOOST_TEST((WIFEXITED(*status) && WEXITSTATUS(*status) != 0), describe_wait_status(*status));
        BOOST_TEST(output.find(password) == std::string::npos, "the password was printed");
    }
}

BOOST_AUTO_TEST_CASE(seed_is_skipped_when_users_exist)
{
    test::scratch_database database;
    {
        service_process first(database.dsn(), {"--seed", "5"});
        first.stop();
    }
    BOOST_TEST(sql_int(database.dsn(), "SELECT count(*) FROM users") == 5);
    {
        service_process second(database.dsn(), {"--seed", "5"});
        second.stop();
    }
    BOOST_TEST(sql_int(database.dsn(), "SELECT count(*) FROM users") == 5);
    BOOST_TEST(sql_int(database.dsn(), "SELECT count(*) FROM posts") == 25);
}

BOOST_AUTO_TEST_SUITE_END()
