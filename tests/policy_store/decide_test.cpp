// The decide script against a real redis-server: opt-outs, exact caps under
// concurrency, the sliding window, history, long messages, Redis down.
#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

// Boost.JSON, header-only in this one file, to read the history entries
// with a parser that is not the code under test.
#include <boost/json/src.hpp>

#include "tests/policy_store/store_fixture.hpp"

namespace smsgate::test {
namespace {

using policy::CapRule;
using policy::CapScope;
using policy::DecideResult;
using policy::Outcome;
using policy::OptOutRecord;
using policy::PolicyErrc;
using policy::Submit;

constexpr std::string_view kNumber = "+8613800138000";

Submit submit(std::string id, std::string account = "acme", std::string source = "1069") {
  Submit s;
  s.e164 = std::string(kNumber);
  s.account = std::move(account);
  s.source = std::move(source);
  s.message_id = std::move(id);
  s.text_hash = "hash-" + s.message_id;
  s.text = "text of " + s.message_id;
  return s;
}

CapRule rule(std::string name, uint32_t limit, Millis window, CapScope per = CapScope::recipient) {
  CapRule r;
  r.name = std::move(name);
  r.per = per;
  r.limit = limit;
  r.window = window;
  return r;
}

StoreSettings with_caps(std::vector<CapRule> caps) {
  StoreSettings s;
  s.caps = std::move(caps);
  return s;
}

// Expects an answer without an error.
::testing::AssertionResult allowed(const DecideResult& r) {
  if (!r.ok()) return ::testing::AssertionFailure() << "error " << r.error.message() << " " << r.error_text;
  if (r.decision.outcome != Outcome::allow) {
    return ::testing::AssertionFailure() << "refused (" << static_cast<int>(r.decision.outcome) << ", "
                                         << r.decision.rule << ")";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult refused(const DecideResult& r, Outcome outcome, std::string_view rule) {
  if (!r.ok()) return ::testing::AssertionFailure() << "error " << r.error.message() << " " << r.error_text;
  if (r.decision.outcome != outcome || r.decision.rule != rule) {
    return ::testing::AssertionFailure() << "got (" << static_cast<int>(r.decision.outcome) << ", "
                                         << r.decision.rule << ")";
  }
  return ::testing::AssertionSuccess();
}

class DecideTest : public StoreTest {};

// ---------------------------------------------------------------- caps under concurrency

// Two threads, each with its own io_context and client, submit `per_thread`
// decides at once (pipelined, callback API); returns how many were allowed
// per account and source.
struct Tally {
  std::atomic<int> allowed{0};
  std::atomic<int> refused{0};
  std::atomic<int> errors{0};
  std::array<std::atomic<int>, 2> allowed_by_variant{};
};

void race(const std::string& address, const std::shared_ptr<const StoreSettings>& settings, int per_thread,
          Tally& tally) {
  std::latch connected(2);
  auto worker = [&](int thread) {
    asio::io_context io;
    Connected c = connect(io, address, settings);
    connected.arrive_and_wait();  // both submit at the same time
    run_coroutine(
        io,
        [&]() -> asio::awaitable<void> {
          Latch done(io.get_executor(), static_cast<std::size_t>(per_thread));
          for (int i = 0; i < per_thread; ++i) {
            const int variant = i % 2;  // two accounts, two sources
            const Submit s = submit("m" + std::to_string(thread) + "-" + std::to_string(i),
                                    variant ? "beta" : "acme", variant ? "2000" : "1069");
            c.store->decide(s, at(Millis(i)), [&, variant](DecideResult&& r) {
              if (!r.ok()) {
                ++tally.errors;
              } else if (r.decision.outcome == Outcome::allow) {
                ++tally.allowed;
                ++tally.allowed_by_variant[variant];
              } else {
                ++tally.refused;
              }
              done.count_down();
            });
          }
          // All in flight at once: full batches sent, the rest queued for
          // the end of this turn.
          EXPECT_EQ(c.client->outstanding(), static_cast<std::size_t>(per_thread) / Store::kDecideBatch);
          EXPECT_TRUE(co_await done.wait(15s));
        },
        20s);
    c.client->stop();
  };
  std::thread a(worker, 0);
  std::thread b(worker, 1);
  a.join();
  b.join();
}

TEST_F(DecideTest, CapPerRecipientIsExactUnderConcurrency) {
  const auto settings = std::make_shared<const StoreSettings>(with_caps({rule("daily", 3, 24h)}));
  Tally tally;
  race(server().address(), settings, 500, tally);
  EXPECT_EQ(tally.errors, 0);
  EXPECT_EQ(tally.allowed, 3);
  EXPECT_EQ(tally.refused, 997);
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{+8613800138000}:cap")), 3);
  EXPECT_EQ(integer(server().command("LLEN", "smsgate:{+8613800138000}:sent")), 3);
}

TEST_F(DecideTest, CapPerRecipientAndAccountIsExactUnderConcurrency) {
  const auto settings =
      std::make_shared<const StoreSettings>(with_caps({rule("daily", 3, 24h, CapScope::recipient_account)}));
  Tally tally;
  race(server().address(), settings, 500, tally);
  EXPECT_EQ(tally.errors, 0);
  EXPECT_EQ(tally.allowed, 6);
  EXPECT_EQ(tally.allowed_by_variant[0], 3);  // acme
  EXPECT_EQ(tally.allowed_by_variant[1], 3);  // beta
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{+8613800138000}:cap:a:acme")), 3);
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{+8613800138000}:cap:a:beta")), 3);
}

TEST_F(DecideTest, CapPerRecipientAndSourceIsExactUnderConcurrency) {
  const auto settings =
      std::make_shared<const StoreSettings>(with_caps({rule("daily", 3, 24h, CapScope::recipient_source)}));
  Tally tally;
  race(server().address(), settings, 500, tally);
  EXPECT_EQ(tally.errors, 0);
  EXPECT_EQ(tally.allowed, 6);
  EXPECT_EQ(tally.allowed_by_variant[0], 3);  // source 1069
  EXPECT_EQ(tally.allowed_by_variant[1], 3);  // source 2000
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{+8613800138000}:cap:s:1069")), 3);
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{+8613800138000}:cap:s:2000")), 3);
}

// ---------------------------------------------------------------- the sliding window

TEST_F(DecideTest, SlidingWindowLetsTheOldestSendLeaveAtExactlyTheWindow) {
  run(with_caps({rule("burst", 3, 3s)}), [](Store& store, redis::Client&) -> asio::awaitable<void> {
    EXPECT_TRUE(allowed(co_await store.decide(submit("m1"), at(0ms))));
    EXPECT_TRUE(allowed(co_await store.decide(submit("m2"), at(1000ms))));
    EXPECT_TRUE(allowed(co_await store.decide(submit("m3"), at(2000ms))));
    EXPECT_TRUE(refused(co_await store.decide(submit("m4"), at(2500ms)), Outcome::frequency_cap, "burst"));
    // m1 (t) still counts 1 ms before t + window ...
    EXPECT_TRUE(refused(co_await store.decide(submit("m5"), at(2999ms)), Outcome::frequency_cap, "burst"));
    // ... and has left the window at t + window.
    EXPECT_TRUE(allowed(co_await store.decide(submit("m6"), at(3000ms))));
    // Now m2, m3, m6 are in the window: full again until t + 1s + window.
    EXPECT_TRUE(refused(co_await store.decide(submit("m7"), at(3999ms)), Outcome::frequency_cap, "burst"));
    EXPECT_TRUE(allowed(co_await store.decide(submit("m8"), at(4000ms))));
  });
  // The cap key outlives the window after the last send, by at most the margin.
  const int64_t pttl = integer(server().command("PTTL", "smsgate:{+8613800138000}:cap"));
  EXPECT_GT(pttl, 3000);
  EXPECT_LE(pttl, 3000 + policy::ttl_margin(with_caps({rule("burst", 3, 3s)})).count());
}

// TTLs are refreshed only now and then (not on every send), yet a steady
// sender's cap log never expires while its sends still count: at every send
// the count is exactly the sends of the last window. Real time, a short
// window and no pipeline slack, so that a missed refresh would show.
TEST_F(DecideTest, CapLogLivesAsLongAsItsSendsCountWithFewTtlRefreshes) {
  StoreSettings settings = with_caps({rule("short", 1000, 800ms)});
  settings.history.keep = 0;
  settings.pipeline_slack = 0ms;  // margin 2 x 100 ms: the key would die 1 s after an unrefreshed creation
  server().command("CONFIG", "RESETSTAT");
  int sends = 0;
  run(settings, [&](Store& store, redis::Client& client) -> asio::awaitable<void> {
    std::vector<int64_t> sent;
    asio::steady_timer pause(co_await asio::this_coro::executor);
    const auto start = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - start < 2500ms) {
      const auto now = std::chrono::system_clock::now();
      const int64_t now_ms = policy::to_ms(now);
      const DecideResult r = co_await store.decide(submit("m" + std::to_string(sends)), now);
      CO_REQUIRE(allowed(r));
      sent.push_back(now_ms);
      ++sends;
      const int64_t expected = std::count_if(sent.begin(), sent.end(), [&](int64_t t) { return t > now_ms - 800; });
      const std::string since = "(" + std::to_string(now_ms - 800);
      const std::array<std::string_view, 4> zcount{"ZCOUNT", "smsgate:{+8613800138000}:cap", since, "+inf"};
      const redis::Result c = co_await client.command(std::span<const std::string_view>(zcount));
      CO_REQUIRE(c.ok() && c.reply.is_integer());
      EXPECT_EQ(c.reply.integer, expected) << "after send " << sends;
      pause.expires_after(30ms);
      co_await pause.async_wait(asio::use_awaitable);
    }
  });
  ASSERT_GT(sends, 20);
  const std::string stats = server().command("INFO", "commandstats").str;
  const auto at = stats.find("cmdstat_pexpire:calls=");
  ASSERT_NE(at, std::string::npos) << stats;
  const int pexpires = std::stoi(stats.substr(at + 22));
  EXPECT_LT(pexpires, sends / 2) << "a TTL refresh on (nearly) every send";
}

TEST_F(DecideTest, RefusalRecordsNothingAnywhere) {
  const auto caps = with_caps({rule("hourly", 5, 1h), rule("strict", 1, 1h)});
  run(caps, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    EXPECT_TRUE(allowed(co_await store.decide(submit("m1"), at(0ms))));
    EXPECT_TRUE(refused(co_await store.decide(submit("m2"), at(1ms)), Outcome::frequency_cap, "strict"));
    EXPECT_TRUE(refused(co_await store.decide(submit("m3"), at(2ms)), Outcome::frequency_cap, "strict"));
  });
  // The first rule passed for m2 and m3 but counted neither (both rules
  // read the recipient's one log).
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{+8613800138000}:cap")), 1);
  EXPECT_EQ(integer(server().command("LLEN", "smsgate:{+8613800138000}:sent")), 1);
  EXPECT_TRUE(server().command("ZSCORE", "smsgate:{+8613800138000}:cap", "m2").is_nil());
}

// Rules of one scope share one log; each counts its own window, and the
// lazy trim (now % 8 == 0 at every send here) keeps what the widest window
// still needs.
TEST_F(DecideTest, RulesOfOneScopeShareALogAndEachCountsItsOwnWindow) {
  const auto caps = with_caps({rule("minute", 2, 1min), rule("hour", 3, 1h)});
  run(caps, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    EXPECT_TRUE(allowed(co_await store.decide(submit("m1"), at(0ms))));
    EXPECT_TRUE(allowed(co_await store.decide(submit("m2"), at(8ms))));
    // The minute is full; the hour is not.
    EXPECT_TRUE(refused(co_await store.decide(submit("m3"), at(16ms)), Outcome::frequency_cap, "minute"));
    // A minute later m1 and m2 left the minute's window, not the hour's.
    EXPECT_TRUE(allowed(co_await store.decide(submit("m4"), at(60'008ms))));
    EXPECT_TRUE(refused(co_await store.decide(submit("m5"), at(120'016ms)), Outcome::frequency_cap, "hour"));
  });
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{+8613800138000}:cap")), 3);
}

TEST_F(DecideTest, FirstRefusingRuleIsNamed) {
  run(with_caps({rule("a", 1, 1h), rule("b", 1, 1h, CapScope::recipient_account)}),
      [](Store& store, redis::Client&) -> asio::awaitable<void> {
        EXPECT_TRUE(allowed(co_await store.decide(submit("m1", "acme"), at(0ms))));
        EXPECT_TRUE(refused(co_await store.decide(submit("m2", "beta"), at(1ms)), Outcome::frequency_cap, "a"));
        // Another recipient: its own counts.
        Submit other = submit("m3", "acme");
        other.e164 = "+14155550100";
        EXPECT_TRUE(allowed(co_await store.decide(other, at(2ms))));
      });
}

// ---------------------------------------------------------------- opt-outs

TEST_F(DecideTest, OptOutFieldsBlockTheRightMessages) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    const auto number = [](std::string e164, std::string id, std::string account, std::string source) {
      Submit s = submit(std::move(id), std::move(account), std::move(source));
      s.e164 = std::move(e164);
      return s;
    };
    OptOutRecord global{"*", 1, "reply", "TD"};
    OptOutRecord acme{"a:acme", 1, "admin", "complaint"};
    OptOutRecord src{"s:1069", 1, "reply", "STOP"};
    CO_REQUIRE((co_await store.add_opt_out("+100", global)).second);
    CO_REQUIRE((co_await store.add_opt_out("+200", acme)).second);
    CO_REQUIRE((co_await store.add_opt_out("+300", src)).second);

    EXPECT_TRUE(refused(co_await store.decide(number("+100", "1", "acme", "1069"), kT0), Outcome::opted_out, "*"));
    EXPECT_TRUE(refused(co_await store.decide(number("+100", "2", "beta", "2000"), kT0), Outcome::opted_out, "*"));

    EXPECT_TRUE(refused(co_await store.decide(number("+200", "3", "acme", "2000"), kT0), Outcome::opted_out,
                        "a:acme"));
    EXPECT_TRUE(allowed(co_await store.decide(number("+200", "4", "beta", "1069"), kT0)));

    EXPECT_TRUE(refused(co_await store.decide(number("+300", "5", "beta", "1069"), kT0), Outcome::opted_out,
                        "s:1069"));
    EXPECT_TRUE(allowed(co_await store.decide(number("+300", "6", "acme", "2000"), kT0)));

    EXPECT_TRUE(allowed(co_await store.decide(number("+400", "7", "acme", "1069"), kT0)));

    // The plain check (HMGET) agrees.
    EXPECT_TRUE(refused(co_await store.check_opt_out("+100", "beta", "2000"), Outcome::opted_out, "*"));
    EXPECT_TRUE(refused(co_await store.check_opt_out("+200", "acme", "1069"), Outcome::opted_out, "a:acme"));
    EXPECT_TRUE(allowed(co_await store.check_opt_out("+200", "beta", "1069")));
    EXPECT_TRUE(refused(co_await store.check_opt_out("+300", "acme", "1069"), Outcome::opted_out, "s:1069"));
    EXPECT_TRUE(allowed(co_await store.check_opt_out("+300", "acme", "2000")));
    EXPECT_TRUE(allowed(co_await store.check_opt_out("+400", "acme", "1069")));

    // A removed opt-out no longer blocks.
    CO_REQUIRE((co_await store.remove_opt_out("+200", "a:acme", "admin", "resolved", kT0)).second);
    EXPECT_TRUE(allowed(co_await store.decide(number("+200", "8", "acme", "2000"), kT0)));
  });
}

TEST_F(DecideTest, OptedOutMessageIsNotCounted) {
  run(with_caps({rule("daily", 1, 24h)}), [](Store& store, redis::Client&) -> asio::awaitable<void> {
    CO_REQUIRE((co_await add_opt_out(store, kNumber, "s:1069", 1, "reply", "STOP")).second);
    EXPECT_TRUE(refused(co_await store.decide(submit("m1", "acme", "1069"), kT0), Outcome::opted_out, "s:1069"));
    EXPECT_TRUE(allowed(co_await store.decide(submit("m2", "acme", "2000"), kT0)));
  });
}

TEST_F(DecideTest, TransactionalSkipsCapsButNotOptOuts) {
  run(with_caps({rule("daily", 1, 24h)}), [](Store& store, redis::Client&) -> asio::awaitable<void> {
    EXPECT_TRUE(allowed(co_await store.decide(submit("m1"), at(0ms))));
    EXPECT_TRUE(refused(co_await store.decide(submit("m2"), at(1ms)), Outcome::frequency_cap, "daily"));
    Submit otp = submit("otp1");
    otp.check_caps = false;
    EXPECT_TRUE(allowed(co_await store.decide(otp, at(2ms))));
    otp.message_id = "otp2";
    EXPECT_TRUE(allowed(co_await store.decide(otp, at(3ms))));

    CO_REQUIRE((co_await add_opt_out(store, kNumber, "a:acme", 1, "reply", "STOP")).second);
    otp.message_id = "otp3";
    EXPECT_TRUE(refused(co_await store.decide(otp, at(4ms)), Outcome::opted_out, "a:acme"));
  });
  // Transactional sends are not counted (the cap log has m1 only) but are in the history.
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{+8613800138000}:cap")), 1);
  EXPECT_EQ(integer(server().command("LLEN", "smsgate:{+8613800138000}:sent")), 3);
}

TEST_F(DecideTest, CheckOptOutFalseSkipsOptOuts) {
  run(with_caps({rule("daily", 1, 24h)}), [](Store& store, redis::Client&) -> asio::awaitable<void> {
    CO_REQUIRE((co_await add_opt_out(store, kNumber, "*", 1, "reply", "TD")).second);
    Submit s = submit("m1");
    EXPECT_TRUE(refused(co_await store.decide(s, kT0), Outcome::opted_out, "*"));
    s.check_opt_out = false;
    EXPECT_TRUE(allowed(co_await store.decide(s, kT0)));
    // Caps still apply.
    s.message_id = "m2";
    EXPECT_TRUE(refused(co_await store.decide(s, kT0), Outcome::frequency_cap, "daily"));
  });
}

// ---------------------------------------------------------------- history

boost::json::object parse_object(const std::string& text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message() << " in " << text;
  if (ec || !v.is_object()) {
    ADD_FAILURE() << "not a JSON object: " << text;
    return {};
  }
  return v.as_object();
}

std::string json_string(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) {
    ADD_FAILURE() << "no string \"" << key << "\" in " << boost::json::serialize(o);
    return {};
  }
  return std::string(v->as_string());
}

TEST_F(DecideTest, HistoryKeepsTheLastNNewestFirst) {
  StoreSettings settings;
  settings.history.keep = 3;
  settings.history.ttl = 1h;
  run(settings, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    for (int i = 1; i <= 5; ++i) {
      EXPECT_TRUE(allowed(co_await store.decide(submit("m" + std::to_string(i), "acme", "1069"), at(Millis(i)))));
    }
    auto [ec, entries] = co_await store.history(kNumber);
    CO_REQUIRE(!ec);
    CO_REQUIRE(entries.size() == 3);
    for (int i = 0; i < 3; ++i) {
      const boost::json::object o = parse_object(entries[i]);
      const std::string id = "m" + std::to_string(5 - i);
      EXPECT_EQ(json_string(o, "id"), id);
      EXPECT_EQ(json_string(o, "account"), "acme");
      EXPECT_EQ(json_string(o, "source"), "1069");
      EXPECT_EQ(json_string(o, "hash"), "hash-" + id);
      const auto* t = o.if_contains("t");
      CO_REQUIRE(t && t->is_int64());
      EXPECT_EQ(t->as_int64(), 1'700'000'000'000 + 5 - i);
      EXPECT_FALSE(o.contains("text")) << "text kept although HistorySettings::text is off";
    }
  });
  const int64_t pttl = integer(server().command("PTTL", "smsgate:{+8613800138000}:sent"));
  EXPECT_GT(pttl, 3'500'000);
  EXPECT_LE(pttl, 3'600'000);
}

TEST_F(DecideTest, HistoryKeepsTextWhenEnabledWithJsonEscaping) {
  StoreSettings settings;
  settings.history.text = true;
  run(settings, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    Submit s = submit("m\"1\\");
    s.text = "Say \"hi\"\n\tto 你好 \x01 ☺ / end";
    s.account = "ac\"me";
    EXPECT_TRUE(allowed(co_await store.decide(s, kT0)));
    Submit bad = submit("m2");
    bad.text = "bad \xff\xc3 utf-8 \xe4\xbd";  // invalid UTF-8: replaced, still JSON
    EXPECT_TRUE(allowed(co_await store.decide(bad, at(1ms))));

    auto [ec, entries] = co_await store.history(kNumber);
    CO_REQUIRE(!ec);
    CO_REQUIRE(entries.size() == 2);
    const boost::json::object first = parse_object(entries[1]);
    EXPECT_EQ(json_string(first, "id"), s.message_id);
    EXPECT_EQ(json_string(first, "account"), s.account);
    EXPECT_EQ(json_string(first, "text"), s.text);
    const boost::json::object second = parse_object(entries[0]);
    EXPECT_EQ(json_string(second, "text"), "bad \xef\xbf\xbd\xef\xbf\xbd utf-8 \xef\xbf\xbd\xef\xbf\xbd");
  });
}

TEST_F(DecideTest, NoHistoryWhenKeepIsZero) {
  StoreSettings settings;
  settings.history.keep = 0;
  run(settings, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    EXPECT_TRUE(allowed(co_await store.decide(submit("m1"), kT0)));
    auto [ec, entries] = co_await store.history(kNumber);
    EXPECT_FALSE(ec);
    EXPECT_TRUE(entries.empty());
  });
  EXPECT_EQ(integer(server().command("EXISTS", "smsgate:{+8613800138000}:sent")), 0);
}

// ---------------------------------------------------------------- long messages

TEST_F(DecideTest, PartsOfALongMessageGetTheFirstPartsAnswerAndCountOnce) {
  StoreSettings settings = with_caps({rule("daily", 1, 24h)});
  settings.part_ttl = 10min;
  run(settings, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    for (int p = 1; p <= 3; ++p) {
      Submit s = submit("long-" + std::to_string(p));
      s.part = "42:3";
      EXPECT_TRUE(allowed(co_await store.decide(s, at(Millis(p))))) << "part " << p;
    }
    // The cap is used up by the one long message.
    EXPECT_TRUE(refused(co_await store.decide(submit("single"), at(10ms)), Outcome::frequency_cap, "daily"));
    // Another long message: its first part is refused, and so are the others
    // (without being counted or looked at again).
    for (int p = 1; p <= 2; ++p) {
      Submit s = submit("other-" + std::to_string(p));
      s.part = "43:2";
      EXPECT_TRUE(refused(co_await store.decide(s, at(Millis(20 + p))), Outcome::frequency_cap, "daily"))
          << "part " << p;
    }
  });
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{+8613800138000}:cap")), 1);
  EXPECT_EQ(integer(server().command("LLEN", "smsgate:{+8613800138000}:sent")), 1);
  const int64_t pttl = integer(server().command("PTTL", "smsgate:{+8613800138000}:part:acme:42:3"));
  EXPECT_GT(pttl, 590'000);
  EXPECT_LE(pttl, 600'000);
}

TEST_F(DecideTest, LaterPartsKeepTheFirstPartsAnswerEvenAfterAnOptOut) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    Submit s = submit("p1");
    s.part = "7:2";
    EXPECT_TRUE(allowed(co_await store.decide(s, kT0)));
    CO_REQUIRE((co_await add_opt_out(store, kNumber, "*", 1, "reply", "STOP")).second);
    s.message_id = "p2";
    EXPECT_TRUE(allowed(co_await store.decide(s, kT0))) << "the rest of a started message goes out";
    // An opted-out answer is kept for the parts too (field included).
    Submit t = submit("q1");
    t.part = "8:2";
    EXPECT_TRUE(refused(co_await store.decide(t, kT0), Outcome::opted_out, "*"));
    CO_REQUIRE((co_await store.remove_opt_out(kNumber, "*", "admin", "undo", kT0)).second);
    t.message_id = "q2";
    EXPECT_TRUE(refused(co_await store.decide(t, kT0), Outcome::opted_out, "*"));
  });
}

