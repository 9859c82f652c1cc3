// The submit path: submit_sm from an account -> destination to E.164 ->
// policy -> route -> a carrier bind (on whichever worker it lives) -> the
// carrier's submit_sm_resp -> carrier id -> our id in Redis -> submit_sm_resp
// to the account with our id. docs/gateway.md tells the story.
//
// A carrier that does not answer within response_timeout: the account is
// told ESME_ROK with our id at the timeout (the carrier may well have the
// message; an error would make the account send it twice), and the session
// keeps taking the carrier's answer for late_response_window: a late
// ESME_ROK writes the id mapping (the carrier's receipt then finds the
// account), a late refusal or no answer at all ends in a receipt of our own
// (UNDELIV, UNKNOWN).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/own_receipt.hpp"
#include "gateway/carrier_id.hpp"
#include "gateway/gateway.hpp"
#include "gateway/hash.hpp"
#include "gateway/redis_keys.hpp"
#include "policy/number.hpp"
#include "smpp/codec.hpp"
#include "smpp/receipt.hpp"
#include "smpp/status.hpp"
#include "smpp/udh.hpp"

namespace smsgate::gateway {

namespace status = smpp::status;
using Clock = std::chrono::steady_clock;

namespace {

// Non-zero for a part of a long message (UDH concatenation or sar_ TLVs): the
// same for every part of it, so that all parts take the same carrier bind.

// Unwritten id mappings written per round, and the pause between rounds.
constexpr std::size_t kIdBacklogBatch = 1000;
constexpr std::chrono::milliseconds kIdBacklogEvery{250};

uint64_t concat_hash(std::string_view account, std::string_view e164, const smpp::ShortMessage& sm) {
  std::optional<uint16_t> ref;
  if (sm.esm_class & smpp::kEsmUdhi) {
    if (const auto split = smpp::parse_udh(sm.short_message)) {
      if (const auto concat = split->udh.concat()) ref = concat->ref;
    }
  }
  if (!ref) ref = sm.tlvs.sar_msg_ref_num();
  if (!ref) return 0;
  uint64_t h = fnv1a64(account);
  h = fnv1a64(std::string_view("\0", 1), h);
  h = fnv1a64(e164, h);
  const char r[2] = {static_cast<char>(*ref >> 8), static_cast<char>(*ref & 0xFF)};
  h = fnv1a64(std::string_view(r, 2), h);
  return h ? h : 1;
}

// The pause before sending again what a carrier throttled: 100 ms, doubling, at most 3.2 s.
std::chrono::milliseconds throttle_backoff(uint32_t attempt) {
  return std::chrono::milliseconds(100) * (1u << std::min<uint32_t>(attempt - 1, 5));
}

}  // namespace

void Worker::on_submit(AccountBind& bind, net::Session& session, smpp::Pdu&& pdu) {
  counters_.add(Counter::submit_received);
  const auto refuse = [&](uint32_t s) { session.respond(smpp::CommandId::submit_sm, pdu.sequence_number, s); };
  const AccountEntry* account = bind.state ? snapshot_->account(bind.state->system_id) : nullptr;
  if (!account) {  // removed by a reload; its sessions are being unbound
    refuse(status::ESME_RBINDFAIL);
    return;
  }
  // Suspended by the complaint rate guard (gateway/guard.hpp): marketing only.
  if (account->state->suspended.load(std::memory_order_relaxed) &&
      account->config.traffic == config::Traffic::marketing) {
    counters_.add(Counter::submit_suspended);
    const uint32_t suspended = snapshot_->config.replies.complaint_rate.suspend_status;
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count();
    int64_t logged = account->state->suspended_logged_ms.load(std::memory_order_relaxed);
    if (now_ms - logged >= 1000 &&
        account->state->suspended_logged_ms.compare_exchange_strong(logged, now_ms, std::memory_order_relaxed)) {
      log_event(spdlog::level::warn, "submit_suspended",
                {{"account", account->config.system_id}, {"status", status::status_name(suspended)}});
    }
    refuse(suspended);
    return;
  }
  if (!account->state->tps.try_acquire()) {
    counters_.add(Counter::submit_throttled);
    refuse(status::ESME_RTHROTTLED);
    return;
  }
  account->state->submitted.fetch_add(1, std::memory_order_relaxed);
  auto& sm = pdu.as<smpp::ShortMessage>();
  std::string why;
  const auto number = policy::normalise_number(sm.dest.addr, sm.dest.ton, account->config.default_region, &why);
  if (!number) {
    counters_.add(Counter::submit_invalid_dest);
    log_limited(spdlog::level::warn, "invalid_destination",
                {{"account", account->config.system_id},
                 {"number", policy::mask_number(sm.dest.addr)},
                 {"ton", std::to_string(sm.dest.ton)},
                 {"reason", why}});
    refuse(status::ESME_RINVDSTADR);
    return;
  }
  auto job = std::make_unique<SubmitJob>();
  job->account_session = session.shared_from_this();
  job->snapshot = snapshot_;
  job->route = snapshot_->route_for(number->e164);
  job->account = account->config.system_id;
  job->e164 = number->e164;
  job->source = sm.source.addr;
  job->region = number->region;
  job->message_id = ids_.next();
  job->concat_hash = concat_hash(job->account, job->e164, sm);
  job->origin = index_;
  job->sequence = pdu.sequence_number;
  job->received_at = Clock::now();
  // Carriers get one form of number whatever the account sent: E.164 as an
  // international ISDN number. Everything else, TLVs included, is as received.
  sm.dest = smpp::Address{policy::ton::international, 1, number->e164};
  job->pdu = std::move(pdu);
  if (snapshot_->policy->enabled()) {
    check_policy(std::move(job));
  } else {
    dispatch(std::move(job));
  }
}

// Picks the carrier (first of the route with a bound bind; after a carrier
// throttled the message, that carrier only) and the bind, and hands the job
// to the bind's worker.
void Worker::dispatch(std::unique_ptr<SubmitJob> job) {
  CarrierLink* link = nullptr;
  if (++job->hops > 16) {  // binds keep vanishing under it: give up rather than loop
    complete(std::move(job), status::ESME_RSYSERR);
    return;
  }
  if (job->carrier) {
    if (!job->carrier->retired.load(std::memory_order_relaxed)) {
      link = job->carrier->pick(index_, job->concat_hash, round_robin_);
    }
    if (!link) {
      complete(std::move(job), status::ESME_RTHROTTLED);
      return;
    }
  } else if (job->route) {
    for (Carrier* c : *job->route) {
      if (c->retired.load(std::memory_order_relaxed)) continue;
      if ((link = c->pick(index_, job->concat_hash, round_robin_))) break;
    }
  }
  if (!link) {
    counters_.add(Counter::submit_no_route);
    job->no_carrier = true;
    const uint32_t no_route = job->snapshot->config.no_route_status;
    complete(std::move(job), no_route);
    return;
  }
  const unsigned w = link->worker;
  run_on(w, [&gateway = gateway_, w, link, job = std::move(job)]() mutable {
    gateway.worker(w).enqueue(*link, std::move(job));
  });
}

// On the link's worker: send now when the window and the carrier's rate
// allow, else queue behind the others.
void Worker::enqueue(CarrierLink& link, std::unique_ptr<SubmitJob> job) {
  const auto& session = link.client ? link.client->session() : nullptr;
  if (!link.bound.load(std::memory_order_relaxed) || !session || !session->is_bound()) {
    dispatch(std::move(job));  // lost its bind before anything was sent: pick again
    return;
  }
  if (link.queue.empty() && session->writable()) {
    const auto now = Clock::now();
    job->ready_at = link.carrier->shaper.reserve(now);
    if (job->ready_at <= now) {
      send(link, std::move(job));
      return;
    }
  }
  link.queue.push_back(std::move(job));
  if (!link.pumping) {
    link.pumping = true;
    asio::co_spawn(io_, pump(link.carrier->shared_from_this(), link), asio::detached);
  }
}

// Sends the link's queue as its window and the carrier's max_tps allow.
asio::awaitable<void> Worker::pump(std::shared_ptr<Carrier> carrier, CarrierLink& link) {
  asio::steady_timer timer(io_);
  while (!link.queue.empty()) {
    const auto session = link.client ? link.client->session() : nullptr;
    if (!link.bound.load(std::memory_order_relaxed) || !session || !session->is_bound()) {
      auto queued = std::move(link.queue);
      link.queue.clear();
      for (auto& job : queued) dispatch(std::move(job));
      break;
    }
    if (!session->writable()) {
      co_await session->wait_writable();  // an error: the loop sees the session unbound
      continue;
    }
    auto& front = link.queue.front();
    const auto now = Clock::now();
    if (front->ready_at == Clock::time_point{}) front->ready_at = carrier->shaper.reserve(now);
    if (front->ready_at > now) {
      timer.expires_at(front->ready_at);
      error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    auto job = std::move(front);
    link.queue.pop_front();
    send(link, std::move(job));
  }
  link.pumping = false;
}

void Worker::send(CarrierLink& link, std::unique_ptr<SubmitJob> job) {
  // The callback owns the job once the request is sent; try_request drops
  // its callback uncalled when it refuses, so the job travels as a raw
  // pointer and is taken back on refusal.
  // The late callback shares the pointer: the session invokes it only after
  // a timeout whose Reply says late_pending, and then the job is its own.
  SubmitJob* raw = job.release();
  auto on_reply = [this, l = &link, raw](net::Reply&& reply) {
    on_carrier_response(*l, std::unique_ptr<SubmitJob>(raw), std::move(reply));
  };
  const auto& session = link.client->session();
  const auto sent = raw->deferred || raw->internal
                        ? session->try_request(raw->pdu, std::move(on_reply))
                        : session->try_request(raw->pdu, std::move(on_reply), [this, l = &link, raw](net::Reply&& reply) {
                            on_late_response(*l, std::unique_ptr<SubmitJob>(raw), std::move(reply));
                          });
  if (sent.error) {
    job.reset(raw);
    job->ready_at = {};
    link.queue.push_front(std::move(job));
    if (!link.pumping) {
      link.pumping = true;
      asio::co_spawn(io_, pump(link.carrier->shared_from_this(), link), asio::detached);
    }
  }
}

// On the link's worker. A request without a response (the session dropped,
// the response timed out) may or may not have reached the carrier: it is
// never sent again by the gateway. A timeout with the late window on is
// answered ESME_ROK (on_late_response follows), a drop ESME_ROK and a
// receipt UNKNOWN; with the window off, ESME_RSYSERR. Only a request the
// session never handed to its socket (Error::not_sent) goes to another bind.
void Worker::on_carrier_response(CarrierLink& link, std::unique_ptr<SubmitJob> job, net::Reply&& reply) {
  if (reply.late_pending) {
    // The job now belongs to the late callback; the account's answer
    // travels in a copy without the PDU.
    SubmitJob* kept = job.release();
    counters_.add(Counter::submit_carrier_timeout);
    log_limited(spdlog::level::warn, "carrier_timeout",
                {{"carrier", link.carrier->name()}, {"id", kept->message_id}, {"answer", "ESME_ROK, late answer awaited"}});
    auto answer = std::make_unique<SubmitJob>();
    answer->account_session = kept->account_session;
    answer->snapshot = kept->snapshot;
    answer->account = kept->account;
    answer->e164 = kept->e164;
    answer->source = kept->source;
    answer->message_id = kept->message_id;
    answer->origin = kept->origin;
    answer->sequence = kept->sequence;
    answer->received_at = kept->received_at;
    answer->awaiting_carrier = true;
    kept->account_session.reset();  // answered through the copy; receipts go by account name
    complete(std::move(answer), status::ESME_ROK);
    return;
  }
  if (reply.error == net::Error::not_sent) {
    // The bind closed before the request reached its socket: the carrier
    // never saw it, so it may go to another bind (or no_route).
    job->ready_at = {};
    dispatch(std::move(job));
    return;
  }
  // No answer, and none can come: the carrier may well have it (a drop
  // right after the write, or before the answer was read). An error would
  // have the account resend it: the phone twice. So, as a timeout with no
  // late answer: ESME_ROK and a receipt UNKNOWN; a released deferred
  // message (no late window for it) ends UNKNOWN on a timeout too.
  const bool closed = reply.error == net::Error::closed;
  const bool unanswered = closed || reply.error == net::Error::timeout;
  if (!job->internal && unanswered &&
      (job->deferred || (closed && job->snapshot->config.smpp.session.late_response_window.count() > 0))) {
    counters_.add(closed ? Counter::submit_carrier_dropped : Counter::submit_carrier_lost);
    log_limited(spdlog::level::warn, closed ? "carrier_dropped_in_flight" : "carrier_timeout",
                {{"carrier", link.carrier->name()},
                 {"id", job->message_id},
                 {"answer", job->deferred ? "receipt UNKNOWN" : "ESME_ROK, receipt UNKNOWN"}});
    job->lost = true;
    job->awaiting_carrier = true;
    const uint32_t answer = job->deferred ? status::ESME_RSYSERR : status::ESME_ROK;  // a deferred one: answer_deferred
    complete(std::move(job), answer);
    return;
  }
  if (reply.error) {
    counters_.add(Counter::submit_carrier_lost);
    complete(std::move(job), status::ESME_RSYSERR);
    return;
  }
  const uint32_t s = reply.pdu.command_status;
  Carrier* carrier = link.carrier;
  if (s == status::ESME_RTHROTTLED && job->throttled < carrier->config.throttle_retries) {
    counters_.add(Counter::carrier_throttle_retries);
    ++job->throttled;
    job->carrier = carrier;
    job->ready_at = {};
    auto timer = std::make_shared<asio::steady_timer>(io_, throttle_backoff(job->throttled));
    timer->async_wait([this, timer, job = std::move(job)](error_code) mutable { dispatch(std::move(job)); });
    return;
  }
  if (s == status::ESME_ROK) {
    const auto* resp = std::get_if<smpp::MessageIdResp>(&reply.pdu.body);
    job->carrier_id = canonical_carrier_id(resp ? std::string_view(resp->message_id) : "", carrier->config.id_format);
    job->carrier_name = carrier->name();
  } else {
    counters_.add(Counter::submit_carrier_status);
  }
  complete(std::move(job), s);
}

// On the link's worker: what the carrier said after the timeout, for a
// message the account was told was accepted. Never sent again: a carrier
// that throttled it late gets no second try, the account a receipt.
void Worker::on_late_response(CarrierLink& link, std::unique_ptr<SubmitJob> job, net::Reply&& reply) {
  job->late = true;
  if (reply.error) {  // the window ended (or the session closed) without an answer
    counters_.add(Counter::carrier_late_unknown);
    own_receipt(*job, smpp::MessageState::unknown, 0, reply.error.message());
    return;
  }
  counters_.add(Counter::carrier_late_answers);
  const uint32_t s = reply.pdu.command_status;
  if (s != status::ESME_ROK) {
    counters_.add(Counter::carrier_late_refused);  // not submit_carrier_status: the submit was answered ESME_ROK
    own_receipt(*job, smpp::MessageState::undeliverable, s, "late refusal");
    return;
  }
  Carrier* carrier = link.carrier;
  const auto* resp = std::get_if<smpp::MessageIdResp>(&reply.pdu.body);
  job->carrier_id = canonical_carrier_id(resp ? std::string_view(resp->message_id) : "", carrier->config.id_format);
  job->carrier_name = carrier->name();
  complete(std::move(job), s);  // the origin worker writes the mapping
}

// A receipt in the form carriers write them, from smsgate, for the account
// (when its submit_sm asked for one): straight to a receiver bind, or stored.
void Worker::own_receipt(const SubmitJob& job, smpp::MessageState state, uint32_t error, std::string_view why) {
  log_limited(spdlog::level::warn, "own_receipt",
              {{"id", job.message_id},
               {"account", job.account},
               {"to", policy::mask_number(job.e164)},
               {"stat", smpp::stat_text(state)},
               {"why", why}});
  const auto* submitted = std::get_if<smpp::ShortMessage>(&job.pdu.body);
  if (!submitted || (submitted->registered_delivery & 0x03) == 0) return;
  const auto submitted_at = std::chrono::system_clock::now() -
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - job.received_at);
  smpp::ShortMessage sm = own_receipt_message(job.e164, job.source, job.message_id, submitted_at, state, error);
  auto delivery = std::make_unique<Delivery>();
  delivery->account = job.account;
  delivery->pdu.command_id = smpp::CommandId::deliver_sm;
  delivery->pdu.body = std::move(sm);
  deliver(std::move(delivery));
}

void Worker::complete(std::unique_ptr<SubmitJob> job, uint32_t result) {
  job->status = result;
  const unsigned origin = job->origin;
  run_on(origin, [&gateway = gateway_, origin, job = std::move(job)]() mutable {
    gateway.worker(origin).answer_submit(std::move(job));
  });
}

// On the account's worker: the id mapping is stored before the account hears
// of the message. A failed write still answers ESME_ROK - the carrier has
// the message - but its receipt will not find the account (counted, logged).
void Worker::answer_submit(std::unique_ptr<SubmitJob> job) {
  if (job->deferred) {
    answer_deferred(std::move(job));
    return;
  }
  if (job->internal) {
    if (job->status != status::ESME_ROK) {
      counters_.add(Counter::reply_answer_failed);
      log_limited(spdlog::level::warn, "answer_not_sent",
                  {{"to", policy::mask_number(job->e164)}, {"status", status::status_name(job->status)}});
    }
    return;
  }
  if (job->late) {  // the account has its answer; the mapping is what is left
    write_id_map(*job);
    return;
  }
  if (job->status != status::ESME_ROK) {
    job->account_session->respond(smpp::CommandId::submit_sm, job->sequence, job->status);
    metrics_.submit_latency.observe(Clock::now() - job->received_at);
    return;
  }
  const std::string last_key = keys::last_sender(job->e164, job->source);
  const std::string last_ttl = std::to_string(keys::kLastSenderTtlSeconds);
  const std::string account = job->account;
  const auto respond = [this](SubmitJob& j) {
    counters_.add(Counter::submit_ok);
    smpp::Pdu resp = net::make_response(smpp::CommandId::submit_sm, j.sequence);
    resp.as<smpp::MessageIdResp>().message_id = j.message_id;
    const error_code ec = j.account_session->respond(resp);
    metrics_.submit_latency.observe(Clock::now() - j.received_at);
    return !ec;
  };
  if (job->awaiting_carrier) {
    const bool told = respond(*job);  // no carrier id yet: on_late_response brings it, or a receipt
    // A receipt for an id the account never heard of (its session closed
    // meanwhile: it will send again) would only be noise.
    if (job->lost && told) own_receipt(*job, smpp::MessageState::unknown, 0, "carrier connection lost before its answer");
  } else {
    // Answered once Redis has had its say: the mapping is written, or kept in
    // memory to be written (write_id_map), before the account hears of it.
    const std::string id_key = keys::id_map(job->carrier_name, job->carrier_id);
    const std::string id_value = keys::id_map_value(job->message_id, job->account);
    const std::string ttl = std::to_string(job->snapshot->config.receipts.id_map_ttl.count());
    redis_->command({"SET", id_key, id_value, "PX", ttl}, [this, job = std::move(job), respond](redis::Result&& r) {
      if (!r.ok()) keep_id_map(*job, r);
      respond(*job);
    });
  }
  // Same flush as the id map; nobody waits for it.
  redis_->command({"SET", last_key, account, "EX", last_ttl}, [this](redis::Result&& r) {
    if (!r.ok()) counters_.add(Counter::last_sender_write_failed);
  });
}

// A mapping Redis did not take: kept in memory, written by flush_id_backlog.
void Worker::keep_id_map(const SubmitJob& job, const redis::Result& r) {
  counters_.add(Counter::id_map_write_failed);
  log_limited(spdlog::level::err, "id_map_write_failed",
              {{"carrier", job.carrier_name},
               {"id", job.message_id},
               {"error", r.error ? r.error.message() : redis::to_string(r.reply)},
               {"kept", "in memory until Redis answers"}});
  const std::size_t dropped = id_backlog_.add(
      {keys::id_map(job.carrier_name, job.carrier_id), keys::id_map_value(job.message_id, job.account),
       Clock::now() + job.snapshot->config.receipts.id_map_ttl});
  if (dropped > 0) {
    counters_.add(Counter::id_map_backlog_dropped, dropped);
    log_limited(spdlog::level::err, "id_map_backlog_full",
                {{"dropped", std::to_string(dropped)}, {"capacity", std::to_string(kIdBacklogCapacity)}});
  }
  if (!flushing_id_backlog_) {
    flushing_id_backlog_ = true;
    asio::co_spawn(io_, flush_id_backlog(), asio::detached);
  }
}

void Worker::write_id_map(const SubmitJob& job) {
  const std::string id_key = keys::id_map(job.carrier_name, job.carrier_id);
  const std::string id_value = keys::id_map_value(job.message_id, job.account);
  const std::string ttl = std::to_string(job.snapshot->config.receipts.id_map_ttl.count());
  redis_->command({"SET", id_key, id_value, "PX", ttl},
                  [this, carrier = job.carrier_name, carrier_id = job.carrier_id, id = job.message_id,
                   account = job.account, snapshot = job.snapshot](redis::Result&& r) {
                    if (r.ok()) return;
                    SubmitJob j;
                    j.carrier_name = carrier;
                    j.carrier_id = carrier_id;
                    j.message_id = id;
                    j.account = account;
                    j.snapshot = snapshot;
                    keep_id_map(j, r);
                  });
}

// Writes the backlog, a pipelined batch at a time, while Redis takes it;
// pauses while it does not. Ends when the backlog is empty.
asio::awaitable<void> Worker::flush_id_backlog() {
  while (!stopped_) {
    co_await sleep_for(kIdBacklogEvery);
    if (stopped_) break;
    if (!redis_->connected()) continue;
    std::size_t expired = 0;
    auto batch = id_backlog_.oldest(kIdBacklogBatch, expired);
    if (expired > 0) counters_.add(Counter::id_map_backlog_dropped, expired);
    if (batch.empty()) break;
    const auto now = Clock::now();
    auto left = std::make_shared<std::size_t>(batch.size());
    auto written = std::make_shared<std::size_t>(0);
    auto all_answered = std::make_shared<asio::steady_timer>(io_, Clock::time_point::max());
    for (auto& e : batch) {
      const auto ttl_ms = std::max<int64_t>(
          1, std::chrono::duration_cast<std::chrono::milliseconds>(e.expires - now).count());
      const std::string ttl = std::to_string(ttl_ms);
      redis_->command({"SET", e.key, e.value, "PX", ttl},
                      [this, key = e.key, expires = e.expires, left, written, t = all_answered](redis::Result&& r) {
                        if (r.ok()) {
                          id_backlog_.remove(key, expires);
                          ++*written;
                        }
                        if (--*left == 0) t->cancel();
                      });
    }
    error_code ec;
    while (*left > 0) co_await all_answered->async_wait(asio::redirect_error(asio::use_awaitable, ec));
    counters_.add(Counter::id_map_backlog_written, *written);
    if (*written > 0) {
      log_limited(spdlog::level::info, "id_map_backlog_written",
                  {{"written", std::to_string(*written)}, {"left", std::to_string(id_backlog_.size())}});
    }
  }
  flushing_id_backlog_ = false;
}

std::optional<std::string> Worker::unwritten_id_map(const std::string& key) {
  for (unsigned w = 0; w < gateway_.worker_count(); ++w) {
    if (auto v = gateway_.worker(w).id_backlog_.find(key)) return v;
  }
  return std::nullopt;
}

}  // namespace smsgate::gateway
