// Replies from phones, before they go to an account: classified
// (policy/classify.hpp, docs/replies.md), and acted on durably before the
// carrier hears deliver_sm_resp OK:
//
//   opt_out    the number joins the opt-out list (policy.opt_out.scope:
//              every message, the account that last messaged it, or the
//              address it replied to), audited with the text and carrier;
//              the confirmation is sent once per replies.confirmation_interval
//   opt_in     removes the number's keyword opt-outs (never one made by a
//              complaint or by ops); confirmed
//   help       answered with replies.help_text
//   complaint  opted out (reason "complaint"), a ticket written to the
//              outbox stream (gateway/tickets.hpp forwards it), the
//              acknowledgement with the ticket's reference sent, the
//              complaint counted against the account (gateway/guard.hpp)
//
// Redis unreachable: the carrier gets ESME_RX_T_APPN and sends the reply
// again; every step is idempotent (the ticket by a key derived from the
// reply), so nothing is lost and nothing doubles. Answers go out as
// transactional messages from the address the phone replied to, quiet hours
// or not. Only with a policy: section (the opt-out list lives there).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <cctype>
#include <map>

#include <boost/json.hpp>

#include "gateway/time_text.hpp"
#include "gateway/gateway.hpp"
#include "gateway/hash.hpp"
#include "gateway/redis_keys.hpp"
#include "policy/classify.hpp"
#include "policy/number.hpp"
#include "smpp/status.hpp"
#include "smpp/text.hpp"
#include "smpp/udh.hpp"

namespace smsgate::gateway {

namespace status = smpp::status;
namespace json = boost::json;
using SysClock = std::chrono::system_clock;

namespace {

constexpr std::size_t kMaxShortMessage = 254;
constexpr std::chrono::hours kTicketDedupe{24};
constexpr std::string_view kOutbox = "smsgate:tickets:outbox";


// The reply's text as UTF-8 (UDH stripped); binary codings give "".
std::string reply_text(const smpp::ShortMessage& sm) {
  std::string body = sm.short_message;
  if (body.empty()) {
    if (auto payload = sm.tlvs.message_payload()) body = std::move(*payload);
  }
  std::string_view text = body;
  if (sm.esm_class & smpp::kEsmUdhi) {
    if (const auto split = smpp::parse_udh(body)) text = split->payload;
  }
  return smpp::decode_text(text, sm.data_coding).value_or("");
}

// A part of a long reply: UDH concatenation or sar_ TLVs.
struct ReplyPart {
  uint16_t ref = 0;
  uint8_t total = 0, seq = 0;
};
std::optional<ReplyPart> reply_part(const smpp::ShortMessage& sm) {
  if (sm.esm_class & smpp::kEsmUdhi) {
    if (const auto split = smpp::parse_udh(sm.short_message)) {
      if (const auto c = split->udh.concat(); c && c->total > 1) return ReplyPart{c->ref, c->total, c->seq};
    }
  }
  const auto ref = sm.tlvs.sar_msg_ref_num();
  const auto total = sm.tlvs.sar_total_segments();
  const auto seq = sm.tlvs.sar_segment_seqnum();
  if (ref && total && seq && *total > 1 && *seq >= 1 && *seq <= *total) return ReplyPart{*ref, *total, *seq};
  return std::nullopt;
}

// Reassembly of long replies, in Redis so that parts arriving on different
// binds and nodes meet: a hash per message (field "p<seq>" -> the part's
// text, plus what the reply needs to be acted on), and a sorted set of the
// incomplete ones by deadline. The part that completes the message takes
// them all (hash deleted, deadline removed) and the message is classified
// whole; an incomplete one is taken by the scheduler when its deadline
// passes and classified as it stands. KEYS: parts hash, deadlines zset.
// ARGV: seq, text, total, deadline ms, account, carrier, ton, npi, address.
const redis::Script& add_part_script() {
  static const redis::Script script(R"lua(
redis.call('HSET', KEYS[1], 'p' .. ARGV[1], ARGV[2], 'total', ARGV[3], 'account', ARGV[5], 'carrier', ARGV[6],
           'ton', ARGV[7], 'npi', ARGV[8], 'to', ARGV[9])
local have = 0
for i = 1, tonumber(ARGV[3]) do
  if redis.call('HEXISTS', KEYS[1], 'p' .. i) == 1 then have = have + 1 end
end
if have < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[2], 'NX', ARGV[4], KEYS[1])
  redis.call('PEXPIRE', KEYS[1], 86400000)  -- a safety net: the deadline takes it long before
  return false
end
local all = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], KEYS[1])
return all
)lua");
  return script;
}

