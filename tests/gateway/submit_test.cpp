// The submit path and receipts, end to end: an account (ESME) -> smsgate ->
// smsgate-smsc, with a real redis-server.
#include "tests/gateway/harness.hpp"

namespace smsgate::gateway::test {
namespace {

// gwtest-<16 hex digits of time><2 of the worker>
bool is_ours(std::string_view id) {
  constexpr std::string_view prefix = "gwtest-";
  return id.size() == prefix.size() + 18 && id.substr(0, prefix.size()) == prefix &&
         id.find_first_not_of("0123456789abcdef", prefix.size()) == std::string_view::npos;
}

bool all_ours(const std::vector<std::string>& ids) { return std::all_of(ids.begin(), ids.end(), is_ours); }

std::vector<smpp::Pdu> submits(int n) {
  std::vector<smpp::Pdu> out;
  for (int i = 0; i < n; ++i) {
    char dest[32];
    std::snprintf(dest, sizeof dest, "86138000%05d", i);
    out.push_back(Esme::submit_pdu(dest));
  }
  return out;
}

std::vector<std::string> message_ids(const std::vector<net::Reply>& replies) {
  std::vector<std::string> ids;
  for (const auto& r : replies) {
    if (r.ok()) ids.push_back(r.pdu.as<smpp::MessageIdResp>().message_id);
  }
  return ids;
}

auto carrier_ids(std::string id_format, std::string receipt_id_format = {}) {
  return [=](GatewayConfig& c) {
    c.carriers[0].id_format = id_format;
    c.carriers[0].receipt_id_format = receipt_id_format;
  };
}

// Submits `n` messages; expects each answered ESME_ROK with one of our ids
// and a receipt for each carrying that id. Returns the ids.
asio::awaitable<std::vector<std::string>> submit_and_expect_receipts(Esme& esme, int n) {
  const auto ids = message_ids(co_await esme.submit_all(submits(n)));
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(n));
  EXPECT_TRUE(all_ours(ids)) << (ids.empty() ? "" : ids.front());
  EXPECT_TRUE(co_await esme.wait_received(ids.size()));
  EXPECT_EQ(sorted(esme.receipt_ids()), sorted(ids));
  co_return ids;
}

// The carrier's id format is undone whatever it is.
struct IdFormatCase {
  std::vector<std::string> smsc_args;
  std::string id_format;
  std::string receipt_id_format;
};

class ReceiptIds : public ::testing::TestWithParam<IdFormatCase> {};

TEST_P(ReceiptIds, CarryOurIdsWhateverTheCarriersFormat) {
  OneCarrier t(GetParam().smsc_args, carrier_ids(GetParam().id_format, GetParam().receipt_id_format));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    co_await submit_and_expect_receipts(*esme, 20);
    // The text's id: is ours too.
    for (const auto& p : esme->received) {
      const auto r = smpp::parse_receipt(p.as<smpp::ShortMessage>().short_message);
      EXPECT_TRUE(r && is_ours(r->id));
    }
  });
}

INSTANTIATE_TEST_SUITE_P(
    Formats, ReceiptIds,
    ::testing::Values(IdFormatCase{{"--id-format", "hex", "--id-start", "250"}, "hex", ""},
                      IdFormatCase{{"--id-format", "decimal"}, "decimal", ""},
                      IdFormatCase{{"--id-format", "zero-padded"}, "decimal", ""},
                      IdFormatCase{{"--id-format", "hex", "--receipt-id-format", "decimal", "--id-start", "4000"},
                                   "hex", "decimal"},
                      IdFormatCase{{"--id-format", "uuid"}, "string", ""}),
    [](const auto& info) {
      const auto& p = info.param;
      std::string name = p.smsc_args[1] + (p.receipt_id_format.empty() ? "" : "_receipts_" + p.receipt_id_format);
      std::replace(name.begin(), name.end(), '-', '_');
      return name;
    });

TEST(Submit, ForwardsTheDestinationAsE164AndTheRestAsReceived) {
  OneCarrier t;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    // National (TON 2) in the account's default region CN.
    auto pdu = Esme::submit_pdu("13800138000", "national", "10690000", 2);
    pdu.as<smpp::ShortMessage>().tlvs.items.push_back({0x1401, std::string("\x01\x02\x00\x03", 4)});
    const auto r = co_await esme->session().request(pdu);
    EXPECT_TRUE(r.ok());
    // Not a number at all.
    const auto bad = co_await esme->submit("not-a-number");
    EXPECT_EQ(bad.pdu.command_status, status::ESME_RINVDSTADR);
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 1; }));
  const std::string record = slurp(t.dir.file("smsc.record"));
  EXPECT_NE(record.find("\"dest\":\"8613800138000\",\"dest_ton\":1"), std::string::npos) << record;
  EXPECT_NE(record.find("{\"tag\":5121,\"hex\":\"01020003\"}"), std::string::npos) << record;
  EXPECT_NE(record.find("\"source\":\"10690000\",\"source_ton\":5"), std::string::npos) << record;
  EXPECT_NE(t.gw->log().find("\"event\":\"invalid_destination\""), std::string::npos);
}

