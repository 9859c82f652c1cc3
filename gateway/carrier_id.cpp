#include "gateway/carrier_id.hpp"

#include <charconv>
#include <cstdint>

namespace smsgate::gateway {

std::string canonical_carrier_id(std::string_view id, config::IdFormat format) {
  if (format != config::IdFormat::string && !id.empty()) {
    const int base = format == config::IdFormat::hex ? 16 : 10;
    uint64_t value = 0;
    const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), value, base);
    if (ec == std::errc() && end == id.data() + id.size()) return std::to_string(value);
  }
  std::string out(id);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace smsgate::gateway
