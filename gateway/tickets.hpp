// The ticket forwarder: complaint tickets from the Redis outbox stream to the
// operator's ticket system (a JSON-lines file, a signed webhook, or Request
// Tracker), at least once, shared by every gateway node. docs/tickets.md.
//
// ---- THE OUTBOX CONTRACT (the reply path writes, the forwarder reads) ----
//
//   smsgate:tickets:outbox   a Redis Stream. One entry per ticket, fields:
//       id       the ticket id, "T-<16 hex>": also its idempotency key (the
//                webhook-id and Idempotency-Key headers)
//       ticket   the complete ticket, a UTF-8 JSON object that contains "id"
//   Written with XADD ... MAXLEN ~ 1000000 (enqueue_ticket below, or the
//   reply path's own dedupe script with the same fields). An entry leaves the
//   stream (XACK + XDEL) only once the sink has it.
//
//   consumer group "forwarders" on the outbox, created at id 0 (MKSTREAM;
//   BUSYGROUP ignored), so tickets written before any forwarder ran are
//   delivered too. Each forwarder is one consumer, "<node>-<pid>-<random>".
//
//   smsgate:tickets:attempts:<id>   a hash per ticket being retried:
//       first_ms, attempts (failed ones), next_ms, last_error
//   so that a restart or another node keeps counting; deleted on delivery,
//   dead-lettering and replay; expires retry_for + 1 day after its last write.
//
//   smsgate:tickets:dead   a Redis Stream of tickets given up on, fields:
//       id, ticket, error (the last one), attempts, first_attempt_ms, dead_ms
//   (XADD ... MAXLEN ~ 1000000). replay_dead() moves one back to the outbox.
//
// ---- DELIVERY ----
//
// The loop reads new entries (XREADGROUP ... BLOCK), takes over entries idle
// for ForwarderOptions::claim_idle in any consumer's pending list (XAUTOCLAIM:
// a node killed mid-delivery loses nothing), and delivers one ticket at a
// time. Before each attempt it checks, in one script, that the entry is still
// pending for this consumer and resets its idle time, so two forwarders never
// deliver the same entry at once (claim_idle is kept above Tickets::timeout).
// Success (2xx; 201 for Request Tracker; file written and fsync'd): XACK + XDEL
// + the attempts hash deleted, atomically. Failure: the attempt is counted and
// the next one scheduled (backoff_initial doubling to backoff_max, jitter),
// never later than first attempt + Tickets::retry_for; an attempt failing at
// or after that moves the ticket to the dead-letter stream (XADD + XACK + XDEL,
// atomically). Every HTTP answer other than 2xx is retried, 4xx included (a
// receiver can be misconfigured for a while); redirects are not followed.
// A receiver may see a ticket twice (an answer lost after it stored it):
// deduplicate by webhook-id / Idempotency-Key.
//
// ---- THREADING ----
//
// A TicketForwarder runs on the executor it is given, which must not run
// handlers concurrently (an io_context run by one thread, or a strand): the
// gateway gives it its main io_context, where little else runs. start(),
// stop() and the destructor are called there. It owns its own Redis
// connection (a blocking XREADGROUP would stall any other command on a shared
// one). The file sink writes and fsyncs on that thread. counters() may be
// read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/system/error_code.hpp>

#include "config/config.hpp"
#include "redis/client.hpp"

