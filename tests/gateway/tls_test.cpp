// TLS refusals, through a real smsgate process (docs/gateway.md, "TLS").
//
// Carrier side: a TLS carrier started here (our smpp::net::Server with a TLS
// context) presents an expired certificate, a self-signed one that is not in
// the trust store, or one for another host name; with verification on (the
// default) smsgate never binds to it, logs why, keeps retrying, and accounts'
// submits for it get no_route_status. With the right CA and name it binds.
//
// Account side: smsgate's TLS listener refuses TLS 1.0 and 1.1 (the client is
// allowed to offer them: @SECLEVEL=0, and shown able to use them against a
// permissive server) and takes 1.2 and 1.3; plain SMPP sent to the TLS port
// is closed at once, without an SMPP answer, while a TLS account keeps going.
//
// Certificates are made at test time with the openssl CLI; the expired one
// with `openssl ca -startdate/-enddate` (OpenSSL 3.0's `req`/`x509` cannot
// backdate).
#include <openssl/ssl.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "smpp/net/server.hpp"
#include "tests/gateway/harness.hpp"

namespace smsgate::gateway::test {
namespace {

namespace ssl = asio::ssl;

const std::string kNumber = "8613800138000";
const std::string kCarrierHost = "carrier.test";  // the name the carrier's good certificate is for

// ---------------------------------------------------------------- certificates

// A CA; leaves signed by it for carrier.test (good, expired) and other.test;
// a self-signed carrier.test. Each as NAME.pem + NAME.key.
class Certificates {
 public:
  Certificates() {
    char pattern[] = "/tmp/smsgate-tls-test-XXXXXX";
    dir_ = mkdtemp(pattern);
    const std::string script = R"(set -e
cd ")" + dir_ + R"("
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -days 30 -subj "/CN=smsgate test CA" -keyout ca.key -out ca.pem
touch index.txt; echo 01 > serial
printf '[ca]\ndefault_ca=test_ca\n[test_ca]\ndatabase=index.txt\nnew_certs_dir=.\nserial=serial\ndefault_md=sha256\npolicy=any\ncopy_extensions=copy\nunique_subject=no\n[any]\ncommonName=supplied\n' > ca.cnf
leaf() {  # NAME HOST, then openssl ca's validity options
  name=$1 host=$2; shift 2
  openssl req -new $ec -subj "/CN=$host" -addext "subjectAltName=DNS:$host" -keyout $name.key -out $name.csr
  openssl ca -batch -notext -config ca.cnf -cert ca.pem -keyfile ca.key -in $name.csr -out $name.pem "$@"
}
leaf good carrier.test -days 30
leaf other other.test -days 30
leaf expired carrier.test -startdate 20200101000000Z -enddate 20200201000000Z
openssl req -x509 $ec -days 30 -subj "/CN=carrier.test" -addext "subjectAltName=DNS:carrier.test" -keyout self.key -out self.pem
)";
    std::ofstream(dir_ + "/make.sh") << script;
    const std::string cmd = "bash " + dir_ + "/make.sh >" + dir_ + "/make.log 2>&1";
    ok_ = std::system(cmd.c_str()) == 0;
  }
  ~Certificates() {
    if (!::testing::Test::HasFailure()) fs::remove_all(dir_);
  }
  bool ok() const { return ok_; }
  std::string log() const { return slurp(dir_ + "/make.log"); }
  std::string pem(const std::string& name) const { return dir_ + "/" + name + ".pem"; }
  std::string key(const std::string& name) const { return dir_ + "/" + name + ".key"; }

