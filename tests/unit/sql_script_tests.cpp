// Splitting migration scripts into statements the way psql does, the leading words of a
// statement, and the `-- pgcoro:` directives of a migration file.

#include <pgcoro/detail/sql_script.hpp>
#include <pgcoro/error.hpp>

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using pgcoro::client_errc;
using pgcoro::detail::first_words;
using pgcoro::detail::script_directives;
using pgcoro::detail::split_sql_script;

namespace {

std::vector<std::string> texts(std::string_view script)
{
    std::vector<std::string> out;
    for (const auto& statement : split_sql_script(script))
        out.emplace_back(statement.text);
    return out;
}

std::vector<std::size_t> lines(std::string_view script)
{
    std::vector<std::size_t> out;
    for (const auto& statement : split_sql_script(script))
        out.push_back(statement.line);
    return out;
}

/// The message of the invalid_argument error split_sql_script throws for `script`.
std::string split_error(std::string_view script)
{
    try {
        split_sql_script(script);
    } catch (const pgcoro::error& e) {
        BOOST_TEST((e.code() == client_errc::invalid_argument));
        return e.diag().message;
    }
    BOOST_ERROR("split_sql_script did not throw");
    return {};
}

using strings = std::vector<std::string>;
using numbers = std::vector<std::size_t>;

} // namespace

BOOST_AUTO_TEST_SUITE(sql_script)

