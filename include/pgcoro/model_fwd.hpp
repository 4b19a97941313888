#pragma once
// The models layer's vocabulary that sessions and connections name in their repository
// calls (detail/model_methods.hpp); the definitions are in model.hpp, expression.hpp and
// select.hpp.

#include <cstddef>

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
    /// insert_method::automatic uses COPY for this many rows or more.
    std::size_t copy_threshold = 1000;
};

/// A SQL boolean expression (expression.hpp).
class predicate;
/// A list of a model's columns (model.hpp).
template <class T> class column_list;
/// What upsert() returns: the row as stored, and which branch ran (model.hpp).
template <class T> struct upsert_result;
/// A SELECT on a model's table, decoded into Row (select.hpp).
template <class T, class Row = T> class select_query;

namespace detail {
/// The SQL of the repository calls (repository.hpp).
template <class T> struct model_statements;
} // namespace detail

} // namespace pgcoro