// Takes the incomplete replies whose deadline passed. KEYS: deadlines.
// ARGV: now ms, batch. Answers {key, fields, key, fields, ...}.
const redis::Script& take_incomplete_script() {
  static const redis::Script script(R"lua(
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, key in ipairs(due) do
  redis.call('ZREM', KEYS[1], key)
  local fields = redis.call('HGETALL', key)
  redis.call('DEL', key)
  if #fields > 0 then
    out[#out + 1] = key
    out[#out + 1] = fields
  end
end
return out
)lua");
  return script;
}
constexpr std::string_view kIncomplete = "smsgate:replies:incomplete";

// The text of the parts in order ("p1", "p2", ...); missing parts are left out.
std::string join_parts(const redis::Reply& fields, std::map<std::string, std::string>* meta = nullptr) {
  std::map<int, std::string> parts;
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    const std::string name(fields.elements[i].as_string());
    std::string value(fields.elements[i + 1].as_string());
    if (name.size() > 1 && name[0] == 'p' && std::isdigit(static_cast<unsigned char>(name[1]))) {
      parts[std::atoi(name.c_str() + 1)] = std::move(value);
    } else if (meta) {
      (*meta)[name] = std::move(value);
    }
  }
  std::string text;
  for (auto& [seq, part] : parts) text += part;
  return text;
}

// Writes the ticket to the outbox once: a reply the carrier sends again (it
// did not hear our answer) finds its ticket by the dedupe key and gets the
// same id back. A new ticket is counted against the account for the
// complaint rate guard (gateway/guard.hpp) in the same step, so once.
// KEYS: dedupe key, outbox[, the account's complaints hash].
// ARGV: id, ticket JSON, dedupe ms[, bucket, bucket TTL ms].
const redis::Script& enqueue_once_script() {
  static const redis::Script script(R"lua(
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000000', '*', 'id', ARGV[1], 'ticket', ARGV[2])
if KEYS[3] then
  redis.call('HINCRBY', KEYS[3], ARGV[4], 1)
  redis.call('PEXPIRE', KEYS[3], ARGV[5])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return ARGV[1]
)lua");
  return script;
}

// The ticket's contact (number, the address it complained to, account),
// kept for kAdminTicketTtl. KEYS: smsgate:ticket:<id>. ARGV: number, to,
// ton, npi, account, ttl ms.
const redis::Script& ticket_contact_script() {
  static const redis::Script script(R"lua(
redis.call('HSET', KEYS[1], 'number', ARGV[1], 'to', ARGV[2], 'ton', ARGV[3], 'npi', ARGV[4], 'account', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[6])
return 1
)lua");
  return script;
}

}  // namespace

// ---------------------------------------------------------------- classifier from the config

std::shared_ptr<const policy::Classifier> build_reply_classifier(const config::Replies& r,
                                                                std::vector<std::string>& errors) {
  policy::ClassifierConfig c;
  const auto words = [](const config::ReplyWords& w) {
    return policy::KeywordSet{w.exact, w.leading, w.phrases, w.patterns};
  };
  c.opt_out = words(r.opt_out);
  c.opt_in = words(r.opt_in);
  c.help = words(r.help);
  c.complaint = words(r.complaint);
  for (const auto& [category, severity] : r.severity) c.severity[category] = severity;
  c.frequent_threshold_24h = r.frequent_threshold_24h;
  c.use_defaults = r.default_keywords;
  auto built = policy::build_classifier(c);
  for (auto& e : built.errors) errors.push_back("replies: " + std::move(e));
  if (!built.classifier) return nullptr;
  return std::make_shared<const policy::Classifier>(std::move(*built.classifier));
}

