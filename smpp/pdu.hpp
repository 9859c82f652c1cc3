// SMPP 3.4 protocol data units as plain values.
//
// A Pdu is a header (command_id, command_status, sequence_number) and a body
// whose alternative is fixed by the command_id. Optional parameters (TLVs) are
// kept in arrival order and byte-exact, known or unknown: a proxy must forward
// what it does not understand (SMPP 3.4 §3.2.1 / §5.3).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace smsgate::smpp {

// SMPP 3.4 §5.1.2.1
enum class CommandId : uint32_t {
  generic_nack = 0x80000000,
  bind_receiver = 0x00000001,
  bind_receiver_resp = 0x80000001,
  bind_transmitter = 0x00000002,
  bind_transmitter_resp = 0x80000002,
  query_sm = 0x00000003,
  query_sm_resp = 0x80000003,
  submit_sm = 0x00000004,
  submit_sm_resp = 0x80000004,
  deliver_sm = 0x00000005,
  deliver_sm_resp = 0x80000005,
  unbind = 0x00000006,
  unbind_resp = 0x80000006,
  replace_sm = 0x00000007,
  replace_sm_resp = 0x80000007,
  cancel_sm = 0x00000008,
  cancel_sm_resp = 0x80000008,
  bind_transceiver = 0x00000009,
  bind_transceiver_resp = 0x80000009,
  outbind = 0x0000000B,
  enquire_link = 0x00000015,
  enquire_link_resp = 0x80000015,
  submit_multi = 0x00000021,
  submit_multi_resp = 0x80000021,
  alert_notification = 0x00000102,
  data_sm = 0x00000103,
  data_sm_resp = 0x80000103,
};

// True for the command ids this codec knows.
bool is_known_command(uint32_t command_id);
// "submit_sm", "deliver_sm_resp", … ; "unknown" otherwise.
std::string_view command_name(CommandId id);
inline constexpr bool is_response(uint32_t command_id) { return (command_id & 0x80000000u) != 0; }
inline constexpr uint32_t response_id_for(uint32_t command_id) { return command_id | 0x80000000u; }

// SMPP 3.4 §3.2: every PDU starts with these four 32-bit big-endian fields.
inline constexpr uint32_t kHeaderSize = 16;

// An SME address: TON, NPI and the address digits (SMPP 3.4 §5.2.5-5.2.8).
struct Address {
  uint8_t ton = 0;
  uint8_t npi = 0;
  std::string addr;
  bool operator==(const Address&) const = default;
};

// One optional parameter, value kept as raw bytes (§3.2.1.5).
struct Tlv {
  uint16_t tag = 0;
  std::string value;
  bool operator==(const Tlv&) const = default;
};

// Optional parameter tags the gateway reads (§5.3.2).
namespace tag {
inline constexpr uint16_t dest_addr_subunit = 0x0005;
inline constexpr uint16_t source_port = 0x020A;
inline constexpr uint16_t destination_port = 0x020B;
inline constexpr uint16_t sar_msg_ref_num = 0x020C;
inline constexpr uint16_t sar_total_segments = 0x020E;
inline constexpr uint16_t sar_segment_seqnum = 0x020F;
inline constexpr uint16_t sc_interface_version = 0x0210;
inline constexpr uint16_t user_message_reference = 0x0204;
inline constexpr uint16_t receipted_message_id = 0x001E;
inline constexpr uint16_t message_state = 0x0427;
inline constexpr uint16_t network_error_code = 0x0423;
inline constexpr uint16_t message_payload = 0x0424;
}  // namespace tag

// TLVs in arrival order, with typed accessors for the common ones. Setters
// replace the first TLV with that tag in place, or append one.
struct Tlvs {
  std::vector<Tlv> items;

  const Tlv* find(uint16_t t) const;
  void set(uint16_t t, std::string value);
  bool remove(uint16_t t);  // removes every TLV with tag t; true if any

