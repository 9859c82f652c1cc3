#include "policy/quiet_hours.hpp"

#include "policy/timezone.hpp"

#include <gtest/gtest.h>

namespace smsgate::policy {
namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

const date::time_zone* zone(const char* name) { return date::locate_zone(name); }

// A local wall-clock time in a zone, as the UTC instant.
TimePoint local(const char* zone_name, int y, unsigned mo, unsigned d, int h, int mi) {
  const auto lt = date::local_days{date::year{y} / mo / d} + std::chrono::hours{h} + std::chrono::minutes{mi};
  return TimePoint{date::make_zoned(zone(zone_name), lt).get_sys_time()};
}

TimePoint utc(int y, unsigned mo, unsigned d, int h, int mi) {
  return TimePoint{date::sys_days{date::year{y} / mo / d} + std::chrono::hours{h} + std::chrono::minutes{mi}};
}

QuietRule window(std::string name, std::string_view text) {
  QuietRule rule;
  rule.name = std::move(name);
  const auto w = parse_window(text);
  EXPECT_TRUE(w.has_value()) << text;
  if (w) std::tie(rule.start, rule.end) = *w;
  return rule;
}

QuietRule france() {
  QuietRule rule = window("france", "08:00-20:00");
  rule.regions = {"FR"};
  rule.days[*parse_weekday("sun")] = false;
  return rule;
}

TEST(QuietHours, DefersMarketingAtNightInShanghai) {
  const QuietRule rule = window("china", "08:00-21:00");
  const std::vector zones{zone("Asia/Shanghai")};

  const auto night = evaluate(rule, zones, local("Asia/Shanghai", 2026, 11, 23, 22, 30));
  EXPECT_FALSE(night.allowed);
  EXPECT_EQ(night.rule, "china");
  EXPECT_EQ(night.action, QuietAction::defer);
  ASSERT_TRUE(night.next_open.has_value());
  EXPECT_EQ(*night.next_open, local("Asia/Shanghai", 2026, 11, 24, 8, 0));
  EXPECT_EQ(*night.next_open, utc(2026, 11, 24, 0, 0));

  EXPECT_TRUE(evaluate(rule, zones, local("Asia/Shanghai", 2026, 11, 23, 12, 0)).allowed);
  // Start inclusive, end exclusive.
  EXPECT_TRUE(evaluate(rule, zones, local("Asia/Shanghai", 2026, 11, 23, 8, 0)).allowed);
  EXPECT_FALSE(evaluate(rule, zones, local("Asia/Shanghai", 2026, 11, 23, 21, 0)).allowed);
  // Early morning: opens the same local day.
  EXPECT_EQ(evaluate(rule, zones, local("Asia/Shanghai", 2026, 11, 23, 3, 0)).next_open,
            utc(2026, 11, 23, 0, 0));
}

TEST(QuietHours, ParisOpensAtEightLocalOnBothSidesOfDst) {
  QuietRule rule = window("paris", "08:00-20:00");
  const std::vector zones{zone("Europe/Paris")};

  // Friday before the spring change: winter time, 08:00 CET is 07:00 UTC.
  EXPECT_EQ(evaluate(rule, zones, local("Europe/Paris", 2026, 3, 27, 21, 0)).next_open, utc(2026, 3, 28, 7, 0));
  // Saturday 28 March 21:00 CET; clocks go forward in the night: 08:00 CEST is 06:00 UTC.
  EXPECT_EQ(evaluate(rule, zones, local("Europe/Paris", 2026, 3, 28, 21, 0)).next_open, utc(2026, 3, 29, 6, 0));
  // Saturday 24 October 21:00 CEST; clocks go back: 08:00 CET is 07:00 UTC.
  EXPECT_EQ(evaluate(rule, zones, local("Europe/Paris", 2026, 10, 24, 21, 0)).next_open, utc(2026, 10, 25, 7, 0));
  // And the window still closes at 20:00 local after the change.
  EXPECT_TRUE(evaluate(rule, zones, utc(2026, 10, 25, 18, 59)).allowed);
  EXPECT_FALSE(evaluate(rule, zones, utc(2026, 10, 25, 19, 0)).allowed);
}

TEST(QuietHours, WindowStartInDstGapOpensAtTheTransition) {
  // 02:30 does not exist in Paris on 29 March 2026 (02:00 CET -> 03:00 CEST).
  QuietRule rule = window("gap", "02:30-20:00");
  const auto d = evaluate(rule, {zone("Europe/Paris")}, utc(2026, 3, 29, 0, 30));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.next_open, utc(2026, 3, 29, 1, 0));
}

TEST(QuietHours, FranceSkipsSundays) {
  const QuietRule rule = france();
  const std::vector zones{zone("Europe/Paris")};
  // Saturday 28 March 21:00 -> Monday 30 March 08:00 CEST (06:00 UTC).
  const auto d = evaluate(rule, zones, local("Europe/Paris", 2026, 3, 28, 21, 0));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.next_open, utc(2026, 3, 30, 6, 0));
  // Sunday noon is closed.
  EXPECT_FALSE(evaluate(rule, zones, local("Europe/Paris", 2026, 3, 29, 12, 0)).allowed);
  EXPECT_TRUE(evaluate(rule, zones, local("Europe/Paris", 2026, 3, 28, 12, 0)).allowed);
}

