// User Data Header (3GPP TS 23.040 §9.2.3.24): concatenation information
// elements, splitting a long text into parts and reassembling them.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smpp/text.hpp"

namespace smsgate::smpp {

// esm_class bit 6 (0x40): short_message starts with a UDH (SMPP 3.4 §5.2.12).
inline constexpr uint8_t kEsmUdhi = 0x40;

struct UdhIe {
  uint8_t iei = 0;
  std::string data;
  bool operator==(const UdhIe&) const = default;
};

struct Concat {
  uint16_t ref = 0;       // 8-bit (IEI 0x00) or 16-bit (IEI 0x08) reference
  uint8_t total = 0;
  uint8_t seq = 0;        // 1-based
  bool ref16 = false;
  bool operator==(const Concat&) const = default;
};

// A parsed UDH. IEs other than concatenation are kept untouched and in order.
struct Udh {
  std::vector<UdhIe> ies;
  std::optional<Concat> concat() const;
  bool operator==(const Udh&) const = default;
};

// Splits a short_message with UDHI set into its header and the rest.
// nullopt when the UDH length or an IE length runs past the data, or a
// concatenation IE is malformed (total 0, seq 0 or seq > total).
struct UdhSplit {
  Udh udh;
  std::string_view payload;  // the bytes after the header
  size_t header_length = 0;  // including the UDHL octet
};
std::optional<UdhSplit> parse_udh(std::string_view short_message);

// Encodes a UDH, UDHL octet included.
std::string build_udh(const Udh& udh);
Udh concat_udh(const Concat& c);

// One part of a split message, ready for short_message with UDHI set.
struct Part {
  std::string short_message;  // UDH + body (septets unpacked for GSM, as SMPP carries it)
  uint8_t data_coding = 0;
};

// Splits UTF-8 text into parts with concatenation UDHs (one part, no UDH, if
// it fits). GSM: 153 septets per part, an escape pair never split; UCS-2: 67
// code units per part, a surrogate pair never split.
std::vector<Part> split_text(std::string_view utf8, uint16_t ref, bool ref16 = false);

// Collects the parts of concatenated messages, given in any order, keyed by
// (originator, reference). A message is complete when all its parts are in;
// expire() hands back incomplete ones older than a timeout, as they stand.
class Reassembler {
 public:
  using Clock = std::chrono::steady_clock;

  struct Message {
    std::string key;                 // the originator key given to add()
    uint16_t ref = 0;
    uint8_t total = 0;
    std::vector<std::string> parts;  // bodies by seq-1; empty where missing
    bool complete = false;
    // Bodies concatenated in order (missing parts skipped).
    std::string joined() const;
  };

  // Adds one part's body. Returns the whole message when this part completes
  // it. A duplicate part replaces the earlier copy.
  std::optional<Message> add(std::string_view key, const Concat& c, std::string body, Clock::time_point now);
  // Incomplete messages whose first part came before `now - timeout`.
  std::vector<Message> expire(Clock::time_point now, Clock::duration timeout);
  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    Message msg;
    Clock::time_point first_seen;
    uint8_t have = 0;
  };
  std::map<std::string, Pending> pending_;
};

}  // namespace smsgate::smpp
