// The ticket forwarder (gateway/tickets.hpp) against a real redis-server and
// an HTTP receiver written here (Beast, 127.0.0.1, a free port) that can
// answer any status, hang, or be down, and records every request.
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include "gateway/tickets.hpp"
#include "policy/number.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/run_coroutine.hpp"

// GCC 12 warns -Wmismatched-new-delete on Asio's coroutine frames (a known
// false positive of that compiler).
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace smsgate::gateway {
namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;
namespace json = boost::json;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using smsgate::test::RedisServer;
using smsgate::test::sleep_for;

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// CO_EVENTUALLY(predicate[, limit]): polls until true, or fails the test.
#define CO_EVENTUALLY(...)                                       \
  do {                                                           \
    const bool came_ = co_await eventually(__VA_ARGS__);         \
    if (!came_) {                                                \
      ADD_FAILURE() << "never came true: " #__VA_ARGS__;         \
      co_return;                                                 \
    }                                                            \
  } while (0)

// CO_ENQUEUE(client, id, json): enqueue_ticket, or fail the test.
#define CO_ENQUEUE(...)                                          \
  do {                                                           \
    const error_code enqueued_ = co_await enqueue_ticket(__VA_ARGS__); \
    if (enqueued_) {                                             \
      ADD_FAILURE() << "enqueue_ticket: " << enqueued_.message(); \
      co_return;                                                 \
    }                                                            \
  } while (0)

// ---------------------------------------------------------------- the receiver

struct Received {
  std::string method;
  std::string target;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  unsigned answered = 0;  // the status sent; 0: none (hung)

  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// An HTTP (or HTTPS) server on its own thread. Answers every request with
// the status set by answer() (200 at first), or holds it unanswered while
// hang(true). stop() closes the listener and every connection, so that
// connections are refused until start() listens again on the same port.
class Receiver {
 public:
  explicit Receiver(std::shared_ptr<ssl::context> tls = nullptr) : tls_(std::move(tls)) { start(); }
  ~Receiver() { stop(); }

  void start() {
    if (io_) return;
    io_ = std::make_unique<asio::io_context>();
    acceptor_ = std::make_unique<tcp::acceptor>(*io_);
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
    acceptor_->open(ep.protocol());
    acceptor_->set_option(tcp::acceptor::reuse_address(true));
    acceptor_->bind(ep);
    acceptor_->listen();
    port_ = acceptor_->local_endpoint().port();
    asio::co_spawn(*io_, accept_loop(), asio::detached);
    thread_ = std::thread([io = io_.get()] { io->run(); });
  }

  void stop() {
    if (!io_) return;
    io_->stop();
    thread_.join();
    acceptor_.reset();
    io_.reset();  // destroys the connections' coroutines, closing their sockets
  }

  std::string url(std::string_view path, std::string_view host = "127.0.0.1") const {
    return std::string(tls_ ? "https://" : "http://") + std::string(host) + ":" + std::to_string(port_) +
           std::string(path);
  }
  void answer(unsigned status) { status_ = status; }
  void hang(bool on) { hang_ = on; }

  std::vector<Received> requests() const {
    std::lock_guard lock(mutex_);
    return requests_;
  }
  std::vector<Received> answered_2xx() const {
    std::vector<Received> out;
    for (auto& r : requests()) {
      if (r.answered >= 200 && r.answered < 300) out.push_back(std::move(r));
    }
    return out;
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_->async_accept(tuple_awaitable);
      if (ec) co_return;
      asio::co_spawn(*io_, serve(std::move(socket)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    if (!tls_) {
      co_await exchange(socket);
      co_return;
    }
    ssl::stream<tcp::socket> s(std::move(socket), *tls_);
    auto [ec] = co_await s.async_handshake(ssl::stream_base::server, tuple_awaitable);
    if (!ec) co_await exchange(s);
  }

  template <class Stream>
  asio::awaitable<void> exchange(Stream& s) {
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    auto [rec, n] = co_await http::async_read(s, buffer, req, tuple_awaitable);
    if (rec) co_return;
    Received r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& f : req) {
      std::string name(f.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      r.headers[name] = std::string(f.value());
    }
    r.body = req.body();
    const bool hang = hang_;
    const unsigned status = status_;
    if (!hang) r.answered = status;
    {
      std::lock_guard lock(mutex_);
      requests_.push_back(std::move(r));
    }
    if (hang) {  // until stop()
      asio::steady_timer forever(co_await asio::this_coro::executor, 1h);
      co_await forever.async_wait(tuple_awaitable);
      co_return;
    }
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::connection, "close");
    if (status >= 200 && status != 204 && status != 304) {  // the others have no body
      res.set(http::field::content_type, "application/json");
      res.body() = "{}";
    }
    res.prepare_payload();
    co_await http::async_write(s, res, tuple_awaitable);
  }

  std::shared_ptr<ssl::context> tls_;
  std::unique_ptr<asio::io_context> io_;
  std::unique_ptr<tcp::acceptor> acceptor_;
  std::thread thread_;
  unsigned short port_ = 0;
  std::atomic<unsigned> status_{200};
  std::atomic<bool> hang_{false};
  mutable std::mutex mutex_;
  std::vector<Received> requests_;
};

std::set<std::string> distinct_ids(const std::vector<Received>& rs) {
  std::set<std::string> ids;
  for (const auto& r : rs) ids.insert(r.header("webhook-id"));
  return ids;
}

// ---------------------------------------------------------------- tickets

std::string ticket_id(int n) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "T-%016x", n);
  return buf;
}

// A ticket as the reply path writes it.
std::string ticket_json(const std::string& id) {
  json::object t;
  t["id"] = id;
  t["category"] = "harassment";
  t["category_zh"] = "骚扰";
  t["severity"] = "high";
  t["matched"] = json::array{
      json::object{{"outcome", "complaint"}, {"tier", "phrase"}, {"word", "骚扰"}, {"found", "骚扰"}}};
  t["number"] = "+8613800138000";
  t["region"] = "CN";
  t["zones"] = json::array{"Asia/Shanghai"};
  t["text"] = "别再骚扰我了";
  t["received_utc"] = "2024-05-01T12:00:00Z";
  t["account"] = "acme";
  t["source"] = "1069";
  t["carrier"] = "cmcc";
  t["sent_24h"] = 6;
  t["already_opted_out"] = false;
  t["actions"] = json::array{"opted_out:global", "ticket"};
  t["due"] = json::object{{"first_response", "2024-05-02T12:00:00Z"}, {"resolution", "2024-05-03T12:00:00Z"}};
  return json::serialize(t);
}

std::string base64_of(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string random_bytes(std::size_t n) {
  std::string s(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n));
  return s;
}

// What a Standard Webhooks receiver computes.
std::string expected_signature(const std::string& key, const Received& r) {
  const std::string content = r.header("webhook-id") + "." + r.header("webhook-timestamp") + "." + r.body;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), mac, &size);
  return "v1," + base64_of(std::string(reinterpret_cast<const char*>(mac), size));
}

