// The admin HTTP server against a running smsgate (real redis-server, the
// carrier simulator, an ESME): every endpoint with good and bad input and
// without or with a wrong token; the metrics text and how it moves with
// traffic; an opt-out made through the API refusing the next submit; a CSV
// import; the closed-loop reply reaching the simulator; a reload of a broken
// file answering its errors; bodies over admin.max_body; paths that try to
// leave their place. gateway/admin.cpp, docs/admin.md.
#include "gateway/time_text.hpp"
#include "tests/gateway/policy_harness.hpp"

namespace smsgate::gateway::test {
namespace {

constexpr uint32_t OK = status::ESME_ROK;
const std::string kToken = "admin-test-token-5f1c";
const std::string kShortCode = "10690000";
const std::string kFrench = "33612345678";  // where traffic goes: no quiet hours for it
const std::string kComplaint = "你们天天发短信骚扰我，我要投诉到12321";

struct Http {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  json::value json() const {
    error_code ec;
    auto v = json::parse(body, ec);
    return ec ? json::value() : v;
  }
  std::string str(std::string_view key) const {
    const auto v = json();
    if (!v.is_object()) return {};
    const auto* x = v.as_object().if_contains(key);
    return x && x->is_string() ? std::string(x->as_string()) : std::string();
  }
};

// One request, Connection: close; `token` empty: no Authorization header.
Http http(uint16_t port, const std::string& method, const std::string& target, const std::string& token = kToken,
          const std::string& body = {}, const std::string& content_type = "application/json") {
  asio::io_context io;
  net::tcp::socket s(io);
  s.connect({asio::ip::address_v4::loopback(), port});
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  if (!token.empty()) req += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  error_code ec;
  asio::write(s, asio::buffer(req), ec);
  std::string resp;
  asio::read(s, asio::dynamic_buffer(resp), ec);
  Http out;
  const auto end = resp.find("\r\n\r\n");
  if (resp.size() < 12 || end == std::string::npos) return out;
  out.status = std::stoi(resp.substr(9, 3));
  std::istringstream head(resp.substr(0, end));
  std::string line;
  std::getline(head, line);
  while (std::getline(head, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ')) value.erase(0, 1);
    while (!value.empty() && (value.back() == '\r')) value.pop_back();
    out.headers[name] = value;
  }
  out.body = resp.substr(end + 4);
  return out;
}

// The value of one sample line ("name{labels}") of the metrics text; -1 when absent.
double sample(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

std::string iso_now() { return iso_utc(SysClock::now()); }

// China's weekday now as the config writes it, and every other one: a
// quiet-hours rule for CN allowed only on those is closed all of today.
std::string other_days_than_today_in_china() {
  static const char* names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
  const auto china = std::chrono::floor<std::chrono::days>(SysClock::now() + std::chrono::hours(8));
  const unsigned today = std::chrono::weekday(china).c_encoding();
  std::string out;
  for (unsigned d = 0; d < 7; ++d) {
    if (d != today) out += std::string(out.empty() ? "" : ", ") + names[d];
  }
  return out;
}

// smsgate with a policy (a daily cap of 5, history with texts, CN closed all
// day), complaint answers off, and the admin server on a port of its own.
struct AdminGateway {
  explicit AdminGateway(bool with_token = true, uint32_t max_body = 4096)
      : redis(), smsc(dir, {}), cfg(redis), admin_port(free_port()) {
    cfg.account("acme");
    cfg.account("beta");
    cfg.carrier("carrier-a", smsc.port());
    cfg.policy = daily_cap(5) + "  history:\n    text: true\n  quiet_hours:\n    - name: cn-closed-today\n"
                 "      regions: [CN]\n      allow: \"08:00-21:00\"\n      days: [" + other_days_than_today_in_china() +
                 "]\n      action: reject\n  timezones:\n    \"86\": Asia/Shanghai\n";
    cfg.admin = "  listen: 127.0.0.1:" + std::to_string(admin_port) + "\n  max_body: " + std::to_string(max_body) + "\n";
    if (with_token) cfg.extra_env["SMSGATE_ADMIN_TOKEN"] = kToken;
    gw = std::make_unique<GatewayProcess>(dir, cfg);
    EXPECT_TRUE(eventually([&] { return accepts_connections(admin_port); })) << gw->log();
  }
  Http get(const std::string& target, const std::string& token = kToken) { return http(admin_port, "GET", target, token); }
  Http post(const std::string& target, const std::string& body = {}, const std::string& token = kToken) {
    return http(admin_port, "POST", target, token, body);
  }
  Http put(const std::string& target, const std::string& body = {}, const std::string& token = kToken) {
    return http(admin_port, "PUT", target, token, body);
  }
  Http del(const std::string& target, const std::string& token = kToken) {
    return http(admin_port, "DELETE", target, token);
  }

  TempDir dir;
  RedisServer redis;
  Simulator smsc;
  GatewayConfig cfg;
  uint16_t admin_port;
  std::unique_ptr<GatewayProcess> gw;
  asio::io_context io;
};

// ---------------------------------------------------------------- tokens and health

TEST(AdminAuth, HealthMetricsAndTheDashboardNeedNoTokenTheApiDoes) {
  AdminGateway t;
  EXPECT_EQ(t.get("/healthz", "").status, 200);
  const Http ready = t.get("/readyz", "");
  EXPECT_EQ(ready.status, 200) << ready.body;
  EXPECT_EQ(t.get("/metrics", "").status, 200);
  Http page = t.get("/", "");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.headers["content-type"].rfind("text/html", 0), 0u) << page.headers["content-type"];

  for (const std::string& target : {"/api/accounts", "/api/live", "/api/config", "/api/optouts/+8613800138000",
                                    "/api/tickets?state=dead"}) {
    Http none = t.get(target, "");
    EXPECT_EQ(none.status, 401) << target;
    EXPECT_EQ(none.str("error"), "unauthorized") << none.body;
    EXPECT_EQ(none.headers["www-authenticate"], "Bearer");
    EXPECT_EQ(t.get(target, "wrong-token").status, 401) << target;
    EXPECT_EQ(t.get(target, kToken + "x").status, 401) << target;
    EXPECT_EQ(t.get(target).status, 200) << target << ": " << t.get(target).body;
  }
  EXPECT_EQ(t.post("/api/reload", "", "").status, 401);
  EXPECT_EQ(t.post("/api/accounts/acme/resume", "", "nope").status, 401);
  EXPECT_EQ(t.get("/api/nothing").status, 404);
  EXPECT_EQ(t.get("/api/nothing").str("error"), "not found");
  EXPECT_EQ(t.get("/nothing.js", "").status, 404);
}

TEST(AdminAuth, WithoutTheTokenVariableTheApiAnswers503AndTheRestWorks) {
  AdminGateway t(false);
  const Http api = t.get("/api/accounts");
  EXPECT_EQ(api.status, 503);
  EXPECT_EQ(api.str("error"), "no admin token");
  EXPECT_NE(api.str("detail").find("SMSGATE_ADMIN_TOKEN"), std::string::npos) << api.body;
  EXPECT_EQ(t.get("/healthz", "").status, 200);
  EXPECT_EQ(t.get("/metrics", "").status, 200);
  EXPECT_NE(t.gw->log().find("\"event\":\"admin_token_missing\""), std::string::npos);
}

TEST(AdminHealth, ReadyzSaysWhyWhenNoCarrierIsBound) {
  AdminGateway t;
  t.smsc.process().kill();
  Http r;
  EXPECT_TRUE(eventually([&] { return (r = t.get("/readyz", "")).status == 503; }, 10000ms)) << r.body;
  EXPECT_EQ(r.str("error"), "not ready");
  EXPECT_NE(r.str("detail").find("no carrier is bound"), std::string::npos) << r.body;
  EXPECT_EQ(t.get("/healthz", "").status, 200);
}

// ---------------------------------------------------------------- metrics

TEST(AdminMetrics, TheFamiliesAreThereAndMoveWithTraffic) {
  AdminGateway t;
  const std::string before = t.get("/metrics", "").body;
  for (const char* family : {"smsgate_binds", "smsgate_submits_total", "smsgate_deferred_queue_depth",
                             "smsgate_receipts_total", "smsgate_replies_total", "smsgate_tickets_total",
                             "smsgate_redis_latency_seconds", "smsgate_submit_latency_seconds",
                             "smsgate_carrier_window_occupancy", "smsgate_events_total"}) {
    EXPECT_NE(before.find("# TYPE " + std::string(family) + " "), std::string::npos) << family << "\n" << before;
  }
  EXPECT_EQ(sample(before, "smsgate_submits_total{outcome=\"sent\"}"), 0) << before;
  EXPECT_EQ(sample(before, "smsgate_binds{kind=\"carrier\",name=\"carrier-a\"}"), 1) << before;
  EXPECT_EQ(sample(before, "smsgate_binds{kind=\"account\",name=\"acme\"}"), 0) << before;

  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.gw->port());
    EXPECT_EQ(status_of(co_await acme->submit(kFrench, "hello", kShortCode)), OK);
    EXPECT_EQ(status_of(co_await acme->submit(kNumber, "hello", kShortCode)), kQuietHours);  // CN: closed today
    EXPECT_TRUE(co_await until([&] { return !receipts(*acme).empty(); }));
    const std::string after = t.get("/metrics", "").body;
    EXPECT_EQ(sample(after, "smsgate_submits_total{outcome=\"sent\"}"), 1) << after;
    EXPECT_EQ(sample(after, "smsgate_submits_total{outcome=\"quiet_hours_reject\"}"), 1) << after;
    EXPECT_EQ(sample(after, "smsgate_binds{kind=\"account\",name=\"acme\"}"), 1) << after;
    EXPECT_GE(sample(after, "smsgate_submit_latency_seconds_count"), 1) << after;
    EXPECT_GE(sample(after, "smsgate_redis_latency_seconds_count"), 1) << after;
    EXPECT_EQ(sample(after, "smsgate_receipts_total{state=\"DELIVRD\"}"), 1) << after;
    EXPECT_EQ(sample(after, "smsgate_deferred_queue_depth{state=\"waiting\"}"), 0) << after;
  });
}

