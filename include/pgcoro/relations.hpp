#pragma once
// Relationship declarations: which pgcoro::related member of a model is filled from which
// table, through which key. Loaders (loading.hpp) find a relation by its member pointer in
// model_traits<T>::relations:
//
//   template <> struct pgcoro::model_traits<User> {
//       ...
//       static constexpr auto relations = std::tuple{
//           pgcoro::has_many(&User::posts, &Post::author_id),     // posts.author_id = users.id
//           pgcoro::has_one(&User::profile, &Profile::user_id),
//       };
//   };
//   template <> struct pgcoro::model_traits<Post> {
//       ...
//       static constexpr auto relations = std::tuple{
//           pgcoro::belongs_to(&Post::author, &Post::author_id),  // users.id = posts.author_id
//           pgcoro::many_to_many(&Post::tags, &PostTag::post_id, &PostTag::tag_id),
//       };
//   };
//
// A self-referencing table declares both directions on one model, with a shared_ptr for
// the parent (a struct cannot hold a std::optional of itself):
//   pgcoro::related<std::shared_ptr<Category>> parent;  // belongs_to(&Category::parent,
//   &Category::parent_id) pgcoro::related<std::vector<Category>> children;    //
//   has_many(&Category::children, &Category::parent_id)
//
// Keys are single columns. The referenced key defaults to the primary key (which must then
// be a single column); pass it explicitly to reference another unique column.

#include <pgcoro/model.hpp>

#include <memory>
#include <optional>
#include <tuple>
#include <type_traits>
#include <vector>

