#include "gateway/gateway.hpp"

#include <algorithm>
#include <set>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/admin.hpp"
#include "gateway/log.hpp"

namespace smsgate::gateway {

using Clock = std::chrono::steady_clock;

namespace {

net::SessionConfig account_session_config(const config::Config& config) {
  const config::SessionTuning& t = config.smpp.session;
  net::SessionConfig s;
  s.window = t.window;
  s.response_timeout = t.response_timeout;
  s.enquire_link_interval = t.enquire_link_interval;
  s.bind_timeout = t.bind_timeout;
  s.inactivity_timeout = t.inactivity_timeout;
  s.limits.max_command_length = t.max_pdu;
  s.close_timeout = std::chrono::seconds(3);
  s.system_id = config.node;
  return s;
}

}  // namespace

// What tells a changed file: its modification time and size.
FileStamp file_stamp(const std::filesystem::path& path) {
  std::error_code ec;
  const auto t = std::filesystem::last_write_time(path, ec);
  const auto size = ec ? 0 : std::filesystem::file_size(path, ec);
  return {ec ? std::filesystem::file_time_type{} : t, ec ? 0 : size};
}

namespace {

net::tcp::endpoint resolve(asio::io_context& io, const config::HostPort& address) {
  error_code ec;
  const auto ip = asio::ip::make_address(address.host, ec);
  if (!ec) return {ip, address.port};
  net::tcp::resolver resolver(io);
  const auto results = resolver.resolve(address.host, std::to_string(address.port));
  return results.begin()->endpoint();
}

// Runs one coroutine per (worker, task) and waits until all have finished
// or `deadline` passed. Returns whether all finished.
asio::awaitable<bool> run_all(asio::io_context& main, std::vector<std::pair<Worker*, std::function<asio::awaitable<void>()>>> tasks,
                              Clock::time_point deadline) {
  auto remaining = std::make_shared<std::size_t>(tasks.size());
  auto all_done = std::make_shared<asio::steady_timer>(main, deadline);
  for (auto& [worker, task] : tasks) {
    asio::co_spawn(worker->io(), task(), [&main, remaining, all_done](std::exception_ptr) {
      asio::post(main, [remaining, all_done] {
        if (--*remaining == 0) all_done->cancel();
      });
    });
  }
  error_code ec;
  if (*remaining > 0) co_await all_done->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  co_return *remaining == 0;
}

// The accounts of a configuration as the complaint rate guard sees them.
std::vector<GuardAccount> guard_accounts(const Snapshot& s) {
  std::vector<GuardAccount> out;
  for (const auto& [id, entry] : s.accounts) {
    out.push_back({id, entry.config.traffic == config::Traffic::marketing, entry.state});
  }
  return out;
}

}  // namespace

Gateway::Gateway(asio::io_context& main, config::Config config, GatewayOptions options)
    : main_(main), options_(std::move(options)), config_(std::move(config)) {
  const unsigned n = std::clamp(options_.threads, 1u, 256u);
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<Worker>(*this, i, config_));
}

Gateway::~Gateway() {
  admin_.reset();
  for (auto& s : servers_) s->stop();
  for (auto& w : workers_) w->stop();
  // The threads are gone: run what one worker posted to another after that
  // one stopped, so that nothing is destroyed with a foreign io_context.
  for (std::size_t ran = 1; ran > 0;) {
    ran = 0;
    for (auto& w : workers_) {
      w->io().restart();
      ran += w->io().poll();
    }
  }
  snapshot_.reset();
  for (auto& c : all_carriers_) {
    for (auto& link : c->links) link->client.reset();
  }
}

