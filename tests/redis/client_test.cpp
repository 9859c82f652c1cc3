// smsgate::redis::Client against a real redis-server (tests/support/redis_server.hpp).
#include "redis/client.hpp"

#include <hiredis/hiredis.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <gtest/gtest.h>

#include "tests/support/latch.hpp"
#include "tests/support/run_coroutine.hpp"
#include "tests/support/redis_server.hpp"

namespace {

namespace asio = boost::asio;
namespace redis = smsgate::redis;
using smsgate::test::Latch;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using redis::Client;
using redis::ClientConfig;
using redis::Error;
using redis::error_code;
using redis::Reply;
using redis::Result;
using redis::State;
using smsgate::test::RedisServer;
using smsgate::test::RedisServerOptions;

// Runs the coroutine `body(executor)` on a fresh io_context until it ends.
template <class Body>
void run(Body body, std::chrono::seconds limit = 20s) {
  asio::io_context io;
  bool done = false;
  std::exception_ptr error;
  asio::co_spawn(io, body(io.get_executor()), [&](std::exception_ptr e) {
    done = true;
    error = e;
    io.stop();
  });
  io.run_for(limit);
  if (error) std::rethrow_exception(error);
  EXPECT_TRUE(done) << "the test did not finish within " << limit.count() << " s";
}

ClientConfig config_for(std::string address) {
  ClientConfig c;
  c.address = std::move(address);
  c.backoff.initial = 20ms;
  c.backoff.max = 200ms;
  c.idle_ping_interval = 0ms;  // no PING of its own in the counts (see IdlePingNoticesAStalledServer)
  return c;
}

asio::awaitable<std::shared_ptr<Client>> connected_client(asio::any_io_executor ex, ClientConfig config) {
  auto c = Client::create(ex, std::move(config));
  c->start();
  EXPECT_TRUE(co_await c->wait_for(State::connected, 5s)) << c->last_error().message();
  co_return c;
}

// For conditions outside the process (redis-server's own state), which give
// no event to wait for: checks every 5 ms until `timeout`.
template <class Pred>
asio::awaitable<bool> poll_until(asio::any_io_executor ex, Pred pred, std::chrono::milliseconds timeout = 2s) {
  const auto deadline = Clock::now() + timeout;
  asio::steady_timer timer(ex);
  while (!pred()) {
    if (Clock::now() >= deadline) co_return false;
    timer.expires_after(5ms);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return true;
}

// Runs `body(client, executor)` with a client connected per `config`; stops
// the client afterwards.
using ClientPtr = std::shared_ptr<Client>;

template <class Body>
void with_client(ClientConfig config, Body body) {
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto c = co_await connected_client(ex, config);
    CO_REQUIRE(c->connected());
    co_await body(c, ex);
    c->set_state_handler(nullptr);  // they may refer to the body's locals
    c->set_latency_observer(nullptr);
    c->stop();
  });
}

std::vector<std::string_view> views(const std::vector<std::string>& v) { return {v.begin(), v.end()}; }

// ---------------------------------------------------------------- no server