// ---------------------------------------------------------------- opt-outs

TEST(AdminOptOuts, APutOptsTheNumberOutTheNextSubmitIsRefusedADeleteLiftsIt) {
  AdminGateway t;
  const std::string target = "/api/optouts/+" + kFrench;
  EXPECT_EQ(t.get(target).json().as_object().at("opted_out").as_bool(), false);
  const Http put = t.put(target, R"({"reason": "called support"})");
  EXPECT_EQ(put.status, 201) << put.body;
  EXPECT_EQ(put.str("scope"), "global");
  EXPECT_EQ(t.put(target, "").status, 200);  // already there

  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.gw->port());
    EXPECT_EQ(status_of(co_await acme->submit(kFrench, "promo", kShortCode)), kOptedOut);
  });
  const auto got = t.get(target).json().as_object();
  EXPECT_TRUE(got.at("opted_out").as_bool());
  const auto& record = got.at("records").as_array().at(0).as_object();
  EXPECT_EQ(record.at("source").as_string(), "admin");
  EXPECT_EQ(record.at("reason").as_string(), "called support");
  EXPECT_EQ(record.at("scope").as_string(), "global");
  EXPECT_GE(got.at("history").as_array().size(), 1u);
  // The audit stream has the change, with "admin" as its source.
  const auto audit = t.redis.command("XRANGE", "smsgate:audit:optout", "-", "+");
  ASSERT_GE(audit.elements.size(), 1u);
  std::string fields;
  for (const auto& f : audit.elements[0].elements[1].elements) fields += f.str + " ";
  EXPECT_NE(fields.find("admin"), std::string::npos) << fields;

  const Http removed = t.del(target + "?reason=mistake");
  EXPECT_EQ(removed.status, 200) << removed.body;
  EXPECT_TRUE(removed.json().as_object().at("removed").as_bool());
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.gw->port());
    EXPECT_EQ(status_of(co_await acme->submit(kFrench, "promo", kShortCode)), OK);
  });

  // Scoped to one account: the other one still sends.
  EXPECT_EQ(t.put(target, R"({"scope": "account", "account": "acme"})").status, 201);
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.gw->port());
    auto beta = co_await Esme::bind(t.gw->port(), "beta");
    EXPECT_EQ(status_of(co_await acme->submit(kFrench, "promo", kShortCode)), kOptedOut);
    EXPECT_EQ(status_of(co_await beta->submit(kFrench, "promo", kShortCode)), OK);
  });
}