std::shared_ptr<Snapshot> Gateway::build_snapshot(const config::Config& config, std::vector<std::string>& errors) {
  auto s = std::make_shared<Snapshot>();
  s->config = config;
  PolicyBuild policy = build_policy(config.policy);
  if (!policy.runtime) {
    errors = std::move(policy.errors);
    return nullptr;
  }
  s->policy = std::move(policy.runtime);
  if (config.policy.enabled) {
    s->classifier = build_reply_classifier(config.replies, errors);
    if (!s->classifier) return nullptr;
  }
  for (const auto& a : config.accounts) {
    auto& state = account_states_[a.system_id];
    if (!state) state = std::make_shared<AccountState>(a.system_id, worker_count());
    // Bursts of up to one second's worth.
    state->tps.set_rate(a.max_tps, a.max_tps);
    s->accounts.emplace(a.system_id, AccountEntry{a, state});
  }
  std::erase_if(account_states_, [&](const auto& e) { return !s->accounts.contains(e.first); });
  for (const auto& c : config.carriers) {
    std::shared_ptr<Carrier> carrier;
    if (snapshot_) {
      const auto it = snapshot_->carriers.find(c.name);
      if (it != snapshot_->carriers.end() && it->second->config == c) carrier = it->second;
    }
    if (!carrier) {
      carrier = std::make_shared<Carrier>(c, worker_count(), next_link_worker_);
      next_link_worker_ = (next_link_worker_ + c.binds) % worker_count();
      all_carriers_.push_back(carrier);
    }
    s->carriers.emplace(c.name, std::move(carrier));
  }
  for (const auto& r : config.routes) {
    auto& list = s->routes[r.prefix];
    for (const auto& name : r.carriers) list.push_back(s->carriers.at(name).get());
    s->longest_prefix = std::max(s->longest_prefix, r.prefix.size());
  }
  return s;
}

void Gateway::start_links(const std::shared_ptr<Carrier>& carrier) {
  for (auto& link : carrier->links) {
    Worker& w = worker(link->worker);
    asio::post(w.io(), [&w, carrier, l = link.get()] { w.start_link(*l); });
  }
}

void Gateway::retire(std::shared_ptr<Carrier> carrier) {
  carrier->retired.store(true);
  for (auto& link : carrier->links) {
    Worker& w = worker(link->worker);
    asio::post(w.io(), [&w, carrier, l = link.get()] {
      asio::co_spawn(w.io(), w.stop_link(carrier, *l), asio::detached);
    });
  }
}

std::shared_ptr<net::Server> Gateway::make_server(const config::HostPort& address, bool tls) {
  net::ServerConfig sc;
  sc.endpoint = resolve(main_, address);
  sc.session = account_session_config(config_);
  if (tls) sc.tls = net::make_tls_server_context(config_.smpp.tls->cert_file, config_.smpp.tls->key_file);
  auto server = net::Server::create(main_.get_executor(), sc);
  server->set_executor_picker([this] {
    return asio::any_io_executor(worker(next_session_worker_.fetch_add(1) % worker_count()).io().get_executor());
  });
  server->set_session_handler([this](const std::shared_ptr<net::Session>& session) {
    for (auto& w : workers_) {
      if (asio::any_io_executor(w->io().get_executor()) == session->get_executor()) {
        w->adopt_account_session(session);
        return;
      }
    }
  });
  if (tls) {
    // Not TLS (plain SMPP on this port), TLS 1.0/1.1 only, or no handshake in
    // time: the connection is closed; one line each, at most 10 a second.
    server->set_tls_failure_handler([budget = LogBudget()](const net::tcp::endpoint& peer, const error_code& ec) mutable {
      uint64_t suppressed = 0;
      if (!budget.allow(suppressed)) return;
      if (suppressed) log_event(spdlog::level::warn, "log_lines_suppressed", {{"count", std::to_string(suppressed)}});
      log_event(spdlog::level::warn, "tls_handshake_failed",
                {{"peer", peer.address().to_string() + ":" + std::to_string(peer.port())}, {"reason", ec.message()}});
    });
  }
  server->start();
  log_event(spdlog::level::info, "listening",
            {{"address", net::tcp::endpoint(server->local_endpoint()).address().to_string() + ":" +
                             std::to_string(server->local_endpoint().port())},
             {"tls", tls ? "yes" : "no"}});
  return server;
}

