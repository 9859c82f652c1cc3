// Shared parts of the policy store tests: one redis-server per test suite
// (flushed before every test), a connected client and Store per test, and
// small coroutine helpers.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "policy/store.hpp"
#include "redis/client.hpp"
#include "tests/support/latch.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/run_coroutine.hpp"

namespace smsgate::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using policy::Millis;
using policy::Store;
using policy::StoreSettings;
using policy::TimePoint;

// A fixed "now" (2023-11-14T22:13:20Z): time is passed in, never read.
inline const TimePoint kT0{std::chrono::milliseconds{1'700'000'000'000}};
inline TimePoint at(Millis offset) { return kT0 + offset; }

inline redis::ClientConfig client_config(std::string address) {
  redis::ClientConfig c;
  c.address = std::move(address);
  c.backoff.initial = 20ms;
  c.backoff.max = 100ms;
  c.idle_ping_interval = 0ms;
  return c;
}

// Whether the answer is an allow (no error).
inline bool allowed_for(const policy::DecideResult& r) {
  return r.ok() && r.decision.outcome == policy::Outcome::allow;
}

// store.add_opt_out() with the record's parts as strings. GCC 12 destroys
// a braced temporary in a co_await expression twice
// (`co_await store.add_opt_out(n, {"*", 1, "reply", "TD"})` crashes), so
// tests build the record here instead.
inline asio::awaitable<std::pair<policy::error_code, bool>> add_opt_out(Store& store, std::string_view e164,
                                                                        std::string field, int64_t at_ms,
                                                                        std::string source, std::string reason) {
  policy::OptOutRecord record;
  record.field = std::move(field);
  record.at_ms = at_ms;
  record.source = std::move(source);
  record.reason = std::move(reason);
  co_return co_await store.add_opt_out(e164, std::move(record));
}

// A client connected to `address` on `io`, and a Store on it.
struct Connected {
  std::shared_ptr<redis::Client> client;
  std::shared_ptr<Store> store;
};

inline Connected connect(asio::io_context& io, const std::string& address,
                         std::shared_ptr<const StoreSettings> settings) {
  Connected c;
  c.client = redis::Client::create(io.get_executor(), client_config(address));
  c.client->start();
  c.store = std::make_shared<Store>(c.client, std::move(settings));
  bool up = false;
  run_coroutine(
      io, [&]() -> asio::awaitable<void> { up = co_await c.client->wait_for(redis::State::connected, 5s); }, 6s);
  EXPECT_TRUE(up) << "no connection to " << address << ": " << c.client->last_error().message();
  return c;
}

// One redis-server for the suite, emptied before each test.
class StoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = std::make_unique<RedisServer>(); }
  static void TearDownTestSuite() { server_.reset(); }
  void SetUp() override { server().command("FLUSHALL"); }

  static RedisServer& server() { return *server_; }

  // Runs `body(store, client)` on a fresh io_context with a connected
  // client; stops the client afterwards.
  template <class Body>
  void run(StoreSettings settings, Body body, std::chrono::milliseconds limit = 20s) {
    asio::io_context io;
    Connected c = connect(io, server().address(), std::make_shared<const StoreSettings>(std::move(settings)));
    if (!c.client->connected()) return;
    run_coroutine(io, [&]() -> asio::awaitable<void> { co_await body(*c.store, *c.client); }, limit);
    c.client->stop();
  }

  // The number of members of a sorted set / elements of a list, TTLs, ...
  static int64_t integer(const redis::Reply& r) {
    EXPECT_TRUE(r.is_integer()) << r;
    return r.is_integer() ? r.integer : -1;
  }

 private:
  static inline std::unique_ptr<RedisServer> server_;
};

}  // namespace smsgate::test
