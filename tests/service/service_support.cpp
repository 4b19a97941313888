// The harness's implementation; Beast is compiled here only, so the suites build quickly.

#include "service_support.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <future>
#include <random>
#include <regex>
#include <sstream>

#ifndef PGCORO_HTTP_SERVICE_BINARY
#error "PGCORO_HTTP_SERVICE_BINARY must name the built http_service (tests/service/CMakeLists.txt)"
#endif
#ifndef PGCORO_HTTP_LOAD_BINARY
#error "PGCORO_HTTP_LOAD_BINARY must name the built http_load (tests/service/CMakeLists.txt)"
#endif

namespace service_test {

namespace beast = boost::beast;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

std::string env(const char* name)
{
    const char* value = std::getenv(name);
    return value ? value : "";
}

std::string service_binary()
{
    std::string overridden = env("PGCORO_HTTP_SERVICE_BINARY");
    return overridden.empty() ? PGCORO_HTTP_SERVICE_BINARY : overridden;
}

std::string load_binary()
{
    std::string overridden = env("PGCORO_HTTP_LOAD_BINARY");
    return overridden.empty() ? PGCORO_HTTP_LOAD_BINARY : overridden;
}

std::string dsn_password()
{
    std::string dsn = env("PGCORO_TEST_DSN");
    if (dsn.starts_with("postgresql://") || dsn.starts_with("postgres://")) {
        std::size_t begin = dsn.find("//") + 2;
        std::size_t at = dsn.find('@', begin);
        std::size_t colon = dsn.find(':', begin);
        if (at != std::string::npos && colon != std::string::npos && colon < at)
            return dsn.substr(colon + 1, at - colon - 1);
        return "";
    }
    std::size_t key = dsn.find("password=");
    if (key == std::string::npos)
        return "";
    std::size_t begin = key + 9;
    std::size_t end = dsn.find(' ', begin);
    return dsn.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
}

// ---- child processes -----------------------------------------------------------------------

child_process::child_process(const std::vector<std::string>& arguments, const fs::path& stdout_file,
                             const fs::path& stderr_file)
{
    std::vector<char*> argv;
    for (const std::string& argument : arguments)
        argv.push_back(const_cast<char*>(argument.c_str()));
    argv.push_back(nullptr);
    int out = ::open(stdout_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int err = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int in = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (out < 0 || err < 0 || in < 0)
        throw std::system_error(errno, std::generic_category(), "opening the child's files");
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ == 0) {
        // Only async-signal-safe calls until exec: the test process has threads.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent)
            ::_exit(127);
        ::dup2(in, STDIN_FILENO);
        ::dup2(out, STDOUT_FILENO);
        ::dup2(err, STDERR_FILENO);
        // Boost.Test's handlers are reset by exec, but an ignored signal or a blocked mask
        // would be inherited and change how the service reacts to SIGTERM/SIGPIPE.
        ::signal(SIGPIPE, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        ::signal(SIGINT, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    int fork_errno = errno;
    ::close(out);
    ::close(err);
    ::close(in);
    if (pid_ < 0)
        throw std::system_error(fork_errno, std::generic_category(), "fork");
}

child_process::~child_process()
{
    kill();
}

bool child_process::running()
{
    if (status_ || pid_ <= 0)
        return false;
    int status = 0;
    pid_t done = ::waitpid(pid_, &status, WNOHANG);
    if (done == pid_) {
        status_ = status;
        return false;
    }
    return true;
}

void child_process::signal(int number)
{
    if (running())
        ::kill(pid_, number);
}

std::optional<int> child_process::wait_for(std::chrono::milliseconds timeout)
{
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() >= deadline)
            return std::nullopt;
        std::this_thread::sleep_for(5ms);
    }
    return status_;
}

void child_process::kill()
{
    if (!running())
        return;
    ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    status_ = status;
}

std::string describe_wait_status(int status)
{
    if (WIFEXITED(status))
        return "exit status " + std::to_string(WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return "killed by signal " + std::to_string(WTERMSIG(status)) +
               (WCOREDUMP(status) ? " (core dumped)" : "");
    return "wait status " + std::to_string(status);
}

std::string read_file(const fs::path& path)
{
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

temporary_directory::temporary_directory(std::string_view prefix)
{
    std::random_device random;
    path_ = fs::temp_directory_path() /
            (std::string(prefix) + "-" + std::to_string(::getpid()) + "-" + std::to_string(random()));
    fs::create_directories(path_);
}

temporary_directory::~temporary_directory()
{
    std::error_code ignored;
    fs::remove_all(path_, ignored);
}

// ---- the service ------------------------------------------------------------------------------

namespace {

/// The last `limit` bytes of `text` (logs can be long; the end explains an exit).
std::string tail(const std::string& text, std::size_t limit = 12000)
{
    return text.size() <= limit ? text : "[...]\n" + text.substr(text.size() - limit);
}

std::optional<unsigned short> parse_port(const std::string& text)
{
    std::size_t end = text.find_first_not_of("0123456789");
    std::string digits = text.substr(0, end);
    if (digits.empty() || digits.size() > 5)
        return std::nullopt;
    if (end != std::string::npos && text.find_first_not_of(" \r\n", end) != std::string::npos)
        return std::nullopt;
    unsigned long value = std::stoul(digits);
    if (value == 0 || value > 65535)
        return std::nullopt;
    return static_cast<unsigned short>(value);
}

} // namespace

service_process::service_process(std::string dsn, std::vector<std::string> extra) : dsn_(std::move(dsn))
{
    directory_ = std::make_unique<temporary_directory>("pgcoro-service");
    const fs::path port_file = directory_->path() / "port";
    std::vector<std::string> arguments = {
        service_binary(),   "--dsn",     dsn_, "--migrate", "--listen", "127.0.0.1:0", "--port-file",
        port_file.string(), "--threads", "2"};
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    process_ = std::make_unique<child_process>(arguments, directory_->path() / "stdout",
                                               directory_->path() / "stderr");

    // The file may be seen half written: a port is taken when it ends with a newline or
    // reads the same twice in a row.
    auto deadline = std::chrono::steady_clock::now() + 30s;
    std::string previous;
    for (;;) {
        if (!process_->running())
            BOOST_FAIL("the service exited (" << describe_wait_status(*process_->status())
                                              << ") before writing its port file; stderr:\n"
                                              << tail(stderr_text()));
        std::string text = read_file(port_file);
        auto port = parse_port(text);
        if (port && (text.ends_with('\n') || text == previous)) {
            port_ = *port;
            return;
        }
        previous = text;
        if (std::chrono::steady_clock::now() >= deadline) {
            process_->kill();
            BOOST_FAIL("the service wrote no port file within 30 s; stderr:\n" << tail(stderr_text()));
        }
        std::this_thread::sleep_for(20ms);
    }
}

service_process::~service_process()
{
    if (process_)
        process_->kill();
}

std::string service_process::stdout_text() const
{
    return read_file(directory_->path() / "stdout");
}

std::string service_process::stderr_text() const
{
    return read_file(directory_->path() / "stderr");
}

bool service_process::stop(std::chrono::milliseconds timeout)
{
    process_->signal(SIGTERM);
    std::optional<int> status = process_->wait_for(timeout);
    if (!status) {
        process_->kill();
        BOOST_TEST_ERROR("the service did not exit within " << timeout.count() << " ms of SIGTERM; stderr:\n"
                                                            << tail(stderr_text()));
        return false;
    }
    return check_clean_exit(status);
}

bool service_process::check_clean_exit(std::optional<int> status)
{
    const std::string out = stdout_text();
    const std::string err = stderr_text();
    bool clean = true;
    BOOST_TEST_CONTEXT("service stderr:\n" << tail(err))
    {
        bool exited_zero = status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
        BOOST_TEST(exited_zero,
                   "the service ended with " << (status ? describe_wait_status(*status) : "no exit"));
        clean = clean && exited_zero;
        // A sanitizer report at exit fails the case: the service once freed its pool after the
        // io_context, a use-after-free only the ASan build showed.
        for (std::string_view report : {"AddressSanitizer", "LeakSanitizer", "UndefinedBehaviorSanitizer",
                                        "ThreadSanitizer", "runtime error:", "terminate called"}) {
            bool found = err.find(report) != std::string::npos || out.find(report) != std::string::npos;
            BOOST_TEST(!found, "the service's output contains \"" << report << "\"");
            clean = clean && !found;
        }
        std::string password = dsn_password();
        if (!password.empty()) {
            bool printed = err.find(password) != std::string::npos || out.find(password) != std::string::npos;
            BOOST_TEST(!printed, "the service printed the database password");
            clean = clean && !printed;
        }
    }
    return clean;
}

void check_still_answers(service_process& service)
{
    try {
        http_response health = one_shot(service.port(), {http::verb::get, "/healthz"});
        BOOST_TEST(health.status == 200u, "after the suite GET /healthz gave " << health.describe());
    } catch (const std::exception& e) {
        BOOST_ERROR("after the suite GET /healthz failed: " << e.what());
    }
}

// ---- HTTP --------------------------------------------------------------------------------------

std::string http_response::header(std::string_view name) const
{
    std::string key(name);
    std::transform(key.begin(), key.end(), key.begin(), [](unsigned char c) { return std::tolower(c); });
    auto found = headers.find(key);
    return found == headers.end() ? "" : found->second;
}

json::value http_response::json() const
{
    return parse(body);
}

std::string http_response::describe() const
{
    std::ostringstream text;
    text << "status " << status;
    for (const auto& [name, value] : headers)
        if (name == "content-type" || name == "location" || name == "allow" || name == "retry-after" ||
            name == "connection")
            text << ", " << name << ": " << value;
    text << ", body " << (body.size() > 2000 ? body.substr(0, 2000) + "..." : body);
    return text.str();
}

namespace {

/// Runs the io_context until the operation started on it completes.
void run_until_done(asio::io_context& io)
{
    io.restart();
    io.run();
}

http_response to_response(http::response<http::string_body>&& message)
{
    http_response response;
    response.status = message.result_int();
    for (const auto& field : message) {
        std::string name(field.name_string());
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        response.headers.emplace(std::move(name), std::string(field.value()));
    }
    response.keep_alive = message.keep_alive();
    response.body = std::move(message.body());
    return response;
}

bool is_closed_error(const error_code& ec)
{
    return ec == http::error::end_of_stream || ec == asio::error::eof ||
           ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
           ec == asio::error::connection_aborted;
}

} // namespace

struct http_client::state {
    state(unsigned short p, std::chrono::milliseconds t) : port(p), timeout(t), stream(io) {}

    void open()
    {
        if (open_now)
            return;
        error_code ec;
        stream.expires_after(timeout);
        stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                             [&](error_code e) { ec = e; });
        run_until_done(io);
        if (ec)
            throw std::system_error(ec, "connecting to 127.0.0.1:" + std::to_string(port));
        if (opened++ > 0)
            ++reconnects;
        open_now = true;
        buffer.clear();
    }

    void close()
    {
        error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
        stream.close();
        open_now = false;
        buffer.clear();
    }

    unsigned short port;
    std::chrono::milliseconds timeout;
    asio::io_context io;
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    bool open_now = false;
    int opened = 0;
    int reconnects = 0;
};

http_client::http_client(unsigned short port, std::chrono::milliseconds timeout)
    : state_(std::make_unique<state>(port, timeout))
{}

http_client::~http_client() = default;

http_response http_client::send(const http_request& request)
{
    state_->open();
    http::request<http::string_body> message{request.method, request.target, request.version};
    message.set(http::field::host, "127.0.0.1:" + std::to_string(state_->port));
    for (const auto& [name, value] : request.headers)
        message.insert(name, value);
    if (request.body) {
        if (!request.content_type.empty())
            message.set(http::field::content_type, request.content_type);
        message.body() = *request.body;
        message.prepare_payload();
    }
    error_code ec;
    state_->stream.expires_after(state_->timeout);
    http::async_write(state_->stream, message, [&](error_code e, std::size_t) { ec = e; });
    run_until_done(state_->io);
    if (ec) {
        state_->close();
        throw std::runtime_error("writing " + std::string(http::to_string(request.method)) + " " +
                                 request.target + ": " + ec.message());
    }
    try {
        return read_response();
    } catch (const std::exception& e) {
        throw std::runtime_error(std::string(http::to_string(request.method)) + " " + request.target + ": " +
                                 e.what());
    }
}

http_response http_client::read_response()
{
    state_->open();
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    error_code ec;
    state_->stream.expires_after(state_->timeout);
    http::async_read(state_->stream, state_->buffer, parser, [&](error_code e, std::size_t) { ec = e; });
    run_until_done(state_->io);
    if (ec) {
        state_->close();
        throw std::runtime_error("reading the response: " + ec.message());
    }
    http_response response = to_response(parser.release());
    if (!response.keep_alive)
        state_->close();
    return response;
}

void http_client::write_raw(std::string_view bytes)
{
    state_->open();
    error_code ec;
    state_->stream.expires_after(state_->timeout);
    asio::async_write(state_->stream, asio::buffer(bytes.data(), bytes.size()),
                      [&](error_code e, std::size_t) { ec = e; });
    run_until_done(state_->io);
    if (ec) {
        state_->close();
        throw std::runtime_error("writing raw bytes: " + ec.message());
    }
}

bool http_client::closed_by_server_within(std::chrono::milliseconds timeout)
{
    if (!state_->open_now)
        return true;
    char scratch[4096];
    for (;;) {
        error_code ec;
        state_->stream.expires_after(timeout);
        state_->stream.async_read_some(asio::buffer(scratch), [&](error_code e, std::size_t) { ec = e; });
        run_until_done(state_->io);
        if (!ec)
            continue;
        bool closed = is_closed_error(ec);
        state_->close();
        return closed;
    }
}

bool http_client::is_open() const
{
    return state_->open_now;
}

void http_client::close()
{
    state_->close();
}

int http_client::reconnects() const noexcept
{
    return state_->reconnects;
}

http_response http_client::get(std::string target)
{
    return send({http::verb::get, std::move(target), std::nullopt, "application/json", {}, 11});
}

http_response http_client::del(std::string target)
{
    return send({http::verb::delete_, std::move(target), std::nullopt, "application/json", {}, 11});
}

http_response http_client::post(std::string target, std::string body)
{
    return send({http::verb::post, std::move(target), std::move(body), "application/json", {}, 11});
}

http_response http_client::put(std::string target, std::string body)
{
    return send({http::verb::put, std::move(target), std::move(body), "application/json", {}, 11});
}

http_response http_client::patch(std::string target, std::string body)
{
    return send({http::verb::patch, std::move(target), std::move(body), "application/json", {}, 11});
}

http_response http_client::post(std::string target, const json::value& body)
{
    return post(std::move(target), json::serialize(body));
}

http_response http_client::put(std::string target, const json::value& body)
{
    return put(std::move(target), json::serialize(body));
}

http_response http_client::patch(std::string target, const json::value& body)
{
    return patch(std::move(target), json::serialize(body));
}

http_response one_shot(unsigned short port, http_request request)
{
    http_client client(port);
    request.headers.emplace_back("Connection", "close");
    return client.send(request);
}

std::error_code try_connect(unsigned short port, std::chrono::milliseconds timeout)
{
    asio::io_context io;
    beast::tcp_stream stream(io);
    error_code ec;
    stream.expires_after(timeout);
    stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                         [&](error_code e) { ec = e; });
    io.run();
    return ec;
}

unsigned raw_outcome::first_status() const
{
    if (received.size() < 12 || !received.starts_with("HTTP/1."))
        return 0;
    std::string digits = received.substr(9, 3);
    if (digits.find_first_not_of("0123456789") != std::string::npos)
        return 0;
    return static_cast<unsigned>(std::stoul(digits));
}

raw_outcome raw_exchange(unsigned short port, std::string_view bytes, std::chrono::milliseconds timeout)
{
    raw_outcome outcome;
    asio::io_context io;
    beast::tcp_stream stream(io);
    error_code ec;
    stream.expires_after(timeout);
    stream.async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                         [&](error_code e) { ec = e; });
    io.run();
    if (ec)
        throw std::system_error(ec, "connecting to 127.0.0.1:" + std::to_string(port));
    stream.expires_after(timeout);
    asio::async_write(stream, asio::buffer(bytes.data(), bytes.size()),
                      [&](error_code e, std::size_t) { ec = e; });
    run_until_done(io);
    if (ec) {
        // The server may answer and close before reading everything; what it sent is still
        // worth reading.
        outcome.write_failed = true;
    }
    char scratch[4096];
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left <= 0ms)
            break;
        std::size_t n = 0;
        stream.expires_after(left);
        stream.async_read_some(asio::buffer(scratch), [&](error_code e, std::size_t read) {
            ec = e;
            n = read;
        });
        run_until_done(io);
        outcome.received.append(scratch, n);
        if (ec) {
            outcome.closed = is_closed_error(ec) || ec == asio::error::bad_descriptor ||
                             (outcome.write_failed && ec != beast::error::timeout);
            break;
        }
    }
    return outcome;
}

