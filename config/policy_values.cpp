#include "config/policy_values.hpp"

#include <date/tz.h>
#include <phonenumbers/phonenumberutil.h>

#include <array>
#include <exception>
#include <set>

#include "policy/classify.hpp"
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

namespace {

// Reply patterns are short phrases; a bound keeps checking and compiling them quick.
constexpr std::size_t kMaxPatternBytes = 1000;

// The classifier's message for `text` with its "WHERE: \"TEXT\"" head
// written as the config's messages quote: "'TEXT' ...".
std::string reworded(const std::string& error, const std::string& where, const std::string& text) {
  const std::string head = where + ": \"" + text + "\"";
  if (error.rfind(head, 0) == 0) return "'" + text + "'" + error.substr(head.size());
  return error;
}

// The first problem build_classifier finds with a configuration holding
// only `text`, put where `put` puts it.
std::optional<std::string> alone_problem(const std::string& text, const std::string& where,
                                         void (*put)(policy::ClassifierConfig&, const std::string&)) {
  policy::ClassifierConfig config;
  config.use_defaults = false;
  put(config, text);
  policy::ClassifierBuild build = policy::build_classifier(config);
  if (build.errors.empty()) return std::nullopt;
  return reworded(build.errors.front(), where, text);
}

}  // namespace

std::optional<std::string> keyword_problem(const std::string& word) {
  return alone_problem(word, "opt_out.phrases",
                       [](policy::ClassifierConfig& c, const std::string& w) { c.opt_out.phrases = {w}; });
}

std::optional<std::string> pattern_problem(const std::string& pattern) {
  if (pattern.size() > kMaxPatternBytes) {
    return "'" + pattern.substr(0, 40) + "...' is " + std::to_string(pattern.size()) +
           " bytes long; a pattern may have at most " + std::to_string(kMaxPatternBytes);
  }
  // RE2 alone, compiled as the classifier compiles it: no whole classifier per pattern.
  if (auto error = policy::pattern_error(pattern)) return "'" + pattern + "' does not compile: " + *error;
  return std::nullopt;
}

std::optional<std::string> complaint_category(std::string_view name) {
  const auto category = policy::parse_complaint_category(name);
  if (!category || *category == policy::ComplaintCategory::none) return std::nullopt;
  return std::string(policy::to_string(*category));
}

const std::vector<std::string>& complaint_categories() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (auto c : {policy::ComplaintCategory::regulator_report, policy::ComplaintCategory::unsubscribe_failed,
                   policy::ComplaintCategory::privacy, policy::ComplaintCategory::harassment,
                   policy::ComplaintCategory::wrong_recipient, policy::ComplaintCategory::other}) {
      out.emplace_back(policy::to_string(c));
    }
    return out;
  }();
  return names;
}

bool is_severity(std::string_view name) { return policy::parse_severity(name).has_value(); }

}  // namespace smsgate::config::policy_values
