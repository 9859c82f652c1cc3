// The policy's state in Redis: opt-out lists, frequency caps, send history,
// the deferred-message queue and the opt-out audit log. Each operation is one
// Lua script (one EVALSHA, atomic), run on a redis::Client the caller owns.
//
// KEYS. Everything about one recipient shares the hash tag of its E.164
// number, so that a move to Redis Cluster keeps each decision on one slot:
//   smsgate:{+8613800138000}:optout            HASH  field ("*", "a:<account>", "s:<source>") -> record JSON
//   smsgate:{+8613800138000}:optlog            LIST  the number's opt-out changes, newest first (JSON)
//   smsgate:{+8613800138000}:cap              ZSET  sliding log of sends, member = message id, score = ms,
//                                                   shared by every cap rule of that scope (each counts its window)
//   smsgate:{+8613800138000}:cap:a:<account>  (rules per recipient+account)
//   smsgate:{+8613800138000}:cap:s:<source>   (rules per recipient+source)
//   smsgate:{+8613800138000}:sent              LIST  send history, newest first (JSON)
//   smsgate:{+8613800138000}:part:<account>:<ref>:<total>  STRING one long message's decision
// The deferred queue has its own tag:
//   smsgate:{defer}:due                        ZSET  message id -> release time (ms)
//   smsgate:{defer}:taken                      ZSET  message id -> lease end (ms), taken by a scheduler
//   smsgate:{defer}:msg:<id>                   HASH  the message (see Deferred)
// and the audit log:
//   smsgate:audit:optout                       STREAM every opt-out change, trimmed by age (MINID)
//
// TIME is always passed in (ms since the Unix epoch), never read by the
// scripts: tests shift it, and every node's decisions use its own clock.
//
// THREADING: as redis::Client - call on the client's executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "policy/rules.hpp"
#include "redis/client.hpp"

