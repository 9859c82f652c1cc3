// The admin HTTP server: the connection loop (Beast), the routes, and the
// Prometheus exposition. docs/admin.md lists every endpoint.
#include "gateway/admin.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <limits>
#include <set>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "gateway/dashboard.hpp"
#include "gateway/gateway.hpp"
#include "gateway/log.hpp"
#include "gateway/redis_keys.hpp"
#include "gateway/time_text.hpp"
#include "policy/number.hpp"
#include "policy/store.hpp"

namespace smsgate::gateway {

namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using SysClock = std::chrono::system_clock;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kHeaderLimit = 16 * 1024;
constexpr std::size_t kImportBatch = 1000;
constexpr std::size_t kImportRejectsShown = 20;
constexpr std::size_t kMaxReplyText = 4000;  // bytes of ops' reply (long ones go in parts)
constexpr std::string_view kAdminAudit = "smsgate:audit:admin";

// ---------------------------------------------------------------- answers

struct Reply {
  http::status status = http::status::ok;
  std::string content_type = "application/json";
  std::string body;
  bool close = false;  // the request's body was not read: the connection cannot be reused
};

Reply json_reply(json::value v, http::status status = http::status::ok) {
  return {status, "application/json", json::serialize(v) + "\n"};
}

Reply error_reply(http::status status, std::string_view error, std::string_view detail) {
  return json_reply(json::object{{"error", error}, {"detail", detail}}, status);
}


int64_t now_ms() { return policy::to_ms(SysClock::now()); }

std::string sha256(std::string_view s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  return std::string(reinterpret_cast<const char*>(d), sizeof d);
}

// ---------------------------------------------------------------- input checks

// "+8613800138000" or "8613800138000": 6 to 15 digits, optionally after '+'.
std::optional<policy::Number> parse_number(std::string_view text, std::string& why) {
  std::string_view digits = text;
  if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
  if (digits.size() < 6 || digits.size() > 15 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    why = "a number is + and 6 to 15 digits in international form (+8613800138000)";
    return std::nullopt;
  }
  auto n = policy::normalise_number(digits, policy::ton::international, "", &why);
  if (!n) why = "not a phone number: " + why;
  return n;
}

bool is_ticket_id(std::string_view id) {
  return id.size() == 18 && id.substr(0, 2) == "T-" &&
         std::all_of(id.begin() + 2, id.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_system_id(std::string_view id) {
  return !id.empty() && id.size() <= 15 && std::all_of(id.begin(), id.end(), [](char c) { return c > ' ' && c < 0x7F; });
}

std::string scope_name(std::string_view field) {
  if (field == "*") return "global";
  if (field.rfind("a:", 0) == 0) return "account";
  if (field.rfind("s:", 0) == 0) return "source";
  return "unknown";
}

json::object record_json(const policy::OptOutRecord& r) {
  json::object o{{"scope", scope_name(r.field)}, {"field", r.field}, {"at", iso_utc(from_ms(r.at_ms))}, {"at_ms", r.at_ms},
                 {"source", r.source},           {"reason", r.reason}};
  if (r.field.rfind("a:", 0) == 0) o["account"] = r.field.substr(2);
  if (r.field.rfind("s:", 0) == 0) o["sender"] = r.field.substr(2);
  return o;
}

// A number's opt-out state: whether it is opted out, its records now and
// their history (newest first), as GET /api/optouts and /api/numbers show it.
json::object opt_out_json(const policy::OptOutState& state) {
  json::array records, history;
  for (const auto& r : state.records) records.push_back(record_json(r));
  for (const auto& h : state.history) {
    json::object o = record_json(h.record);
    o["action"] = h.action;
    history.push_back(std::move(o));
  }
  return json::object{{"opted_out", !state.records.empty()}, {"records", std::move(records)}, {"history", std::move(history)}};
}

// ---------------------------------------------------------------- the request

struct Request {
  http::verb method = http::verb::unknown;
  std::vector<std::string> path;                 // decoded segments
  std::map<std::string, std::string> query;      // decoded
  std::string body;

  std::string param(const std::string& name, std::string fallback = {}) const {
    const auto it = query.find(name);
    return it == query.end() ? fallback : it->second;
  }
  bool is(http::verb m, std::initializer_list<std::string_view> segments) const {
    if (method != m || path.size() != segments.size()) return false;
    std::size_t i = 0;
    for (const auto& s : segments) {
      if (s != "*" && s != path[i]) return false;
      ++i;
    }
    return true;
  }
};

// The target's path segments and query, decoded; nullopt with `why` for a
// target that is not an origin form or has a segment that leaves its place
// (".", "..", an encoded '/', a NUL byte).
std::optional<Request> parse_target(std::string_view target, std::string& why) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) {
    why = "the request target is not a valid path";
    return std::nullopt;
  }
  Request r;
  for (auto seg : url->segments()) {
    std::string s = seg;
    if (s == "." || s == ".." || s.find_first_of(std::string("/\\\0", 3)) != std::string::npos) {
      why = "a path segment may not be '.', '..' or contain '/', '\\' or NUL";
      return std::nullopt;
    }
    r.path.push_back(std::move(s));
  }
  if (!r.path.empty() && r.path.back().empty()) r.path.pop_back();  // "/api/accounts/"
  for (auto p : url->params()) r.query[std::string(p.key)] = p.has_value ? std::string(p.value) : std::string();
  return r;
}

// A JSON object body (an empty body is an empty object), or the error reply.
std::optional<json::object> object_body(const Request& req, Reply& error) {
  if (req.body.find_first_not_of(" \t\r\n") == std::string::npos) return json::object{};
  boost::system::error_code ec;
  auto v = json::parse(req.body, ec);
  if (ec) {
    error = error_reply(http::status::bad_request, "bad JSON", ec.message());
    return std::nullopt;
  }
  if (!v.is_object()) {
    error = error_reply(http::status::bad_request, "bad JSON", "the body must be a JSON object");
    return std::nullopt;
  }
  return std::move(v.as_object());
}

// A string member, "" when absent; false with the error reply when it is not a string.
bool string_member(const json::object& o, std::string_view key, std::string& out, Reply& error) {
  const auto* v = o.if_contains(key);
  if (!v || v->is_null()) return true;
  if (!v->is_string()) {
    error = error_reply(http::status::bad_request, "bad JSON", "'" + std::string(key) + "' must be a string");
    return false;
  }
  out = v->as_string();
  return true;
}

// ---------------------------------------------------------------- metrics

struct ScrapeInputs {
  std::shared_ptr<const Snapshot> snapshot;
  bool depth_known = false;
  uint64_t deferred_due = 0, deferred_taken = 0;
  std::map<std::string, std::pair<uint64_t, uint64_t>> windows;  // carrier -> (outstanding, window) over bound links
};

prometheus::ClientMetric labelled(std::initializer_list<std::pair<const char*, std::string>> labels) {
  prometheus::ClientMetric m;
  for (const auto& [k, v] : labels) m.label.push_back({k, v});
  return m;
}

prometheus::MetricFamily family(std::string name, std::string help, prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

// The gateway's counters and histograms as Prometheus families. Every value
// is the sum of the workers' own (gateway/counters.hpp, gateway/metrics.hpp),
// read at scrape time: the hot path shares nothing for this.
class GatewayCollector : public prometheus::Collectable {
 public:
  GatewayCollector(Gateway& gateway, const ScrapeInputs& in) : gateway_(gateway), in_(in) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> out;
    const auto counter_named = [&](std::string_view name) -> double {
      for (std::size_t i = 0; i < kCounterNames.size(); ++i) {
        if (kCounterNames[i] == name) return static_cast<double>(gateway_.counter(static_cast<Counter>(i)));
      }
      return 0;
    };

    auto binds = family("smsgate_binds", "Bound sessions: accounts bound to smsgate, smsgate's binds to carriers",
                        MetricType::Gauge);
    if (in_.snapshot) {
      for (const auto& [id, entry] : in_.snapshot->accounts) {
        auto m = labelled({{"kind", "account"}, {"name", id}});
        m.gauge.value = entry.state->binds.load(std::memory_order_relaxed);
        binds.metric.push_back(std::move(m));
      }
      for (const auto& [name, carrier] : in_.snapshot->carriers) {
        uint32_t up = 0;
        for (const auto& link : carrier->links) up += link->bound.load(std::memory_order_relaxed) ? 1 : 0;
        auto m = labelled({{"kind", "carrier"}, {"name", name}});
        m.gauge.value = up;
        binds.metric.push_back(std::move(m));
      }
    }
    out.push_back(std::move(binds));

    // Each submit_sm ends in exactly one of these (deferred ones end later in sent or a receipt).
    auto submits = family("smsgate_submits_total", "Submits from accounts by outcome", MetricType::Counter);
    const std::pair<const char*, std::vector<std::string_view>> outcomes[] = {
        {"sent", {"submit_ok"}},
        {"opted_out", {"policy_opted_out"}},
        {"frequency_cap", {"policy_capped"}},
        {"quiet_hours_reject", {"policy_quiet_rejected"}},
        {"deferred", {"policy_deferred"}},
        {"throttled", {"submit_throttled"}},
        {"carrier_error", {"submit_carrier_status", "submit_carrier_lost"}},
        {"suspended", {"submit_suspended"}},
        {"no_route", {"submit_no_route"}},
        {"invalid_destination", {"submit_invalid_dest"}},
        {"redis_down", {"policy_redis_down_rejected"}},
    };
    for (const auto& [outcome, names] : outcomes) {
      auto m = labelled({{"outcome", outcome}});
      for (const auto n : names) m.counter.value += counter_named(n);
      submits.metric.push_back(std::move(m));
    }
    out.push_back(std::move(submits));

    auto events = family("smsgate_events_total", "Every counter the gateway keeps (gateway/counters.hpp)",
                         MetricType::Counter);
    for (std::size_t i = 0; i < kCounterNames.size(); ++i) {
      auto m = labelled({{"event", std::string(kCounterNames[i])}});
      m.counter.value = static_cast<double>(gateway_.counter(static_cast<Counter>(i)));
      events.metric.push_back(std::move(m));
    }
    out.push_back(std::move(events));

    if (in_.depth_known) {
      auto depth = family("smsgate_deferred_queue_depth", "Messages held for the end of quiet hours",
                          MetricType::Gauge);
      auto due = labelled({{"state", "waiting"}});
      due.gauge.value = static_cast<double>(in_.deferred_due);
      auto taken = labelled({{"state", "releasing"}});
      taken.gauge.value = static_cast<double>(in_.deferred_taken);
      depth.metric.push_back(std::move(due));
      depth.metric.push_back(std::move(taken));
      out.push_back(std::move(depth));
    }

    auto receipts = family("smsgate_receipts_total", "Delivery receipts from carriers by stat", MetricType::Counter);
    for (std::size_t s = 0; s < kReceiptStates.size(); ++s) {
      auto m = labelled({{"state", std::string(kReceiptStates[s])}});
      for (unsigned w = 0; w < gateway_.worker_count(); ++w) {
        m.counter.value += static_cast<double>(gateway_.worker(w).metrics().receipts[s].load(std::memory_order_relaxed));
      }
      receipts.metric.push_back(std::move(m));
    }
    out.push_back(std::move(receipts));

    auto replies = family("smsgate_replies_total", "Replies from phones (MO) by outcome and complaint category",
                          MetricType::Counter);
    for (std::size_t o = 0; o < kReplyOutcomes; ++o) {
      for (std::size_t c = 0; c < kReplyCategories; ++c) {
        uint64_t n = 0;
        for (unsigned w = 0; w < gateway_.worker_count(); ++w) {
          n += gateway_.worker(w).metrics().replies[o * kReplyCategories + c].load(std::memory_order_relaxed);
        }
        // Only the pairs that can happen: a category belongs to complaints.
        const bool complaint = o == static_cast<std::size_t>(policy::ReplyOutcome::complaint);
        if (complaint == (c == 0) && n == 0) continue;
        auto m = labelled({{"outcome", std::string(policy::to_string(static_cast<policy::ReplyOutcome>(o)))},
                           {"category", std::string(policy::to_string(static_cast<policy::ComplaintCategory>(c)))}});
        m.counter.value = static_cast<double>(n);
        replies.metric.push_back(std::move(m));
      }
    }
    out.push_back(std::move(replies));

    if (const auto* t = gateway_.ticket_counters()) {
      auto tickets = family("smsgate_tickets_total", "Complaint tickets by what happened to them on this node",
                            MetricType::Counter);
      const std::pair<const char*, const std::atomic<uint64_t>*> results[] = {
          {"delivered", &t->delivered}, {"retrying", &t->retrying}, {"dead_lettered", &t->dead_lettered}};
      for (const auto& [result, value] : results) {
        auto m = labelled({{"result", result}});
        m.counter.value = static_cast<double>(value->load(std::memory_order_relaxed));
        tickets.metric.push_back(std::move(m));
      }
      out.push_back(std::move(tickets));
      auto waiting = family("smsgate_tickets_waiting", "Tickets held on this node for a later attempt",
                            MetricType::Gauge);
      auto m = labelled({});
      m.gauge.value = static_cast<double>(t->waiting.load(std::memory_order_relaxed));
      waiting.metric.push_back(std::move(m));
      out.push_back(std::move(waiting));
    }

    out.push_back(histogram("smsgate_redis_latency_seconds",
                            "Round trip of the workers' Redis commands (queued to reply parsed)",
                            &WorkerMetrics::redis_latency));
    out.push_back(histogram("smsgate_submit_latency_seconds",
                            "submit_sm from an account to its submit_sm_resp, through a carrier",
                            &WorkerMetrics::submit_latency));

    auto occupancy = family("smsgate_carrier_window_occupancy",
                            "Outstanding submits over the window of a carrier's bound binds (0 to 1)",
                            MetricType::Gauge);
    auto outstanding = family("smsgate_carrier_window_outstanding", "Submits awaiting a carrier's response",
                              MetricType::Gauge);
    for (const auto& [carrier, w] : in_.windows) {
      auto o = labelled({{"carrier", carrier}});
      o.gauge.value = w.second ? static_cast<double>(w.first) / static_cast<double>(w.second) : 0.0;
      occupancy.metric.push_back(std::move(o));
      auto n = labelled({{"carrier", carrier}});
      n.gauge.value = static_cast<double>(w.first);
      outstanding.metric.push_back(std::move(n));
    }
    out.push_back(std::move(occupancy));
    out.push_back(std::move(outstanding));
    return out;
  }

 private:
  prometheus::MetricFamily histogram(std::string name, std::string help, LatencyHistogram WorkerMetrics::*which) const {
    auto f = family(std::move(name), std::move(help), prometheus::MetricType::Histogram);
    std::array<uint64_t, LatencyHistogram::kBuckets> counts{};
    uint64_t sum_ns = 0;
    for (unsigned w = 0; w < gateway_.worker_count(); ++w) {
      const LatencyHistogram& h = gateway_.worker(w).metrics().*which;
      for (std::size_t i = 0; i < counts.size(); ++i) counts[i] += h.bucket(i);
      sum_ns += h.sum_ns();
    }
    prometheus::ClientMetric m;
    uint64_t cumulative = 0;
    for (std::size_t i = 0; i < counts.size(); ++i) {
      cumulative += counts[i];
      const double bound = i < kLatencyBuckets.size() ? kLatencyBuckets[i] : std::numeric_limits<double>::infinity();
      m.histogram.bucket.push_back({cumulative, bound});
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = static_cast<double>(sum_ns) / 1e9;
    f.metric.push_back(std::move(m));
    return f;
  }

  Gateway& gateway_;
  const ScrapeInputs& in_;
};

// On worker `w`: the carriers' bound links there, their outstanding submits and windows.
asio::awaitable<std::map<std::string, std::pair<uint64_t, uint64_t>>> window_usage(
    std::shared_ptr<const Snapshot> snapshot, unsigned w) {
  std::map<std::string, std::pair<uint64_t, uint64_t>> out;
  for (const auto& [name, carrier] : snapshot->carriers) {
    auto& entry = out[name];
    for (const auto& link : carrier->links) {
      if (link->worker != w || !link->client || !link->bound.load(std::memory_order_relaxed)) continue;
      const auto& session = link->client->session();
      if (!session) continue;
      entry.first += session->outstanding();
      entry.second += session->window();
    }
  }
  co_return out;
}

}  // namespace

// ---------------------------------------------------------------- the server's state

struct AdminServer::Core : std::enable_shared_from_this<Core> {
  Core(Gateway& g, asio::io_context& io, config::Admin c, const config::Config& full)
      : gateway(g), main(io), config(std::move(c)), acceptor(io), tps_timer(io) {
    const char* token = std::getenv(config.token_env.c_str());
    if (token && *token) token_digest = sha256(token);
    redis::ClientConfig rc;
    rc.address = full.redis.address.to_string();
    rc.password = full.redis.password.value;
    rc.request_timeout = full.redis.timeout;
    rc.client_name = "smsgate-" + full.node + "-admin";
    redis = redis::Client::create(io.get_executor(), rc);
    redis_timeout = full.redis.timeout;
    requests = &prometheus::BuildCounter()
                    .Name("smsgate_admin_requests_total")
                    .Help("Requests to the admin server by status code")
                    .Register(registry);
  }

