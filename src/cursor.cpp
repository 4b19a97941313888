#include <pgcoro/detail/cursor.hpp>
#include <pgcoro/detail/hash.hpp>
#include <pgcoro/error.hpp>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <array>
#include <climits>
#include <string>
#include <utility>

namespace pgcoro::detail {
namespace {

constexpr std::uint8_t cursor_version = 1;
constexpr std::uint8_t flag_before = 0x01;
constexpr std::uint8_t flag_signed = 0x02;
constexpr std::uint8_t flag_inclusive = 0x04;
constexpr std::size_t signature_size = 32; // HMAC-SHA256
constexpr std::size_t value_length_size = 4;

// Four base64url characters carry three bytes, so a token of max_cursor_length characters
// holds at most this many bytes.
static_assert(max_cursor_length % 4 == 0);
constexpr std::size_t max_cursor_bytes = max_cursor_length / 4 * 3;

// How much of a rejected token an error message repeats, to tell tokens apart in a log. Eight
// characters are six bytes: the version, the flags and the fingerprint, never a sort key value
// (those may be personal data).
constexpr std::size_t echoed_prefix_length = 8;

constexpr std::string_view base64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> make_base64url_values()
{
    std::array<std::int8_t, 256> values{};
    values.fill(-1);
    for (std::size_t i = 0; i < base64url_alphabet.size(); ++i)
        values[static_cast<unsigned char>(base64url_alphabet[i])] = static_cast<std::int8_t>(i);
    return values;
}

// The 6-bit value of each character, -1 for characters outside the alphabet (padding included).
constexpr std::array<std::int8_t, 256> base64url_values = make_base64url_values();

// The message reads "cursor token "AQIAAAAB...": <reason>"; error::what() then adds the
// category's "invalid paging cursor".
[[noreturn]] void reject(std::string_view token, std::string_view reason)
{
    std::string message = "cursor token";
    if (!token.empty()) {
        // Only alphabet characters are repeated: the rest of a hostile token may be control
        // characters or broken UTF-8 that would garble a log line.
        message += " \"";
        for (char c : token.substr(0, echoed_prefix_length))
            message += base64url_values[static_cast<unsigned char>(c)] >= 0 ? c : '?';
        message += token.size() > echoed_prefix_length ? "...\"" : "\"";
    }
    message += ": ";
    message += reason;
    throw error(client_errc::invalid_cursor, std::move(message));
}

std::string base64url_encode(std::string_view bytes)
{
    std::string text;
    text.reserve((bytes.size() + 2) / 3 * 4);
    std::uint32_t bits = 0;
    int bit_count = 0;
    for (char c : bytes) {
        bits = (bits << 8) | static_cast<unsigned char>(c);
        bit_count += 8;
        while (bit_count >= 6) {
            bit_count -= 6;
            text += base64url_alphabet[(bits >> bit_count) & 0x3f];
        }
        bits &= (1u << bit_count) - 1;
    }
    // The last character's unused low bits are zero: the only spelling decode accepts.
    if (bit_count > 0)
        text += base64url_alphabet[(bits << (6 - bit_count)) & 0x3f];
    return text;
}

// Strict: no padding, no whitespace, and the unused low bits of a final partial group must be
// zero, so a token cannot be respelled (and a signed one cannot be altered unnoticed even in
// bits the layout never reads).
std::string base64url_decode(std::string_view token)
{
    if (token.size() % 4 == 1)
        reject(token, "its length is impossible for base64url");
    std::string bytes;
    bytes.reserve(token.size() / 4 * 3 + 2);
    std::uint32_t bits = 0;
    int bit_count = 0;
    for (std::size_t i = 0; i < token.size(); ++i) {
        const std::int8_t value = base64url_values[static_cast<unsigned char>(token[i])];
        if (value < 0)
            reject(token, "character " + std::to_string(i) + " is outside the base64url alphabet");
        bits = (bits << 6) | static_cast<std::uint32_t>(value);
        bit_count += 6;
        if (bit_count >= 8) {
            bit_count -= 8;
            bytes += static_cast<char>((bits >> bit_count) & 0xff);
        }
        bits &= (1u << bit_count) - 1;
    }
    if (bits != 0)
        reject(token, "the last character has non-zero unused bits");
    return bytes;
}

std::array<unsigned char, signature_size> hmac_sha256(std::string_view key, std::string_view data,
                                                      client_errc failure)
{
    std::array<unsigned char, signature_size> mac{};
    unsigned int mac_length = 0;
    if (key.size() > static_cast<std::size_t>(INT_MAX))
        throw error(failure, "the cursor signing key is too long");
    if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
             reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac.data(),
             &mac_length) == nullptr ||
        mac_length != mac.size())
        throw error(failure, "HMAC-SHA256 of the paging cursor failed in OpenSSL");
    return mac;
}

error too_long()
{
    return error(client_errc::invalid_argument,
                 "the sort key values are too long for a paging cursor (at most " +
                     std::to_string(max_cursor_length) + " characters)");
}

void append_u32(std::string& bytes, std::uint32_t value)
{
    for (int shift = 24; shift >= 0; shift -= 8)
        bytes += static_cast<char>((value >> shift) & 0xff);
}

// Reads the layout front to back; every read checks the bytes are there.
class cursor_reader {
public:
    cursor_reader(std::string_view token, std::string_view bytes) : token_(token), rest_(bytes) {}