TEST(RedisEncoding, SameBytesAsHiredis) {
  const std::vector<std::vector<std::string>> cases = {
      {"PING"},
      {"SET", "key", "value"},
      {"SET", "", std::string("a\r\nb\0c", 6)},
      {"APPEND", "k", std::string(100'000, 'x')},
  };
  for (const auto& argv : cases) {
    std::string ours;
    redis::append_command(ours, views(argv));
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    char* theirs = nullptr;
    const int len = redisFormatCommandArgv(&theirs, static_cast<int>(argv.size()), ptrs.data(), lens.data());
    ASSERT_GT(len, 0);
    EXPECT_EQ(ours, std::string(theirs, static_cast<std::size_t>(len)));
    redisFreeCommand(theirs);
  }
}

TEST(RedisReply, Helpers) {
  EXPECT_EQ(Reply::make_integer(7).as_int(), 7);
  EXPECT_EQ(Reply::make_string("-12").as_int(), -12);
  EXPECT_FALSE(Reply::make_string("12a").to_int());
  EXPECT_FALSE(Reply::make_nil().to_int());
  EXPECT_THROW((void)Reply::make_nil().as_int(), redis::ReplyTypeError);
  EXPECT_THROW((void)Reply::make_integer(1).as_string(), redis::ReplyTypeError);
  EXPECT_EQ(Reply::make_status("OK").as_string(), "OK");
  const Reply err = Reply::make_error("WRONGTYPE Operation against a key holding the wrong kind of value");
  EXPECT_TRUE(err.is_error());
  EXPECT_EQ(err.error_kind(), "WRONGTYPE");
  EXPECT_EQ(Reply::make_string("x").error_kind(), "");
  const Reply nested = Reply::make_array({Reply::make_integer(1), Reply::make_array({}), Reply::make_nil()});
  EXPECT_EQ(redis::to_string(nested), "[1, [], (nil)]");
  EXPECT_EQ(nested, nested);
  EXPECT_NE(nested, Reply::make_array({}));
  EXPECT_EQ(redis::make_error_code(Error::timeout).category().name(), std::string("redis"));
}

TEST(RedisClient, RejectsBadAddresses) {
  asio::io_context io;
  for (const char* bad : {"unix:", "host:", ":6379", "::1:6379", "[::1"}) {
    EXPECT_THROW(Client::create(io.get_executor(), config_for(bad)), std::invalid_argument) << bad;
  }
  EXPECT_NO_THROW(Client::create(io.get_executor(), config_for("[::1]:6380")));
  EXPECT_NO_THROW(Client::create(io.get_executor(), config_for("localhost")));
}

// ---------------------------------------------------------------- against redis-server

TEST(RedisClient, RepliesOfEveryType) {
  RedisServer server;
  redis::Script script("return {1, {2, 'x'}, redis.status_reply('FINE'), false}");
  EXPECT_EQ(script.sha1(), server.command("SCRIPT", "LOAD", script.source()).as_string());
  with_client(config_for(server.address()), [&](ClientPtr c, asio::any_io_executor) -> asio::awaitable<void> {

    Result r = co_await c->command("SET", "k", "v");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.reply, Reply::make_status("OK"));
    r = co_await c->command("GET", "k");
    EXPECT_EQ(r.reply, Reply::make_string("v"));
    r = co_await c->command("GET", "missing");
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.reply.is_nil());
    r = co_await c->command("INCR", "n");
    EXPECT_EQ(r.reply, Reply::make_integer(1));
    r = co_await c->command("INCRBY", "n", 41);
    EXPECT_EQ(r.reply.as_int(), 42);
    r = co_await c->command("RPUSH", "list", "a", "b", "c");
    EXPECT_EQ(r.reply.as_int(), 3);
    r = co_await c->command("LRANGE", "list", 0, -1);
    EXPECT_EQ(r.reply, Reply::make_array({Reply::make_string("a"), Reply::make_string("b"), Reply::make_string("c")}));
    r = co_await c->command("LRANGE", "nothing", 0, -1);
    EXPECT_EQ(r.reply, Reply::make_array({}));

    // An error reply is a reply, not an error_code.
    r = co_await c->command("INCR", "list");
    EXPECT_FALSE(r.error);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.reply.is_error());
    EXPECT_EQ(r.reply.error_kind(), "WRONGTYPE");

    // Nested arrays (Lua false is a nil reply).
    r = co_await c->eval(script, {});
    EXPECT_EQ(r.reply, Reply::make_array({Reply::make_integer(1),
                                          Reply::make_array({Reply::make_integer(2), Reply::make_string("x")}),
                                          Reply::make_status("FINE"), Reply::make_nil()}));

    // Binary-safe, and a value larger than the read buffer and the feed chunk.
    const std::string binary("a\r\n\0b$*-+:", 10);
    const std::string big(3 * 1024 * 1024 + 17, 'z');
    EXPECT_TRUE((co_await c->command("SET", "bin", binary)).ok());
    EXPECT_TRUE((co_await c->command("SET", "big", big)).ok());
    EXPECT_EQ((co_await c->command("GET", "bin")).reply.as_string(), binary);
    EXPECT_EQ((co_await c->command("GET", "big")).reply.as_string(), big);

    r = co_await c->command(std::span<const std::string_view>{});
    EXPECT_EQ(r.error, boost::system::errc::invalid_argument);

    EXPECT_GE(c->stats().replies, 14u);
    EXPECT_GT(c->stats().latency_total.count(), 0);
    EXPECT_EQ(c->outstanding(), 0u);
  });
}

