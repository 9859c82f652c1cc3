// User Data Header (3GPP TS 23.040 §9.2.3.24), splitting a text into
// concatenated parts and reassembling them.
#include "smpp/udh.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <string>

namespace smsgate::smpp {
namespace {

using namespace std::chrono_literals;
using Clock = Reassembler::Clock;

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (const int v : values) out += static_cast<char>(v);
  return out;
}

// TS 23.040 §9.2.3.24.1: UDHL 5, IEI 00, length 3, ref, total, seq.
const std::string kConcat8Udh = bytes({0x05, 0x00, 0x03, 0x2A, 0x03, 0x01});
// §9.2.3.24.8: UDHL 6, IEI 08, length 4, 16-bit ref, total, seq.
const std::string kConcat16Udh = bytes({0x06, 0x08, 0x04, 0x12, 0x34, 0x02, 0x02});
// §9.2.3.24.4 16-bit application ports (IEI 05) before an 8-bit concatenation.
const std::string kPortsThenConcatUdh =
    bytes({0x0B, 0x05, 0x04, 0x0B, 0x84, 0x23, 0xF0, 0x00, 0x03, 0x07, 0x02, 0x01});

// parse_udh on `udh` + `payload` finds `concat` and gives the payload back.
void expect_concat_parsed(const std::string& udh, std::string_view payload, const Concat& concat) {
  const std::string message = udh + std::string(payload);  // the split's payload views into it
  const auto split = parse_udh(message);
  ASSERT_TRUE(split);
  EXPECT_EQ(split->header_length, udh.size());
  EXPECT_EQ(split->payload, payload);
  EXPECT_EQ(split->udh.concat(), concat);
}

TEST(Udh, ParsesEightBitConcatenation) {
  expect_concat_parsed(kConcat8Udh, "hello", Concat{0x2A, 3, 1, false});
}

TEST(Udh, ParsesSixteenBitConcatenation) {
  expect_concat_parsed(kConcat16Udh, "xy", Concat{0x1234, 2, 2, true});
}

TEST(Udh, BuildsConcatenationHeadersByteForByte) {
  EXPECT_EQ(build_udh(concat_udh(Concat{0x2A, 3, 1, false})), kConcat8Udh);
  EXPECT_EQ(build_udh(concat_udh(Concat{0x1234, 2, 2, true})), kConcat16Udh);
}

TEST(Udh, EightBitReferenceKeepsTheLowByte) {
  EXPECT_EQ(concat_udh(Concat{0x1234, 2, 1, false}).concat(), (Concat{0x34, 2, 1, false}));
}

TEST(Udh, UnknownIeIsKeptInOrderAndRebuiltExactly) {
  const std::string message = kPortsThenConcatUdh + "body";  // payload views into it
  const auto split = parse_udh(message);
  ASSERT_TRUE(split);
  ASSERT_EQ(split->udh.ies.size(), 2u);
  EXPECT_EQ(split->udh.ies[0], (UdhIe{0x05, bytes({0x0B, 0x84, 0x23, 0xF0})}));
  EXPECT_EQ(split->udh.ies[1].iei, 0x00);
  EXPECT_EQ(split->udh.concat(), (Concat{0x07, 2, 1, false}));
  EXPECT_EQ(split->payload, "body");
  EXPECT_EQ(build_udh(split->udh), kPortsThenConcatUdh);
}

TEST(Udh, EmptyHeaderIsJustTheLengthOctet) {
  const std::string message = bytes({0x00, 'h', 'i'});
  const auto split = parse_udh(message);
  ASSERT_TRUE(split);
  EXPECT_TRUE(split->udh.ies.empty());
  EXPECT_FALSE(split->udh.concat());
  EXPECT_EQ(split->payload, "hi");
  EXPECT_EQ(build_udh(Udh{}), bytes({0x00}));
}

TEST(Udh, HeaderTakingTheWholeMessageLeavesAnEmptyPayload) {
  const auto split = parse_udh(kConcat8Udh);
  ASSERT_TRUE(split);
  EXPECT_TRUE(split->payload.empty());
}

TEST(Udh, LastConcatenationIeWins) {
  const auto split = parse_udh(bytes({0x0B, 0x00, 0x03, 0x01, 0x02, 0x01, 0x08, 0x04, 0x00, 0x09, 0x03, 0x03}));
  ASSERT_TRUE(split);
  EXPECT_EQ(split->udh.concat(), (Concat{0x0009, 3, 3, true}));
}

TEST(Udh, MalformedLengthsGiveNothing) {
  EXPECT_FALSE(parse_udh(""));                                           // no UDHL
  EXPECT_FALSE(parse_udh(bytes({0x05, 0x00, 0x03, 0x2A, 0x03})));        // UDHL past the data
  EXPECT_FALSE(parse_udh(bytes({0xFF})));                                // UDHL past the data
  EXPECT_FALSE(parse_udh(bytes({0x01, 0x00, 'x'})));                     // IEI without its length
  EXPECT_FALSE(parse_udh(bytes({0x03, 0x00, 0x03, 0x2A, 0x03, 0x01})));  // IE length past UDHL
  EXPECT_FALSE(parse_udh(bytes({0x04, 0x24, 0x00, 0x70, 0x05, 0x00})));  // trailing byte in UDHL
  EXPECT_FALSE(parse_udh(bytes({0x02, 0x70, 0x01})));                    // IE data missing
}

TEST(Udh, MalformedConcatenationIeGivesNothing) {
  EXPECT_FALSE(parse_udh(bytes({0x04, 0x00, 0x02, 0x2A, 0x01})));              // 8-bit, length 2
  EXPECT_FALSE(parse_udh(bytes({0x06, 0x00, 0x04, 0x2A, 0x01, 0x01, 0x01})));  // 8-bit, length 4
  EXPECT_FALSE(parse_udh(bytes({0x05, 0x08, 0x03, 0x2A, 0x01, 0x01})));        // 16-bit, length 3
  EXPECT_FALSE(parse_udh(bytes({0x05, 0x00, 0x03, 0x2A, 0x00, 0x00})));        // total 0
  EXPECT_FALSE(parse_udh(bytes({0x05, 0x00, 0x03, 0x2A, 0x02, 0x00})));        // seq 0
  EXPECT_FALSE(parse_udh(bytes({0x05, 0x00, 0x03, 0x2A, 0x02, 0x03})));        // seq > total
  EXPECT_FALSE(parse_udh(bytes({0x06, 0x08, 0x04, 0x00, 0x01, 0x02, 0x03})));  // 16-bit seq > total
}

TEST(Udh, BuildLeavesOutWhatCannotBeEncoded) {
  Udh udh;
  udh.ies.push_back(UdhIe{0x70, std::string(256, 'x')});
  udh.ies.push_back(UdhIe{0x71, std::string(249, 'y')});
  udh.ies.push_back(UdhIe{0x72, std::string(10, 'z')});  // would take UDHL past 255
  udh.ies.push_back(UdhIe{0x73, "ok"});                  // takes it to exactly 255
  const std::string built = build_udh(udh);
  EXPECT_EQ(built.size(), 256u);
  EXPECT_EQ(static_cast<uint8_t>(built[0]), 255u);
  const auto split = parse_udh(built);
  ASSERT_TRUE(split);
  ASSERT_EQ(split->udh.ies.size(), 2u);
  EXPECT_EQ(split->udh.ies[0].iei, 0x71);
  EXPECT_EQ(split->udh.ies[1], (UdhIe{0x73, "ok"}));
}

TEST(SplitText, ShortTextIsOnePartWithoutHeader) {
  const auto parts = split_text("hello", 1);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].short_message, "hello");
  EXPECT_EQ(parts[0].data_coding, coding::smsc_default);
}

