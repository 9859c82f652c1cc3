// Messages deferred by quiet hours, end to end: accepted at once with our
// id, held in Redis, released when the recipient's window opens (receipt
// with that id), or ended with a receipt saying why not (an opt-out that
// came meanwhile, an expiry) - across restarts and with two nodes on one
// Redis. Each window opens a few seconds from the test's start, on China's
// clock (UTC+8), for an hour.
#include "tests/gateway/policy_harness.hpp"

namespace smsgate::gateway::test {
namespace {

constexpr uint32_t OK = status::ESME_ROK;
using Receipts = std::vector<std::pair<std::string, std::string>>;

// A CN rule that defers until `w` opens, released at once when it does.
std::string defer_until(const Window& w, const std::string& max_defer = "24h", const std::string& ramp = "0s",
                        int batch = 200) {
  return quiet_hours(quiet_rule("cn-day", "CN", w.allow, "defer", max_defer)) + quick_release(ramp, batch);
}

auto with_policy(std::string policy) {
  return [policy = std::move(policy)](GatewayConfig& c) { c.policy = policy; };
}

std::chrono::milliseconds until_open(const Window& w, std::chrono::milliseconds then) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(w.opens - SysClock::now()) + then;
}

// Fails (and says so) when the window opened before the test got its
// submits in: a test machine too slow for these timings.
bool still_closed(const Window& w) {
  if (SysClock::now() < w.opens) return true;
  ADD_FAILURE() << "the window opened before the submits were answered (smsgate slow to start?)";
  return false;
}

TEST(Defer, AMessageInQuietHoursIsAcceptedAtOnceAndSentWhenTheWindowOpens) {
  const Window w = china_window_opening_in(3s);
  OneCarrier t({}, with_policy(defer_until(w)));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    const auto t0 = Clock::now();
    const auto r = co_await esme->submit(kNumber);
    EXPECT_LT(Clock::now() - t0, 500ms);
    EXPECT_EQ(status_of(r), OK);
    const std::string id = id_of(r);
    EXPECT_EQ(id.rfind("gwtest-", 0), 0u) << id;
    if (!still_closed(w)) co_return;
    EXPECT_EQ(deferred_waiting(t.redis), 1);
    EXPECT_TRUE(co_await until([&] { return t.smsc.recorded() == 1; }, until_open(w, 3000ms)));
    const auto got = recorded(t.dir);
    EXPECT_EQ(got.size(), 1u);
    for (const auto& g : got) EXPECT_GE(g.ts_ms, w.opens_ms()) << "sent before the window opened";
    // The carrier's receipt, with the id the account was given.
    EXPECT_TRUE(co_await esme->wait_received(1, 5000ms));
    EXPECT_EQ(receipts(*esme), (Receipts{{id, "DELIVRD"}}));
    EXPECT_TRUE(co_await until([&] { return deferred_waiting(t.redis) == 0; }));
  }, 12000ms);
}

TEST(Defer, AnOptOutThatComesWhileItWaitsWinsAndItsReceiptSaysRejected) {
  const Window w = china_window_opening_in(3s);
  OneCarrier t({}, with_policy(defer_until(w)));
  opt_out(t.redis, kOtherNumber);
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    // Already opted out: refused now, not when the window opens.
    EXPECT_EQ(status_of(co_await esme->submit(kOtherNumber)), kOptedOut);
    const auto r = co_await esme->submit(kNumber);
    EXPECT_EQ(status_of(r), OK);
    if (!still_closed(w)) co_return;
    opt_out(t.redis, kNumber);
    EXPECT_TRUE(co_await esme->wait_received(1, until_open(w, 4000ms)));
    EXPECT_EQ(receipts(*esme), (Receipts{{id_of(r), "REJECTD"}}));
    EXPECT_TRUE(co_await until([&] { return deferred_waiting(t.redis) == 0; }));
  }, 12000ms);
  EXPECT_EQ(t.smsc.stat("submits"), 0u);
}

// One message to kNumber, deferred while `w` is closed; then smsgate is
// stopped (SIGTERM, exit 0). Its id, or "" after a reported failure.
std::string defer_one_then_stop(OneCarrier& t, const Window& w, SysClock::time_point* answered = nullptr) {
  std::string id;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    const auto r = co_await esme->submit(kNumber);
    if (answered) *answered = SysClock::now();
    EXPECT_EQ(status_of(r), OK);
    id = id_of(r);
    still_closed(w);
    co_await esme->unbind();
  });
  const auto rc = t.gw->terminate();
  if (rc != 0) {
    ADD_FAILURE() << "smsgate did not exit 0: " << t.gw->log();
    return {};
  }
  return id;
}

