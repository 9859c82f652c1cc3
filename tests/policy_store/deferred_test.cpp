// The deferred-message queue against a real redis-server: release times,
// byte-exact messages, leases, racing schedulers, finish and requeue.
#include <algorithm>
#include <array>
#include <latch>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "tests/policy_store/store_fixture.hpp"

namespace smsgate::test {
namespace {

using policy::Deferred;

class DeferredTest : public StoreTest {};

Deferred message(std::string id, TimePoint release) {
  Deferred d;
  d.message_id = std::move(id);
  static constexpr char kPdu[] = "\x00\x00\x00\x2f\x00\x00\x00\x04\xff\x00\r\n\x80\xfe text\x00";
  d.pdu = std::string(kPdu, sizeof kPdu - 1);  // NULs (one at the end too) and 0xFF
  d.account = "acme";
  d.e164 = "+8613800138000";
  d.source = "1069";
  d.part = "12:3";
  d.rule = "night-cn";
  d.accepted_ms = policy::to_ms(kT0);
  d.release_ms = policy::to_ms(release);
  d.expires_ms = policy::to_ms(release + 24h);
  d.attempts = 0;
  return d;
}

void expect_same(const Deferred& got, const Deferred& want) {
  EXPECT_EQ(got.message_id, want.message_id);
  EXPECT_EQ(got.pdu, want.pdu);
  EXPECT_EQ(got.pdu.size(), want.pdu.size());
  EXPECT_EQ(got.account, want.account);
  EXPECT_EQ(got.e164, want.e164);
  EXPECT_EQ(got.source, want.source);
  EXPECT_EQ(got.part, want.part);
  EXPECT_EQ(got.rule, want.rule);
  EXPECT_EQ(got.accepted_ms, want.accepted_ms);
  EXPECT_EQ(got.release_ms, want.release_ms);
  EXPECT_EQ(got.expires_ms, want.expires_ms);
  EXPECT_EQ(got.attempts, want.attempts);
  EXPECT_EQ(got.sending_ms, want.sending_ms);
}

asio::awaitable<std::pair<uint64_t, uint64_t>> depth(Store& store) {
  auto [ec, d] = co_await store.deferred_depth();
  EXPECT_FALSE(ec) << ec.message();
  co_return d;
}

using Depth = std::pair<uint64_t, uint64_t>;

TEST_F(DeferredTest, TakenOnlyFromItsReleaseTimeAndByteExact) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    const Deferred m = message("d1", at(1h));
    CO_REQUIRE(!co_await store.defer(m));
    EXPECT_EQ(co_await depth(store), Depth(1, 0));

    auto [ec1, early] = co_await store.take_due(at(1h - 1ms), 10, 60s);
    EXPECT_FALSE(ec1);
    EXPECT_TRUE(early.empty()) << "taken before its release";
    EXPECT_EQ(co_await depth(store), Depth(1, 0));

    auto [ec2, due] = co_await store.take_due(at(1h), 10, 60s);
    EXPECT_FALSE(ec2);
    CO_REQUIRE(due.size() == 1);
    expect_same(due[0], m);
    EXPECT_EQ(co_await depth(store), Depth(0, 1));

    // Leased: not taken again while the lease lasts.
    auto [ec3, again] = co_await store.take_due(at(1h + 59s), 10, 60s);
    EXPECT_FALSE(ec3);
    EXPECT_TRUE(again.empty());
  });
}

TEST_F(DeferredTest, OldestReleaseFirstAndAtMostABatch) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    for (int i = 5; i >= 1; --i) CO_REQUIRE(!co_await store.defer(message("d" + std::to_string(i), at(Millis(i)))));
    auto [ec, first] = co_await store.take_due(at(10ms), 3, 60s);
    CO_REQUIRE(!ec && first.size() == 3);
    EXPECT_EQ(first[0].message_id, "d1");
    EXPECT_EQ(first[1].message_id, "d2");
    EXPECT_EQ(first[2].message_id, "d3");
    EXPECT_EQ(co_await depth(store), Depth(2, 3));
    auto [ec2, rest] = co_await store.take_due(at(10ms), 3, 60s);
    CO_REQUIRE(!ec2 && rest.size() == 2);
    EXPECT_EQ(rest[0].message_id, "d4");
    EXPECT_EQ(co_await depth(store), Depth(0, 5));
  });
}

