// SMPP 3.4 time fields (§7.1.1: schedule_delivery_time, validity_period):
//   "YYMMDDhhmmsstnnp" with p '+' or '-': absolute, nn quarter hours from UTC;
//   "YYMMDDhhmmsstnnR": relative to now (years and months taken as 365 and
//   30 days, as SMSCs do). An empty field means "not given".
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace smsgate::smpp {

// The instant the field names; nullopt when it is empty or malformed.
std::optional<std::chrono::system_clock::time_point> parse_smpp_time(std::string_view text,
                                                                     std::chrono::system_clock::time_point now);

}  // namespace smsgate::smpp
