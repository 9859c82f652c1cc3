#include "gateway/log.hpp"

#include <unistd.h>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace smsgate::gateway {
namespace {

config::LogFormat g_format = config::LogFormat::text;

spdlog::level::level_enum to_spdlog(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::trace: return spdlog::level::trace;
    case config::LogLevel::debug: return spdlog::level::debug;
    case config::LogLevel::info: return spdlog::level::info;
    case config::LogLevel::warn: return spdlog::level::warn;
    case config::LogLevel::error: return spdlog::level::err;
  }
  return spdlog::level::info;
}

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xF];
          out += kHex[c & 0xF];
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

bool needs_quotes(std::string_view v) {
  if (v.empty()) return true;
  for (const char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) return true;
  }
  return false;
}

}  // namespace

void setup_logging(config::LogFormat format, config::LogLevel level) {
  g_format = format;
  std::shared_ptr<spdlog::logger> logger;
  if (format == config::LogFormat::json) {
    logger = spdlog::stderr_logger_mt("smsgate-json");
    logger->set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l",%v})");
  } else {
    logger = isatty(STDERR_FILENO) ? spdlog::stderr_color_mt("smsgate") : spdlog::stderr_logger_mt("smsgate");
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  }
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  set_log_level(level);
}

void set_log_level(config::LogLevel level) { spdlog::set_level(to_spdlog(level)); }

void log_event(spdlog::level::level_enum level, std::string_view event, std::initializer_list<LogField> fields) {
  if (!spdlog::should_log(level)) return;
  std::string line;
  if (g_format == config::LogFormat::json) {
    line = "\"event\":";
    append_json_string(line, event);
    for (const auto& [key, value] : fields) {
      line += ',';
      append_json_string(line, key);
      line += ':';
      append_json_string(line, value);
    }
  } else {
    line = event;
    for (const auto& [key, value] : fields) {
      line.append(" ").append(key).append("=");
      if (needs_quotes(value)) {
        append_json_string(line, value);
      } else {
        line.append(value);
      }
    }
  }
  spdlog::log(level, "{}", line);
}

bool LogBudget::allow(uint64_t& suppressed) {
  const auto now = std::chrono::steady_clock::now();
  if (now - window_ >= std::chrono::seconds(1)) {
    window_ = now;
    used_ = 0;
  }
  if (used_ >= per_second_) {
    ++refused_;
    return false;
  }
  ++used_;
  suppressed = refused_;
  refused_ = 0;
  return true;
}

std::string exception_text(std::exception_ptr e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "unknown";
  }
}

}  // namespace smsgate::gateway
