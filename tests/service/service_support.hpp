#pragma once
// The harness of the end-to-end tests: the http_service binary as a child process on a scratch
// database of its own, a small synchronous HTTP client (keep-alive, one-shot and raw bytes),
// checks of the README's JSON shapes, and direct SQL through pgcoro to verify what the
// service claims.
//
// Nothing here asserts from another thread: Boost.Test is not thread-safe, so the helpers
// used by worker threads (the client, the process handle) report through return values and
// exceptions, and the tests assert on the main thread.

#include "migration_support.hpp"

#include <boost/beast/http/verb.hpp>
#include <boost/json/value.hpp>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <latch>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace service_test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;
using namespace std::chrono_literals;

/// The environment variable's value, "" when unset.
std::string env(const char* name);

/// The service binary: PGCORO_HTTP_SERVICE_BINARY from the environment when set (to run the
/// tests against another build), else the one built with the tests.
std::string service_binary();

/// The load client binary (PGCORO_HTTP_LOAD_BINARY, same rule).
std::string load_binary();

/// The password of the test server's DSN ("" when it has none): no response or log may
/// contain it.
std::string dsn_password();

// ---- child processes ---------------------------------------------------------------------

/// A child process with stdin from /dev/null and stdout/stderr into files. The child is
/// killed (SIGKILL) when the parent dies (PR_SET_PDEATHSIG) and by the destructor when still
/// running, so no test leaves one behind.
class child_process {
public:
    child_process(const std::vector<std::string>& arguments, const std::filesystem::path& stdout_file,
                  const std::filesystem::path& stderr_file);
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const noexcept { return pid_; }
    /// True until the child has been reaped.
    bool running();
    void signal(int number);
    /// Waits up to `timeout` for the child to exit; its wait status, or nullopt on timeout.
    std::optional<int> wait_for(std::chrono::milliseconds timeout);
    /// The wait status once reaped.
    std::optional<int> status() const noexcept { return status_; }
    /// SIGKILL and reap (no-op when already reaped).
    void kill();

private:
    pid_t pid_ = -1;
    std::optional<int> status_;
};

/// "exit status 3", "killed by signal 11 (core dumped)", ... for messages.
std::string describe_wait_status(int status);

/// The text of a file ("" when it cannot be read).
std::string read_file(const std::filesystem::path& path);

/// A temporary directory removed with its content when the object dies.
class temporary_directory {
public:
    explicit temporary_directory(std::string_view prefix);
    ~temporary_directory();
    temporary_directory(const temporary_directory&) = delete;
    temporary_directory& operator=(const temporary_directory&) = delete;
    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

// ---- the service ----------------------------------------------------------------------------

/// The http_service binary running on `dsn` with `--migrate --listen 127.0.0.1:0 --port-file
/// F --threads 2` plus `extra` arguments. The constructor waits (30 s at most) for the port
/// file and fails the test with the service's stderr when it does not come.
class service_process {
public:
    explicit service_process(std::string dsn, std::vector<std::string> extra = {});
    ~service_process();
    service_process(const service_process&) = delete;
    service_process& operator=(const service_process&) = delete;

    unsigned short port() const noexcept { return port_; }
    const std::string& dsn() const noexcept { return dsn_; }
    pid_t pid() const noexcept { return process_->pid(); }
    bool running() { return process_->running(); }
    std::string stdout_text() const;
    std::string stderr_text() const;

    /// Sends `number` (SIGTERM, SIGINT) without waiting.
    void signal(int number) { process_->signal(number); }
    /// Waits up to `timeout` for the exit; its wait status, or nullopt.
    std::optional<int> wait_for(std::chrono::milliseconds timeout) { return process_->wait_for(timeout); }

    /// SIGTERM, then waits up to `timeout` (SIGKILL after it) and checks a clean exit:
    /// status 0, no sanitizer report, the password never printed. Returns true when clean.
    /// Asserts: call on the main thread only.
    bool stop(std::chrono::milliseconds timeout = 20s);

