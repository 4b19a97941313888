// numeric text ↔ binary conversion. The binary layout and limits follow PostgreSQL's
// src/backend/utils/adt/numeric.c (numeric_send / numeric_recv, make_result, numeric_out):
// a value is sign × Σ digits[i] × 10000^(weight − i), printed with `dscale` digits after
// the decimal point.

#include <pgcoro/types/numeric.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <vector>

namespace pgcoro {
namespace {

constexpr std::uint16_t sign_positive = 0x0000;
constexpr std::uint16_t sign_negative = 0x4000;
constexpr std::uint16_t sign_nan = 0xC000;
constexpr std::uint16_t sign_positive_infinity = 0xD000;
constexpr std::uint16_t sign_negative_infinity = 0xF000;

constexpr int base = 10000;                 // NBASE
constexpr int decimal_digits_per_digit = 4; // DEC_DIGITS
constexpr int max_weight = 32767;           // NUMERIC_WEIGHT_MAX: 10^131072 is too big
constexpr int max_dscale = 0x3FFF;          // NUMERIC_DSCALE_MAX / NUMERIC_DSCALE_MASK
constexpr std::array<int, 4> powers_of_ten{1, 10, 100, 1000};

// ---- text → binary -------------------------------------------------------------------

bool is_space(char c) noexcept
{
    // The characters isspace() matches in the C locale, which numeric_in skips.
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

bool is_digit(char c) noexcept
{
    return c >= '0' && c <= '9';
}

// ASCII-only and locale-independent, like PostgreSQL's pg_strncasecmp (b is lower case).
bool iequals(std::string_view a, std::string_view b) noexcept
{
    if (a.size() != b.size())
        return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char c = a[i];
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
        if (c != b[i])
            return false;
    }
    return true;
}

std::string_view trim(std::string_view text) noexcept
{
    while (!text.empty() && is_space(text.front()))
        text.remove_prefix(1);
    while (!text.empty() && is_space(text.back()))
        text.remove_suffix(1);
    return text;
}

void append_header(std::string& out, std::size_t ndigits, std::int64_t weight, std::uint16_t sign,
                   std::int64_t dscale)
{
    detail::append_be(out, static_cast<std::uint16_t>(ndigits));
    detail::append_be(out, static_cast<std::int16_t>(weight));
    detail::append_be(out, sign);
    detail::append_be(out, static_cast<std::int16_t>(dscale));
}

[[noreturn]] void throw_not_a_number()
{
    // The parameter's text is deliberately not quoted: parameter values never appear in
    // pgcoro's error messages.
    detail::throw_invalid_parameter("numeric parameter is not a valid number (expected "
                                    "[+-]digits[.digits][e[+-]digits], NaN or Infinity)");
}

[[noreturn]] void throw_overflow()
{
    detail::throw_invalid_parameter(
        "numeric parameter overflows PostgreSQL's numeric format (at most 131072 digits "
        "before the decimal point and 16383 after it)");
}

// Rounds towards negative infinity, unlike `/`, so that decimal position -1 lands in
// base-10000 digit -1.
constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept
{
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// The digits of "123.45" with the decimal point removed, without copying them.
struct digit_string {
    std::string_view integer;
    std::string_view fraction;

    std::size_t size() const noexcept { return integer.size() + fraction.size(); }
    int operator[](std::size_t i) const noexcept
    {
        return (i < integer.size() ? integer[i] : fraction[i - integer.size()]) - '0';
    }
};

// exponent_limit mirrors numeric_in, which refuses |exponent| >= INT_MAX / 2 before doing
// any arithmetic with it; it also keeps every sum below far from int64 overflow.
constexpr std::int64_t exponent_limit = 0x7FFFFFFF / 2;

void encode_finite(std::string_view text, std::string& out)
{
    std::size_t pos = 0;
    bool negative = false;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
        negative = text[pos] == '-';
        ++pos;
    }
    const std::size_t integer_start = pos;
    while (pos < text.size() && is_digit(text[pos]))
        ++pos;
    digit_string digits{text.substr(integer_start, pos - integer_start), {}};
    if (pos < text.size() && text[pos] == '.') {
        const std::size_t fraction_start = ++pos;
        while (pos < text.size() && is_digit(text[pos]))
            ++pos;
        digits.fraction = text.substr(fraction_start, pos - fraction_start);
    }
    if (digits.size() == 0)
        throw_not_a_number();

    std::int64_t exponent = 0;
    if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
        ++pos;
        bool exponent_negative = false;
        if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
            exponent_negative = text[pos] == '-';
            ++pos;
        }
        if (pos == text.size() || !is_digit(text[pos]))
            throw_not_a_number();
        for (; pos < text.size() && is_digit(text[pos]); ++pos) {
            exponent = exponent * 10 + (text[pos] - '0');
            if (exponent >= exponent_limit)
                throw_overflow();
        }
        if (exponent_negative)
            exponent = -exponent;
    }
    if (pos != text.size())
        throw_not_a_number();