TEST(AdminOptOuts, BadInputGetsA4xxWithTheReason) {
  AdminGateway t;
  const Http bad_number = t.get("/api/optouts/12ab");
  EXPECT_EQ(bad_number.status, 400);
  EXPECT_EQ(bad_number.str("error"), "bad number");
  EXPECT_EQ(t.put("/api/optouts/+999999999999", "").status, 400);  // no such country
  const Http bad_json = t.put("/api/optouts/+" + kFrench, "{\"scope\": ");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(bad_json.str("error"), "bad JSON");
  EXPECT_EQ(t.put("/api/optouts/+" + kFrench, "[1, 2]").str("error"), "bad JSON");
  EXPECT_EQ(t.put("/api/optouts/+" + kFrench, R"({"reason": 12})").str("error"), "bad JSON");
  const Http unknown = t.put("/api/optouts/+" + kFrench, R"({"scope": "account", "account": "nobody"})");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.str("error"), "unknown account");
  EXPECT_EQ(t.put("/api/optouts/+" + kFrench, R"({"scope": "planet"})").str("error"), "bad scope");
  EXPECT_EQ(t.put("/api/optouts/+" + kFrench, R"({"scope": "source"})").str("error"), "bad source");
  EXPECT_EQ(http(t.admin_port, "PATCH", "/api/optouts/+" + kFrench).status, 405);
  // Nothing was written.
  EXPECT_EQ(t.redis.command("EXISTS", "smsgate:{+" + kFrench + "}:optout").integer, 0);
}

