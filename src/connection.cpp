// The libpq-on-Asio core. The rules this file follows are in DESIGN.md ("libpq on Asio") and
// the engineering note reference/libpq-asio.md; section numbers below refer to that note.

#include <pgcoro/connection.hpp>
#include <pgcoro/logger.hpp>

#include "detail/statement_cache.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <libpq-fe.h>
#include <openssl/ssl.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstring>

namespace asio = boost::asio;

namespace pgcoro {
namespace detail {
namespace {

using wait_type = asio::posix::stream_descriptor::wait_type;
using clock = std::chrono::steady_clock;

constexpr std::size_t statement_excerpt = 200;
constexpr auto recovery_timeout = std::chrono::seconds{5};

std::string excerpt(std::string_view sql)
{
    if (sql.size() <= statement_excerpt)
        return std::string(sql);
    return std::string(sql.substr(0, statement_excerpt)) + "...";
}

std::string field_or_empty(const PGresult* res, int code)
{
    const char* value = PQresultErrorField(res, code); // may be NULL for any field (3.3)
    return value ? std::string(value) : std::string();
}

/// Every PG_DIAG_* field of a result, falling back to the result's (or the connection's)
/// error message when libpq generated the error itself and left the fields empty.
diagnostics diagnostics_from(const PGresult* res, const PGconn* conn)
{
    diagnostics diag;
    if (res) {
        diag.severity = field_or_empty(res, PG_DIAG_SEVERITY_NONLOCALIZED);
        if (diag.severity.empty())
            diag.severity = field_or_empty(res, PG_DIAG_SEVERITY);
        diag.sqlstate = field_or_empty(res, PG_DIAG_SQLSTATE);
        diag.message = field_or_empty(res, PG_DIAG_MESSAGE_PRIMARY);
        diag.detail = field_or_empty(res, PG_DIAG_MESSAGE_DETAIL);
        diag.hint = field_or_empty(res, PG_DIAG_MESSAGE_HINT);
        std::string position = field_or_empty(res, PG_DIAG_STATEMENT_POSITION);
        int pos = 0;
        if (!position.empty() &&
            std::from_chars(position.data(), position.data() + position.size(), pos).ec == std::errc{})
            diag.position = pos;
        diag.context = field_or_empty(res, PG_DIAG_CONTEXT);
        diag.schema = field_or_empty(res, PG_DIAG_SCHEMA_NAME);
        diag.table = field_or_empty(res, PG_DIAG_TABLE_NAME);
        diag.column = field_or_empty(res, PG_DIAG_COLUMN_NAME);
        diag.datatype = field_or_empty(res, PG_DIAG_DATATYPE_NAME);
        diag.constraint = field_or_empty(res, PG_DIAG_CONSTRAINT_NAME);
        if (diag.message.empty()) {
            const char* text = PQresultErrorMessage(res);
            if (text)
                diag.message = text;
        }
    }
    if (diag.message.empty() && conn)
        diag.message = PQerrorMessage(conn);
    while (!diag.message.empty() && (diag.message.back() == '\n' || diag.message.back() == ' '))
        diag.message.pop_back();
    return diag;
}

asio::thread_pool& cancel_threads()
{
    // PQcancel blocks (connect + write + wait for close, 7.1): it runs here, never on an
    // I/O thread.
    static asio::thread_pool pool(1);
    return pool;
}

/// Removes passwords from a connect error message: every occurrence of the parsed password,
/// and whatever follows "password=" (a malformed string such as "hostaddr= password=x" can
/// make libpq echo the password as another field's value).
void scrub(std::string& text, std::string_view secret)
{
    constexpr std::string_view mask = "********";
    if (!secret.empty())
        for (std::size_t at = text.find(secret); at != std::string::npos;
             at = text.find(secret, at + mask.size()))
            text.replace(at, secret.size(), mask);
    constexpr std::string_view key = "password=";
    for (std::size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + key.size())) {
        std::size_t begin = at + key.size();
        std::size_t end = text.find_first_of(" \t\n\"'", begin);
        if (end == std::string::npos)
            end = text.size();
        text.replace(begin, end - begin, mask);
    }
}

/// Rows a statement returned or affected: a result's rows, or its command tag's count
/// (UPDATE 3, COPY 10).
std::uint64_t rows_of(const result& r) noexcept
{
    return std::max<std::uint64_t>(r.size(), r.rows_affected());
}

bool is_identifier_char(char c) noexcept
{
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) || c == '_' || c == '$' || u >= 0x80;
}

/// True when `sql` starts with the COPY keyword, after white space and comments (`--`, and
/// `/* */`, which nest in PostgreSQL). copy_in refuses anything else before sending it:
/// a statement that is not a COPY would run (and could change data) before the server's
/// answer revealed the mistake.
bool is_copy_statement(std::string_view sql) noexcept
{
    std::size_t i = 0;
    for (;;) {
        while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i])))
            ++i;
        if (sql.substr(i, 2) == "--") {
            i = sql.find('\n', i);
            if (i == std::string_view::npos)
                return false;
            continue;
        }
        if (sql.substr(i, 2) == "/*") {
            int depth = 0;
            while (i < sql.size()) {
                if (sql.substr(i, 2) == "/*") {
                    ++depth;
                    i += 2;
                } else if (sql.substr(i, 2) == "*/") {
                    i += 2;
                    if (--depth == 0)
                        break;
                } else {
                    ++i;
                }
            }
            if (depth != 0)
                return false;
            continue;
        }
        break;
    }
    constexpr std::string_view keyword = "COPY";
    if (sql.size() - i <= keyword.size())
        return false;
    for (std::size_t k = 0; k < keyword.size(); ++k)
        if (std::toupper(static_cast<unsigned char>(sql[i + k])) != keyword[k])
            return false;
    return !is_identifier_char(sql[i + keyword.size()]);
}

/// The exception behind `failure` as a pgcoro::error, for query_event::failure: Asio's own
/// operation_aborted (a coroutine cancelled before it reached a wait) becomes
/// client_errc::operation_aborted.
error as_error(const std::exception_ptr& failure)
{
    try {
        std::rethrow_exception(failure);
    } catch (const error& e) {
        return e;
    } catch (const boost::system::system_error& e) {
        if (e.code() == asio::error::operation_aborted)
            return error(client_errc::operation_aborted, "operation cancelled");
        diagnostics diag;
        diag.message = e.what();
        return error(e.code(), std::move(diag));
    } catch (const std::exception& e) {
        return error(client_errc::protocol_violation, e.what());
    } catch (...) {
        return error(client_errc::protocol_violation, "unknown exception");
    }
}

std::vector<std::string> split_list(std::string_view text)
{
    std::vector<std::string> parts;
    if (text.empty())
        return parts;
    std::size_t start = 0;
    for (;;) {
        std::size_t comma = text.find(',', start);
        parts.emplace_back(text.substr(start, comma - start));
        if (comma == std::string_view::npos)
            break;
        start = comma + 1;
    }
    return parts;
}

} // namespace

/// One host attempt of a connect: libpq keywords with host/hostaddr/port fixed.
struct connect_attempt {
    std::string host;
    std::string hostaddr;
    std::string port;
    std::string label() const
    {
        std::string text = host.empty() ? hostaddr : host;
        if (!hostaddr.empty() && hostaddr != host)
            text += " (" + hostaddr + ")";
        if (!port.empty())
            text += ":" + port;
        return text.empty() ? std::string("default socket") : text;
    }
};

class connection_impl {
public:
    connection_impl(asio::any_io_executor executor, connect_options options)
        : executor_(std::move(executor)), socket_(executor_), options_(std::move(options)),
          cache_(options_.statement_cache_size)
    {}

    ~connection_impl() { close(); }

    connection_impl(const connection_impl&) = delete;
    connection_impl& operator=(const connection_impl&) = delete;

