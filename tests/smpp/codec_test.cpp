// PDU codec: golden vectors from the SMPP 3.4 field tables, round trips and
// every decode error with the command_status it answers with.
// PDUs are written with designated initializers that leave the other fields
// at their defaults; GCC 12 warns about that under -Wextra (fixed in GCC 14).
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <optional>
#include <ostream>

#include "smpp/codec.hpp"
#include "smpp/status.hpp"

namespace smsgate::smpp {

// Readable failures: the command, header and the PDU as hex.
static void PrintTo(const Pdu& pdu, std::ostream* os) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  *os << command_name(pdu.command_id) << " status=" << pdu.command_status << " seq=" << pdu.sequence_number
      << " bytes=";
  for (unsigned char c : encode(pdu)) *os << kDigits[c >> 4] << kDigits[c & 15];
}

namespace {

using ::testing::HasSubstr;
using namespace status;

// Octets from hex digits; spaces only help the eye.
std::string hex(std::string_view digits) {
  std::string out;
  int high = -1;
  for (char c : digits) {
    if (c == ' ') continue;
    const int v = c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
    if (high < 0) {
      high = v;
    } else {
      out.push_back(static_cast<char>(high << 4 | v));
      high = -1;
    }
  }
  EXPECT_LT(high, 0) << "odd number of hex digits";
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::span<const uint8_t> octets(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// ---------------------------------------------------------------------------
// Golden vectors. Written octet by octet from the §4 tables, never by the
// encoder. Each is also a seed in tests/fuzz/corpus/pdu/<name>.

struct Golden {
  std::string name;
  std::string bytes;
  Pdu pdu;
};

void PrintTo(const Golden& g, std::ostream* os) { *os << g.name; }

const std::vector<Golden>& goldens() {
  static const std::vector<Golden> kGoldens{
      {"bind_transmitter",
       hex("00000027"            // command_length 39
           "00000002"            // command_id bind_transmitter
           "00000000"            // command_status ESME_ROK
           "00000001"            // sequence_number 1
           "736D736761746500"    // system_id "smsgate"
           "73656372657400"      // password "secret"
           "564D4100"            // system_type "VMA"
           "34"                  // interface_version 3.4
           "01"                  // addr_ton international
           "01"                  // addr_npi ISDN (E.164)
           "00"),                // address_range ""
       Pdu{CommandId::bind_transmitter, 0, 1,
           Bind{.system_id = "smsgate", .password = "secret", .system_type = "VMA", .interface_version = 0x34,
                .addr_ton = 1, .addr_npi = 1}}},
      {"bind_receiver",
       hex("00000021"            // command_length 33
           "00000001"            // command_id bind_receiver
           "00000000"            // command_status
           "00000002"            // sequence_number 2
           "7278303100"          // system_id "rx01"
           "707700"              // password "pw"
           "00"                  // system_type ""
           "34"                  // interface_version 3.4
           "00"                  // addr_ton unknown
           "00"                  // addr_npi unknown
           "3132333400"),        // address_range "1234"
       Pdu{CommandId::bind_receiver, 0, 2,
           Bind{.system_id = "rx01", .password = "pw", .interface_version = 0x34, .address_range = "1234"}}},
      {"bind_transceiver",
       hex("00000022"            // command_length 34
           "00000009"            // command_id bind_transceiver
           "00000000"            // command_status
           "00000003"            // sequence_number 3
           "74727800"            // system_id "trx"
           "313233343536373800"  // password "12345678", the 9-octet maximum
           "00"                  // system_type ""
           "34"                  // interface_version 3.4
           "02"                  // addr_ton national
           "01"                  // addr_npi ISDN
           "00"),                // address_range ""
       Pdu{CommandId::bind_transceiver, 0, 3,
           Bind{.system_id = "trx", .password = "12345678", .interface_version = 0x34, .addr_ton = 2,
                .addr_npi = 1}}},
      {"bind_transmitter_resp",
       hex("00000015"            // command_length 21
           "80000002"            // command_id bind_transmitter_resp
           "00000000"            // command_status
           "00000001"            // sequence_number 1
           "534D534300"),        // system_id "SMSC"
       Pdu{CommandId::bind_transmitter_resp, 0, 1, BindResp{.system_id = "SMSC"}}},
      {"bind_transmitter_resp_error",
       hex("00000010"            // command_length 16: no body on error (§4.1.2)
           "80000002"            // command_id bind_transmitter_resp
           "0000000D"            // command_status ESME_RBINDFAIL
           "00000004"),          // sequence_number 4
       Pdu{CommandId::bind_transmitter_resp, ESME_RBINDFAIL, 4, BindResp{}}},
      {"bind_receiver_resp",
       hex("0000001A"            // command_length 26
           "80000001"            // command_id bind_receiver_resp
           "00000000"            // command_status
           "00000002"            // sequence_number 2
           "534D534300"          // system_id "SMSC"
           "0210" "0001" "34"),  // TLV sc_interface_version 3.4
       Pdu{CommandId::bind_receiver_resp, 0, 2,
           BindResp{.system_id = "SMSC", .tlvs = {{{tag::sc_interface_version, "\x34"}}}}}},
      {"bind_transceiver_resp",
       hex("00000011"            // command_length 17
           "80000009"            // command_id bind_transceiver_resp
           "00000000"            // command_status
           "00000003"            // sequence_number 3
           "00"),                // system_id ""
       Pdu{CommandId::bind_transceiver_resp, 0, 3, BindResp{}}},
      {"outbind",
       hex("0000001A"            // command_length 26
           "0000000B"            // command_id outbind
           "00000000"            // command_status
           "00000004"            // sequence_number 4
           "534D534300"          // system_id "SMSC"
           "7061737300"),        // password "pass"
       Pdu{CommandId::outbind, 0, 4, Outbind{.system_id = "SMSC", .password = "pass"}}},
      {"unbind",
       hex("00000010"            // command_length 16
           "00000006"            // command_id unbind
           "00000000"            // command_status
           "00000005"),          // sequence_number 5
       Pdu{CommandId::unbind, 0, 5, Empty{}}},
      {"unbind_resp",
       hex("00000010"            // command_length 16
           "80000006"            // command_id unbind_resp
           "00000000"            // command_status
           "00000005"),          // sequence_number 5
       Pdu{CommandId::unbind_resp, 0, 5, Empty{}}},
      {"generic_nack",
       hex("00000010"            // command_length 16
           "80000000"            // command_id generic_nack
           "00000003"            // command_status ESME_RINVCMDID
           "00000006"),          // sequence_number 6
       Pdu{CommandId::generic_nack, ESME_RINVCMDID, 6, Empty{}}},
      {"submit_sm",
       hex("00000046"            // command_length 70
           "00000004"            // command_id submit_sm
           "00000000"            // command_status
           "00000007"            // sequence_number 7
           "00"                  // service_type ""
           "05"                  // source_addr_ton alphanumeric
           "00"                  // source_addr_npi unknown
           "496E666F00"          // source_addr "Info"
           "01"                  // dest_addr_ton international
           "01"                  // dest_addr_npi ISDN
           "34343737303039303031323300"  // destination_addr "447700900123"
           "00"                  // esm_class
           "00"                  // protocol_id
           "00"                  // priority_flag
           "00"                  // schedule_delivery_time "" (immediate)
           "3030303030313030303030303030305200"  // validity_period "000001000000000R" (1 day)
           "01"                  // registered_delivery: receipt on final outcome
           "00"                  // replace_if_present_flag
           "00"                  // data_coding SMSC default
           "00"                  // sm_default_msg_id
           "05"                  // sm_length 5
           "48656C6C6F"),        // short_message "Hello"
       Pdu{CommandId::submit_sm, 0, 7,
           ShortMessage{.source = {5, 0, "Info"},
                        .dest = {1, 1, "447700900123"},
                        .validity_period = "000001000000000R",
                        .registered_delivery = 1,
                        .short_message = "Hello"}}},
      {"submit_sm_with_tlvs",
       hex("0000004D"            // command_length 77
           "00000004"            // command_id submit_sm
           "00000000"            // command_status
           "00000008"            // sequence_number 8
           "434D5400"            // service_type "CMT"
           "01" "01" "313233343500"  // source_addr 1/1 "12345"
           "01" "01" "363738393000"  // dest_addr 1/1 "67890"
           "00"                  // esm_class
           "00"                  // protocol_id
           "00"                  // priority_flag
           "00"                  // schedule_delivery_time ""
           "00"                  // validity_period ""
           "00"                  // registered_delivery
           "00"                  // replace_if_present_flag
           "08"                  // data_coding UCS-2
           "00"                  // sm_default_msg_id
           "00"                  // sm_length 0: the text is in message_payload
           "020C" "0002" "1234"  // TLV sar_msg_ref_num 0x1234
           "1400" "0003" "ABCDEF"  // TLV 0x1400, vendor-specific, unknown here
           "020E" "0001" "02"    // TLV sar_total_segments 2
           "020F" "0001" "01"    // TLV sar_segment_seqnum 1
           "0424" "0004" "00480069"),  // TLV message_payload "Hi" in UCS-2
       Pdu{CommandId::submit_sm, 0, 8,
           ShortMessage{.service_type = "CMT",
                        .source = {1, 1, "12345"},
                        .dest = {1, 1, "67890"},
                        .data_coding = 8,
                        .tlvs = {{{tag::sar_msg_ref_num, "\x12\x34"},
                                  {0x1400, "\xAB\xCD\xEF"},
                                  {tag::sar_total_segments, "\x02"},
                                  {tag::sar_segment_seqnum, "\x01"},
                                  {tag::message_payload, std::string("\x00H\x00i", 4)}}}}}},
      {"submit_sm_resp",
       hex("00000018"            // command_length 24
           "80000004"            // command_id submit_sm_resp
           "00000000"            // command_status
           "00000007"            // sequence_number 7
           "4D53473030303100"),  // message_id "MSG0001"
       Pdu{CommandId::submit_sm_resp, 0, 7, MessageIdResp{.message_id = "MSG0001"}}},
      {"submit_sm_resp_error",
       hex("00000010"            // command_length 16: no body on error (§4.4.2)
           "80000004"            // command_id submit_sm_resp
           "00000058"            // command_status ESME_RTHROTTLED
           "00000009"),          // sequence_number 9
       Pdu{CommandId::submit_sm_resp, ESME_RTHROTTLED, 9, MessageIdResp{}}},
      {"submit_multi",
       hex("00000038"            // command_length 56
           "00000021"            // command_id submit_multi
           "00000000"            // command_status
           "0000000A"            // sequence_number 10
           "00"                  // service_type ""
           "01" "01" "313233343500"  // source_addr 1/1 "12345"
           "02"                  // number_of_dests 2
           "01"                  //   dest_flag SME address
           "01" "01" "3434373730303100"  //   dest_addr 1/1 "4477001"
           "02"                  //   dest_flag distribution list
           "737461666600"        //   dl_name "staff"
           "00"                  // esm_class
           "00"                  // protocol_id
           "01"                  // priority_flag 1
           "00"                  // schedule_delivery_time ""
           "00"                  // validity_period ""
           "00"                  // registered_delivery
           "00"                  // replace_if_present_flag
           "00"                  // data_coding
           "00"                  // sm_default_msg_id
           "02" "4869"),         // sm_length 2, short_message "Hi"
       Pdu{CommandId::submit_multi, 0, 10,
           SubmitMulti{.source = {1, 1, "12345"},
                       .dests = {MultiDest{1, {1, 1, "4477001"}}, MultiDest{2, {0, 0, "staff"}}},
                       .priority_flag = 1,
                       .short_message = "Hi"}}},
      {"submit_multi_resp",
       hex("00000022"            // command_length 34
           "80000021"            // command_id submit_multi_resp
           "00000000"            // command_status
           "0000000A"            // sequence_number 10
           "4D3100"              // message_id "M1"
           "01"                  // no_unsuccess 1
           "01" "01" "3434373730303100"  //   dest_addr 1/1 "4477001"
           "0000000B"),          //   error_status_code ESME_RINVDSTADR
       Pdu{CommandId::submit_multi_resp, 0, 10,
           SubmitMultiResp{.message_id = "M1", .unsuccess = {UnsuccessSme{{1, 1, "4477001"}, ESME_RINVDSTADR}}}}},
      {"deliver_sm",
       hex("00000059"            // command_length 89
           "00000005"            // command_id deliver_sm
           "00000000"            // command_status
           "0000000B"            // sequence_number 11
           "00"                  // service_type ""
           "01" "01" "34343737303039303031323300"  // source_addr 1/1 "447700900123"
           "05" "00" "496E666F00"  // dest_addr 5/0 "Info"
           "04"                  // esm_class: SMSC delivery receipt (§5.2.12)
           "00"                  // protocol_id
           "00"                  // priority_flag
           "00"                  // schedule_delivery_time "" (must be NULL, §4.6.1)
           "00"                  // validity_period "" (must be NULL)
           "00"                  // registered_delivery
           "00"                  // replace_if_present_flag
           "00"                  // data_coding
           "00"                  // sm_default_msg_id
           "17"                  // sm_length 23
           "69643A4D534730303031" "20" "737461743A44454C49565244"  // "id:MSG0001 stat:DELIVRD"
           "001E" "0008" "4D53473030303100"  // TLV receipted_message_id "MSG0001"
           "0427" "0001" "02"),  // TLV message_state DELIVERED
       Pdu{CommandId::deliver_sm, 0, 11,
           ShortMessage{.source = {1, 1, "447700900123"},
                        .dest = {5, 0, "Info"},
                        .esm_class = 0x04,
                        .short_message = "id:MSG0001 stat:DELIVRD",
                        .tlvs = {{{tag::receipted_message_id, std::string("MSG0001\0", 8)},
                                  {tag::message_state, "\x02"}}}}}},
      {"deliver_sm_resp",
       hex("00000011"            // command_length 17
           "80000005"            // command_id deliver_sm_resp
           "00000000"            // command_status
           "0000000B"            // sequence_number 11
           "00"),                // message_id "" (unused, §4.6.2)
       Pdu{CommandId::deliver_sm_resp, 0, 11, MessageIdResp{}}},
      {"data_sm",
       hex("0000003A"            // command_length 58
           "00000103"            // command_id data_sm
           "00000000"            // command_status
           "0000000C"            // sequence_number 12
           "57415000"            // service_type "WAP"
           "01" "01" "313233343500"  // source_addr 1/1 "12345"
           "01" "01" "363738393000"  // dest_addr 1/1 "67890"
           "00"                  // esm_class
           "00"                  // registered_delivery
           "04"                  // data_coding 8-bit binary
           "020A" "0002" "23F0"  // TLV source_port 9200
           "020B" "0002" "0B84"  // TLV destination_port 2948 (WAP push)
           "0424" "0003" "010203"),  // TLV message_payload 01 02 03
       Pdu{CommandId::data_sm, 0, 12,
           DataSm{.service_type = "WAP",
                  .source = {1, 1, "12345"},
                  .dest = {1, 1, "67890"},
                  .data_coding = 4,
                  .tlvs = {{{tag::source_port, "\x23\xF0"},
                            {tag::destination_port, "\x0B\x84"},
                            {tag::message_payload, "\x01\x02\x03"}}}}}},
      {"data_sm_resp",
       hex("00000013"            // command_length 19
           "80000103"            // command_id data_sm_resp
           "00000000"            // command_status
           "0000000C"            // sequence_number 12
           "443100"),            // message_id "D1"
       Pdu{CommandId::data_sm_resp, 0, 12, MessageIdResp{.message_id = "D1"}}},
      {"query_sm",
       hex("00000020"            // command_length 32
           "00000003"            // command_id query_sm
           "00000000"            // command_status
           "0000000D"            // sequence_number 13
           "4D53473030303100"    // message_id "MSG0001"
           "01" "01" "313233343500"),  // source_addr 1/1 "12345"
       Pdu{CommandId::query_sm, 0, 13, QuerySm{.message_id = "MSG0001", .source = {1, 1, "12345"}}}},
      {"query_sm_resp",
       hex("0000002B"            // command_length 43
           "80000003"            // command_id query_sm_resp
           "00000000"            // command_status
           "0000000D"            // sequence_number 13
           "4D53473030303100"    // message_id "MSG0001"
           "3232303130313132" "30303030303030" "2B" "00"  // final_date "22010112" "0000000" "+"
           "02"                  // message_state DELIVERED
           "00"),                // error_code
       Pdu{CommandId::query_sm_resp, 0, 13,
           QuerySmResp{.message_id = "MSG0001", .final_date = "220101120000000+", .message_state = 2}}},
      {"cancel_sm",
       hex("00000029"            // command_length 41
           "00000008"            // command_id cancel_sm
           "00000000"            // command_status
           "0000000E"            // sequence_number 14
           "00"                  // service_type ""
           "4D53473030303100"    // message_id "MSG0001"
           "01" "01" "313233343500"  // source_addr 1/1 "12345"
           "01" "01" "363738393000"),  // dest_addr 1/1 "67890"
       Pdu{CommandId::cancel_sm, 0, 14,
           CancelSm{.message_id = "MSG0001", .source = {1, 1, "12345"}, .dest = {1, 1, "67890"}}}},
      {"cancel_sm_resp",
       hex("00000010"            // command_length 16
           "80000008"            // command_id cancel_sm_resp
           "00000000"            // command_status
           "0000000E"),          // sequence_number 14
       Pdu{CommandId::cancel_sm_resp, 0, 14, Empty{}}},
      {"replace_sm",
       hex("00000038"            // command_length 56
           "00000007"            // command_id replace_sm
           "00000000"            // command_status
           "0000000F"            // sequence_number 15
           "4D53473030303100"    // message_id "MSG0001"
           "01" "01" "313233343500"  // source_addr 1/1 "12345"
           "00"                  // schedule_delivery_time ""
           "3030303030323030303030303030305200"  // validity_period "000002000000000R" (2 days)
           "01"                  // registered_delivery
           "00"                  // sm_default_msg_id
           "03" "4E6577"),       // sm_length 3, short_message "New"
       Pdu{CommandId::replace_sm, 0, 15,
           ReplaceSm{.message_id = "MSG0001",
                     .source = {1, 1, "12345"},
                     .validity_period = "000002000000000R",
                     .registered_delivery = 1,
                     .short_message = "New"}}},
      {"replace_sm_resp",
       hex("00000010"            // command_length 16
           "80000007"            // command_id replace_sm_resp
           "00000000"            // command_status
           "0000000F"),          // sequence_number 15
       Pdu{CommandId::replace_sm_resp, 0, 15, Empty{}}},
      {"enquire_link",
       hex("00000010"            // command_length 16
           "00000015"            // command_id enquire_link
           "00000000"            // command_status
           "00000010"),          // sequence_number 16
       Pdu{CommandId::enquire_link, 0, 16, Empty{}}},
      {"enquire_link_resp",
       hex("00000010"            // command_length 16
           "80000015"            // command_id enquire_link_resp
           "00000000"            // command_status
           "00000010"),          // sequence_number 16
       Pdu{CommandId::enquire_link_resp, 0, 16, Empty{}}},
      {"alert_notification",
       hex("0000002C"            // command_length 44
           "00000102"            // command_id alert_notification
           "00000000"            // command_status
           "00000011"            // sequence_number 17
           "01" "01" "34343737303039303031323300"  // source_addr 1/1 "447700900123"
           "01" "01" "313233343500"  // esme_addr 1/1 "12345"
           "0422" "0001" "00"),  // TLV ms_availability_status available
       Pdu{CommandId::alert_notification, 0, 17,
           AlertNotification{.source = {1, 1, "447700900123"},
                             .esme = {1, 1, "12345"},
                             .tlvs = {{{0x0422, std::string(1, '\0')}}}}}},
  };
  return kGoldens;
}

class GoldenVector : public ::testing::TestWithParam<Golden> {};

TEST_P(GoldenVector, DecodesToTheFieldsOfTheSpecTable) {
  const Golden& golden = GetParam();
  const DecodeResult result = decode(octets(golden.bytes));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu(), golden.pdu);
}

TEST_P(GoldenVector, EncodesToTheSameBytes) {
  const Golden& golden = GetParam();
  EXPECT_EQ(to_hex(encode(golden.pdu)), to_hex(golden.bytes));
}

TEST_P(GoldenVector, IsAFuzzSeedByteForByte) {
  const Golden& golden = GetParam();
  std::ifstream file(std::string(SMSGATE_SOURCE_DIR) + "/tests/fuzz/corpus/pdu/" + golden.name, std::ios::binary);
  ASSERT_TRUE(file) << "missing seed tests/fuzz/corpus/pdu/" << golden.name;
  const std::string seed{std::istreambuf_iterator<char>(file), {}};
  EXPECT_EQ(to_hex(seed), to_hex(golden.bytes));
}

INSTANTIATE_TEST_SUITE_P(Spec, GoldenVector, ::testing::ValuesIn(goldens()),
                         [](const auto& info) { return info.param.name; });

TEST(GoldenVectors, CoverEveryCommandId) {
  for (uint32_t id = 0; id <= 0x80000200; id = id == 0x200 ? 0x80000000 : id + 1) {
    if (!is_known_command(id)) continue;
    const auto covered = std::any_of(goldens().begin(), goldens().end(), [id](const Golden& g) {
      return static_cast<uint32_t>(g.pdu.command_id) == id;
    });
    EXPECT_TRUE(covered) << command_name(static_cast<CommandId>(id));
  }
}

TEST(Decode, KeepsTlvsInArrivalOrderWithUnknownOnesByteExact) {
  const auto& golden = *std::find_if(goldens().begin(), goldens().end(),
                                     [](const Golden& g) { return g.name == "submit_sm_with_tlvs"; });
  const DecodeResult result = decode(octets(golden.bytes));
  ASSERT_TRUE(result.ok()) << result.error().message;
  const Tlvs& tlvs = result.pdu().as<ShortMessage>().tlvs;
  ASSERT_EQ(tlvs.items.size(), 5u);
  EXPECT_EQ(tlvs.items[0].tag, tag::sar_msg_ref_num);
  EXPECT_EQ(tlvs.items[1].tag, 0x1400);
  EXPECT_EQ(tlvs.items[1].value, "\xAB\xCD\xEF");
  EXPECT_EQ(tlvs.items[2].tag, tag::sar_total_segments);
  EXPECT_EQ(tlvs.items[3].tag, tag::sar_segment_seqnum);
  EXPECT_EQ(tlvs.items[4].tag, tag::message_payload);
  EXPECT_EQ(tlvs.sar_msg_ref_num(), 0x1234);
  EXPECT_EQ(tlvs.sar_total_segments(), 2);
  EXPECT_EQ(tlvs.sar_segment_seqnum(), 1);
  EXPECT_EQ(tlvs.message_payload(), std::string("\x00H\x00i", 4));
}

// ---------------------------------------------------------------------------
// Round trips: encode, decode, the same PDU.

std::vector<Pdu> rich_pdus() {
  Tlvs vendor{{{0x1401, "vendor"}, {0x1401, ""}}};
  std::string binary;
  for (int i = 0; i < 254; ++i) binary.push_back(static_cast<char>(255 - i));  // NULs and 0xFF included
  return {
      Pdu{CommandId::bind_transceiver, 0, 0xFFFFFFFF,
          Bind{"123456789012345", "12345678", "123456789012", 0x34, 0xFF, 0xFF, std::string(40, 'r'), vendor}},
      Pdu{CommandId::bind_transceiver_resp, 0, 1, BindResp{"SMSC", vendor}},
      Pdu{CommandId::outbind, 0, 2, Outbind{"SMSC", "", vendor}},
      Pdu{CommandId::submit_sm, 0, 3,
          ShortMessage{"12345", {1, 2, std::string(20, '9')}, {3, 4, std::string(20, '8')}, 0x40, 0x7F, 3,
                       "230102030405000+", "000001000000000R", 0x11, 1, 8, 5, binary, vendor}},
      Pdu{CommandId::deliver_sm, 0, 4, ShortMessage{.short_message = binary}},
      Pdu{CommandId::submit_sm_resp, 0, 5, MessageIdResp{std::string(64, 'm'), vendor}},
      Pdu{CommandId::submit_multi, 0, 6,
          SubmitMulti{"CMT",
                      {1, 1, "1"},
                      {MultiDest{1, {1, 1, "2"}}, MultiDest{2, {0, 0, "list"}}, MultiDest{1, {5, 0, "3"}}},
                      1, 2, 3, "", "", 4, 5, 6, 7, "multi", vendor}},
      Pdu{CommandId::submit_multi_resp, 0, 7,
          SubmitMultiResp{"id", {UnsuccessSme{{1, 1, "2"}, 0x45}, UnsuccessSme{{5, 0, "3"}, 0x0B}}, vendor}},
      Pdu{CommandId::data_sm, 0, 8,
          DataSm{"WAP", {1, 1, std::string(64, '1')}, {1, 1, std::string(64, '2')}, 1, 2, 3, vendor}},
      Pdu{CommandId::data_sm_resp, ESME_RINVDSTADR, 9, MessageIdResp{"", vendor}},
      Pdu{CommandId::query_sm, 0, 10, QuerySm{"id", {1, 1, "1"}, vendor}},
      Pdu{CommandId::query_sm_resp, 0, 11, QuerySmResp{"id", "", 6, 0xFF, vendor}},
      Pdu{CommandId::cancel_sm, 0, 12, CancelSm{"", "id", {1, 1, "1"}, {1, 1, "2"}, vendor}},
      Pdu{CommandId::replace_sm, 0, 13,
          ReplaceSm{"id", {1, 1, "1"}, "230102030405000+", "", 1, 2, "", vendor}},
      Pdu{CommandId::alert_notification, 0, 14, AlertNotification{{1, 1, "1"}, {2, 2, "2"}, vendor}},
      Pdu{CommandId::enquire_link, 0, 15, Empty{vendor}},
      Pdu{CommandId::generic_nack, ESME_RINVCMDLEN, 16, Empty{}},
  };
}

TEST(RoundTrip, EveryBodyWithUnusualValuesComesBackEqual) {
  for (const Pdu& pdu : rich_pdus()) {
    const std::string bytes = encode(pdu);
    const DecodeResult result = decode(octets(bytes));
    ASSERT_TRUE(result.ok()) << command_name(pdu.command_id) << ": " << result.error().message;
    EXPECT_EQ(result.pdu(), pdu);
    EXPECT_EQ(encode(result.pdu()), bytes);
  }
}

TEST(RoundTrip, ErrorResponseWithoutBodyForEveryResponseCommand) {
  for (uint32_t id = 0x80000000; id <= 0x80000200; ++id) {
    if (!is_known_command(id)) continue;
    const Pdu pdu{static_cast<CommandId>(id), ESME_RTHROTTLED, 77, empty_body_for(static_cast<CommandId>(id))};
    const std::string bytes = encode(pdu);
    EXPECT_EQ(bytes.size(), kHeaderSize) << command_name(pdu.command_id);
    const DecodeResult result = decode(octets(bytes));
    ASSERT_TRUE(result.ok()) << result.error().message;
    EXPECT_EQ(result.pdu(), pdu);
  }
}

// ---------------------------------------------------------------------------
// Decoding rules beyond the golden vectors.

// Builds test frames; command_length is counted here, not by the encoder.
class Octets {
 public:
  Octets& u8(uint8_t v) { return raw(std::string(1, static_cast<char>(v))); }
  Octets& u32(uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) u8(static_cast<uint8_t>(v >> shift));
    return *this;
  }
  Octets& cstr(std::string_view s) { return raw(s).u8(0); }
  Octets& address(std::string_view addr) { return u8(1).u8(1).cstr(addr); }
  Octets& raw(std::string_view s) {
    s_ += s;
    return *this;
  }
  const std::string& bytes() const { return s_; }
  // These octets as the body of a PDU with sequence_number kSequence.
  std::string frame(uint32_t command_id, uint32_t command_status = 0) const {
    return Octets()
        .u32(static_cast<uint32_t>(kHeaderSize + s_.size()))
        .u32(command_id)
        .u32(command_status)
        .u32(kSequence)
        .raw(s_)
        .bytes();
  }
  static constexpr uint32_t kSequence = 42;

 private:
  std::string s_;
};

constexpr uint32_t id(CommandId c) { return static_cast<uint32_t>(c); }

Octets bind_body(std::string_view system_id, std::string_view password = "pw", std::string_view system_type = "",
                 std::string_view address_range = "") {
  return Octets().cstr(system_id).cstr(password).cstr(system_type).u8(0x34).u8(0).u8(0).cstr(address_range);
}

// submit_sm / deliver_sm from service_type to sm_default_msg_id, then sm_length and the message.
Octets short_message_body(std::string_view service_type, std::string_view source, std::string_view dest,
                          std::string_view schedule = "", std::string_view validity = "",
                          std::string_view message = "hi", std::optional<uint8_t> sm_length = {}) {
  return Octets()
      .cstr(service_type)
      .address(source)
      .address(dest)
      .u8(0).u8(0).u8(0)
      .cstr(schedule)
      .cstr(validity)
      .u8(0).u8(0).u8(0).u8(0)
      .u8(sm_length.value_or(static_cast<uint8_t>(message.size())))
      .raw(message);
}

std::string data_sm_frame(std::string_view source, std::string_view dest) {
  return Octets().cstr("").address(source).address(dest).u8(0).u8(0).u8(0).frame(id(CommandId::data_sm));
}

std::string header(uint32_t command_length, uint32_t command_id) {
  return Octets().u32(command_length).u32(command_id).u32(0).u32(Octets::kSequence).bytes();
}

struct Broken {
  std::string name;
  std::string frame;
  uint32_t status;
  std::string message;  // a part of DecodeError::message
  DecodeLimits limits{};
};

void PrintTo(const Broken& b, std::ostream* os) { *os << b.name; }

std::vector<Broken> broken_frames() {
  const std::string s6(6, 's'), s16(16, 'a'), s21(21, '1'), s65(65, '6');
  return {
      {"FrameShorterThanTheHeader", hex("0000000A 00000015 0000"), ESME_RINVCMDLEN,
       "frame of 10 octets is shorter than the 16-octet header"},
      {"CommandLengthFifteen", header(15, id(CommandId::enquire_link)), ESME_RINVCMDLEN,
       "command_length 15 is shorter than the 16-octet header"},
      {"CommandLengthAboveTheLimit", Octets().raw(std::string(60, 'x')).frame(id(CommandId::enquire_link)),
       ESME_RINVCMDLEN, "command_length 76 is above the limit of 64", DecodeLimits{64}},
      {"CommandLengthLongerThanTheFrame", header(20, id(CommandId::enquire_link)), ESME_RINVCMDLEN,
       "command_length 20 but the frame holds 16 octets"},
      {"CommandLengthShorterThanTheFrame", header(16, id(CommandId::enquire_link)) + "xx", ESME_RINVCMDLEN,
       "command_length 16 but the frame holds 18 octets"},
      {"UnknownCommandId", Octets().frame(0x00000099), ESME_RINVCMDID,
       "command_id 0x00000099 is not an SMPP 3.4 command"},
      {"UnknownResponseCommandId", Octets().frame(0x80000099), ESME_RINVCMDID, "command_id 0x80000099"},
      {"SystemIdLongerThanSixteenOctets", bind_body(s16).frame(id(CommandId::bind_transmitter)), ESME_RINVSYSID,
       "bind_transmitter: system_id longer than 16 octets"},
      {"SystemIdWithoutTerminator", Octets().raw("abc").frame(id(CommandId::bind_receiver)), ESME_RINVCMDLEN,
       "bind_receiver: body ends inside system_id (no NUL terminator)"},
      {"PasswordLongerThanNineOctets", bind_body("id", "123456789").frame(id(CommandId::bind_transceiver)),
       ESME_RINVPASWD, "bind_transceiver: password longer than 9 octets"},
      {"SystemTypeLongerThanThirteenOctets",
       bind_body("id", "pw", "1234567890123").frame(id(CommandId::bind_transmitter)), ESME_RINVSYSTYP,
       "system_type longer than 13 octets"},
      {"AddressRangeLongerThanFortyOneOctets",
       bind_body("id", "pw", "", std::string(41, 'r')).frame(id(CommandId::bind_transmitter)), ESME_RINVPARLEN,
       "address_range longer than 41 octets"},
      {"BindEndingBeforeInterfaceVersion",
       Octets().cstr("id").cstr("pw").cstr("").frame(id(CommandId::bind_transmitter)), ESME_RINVCMDLEN,
       "bind_transmitter: body ends before interface_version"},
      {"BindRespSystemIdLongerThanSixteenOctets", Octets().cstr(s16).frame(id(CommandId::bind_receiver_resp)),
       ESME_RINVSYSID, "bind_receiver_resp: system_id longer than 16 octets"},
      {"OutbindPasswordLongerThanNineOctets",
       Octets().cstr("SMSC").cstr("123456789").frame(id(CommandId::outbind)), ESME_RINVPASWD,
       "outbind: password longer than 9 octets"},
      {"ServiceTypeLongerThanSixOctets", short_message_body(s6, "1", "2").frame(id(CommandId::submit_sm)),
       ESME_RINVSERTYP, "submit_sm: service_type longer than 6 octets"},
      {"SourceAddrLongerThanTwentyOneOctets", short_message_body("", s21, "2").frame(id(CommandId::submit_sm)),
       ESME_RINVSRCADR, "submit_sm: source_addr longer than 21 octets"},
      {"DestinationAddrLongerThanTwentyOneOctets",
       short_message_body("", "1", s21).frame(id(CommandId::submit_sm)), ESME_RINVDSTADR,
       "submit_sm: destination_addr longer than 21 octets"},
      {"DeliverSmDestinationAddrLongerThanTwentyOneOctets",
       short_message_body("", "1", s21).frame(id(CommandId::deliver_sm)), ESME_RINVDSTADR,
       "deliver_sm: destination_addr longer than 21 octets"},
      {"DataSmSourceAddrLongerThanSixtyFiveOctets", data_sm_frame(s65, "2"), ESME_RINVSRCADR,
       "data_sm: source_addr longer than 65 octets"},
      {"DataSmDestinationAddrLongerThanSixtyFiveOctets", data_sm_frame("1", s65), ESME_RINVDSTADR,
       "data_sm: destination_addr longer than 65 octets"},
      {"AlertNotificationEsmeAddrLongerThanSixtyFiveOctets",
       Octets().address("1").address(s65).frame(id(CommandId::alert_notification)), ESME_RINVDSTADR,
       "alert_notification: esme_addr longer than 65 octets"},
      {"ScheduleDeliveryTimeOfFiveCharacters",
       short_message_body("", "1", "2", "12345").frame(id(CommandId::submit_sm)), ESME_RINVSCHED,
       "submit_sm: schedule_delivery_time is neither empty nor 16 characters"},
      {"ScheduleDeliveryTimeOfSeventeenCharacters",
       short_message_body("", "1", "2", std::string(17, '0')).frame(id(CommandId::submit_sm)), ESME_RINVSCHED,
       "schedule_delivery_time longer than 17 octets"},
      {"ValidityPeriodOfFifteenCharacters",
       short_message_body("", "1", "2", "", std::string(15, '0')).frame(id(CommandId::submit_sm)),
       ESME_RINVEXPIRY, "submit_sm: validity_period is neither empty nor 16 characters"},
      {"SmLengthRunningPastTheBody",
       short_message_body("", "1", "2", "", "", "short", 10).frame(id(CommandId::submit_sm)),
       ESME_RINVMSGLEN, "submit_sm: sm_length 10 runs past the body (5 octets left)"},
      {"SubmitSmEndingBeforeSmLength",
       Octets().cstr("").address("1").address("2").u8(0).u8(0).u8(0).cstr("").cstr("").u8(0).u8(0).u8(0).u8(0)
           .frame(id(CommandId::submit_sm)),
       ESME_RINVCMDLEN, "submit_sm: body ends before sm_length"},
      {"SubmitSmEndingBeforeDestinationAddr", Octets().cstr("").address("1").frame(id(CommandId::submit_sm)),
       ESME_RINVCMDLEN, "submit_sm: body ends before destination_addr"},
      {"NumberOfDestsAbove254", Octets().cstr("").address("1").u8(255).frame(id(CommandId::submit_multi)),
       ESME_RINVNUMDESTS, "submit_multi: number_of_dests 255 is above 254"},
      {"DestFlagNeitherOneNorTwo",
       Octets().cstr("").address("1").u8(1).u8(3).address("2").frame(id(CommandId::submit_multi)),
       ESME_RINVDESTFLAG, "submit_multi: dest_flag is neither 1 (SME address) nor 2 (distribution list)"},
      {"DistributionListNameLongerThanTwentyOneOctets",
       Octets().cstr("").address("1").u8(1).u8(2).cstr(s21).frame(id(CommandId::submit_multi)), ESME_RINVDLNAME,
       "submit_multi: dl_name longer than 21 octets"},
      {"SubmitMultiDestinationAddrLongerThanTwentyOneOctets",
       Octets().cstr("").address("1").u8(1).u8(1).address(s21).frame(id(CommandId::submit_multi)),
       ESME_RINVDSTADR, "submit_multi: destination_addr longer than 21 octets"},
      {"UnsuccessSmeAddrLongerThanTwentyOneOctets",
       Octets().cstr("id").u8(1).address(s21).u32(0).frame(id(CommandId::submit_multi_resp)), ESME_RINVDSTADR,
       "submit_multi_resp: destination_addr longer than 21 octets"},
      {"UnsuccessSmeEndingInsideErrorStatusCode",
       Octets().cstr("id").u8(1).address("2").raw(std::string(2, '\0')).frame(id(CommandId::submit_multi_resp)),
       ESME_RINVCMDLEN, "submit_multi_resp: body ends before error_status_code"},
      {"MessageIdLongerThanSixtyFiveOctets", Octets().cstr(s65).frame(id(CommandId::submit_sm_resp)),
       ESME_RINVMSGID, "submit_sm_resp: message_id longer than 65 octets"},
      {"SuccessfulSubmitSmRespWithoutMessageId", Octets().frame(id(CommandId::submit_sm_resp)), ESME_RINVCMDLEN,
       "submit_sm_resp: body ends before message_id"},
      {"RequestWithNonZeroStatusStillNeedsItsBody", Octets().frame(id(CommandId::submit_sm), ESME_RSYSERR),
       ESME_RINVCMDLEN, "submit_sm: body ends before service_type"},
      {"QuerySmMessageIdLongerThanSixtyFiveOctets",
       Octets().cstr(s65).address("1").frame(id(CommandId::query_sm)), ESME_RINVMSGID,
       "query_sm: message_id longer than 65 octets"},
      {"QuerySmRespFinalDateOfTenCharacters",
       Octets().cstr("id").cstr("2201011200").u8(2).u8(0).frame(id(CommandId::query_sm_resp)), ESME_RINVPARLEN,
       "query_sm_resp: final_date is neither empty nor 16 characters"},
      {"QuerySmRespEndingBeforeErrorCode",
       Octets().cstr("id").cstr("").u8(2).frame(id(CommandId::query_sm_resp)), ESME_RINVCMDLEN,
       "query_sm_resp: body ends before error_code"},
      {"CancelSmEndingInsideDestinationAddr",
       Octets().cstr("").cstr("id").address("1").u8(1).u8(1).raw("123").frame(id(CommandId::cancel_sm)),
       ESME_RINVCMDLEN, "cancel_sm: body ends inside destination_addr (no NUL terminator)"},
      {"ReplaceSmValidityPeriodOfSeventeenCharacters",
       Octets().cstr("id").address("1").cstr("").cstr(std::string(17, '0')).frame(id(CommandId::replace_sm)),
       ESME_RINVEXPIRY, "replace_sm: validity_period longer than 17 octets"},
      {"ReplaceSmSmLengthRunningPastTheBody",
       Octets().cstr("id").address("1").cstr("").cstr("").u8(0).u8(0).u8(1).frame(id(CommandId::replace_sm)),
       ESME_RINVMSGLEN, "replace_sm: sm_length 1 runs past the body (0 octets left)"},
  };
}

class BrokenFrame : public ::testing::TestWithParam<Broken> {};

TEST_P(BrokenFrame, IsRejectedWithItsCommandStatusAndAMessageNamingTheField) {
  const Broken& broken = GetParam();
  const DecodeResult result = decode(octets(broken.frame), broken.limits);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(status::status_name(result.error().status), status::status_name(broken.status));
  EXPECT_THAT(result.error().message, HasSubstr(broken.message));
}

TEST_P(BrokenFrame, CarriesCommandIdAndSequenceNumberFromTheHeader) {
  const Broken& broken = GetParam();
  const DecodeResult result = decode(octets(broken.frame), broken.limits);
  ASSERT_FALSE(result.ok());
  if (broken.frame.size() < kHeaderSize) {
    EXPECT_EQ(result.error().sequence_number, 0u);
    return;
  }
  uint32_t command_id = 0;
  for (int i = 4; i < 8; ++i) command_id = command_id << 8 | static_cast<uint8_t>(broken.frame[i]);
  EXPECT_EQ(result.error().command_id, command_id);
  EXPECT_EQ(result.error().sequence_number, Octets::kSequence);
}

INSTANTIATE_TEST_SUITE_P(Decode, BrokenFrame, ::testing::ValuesIn(broken_frames()),
                         [](const auto& info) { return info.param.name; });

TEST(Decode, AcceptsStringsOneOctetBelowTheirMaximum) {
  const std::string frame =
      bind_body(std::string(15, 'a'), "12345678", std::string(12, 't'), std::string(40, 'r'))
          .frame(id(CommandId::bind_transmitter));
  const DecodeResult result = decode(octets(frame));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().as<Bind>().system_id, std::string(15, 'a'));
  EXPECT_EQ(result.pdu().as<Bind>().address_range, std::string(40, 'r'));
}