// ---- JSON and checks -------------------------------------------------------------------------

json::value parse(std::string_view text)
{
    error_code ec;
    json::value value = json::parse(text, ec);
    if (ec)
        throw std::runtime_error("not JSON (" + ec.message() + "): " + std::string(text.substr(0, 500)));
    return value;
}

std::vector<std::string> keys(const json::value& object)
{
    std::vector<std::string> names;
    if (!object.is_object())
        return names;
    for (const auto& member : object.as_object())
        names.emplace_back(member.key());
    std::sort(names.begin(), names.end());
    return names;
}

bool is_rfc3339_utc(std::string_view text)
{
    static const std::regex pattern(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z)");
    return std::regex_match(text.begin(), text.end(), pattern);
}

std::string timestamp_sort_key(std::string_view text)
{
    std::string value(text);
    if (value.ends_with('Z'))
        value.pop_back();
    std::size_t dot = value.find('.');
    std::string whole = value.substr(0, dot);
    std::string fraction = dot == std::string::npos ? "" : value.substr(dot + 1);
    fraction.resize(9, '0');
    return whole + "." + fraction;
}

std::string url_encode(std::string_view text)
{
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

std::string leaked_detail(std::string_view body)
{
    std::vector<std::string> forbidden = {
        "what():",  "terminate called", "Backtrace", "stack trace",   "SQLSTATE",
        "SELECT ",  "INSERT INTO",      "UPDATE ",   "DELETE FROM",   " WHERE ",
        "pgcoro::", "boost::",          "std::",     "postgresql://", "sslmode"};
    std::string password = dsn_password();
    if (!password.empty())
        forbidden.push_back(password);
    for (const std::string& text : forbidden)
        if (body.find(text) != std::string_view::npos)
            return text;
    return "";
}

namespace {

bool is_json_content_type(std::string type)
{
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!type.starts_with("application/json"))
        return false;
    return type.size() == 16 || type[16] == ';' || type[16] == ' ';
}

} // namespace

