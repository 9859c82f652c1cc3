// smsgate-smsc as a real process: an ESME built on smpp::net binds to it and
// checks ids, receipts, faults, MOs, the record file and the exit.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/write.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

#include "smpp/net/client.hpp"
#include "smpp/net/session.hpp"
#include "smpp/receipt.hpp"
#include "smpp/status.hpp"
#include "smpp/text.hpp"
#include "smpp/udh.hpp"

extern char** environ;

// GCC 12 pairs Asio's awaitable frame operator new/delete wrongly after
// inlining: a false positive (gcc PR middle-end/109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;
namespace json = boost::json;
namespace smpp = smsgate::smpp;
namespace net = smsgate::smpp::net;
namespace st = smsgate::smpp::status;
using Clock = std::chrono::steady_clock;
using tcp = asio::ip::tcp;

// ---------------------------------------------------------------- the process

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1)
    out.push_back(text.substr(start, nl - start));
  return out;
}

bool only(std::string_view s, std::string_view chars) {
  return !s.empty() && s.find_first_not_of(chars) == std::string_view::npos;
}
bool digits(std::string_view s) { return only(s, "0123456789"); }

// Whether `id` has the shape --id-format `format` promises.
bool id_has_format(std::string_view id, std::string_view format) {
  if (format == "hex") return only(id, "0123456789ABCDEF") && id.size() % 2 == 0;
  if (format == "decimal") return digits(id) && id[0] != '0';
  if (format == "zero-padded") return digits(id) && id.size() == 20;
  // uuid v4: 8-4-4-4-12 lower-case hex digits, version 4, variant 10xx
  if (id.size() != 36) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? id[i] != '-' : !only(id.substr(i, 1), "0123456789abcdef")) return false;
  }
  return id[14] == '4' && only(id.substr(19, 1), "89ab");
}

// Polls `pred` every 10 ms until it holds or `limit` passes.
bool poll_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = Clock::now() + limit;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

