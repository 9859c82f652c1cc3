// A worker's life (thread, Redis, configuration) and the account sessions
// placed on it: bind checks, bind bookkeeping, requests other than submit_sm.
#include "gateway/worker.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/gateway.hpp"
#include "smpp/net/server.hpp"
#include "smpp/status.hpp"

namespace smsgate::gateway {

namespace status = smpp::status;

namespace {

std::string endpoint_text(const net::tcp::endpoint& ep) {
  const auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

bool allowed(const std::vector<config::Cidr>& cidrs, const asio::ip::address& address) {
  config::IpAddress ip;
  if (address.is_v4()) {
    ip = config::IpAddress::v4(address.to_v4().to_bytes());
  } else {
    ip = config::IpAddress::v6(address.to_v6().to_bytes());
  }
  for (const auto& c : cidrs) {
    if (c.contains(ip)) return true;
  }
  return false;
}

// Takes one of the account's max_binds, unless all are taken.
bool take_bind_slot(AccountState& state, uint32_t max_binds) {
  uint32_t n = state.binds.load(std::memory_order_relaxed);
  do {
    if (n >= max_binds) return false;
  } while (!state.binds.compare_exchange_weak(n, n + 1, std::memory_order_relaxed));
  return true;
}

}  // namespace

Worker::Worker(Gateway& gateway, unsigned index, const config::Config& config)
    : gateway_(gateway), index_(index), work_(io_.get_executor()), ids_(config.node, index) {
  redis::ClientConfig rc;
  rc.address = config.redis.address.to_string();
  rc.password = config.redis.password.value;
  rc.request_timeout = config.redis.timeout;
  rc.client_name = "smsgate-" + config.node + "-" + std::to_string(index);
  redis_ = redis::Client::create(io_.get_executor(), rc);
  redis_->set_latency_observer([this](std::chrono::nanoseconds rtt) { metrics_.redis_latency.observe(rtt); });
  redis_->set_state_handler([this](redis::State state, error_code reason, std::string_view detail) {
    if (state == redis::State::connected) {
      redis_ready_.store(true);
      log_event(spdlog::level::info, "redis_connected", {{"worker", std::to_string(index_)}});
    } else if (state == redis::State::disconnected) {
      log_event(spdlog::level::warn, "redis_down",
                {{"worker", std::to_string(index_)}, {"error", reason.message()}, {"detail", detail}});
    }
  });
}

Worker::~Worker() { stop(); }

void Worker::start(std::shared_ptr<const Snapshot> snapshot) {
  snapshot_ = std::move(snapshot);
  store_ = std::make_shared<policy::Store>(redis_, store_settings(*snapshot_));
  asio::post(io_, [this] {
    redis_->start();
    // One scheduler per node releases deferred messages.
    if (index_ == 0) asio::co_spawn(io_, run_scheduler(), asio::detached);
    asio::co_spawn(io_, watch_pending(), asio::detached);
  });
  thread_ = std::thread([this] { io_.run(); });
}

void Worker::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    stopped_ = true;
    scheduler_timer_.cancel();
    delivered_.cancel();
    delivered_.flush();
    redis_->stop();
  });
  work_.reset();
  // Everything graceful (unbinds) is done before this: what is left (carrier
  // rebind timers after a failed start, say) must not keep the thread alive.
  asio::post(io_, [this] { io_.stop(); });
  thread_.join();
}

void Worker::install(std::shared_ptr<const Snapshot> snapshot) {
  snapshot_ = std::move(snapshot);
  store_ = std::make_shared<policy::Store>(redis_, store_settings(*snapshot_));
  for (const auto& [account, binds] : binds_) {
    const AccountEntry* entry = snapshot_->account(account);
    if (entry && entry->state == binds.front()->state) continue;
    for (const auto& b : binds) {
      log_event(spdlog::level::info, "unbinding", {{"account", account}, {"peer", b->peer}, {"reason", "account removed"}});
      asio::co_spawn(io_, b->session->unbind(), asio::detached);
    }
  }
}

void Worker::log_limited(spdlog::level::level_enum level, std::string_view event, std::initializer_list<LogField> fields) {
  if (!spdlog::should_log(level)) return;
  uint64_t suppressed = 0;
  if (!log_budget_.allow(suppressed)) return;
  if (suppressed) log_event(level, "log_lines_suppressed", {{"count", std::to_string(suppressed)}});
  log_event(level, event, fields);
}

// ---------------------------------------------------------------- account sessions