TEST(SplitText, LongGsmTextGetsConcatenationHeaders) {
  const auto parts = split_text(std::string(161, 'a'), 0x2A);
  ASSERT_EQ(parts.size(), 2u);
  for (uint8_t seq = 1; seq <= 2; ++seq) {
    const auto split = parse_udh(parts[seq - 1].short_message);
    ASSERT_TRUE(split);
    EXPECT_EQ(split->udh.concat(), (Concat{0x2A, 2, seq, false}));
    EXPECT_EQ(parts[seq - 1].data_coding, coding::smsc_default);
  }
  EXPECT_EQ(parts[0].short_message, bytes({0x05, 0x00, 0x03, 0x2A, 0x02, 0x01}) + std::string(153, 'a'));
  EXPECT_EQ(parts[1].short_message, bytes({0x05, 0x00, 0x03, 0x2A, 0x02, 0x02}) + std::string(8, 'a'));
}

TEST(SplitText, SixteenBitReferenceFits152SeptetsPerPart) {
  const auto parts = split_text(std::string(304, 'a'), 0xBEEF, true);
  ASSERT_EQ(parts.size(), 2u);
  const auto split = parse_udh(parts[0].short_message);
  ASSERT_TRUE(split);
  EXPECT_EQ(split->udh.concat(), (Concat{0xBEEF, 2, 1, true}));
  EXPECT_EQ(split->payload.size(), 152u);
}

