// Every Redis key smsgate writes, in one place (docs/gateway.md lists them).
// Keys that belong to one recipient carry the recipient's E.164 number in a
// hash tag, so that a Redis Cluster keeps them on one shard.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

namespace smsgate::gateway::keys {

inline constexpr std::string_view kPrefix = "smsgate:";

// carrier id (canonical) -> "<our id>:<account>", TTL receipts.id_map_ttl.
inline std::string id_map(std::string_view carrier, std::string_view canonical_carrier_id) {
  std::string k(kPrefix);
  k.append("id:").append(carrier).append(":").append(canonical_carrier_id);
  return k;
}

// The account that last sent to `e164` from `source` (the address a reply
// comes back to), TTL kLastSenderTtlSeconds.
inline std::string last_sender(std::string_view e164, std::string_view source) {
  std::string k(kPrefix);
  k.append("last:{").append(e164).append("}:").append(source);
  return k;
}
inline constexpr long long kLastSenderTtlSeconds = 30LL * 24 * 3600;

// Receipts and replies waiting for an account's receiver bind: a list of
// encoded deliver_sm PDUs, oldest first.
inline std::string pending(std::string_view account) {
  std::string k(kPrefix);
  k.append("pending:").append(account);
  return k;
}

// Held by the one gateway worker that drains an account's pending list.
inline std::string drain_lock(std::string_view account) {
  std::string k(kPrefix);
  k.append("drain:").append(account);
  return k;
}

}  // namespace smsgate::gateway::keys

namespace smsgate::gateway {

// A complaint ticket's contact, HASH number (+E.164), to (the address it
// complained to), ton, npi, account: what ops' reply through the admin API
// (POST /api/tickets/{id}/reply) is sent with. Written by the reply path.
inline std::string admin_ticket_key(std::string_view ticket_id) {
  std::string k(keys::kPrefix);
  k.append("ticket:").append(ticket_id);
  return k;
}
inline constexpr std::chrono::hours kAdminTicketTtl{24 * 90};

}  // namespace smsgate::gateway

namespace smsgate::gateway::keys {

// The value of an id_map key.
inline std::string id_map_value(std::string_view our_id, std::string_view account) {
  std::string v(our_id);
  v.append(":").append(account);
  return v;
}

}  // namespace smsgate::gateway::keys
