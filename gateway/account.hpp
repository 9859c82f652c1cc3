// Accounts as the running gateway sees them: the state one account shares
// across workers, one bound session of it, and the slowdown of addresses
// that keep failing to bind.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "gateway/rate_limiter.hpp"
#include "smpp/net/session.hpp"

namespace smsgate::gateway {

namespace net = smpp::net;

// What every worker shares about one account: created when the account
// first appears in the configuration and kept across reloads (its binds and
// rate survive a reload that changes other settings).
struct AccountState {
  AccountState(std::string id, unsigned workers)
      : system_id(std::move(id)), receivers(new std::atomic<uint32_t>[workers]()), worker_count(workers) {}

  // Any worker with a receiver or transceiver bind of this account,
  // `preferred` first; -1 when there is none.
  int receiver_worker(unsigned preferred) const {
    if (receivers[preferred].load(std::memory_order_relaxed) > 0) return static_cast<int>(preferred);
    for (unsigned w = 0; w < worker_count; ++w) {
      if (receivers[w].load(std::memory_order_relaxed) > 0) return static_cast<int>(w);
    }
    return -1;
  }

  const std::string system_id;
  RateLimiter tps;                                      // max_tps over all its binds
  std::atomic<uint32_t> binds{0};                       // accepted binds, all workers (max_binds)
  std::atomic<uint64_t> submitted{0};                   // submits within max_tps (the admin API's TPS)
  std::unique_ptr<std::atomic<uint32_t>[]> receivers;   // per worker: bound receiver/transceiver sessions
  const unsigned worker_count;
  std::atomic<bool> draining{false};                    // a worker of this node drains its pending list
  std::atomic<bool> drain_requested{false};             // asked for while draining: drain again after
  // Complaint rate guard (gateway/guard.hpp): refreshed from Redis every
  // second, read by every submit without a round trip.
  std::atomic<bool> suspended{false};
  std::atomic<int64_t> suspended_logged_ms{0};          // last submit_suspended log line (one a second)
};

// One account session on its worker, from accept to close.
struct AccountBind {
  std::string peer;                      // "ip:port", for logs
  std::shared_ptr<AccountState> state;   // set when the bind is accepted
  std::shared_ptr<net::Session> session; // set while bound (reset on close: no cycle)
  net::BindType type = net::BindType::transmitter;
  bool counted = false;   // holds one of state->binds
  bool receiver = false;  // counted in state->receivers
  bool receives() const { return type != net::BindType::transmitter; }
};

// Failed binds per peer IP address: each failure delays the bind_resp of the
// next one from that address by 200 ms more, up to 5 s; a successful bind
// forgets the address. Shared by all workers; taken only on binds.
class BindFailures {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kStep{200};
  static constexpr std::chrono::milliseconds kMax{5000};
  static constexpr std::chrono::minutes kForget{10};

  // Records a failure; returns how long to wait before answering it.
  std::chrono::milliseconds failed(const std::string& address, Clock::time_point now = Clock::now()) {
    std::lock_guard lock(mu_);
    if (entries_.size() > 100'000) {
      std::erase_if(entries_, [&](const auto& e) { return now - e.second.last > kForget; });
    }
    Entry& e = entries_[address];
    if (now - e.last > kForget) e.count = 0;
    const auto delay = std::min<std::chrono::milliseconds>(kStep * e.count, kMax);
    ++e.count;
    e.last = now;
    return delay;
  }

  void succeeded(const std::string& address) {
    std::lock_guard lock(mu_);
    entries_.erase(address);
  }

 private:
  struct Entry {
    uint32_t count = 0;
    Clock::time_point last{};
  };
  std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace smsgate::gateway
