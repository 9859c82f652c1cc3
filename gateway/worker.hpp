// One gateway thread: an io_context, a Redis connection, the account
// sessions and carrier binds placed on it, and the current Snapshot.
//
// A submit_sm is handled on the worker of the account session that sent it.
// When the carrier bind that takes it lives on another worker, the SubmitJob
// is posted there and its outcome posted back. A receipt or reply is handled
// on the worker of the carrier bind that brought it and posted to a worker
// with a receiver bind of its account. Nothing a worker owns is touched by
// another thread; what workers share (AccountState, Carrier) is atomics.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "gateway/account.hpp"
#include "gateway/carrier.hpp"
#include "gateway/counters.hpp"
#include "gateway/guard.hpp"
#include "gateway/id_map_backlog.hpp"
#include "gateway/log.hpp"
#include "gateway/message_id.hpp"
#include "gateway/metrics.hpp"
#include "gateway/snapshot.hpp"
#include "policy/quiet_hours.hpp"
#include "policy/store.hpp"
#include "redis/client.hpp"
#include "smpp/receipt.hpp"
#include "smpp/net/session.hpp"

namespace smsgate::gateway {

namespace asio = boost::asio;
using boost::system::error_code;
class Gateway;

// A receipt or reply on its way to an account, and the carrier deliver_sm
// to answer once the account has it (or it is stored).
struct Delivery {
  std::string account;
  smpp::Pdu pdu;                                  // the deliver_sm for the account
  std::shared_ptr<net::Session> carrier_session;  // null for a stored one being drained
  unsigned carrier_worker = 0;
  uint32_t carrier_sequence = 0;
};

// Waits `d` on the calling coroutine's executor (a stop cancels nothing:
// keep it short).
asio::awaitable<void> sleep_for(std::chrono::milliseconds d);

class Worker {
 public:
  Worker(Gateway& gateway, unsigned index, const config::Config& config);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the thread and the Redis connection.
  void start(std::shared_ptr<const Snapshot> snapshot);
  // Stops Redis and the io_context; joins the thread.
  void stop();

  unsigned index() const { return index_; }
  asio::io_context& io() { return io_; }
  const Counters& counters() const { return counters_; }
  const WorkerMetrics& metrics() const { return metrics_; }
  // Its Redis connection has been up at least once.
  bool redis_ready() const { return redis_ready_.load(); }

  // ---- called on this worker (posted by the Gateway)
  // Takes a new configuration; unbinds sessions of accounts it removed.
  void install(std::shared_ptr<const Snapshot> snapshot);
  // The server's session handler for a connection placed on this worker.
  void adopt_account_session(const std::shared_ptr<net::Session>& session);
  // Creates and starts the Client of a carrier link placed here.
  void start_link(CarrierLink& link);
  // Unbinds a link (carrier removed or changed, shutdown).
  asio::awaitable<void> stop_link(std::shared_ptr<Carrier> carrier, CarrierLink& link);
  // Unbinds every account session here (shutdown).
  asio::awaitable<void> unbind_accounts();

 private:
  friend class AdminServer;  // sends ops' replies to complainants through answer_phone (gateway/admin.cpp)

  // ---- account binds (worker.cpp)
  asio::awaitable<uint32_t> authenticate(std::shared_ptr<AccountBind> bind, net::BindRequest request);
  void on_account_event(const std::shared_ptr<AccountBind>& bind, net::Session& session,
                        const net::SessionEvent& event);
  void on_account_request(AccountBind& bind, net::Session& session, smpp::Pdu&& pdu);
  void forget_bind(const std::shared_ptr<AccountBind>& bind);
  // A bound receiver/transceiver session of `account` on this worker, or null.
  std::shared_ptr<AccountBind> local_receiver(const std::string& account);

  // ---- submit path (submit_path.cpp)
  void on_submit(AccountBind& bind, net::Session& session, smpp::Pdu&& pdu);
  void dispatch(std::unique_ptr<SubmitJob> job);
  void enqueue(CarrierLink& link, std::unique_ptr<SubmitJob> job);
  void send(CarrierLink& link, std::unique_ptr<SubmitJob> job);
  asio::awaitable<void> pump(std::shared_ptr<Carrier> carrier, CarrierLink& link);
  void on_carrier_response(CarrierLink& link, std::unique_ptr<SubmitJob> job, net::Reply&& reply);
  void complete(std::unique_ptr<SubmitJob> job, uint32_t status);
  void answer_submit(std::unique_ptr<SubmitJob> job);
  // The carrier's answer after its response timeout (or the late window's end).
  void on_late_response(CarrierLink& link, std::unique_ptr<SubmitJob> job, net::Reply&& reply);
  // A final receipt of smsgate's own for a message the account was told was accepted.
  void own_receipt(const SubmitJob& job, smpp::MessageState state, uint32_t error, std::string_view why);
  // Stores carrier id -> our id; what Redis does not take waits in id_backlog_.
  void write_id_map(const SubmitJob& job);
  void keep_id_map(const SubmitJob& job, const redis::Result& failed);
  asio::awaitable<void> flush_id_backlog();
  // A mapping still in some worker's backlog (any worker may ask).
  std::optional<std::string> unwritten_id_map(const std::string& key);
  // Unwritten mappings kept per worker before the oldest are dropped.
  static constexpr std::size_t kIdBacklogCapacity = 1'000'000;

