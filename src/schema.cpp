#include <pgcoro/detail/hash.hpp>
#include <pgcoro/identifier.hpp>
#include <pgcoro/schema.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>

namespace pgcoro {
namespace detail {
namespace {

// NAMEDATALEN - 1 in a default build. The server truncates longer identifiers with only a
// NOTICE, so two long generated names could silently become one.
constexpr std::size_t max_identifier_bytes = 63;
// "_" + 8 hex digits of the hash that replace the cut-off tail of a long name.
constexpr std::size_t hash_suffix_bytes = 9;

// The SQL names of the built-in types a C++ type can map to (their type_oid). Standard
// spellings where PostgreSQL has one, so the DDL reads as people write it.
struct sql_type_name {
    oid_t type;
    const char* name;
};
constexpr sql_type_name sql_type_names[] = {
    {oids::bool_, "boolean"},
    {oids::bytea, "bytea"},
    {oids::char_, "\"char\""},
    {oids::name, "name"},
    {oids::int8, "bigint"},
    {oids::int2, "smallint"},
    {oids::int4, "integer"},
    {oids::text, "text"},
    {oids::oid, "oid"},
    {oids::json, "json"},
    {oids::xml, "xml"},
    {oids::float4, "real"},
    {oids::float8, "double precision"},
    {oids::bpchar, "character"},
    {oids::varchar, "character varying"},
    {oids::date, "date"},
    {oids::time, "time"},
    {oids::timestamp, "timestamp"},
    {oids::timestamptz, "timestamptz"},
    {oids::interval, "interval"},
    {oids::numeric, "numeric"},
    {oids::uuid, "uuid"},
    {oids::jsonb, "jsonb"},
};

std::optional<std::string> builtin_sql_type(oid_t type)
{
    if (type == 0)
        return std::nullopt;
    for (const sql_type_name& t : sql_type_names)
        if (t.type == type)
            return std::string(t.name);
    if (oid_t element = array_element_oid(type); element != 0)
        if (std::optional<std::string> name = builtin_sql_type(element))
            return *name + "[]";
    return std::nullopt;
}

/// `name` if it fits in an identifier; else its first bytes, "_" and 8 hex digits of a hash
/// of the whole name (63 bytes at most, deterministic, and distinct for distinct names
/// barring a hash collision).
std::string fit_identifier(std::string name)
{
    if (name.size() <= max_identifier_bytes)
        return name;
    // FNV-1a: the same on every build, so a generated name never changes between builds.
    const std::uint32_t hash = detail::fnv1a_32(name);
    std::size_t cut = max_identifier_bytes - hash_suffix_bytes;
    // Never cut a UTF-8 sequence in two: the server would reject the invalid byte sequence.
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80)
        --cut;
    name.resize(cut);
    static constexpr char hex[] = "0123456789abcdef";
    name += '_';
    for (int shift = 28; shift >= 0; shift -= 4)
        name += hex[(hash >> shift) & 0xF];
    return name;
}

const char* action_sql(referential_action action) noexcept
{
    switch (action) {
    case referential_action::no_action:
        return "NO ACTION";
    case referential_action::restrict:
        return "RESTRICT";
    case referential_action::cascade:
        return "CASCADE";
    case referential_action::set_null:
        return "SET NULL";
    case referential_action::set_default:
        return "SET DEFAULT";
    }
    return "NO ACTION";
}

std::string lowercase_trimmed(std::string_view text)
{
    const std::size_t first = text.find_first_not_of(" \t\n");
    if (first == std::string_view::npos)
        return {};
    const std::size_t last = text.find_last_not_of(" \t\n");
    std::string out(text.substr(first, last - first + 1));
    for (char& c : out)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool is_blank(std::string_view text)
{
    return text.find_first_not_of(" \t\n\r") == std::string_view::npos;
}

/// One table's validation and rendering; every error names the model and the member.
class table_renderer {
public:
    explicit table_renderer(const table_spec& spec) : spec_(spec) {}

    struct rendered {
        std::string name;
        std::string create_sql;
        std::string drop_sql;
        std::vector<std::string> references;
        std::vector<std::string> index_names;
    };

    rendered render()
    {
        collect_member_texts(spec_.types, "type()", types_);
        collect_member_texts(spec_.defaults, "default_value()", defaults_);
        resolve_columns();
        collect_indexes();
        collect_foreign_keys();
        collect_checks();
        check_names_distinct();
        return {display_name(spec_.schema, spec_.table), create_sql(), drop_sql(), referenced_tables(),
                index_names()};
    }

private:
    struct column {
        std::string quoted;
        std::string sql_type;
        bool not_null = true;
        std::string default_sql; ///< empty: none
        bool identity = false;
        bool self_filled = false; ///< a serial type: its sequence is its default
    };
    struct index {
        schema_index_kind kind;
        std::vector<std::size_t> columns;
        std::string name;
    };
    struct foreign_key {
        std::size_t column;
        const schema_foreign_key* spec;
        std::string name;
    };
    struct check {
        std::string name;
        const schema_check* spec;
    };

    [[noreturn]] void fail(const std::string& what) const
    {
        throw error(client_errc::invalid_argument, "pgcoro::table<" + spec_.type_name + "> (table " +
                                                       display_name(spec_.schema, spec_.table) +
                                                       "): " + what);
    }

    static std::string display_name(const std::string& schema, const std::string& table)
    {
        return schema.empty() ? table : schema + "." + table;
    }

    static std::string qualified(const std::string& schema, const std::string& table)
    {
        std::string out;
        if (!schema.empty()) {
            append_identifier(out, schema);
            out += '.';
        }
        append_identifier(out, table);
        return out;
    }

    /// `member 'x'` for messages, or fail() for a member that is not a column of `model`.
    std::string checked_column_name(const schema_member& m, std::string_view call,
                                    std::string_view model) const
    {
        if (m.name.empty())
            fail(std::string(call) + " names a member of " + std::string(model) +
                 " that is not described (BOOST_DESCRIBE_STRUCT lists only public members)");
        if (m.column == no_column)
            fail(std::string(call) + ": member '" + m.name + "' of " + std::string(model) +
                 " is not a column (a pgcoro::related or another non-column member)");
        return m.name;
    }

    std::size_t checked_column(const schema_member& m, std::string_view call) const
    {
        checked_column_name(m, call, spec_.type_name);
        return m.column;
    }

    const std::string& name_of(std::size_t column) const { return spec_.columns[column].name; }

    void collect_member_texts(const std::vector<schema_member_text>& texts, std::string_view call,
                              std::map<std::size_t, std::string>& out) const
    {
        for (const schema_member_text& t : texts) {
            const std::size_t c = checked_column(t.member, call);
            if (is_blank(t.sql))
                fail(std::string(call) + " of member '" + name_of(c) + "' is empty");
            if (!out.emplace(c, t.sql).second)
                fail(std::string(call) + " is given twice for member '" + name_of(c) + "'");
        }
    }

    bool is_key(std::size_t c) const
    {
        return std::find(spec_.key.begin(), spec_.key.end(), c) != spec_.key.end();
    }

    /// The column's type as an OID when it comes from the C++ type (no type() override).
    std::optional<oid_t> mapped_oid(std::size_t c) const
    {
        if (types_.count(c))
            return std::nullopt;
        return spec_.columns[c].type_oid;
    }

    bool is_integer(std::size_t c) const
    {
        if (auto oid = mapped_oid(c))
            return *oid == oids::int2 || *oid == oids::int4 || *oid == oids::int8;
        static const std::set<std::string> names{"smallint", "integer", "bigint", "int",
                                                 "int2",     "int4",    "int8"};
        return names.count(lowercase_trimmed(types_.at(c))) != 0;
    }

    /// A serial type() fills the column from its own sequence (a default of its own).
    bool is_serial(std::size_t c) const
    {
        if (!types_.count(c))
            return false;
        static const std::set<std::string> names{"smallserial", "serial",  "bigserial",
                                                 "serial2",     "serial4", "serial8"};
        return names.count(lowercase_trimmed(types_.at(c))) != 0;
    }

    bool is_uuid(std::size_t c) const
    {
        if (auto oid = mapped_oid(c))
            return *oid == oids::uuid;
        return lowercase_trimmed(types_.at(c)) == "uuid";
    }

    void check_timestamp(std::size_t c, std::string_view role) const
    {
        auto oid = mapped_oid(c);
        if (oid && *oid != oids::timestamptz && *oid != oids::timestamp)
            fail(std::string(role) + " member '" + name_of(c) +
                 "' must have a timestamp type (pgcoro::timestamp for timestamptz), or a type()");
    }

    void resolve_columns()
    {
        if (spec_.created_at != no_column)
            check_timestamp(spec_.created_at, "created_at");
        if (spec_.updated_at != no_column)
            check_timestamp(spec_.updated_at, "updated_at");
        if (spec_.deleted_at != no_column)
            check_timestamp(spec_.deleted_at, "deleted_at");
        for (std::size_t c = 0; c < spec_.columns.size(); ++c) {
            const schema_column& in = spec_.columns[c];
            column out;
            out.quoted = quote_identifier(in.name);
            if (auto type = types_.find(c); type != types_.end()) {
                out.sql_type = type->second;
            } else if (std::optional<std::string> name = builtin_sql_type(in.type_oid)) {
                out.sql_type = *name;
            } else {
                fail("member '" + in.name + "' has a C++ type with no built-in SQL type (" +
                     (in.type_oid == 0 ? std::string("type_oid 0, such as an enum")
                                       : "type_oid " + std::to_string(in.type_oid)) +
                     "); give it one with type()");
            }
            const bool timestamped = c == spec_.created_at || c == spec_.updated_at;
            // created_at/updated_at are std::optional only so that a new object can leave them
            // unset: the models layer always stores the server's now() into them.
            out.not_null = !in.optional || is_key(c) || timestamped;
            if (auto value = defaults_.find(c); value != defaults_.end())
                out.default_sql = value->second;
            else if (timestamped)
                out.default_sql = "now()";
            else if (is_serial(c))
                out.self_filled = true;
            else if (spec_.generated[c] && is_key(c) && is_integer(c))
                out.identity = true;
            else if (spec_.generated[c] && is_uuid(c))
                out.default_sql = "gen_random_uuid()";
            else if (spec_.generated[c])
                fail("generated member '" + in.name +
                     "' is neither an integer key (identity) nor a uuid (gen_random_uuid()): give it a "
                     "default_value() (or a serial type())");
            columns_.push_back(std::move(out));
        }
    }

    std::string joined_names(const std::vector<std::size_t>& columns) const
    {
        std::string out;
        for (std::size_t c : columns)
            out += "_" + name_of(c);
        return out;
    }

    std::string quoted_list(const std::vector<std::size_t>& columns) const
    {
        std::string out;
        for (std::size_t c : columns) {
            if (!out.empty())
                out += ", ";
            out += columns_[c].quoted;
        }
        return out;
    }

    static const char* call_name(schema_index_kind kind) noexcept
    {
        switch (kind) {
        case schema_index_kind::unique:
            return "unique()";
        case schema_index_kind::gin:
            return "gin()";
        case schema_index_kind::btree:
            break;
        }
        return "index()";
    }

    std::string column_list_text(const std::vector<std::size_t>& columns) const
    {
        std::string out = "(";
        for (std::size_t c : columns)
            out += (out.size() > 1 ? ", " : "") + name_of(c);
        return out + ")";
    }

    void collect_indexes()
    {
        for (const schema_index& in : spec_.indexes) {
            const char* call = call_name(in.kind);
            if (in.columns.empty())
                fail(std::string(call) + " needs at least one member");
            index out{in.kind, {}, {}};
            for (const schema_member& m : in.columns) {
                const std::size_t c = checked_column(m, call);
                if (std::find(out.columns.begin(), out.columns.end(), c) != out.columns.end())
                    fail(std::string(call) + " names member '" + name_of(c) + "' twice");
                out.columns.push_back(c);
            }
            if (in.kind == schema_index_kind::gin) {
                auto oid = mapped_oid(out.columns[0]);
                if (oid && *oid != oids::jsonb && array_element_oid(*oid) == 0)
                    fail("gin() on member '" + name_of(out.columns[0]) + "' of type " +
                         columns_[out.columns[0]].sql_type +
                         ": GIN without an operator class serves jsonb and arrays (or give a type())");
            }
            const char* prefix = in.kind == schema_index_kind::unique ? "uq_" : "ix_";
            out.name = fit_identifier(prefix + spec_.table + joined_names(out.columns));
            indexes_.push_back(std::move(out));
        }
        // Redundant indexes cost writes and space for nothing; the same unique constraint
        // twice is a mistake. Compare every pair, whatever the call order.
        for (std::size_t i = 0; i < indexes_.size(); ++i) {
            const index& a = indexes_[i];
            if (a.kind == schema_index_kind::unique && a.columns == spec_.key)
                fail("unique" + column_list_text(a.columns) + " repeats the primary key");
            if (a.kind == schema_index_kind::btree && a.columns == spec_.key)
                fail("index" + column_list_text(a.columns) + " repeats the primary key's index");
            for (std::size_t j = 0; j < indexes_.size(); ++j) {
                const index& b = indexes_[j];
                if (j == i || a.columns != b.columns)
                    continue;
                if (a.kind == b.kind && j > i)
                    fail(std::string(call_name(a.kind)) + " on " + column_list_text(a.columns) +
                         " is given twice");
                if (a.kind == schema_index_kind::btree && b.kind == schema_index_kind::unique)
                    fail("index" + column_list_text(a.columns) + " repeats the index of unique" +
                         column_list_text(b.columns));
            }
        }
    }

    void collect_foreign_keys()
    {
        std::set<std::size_t> explicit_columns;
        for (const schema_foreign_key& fk : spec_.foreign_keys) {
            const char* call = fk.automatic ? "belongs_to relation" : "references()";
            const std::size_t c = checked_column(fk.column, call);
            checked_column_name(fk.target_column, call, fk.target_type);
            if (!fk.automatic && !explicit_columns.insert(c).second)
                fail("references() is given twice for member '" + name_of(c) + "'");
        }
        for (const schema_foreign_key& fk : spec_.foreign_keys) {
            const std::size_t c = fk.column.column;
            if (fk.automatic && explicit_columns.count(c))
                continue; // an explicit references() of the column replaces it
            const std::string target = display_name(fk.target_schema, fk.target_table);
            bool repeated = false;
            for (const foreign_key& seen : foreign_keys_)
                repeated = repeated || (seen.column == c && seen.spec->target_schema == fk.target_schema &&
                                        seen.spec->target_table == fk.target_table &&
                                        seen.spec->target_column.column == fk.target_column.column);
            if (repeated)
                continue; // two belongs_to relations through the same key need one constraint
            for (referential_action action : {fk.on_delete, fk.on_update}) {
                if (action == referential_action::set_null && columns_[c].not_null)
                    fail("references() of member '" + name_of(c) +
                         "' with SET NULL, but the column is NOT NULL (make the member a std::optional)");
                if (action == referential_action::set_default && columns_[c].not_null &&
                    columns_[c].default_sql.empty() && !columns_[c].identity && !columns_[c].self_filled)
                    fail("references() of member '" + name_of(c) +
                         "' with SET DEFAULT, but the NOT NULL column has no default_value()");
            }
            foreign_keys_.push_back(
                {c, &fk, fit_identifier("fk_" + spec_.table + "_" + name_of(c) + "_" + fk.target_table)});
        }
        std::stable_sort(foreign_keys_.begin(), foreign_keys_.end(),
                         [](const foreign_key& a, const foreign_key& b) { return a.column < b.column; });
    }

    void collect_checks()
    {
        std::set<std::string> names;
        for (const schema_check& in : spec_.checks) {
            if (in.name.empty())
                fail("check() needs a name");
            for (char c : in.name)
                if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
                    fail("check() name '" + in.name + "' must be made of a-z, 0-9 and _");
            if (is_blank(in.condition))
                fail("check() '" + in.name + "' has an empty condition");
            if (!names.insert(in.name).second)
                fail("check() '" + in.name + "' is given twice");
            checks_.push_back({fit_identifier("chk_" + spec_.table + "_" + in.name), &in});
        }
    }

    std::string primary_key_name() const { return fit_identifier("pk_" + spec_.table); }

    /// Constraint names share one namespace per table, index names one per schema: two
    /// different definitions must never get the same name (a column "a_b" and the columns
    /// a, b both give ..._a_b).
    void check_names_distinct() const
    {
        std::map<std::string, std::string> names; // name -> what it names
        auto add = [&](const std::string& name, std::string what) {
            auto [it, inserted] = names.emplace(name, what);
            if (!inserted)
                fail(what + " and " + it->second + " would both be named " + name);
        };
        add(primary_key_name(), "the primary key");
        for (const index& i : indexes_)
            add(i.name, std::string(call_name(i.kind)) + " on " + column_list_text(i.columns));
        for (const foreign_key& fk : foreign_keys_)
            add(fk.name, "the foreign key of " + name_of(fk.column));
        for (const check& c : checks_)
            add(c.name, "check() '" + c.spec->name + "'");
    }

    std::string create_sql() const
    {
        const std::string table = qualified(spec_.schema, spec_.table);
        std::vector<std::string> lines;
        for (const column& c : columns_) {
            std::string line = c.quoted + " " + c.sql_type;
            if (c.not_null)
                line += " NOT NULL";
            if (c.identity)
                line += " GENERATED BY DEFAULT AS IDENTITY";
            else if (!c.default_sql.empty())
                line += " DEFAULT " + c.default_sql;
            lines.push_back(std::move(line));
        }
        lines.push_back("CONSTRAINT " + quote_identifier(primary_key_name()) + " PRIMARY KEY (" +
                        quoted_list(spec_.key) + ")");
        for (const index& i : indexes_)
            if (i.kind == schema_index_kind::unique)
                lines.push_back("CONSTRAINT " + quote_identifier(i.name) + " UNIQUE (" +
                                quoted_list(i.columns) + ")");
        for (const foreign_key& fk : foreign_keys_) {
            std::string line = "CONSTRAINT " + quote_identifier(fk.name) + " FOREIGN KEY (" +
                               columns_[fk.column].quoted + ") REFERENCES " +
                               qualified(fk.spec->target_schema, fk.spec->target_table) + " (" +
                               quote_identifier(fk.spec->target_column.name) + ")";
            if (fk.spec->on_delete != referential_action::no_action)
                line += std::string(" ON DELETE ") + action_sql(fk.spec->on_delete);
            if (fk.spec->on_update != referential_action::no_action)
                line += std::string(" ON UPDATE ") + action_sql(fk.spec->on_update);
            lines.push_back(std::move(line));
        }
        for (const check& c : checks_)
            lines.push_back("CONSTRAINT " + quote_identifier(c.name) + " CHECK (" + c.spec->condition + ")");

        std::string sql = "CREATE TABLE " + table + " (\n";
        for (std::size_t i = 0; i < lines.size(); ++i)
            sql += "    " + lines[i] + (i + 1 < lines.size() ? ",\n" : "\n");
        sql += ");\n";
        for (const index& i : indexes_) {
            if (i.kind == schema_index_kind::unique)
                continue;
            sql += "CREATE INDEX " + quote_identifier(i.name) + " ON " + table +
                   (i.kind == schema_index_kind::gin ? " USING gin (" : " (") + quoted_list(i.columns) +
                   ");\n";
        }
        return sql;
    }

    std::string drop_sql() const { return "DROP TABLE " + qualified(spec_.schema, spec_.table) + ";\n"; }

    std::vector<std::string> referenced_tables() const
    {
        std::vector<std::string> out;
        for (const foreign_key& fk : foreign_keys_) {
            std::string name = display_name(fk.spec->target_schema, fk.spec->target_table);
            if (std::find(out.begin(), out.end(), name) == out.end())
                out.push_back(std::move(name));
        }
        return out;
    }

    std::vector<std::string> index_names() const
    {
        std::vector<std::string> out{display_name(spec_.schema, primary_key_name())};
        for (const index& i : indexes_)
            out.push_back(display_name(spec_.schema, i.name));
        return out;
    }

    const table_spec& spec_;
    std::map<std::size_t, std::string> types_;
    std::map<std::size_t, std::string> defaults_;
    std::vector<column> columns_;
    std::vector<index> indexes_;
    std::vector<foreign_key> foreign_keys_;
    std::vector<check> checks_;
};

} // namespace

table_definition make_table_definition(const table_spec& spec)
{
    auto r = table_renderer(spec).render();
    return table_definition(std::move(r.name), std::move(r.create_sql), std::move(r.drop_sql),
                            std::move(r.references), std::move(r.index_names));
}

} // namespace detail

namespace {

[[noreturn]] void fail_schema(const std::string& what)
{
    throw error(client_errc::invalid_argument, "schema_sql: " + what);
}

/// A cycle among the tables not yet placed (each of which waits for another of them),
/// as "a -> b -> a".
std::string find_cycle(const std::vector<std::vector<std::size_t>>& depends_on,
                       const std::vector<bool>& placed, const std::vector<table_definition>& tables)
{
    std::size_t start = 0;
    while (placed[start])
        ++start;
    std::vector<std::size_t> path;
    std::size_t at = start;
    for (;;) {
        auto seen = std::find(path.begin(), path.end(), at);
        if (seen != path.end()) {
            std::string out;
            for (auto it = seen; it != path.end(); ++it)
                out += tables[*it].name() + " -> ";
            return out + tables[at].name();
        }
        path.push_back(at);
        for (std::size_t next : depends_on[at])
            if (!placed[next]) {
                at = next;
                break;
            }
    }
}

} // namespace

schema_script schema_sql(const std::vector<table_definition>& tables)
{
    const std::size_t n = tables.size();
    std::map<std::string, std::size_t> by_name;
    for (std::size_t i = 0; i < n; ++i)
        if (!by_name.emplace(tables[i].name(), i).second)
            fail_schema("table " + tables[i].name() + " is listed twice");

    // Tables and indexes share a namespace per schema (pg_class).
    std::map<std::string, std::string> relations; // name -> the table that creates it
    for (const table_definition& t : tables)
        relations.emplace(t.name(), t.name());
    for (const table_definition& t : tables)
        for (const std::string& index : t.index_names()) {
            auto [it, inserted] = relations.emplace(index, t.name());
            if (!inserted)
                fail_schema("index " + index + " of table " + t.name() + " has the name of " +
                            (it->second == it->first ? "a table" : "an index of table " + it->second));
        }

    std::vector<std::vector<std::size_t>> depends_on(n);
    for (std::size_t i = 0; i < n; ++i)
        for (const std::string& referenced : tables[i].references()) {
            auto it = by_name.find(referenced);
            if (it != by_name.end() && it->second != i) // a self-reference needs no order
                depends_on[i].push_back(it->second);
        }

    // Kahn's algorithm, always taking the first ready table in the given order: the result is
    // deterministic and keeps the caller's order wherever the references allow it.
    std::vector<bool> placed(n, false);
    std::vector<std::size_t> order;
    while (order.size() < n) {
        std::size_t ready = n;
        for (std::size_t i = 0; i < n && ready == n; ++i)
            if (!placed[i] && std::all_of(depends_on[i].begin(), depends_on[i].end(),
                                          [&](std::size_t d) { return placed[d]; }))
                ready = i;
        if (ready == n)
            fail_schema("the tables' foreign keys form a cycle: " + find_cycle(depends_on, placed, tables) +
                        "; add one of these foreign keys in a later migration (ALTER TABLE ... ADD "
                        "CONSTRAINT)");
        placed[ready] = true;
        order.push_back(ready);
    }

    schema_script script;
    for (std::size_t k = 0; k < n; ++k) {
        if (k > 0)
            script.up += "\n";
        script.up += tables[order[k]].create_sql();
    }
    for (std::size_t k = n; k-- > 0;)
        script.down += tables[order[k]].drop_sql();
    return script;
}

} // namespace pgcoro
