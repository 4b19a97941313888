#pragma once
// Row-level lock clauses (FOR UPDATE / NO KEY UPDATE / SHARE / KEY SHARE, with OF, NOWAIT
// and SKIP LOCKED) for SELECT statements written by hand; the query builder reuses them.
// https://www.postgresql.org/docs/15/sql-select.html#SQL-FOR-UPDATE-SHARE

#include <string>
#include <string_view>
#include <vector>

namespace pgcoro {

/// How strongly the selected rows are locked.
enum class lock_strength {
    update,        ///< FOR UPDATE: blocks every other lock and every change of the rows
    no_key_update, ///< FOR NO KEY UPDATE: lets FOR KEY SHARE (foreign-key checks) through
    share,         ///< FOR SHARE: readers may share it; writers wait
    key_share,     ///< FOR KEY SHARE: only blocks deletes and key changes
};

/// What a statement does when a row is already locked by someone else.
enum class lock_wait_policy {
    wait,        ///< wait for the lock (bounded by lock_timeout, if set)
    nowait,      ///< fail at once with 55P03 (condition::lock_not_available)
    skip_locked, ///< leave locked rows out of the result (work queues)
};

/// A row-level lock clause. Build it with for_update() and friends:
/// `with_row_lock("SELECT * FROM jobs WHERE state = $1 ORDER BY id LIMIT 10",
///                for_update().skip_locked())`.
class row_lock {
public:
    explicit row_lock(lock_strength strength = lock_strength::update) noexcept : strength_(strength) {}

    /// Locks only rows of `table` (a table name or alias of the FROM clause; quoted as an
    /// identifier, so it must match exactly). May be called for several tables. Throws
    /// client_errc::invalid_argument for a name quote_identifier rejects.
    row_lock& of(std::string_view table);
    /// Fail at once instead of waiting for a locked row.
    row_lock& nowait() noexcept
    {
        wait_ = lock_wait_policy::nowait;
        return *this;
    }
    /// Skip rows locked by someone else.
    row_lock& skip_locked() noexcept
    {
        wait_ = lock_wait_policy::skip_locked;
        return *this;
    }

    lock_strength strength() const noexcept { return strength_; }
    lock_wait_policy wait_policy() const noexcept { return wait_; }
    /// The tables of of(), already quoted.
    const std::vector<std::string>& tables() const noexcept { return tables_; }

    /// The clause: `FOR UPDATE OF "accounts" SKIP LOCKED`.
    std::string sql() const;

private:
    lock_strength strength_;
    lock_wait_policy wait_ = lock_wait_policy::wait;
    std::vector<std::string> tables_;
};

inline row_lock for_update() noexcept
{
    return row_lock(lock_strength::update);
}
inline row_lock for_no_key_update() noexcept
{
    return row_lock(lock_strength::no_key_update);
}
inline row_lock for_share() noexcept
{
    return row_lock(lock_strength::share);
}
inline row_lock for_key_share() noexcept
{
    return row_lock(lock_strength::key_share);
}

/// `select` followed by the lock clause (after a space). The statement must be a SELECT
/// whose locking clause goes last (after ORDER BY, LIMIT and OFFSET); values still travel
/// as parameters.
std::string with_row_lock(std::string_view select, const row_lock& lock);

} // namespace pgcoro
