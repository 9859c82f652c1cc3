// FNV-1a 64-bit: the gateway's one non-cryptographic hash (placing the parts
// of a long message on one bind, spreading releases over the ramp, text
// hashes for the send history, ticket ids and their dedupe keys).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace smsgate::gateway {

inline constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;

// Continues `h` over `bytes`: fnv1a64(b, fnv1a64(a)) hashes a then b.
inline uint64_t fnv1a64(std::string_view bytes, uint64_t h = kFnvOffset) {
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

// 16 lower-case hex digits.
inline std::string hex64(uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = kHex[v & 0xF];
  return s;
}

}  // namespace smsgate::gateway