TEST(RedisClient, PipelinesTenThousandInOrder) {
  RedisServer server;
  with_client(config_for(server.address()), [&](ClientPtr c, asio::any_io_executor ex) -> asio::awaitable<void> {
    uint64_t observed = 0;
    c->set_latency_observer([&](std::chrono::nanoseconds rtt) { observed += rtt.count() > 0 ? 1 : 0; });
    constexpr int n = 10'000;
    std::vector<int64_t> got;
    Latch latch(ex, n);
    const uint64_t writes_before = c->stats().writes;
    for (int i = 0; i < n; ++i) {
      c->command({"INCR", "counter"}, [&](Result&& r) {
        got.push_back(r.error ? -1 : r.reply.as_int());
        latch.count_down();
      });
    }
    EXPECT_EQ(c->outstanding(), static_cast<std::size_t>(n));
    CO_REQUIRE(co_await latch.wait(10s));
    int wrong = 0;
    for (int i = 0; i < n; ++i) wrong += got[static_cast<std::size_t>(i)] != i + 1;
    EXPECT_EQ(wrong, 0);
    EXPECT_LE(c->stats().writes - writes_before, 2u) << "writes are coalesced";
    EXPECT_EQ(observed, static_cast<uint64_t>(n));
    EXPECT_EQ(server.command("GET", "counter").as_int(), n);
  });
}

TEST(RedisClient, RefusesBeyondMaxOutstanding) {
  RedisServer server;
  ClientConfig config = config_for(server.address());
  config.max_outstanding = 10;
  with_client(config, [&](ClientPtr c, asio::any_io_executor ex) -> asio::awaitable<void> {
    int ok = 0;
    int overloaded = 0;
    Latch latch(ex, 25);
    for (int i = 0; i < 25; ++i) {
      c->command({"PING"}, [&](Result&& r) {
        ok += r.ok();
        overloaded += r.error == Error::overloaded;
        latch.count_down();
      });
    }
    CO_REQUIRE(co_await latch.wait(5s));
    EXPECT_EQ(ok, 10);
    EXPECT_EQ(overloaded, 15);
    EXPECT_TRUE((co_await c->command("PING")).ok()) << "room again once replies came";
  });
}

