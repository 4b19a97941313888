// DDL from models, without a server: the exact CREATE/DROP text for a few models, the type
// mapping, the naming convention (with the 63-byte cut), foreign keys from belongs_to and
// references(), every validation error, and the order of schema_sql().

#include <pgcoro/pgcoro.hpp>
#include <pgcoro/schema.hpp>

#include <boost/describe.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>
#include <boost/uuid/uuid.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace ddl_test {

enum class mood { sad, ok, happy };
BOOST_DESCRIBE_ENUM(mood, sad, ok, happy)

struct article;

struct author {
    std::int64_t id = 0;
    std::string email;
    std::optional<std::string> name;
    std::optional<pgcoro::timestamp> created_at;
    std::optional<pgcoro::timestamp> updated_at;
    std::optional<pgcoro::timestamp> deleted_at;
    pgcoro::related<std::vector<article>> articles;
};
BOOST_DESCRIBE_STRUCT(author, (), (id, email, name, created_at, updated_at, deleted_at, articles))

struct article {
    boost::uuids::uuid id{};
    std::int64_t author_id = 0;
    std::optional<std::int64_t> editor_id;
    std::string title;
    boost::json::value meta;
    std::vector<std::string> labels;
    std::optional<pgcoro::timestamp> created_at;
    pgcoro::related<std::shared_ptr<author>> writer;
    pgcoro::related<std::shared_ptr<author>> editor;
};
BOOST_DESCRIBE_STRUCT(article, (),
                      (id, author_id, editor_id, title, meta, labels, created_at, writer, editor))

/// A composite key.
struct article_label {
    boost::uuids::uuid article_id{};
    std::string label;
    std::int32_t position = 0;
};
BOOST_DESCRIBE_STRUCT(article_label, (), (article_id, label, position))

/// A self-referencing tree.
struct node {
    std::int64_t id = 0;
    std::optional<std::int64_t> parent_id;
    std::string name;
    pgcoro::related<std::shared_ptr<node>> parent;
    pgcoro::related<std::vector<node>> children;
};
BOOST_DESCRIBE_STRUCT(node, (), (id, parent_id, name, parent, children))

/// One member of every type the DDL maps.
struct every_type {
    std::int32_t id = 0;
    bool flag = false;
    std::int16_t small = 0;
    std::int64_t big = 0;
    float single = 0;
    double real = 0;
    std::string text;
    std::vector<std::byte> bytes;
    boost::uuids::uuid uuid{};
    pgcoro::timestamp at{};
    std::chrono::local_time<std::chrono::microseconds> local_at{};
    std::chrono::sys_days day{};
    std::chrono::year_month_day calendar_day{};
    pgcoro::interval span{};
    pgcoro::numeric amount{};
    boost::json::value document;
    std::vector<std::int32_t> ints;
    std::vector<std::optional<std::string>> texts;
    std::vector<boost::uuids::uuid> uuids;
    std::vector<pgcoro::timestamp> stamps;
    std::optional<double> maybe;
    std::optional<std::vector<std::int64_t>> maybe_bigs;
};
BOOST_DESCRIBE_STRUCT(every_type, (),
                      (id, flag, small, big, single, real, text, bytes, uuid, at, local_at, day, calendar_day,
                       span, amount, document, ints, texts, uuids, stamps, maybe, maybe_bigs))

/// Enums have no built-in SQL type: each needs type().
struct feeling {
    std::int64_t id = 0;
    mood current = mood::ok;
    std::optional<mood> previous;
    std::vector<mood> history;
};
BOOST_DESCRIBE_STRUCT(feeling, (), (id, current, previous, history))

/// Models in a schema.
struct account {
    std::int64_t id = 0;
    std::string code;
};
BOOST_DESCRIBE_STRUCT(account, (), (id, code))

struct entry {
    std::int64_t id = 0;
    std::int64_t account_id = 0;
    pgcoro::numeric amount{};
};
BOOST_DESCRIBE_STRUCT(entry, (), (id, account_id, amount))

/// Names that need quoting: a reserved word, upper case, a space and a double quote.
struct odd_names {
    std::int64_t select = 0;
    std::string Group;
};
BOOST_DESCRIBE_STRUCT(odd_names, (), (select, Group))

/// Long enough that the generated names exceed 63 bytes.
struct long_names {
    std::int64_t id = 0;
    std::string first_very_long_descriptive_column_name;
    std::string second_very_long_descriptive_column_name;
};
BOOST_DESCRIBE_STRUCT(long_names, (),
                      (id, first_very_long_descriptive_column_name, second_very_long_descriptive_column_name))

/// A table name of 30 two-byte characters: a cut at 54 bytes falls inside one.
struct accented {
    std::int64_t id = 0;
    std::string name;
};
BOOST_DESCRIBE_STRUCT(accented, (), (id, name))

/// A member that is public but not described.
struct partly_described {
    std::int64_t id = 0;
    std::int64_t hidden = 0;
};
BOOST_DESCRIBE_STRUCT(partly_described, (), (id))

/// Generated columns the DDL cannot fill by itself.
struct generated_others {
    std::int64_t id = 0;
    std::int64_t sequence_number = 0;
    std::string slug;
};
BOOST_DESCRIBE_STRUCT(generated_others, (), (id, sequence_number, slug))

/// created_at of a type that cannot hold now().
struct integer_stamp {
    std::int64_t id = 0;
    std::optional<std::int64_t> created_at;
};
BOOST_DESCRIBE_STRUCT(integer_stamp, (), (id, created_at))

/// A column "a_b" and the columns a, b give the same generated names.
struct clash {
    std::int64_t id = 0;
    std::int64_t a = 0;
    std::int64_t b = 0;
    std::int64_t a_b = 0;
};
BOOST_DESCRIBE_STRUCT(clash, (), (id, a, b, a_b))