TEST(SplitText, EscapePairMovesWholeToTheNextPart) {
  const auto parts = split_text(std::string(152, 'a') + "\u20AC" + std::string(10, 'b'), 9);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parse_udh(parts[0].short_message)->payload, std::string(152, 'a'));
  EXPECT_EQ(parse_udh(parts[1].short_message)->payload, bytes({0x1B, 0x65}) + std::string(10, 'b'));
}

TEST(SplitText, Ucs2PartsStayWithin140Octets) {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "\u4F60\U0001F600";
  const auto parts = split_text(text, 3);
  ASSERT_EQ(parts.size(), 5u);  // 300 units, surrogate pairs whole: 66 per part
  for (const auto& part : parts) {
    EXPECT_EQ(part.data_coding, coding::ucs2);
    EXPECT_LE(part.short_message.size(), 140u);
  }
}

TEST(SplitText, MoreThan255PartsGivesNothing) {
  EXPECT_EQ(split_text(std::string(153 * 255, 'a'), 1).size(), 255u);
  EXPECT_TRUE(split_text(std::string(153 * 255 + 1, 'a'), 1).empty());
}

// Feeds split_text's parts through parse_udh and a Reassembler in `order`.
std::optional<Reassembler::Message> reassemble(const std::vector<Part>& parts, const std::vector<size_t>& order) {
  Reassembler r;
  std::optional<Reassembler::Message> done;
  for (const size_t i : order) {
    const auto split = parse_udh(parts[i].short_message);
    if (!split || !split->udh.concat()) return std::nullopt;
    auto result = r.add("447700900123", *split->udh.concat(), std::string(split->payload), Clock::time_point{});
    if (result) done = std::move(result);
  }
  return done;
}

TEST(Reassembler, SplitThenReassembledInReverseGivesTheText) {
  const std::string text = std::string(400, 'x') + "[\u20AC]";
  const auto parts = split_text(text, 77);
  ASSERT_EQ(parts.size(), 3u);
  const auto done = reassemble(parts, {2, 1, 0});
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->complete);
  EXPECT_EQ(done->ref, 77);
  EXPECT_EQ(done->key, "447700900123");
  EXPECT_EQ(decode_text(done->joined(), parts[0].data_coding), text);
}

TEST(Reassembler, ShuffledUcs2PartsReassembleToTheText) {
  std::string text;
  for (int i = 0; i < 120; ++i) text += "\u4E2D\u6587\U0001F600";
  const auto parts = split_text(text, 0x0102, true);
  ASSERT_GT(parts.size(), 5u);
  std::vector<size_t> order(parts.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(23040));
  const auto done = reassemble(parts, order);
  ASSERT_TRUE(done);
  EXPECT_EQ(decode_text(done->joined(), coding::ucs2), text);
}

// One originator "a" and reference 5 unless a test says otherwise; times are
// offsets from t0.
class Reassembly : public ::testing::Test {
 protected:
  std::optional<Reassembler::Message> part(uint8_t seq, uint8_t total, std::string body,
                                           Clock::duration at = {}, std::string_view key = "a", uint16_t ref = 5) {
    return r.add(key, Concat{ref, total, seq, false}, std::move(body), t0 + at);
  }

  Reassembler r;
  const Clock::time_point t0 = Clock::time_point{} + 1h;
};

TEST_F(Reassembly, CompletesOnlyWhenEveryPartIsIn) {
  EXPECT_FALSE(part(3, 3, "three"));
  EXPECT_FALSE(part(1, 3, "one"));
  EXPECT_EQ(r.pending(), 1u);
  const auto done = part(2, 3, "two");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->parts, (std::vector<std::string>{"one", "two", "three"}));
  EXPECT_EQ(done->joined(), "onetwothree");
  EXPECT_EQ(r.pending(), 0u);
}

