// The keyset paging cursor token: layout, strict base64url, signatures, and robustness against
// anything a client might send back. Fixed seeds keep the randomized cases reproducible.

#include <pgcoro/detail/cursor.hpp>
#include <pgcoro/error.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

using pgcoro::client_errc;
using pgcoro::detail::cursor_data;
using pgcoro::detail::cursor_value;
using pgcoro::detail::decode_cursor;
using pgcoro::detail::encode_cursor;

namespace {

constexpr std::string_view key = "test signing key";
constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

cursor_value null_value()
{
    return {true, {}};
}

cursor_value value(std::string bytes)
{
    return {false, std::move(bytes)};
}

// An independent base64url (no padding) for hand-built layouts.
std::string to_base64url(std::string_view bytes)
{
    std::string text;
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        std::uint32_t group = 0;
        const std::size_t n = std::min<std::size_t>(3, bytes.size() - i);
        for (std::size_t j = 0; j < 3; ++j)
            group = (group << 8) | (j < n ? static_cast<unsigned char>(bytes[i + j]) : 0u);
        for (std::size_t j = 0; j < n + 1; ++j)
            text += alphabet[(group >> (18 - 6 * j)) & 0x3f];
    }
    return text;
}

std::vector<cursor_data> sample_cursors()
{
    std::vector<cursor_data> cursors;
    cursors.push_back({});
    cursors.push_back({true, 0xffffffff, {null_value()}});
    cursors.push_back({false, 1, {value("")}});
    cursors.push_back({true, 0x80000000, {value(std::string("\0\x01\0\xff\0", 5)), null_value(), value("")}});
    cursors.push_back({false, 42, {value("2024-01-01"), value(std::string(8, '\0'))}});
    cursor_data many{true, 7, {}};
    for (std::size_t i = 0; i < pgcoro::detail::max_cursor_values; ++i)
        many.values.push_back(i % 3 == 0 ? null_value() : value(std::string(i, static_cast<char>(i))));
    cursors.push_back(many);
    return cursors;
}

// The message of the invalid_cursor error decoding `token` throws; fails the test otherwise.
std::string expect_invalid_cursor(std::string_view token, std::string_view signing_key)
{
    try {
        decode_cursor(token, signing_key);
    } catch (const pgcoro::error& e) {
        BOOST_TEST_INFO("what(): " << e.what());
        BOOST_TEST((e.code() == client_errc::invalid_cursor));
        return e.what();
    }
    BOOST_ERROR("decode_cursor accepted an invalid token (length " << token.size() << ")");
    return {};
}

template <class Body> void expect_code(Body body, client_errc expected)
{
    try {
        body();
    } catch (const pgcoro::error& e) {
        BOOST_TEST_INFO("what(): " << e.what());
        BOOST_TEST((e.code() == expected));
        return;
    }
    BOOST_FAIL("expected a pgcoro::error");
}

// decode_cursor may only return or throw pgcoro::error (invalid_cursor), and whatever it
// accepts must re-encode to the very same token (one spelling per cursor). Returns whether it
// accepted the token.
bool decodes_or_rejects_cleanly(const std::string& token, std::string_view signing_key)
{
    try {
        const cursor_data c = decode_cursor(token, signing_key);
        BOOST_TEST(encode_cursor(c, signing_key) == token);
        return true;
    } catch (const pgcoro::error& e) {
        BOOST_TEST((e.code() == client_errc::invalid_cursor));
    } catch (...) {
        BOOST_ERROR("decode_cursor threw something other than pgcoro::error");
    }
    return false;
}

char other_alphabet_char(char c, std::size_t shift)
{
    const std::size_t at = alphabet.find(c);
    return alphabet[(at + shift) % alphabet.size()];
}

} // namespace

BOOST_AUTO_TEST_SUITE(cursor_tests)

BOOST_AUTO_TEST_CASE(cursors_of_every_shape_round_trip_signed_and_unsigned)
{
    for (const cursor_data& c : sample_cursors()) {
        BOOST_TEST((decode_cursor(encode_cursor(c, ""), "") == c));
        BOOST_TEST((decode_cursor(encode_cursor(c, key), key) == c));
    }
}

BOOST_AUTO_TEST_CASE(tokens_use_only_the_url_safe_alphabet)
{
    for (const cursor_data& c : sample_cursors()) {
        for (std::string_view signing_key : {std::string_view(), key}) {
            const std::string token = encode_cursor(c, signing_key);
            BOOST_TEST(!token.empty());
            BOOST_TEST(token.size() <= pgcoro::detail::max_cursor_length);
            BOOST_TEST(token.find_first_not_of(alphabet) == std::string::npos);
        }
    }
}