// smsgate-smsc in a child process on an ephemeral port, with its own
// temporary directory; SIGKILLed when destroyed unless terminate() ran.
class Smsc {
 public:
  explicit Smsc(std::vector<std::string> extra, bool control = false) {
    char tmpl[] = "/tmp/smsc-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::vector<std::string> args{SMSGATE_BIN_DIR "/smsgate-smsc", "--listen", "127.0.0.1:0", "--port-file",
                                  (dir_ / "port").string()};
    if (control) {
      for (std::string a : {"--control", "127.0.0.1:0", "--control-port-file"}) args.push_back(a);
      args.push_back((dir_ / "control.port").string());
    }
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);

    int out[2];
    if (pipe(out) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, out[1]);
    const std::string err = (dir_ / "stderr.txt").string();
    posix_spawn_file_actions_addopen(&fa, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    out_ = out[0];
    if (rc != 0) throw std::runtime_error("cannot spawn smsgate-smsc");

    // The one stdout line says where it listens.
    const std::string line = read_line(10s);
    const std::string prefix = "listening on 127.0.0.1:";
    if (line.rfind(prefix, 0) != 0 || !digits(line.substr(prefix.size())))
      throw std::runtime_error("smsgate-smsc said '" + line + "'; stderr: " + stderr_text());
    port_ = static_cast<uint16_t>(std::stoi(line.substr(prefix.size())));
    if (std::stoi(read_file(dir_ / "port")) != port_) throw std::runtime_error("port file disagrees");
    if (control) control_port_ = static_cast<uint16_t>(std::stoi(read_file(dir_ / "control.port")));
  }
  ~Smsc() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    close(out_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  Smsc(const Smsc&) = delete;
  Smsc& operator=(const Smsc&) = delete;

  bool running() const { return pid_ > 0; }
  uint16_t port() const { return port_; }
  uint16_t control_port() const { return control_port_; }
  const std::filesystem::path& dir() const { return dir_; }
  std::string stderr_text() const { return read_file(dir_ / "stderr.txt"); }

  // SIGTERM; the exit status, or -1 if it did not exit within `limit`.
  int terminate(std::chrono::milliseconds limit = 5000ms) {
    kill(pid_, SIGTERM);
    int status = 0;
    const bool exited = poll_until([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, limit);
    if (!exited) return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

 private:
  std::string read_line(std::chrono::milliseconds limit) {
    std::string line;
    const auto deadline = Clock::now() + limit;
    char c = 0;
    while (Clock::now() < deadline) {
      pollfd p{out_, POLLIN, 0};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (poll(&p, 1, static_cast<int>(std::max<long long>(left, 1))) <= 0) continue;
      if (read(out_, &c, 1) != 1) break;
      if (c == '\n') return line;
      line += c;
    }
    return line;
  }

  std::filesystem::path dir_;
  pid_t pid_ = -1;
  int out_ = -1;
  uint16_t port_ = 0;
  uint16_t control_port_ = 0;
};

// ---------------------------------------------------------------- HTTP

struct HttpReply {
  int status = 0;
  std::string body;
  json::value json() const { return json::parse(body); }
};

// One request on its own connection (blocking: run it beside the io_context).
HttpReply http(uint16_t port, const std::string& method, const std::string& target, const std::string& body = {}) {
  asio::io_context io;
  tcp::socket s(io);
  s.connect({asio::ip::make_address("127.0.0.1"), port});
  const std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                          "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                          "\r\n\r\n" + body;
  asio::write(s, asio::buffer(req));
  std::string resp;
  boost::system::error_code ec;
  asio::read(s, asio::dynamic_buffer(resp), ec);
  HttpReply r;
  if (resp.size() > 12) r.status = std::stoi(resp.substr(9, 3));
  const auto sep = resp.find("\r\n\r\n");
  if (sep != std::string::npos) r.body = resp.substr(sep + 4);
  return r;
}

// JSON values as C++ ones, for comparisons.
std::string S(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : json::serialize(v); }
int64_t N(const json::value& v) { return v.is_number() ? v.to_number<int64_t>() : -1; }

// ---------------------------------------------------------------- the ESME side

struct Esme {
  std::shared_ptr<net::Session> session;
  std::vector<smpp::Pdu> delivered;  // every deliver_sm, in arrival order
  std::vector<std::string> events;   // "dlr:<id>" when a receipt arrives; tests add their own
  std::function<uint32_t(const smpp::Pdu&)> answer;  // deliver_sm_resp status (ESME_ROK when unset)
  bool keep = true;  // false: only `answer` sees deliver_sm (benchmark)

  std::vector<const smpp::ShortMessage*> receipts() const {
    std::vector<const smpp::ShortMessage*> out;
    for (const auto& p : delivered) {
      const auto& sm = p.as<smpp::ShortMessage>();
      if (smpp::is_receipt_esm_class(sm.esm_class)) out.push_back(&sm);
    }
    return out;
  }
};

asio::awaitable<net::Reply> connect_and_bind(std::shared_ptr<Esme> e, uint16_t port, net::BindType type,
                                             std::string system_id, std::string password) {
  net::ConnectOptions co;
  co.host = "127.0.0.1";
  co.port = std::to_string(port);
  boost::system::error_code ec;
  auto stream = co_await net::connect_stream(co_await asio::this_coro::executor, co, ec);
  if (!stream) co_return net::Reply{ec, {}};
  net::SessionConfig cfg;
  cfg.role = net::Role::client;
  cfg.window = 1024;
  e->session = net::Session::create(std::move(stream), cfg);
  e->session->set_request_handler([w = std::weak_ptr<Esme>(e)](net::Session& s, smpp::Pdu&& p) {
    auto e = w.lock();
    uint32_t status = st::ESME_ROK;
    if (e && p.command_id == smpp::CommandId::deliver_sm && !e->keep) {
      if (e->answer) status = e->answer(p);
    } else if (e && p.command_id == smpp::CommandId::deliver_sm) {
      const auto& sm = p.as<smpp::ShortMessage>();
      if (smpp::is_receipt_esm_class(sm.esm_class)) e->events.push_back("dlr:" + sm.tlvs.receipted_message_id().value_or("?"));
      if (e->answer) status = e->answer(p);
      e->delivered.push_back(p);
    }
    s.respond(net::make_response(p, status));
  });
  e->session->start();
  smpp::Bind b;
  b.system_id = std::move(system_id);
  b.password = std::move(password);
  co_return co_await e->session->bind(type, std::move(b));
}

smpp::Pdu submit(const std::string& from, const std::string& to, std::string_view text, uint8_t registered_delivery = 1) {
  smpp::Pdu p;
  p.command_id = smpp::CommandId::submit_sm;
  smpp::ShortMessage sm;
  sm.source = {5, 0, from};
  sm.dest = {1, 1, to};
  const auto enc = smpp::encode_text(text);
  sm.data_coding = enc.data_coding;
  sm.short_message = enc.bytes;
  sm.registered_delivery = registered_delivery;
  p.body = std::move(sm);
  return p;
}

class SmscTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (auto& e : esmes_)
      if (e->session) e->session->stop();
    // Every simulator must exit 0 on SIGTERM (and so pass the sanitizers' exit checks).
    for (auto& s : smscs_) {
      if (s->running()) {
        const int rc = s->terminate();
        EXPECT_EQ(rc, 0) << s->stderr_text();
      }
    }
  }

  Smsc& start(std::vector<std::string> args, bool control = false) {
    smscs_.push_back(std::make_unique<Smsc>(std::move(args), control));
    return *smscs_.back();
  }

  // Runs the io_context until `pred` holds; false after `limit`.
  bool run_until(const std::function<bool()>& pred, std::chrono::milliseconds limit = 5000ms) {
    const auto deadline = Clock::now() + limit;
    while (!pred()) {
      if (Clock::now() >= deadline) return false;
      if (io_.stopped()) io_.restart();
      // Short slices: `pred` may also be made true by another thread (HTTP).
      io_.run_one_for(std::min<Clock::duration>(deadline - Clock::now(), 10ms));
    }
    return true;
  }

  template <class T>
  std::optional<T> run(asio::awaitable<T> aw, std::chrono::milliseconds limit = 5000ms) {
    auto out = std::make_shared<std::optional<T>>();
    asio::co_spawn(io_, std::move(aw), [out](std::exception_ptr e, T v) {
      if (e) std::rethrow_exception(e);
      *out = std::move(v);
    });
    run_until([&] { return out->has_value(); }, limit);
    return std::move(*out);
  }

  // Connects and binds; the bind response's status in `status`.
  std::shared_ptr<Esme> bind(uint16_t port, net::BindType type = net::BindType::transceiver,
                             const std::string& system_id = "tester", const std::string& password = "pw",
                             uint32_t* status = nullptr) {
    auto e = std::make_shared<Esme>();
    esmes_.push_back(e);
    const auto r = run(connect_and_bind(e, port, type, system_id, password));
    EXPECT_TRUE(r && !r->error) << (r ? r->error.message() : "no bind response");
    if (status) *status = r ? r->pdu.command_status : 0xFFFFFFFF;
    if (!status) {
      EXPECT_TRUE(r && r->ok()) << "bind refused";
    }
    return e;
  }

  net::Reply request(Esme& e, smpp::Pdu pdu) {
    auto r = run(e.session->request(std::move(pdu)));
    EXPECT_TRUE(r.has_value()) << "no response";
    return r.value_or(net::Reply{net::Error::timeout, {}});
  }
  // Submits through the callback API, which runs as the response is read:
  // e.events gets "resp:<id>" in order with the "dlr:<id>" of receipts.
  std::string submit_in_order(Esme& e, const smpp::Pdu& pdu) {
    std::optional<std::string> id;
    EXPECT_FALSE(e.session->try_request(pdu, [&](net::Reply&& r) {
      id = r.ok() ? r.pdu.as<smpp::MessageIdResp>().message_id : "error";
      e.events.push_back("resp:" + *id);
    }).error);
    EXPECT_TRUE(run_until([&] { return id.has_value(); }));
    return id.value_or("");
  }
  std::string submit_id(Esme& e, smpp::Pdu pdu) {
    const auto r = request(e, std::move(pdu));
    EXPECT_TRUE(r.ok()) << st::status_name(r.pdu.command_status);
    return r.ok() ? r.pdu.as<smpp::MessageIdResp>().message_id : std::string();
  }

  // An HTTP request to the control endpoint while the io_context keeps the ESMEs going.
  HttpReply control(uint16_t port, const std::string& method, const std::string& target, const std::string& body = {}) {
    auto f = std::async(std::launch::async, [=] { return http(port, method, target, body); });
    EXPECT_TRUE(run_until([&] { return f.wait_for(0s) == std::future_status::ready; }, 15s));
    return f.get();
  }
  uint64_t stat(uint16_t port, const char* name) {
    return control(port, "GET", "/stats").json().at(name).to_number<uint64_t>();
  }

  asio::io_context io_;
  std::vector<std::shared_ptr<Esme>> esmes_;
  std::vector<std::unique_ptr<Smsc>> smscs_;
};