TEST(QuietHours, HolidaySkipsTheDay) {
  QuietRule rule = france();
  rule.holidays.push_back(*parse_date("2026-12-25"));
  const std::vector zones{zone("Europe/Paris")};
  // Thursday 24 December 21:00 -> Saturday 26 December 08:00 CET (07:00 UTC).
  EXPECT_EQ(evaluate(rule, zones, local("Europe/Paris", 2026, 12, 24, 21, 0)).next_open, utc(2026, 12, 26, 7, 0));
  EXPECT_FALSE(evaluate(rule, zones, local("Europe/Paris", 2026, 12, 25, 12, 0)).allowed);
}

TEST(QuietHours, UnitedStatesWithoutAreaCodeMustBeOpenInEveryZone) {
  const auto loaded = ZoneMap::load({{"1212", "America/New_York"}});
  ASSERT_TRUE(loaded.map.has_value());
  const ZoneMap& map = *loaded.map;
  const QuietRule rule = window("tcpa", "08:00-21:00");
  const auto all_us = map.zones_for("13125550100", "US");

  // zone1970.tab's US zones reach Pacific/Honolulu (UTC-10, no DST) and
  // America/Adak (UTC-10/-9). In July the common window is therefore 08:00
  // Honolulu (18:00 UTC, 14:00 New York) to 21:00 New York (01:00 UTC), not
  // 11:00-21:00 New York as the continental zones alone would give.
  const auto morning = evaluate(rule, all_us, local("America/New_York", 2026, 7, 15, 10, 30));
  EXPECT_FALSE(morning.allowed);
  EXPECT_EQ(morning.next_open, local("America/New_York", 2026, 7, 15, 14, 0));
  EXPECT_EQ(morning.next_open, local("Pacific/Honolulu", 2026, 7, 15, 8, 0));
  // 20:30 New York is 14:30 Honolulu, 16:30 Anchorage and Adak, 17:30 Los
  // Angeles: open everywhere.
  EXPECT_TRUE(evaluate(rule, all_us, local("America/New_York", 2026, 7, 15, 20, 30)).allowed);
  EXPECT_FALSE(evaluate(rule, all_us, local("America/New_York", 2026, 7, 15, 21, 0)).allowed);
  // In January New York is UTC-5 and Honolulu still UTC-10: opens 13:00 New York.
  EXPECT_EQ(evaluate(rule, all_us, local("America/New_York", 2026, 1, 14, 10, 30)).next_open,
            local("America/New_York", 2026, 1, 14, 13, 0));

  // Continental zones alone (New York and Los Angeles): 10:30 New York is
  // 07:30 Los Angeles, so the window opens at 11:00 New York.
  const std::vector coasts{zone("America/New_York"), zone("America/Los_Angeles")};
  const auto coast = evaluate(rule, coasts, local("America/New_York", 2026, 7, 15, 10, 30));
  EXPECT_FALSE(coast.allowed);
  EXPECT_EQ(coast.next_open, local("America/New_York", 2026, 7, 15, 11, 0));

  // Area code 212 pins New York: 10:30 there is allowed.
  const auto ny = map.zones_for("12125550100", "US");
  ASSERT_EQ(ny.size(), 1u);
  EXPECT_TRUE(evaluate(rule, ny, local("America/New_York", 2026, 7, 15, 10, 30)).allowed);
}

TEST(QuietHours, WindowCrossingMidnight) {
  const QuietRule rule = window("night", "22:00-06:00");
  const std::vector zones{zone("Asia/Shanghai")};
  EXPECT_TRUE(evaluate(rule, zones, local("Asia/Shanghai", 2026, 11, 23, 23, 0)).allowed);
  EXPECT_TRUE(evaluate(rule, zones, local("Asia/Shanghai", 2026, 11, 24, 2, 0)).allowed);
  EXPECT_TRUE(evaluate(rule, zones, local("Asia/Shanghai", 2026, 11, 24, 0, 0)).allowed);
  const auto morning = evaluate(rule, zones, local("Asia/Shanghai", 2026, 11, 24, 6, 0));
  EXPECT_FALSE(morning.allowed);
  EXPECT_EQ(morning.next_open, local("Asia/Shanghai", 2026, 11, 24, 22, 0));
}

TEST(QuietHours, CrossingMidnightAfterAClosedDayOpensAtMidnight) {
  // Sunday closed: Sunday 22:00 does not open, Monday 00:00 does (the local
  // date of the instant decides).
  QuietRule rule = window("night", "22:00-06:00");
  rule.days[*parse_weekday("sunday")] = false;
  const std::vector zones{zone("Europe/Paris")};
  const auto d = evaluate(rule, zones, local("Europe/Paris", 2026, 11, 22, 21, 0));  // a Sunday
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.next_open, local("Europe/Paris", 2026, 11, 23, 0, 0));
}