 private:
  std::string dir_;
  bool ok_ = false;
};

// ---------------------------------------------------------------- a TLS carrier

// An SMSC over TLS on its own thread, presenting `cert`: accepts any bind,
// answers each submit_sm ESME_ROK. Counts what reaches it.
class TlsCarrier {
 public:
  TlsCarrier(const std::string& cert, const std::string& key) : work_(io_.get_executor()) {
    net::ServerConfig sc;
    sc.tls = net::make_tls_server_context(cert, key);
    sc.session.enquire_link_interval = 0ms;
    server_ = net::Server::create(io_.get_executor(), sc);
    server_->set_authenticator([this](net::BindRequest) -> asio::awaitable<uint32_t> {
      ++binds;
      co_return status::ESME_ROK;
    });
    server_->set_session_handler([this](const std::shared_ptr<net::Session>& s) {
      ++sessions;
      s->set_request_handler([this](net::Session& session, smpp::Pdu&& req) {
        smpp::Pdu resp = net::make_response(req);
        if (req.command_id == smpp::CommandId::submit_sm) {
          resp.as<smpp::MessageIdResp>().message_id = "c" + std::to_string(++submits);
        }
        session.respond(std::move(resp));
      });
      sessions_.push_back(s);
    });
    server_->set_tls_failure_handler([this](const net::tcp::endpoint&, const error_code&) { ++handshake_failures; });
    server_->start();
    port_ = server_->local_endpoint().port();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~TlsCarrier() {
    asio::post(io_, [this] {
      server_->stop();
      sessions_.clear();
      work_.reset();
      io_.stop();
    });
    thread_.join();
  }
  uint16_t port() const { return port_; }

  std::atomic<int> handshake_failures{0};  // connections whose TLS handshake failed
  std::atomic<int> sessions{0};            // handshakes that succeeded
  std::atomic<int> binds{0};
  std::atomic<int> submits{0};

 private:
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::shared_ptr<net::Server> server_;
  std::vector<std::shared_ptr<net::Session>> sessions_;  // on io_'s thread only
  uint16_t port_ = 0;
  std::thread thread_;
};

// ---------------------------------------------------------------- TLS clients

struct Handshake {
  error_code ec;
  std::string version;  // SSL_get_version after the handshake
};

// A client context limited to exactly `version`. Below TLS 1.2, OpenSSL 3
// offers nothing unless the security level is 0: lowered here, so that a
// refusal is the server's.
std::shared_ptr<ssl::context> client_context_for(int version) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), version);
  SSL_CTX_set_max_proto_version(ctx->native_handle(), version);
  if (version < TLS1_2_VERSION) SSL_CTX_set_cipher_list(ctx->native_handle(), "DEFAULT:@SECLEVEL=0");
  ctx->set_verify_mode(ssl::verify_none);
  return ctx;
}

// One TLS handshake with 127.0.0.1:port, blocking (the server's handshake
// timeout bounds it).
Handshake handshake_with(uint16_t port, int version) {
  asio::io_context io;
  auto ctx = client_context_for(version);
  ssl::stream<net::tcp::socket> s(io, *ctx);
  Handshake h;
  s.next_layer().connect({asio::ip::address_v4::loopback(), port}, h.ec);
  if (!h.ec) s.handshake(ssl::stream_base::client, h.ec);
  if (!h.ec) h.version = SSL_get_version(s.native_handle());
  return h;
}

// A server that takes TLS 1.0 and up (security level 0): proves a client
// made by client_context_for can use the old versions at all. Accepts one
// connection and does the handshake.
class PermissiveServer {
 public:
  PermissiveServer(const std::string& cert, const std::string& key)
      : ctx_(ssl::context::tls_server), acceptor_(io_, {asio::ip::address_v4::loopback(), 0}) {
    SSL_CTX_set_min_proto_version(ctx_.native_handle(), TLS1_VERSION);
    SSL_CTX_set_cipher_list(ctx_.native_handle(), "DEFAULT:@SECLEVEL=0");
    ctx_.use_certificate_chain_file(cert);
    ctx_.use_private_key_file(key, ssl::context::pem);
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] {
      ssl::stream<net::tcp::socket> s(io_, ctx_);
      error_code ec;
      acceptor_.accept(s.next_layer(), ec);
      if (!ec) s.handshake(ssl::stream_base::server, ec);
    });
  }
  ~PermissiveServer() { thread_.join(); }
  uint16_t port() const { return port_; }

 private:
  asio::io_context io_;
  ssl::context ctx_;
  net::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
};

