#pragma once
// Models: a Boost.Describe struct plus a pgcoro::model_traits specialisation naming its
// table, primary key and timestamp members. The repository calls of sessions and
// connections (get, insert, update, ...) and the select builder read this description.
//
//   struct User {
//       std::int64_t id = 0;
//       std::string email;
//       std::optional<pgcoro::timestamp> created_at, updated_at, deleted_at;
//       pgcoro::related<std::vector<Post>> posts; // not a column
//   };
//   BOOST_DESCRIBE_STRUCT(User, (), (id, email, created_at, updated_at, deleted_at, posts))
//
//   template <> struct pgcoro::model_traits<User> {
//       static constexpr std::string_view table = "users";
//       static constexpr auto primary_key = &User::id;      // or std::tuple{&A::x, &A::y}
//       static constexpr auto generated = &User::id;        // filled by the database on insert
//       static constexpr auto created_at = &User::created_at;
//       static constexpr auto updated_at = &User::updated_at;
//       static constexpr auto deleted_at = &User::deleted_at; // enables soft delete
//   };

#include <pgcoro/error.hpp>
#include <pgcoro/model_fwd.hpp>
#include <pgcoro/rows.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

namespace pgcoro {

/// Describes a model type; specialise it for each model. Required members:
/// - `static constexpr std::string_view table` — the table name (quoted when used);
/// - `static constexpr auto primary_key` — a member pointer, or a std::tuple of them for a
///   composite key.
/// Optional members:
/// - `schema` (std::string_view) — the table's schema;
/// - `generated` — a member pointer or tuple of them: columns the database fills on insert
///   (identity, serial, defaults such as gen_random_uuid()); insert() leaves them out and
///   reads them back;
/// - `created_at`, `updated_at` — set to the server's now() by insert (both) and by every
///   update (updated_at);
/// - `deleted_at` — a std::optional timestamp member: enables soft delete (soft_remove()
///   sets it, restore() clears it, and reads skip rows where it is set unless asked).
template <class T> struct model_traits;

/// A described struct with a model_traits specialisation.
template <class T>
concept model = described_row<T> && requires
{
    model_traits<T>::table;
    model_traits<T>::primary_key;
};

namespace detail {
[[noreturn]] void throw_relation_not_loaded();
} // namespace detail

/// A relationship member (a collection of child models, or a parent) that is not a column:
/// never read from or written to the model's table. It knows whether it was loaded: reading
/// one that was not throws client_errc::relation_not_loaded, so a missing eager load is
/// never mistaken for "no children".
template <class T> class related {
public:
    related() = default;
    related(T value) : value_(std::move(value)) {}

    /// Whether a value was attached (by a loader or by set()).
    bool loaded() const noexcept { return value_.has_value(); }

    /// The loaded value; throws client_errc::relation_not_loaded if there is none.
    const T& get() const
    {
        if (!value_)
            detail::throw_relation_not_loaded();
        return *value_;
    }
    T& get()
    {
        if (!value_)
            detail::throw_relation_not_loaded();
        return *value_;
    }
    const T& operator*() const { return get(); }
    T& operator*() { return get(); }
    const T* operator->() const { return &get(); }
    T* operator->() { return &get(); }

    /// Attaches a value (marks the relation loaded).
    T& set(T value)
    {
        value_ = std::move(value);
        return *value_;
    }
    /// Back to "not loaded".
    void reset() noexcept { value_.reset(); }

    friend bool operator==(const related&, const related&) = default;

private:
    std::optional<T> value_;
};

template <class T> struct non_column<related<T>> : std::true_type {};

namespace detail {

inline constexpr std::size_t no_column = static_cast<std::size_t>(-1);

template <class X> constexpr auto as_member_tuple(X members)
{
    if constexpr (is_tuple<X>::value)
        return members;
    else
        return std::tuple<X>{members};
}

/// Index among T's columns (for_each_column order) of the member `pointer`; no_column if it
/// is not one.
template <class T, class P> std::size_t find_column_index(P pointer) noexcept
{
    std::size_t index = 0;
    std::size_t found = no_column;
    for_each_column<T>([&](auto member) {
        if constexpr (std::is_same_v<std::remove_const_t<decltype(member.pointer)>, P>)
            if (found == no_column && member.pointer == pointer)
                found = index;
        ++index;
    });
    return found;
}

[[noreturn]] void throw_not_a_column(std::string_view type);

/// As find_column_index, but throws client_errc::invalid_argument for a member that is not
/// a column of T.
template <class T, class P> std::size_t column_index(P pointer)
{
    std::size_t index = find_column_index<T>(pointer);
    if (index == no_column)
        throw_not_a_column(cpp_type_name(typeid(T)));
    return index;
}

/// Everything the SQL generators need to know about a model, computed once.
struct model_description {
    std::string type_name;               // C++ type, for messages
    std::string table;                   // quoted, schema-qualified
    std::string display_name;            // unquoted schema.table, for messages
    std::vector<std::string_view> names; // column names (members), in declaration order
    std::vector<std::string> quoted;     // the same, quoted
    std::vector<std::string> qualified;  // the same, qualified by the table
    std::vector<std::size_t> key;        // primary key columns, in key order
    std::vector<bool> in_key;
    std::vector<bool> generated;
    std::size_t created_at = no_column;
    std::size_t updated_at = no_column;
    std::size_t deleted_at = no_column;
    std::string select_list;    // qualified columns, comma-separated
    std::string returning_list; // quoted columns, comma-separated

