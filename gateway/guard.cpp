// The complaint rate guard (gateway/guard.hpp): one loop per node on the
// main io_context, every interval one script per account (pipelined) that
// sums the buckets of the window, drops those that left it, and decides,
// atomically, whether the account crossed warn_per_1000 or suspend_per_1000.
// HSETNX makes the first node that sees a crossing the one that logs it; every
// node copies the suspensions into AccountState::suspended.
#include "gateway/guard.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/system/system_error.hpp>

#include "gateway/log.hpp"

namespace smsgate::gateway {

namespace json = boost::json;
using boost::system::error_code;
using SysClock = std::chrono::system_clock;
using Clock = std::chrono::steady_clock;

namespace {

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SysClock::now().time_since_epoch()).count();
}

// One account: the window's sums, the warning and the suspension.
// KEYS: delivered, complaints, suspended, warned, resumed.
// ARGV: account, now ms, window ms, bucket s, warn, suspend, min_delivered,
//       mode ("eval": decide and clean up; "read": only read), may suspend
//       ("1": a marketing account), node.
// Answers {delivered, complaints, suspension JSON or false, warned 0/1,
//          newly warned 0/1, newly suspended 0/1}.
const redis::Script& evaluate_script() {
  static const redis::Script script(R"lua(
local account = ARGV[1]
local now = tonumber(ARGV[2])
local from = now - tonumber(ARGV[3])
local width = tonumber(ARGV[4]) * 1000
local write = ARGV[8] == 'eval'
local resumed = tonumber(redis.call('HGET', KEYS[5], account) or '0')
if resumed > 0 and resumed < from and write then
  redis.call('HDEL', KEYS[5], account)
  resumed = 0
end
local function sum(key)
  local total, stale = 0, {}
  local all = redis.call('HGETALL', key)
  for i = 1, #all, 2 do
    local at = tonumber(all[i])
    if not at then
      stale[#stale + 1] = all[i]
    else
      at = at * 1000
      if at + width <= from then
        stale[#stale + 1] = all[i]
      elseif at >= resumed then
        total = total + (tonumber(all[i + 1]) or 0)
      end
    end
  end
  if write then
    for i = 1, #stale, 100 do
      redis.call('HDEL', key, unpack(stale, i, math.min(i + 99, #stale)))
    end
  end
  return total
end
local delivered = sum(KEYS[1])
local complaints = sum(KEYS[2])
local record = redis.call('HGET', KEYS[3], account)
local warned = redis.call('HEXISTS', KEYS[4], account) == 1
local newly_warned, newly_suspended = 0, 0
if write then
  local warn, suspend, min = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
  local judged = delivered > 0 and delivered >= min
  if warn > 0 and judged and complaints * 1000 >= warn * delivered then
    if redis.call('HSETNX', KEYS[4], account, ARGV[2]) == 1 then newly_warned = 1 end
    warned = true
  elseif warned then
    redis.call('HDEL', KEYS[4], account)
    warned = false
  end
  if not record and ARGV[9] == '1' and suspend > 0 and judged and complaints * 1000 >= suspend * delivered then
    local per = complaints * 1000 / delivered
    record = cjson.encode({at = now, node = ARGV[10], delivered = delivered, complaints = complaints,
      per_1000 = per, reason = string.format('%d complaints in %d delivered: %.2f per 1000 (suspend_per_1000 %s)',
        complaints, delivered, per, ARGV[6])})
    redis.call('HSET', KEYS[3], account, record)
    newly_suspended = 1
  end
end
return {delivered, complaints, record or false, warned and 1 or 0, newly_warned, newly_suspended}
)lua");
  return script;
}

// KEYS: suspended, resumed, warned. ARGV: account, now ms. 1 when it was suspended.
const redis::Script& resume_script() {
  static const redis::Script script(R"lua(
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
)lua");
  return script;
}

std::string format_rate(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", v);
  return buf;
}

// A threshold for the script (and the reason it writes): "3", "0.5".
std::string format_number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

std::string error_text(const redis::Result& r) {
  return r.error ? r.error.message() : redis::to_string(r.reply);
}

struct Evaluation {
  AccountGuardState state;
  bool newly_warned = false;
  bool newly_suspended = false;
};

// Reads the script's answer; false for one of another shape.
bool parse_evaluation(const redis::Reply& reply, Evaluation& e) {
  if (!reply.is_array() || reply.elements.size() != 6) return false;
  const auto& el = reply.elements;
  e.state.delivered = static_cast<uint64_t>(std::max<int64_t>(0, el[0].to_int().value_or(0)));
  e.state.complaints = static_cast<uint64_t>(std::max<int64_t>(0, el[1].to_int().value_or(0)));
  e.state.per_1000 = e.state.delivered ? static_cast<double>(e.state.complaints) * 1000.0 / e.state.delivered : 0.0;
  if (el[2].is_string()) {
    e.state.suspended = true;
    error_code ec;
    const auto v = json::parse(el[2].str, ec);
    if (!ec && v.is_object()) {
      const auto& o = v.as_object();
      if (const auto* at = o.if_contains("at"); at && at->is_number()) e.state.suspended_at_ms = at->to_number<int64_t>();
      if (const auto* why = o.if_contains("reason"); why && why->is_string()) e.state.reason = std::string(why->as_string());
    }
  }
  e.state.warned = el[3].to_int().value_or(0) == 1;
  e.newly_warned = el[4].to_int().value_or(0) == 1;
  e.newly_suspended = el[5].to_int().value_or(0) == 1;
  return true;
}

}  // namespace

// ---------------------------------------------------------------- buckets

int64_t guard_bucket_seconds(std::chrono::milliseconds window) {
  return std::max<int64_t>(1, window.count() / 60'000);
}

GuardBucket guard_bucket(std::chrono::milliseconds window, int64_t at_ms) {
  const int64_t width = guard_bucket_seconds(window);
  const int64_t start = at_ms / 1000 / width * width;
  return {std::to_string(start), std::to_string(window.count() + width * 1000)};
}

DeliveredCounts::DeliveredCounts(asio::any_io_executor ex, const std::shared_ptr<redis::Client>& redis,
                                 Counters& counters)
    : redis_(redis), counters_(counters), timer_(std::move(ex)) {}

void DeliveredCounts::add(std::string_view account, const config::ComplaintRate& rate) {
  GuardBucket b = guard_bucket(rate.window, now_ms());
  Pending& p = pending_[{std::string(account), std::move(b.field)}];
  ++p.count;
  p.ttl_ms = std::move(b.ttl_ms);
  if (armed_) return;
  armed_ = true;
  timer_.expires_after(kDeliveredFlushEvery);
  timer_.async_wait([this](error_code ec) {
    if (ec == asio::error::operation_aborted) return;  // stopping: flush() was called
    armed_ = false;
    flush();
  });
}

void DeliveredCounts::flush() {
  if (!redis_) return;
  for (auto& [key, p] : pending_) {
    const std::string hash = guard_delivered_key(key.first);
    const std::string by = std::to_string(p.count);
    redis_->command({"HINCRBY", hash, key.second, by}, [&counters = counters_](redis::Result&& r) {
      if (!r.ok()) counters.add(Counter::guard_count_failed);
    });
    redis_->command({"PEXPIRE", hash, p.ttl_ms}, [](redis::Result&&) {});
  }
  pending_.clear();
}

// ---------------------------------------------------------------- the loop

struct ComplaintGuard::Core {
  asio::any_io_executor ex;
  std::shared_ptr<redis::Client> redis;
  std::string node;
  std::chrono::milliseconds interval;
  config::ComplaintRate rate;
  std::vector<GuardAccount> accounts;
  bool enabled = false;
  Counters counters;
  asio::steady_timer wake;
  asio::steady_timer ended;  // cancelled when the loop has ended
  bool started = false, stopping = false, finished = false;
  bool redis_down_logged = false;

  Core(asio::any_io_executor e, redis::ClientConfig rc, std::string n, std::chrono::milliseconds i)
      : ex(e), redis(redis::Client::create(e, std::move(rc))), node(std::move(n)), interval(i),
        wake(e), ended(e, Clock::time_point::max()) {}

  GuardAccount* account(std::string_view id) {
    for (auto& a : accounts) {
      if (a.system_id == id) return &a;
    }
    return nullptr;
  }

  // One script per account, sent together; the answers in the same order.
  asio::awaitable<std::vector<redis::Result>> evaluate_all(const std::vector<GuardAccount>& list, bool write) {
    std::vector<redis::Result> results(list.size());
    if (list.empty()) co_return results;
    const std::string now = std::to_string(now_ms());
    const std::string window = std::to_string(rate.window.count());
    const std::string width = std::to_string(guard_bucket_seconds(rate.window));
    const std::string warn = format_number(rate.warn_per_1000);
    const std::string suspend = format_number(rate.suspend_per_1000);
    const std::string min = std::to_string(rate.min_delivered);
    std::size_t left = list.size();
    asio::steady_timer all_done(ex, Clock::time_point::max());
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string delivered = guard_delivered_key(list[i].system_id);
      const std::string complaints = guard_complaints_key(list[i].system_id);
      const std::array<std::string_view, 5> keys{delivered, complaints, kGuardSuspended, kGuardWarned, kGuardResumed};
      const std::array<std::string_view, 10> args{list[i].system_id, now, window, width, warn, suspend, min,
                                                  write ? "eval" : "read", list[i].marketing ? "1" : "0", node};
      redis->eval(evaluate_script(), keys, args, [&results, &left, &all_done, i](redis::Result&& r) {
        results[i] = std::move(r);
        if (--left == 0) all_done.cancel();
      });
    }
    while (left > 0) {
      error_code ec;
      co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    co_return results;
  }

  void set_flag(GuardAccount& a, bool suspended) {
    if (!a.state) return;
    const bool was = a.state->suspended.exchange(suspended);
    if (was && !suspended) {
      counters.add(Counter::accounts_resumed);
      log_event(spdlog::level::info, "account_resumed", {{"account", a.system_id}});
    }
  }

  asio::awaitable<void> tick() {
    if (!enabled) {
      for (auto& a : accounts) set_flag(a, false);
      co_return;
    }
    const auto list = accounts;  // a reload may replace them meanwhile
    const auto results = co_await evaluate_all(list, true);
    bool failed = false;
    std::string failure;
    for (std::size_t i = 0; i < list.size(); ++i) {
      Evaluation e;
      if (!results[i].ok() || !parse_evaluation(results[i].reply, e)) {
        failed = true;  // keep what we knew: neither lift nor impose on a guess
        failure = error_text(results[i]);
        continue;
      }
      const std::string& id = list[i].system_id;
      const std::string delivered = std::to_string(e.state.delivered), complaints = std::to_string(e.state.complaints),
                        per = format_rate(e.state.per_1000);
      if (e.newly_warned) {
        counters.add(Counter::complaint_rate_warnings);
        log_event(spdlog::level::warn, "complaint_rate_warning",
                  {{"account", id}, {"delivered", delivered}, {"complaints", complaints}, {"per_1000", per},
                   {"warn_per_1000", format_rate(rate.warn_per_1000)}});
      }
      if (e.newly_suspended) {
        counters.add(Counter::accounts_suspended);
        log_event(spdlog::level::err, "account_suspended",
                  {{"account", id}, {"delivered", delivered}, {"complaints", complaints}, {"per_1000", per},
                   {"suspend_per_1000", format_rate(rate.suspend_per_1000)},
                   {"status", std::to_string(rate.suspend_status)}});
      }
      if (GuardAccount* a = account(id)) {
        set_flag(*a, e.state.suspended && a->marketing && rate.suspend_per_1000 > 0);
      }
    }
    if (failed && !redis_down_logged) {
      redis_down_logged = true;
      log_event(spdlog::level::warn, "guard_unavailable",
                {{"error", failure}, {"reason", "suspensions kept as they were until Redis answers"}});
    } else if (!failed && redis_down_logged) {
      redis_down_logged = false;
      log_event(spdlog::level::info, "guard_available", {});
    }
  }

  // Just started (or reconnecting): an admin request waits for Redis a little.
  asio::awaitable<void> connected() {
    if (!redis->connected()) co_await redis->wait_for(redis::State::connected, redis->config().request_timeout);
  }

  static asio::awaitable<std::vector<AccountGuardState>> read_states(std::shared_ptr<Core> self) {
    co_await self->connected();
    const auto list = self->accounts;
    const auto results = co_await self->evaluate_all(list, false);
    std::vector<AccountGuardState> out;
    for (std::size_t i = 0; i < list.size(); ++i) {
      Evaluation e;
      if (!results[i].ok() || !parse_evaluation(results[i].reply, e)) {
        throw boost::system::system_error(
            results[i].error ? results[i].error : make_error_code(boost::system::errc::bad_message),
            "complaint rate guard: " + error_text(results[i]));
      }
      e.state.system_id = list[i].system_id;
      out.push_back(std::move(e.state));
    }
    co_return out;
  }

  static asio::awaitable<bool> lift(std::shared_ptr<Core> self, std::string id) {
    co_await self->connected();
    const std::string now = std::to_string(now_ms());
    const std::array<std::string_view, 3> keys{kGuardSuspended, kGuardResumed, kGuardWarned};
    const std::array<std::string_view, 2> args{id, now};
    const redis::Result r = co_await self->redis->eval(resume_script(), keys, args);
    if (!r.ok() || !r.reply.is_integer()) {
      throw boost::system::system_error(r.error ? r.error : make_error_code(boost::system::errc::bad_message),
                                        "complaint rate guard: " + error_text(r));
    }
    const bool was = r.reply.integer == 1;
    if (was) log_event(spdlog::level::warn, "suspension_lifted", {{"account", id}});
    if (GuardAccount* a = self->account(id)) self->set_flag(*a, false);
    co_return was;
  }

  static asio::awaitable<void> run(std::shared_ptr<Core> self) {
    co_await self->redis->wait_for(redis::State::connected, std::chrono::seconds(2));
    while (!self->stopping) {
      co_await self->tick();
      if (self->stopping) break;
      self->wake.expires_after(self->interval);
      error_code ec;
      co_await self->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
};

ComplaintGuard::ComplaintGuard(asio::any_io_executor executor, redis::ClientConfig redis, std::string node,
                               std::chrono::milliseconds interval)
    : core_(std::make_shared<Core>(executor, std::move(redis), std::move(node), interval)) {}

ComplaintGuard::~ComplaintGuard() {
  core_->stopping = true;
  core_->wake.cancel();
  core_->redis->stop();
}

void ComplaintGuard::configure(const config::ComplaintRate& rate, std::vector<GuardAccount> accounts, bool enabled) {
  core_->rate = rate;
  core_->enabled = enabled;
  // Accounts a reload removed are not refused any more; those it kept keep their flag.
  core_->accounts = std::move(accounts);
  if (!enabled || rate.suspend_per_1000 <= 0) {
    for (auto& a : core_->accounts) core_->set_flag(a, false);
  }
  for (auto& a : core_->accounts) {
    if (!a.marketing) core_->set_flag(a, false);
  }
}

void ComplaintGuard::start() {
  if (core_->started) return;
  core_->started = true;
  core_->redis->start();
  asio::co_spawn(core_->ex, Core::run(core_), [core = core_](std::exception_ptr e) {
    if (e) log_event(spdlog::level::err, "guard_failed", {{"error", exception_text(e)}});
    core->finished = true;
    core->ended.cancel();
  });
}

asio::awaitable<void> ComplaintGuard::stop() {
  const auto core = core_;
  core->stopping = true;
  core->wake.cancel();
  if (core->started && !core->finished) {
    // A tick in flight ends within the Redis request timeout.
    core->ended.expires_after(core->redis->config().request_timeout * 2 + std::chrono::milliseconds(100));
    error_code ec;
    co_await core->ended.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  core->redis->stop();
}

// On the guard's executor (its Redis client lives there), whoever asks.
asio::awaitable<std::vector<AccountGuardState>> ComplaintGuard::states() {
  auto out = co_await asio::co_spawn(core_->ex, Core::read_states(core_), asio::use_awaitable);
  co_return out;
}

asio::awaitable<bool> ComplaintGuard::resume(std::string system_id) {
  const bool was = co_await asio::co_spawn(core_->ex, Core::lift(core_, std::move(system_id)), asio::use_awaitable);
  co_return was;
}

const Counters& ComplaintGuard::counters() const { return core_->counters; }

}  // namespace smsgate::gateway
