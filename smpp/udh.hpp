// User Data Header (3GPP TS 23.040 §9.2.3.24): concatenation information
// elements, splitting a long text into parts and reassembling them.
#pragma once

#include <bitset>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
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
  // The last concatenation IE, 8- or 16-bit (3GPP TS 23.040 §9.2.3.24: of
  // repeated or mutually exclusive IEs the last one counts); nullopt when
  // there is none or it is malformed.
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

// Encodes a UDH, UDHL octet included. An IE whose data exceeds 255 octets,
// or that would take UDHL past 255, cannot be encoded and is left out.
std::string build_udh(const Udh& udh);
// A UDH holding only `c`; an 8-bit reference keeps the low byte of c.ref.
Udh concat_udh(const Concat& c);

// One part of a split message, ready for short_message with UDHI set.
struct Part {
  std::string short_message;  // UDH + body (septets unpacked for GSM, as SMPP carries it)
  uint8_t data_coding = 0;
};

// Splits UTF-8 text into parts with concatenation UDHs (one part, no UDH, if
// it fits). GSM: 153 septets per part, an escape pair never split; UCS-2: 67
// code units per part, a surrogate pair never split. With ref16 the UDH is
// one octet longer, so 152 septets / 66 units. Empty when the text needs more
// than 255 parts, which the concatenation IE cannot number.
std::vector<Part> split_text(std::string_view utf8, uint16_t ref, bool ref16 = false);

// Collects the parts of concatenated messages, given in any order, keyed by
// (originator, reference). A message is complete when all its parts are in;
// expire() hands back incomplete ones older than a timeout, as they stand.
//
// A part whose total differs from the pending message's with the same key and
// reference starts a separate message: references are only 8 bits and wrap,
// so this is most often a new message reusing the reference while the old
// one is still incomplete; the old one is not lost but expires as usual.
// The 8- and 16-bit reference spaces are not told apart.
//
// At most `max_pending` (at least 1) messages are held: a peer sending first
// parts that never complete would otherwise grow memory without bound. When a
// new message would exceed the cap, the one whose first part came earliest is
// dropped (counted by evicted(), not handed back).
class Reassembler {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kDefaultMaxPending = 100'000;

  explicit Reassembler(size_t max_pending = kDefaultMaxPending);

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
  // it (at once for total 1). A duplicate part replaces the earlier copy. A
  // malformed Concat (total 0, seq 0, seq > total) is ignored.
  std::optional<Message> add(std::string_view key, const Concat& c, std::string body, Clock::time_point now);
  // Incomplete messages whose first part came before `now - timeout`.
  std::vector<Message> expire(Clock::time_point now, Clock::duration timeout);
  size_t pending() const { return pending_.size(); }
  // Incomplete messages dropped so far to stay within max_pending.
  size_t evicted() const { return evicted_; }

 private:
  struct Pending {
    Message msg;
    Clock::time_point first_seen;
    uint8_t have = 0;
    std::bitset<256> seen;  // by seq-1: an empty body is still a part
  };
  void drop_oldest();

  size_t max_pending_;
  size_t evicted_ = 0;
  std::map<std::string, Pending> pending_;
  // (first_seen, pending_ key), oldest first: for expire() and the cap.
  std::set<std::pair<Clock::time_point, std::string>> by_age_;
};

}  // namespace smsgate::smpp
