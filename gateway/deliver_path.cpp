// deliver_sm from carriers: receipts (their carrier id looked up and
// replaced by ours) and replies from phones (to the account that last sent
// to that number), handed to a receiver bind of the account or stored in
// Redis until it binds one. The carrier's deliver_sm_resp waits until one of
// the two has happened. docs/gateway.md tells the story.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "gateway/carrier_id.hpp"
#include "gateway/gateway.hpp"
#include "gateway/redis_keys.hpp"
#include "policy/number.hpp"
#include "smpp/receipt.hpp"
#include "smpp/status.hpp"

namespace smsgate::gateway {

namespace status = smpp::status;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds kUnknownIdRetryEvery{100};
constexpr std::size_t kMaxShortMessage = 254;  // SMPP 3.4 §5.2.22; longer goes in message_payload
constexpr int kDrainBatch = 64;
constexpr std::string_view kDrainLockMs = "30000";

}  // namespace

asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void Worker::on_carrier_request(Carrier& carrier, net::Session& session, smpp::Pdu&& pdu) {
  if (pdu.command_id == smpp::CommandId::alert_notification) return;  // has no response
  if (pdu.command_id != smpp::CommandId::deliver_sm) {
    session.respond(net::make_response(pdu, status::ESME_RINVCMDID));
    return;
  }
  auto self = session.shared_from_this();
  if (smpp::is_receipt_esm_class(pdu.as<smpp::ShortMessage>().esm_class)) {
    counters_.add(Counter::receipt_received);
    asio::co_spawn(io_, route_receipt(carrier.shared_from_this(), std::move(self), std::move(pdu)), asio::detached);
  } else {
    counters_.add(Counter::reply_received);
    asio::co_spawn(io_, route_reply(carrier.shared_from_this(), std::move(self), std::move(pdu)), asio::detached);
  }
}

// Looks the carrier's id up; an id not yet known may belong to a submit_sm
// whose response is still on its way (carriers send receipts early), so the
// lookup is repeated for receipts.unknown_id_retry before giving up.
asio::awaitable<void> Worker::route_receipt(std::shared_ptr<Carrier> carrier, std::shared_ptr<net::Session> session,
                                            smpp::Pdu pdu) {
  auto& sm = pdu.as<smpp::ShortMessage>();
  const uint32_t seq = pdu.sequence_number;
  const auto answer = [&](uint32_t s) { session->respond(smpp::CommandId::deliver_sm, seq, s); };
  const auto payload = sm.tlvs.message_payload();
  const bool text_in_payload = sm.short_message.empty() && payload.has_value();
  const std::string text = text_in_payload ? *payload : sm.short_message;
  const auto receipt = smpp::parse_receipt(text);
  metrics_.receipt(receipt ? std::string_view(receipt->stat) : std::string_view());
  const auto tlv_id = sm.tlvs.receipted_message_id();
  const std::string id = tlv_id && !tlv_id->empty() ? *tlv_id : receipt ? receipt->id : std::string();
  if (id.empty()) {
    counters_.add(Counter::receipt_no_id);
    log_limited(spdlog::level::warn, "receipt_without_id", {{"carrier", carrier->name()}});
    answer(status::ESME_ROK);
    co_return;
  }

  const std::string key = keys::id_map(carrier->name(), canonical_carrier_id(id, carrier->config.receipt_ids()));
  const auto give_up_at = Clock::now() + snapshot_->config.receipts.unknown_id_retry;
  redis::Result found;
  std::optional<std::string> unwritten;  // a mapping Redis did not take yet (Worker::keep_id_map)
  for (;;) {
    if ((unwritten = unwritten_id_map(key))) break;
    found = co_await redis_->command("GET", key);
    if (!found.ok()) {  // the carrier will send it again
      counters_.add(Counter::redis_down_answers);
      answer(status::ESME_RX_T_APPN);
      co_return;
    }
    if (!found.reply.is_nil()) break;
    if (Clock::now() >= give_up_at) {
      counters_.add(Counter::receipt_unknown_id);
      log_limited(spdlog::level::warn, "receipt_unknown_id", {{"carrier", carrier->name()}, {"id", id}});
      answer(status::ESME_ROK);  // asking again would not make it known
      co_return;
    }
    co_await sleep_for(kUnknownIdRetryEvery);
  }

  const std::string_view value = unwritten ? std::string_view(*unwritten) : found.reply.as_string();
  const auto colon = value.find(':');
  const std::string our_id(value.substr(0, colon));
  auto delivery = std::make_unique<Delivery>();
  delivery->account = colon == std::string_view::npos ? std::string() : std::string(value.substr(colon + 1));
  // Delivered messages are what the complaint rate is measured against.
  const auto state = sm.tlvs.message_state();
  const bool delivered = state ? *state == static_cast<uint8_t>(smpp::MessageState::delivered)
                               : receipt && smpp::state_from_stat(receipt->stat) == smpp::MessageState::delivered;
  if (delivered && !delivery->account.empty() && snapshot_->policy->enabled()) {
    delivered_.add(delivery->account, snapshot_->config.replies.complaint_rate);
  }
  if (auto rewritten = smpp::rewrite_receipt_id(text, our_id)) {
    if (text_in_payload || rewritten->size() > kMaxShortMessage) {
      sm.short_message.clear();
      sm.tlvs.set_message_payload(*rewritten);
    } else {
      sm.short_message = std::move(*rewritten);
    }
  }
  if (tlv_id) sm.tlvs.set_receipted_message_id(our_id);
  delivery->pdu = std::move(pdu);
  delivery->carrier_session = std::move(session);
  delivery->carrier_worker = index_;
  delivery->carrier_sequence = seq;
  deliver(std::move(delivery));
}

