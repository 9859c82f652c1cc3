#include "gateway/live.hpp"

#include <algorithm>

#include <boost/json.hpp>

namespace smsgate::gateway {

namespace json = boost::json;

namespace {

uint64_t total(const CounterTotals& t, Counter c) { return t[static_cast<std::size_t>(c)]; }

// What the page charts as "refused", by reason: each a sum of counters.
struct Reason {
  std::string_view name;
  std::vector<Counter> counters;
};

const std::vector<Reason>& refusal_reasons() {
  static const std::vector<Reason> kReasons = {
      {"opted_out", {Counter::policy_opted_out}},
      {"frequency_cap", {Counter::policy_capped}},
      {"quiet_hours", {Counter::policy_quiet_rejected}},
      {"throttled", {Counter::submit_throttled}},
      {"invalid_number", {Counter::submit_invalid_dest}},
      {"no_route", {Counter::submit_no_route}},
      {"carrier_error", {Counter::submit_carrier_status, Counter::submit_carrier_lost}},
      {"redis_down", {Counter::policy_redis_down_rejected}},
  };
  return kReasons;
}

uint64_t sum(const CounterTotals& t, const std::vector<Counter>& counters) {
  uint64_t s = 0;
  for (const Counter c : counters) s += total(t, c);
  return s;
}

// Counters only grow, but a restart of the process is a new series: a
// negative difference counts as zero rather than as a huge number.
uint64_t delta(uint64_t now, uint64_t before) { return now >= before ? now - before : 0; }

double rate(uint64_t now, uint64_t before, double seconds) {
  return seconds > 0 ? static_cast<double>(delta(now, before)) / seconds : 0.0;
}

// Two decimals are plenty for a chart, and keep the body small.
double round2(double v) { return static_cast<double>(static_cast<int64_t>(v * 100 + 0.5)) / 100; }

constexpr int64_t kMinuteMs = 60'000;

}  // namespace

void LiveSeries::sample(std::chrono::system_clock::time_point now, const CounterTotals& totals,
                        uint64_t deferred_depth, std::vector<BindState> binds) {
  Sample s;
  s.at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  s.totals = totals;
  s.deferred_depth = deferred_depth;
  std::lock_guard lock(mu_);
  samples_.push_back(s);
  // One more than the window: its first rate needs the sample before it.
  while (samples_.size() > kSamples + 1) samples_.pop_front();
  binds_ = std::move(binds);
}

void LiveSeries::add_complaint(RecentComplaint complaint) {
  std::lock_guard lock(mu_);
  // The same complaint sent again is the same ticket: listed once, newest.
  std::erase_if(complaints_, [&](const RecentComplaint& c) { return c.ticket == complaint.ticket; });
  complaints_.push_front(std::move(complaint));
  while (complaints_.size() > kComplaints) complaints_.pop_back();
}

std::string LiveSeries::json() const {
  std::lock_guard lock(mu_);
  json::object out;
  out["interval_s"] = kInterval.count();
  out["window_s"] = static_cast<int64_t>(kInterval.count() * kSamples);
  out["now_ms"] = samples_.empty() ? int64_t{0} : samples_.back().at_ms;

  // Per-second rates between consecutive samples, at the later one's time.
  json::array t, in, sent, deferred, depth;
  json::object refused;
  std::vector<json::array> by_reason(refusal_reasons().size());
  for (std::size_t i = 1; i < samples_.size(); ++i) {
    const Sample& a = samples_[i - 1];
    const Sample& b = samples_[i];
    const double secs = static_cast<double>(b.at_ms - a.at_ms) / 1000.0;
    t.push_back(b.at_ms);
    in.push_back(round2(rate(total(b.totals, Counter::submit_received), total(a.totals, Counter::submit_received), secs)));
    // Out: what carriers took, straight away or after quiet hours.
    const auto out_total = [](const CounterTotals& x) {
      return total(x, Counter::submit_ok) + total(x, Counter::deferred_released);
    };
    sent.push_back(round2(rate(out_total(b.totals), out_total(a.totals), secs)));
    deferred.push_back(round2(rate(total(b.totals, Counter::policy_deferred), total(a.totals, Counter::policy_deferred), secs)));
    for (std::size_t r = 0; r < refusal_reasons().size(); ++r) {
      const auto& counters = refusal_reasons()[r].counters;
      by_reason[r].push_back(round2(rate(sum(b.totals, counters), sum(a.totals, counters), secs)));
    }
    depth.push_back(b.deferred_depth);
  }
  for (std::size_t r = 0; r < refusal_reasons().size(); ++r) {
    refused[refusal_reasons()[r].name] = std::move(by_reason[r]);
  }
  out["series"] = json::object{{"t", std::move(t)},
                               {"in_per_s", std::move(in)},
                               {"out_per_s", std::move(sent)},
                               {"deferred_per_s", std::move(deferred)},
                               {"refused_per_s", std::move(refused)},
                               {"deferred_depth", std::move(depth)}};

  // Per minute (UTC minute buckets): the growth of the counter within each
  // minute, from the last sample of the minute before (or the minute's first).
  json::array minutes, opt_outs, complaints;
  const Sample* base = samples_.empty() ? nullptr : &samples_.front();
  for (std::size_t i = 0; i < samples_.size(); ++i) {
    const Sample& s = samples_[i];
    const int64_t minute = s.at_ms / kMinuteMs;
    const bool last_of_minute = i + 1 == samples_.size() || samples_[i + 1].at_ms / kMinuteMs != minute;
    if (!last_of_minute) continue;
    minutes.push_back(minute * kMinuteMs);
    opt_outs.push_back(delta(total(s.totals, Counter::reply_opted_out), total(base->totals, Counter::reply_opted_out)));
    complaints.push_back(
        delta(total(s.totals, Counter::complaint_ticketed), total(base->totals, Counter::complaint_ticketed)));
    base = &s;
  }
  out["per_minute"] = json::object{{"t", std::move(minutes)},
                                   {"opt_outs", std::move(opt_outs)},
                                   {"complaints", std::move(complaints)}};

  // Since the process started, for the headline numbers.
  json::object totals;
  if (!samples_.empty()) {
    const CounterTotals& last = samples_.back().totals;
    for (std::size_t i = 0; i < kCounterNames.size(); ++i) totals[kCounterNames[i]] = last[i];
    totals["deferred_depth"] = samples_.back().deferred_depth;
  }
  out["totals"] = std::move(totals);

  json::array binds;
  for (const auto& b : binds_) {
    binds.push_back(json::object{{"kind", b.kind}, {"name", b.name}, {"state", b.state}, {"sessions", b.sessions}});
  }
  out["binds"] = std::move(binds);

  json::array recent;
  for (const auto& c : complaints_) {
    recent.push_back(json::object{{"at_ms", c.at_ms},
                                  {"ticket", c.ticket},
                                  {"category", c.category},
                                  {"severity", c.severity},
                                  {"number", c.number},
                                  {"account", c.account}});
  }
  out["complaints"] = std::move(recent);
  return json::serialize(out);
}

}  // namespace smsgate::gateway