    /// Checks the exit status given and the output like stop() (after a SIGTERM the test
    /// sent itself). Asserts: main thread only.
    bool check_clean_exit(std::optional<int> status);

private:
    std::string dsn_;
    std::unique_ptr<temporary_directory> directory_;
    std::unique_ptr<child_process> process_;
    unsigned short port_ = 0;
};

/// A scratch database with the service running on it: what most suites share.
struct service_environment {
    explicit service_environment(std::vector<std::string> extra = {})
        : database(), service(database.dsn(), std::move(extra))
    {}
    test::scratch_database database;
    service_process service;
};

/// Checks (main thread) that the service still answers GET /healthz with 200: after a
/// suite's bad inputs it must neither have crashed nor lost its pool.
void check_still_answers(service_process& service);

/// A Boost.Test suite fixture (`*boost::unit_test::fixture<suite_service<Tag>>()`) that
/// starts one service for the whole suite on a fresh scratch database, and stops it (checking
/// the clean exit) after the suite's last test. `Tag::arguments()` gives the extra options.
template <class Tag> struct suite_service {
    suite_service() { current() = std::make_unique<service_environment>(Tag::arguments()); }
    ~suite_service()
    {
        if (current()) {
            check_still_answers(current()->service);
            current()->service.stop();
        }
        current().reset();
    }
    suite_service(const suite_service&) = delete;
    suite_service& operator=(const suite_service&) = delete;

    static service_environment& get()
    {
        if (!current())
            throw std::logic_error("the suite's service did not start");
        return *current();
    }

private:
    static std::unique_ptr<service_environment>& current()
    {
        static std::unique_ptr<service_environment> environment;
        return environment;
    }
};

// ---- HTTP ------------------------------------------------------------------------------------

/// A response as received. Header names are kept lower-case.
struct http_response {
    unsigned status = 0;
    std::multimap<std::string, std::string> headers;
    std::string body;
    bool keep_alive = true;

    /// The first value of `name` (any case), "" when absent.
    std::string header(std::string_view name) const;
    /// The body parsed as JSON; throws std::runtime_error with the body when it is not JSON.
    json::value json() const;
    /// "status 400, body ..." for messages.
    std::string describe() const;
};

/// Extra request headers, in order.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// A request to send; `body` without a value sends none (and no Content-Type).
struct http_request {
    http::verb method = http::verb::get;
    std::string target = "/";
    std::optional<std::string> body;
    std::string content_type = "application/json";
    header_list headers;
    /// HTTP/1.1 (11) or HTTP/1.0 (10).
    unsigned version = 11;
};

/// A synchronous HTTP/1.1 client on one connection to 127.0.0.1:port, kept alive between
/// requests and reopened on demand (never silently: reconnects() counts it). Every operation
/// is bounded by the timeout and throws std::runtime_error (timeout, reset, malformed
/// response) or std::system_error (connect refused). Used from one thread at a time.
class http_client {
public:
    explicit http_client(unsigned short port, std::chrono::milliseconds timeout = 15s);
    ~http_client();
    http_client(const http_client&) = delete;
    http_client& operator=(const http_client&) = delete;

    http_response send(const http_request& request);
    http_response get(std::string target);
    http_response del(std::string target);
    http_response post(std::string target, std::string body);
    http_response put(std::string target, std::string body);
    http_response patch(std::string target, std::string body);
    http_response post(std::string target, const char* body)
    {
        return post(std::move(target), std::string(body));
    }
    http_response put(std::string target, const char* body)
    {
        return put(std::move(target), std::string(body));
    }
    http_response patch(std::string target, const char* body)
    {
        return patch(std::move(target), std::string(body));
    }
    http_response post(std::string target, const json::value& body);
    http_response put(std::string target, const json::value& body);
    http_response patch(std::string target, const json::value& body);

    /// Writes bytes as they are on the connection (opened when needed); throws when the
    /// write fails.
    void write_raw(std::string_view bytes);
    /// Reads one response from the connection.
    http_response read_response();
    /// Waits up to `timeout` for the server to close the connection: true when it did (EOF or
    /// reset), false when the connection is still open after it. Bytes received meanwhile
    /// are discarded.
    bool closed_by_server_within(std::chrono::milliseconds timeout);

