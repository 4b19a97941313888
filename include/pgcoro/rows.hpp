#pragma once
// Decoding a result into C++ rows: Boost.Describe structs (columns matched by name),
// std::tuple (by position) and single values. Column types are checked once per result,
// before any value is decoded.

#include <pgcoro/result.hpp>

#include <boost/describe/members.hpp>
#include <boost/mp11/algorithm.hpp>

#include <array>
#include <tuple>
#include <type_traits>
#include <vector>

namespace pgcoro {

template <class T> struct is_tuple : std::false_type {};
template <class... Ts> struct is_tuple<std::tuple<Ts...>> : std::true_type {};

/// Customisation point: a member type for which this is true is not backed by a column
/// (pgcoro::related, for relationship collections). Row decoding leaves such members
/// default-constructed and never looks for a column of their name.
template <class M> struct non_column : std::false_type {};

/// A struct described with BOOST_DESCRIBE_STRUCT whose public members are field types (or
/// non_column members).
template <class T>
concept described_row = std::is_class_v<T> && !field_type<T> && !is_tuple<T>::value &&
                        boost::describe::has_describe_members<T>::value;

/// Anything a row can be decoded into.
template <class T>
concept row_type = field_type<T> || is_tuple<T>::value || described_row<T>;

namespace detail {

using public_members = std::integral_constant<unsigned, boost::describe::mod_public>;

template <class T> constexpr std::size_t row_width()
{
    if constexpr (field_type<T>)
        return 1;
    else if constexpr (is_tuple<T>::value)
        return std::tuple_size_v<T>;
    else
        return boost::mp11::mp_size<boost::describe::describe_members<T, public_members::value>>::value;
}

/// The type of a described member.
template <class T, class Descriptor>
using member_type_t = std::remove_cvref_t<decltype(std::declval<T&>().*Descriptor::pointer)>;

/// Calls f(descriptor) for every public member of T that is backed by a column, in
/// declaration order.
template <class T, class F> constexpr void for_each_column(F&& f)
{
    boost::mp11::mp_for_each<boost::describe::describe_members<T, public_members::value>>([&](auto member) {
        using M = member_type_t<T, decltype(member)>;
        if constexpr (!non_column<M>::value)
            f(member);
    });
}

[[noreturn]] void throw_column_count(const result& r, std::size_t expected, std::string_view cpp_type);
[[noreturn]] void throw_column_not_found(std::string_view member, std::string_view cpp_type);

/// Maps the row type's fields to result columns and checks their types, once per result.
/// decode() then reads any row of a result with the same shape (single-row streaming
/// reuses one decoder for every row).
template <row_type T> class row_decoder {
public:
    explicit row_decoder(const result& r) { bind(r); }

    T decode(const result& r, std::size_t row) const
    {
        if constexpr (field_type<T>) {
            return decode_column<T>(r, row, 0);
        } else if constexpr (is_tuple<T>::value) {
            return [&]<std::size_t... I>(std::index_sequence<I...>)
            {
                return T{decode_column<std::tuple_element_t<I, T>>(r, row, I)...};
            }
            (std::make_index_sequence<std::tuple_size_v<T>>{});
        } else {
            T value{};
            std::size_t index = 0;
            for_each_column<T>([&](auto member) {
                using M = member_type_t<T, decltype(member)>;
                value.*member.pointer = decode_column<M>(r, row, columns_[index++]);
            });
            return value;
        }
    }

private:
    void bind(const result& r)
    {
        if constexpr (field_type<T>) {
            if (r.columns() != 1)
                throw_column_count(r, 1, cpp_type_name(typeid(T)));
            check_column<T>(r, 0);
        } else if constexpr (is_tuple<T>::value) {
            if (r.columns() != std::tuple_size_v<T>)
                throw_column_count(r, std::tuple_size_v<T>, cpp_type_name(typeid(T)));
            [&]<std::size_t... I>(std::index_sequence<I...>)
            {
                (check_column<std::tuple_element_t<I, T>>(r, I), ...);
            }
            (std::make_index_sequence<std::tuple_size_v<T>>{});
        } else {
            std::size_t index = 0;
            for_each_column<T>([&](auto member) {
                using M = member_type_t<T, decltype(member)>;
                static_assert(field_type<M>, "every public member of a row struct must be a field type "
                                             "(see pgcoro/types/traits.hpp) or a pgcoro::related");
                auto column = r.find_column(member.name);
                if (!column)
                    throw_column_not_found(member.name, cpp_type_name(typeid(T)));
                check_column<M>(r, *column);
                columns_[index++] = *column;
            });
        }
    }

    std::array<std::size_t, row_width<T>()> columns_{};
};

/// Decodes a described struct from consecutive columns starting at `first` (its columns in
/// declaration order, whatever their names): for results that hold several structs side by
/// side, such as a join. Column types are checked once, at construction.
template <described_row T> class positional_decoder {
public:
    positional_decoder(const result& r, std::size_t first) : first_(first)
    {
        if (r.columns() < first + width())
            throw_column_count(r, first + width(), cpp_type_name(typeid(T)));
        std::size_t column = first;
        for_each_column<T>(
            [&](auto member) { check_column<member_type_t<T, decltype(member)>>(r, column++); });
    }

    /// How many columns T takes.
    static constexpr std::size_t width()
    {
        std::size_t n = 0;
        for_each_column<T>([&](auto) { ++n; });
        return n;
    }

    T decode(const result& r, std::size_t row) const
    {
        T value{};
        std::size_t column = first_;
        for_each_column<T>([&](auto member) {
            using M = member_type_t<T, decltype(member)>;
            value.*member.pointer = decode_column<M>(r, row, column++);
        });
        return value;
    }

private:
    std::size_t first_;
};

} // namespace detail

/// Decodes every row of `r` into T. Throws pgcoro::error (type_mismatch, column_not_found,
/// column_count_mismatch, unexpected_null, malformed_value) naming the column.
template <row_type T> std::vector<T> rows_as(const result& r)
{
    std::vector<T> rows;
    if (r.columns() == 0 && r.empty())
        return rows; // a command without a result set (INSERT without RETURNING)
    detail::row_decoder<T> decoder(r);
    rows.reserve(r.size());
    for (std::size_t i = 0; i < r.size(); ++i)
        rows.push_back(decoder.decode(r, i));
    return rows;
}

} // namespace pgcoro
