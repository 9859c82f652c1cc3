// The message ids smsgate gives to accounts in submit_sm_resp and receipts.
//
//   <node>-<16 hex digits: microseconds since the Unix epoch><2 hex digits: worker>
//   gw1-00061f3a5c2b9e4101
//
// Unique across nodes (the node name), workers (the last two digits) and
// restarts (the clock; each worker issues max(now_us, last + 1), so ids stay
// strictly increasing within a worker even when a burst outruns the clock or
// the clock steps back a little). Sorted as text, ids of one node sort by
// time. At most 16 + 1 + 18 = 35 characters: well within SMPP's 65.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace smsgate::gateway {

class MessageIdIssuer {
 public:
  MessageIdIssuer(std::string node, unsigned worker) : prefix_(std::move(node) + "-"), worker_(worker & 0xFF) {}

  std::string next() {
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    return next(static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(now).count()));
  }

  // With the time given (tests).
  std::string next(uint64_t now_us) {
    last_us_ = now_us > last_us_ ? now_us : last_us_ + 1;
    static constexpr char kHex[] = "0123456789abcdef";
    std::string id = prefix_;
    id.resize(prefix_.size() + 18);
    char* p = id.data() + prefix_.size();
    for (int i = 15; i >= 0; --i) *p++ = kHex[(last_us_ >> (i * 4)) & 0xF];
    *p++ = kHex[worker_ >> 4];
    *p = kHex[worker_ & 0xF];
    return id;
  }

 private:
  std::string prefix_;
  unsigned worker_;
  uint64_t last_us_ = 0;
};

}  // namespace smsgate::gateway