TEST(AdminOptOuts, ACsvImportCountsAddedExistingAndRejectedLines) {
  AdminGateway t(true, 1024);
  std::string csv = "number,reason\n+8613800138000,asked\n8613900139000\n\n# a comment\n+33612345678\nnot-a-number\n+1\n";
  const Http r = http(t.admin_port, "POST", "/api/optouts/import?reason=list", kToken, csv, "text/csv");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto o = r.json().as_object();
  EXPECT_EQ(o.at("added").to_number<int>(), 3) << r.body;
  EXPECT_EQ(o.at("existing").to_number<int>(), 0);
  EXPECT_EQ(o.at("rejected").to_number<int>(), 2);
  EXPECT_EQ(o.at("rejected_lines").as_array().at(0).as_object().at("line").to_number<int>(), 7) << r.body;
  EXPECT_EQ(t.get("/api/optouts/+8613900139000").json().as_object().at("opted_out").as_bool(), true);

  // Larger than max_body (1 KiB here) is fine: it is streamed. Again: the
  // three are there already.
  std::string big;
  for (int i = 0; i < 400; ++i) big += "+8613800138000\n";
  const Http again = http(t.admin_port, "POST", "/api/optouts/import", kToken, big, "text/csv");
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(again.json().as_object().at("added").to_number<int>(), 0);
  EXPECT_EQ(again.json().as_object().at("existing").to_number<int>(), 400);
  // A line longer than the import reads at once (an export with a long notes
  // column that crosses a 64 KiB read): its first column counts, the rest of
  // it is not read as lines of its own.
  std::string padded;
  for (int i = 0; i < 4000; ++i) padded += "+8613800138000\n";  // 60,000 bytes
  padded += "+8613700137000,\"" + std::string(3000, 'x') + " 13912345678 " + std::string(3000, 'y') + "\"\n";
  padded += "+8613600136000\n";
  const Http long_line = http(t.admin_port, "POST", "/api/optouts/import", kToken, padded, "text/csv");
  ASSERT_EQ(long_line.status, 200) << long_line.body;
  EXPECT_EQ(long_line.json().as_object().at("lines").to_number<int>(), 4002) << long_line.body;
  EXPECT_EQ(long_line.json().as_object().at("added").to_number<int>(), 2) << long_line.body;
  EXPECT_EQ(long_line.json().as_object().at("rejected").to_number<int>(), 0) << long_line.body;
  EXPECT_EQ(t.get("/api/optouts/+8613912345678").json().as_object().at("opted_out").as_bool(), false);
  EXPECT_EQ(http(t.admin_port, "POST", "/api/optouts/import?scope=account&account=zz", kToken, csv).status, 400);
  EXPECT_EQ(http(t.admin_port, "POST", "/api/optouts/import", "", csv).status, 401);
}

// ---------------------------------------------------------------- a number

