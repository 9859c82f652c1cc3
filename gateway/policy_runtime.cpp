#include "gateway/policy_runtime.hpp"

namespace smsgate::gateway {

void PolicyRuntime::hit(std::string_view key) const {
  const auto it = hits.find(key);
  if (it != hits.end()) it->second.fetch_add(1, std::memory_order_relaxed);
}

std::string PolicyRuntime::hits_text() const {
  std::string out;
  for (const auto& [key, value] : hits) {
    const uint64_t v = value.load(std::memory_order_relaxed);
    if (v == 0) continue;
    if (!out.empty()) out += ' ';
    out += key + "=" + std::to_string(v);
  }
  return out;
}

PolicyBuild build_policy(const config::Policy& config) {
  PolicyBuild out;
  auto rt = std::make_shared<PolicyRuntime>();
  rt->config = config;
  auto settings = std::make_shared<policy::StoreSettings>();
  settings->caps = config.frequency_caps;
  settings->history.keep = config.history.keep;
  settings->history.ttl = config.history.ttl;
  settings->history.text = config.history.text;
  settings->audit_retention = config.audit_retention;
  rt->store = std::move(settings);

  std::vector<policy::QuietRule> rules;
  for (const config::QuietHours& q : config.quiet_hours) {
    policy::QuietRule r;
    r.name = q.name;
    r.regions = q.regions;
    if (const auto w = policy::parse_window(q.allow)) {
      r.start = w->first;
      r.end = w->second;
    } else {
      out.errors.push_back("quiet_hours " + q.name + ": bad window " + q.allow);
    }
    r.days.fill(false);
    for (const auto& d : q.days) {
      if (const auto wd = policy::parse_weekday(d)) r.days[*wd] = true;
    }
    for (const auto& h : q.holidays) {
      if (const auto ymd = policy::parse_date(h)) r.holidays.push_back(*ymd);
    }
    r.action = q.action == config::QuietAction::reject ? policy::QuietAction::reject : policy::QuietAction::defer;
    r.max_defer = std::chrono::duration_cast<std::chrono::seconds>(q.max_defer);
    rules.push_back(std::move(r));
  }
  rt->quiet = policy::QuietRuleSet(std::move(rules));
  if (!config.quiet_hours.empty()) {
    std::map<std::string, std::string> overrides(config.timezones.begin(), config.timezones.end());
    auto loaded = policy::ZoneMap::load(overrides);
    for (auto& e : loaded.errors) out.errors.push_back(std::move(e));
    rt->zones = std::move(loaded.map);
  }

  rt->hits["allowed"];
  rt->hits["opted_out"];
  rt->hits["redis_down_rejected"];
  rt->hits["redis_down_allowed"];
  for (const auto& c : config.frequency_caps) rt->hits["cap:" + c.name];
  for (const auto& q : config.quiet_hours) {
    rt->hits["quiet_reject:" + q.name];
    rt->hits["deferred:" + q.name];
  }
  if (out.errors.empty()) out.runtime = std::move(rt);
  return out;
}

}  // namespace smsgate::gateway