    bool soft_delete() const noexcept { return deleted_at != no_column; }
    /// `"users"."deleted_at" IS NULL`
    std::string not_deleted() const { return qualified[deleted_at] + " IS NULL"; }
};

/// Fills the derived strings and validates names (src/model.cpp).
void finish_description(model_description& d, std::string_view schema, std::string_view table);

template <class T> model_description build_description()
{
    using traits = model_traits<T>;
    model_description d;
    d.type_name = cpp_type_name(typeid(T));
    for_each_column<T>([&](auto member) { d.names.push_back(member.name); });
    const std::size_t n = d.names.size();
    d.in_key.assign(n, false);
    d.generated.assign(n, false);
    std::apply([&](auto... key) { (d.key.push_back(column_index<T>(key)), ...); },
               as_member_tuple(traits::primary_key));
    for (std::size_t k : d.key)
        d.in_key[k] = true;
    if constexpr (requires { traits::generated; })
        std::apply([&](auto... g) { ((d.generated[column_index<T>(g)] = true), ...); },
                   as_member_tuple(traits::generated));
    if constexpr (requires { traits::created_at; })
        d.created_at = column_index<T>(traits::created_at);
    if constexpr (requires { traits::updated_at; })
        d.updated_at = column_index<T>(traits::updated_at);
    if constexpr (requires { traits::deleted_at; }) {
        using D = std::remove_cvref_t<decltype(std::declval<T&>().*traits::deleted_at)>;
        static_assert(is_optional_v<D>, "model_traits::deleted_at must name a std::optional member");
        d.deleted_at = column_index<T>(traits::deleted_at);
    }
    std::string_view schema;
    if constexpr (requires { traits::schema; })
        schema = traits::schema;
    finish_description(d, schema, traits::table);
    return d;
}

/// T's description, built on first use (thread-safe) and kept for the program's life.
/// Throws client_errc::invalid_argument for a traits specialisation that names a member
/// that is not a column, or an invalid table name.
template <model T> const model_description& describe_model()
{
    static const model_description description = build_description<T>();
    return description;
}

/// Calls f(index, value) for every column of `object`.
template <class T, class F> void for_each_column_value(const T& object, F&& f)
{
    std::size_t index = 0;
    for_each_column<T>([&](auto member) { f(index++, object.*member.pointer); });
}

} // namespace detail

/// A list of a model's columns, named by member pointers:
/// `pgcoro::columns(&User::email, &User::name)`. Throws client_errc::invalid_argument for a
/// member that is not a column.
template <class T> class column_list {
    static_assert(model<T>, "column_list needs a model (see pgcoro::model_traits)");

public:
    column_list() = default;
    explicit column_list(std::vector<std::size_t> indexes) : indexes_(std::move(indexes)) {}

    const std::vector<std::size_t>& indexes() const noexcept { return indexes_; }
    bool empty() const noexcept { return indexes_.empty(); }
    bool contains(std::size_t index) const noexcept
    {
        for (std::size_t i : indexes_)
            if (i == index)
                return true;
        return false;
    }

private:
    std::vector<std::size_t> indexes_;
};

template <class T, class M, class... More> column_list<T> columns(M T::*first, More... more)
{
    std::vector<std::size_t> indexes{detail::column_index<T>(first)};
    (indexes.push_back(detail::column_index<T>(more)), ...);
    return column_list<T>(std::move(indexes));
}

template <class T> struct upsert_result {
    T row;
    bool inserted = false; ///< true: a new row; false: the conflicting row was updated
};

} // namespace pgcoro
