// The gateway's integration tests run real processes: redis-server
// (tests/support/redis_server.hpp), the carrier simulator smsgate-smsc and
// smsgate itself with a configuration written for the test; the test plays
// the account (an ESME built on smpp::net::Session) on 127.0.0.1.
//
//   TempDir dir;
//   test::RedisServer redis;
//   Simulator smsc(dir, {"--id-format", "hex"});
//   GatewayConfig cfg(redis);
//   cfg.carrier("carrier-a", smsc.port());
//   GatewayProcess gw(dir, cfg);           // started; its carrier binds are up
//   run(io, [&]() -> asio::awaitable<void> {
//     auto esme = co_await Esme::bind(gw.port(), "acme", "secret1");
//     auto r = co_await esme->submit("8613800138000");
//     ...
//   });
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio.hpp>

#include "tests/support/run_coroutine.hpp"

#include "smpp/net/session.hpp"
#include "smpp/net/stream.hpp"
#include "smpp/receipt.hpp"
#include "smpp/status.hpp"
#include "tests/support/redis_server.hpp"

// GCC 12 warns -Wmismatched-new-delete on every coroutine frame of Asio's
// awaitable (its operator new/delete are a matched pair; a known false
// positive of that compiler), here where test coroutines are defined.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace smsgate::gateway::test {

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace net = smpp::net;
namespace status = smpp::status;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using smsgate::test::RedisServer;
using smsgate::test::RedisServerOptions;
using boost::system::error_code;

inline const std::string kGateway = SMSGATE_BIN_DIR "/smsgate";
inline const std::string kSmsc = SMSGATE_BIN_DIR "/smsgate-smsc";
inline const std::string kLoad = SMSGATE_BIN_DIR "/smsgate-load";

// ---------------------------------------------------------------- files and processes

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/smsgate-gw-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() {
    if (!::testing::Test::HasFailure()) fs::remove_all(path_);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::size_t count_of(const std::string& haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto pos = haystack.find(needle); pos != std::string::npos; pos = haystack.find(needle, pos + 1)) ++n;
  return n;
}