namespace pgcoro {

namespace detail {

/// What a to-one relation may hold: std::optional<T>, std::shared_ptr<T> or
/// std::shared_ptr<const T>. Empty means "loaded, and there is none".
template <class H> struct to_one_holder : std::false_type {};
template <class T> struct to_one_holder<std::optional<T>> : std::true_type {
    using target = T;
};
template <class T> struct to_one_holder<std::shared_ptr<T>> : std::true_type {
    using target = std::remove_const_t<T>;
};

template <class H> struct to_many_holder : std::false_type {};
template <class T> struct to_many_holder<std::vector<T>> : std::true_type {
    using target = T;
};

/// The single primary key member of T (a compile error for a composite key).
template <class T> constexpr auto single_primary_key()
{
    constexpr auto key = model_traits<T>::primary_key;
    static_assert(!is_tuple<std::remove_cv_t<decltype(key)>>::value,
                  "this relation references a model with a composite primary key: name the "
                  "referenced column explicitly");
    return key;
}

template <class M> struct member_pointer_traits;
template <class C, class M> struct member_pointer_traits<M C::*> {
    using owner = C;
    using type = M;
};

} // namespace detail

/// How a relation is filled.
enum class relation_kind {
    one_to_many,  ///< has_many: child.foreign_key = parent.key
    one_to_one,   ///< has_one: at most one child row with child.foreign_key = parent.key
    many_to_one,  ///< belongs_to: target.key = parent.foreign_key
    many_to_many, ///< through an association table
};

/// parent.member ← every Child row whose `foreign_key` equals the parent's `key`.
template <class Parent, class Child, class ForeignKey, class Key> struct has_many_relation {
    static constexpr relation_kind kind = relation_kind::one_to_many;
    using parent_type = Parent;
    using target_type = Child;
    using holder_type = std::vector<Child>;
    related<std::vector<Child>> Parent::*member;
    ForeignKey Child::*foreign_key;
    Key Parent::*key;
};

/// parent.member ← the Child row whose `foreign_key` equals the parent's `key`, if any
/// (client_errc::too_many_rows if several).
template <class Parent, class Holder, class ForeignKey, class Key> struct has_one_relation {
    static constexpr relation_kind kind = relation_kind::one_to_one;
    using parent_type = Parent;
    using target_type = typename detail::to_one_holder<Holder>::target;
    using holder_type = Holder;
    related<Holder> Parent::*member;
    ForeignKey target_type::*foreign_key;
    Key Parent::*key;
};

/// parent.member ← the Target row whose `key` equals the parent's `foreign_key` (none when
/// the foreign key is NULL, or the row is missing or soft-deleted).
template <class Parent, class Holder, class ForeignKey, class Key> struct belongs_to_relation {
    static constexpr relation_kind kind = relation_kind::many_to_one;
    using parent_type = Parent;
    using target_type = typename detail::to_one_holder<Holder>::target;
    using holder_type = Holder;
    related<Holder> Parent::*member;
    ForeignKey Parent::*foreign_key;
    Key target_type::*key;
};

/// parent.member ← every Target row linked to the parent by a row of the association
/// model: association.parent_side = parent.key AND association.target_side = target.key.
template <class Parent, class Target, class Association, class ParentSide, class TargetSide, class ParentKey,
          class TargetKey>
struct many_to_many_relation {
    static constexpr relation_kind kind = relation_kind::many_to_many;
    using parent_type = Parent;
    using target_type = Target;
    using association_type = Association;
    using holder_type = std::vector<Target>;
    related<std::vector<Target>> Parent::*member;
    ParentSide Association::*parent_side;
    TargetSide Association::*target_side;
    ParentKey Parent::*parent_key;
    TargetKey Target::*target_key;
};

/// One-to-many: `has_many(&User::posts, &Post::author_id)`; the parent's key is its primary
/// key unless given.
template <class P, class C, class F>
constexpr auto has_many(related<std::vector<C>> P::*member, F C::*foreign_key)
{
    constexpr auto key = detail::single_primary_key<P>();
    using K = typename detail::member_pointer_traits<std::remove_cv_t<decltype(key)>>::type;
    return has_many_relation<P, C, F, K>{member, foreign_key, key};
}
template <class P, class C, class F, class K>
constexpr auto has_many(related<std::vector<C>> P::*member, F C::*foreign_key, K P::*key)
{
    return has_many_relation<P, C, F, K>{member, foreign_key, key};
}

/// One-to-one from the side without the foreign key: `has_one(&User::profile,
/// &Profile::user_id)`, the member a related<std::optional<Profile>> (or shared_ptr).
template <class P, class H, class F, class C = typename detail::to_one_holder<H>::target>
constexpr auto has_one(related<H> P::*member, F C::*foreign_key)
{
    constexpr auto key = detail::single_primary_key<P>();
    using K = typename detail::member_pointer_traits<std::remove_cv_t<decltype(key)>>::type;
    return has_one_relation<P, H, F, K>{member, foreign_key, key};
}
template <class P, class H, class F, class K, class C = typename detail::to_one_holder<H>::target>
constexpr auto has_one(related<H> P::*member, F C::*foreign_key, K P::*key)
{
    return has_one_relation<P, H, F, K>{member, foreign_key, key};
}

/// Many-to-one: `belongs_to(&Post::author, &Post::author_id)`, the member a
/// related<std::optional<User>> or related<std::shared_ptr<User>>; the target's key is its
/// primary key unless given.
template <class P, class H, class F> constexpr auto belongs_to(related<H> P::*member, F P::*foreign_key)
{
    static_assert(detail::to_one_holder<H>::value,
                  "belongs_to needs a related<std::optional<T>> or related<std::shared_ptr<T>> member");
    using T = typename detail::to_one_holder<H>::target;
    constexpr auto key = detail::single_primary_key<T>();
    using K = typename detail::member_pointer_traits<std::remove_cv_t<decltype(key)>>::type;
    return belongs_to_relation<P, H, F, K>{member, foreign_key, key};
}
template <class P, class H, class F, class K, class T = typename detail::to_one_holder<H>::target>
constexpr auto belongs_to(related<H> P::*member, F P::*foreign_key, K T::*key)
{
    return belongs_to_relation<P, H, F, K>{member, foreign_key, key};
}

/// Many-to-many through an association model A:
/// `many_to_many(&Post::tags, &PostTag::post_id, &PostTag::tag_id)`. Both ends are
/// referenced by their primary keys.
template <class P, class T, class A, class PS, class TS>
constexpr auto many_to_many(related<std::vector<T>> P::*member, PS A::*parent_side, TS A::*target_side)
{
    constexpr auto parent_key = detail::single_primary_key<P>();
    constexpr auto target_key = detail::single_primary_key<T>();
    using PK = typename detail::member_pointer_traits<std::remove_cv_t<decltype(parent_key)>>::type;
    using TK = typename detail::member_pointer_traits<std::remove_cv_t<decltype(target_key)>>::type;
    return many_to_many_relation<P, T, A, PS, TS, PK, TK>{member, parent_side, target_side, parent_key,
                                                          target_key};
}

namespace detail {

[[noreturn]] void throw_relation_not_declared(std::string_view parent);

template <class T> constexpr auto declared_relations()
{
    if constexpr (requires { model_traits<T>::relations; })
        return model_traits<T>::relations;
    else
        return std::tuple<>{};
}

/// Calls f(relation) with the relation declared for `member` in model_traits<P>::relations.
/// A compile error if none has the member's type; client_errc::invalid_argument if none has
/// the member itself.
template <class P, class H, class F> void visit_relation(related<H> P::*member, F&& f)
{
    constexpr auto relations = declared_relations<P>();
    constexpr bool declared = std::apply(
        [](auto... r) { return (std::is_same_v<decltype(r.member), related<H> P::*> || ...); }, relations);
    static_assert(declared, "no relation for this member in model_traits<Parent>::relations "
                            "(declare it with has_many, has_one, belongs_to or many_to_many)");
    bool found = false;
    std::apply(
        [&](auto... r) {
            (
                [&] {
                    if constexpr (std::is_same_v<decltype(r.member), related<H> P::*>)
                        if (!found && r.member == member) {
                            found = true;
                            f(r);
                        }
                }(),
                ...);
        },
        relations);
    if (!found)
        throw_relation_not_declared(cpp_type_name(typeid(P)));
}

} // namespace detail
} // namespace pgcoro
