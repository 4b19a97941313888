#pragma once
// The HTTP/1.1 transport: accepts connections, reads requests with size limits, hands them
// to the api and writes the responses, with keep-alive, idle timeouts and a graceful
// shutdown.

#include "api.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <set>

namespace service {

struct server_options {
    /// Larger request bodies are refused with 413 before they are read.
    std::size_t max_body_bytes = 64 * 1024;
    /// A keep-alive connection with no request for this long is closed.
    std::chrono::seconds idle_timeout{60};
    /// Bound on reading one request once its first byte arrived, and on writing a response.
    std::chrono::seconds io_timeout{30};
};

/// Create with std::make_shared: connections keep the server alive until they end.
class server : public std::enable_shared_from_this<server> {
public:
    /// Binds and listens on `endpoint` (port 0: any free port). Throws boost::system_error.
    server(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint, api& handler,
           server_options options);

    boost::asio::ip::tcp::endpoint local_endpoint() const { return local_endpoint_; }

    /// Starts accepting (on the io_context's threads).
    void start();

    /// Graceful shutdown: stops accepting, closes idle keep-alive connections, lets requests
    /// in flight finish (their responses say `Connection: close`), then closes whatever is
    /// still open after `timeout`. Completes when every connection has ended, or at most
    /// 500 ms after `timeout` (a handler stuck in the database does not see its socket close).
    boost::asio::awaitable<void> shutdown(std::chrono::milliseconds timeout);

private:
    struct connection;
    boost::asio::awaitable<void> accept_loop();
    boost::asio::awaitable<void> serve(std::shared_ptr<connection> c);
    bool track(const std::shared_ptr<connection>& c);
    void untrack(const std::shared_ptr<connection>& c);
    std::size_t open_connections();

    boost::asio::io_context& io_;
    boost::asio::strand<boost::asio::io_context::executor_type> acceptor_strand_;
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::ip::tcp::endpoint local_endpoint_;
    api& api_;
    server_options options_;

    std::mutex mutex_; // guards connections_ and stopping_
    std::set<std::shared_ptr<connection>> connections_;
    bool stopping_ = false;
};

} // namespace service
