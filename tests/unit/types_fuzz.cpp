// Randomized robustness of every decoder: random buffers and mutations of valid encodings
// must either decode or throw pgcoro::error (malformed_value, or unexpected_null for a NULL
// array element), never anything else and never read out of bounds (run under ASan).
// Fixed seeds keep failures reproducible.

#include "types_support.hpp"

#include <pgcoro/types.hpp>

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>
#include <boost/uuid/string_generator.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

using namespace pgcoro;
using namespace pgcoro_test;
using namespace std::chrono_literals;

namespace {

enum class fuzz_mood { sad, happy };
BOOST_DESCRIBE_ENUM(fuzz_mood, sad, happy)

constexpr int iterations = 20'000;

// Bytes that steer decoders into their interesting branches: length words, signs, JSON
// punctuation, digits.
constexpr std::array<char, 16> interesting_bytes{'\x00', '\x01', '\x7f', '\x80', '\xff', '\x40', '\xc0', '{',
                                                 '}',    '[',    ']',    '"',    ':',    ',',    '1',    'e'};

std::string random_bytes(std::mt19937_64& rng)
{
    std::string bytes(rng() % 65, '\0');
    const bool interesting = rng() % 4 == 0;
    for (char& c : bytes)
        c = interesting ? interesting_bytes[rng() % interesting_bytes.size()] : static_cast<char>(rng());
    return bytes;
}

void overwrite(std::string& bytes, std::size_t at, std::uint32_t value, std::size_t width)
{
    for (std::size_t i = 0; i < width && at + i < bytes.size(); ++i)
        bytes[at + i] = static_cast<char>(value >> (8 * (width - 1 - i)));
}

std::string mutate(std::string bytes, std::mt19937_64& rng)
{
    constexpr std::array<std::uint32_t, 7> hostile_words{0x7fffffff, 0xffffffff, 0x80000000, 0,
                                                         1,          0xfffffffe, 2};
    constexpr std::array<std::uint32_t, 7> hostile_halves{0x7fff, 0xffff, 0x8000, 0x4000,
                                                          0xc000, 0x2710, 0xd000};
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations; ++m) {
        const std::size_t at = bytes.empty() ? 0 : rng() % bytes.size();
        switch (rng() % 6) {
        case 0:
            if (!bytes.empty())
                bytes[at] = static_cast<char>(rng());
            break;
        case 1:
            bytes.resize(at);
            break;
        case 2:
            bytes.append(random_bytes(rng).substr(0, 1 + rng() % 8));
            break;
        case 3:
            bytes.insert(at, random_bytes(rng).substr(0, 1 + rng() % 4));
            break;
        case 4: {
            const std::uint32_t word = hostile_words[rng() % hostile_words.size()];
            overwrite(bytes, at & ~std::size_t{3}, word, 4);
            break;
        }
        default: {
            const std::uint32_t half = hostile_halves[rng() % hostile_halves.size()];
            overwrite(bytes, at & ~std::size_t{1}, half, 2);
            break;
        }
        }
    }
    return bytes;
}

/// Decodes `iterations` random and mutated buffers as T from a column of `type`.
template <class T> void fuzz(oid_t type, const std::vector<std::string>& valid, std::uint64_t seed)
{
    std::mt19937_64 rng(seed);
    std::size_t decoded = 0;
    std::size_t rejected = 0;
    std::size_t wrong_code = 0;
    std::size_t foreign = 0;
    for (int i = 0; i < iterations; ++i) {
        const std::string bytes =
            (i % 2 == 0 || valid.empty()) ? random_bytes(rng) : mutate(valid[rng() % valid.size()], rng);
        try {
            (void)type_traits<T>::decode(bytes, type);
            ++decoded;
        } catch (const pgcoro::error& e) {
            ++rejected;
            if (e.code() != client_errc::malformed_value && e.code() != client_errc::unexpected_null) {
                ++wrong_code;
                BOOST_TEST_MESSAGE("unexpected code for " << to_hex(bytes) << ": " << e.what());
            }
        } catch (...) {
            ++foreign;
            BOOST_TEST_MESSAGE("foreign exception for " << to_hex(bytes));
        }
    }
    BOOST_TEST_CONTEXT(type_name(type) << " seed " << seed)
    {
        BOOST_TEST(foreign == 0u);
        BOOST_TEST(wrong_code == 0u);
        BOOST_TEST(decoded + rejected == static_cast<std::size_t>(iterations));
    }
}

template <class T> std::vector<std::string> encodings(std::initializer_list<T> values)
{
    std::vector<std::string> out;
    for (const T& value : values)
        out.push_back(encode(value));
    return out;
}

using sys_us = std::chrono::sys_time<std::chrono::microseconds>;
using sys_ns = std::chrono::sys_time<std::chrono::nanoseconds>;
using local_us = std::chrono::local_time<std::chrono::microseconds>;

} // namespace

BOOST_AUTO_TEST_SUITE(types_fuzz)