    // numeric_in: the scale is the number of digits written after the point, less the
    // exponent, never negative. It is kept even for zero ("0.000").
    const auto fraction_length = static_cast<std::int64_t>(digits.fraction.size());
    const std::int64_t dscale = std::max<std::int64_t>(0, fraction_length - exponent);
    if (dscale > max_dscale)
        throw_overflow();

    std::size_t first = 0;
    while (first < digits.size() && digits[first] == 0)
        ++first;
    if (first == digits.size()) {
        // make_result: zero is stored with no digits, weight 0 and a positive sign.
        append_header(out, 0, 0, sign_positive, dscale);
        return;
    }
    std::size_t last = digits.size() - 1;
    while (digits[last] == 0)
        --last;

    // Decimal position of digit i: 10^position. The string's length is bounded by memory,
    // and by dscale <= 16383 on the fraction side, so these stay small.
    const auto integer_length = static_cast<std::int64_t>(digits.integer.size());
    auto position = [&](std::size_t i) {
        return integer_length - 1 - static_cast<std::int64_t>(i) + exponent;
    };
    const std::int64_t weight = floor_div(position(first), decimal_digits_per_digit);
    const std::int64_t last_weight = floor_div(position(last), decimal_digits_per_digit);
    if (weight > max_weight)
        throw_overflow();
    // dscale <= 16383 bounds last_weight below by -4096, so ndigits <= 32768 + 4096.
    const auto ndigits = static_cast<std::size_t>(weight - last_weight + 1);

    std::vector<int> base_digits(ndigits, 0);
    for (std::size_t i = first; i <= last; ++i) {
        const std::int64_t p = position(i);
        const std::int64_t group = floor_div(p, decimal_digits_per_digit);
        const std::int64_t power = p - group * decimal_digits_per_digit;
        base_digits[static_cast<std::size_t>(weight - group)] +=
            digits[i] * powers_of_ten[static_cast<std::size_t>(power)];
    }

    append_header(out, ndigits, weight, negative ? sign_negative : sign_positive, dscale);
    for (int digit : base_digits)
        detail::append_be(out, static_cast<std::int16_t>(digit));
}

// ---- binary → text -------------------------------------------------------------------

void append_four_digits(std::string& out, int digit)
{
    const char chars[4] = {static_cast<char>('0' + digit / 1000), static_cast<char>('0' + digit / 100 % 10),
                           static_cast<char>('0' + digit / 10 % 10), static_cast<char>('0' + digit % 10)};
    out.append(chars, 4);
}

