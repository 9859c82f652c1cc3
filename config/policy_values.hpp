// The policy section's values that need more than the standard library:
// quiet-hours windows, days and dates (policy/quiet_hours.hpp), the regions
// libphonenumber knows and the tz database's zone names (date/tz). Internal
// to the config library; the interface is standard library only.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace smsgate::config::policy_values {

// "HH:MM[:SS]-HH:MM[:SS]" (policy::parse_window).
bool is_window(std::string_view text);
// A day of the week ("mon", "Monday", ...) as its lower-case three-letter
// name ("mon"); nullopt when it is none.
std::optional<std::string> weekday(std::string_view text);
// "YYYY-MM-DD", a valid calendar date (policy::parse_date).
bool is_date(std::string_view text);
// A region code libphonenumber has metadata for ("CN", "GB"; upper case).
bool is_phone_region(std::string_view text);
// nullopt when `name` is a zone of the tz database (date::locate_zone);
// else why not.
std::optional<std::string> zone_problem(const std::string& name);
// Every zone name of the tz database; empty when it cannot be read.
const std::vector<std::string>& zone_names();

}  // namespace smsgate::config::policy_values