namespace smsgate::policy {

namespace asio = boost::asio;
using redis::error_code;  // boost::system::error_code, as the Redis client's
using Millis = std::chrono::milliseconds;
using TimePoint = std::chrono::system_clock::time_point;

int64_t to_ms(TimePoint t);  // ms since the epoch

namespace keys {
std::string opt_out(std::string_view e164);
std::string opt_out_log(std::string_view e164);
std::string cap(std::string_view e164, const CapRule& rule, std::string_view account, std::string_view source);
std::string sent(std::string_view e164);
std::string part(std::string_view e164, std::string_view account, std::string_view ref_and_total);
inline constexpr std::string_view kDue = "smsgate:{defer}:due";
inline constexpr std::string_view kTaken = "smsgate:{defer}:taken";
std::string deferred(std::string_view message_id);
inline constexpr std::string_view kAudit = "smsgate:audit:optout";
}  // namespace keys

// ---------------------------------------------------------------- the submit decision

// What the send history keeps for a recipient.
struct HistorySettings {
  uint32_t keep = 20;                        // last N messages; 0: no history
  Millis ttl{std::chrono::hours{24 * 90}};   // from its last refresh: a new list, or at most every ttl / 8
  bool text = false;                         // keep the text too (else only its hash)
};

// The parts of the policy the decide script applies. Changed by a reload:
// build a new one and swap it (a Store is cheap to make).
struct StoreSettings {
  std::vector<CapRule> caps;
  HistorySettings history;
  Millis part_ttl{std::chrono::minutes{10}};  // how long a long message's decision is kept for its other parts
  Millis audit_retention{std::chrono::hours{24 * 180}};
  // How much later than the one sent after it a TTL refresh may run (both
  // wait in a pipeline): part of ttl_margin.
  Millis pipeline_slack{std::chrono::seconds{30}};
};

// One submit, as the decide script needs it.
struct Submit {
  std::string e164;        // "+8613800138000"
  std::string account;     // system_id
  std::string source;      // source address as submitted
  std::string message_id;  // our id: the cap logs' member and the history's id
  std::string text_hash;   // hex digest of the message text (history)
  std::string text;        // kept in history only when HistorySettings::text
  // "<ref>:<total>" for a part of a long message (UDH or sar_ TLVs): the
  // first part decides, every other part of it gets the same answer
  // without being counted again. Empty for a single message.
  std::string part;
  bool check_opt_out = true;  // false: transactional traffic with opt_out.transactional: skip
  bool check_caps = true;     // false: transactional traffic
};

enum class Outcome : uint8_t { allow, opted_out, frequency_cap };

struct Decision {
  Outcome outcome = Outcome::allow;
  std::string rule;  // opted_out: the field that matched ("*", "a:acme", "s:1069"); frequency_cap: the rule's name
};

// The script's answer, or the Redis failure that kept it from answering
// (error set: the caller applies redis.on_error).
struct DecideResult {
  error_code error;   // not_connected, timeout, ... or a script error reply (policy_errc::script)
  std::string error_text;  // the error reply's text, when there was one
  Decision decision;
  bool ok() const { return !error; }
};

// A script that answered with an error reply, or with a reply of the wrong shape.
enum class PolicyErrc { script = 1, bad_reply };
const boost::system::error_category& policy_category();
inline error_code make_error_code(PolicyErrc e) { return {static_cast<int>(e), policy_category()}; }

// ---------------------------------------------------------------- opt-outs

struct OptOutRecord {
  std::string field;   // "*", "a:<account>", "s:<source>"
  int64_t at_ms = 0;
  std::string source;  // who made it: "reply", "admin", "import", ...
  std::string reason;  // free text ("TD", "complaint 12321", ...)
};

struct OptOutChange {  // one entry of a number's optlog or the audit stream
  std::string action;  // "add" | "remove"
  std::string e164;
  OptOutRecord record;
};

struct OptOutState {
  std::vector<OptOutRecord> records;  // the fields present now
  std::vector<OptOutChange> history;  // newest first, at most 100
};

// ---------------------------------------------------------------- deferred messages

struct Deferred {
  std::string message_id;
  std::string pdu;          // the submit_sm as the carrier should get it (encoded)
  std::string account;
  std::string e164;
  std::string source;
  std::string part;         // as Submit::part
  std::string rule;         // the quiet-hours rule that deferred it
  int64_t accepted_ms = 0;  // when the account was answered
  int64_t release_ms = 0;   // when it may go
  int64_t expires_ms = 0;   // after this it is not sent: receipt EXPIRED
  int32_t attempts = 0;     // times taken before (a lease that ran out, a carrier that was down)
  // When a scheduler began handing it to a carrier (0: never). A message
  // taken again with this set may be at the carrier already: it is not sent
  // again (at most once) but ends with an UNKNOWN receipt.
  int64_t sending_ms = 0;
};

// ---------------------------------------------------------------- the store

class Store {
 public:
  Store(std::shared_ptr<redis::Client> client, std::shared_ptr<const StoreSettings> settings);

  const StoreSettings& settings() const { return *settings_; }

  // Opt-out check, every cap rule exactly, and on allow the send recorded in
  // every cap key and the history, in one script. The callback form queues
  // the decide and sends the queue at the end of the executor's turn (or at
  // kDecideBatch) as one EVALSHA: a worker that read many submits in one go
  // pays the script call once (one Redis node: the batch spans recipients'
  // hash slots). Each message still gets its own answer or error. A cap rule that refuses
  // records nothing anywhere. Keys' TTLs are set when a key is new and
  // refreshed by each Store at most every ttl_margin / 2 per (recipient,
  // account, source): a cap log lives at least its window + ttl_margin past
  // the last send.
  void decide(const Submit& submit, TimePoint now, std::function<void(DecideResult&&)> done);
  asio::awaitable<DecideResult> decide(const Submit& submit, TimePoint now);

  // Only the opt-out check (HMGET of the three fields), for a message about
  // to be deferred: an opted-out number is refused at once.
  asio::awaitable<DecideResult> check_opt_out(std::string_view e164, std::string_view account,
                                              std::string_view source);

  // ---- opt-out list. Each change writes the hash, the number's optlog and
  // the audit stream (trimmed to audit_retention) in one script. add()
  // returns true when the field was not there before (an existing record
  // is kept, and the repeat is still audited); remove() true when it was.
  // remove() with field "" removes every field.
  asio::awaitable<std::pair<error_code, bool>> add_opt_out(std::string_view e164, OptOutRecord record);
  asio::awaitable<std::pair<error_code, bool>> remove_opt_out(std::string_view e164, std::string_view field,
                                                                  std::string_view source, std::string_view reason,
                                                                  TimePoint now);
  asio::awaitable<std::pair<error_code, OptOutState>> lookup_opt_out(std::string_view e164);
  // Many numbers, pipelined in batches; how many were new.
  struct ImportResult {
    error_code error;
    uint64_t added = 0;
    uint64_t existing = 0;
  };
  asio::awaitable<ImportResult> import_opt_outs(const std::vector<std::string>& e164s, const OptOutRecord& record);
  // The audit stream from `since` (ms, inclusive), oldest first, at most `count`.
  asio::awaitable<std::pair<error_code, std::vector<OptOutChange>>> audit(int64_t since_ms, uint32_t count);

