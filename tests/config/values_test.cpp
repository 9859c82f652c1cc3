// Durations, statuses, addresses, IPs and CIDRs as the config file writes them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "config/values.hpp"

namespace smsgate::config {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

// Each input fails to parse with an error containing its phrase.
template <class Parse>
void expect_errors(Parse parse, std::initializer_list<std::pair<const char*, const char*>> cases) {
  for (const auto& [input, phrase] : cases) {
    auto p = parse(input);
    EXPECT_FALSE(p) << input;
    EXPECT_THAT(p.error, HasSubstr(phrase)) << input;
  }
}

TEST(ConfigDuration, ParsesEveryUnit) {
  EXPECT_EQ(*parse_duration("500ms"), 500ms);
  EXPECT_EQ(*parse_duration("2s"), 2s);
  EXPECT_EQ(*parse_duration("30m"), 30min);
  EXPECT_EQ(*parse_duration("24h"), 24h);
  EXPECT_EQ(*parse_duration("7d"), 168h);
  EXPECT_EQ(*parse_duration("0"), 0ms);
  EXPECT_EQ(*parse_duration("0s"), 0ms);
  EXPECT_EQ(*parse_duration("365d"), 365 * 24h);
}

TEST(ConfigDuration, RejectsMissingUnitsUnknownUnitsSignsFractionsAndHugeValues) {
  expect_errors(parse_duration, {
      {"10", "has no unit"},
      {"2sec", "unknown unit 'sec'"},
      {"1w", "unknown unit 'w'"},
      {"-2s", "bad duration"},
      {"1.5s", "bad duration"},
      {"2 s", "bad duration"},
      {"", "bad duration"},
      {"366d", "longer than 365d"},
      {"99999999999999999999999s", "longer than 365d"},
  });
}

TEST(ConfigDuration, TakesAnotherUpperBoundWhenAKeyAllowsOne) {
  EXPECT_EQ(*parse_duration_at_most("3650d", 3650 * 24h), 3650 * 24h);
  EXPECT_EQ(*parse_duration_at_most("87600h", 3650 * 24h), 3650 * 24h);
  EXPECT_EQ(*parse_duration_at_most("60s", 60s), 60s);
  EXPECT_EQ(*parse_duration_at_most("0d", 60s), 0ms);
  expect_errors([](std::string_view t) { return parse_duration_at_most(t, 3650 * 24h); }, {
      {"3651d", "longer than 3650d"},
      {"10", "has no unit"},
  });
  expect_errors([](std::string_view t) { return parse_duration_at_most(t, 60s); }, {
      {"61s", "longer than 1m"},
      {"1d", "longer than 1m"},
      {"60001ms", "longer than 1m"},
  });
}

TEST(ConfigDuration, FormatsInTheLargestExactUnit) {
  EXPECT_EQ(format_duration(72h), "3d");
  EXPECT_EQ(format_duration(90min), "90m");
  EXPECT_EQ(format_duration(1500ms), "1500ms");
  EXPECT_EQ(format_duration(0ms), "0");
  for (Duration d : std::initializer_list<Duration>{1ms, 2s, 61s, 25h}) EXPECT_EQ(*parse_duration(format_duration(d)), d);
}

TEST(ConfigStatus, ParsesDecimalAndHex) {
  EXPECT_EQ(*parse_status("8"), 8u);
  EXPECT_EQ(*parse_status("0x08"), 8u);
  EXPECT_EQ(*parse_status("0X58"), 0x58u);
  EXPECT_EQ(*parse_status("0xFFFFFFFF"), 0xFFFFFFFFu);
  EXPECT_EQ(format_status(8), "0x08");
  EXPECT_EQ(format_status(0x400), "0x0400");
}

TEST(ConfigStatus, RejectsValuesAbove32BitsAndOtherText) {
  for (const char* bad : {"0x100000000", "4294967296", "-1", "0x", "0x-1", "0x+1", "ESME_RSYSERR", ""}) {
    EXPECT_FALSE(parse_status(bad)) << bad;
  }
}

TEST(ConfigAddress, ParsesNamesIpv4AndBracketedIpv6) {
  EXPECT_EQ(*parse_host_port("smsc.example.com:2775"), (HostPort{"smsc.example.com", 2775}));
  EXPECT_EQ(*parse_host_port("127.0.0.1:1"), (HostPort{"127.0.0.1", 1}));
  EXPECT_EQ(*parse_host_port("[::1]:65535"), (HostPort{"::1", 65535}));
  EXPECT_EQ(parse_host_port("[2001:db8::1]:2775")->to_string(), "[2001:db8::1]:2775");
  EXPECT_EQ(parse_host_port("localhost:6379")->to_string(), "localhost:6379");
}

TEST(ConfigAddress, RejectsNoPortBadPortsBadIpsAndUnbracketedIpv6) {
  expect_errors(parse_host_port, {
      {"127.0.0.1", "has no port"},
      {"127.0.0.1:", "has no port"},
      {"[::1]", "has no port"},
      {"h:70000", "port 70000 is out of range"},
      {"h:0", "out of range"},
      {"h:99999999999999999999", "out of range"},
      {"h:http", "bad port"},
      {"[2001:db8::g]:1", "bad IPv6 address"},
      {"[1::2::3]:1", "bad IPv6 address"},
      {"[::1:1", "no ']'"},
      {"::1:2775", "needs brackets"},
      {"256.0.0.1:1", "bad IPv4 address"},
      {"1.2.3:1", "bad IPv4 address"},
      {"bad host:1", "bad host name"},
      {":2775", "has no host"},
  });
  EXPECT_FALSE(parse_host_port(""));
}

TEST(ConfigAddress, RedisTakesUnixSocketsWithAbsolutePaths) {
  auto r = parse_redis_address("unix:/run/redis.sock");
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->is_unix());
  EXPECT_EQ(r->to_string(), "unix:/run/redis.sock");
  EXPECT_FALSE(parse_redis_address("unix:redis.sock"));
  EXPECT_FALSE(parse_redis_address("unix:"));
  EXPECT_EQ(parse_redis_address("127.0.0.1:6379")->tcp, (HostPort{"127.0.0.1", 6379}));
  EXPECT_FALSE(parse_host_port("unix:/run/redis.sock"));  // not for SMPP
}

