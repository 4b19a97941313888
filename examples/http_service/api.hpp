#pragma once
// The HTTP API: routes a parsed request to its handler and turns every outcome, including
// database errors, into a JSON response. Transport (sockets, keep-alive, shutdown) lives in
// server.hpp; this layer sees only requests and responses.

#include "metrics.hpp"

#include <pgcoro/pool.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace service {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

struct api_options {
    /// HMAC key for keyset paging cursors (see pgcoro::keyset::signing_key).
    std::string signing_key;
    /// Bound on GET /healthz's `SELECT 1`.
    std::chrono::milliseconds health_timeout{2000};
};

/// An error response: `{"error": {"code": code, "message": message}}`.
response error_response(http::status status, std::string_view code, std::string_view message,
                        unsigned version, bool keep_alive);

class api {
public:
    /// `pool` and `counters` must outlive the api. Thread-safe: handle() may run on any
    /// number of threads at once (the pool is thread-safe; each request has its own session).
    api(pgcoro::pool& pool, metrics& counters, api_options options);

    /// The response to `req`. Never throws for a request's sake: bad input is a 4xx, a
    /// database outage 503, anything unexpected 500 (logged to stderr, never echoed).
    /// Records the request in the metrics.
    boost::asio::awaitable<response> handle(const request& req);

private:
    struct route_match;
    boost::asio::awaitable<response> dispatch(const request& req, route_match& route);

    pgcoro::pool& pool_;
    metrics& metrics_;
    api_options options_;
};

} // namespace service
