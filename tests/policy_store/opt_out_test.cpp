// Opt-out changes, their per-number log and the audit stream, and the bulk
// import, against a real redis-server.
#include <string>
#include <vector>

#include "tests/policy_store/store_fixture.hpp"

namespace smsgate::test {
namespace {

using policy::OptOutChange;
using policy::OptOutRecord;
using policy::OptOutState;
using policy::Outcome;

constexpr std::string_view kNumber = "+8613800138000";
constexpr int64_t kMs0 = 1'700'000'000'000;

class OptOutTest : public StoreTest {};

void expect_change(const OptOutChange& c, std::string_view action, std::string_view e164, std::string_view field,
                   int64_t at_ms, std::string_view source, std::string_view reason) {
  EXPECT_EQ(c.action, action);
  EXPECT_EQ(c.e164, e164);
  EXPECT_EQ(c.record.field, field);
  EXPECT_EQ(c.record.at_ms, at_ms);
  EXPECT_EQ(c.record.source, source);
  EXPECT_EQ(c.record.reason, reason);
}

TEST_F(OptOutTest, AddRemoveLookupAndTheNumbersLog) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    auto [ec1, added1] = co_await add_opt_out(store, kNumber, "*", kMs0, "admin", "complaint 12321");
    EXPECT_FALSE(ec1);
    EXPECT_TRUE(added1);
    // A repeat keeps the first record but is logged.
    auto [ec2, added2] = co_await add_opt_out(store, kNumber, "*", kMs0 + 1, "reply", "STOP");
    EXPECT_FALSE(ec2);
    EXPECT_FALSE(added2);
    EXPECT_TRUE((co_await add_opt_out(store, kNumber, "a:acme", kMs0 + 2, "reply", "TD")).second);

    auto [ec3, state] = co_await store.lookup_opt_out(kNumber);
    CO_REQUIRE(!ec3);
    CO_REQUIRE(state.records.size() == 2);
    EXPECT_EQ(state.records[0].field, "*");
    EXPECT_EQ(state.records[0].at_ms, kMs0);
    EXPECT_EQ(state.records[0].source, "admin");
    EXPECT_EQ(state.records[0].reason, "complaint 12321");
    EXPECT_EQ(state.records[1].field, "a:acme");
    EXPECT_EQ(state.records[1].at_ms, kMs0 + 2);
    CO_REQUIRE(state.history.size() == 3);
    expect_change(state.history[0], "add", kNumber, "a:acme", kMs0 + 2, "reply", "TD");
    expect_change(state.history[1], "add", kNumber, "*", kMs0 + 1, "reply", "STOP");
    expect_change(state.history[2], "add", kNumber, "*", kMs0, "admin", "complaint 12321");

    // Remove: true when it was there.
    auto [ec4, removed] = co_await store.remove_opt_out(kNumber, "*", "admin", "resolved", at(3ms));
    EXPECT_FALSE(ec4);
    EXPECT_TRUE(removed);
    EXPECT_FALSE((co_await store.remove_opt_out(kNumber, "*", "admin", "again", at(4ms))).second);
    EXPECT_TRUE(allowed_for(co_await store.check_opt_out(kNumber, "beta", "1069")));
    EXPECT_FALSE(allowed_for(co_await store.check_opt_out(kNumber, "acme", "1069")));

    auto [ec5, after] = co_await store.lookup_opt_out(kNumber);
    CO_REQUIRE(!ec5);
    CO_REQUIRE(after.records.size() == 1);
    EXPECT_EQ(after.records[0].field, "a:acme");
    CO_REQUIRE(after.history.size() == 5);
    expect_change(after.history[0], "remove", kNumber, "*", kMs0 + 4, "admin", "again");
    expect_change(after.history[1], "remove", kNumber, "*", kMs0 + 3, "admin", "resolved");
  });
  const int64_t pttl = integer(server().command("PTTL", "smsgate:{+8613800138000}:optlog"));
  EXPECT_GT(pttl, 180LL * 24 * 3600 * 1000 - 60'000) << "optlog kept for audit_retention";
}

