#pragma once
// One nonblocking libpq connection driven by Boost.Asio coroutines.

#include <pgcoro/batch.hpp>
#include <pgcoro/connect_options.hpp>
#include <pgcoro/detail/query_methods.hpp>
#include <pgcoro/detail/statement.hpp>
#include <pgcoro/result.hpp>
#include <pgcoro/rows.hpp>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pgcoro {

namespace detail {
class connection_impl;
// The single-row streaming primitives behind row_stream (implemented in connection.cpp).
boost::asio::awaitable<result> stream_next_row(connection_impl& impl);
void stream_abandon(connection_impl& impl) noexcept;
} // namespace detail

class connection;

namespace detail {
/// connection::execute_script for pgcoro's own traffic (the pool's reset): the same, but
/// not reported to connect_options::on_query.
boost::asio::awaitable<void> execute_internal_script(connection& c, std::string_view sql);
} // namespace detail

/// The server's view of the session's transaction (libpq's PQtransactionStatus).
enum class transaction_status {
    idle,           ///< not in a transaction block
    active,         ///< a command is in progress
    in_transaction, ///< idle inside a valid transaction block
    in_error,       ///< idle inside a failed transaction block (ROLLBACK needed)
    unknown,        ///< the connection is bad
};

template <row_type T> class row_stream;

/// One connection to a PostgreSQL server.
///
/// Every operation returns an asio::awaitable and throws pgcoro::error. Parameters are
/// `$1..$n` placeholders bound in binary format with explicit type OIDs; results come back
/// in binary. Each distinct statement (SQL text and parameter types) is prepared once and
/// cached (connect_options::statement_cache_size).
///
/// Thread safety: none. A connection belongs to the executor it was connected on; run its
/// operations from coroutines on that executor (or a strand wrapping it). Exactly one
/// operation runs at a time: starting a second while one is in progress throws
/// client_errc::operation_in_progress and leaves the first undisturbed.
///
/// Cancellation: operations support terminal cancellation through the awaiting
/// coroutine's cancellation slot (e.g. a parallel group's loser). A cancelled operation
/// throws client_errc::operation_aborted; the next operation first sends a cancel request
/// for whatever may still run on the server and drains its results, so the connection
/// stays usable.
///
/// Destroying a connection (or calling close()) closes the socket through libpq; the fd is
/// closed exactly once. Destroying it while an operation is suspended is undefined, as for
/// any Asio I/O object.
class connection : public detail::query_methods<connection> {
public:
    /// A closed connection (every operation throws connection_closed) until a connected one
    /// is moved in. Exists so connections can be held in optionals, containers and Asio
    /// completion values (co_spawn needs a default-constructible result).
    connection() noexcept;
    connection(connection&&) noexcept;
    connection& operator=(connection&&) noexcept;
    ~connection();

    /// Connects: nonblocking libpq handshake, host names resolved with Asio and passed as
    /// hostaddr, each host attempt bounded by connect_timeout. Throws pgcoro::error with
    /// client_errc::connect_failed, connect_timeout or invalid_connection_string; messages
    /// never contain the password.
    static boost::asio::awaitable<connection> connect(boost::asio::any_io_executor executor,
                                                      connect_options options);
    static boost::asio::awaitable<connection> connect(boost::asio::any_io_executor executor,
                                                      std::string conninfo);

    // query, query_one, query_opt, scalar, execute, query_result, stream and run_encoded
    // come from detail::query_methods. A stream keeps the connection busy until it has
    // returned its end (nullopt) or is destroyed; a stream destroyed early leaves the rest
    // to be cancelled and drained by the next operation.

    /// Runs SQL text through the simple query protocol: several ;-separated statements, no
    /// parameters, nothing returned (migrations, DDL scripts). Throws the first error.
    boost::asio::awaitable<void> execute_script(std::string_view sql);

    /// Sends every statement of `statements` in one round trip (libpq pipeline mode) and
    /// returns one result per statement, in order. See batch for the error semantics.
    boost::asio::awaitable<std::vector<result>> pipeline(batch statements);

    /// Runs an already-encoded statement (the non-template core of the calls above).
    boost::asio::awaitable<result> run(detail::statement statement);

    /// Runs `copy_sql` (a COPY ... FROM STDIN statement, no parameters) and sends `data` as
    /// its input, then ends the copy. `data` must be in the format the statement names
    /// (text, csv or binary; binary_copy_writer builds the binary one). Returns the number
    /// of rows copied (the command tag's count).
    ///
    /// The data goes out in 256 KiB chunks, each flushed before the next is queued, so a
    /// large buffer neither blocks the thread nor doubles in libpq's output buffer; server
    /// output (notices) is read meanwhile. COPY is one statement: when the server rejects a
    /// row, nothing of the copy is visible. The server reports such an error when the copy
    /// ends; the rest of `data` is sent first (and discarded by the server).
    ///
    /// Throws pgcoro::error: client_errc::unsupported_copy, before sending anything, when
    /// `copy_sql` is not a COPY statement, and after the server ran it when it is a COPY
    /// that is not FROM STDIN (TO STDOUT: its output is discarded; a server-side file:
    /// it did run); the server's error (SQLSTATE, constraint, ...) for bad data, a
    /// constraint violation or a bad statement; connection_lost when the server goes
    /// away. The connection stays usable after every error but connection_lost.
    ///
    /// Also throws operation_in_progress and connection_closed, as every operation does.
    ///
    /// Cancellation (terminal, e.g. a parallel group's loser): throws
    /// client_errc::operation_aborted at once. A copy cut off before all of `data` was
    /// queued is ended with a failure message, so the server rolls it back; after that the
    /// outcome is as unknown as a cancelled statement's. The connection is left interrupted:
    /// the next operation (or recover()) sends a cancel request, flushes and drains, as
    /// after a cancelled query. Runs on the connection's executor.
    boost::asio::awaitable<std::uint64_t> copy_in(std::string_view copy_sql, std::string data);

