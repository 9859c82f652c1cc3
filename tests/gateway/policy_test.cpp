// The policy on the submit path, end to end (an account -> smsgate with a
// policy: section -> smsgate-smsc, a real redis-server): frequency caps,
// opt-outs, quiet hours that reject, Redis going away, a reload. Messages
// deferred by quiet hours: defer_test.cpp.
#include "tests/gateway/policy_harness.hpp"

namespace smsgate::gateway::test {
namespace {

constexpr uint32_t OK = status::ESME_ROK;
using Statuses = std::vector<uint32_t>;

// The answers expected, without a braced list: GCC 12 cannot keep a braced
// list's array in a coroutine frame across a co_await of the same expression.
template <class... S>
Statuses statuses(S... s) {
  return Statuses{static_cast<uint32_t>(s)...};
}

auto with_policy(std::string policy, std::function<void(GatewayConfig&)> more = {}) {
  return [policy = std::move(policy), more = std::move(more)](GatewayConfig& c) {
    c.policy = policy;
    if (more) more(c);
  };
}

auto add_account(std::string system_id, std::string traffic = "marketing") {
  return [=](GatewayConfig& c) { c.account(system_id).traffic = traffic; };
}

// ---------------------------------------------------------------- frequency caps

TEST(Caps, TheThirdMessageToANumberInADayIsRefusedWithTheConfiguredStatus) {
  OneCarrier t({}, with_policy(daily_cap(2) + "  statuses:\n    frequency_cap: 0x450\n"));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    EXPECT_EQ(co_await submit_times(*esme, kNumber, 3), statuses(OK, OK, 0x450));
    // Another number has a count of its own.
    EXPECT_EQ(status_of(co_await esme->submit(kOtherNumber)), OK);
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 3; }));
  EXPECT_EQ(sorted(recorded_dests(t.dir)), sorted({kNumber, kNumber, kOtherNumber}));
}

TEST(Caps, DoNotHoldTransactionalAccounts) {
  OneCarrier t({}, with_policy(daily_cap(1), add_account("otp", "transactional")));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    auto otp = co_await Esme::bind(t.port(), "otp");
    EXPECT_EQ(co_await submit_times(*acme, kNumber, 2), statuses(OK, kFrequencyCap));
    EXPECT_EQ(co_await submit_times(*otp, kNumber, 3), statuses(OK, OK, OK));
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 4; }));
}

TEST(Caps, PerRecipientAndAccountCountEachAccountApart) {
  OneCarrier t({}, with_policy(daily_cap(1, "recipient+account"), add_account("beta")));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    auto beta = co_await Esme::bind(t.port(), "beta");
    EXPECT_EQ(co_await submit_times(*acme, kNumber, 2), statuses(OK, kFrequencyCap));
    EXPECT_EQ(co_await submit_times(*beta, kNumber, 2), statuses(OK, kFrequencyCap));
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 2; }));
}

// A long message is one message to its recipient: every part goes (the
// first part's decision is every part's), and it is counted once.
TEST(Caps, AllPartsOfALongMessageGoAndCountAsOne) {
  OneCarrier t({}, with_policy(daily_cap(1)));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    std::vector<smpp::Pdu> parts;
    for (int seq = 1; seq <= 3; ++seq) {
      auto pdu = Esme::submit_pdu(kNumber);
      auto& sm = pdu.as<smpp::ShortMessage>();
      sm.esm_class = 0x40;  // UDHI
      sm.short_message = std::string("\x05\x00\x03\x2a\x03", 5) + static_cast<char>(seq) + "part " + std::to_string(seq);
      parts.push_back(std::move(pdu));
    }
    EXPECT_EQ(statuses_of(co_await esme->submit_all(parts)), statuses(OK, OK, OK));
    EXPECT_EQ(status_of(co_await esme->submit(kNumber, "another message")), kFrequencyCap);
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 3; }));
  std::vector<std::string> texts;
  for (const auto& r : recorded(t.dir)) texts.push_back(r.text);
  EXPECT_EQ(sorted(texts), (std::vector<std::string>{"part 1", "part 2", "part 3"}));
}

// ---------------------------------------------------------------- opt-outs

TEST(OptOut, AnOptedOutNumberIsRefusedAndNothingReachesTheCarrier) {
  OneCarrier t({}, with_policy(daily_cap(10)));
  opt_out(t.redis, kNumber);
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    EXPECT_EQ(status_of(co_await esme->submit(kNumber)), kOptedOut);
    EXPECT_EQ(status_of(co_await esme->submit(kOtherNumber)), OK);
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 1; }));
  EXPECT_EQ(recorded_dests(t.dir), std::vector<std::string>{kOtherNumber});
  EXPECT_EQ(t.smsc.stat("submits"), 1u);
}

TEST(OptOut, FromOneAccountBlocksThatAccountOnly) {
  OneCarrier t({}, with_policy(daily_cap(10), add_account("beta")));
  opt_out(t.redis, kNumber, "a:acme");
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    auto beta = co_await Esme::bind(t.port(), "beta");
    EXPECT_EQ(status_of(co_await acme->submit(kNumber)), kOptedOut);
    EXPECT_EQ(status_of(co_await beta->submit(kNumber)), OK);
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 1; }));
}

