// The policy as one configuration says it, ready for the submit path: the
// quiet-hours rules and time zones (decided locally) and the settings of the
// Redis store (opt-outs, caps, history). Built with each Snapshot; immutable.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "policy/quiet_hours.hpp"
#include "policy/store.hpp"
#include "policy/timezone.hpp"

namespace smsgate::gateway {

struct PolicyRuntime {
  config::Policy config;
  std::shared_ptr<const policy::StoreSettings> store;
  policy::QuietRuleSet quiet;
  std::optional<policy::ZoneMap> zones;

  bool enabled() const { return config.enabled; }

  // Decisions by outcome and rule ("opted_out", "cap:daily", "quiet:cn-night",
  // "defer:cn-night", ...), counted by every worker; logged at exit.
  mutable std::map<std::string, std::atomic<uint64_t>, std::less<>> hits;
  void hit(std::string_view key) const;
  std::string hits_text() const;
};

// Builds it; the errors (an unreadable zone1970.tab, a zone that does not
// resolve) say why it could not be.
struct PolicyBuild {
  std::shared_ptr<const PolicyRuntime> runtime;
  std::vector<std::string> errors;
};
PolicyBuild build_policy(const config::Policy& config);

}  // namespace smsgate::gateway
