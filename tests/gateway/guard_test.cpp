// The complaint rate guard end to end (gateway/guard.hpp, docs/replies.md
// "The complaint rate guard"): real redis-server, carrier simulators (their
// DELIVRD receipts are what is counted as delivered, their MO injection
// brings the complaints) and two smsgate nodes on one Redis. An account past
// suspend_per_1000 has its marketing submits refused on both nodes until it
// is resumed (through ComplaintGuard::resume, what the admin API calls); a
// transactional account and smsgate's own answers are never refused; below
// the thresholds, or under min_delivered, nothing is; warn_per_1000 is
// logged and counted once per crossing.
#include "gateway/guard.hpp"
#include "tests/gateway/policy_harness.hpp"

namespace smsgate::gateway::test {
namespace {

constexpr uint32_t OK = status::ESME_ROK;
constexpr uint32_t kSuspended = 0x40A;  // complaint_rate.suspend_status in these tests

const std::string kShortCode = "10690000";  // acme's (marketing) source address
const std::string kBankCode = "10690001";   // bank's (transactional)
const std::string kComplaint = "你们天天发短信骚扰我，我要投诉到12321";
const std::string kAck = "ack {ticket}";
const std::string kPromo = "promo: 20% off";
const std::string kOtp = "your code is 1234";
const std::string kAcme = "acme", kBank = "bank", kPassword = "secret1";

// A distinct mobile number per message: a complaint opts its number out.
std::string number(int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "86138001381%02d", i);
  return buf;
}

// The replies: section: an acknowledgement (smsgate's own answer, never
// refused) and a one-minute window (one-second buckets).
std::string replies(const std::string& rate) {
  return "  complaint_ack: \"" + kAck + "\"\n  confirmation_interval: 0s\n  complaint_rate: " + rate + "\n";
}
const std::string kPolicy = "  history:\n    text: false\n";

void setup(GatewayConfig& c, const std::string& rate) {
  c.account("bank").traffic = "transactional";
  c.policy = kPolicy;
  c.replies_extra = replies(rate);
}

std::size_t receipts_to(const Esme& esme) {
  std::size_t n = 0;
  for (const auto& p : esme.received) n += smpp::is_receipt_esm_class(p.as<smpp::ShortMessage>().esm_class);
  return n;
}

// One message to `dest`, accepted, and its receipt (DELIVRD: the simulator's
// default) back at the account: counted as delivered by then.
asio::awaitable<void> delivered(Esme& esme, const std::string& dest, const std::string& source = kShortCode) {
  const std::size_t before = receipts_to(esme);
  const auto r = co_await esme.submit(dest, kPromo, source);
  EXPECT_EQ(status_of(r), OK) << dest;
  const bool receipt_came = co_await until([&] { return receipts_to(esme) > before; });
  EXPECT_TRUE(receipt_came) << "no receipt for " << dest;
}

// A complaint from `from` to `to` (the account that last sent to it from
// there is blamed); smsgate's answer to the carrier's deliver_sm.
asio::awaitable<int> complaint(Simulator& smsc, std::string from, std::string to = kShortCode) {
  return off_thread([&smsc, from = std::move(from), to = std::move(to)] { return smsc.mo(from, to, kComplaint).first; });
}

// Submits (each answered before the next) until one is answered `want`.
asio::awaitable<bool> until_answered(Esme& esme, uint32_t want, int first_number,
                                     std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = Clock::now() + limit;
  for (int i = first_number; Clock::now() < deadline; ++i) {
    const auto r = co_await esme.submit(number(i), kPromo, kShortCode);
    if (status_of(r) == want) co_return true;
    co_await sleep_for(100ms);
  }
  co_return false;
}

// (Named, not written inline: GCC 12 rejects a string literal in a lambda
// inside a coroutine lambda, "array used as initializer".)
std::size_t acks_sent(const TempDir& dir) { return count_of(slurp(dir.file("smsc.record")), "\"text\":\"ack T-"); }
std::size_t warnings(const GatewayProcess& gw) { return count_of(gw.log(), "\"event\":\"complaint_rate_warning\""); }
bool acme_suspended(RedisServer& redis);

bool suspended_in_redis(RedisServer& redis, const std::string& account) {
  return redis.command("HEXISTS", std::string(kGuardSuspended), account).integer == 1;
}

bool acme_suspended(RedisServer& redis) { return suspended_in_redis(redis, "acme"); }

const AccountGuardState* state_of(const std::vector<AccountGuardState>& states, const std::string& id) {
  for (const auto& s : states) {
    if (s.system_id == id) return &s;
  }
  return nullptr;
}

// A guard of the test's own (as the admin API reaches a node's): states()
// and resume() against the same Redis.
std::unique_ptr<ComplaintGuard> admin_guard(asio::io_context& io, RedisServer& redis, const config::ComplaintRate& rate) {
  redis::ClientConfig rc;
  rc.address = redis.address();
  auto guard = std::make_unique<ComplaintGuard>(io.get_executor(), rc, "admin-test");
  // Not enabled: it reads and resumes, and leaves evaluating to the nodes.
  guard->configure(rate, {{"acme", true, nullptr}, {"bank", false, nullptr}}, false);
  guard->start();
  return guard;
}

// ---------------------------------------------------------------- suspension

// 3 delivered: 1 complaint is 333 per 1,000 (past warn, 100), 2 are 667,
// past suspend (400), with min_delivered 3.
TEST(ComplaintGuard, AnAccountPastTheThresholdIsRefusedOnEveryNodeUntilResumed) {
  const std::string rate = "{ window: 1m, warn_per_1000: 100, suspend_per_1000: 400, suspend_status: 0x40A, min_delivered: 3 }";
  OneCarrier t({}, [&](GatewayConfig& c) { setup(c, rate); });
  TempDir dir_b;
  Simulator smsc_b(dir_b, {});
  GatewayConfig b(t.redis);
  b.node = "gwb";
  b.account("acme");
  b.carrier("carrier-a", smsc_b.port());
  setup(b, rate);
  GatewayProcess gw_b(dir_b, b);
  config::ComplaintRate cr;
  cr.window = std::chrono::minutes(1);
  cr.warn_per_1000 = 100;
  cr.suspend_per_1000 = 400;
  cr.suspend_status = kSuspended;
  cr.min_delivered = 3;
  auto guard = admin_guard(t.io, t.redis, cr);

  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    auto bank = co_await Esme::bind(t.port(), kBank, kPassword);
    auto acme_b = co_await Esme::bind(gw_b.port());
    for (int i = 0; i < 3; ++i) co_await delivered(*acme, number(i));
    // The transactional account gets the same rate of complaints.
    for (int i = 10; i < 13; ++i) co_await delivered(*bank, number(i), kBankCode);
    const auto got1 = co_await complaint(t.smsc, number(0));
    EXPECT_EQ(got1, 200);
    const auto got2 = co_await complaint(t.smsc, number(10), kBankCode);
    EXPECT_EQ(got2, 200);
    const auto got3 = co_await complaint(t.smsc, number(11), kBankCode);
    EXPECT_EQ(got3, 200);
    // 333 per 1,000 for acme so far; the second complaint makes it 667.
    const auto got4 = co_await complaint(t.smsc, number(1));
    EXPECT_EQ(got4, 200);

    const bool suspended = co_await until([&] { return acme_suspended(t.redis); }, 5000ms);
    EXPECT_TRUE(suspended)
        << t.gw->log() << gw_b.log();
    // Node A and node B both refuse acme's marketing submits (each within
    // an evaluation interval of the suspension).
    const bool refused_a = co_await until_answered(*acme, kSuspended, 20);
    EXPECT_TRUE(refused_a);
    const bool refused_b = co_await until_answered(*acme_b, kSuspended, 30);
    EXPECT_TRUE(refused_b);
    const auto got5 = co_await submit_times(*acme, number(40), 3);
    EXPECT_EQ(got5, (std::vector<uint32_t>{kSuspended, kSuspended, kSuspended}));
    const auto got6 = co_await submit_times(*acme_b, number(41), 2);
    EXPECT_EQ(got6, (std::vector<uint32_t>{kSuspended, kSuspended}));
    // The transactional account is measured, never refused.
    EXPECT_FALSE(suspended_in_redis(t.redis, "bank"));
    const auto got7 = status_of(co_await bank->submit(number(42), kOtp, kBankCode));
    EXPECT_EQ(got7, OK);
    // smsgate's own answers still go out: a complaint now is acknowledged.
    const std::size_t acks = acks_sent(t.dir);
    const auto got8 = co_await complaint(t.smsc, number(2));
    EXPECT_EQ(got8, 200);
    const bool acked = co_await until([&] { return acks_sent(t.dir) > acks; });
    EXPECT_TRUE(acked);

    // What the admin API shows.
    const auto states = co_await guard->states();
    const AccountGuardState* a = state_of(states, "acme");
    const AccountGuardState* k = state_of(states, "bank");
    EXPECT_TRUE(a && k);
    if (a && k) {
      EXPECT_TRUE(a->suspended);
      EXPECT_GE(a->complaints, 2u);
      EXPECT_GE(a->delivered, 3u);
      EXPECT_GT(a->suspended_at_ms, 0);
      EXPECT_NE(a->reason.find("2 complaints in 3 delivered"), std::string::npos) << a->reason;
      EXPECT_TRUE(a->warned);
      EXPECT_FALSE(k->suspended);
      EXPECT_EQ(k->complaints, 2u);
      EXPECT_GE(k->delivered, 3u);  // and the message it sent after the suspension
    }

    // Resumed: submits pass again on both nodes, and the complaints ops have
    // seen do not suspend it again.
    const bool resumed = co_await guard->resume(kAcme);
    EXPECT_TRUE(resumed);
    const bool again = co_await guard->resume(kAcme);
    EXPECT_FALSE(again);
    EXPECT_FALSE(suspended_in_redis(t.redis, "acme"));
    const bool passes_a = co_await until_answered(*acme, OK, 50);
    EXPECT_TRUE(passes_a);
    const bool passes_b = co_await until_answered(*acme_b, OK, 60);
    EXPECT_TRUE(passes_b);
    co_await sleep_for(2500ms);  // two evaluations
    EXPECT_FALSE(suspended_in_redis(t.redis, "acme"));
    const auto got9 = status_of(co_await acme->submit(number(70), kPromo, kShortCode));
    EXPECT_EQ(got9, OK);
    const auto got10 = status_of(co_await acme_b->submit(number(71), kPromo, kShortCode));
    EXPECT_EQ(got10, OK);
    co_await guard->stop();
  }, 60000ms);

  const std::string log = t.gw->log() + gw_b.log();
  EXPECT_EQ(count_of(log, "\"event\":\"account_suspended\""), 1u) << log;  // one node, once
  EXPECT_NE(count_of(log, "\"event\":\"submit_suspended\""), 0u);
  ASSERT_TRUE(t.gw->terminate().has_value());
  ASSERT_TRUE(gw_b.terminate().has_value());
  const std::string after = t.gw->log();
  EXPECT_NE(after.find("submit_suspended="), std::string::npos) << after;
}