TEST(OptOut, HoldTransactionalAccountsByDefault) {
  OneCarrier t({}, with_policy(daily_cap(10), add_account("otp", "transactional")));
  opt_out(t.redis, kNumber);
  run(t.io, [&]() -> asio::awaitable<void> {
    auto otp = co_await Esme::bind(t.port(), "otp");
    EXPECT_EQ(status_of(co_await otp->submit(kNumber)), kOptedOut);
  });
  EXPECT_EQ(t.smsc.stat("submits"), 0u);
}

TEST(OptOut, DoNotHoldTransactionalAccountsWithTransactionalSkip) {
  OneCarrier t({}, with_policy("  opt_out:\n    transactional: skip\n" + daily_cap(10),
                               add_account("otp", "transactional")));
  opt_out(t.redis, kNumber);
  run(t.io, [&]() -> asio::awaitable<void> {
    auto otp = co_await Esme::bind(t.port(), "otp");
    auto acme = co_await Esme::bind(t.port());
    EXPECT_EQ(status_of(co_await otp->submit(kNumber)), OK);
    EXPECT_EQ(status_of(co_await acme->submit(kNumber)), kOptedOut);  // marketing still is
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 1; }));
}

// ---------------------------------------------------------------- quiet hours that reject

// Open from two hours from now (China's clock) for an hour: closed now.
std::string closed_now() { return china_window_opening_in(2h).allow; }

TEST(Quiet, AClosedWindowWithActionRejectRefusesMarketingButNotTransactional) {
  OneCarrier t({}, with_policy(quiet_hours(quiet_rule("cn-day", "CN", closed_now(), "reject")),
                               add_account("otp", "transactional")));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    auto otp = co_await Esme::bind(t.port(), "otp");
    EXPECT_EQ(status_of(co_await acme->submit(kNumber)), kQuietHours);
    EXPECT_EQ(status_of(co_await otp->submit(kNumber)), OK);
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 1; }));
  EXPECT_EQ(t.smsc.stat("submits"), 1u);
}

// The same rule for GB: closed there too (London's clock is 7 or 8 hours
// behind China's, so the window is 9 to 11 hours away), not applied to CN.
TEST(Quiet, ARuleForAnotherRegionDoesNotApply) {
  OneCarrier t({}, with_policy(quiet_hours(quiet_rule("gb-day", "GB", closed_now(), "reject"))));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    EXPECT_EQ(status_of(co_await esme->submit(kNumber)), OK);
    EXPECT_EQ(status_of(co_await esme->submit("447700900123")), kQuietHours);
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 1; }));
  EXPECT_EQ(recorded_dests(t.dir), std::vector<std::string>{kNumber});
}

// ---------------------------------------------------------------- Redis down

std::size_t redis_events(const GatewayProcess& gw, const std::string& event) {
  return count_of(gw.log(), "\"event\":\"" + event + "\"");
}

TEST(PolicyRedisDown, WithOnErrorRejectMarketingIsRefusedWithSystemError) {
  OneCarrier t({}, with_policy(daily_cap(10)));
  t.redis.stop();
  ASSERT_TRUE(eventually([&] { return redis_events(*t.gw, "redis_down") >= 2; })) << t.gw->log();
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    EXPECT_EQ(status_of(co_await esme->submit(kNumber)), status::ESME_RSYSERR);
  });
  EXPECT_EQ(t.smsc.stat("submits"), 0u);
}

TEST(PolicyRedisDown, WithOnErrorAllowMarketingGoesUncheckedAndCapsApplyOnceRedisIsBack) {
  OneCarrier t({}, with_policy(daily_cap(1), [](GatewayConfig& c) { c.redis_on_error = "allow"; }));
  ASSERT_TRUE(eventually([&] { return redis_events(*t.gw, "redis_connected") >= 2; })) << t.gw->log();
  const std::size_t connected = redis_events(*t.gw, "redis_connected");
  t.redis.stop();
  ASSERT_TRUE(eventually([&] { return redis_events(*t.gw, "redis_down") >= 2; })) << t.gw->log();
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    EXPECT_EQ(co_await submit_times(*esme, kNumber, 2), statuses(OK, OK));
    EXPECT_TRUE(co_await until([&] { return t.smsc.recorded() == 2; }));
    t.redis.start();
    EXPECT_TRUE(co_await until([&] { return redis_events(*t.gw, "redis_connected") >= connected + 2; }, 8000ms))
        << t.gw->log();
    EXPECT_EQ(co_await submit_times(*esme, kOtherNumber, 2), statuses(OK, kFrequencyCap));
  }, 14000ms);
  EXPECT_NE(t.gw->log().find("\"event\":\"policy_unchecked\""), std::string::npos) << t.gw->log();
}

// ---------------------------------------------------------------- reload

TEST(PolicyReload, ARaisedCapAppliesToTheNextSubmit) {
  OneCarrier t({}, with_policy(daily_cap(1)));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(t.port());
    EXPECT_EQ(co_await submit_times(*esme, kNumber, 2), statuses(OK, kFrequencyCap));
    GatewayConfig next = t.cfg;
    next.policy = daily_cap(3);
    EXPECT_TRUE(t.gw->reload(next));
    // The one sent before still counts: two more, then refused.
    EXPECT_EQ(co_await submit_times(*esme, kNumber, 3), statuses(OK, OK, kFrequencyCap));
  });
  ASSERT_TRUE(eventually([&] { return t.smsc.recorded() == 3; }));
}

}  // namespace
}  // namespace smsgate::gateway::test
