#include "config/policy_values.hpp"

#include <date/tz.h>
#include <phonenumbers/phonenumberutil.h>

#include <array>
#include <exception>
#include <set>

#include "policy/quiet_hours.hpp"

namespace smsgate::config::policy_values {

bool is_window(std::string_view text) { return policy::parse_window(text).has_value(); }

std::optional<std::string> weekday(std::string_view text) {
  static constexpr std::array<std::string_view, 7> kNames{"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  const auto day = policy::parse_weekday(text);  // c_encoding: 0 = Sunday
  if (!day || *day >= kNames.size()) return std::nullopt;
  return std::string(kNames[*day]);
}

bool is_date(std::string_view text) { return policy::parse_date(text).has_value(); }

bool is_phone_region(std::string_view text) {
  static const std::set<std::string, std::less<>> regions = [] {
    std::set<std::string> s;
    i18n::phonenumbers::PhoneNumberUtil::GetInstance()->GetSupportedRegions(&s);
    return std::set<std::string, std::less<>>(s.begin(), s.end());
  }();
  return regions.contains(text);
}

std::optional<std::string> zone_problem(const std::string& name) {
  try {
    date::locate_zone(name);  // throws std::runtime_error for an unknown name
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

const std::vector<std::string>& zone_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    try {
      for (const date::time_zone& zone : date::get_tzdb().zones) out.push_back(zone.name());
    } catch (const std::exception&) {
      // no tz database: no suggestions
    }
    return out;
  }();
  return names;
}

}  // namespace smsgate::config::policy_values
