#pragma once
// The typed query calls shared by connection and the session scopes (queryable): each one
// encodes its parameters at once, runs the statement through Derived::run (or starts a
// stream through Derived::open_stream) and decodes the result.

#include <pgcoro/batch.hpp>
#include <pgcoro/detail/load_step.hpp>
#include <pgcoro/detail/statement.hpp>
#include <pgcoro/model_fwd.hpp>
#include <pgcoro/result.hpp>
#include <pgcoro/rows.hpp>
#include <pgcoro/sql_statement.hpp>
#include <pgcoro/types/basic.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/this_coro.hpp>

#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgcoro {

template <row_type T> class row_stream;

namespace detail {

/// Throws no_rows / too_many_rows; returns whether there is a row.
bool check_single_row(const result& r, bool allow_empty);
/// The same for a count of rows.
bool check_row_count(std::size_t rows, bool allow_empty);

/// An awaitable that fails with `failure` when awaited (for errors found before an
/// operation starts, so co_spawn delivers them to its completion token like any other).
template <class T> boost::asio::awaitable<T> fail_with(std::exception_ptr failure)
{
    co_await boost::asio::this_coro::executor; // makes this a coroutine; costs nothing
    std::rethrow_exception(failure);
}

/// `start()`'s awaitable, or, when building the statement throws (a bad parameter, a
/// misused builder), an awaitable that fails with that error: errors found before an
/// operation starts reach co_spawn's completion token like any other.
template <class T, class Start> boost::asio::awaitable<T> guarded(Start&& start)
{
    try {
        return start();
    } catch (...) {
        return fail_with<T>(std::current_exception());
    }
}

/// An awaitable that yields `value` at once (for results known before any I/O).
template <class T> boost::asio::awaitable<T> ready(T value)
{
    co_await boost::asio::this_coro::executor;
    co_return value;
}

/// Joins the rows of an EXPLAIN result into the plan text.
std::string plan_text(const result& r);

/// CRTP base: Derived provides `awaitable<result> run(statement)`,
/// `awaitable<std::vector<result>> pipeline(batch)` and
/// `template <row_type T> awaitable<row_stream<T>> open_stream(statement)`.
///
/// The model calls (get ... restore, all ... exists) are declared here and need the models
/// layer's headers (pgcoro/repository.hpp, which pgcoro.hpp includes) where they are used.
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
        return guarded<row_stream<T>>(
            [&] { return self().template open_stream<T>(make_statement(sql, args...)); });
    }

    /// Encodes the parameters now (the awaitable keeps no reference to them) and runs the
    /// statement when awaited. A parameter that cannot be encoded fails the awaitable, like
    /// any other error of the operation; nothing is sent.
    template <parameter... Args>
    boost::asio::awaitable<result> run_encoded(std::string_view sql, const Args&... args)
    {
        return guarded<result>(
            [&] { return self().run(make_statement(sql, args...)); }); // constructed in place: no extra move
    }

    // ---- statements built by the query builders (sql_statement) --------------------------

    /// query() of a rendered statement (a builder's render(), or any sql_statement).
    template <row_type T> boost::asio::awaitable<std::vector<T>> query(sql_statement statement)
    {
        return decode_all<T>(self().run(std::move(statement).native()));
    }
    template <row_type T> boost::asio::awaitable<T> query_one(sql_statement statement)
    {
        return decode_one<T>(self().run(std::move(statement).native()));
    }
    template <row_type T> boost::asio::awaitable<std::optional<T>> query_opt(sql_statement statement)
    {
        return decode_optional<T>(self().run(std::move(statement).native()));
    }
    boost::asio::awaitable<std::uint64_t> execute(sql_statement statement)
    {
        return count_rows(self().run(std::move(statement).native()));
    }
    boost::asio::awaitable<result> query_result(sql_statement statement)
    {
        return self().run(std::move(statement).native());
    }

    /// EXPLAIN (ANALYZE, BUFFERS) of the statement, with its parameters: the plan text.
    /// ANALYZE runs the statement — an INSERT, UPDATE or DELETE really writes (wrap it in a
    /// transaction you roll back).
    boost::asio::awaitable<std::string> explain_analyze(sql_statement statement)
    {
        return explained(std::move(statement), "EXPLAIN (ANALYZE, BUFFERS) ");
    }
    /// EXPLAIN of the statement (the plan, without running it).
    boost::asio::awaitable<std::string> explain(sql_statement statement)
    {
        return explained(std::move(statement), "EXPLAIN ");
    }

    // ---- models (pgcoro/model.hpp) --------------------------------------------------------
    // Every value is bound as a parameter and every identifier quoted. Nothing commits: the
    // statements run in the caller's scope (a transaction if one is open). The statement is
    // built (and its values encoded) before the returned awaitable runs, so the awaitable
    // keeps no reference to the arguments.

    /// The row of model T with primary key `key` (a std::tuple for a composite key);
    /// nullopt if there is none (or it is soft-deleted, unless `deleted` is include).
    template <class T, class Key>
    boost::asio::awaitable<std::optional<T>> get(const Key& key, deleted_rows deleted = deleted_rows::exclude)
    {
        return start_optional<T>([&] { return model_statements<T>::get(key, deleted); });
    }

    /// The one row of T matching `condition` (`col(&User::email) == e`); nullopt if none;
    /// client_errc::too_many_rows if several.
    template <class T>
    boost::asio::awaitable<std::optional<T>> get_by(const predicate& condition,
                                                    deleted_rows deleted = deleted_rows::exclude)
    {
        return start_optional<T>([&] { return model_statements<T>::list(condition, deleted, 2); });
    }

    /// Every row of T matching `condition`, ordered by primary key.
    template <class T>
    boost::asio::awaitable<std::vector<T>> list(const predicate& condition,
                                                deleted_rows deleted = deleted_rows::exclude)
    {
        return start_all<T>([&] { return model_statements<T>::list(condition, deleted, std::nullopt); });
    }
    /// Every row of T, ordered by primary key.
    template <class T>
    boost::asio::awaitable<std::vector<T>> list(deleted_rows deleted = deleted_rows::exclude)
    {
        return start_all<T>([&] { return model_statements<T>::list({}, deleted, std::nullopt); });
    }

    /// The rows a select query selects, with the relations its loaders name (load()) filled
    /// in: a joined loader in the same statement, selectin loaders in one more pipelined round
    /// trip per level of nesting.
    template <class T, class R> boost::asio::awaitable<std::vector<R>> all(const select_query<T, R>& query)
    {
        if constexpr (std::is_same_v<T, R>)
            if (!query.loaders().empty())
                return guarded<std::vector<T>>([&] { return fetch_loaded<T>(&self(), query); });
        return start_all<R>([&] { return query.render(); });
    }
    /// The first row (the query with LIMIT 1), or nullopt.
    template <class T, class R>
    boost::asio::awaitable<std::optional<R>> first(const select_query<T, R>& query)
    {
        return guarded<std::optional<R>>([&] {
            select_query<T, R> limited = query;
            if (!limited.limit_value() || *limited.limit_value() > 1)
                limited.limit(1); // a smaller limit (0) stays
            if constexpr (std::is_same_v<T, R>)
                if (!limited.loaders().empty())
                    return first_loaded<T>(&self(), std::move(limited));
            return decode_optional<R>(self().run(limited.render().native()));
        });
    }
    /// Exactly one row; client_errc::no_rows or too_many_rows otherwise.
    template <class T, class R> boost::asio::awaitable<R> one(const select_query<T, R>& query)
    {
        return guarded<R>([&] {
            if constexpr (std::is_same_v<T, R>)
                if (!query.loaders().empty())
                    return one_loaded<T>(&self(), query);
            return decode_one<R>(self().run(query.render().native()));
        });
    }

    /// Offset paging (pgcoro/paging.hpp): page `number` (1-based) of `per_page` rows of the
    /// query, ordered as the query says with the primary key appended; per_page + 1 rows are
    /// fetched to know has_next, and the count (unless options.count is false) is pipelined
    /// in the same round trip. Loaders run on the page's rows. client_errc::invalid_argument
    /// for a number or per_page below 1 or above the options' maxima, or a query with its
    /// own limit or offset.
    template <class T, class R>
    boost::asio::awaitable<pgcoro::page<R>> page(const select_query<T, R>& query, std::int64_t number,
                                                 std::int64_t per_page, const page_options& options)
    {
        return guarded<pgcoro::page<R>>(
            [&] { return offset_page<T, R>(&self(), plan_offset(query, number, per_page, options)); });
    }
    template <class T, class R>
    boost::asio::awaitable<pgcoro::page<R>> page(const select_query<T, R>& query, std::int64_t number,
                                                 std::int64_t per_page)
    {
        return guarded<pgcoro::page<R>>(
            [&] { return offset_page<T, R>(&self(), plan_offset(query, number, per_page, page_options{})); });
    }

    /// Keyset paging (pgcoro/paging.hpp): the page `request` names (`keyset(20)`,
    /// `.after(page.next)`, `.before(page.previous)`), seeking by the query's sort keys plus
    /// the primary key. client_errc::invalid_cursor for a malformed, tampered, unsigned (when
    /// a signing key is set) or foreign cursor, before anything is sent;
    /// client_errc::invalid_argument for an ordering that is not on the model's columns, or
    /// on a nullable column without nulls_first()/nulls_last().
    template <class T>
    boost::asio::awaitable<pgcoro::keyset_page<T>> page(const select_query<T, T>& query,
                                                        const keyset& request)
    {
        return guarded<pgcoro::keyset_page<T>>(
            [&] { return keyset_page_of<T>(&self(), plan_keyset(query, request)); });
    }

    /// Eager loading on rows already fetched: fills the relations the loaders name
    /// (selectin(...) only; joined() throws client_errc::invalid_argument) in one pipelined
    /// round trip per level of nesting, none when there is nothing to load. `rows` must
    /// outlive the awaitable; it must not be resized meanwhile.
    template <class T, class... Loaders>
    boost::asio::awaitable<void> load(std::vector<T>& rows, const Loaders&... loaders)
    {
        return guarded<void>([&] {
            std::vector<T*> parents;
            parents.reserve(rows.size());
            for (T& row : rows)
                parents.push_back(&row);
            const std::vector<loader<T>> list{loader<T>(loaders)...};
            return run_steps(&self(),
                             steps_for<T>(std::span<T* const>(parents), std::span<const loader<T>>(list)));
        });
    }
    /// The same for one row.
    template <class T, class... Loaders> boost::asio::awaitable<void> load(T& row, const Loaders&... loaders)
    {
        return guarded<void>([&] {
            T* parent = &row;
            const std::vector<loader<T>> list{loader<T>(loaders)...};
            return run_steps(&self(),
                             steps_for<T>(std::span<T* const>(&parent, 1), std::span<const loader<T>>(list)));
        });
    }
    /// How many rows the query selects (honouring its limit and offset).
    template <class T, class R> boost::asio::awaitable<std::int64_t> count(const select_query<T, R>& query)
    {
        return guarded<std::int64_t>(
            [&] { return decode_one<std::int64_t>(self().run(query.render_count().native())); });
    }
    /// Whether the query selects any row.
    template <class T, class R> boost::asio::awaitable<bool> exists(const select_query<T, R>& query)
    {
        return guarded<bool>([&] { return decode_one<bool>(self().run(query.render_exists().native())); });
    }
    /// EXPLAIN (ANALYZE, BUFFERS) of a select query: the plan text.
    template <class T, class R>
    boost::asio::awaitable<std::string> explain_analyze(const select_query<T, R>& query)
    {
        return guarded<std::string>([&] { return explain_analyze(query.render()); });
    }

    /// INSERT of `object` (generated columns left to the database, created_at/updated_at
    /// set to now()); returns the row as stored (RETURNING), generated values filled in.
    template <class T> boost::asio::awaitable<T> insert(const T& object)
    {
        return guarded<T>(
            [&] { return decode_one<T>(self().run(model_statements<T>::insert(object).native())); });
    }

    /// Inserts every row; returns how many. All or nothing, either way:
    /// - pipeline: one prepared INSERT per row, all sent in one round trip and run in one
    ///   implicit transaction (or the caller's);
    /// - COPY (insert_method::copy, or automatic from options.copy_threshold rows): one
    ///   round trip reads the table's column types (the binary COPY format carries none, so
    ///   each member's type must match its column: client_errc::type_mismatch names the
    ///   first that does not) and now(), then a binary COPY ... FROM STDIN. Models with a
    ///   text-format member (an enum array) always use the pipeline; insert_method::copy
    ///   then throws client_errc::invalid_argument.
    /// Generated columns are left to the database and not read back (insert_many_returning
    /// does that); created_at/updated_at get the server's now().
    template <class T>
    boost::asio::awaitable<std::uint64_t> insert_many(std::span<const T> rows,
                                                      insert_many_options options = {})
    {
        return guarded<std::uint64_t>([&] {
            if (rows.empty())
                return ready<std::uint64_t>(0);
            if (use_copy<T>(rows.size(), options))
                return copy_rows<T>(&self(), model_statements<T>::copy_rows(rows));
            return count_batch(self().pipeline(model_statements<T>::insert_batch(rows, false)));
        });
    }
    template <class T>
    boost::asio::awaitable<std::uint64_t> insert_many(const std::vector<T>& rows,
                                                      insert_many_options options = {})
    {
        return insert_many(std::span<const T>(rows), options);
    }

    /// Inserts every row in one pipelined round trip and returns them as stored.
    template <class T> boost::asio::awaitable<std::vector<T>> insert_many_returning(std::span<const T> rows)
    {
        return guarded<std::vector<T>>([&] {
            if (rows.empty())
                return ready(std::vector<T>{});
            return decode_batch<T>(self().pipeline(model_statements<T>::insert_batch(rows, true)));
        });
    }
    template <class T>
    boost::asio::awaitable<std::vector<T>> insert_many_returning(const std::vector<T>& rows)
    {
        return insert_many_returning(std::span<const T>(rows));
    }

    /// UPDATE of every column but the key, created_at and deleted_at, by primary key;
    /// updated_at = now(). Returns the row as stored; client_errc::no_rows if no row has the
    /// key.
    template <class T> boost::asio::awaitable<T> update(const T& object)
    {
        return guarded<T>([&] {
            return decode_updated<T>(self().run(model_statements<T>::update(object, nullptr).native()));
        });
    }
    /// UPDATE of the named columns only (`pgcoro::columns(&User::name)`), plus updated_at.
    template <class T> boost::asio::awaitable<T> update(const T& object, const column_list<T>& only)
    {
        return guarded<T>([&] {
            return decode_updated<T>(self().run(model_statements<T>::update(object, &only).native()));
        });
    }

    /// INSERT ... ON CONFLICT (conflict columns; empty: the primary key) DO UPDATE of every
    /// inserted column but the conflict and key columns, created_at and deleted_at
    /// (updated_at = now()). Returns the stored row and whether it was inserted.
    template <class T>
    boost::asio::awaitable<upsert_result<T>> upsert(const T& object, const column_list<T>& conflict)
    {
        return guarded<upsert_result<T>>([&] {
            return decode_upsert<T>(
                self().run(model_statements<T>::upsert(object, conflict, nullptr).native()));
        });
    }
    /// As above, updating only `update_columns` (plus updated_at) on conflict.
    template <class T>
    boost::asio::awaitable<upsert_result<T>> upsert(const T& object, const column_list<T>& conflict,
                                                    const column_list<T>& update_columns)
    {
        return guarded<upsert_result<T>>([&] {
            return decode_upsert<T>(
                self().run(model_statements<T>::upsert(object, conflict, &update_columns).native()));
        });
    }

    /// DELETE by primary key; true if a row was deleted.
    template <class T> boost::asio::awaitable<bool> remove(const T& object)
    {
        return guarded<bool>(
            [&] { return any_rows(self().run(model_statements<T>::remove(object).native())); });
    }
    /// Soft delete: deleted_at = now() (and updated_at) by primary key; true if the row
    /// existed and was not already deleted. client_errc::invalid_argument for a model
    /// without deleted_at.
    template <class T> boost::asio::awaitable<bool> soft_remove(const T& object)
    {
        return guarded<bool>(
            [&] { return any_rows(self().run(model_statements<T>::set_deleted(object, true).native())); });
    }
    /// Undoes soft_remove: deleted_at = NULL; true if the row was soft-deleted.
    template <class T> boost::asio::awaitable<bool> restore(const T& object)
    {
        return guarded<bool>(
            [&] { return any_rows(self().run(model_statements<T>::set_deleted(object, false).native())); });
    }

