// SMPP time fields (§7.1.1): validity_period and schedule_delivery_time.
#include "smpp/time.hpp"

#include <gtest/gtest.h>

namespace smsgate::smpp {
namespace {

using namespace std::chrono;

// Civil dates from the standard library's calendar (C++20 <chrono>).
sys_seconds utc(int y, unsigned m, unsigned d, int hh, int mi, int ss) {
  return sys_days(year(y) / month(m) / day(d)) + hours(hh) + minutes(mi) + seconds(ss);
}

const system_clock::time_point kNow = utc(2026, 11, 23, 12, 0, 0);

TEST(SmppTime, AbsoluteWithAnOffsetInQuarterHoursIsUtcMinusTheOffset) {
  // 08:00 in UTC+8 (32 quarters) is 00:00 UTC.
  EXPECT_EQ(parse_smpp_time("261124080000032+", kNow), utc(2026, 11, 24, 0, 0, 0));
  // 20:30:15.5 in UTC-5 (20 quarters) is 01:30:15.5 the next day.
  EXPECT_EQ(parse_smpp_time("261231203015520-", kNow), utc(2027, 1, 1, 1, 30, 15) + milliseconds(500));
  EXPECT_EQ(parse_smpp_time("280229000000000+", kNow), utc(2028, 2, 29, 0, 0, 0));  // a leap day
}

TEST(SmppTime, RelativeCountsFromNow) {
  EXPECT_EQ(parse_smpp_time("000001020304000R", kNow), kNow + days(1) + hours(2) + minutes(3) + seconds(4));
  EXPECT_EQ(parse_smpp_time("000100000000000R", kNow), kNow + days(30));
}

TEST(SmppTime, EmptyOrMalformedIsNotATime) {
  for (const char* bad : {"", "2611240800000", "261124080000032*", "261324080000032+", "260230080000032+",
                          "270229000000000+", "261124250000032+", "261124080000049+", "26112408000003a+",
                          "000000006000000R"}) {
    EXPECT_FALSE(parse_smpp_time(bad, kNow).has_value()) << bad;
  }
}

}  // namespace
}  // namespace smsgate::smpp
