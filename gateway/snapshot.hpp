// What every worker reads on each message: accounts, carriers and routes of
// one configuration, immutable. A reload builds a new Snapshot and posts it
// to every worker; a worker never takes a lock to read it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.hpp"
#include "gateway/account.hpp"
#include "gateway/carrier.hpp"
#include "gateway/policy_runtime.hpp"
#include "policy/classify.hpp"

namespace smsgate::gateway {

struct AccountEntry {
  config::Account config;
  std::shared_ptr<AccountState> state;
};

struct Snapshot {
  config::Config config;
  std::unordered_map<std::string, AccountEntry> accounts;
  std::unordered_map<std::string, std::shared_ptr<Carrier>> carriers;
  // prefix -> carriers in order of preference
  std::unordered_map<std::string, std::vector<Carrier*>> routes;
  std::size_t longest_prefix = 0;
  std::shared_ptr<const PolicyRuntime> policy;  // always set; policy->enabled() says whether it applies
  std::shared_ptr<const policy::Classifier> classifier;  // replies are classified (with a policy only)

  const AccountEntry* account(std::string_view system_id) const {
    const auto it = accounts.find(std::string(system_id));
    return it == accounts.end() ? nullptr : &it->second;
  }

  // The carriers of the longest route prefix of `e164`; null when no route
  // matches (no default route).
  const std::vector<Carrier*>* route_for(std::string_view e164) const;
};

// The reply classifier of a configuration; null with `errors` when its
// words or patterns are wrong (check-config reports them first).
std::shared_ptr<const policy::Classifier> build_reply_classifier(const config::Replies& replies,
                                                                std::vector<std::string>& errors);

// The store settings a worker's policy::Store runs with.
inline std::shared_ptr<const policy::StoreSettings> store_settings(const Snapshot& s) {
  static const auto kNone = std::make_shared<const policy::StoreSettings>();
  return s.policy ? s.policy->store : kNone;
}

}  // namespace smsgate::gateway
