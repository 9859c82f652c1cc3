// A rate shared by threads without a lock: the generic cell rate algorithm
// (GCRA) on one atomic "theoretical arrival time", updated by compare-exchange.
//
// `rate` events per second, with bursts of up to `burst` events at once.
// try_acquire() polices (an account over its max_tps is refused);
// reserve() shapes (a carrier's max_tps delays sending, never refuses).
// A rate of 0 means unlimited.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace smsgate::gateway {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  RateLimiter(uint32_t rate = 0, uint32_t burst = 1) { set_rate(rate, burst); }

  // Takes effect for the next event; may be called from any thread.
  void set_rate(uint32_t rate, uint32_t burst) {
    const int64_t interval = rate ? 1'000'000'000LL / rate : 0;
    interval_.store(interval, std::memory_order_relaxed);
    tolerance_.store(interval * (std::max<uint32_t>(burst, 1) - 1), std::memory_order_relaxed);
  }

  // True when one more event fits the rate now (and counts it).
  bool try_acquire(Clock::time_point now = Clock::now()) { return take(now, true).has_value(); }

  // Counts one event and returns when it may happen: `now` or later.
  Clock::time_point reserve(Clock::time_point now = Clock::now()) { return *take(now, false); }

 private:
  // Moves the arrival time on by one interval and returns when the event may
  // happen; with `police`, refuses (nullopt, nothing counted) an event that
  // would have to wait beyond the burst.
  std::optional<Clock::time_point> take(Clock::time_point now, bool police) {
    const int64_t t = ns(now), interval = interval_.load(std::memory_order_relaxed);
    if (interval == 0) return now;
    const int64_t tolerance = tolerance_.load(std::memory_order_relaxed);
    int64_t tat = tat_.load(std::memory_order_relaxed);
    for (;;) {
      const int64_t start = std::max(tat, t);
      const int64_t wait = std::max<int64_t>(0, start - tolerance - t);
      if (police && wait > 0) return std::nullopt;
      if (tat_.compare_exchange_weak(tat, start + interval, std::memory_order_relaxed)) {
        return now + std::chrono::nanoseconds(wait);
      }
    }
  }

  static int64_t ns(Clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  }

  std::atomic<int64_t> tat_{0};
  std::atomic<int64_t> interval_{0};
  std::atomic<int64_t> tolerance_{0};
};

}  // namespace smsgate::gateway
