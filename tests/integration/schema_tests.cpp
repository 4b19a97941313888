// DDL from models against the real server: schema_sql(...).up runs, the catalog holds what
// the models describe (column types, nullability, defaults, identity; pk_/fk_/uq_/chk_
// constraints with their columns and actions; ix_ indexes, GIN included), the models layer
// inserts into the tables, and .down removes every table again. Each test case works in a
// schema of its own, dropped by the fixture whatever happens.

#include "support.hpp"

#include <pgcoro/schema.hpp>

#include <boost/describe.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/uuid/uuid.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include <unistd.h>

namespace schema_catalog_test {

enum class mood { sad, ok, happy };
BOOST_DESCRIBE_ENUM(mood, sad, ok, happy)

struct Note;

struct Member {
    std::int64_t id = 0; // identity
    std::string email;
    std::optional<std::string> display_name;
    mood feeling = mood::ok; // a PostgreSQL enum through type()
    std::vector<std::int32_t> lucky_numbers;
    std::optional<pgcoro::timestamp> created_at;
    std::optional<pgcoro::timestamp> updated_at;
    std::optional<pgcoro::timestamp> deleted_at;
    pgcoro::related<std::vector<Note>> notes;
};
BOOST_DESCRIBE_STRUCT(Member, (),
                      (id, email, display_name, feeling, lucky_numbers, created_at, updated_at, deleted_at,
                       notes))

struct Note {
    boost::uuids::uuid id{}; // gen_random_uuid()
    std::int64_t member_id = 0;
    std::optional<std::int64_t> reviewer_id;
    std::string title;
    std::optional<std::string> body;
    std::vector<std::string> tags;
    boost::json::value attributes;
    pgcoro::numeric price{"0"};
    std::optional<pgcoro::numeric> discount;
    std::optional<pgcoro::timestamp> created_at;
    std::optional<pgcoro::timestamp> updated_at;
    pgcoro::related<std::shared_ptr<Member>> author;
};
BOOST_DESCRIBE_STRUCT(Note, (),
                      (id, member_id, reviewer_id, title, body, tags, attributes, price, discount, created_at,
                       updated_at, author))

/// A composite key.
struct NoteLabel {
    boost::uuids::uuid note_id{};
    std::string label;
    std::int32_t position = 0;
};
BOOST_DESCRIBE_STRUCT(NoteLabel, (), (note_id, label, position))

/// A self-referencing tree.
struct Folder {
    std::int64_t id = 0;
    std::optional<std::int64_t> parent_id;
    std::string name;
    pgcoro::related<std::shared_ptr<Folder>> parent;
};
BOOST_DESCRIBE_STRUCT(Folder, (), (id, parent_id, name, parent))

} // namespace schema_catalog_test

template <> struct pgcoro::model_traits<schema_catalog_test::Member> {
    using M = schema_catalog_test::Member;
    static constexpr std::string_view table = "members";
    static constexpr auto primary_key = &M::id;
    static constexpr auto generated = &M::id;
    static constexpr auto created_at = &M::created_at;
    static constexpr auto updated_at = &M::updated_at;
    static constexpr auto deleted_at = &M::deleted_at;
    static constexpr auto relations =
        std::tuple{pgcoro::has_many(&M::notes, &schema_catalog_test::Note::member_id)};
};

template <> struct pgcoro::model_traits<schema_catalog_test::Note> {
    using N = schema_catalog_test::Note;
    static constexpr std::string_view table = "notes";
    static constexpr auto primary_key = &N::id;
    static constexpr auto generated = &N::id;
    static constexpr auto created_at = &N::created_at;
    static constexpr auto updated_at = &N::updated_at;
    static constexpr auto relations = std::tuple{pgcoro::belongs_to(&N::author, &N::member_id)};
};

template <> struct pgcoro::model_traits<schema_catalog_test::NoteLabel> {
    using L = schema_catalog_test::NoteLabel;
    static constexpr std::string_view table = "note_labels";
    static constexpr auto primary_key = std::tuple{&L::note_id, &L::label};
};

template <> struct pgcoro::model_traits<schema_catalog_test::Folder> {
    using F = schema_catalog_test::Folder;
    static constexpr std::string_view table = "folders";
    static constexpr auto primary_key = &F::id;
    static constexpr auto generated = &F::id;
    static constexpr auto relations = std::tuple{pgcoro::belongs_to(&F::parent, &F::parent_id)};
};