  // The send history of a number, newest first (the JSON entries as stored).
  asio::awaitable<std::pair<error_code, std::vector<std::string>>> history(std::string_view e164);

  // ---- the deferred queue.
  // Stores the message and queues it for release_ms (HSET + ZADD, one script).
  asio::awaitable<error_code> defer(const Deferred& message);
  // Moves messages whose lease ran out back to due, then takes up to `batch`
  // due at `now` (release_ms <= now): each leaves `due` and enters `taken`
  // with a lease until now + lease, and is returned with its hash. Atomic:
  // two schedulers never take the same message.
  asio::awaitable<std::pair<error_code, std::vector<Deferred>>> take_due(TimePoint now, uint32_t batch,
                                                                              Millis lease);
  // About to go to a carrier: records sending_ms in its hash, in Redis
  // before the submit_sm leaves. False (and nothing written) unless the
  // caller still holds it: the hash is there, unmarked, with the `attempts`
  // the caller took it with (a lease that ran out and was taken again
  // counts one more), so that two schedulers never both send it.
  asio::awaitable<std::pair<error_code, bool>> mark_sending(std::string_view message_id, int32_t attempts,
                                                            TimePoint now);
  // Extends the leases of messages a scheduler is still sending (queued
  // behind a carrier's rate or window) to `lease_end`, each only while it
  // is still taken with the caller's `attempts`. Answers how many.
  asio::awaitable<std::pair<error_code, uint64_t>> extend_leases(
      const std::vector<std::pair<std::string, int32_t>>& held, TimePoint lease_end);
  // The message is finished (sent, expired, refused): removes its hash and
  // its lease.
  asio::awaitable<error_code> finish_deferred(std::string_view message_id);
  // Sent: the carrier id mapping (SET id_key id_value PX ttl_ms) written and
  // the message finished in one script, so that no scheduler can find it
  // still queued once its receipt can reach the account (one Redis node:
  // the keys span hash slots).
  asio::awaitable<error_code> finish_sent(std::string_view message_id, std::string_view id_key,
                                          std::string_view id_value, int64_t ttl_ms);
  // Back to the queue for `release` (quiet hours again, no carrier bound):
  // attempts + 1, and the sending mark cleared (it never left).
  asio::awaitable<error_code> requeue_deferred(std::string_view message_id, TimePoint release);
  // Messages waiting (due) and being released (taken).
  asio::awaitable<std::pair<error_code, std::pair<uint64_t, uint64_t>>> deferred_depth();

  struct DecideQueue;
  static constexpr std::size_t kDecideBatch = 64;

 private:
  // Whether this decide refreshes the recipient's TTLs (remembered per
  // Store, that is per worker: not thread-safe, like the Store's client).
  bool refresh_due(const Submit& submit, int64_t now_ms);
  static constexpr std::size_t kRefreshMemory = 65'536;

  std::shared_ptr<redis::Client> client_;
  std::shared_ptr<const StoreSettings> settings_;
  int64_t margin_ms_;         // ttl_margin(settings), fixed for the Store's life
  int64_t refresh_every_ms_;  // how often refresh_due answers true for one key
  std::unordered_map<std::string, int64_t> refreshed_;
  std::shared_ptr<DecideQueue> queue_;  // shared with a posted send: outlives a replaced Store  // "<e164>\0<account>\0<source>" -> last refresh, ms
};

// How long past its window a cap log is kept after a refresh: 2 x the
// refresh interval (the shortest window or history TTL / 8) + pipeline_slack.
Millis ttl_margin(const StoreSettings& settings);

}  // namespace smsgate::policy

template <>
struct boost::system::is_error_code_enum<smsgate::policy::PolicyErrc> : std::true_type {};
