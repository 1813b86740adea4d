// A least-recently-used map with a cap on entries and on a per-entry cost
// (bytes). Used by the collateral cache and the verified-object memo
// (verifier/crypto/verified_memo.h) for every tier that attacker-chosen keys
// can reach. Not thread-safe: callers hold their own lock.
#ifndef RP_VERIFIER_COMMON_LRU_H_
#define RP_VERIFIER_COMMON_LRU_H_

#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace rp {

template <typename V>
class LruMap {
 public:
  struct Evicted {
    std::string key;
    V value;
  };

  // max_cost 0 = no cost cap. max_entries must be positive.
  LruMap(size_t max_entries, uint64_t max_cost) : max_entries_(max_entries), max_cost_(max_cost) {}
  LruMap(const LruMap&) = delete;
  LruMap& operator=(const LruMap&) = delete;

  // The value, marked most recently used; nullptr if absent.
  V* Get(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->value;
  }
  // The value without touching the order.
  const V* Peek(std::string_view key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &it->second->value;
  }

  // Inserts or replaces `key` as the most recently used entry, then evicts
  // least recently used entries (never `key` itself) until both caps hold.
  // An entry whose cost alone exceeds the cost cap is not stored (an older
  // value under the key is removed). Returns what was evicted; `stored`
  // tells whether the new value is in the map.
  std::vector<Evicted> Put(std::string key, V value, uint64_t cost, bool* stored = nullptr) {
    std::vector<Evicted> evicted;
    Erase(key);
    if (max_cost_ != 0 && cost > max_cost_) {
      if (stored != nullptr) *stored = false;
      return evicted;
    }
    order_.push_front(Node{std::move(key), std::move(value), cost});
    index_.emplace(std::string_view(order_.front().key), order_.begin());
    cost_ += cost;
    while (order_.size() > 1 &&
           (order_.size() > max_entries_ || (max_cost_ != 0 && cost_ > max_cost_))) {
      evicted.push_back(PopBack());
    }
    if (stored != nullptr) *stored = true;
    return evicted;
  }

  bool Erase(std::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    auto node = it->second;
    index_.erase(it);
    cost_ -= node->cost;
    order_.erase(node);
    return true;
  }

  // Removes every entry for which pred(key, value) holds (a full pass).
  template <typename Pred>
  size_t EraseIf(Pred pred) {
    size_t n = 0;
    for (auto it = order_.begin(); it != order_.end();) {
      if (pred(it->key, it->value)) {
        index_.erase(std::string_view(it->key));
        cost_ -= it->cost;
        it = order_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  // Removes least recently used entries while pred(key, value) holds for
  // the oldest one (cheap trimming of expired entries).
  template <typename Pred>
  size_t TrimOldestWhile(Pred pred) {
    size_t n = 0;
    while (!order_.empty() && pred(order_.back().key, order_.back().value)) {
      PopBack();
      ++n;
    }
    return n;
  }

  // Least recently used first.
  template <typename Fn>
  void ForEachOldestFirst(Fn fn) const {
    for (auto it = order_.rbegin(); it != order_.rend(); ++it) fn(it->key, it->value);
  }

  size_t size() const { return order_.size(); }
  uint64_t cost() const { return cost_; }
  size_t max_entries() const { return max_entries_; }
  uint64_t max_cost() const { return max_cost_; }

 private:
  struct Node {
    std::string key;
    V value;
    uint64_t cost;
  };

  Evicted PopBack() {
    Node& last = order_.back();
    index_.erase(std::string_view(last.key));
    cost_ -= last.cost;
    Evicted out{std::move(last.key), std::move(last.value)};
    order_.pop_back();
    return out;
  }

  const size_t max_entries_;
  const uint64_t max_cost_;
  std::list<Node> order_;  // front = most recently used
  // Keys view the strings inside the list nodes (stable addresses).
  std::unordered_map<std::string_view, typename std::list<Node>::iterator> index_;
  uint64_t cost_ = 0;
};

}  // namespace rp

#endif  // RP_VERIFIER_COMMON_LRU_H_