namespace schema_catalog_test {

namespace asio = boost::asio;
using pgcoro::referential_action;

/// The tables of this file, listed so that schema_sql() must reorder them.
inline std::vector<pgcoro::table_definition> tables()
{
    return {
        pgcoro::table<NoteLabel>()
            .references(&NoteLabel::note_id, &Note::id, referential_action::cascade)
            .unique(&NoteLabel::note_id, &NoteLabel::position),
        pgcoro::table<Note>()
            .references(&Note::reviewer_id, &Member::id, referential_action::set_null)
            .type(&Note::discount, "numeric(5, 2)")
            .index(&Note::member_id, &Note::created_at)
            .gin(&Note::tags)
            .gin(&Note::attributes),
        pgcoro::table<Folder>(),
        pgcoro::table<Member>()
            .type(&Member::feeling, "ddl_mood")
            .default_value(&Member::feeling, "'ok'")
            .unique(&Member::email)
            .index(&Member::display_name)
            .check("email_has_at", "position('@' in email) > 1"),
    };
}

/// A schema name of this process and test case.
inline std::string new_schema_name()
{
    std::random_device random;
    return "pgcoro_ddl_" + std::to_string(::getpid()) + "_" + std::to_string(random() % 1000000);
}

/// The test DSN with search_path set to `schema` (a startup option: the pool's resets keep it).
inline std::string dsn_in(const std::string& schema)
{
    std::string base = test::dsn();
    if (base.find("://") != std::string::npos)
        return base + (base.find('?') == std::string::npos ? "?" : "&") + "options=-c%20search_path%3D" +
               schema;
    return base + " options='-c search_path=" + schema + "'";
}

/// A fresh schema holding the enum type and, unless told otherwise, the tables' up script;
/// dropped with everything in it at the end of the test case, failed or not.
struct schema_fixture {
    schema_fixture()
    {
        test::run([this]() -> asio::awaitable<void> {
            auto db = co_await test::connect();
            const std::string quoted = pgcoro::quote_identifier(schema);
            std::string sql = "CREATE SCHEMA " + quoted + "; SET search_path = " + quoted +
                              "; CREATE TYPE ddl_mood AS ENUM ('sad', 'ok', 'happy');";
            co_await db.execute_script(sql);
            created = true;
            co_await db.execute_script(script.up);
        });
    }
    ~schema_fixture()
    {
        if (!created)
            return;
        try {
            test::run([this]() -> asio::awaitable<void> {
                auto db = co_await test::connect();
                std::string sql = "DROP SCHEMA " + pgcoro::quote_identifier(schema) + " CASCADE";
                co_await db.execute_script(sql);
            });
        } catch (const std::exception& e) {
            BOOST_TEST_MESSAGE("could not drop schema " << schema << ": " << e.what());
        }
    }
    schema_fixture(const schema_fixture&) = delete;
    schema_fixture& operator=(const schema_fixture&) = delete;

    /// A connection whose search_path is the fixture's schema.
    asio::awaitable<pgcoro::connection> connect() const
    {
        pgcoro::connect_options o;
        o.conninfo = dsn_in(schema);
        auto db = co_await test::connect(std::move(o));
        co_return db;
    }

    pgcoro::pool_options pool_options() const
    {
        pgcoro::pool_options o;
        o.conninfo = dsn_in(schema);
        o.pool_size = 1;
        o.max_overflow = 0;
        return o;
    }

    std::string schema = new_schema_name();
    pgcoro::schema_script script = pgcoro::schema_sql(tables());
    bool created = false;
};

} // namespace schema_catalog_test

using schema_catalog_test::Folder;
using schema_catalog_test::Member;
using schema_catalog_test::Note;
using schema_catalog_test::NoteLabel;
namespace asio = boost::asio;

BOOST_FIXTURE_TEST_SUITE(schema_catalog, schema_catalog_test::schema_fixture)