  // ---- connections
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> serve(tcp::socket socket);
  asio::awaitable<Reply> dispatch(Request& req);
  asio::awaitable<Reply> import_opt_outs(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                         http::request_parser<http::empty_body>& header, const Request& req);
  std::optional<Reply> authorize(const http::request_header<>& h) const;

  // ---- routes
  asio::awaitable<Reply> readyz();
  asio::awaitable<Reply> metrics();
  asio::awaitable<Reply> get_opt_out(const policy::Number& n);
  asio::awaitable<Reply> put_opt_out(const policy::Number& n, const Request& req);
  asio::awaitable<Reply> delete_opt_out(const policy::Number& n, const Request& req);
  asio::awaitable<Reply> number(const policy::Number& n);
  asio::awaitable<Reply> dead_tickets(const Request& req);
  asio::awaitable<Reply> replay_ticket(const std::string& id);
  asio::awaitable<Reply> reply_to_ticket(const std::string& id, const Request& req);
  asio::awaitable<Reply> ticket(const std::string& id);
  asio::awaitable<Reply> accounts();
  asio::awaitable<Reply> resume(const std::string& system_id);
  Reply reload();

  // The opt-out field a request names (scope, account, source), or the error reply.
  std::optional<std::string> field_of(const std::string& scope, const std::string& account, const std::string& source,
                                      bool empty_is_all, Reply& error) const;
  std::unique_ptr<policy::Store> store() const {
    return std::make_unique<policy::Store>(redis, store_settings(*gateway.snapshot()));
  }
  asio::awaitable<void> sample_tps();

