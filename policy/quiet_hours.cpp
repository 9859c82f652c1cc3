#include "policy/quiet_hours.hpp"

#include <algorithm>
#include <cctype>

namespace smsgate::policy {
namespace {

using std::chrono::seconds;
using TimePoint = std::chrono::system_clock::time_point;

std::optional<unsigned> two_digits(std::string_view s) {
  if (s.size() != 2 || !std::isdigit(static_cast<unsigned char>(s[0])) ||
      !std::isdigit(static_cast<unsigned char>(s[1])))
    return std::nullopt;
  return static_cast<unsigned>((s[0] - '0') * 10 + (s[1] - '0'));
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool day_allowed(const QuietRule& rule, date::local_days day) {
  if (!rule.days[date::weekday{day}.c_encoding()]) return false;
  const date::year_month_day ymd{day};
  return std::find(rule.holidays.begin(), rule.holidays.end(), ymd) == rule.holidays.end();
}

// Every instant in [from, to] at which `rule` may go from closed to open in
// `zone`: window starts, local midnights (a day becoming allowed, or the
// after-midnight part of a window crossing midnight) and UTC offset changes
// (a fall-back can reopen a window). DST gaps resolve to the transition.
void add_openings(const QuietRule& rule, const date::time_zone& zone, TimePoint from, TimePoint to,
                  std::vector<TimePoint>& out) {
  // Compared in seconds: a zone without further transitions reports
  // sys_seconds::max(), which nanoseconds cannot hold.
  const auto lo = date::ceil<seconds>(from);
  const auto hi = date::floor<seconds>(to);
  auto keep = [&](date::sys_seconds t) {
    if (t >= lo && t <= hi) out.emplace_back(t);
  };
  const auto first_day = date::floor<date::days>(zone.to_local(from)) - date::days{1};
  const auto last_day = date::floor<date::days>(zone.to_local(to)) + date::days{1};
  for (auto day = first_day; day <= last_day; day += date::days{1}) {
    keep(zone.to_sys(date::local_seconds{day}, date::choose::earliest));
    keep(zone.to_sys(date::local_seconds{day} + rule.start, date::choose::earliest));
  }
  for (auto info = zone.get_info(date::floor<seconds>(from)); info.end <= hi; info = zone.get_info(info.end)) {
    keep(info.end);
  }
}

bool all_open(const std::vector<const QuietRule*>& rules, const std::vector<const date::time_zone*>& zones,
              TimePoint t) {
  for (const QuietRule* rule : rules)
    for (const date::time_zone* zone : zones)
      if (!is_open(*rule, *zone, t)) return false;
  return true;
}

}  // namespace

std::optional<seconds> parse_time_of_day(std::string_view text) {
  if (text.size() != 5 && text.size() != 8) return std::nullopt;
  if (text[2] != ':' || (text.size() == 8 && text[5] != ':')) return std::nullopt;
  const auto h = two_digits(text.substr(0, 2));
  const auto m = two_digits(text.substr(3, 2));
  const auto s = text.size() == 8 ? two_digits(text.substr(6, 2)) : std::optional<unsigned>{0};
  if (!h || !m || !s || *m > 59 || *s > 59) return std::nullopt;
  const seconds total = std::chrono::hours{*h} + std::chrono::minutes{*m} + seconds{*s};
  if (total > std::chrono::hours{24}) return std::nullopt;
  return total;
}

std::optional<std::pair<seconds, seconds>> parse_window(std::string_view text) {
  const auto dash = text.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const auto start = parse_time_of_day(text.substr(0, dash));
  const auto end = parse_time_of_day(text.substr(dash + 1));
  if (!start || !end) return std::nullopt;
  return std::pair{*start, *end};
}

std::optional<unsigned> parse_weekday(std::string_view text) {
  static constexpr std::array<std::string_view, 7> names{"sunday",   "monday", "tuesday", "wednesday",
                                                         "thursday", "friday", "saturday"};
  const std::string s = lower(text);
  for (unsigned i = 0; i < names.size(); ++i) {
    if (s == names[i] || (s.size() == 3 && names[i].substr(0, 3) == s)) return i;
  }
  return std::nullopt;
}

std::optional<date::year_month_day> parse_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  const auto hi = two_digits(text.substr(0, 2));
  const auto lo = two_digits(text.substr(2, 2));
  const auto m = two_digits(text.substr(5, 2));
  const auto d = two_digits(text.substr(8, 2));
  if (!hi || !lo || !m || !d) return std::nullopt;
  const date::year_month_day ymd{date::year{static_cast<int>(*hi * 100 + *lo)}, date::month{*m}, date::day{*d}};
  if (!ymd.ok()) return std::nullopt;
  return ymd;
}

bool is_open(const QuietRule& rule, const date::time_zone& zone, TimePoint t) {
  const auto local = date::floor<seconds>(zone.to_local(t));
  const auto day = date::floor<date::days>(local);
  if (!day_allowed(rule, day)) return false;
  const seconds tod = local - date::local_seconds{day};
  if (rule.start == rule.end) return true;
  if (rule.start < rule.end) return rule.start <= tod && tod < rule.end;
  return tod >= rule.start || tod < rule.end;  // crosses midnight
}

QuietDecision evaluate(const std::vector<const QuietRule*>& rules, const std::vector<const date::time_zone*>& zones,
                       TimePoint now) {
  QuietDecision out;
  if (rules.empty()) return out;

  std::vector<const QuietRule*> blocking;
  if (zones.empty()) {
    blocking.push_back(rules.front());
  } else {
    for (const QuietRule* rule : rules) {
      if (!all_open({rule}, zones, now)) blocking.push_back(rule);
    }
  }
  if (blocking.empty()) return out;

  out.allowed = false;
  out.rule = blocking.front()->name;
  if (!zones.empty()) {
    const TimePoint horizon = now + kQuietSearchHorizon;
    std::vector<TimePoint> candidates;
    for (const QuietRule* rule : rules)
      for (const date::time_zone* zone : zones) add_openings(*rule, *zone, now, horizon, candidates);
    std::sort(candidates.begin(), candidates.end());
    for (TimePoint t : candidates) {
      if (all_open(rules, zones, t)) {
        out.next_open = t;
        break;
      }
    }
  }

  out.action = QuietAction::defer;
  for (const QuietRule* rule : blocking) {
    if (rule->action == QuietAction::reject || !out.next_open || *out.next_open - now > rule->max_defer)
      out.action = QuietAction::reject;
  }
  return out;
}

QuietDecision evaluate(const QuietRule& rule, const std::vector<const date::time_zone*>& zones, TimePoint now) {
  return evaluate(std::vector<const QuietRule*>{&rule}, zones, now);
}

std::vector<const QuietRule*> QuietRuleSet::for_region(std::string_view region) const {
  const std::string wanted = lower(region);
  std::vector<const QuietRule*> out;
  for (const QuietRule& rule : rules_) {
    if (std::any_of(rule.regions.begin(), rule.regions.end(),
                    [&](const std::string& r) { return r == "*" || lower(r) == wanted; }))
      out.push_back(&rule);
  }
  return out;
}

QuietDecision QuietRuleSet::evaluate(std::string_view region, const std::vector<const date::time_zone*>& zones,
                                     TimePoint now) const {
  return policy::evaluate(for_region(region), zones, now);
}

}  // namespace smsgate::policy