BOOST_AUTO_TEST_CASE(fixed_width_decoders_survive_random_input)
{
    fuzz<bool>(oids::bool_, encodings({true, false}), 1);
    fuzz<std::int16_t>(oids::int2, encodings<std::int16_t>({-1, 300}), 2);
    fuzz<std::int32_t>(oids::int2, encodings<std::int16_t>({-1, 300}), 3);
    fuzz<std::int32_t>(oids::int4, encodings<std::int32_t>({-1, 70000}), 4);
    fuzz<std::int64_t>(oids::int2, encodings<std::int16_t>({7}), 5);
    fuzz<std::int64_t>(oids::int4, encodings<std::int32_t>({7}), 6);
    fuzz<std::int64_t>(oids::int8, encodings<std::int64_t>({-7, 1LL << 40}), 7);
    fuzz<float>(oids::float4, encodings({1.5f}), 8);
    fuzz<double>(oids::float4, encodings({1.5f}), 9);
    fuzz<double>(oids::float8, encodings({1.5, -0.0}), 10);
    const auto uuid = boost::uuids::string_generator()("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    fuzz<boost::uuids::uuid>(oids::uuid, encodings({uuid}), 11);
    fuzz<interval>(oids::interval, encodings({interval{1, 2, 3}}), 12);
}

BOOST_AUTO_TEST_CASE(chrono_decoders_survive_random_input)
{
    const sys_us moment = std::chrono::sys_days{std::chrono::year{2024} / 2 / 29} + 1us;
    fuzz<sys_us>(oids::timestamptz, encodings({moment, sys_us::max(), sys_us::min()}), 21);
    fuzz<sys_ns>(oids::timestamptz, encodings({moment}), 22);
    fuzz<local_us>(oids::timestamp, encodings({local_us{moment.time_since_epoch()}}), 23);
    const std::chrono::year_month_day day{std::chrono::year{1999} / 12 / 31};
    fuzz<std::chrono::sys_days>(oids::date, encodings({std::chrono::sys_days{day}}), 24);
    fuzz<std::chrono::year_month_day>(oids::date, encodings({day}), 25);
}

BOOST_AUTO_TEST_CASE(text_like_decoders_survive_random_input)
{
    fuzz<std::string>(oids::text, encodings<std::string>({"hello"}), 31);
    fuzz<std::string_view>(oids::varchar, encodings<std::string_view>({"hello"}), 32);
    fuzz<std::vector<std::byte>>(oids::bytea, encodings({std::vector<std::byte>{std::byte{1}}}), 33);
    fuzz<fuzz_mood>(16385, encodings({fuzz_mood::happy}), 34);
}

BOOST_AUTO_TEST_CASE(numeric_decoder_survives_random_input)
{
    fuzz<numeric>(oids::numeric,
                  encodings<numeric>({{"12345.678"},
                                      {"-0.5"},
                                      {"NaN"},
                                      {"1e100"},
                                      {"0.000"},
                                      {"-123456789012345678901234567890.0987654321"}}),
                  41);
}

BOOST_AUTO_TEST_CASE(json_decoders_survive_random_input)
{
    const boost::json::value document = boost::json::parse(R"({"a":[1,2.5,"x",{"b":null}],"c":true})");
    fuzz<boost::json::value>(oids::jsonb, encodings({document}), 51);
    std::vector<std::string> texts;
    for (const std::string& jsonb : encodings({document}))
        texts.push_back(jsonb.substr(1));
    fuzz<boost::json::value>(oids::json, texts, 52);
}

BOOST_AUTO_TEST_CASE(array_decoders_survive_random_input_and_hostile_headers)
{
    fuzz<std::vector<std::int32_t>>(oids::int4_array, encodings<std::vector<std::int32_t>>({{1, 2, 3}, {}}),
                                    61);
    fuzz<std::vector<std::optional<std::int64_t>>>(
        oids::int8_array, encodings<std::vector<std::optional<std::int64_t>>>({{1, std::nullopt, -3}}), 62);
    fuzz<std::vector<std::string>>(oids::text_array, encodings<std::vector<std::string>>({{"a", "", "bcd"}}),
                                   63);
    fuzz<std::vector<std::optional<std::string>>>(
        oids::text_array, encodings<std::vector<std::optional<std::string>>>({{"a", std::nullopt}}), 64);
    fuzz<std::vector<bool>>(oids::bool_array, encodings<std::vector<bool>>({{true, false}}), 65);
    fuzz<std::vector<numeric>>(oids::numeric_array, encodings<std::vector<numeric>>({{{"1.5"}, {"-2"}}}), 66);
    fuzz<std::vector<sys_us>>(oids::timestamptz_array,
                              encodings<std::vector<sys_us>>({{sys_us{}, sys_us::max()}}), 67);
    fuzz<std::vector<boost::json::value>>(
        oids::jsonb_array,
        encodings<std::vector<boost::json::value>>({{boost::json::parse("[1,{}]"), nullptr}}), 68);
    fuzz<std::vector<std::optional<interval>>>(
        oids::interval_array,
        encodings<std::vector<std::optional<interval>>>({{interval{1, 2, 3}, std::nullopt}}), 69);
    fuzz<std::vector<double>>(oids::float8_array, encodings<std::vector<double>>({{0.5, -1.0}}), 70);
    fuzz<std::vector<std::vector<std::byte>>>(
        oids::bytea_array, encodings<std::vector<std::vector<std::byte>>>({{{std::byte{1}}, {}}}), 71);
}

BOOST_AUTO_TEST_SUITE_END()
