#pragma once
// The opaque token behind keyset paging cursors. A page's boundary row is remembered as the
// binary encodings of its sort key values, the direction to continue in and a fingerprint of
// the ORDER BY it was made for; the token is that record in a small versioned binary layout,
// spelled in base64url so it can travel in a URL or a JSON field unescaped.
//
// The token is not encrypted: whoever holds it can read the sort key values. With a signing
// key it carries an HMAC-SHA256, so a client cannot forge or alter one (e.g. to page from a
// row it should not know about); without one, the paging query still binds the values as
// parameters, so a forged token can at worst start a page at an arbitrary key.
//
// Layout (before base64url), all integers big-endian:
//   1 byte   version (1)
//   1 byte   flags: bit 0 = before, bit 1 = signed, bit 2 = inclusive; any other bit set is
//            invalid
//   4 bytes  fingerprint
//   1 byte   value count (at most max_cursor_values)
//   per value: 1 byte null flag (0 or 1); unless NULL, a 4-byte length and the bytes
//   32 bytes HMAC-SHA256 of every preceding byte, when signed
// Decoding is strict (no padding, no whitespace, zero unused bits, no trailing bytes), so
// every cursor has exactly one valid token.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace pgcoro::detail {

/// One sort key value of the boundary row: its binary encoding as sent to the server, or NULL.
struct cursor_value {
    bool null = false;
    std::string bytes; // empty when null
    friend bool operator==(const cursor_value&, const cursor_value&) = default;
};

/// What a cursor token carries.
struct cursor_data {
    bool before = false;              // false: the page after the boundary row; true: the page before it
    std::uint32_t fingerprint = 0;    // identifies the ordering (sort keys) the cursor was made for
    std::vector<cursor_value> values; // one per sort key, in ORDER BY order
    bool inclusive = false;           // the page includes the boundary row itself (an empty page's way back)
    friend bool operator==(const cursor_data&, const cursor_data&) = default;
};

/// The URL-safe token (base64url alphabet A-Z a-z 0-9 - _, no padding) for `c`. With a
/// non-empty `signing_key` the token carries an HMAC-SHA256 of its content under that key.
/// Throws pgcoro::error with client_errc::invalid_argument when `c` has more than
/// max_cursor_values values, a NULL value with bytes, or values too long for a token of at
/// most max_cursor_length characters (decode_cursor would refuse it). Pure computation: no
/// executor, nothing to cancel; safe to call from any thread.
std::string encode_cursor(const cursor_data& c, std::string_view signing_key);

/// Parses a token made by encode_cursor. Throws pgcoro::error with client_errc::invalid_cursor
/// (a clear message, never echoing more than a short prefix of the token, never the key) for:
/// an empty token, a token longer than max_cursor_length, characters outside base64url, a wrong
/// version byte, truncated or trailing data, a value count or length that does not fit, a
/// missing signature when signing_key is non-empty, a signature present when signing_key is empty,
/// and a signature that does not verify (compared in constant time). The fingerprint is returned
/// as found: comparing it with the query's is the caller's job. Pure computation: no executor,
/// nothing to cancel; safe to call from any thread.
cursor_data decode_cursor(std::string_view token, std::string_view signing_key);

/// A stable 32-bit hash (FNV-1a) of `text`: how the paging code fingerprints an ORDER BY.
/// Not a security measure: the signature is.
std::uint32_t cursor_fingerprint(std::string_view text) noexcept;

/// The longest token decode_cursor accepts (and encode_cursor produces), in characters.
inline constexpr std::size_t max_cursor_length = 4096;
/// The most sort key values one cursor carries.
inline constexpr std::size_t max_cursor_values = 32;

} // namespace pgcoro::detail