  Gateway& gateway;
  asio::io_context& main;
  config::Admin config;
  std::string token_digest;  // SHA-256 of the token; empty: none set
  tcp::acceptor acceptor;
  std::shared_ptr<redis::Client> redis;
  std::chrono::milliseconds redis_timeout;
  std::set<beast::tcp_stream*> streams;  // open connections (closed by stop)
  bool stopped = false;
  prometheus::Registry registry;
  prometheus::Family<prometheus::Counter>* requests = nullptr;
  // Submits per second of each account, from AccountState::submitted sampled every 2 s.
  asio::steady_timer tps_timer;
  std::map<std::string, std::pair<uint64_t, double>> tps;  // account -> (last total, rate)
};

AdminServer::AdminServer(Gateway& gateway, asio::io_context& main, config::Admin config, const config::Config& full)
    : core_(std::make_shared<Core>(gateway, main, std::move(config), full)) {}

AdminServer::~AdminServer() { stop(); }

uint16_t AdminServer::port() const {
  boost::system::error_code ec;
  const auto ep = core_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void AdminServer::start() {
  Core& c = *core_;
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(c.config.listen.host, ec);
  tcp::endpoint ep;
  if (!ec) {
    ep = {ip, c.config.listen.port};
  } else {
    tcp::resolver resolver(c.main);
    ep = resolver.resolve(c.config.listen.host, std::to_string(c.config.listen.port)).begin()->endpoint();
  }
  c.acceptor.open(ep.protocol());
  c.acceptor.set_option(asio::socket_base::reuse_address(true));
  c.acceptor.bind(ep);
  c.acceptor.listen();
  c.redis->start();
  asio::co_spawn(c.main, c.accept_loop(), asio::detached);
  asio::co_spawn(c.main, c.sample_tps(), asio::detached);
  log_event(spdlog::level::info, "admin_listening",
            {{"address", c.config.listen.host + ":" + std::to_string(port())},
             {"token", c.token_digest.empty() ? "none" : "set"}});
  if (c.token_digest.empty()) {
    log_event(spdlog::level::warn, "admin_token_missing",
              {{"variable", c.config.token_env},
               {"effect", "/api/* answers 503 until it is set and smsgate restarted; /healthz, /metrics and the "
                          "dashboard's files still work"}});
  }
}

void AdminServer::stop() {
  Core& c = *core_;
  if (c.stopped) return;
  c.stopped = true;
  boost::system::error_code ec;
  c.acceptor.close(ec);
  c.tps_timer.cancel();
  for (auto* s : c.streams) s->socket().close(ec);
  c.redis->stop();
}

// ---------------------------------------------------------------- connections

asio::awaitable<void> AdminServer::Core::accept_loop() {
  auto self = shared_from_this();
  while (!stopped) {
    auto [ec, socket] = co_await acceptor.async_accept(kAwait);
    if (ec) {
      if (stopped || ec == asio::error::operation_aborted) co_return;
      continue;
    }
    if (streams.size() >= AdminServer::kMaxConnections) {
      boost::system::error_code ignored;
      socket.close(ignored);
      continue;
    }
    asio::co_spawn(main, serve(std::move(socket)), asio::detached);
  }
}

std::optional<Reply> AdminServer::Core::authorize(const http::request_header<>& h) const {
  if (token_digest.empty()) {
    return error_reply(http::status::service_unavailable, "no admin token",
                       "set " + config.token_env + " in smsgate's environment and restart it");
  }
  const auto it = h.find(http::field::authorization);
  const std::string_view value = it == h.end() ? std::string_view() : std::string_view(it->value());
  constexpr std::string_view kBearer = "Bearer ";
  if (value.size() <= kBearer.size() || value.substr(0, kBearer.size()) != kBearer) {
    return error_reply(http::status::unauthorized, "unauthorized", "send Authorization: Bearer <token>");
  }
  // Digests of equal length, compared in constant time: neither the token
  // nor its length leaks through timing.
  const std::string given = sha256(value.substr(kBearer.size()));
  if (CRYPTO_memcmp(given.data(), token_digest.data(), token_digest.size()) != 0) {
    return error_reply(http::status::unauthorized, "unauthorized", "wrong token");
  }
  return std::nullopt;
}

asio::awaitable<void> AdminServer::Core::serve(tcp::socket socket) {
  auto self = shared_from_this();
  beast::tcp_stream stream(std::move(socket));
  streams.insert(&stream);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::empty_body> header;
    header.header_limit(kHeaderLimit);
    // Beast's default (1 MiB) would fail the header read itself on a larger
    // Content-Length: no 413, and an import may be 256 x max_body. The
    // limits are set below, once the path is known.
    header.body_limit(boost::none);
    stream.expires_after(AdminServer::kIdleTimeout);
    auto [hec, hn] = co_await http::async_read_header(stream, buffer, header, kAwait);
    Reply reply;
    bool keep_alive = false;
    unsigned version = 11;
    bool head = false;  // a HEAD request: answered without its body
    if (hec) {
      if (hec == http::error::end_of_stream || hec == beast::error::timeout || stopped ||
          hec == asio::error::operation_aborted || buffer.size() == 0) {
        break;
      }
      const bool too_large = hec == http::error::header_limit;
      reply = error_reply(too_large ? http::status::request_header_fields_too_large : http::status::bad_request,
                          "bad request", hec.message());
      reply.close = true;
    } else {
      const auto& h = header.get();
      keep_alive = h.keep_alive();
      version = h.version();
      head = h.method() == http::verb::head;
      std::string why;
      auto req = parse_target(std::string_view(h.target().data(), h.target().size()), why);
      const bool has_body = header.content_length().value_or(0) > 0 || header.chunked();
      if (!req) {
        reply = error_reply(http::status::bad_request, "bad path", why);
        reply.close = has_body;
      } else {
        req->method = h.method();
        const bool open = req->path.empty() || req->path[0] != "api";
        std::optional<Reply> denied = open ? std::nullopt : authorize(h);
        if (denied) {
          reply = std::move(*denied);
          reply.close = has_body;
        } else if (req->is(http::verb::post, {"api", "optouts", "import"})) {
          reply = co_await import_opt_outs(stream, buffer, header, *req);
        } else if (header.content_length() && *header.content_length() > config.max_body) {
          reply = error_reply(http::status::payload_too_large, "body too large",
                              "at most " + std::to_string(config.max_body) + " bytes (admin.max_body)");
          reply.close = true;
        } else {
          http::request_parser<http::string_body> parser(std::move(header));
          parser.body_limit(config.max_body);
          stream.expires_after(AdminServer::kReadTimeout);
          auto [bec, bn] = co_await http::async_read(stream, buffer, parser, kAwait);
          if (bec == http::error::body_limit) {
            reply = error_reply(http::status::payload_too_large, "body too large",
                                "at most " + std::to_string(config.max_body) + " bytes (admin.max_body)");
            reply.close = true;
          } else if (bec) {
            break;
          } else {
            req->body = parser.release().body();
            try {
              reply = co_await dispatch(*req);
            } catch (const std::exception& e) {
              // A bug or Redis gone mid-way: the client hears why, the server goes on.
              log_event(spdlog::level::err, "admin_error", {{"error", e.what()}});
              reply = error_reply(http::status::service_unavailable, "unavailable", e.what());
            }
          }
        }
      }
    }
    if (stopped) break;
    http::response<http::string_body> res{reply.status, version};
    res.set(http::field::server, "smsgate");
    res.set(http::field::content_type, reply.content_type);
    res.set(http::field::cache_control, "no-store");
    if (reply.status == http::status::unauthorized) res.set(http::field::www_authenticate, "Bearer");
    res.keep_alive(keep_alive && !reply.close);
    res.body() = std::move(reply.body);
    res.prepare_payload();
    if (head) res.body().clear();  // HEAD: the length of what GET would send, no body
    requests->Add({{"code", std::to_string(static_cast<unsigned>(reply.status))}}).Increment();
    stream.expires_after(AdminServer::kReadTimeout);
    auto [wec, wn] = co_await http::async_write(stream, res, kAwait);
    if (wec || !res.keep_alive()) break;
  }
  boost::system::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream.socket().close(ec);
  streams.erase(&stream);
}

// ---------------------------------------------------------------- routing

asio::awaitable<Reply> AdminServer::Core::dispatch(Request& req) {
  using V = http::verb;
  const auto& p = req.path;
  if (req.is(V::get, {"healthz"})) co_return json_reply(json::object{{"status", "ok"}});
  const bool uses_redis = req.is(V::get, {"readyz"}) || req.is(V::get, {"metrics"}) || (!p.empty() && p[0] == "api");
  if (uses_redis && !redis->connected()) {
    // Right after start (or while Redis is away) the connection may not be
    // up yet: wait for it, as long as a command would. Still down: readyz
    // says so, metrics leave the queue depth out, the API answers 503.
    const bool up = co_await redis->wait_for(redis::State::connected, redis_timeout);
    (void)up;
  }
  if (req.is(V::get, {"readyz"})) co_return co_await readyz();
  if (req.is(V::get, {"metrics"})) co_return co_await metrics();
  if (p.empty() || p[0] != "api") {
    if (req.method != V::get && req.method != V::head) {
      co_return error_reply(http::status::method_not_allowed, "method not allowed", "the dashboard's files are read-only");
    }
    std::string path = "/";
    for (std::size_t i = 0; i < p.size(); ++i) path += (i ? "/" : "") + p[i];
    if (auto asset = dashboard_asset(path)) {
      co_return Reply{http::status::ok, std::string(asset->content_type), std::string(asset->body)};
    }
    co_return error_reply(http::status::not_found, "not found", "no such path: " + path);
  }

  // ---- /api: the token was checked.
  if (p.size() == 3 && p[1] == "optouts" && p[2] != "import") {
    std::string why;
    const auto n = parse_number(p[2], why);
    if (!n) co_return error_reply(http::status::bad_request, "bad number", why);
    if (req.method == V::get) co_return co_await get_opt_out(*n);
    if (req.method == V::put) co_return co_await put_opt_out(*n, req);
    if (req.method == V::delete_) co_return co_await delete_opt_out(*n, req);
    co_return error_reply(http::status::method_not_allowed, "method not allowed", "GET, PUT or DELETE");
  }
  if (req.is(V::get, {"api", "numbers", "*"})) {
    std::string why;
    const auto n = parse_number(p[2], why);
    if (!n) co_return error_reply(http::status::bad_request, "bad number", why);
    co_return co_await number(*n);
  }
  if (req.is(V::get, {"api", "tickets"})) co_return co_await dead_tickets(req);
  if (req.is(V::get, {"api", "tickets", "*"})) {
    if (!is_ticket_id(p[2])) {
      co_return error_reply(http::status::bad_request, "bad ticket id", "a ticket id is T- and 16 hex digits");
    }
    co_return co_await ticket(p[2]);
  }
  if (p.size() == 4 && p[1] == "tickets" && (p[3] == "replay" || p[3] == "reply")) {
    if (!is_ticket_id(p[2])) {
      co_return error_reply(http::status::bad_request, "bad ticket id", "a ticket id is T- and 16 hex digits");
    }
    if (req.method != V::post) co_return error_reply(http::status::method_not_allowed, "method not allowed", "POST");
    if (p[3] == "replay") co_return co_await replay_ticket(p[2]);
    co_return co_await reply_to_ticket(p[2], req);
  }
  if (req.is(V::get, {"api", "accounts"})) co_return co_await accounts();
  if (req.is(V::post, {"api", "accounts", "*", "resume"})) co_return co_await resume(p[2]);
  if (req.is(V::get, {"api", "config"})) {
    co_return Reply{http::status::ok, "application/yaml", config::redacted_yaml(gateway.config())};
  }
  if (req.is(V::post, {"api", "reload"})) co_return reload();
  if (req.is(V::get, {"api", "live"})) co_return Reply{http::status::ok, "application/json", gateway.live().json()};
  co_return error_reply(http::status::not_found, "not found", "no such endpoint (docs/admin.md lists them)");
}

// ---------------------------------------------------------------- health

asio::awaitable<Reply> AdminServer::Core::readyz() {
  std::vector<std::string> problems;
  const auto ping = co_await redis->command("PING");
  if (!ping.ok()) problems.push_back("redis: " + (ping.error ? ping.error.message() : redis::to_string(ping.reply)));
  const auto snapshot = gateway.snapshot();
  bool bound = false;
  for (const auto& [name, carrier] : snapshot->carriers) bound = bound || carrier->has_bound();
  if (!bound) problems.push_back("no carrier is bound");
  if (gateway.stopping()) problems.push_back("shutting down");
  if (problems.empty()) co_return json_reply(json::object{{"status", "ready"}});
  std::string detail;
  for (const auto& p : problems) detail += (detail.empty() ? "" : "; ") + p;
  co_return error_reply(http::status::service_unavailable, "not ready", detail);
}

asio::awaitable<Reply> AdminServer::Core::metrics() {
  ScrapeInputs in;
  in.snapshot = gateway.snapshot();
  for (unsigned w = 0; w < gateway.worker_count() && !gateway.stopping(); ++w) {
    auto part = co_await asio::co_spawn(gateway.worker(w).io(), window_usage(in.snapshot, w), asio::use_awaitable);
    for (const auto& [name, usage] : part) {
      in.windows[name].first += usage.first;
      in.windows[name].second += usage.second;
    }
  }
  if (redis->connected()) {
    auto s = store();
    const auto [ec, depth] = co_await s->deferred_depth();
    if (!ec) {
      in.depth_known = true;
      in.deferred_due = depth.first;
      in.deferred_taken = depth.second;
    }
  }
  GatewayCollector collector(gateway, in);
  auto families = registry.Collect();
  auto mine = collector.Collect();
  families.insert(families.end(), std::make_move_iterator(mine.begin()), std::make_move_iterator(mine.end()));
  co_return Reply{http::status::ok, "text/plain; version=0.0.4; charset=utf-8",
                  prometheus::TextSerializer().Serialize(families)};
}

// ---------------------------------------------------------------- opt-outs

std::optional<std::string> AdminServer::Core::field_of(const std::string& scope, const std::string& account,
                                                       const std::string& source, bool empty_is_all,
                                                       Reply& error) const {
  if (scope.empty() && empty_is_all) return std::string();
  if (scope.empty() || scope == "global") return std::string("*");
  if (scope == "account") {
    if (!is_system_id(account) || !gateway.snapshot()->account(account)) {
      error = error_reply(http::status::bad_request, "unknown account",
                          account.empty() ? "scope account needs \"account\"" : "no account '" + account + "' is configured");
      return std::nullopt;
    }
    return policy::opt_out_field(policy::OptOutScope::account, account, "");
  }
  if (scope == "source") {
    if (source.empty() || source.size() > 21 ||
        !std::all_of(source.begin(), source.end(), [](char c) { return c > ' ' && c < 0x7F; })) {
      error = error_reply(http::status::bad_request, "bad source",
                          "scope source needs \"source\": the sender address (1 to 21 printable characters)");
      return std::nullopt;
    }
    return policy::opt_out_field(policy::OptOutScope::source, "", source);
  }
  error = error_reply(http::status::bad_request, "bad scope", "scope is global, account or source");
  return std::nullopt;
}

asio::awaitable<Reply> AdminServer::Core::get_opt_out(const policy::Number& n) {
  auto s = store();
  const auto [ec, state] = co_await s->lookup_opt_out("+" + n.e164);
  if (ec) co_return error_reply(http::status::service_unavailable, "redis unavailable", ec.message());
  json::object out{{"number", "+" + n.e164}};
  for (auto& field : opt_out_json(state)) out[field.key()] = std::move(field.value());
  co_return json_reply(std::move(out));
}

asio::awaitable<Reply> AdminServer::Core::put_opt_out(const policy::Number& n, const Request& req) {
  Reply error;
  const auto body = object_body(req, error);
  if (!body) co_return error;
  std::string scope, account, source, reason;
  if (!string_member(*body, "scope", scope, error) || !string_member(*body, "account", account, error) ||
      !string_member(*body, "source", source, error) || !string_member(*body, "reason", reason, error)) {
    co_return error;
  }
  const auto field = field_of(scope, account, source, false, error);
  if (!field) co_return error;
  policy::OptOutRecord record;
  record.field = *field;
  record.at_ms = now_ms();
  record.source = "admin";
  record.reason = reason.empty() ? "admin API" : reason.substr(0, 500);
  auto s = store();
  const auto [ec, added] = co_await s->add_opt_out("+" + n.e164, record);
  if (ec) co_return error_reply(http::status::service_unavailable, "redis unavailable", ec.message());
  log_event(spdlog::level::info, "opt_out",
            {{"number", policy::mask_number(n.e164)}, {"field", *field}, {"source", "admin"}, {"new", added ? "yes" : "no"}});
  co_return json_reply(json::object{{"number", "+" + n.e164}, {"scope", scope_name(*field)}, {"field", *field},
                                    {"added", added}},
                       added ? http::status::created : http::status::ok);
}

asio::awaitable<Reply> AdminServer::Core::delete_opt_out(const policy::Number& n, const Request& req) {
  Reply error;
  const auto field = field_of(req.param("scope"), req.param("account"), req.param("source"), true, error);
  if (!field) co_return error;
  const std::string reason = req.param("reason", "admin API").substr(0, 500);
  auto s = store();
  const auto [ec, removed] = co_await s->remove_opt_out("+" + n.e164, *field, "admin", reason, SysClock::now());
  if (ec) co_return error_reply(http::status::service_unavailable, "redis unavailable", ec.message());
  log_event(spdlog::level::info, "opt_out_removed",
            {{"number", policy::mask_number(n.e164)}, {"field", field->empty() ? "all" : *field}, {"source", "admin"}});
  co_return json_reply(json::object{{"number", "+" + n.e164}, {"removed", removed},
                                    {"scope", field->empty() ? "all" : scope_name(*field)}});
}

// The CSV is read as it arrives (never whole in memory): one number a line,
// in its first column; blank lines, '#' comments and a header line without
// digits are skipped. Numbers are written in batches of kImportBatch.
asio::awaitable<Reply> AdminServer::Core::import_opt_outs(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                                          http::request_parser<http::empty_body>& header,
                                                          const Request& req) {
  Reply error;
  const auto field = field_of(req.param("scope"), req.param("account"), req.param("source"), false, error);
  if (!field) {
    error.close = true;
    co_return error;
  }
  const std::string region = req.param("region");
  if (!region.empty() && (region.size() != 2 || !std::isupper(static_cast<unsigned char>(region[0])) ||
                          !std::isupper(static_cast<unsigned char>(region[1])))) {
    auto r = error_reply(http::status::bad_request, "bad region", "region is an ISO 3166 code such as CN");
    r.close = true;
    co_return r;
  }
  policy::OptOutRecord record;
  record.field = *field;
  record.at_ms = now_ms();
  record.source = "admin";
  record.reason = req.param("reason", "import").substr(0, 500);
  if (!redis->connected()) {
    const bool up = co_await redis->wait_for(redis::State::connected, redis_timeout);
    (void)up;
  }

  // An import may be much larger than an API call: 256 times admin.max_body.
  const uint64_t limit = static_cast<uint64_t>(config.max_body) * 256;
  http::request_parser<http::buffer_body> parser(std::move(header));
  parser.body_limit(limit);
  auto s = store();
  uint64_t lines = 0, added = 0, existing = 0, rejected = 0;
  json::array rejects;
  std::vector<std::string> batch;
  std::string pending;
  bool skipping = false;  // inside an over-long line, dropping its rest
  std::vector<char> chunk(64 * 1024);
  boost::system::error_code write_error;

  const auto flush = [&]() -> asio::awaitable<void> {
    if (batch.empty() || write_error) co_return;
    const auto r = co_await s->import_opt_outs(batch, record);
    if (r.error) {
      write_error = r.error;
    } else {
      added += r.added;
      existing += r.existing;
    }
    batch.clear();
  };
  const auto take_line = [&](std::string_view line) {
    ++lines;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto comma = line.find(',');
    std::string_view cell = line.substr(0, comma);
    while (!cell.empty() && (cell.front() == ' ' || cell.front() == '\t' || cell.front() == '"')) cell.remove_prefix(1);
    while (!cell.empty() && (cell.back() == ' ' || cell.back() == '\t' || cell.back() == '"')) cell.remove_suffix(1);
    if (cell.empty() || cell.front() == '#') return;
    if (lines == 1 && cell.find_first_of("0123456789") == std::string_view::npos) return;  // a header
    std::string why;
    const auto n = policy::normalise_number(cell, policy::ton::unknown, region, &why);
    if (!n) {
      ++rejected;
      if (rejects.size() < kImportRejectsShown) {
        rejects.push_back(json::object{{"line", lines}, {"text", std::string(cell.substr(0, 40))}, {"reason", why}});
      }
      return;
    }
    batch.push_back("+" + n->e164);
  };

  while (!parser.is_done()) {
    parser.get().body().data = chunk.data();
    parser.get().body().size = chunk.size();
    stream.expires_after(AdminServer::kReadTimeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kAwait);
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::body_limit) {
      auto r = error_reply(http::status::payload_too_large, "body too large",
                           "an import is at most " + std::to_string(limit) + " bytes; split it (the " +
                               std::to_string(added + existing) + " numbers before this point were written)");
      r.close = true;
      co_return r;
    }
    if (ec) {
      auto r = error_reply(http::status::bad_request, "body not read", ec.message());
      r.close = true;
      co_return r;
    }
    pending.append(chunk.data(), chunk.size() - parser.get().body().size);
    std::size_t start = 0;
    if (skipping) {  // the rest of an over-long line read before: dropped up to its end
      const auto nl = pending.find('\n');
      if (nl == std::string::npos) {
        pending.clear();
      } else {
        skipping = false;
        start = nl + 1;
      }
    }
    for (auto nl = pending.find('\n', start); !skipping && nl != std::string::npos; nl = pending.find('\n', start)) {
      take_line(std::string_view(pending).substr(start, nl - start));
      start = nl + 1;
    }
    pending.erase(0, std::min(start, pending.size()));
    if (pending.size() > 1024) {
      // A long line (an export with a notes column): its first column is
      // within these bytes; the rest of it, up to its end, is not read.
      take_line(std::string_view(pending).substr(0, 1024));
      pending.clear();
      skipping = true;
    }
    if (batch.size() >= kImportBatch) co_await flush();
  }
  if (!pending.empty() && !skipping) take_line(pending);
  co_await flush();
  if (write_error) {
    co_return error_reply(http::status::service_unavailable, "redis unavailable",
                          write_error.message() + " (" + std::to_string(added + existing) + " numbers were written)");
  }
  log_event(spdlog::level::info, "opt_out_import",
            {{"added", std::to_string(added)}, {"existing", std::to_string(existing)},
             {"rejected", std::to_string(rejected)}, {"field", *field}, {"source", "admin"}});
  co_return json_reply(json::object{{"added", added},
                                    {"existing", existing},
                                    {"rejected", rejected},
                                    {"lines", lines},
                                    {"scope", scope_name(*field)},
                                    {"rejected_lines", std::move(rejects)}});
}

