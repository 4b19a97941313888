#pragma once
// Demo data for the service (--seed N).

#include <pgcoro/pool.hpp>

#include <boost/asio/awaitable.hpp>

#include <cstdint>

namespace service {

/// When `users` is empty: `users` users (ids 1..users on a fresh table) with wallets
/// (balance 1000) and profiles, 20 tags, 5 posts per user with 0-3 tags each, all in one
/// transaction. Returns the number of users created (0 when there were users already).
boost::asio::awaitable<std::int64_t> seed(pgcoro::pool& pool, std::int64_t users);

} // namespace service
