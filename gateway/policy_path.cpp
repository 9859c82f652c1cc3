// The policy on the submit path, and the deferred messages' release.
//
//   submit_sm (marketing) -> quiet hours, locally, in every zone of the number
//     closed, action reject -> policy.statuses.quiet_hours
//     closed, action defer  -> opt-out check -> stored in Redis -> ESME_ROK with our id
//     open                  -> the decide script (opt-out, caps, history): one EVALSHA
//                                allow -> carrier;  refused -> the rule's status
//   every node's scheduler (worker 0) -> take due messages atomically -> quiet
//   hours again -> the decide script again (an opt-out that came overnight
//   wins) -> carrier, or a receipt saying why not (EXPIRED, REJECTD).
//
// Transactional accounts skip caps and quiet hours, and opt-outs too with
// policy.opt_out.transactional: skip. docs/policy.md tells the story.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/own_receipt.hpp"
#include "gateway/time_text.hpp"
#include "gateway/gateway.hpp"
#include "gateway/hash.hpp"
#include "gateway/redis_keys.hpp"
#include "policy/number.hpp"
#include "smpp/codec.hpp"
#include "smpp/receipt.hpp"
#include "smpp/status.hpp"
#include "smpp/time.hpp"
#include "smpp/udh.hpp"

namespace smsgate::gateway {

namespace status = smpp::status;
using SysClock = std::chrono::system_clock;

namespace {

// The text of a submit: short_message, or message_payload when that is used.
std::string_view body_of(const smpp::ShortMessage& sm, std::string& storage) {
  if (sm.short_message.empty()) {
    if (auto payload = sm.tlvs.message_payload()) {
      storage = std::move(*payload);
      return storage;
    }
  }
  return sm.short_message;
}

// "<ref>:<total>" of a part of a long message (UDH concatenation or sar_
// TLVs); empty for a message in one part.
std::string part_of(const smpp::ShortMessage& sm) {
  if (sm.esm_class & smpp::kEsmUdhi) {
    if (const auto split = smpp::parse_udh(sm.short_message)) {
      if (const auto concat = split->udh.concat()) {
        return std::to_string(concat->ref) + ":" + std::to_string(concat->total);
      }
    }
  }
  const auto ref = sm.tlvs.sar_msg_ref_num();
  const auto total = sm.tlvs.sar_total_segments();
  if (ref && total) return std::to_string(*ref) + ":" + std::to_string(*total);
  return {};
}

// When a deferred message is released: at the window's opening plus a share
// of the ramp that its id picks, so that a night's messages do not all go at
// 08:00:00. Never after it expires.
int64_t release_ms(SysClock::time_point open, std::string_view message_id, std::chrono::milliseconds ramp,
                   int64_t expires_ms) {
  int64_t at = policy::to_ms(open);
  if (ramp.count() > 0) at += static_cast<int64_t>(fnv1a64(message_id) % static_cast<uint64_t>(ramp.count()));
  return std::min(at, expires_ms);
}


}  // namespace

// ---------------------------------------------------------------- the submit decision

void Worker::check_policy(std::unique_ptr<SubmitJob> job) {
  const PolicyRuntime& rt = *job->snapshot->policy;
  const AccountEntry* account = job->snapshot->account(job->account);
  const bool marketing = !account || account->config.traffic == config::Traffic::marketing;
  const auto now = SysClock::now();
  if (marketing && !rt.quiet.rules().empty() && rt.zones) {
    const auto zones = rt.zones->zones_for(job->e164, job->region);
    policy::QuietDecision q = rt.quiet.evaluate(job->region, zones, now);
    if (!q.allowed) {
      if (q.action == policy::QuietAction::reject) {
        rt.hit("quiet_reject:" + q.rule);
        counters_.add(Counter::policy_quiet_rejected);
        log_decision(*job, "quiet_hours", q.rule);
        refuse_submit(*job, rt.config.statuses.quiet_hours);
        return;
      }
      asio::co_spawn(io_, defer_submit(std::move(job), std::move(q)), asio::detached);
      return;
    }
  }
  policy::Submit s = make_submit(*job, rt, marketing);
  // The callback is copied into a std::function: the job travels as a raw
  // pointer, taken back at once.
  SubmitJob* raw = job.release();
  store_->decide(s, now, [this, raw](policy::DecideResult&& r) { on_decision(std::unique_ptr<SubmitJob>(raw), r); });
}

policy::Submit Worker::make_submit(const SubmitJob& job, const PolicyRuntime& rt, bool marketing) const {
  const auto& sm = job.pdu.as<smpp::ShortMessage>();
  policy::Submit s;
  s.e164 = "+" + job.e164;
  s.account = job.account;
  s.source = job.source;
  s.message_id = job.message_id;
  std::string storage;
  const std::string_view body = body_of(sm, storage);
  s.text_hash = hex64(fnv1a64(body));
  if (rt.config.history.text) {
    std::string_view text = body;
    if (sm.esm_class & smpp::kEsmUdhi) {
      if (const auto split = smpp::parse_udh(body)) text = split->payload;
    }
    s.text = smpp::decode_text(text, sm.data_coding).value_or("");
  }
  s.part = part_of(sm);
  s.check_caps = marketing;
  s.check_opt_out = marketing || rt.config.transactional_opt_out == config::TransactionalOptOut::enforce;
  return s;
}

void Worker::on_decision(std::unique_ptr<SubmitJob> job, const policy::DecideResult& r) {
  const PolicyRuntime& rt = *job->snapshot->policy;
  if (!r.ok()) {
    if (job->snapshot->config.redis.on_error == config::OnRedisError::allow) {
      rt.hit("redis_down_allowed");
      counters_.add(Counter::policy_redis_down_allowed);
      log_limited(spdlog::level::warn, "policy_unchecked",
                  {{"account", job->account},
                   {"to", policy::mask_number(job->e164)},
                   {"id", job->message_id},
                   {"error", r.error_text.empty() ? r.error.message() : r.error_text},
                   {"on_error", "allow"}});
      dispatch(std::move(job));
    } else {
      rt.hit("redis_down_rejected");
      counters_.add(Counter::policy_redis_down_rejected);
      log_limited(spdlog::level::warn, "policy_unavailable",
                  {{"account", job->account},
                   {"error", r.error_text.empty() ? r.error.message() : r.error_text},
                   {"on_error", "reject"}});
      refuse_submit(*job, status::ESME_RSYSERR);
    }
    return;
  }
  switch (r.decision.outcome) {
    case policy::Outcome::allow:
      rt.hit("allowed");
      counters_.add(Counter::policy_allowed);
      dispatch(std::move(job));
      return;
    case policy::Outcome::opted_out:
      rt.hit("opted_out");
      counters_.add(Counter::policy_opted_out);
      log_decision(*job, "opted_out", r.decision.rule);
      refuse_submit(*job, rt.config.statuses.opted_out);
      return;
    case policy::Outcome::frequency_cap:
      rt.hit("cap:" + r.decision.rule);
      counters_.add(Counter::policy_capped);
      log_decision(*job, "frequency_cap", r.decision.rule);
      refuse_submit(*job, rt.config.statuses.frequency_cap);
      return;
  }
}

void Worker::refuse_submit(const SubmitJob& job, uint32_t result) {
  counters_.add(Counter::submit_rejected);
  if (job.account_session) job.account_session->respond(smpp::CommandId::submit_sm, job.sequence, result);
}

void Worker::log_decision(const SubmitJob& job, std::string_view outcome, std::string_view rule) {
  if (!spdlog::should_log(spdlog::level::debug)) return;
  log_event(spdlog::level::debug, "policy",
            {{"account", job.account},
             {"to", policy::mask_number(job.e164)},
             {"id", job.message_id},
             {"outcome", outcome},
             {"rule", rule}});
}

// Accepted only once Redis holds it: an opted-out number is refused now,
// not in the morning.
asio::awaitable<void> Worker::defer_submit(std::unique_ptr<SubmitJob> job, policy::QuietDecision q) {
  const auto snapshot = job->snapshot;
  const PolicyRuntime& rt = *snapshot->policy;
  const auto store = store_;
  const auto now = SysClock::now();
  const auto& sm = job->pdu.as<smpp::ShortMessage>();
  std::chrono::milliseconds max_defer{std::chrono::hours(24)};
  for (const auto& rule : rt.config.quiet_hours) {
    if (rule.name == q.rule) max_defer = rule.max_defer;
  }
  int64_t expires = policy::to_ms(now) + max_defer.count();
  if (const auto validity = smpp::parse_smpp_time(sm.validity_period, now)) {
    expires = std::min(expires, policy::to_ms(*validity));
  }
  if (!q.next_open || policy::to_ms(*q.next_open) >= expires) {
    rt.hit("quiet_reject:" + q.rule);
    counters_.add(Counter::policy_quiet_rejected);
    log_decision(*job, "quiet_hours", q.rule);
    refuse_submit(*job, rt.config.statuses.quiet_hours);
    co_return;
  }
  const bool check_opt_out = true;  // deferral is for marketing only
  if (check_opt_out) {
    const auto c = co_await store->check_opt_out("+" + job->e164, job->account, job->source);
    if (!c.ok()) {
      // A message that may not go now cannot go unchecked: whatever
      // redis.on_error says, a deferral needs Redis.
      rt.hit("redis_down_rejected");
      counters_.add(Counter::policy_redis_down_rejected);
      refuse_submit(*job, status::ESME_RSYSERR);
      co_return;
    }
    if (c.decision.outcome == policy::Outcome::opted_out) {
      rt.hit("opted_out");
      counters_.add(Counter::policy_opted_out);
      log_decision(*job, "opted_out", c.decision.rule);
      refuse_submit(*job, rt.config.statuses.opted_out);
      co_return;
    }
  }
  policy::Deferred d;
  d.message_id = job->message_id;
  d.pdu = smpp::encode(job->pdu);
  d.account = job->account;
  d.e164 = job->e164;
  d.source = job->source;
  d.part = part_of(sm);
  d.rule = q.rule;
  d.accepted_ms = policy::to_ms(now);
  d.expires_ms = expires;
  d.release_ms = release_ms(*q.next_open, d.message_id, rt.config.defer.ramp, expires);
  if (const auto ec = co_await store->defer(d)) {
    counters_.add(Counter::policy_redis_down_rejected);
    log_limited(spdlog::level::warn, "defer_failed", {{"account", job->account}, {"error", ec.message()}});
    refuse_submit(*job, status::ESME_RSYSERR);
    co_return;
  }
  rt.hit("deferred:" + q.rule);
  counters_.add(Counter::policy_deferred);
  log_decision(*job, "deferred", q.rule);
  smpp::Pdu resp = net::make_response(smpp::CommandId::submit_sm, job->sequence);
  resp.as<smpp::MessageIdResp>().message_id = job->message_id;
  if (job->account_session) job->account_session->respond(resp);
}

// ---------------------------------------------------------------- release

// Ends when the gateway shuts down or this worker stops (stop() cancels
// scheduler_timer_; a timer of its own would keep the worker's io_context,
// and so stop()'s join, waiting).
asio::awaitable<void> Worker::run_scheduler() {
  bool more = false;
  for (;;) {
    if (stopped_ || gateway_.stopping()) co_return;
    const auto snapshot = snapshot_;
    const config::Defer& d = snapshot->config.policy.defer;
    if (!more) {
      // While this node sends released messages it looks at least every
      // third of the lease, to extend theirs (a poll_interval near the
      // lease would let them run out).
      scheduler_timer_.expires_after(releasing_.empty() ? d.poll_interval : std::min(d.poll_interval, d.lease / 3));
      error_code ec;
      co_await scheduler_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    more = false;
    if (stopped_ || gateway_.stopping()) co_return;
    if (!redis_->connected()) continue;
    co_await classify_incomplete_replies();
    const auto store = store_;
    co_await extend_leases(*store, d.lease);
    auto [ec, taken] = co_await store->take_due(SysClock::now(), d.batch, d.lease);
    if (ec) continue;
    more = taken.size() >= d.batch;
    // Side by side, not one Redis round trip after another: a batch released
    // in series took longer than its lease under load (then another node
    // takes it again: a duplicate). The next take waits for all of them.
    auto left = std::make_shared<std::size_t>(taken.size());
    asio::steady_timer all_done(io_, asio::steady_timer::time_point::max());
    for (auto& m : taken) {
      asio::co_spawn(io_, release(std::move(m)), [this, left, &all_done](std::exception_ptr e) {
        if (e) log_limited(spdlog::level::err, "release_failed", {{"error", exception_text(e)}});
        if (--*left == 0) all_done.cancel();
      });
    }
    if (*left > 0) {
      error_code wait_ec;
      co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, wait_ec));
    }
  }
}