/// Tables "x_y" (column z) and "x" (column y_z) give the same index name.
struct table_x_y {
    std::int64_t id = 0;
    std::int64_t z = 0;
};
BOOST_DESCRIBE_STRUCT(table_x_y, (), (id, z))
struct table_x {
    std::int64_t id = 0;
    std::int64_t y_z = 0;
};
BOOST_DESCRIBE_STRUCT(table_x, (), (id, y_z))

/// A table named like x_y's index on z.
struct index_named_table {
    std::int64_t id = 0;
};
BOOST_DESCRIBE_STRUCT(index_named_table, (), (id))

/// A key held in a std::optional (left empty before the insert).
struct optional_key {
    std::optional<std::int64_t> id;
    std::optional<std::string> note;
};
BOOST_DESCRIBE_STRUCT(optional_key, (), (id, note))

/// A reference cycle (eggs -> chickens -> eggs) and a table waiting on it.
struct egg {
    std::int64_t id = 0;
    std::int64_t chicken_id = 0;
};
BOOST_DESCRIBE_STRUCT(egg, (), (id, chicken_id))
struct chicken {
    std::int64_t id = 0;
    std::optional<std::int64_t> egg_id;
};
BOOST_DESCRIBE_STRUCT(chicken, (), (id, egg_id))
struct farm {
    std::int64_t id = 0;
    std::int64_t egg_id = 0;
};
BOOST_DESCRIBE_STRUCT(farm, (), (id, egg_id))

} // namespace ddl_test

using namespace ddl_test;

template <> struct pgcoro::model_traits<author> {
    static constexpr std::string_view table = "authors";
    static constexpr auto primary_key = &author::id;
    static constexpr auto generated = &author::id;
    static constexpr auto created_at = &author::created_at;
    static constexpr auto updated_at = &author::updated_at;
    static constexpr auto deleted_at = &author::deleted_at;
    // has_many gives no foreign key on authors: the FK lives on articles.
    static constexpr auto relations = std::tuple{pgcoro::has_many(&author::articles, &article::author_id)};
};

template <> struct pgcoro::model_traits<article> {
    static constexpr std::string_view table = "articles";
    static constexpr auto primary_key = &article::id;
    static constexpr auto generated = &article::id;
    static constexpr auto created_at = &article::created_at;
    static constexpr auto relations = std::tuple{
        pgcoro::belongs_to(&article::writer, &article::author_id),
        pgcoro::belongs_to(&article::editor, &article::editor_id),
    };
};

template <> struct pgcoro::model_traits<article_label> {
    static constexpr std::string_view table = "article_labels";
    static constexpr auto primary_key = std::tuple{&article_label::article_id, &article_label::label};
};

template <> struct pgcoro::model_traits<node> {
    static constexpr std::string_view table = "nodes";
    static constexpr auto primary_key = &node::id;
    static constexpr auto generated = &node::id;
    static constexpr auto relations = std::tuple{
        pgcoro::belongs_to(&node::parent, &node::parent_id),
        pgcoro::has_many(&node::children, &node::parent_id),
    };
};

template <> struct pgcoro::model_traits<every_type> {
    static constexpr std::string_view table = "every_types";
    static constexpr auto primary_key = &every_type::id;
};

template <> struct pgcoro::model_traits<feeling> {
    static constexpr std::string_view table = "feelings";
    static constexpr auto primary_key = &feeling::id;
};

template <> struct pgcoro::model_traits<account> {
    static constexpr std::string_view schema = "accounting";
    static constexpr std::string_view table = "accounts";
    static constexpr auto primary_key = &account::id;
    static constexpr auto generated = &account::id;
};

template <> struct pgcoro::model_traits<entry> {
    static constexpr std::string_view schema = "accounting";
    static constexpr std::string_view table = "entries";
    static constexpr auto primary_key = &entry::id;
    static constexpr auto generated = &entry::id;
};

template <> struct pgcoro::model_traits<odd_names> {
    static constexpr std::string_view table = "Order \"Items\"";
    static constexpr auto primary_key = &odd_names::select;
};

template <> struct pgcoro::model_traits<long_names> {
    static constexpr std::string_view table = "table_with_a_rather_long_name";
    static constexpr auto primary_key = &long_names::id;
};

template <> struct pgcoro::model_traits<accented> {
    static constexpr std::string_view table = "éééééééééééééééééééééééééééééé";
    static constexpr auto primary_key = &accented::id;
};

template <> struct pgcoro::model_traits<partly_described> {
    static constexpr std::string_view table = "partly_described";
    static constexpr auto primary_key = &partly_described::id;
};

template <> struct pgcoro::model_traits<generated_others> {
    static constexpr std::string_view table = "generated_others";
    static constexpr auto primary_key = &generated_others::id;
    static constexpr auto generated =
        std::tuple{&generated_others::id, &generated_others::sequence_number, &generated_others::slug};
};

template <> struct pgcoro::model_traits<integer_stamp> {
    static constexpr std::string_view table = "integer_stamps";
    static constexpr auto primary_key = &integer_stamp::id;
    static constexpr auto created_at = &integer_stamp::created_at;
};

template <> struct pgcoro::model_traits<clash> {
    static constexpr std::string_view table = "clash";
    static constexpr auto primary_key = &clash::id;
};

template <> struct pgcoro::model_traits<table_x_y> {
    static constexpr std::string_view table = "x_y";
    static constexpr auto primary_key = &table_x_y::id;
};

template <> struct pgcoro::model_traits<table_x> {
    static constexpr std::string_view table = "x";
    static constexpr auto primary_key = &table_x::id;
};