    asio::awaitable<void> connect();
    asio::awaitable<result> execute(statement s);
    /// `reported`: false for pgcoro's own scripts (pings, pool resets), which on_query
    /// does not see.
    asio::awaitable<void> execute_script(std::string sql, bool reported);
    asio::awaitable<std::vector<result>> pipeline(batch& b);
    asio::awaitable<std::uint64_t> copy_in(std::string sql, std::string data);
    asio::awaitable<void> start_stream(statement& s);
    asio::awaitable<result> stream_next_row();
    void stream_abandon() noexcept;

    void close() noexcept
    {
        release_socket();
        if (conn_) {
            PQfinish(conn_);
            conn_ = nullptr;
        }
    }

    bool is_open() const noexcept { return conn_ && !broken_ && PQstatus(conn_) == CONNECTION_OK; }
    bool is_idle() const noexcept
    {
        return is_open() && !busy_ && !dirty_ && PQtransactionStatus(conn_) == PQTRANS_IDLE;
    }
    bool is_broken() const noexcept { return conn_ && !is_open(); }
    bool is_interrupted() const noexcept { return conn_ && dirty_ && !busy_; }
    const std::string& last_error() const noexcept { return last_error_; }
    bool has_unread_input() const noexcept
    {
        if (!conn_)
            return false;
        pollfd fd{PQsocket(conn_), POLLIN, 0};
        return fd.fd >= 0 && ::poll(&fd, 1, 0) != 0;
    }
    /// Runs recover() if an earlier operation was interrupted (public connection::recover).
    asio::awaitable<void> recover_now()
    {
        bool needs_recovery = enter();
        busy_guard guard{*this};
        if (needs_recovery)
            co_await recover();
    }
    PGconn* native() const noexcept { return conn_; }
    std::size_t prepared_statements() const noexcept { return cache_.size(); }
    const asio::any_io_executor& executor() const noexcept { return executor_; }

private:
    // ---- life cycle --------------------------------------------------------------------
    asio::awaitable<void> connect_one(const std::vector<std::pair<std::string, std::string>>& params,
                                      const connect_attempt& attempt, clock::duration timeout);
    void release_socket() noexcept
    {
        // The descriptor never owns libpq's fd: release, never close (1.4).
        if (socket_.is_open())
            socket_.release();
    }
    void rebind_socket()
    {
        // libpq may swap the socket on every PQconnectPoll step, often keeping the number
        // (1.2): re-register unconditionally.
        release_socket();
        int fd = PQsocket(conn_);
        if (fd < 0)
            throw error(client_errc::connect_failed, "libpq has no socket");
        socket_.assign(fd);
    }
    static void notice_thunk(void* self, const PGresult* res) noexcept
    {
        static_cast<connection_impl*>(self)->on_notice(res);
    }
    void on_notice(const PGresult* res) noexcept;

    // ---- operation bookkeeping ---------------------------------------------------------
    /// Checks that an operation may start and marks the connection busy. Returns true when
    /// an earlier operation was interrupted and recovery must run first.
    bool enter()
    {
        if (!conn_)
            throw error(client_errc::connection_closed, "the connection is closed");
        if (busy_)
            throw error(client_errc::operation_in_progress,
                        "another operation is in progress on this connection");
        if (broken_ || PQstatus(conn_) != CONNECTION_OK)
            throw error(client_errc::connection_lost,
                        "the connection to the server was lost; open a new one");
        busy_ = true;
        return dirty_;
    }

    struct busy_guard {
        connection_impl& self;
        ~busy_guard() { self.busy_ = false; }
    };

    asio::awaitable<void> recover();
    /// Sends a cancel request for whatever the server runs for this connection, from the
    /// cancel thread (PQcancel blocks), and waits for it to be delivered.
    asio::awaitable<void> send_cancel();

    // ---- query log (connect_options::on_query) -----------------------------------------
    /// Someone listens: only then is the clock read.
    bool reporting() const noexcept { return static_cast<bool>(options_.on_query); }
    /// Calls on_query (exceptions are logged, never propagated). `started` is when the
    /// statement was sent, `finished` when its last result arrived.
    void report(query_event event, clock::time_point started, clock::time_point finished) noexcept;
    void report(query_event event, clock::time_point started) noexcept
    {
        report(event, started, clock::now());
    }
    /// Reports a failed statement: `failure` is the exception the operation throws.
    void report_failure(query_event event, clock::time_point started, const std::exception_ptr& failure,
                        clock::time_point finished) noexcept;
    void report_failure(query_event event, clock::time_point started,
                        const std::exception_ptr& failure) noexcept
    {
        report_failure(event, started, failure, clock::now());
    }
    /// Reports the open stream's end (nullptr: its last row arrived) and forgets it.
    void report_stream_end(const std::exception_ptr& failure) noexcept;

    // ---- protocol primitives (run with busy_ set) --------------------------------------
    asio::awaitable<void> wait(wait_type type);
    asio::awaitable<void> wait_read_or_write();
    asio::awaitable<void> flush();
    bool consume() noexcept;
    bool ssl_pending() const noexcept;
    asio::awaitable<PGresult*> next_result();
    /// What reading one command's results keeps: the last good result, the first error.
    struct result_sink {
        result last;
        result failure;
        bool saw_copy = false;
    };
    /// Follow-up a result needs before reading on (COPY states; rare).
    enum class copy_action { none, flush_copy_end, drain_copy_out };
    copy_action absorb(PGresult* raw, result_sink& sink);
    asio::awaitable<void> follow_copy(copy_action action);
    /// After the terminating NULL: throws the first error (or connection loss), else returns
    /// the last result.
    result finish(result_sink& sink, std::string_view sql);
    /// Turns the outcome of a socket wait into the right error.
    void check_wait(const boost::system::error_code& ec);
    asio::awaitable<result> collect(std::string_view sql) { return collect(sql, result_sink{}); }
    /// Reads the rest of a command's results into `sink` (which may already hold some).
    asio::awaitable<result> collect(std::string_view sql, result_sink sink);
    asio::awaitable<void> drain_copy_out();
    /// The cached statement name for `s`, or nullptr (then prepare() it). Synchronous: the
    /// hot path of a cached statement creates no coroutine frame.
    const char* cached_name(const statement& s);
    asio::awaitable<const char*> prepare(statement& s);
    /// Tries to flush libpq's output without waiting: true when all was sent, false when
    /// the socket is full (then co_await flush()). Lets the common case skip a coroutine.
    bool flushed()
    {
        int status = PQflush(conn_);
        if (status < 0)
            throw_lost(diagnostics_from(nullptr, conn_));
        return status == 0;
    }
    asio::awaitable<void> deallocate(const std::string& name);
    void send(const statement& s, const char* name);
    [[noreturn]] void throw_send_failed();
    [[noreturn]] void throw_lost(diagnostics diag);
    [[noreturn]] void throw_server_error(const PGresult* res, std::string_view sql);
    void build_key(const statement& s);

    asio::any_io_executor executor_;
    asio::posix::stream_descriptor socket_;
    connect_options options_;
    PGconn* conn_ = nullptr;
    statement_cache cache_;
    std::uint64_t statement_counter_ = 0;
    bool busy_ = false;   // an operation (or an open stream) owns the connection
    bool dirty_ = false;  // something was sent whose results were not read to the end
    bool broken_ = false; // the connection is lost; only close() remains
    // A copy_in was interrupted before all its data (or its end) reached the server: its
    // recovery cancels before flushing (see recover()).
    bool copy_interrupted_ = false;
    bool uses_ssl_ = false;
    std::string password_;   // scrubbed from every connect error message
    std::string last_error_; // "SQLSTATE: message" of the last server error

    // Scratch space reused by every statement (one operation at a time).
    std::string key_;
    std::vector<const char*> values_;

