// The policy and replies sections' values that need more than the standard
// library: quiet-hours windows, days and dates (policy/quiet_hours.hpp), the
// regions libphonenumber knows, the tz database's zone names (date/tz), and
// the reply classifier's words, patterns, categories and severities
// (policy/classify.hpp). Internal to the config library; the interface is
// standard library only.
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

// nullopt when the reply classifier accepts `word` as a keyword or phrase
// (policy::build_classifier: it has letters or digits once normalised);
// else why not, naming the word ("'!!!' has no letters or digits").
std::optional<std::string> keyword_problem(const std::string& word);
// nullopt when `pattern` is at most 1000 bytes long and RE2 compiles it as
// the classifier does (policy::pattern_error); else why not, with RE2's
// message ("'(' does not compile: missing ): (").
std::optional<std::string> pattern_problem(const std::string& pattern);
// A complaint category by its English or Chinese name ("harassment",
// "too_frequent", "频繁骚扰") as its English name ("harassment"); nullopt
// when it is none (policy::parse_complaint_category; "none" is none).
std::optional<std::string> complaint_category(std::string_view name);
// The English names, in the order the classifier breaks ties.
const std::vector<std::string>& complaint_categories();
// "urgent", "high" or "normal" (policy::parse_severity).
bool is_severity(std::string_view name);

}  // namespace smsgate::config::policy_values
