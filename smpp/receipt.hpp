// Delivery receipt text (SMPP 3.4 Appendix B):
//   id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text:...
// Carriers vary: fields missing, keys in other case, ids of any length. The
// parser finds each key on its own and keeps the byte span of the id, so the
// gateway can put its own id in place of the carrier's and change nothing else.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smsgate::smpp {

// message_state TLV values (SMPP 3.4 §5.3.2.35).
enum class MessageState : uint8_t {
  enroute = 1,
  delivered = 2,
  expired = 3,
  deleted = 4,
  undeliverable = 5,
  accepted = 6,
  unknown = 7,
  rejected = 8,
};

// "DELIVRD", "EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD", "ENROUTE".
std::string_view stat_text(MessageState s);
std::optional<MessageState> state_from_stat(std::string_view stat);

// esm_class message type bits (§5.2.12): 0x04 SMSC delivery receipt,
// 0x08 SME delivery ack, 0x10 SME manual/user ack, 0x20 intermediate notification.
inline constexpr bool is_receipt_esm_class(uint8_t esm_class) {
  uint8_t type = esm_class & 0x3C;
  return type == 0x04 || type == 0x08 || type == 0x10 || type == 0x20;
}

struct Receipt {
  std::string id;
  std::string sub;
  std::string dlvrd;
  std::string submit_date;
  std::string done_date;
  std::string stat;
  std::string err;
  std::string text;
  // Where the id value stands in the parsed text, for rewrite_id().
  size_t id_pos = 0;
  size_t id_len = 0;
};

// nullopt when the text has no "id:" field.
std::optional<Receipt> parse_receipt(std::string_view text);

// The Appendix B text of a receipt, fields in the standard order.
std::string format_receipt(const Receipt& r);

// The same text with the id value replaced; nullopt when it has no id field.
std::optional<std::string> rewrite_receipt_id(std::string_view text, std::string_view new_id);

}  // namespace smsgate::smpp