TEST(Decode, AcceptsSixtyFourCharacterAddressesInDataSm) {
  const DecodeResult result = decode(octets(data_sm_frame(std::string(64, '1'), std::string(64, '2'))));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().as<DataSm>().dest.addr, std::string(64, '2'));
}

TEST(Decode, AcceptsTwoHundredFiftyFourDestinations) {
  Octets body;
  body.cstr("").address("1").u8(254);
  for (int i = 0; i < 254; ++i) body.u8(1).address(std::to_string(i));
  body.u8(0).u8(0).u8(0).cstr("").cstr("").u8(0).u8(0).u8(0).u8(0).u8(0);
  const DecodeResult result = decode(octets(body.frame(id(CommandId::submit_multi))));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().as<SubmitMulti>().dests.size(), 254u);
  EXPECT_EQ(result.pdu().as<SubmitMulti>().dests.back().address.addr, "253");
}

TEST(Decode, AcceptsCommandLengthEqualToTheLimit) {
  const std::string frame = Octets().cstr(std::string(47, 'm')).frame(id(CommandId::submit_sm_resp));
  ASSERT_EQ(frame.size(), 64u);
  EXPECT_TRUE(decode(octets(frame), DecodeLimits{64}).ok());
}

TEST(Decode, ErrorResponseThatCarriesABodyDecodesIt) {
  const std::string frame = Octets().cstr("").frame(id(CommandId::submit_sm_resp), ESME_RSUBMITFAIL);
  const DecodeResult result = decode(octets(frame));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().command_status, ESME_RSUBMITFAIL);
  EXPECT_EQ(result.pdu().as<MessageIdResp>().message_id, "");
}

