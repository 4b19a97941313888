// Transfers through the HTTP service: the 201 body and the balances it moves, every refusal
// the README lists (insufficient funds, same wallet, missing wallet, amount bounds, bad
// fields), and concurrent transfers that must keep the sum of balances, never overdraw and
// record exactly the transfers they acknowledged. One service on an empty scratch database.

#include "service_support.hpp"

#include <boost/json/serialize.hpp>

#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

using namespace service_test;

struct transfers_service {
    static std::vector<std::string> arguments() { return {}; }
};
using transfers = suite_service<transfers_service>;

std::int64_t new_wallet(http_client& client, std::int64_t balance)
{
    return int_member(create_user(client, unique_email("wallet"), "Wallet", balance), "id");
}

json::value transfer_body(std::int64_t from, std::int64_t to, std::int64_t amount)
{
    return {{"from", from}, {"to", to}, {"amount", amount}};
}

std::string id_list(const std::vector<std::int64_t>& ids)
{
    std::string list;
    for (std::int64_t id : ids)
        list += (list.empty() ? "" : ",") + std::to_string(id);
    return list;
}

/// What one transfer of a concurrent run got.
struct transfer_outcome {
    std::int64_t from = 0;
    std::int64_t to = 0;
    std::int64_t amount = 0;
    unsigned status = 0;
    std::string code;  // the error code for a refusal
    std::string error; // a transport error or an unexpected body
};

transfer_outcome send_transfer(http_client& client, std::int64_t from, std::int64_t to, std::int64_t amount)
{
    transfer_outcome outcome{from, to, amount};
    try {
        http_response response = client.post("/transfers", transfer_body(from, to, amount));
        outcome.status = response.status;
        json::value body = response.json();
        if (response.status == 201) {
            if (int_member(body, "from") != from || int_member(body, "to") != to ||
                int_member(body, "amount") != amount)
                outcome.error = "the 201 body does not echo the transfer: " + response.body;
        } else {
            outcome.code = string_member(body.at("error"), "code");
        }
    } catch (const std::exception& e) {
        outcome.error = e.what();
    }
    return outcome;
}

/// Runs `threads` clients, each sending `per_thread` transfers chosen by `choose(random)`,
/// and returns every outcome.
template <class Choose>
std::vector<transfer_outcome> run_concurrently(unsigned short port, int threads, int per_thread,
                                               Choose choose)
{
    std::vector<std::vector<transfer_outcome>> outcomes(threads);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            std::mt19937_64 random(static_cast<std::uint64_t>(t) * 7919 + 17);
            http_client client(port);
            for (int i = 0; i < per_thread; ++i) {
                auto [from, to, amount] = choose(random, t, i);
                outcomes[t].push_back(send_transfer(client, from, to, amount));
            }
        });
    }
    for (std::thread& worker : workers)
        worker.join();
    std::vector<transfer_outcome> all;
    for (auto& list : outcomes)
        all.insert(all.end(), list.begin(), list.end());
    return all;
}

} // namespace

BOOST_AUTO_TEST_SUITE(service_transfers, *boost::unit_test::fixture<transfers>())

BOOST_AUTO_TEST_CASE(transfer_moves_the_amount_and_returns_201)
{
    auto& env = transfers::get();
    http_client client(env.service.port());
    std::int64_t from = new_wallet(client, 1000);
    std::int64_t to = new_wallet(client, 0);
    json::value transfer = expect_json(client.post("/transfers", transfer_body(from, to, 300)), 201);
    BOOST_TEST((keys(transfer) == std::vector<std::string>{"amount", "created_at", "from", "id", "to"}),
               json::serialize(transfer));
    BOOST_TEST(int_member(transfer, "id") > 0);
    BOOST_TEST(int_member(transfer, "from") == from);
    BOOST_TEST(int_member(transfer, "to") == to);
    BOOST_TEST(int_member(transfer, "amount") == 300);
    BOOST_TEST(is_rfc3339_utc(string_member(transfer, "created_at")));
    BOOST_TEST(wallet_balance(client, from) == 700);
    BOOST_TEST(wallet_balance(client, to) == 300);
    BOOST_TEST(
        sql_int(env.database.dsn(),
                "SELECT count(*) FROM transfers WHERE id = " + std::to_string(int_member(transfer, "id")) +
                    " AND from_user = " + std::to_string(from) + " AND to_user = " + std::to_string(to) +
                    " AND amount = 300") == 1);
}

