// Our codec against an implementation nobody here wrote (npm `smpp`): both
// encode the same PDU to the same bytes, and each decodes the other's.
#include <gtest/gtest.h>

#include "smpp/codec.hpp"
#include "tests/support/node_pdu_tool.hpp"

namespace smsgate::smpp {
namespace {

using boost::json::object;
using test::from_hex;
using test::run_node_pdu_tool;
using test::to_hex;

std::span<const uint8_t> bytes_of(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Pdu campaign_submit() {
  Pdu p;
  p.command_id = CommandId::submit_sm;
  p.sequence_number = 7;
  ShortMessage sm;
  sm.source = {5, 0, "ACME"};
  sm.dest = {1, 1, "8613800138000"};
  sm.registered_delivery = 1;
  sm.data_coding = 8;
  sm.short_message = from_hex("4f60597d");  // "你好" in UCS-2
  sm.tlvs.set_user_message_reference(42);
  p.body = sm;
  return p;
}

object campaign_submit_fields() {
  return object{{"sequence_number", 7},
                {"source_addr_ton", 5},
                {"source_addr", "ACME"},
                {"dest_addr_ton", 1},
                {"dest_addr_npi", 1},
                {"destination_addr", "8613800138000"},
                {"registered_delivery", 1},
                {"data_coding", 8},
                {"short_message", object{{"hex", "4f60597d"}}},
                {"user_message_reference", 42}};
}

TEST(CodecCrossCheck, SubmitSmEncodesToTheSameBytesAsNpmSmpp) {
  auto theirs = run_node_pdu_tool(object{{"op", "encode"}, {"command", "submit_sm"}, {"fields", campaign_submit_fields()}});
  EXPECT_EQ(to_hex(encode(campaign_submit())), std::string(theirs.at("hex").as_string()));
}

TEST(CodecCrossCheck, WeDecodeNpmSmppSubmitSm) {
  auto theirs = run_node_pdu_tool(object{{"op", "encode"}, {"command", "submit_sm"}, {"fields", campaign_submit_fields()}});
  std::string bytes = from_hex(std::string(theirs.at("hex").as_string()));
  auto r = decode(bytes_of(bytes));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r.pdu(), campaign_submit());
}

TEST(CodecCrossCheck, NpmSmppDecodesOurDeliveryReceipt) {
  Pdu p;
  p.command_id = CommandId::deliver_sm;
  p.sequence_number = 0x7FFFFFFF;
  ShortMessage sm;
  sm.source = {1, 1, "8613800138000"};
  sm.dest = {5, 0, "ACME"};
  sm.esm_class = 0x04;  // SMSC delivery receipt
  sm.short_message = "id:gw1-0001 sub:001 dlvrd:001 submit date:2611231200 done date:2611231201 stat:DELIVRD err:000 text:";
  sm.tlvs.set_receipted_message_id("gw1-0001");
  sm.tlvs.set_message_state(2);
  p.body = sm;

  auto theirs = run_node_pdu_tool(object{{"op", "decode"}, {"hex", to_hex(encode(p))}});
  EXPECT_EQ(theirs.at("command").as_string(), "deliver_sm");
  const auto& f = theirs.at("fields").as_object();
  EXPECT_EQ(f.at("sequence_number").as_int64(), 0x7FFFFFFF);
  EXPECT_EQ(f.at("source_addr").as_string(), "8613800138000");
  EXPECT_EQ(f.at("esm_class").as_int64(), 4);
  EXPECT_EQ(f.at("receipted_message_id").as_string(), "gw1-0001");
  EXPECT_EQ(f.at("message_state").as_int64(), 2);
  EXPECT_EQ(from_hex(std::string(f.at("short_message").at("hex").as_string())), sm.short_message);
}

TEST(CodecCrossCheck, BindTransceiverAgreesBothWays) {
  Pdu p;
  p.command_id = CommandId::bind_transceiver;
  p.sequence_number = 1;
  Bind b;
  b.system_id = "acme";
  b.password = "secret";
  b.system_type = "SMPP";
  p.body = b;
  object fields{{"sequence_number", 1}, {"system_id", "acme"}, {"password", "secret"},
                {"system_type", "SMPP"}, {"interface_version", 0x34}};
  auto theirs = run_node_pdu_tool(object{{"op", "encode"}, {"command", "bind_transceiver"}, {"fields", fields}});
  EXPECT_EQ(to_hex(encode(p)), std::string(theirs.at("hex").as_string()));

  auto decoded = run_node_pdu_tool(object{{"op", "decode"}, {"hex", to_hex(encode(p))}});
  EXPECT_EQ(decoded.at("fields").at("system_id").as_string(), "acme");
  EXPECT_EQ(decoded.at("fields").at("password").as_string(), "secret");
}

}  // namespace
}  // namespace smsgate::smpp