TEST(QuietHours, NoOpeningWithinEightDaysRejects) {
  QuietRule rule = window("never", "08:00-20:00");
  rule.days.fill(false);
  const auto d = evaluate(rule, {zone("Europe/Paris")}, utc(2026, 6, 1, 12, 0));
  EXPECT_FALSE(d.allowed);
  EXPECT_FALSE(d.next_open.has_value());
  EXPECT_EQ(d.action, QuietAction::reject);
}

TEST(QuietHours, RejectActionAndMaxDefer) {
  QuietRule rule = window("china", "08:00-21:00");
  const std::vector zones{zone("Asia/Shanghai")};
  const auto night = local("Asia/Shanghai", 2026, 11, 23, 22, 30);

  rule.max_defer = 1h;  // opens in 9.5 h
  auto d = evaluate(rule, zones, night);
  EXPECT_EQ(d.action, QuietAction::reject);
  EXPECT_EQ(d.next_open, utc(2026, 11, 24, 0, 0));

  rule.max_defer = 10h;
  EXPECT_EQ(evaluate(rule, zones, night).action, QuietAction::defer);

  rule.action = QuietAction::reject;
  EXPECT_EQ(evaluate(rule, zones, night).action, QuietAction::reject);
}

TEST(QuietHours, NoZonesIsNotAllowed) {
  const auto d = evaluate(window("any", "08:00-21:00"), {}, utc(2026, 6, 1, 12, 0));
  EXPECT_FALSE(d.allowed);
  EXPECT_FALSE(d.next_open.has_value());
  EXPECT_EQ(d.action, QuietAction::reject);
}

TEST(QuietRuleSet, PicksRulesByRegionAndAllMustAllow) {
  QuietRule us = window("tcpa", "08:00-21:00");
  us.regions = {"US"};
  QuietRule cn = window("china", "08:00-22:00");
  cn.regions = {"CN"};
  QuietRule global = window("global", "09:00-20:00");
  global.regions = {"*"};
  const QuietRuleSet set({us, cn, global, france()});

  auto names = [](const std::vector<const QuietRule*>& rules) {
    std::vector<std::string> out;
    for (const auto* r : rules) out.push_back(r->name);
    return out;
  };
  EXPECT_EQ(names(set.for_region("US")), (std::vector<std::string>{"tcpa", "global"}));
  EXPECT_EQ(names(set.for_region("cn")), (std::vector<std::string>{"china", "global"}));
  EXPECT_EQ(names(set.for_region("FR")), (std::vector<std::string>{"global", "france"}));
  EXPECT_EQ(names(set.for_region("DE")), (std::vector<std::string>{"global"}));

  const std::vector shanghai{zone("Asia/Shanghai")};
  // 20:30 Shanghai: china allows, global does not; next opening 09:00.
  const auto d = set.evaluate("CN", shanghai, local("Asia/Shanghai", 2026, 11, 23, 20, 30));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.rule, "global");
  EXPECT_EQ(d.next_open, local("Asia/Shanghai", 2026, 11, 24, 9, 0));
  EXPECT_TRUE(set.evaluate("CN", shanghai, local("Asia/Shanghai", 2026, 11, 23, 12, 0)).allowed);
  // France on Saturday evening: both rules block; next open is Monday 09:00.
  const auto fr = set.evaluate("FR", {zone("Europe/Paris")}, local("Europe/Paris", 2026, 3, 28, 20, 30));
  EXPECT_EQ(fr.rule, "global");
  EXPECT_EQ(fr.next_open, local("Europe/Paris", 2026, 3, 30, 9, 0));
  // No rule for the region at all: allowed.
  EXPECT_TRUE(QuietRuleSet{}.evaluate("CN", shanghai, utc(2026, 1, 1, 0, 0)).allowed);
}

TEST(QuietHoursParse, TimesWindowsDaysDates) {
  EXPECT_EQ(parse_time_of_day("08:00"), 8h);
  EXPECT_EQ(parse_time_of_day("21:30:15"), 21h + 30min + 15s);
  EXPECT_EQ(parse_time_of_day("24:00"), 24h);
  EXPECT_FALSE(parse_time_of_day("24:01"));
  EXPECT_FALSE(parse_time_of_day("8:00"));
  EXPECT_FALSE(parse_time_of_day("08:60"));
  EXPECT_FALSE(parse_time_of_day("08-00"));

  const auto w = parse_window("22:00-06:00");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->first, 22h);
  EXPECT_EQ(w->second, 6h);
  EXPECT_FALSE(parse_window("22:00"));
  EXPECT_FALSE(parse_window("22:00-6"));

  EXPECT_EQ(parse_weekday("sun"), 0u);
  EXPECT_EQ(parse_weekday("Mon"), 1u);
  EXPECT_EQ(parse_weekday("saturday"), 6u);
  EXPECT_FALSE(parse_weekday("mo"));
  EXPECT_FALSE(parse_weekday("xyz"));

  EXPECT_EQ(parse_date("2026-12-25"), date::year{2026} / 12 / 25);
  EXPECT_FALSE(parse_date("2026-02-30"));
  EXPECT_FALSE(parse_date("2026-2-03"));
  EXPECT_FALSE(parse_date("20261225"));
}

}  // namespace
}  // namespace smsgate::policy
