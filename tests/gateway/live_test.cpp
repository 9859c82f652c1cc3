// The dashboard's data (LiveSeries) and its embedded files (dashboard_asset):
// no process, no socket.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "gateway/dashboard.hpp"
#include "gateway/live.hpp"

namespace smsgate::gateway {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;
using SysClock = std::chrono::system_clock;

CounterTotals totals(std::initializer_list<std::pair<Counter, uint64_t>> values) {
  CounterTotals t{};
  for (const auto& [c, v] : values) t[static_cast<std::size_t>(c)] = v;
  return t;
}

json::object parse(const LiveSeries& live) { return json::parse(live.json()).as_object(); }

std::vector<double> numbers(const json::value& v) {
  std::vector<double> out;
  for (const auto& x : v.as_array()) out.push_back(x.to_number<double>());
  return out;
}

TEST(LiveSeries, EmptyIsValidJsonWithNoPoints) {
  LiveSeries live;
  const auto j = parse(live);
  EXPECT_EQ(j.at("series").at("t").as_array().size(), 0u);
  EXPECT_EQ(j.at("per_minute").at("t").as_array().size(), 0u);
  EXPECT_EQ(j.at("complaints").as_array().size(), 0u);
  EXPECT_EQ(j.at("interval_s").as_int64(), 2);
  EXPECT_EQ(j.at("window_s").as_int64(), 900);
}

TEST(LiveSeries, RatesAreCounterGrowthPerSecondBetweenSamples) {
  LiveSeries live;
  const SysClock::time_point t0{std::chrono::milliseconds(1'800'000'000'000)};  // a whole minute
  live.sample(t0, totals({{Counter::submit_received, 100}}), 0, {});
  live.sample(t0 + 2s, totals({{Counter::submit_received, 300},
                               {Counter::submit_ok, 150},
                               {Counter::deferred_released, 10},
                               {Counter::policy_opted_out, 20},
                               {Counter::submit_carrier_status, 2},
                               {Counter::submit_carrier_lost, 4},
                               {Counter::policy_deferred, 8}}),
              7, {{"carrier", "cmcc", "bound", 2}, {"account", "demo", "not bound", 0}});
  const auto j = parse(live);
  const auto& s = j.at("series").as_object();
  EXPECT_EQ(numbers(s.at("t")), std::vector<double>{static_cast<double>(1'800'000'002'000)});
  EXPECT_EQ(numbers(s.at("in_per_s")), std::vector<double>{100});     // 200 in 2 s
  EXPECT_EQ(numbers(s.at("out_per_s")), std::vector<double>{80});     // 150 + 10 released
  EXPECT_EQ(numbers(s.at("deferred_per_s")), std::vector<double>{4});
  EXPECT_EQ(numbers(s.at("refused_per_s").at("opted_out")), std::vector<double>{10});
  EXPECT_EQ(numbers(s.at("refused_per_s").at("carrier_error")), std::vector<double>{3});  // status + lost
  EXPECT_EQ(numbers(s.at("refused_per_s").at("frequency_cap")), std::vector<double>{0});
  EXPECT_EQ(numbers(s.at("deferred_depth")), std::vector<double>{7});
  EXPECT_EQ(j.at("totals").at("submit_received").to_number<uint64_t>(), 300u);
  EXPECT_EQ(j.at("totals").at("deferred_depth").to_number<uint64_t>(), 7u);
  const auto& binds = j.at("binds").as_array();
  ASSERT_EQ(binds.size(), 2u);
  EXPECT_EQ(binds[0].at("name").as_string(), "cmcc");
  EXPECT_EQ(binds[0].at("state").as_string(), "bound");
  EXPECT_EQ(binds[0].at("sessions").as_int64(), 2);
}

TEST(LiveSeries, AFallingCounterIsZeroNotAHugeRate) {
  LiveSeries live;
  const SysClock::time_point t0{std::chrono::milliseconds(1'800'000'000'000)};
  live.sample(t0, totals({{Counter::submit_received, 500}}), 0, {});
  live.sample(t0 + 2s, totals({{Counter::submit_received, 10}}), 0, {});
  EXPECT_EQ(numbers(parse(live).at("series").at("in_per_s")), std::vector<double>{0});
}

TEST(LiveSeries, KeepsFifteenMinutes) {
  LiveSeries live;
  const SysClock::time_point t0{std::chrono::milliseconds(1'800'000'000'000)};
  for (uint64_t i = 0; i < LiveSeries::kSamples + 50; ++i) {
    live.sample(t0 + i * LiveSeries::kInterval, totals({{Counter::submit_received, i * 10}}), 0, {});
  }
  const auto j = parse(live);
  const auto t = numbers(j.at("series").at("t"));
  ASSERT_EQ(t.size(), LiveSeries::kSamples);
  EXPECT_EQ(t.back() - t.front(), (LiveSeries::kSamples - 1) * 2000.0);
  for (double v : numbers(j.at("series").at("in_per_s"))) EXPECT_EQ(v, 5);
  // 15 minutes of samples touch 15 or 16 clock minutes.
  const auto minutes = j.at("per_minute").at("t").as_array().size();
  EXPECT_GE(minutes, 15u);
  EXPECT_LE(minutes, 16u);
}

TEST(LiveSeries, OptOutsAndComplaintsAreCountedPerClockMinute) {
  LiveSeries live;
  const SysClock::time_point t0{std::chrono::milliseconds(1'800'000'000'000)};  // hh:mm:00
  // Minute 0: opt-outs 0 -> 3; minute 1: 3 -> 10, complaints 0 -> 2.
  live.sample(t0, totals({}), 0, {});
  live.sample(t0 + 30s, totals({{Counter::reply_opted_out, 3}}), 0, {});
  live.sample(t0 + 62s, totals({{Counter::reply_opted_out, 8}, {Counter::complaint_ticketed, 1}}), 0, {});
  live.sample(t0 + 90s, totals({{Counter::reply_opted_out, 10}, {Counter::complaint_ticketed, 2}}), 0, {});
  const auto pm = parse(live).at("per_minute").as_object();
  EXPECT_EQ(numbers(pm.at("t")), (std::vector<double>{1'800'000'000'000.0, 1'800'000'060'000.0}));
  EXPECT_EQ(numbers(pm.at("opt_outs")), (std::vector<double>{3, 7}));
  EXPECT_EQ(numbers(pm.at("complaints")), (std::vector<double>{0, 2}));
}

TEST(LiveSeries, LatestComplaintsFirstAndBounded) {
  LiveSeries live;
  for (int i = 0; i < static_cast<int>(LiveSeries::kComplaints) + 5; ++i) {
    live.add_complaint({1000 + i, "T-" + std::to_string(i), "frequent_harassment", "high", "+86138****8000", "demo"});
  }
  const auto c = parse(live).at("complaints").as_array();
  ASSERT_EQ(c.size(), LiveSeries::kComplaints);
  EXPECT_EQ(c[0].at("ticket").as_string(), "T-" + std::to_string(LiveSeries::kComplaints + 4));
  EXPECT_EQ(c[0].at("number").as_string(), "+86138****8000");
  EXPECT_EQ(c[0].at("category").as_string(), "frequent_harassment");
  EXPECT_EQ(c[0].at("account").as_string(), "demo");
  // The same ticket again (the phone sent the same complaint twice): once, first.
  live.add_complaint({5000, "T-3", "frequent_harassment", "high", "+86138****8000", "demo"});
  const auto again = parse(live).at("complaints").as_array();
  EXPECT_EQ(again.size(), LiveSeries::kComplaints);
  EXPECT_EQ(again[0].at("ticket").as_string(), "T-3");
  EXPECT_EQ(again[0].at("at_ms").as_int64(), 5000);
  int seen = 0;
  for (const auto& x : again) seen += x.at("ticket").as_string() == "T-3" ? 1 : 0;
  EXPECT_EQ(seen, 1);
}

TEST(DashboardAssets, ThePageAndItsFilesAreEmbedded) {
  const auto index = dashboard_asset("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("<script src=\"app.js\">"), std::string_view::npos);
  EXPECT_EQ(dashboard_asset("/index.html")->body, index->body);
  const auto js = dashboard_asset("/app.js?v=1");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(js->body.find("/api/live"), std::string_view::npos);
  ASSERT_TRUE(dashboard_asset("/style.css"));
  EXPECT_EQ(dashboard_asset("/style.css")->content_type, "text/css; charset=utf-8");
}

TEST(DashboardAssets, NothingElse) {
  EXPECT_FALSE(dashboard_asset("/api/live"));
  EXPECT_FALSE(dashboard_asset("/../gateway.yaml"));
  EXPECT_FALSE(dashboard_asset("/dashboard/app.js"));
  EXPECT_FALSE(dashboard_asset("/nope.js"));
  EXPECT_FALSE(dashboard_asset("app.js"));
  EXPECT_FALSE(dashboard_asset("/%2e%2e/x"));
}

}  // namespace
}  // namespace smsgate::gateway