TEST_F(Reassembly, DuplicatePartReplacesTheEarlierCopyAndDoesNotCount) {
  EXPECT_FALSE(part(1, 2, "old"));
  EXPECT_FALSE(part(1, 2, "new"));
  const auto done = part(2, 2, "!");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->joined(), "new!");
}

TEST_F(Reassembly, EmptyBodyStillCountsAsAPart) {
  EXPECT_FALSE(part(1, 2, ""));
  EXPECT_TRUE(part(2, 2, "x"));
}

TEST_F(Reassembly, DifferentOriginatorsOrReferencesDoNotMix) {
  EXPECT_FALSE(part(1, 2, "a1"));
  EXPECT_FALSE(part(2, 2, "b2", {}, "b"));
  EXPECT_FALSE(part(2, 2, "a6", {}, "a", 6));
  EXPECT_EQ(r.pending(), 3u);
  const auto done = part(2, 2, "a2");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->joined(), "a1a2");
}

TEST_F(Reassembly, PartWithADifferentTotalStartsASeparateMessage) {
  EXPECT_FALSE(part(1, 3, "old1"));
  EXPECT_FALSE(part(1, 2, "new1", 1s));
  EXPECT_EQ(r.pending(), 2u);
  const auto done = part(2, 2, "new2", 2s);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->total, 2);
  EXPECT_EQ(done->joined(), "new1new2");
  const auto expired = r.expire(t0 + 2min, 1min);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].total, 3);
  EXPECT_EQ(expired[0].parts[0], "old1");
}

TEST_F(Reassembly, SinglePartMessageCompletesAtOnce) {
  const auto done = part(1, 1, "whole");
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->complete);
  EXPECT_EQ(done->joined(), "whole");
  EXPECT_EQ(r.pending(), 0u);
}

TEST_F(Reassembly, MalformedConcatIsIgnored) {
  EXPECT_FALSE(part(0, 0, "x"));
  EXPECT_FALSE(part(0, 2, "x"));
  EXPECT_FALSE(part(3, 2, "x"));
  EXPECT_EQ(r.pending(), 0u);
}

TEST_F(Reassembly, TimeoutHandsBackTheIncompleteMessageAsItStands) {
  EXPECT_FALSE(part(2, 3, "two"));
  EXPECT_FALSE(part(3, 3, "three", 50s));
  EXPECT_TRUE(r.expire(t0 + 60s, 60s).empty());  // not older than the timeout yet
  EXPECT_EQ(r.pending(), 1u);
  const auto expired = r.expire(t0 + 61s, 60s);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_FALSE(expired[0].complete);
  EXPECT_EQ(expired[0].key, "a");
  EXPECT_EQ(expired[0].ref, 5);
  EXPECT_EQ(expired[0].parts, (std::vector<std::string>{"", "two", "three"}));
  EXPECT_EQ(expired[0].joined(), "twothree");
  EXPECT_EQ(r.pending(), 0u);
  // A late part starts over rather than completing something handed back.
  EXPECT_FALSE(part(1, 3, "one", 62s));
}

TEST_F(Reassembly, ExpireTakesOnlyTheOldOnes) {
  part(1, 2, "x", {}, "old");
  part(1, 2, "y", 30s, "new");
  const auto expired = r.expire(t0 + 45s, 20s);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].key, "old");
  EXPECT_EQ(r.pending(), 1u);
}

TEST_F(Reassembly, CapDropsTheOldestPendingMessage) {
  r = Reassembler(2);
  part(1, 2, "s", 1s, "second");
  part(1, 2, "f", {}, "first");
  part(1, 2, "t", 2s, "third");
  EXPECT_EQ(r.pending(), 2u);
  EXPECT_EQ(r.evicted(), 1u);
  EXPECT_TRUE(part(2, 2, "s2", 3s, "second"));
  EXPECT_TRUE(part(2, 2, "t2", 3s, "third"));
  EXPECT_FALSE(part(2, 2, "f2", 3s, "first"));  // its first part was dropped
  EXPECT_EQ(r.pending(), 1u);
}

TEST_F(Reassembly, CapCountsMessagesNotParts) {
  r = Reassembler(1);
  EXPECT_FALSE(part(1, 3, "1"));
  EXPECT_FALSE(part(2, 3, "2"));
  EXPECT_TRUE(part(3, 3, "3"));
  EXPECT_EQ(r.evicted(), 0u);
}

}  // namespace
}  // namespace smsgate::smpp