// ---------------------------------------------------------------- one reply

// What smsgate knows of the number (for the classifier and the ticket).
struct NumberFacts {
  std::vector<policy::OptOutRecord> opt_outs;
  std::vector<std::string> history;  // send history entries (JSON), newest first
  int64_t last_sent_ms = 0;
  uint32_t sent_24h = 0, sent_7d = 0, sent_30d = 0;
};

asio::awaitable<bool> Worker::intercept_reply(const std::string& carrier, const std::string& e164,
                                              const std::string& account, const smpp::ShortMessage& sm) {
  const auto snapshot = snapshot_;
  if (!snapshot->policy->enabled() || !snapshot->classifier) co_return true;
  std::string text = reply_text(sm);
  if (const auto part = reply_part(sm)) {
    const std::string key = "smsgate:{+" + e164 + "}:reply:" + sm.dest.addr + ":" + std::to_string(part->ref) + ":" +
                            std::to_string(part->total);
    const int64_t deadline =
        policy::to_ms(SysClock::now()) + snapshot->config.replies.reassembly_timeout.count();
    const std::array<std::string_view, 2> keys{key, kIncomplete};
    const std::string seq = std::to_string(part->seq), total = std::to_string(part->total),
                      dl = std::to_string(deadline), ton = std::to_string(sm.dest.ton),
                      npi = std::to_string(sm.dest.npi);
    const std::array<std::string_view, 9> args{seq, text, total, dl, account, carrier, ton, npi, sm.dest.addr};
    const auto r = co_await redis_->eval(add_part_script(), keys, args);
    if (!r.ok()) co_return false;
    if (!r.reply.is_array()) co_return true;  // stored; the last part (or the deadline) acts on the whole
    text = join_parts(r.reply);
  }
  co_return co_await act_on_reply(carrier, e164, account, sm.dest, text);
}

// Long replies whose parts did not all come by replies.reassembly_timeout:
// classified as they stand (worker 0, with the deferred messages).
asio::awaitable<void> Worker::classify_incomplete_replies() {
  if (!snapshot_->policy->enabled() || !snapshot_->classifier) co_return;
  const std::array<std::string_view, 1> keys{kIncomplete};
  const std::string now = std::to_string(policy::to_ms(SysClock::now()));
  const std::array<std::string_view, 2> args{now, "100"};
  const auto r = co_await redis_->eval(take_incomplete_script(), keys, args);
  if (!r.ok() || !r.reply.is_array()) co_return;
  for (std::size_t i = 0; i + 1 < r.reply.elements.size(); i += 2) {
    const std::string key(r.reply.elements[i].as_string());
    std::map<std::string, std::string> meta;
    const std::string text = join_parts(r.reply.elements[i + 1], &meta);
    // smsgate:{+<e164>}:reply:...
    const auto open = key.find("{+"), close = key.find('}');
    if (open == std::string::npos || close == std::string::npos || close < open + 2) continue;
    const std::string e164 = key.substr(open + 2, close - open - 2);
    smpp::Address to{static_cast<uint8_t>(std::atoi(meta["ton"].c_str())),
                     static_cast<uint8_t>(std::atoi(meta["npi"].c_str())), meta["to"]};
    counters_.add(Counter::reply_incomplete);
    log_event(spdlog::level::info, "reply_incomplete", {{"from", policy::mask_number(e164)}, {"to", to.addr}});
    // Redis gone meanwhile: the parts are gone with the take; they were
    // forwarded to the account already.
    co_await act_on_reply(meta["carrier"], e164, meta["account"], to, text);
  }
}