TEST(Defer, AnExpiryThatPassedWhileTheGatewayWasDownEndsInAnExpiredReceipt) {
  const Window w = china_window_opening_in(2s);
  OneCarrier t({}, with_policy(defer_until(w, "3s")));
  SysClock::time_point answered;
  const std::string id = defer_one_then_stop(t, w, &answered);
  ASSERT_FALSE(id.empty());
  // Down until its max_defer (3 s from the submit) has passed: nothing to poll for.
  std::this_thread::sleep_until(answered + 3s + 200ms);
  t.gw->start(1);
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port(), "acme", "secret1", net::BindType::receiver);
    EXPECT_TRUE(co_await esme->wait_received(1, 5000ms));
    EXPECT_EQ(receipts(*esme), (Receipts{{id, "EXPIRED"}}));
    EXPECT_TRUE(co_await until([&] { return deferred_waiting(t.redis) == 0; }));
  });
  EXPECT_EQ(t.smsc.stat("submits"), 0u);
}

TEST(Defer, AWaitingMessageSurvivesARestartAndIsReleasedAfterIt) {
  const Window w = china_window_opening_in(3s);
  OneCarrier t({}, with_policy(defer_until(w)));
  const std::string id = defer_one_then_stop(t, w);
  ASSERT_FALSE(id.empty());
  t.gw->start(1);
  EXPECT_EQ(t.smsc.stat("submits"), 0u);
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    EXPECT_TRUE(co_await until([&] { return t.smsc.recorded() == 1; }, until_open(w, 3000ms)));
    const auto got = recorded(t.dir);
    for (const auto& g : got) EXPECT_GE(g.ts_ms, w.opens_ms()) << "sent before the window opened";
    EXPECT_TRUE(co_await esme->wait_received(1, 5000ms));
    EXPECT_EQ(receipts(*esme), (Receipts{{id, "DELIVRD"}}));
  }, 12000ms);
}

// A node began handing a released message to the carrier and died before it
// could finish it (here: the mark written by hand while smsgate is down).
// The scheduler that takes it next cannot know whether the carrier has it:
// it is not sent again (the phone would get it twice) and the account gets
// a final receipt stat:UNKNOWN.
TEST(Defer, AReleaseCutOffByANodesDeathIsNotSentAgainAndEndsUnknown) {
  const Window w = china_window_opening_in(2s);
  OneCarrier t({}, with_policy(defer_until(w)));
  const std::string id = defer_one_then_stop(t, w);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(t.redis.command("HSET", "smsgate:{defer}:msg:" + id, "sending", "1").integer, 1);
  t.gw->start(1);
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port(), "acme", "secret1", net::BindType::receiver);
    EXPECT_TRUE(co_await esme->wait_received(1, until_open(w, 4000ms)));
    EXPECT_EQ(receipts(*esme), (Receipts{{id, "UNKNOWN"}}));
    EXPECT_TRUE(co_await until([&] { return deferred_waiting(t.redis) == 0; }));
  }, 12000ms);
  EXPECT_EQ(t.smsc.stat("submits"), 0u);
  EXPECT_NE(t.gw->log().find("interrupted_release"), std::string::npos);
}

// A released message whose carrier does not answer in time may be at the
// carrier: it is not sent again, and the account gets a receipt UNKNOWN
// (not UNDELIV: smsgate does not know that it failed).
TEST(Defer, AReleaseTheCarrierDoesNotAnswerEndsUnknownAndIsNotSentAgain) {
  const Window w = china_window_opening_in(2s);
  OneCarrier t({"--latency-ms", "5000"}, [&](GatewayConfig& c) {
    c.policy = defer_until(w);
    c.response_timeout = "300ms";
  });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    const auto r = co_await esme->submit(kNumber);
    EXPECT_EQ(status_of(r), OK);
    const std::string id = id_of(r);
    if (!still_closed(w)) co_return;
    EXPECT_TRUE(co_await esme->wait_received(1, until_open(w, 4000ms)));
    EXPECT_EQ(receipts(*esme), (Receipts{{id, "UNKNOWN"}}));
    EXPECT_TRUE(co_await until([&] { return deferred_waiting(t.redis) == 0; }));
    co_await sleep_for(1500ms);  // a second take would have come by now (poll interval)
    EXPECT_EQ(esme->received.size(), 1u);
  }, 15000ms);
  EXPECT_EQ(t.smsc.recorded(), 1u);
}