// ---------------------------------------------------------------- failures

TEST_F(DecideTest, ScriptErrorReplyIsReportedWithItsText) {
  server().command("SET", "smsgate:{+8613800138000}:optout", "not a hash");
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    const DecideResult r = co_await store.decide(submit("m1"), kT0);
    EXPECT_EQ(r.error, PolicyErrc::script);
    EXPECT_NE(r.error_text.find("WRONGTYPE"), std::string::npos) << r.error_text;
    const DecideResult c = co_await store.check_opt_out(kNumber, "acme", "1069");
    EXPECT_EQ(c.error, PolicyErrc::script);
  });
}

// Decides made in one turn go as one batch; a key of the wrong type fails
// its own message, not the others of the batch.
TEST_F(DecideTest, OneMessagesErrorInABatchIsItsOwn) {
  server().command("SET", "smsgate:{+8613800138000}:optout", "not a hash");
  server().command("CONFIG", "RESETSTAT");
  run(with_caps({rule("daily", 5, 24h)}), [](Store& store, redis::Client&) -> asio::awaitable<void> {
    Submit other = submit("m2");
    other.e164 = "+8613900139000";
    std::vector<DecideResult> got(3);
    Latch done(co_await asio::this_coro::executor, 3);
    store.decide(submit("m1"), kT0, [&](DecideResult&& r) { got[0] = std::move(r); done.count_down(); });
    store.decide(other, kT0, [&](DecideResult&& r) { got[1] = std::move(r); done.count_down(); });
    other.message_id = "m3";
    store.decide(other, kT0, [&](DecideResult&& r) { got[2] = std::move(r); done.count_down(); });
    CO_REQUIRE(co_await done.wait(5s));
    EXPECT_EQ(got[0].error, PolicyErrc::script);
    EXPECT_NE(got[0].error_text.find("WRONGTYPE"), std::string::npos) << got[0].error_text;
    EXPECT_TRUE(allowed(got[1]));
    EXPECT_TRUE(allowed(got[2]));
  });
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{+8613900139000}:cap")), 2);
  // One EVALSHA answered (a first one may be refused NOSCRIPT and sent again).
  const std::string stats = server().command("INFO", "commandstats").str;
  const auto at = stats.find("cmdstat_evalsha:calls=");
  ASSERT_NE(at, std::string::npos) << stats;
  const auto failed = stats.find("failed_calls=", at);
  ASSERT_NE(failed, std::string::npos) << stats;
  EXPECT_EQ(std::stoi(stats.substr(at + 22)) - std::stoi(stats.substr(failed + 13)), 1) << "not one batch: " << stats;
}

