#pragma once
// A statement with its parameters already encoded, owned by value. Queries encode their
// arguments eagerly (before the returned awaitable runs), so an awaitable never holds
// references to the caller's arguments, and a bad parameter (e.g. an embedded NUL) fails
// before anything is sent.

#include <pgcoro/types/traits.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace pgcoro::detail {

/// Maps an argument type to the field type that encodes it: string literals and char
/// pointers become std::string_view.
template <class A> struct param_type {
    using type = std::remove_cvref_t<A>;
};
template <std::size_t N> struct param_type<char[N]> {
    using type = std::string_view;
};
template <std::size_t N> struct param_type<const char[N]> {
    using type = std::string_view;
};
template <> struct param_type<const char*> {
    using type = std::string_view;
};
template <> struct param_type<char*> {
    using type = std::string_view;
};
template <class A> using param_type_t = typename param_type<std::remove_cvref_t<A>>::type;

template <class A>
concept parameter = field_type<param_type_t<A>> || std::is_same_v<std::remove_cvref_t<A>, std::nullopt_t>;

inline constexpr std::size_t max_parameters = 65535; // libpq's PQ_QUERY_PARAM_MAX_LIMIT

/// A growable array of trivially copyable values with room for N inline: moving it is a
/// plain copy of the inline part (boost::container::small_vector moves element by element,
/// which showed up as ~10% of a point select).
template <class T, std::size_t N> class inline_array {
    static_assert(std::is_trivially_copyable_v<T>);

public:
    void push_back(T value)
    {
        if (size_ < N) {
            inline_[size_] = value;
        } else {
            if (size_ == N)
                heap_.assign(inline_.begin(), inline_.end());
            heap_.push_back(value);
        }
        ++size_;
    }
    const T* data() const noexcept { return size_ <= N ? inline_.data() : heap_.data(); }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    T operator[](std::size_t i) const noexcept { return data()[i]; }
    const T* begin() const noexcept { return data(); }
    const T* end() const noexcept { return data() + size_; }

private:
    std::size_t size_ = 0;
    std::array<T, N> inline_{};
    std::vector<T> heap_; // only beyond N
};

struct statement {
    std::string sql;
    std::string values;           // the values back to back; text ones NUL-terminated
    inline_array<oid_t, 8> types; // OID per parameter
    inline_array<int, 8> lengths; // byte length (without a terminator), -1 for NULL
    inline_array<int, 8> formats; // 1 binary, 0 text

    std::size_t size() const noexcept { return types.size(); }

    /// Appends the parameters of `other` after this statement's own (its SQL is ignored).
    void append_parameters(const statement& other)
    {
        values += other.values;
        for (std::size_t i = 0; i < other.size(); ++i) {
            types.push_back(other.types[i]);
            lengths.push_back(other.lengths[i]);
            formats.push_back(other.formats[i]);
        }
    }

    template <class A> void add(const A& argument)
    {
        if constexpr (std::is_same_v<std::remove_cvref_t<A>, std::nullopt_t>) {
            types.push_back(oids::unspecified); // an untyped NULL: the server infers the type
            lengths.push_back(-1);
            formats.push_back(1);
        } else {
            using P = param_type_t<A>;
            const std::size_t before = values.size();
            bool present = encode_field<P>(static_cast<const P&>(argument), values);
            const std::size_t length = values.size() - before;
            if (length > 0x3fffffff) // PostgreSQL's 1 GB field limit
                throw_invalid_parameter("parameter larger than 1 GB");
            constexpr int format = field_format<P>();
            if (present && format == 0)
                values.push_back('\0'); // libpq reads text parameters up to a NUL
            types.push_back(field_oid<P>());
            lengths.push_back(present ? static_cast<int>(length) : -1);
            formats.push_back(format);
        }
    }
};

[[noreturn]] void throw_too_many_parameters(std::size_t count);
/// Rethrows an encoding error with the parameter's position ($1-based) in its message.
[[noreturn]] void rethrow_parameter_error(const error& e, std::size_t position);

template <parameter... Args> statement make_statement(std::string_view sql, const Args&... args)
{
    if (sizeof...(Args) > max_parameters)
        throw_too_many_parameters(sizeof...(Args));
    statement s;
    s.sql.assign(sql);
    try {
        (s.add(args), ...);
    } catch (const error& e) {
        rethrow_parameter_error(e, s.size() + 1);
    }
    return s;
}

} // namespace pgcoro::detail