// At most every third of the lease: the messages this node still sends
// keep their leases (a queue behind a slow carrier can outlast one).
asio::awaitable<void> Worker::extend_leases(policy::Store& store, std::chrono::milliseconds lease) {
  const auto now = std::chrono::steady_clock::now();
  if (releasing_.empty() || now - leases_extended_ < lease / 3) co_return;
  leases_extended_ = now;
  std::vector<std::pair<std::string, int32_t>> held(releasing_.begin(), releasing_.end());
  const auto [ec, extended] = co_await store.extend_leases(held, SysClock::now() + lease);
  if (!ec && extended < held.size()) {
    log_limited(spdlog::level::warn, "deferred_lease_lost",
                {{"held", std::to_string(held.size())}, {"extended", std::to_string(extended)}});
  }
}

asio::awaitable<void> Worker::release(policy::Deferred m) {
  const auto snapshot = snapshot_;
  const auto store = store_;
  const auto now = SysClock::now();
  const int64_t now_ms = policy::to_ms(now);
  if (m.sending_ms != 0) {
    // A scheduler (this node before a restart, or another that died) began
    // sending it and never finished: the carrier may have it. At most once.
    co_await end_deferred(m, smpp::MessageState::unknown, 0, "interrupted_release");
    co_return;
  }
  if (now_ms > m.expires_ms) {
    co_await end_deferred(m, smpp::MessageState::expired, 0, "expired");
    co_return;
  }
  auto decoded = smpp::decode({reinterpret_cast<const uint8_t*>(m.pdu.data()), m.pdu.size()});
  if (!decoded || decoded.pdu().command_id != smpp::CommandId::submit_sm) {
    log_event(spdlog::level::err, "deferred_unreadable", {{"id", m.message_id}, {"account", m.account}});
    co_await store->finish_deferred(m.message_id);
    co_return;
  }
  const AccountEntry* account = snapshot->account(m.account);
  const bool marketing = !account || account->config.traffic == config::Traffic::marketing;
  auto job = std::make_unique<SubmitJob>();
  job->snapshot = snapshot;
  job->route = snapshot->route_for(m.e164);
  job->account = m.account;
  job->e164 = m.e164;
  job->region = policy::region_of(m.e164);
  job->source = m.source;
  job->message_id = m.message_id;
  job->origin = index_;
  job->deferred = true;
  job->deferred_expires_ms = m.expires_ms;
  job->deferred_accepted_ms = m.accepted_ms;
  job->pdu = std::move(decoded.pdu());
  // Every part of a long message takes the same carrier bind.
  job->concat_hash = m.part.empty() ? 0 : (fnv1a64(m.account + '\0' + m.e164 + '\0' + m.part) | 1);

  const PolicyRuntime* rt = snapshot->policy.get();
  if (rt && rt->enabled()) {
    // The rules may have changed since: quiet hours again.
    if (marketing && !rt->quiet.rules().empty() && rt->zones) {
      const auto q = rt->quiet.evaluate(job->region, rt->zones->zones_for(job->e164, job->region), now);
      if (!q.allowed) {
        if (q.next_open && policy::to_ms(*q.next_open) < m.expires_ms && q.action == policy::QuietAction::defer) {
          co_await store->requeue_deferred(
              m.message_id,
              SysClock::time_point(std::chrono::milliseconds(
                  release_ms(*q.next_open, m.message_id, rt->config.defer.ramp, m.expires_ms))));
        } else {
          co_await end_deferred(m, smpp::MessageState::expired, 0, "quiet_hours");
        }
        co_return;
      }
    }
    policy::Submit s = make_submit(*job, *rt, marketing);
    s.part = m.part;
    const auto r = co_await store->decide(s, now);
    if (!r.ok()) co_return;  // Redis went away: the lease runs out and it is taken again
    if (r.decision.outcome == policy::Outcome::opted_out) {
      rt->hit("opted_out");
      co_await end_deferred(m, smpp::MessageState::rejected, rt->config.statuses.opted_out, "opted_out");
      co_return;
    }
    if (r.decision.outcome == policy::Outcome::frequency_cap) {
      rt->hit("cap:" + r.decision.rule);
      co_await end_deferred(m, smpp::MessageState::rejected, rt->config.statuses.frequency_cap, "frequency_cap");
      co_return;
    }
  }
  // Marked in Redis before it leaves: a scheduler that takes it after this
  // node dies ends it with a receipt instead of sending it twice.
  const auto [mark_ec, still_ours] = co_await store->mark_sending(m.message_id, m.attempts, SysClock::now());
  if (mark_ec || !still_ours) co_return;  // Redis away: its lease runs out; not ours: another scheduler has it
  releasing_.insert_or_assign(m.message_id, m.attempts);
  counters_.add(Counter::deferred_released);
  dispatch(std::move(job));
}