void Gateway::start() {
  std::vector<std::string> errors;
  auto snapshot = build_snapshot(config_, errors);
  if (!snapshot) {
    std::string all;
    for (const auto& e : errors) all += (all.empty() ? "" : "; ") + e;
    throw std::runtime_error("the policy cannot be set up: " + all);
  }
  snapshot_ = snapshot;
  for (auto& w : workers_) w->start(snapshot);
  for (const auto& [name, carrier] : snapshot->carriers) start_links(carrier);
  // Accounts bind only once every worker can reach Redis (or redis.timeout
  // passed): a submit right after a restart is then checked, not refused
  // (on_error: reject) or sent unchecked (on_error: allow).
  const auto redis_deadline = Clock::now() + config_.redis.timeout;
  while (Clock::now() < redis_deadline &&
         !std::all_of(workers_.begin(), workers_.end(), [](const auto& w) { return w->redis_ready(); })) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  {
    // Complaint tickets (from any node: the outbox is shared) to the sink;
    // with no sink configured, JSON lines beside the config file.
    config::Tickets t = config_.tickets;
    if (t.sink == config::TicketSink::none && t.file.empty()) {
      t.file = (options_.config_path.empty() ? std::filesystem::path("tickets.jsonl")
                                             : options_.config_path.parent_path() / "tickets.jsonl")
                   .string();
    }
    redis::ClientConfig rc;
    rc.address = config_.redis.address.to_string();
    rc.password = config_.redis.password.value;
    rc.request_timeout = config_.redis.timeout;
    rc.client_name = "smsgate-" + config_.node + "-tickets";
    ForwarderOptions fo;
    fo.block = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(1000), config_.redis.timeout / 2);
    fo.claim_idle = std::max<std::chrono::milliseconds>(fo.claim_idle, t.timeout + std::chrono::seconds(1));
    tickets_ = std::make_unique<TicketForwarder>(main_.get_executor(), rc, std::move(t),
                                                 ticket_consumer_name(config_.node), fo);
    tickets_->start();
    // Its own connection: the dashboard's sampler never waits behind traffic.
    rc.client_name = "smsgate-" + config_.node + "-live";
    live_redis_ = redis::Client::create(main_.get_executor(), rc);
    live_redis_->start();
    asio::co_spawn(main_, sample_live(), asio::detached);
  }
  {
    // Complaint rate guard: its own connection, as the forwarder; set up
    // before accounts can bind, so a suspended account is refused from the
    // first submit after its first evaluation.
    redis::ClientConfig rc;
    rc.address = config_.redis.address.to_string();
    rc.password = config_.redis.password.value;
    rc.request_timeout = config_.redis.timeout;
    rc.client_name = "smsgate-" + config_.node + "-guard";
    guard_ = std::make_unique<ComplaintGuard>(main_.get_executor(), rc, config_.node);
    guard_->configure(config_.replies.complaint_rate, guard_accounts(*snapshot), config_.policy.enabled);
    guard_->start();
  }
  if (!options_.config_path.empty() && options_.watch_interval.count() > 0) {
    config_stamp_ = file_stamp(options_.config_path);
    asio::co_spawn(main_, watch_config(), asio::detached);
  }
  servers_.push_back(make_server(config_.smpp.listen, false));
  if (config_.admin) {
    admin_ = std::make_unique<AdminServer>(*this, main_, *config_.admin, config_);
    admin_->start();
  }
  if (config_.smpp.tls_listen) servers_.push_back(make_server(*config_.smpp.tls_listen, true));
  log_event(spdlog::level::info, "started",
            {{"node", config_.node},
             {"threads", std::to_string(worker_count())},
             {"accounts", std::to_string(config_.accounts.size())},
             {"carriers", std::to_string(config_.carriers.size())},
             {"routes", std::to_string(config_.routes.size())}});
}

