// The policy's rule types that the configuration, the Redis store and the
// gateway share. Standard library only (config/ includes it).
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace smsgate::policy {

// What one opt-out blocks. An opt-out is stored as a record under one of
// three fields of the recipient's opt-out hash: "*" (every message to the
// number), "a:<account>" (that account's) or "s:<source>" (messages from
// that source address). A submit is blocked by any record that covers it,
// whatever the configured scope; the scope decides which field a new
// opt-out from a reply writes.
enum class OptOutScope : uint8_t { global, account, source };

// Which messages one cap rule counts together.
enum class CapScope : uint8_t { recipient, recipient_account, recipient_source };

// A sliding-window frequency cap: at most `limit` messages in any `window`.
struct CapRule {
  std::string name;  // [A-Za-z0-9_.-], unique; part of the Redis key
  CapScope per = CapScope::recipient;
  uint32_t limit = 1;
  std::chrono::milliseconds window{std::chrono::hours{24}};
  bool operator==(const CapRule&) const = default;
};

// The opt-out field a record is stored under.
inline std::string opt_out_field(OptOutScope scope, std::string_view account, std::string_view source) {
  switch (scope) {
    case OptOutScope::account: return "a:" + std::string(account);
    case OptOutScope::source: return "s:" + std::string(source);
    case OptOutScope::global: break;
  }
  return "*";
}

}  // namespace smsgate::policy