    /// The open stream, while on_query listens (its event is sent when it ends).
    struct stream_record {
        clock::time_point started;
        std::string sql;
        std::size_t parameters = 0;
        std::uint64_t rows = 0;
    };
    std::optional<stream_record> stream_record_;
};

// ---- connect ---------------------------------------------------------------------------

asio::awaitable<void> connection_impl::connect()
{
    char* parse_error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(options_.conninfo.c_str(), &parse_error);
    if (!parsed) {
        std::string message = parse_error ? parse_error : "out of memory";
        PQfreemem(parse_error);
        // libpq quotes fragments of the string in its message, and a fragment could be a
        // password: drop every quoted part.
        std::string safe;
        bool quoted = false;
        for (char c : message) {
            if (c == '"') {
                quoted = !quoted;
                safe += quoted ? "\"..." : "\"";
            } else if (!quoted && c != '\n') {
                safe += c;
            }
        }
        throw error(client_errc::invalid_connection_string, "invalid connection string: " + safe);
    }

    std::vector<std::pair<std::string, std::string>> params;
    std::string host, hostaddr, port, timeout_text;
    for (PQconninfoOption* o = parsed; o->keyword; ++o) {
        if (!o->val || !*o->val)
            continue;
        std::string_view key = o->keyword;
        if (key == "host")
            host = o->val;
        else if (key == "hostaddr")
            hostaddr = o->val;
        else if (key == "port")
            port = o->val;
        else if (key == "connect_timeout")
            timeout_text = o->val;
        else {
            if (key == "password")
                password_ = o->val;
            params.emplace_back(o->keyword, o->val);
        }
    }
    PQconninfoFree(parsed);
    auto has = [&](std::string_view key) {
        for (auto& [k, v] : params)
            if (k == key)
                return true;
        return false;
    };
    // Text is exchanged as UTF-8 (decoders assume it); GSS encryption buffers data the
    // way TLS does without a pending API (4.3), so it is off unless asked for.
    if (!has("client_encoding"))
        params.emplace_back("client_encoding", "UTF8");
    if (!has("gssencmode"))
        params.emplace_back("gssencmode", "disable");

    clock::duration timeout = options_.connect_timeout;
    if (!timeout_text.empty()) {
        int seconds = 0;
        auto [end, ec] =
            std::from_chars(timeout_text.data(), timeout_text.data() + timeout_text.size(), seconds);
        if (ec != std::errc{} || end != timeout_text.data() + timeout_text.size())
            throw error(client_errc::invalid_connection_string, "invalid connect_timeout value");
        if (seconds > 0)
            timeout = std::chrono::seconds{std::max(seconds, 2)}; // libpq's own minimum
    }

    // One attempt per host (and per resolved address), each with its own deadline: libpq
    // ignores connect_timeout in the nonblocking path and would resolve names blocking
    // (1.3).
    std::vector<std::string> hosts = split_list(host);
    std::vector<std::string> addrs = split_list(hostaddr);
    std::vector<std::string> ports = split_list(port);
    std::size_t count = std::max({hosts.size(), addrs.size(), std::size_t{1}});
    if ((!hosts.empty() && hosts.size() != count) || (!addrs.empty() && addrs.size() != count) ||
        (ports.size() > 1 && ports.size() != count))
        throw error(client_errc::invalid_connection_string,
                    "host, hostaddr and port lists have different lengths");

    std::vector<std::string> failures;
    bool last_timed_out = false;
    asio::ip::tcp::resolver resolver(executor_);
    for (std::size_t i = 0; i < count; ++i) {
        connect_attempt base;
        base.host = hosts.empty() ? std::string() : hosts[i];
        base.hostaddr = addrs.empty() ? std::string() : addrs[i];
        base.port = ports.empty() ? std::string() : ports.size() == 1 ? ports[0] : ports[i];
        std::vector<connect_attempt> attempts;
        bool is_socket = base.host.empty() || base.host.front() == '/' || base.host.front() == '@';
        if (!base.hostaddr.empty() || is_socket) {
            attempts.push_back(base);
        } else {
            // g++ 12 destroys temporaries of a conditional expression inside a co_await
            // twice, and the same for structured bindings of a co_await result: both are
            // kept out of co_await expressions in this file.
            const std::string service = base.port.empty() ? std::string("5432") : base.port;
            auto resolved =
                co_await resolver.async_resolve(base.host, service, asio::as_tuple(asio::use_awaitable));
            const auto& ec = std::get<0>(resolved);
            const auto& endpoints = std::get<1>(resolved);
            if (ec) {
                failures.push_back(base.label() + ": could not resolve host name: " + ec.message());
                continue;
            }
            for (const auto& entry : endpoints) {
                connect_attempt a = base;
                a.hostaddr = entry.endpoint().address().to_string();
                attempts.push_back(std::move(a));
            }
        }
        for (const connect_attempt& attempt : attempts) {
            try {
                co_await connect_one(params, attempt, timeout);
                co_return;
            } catch (const error& e) {
                close();
                if (e.code() == client_errc::operation_aborted)
                    throw;
                last_timed_out = e.code() == client_errc::connect_timeout;
                std::string message = e.diag().message;
                scrub(message, password_);
                failures.push_back(attempt.label() + ": " + message);
            }
        }
    }
    std::string message = "could not connect to the server";
    for (const std::string& failure : failures)
        message += "\n  " + failure;
    scrub(message, password_); // the attempt labels too (hostaddr may hold a misparsed password)
    throw error(last_timed_out ? client_errc::connect_timeout : client_errc::connect_failed, message);
}

asio::awaitable<void>
connection_impl::connect_one(const std::vector<std::pair<std::string, std::string>>& params,
                             const connect_attempt& attempt, clock::duration timeout)
{
    std::vector<const char*> keys, values;
    for (auto& [k, v] : params) {
        keys.push_back(k.c_str());
        values.push_back(v.c_str());
    }
    auto add = [&](const char* k, const std::string& v) {
        if (!v.empty()) {
            keys.push_back(k);
            values.push_back(v.c_str());
        }
    };
    add("host", attempt.host);
    add("hostaddr", attempt.hostaddr);
    add("port", attempt.port);
    keys.push_back(nullptr);
    values.push_back(nullptr);

    conn_ = PQconnectStartParams(keys.data(), values.data(), 0);
    if (!conn_)
        throw std::bad_alloc();
    if (PQstatus(conn_) == CONNECTION_BAD)
        throw error(client_errc::connect_failed, diagnostics_from(nullptr, conn_).message);
    // Installed before the handshake: libpq must never print to stderr (3.4).
    PQsetNoticeReceiver(conn_, &connection_impl::notice_thunk, this);

    const auto deadline = clock::now() + timeout;
    asio::steady_timer timer(executor_);
    PostgresPollingStatusType status = PGRES_POLLING_WRITING;
    for (;;) {
        rebind_socket();
        if (status == PGRES_POLLING_OK)
            break;
        if (status == PGRES_POLLING_FAILED)
            throw error(client_errc::connect_failed, diagnostics_from(nullptr, conn_).message);
        timer.expires_at(deadline);
        auto outcome = co_await asio::experimental::make_parallel_group(
                           socket_.async_wait(status == PGRES_POLLING_READING ? wait_type::wait_read
                                                                              : wait_type::wait_write,
                                              asio::deferred),
                           timer.async_wait(asio::deferred))
                           .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
        const auto& order = std::get<0>(outcome);
        const auto& wait_error = std::get<1>(outcome);
        const auto& timer_error = std::get<2>(outcome);
        if (order[0] == 1 && !timer_error)
            throw error(
                client_errc::connect_timeout,
                "timed out after " +
                    std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count()) +
                    " ms");
        if (order[0] == 1 || wait_error == asio::error::operation_aborted)
            throw error(client_errc::operation_aborted, "connect cancelled");
        status = PQconnectPoll(conn_);
    }
    // "Not BAD" is not OK (pitfall 3).
    if (PQstatus(conn_) != CONNECTION_OK)
        throw error(client_errc::connect_failed, diagnostics_from(nullptr, conn_).message);
    if (PQsetnonblocking(conn_, 1) != 0)
        throw error(client_errc::connect_failed, "could not switch the connection to nonblocking mode");
    uses_ssl_ = PQsslInUse(conn_) == 1;
    const char* datetimes = PQparameterStatus(conn_, "integer_datetimes");
    if (!datetimes || std::strcmp(datetimes, "on") != 0)
        throw error(client_errc::connect_failed, "the server does not use integer datetimes");
}