  // ---- policy and deferred messages (policy_path.cpp)
  void check_policy(std::unique_ptr<SubmitJob> job);
  policy::Submit make_submit(const SubmitJob& job, const PolicyRuntime& rt, bool marketing) const;
  void on_decision(std::unique_ptr<SubmitJob> job, const policy::DecideResult& result);
  void refuse_submit(const SubmitJob& job, uint32_t status);
  void log_decision(const SubmitJob& job, std::string_view outcome, std::string_view rule);
  asio::awaitable<void> defer_submit(std::unique_ptr<SubmitJob> job, policy::QuietDecision decision);
  asio::awaitable<void> run_scheduler();
  asio::awaitable<void> release(policy::Deferred message);
  asio::awaitable<void> extend_leases(policy::Store& store, std::chrono::milliseconds lease);
  void answer_deferred(std::unique_ptr<SubmitJob> job);
  asio::awaitable<void> end_deferred(const policy::Deferred& message, smpp::MessageState state, uint32_t error,
                                     std::string_view why, int registered_delivery = -1);
  // A released message that found no carrier bound is tried again after this.
  static constexpr std::chrono::seconds kDeferRetry{30};
  // Released messages on their way to a carrier (queued behind its rate or
  // window, or awaiting its answer), by id: the attempts they were taken
  // with. Their leases are extended while they are here (run_scheduler), so
  // that no scheduler takes one again while this node still sends it.
  std::unordered_map<std::string, int32_t> releasing_;
  std::chrono::steady_clock::time_point leases_extended_{};

  // ---- receipts and replies (deliver_path.cpp)
  void on_carrier_request(Carrier& carrier, net::Session& session, smpp::Pdu&& pdu);
  asio::awaitable<void> route_receipt(std::shared_ptr<Carrier> carrier, std::shared_ptr<net::Session> session,
                                      smpp::Pdu pdu);
  asio::awaitable<void> route_reply(std::shared_ptr<Carrier> carrier, std::shared_ptr<net::Session> session,
                                    smpp::Pdu pdu);
  // ---- replies from phones (reply_path.cpp): false when Redis could not
  // make the action durable (the carrier is told to send it again).
  asio::awaitable<bool> intercept_reply(const std::string& carrier, const std::string& e164,
                                        const std::string& account, const smpp::ShortMessage& sm);
  asio::awaitable<bool> act_on_reply(const std::string& carrier, const std::string& e164, const std::string& account,
                                     const smpp::Address& reply_to, const std::string& text);
  asio::awaitable<void> classify_incomplete_replies();
  asio::awaitable<void> answer_phone(const std::string& e164, const smpp::Address& from, const std::string& text,
                                     const std::string& kind, std::chrono::milliseconds interval);
  // may_post: false when already posted here by another worker (no ping-pong).
  void deliver(std::unique_ptr<Delivery> delivery, bool may_post = true);
  asio::awaitable<void> hand_over(std::shared_ptr<AccountBind> bind, std::unique_ptr<Delivery> delivery);
  void store(std::unique_ptr<Delivery> delivery);
  void answer_carrier(const Delivery& delivery, uint32_t status);
  asio::awaitable<void> drain_pending(std::shared_ptr<AccountBind> bind);
  // Every kPendingCheckEvery: drains the pending list of each account with
  // a receiver bind here that is not empty. What another node stored for an
  // account bound only here (its carrier took the receipt) is not signalled
  // to this node otherwise; nor is a drain that found another's lock.
  asio::awaitable<void> watch_pending();
  static constexpr std::chrono::seconds kPendingCheckEvery{1};
  void drain_soon(const std::string& account);

  // Sends `f` to run on worker `w` (at once when it is this one).
  template <class F>
  void run_on(unsigned w, F&& f);
  // A per-message problem worth a log line, within the LogBudget.
  void log_limited(spdlog::level::level_enum level, std::string_view event, std::initializer_list<LogField> fields);

  Gateway& gateway_;
  const unsigned index_;
  asio::io_context io_{1};
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::thread thread_;
  std::shared_ptr<redis::Client> redis_;
  std::shared_ptr<policy::Store> store_;  // replaced on install(); coroutines keep their copy
  asio::steady_timer scheduler_timer_{io_};
  bool stopped_ = false;
  std::atomic<bool> redis_ready_{false};
  std::shared_ptr<const Snapshot> snapshot_;
  MessageIdIssuer ids_;
  Counters counters_;
  WorkerMetrics metrics_;
  LogBudget log_budget_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<AccountBind>>> binds_;  // by account
  uint32_t round_robin_ = 0;
  IdMapBacklog id_backlog_{kIdBacklogCapacity};
  DeliveredCounts delivered_{io_.get_executor(), redis_, counters_};  // after redis_ and counters_
  bool flushing_id_backlog_ = false;
};

}  // namespace smsgate::gateway