  std::optional<std::string> message_payload() const;
  std::optional<std::string> receipted_message_id() const;  // without the NUL
  std::optional<uint8_t> message_state() const;
  std::optional<uint16_t> sar_msg_ref_num() const;
  std::optional<uint8_t> sar_total_segments() const;
  std::optional<uint8_t> sar_segment_seqnum() const;
  std::optional<uint16_t> user_message_reference() const;
  std::optional<uint16_t> source_port() const;
  std::optional<uint16_t> destination_port() const;

  void set_message_payload(std::string_view bytes);
  void set_receipted_message_id(std::string_view id);  // stored C-octet (NUL-terminated)
  void set_message_state(uint8_t state);
  void set_sar(uint16_t ref, uint8_t total, uint8_t seqnum);
  void set_user_message_reference(uint16_t ref);
  void set_source_port(uint16_t port);
  void set_destination_port(uint16_t port);

  bool operator==(const Tlvs&) const = default;
};

// Bodies. Field order follows the SMPP 3.4 tables; the section is named on each.

// bind_transmitter / bind_receiver / bind_transceiver (§4.1.1, §4.1.3, §4.1.5)
struct Bind {
  std::string system_id;     // C-octet, max 16
  std::string password;      // C-octet, max 9
  std::string system_type;   // C-octet, max 13
  uint8_t interface_version = 0x34;
  uint8_t addr_ton = 0;
  uint8_t addr_npi = 0;
  std::string address_range; // C-octet, max 41
  Tlvs tlvs;                 // none in 3.4; kept if a peer sends some
  bool operator==(const Bind&) const = default;
};

// bind_*_resp (§4.1.2, §4.1.4, §4.1.6). The body may be empty on error.
struct BindResp {
  std::string system_id;     // C-octet, max 16
  Tlvs tlvs;                 // sc_interface_version
  bool operator==(const BindResp&) const = default;
};

// outbind (§4.1.7)
struct Outbind {
  std::string system_id;     // max 16
  std::string password;      // max 9
  Tlvs tlvs;                 // none in 3.4; kept if a peer sends some
  bool operator==(const Outbind&) const = default;
};

// submit_sm (§4.4.1) and deliver_sm (§4.6.1) share one layout.
struct ShortMessage {
  std::string service_type;  // C-octet, max 6
  Address source;            // source_addr max 21
  Address dest;              // destination_addr max 21
  uint8_t esm_class = 0;
  uint8_t protocol_id = 0;
  uint8_t priority_flag = 0;
  std::string schedule_delivery_time;  // C-octet, 1 or 17
  std::string validity_period;         // C-octet, 1 or 17
  uint8_t registered_delivery = 0;
  uint8_t replace_if_present_flag = 0;
  uint8_t data_coding = 0;
  uint8_t sm_default_msg_id = 0;
  std::string short_message;           // sm_length octets, 0-254
  Tlvs tlvs;
  bool operator==(const ShortMessage&) const = default;
};

// submit_sm_resp (§4.4.2), deliver_sm_resp (§4.6.2), data_sm_resp (§4.7.2).
// A response with a non-zero command_status may have an empty body (§4.4.2).
struct MessageIdResp {
  std::string message_id;    // C-octet, max 65
  Tlvs tlvs;
  bool operator==(const MessageIdResp&) const = default;
};

// One destination of submit_multi (§4.5.1.1): an SME address (dest_flag 1)
// or a distribution list name (dest_flag 2, held in address.addr).
struct MultiDest {
  uint8_t dest_flag = 1;
  Address address;           // ton/npi unused for a list name
  bool operator==(const MultiDest&) const = default;
};