TEST(RedisClient, EvalFallsBackOnNoscriptOnce) {
  RedisServer server;
  const redis::Script script(
      "redis.call('INCR', KEYS[1]); return {KEYS[1], ARGV[1], tonumber(redis.call('GET', KEYS[1]))}");
  const redis::Script broken("return +");
  with_client(config_for(server.address()), [&](ClientPtr c, asio::any_io_executor ex) -> asio::awaitable<void> {
    const std::array<std::string_view, 1> keys{"evals"};
    const std::array<std::string_view, 1> args{"hello"};

    // Not loaded on a fresh server: NOSCRIPT, SCRIPT LOAD, EVALSHA.
    Result r = co_await c->eval(script, keys, args);
    EXPECT_EQ(r.reply, Reply::make_array({Reply::make_string("evals"), Reply::make_string("hello"),
                                          Reply::make_integer(1)}));
    EXPECT_EQ(c->stats().script_loads, 1u);
    r = co_await c->eval(script, keys, args);
    EXPECT_EQ(r.reply.elements.at(2).as_int(), 2);
    EXPECT_EQ(c->stats().script_loads, 1u);

    // After SCRIPT FLUSH, 100 pipelined evals all fail NOSCRIPT and share one load.
    EXPECT_EQ(server.command("SCRIPT", "FLUSH"), Reply::make_status("OK"));
    std::vector<int64_t> got;
    Latch latch(ex, 100);
    for (int i = 0; i < 100; ++i) {
      c->eval(script, {"evals"}, {"x"}, [&](Result&& res) {
        got.push_back(res.ok() ? res.reply.elements.at(2).as_int() : -1);
        latch.count_down();
      });
    }
    CO_REQUIRE(co_await latch.wait(5s));
    int wrong = 0;
    for (int i = 0; i < 100; ++i) wrong += got[static_cast<std::size_t>(i)] != i + 3;
    EXPECT_EQ(wrong, 0);
    EXPECT_EQ(c->stats().script_loads, 2u);
    const std::string stats = std::string(server.command("INFO", "commandstats").as_string());
    EXPECT_NE(stats.find("cmdstat_script|load:calls=2,"), std::string::npos) << stats;

    // A script that does not compile: one load, one retry, the NOSCRIPT
    // reply comes back (no loop), exactly one completion.
    int completions = 0;
    Latch one(ex, 1);
    c->eval(broken, {}, {}, [&](Result&& res) {
      ++completions;
      EXPECT_FALSE(res.error);
      EXPECT_EQ(res.reply.error_kind(), "NOSCRIPT");
      one.count_down();
    });
    CO_REQUIRE(co_await one.wait(5s));
    EXPECT_TRUE((co_await c->command("PING")).ok());
    EXPECT_EQ(completions, 1);
    EXPECT_EQ(c->stats().script_loads, 3u);
  });
}

TEST(RedisClient, ServerKilledThenRestarted) {
  RedisServer server;
  with_client(config_for(server.address()), [&](ClientPtr c, asio::any_io_executor ex) -> asio::awaitable<void> {
    std::vector<std::pair<State, error_code>> states;
    c->set_state_handler([&](State s, error_code ec, std::string_view) { states.emplace_back(s, ec); });

    // In flight: a BLPOP that never returns, and 100 commands behind it.
    constexpr int n = 101;
    std::vector<int> calls(n, 0);
    int closed = 0;
    Latch latch(ex, n);
    const auto on_result = [&](int i) {
      return [&, i](Result&& r) {
        ++calls[static_cast<std::size_t>(i)];
        closed += r.error == Error::closed;
        latch.count_down();
      };
    };
    c->command({"BLPOP", "never", "0"}, on_result(0));
    for (int i = 1; i < n; ++i) c->command({"INCR", "x"}, on_result(i));
    // Let them reach Redis (the server blocks on BLPOP), then kill it.
    CO_REQUIRE(co_await poll_until(ex, [&] {
      return server.command("INFO", "clients").as_string().find("blocked_clients:1\r") != std::string::npos;
    }));
    server.stop(SIGKILL);

    CO_REQUIRE(co_await latch.wait(5s));
    EXPECT_EQ(closed, n);
    EXPECT_FALSE(c->connected());
    CO_REQUIRE(!states.empty());
    EXPECT_EQ(states.front().first, State::disconnected);

    // Fail fast while Redis is down.
    for (int i = 0; i < 3; ++i) {
      const auto t0 = Clock::now();
      const Result r = co_await c->command("GET", "x");
      EXPECT_EQ(r.error, Error::not_connected);
      EXPECT_LT(Clock::now() - t0, 50ms);
    }

    server.start();  // same port
    CO_REQUIRE(co_await c->wait_for(State::connected, 5s));
    EXPECT_TRUE((co_await c->command("SET", "after", "restart")).ok());
    EXPECT_EQ((co_await c->command("GET", "after")).reply.as_string(), "restart");
    EXPECT_GE(c->stats().connects, 2u);
    int not_once = 0;
    for (int k : calls) not_once += k != 1;
    EXPECT_EQ(not_once, 0) << "every in-flight command completed exactly once";
  });
}

