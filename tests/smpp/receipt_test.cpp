#include <gtest/gtest.h>

#include "smpp/receipt.hpp"

namespace smsgate::smpp {
namespace {

constexpr std::string_view kStandard =
    "id:0A1B2C3D sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:DELIVRD err:000 text:Hello world";

TEST(Receipt, ParsesEveryAppendixBField) {
  auto r = parse_receipt(kStandard);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, "0A1B2C3D");
  EXPECT_EQ(r->sub, "001");
  EXPECT_EQ(r->dlvrd, "001");
  EXPECT_EQ(r->submit_date, "2611231200");
  EXPECT_EQ(r->done_date, "2611231201");
  EXPECT_EQ(r->stat, "DELIVRD");
  EXPECT_EQ(r->err, "000");
  EXPECT_EQ(r->text, "Hello world");
  EXPECT_EQ(state_from_stat(r->stat), MessageState::delivered);
}

TEST(Receipt, AcceptsLowerCaseKeysAndMissingFields) {
  auto r = parse_receipt("ID:0042 Stat:UNDELIV Err:034");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, "0042");
  EXPECT_EQ(r->stat, "UNDELIV");
  EXPECT_EQ(r->err, "034");
  EXPECT_EQ(r->submit_date, "");
}

TEST(Receipt, KeyWordsInsideTheTextAreNotFields) {
  auto r = parse_receipt("id:7 stat:DELIVRD err:000 text:stat:REJECTD id:99");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, "7");
  EXPECT_EQ(r->stat, "DELIVRD");
  EXPECT_EQ(r->text, "stat:REJECTD id:99");
}

TEST(Receipt, WithoutAnIdIsNotAReceipt) {
  EXPECT_FALSE(parse_receipt("stat:DELIVRD err:000"));
  EXPECT_FALSE(parse_receipt(""));
  EXPECT_FALSE(parse_receipt("TD"));
}

TEST(Receipt, RewritingTheIdChangesNothingElse) {
  auto out = rewrite_receipt_id(kStandard, "gw1-000000000001");
  ASSERT_TRUE(out);
  EXPECT_EQ(*out,
            "id:gw1-000000000001 sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:DELIVRD err:000 "
            "text:Hello world");
}

TEST(Receipt, FormatThenParseGivesTheSameFields) {
  Receipt r;
  r.id = "00000123";
  r.sub = "001";
  r.dlvrd = "000";
  r.submit_date = "2611231200";
  r.done_date = "2611231300";
  r.stat = std::string(stat_text(MessageState::expired));
  r.err = "000";
  r.text = "";
  std::string text = format_receipt(r);
  EXPECT_EQ(text, "id:00000123 sub:001 dlvrd:000 submit date:2611231200 done date:2611231300 stat:EXPIRED err:000 text:");
  auto back = parse_receipt(text);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->stat, "EXPIRED");
  EXPECT_EQ(back->id, "00000123");
}

TEST(Receipt, EsmClassReceiptBits) {
  EXPECT_TRUE(is_receipt_esm_class(0x04));
  EXPECT_TRUE(is_receipt_esm_class(0x44));  // receipt with UDHI
  EXPECT_FALSE(is_receipt_esm_class(0x00));
  EXPECT_FALSE(is_receipt_esm_class(0x40));
}

TEST(Receipt, StatWordsMapToMessageStates) {
  EXPECT_EQ(state_from_stat("UNDELIV"), MessageState::undeliverable);
  EXPECT_EQ(state_from_stat("expired"), MessageState::expired);
  EXPECT_EQ(state_from_stat("REJECTD"), MessageState::rejected);
  EXPECT_FALSE(state_from_stat("BOGUS"));
}

}  // namespace
}  // namespace smsgate::smpp