// Released messages that wait behind a slow carrier longer than their lease
// keep it (the node extends the leases of what it still sends): none is
// taken again and ended UNKNOWN while it is still on its way; each reaches
// the carrier once and its own receipt reaches the account.
TEST(Defer, AQueueBehindASlowCarrierOutlastingTheLeaseIsNotTakenAgain) {
  const Window w = china_window_opening_in(2s);
  OneCarrier t({}, [&](GatewayConfig& c) {
    c.policy = defer_until(w) + "    lease: 1s\n";
    c.carriers[0].max_tps = 2;  // 6 messages: about 3 s behind the carrier's rate
  });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    std::vector<std::string> ids;
    for (int i = 0; i < 6; ++i) {
      const auto r = co_await esme->submit(kNumber);
      EXPECT_EQ(status_of(r), OK);
      ids.push_back(id_of(r));
    }
    if (!still_closed(w)) co_return;
    EXPECT_TRUE(co_await esme->wait_received(6, until_open(w, 8000ms)));
    Receipts want;
    for (const auto& id : ids) want.emplace_back(id, "DELIVRD");
    auto got = receipts(*esme);
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want);
    EXPECT_TRUE(co_await until([&] { return deferred_waiting(t.redis) == 0; }));
    EXPECT_TRUE(co_await until([&] { return t.smsc.recorded() >= 6; }));
    co_await sleep_for(1500ms);  // past a lease more: nothing is sent again
  }, 20000ms);
  EXPECT_EQ(t.smsc.recorded(), 6u);
  EXPECT_EQ(t.gw->log().find("interrupted_release"), std::string::npos) << "taken again while still being sent";
}

// A counter's value in the "counters" line smsgate logs at exit.
uint64_t counter_at_exit(const GatewayProcess& gw, const std::string& name) {
  const std::string log = gw.log();
  const auto line = log.find("\"event\":\"counters\"");
  if (line == std::string::npos) return 0;
  const auto at = log.find(name + "=", line);
  return at == std::string::npos ? 0 : std::stoull(log.substr(at + name.size() + 1));
}

// Both nodes' schedulers take from one queue, a few at a time, while the
// ramp spreads the releases over a second: each message goes once.
TEST(Defer, TwoNodesOnOneRedisReleaseEveryMessageExactlyOnce) {
  TempDir dir_a, dir_b, smsc_dir;
  RedisServer redis;
  Simulator smsc(smsc_dir, {});
  const Window w = china_window_opening_in(4s);
  GatewayConfig a(redis), b(redis);
  for (GatewayConfig* c : {&a, &b}) {
    c->account("acme");
    c->carrier("carrier-a", smsc.port());
    c->policy = defer_until(w, "24h", "1s", 20);
  }
  a.node = "gwa";
  b.node = "gwb";
  GatewayProcess gw_a(dir_a, a), gw_b(dir_b, b);
  constexpr int kEach = 100;
  std::vector<std::string> numbers;
  for (int i = 0; i < 2 * kEach; ++i) numbers.push_back("86138001" + std::to_string(10000 + i));
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto ea = co_await Esme::bind(gw_a.port());
    auto eb = co_await Esme::bind(gw_b.port());
    std::vector<smpp::Pdu> to_a, to_b;
    for (int i = 0; i < kEach; ++i) {
      to_a.push_back(Esme::submit_pdu(numbers[i]));
      to_b.push_back(Esme::submit_pdu(numbers[kEach + i]));
    }
    const auto ra = statuses_of(co_await ea->submit_all(to_a));
    const auto rb = statuses_of(co_await eb->submit_all(to_b));
    EXPECT_EQ(std::count(ra.begin(), ra.end(), OK), kEach);
    EXPECT_EQ(std::count(rb.begin(), rb.end(), OK), kEach);
    if (!still_closed(w)) co_return;
    EXPECT_EQ(deferred_waiting(redis), 2 * kEach);
    EXPECT_TRUE(co_await until([&] { return deferred_waiting(redis) == 0; }, until_open(w, 6000ms)))
        << deferred_waiting(redis) << " still waiting";
    co_await ea->unbind();
    co_await eb->unbind();
  }, 16000ms);
  // The queue is empty: nothing more can be released. The record file is
  // flushed every 50 ms.
  ASSERT_TRUE(eventually([&] { return smsc.recorded() >= numbers.size(); }));
  EXPECT_EQ(smsc.stat("submits"), numbers.size());
  std::map<std::string, int> times;
  for (const auto& r : recorded(smsc_dir)) {
    ++times[r.dest];
    EXPECT_GE(r.ts_ms, w.opens_ms()) << r.dest << " sent before the window opened";
  }
  EXPECT_EQ(times.size(), numbers.size());
  for (const auto& [dest, n] : times) EXPECT_EQ(n, 1) << dest;
  // Both took part (what each released: the counters logged at exit).
  uint64_t released = 0;
  for (GatewayProcess* gw : {&gw_a, &gw_b}) {
    ASSERT_EQ(gw->terminate(), 0) << gw->log();
    const auto n = counter_at_exit(*gw, "deferred_released");
    EXPECT_GT(n, 0u) << "one node released everything";
    released += n;
  }
  EXPECT_EQ(released, numbers.size());
}

}  // namespace
}  // namespace smsgate::gateway::test