// ---------------------------------------------------------------- fixture

class TicketTest : public ::testing::Test {
 protected:
  TicketTest() {
    char tmpl[] = "/tmp/smsgate-tickets-test-XXXXXX";
    dir_ = mkdtemp(tmpl);
  }
  ~TicketTest() override { fs::remove_all(dir_); }

  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  redis::ClientConfig redis_config() const {
    redis::ClientConfig c;
    c.address = redis.address();
    return c;
  }

  // Everything short, so that a test takes a few seconds.
  static ForwarderOptions fast() {
    ForwarderOptions o;
    o.block = 100ms;
    o.claim_idle = 1ms;  // raised to timeout + 1 s
    o.claim_interval = 100ms;
    o.backoff_initial = 100ms;
    o.backoff_max = 300ms;
    return o;
  }

  static config::Tickets webhook(const std::string& url, const std::string& secret = "") {
    config::Tickets t;
    t.sink = config::TicketSink::webhook;
    t.webhook = url;
    t.secret.source = config::Secret::Source::plain;
    t.secret.value = secret;
    t.timeout = 500ms;
    return t;
  }

  std::unique_ptr<TicketForwarder> forwarder(const config::Tickets& t, const std::string& name,
                                             ForwarderOptions o = fast()) {
    auto f = std::make_unique<TicketForwarder>(io.get_executor(), redis_config(), t, name, std::move(o));
    f->start();
    return f;
  }

  // A client of the test's own, for enqueue_ticket, list_dead, replay_dead.
  asio::awaitable<std::shared_ptr<redis::Client>> connect() {
    auto c = redis::Client::create(io.get_executor(), redis_config());
    c->start();
    const bool up = co_await c->wait_for(redis::State::connected, 3s);
    EXPECT_TRUE(up);
    co_return c;
  }