// Classifies a whole reply and acts on it; false when Redis could not make
// the action durable.
asio::awaitable<bool> Worker::act_on_reply(const std::string& carrier, const std::string& e164,
                                           const std::string& account, const smpp::Address& reply_to,
                                           const std::string& text) {
  const auto snapshot = snapshot_;
  const auto store = store_;
  const config::Replies& cfg = snapshot->config.replies;
  const std::string plus = "+" + e164;
  const std::string replied_to = reply_to.addr;
  const auto now = SysClock::now();
  const int64_t now_ms = policy::to_ms(now);

  // The facts: opt-outs now, and what was sent to it.
  auto [ec, state] = co_await store->lookup_opt_out(plus);
  if (ec) co_return false;
  auto [hec, history] = co_await store->history(plus);
  if (hec) co_return false;
  NumberFacts facts;
  facts.opt_outs = std::move(state.records);
  facts.history = std::move(history);
  policy::ReplyFacts rf;
  const auto string_of = [](const json::object& o, std::string_view key) {
    const auto* v = o.if_contains(key);
    return v && v->is_string() ? std::string_view(v->as_string()) : std::string_view();
  };
  for (const auto& entry : facts.history) {
    error_code jec;
    const auto v = json::parse(entry, jec);
    if (jec || !v.is_object()) continue;
    const auto* t = v.as_object().if_contains("t");
    if (!t || !t->is_int64()) continue;
    const int64_t at = t->as_int64();
    facts.last_sent_ms = std::max(facts.last_sent_ms, at);
    if (now_ms - at <= 24LL * 3600 * 1000) ++facts.sent_24h;
    if (now_ms - at <= 7LL * 24 * 3600 * 1000) ++facts.sent_7d;
    if (now_ms - at <= 30LL * 24 * 3600 * 1000) ++facts.sent_30d;
    // A message reached it after it had opted out of what sent it: an
    // opt-out from one account (or source) says nothing of another's.
    const std::string sent_by = policy::opt_out_field(policy::OptOutScope::account, string_of(v.as_object(), "account"), "");
    const std::string sent_from = policy::opt_out_field(policy::OptOutScope::source, "", string_of(v.as_object(), "source"));
    for (const auto& r : facts.opt_outs) {
      if (r.at_ms < at && (r.field == "*" || r.field == sent_by || r.field == sent_from)) rf.already_opted_out = true;
    }
  }
  int64_t opted_out_since = 0;
  for (const auto& r : facts.opt_outs) {
    if (opted_out_since == 0 || r.at_ms < opted_out_since) opted_out_since = r.at_ms;
  }
  rf.sent_24h = facts.sent_24h;
  const policy::Classification c = snapshot->classifier->classify(text, rf);
  counters_.add(Counter::reply_classified);
  metrics_.reply(c.outcome, c.category);
  log_event(spdlog::level::info, "reply_classified",
            {{"from", policy::mask_number(e164)},
             {"to", replied_to},
             {"outcome", policy::to_string(c.outcome)},
             {"tier", policy::to_string(c.tier)},
             {"category", policy::to_string(c.category)}});

  const std::string field = [&] {
    switch (snapshot->config.policy.opt_out_scope) {
      case policy::OptOutScope::account:
        // Nobody messaged it: the opt-out covers everything.
        if (!account.empty()) return policy::opt_out_field(policy::OptOutScope::account, account, replied_to);
        break;
      case policy::OptOutScope::source: return policy::opt_out_field(policy::OptOutScope::source, account, replied_to);
      case policy::OptOutScope::global: break;
    }
    return std::string("*");
  }();
  std::vector<std::string> actions;

  if (c.opts_out()) {
    policy::OptOutRecord record;
    record.field = field;
    record.at_ms = now_ms;
    record.source = c.outcome == policy::ReplyOutcome::complaint ? "complaint" : "reply";
    record.reason = carrier + ": " + text.substr(0, 160);
    auto [aec, added] = co_await store->add_opt_out(plus, record);
    if (aec) co_return false;
    counters_.add(Counter::reply_opted_out);
    actions.push_back(added ? "opted_out:" + field : "already_opted_out:" + field);
  }

  if (c.outcome == policy::ReplyOutcome::complaint) {
    // The ticket id comes from the reply itself: the same reply sent again
    // by the carrier is the same ticket.
    uint64_t h = fnv1a64(carrier);
    h = fnv1a64(plus, h);
    h = fnv1a64(replied_to, h);
    h = fnv1a64(text, h);
    const std::string dedupe_key = "smsgate:{" + plus + "}:ticket:" + hex64(h);
    const std::string ticket_id = "T-" + hex64(fnv1a64(std::to_string(now_ms), h));
    const config::TicketDue& due = c.severity == policy::Severity::urgent ? snapshot->config.tickets.urgent
                                   : c.severity == policy::Severity::high ? snapshot->config.tickets.high
                                                                          : snapshot->config.tickets.normal;
    actions.push_back("ticket");
    if (!cfg.complaint_ack.empty()) actions.push_back("acknowledged");
    json::object t;
    t["id"] = ticket_id;
    t["category"] = policy::to_string(c.category);
    t["category_zh"] = policy::chinese_name(c.category);
    t["severity"] = policy::to_string(c.severity);
    json::array matched;
    for (const auto& m : c.matches) {
      matched.push_back(json::object{{"outcome", policy::to_string(m.outcome)},
                                     {"tier", policy::to_string(m.tier)},
                                     {"word", m.word},
                                     {"found", m.found}});
    }
    t["matched"] = std::move(matched);
    t["number"] = plus;
    const std::string region = policy::region_of(e164);
    t["region"] = region;
    json::array zones;
    if (snapshot->policy->zones) {
      for (const auto* z : snapshot->policy->zones->zones_for(e164, region)) zones.push_back(json::string(z->name()));
    }
    t["zones"] = std::move(zones);
    t["text"] = text;
    t["normalised"] = c.text.folded;
    t["received_utc"] = iso_utc(now);
    if (snapshot->policy->zones) {
      const auto zs = snapshot->policy->zones->zones_for(e164, region);
      if (!zs.empty()) t["received_local"] = date::format("%FT%T%z", date::make_zoned(zs.front(), std::chrono::floor<std::chrono::seconds>(now)));
    }
    t["account"] = account;
    t["source"] = replied_to;
    t["carrier"] = carrier;
    json::array last;
    for (const auto& entry : facts.history) {
      error_code jec;
      auto v = json::parse(entry, jec);
      if (!jec) last.push_back(std::move(v));
    }
    t["last_messages"] = std::move(last);
    t["sent_24h"] = facts.sent_24h;
    t["sent_7d"] = facts.sent_7d;
    t["sent_30d"] = facts.sent_30d;
    t["already_opted_out"] = rf.already_opted_out;
    t["opted_out_since"] = opted_out_since ? json::value(iso_utc(from_ms(opted_out_since)))
                                           : json::value(nullptr);
    json::array acts;
    for (const auto& a : actions) acts.push_back(json::string(a));
    t["actions"] = std::move(acts);
    t["due"] = json::object{{"first_response", iso_utc(now + due.first_response)},
                            {"resolution", iso_utc(now + due.resolution)}};
    const std::string body = json::serialize(t);
    const std::string dedupe_ms = std::to_string(std::chrono::milliseconds(kTicketDedupe).count());
    // Counted against the account that last messaged the number (none: nobody's).
    const std::string complaints_key = guard_complaints_key(account);
    const GuardBucket bucket = guard_bucket(cfg.complaint_rate.window, now_ms);
    const std::array<std::string_view, 3> keys{dedupe_key, kOutbox, complaints_key};
    const std::array<std::string_view, 5> args{ticket_id, body, dedupe_ms, bucket.field, bucket.ttl_ms};
    const std::size_t counted = account.empty() ? 0 : 1;
    const auto r = co_await redis_->eval(enqueue_once_script(), std::span(keys.data(), keys.size() - 1 + counted),
                                         std::span(args.data(), args.size() - 2 * (1 - counted)));
    if (!r.ok() || !r.reply.is_string()) co_return false;
    const std::string stored_id(r.reply.as_string());
    // Who to answer, for ops' reply through the admin API (POST /api/tickets/{id}/reply).
    {
      const std::string ton = std::to_string(reply_to.ton), npi = std::to_string(reply_to.npi);
      const std::string key = admin_ticket_key(stored_id), ttl = std::to_string(std::chrono::milliseconds(kAdminTicketTtl).count());
      const std::array<std::string_view, 1> tkeys{key};
      const std::array<std::string_view, 6> targs{plus, replied_to, ton, npi, account, ttl};
      const auto w = co_await redis_->eval(ticket_contact_script(), tkeys, targs);
      if (!w.ok()) log_limited(spdlog::level::warn, "ticket_contact_not_stored", {{"ticket", stored_id}});
    }
    counters_.add(Counter::complaint_ticketed);
    gateway_.live().add_complaint({now_ms, stored_id, std::string(policy::to_string(c.category)),
                                   std::string(policy::to_string(c.severity)), policy::mask_number(e164), account});
    log_event(spdlog::level::warn, "complaint",
              {{"ticket", stored_id},
               {"from", policy::mask_number(e164)},
               {"account", account},
               {"category", policy::to_string(c.category)},
               {"severity", policy::to_string(c.severity)}});
    if (!cfg.complaint_ack.empty()) {
      std::string ack = cfg.complaint_ack;
      if (const auto p = ack.find("{ticket}"); p != std::string::npos) ack.replace(p, 8, stored_id);
      co_await answer_phone(e164, reply_to, ack, "complaint:" + stored_id, cfg.confirmation_interval);
    }
    co_return true;
  }

  switch (c.outcome) {
    case policy::ReplyOutcome::opt_out:
      co_await answer_phone(e164, reply_to, cfg.opt_out_confirmation, "opt_out", cfg.confirmation_interval);
      break;
    case policy::ReplyOutcome::opt_in: {
      // Only keyword opt-outs: one from a complaint or from ops stays.
      bool removed = false;
      for (const auto& r : facts.opt_outs) {
        if (r.source != "reply") continue;
        const std::string reason = carrier + ": " + text.substr(0, 160);
        auto [rec, was] = co_await store->remove_opt_out(plus, r.field, "reply", reason, now);
        if (rec) co_return false;
        removed = removed || was;
      }
      if (removed) {
        counters_.add(Counter::reply_opted_in);
        co_await answer_phone(e164, reply_to, cfg.opt_in_confirmation, "opt_in", cfg.confirmation_interval);
      }
      break;
    }
    case policy::ReplyOutcome::help:
      co_await answer_phone(e164, reply_to, cfg.help_text, "help", cfg.confirmation_interval);
      break;
    default: break;
  }
  co_return true;
}

