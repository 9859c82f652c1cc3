// Optional parameters (SMPP 3.4 §3.2.1.5, §5.3): the typed accessors, and
// how the decoder reads a TLV stream after any body.
// PDUs are written with designated initializers that leave the other fields
// at their defaults; GCC 12 warns about that under -Wextra (fixed in GCC 14).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <gtest/gtest.h>

#include <string>

#include "smpp/codec.hpp"
#include "smpp/status.hpp"

namespace smsgate::smpp {
namespace {

using namespace status;

std::span<const uint8_t> octets(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// enquire_link_resp (header only in 3.4) followed by `trailing` octets, with
// command_length counted here.
std::string enquire_link_resp_with(const std::string& trailing) {
  const auto length = static_cast<uint32_t>(16 + trailing.size());
  const std::string command_length{static_cast<char>(length >> 24), static_cast<char>(length >> 16),
                                   static_cast<char>(length >> 8), static_cast<char>(length)};
  return command_length +
         std::string("\x80\x00\x00\x15"   // command_id enquire_link_resp
                     "\x00\x00\x00\x00"   // command_status
                     "\x00\x00\x00\x07",  // sequence_number 7
                     12) +
         trailing;
}

std::string tlv(uint16_t tag, const std::string& value) {
  return std::string{static_cast<char>(tag >> 8), static_cast<char>(tag), static_cast<char>(value.size() >> 8),
                     static_cast<char>(value.size())} +
         value;
}

// ---------------------------------------------------------------------------
// Accessors.

TEST(Tlvs, FindReturnsTheFirstTlvWithTheTag) {
  const Tlvs tlvs{{{0x1400, "a"}, {0x1401, "b"}, {0x1400, "c"}}};
  ASSERT_NE(tlvs.find(0x1400), nullptr);
  EXPECT_EQ(tlvs.find(0x1400)->value, "a");
  EXPECT_EQ(tlvs.find(0x1402), nullptr);
}

TEST(Tlvs, SetReplacesTheFirstInPlaceAndKeepsTheOrder) {
  Tlvs tlvs{{{0x1400, "a"}, {0x1401, "b"}, {0x1400, "c"}}};
  tlvs.set(0x1400, "A");
  EXPECT_EQ(tlvs, (Tlvs{{{0x1400, "A"}, {0x1401, "b"}, {0x1400, "c"}}}));
}

TEST(Tlvs, SetAppendsWhenTheTagIsAbsent) {
  Tlvs tlvs{{{0x1400, "a"}}};
  tlvs.set(0x1401, "b");
  EXPECT_EQ(tlvs, (Tlvs{{{0x1400, "a"}, {0x1401, "b"}}}));
}

TEST(Tlvs, RemoveDropsEveryTlvWithTheTag) {
  Tlvs tlvs{{{0x1400, "a"}, {0x1401, "b"}, {0x1400, "c"}}};
  EXPECT_TRUE(tlvs.remove(0x1400));
  EXPECT_EQ(tlvs, (Tlvs{{{0x1401, "b"}}}));
  EXPECT_FALSE(tlvs.remove(0x1400));
}

TEST(Tlvs, TypedGettersReadBigEndianIntegers) {
  const Tlvs tlvs{{{tag::sar_msg_ref_num, "\x12\x34"},
                   {tag::sar_total_segments, "\x03"},
                   {tag::sar_segment_seqnum, "\x02"},
                   {tag::user_message_reference, "\xFF\xFE"},
                   {tag::source_port, "\x23\xF0"},
                   {tag::destination_port, "\x0B\x84"},
                   {tag::message_state, "\x05"}}};
  EXPECT_EQ(tlvs.sar_msg_ref_num(), 0x1234);
  EXPECT_EQ(tlvs.sar_total_segments(), 3);
  EXPECT_EQ(tlvs.sar_segment_seqnum(), 2);
  EXPECT_EQ(tlvs.user_message_reference(), 0xFFFE);
  EXPECT_EQ(tlvs.source_port(), 9200);
  EXPECT_EQ(tlvs.destination_port(), 2948);
  EXPECT_EQ(tlvs.message_state(), 5);
}

TEST(Tlvs, TypedGettersGiveNothingWhenAbsentOrOfTheWrongWidth) {
  const Tlvs tlvs{{{tag::sar_msg_ref_num, "\x12"}, {tag::message_state, std::string("\x00\x01", 2)}}};
  EXPECT_EQ(tlvs.sar_msg_ref_num(), std::nullopt);
  EXPECT_EQ(tlvs.message_state(), std::nullopt);
  EXPECT_EQ(tlvs.source_port(), std::nullopt);
  EXPECT_EQ(tlvs.message_payload(), std::nullopt);
  EXPECT_EQ(tlvs.receipted_message_id(), std::nullopt);
}

TEST(Tlvs, TypedSettersWriteBigEndianAndRoundTrip) {
  Tlvs tlvs;
  tlvs.set_user_message_reference(0xABCD);
  tlvs.set_source_port(1);
  tlvs.set_destination_port(0x0102);
  tlvs.set_message_state(7);
  EXPECT_EQ(tlvs.find(tag::user_message_reference)->value, "\xAB\xCD");
  EXPECT_EQ(tlvs.find(tag::source_port)->value, std::string("\x00\x01", 2));
  EXPECT_EQ(tlvs.destination_port(), 0x0102);
  EXPECT_EQ(tlvs.message_state(), 7);
}

TEST(Tlvs, SetSarWritesTheThreeSegmentTlvsInSpecOrder) {
  Tlvs tlvs{{{0x1400, "v"}}};
  tlvs.set_sar(0x0102, 3, 1);
  ASSERT_EQ(tlvs.items.size(), 4u);
  EXPECT_EQ(tlvs.items[1], (Tlv{tag::sar_msg_ref_num, "\x01\x02"}));
  EXPECT_EQ(tlvs.items[2], (Tlv{tag::sar_total_segments, "\x03"}));
  EXPECT_EQ(tlvs.items[3], (Tlv{tag::sar_segment_seqnum, "\x01"}));
  tlvs.set_sar(0x0102, 3, 2);
  EXPECT_EQ(tlvs.items.size(), 4u) << "updates in place";
  EXPECT_EQ(tlvs.sar_segment_seqnum(), 2);
}

TEST(Tlvs, ReceiptedMessageIdIsStoredWithItsNulAndReadWithout) {
  Tlvs tlvs;
  tlvs.set_receipted_message_id("abc123");
  EXPECT_EQ(tlvs.find(tag::receipted_message_id)->value, std::string("abc123\0", 7));
  EXPECT_EQ(tlvs.receipted_message_id(), "abc123");
}

TEST(Tlvs, ReceiptedMessageIdSentWithoutNulReadsTheSame) {
  // Some SMSCs leave the terminator out of this C-octet string TLV.
  const Tlvs tlvs{{{tag::receipted_message_id, "abc123"}}};
  EXPECT_EQ(tlvs.receipted_message_id(), "abc123");
}

TEST(Tlvs, MessagePayloadIsRawOctets) {
  Tlvs tlvs;
  const std::string binary("\x00\xFF\x00", 3);
  tlvs.set_message_payload(binary);
  EXPECT_EQ(tlvs.message_payload(), binary);
}

// ---------------------------------------------------------------------------
// Decoding a TLV stream.

TEST(DecodeTlvs, KeepsTlvsAfterABodyThatListsNone) {
  // Carriers add TLVs where 3.4 has none; the proxy must forward them.
  const std::string frame = enquire_link_resp_with(tlv(0x1400, "vendor") + tlv(0x001D, "info"));
  const DecodeResult result = decode(octets(frame));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().as<Empty>().tlvs, (Tlvs{{{0x1400, "vendor"}, {0x001D, "info"}}}));
  EXPECT_EQ(encode(result.pdu()), frame);
}

TEST(DecodeTlvs, KeepsRepeatedAndEmptyTlvs) {
  const std::string frame =
      enquire_link_resp_with(tlv(0x1400, "a") + tlv(0x1400, "") + tlv(0x130C, "") + tlv(0x1400, "b"));
  const DecodeResult result = decode(octets(frame));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().as<Empty>().tlvs.items.size(), 4u);
  EXPECT_EQ(encode(result.pdu()), frame);
}

TEST(DecodeTlvs, AcceptsAVariableLengthTlvOfAnyLength) {
  const std::string frame = enquire_link_resp_with(tlv(tag::message_payload, std::string(300, 'p')));
  const DecodeResult result = decode(octets(frame));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().as<Empty>().tlvs.message_payload()->size(), 300u);
}

