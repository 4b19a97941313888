#include <pgcoro/expression.hpp>

#include <boost/json/parse.hpp>

#include <cstdint>

namespace pgcoro {

namespace {

predicate joined(std::vector<predicate>& predicates, std::string_view separator)
{
    detail::sql_builder b("(");
    bool first = true;
    for (const predicate& p : predicates) {
        if (!first)
            b.append(separator);
        b.append(p.sql());
        first = false;
    }
    b.append(")");
    return predicate(std::move(b));
}

} // namespace

predicate operator&&(predicate a, predicate b)
{
    if (a.empty())
        return b;
    if (b.empty())
        return a;
    std::vector<predicate> both{std::move(a), std::move(b)};
    return joined(both, " AND ");
}

predicate operator||(predicate a, predicate b)
{
    if (a.empty() || b.empty())
        return predicate();
    std::vector<predicate> both{std::move(a), std::move(b)};
    return joined(both, " OR ");
}

predicate operator!(predicate a)
{
    if (a.empty())
        return predicate(detail::sql_builder("FALSE"));
    detail::sql_builder b("(NOT ");
    b.append(a.sql()).append(")");
    return predicate(std::move(b));
}

predicate all_of(std::vector<predicate> predicates)
{
    std::vector<predicate> present;
    for (predicate& p : predicates)
        if (!p.empty())
            present.push_back(std::move(p));
    if (present.empty())
        return predicate();
    return joined(present, " AND ");
}

predicate any_of(std::vector<predicate> predicates)
{
    if (predicates.empty())
        return predicate(detail::sql_builder("FALSE"));
    for (const predicate& p : predicates)
        if (p.empty())
            return predicate();
    return joined(predicates, " OR ");
}

namespace detail {

predicate compare_expressions(const sql_builder& lhs, std::string_view op, const sql_builder& rhs)
{
    sql_builder b("(");
    b.append(lhs).append(op).append(rhs).append(")");
    return predicate(std::move(b));
}

} // namespace detail

// ---- JSONB paths -------------------------------------------------------------------------

boost::json::value json_path::nest(boost::json::value leaf) const
{
    for (auto key = keys_.rbegin(); key != keys_.rend(); ++key) {
        boost::json::object level;
        level[*key] = std::move(leaf);
        leaf = std::move(level);
    }
    return leaf;
}

json_text json_path::as_text() const
{
    detail::sql_builder b("(");
    b.append(root_).append(" #>> ").bind(keys_).append(")");
    return json_text(std::move(b), *this);
}

expression<std::optional<boost::json::value>> json_path::value() const
{
    detail::sql_builder b("(");
    b.append(root_).append(" #> ").bind(keys_).append(")");
    return expression<std::optional<boost::json::value>>(std::move(b));
}

predicate json_path::contains(const boost::json::value& v) const
{
    // data @> {"a": {"b": v}} holds when data->'a'->'b' @> v (containment recurses through
    // objects), and unlike the path form it can use a GIN index on data. One exception: at
    // the top of a containment an array contains a scalar it holds ('["x"]' @> '"x"'), but
    // nested, structures must match, so a scalar v also needs the {"a": {"b": [v]}} form.
    detail::sql_builder b("(");
    b.append(root_).append(" @> ").bind(nest(v));
    if (!keys_.empty() && !v.is_object() && !v.is_array()) {
        boost::json::array holder;
        holder.push_back(v);
        b.append(" OR ").append(root_).append(" @> ").bind(nest(std::move(holder)));
    }
    b.append(")");
    return predicate(std::move(b));
}

predicate json_path::has_key(std::string_view key) const
{
    detail::sql_builder b("(");
    if (keys_.empty())
        b.append(root_);
    else
        b.append("(").append(root_).append(" #> ").bind(keys_).append(")");
    b.append(" ? ").bind(key).append(")");
    return predicate(std::move(b));
}

predicate json_path::exists() const
{
    detail::sql_builder b("(");
    b.append(root_).append(" #> ").bind(keys_).append(" IS NOT NULL)");
    return predicate(std::move(b));
}

predicate operator==(const json_path& path, const boost::json::value& v)
{
    detail::sql_builder b("(");
    if (path.keys_.empty()) {
        b.append(path.root_).append(" = ").bind(v).append(")");
        return predicate(std::move(b));
    }
    // Equality implies containment, so the @> term only narrows the rows (through the GIN
    // index); the #> term keeps the exact meaning (containment alone would also accept an
    // array holding v, or an object with more keys).
    b.append(path.root_).append(" @> ").bind(path.nest(v)).append(" AND ");
    b.append(path.root_).append(" #> ").bind(path.keys_).append(" = ").bind(v).append(")");
    return predicate(std::move(b));
}

predicate operator!=(const json_path& path, const boost::json::value& v)
{
    detail::sql_builder b("(");
    if (path.keys_.empty())
        b.append(path.root_);
    else
        b.append(path.root_).append(" #> ").bind(path.keys_);
    b.append(" <> ").bind(v).append(")");
    return predicate(std::move(b));
}

predicate json_text::equals(const std::string& value) const
{
    // The text at the path equals `value` when the value there is the JSON string `value`,
    // or a scalar whose text is `value` (5, true). Each candidate becomes a containment
    // term a GIN index can serve; the #>> comparison then keeps the exact meaning. Values
    // whose JSON reading could lose precision (a double, or an object or array holding
    // one) get no pre-filter: correctness first.
    std::vector<boost::json::value> candidates{boost::json::value(value)};
    boost::system::error_code ec;
    boost::json::value parsed = boost::json::parse(value, ec);
    bool exact_only = false;
    if (!ec) {
        if (parsed.is_int64() || parsed.is_uint64() || parsed.is_bool())
            candidates.push_back(std::move(parsed));
        else if (parsed.is_double() || parsed.is_object() || parsed.is_array())
            exact_only = true;
    }
    detail::sql_builder b("(");
    if (!exact_only && !path_.keys().empty()) {
        b.append("(");
        for (std::size_t i = 0; i < candidates.size(); ++i) {
            if (i > 0)
                b.append(" OR ");
            b.append(path_.root()).append(" @> ").bind(path_.nest(candidates[i]));
        }
        b.append(") AND ");
    }
    b.append(sql()).append(" = ").bind(value).append(")");
    return predicate(std::move(b));
}

namespace detail {

bool valid_utf8(std::string_view text) noexcept
{
    const auto* p = reinterpret_cast<const unsigned char*>(text.data());
    const auto* end = p + text.size();
    while (p < end) {
        const unsigned char c = *p;
        std::size_t length = 0;
        std::uint32_t code = 0;
        if (c < 0x80) {
            ++p;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            length = 2;
            code = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            length = 3;
            code = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            length = 4;
            code = c & 0x07;
        } else {
            return false;
        }
        if (static_cast<std::size_t>(end - p) < length)
            return false;
        for (std::size_t i = 1; i < length; ++i) {
            if ((p[i] & 0xc0) != 0x80)
                return false;
            code = (code << 6) | (p[i] & 0x3f);
        }
        constexpr std::uint32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
        if (code < smallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
            return false;
        p += length;
    }
    return true;
}

void throw_cursor_value(std::string_view column)
{
    throw error(client_errc::invalid_cursor,
                "the cursor's value for sort key \"" + std::string(column) + "\" does not decode");
}

} // namespace detail

} // namespace pgcoro