BOOST_AUTO_TEST_CASE(transfer_of_the_whole_balance_is_accepted)
{
    http_client client(transfers::get().service.port());
    std::int64_t from = new_wallet(client, 100);
    std::int64_t to = new_wallet(client, 0);
    expect_json(client.post("/transfers", transfer_body(from, to, 100)), 201);
    BOOST_TEST(wallet_balance(client, from) == 0);
    BOOST_TEST(wallet_balance(client, to) == 100);
}

BOOST_AUTO_TEST_CASE(transfer_of_the_largest_amount_is_accepted)
{
    http_client client(transfers::get().service.port());
    std::int64_t from = new_wallet(client, 1000000000);
    std::int64_t to = new_wallet(client, 0);
    expect_json(client.post("/transfers", transfer_body(from, to, 1000000000)), 201);
    BOOST_TEST(wallet_balance(client, to) == 1000000000);
}

BOOST_AUTO_TEST_CASE(transfer_above_the_balance_is_422_insufficient_funds)
{
    auto& env = transfers::get();
    http_client client(env.service.port());
    std::int64_t from = new_wallet(client, 100);
    std::int64_t to = new_wallet(client, 5);
    check_error(client.post("/transfers", transfer_body(from, to, 101)), 422, "insufficient_funds");
    BOOST_TEST(wallet_balance(client, from) == 100);
    BOOST_TEST(wallet_balance(client, to) == 5);
    BOOST_TEST(sql_int(env.database.dsn(),
                       "SELECT count(*) FROM transfers WHERE from_user = " + std::to_string(from)) == 0);
}

BOOST_AUTO_TEST_CASE(transfer_to_the_same_wallet_is_400)
{
    http_client client(transfers::get().service.port());
    std::int64_t wallet = new_wallet(client, 100);
    check_error(client.post("/transfers", transfer_body(wallet, wallet, 10)), 400, "bad_request");
    BOOST_TEST(wallet_balance(client, wallet) == 100);
}

BOOST_AUTO_TEST_CASE(transfer_with_a_missing_wallet_is_404)
{
    http_client client(transfers::get().service.port());
    std::int64_t wallet = new_wallet(client, 100);
    check_error(client.post("/transfers", transfer_body(wallet, 987654321, 10)), 404, "not_found");
    check_error(client.post("/transfers", transfer_body(987654321, wallet, 10)), 404, "not_found");
    check_error(client.post("/transfers", transfer_body(987654321, 987654322, 10)), 404, "not_found");
    BOOST_TEST(wallet_balance(client, wallet) == 100);
}

// A soft-deleted user is 404 everywhere (GET /users/{id}, its profile, PATCH): its wallet too.
BOOST_AUTO_TEST_CASE(transfer_with_a_deleted_users_wallet_is_404)
{
    http_client client(transfers::get().service.port());
    std::int64_t live = new_wallet(client, 100);
    std::int64_t deleted = new_wallet(client, 100);
    BOOST_TEST_REQUIRE(client.del("/users/" + std::to_string(deleted)).status == 204u);
    check_error(client.post("/transfers", transfer_body(live, deleted, 10)), 404, "not_found");
    check_error(client.post("/transfers", transfer_body(deleted, live, 10)), 404, "not_found");
    BOOST_TEST(wallet_balance(client, live) == 100);
}

BOOST_AUTO_TEST_CASE(transfer_amount_must_be_1_to_1000000000)
{
    http_client client(transfers::get().service.port());
    std::int64_t from = new_wallet(client, 1000000000);
    std::int64_t to = new_wallet(client, 0);
    for (const std::string& amount :
         std::vector<std::string>{"0", "-1", "1000000001", "9223372036854775807", "-9223372036854775808",
                                  "18446744073709551615", "1.5", "1e3", R"("5")", "null", "true"}) {
        std::string body = "{\"from\": " + std::to_string(from) + ", \"to\": " + std::to_string(to) +
                           ", \"amount\": " + amount + "}";
        BOOST_TEST_CONTEXT("POST /transfers " << body)
        {
            check_error(client.post("/transfers", body), 400, "bad_request");
        }
    }
    BOOST_TEST(wallet_balance(client, from) == 1000000000);
}

