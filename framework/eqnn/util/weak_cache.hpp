// A thread-safe cache of shared objects keyed by content: a hash picks the candidates, a full content
// comparison decides (a hash match alone never returns), and entries are weak references, so the cache
// holds no memory of its own beyond bookkeeping: an object (and everything it owns, such as per-device
// converted copies) is freed with the last model that uses it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace eqnn {

/// `get(hash, same, make)` returns a live cached object `v` with `same(*v)`, else `make()` (stored).
///
///   static WeakCache<HomSpace> cache;
///   auto h = cache.get(key, [&](const HomSpace& c) { return same(c, in, out); }, [&] { return build(in,
///   out); });
template <class T>
class WeakCache {
 public:
  using Ptr = std::shared_ptr<const T>;

  template <class Same, class Make>
  Ptr get(uint64_t hash, Same&& same, Make&& make) {
    if (Ptr hit = find(hash, same)) return hit;
    Ptr made = make();  // outside the lock: building may take long and may use other caches
    std::lock_guard<std::mutex> lock(mutex_);
    if (Ptr hit = find_locked(hash, same)) return hit;  // another thread built an equal one meanwhile
    if (entries_.size() >= sweep_at_) sweep_locked();
    entries_.emplace(hash, made);
    return made;
  }

  /// Entries held (live or expired but not yet swept); at most max(kMinSweep, 2 × live + 1).
  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return entries_.size();
  }
  /// Entries whose object is still alive.
  size_t live() const {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t n = 0;
    for (const auto& e : entries_) n += e.second.expired() ? 0 : 1;
    return n;
  }

  static constexpr size_t kMinSweep = 64;

 private:
  template <class Same>
  Ptr find(uint64_t hash, Same& same) {
    std::lock_guard<std::mutex> lock(mutex_);
    return find_locked(hash, same);
  }
  template <class Same>
  Ptr find_locked(uint64_t hash, Same& same) {
    auto range = entries_.equal_range(hash);
    for (auto it = range.first; it != range.second; ++it)
      if (Ptr p = it->second.lock(); p && same(*p)) return p;
    return nullptr;
  }
  // Drops expired entries; the next sweep happens when the map has doubled from its live size.
  void sweep_locked() {
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second.expired() ? entries_.erase(it) : ++it;
    sweep_at_ = std::max(kMinSweep, 2 * entries_.size() + 1);
  }

  mutable std::mutex mutex_;
  std::unordered_multimap<uint64_t, std::weak_ptr<const T>> entries_;
  size_t sweep_at_ = kMinSweep;
};

namespace testing_hooks {
/// Test hook: while on, the Hom-space and invariant-space caches key every entry by the same hash, so
/// every lookup collides and only the content comparison can tell entries apart.
void set_cache_hash_collisions(bool on);
}  // namespace testing_hooks

}  // namespace eqnn