void connection_impl::on_notice(const PGresult* res) noexcept
{
    try {
        diagnostics diag = diagnostics_from(res, nullptr);
        if (options_.on_notice) {
            options_.on_notice(diag);
            return;
        }
        log_level level = log_level::info;
        if (diag.severity == "WARNING")
            level = log_level::warning;
        else if (diag.severity == "ERROR" || diag.severity == "FATAL" || diag.severity == "PANIC")
            level = log_level::error;
        else if (diag.severity == "DEBUG" || diag.severity == "LOG")
            level = log_level::debug;
        log(level, "server " + diag.severity + ": " + diag.message);
    } catch (...) {
        // A C callback inside libpq: nothing may escape (pitfall 28).
    }
}

// ---- protocol primitives ---------------------------------------------------------------

void connection_impl::check_wait(const boost::system::error_code& ec)
{
    if (!conn_) // close() ran while this operation waited (it releases the socket)
        throw error(client_errc::connection_closed, "the connection was closed during the operation");
    if (ec == asio::error::operation_aborted)
        throw error(client_errc::operation_aborted, "operation cancelled");
    if (ec)
        throw_lost(diagnostics_from(nullptr, nullptr));
}

asio::awaitable<void> connection_impl::wait(wait_type type)
{
    // asio::deferred, not use_awaitable: awaiting the operation directly costs no coroutine
    // frame of its own. (The same three lines are inlined in the hot loops below.)
    boost::system::error_code ec;
    try {
        auto waited = co_await socket_.async_wait(type, asio::as_tuple(asio::deferred));
        ec = std::get<0>(waited);
    } catch (const boost::system::system_error&) {
        ec = asio::error::operation_aborted; // the coroutine was already cancelled
    }
    check_wait(ec);
}

asio::awaitable<void> connection_impl::wait_read_or_write()
{
    // PQflush returned 1: the server may be blocked sending to us, so wait for either
    // direction, never for writability alone (2, pitfall 7).
    auto outcome = co_await asio::experimental::make_parallel_group(
                       socket_.async_wait(wait_type::wait_read, asio::deferred),
                       socket_.async_wait(wait_type::wait_write, asio::deferred))
                       .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    const auto& order = std::get<0>(outcome);
    auto ec = order[0] == 0 ? std::get<1>(outcome) : std::get<2>(outcome);
    if (ec == asio::error::operation_aborted)
        throw error(client_errc::operation_aborted, "operation cancelled");
    if (ec) {
        broken_ = true;
        throw_lost(diagnostics_from(nullptr, nullptr));
    }
    if (order[0] == 0 && !consume())
        throw_lost(diagnostics_from(nullptr, conn_));
}

asio::awaitable<void> connection_impl::flush()
{
    for (;;) {
        int status = PQflush(conn_);
        if (status == 0)
            co_return;
        if (status < 0)
            throw_lost(diagnostics_from(nullptr, conn_));
        co_await wait_read_or_write();
    }
}

bool connection_impl::consume() noexcept
{
    if (!PQconsumeInput(conn_))
        return false;
    // Notifications can arrive during any command (3.5). LISTEN support is a later
    // feature; until then they are released here so they do not pile up.
    while (PGnotify* n = PQnotifies(conn_))
        PQfreemem(n);
    return true;
}

bool connection_impl::ssl_pending() const noexcept
{
    // Decrypted bytes inside OpenSSL do not make the socket readable (4.1).
    if (!uses_ssl_)
        return false;
    auto* ssl = static_cast<SSL*>(PQsslStruct(conn_, "OpenSSL"));
    return ssl && SSL_pending(ssl) > 0;
}

asio::awaitable<PGresult*> connection_impl::next_result()
{
    // isBusy (and the TLS buffer) before every wait, never the other way round (3.1).
    for (;;) {
        if (!PQisBusy(conn_))
            co_return PQgetResult(conn_);
        if (ssl_pending()) {
            if (!consume() && PQisBusy(conn_))
                throw_lost(diagnostics_from(nullptr, conn_));
            continue;
        }
        co_await wait(wait_type::wait_read);
        // A failed read (the server went away) makes libpq report an error result next;
        // only if it is still "busy" there is nothing more to learn.
        if (!consume() && PQisBusy(conn_))
            throw_lost(diagnostics_from(nullptr, conn_));
    }
}

asio::awaitable<void> connection_impl::drain_copy_out()
{
    for (;;) {
        char* buffer = nullptr;
        int n = PQgetCopyData(conn_, &buffer, 1);
        if (buffer)
            PQfreemem(buffer);
        if (n > 0)
            continue;
        if (n == 0) { // nothing buffered yet
            co_await wait(wait_type::wait_read);
            if (!consume())
                throw_lost(diagnostics_from(nullptr, conn_));
            continue;
        }
        co_return; // -1: done (the final result follows); -2: error (reported as a result)
    }
}

connection_impl::copy_action connection_impl::absorb(PGresult* raw, result_sink& sink)
{
    result res(raw);
    switch (PQresultStatus(raw)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
    case PGRES_SINGLE_TUPLE:
        sink.last = std::move(res);
        return copy_action::none;
    case PGRES_COPY_IN:
        // COPY FROM STDIN through the query API would loop forever (pitfall 27).
        sink.saw_copy = true;
        if (PQputCopyEnd(conn_, "COPY is not supported through the query API") < 0)
            throw_lost(diagnostics_from(nullptr, conn_));
        return copy_action::flush_copy_end;
    case PGRES_COPY_OUT:
        sink.saw_copy = true;
        return copy_action::drain_copy_out;
    case PGRES_COPY_BOTH:
        // Replication protocol: nothing sensible to do but drop the connection.
        broken_ = true;
        throw error(client_errc::unsupported_copy, "COPY BOTH (replication) is not supported");
    default:
        if (!sink.failure.native_handle())
            sink.failure = std::move(res);
        return copy_action::none;
    }
}

asio::awaitable<void> connection_impl::follow_copy(copy_action action)
{
    if (action == copy_action::flush_copy_end) {
        if (!flushed())
            co_await flush();
    } else if (action == copy_action::drain_copy_out) {
        co_await drain_copy_out();
    }
}

result connection_impl::finish(result_sink& sink, std::string_view sql)
{
    dirty_ = false;
    if (PQstatus(conn_) != CONNECTION_OK)
        throw_lost(diagnostics_from(sink.failure.native_handle(), conn_));
    if (sink.failure.native_handle())
        throw_server_error(sink.failure.native_handle(), sql);
    if (sink.saw_copy)
        throw error(client_errc::unsupported_copy,
                    "COPY ... FROM STDIN / TO STDOUT is not supported through the query API");
    return std::move(sink.last);
}

asio::awaitable<result> connection_impl::collect(std::string_view sql, result_sink sink)
{
    // Read to the terminating NULL, errors included (pitfall 9). Several results are
    // possible: the last successful one is returned, the first error is thrown.
    for (;;) {
        PGresult* raw = nullptr;
        if (PQisBusy(conn_))
            raw = co_await next_result();
        else
            raw = PQgetResult(conn_); // the common case: parsed already, no coroutine needed
        if (!raw)
            break;
        if (copy_action action = absorb(raw, sink); action != copy_action::none)
            co_await follow_copy(action);
    }
    co_return finish(sink, sql);
}

