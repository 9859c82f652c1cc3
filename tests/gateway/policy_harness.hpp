// What the policy tests (policy_test.cpp, defer_test.cpp) share on top of
// harness.hpp: the policy: section's YAML, quiet-hours windows computed from
// the clock, opt-out records written straight into Redis, and what the
// simulator recorded.
#pragma once

#include <boost/json.hpp>

#include <set>

#include "tests/gateway/harness.hpp"

namespace smsgate::gateway::test {

namespace json = boost::json;
using SysClock = std::chrono::system_clock;

inline constexpr uint32_t kOptedOut = 0x401;     // policy.statuses defaults
inline constexpr uint32_t kFrequencyCap = 0x402;
inline constexpr uint32_t kQuietHours = 0x403;

inline const std::string kNumber = "8613800138000";  // China Mobile, Asia/Shanghai
inline const std::string kOtherNumber = "8613900139000";

// ---------------------------------------------------------------- the policy: section

// One frequency cap, as an item of frequency_caps.
inline std::string cap(const std::string& name, const std::string& per, int limit, const std::string& window = "24h") {
  return "    - { name: " + name + ", per: " + per + ", limit: " + std::to_string(limit) + ", window: " + window + " }\n";
}
inline std::string caps(const std::string& items) { return "  frequency_caps:\n" + items; }
inline std::string daily_cap(int limit, const std::string& per = "recipient") { return caps(cap("daily", per, limit)); }

// One quiet-hours rule, as an item of quiet_hours.
inline std::string quiet_rule(const std::string& name, const std::string& regions, const std::string& allow,
                              const std::string& action, const std::string& max_defer = "24h") {
  return "    - name: " + name + "\n      regions: [" + regions + "]\n      allow: \"" + allow +
         "\"\n      action: " + action + "\n      max_defer: " + max_defer + "\n";
}
inline std::string quiet_hours(const std::string& rules) {
  return "  quiet_hours:\n" + rules + "  timezones:\n    \"86\": Asia/Shanghai\n";
}
// Deferred messages released as soon as the window opens, looked for every 200 ms.
inline std::string quick_release(const std::string& ramp = "0s", int batch = 200) {
  return "  defer:\n    ramp: " + ramp + "\n    poll_interval: 200ms\n    batch: " + std::to_string(batch) + "\n";
}

// ---------------------------------------------------------------- quiet-hours windows

// "HH:MM:SS" of `t` on a clock in China (UTC+8 all year).
inline std::string china_time(SysClock::time_point t) {
  const int64_t s = std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count() + 8 * 3600;
  const int64_t tod = ((s % 86400) + 86400) % 86400;
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", static_cast<int>(tod / 3600), static_cast<int>(tod / 60 % 60),
                static_cast<int>(tod % 60));
  return buf;
}

// An allowed window in China that opens `in` from now (on a whole second)
// and lasts `length`; "HH:MM:SS-HH:MM:SS", crossing midnight when it has to
// (the end is then earlier than the start, which the rule reads as such).
struct Window {
  std::string allow;
  SysClock::time_point opens;
  int64_t opens_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(opens.time_since_epoch()).count();
  }
};
inline Window china_window_opening_in(std::chrono::milliseconds in, std::chrono::seconds length = std::chrono::hours(1)) {
  Window w;
  w.opens = std::chrono::ceil<std::chrono::seconds>(SysClock::now() + in);
  w.allow = china_time(w.opens) + "-" + china_time(w.opens + length);
  return w;
}

// ---------------------------------------------------------------- Redis

// An opt-out record as the store writes it, straight into the number's hash.
inline void opt_out(RedisServer& redis, const std::string& digits, const std::string& field = "*") {
  const auto at = std::chrono::duration_cast<std::chrono::milliseconds>(SysClock::now().time_since_epoch()).count();
  const auto r = redis.command("HSET", "smsgate:{+" + digits + "}:optout", field,
                               "{\"at\":" + std::to_string(at) + ",\"source\":\"test\",\"reason\":\"TD\"}");
  EXPECT_EQ(r.integer, 1);
}

inline int64_t deferred_waiting(RedisServer& redis) {
  return redis.command("ZCARD", "smsgate:{defer}:due").integer + redis.command("ZCARD", "smsgate:{defer}:taken").integer;
}

// ---------------------------------------------------------------- what the simulator got

struct Recorded {
  std::string source;
  std::string dest;
  std::string text;
  int64_t ts_ms = 0;
};

// The --record file of the simulator called `name` in `dir`, line by line.
inline std::vector<Recorded> recorded(const TempDir& dir, const std::string& name = "smsc") {
  std::vector<Recorded> out;
  std::istringstream lines(slurp(dir.file(name + ".record")));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    const auto v = json::parse(line).as_object();
    Recorded r;
    r.source = std::string(v.at("source").as_string());
    r.dest = std::string(v.at("dest").as_string());
    if (v.at("text").is_string()) r.text = std::string(v.at("text").as_string());
    r.ts_ms = v.at("ts_ms").to_number<int64_t>();
    out.push_back(std::move(r));
  }
  return out;
}

inline std::vector<std::string> recorded_dests(const TempDir& dir, const std::string& name = "smsc") {
  std::vector<std::string> out;
  for (const auto& r : recorded(dir, name)) out.push_back(r.dest);
  return out;
}

// ---------------------------------------------------------------- answers

inline uint32_t status_of(const net::Reply& r) { return r.error ? 0xFFFFFFFF : r.pdu.command_status; }

inline std::vector<uint32_t> statuses_of(const std::vector<net::Reply>& replies) {
  std::vector<uint32_t> out;
  for (const auto& r : replies) out.push_back(status_of(r));
  return out;
}

inline std::string id_of(const net::Reply& r) {
  if (!r.ok()) return {};
  const auto* resp = std::get_if<smpp::MessageIdResp>(&r.pdu.body);
  return resp ? resp->message_id : std::string();
}

// The receipts an ESME got: id and stat of each, in order.
inline std::vector<std::pair<std::string, std::string>> receipts(const Esme& esme) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& p : esme.received) {
    const auto& sm = p.as<smpp::ShortMessage>();
    if (!smpp::is_receipt_esm_class(sm.esm_class)) continue;
    const auto r = smpp::parse_receipt(sm.short_message);
    std::string id = sm.tlvs.receipted_message_id().value_or(r ? r->id : "");
    out.emplace_back(std::move(id), r ? r->stat : "");
  }
  return out;
}

// Submits one message after the other (each answered before the next goes).
inline asio::awaitable<std::vector<uint32_t>> submit_times(Esme& esme, std::string dest, int times) {
  std::vector<uint32_t> out;
  for (int i = 0; i < times; ++i) out.push_back(status_of(co_await esme.submit(dest)));
  co_return out;
}

// `eventually` for test coroutines: polls without blocking the io_context,
// so the ESME sessions keep answering meanwhile.
template <class F>
asio::awaitable<bool> until(F ready, std::chrono::milliseconds limit = 5000ms) {
  const auto deadline = Clock::now() + limit;
  while (!ready()) {
    if (Clock::now() > deadline) co_return false;
    co_await sleep_for(20ms);
  }
  co_return true;
}

inline asio::awaitable<void> sleep_until(SysClock::time_point t) {
  const auto d = std::chrono::duration_cast<std::chrono::milliseconds>(t - SysClock::now());
  if (d.count() > 0) co_await sleep_for(d);
}

inline std::string hex_status(uint32_t s) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%03X", s);
  return buf;
}

}  // namespace smsgate::gateway::test
