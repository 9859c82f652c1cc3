// The policy: section: opt-outs, frequency caps, quiet hours, time zones,
// statuses, the deferred queue and history. Values are checked when the file
// is loaded, each problem at its line and column; redacted_yaml writes the
// section back.
#include <gtest/gtest.h>

#include <string>

#include "config/config.hpp"
#include "tests/config/support.hpp"

namespace smsgate::config {
namespace {

using namespace std::chrono_literals;
using testing::expect_diagnostics;
using testing::ExampleSecrets;
using testing::all;
using testing::with;

LoadResult load(const std::string& tail) {
  ExampleSecrets::set();
  return load_config_string(with(tail), "p.yaml");
}

// Loads, expecting no diagnostic at all.
Policy policy_of(const std::string& tail) {
  LoadResult r = load(tail);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
  if (!r.ok()) throw std::runtime_error("does not load:\n" + all(r));
  return r.config->policy;
}

// Exactly one diagnostic, printed as `expected`.
void expect_one(const std::string& tail, const std::string& expected) {
  LoadResult r = load(tail);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(format(r.diagnostics[0]), expected);
}

constexpr const char* kFull = R"(policy:
  opt_out:
    scope: source
    transactional: skip
    audit_retention: 400d
  frequency_caps:
    - name: daily
      per: recipient
      limit: 3
      window: 24h
    - name: acct.week_1
      per: recipient+account
      limit: 10
      window: 7d
    - name: per-source
      per: recipient+source
      limit: 1
      window: 30m
  quiet_hours:
    - name: cn-night
      regions: [CN, HK]
      allow: "08:00-21:00"
      days: [Monday, TUE, wed, thu, fri]
      holidays: [2026-12-25, 2027-01-01]
      action: reject
      max_defer: 2h
    - name: everywhere
      regions: ["*"]
      allow: "22:00:30-06:00"
  timezones:
    "86": Asia/Shanghai
    "1212": America/New_York
    1: America/Chicago
  statuses:
    opted_out: 0x4A0
    frequency_cap: 1025
    quiet_hours: 0x4FF
  defer: { ramp: 0, poll_interval: 10ms, batch: 10000, lease: 1s }
  history: { keep: 0, ttl: 1d, text: yes }
)";

Policy full_policy() {
  Policy p;
  p.enabled = true;
  p.opt_out_scope = policy::OptOutScope::source;
  p.transactional_opt_out = TransactionalOptOut::skip;
  p.audit_retention = 400 * 24h;
  p.frequency_caps = {
      {"daily", policy::CapScope::recipient, 3, 24h},
      {"acct.week_1", policy::CapScope::recipient_account, 10, 7 * 24h},
      {"per-source", policy::CapScope::recipient_source, 1, 30min},
  };
  QuietHours cn;
  cn.name = "cn-night";
  cn.regions = {"CN", "HK"};
  cn.allow = "08:00-21:00";
  cn.days = {"mon", "tue", "wed", "thu", "fri"};
  cn.holidays = {"2026-12-25", "2027-01-01"};
  cn.action = QuietAction::reject;
  cn.max_defer = 2h;
  QuietHours everywhere;
  everywhere.name = "everywhere";
  everywhere.allow = "22:00:30-06:00";
  p.quiet_hours = {cn, everywhere};
  p.timezones = {{"86", "Asia/Shanghai"}, {"1212", "America/New_York"}, {"1", "America/Chicago"}};
  p.statuses = {0x4A0, 0x401, 0x4FF};
  p.defer = {0ms, 10ms, 10000, 1s};
  p.history = {0, 24h, true};
  return p;
}

// ------------------------------------------------------------------ valid sections

TEST(ConfigPolicy, LoadsAFullSectionIntoTheExpectedStruct) {
  Policy p = policy_of(kFull);
  EXPECT_TRUE(p.enabled);
  EXPECT_EQ(p.opt_out_scope, policy::OptOutScope::source);
  EXPECT_EQ(p.frequency_caps, full_policy().frequency_caps);
  ASSERT_EQ(p.quiet_hours.size(), 2u);
  EXPECT_EQ(p.quiet_hours[0], full_policy().quiet_hours[0]);
  EXPECT_EQ(p.quiet_hours[1], full_policy().quiet_hours[1]);
  EXPECT_EQ(p.timezones, full_policy().timezones);  // file order, not sorted
  EXPECT_EQ(p.statuses, full_policy().statuses);
  EXPECT_EQ(p.defer, full_policy().defer);
  EXPECT_EQ(p.history, full_policy().history);
  EXPECT_EQ(p, full_policy());
}

TEST(ConfigPolicy, IsOffWithoutTheSection) {
  LoadResult r = load("");
  ASSERT_TRUE(r.ok()) << all(r);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
  EXPECT_FALSE(r.config->policy.enabled);
  EXPECT_EQ(r.config->policy, Policy{});
}

TEST(ConfigPolicy, AnEmptySectionIsOnWithEveryDefault) {
  Policy p = policy_of("policy: {}\n");
  Policy expected;
  expected.enabled = true;
  EXPECT_EQ(p, expected);
  EXPECT_EQ(p.opt_out_scope, policy::OptOutScope::global);
  EXPECT_EQ(p.transactional_opt_out, TransactionalOptOut::enforce);
  EXPECT_EQ(p.audit_retention, 180 * 24h);
  EXPECT_TRUE(p.frequency_caps.empty());
  EXPECT_TRUE(p.quiet_hours.empty());
  EXPECT_TRUE(p.timezones.empty());
  EXPECT_EQ(p.statuses, (PolicyStatuses{0x401, 0x402, 0x403}));
  EXPECT_EQ(p.defer, (Defer{30min, 1s, 200, 60s}));
  EXPECT_EQ(p.history, (History{20, 90 * 24h, false}));
}

TEST(ConfigPolicy, FillsDefaultsInsideEachMapAndRule) {
  Policy p = policy_of(
      "policy:\n"
      "  opt_out: {scope: account}\n"
      "  frequency_caps: [{name: d, limit: 5, window: 1h}]\n"
      "  quiet_hours: [{name: q}]\n"
      "  statuses: {frequency_cap: 0x410}\n"
      "  defer: {batch: 50}\n"
      "  history: {text: true}\n");
  EXPECT_EQ(p.opt_out_scope, policy::OptOutScope::account);
  EXPECT_EQ(p.transactional_opt_out, TransactionalOptOut::enforce);
  EXPECT_EQ(p.audit_retention, 180 * 24h);
  ASSERT_EQ(p.frequency_caps.size(), 1u);
  EXPECT_EQ(p.frequency_caps[0].per, policy::CapScope::recipient);
  ASSERT_EQ(p.quiet_hours.size(), 1u);
  QuietHours q;
  q.name = "q";
  EXPECT_EQ(p.quiet_hours[0], q);
  EXPECT_EQ(p.quiet_hours[0].regions, std::vector<std::string>{"*"});
  EXPECT_EQ(p.quiet_hours[0].allow, "08:00-21:00");
  EXPECT_EQ(p.quiet_hours[0].days.size(), 7u);
  EXPECT_EQ(p.quiet_hours[0].action, QuietAction::defer);
  EXPECT_EQ(p.quiet_hours[0].max_defer, 24h);
  EXPECT_EQ(p.statuses, (PolicyStatuses{0x401, 0x410, 0x403}));
  EXPECT_EQ(p.defer, (Defer{30min, 1s, 50, 60s}));
  EXPECT_EQ(p.history, (History{20, 90 * 24h, true}));
}

TEST(ConfigPolicy, StoresDaysAsLowerCaseThreeLetterNames) {
  Policy p = policy_of("policy:\n  quiet_hours:\n    - name: q\n      days: [SUNDAY, Sat, fri, Thursday, wEd, tue, Mon]\n");
  EXPECT_EQ(p.quiet_hours.at(0).days, (std::vector<std::string>{"sun", "sat", "fri", "thu", "wed", "tue", "mon"}));
}

TEST(ConfigPolicy, AcceptsTheBoundsOfEveryRange) {
  Policy p = policy_of(
      "policy:\n"
      "  opt_out: {audit_retention: 3650d}\n"
      "  frequency_caps: [{name: a, limit: 1000000, window: 1ms}, {name: b, limit: 1, window: 365d}]\n"
      "  quiet_hours: [{name: q, allow: \"00:00-24:00\", max_defer: 1s}]\n"
      "  timezones: {\"123456789012345\": UTC}\n"
      "  statuses: {opted_out: 0x400, frequency_cap: 0x4FF}\n"
      "  defer: {ramp: 365d, poll_interval: 60s, batch: 1, lease: 365d}\n"
      "  history: {keep: 1000, ttl: 1ms}\n");
  EXPECT_EQ(p.audit_retention, 3650 * 24h);
  EXPECT_EQ(p.defer.poll_interval, 60s);
  EXPECT_EQ(p.history.keep, 1000u);
}

TEST(ConfigPolicy, SharesRuleSettingsThroughMergeKeys) {
  Policy p = policy_of(
      "policy:\n"
      "  quiet_hours:\n"
      "    - &night {name: cn-night, regions: [CN], allow: \"08:00-21:00\", action: defer}\n"
      "    - <<: *night\n"
      "      name: hk-night\n"
      "      regions: [HK]\n");
  ASSERT_EQ(p.quiet_hours.size(), 2u);
  EXPECT_EQ(p.quiet_hours[1].name, "hk-night");
  EXPECT_EQ(p.quiet_hours[1].regions, std::vector<std::string>{"HK"});
  EXPECT_EQ(p.quiet_hours[1].allow, "08:00-21:00");
}

TEST(ConfigPolicy, IsNoLongerALaterSection) {
  LoadResult r = load("policy: {}\n");
  for (const auto& d : r.diagnostics) EXPECT_EQ(d.message.find("not supported yet"), std::string::npos) << format(d);
}

// ------------------------------------------------------------------ warnings

TEST(ConfigPolicy, WarnsAboutAStatusOutsideTheVendorRange) {
  LoadResult r = load("policy:\n  statuses:\n    opted_out: 0x08\n    quiet_hours: 0x500\n");
  ASSERT_TRUE(r.ok()) << all(r);
  ASSERT_EQ(r.diagnostics.size(), 2u) << all(r);
  EXPECT_EQ(format(r.diagnostics[0]),
            "p.yaml:16:16: warning: policy.statuses.opted_out: 0x08 is outside the vendor-specific range "
            "0x0400-0x04FF; platforms may take it for a standard SMPP error");
  EXPECT_EQ(r.diagnostics[1].line, 17);
  EXPECT_EQ(r.diagnostics[1].column, 18);
  EXPECT_EQ(r.diagnostics[1].severity, Severity::warning);
  EXPECT_EQ(r.config->policy.statuses.opted_out, 0x08u);
  EXPECT_EQ(r.config->policy.statuses.quiet_hours, 0x500u);
}

TEST(ConfigPolicy, WarnsWhenStarIsListedWithOtherRegions) {
  LoadResult r = load("policy:\n  quiet_hours:\n    - name: q\n      regions: [CN, \"*\"]\n");
  ASSERT_TRUE(r.ok()) << all(r);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(format(r.diagnostics[0]),
            "p.yaml:17:21: warning: policy.quiet_hours[0].regions[1]: \"*\" already matches every region; the "
            "others add nothing");
}

// ------------------------------------------------------------------ errors

TEST(ConfigPolicy, ReportsEveryBadValueAtItsValue) { expect_diagnostics("policy_values.yaml"); }

TEST(ConfigPolicy, ReportsUnknownKeysWrongTypesDuplicatesAndMissingKeys) { expect_diagnostics("policy_shape.yaml"); }

TEST(ConfigPolicy, ReportsAnEmptySection) {
  expect_one("policy:\n", "p.yaml:14:1: policy: expected a map, got nothing");
  expect_one("policy: [opt_out]\n", "p.yaml:14:9: policy: expected a map, got a list");
  expect_one("policy:\n  opt_out: global\n", "p.yaml:15:12: policy.opt_out: expected a map, got 'global'");
}

TEST(ConfigPolicy, ReportsAnAuditRetentionUnder180DaysOrOver10Years) {
  expect_one("policy:\n  opt_out: {audit_retention: 179d}\n",
             "p.yaml:15:30: policy.opt_out.audit_retention: must be at least 180d, got '179d'");
  expect_one("policy:\n  opt_out: {audit_retention: 3651d}\n",
             "p.yaml:15:30: policy.opt_out.audit_retention: duration '3651d' is longer than 3650d");
}

TEST(ConfigPolicy, ReportsBadWindowsDaysAndDates) {
  for (const char* window : {"08:00", "8:00-21:00", "08:00-21:60", "08:00-24:01", "08:00 - 21:00", "\"\""}) {
    LoadResult r = load(std::string("policy:\n  quiet_hours: [{name: q, allow: ") + window + "}]\n");
    ASSERT_EQ(r.error_count(), 1u) << window << "\n" << all(r);
    EXPECT_NE(r.diagnostics[0].message.find("is not a time window"), std::string::npos) << all(r);
    EXPECT_EQ(r.diagnostics[0].line, 15);
  }
  expect_one("policy:\n  quiet_hours: [{name: q, days: [mo]}]\n",
             "p.yaml:15:34: policy.quiet_hours[0].days[0]: 'mo' is not a day of the week (mon, tue, wed, thu, fri, "
             "sat, sun)");
  expect_one("policy:\n  quiet_hours: [{name: q, days: [mon, Monday]}]\n",
             "p.yaml:15:39: policy.quiet_hours[0].days[1]: duplicate day 'Monday' (already in days[0])");
  expect_one("policy:\n  quiet_hours: [{name: q, holidays: [2025-02-29]}]\n",
             "p.yaml:15:38: policy.quiet_hours[0].holidays[0]: '2025-02-29' is not a date (YYYY-MM-DD)");
  expect_one("policy:\n  quiet_hours: [{name: q, days: []}]\n",
             "p.yaml:15:33: policy.quiet_hours[0].days: at least one day is required");
}

TEST(ConfigPolicy, ReportsRegionsLibphonenumberDoesNotKnow) {
  expect_one("policy:\n  quiet_hours: [{name: q, regions: [UK]}]\n",
             "p.yaml:15:37: policy.quiet_hours[0].regions[0]: 'UK' is not a region libphonenumber knows (ISO 3166-1 "
             "alpha-2 such as CN, GB, US; \"*\" for every region)");
  expect_one("policy:\n  quiet_hours: [{name: q, regions: [gb]}]\n",
             "p.yaml:15:37: policy.quiet_hours[0].regions[0]: 'gb' is not a region code; write 'GB'");
  expect_one("policy:\n  quiet_hours: [{name: q, regions: [\"**\"]}]\n",
             "p.yaml:15:37: policy.quiet_hours[0].regions[0]: '**' is not a region libphonenumber knows (ISO 3166-1 "
             "alpha-2 such as CN, GB, US; \"*\" for every region)");
}

TEST(ConfigPolicy, ReportsUnknownZonesWithANearName) {
  expect_one("policy:\n  timezones:\n    \"86\": Asia/Shangai\n",
             "p.yaml:16:11: policy.timezones.86: unknown time zone 'Asia/Shangai' (an IANA name such as "
             "Asia/Shanghai; did you mean 'Asia/Shanghai'?)");
  expect_one("policy:\n  timezones:\n    \"1\": america/new_york\n",
             "p.yaml:16:10: policy.timezones.1: unknown time zone 'america/new_york' (an IANA name such as "
             "Asia/Shanghai; did you mean 'America/New_York'?)");
  expect_one("policy:\n  timezones:\n    \"1\":\n",
             "p.yaml:16:5: policy.timezones.1: expected an IANA time zone name such as Asia/Shanghai, got nothing");
}

TEST(ConfigPolicy, ReportsPrefixesThatAreNotDigits) {
  for (const char* prefix : {"\"+86\"", "\"\"", "\"1234567890123456\"", "\"8 6\"", "x1"}) {
    LoadResult r = load(std::string("policy:\n  timezones:\n    ") + prefix + ": Asia/Shanghai\n");
    ASSERT_EQ(r.error_count(), 1u) << prefix << "\n" << all(r);
    EXPECT_EQ(r.diagnostics[0].line, 16);
    EXPECT_EQ(r.diagnostics[0].column, 5);
    EXPECT_NE(r.diagnostics[0].message.find("is not an E.164 prefix (1 to 15 digits"), std::string::npos) << all(r);
  }
  expect_one("policy:\n  timezones:\n    \"86\": Asia/Shanghai\n    86: Asia/Urumqi\n",
             "p.yaml:17:5: duplicate key '86' in policy.timezones");
}

TEST(ConfigPolicy, ReportsCapAndRuleNamesThatAreNotNames) {
  expect_one("policy:\n  frequency_caps: [{name: \"a:b\", limit: 1, window: 1h}]\n",
             "p.yaml:15:27: policy.frequency_caps[0].name: 'a:b' is not a rule name (1 to 32 letters, digits, '-', "
             "'_' or '.')");
  expect_one("policy:\n  quiet_hours: [{name: abcdefghijabcdefghijabcdefghijabc}]\n",
             "p.yaml:15:24: policy.quiet_hours[0].name: 'abcdefghijabcdefghijabcdefghijabc' is not a rule name (1 to "
             "32 letters, digits, '-', '_' or '.')");
}

TEST(ConfigPolicy, ReportsDurationsOutOfRange) {
  expect_one("policy:\n  defer: {poll_interval: 5ms}\n",
             "p.yaml:15:26: policy.defer.poll_interval: must be at least 10ms, got '5ms'");
  expect_one("policy:\n  defer: {poll_interval: 61s}\n",
             "p.yaml:15:26: policy.defer.poll_interval: duration '61s' is longer than 1m");
  expect_one("policy:\n  frequency_caps: [{name: d, limit: 1, window: 0s}]\n",
             "p.yaml:15:48: policy.frequency_caps[0].window: must be at least 1ms, got '0s'");
  expect_one("policy:\n  history: {ttl: 0}\n", "p.yaml:15:18: policy.history.ttl: must be at least 1ms, got '0'");
}

// ------------------------------------------------------------------ round trip

void expect_round_trip(const std::string& tail) {
  LoadResult r = load(tail);
  ASSERT_TRUE(r.ok()) << all(r);
  std::string yaml = redacted_yaml(*r.config);
  LoadResult again = load_config_string(yaml, "redacted.yaml");
  ASSERT_TRUE(again.ok()) << all(again) << yaml;
  EXPECT_EQ(again.diagnostics.size(), r.diagnostics.size()) << all(again) << yaml;
  EXPECT_EQ(again.config->policy, r.config->policy) << yaml;
  EXPECT_EQ(*again.config, *r.config) << yaml;
}

TEST(ConfigPolicy, RedactedYamlLoadsBackToTheSamePolicy) {
  expect_round_trip(kFull);
  expect_round_trip("policy: {}\n");
  expect_round_trip("policy:\n  quiet_hours: [{name: q, regions: [\"*\"], days: [Sunday]}, {name: n, regions: [NO, \"NE\"]}]\n");
  expect_round_trip("policy:\n  statuses: {opted_out: 0x08}\n  frequency_caps: []\n  timezones: {}\n");
  expect_round_trip("");
}

TEST(ConfigPolicy, RedactedYamlWritesTheSectionOnlyWhenItIsOn) {
  LoadResult off = load("");
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(redacted_yaml(*off.config).find("policy:"), std::string::npos);

  LoadResult on = load("policy: {}\n");
  ASSERT_TRUE(on.ok());
  std::string yaml = redacted_yaml(on.config.value());
  EXPECT_NE(yaml.find("policy:\n  opt_out:\n    scope: global\n    transactional: enforce\n    audit_retention: 180d\n"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("  statuses:\n    opted_out: 0x0401\n"), std::string::npos) << yaml;
  // In the documented order, before log.
  EXPECT_LT(yaml.find("no_route_status:"), yaml.find("policy:"));
  EXPECT_LT(yaml.find("policy:"), yaml.find("log:"));
}

TEST(ConfigPolicy, RedactedYamlQuotesPrefixesAndKeepsTheirOrder) {
  LoadResult r = load(kFull);
  ASSERT_TRUE(r.ok()) << all(r);
  std::string yaml = redacted_yaml(*r.config);
  EXPECT_NE(yaml.find("  timezones:\n    \"86\": Asia/Shanghai\n    \"1212\": America/New_York\n    \"1\": "
                      "America/Chicago\n"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("days: [mon, tue, wed, thu, fri]"), std::string::npos) << yaml;
}

}  // namespace
}  // namespace smsgate::config
