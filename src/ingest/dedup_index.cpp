#include "ingest/dedup_index.h"

#include "base/hash.h"

namespace basin::ingest {

DedupIndex::Key DedupIndex::KeyOf(std::string_view event_id) {
  return Key{Hash64(event_id, 0x9E3779B97F4A7C15ULL), Hash64(event_id, 0xC2B2AE3D27D4EB4FULL)};
}

void DedupIndex::Insert(const Key& key, int64_t time_us) {
  if (max_entries_ == 0) return;
  if (!keys_.insert(key).second) return;
  order_.emplace_back(time_us, key);
  while (keys_.size() > max_entries_) EvictOldest();
}

void DedupIndex::Expire(int64_t now_us) {
  while (!order_.empty() && order_.front().first < now_us - window_us_) EvictOldest();
}

void DedupIndex::EvictOldest() {
  keys_.erase(order_.front().second);
  order_.pop_front();
}

}  // namespace basin::ingest
