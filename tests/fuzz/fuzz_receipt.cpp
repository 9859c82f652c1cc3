// libFuzzer target for the delivery receipt parser. Invariants: no crash;
// the id span lies inside the text; rewriting the id to itself is identity.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "smpp/receipt.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = smsgate::smpp::parse_receipt(text);
  if (!r) return 0;
  if (r->id_pos + r->id_len > text.size()) __builtin_trap();
  auto same = smsgate::smpp::rewrite_receipt_id(text, r->id);
  if (!same || *same != text) __builtin_trap();
  return 0;
}