  template <class F>
  static asio::awaitable<bool> eventually(F ready, std::chrono::milliseconds limit = 5s) {
    const auto deadline = Clock::now() + limit;
    while (!ready()) {
      if (Clock::now() > deadline) co_return false;
      co_await sleep_for(20ms);
    }
    co_return true;
  }

  template <class Make>
  void run(Make make, std::chrono::milliseconds limit = 20s) {
    smsgate::test::run_coroutine(io, make, limit);
  }

  int64_t count(std::string_view stream) { return redis.command("XLEN", std::string(stream)).to_int().value_or(-1); }
  int64_t pending() {
    const auto r = redis.command("XPENDING", std::string(kTicketOutbox), std::string(kTicketGroup));
    return r.is_array() && !r.elements.empty() ? r.elements[0].to_int().value_or(-1) : -1;
  }
  int64_t attempts_of(const std::string& id) {
    return redis.command("HGET", ticket_attempts_key(id), "attempts").to_int().value_or(0);
  }
  std::string last_error_of(const std::string& id) {
    const auto r = redis.command("HGET", ticket_attempts_key(id), "last_error");
    return r.is_string() ? r.str : "";
  }
  bool has_attempts(const std::string& id) {
    return redis.command("EXISTS", ticket_attempts_key(id)).to_int().value_or(0) != 0;
  }

  RedisServer redis;
  asio::io_context io;
  fs::path dir_;
};

class TicketWebhook : public TicketTest {};
class TicketRetry : public TicketTest {};
class TicketDeadLetter : public TicketTest {};
class TicketSharing : public TicketTest {};
class TicketFileSink : public TicketTest {};
class TicketRequestTracker : public TicketTest {};

// ---------------------------------------------------------------- webhook

TEST_F(TicketWebhook, ArrivesOnceSignedAsStandardWebhooks) {
  Receiver receiver;
  const std::string key = random_bytes(32);
  const std::string id = ticket_id(1);
  const std::string body = ticket_json(id);
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    // Written before any forwarder ran: the group is created at 0, so it is
    // delivered all the same.
    CO_ENQUEUE(*client, id, body);
    auto f = forwarder(webhook(receiver.url("/hooks/tickets?v=1"), "whsec_" + base64_of(key)), "node-a");
    CO_EVENTUALLY([&] { return receiver.answered_2xx().size() == 1; });
    co_await sleep_for(300ms);
    co_await f->stop();
    EXPECT_EQ(f->counters().delivered.load(), 1u);
    client->stop();
  });

  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  const Received& r = requests[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/hooks/tickets?v=1");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("webhook-id"), id);
  EXPECT_EQ(r.header("idempotency-key"), id);
  EXPECT_EQ(r.body, body);
  const int64_t ts = std::stoll(r.header("webhook-timestamp"));
  const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(std::abs(now - ts), 60);
  EXPECT_EQ(r.header("webhook-signature"), expected_signature(key, r));

  EXPECT_EQ(count(kTicketOutbox), 0);  // acked and deleted
  EXPECT_EQ(pending(), 0);
  EXPECT_FALSE(has_attempts(id));
}

TEST_F(TicketWebhook, HttpsVerifiesTheServerAgainstTheTrustedCa) {
  const std::string cert = file("cert.pem"), key_file = file("key.pem");
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
                          " -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
                          " -keyout " + key_file + " -out " + cert + " 2>/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto tls = std::make_shared<ssl::context>(ssl::context::tls_server);
  tls->use_certificate_chain_file(cert);
  tls->use_private_key_file(key_file, ssl::context::pem);
  Receiver receiver(tls);
  const std::string id = ticket_id(2);
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    CO_ENQUEUE(*client, id, ticket_json(id));
    // The system's store does not know this CA: the handshake fails.
    auto untrusting = forwarder(webhook(receiver.url("/hook", "localhost"), "s"), "node-a");
    CO_EVENTUALLY([&] { return attempts_of(id) >= 1; });
    EXPECT_NE(last_error_of(id).find("certificate verify failed"), std::string::npos) << last_error_of(id);
    co_await untrusting->stop();  // graceful: the ticket is released at once

    ForwarderOptions o = fast();
    o.ca_file = cert;
    auto trusting = forwarder(webhook(receiver.url("/hook", "localhost"), "s"), "node-b", o);
    CO_EVENTUALLY([&] { return receiver.answered_2xx().size() == 1; });
    co_await trusting->stop();
    EXPECT_EQ(trusting->counters().reclaimed.load(), 1u);
    client->stop();
  });
  EXPECT_EQ(receiver.answered_2xx().at(0).header("webhook-id"), id);
}

