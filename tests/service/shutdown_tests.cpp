// Graceful shutdown on SIGTERM: every create the service acknowledged (201) under 32 busy
// clients is in the database afterwards and the process exits 0; with a request in flight
// (a transfer blocked on a wallet row the test holds locked) the listener is closed at once,
// idle keep-alive connections are closed, the request still gets its response with
// `Connection: close`, and a request that never finishes does not keep the process past
// --shutdown-timeout-ms. Each case starts its own service on its own scratch database.

#include "service_support.hpp"

#include <boost/json/serialize.hpp>

#include <atomic>
#include <csignal>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace service_test;
using steady = std::chrono::steady_clock;

/// A service with one transfer in flight: blocked on the source wallet's row, which the test
/// holds locked, until release().
struct in_flight_transfer {
    explicit in_flight_transfer(std::string shutdown_timeout_ms)
        : service(database.dsn(),
                  {"--shutdown-timeout-ms", shutdown_timeout_ms, "--statement-timeout-ms", "60000"})
    {
        http_client setup(service.port());
        from = int_member(create_user(setup, unique_email("from"), "From", 100), "id");
        to = int_member(create_user(setup, unique_email("to"), "To", 0), "id");
        setup.close();
        lock = std::make_unique<wallet_lock>(database.dsn(), from);
        response = std::async(std::launch::async, [this] {
            http_client client(service.port(), 60s);
            return client.post("/transfers", json::value{{"from", from}, {"to", to}, {"amount", 7}});
        });
        bool waiting = eventually([&] { return lock_waiters(database.dsn()) == 1; }, 10s);
        BOOST_TEST_REQUIRE(waiting, "the transfer never waited for the wallet lock");
    }
    ~in_flight_transfer()
    {
        if (lock)
            lock->release();
        if (response.valid())
            response.wait();
    }

    test::scratch_database database;
    service_process service;
    std::int64_t from = 0;
    std::int64_t to = 0;
    std::unique_ptr<wallet_lock> lock;
    std::future<http_response> response;
};

} // namespace

BOOST_AUTO_TEST_SUITE(service_shutdown)