    bool is_open() const;
    void close();
    /// Connections opened after the first one.
    int reconnects() const noexcept;

private:
    struct state;
    std::unique_ptr<state> state_;
};

/// One request on a fresh connection with `Connection: close`.
http_response one_shot(unsigned short port, http_request request);

/// Whether a new TCP connection to 127.0.0.1:port is accepted (false on refusal or on no
/// answer within `timeout`); the error when it is not.
std::error_code try_connect(unsigned short port, std::chrono::milliseconds timeout = 2s);

/// What a raw exchange saw: the bytes received, and whether the server closed the
/// connection (EOF or reset) within the time allowed.
struct raw_outcome {
    std::string received;
    bool closed = false;
    bool write_failed = false;
    /// The status of the first response in `received`, 0 when none.
    unsigned first_status() const;
};

/// Sends `bytes` on a fresh connection and collects what comes back until the server closes
/// or `timeout` passes.
raw_outcome raw_exchange(unsigned short port, std::string_view bytes, std::chrono::milliseconds timeout = 3s);

// ---- JSON and checks ---------------------------------------------------------------------------

/// Parses `text` (throws std::runtime_error when it is not JSON).
json::value parse(std::string_view text);
/// The keys of an object, sorted.
std::vector<std::string> keys(const json::value& object);
/// True for an RFC 3339 UTC timestamp as the README shows (`2026-11-22T10:00:00.123456Z`).
bool is_rfc3339_utc(std::string_view text);
/// `text` without the fraction's trailing zeros padding problem: a key that sorts like the
/// instant it names (for RFC 3339 UTC timestamps of possibly different fraction lengths).
std::string timestamp_sort_key(std::string_view text);
/// `text` percent-encoded for a query string.
std::string url_encode(std::string_view text);

/// The substrings a response must never carry (exception texts, SQL, the DSN, the password);
/// returns the first found, "" when clean.
std::string leaked_detail(std::string_view body);

/// Checks (with BOOST_TEST, main thread) that `response` is the README's error: `status`,
/// JSON Content-Type, body exactly `{"error": {"code": code, "message": non-empty string}}`,
/// nothing leaked.
void check_error(const http_response& response, unsigned status, std::string_view code);

/// Checks `response` is `status` with a JSON body and returns the body (fails the test with
/// the response otherwise).
json::value expect_json(const http_response& response, unsigned status);

/// Checks a user object's exact shape; returns its id.
std::int64_t check_user_shape(const json::value& user);

/// Throws with `what` when `condition` is false (for worker threads).
void require(bool condition, const std::string& what);

/// An email address no other test uses: `tag-<pid>-<n>@example.com`.
std::string unique_email(std::string_view tag);

/// POSTs a user and requires 201; returns the user.
json::value create_user(http_client& client, const std::string& email, const std::string& name = "Test User",
                        std::optional<std::int64_t> initial_balance = std::nullopt);

/// The wallet balance through GET /users/{id}/wallet (requires 200).
std::int64_t wallet_balance(http_client& client, std::int64_t user_id);

/// `value`'s member `key` as an int64 (throws std::runtime_error when absent or not one).
std::int64_t int_member(const json::value& value, std::string_view key);
/// `value`'s member `key` as a string (throws when absent or not one).
std::string string_member(const json::value& value, std::string_view key);

// ---- direct SQL --------------------------------------------------------------------------------

/// Runs `sql` (no parameters) on `dsn` and returns its single value.
std::int64_t sql_int(const std::string& dsn, const std::string& sql);
/// Runs `sql` on `dsn` and returns its single text column.
std::vector<std::string> sql_texts(const std::string& dsn, const std::string& sql);
/// Runs a statement on `dsn`.
void sql_execute(const std::string& dsn, const std::string& sql);

/// Holds `SELECT ... FOR UPDATE` on one wallet row in an open transaction, on its own thread,
/// until release() or destruction: requests that lock that wallet then stay in flight for as
/// long as the test wants.
class wallet_lock {
public:
    /// Returns once the row is locked; throws when it could not be.
    wallet_lock(const std::string& dsn, std::int64_t user_id);
    ~wallet_lock();
    wallet_lock(const wallet_lock&) = delete;
    wallet_lock& operator=(const wallet_lock&) = delete;

    void release() { release_ = true; }

private:
    std::atomic<bool> release_{false};
    std::thread thread_;
};

/// Backends of `dsn`'s database waiting for a lock.
std::int64_t lock_waiters(const std::string& dsn);

/// Runs `task(i)` for i in [0, n) on n threads released together (to make requests race) and
/// returns the results in order of i. `task` must not assert (Boost.Test is not thread-safe).
template <class Task> auto in_parallel(int n, Task task)
{
    using result_type = decltype(task(0));
    std::vector<std::optional<result_type>> results(n);
    std::latch start(n);
    std::vector<std::thread> threads;
    for (int i = 0; i < n; ++i)
        threads.emplace_back([&, i] {
            start.arrive_and_wait();
            results[i] = task(i);
        });
    for (std::thread& thread : threads)
        thread.join();
    std::vector<result_type> out;
    for (auto& result : results)
        out.push_back(std::move(*result));
    return out;
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; true when it held.
template <class Condition> bool eventually(Condition condition, std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        if (condition())
            return true;
        if (std::chrono::steady_clock::now() >= deadline)
            return false;
        std::this_thread::sleep_for(20ms);
    }
}

} // namespace service_test