// ---------------------------------------------------------------- retries

TEST_F(TicketRetry, ReceiverDownThenUpArrivesOnce) {
  Receiver receiver;
  const std::string url = receiver.url("/hook");
  receiver.stop();  // connections refused
  const std::string secret = "a plain shared secret";  // no whsec_: its bytes are the key
  const std::string id = ticket_id(3);
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    auto f = forwarder(webhook(url, secret), "node-a");
    CO_ENQUEUE(*client, id, ticket_json(id));
    CO_EVENTUALLY([&] { return attempts_of(id) >= 3; });
    EXPECT_NE(last_error_of(id).find("connect"), std::string::npos) << last_error_of(id);
    EXPECT_EQ(pending(), 1);
    receiver.start();
    CO_EVENTUALLY([&] { return receiver.answered_2xx().size() == 1; });
    co_await sleep_for(500ms);
    co_await f->stop();
    EXPECT_GE(f->counters().retrying.load(), 3u);
    EXPECT_EQ(f->counters().delivered.load(), 1u);
    client->stop();
  });
  const auto requests = receiver.requests();
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(distinct_ids(requests), std::set<std::string>{id});
  EXPECT_EQ(requests[0].header("webhook-signature"), expected_signature(secret, requests[0]));
  EXPECT_EQ(count(kTicketOutbox), 0);
  EXPECT_FALSE(has_attempts(id));
}

TEST_F(TicketRetry, ClientErrorsAreRetriedToo) {
  Receiver receiver;
  receiver.answer(404);
  const std::string id = ticket_id(4);
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    auto f = forwarder(webhook(receiver.url("/hook")), "node-a");
    CO_ENQUEUE(*client, id, ticket_json(id));
    CO_EVENTUALLY([&] { return attempts_of(id) >= 2; });
    EXPECT_EQ(last_error_of(id), "HTTP 404 Not Found");
    receiver.answer(302);
    CO_EVENTUALLY([&] { return last_error_of(id).starts_with("HTTP 302"); });
    EXPECT_EQ(last_error_of(id), "HTTP 302 Found (redirects are not followed)");
    receiver.answer(204);
    CO_EVENTUALLY([&] { return receiver.answered_2xx().size() == 1; });
    co_await f->stop();
    client->stop();
  });
  EXPECT_EQ(count(kTicketOutbox), 0);
}

TEST_F(TicketRetry, WaitingTicketsAreBoundedTheRestStayInTheOutbox) {
  Receiver receiver;
  receiver.answer(500);
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    ForwarderOptions o = fast();
    o.max_waiting = 2;
    auto f = forwarder(webhook(receiver.url("/hook")), "node-a", o);
    for (int i = 0; i < 5; ++i) CO_ENQUEUE(*client, ticket_id(20 + i), ticket_json(ticket_id(20 + i)));
    CO_EVENTUALLY([&] { return f->counters().retrying.load() >= 6; });
    EXPECT_EQ(pending(), 2);  // the other three not even read
    EXPECT_EQ(f->counters().waiting.load(), 2u);
    EXPECT_EQ(distinct_ids(receiver.requests()).size(), 2u);
    receiver.answer(200);
    CO_EVENTUALLY([&] { return distinct_ids(receiver.answered_2xx()).size() == 5; });
    co_await f->stop();
    EXPECT_EQ(f->counters().delivered.load(), 5u);
    client->stop();
  });
  EXPECT_EQ(count(kTicketOutbox), 0);
}

// ---------------------------------------------------------------- dead letters

