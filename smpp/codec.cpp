// SMPP 3.4 PDU codec.
//
// Each body layout is written once, as a function template over an "IO" that
// is either the Reader (decode) or the Writer (encode): the same walk of the
// §4 field tables serves both directions, so they cannot drift apart.
//
// The Reader fails sticky: the first problem is kept, later reads do nothing,
// and decode() looks once at the end. Nothing throws.
//
// command_status of a decode failure (SMPP 3.4 §5.1.3):
//
//   what is wrong                                          command_status
//   -----------------------------------------------------  --------------------
//   frame shorter than the 16-octet header                 ESME_RINVCMDLEN
//   command_length < 16, > limit, or != octets in frame    ESME_RINVCMDLEN
//   body ends before a mandatory field or inside a         ESME_RINVCMDLEN
//     C-octet string (command_length is what lies)
//   command_id not in §5.1.2.1                             ESME_RINVCMDID
//   sm_length runs past the body (sm_length is what lies)  ESME_RINVMSGLEN
//   system_id > 16 (bind*, bind*_resp, outbind)            ESME_RINVSYSID
//   password > 9 (bind*, outbind)                          ESME_RINVPASWD
//   system_type > 13                                       ESME_RINVSYSTYP
//   address_range > 41 (no status of its own)              ESME_RINVPARLEN
//   service_type > 6                                       ESME_RINVSERTYP
//   source_addr > 21 (> 65 in data_sm, alert_notification) ESME_RINVSRCADR
//   destination_addr > 21 (> 65 in data_sm), esme_addr     ESME_RINVDSTADR
//     > 65 (alert_notification), an unsuccess_sme address
//   dl_name > 21 (submit_multi)                            ESME_RINVDLNAME
//   schedule_delivery_time not 0 or 16 characters          ESME_RINVSCHED
//   validity_period not 0 or 16 characters                 ESME_RINVEXPIRY
//   final_date not 0 or 16 characters (query_sm_resp)      ESME_RINVPARLEN
//   message_id > 65                                        ESME_RINVMSGID
//   number_of_dests > 254                                  ESME_RINVNUMDESTS
//   dest_flag neither 1 nor 2                              ESME_RINVDESTFLAG
//   fewer than 4 octets left for a TLV header              ESME_RINVOPTPARSTREAM
//   TLV length runs past the body                          ESME_RINVOPTPARSTREAM
//   known fixed-size TLV (§5.3.2) with another length      ESME_RINVPARLEN
//
// Lengths above count the NUL, as the §4 tables do. Octets after the
// mandatory fields are TLVs for every command: carriers send them where 3.4
// lists none, and a proxy forwards them.
#include "smpp/codec.hpp"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "smpp/status.hpp"