TEST(AdminNumbers, ANumbersStoryHasItsRegionOptOutsSendsCapsAndQuietHours) {
  AdminGateway t;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.gw->port());
    EXPECT_EQ(status_of(co_await acme->submit(kFrench, "first promo", kShortCode)), OK);
    EXPECT_EQ(status_of(co_await acme->submit(kFrench, "second promo", kShortCode)), OK);
  });
  const Http r = t.get("/api/numbers/+" + kFrench);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto o = r.json().as_object();
  EXPECT_EQ(o.at("region").as_string(), "FR");
  EXPECT_EQ(o.at("recent_sends").as_array().size(), 2u) << r.body;
  EXPECT_EQ(o.at("recent_sends").as_array()[0].as_object().at("text").as_string(), "second promo");
  const auto& cap = o.at("caps").as_array().at(0).as_object();
  EXPECT_EQ(cap.at("rule").as_string(), "daily");
  EXPECT_EQ(cap.at("counts").as_array().at(0).as_object().at("count").to_number<int>(), 2) << r.body;
  EXPECT_EQ(cap.at("counts").as_array().at(0).as_object().at("remaining").to_number<int>(), 3);
  EXPECT_FALSE(o.at("quiet_hours").as_object().at("quiet_now").as_bool());
  EXPECT_FALSE(o.at("opt_out").as_object().at("opted_out").as_bool());

  // China is closed all of today: quiet now, opening on another day.
  const auto cn = t.get("/api/numbers/" + kNumber).json().as_object();
  EXPECT_EQ(cn.at("region").as_string(), "CN");
  EXPECT_EQ(cn.at("zones").as_array().at(0).as_string(), "Asia/Shanghai");
  const auto& quiet = cn.at("quiet_hours").as_object();
  EXPECT_TRUE(quiet.at("quiet_now").as_bool()) << json::serialize(cn);
  EXPECT_EQ(quiet.at("rule").as_string(), "cn-closed-today");
  EXPECT_EQ(quiet.at("action").as_string(), "reject");
  ASSERT_TRUE(quiet.at("opens").is_string()) << json::serialize(quiet);
  EXPECT_GT(std::string(quiet.at("opens").as_string()), iso_now());

  EXPECT_EQ(t.get("/api/numbers/hello").status, 400);
}

// ---------------------------------------------------------------- tickets

TEST(AdminTickets, DeadTicketsAreListedAndUnknownOnesAreNotReplayed) {
  AdminGateway t;
  // A dead-lettered ticket as the forwarder writes one.
  t.redis.command("XADD", "smsgate:tickets:dead", "*", "id", "T-00000000000000aa", "ticket",
                  "{\"id\":\"T-00000000000000aa\",\"category\":\"harassment\"}", "error", "HTTP 500", "attempts", "7",
                  "first_attempt_ms", "1700000000000", "dead_ms", "1700000100000");
  const Http list = t.get("/api/tickets?state=dead");
  ASSERT_EQ(list.status, 200) << list.body;
  const auto list_json = list.json();
  const auto& items = list_json.as_object().at("tickets").as_array();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].as_object().at("id").as_string(), "T-00000000000000aa");
  EXPECT_EQ(items[0].as_object().at("ticket").as_object().at("category").as_string(), "harassment");
  EXPECT_EQ(t.get("/api/tickets?state=open").status, 400);
  EXPECT_EQ(t.get("/api/tickets?state=dead&count=abc").str("error"), "bad count");
  EXPECT_EQ(t.get("/api/tickets?state=dead&count=0").status, 400);

  EXPECT_EQ(t.post("/api/tickets/T-00000000000000bb/replay").status, 404);
  const Http replay = t.post("/api/tickets/T-00000000000000aa/replay");
  EXPECT_EQ(replay.status, 200) << replay.body;
  EXPECT_EQ(t.redis.command("XLEN", "smsgate:tickets:dead").integer, 0);
  EXPECT_EQ(t.post("/api/tickets/T-00000000000000aa/replay").status, 404);
}