template <> struct pgcoro::model_traits<index_named_table> {
    static constexpr std::string_view table = "ix_x_y_z";
    static constexpr auto primary_key = &index_named_table::id;
};

template <> struct pgcoro::model_traits<optional_key> {
    static constexpr std::string_view table = "optional_keys";
    static constexpr auto primary_key = &optional_key::id;
    static constexpr auto generated = &optional_key::id;
};

template <> struct pgcoro::model_traits<egg> {
    static constexpr std::string_view table = "eggs";
    static constexpr auto primary_key = &egg::id;
};

template <> struct pgcoro::model_traits<chicken> {
    static constexpr std::string_view table = "chickens";
    static constexpr auto primary_key = &chicken::id;
};

template <> struct pgcoro::model_traits<farm> {
    static constexpr std::string_view table = "farms";
    static constexpr auto primary_key = &farm::id;
};

namespace {

using pgcoro::client_errc;
using pgcoro::referential_action;

/// Runs `body`, which must throw pgcoro::error(client_errc::invalid_argument); returns what().
template <class Body> std::string invalid_argument_message(Body&& body)
{
    try {
        body();
    } catch (const pgcoro::error& e) {
        BOOST_TEST_INFO("what(): " << e.what());
        BOOST_TEST((e.code() == client_errc::invalid_argument));
        return e.what();
    }
    BOOST_FAIL("expected pgcoro::error(invalid_argument), nothing was thrown");
    return {};
}

bool contains(const std::string& text, std::string_view part)
{
    return text.find(part) != std::string::npos;
}

/// The line of `sql` that starts (after indentation) with `start`; empty if none.
std::string line_starting_with(const std::string& sql, std::string_view start)
{
    std::size_t at = 0;
    while (at < sql.size()) {
        std::size_t end = sql.find('\n', at);
        if (end == std::string::npos)
            end = sql.size();
        std::string line = sql.substr(at, end - at);
        std::size_t first = line.find_first_not_of(' ');
        if (first != std::string::npos && line.compare(first, start.size(), start) == 0)
            return line.substr(first);
        at = end + 1;
    }
    return {};
}

pgcoro::table_definition chicken_table()
{
    return pgcoro::table<chicken>().references(&chicken::egg_id, &egg::id, referential_action::set_null);
}
pgcoro::table_definition egg_table()
{
    return pgcoro::table<egg>().references(&egg::chicken_id, &chicken::id);
}
pgcoro::table_definition farm_table()
{
    return pgcoro::table<farm>().references(&farm::egg_id, &egg::id);
}

} // namespace

BOOST_AUTO_TEST_SUITE(schema_ddl)

// ---- the DDL of whole models ----------------------------------------------------------------

BOOST_AUTO_TEST_CASE(identity_key_timestamps_unique_index_and_check_render_exactly)
{
    pgcoro::table_definition t = pgcoro::table<author>()
                                     .unique(&author::email)
                                     .index(&author::name)
                                     .check("email_has_at", "position('@' in email) > 1");
    BOOST_TEST(t.name() == "authors");
    BOOST_TEST(t.create_sql() == R"sql(CREATE TABLE "authors" (
    "id" bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY,
    "email" text NOT NULL,
    "name" text,
    "created_at" timestamptz NOT NULL DEFAULT now(),
    "updated_at" timestamptz NOT NULL DEFAULT now(),
    "deleted_at" timestamptz,
    CONSTRAINT "pk_authors" PRIMARY KEY ("id"),
    CONSTRAINT "uq_authors_email" UNIQUE ("email"),
    CONSTRAINT "chk_authors_email_has_at" CHECK (position('@' in email) > 1)
);
CREATE INDEX "ix_authors_name" ON "authors" ("name");
)sql");
    BOOST_TEST(t.drop_sql() == "DROP TABLE \"authors\";\n");
    BOOST_TEST(t.references().empty()); // has_many declares no foreign key on the parent
}

