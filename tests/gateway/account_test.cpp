// Accounts: bind checks, and what reaches them besides submit_sm_resp -
// receipts and replies, also when they are not bound to take them.
#include "tests/gateway/harness.hpp"

namespace smsgate::gateway::test {
namespace {

std::vector<const smpp::ShortMessage*> replies_of(const Esme& esme) {
  std::vector<const smpp::ShortMessage*> out;
  for (const auto& p : esme.received) {
    const auto& sm = p.as<smpp::ShortMessage>();
    if (!smpp::is_receipt_esm_class(sm.esm_class)) out.push_back(&sm);
  }
  return out;
}

TEST(Binds, EachFailedCheckHasItsStatusAndRepeatedFailuresAreSlowed) {
  OneCarrier t({}, [](GatewayConfig& c) {
    c.accounts[0].max_binds = 1;
    c.account("beta");
    c.account("remote").cidrs = "[10.0.0.0/8]";
  });
  GatewayProcess& gw = *t.gw;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto first = co_await Esme::try_bind(gw.port(), "acme", "secret1");
    EXPECT_EQ(first.status, status::ESME_ROK);
    const auto unknown = co_await Esme::try_bind(gw.port(), "nobody", "secret1");
    const auto wrong = co_await Esme::try_bind(gw.port(), "beta", "wrong");
    const auto cidr = co_await Esme::try_bind(gw.port(), "remote", "secret1");
    const auto too_many = co_await Esme::try_bind(gw.port(), "acme", "secret1");
    EXPECT_EQ(unknown.status, status::ESME_RINVSYSID);
    EXPECT_EQ(wrong.status, status::ESME_RINVPASWD);
    EXPECT_EQ(cidr.status, status::ESME_RBINDFAIL);
    EXPECT_EQ(too_many.status, status::ESME_RALYBND);
    // 0, 200, 400, 600 ms before the answer.
    EXPECT_LT(unknown.took, 150ms);
    EXPECT_GE(wrong.took, 190ms);
    EXPECT_GE(cidr.took, 390ms);
    EXPECT_GE(too_many.took, 590ms);
    // A good bind forgets the address's failures.
    EXPECT_EQ((co_await Esme::try_bind(gw.port(), "beta", "secret1")).status, status::ESME_ROK);
    const auto again = co_await Esme::try_bind(gw.port(), "beta", "wrong");
    EXPECT_EQ(again.status, status::ESME_RINVPASWD);
    EXPECT_LT(again.took, 150ms);
  }, 15000ms);
  const std::string log = gw.log();
  EXPECT_EQ(count_of(log, "\"event\":\"bind_failed\""), 5u) << log;
  EXPECT_NE(log.find(R"("event":"bind_failed","account":"remote","peer":"127.0.0.1:)"), std::string::npos) << log;
  EXPECT_NE(log.find("\"reason\":\"max_binds reached\""), std::string::npos);
}

TEST(Binds, OverTlsWorkLikePlainOnes) {
  TempDir dir;
  Child openssl({"/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                 "/CN=localhost", "-keyout", dir.file("key.pem"), "-out", dir.file("cert.pem")},
                dir.file("openssl.out"), dir.file("openssl.err"));
  ASSERT_EQ(openssl.wait(20000ms), 0) << slurp(dir.file("openssl.err"));
  const uint16_t tls_port = free_port();
  OneCarrier t({}, [&](GatewayConfig& c) {
    c.tls_port = tls_port;
    c.tls_cert = dir.file("cert.pem");
    c.tls_key = dir.file("key.pem");
  });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto r = co_await Esme::try_bind(tls_port, "acme", "secret1", net::BindType::transceiver, true);
    EXPECT_EQ(r.status, status::ESME_ROK);
    if (!r.esme) co_return;
    EXPECT_TRUE(r.esme->session().is_tls());
    EXPECT_TRUE((co_await r.esme->submit("8613800138000")).ok());
    EXPECT_TRUE(co_await r.esme->wait_received(1));
  });
  EXPECT_NE(t.gw->log().find("\"type\":\"transceiver\",\"tls\":\"yes\""), std::string::npos) << t.gw->log();
}

int64_t pending_count(RedisServer& redis) { return redis.command("LLEN", "smsgate:pending:acme").integer; }

