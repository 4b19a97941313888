#pragma once
// Splitting a migration script into statements the way psql does (src/fe_utils/psqlscan.l),
// so the migration runner can send them one at a time: a failing statement is reported with
// its line, and statements that refuse to run in a transaction block (CREATE INDEX
// CONCURRENTLY, ...) are not wrapped in the implicit transaction of a multi-statement string.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace pgcoro::detail {

/// One statement of a SQL script.
struct script_statement {
    std::string_view text;  ///< points into the script: from the statement's first token (leading
                            ///< whitespace and comments skipped) to just before its terminating ';'
                            ///< (or the end of the script), trailing whitespace trimmed; inner
                            ///< comments kept
    std::size_t line = 0;   ///< 1-based line of the first token
    std::size_t offset = 0; ///< byte offset of text in the script
};

/// Splits `script` into statements the way psql does: at ';' outside string literals
/// ('...' with '' escapes, E'...' with backslash escapes, U&'...'), quoted identifiers ("..." with ""),
/// dollar-quoted strings ($$...$$, $tag$...$tag$; note `$1` is a parameter, not a dollar quote, and a
/// dollar tag may not start with a digit; `a$b` is an identifier), -- line comments, /* nested /* */
/// block comments */, and inside BEGIN ATOMIC ... END bodies of CREATE [OR REPLACE] FUNCTION /
/// PROCEDURE (SQL-standard bodies, PG14+: psql counts BEGIN/CASE...END nesting only inside such a
/// statement). Statements that are empty or only comments are dropped.
///
/// Like psql, a ';' inside parentheses does not split either (psql sends `SELECT (1;` plus
/// the following lines up to the ';' that closes the parenthesis as one statement, which
/// the server then rejects); an unbalanced '(' or BEGIN therefore makes the rest of the
/// script one statement. BEGIN, CASE and END count only as unquoted words outside
/// parentheses, in a statement whose first words (again outside parentheses) are CREATE
/// [OR REPLACE] FUNCTION or PROCEDURE, and CASE only inside a BEGIN; psql applies the same
/// heuristic. A UTF-8 BOM at the start is skipped; lines are counted by '\n' (CRLF works);
/// string literals follow standard_conforming_strings = on ('\' is literal in '...', an
/// escape only in E'...').
///
/// Where psql and the server disagree, the server wins: an E'...' string continued on a later
/// line (`E'a'` newline `'\''`) keeps its backslash escapes (psql reads a file line by line
/// and loses the continuation). Malformed numbers are lexed as PostgreSQL 16+ does (`1e'x'` is
/// the junk `1e` and a standard string, `1e--x` holds no comment); the server rejects them.
///
/// The statements' text points into `script`, which must outlive them. Linear in the size of
/// the script. Not a coroutine; no I/O.
///
/// Throws pgcoro::error(client_errc::invalid_argument) naming the line where it started for an
/// unterminated quoted string, quoted identifier, dollar quote or block comment; and for a psql
/// meta-command (a backslash outside any quote or comment, e.g. \i, \set, \connect, \., also
/// psql's `\;`), which the server would not understand: "psql meta-command \i at line N is not
/// supported in a migration".
std::vector<script_statement> split_sql_script(std::string_view script);

/// The first `count` keywords of a statement, upper-cased (ASCII), separated by one space,
/// skipping whitespace and comments; fewer if the statement has fewer leading words (stops at the
/// first token that is not a plain identifier/keyword). E.g. first_words("begin  isolation level
/// serializable", 2) == "BEGIN ISOLATION"; first_words("/* x */ create index concurrently ix on t(a)", 3)
/// == "CREATE INDEX CONCURRENTLY". A quoted identifier, a literal (also E'..', U&".."), a number
/// or a punctuation mark ends the words. Never throws (but std::bad_alloc).
std::string first_words(std::string_view statement, std::size_t count);

/// Directives of a migration file: comment lines of the form `-- pgcoro:<name>` (optional
/// whitespace after `--` and after the colon; name = [a-z0-9_-]+, returned lower-cased) that appear
/// before the first statement of the script (only whitespace and comments before them). Directives
/// after the first statement are ignored. E.g. "-- pgcoro:no-transaction\nCREATE INDEX ..." gives
/// {"no-transaction"}.
///
/// `pgcoro` and the name are matched without regard to ASCII case; the name must end the line
/// or be followed by whitespace (`-- pgcoro:no-transaction  needed for CONCURRENTLY` is the
/// directive no-transaction; `-- pgcoro:no.transaction` is no directive). Directives inside
/// /* */ comments do not count. Returned in the order written, duplicates kept. Never throws
/// (but std::bad_alloc); an unterminated block comment just ends the search (split_sql_script
/// reports it).
std::vector<std::string> script_directives(std::string_view script);

} // namespace pgcoro::detail
