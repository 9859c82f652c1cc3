// The pieces that need no process or socket: our message ids, carrier id
// normalisation, the shared rate, which carrier bind takes a message.
#include <gtest/gtest.h>

#include <set>

#include "gateway/carrier.hpp"
#include "gateway/carrier_id.hpp"
#include "gateway/message_id.hpp"
#include "gateway/rate_limiter.hpp"
#include "gateway/redis_keys.hpp"

namespace smsgate::gateway {
namespace {

using config::IdFormat;
using namespace std::chrono_literals;

TEST(MessageIds, AreNodeTimeAndWorkerAndStrictlyIncreasing) {
  MessageIdIssuer ids("gw1", 3);
  const std::string a = ids.next(0x61f3a5c2b9e41ULL);
  EXPECT_EQ(a, "gw1-00061f3a5c2b9e4103");
  // The same microsecond (a burst) or an earlier one (the clock stepped back).
  const std::string b = ids.next(0x61f3a5c2b9e41ULL);
  const std::string c = ids.next(0x61f3a5c2b9e00ULL);
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
  const std::string now = ids.next();
  EXPECT_EQ(now.size(), 4u + 18u);
  EXPECT_EQ(now.find_first_not_of("0123456789abcdef", 4), std::string::npos) << now;
  EXPECT_EQ(now.substr(20), "03");
  EXPECT_LE(MessageIdIssuer(std::string(16, 'n'), 255).next().size(), 64u);
}

TEST(MessageIds, FromTwoWorkersNeverCollide) {
  MessageIdIssuer w0("gw1", 0), w1("gw1", 1);
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    EXPECT_TRUE(seen.insert(w0.next(42)).second);
    EXPECT_TRUE(seen.insert(w1.next(42)).second);
  }
}

TEST(CarrierIds, HexAndDecimalOfOneNumberAreOneKey) {
  EXPECT_EQ(canonical_carrier_id("0A1B2C", IdFormat::hex), "662316");
  EXPECT_EQ(canonical_carrier_id("0a1b2c", IdFormat::hex), "662316");
  EXPECT_EQ(canonical_carrier_id("662316", IdFormat::decimal), "662316");
  EXPECT_EQ(canonical_carrier_id("00000000000000662316", IdFormat::decimal), "662316");
  EXPECT_EQ(canonical_carrier_id("0", IdFormat::hex), "0");
}

TEST(CarrierIds, TextIsCaseFoldedAndNothingElse) {
  EXPECT_EQ(canonical_carrier_id("AbC-0012", IdFormat::string), "abc-0012");
  // Not a number of that base (or too long for 64 bits): kept as text.
  EXPECT_EQ(canonical_carrier_id("12AB", IdFormat::decimal), "12ab");
  EXPECT_EQ(canonical_carrier_id("FFFFFFFFFFFFFFFFFF", IdFormat::hex), "ffffffffffffffffff");
  EXPECT_EQ(canonical_carrier_id("", IdFormat::hex), "");
}

TEST(RedisKeys, PutTheRecipientInAHashTag) {
  EXPECT_EQ(keys::last_sender("8613800138000", "10690000"), "smsgate:last:{8613800138000}:10690000");
  EXPECT_EQ(keys::id_map("carrier-a", "662316"), "smsgate:id:carrier-a:662316");
}

TEST(RateLimiter, PolicesBurstThenRate) {
  RateLimiter r(10, 10);
  const auto t0 = RateLimiter::Clock::now();
  int ok = 0;
  for (int i = 0; i < 20; ++i) ok += r.try_acquire(t0);
  EXPECT_EQ(ok, 10);
  EXPECT_FALSE(r.try_acquire(t0 + 50ms));
  EXPECT_TRUE(r.try_acquire(t0 + 100ms));
}

TEST(RateLimiter, ShapesByGivingLaterSlots) {
  RateLimiter r(100, 1);
  const auto t0 = RateLimiter::Clock::now();
  EXPECT_EQ(r.reserve(t0), t0);
  EXPECT_EQ(r.reserve(t0), t0 + 10ms);
  EXPECT_EQ(r.reserve(t0), t0 + 20ms);
  RateLimiter unlimited(0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(unlimited.reserve(t0), t0);
}

config::Carrier carrier_config(uint32_t binds) {
  config::Carrier c;
  c.name = "carrier-a";
  c.binds = binds;
  c.max_tps = 1000;
  return c;
}

TEST(CarrierPick, PartsOfOneMessageTakeOneBindFromEveryWorker) {
  Carrier c(carrier_config(4), 2, 0);  // binds 0, 2 on worker 0; 1, 3 on worker 1
  for (auto& l : c.links) c.set_bound(*l, true);
  uint32_t rr0 = 0, rr1 = 7;
  for (uint64_t hash : {1ULL, 0x9e3779b97f4a7c15ULL, 12345ULL}) {
    CarrierLink* first = c.pick(0, hash, rr0);
    ASSERT_NE(first, nullptr);
    for (int i = 0; i < 5; ++i) {
      EXPECT_EQ(c.pick(0, hash, rr0), first);
      EXPECT_EQ(c.pick(1, hash, rr1), first);
    }
  }
}

TEST(CarrierPick, OthersPreferABindOnTheirOwnWorker) {
  Carrier c(carrier_config(4), 2, 0);
  for (auto& l : c.links) c.set_bound(*l, true);
  uint32_t rr = 0;
  for (int i = 0; i < 8; ++i) EXPECT_EQ(c.pick(1, 0, rr)->worker, 1u);
  // Nothing bound on worker 1: a bind elsewhere.
  c.set_bound(*c.links[1], false);
  c.set_bound(*c.links[3], false);
  EXPECT_EQ(c.pick(1, 0, rr)->worker, 0u);
  for (auto& l : c.links) c.set_bound(*l, false);
  EXPECT_EQ(c.pick(0, 0, rr), nullptr);
  EXPECT_FALSE(c.has_bound());
}

}  // namespace
}  // namespace smsgate::gateway
