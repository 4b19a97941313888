#pragma once
// The type-erased pieces of eager loading that select queries carry (pgcoro::loader) and
// that the sessions' query calls drive; the loaders themselves are in pgcoro/loading.hpp.

#include <pgcoro/detail/statement.hpp>
#include <pgcoro/result.hpp>
#include <pgcoro/sql_statement.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace pgcoro::detail {

/// One relation to fill on one set of already materialised parents. Loading runs level by
/// level: every step of a level plans its statements, all of them go out in one round trip,
/// then each step attaches its results and hands over the steps of the next level (nested
/// loaders, on the children it just attached).
class load_step {
public:
    virtual ~load_step() = default;
    /// Appends this step's statements (none when the parents have no keys); returns how many.
    virtual std::size_t plan(std::vector<statement>& out) = 0;
    /// Attaches the results of the statements plan() appended, in order, and appends the
    /// steps of the next level to `next`.
    virtual void attach(std::span<const result> results, std::vector<std::unique_ptr<load_step>>& next) = 0;
};

using load_steps = std::vector<std::unique_ptr<load_step>>;

template <class P> class joined_decoder;

/// What a loader is for parents of type P: selectin loaders make a step per set of parents;
/// joined loaders also render into the parents' query and decode from its rows.
template <class P> class loader_node {
public:
    virtual ~loader_node() = default;
    /// The step filling the relation on `parents` (pointers stay valid until loading ends).
    virtual std::unique_ptr<load_step> step(std::vector<P*> parents) const = 0;
    /// Whether `other` loads the same relation (the same member).
    virtual bool same_relation(const loader_node& other) const = 0;
    /// Throws client_errc::invalid_argument if its nested loaders name a relation twice.
    virtual void validate() const = 0;
    /// Joined loaders only: how many columns they add to the parents' query.
    virtual std::size_t joined_width() const { return 0; }
    virtual bool joined() const noexcept { return false; }
    /// Joined loaders: appends `, <columns>` of the joined table.
    virtual void render_columns(sql_builder& /*select*/) const {}
    /// Joined loaders: appends ` LEFT JOIN ... ON ...`; `parent` is the parents' table or
    /// alias (quoted).
    virtual void render_join(sql_builder& /*from*/, const std::string& /*parent*/) const {}
    /// Joined loaders: appends `, <child ordering>`.
    virtual void render_order(sql_builder& /*order*/) const {}
    /// Joined loaders: the table they join (quoted), to reject joining one table twice.
    virtual std::string joined_table() const { return {}; }
    /// Joined loaders: a decoder for a result whose columns for this loader start at `first`.
    virtual std::unique_ptr<joined_decoder<P>> decoder(const result& /*r*/, std::size_t /*first*/) const
    {
        return nullptr;
    }
};

/// Decodes one joined relation from the rows of a joined query.
template <class P> class joined_decoder {
public:
    virtual ~joined_decoder() = default;
    /// A parent seen for the first time: an empty collection (or no target) so far.
    virtual void start(P& parent) = 0;
    /// Row `row` belongs to parent number `parent_index`: adds its joined child, if any.
    virtual void add(P& parent, std::size_t parent_index, const result& r, std::size_t row) = 0;
    /// All rows seen: the nested loaders' steps on the attached children.
    virtual void finish(std::vector<P>& parents, load_steps& next) = 0;
};

} // namespace pgcoro::detail

namespace pgcoro {

/// A loader for a relation of parents of type P: what `selectin(&P::member)` and
/// `joined(&P::member)` convert to. Cheap to copy (it shares its description).
template <class P> class loader {
public:
    explicit loader(std::shared_ptr<const detail::loader_node<P>> node) noexcept : node_(std::move(node)) {}
    const detail::loader_node<P>& node() const noexcept { return *node_; }

private:
    std::shared_ptr<const detail::loader_node<P>> node_;
};

} // namespace pgcoro

namespace pgcoro::detail {

[[noreturn]] void throw_relation_loaded_twice();

/// Throws client_errc::invalid_argument if two loaders of the list (or of their nested
/// lists) fill the same relation: both would attach to one collection, and one would free
/// rows the other's nested loaders still point to. Merge them into one loader with with().
template <class P> void check_loaders(std::span<const loader<P>> loaders)
{
    for (std::size_t i = 0; i < loaders.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j)
            if (loaders[i].node().same_relation(loaders[j].node()))
                throw_relation_loaded_twice();
        loaders[i].node().validate();
    }
}

} // namespace pgcoro::detail
