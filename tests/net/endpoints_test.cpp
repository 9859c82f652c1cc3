// Our Client against our Server over 127.0.0.1: plain TCP and TLS, rebind
// with backoff, wrong password, graceful shutdown, sessions on another thread.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "net_test_util.hpp"
#include "smpp/net/client.hpp"

namespace smsgate::smpp::net::test {
namespace {

using namespace asio::experimental::awaitable_operators;

class EndpointsTest : public ::testing::Test {
 protected:
  asio::io_context io;
  std::vector<std::shared_ptr<Session>> server_sessions;
  Counter server_closed{io};

  static void SetUpTestSuite() {
    char pattern[] = "/tmp/smsgate-net-tls-XXXXXX";
    ASSERT_NE(mkdtemp(pattern), nullptr);
    tls_dir_ = pattern;
    const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1"
                            " -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
                            " -keyout " + tls_dir_ + "/key.pem -out " + tls_dir_ + "/cert.pem 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(tls_dir_); }

  // Submits are answered with "id-<text>"; two at a time, the second first
  // (out of order, as a proxy does).
  static void answer_pairs_reversed(Session& s, Pdu&& req, std::vector<Pdu>& held) {
    if (req.command_id != CommandId::submit_sm) {
      s.respond(make_response(req));
      return;
    }
    held.push_back(std::move(req));
    if (held.size() < 2) return;
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      s.respond(submit_resp(it->sequence_number, "id-" + it->as<ShortMessage>().short_message));
    }
    held.clear();
  }

  std::shared_ptr<Server> start_server(ServerConfig cfg) {
    cfg.session.enquire_link_interval = 0ms;
    auto server = Server::create(io.get_executor(), std::move(cfg));
    server->set_authenticator(test_authenticator());
    server->set_session_handler([this](const std::shared_ptr<Session>& s) {
      auto held = std::make_shared<std::vector<Pdu>>();
      s->set_request_handler([held](Session& session, Pdu&& req) {
        answer_pairs_reversed(session, std::move(req), *held);
      });
      s->set_event_handler([this](Session&, const SessionEvent& e) {
        if (e.kind == SessionEvent::Kind::closed) server_closed.add();
      });
      server_sessions.push_back(s);
    });
    server->start();
    return server;
  }

  static ClientConfig client_config(const tcp::endpoint& ep) {
    ClientConfig c;
    c.connect.host = "127.0.0.1";
    c.connect.port = std::to_string(ep.port());
    c.connect.timeout = 2s;
    c.bind.system_id = "esme";
    c.bind.password = "secret";
    c.session.enquire_link_interval = 0ms;
    c.session.response_timeout = 2s;
    c.backoff.initial = 20ms;
    c.backoff.max = 1s;
    c.backoff.jitter = 0.1;
    c.backoff.auth_failure = 400ms;
    return c;
  }

  // Client side of the exchange: two submits answered out of order, one
  // deliver_sm from the server, graceful shutdown.
  void exchange(ServerConfig server_cfg, ClientConfig client_cfg, bool tls) {
    auto server = start_server(std::move(server_cfg));
    client_cfg.connect.port = std::to_string(server->local_endpoint().port());
    auto client = Client::create(io.get_executor(), client_cfg);
    Counter bound(io);
    client->set_state_handler([&](Client&, bool b) { bound.add(b ? 1 : 0); });
    std::vector<std::string> delivered;
    client->set_request_handler([&](Session& s, Pdu&& req) {
      delivered.push_back(req.as<ShortMessage>().short_message);
      s.respond(make_response(req));
    });
    client->start();
    run(io, [&]() -> asio::awaitable<void> {
      co_await bound.wait_for(1);
      CO_REQUIRE(client->is_bound());
      EXPECT_EQ(client->session()->is_tls(), tls);
      auto [a, b] = co_await (client->request(submit("a")) && client->request(submit("b")));
      EXPECT_TRUE(a.ok()) << a.error.message();
      EXPECT_TRUE(b.ok()) << b.error.message();
      EXPECT_EQ(a.pdu.as<MessageIdResp>().message_id, "id-a");
      EXPECT_EQ(b.pdu.as<MessageIdResp>().message_id, "id-b");

      CO_REQUIRE(server_sessions.size() == 1);
      auto& ss = server_sessions[0];
      EXPECT_EQ(ss->system_id(), "esme");
      EXPECT_EQ(ss->state(), SessionState::bound_trx);
      EXPECT_EQ(ss->is_tls(), tls);
      const Reply d = co_await ss->request(deliver("receipt"));
      EXPECT_TRUE(d.ok()) << d.error.message();
      EXPECT_EQ(d.pdu.command_id, CommandId::deliver_sm_resp);

      co_await client->shutdown();
      co_await server_closed.wait_for(1);
      EXPECT_EQ(ss->close_reason(), Error::unbound);
    });
    EXPECT_EQ(delivered, std::vector<std::string>{"receipt"});
    EXPECT_FALSE(client->is_bound());
    EXPECT_EQ(client->bind_attempts(), 1u);
    server->stop();
  }

