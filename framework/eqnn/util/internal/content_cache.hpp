// A small thread-safe LRU cache for group-theory results, keyed by content: a 64-bit hash finds the
// candidates, and a hit is returned only when the caller's full-content comparison agrees. Bounded in
// entries and in (approximate) bytes; an entry larger than the byte bound is not kept.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>

namespace eqnn::detail {

template <class Key, class Value>
class ContentCache {
 public:
  ContentCache(size_t max_entries, size_t max_bytes) : max_entries_(max_entries), max_bytes_(max_bytes) {}

  /// The value stored for a key with this hash that `same(key)` accepts; null when there is none.
  std::shared_ptr<const Value> find(uint64_t hash, const std::function<bool(const Key&)>& same) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto it = entries_.begin(); it != entries_.end(); ++it)
      if (it->hash == hash && same(it->key)) {
        entries_.splice(entries_.begin(), entries_, it);  // most recently used first
        return entries_.front().value;
      }
    return nullptr;
  }

  void insert(uint64_t hash, Key key, std::shared_ptr<const Value> value, size_t bytes) {
    if (bytes > max_bytes_) return;
    std::lock_guard<std::mutex> lock(mutex_);
    entries_.push_front(Entry{hash, std::move(key), std::move(value), bytes});
    bytes_ += bytes;
    while (entries_.size() > max_entries_ || bytes_ > max_bytes_) {
      bytes_ -= entries_.back().bytes;
      entries_.pop_back();
    }
  }

  size_t size() {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }

 private:
  struct Entry {
    uint64_t hash;
    Key key;
    std::shared_ptr<const Value> value;
    size_t bytes;
  };
  size_t max_entries_, max_bytes_, bytes_ = 0;
  std::list<Entry> entries_;
  std::mutex mutex_;
};

}  // namespace eqnn::detail