TEST(ConfigIp, ParsesAndPrintsIpv6InRfc5952Form) {
  for (auto [in, out] : {std::pair{"::", "::"}, {"::1", "::1"}, {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
                         {"2001:db8:0:1:0:0:0:1", "2001:db8:0:1::1"}, {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},
                         {"::ffff:192.0.2.1", "::ffff:c000:201"}, {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"},
                         {"fe80::", "fe80::"}}) {
    auto ip = parse_ip(in);
    ASSERT_TRUE(ip) << in;
    EXPECT_EQ(ip->to_string(), out) << in;
  }
  for (const char* bad : {":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "12345::", "::g", "1:", ":1",
                          "fe80::1%eth0", "::1.2.3", "1.2.3.4::"}) {
    EXPECT_FALSE(parse_ip(bad)) << bad;
  }
}

TEST(ConfigIp, ParsesIpv4StrictlyWithoutLeadingZeros) {
  EXPECT_EQ(parse_ip("192.0.2.255")->to_string(), "192.0.2.255");
  for (const char* bad : {"010.0.0.1", "1.2.3.4.5", "1.2.3", "1..2.3", "256.1.1.1", "1.2.3.-4", "a.b.c.d", ""}) {
    EXPECT_FALSE(parse_ip(bad)) << bad;
  }
}

TEST(ConfigCidr, MatchesAddressesInsideThePrefixOnly) {
  Cidr ten = *parse_cidr("10.0.0.0/8");
  EXPECT_TRUE(ten.contains(*parse_ip("10.255.1.2")));
  EXPECT_FALSE(ten.contains(*parse_ip("11.0.0.1")));
  EXPECT_TRUE(ten.contains(*parse_ip("::ffff:10.1.2.3")));  // a v4-mapped peer on a dual-stack socket
  EXPECT_FALSE(ten.contains(*parse_ip("2001:db8::1")));
  Cidr v6 = *parse_cidr("2001:db8::/32");
  EXPECT_TRUE(v6.contains(*parse_ip("2001:db8:ffff::1")));
  EXPECT_FALSE(v6.contains(*parse_ip("2001:db9::1")));
  EXPECT_FALSE(v6.contains(*parse_ip("10.0.0.1")));
  EXPECT_TRUE(parse_cidr("0.0.0.0/0")->contains(*parse_ip("203.0.113.9")));
  EXPECT_TRUE(parse_cidr("::/0")->contains(*parse_ip("2001:db8::1")));
  Cidr odd = *parse_cidr("192.168.1.128/25");
  EXPECT_TRUE(odd.contains(*parse_ip("192.168.1.200")));
  EXPECT_FALSE(odd.contains(*parse_ip("192.168.1.127")));
}

TEST(ConfigCidr, ClearsHostBitsWhenNormalized) {
  Cidr c = *parse_cidr("10.1.2.3/8");
  EXPECT_TRUE(c.has_host_bits());
  EXPECT_EQ(c.normalized().to_string(), "10.0.0.0/8");
  EXPECT_FALSE(parse_cidr("10.0.0.0/8")->has_host_bits());
  EXPECT_EQ(parse_cidr("2001:db8::1/64")->normalized().to_string(), "2001:db8::/64");
}

TEST(ConfigCidr, RejectsBadPrefixLengthsAndAddresses) {
  expect_errors(parse_cidr, {
      {"10.0.0.0/33", "bad prefix length '33'"},
      {"::/129", "bad prefix length '129'"},
      {"10.0.0.0/", "bad prefix length"},
      {"10.0.0.0/-1", "bad prefix length"},
      {"10.0.0.0/0008", "bad prefix length"},
      {"10.0.0.0", "has no prefix length"},
      {"10.0.0.300/8", "bad IPv4 address"},
      {"2001:db8:::/32", "bad IPv6 address"},
  });
}

TEST(ConfigRegion, AcceptsAssignedIsoCodesOnly) {
  for (const char* ok : {"CN", "GB", "US", "DE", "ZW", "AD"}) EXPECT_TRUE(is_region_code(ok)) << ok;
  for (const char* bad : {"UK", "cn", "C", "CHN", "EU", "", "ZZ"}) EXPECT_FALSE(is_region_code(bad)) << bad;
}

}  // namespace
}  // namespace smsgate::config