  static std::string tls_dir_;
};

std::string EndpointsTest::tls_dir_;

TEST_F(EndpointsTest, OurClientToOurServerOverTcp) {
  exchange(ServerConfig{}, client_config({}), false);
}

TEST_F(EndpointsTest, OurClientToOurServerOverTls) {
  ServerConfig server_cfg;
  server_cfg.tls = make_tls_server_context(tls_dir_ + "/cert.pem", tls_dir_ + "/key.pem");
  ClientConfig client_cfg = client_config({});
  client_cfg.connect.tls = make_tls_client_context(tls_dir_ + "/cert.pem");  // verified
  client_cfg.connect.tls_server_name = "localhost";
  exchange(server_cfg, client_cfg, true);
}

TEST_F(EndpointsTest, TlsClientRejectsAnUntrustedName) {
  ServerConfig server_cfg;
  server_cfg.tls = make_tls_server_context(tls_dir_ + "/cert.pem", tls_dir_ + "/key.pem");
  auto server = start_server(server_cfg);
  ConnectOptions opts;
  opts.host = "127.0.0.1";
  opts.port = std::to_string(server->local_endpoint().port());
  opts.tls = make_tls_client_context(tls_dir_ + "/cert.pem");
  opts.tls_server_name = "carrier.example";
  run(io, [&]() -> asio::awaitable<void> {
    error_code ec;
    auto stream = co_await connect_stream(io.get_executor(), opts, ec);
    EXPECT_FALSE(stream);
    EXPECT_TRUE(ec);
  });
  server->stop();
}

TEST_F(EndpointsTest, ClientRebindsAfterTheServerDropsIt) {
  auto server = start_server(ServerConfig{});
  auto client = Client::create(io.get_executor(), client_config(server->local_endpoint()));
  Counter bound(io);
  std::vector<bool> states;
  std::vector<std::chrono::milliseconds> delays;
  client->set_state_handler([&](Client&, bool b) {
    states.push_back(b);
    bound.add(b ? 1 : 0);
  });
  client->set_event_handler([&](Client&, const ClientEvent& e) {
    if (e.kind == ClientEvent::Kind::retry_scheduled) delays.push_back(e.delay);
  });
  client->start();
  run(io, [&]() -> asio::awaitable<void> {
    co_await bound.wait_for(1);
    CO_REQUIRE(server_sessions.size() == 1);
    server_sessions[0]->stop();  // the carrier drops the connection
    co_await bound.wait_for(2);
    EXPECT_TRUE(client->is_bound());
    auto [x, y] = co_await (client->request(submit("x")) && client->request(submit("y")));  // the new session works
    EXPECT_TRUE(x.ok() && y.ok());
  });
  EXPECT_EQ(states, (std::vector<bool>{true, false, true}));
  EXPECT_EQ(client->bind_attempts(), 2u);
  ASSERT_EQ(delays.size(), 1u);
  EXPECT_GE(delays[0], 18ms);  // initial 20 ms, jitter 10 %
  EXPECT_LE(delays[0], 22ms);
  client->stop();
  server->stop();
}

TEST_F(EndpointsTest, ReconnectBackoffGrowsExponentially) {
  tcp::endpoint unused;
  {
    tcp::acceptor a(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    unused = a.local_endpoint();
  }  // closed: connections are refused
  auto client = Client::create(io.get_executor(), client_config(unused));
  std::vector<std::chrono::milliseconds> delays;
  Counter retries(io);
  client->set_event_handler([&](Client&, const ClientEvent& e) {
    if (e.kind == ClientEvent::Kind::retry_scheduled) {
      delays.push_back(e.delay);
      retries.add();
    }
  });
  client->start();
  run(io, [&]() -> asio::awaitable<void> { co_await retries.wait_for(4); });
  client->stop();
  ASSERT_GE(delays.size(), 4u);
  for (std::size_t i = 1; i < 4; ++i) {
    EXPECT_GE(delays[i].count(), delays[i - 1].count() * 16 / 10) << i;  // x2 within the jitter
  }
  EXPECT_FALSE(client->is_bound());
}

TEST_F(EndpointsTest, WrongPasswordIsNotRetriedInATightLoop) {
  auto server = start_server(ServerConfig{});
  int binds = 0;
  std::vector<uint32_t> statuses;
  server->set_authenticator([&](BindRequest req) -> asio::awaitable<uint32_t> {
    ++binds;
    co_return co_await test_authenticator()(std::move(req));
  });
  ClientConfig cfg = client_config(server->local_endpoint());
  cfg.bind.password = "wrong";
  cfg.backoff.jitter = 0;
  auto client = Client::create(io.get_executor(), cfg);
  client->set_event_handler([&](Client&, const ClientEvent& e) {
    if (e.kind == ClientEvent::Kind::bind_failed) statuses.push_back(e.status);
  });
  client->start();
  // Attempts at 0, 400 and 800 ms (auth_failure backoff), not every 20 ms.
  run(io, [&]() -> asio::awaitable<void> { co_await sleep_for(1000ms); }, 3000ms);
  client->stop();
  server->stop();
  EXPECT_GE(binds, 2);
  EXPECT_LE(binds, 3);
  EXPECT_EQ(client->bind_attempts(), static_cast<uint64_t>(binds));
  ASSERT_FALSE(statuses.empty());
  EXPECT_EQ(statuses[0], status::ESME_RINVPASWD);
}

TEST_F(EndpointsTest, SessionsMayRunOnAnotherThread) {
  asio::io_context worker_io;
  auto guard = asio::make_work_guard(worker_io);
  std::thread worker([&] { worker_io.run(); });
  auto server = Server::create(io.get_executor(), ServerConfig{});
  server->set_authenticator(test_authenticator());
  server->set_executor_picker([&] { return worker_io.get_executor(); });
  std::atomic<bool> on_worker{false};
  server->set_session_handler([&](const std::shared_ptr<Session>& s) {
    on_worker = worker_io.get_executor().running_in_this_thread();
    s->set_request_handler([](Session& session, Pdu&& req) {
      session.respond(submit_resp(req.sequence_number, "from-worker"));
    });
  });
  server->start();
  auto client = Client::create(io.get_executor(), client_config(server->local_endpoint()));
  Counter bound(io);
  client->set_state_handler([&](Client&, bool b) { bound.add(b ? 1 : 0); });
  client->start();
  run(io, [&]() -> asio::awaitable<void> {
    co_await bound.wait_for(1);
    const Reply r = co_await client->request(submit("x"));
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.pdu.as<MessageIdResp>().message_id, "from-worker");
  });
  EXPECT_TRUE(on_worker);
  client->stop();
  asio::post(io, [server] { server->stop(); });
  io.restart();
  io.run_for(50ms);
  guard.reset();
  worker_io.stop();
  worker.join();
}

}  // namespace
}  // namespace smsgate::smpp::net::test