BOOST_AUTO_TEST_CASE(uuid_key_belongs_to_foreign_keys_and_gin_indexes_render_exactly)
{
    pgcoro::table_definition t = pgcoro::table<article>()
                                     .default_value(&article::title, "''")
                                     .index(&article::author_id, &article::created_at)
                                     .gin(&article::meta)
                                     .gin(&article::labels);
    BOOST_TEST(t.create_sql() == R"sql(CREATE TABLE "articles" (
    "id" uuid NOT NULL DEFAULT gen_random_uuid(),
    "author_id" bigint NOT NULL,
    "editor_id" bigint,
    "title" text NOT NULL DEFAULT '',
    "meta" jsonb NOT NULL,
    "labels" text[] NOT NULL,
    "created_at" timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT "pk_articles" PRIMARY KEY ("id"),
    CONSTRAINT "fk_articles_author_id_authors" FOREIGN KEY ("author_id") REFERENCES "authors" ("id"),
    CONSTRAINT "fk_articles_editor_id_authors" FOREIGN KEY ("editor_id") REFERENCES "authors" ("id")
);
CREATE INDEX "ix_articles_author_id_created_at" ON "articles" ("author_id", "created_at");
CREATE INDEX "ix_articles_meta" ON "articles" USING gin ("meta");
CREATE INDEX "ix_articles_labels" ON "articles" USING gin ("labels");
)sql");
    BOOST_TEST(t.references() == std::vector<std::string>{"authors"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(composite_key_and_explicit_cascade_render_exactly)
{
    pgcoro::table_definition t = pgcoro::table<article_label>().references(
        &article_label::article_id, &article::id, referential_action::cascade, referential_action::restrict);
    BOOST_TEST(t.create_sql() == R"sql(CREATE TABLE "article_labels" (
    "article_id" uuid NOT NULL,
    "label" text NOT NULL,
    "position" integer NOT NULL,
    CONSTRAINT "pk_article_labels" PRIMARY KEY ("article_id", "label"),
    CONSTRAINT "fk_article_labels_article_id_articles" FOREIGN KEY ("article_id") REFERENCES "articles" ("id") ON DELETE CASCADE ON UPDATE RESTRICT
);
)sql");
    BOOST_TEST(t.references() == std::vector<std::string>{"articles"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(every_builtin_type_maps_to_its_sql_name)
{
    pgcoro::table_definition t = pgcoro::table<every_type>();
    BOOST_TEST(t.create_sql() == R"sql(CREATE TABLE "every_types" (
    "id" integer NOT NULL,
    "flag" boolean NOT NULL,
    "small" smallint NOT NULL,
    "big" bigint NOT NULL,
    "single" real NOT NULL,
    "real" double precision NOT NULL,
    "text" text NOT NULL,
    "bytes" bytea NOT NULL,
    "uuid" uuid NOT NULL,
    "at" timestamptz NOT NULL,
    "local_at" timestamp NOT NULL,
    "day" date NOT NULL,
    "calendar_day" date NOT NULL,
    "span" interval NOT NULL,
    "amount" numeric NOT NULL,
    "document" jsonb NOT NULL,
    "ints" integer[] NOT NULL,
    "texts" text[] NOT NULL,
    "uuids" uuid[] NOT NULL,
    "stamps" timestamptz[] NOT NULL,
    "maybe" double precision,
    "maybe_bigs" bigint[],
    CONSTRAINT "pk_every_types" PRIMARY KEY ("id")
);
)sql");
}

BOOST_AUTO_TEST_CASE(schema_qualified_model_is_qualified_everywhere)
{
    pgcoro::table_definition t = pgcoro::table<entry>()
                                     .type(&entry::amount, "numeric(12, 2)")
                                     .references(&entry::account_id, &account::id)
                                     .index(&entry::account_id);
    BOOST_TEST(t.name() == "accounting.entries");
    BOOST_TEST(t.create_sql() == R"sql(CREATE TABLE "accounting"."entries" (
    "id" bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY,
    "account_id" bigint NOT NULL,
    "amount" numeric(12, 2) NOT NULL,
    CONSTRAINT "pk_entries" PRIMARY KEY ("id"),
    CONSTRAINT "fk_entries_account_id_accounts" FOREIGN KEY ("account_id") REFERENCES "accounting"."accounts" ("id")
);
CREATE INDEX "ix_entries_account_id" ON "accounting"."entries" ("account_id");
)sql");
    BOOST_TEST(t.drop_sql() == "DROP TABLE \"accounting\".\"entries\";\n");
    BOOST_TEST(t.references() == std::vector<std::string>{"accounting.accounts"},
               boost::test_tools::per_element());
    BOOST_TEST(t.index_names() ==
                   (std::vector<std::string>{"accounting.pk_entries", "accounting.ix_entries_account_id"}),
               boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(identifiers_are_quoted_with_embedded_quotes_doubled)
{
    pgcoro::table_definition t = pgcoro::table<odd_names>().index(&odd_names::Group);
    BOOST_TEST(t.create_sql() == R"sql(CREATE TABLE "Order ""Items""" (
    "select" bigint NOT NULL,
    "Group" text NOT NULL,
    CONSTRAINT "pk_Order ""Items""" PRIMARY KEY ("select")
);
CREATE INDEX "ix_Order ""Items""_Group" ON "Order ""Items""" ("Group");
)sql");
    BOOST_TEST(t.drop_sql() == "DROP TABLE \"Order \"\"Items\"\"\";\n");
}

// ---- columns ----------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(related_members_are_not_columns)
{
    const std::string sql = pgcoro::table<author>().definition().create_sql();
    BOOST_TEST(!contains(sql, "articles"));
    const std::string node_sql = pgcoro::table<node>().definition().create_sql();
    BOOST_TEST(!contains(node_sql, "\"parent\""));
    BOOST_TEST(!contains(node_sql, "\"children\""));
}

BOOST_AUTO_TEST_CASE(optional_members_are_nullable_and_others_not_null)
{
    const std::string sql = pgcoro::table<article>().definition().create_sql();
    BOOST_TEST(line_starting_with(sql, "\"editor_id\"") == "\"editor_id\" bigint,");
    BOOST_TEST(line_starting_with(sql, "\"author_id\"") == "\"author_id\" bigint NOT NULL,");
}

BOOST_AUTO_TEST_CASE(an_optional_primary_key_column_is_not_null)
{
    // PostgreSQL makes key columns NOT NULL anyway; the DDL says so rather than surprise.
    const std::string sql = pgcoro::table<optional_key>().definition().create_sql();
    BOOST_TEST(line_starting_with(sql, "\"id\"") ==
               "\"id\" bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY,");
    BOOST_TEST(line_starting_with(sql, "\"note\"") == "\"note\" text,");
}

BOOST_AUTO_TEST_CASE(timestamps_are_not_null_with_now_and_deleted_at_nullable)
{
    const std::string sql = pgcoro::table<author>().definition().create_sql();
    BOOST_TEST(line_starting_with(sql, "\"created_at\"") ==
               "\"created_at\" timestamptz NOT NULL DEFAULT now(),");
    BOOST_TEST(line_starting_with(sql, "\"updated_at\"") ==
               "\"updated_at\" timestamptz NOT NULL DEFAULT now(),");
    BOOST_TEST(line_starting_with(sql, "\"deleted_at\"") == "\"deleted_at\" timestamptz,");
}

BOOST_AUTO_TEST_CASE(enum_members_take_the_type_given)
{
    pgcoro::table_definition t = pgcoro::table<feeling>()
                                     .type(&feeling::current, "mood")
                                     .type(&feeling::previous, "mood")
                                     .type(&feeling::history, "mood[]")
                                     .default_value(&feeling::current, "'ok'");
    BOOST_TEST(t.create_sql() == R"sql(CREATE TABLE "feelings" (
    "id" bigint NOT NULL,
    "current" mood NOT NULL DEFAULT 'ok',
    "previous" mood,
    "history" mood[] NOT NULL,
    CONSTRAINT "pk_feelings" PRIMARY KEY ("id")
);
)sql");
}

BOOST_AUTO_TEST_CASE(default_value_replaces_identity_and_now)
{
    const std::string sql = pgcoro::table<author>()
                                .default_value(&author::id, "nextval('author_ids')")
                                .default_value(&author::created_at, "statement_timestamp()")
                                .definition()
                                .create_sql();
    BOOST_TEST(line_starting_with(sql, "\"id\"") == "\"id\" bigint NOT NULL DEFAULT nextval('author_ids'),");
    BOOST_TEST(line_starting_with(sql, "\"created_at\"") ==
               "\"created_at\" timestamptz NOT NULL DEFAULT statement_timestamp(),");
    BOOST_TEST(!contains(sql, "IDENTITY"));
}

BOOST_AUTO_TEST_CASE(type_override_of_a_generated_key_keeps_identity_for_integer_types)
{
    const std::string sql = pgcoro::table<author>().type(&author::id, "INTEGER").definition().create_sql();
    BOOST_TEST(line_starting_with(sql, "\"id\"") ==
               "\"id\" INTEGER NOT NULL GENERATED BY DEFAULT AS IDENTITY,");
}

BOOST_AUTO_TEST_CASE(generated_key_of_a_serial_type_gets_neither_identity_nor_default)
{
    const std::string sql = pgcoro::table<author>().type(&author::id, "BigSerial").definition().create_sql();
    BOOST_TEST(line_starting_with(sql, "\"id\"") == "\"id\" BigSerial NOT NULL,");
}

BOOST_AUTO_TEST_CASE(generated_columns_with_default_values_are_accepted)
{
    const std::string sql = pgcoro::table<generated_others>()
                                .default_value(&generated_others::sequence_number, "nextval('numbers')")
                                .default_value(&generated_others::slug, "md5(random()::text)")
                                .definition()
                                .create_sql();
    BOOST_TEST(line_starting_with(sql, "\"id\"") ==
               "\"id\" bigint NOT NULL GENERATED BY DEFAULT AS IDENTITY,");
    BOOST_TEST(line_starting_with(sql, "\"sequence_number\"") ==
               "\"sequence_number\" bigint NOT NULL DEFAULT nextval('numbers'),");
    BOOST_TEST(line_starting_with(sql, "\"slug\"") == "\"slug\" text NOT NULL DEFAULT md5(random()::text),");
}

// ---- foreign keys -----------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(explicit_references_replaces_the_belongs_to_foreign_key)
{
    pgcoro::table_definition t =
        pgcoro::table<article>().references(&article::editor_id, &author::id, referential_action::set_null);
    const std::string sql = t.create_sql();
    BOOST_TEST(
        line_starting_with(sql, "CONSTRAINT \"fk_articles_editor_id") ==
        "CONSTRAINT \"fk_articles_editor_id_authors\" FOREIGN KEY (\"editor_id\") REFERENCES \"authors\" "
        "(\"id\") ON DELETE SET NULL");
    std::size_t count = 0;
    for (std::size_t at = sql.find("fk_articles_editor_id"); at != std::string::npos;
         at = sql.find("fk_articles_editor_id", at + 1))
        ++count;
    BOOST_TEST(count == 1u);
    // The other belongs_to is untouched.
    BOOST_TEST(contains(sql,
                        "CONSTRAINT \"fk_articles_author_id_authors\" FOREIGN KEY (\"author_id\") REFERENCES "
                        "\"authors\" (\"id\"),\n"));
}

BOOST_AUTO_TEST_CASE(foreign_keys_follow_column_order_whatever_the_call_order)
{
    const std::string sql = pgcoro::table<article>()
                                .references(&article::editor_id, &author::id, referential_action::set_null)
                                .references(&article::author_id, &author::id, referential_action::cascade)
                                .definition()
                                .create_sql();
    BOOST_TEST(sql.find("fk_articles_author_id_authors") < sql.find("fk_articles_editor_id_authors"));
}

BOOST_AUTO_TEST_CASE(every_referential_action_is_spelled_out)
{
    auto line_for = [](referential_action on_delete, referential_action on_update) {
        return line_starting_with(pgcoro::table<node>()
                                      .references(&node::parent_id, &node::id, on_delete, on_update)
                                      .definition()
                                      .create_sql(),
                                  "CONSTRAINT \"fk_");
    };
    const std::string base = "CONSTRAINT \"fk_nodes_parent_id_nodes\" FOREIGN KEY (\"parent_id\") REFERENCES "
                             "\"nodes\" (\"id\")";
    BOOST_TEST(line_for(referential_action::no_action, referential_action::no_action) == base);
    BOOST_TEST(line_for(referential_action::restrict, referential_action::cascade) ==
               base + " ON DELETE RESTRICT ON UPDATE CASCADE");
    BOOST_TEST(line_for(referential_action::set_null, referential_action::set_null) ==
               base + " ON DELETE SET NULL ON UPDATE SET NULL");
    BOOST_TEST(line_for(referential_action::set_default, referential_action::no_action) ==
               base + " ON DELETE SET DEFAULT");
}

BOOST_AUTO_TEST_CASE(self_reference_lists_its_own_table)
{
    pgcoro::table_definition t = pgcoro::table<node>();
    BOOST_TEST(contains(t.create_sql(), "CONSTRAINT \"fk_nodes_parent_id_nodes\" FOREIGN KEY (\"parent_id\") "
                                        "REFERENCES \"nodes\" (\"id\")\n"));
    BOOST_TEST(t.references() == std::vector<std::string>{"nodes"}, boost::test_tools::per_element());
}

// ---- names ------------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(names_longer_than_63_bytes_are_cut_with_a_hash_suffix)
{
    pgcoro::table_definition t = pgcoro::table<long_names>()
                                     .index(&long_names::first_very_long_descriptive_column_name)
                                     .index(&long_names::second_very_long_descriptive_column_name)
                                     .unique(&long_names::first_very_long_descriptive_column_name,
                                             &long_names::second_very_long_descriptive_column_name);
    // ix_table_with_a_rather_long_name_first_very_long_descriptive_column_name (72 bytes): its
    // first 54 bytes, "_", and FNV-1a-32 of the whole name in hex (computed independently).
    const std::vector<std::string> expected{
        "pk_table_with_a_rather_long_name",
        "ix_table_with_a_rather_long_name_first_very_long_descr_7c889a5f",
        "ix_table_with_a_rather_long_name_second_very_long_desc_509549fb",
        "uq_table_with_a_rather_long_name_first_very_long_descr_dcbd6cd3",
    };
    BOOST_TEST(t.index_names() == expected, boost::test_tools::per_element());
    for (const std::string& name : t.index_names()) {
        BOOST_TEST(name.size() <= 63u);
        BOOST_TEST(contains(t.create_sql(), "\"" + name + "\""));
    }
}

BOOST_AUTO_TEST_CASE(long_names_sharing_their_first_63_bytes_stay_distinct)
{
    // Both names agree on their first 63 bytes (the server would truncate them to the same
    // identifier); they differ only in the columns after the first.
    pgcoro::table_definition t =
        pgcoro::table<long_names>()
            .index(&long_names::first_very_long_descriptive_column_name, &long_names::id)
            .index(&long_names::first_very_long_descriptive_column_name,
                   &long_names::second_very_long_descriptive_column_name);
    const std::vector<std::string>& names = t.index_names();
    BOOST_TEST_REQUIRE(names.size() == 3u);
    BOOST_TEST(names[1] != names[2]);
    BOOST_TEST(names[1].substr(0, 54) == names[2].substr(0, 54));
    BOOST_TEST(names[1].size() == 63u);
    BOOST_TEST(names[2].size() == 63u);
}

BOOST_AUTO_TEST_CASE(long_names_are_never_cut_inside_a_utf8_character)
{
    // "ix_" + 30 x "é" + "_name" is 68 bytes; byte 54 is the second byte of an "é", so the
    // cut backs off to 53 bytes (an invalid UTF-8 name would be refused by the server).
    pgcoro::table_definition t = pgcoro::table<accented>().index(&accented::name);
    BOOST_TEST_REQUIRE(t.index_names().size() == 2u);
    BOOST_TEST(t.index_names()[1] == "ix_ééééééééééééééééééééééééé_59d253a9");
}

BOOST_AUTO_TEST_CASE(generated_names_are_deterministic)
{
    auto build = [] {
        return pgcoro::table<long_names>()
            .index(&long_names::second_very_long_descriptive_column_name)
            .definition()
            .create_sql();
    };
    BOOST_TEST(build() == build());
}

BOOST_AUTO_TEST_CASE(check_names_follow_the_convention)
{
    const std::string sql =
        pgcoro::table<every_type>().check("positive_amount", "amount > 0").definition().create_sql();
    BOOST_TEST(line_starting_with(sql, "CONSTRAINT \"chk_") ==
               "CONSTRAINT \"chk_every_types_positive_amount\" CHECK (amount > 0)");
}

// ---- validation errors -----------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(member_with_no_sql_type_needs_type_naming_model_and_member)
{
    auto what = invalid_argument_message([] { pgcoro::table<feeling>().definition(); });
    BOOST_TEST(contains(what, "ddl_test::feeling"));
    BOOST_TEST(contains(what, "'current'"));
    BOOST_TEST(contains(what, "type()"));
    // The array of enums needs its own type() too.
    auto array_what = invalid_argument_message([] {
        pgcoro::table<feeling>()
            .type(&feeling::current, "mood")
            .type(&feeling::previous, "mood")
            .definition();
    });
    BOOST_TEST(contains(array_what, "'history'"));
}

BOOST_AUTO_TEST_CASE(related_member_named_in_a_call_is_refused_naming_it)
{
    auto what =
        invalid_argument_message([] { pgcoro::table<author>().index(&author::articles).definition(); });
    BOOST_TEST(contains(what, "ddl_test::author"));
    BOOST_TEST(contains(what, "'articles'"));
    BOOST_TEST(contains(what, "not a column"));
    invalid_argument_message([] { pgcoro::table<author>().unique(&author::articles).definition(); });
    invalid_argument_message([] { pgcoro::table<author>().gin(&author::articles).definition(); });
    invalid_argument_message([] { pgcoro::table<author>().type(&author::articles, "text").definition(); });
    invalid_argument_message(
        [] { pgcoro::table<author>().default_value(&author::articles, "1").definition(); });
    invalid_argument_message(
        [] { pgcoro::table<article>().references(&article::writer, &author::id).definition(); });
}

BOOST_AUTO_TEST_CASE(undescribed_member_is_refused)
{
    auto what = invalid_argument_message(
        [] { pgcoro::table<partly_described>().index(&partly_described::hidden).definition(); });
    BOOST_TEST(contains(what, "ddl_test::partly_described"));
    BOOST_TEST(contains(what, "not described"));
}

BOOST_AUTO_TEST_CASE(referenced_member_that_is_not_a_column_of_the_target_is_refused)
{
    auto what = invalid_argument_message(
        [] { pgcoro::table<node>().references(&node::parent_id, &author::articles).definition(); });
    BOOST_TEST(contains(what, "ddl_test::author"));
    BOOST_TEST(contains(what, "'articles'"));
}

BOOST_AUTO_TEST_CASE(empty_column_lists_are_refused)
{
    auto what = invalid_argument_message([] { pgcoro::table<author>().index().definition(); });
    BOOST_TEST(contains(what, "index()"));
    BOOST_TEST(contains(what, "ddl_test::author"));
    auto unique_what = invalid_argument_message([] { pgcoro::table<author>().unique().definition(); });
    BOOST_TEST(contains(unique_what, "unique()"));
}

BOOST_AUTO_TEST_CASE(a_member_named_twice_in_one_list_is_refused)
{
    auto what = invalid_argument_message(
        [] { pgcoro::table<author>().unique(&author::email, &author::email).definition(); });
    BOOST_TEST(contains(what, "'email'"));
}

BOOST_AUTO_TEST_CASE(duplicate_index_on_the_same_columns_is_refused)
{
    auto what = invalid_argument_message([] {
        pgcoro::table<author>()
            .index(&author::email, &author::name)
            .index(&author::email, &author::name)
            .definition();
    });
    BOOST_TEST(contains(what, "(email, name)"));
    BOOST_TEST(contains(what, "twice"));
    // Another order of the same columns is another index.
    BOOST_CHECK_NO_THROW(pgcoro::table<author>()
                             .index(&author::email, &author::name)
                             .index(&author::name, &author::email)
                             .definition());
}

BOOST_AUTO_TEST_CASE(duplicate_unique_on_the_same_columns_is_refused)
{
    auto what = invalid_argument_message(
        [] { pgcoro::table<author>().unique(&author::email).unique(&author::email).definition(); });
    BOOST_TEST(contains(what, "(email)"));
}

BOOST_AUTO_TEST_CASE(duplicate_gin_on_the_same_column_is_refused)
{
    invalid_argument_message(
        [] { pgcoro::table<article>().gin(&article::meta).gin(&article::meta).definition(); });
}

BOOST_AUTO_TEST_CASE(index_repeating_a_unique_or_the_primary_key_is_refused)
{
    auto what = invalid_argument_message(
        [] { pgcoro::table<author>().index(&author::email).unique(&author::email).definition(); });
    BOOST_TEST(contains(what, "unique(email)"));
    invalid_argument_message([] { pgcoro::table<author>().index(&author::id).definition(); });
    invalid_argument_message([] { pgcoro::table<author>().unique(&author::id).definition(); });
    // A prefix of the key is another index.
    BOOST_CHECK_NO_THROW(pgcoro::table<article_label>().index(&article_label::label).definition());
}

BOOST_AUTO_TEST_CASE(gin_on_a_scalar_column_is_refused)
{
    auto what = invalid_argument_message([] { pgcoro::table<author>().gin(&author::email).definition(); });
    BOOST_TEST(contains(what, "'email'"));
    // A type() (tsvector, say) is trusted.
    BOOST_CHECK_NO_THROW(
        pgcoro::table<author>().type(&author::email, "tsvector").gin(&author::email).definition());
}

BOOST_AUTO_TEST_CASE(check_name_must_be_lowercase_letters_digits_and_underscores)
{
    auto what = invalid_argument_message([] { pgcoro::table<author>().check("", "true").definition(); });
    BOOST_TEST(contains(what, "ddl_test::author"));
    for (const char* name : {"Upper", "with space", "dash-ed", "quote\"d", "semi;colon"}) {
        BOOST_TEST_CONTEXT(name)
        {
            auto bad =
                invalid_argument_message([&] { pgcoro::table<author>().check(name, "true").definition(); });
            BOOST_TEST(contains(bad, name));
        }
    }
    BOOST_CHECK_NO_THROW(pgcoro::table<author>().check("a_1", "true").definition());
}

BOOST_AUTO_TEST_CASE(check_with_an_empty_condition_is_refused)
{
    invalid_argument_message([] { pgcoro::table<author>().check("nothing", " ").definition(); });
}

BOOST_AUTO_TEST_CASE(check_name_used_twice_is_refused)
{
    invalid_argument_message(
        [] { pgcoro::table<author>().check("same", "true").check("same", "id > 0").definition(); });
}

BOOST_AUTO_TEST_CASE(type_default_or_references_given_twice_are_refused)
{
    auto what = invalid_argument_message([] {
        pgcoro::table<author>().type(&author::email, "text").type(&author::email, "varchar").definition();
    });
    BOOST_TEST(contains(what, "'email'"));
    invalid_argument_message([] {
        pgcoro::table<author>()
            .default_value(&author::name, "'a'")
            .default_value(&author::name, "'b'")
            .definition();
    });
    invalid_argument_message([] {
        pgcoro::table<article>()
            .references(&article::author_id, &author::id)
            .references(&article::author_id, &author::id, referential_action::cascade)
            .definition();
    });
}

BOOST_AUTO_TEST_CASE(empty_type_or_default_is_refused)
{
    invalid_argument_message([] { pgcoro::table<author>().type(&author::email, "").definition(); });
    invalid_argument_message([] { pgcoro::table<author>().default_value(&author::email, "").definition(); });
}

BOOST_AUTO_TEST_CASE(set_null_on_a_not_null_column_is_refused)
{
    auto what = invalid_argument_message([] {
        pgcoro::table<article>()
            .references(&article::author_id, &author::id, referential_action::set_null)
            .definition();
    });
    BOOST_TEST(contains(what, "ddl_test::article"));
    BOOST_TEST(contains(what, "'author_id'"));
    BOOST_TEST(contains(what, "SET NULL"));
    invalid_argument_message([] {
        pgcoro::table<article>()
            .references(&article::author_id, &author::id, referential_action::no_action,
                        referential_action::set_null)
            .definition();
    });
}

BOOST_AUTO_TEST_CASE(set_default_on_a_not_null_column_needs_a_default)
{
    invalid_argument_message([] {
        pgcoro::table<article>()
            .references(&article::author_id, &author::id, referential_action::set_default)
            .definition();
    });
    BOOST_CHECK_NO_THROW(pgcoro::table<article>()
                             .default_value(&article::author_id, "0")
                             .references(&article::author_id, &author::id, referential_action::set_default)
                             .definition());
}

BOOST_AUTO_TEST_CASE(generated_column_the_ddl_cannot_fill_needs_a_default)
{
    auto what = invalid_argument_message([] { pgcoro::table<generated_others>().definition(); });
    BOOST_TEST(contains(what, "ddl_test::generated_others"));
    BOOST_TEST(contains(what, "'sequence_number'")); // an integer, but not a key
    auto slug_what = invalid_argument_message([] {
        pgcoro::table<generated_others>().default_value(&generated_others::sequence_number, "0").definition();
    });
    BOOST_TEST(contains(slug_what, "'slug'"));
}

BOOST_AUTO_TEST_CASE(created_at_of_a_non_timestamp_type_is_refused)
{
    auto what = invalid_argument_message([] { pgcoro::table<integer_stamp>().definition(); });
    BOOST_TEST(contains(what, "'created_at'"));
}

BOOST_AUTO_TEST_CASE(generated_names_that_coincide_are_refused)
{
    auto what = invalid_argument_message(
        [] { pgcoro::table<clash>().unique(&clash::a, &clash::b).unique(&clash::a_b).definition(); });
    BOOST_TEST(contains(what, "uq_clash_a_b"));
}

// ---- schema_sql -------------------------------------------------------------------------------

BOOST_AUTO_TEST_CASE(referenced_tables_come_first_and_ties_keep_the_given_order)
{
    std::vector<pgcoro::table_definition> tables{
        pgcoro::table<article_label>().references(&article_label::article_id, &article::id),
        pgcoro::table<article>(),
        pgcoro::table<node>(),
        pgcoro::table<author>(),
    };
    pgcoro::schema_script script = pgcoro::schema_sql(tables);
    const std::string expected_up = tables[2].create_sql() + "\n" + tables[3].create_sql() + "\n" +
                                    tables[1].create_sql() + "\n" + tables[0].create_sql();
    BOOST_TEST(script.up == expected_up);
    BOOST_TEST(script.down == "DROP TABLE \"article_labels\";\nDROP TABLE \"articles\";\nDROP TABLE "
                              "\"authors\";\nDROP TABLE \"nodes\";\n");
}

BOOST_AUTO_TEST_CASE(tables_in_a_valid_order_keep_it)
{
    std::vector<pgcoro::table_definition> tables{pgcoro::table<author>(), pgcoro::table<node>(),
                                                 pgcoro::table<article>()};
    pgcoro::schema_script script = pgcoro::schema_sql(tables);
    BOOST_TEST(script.up ==
               tables[0].create_sql() + "\n" + tables[1].create_sql() + "\n" + tables[2].create_sql());
}

BOOST_AUTO_TEST_CASE(a_table_referencing_one_not_listed_is_taken_as_existing)
{
    pgcoro::schema_script script = pgcoro::schema_sql({pgcoro::table<article>()});
    BOOST_TEST(script.up == pgcoro::table<article>().definition().create_sql());
    BOOST_TEST(script.down == "DROP TABLE \"articles\";\n");
}

BOOST_AUTO_TEST_CASE(an_empty_list_gives_empty_scripts)
{
    pgcoro::schema_script script = pgcoro::schema_sql({});
    BOOST_TEST(script.up.empty());
    BOOST_TEST(script.down.empty());
}

BOOST_AUTO_TEST_CASE(a_reference_cycle_is_refused_naming_its_tables)
{
    auto what = invalid_argument_message([] {
        pgcoro::schema_sql({farm_table(), chicken_table(), egg_table()});
    });
    BOOST_TEST(contains(what, "cycle"));
    // The cycle itself, not the table that merely waits on it.
    BOOST_TEST(
        (contains(what, "chickens -> eggs -> chickens") || contains(what, "eggs -> chickens -> eggs")));
    BOOST_TEST(!contains(what, "farms"));
}

BOOST_AUTO_TEST_CASE(a_table_listed_twice_is_refused)
{
    auto what = invalid_argument_message([] {
        pgcoro::schema_sql({pgcoro::table<author>(), pgcoro::table<author>()});
    });
    BOOST_TEST(contains(what, "authors"));
}

BOOST_AUTO_TEST_CASE(index_names_coinciding_across_tables_are_refused)
{
    auto what = invalid_argument_message([] {
        pgcoro::schema_sql(
            {pgcoro::table<table_x_y>().index(&table_x_y::z), pgcoro::table<table_x>().index(&table_x::y_z)});
    });
    BOOST_TEST(contains(what, "ix_x_y_z"));
}

BOOST_AUTO_TEST_CASE(an_index_named_like_a_table_is_refused)
{
    auto what = invalid_argument_message([] {
        pgcoro::schema_sql(
            {pgcoro::table<index_named_table>(), pgcoro::table<table_x_y>().index(&table_x_y::z)});
    });
    BOOST_TEST(contains(what, "ix_x_y_z"));
    BOOST_CHECK_NO_THROW(pgcoro::schema_sql({pgcoro::table<table_x_y>(), pgcoro::table<table_x>()}));
}

BOOST_AUTO_TEST_SUITE_END()
