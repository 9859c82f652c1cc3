// Quiet hours: whether marketing may be sent to a recipient now, and if not,
// when it may. Pure functions; the time is passed in.
//
// A rule's window is in the recipient's local time. A number that may be in
// several zones (US without an area-code override) is open only when the
// window is open in every one of them at once (policy reference, "Recipient
// time zone").
#pragma once

#include <date/date.h>
#include <date/tz.h>

#include <array>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smsgate::policy {

enum class QuietAction { defer, reject };

struct QuietRule {
  std::string name;
  std::vector<std::string> regions{"*"};  // ISO alpha-2 codes; "*" matches any region
  // Allowed window, local time of day. end < start crosses midnight
  // ("22:00-06:00"); end == start means the whole day. start inclusive,
  // end exclusive.
  std::chrono::seconds start{std::chrono::hours{8}};
  std::chrono::seconds end{std::chrono::hours{21}};
  // Allowed days, indexed by date::weekday::c_encoding() (0 = Sunday).
  std::array<bool, 7> days{true, true, true, true, true, true, true};
  // Local dates on which nothing is allowed.
  std::vector<date::year_month_day> holidays;
  QuietAction action = QuietAction::defer;
  // How long a deferred message may wait; a later next_open turns the
  // decision into a reject.
  std::chrono::seconds max_defer{std::chrono::hours{24}};
};

struct QuietDecision {
  bool allowed = true;
  // Not allowed: the earliest instant at or after `now` when every rule is
  // open in every zone at once; nullopt when there is none within 8 days.
  std::optional<std::chrono::system_clock::time_point> next_open;
  // Not allowed: defer (hold until next_open) or reject. Reject when a
  // blocking rule says so, when there is no next_open, or when next_open is
  // further than a blocking rule's max_defer.
  QuietAction action = QuietAction::defer;
  std::string rule;  // the first blocking rule's name
};

// How far evaluate() looks for the next opening.
inline constexpr date::days kQuietSearchHorizon{8};

// "HH:MM" or "HH:MM:SS", 00:00:00 to 24:00:00.
std::optional<std::chrono::seconds> parse_time_of_day(std::string_view text);
// "HH:MM[:SS]-HH:MM[:SS]": a window's start and end.
std::optional<std::pair<std::chrono::seconds, std::chrono::seconds>> parse_window(std::string_view text);
// "mon".."sun" (case-insensitive, full names accepted) to c_encoding (0 = Sunday).
std::optional<unsigned> parse_weekday(std::string_view text);
// "YYYY-MM-DD", a valid calendar date.
std::optional<date::year_month_day> parse_date(std::string_view text);

// Whether `rule` is open at `t` in `zone` (that zone's local date decides
// the day of week and holidays).
bool is_open(const QuietRule& rule, const date::time_zone& zone, std::chrono::system_clock::time_point t);

// One rule. No zones means the recipient's local time is unknown: not
// allowed, no next_open, reject.
QuietDecision evaluate(const QuietRule& rule, const std::vector<const date::time_zone*>& zones,
                       std::chrono::system_clock::time_point now);

// Several rules that all have to allow (no rules: allowed).
QuietDecision evaluate(const std::vector<const QuietRule*>& rules, const std::vector<const date::time_zone*>& zones,
                       std::chrono::system_clock::time_point now);

class QuietRuleSet {
 public:
  QuietRuleSet() = default;
  explicit QuietRuleSet(std::vector<QuietRule> rules) : rules_(std::move(rules)) {}

  // Every rule whose region list names `region` (case-insensitive) or "*",
  // in order.
  std::vector<const QuietRule*> for_region(std::string_view region) const;

  QuietDecision evaluate(std::string_view region, const std::vector<const date::time_zone*>& zones,
                         std::chrono::system_clock::time_point now) const;

  const std::vector<QuietRule>& rules() const { return rules_; }

 private:
  std::vector<QuietRule> rules_;
};

}  // namespace smsgate::policy
