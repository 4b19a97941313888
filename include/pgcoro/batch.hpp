#pragma once
// A batch of statements sent in one round trip through libpq's pipeline mode.

#include <pgcoro/detail/statement.hpp>

#include <vector>

namespace pgcoro {

/// How a pipeline's statements relate to each other.
enum class batch_mode {
    /// One implicit transaction (a single sync point): if any statement fails, the ones
    /// before it are rolled back and the ones after it are skipped. For bulk writes.
    atomic,
    /// A sync point after every statement: each runs in its own implicit transaction
    /// (unless the batch itself contains BEGIN/COMMIT) and a failure does not stop the
    /// others. For independent reads and session resets.
    independent,
};

/// Statements to run with connection::pipeline. Parameters are encoded when added.
class batch {
public:
    explicit batch(batch_mode mode = batch_mode::atomic) noexcept : mode_(mode) {}

    /// Appends a statement; throws pgcoro::error(invalid_parameter) for a bad parameter.
    template <detail::parameter... Args> batch& add(std::string_view sql, const Args&... args)
    {
        statements_.push_back(detail::make_statement(sql, args...));
        return *this;
    }

    batch_mode mode() const noexcept { return mode_; }
    std::size_t size() const noexcept { return statements_.size(); }
    bool empty() const noexcept { return statements_.empty(); }

    std::vector<detail::statement>& statements() noexcept { return statements_; }

private:
    batch_mode mode_;
    std::vector<detail::statement> statements_;
};

} // namespace pgcoro