TEST_F(DeferredTest, ALeaseThatRunsOutIsTakenAgainWithOneMoreAttempt) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    Deferred m = message("d1", at(0ms));
    CO_REQUIRE(!co_await store.defer(m));
    auto [ec1, taken] = co_await store.take_due(at(0ms), 10, 1000ms);
    CO_REQUIRE(!ec1 && taken.size() == 1);
    EXPECT_EQ(taken[0].attempts, 0);

    auto [ec2, none] = co_await store.take_due(at(999ms), 10, 1000ms);
    CO_REQUIRE(!ec2);
    EXPECT_TRUE(none.empty()) << "lease still running";

    // At the lease's end (the scheduler that took it died).
    auto [ec3, again] = co_await store.take_due(at(1000ms), 10, 1000ms);
    CO_REQUIRE(!ec3 && again.size() == 1);
    m.attempts = 1;
    expect_same(again[0], m);
    EXPECT_EQ(co_await depth(store), Depth(0, 1));
  });
}

// A scheduler marks a message before it goes to the carrier; when that
// scheduler dies, the next one to take it sees the mark (and must not send it
// again). A requeue (it never left: no carrier bound) clears the mark.
TEST_F(DeferredTest, TheSendingMarkOutlivesALeaseAndARequeueClearsIt) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    Deferred m = message("d1", at(0ms));
    CO_REQUIRE(!co_await store.defer(m));
    auto [ec1, taken] = co_await store.take_due(at(0ms), 10, 1000ms);
    CO_REQUIRE(!ec1 && taken.size() == 1);
    EXPECT_EQ(taken[0].sending_ms, 0);
    auto [ec2, marked] = co_await store.mark_sending("d1", 0, at(10ms));
    CO_REQUIRE(!ec2);
    EXPECT_TRUE(marked);
    auto [ec2b, twice] = co_await store.mark_sending("d1", 0, at(20ms));
    CO_REQUIRE(!ec2b);
    EXPECT_FALSE(twice) << "a marked message marked again";

    auto [ec3, again] = co_await store.take_due(at(1000ms), 10, 1000ms);
    CO_REQUIRE(!ec3 && again.size() == 1);
    m.attempts = 1;
    m.sending_ms = policy::to_ms(at(10ms));
    expect_same(again[0], m);

    EXPECT_FALSE(co_await store.requeue_deferred("d1", at(2s)));
    auto [ec4, requeued] = co_await store.take_due(at(2s), 10, 1000ms);
    CO_REQUIRE(!ec4 && requeued.size() == 1);
    EXPECT_EQ(requeued[0].sending_ms, 0) << "a requeued message never left";
    EXPECT_EQ(requeued[0].attempts, 2);

    // A message another scheduler finished meanwhile is not recreated.
    EXPECT_FALSE(co_await store.finish_deferred("d1"));
    auto [ec5, gone] = co_await store.mark_sending("d1", 2, at(3s));
    CO_REQUIRE(!ec5);
    EXPECT_FALSE(gone);
  });
  EXPECT_EQ(integer(server().command("EXISTS", "smsgate:{defer}:msg:d1")), 0);
}

// A scheduler that stalled past its lease while another took the message
// may not mark (and so send) it; a scheduler still sending keeps its leases,
// and only its own.
TEST_F(DeferredTest, OnlyTheSchedulerThatHoldsItMarksItAndExtendsItsLease) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    CO_REQUIRE(!co_await store.defer(message("d1", at(0ms))));
    CO_REQUIRE(!co_await store.defer(message("d2", at(0ms))));
    auto [ec1, first] = co_await store.take_due(at(0ms), 10, 1000ms);  // scheduler A, attempts 0
    CO_REQUIRE(!ec1 && first.size() == 2);
    // A stalls; its leases run out and B takes both (attempts 1).
    auto [ec2, second] = co_await store.take_due(at(1000ms), 10, 1000ms);
    CO_REQUIRE(!ec2 && second.size() == 2);
    auto [ec3, a_marks] = co_await store.mark_sending("d1", 0, at(1100ms));
    CO_REQUIRE(!ec3);
    EXPECT_FALSE(a_marks) << "a scheduler whose lease ran out marked it";
    auto [ec4, b_marks] = co_await store.mark_sending("d1", 1, at(1100ms));
    CO_REQUIRE(!ec4);
    EXPECT_TRUE(b_marks);

    // A's extension is refused; B's holds past the old lease end.
    const std::vector<std::pair<std::string, int32_t>> a_holds{{"d1", 0}, {"d2", 0}};
    auto [ec5, a_ext] = co_await store.extend_leases(a_holds, at(10s));
    CO_REQUIRE(!ec5);
    EXPECT_EQ(a_ext, 0u);
    const std::vector<std::pair<std::string, int32_t>> b_holds{{"d1", 1}};
    auto [ec6, b_ext] = co_await store.extend_leases(b_holds, at(10s));
    CO_REQUIRE(!ec6);
    EXPECT_EQ(b_ext, 1u);
    auto [ec7, third] = co_await store.take_due(at(5s), 10, 1000ms);
    CO_REQUIRE(!ec7 && third.size() == 1);
    EXPECT_EQ(third[0].message_id, "d2") << "only the lease nobody extended ran out";
  });
}

