#pragma once
// The type customisation point. Every C++ type that goes to or comes from PostgreSQL does
// so through a specialisation of pgcoro::type_traits<T>, in PostgreSQL's binary format.
//
// A specialisation provides:
//
//   static constexpr oid_t type_oid;   // OID sent with a parameter of this type
//                                      // (0 = let the server infer it from the statement)
//   static constexpr oid_t array_oid;  // OID of T[] (0 = cannot be sent as an array element)
//   static bool accepts(oid_t column_type) noexcept;      // may decode a column of this type
//   static void encode(const T& value, std::string& out); // append the binary value
//   static T decode(std::string_view bytes, oid_t column_type);
//
// and optionally
//
//   static constexpr int format = 0;   // send parameters in text format (default 1: binary);
//                                      // for types whose binary form needs an OID only the
//                                      // database knows (arrays of enums). Results are
//                                      // always binary.
//
// encode throws pgcoro::error(client_errc::invalid_parameter) for values PostgreSQL cannot
// hold; decode throws pgcoro::error(client_errc::malformed_value) for a buffer of the wrong
// size or content (or a value the C++ type cannot represent) and never reads outside
// `bytes`; type_mismatch when called with a column type accepts() rejects (the row layer
// checks accepts() first); unexpected_null for a NULL array element of a non-optional type. NULL never
// reaches a codec: std::optional handles it (see detail::encode_field / detail::decode_field).
//
// Example: a user type stored as text
//
//   struct email { std::string address; };
//   template <> struct pgcoro::type_traits<email> {
//       static constexpr oid_t type_oid = oids::text;
//       static constexpr oid_t array_oid = oids::text_array;
//       static bool accepts(oid_t t) noexcept { return type_traits<std::string>::accepts(t); }
//       static void encode(const email& e, std::string& out) {
//           type_traits<std::string>::encode(e.address, out); }
//       static email decode(std::string_view b, oid_t t) {
//           return {type_traits<std::string>::decode(b, t)}; }
//   };

#include <pgcoro/error.hpp>

#include <bit>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace pgcoro {

/// A PostgreSQL type OID.
using oid_t = std::uint32_t;

/// OIDs of the built-in types pgcoro maps (pg_type.dat; stable across versions).
namespace oids {
inline constexpr oid_t unspecified = 0;
inline constexpr oid_t bool_ = 16;
inline constexpr oid_t bytea = 17;
inline constexpr oid_t char_ = 18;
inline constexpr oid_t name = 19;
inline constexpr oid_t int8 = 20;
inline constexpr oid_t int2 = 21;
inline constexpr oid_t int4 = 23;
inline constexpr oid_t text = 25;
inline constexpr oid_t oid = 26;
inline constexpr oid_t json = 114;
inline constexpr oid_t xml = 142;
inline constexpr oid_t float4 = 700;
inline constexpr oid_t float8 = 701;
inline constexpr oid_t unknown = 705;
inline constexpr oid_t bpchar = 1042;
inline constexpr oid_t varchar = 1043;
inline constexpr oid_t date = 1082;
inline constexpr oid_t time = 1083;
inline constexpr oid_t timestamp = 1114;
inline constexpr oid_t timestamptz = 1184;
inline constexpr oid_t interval = 1186;
inline constexpr oid_t numeric = 1700;
inline constexpr oid_t uuid = 2950;
inline constexpr oid_t jsonb = 3802;

inline constexpr oid_t bool_array = 1000;
inline constexpr oid_t bytea_array = 1001;
inline constexpr oid_t char_array = 1002;
inline constexpr oid_t name_array = 1003;
inline constexpr oid_t int2_array = 1005;
inline constexpr oid_t int4_array = 1007;
inline constexpr oid_t text_array = 1009;
inline constexpr oid_t bpchar_array = 1014;
inline constexpr oid_t varchar_array = 1015;
inline constexpr oid_t int8_array = 1016;
inline constexpr oid_t float4_array = 1021;
inline constexpr oid_t float8_array = 1022;
inline constexpr oid_t oid_array = 1028;
inline constexpr oid_t timestamp_array = 1115;
inline constexpr oid_t date_array = 1182;
inline constexpr oid_t time_array = 1183;
inline constexpr oid_t timestamptz_array = 1185;
inline constexpr oid_t interval_array = 1187;
inline constexpr oid_t numeric_array = 1231;
inline constexpr oid_t json_array = 199;
inline constexpr oid_t uuid_array = 2951;
inline constexpr oid_t jsonb_array = 3807;

/// First OID handed out to user-defined objects (enums, domains, extension types).
inline constexpr oid_t first_normal_object = 16384;
} // namespace oids

/// Element OID of a built-in array type, 0 if `array_type` is not one.
oid_t array_element_oid(oid_t array_type) noexcept;

/// The SQL name of a built-in type ("int4", "text[]"), or "oid <n>" for others. Used in
/// error messages.
std::string type_name(oid_t type);

/// Primary template: not a PostgreSQL type. Specialise it (see the comment at the top).
template <class T> struct type_traits {};

