// Encoding and decoding of SMPP 3.4 PDUs, and the framer that cuts a byte
// stream into PDUs.
//
// Decoding never trusts a length: command_length, every C-octet string's
// maximum, sm_length and every TLV length are checked against the bytes that
// are really there. Each failure names the command_status a server answers
// with and says what was wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <variant>

#include "smpp/pdu.hpp"

namespace smsgate::smpp {

struct DecodeLimits {
  uint32_t max_command_length = 64 * 1024;
};

struct DecodeError {
  uint32_t status = 0;     // the SMPP command_status to answer with
  std::string message;     // for a human: what was wrong, and where
  // From the header when it could be read, so that a server can answer
  // generic_nack (or the matching *_resp) with the right sequence number.
  uint32_t command_id = 0;
  uint32_t sequence_number = 0;
};

// Either a Pdu or the reason there is none.
class DecodeResult {
 public:
  DecodeResult(Pdu pdu) : v_(std::move(pdu)) {}
  DecodeResult(DecodeError err) : v_(std::move(err)) {}
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  Pdu& pdu() { return std::get<0>(v_); }
  const Pdu& pdu() const { return std::get<0>(v_); }
  const DecodeError& error() const { return std::get<1>(v_); }

 private:
  std::variant<Pdu, DecodeError> v_;
};

// Decodes exactly one whole PDU: `frame` holds command_length bytes, header
// included.
DecodeResult decode(std::span<const uint8_t> frame, const DecodeLimits& limits = {});

// Appends the encoded PDU to `out` (command_length is computed), so that
// several PDUs can be coalesced into one buffer for one write.
void encode(const Pdu& pdu, std::string& out);
std::string encode(const Pdu& pdu);

// Cutting a stream into PDUs. Looks at the front of `buffered`:
//   need_more  - not a whole PDU yet (read more);
//   frame      - a whole PDU of `length` bytes is at the front;
//   fatal      - command_length is impossible (below 16 or above the limit):
//                framing is lost and the connection must close.
struct Frame {
  enum Kind { need_more, frame, fatal } kind = need_more;
  uint32_t length = 0;
  DecodeError error;  // set when kind == fatal
};
Frame next_frame(std::span<const uint8_t> buffered, const DecodeLimits& limits = {});

// A byte buffer that accumulates reads and hands out whole PDUs: several PDUs
// in one read, one PDU across many reads.
class Framer {
 public:
  explicit Framer(DecodeLimits limits = {}) : limits_(limits) {}

  void feed(std::span<const uint8_t> bytes);
  void feed(std::string_view bytes) {
    feed(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }
  // The next whole PDU's bytes, valid until the next feed() or next() call.
  // Returns fatal when framing is lost; need_more when no whole PDU is buffered.
  Frame next(std::span<const uint8_t>& frame_out);
  size_t buffered() const { return buf_.size() - pos_; }

 private:
  DecodeLimits limits_;
  std::string buf_;
  size_t pos_ = 0;
};

}  // namespace smsgate::smpp