namespace smsgate::smpp {
namespace {

using namespace status;

uint16_t load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t load32(const uint8_t* p) {
  return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | uint32_t{p[3]};
}
const char* chars(const uint8_t* p) { return reinterpret_cast<const char*>(p); }

std::string hex(uint32_t v, int digits) {
  char buf[11];
  std::snprintf(buf, sizeof buf, "0x%0*X", digits, static_cast<unsigned>(v));
  return buf;
}

template <class... Parts>
std::string concat(const Parts&... parts) {
  std::string s;
  auto add = [&s](const auto& part) {
    if constexpr (std::is_arithmetic_v<std::decay_t<decltype(part)>>) {
      s += std::to_string(part);
    } else {
      s += part;
    }
  };
  (add(parts), ...);
  return s;
}

// A bounded field: a C-octet string (limit counts the NUL) or a count, with
// the status that answers a value over the limit.
struct Field {
  const char* name;
  uint32_t limit;
  uint32_t status;
};

constexpr Field kSystemId{"system_id", 16, ESME_RINVSYSID};
constexpr Field kPassword{"password", 9, ESME_RINVPASWD};
constexpr Field kSystemType{"system_type", 13, ESME_RINVSYSTYP};
constexpr Field kAddressRange{"address_range", 41, ESME_RINVPARLEN};
constexpr Field kServiceType{"service_type", 6, ESME_RINVSERTYP};
constexpr Field kSourceAddr{"source_addr", 21, ESME_RINVSRCADR};
constexpr Field kDestAddr{"destination_addr", 21, ESME_RINVDSTADR};
constexpr Field kLongSourceAddr{"source_addr", 65, ESME_RINVSRCADR};       // §4.7.1, §4.12.1
constexpr Field kLongDestAddr{"destination_addr", 65, ESME_RINVDSTADR};    // §4.7.1
constexpr Field kEsmeAddr{"esme_addr", 65, ESME_RINVDSTADR};               // §4.12.1
constexpr Field kDlName{"dl_name", 21, ESME_RINVDLNAME};
constexpr Field kScheduleDeliveryTime{"schedule_delivery_time", 17, ESME_RINVSCHED};
constexpr Field kValidityPeriod{"validity_period", 17, ESME_RINVEXPIRY};
constexpr Field kFinalDate{"final_date", 17, ESME_RINVPARLEN};
constexpr Field kMessageId{"message_id", 65, ESME_RINVMSGID};
constexpr Field kNumberOfDests{"number_of_dests", 254, ESME_RINVNUMDESTS};  // §4.5.1
constexpr Field kNoUnsuccess{"no_unsuccess", 255, ESME_ROK};  // any octet value is allowed (§4.5.2)

// TLVs whose value has one fixed size (§5.3.2), sorted by tag. Variable-size
// ones (message_payload, receipted_message_id, subaddresses…) are not here.
struct FixedTlv {
  uint16_t tag;
  uint16_t length;
  const char* name;
};
constexpr std::array kFixedTlvs{
    FixedTlv{0x0005, 1, "dest_addr_subunit"},       FixedTlv{0x0006, 1, "dest_network_type"},
    FixedTlv{0x0007, 1, "dest_bearer_type"},        FixedTlv{0x000D, 1, "source_addr_subunit"},
    FixedTlv{0x000E, 1, "source_network_type"},     FixedTlv{0x000F, 1, "source_bearer_type"},
    FixedTlv{0x0017, 4, "qos_time_to_live"},        FixedTlv{0x0019, 1, "payload_type"},
    FixedTlv{0x0030, 1, "ms_msg_wait_facilities"},  FixedTlv{0x0201, 1, "privacy_indicator"},
    FixedTlv{0x0204, 2, "user_message_reference"},  FixedTlv{0x0205, 1, "user_response_code"},
    FixedTlv{0x020A, 2, "source_port"},             FixedTlv{0x020B, 2, "destination_port"},
    FixedTlv{0x020C, 2, "sar_msg_ref_num"},         FixedTlv{0x020D, 1, "language_indicator"},
    FixedTlv{0x020E, 1, "sar_total_segments"},      FixedTlv{0x020F, 1, "sar_segment_seqnum"},
    FixedTlv{0x0210, 1, "sc_interface_version"},    FixedTlv{0x0302, 1, "callback_num_pres_ind"},
    FixedTlv{0x0304, 1, "number_of_messages"},      FixedTlv{0x0420, 1, "dpf_result"},
    FixedTlv{0x0421, 1, "set_dpf"},                 FixedTlv{0x0422, 1, "ms_availability_status"},
    FixedTlv{0x0423, 3, "network_error_code"},      FixedTlv{0x0425, 1, "delivery_failure_reason"},
    FixedTlv{0x0426, 1, "more_messages_to_send"},   FixedTlv{0x0427, 1, "message_state"},
    FixedTlv{0x0501, 1, "ussd_service_op"},         FixedTlv{0x1201, 1, "display_time"},
    FixedTlv{0x1203, 2, "sms_signal"},              FixedTlv{0x1204, 1, "ms_validity"},
    FixedTlv{0x130C, 0, "alert_on_message_delivery"}, FixedTlv{0x1380, 1, "its_reply_type"},
    FixedTlv{0x1383, 2, "its_session_info"},
};
static_assert(std::is_sorted(kFixedTlvs.begin(), kFixedTlvs.end(),
                             [](const FixedTlv& a, const FixedTlv& b) { return a.tag < b.tag; }));

const FixedTlv* fixed_tlv(uint16_t tag) {
  auto it = std::lower_bound(kFixedTlvs.begin(), kFixedTlvs.end(), tag,
                             [](const FixedTlv& t, uint16_t wanted) { return t.tag < wanted; });
  return it != kFixedTlvs.end() && it->tag == tag ? &*it : nullptr;
}

class Reader {
 public:
  static constexpr bool encodes = false;