TEST(Submit, AnswersOkWithOurIdWhenRedisCannotStoreTheIdMap) {
  OneCarrier t;
  t.redis.stop();
  ASSERT_TRUE(eventually([&] { return count_of(t.gw->log(), "\"event\":\"redis_down\"") >= 2; }));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    const auto r = co_await esme->submit("8613800138000");
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(is_ours(r.pdu.as<smpp::MessageIdResp>().message_id));
  });
  EXPECT_NE(t.gw->log().find("\"level\":\"error\",\"event\":\"id_map_write_failed\""), std::string::npos)
      << t.gw->log();
}

TEST(Receipts, BeforeTheSubmitResponseStillFindTheirAccount) {
  OneCarrier t({"--early-dlr-ratio", "1"}, carrier_ids("hex"));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    co_await submit_and_expect_receipts(*esme, 10);
  });
}

TEST(Receipts, AfterTheIdMapTtlAreUnknownAndDropped) {
  OneCarrier t({"--dlr-delay-ms", "2200"}, [](GatewayConfig& c) {
    carrier_ids("hex")(c);
    c.id_map_ttl = "1s";
    c.unknown_id_retry = "0";
  });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    EXPECT_EQ(message_ids(co_await esme->submit_all(submits(3))).size(), 3u);
    EXPECT_FALSE(co_await esme->wait_received(1, 3500ms));
  });
  EXPECT_EQ(count_of(t.gw->log(), "\"event\":\"receipt_unknown_id\""), 3u) << t.gw->log();
}

// on_error: allow. Messages accepted while Redis is down keep their
// receipts: the id mappings Redis did not take wait in memory (receipts find
// them there) and are written once Redis is back.
TEST(Receipts, OfMessagesAcceptedWhileRedisIsDownReachTheAccount) {
  OneCarrier t({"--dlr-delay-ms", "1000"}, [](GatewayConfig& c) { c.redis_on_error = "allow"; });
  std::vector<std::string> ids;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    ids = co_await submit_and_expect_receipts(*esme, 5);
    t.redis.stop();
    EXPECT_TRUE(co_await off_thread([&] {
      return eventually([&] { return count_of(t.gw->log(), "\"event\":\"redis_down\"") >= 2; });
    }));
    const auto during = message_ids(co_await esme->submit_all(submits(20)));
    EXPECT_EQ(during.size(), 20u);
    ids.insert(ids.end(), during.begin(), during.end());
    co_await sleep_for(1500ms);  // some receipts come while Redis is still down
    t.redis.start();
    EXPECT_TRUE(co_await esme->wait_received(ids.size(), 10000ms));
    EXPECT_EQ(sorted(esme->receipt_ids()), sorted(ids));
  }, 30000ms);
  // Every mapping reached Redis.
  EXPECT_TRUE(eventually([&] {
    const auto keys = t.redis.command("KEYS", "*id:carrier-a:*");
    return keys.elements.size() >= 20;
  }, 5000ms)) << t.gw->log();
  EXPECT_NE(t.gw->log().find("\"event\":\"id_map_write_failed\""), std::string::npos);
  EXPECT_EQ(t.gw->log().find("\"event\":\"receipt_unknown_id\""), std::string::npos) << t.gw->log();
}

TEST(Receipts, SurviveAGatewayRestart) {
  OneCarrier t({"--dlr-delay-ms", "1500"}, carrier_ids("hex"));
  std::vector<std::string> ids;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    ids = message_ids(co_await esme->submit_all(submits(5)));
    co_await esme->unbind();
  });
  ASSERT_EQ(ids.size(), 5u);
  // The carrier holds the receipts while the gateway is away.
  ASSERT_EQ(t.gw->terminate(), 0);
  t.gw->start(1);
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port(), "acme", "secret1", net::BindType::receiver);
    EXPECT_TRUE(co_await esme->wait_received(5, 5000ms));
    EXPECT_EQ(sorted(esme->receipt_ids()), sorted(ids));
  });
}