void check_error(const http_response& response, unsigned status, std::string_view code)
{
    BOOST_TEST_CONTEXT("response: " << response.describe())
    {
        BOOST_TEST(response.status == status);
        BOOST_TEST(is_json_content_type(response.header("Content-Type")),
                   "Content-Type is \"" << response.header("Content-Type") << "\"");
        BOOST_TEST(leaked_detail(response.body) == "",
                   "the error leaks \"" << leaked_detail(response.body) << "\"");
        json::value body;
        try {
            body = response.json();
        } catch (const std::exception& e) {
            BOOST_ERROR(e.what());
            return;
        }
        BOOST_TEST((keys(body) == std::vector<std::string>{"error"}), "the body is not {\"error\": ...}");
        if (!body.is_object() || !body.as_object().contains("error"))
            return;
        const json::value& error = body.as_object().at("error");
        BOOST_TEST((keys(error) == std::vector<std::string>{"code", "message"}),
                   "the error object's keys are not code and message");
        if (!error.is_object())
            return;
        const json::object& fields = error.as_object();
        BOOST_TEST((fields.contains("code") && fields.at("code").is_string() &&
                    std::string_view(fields.at("code").as_string()) == code),
                   "the code is not \"" << code << "\"");
        BOOST_TEST((fields.contains("message") && fields.at("message").is_string() &&
                    !fields.at("message").as_string().empty()),
                   "the message is not a non-empty string");
    }
}