// --- statement boundaries -------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(statements_end_at_semicolons_with_surrounding_whitespace_trimmed)
{
    BOOST_TEST(texts("SELECT 1;\n  SELECT 2 \t;\n\nSELECT\n3\n;") ==
                   (strings{"SELECT 1", "SELECT 2", "SELECT\n3"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(last_statement_may_end_at_the_end_of_the_script)
{
    BOOST_TEST(texts("SELECT 1;\nSELECT 2\n\n") == (strings{"SELECT 1", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(empty_and_comment_only_statements_are_dropped)
{
    BOOST_TEST(
        texts(";;  ;\n-- nothing\n; /* still nothing */ ;SELECT 1;\n-- trailing comment\n/* and more */\n") ==
            (strings{"SELECT 1"}),
        boost::test_tools::per_element());
    BOOST_TEST(split_sql_script("").empty());
    BOOST_TEST(split_sql_script("  \n-- only a comment\n").empty());
}

BOOST_AUTO_TEST_CASE(leading_comments_are_skipped_and_inner_comments_kept)
{
    const auto statements =
        split_sql_script("-- header\n/* block */ SELECT 1 /* inner */ +\n-- line\n 2 /* end */;");
    BOOST_TEST_REQUIRE(statements.size() == 1u);
    BOOST_TEST(statements[0].text == "SELECT 1 /* inner */ +\n-- line\n 2 /* end */");
    BOOST_TEST(statements[0].line == 2u);
}

BOOST_AUTO_TEST_CASE(line_and_offset_are_those_of_the_first_token)
{
    const std::string_view script = "SELECT 1;\n\n  /* c\n */  SELECT 2;\n-- x\nSELECT\n3";
    const auto statements = split_sql_script(script);
    BOOST_TEST_REQUIRE(statements.size() == 3u);
    BOOST_TEST(statements[0].line == 1u);
    BOOST_TEST(statements[0].offset == 0u);
    BOOST_TEST(statements[1].line == 4u);
    BOOST_TEST(statements[1].offset == script.find("SELECT 2"));
    BOOST_TEST(statements[2].line == 6u);
    BOOST_TEST(statements[2].offset == script.find("SELECT\n3"));
    for (const auto& statement : statements) // a view into the script itself, not a copy
        BOOST_TEST((statement.text.data() == script.data() + statement.offset));
}

BOOST_AUTO_TEST_CASE(lines_count_newlines_inside_literals_and_comments)
{
    BOOST_TEST(lines("SELECT 'a\nb';\n/* x\n y */ SELECT $$\n$$;\nSELECT \"q\n\";SELECT 4") ==
                   (numbers{1, 4, 6, 7}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(utf8_byte_order_mark_is_skipped)
{
    const auto statements = split_sql_script("\xEF\xBB\xBFSELECT 1;SELECT 2");
    BOOST_TEST_REQUIRE(statements.size() == 2u);
    BOOST_TEST(statements[0].text == "SELECT 1");
    BOOST_TEST(statements[0].offset == 3u);
    BOOST_TEST(statements[0].line == 1u);
}

BOOST_AUTO_TEST_CASE(crlf_line_endings_are_trimmed_and_counted_once)
{
    const std::string_view script = "SELECT 1;\r\n\r\nSELECT 'a\r\nb'\r\n;\r\n-- c\r\nSELECT 3\r\n";
    BOOST_TEST(texts(script) == (strings{"SELECT 1", "SELECT 'a\r\nb'", "SELECT 3"}),
               boost::test_tools::per_element());
    BOOST_TEST(lines(script) == (numbers{1, 3, 7}), boost::test_tools::per_element());
}

// --- string literals ------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(semicolon_in_a_string_literal_does_not_split)
{
    BOOST_TEST(texts("SELECT 'a;b', 'it''s; fine';SELECT 2") ==
                   (strings{"SELECT 'a;b', 'it''s; fine'", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(backslash_in_a_standard_string_is_an_ordinary_character)
{
    // standard_conforming_strings = on: 'C:\' is a complete literal.
    BOOST_TEST(texts("SELECT 'C:\\';SELECT 2") == (strings{"SELECT 'C:\\'", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(backslash_escapes_a_quote_in_an_escape_string)
{
    BOOST_TEST(texts("SELECT E'\\';';SELECT e'\\\\';SELECT 3") ==
                   (strings{"SELECT E'\\';'", "SELECT e'\\\\'", "SELECT 3"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(escape_string_continued_on_a_later_line_keeps_backslash_escapes)
{
    // The server reads E'a' <newline> '\';x' as one escape string (a';x). psql 15 does not: it
    // lexes a file line by line, loses the continuation and sends "SELECT E'a'\n'\';", which the
    // server rejects. We follow the server.
    BOOST_TEST(texts("SELECT E'a'\n  -- comment\n'\\';x';SELECT 2") ==
                   (strings{"SELECT E'a'\n  -- comment\n'\\';x'", "SELECT 2"}),
               boost::test_tools::per_element());
    // Without a newline in between it is no continuation: the second literal is a standard one.
    BOOST_TEST(texts("SELECT E'a' '\\';SELECT 2") == (strings{"SELECT E'a' '\\'", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_number_or_parameter_glued_to_e_before_a_quote_is_no_escape_string)
{
    // scan.l's {integer_junk} / {param_junk}: "1e" and "$1e" are junk the server rejects, and
    // the quote after them starts a standard string.
    BOOST_TEST(texts("SELECT 1e'\\';SELECT $1e'\\';SELECT 3") ==
                   (strings{"SELECT 1e'\\'", "SELECT $1e'\\'", "SELECT 3"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(exponent_sign_of_a_number_is_no_comment_start)
{
    // scan.l's {realfail}: "1e-" is one token, so "1e--x" holds no comment (psql 15 agrees).
    BOOST_TEST(texts("SELECT 1e--x;SELECT 2") == (strings{"SELECT 1e--x", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(a_name_ending_in_e_before_a_quote_is_no_escape_string)
{
    BOOST_TEST(texts("SELECT somee'\\';SELECT 2") == (strings{"SELECT somee'\\'", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unicode_bit_hex_and_national_literals_hide_semicolons)
{
    BOOST_TEST(texts("SELECT U&'d\\0061t;a', u&\"x;y\", B'1;0', x'A;F', N'n;n';SELECT 2") ==
                   (strings{"SELECT U&'d\\0061t;a', u&\"x;y\", B'1;0', x'A;F', N'n;n'", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(semicolon_in_a_quoted_identifier_does_not_split)
{
    BOOST_TEST(texts("SELECT 1 AS \"a;\"\"b\";SELECT 2") == (strings{"SELECT 1 AS \"a;\"\"b\"", "SELECT 2"}),
               boost::test_tools::per_element());
}

// --- dollar quotes --------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(semicolon_in_a_dollar_quote_does_not_split)
{
    BOOST_TEST(texts("SELECT $$a;'b$$;SELECT 2") == (strings{"SELECT $$a;'b$$", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(tagged_dollar_quote_ends_only_at_its_own_tag)
{
    BOOST_TEST(texts("DO $body$ BEGIN PERFORM $x$;$x$; PERFORM $$;$$; END $body$;SELECT 2") ==
                   (strings{"DO $body$ BEGIN PERFORM $x$;$x$; PERFORM $$;$$; END $body$", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(dollar_quote_closes_inside_a_mismatched_tag)
{
    // "$b$a$": $b$ is no match, but its last '$' starts the closing $a$.
    BOOST_TEST(texts("SELECT $a$ x; $b$a$;SELECT 2") == (strings{"SELECT $a$ x; $b$a$", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(dollar_quote_tags_are_case_sensitive)
{
    BOOST_TEST(texts("SELECT $A$ ; $a$ ; $A$;SELECT 2") == (strings{"SELECT $A$ ; $a$ ; $A$", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(positional_parameter_is_not_a_dollar_quote)
{
    // $1$ is parameter $1 and a lone '$', so the ';' after it splits.
    BOOST_TEST(texts("SELECT $1$;SELECT 2;SELECT $1$") == (strings{"SELECT $1$", "SELECT 2", "SELECT $1$"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(dollar_inside_a_name_does_not_start_a_dollar_quote)
{
    BOOST_TEST(texts("SELECT 1 AS a$$;SELECT 2 AS b$$") == (strings{"SELECT 1 AS a$$", "SELECT 2 AS b$$"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(dollar_before_a_name_without_closing_dollar_is_a_lone_dollar)
{
    BOOST_TEST(texts("SELECT $abc ;SELECT 2") == (strings{"SELECT $abc", "SELECT 2"}),
               boost::test_tools::per_element());
}

// --- comments -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(semicolon_in_a_line_comment_does_not_split)
{
    BOOST_TEST(texts("SELECT 1 -- a;b\n+ 1;SELECT 2") == (strings{"SELECT 1 -- a;b\n+ 1", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(line_comment_also_ends_at_a_carriage_return)
{
    BOOST_TEST(texts("SELECT 1 -- x\r;SELECT 2") == (strings{"SELECT 1 -- x", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(block_comments_nest)
{
    BOOST_TEST(texts("SELECT 1 /* a /* b */ ; */;SELECT 2") ==
                   (strings{"SELECT 1 /* a /* b */ ; */", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(comment_start_inside_an_operator_starts_a_comment)
{
    BOOST_TEST(texts("SELECT 1 +/* ; */ 2 --;\n;SELECT 3") ==
                   (strings{"SELECT 1 +/* ; */ 2 --;", "SELECT 3"}),
               boost::test_tools::per_element());
}

// --- parentheses and BEGIN ATOMIC (psqlscan.l's paren_depth and begin_depth) ------------------

BOOST_AUTO_TEST_CASE(semicolon_inside_parentheses_does_not_split)
{
    // psql sends "SELECT (1;\n2)" as one statement; the server rejects it there.
    BOOST_TEST(texts("SELECT (1;\n2);SELECT 3") == (strings{"SELECT (1;\n2)", "SELECT 3"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(stray_closing_parenthesis_does_not_go_below_zero)
{
    BOOST_TEST(texts("SELECT 1);SELECT (2;3);SELECT 4") == (strings{"SELECT 1)", "SELECT (2;3)", "SELECT 4"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(begin_atomic_body_of_create_function_is_one_statement)
{
    BOOST_TEST(
        texts("CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT "
              "2;\nEND;SELECT 3") ==
            (strings{
                "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT 1;\n  SELECT 2;\nEND",
                "SELECT 3"}),
        boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(begin_atomic_body_of_create_or_replace_procedure_is_one_statement)
{
    BOOST_TEST(
        texts("create or replace procedure p() language sql begin atomic select 1; end;SELECT 2") ==
            (strings{"create or replace procedure p() language sql begin atomic select 1; end", "SELECT 2"}),
        boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(case_inside_begin_atomic_takes_its_own_end)
{
    BOOST_TEST(
        texts("CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 1 "
              "ELSE 0 END; SELECT 2; END;SELECT 3") ==
            (strings{"CREATE FUNCTION f(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x > 0 "
                     "THEN 1 ELSE 0 END; SELECT 2; END",
                     "SELECT 3"}),
        boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(case_outside_begin_is_not_counted)
{
    // psql counts CASE only inside BEGIN ... END; the server rejects the first statement.
    BOOST_TEST(texts("CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN CASE;SELECT 2") ==
                   (strings{"CREATE FUNCTION f() RETURNS int LANGUAGE sql RETURN CASE", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(unicode_string_prefix_is_not_a_word_for_the_routine_heuristic)
{
    // psql 15: U&'x' is a literal, so CREATE FUNCTION are still the first words.
    BOOST_TEST(texts("U&'x' CREATE FUNCTION f() BEGIN ATOMIC SELECT 1; END;SELECT 2") ==
                   (strings{"U&'x' CREATE FUNCTION f() BEGIN ATOMIC SELECT 1; END", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(begin_outside_create_function_is_a_statement_of_its_own)
{
    BOOST_TEST(texts("BEGIN;SELECT CASE WHEN true THEN 1 END;END;") ==
                   (strings{"BEGIN", "SELECT CASE WHEN true THEN 1 END", "END"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(begin_counts_only_in_create_function_or_procedure)
{
    BOOST_TEST(texts("CREATE VIEW v AS SELECT 1 AS begin;SELECT 2") ==
                   (strings{"CREATE VIEW v AS SELECT 1 AS begin", "SELECT 2"}),
               boost::test_tools::per_element());
    BOOST_TEST(texts("CREATE OR REPLACE VIEW v AS SELECT 1 AS begin;SELECT 2") ==
                   (strings{"CREATE OR REPLACE VIEW v AS SELECT 1 AS begin", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(routine_heuristic_ends_with_its_statement)
{
    BOOST_TEST(texts("CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql;BEGIN;SELECT 1;COMMIT") ==
                   (strings{"CREATE FUNCTION f() RETURNS int AS 'select 1' LANGUAGE sql", "BEGIN", "SELECT 1",
                            "COMMIT"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(begin_inside_parentheses_or_quotes_is_not_counted)
{
    BOOST_TEST(texts("CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN 1;SELECT 2") ==
                   (strings{"CREATE FUNCTION f(begin int) RETURNS int LANGUAGE sql RETURN 1", "SELECT 2"}),
               boost::test_tools::per_element());
    BOOST_TEST(texts("CREATE FUNCTION \"begin\"() RETURNS int LANGUAGE sql RETURN 1;SELECT 2") ==
                   (strings{"CREATE FUNCTION \"begin\"() RETURNS int LANGUAGE sql RETURN 1", "SELECT 2"}),
               boost::test_tools::per_element());
    BOOST_TEST(texts("CREATE FUNCTION f() RETURNS text LANGUAGE sql RETURN 'begin';SELECT 2") ==
                   (strings{"CREATE FUNCTION f() RETURNS text LANGUAGE sql RETURN 'begin'", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(names_inside_parentheses_are_not_among_the_first_words)
{
    // As psql 15.20 does: "(x)" does not push CREATE PROCEDURE out of the first words.
    BOOST_TEST(texts("(x) CREATE PROCEDURE p() BEGIN ATOMIC SELECT 1; END;SELECT 2") ==
                   (strings{"(x) CREATE PROCEDURE p() BEGIN ATOMIC SELECT 1; END", "SELECT 2"}),
               boost::test_tools::per_element());
    BOOST_TEST(texts("CREATE (x) FUNCTION f() BEGIN ATOMIC SELECT 1; END;SELECT 2") ==
                   (strings{"CREATE (x) FUNCTION f() BEGIN ATOMIC SELECT 1; END", "SELECT 2"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(only_the_first_words_make_a_routine_definition)
{
    // CREATE must be the statement's first identifier: here BEGIN is a column alias.
    BOOST_TEST(texts("SELECT 1 AS create, 2 AS function, 3 AS begin;SELECT 2") ==
                   (strings{"SELECT 1 AS create, 2 AS function, 3 AS begin", "SELECT 2"}),
               boost::test_tools::per_element());
}

// --- errors ---------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(unterminated_string_names_the_line_it_starts_on)
{
    // The '' on line 3 is a quote inside the literal, not its end and a new start.
    const auto message = split_error("SELECT 1;\nSELECT 'abc\n''def;\n\nSELECT 2;\n");
    BOOST_TEST(message == "unterminated quoted string starting at line 2");
}

BOOST_AUTO_TEST_CASE(escape_string_ending_in_a_backslash_is_unterminated)
{
    BOOST_TEST(split_error("SELECT E'abc\\';") == "unterminated quoted string starting at line 1");
}

BOOST_AUTO_TEST_CASE(unterminated_quoted_identifier_names_the_line_it_starts_on)
{
    BOOST_TEST(split_error("SELECT 1;\n\nSELECT \"a\n\"\"b;\n") ==
               "unterminated quoted identifier starting at line 3");
}

BOOST_AUTO_TEST_CASE(unterminated_dollar_quote_names_its_tag_and_line)
{
    BOOST_TEST(split_error("SELECT 1;\nDO $body$\nBEGIN\nEND $bod$;\n") ==
               "unterminated dollar-quoted string $body$ starting at line 2");
}

BOOST_AUTO_TEST_CASE(unterminated_block_comment_names_the_line_of_the_outermost_start)
{
    BOOST_TEST(split_error("SELECT 1;\n/* outer\n /* inner */\n SELECT 2;") ==
               "unterminated /* comment starting at line 2");
}

BOOST_AUTO_TEST_CASE(psql_meta_command_is_rejected_with_its_line)
{
    BOOST_TEST(split_error("SELECT 1;\n\\i other.sql\nSELECT 2;") ==
               "psql meta-command \\i at line 2 is not supported in a migration");
    BOOST_TEST(split_error("\\set ON_ERROR_STOP on\n") ==
               "psql meta-command \\set at line 1 is not supported in a migration");
    BOOST_TEST(split_error("COPY t FROM stdin;\n1\n\\.\n") ==
               "psql meta-command \\. at line 3 is not supported in a migration");
}

BOOST_AUTO_TEST_CASE(psql_meta_command_after_sql_on_a_line_is_rejected)
{
    // psql takes any unquoted backslash as the start of a meta-command, e.g. \gset.
    BOOST_TEST(split_error("SELECT 1 AS x \\gset\n") ==
               "psql meta-command \\gset at line 1 is not supported in a migration");
    BOOST_TEST(split_error("SELECT 1 \\; SELECT 2;") ==
               "psql meta-command \\; at line 1 is not supported in a migration");
}

BOOST_AUTO_TEST_CASE(backslash_in_literals_and_comments_is_no_meta_command)
{
    BOOST_TEST(texts("SELECT '\\i', $$\\x$$, \"\\\" -- \\q\n/* \\c */;SELECT 2") ==
                   (strings{"SELECT '\\i', $$\\x$$, \"\\\" -- \\q\n/* \\c */", "SELECT 2"}),
               boost::test_tools::per_element());
}

// --- a realistic migration ------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(realistic_migration_splits_like_psql)
{
    // Each statement was also run through psql 15 in a scratch schema.
    const std::string_view script = R"sql(-- 0007_orders.up.sql: orders, a trigger and helpers; nothing else
CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "note;text" text NOT NULL DEFAULT 'n/a; none', -- quoted identifier with ';'
    status text NOT NULL CHECK (status IN ('new', 'paid')),
    created_at timestamptz NOT NULL DEFAULT now()
);

/* the trigger function; its body is dollar-quoted */
CREATE FUNCTION orders_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_at := now();
    RETURN NEW;
END;
$$;

CREATE TRIGGER orders_touch BEFORE INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_touch();

DO $body$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgcoro_no_such_role') THEN
        RAISE NOTICE 'no reader role; skipping grants';
    END IF;
END
$body$;

CREATE FUNCTION order_label(s text) RETURNS text LANGUAGE sql
BEGIN ATOMIC
    SELECT CASE s WHEN 'new' THEN 'open; unpaid' ELSE 'closed' END;
END;

CREATE OR REPLACE PROCEDURE mark_paid(order_id bigint) LANGUAGE sql
BEGIN ATOMIC
    UPDATE orders SET status = 'paid' WHERE id = order_id;
    UPDATE orders SET "note;text" = 'paid' WHERE id = order_id;
END;

INSERT INTO orders ("note;text", status) VALUES (E'it\'s; quoted', 'new'); -- the first order
CALL mark_paid(1)
)sql";
    const auto statements = split_sql_script(script);
    BOOST_TEST_REQUIRE(statements.size() == 8u);

    BOOST_TEST(statements[0].text == R"sql(CREATE TABLE orders (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    "note;text" text NOT NULL DEFAULT 'n/a; none', -- quoted identifier with ';'
    status text NOT NULL CHECK (status IN ('new', 'paid')),
    created_at timestamptz NOT NULL DEFAULT now()
))sql");
    BOOST_TEST(statements[0].line == 2u);

    BOOST_TEST(statements[1].text ==
               R"sql(CREATE FUNCTION orders_touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.created_at := now();
    RETURN NEW;
END;
$$)sql");
    BOOST_TEST(statements[1].line == 10u);

    BOOST_TEST(statements[2].text == R"sql(CREATE TRIGGER orders_touch BEFORE INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_touch())sql");
    BOOST_TEST(statements[2].line == 17u);

    BOOST_TEST(statements[3].text == R"sql(DO $body$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pgcoro_no_such_role') THEN
        RAISE NOTICE 'no reader role; skipping grants';
    END IF;
END
$body$)sql");
    BOOST_TEST(statements[3].line == 20u);

    BOOST_TEST(statements[4].text == R"sql(CREATE FUNCTION order_label(s text) RETURNS text LANGUAGE sql
BEGIN ATOMIC
    SELECT CASE s WHEN 'new' THEN 'open; unpaid' ELSE 'closed' END;
END)sql");
    BOOST_TEST(statements[4].line == 28u);

    BOOST_TEST(statements[5].text == R"sql(CREATE OR REPLACE PROCEDURE mark_paid(order_id bigint) LANGUAGE sql
BEGIN ATOMIC
    UPDATE orders SET status = 'paid' WHERE id = order_id;
    UPDATE orders SET "note;text" = 'paid' WHERE id = order_id;
END)sql");
    BOOST_TEST(statements[5].line == 33u);

    BOOST_TEST(statements[6].text ==
               R"sql(INSERT INTO orders ("note;text", status) VALUES (E'it\'s; quoted', 'new'))sql");
    BOOST_TEST(statements[6].line == 39u);

    BOOST_TEST(statements[7].text == "CALL mark_paid(1)");
    BOOST_TEST(statements[7].line == 40u);

    BOOST_TEST(first_words(statements[4].text, 3) == "CREATE FUNCTION ORDER_LABEL");
    BOOST_TEST(script_directives(script).empty());
}

// --- property: joined snippets come back -----------------------------------------------------

BOOST_AUTO_TEST_CASE(random_scripts_of_joined_snippets_split_back_into_the_snippets)
{
    // Statements full of things that must not split; none ends in a line comment (it would
    // swallow the ';' that joins it to the next one).
    const std::vector<std::string> snippets = {
        "SELECT 1",
        "SELECT 'a;b', 'it''s;'",
        "SELECT E'\\';\\\\', e'x\\'y;'",
        "SELECT \"a;\"\"b\" FROM \"t;\"",
        "SELECT $$;$$, $tag$ $$ ; $tag$, $1",
        "SELECT a$b, x$$ FROM t",
        "SELECT 1 -- c;\n + 2",
        "SELECT /* a /* ; */ ; */ 3",
        "SELECT (1;\n2)",
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN true THEN 1 END;\n  "
        "SELECT 2;\nEND",
        "create or replace procedure p() language sql begin atomic select 1; end",
        "DO $body$ BEGIN PERFORM 1; END $body$",
        "BEGIN",
        "COMMIT",
        "SELECT U&'\\0041;', B'1', X'F', N'n;'",
        "CREATE TABLE t (\n  id int,\n  note text DEFAULT ';'\n)",
        "SELECT 'C:\\'",
        "SELECT E'a'\n'\\';'",
    };
    std::mt19937 random(20240601u); // fixed: a failure must reproduce
    std::uniform_int_distribution<std::size_t> pick(0, snippets.size() - 1);
    std::uniform_int_distribution<std::size_t> length(1, 12);
    std::bernoulli_distribution final_semicolon(0.5);
    for (int round = 0; round < 2000; ++round) {
        std::vector<std::string> chosen;
        std::string script;
        std::vector<std::size_t> expected_lines;
        const std::size_t n = length(random);
        for (std::size_t i = 0; i < n; ++i) {
            if (i > 0)
                script += ";\n";
            expected_lines.push_back(
                static_cast<std::size_t>(std::count(script.begin(), script.end(), '\n')) + 1);
            chosen.push_back(snippets[pick(random)]);
            script += chosen.back();
        }
        if (final_semicolon(random))
            script += ";\n";
        const auto statements = split_sql_script(script);
        BOOST_TEST_REQUIRE(statements.size() == chosen.size(), "round " << round << ":\n" << script);
        for (std::size_t i = 0; i < chosen.size(); ++i) {
            BOOST_TEST_REQUIRE(statements[i].text == chosen[i], "round " << round << ", statement " << i);
            BOOST_TEST_REQUIRE(statements[i].line == expected_lines[i],
                               "round " << round << ", statement " << i);
        }
    }
}

BOOST_AUTO_TEST_CASE(large_scripts_split_in_linear_time)
{
    // About 8 MB of statements, dollar-quoted bodies full of mismatched tags and long runs
    // of whitespace after escape strings; a quadratic scan would take hours.
    std::string script;
    const std::string body(4000, ' ');
    std::string tags;
    for (int i = 0; i < 500; ++i)
        tags += "$x $y$ $";
    for (int i = 0; i < 1000; ++i) {
        script += "SELECT $q$" + tags + "$q$, E'a'" + body + "'b';\n";
        script += "SELECT 1 /*" + body + "*/;\n";
    }
    const auto start = std::chrono::steady_clock::now();
    const auto statements = split_sql_script(script);
    const auto elapsed = std::chrono::steady_clock::now() - start;
    BOOST_TEST(statements.size() == 2000u);
    BOOST_TEST(statements.back().line == 2000u);
    BOOST_TEST(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count() < 10);
}

// --- first_words ----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(first_words_upper_cases_the_leading_keywords)
{
    BOOST_TEST(first_words("begin  isolation level serializable", 2) == "BEGIN ISOLATION");
    BOOST_TEST(first_words("/* x */ create index concurrently ix on t(a)", 3) == "CREATE INDEX CONCURRENTLY");
}

BOOST_AUTO_TEST_CASE(first_words_skips_line_and_nested_block_comments_between_words)
{
    BOOST_TEST(first_words("-- c\n/* a /* b */ c */ drop -- x\n /* y */ table t", 2) == "DROP TABLE");
}

BOOST_AUTO_TEST_CASE(first_words_gives_fewer_words_when_the_statement_has_fewer)
{
    BOOST_TEST(first_words("vacuum", 3) == "VACUUM");
    BOOST_TEST(first_words("", 3).empty());
    BOOST_TEST(first_words("  -- only a comment", 3).empty());
    BOOST_TEST(first_words("select 1", 0).empty());
}

BOOST_AUTO_TEST_CASE(first_words_stops_at_the_first_token_that_is_no_plain_word)
{
    BOOST_TEST(first_words("SELECT 1 AS x", 3) == "SELECT");
    BOOST_TEST(first_words("ALTER TABLE \"Orders\" ADD x int", 4) == "ALTER TABLE");
    BOOST_TEST(first_words("create index(a)", 3) == "CREATE INDEX");
    BOOST_TEST(first_words("SELECT E'x' y", 3) == "SELECT");
    BOOST_TEST(first_words("SELECT U&\"x\" y", 3) == "SELECT");
    BOOST_TEST(first_words("(SELECT 1)", 2).empty());
}

BOOST_AUTO_TEST_CASE(first_words_keeps_dollars_and_digits_inside_names)
{
    BOOST_TEST(first_words("create table t$1_x2 (a int)", 3) == "CREATE TABLE T$1_X2");
}

// --- script_directives ----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(directive_before_the_first_statement_is_found)
{
    BOOST_TEST(script_directives("-- pgcoro:no-transaction\nCREATE INDEX CONCURRENTLY ix ON t (a);") ==
                   (strings{"no-transaction"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(directive_allows_whitespace_after_dashes_and_colon_and_is_lower_cased)
{
    BOOST_TEST(script_directives(
                   "--pgcoro:a\n--   pgcoro:\t B_2\n-- PGCORO:X-y   needed for CONCURRENTLY\r\nSELECT 1") ==
                   (strings{"a", "b_2", "x-y"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(directives_between_other_comments_count)
{
    BOOST_TEST(script_directives(
                   "\xEF\xBB\xBF/* header */\n-- pgcoro:a\n\n-- a plain comment\n-- pgcoro:b\nSELECT 1") ==
                   (strings{"a", "b"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(directives_after_the_first_statement_are_ignored)
{
    BOOST_TEST(script_directives("-- pgcoro:a\nSELECT 1;\n-- pgcoro:b\nSELECT 2") == (strings{"a"}),
               boost::test_tools::per_element());
    BOOST_TEST(script_directives("SELECT 1 -- pgcoro:a\n").empty());
}

BOOST_AUTO_TEST_CASE(directive_in_a_block_comment_does_not_count)
{
    BOOST_TEST(script_directives("/*\n-- pgcoro:a\n*/ SELECT 1").empty());
}

BOOST_AUTO_TEST_CASE(malformed_directives_are_no_directives)
{
    BOOST_TEST(
        script_directives("-- pgcoro :a\n-- pgcoro:\n-- pgcoro:a.b\n-- xpgcoro:a\n-- pgcoro:a!\n-- pgcoro\n")
            .empty());
}

BOOST_AUTO_TEST_SUITE_END()