// ---------------------------------------------------------------- ids and receipts

TEST_F(SmscTest, EachIdFormatGivesAReceiptWithTheSameId) {
  for (std::string format : {"hex", "decimal", "zero-padded", "uuid"}) {
    SCOPED_TRACE(format);
    Smsc& smsc = start({"--id-format", format});
    auto e = bind(smsc.port());
    std::set<std::string> ids;
    for (int i = 0; i < 3; ++i) {
      const auto id = submit_id(*e, submit("10690000", "8613800138000", "Hello receipt world, this is long"));
      EXPECT_TRUE(id_has_format(id, format)) << id;
      ids.insert(id);
    }
    EXPECT_EQ(ids.size(), 3u);
    ASSERT_TRUE(run_until([&] { return e->receipts().size() == 3; }));
    std::set<std::string> receipt_ids;
    for (const auto* sm : e->receipts()) {
      EXPECT_EQ(sm->esm_class, 0x04);
      EXPECT_EQ(sm->source.addr, "8613800138000");  // from the recipient
      EXPECT_EQ(sm->dest.addr, "10690000");
      const auto r = smpp::parse_receipt(sm->short_message);
      ASSERT_TRUE(r) << sm->short_message;
      EXPECT_EQ(sm->tlvs.receipted_message_id(), r->id);
      EXPECT_EQ(sm->tlvs.message_state(), static_cast<uint8_t>(smpp::MessageState::delivered));
      EXPECT_EQ(r->stat, "DELIVRD");
      EXPECT_EQ(r->sub, "001");
      EXPECT_EQ(r->dlvrd, "001");
      EXPECT_EQ(r->err, "000");
      EXPECT_TRUE(digits(r->submit_date) && r->submit_date.size() == 10) << r->submit_date;
      EXPECT_TRUE(digits(r->done_date) && r->done_date.size() == 10) << r->done_date;
      EXPECT_EQ(r->text, "Hello receipt world,");
      receipt_ids.insert(r->id);
    }
    EXPECT_EQ(receipt_ids, ids);
  }
}