BOOST_AUTO_TEST_CASE(transfer_rejects_missing_unknown_and_mistyped_fields)
{
    http_client client(transfers::get().service.port());
    std::string from = std::to_string(new_wallet(client, 100));
    std::string to = std::to_string(new_wallet(client, 0));
    for (const std::string& body : std::vector<std::string>{
             "{\"to\": " + to + ", \"amount\": 1}", "{\"from\": " + from + ", \"amount\": 1}",
             "{\"from\": " + from + ", \"to\": " + to + "}", "{}",
             "{\"from\": " + from + ", \"to\": " + to + ", \"amount\": 1, \"note\": \"x\"}",
             "{\"from\": \"" + from + "\", \"to\": " + to + ", \"amount\": 1}",
             "{\"from\": 0, \"to\": " + to + ", \"amount\": 1}",
             "{\"from\": " + from + ", \"to\": -1, \"amount\": 1}",
             "{\"from\": " + from + ", \"to\": 1.5, \"amount\": 1}", "[1, 2, 3]", "{\"from\": "}) {
        BOOST_TEST_CONTEXT("POST /transfers " << body)
        {
            check_error(client.post("/transfers", body), 400, "bad_request");
        }
    }
    BOOST_TEST(wallet_balance(client, std::stoll(from)) == 100);
}

BOOST_AUTO_TEST_CASE(concurrent_random_transfers_keep_the_total_and_never_overdraw)
{
    auto& env = transfers::get();
    http_client client(env.service.port());
    std::vector<std::int64_t> wallets;
    for (int i = 0; i < 10; ++i)
        wallets.push_back(new_wallet(client, 1000));
    const std::string in_wallets = "(" + id_list(wallets) + ")";
    std::vector<transfer_outcome> outcomes =
        run_concurrently(env.service.port(), 16, 50, [&](std::mt19937_64& random, int, int) {
            std::uniform_int_distribution<std::size_t> pick(0, wallets.size() - 1);
            std::size_t from = pick(random);
            std::size_t to = pick(random);
            while (to == from)
                to = pick(random);
            std::int64_t amount = std::uniform_int_distribution<std::int64_t>(1, 400)(random);
            return std::make_tuple(wallets[from], wallets[to], amount);
        });

    std::map<std::int64_t, std::int64_t> expected;
    for (std::int64_t wallet : wallets)
        expected[wallet] = 1000;
    int accepted = 0;
    int refused = 0;
    for (const transfer_outcome& o : outcomes) {
        BOOST_TEST_CONTEXT("transfer " << o.from << " -> " << o.to << " of " << o.amount)
        {
            BOOST_TEST(o.error == "");
            BOOST_TEST((o.status == 201 || (o.status == 422 && o.code == "insufficient_funds")),
                       "status " << o.status << " " << o.code);
        }
        if (o.status == 201) {
            ++accepted;
            expected[o.from] -= o.amount;
            expected[o.to] += o.amount;
        } else {
            ++refused;
        }
    }
    BOOST_TEST_MESSAGE("concurrent transfers: " << accepted << " accepted, " << refused << " refused");
    BOOST_TEST(accepted > 0);
    BOOST_TEST(sql_int(env.database.dsn(),
                       "SELECT sum(balance)::bigint FROM wallets WHERE user_id IN " + in_wallets) == 10000);
    BOOST_TEST(
        sql_int(env.database.dsn(), "SELECT min(balance) FROM wallets WHERE user_id IN " + in_wallets) >= 0);
    // Exactly the acknowledged transfers happened: every balance is what they add up to.
    for (std::int64_t wallet : wallets)
        BOOST_TEST(wallet_balance(client, wallet) == expected[wallet], "wallet " << wallet);
    BOOST_TEST(sql_int(env.database.dsn(),
                       "SELECT count(*) FROM transfers WHERE from_user IN " + in_wallets) == accepted);
}

BOOST_AUTO_TEST_CASE(opposite_concurrent_transfers_do_not_deadlock)
{
    auto& env = transfers::get();
    http_client client(env.service.port());
    std::int64_t a = new_wallet(client, 1000);
    std::int64_t b = new_wallet(client, 1000);
    std::vector<transfer_outcome> outcomes =
        run_concurrently(env.service.port(), 8, 50, [&](std::mt19937_64&, int thread, int i) {
            bool forwards = (thread + i) % 2 == 0;
            return std::make_tuple(forwards ? a : b, forwards ? b : a, std::int64_t{1});
        });
    std::int64_t a_to_b = 0;
    for (const transfer_outcome& o : outcomes) {
        BOOST_TEST_CONTEXT("transfer " << o.from << " -> " << o.to)
        {
            BOOST_TEST(o.error == "");
            BOOST_TEST(o.status == 201u, o.code);
        }
        if (o.status == 201)
            a_to_b += o.from == a ? 1 : -1;
    }
    BOOST_TEST(wallet_balance(client, a) == 1000 - a_to_b);
    BOOST_TEST(wallet_balance(client, b) == 1000 + a_to_b);
}

BOOST_AUTO_TEST_SUITE_END()