TEST_F(OptOutTest, RemoveWithEmptyFieldRemovesEveryField) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    for (const char* field : {"*", "a:acme", "s:1069"}) {
      CO_REQUIRE((co_await add_opt_out(store, kNumber, field, kMs0, "import", "")).second);
    }
    auto [ec, removed] = co_await store.remove_opt_out(kNumber, "", "admin", "wipe", at(10ms));
    EXPECT_FALSE(ec);
    EXPECT_TRUE(removed);
    auto [ec2, state] = co_await store.lookup_opt_out(kNumber);
    CO_REQUIRE(!ec2);
    EXPECT_TRUE(state.records.empty());
    CO_REQUIRE(state.history.size() == 6);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(state.history[i].action, "remove");
    EXPECT_TRUE(allowed_for(co_await store.check_opt_out(kNumber, "acme", "1069")));
    // Nothing left: false, still audited.
    EXPECT_FALSE((co_await store.remove_opt_out(kNumber, "", "admin", "wipe", at(11ms))).second);
  });
  EXPECT_EQ(integer(server().command("XLEN", "smsgate:audit:optout")), 7);
}

TEST_F(OptOutTest, TextWithQuotesAndUnicodeRoundTrips) {
  const std::string reason = "said \"STOP\" \\ then\n退订 /x";
  const std::string source = "reply:\"kw\"";
  run({}, [&](Store& store, redis::Client&) -> asio::awaitable<void> {
    CO_REQUIRE((co_await add_opt_out(store, kNumber, "a:ac\"me", kMs0, source, reason)).second);
    auto [ec, state] = co_await store.lookup_opt_out(kNumber);
    CO_REQUIRE(!ec);
    CO_REQUIRE(state.records.size() == 1);
    EXPECT_EQ(state.records[0].field, "a:ac\"me");
    EXPECT_EQ(state.records[0].source, source);
    EXPECT_EQ(state.records[0].reason, reason);
    CO_REQUIRE(state.history.size() == 1);
    expect_change(state.history[0], "add", kNumber, "a:ac\"me", kMs0, source, reason);
    auto [ec2, audit] = co_await store.audit(0, 10);
    CO_REQUIRE(!ec2 && audit.size() == 1);
    expect_change(audit[0], "add", kNumber, "a:ac\"me", kMs0, source, reason);
  });
}

TEST_F(OptOutTest, TheNumbersLogKeepsTheLast100) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    for (int i = 0; i < 120; ++i) {
      CO_REQUIRE(!(co_await add_opt_out(store, kNumber, "*", kMs0 + i, "reply", std::to_string(i))).first);
    }
    auto [ec, state] = co_await store.lookup_opt_out(kNumber);
    CO_REQUIRE(!ec);
    CO_REQUIRE(state.history.size() == 100);
    EXPECT_EQ(state.history.front().record.reason, "119");
    EXPECT_EQ(state.history.back().record.reason, "20");
  });
}

TEST_F(OptOutTest, AuditHasEveryChangeOldestFirstFromSince) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    CO_REQUIRE((co_await add_opt_out(store, "+100", "*", kMs0, "reply", "TD")).second);
    CO_REQUIRE((co_await add_opt_out(store, "+200", "s:1069", kMs0 + 1000, "admin", "ticket 7")).second);
    CO_REQUIRE((co_await store.remove_opt_out("+100", "*", "admin", "mistake", at(2000ms))).second);

    auto [ec, all] = co_await store.audit(0, 100);
    CO_REQUIRE(!ec);
    CO_REQUIRE(all.size() == 3);
    expect_change(all[0], "add", "+100", "*", kMs0, "reply", "TD");
    expect_change(all[1], "add", "+200", "s:1069", kMs0 + 1000, "admin", "ticket 7");
    expect_change(all[2], "remove", "+100", "*", kMs0 + 2000, "admin", "mistake");

    auto [ec2, since] = co_await store.audit(kMs0 + 1000, 100);  // inclusive
    CO_REQUIRE(!ec2);
    CO_REQUIRE(since.size() == 2);
    EXPECT_EQ(since[0].e164, "+200");
    auto [ec3, later] = co_await store.audit(kMs0 + 1001, 100);
    CO_REQUIRE(!ec3);
    CO_REQUIRE(later.size() == 1);
    EXPECT_EQ(later[0].action, "remove");
    auto [ec4, two] = co_await store.audit(0, 2);
    CO_REQUIRE(!ec4);
    EXPECT_EQ(two.size(), 2u);
  });
}

