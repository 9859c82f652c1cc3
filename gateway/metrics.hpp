// What a worker measures beyond its Counters, for GET /metrics (the admin
// server, gateway/admin.cpp): latency histograms and receipts and replies by
// kind. Like Counters, each worker writes its own (relaxed atomics, one
// writer) and the scrape adds them up: nothing is shared on the hot path.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

#include "policy/classify.hpp"

namespace smsgate::gateway {

// Fixed buckets (upper bounds, seconds) from 100 µs to 10 s.
inline constexpr std::array<double, 15> kLatencyBuckets = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                           0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};

class LatencyHistogram {
 public:
  // Written by its worker's thread only.
  void observe(std::chrono::nanoseconds d) {
    const double s = std::chrono::duration<double>(d).count();
    std::size_t i = 0;
    while (i < kLatencyBuckets.size() && s > kLatencyBuckets[i]) ++i;
    bump(buckets_[i], 1);
    bump(sum_ns_, static_cast<uint64_t>(d.count() > 0 ? d.count() : 0));
  }
  // Bucket i counts observations in (bound[i-1], bound[i]]; the last one
  // those above every bound. Not cumulative.
  uint64_t bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  uint64_t sum_ns() const { return sum_ns_.load(std::memory_order_relaxed); }
  static constexpr std::size_t kBuckets = kLatencyBuckets.size() + 1;

 private:
  static void bump(std::atomic<uint64_t>& v, uint64_t n) {
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
  std::atomic<uint64_t> sum_ns_{0};
};

// The stat: of a delivery receipt, as counted; the last one is any other.
inline constexpr std::array<std::string_view, 9> kReceiptStates = {
    "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE", "other"};

inline constexpr std::size_t kReplyOutcomes = 5;    // policy::ReplyOutcome
inline constexpr std::size_t kReplyCategories = 7;  // policy::ComplaintCategory

struct WorkerMetrics {
  LatencyHistogram submit_latency;  // submit_sm received -> submit_sm_resp sent (accounts' submits)
  LatencyHistogram redis_latency;   // every command of the worker's Redis connection, queued -> reply
  std::array<std::atomic<uint64_t>, kReceiptStates.size()> receipts{};
  std::array<std::atomic<uint64_t>, kReplyOutcomes * kReplyCategories> replies{};

  void receipt(std::string_view stat) {
    std::size_t i = 0;
    while (i + 1 < kReceiptStates.size() && kReceiptStates[i] != stat) ++i;
    bump(receipts[i]);
  }
  void reply(policy::ReplyOutcome outcome, policy::ComplaintCategory category) {
    const auto o = std::min<std::size_t>(static_cast<std::size_t>(outcome), kReplyOutcomes - 1);
    const auto c = std::min<std::size_t>(static_cast<std::size_t>(category), kReplyCategories - 1);
    bump(replies[o * kReplyCategories + c]);
  }

 private:
  static void bump(std::atomic<uint64_t>& v) {
    v.store(v.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
};

}  // namespace smsgate::gateway
