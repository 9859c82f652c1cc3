// The seam where reply interception (opt-outs and complaints from phones,
// the next issue) plugs into the reply path. Today every reply is forwarded.
#pragma once

#include <cstdint>
#include <string_view>

#include "smpp/pdu.hpp"

namespace smsgate::gateway {

// What to do with a reply from a phone before it goes to an account:
// forward it, or (next issue) act on an opt-out or complaint first.
enum class ReplyAction : uint8_t { forward };

inline ReplyAction intercept_reply(std::string_view /*phone_e164*/, const smpp::ShortMessage& /*sm*/) {
  return ReplyAction::forward;
}

}  // namespace smsgate::gateway
