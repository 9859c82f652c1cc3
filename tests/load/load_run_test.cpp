// smsgate-load run as a process: against a small SMSC in this test (receipt
// orders and forms the simulator may not produce) and against the simulator
// smsgate-smsc (skipped while that binary is not built).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "smpp/net/server.hpp"
#include "smpp/receipt.hpp"
#include "smpp/status.hpp"

namespace smsgate::load {
namespace {

namespace fs = std::filesystem;
namespace net = smpp::net;
namespace asio = boost::asio;
namespace json = boost::json;
using namespace std::chrono_literals;

const std::string kLoad = SMSGATE_BIN_DIR "/smsgate-load";
const std::string kSmsc = SMSGATE_BIN_DIR "/smsgate-smsc";

// ---------------------------------------------------------------- processes

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/smsgate-load-test-XXXXXX";
    path_ = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A child process with stdout and stderr sent to files.
class Child {
 public:
  Child(std::vector<std::string> args, const std::string& out, const std::string& err) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      int devnull = open("/dev/null", O_RDONLY);
      dup2(devnull, 0);
      dup2(o, 1);
      dup2(e, 2);
      execv(argv[0], argv.data());
      _exit(127);
    }
  }
  ~Child() {
    if (pid_ > 0 && !status_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // The exit code, or nullopt if it did not end within `timeout` (then killed).
  std::optional<int> wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!status_) {
      int st = 0;
      pid_t r = waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        status_ = -1;
        return std::nullopt;
      }
      std::this_thread::sleep_for(5ms);
    }
    return *status_;
  }
  void terminate() {
    if (!status_) kill(pid_, SIGTERM);
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

struct LoadRun {
  int exit_code = -1;
  json::object report;  // empty when no JSON was written
  std::string out, err;
  double wall_s = 0;
};

// Runs smsgate-load with `args` (plus --json, --quiet) and waits up to `timeout`.
LoadRun run_load(const TempDir& dir, uint16_t port, std::vector<std::string> args,
                 std::chrono::seconds timeout = 60s) {
  std::vector<std::string> argv{kLoad, "--target", "127.0.0.1:" + std::to_string(port), "--json",
                                dir.file("report.json"), "--quiet"};
  argv.insert(argv.end(), args.begin(), args.end());
  fs::remove(dir.file("report.json"));
  auto t0 = std::chrono::steady_clock::now();
  Child child(argv, dir.file("load.out"), dir.file("load.err"));
  LoadRun r;
  auto code = child.wait(timeout);
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.exit_code = code.value_or(-1);
  r.out = slurp(dir.file("load.out"));
  r.err = slurp(dir.file("load.err"));
  std::string report = slurp(dir.file("report.json"));
  if (!report.empty()) r.report = json::parse(report).as_object();
  return r;
}

uint64_t num(const json::object& o, std::string_view key) { return json::value_to<uint64_t>(o.at(key)); }
double real(const json::object& o, std::string_view key) { return json::value_to<double>(o.at(key)); }
const json::object& obj(const json::object& o, std::string_view key) { return o.at(key).as_object(); }
uint64_t count_in(const json::object& o, std::string_view key) {
  auto it = o.find(key);
  return it == o.end() ? 0 : json::value_to<uint64_t>(it->value());
}

std::string describe(const LoadRun& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// ---------------------------------------------------------------- a small SMSC

struct FakeOptions {
  bool receipt_first = false;  // deliver the receipt before the submit_sm_resp
  bool text_only = false;      // no receipted_message_id / message_state TLVs
  bool zero_padded_text = false;  // the text's id:0000000042 for id 42
  unsigned mo_every = 0;       // an MO after every Nth submit
  uint32_t bind_status = smpp::status::ESME_ROK;
  std::string tls_cert{};  // TLS when set (PEM files)
  std::string tls_key{};
};

class FakeSmsc {
 public:
  explicit FakeSmsc(FakeOptions o) : o_(o) {
    net::ServerConfig cfg;
    cfg.session.window = 4096;
    if (!o_.tls_cert.empty()) cfg.tls = net::make_tls_server_context(o_.tls_cert, o_.tls_key);
    server_ = net::Server::create(io_.get_executor(), cfg);
    server_->set_authenticator([this](net::BindRequest) -> asio::awaitable<uint32_t> { co_return o_.bind_status; });
    server_->set_session_handler([this](const std::shared_ptr<net::Session>& s) {
      s->set_request_handler([this](net::Session& session, smpp::Pdu&& req) { on_request(session, std::move(req)); });
    });
    server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeSmsc() {
    asio::post(io_, [this] {
      server_->stop();
      guard_.reset();
    });
    thread_.join();
  }
  uint16_t port() const { return server_->local_endpoint().port(); }
  // "ton/npi/addr" of each submit's source and destination, in arrival order.
  std::vector<std::string> seen() {
    std::lock_guard lock(mu_);
    return seen_;
  }

 private:
  void send(net::Session& s, smpp::Pdu pdu) {
    if (!s.try_request(pdu, [](net::Reply&&) {}).error) return;
    asio::co_spawn(
        io_, [ss = s.shared_from_this(), pdu]() -> asio::awaitable<void> { co_await ss->request(pdu); },
        asio::detached);
  }

  void on_request(net::Session& s, smpp::Pdu&& req) {
    if (req.command_id != smpp::CommandId::submit_sm) {
      s.respond(net::make_response(req, smpp::status::ESME_RINVCMDID));
      return;
    }
    const uint64_t n = ++next_id_;
    smpp::Pdu resp = net::make_response(req);
    resp.as<smpp::MessageIdResp>().message_id = std::to_string(n);
    const auto& sm = req.as<smpp::ShortMessage>();
    {
      std::lock_guard lock(mu_);
      auto text = [](const smpp::Address& a) { return std::to_string(a.ton) + "/" + std::to_string(a.npi) + "/" + a.addr; };
      seen_.push_back(text(sm.source) + " " + text(sm.dest));
    }
    std::optional<smpp::Pdu> receipt;
    if (sm.registered_delivery & 1) receipt = make_receipt(n, sm);
    if (receipt && o_.receipt_first) send(s, *receipt);
    s.respond(resp);
    if (receipt && !o_.receipt_first) send(s, *receipt);
    if (o_.mo_every && n % o_.mo_every == 0) {
      smpp::Pdu mo;
      mo.command_id = smpp::CommandId::deliver_sm;
      smpp::ShortMessage m;
      m.source = sm.dest;
      m.dest = sm.source;
      m.short_message = "STOP";
      mo.body = std::move(m);
      send(s, std::move(mo));
    }
  }

  smpp::Pdu make_receipt(uint64_t n, const smpp::ShortMessage& sm) const {
    smpp::Receipt r;
    r.id = std::to_string(n);
    if (o_.zero_padded_text) r.id = std::string(10 - std::min<std::size_t>(10, r.id.size()), '0') + r.id;
    r.sub = r.dlvrd = "001";
    r.submit_date = r.done_date = "2401011200";
    r.stat = "DELIVRD";
    r.err = "000";
    r.text = "hello";
    smpp::Pdu pdu;
    pdu.command_id = smpp::CommandId::deliver_sm;
    smpp::ShortMessage d;
    d.source = sm.dest;
    d.dest = sm.source;
    d.esm_class = 0x04;
    d.short_message = smpp::format_receipt(r);
    if (!o_.text_only) {
      d.tlvs.set_receipted_message_id(std::to_string(n));
      d.tlvs.set_message_state(static_cast<uint8_t>(smpp::MessageState::delivered));
    }
    pdu.body = std::move(d);
    return pdu;
  }

  FakeOptions o_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> guard_{io_.get_executor()};
  std::shared_ptr<net::Server> server_;
  std::thread thread_;
  uint64_t next_id_ = 0;  // the io thread only
  std::mutex mu_;
  std::vector<std::string> seen_;
};

void expect_all_delivered(const LoadRun& r, uint64_t count) {
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_FALSE(r.report.empty()) << describe(r);
  EXPECT_EQ(num(r.report, "submitted"), count);
  EXPECT_EQ(num(r.report, "acked"), count);
  EXPECT_TRUE(obj(r.report, "errors").empty());
  EXPECT_EQ(obj(r.report, "dlrs").at("received").as_int64(), static_cast<int64_t>(count));
  EXPECT_EQ(num(obj(r.report, "dlrs"), "matched"), count);
  EXPECT_EQ(num(r.report, "dlrs_missing"), 0u);
  EXPECT_EQ(count_in(obj(obj(r.report, "dlrs"), "by_stat"), "DELIVRD"), count);
  EXPECT_GT(num(obj(r.report, "latency_us"), "count"), 0u);
}

TEST(LoadRun, MatchesEveryReceipt) {
  FakeSmsc smsc({});
  TempDir dir;
  LoadRun r = run_load(dir, smsc.port(), {"--count", "20000", "--binds", "2", "--window", "128"});
  expect_all_delivered(r, 20000);
  EXPECT_NE(r.out.find("result       OK"), std::string::npos) << r.out;
  EXPECT_GT(real(r.report, "flows_per_s"), 0);
}

TEST(LoadRun, ReceiptBeforeResponseFromTheTextOnly) {
  // The receipt comes first, with no TLV and the id zero-padded in the text.
  FakeSmsc smsc({.receipt_first = true, .text_only = true, .zero_padded_text = true});
  TempDir dir;
  LoadRun r = run_load(dir, smsc.port(), {"--count", "5000", "--threads", "2", "--binds", "2"});
  expect_all_delivered(r, 5000);
  EXPECT_EQ(num(obj(r.report, "dlrs"), "unmatched"), 0u);
}

TEST(LoadRun, CountsMosAndLongMessageParts) {
  FakeSmsc smsc({.mo_every = 10});
  TempDir dir;
  LoadRun r = run_load(dir, smsc.port(), {"--count", "1000", "--text-mix", "long=1"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(num(r.report, "submitted"), 1000u);
  EXPECT_EQ(num(r.report, "parts_submitted"), 3000u);
  EXPECT_EQ(num(r.report, "acked"), 3000u);  // responses and receipts are per submit_sm
  EXPECT_EQ(num(obj(r.report, "dlrs"), "matched"), 3000u);
  EXPECT_EQ(num(r.report, "mos_received"), 300u);
}

TEST(LoadRun, TextMixAndFixedText) {
  FakeSmsc smsc({});
  TempDir dir;
  LoadRun mix = run_load(dir, smsc.port(), {"--count", "2000", "--text-mix", "gsm=80,ucs2=15,long=5", "--dest-random"});
  ASSERT_EQ(mix.exit_code, 0) << describe(mix);
  uint64_t parts = num(mix.report, "parts_submitted");
  EXPECT_GT(parts, 2000u);  // about 5% of the messages are 3 parts
  EXPECT_LT(parts, 2400u);
  EXPECT_EQ(num(mix.report, "acked"), parts);
  LoadRun text = run_load(dir, smsc.port(), {"--count", "10", "--text", std::string(200, 'x')});
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_EQ(num(text.report, "parts_submitted"), 20u);
}

TEST(LoadRun, Tls) {
  TempDir dir;
  const std::string cert = dir.file("cert.pem"), key = dir.file("key.pem");
  const std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                          "-subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 -keyout " + key + " -out " + cert +
                          " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  FakeSmsc smsc({.tls_cert = cert, .tls_key = key});
  expect_all_delivered(run_load(dir, smsc.port(), {"--count", "2000", "--tls", "--tls-ca", cert}), 2000);
  expect_all_delivered(run_load(dir, smsc.port(), {"--count", "100", "--tls"}), 100);  // not verified
  // A CA that did not sign the server's certificate: the bind cannot be made.
  const std::string other = dir.file("other.pem");
  ASSERT_EQ(std::system(("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 "
                         "-subj /CN=other -keyout " + dir.file("other.key") + " -out " + other + " >/dev/null 2>&1")
                            .c_str()),
            0);
  EXPECT_EQ(run_load(dir, smsc.port(), {"--count", "10", "--tls", "--tls-ca", other}, 30s).exit_code, 2);
  // Plain TCP to a TLS port fails too.
  EXPECT_EQ(run_load(dir, smsc.port(), {"--count", "10"}, 30s).exit_code, 2);
}

TEST(LoadRun, DestinationsAndAddresses) {
  FakeSmsc smsc({});
  TempDir dir;
  LoadRun r = run_load(dir, smsc.port(),
                       {"--count", "5", "--window", "1", "--dest-range", "0100-0102", "--dest-ton", "2", "--dest-npi",
                        "0", "--source", "ACME", "--source-ton", "5", "--source-npi", "0"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(smsc.seen(), (std::vector<std::string>{"5/0/ACME 2/0/0100", "5/0/ACME 2/0/0101", "5/0/ACME 2/0/0102",
                                                   "5/0/ACME 2/0/0100", "5/0/ACME 2/0/0101"}));
  {
    std::ofstream f(dir.file("dests.txt"));
    f << "# test numbers\n447700900001\n\n  447700900002  \n";
  }
  r = run_load(dir, smsc.port(), {"--count", "3", "--window", "1", "--dest-file", dir.file("dests.txt")});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  std::vector<std::string> seen = smsc.seen();
  ASSERT_EQ(seen.size(), 8u);
  EXPECT_EQ(seen[5], "0/0/10690000 1/1/447700900001");
  EXPECT_EQ(seen[6], "0/0/10690000 1/1/447700900002");
  EXPECT_EQ(seen[7], "0/0/10690000 1/1/447700900001");
}

TEST(LoadRun, RateLimiterPacesTheSubmits) {
  FakeSmsc smsc({});
  TempDir dir;
  LoadRun r = run_load(dir, smsc.port(), {"--rate", "2000", "--count", "4000", "--binds", "2"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  double elapsed = real(r.report, "elapsed_s");
  EXPECT_GE(elapsed, 1.5);
  EXPECT_LE(elapsed, 4.0);
  EXPECT_LT(r.wall_s, 20);
}

TEST(LoadRun, DurationStopsSending) {
  FakeSmsc smsc({});
  TempDir dir;
  LoadRun r = run_load(dir, smsc.port(), {"--duration", "1", "--rate", "500"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  uint64_t sent = num(r.report, "submitted");
  EXPECT_GE(sent, 400u);
  EXPECT_LE(sent, 620u);
}

TEST(LoadRun, BindRejectedExitsTwo) {
  FakeSmsc smsc({.bind_status = smpp::status::ESME_RINVPASWD});
  TempDir dir;
  LoadRun r = run_load(dir, smsc.port(), {"--count", "10"}, 20s);
  EXPECT_EQ(r.exit_code, 2) << describe(r);
  EXPECT_NE(r.err.find("ESME_RINVPASWD"), std::string::npos) << r.err;
}

TEST(LoadRun, NothingListeningExitsTwo) {
  uint16_t port;
  {
    FakeSmsc smsc({});
    port = smsc.port();
  }
  TempDir dir;
  LoadRun r = run_load(dir, port, {"--count", "10"}, 20s);
  EXPECT_EQ(r.exit_code, 2) << describe(r);
}

TEST(LoadRun, UsageErrorsExitTwo) {
  TempDir dir;
  EXPECT_EQ(run_load(dir, 1, {}).exit_code, 2);  // neither --count nor --duration
  EXPECT_EQ(run_load(dir, 1, {"--count", "1", "--text-mix", "gsm=1,bogus=2"}).exit_code, 2);
  EXPECT_EQ(run_load(dir, 1, {"--count", "1", "--dest-range", "200-100"}).exit_code, 2);
  EXPECT_EQ(run_load(dir, 1, {"--count", "1", "--bind-type", "rx"}).exit_code, 2);
  EXPECT_EQ(run_load(dir, 1, {"--count", "1", "--password-env", "SMSGATE_LOAD_TEST_UNSET"}).exit_code, 2);
}

// ---------------------------------------------------------------- the simulator

class Simulator {
 public:
  Simulator(const TempDir& dir, std::vector<std::string> extra) {
    std::vector<std::string> argv{kSmsc, "--listen", "127.0.0.1:0", "--port-file", dir.file("smsc.port")};
    argv.insert(argv.end(), extra.begin(), extra.end());
    child_.emplace(argv, dir.file("smsc.out"), dir.file("smsc.err"));
    for (int i = 0; i < 1000 && port_ == 0; ++i) {
      std::string text = slurp(dir.file("smsc.port"));
      if (!text.empty()) port_ = static_cast<uint16_t>(std::stoi(text));
      else std::this_thread::sleep_for(10ms);
    }
  }
  ~Simulator() {
    child_->terminate();
    child_->wait(10s);
  }
  uint16_t port() const { return port_; }

 private:
  std::optional<Child> child_;
  uint16_t port_ = 0;
};

#define REQUIRE_SIMULATOR()                                                   \
  if (!fs::exists(kSmsc)) GTEST_SKIP() << kSmsc << " is not built"

TEST(LoadSimulator, HundredThousandRoundTrips) {
  REQUIRE_SIMULATOR();
  TempDir dir;
  Simulator smsc(dir, {});
  ASSERT_NE(smsc.port(), 0);
  LoadRun r = run_load(dir, smsc.port(), {"--count", "100000", "--binds", "2", "--window", "256"});
  expect_all_delivered(r, 100000);
}

TEST(LoadSimulator, EarlyReceiptsAndDecimalReceiptIds) {
  REQUIRE_SIMULATOR();
  TempDir dir;
  Simulator smsc(dir, {"--early-dlr-ratio", "0.5", "--id-format", "hex", "--receipt-id-format", "decimal",
                       "--id-start", "1000000"});
  ASSERT_NE(smsc.port(), 0);
  LoadRun r = run_load(dir, smsc.port(),
                       {"--count", "20000", "--binds", "2", "--threads", "2", "--receipt-id-format", "decimal"});
  expect_all_delivered(r, 20000);
}

TEST(LoadSimulator, ThrottledSubmitsAreAnsweredOnce) {
  // ESME_RTHROTTLED is a response: every submit answered, exit 0; no receipt
  // is awaited for a throttled submit.
  REQUIRE_SIMULATOR();
  TempDir dir;
  Simulator smsc(dir, {"--throttle-ratio", "0.3"});
  ASSERT_NE(smsc.port(), 0);
  LoadRun r = run_load(dir, smsc.port(), {"--count", "20000", "--binds", "2", "--window", "256"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  uint64_t acked = num(r.report, "acked");
  uint64_t throttled = count_in(obj(r.report, "errors"), "ESME_RTHROTTLED");
  EXPECT_EQ(acked + throttled, 20000u);
  EXPECT_GT(throttled, 4000u);
  EXPECT_LT(throttled, 8000u);
  EXPECT_EQ(num(obj(r.report, "dlrs"), "matched"), acked);
  EXPECT_EQ(num(r.report, "dlrs_missing"), 0u);
  EXPECT_TRUE(obj(r.report, "unanswered").empty());
}

TEST(LoadSimulator, DroppedConnectionsEndAndAreReported) {
  REQUIRE_SIMULATOR();
  TempDir dir;
  Simulator smsc(dir, {"--drop-every-s", "1", "--dlr-delay-ms", "200"});
  ASSERT_NE(smsc.port(), 0);
  LoadRun r = run_load(dir, smsc.port(),
                       {"--duration", "3", "--rate", "5000", "--binds", "2", "--dlr-timeout", "2"}, 45s);
  ASSERT_FALSE(r.report.empty()) << describe(r);
  EXPECT_GT(num(r.report, "rebinds"), 0u) << describe(r);
  uint64_t parts = num(r.report, "parts_submitted");
  uint64_t unanswered = 0;
  for (const auto& [k, v] : obj(r.report, "unanswered")) unanswered += json::value_to<uint64_t>(v);
  // Every submit_sm is accounted for: answered or reported lost.
  EXPECT_EQ(num(r.report, "acked") + unanswered, parts);
  uint64_t missing = num(r.report, "dlrs_missing");
  EXPECT_EQ(num(obj(r.report, "dlrs"), "matched") + missing, num(r.report, "acked"));
  if (unanswered + missing > 0) {
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_NE(r.out.find("FAILED"), std::string::npos);
  } else {
    EXPECT_EQ(r.exit_code, 0) << describe(r);
  }
  EXPECT_LT(r.wall_s, 30);
}

}  // namespace
}  // namespace smsgate::load