void connection_impl::throw_lost(diagnostics diag)
{
    broken_ = true;
    if (diag.message.empty())
        diag.message = "connection to the server lost";
    // Keep the server's reason (e.g. 57P01 terminating connection due to administrator
    // command), but the code says what the caller must do: discard the connection.
    throw error(make_error_code(client_errc::connection_lost), std::move(diag));
}

void connection_impl::throw_server_error(const PGresult* res, std::string_view sql)
{
    diagnostics diag = diagnostics_from(res, conn_);
    diag.statement = excerpt(sql);
    last_error_ = diag.sqlstate + ": " + diag.message;
    int code = sqlstate_to_int(diag.sqlstate);
    if (code == 0)
        throw error(make_error_code(client_errc::protocol_violation), std::move(diag));
    throw error(boost::system::error_code(code, sqlstate_category()), std::move(diag));
}

void connection_impl::throw_send_failed()
{
    diagnostics diag = diagnostics_from(nullptr, conn_);
    if (PQstatus(conn_) != CONNECTION_OK)
        throw_lost(std::move(diag));
    throw error(make_error_code(client_errc::protocol_violation), std::move(diag));
}

void connection_impl::build_key(const statement& s)
{
    // The same SQL with different parameter types needs a different prepared statement:
    // binary values are only valid for the types the statement was prepared with.
    key_.assign(s.sql);
    key_.push_back('\0');
    key_.append(reinterpret_cast<const char*>(s.types.data()), s.types.size() * sizeof(oid_t));
}

void connection_impl::send(const statement& s, const char* name)
{
    const std::size_t n = s.size();
    values_.resize(n);
    const char* cursor = s.values.data();
    for (std::size_t i = 0; i < n; ++i) {
        if (s.lengths[i] < 0) {
            values_[i] = nullptr;
        } else {
            values_[i] = cursor;
            cursor += s.lengths[i] + (s.formats[i] == 0 ? 1 : 0); // text values carry a NUL
        }
    }
    int ok = name ? PQsendQueryPrepared(conn_, name, static_cast<int>(n), values_.data(), s.lengths.data(),
                                        s.formats.data(), 1)
                  : PQsendQueryParams(conn_, s.sql.c_str(), static_cast<int>(n), s.types.data(),
                                      values_.data(), s.lengths.data(), s.formats.data(), 1);
    if (!ok)
        throw_send_failed();
    dirty_ = true;
}

asio::awaitable<void> connection_impl::deallocate(const std::string& name)
{
    std::string sql = "DEALLOCATE " + name; // our own generated, unquoted-safe name
    if (!PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 1))
        throw_send_failed();
    dirty_ = true;
    if (!flushed())
        co_await flush();
    try {
        co_await collect(sql);
    } catch (const error& e) {
        if (is_fatal(e.code()))
            throw;
        // e.g. inside an aborted transaction: the statement stays until the session ends.
    }
}

const char* connection_impl::cached_name(const statement& s)
{
    build_key(s);
    const std::string* name = cache_.find(key_);
    return name ? name->c_str() : nullptr;
}

asio::awaitable<const char*> connection_impl::prepare(statement& s)
{
    // key_ was built by cached_name().
    std::string name = "pgcoro_" + std::to_string(++statement_counter_);
    if (!PQsendPrepare(conn_, name.c_str(), s.sql.c_str(), static_cast<int>(s.size()), s.types.data()))
        throw_send_failed();
    dirty_ = true;
    if (!flushed())
        co_await flush();
    co_await collect(s.sql); // a syntax error throws here and nothing is cached
    std::optional<std::string> evicted = cache_.insert(key_, name);
    const std::string* stored = cache_.find(key_);
    if (evicted)
        co_await deallocate(*evicted);
    co_return stored->c_str();
}

asio::awaitable<void> connection_impl::recover()
{
    // An earlier operation was interrupted (cancelled, or its stream abandoned) after
    // sending. Ask the server to stop, then read everything it still sends (7.3), in
    // bounded time; failing that the connection is closed rather than reused dirty.
    auto body = [this]() -> asio::awaitable<void> {
        // Normally the rest of the command is flushed first, so that the cancel request
        // finds it running. A copy_in cut off mid-data is different: the server is certainly
        // inside the COPY (it answered COPY_IN), and it may have stopped reading (a slow
        // trigger), so flushing the rest first could wait for ever. Cancelled first, it
        // fails the COPY and then reads and discards the rest up to the Sync.
        const bool copy_cut = copy_interrupted_;
        if (copy_cut)
            co_await send_cancel();
        if (!flushed())
            co_await flush();
        if (!copy_cut && PQtransactionStatus(conn_) == PQTRANS_ACTIVE)
            co_await send_cancel();
        bool synced = false;
        int nulls_in_a_row = 0;
        for (;;) {
            PGresult* res = co_await next_result();
            if (res) {
                nulls_in_a_row = 0;
                const ExecStatusType status = PQresultStatus(res);
                PQclear(res);
                if (status == PGRES_COPY_IN) {
                    // A COPY FROM STDIN whose data never came: fail it (PQgetResult would
                    // return COPY_IN for ever).
                    if (PQputCopyEnd(conn_, "operation cancelled") < 0)
                        throw_lost(diagnostics_from(nullptr, conn_));
                    if (!flushed())
                        co_await flush();
                } else if (status == PGRES_COPY_OUT) {
                    // Likewise for a COPY TO STDOUT cut off while its rows were read.
                    co_await drain_copy_out();
                }
                continue;
            }
            if (PQpipelineStatus(conn_) == PQ_PIPELINE_OFF || PQexitPipelineMode(conn_))
                break;
            // In pipeline mode a NULL ends each command's results and more may follow; only
            // a second NULL in a row means nothing more is coming. Then the batch was cut off
            // before its sync point: send one so the server finishes the segment (twice
            // means trouble).
            if (++nulls_in_a_row < 2)
                continue;
            if (synced || !PQpipelineSync(conn_))
                throw_lost(diagnostics_from(nullptr, conn_));
            synced = true;
            nulls_in_a_row = 0;
            if (!flushed())
                co_await flush();
        }
        if (PQstatus(conn_) != CONNECTION_OK)
            throw_lost(diagnostics_from(nullptr, conn_));
    };
    asio::steady_timer timer(executor_, recovery_timeout);
    auto outcome = co_await asio::experimental::make_parallel_group(
                       asio::co_spawn(executor_, body(), asio::deferred), timer.async_wait(asio::deferred))
                       .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    // Only the recovery's own deadline (the timer firing) or a failure of the connection
    // closes it. A caller cancelling the operation that was recovering leaves the
    // connection interrupted, as it was: the next operation recovers again.
    const bool expired = std::get<0>(outcome)[0] == 1 && !std::get<2>(outcome);
    if (!expired && std::get<1>(outcome)) {
        auto cancellation = co_await asio::this_coro::cancellation_state;
        if (cancellation.cancelled() != asio::cancellation_type::none && conn_ && !broken_ &&
            PQstatus(conn_) == CONNECTION_OK)
            throw error(client_errc::operation_aborted,
                        "operation cancelled while recovering from an earlier interrupted one");
    }
    if (expired || std::get<1>(outcome)) {
        broken_ = true;
        close();
        throw error(client_errc::connection_lost,
                    "could not recover the connection after an interrupted operation; it was closed");
    }
    dirty_ = false;
    copy_interrupted_ = false;
}