// ---------------------------------------------------------------- a number's story

asio::awaitable<Reply> AdminServer::Core::number(const policy::Number& n) {
  const auto snapshot = gateway.snapshot();
  const PolicyRuntime& rt = *snapshot->policy;
  const std::string plus = "+" + n.e164;
  auto s = store();
  const auto [oec, state] = co_await s->lookup_opt_out(plus);
  if (oec) co_return error_reply(http::status::service_unavailable, "redis unavailable", oec.message());
  const auto [hec, history] = co_await s->history(plus);
  if (hec) co_return error_reply(http::status::service_unavailable, "redis unavailable", hec.message());

  json::object out;
  out["number"] = plus;
  out["masked"] = policy::mask_number(n.e164);
  out["region"] = n.region;
  std::vector<const date::time_zone*> zones;
  if (rt.zones) zones = rt.zones->zones_for(n.e164, n.region);
  json::array zone_names;
  for (const auto* z : zones) zone_names.push_back(json::string(z->name()));
  out["zones"] = std::move(zone_names);

  out["opt_out"] = opt_out_json(state);

  // Recent sends, and the accounts and sources that sent them (for the caps kept per account or source).
  json::array sends;
  std::set<std::string> accounts, sources;
  for (const auto& entry : history) {
    boost::system::error_code ec;
    auto v = json::parse(entry, ec);
    if (ec || !v.is_object()) continue;
    const auto& o = v.as_object();
    if (const auto* a = o.if_contains("account"); a && a->is_string()) accounts.insert(std::string(a->as_string()));
    if (const auto* src = o.if_contains("source"); src && src->is_string()) sources.insert(std::string(src->as_string()));
    if (const auto* t = o.if_contains("t"); t && t->is_int64()) v.as_object()["at"] = iso_utc(from_ms(t->as_int64()));
    sends.push_back(std::move(v));
  }
  out["recent_sends"] = std::move(sends);

  const int64_t now = now_ms();
  json::array caps;
  for (const auto& rule : rt.store->caps) {
    std::vector<std::pair<std::string, std::string>> keyed;  // (label, key)
    switch (rule.per) {
      case policy::CapScope::recipient: keyed.emplace_back("", policy::keys::cap(plus, rule, "", "")); break;
      case policy::CapScope::recipient_account:
        for (const auto& a : accounts) keyed.emplace_back(a, policy::keys::cap(plus, rule, a, ""));
        break;
      case policy::CapScope::recipient_source:
        for (const auto& src : sources) keyed.emplace_back(src, policy::keys::cap(plus, rule, "", src));
        break;
    }
    const std::string from = std::to_string(now - rule.window.count());
    json::array counts;
    for (const auto& [label, key] : keyed) {
      const auto r = co_await redis->command("ZCOUNT", key, from, "+inf");
      if (!r.ok() || !r.reply.is_integer()) co_return error_reply(http::status::service_unavailable, "redis unavailable", "ZCOUNT failed");
      json::object c{{"count", r.reply.integer}, {"remaining", std::max<int64_t>(0, rule.limit - r.reply.integer)}};
      if (rule.per == policy::CapScope::recipient_account) c["account"] = label;
      if (rule.per == policy::CapScope::recipient_source) c["source"] = label;
      counts.push_back(std::move(c));
    }
    const std::string per = rule.per == policy::CapScope::recipient           ? "recipient"
                            : rule.per == policy::CapScope::recipient_account ? "recipient+account"
                                                                              : "recipient+source";
    caps.push_back(json::object{{"rule", rule.name},
                                {"per", per},
                                {"limit", rule.limit},
                                {"window_ms", rule.window.count()},
                                {"counts", std::move(counts)}});
  }
  out["caps"] = std::move(caps);

  json::object quiet;
  json::array rules;
  for (const auto* r : rt.quiet.for_region(n.region)) rules.push_back(json::string(r->name));
  quiet["rules"] = std::move(rules);
  if (!rt.quiet.rules().empty() && rt.zones) {
    const auto d = rt.quiet.evaluate(n.region, zones, SysClock::now());
    quiet["quiet_now"] = !d.allowed;
    if (!d.allowed) {
      quiet["rule"] = d.rule;
      quiet["action"] = d.action == policy::QuietAction::defer ? "defer" : "reject";
      quiet["opens"] = d.next_open ? json::value(iso_utc(*d.next_open)) : json::value(nullptr);
    }
  } else {
    quiet["quiet_now"] = false;
  }
  out["quiet_hours"] = std::move(quiet);
  out["policy"] = rt.enabled();
  co_return json_reply(std::move(out));
}