TEST_F(SmscTest, ReceiptIdInAnotherFormat) {
  Smsc& smsc = start({"--id-format", "hex", "--receipt-id-format", "decimal", "--id-start", "255"});
  auto e = bind(smsc.port());
  EXPECT_EQ(submit_id(*e, submit("10690000", "8613800138000", "x")), "FF");
  EXPECT_EQ(submit_id(*e, submit("10690000", "8613800138000", "y")), "0100");
  ASSERT_TRUE(run_until([&] { return e->receipts().size() == 2; }));
  EXPECT_EQ(e->receipts()[0]->tlvs.receipted_message_id(), "255");
  EXPECT_EQ(smpp::parse_receipt(e->receipts()[1]->short_message)->id, "256");
}

TEST_F(SmscTest, DlrStatesMixGivesEveryState) {
  Smsc& smsc = start({"--dlr-states", "DELIVRD=0.5,UNDELIV=0.3,EXPIRED=0.2", "--seed", "7"});
  auto e = bind(smsc.port());
  constexpr int kCount = 100;
  for (int i = 0; i < kCount; ++i) submit_id(*e, submit("10690000", "8613800138000", "state mix"));
  ASSERT_TRUE(run_until([&] { return e->receipts().size() == kCount; }));
  std::map<std::string, int> seen;
  const std::map<std::string, smpp::MessageState> tlv{{"DELIVRD", smpp::MessageState::delivered},
                                                      {"UNDELIV", smpp::MessageState::undeliverable},
                                                      {"EXPIRED", smpp::MessageState::expired}};
  for (const auto* sm : e->receipts()) {
    const auto r = smpp::parse_receipt(sm->short_message);
    ASSERT_TRUE(r);
    ++seen[r->stat];
    ASSERT_TRUE(tlv.count(r->stat)) << r->stat;
    EXPECT_EQ(sm->tlvs.message_state(), static_cast<uint8_t>(tlv.at(r->stat)));
    EXPECT_EQ(r->dlvrd, r->stat == "DELIVRD" ? "001" : "000");
  }
  EXPECT_GT(seen["DELIVRD"], 25);
  EXPECT_GT(seen["UNDELIV"], 10);
  EXPECT_GT(seen["EXPIRED"], 5);
}

TEST_F(SmscTest, ReceiptOnFailureOnlyWhenAskedSo) {
  Smsc& smsc = start({"--dlr-states", "DELIVRD=0.5,UNDELIV=0.5", "--seed", "3"});
  auto e = bind(smsc.port());
  for (int i = 0; i < 40; ++i) submit_id(*e, submit("10690000", "8613800138000", "failures only", 2));
  // query_sm is answered after everything sent before it: a barrier.
  smpp::Pdu q;
  q.command_id = smpp::CommandId::query_sm;
  q.body = smpp::QuerySm{"1", {}, {}};
  EXPECT_EQ(request(*e, q).pdu.command_status, st::ESME_RQUERYFAIL);
  EXPECT_FALSE(e->receipts().empty());
  for (const auto* sm : e->receipts()) EXPECT_EQ(smpp::parse_receipt(sm->short_message)->stat, "UNDELIV");
}

// ---------------------------------------------------------------- binds and faults

TEST_F(SmscTest, AccountsRejectWrongPasswordAndUnknownUser) {
  Smsc& smsc = start({"--accounts", "alice:secret,bob:pw2"});
  uint32_t status = 0;
  bind(smsc.port(), net::BindType::transceiver, "alice", "wrong", &status);
  EXPECT_EQ(status, st::ESME_RINVPASWD);
  bind(smsc.port(), net::BindType::transceiver, "carol", "secret", &status);
  EXPECT_EQ(status, st::ESME_RINVSYSID);
  bind(smsc.port(), net::BindType::transceiver, "alice", "secret", &status);
  EXPECT_EQ(status, st::ESME_ROK);
  bind(smsc.port(), net::BindType::transmitter, "bob", "pw2", &status);
  EXPECT_EQ(status, st::ESME_ROK);
}

