// libFuzzer target for the YAML loader (config/config.hpp): any bytes as a
// configuration file. Invariants: no crash, no exception; a result has a
// configuration exactly when it has no error, and every diagnostic has a
// message.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace smsgate::config;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  LoadOptions options;
  options.base_dir = "/nonexistent-smsgate-fuzz";  // relative files never resolve to real ones
  const LoadResult r = load_config_string(text, "fuzz.yaml", options);
  if (r.ok() != (r.error_count() == 0)) __builtin_trap();
  for (const Diagnostic& d : r.diagnostics)
    if (d.message.empty()) __builtin_trap();
  return 0;
}