// ---------------------------------------------------------------- tickets

asio::awaitable<Reply> AdminServer::Core::dead_tickets(const Request& req) {
  const std::string state = req.param("state", "dead");
  if (state != "dead") co_return error_reply(http::status::bad_request, "bad state", "only state=dead is listed");
  const std::string count_text = req.param("count", "100");
  std::size_t count = 0;
  const auto [ptr, perr] = std::from_chars(count_text.data(), count_text.data() + count_text.size(), count);
  if (perr != std::errc() || ptr != count_text.data() + count_text.size() || count < 1 || count > 1000) {
    co_return error_reply(http::status::bad_request, "bad count", "count is a number from 1 to 1000");
  }
  const std::string after = req.param("after");
  if (!after.empty() && after.find_first_not_of("0123456789-") != std::string::npos) {
    co_return error_reply(http::status::bad_request, "bad after", "after is an entry id of the previous page");
  }
  const auto [ec, dead] = co_await list_dead(*redis, count, after);
  if (ec) co_return error_reply(http::status::service_unavailable, "redis unavailable", ec.message());
  json::array items;
  for (const auto& d : dead) {
    boost::system::error_code jec;
    auto ticket = json::parse(d.ticket, jec);
    items.push_back(json::object{{"entry_id", d.entry_id},
                                 {"id", d.id},
                                 {"error", d.error},
                                 {"attempts", d.attempts},
                                 {"first_attempt", iso_utc(from_ms(d.first_attempt_ms))},
                                 {"dead", iso_utc(from_ms(d.dead_ms))},
                                 {"ticket", jec ? json::value(d.ticket) : std::move(ticket)}});
  }
  json::object out{{"state", "dead"}, {"tickets", std::move(items)}};
  if (dead.size() == count) out["next"] = dead.back().entry_id;
  co_return json_reply(std::move(out));
}