TEST_F(SmscTest, ThrottleRatioOneThrottlesEverySubmit) {
  Smsc& smsc = start({"--throttle-ratio", "1"}, true);
  auto e = bind(smsc.port());
  for (int i = 0; i < 20; ++i) {
    const auto r = request(*e, submit("10690000", "8613800138000", "throttled"));
    EXPECT_EQ(r.pdu.command_status, st::ESME_RTHROTTLED);
    EXPECT_EQ(r.pdu.as<smpp::MessageIdResp>().message_id, "");
  }
  EXPECT_EQ(stat(smsc.control_port(), "throttled"), 20u);
  EXPECT_EQ(stat(smsc.control_port(), "submits"), 20u);
  EXPECT_EQ(stat(smsc.control_port(), "dlrs_sent"), 0u);
  EXPECT_TRUE(e->delivered.empty());
}

TEST_F(SmscTest, SyserrRatioOne) {
  Smsc& smsc = start({"--syserr-ratio", "1"});
  auto e = bind(smsc.port());
  EXPECT_EQ(request(*e, submit("10690000", "8613800138000", "x")).pdu.command_status, st::ESME_RSYSERR);
}

TEST_F(SmscTest, LatencyDelaysTheResponseAndTheReceiptFollowsIt) {
  Smsc& smsc = start({"--latency-ms", "300"});
  auto e = bind(smsc.port());
  const auto t0 = Clock::now();
  const auto id = submit_in_order(*e, submit("10690000", "8613800138000", "slow"));
  const auto took = Clock::now() - t0;
  EXPECT_GE(took, 300ms);
  EXPECT_LT(took, 3000ms);
  ASSERT_TRUE(run_until([&] { return e->receipts().size() == 1; }));
  EXPECT_EQ(e->events, (std::vector<std::string>{"resp:" + id, "dlr:" + id}));
}

TEST_F(SmscTest, EarlyDlrArrivesBeforeTheResponse) {
  Smsc& smsc = start({"--early-dlr-ratio", "1"});
  auto e = bind(smsc.port());
  std::vector<std::string> expected;
  for (int i = 0; i < 5; ++i) {
    const auto id = submit_in_order(*e, submit("10690000", "8613800138000", "early"));
    expected.push_back("dlr:" + id);
    expected.push_back("resp:" + id);
  }
  EXPECT_EQ(e->events, expected);
}

TEST_F(SmscTest, DropEverySecondDisconnectsAndTheReceiptFollowsTheRebind) {
  Smsc& smsc = start({"--drop-every-s", "1", "--dlr-delay-ms", "1500"});
  net::ClientConfig cfg;
  cfg.connect.host = "127.0.0.1";
  cfg.connect.port = std::to_string(smsc.port());
  cfg.bind.system_id = "tester";
  cfg.bind.password = "pw";
  cfg.backoff.initial = 50ms;
  cfg.backoff.jitter = 0;
  auto client = net::Client::create(io_.get_executor(), cfg);
  int bound = 0, unbound = 0;
  std::vector<std::string> receipts;
  client->set_state_handler([&](net::Client&, bool b) { ++(b ? bound : unbound); });
  client->set_request_handler([&](net::Session& s, smpp::Pdu&& p) {
    receipts.push_back(p.as<smpp::ShortMessage>().tlvs.receipted_message_id().value_or("?"));
    s.respond(net::make_response(p));
  });
  client->start();
  ASSERT_TRUE(run_until([&] { return client->is_bound(); }));
  // Its receipt is due after the drop at 1 s: the next bind gets it.
  const auto r = run(client->request(submit("10690000", "8613800138000", "before the drop")));
  ASSERT_TRUE(r && r->ok());
  ASSERT_TRUE(run_until([&] { return bound >= 2 && receipts.size() == 1; }, 6s)) << bound << " " << unbound;
  EXPECT_GE(unbound, 1);
  EXPECT_EQ(receipts[0], r->pdu.as<smpp::MessageIdResp>().message_id);
  const auto after = run(client->request(submit("10690000", "8613800138000", "after the drop", 0)));
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->ok());
  client->stop();
}

TEST_F(SmscTest, TransmitterReceiptGoesToAReceiverOfTheSameAccount) {
  // Three workers: the three connections land on different threads.
  Smsc& smsc = start({"--threads", "3"});
  auto tx = bind(smsc.port(), net::BindType::transmitter, "acct");
  auto other = bind(smsc.port(), net::BindType::receiver, "someone-else");
  auto rx = bind(smsc.port(), net::BindType::receiver, "acct");
  const auto id = submit_id(*tx, submit("10690000", "8613800138000", "via tx"));
  ASSERT_TRUE(run_until([&] { return rx->receipts().size() == 1; }));
  EXPECT_EQ(rx->receipts()[0]->tlvs.receipted_message_id(), id);
  EXPECT_TRUE(other->delivered.empty());
}