/// T can be encoded and decoded (NULL aside).
template <class T>
concept pg_type = requires(const T& value, std::string& out, std::string_view bytes, oid_t type)
{
    {
        type_traits<T>::type_oid
        } -> std::convertible_to<oid_t>;
    {
        type_traits<T>::array_oid
        } -> std::convertible_to<oid_t>;
    {
        type_traits<T>::accepts(type)
        } -> std::convertible_to<bool>;
    type_traits<T>::encode(value, out);
    {
        type_traits<T>::decode(bytes, type)
        } -> std::same_as<T>;
};

template <class T> struct is_optional : std::false_type {};
template <class T> struct is_optional<std::optional<T>> : std::true_type {};
template <class T> inline constexpr bool is_optional_v = is_optional<T>::value;

/// A value that can be a column or parameter: a pg_type or std::optional of one.
template <class T>
concept field_type = pg_type<T> ||(is_optional_v<T>&& pg_type<typename T::value_type>);

namespace detail {

/// The non-optional type behind a field_type.
template <class T> struct field_value_type {
    using type = T;
};
template <class T> struct field_value_type<std::optional<T>> {
    using type = T;
};
template <class T> using field_value_t = typename field_value_type<T>::type;

[[noreturn]] void throw_malformed(std::string_view what);
[[noreturn]] void throw_invalid_parameter(std::string_view what);

// Big-endian (network order) helpers shared by the codecs.
template <class U> constexpr U byteswap_unsigned(U u) noexcept
{
    if constexpr (sizeof(U) == 2)
        return static_cast<U>(__builtin_bswap16(u));
    else if constexpr (sizeof(U) == 4)
        return static_cast<U>(__builtin_bswap32(u));
    else
        return static_cast<U>(__builtin_bswap64(u));
}

template <std::integral I> inline void append_be(std::string& out, I value)
{
    using U = std::make_unsigned_t<I>;
    auto u = static_cast<U>(value);
    if constexpr (std::endian::native == std::endian::little && sizeof(U) > 1)
        u = byteswap_unsigned(u);
    char bytes[sizeof(U)];
    std::memcpy(bytes, &u, sizeof(U));
    out.append(bytes, sizeof(U));
}

template <std::integral I> inline I read_be(const char* data) noexcept
{
    using U = std::make_unsigned_t<I>;
    U u;
    std::memcpy(&u, data, sizeof(U));
    if constexpr (std::endian::native == std::endian::little && sizeof(U) > 1)
        u = byteswap_unsigned(u);
    return static_cast<I>(u);
}

/// Reads fixed-size big-endian integers from a buffer, throwing malformed_value on
/// overrun. Used by every variable-length decoder (arrays, numeric, interval).
class byte_reader {
public:
    explicit byte_reader(std::string_view bytes) noexcept : bytes_(bytes) {}

    template <std::integral I> I read()
    {
        if (bytes_.size() - pos_ < sizeof(I))
            throw_malformed("value truncated");
        I value = read_be<I>(bytes_.data() + pos_);
        pos_ += sizeof(I);
        return value;
    }

    std::string_view read_bytes(std::size_t count)
    {
        if (bytes_.size() - pos_ < count)
            throw_malformed("value truncated");
        std::string_view view = bytes_.substr(pos_, count);
        pos_ += count;
        return view;
    }

    std::size_t remaining() const noexcept { return bytes_.size() - pos_; }
    bool done() const noexcept { return pos_ == bytes_.size(); }

private:
    std::string_view bytes_;
    std::size_t pos_ = 0;
};

/// Wire format of a parameter of field type T: 1 (binary) unless the traits say 0 (text).
template <field_type T> constexpr int field_format() noexcept
{
    if constexpr (requires { type_traits<field_value_t<T>>::format; })
        return type_traits<field_value_t<T>>::format;
    else
        return 1;
}

/// OID to send for a parameter of field type T.
template <field_type T> constexpr oid_t field_oid() noexcept
{
    return type_traits<field_value_t<T>>::type_oid;
}

/// True when a column of `type` can be decoded into field type T.
template <field_type T> bool field_accepts(oid_t type) noexcept
{
    return type_traits<field_value_t<T>>::accepts(type);
}

/// Appends the binary form of `value` to `out`; returns false (and appends nothing) for
/// NULL (an empty std::optional).
template <field_type T> bool encode_field(const T& value, std::string& out)
{
    if constexpr (is_optional_v<T>) {
        if (!value)
            return false;
        type_traits<typename T::value_type>::encode(*value, out);
    } else {
        type_traits<T>::encode(value, out);
    }
    return true;
}

[[noreturn]] void throw_unexpected_null();

/// The value inside a field: `value` itself, or what a (non-empty) std::optional holds.
template <field_type T> const field_value_t<T>& field_value(const T& value) noexcept
{
    if constexpr (is_optional_v<T>)
        return *value;
    else
        return value;
}

/// Decodes one value; `bytes` is empty (nullopt) for NULL. NULL into a non-optional T
/// throws client_errc::unexpected_null.
template <field_type T> T decode_field(std::optional<std::string_view> bytes, oid_t type)
{
    if constexpr (is_optional_v<T>) {
        if (!bytes)
            return std::nullopt;
        return type_traits<typename T::value_type>::decode(*bytes, type);
    } else {
        if (!bytes)
            throw_unexpected_null();
        return type_traits<T>::decode(*bytes, type);
    }
}

} // namespace detail
} // namespace pgcoro