    /// Starts an already-encoded statement in single-row mode (the core of stream()).
    template <row_type T> boost::asio::awaitable<row_stream<T>> open_stream(detail::statement statement)
    {
        co_await start_stream(std::move(statement));
        co_return row_stream<T>(*impl_);
    }

    /// One round trip with the empty query (no parse, no plan, no transaction): throws
    /// connection_lost when the server is gone. Used by the pool's pre-ping and health
    /// checks. Cancellable like any operation.
    boost::asio::awaitable<void> ping();

    /// Finishes an interrupted operation now instead of at the start of the next one: a
    /// cancel request if the server may still be running it, then its remaining results are
    /// read and dropped, within 5 s; past that (or if the server is gone) the connection is
    /// closed and connection_lost thrown. Cancelling it throws operation_aborted and leaves
    /// the connection interrupted (the next operation recovers). Does nothing on a clean
    /// connection.
    boost::asio::awaitable<void> recover();

    /// Closes the connection now (no round trip to wait for). Idempotent.
    void close() noexcept;

    /// Connected and not known to be broken. A server-side kill is only noticed at the next
    /// I/O: a pool pings before trusting an idle connection.
    bool is_open() const noexcept;
    transaction_status transaction() const noexcept;

    /// Ready for the next operation with nothing left to do: open, no operation or stream
    /// in progress, no interrupted operation to recover from, and the server idle outside
    /// a transaction block.
    bool is_idle() const noexcept;

    /// Found dead by I/O (lost, killed by the server), as opposed to closed by close() or
    /// never opened.
    bool is_broken() const noexcept;

    /// The server sent something while no operation was running (on an idle connection that
    /// is usually a termination notice or the end of the stream). One poll(2), no read.
    bool has_unread_input() const noexcept;

    /// An operation was interrupted (cancelled, or its stream abandoned) after sending, and
    /// the connection has not recovered yet: the next operation (or recover()) first sends a
    /// cancel request and drains. The server's transaction state is unknown until then.
    bool is_interrupted() const noexcept;

    /// "SQLSTATE: message" of the last error the server reported on this connection (empty
    /// if none). Never contains parameter values.
    const std::string& last_error() const noexcept;
    int backend_pid() const noexcept;
    int server_version() const noexcept;
    /// Number of statements currently prepared on this connection by the cache.
    std::size_t prepared_statements() const noexcept;
    boost::asio::any_io_executor get_executor() const noexcept;

private:
    explicit connection(std::unique_ptr<detail::connection_impl> impl) noexcept;
    template <row_type T> friend class row_stream;
    friend boost::asio::awaitable<void> detail::execute_internal_script(connection& c, std::string_view sql);

    boost::asio::awaitable<void> start_stream(detail::statement statement);

    std::unique_ptr<detail::connection_impl> impl_;
};

/// Rows of a single-row-mode statement, decoded as they arrive (connection::stream).
/// Move-only; keep the connection alive while the stream exists.
template <row_type T> class row_stream {
public:
    row_stream(row_stream&& other) noexcept
        : connection_(std::exchange(other.connection_, nullptr)), decoder_(std::move(other.decoder_)),
          owner_(std::move(other.owner_))
    {}
    row_stream& operator=(row_stream&&) = delete;
    ~row_stream()
    {
        if (connection_)
            detail::stream_abandon(*connection_);
    }

    /// The next row, or nullopt once the statement has finished (the connection is then free
    /// again). Throws pgcoro::error for a server error, even after some rows were returned.
    boost::asio::awaitable<std::optional<T>> next()
    {
        if (!connection_)
            co_return std::nullopt;
        result row;
        try {
            row = co_await detail::stream_next_row(*connection_);
        } catch (...) {
            connection_ = nullptr; // the connection already finished the statement
            throw;
        }
        if (row.empty()) {
            connection_ = nullptr; // end of rows; the connection is free
            co_return std::nullopt;
        }
        if (!decoder_)
            decoder_.emplace(row);
        co_return decoder_->decode(row, 0);
    }

    /// Keeps `owner` alive as long as the stream (a session uses it to keep its connection
    /// leased while rows are still coming).
    void keep_alive(std::shared_ptr<void> owner) noexcept { owner_ = std::move(owner); }

private:
    friend class connection;
    explicit row_stream(detail::connection_impl& c) noexcept : connection_(&c) {}

    detail::connection_impl* connection_; // stable: a connection only moves its impl pointer
    std::optional<detail::row_decoder<T>> decoder_;
    std::shared_ptr<void> owner_; // destroyed after the destructor body has abandoned the rows
};

} // namespace pgcoro