TEST_F(SmscTest, DataSmAndUnsupportedRequests) {
  Smsc& smsc = start({});
  auto e = bind(smsc.port());
  smpp::Pdu d;
  d.command_id = smpp::CommandId::data_sm;
  smpp::DataSm body;
  body.source = {1, 1, "10690000"};
  body.dest = {1, 1, "8613800138000"};
  body.registered_delivery = 1;
  body.tlvs.set_message_payload("payload text");
  d.body = body;
  const auto r = request(*e, d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.pdu.command_id, smpp::CommandId::data_sm_resp);
  const auto id = r.pdu.as<smpp::MessageIdResp>().message_id;
  EXPECT_FALSE(id.empty());
  ASSERT_TRUE(run_until([&] { return e->receipts().size() == 1; }));
  EXPECT_EQ(smpp::parse_receipt(e->receipts()[0]->short_message)->text, "payload text");

  smpp::Pdu cancel;
  cancel.command_id = smpp::CommandId::cancel_sm;
  cancel.body = smpp::CancelSm{"", id, {}, {}, {}};
  EXPECT_EQ(request(*e, cancel).pdu.command_status, st::ESME_RCANCELFAIL);
  smpp::Pdu multi;
  multi.command_id = smpp::CommandId::submit_multi;
  smpp::SubmitMulti m;
  m.dests.push_back({1, {1, 1, "8613800138000"}});
  multi.body = m;
  EXPECT_EQ(request(*e, multi).pdu.command_status, st::ESME_RINVCMDID);
}

// ---------------------------------------------------------------- MOs

// The text of deliver_sm parts, reassembled from UDH or sar_ TLVs.
std::optional<std::string> reassemble(const std::vector<smpp::Pdu>& pdus) {
  smpp::Reassembler r;
  for (const auto& p : pdus) {
    const auto& sm = p.as<smpp::ShortMessage>();
    std::optional<smpp::Reassembler::Message> done;
    if (sm.esm_class & smpp::kEsmUdhi) {
      const auto u = smpp::parse_udh(sm.short_message);
      if (!u || !u->udh.concat()) return std::nullopt;
      done = r.add(sm.source.addr, *u->udh.concat(), std::string(u->payload), Clock::now());
    } else if (sm.tlvs.sar_msg_ref_num()) {
      const smpp::Concat c{*sm.tlvs.sar_msg_ref_num(), *sm.tlvs.sar_total_segments(), *sm.tlvs.sar_segment_seqnum(), true};
      done = r.add(sm.source.addr, c, sm.short_message, Clock::now());
    } else {
      return smpp::decode_text(sm.short_message.empty() ? sm.tlvs.message_payload().value_or("") : sm.short_message,
                               sm.data_coding);
    }
    if (done) return smpp::decode_text(done->joined(), sm.data_coding);
  }
  return std::nullopt;
}

TEST_F(SmscTest, MoViaControlInGsmUcs2AndParts) {
  Smsc& smsc = start({}, true);
  const auto port = smsc.control_port();
  EXPECT_EQ(control(port, "POST", "/mo", R"({"from":"8613800138000","to":"10690000","text":"hi"})").status, 503);
  EXPECT_EQ(control(port, "POST", "/mo", R"({"from":"8613800138000"})").status, 400);
  EXPECT_EQ(control(port, "POST", "/mo", R"({"from":"1","to":"2","text":"退订","coding":"gsm"})").status, 400);
  EXPECT_EQ(control(port, "GET", "/nothing").status, 404);

  auto e = bind(smsc.port(), net::BindType::receiver);
  const std::string long_gsm = std::string(200, 'a') + " {end} " + std::string(150, 'b');
  std::string long_chinese;
  for (int i = 0; i < 50; ++i) long_chinese += "你们天天发，我要投诉";
  struct Case {
    std::string text, coding, split;
    std::size_t parts;
    uint8_t data_coding;
  };
  const std::vector<Case> cases{
      {"Hello 10€ [promo]", "auto", "udh", 1, 0},  {"退订", "auto", "udh", 1, 8},
      {"TD", "ucs2", "udh", 1, 8},                 {long_gsm, "gsm", "udh", 3, 0},
      {long_chinese, "auto", "udh", 8, 8},         {long_gsm, "auto", "sar", 3, 0},
      {long_gsm, "auto", "none", 1, 0},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text.substr(0, 30) + " " + c.coding + " " + c.split);
    e->delivered.clear();
    json::object body{{"from", "8613800138000"}, {"to", "10690000"}, {"text", c.text}, {"coding", c.coding}, {"split", c.split}};
    const auto r = control(port, "POST", "/mo", json::serialize(body));
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json().at("sent").to_number<std::size_t>(), c.parts);
    // The 200 comes once every part was answered, so every part is here.
    ASSERT_EQ(e->delivered.size(), c.parts);
    for (const auto& p : e->delivered) {
      const auto& sm = p.as<smpp::ShortMessage>();
      EXPECT_FALSE(smpp::is_receipt_esm_class(sm.esm_class));
      EXPECT_EQ(sm.source.addr, "8613800138000");
      EXPECT_EQ(sm.source.ton, 1);
      EXPECT_EQ(sm.dest.addr, "10690000");
      EXPECT_EQ(sm.data_coding, c.data_coding);
    }
    EXPECT_EQ(reassemble(e->delivered), c.text);
  }
  EXPECT_EQ(stat(port, "mos_sent"), 1u + 1 + 1 + 3 + 8 + 3 + 1);
}

