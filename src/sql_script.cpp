// The lexical rules here follow psql's lexer (PostgreSQL src/fe_utils/psqlscan.l, itself a
// copy of the backend's scan.l with psql's statement-ending rules added) as far as they decide
// where a statement ends, checked against psql 15.20 by running both on random scripts. Other
// tokens (operators, psql variables) are only skipped; numbers are lexed just far enough that
// a name glued to them cannot start a literal.

#include <pgcoro/detail/sql_script.hpp>
#include <pgcoro/error.hpp>

#include <algorithm>
#include <array>
#include <string>

namespace pgcoro::detail {

namespace {

constexpr std::size_t npos = std::string_view::npos;
constexpr std::string_view utf8_bom = "\xEF\xBB\xBF";

// scan.l {space}. '\v' is not whitespace to PostgreSQL (the server rejects it as a token).
constexpr bool is_space(char c) noexcept
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f';
}

// scan.l {newline}: a line comment also ends at a lone '\r'.
constexpr bool is_newline(char c) noexcept
{
    return c == '\n' || c == '\r';
}

constexpr bool is_digit(char c) noexcept
{
    return c >= '0' && c <= '9';
}

// scan.l {ident_start} (also {dolq_start}): every byte >= 0x80 counts as a letter, so UTF-8
// names need no decoding.
constexpr bool is_ident_start(char c) noexcept
{
    const auto u = static_cast<unsigned char>(c);
    return (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || u == '_' || u >= 0x80;
}

// scan.l {ident_cont}: '$' continues an identifier (`a$b`), so a '$' right after a name never
// starts a dollar quote.
constexpr bool is_ident_cont(char c) noexcept
{
    return is_ident_start(c) || is_digit(c) || c == '$';
}

// scan.l {dolq_cont}: a dollar-quote tag is an identifier without '$'.
constexpr bool is_tag_cont(char c) noexcept
{
    return is_ident_start(c) || is_digit(c);
}

constexpr char ascii_lower(char c) noexcept
{
    return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

constexpr char ascii_upper(char c) noexcept
{
    return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
}

/// True when `word` equals `lower` (given in lower case) ignoring ASCII case.
bool equals_ignoring_case(std::string_view word, std::string_view lower) noexcept
{
    return word.size() == lower.size() && std::equal(word.begin(), word.end(), lower.begin(),
                                                     [](char a, char b) { return ascii_lower(a) == b; });
}

char char_at(std::string_view s, std::size_t i) noexcept
{
    return i < s.size() ? s[i] : '\0';
}

bool starts_line_comment(std::string_view s, std::size_t i) noexcept
{
    return s[i] == '-' && char_at(s, i + 1) == '-';
}

bool starts_block_comment(std::string_view s, std::size_t i) noexcept
{
    return s[i] == '/' && char_at(s, i + 1) == '*';
}

/// Where the line comment starting at `i` ends: at its newline, or at the end of the text.
std::size_t line_comment_end(std::string_view s, std::size_t i) noexcept
{
    while (i < s.size() && !is_newline(s[i]))
        ++i;
    return i;
}

/// Just past the block comment starting at `i` ("/*"), or npos if it never closes. Block
/// comments nest, as in the server: /* a /* b */ c */ is one comment.
std::size_t block_comment_end(std::string_view s, std::size_t i) noexcept
{
    std::size_t depth = 0;
    i += 2;
    while (i < s.size()) {
        if (s[i] == '/' && char_at(s, i + 1) == '*') {
            ++depth;
            i += 2;
        } else if (s[i] == '*' && char_at(s, i + 1) == '/') {
            if (depth == 0)
                return i + 2;
            --depth;
            i += 2;
        } else {
            ++i;
        }
    }
    return npos;
}

std::size_t skip_bom(std::string_view s) noexcept
{
    return s.starts_with(utf8_bom) ? utf8_bom.size() : 0;
}

/// 1-based line numbers of byte offsets, counted by '\n'. Offsets are asked in increasing
/// order, so the whole script is counted once.
class line_counter {
public:
    explicit line_counter(std::string_view s) noexcept : s_(s) {}

    std::size_t line_at(std::size_t offset) noexcept
    {
        if (offset < counted_to_) { // not expected; stay correct anyway
            counted_to_ = 0;
            line_ = 1;
        }
        line_ += static_cast<std::size_t>(std::count(s_.begin() + static_cast<std::ptrdiff_t>(counted_to_),
                                                     s_.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
        counted_to_ = offset;
        return line_;
    }

private:
    std::string_view s_;
    std::size_t counted_to_ = 0;
    std::size_t line_ = 1;
};

/// The words psql remembers from the start of a statement to recognise CREATE [OR REPLACE]
/// FUNCTION / PROCEDURE (psqlscan.l keeps the first four identifiers for this).
enum class head_word : unsigned char { other, create, or_, replace, function, procedure };

head_word classify_head_word(std::string_view word) noexcept
{
    if (equals_ignoring_case(word, "create"))
        return head_word::create;
    if (equals_ignoring_case(word, "or"))
        return head_word::or_;
    if (equals_ignoring_case(word, "replace"))
        return head_word::replace;
    if (equals_ignoring_case(word, "function"))
        return head_word::function;
    if (equals_ignoring_case(word, "procedure"))
        return head_word::procedure;
    return head_word::other;
}

constexpr bool is_routine(head_word w) noexcept
{
    return w == head_word::function || w == head_word::procedure;
}

class script_splitter {
public:
    explicit script_splitter(std::string_view script) noexcept : s_(script), lines_(script) {}

    std::vector<script_statement> split()
    {
        pos_ = skip_bom(s_);
        while (pos_ < s_.size()) {
            const char c = s_[pos_];
            if (is_space(c)) {
                ++pos_;
            } else if (starts_line_comment(s_, pos_)) {
                pos_ = line_comment_end(s_, pos_);
            } else if (starts_block_comment(s_, pos_)) {
                skip_block_comment();
            } else if (c == ';' && paren_depth_ == 0 && begin_depth_ == 0) {
                end_statement(pos_);
                ++pos_;
            } else {
                if (statement_start_ == npos) {
                    statement_start_ = pos_;
                    statement_line_ = lines_.line_at(pos_);
                }
                scan_token();
            }
        }
        end_statement(s_.size());
        return std::move(statements_);
    }

private:
    /// Consumes one token (or one character of something this splitter does not need to
    /// understand) at pos_, which is neither whitespace nor a comment.
    void scan_token()
    {
        const char c = s_[pos_];
        switch (c) {
        case '\'':
            pos_ = skip_standard_string(pos_);
            return;
        case '"':
            pos_ = skip_quoted_identifier(pos_);
            return;
        case '$':
            scan_dollar();
            return;
        case '(':
            ++paren_depth_;
            ++pos_;
            return;
        case ')':
            if (paren_depth_ > 0)
                --paren_depth_;
            ++pos_;
            return;
        case '\\':
            throw_meta_command();
        default:
            break;
        }
        if (is_digit(c)) {
            scan_number();
        } else if (is_ident_start(c)) {
            scan_word();
        } else {
            ++pos_; // operators, punctuation, a ';' inside parentheses or BEGIN ... END
        }
    }

    /// A number (1, 1_000, 1.5, 1e-3, 0x1F), with a name stuck to it (scan.l {integer_junk},
    /// {numeric_junk}, {real_junk}: `1e'x'` is the junk "1e" and a standard string, not an
    /// escape string). The server rejects the junk; it only must not start a literal here.
    void scan_number()
    {
        const auto skip_digits = [this] {
            while (pos_ < s_.size() && (is_digit(s_[pos_]) || s_[pos_] == '_'))
                ++pos_;
        };
        skip_digits();
        if (char_at(s_, pos_) == '.' && char_at(s_, pos_ + 1) != '.') { // 1..10 is 1, "..", 10
            ++pos_;
            skip_digits();
        }
        const char e = char_at(s_, pos_);
        if (e == 'e' || e == 'E') {
            const char next = char_at(s_, pos_ + 1);
            if (next == '+' || next == '-') {
                // {real}, or {realfail} "1e-" when no digit follows: then the sign is taken
                // too, so "1e--x" holds no comment.
                pos_ += 2;
                const bool has_digits = is_digit(char_at(s_, pos_));
                skip_digits();
                if (has_digits)
                    pos_ = skip_junk_name(pos_);
                return;
            }
            if (is_digit(next)) {
                ++pos_;
                skip_digits();
            }
        }
        pos_ = skip_junk_name(pos_);
    }

    /// Just past the name that starts right at `i` (not counted as an identifier), or `i`.
    std::size_t skip_junk_name(std::size_t i) const noexcept
    {
        if (i < s_.size() && is_ident_start(s_[i])) {
            while (i < s_.size() && is_ident_cont(s_[i]))
                ++i;
        }
        return i;
    }

    /// A name or keyword, or one of the string literals introduced by a letter.
    void scan_word()
    {
        const char c = ascii_lower(s_[pos_]);
        const char next = char_at(s_, pos_ + 1);
        if (next == '\'') {
            if (c == 'e') {
                pos_ = skip_escape_string(pos_ + 1);
                return;
            }
            if (c == 'b' || c == 'x' || c == 'n') { // bit string, hex string, national character
                pos_ = skip_standard_string(pos_ + 1);
                return;
            }
        }
        if (c == 'u' && next == '&') {
            const char quote = char_at(s_, pos_ + 2);
            if (quote == '\'')
                pos_ = skip_standard_string(pos_ + 2);
            else if (quote == '"')
                pos_ = skip_quoted_identifier(pos_ + 2);
            else
                ++pos_; // psqlscan.l {xufailed}: the 'u' is not counted as an identifier
            return;
        }
        std::size_t end = pos_ + 1;
        while (end < s_.size() && is_ident_cont(s_[end]))
            ++end;
        on_identifier(s_.substr(pos_, end - pos_));
        pos_ = end;
    }

    /// psqlscan.l's heuristic for SQL-standard function bodies: in a statement whose first
    /// identifiers are CREATE [OR REPLACE] FUNCTION / PROCEDURE, BEGIN opens a block that END
    /// closes, CASE (only inside such a block) also takes an END, and ';' does not end the
    /// statement inside a block. Only unquoted words outside parentheses count, also among the
    /// first identifiers: psql 15.20 takes "(x) CREATE PROCEDURE p() BEGIN ATOMIC ...; END" as
    /// a routine definition (found by running psql; older psqlscan.l sources count the x).
    void on_identifier(std::string_view word)
    {
        if (paren_depth_ != 0)
            return;
        if (identifier_count_ < heads_.size())
            heads_[identifier_count_] = classify_head_word(word);
        ++identifier_count_;
        if (!in_routine_definition())
            return;
        if (equals_ignoring_case(word, "begin")) {
            ++begin_depth_;
        } else if (equals_ignoring_case(word, "case")) {
            if (begin_depth_ > 0)
                ++begin_depth_;
        } else if (equals_ignoring_case(word, "end")) {
            if (begin_depth_ > 0)
                --begin_depth_;
        }
    }

    bool in_routine_definition() const noexcept
    {
        return heads_[0] == head_word::create &&
               (is_routine(heads_[1]) ||
                (heads_[1] == head_word::or_ && heads_[2] == head_word::replace && is_routine(heads_[3])));
    }

    /// At a '$': a parameter ($1), a dollar quote ($$ or $tag$) or a lone '$'.
    void scan_dollar()
    {
        std::size_t i = pos_ + 1;
        if (i < s_.size() && is_digit(s_[i])) {
            while (i < s_.size() && is_digit(s_[i]))
                ++i;
            pos_ = skip_junk_name(i); // scan.l {param_junk}: $1abc
            return;
        }
        if (i < s_.size() && is_ident_start(s_[i])) {
            ++i;
            while (i < s_.size() && is_tag_cont(s_[i]))
                ++i;
        }
        if (char_at(s_, i) == '$') {
            pos_ = skip_dollar_quote(pos_, s_.substr(pos_, i + 1 - pos_));
            return;
        }
        // psqlscan.l {dolqfailed}: "$abc" with no closing '$' is a '$' and then the name abc.
        ++pos_;
    }

    /// Just past the closing delimiter of the dollar quote whose opening `delimiter` starts at
    /// `start`. Scans each '$' once, as psqlscan.l does: a "$other$" that is not the delimiter
    /// leaves its last '$' to start the next candidate ($a$ ... $x$a$ closes at "$a$").
    std::size_t skip_dollar_quote(std::size_t start, std::string_view delimiter)
    {
        std::size_t i = start + delimiter.size();
        for (;;) {
            const std::size_t dollar = s_.find('$', i);
            if (dollar == npos)
                throw_unterminated("dollar-quoted string " + std::string(delimiter), start);
            std::size_t end = dollar + 1;
            if (end < s_.size() && is_ident_start(s_[end])) {
                ++end;
                while (end < s_.size() && is_tag_cont(s_[end]))
                    ++end;
            }
            if (char_at(s_, end) == '$') {
                if (s_.substr(dollar, end + 1 - dollar) == delimiter)
                    return end + 1;
                i = end;
            } else {
                i = std::max(end, dollar + 1);
            }
        }
    }

    /// Just past a '...' literal whose opening quote is at `quote`: '' is an embedded quote and,
    /// with standard_conforming_strings on, '\' is an ordinary character.
    std::size_t skip_standard_string(std::size_t quote)
    {
        std::size_t i = quote + 1;
        for (;;) {
            const std::size_t close = s_.find('\'', i);
            if (close == npos)
                throw_unterminated("quoted string", quote);
            if (char_at(s_, close + 1) != '\'')
                return close + 1;
            i = close + 2;
        }
    }

    /// Just past an E'...' literal whose opening quote is at `quote`: a backslash escapes the
    /// next character, '' is an embedded quote, and a continuation on a later line ('a'
    /// newline 'b') is still an escape string (scan.l's xqs state returns to xe).
    std::size_t skip_escape_string(std::size_t quote)
    {
        std::size_t i = quote + 1;
        for (;;) {
            while (i < s_.size() && s_[i] != '\'' && s_[i] != '\\')
                ++i;
            if (i >= s_.size())
                throw_unterminated("quoted string", quote);
            if (s_[i] == '\\' || char_at(s_, i + 1) == '\'') {
                i += 2; // a backslash escape, or '' (an embedded quote)
            } else {
                const std::size_t continued = quote_continuation(i + 1);
                if (continued == npos)
                    return i + 1;
                i = continued + 1;
            }
        }
    }

    /// The position of the quote that continues a literal closed just before `i`, or npos.
    /// scan.l's {quotecontinue}: whitespace (and -- comments) containing at least one newline,
    /// then a quote. /* */ comments do not qualify.
    std::size_t quote_continuation(std::size_t i) const noexcept
    {
        while (i < s_.size()) {
            if (s_[i] == ' ' || s_[i] == '\t' || s_[i] == '\f')
                ++i;
            else if (starts_line_comment(s_, i))
                i = line_comment_end(s_, i);
            else
                break;
        }
        if (i >= s_.size() || !is_newline(s_[i]))
            return npos;
        ++i;
        while (i < s_.size()) {
            if (is_space(s_[i])) {
                ++i;
            } else if (starts_line_comment(s_, i)) {
                i = line_comment_end(s_, i);
                if (i >= s_.size())
                    return npos; // {special_whitespace} wants the comment's newline
            } else {
                break;
            }
        }
        return char_at(s_, i) == '\'' ? i : npos;
    }

    /// Just past a "..." (or U&"...") identifier whose opening quote is at `quote`.
    std::size_t skip_quoted_identifier(std::size_t quote)
    {
        std::size_t i = quote + 1;
        for (;;) {
            const std::size_t close = s_.find('"', i);
            if (close == npos)
                throw_unterminated("quoted identifier", quote);
            if (char_at(s_, close + 1) != '"')
                return close + 1;
            i = close + 2;
        }
    }

    void skip_block_comment()
    {
        const std::size_t end = block_comment_end(s_, pos_);
        if (end == npos)
            throw_unterminated("/* comment", pos_);
        pos_ = end;
    }

    void end_statement(std::size_t terminator)
    {
        // psqlscan.l forgets the statement's first identifiers at every splitting ';', even
        // after an empty statement.
        identifier_count_ = 0;
        heads_.fill(head_word::other);
        if (statement_start_ == npos)
            return;
        std::size_t end = terminator;
        while (end > statement_start_ && is_space(s_[end - 1]))
            --end;
        statements_.push_back(script_statement{s_.substr(statement_start_, end - statement_start_),
                                               statement_line_, statement_start_});
        statement_start_ = npos;
    }

    [[noreturn]] void throw_unterminated(const std::string& what, std::size_t start)
    {
        throw error(client_errc::invalid_argument,
                    "unterminated " + what + " starting at line " + std::to_string(lines_.line_at(start)));
    }

    /// psql would run the backslash command itself; the server only sees a syntax error.
    [[noreturn]] void throw_meta_command()
    {
        std::size_t end = pos_ + 1;
        while (end < s_.size() && is_tag_cont(s_[end]))
            ++end;
        if (end == pos_ + 1 && end < s_.size() && !is_space(s_[end]))
            ++end; // one-character commands: \! \? \. \; ...
        throw error(client_errc::invalid_argument,
                    "psql meta-command " + std::string(s_.substr(pos_, end - pos_)) + " at line " +
                        std::to_string(lines_.line_at(pos_)) + " is not supported in a migration");
    }

    std::string_view s_;
    line_counter lines_;
    std::size_t pos_ = 0;
    std::size_t statement_start_ = npos;
    std::size_t statement_line_ = 0;
    int paren_depth_ = 0;
    int begin_depth_ = 0;
    std::size_t identifier_count_ = 0;
    std::array<head_word, 4> heads_{};
    std::vector<script_statement> statements_;
};

/// Just past the whitespace and comments starting at `i`; npos inside an unterminated block
/// comment.
std::size_t skip_whitespace_and_comments(std::string_view s, std::size_t i) noexcept
{
    while (i < s.size()) {
        if (is_space(s[i])) {
            ++i;
        } else if (starts_line_comment(s, i)) {
            i = line_comment_end(s, i);
        } else if (starts_block_comment(s, i)) {
            i = block_comment_end(s, i);
            if (i == npos)
                return npos;
        } else {
            break;
        }
    }
    return i;
}

constexpr bool is_directive_name_char(char c) noexcept
{
    const char l = ascii_lower(c);
    return (l >= 'a' && l <= 'z') || is_digit(c) || c == '_' || c == '-';
}

/// The directive name in the text after "--" of a line comment, lower-cased, or "" if the
/// comment is not a directive.
std::string parse_directive(std::string_view comment)
{
    std::size_t i = 0;
    while (i < comment.size() && is_space(comment[i]))
        ++i;
    constexpr std::string_view prefix = "pgcoro:";
    if (!equals_ignoring_case(comment.substr(i, prefix.size()), prefix))
        return {};
    i += prefix.size();
    while (i < comment.size() && is_space(comment[i]))
        ++i;
    const std::size_t start = i;
    while (i < comment.size() && is_directive_name_char(comment[i]))
        ++i;
    if (i == start || (i < comment.size() && !is_space(comment[i])))
        return {};
    std::string name(comment.substr(start, i - start));
    std::transform(name.begin(), name.end(), name.begin(), ascii_lower);
    return name;
}

} // namespace

std::vector<script_statement> split_sql_script(std::string_view script)
{
    return script_splitter(script).split();
}

std::string first_words(std::string_view statement, std::size_t count)
{
    std::string words;
    std::size_t i = 0;
    for (std::size_t taken = 0; taken < count; ++taken) {
        i = skip_whitespace_and_comments(statement, i);
        if (i == npos || i >= statement.size() || !is_ident_start(statement[i]))
            break;
        const char c = ascii_lower(statement[i]);
        const char next = char_at(statement, i + 1);
        if ((next == '\'' && (c == 'e' || c == 'b' || c == 'x' || c == 'n')) || (c == 'u' && next == '&'))
            break; // E'...', B'...', X'...', N'...', U&'...', U&"..."
        std::size_t end = i + 1;
        while (end < statement.size() && is_ident_cont(statement[end]))
            ++end;
        if (taken > 0)
            words += ' ';
        for (; i < end; ++i)
            words += ascii_upper(statement[i]);
    }
    return words;
}

std::vector<std::string> script_directives(std::string_view script)
{
    std::vector<std::string> directives;
    std::size_t i = skip_bom(script);
    while (i < script.size()) {
        if (is_space(script[i])) {
            ++i;
        } else if (starts_line_comment(script, i)) {
            const std::size_t end = line_comment_end(script, i);
            std::string name = parse_directive(script.substr(i + 2, end - i - 2));
            if (!name.empty())
                directives.push_back(std::move(name));
            i = end;
        } else if (starts_block_comment(script, i)) {
            i = block_comment_end(script, i);
            if (i == npos)
                break;
        } else {
            break; // the first statement
        }
    }
    return directives;
}

} // namespace pgcoro::detail
