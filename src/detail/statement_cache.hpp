#pragma once
// Per-connection LRU of prepared statements, keyed by SQL text + parameter type OIDs.

#include <cstddef>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace pgcoro::detail {

class statement_cache {
public:
    explicit statement_cache(std::size_t capacity) : capacity_(capacity) {}

    /// The statement name for `key`, marking it most recently used; nullptr if absent.
    const std::string* find(std::string_view key)
    {
        auto it = index_.find(key);
        if (it == index_.end())
            return nullptr;
        order_.splice(order_.begin(), order_, it->second);
        return &it->second->name;
    }

    /// Adds a statement; returns the name of the least recently used one if it had to go
    /// (the caller deallocates it on the server).
    std::optional<std::string> insert(std::string_view key, std::string name)
    {
        std::optional<std::string> evicted;
        if (capacity_ == 0)
            return std::string(name);
        if (order_.size() >= capacity_) {
            entry& last = order_.back();
            index_.erase(last.key);
            evicted = std::move(last.name);
            order_.pop_back();
        }
        order_.push_front(entry{std::string(key), std::move(name)});
        // The map's key views the list node's string: list nodes never move.
        index_.emplace(order_.front().key, order_.begin());
        return evicted;
    }

    void clear() noexcept
    {
        index_.clear();
        order_.clear();
    }

    std::size_t size() const noexcept { return order_.size(); }

private:
    struct entry {
        std::string key;
        std::string name;
    };
    std::size_t capacity_;
    std::list<entry> order_; // most recently used first
    std::unordered_map<std::string_view, std::list<entry>::iterator> index_;
};

} // namespace pgcoro::detail