asio::awaitable<void> connection_impl::send_cancel()
{
    PGcancel* cancel = PQgetCancel(conn_);
    if (!cancel)
        co_return;
    // Not cancellable (an empty slot): Asio 1.81's co_spawn forwards a cancellation to the
    // other executor holding a raw pointer to a signal that is freed once this await
    // completes (ThreadSanitizer found the use-after-free). Nothing is lost: the only cancel
    // thread is busy in PQcancel until it returns anyway.
    co_await asio::co_spawn(
        cancel_threads(),
        [cancel]() -> asio::awaitable<void> {
            char message[256];
            PQcancel(cancel, message, sizeof message);
            PQfreeCancel(cancel);
            co_return;
        },
        asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
}

asio::awaitable<std::uint64_t> connection_impl::copy_in(std::string sql, std::string data)
{
    if (!is_copy_statement(sql))
        throw error(client_errc::unsupported_copy,
                    "copy_in needs a COPY ... FROM STDIN statement; nothing was sent: " + excerpt(sql));
    bool needs_recovery = enter();
    busy_guard guard{*this};
    if (needs_recovery)
        co_await recover();
    const bool report_it = reporting();
    const clock::time_point started = report_it ? clock::now() : clock::time_point{};
    try {
        // The extended protocol with the unnamed statement: one statement only (the server
        // refuses "COPY ...; DELETE ..." before running anything) and no parameters. libpq
        // sends the Sync that ends the copy after CopyDone / CopyFail itself.
        if (!PQsendQueryParams(conn_, sql.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0))
            throw_send_failed();
        dirty_ = true;
        if (!flushed())
            co_await flush();
        PGresult* first = nullptr;
        if (PQisBusy(conn_))
            first = co_await next_result();
        else
            first = PQgetResult(conn_);
        if (!first)
            throw_lost(diagnostics_from(nullptr, conn_));
        if (PQresultStatus(first) != PGRES_COPY_IN) {
            // An error (bad table, bad syntax), or a COPY going the other way: finish it as
            // the query API would, then refuse.
            result_sink sink;
            if (copy_action action = absorb(first, sink); action != copy_action::none)
                co_await follow_copy(action);
            const bool copied_out = sink.saw_copy;
            sink.saw_copy = false;
            auto rest = collect(sql, std::move(sink));
            co_await std::move(rest); // throws the server's error, if any
            throw error(client_errc::unsupported_copy,
                        copied_out ? "copy_in needs a COPY ... FROM STDIN statement; this one is COPY ... TO "
                                     "STDOUT (its output was discarded): " +
                                         excerpt(sql)
                                   : "copy_in needs a COPY ... FROM STDIN statement; this one ran without "
                                     "reading input: " +
                                         excerpt(sql));
        }
        PQclear(first);

        // The server is in COPY IN mode. Cut off now, the copy must still end (CopyFail):
        // until then the server waits for data and PQgetResult returns COPY_IN for ever.
        bool ended = false;
        try {
            // Each chunk is flushed before the next is queued: libpq grows its output buffer
            // rather than refuse data, so queuing everything at once would copy the whole
            // buffer. flush() waits for readability too, so notices (or an early error) the
            // server sends meanwhile are read and the server never blocks on us (2).
            constexpr std::size_t chunk = 256 * 1024;
            std::size_t offset = 0;
            while (offset < data.size()) {
                const std::size_t size = std::min(chunk, data.size() - offset);
                const int queued = PQputCopyData(conn_, data.data() + offset, static_cast<int>(size));
                if (queued < 0)
                    throw_send_failed();
                if (queued == 0) { // no room even after a flush (nonblocking mode): wait
                    co_await wait_read_or_write();
                    continue;
                }
                offset += size;
                if (!flushed())
                    co_await flush();
            }
            for (;;) {
                const int queued = PQputCopyEnd(conn_, nullptr);
                if (queued < 0)
                    throw_send_failed();
                if (queued > 0)
                    break;
                co_await wait_read_or_write();
            }
            ended = true;
            if (!flushed())
                co_await flush();
        } catch (...) {
            const std::exception_ptr failure = std::current_exception();
            if (conn_ && !broken_ && PQstatus(conn_) == CONNECTION_OK) {
                // Nothing can be awaited any more (a cancelled coroutine throws at every
                // co_await): queue the failure and leave the rest to recover(). Until the
                // end was queued the server rolls the COPY back; after, the outcome is as
                // unknown as any cancelled statement's.
                if (!ended)
                    PQputCopyEnd(conn_, "copy_in was cancelled");
                copy_interrupted_ = true;
            }
            // Asio's own cancellation error becomes pgcoro's, as from every other wait.
            throw as_error(failure);
        }
        result done = co_await collect(sql);
        const std::uint64_t rows = done.rows_affected();
        if (report_it)
            report({.type = query_event::kind::copy, .sql = sql, .rows = rows}, started);
        co_return rows;
    } catch (...) {
        if (report_it)
            report_failure({.type = query_event::kind::copy, .sql = sql}, started, std::current_exception());
        throw;
    }
}

// ---- query log -------------------------------------------------------------------------

void connection_impl::report(query_event event, clock::time_point started,
                             clock::time_point finished) noexcept
{
    event.duration = std::chrono::duration_cast<std::chrono::nanoseconds>(finished - started);
    try {
        options_.on_query(event);
    } catch (const std::exception& e) {
        try {
            log(log_level::warning, std::string("pgcoro: the on_query hook threw (ignored): ") + e.what());
        } catch (...) {
            // Out of memory for the message: the line is lost, not the operation.
        }
    } catch (...) {
        log(log_level::warning, "pgcoro: the on_query hook threw (ignored)");
    }
}

void connection_impl::report_failure(query_event event, clock::time_point started,
                                     const std::exception_ptr& failure, clock::time_point finished) noexcept
{
    try {
        const error reason = as_error(failure);
        event.failure = &reason;
        event.rows = 0;
        report(event, started, finished);
    } catch (...) {
        // Out of memory while describing the failure: the event is lost, not the operation.
    }
}

void connection_impl::report_stream_end(const std::exception_ptr& failure) noexcept
{
    stream_record record = std::move(*stream_record_);
    stream_record_.reset();
    query_event event{.type = query_event::kind::stream,
                      .sql = record.sql,
                      .parameters = record.parameters,
                      .rows = record.rows};
    if (!failure) {
        report(event, record.started);
        return;
    }
    try {
        const error reason = as_error(failure);
        event.failure = &reason;
        report(event, record.started);
    } catch (...) {
        // Out of memory while describing the failure: the event is lost, not the stream.
    }
}

// ---- operations ------------------------------------------------------------------------

asio::awaitable<result> connection_impl::execute(statement s)
{
    // The hot path of every query. It reads its results itself instead of awaiting
    // collect(), and awaits the socket through asio::deferred: with only this frame and the
    // caller's, Asio's per-thread frame cache recycles both, so a cached statement costs no
    // allocation of pgcoro's beyond the statement itself.
    bool needs_recovery = enter();
    busy_guard guard{*this};
    if (needs_recovery)
        co_await recover();
    // The clock is read only when on_query listens; the try costs nothing until a throw.
    const bool report_it = reporting();
    const clock::time_point started = report_it ? clock::now() : clock::time_point{};
    try {
        for (int attempt = 0;; ++attempt) {
            const char* name = nullptr;
            if (options_.statement_cache_size > 0) {
                name = cached_name(s);
                if (!name)
                    name = co_await prepare(s);
            }
            send(s, name);
            if (!flushed())
                co_await flush();

            result_sink sink;
            for (;;) {
                if (PQisBusy(conn_)) {
                    if (!ssl_pending()) {
                        boost::system::error_code ec;
                        try {
                            auto waited = co_await socket_.async_wait(wait_type::wait_read,
                                                                      asio::as_tuple(asio::deferred));
                            ec = std::get<0>(waited);
                        } catch (const boost::system::system_error&) {
                            ec = asio::error::operation_aborted; // cancelled before the wait began
                        }
                        check_wait(ec);
                    }
                    if (!consume() && PQisBusy(conn_))
                        throw_lost(diagnostics_from(nullptr, conn_));
                    continue;
                }
                PGresult* raw = PQgetResult(conn_);
                if (!raw)
                    break;
                if (copy_action action = absorb(raw, sink); action != copy_action::none)
                    co_await follow_copy(action);
            }
            try {
                result done = finish(sink, s.sql);
                if (report_it)
                    report({.type = query_event::kind::statement,
                            .sql = s.sql,
                            .parameters = s.size(),
                            .rows = rows_of(done)},
                           started);
                co_return done;
            } catch (const error& e) {
                // 26000: someone ran DEALLOCATE ALL / DISCARD ALL behind the cache's back. The
                // statement failed at Bind, before running; outside a transaction it is safe
                // to prepare again once.
                if (!name || attempt > 0 || e.sqlstate() != "26000" ||
                    PQtransactionStatus(conn_) != PQTRANS_IDLE)
                    throw;
                cache_.clear();
            }
        }
    } catch (...) {
        if (report_it)
            report_failure({.type = query_event::kind::statement, .sql = s.sql, .parameters = s.size()},
                           started, std::current_exception());
        throw;
    }
}

asio::awaitable<void> connection_impl::execute_script(std::string text, bool reported)
{
    bool needs_recovery = enter();
    busy_guard guard{*this};
    if (needs_recovery)
        co_await recover();
    const bool report_it = reported && reporting();
    const clock::time_point started = report_it ? clock::now() : clock::time_point{};
    try {
        if (!PQsendQuery(conn_, text.c_str()))
            throw_send_failed();
        dirty_ = true;
        if (!flushed())
            co_await flush();
        result last = co_await collect(text);
        if (report_it)
            report({.type = query_event::kind::script, .sql = text, .rows = rows_of(last)}, started);
    } catch (...) {
        if (report_it)
            report_failure({.type = query_event::kind::script, .sql = text}, started,
                           std::current_exception());
        throw;
    }
}

asio::awaitable<void> connection_impl::start_stream(statement& s)
{
    bool needs_recovery = enter();
    bool started = false;
    stream_record_.reset();
    const bool report_it = reporting();
    bool sending = false;
    clock::time_point sent_at{};
    try {
        if (needs_recovery)
            co_await recover();
        sending = true;
        if (report_it)
            sent_at = clock::now();
        const char* name = nullptr;
        if (options_.statement_cache_size > 0) {
            name = cached_name(s);
            if (!name)
                name = co_await prepare(s);
        }
        send(s, name);
        if (!PQsetSingleRowMode(conn_))
            throw error(client_errc::protocol_violation, "could not enter single-row mode");
        if (!flushed())
            co_await flush();
        started = true;
    } catch (...) {
        if (!started)
            busy_ = false;
        if (report_it && sending)
            report_failure({.type = query_event::kind::stream, .sql = s.sql, .parameters = s.size()}, sent_at,
                           std::current_exception());
        throw;
    }
    // busy_ stays set: the stream owns the connection until its end or abandonment.
    if (report_it)
        stream_record_.emplace(stream_record{sent_at, s.sql, s.size(), 0});
}

asio::awaitable<result> connection_impl::stream_next_row()
{
    try {
        PGresult* raw = nullptr;
        if (PQisBusy(conn_))
            raw = co_await next_result();
        else
            raw = PQgetResult(conn_);
        if (raw && PQresultStatus(raw) == PGRES_SINGLE_TUPLE) {
            if (stream_record_)
                ++stream_record_->rows;
            co_return result(raw);
        }
        // The zero-row TUPLES_OK that ends the rows, or an error (possibly after some rows):
        // read to the end like any statement.
        result_sink sink;
        if (raw)
            if (copy_action action = absorb(raw, sink); action != copy_action::none)
                co_await follow_copy(action);
        co_await collect({}, std::move(sink));
        busy_ = false;
        if (stream_record_)
            report_stream_end(nullptr);
        co_return result();
    } catch (...) {
        busy_ = false; // dirty_ (still set if interrupted) makes the next operation recover
        if (stream_record_)
            report_stream_end(std::current_exception());
        throw;
    }
}

void connection_impl::stream_abandon() noexcept
{
    // Called from a destructor: nothing can be awaited. Leave the rest to recover().
    if (busy_) {
        busy_ = false;
        dirty_ = true;
        if (stream_record_) {
            std::exception_ptr abandoned;
            try {
                abandoned = std::make_exception_ptr(
                    error(client_errc::operation_aborted, "the stream was destroyed before its end"));
            } catch (...) {
                abandoned = std::current_exception();
            }
            report_stream_end(abandoned);
        }
    }
}

asio::awaitable<std::vector<result>> connection_impl::pipeline(batch& b)
{
    std::vector<result> results;
    if (b.empty())
        co_return results;
    bool needs_recovery = enter();
    busy_guard guard{*this};
    if (needs_recovery)
        co_await recover();

    auto& statements = b.statements();
    const bool report_it = reporting();
    const clock::time_point started = report_it ? clock::now() : clock::time_point{};
    bool reported = false;
    // Each statement's own error, for on_query (only when it listens).
    std::vector<std::optional<error>> failures;
    if (report_it)
        failures.resize(statements.size());
    try {
        // What was sent, in order; results come back in the same order (5.1).
        enum class item_kind { prepare, execute, sync };
        struct item {
            item_kind kind;
            std::size_t statement; // index into b for prepare/execute
            std::string key;       // cache key (prepare only)
            std::string name;      // statement name (prepare only)
        };
        std::vector<item> items;
        std::vector<std::pair<std::string, std::string>> prepared_here; // key -> name

        if (!PQenterPipelineMode(conn_))
            throw_send_failed();
        dirty_ = true;
        for (std::size_t i = 0; i < statements.size(); ++i) {
            statement& s = statements[i];
            const char* name = nullptr;
            if (options_.statement_cache_size > 0) {
                build_key(s);
                if (const std::string* cached = cache_.find(key_)) {
                    name = cached->c_str();
                } else {
                    for (auto& [key, prepared] : prepared_here)
                        if (key == key_)
                            name = prepared.c_str();
                    if (!name) {
                        std::string new_name = "pgcoro_" + std::to_string(++statement_counter_);
                        if (!PQsendPrepare(conn_, new_name.c_str(), s.sql.c_str(), static_cast<int>(s.size()),
                                           s.types.data()))
                            throw_send_failed();
                        items.push_back({item_kind::prepare, i, key_, new_name});
                        prepared_here.emplace_back(key_, std::move(new_name));
                        name = prepared_here.back().second.c_str();
                    }
                }
            }
            send(s, name);
            items.push_back({item_kind::execute, i, {}, {}});
            if (b.mode() == batch_mode::independent) {
                if (!PQpipelineSync(conn_))
                    throw_send_failed();
                items.push_back({item_kind::sync, 0, {}, {}});
            }
        }
        if (b.mode() == batch_mode::atomic) {
            if (!PQpipelineSync(conn_))
                throw_send_failed();
            items.push_back({item_kind::sync, 0, {}, {}});
        }
        if (!flushed())
            co_await flush();

        results.resize(statements.size());
        std::optional<error> first_error;
        std::vector<std::string> evicted;
        for (const item& it : items) {
            if (it.kind == item_kind::sync) {
                // No NULL follows a sync (5.1).
                result sync(co_await next_result());
                if (!sync.native_handle() || PQresultStatus(sync.native_handle()) != PGRES_PIPELINE_SYNC) {
                    broken_ = true;
                    throw_lost(diagnostics_from(sync.native_handle(), conn_));
                }
                continue;
            }
            result outcome;
            while (PGresult* raw = co_await next_result()) {
                result res(raw);
                ExecStatusType status = PQresultStatus(raw);
                if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK || status == PGRES_EMPTY_QUERY) {
                    outcome = std::move(res);
                    continue;
                }
                const bool first_of_statement = report_it && !failures[it.statement];
                if (first_error && !first_of_statement)
                    continue;
                std::string prefix = "statement " + std::to_string(it.statement + 1) + " of " +
                                     std::to_string(statements.size()) + " in the pipeline: ";
                std::optional<error> failure;
                if (status == PGRES_PIPELINE_ABORTED) {
                    failure.emplace(client_errc::pipeline_aborted, prefix + "skipped");
                } else {
                    try {
                        throw_server_error(raw, statements[it.statement].sql);
                    } catch (const error& e) {
                        diagnostics diag = e.diag();
                        diag.message = prefix + diag.message;
                        failure.emplace(e.code(), std::move(diag));
                    }
                }
                if (first_of_statement)
                    failures[it.statement] = failure;
                if (!first_error)
                    first_error = std::move(failure);
            }
            if (it.kind == item_kind::prepare) {
                if (outcome.native_handle())
                    if (auto gone = cache_.insert(it.key, it.name))
                        evicted.push_back(std::move(*gone));
            } else {
                results[it.statement] = std::move(outcome);
            }
        }
        if (!PQexitPipelineMode(conn_))
            throw_lost(diagnostics_from(nullptr, conn_));
        dirty_ = false;
        if (PQstatus(conn_) != CONNECTION_OK)
            throw_lost(diagnostics_from(nullptr, conn_));
        if (report_it) {
            // One event per statement, each with the whole batch's time.
            reported = true;
            const clock::time_point finished = clock::now();
            for (std::size_t i = 0; i < statements.size(); ++i) {
                query_event event{.type = query_event::kind::pipeline,
                                  .sql = statements[i].sql,
                                  .parameters = statements[i].size(),
                                  .batch_size = statements.size()};
                if (failures[i])
                    event.failure = &*failures[i];
                else
                    event.rows = rows_of(results[i]);
                report(event, started, finished);
            }
        }
        // Deallocated only now: a statement evicted mid-batch may still have been used by a
        // later statement of the same batch.
        for (const std::string& name : evicted)
            co_await deallocate(name);
        if (first_error)
            throw *first_error;
    } catch (...) {
        if (report_it && !reported) {
            // Cut off (cancelled, connection lost): every statement shares the outcome.
            const std::exception_ptr failure = std::current_exception();
            const clock::time_point finished = clock::now();
            for (const statement& s : statements)
                report_failure({.type = query_event::kind::pipeline,
                                .sql = s.sql,
                                .parameters = s.size(),
                                .batch_size = statements.size()},
                               started, failure, finished);
        }
        throw;
    }
    co_return results;
}