// What smsgate keeps of a ticket after it was written: whom it concerns
// (for the closed-loop reply) and how often ops answered; the ticket itself
// is in the ticket system.
asio::awaitable<Reply> AdminServer::Core::ticket(const std::string& id) {
  const auto contact = co_await redis->command("HGETALL", admin_ticket_key(id));
  if (!contact.ok()) co_return error_reply(http::status::service_unavailable, "redis unavailable", "HGETALL failed");
  json::object out{{"id", id}};
  for (std::size_t i = 0; i + 1 < contact.reply.elements.size(); i += 2) {
    out[contact.reply.elements[i].as_string()] = contact.reply.elements[i + 1].as_string();
  }
  if (out.size() == 1) {
    co_return error_reply(http::status::not_found, "unknown ticket",
                          "nothing is kept for " + id + " (unknown, or older than 90 days)");
  }
  co_return json_reply(std::move(out));
}

asio::awaitable<Reply> AdminServer::Core::replay_ticket(const std::string& id) {
  const auto ec = co_await replay_dead(*redis, id);
  if (ec == TicketErrc::not_found) co_return error_reply(http::status::not_found, "unknown ticket", "no dead ticket " + id);
  if (ec) co_return error_reply(http::status::service_unavailable, "redis unavailable", ec.message());
  log_event(spdlog::level::info, "ticket_replayed", {{"ticket", id}, {"source", "admin"}});
  co_return json_reply(json::object{{"id", id}, {"replayed", true}});
}