BOOST_AUTO_TEST_CASE(acknowledged_creates_survive_sigterm_under_load)
{
    test::scratch_database database;
    service_process service(database.dsn(), {"--shutdown-timeout-ms", "5000"});
    struct acknowledged {
        std::int64_t id;
        std::string email;
    };
    std::mutex mutex;
    std::vector<acknowledged> created;
    std::vector<std::string> failures; // a status other than 201, or a transport error before SIGTERM
    std::atomic<bool> terminated{false};
    std::atomic<int> after_signal{0};
    std::vector<std::thread> clients;
    for (int t = 0; t < 32; ++t) {
        clients.emplace_back([&, t] {
            http_client client(service.port(), 20s);
            for (int i = 0;; ++i) {
                std::string email =
                    "shutdown-" + std::to_string(t) + "-" + std::to_string(i) + "@example.com";
                bool signalled = terminated.load();
                try {
                    http_response response =
                        client.post("/users", json::value{{"email", email}, {"name", "S"}});
                    std::lock_guard guard(mutex);
                    if (response.status == 201) {
                        created.push_back({int_member(response.json(), "id"), email});
                        after_signal += signalled;
                    } else {
                        failures.push_back("POST /users got " + response.describe());
                    }
                } catch (const std::exception& e) {
                    // A connection cut or refused once the service stops accepting ends this
                    // client; before the signal it is a failure.
                    if (!terminated.load()) {
                        std::lock_guard guard(mutex);
                        failures.push_back(std::string("before SIGTERM: ") + e.what());
                    }
                    return;
                }
            }
        });
    }
    std::this_thread::sleep_for(1500ms);
    terminated = true;
    auto signalled_at = steady::now();
    service.signal(SIGTERM);
    std::optional<int> status = service.wait_for(5000ms + 5s);
    auto took = steady::now() - signalled_at;
    for (std::thread& client : clients)
        client.join();
    BOOST_TEST_REQUIRE(status.has_value(), "the service did not exit within 10 s of SIGTERM");
    service.check_clean_exit(status);
    BOOST_TEST_MESSAGE("shutdown under load: "
                       << created.size() << " users acknowledged (" << after_signal.load()
                       << " sent after the signal), exit after "
                       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
    BOOST_TEST(failures.empty(), failures.size()
                                     << " failures, first: " << (failures.empty() ? "" : failures.front()));
    BOOST_TEST(created.size() > 32u);
    std::vector<std::string> rows = sql_texts(database.dsn(), "SELECT id::text || ' ' || email FROM users");
    std::set<std::string> stored(rows.begin(), rows.end());
    int missing = 0;
    for (const acknowledged& user : created)
        missing += stored.count(std::to_string(user.id) + " " + user.email) == 0;
    BOOST_TEST(missing == 0, missing << " acknowledged users are not in the database");
}

BOOST_AUTO_TEST_CASE(listener_closes_at_sigterm_while_a_request_is_in_flight)
{
    in_flight_transfer scenario("30000");
    scenario.service.signal(SIGTERM);
    bool refused = eventually([&] { return try_connect(scenario.service.port(), 500ms).value() != 0; }, 3s);
    BOOST_TEST(refused, "new connections are still accepted 3 s after SIGTERM");
    BOOST_TEST(scenario.service.running(), "the service exited with a request in flight");
    scenario.lock->release();
    scenario.service.check_clean_exit(scenario.service.wait_for(15s));
}

BOOST_AUTO_TEST_CASE(idle_keep_alive_connections_close_at_sigterm)
{
    in_flight_transfer scenario("30000");
    http_client idle(scenario.service.port());
    BOOST_TEST_REQUIRE(idle.get("/healthz").status == 200u);
    scenario.service.signal(SIGTERM);
    BOOST_TEST(idle.closed_by_server_within(3s),
               "an idle keep-alive connection is still open 3 s after SIGTERM");
    BOOST_TEST(scenario.service.running(), "the service exited with a request in flight");
    scenario.lock->release();
    scenario.service.check_clean_exit(scenario.service.wait_for(15s));
}

BOOST_AUTO_TEST_CASE(request_in_flight_at_sigterm_gets_its_response_with_connection_close)
{
    in_flight_transfer scenario("30000");
    scenario.service.signal(SIGTERM);
    std::this_thread::sleep_for(500ms);
    scenario.lock->release();
    http_response response;
    try {
        response = scenario.response.get();
    } catch (const std::exception& e) {
        BOOST_FAIL("the request in flight at SIGTERM got no response: " << e.what());
    }
    json::value transfer = expect_json(response, 201);
    BOOST_TEST(int_member(transfer, "amount") == 7);
    BOOST_TEST(!response.keep_alive, "the response does not carry Connection: close");
    scenario.service.check_clean_exit(scenario.service.wait_for(15s));
    BOOST_TEST(sql_int(scenario.database.dsn(),
                       "SELECT balance FROM wallets WHERE user_id = " + std::to_string(scenario.to)) == 7);
}

// A handler waiting on a statement is not woken by closing its socket: the shutdown must not
// then wait for it (nor the pool's close for its connection) much past the timeout.
BOOST_AUTO_TEST_CASE(request_still_running_at_the_shutdown_timeout_does_not_keep_the_process)
{
    in_flight_transfer scenario("1500");
    auto began = steady::now();
    scenario.service.signal(SIGTERM);
    std::optional<int> status = scenario.service.wait_for(30s);
    auto took = steady::now() - began;
    scenario.lock->release();
    BOOST_TEST_REQUIRE(status.has_value(), "still running 30 s after SIGTERM with a 1.5 s shutdown timeout");
    auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
    BOOST_TEST_MESSAGE("exited " << took_ms << " ms after SIGTERM");
    BOOST_TEST((took >= 1000ms), "exited before the shutdown timeout with a request in flight");
    BOOST_TEST((took < 1500ms + 4s),
               "exited " << took_ms << " ms after SIGTERM with a 1.5 s shutdown timeout");
    scenario.service.check_clean_exit(status);
    // The blocked transfer never happened: nothing was acknowledged for it, nothing moved.
    BOOST_TEST(sql_int(scenario.database.dsn(), "SELECT balance FROM wallets WHERE user_id = " +
                                                    std::to_string(scenario.from)) == 100);
}

BOOST_AUTO_TEST_SUITE_END()
