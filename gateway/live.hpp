// The live dashboard's data: the last 15 minutes of the gateway's counters,
// sampled every 2 s on the main io_context, and the latest complaints.
// Served as JSON by the admin server (`GET /api/live`).
//
//   live.sample(now, totals, deferred_depth, binds);   // main io_context, every 2 s
//   live.add_complaint({...});                        // any thread (rare)
//   std::string body = live.json();                   // any thread
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/counters.hpp"

namespace smsgate::gateway {

inline constexpr std::size_t kCounterCount = static_cast<std::size_t>(Counter::count_);
using CounterTotals = std::array<uint64_t, kCounterCount>;

// One bind as the dashboard lists it.
struct BindState {
  std::string kind;   // "account" or "carrier"
  std::string name;   // system_id or carrier name
  std::string state;  // "bound", "down", "binding", "suspended", ...
  uint32_t sessions = 0;
};

struct RecentComplaint {
  int64_t at_ms = 0;        // received, ms since the epoch (UTC)
  std::string ticket;       // "T-<16 hex>"
  std::string category;     // e.g. "frequent_harassment"
  std::string severity;     // urgent / high / normal
  std::string number;       // masked for the page
  std::string account;
};

class LiveSeries {
 public:
  static constexpr std::chrono::seconds kInterval{2};
  static constexpr std::size_t kSamples = 450;  // 15 minutes
  static constexpr std::size_t kComplaints = 20;

  void sample(std::chrono::system_clock::time_point now, const CounterTotals& totals, uint64_t deferred_depth,
              std::vector<BindState> binds);
  void add_complaint(RecentComplaint complaint);
  std::string json() const;

 private:
  struct Sample {
    int64_t at_ms = 0;
    CounterTotals totals{};
    uint64_t deferred_depth = 0;
  };
  mutable std::mutex mu_;
  std::deque<Sample> samples_;
  std::deque<RecentComplaint> complaints_;
  std::vector<BindState> binds_;
};

}  // namespace smsgate::gateway