// Polls `ready` every 10 ms until it is true or `limit` passed.
template <class F>
bool eventually(F ready, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = Clock::now() + limit;
  while (!ready()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// A child process, stdout and stderr to files, killed (SIGKILL) by the
// destructor if still running, and when the test process dies.
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& out, const std::string& err,
        std::map<std::string, std::string> env = {}) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      const int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      dup2(o, 1);
      dup2(e, 2);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
  }
  ~Child() { kill(SIGKILL); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  bool running() {
    if (pid_ > 0 && !status_) wait(0ms);
    return pid_ > 0 && !status_;
  }
  void signal(int sig) {
    if (running()) ::kill(pid_, sig);
  }
  void kill(int sig = SIGKILL) {
    if (!running()) return;
    ::kill(pid_, sig);
    wait(5000ms);
  }
  // The exit code (128 + signal when killed), or nullopt if it did not end within `limit`.
  std::optional<int> wait(std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!status_) {
      int st = 0;
      if (waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (Clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(5ms);
    }
    return status_;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

inline uint16_t free_port() {
  asio::io_context io;
  net::tcp::acceptor a(io, net::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  return a.local_endpoint().port();
}

inline bool accepts_connections(uint16_t port) {
  asio::io_context io;
  net::tcp::socket s(io);
  error_code ec;
  s.connect({asio::ip::address_v4::loopback(), port}, ec);
  return !ec;
}

// One HTTP/1.1 request with a JSON body; returns (status, body).
inline std::pair<int, std::string> http_request(uint16_t port, const std::string& method, const std::string& target,
                                                const std::string& body = {}) {
  asio::io_context io;
  net::tcp::socket s(io);
  s.connect({asio::ip::address_v4::loopback(), port});
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Connection: close\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  asio::write(s, asio::buffer(req));
  std::string resp;
  error_code ec;
  asio::read(s, asio::dynamic_buffer(resp), ec);
  const int code = resp.size() > 12 ? std::stoi(resp.substr(9, 3)) : 0;
  const auto pos = resp.find("\r\n\r\n");
  return {code, pos == std::string::npos ? "" : resp.substr(pos + 4)};
}

// ---------------------------------------------------------------- the simulator

class Simulator {
 public:
  Simulator(const TempDir& dir, std::vector<std::string> args, std::string name = "smsc") : dir_(dir), name_(name) {
    port_file_ = dir.file(name + ".port");
    control_file_ = dir.file(name + ".control");
    std::vector<std::string> argv{kSmsc, "--port-file", port_file_, "--control", "127.0.0.1:0",
                                  "--control-port-file", control_file_, "--record", dir.file(name + ".record")};
    if (std::find(args.begin(), args.end(), "--listen") == args.end()) args.insert(args.begin(), {"--listen", "127.0.0.1:0"});
    argv.insert(argv.end(), args.begin(), args.end());
    child_ = std::make_unique<Child>(argv, dir.file(name + ".out"), dir.file(name + ".err"));
    EXPECT_TRUE(eventually([&] { return !slurp(port_file_).empty() && !slurp(control_file_).empty(); }))
        << "smsgate-smsc did not start: " << slurp(dir.file(name + ".err"));
    port_ = static_cast<uint16_t>(std::stoi("0" + slurp(port_file_)));
    control_port_ = static_cast<uint16_t>(std::stoi("0" + slurp(control_file_)));
  }

  uint16_t port() const { return port_; }
  Child& process() { return *child_; }
  // A reply from a phone: POST /mo.
  std::pair<int, std::string> mo(const std::string& from, const std::string& to, const std::string& text) {
    return http_request(control_port_, "POST", "/mo",
                     "{\"from\":\"" + from + "\",\"to\":\"" + to + "\",\"text\":\"" + text + "\"}");
  }
  // One of GET /stats's counters.
  uint64_t stat(const std::string& name) {
    const auto body = http_request(control_port_, "GET", "/stats").second;
    const auto pos = body.find("\"" + name + "\":");
    return pos == std::string::npos ? 0 : std::stoull(body.substr(pos + name.size() + 3));
  }
  // submit_sm received so far (the --record file's lines).
  std::size_t recorded() const { return count_of(slurp(dir_.file(name_ + ".record")), "\n"); }

 private:
  const TempDir& dir_;
  std::string name_;
  std::string port_file_, control_file_;
  std::unique_ptr<Child> child_;
  uint16_t port_ = 0, control_port_ = 0;
};

// ---------------------------------------------------------------- smsgate

struct AccountSpec {
  std::string system_id = "acme";
  std::string password = "secret1";
  uint32_t max_binds = 4;
  uint32_t max_tps = 100000;
  std::string cidrs = "[127.0.0.0/8]";
  std::string default_region = "CN";
  std::string traffic = "marketing";
};

struct CarrierSpec {
  std::string name;
  uint16_t port = 0;
  uint32_t binds = 1;
  std::string id_format = "string";
  std::string receipt_id_format;  // empty: not written (defaults to id_format)
  uint32_t max_tps = 100000;
  uint32_t throttle_retries = 3;
  uint32_t window = 64;
  std::string tls;  // the carrier's `tls:` value as YAML (e.g. "{ ca_file: ca.pem }"); empty: plain TCP
};

// The YAML smsgate runs with; passwords go through password_env.
struct GatewayConfig {
  explicit GatewayConfig(const RedisServer& redis) : redis_address(redis.address()) {}

  AccountSpec& account(std::string system_id, std::string password = "secret1") {
    accounts.push_back({});
    accounts.back().system_id = std::move(system_id);
    accounts.back().password = std::move(password);
    return accounts.back();
  }
  CarrierSpec& carrier(std::string name, uint16_t port) {
    carriers.push_back({});
    carriers.back().name = std::move(name);
    carriers.back().port = port;
    return carriers.back();
  }

  std::string yaml() const {
    std::ostringstream y;
    y << "node: " << node << "\n"
      << "smpp:\n  listen: 127.0.0.1:" << port << "\n  enquire_link_interval: 30s\n  response_timeout: "
      << response_timeout << "\n";
    if (!late_response_window.empty()) y << "  late_response_window: " << late_response_window << "\n";
    if (tls_port) {
      y << "  tls_listen: 127.0.0.1:" << tls_port << "\n  tls: { cert_file: " << tls_cert << ", key_file: " << tls_key
        << " }\n";
    }
    y << "redis:\n  address: " << redis_address << "\n  timeout: 1s\n  on_error: " << redis_on_error << "\n"
      << "accounts:\n";
    for (const auto& a : accounts) {
      y << "  - system_id: " << a.system_id << "\n    password_env: " << env_name(a.system_id)
        << "\n    traffic: " << a.traffic << "\n    max_binds: " << a.max_binds << "\n    max_tps: " << a.max_tps << "\n    allowed_cidrs: " << a.cidrs
        << "\n";
      if (!a.default_region.empty()) y << "    default_region: " << a.default_region << "\n";
    }
    y << "carriers:\n";
    for (const auto& c : carriers) {
      y << "  - name: " << c.name << "\n    address: 127.0.0.1:" << c.port << "\n    system_id: smsgate\n"
        << "    password_env: " << env_name(c.name) << "\n    binds: " << c.binds << "\n    window: " << c.window
        << "\n    max_tps: " << c.max_tps << "\n    id_format: " << c.id_format
        << "\n    throttle_retries: " << c.throttle_retries << "\n";
      if (!c.receipt_id_format.empty()) y << "    receipt_id_format: " << c.receipt_id_format << "\n";
      if (!c.tls.empty()) y << "    tls: " << c.tls << "\n";
    }
    y << "routes:\n";
    if (routes.empty()) {
      y << "  - prefix: \"\"\n    carriers: [";
      for (std::size_t i = 0; i < carriers.size(); ++i) y << (i ? ", " : "") << carriers[i].name;
      y << "]\n";
    } else {
      y << routes;
    }
    y << "receipts:\n  id_map_ttl: " << id_map_ttl << "\n  unknown_id_retry: " << unknown_id_retry << "\n";
    if (!default_account.empty() || !replies_extra.empty()) {
      y << "replies:\n";
      if (!default_account.empty()) y << "  default_account: " << default_account << "\n";
      y << replies_extra;
    }
    if (!policy.empty()) y << "policy:\n" << policy;
    y << "log:\n  level: " << log_level << "\n";
    if (!admin.empty()) y << "admin:\n" << admin;
    return y.str();
  }

  std::map<std::string, std::string> env() const {
    std::map<std::string, std::string> e = extra_env;
    for (const auto& a : accounts) e[env_name(a.system_id)] = a.password;
    for (const auto& c : carriers) e[env_name(c.name)] = "carrier1";
    return e;
  }

  static std::string env_name(std::string name) {
    for (char& c : name) c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
    return "SMSGATE_TEST_" + name + "_PASSWORD";
  }

  std::string node = "gwtest";  // message ids start with it; two gateways on one Redis need two names
  std::string redis_address;
  uint16_t port = free_port();
  std::vector<AccountSpec> accounts;
  std::vector<CarrierSpec> carriers;
  std::string routes;  // YAML list items; empty: one default route over every carrier
  std::string id_map_ttl = "72h";
  std::string unknown_id_retry = "2s";
  std::string default_account;
  std::string replies_extra;  // more lines of the replies: section, indented by two (answers, keywords, ...)
  std::string response_timeout = "5s";
  std::string late_response_window;  // empty: the default (60s)
  std::string log_level = "info";
  std::string redis_on_error = "reject";
  std::string policy;  // the policy: section's lines, indented by two; empty: no policy
  std::string admin;   // the admin: section's lines, indented by two; empty: no admin server
  std::map<std::string, std::string> extra_env;  // for what a reload will add
  uint16_t tls_port = 0;                          // 0: no TLS listener
  std::string tls_cert, tls_key;
};

class GatewayProcess {
 public:
  // Starts smsgate and waits until it listens and `wait_carrier_binds`
  // carrier binds are up.
  GatewayProcess(const TempDir& dir, const GatewayConfig& config, int wait_carrier_binds = -1,
                 std::vector<std::string> extra_args = {"--threads", "2"})
      : dir_(dir), config_(config) {
    write_config(config);
    start(wait_carrier_binds < 0 ? total_binds(config) : wait_carrier_binds, std::move(extra_args));
  }

  void start(int wait_carrier_binds, std::vector<std::string> extra_args = {"--threads", "2"}) {
    const std::size_t bound_before = count_of(log(), "\"event\":\"carrier_bound\"");
    const std::size_t redis_before = count_of(log(), "\"event\":\"redis_connected\"");
    const auto threads = std::find(extra_args.begin(), extra_args.end(), "--threads");
    const std::size_t workers = threads != extra_args.end() && threads + 1 != extra_args.end()
                                    ? std::stoul(*(threads + 1))
                                    : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::string> argv{kGateway, "--config", dir_.file("smsgate.yaml"), "--log-format", "json"};
    argv.insert(argv.end(), extra_args.begin(), extra_args.end());
    child_ = std::make_unique<Child>(argv, dir_.file("smsgate.out"), dir_.file("smsgate.log"), config_.env());
    // The TLS listener opens just after the plain one.
    EXPECT_TRUE(eventually([&] {
      return (accepts_connections(config_.port) && (!config_.tls_port || accepts_connections(config_.tls_port))) ||
             !child_->running();
    })) << "smsgate did not listen:\n" << log();
    EXPECT_TRUE(eventually([&] {
      return count_of(log(), "\"event\":\"carrier_bound\"") >= bound_before + static_cast<std::size_t>(wait_carrier_binds) ||
             !child_->running();
    })) << "carrier binds not up:\n" << log();
    // And every worker's Redis connection: smsgate listens before they are
    // up, and a submit that comes first finds Redis down (the policy then
    // applies redis.on_error). Not an error when a test started it without
    // Redis.
    eventually([&] {
      return count_of(log(), "\"event\":\"redis_connected\"") >= redis_before + workers || !child_->running();
    }, 2000ms);
  }

  void write_config(const GatewayConfig& config) {
    config_ = config;
    std::ofstream(dir_.file("smsgate.yaml")) << config.yaml();
  }
  // Rewrites the configuration and sends SIGHUP; waits for the reload's log line.
  bool reload(const GatewayConfig& config) {
    config_ = config;
    return reload_text(config.yaml(), "\"event\":\"reload\"");
  }
  // The same with any text (a broken file), waiting for `expect_event`.
  bool reload_text(const std::string& text, std::string_view expect_event) {
    std::ofstream(dir_.file("smsgate.yaml")) << text;
    const std::size_t before = count_of(log(), expect_event);
    child_->signal(SIGHUP);
    return eventually([&] { return count_of(log(), expect_event) > before; });
  }

  uint16_t port() const { return config_.port; }
  Child& process() { return *child_; }
  std::string log() const { return slurp(dir_.file("smsgate.log")); }
  // SIGTERM; the exit code within `limit`.
  std::optional<int> terminate(std::chrono::milliseconds limit = 12000ms) {
    child_->signal(SIGTERM);
    return child_->wait(limit);
  }

  static int total_binds(const GatewayConfig& c) {
    int n = 0;
    for (const auto& carrier : c.carriers) n += static_cast<int>(carrier.binds);
    return n;
  }

 private:
  const TempDir& dir_;
  GatewayConfig config_;
  std::unique_ptr<Child> child_;
};

// The usual cast: redis-server, one simulator started with `smsc_args`, and
// smsgate with account acme (password secret1) and carrier-a at the
// simulator; `adjust` changes the configuration before smsgate starts.
struct OneCarrier {
  explicit OneCarrier(std::vector<std::string> smsc_args = {},
                      const std::function<void(GatewayConfig&)>& adjust = {}, RedisServerOptions redis_options = {})
      : redis(std::move(redis_options)), smsc(dir, std::move(smsc_args)), cfg(redis) {
    cfg.account("acme");
    cfg.carrier("carrier-a", smsc.port());
    if (adjust) adjust(cfg);
    gw = std::make_unique<GatewayProcess>(dir, cfg);
  }
  uint16_t port() const { return gw->port(); }

  TempDir dir;
  RedisServer redis;
  Simulator smsc;
  GatewayConfig cfg;
  std::unique_ptr<GatewayProcess> gw;
  asio::io_context io;
};

inline std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// ---------------------------------------------------------------- the account (ESME)

// Runs the coroutine made by `make` on `io`; fails the test when it does not
// finish within `limit`.
template <class Make>
void run(asio::io_context& io, Make make, std::chrono::milliseconds limit = 10000ms) {
  smsgate::test::run_coroutine(io, std::move(make), limit);
}

using smsgate::test::sleep_for;

// Runs a blocking call (an HTTP request to the simulator that waits for
// smsgate, which waits for this test's ESME) on a thread of its own.
template <class F>
asio::awaitable<std::invoke_result_t<F>> off_thread(F f) {
  auto result = std::async(std::launch::async, std::move(f));
  while (result.wait_for(0ms) != std::future_status::ready) co_await sleep_for(5ms);
  co_return result.get();
}

// An account's session to smsgate. Answers every deliver_sm with
// `deliver_status` (ESME_ROK by default) and keeps them in `received`.
class Esme {
 public:
  struct BindResult {
    std::shared_ptr<Esme> esme;  // null when the bind failed
    uint32_t status = 0;
    std::chrono::milliseconds took{0};
  };

  // `deliver_status` answers every deliver_sm from the first one on: a
  // pending one can arrive in the same read as the bind_resp.
  static asio::awaitable<BindResult> try_bind(uint16_t port, std::string system_id, std::string password,
                                              net::BindType type = net::BindType::transceiver, bool tls = false,
                                              uint32_t deliver_status = status::ESME_ROK) {
    auto ex = co_await asio::this_coro::executor;
    net::ConnectOptions options;
    options.host = "127.0.0.1";
    options.port = std::to_string(port);
    if (tls) options.tls = net::make_tls_client_context();  // no verification: a test certificate
    error_code ec;
    auto stream = co_await net::connect_stream(ex, options, ec);
    BindResult result;
    if (!stream) {
      result.status = 0xFFFFFFFF;
      co_return result;
    }
    net::SessionConfig sc;
    sc.role = net::Role::client;
    sc.window = 512;
    sc.response_timeout = 10s;
    auto esme = std::shared_ptr<Esme>(new Esme(ex));
    esme->deliver_status = deliver_status;
    esme->session_ = net::Session::create(std::move(stream), sc);
    std::weak_ptr<Esme> weak = esme;
    esme->session_->set_request_handler([weak](net::Session& s, smpp::Pdu&& pdu) {
      auto self = weak.lock();
      if (!self) return;
      s.respond(net::make_response(pdu, self->deliver_status));
      self->received.push_back(std::move(pdu));
      self->signal_.cancel();
    });
    esme->session_->start();
    smpp::Bind b;
    b.system_id = system_id;
    b.password = password;
    const auto t0 = Clock::now();
    const net::Reply r = co_await esme->session_->bind(type, b);
    result.took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
    result.status = r.error ? 0xFFFFFFFF : r.pdu.command_status;
    if (r.ok()) {
      result.esme = esme;
    } else {
      esme->session_->stop();
    }
    co_return result;
  }

  // Binds or fails the test (the coroutine throws).
  static asio::awaitable<std::shared_ptr<Esme>> bind(uint16_t port, std::string system_id = "acme",
                                                     std::string password = "secret1",
                                                     net::BindType type = net::BindType::transceiver,
                                                     uint32_t deliver_status = status::ESME_ROK) {
    auto r = co_await try_bind(port, system_id, password, type, false, deliver_status);
    if (!r.esme) throw std::runtime_error("bind failed: " + status::status_name(r.status));
    co_return r.esme;
  }

  static smpp::Pdu submit_pdu(const std::string& dest, const std::string& text = "hello",
                              const std::string& source = "10690000", uint8_t dest_ton = 1) {
    smpp::Pdu pdu;
    pdu.command_id = smpp::CommandId::submit_sm;
    smpp::ShortMessage sm;
    sm.source = {5, 0, source};
    sm.dest = {dest_ton, 1, dest};
    sm.registered_delivery = 1;
    sm.short_message = text;
    pdu.body = sm;
    return pdu;
  }

  asio::awaitable<net::Reply> submit(const std::string& dest, const std::string& text = "hello",
                                     const std::string& source = "10690000") {
    co_return co_await session_->request(submit_pdu(dest, text, source));
  }

  // Sends `pdus` back to back; the replies in order.
  asio::awaitable<std::vector<net::Reply>> submit_all(const std::vector<smpp::Pdu>& pdus) {
    std::vector<net::Reply> replies(pdus.size());
    std::size_t left = pdus.size();
    asio::steady_timer done(ex_, Clock::time_point::max());
    for (std::size_t i = 0; i < pdus.size(); ++i) {
      co_await session_->wait_writable();
      const auto sent = session_->try_request(pdus[i], [&, i](net::Reply&& r) {
        replies[i] = std::move(r);
        if (--left == 0) done.cancel();
      });
      if (sent.error) {
        replies[i].error = sent.error;
        --left;
      }
    }
    while (left > 0) {
      error_code ec;
      co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return replies;
  }

  // Waits until `n` deliver_sm have arrived or `limit` passed; true if they did.
  asio::awaitable<bool> wait_received(std::size_t n, std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = Clock::now() + limit;
    while (received.size() < n && Clock::now() < deadline) {
      signal_.expires_at(deadline);
      error_code ec;
      co_await signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return received.size() >= n;
  }

  // The receipts' ids (receipted_message_id, or the id: in the text).
  std::vector<std::string> receipt_ids() const {
    std::vector<std::string> ids;
    for (const auto& p : received) {
      const auto& sm = p.as<smpp::ShortMessage>();
      if (!smpp::is_receipt_esm_class(sm.esm_class)) continue;
      if (auto id = sm.tlvs.receipted_message_id()) {
        ids.push_back(*id);
      } else if (auto r = smpp::parse_receipt(sm.short_message)) {
        ids.push_back(r->id);
      }
    }
    return ids;
  }

  asio::awaitable<void> unbind() { co_await session_->unbind(); }
  void stop() { session_->stop(); }
  net::Session& session() { return *session_; }

  std::vector<smpp::Pdu> received;
  uint32_t deliver_status = status::ESME_ROK;

 private:
  explicit Esme(asio::any_io_executor ex) : ex_(ex), signal_(ex, Clock::time_point::max()) {}
  asio::any_io_executor ex_;
  std::shared_ptr<net::Session> session_;
  asio::steady_timer signal_;
};

}  // namespace smsgate::gateway::test