TEST_F(DeferredTest, FinishRemovesTheMessage) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    CO_REQUIRE(!co_await store.defer(message("d1", at(0ms))));
    CO_REQUIRE(!co_await store.defer(message("d2", at(0ms))));
    auto [ec, taken] = co_await store.take_due(at(0ms), 1, 1000ms);
    CO_REQUIRE(!ec && taken.size() == 1);
    EXPECT_FALSE(co_await store.finish_deferred(taken[0].message_id));
    // A message finished before it was taken (expired) goes too.
    EXPECT_FALSE(co_await store.finish_deferred("d2"));
    EXPECT_EQ(co_await depth(store), Depth(0, 0));
    auto [ec2, later] = co_await store.take_due(at(1h), 10, 1000ms);
    CO_REQUIRE(!ec2);
    EXPECT_TRUE(later.empty()) << "a finished message came back";
  });
  EXPECT_EQ(integer(server().command("EXISTS", "smsgate:{defer}:msg:d1")), 0);
  EXPECT_EQ(integer(server().command("EXISTS", "smsgate:{defer}:msg:d2")), 0);
}

// Sent: the carrier id mapping and the finish in one script.
TEST_F(DeferredTest, FinishSentWritesTheMappingAndRemovesTheMessage) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    CO_REQUIRE(!co_await store.defer(message("d1", at(0ms))));
    auto [ec, taken] = co_await store.take_due(at(0ms), 10, 1000ms);
    CO_REQUIRE(!ec && taken.size() == 1);
    EXPECT_FALSE(co_await store.finish_sent("d1", "smsgate:idmap:carrier-a:C1", "d1 acme", 60000));
    EXPECT_EQ(co_await depth(store), Depth(0, 0));
    auto [ec2, later] = co_await store.take_due(at(1h), 10, 1000ms);
    CO_REQUIRE(!ec2);
    EXPECT_TRUE(later.empty()) << "a sent message came back";
  });
  EXPECT_EQ(integer(server().command("EXISTS", "smsgate:{defer}:msg:d1")), 0);
  EXPECT_EQ(server().command("GET", "smsgate:idmap:carrier-a:C1").str, "d1 acme");
  EXPECT_GT(integer(server().command("PTTL", "smsgate:idmap:carrier-a:C1")), 59000);
}

TEST_F(DeferredTest, RequeuePutsItBackForLater) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    Deferred m = message("d1", at(0ms));
    CO_REQUIRE(!co_await store.defer(m));
    auto [ec, taken] = co_await store.take_due(at(0ms), 10, 60s);
    CO_REQUIRE(!ec && taken.size() == 1);
    EXPECT_FALSE(co_await store.requeue_deferred("d1", at(5s)));
    EXPECT_EQ(co_await depth(store), Depth(1, 0));

    auto [ec2, early] = co_await store.take_due(at(4999ms), 10, 60s);
    CO_REQUIRE(!ec2);
    EXPECT_TRUE(early.empty());
    auto [ec3, due] = co_await store.take_due(at(5s), 10, 60s);
    CO_REQUIRE(!ec3 && due.size() == 1);
    m.attempts = 1;
    m.release_ms = policy::to_ms(at(5s));
    expect_same(due[0], m);

    // Again: attempts counts every time.
    EXPECT_FALSE(co_await store.requeue_deferred("d1", at(6s)));
    auto [ec4, third] = co_await store.take_due(at(6s), 10, 60s);
    CO_REQUIRE(!ec4 && third.size() == 1);
    EXPECT_EQ(third[0].attempts, 2);
  });
}

