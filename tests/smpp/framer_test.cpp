// Cutting a TCP byte stream into PDUs (SMPP 3.4 §3.2: command_length first).
// PDUs are written with designated initializers that leave the other fields
// at their defaults; GCC 12 warns about that under -Wextra (fixed in GCC 14).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "smpp/codec.hpp"
#include "smpp/status.hpp"

namespace smsgate::smpp {
namespace {

std::string as_string(std::span<const uint8_t> frame) {
  return {reinterpret_cast<const char*>(frame.data()), frame.size()};
}

std::span<const uint8_t> octets(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A header announcing `command_length`, as a broken or hostile peer sends it.
std::string header(uint32_t command_length, uint32_t sequence_number = 9) {
  std::string h;
  for (uint32_t field : {command_length, static_cast<uint32_t>(CommandId::enquire_link), 0u, sequence_number}) {
    for (int shift = 24; shift >= 0; shift -= 8) h.push_back(static_cast<char>(field >> shift));
  }
  return h;
}

// A mix of sizes: header-only, small and near the 64 KiB default limit.
std::vector<std::string> stream_of_pdus() {
  std::vector<std::string> pdus;
  for (uint32_t seq = 1; seq <= 30; ++seq) {
    Pdu pdu{CommandId::enquire_link, 0, seq, Empty{}};
    if (seq % 3 == 1) pdu = Pdu{CommandId::submit_sm, 0, seq, ShortMessage{.short_message = std::string(seq, 'x')}};
    if (seq == 17) {
      ShortMessage big;
      big.tlvs.set_message_payload(std::string(60000, 'p'));
      pdu = Pdu{CommandId::submit_sm, 0, seq, big};
    }
    pdus.push_back(encode(pdu));
  }
  return pdus;
}

std::vector<std::string> drain(Framer& framer) {
  std::vector<std::string> frames;
  std::span<const uint8_t> frame;
  Frame f;
  while ((f = framer.next(frame)).kind == Frame::frame) frames.push_back(as_string(frame));
  EXPECT_EQ(f.kind, Frame::need_more) << f.error.message;
  return frames;
}

TEST(Framer, SplitsSeveralPdusDeliveredInOneRead) {
  const std::vector<std::string> pdus = stream_of_pdus();
  std::string all;
  for (const auto& pdu : pdus) all += pdu;

  Framer framer;
  framer.feed(all);
  EXPECT_EQ(drain(framer), pdus);
  EXPECT_EQ(framer.buffered(), 0u);
}

TEST(Framer, ReassemblesAPduFedOneByteAtATime) {
  const std::string pdu = encode(Pdu{CommandId::submit_sm_resp, 0, 5, MessageIdResp{"abc"}});
  Framer framer;
  std::span<const uint8_t> frame;
  for (size_t i = 0; i + 1 < pdu.size(); ++i) {
    framer.feed(std::string_view(pdu).substr(i, 1));
    ASSERT_EQ(framer.next(frame).kind, Frame::need_more) << "after " << i + 1 << " octets";
  }
  framer.feed(std::string_view(pdu).substr(pdu.size() - 1));
  const Frame f = framer.next(frame);
  ASSERT_EQ(f.kind, Frame::frame);
  EXPECT_EQ(f.length, pdu.size());
  EXPECT_EQ(as_string(frame), pdu);
  EXPECT_EQ(framer.next(frame).kind, Frame::need_more);
}

TEST(Framer, HandsOutEveryPduWhateverTheReadSizes) {
  const std::vector<std::string> pdus = stream_of_pdus();
  std::string all;
  for (const auto& pdu : pdus) all += pdu;

  for (size_t chunk : {1u, 2u, 3u, 7u, 15u, 16u, 17u, 100u, 4096u, 65536u}) {
    Framer framer;
    std::vector<std::string> frames;
    for (size_t at = 0; at < all.size(); at += chunk) {
      framer.feed(std::string_view(all).substr(at, chunk));
      for (auto& frame : drain(framer)) frames.push_back(std::move(frame));
    }
    EXPECT_EQ(frames, pdus) << "reads of " << chunk << " octets";
    EXPECT_EQ(framer.buffered(), 0u);
  }
}

TEST(Framer, KeepsUnreadBytesAcrossFeedsWhenItCompacts) {
  // Two and a half PDUs, then the rest: the consumed two must be dropped
  // without losing the half.
  const std::string a = encode(Pdu{CommandId::enquire_link, 0, 1, Empty{}});
  const std::string b = encode(Pdu{CommandId::submit_sm_resp, 0, 2, MessageIdResp{"id"}});
  Framer framer;
  framer.feed(a + a + b.substr(0, 5));
  EXPECT_EQ(drain(framer).size(), 2u);
  EXPECT_EQ(framer.buffered(), 5u);
  framer.feed(b.substr(5));
  EXPECT_EQ(drain(framer), std::vector<std::string>{b});
}

class FramerFatal : public ::testing::TestWithParam<uint32_t> {};

TEST_P(FramerFatal, LosesFramingOnAnImpossibleCommandLength) {
  Framer framer(DecodeLimits{1024});
  framer.feed(header(GetParam()));
  std::span<const uint8_t> frame;
  const Frame f = framer.next(frame);
  ASSERT_EQ(f.kind, Frame::fatal);
  EXPECT_EQ(f.error.status, status::ESME_RINVCMDLEN);
  EXPECT_NE(f.error.message.find("command_length " + std::to_string(GetParam())), std::string::npos)
      << f.error.message;
  // The sequence number is there for the generic_nack that precedes the close.
  EXPECT_EQ(f.error.sequence_number, 9u);
  EXPECT_EQ(f.error.command_id, static_cast<uint32_t>(CommandId::enquire_link));
  EXPECT_EQ(framer.next(frame).kind, Frame::fatal) << "stays fatal";
}

INSTANTIATE_TEST_SUITE_P(CommandLength, FramerFatal, ::testing::Values(0u, 15u, 1025u, 0x80000000u, 0xFFFFFFFFu),
                         [](const auto& info) { return "Of" + std::to_string(info.param); });

TEST(NextFrame, IsFatalOnTheFirstFourOctetsWithoutWaitingForTheHeader) {
  const std::string bytes = header(15).substr(0, 4);
  const Frame f = next_frame(octets(bytes));
  EXPECT_EQ(f.kind, Frame::fatal);
  EXPECT_EQ(f.error.sequence_number, 0u);  // not read yet
}

TEST(NextFrame, NeedsFourOctetsBeforeItCanJudge) {
  EXPECT_EQ(next_frame({}).kind, Frame::need_more);
  EXPECT_EQ(next_frame(octets(std::string(3, '\0'))).kind, Frame::need_more);
}

TEST(NextFrame, WaitsForTheWholePduTheLengthAnnounces) {
  const std::string bytes = header(40) + std::string(23, 'x');
  EXPECT_EQ(next_frame(octets(bytes)).kind, Frame::need_more);
  const Frame f = next_frame(octets(bytes + "y"));
  EXPECT_EQ(f.kind, Frame::frame);
  EXPECT_EQ(f.length, 40u);
}

TEST(NextFrame, AcceptsCommandLengthEqualToTheLimit) {
  const std::string bytes = header(100) + std::string(84, 'x');
  EXPECT_EQ(next_frame(octets(bytes), DecodeLimits{100}).kind, Frame::frame);
  EXPECT_EQ(next_frame(octets(bytes), DecodeLimits{99}).kind, Frame::fatal);
}

TEST(NextFrame, FramesWhatDecodeThenRejectsOnItsOwnTerms) {
  // Framing only trusts command_length; an unknown command still frames, so
  // the session can answer generic_nack and carry on (§3.3.1 / §4.3).
  const std::string bytes = header(16);
  std::string unknown = bytes;
  unknown[7] = 0x77;
  EXPECT_EQ(next_frame(octets(unknown)).kind, Frame::frame);
  EXPECT_EQ(decode(octets(unknown)).error().status, status::ESME_RINVCMDID);
}

}  // namespace
}  // namespace smsgate::smpp