TEST(Carriers, FailOverToTheNextOfTheRouteAndAnswerAtOnceWhenNoneIsUp) {
  TempDir b_dir;
  Simulator b(b_dir, {}, "b");
  OneCarrier t({}, [&](GatewayConfig& c) { c.carrier("carrier-b", b.port()); });  // route: [carrier-a, carrier-b]
  Simulator& a = t.smsc;
  GatewayProcess& gw = *t.gw;
  asio::io_context& io = t.io;
  const auto down = [&](std::size_t n) {
    return eventually([&] { return count_of(gw.log(), "\"event\":\"carrier_down\"") >= n; });
  };
  run(io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(gw.port());
    EXPECT_EQ(message_ids(co_await esme->submit_all(submits(5))).size(), 5u);
    EXPECT_TRUE(eventually([&] { return a.recorded() == 5; }));
    a.process().kill();
    EXPECT_TRUE(down(1));
    EXPECT_EQ(message_ids(co_await esme->submit_all(submits(5))).size(), 5u);
    EXPECT_TRUE(eventually([&] { return b.recorded() == 5; }));
    b.process().kill();
    EXPECT_TRUE(down(2));
    const auto t0 = Clock::now();
    const auto r = co_await esme->submit("8613800138000");
    EXPECT_LT(Clock::now() - t0, 1s);
    EXPECT_EQ(r.pdu.command_status, status::ESME_RSYSERR);  // no_route_status
  });
}

// The receipts' stat: fields, in arrival order.
std::vector<std::string> receipt_stats(const Esme& esme) {
  std::vector<std::string> stats;
  for (const auto& p : esme.received) {
    if (const auto r = smpp::parse_receipt(p.as<smpp::ShortMessage>().short_message)) stats.push_back(r->stat);
  }
  return stats;
}

// The carrier's bind drops with 64 submits written and unanswered: the
// carrier may have every one of them. Each is answered once, ESME_ROK with
// our id (an error would have the account send it again: the phone twice),
// followed by a final receipt stat:UNKNOWN; none is sent again when the
// carrier comes back. With `late_response_window: 0`, ESME_RSYSERR instead.
void drop_with_64_in_flight(bool late_window) {
  const uint16_t port = free_port();
  const auto listen = [port] { return std::vector<std::string>{"--listen", "127.0.0.1:" + std::to_string(port)}; };
  auto slow = listen();
  slow.insert(slow.end(), {"--latency-ms", "10000"});
  OneCarrier t(slow, [&](GatewayConfig& c) {
    c.carriers[0].window = 128;
    if (!late_window) c.late_response_window = "0";
  });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    int late_responses = 0;
    esme->session().set_event_handler([&](net::Session&, const net::SessionEvent& e) {
      if (e.kind == net::SessionEvent::Kind::protocol_error) ++late_responses;
    });
    asio::co_spawn(t.io, [&]() -> asio::awaitable<void> {
      for (int i = 0; i < 150 && t.smsc.recorded() < 64; ++i) co_await sleep_for(20ms);
      EXPECT_EQ(t.smsc.recorded(), 64u);
      t.smsc.process().kill();
    }, asio::detached);
    const auto replies = co_await esme->submit_all(submits(64));
    for (const auto& r : replies) {
      EXPECT_FALSE(r.error);
      EXPECT_EQ(r.pdu.command_status, late_window ? status::ESME_ROK : status::ESME_RSYSERR);
    }
    if (late_window) {
      const auto ids = message_ids(replies);
      EXPECT_EQ(ids.size(), 64u);
      EXPECT_TRUE(all_ours(ids));
      EXPECT_TRUE(co_await esme->wait_received(64, 5000ms));
      EXPECT_EQ(sorted(esme->receipt_ids()), sorted(ids));
      EXPECT_EQ(receipt_stats(*esme), std::vector<std::string>(64, "UNKNOWN"));
    }
    // The carrier comes back: nothing is sent to it again.
    Simulator again(t.dir, listen(), "smsc2");
    EXPECT_TRUE(eventually([&] { return count_of(t.gw->log(), "\"event\":\"carrier_bound\"") >= 2; }, 8000ms));
    co_await sleep_for(300ms);
    EXPECT_EQ(again.recorded(), 0u);
    EXPECT_EQ(late_responses, 0);
    EXPECT_EQ(esme->received.size(), late_window ? 64u : 0u);  // one receipt each, none twice
  }, 20000ms);
}

TEST(Carriers, ADroppedBindAnswersInFlightSubmitsOkWithAnUnknownReceiptAndResendsNothing) {
  drop_with_64_in_flight(true);
}

TEST(Carriers, WithTheLateWindowOffADroppedBindAnswersInFlightSubmitsWithAnError) {
  drop_with_64_in_flight(false);
}

