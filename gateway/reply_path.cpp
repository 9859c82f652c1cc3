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
//              acknowledgement with the ticket's reference sent
//
// Redis unreachable: the carrier gets ESME_RX_T_APPN and sends the reply
// again; every step is idempotent (the ticket by a key derived from the
// reply), so nothing is lost and nothing doubles. Answers go out as
// transactional messages from the address the phone replied to, quiet hours
// or not. Only with a policy: section (the opt-out list lives there).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/json.hpp>

#include "gateway/gateway.hpp"
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

uint64_t fnv1a64(std::string_view bytes, uint64_t h = 0xcbf29ce484222325ULL) {
  for (const char c : bytes) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex64(uint64_t v) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[static_cast<std::size_t>(i)] = kHex[v & 0xF];
  return s;
}

std::string iso_utc(SysClock::time_point t) {
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd(days);
  const std::chrono::hh_mm_ss hms(std::chrono::floor<std::chrono::seconds>(t - days));
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

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

// Writes the ticket to the outbox once: a reply the carrier sends again (it
// did not hear our answer) finds its ticket by the dedupe key and gets the
// same id back. KEYS: dedupe key, outbox. ARGV: id, ticket JSON, dedupe ms.
const redis::Script& enqueue_once_script() {
  static const redis::Script script(R"lua(
local existing = redis.call('GET', KEYS[1])
if existing then return existing end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', '1000000', '*', 'id', ARGV[1], 'ticket', ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
return ARGV[1]
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
  const auto store = store_;
  const config::Replies& cfg = snapshot->config.replies;
  const std::string plus = "+" + e164;
  const std::string replied_to = sm.dest.addr;
  const std::string text = reply_text(sm);
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
  }
  int64_t opted_out_since = 0;
  for (const auto& r : facts.opt_outs) {
    if (opted_out_since == 0 || r.at_ms < opted_out_since) opted_out_since = r.at_ms;
  }
  policy::ReplyFacts rf;
  // A message reached it after it had opted out.
  rf.already_opted_out = opted_out_since != 0 && facts.last_sent_ms > opted_out_since;
  rf.sent_24h = facts.sent_24h;
  const policy::Classification c = snapshot->classifier->classify(text, rf);
  counters_.add(Counter::reply_classified);
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
    t["opted_out_since"] = opted_out_since ? json::value(iso_utc(SysClock::time_point(std::chrono::milliseconds(opted_out_since))))
                                           : json::value(nullptr);
    json::array acts;
    for (const auto& a : actions) acts.push_back(json::string(a));
    t["actions"] = std::move(acts);
    t["due"] = json::object{{"first_response", iso_utc(now + due.first_response)},
                            {"resolution", iso_utc(now + due.resolution)}};
    const std::string body = json::serialize(t);
    const std::string dedupe_ms = std::to_string(std::chrono::milliseconds(kTicketDedupe).count());
    const std::array<std::string_view, 2> keys{dedupe_key, kOutbox};
    const std::array<std::string_view, 3> args{ticket_id, body, dedupe_ms};
    const auto r = co_await redis_->eval(enqueue_once_script(), keys, args);
    if (!r.ok() || !r.reply.is_string()) co_return false;
    const std::string stored_id(r.reply.as_string());
    counters_.add(Counter::complaint_ticketed);
    log_event(spdlog::level::warn, "complaint",
              {{"ticket", stored_id},
               {"from", policy::mask_number(e164)},
               {"account", account},
               {"category", policy::to_string(c.category)},
               {"severity", policy::to_string(c.severity)}});
    if (!cfg.complaint_ack.empty()) {
      std::string ack = cfg.complaint_ack;
      if (const auto p = ack.find("{ticket}"); p != std::string::npos) ack.replace(p, 8, stored_id);
      co_await answer_phone(e164, sm.dest, ack, "complaint:" + stored_id, cfg.confirmation_interval);
    }
    co_return true;
  }

  switch (c.outcome) {
    case policy::ReplyOutcome::opt_out:
      co_await answer_phone(e164, sm.dest, cfg.opt_out_confirmation, "opt_out", cfg.confirmation_interval);
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
        co_await answer_phone(e164, sm.dest, cfg.opt_in_confirmation, "opt_in", cfg.confirmation_interval);
      }
      break;
    }
    case policy::ReplyOutcome::help:
      co_await answer_phone(e164, sm.dest, cfg.help_text, "help", cfg.confirmation_interval);
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
  const std::string key = "smsgate:{+" + e164 + "}:answered:" + kind;
  const auto once = co_await redis_->command("SET", key, "1", "PX", std::to_string(interval.count()), "NX");
  if (!once.ok() || once.reply.is_nil()) co_return;  // sent within the interval (or Redis gone: do not risk twice)
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