// submit_multi (§4.5.1)
struct SubmitMulti {
  std::string service_type;
  Address source;
  std::vector<MultiDest> dests;  // number_of_dests, max 254
  uint8_t esm_class = 0;
  uint8_t protocol_id = 0;
  uint8_t priority_flag = 0;
  std::string schedule_delivery_time;
  std::string validity_period;
  uint8_t registered_delivery = 0;
  uint8_t replace_if_present_flag = 0;
  uint8_t data_coding = 0;
  uint8_t sm_default_msg_id = 0;
  std::string short_message;
  Tlvs tlvs;
  bool operator==(const SubmitMulti&) const = default;
};

// One failed destination in submit_multi_resp (§4.5.2.1)
struct UnsuccessSme {
  Address address;
  uint32_t error_status = 0;
  bool operator==(const UnsuccessSme&) const = default;
};

// submit_multi_resp (§4.5.2)
struct SubmitMultiResp {
  std::string message_id;
  std::vector<UnsuccessSme> unsuccess;
  Tlvs tlvs;
  bool operator==(const SubmitMultiResp&) const = default;
};

// data_sm (§4.7.1)
struct DataSm {
  std::string service_type;
  Address source;            // max 65 for data_sm
  Address dest;              // max 65
  uint8_t esm_class = 0;
  uint8_t registered_delivery = 0;
  uint8_t data_coding = 0;
  Tlvs tlvs;
  bool operator==(const DataSm&) const = default;
};

// query_sm (§4.8.1)
struct QuerySm {
  std::string message_id;    // max 65
  Address source;
  Tlvs tlvs;                 // none in 3.4; kept if a peer sends some
  bool operator==(const QuerySm&) const = default;
};

// query_sm_resp (§4.8.2)
struct QuerySmResp {
  std::string message_id;
  std::string final_date;    // 1 or 17
  uint8_t message_state = 0;
  uint8_t error_code = 0;
  Tlvs tlvs;                 // none in 3.4; kept if a peer sends some
  bool operator==(const QuerySmResp&) const = default;
};

// cancel_sm (§4.9.1)
struct CancelSm {
  std::string service_type;
  std::string message_id;
  Address source;
  Address dest;
  Tlvs tlvs;                 // none in 3.4; kept if a peer sends some
  bool operator==(const CancelSm&) const = default;
};

// replace_sm (§4.10.1)
struct ReplaceSm {
  std::string message_id;
  Address source;
  std::string schedule_delivery_time;
  std::string validity_period;
  uint8_t registered_delivery = 0;
  uint8_t sm_default_msg_id = 0;
  std::string short_message;
  Tlvs tlvs;                 // none in 3.4; kept if a peer sends some
  bool operator==(const ReplaceSm&) const = default;
};

// alert_notification (§4.12.1)
struct AlertNotification {
  Address source;            // max 65
  Address esme;              // max 65
  Tlvs tlvs;                 // ms_availability_status
  bool operator==(const AlertNotification&) const = default;
};

// unbind, unbind_resp, enquire_link(_resp), generic_nack, cancel_sm_resp,
// replace_sm_resp: header only in 3.4. Every body alternative carries `tlvs`
// because carriers append TLVs where 3.4 lists none, and a proxy must forward
// them unchanged; the codec reads trailing bytes as TLVs for every command.
struct Empty {
  Tlvs tlvs;
  bool operator==(const Empty&) const = default;
};

using Body = std::variant<Empty, Bind, BindResp, Outbind, ShortMessage, MessageIdResp, SubmitMulti,
                          SubmitMultiResp, DataSm, QuerySm, QuerySmResp, CancelSm, ReplaceSm,
                          AlertNotification>;

struct Pdu {
  CommandId command_id = CommandId::generic_nack;
  uint32_t command_status = 0;
  uint32_t sequence_number = 0;
  Body body;

  template <class T> T& as() { return std::get<T>(body); }
  template <class T> const T& as() const { return std::get<T>(body); }
  bool operator==(const Pdu&) const = default;
};

// The body alternative that belongs to a command id.
Body empty_body_for(CommandId id);

}  // namespace smsgate::smpp
