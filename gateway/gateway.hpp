// The gateway: worker threads, the listeners accounts bind to, the carriers'
// binds, and the configuration they run with (loaded, reloaded on SIGHUP).
//
//   Gateway gw(main_io, config, {.threads = 4, .config_path = path});
//   gw.start();                   // listens; binds to carriers
//   gw.reload();                  // on SIGHUP
//   co_await gw.shutdown();       // on SIGTERM
//
// Everything here runs on the main io_context (signals, reload, shutdown);
// message traffic runs on the workers (worker.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "config/config.hpp"
#include "gateway/account.hpp"
#include "gateway/carrier.hpp"
#include "gateway/counters.hpp"
#include "gateway/guard.hpp"
#include "gateway/live.hpp"
#include "gateway/snapshot.hpp"
#include "gateway/tickets.hpp"
#include "gateway/worker.hpp"
#include "smpp/net/server.hpp"

namespace smsgate::gateway {

class AdminServer;
using FileStamp = std::pair<std::filesystem::file_time_type, std::uintmax_t>;
FileStamp file_stamp(const std::filesystem::path& path);

struct GatewayOptions {
  unsigned threads = 1;
  std::filesystem::path config_path;  // read again by reload()
  // How often the file is checked for changes (a change reloads it); 0: never.
  std::chrono::milliseconds watch_interval{1000};
};

class Gateway {
 public:
  Gateway(asio::io_context& main, config::Config config, GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Starts the workers, binds to the carriers and listens (throws
  // boost::system::system_error when an address cannot be listened on).
  void start();

  // Reads the configuration file again. A file with errors changes nothing
  // (every diagnostic is logged); otherwise accounts, carriers and routes are
  // replaced without touching the binds they did not change. Returns whether
  // the new configuration was taken.
  // `diagnostics`, when given, receives every problem found (formatted).
  bool reload(std::vector<std::string>* diagnostics = nullptr);

  // Refuses new binds, unbinds accounts (after their outstanding responses)
  // and carriers, stops the workers. Bounded by `limit`.
  asio::awaitable<void> shutdown(std::chrono::milliseconds limit = std::chrono::seconds(10));

  // ---- for the workers
  Worker& worker(unsigned i) { return *workers_[i]; }
  unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  BindFailures& bind_failures() { return bind_failures_; }

  uint64_t counter(Counter c) const;
  // Every counter, for the exit log line.
  std::string counters_text() const;
  // The complaint rate guard (after start()): states() and resume() for the admin API.
  ComplaintGuard& guard() { return *guard_; }
  // The dashboard's last 15 minutes (sampled every 2 s on the main io_context).
  LiveSeries& live() { return live_; }
  // ---- for the admin server (gateway/admin.hpp), on the main io_context
  std::shared_ptr<const Snapshot> snapshot() const { return snapshot_; }
  const config::Config& config() const { return config_; }
  const TicketCounters* ticket_counters() const { return tickets_ ? &tickets_->counters() : nullptr; }

 private:
  // Null when the policy cannot be set up (`errors` says why).
  std::shared_ptr<Snapshot> build_snapshot(const config::Config& config, std::vector<std::string>& errors);
  void retire(std::shared_ptr<Carrier> carrier);
  asio::awaitable<void> watch_config();
  asio::awaitable<void> sample_live();
  void start_links(const std::shared_ptr<Carrier>& carrier);
  std::shared_ptr<net::Server> make_server(const config::HostPort& address, bool tls);

  asio::io_context& main_;
  GatewayOptions options_;
  config::Config config_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::shared_ptr<const Snapshot> snapshot_;
  std::vector<std::shared_ptr<Carrier>> all_carriers_;  // live or retired, until nothing uses them
  std::map<std::string, std::shared_ptr<AccountState>> account_states_;
  std::vector<std::shared_ptr<net::Server>> servers_;
  BindFailures bind_failures_;
  std::atomic<bool> stopping_{false};
  FileStamp config_stamp_{};  // the config file as last read
  std::unique_ptr<TicketForwarder> tickets_;  // with a policy: complaint tickets to the sink
  std::unique_ptr<ComplaintGuard> guard_;     // suspends accounts past replies.complaint_rate
  std::unique_ptr<AdminServer> admin_;        // with an admin: section
  unsigned next_link_worker_ = 0;
  LiveSeries live_;
  std::shared_ptr<redis::Client> live_redis_;  // the deferred queue's depth, for live_
  std::atomic<unsigned> next_session_worker_{0};
};

template <class F>
void Worker::run_on(unsigned w, F&& f) {
  if (w == index_) {
    f();
  } else {
    asio::post(gateway_.worker(w).io(), std::forward<F>(f));
  }
}

}  // namespace smsgate::gateway