TEST_F(DeferredTest, AnIdWhoseMessageIsGoneIsDropped) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    CO_REQUIRE(!co_await store.defer(message("d1", at(0ms))));
    CO_REQUIRE(!co_await store.defer(message("d2", at(1ms))));
    server().command("DEL", "smsgate:{defer}:msg:d1");
    auto [ec, taken] = co_await store.take_due(at(1s), 10, 60s);
    CO_REQUIRE(!ec && taken.size() == 1);
    EXPECT_EQ(taken[0].message_id, "d2");
    EXPECT_EQ(co_await depth(store), Depth(0, 1));
  });
}

TEST_F(DeferredTest, DepthCountsWaitingAndBeingReleased) {
  run({}, [](Store& store, redis::Client&) -> asio::awaitable<void> {
    EXPECT_EQ(co_await depth(store), Depth(0, 0));
    for (int i = 0; i < 7; ++i) {
      CO_REQUIRE(!co_await store.defer(message("d" + std::to_string(i), at(Millis(i * 1000)))));
    }
    EXPECT_EQ(co_await depth(store), Depth(7, 0));
    auto [ec, taken] = co_await store.take_due(at(2s), 100, 60s);  // d0, d1, d2
    CO_REQUIRE(!ec && taken.size() == 3);
    EXPECT_EQ(co_await depth(store), Depth(4, 3));
  });
}

// Two schedulers on two threads, each with its own client and several
// take_due calls in flight, drain 10,000 messages: each is taken once.
TEST_F(DeferredTest, RacingSchedulersTakeEveryMessageExactlyOnce) {
  constexpr int kMessages = 10'000;
  run(
      {},
      [](Store& store, redis::Client& client) -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        Latch deferred(ex, kMessages);
        int failures = 0;
        for (int i = 0; i < kMessages; ++i) {
          asio::co_spawn(
              ex,
              [&, i]() -> asio::awaitable<void> {
                if (co_await store.defer(message("m" + std::to_string(i), at(Millis(i % 500))))) ++failures;
                deferred.count_down();
              },
              asio::detached);
        }
        CO_REQUIRE(co_await deferred.wait(15s));
        EXPECT_EQ(failures, 0);
      },
      20s);

  const auto settings = std::make_shared<const StoreSettings>();
  std::mutex mutex;
  std::vector<std::string> taken_ids;
  std::array<int, 2> taken_by{0, 0};
  int calls = 0;
  int errors = 0;
  std::latch connected(2);
  auto scheduler = [&](int which) {
    asio::io_context io;
    Connected c = connect(io, server().address(), settings);
    connected.arrive_and_wait();
    run_coroutine(
        io,
        [&]() -> asio::awaitable<void> {
          constexpr int kLoops = 4;
          Latch done(io.get_executor(), kLoops);
          for (int l = 0; l < kLoops; ++l) {
            asio::co_spawn(
                io,
                [&]() -> asio::awaitable<void> {
                  for (;;) {
                    auto [ec, batch] = co_await c.store->take_due(at(1h), 7, 10min);
                    std::lock_guard lock(mutex);
                    ++calls;
                    if (ec) {
                      ++errors;
                      break;
                    }
                    if (batch.empty()) break;
                    for (auto& d : batch) taken_ids.push_back(d.message_id);
                    taken_by[which] += static_cast<int>(batch.size());
                  }
                  done.count_down();
                },
                asio::detached);
          }
          EXPECT_TRUE(co_await done.wait(20s));
        },
        25s);
    c.client->stop();
  };
  std::thread a(scheduler, 0);
  std::thread b(scheduler, 1);
  a.join();
  b.join();

  EXPECT_EQ(errors, 0);
  EXPECT_GE(calls, kMessages / 7);
  EXPECT_GT(taken_by[0], 0) << "the schedulers did not race";
  EXPECT_GT(taken_by[1], 0) << "the schedulers did not race";
  EXPECT_EQ(taken_ids.size(), static_cast<std::size_t>(kMessages));
  const std::set<std::string> unique(taken_ids.begin(), taken_ids.end());
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kMessages)) << "a message was taken twice";
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{defer}:due")), 0);
  EXPECT_EQ(integer(server().command("ZCARD", "smsgate:{defer}:taken")), kMessages);
}

}  // namespace
}  // namespace smsgate::test