bool Gateway::reload(std::vector<std::string>* diagnostics) {
  if (!options_.config_path.empty()) config_stamp_ = file_stamp(options_.config_path);
  auto loaded = config::load_config_file(options_.config_path);
  for (const auto& d : loaded.diagnostics) {
    if (diagnostics) diagnostics->push_back(config::format(d));
    log_event(d.severity == config::Severity::error ? spdlog::level::err : spdlog::level::warn, "config_diagnostic",
              {{"diagnostic", config::format(d)}});
  }
  if (!loaded.ok()) {
    log_event(spdlog::level::err, "reload_rejected",
              {{"file", options_.config_path.string()},
               {"errors", std::to_string(loaded.error_count())},
               {"reason", "the configuration in use is kept"}});
    return false;
  }
  config::Config next = std::move(*loaded.config);
  // Listeners, Redis, the node name and the log format are set up once: a
  // restart takes them.
  const auto keep = [&](bool changed, std::string_view what) {
    if (changed) log_event(spdlog::level::warn, "reload_needs_restart", {{"setting", what}});
  };
  keep(next.node != config_.node, "node");
  keep(next.smpp != config_.smpp, "smpp");
  keep(next.redis != config_.redis, "redis");
  keep(next.tickets != config_.tickets, "tickets");
  keep(next.admin != config_.admin, "admin");
  next.admin = config_.admin;
  next.node = config_.node;
  next.smpp = config_.smpp;
  next.redis = config_.redis;
  next.tickets = config_.tickets;
  next.log.format = config_.log.format;

  const auto old = snapshot_;
  std::vector<std::string> errors;
  auto snapshot = build_snapshot(next, errors);
  if (!snapshot) {
    for (const auto& e : errors) log_event(spdlog::level::err, "config_diagnostic", {{"diagnostic", e}});
    if (diagnostics) diagnostics->insert(diagnostics->end(), errors.begin(), errors.end());
    log_event(spdlog::level::err, "reload_rejected",
              {{"file", options_.config_path.string()},
               {"errors", std::to_string(errors.size())},
               {"reason", "the configuration in use is kept"}});
    return false;
  }
  snapshot_ = snapshot;
  for (auto& w : workers_) {
    asio::post(w->io(), [w = w.get(), snapshot] { w->install(snapshot); });
  }
  if (guard_) {
    guard_->configure(snapshot->config.replies.complaint_rate, guard_accounts(*snapshot),
                      snapshot->config.policy.enabled);
  }
  unsigned kept = 0, added = 0, removed = 0;
  for (const auto& [name, carrier] : snapshot->carriers) {
    const auto it = old->carriers.find(name);
    if (it != old->carriers.end() && it->second == carrier) {
      ++kept;
    } else {
      ++added;
      start_links(carrier);
    }
  }
  for (const auto& [name, carrier] : old->carriers) {
    const auto it = snapshot->carriers.find(name);
    if (it == snapshot->carriers.end() || it->second != carrier) {
      ++removed;
      retire(carrier);
    }
  }
  std::erase_if(all_carriers_, [](const std::shared_ptr<Carrier>& c) { return c->retired && c.use_count() == 1; });
  set_log_level(next.log.level);
  config_ = std::move(next);
  log_event(spdlog::level::info, "reload",
            {{"file", options_.config_path.string()},
             {"accounts", std::to_string(config_.accounts.size())},
             {"routes", std::to_string(config_.routes.size())},
             {"carriers_kept", std::to_string(kept)},
             {"carriers_started", std::to_string(added)},
             {"carriers_stopped", std::to_string(removed)},
             {"policy", config_.policy.enabled ? "on" : "off"},
             {"caps", std::to_string(config_.policy.frequency_caps.size())},
             {"quiet_hours", std::to_string(config_.policy.quiet_hours.size())}});
  return true;
}

// Reloads when the file changes (as SIGHUP does), once it has stayed the
// same for one interval: an editor's half-written file is not read.
asio::awaitable<void> Gateway::watch_config() {
  asio::steady_timer timer(main_);
  auto pending = config_stamp_;
  while (!stopping()) {
    timer.expires_after(options_.watch_interval);
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping()) break;
    const auto now = file_stamp(options_.config_path);
    if (now == config_stamp_) continue;  // as last read (at start, or by a SIGHUP reload)
    if (now != pending) {
      pending = now;
      continue;
    }
    log_event(spdlog::level::info, "config_changed", {{"file", options_.config_path.string()}});
    reload();
  }
}