TEST_F(SmscTest, RefusedDeliverSmIsRetriedAfterASecond) {
  Smsc& smsc = start({}, true);
  auto e = bind(smsc.port(), net::BindType::receiver);
  int calls = 0;
  e->answer = [&](const smpp::Pdu&) { return ++calls == 1 ? st::ESME_RX_T_APPN : st::ESME_ROK; };
  const auto t0 = Clock::now();
  const auto r = control(smsc.control_port(), "POST", "/mo", R"({"from":"8613800138000","to":"10690000","text":"退订"})");
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(run_until([&] { return e->delivered.size() == 2; }, 5s));
  EXPECT_GE(Clock::now() - t0, 900ms);
  EXPECT_EQ(e->delivered[0].body, e->delivered[1].body);
  EXPECT_EQ(stat(smsc.control_port(), "deliver_retries"), 1u);
  EXPECT_EQ(stat(smsc.control_port(), "deliver_sm_resp_errors"), 1u);
  EXPECT_EQ(stat(smsc.control_port(), "mos_sent"), 1u);
}

TEST_F(SmscTest, MoFileIsSentToTheFirstReceiver) {
  char tmpl[] = "/tmp/smsc-mo.XXXXXX";
  const int fd = mkstemp(tmpl);
  const std::string mo = "8613800138000\t10690000\tTD\n8613800138001\t10690000\t退订\n";
  ASSERT_EQ(write(fd, mo.data(), mo.size()), static_cast<ssize_t>(mo.size()));
  close(fd);
  Smsc& smsc = start({"--mo-file", tmpl});
  std::filesystem::remove(tmpl);
  auto e = bind(smsc.port(), net::BindType::transceiver);
  // (Within about a second: smpp::net's client session answers a deliver_sm
  // read together with its bind_resp ESME_RINVBNDSTS, and the simulator
  // retries after 1 s.)
  ASSERT_TRUE(run_until([&] { return e->delivered.size() == 2; }));
  EXPECT_EQ(reassemble({e->delivered[0]}), "TD");
  EXPECT_EQ(reassemble({e->delivered[1]}), "退订");
  EXPECT_EQ(e->delivered[1].as<smpp::ShortMessage>().source.addr, "8613800138001");
}

TEST_F(SmscTest, AutoReplyComesFromTheRecipient) {
  Smsc& smsc = start({"--auto-reply", "1:TD", "--auto-reply-delay-ms", "100"});
  auto e = bind(smsc.port());
  submit_id(*e, submit("10690000", "8613800138000", "promo", 0));
  ASSERT_TRUE(run_until([&] { return e->delivered.size() == 1; }));
  const auto& sm = e->delivered[0].as<smpp::ShortMessage>();
  EXPECT_EQ(sm.esm_class, 0);
  EXPECT_EQ(sm.source.addr, "8613800138000");
  EXPECT_EQ(sm.dest.addr, "10690000");
  EXPECT_EQ(reassemble(e->delivered), "TD");
}

// ---------------------------------------------------------------- record and exit