json::value expect_json(const http_response& response, unsigned status)
{
    BOOST_TEST_INFO("response: " << response.describe());
    BOOST_TEST_REQUIRE(response.status == status);
    BOOST_TEST_INFO("response: " << response.describe());
    BOOST_TEST(is_json_content_type(response.header("Content-Type")));
    try {
        return response.json();
    } catch (const std::exception& e) {
        BOOST_FAIL(e.what());
    }
    return nullptr;
}

std::int64_t check_user_shape(const json::value& user)
{
    BOOST_TEST_CONTEXT("user: " << json::serialize(user))
    {
        BOOST_TEST_REQUIRE(
            (keys(user) == std::vector<std::string>{"created_at", "email", "id", "name", "updated_at"}));
        const json::object& fields = user.as_object();
        BOOST_TEST_REQUIRE(fields.at("id").is_int64());
        BOOST_TEST(fields.at("id").as_int64() > 0);
        BOOST_TEST(fields.at("email").is_string());
        BOOST_TEST(fields.at("name").is_string());
        for (const char* stamp : {"created_at", "updated_at"})
            BOOST_TEST((fields.at(stamp).is_string() && is_rfc3339_utc(fields.at(stamp).as_string())),
                       stamp << " is not an RFC 3339 UTC timestamp");
        return fields.at("id").as_int64();
    }
    return 0;
}