  Reader(std::span<const uint8_t> body, std::string_view command)
      : p_(body.data()), end_(body.data() + body.size()), command_(command) {}

  bool ok() const { return status_ == ESME_ROK; }
  DecodeError error(uint32_t command_id, uint32_t sequence_number) && {
    return DecodeError{status_, std::move(message_), command_id, sequence_number};
  }

  void u8(uint8_t& v, const char* name) {
    if (need(1, name)) v = *p_++;
  }
  void u32(uint32_t& v, const char* name) {
    if (need(4, name)) v = load32(std::exchange(p_, p_ + 4));
  }

  void cstring(std::string& s, const Field& f) {
    if (!need(1, f.name)) return;
    const auto* nul = static_cast<const uint8_t*>(std::memchr(p_, 0, std::min<size_t>(left(), f.limit)));
    if (nul == nullptr) {
      if (left() >= f.limit) return fail(f.status, f.name, " longer than ", f.limit, " octets");
      return fail(ESME_RINVCMDLEN, "body ends inside ", f.name, " (no NUL terminator)");
    }
    s.assign(chars(p_), static_cast<size_t>(nul - p_));
    p_ = nul + 1;
  }

  // §7.1: a time is 16 characters, or empty for "not set".
  void time(std::string& s, const Field& f) {
    cstring(s, f);
    if (ok() && !s.empty() && s.size() != 16) fail(f.status, f.name, " is neither empty nor 16 characters");
  }

  void address(Address& a, const Field& f) {
    u8(a.ton, f.name);
    u8(a.npi, f.name);
    cstring(a.addr, f);
  }

  void short_message(std::string& s) {
    uint8_t length = 0;
    u8(length, "sm_length");
    if (!ok()) return;
    if (length > left()) return fail(ESME_RINVMSGLEN, "sm_length ", length, " runs past the body (", left(), " octets left)");
    s.assign(chars(p_), length);
    p_ += length;
  }

  // A count octet followed by that many entries (§4.5.1 number_of_dests, §4.5.2 no_unsuccess).
  template <class T, class Entry>
  void list(std::vector<T>& items, const Field& count, Entry entry) {
    uint8_t n = 0;
    u8(n, count.name);
    if (ok() && n > count.limit) fail(count.status, count.name, " ", n, " is above ", count.limit);
    if (!ok()) return;
    items.resize(n);
    for (T& item : items) {
      entry(*this, item);
      if (!ok()) return;
    }
  }

  void expect(bool good, uint32_t status, const char* what) {
    if (ok() && !good) fail(status, what);
  }

  // §3.2.1.5 / §5.3.1: tag, length, value until the body ends.
  void tlvs(Tlvs& out) {
    while (ok() && p_ != end_) {
      if (left() < 4) return fail(ESME_RINVOPTPARSTREAM, "TLV header cut short, ", left(), " octets left");
      const uint16_t tag = load16(p_);
      const uint16_t length = load16(p_ + 2);
      p_ += 4;
      if (length > left()) {
        return fail(ESME_RINVOPTPARSTREAM, "TLV ", hex(tag, 4), " length ", length, " runs past the body (",
                    left(), " octets left)");
      }
      if (const FixedTlv* fixed = fixed_tlv(tag); fixed != nullptr && fixed->length != length) {
        return fail(ESME_RINVPARLEN, "TLV ", fixed->name, " (", hex(tag, 4), ") length ", length, ", must be ",
                    fixed->length);
      }
      out.items.push_back(Tlv{tag, std::string(chars(p_), length)});
      p_ += length;
    }
  }

 private:
  size_t left() const { return static_cast<size_t>(end_ - p_); }

  bool need(size_t n, const char* name) {
    if (!ok()) return false;
    if (left() >= n) return true;
    fail(ESME_RINVCMDLEN, "body ends before ", name);
    return false;
  }

  template <class... Parts>
  void fail(uint32_t status, const Parts&... parts) {
    status_ = status;
    message_ = concat(command_, ": ", parts...);
  }