void Worker::adopt_account_session(const std::shared_ptr<net::Session>& session) {
  auto bind = std::make_shared<AccountBind>();
  bind->peer = endpoint_text(session->remote_endpoint());
  session->set_authenticator([this, bind](net::BindRequest request) { return authenticate(bind, std::move(request)); });
  session->set_event_handler(
      [this, bind](net::Session& s, const net::SessionEvent& event) { on_account_event(bind, s, event); });
  session->set_request_handler(
      [this, b = bind.get()](net::Session& s, smpp::Pdu&& pdu) { on_account_request(*b, s, std::move(pdu)); });
}

// The checks of a bind, in order; each failure has its own status (see
// docs/gateway.md) and makes the next failure from that address wait longer.
asio::awaitable<uint32_t> Worker::authenticate(std::shared_ptr<AccountBind> bind, net::BindRequest request) {
  const auto snapshot = snapshot_;
  const AccountEntry* account = snapshot->account(request.system_id);
  uint32_t result = status::ESME_ROK;
  std::string_view reason;
  if (gateway_.stopping()) {
    result = status::ESME_RBINDFAIL;
    reason = "shutting down";
  } else if (!account) {
    result = status::ESME_RINVSYSID;
    reason = "unknown system_id";
  } else if (!net::constant_time_equal(request.password, account->config.password.value)) {
    result = status::ESME_RINVPASWD;
    reason = "wrong password";
  } else if (!allowed(account->config.allowed_cidrs, request.peer.address())) {
    result = status::ESME_RBINDFAIL;
    reason = "address not in allowed_cidrs";
  } else if (!take_bind_slot(*account->state, account->config.max_binds)) {
    result = status::ESME_RALYBND;
    reason = "max_binds reached";
  }
  const std::string address = request.peer.address().to_string();
  if (result == status::ESME_ROK) {
    gateway_.bind_failures().succeeded(address);
    bind->state = account->state;
    bind->counted = true;
    bind->type = request.type;
    co_return result;
  }
  const auto delay = gateway_.bind_failures().failed(address);
  log_event(spdlog::level::warn, "bind_failed",
            {{"account", request.system_id},
             {"peer", bind->peer},
             {"type", net::to_string(request.type)},
             {"status", status::status_name(result)},
             {"reason", reason},
             {"delay_ms", std::to_string(delay.count())}});
  if (delay.count() > 0) {
    asio::steady_timer timer(io_, delay);
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return result;
}

void Worker::on_account_event(const std::shared_ptr<AccountBind>& bind, net::Session& session,
                              const net::SessionEvent& event) {
  using Kind = net::SessionEvent::Kind;
  if (event.kind == Kind::state_changed && session.is_bound() && bind->state && !bind->session) {
    bind->session = session.shared_from_this();
    binds_[bind->state->system_id].push_back(bind);
    if (bind->receives()) {
      bind->receiver = true;
      bind->state->receivers[index_].fetch_add(1, std::memory_order_relaxed);
    }
    log_event(spdlog::level::info, "bind",
              {{"account", bind->state->system_id},
               {"peer", bind->peer},
               {"type", net::to_string(bind->type)},
               {"tls", session.is_tls() ? "yes" : "no"},
               {"worker", std::to_string(index_)}});
    if (bind->receiver) asio::co_spawn(io_, drain_pending(bind), asio::detached);
  } else if (event.kind == Kind::closed) {
    if (bind->session) {
      log_event(spdlog::level::info, "unbind",
                {{"account", bind->state->system_id}, {"peer", bind->peer}, {"reason", event.error.message()}});
    }
    forget_bind(bind);
  }
}

void Worker::forget_bind(const std::shared_ptr<AccountBind>& bind) {
  if (!bind->state) return;
  if (bind->session) {
    auto it = binds_.find(bind->state->system_id);
    if (it != binds_.end()) {
      std::erase(it->second, bind);
      if (it->second.empty()) binds_.erase(it);
    }
    bind->session.reset();
  }
  if (bind->receiver) bind->state->receivers[index_].fetch_sub(1, std::memory_order_relaxed);
  if (bind->counted) bind->state->binds.fetch_sub(1, std::memory_order_relaxed);
  bind->receiver = bind->counted = false;
}

std::shared_ptr<AccountBind> Worker::local_receiver(const std::string& account) {
  const auto it = binds_.find(account);
  if (it == binds_.end()) return nullptr;
  const auto& binds = it->second;
  for (std::size_t i = 0; i < binds.size(); ++i) {
    const auto& b = binds[(round_robin_ + i) % binds.size()];
    if (b->receives() && b->session && b->session->is_bound()) {
      ++round_robin_;
      return b;
    }
  }
  return nullptr;
}

void Worker::on_account_request(AccountBind& bind, net::Session& session, smpp::Pdu&& pdu) {
  switch (pdu.command_id) {
    case smpp::CommandId::submit_sm: on_submit(bind, session, std::move(pdu)); return;
    case smpp::CommandId::alert_notification: return;  // has no response
    default:
      // data_sm, submit_multi, query_sm, cancel_sm, replace_sm: not offered (docs/gateway.md).
      session.respond(net::make_response(pdu, status::ESME_RINVCMDID));
  }
}

asio::awaitable<void> Worker::unbind_accounts() {
  std::vector<std::shared_ptr<net::Session>> sessions;
  for (const auto& [account, binds] : binds_) {
    for (const auto& b : binds) sessions.push_back(b->session);
  }
  for (const auto& s : sessions) asio::co_spawn(io_, s->unbind(), asio::detached);
  for (const auto& s : sessions) co_await s->wait_closed();
}

// ---------------------------------------------------------------- carrier links

void Worker::start_link(CarrierLink& link) {
  const config::Carrier& c = link.carrier->config;
  const config::SessionTuning& tuning = snapshot_->config.smpp.session;
  net::ClientConfig cc;
  cc.connect.host = c.address.host;
  cc.connect.port = std::to_string(c.address.port);
  if (c.tls) {
    cc.connect.tls = net::make_tls_client_context(c.tls->verify ? c.tls->ca_file : std::string());
    if (c.tls->verify && c.tls->ca_file.empty()) {
      cc.connect.tls->set_default_verify_paths();
      cc.connect.tls->set_verify_mode(asio::ssl::verify_peer);
    }
    cc.connect.tls_server_name = c.tls->server_name;
  }
  cc.bind_type = net::BindType::transceiver;
  cc.bind.system_id = c.system_id;
  cc.bind.password = c.password.value;
  cc.bind.system_type = c.system_type;
  cc.session.window = c.window;
  cc.session.response_timeout = tuning.response_timeout;
  cc.session.late_window = tuning.late_response_window;  // a late submit_sm_resp: Worker::on_late_response
  cc.session.enquire_link_interval = tuning.enquire_link_interval;
  cc.session.limits.max_command_length = tuning.max_pdu;
  cc.session.close_timeout = std::chrono::seconds(3);

  auto client = net::Client::create(io_.get_executor(), cc);
  Carrier* carrier = link.carrier;
  CarrierLink* l = &link;
  client->set_request_handler(
      [this, carrier](net::Session& s, smpp::Pdu&& pdu) { on_carrier_request(*carrier, s, std::move(pdu)); });
  client->set_state_handler([this, l](net::Client&, bool bound) {
    l->carrier->set_bound(*l, bound);
    log_event(bound ? spdlog::level::info : spdlog::level::warn, bound ? "carrier_bound" : "carrier_down",
              {{"carrier", l->carrier->name()}, {"bind", std::to_string(l->index)}, {"worker", std::to_string(index_)}});
    if (bound && !l->queue.empty() && !l->pumping) {
      l->pumping = true;
      asio::co_spawn(io_, pump(l->carrier->shared_from_this(), *l), asio::detached);
    }
  });
  client->set_event_handler([this, l](net::Client&, const net::ClientEvent& e) {
    using Kind = net::ClientEvent::Kind;
    if (e.kind != Kind::connect_failed && e.kind != Kind::bind_failed) return;
    log_event(spdlog::level::warn, e.kind == Kind::connect_failed ? "carrier_connect_failed" : "carrier_bind_failed",
              {{"carrier", l->carrier->name()},
               {"bind", std::to_string(l->index)},
               {"address", l->carrier->config.address.to_string()},
               {"status", e.error ? e.error.message() : status::status_name(e.status)}});
  });
  link.client = client;
  client->start();
}

asio::awaitable<void> Worker::stop_link(std::shared_ptr<Carrier> carrier, CarrierLink& link) {
  if (auto client = link.client) {
    co_await client->shutdown();
    link.client.reset();
  }
  // Queued submits were never sent: another carrier of their route may take them.
  auto queued = std::move(link.queue);
  link.queue.clear();
  for (auto& job : queued) dispatch(std::move(job));
}

}  // namespace smsgate::gateway