TEST(Decode, PassesThroughShortMessageTogetherWithMessagePayload) {
  // §5.3.2.32 forbids both at once, but a proxy forwards; the policy decides.
  const std::string frame = short_message_body("", "1", "2", "", "", "short")
                                .raw(hex("0424 0004 6C6F6E67"))  // message_payload "long"
                                .frame(id(CommandId::submit_sm));
  const DecodeResult result = decode(octets(frame));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().as<ShortMessage>().short_message, "short");
  EXPECT_EQ(result.pdu().as<ShortMessage>().tlvs.message_payload(), "long");
  EXPECT_EQ(encode(result.pdu()), frame);
}

TEST(Decode, AcceptsTimesOfSixteenCharactersInEitherFormat) {
  const std::string frame =
      short_message_body("", "1", "2", "230102030405012-", "000007000000000R").frame(id(CommandId::submit_sm));
  const DecodeResult result = decode(octets(frame));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().as<ShortMessage>().schedule_delivery_time, "230102030405012-");
}

// ---------------------------------------------------------------------------
// Encoding.

TEST(Encode, AppendsToWhatIsAlreadyInTheBufferSoWritesCanBeCoalesced) {
  std::string out = "earlier";
  encode(Pdu{CommandId::enquire_link, 0, 1, Empty{}}, out);
  encode(Pdu{CommandId::submit_sm_resp, 0, 2, MessageIdResp{"abc"}}, out);
  EXPECT_EQ(to_hex(out), to_hex("earlier" + hex("00000010 00000015 00000000 00000001") +
                                hex("00000014 80000004 00000000 00000002 61626300")));
}