  const uint8_t* p_;
  const uint8_t* end_;
  std::string_view command_;
  uint32_t status_ = ESME_ROK;
  std::string message_;
};

// Appends big-endian fields to `out`. Counts and lengths that do not fit
// their octets are clamped together with what they count, so that the frame
// stays self-consistent; field maxima are the caller's contract.
class Writer {
 public:
  static constexpr bool encodes = true;

  explicit Writer(std::string& out) : out_(out), start_(out.size()) {}

  void u8(uint8_t v, const char* = nullptr) { out_.push_back(static_cast<char>(v)); }
  void u16(uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    out_.append(b, 2);
  }
  void u32(uint32_t v, const char* = nullptr) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
    out_.append(b, 4);
  }
  // Cut at an embedded NUL: a peer would read what follows as the next field.
  void cstring(std::string_view s, const Field&) {
    out_.append(s.substr(0, s.find('\0')));
    u8(0);
  }
  void time(std::string_view s, const Field& f) { cstring(s, f); }
  void address(const Address& a, const Field& f) {
    u8(a.ton);
    u8(a.npi);
    cstring(a.addr, f);
  }
  void short_message(std::string_view s) {
    s = s.substr(0, 255);
    u8(static_cast<uint8_t>(s.size()));
    out_.append(s);
  }
  template <class T, class Entry>
  void list(const std::vector<T>& items, const Field& count, Entry entry) {
    const size_t n = std::min<size_t>(items.size(), count.limit);
    u8(static_cast<uint8_t>(n));
    for (size_t i = 0; i < n; ++i) entry(*this, items[i]);
  }
  void expect(bool, uint32_t, const char*) {}
  void tlvs(const Tlvs& tlvs) {
    for (const Tlv& tlv : tlvs.items) {
      const std::string_view value = std::string_view(tlv.value).substr(0, 0xFFFF);
      u16(tlv.tag);
      u16(static_cast<uint16_t>(value.size()));
      out_.append(value);
    }
  }

  // command_length (§3.2) is known once the body is written.
  void finish_command_length() {
    const auto length = static_cast<uint32_t>(out_.size() - start_);
    for (int i = 0; i < 4; ++i) out_[start_ + i] = static_cast<char>(length >> (24 - 8 * i));
  }