TEST(Pending, ReceiptsAndRepliesWaitForAReceiverBindThenFlowInOrder) {
  OneCarrier t({"--id-format", "decimal"}, [](GatewayConfig& c) { c.carriers[0].id_format = "decimal"; });
  std::vector<std::string> ids;
  run(t.io, [&]() -> asio::awaitable<void> {
    // A transmitter: receipts cannot come back on it.
    auto tx = co_await Esme::bind(t.port(), "acme", "secret1", net::BindType::transmitter);
    for (int i = 0; i < 5; ++i) {
      const auto r = co_await tx->submit("861380013800" + std::to_string(i));
      EXPECT_TRUE(r.ok());
      ids.push_back(r.pdu.as<smpp::MessageIdResp>().message_id);
      // One at a time: a receipt may overtake the id map (then it waits and
      // retries), which would change the order they are stored in.
      EXPECT_TRUE(eventually([&] { return pending_count(t.redis) == i + 1; })) << pending_count(t.redis);
    }
    co_await tx->unbind();
  });
  // Nobody bound at all: a reply waits too.
  const auto mo = t.smsc.mo("8613800138000", "10690000", "STOP");
  EXPECT_EQ(mo.first, 200) << mo.second;
  EXPECT_EQ(pending_count(t.redis), 6);

  run(t.io, [&]() -> asio::awaitable<void> {
    auto rx = co_await Esme::bind(t.port(), "acme", "secret1", net::BindType::receiver);
    EXPECT_TRUE(co_await rx->wait_received(6));
    EXPECT_EQ(rx->receipt_ids(), ids);  // in the order they were stored
    if (rx->received.size() == 6u) {
      EXPECT_EQ(rx->received.back().as<smpp::ShortMessage>().short_message, "STOP");
    }
    // Unbinding sends our deliver_sm_resps first: leaving without it could
    // drop them unsent, and then the entries rightly stay.
    co_await rx->unbind();
  });
  EXPECT_TRUE(eventually([&] { return pending_count(t.redis) == 0; }));
}

TEST(Pending, AnEntryStaysUntilTheAccountAcknowledgesIt) {
  OneCarrier t;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto tx = co_await Esme::bind(t.port(), "acme", "secret1", net::BindType::transmitter);
    EXPECT_TRUE((co_await tx->submit("8613800138000")).ok());
    EXPECT_TRUE(eventually([&] { return pending_count(t.redis) == 1; }));
    // A receiver that refuses it: it stays stored.
    auto refusing =
        co_await Esme::bind(t.port(), "acme", "secret1", net::BindType::receiver, status::ESME_RX_T_APPN);
    EXPECT_TRUE(co_await refusing->wait_received(1));
    co_await refusing->unbind();
    EXPECT_EQ(pending_count(t.redis), 1);
    auto rx = co_await Esme::bind(t.port(), "acme", "secret1", net::BindType::receiver);
    EXPECT_TRUE(co_await rx->wait_received(1));
    co_await rx->unbind();  // flushes the deliver_sm_resp
  });
  EXPECT_TRUE(eventually([&] { return pending_count(t.redis) == 0; }));
}

TEST(Replies, GoToTheAccountThatLastSentToTheNumberElseTheDefault) {
  OneCarrier t({}, [](GatewayConfig& c) {
    c.account("beta");
    c.default_account = "beta";
  });
  const auto mo = [&](std::string from, std::string text) {
    return off_thread([&t, from, text] { return t.smsc.mo(from, "10690000", text).first; });
  };
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port(), "acme");
    auto beta = co_await Esme::bind(t.port(), "beta");
    EXPECT_TRUE((co_await acme->submit("8613800138000", "promo", "10690000")).ok());
    EXPECT_TRUE((co_await beta->submit("8613900139000", "promo", "10690000")).ok());
    // With a "+" from the carrier: still the same phone.
    EXPECT_EQ(co_await mo("+8613800138000", "STOP"), 200);
    EXPECT_EQ(co_await mo("8613900139000", "TD"), 200);
    EXPECT_EQ(co_await mo("8613700137000", "who is this"), 200);
    EXPECT_TRUE(co_await acme->wait_received(2));  // its receipt and the reply
    EXPECT_TRUE(co_await beta->wait_received(3));
    const auto to_acme = replies_of(*acme), to_beta = replies_of(*beta);
    EXPECT_EQ(to_acme.size(), 1u);
    EXPECT_EQ(to_beta.size(), 2u);
    if (to_acme.size() == 1 && to_beta.size() == 2) {
      EXPECT_EQ(to_acme[0]->short_message, "STOP");
      EXPECT_EQ(to_beta[0]->short_message, "TD");
      EXPECT_EQ(to_beta[1]->short_message, "who is this");
    }
  });
}

TEST(Replies, NobodyTakesAreAnsweredAndDropped) {
  OneCarrier t;
  EXPECT_EQ(t.smsc.mo("8613700137000", "10690000", "hello?").first, 200);
  EXPECT_TRUE(eventually([&] { return t.gw->log().find("\"event\":\"reply_dropped\"") != std::string::npos; }));
  EXPECT_NE(t.gw->log().find("\"from\":\"+86137****7000\""), std::string::npos) << t.gw->log();
}

TEST(Receipts, WhileRedisIsDownAreRefusedForNowAndComeAgain) {
  OneCarrier t({"--dlr-delay-ms", "300"}, {}, {.aof = true});
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    const auto r = co_await esme->submit("8613800138000");
    EXPECT_TRUE(r.ok());
    t.redis.stop();
    // The receipt is refused with ESME_RX_T_APPN; the carrier sends it again.
    for (int i = 0; i < 100 && t.smsc.stat("deliver_sm_resp_errors") == 0; ++i) co_await sleep_for(20ms);
    EXPECT_GE(t.smsc.stat("deliver_sm_resp_errors"), 1u);
    t.redis.start();
    EXPECT_TRUE(co_await esme->wait_received(1, 6000ms));
    EXPECT_EQ(esme->receipt_ids(), std::vector<std::string>{r.pdu.as<smpp::MessageIdResp>().message_id});
  }, 12000ms);
}

}  // namespace
}  // namespace smsgate::gateway::test
