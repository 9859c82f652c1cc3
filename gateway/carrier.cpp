#include "gateway/carrier.hpp"

#include "gateway/snapshot.hpp"

namespace smsgate::gateway {

Carrier::Carrier(config::Carrier c, unsigned workers, unsigned first_worker)
    : config(std::move(c)), bound_on_(new std::atomic<uint32_t>[workers]()) {
  // A burst of a tenth of a second's worth: smooth enough for a carrier's
  // per-second policing, loose enough not to stall a window's worth.
  shaper.set_rate(config.max_tps, std::max<uint32_t>(1, config.max_tps / 10));
  for (uint32_t i = 0; i < config.binds; ++i) {
    auto link = std::make_unique<CarrierLink>();
    link->carrier = this;
    link->index = i;
    link->worker = (first_worker + i) % workers;
    links.push_back(std::move(link));
  }
}

void Carrier::set_bound(CarrierLink& link, bool bound) {
  if (link.bound.exchange(bound) == bound) return;
  const int d = bound ? 1 : -1;
  bound_on_[link.worker].fetch_add(static_cast<uint32_t>(d), std::memory_order_relaxed);
  bound_total_.fetch_add(static_cast<uint32_t>(d), std::memory_order_relaxed);
}

CarrierLink* Carrier::pick(unsigned worker, uint64_t concat_hash, uint32_t& round_robin) const {
  const std::size_t n = links.size();
  if (n == 0 || !has_bound()) return nullptr;
  if (concat_hash != 0) {
    for (std::size_t i = 0; i < n; ++i) {
      CarrierLink* l = links[(concat_hash + i) % n].get();
      if (l->bound.load(std::memory_order_relaxed)) return l;
    }
    return nullptr;
  }
  const bool local = bound_on_[worker].load(std::memory_order_relaxed) > 0;
  const uint32_t start = round_robin++;
  CarrierLink* any = nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    CarrierLink* l = links[(start + i) % n].get();
    if (!l->bound.load(std::memory_order_relaxed)) continue;
    if (!local || l->worker == worker) return l;
    if (!any) any = l;
  }
  return any;
}

const std::vector<Carrier*>* Snapshot::route_for(std::string_view e164) const {
  for (std::size_t len = std::min(e164.size(), longest_prefix) + 1; len-- > 0;) {
    const auto it = routes.find(std::string(e164.substr(0, len)));
    if (it != routes.end()) return &it->second;
  }
  return nullptr;
}

}  // namespace smsgate::gateway
