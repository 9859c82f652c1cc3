// The gateway's log: spdlog, one line per event. Text for a terminal, or JSON
// lines (`--log-format json`, `log.format: json`):
//
//   2024-05-01 12:00:00.123 info bind account=acme peer=10.0.0.5:41000 type=transceiver
//   {"ts":"2024-05-01T12:00:00.123+0000","level":"info","event":"bind","account":"acme",...}
//
// Events, not messages: bind, unbind, bind_failed, carrier_bound,
// carrier_down, reload, ... (docs/gateway.md lists them). Nothing is logged
// per message at info level; phone numbers are masked (policy::mask_number).
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include <spdlog/spdlog.h>

#include "config/config.hpp"

namespace smsgate::gateway {

using LogField = std::pair<std::string_view, std::string_view>;

void setup_logging(config::LogFormat format, config::LogLevel level);
void set_log_level(config::LogLevel level);

// One event with its fields, in the configured format.
void log_event(spdlog::level::level_enum level, std::string_view event, std::initializer_list<LogField> fields = {});

// What a coroutine's failure says: the exception's what(), or "unknown".
std::string exception_text(std::exception_ptr e);

// At most `per_second` lines per second for events that could come once per
// message (a bad destination, an unknown receipt id): the rest are counted
// and reported as `suppressed` on the next line let through. One per thread.
class LogBudget {
 public:
  explicit LogBudget(uint32_t per_second = 10) : per_second_(per_second) {}
  // True when a line may be written now; `suppressed` is then the number
  // refused since the last one.
  bool allow(uint64_t& suppressed);

 private:
  uint32_t per_second_;
  uint32_t used_ = 0;
  uint64_t refused_ = 0;
  std::chrono::steady_clock::time_point window_{};
};

}  // namespace smsgate::gateway