asio::awaitable<void> Gateway::shutdown(std::chrono::milliseconds limit) {
  const auto started = Clock::now();
  const auto deadline = started + limit;
  stopping_.store(true);
  log_event(spdlog::level::info, "shutdown", {{"limit_ms", std::to_string(limit.count())}});
  if (admin_) admin_->stop();

  // Accounts first, while carriers still answer what they have outstanding.
  std::vector<std::pair<Worker*, std::function<asio::awaitable<void>()>>> tasks;
  for (auto& w : workers_) tasks.emplace_back(w.get(), [w = w.get()] { return w->unbind_accounts(); });
  const bool accounts_done = co_await run_all(main_, std::move(tasks), started + limit * 6 / 10);
  for (auto& s : servers_) s->stop();

  tasks.clear();
  for (const auto& [name, carrier] : snapshot_->carriers) {
    carrier->retired.store(true);
    for (auto& link : carrier->links) {
      Worker* w = &worker(link->worker);
      tasks.emplace_back(w, [w, carrier, l = link.get()] { return w->stop_link(carrier, *l); });
    }
  }
  const bool carriers_done = co_await run_all(main_, std::move(tasks), deadline);
  if (tickets_) co_await tickets_->stop(std::chrono::seconds(2));
  if (guard_) co_await guard_->stop();
  if (live_redis_) live_redis_->stop();
  for (auto& w : workers_) w->stop();
  log_event(spdlog::level::info, "stopped",
            {{"ms", std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count())},
             {"accounts_unbound", accounts_done ? "all" : "timed out"},
             {"carriers_unbound", carriers_done ? "all" : "timed out"}});
  log_event(spdlog::level::info, "counters", {{"values", counters_text()}});
  if (snapshot_->policy->enabled()) log_event(spdlog::level::info, "policy_decisions", {{"values", snapshot_->policy->hits_text()}});
}

// Every 2 s: the workers' counters added up, the binds as they stand and the
// deferred queue's depth (the last known one while Redis does not answer).
asio::awaitable<void> Gateway::sample_live() {
  asio::steady_timer timer(main_);
  uint64_t depth = 0;
  auto next = Clock::now();
  while (!stopping()) {
    CounterTotals totals{};
    for (std::size_t i = 0; i < kCounterCount; ++i) totals[i] = counter(static_cast<Counter>(i));
    std::vector<BindState> binds;
    for (const auto& [name, state] : account_states_) {
      const uint32_t n = state->binds.load(std::memory_order_relaxed);
      binds.push_back({"account", name, n > 0 ? "bound" : "not bound", n});
    }
    if (snapshot_) {
      for (const auto& [name, carrier] : snapshot_->carriers) {
        uint32_t up = 0;
        for (const auto& link : carrier->links) up += link->bound.load(std::memory_order_relaxed) ? 1 : 0;
        const auto all = static_cast<uint32_t>(carrier->links.size());
        binds.push_back({"carrier", name, up == 0 ? "down" : up < all ? "partly bound" : "bound", up});
      }
    }
    if (live_redis_ && live_redis_->connected()) {
      const auto r = co_await live_redis_->command("ZCARD", policy::keys::kDue);
      if (r.ok() && r.reply.is_integer()) depth = static_cast<uint64_t>(r.reply.integer);
    }
    live_.sample(std::chrono::system_clock::now(), totals, depth, std::move(binds));
    next += LiveSeries::kInterval;
    timer.expires_at(std::max(next, Clock::now()));
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

uint64_t Gateway::counter(Counter c) const {
  uint64_t sum = 0;
  for (const auto& w : workers_) sum += w->counters().get(c);
  if (guard_) sum += guard_->counters().get(c);
  return sum;
}

std::string Gateway::counters_text() const {
  std::string out;
  for (std::size_t i = 0; i < kCounterNames.size(); ++i) {
    const uint64_t v = counter(static_cast<Counter>(i));
    if (v == 0) continue;
    if (!out.empty()) out += ' ';
    out.append(kCounterNames[i]).append("=").append(std::to_string(v));
  }
  return out;
}

}  // namespace smsgate::gateway
