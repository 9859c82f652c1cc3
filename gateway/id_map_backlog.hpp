// Carrier id -> our id mappings that Redis did not take (down, or dying
// under the write): kept in memory, oldest first, until the worker that owns
// them writes them (Worker::flush_id_backlog); the receipt path looks here
// before Redis, from any worker. Bounded: past `capacity` the oldest entry is
// dropped (its receipt will be unknown), and the owner counts and logs it.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace smsgate::gateway {

class IdMapBacklog {
 public:
  using Clock = std::chrono::steady_clock;
  struct Entry {
    std::string key;    // keys::id_map(carrier, carrier id)
    std::string value;  // keys::id_map_value(our id, account)
    Clock::time_point expires;  // when Redis would have dropped it (receipts.id_map_ttl)
  };

  explicit IdMapBacklog(std::size_t capacity) : capacity_(std::max<std::size_t>(capacity, 1)) {}

  // Keeps a mapping; returns how many older ones were dropped to make room.
  std::size_t add(Entry e) {
    std::lock_guard lock(mu_);
    std::size_t dropped = 0;
    while (map_.size() >= capacity_ && !order_.empty()) {
      auto [key, expires] = std::move(order_.front());
      order_.pop_front();
      const auto it = map_.find(key);
      if (it != map_.end() && it->second.second == expires) {
        map_.erase(it);
        ++dropped;
      }
    }
    order_.emplace_back(e.key, e.expires);
    map_.insert_or_assign(std::move(e.key), std::make_pair(std::move(e.value), e.expires));
    size_.store(map_.size(), std::memory_order_relaxed);
    return dropped;
  }

  // Any thread. Cheap while empty (the common case).
  std::optional<std::string> find(const std::string& key) const {
    if (size_.load(std::memory_order_relaxed) == 0) return std::nullopt;
    std::lock_guard lock(mu_);
    const auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    return it->second.first;
  }

  // Up to `n` entries, oldest first (copies: they stay until remove()).
  // Entries past their TTL are dropped instead; `expired` counts them.
  std::vector<Entry> oldest(std::size_t n, std::size_t& expired) {
    std::lock_guard lock(mu_);
    std::vector<Entry> out;
    const auto now = Clock::now();
    // Leading entries already gone (written, replaced) are popped for good.
    while (!order_.empty()) {
      const auto it = map_.find(order_.front().first);
      if (it != map_.end() && it->second.second == order_.front().second) break;
      order_.pop_front();
    }
    for (auto o = order_.begin(); o != order_.end() && out.size() < n; ++o) {
      const auto it = map_.find(o->first);
      if (it == map_.end() || it->second.second != o->second) continue;
      if (it->second.second <= now) {
        map_.erase(it);
        ++expired;
        continue;
      }
      out.push_back(Entry{it->first, it->second.first, it->second.second});
    }
    size_.store(map_.size(), std::memory_order_relaxed);
    return out;
  }

  // Written: forgotten (unless replaced meanwhile by a newer one).
  void remove(const std::string& key, Clock::time_point expires) {
    std::lock_guard lock(mu_);
    const auto it = map_.find(key);
    if (it != map_.end() && it->second.second == expires) map_.erase(it);
    size_.store(map_.size(), std::memory_order_relaxed);
  }

  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::pair<std::string, Clock::time_point>> map_;  // key -> value, expires
  std::deque<std::pair<std::string, Clock::time_point>> order_;  // oldest first; stale entries skipped
  std::atomic<std::size_t> size_{0};
};

}  // namespace smsgate::gateway
