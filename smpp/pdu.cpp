#include "smpp/pdu.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace smsgate::smpp {
namespace {

// SMPP 3.4 §5.1.2.1, one row a command: its name and its body alternative.
struct Command {
  CommandId id;
  std::string_view name;
  Body (*empty_body)();
};

template <class B>
Body make() {
  return B{};
}

constexpr std::array kCommands{
    Command{CommandId::generic_nack,          "generic_nack",          make<Empty>},
    Command{CommandId::bind_receiver,         "bind_receiver",         make<Bind>},
    Command{CommandId::bind_receiver_resp,    "bind_receiver_resp",    make<BindResp>},
    Command{CommandId::bind_transmitter,      "bind_transmitter",      make<Bind>},
    Command{CommandId::bind_transmitter_resp, "bind_transmitter_resp", make<BindResp>},
    Command{CommandId::query_sm,              "query_sm",              make<QuerySm>},
    Command{CommandId::query_sm_resp,         "query_sm_resp",         make<QuerySmResp>},
    Command{CommandId::submit_sm,             "submit_sm",             make<ShortMessage>},
    Command{CommandId::submit_sm_resp,        "submit_sm_resp",        make<MessageIdResp>},
    Command{CommandId::deliver_sm,            "deliver_sm",            make<ShortMessage>},
    Command{CommandId::deliver_sm_resp,       "deliver_sm_resp",       make<MessageIdResp>},
    Command{CommandId::unbind,                "unbind",                make<Empty>},
    Command{CommandId::unbind_resp,           "unbind_resp",           make<Empty>},
    Command{CommandId::replace_sm,            "replace_sm",            make<ReplaceSm>},
    Command{CommandId::replace_sm_resp,       "replace_sm_resp",       make<Empty>},
    Command{CommandId::cancel_sm,             "cancel_sm",             make<CancelSm>},
    Command{CommandId::cancel_sm_resp,        "cancel_sm_resp",        make<Empty>},
    Command{CommandId::bind_transceiver,      "bind_transceiver",      make<Bind>},
    Command{CommandId::bind_transceiver_resp, "bind_transceiver_resp", make<BindResp>},
    Command{CommandId::outbind,               "outbind",               make<Outbind>},
    Command{CommandId::enquire_link,          "enquire_link",          make<Empty>},
    Command{CommandId::enquire_link_resp,     "enquire_link_resp",     make<Empty>},
    Command{CommandId::submit_multi,          "submit_multi",          make<SubmitMulti>},
    Command{CommandId::submit_multi_resp,     "submit_multi_resp",     make<SubmitMultiResp>},
    Command{CommandId::alert_notification,    "alert_notification",    make<AlertNotification>},
    Command{CommandId::data_sm,               "data_sm",               make<DataSm>},
    Command{CommandId::data_sm_resp,          "data_sm_resp",          make<MessageIdResp>},
};

const Command* find_command(uint32_t command_id) {
  for (const Command& c : kCommands) {
    if (static_cast<uint32_t>(c.id) == command_id) return &c;
  }
  return nullptr;
}

// TLV integers are big-endian and exactly as wide as the tag defines
// (§3.2.1.5); a value of another width is not that integer.
template <class T>
std::optional<T> integer(const Tlvs& tlvs, uint16_t t) {
  const Tlv* tlv = tlvs.find(t);
  if (tlv == nullptr || tlv->value.size() != sizeof(T)) return std::nullopt;
  T v = 0;
  for (char c : tlv->value) v = static_cast<T>((v << 8) | static_cast<uint8_t>(c));
  return v;
}

template <class T>
std::string big_endian(T v) {
  std::string bytes(sizeof(T), '\0');
  for (size_t i = sizeof(T); i-- > 0; v = static_cast<T>(v >> 8)) bytes[i] = static_cast<char>(v & 0xFF);
  return bytes;
}

}  // namespace

bool is_known_command(uint32_t command_id) { return find_command(command_id) != nullptr; }

std::string_view command_name(CommandId id) {
  const Command* c = find_command(static_cast<uint32_t>(id));
  return c != nullptr ? c->name : "unknown";
}

const Tlv* Tlvs::find(uint16_t t) const {
  auto it = std::find_if(items.begin(), items.end(), [t](const Tlv& tlv) { return tlv.tag == t; });
  return it != items.end() ? &*it : nullptr;
}

void Tlvs::set(uint16_t t, std::string value) {
  for (Tlv& tlv : items) {
    if (tlv.tag == t) {
      tlv.value = std::move(value);
      return;
    }
  }
  items.push_back(Tlv{t, std::move(value)});
}

bool Tlvs::remove(uint16_t t) {
  return std::erase_if(items, [t](const Tlv& tlv) { return tlv.tag == t; }) != 0;
}

std::optional<std::string> Tlvs::message_payload() const {
  const Tlv* tlv = find(tag::message_payload);
  return tlv != nullptr ? std::optional<std::string>(tlv->value) : std::nullopt;
}

// receipted_message_id is a C-octet string (§5.3.2.12); SMSCs differ on
// whether they include the NUL, so read up to the first one.
std::optional<std::string> Tlvs::receipted_message_id() const {
  const Tlv* tlv = find(tag::receipted_message_id);
  if (tlv == nullptr) return std::nullopt;
  return tlv->value.substr(0, tlv->value.find('\0'));
}

std::optional<uint8_t> Tlvs::message_state() const { return integer<uint8_t>(*this, tag::message_state); }
std::optional<uint16_t> Tlvs::sar_msg_ref_num() const { return integer<uint16_t>(*this, tag::sar_msg_ref_num); }
std::optional<uint8_t> Tlvs::sar_total_segments() const { return integer<uint8_t>(*this, tag::sar_total_segments); }
std::optional<uint8_t> Tlvs::sar_segment_seqnum() const { return integer<uint8_t>(*this, tag::sar_segment_seqnum); }
std::optional<uint16_t> Tlvs::user_message_reference() const {
  return integer<uint16_t>(*this, tag::user_message_reference);
}
std::optional<uint16_t> Tlvs::source_port() const { return integer<uint16_t>(*this, tag::source_port); }
std::optional<uint16_t> Tlvs::destination_port() const { return integer<uint16_t>(*this, tag::destination_port); }

void Tlvs::set_message_payload(std::string_view bytes) { set(tag::message_payload, std::string(bytes)); }

void Tlvs::set_receipted_message_id(std::string_view id) {
  std::string value(id);
  value.push_back('\0');
  set(tag::receipted_message_id, std::move(value));
}

void Tlvs::set_message_state(uint8_t state) { set(tag::message_state, big_endian(state)); }

void Tlvs::set_sar(uint16_t ref, uint8_t total, uint8_t seqnum) {
  set(tag::sar_msg_ref_num, big_endian(ref));
  set(tag::sar_total_segments, big_endian(total));
  set(tag::sar_segment_seqnum, big_endian(seqnum));
}

void Tlvs::set_user_message_reference(uint16_t ref) { set(tag::user_message_reference, big_endian(ref)); }
void Tlvs::set_source_port(uint16_t port) { set(tag::source_port, big_endian(port)); }
void Tlvs::set_destination_port(uint16_t port) { set(tag::destination_port, big_endian(port)); }

Body empty_body_for(CommandId id) {
  const Command* c = find_command(static_cast<uint32_t>(id));
  return c != nullptr ? c->empty_body() : Body{Empty{}};
}

}  // namespace smsgate::smpp