TEST(PolicyStoreDown, DecideFailsFastWhileRedisIsDownAndWorksAfterARestart) {
  RedisServer redis;
  asio::io_context io;
  auto settings = std::make_shared<const StoreSettings>(with_caps({rule("daily", 2, 24h)}));
  Connected c = connect(io, redis.address(), settings);
  ASSERT_TRUE(c.client->connected());
  Store& store = *c.store;

  run_coroutine(
      io,
      [&]() -> asio::awaitable<void> {
        EXPECT_TRUE(allowed(co_await store.decide(submit("m1"), kT0)));
        redis.stop();  // SIGKILL
        EXPECT_TRUE(co_await c.client->wait_for(redis::State::disconnected, 3s));

        // Both APIs complete at once with not_connected.
        const auto started = std::chrono::steady_clock::now();
        const DecideResult r = co_await store.decide(submit("m2"), kT0);
        EXPECT_EQ(r.error, redis::Error::not_connected);
        std::optional<DecideResult> via_callback;
        store.decide(submit("m3"), kT0, [&](DecideResult&& d) { via_callback = std::move(d); });
        co_await sleep_for(20ms);
        CO_REQUIRE(via_callback.has_value());
        EXPECT_EQ(via_callback->error, redis::Error::not_connected);
        const auto [ec, depth] = co_await store.deferred_depth();
        EXPECT_EQ(ec, redis::Error::not_connected);
        EXPECT_LT(std::chrono::steady_clock::now() - started, 500ms);

        // A fresh server (no data, no scripts loaded): EVALSHA falls back.
        redis.start();
        CO_REQUIRE(co_await c.client->wait_for(redis::State::connected, 5s));
        EXPECT_TRUE(allowed(co_await store.decide(submit("m4"), kT0)));
        EXPECT_TRUE(allowed(co_await store.decide(submit("m5"), kT0)));
        EXPECT_TRUE(refused(co_await store.decide(submit("m6"), kT0), Outcome::frequency_cap, "daily"));
      },
      20s);
  c.client->stop();
}

}  // namespace
}  // namespace smsgate::test
