// A receipt in the form carriers write them, made by smsgate itself: for a
// message that will never reach a carrier (expired or refused while
// deferred) or whose carrier never said (a late answer that refused it, or
// none at all).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "gateway/time_text.hpp"
#include "policy/number.hpp"
#include "smpp/pdu.hpp"
#include "smpp/receipt.hpp"

namespace smsgate::gateway {

// The deliver_sm body for the account that sent `message_id` from `source`
// to `e164`: receipt text, receipted_message_id and message_state.
inline smpp::ShortMessage own_receipt_message(std::string_view e164, std::string_view source,
                                              const std::string& message_id,
                                              std::chrono::system_clock::time_point submitted,
                                              smpp::MessageState state, uint32_t error) {
  smpp::ShortMessage sm;
  sm.source = smpp::Address{policy::ton::international, 1, std::string(e164)};
  sm.dest = smpp::Address{0, 0, std::string(source)};
  sm.esm_class = 0x04;
  smpp::Receipt r;
  r.id = message_id;
  r.sub = "001";
  r.dlvrd = "000";
  r.submit_date = receipt_date(submitted);
  r.done_date = receipt_date(std::chrono::system_clock::now());
  r.stat = std::string(smpp::stat_text(state));
  char err[8];
  std::snprintf(err, sizeof err, "%03X", error & 0xFFF);
  r.err = err;
  sm.short_message = smpp::format_receipt(r);
  sm.tlvs.set_receipted_message_id(message_id);
  sm.tlvs.set_message_state(static_cast<uint8_t>(state));
  return sm;
}

}  // namespace smsgate::gateway