private:
    Derived& self() noexcept { return static_cast<Derived&>(*this); }

    /// Runs loading steps level by level: every statement of a level in one round trip (a
    /// pipeline when there are several), then the next level on the rows just attached.
    static boost::asio::awaitable<void> run_steps(Derived* self, load_steps steps)
    {
        while (!steps.empty()) {
            std::vector<statement> statements;
            std::vector<std::size_t> counts;
            for (auto& step : steps)
                counts.push_back(step->plan(statements));
            std::vector<result> results;
            if (statements.size() == 1) {
                auto op = self->run(std::move(statements.front()));
                result r = co_await std::move(op);
                results.push_back(std::move(r));
            } else if (!statements.empty()) {
                batch reads(batch_mode::atomic); // one implicit transaction outside an explicit one
                reads.statements() = std::move(statements);
                auto op = self->pipeline(std::move(reads));
                results = co_await std::move(op);
            }
            load_steps next;
            std::size_t at = 0;
            for (std::size_t i = 0; i < steps.size(); ++i) {
                steps[i]->attach(std::span<const result>(results).subspan(at, counts[i]), next);
                at += counts[i];
            }
            steps = std::move(next);
        }
    }

    /// The parents (joined relations decoded from the same rows), then the selectin levels.
    /// `self` must outlive the awaitable, like every call here.
    template <class T>
    static boost::asio::awaitable<std::vector<T>> fetch_loaded(Derived* self, select_query<T, T> query)
    {
        auto op = self->run(render_loaded<T>(query).native());
        result r = co_await std::move(op);
        load_steps steps;
        bool more = false;
        std::vector<T> rows = decode_loaded<T>(query, r, steps, static_cast<std::size_t>(-1), false, more);
        auto loading = run_steps(self, std::move(steps)); // a local: no temporaries in co_await (g++ 12)
        co_await std::move(loading);
        co_return rows;
    }
    /// The page's rows (and count, pipelined), then its loaders.
    template <class T, class R>
    static boost::asio::awaitable<pgcoro::page<R>> offset_page(Derived* self, offset_plan<T, R> plan)
    {
        sql_statement items;
        if constexpr (std::is_same_v<T, R>)
            items = render_loaded<T>(plan.query);
        else
            items = plan.query.render();
        std::vector<result> results;
        if (plan.count) {
            // One round trip. Under READ COMMITTED each statement takes its own snapshot, so a
            // concurrent write can make the count differ from the rows by that write; inside a
            // REPEATABLE READ transaction they agree exactly.
            batch reads(batch_mode::atomic);
            reads.statements().push_back(std::move(items).native());
            reads.statements().push_back(plan.count->native());
            auto op = self->pipeline(std::move(reads));
            results = co_await std::move(op);
        } else {
            auto op = self->run(std::move(items).native());
            result r = co_await std::move(op);
            results.push_back(std::move(r));
        }
        const std::size_t keep = static_cast<std::size_t>(plan.per_page);
        std::optional<std::int64_t> total;
        if (plan.count)
            total = results[1].template get<std::int64_t>(0, 0);
        bool more = false;
        if constexpr (std::is_same_v<T, R>) {
            load_steps steps;
            std::vector<T> rows = decode_loaded<T>(plan.query, results[0], steps, keep, false, more);
            auto loading = run_steps(self, std::move(steps));
            co_await std::move(loading);
            co_return finish_offset(plan, std::move(rows), more, total);
        } else {
            std::vector<R> rows = rows_as<R>(results[0]);
            more = rows.size() > keep;
            if (more)
                rows.resize(keep);
            co_return finish_offset(plan, std::move(rows), more, total);
        }
    }

    /// A keyset page's rows (reversed back for a `before` page), then its loaders.
    template <class T>
    static boost::asio::awaitable<pgcoro::keyset_page<T>> keyset_page_of(Derived* self, keyset_plan<T> plan)
    {
        auto op = self->run(render_loaded<T>(plan.query).native());
        result r = co_await std::move(op);
        const std::size_t keep = static_cast<std::size_t>(plan.per_page);
        load_steps steps;
        bool more = false;
        std::vector<T> rows = decode_loaded<T>(plan.query, r, steps, keep, plan.backward, more);
        auto loading = run_steps(self, std::move(steps));
        co_await std::move(loading);
        co_return finish_keyset(plan, std::move(rows), more);
    }

    template <class T>
    static boost::asio::awaitable<std::optional<T>> first_loaded(Derived* self, select_query<T, T> query)
    {
        auto op = fetch_loaded<T>(self, std::move(query));
        std::vector<T> rows = co_await std::move(op);
        if (rows.empty())
            co_return std::nullopt;
        co_return std::move(rows.front());
    }
    template <class T> static boost::asio::awaitable<T> one_loaded(Derived* self, select_query<T, T> query)
    {
        auto op = fetch_loaded<T>(self, std::move(query));
        std::vector<T> rows = co_await std::move(op);
        check_row_count(rows.size(), false);
        co_return std::move(rows.front());
    }

    template <class T> static bool use_copy(std::size_t rows, const insert_many_options& options)
    {
        switch (options.method) {
        case insert_method::pipeline:
            return false;
        case insert_method::copy:
            if (!model_statements<T>::copy_capable)
                throw_copy_incapable(model_statements<T>::description());
            return true;
        case insert_method::automatic:
            break;
        }
        return model_statements<T>::copy_capable && rows >= options.copy_threshold;
    }

    /// The catalog check (one round trip), then the COPY. `self` is the caller's object:
    /// like every call here it must outlive the awaitable.
    template <class T> static boost::asio::awaitable<std::uint64_t> copy_rows(Derived* self, copy_plan plan)
    {
        const std::string table = model_statements<T>::description().table;
        const std::string catalog_sql = copy_catalog_query(); // a local: no temporaries in co_await (g++ 12)
        result catalog = co_await self->query_result(catalog_sql, table);
        model_statements<T>::prepare(catalog, plan);
        std::uint64_t copied = co_await self->copy_in(plan.sql, std::move(plan.data));
        co_return copied;
    }

    template <row_type T, class Make> boost::asio::awaitable<std::optional<T>> start_optional(Make make)
    {
        return guarded<std::optional<T>>([&] { return decode_optional<T>(self().run(make().native())); });
    }
    template <row_type T, class Make> boost::asio::awaitable<std::vector<T>> start_all(Make make)
    {
        return guarded<std::vector<T>>([&] { return decode_all<T>(self().run(make().native())); });
    }
    boost::asio::awaitable<std::string> explained(sql_statement statement, std::string_view prefix)
    {
        detail::statement s = std::move(statement).native();
        s.sql.insert(0, prefix);
        return plan(self().run(std::move(s)));
    }

    static boost::asio::awaitable<std::string> plan(boost::asio::awaitable<result> op)
    {
        result r = co_await std::move(op);
        co_return plan_text(r);
    }
    static boost::asio::awaitable<bool> any_rows(boost::asio::awaitable<result> op)
    {
        result r = co_await std::move(op);
        co_return r.rows_affected() > 0;
    }
    static boost::asio::awaitable<std::uint64_t> count_batch(boost::asio::awaitable<std::vector<result>> op)
    {
        std::vector<result> results = co_await std::move(op);
        std::uint64_t total = 0;
        for (const result& r : results)
            total += r.rows_affected();
        co_return total;
    }
    template <row_type T>
    static boost::asio::awaitable<std::vector<T>> decode_batch(boost::asio::awaitable<std::vector<result>> op)
    {
        std::vector<result> results = co_await std::move(op);
        std::vector<T> rows;
        rows.reserve(results.size());
        for (const result& r : results) {
            check_single_row(r, false);
            rows.push_back(row_decoder<T>(r).decode(r, 0));
        }
        co_return rows;
    }
    template <class T> static boost::asio::awaitable<T> decode_updated(boost::asio::awaitable<result> op)
    {
        result r = co_await std::move(op);
        if (r.empty())
            throw_nothing_matched(model_statements<T>::description(), "update");
        check_single_row(r, false);
        co_return row_decoder<T>(r).decode(r, 0);
    }
    template <class T>
    static boost::asio::awaitable<upsert_result<T>> decode_upsert(boost::asio::awaitable<result> op)
    {
        result r = co_await std::move(op);
        check_single_row(r, false);
        upsert_result<T> outcome{row_decoder<T>(r).decode(r, 0)};
        outcome.inserted = r.template get<bool>(0, r.columns() - 1);
        co_return outcome;
    }

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