 private:
  std::string& out_;
  size_t start_;
};

// A body reference: mutable when decoding into it, const when encoding it.
template <class IO, class T>
using Ref = std::conditional_t<IO::encodes, const T&, T&>;

// unbind, unbind_resp, enquire_link(_resp), generic_nack, cancel_sm_resp,
// replace_sm_resp (§4.2, §4.3, §4.9.2, §4.10.2, §4.11): header only.
template <class IO>
void fields(IO&, Ref<IO, Empty>) {}

// §4.1.1, §4.1.3, §4.1.5
template <class IO>
void fields(IO& io, Ref<IO, Bind> b) {
  io.cstring(b.system_id, kSystemId);
  io.cstring(b.password, kPassword);
  io.cstring(b.system_type, kSystemType);
  io.u8(b.interface_version, "interface_version");
  io.u8(b.addr_ton, "addr_ton");
  io.u8(b.addr_npi, "addr_npi");
  io.cstring(b.address_range, kAddressRange);
}

// §4.1.2, §4.1.4, §4.1.6
template <class IO>
void fields(IO& io, Ref<IO, BindResp> b) {
  io.cstring(b.system_id, kSystemId);
}

// §4.1.7
template <class IO>
void fields(IO& io, Ref<IO, Outbind> b) {
  io.cstring(b.system_id, kSystemId);
  io.cstring(b.password, kPassword);
}

// esm_class … short_message: the same in submit_sm (§4.4.1), deliver_sm
// (§4.6.1) and submit_multi (§4.5.1).
template <class IO, class Message>
void message_tail(IO& io, Message& m) {
  io.u8(m.esm_class, "esm_class");
  io.u8(m.protocol_id, "protocol_id");
  io.u8(m.priority_flag, "priority_flag");
  io.time(m.schedule_delivery_time, kScheduleDeliveryTime);
  io.time(m.validity_period, kValidityPeriod);
  io.u8(m.registered_delivery, "registered_delivery");
  io.u8(m.replace_if_present_flag, "replace_if_present_flag");
  io.u8(m.data_coding, "data_coding");
  io.u8(m.sm_default_msg_id, "sm_default_msg_id");
  io.short_message(m.short_message);
}

// §4.4.1, §4.6.1
template <class IO>
void fields(IO& io, Ref<IO, ShortMessage> m) {
  io.cstring(m.service_type, kServiceType);
  io.address(m.source, kSourceAddr);
  io.address(m.dest, kDestAddr);
  message_tail(io, m);
}

// §4.5.1, dest_address per §4.5.1.1
template <class IO>
void fields(IO& io, Ref<IO, SubmitMulti> m) {
  io.cstring(m.service_type, kServiceType);
  io.address(m.source, kSourceAddr);
  io.list(m.dests, kNumberOfDests, [](IO& io, Ref<IO, MultiDest> d) {
    io.u8(d.dest_flag, "dest_flag");
    if (d.dest_flag == 2) return io.cstring(d.address.addr, kDlName);
    io.expect(d.dest_flag == 1, ESME_RINVDESTFLAG, "dest_flag is neither 1 (SME address) nor 2 (distribution list)");
    io.address(d.address, kDestAddr);
  });
  message_tail(io, m);
}

// §4.4.2, §4.6.2, §4.7.2
template <class IO>
void fields(IO& io, Ref<IO, MessageIdResp> r) {
  io.cstring(r.message_id, kMessageId);
}

// §4.5.2, unsuccess_sme per §4.5.2.1
template <class IO>
void fields(IO& io, Ref<IO, SubmitMultiResp> r) {
  io.cstring(r.message_id, kMessageId);
  io.list(r.unsuccess, kNoUnsuccess, [](IO& io, Ref<IO, UnsuccessSme> u) {
    io.address(u.address, kDestAddr);
    io.u32(u.error_status, "error_status_code");
  });
}

// §4.7.1
template <class IO>
void fields(IO& io, Ref<IO, DataSm> m) {
  io.cstring(m.service_type, kServiceType);
  io.address(m.source, kLongSourceAddr);
  io.address(m.dest, kLongDestAddr);
  io.u8(m.esm_class, "esm_class");
  io.u8(m.registered_delivery, "registered_delivery");
  io.u8(m.data_coding, "data_coding");
}

// §4.8.1
template <class IO>
void fields(IO& io, Ref<IO, QuerySm> q) {
  io.cstring(q.message_id, kMessageId);
  io.address(q.source, kSourceAddr);
}

// §4.8.2
template <class IO>
void fields(IO& io, Ref<IO, QuerySmResp> r) {
  io.cstring(r.message_id, kMessageId);
  io.time(r.final_date, kFinalDate);
  io.u8(r.message_state, "message_state");
  io.u8(r.error_code, "error_code");
}

// §4.9.1
template <class IO>
void fields(IO& io, Ref<IO, CancelSm> c) {
  io.cstring(c.service_type, kServiceType);
  io.cstring(c.message_id, kMessageId);
  io.address(c.source, kSourceAddr);
  io.address(c.dest, kDestAddr);
}

// §4.10.1
template <class IO>
void fields(IO& io, Ref<IO, ReplaceSm> r) {
  io.cstring(r.message_id, kMessageId);
  io.address(r.source, kSourceAddr);
  io.time(r.schedule_delivery_time, kScheduleDeliveryTime);
  io.time(r.validity_period, kValidityPeriod);
  io.u8(r.registered_delivery, "registered_delivery");
  io.u8(r.sm_default_msg_id, "sm_default_msg_id");
  io.short_message(r.short_message);
}

// §4.12.1
template <class IO>
void fields(IO& io, Ref<IO, AlertNotification> a) {
  io.address(a.source, kLongSourceAddr);
  io.address(a.esme, kEsmeAddr);
}

// The mandatory fields, then whatever TLVs follow.
template <class IO, class B>
void walk(IO& io, B& body) {
  std::visit(
      [&io](auto& b) {
        fields<IO>(io, b);
        io.tlvs(b.tlvs);
      },
      body);
}

std::optional<DecodeError> command_length_error(uint32_t length, const DecodeLimits& limits) {
  if (length < kHeaderSize) {
    return DecodeError{ESME_RINVCMDLEN, concat("command_length ", length, " is shorter than the 16-octet header")};
  }
  if (length > limits.max_command_length) {
    return DecodeError{ESME_RINVCMDLEN,
                       concat("command_length ", length, " is above the limit of ", limits.max_command_length)};
  }
  return std::nullopt;
}

// §4.4.2 (and so every *_resp): on a non-zero command_status the body is not
// returned, unless it has something to say (a message_id, TLVs).
bool omits_body(const Pdu& pdu) {
  return is_response(static_cast<uint32_t>(pdu.command_id)) && pdu.command_status != ESME_ROK &&
         pdu.body == empty_body_for(pdu.command_id);
}

}  // namespace