// A carrier that answers after response_timeout: the account hears ESME_ROK
// with our id once, at the timeout; the late answer still writes the id
// mapping, so the carrier's receipt reaches the account; nothing is sent twice.
TEST(Carriers, AnAnswerAfterTheTimeoutStillBringsTheReceipt) {
  OneCarrier t({"--latency-ms", "1500"}, [](GatewayConfig& c) { c.response_timeout = "500ms"; });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    int stray_responses = 0;
    esme->session().set_event_handler([&](net::Session&, const net::SessionEvent& e) {
      if (e.kind == net::SessionEvent::Kind::protocol_error) ++stray_responses;
    });
    const auto ids = message_ids(co_await esme->submit_all(submits(20)));
    EXPECT_EQ(ids.size(), 20u);
    EXPECT_TRUE(all_ours(ids));
    EXPECT_TRUE(co_await esme->wait_received(20, 8000ms));
    EXPECT_EQ(sorted(esme->receipt_ids()), sorted(ids));
    EXPECT_EQ(receipt_stats(*esme), std::vector<std::string>(20, "DELIVRD"));
    co_await sleep_for(300ms);
    EXPECT_EQ(esme->received.size(), 20u);  // one receipt each
    EXPECT_EQ(stray_responses, 0);          // one response each
  }, 20000ms);
  EXPECT_EQ(t.smsc.recorded(), 20u);
  EXPECT_NE(t.gw->log().find("\"event\":\"carrier_timeout\""), std::string::npos);
  EXPECT_EQ(t.gw->log().find("\"event\":\"receipt_unknown_id\""), std::string::npos) << t.gw->log();
}

// No answer within the late window either: the account, told ESME_ROK at the
// timeout, gets a final receipt of smsgate's own saying UNKNOWN.
TEST(Carriers, NoAnswerWithinTheLateWindowEndsInAnUnknownReceipt) {
  OneCarrier t({"--latency-ms", "5000"}, [](GatewayConfig& c) {
    c.response_timeout = "300ms";
    c.late_response_window = "700ms";
  });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    const auto ids = message_ids(co_await esme->submit_all(submits(3)));
    EXPECT_EQ(ids.size(), 3u);
    EXPECT_TRUE(co_await esme->wait_received(3, 4000ms));
    EXPECT_EQ(sorted(esme->receipt_ids()), sorted(ids));
    EXPECT_EQ(receipt_stats(*esme), std::vector<std::string>(3, "UNKNOWN"));
    for (const auto& p : esme->received) {
      EXPECT_EQ(p.as<smpp::ShortMessage>().tlvs.message_state(), static_cast<uint8_t>(smpp::MessageState::unknown));
    }
  }, 15000ms);
  EXPECT_EQ(t.smsc.recorded(), 3u);
}

// Without the late window, the old contract: ESME_RSYSERR at the timeout.
TEST(Carriers, WithTheLateWindowOffATimeoutIsAnError) {
  OneCarrier t({"--latency-ms", "1500"}, [](GatewayConfig& c) {
    c.response_timeout = "300ms";
    c.late_response_window = "0";
  });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    const auto r = co_await esme->submit("8613800138000");
    EXPECT_EQ(r.pdu.command_status, status::ESME_RSYSERR);
  });
}

TEST(Carriers, ThrottledSubmitsAreRetriedThenAnsweredBack) {
  OneCarrier t({"--throttle-ratio", "1"}, [](GatewayConfig& c) { c.carriers[0].throttle_retries = 2; });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    const auto t0 = Clock::now();
    const auto r = co_await esme->submit("8613800138000");
    EXPECT_EQ(r.pdu.command_status, status::ESME_RTHROTTLED);
    EXPECT_GE(Clock::now() - t0, 300ms);  // 100 ms + 200 ms of backoff
  });
  EXPECT_TRUE(eventually([&] { return t.smsc.recorded() == 3; }));
}

TEST(Carriers, MaxTpsDelaysSendingInsteadOfRefusing) {
  OneCarrier t({}, [](GatewayConfig& c) { c.carriers[0].max_tps = 50; });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    const auto t0 = Clock::now();
    EXPECT_EQ(message_ids(co_await esme->submit_all(submits(60))).size(), 60u);
    // 5 at once (a tenth of a second's worth), then 50 per second.
    EXPECT_GE(Clock::now() - t0, 900ms);
  });
}

TEST(Accounts, OverMaxTpsAreThrottled) {
  OneCarrier t({}, [](GatewayConfig& c) { c.accounts[0].max_tps = 10; });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    int ok = 0, throttled = 0;
    for (const auto& r : co_await esme->submit_all(submits(40))) {
      ok += r.ok();
      throttled += r.pdu.command_status == status::ESME_RTHROTTLED;
    }
    EXPECT_EQ(ok + throttled, 40);
    EXPECT_GE(ok, 10);
    EXPECT_LE(ok, 13);
  });
}

}  // namespace
}  // namespace smsgate::gateway::test