// A reply goes to the account that last sent to the phone from the address
// the phone answered to; else to replies.default_account; else nowhere.
asio::awaitable<void> Worker::route_reply(std::shared_ptr<Carrier> carrier, std::shared_ptr<net::Session> session,
                                          smpp::Pdu pdu) {
  auto& sm = pdu.as<smpp::ShortMessage>();
  const uint32_t seq = pdu.sequence_number;
  const auto answer = [&](uint32_t s) { session->respond(smpp::CommandId::deliver_sm, seq, s); };
  const auto phone = policy::normalise_number(sm.source.addr, sm.source.ton, "");
  std::string e164 = phone ? phone->e164 : sm.source.addr;
  if (!phone && !e164.empty() && e164.front() == '+') e164.erase(0, 1);

  const redis::Result last = co_await redis_->command("GET", keys::last_sender(e164, sm.dest.addr));
  if (!last.ok()) {
    counters_.add(Counter::redis_down_answers);
    answer(status::ESME_RX_T_APPN);
    co_return;
  }
  const std::string last_account = last.reply.is_nil() ? std::string() : std::string(last.reply.as_string());
  // Opt-outs and complaints are acted on (and durable) before anything else.
  if (phone && !co_await intercept_reply(carrier->name(), e164, last_account, sm)) {
    counters_.add(Counter::redis_down_answers);
    answer(status::ESME_RX_T_APPN);
    co_return;
  }
  auto delivery = std::make_unique<Delivery>();
  delivery->account = last_account.empty() ? snapshot_->config.replies.default_account : last_account;
  if (delivery->account.empty()) {
    counters_.add(Counter::reply_no_account);
    log_limited(spdlog::level::warn, "reply_dropped",
                {{"from", policy::mask_number(e164)}, {"to", sm.dest.addr}, {"reason", "no account sent to it"}});
    answer(status::ESME_ROK);
    co_return;
  }
  delivery->pdu = std::move(pdu);
  delivery->carrier_session = std::move(session);
  delivery->carrier_worker = index_;
  delivery->carrier_sequence = seq;
  deliver(std::move(delivery));
}

// To a receiver bind of the account: on this worker if it has one, else on
// a worker that has; stored when there is none.
void Worker::deliver(std::unique_ptr<Delivery> delivery, bool may_post) {
  if (const AccountEntry* account = snapshot_->account(delivery->account)) {
    const int w = account->state->receiver_worker(index_);
    if (w == static_cast<int>(index_)) {
      if (auto bind = local_receiver(delivery->account)) {
        asio::co_spawn(io_, hand_over(std::move(bind), std::move(delivery)), asio::detached);
        return;
      }
    } else if (w >= 0 && may_post) {
      const auto target = static_cast<unsigned>(w);
      run_on(target, [&gateway = gateway_, target, d = std::move(delivery)]() mutable {
        gateway.worker(target).deliver(std::move(d), false);
      });
      return;
    }
  }
  store(std::move(delivery));
}

asio::awaitable<void> Worker::hand_over(std::shared_ptr<AccountBind> bind, std::unique_ptr<Delivery> delivery) {
  if (const auto session = bind->session) {
    const net::Reply reply = co_await session->request(delivery->pdu);
    if (reply.ok()) {
      counters_.add(Counter::delivered);
      answer_carrier(*delivery, status::ESME_ROK);
      co_return;
    }
  }
  store(std::move(delivery));
}

// Appends to the account's pending list (its TTL refreshed to
// receipts.id_map_ttl); the carrier hears ESME_ROK once Redis has it, or
// ESME_RX_T_APPN (send it again later) when Redis cannot take it.
void Worker::store(std::unique_ptr<Delivery> delivery) {
  const std::string key = keys::pending(delivery->account);
  const std::string bytes = smpp::encode(delivery->pdu);
  const std::string ttl = std::to_string(snapshot_->config.receipts.id_map_ttl.count());
  redis_->command({"RPUSH", key, bytes}, [this, d = std::move(delivery)](redis::Result&& r) {
    if (!r.ok()) {
      counters_.add(Counter::store_failed);
      log_limited(spdlog::level::err, "store_failed",
                  {{"account", d->account}, {"error", r.error ? r.error.message() : redis::to_string(r.reply)}});
      answer_carrier(*d, status::ESME_RX_T_APPN);
      return;
    }
    counters_.add(Counter::stored);
    answer_carrier(*d, status::ESME_ROK);
    drain_soon(d->account);
  });
  redis_->command({"PEXPIRE", key, ttl}, [](redis::Result&&) {});
}

