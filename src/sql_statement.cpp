#include <pgcoro/result.hpp>
#include <pgcoro/sql_statement.hpp>
#include <pgcoro/types/basic.hpp>

namespace pgcoro {

std::string sql_statement::describe() const
{
    std::string out = statement_.sql;
    if (statement_.size() == 0)
        return out;
    out += "\n-- parameters:";
    for (std::size_t i = 0; i < statement_.size(); ++i) {
        out += " $" + std::to_string(i + 1) + " ";
        out += statement_.lengths[i] < 0 ? "NULL" : "oid " + std::to_string(statement_.types[i]);
        if (i + 1 < statement_.size())
            out += ',';
    }
    return out;
}

namespace detail {

sql_builder& sql_builder::append(const sql_builder& other)
{
    const std::size_t shift = text_.size();
    text_ += other.text_;
    for (std::size_t slot : other.slots_)
        slots_.push_back(slot + shift);
    params_.append_parameters(other.params_);
    return *this;
}

std::string sql_builder::placeholders() const
{
    if (params_.size() > max_parameters)
        throw error(client_errc::invalid_argument, "the query binds " + std::to_string(params_.size()) +
                                                       " parameters; PostgreSQL accepts at most 65535");
    std::string sql;
    sql.reserve(text_.size() + slots_.size() * 4);
    std::size_t from = 0;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        sql.append(text_, from, slots_[i] - from);
        sql += '$';
        sql += std::to_string(i + 1);
        from = slots_[i];
    }
    sql.append(text_, from, std::string::npos);
    return sql;
}

sql_statement sql_builder::render() const&
{
    statement s = params_;
    s.sql = placeholders();
    return sql_statement(std::move(s));
}

sql_statement sql_builder::render() &&
{
    std::string sql = placeholders();
    params_.sql = std::move(sql);
    return sql_statement(std::move(params_));
}

} // namespace detail
} // namespace pgcoro

namespace pgcoro::detail {

std::string plan_text(const result& r)
{
    std::string plan;
    for (std::size_t row = 0; row < r.size(); ++row) {
        if (row > 0)
            plan += '\n';
        plan += r.get<std::string>(row, 0);
    }
    return plan;
}

} // namespace pgcoro::detail