namespace smsgate::gateway {

namespace asio = boost::asio;
using boost::system::error_code;

inline constexpr std::string_view kTicketOutbox = "smsgate:tickets:outbox";
inline constexpr std::string_view kTicketDead = "smsgate:tickets:dead";
inline constexpr std::string_view kTicketGroup = "forwarders";
inline constexpr std::string_view kTicketAttemptsPrefix = "smsgate:tickets:attempts:";
inline constexpr long long kTicketStreamMaxLen = 1'000'000;  // MAXLEN ~ of both streams

inline std::string ticket_attempts_key(std::string_view id) {
  std::string k(kTicketAttemptsPrefix);
  k.append(id);
  return k;
}

// Errors of the functions below (category "tickets"); Redis client errors
// (not_connected, timeout, ...) are passed through as they are.
enum class TicketErrc {
  redis_error = 1,  // Redis answered with an error reply
  not_found,        // replay_dead: no dead ticket with that id
  bad_reply,        // a reply of an unexpected shape
};
const boost::system::error_category& ticket_category();
inline error_code make_error_code(TicketErrc e) { return {static_cast<int>(e), ticket_category()}; }

// ---------------------------------------------------------------- the outbox

// Adds a ticket to the outbox (XADD MAXLEN ~ 1000000). `json` is the complete
// ticket object (with "id"). The views are read when the awaitable starts:
// await it at once.
asio::awaitable<error_code> enqueue_ticket(redis::Client& redis, std::string_view id, std::string_view json);

struct DeadTicket {
  std::string entry_id;  // its id in the dead-letter stream
  std::string id;        // the ticket id
  std::string ticket;    // the JSON as it was in the outbox
  std::string error;     // the last attempt's error
  int64_t attempts = 0;
  int64_t first_attempt_ms = 0;  // Unix ms
  int64_t dead_ms = 0;
};

// Dead tickets, oldest first: up to `count` after the entry `after` (an
// entry_id from the previous page; empty: from the start). Await it at once.
asio::awaitable<std::pair<error_code, std::vector<DeadTicket>>> list_dead(redis::Client& redis,
                                                                          std::size_t count = 100,
                                                                          std::string_view after = {});

// Moves the newest dead entry of ticket `id` back to the outbox (one script:
// XADD to the outbox, XDEL from the dead-letter stream, the attempts hash
// deleted so that retry_for counts again). TicketErrc::not_found when there
// is none. Finding it reads the dead-letter stream from its end (XREVRANGE,
// pages of 200): an admin operation, not a hot path. Like enqueue_ticket,
// await it at once.
asio::awaitable<error_code> replay_dead(redis::Client& redis, std::string_view id);

// ---------------------------------------------------------------- the forwarder

// Every counter the forwarder exports (relaxed atomics: read them anywhere).
struct TicketCounters {
  std::atomic<uint64_t> delivered{0};      // the sink has it, and the entry is acked
  std::atomic<uint64_t> retrying{0};       // failed attempts with another one scheduled
  std::atomic<uint64_t> dead_lettered{0};  // moved to the dead-letter stream
  std::atomic<uint64_t> reclaimed{0};      // entries taken over from another consumer (XAUTOCLAIM)
  std::atomic<uint64_t> waiting{0};        // gauge: tickets held here for a later attempt
};

// Tuning that is not in the configuration file; the defaults are for
// production, tests shorten them.
struct ForwarderOptions {
  uint32_t batch = 10;                               // entries per XREADGROUP / XAUTOCLAIM
  std::chrono::milliseconds block{1'000};            // XREADGROUP BLOCK (at most half the Redis request_timeout)
  std::chrono::milliseconds claim_idle{60'000};      // take over entries idle this long (at least timeout + 1 s)
  std::chrono::milliseconds claim_interval{5'000};   // how often to look for them
  std::chrono::milliseconds backoff_initial{1'000};  // after the first failed attempt
  std::chrono::milliseconds backoff_max{600'000};
  // Tickets held here for a later attempt (in memory, JSON and all) at most;
  // while full, nothing new is read or taken over.
  std::size_t max_waiting = 1'000;
  double backoff_jitter = 0.2;                       // each delay scaled by a random factor in [1-j, 1+j]
  // Consumers of the group with nothing pending and idle this long are
  // removed (every consumer name is new after a restart).
  std::chrono::milliseconds consumer_expiry{24LL * 3600 * 1000};
  std::chrono::milliseconds cleanup_interval{600'000};
  // HTTPS sinks: trust only the CAs in this PEM file instead of the
  // system's store (a private CA). The server's name is always verified.
  std::string ca_file;
};

// "<node>-<pid>-<6 random hex>": unique even for two containers that both
// run as pid 1.
std::string ticket_consumer_name(std::string_view node);

class TicketForwarder {
 public:
  // `tickets.sink`: file (tickets.file), webhook (tickets.webhook, signed with
  // tickets.secret.value), request_tracker; none behaves as file with
  // tickets.file, or "tickets.jsonl" when that is empty (the gateway fills in
  // the path beside the config file). Throws std::invalid_argument for a URL
  // it cannot use, a "whsec_" secret that is not base64, or a CA file it
  // cannot load.
  TicketForwarder(asio::any_io_executor executor, redis::ClientConfig redis, config::Tickets tickets,
                  std::string consumer, ForwarderOptions options = {});
  // Not stopped yet: aborts as stop() does when its grace is over.
  ~TicketForwarder();
  TicketForwarder(const TicketForwarder&) = delete;
  TicketForwarder& operator=(const TicketForwarder&) = delete;

  // Connects to Redis and starts the loop. Call once.
  void start();
  // Graceful: no new attempt starts; the one in flight may finish within
  // `grace`, acks not yet written are retried once, and the tickets held for
  // a later attempt are released (their idle time set high) so another node
  // takes them over at once. After `grace` the attempt in flight is
  // abandoned (left pending: it will be taken over after claim_idle) and the
  // Redis connection closed. Returns when the loop has ended.
  asio::awaitable<void> stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  const TicketCounters& counters() const;
  const std::string& consumer() const;

  struct Core;  // the loop's state, shared with its coroutines (tickets.cpp)

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace smsgate::gateway

template <>
struct boost::system::is_error_code_enum<smsgate::gateway::TicketErrc> : std::true_type {};