TEST_F(TicketDeadLetter, AfterRetryForThenReplayedAndDelivered) {
  Receiver receiver;
  receiver.answer(500);
  const std::string id = ticket_id(5);
  const std::string body = ticket_json(id);
  config::Tickets t = webhook(receiver.url("/hook"));
  t.retry_for = 1500ms;
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    auto f = forwarder(t, "node-a");
    CO_ENQUEUE(*client, id, body);
    CO_EVENTUALLY([&] { return count(kTicketDead) == 1; });
    EXPECT_EQ(count(kTicketOutbox), 0);
    EXPECT_EQ(pending(), 0);
    EXPECT_FALSE(has_attempts(id));
    EXPECT_EQ(f->counters().dead_lettered.load(), 1u);

    auto [ec, dead] = co_await list_dead(*client);
    CO_REQUIRE(!ec);
    CO_REQUIRE(dead.size() == 1u);
    EXPECT_EQ(dead[0].id, id);
    EXPECT_EQ(dead[0].ticket, body);
    EXPECT_EQ(dead[0].error, "HTTP 500 Internal Server Error");
    EXPECT_GE(dead[0].attempts, 3);
    EXPECT_EQ(static_cast<std::size_t>(dead[0].attempts), receiver.requests().size());
    EXPECT_GE(dead[0].dead_ms - dead[0].first_attempt_ms, 1500);
    EXPECT_LT(dead[0].dead_ms - dead[0].first_attempt_ms, 1500 + 1000);  // the last attempt at retry_for, not later
    auto [ec2, after] = co_await list_dead(*client, 10, dead[0].entry_id);
    EXPECT_TRUE(!ec2 && after.empty());

    const error_code missing = co_await replay_dead(*client, ticket_id(99));
    EXPECT_EQ(missing, error_code(TicketErrc::not_found));
    receiver.answer(200);
    const error_code replayed = co_await replay_dead(*client, id);
    CO_REQUIRE(!replayed);
    EXPECT_EQ(count(kTicketDead), 0);
    CO_EVENTUALLY([&] { return receiver.answered_2xx().size() == 1; });
    co_await f->stop();
    EXPECT_EQ(f->counters().delivered.load(), 1u);
    client->stop();
  });
  EXPECT_EQ(receiver.answered_2xx().at(0).body, body);
  EXPECT_EQ(count(kTicketOutbox), 0);
  EXPECT_FALSE(has_attempts(id));
}

TEST_F(TicketDeadLetter, MalformedEntriesAtOnce) {
  Receiver receiver;
  redis.command("XADD", std::string(kTicketOutbox), "*", "id", ticket_id(6), "ticket", "not json");
  redis.command("XADD", std::string(kTicketOutbox), "*", "something", "else");
  run([&]() -> asio::awaitable<void> {
    auto f = forwarder(webhook(receiver.url("/hook")), "node-a");
    CO_EVENTUALLY([&] { return count(kTicketDead) == 2; });
    co_await f->stop();
    EXPECT_EQ(f->counters().dead_lettered.load(), 2u);
  });
  const auto dead = redis.command("XRANGE", std::string(kTicketDead), "-", "+");
  ASSERT_EQ(dead.elements.size(), 2u);
  EXPECT_NE(redis::to_string(dead.elements[0]).find("the ticket is not a JSON object"), std::string::npos);
  EXPECT_NE(redis::to_string(dead.elements[1]).find("outbox entry without id or ticket"), std::string::npos);
  EXPECT_TRUE(receiver.requests().empty());
  EXPECT_EQ(count(kTicketOutbox), 0);
}

// ---------------------------------------------------------------- several forwarders

TEST_F(TicketSharing, TwoForwardersDeliverFiftyExactlyOnce) {
  Receiver receiver;
  std::set<std::string> ids;
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    auto a = forwarder(webhook(receiver.url("/hook")), "node-a");
    auto b = forwarder(webhook(receiver.url("/hook")), "node-b");
    co_await sleep_for(200ms);  // both waiting in XREADGROUP
    for (int i = 0; i < 50; ++i) {
      ids.insert(ticket_id(100 + i));
      CO_ENQUEUE(*client, ticket_id(100 + i), ticket_json(ticket_id(100 + i)));
      if (i % 10 == 9) co_await sleep_for(20ms);
    }
    CO_EVENTUALLY([&] { return distinct_ids(receiver.answered_2xx()).size() == 50; }, 10s);
    co_await sleep_for(500ms);
    co_await a->stop();
    co_await b->stop();
    EXPECT_EQ(a->counters().delivered.load() + b->counters().delivered.load(), 50u)
        << "a " << a->counters().delivered.load() << ", b " << b->counters().delivered.load();
    client->stop();
  });
  const auto requests = receiver.requests();
  EXPECT_EQ(requests.size(), 50u);
  EXPECT_EQ(distinct_ids(requests), ids);
  EXPECT_EQ(count(kTicketOutbox), 0);
  EXPECT_EQ(pending(), 0);
}

