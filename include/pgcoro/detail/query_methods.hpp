#pragma once
// The typed query calls shared by connection and the session scopes (queryable): each one
// encodes its parameters at once, runs the statement through Derived::run (or starts a
// stream through Derived::open_stream) and decodes the result.

#include <pgcoro/detail/statement.hpp>
#include <pgcoro/result.hpp>
#include <pgcoro/rows.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include <cstdint>
#include <exception>
#include <optional>
#include <string_view>
#include <vector>

namespace pgcoro {

template <row_type T> class row_stream;

namespace detail {

/// Throws no_rows / too_many_rows; returns whether there is a row.
bool check_single_row(const result& r, bool allow_empty);

/// An awaitable that fails with `failure` when awaited (for errors found before an
/// operation starts, so co_spawn delivers them to its completion token like any other).
template <class T> boost::asio::awaitable<T> fail_with(std::exception_ptr failure)
{
    co_await boost::asio::this_coro::executor; // makes this a coroutine; costs nothing
    std::rethrow_exception(failure);
}

/// CRTP base: Derived provides `awaitable<result> run(statement)` and
/// `template <row_type T> awaitable<row_stream<T>> open_stream(statement)`.
template <class Derived> class query_methods {
public:
    /// Runs a statement and decodes all its rows into T (a described struct, a std::tuple or
    /// a single field type).
    template <row_type T, parameter... Args>
    boost::asio::awaitable<std::vector<T>> query(std::string_view sql, const Args&... args)
    {
        return decode_all<T>(run_encoded(sql, args...));
    }

    /// Exactly one row; client_errc::no_rows or too_many_rows otherwise.
    template <row_type T, parameter... Args>
    boost::asio::awaitable<T> query_one(std::string_view sql, const Args&... args)
    {
        return decode_one<T>(run_encoded(sql, args...));
    }

    /// Zero or one row; client_errc::too_many_rows for more.
    template <row_type T, parameter... Args>
    boost::asio::awaitable<std::optional<T>> query_opt(std::string_view sql, const Args&... args)
    {
        return decode_optional<T>(run_encoded(sql, args...));
    }

    /// The single value of a one-row, one-column result.
    template <field_type T, parameter... Args>
    boost::asio::awaitable<T> scalar(std::string_view sql, const Args&... args)
    {
        return decode_one<T>(run_encoded(sql, args...));
    }

    /// Runs a statement; returns the number of rows it affected (command tag count).
    template <parameter... Args>
    boost::asio::awaitable<std::uint64_t> execute(std::string_view sql, const Args&... args)
    {
        return count_rows(run_encoded(sql, args...));
    }

    /// Runs a statement and returns the undecoded result.
    template <parameter... Args>
    boost::asio::awaitable<result> query_result(std::string_view sql, const Args&... args)
    {
        return run_encoded(sql, args...);
    }

    /// Starts a statement in single-row mode: rows are decoded one at a time as they arrive,
    /// never materialised together (see row_stream).
    template <row_type T, parameter... Args>
    boost::asio::awaitable<row_stream<T>> stream(std::string_view sql, const Args&... args)
    {
        try {
            return self().template open_stream<T>(make_statement(sql, args...));
        } catch (...) {
            return fail_with<row_stream<T>>(std::current_exception());
        }
    }

    /// Encodes the parameters now (the awaitable keeps no reference to them) and runs the
    /// statement when awaited. A parameter that cannot be encoded fails the awaitable, like
    /// any other error of the operation; nothing is sent.
    template <parameter... Args>
    boost::asio::awaitable<result> run_encoded(std::string_view sql, const Args&... args)
    {
        try {
            return self().run(make_statement(sql, args...)); // constructed in place: no extra move
        } catch (...) {
            return fail_with<result>(std::current_exception());
        }
    }

private:
    Derived& self() noexcept { return static_cast<Derived&>(*this); }

    template <row_type T>
    static boost::asio::awaitable<std::vector<T>> decode_all(boost::asio::awaitable<result> op)
    {
        result r = co_await std::move(op);
        co_return rows_as<T>(r);
    }

    template <row_type T> static boost::asio::awaitable<T> decode_one(boost::asio::awaitable<result> op)
    {
        result r = co_await std::move(op);
        check_single_row(r, false);
        co_return row_decoder<T>(r).decode(r, 0);
    }

    template <row_type T>
    static boost::asio::awaitable<std::optional<T>> decode_optional(boost::asio::awaitable<result> op)
    {
        result r = co_await std::move(op);
        if (!check_single_row(r, true))
            co_return std::nullopt;
        co_return row_decoder<T>(r).decode(r, 0);
    }

    static boost::asio::awaitable<std::uint64_t> count_rows(boost::asio::awaitable<result> op)
    {
        result r = co_await std::move(op);
        co_return r.rows_affected();
    }
};

} // namespace detail
} // namespace pgcoro