    std::string_view take(std::size_t count, std::string_view what)
    {
        if (rest_.size() < count)
            reject(token_, "it is truncated (in the " + std::string(what) + ")");
        std::string_view part = rest_.substr(0, count);
        rest_.remove_prefix(count);
        return part;
    }

    std::uint8_t byte(std::string_view what) { return static_cast<std::uint8_t>(take(1, what)[0]); }

    std::uint32_t u32(std::string_view what)
    {
        std::uint32_t value = 0;
        for (char c : take(4, what))
            value = (value << 8) | static_cast<unsigned char>(c);
        return value;
    }

    std::size_t remaining() const noexcept { return rest_.size(); }

    /// Stops reading before the last `count` bytes (the signature, already checked).
    void drop_tail(std::size_t count) { rest_.remove_suffix(count); }

private:
    std::string_view token_;
    std::string_view rest_;
};

void check_signature(std::string_view token, std::string_view bytes, std::string_view signing_key)
{
    // The signature covers everything before it, header included, so flipping `before` or
    // the signed flag is caught too.
    const std::string_view content = bytes.substr(0, bytes.size() - signature_size);
    const std::string_view signature = bytes.substr(content.size());
    const auto expected = hmac_sha256(signing_key, content, client_errc::invalid_cursor);
    // Constant time, so response timing does not reveal how much of a forged MAC was right.
    if (CRYPTO_memcmp(expected.data(), signature.data(), signature_size) != 0)
        reject(token, "its signature does not verify");
}

} // namespace

std::string encode_cursor(const cursor_data& c, std::string_view signing_key)
{
    if (c.values.size() > max_cursor_values)
        throw error(client_errc::invalid_argument, "a paging cursor holds at most " +
                                                       std::to_string(max_cursor_values) +
                                                       " sort keys, not " + std::to_string(c.values.size()));
    const bool is_signed = !signing_key.empty();
    std::string bytes;
    bytes += static_cast<char>(cursor_version);
    bytes += static_cast<char>((c.before ? flag_before : 0) | (is_signed ? flag_signed : 0) |
                               (c.inclusive ? flag_inclusive : 0));
    append_u32(bytes, c.fingerprint);
    bytes += static_cast<char>(c.values.size());
    for (const cursor_value& value : c.values) {
        if (value.null && !value.bytes.empty())
            throw error(client_errc::invalid_argument, "a NULL cursor value must have no bytes");
        // Checked before appending, so a huge value is refused without being copied.
        const std::size_t room = max_cursor_bytes - bytes.size();
        const std::size_t framing = value.null ? 1 : 1 + value_length_size;
        if (room < framing || value.bytes.size() > room - framing)
            throw too_long();
        if (value.null) {
            bytes += '\1';
            continue;
        }
        bytes += '\0';
        append_u32(bytes, static_cast<std::uint32_t>(value.bytes.size()));
        bytes += value.bytes;
    }
    if (is_signed) {
        const auto mac = hmac_sha256(signing_key, bytes, client_errc::invalid_argument);
        bytes.append(reinterpret_cast<const char*>(mac.data()), mac.size());
    }
    if (bytes.size() > max_cursor_bytes)
        throw too_long();
    return base64url_encode(bytes);
}

cursor_data decode_cursor(std::string_view token, std::string_view signing_key)
{
    if (token.empty())
        reject(token, "it is empty");
    if (token.size() > max_cursor_length)
        reject(token, "it is longer than " + std::to_string(max_cursor_length) + " characters");
    const std::string bytes = base64url_decode(token);
    cursor_reader reader(token, bytes);

    const std::uint8_t version = reader.byte("version");
    if (version != cursor_version)
        reject(token, "it has unknown version " + std::to_string(version));
    const std::uint8_t flags = reader.byte("flags");
    if ((flags & ~(flag_before | flag_signed | flag_inclusive)) != 0)
        reject(token, "it has unknown flag bits");
    const bool is_signed = (flags & flag_signed) != 0;
    if (is_signed && signing_key.empty())
        reject(token, "it is signed but no signing key is configured");
    if (!is_signed && !signing_key.empty())
        reject(token, "it is not signed but a signing key is configured");
    // Verified before the values are read: a tampered token gets one answer, whatever it
    // changed.
    if (is_signed) {
        if (reader.remaining() < signature_size)
            reject(token, "it is truncated (in the signature)");
        check_signature(token, bytes, signing_key);
        reader.drop_tail(signature_size);
    }

    cursor_data c;
    c.before = (flags & flag_before) != 0;
    c.inclusive = (flags & flag_inclusive) != 0;
    c.fingerprint = reader.u32("fingerprint");
    const std::size_t count = reader.byte("value count");
    if (count > max_cursor_values)
        reject(token,
               "it has " + std::to_string(count) + " values, more than " + std::to_string(max_cursor_values));
    c.values.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        cursor_value value;
        const std::uint8_t null_flag = reader.byte("null flag");
        if (null_flag > 1)
            reject(token, "value " + std::to_string(i) + " has an invalid null flag");
        value.null = null_flag == 1;
        if (!value.null) {
            const std::uint32_t length = reader.u32("value length");
            if (length > reader.remaining())
                reject(token, "value " + std::to_string(i) + " is longer than the rest of the token");
            value.bytes = reader.take(length, "value");
        }
        c.values.push_back(std::move(value));
    }
    if (reader.remaining() != 0)
        reject(token, "it has trailing data");
    return c;
}

std::uint32_t cursor_fingerprint(std::string_view text) noexcept
{
    return fnv1a_32(text);
}

} // namespace pgcoro::detail