TEST(RedisClient, RequestTimeoutThenRecovers) {
  RedisServer server;
  ClientConfig config = config_for(server.address());
  config.request_timeout = 200ms;
  with_client(config, [&](ClientPtr c, asio::any_io_executor ex) -> asio::awaitable<void> {

    // Redis stalls; 50 commands wait behind the first.
    EXPECT_EQ(server.command("CLIENT", "PAUSE", 1000, "ALL"), Reply::make_status("OK"));
    const auto t0 = Clock::now();
    error_code first;
    Clock::duration waited{};
    int timeouts = 0;
    int closed = 0;
    int total = 0;
    Latch latch(ex, 50);
    for (int i = 0; i < 50; ++i) {
      c->command({"INCR", "x"}, [&, i](Result&& r) {
        if (i == 0) {
          first = r.error;
          waited = Clock::now() - t0;
        }
        ++total;
        timeouts += r.error == Error::timeout;
        closed += r.error == Error::closed;
        latch.count_down();
      });
    }
    CO_REQUIRE(co_await latch.wait(2s));
    EXPECT_EQ(first, Error::timeout);
    EXPECT_GE(waited, 200ms);
    EXPECT_LT(waited, 800ms);
    EXPECT_EQ(timeouts + closed, 50) << "the others complete when the connection closes";
    EXPECT_FALSE(c->connected());
    EXPECT_EQ(c->last_error(), Error::timeout);
    EXPECT_GE(c->stats().timeouts, static_cast<uint64_t>(timeouts));

    // Back once the pause ends (its handshakes time out meanwhile).
    CO_REQUIRE(co_await c->wait_for(State::connected, 5s));
    EXPECT_GE(Clock::now() - t0, 900ms);
    EXPECT_TRUE((co_await c->command("PING")).ok());
    EXPECT_EQ(total, 50) << "exactly once";
  });
}

TEST(RedisClient, IdlePingNoticesAStalledServer) {
  RedisServer server;
  ClientConfig config = config_for(server.address());
  config.request_timeout = 200ms;
  config.idle_ping_interval = 50ms;
  with_client(config, [&](ClientPtr c, asio::any_io_executor) -> asio::awaitable<void> {
    ::kill(server.pid(), SIGSTOP);  // the process stays, the connection stays open, nothing answers
    const bool noticed = co_await c->wait_for(State::disconnected, 2s);
    ::kill(server.pid(), SIGCONT);
    CO_REQUIRE(noticed);
    EXPECT_EQ(c->last_error(), Error::timeout);
    CO_REQUIRE(co_await c->wait_for(State::connected, 5s));
    EXPECT_TRUE((co_await c->command("PING")).ok());
  });
}

TEST(RedisClient, UnixSocket) {
  RedisServer server(RedisServerOptions{.unix_socket = true});
  with_client(config_for(server.unix_address()), [&](ClientPtr c, asio::any_io_executor) -> asio::awaitable<void> {
    EXPECT_TRUE((co_await c->command("SET", "via", "unix")).ok());
    EXPECT_EQ((co_await c->command("GET", "via")).reply.as_string(), "unix");
    const std::string clients(server.command("CLIENT", "LIST").as_string());
    EXPECT_NE(clients.find("addr=/"), std::string::npos) << clients;
  });
}