// The carrier's answer to a released message (on its origin worker).
void Worker::answer_deferred(std::unique_ptr<SubmitJob> job) {
  const auto store = store_;
  const std::string id = job->message_id;
  if (job->status == status::ESME_ROK) {
    const std::string id_key = keys::id_map(job->carrier_name, job->carrier_id);
    const std::string id_value = keys::id_map_value(id, job->account);
    const std::string last_key = keys::last_sender(job->e164, job->source);
    const std::string last_ttl = std::to_string(keys::kLastSenderTtlSeconds);
    redis_->command({"SET", last_key, job->account, "EX", last_ttl}, [](redis::Result&&) {});
    // The mapping and the finish in one script: a node that dies after it
    // leaves nothing for another scheduler to end with a second receipt.
    const int64_t ttl = job->snapshot->config.receipts.id_map_ttl.count();
    asio::co_spawn(
        io_,
        [this, store, id, id_key, id_value, ttl, j = std::move(job)]() -> asio::awaitable<void> {
          error_code ec = co_await store->finish_sent(id, id_key, id_value, ttl);
          if (ec) {
            // The mapping waits in memory; the finish is tried again while
            // this node keeps the lease (releasing_), so that no scheduler
            // ends the message UNKNOWN after the carrier took it.
            keep_id_map(*j, redis::Result{ec, {}});
            while (ec && !stopped_ && !gateway_.stopping()) {
              co_await sleep_for(std::chrono::milliseconds(500));
              ec = co_await store->finish_deferred(id);
            }
          }
          releasing_.erase(id);
        },
        asio::detached);
    return;
  }
  releasing_.erase(id);  // its end below is final (or a requeue)
  policy::Deferred m;
  m.message_id = id;
  m.account = job->account;
  m.e164 = job->e164;
  m.source = job->source;
  m.accepted_ms = job->deferred_accepted_ms;
  m.expires_ms = job->deferred_expires_ms;
  const uint8_t registered = job->pdu.as<smpp::ShortMessage>().registered_delivery;
  if (job->no_carrier && policy::to_ms(SysClock::now()) + kDeferRetry.count() < m.expires_ms) {
    // No carrier bound: try again shortly; it has not left.
    asio::co_spawn(
        io_,
        [store, id]() -> asio::awaitable<void> {
          co_await store->requeue_deferred(id, SysClock::now() + kDeferRetry);
        },
        asio::detached);
    return;
  }
  // Refused by the carrier; or lost (no answer, none can come): the carrier
  // may have it, so it is not sent again and its receipt says UNKNOWN.
  const bool lost = job->lost;
  const uint32_t s = lost ? 0 : job->status;
  asio::co_spawn(
      io_,
      [this, m = std::move(m), lost, s, registered]() -> asio::awaitable<void> {
        co_await end_deferred(m, lost ? smpp::MessageState::unknown : smpp::MessageState::undeliverable, s,
                              lost ? "carrier_connection_lost" : "carrier", registered);
      },
      asio::detached);
}