// The closed loop: ops' answer to a complainant, sent as smsgate's own
// transactional message from the address the complaint came to, through a
// worker (Worker::answer_phone), and audited.
asio::awaitable<Reply> AdminServer::Core::reply_to_ticket(const std::string& id, const Request& req) {
  Reply error;
  const auto body = object_body(req, error);
  if (!body) co_return error;
  std::string text;
  if (!string_member(*body, "text", text, error)) co_return error;
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    co_return error_reply(http::status::bad_request, "no text", "send {\"text\": \"...\"}");
  }
  if (text.size() > kMaxReplyText) {
    co_return error_reply(http::status::bad_request, "text too long", "at most 4000 bytes");
  }
  const auto contact = co_await redis->command("HGETALL", admin_ticket_key(id));
  if (!contact.ok()) co_return error_reply(http::status::service_unavailable, "redis unavailable", "HGETALL failed");
  std::map<std::string, std::string> fields;
  for (std::size_t i = 0; i + 1 < contact.reply.elements.size(); i += 2) {
    fields[std::string(contact.reply.elements[i].as_string())] = std::string(contact.reply.elements[i + 1].as_string());
  }
  if (fields["number"].size() < 2 || fields["to"].empty()) {
    co_return error_reply(http::status::not_found, "unknown ticket",
                          "no contact is kept for " + id + " (unknown, or older than 90 days)");
  }
  const std::string digits = fields["number"].substr(1);
  const auto snapshot = gateway.snapshot();
  const auto* route = snapshot->route_for(digits);
  bool bound = false;
  if (route) {
    for (const Carrier* c : *route) bound = bound || (!c->retired.load() && c->has_bound());
  }
  if (!bound) co_return error_reply(http::status::service_unavailable, "no carrier", "no carrier of this number's route is bound");
  const smpp::Address from{static_cast<uint8_t>(std::atoi(fields["ton"].c_str())),
                           static_cast<uint8_t>(std::atoi(fields["npi"].c_str())), fields["to"]};
  const std::string kind = "admin:" + id;
  Worker& worker = gateway.worker(0);
  co_await asio::co_spawn(worker.io(), worker.answer_phone(digits, from, text, kind, std::chrono::milliseconds(0)),
                          asio::use_awaitable);
  const std::string at = std::to_string(now_ms());
  const auto audit = co_await redis->command("XADD", kAdminAudit, "MAXLEN", "~", "1000000", "*", "action", "ticket_reply",
                                             "ticket", id, "number", fields["number"], "from", fields["to"], "text", text,
                                             "at_ms", at);
  const auto replied = co_await redis->command("HINCRBY", admin_ticket_key(id), "replies", "1");
  log_event(spdlog::level::info, "ticket_replied",
            {{"ticket", id}, {"to", policy::mask_number(digits)}, {"from", fields["to"]}, {"audited", audit.ok() ? "yes" : "no"}});
  co_return json_reply(json::object{{"ticket", id},
                                    {"to", fields["number"]},
                                    {"from", fields["to"]},
                                    {"account", fields["account"]},
                                    {"replies", replied.ok() && replied.reply.is_integer() ? replied.reply.integer : 0},
                                    {"status", "sent to the carrier"}},
                       http::status::accepted);
}