// An account bound over TLS with `ctx`, verifying smsgate's certificate
// (carrier.test, signed by the test CA). Throws when it cannot bind.
asio::awaitable<std::shared_ptr<net::Session>> bind_over_tls(uint16_t port, std::shared_ptr<ssl::context> ctx) {
  net::ConnectOptions options;
  options.host = "127.0.0.1";
  options.port = std::to_string(port);
  options.tls = std::move(ctx);
  options.tls_server_name = kCarrierHost;
  error_code ec;
  auto stream = co_await net::connect_stream(co_await asio::this_coro::executor, options, ec);
  if (!stream) throw std::runtime_error("TLS connect failed: " + ec.message());
  net::SessionConfig sc;
  sc.role = net::Role::client;
  sc.response_timeout = 10s;
  auto session = net::Session::create(std::move(stream), sc);
  session->set_request_handler([](net::Session& s, smpp::Pdu&& pdu) { s.respond(net::make_response(pdu)); });
  session->start();
  smpp::Bind b;
  b.system_id = "acme";
  b.password = "secret1";
  const net::Reply r = co_await session->bind(net::BindType::transceiver, b);
  if (!r.ok()) throw std::runtime_error("TLS bind failed");
  co_return session;
}

uint32_t status_of(const net::Reply& r) { return r.error ? 0xFFFFFFFF : r.pdu.command_status; }

// A bind_transceiver (acme/secret1) as bytes, for a client that is not TLS.
std::string plain_bind_pdu() {
  std::string body;
  body += std::string("acme") + '\0' + "secret1" + '\0' + '\0';  // system_id, password, system_type
  body += '\x34';                                                  // interface_version
  body += std::string(2, '\0') + '\0';                             // addr_ton, addr_npi, address_range
  const uint32_t fields[4] = {static_cast<uint32_t>(16 + body.size()), 0x00000009, 0, 1};
  std::string pdu;
  for (uint32_t f : fields) {
    for (int shift = 24; shift >= 0; shift -= 8) pdu += static_cast<char>((f >> shift) & 0xFF);
  }
  return pdu + body;
}

struct PlainAttempt {
  std::string received;          // every byte smsgate sent back
  std::chrono::milliseconds took{0};  // from the write to the close
  bool closed = false;           // EOF or reset within the limit
};

// Plain SMPP to the TLS port: writes a bind, reads until the connection ends
// (or `limit` passes).
PlainAttempt plain_bind_to(uint16_t port, std::chrono::milliseconds limit = 8000ms) {
  asio::io_context io;
  net::tcp::socket s(io);
  s.connect({asio::ip::address_v4::loopback(), port});
  PlainAttempt a;
  const auto t0 = Clock::now();
  asio::write(s, asio::buffer(plain_bind_pdu()));
  char buf[512];
  bool done = false;
  std::function<void()> read = [&] {
    s.async_read_some(asio::buffer(buf), [&](error_code ec, std::size_t n) {
      a.received.append(buf, n);
      if (ec) {
        a.closed = true;
        done = true;
        return;
      }
      read();
    });
  };
  read();
  io.run_for(limit);
  a.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  if (!done) a.closed = false;
  return a;
}

// ---------------------------------------------------------------- fixture

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new Certificates(); }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(certs_->ok()) << "openssl failed:\n" << certs_->log(); }

  static const Certificates& certs() { return *certs_; }
  // The carrier's `tls:` in smsgate's configuration: the test CA, carrier.test.
  static std::string carrier_tls() {
    return "{ ca_file: " + certs_->pem("ca") + ", server_name: " + kCarrierHost + " }";
  }

  // smsgate, carrier-a at a TLS carrier presenting `cert`; expects no bind:
  // the connection attempts fail for `reason` (in the log), at least three
  // of them, the carrier sees no bind, and a submit is answered
  // no_route_status (ESME_RSYSERR) at once.
  void expect_carrier_refused(const std::string& cert, const std::string& reason) {
    TempDir dir;
    RedisServer redis;
    TlsCarrier carrier(certs().pem(cert), certs().key(cert));
    GatewayConfig cfg(redis);
    cfg.account("acme");
    cfg.carrier("carrier-a", carrier.port()).tls = carrier_tls();
    GatewayProcess gw(dir, cfg, 0);
    const std::string failed = R"("event":"carrier_connect_failed","carrier":"carrier-a")";
    // The rebind policy: 0.5 s, 1 s, 2 s ... between attempts.
    EXPECT_TRUE(eventually([&] { return count_of(gw.log(), failed) >= 3; }, 15000ms)) << gw.log();
    const std::string log = gw.log();
    EXPECT_GE(count_of(log, "\"status\":\"certificate verify failed: " + reason + "\""), 3u) << log;
    EXPECT_EQ(count_of(log, "\"event\":\"carrier_bound\""), 0u) << log;
    // The carrier saw the handshakes fail (smsgate's alert) and nothing else.
    EXPECT_TRUE(eventually([&] { return carrier.handshake_failures.load() >= 3; })) << carrier.handshake_failures;
    EXPECT_EQ(carrier.sessions.load(), 0);
    EXPECT_EQ(carrier.binds.load(), 0);

    asio::io_context io;
    run(io, [&]() -> asio::awaitable<void> {
      auto esme = co_await Esme::bind(gw.port());
      const net::Reply r = co_await esme->submit(kNumber);
      EXPECT_EQ(status_of(r), status::ESME_RSYSERR);  // no_route_status: no bound carrier
      co_await esme->unbind();
    });
    EXPECT_EQ(carrier.submits.load(), 0);
    EXPECT_TRUE(gw.process().running());
    EXPECT_EQ(gw.terminate(), 0);
  }

  static Certificates* certs_;
};

