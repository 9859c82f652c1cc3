// The process: check-config, reload on SIGHUP, graceful exit on SIGTERM; and
// a client nobody here wrote (the npm `smpp` package) through the gateway.
#include <boost/json.hpp>

#include "tests/gateway/harness.hpp"

namespace smsgate::gateway::test {
namespace {

namespace json = boost::json;

TEST(CheckConfig, ExitsZeroForAGoodFileAndOneWithEveryProblemForABadOne) {
  TempDir dir;
  RedisServer redis;
  GatewayConfig cfg(redis);
  cfg.account("acme");
  cfg.carrier("carrier-a", 2776);
  std::ofstream(dir.file("good.yaml")) << cfg.yaml();
  Child good({kGateway, "check-config", dir.file("good.yaml")}, dir.file("good.out"), dir.file("good.err"), cfg.env());
  EXPECT_EQ(good.wait(5000ms), 0) << slurp(dir.file("good.out")) << slurp(dir.file("good.err"));

  const std::string broken = SMSGATE_SOURCE_DIR "/tests/config/broken/bad_cidr.yaml";
  Child bad({kGateway, "check-config", broken}, dir.file("bad.out"), dir.file("bad.err"),
            {{"ACME_SMPP_PASSWORD", "x"}, {"CARRIER_A_PASSWORD", "y"}});
  EXPECT_EQ(bad.wait(5000ms), 1);
  const std::string out = slurp(dir.file("bad.out"));
  EXPECT_EQ(count_of(out, broken + ":"), 6u) << out;
  EXPECT_NE(out.find(broken + ":15:33: accounts[0].allowed_cidrs[1]: bad prefix length"), std::string::npos) << out;

  Child missing({kGateway, "check-config", dir.file("nope.yaml")}, dir.file("m.out"), dir.file("m.err"));
  EXPECT_EQ(missing.wait(5000ms), 1);

  Child example({kGateway, "check-config", SMSGATE_SOURCE_DIR "/examples/gateway.yaml"}, dir.file("e.out"),
                dir.file("e.err"), {{"DEMO_SMPP_PASSWORD", "demo123"}, {"SMSC_PASSWORD", "smsc123"}});
  EXPECT_EQ(example.wait(5000ms), 0) << slurp(dir.file("e.out"));
}

TEST(Shutdown, SigtermUnbindsEveryoneAndExitsZeroInTime) {
  OneCarrier t({"--latency-ms", "300"}, [](GatewayConfig& c) { c.carriers[0].binds = 2; });
  GatewayProcess& gw = *t.gw;
  asio::io_context& io = t.io;
  run(io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(gw.port());
    // Outstanding at the carrier when the signal comes: still answered.
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await sleep_for(100ms);
      gw.process().signal(SIGTERM);
    }, asio::detached);
    const auto t0 = Clock::now();
    const auto r = co_await esme->submit("8613800138000");
    EXPECT_TRUE(r.ok());
    co_await esme->session().wait_closed();
    EXPECT_EQ(esme->session().close_reason(), net::Error::unbound);
    EXPECT_LT(Clock::now() - t0, 5s);
  });
  EXPECT_EQ(gw.process().wait(10000ms), 0) << gw.log();
  EXPECT_NE(gw.log().find("\"event\":\"stopped\""), std::string::npos);
  EXPECT_NE(gw.log().find("\"accounts_unbound\":\"all\",\"carriers_unbound\":\"all\""), std::string::npos) << gw.log();
}