TEST_F(OptOutTest, AuditAcceptsAChangeOlderThanTheLastOne) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    CO_REQUIRE(!(co_await add_opt_out(store, "+100", "*", kMs0 + 5000, "reply", "late clock")).first);
    auto [ec, added] = co_await add_opt_out(store, "+200", "*", kMs0, "reply", "early clock");
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(added);
    auto [ec2, all] = co_await store.audit(0, 10);
    CO_REQUIRE(!ec2);
    CO_REQUIRE(all.size() == 2);
    EXPECT_EQ(all[1].record.reason, "early clock");
    EXPECT_EQ(all[1].record.at_ms, kMs0);  // the record keeps its own time
  });
}

// Changes far older than audit_retention are trimmed from the stream when a
// new one is added; with a long retention the same changes all stay.
asio::awaitable<void> old_then_new(Store& store, int old_count, int64_t new_at) {
  for (int i = 0; i < old_count; ++i) {
    CO_REQUIRE(!(co_await add_opt_out(store, "+1" + std::to_string(i), "*", 1'000'000 + i, "import", "old")).first);
  }
  CO_REQUIRE(!(co_await add_opt_out(store, "+200", "*", new_at, "reply", "new")).first);
}

TEST_F(OptOutTest, AuditIsTrimmedByAge) {
  StoreSettings tiny;
  tiny.audit_retention = 1000ms;
  run(tiny, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    co_await old_then_new(store, 300, 10'000'000);
    auto [ec, all] = co_await store.audit(0, 1000);
    CO_REQUIRE(!ec);
    // MINID ~ removes whole stream nodes: most of the old entries are gone,
    // the oldest among them, and the new one is kept.
    EXPECT_LT(all.size(), 200u);
    CO_REQUIRE(!all.empty());
    EXPECT_GT(all.front().record.at_ms, 1'000'000);
    EXPECT_EQ(all.back().record.reason, "new");
  });
  EXPECT_LT(integer(server().command("XLEN", "smsgate:audit:optout")), 200);
}

TEST_F(OptOutTest, AuditIsKeptWithinRetention) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    co_await old_then_new(store, 300, 10'000'000);
    auto [ec, all] = co_await store.audit(0, 1000);
    CO_REQUIRE(!ec);
    EXPECT_EQ(all.size(), 301u);
  });
}

TEST_F(OptOutTest, ImportsManyNumbersAndReportsRepeatsAsExisting) {
  constexpr int kCount = 100'000;
  std::vector<std::string> numbers;
  numbers.reserve(kCount);
  for (int i = 0; i < kCount; ++i) numbers.push_back("+1555" + std::to_string(1'000'000 + i));
  run(
      {},
      [&](Store& store, redis::Client&) -> asio::awaitable<void> {
        CO_REQUIRE((co_await add_opt_out(store, numbers[5], "*", kMs0, "reply", "STOP")).second);
        const OptOutRecord record{"*", kMs0 + 1, "import", "list 2023-11"};
        const auto first = co_await store.import_opt_outs(numbers, record);
        EXPECT_FALSE(first.error) << first.error.message();
        EXPECT_EQ(first.added, static_cast<uint64_t>(kCount - 1));
        EXPECT_EQ(first.existing, 1u);
        for (int i : {0, 5, 77'777, kCount - 1}) {
          const auto d = co_await store.check_opt_out(numbers[i], "acme", "1069");
          EXPECT_FALSE(d.error);
          EXPECT_EQ(d.decision.outcome, Outcome::opted_out) << numbers[i];
        }
        EXPECT_TRUE(allowed_for(co_await store.check_opt_out("+15552000000", "acme", "1069")));
        auto [ec, state] = co_await store.lookup_opt_out(numbers[77'777]);
        CO_REQUIRE(!ec && state.records.size() == 1);
        EXPECT_EQ(state.records[0].source, "import");
        EXPECT_EQ(state.records[0].reason, "list 2023-11");

        const auto again = co_await store.import_opt_outs(numbers, record);
        EXPECT_FALSE(again.error);
        EXPECT_EQ(again.added, 0u);
        EXPECT_EQ(again.existing, static_cast<uint64_t>(kCount));
      },
      25s);
  EXPECT_EQ(integer(server().command("XLEN", "smsgate:audit:optout")), 2 * kCount + 1);
}

}  // namespace
}  // namespace smsgate::test
