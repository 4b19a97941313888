// A database outage under the running service: with the server stopped (pg_ctl stop -m fast)
// requests get the README's 503 (JSON error, Retry-After: 1) within the pool timeout plus a
// margin, never a 500 and never a hang; once the server is back the service answers again on
// its own. Needs PGCORO_TEST_PG_CTL and PGCORO_TEST_PGDATA (./dev sets them for its own
// server); without them the cases are skipped with a message. The cases run in order on one
// service: the first stops the server, the second starts it again (and the fixture starts it
// whatever happened, so no run leaves the server down).

#include "service_support.hpp"

#include <boost/json/serialize.hpp>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace service_test;
using steady = std::chrono::steady_clock;

bool outage_possible()
{
    return !env("PGCORO_TEST_PG_CTL").empty() && !env("PGCORO_TEST_PGDATA").empty();
}

/// The server's start command line (from postmaster.opts), to start it again after a stop.
std::string start_command()
{
    std::ifstream opts(env("PGCORO_TEST_PGDATA") + "/postmaster.opts");
    std::string line;
    std::getline(opts, line);
    auto first_space = line.find(' ');
    std::string args = first_space == std::string::npos ? "" : line.substr(first_space + 1);
    return env("PGCORO_TEST_PG_CTL") + " start -w -t 60 -l " + env("PGCORO_TEST_PGDATA") +
           "/../restart.log -o '" + args + "' >/dev/null 2>&1";
}

std::string stop_command()
{
    return env("PGCORO_TEST_PG_CTL") + " stop -m fast -w -t 60 >/dev/null 2>&1";
}

bool server_running()
{
    return std::system((env("PGCORO_TEST_PG_CTL") + " status >/dev/null 2>&1").c_str()) == 0;
}

constexpr auto pool_timeout = 1000ms;

struct outage_service {
    static std::vector<std::string> arguments()
    {
        return {"--pool-timeout-ms", std::to_string(pool_timeout.count()),
                "--pool-size",       "4",
                "--max-overflow",    "2"};
    }
};

/// The suite's service, and the server started again after the suite whatever happened.
struct outage_fixture : suite_service<outage_service> {
    outage_fixture()
    {
        if (!outage_possible())
            return;
        http_client client(get().service.port());
        user_id = int_member(create_user(client, unique_email("outage"), "Outage", 100), "id");
        other_id = int_member(create_user(client, unique_email("outage"), "Other", 100), "id");
    }
    ~outage_fixture()
    {
        if (outage_possible() && !server_running())
            std::system(start_command().c_str());
    }
    static inline std::int64_t user_id = 0;
    static inline std::int64_t other_id = 0;
};

} // namespace

BOOST_AUTO_TEST_SUITE(service_outage, *boost::unit_test::fixture<outage_fixture>())

BOOST_AUTO_TEST_CASE(requests_during_an_outage_get_503_with_retry_after)
{
    if (!outage_possible()) {
        BOOST_TEST_MESSAGE(
            "PGCORO_TEST_PG_CTL/PGCORO_TEST_PGDATA not set (external server): outage test skipped");
        return;
    }
    auto& env = outage_fixture::get();
    const std::string user = "/users/" + std::to_string(outage_fixture::user_id);
    {
        http_client warm(env.service.port());
        BOOST_TEST_REQUIRE(warm.get(user).status == 200u);
    }
    BOOST_TEST_REQUIRE(std::system(stop_command().c_str()) == 0, "pg_ctl stop failed");

    const std::string transfer = json::serialize(
        json::value{{"from", outage_fixture::user_id}, {"to", outage_fixture::other_id}, {"amount", 1}});
    std::vector<http_request> requests = {
        {http::verb::get, user},
        {http::verb::get, "/healthz"},
        {http::verb::post, "/transfers", transfer},
        {http::verb::get, "/posts?limit=5"},
        {http::verb::get, "/users?page=1"},
    };
    http_client client(env.service.port(), 20s);
    auto until = steady::now() + 5s;
    steady::duration slowest{};
    int answered = 0;
    while (steady::now() < until) {
        for (const http_request& request : requests) {
            auto began = steady::now();
            http_response response;
            try {
                response = client.send(request);
            } catch (const std::exception& e) {
                BOOST_ERROR(http::to_string(request.method)
                            << " " << request.target << " failed: " << e.what());
                continue;
            }
            auto took = steady::now() - began;
            slowest = std::max(slowest, took);
            ++answered;
            BOOST_TEST_CONTEXT(http::to_string(request.method)
                               << " " << request.target << " during the outage")
            {
                if (request.target == "/healthz") {
                    BOOST_TEST(response.status == 503u, response.describe());
                    json::value body = response.json();
                    BOOST_TEST(string_member(body, "status") == "unavailable", response.body);
                    BOOST_TEST(leaked_detail(response.body) == "");
                } else {
                    check_error(response, 503, "unavailable");
                    BOOST_TEST(response.header("Retry-After") == "1");
                }
                BOOST_TEST((took < pool_timeout + 2500ms),
                           "took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                   << " ms");
            }
        }
    }
    BOOST_TEST_MESSAGE("outage: " << answered << " requests answered, slowest "
                                  << std::chrono::duration_cast<std::chrono::milliseconds>(slowest).count()
                                  << " ms");
    BOOST_TEST(answered >= 5);
}

BOOST_AUTO_TEST_CASE(service_recovers_when_the_database_returns)
{
    if (!outage_possible()) {
        BOOST_TEST_MESSAGE(
            "PGCORO_TEST_PG_CTL/PGCORO_TEST_PGDATA not set (external server): outage test skipped");
        return;
    }
    auto& env = outage_fixture::get();
    if (!server_running())
        BOOST_TEST_REQUIRE(std::system(start_command().c_str()) == 0, "pg_ctl start failed");
    const std::string user = "/users/" + std::to_string(outage_fixture::user_id);
    http_client client(env.service.port(), 20s);
    auto began = steady::now();
    bool recovered = eventually(
        [&] {
            try {
                return client.get(user).status == 200 && client.get("/healthz").status == 200;
            } catch (const std::exception&) {
                return false;
            }
        },
        30s);
    BOOST_TEST_REQUIRE(recovered, "no 200 within 30 s of the restart");
    BOOST_TEST_MESSAGE(
        "recovered " << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - began).count()
                     << " ms after the restart");
    // Recovered for good: no stale connection left in the pool to fail a later request.
    for (int i = 0; i < 30; ++i) {
        http_response response = client.get(i % 3 == 0 ? "/healthz" : user);
        BOOST_TEST(response.status == 200u, response.describe());
    }
    json::value transfer =
        expect_json(client.post("/transfers", json::value{{"from", outage_fixture::user_id},
                                                          {"to", outage_fixture::other_id},
                                                          {"amount", 1}}),
                    201);
    BOOST_TEST(int_member(transfer, "amount") == 1);
}

BOOST_AUTO_TEST_SUITE_END()
