#pragma once

#include <cstdint>
#include <deque>
#include <string_view>
#include <unordered_set>

namespace basin::ingest {

// The set of event ids committed to a table recently, for dropping client retries. Keys are
// 128-bit hashes of the id (collisions are negligible at this size: ~1e-26 for a million ids).
// Bounded both by age (a window of ingest time) and by count: the oldest ids go first. Ids older
// than that are caught by compaction, which deduplicates each partition exactly.
// Not thread-safe: owned by one loader.
class DedupIndex {
 public:
  struct Key {
    uint64_t hi;
    uint64_t lo;
    friend bool operator==(const Key&, const Key&) = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.lo ^ (k.hi * 31)); }
  };
  static Key KeyOf(std::string_view event_id);

  DedupIndex(int64_t window_us, size_t max_entries)
      : window_us_(window_us), max_entries_(max_entries) {}

  bool Contains(const Key& key) const { return keys_.count(key) != 0; }
  // Adds a committed id seen at `time_us` (its ingest time), evicting what falls out of bounds.
  void Insert(const Key& key, int64_t time_us);
  // Drops ids older than the window before `now_us`.
  void Expire(int64_t now_us);
  size_t size() const { return keys_.size(); }

 private:
  void EvictOldest();

  int64_t window_us_;
  size_t max_entries_;
  std::unordered_set<Key, KeyHash> keys_;
  std::deque<std::pair<int64_t, Key>> order_;  // insertion order, for eviction
};

}  // namespace basin::ingest