// ---------------------------------------------------------------- accounts

asio::awaitable<void> AdminServer::Core::sample_tps() {
  auto self = shared_from_this();
  constexpr auto kEvery = std::chrono::seconds(2);
  while (!stopped) {
    const auto snapshot = gateway.snapshot();
    std::map<std::string, std::pair<uint64_t, double>> next;
    for (const auto& [id, entry] : snapshot->accounts) {
      const uint64_t total = entry.state->submitted.load(std::memory_order_relaxed);
      const auto it = tps.find(id);
      const double rate = it == tps.end() ? 0.0 : static_cast<double>(total - it->second.first) / kEvery.count();
      next[id] = {total, rate};
    }
    tps = std::move(next);
    tps_timer.expires_after(kEvery);
    auto [ec] = co_await tps_timer.async_wait(kAwait);
    if (ec) co_return;
  }
}

asio::awaitable<Reply> AdminServer::Core::accounts() {
  const auto snapshot = gateway.snapshot();
  std::map<std::string, AccountGuardState> guard;
  std::string guard_error;
  try {
    auto states = co_await gateway.guard().states();
    for (auto& s : states) guard[s.system_id] = std::move(s);
  } catch (const std::exception& e) {
    guard_error = e.what();
  }
  json::array list;
  std::vector<std::string> ids;
  for (const auto& [id, entry] : snapshot->accounts) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  for (const auto& id : ids) {
    const AccountEntry& entry = snapshot->accounts.at(id);
    json::object a{{"system_id", id},
                   {"traffic", config::to_string(entry.config.traffic)},
                   {"binds", entry.state->binds.load(std::memory_order_relaxed)},
                   {"max_binds", entry.config.max_binds},
                   {"max_tps", entry.config.max_tps},
                   {"tps", tps.contains(id) ? tps[id].second : 0.0}};
    if (const auto it = guard.find(id); it != guard.end()) {
      const auto& g = it->second;
      a["complaints"] = g.complaints;
      a["delivered"] = g.delivered;
      a["complaints_per_1000"] = g.per_1000;
      a["state"] = g.suspended ? "suspended" : g.warned ? "warned" : "active";
      if (g.suspended) {
        a["suspended_at"] = iso_utc(from_ms(g.suspended_at_ms));
        a["reason"] = g.reason;
      }
    } else {
      a["state"] = entry.state->suspended.load(std::memory_order_relaxed) ? "suspended" : "active";
    }
    list.push_back(std::move(a));
  }
  json::object out{{"accounts", std::move(list)}};
  if (!guard_error.empty()) out["complaint_rate_error"] = guard_error;
  co_return json_reply(std::move(out));
}

asio::awaitable<Reply> AdminServer::Core::resume(const std::string& system_id) {
  if (!is_system_id(system_id) || !gateway.snapshot()->account(system_id)) {
    co_return error_reply(http::status::not_found, "unknown account", "no account '" + system_id + "' is configured");
  }
  bool resumed = false;
  std::string failure;
  try {
    resumed = co_await gateway.guard().resume(system_id);
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) co_return error_reply(http::status::service_unavailable, "redis unavailable", failure);
  log_event(spdlog::level::info, "account_resume", {{"account", system_id}, {"source", "admin"}, {"was_suspended", resumed ? "yes" : "no"}});
  co_return json_reply(json::object{{"system_id", system_id}, {"resumed", resumed},
                                    {"detail", resumed ? "the suspension is lifted on every node" : "it was not suspended"}});
}

// ---------------------------------------------------------------- configuration

Reply AdminServer::Core::reload() {
  std::vector<std::string> diagnostics;
  const bool taken = gateway.reload(&diagnostics);
  json::array list;
  for (const auto& d : diagnostics) list.push_back(json::string(d));
  if (!taken) {
    json::object o{{"error", "invalid configuration"},
                   {"detail", "the file has errors; the configuration in use is kept"},
                   {"diagnostics", std::move(list)}};
    return json_reply(std::move(o), http::status::unprocessable_entity);
  }
  return json_reply(json::object{{"reloaded", true}, {"diagnostics", std::move(list)}});
}

}  // namespace smsgate::gateway