BOOST_AUTO_TEST_CASE(unsigned_token_follows_the_documented_layout)
{
    // version 1, flags "before", fingerprint 01020304, 2 values: NULL, then length 2 "ab".
    const cursor_data c{true, 0x01020304, {null_value(), value("ab")}};
    BOOST_TEST(encode_cursor(c, "") == "AQEBAgMEAgEAAAAAAmFi");
    BOOST_TEST(encode_cursor(c, "") == to_base64url(std::string("\1\1\1\2\3\4\2\1\0\0\0\0\2ab", 15)));
}

BOOST_AUTO_TEST_CASE(signed_token_appends_hmac_sha256_of_the_preceding_bytes)
{
    // Computed with Python's hmac module over 01 02 deadbeef 01 00 00000003 000102, key "secret".
    const cursor_data c{false, 0xdeadbeef, {value(std::string("\0\1\2", 3))}};
    BOOST_TEST(encode_cursor(c, "secret") ==
               "AQLerb7vAQAAAAADAAECwK3zh1_xxqDzvwX6yZcQuLXakn9ssJ8pV8BXn3BcIWs");
}

BOOST_AUTO_TEST_CASE(every_single_character_change_of_a_signed_token_is_rejected)
{
    for (const cursor_data& c : sample_cursors()) {
        const std::string token = encode_cursor(c, key);
        for (std::size_t i = 0; i < token.size(); ++i) {
            for (std::size_t shift = 1; shift < alphabet.size(); ++shift) {
                std::string changed = token;
                changed[i] = other_alphabet_char(token[i], shift);
                BOOST_TEST_CONTEXT("position " << i << ", shift " << shift)
                expect_invalid_cursor(changed, key);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(every_truncation_of_a_token_is_rejected)
{
    // The layout is self-delimiting and a strict base64url prefix decodes (if at all) to a
    // prefix of the bytes, so even an unsigned token cannot be cut into another valid one.
    for (const cursor_data& c : sample_cursors()) {
        for (std::string_view signing_key : {std::string_view(), key}) {
            const std::string token = encode_cursor(c, signing_key);
            for (std::size_t length = 0; length < token.size(); ++length)
                expect_invalid_cursor(std::string_view(token).substr(0, length), signing_key);
        }
    }
}

BOOST_AUTO_TEST_CASE(appended_characters_are_rejected)
{
    for (const cursor_data& c : sample_cursors()) {
        for (std::string_view signing_key : {std::string_view(), key}) {
            const std::string token = encode_cursor(c, signing_key);
            for (char extra : alphabet) {
                expect_invalid_cursor(token + extra, signing_key);
                expect_invalid_cursor(token + extra + 'A', signing_key);
                expect_invalid_cursor(token + "AAAA", signing_key);
            }
        }
    }
}

BOOST_AUTO_TEST_CASE(a_token_signed_with_another_key_is_rejected)
{
    for (const cursor_data& c : sample_cursors()) {
        const std::string token = encode_cursor(c, key);
        expect_invalid_cursor(token, "another key");
        expect_invalid_cursor(token, std::string(key) + "x");
        expect_invalid_cursor(token, key.substr(1));
    }
}

BOOST_AUTO_TEST_CASE(a_signed_token_read_without_a_key_is_rejected)
{
    for (const cursor_data& c : sample_cursors())
        expect_invalid_cursor(encode_cursor(c, key), "");
}

BOOST_AUTO_TEST_CASE(an_unsigned_token_read_with_a_key_is_rejected)
{
    for (const cursor_data& c : sample_cursors())
        expect_invalid_cursor(encode_cursor(c, ""), key);
}

BOOST_AUTO_TEST_CASE(garbage_tokens_are_rejected_as_invalid_cursor)
{
    const std::string valid = encode_cursor(sample_cursors()[3], "");
    const std::vector<std::string> garbage{
        "",
        "=",
        "====",
        valid + "=",
        valid + "==",
        " " + valid,
        valid + "\n",
        valid.substr(0, 4) + " " + valid.substr(4),
        valid.substr(0, 4) + "+" + valid.substr(5), // the standard base64 alphabet is not base64url
        valid.substr(0, 4) + "/" + valid.substr(5),
        "caf\xc3\xa9",
        "\xff\xfe\xfd\xfc",
        std::string("AQ\0AAAAA", 8),
        "A",
        "AA",
        "AQ",
        "AQA",
        std::string(pgcoro::detail::max_cursor_length + 1, 'A'),
        std::string(1'000'000, 'A'),
        std::string(1'000'000, '\xff'),
    };
    for (std::size_t i = 0; i < garbage.size(); ++i) {
        BOOST_TEST_CONTEXT("garbage " << i)
        expect_invalid_cursor(garbage[i], "");
        BOOST_TEST_CONTEXT("garbage " << i << " with a key")
        expect_invalid_cursor(garbage[i], key);
    }
}

BOOST_AUTO_TEST_CASE(a_final_character_with_unused_bits_set_is_rejected)
{
    // 13 bytes end in one byte: the last character carries 2 of its bits, the other 4 must be 0.
    const std::string bytes("\1\0\0\0\0\7\1\0\0\0\0\1x", 13);
    const std::string token = to_base64url(bytes);
    BOOST_TEST((decode_cursor(token, "") == cursor_data{false, 7, {value("x")}}));
    const std::size_t last = alphabet.find(token.back());
    BOOST_TEST(last % 16 == 0);
    for (std::size_t low = 1; low < 16; ++low) {
        std::string respelled = token;
        respelled.back() = alphabet[last + low];
        expect_invalid_cursor(respelled, "");
    }
}

BOOST_AUTO_TEST_CASE(malformed_layouts_are_rejected)
{
    const std::vector<std::string> layouts{
        std::string("\0\0\0\0\0\0\0", 7),                            // version 0
        std::string("\2\0\0\0\0\0\0", 7),                            // version 2
        std::string("\1\x08\0\0\0\0\0", 7),                          // unknown flag bit
        std::string("\1\x80\0\0\0\0\0", 7),                          // unknown flag bit
        std::string("\1\0\0\0\0\0", 6),                              // no value count
        std::string("\1\0\0\0\0\0\1", 7),                            // one value announced, none there
        std::string("\1\0\0\0\0\0\1\2", 8),                          // null flag 2
        std::string("\1\0\0\0\0\0\1\2\0\0\0\0", 12),                 // null flag 2, as if non-NULL and empty
        std::string("\1\0\0\0\0\0\1\0\0\0\0", 11),                   // length cut short
        std::string("\1\0\0\0\0\0\1\0\0\0\0\2a", 13),                // value shorter than its length
        std::string("\1\0\0\0\0\0\1\0\xff\xff\xff\xff", 12),         // length 4 GiB
        std::string("\1\0\0\0\0\0\1\0\x7f\xff\xff\xff", 12),         // length 2 GiB
        std::string("\1\0\0\0\0\0\0\0", 8),                          // trailing byte
        std::string("\1\0\0\0\0\0\1\1\1", 9),                        // trailing byte after a NULL
        std::string("\1\0\0\0\0\0\x21", 7) + std::string(33, '\1'),  // 33 values
        std::string("\1\0\0\0\0\0\xff", 7) + std::string(255, '\1'), // 255 values
    };
    for (std::size_t i = 0; i < layouts.size(); ++i) {
        BOOST_TEST_CONTEXT("layout " << i)
        expect_invalid_cursor(to_base64url(layouts[i]), "");
    }
    // Signed flag with a missing or short signature.
    expect_invalid_cursor(to_base64url(std::string("\1\2\0\0\0\0\0", 7)), key);
    expect_invalid_cursor(to_base64url(std::string("\1\2\0\0\0\0\0", 7) + std::string(31, 'x')), key);
    expect_invalid_cursor(to_base64url(std::string("\1\2\0\0\0\0\0", 7) + std::string(32, 'x')), key);
}

BOOST_AUTO_TEST_CASE(error_messages_never_contain_the_key_or_more_than_a_token_prefix)
{
    cursor_data c{false, 9, {value("alice@example.com"), value("secret value")}};
    const std::string token = encode_cursor(c, key);
    const std::string long_garbage = token + std::string(5000, 'Q');
    for (const std::string& message :
         {expect_invalid_cursor(token, "wrong key"), expect_invalid_cursor(token, ""),
          expect_invalid_cursor(token + "A", key),
          expect_invalid_cursor(token.substr(0, token.size() - 4), key),
          expect_invalid_cursor(long_garbage, key)}) {
        BOOST_TEST_INFO("message: " << message);
        BOOST_TEST(message.find(key) == std::string::npos);
        BOOST_TEST(message.find("wrong key") == std::string::npos);
        BOOST_TEST(message.find(token.substr(0, 9)) == std::string::npos);
        BOOST_TEST(message.find(token.substr(0, 8)) != std::string::npos);
        BOOST_TEST(message.size() < 200);
    }
}

BOOST_AUTO_TEST_CASE(the_longest_encodable_cursor_is_the_longest_accepted)
{
    // 7 header bytes + 5 value framing bytes + 3060 = 3072 bytes = exactly 4096 characters; a
    // signature takes 32 of them.
    struct limit {
        std::string_view signing_key;
        std::size_t value_length;
    };
    for (const limit& l : {limit{"", 3060}, limit{key, 3028}}) {
        const cursor_data largest{false, 1, {value(std::string(l.value_length, 'v'))}};
        const std::string token = encode_cursor(largest, l.signing_key);
        BOOST_TEST(token.size() == pgcoro::detail::max_cursor_length);
        BOOST_TEST((decode_cursor(token, l.signing_key) == largest));
        const cursor_data too_large{false, 1, {value(std::string(l.value_length + 1, 'v'))}};
        expect_code([&] { encode_cursor(too_large, l.signing_key); }, client_errc::invalid_argument);
    }
    // A well-formed layout one byte over the limit is refused all the same.
    const std::string over_limit =
        to_base64url(std::string("\1\0\0\0\0\1\1\0\0\0\x0b\xf5", 12) + std::string(3061, 'v'));
    BOOST_TEST(over_limit.size() == pgcoro::detail::max_cursor_length + 2);
    expect_invalid_cursor(over_limit, "");
    const cursor_data huge{false, 1, {value(std::string(100'000, 'v'))}};
    expect_code([&] { encode_cursor(huge, ""); }, client_errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(encoding_refuses_cursors_decoding_would_reject)
{
    cursor_data too_many{false, 1, std::vector<cursor_value>(pgcoro::detail::max_cursor_values + 1)};
    expect_code([&] { encode_cursor(too_many, ""); }, client_errc::invalid_argument);
    const cursor_data null_with_bytes{false, 1, {{true, "x"}}};
    expect_code([&] { encode_cursor(null_with_bytes, key); }, client_errc::invalid_argument);
}

BOOST_AUTO_TEST_CASE(random_tokens_only_decode_or_throw_invalid_cursor)
{
    std::mt19937_64 rng(20240611);
    int accepted = 0;
    for (int i = 0; i < 20'000; ++i) {
        std::string bytes(rng() % 48, '\0');
        for (char& b : bytes)
            b = static_cast<char>(rng());
        // Often a plausible header, so the value parser is reached too.
        if (bytes.size() >= 7 && rng() % 2 == 0) {
            bytes[0] = '\1';
            bytes[1] = static_cast<char>(rng() % 4);
            bytes[6] = static_cast<char>(rng() % 4);
            for (std::size_t at = 7; at < bytes.size(); ++at)
                if (rng() % 2 == 0)
                    bytes[at] = static_cast<char>(rng() % 3);
        }
        const std::string token = to_base64url(bytes);
        if (decodes_or_rejects_cleanly(token, ""))
            ++accepted;
        BOOST_TEST(!decodes_or_rejects_cleanly(token, key)); // forging a MAC by chance: 2^-256
    }
    BOOST_TEST_MESSAGE("random tokens accepted unsigned: " << accepted);
    BOOST_TEST(accepted > 0);
}

BOOST_AUTO_TEST_CASE(mutated_tokens_only_decode_or_throw_invalid_cursor)
{
    std::mt19937_64 rng(7);
    const std::vector<cursor_data> cursors = sample_cursors();
    for (int i = 0; i < 20'000; ++i) {
        const bool is_signed = rng() % 2 == 0;
        const std::string_view signing_key = is_signed ? key : std::string_view();
        std::string token = encode_cursor(cursors[rng() % cursors.size()], signing_key);
        const std::string original = token;
        const int mutations = 1 + static_cast<int>(rng() % 3);
        for (int m = 0; m < mutations; ++m) {
            const std::size_t at = token.empty() ? 0 : rng() % token.size();
            switch (rng() % 5) {
            case 0:
                if (!token.empty())
                    token[at] = alphabet[rng() % alphabet.size()];
                break;
            case 1:
                if (!token.empty())
                    token[at] = static_cast<char>(rng());
                break;
            case 2:
                token.resize(at);
                break;
            case 3:
                token.insert(at, 1, alphabet[rng() % alphabet.size()]);
                break;
            case 4:
                if (!token.empty())
                    token.erase(at, 1);
                break;
            }
        }
        const bool accepted = decodes_or_rejects_cleanly(token, signing_key);
        if (is_signed && accepted)
            BOOST_TEST(token == original);
    }
}

BOOST_AUTO_TEST_CASE(fingerprint_is_32_bit_fnv1a)
{
    // Reference values of the FNV-1a 32-bit test suite.
    BOOST_TEST(pgcoro::detail::cursor_fingerprint("") == 0x811c9dc5u);
    BOOST_TEST(pgcoro::detail::cursor_fingerprint("a") == 0xe40c292cu);
    BOOST_TEST(pgcoro::detail::cursor_fingerprint("foobar") == 0xbf9cf968u);
    BOOST_TEST(pgcoro::detail::cursor_fingerprint("\"created_at\" DESC, \"id\" DESC") == 0x80da13f2u);
    BOOST_TEST(pgcoro::detail::cursor_fingerprint("\"id\" ASC") !=
               pgcoro::detail::cursor_fingerprint("\"id\" DESC"));
}

BOOST_AUTO_TEST_SUITE_END()