TEST(AdminTickets, IdsAndPathsThatLeaveTheirPlaceAreRejected) {
  AdminGateway t;
  for (const std::string& target :
       {"/api/tickets/..%2F..%2Fetc%2Fpasswd/replay", "/api/tickets/../replay", "/api/tickets/T-1/replay",
        "/api/tickets/T-00000000000000AA/replay", "/api/tickets/%2e%2e/reply"}) {
    const Http r = t.post(target, "{}");
    EXPECT_EQ(r.status, 400) << target << ": " << r.body;
    EXPECT_FALSE(r.str("error").empty()) << target;
  }
  EXPECT_EQ(t.get("/../../etc/passwd", "").status, 400);
  EXPECT_EQ(t.get("/%2e%2e/%2e%2e/etc/passwd", "").status, 400);
  EXPECT_EQ(t.get("/api/optouts/..%2F1", "").status, 400);
}

// A complaint from the phone, then ops' answer through the API: it reaches
// the simulator as a message to the complainant from the address they
// complained to, and is audited.
TEST(AdminTickets, TheClosedLoopReplyReachesTheComplainant) {
  AdminGateway t;
  const std::string answer = "Acme here: sorry, you will get no more messages from us.";
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.gw->port());
    EXPECT_EQ(status_of(co_await acme->submit(kFrench, "promo", kShortCode)), OK);
    const int mo = co_await off_thread([&] { return t.smsc.mo(kFrench, kShortCode, kComplaint).first; });
    EXPECT_EQ(mo, 200);
  });
  const auto keys = t.redis.command("KEYS", "smsgate:ticket:T-*");
  ASSERT_EQ(keys.elements.size(), 1u);
  const std::string id = keys.elements[0].str.substr(std::string("smsgate:ticket:").size());
  EXPECT_GT(t.redis.command("PTTL", keys.elements[0].str).integer, 89LL * 24 * 3600 * 1000);

  const Http kept = t.get("/api/tickets/" + id);
  ASSERT_EQ(kept.status, 200) << kept.body;
  EXPECT_EQ(kept.str("number"), "+" + kFrench);
  EXPECT_EQ(kept.str("to"), kShortCode);
  EXPECT_EQ(t.get("/api/tickets/T-0123456789abcdef").status, 404);
  EXPECT_EQ(t.get("/api/tickets/not-a-ticket").status, 400);
  EXPECT_EQ(t.post("/api/tickets/" + id + "/reply", "").status, 400);                 // no text
  EXPECT_EQ(t.post("/api/tickets/" + id + "/reply", "{\"text\": 5}").status, 400);    // not a string
  EXPECT_EQ(t.post("/api/tickets/" + id + "/reply", "{\"text\": ").status, 400);      // bad JSON
  EXPECT_EQ(t.post("/api/tickets/T-0123456789abcdef/reply", "{\"text\": \"x\"}").status, 404);
  const Http sent = t.post("/api/tickets/" + id + "/reply", "{\"text\": \"" + answer + "\"}");
  ASSERT_EQ(sent.status, 202) << sent.body;
  EXPECT_EQ(sent.str("to"), "+" + kFrench);
  EXPECT_EQ(sent.str("from"), kShortCode);
  EXPECT_TRUE(eventually([&] {
    for (const auto& r : recorded(t.dir)) {
      if (r.dest == kFrench && r.source == kShortCode && r.text == answer) return true;
    }
    return false;
  })) << slurp(t.dir.file("smsc.record"));
  const auto audit = t.redis.command("XRANGE", "smsgate:audit:admin", "-", "+");
  ASSERT_EQ(audit.elements.size(), 1u);
  std::string fields;
  for (const auto& f : audit.elements[0].elements[1].elements) fields += f.str + "|";
  EXPECT_NE(fields.find("ticket_reply|ticket|" + id), std::string::npos) << fields;
  // The number is masked in the log, whole only in the API's answer.
  EXPECT_EQ(t.gw->log().find(kFrench), std::string::npos);
}

// ---------------------------------------------------------------- accounts

TEST(AdminAccounts, ListsBindsAndStateAndResumesOnlyKnownAccounts) {
  AdminGateway t;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.gw->port());
    const Http r = co_await off_thread([&] { return t.get("/api/accounts"); });
    EXPECT_EQ(r.status, 200) << r.body;
    const auto v = r.json();
    const auto& list = v.as_object().at("accounts").as_array();
    EXPECT_EQ(list.size(), 2u) << r.body;
    const auto& a = list.at(0).as_object();
    EXPECT_EQ(a.at("system_id").as_string(), "acme");
    EXPECT_EQ(a.at("binds").to_number<int>(), 1);
    EXPECT_EQ(a.at("state").as_string(), "active");
    EXPECT_TRUE(a.contains("tps"));
    EXPECT_TRUE(a.contains("complaints_per_1000")) << r.body;
  });
  const Http unknown = t.post("/api/accounts/nobody/resume");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.str("error"), "unknown account");
  const Http resumed = t.post("/api/accounts/acme/resume");
  EXPECT_EQ(resumed.status, 200) << resumed.body;
  EXPECT_FALSE(resumed.json().as_object().at("resumed").as_bool());
}

