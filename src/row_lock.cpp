#include <pgcoro/identifier.hpp>
#include <pgcoro/row_lock.hpp>

namespace pgcoro {

row_lock& row_lock::of(std::string_view table)
{
    tables_.push_back(quote_identifier(table));
    return *this;
}

std::string row_lock::sql() const
{
    std::string text;
    switch (strength_) {
    case lock_strength::update:
        text = "FOR UPDATE";
        break;
    case lock_strength::no_key_update:
        text = "FOR NO KEY UPDATE";
        break;
    case lock_strength::share:
        text = "FOR SHARE";
        break;
    case lock_strength::key_share:
        text = "FOR KEY SHARE";
        break;
    }
    for (std::size_t i = 0; i < tables_.size(); ++i) {
        text += i == 0 ? " OF " : ", ";
        text += tables_[i];
    }
    if (wait_ == lock_wait_policy::nowait)
        text += " NOWAIT";
    else if (wait_ == lock_wait_policy::skip_locked)
        text += " SKIP LOCKED";
    return text;
}

std::string with_row_lock(std::string_view select, const row_lock& lock)
{
    std::string text(select);
    while (!text.empty() &&
           (text.back() == ' ' || text.back() == '\n' || text.back() == '\t' || text.back() == ';'))
        text.pop_back(); // "SELECT ...;" would put the clause after the statement's end
    text += ' ';
    text += lock.sql();
    return text;
}

} // namespace pgcoro