TEST_F(TicketSharing, EntryOfAKilledConsumerIsTakenOver) {
  Receiver receiver;
  const std::string id = ticket_id(7);
  redis.command("XGROUP", "CREATE", std::string(kTicketOutbox), std::string(kTicketGroup), "0", "MKSTREAM");
  redis.command("XADD", std::string(kTicketOutbox), "*", "id", id, "ticket", ticket_json(id));
  // A node read it and died before it acked.
  const auto read = redis.command("XREADGROUP", "GROUP", std::string(kTicketGroup), "dead-node", "COUNT", "10",
                                  "STREAMS", std::string(kTicketOutbox), ">");
  ASSERT_TRUE(read.is_array()) << redis::to_string(read);
  ASSERT_EQ(pending(), 1);
  run([&]() -> asio::awaitable<void> {
    config::Tickets t = webhook(receiver.url("/hook"));
    t.timeout = 200ms;  // claim_idle: 1.2 s
    auto f = forwarder(t, "node-a");
    CO_EVENTUALLY([&] { return receiver.answered_2xx().size() == 1; });
    co_await f->stop();
    EXPECT_EQ(f->counters().reclaimed.load(), 1u);
    EXPECT_EQ(f->counters().delivered.load(), 1u);
  });
  EXPECT_EQ(receiver.requests().size(), 1u);
  EXPECT_EQ(pending(), 0);
  EXPECT_EQ(count(kTicketOutbox), 0);
}

// A forwarder that goes away during an attempt leaves the entry pending;
// another takes it over once it has been idle for claim_idle.
class TicketReclaim : public TicketTest {
 protected:
  void gone_mid_delivery(bool destroy);
};

void TicketReclaim::gone_mid_delivery(bool destroy) {
  Receiver receiver;
  receiver.hang(true);
  const std::string id = ticket_id(8);
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    config::Tickets slow = webhook(receiver.url("/hook"));
    slow.timeout = 5s;
    auto a = forwarder(slow, "node-a");
    CO_ENQUEUE(*client, id, ticket_json(id));
    CO_EVENTUALLY([&] { return receiver.requests().size() == 1; });
    if (destroy) {
      a.reset();
    } else {
      co_await a->stop(100ms);  // the attempt is still in flight: abandoned
      EXPECT_EQ(a->counters().delivered.load(), 0u);
    }
    co_await sleep_for(100ms);
    const auto p = redis.command("XPENDING", std::string(kTicketOutbox), std::string(kTicketGroup), "-", "+", "10");
    CO_REQUIRE(p.is_array() && p.elements.size() == 1u);
    EXPECT_TRUE(p.elements[0].elements[1].str.starts_with("node-a")) << redis::to_string(p);

    receiver.hang(false);
    config::Tickets quick = webhook(receiver.url("/hook"));
    quick.timeout = 300ms;  // claim_idle: 1.3 s
    auto b = forwarder(quick, "node-b");
    CO_EVENTUALLY([&] { return receiver.answered_2xx().size() == 1; });
    co_await b->stop();
    EXPECT_EQ(b->counters().reclaimed.load(), 1u);
    EXPECT_EQ(b->counters().delivered.load(), 1u);
    client->stop();
  });
  EXPECT_EQ(receiver.requests().size(), 2u);  // the abandoned one, unanswered, and the delivery
  EXPECT_EQ(pending(), 0);
  EXPECT_EQ(count(kTicketOutbox), 0);
}

TEST_F(TicketReclaim, StoppedMidDeliveryIsTakenOver) { gone_mid_delivery(false); }
TEST_F(TicketReclaim, DestroyedMidDeliveryIsTakenOver) { gone_mid_delivery(true); }

TEST_F(TicketSharing, GracefulStopHandsWaitingTicketsOverAtOnce) {
  Receiver receiver;
  receiver.answer(503);
  const std::string id = ticket_id(9);
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    config::Tickets t = webhook(receiver.url("/hook"));
    t.timeout = 5s;  // claim_idle 6 s: only the release makes the test finish in time
    ForwarderOptions o = fast();
    o.backoff_initial = o.backoff_max = 1s;
    o.backoff_jitter = 0;
    auto a = forwarder(t, "node-a", o);
    CO_ENQUEUE(*client, id, ticket_json(id));
    CO_EVENTUALLY([&] { return attempts_of(id) == 1; });
    co_await a->stop();
    receiver.answer(200);
    auto b = forwarder(t, "node-b", o);
    CO_EVENTUALLY([&] { return receiver.answered_2xx().size() == 1; }, 3s);
    co_await b->stop();
    EXPECT_EQ(b->counters().reclaimed.load(), 1u);
    client->stop();
  });
  EXPECT_EQ(receiver.requests().size(), 2u);
}