// ---------------------------------------------------------------- configuration

TEST(AdminConfig, TheEffectiveConfigHidesSecretsAndAReloadAnswersTheFilesErrors) {
  AdminGateway t;
  const Http c = t.get("/api/config");
  ASSERT_EQ(c.status, 200);
  EXPECT_NE(c.body.find("node: gwtest"), std::string::npos) << c.body;
  EXPECT_NE(c.body.find("password_env: SMSGATE_TEST_ACME_PASSWORD"), std::string::npos) << c.body;
  EXPECT_EQ(c.body.find("secret1"), std::string::npos) << c.body;
  EXPECT_EQ(c.body.find(kToken), std::string::npos) << c.body;

  const std::string good = slurp(t.dir.file("smsgate.yaml"));
  std::ofstream(t.dir.file("smsgate.yaml")) << good << "routes_typo: 1\n";
  const Http bad = t.post("/api/reload");
  EXPECT_EQ(bad.status, 422) << bad.body;
  EXPECT_EQ(bad.str("error"), "invalid configuration");
  const auto bad_json = bad.json();
  const auto& diagnostics = bad_json.as_object().at("diagnostics").as_array();
  ASSERT_EQ(diagnostics.size(), 1u) << bad.body;
  EXPECT_NE(std::string(diagnostics[0].as_string()).find("unknown key 'routes_typo'"), std::string::npos) << bad.body;

  std::ofstream(t.dir.file("smsgate.yaml")) << good;
  const Http ok = t.post("/api/reload");
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_TRUE(ok.json().as_object().at("reloaded").as_bool());
}

TEST(AdminLimits, ABodyOverMaxBodyIs413AndTheServerGoesOn) {
  AdminGateway t(true, 1024);
  const Http big = t.put("/api/optouts/+" + kFrench, "{\"reason\": \"" + std::string(2000, 'x') + "\"}");
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.str("error"), "body too large");
  EXPECT_EQ(t.redis.command("EXISTS", "smsgate:{+" + kFrench + "}:optout").integer, 0);
  EXPECT_EQ(t.get("/healthz", "").status, 200);
}

// Two requests on one kept-alive connection, then a third that closes it.
TEST(AdminLimits, AConnectionIsKeptAliveBetweenRequests) {
  AdminGateway t;
  asio::io_context io;
  net::tcp::socket s(io);
  s.connect({asio::ip::address_v4::loopback(), t.admin_port});
  const std::string keep = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string close = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  asio::write(s, asio::buffer(keep + keep + close));
  std::string all;
  error_code ec;
  asio::read(s, asio::dynamic_buffer(all), ec);  // until the server closes
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_EQ(count_of(all, "HTTP/1.1 200 OK"), 3u) << all;
}

TEST(AdminLimits, AHeadAnswerHasTheLengthButNoBodyAndTheConnectionGoesOn) {
  AdminGateway t;
  asio::io_context io;
  net::tcp::socket s(io);
  s.connect({asio::ip::address_v4::loopback(), t.admin_port});
  const std::string head = "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n";
  const std::string close = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  asio::write(s, asio::buffer(head + close));
  std::string all;
  error_code ec;
  asio::read(s, asio::dynamic_buffer(all), ec);
  EXPECT_EQ(count_of(all, "HTTP/1.1 200 OK"), 2u) << all;
  EXPECT_EQ(all.find("<html"), std::string::npos) << all;  // no page after the HEAD answer
  EXPECT_NE(all.find("\"status\":\"ok\""), std::string::npos) << all;
}

TEST(AdminLive, TheDashboardsDataIsJson) {
  AdminGateway t;
  const Http r = t.get("/api/live");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.json().is_object()) << r.body;
}

}  // namespace
}  // namespace smsgate::gateway::test