TEST(Encode, OmitsTheBodyOfAnErrorResponseWithNothingToSay) {
  // §4.4.2: a submit_sm_resp with a non-zero status carries no body.
  const Pdu pdu{CommandId::submit_sm_resp, ESME_RMSGQFUL, 3, MessageIdResp{}};
  EXPECT_EQ(to_hex(encode(pdu)), "00000010800000040000001400000003");
}

TEST(Encode, KeepsTheBodyOfAnErrorResponseThatCarriesSomething) {
  const Pdu pdu{CommandId::submit_sm_resp, ESME_RMSGQFUL, 3, MessageIdResp{"x"}};
  EXPECT_EQ(to_hex(encode(pdu)), "0000001280000004000000140000000378" "00");
}

TEST(Encode, CutsAStringAtAnEmbeddedNulSoFieldsDoNotShift) {
  const Pdu pdu{CommandId::submit_sm_resp, 0, 1, MessageIdResp{std::string("ab\0cd", 5)}};
  const DecodeResult result = decode(octets(encode(pdu)));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().as<MessageIdResp>().message_id, "ab");
}

TEST(Encode, WritesAtMost255OctetsOfShortMessageSoTheFrameStaysConsistent) {
  const Pdu pdu{CommandId::submit_sm, 0, 1, ShortMessage{.short_message = std::string(300, 'x')}};
  const DecodeResult result = decode(octets(encode(pdu)));
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result.pdu().as<ShortMessage>().short_message, std::string(255, 'x'));
}

