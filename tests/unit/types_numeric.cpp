// Codec of numeric.hpp. Expected bytes and text were produced by PostgreSQL 15
// (numeric_send and numeric_out, or a binary parameter read back with ::text).

#include "types_support.hpp"

#include <pgcoro/types/numeric.hpp>

#include <boost/test/unit_test.hpp>

#include <string>
#include <utility>

using namespace pgcoro;
using namespace pgcoro_test;

BOOST_TEST_DONT_PRINT_LOG_VALUE(pgcoro::numeric)

namespace {

struct text_and_bytes {
    const char* text; // what numeric_out prints
    const char* hex;  // what numeric_send sends
};

// select t::numeric::text, encode(numeric_send(t::numeric), 'hex')
constexpr text_and_bytes postgres_numerics[] = {
    {"0", "0000000000000000"},
    {"0.00", "0000000000000002"},
    {"1", "00010000000000000001"},
    {"-1", "00010000400000000001"},
    {"1.50", "000200000000000200011388"},
    {"12345.678", "0003000100000003000109291a7c"},
    {"-0.5", "0001ffff400000011388"},
    {"0.0001", "0001ffff000000040001"},
    {"0.00001", "0001fffe0000000503e8"},
    {"10000", "00010001000000000001"},
    {"9999", "0001000000000000270f"},
    {"100000000", "00010002000000000001"},
    {"-100000000.00000001", "000500024000000800010000000000000001"},
    {"0.00000000000000000001", "0001fffb000000140001"},
    {"123456789012345678901234567890.123456789012345678901234567890",
     "001000070000001e000c0d801ed204d2162e23340d801ed204d2162e23340d801ed204d2162e2328"},
    {"NaN", "00000000c0000000"},
    {"3.14159", "0003000000000005000305872328"},
    {"-0.000123", "0002ffff40000006000108fc"},
    {"100000000000000000000", "00010005000000000001"},
    {"99999999.9999", "0003000100000004270f270f270f"},
    {"1.000000000000000000001", "000700000000001500010000000000000000000003e8"},
    {"-0.0000007", "0001fffe400000070046"},
    {"20000.00020000", "0003000100000008000200000002"},
};

numeric decode_hex(std::string_view hex)
{
    return decode<numeric>(from_hex(hex));
}

std::string thousand_digits()
{
    std::string digits = "9";
    for (int i = 1; i < 1000; ++i)
        digits.push_back(static_cast<char>('0' + (i * 7) % 10));
    return digits;
}

} // namespace

BOOST_AUTO_TEST_SUITE(types_numeric)

BOOST_AUTO_TEST_CASE(numeric_decode_matches_numeric_out)
{
    for (const auto& [text, hex] : postgres_numerics) {
        BOOST_TEST_CONTEXT(text)
        {
            BOOST_TEST(decode_hex(hex).value == text);
        }
    }
    // Infinities as numeric_send writes them (its dscale field is meaningless).
    BOOST_TEST(decode_hex("00000000d0000020").value == "Infinity");
    BOOST_TEST(decode_hex("00000000f0000020").value == "-Infinity");
}

BOOST_AUTO_TEST_CASE(numeric_encode_matches_numeric_send)
{
    for (const auto& [text, hex] : postgres_numerics) {
        BOOST_TEST_CONTEXT(text)
        {
            BOOST_TEST(to_hex(encode(numeric{text})) == hex);
        }
    }
    BOOST_TEST(to_hex(encode(numeric{"12345.678"})) ==
               to_hex(from_hex("0003 0001 0000 0003 0001 0929 1a7c")));
    BOOST_TEST(to_hex(encode(numeric{"Infinity"})) == "00000000d0000000");
    BOOST_TEST(to_hex(encode(numeric{"-Infinity"})) == "00000000f0000000");
}

BOOST_AUTO_TEST_CASE(numeric_decode_renders_what_postgres_would_store)
{
    // Binary values that numeric_send never produces but numeric_recv accepts; the
    // expected text is what the server printed for them (numeric_recv truncates to dscale,
    // strips zero digits and makes zero positive).
    BOOST_TEST(decode_hex("0001fffe400000020001").value == "0.00");     // -1e-8 at scale 2
    BOOST_TEST(decode_hex("0001ffff0000000204d2").value == "0.12");     // digits past dscale
    BOOST_TEST(decode_hex("0000000040000001").value == "0.0");          // negative zero
    BOOST_TEST(decode_hex("0002000100000000000004d2").value == "1234"); // leading zero digit
    BOOST_TEST(decode_hex("00010003000000000001").value == "1000000000000");
    BOOST_TEST(decode_hex("0001fffc00000014000b").value == "0.00000000000000110000");
}

BOOST_AUTO_TEST_CASE(numeric_encode_keeps_the_display_scale)
{
    BOOST_TEST(round_trip(numeric{"1.50"}).value == "1.50");
    BOOST_TEST(round_trip(numeric{"1e3"}).value == "1000");
    BOOST_TEST(round_trip(numeric{"1.50e1"}).value == "15.0");
    BOOST_TEST(round_trip(numeric{"1.5e-3"}).value == "0.0015");
    BOOST_TEST(round_trip(numeric{"0.000"}).value == "0.000");
    BOOST_TEST(round_trip(numeric{"-0"}).value == "0");
    BOOST_TEST(round_trip(numeric{"00012.3400"}).value == "12.3400");
}