TEST_F(TicketSharing, IdleConsumersWithNothingPendingAreRemoved) {
  Receiver receiver;
  const std::string outbox(kTicketOutbox), group(kTicketGroup);
  redis.command("XGROUP", "CREATE", outbox, group, "0", "MKSTREAM");
  redis.command("XGROUP", "CREATECONSUMER", outbox, group, "gone-1");
  redis.command("XADD", outbox, "*", "id", ticket_id(15), "ticket", ticket_json(ticket_id(15)));
  redis.command("XREADGROUP", "GROUP", group, "busy-1", "COUNT", "1", "STREAMS", outbox, ">");
  const auto consumers = [&] {
    std::set<std::string> names;
    for (const auto& c : redis.command("XINFO", "CONSUMERS", outbox, group).elements) {
      names.insert(c.elements.at(1).str);
    }
    return names;
  };
  ASSERT_EQ(consumers(), (std::set<std::string>{"busy-1", "gone-1"}));
  run([&]() -> asio::awaitable<void> {
    ForwarderOptions o = fast();
    o.consumer_expiry = 200ms;
    o.cleanup_interval = 100ms;
    co_await sleep_for(250ms);
    auto f = forwarder(webhook(receiver.url("/hook")), "node-a", o);  // claim_idle 1.5 s
    CO_EVENTUALLY([&] { return !consumers().contains("gone-1"); });
    EXPECT_TRUE(consumers().contains("busy-1"));  // its entry is still pending there
    // Taken over and delivered: then busy-1 has nothing pending and goes too.
    CO_EVENTUALLY([&] { return receiver.answered_2xx().size() == 1; });
    CO_EVENTUALLY([&] { return !consumers().contains("busy-1"); });
    EXPECT_EQ(consumers(), std::set<std::string>{"node-a"});
    co_await f->stop();
  });
}

// ---------------------------------------------------------------- file sink

TEST_F(TicketFileSink, AppendsOneJsonLinePerTicket) {
  const std::string path = file("tickets.jsonl");
  config::Tickets t;
  t.sink = config::TicketSink::file;
  t.file = path;
  const auto lines = [&] {
    std::ifstream in(path);
    std::vector<std::string> out;
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    auto f = forwarder(t, "node-a");
    CO_ENQUEUE(*client, ticket_id(10), ticket_json(ticket_id(10)));
    CO_ENQUEUE(*client, ticket_id(11), ticket_json(ticket_id(11)));
    // Written over several lines by someone: still one line in the file.
    CO_ENQUEUE(*client, ticket_id(12), "{\n  \"id\": \"" + ticket_id(12) + "\",\n  \"n\": 1\n}");
    CO_EVENTUALLY([&] { return lines().size() == 3; });
    co_await sleep_for(200ms);
    co_await f->stop();
    EXPECT_EQ(f->counters().delivered.load(), 3u);
    client->stop();
  });
  const auto written = lines();
  ASSERT_EQ(written.size(), 3u);
  EXPECT_EQ(written[0], ticket_json(ticket_id(10)));
  for (int i = 0; i < 3; ++i) {
    const json::value v = json::parse(written[static_cast<std::size_t>(i)]);
    EXPECT_EQ(v.at("id").as_string(), ticket_id(10 + i));
  }
  EXPECT_EQ(count(kTicketOutbox), 0);
}

TEST_F(TicketFileSink, UnwritableFileIsRetried) {
  const std::string path = file("missing-dir/tickets.jsonl");
  config::Tickets t;
  t.sink = config::TicketSink::file;
  t.file = path;
  const std::string id = ticket_id(13);
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    auto f = forwarder(t, "node-a");
    CO_ENQUEUE(*client, id, ticket_json(id));
    CO_EVENTUALLY([&] { return attempts_of(id) >= 2; });
    EXPECT_EQ(last_error_of(id), "open: No such file or directory");
    fs::create_directory(file("missing-dir"));
    CO_EVENTUALLY([&] { return fs::exists(path) && fs::file_size(path) > 0; });
    co_await sleep_for(100ms);
    co_await f->stop();
    client->stop();
  });
  EXPECT_FALSE(has_attempts(id));
  EXPECT_EQ(count(kTicketOutbox), 0);
}

// ---------------------------------------------------------------- Request Tracker