Certificates* Tls::certs_ = nullptr;

// ---------------------------------------------------------------- carrier side

TEST_F(Tls, CarrierWithTheRightCaAndNameIsBound) {
  TempDir dir;
  RedisServer redis;
  TlsCarrier carrier(certs().pem("good"), certs().key("good"));
  GatewayConfig cfg(redis);
  cfg.account("acme");
  cfg.carrier("carrier-a", carrier.port()).tls = carrier_tls();
  GatewayProcess gw(dir, cfg);  // waits for the carrier's bind
  EXPECT_EQ(carrier.binds.load(), 1);
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    auto esme = co_await Esme::bind(gw.port());
    const net::Reply r = co_await esme->submit(kNumber);
    EXPECT_EQ(status_of(r), status::ESME_ROK);
    co_await esme->unbind();
  });
  EXPECT_EQ(carrier.submits.load(), 1);
  EXPECT_EQ(count_of(gw.log(), "certificate verify failed"), 0u) << gw.log();
}

TEST_F(Tls, CarrierWithAnExpiredCertificateIsNotBound) {
  expect_carrier_refused("expired", "certificate has expired");
}

TEST_F(Tls, CarrierWithASelfSignedCertificateIsNotBound) {
  expect_carrier_refused("self", "self-signed certificate");
}

TEST_F(Tls, CarrierWithACertificateForAnotherHostIsNotBound) {
  expect_carrier_refused("other", "hostname mismatch");
}

// verify: false is the way round it (a warning at load): the expired carrier binds.
TEST_F(Tls, CarrierWithVerifyOffIsBoundWhateverItsCertificate) {
  TempDir dir;
  RedisServer redis;
  TlsCarrier carrier(certs().pem("expired"), certs().key("expired"));
  GatewayConfig cfg(redis);
  cfg.account("acme");
  cfg.carrier("carrier-a", carrier.port()).tls = "{ verify: false }";
  GatewayProcess gw(dir, cfg);
  EXPECT_EQ(carrier.binds.load(), 1);
}

// ---------------------------------------------------------------- account side

class TlsListener : public Tls {
 protected:
  void SetUp() override {
    Tls::SetUp();
    carrier_ = std::make_unique<TlsCarrier>(certs().pem("good"), certs().key("good"));
    cfg_ = std::make_unique<GatewayConfig>(redis_);
    cfg_->account("acme");
    cfg_->carrier("carrier-a", carrier_->port()).tls = carrier_tls();
    cfg_->tls_port = free_port();
    cfg_->tls_cert = certs().pem("good");
    cfg_->tls_key = certs().key("good");
    gw_ = std::make_unique<GatewayProcess>(dir_, *cfg_);
  }
  uint16_t tls_port() const { return cfg_->tls_port; }

  TempDir dir_;
  RedisServer redis_;
  std::unique_ptr<TlsCarrier> carrier_;
  std::unique_ptr<GatewayConfig> cfg_;
  std::unique_ptr<GatewayProcess> gw_;
};