// numeric_out (get_str_from_var) applied to the value numeric_recv would store: digits
// past dscale are truncated, leading and trailing zero digits stripped, and a value that
// ends up zero is positive (make_result).
std::string render(const std::vector<int>& stored_digits, int weight, int dscale, bool negative)
{
    std::size_t first = 0;
    std::size_t last = stored_digits.size();
    while (first < last && stored_digits[first] == 0) {
        ++first;
        --weight;
    }
    while (last > first && stored_digits[last - 1] == 0)
        --last;
    if (first == last)
        weight = 0;
    const auto count = static_cast<std::int64_t>(last - first);
    auto digit_at = [&](std::int64_t i) {
        return i >= 0 && i < count ? stored_digits[first + static_cast<std::size_t>(i)] : 0;
    };

    std::string out;
    out.reserve(1 + (weight >= 0 ? static_cast<std::size_t>(weight + 1) * 4 : 1) +
                static_cast<std::size_t>(dscale) + 1);
    out.push_back('-'); // removed below if the printed value is zero
    std::int64_t i = 0;
    if (weight < 0) {
        out.push_back('0');
        i = weight + 1;
    } else {
        // The first digit is printed without leading zeros, the others zero-padded.
        char buffer[8];
        const auto result = std::to_chars(buffer, buffer + sizeof buffer, digit_at(0));
        out.append(buffer, result.ptr);
        for (i = 1; i <= weight; ++i)
            append_four_digits(out, digit_at(i));
    }
    if (dscale > 0) {
        out.push_back('.');
        const std::size_t end = out.size() + static_cast<std::size_t>(dscale);
        for (; out.size() < end; ++i)
            append_four_digits(out, digit_at(i));
        out.resize(end); // the last digit group may hold digits beyond dscale
    }
    // numeric_recv truncates to dscale; if nothing non-zero was printed, the stored
    // value is zero and so positive.
    const bool nonzero = out.find_first_of("123456789") != std::string::npos;
    if (!(negative && nonzero))
        out.erase(0, 1);
    return out;
}

} // namespace

void type_traits<numeric>::encode(const numeric& value, std::string& out)
{
    const std::string_view text = trim(value.value);
    // The special values numeric_in recognises (the same spellings as float8in).
    if (iequals(text, "nan"))
        append_header(out, 0, 0, sign_nan, 0);
    else if (iequals(text, "infinity") || iequals(text, "+infinity") || iequals(text, "inf") ||
             iequals(text, "+inf"))
        append_header(out, 0, 0, sign_positive_infinity, 0);
    else if (iequals(text, "-infinity") || iequals(text, "-inf"))
        append_header(out, 0, 0, sign_negative_infinity, 0);
    else
        encode_finite(text, out);
}

numeric type_traits<numeric>::decode(std::string_view bytes, oid_t)
{
    if (bytes.size() < 8)
        detail::throw_malformed("malformed numeric value: shorter than its 8-byte header");
    detail::byte_reader reader(bytes);
    // numeric_recv reads ndigits as unsigned: the largest numeric has 36864 digits.
    const auto ndigits = reader.read<std::uint16_t>();
    const auto weight = reader.read<std::int16_t>();
    const auto sign = reader.read<std::uint16_t>();
    const auto dscale = reader.read<std::uint16_t>();
    if (reader.remaining() != std::size_t{ndigits} * 2)
        detail::throw_malformed("malformed numeric value: size does not match its digit count");
    if (sign != sign_positive && sign != sign_negative && sign != sign_nan &&
        sign != sign_positive_infinity && sign != sign_negative_infinity)
        detail::throw_malformed("malformed numeric value: invalid sign");
    if (dscale > max_dscale)
        detail::throw_malformed("malformed numeric value: invalid scale");
    std::vector<int> digits(ndigits);
    for (int& digit : digits) {
        digit = reader.read<std::int16_t>();
        if (digit < 0 || digit >= base)
            detail::throw_malformed("malformed numeric value: digit outside 0..9999");
    }

    switch (sign) {
    case sign_nan:
        return numeric{"NaN"};
    case sign_positive_infinity:
        return numeric{"Infinity"};
    case sign_negative_infinity:
        return numeric{"-Infinity"};
    default:
        return numeric{render(digits, weight, dscale, sign == sign_negative)};
    }
}

} // namespace pgcoro