// ---- row_stream primitives -------------------------------------------------------------

asio::awaitable<result> stream_next_row(connection_impl& impl)
{
    return impl.stream_next_row();
}

void stream_abandon(connection_impl& impl) noexcept
{
    impl.stream_abandon();
}

[[noreturn]] void throw_too_many_parameters(std::size_t count)
{
    throw error(client_errc::invalid_parameter,
                std::to_string(count) + " parameters given; PostgreSQL accepts at most 65535");
}

void rethrow_parameter_error(const error& e, std::size_t position)
{
    diagnostics diag = e.diag();
    diag.message = "parameter $" + std::to_string(position) + ": " + diag.message;
    throw error(e.code(), std::move(diag));
}

} // namespace detail

// ---- connection ------------------------------------------------------------------------

connection::connection(std::unique_ptr<detail::connection_impl> impl) noexcept : impl_(std::move(impl)) {}
connection::connection() noexcept = default;
connection::connection(connection&&) noexcept = default;
connection& connection::operator=(connection&&) noexcept = default;
connection::~connection() = default;

asio::awaitable<connection> connection::connect(asio::any_io_executor executor, connect_options options)
{
    auto impl = std::make_unique<detail::connection_impl>(std::move(executor), std::move(options));
    co_await impl->connect();
    co_return connection(std::move(impl));
}

