// Times as text: the receipt's dates and ISO 8601 UTC for JSON (tickets,
// the admin API).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace smsgate::gateway {

// "YYMMDDhhmm" in UTC, as receipts write dates.
inline std::string receipt_date(std::chrono::system_clock::time_point t) {
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd(days);
  const std::chrono::hh_mm_ss hms(std::chrono::floor<std::chrono::minutes>(t - days));
  char buf[48];
  std::snprintf(buf, sizeof buf, "%02d%02u%02u%02d%02d", static_cast<int>(ymd.year()) % 100,
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()));
  return buf;
}

// "2024-05-01T12:00:00Z"
inline std::string iso_utc(std::chrono::system_clock::time_point t) {
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd(days);
  const std::chrono::hh_mm_ss hms(std::chrono::floor<std::chrono::seconds>(t - days));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

// The same from milliseconds since the epoch.
inline std::chrono::system_clock::time_point from_ms(int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

}  // namespace smsgate::gateway