// A deferred message that will not be sent: its receipt (when the account
// asked for one) is stored for the account before the message leaves the
// queue, so that neither is lost.
asio::awaitable<void> Worker::end_deferred(const policy::Deferred& m, smpp::MessageState state, uint32_t error,
                                           std::string_view why, int registered) {
  const auto store = store_;
  if (registered < 0) {
    registered = 1;
    auto decoded = smpp::decode({reinterpret_cast<const uint8_t*>(m.pdu.data()), m.pdu.size()});
    if (decoded && decoded.pdu().command_id == smpp::CommandId::submit_sm) {
      registered = decoded.pdu().as<smpp::ShortMessage>().registered_delivery;
    }
  }
  if ((registered & 0x03) != 0) {
    smpp::Pdu pdu;
    pdu.command_id = smpp::CommandId::deliver_sm;
    smpp::ShortMessage sm = own_receipt_message(m.e164, m.source, m.message_id, from_ms(m.accepted_ms), state, error);
    pdu.body = std::move(sm);
    const std::string bytes = smpp::encode(pdu);
    const std::string key = keys::pending(m.account);
    const auto stored = co_await redis_->command("RPUSH", key, bytes);
    if (!stored.ok()) co_return;  // still taken: its lease runs out and it comes back
    // As Worker::store() does: the list's TTL refreshed to receipts.id_map_ttl.
    const std::string ttl = std::to_string(snapshot_->config.receipts.id_map_ttl.count());
    redis_->command({"PEXPIRE", key, ttl}, [](redis::Result&&) {});
    counters_.add(Counter::stored);
    drain_soon(m.account);
  }
  counters_.add(state == smpp::MessageState::expired   ? Counter::deferred_expired
               : state == smpp::MessageState::unknown ? Counter::deferred_unknown
                                                      : Counter::deferred_refused);
  log_event(spdlog::level::info, "deferred_ended",
            {{"id", m.message_id},
             {"account", m.account},
             {"to", policy::mask_number(m.e164)},
             {"state", smpp::stat_text(state)},
             {"why", why}});
  co_await store->finish_deferred(m.message_id);
}

}  // namespace smsgate::gateway