BOOST_AUTO_TEST_CASE(numeric_encode_accepts_the_spellings_numeric_in_accepts)
{
    const std::pair<const char*, const char*> cases[] = {
        {"nan", "NaN"},
        {" NaN ", "NaN"},
        {"inf", "Infinity"},
        {"+inf", "Infinity"},
        {"-INF", "-Infinity"},
        {"+infinity", "Infinity"},
        {"INFINITY", "Infinity"},
        {" 1.5 ", "1.5"},
        {"\t-2\n", "-2"},
        {".5", "0.5"},
        {"5.", "5"},
        {"+.5", "0.5"},
        {"-.5", "-0.5"},
        {"1E+3", "1000"},
        {"12345678e-4", "1234.5678"},
    };
    for (const auto& [input, output] : cases) {
        BOOST_TEST_CONTEXT(input)
        {
            BOOST_TEST(round_trip(numeric{input}).value == output);
        }
    }
}

BOOST_AUTO_TEST_CASE(numeric_round_trips_special_values_and_a_thousand_digits)
{
    for (const char* text : {"NaN", "Infinity", "-Infinity", "0", "-1", "0.1"})
        BOOST_TEST(round_trip(numeric{text}).value == text);
    const std::string digits = thousand_digits();
    for (const std::string& text :
         {digits, "-" + digits, "0." + digits, digits + "." + digits, "-" + digits + "." + digits + "000"})
        BOOST_TEST(round_trip(numeric{text}).value == text);
}

BOOST_AUTO_TEST_CASE(numeric_round_trips_the_format_limits)
{
    const std::string largest(131072, '9'); // 131072 digits before the point
    BOOST_TEST(round_trip(numeric{largest}).value == largest);
    const std::string finest = "0." + std::string(16382, '0') + "1"; // scale 16383
    BOOST_TEST(round_trip(numeric{finest}).value == finest);
    BOOST_TEST(round_trip(numeric{"1e-16383"}).value == finest);
}

BOOST_AUTO_TEST_CASE(numeric_encode_rejects_garbage)
{
    for (const char* text :
         {"1.2.3", "abc", "",     " ",     "--1",  "1e",   "e1",      ".",    "+",   "-", "1e+",
          "1e-",   "1 2", "0x10", "1_000", "nan1", "+nan", "infinit", "1e 3", "1,5", "١٢"}) {
        BOOST_TEST_CONTEXT('"' << text << '"')
        {
            std::string out;
            BOOST_CHECK_EXCEPTION(type_traits<numeric>::encode(numeric{text}, out), error,
                                  has_code(client_errc::invalid_parameter));
            BOOST_TEST(out.empty());
        }
    }
    std::string out;
    BOOST_CHECK_EXCEPTION(type_traits<numeric>::encode(numeric{std::string("1\0", 2)}, out), error,
                          has_code(client_errc::invalid_parameter));
}

BOOST_AUTO_TEST_CASE(numeric_encode_rejects_values_that_overflow_the_format)
{
    for (const std::string& text :
         {std::string("1e131072"), std::string("1e-16384"), std::string("0e-16384"), std::string(131073, '9'),
          "0." + std::string(16384, '0'), std::string("1e2147483647"),
          std::string("1e99999999999999999999999"), std::string("1e-99999999999999999999")}) {
        BOOST_TEST_CONTEXT(text.substr(0, 20))
        {
            std::string out;
            BOOST_CHECK_EXCEPTION(type_traits<numeric>::encode(numeric{text}, out), error,
                                  has_code(client_errc::invalid_parameter));
        }
    }
    // A zero with a huge positive exponent is still zero, as in PostgreSQL.
    BOOST_TEST(round_trip(numeric{"0e100000"}).value == "0");
}

BOOST_AUTO_TEST_CASE(numeric_decode_rejects_an_invalid_header_or_digit)
{
    const std::pair<const char*, const char*> cases[] = {
        {"", "8-byte header"},
        {"00010000000000", "8-byte header"},
        {"0001000000000000", "digit count"},   // ndigits 1, no digit
        {"000000000000000000", "digit count"}, // a byte too many
        {"00010000000000000001ff", "digit count"},
        {"0000000012340000", "sign"},
        {"0000000080000000", "sign"},
        {"0000000000004000", "scale"}, // dscale 16384
        {"000000000000ffff", "scale"},
        {"00010000000000002710", "0..9999"},   // 10000
        {"0001000000000000ffff", "0..9999"},   // -1
        {"ffff00000000000000", "digit count"}, // 65535 digits claimed
    };
    for (const auto& [hex, fragment] : cases) {
        BOOST_TEST_CONTEXT(hex)
        {
            BOOST_CHECK_EXCEPTION(decode_hex(hex), error, malformed_saying(fragment));
        }
    }
    check_rejects_truncated_and_oversized<numeric>(from_hex("0003000100000003000109291a7c"), oids::numeric);
}

BOOST_AUTO_TEST_CASE(numeric_equality_is_textual)
{
    BOOST_TEST((numeric{"1.5"} == numeric{"1.5"}));
    BOOST_TEST(!(numeric{"1.5"} == numeric{"1.50"}));
    static_assert(type_traits<numeric>::type_oid == oids::numeric);
    static_assert(type_traits<numeric>::array_oid == oids::numeric_array);
    BOOST_TEST(type_traits<numeric>::accepts(oids::numeric));
    BOOST_TEST(!type_traits<numeric>::accepts(oids::float8));
}

BOOST_AUTO_TEST_SUITE_END()