TEST_F(SmscTest, RecordFileAndSigtermFlushAndExitZero) {
  char tmpl[] = "/tmp/smsc-record.XXXXXX";
  const std::filesystem::path dir = mkdtemp(tmpl);
  const auto file = dir / "record.jsonl";
  Smsc& smsc = start({"--record", file.string()});
  auto e = bind(smsc.port(), net::BindType::transceiver, "recorder");
  std::vector<std::string> ids;
  ids.push_back(submit_id(*e, submit("10690000", "8613800138000", "Price: 10€ [promo] {x}")));
  // A UCS-2 part with a UDH.
  auto part = submit("10690000", "8613800138001", "");
  auto& sm = part.as<smpp::ShortMessage>();
  sm.esm_class = smpp::kEsmUdhi;
  sm.data_coding = smpp::coding::ucs2;
  sm.short_message = smpp::build_udh(smpp::concat_udh({0x42, 2, 1, false})) + smpp::utf8_to_utf16be("你好");
  ids.push_back(submit_id(*e, part));
  // data_sm with message_payload.
  smpp::Pdu d;
  d.command_id = smpp::CommandId::data_sm;
  smpp::DataSm body;
  body.source = {5, 0, "10690000"};
  body.dest = {1, 1, "8613800138002"};
  body.tlvs.set_message_payload("payload");
  d.body = body;
  ids.push_back(request(*e, d).pdu.as<smpp::MessageIdResp>().message_id);
  // Flushed within 100 ms.
  ASSERT_TRUE(poll_until([&] { return lines_of(read_file(file)).size() == 3; }, 2s)) << read_file(file);

  auto lines = lines_of(read_file(file));
  const auto l0 = json::parse(lines[0]).as_object();
  EXPECT_EQ(S(l0.at("system_id")), "recorder");
  EXPECT_EQ(S(l0.at("message_id")), ids[0]);
  EXPECT_EQ(N(l0.at("status")), 0);
  EXPECT_EQ(S(l0.at("source")), "10690000");
  EXPECT_EQ(N(l0.at("source_ton")), 5);
  EXPECT_EQ(S(l0.at("dest")), "8613800138000");
  EXPECT_EQ(N(l0.at("dest_ton")), 1);
  EXPECT_EQ(N(l0.at("registered_delivery")), 1);
  EXPECT_EQ(S(l0.at("text")), "Price: 10€ [promo] {x}");
  EXPECT_EQ(S(l0.at("udh_hex")), "");
  EXPECT_GT(l0.at("ts_ms").to_number<int64_t>(), 0);
  const auto l1 = json::parse(lines[1]).as_object();
  EXPECT_EQ(S(l1.at("text")), "你好");
  EXPECT_EQ(S(l1.at("udh_hex")), "050003420201");
  EXPECT_EQ(N(l1.at("esm_class")), 0x40);
  EXPECT_EQ(N(l1.at("data_coding")), 8);
  EXPECT_EQ(S(l1.at("short_message_hex")), "0500034202014f60597d");
  const auto l2 = json::parse(lines[2]).as_object();
  EXPECT_EQ(S(l2.at("command")), "data_sm");
  EXPECT_EQ(S(l2.at("message_id")), ids[2]);
  EXPECT_EQ(S(l2.at("text")), "payload");
  ASSERT_EQ(l2.at("tlvs").as_array().size(), 1u);
  EXPECT_EQ(N(l2.at("tlvs").as_array()[0].at("tag")), smpp::tag::message_payload);
  EXPECT_EQ(S(l2.at("tlvs").as_array()[0].at("hex")), "7061796c6f6164");

  // One more, then SIGTERM at once: the exit flushes it.
  submit_id(*e, submit("10690000", "8613800138000", "last words"));
  EXPECT_EQ(smsc.terminate(), 0);
  lines = lines_of(read_file(file));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(S(json::parse(lines[3]).at("text")), "last words");
  EXPECT_NE(smsc.stderr_text().find("submits=3"), std::string::npos) << smsc.stderr_text();
  std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------- throughput (opt-in)

// SMSGATE_SMSC_BENCH=N: N submits with receipts through one transceiver at
// full speed; prints round trips per second. SMSGATE_SMSC_BENCH_ARGS adds
// simulator options.
TEST_F(SmscTest, Throughput) {
  const char* env = std::getenv("SMSGATE_SMSC_BENCH");
  if (!env) GTEST_SKIP() << "set SMSGATE_SMSC_BENCH=<count> to run";
  const long count = std::atol(env);
  std::vector<std::string> args{"--window", "4096"};
  if (const char* extra = std::getenv("SMSGATE_SMSC_BENCH_ARGS")) {  // e.g. "--dlr-delay-ms 100"
    std::istringstream in(extra);
    for (std::string a; in >> a;) args.push_back(a);
  }
  Smsc& smsc = start(args);
  auto e = std::make_shared<Esme>();
  esmes_.push_back(e);
  long resps = 0, receipts = 0;
  auto r = run(connect_and_bind(e, smsc.port(), net::BindType::transceiver, "bench", "pw"));
  ASSERT_TRUE(r && r->ok());
  e->keep = false;
  e->answer = [&](const smpp::Pdu&) {
    ++receipts;
    return st::ESME_ROK;
  };
  const auto pdu = submit("10690000", "8613800138000", "benchmark message text");
  const auto t0 = Clock::now();
  asio::co_spawn(io_, [&]() -> asio::awaitable<void> {
    for (long sent = 0; sent < count;) {
      if (co_await e->session->wait_writable()) co_return;
      while (sent < count && e->session->writable()) {
        e->session->try_request(pdu, [&](net::Reply&& rep) { resps += rep.ok(); });
        ++sent;
      }
    }
  }, asio::detached);
  ASSERT_TRUE(run_until([&] { return resps == count && receipts == count; }, 120s)) << resps << " " << receipts;
  const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  std::printf("%ld submit+receipt round trips in %.2f s: %.0f/s\n", count, secs, count / secs);
}

}  // namespace