void Worker::answer_carrier(const Delivery& delivery, uint32_t result) {
  if (!delivery.carrier_session) return;
  run_on(delivery.carrier_worker, [session = delivery.carrier_session, seq = delivery.carrier_sequence, result] {
    session->respond(smpp::CommandId::deliver_sm, seq, result);
  });
}

// Something was stored for an account that has a receiver bind (its session
// failed a delivery, or it bound meanwhile): drain where that bind lives.
void Worker::drain_soon(const std::string& account) {
  const AccountEntry* entry = snapshot_->account(account);
  if (!entry) return;
  const int w = entry->state->receiver_worker(index_);
  if (w < 0) return;
  if (w == static_cast<int>(index_)) {
    if (auto bind = local_receiver(account)) asio::co_spawn(io_, drain_pending(std::move(bind)), asio::detached);
    return;
  }
  const auto target = static_cast<unsigned>(w);
  run_on(target, [&gateway = gateway_, target, account] { gateway.worker(target).drain_soon(account); });
}

asio::awaitable<void> Worker::watch_pending() {
  while (!stopped_) {
    co_await sleep_for(kPendingCheckEvery);
    if (stopped_ || gateway_.stopping()) break;
    if (!redis_->connected()) continue;
    std::vector<std::string> accounts;
    for (const auto& [account, binds] : binds_) accounts.push_back(account);
    for (const std::string& account : accounts) {
      if (!local_receiver(account)) continue;
      const redis::Result n = co_await redis_->command("LLEN", keys::pending(account));
      if (stopped_) co_return;
      if (!n.ok() || !n.reply.is_integer() || n.reply.integer == 0) continue;
      if (auto bind = local_receiver(account)) asio::co_spawn(io_, drain_pending(std::move(bind)), asio::detached);
    }
  }
}

// Sends an account's pending list to `bind` in order, a batch at a time;
// an entry leaves the list only after the account acknowledged it (and
// those before it). One drainer per account: in this process the
// AccountState flag, across nodes a lock key in Redis (a node that finds it
// taken drains on its next trigger: a bind, or something stored).
asio::awaitable<void> Worker::drain_pending(std::shared_ptr<AccountBind> bind) {
  const auto state = bind->state;
  if (!state) co_return;
  // A drain asked for while another runs (perhaps on a bind that is going
  // away) is done by that one's end.
  state->drain_requested.store(true);
  if (state->draining.exchange(true)) co_return;
  state->drain_requested.store(false);
  const std::string key = keys::pending(state->system_id);
  const std::string lock = keys::drain_lock(state->system_id);
  const std::string token = snapshot_->config.node + "/" + std::to_string(index_);
  redis::Result r = co_await redis_->command("SET", lock, token, "NX", "PX", kDrainLockMs);
  if (r.ok() && !r.reply.is_nil()) {
    for (;;) {
      const auto session = bind->session;
      if (!session || !session->is_bound()) break;
      r = co_await redis_->command("LRANGE", key, 0, kDrainBatch - 1);
      if (!r.ok() || !r.reply.is_array() || r.reply.elements.empty()) break;
      const auto& entries = r.reply.elements;
      // Sent back to back (the window keeps them in order); answers awaited together.
      std::vector<char> acked(entries.size(), 0);
      std::size_t unanswered = entries.size();
      asio::steady_timer all_answered(io_, Clock::time_point::max());
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const std::string_view bytes = entries[i].is_string() ? std::string_view(entries[i].str) : "";
        auto decoded = smpp::decode({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
        if (!decoded) {  // not ours to fix: drop it
          acked[i] = 1;
          --unanswered;
          continue;
        }
        if (co_await session->wait_writable()) {
          unanswered -= entries.size() - i;
          break;
        }
        const auto sent = session->try_request(decoded.pdu(), [&, i](net::Reply&& reply) {
          acked[i] = reply.ok();
          if (--unanswered == 0) all_answered.cancel();
        });
        if (sent.error) --unanswered;
      }
      while (unanswered > 0) {
        error_code ec;
        co_await all_answered.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      }
      std::size_t done = 0;
      while (done < acked.size() && acked[done]) ++done;
      if (done > 0) {
        co_await redis_->command("LTRIM", key, static_cast<long long>(done), -1);
        counters_.add(Counter::drained, done);
      }
      if (done < acked.size()) break;
      co_await redis_->command("PEXPIRE", lock, kDrainLockMs);
    }
    co_await redis_->command("DEL", lock);
  }
  state->draining.store(false);
  if (state->drain_requested.exchange(false)) drain_soon(state->system_id);
}

}  // namespace smsgate::gateway
