#pragma once
// Eager loading of relations declared in model_traits<T>::relations (relations.hpp). Nothing
// is ever loaded lazily: a relation no loader filled stays "not loaded" and reading it
// throws client_errc::relation_not_loaded.
//
//   auto users = co_await s.all(pgcoro::select<User>()
//                                   .where(col(&User::name).is_not_null())
//                                   .load(pgcoro::selectin(&User::posts)
//                                             .with(pgcoro::selectin(&Post::tags)),
//                                         pgcoro::selectin(&User::profile)));
//   co_await s.load(more_users, pgcoro::selectin(&User::posts));   // rows you already have
//
// selectin: after the parents are fetched, one `SELECT ... WHERE key = ANY($1)` per relation
// and per chunk of distinct keys (500 by default); every statement of one level (all
// relations, all chunks) goes out in one pipelined round trip, and nested loaders run on
// the next level. Parents without children get an empty collection (or no target).
//
// joined: the relation's table is LEFT JOINed into the parents' query and parents are
// de-duplicated. A parent query with LIMIT or OFFSET (or a self-referencing join) is
// wrapped in a subquery first, so LIMIT counts parents, not joined rows.

#include <pgcoro/detail/load_step.hpp>
#include <pgcoro/expression.hpp>
#include <pgcoro/relations.hpp>
#include <pgcoro/select.hpp>

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/unordered/unordered_flat_set.hpp>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace pgcoro {

namespace detail {

[[noreturn]] void throw_has_one_several(std::string_view parent, std::string_view child);
[[noreturn]] void throw_joined_unsupported(std::string_view why);
[[noreturn]] void throw_joined_in_load();

/// How a loader reads its target rows: filters, ordering, chunking and nested loaders.
template <class C> struct loader_settings {
    std::size_t chunk = 500;
    predicate where;
    std::vector<order_term> order;
    bool include_deleted = false;
    std::vector<loader<C>> nested;
};

/// The non-NULL value of a key member, or nullptr.
template <class M> const field_value_t<M>* key_of(const M& value) noexcept
{
    if constexpr (is_optional_v<M>)
        return value ? &*value : nullptr;
    else
        return &value;
}

/// Distinct parent keys in first-seen order, and for each the parents holding it.
template <class K> class key_groups {
public:
    void add(const K& key, std::size_t parent)
    {
        auto [it, inserted] = index_.try_emplace(key, std::vector<std::size_t>{});
        if (inserted)
            keys_.push_back(key);
        it->second.push_back(parent);
    }
    const std::vector<K>& keys() const noexcept { return keys_; }
    /// The parents with `key`, or nullptr.
    const std::vector<std::size_t>* find(const K& key) const
    {
        auto it = index_.find(key);
        return it == index_.end() ? nullptr : &it->second;
    }

private:
    std::vector<K> keys_;
    boost::unordered_flat_map<K, std::vector<std::size_t>, boost::hash<K>> index_;
};

/// The chunks of `keys` (one empty list for none: no statement then).
template <class K> std::vector<std::span<const K>> chunks_of(const std::vector<K>& keys, std::size_t chunk)
{
    std::vector<std::span<const K>> out;
    const std::size_t size = chunk == 0 ? keys.size() : chunk;
    for (std::size_t at = 0; at < keys.size(); at += size)
        out.emplace_back(keys.data() + at, std::min(size, keys.size() - at));
    return out;
}

/// ORDER BY terms for T's primary key, ascending.
template <class T> std::vector<order_term> primary_key_order()
{
    const model_description& d = describe_model<T>();
    std::vector<order_term> terms;
    for (std::size_t k : d.key)
        terms.emplace_back(sql_builder(d.qualified[k] + " ASC"));
    return terms;
}

/// The settings' ordering, or the target's primary key.
template <class C> std::vector<order_term> ordering_of(const loader_settings<C>& s)
{
    return s.order.empty() ? primary_key_order<C>() : s.order;
}

/// Puts a to-one target into its holder.
template <class H, class C> void hold(related<H>& slot, const std::shared_ptr<C>& target)
{
    if constexpr (is_optional_v<H>)
        slot.set(H(*target));
    else
        slot.set(H(target));
}

/// Pointers to the targets a to-one relation attached, each once (shared_ptr holders share
/// one object between parents; optional holders hold a copy each).
template <class P, class H> auto attached_targets(const std::vector<P*>& parents, related<H> P::*member)
{
    using C = typename to_one_holder<H>::target;
    std::vector<C*> out;
    if constexpr (is_optional_v<H>) {
        for (P* p : parents)
            if (auto& held = (p->*member).get())
                out.push_back(&*held);
    } else {
        boost::unordered_flat_set<const C*> seen;
        for (P* p : parents)
            if (const auto& held = (p->*member).get())
                if (seen.insert(held.get()).second)
                    out.push_back(const_cast<C*>(held.get())); // made by make_shared<C>: not a const object
    }
    return out;
}

template <class C>
void nested_steps(const loader_settings<C>& s, const std::vector<C*>& children, load_steps& next)
{
    if (children.empty())
        return;
    for (const loader<C>& l : s.nested)
        next.push_back(l.node().step(children));
}

/// The selectin step of one relation on one set of parents.
template <class Relation> class selectin_step final : public load_step {
    using P = typename Relation::parent_type;
    using C = typename Relation::target_type;
    using H = typename Relation::holder_type;
    static constexpr relation_kind kind = Relation::kind;

    static auto parent_key(const P& p, const Relation& r)
    {
        if constexpr (kind == relation_kind::many_to_many)
            return key_of(p.*r.parent_key);
        else if constexpr (kind == relation_kind::many_to_one)
            return key_of(p.*r.foreign_key);
        else
            return key_of(p.*r.key);
    }
    using K =
        std::remove_cvref_t<decltype(*parent_key(std::declval<const P&>(), std::declval<const Relation&>()))>;

public:
    selectin_step(const Relation& relation, std::shared_ptr<const loader_settings<C>> settings,
                  std::vector<P*> parents)
        : relation_(relation), settings_(std::move(settings)), parents_(std::move(parents))
    {
        for (std::size_t i = 0; i < parents_.size(); ++i) {
            P& p = *parents_[i];
            (p.*relation_.member).set(H{}); // loaded: empty until a row says otherwise
            if (const K* key = parent_key(p, relation_))
                groups_.add(*key, i);
        }
    }

    std::size_t plan(std::vector<statement>& out) override
    {
        std::size_t planned = 0;
        for (std::span<const K> keys : chunks_of(groups_.keys(), settings_->chunk)) {
            out.push_back(render(keys).native());
            ++planned;
        }
        return planned;
    }

    void attach(std::span<const result> results, load_steps& next) override
    {
        if constexpr (kind == relation_kind::one_to_many || kind == relation_kind::many_to_many)
            attach_many(results);
        else
            attach_one(results);
        std::vector<C*> children;
        if constexpr (kind == relation_kind::one_to_many || kind == relation_kind::many_to_many) {
            for (P* p : parents_)
                for (C& c : (p->*relation_.member).get())
                    children.push_back(&c);
        } else {
            children = attached_targets(parents_, relation_.member);
        }
        nested_steps(*settings_, children, next);
    }

private:
    sql_statement render(std::span<const K> keys) const
    {
        const loader_settings<C>& s = *settings_;
        if constexpr (kind == relation_kind::many_to_many) {
            using A = typename Relation::association_type;
            const model_description& target = describe_model<C>();
            const model_description& link = describe_model<A>();
            const auto parent_side = col(relation_.parent_side);
            sql_builder b("SELECT ");
            b.append(target.select_list)
                .append(", ")
                .append(parent_side.sql())
                .append(" FROM ")
                .append(target.table)
                .append(" JOIN ")
                .append(link.table)
                .append(" ON ")
                .append(col(relation_.target_side).sql())
                .append(" = ")
                .append(col(relation_.target_key).sql());
            predicate condition = parent_side.in(keys) && s.where;
            if (target.soft_delete() && !s.include_deleted)
                condition = std::move(condition) && predicate(sql_builder(target.not_deleted()));
            if (link.soft_delete() && !s.include_deleted)
                condition = std::move(condition) && predicate(sql_builder(link.not_deleted()));
            b.append(" WHERE ").append(condition.sql()).append(" ORDER BY ").append(parent_side.sql());
            for (const order_term& t : ordering_of(s))
                b.append(", ").append(t.sql());
            return std::move(b).render();
        } else {
            select_query<C> q;
            if constexpr (kind == relation_kind::many_to_one)
                q.where(col(relation_.key).in(keys));
            else
                q.where(col(relation_.foreign_key).in(keys));
            q.where(s.where).include_deleted(s.include_deleted);
            for (const order_term& t : ordering_of(s))
                q.order_by(t);
            return q.render();
        }
    }

    void attach_many(std::span<const result> results)
    {
        for (const result& r : results) {
            if constexpr (kind == relation_kind::many_to_many) {
                if (r.empty())
                    continue;
                positional_decoder<C> decode(r, 0);
                using PS = std::remove_cvref_t<decltype(std::declval<typename Relation::association_type&>().*
                                                        relation_.parent_side)>;
                const std::size_t key_column = positional_decoder<C>::width();
                check_column<PS>(r, key_column);
                for (std::size_t row = 0; row < r.size(); ++row) {
                    PS key = decode_column<PS>(r, row, key_column);
                    if (const auto* k = key_of(key))
                        if (const auto* owners = groups_.find(static_cast<K>(*k)))
                            distribute(*owners, decode.decode(r, row));
                }
            } else {
                for (C& child : rows_as<C>(r))
                    if (const auto* k = key_of(child.*relation_.foreign_key))
                        if (const auto* owners = groups_.find(static_cast<K>(*k)))
                            distribute(*owners, std::move(child));
            }
        }
    }

    void distribute(const std::vector<std::size_t>& owners, C child)
    {
        for (std::size_t i = 0; i + 1 < owners.size(); ++i)
            (parents_[owners[i]]->*relation_.member).get().push_back(child);
        (parents_[owners.back()]->*relation_.member).get().push_back(std::move(child));
    }

    void attach_one(std::span<const result> results)
    {
        std::vector<bool> filled(parents_.size(), false);
        for (const result& r : results) {
            for (C& target : rows_as<C>(r)) {
                const auto* k = target_key(target);
                if (!k)
                    continue;
                const auto* owners = groups_.find(static_cast<K>(*k));
                if (!owners)
                    continue;
                auto shared = std::make_shared<C>(std::move(target));
                for (std::size_t i : *owners) {
                    if (filled[i])
                        throw_has_one_several(cpp_type_name(typeid(P)), cpp_type_name(typeid(C)));
                    filled[i] = true;
                    hold(parents_[i]->*relation_.member, shared);
                }
            }
        }
    }

    const auto* target_key(const C& target) const
    {
        if constexpr (kind == relation_kind::many_to_one)
            return key_of(target.*relation_.key);
        else
            return key_of(target.*relation_.foreign_key);
    }

    Relation relation_;
    std::shared_ptr<const loader_settings<C>> settings_;
    std::vector<P*> parents_;
    key_groups<K> groups_;
};

/// The raw bytes of a row's key columns, as one string (a de-duplication key).
inline void append_key_bytes(std::string& out, const result& r, std::size_t row, std::size_t column)
{
    std::optional<std::string_view> v = r.field(row, column);
    const std::uint32_t n = v ? static_cast<std::uint32_t>(v->size()) : 0xffffffffu;
    out.append(reinterpret_cast<const char*>(&n), sizeof n);
    if (v)
        out.append(*v);
}

/// Decodes a joined relation (one_to_many, one_to_one, many_to_one) from a joined query.
template <class Relation>
class joined_relation_decoder final : public joined_decoder<typename Relation::parent_type> {
    using P = typename Relation::parent_type;
    using C = typename Relation::target_type;
    using H = typename Relation::holder_type;
    static constexpr relation_kind kind = Relation::kind;

public:
    joined_relation_decoder(const Relation& relation, std::shared_ptr<const loader_settings<C>> settings,
                            const result& r, std::size_t first)
        : relation_(relation), settings_(std::move(settings)), decode_(r, first)
    {
        const model_description& d = describe_model<C>();
        match_column_ = first + (kind == relation_kind::many_to_one ? column_index<C>(relation_.key)
                                                                    : column_index<C>(relation_.foreign_key));
        for (std::size_t k : d.key)
            key_columns_.push_back(first + k);
    }

    void start(P& parent) override { (parent.*relation_.member).set(H{}); }

    void add(P& parent, std::size_t parent_index, const result& r, std::size_t row) override
    {
        if (!r.field(row, match_column_))
            return; // the LEFT JOIN found nothing for this parent
        std::string identity(reinterpret_cast<const char*>(&parent_index), sizeof parent_index);
        for (std::size_t c : key_columns_)
            append_key_bytes(identity, r, row, c);
        if (!seen_.insert(std::move(identity)).second)
            return; // the same child again (another joined collection multiplied the rows)
        if constexpr (kind == relation_kind::one_to_many) {
            (parent.*relation_.member).get().push_back(decode_.decode(r, row));
        } else {
            auto& slot = parent.*relation_.member;
            if (slot.get())
                throw_has_one_several(cpp_type_name(typeid(P)), cpp_type_name(typeid(C)));
            hold(slot, std::make_shared<C>(decode_.decode(r, row)));
        }
    }

    void finish(std::vector<P>& parents, load_steps& next) override
    {
        if (settings_->nested.empty())
            return;
        std::vector<C*> children;
        if constexpr (kind == relation_kind::one_to_many) {
            for (P& p : parents)
                for (C& c : (p.*relation_.member).get())
                    children.push_back(&c);
        } else {
            std::vector<P*> owners;
            for (P& p : parents)
                owners.push_back(&p);
            children = attached_targets(owners, relation_.member);
        }
        nested_steps(*settings_, children, next);
    }

private:
    Relation relation_;
    std::shared_ptr<const loader_settings<C>> settings_;
    positional_decoder<C> decode_;
    std::size_t match_column_ = 0;
    std::vector<std::size_t> key_columns_;
    boost::unordered_flat_set<std::string> seen_;
};

/// A selectin or joined loader of one declared relation.
template <class Relation> class relation_node final : public loader_node<typename Relation::parent_type> {
    using P = typename Relation::parent_type;
    using C = typename Relation::target_type;
    static constexpr relation_kind kind = Relation::kind;

public:
    relation_node(const Relation& relation, loader_settings<C> settings, bool joined)
        : relation_(relation), settings_(std::make_shared<const loader_settings<C>>(std::move(settings))),
          joined_(joined)
    {}

    std::unique_ptr<load_step> step(std::vector<P*> parents) const override
    {
        return std::make_unique<selectin_step<Relation>>(relation_, settings_, std::move(parents));
    }

    bool same_relation(const loader_node<P>& other) const override
    {
        const auto* same = dynamic_cast<const relation_node*>(&other);
        return same && same->relation_.member == relation_.member;
    }
    void validate() const override { check_loaders<C>(settings_->nested); }

    bool joined() const noexcept override { return joined_; }
    std::size_t joined_width() const override { return positional_decoder<C>::width(); }
    std::string joined_table() const override { return describe_model<C>().table; }

    void render_columns(sql_builder& select) const override
    {
        select.append(", ").append(describe_model<C>().select_list);
    }

    void render_join(sql_builder& from, const std::string& parent) const override
    {
        if constexpr (kind == relation_kind::many_to_many) {
            throw_joined_unsupported("a many-to-many relation (load it with selectin)");
        } else {
            const model_description& d = describe_model<C>();
            const model_description& pd = describe_model<P>();
            from.append(" LEFT JOIN ").append(d.table).append(" ON ");
            if constexpr (kind == relation_kind::many_to_one)
                from.append(col(relation_.key).sql())
                    .append(" = ")
                    .append(parent)
                    .append(".")
                    .append(pd.quoted[column_index<P>(relation_.foreign_key)]);
            else
                from.append(col(relation_.foreign_key).sql())
                    .append(" = ")
                    .append(parent)
                    .append(".")
                    .append(pd.quoted[column_index<P>(relation_.key)]);
            if (d.soft_delete() && !settings_->include_deleted)
                from.append(" AND ").append(d.not_deleted());
            if (!settings_->where.empty())
                from.append(" AND ").append(settings_->where.sql());
        }
    }

    void render_order(sql_builder& order) const override
    {
        for (const order_term& t : ordering_of(*settings_))
            order.append(", ").append(t.sql());
    }

    std::unique_ptr<joined_decoder<P>> decoder(const result& r, std::size_t first) const override
    {
        if constexpr (kind == relation_kind::many_to_many)
            throw_joined_unsupported("a many-to-many relation (load it with selectin)");
        else
            return std::make_unique<joined_relation_decoder<Relation>>(relation_, settings_, r, first);
    }

private:
    Relation relation_;
    std::shared_ptr<const loader_settings<C>> settings_;
    bool joined_;
};

template <class H> struct holder_target {
    using type = typename to_one_holder<H>::target;
};
template <class T> struct holder_target<std::vector<T>> {
    using type = T;
};

} // namespace detail

/// A loader of the relation behind `related<H> P::*member` (declared in
/// model_traits<P>::relations), with its options. Converts to pgcoro::loader<P>; pass it to
/// select_query::load() or a session's load(). Each option returns a modified copy.
template <class P, class H> class relation_loader {
public:
    using parent_type = P;
    using target_type = typename detail::holder_target<H>::type;

    relation_loader(related<H> P::*member, bool joined) : member_(member), joined_(joined) {}

    /// selectin: at most this many keys per statement (0: all in one). Default 500.
    relation_loader chunk(std::size_t keys) const
    {
        relation_loader copy = *this;
        copy.settings_.chunk = keys;
        return copy;
    }
    /// Only targets matching `condition` (on the target's columns: `col(&Post::title)`).
    relation_loader where(predicate condition) const
    {
        relation_loader copy = *this;
        copy.settings_.where = std::move(copy.settings_.where) && std::move(condition);
        return copy;
    }
    /// The order of each parent's collection (default: the target's primary key).
    template <class... Terms> relation_loader order_by(const Terms&... terms) const
    {
        relation_loader copy = *this;
        (copy.settings_.order.push_back(to_term(terms)), ...);
        return copy;
    }
    /// Also soft-deleted targets (and association rows).
    relation_loader include_deleted(bool include = true) const
    {
        relation_loader copy = *this;
        copy.settings_.include_deleted = include;
        return copy;
    }
    /// Loaders of the targets' own relations, run on the next level.
    template <class... Loaders> relation_loader with(const Loaders&... nested) const
    {
        relation_loader copy = *this;
        (copy.settings_.nested.push_back(loader<target_type>(nested)), ...);
        return copy;
    }

    operator loader<P>() const
    {
        std::shared_ptr<const detail::loader_node<P>> node;
        detail::visit_relation(member_, [&](const auto& relation) {
            using R = std::remove_cvref_t<decltype(relation)>;
            node = std::make_shared<detail::relation_node<R>>(relation, settings_, joined_);
        });
        return loader<P>(std::move(node));
    }

private:
    static order_term to_term(const order_term& term) { return term; }
    template <class M> static order_term to_term(M target_type::*member) { return col(member).asc(); }

    related<H> P::*member_;
    bool joined_;
    detail::loader_settings<target_type> settings_;
};

/// Loads the relation with one `WHERE key = ANY($1)` statement per chunk of distinct parent
/// keys, after the parents.
template <class P, class H> relation_loader<P, H> selectin(related<H> P::*member)
{
    return relation_loader<P, H>(member, false);
}

/// Loads the relation in the parents' own query through a LEFT JOIN (one-to-many,
/// one-to-one and many-to-one; many-to-many throws client_errc::invalid_argument).
template <class P, class H> relation_loader<P, H> joined(related<H> P::*member)
{
    return relation_loader<P, H>(member, true);
}

namespace detail {

/// The parents' query with its joined loaders rendered in.
template <class T> sql_statement render_loaded(const select_query<T, T>& q)
{
    check_loaders<T>(q.loaders());
    std::vector<const loader_node<T>*> joins;
    for (const loader<T>& l : q.loaders())
        if (l.node().joined())
            joins.push_back(&l.node());
    if (joins.empty())
        return q.render();
    const model_description& d = describe_model<T>();
    if (q.locking())
        throw_joined_unsupported("a query that locks rows (lock the parents in a query of their own)");
    bool wrap = q.limit_value() || q.offset_value();
    std::vector<std::string> tables;
    for (const loader_node<T>* j : joins) {
        std::string table = j->joined_table();
        if (std::find(tables.begin(), tables.end(), table) != tables.end())
            throw_joined_unsupported("two joined relations on the same table");
        wrap = wrap || table == d.table;
        tables.push_back(std::move(table));
    }
    sql_builder order; // made unique, so the parents' rows stay together and LIMIT is stable
    for (const order_term& t : unique_ordering(q))
        order.append(order.empty() ? "" : ", ").append(t.sql());

    const std::string parent = wrap ? std::string("\"pgcoro_parent\"") : d.table;
    sql_builder b("SELECT ");
    if (wrap) {
        for (std::size_t i = 0; i < d.quoted.size(); ++i)
            b.append(i ? ", " : "").append(parent).append(".").append(d.quoted[i]);
    } else {
        b.append(d.select_list);
    }
    for (const loader_node<T>* j : joins)
        j->render_columns(b);
    b.append(" FROM ");
    const predicate filter = q.filter();
    if (wrap) {
        b.append("(SELECT ").append(d.select_list).append(", row_number() OVER (ORDER BY ").append(order);
        b.append(") AS pgcoro_position FROM ").append(d.table);
        if (!filter.empty())
            b.append(" WHERE ").append(filter.sql());
        b.append(" ORDER BY ").append(order);
        if (q.limit_value())
            b.append(" LIMIT ").bind(*q.limit_value());
        if (q.offset_value())
            b.append(" OFFSET ").bind(*q.offset_value());
        b.append(") AS ").append(parent);
    } else {
        b.append(d.table);
    }
    for (const loader_node<T>* j : joins)
        j->render_join(b, parent);
    if (!wrap && !filter.empty())
        b.append(" WHERE ").append(filter.sql());
    b.append(" ORDER BY ");
    if (wrap)
        b.append(parent).append(".pgcoro_position");
    else
        b.append(order);
    for (const loader_node<T>* j : joins)
        j->render_order(b);
    return std::move(b).render();
}

/// Decodes the parents of render_loaded()'s result (de-duplicated, in query order; the first
/// `keep` of them, reversed if `reverse`; `more` says whether there were more than `keep`),
/// attaches the joined relations, and appends the first level of selectin steps to `next`.
template <class T>
std::vector<T> decode_loaded(const select_query<T, T>& q, const result& r, load_steps& next, std::size_t keep,
                             bool reverse, bool& more)
{
    std::vector<T> rows;
    std::vector<std::unique_ptr<joined_decoder<T>>> joined;
    const model_description& d = describe_model<T>();
    for (const loader<T>& l : q.loaders())
        if (l.node().joined())
            joined.push_back(nullptr);
    if (joined.empty()) {
        rows = rows_as<T>(r);
    } else if (r.columns() > 0) {
        positional_decoder<T> decode(r, 0);
        std::size_t column = positional_decoder<T>::width();
        std::size_t n = 0;
        for (const loader<T>& l : q.loaders())
            if (l.node().joined()) {
                joined[n++] = l.node().decoder(r, column);
                column += l.node().joined_width();
            }
        boost::unordered_flat_map<std::string, std::size_t> seen;
        std::string identity;
        for (std::size_t row = 0; row < r.size(); ++row) {
            identity.clear();
            for (std::size_t k : d.key)
                append_key_bytes(identity, r, row, k);
            auto [it, inserted] = seen.try_emplace(identity, rows.size());
            if (inserted) {
                rows.push_back(decode.decode(r, row));
                for (auto& j : joined)
                    j->start(rows.back());
            }
            for (auto& j : joined)
                j->add(rows[it->second], it->second, r, row);
        }
    }
    more = rows.size() > keep;
    if (more)
        rows.erase(rows.begin() + static_cast<std::ptrdiff_t>(keep), rows.end());
    if (reverse)
        std::reverse(rows.begin(), rows.end());
    for (auto& j : joined)
        if (j)
            j->finish(rows, next);
    std::vector<T*> parents;
    for (T& row : rows)
        parents.push_back(&row);
    if (!parents.empty())
        for (const loader<T>& l : q.loaders())
            if (!l.node().joined())
                next.push_back(l.node().step(parents));
    return rows;
}

/// The first level of steps of loaders applied to rows already in hand (s.load()).
template <class T> load_steps steps_for(std::span<T* const> parents, std::span<const loader<T>> loaders)
{
    check_loaders<T>(loaders);
    load_steps steps;
    for (const loader<T>& l : loaders) {
        if (l.node().joined())
            throw_joined_in_load();
        if (!parents.empty())
            steps.push_back(l.node().step(std::vector<T*>(parents.begin(), parents.end())));
    }
    return steps;
}

} // namespace detail
} // namespace pgcoro
