// The seams where the policy engine (next issue) plugs in. Today both let
// everything through; the submit path and the reply path call them at the
// point where the policy's one Redis round trip will be made.
#pragma once

#include <cstdint>
#include <string_view>

#include "policy/number.hpp"
#include "smpp/pdu.hpp"

namespace smsgate::gateway {

struct Verdict {
  bool allow = true;
  uint32_t status = 0;  // the submit_sm_resp status when not allowed
};

// Whether `account` may send `sm` to `dest` now (opt-outs, caps, quiet hours).
inline Verdict decide(std::string_view /*account*/, const policy::Number& /*dest*/,
                      const smpp::ShortMessage& /*sm*/) {
  return {};
}

// What to do with a reply from a phone before it goes to an account:
// forward it, or (next issue) act on an opt-out or complaint first.
enum class ReplyAction : uint8_t { forward };

inline ReplyAction intercept_reply(std::string_view /*phone_e164*/, const smpp::ShortMessage& /*sm*/) {
  return ReplyAction::forward;
}

}  // namespace smsgate::gateway
