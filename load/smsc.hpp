// smsgate-smsc: an SMSC stand-in for tests, the demo and benchmarks.
//
// Accepts SMPP binds, answers submit_sm/data_sm with message ids, sends
// delivery receipts and mobile-originated messages (deliver_sm), and injects
// faults (throttling, system errors, latency, dropped connections, receipts
// before responses). docs/simulator.md describes every option.
//
// THREADING: the acceptor, the control endpoint and the periodic jobs run on
// the main io_context; sessions are spread over `threads` worker io_contexts.
// Everything a session owns is touched on its worker only; work for another
// session is posted to its worker.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "smpp/receipt.hpp"

namespace smsgate::smsc {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

enum class IdFormat { hex, decimal, uuid, zero_padded };
enum class ReceiptIdFormat { same, decimal, hex };

struct StateWeight {
  smpp::MessageState state = smpp::MessageState::delivered;
  double weight = 1;
};

struct AutoReply {
  double probability = 0;
  std::string text;
};

struct Account {
  std::string system_id;
  std::string password;
};

struct Options {
  tcp::endpoint listen{asio::ip::address_v4::loopback(), 2776};
  std::string port_file;
  std::vector<Account> accounts;  // empty: any credentials
  unsigned threads = 1;
  IdFormat id_format = IdFormat::hex;
  ReceiptIdFormat receipt_id_format = ReceiptIdFormat::same;
  uint64_t id_start = 1;
  std::chrono::milliseconds dlr_delay{0};
  std::vector<StateWeight> dlr_states{StateWeight{}};
  double throttle_ratio = 0;
  double syserr_ratio = 0;
  double early_dlr_ratio = 0;
  std::chrono::milliseconds latency{0};
  std::chrono::seconds drop_every{0};
  uint64_t seed = 1;
  std::string mo_file;
  std::vector<AutoReply> auto_replies;
  std::chrono::milliseconds auto_reply_delay{2000};
  std::string record_file;
  std::string reply_log;           // automatic replies the peer accepted, one JSON line each
  uint32_t window = 1024;          // deliver_sm outstanding per session
  unsigned deliver_retries = 5;    // a refused or unanswered deliver_sm is sent again at most this often
  std::string system_id = "smsgate-smsc";  // put in bind_*_resp
};

// A mobile-originated message to inject (POST /mo, --mo-file).
struct MoSpec {
  enum class Coding { automatic, gsm, ucs2 };
  enum class Split { udh, sar, none };
  std::string from;
  std::string to;
  std::string text;  // UTF-8
  Coding coding = Coding::automatic;
  Split split = Split::udh;
};

struct MoResult {
  int http_status = 200;  // 200 sent, 400 bad text, 503 no receiver bind, 504 no answer in time
  std::size_t sent = 0;   // deliver_sm PDUs answered by the peer
  std::string error;
  std::size_t ok = 0;     // of those, answered ESME_ROK the first time (the peer took responsibility)
};

class Simulator {
 public:
  // `main` runs the acceptor and the periodic jobs; the caller runs it.
  Simulator(asio::io_context& main, Options options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Starts the worker threads, listens (throws on failure) and queues the
  // --mo-file messages for the first receiver bind.
  void start();
  tcp::endpoint local_endpoint() const;

  // Sends an MO to a receiver/transceiver bind (round-robin) and completes
  // when the peer has answered every part. Call on the main io_context.
  asio::awaitable<MoResult> inject_mo(MoSpec spec);
  // Closes every connection now; returns how many.
  std::size_t drop_all();
  // Counters, as (name, value), for GET /stats and the exit summary.
  std::vector<std::pair<std::string_view, uint64_t>> stats() const;

  // Unbinds every session (bounded wait), stops the workers and flushes the
  // record file. Call on the main io_context.
  asio::awaitable<void> shutdown();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The loopback HTTP control endpoint (Boost.Beast): POST /mo, GET /stats,
// POST /drop. Runs on `main`.
class ControlServer {
 public:
  ControlServer(asio::io_context& main, Simulator& sim, tcp::endpoint endpoint);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  void start();  // throws on failure to listen
  void stop();
  tcp::endpoint local_endpoint() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

// "127.0.0.1:2776", "[::1]:0", "localhost:2776" (resolved now).
tcp::endpoint parse_endpoint(std::string_view text);
std::string format_endpoint(const tcp::endpoint& ep);
// Writes `content` to `path` through a temporary name and rename(), so that a
// reader never sees a partial file. Throws std::runtime_error.
void write_file_atomically(const std::string& path, std::string_view content);

}  // namespace smsgate::smsc
