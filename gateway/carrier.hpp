// A carrier (SMSC) as the running gateway sees it: its settings, its binds
// spread over the workers, the rate it is sent at, and which bind takes a
// message.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "gateway/rate_limiter.hpp"
#include "smpp/net/client.hpp"
#include "smpp/pdu.hpp"

namespace smsgate::gateway {

namespace net = smpp::net;

class Carrier;
struct Snapshot;

// One submit_sm on its way from an account to a carrier and back. It moves
// between workers (the account's and the carrier bind's) by asio::post; only
// one worker touches it at a time.
struct SubmitJob {
  std::shared_ptr<net::Session> account_session;
  std::shared_ptr<const Snapshot> snapshot;  // keeps `route` and `carrier` alive
  const std::vector<Carrier*>* route = nullptr;
  Carrier* carrier = nullptr;                // set after a carrier throttled it: retry there only
  std::string account;
  std::string e164;                          // the destination, normalised
  std::string source;                        // source_addr as the account gave it
  std::string region;                        // the destination's ISO region
  std::string message_id;                    // our id, given before the policy decides
  smpp::Pdu pdu;                             // the submit_sm as forwarded
  uint64_t concat_hash = 0;                  // non-zero: a part of a long message
  unsigned origin = 0;                       // the account session's worker
  uint32_t sequence = 0;                     // the account's sequence_number
  uint32_t throttled = 0;                    // ESME_RTHROTTLED from the carrier so far
  uint32_t hops = 0;                         // dispatches (a bind lost before sending)
  std::chrono::steady_clock::time_point ready_at{};  // carrier rate slot, once reserved
  std::chrono::steady_clock::time_point received_at{};  // the account's submit_sm arrived (submit latency)
  // A deferred message being released: no account session waits for it.
  bool deferred = false;
  // A message of smsgate's own (an answer to a reply): nobody waits for it.
  bool internal = false;
  // The carrier did not answer within response_timeout: the account is told
  // ESME_ROK now; the answer may still come (late_response_window).
  bool awaiting_carrier = false;
  // That late answer: the account has its response already.
  bool late = false;
  // The carrier's bind closed before it answered: the carrier may have the
  // message. Never sent again; the account gets ESME_ROK and a receipt
  // stat:UNKNOWN (a deferred message: the receipt).
  bool lost = false;
  int64_t deferred_accepted_ms = 0;
  int64_t deferred_expires_ms = 0;
  // The outcome.
  uint32_t status = 0;
  bool no_carrier = false;                   // no carrier of the route was bound
  std::string carrier_id;
  std::string carrier_name;
};

// One bind of a carrier: a Client on one worker, and the submits waiting for
// its window or for the carrier's rate. Everything but `bound` is touched on
// `worker` only.
struct CarrierLink {
  Carrier* carrier = nullptr;
  unsigned index = 0;
  unsigned worker = 0;
  std::shared_ptr<net::Client> client;
  std::atomic<bool> bound{false};
  std::deque<std::unique_ptr<SubmitJob>> queue;
  bool pumping = false;
};

// Shared by all workers. Settings never change: a reload that changes a
// carrier retires this object and makes a new one.
class Carrier : public std::enable_shared_from_this<Carrier> {
 public:
  // Links are placed on workers first_worker, first_worker + 1, ... (mod workers).
  Carrier(config::Carrier config, unsigned workers, unsigned first_worker);

  const std::string& name() const { return config.name; }

  // A bound link for a message. A part of a long message (concat_hash != 0)
  // always gets the same link while the set of bound links stays the same,
  // so that the parts reach the carrier on one session, in order. Others
  // prefer a link on `worker` (no hop between threads). Null when none is bound.
  CarrierLink* pick(unsigned worker, uint64_t concat_hash, uint32_t& round_robin) const;

  void set_bound(CarrierLink& link, bool bound);
  bool has_bound() const { return bound_total_.load(std::memory_order_relaxed) > 0; }

  const config::Carrier config;
  RateLimiter shaper;  // max_tps: sending waits, nothing is refused
  std::vector<std::unique_ptr<CarrierLink>> links;
  std::atomic<bool> retired{false};

 private:
  std::unique_ptr<std::atomic<uint32_t>[]> bound_on_;  // per worker
  std::atomic<uint32_t> bound_total_{0};
};

}  // namespace smsgate::gateway
