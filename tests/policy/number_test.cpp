#include <gtest/gtest.h>

#include "policy/number.hpp"

namespace smsgate::policy {
namespace {

TEST(Number, InternationalChineseMobileIsE164InCN) {
  auto n = normalise_number("8613800138000", ton::international, "");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->e164, "8613800138000");
  EXPECT_EQ(n->region, "CN");
}

TEST(Number, NationalNumberUsesTheAccountsDefaultRegion) {
  auto cn = normalise_number("13800138000", ton::national, "CN");
  ASSERT_TRUE(cn);
  EXPECT_EQ(cn->e164, "8613800138000");
  auto fr = normalise_number("0612345678", ton::national, "FR");
  ASSERT_TRUE(fr);
  EXPECT_EQ(fr->e164, "33612345678");
  EXPECT_EQ(fr->region, "FR");
}

TEST(Number, NationalNumberWithoutDefaultRegionIsRefusedWithAReason) {
  std::string why;
  EXPECT_FALSE(normalise_number("13800138000", ton::national, "", &why));
  EXPECT_NE(why.find("default_region"), std::string::npos);
}

TEST(Number, UnknownTonAcceptsPlusAndDoubleZeroPrefixes) {
  auto a = normalise_number("+12125550123", ton::unknown, "CN");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->e164, "12125550123");
  EXPECT_EQ(a->region, "US");
  auto b = normalise_number("0033612345678", ton::unknown, "CN");
  ASSERT_TRUE(b);
  EXPECT_EQ(b->e164, "33612345678");
}

TEST(Number, UnknownTonFallsBackToNationalFormat) {
  auto n = normalise_number("13800138000", ton::unknown, "CN");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->e164, "8613800138000");
}

TEST(Number, GarbageAndAlphanumericAreRefused) {
  std::string why;
  EXPECT_FALSE(normalise_number("ACME", ton::alphanumeric, "CN", &why));
  EXPECT_FALSE(normalise_number("12ab34", ton::international, "CN", &why));
  EXPECT_NE(why.find("digits"), std::string::npos);
  EXPECT_FALSE(normalise_number("", ton::international, "CN"));
  EXPECT_FALSE(normalise_number("861", ton::international, "CN"));
}

TEST(Number, RegionOfKnownNumbers) {
  EXPECT_EQ(region_of("33612345678"), "FR");
  EXPECT_EQ(region_of("14155550123"), "US");
  EXPECT_EQ(region_of("8613800138000"), "CN");
}

TEST(Number, MaskedForLogsKeepingPrefixAndLastFour) {
  EXPECT_EQ(mask_number("8613800138000"), "+86138****8000");
  EXPECT_EQ(mask_number("+8613800138000"), "+86138****8000");
  EXPECT_EQ(mask_number("10690"), "+10****90");
  EXPECT_EQ(mask_number("123"), "+****");
}

}  // namespace
}  // namespace smsgate::policy
