#include "server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <iostream>
#include <vector>

namespace service {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

/// One client connection. `busy` and `closing` are only touched on the connection's strand
/// (the socket's executor), so they need no lock.
struct server::connection {
    explicit connection(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    bool busy = false;    // a request has been read and its response is not written yet
    bool closing = false; // shutdown: finish the current request, then close
};

server::server(asio::io_context& io, const tcp::endpoint& endpoint, api& handler, server_options options)
    : io_(io), acceptor_strand_(asio::make_strand(io)), acceptor_(acceptor_strand_), api_(handler),
      options_(options)
{
    acceptor_.open(endpoint.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(endpoint);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    local_endpoint_ = acceptor_.local_endpoint();
}

void server::start()
{
    asio::co_spawn(
        acceptor_strand_, [self = shared_from_this()] { return self->accept_loop(); },
        [](std::exception_ptr e) {
            if (e)
                std::cerr << "http_service: the accept loop ended with an exception\n";
        });
}

bool server::track(const std::shared_ptr<connection>& c)
{
    std::lock_guard lock(mutex_);
    if (stopping_)
        return false;
    connections_.insert(c);
    return true;
}

void server::untrack(const std::shared_ptr<connection>& c)
{
    std::lock_guard lock(mutex_);
    connections_.erase(c);
}

std::size_t server::open_connections()
{
    std::lock_guard lock(mutex_);
    return connections_.size();
}

asio::awaitable<void> server::accept_loop()
{
    for (;;) {
        boost::system::error_code ec;
        // Each connection gets its own strand: its handlers run on any thread, one at a time.
        tcp::socket socket = co_await acceptor_.async_accept(asio::make_strand(io_),
                                                             asio::redirect_error(asio::use_awaitable, ec));
        if (ec == asio::error::operation_aborted || !acceptor_.is_open())
            co_return; // shutdown closed the acceptor
        if (ec) {
            // Out of file descriptors and the like: back off instead of spinning.
            std::cerr << "http_service: accept failed: " << ec.message() << '\n';
            asio::steady_timer pause(acceptor_strand_, std::chrono::milliseconds(50));
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        socket.set_option(tcp::no_delay(true), ec);
        auto c = std::make_shared<connection>(std::move(socket));
        if (!track(c)) {
            c->stream.socket().close(ec);
            co_return;
        }
        auto executor = c->stream.get_executor();
        asio::co_spawn(executor, serve(c), [self = shared_from_this(), c](std::exception_ptr e) {
            if (e)
                std::cerr << "http_service: a connection ended with an exception\n";
            self->untrack(c);
        });
    }
}

namespace {

namespace http = beast::http;

/// The response for a request that could not be read, or nothing when the client just left.
std::optional<response> read_failure_response(const boost::system::error_code& ec, unsigned version)
{
    if (ec == http::error::body_limit)
        return error_response(http::status::payload_too_large, "payload_too_large",
                              "the request body is too large", version, false);
    if (ec == http::error::header_limit)
        return error_response(http::status::request_header_fields_too_large, "bad_request",
                              "the request header is too large", version, false);
    if (ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message)
        return error_response(http::status::bad_request, "bad_request", "malformed HTTP request", version,
                              false);
    return std::nullopt; // the peer closed, timed out or we cancelled: nothing to say
}

} // namespace

asio::awaitable<void> server::serve(std::shared_ptr<connection> c)
{
    beast::flat_buffer buffer;
    boost::system::error_code ec;
    while (!c->closing) {
        http::request_parser<http::string_body> parser;
        parser.body_limit(options_.max_body_bytes);
        c->stream.expires_after(options_.idle_timeout);
        co_await http::async_read_header(c->stream, buffer, parser,
                                         asio::redirect_error(asio::use_awaitable, ec));
        if (!ec) {
            c->busy = true; // from here on shutdown waits for this request instead of cutting it
            c->stream.expires_after(options_.io_timeout);
            // curl and others wait for "100 Continue" before sending a larger body.
            if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
                http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
                co_await http::async_write(c->stream, go_on, asio::redirect_error(asio::use_awaitable, ec));
            }
            if (!ec && !parser.is_done())
                co_await http::async_read(c->stream, buffer, parser,
                                          asio::redirect_error(asio::use_awaitable, ec));
        }
        if (ec) {
            unsigned version = parser.is_header_done() ? parser.get().version() : 11;
            std::optional<response> refusal = read_failure_response(ec, version);
            if (refusal) {
                c->stream.expires_after(options_.io_timeout);
                co_await http::async_write(c->stream, *refusal,
                                           asio::redirect_error(asio::use_awaitable, ec));
            }
            break;
        }

        request req = parser.release();
        // The handler bounds itself (pool_timeout, statement_timeout); a slow database must
        // not cut the connection under a request that is still being answered.
        c->stream.expires_never();
        response res = co_await api_.handle(req);
        if (c->closing)
            res.keep_alive(false);
        c->stream.expires_after(options_.io_timeout);
        co_await http::async_write(c->stream, res, asio::redirect_error(asio::use_awaitable, ec));
        c->busy = false;
        if (ec || !res.keep_alive())
            break;
    }
    c->stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    c->stream.close();
}

asio::awaitable<void> server::shutdown(std::chrono::milliseconds timeout)
{
    std::vector<std::shared_ptr<connection>> open;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        open.assign(connections_.begin(), connections_.end());
    }
    co_await asio::dispatch(acceptor_strand_, asio::use_awaitable);
    boost::system::error_code ec;
    acceptor_.close(ec);

    // Idle connections (waiting for a request) are closed now; busy ones finish their request
    // and close after writing the response.
    for (const auto& c : open)
        asio::post(c->stream.get_executor(), [c] {
            c->closing = true;
            boost::system::error_code ignored;
            if (!c->busy)
                c->stream.socket().cancel(ignored);
        });

    auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor);
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (open_connections() == 0)
        co_return;

    // Past the deadline: cut what is left. Their handlers end on the cancelled I/O.
    std::cerr << "http_service: closing " << open_connections()
              << " connection(s) still busy after the shutdown timeout\n";
    {
        std::lock_guard lock(mutex_);
        open.assign(connections_.begin(), connections_.end());
    }
    for (const auto& c : open)
        asio::post(c->stream.get_executor(), [c] {
            boost::system::error_code ignored;
            c->stream.socket().close(ignored);
        });
    // A handler waiting on the database does not notice its socket closing: give the rest a
    // moment, then stop waiting. Whatever is still running never answers; its transaction
    // never commits (the pool closes the connection, the server rolls back).
    deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
        timer.expires_after(std::chrono::milliseconds(10));
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
}

} // namespace service