TEST(RedisClient, StartsBeforeRedisAndFailsFast) {
  RedisServer server(RedisServerOptions{.start = false});
  server.start();
  server.stop();  // a port where nothing listens
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto c = Client::create(ex, config_for(server.address()));
    c->start();
    CO_REQUIRE(co_await c->wait_for(State::disconnected, 2s));
    EXPECT_EQ(c->last_error(), asio::error::connection_refused);
    EXPECT_EQ((co_await c->command("PING")).error, Error::not_connected);
    server.start();
    CO_REQUIRE(co_await c->wait_for(State::connected, 5s));
    EXPECT_TRUE((co_await c->command("PING")).ok());
    c->stop();
  });
}

TEST(RedisClient, AuthSelectAndName) {
  RedisServer server(RedisServerOptions{.password = "s3cret"});
  ClientConfig config = config_for(server.address());
  config.password = "s3cret";
  config.db = 2;
  config.client_name = "smsgate-test";
  with_client(config, [&](ClientPtr c, asio::any_io_executor) -> asio::awaitable<void> {
    EXPECT_TRUE((co_await c->command("SET", "where", "db2")).ok());
    EXPECT_EQ(server.command("SELECT", 2), Reply::make_status("OK"));
    EXPECT_EQ(server.command("GET", "where"), Reply::make_string("db2"));
    const std::string clients(server.command("CLIENT", "LIST").as_string());
    EXPECT_NE(clients.find("name=smsgate-test"), std::string::npos) << clients;
  });
}

TEST(RedisClient, WrongPasswordFailsTheHandshake) {
  RedisServer server(RedisServerOptions{.password = "s3cret"});
  ClientConfig config = config_for(server.address());
  config.password = "wrong";
  run([&](asio::any_io_executor ex) -> asio::awaitable<void> {
    auto c = Client::create(ex, config);
    std::string detail;
    error_code reason;
    c->set_state_handler([&](State s, error_code ec, std::string_view d) {
      if (s == State::disconnected && detail.empty()) {
        detail = d;
        reason = ec;
      }
    });
    c->start();
    CO_REQUIRE(co_await c->wait_for(State::disconnected, 2s));
    EXPECT_EQ(reason, Error::handshake_failed);
    EXPECT_NE(detail.find("WRONGPASS"), std::string::npos) << detail;
    EXPECT_FALSE(co_await c->wait_for(State::connected, 300ms)) << "it keeps retrying, and failing";
    c->stop();
    EXPECT_EQ(c->state(), State::stopped);
  });
}

TEST(RedisClient, StopCompletesInFlightOnce) {
  RedisServer server;
  with_client(config_for(server.address()), [&](ClientPtr c, asio::any_io_executor) -> asio::awaitable<void> {
    int closed = 0;
    int total = 0;
    c->command({"BLPOP", "never", "0"}, [&](Result&& r) {
      ++total;
      closed += r.error == Error::closed;
    });
    for (int i = 0; i < 10; ++i) {
      c->command({"PING"}, [&](Result&& r) {
        ++total;
        closed += r.error == Error::closed;
        c->stop();  // re-entrant: harmless
      });
    }
    c->stop();
    EXPECT_EQ(total, 11);
    EXPECT_EQ(closed, 11);
    EXPECT_EQ(c->state(), State::stopped);
    EXPECT_EQ((co_await c->command("PING")).error, Error::not_connected);
    EXPECT_TRUE(co_await c->wait_for(State::stopped, 1s));
    EXPECT_EQ(total, 11);
  });
}

TEST(RedisServerSupport, AofSurvivesRestart) {
  RedisServer server(RedisServerOptions{.aof = true});
  const int port = server.port();
  EXPECT_EQ(server.command("SET", "durable", "yes"), Reply::make_status("OK"));
  server.stop(SIGTERM);
  EXPECT_FALSE(server.running());
  server.start();
  EXPECT_EQ(server.port(), port);
  EXPECT_EQ(server.command("GET", "durable"), Reply::make_string("yes"));
}

}  // namespace