TEST(Reload, UnderLoadKeepsBindsAndAnswersEverySubmit) {
  TempDir b_dir;
  Simulator b(b_dir, {}, "b");  // carrier-b, for a reload to add
  OneCarrier t({}, [](GatewayConfig& c) {
    c.account("beta");
    c.carriers[0].binds = 2;
    c.extra_env[GatewayConfig::env_name("carrier-b")] = "carrier1";
  });
  const TempDir& dir = t.dir;
  const GatewayConfig& cfg = t.cfg;
  GatewayProcess& gw = *t.gw;
  const std::string report = dir.file("load.json");
  Child load({kLoad, "--target", "127.0.0.1:" + std::to_string(gw.port()), "--system-id", "acme", "--password",
              "secret1", "--binds", "2", "--count", "12000", "--rate", "4000", "--quiet", "--json", report},
             dir.file("load.out"), dir.file("load.err"));

  run(t.io, [&]() -> asio::awaitable<void> {
    auto beta = co_await Esme::bind(gw.port(), "beta");
    co_await sleep_for(500ms);
    // Add a carrier and a route to it, drop account beta.
    GatewayConfig next = cfg;
    next.accounts.pop_back();
    next.carrier("carrier-b", b.port());
    next.routes = "  - prefix: \"\"\n    carriers: [carrier-a]\n  - prefix: \"86139\"\n    carriers: [carrier-b]\n";
    EXPECT_TRUE(gw.reload(next));
    co_await beta->session().wait_closed();  // its account is gone
    EXPECT_TRUE(eventually([&] { return count_of(gw.log(), "\"event\":\"carrier_bound\"") == 3; }));
    co_await sleep_for(500ms);
    // A file with errors changes nothing.
    EXPECT_TRUE(gw.reload_text("node: gw\nsmpp: [\n", "\"event\":\"reload_rejected\""));
    co_await sleep_for(500ms);
    // Back to the first configuration: carrier-b goes, carrier-a stays bound.
    EXPECT_TRUE(gw.reload(cfg));
    const auto r = co_await Esme::try_bind(gw.port(), "beta", "secret1");
    EXPECT_EQ(r.status, status::ESME_ROK);
  });

  ASSERT_EQ(load.wait(20000ms), 0) << slurp(dir.file("load.out")) << slurp(dir.file("load.err"));
  const auto v = json::parse(slurp(report)).as_object();
  EXPECT_EQ(v.at("acked").as_int64(), 12000) << slurp(report);
  EXPECT_TRUE(v.at("unanswered").as_object().empty()) << slurp(report);
  EXPECT_EQ(v.at("rebinds").as_int64(), 0);
  EXPECT_EQ(v.at("dlrs_missing").as_int64(), 0);
  const std::string log = gw.log();
  EXPECT_EQ(count_of(log, "\"event\":\"carrier_down\",\"carrier\":\"carrier-a\""), 0u) << log;
  EXPECT_EQ(count_of(log, "\"event\":\"bind\",\"account\":\"acme\""), 2u) << log;
  EXPECT_NE(log.find("\"event\":\"config_diagnostic\",\"diagnostic\":\"" + dir.file("smsgate.yaml") + ":"),
            std::string::npos)
      << log;
}

// The npm `smpp` client (tests/interop/npm_client.js) submits through the
// gateway and checks that every receipt carries its submit_sm_resp's id.
struct NpmCase {
  std::vector<std::string> smsc_args;
  std::string id_format, receipt_id_format;
};

class NpmClient : public ::testing::TestWithParam<NpmCase> {};

TEST_P(NpmClient, GetsReceiptsWithTheGatewaysIds) {
  TempDir dir;
  RedisServer redis;
  Simulator smsc(dir, GetParam().smsc_args);
  GatewayConfig cfg(redis);
  cfg.account("npmtest", "secret");
  auto& c = cfg.carrier("carrier-a", smsc.port());
  c.id_format = GetParam().id_format;
  c.receipt_id_format = GetParam().receipt_id_format;
  GatewayProcess gw(dir, cfg);
  Child node({"/usr/bin/env", "node", SMSGATE_SOURCE_DIR "/tests/interop/npm_client.js", std::to_string(gw.port()),
              "npmtest", "secret", "30"},
             dir.file("node.out"), dir.file("node.err"));
  ASSERT_EQ(node.wait(25000ms), 0) << slurp(dir.file("node.out")) << slurp(dir.file("node.err")) << gw.log();
  const auto summary = json::parse(slurp(dir.file("node.out"))).as_object();
  EXPECT_EQ(summary.at("acked").as_int64(), 30);
  EXPECT_EQ(summary.at("receipts").as_int64(), 30);
  EXPECT_EQ(smsc.recorded(), 30u);
}

INSTANTIATE_TEST_SUITE_P(Formats, NpmClient,
                         ::testing::Values(NpmCase{{"--id-format", "hex"}, "hex", ""},
                                           NpmCase{{"--id-format", "decimal"}, "decimal", ""},
                                           NpmCase{{"--id-format", "zero-padded"}, "decimal", ""},
                                           NpmCase{{"--id-format", "hex", "--receipt-id-format", "decimal"}, "hex",
                                                   "decimal"}),
                         [](const auto& info) {
                           const auto& p = info.param;
                           std::string name = p.smsc_args[1] + (p.receipt_id_format.empty() ? "" : "_receipts_decimal");
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

}  // namespace
}  // namespace smsgate::gateway::test