DecodeResult decode(std::span<const uint8_t> frame, const DecodeLimits& limits) {
  if (frame.size() < kHeaderSize) {
    return DecodeError{ESME_RINVCMDLEN,
                       concat("frame of ", frame.size(), " octets is shorter than the 16-octet header")};
  }
  const uint32_t length = load32(frame.data());
  const uint32_t id = load32(frame.data() + 4);
  const uint32_t command_status = load32(frame.data() + 8);
  const uint32_t sequence_number = load32(frame.data() + 12);
  auto failure = [&](DecodeError e) {
    e.command_id = id;
    e.sequence_number = sequence_number;
    return e;
  };

  if (auto e = command_length_error(length, limits)) return failure(std::move(*e));
  if (length != frame.size()) {
    return failure({ESME_RINVCMDLEN, concat("command_length ", length, " but the frame holds ", frame.size(), " octets")});
  }
  if (!is_known_command(id)) {
    return failure({ESME_RINVCMDID, concat("command_id ", hex(id, 8), " is not an SMPP 3.4 command")});
  }

  const auto command_id = static_cast<CommandId>(id);
  Pdu pdu{command_id, command_status, sequence_number, empty_body_for(command_id)};
  // §4.4.2: an error response may come without its body.
  if (length == kHeaderSize && is_response(id) && command_status != ESME_ROK) return pdu;

  Reader reader(frame.subspan(kHeaderSize), command_name(command_id));
  walk(reader, pdu.body);
  if (!reader.ok()) return std::move(reader).error(id, sequence_number);
  return pdu;
}

void encode(const Pdu& pdu, std::string& out) {
  Writer writer(out);
  writer.u32(0);  // command_length, known at the end
  writer.u32(static_cast<uint32_t>(pdu.command_id));
  writer.u32(pdu.command_status);
  writer.u32(pdu.sequence_number);
  if (!omits_body(pdu)) walk(writer, pdu.body);
  writer.finish_command_length();
}

std::string encode(const Pdu& pdu) {
  std::string out;
  encode(pdu, out);
  return out;
}

Frame next_frame(std::span<const uint8_t> buffered, const DecodeLimits& limits) {
  if (buffered.size() < 4) return Frame{};
  const uint32_t length = load32(buffered.data());
  if (auto e = command_length_error(length, limits)) {
    // The length cannot be trusted, but a server still wants the sequence
    // number for its generic_nack if the rest of the header is there.
    if (buffered.size() >= kHeaderSize) {
      e->command_id = load32(buffered.data() + 4);
      e->sequence_number = load32(buffered.data() + 12);
    }
    return Frame{Frame::fatal, 0, std::move(*e)};
  }
  if (buffered.size() < length) return Frame{};
  return Frame{Frame::frame, length, {}};
}

void Framer::feed(std::span<const uint8_t> bytes) {
  // Consumed bytes are dropped only once they are at least as many as the
  // unread ones, so each byte is moved at most once on average: O(n) overall.
  if (pos_ == buf_.size()) {
    buf_.clear();
    pos_ = 0;
  } else if (pos_ >= buf_.size() - pos_) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  buf_.append(chars(bytes.data()), bytes.size());
}

Frame Framer::next(std::span<const uint8_t>& frame_out) {
  const std::span<const uint8_t> unread(reinterpret_cast<const uint8_t*>(buf_.data()) + pos_, buf_.size() - pos_);
  Frame frame = next_frame(unread, limits_);
  if (frame.kind == Frame::frame) {
    frame_out = unread.first(frame.length);
    pos_ += frame.length;
  }
  return frame;
}

}  // namespace smsgate::smpp