TEST_F(TicketRequestTracker, PostsTheDocumentedRequestAndWantsCreated) {
  Receiver receiver;
  receiver.answer(200);  // not RT's answer to a create
  const std::string id = ticket_id(14);
  config::Tickets t;
  t.sink = config::TicketSink::request_tracker;
  t.request_tracker.url = receiver.url("/rt/");
  t.request_tracker.queue = "SMS Complaints";
  t.request_tracker.token.source = config::Secret::Source::plain;
  t.request_tracker.token.value = "1-23-abcdef";
  t.request_tracker.custom_fields = {{"SMS Ticket", "id"},
                                     {"SMS Category", "category"},
                                     {"SMS Zones", "zones"},
                                     {"SMS Resolution Due", "due.resolution"},
                                     {"SMS Absent", "nope"}};
  t.timeout = 500ms;
  run([&]() -> asio::awaitable<void> {
    auto client = co_await connect();
    auto f = forwarder(t, "node-a");
    CO_ENQUEUE(*client, id, ticket_json(id));
    CO_EVENTUALLY([&] { return attempts_of(id) >= 1; });
    EXPECT_EQ(last_error_of(id), "HTTP 200 OK");
    receiver.answer(201);
    CO_EVENTUALLY([&] { return receiver.answered_2xx().size() >= 2; });
    CO_EVENTUALLY([&] { return count(kTicketOutbox) == 0; });
    co_await f->stop();
    EXPECT_EQ(f->counters().delivered.load(), 1u);
    client->stop();
  });
  const auto requests = receiver.requests();
  ASSERT_GE(requests.size(), 2u);
  const Received& r = requests.back();
  EXPECT_EQ(r.answered, 201u);
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/rt/REST/2.0/ticket");
  EXPECT_EQ(r.header("authorization"), "token 1-23-abcdef");
  EXPECT_EQ(r.header("content-type"), "application/json");
  const json::object body = json::parse(r.body).as_object();
  EXPECT_EQ(body.at("Queue").as_string(), "SMS Complaints");
  EXPECT_EQ(body.at("Subject").as_string(),
            "[high] SMS complaint harassment from " + policy::mask_number("+8613800138000"));
  EXPECT_EQ(body.at("Subject").as_string().find("+8613800138000"), json::string::npos);
  EXPECT_EQ(body.at("ContentType").as_string(), "text/plain");
  const std::string content(body.at("Content").as_string());
  EXPECT_NE(content.find("SMS complaint ticket " + id), std::string::npos) << content;
  EXPECT_NE(content.find("text: 别再骚扰我了"), std::string::npos) << content;
  EXPECT_NE(content.find("  resolution: 2024-05-03T12:00:00Z"), std::string::npos) << content;
  EXPECT_NE(content.find("  - outcome=complaint, tier=phrase, word=骚扰, found=骚扰"), std::string::npos)
      << content;
  EXPECT_FALSE(body.contains("Requestor"));
  const json::object& cf = body.at("CustomFields").as_object();
  EXPECT_EQ(cf.at("SMS Ticket").as_string(), id);
  EXPECT_EQ(cf.at("SMS Category").as_string(), "harassment");
  EXPECT_EQ(cf.at("SMS Zones"), (json::array{"Asia/Shanghai"}));
  EXPECT_EQ(cf.at("SMS Resolution Due").as_string(), "2024-05-03T12:00:00Z");
  EXPECT_FALSE(cf.contains("SMS Absent"));
}

TEST(TicketConfig, UnusableSettingsAreRefusedAtConstruction) {
  asio::io_context io;
  config::Tickets t;
  t.sink = config::TicketSink::webhook;
  t.webhook = "ftp://example.com/x";
  EXPECT_THROW(TicketForwarder(io.get_executor(), {}, t, "n"), std::invalid_argument);
  t.webhook = "https://user:pw@example.com/x";
  EXPECT_THROW(TicketForwarder(io.get_executor(), {}, t, "n"), std::invalid_argument);
  t.webhook = "https://example.com/x";
  t.secret.value = "whsec_not*base64";
  EXPECT_THROW(TicketForwarder(io.get_executor(), {}, t, "n"), std::invalid_argument);
  t.secret.value = "whsec_" + base64_of("0123456789abcdef");
  EXPECT_NO_THROW(TicketForwarder(io.get_executor(), {}, t, "n"));
  ForwarderOptions o;
  o.ca_file = "/nonexistent/ca.pem";
  EXPECT_THROW(TicketForwarder(io.get_executor(), {}, t, "n", o), std::invalid_argument);
  EXPECT_TRUE(ticket_consumer_name("node-1").starts_with("node-1-" + std::to_string(::getpid()) + "-"));
  EXPECT_NE(ticket_consumer_name("n"), ticket_consumer_name("n"));
}

}  // namespace
}  // namespace smsgate::gateway