void require(bool condition, const std::string& what)
{
    if (!condition)
        throw std::runtime_error(what);
}

std::string unique_email(std::string_view tag)
{
    static std::atomic<int> counter{0};
    return std::string(tag) + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
           "@example.com";
}

json::value create_user(http_client& client, const std::string& email, const std::string& name,
                        std::optional<std::int64_t> initial_balance)
{
    json::object body{{"email", email}, {"name", name}};
    if (initial_balance)
        body["initial_balance"] = *initial_balance;
    http_response response = client.post("/users", json::value(std::move(body)));
    return expect_json(response, 201);
}

std::int64_t wallet_balance(http_client& client, std::int64_t user_id)
{
    json::value wallet = expect_json(client.get("/users/" + std::to_string(user_id) + "/wallet"), 200);
    return int_member(wallet, "balance");
}

std::int64_t int_member(const json::value& value, std::string_view key)
{
    if (!value.is_object() || !value.as_object().contains(key) || !value.as_object().at(key).is_int64())
        throw std::runtime_error("no integer \"" + std::string(key) + "\" in " + json::serialize(value));
    return value.as_object().at(key).as_int64();
}

std::string string_member(const json::value& value, std::string_view key)
{
    if (!value.is_object() || !value.as_object().contains(key) || !value.as_object().at(key).is_string())
        throw std::runtime_error("no string \"" + std::string(key) + "\" in " + json::serialize(value));
    return std::string(value.as_object().at(key).as_string());
}