struct BadTlv {
  const char* name;
  std::string trailing;
  uint32_t status;
  std::string message;
};

void PrintTo(const BadTlv& b, std::ostream* os) { *os << b.name; }

class BadTlvStream : public ::testing::TestWithParam<BadTlv> {};

TEST_P(BadTlvStream, IsRejected) {
  const BadTlv& bad = GetParam();
  const DecodeResult result = decode(octets(enquire_link_resp_with(bad.trailing)));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(status_name(result.error().status), status_name(bad.status));
  EXPECT_NE(result.error().message.find(bad.message), std::string::npos) << result.error().message;
  EXPECT_EQ(result.error().command_id, static_cast<uint32_t>(CommandId::enquire_link_resp));
  EXPECT_EQ(result.error().sequence_number, 7u);
}

INSTANTIATE_TEST_SUITE_P(
    DecodeTlvs, BadTlvStream,
    ::testing::Values(
        BadTlv{"HeaderCutShortAfterOneOctet", "\x14", ESME_RINVOPTPARSTREAM,
               "enquire_link_resp: TLV header cut short, 1 octets left"},
        BadTlv{"HeaderCutShortAfterAGoodTlv", tlv(0x1400, "ok") + std::string("\x14\x00\x00", 3),
               ESME_RINVOPTPARSTREAM, "TLV header cut short, 3 octets left"},
        BadTlv{"LengthRunningPastTheBody", tlv(0x1400, "abc").substr(0, 6), ESME_RINVOPTPARSTREAM,
               "TLV 0x1400 length 3 runs past the body (2 octets left)"},
        BadTlv{"SarMsgRefNumNotTwoOctets", tlv(tag::sar_msg_ref_num, "abc"), ESME_RINVPARLEN,
               "TLV sar_msg_ref_num (0x020C) length 3, must be 2"},
        BadTlv{"MessageStateNotOneOctet", tlv(tag::message_state, "ab"), ESME_RINVPARLEN,
               "TLV message_state (0x0427) length 2, must be 1"},
        BadTlv{"SarTotalSegmentsEmpty", tlv(tag::sar_total_segments, ""), ESME_RINVPARLEN,
               "TLV sar_total_segments (0x020E) length 0, must be 1"},
        BadTlv{"NetworkErrorCodeNotThreeOctets", tlv(tag::network_error_code, "ab"), ESME_RINVPARLEN,
               "TLV network_error_code (0x0423) length 2, must be 3"},
        BadTlv{"AlertOnMessageDeliveryWithAValue", tlv(0x130C, "x"), ESME_RINVPARLEN,
               "TLV alert_on_message_delivery (0x130C) length 1, must be 0"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(DecodeTlvs, ChecksTheFixedLengthOnEveryCommandThatCarriesTlvs) {
  // deliver_sm_resp: message_id "" then a short sar_msg_ref_num.
  const std::string frame = std::string("\x00\x00\x00\x16\x80\x00\x00\x05\x00\x00\x00\x00\x00\x00\x00\x01\x00", 17) +
                            tlv(tag::sar_msg_ref_num, "a");
  const DecodeResult result = decode(octets(frame));
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.error().status, ESME_RINVPARLEN);
  EXPECT_NE(result.error().message.find("deliver_sm_resp:"), std::string::npos) << result.error().message;
}

}  // namespace
}  // namespace smsgate::smpp