asio::awaitable<connection> connection::connect(asio::any_io_executor executor, std::string conninfo)
{
    connect_options options;
    options.conninfo = std::move(conninfo);
    return connect(std::move(executor), std::move(options));
}

asio::awaitable<result> connection::run(detail::statement statement)
{
    // No coroutine of its own: the statement moves straight into execute()'s frame.
    if (!impl_)
        return detail::fail_with<result>(std::make_exception_ptr(error(
            client_errc::connection_closed, "the connection is closed (default-constructed or moved from)")));
    return impl_->execute(std::move(statement));
}

asio::awaitable<void> connection::execute_script(std::string_view sql)
{
    if (!impl_)
        throw error(client_errc::connection_closed, "the connection was moved from");
    return impl_->execute_script(std::string(sql), true); // copied now: the awaitable runs later
}

asio::awaitable<std::uint64_t> connection::copy_in(std::string_view copy_sql, std::string data)
{
    if (!impl_)
        return detail::fail_with<std::uint64_t>(std::make_exception_ptr(error(
            client_errc::connection_closed, "the connection is closed (default-constructed or moved from)")));
    return impl_->copy_in(std::string(copy_sql), std::move(data)); // the SQL copied now
}

asio::awaitable<void> detail::execute_internal_script(connection& c, std::string_view sql)
{
    if (!c.impl_)
        return fail_with<void>(std::make_exception_ptr(error(
            client_errc::connection_closed, "the connection is closed (default-constructed or moved from)")));
    return c.impl_->execute_script(std::string(sql), false);
}

asio::awaitable<std::vector<result>> connection::pipeline(batch statements)
{
    if (!impl_)
        throw error(client_errc::connection_closed, "the connection was moved from");
    co_return co_await impl_->pipeline(statements);
}

asio::awaitable<void> connection::start_stream(detail::statement statement)
{
    if (!impl_)
        throw error(client_errc::connection_closed, "the connection was moved from");
    co_await impl_->start_stream(statement);
}

asio::awaitable<void> connection::ping()
{
    if (!impl_)
        throw error(client_errc::connection_closed, "the connection was moved from");
    return impl_->execute_script(std::string(), false); // pings are not reported
}

asio::awaitable<void> connection::recover()
{
    if (!impl_)
        throw error(client_errc::connection_closed, "the connection was moved from");
    return impl_->recover_now();
}

bool connection::is_idle() const noexcept
{
    return impl_ && impl_->is_idle();
}

bool connection::is_broken() const noexcept
{
    return impl_ && impl_->is_broken();
}

bool connection::has_unread_input() const noexcept
{
    return impl_ && impl_->has_unread_input();
}

bool connection::is_interrupted() const noexcept
{
    return impl_ && impl_->is_interrupted();
}

const std::string& connection::last_error() const noexcept
{
    static const std::string none;
    return impl_ ? impl_->last_error() : none;
}

void connection::close() noexcept
{
    if (impl_)
        impl_->close();
}

bool connection::is_open() const noexcept
{
    return impl_ && impl_->is_open();
}

transaction_status connection::transaction() const noexcept
{
    if (!impl_ || !impl_->native())
        return transaction_status::unknown;
    switch (PQtransactionStatus(impl_->native())) {
    case PQTRANS_IDLE:
        return transaction_status::idle;
    case PQTRANS_ACTIVE:
        return transaction_status::active;
    case PQTRANS_INTRANS:
        return transaction_status::in_transaction;
    case PQTRANS_INERROR:
        return transaction_status::in_error;
    default:
        return transaction_status::unknown;
    }
}

int connection::backend_pid() const noexcept
{
    return impl_ && impl_->native() ? PQbackendPID(impl_->native()) : 0;
}

int connection::server_version() const noexcept
{
    return impl_ && impl_->native() ? PQserverVersion(impl_->native()) : 0;
}

std::size_t connection::prepared_statements() const noexcept
{
    return impl_ ? impl_->prepared_statements() : 0;
}

asio::any_io_executor connection::get_executor() const noexcept
{
    return impl_ ? impl_->executor() : asio::any_io_executor{};
}

} // namespace pgcoro