// ---- direct SQL ------------------------------------------------------------------------------

namespace {

asio::awaitable<pgcoro::connection> connect_to(std::string dsn)
{
    pgcoro::connect_options options;
    options.conninfo = std::move(dsn);
    auto executor = co_await asio::this_coro::executor;
    pgcoro::connection db = co_await pgcoro::connection::connect(executor, std::move(options));
    co_return db;
}

} // namespace

std::int64_t sql_int(const std::string& dsn, const std::string& sql)
{
    return test::run([&]() -> asio::awaitable<std::int64_t> {
        pgcoro::connection db = co_await connect_to(dsn);
        std::int64_t value = co_await db.scalar<std::int64_t>(sql);
        co_return value;
    });
}

std::vector<std::string> sql_texts(const std::string& dsn, const std::string& sql)
{
    return test::run([&]() -> asio::awaitable<std::vector<std::string>> {
        pgcoro::connection db = co_await connect_to(dsn);
        std::vector<std::string> values = co_await db.query<std::string>(sql);
        co_return values;
    });
}

void sql_execute(const std::string& dsn, const std::string& sql)
{
    test::run([&]() -> asio::awaitable<void> {
        pgcoro::connection db = co_await connect_to(dsn);
        co_await db.execute_script(sql);
    });
}

wallet_lock::wallet_lock(const std::string& dsn, std::int64_t user_id)
{
    std::promise<void> locked;
    auto locked_future = locked.get_future();
    thread_ = std::thread([this, dsn, user_id, locked = std::move(locked)]() mutable {
        try {
            test::run([&]() -> asio::awaitable<void> {
                pgcoro::connection db = co_await connect_to(dsn);
                co_await db.execute_script("BEGIN");
                std::string sql =
                    "SELECT balance FROM wallets WHERE user_id = " + std::to_string(user_id) + " FOR UPDATE";
                co_await db.execute_script(sql);
                locked.set_value();
                auto executor = co_await asio::this_coro::executor;
                asio::steady_timer timer(executor);
                while (!release_) {
                    timer.expires_after(10ms);
                    co_await timer.async_wait(asio::use_awaitable);
                }
                co_await db.execute_script("COMMIT");
            });
        } catch (...) {
            try {
                locked.set_exception(std::current_exception());
            } catch (const std::future_error&) {
                // Locked already: the failure was at COMMIT, after the test's use of it.
            }
        }
    });
    try {
        locked_future.get();
    } catch (...) {
        thread_.join();
        throw;
    }
}

wallet_lock::~wallet_lock()
{
    release();
    thread_.join();
}

std::int64_t lock_waiters(const std::string& dsn)
{
    return sql_int(dsn, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'");
}

} // namespace service_test
