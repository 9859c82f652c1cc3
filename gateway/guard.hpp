// The complaint rate guard: per account, complaints per 1,000 messages
// delivered (DELIVRD receipts) over a sliding window (replies.complaint_rate).
// Past warn_per_1000 it is logged and counted; past suspend_per_1000 (with at
// least min_delivered delivered) the account's marketing submits are refused
// with suspend_status until ops resume it (admin API). The counts and the
// suspension live in Redis, so every node agrees. docs/replies.md
// ("The complaint rate guard") tells the story.
//
// ---- THE REDIS CONTRACT ----
//
//   smsgate:guard:delivered:<account>   hash: bucket start (Unix seconds) ->
//   smsgate:guard:complaints:<account>  count. A bucket is window/60 wide (at
//       least 1 s). The workers HINCRBY them (delivered: DELIVRD receipts,
//       summed in memory and written every 250 ms, DeliveredCounts;
//       complaints: in the script that writes the ticket, once per ticket);
//       PEXPIRE window + one bucket on each write; the guard HDELs buckets
//       that left the window.
//   smsgate:guard:suspended   hash: account -> JSON {at (Unix ms), node,
//       delivered, complaints, per_1000, reason}. Written with HSETNX by the
//       first node that finds the account past suspend_per_1000; deleted by
//       resume().
//   smsgate:guard:resumed     hash: account -> Unix ms of the last resume.
//       Only buckets that start after it count, so a resumed account is not
//       suspended again for the complaints ops have already looked at.
//   smsgate:guard:warned      hash: account -> Unix ms it crossed
//       warn_per_1000 (HSETNX: one node logs the crossing); deleted when the
//       rate falls below it again.
//
// To resume by hand (what resume() does, atomically):
//   HDEL smsgate:guard:suspended <account>; HSET smsgate:guard:resumed <account> <now ms>
//
// ---- THREADING ----
//
// A ComplaintGuard runs on the executor it is given, which must not run
// handlers concurrently (the gateway's main io_context, as the ticket
// forwarder). start(), configure(), stop() and the destructor are called
// there; states() and resume() may be awaited from any executor. It owns its
// own Redis connection. The submit path never waits for it: it reads
// AccountState::suspended, which the guard refreshes every interval (and at
// once on the node that suspends or resumes).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/config.hpp"
#include "gateway/account.hpp"
#include "gateway/counters.hpp"
#include "redis/client.hpp"

namespace smsgate::gateway {

namespace asio = boost::asio;

struct AccountGuardState {
  std::string system_id;
  uint64_t delivered = 0;    // in the window
  uint64_t complaints = 0;   // in the window
  double per_1000 = 0;       // complaints per 1,000 delivered
  bool warned = false;       // past warn_per_1000
  bool suspended = false;
  int64_t suspended_at_ms = 0;
  std::string reason;        // why it was suspended
};

// ---------------------------------------------------------------- keys and buckets

inline constexpr std::string_view kGuardSuspended = "smsgate:guard:suspended";
inline constexpr std::string_view kGuardResumed = "smsgate:guard:resumed";
inline constexpr std::string_view kGuardWarned = "smsgate:guard:warned";

inline std::string guard_delivered_key(std::string_view account) {
  return std::string("smsgate:guard:delivered:").append(account);
}
inline std::string guard_complaints_key(std::string_view account) {
  return std::string("smsgate:guard:complaints:").append(account);
}

// Where an event at `now_ms` is counted: the bucket's field and the TTL (ms)
// its hash gets on each write.
struct GuardBucket {
  std::string field;
  std::string ttl_ms;
};
int64_t guard_bucket_seconds(std::chrono::milliseconds window);
GuardBucket guard_bucket(std::chrono::milliseconds window, int64_t now_ms);

// A worker's DELIVRD receipts, counted in memory per account and bucket and
// written every kDeliveredFlushEvery as one HINCRBY (+ PEXPIRE) per account
// and bucket, pipelined on the worker's connection; nobody waits. One write
// per receipt was two Redis commands a message (docs/performance.md). The
// price: the guard sees deliveries up to kDeliveredFlushEvery late, and a
// SIGKILLed node loses that much of its delivered count (a rate, not a
// message). A failed write is counted (guard_count_failed) in `counters`
// (the worker's own). Not thread-safe: one per worker, used on its thread.
class DeliveredCounts {
 public:
  static constexpr std::chrono::milliseconds kDeliveredFlushEvery{250};

  // `redis`: the worker's client pointer, read at each flush (it is set after
  // the worker's members are made).
  DeliveredCounts(asio::any_io_executor ex, const std::shared_ptr<redis::Client>& redis, Counters& counters);
  void add(std::string_view account, const config::ComplaintRate& rate);
  // Writes what is counted now (at stop; the timer does it otherwise).
  void flush();
  void cancel() { timer_.cancel(); }

 private:
  struct Pending {
    int64_t count = 0;
    std::string ttl_ms;
  };
  const std::shared_ptr<redis::Client>& redis_;
  Counters& counters_;
  asio::steady_timer timer_;
  bool armed_ = false;
  std::map<std::pair<std::string, std::string>, Pending, std::less<>> pending_;  // (account, bucket field)
};

// ---------------------------------------------------------------- the guard

// An account as the guard sees it: a transactional one is measured, never
// suspended.
struct GuardAccount {
  std::string system_id;
  bool marketing = true;
  std::shared_ptr<AccountState> state;
};

class ComplaintGuard {
 public:
  ComplaintGuard(asio::any_io_executor executor, redis::ClientConfig redis, std::string node,
                 std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~ComplaintGuard();
  ComplaintGuard(const ComplaintGuard&) = delete;
  ComplaintGuard& operator=(const ComplaintGuard&) = delete;

  // The thresholds and the accounts (at start and on every reload). With
  // `enabled` false (no policy: no complaints are counted) nothing is
  // evaluated and no account is refused.
  void configure(const config::ComplaintRate& rate, std::vector<GuardAccount> accounts, bool enabled);
  // Connects to Redis and starts the loop. Call once.
  void start();
  // Ends the loop and closes the connection.
  asio::awaitable<void> stop();

  // Every configured account, from Redis (works on any node). Throws
  // boost::system::system_error when Redis cannot be reached.
  asio::awaitable<std::vector<AccountGuardState>> states();
  // Lifts a suspension on every node (this one at once, the others within
  // an interval); false when it was not suspended. Throws
  // boost::system::system_error when Redis cannot be reached.
  asio::awaitable<bool> resume(std::string system_id);

  // complaint_rate_warnings, accounts_suspended, accounts_resumed: written on
  // the guard's executor, read anywhere (Gateway::counter adds them in).
  const Counters& counters() const;

  struct Core;  // the loop's state (guard.cpp)

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace smsgate::gateway
