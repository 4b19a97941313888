// The load run (its own ctest entry, service_load): http_load with 64 connections for 30 s of
// the mixed scenario against a service seeded with 1000 users must see no 5xx and no
// transport error, and the transfers among them must leave the sum of balances unchanged.

#include "service_support.hpp"

#include <boost/json/serialize.hpp>

#include <sys/wait.h>

#include <string>
#include <vector>

namespace {

using namespace service_test;

} // namespace

BOOST_AUTO_TEST_SUITE(service_load)

BOOST_AUTO_TEST_CASE(mixed_load_gets_no_5xx_no_transport_errors_and_keeps_the_balance_sum)
{
    test::scratch_database database;
    service_process service(database.dsn(), {"--seed", "1000"});
    const std::string sum_sql = "SELECT sum(balance)::bigint FROM wallets";
    std::int64_t before = sql_int(database.dsn(), sum_sql);
    BOOST_TEST(before == 1000 * 1000);

    temporary_directory directory("pgcoro-load");
    const auto report_file = directory.path() / "report.json";
    std::vector<std::string> argv = {load_binary(),
                                     "--url",
                                     "http://127.0.0.1:" + std::to_string(service.port()),
                                     "--connections",
                                     "64",
                                     "--duration",
                                     "30",
                                     "--scenario",
                                     "mixed",
                                     "--json",
                                     report_file.string()};
    child_process load(argv, directory.path() / "stdout", directory.path() / "stderr");
    std::optional<int> status = load.wait_for(180s);
    std::string output = read_file(directory.path() / "stdout") + read_file(directory.path() / "stderr");
    BOOST_TEST_REQUIRE(status.has_value(), "http_load still running after 180 s; output:\n" << output);
    BOOST_TEST_MESSAGE("http_load: " << output);
    BOOST_TEST((WIFEXITED(*status) && WEXITSTATUS(*status) == 0),
               "http_load ended with " << describe_wait_status(*status));

    json::value report;
    try {
        report = parse(read_file(report_file));
    } catch (const std::exception& e) {
        BOOST_FAIL("the JSON report: " << e.what());
    }
    BOOST_TEST_MESSAGE("report: " << json::serialize(report));
    BOOST_TEST(int_member(report, "requests") > 0);
    BOOST_TEST(int_member(report, "transport_errors") == 0);
    BOOST_TEST(int_member(report, "server_errors") == 0);
    for (const auto& entry : report.at("status").as_object())
        BOOST_TEST(!entry.key().starts_with("5"), entry.key()
                                                      << " responses: " << json::serialize(entry.value()));
    BOOST_TEST(report.at("status").as_object().contains("200"));

    BOOST_TEST(sql_int(database.dsn(), sum_sql) == before);
    BOOST_TEST(sql_int(database.dsn(), "SELECT min(balance) FROM wallets") >= 0);
    service.stop();
}

BOOST_AUTO_TEST_SUITE_END()