// ---------------------------------------------------------------- below the thresholds

// min_delivered 5: 1 complaint in 3 delivered (333 per 1,000, past
// suspend, 300) is no verdict. From 5 delivered on it is 200 and less: past
// warn (100), below suspend: logged and counted once, nothing refused.
TEST(ComplaintGuard, UnderMinDeliveredOrBelowSuspendNothingIsRefusedAndTheWarningIsLoggedOnce) {
  const std::string rate = "{ window: 1m, warn_per_1000: 100, suspend_per_1000: 300, min_delivered: 5 }";
  OneCarrier t({}, [&](GatewayConfig& c) { setup(c, rate); });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    for (int i = 0; i < 3; ++i) co_await delivered(*acme, number(i));
    const auto got11 = co_await complaint(t.smsc, number(0));
    EXPECT_EQ(got11, 200);
    co_await sleep_for(2500ms);  // two evaluations: under min_delivered, no verdict
    EXPECT_FALSE(suspended_in_redis(t.redis, "acme"));
    EXPECT_EQ(count_of(t.gw->log(), "\"event\":\"complaint_rate_warning\""), 0u);
    const auto got12 = status_of(co_await acme->submit(number(20), kPromo, kShortCode));
    EXPECT_EQ(got12, OK);

    for (int i = 3; i < 7; ++i) co_await delivered(*acme, number(i));  // 8 delivered with number(20)
    const bool warned = co_await until([&] { return warnings(*t.gw) > 0; });
    EXPECT_TRUE(warned)
        << t.gw->log();
    co_await sleep_for(2500ms);
    EXPECT_EQ(count_of(t.gw->log(), "\"event\":\"complaint_rate_warning\""), 1u);  // per crossing, not per tick
    EXPECT_FALSE(suspended_in_redis(t.redis, "acme"));
    const auto got13 = co_await submit_times(*acme, number(30), 1);
    EXPECT_EQ(got13, std::vector<uint32_t>{OK});
  }, 60000ms);
  const std::string log = t.gw->log();
  EXPECT_EQ(count_of(log, "\"event\":\"account_suspended\""), 0u);
  EXPECT_EQ(count_of(log, "\"event\":\"submit_suspended\""), 0u);
  ASSERT_TRUE(t.gw->terminate().has_value());
  EXPECT_NE(t.gw->log().find("complaint_rate_warnings=1"), std::string::npos) << t.gw->log();
}

}  // namespace
}  // namespace smsgate::gateway::test