BOOST_AUTO_TEST_CASE(up_script_creates_referenced_tables_first)
{
    const std::string& up = script.up;
    BOOST_TEST(up.find("CREATE TABLE \"folders\"") < up.find("CREATE TABLE \"members\""));
    BOOST_TEST(up.find("CREATE TABLE \"members\"") < up.find("CREATE TABLE \"notes\""));
    BOOST_TEST(up.find("CREATE TABLE \"notes\"") < up.find("CREATE TABLE \"note_labels\""));
}

BOOST_AUTO_TEST_CASE(columns_have_the_types_nullability_and_defaults_of_the_models)
{
    auto columns = test::run([this]() -> asio::awaitable<std::vector<std::string>> {
        auto db = co_await connect();
        auto rows = co_await db.query<std::string>(
            "SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || udt_name || ' ' || "
            "is_nullable "
            "|| ' ' || coalesce(column_default, '-') || ' ' || coalesce(identity_generation, '-') || ' ' || "
            "coalesce(numeric_precision || ',' || numeric_scale, '-') "
            "FROM information_schema.columns WHERE table_schema = $1 ORDER BY table_name, ordinal_position",
            schema);
        co_return rows;
    });
    const std::vector<std::string> expected{
        "folders.id bigint int8 NO - BY DEFAULT 64,0",
        "folders.parent_id bigint int8 YES - - 64,0",
        "folders.name text text NO - - -",
        "members.id bigint int8 NO - BY DEFAULT 64,0",
        "members.email text text NO - - -",
        "members.display_name text text YES - - -",
        "members.feeling USER-DEFINED ddl_mood NO 'ok'::ddl_mood - -",
        "members.lucky_numbers ARRAY _int4 NO - - -",
        "members.created_at timestamp with time zone timestamptz NO now() - -",
        "members.updated_at timestamp with time zone timestamptz NO now() - -",
        "members.deleted_at timestamp with time zone timestamptz YES - - -",
        "note_labels.note_id uuid uuid NO - - -",
        "note_labels.label text text NO - - -",
        "note_labels.position integer int4 NO - - 32,0",
        "notes.id uuid uuid NO gen_random_uuid() - -",
        "notes.member_id bigint int8 NO - - 64,0",
        "notes.reviewer_id bigint int8 YES - - 64,0",
        "notes.title text text NO - - -",
        "notes.body text text YES - - -",
        "notes.tags ARRAY _text NO - - -",
        "notes.attributes jsonb jsonb NO - - -",
        "notes.price numeric numeric NO - - -",
        "notes.discount numeric numeric YES - - 5,2",
        "notes.created_at timestamp with time zone timestamptz NO now() - -",
        "notes.updated_at timestamp with time zone timestamptz NO now() - -",
    };
    BOOST_TEST(columns == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(constraints_have_conventional_names_and_columns)
{
    auto constraints = test::run([this]() -> asio::awaitable<std::vector<std::string>> {
        auto db = co_await connect();
        // NOT NULL shows up as unnamed-looking CHECK constraints ("..._not_null"): left out.
        auto rows = co_await db.query<std::string>(
            "SELECT tc.table_name || ' ' || tc.constraint_name || ' ' || tc.constraint_type || ' (' || "
            "coalesce((SELECT string_agg(k.column_name::text, ', ' ORDER BY k.ordinal_position) "
            "FROM information_schema.key_column_usage k WHERE k.constraint_schema = tc.constraint_schema "
            "AND k.constraint_name = tc.constraint_name AND k.table_name = tc.table_name), '') || ')' "
            "FROM information_schema.table_constraints tc WHERE tc.table_schema = $1 "
            "AND tc.constraint_name::text NOT LIKE '%not_null' ORDER BY 1",
            schema);
        co_return rows;
    });
    const std::vector<std::string> expected{
        "folders fk_folders_parent_id_folders FOREIGN KEY (parent_id)",
        "folders pk_folders PRIMARY KEY (id)",
        "members chk_members_email_has_at CHECK ()",
        "members pk_members PRIMARY KEY (id)",
        "members uq_members_email UNIQUE (email)",
        "note_labels fk_note_labels_note_id_notes FOREIGN KEY (note_id)",
        "note_labels pk_note_labels PRIMARY KEY (note_id, label)",
        "note_labels uq_note_labels_note_id_position UNIQUE (note_id, position)",
        "notes fk_notes_member_id_members FOREIGN KEY (member_id)",
        "notes fk_notes_reviewer_id_members FOREIGN KEY (reviewer_id)",
        "notes pk_notes PRIMARY KEY (id)",
    };
    BOOST_TEST(constraints == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(foreign_keys_reference_primary_keys_with_their_actions)
{
    auto references = test::run([this]() -> asio::awaitable<std::vector<std::string>> {
        auto db = co_await connect();
        auto rows = co_await db.query<std::string>(
            "SELECT constraint_name || ' -> ' || unique_constraint_name || ' ON DELETE ' || delete_rule || "
            "' ON UPDATE ' || update_rule FROM information_schema.referential_constraints "
            "WHERE constraint_schema = $1 ORDER BY 1",
            schema);
        co_return rows;
    });
    const std::vector<std::string> expected{
        "fk_folders_parent_id_folders -> pk_folders ON DELETE NO ACTION ON UPDATE NO ACTION",
        "fk_note_labels_note_id_notes -> pk_notes ON DELETE CASCADE ON UPDATE NO ACTION",
        "fk_notes_member_id_members -> pk_members ON DELETE NO ACTION ON UPDATE NO ACTION",
        "fk_notes_reviewer_id_members -> pk_members ON DELETE SET NULL ON UPDATE NO ACTION",
    };
    BOOST_TEST(references == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(indexes_have_conventional_names_and_methods)
{
    auto indexes = test::run([this]() -> asio::awaitable<std::vector<std::string>> {
        auto db = co_await connect();
        auto rows = co_await db.query<std::string>(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname", schema);
        co_return rows;
    });
    const std::string s = schema;
    const std::vector<std::string> expected{
        "CREATE INDEX ix_members_display_name ON " + s + ".members USING btree (display_name)",
        "CREATE INDEX ix_notes_attributes ON " + s + ".notes USING gin (attributes)",
        "CREATE INDEX ix_notes_member_id_created_at ON " + s + ".notes USING btree (member_id, created_at)",
        "CREATE INDEX ix_notes_tags ON " + s + ".notes USING gin (tags)",
        "CREATE UNIQUE INDEX pk_folders ON " + s + ".folders USING btree (id)",
        "CREATE UNIQUE INDEX pk_members ON " + s + ".members USING btree (id)",
        "CREATE UNIQUE INDEX pk_note_labels ON " + s + ".note_labels USING btree (note_id, label)",
        "CREATE UNIQUE INDEX pk_notes ON " + s + ".notes USING btree (id)",
        "CREATE UNIQUE INDEX uq_members_email ON " + s + ".members USING btree (email)",
        "CREATE UNIQUE INDEX uq_note_labels_note_id_position ON " + s +
            ".note_labels USING btree (note_id, "
            "\"position\")",
    };
    BOOST_TEST(indexes == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(models_insert_into_the_generated_tables)
{
    test::run([this]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, pool_options());
        auto s = co_await pool.session();

        Member ann;
        ann.email = "ann@example.com";
        ann.feeling = schema_catalog_test::mood::happy;
        ann.lucky_numbers = {7, 13};
        Member stored = co_await s.insert(ann);
        BOOST_TEST(stored.id > 0); // identity
        BOOST_TEST(stored.created_at.has_value());
        BOOST_TEST((stored.updated_at == stored.created_at));
        BOOST_TEST(!stored.deleted_at.has_value());
        BOOST_TEST((stored.feeling == schema_catalog_test::mood::happy));
        BOOST_TEST((stored.lucky_numbers == std::vector<std::int32_t>{7, 13}));

        Note note;
        note.member_id = stored.id;
        note.title = "hello";
        note.tags = {"a", "b"};
        note.attributes = boost::json::parse(R"({"pinned": true})");
        note.price = pgcoro::numeric{"12.50"};
        note.discount = pgcoro::numeric{"1.5"};
        Note stored_note = co_await s.insert(note);
        BOOST_TEST(!stored_note.id.is_nil()); // gen_random_uuid()
        BOOST_TEST(stored_note.created_at.has_value());
        BOOST_TEST((stored_note.discount == pgcoro::numeric{"1.50"})); // numeric(5, 2)

        NoteLabel label{stored_note.id, "urgent", 1};
        NoteLabel stored_label = co_await s.insert(label);
        BOOST_TEST(stored_label.label == "urgent");

        Folder root;
        root.name = "root";
        Folder stored_root = co_await s.insert(root);
        Folder child;
        child.name = "child";
        child.parent_id = stored_root.id;
        Folder stored_child = co_await s.insert(child);
        BOOST_TEST(stored_child.id > stored_root.id);
        BOOST_TEST((stored_child.parent_id == std::optional<std::int64_t>(stored_root.id)));

        // The jsonb column's GIN index serves containment (the planner may still choose a
        // sequential scan on so small a table; the row is what matters here).
        auto pinned = co_await s.scalar<std::int64_t>(
            "SELECT count(*) FROM notes WHERE attributes @> '{\"pinned\": true}'");
        BOOST_TEST(pinned == 1);
    });
}

BOOST_AUTO_TEST_CASE(check_constraint_is_enforced)
{
    test::run([this]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, pool_options());
        auto s = co_await pool.session();
        Member bad;
        bad.email = "no-at-sign";
        auto insert = s.insert(bad);
        auto e = co_await test::expect_failure(std::move(insert), pgcoro::condition::check_violation);
        BOOST_TEST(e.diag().constraint == "chk_members_email_has_at");
    });
}

BOOST_AUTO_TEST_CASE(unique_constraint_is_enforced)
{
    test::run([this]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, pool_options());
        auto s = co_await pool.session();
        Member ann;
        ann.email = "ann@example.com";
        co_await s.insert(ann);
        auto again = s.insert(ann);
        auto e = co_await test::expect_failure(std::move(again), pgcoro::condition::unique_violation);
        BOOST_TEST(e.diag().constraint == "uq_members_email");
    });
}

BOOST_AUTO_TEST_CASE(foreign_key_actions_cascade_and_set_null)
{
    test::run([this]() -> asio::awaitable<void> {
        pgcoro::pool pool(co_await asio::this_coro::executor, pool_options());
        auto s = co_await pool.session();
        Member author_value;
        author_value.email = "author@example.com";
        Member author = co_await s.insert(author_value);
        Member reviewer_value;
        reviewer_value.email = "reviewer@example.com";
        Member reviewer = co_await s.insert(reviewer_value);
        Note note;
        note.member_id = author.id;
        note.reviewer_id = reviewer.id;
        note.title = "reviewed";
        note.attributes = boost::json::object{};
        Note stored = co_await s.insert(note);
        NoteLabel label{stored.id, "x", 1};
        co_await s.insert(label);

        // ON DELETE SET NULL: the note loses its reviewer.
        co_await s.execute("DELETE FROM members WHERE id = $1", reviewer.id);
        auto after = co_await s.get<Note>(stored.id);
        BOOST_TEST_REQUIRE(after.has_value());
        BOOST_TEST(!after->reviewer_id.has_value());

        // NO ACTION from the belongs_to relation: the author cannot go while it has notes.
        auto remove_author = s.execute("DELETE FROM members WHERE id = $1", author.id);
        auto e =
            co_await test::expect_failure(std::move(remove_author), pgcoro::condition::foreign_key_violation);
        BOOST_TEST(e.diag().constraint == "fk_notes_member_id_members");

        // ON DELETE CASCADE: the labels go with their note.
        co_await s.execute("DELETE FROM notes WHERE id = $1", stored.id);
        auto labels = co_await s.scalar<std::int64_t>("SELECT count(*) FROM note_labels");
        BOOST_TEST(labels == 0);
    });
}

BOOST_AUTO_TEST_CASE(down_script_drops_every_table_index_and_sequence)
{
    test::run([this]() -> asio::awaitable<void> {
        auto db = co_await connect();
        co_await db.execute_script(script.down);
        auto relations = co_await db.scalar<std::int64_t>("SELECT count(*) FROM pg_class c JOIN pg_namespace "
                                                          "n ON n.oid = c.relnamespace WHERE n.nspname = $1",
                                                          schema);
        BOOST_TEST(relations == 0);
        auto tables = co_await db.scalar<std::int64_t>(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = $1", schema);
        BOOST_TEST(tables == 0);
    });
}

BOOST_AUTO_TEST_SUITE_END()