// ---------------------------------------------------------------------------
// Names.

TEST(CommandName, NamesEveryCommandAndCallsTheRestUnknown) {
  EXPECT_EQ(command_name(CommandId::submit_sm), "submit_sm");
  EXPECT_EQ(command_name(CommandId::deliver_sm_resp), "deliver_sm_resp");
  EXPECT_EQ(command_name(CommandId::generic_nack), "generic_nack");
  EXPECT_EQ(command_name(static_cast<CommandId>(0x99)), "unknown");
}

TEST(IsKnownCommand, KnowsTheTwentySevenCommandsOfSmpp34) {
  int known = 0;
  for (uint32_t id = 0; id <= 0x80000200; id = id == 0x200 ? 0x80000000 : id + 1) known += is_known_command(id);
  EXPECT_EQ(known, 27);
  EXPECT_FALSE(is_known_command(0x0000000A));  // reserved between outbind and bind_transceiver
}

TEST(StatusName, NamesKnownStatusesAndPrintsOthersInHex) {
  EXPECT_EQ(status::status_name(ESME_ROK), "ESME_ROK");
  EXPECT_EQ(status::status_name(ESME_RTHROTTLED), "ESME_RTHROTTLED");
  EXPECT_EQ(status::status_name(ESME_RINVOPTPARSTREAM), "ESME_RINVOPTPARSTREAM");
  EXPECT_EQ(status::status_name(0x401), "0x00000401");
}

TEST(EmptyBodyFor, PicksTheBodyAlternativeDocumentedForEachCommand) {
  EXPECT_TRUE(std::holds_alternative<ShortMessage>(empty_body_for(CommandId::deliver_sm)));
  EXPECT_TRUE(std::holds_alternative<MessageIdResp>(empty_body_for(CommandId::data_sm_resp)));
  EXPECT_TRUE(std::holds_alternative<Empty>(empty_body_for(CommandId::cancel_sm_resp)));
  EXPECT_TRUE(std::holds_alternative<Empty>(empty_body_for(CommandId::replace_sm_resp)));
  EXPECT_TRUE(std::holds_alternative<BindResp>(empty_body_for(CommandId::bind_transceiver_resp)));
  EXPECT_TRUE(std::holds_alternative<SubmitMultiResp>(empty_body_for(CommandId::submit_multi_resp)));
}

}  // namespace
}  // namespace smsgate::smpp