TEST_F(TlsListener, RefusesTls10And11AndTakes12And13) {
  // The client can speak the old versions: a permissive server takes them.
  for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    PermissiveServer permissive(certs().pem("good"), certs().key("good"));
    const Handshake h = handshake_with(permissive.port(), version);
    ASSERT_FALSE(h.ec) << "the test client cannot use version " << version << ": " << h.ec.message();
    EXPECT_EQ(h.version, version == TLS1_VERSION ? "TLSv1" : "TLSv1.1");
  }
  const std::string failed = "\"event\":\"tls_handshake_failed\"";
  for (const int version : {TLS1_VERSION, TLS1_1_VERSION}) {
    const std::size_t before = count_of(gw_->log(), failed);
    const Handshake h = handshake_with(tls_port(), version);
    EXPECT_TRUE(h.ec) << "smsgate accepted " << h.version;
    EXPECT_TRUE(eventually([&] { return count_of(gw_->log(), failed) > before; })) << gw_->log();
  }
  EXPECT_GE(count_of(gw_->log(), "\"reason\":\"unsupported protocol"), 2u) << gw_->log();

  EXPECT_EQ(handshake_with(tls_port(), TLS1_2_VERSION).version, "TLSv1.2");
  EXPECT_EQ(handshake_with(tls_port(), TLS1_3_VERSION).version, "TLSv1.3");
  // And an account bound with each submits.
  asio::io_context io;
  run(io, [&]() -> asio::awaitable<void> {
    for (const int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
      auto ctx = client_context_for(version);
      ctx->load_verify_file(certs().pem("ca"));
      ctx->set_verify_mode(ssl::verify_peer);
      auto session = co_await bind_over_tls(tls_port(), ctx);
      const net::Reply r = co_await session->request(Esme::submit_pdu(kNumber));
      EXPECT_EQ(status_of(r), status::ESME_ROK) << "TLS version " << version;
      co_await session->unbind();
    }
  });
  EXPECT_EQ(carrier_->submits.load(), 2);
}

TEST_F(TlsListener, PlainSmppOnTheTlsPortIsClosedWhileATlsAccountKeepsSubmitting) {
  asio::io_context io;
  std::vector<PlainAttempt> attempts;
  int before = 0, during = 0, after = 0;
  run(io, [&]() -> asio::awaitable<void> {
    auto ctx = net::make_tls_client_context(certs().pem("ca"));
    auto session = co_await bind_over_tls(tls_port(), ctx);
    auto submit_ok = [&]() -> asio::awaitable<bool> {
      const net::Reply r = co_await session->request(Esme::submit_pdu(kNumber));
      EXPECT_EQ(status_of(r), status::ESME_ROK);
      co_return status_of(r) == status::ESME_ROK;
    };
    for (int i = 0; i < 20; ++i) {
      const bool ok = co_await submit_ok();
      before += ok;
    }
    // 30 plain-text binds, one after another, while the account submits.
    auto plain = std::async(std::launch::async, [port = tls_port()] {
      std::vector<PlainAttempt> out;
      for (int i = 0; i < 30; ++i) {
        out.push_back(plain_bind_to(port));
        std::this_thread::sleep_for(20ms);
      }
      return out;
    });
    while (plain.wait_for(0ms) != std::future_status::ready) {
      const bool ok = co_await submit_ok();
      during += ok;
      co_await sleep_for(5ms);
    }
    attempts = plain.get();
    for (int i = 0; i < 20; ++i) {
      const bool ok = co_await submit_ok();
      after += ok;
    }
    EXPECT_FALSE(session->is_closed());
    co_await session->unbind();
  }, 60000ms);

  EXPECT_EQ(before, 20);
  EXPECT_GE(during, 1);
  EXPECT_EQ(after, 20);
  ASSERT_EQ(attempts.size(), 30u);
  for (const auto& a : attempts) {
    EXPECT_TRUE(a.closed) << "smsgate kept a plain-text connection open";
    // Refused outright, not left to the 5 s handshake timeout.
    EXPECT_LT(a.took, 4000ms);
    // Nothing, or a TLS alert record (content type 21): never an SMPP answer.
    EXPECT_TRUE(a.received.empty() || a.received[0] == '\x15') << "answered " << a.received.size() << " bytes";
    EXPECT_LT(a.received.size(), 16u);
  }
  const std::string log = gw_->log();
  EXPECT_GE(count_of(log, "\"event\":\"tls_handshake_failed\",\"peer\":\"127.0.0.1:"), 1u) << log;
  EXPECT_EQ(count_of(log, "\"event\":\"bind\""), 1u) << log;  // only the TLS account's
  EXPECT_TRUE(gw_->process().running());
  EXPECT_EQ(carrier_->submits.load(), before + during + after);
}

}  // namespace
}  // namespace smsgate::gateway::test
