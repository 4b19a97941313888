// Saturation without an outage: when every pooled connection is busy (transfers blocked on a
// wallet row the test holds locked) a request waits --pool-timeout-ms and gets the README's
// 503 with Retry-After, /healthz reports unavailable, and the blocked requests still finish
// once the lock goes; a statement held past --statement-timeout-ms becomes a 503 too. Each case
// starts its own service with the options it needs.

#include "service_support.hpp"

#include <boost/json/serialize.hpp>

#include <future>
#include <string>
#include <vector>

namespace {

using namespace service_test;
using steady = std::chrono::steady_clock;

std::int64_t milliseconds(steady::duration d)
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// A transfer sent on its own thread (it will block on the locked wallet).
std::future<http_response> transfer_in_background(unsigned short port, std::int64_t from, std::int64_t to)
{
    return std::async(std::launch::async, [=] {
        http_client client(port, 60s);
        return client.post("/transfers", json::value{{"from", from}, {"to", to}, {"amount", 1}});
    });
}

} // namespace

BOOST_AUTO_TEST_SUITE(service_availability)

BOOST_AUTO_TEST_CASE(requests_beyond_a_busy_pool_get_503_after_the_pool_timeout)
{
    test::scratch_database database;
    service_process service(database.dsn(), {"--pool-size", "2", "--max-overflow", "0", "--pool-timeout-ms",
                                             "500", "--statement-timeout-ms", "60000"});
    http_client client(service.port(), 20s);
    std::int64_t from = int_member(create_user(client, unique_email("busy"), "Busy", 100), "id");
    std::int64_t to = int_member(create_user(client, unique_email("busy"), "Other", 0), "id");
    std::vector<std::future<http_response>> blocked;
    {
        wallet_lock lock(database.dsn(), from);
        for (int i = 0; i < 2; ++i)
            blocked.push_back(transfer_in_background(service.port(), from, to));
        BOOST_TEST_REQUIRE(eventually([&] { return lock_waiters(database.dsn()) == 2; }, 10s),
                           "the transfers never waited for the wallet lock");

        auto began = steady::now();
        http_response user = client.get("/users/" + std::to_string(to));
        auto took = steady::now() - began;
        check_error(user, 503, "unavailable");
        BOOST_TEST(user.header("Retry-After") == "1");
        BOOST_TEST((took >= 400ms && took < 500ms + 2s),
                   "the 503 came after " << milliseconds(took) << " ms");

        http_response health = client.get("/healthz");
        BOOST_TEST(health.status == 503u, health.describe());
        BOOST_TEST(string_member(health.json(), "status") == "unavailable");
    }
    for (auto& transfer : blocked) {
        http_response response = transfer.get();
        BOOST_TEST(response.status == 201u, response.describe());
    }
    BOOST_TEST(wallet_balance(client, to) == 2);
    BOOST_TEST(client.get("/healthz").status == 200u);
    client.close();
    service.stop();
}

BOOST_AUTO_TEST_CASE(statement_past_the_statement_timeout_becomes_503)
{
    test::scratch_database database;
    service_process service(database.dsn(), {"--statement-timeout-ms", "500"});
    http_client client(service.port(), 20s);
    std::int64_t from = int_member(create_user(client, unique_email("slow"), "Slow", 100), "id");
    std::int64_t to = int_member(create_user(client, unique_email("slow"), "Other", 0), "id");
    {
        wallet_lock lock(database.dsn(), from);
        auto began = steady::now();
        http_response response =
            client.post("/transfers", json::value{{"from", from}, {"to", to}, {"amount", 10}});
        auto took = steady::now() - began;
        check_error(response, 503, "unavailable");
        BOOST_TEST(response.header("Retry-After") == "1");
        BOOST_TEST((took < 500ms + 2500ms), "the 503 came after " << milliseconds(took) << " ms");
    }
    BOOST_TEST(wallet_balance(client, from) == 100);
    BOOST_TEST(wallet_balance(client, to) == 0);
    // The connection the timeout hit is usable again.
    for (int i = 0; i < 5; ++i)
        expect_json(client.post("/transfers", json::value{{"from", from}, {"to", to}, {"amount", 10}}), 201);
    BOOST_TEST(wallet_balance(client, to) == 50);
    client.close();
    service.stop();
}

BOOST_AUTO_TEST_CASE(unexpected_database_error_is_500_without_details)
{
    test::scratch_database database;
    service_process service(database.dsn());
    http_client client(service.port());
    BOOST_TEST_REQUIRE(client.get("/tags").status == 200u);
    // A schema the service does not expect: its statement fails with 42P01.
    sql_execute(database.dsn(), "ALTER TABLE tags RENAME TO tags_moved_away");
    http_response response = client.get("/tags");
    sql_execute(database.dsn(), "ALTER TABLE tags_moved_away RENAME TO tags");
    check_error(response, 500, "internal");
    for (const char* detail : {"tags", "relation", "does not exist", "42P01"})
        BOOST_TEST(response.body.find(detail) == std::string::npos, "the 500 carries \"" << detail << "\"");
    // The log does carry it.
    BOOST_TEST(service.stderr_text().find("does not exist") != std::string::npos, service.stderr_text());
    BOOST_TEST(client.get("/tags").status == 200u);
    client.close();
    service.stop();
}

BOOST_AUTO_TEST_SUITE_END()
