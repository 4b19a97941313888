#pragma once
// The models layer's vocabulary that sessions and connections name in their repository
// calls (detail/model_methods.hpp); the definitions are in model.hpp, expression.hpp and
// select.hpp.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace pgcoro {

/// Which rows a read of a soft-deleting model sees.
enum class deleted_rows {
    exclude, ///< only rows whose deleted_at is NULL (the default)
    include, ///< every row, soft-deleted or not
};
inline constexpr deleted_rows include_deleted = deleted_rows::include;

/// How insert_many sends its rows.
enum class insert_method {
    automatic, ///< COPY from copy_threshold rows on (when the model allows it), else pipeline
    pipeline,  ///< one prepared INSERT per row, all in one pipelined round trip
    copy,      ///< COPY ... FROM STDIN in binary format
};

struct insert_many_options {
    insert_method method = insert_method::automatic;
    /// insert_method::automatic uses COPY for this many rows or more. COPY costs two round
    /// trips more than a pipeline but half the server CPU per row: on one host it wins from
    /// about 85 rows, at a 0.3 ms round trip from about 240, at 1 ms from about 590
    /// (bench/results/inserts.md). 250 stays within 1.3x of the better method across those.
    std::size_t copy_threshold = 250;
};

/// A SQL boolean expression (expression.hpp).
class predicate;
/// A list of a model's columns (model.hpp).
template <class T> class column_list;
/// What upsert() returns: the row as stored, and which branch ran (model.hpp).
template <class T> struct upsert_result;
/// A SELECT on a model's table, decoded into Row (select.hpp).
template <class T, class Row = T> class select_query;

/// Options of offset paging.
struct page_options {
    /// Also count the matching rows (total, pages), in the same round trip.
    bool count = true;
    /// The largest per_page accepted (client_errc::invalid_argument beyond).
    std::int64_t max_per_page = 1000;
    /// The largest page number accepted (0: any); caps how far OFFSET can make the server
    /// scan.
    std::int64_t max_page = 0;
};

/// Paging (paging.hpp).
template <class T> struct page;
template <class T> struct keyset_page;
class keyset;

/// A loader of one relation of parents P (loading.hpp).
template <class P> class loader;
class result;
class sql_statement;

namespace detail {
class load_step;
using load_steps = std::vector<std::unique_ptr<load_step>>;
/// The parents' query with its joined loaders rendered in (loading.hpp).
template <class T> sql_statement render_loaded(const select_query<T, T>& q);
/// The parents from render_loaded()'s result; the first level of selectin steps in `next`.
template <class T>
std::vector<T> decode_loaded(const select_query<T, T>& q, const result& r, load_steps& next, std::size_t keep,
                             bool reverse, bool& more);
/// The first level of steps of loaders applied to rows already fetched.
template <class T> load_steps steps_for(std::span<T* const> parents, std::span<const loader<T>> loaders);

template <class T, class R> struct offset_plan;
template <class T> struct keyset_plan;
template <class T, class R>
offset_plan<T, R> plan_offset(const select_query<T, R>& query, std::int64_t number, std::int64_t per_page,
                              const page_options& options);
template <class T, class R>
page<R> finish_offset(const offset_plan<T, R>& plan, std::vector<R> rows, bool more,
                      std::optional<std::int64_t> total);
template <class T> keyset_plan<T> plan_keyset(const select_query<T, T>& query, const keyset& request);
template <class T> keyset_page<T> finish_keyset(const keyset_plan<T>& plan, std::vector<T> rows, bool more);

/// The SQL of the repository calls (repository.hpp).
template <class T> struct model_statements;

/// A binary COPY of a model's rows, built before the copy starts. created_at/updated_at
/// hold placeholders until the server's now() is known (timestamp_slots: offsets of their
/// 8-byte values).
struct copy_plan {
    std::string sql;
    std::string data;
    std::vector<std::size_t> timestamp_slots;
};

/// One round trip before a COPY: the table's columns with their (domain-resolved) type OIDs,
/// and now(). Rows: (name text, type int8, now timestamptz). $1: the quoted table name.
std::string copy_catalog_query();
} // namespace detail

} // namespace pgcoro