// Sends `text` to the phone from `from` (the address it replied to), once
// per `interval` for one `kind`. A failure to send is logged, never retried
// by the carrier's reply: the reply itself has been acted on.
asio::awaitable<void> Worker::answer_phone(const std::string& e164, const smpp::Address& from, const std::string& text,
                                           const std::string& kind, std::chrono::milliseconds interval) {
  if (text.empty()) co_return;
  if (interval.count() > 0) {  // 0: every time
    const std::string key = "smsgate:{+" + e164 + "}:answered:" + kind;
    const auto once = co_await redis_->command("SET", key, "1", "PX", std::to_string(interval.count()), "NX");
    if (!once.ok() || once.reply.is_nil()) co_return;  // sent within the interval (or Redis gone: do not risk twice)
  }
  smpp::Pdu pdu;
  pdu.command_id = smpp::CommandId::submit_sm;
  smpp::ShortMessage sm;
  sm.source = from;
  sm.dest = smpp::Address{policy::ton::international, 1, e164};
  const smpp::EncodedText encoded = smpp::encode_text(text);
  sm.data_coding = encoded.data_coding;
  if (encoded.bytes.size() <= kMaxShortMessage) {
    sm.short_message = encoded.bytes;
  } else {
    sm.tlvs.set_message_payload(encoded.bytes);
  }
  pdu.body = std::move(sm);
  auto job = std::make_unique<SubmitJob>();
  job->snapshot = snapshot_;
  job->route = snapshot_->route_for(e164);
  job->e164 = e164;
  job->source = from.addr;
  job->message_id = ids_.next();
  job->origin = index_;
  job->internal = true;
  job->pdu = std::move(pdu);
  counters_.add(Counter::reply_answered);
  dispatch(std::move(job));
}

}  // namespace smsgate::gateway
