#include "policy/timezone.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace smsgate::policy {
namespace {

std::vector<std::string> names(const std::vector<const date::time_zone*>& zones) {
  std::vector<std::string> out;
  for (const auto* z : zones) out.emplace_back(z->name());
  return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

ZoneMap load_ok(const std::map<std::string, std::string>& overrides = {}) {
  auto loaded = ZoneMap::load(overrides);
  EXPECT_TRUE(loaded.errors.empty()) << (loaded.errors.empty() ? "" : loaded.errors.front());
  EXPECT_TRUE(loaded.map.has_value());
  return std::move(*loaded.map);
}

TEST(ZoneMap, ChinaIsShanghaiFirstAndZone1970ListsUrumqiToo) {
  const ZoneMap map = load_ok();
  // zone1970.tab lists two zones for CN: Asia/Shanghai (Beijing Time, the
  // legal time everywhere in China) and Asia/Urumqi (Xinjiang Time, UTC+6).
  // Taken literally the every-zone rule would push China's 08:00 start to
  // 10:00 Beijing time; the "86" override below is how the config pins it.
  const auto cn = names(map.zones_for("8613800138000", "CN"));
  ASSERT_FALSE(cn.empty());
  EXPECT_EQ(cn.front(), "Asia/Shanghai");
  EXPECT_TRUE(contains(cn, "Asia/Urumqi"));
  EXPECT_EQ(cn.size(), 2u);

  const ZoneMap pinned = load_ok({{"86", "Asia/Shanghai"}});
  EXPECT_EQ(names(pinned.zones_for("8613800138000", "CN")), std::vector<std::string>{"Asia/Shanghai"});
}

TEST(ZoneMap, FranceIsParisOnly) {
  const ZoneMap map = load_ok();
  EXPECT_EQ(names(map.zones_for("33612345678", "FR")), std::vector<std::string>{"Europe/Paris"});
  EXPECT_EQ(names(map.zones_for("33612345678", "fr")), std::vector<std::string>{"Europe/Paris"});
}

TEST(ZoneMap, UnitedStatesHasManyZones) {
  const ZoneMap map = load_ok();
  const auto us = names(map.zones_for("12125550100", "US"));
  EXPECT_GT(us.size(), 10u);
  EXPECT_TRUE(contains(us, "America/New_York"));
  EXPECT_TRUE(contains(us, "America/Chicago"));
  EXPECT_TRUE(contains(us, "America/Los_Angeles"));
  EXPECT_TRUE(contains(us, "America/Anchorage"));
  EXPECT_TRUE(contains(us, "Pacific/Honolulu"));
  // "US,CA" rows count for both.
  EXPECT_TRUE(contains(us, "America/Phoenix"));
  EXPECT_TRUE(contains(names(map.zones_of_region("CA")), "America/Phoenix"));
}

TEST(ZoneMap, UnknownRegionHasNoZones) {
  const ZoneMap map = load_ok();
  EXPECT_TRUE(map.zones_for("80012345678", "001").empty());
  EXPECT_TRUE(map.zones_for("", "").empty());
}

TEST(ZoneMap, OverrideNarrowsToOneZone) {
  const ZoneMap map = load_ok({{"1212", "America/New_York"}, {"1415", "America/Los_Angeles"}});
  EXPECT_EQ(names(map.zones_for("12125550100", "US")), std::vector<std::string>{"America/New_York"});
  EXPECT_EQ(names(map.zones_for("+14155550100", "US")), std::vector<std::string>{"America/Los_Angeles"});
  // No matching prefix: the region's zones.
  EXPECT_GT(map.zones_for("13125550100", "US").size(), 10u);
  EXPECT_EQ(map.override_for("13125550100"), nullptr);
}

TEST(ZoneMap, LongestPrefixWins) {
  const ZoneMap map = load_ok({{"1", "America/Chicago"}, {"1212", "America/New_York"}, {"12125", "America/Denver"}});
  EXPECT_EQ(names(map.zones_for("12125550100", "US")), std::vector<std::string>{"America/Denver"});
  EXPECT_EQ(names(map.zones_for("12124550100", "US")), std::vector<std::string>{"America/New_York"});
  EXPECT_EQ(names(map.zones_for("13125550100", "US")), std::vector<std::string>{"America/Chicago"});
  // A prefix longer than the number does not match.
  EXPECT_EQ(names(map.zones_for("121", "US")), std::vector<std::string>{"America/Chicago"});
}

TEST(ZoneMap, UnknownZoneInOverrideIsReported) {
  const auto loaded = ZoneMap::load({{"1212", "America/New_York"}, {"1999", "America/Atlantis"}, {"12a", "UTC"}});
  EXPECT_FALSE(loaded.map.has_value());
  ASSERT_EQ(loaded.errors.size(), 2u);
  EXPECT_NE(loaded.errors[0].find("12a"), std::string::npos);
  EXPECT_NE(loaded.errors[1].find("America/Atlantis"), std::string::npos);
}

TEST(ZoneMap, MissingZoneTabIsReported) {
  const auto loaded = ZoneMap::load({}, "/nonexistent/zone1970.tab");
  EXPECT_FALSE(loaded.map.has_value());
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_NE(loaded.errors[0].find("/nonexistent/zone1970.tab"), std::string::npos);
}

TEST(ZoneMap, ReadsAGivenZoneTab) {
  const auto path = std::filesystem::temp_directory_path() / "smsgate_timezone_test_zone1970.tab";
  {
    std::ofstream out(path);
    out << "# comment\n"
        << "XA,XB\t+0000+00000\tEurope/Paris\tcomment\n"
        << "XB\t+0000+00000\tAsia/Tokyo\n"
        << "XC\t+0000+00000\tNowhere/Land\n";
  }
  const auto loaded = ZoneMap::load({}, path.string());
  std::filesystem::remove(path);
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_NE(loaded.errors[0].find(":4: unknown zone Nowhere/Land"), std::string::npos) << loaded.errors[0];
}

}  // namespace
}  // namespace smsgate::policy
