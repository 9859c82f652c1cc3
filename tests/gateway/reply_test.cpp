// Replies from phones acted on, end to end (the carrier simulator injects an
// MO -> smsgate with a policy: section -> a real redis-server; answers go
// back out to the simulator): opt-outs by keyword and their confirmation,
// the opt-out scope, complaints (ticket in the outbox, opt-out,
// acknowledgement; a long one in parts), a carrier sending the same
// complaint again, Redis down while a reply comes, opt-in, help, and no
// policy at all. Tickets are looked for in the outbox and, once smsgate's
// forwarder took them from it, in its file sink.
// gateway/reply_path.cpp, docs/replies.md.
#include "tests/gateway/policy_harness.hpp"

namespace smsgate::gateway::test {
namespace {

constexpr uint32_t OK = status::ESME_ROK;

const std::string kShortCode = "10690000";  // what acme sends from, and what the phone replies to
const std::string kPromo = "promo: 20% off this weekend";
const std::string kComplaint = "你们天天发短信骚扰我，我要投诉到12321";
const std::string kOutbox = "smsgate:tickets:outbox";

const std::string kOptOutText = "You will get no more messages from Acme. Reply Y to subscribe again.";
const std::string kOptInText = "Welcome back to Acme.";
const std::string kHelpText = "Acme: reply TD to unsubscribe. Help: 400-800-1234";
const std::string kAckText = "已收到您的投诉，编号{ticket}，我们会尽快处理。";

// The replies: section's answers (and "Y" as an opt-in: the defaults have
// START, YES, 订阅, not the single letter).
std::string answers(const std::string& interval = "24h") {
  return "  opt_out_confirmation: \"" + kOptOutText + "\"\n  opt_in_confirmation: \"" + kOptInText +
         "\"\n  help_text: \"" + kHelpText + "\"\n  complaint_ack: \"" + kAckText +
         "\"\n  confirmation_interval: " + interval + "\n  keywords:\n    opt_in:\n      exact: [\"Y\"]\n";
}

// The send history keeps the texts, so a ticket's last_messages show them.
const std::string kPolicy = "  history:\n    text: true\n";

auto with_replies(std::string policy, std::string replies = answers(),
                  std::function<void(GatewayConfig&)> more = {}) {
  return [policy = std::move(policy), replies = std::move(replies), more = std::move(more)](GatewayConfig& c) {
    c.policy = policy;
    c.replies_extra = replies;
    if (more) more(c);
  };
}

std::string ack_for(const std::string& ticket_id) {
  std::string s = kAckText;
  s.replace(s.find("{ticket}"), 8, ticket_id);
  return s;
}

// A reply from `from` to the short code; its HTTP status once smsgate has
// answered the deliver_sm (whatever it answered). On a thread of its own:
// smsgate may wait for this test's ESME to take the reply. Not a coroutine
// itself: GCC 12 destroys a lambda temporary co_awaited in a coroutine twice.
asio::awaitable<int> mo(Simulator& smsc, std::string text, std::string from = kNumber) {
  return off_thread([&smsc, text = std::move(text), from = std::move(from)] {
    return smsc.mo(from, kShortCode, text).first;
  });
}

// ---------------------------------------------------------------- Redis

std::string opt_out_key(const std::string& digits) { return "smsgate:{+" + digits + "}:optout"; }

std::vector<std::string> opt_out_fields(RedisServer& redis, const std::string& digits = kNumber) {
  std::vector<std::string> out;
  for (const auto& e : redis.command("HKEYS", opt_out_key(digits)).elements) out.push_back(e.str);
  return sorted(out);
}

// The record in `field`, or an empty object when there is none.
json::object opt_out_record(RedisServer& redis, const std::string& field, const std::string& digits = kNumber) {
  const auto r = redis.command("HGET", opt_out_key(digits), field);
  if (!r.is_string()) return {};
  return json::parse(r.str).as_object();
}

std::string record_source(RedisServer& redis, const std::string& field, const std::string& digits = kNumber) {
  const auto record = opt_out_record(redis, field, digits);
  const auto* s = record.if_contains("source");
  return s && s->is_string() ? std::string(s->as_string()) : std::string();
}

struct Ticket {
  std::string entry_id;  // the outbox entry's "id" field (in the file: the ticket's)
  json::object body;     // its "ticket" field, parsed
};

// Every ticket written: those in the outbox (XRANGE) and those smsgate's
// forwarder already moved from it to its file sink (tickets.jsonl beside
// the configuration when no sink is configured), once each by id (one can
// be in both for a moment: written to the file, not yet deleted). The
// outbox first: an entry leaves it only once its line is in the file.
std::vector<Ticket> tickets(RedisServer& redis, const TempDir& dir) {
  std::vector<Ticket> out;
  std::set<std::string> ids;
  const auto r = redis.command("XRANGE", kOutbox, "-", "+");
  for (const auto& entry : r.elements) {
    if (entry.elements.size() != 2) continue;
    Ticket t;
    const auto& fields = entry.elements[1].elements;
    for (std::size_t i = 0; i + 1 < fields.size(); i += 2) {
      if (fields[i].str == "id") t.entry_id = fields[i + 1].str;
      if (fields[i].str == "ticket") t.body = json::parse(fields[i + 1].str).as_object();
    }
    ids.insert(t.entry_id);
    out.push_back(std::move(t));
  }
  std::istringstream lines(slurp(dir.file("tickets.jsonl")));
  for (std::string line; std::getline(lines, line);) {
    error_code ec;
    const auto v = json::parse(line, ec);
    if (ec || !v.is_object()) continue;  // being written: still in the outbox
    Ticket t;
    t.body = v.as_object();
    const auto* id = t.body.if_contains("id");
    t.entry_id = id && id->is_string() ? std::string(id->as_string()) : std::string();
    if (ids.insert(t.entry_id).second) out.push_back(std::move(t));
  }
  return out;
}

std::string str(const json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::vector<std::string> strings(const json::object& o, std::string_view key) {
  std::vector<std::string> out;
  const auto* v = o.if_contains(key);
  if (!v || !v->is_array()) return out;
  for (const auto& e : v->as_array()) out.push_back(e.is_string() ? std::string(e.as_string()) : json::serialize(e));
  return out;
}

// ---------------------------------------------------------------- what went where

// The replies (not receipts) an account got, as their texts.
std::vector<std::string> replies_to(const Esme& esme) {
  std::vector<std::string> out;
  for (const auto& p : esme.received) {
    const auto& sm = p.as<smpp::ShortMessage>();
    if (!smpp::is_receipt_esm_class(sm.esm_class)) out.push_back(sm.short_message);
  }
  return out;
}

std::size_t receipts_to(const Esme& esme) { return esme.received.size() - replies_to(esme).size(); }

// What the simulator got other than acme's promos: smsgate's answers, as
// "source>dest: text".
std::vector<std::string> answers_sent(const TempDir& dir, const std::string& name = "smsc") {
  std::vector<std::string> out;
  for (const auto& r : recorded(dir, name)) {
    if (r.text != kPromo) out.push_back(r.source + ">" + r.dest + ": " + r.text);
  }
  return out;
}

std::string answer(const std::string& text, const std::string& to = kNumber) {
  return kShortCode + ">" + to + ": " + text;
}

using Texts = std::vector<std::string>;

// Sends acme's promo to `dest` from the short code and waits for its
// receipt to come back (so that none is in flight when a test stops Redis).
asio::awaitable<std::string> promo(Esme& esme, const std::string& dest = kNumber) {
  const std::size_t before = receipts_to(esme);
  const auto r = co_await esme.submit(dest, kPromo, kShortCode);
  EXPECT_EQ(status_of(r), OK);
  co_await until([&] { return receipts_to(esme) > before; });
  co_return id_of(r);
}

// ---------------------------------------------------------------- opt-out by keyword

// The opt-out is in Redis before the carrier hears OK, so the very next
// submit is refused - on this node and on another one on the same Redis.
TEST(ReplyOptOut, TdOptsTheNumberOutAndTheNextMarketingSubmitIsRefusedOnEveryNode) {
  OneCarrier t({}, with_replies(kPolicy));
  TempDir dir_b;
  Simulator smsc_b(dir_b, {});
  GatewayConfig b(t.redis);
  b.node = "gwb";
  b.account("acme");
  b.carrier("carrier-a", smsc_b.port());
  b.policy = kPolicy;
  b.replies_extra = answers();
  GatewayProcess gw_b(dir_b, b);
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    auto acme_b = co_await Esme::bind(gw_b.port());
    co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_EQ(opt_out_fields(t.redis), Texts{"*"});
    EXPECT_EQ(record_source(t.redis, "*"), "reply");
    EXPECT_EQ(str(opt_out_record(t.redis, "*"), "reason"), "carrier-a: TD");
    EXPECT_EQ(status_of(co_await acme->submit(kNumber, kPromo, kShortCode)), kOptedOut);
    EXPECT_EQ(status_of(co_await acme_b->submit(kNumber, kPromo, kShortCode)), kOptedOut);
    // Another number is not touched.
    EXPECT_EQ(status_of(co_await acme_b->submit(kOtherNumber, kPromo, kShortCode)), OK);
    // The reply itself still reaches the account.
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 1; }));
    EXPECT_EQ(replies_to(*acme), Texts{"TD"});
  });
  EXPECT_EQ(t.smsc.stat("deliver_sm_resp_errors"), 0u);
}

TEST(ReplyOptOut, TheConfirmationGoesFromTheAddressRepliedToOncePerInterval) {
  OneCarrier t({}, with_replies(kPolicy));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_TRUE(co_await until([&] { return answers_sent(t.dir).size() == 1; }));
    // The phone is not sure it worked and sends it again, a little differently.
    EXPECT_EQ(co_await mo(t.smsc, "退订"), 200);
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 2; }));
    co_await sleep_for(300ms);  // time for a second confirmation to show, if one were sent
  });
  EXPECT_EQ(answers_sent(t.dir), Texts{answer(kOptOutText)});
  EXPECT_EQ(opt_out_fields(t.redis), Texts{"*"});
}

TEST(ReplyOptOut, WithScopeAccountCoversTheAccountThatLastMessagedTheNumber) {
  OneCarrier t({}, with_replies(kPolicy + "  opt_out:\n    scope: account\n", answers(),
                                [](GatewayConfig& c) { c.account("beta"); }));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    auto beta = co_await Esme::bind(t.port(), "beta");
    co_await promo(*beta);
    co_await promo(*acme);  // the last one: the reply is to acme
    EXPECT_EQ(co_await mo(t.smsc, "STOP"), 200);
    EXPECT_EQ(opt_out_fields(t.redis), Texts{"a:acme"});
    EXPECT_EQ(record_source(t.redis, "a:acme"), "reply");
    EXPECT_EQ(status_of(co_await acme->submit(kNumber, kPromo, kShortCode)), kOptedOut);
    EXPECT_EQ(status_of(co_await beta->submit(kNumber, kPromo, kShortCode)), OK);
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 1; }));
    EXPECT_EQ(replies_to(*beta), Texts{});
  });
}

// An opt-out from beta does not make acme's later message one that "reached
// it after it had opted out": the phone's TD to acme is an opt-out from
// acme, not an unsubscribe_failed complaint.
TEST(ReplyOptOut, WithScopeAccountAnOptOutFromAnotherAccountDoesNotTurnTheNextIntoAComplaint) {
  OneCarrier t({}, with_replies(kPolicy + "  opt_out:\n    scope: account\n", answers(),
                                [](GatewayConfig& c) { c.account("beta"); }));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    auto beta = co_await Esme::bind(t.port(), "beta");
    co_await promo(*beta);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_EQ(opt_out_fields(t.redis), Texts{"a:beta"});
    co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_EQ(opt_out_fields(t.redis), (Texts{"a:acme", "a:beta"}));
    EXPECT_EQ(record_source(t.redis, "a:acme"), "reply");
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 1 && replies_to(*beta).size() == 1; }));
  });
  EXPECT_EQ(tickets(t.redis, t.dir).size(), 0u);
}

TEST(ReplyOptOut, AConfirmationIsSentAgainOnceTheIntervalHasPassed) {
  OneCarrier t({}, with_replies(kPolicy, answers("1s")));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_TRUE(co_await until([&] { return answers_sent(t.dir).size() == 1; }));
    co_await sleep_for(1200ms);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_TRUE(co_await until([&] { return answers_sent(t.dir).size() == 2; }));
    co_await sleep_for(200ms);
  });
  EXPECT_EQ(answers_sent(t.dir), (Texts{answer(kOptOutText), answer(kOptOutText)}));
  EXPECT_EQ(tickets(t.redis, t.dir).size(), 0u);
}

// ---------------------------------------------------------------- complaints

TEST(ComplaintTicket, OneTicketInTheOutboxAnOptOutAndAnAcknowledgementWithTheTicketId) {
  OneCarrier t({}, with_replies(kPolicy));
  std::string promo_id;
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    promo_id = co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, kComplaint), 200);
    EXPECT_EQ(status_of(co_await acme->submit(kNumber, kPromo, kShortCode)), kOptedOut);
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 1; }));
    EXPECT_EQ(replies_to(*acme).size(), 1u);  // forwarded too (UCS-2 bytes)
    EXPECT_TRUE(co_await until([&] { return answers_sent(t.dir).size() == 1; }));
  });
  EXPECT_EQ(opt_out_fields(t.redis), Texts{"*"});
  EXPECT_EQ(record_source(t.redis, "*"), "complaint");

  const auto written = tickets(t.redis, t.dir);
  ASSERT_EQ(written.size(), 1u);
  const json::object& ticket = written[0].body;
  const std::string id = str(ticket, "id");
  EXPECT_EQ(written[0].entry_id, id);
  EXPECT_EQ(id.rfind("T-", 0), 0u) << id;
  EXPECT_EQ(id.size(), 18u) << id;
  EXPECT_EQ(str(ticket, "category"), "regulator_report") << json::serialize(ticket);
  EXPECT_EQ(str(ticket, "severity"), "urgent");
  EXPECT_EQ(str(ticket, "number"), "+" + kNumber);
  EXPECT_EQ(str(ticket, "text"), kComplaint);
  EXPECT_EQ(str(ticket, "account"), "acme");
  EXPECT_EQ(str(ticket, "source"), kShortCode);
  EXPECT_EQ(str(ticket, "carrier"), "carrier-a");
  EXPECT_EQ(str(ticket, "region"), "CN");
  EXPECT_EQ(strings(ticket, "actions"), (Texts{"opted_out:*", "ticket", "acknowledged"}));
  // What acme sent it before: the history entry of the promo.
  ASSERT_TRUE(ticket.contains("last_messages") && ticket.at("last_messages").is_array()) << json::serialize(ticket);
  const auto& last = ticket.at("last_messages").as_array();
  ASSERT_EQ(last.size(), 1u) << json::serialize(ticket);
  ASSERT_TRUE(last[0].is_object());
  EXPECT_EQ(str(last[0].as_object(), "id"), promo_id);
  EXPECT_EQ(str(last[0].as_object(), "account"), "acme");
  EXPECT_EQ(str(last[0].as_object(), "source"), kShortCode);
  EXPECT_EQ(str(last[0].as_object(), "text"), kPromo);
  // Due: the urgent defaults, 4 h to the first response, 24 h to resolve.
  ASSERT_TRUE(ticket.contains("due") && ticket.at("due").is_object()) << json::serialize(ticket);
  const auto& due = ticket.at("due").as_object();
  EXPECT_EQ(str(due, "first_response").size(), 20u) << json::serialize(due);  // 2026-01-02T03:04:05Z
  EXPECT_LT(str(due, "first_response"), str(due, "resolution"));

  EXPECT_EQ(answers_sent(t.dir), Texts{answer(ack_for(id))});
  // The dedupe key: the ticket's id, for 24 h.
  const auto dedupe = t.redis.command("KEYS", "smsgate:{+" + kNumber + "}:ticket:*");
  ASSERT_EQ(dedupe.elements.size(), 1u);
  EXPECT_EQ(t.redis.command("GET", dedupe.elements[0].str).str, id);
  EXPECT_GT(t.redis.command("PTTL", dedupe.elements[0].str).integer, 23LL * 3600 * 1000);
}


// The carrier did not get our OK (here: the reply could not be stored for
// the account, which has no receiver bound) and sends the same deliver_sm
// again: the opt-out, the ticket and the acknowledgement are not repeated.
TEST(ComplaintTicket, TheCarrierSendingTheSameComplaintAgainGivesOneTicketAndOneAcknowledgement) {
  OneCarrier t({}, with_replies(kPolicy));
  const std::string pending = "smsgate:pending:acme";
  run(t.io, [&]() -> asio::awaitable<void> {
    auto tx = co_await Esme::bind(t.port(), "acme", "secret1", net::BindType::transmitter);
    EXPECT_EQ(status_of(co_await tx->submit(kNumber, kPromo, kShortCode)), OK);
    // Its receipt waits in the pending list; then the list is made unwritable.
    EXPECT_TRUE(co_await until([&] { return t.redis.command("LLEN", pending).integer == 1; }));
    t.redis.command("DEL", pending);
    t.redis.command("SET", pending, "not a list");
    EXPECT_EQ(co_await mo(t.smsc, kComplaint), 200);
    EXPECT_GE(t.smsc.stat("deliver_sm_resp_errors"), 1u);
    // Acted on already: opt-out and ticket.
    EXPECT_EQ(record_source(t.redis, "*"), "complaint");
    EXPECT_EQ(tickets(t.redis, t.dir).size(), 1u);
    t.redis.command("DEL", pending);
    // The carrier's retry (after 1 s) is stored.
    EXPECT_TRUE(co_await until([&] { return t.redis.command("LLEN", pending).integer == 1; }, 4000ms));
    EXPECT_TRUE(co_await until([&] { return !answers_sent(t.dir).empty(); }));
    co_await sleep_for(300ms);
  });
  EXPECT_GE(t.smsc.stat("deliver_retries"), 1u);
  EXPECT_EQ(t.smsc.stat("mos_sent"), 1u);
  const auto written = tickets(t.redis, t.dir);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(answers_sent(t.dir), Texts{answer(ack_for(written[0].entry_id))});
  EXPECT_EQ(opt_out_fields(t.redis), Texts{"*"});
}

// The phone sends the same words twice in a row (the dedupe is keyed on the
// carrier, the number, the address replied to and the text, for 24 h).
TEST(ComplaintTicket, TheSameComplaintTwiceIsOneTicket) {
  OneCarrier t({}, with_replies(kPolicy));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, kComplaint), 200);
    EXPECT_EQ(co_await mo(t.smsc, kComplaint), 200);
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 2; }));
    EXPECT_TRUE(co_await until([&] { return !answers_sent(t.dir).empty(); }));
    co_await sleep_for(300ms);
  });
  const auto written = tickets(t.redis, t.dir);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(answers_sent(t.dir), Texts{answer(ack_for(written[0].entry_id))});
}

// Longer than one SMS: the simulator sends it in parts (UDH), smsgate
// classifies the whole of it once.
TEST(ComplaintTicket, ALongComplaintInSeveralPartsIsOneTicketWithTheWholeText) {
  const std::string text =
      "你好，我想问一下你们这个活动到底是怎么回事，每个星期都发好几条，内容也看不懂，能不能说清楚一点？"
      "我已经问过客服三次了，每次都说会有人联系我，结果一直没有人联系。另外我要投诉到12321";
  OneCarrier t({}, with_replies(kPolicy));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, text), 200);
    EXPECT_TRUE(co_await until([&] { return !answers_sent(t.dir).empty(); }));
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 2; }));  // forwarded as they came
    co_await sleep_for(300ms);
  });
  EXPECT_EQ(t.smsc.stat("mos_sent"), 2u);
  const auto written = tickets(t.redis, t.dir);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(str(written[0].body, "text"), text);
  EXPECT_EQ(str(written[0].body, "category"), "regulator_report");
  EXPECT_EQ(answers_sent(t.dir), Texts{answer(ack_for(written[0].entry_id))});
  EXPECT_EQ(record_source(t.redis, "*"), "complaint");
}

// A message reached the number after it had opted out (here a
// transactional one, which opt_out.transactional: skip lets through): TD
// again is reporting that, a complaint (docs/replies.md, already_opted_out).
TEST(ComplaintTicket, TdAfterAMessageReachedAnOptedOutNumberIsAnUnsubscribeFailedComplaint) {
  OneCarrier t({}, with_replies(kPolicy + "  opt_out:\n    transactional: skip\n", answers(),
                                [](GatewayConfig& c) { c.account("otp").traffic = "transactional"; }));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    auto otp = co_await Esme::bind(t.port(), "otp");
    co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    co_await sleep_for(5ms);  // the opt-out strictly before the next message
    co_await promo(*otp);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_TRUE(co_await until([&] { return answers_sent(t.dir).size() == 2; }));
  });
  const auto written = tickets(t.redis, t.dir);
  ASSERT_EQ(written.size(), 1u);
  EXPECT_EQ(str(written[0].body, "category"), "unsubscribe_failed") << json::serialize(written[0].body);
  EXPECT_EQ(str(written[0].body, "severity"), "high");
  EXPECT_EQ(str(written[0].body, "account"), "otp");
  EXPECT_EQ(strings(written[0].body, "actions"), (Texts{"already_opted_out:*", "ticket", "acknowledged"}));
  EXPECT_EQ(record_source(t.redis, "*"), "reply");  // the first record stays
  EXPECT_EQ(answers_sent(t.dir), (Texts{answer(kOptOutText), answer(ack_for(written[0].entry_id))}));
}

// ---------------------------------------------------------------- Redis down

TEST(ReplyRedisDown, TheCarrierIsToldToTryAgainAndItsRetryIsActedOnOnce) {
  OneCarrier t({}, with_replies(kPolicy), {.aof = true});
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    co_await promo(*acme);
    // Who sent it last is written after the account's answer: on disk before Redis goes.
    EXPECT_TRUE(co_await until([&] {
      return !t.redis.command("GET", "smsgate:last:{" + kNumber + "}:" + kShortCode).is_nil();
    }));
    t.redis.stop();
    EXPECT_TRUE(co_await until([&] { return count_of(t.gw->log(), "\"event\":\"redis_down\"") >= 2; }));
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_GE(t.smsc.stat("deliver_sm_resp_errors"), 1u);
    EXPECT_EQ(replies_to(*acme), Texts{});
    t.redis.start();
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 1; }, 6000ms)) << t.gw->log();
    EXPECT_TRUE(co_await until([&] { return !answers_sent(t.dir).empty(); }));
    co_await sleep_for(1500ms);  // a retry too many would come within a second
    EXPECT_EQ(replies_to(*acme), Texts{"TD"});
    EXPECT_EQ(status_of(co_await acme->submit(kNumber, kPromo, kShortCode)), kOptedOut);
  }, 14000ms);
  EXPECT_EQ(opt_out_fields(t.redis), Texts{"*"});
  EXPECT_EQ(record_source(t.redis, "*"), "reply");
  EXPECT_EQ(answers_sent(t.dir), Texts{answer(kOptOutText)});
  EXPECT_EQ(t.smsc.stat("mos_sent"), 1u);
  EXPECT_EQ(t.smsc.stat("deliver_failed"), 0u);
}

// ---------------------------------------------------------------- opt-in, help

TEST(ReplyOptIn, YRemovesAKeywordOptOutButNotOneMadeByAComplaint) {
  OneCarrier t({}, with_replies(kPolicy));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_EQ(status_of(co_await acme->submit(kNumber, kPromo, kShortCode)), kOptedOut);
    EXPECT_EQ(co_await mo(t.smsc, "Y"), 200);
    EXPECT_EQ(opt_out_fields(t.redis), Texts{});
    co_await promo(*acme);  // allowed again
    EXPECT_TRUE(co_await until([&] { return answers_sent(t.dir).size() == 2; }));

    EXPECT_EQ(co_await mo(t.smsc, kComplaint), 200);
    EXPECT_EQ(record_source(t.redis, "*"), "complaint");
    EXPECT_EQ(co_await mo(t.smsc, "Y"), 200);
    EXPECT_EQ(opt_out_fields(t.redis), Texts{"*"});
    EXPECT_EQ(record_source(t.redis, "*"), "complaint");
    EXPECT_EQ(status_of(co_await acme->submit(kNumber, kPromo, kShortCode)), kOptedOut);
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 4; }));
    EXPECT_TRUE(co_await until([&] { return answers_sent(t.dir).size() == 3; }));
    co_await sleep_for(300ms);
  });
  const auto written = tickets(t.redis, t.dir);
  ASSERT_EQ(written.size(), 1u);
  // The second Y removed nothing and is not confirmed.
  EXPECT_EQ(answers_sent(t.dir),
            (Texts{answer(kOptOutText), answer(kOptInText), answer(ack_for(written[0].entry_id))}));
}

TEST(ReplyHelp, HelpIsAnsweredWithTheHelpTextAndNothingIsOptedOut) {
  OneCarrier t({}, with_replies(kPolicy));
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, "HELP"), 200);
    EXPECT_TRUE(co_await until([&] { return !answers_sent(t.dir).empty(); }));
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 1; }));
    co_await promo(*acme);
  });
  EXPECT_EQ(answers_sent(t.dir), Texts{answer(kHelpText)});
  EXPECT_EQ(opt_out_fields(t.redis), Texts{});
  EXPECT_EQ(tickets(t.redis, t.dir).size(), 0u);
}

// ---------------------------------------------------------------- no policy

TEST(ReplyWithoutPolicy, RepliesAreForwardedUntouchedAndNothingIsOptedOutOrAnswered) {
  OneCarrier t({}, [](GatewayConfig& c) { c.replies_extra = answers(); });
  run(t.io, [&]() -> asio::awaitable<void> {
    auto acme = co_await Esme::bind(t.port());
    co_await promo(*acme);
    EXPECT_EQ(co_await mo(t.smsc, "TD"), 200);
    EXPECT_EQ(co_await mo(t.smsc, kComplaint), 200);
    EXPECT_EQ(co_await mo(t.smsc, "HELP"), 200);
    EXPECT_TRUE(co_await until([&] { return replies_to(*acme).size() == 3; }));
    // As the carrier sent them (the simulator: TON 1 from the phone, TON 0 to the short code).
    for (const auto& p : acme->received) {
      const auto& sm = p.as<smpp::ShortMessage>();
      if (smpp::is_receipt_esm_class(sm.esm_class)) continue;
      EXPECT_EQ(sm.source.addr, kNumber);
      EXPECT_EQ(sm.source.ton, 1);
      EXPECT_EQ(sm.dest.addr, kShortCode);
      EXPECT_EQ(sm.esm_class, 0);
    }
    const auto texts = replies_to(*acme);
    if (texts.size() == 3) {
      EXPECT_EQ(texts[0], "TD");
      EXPECT_EQ(texts[2], "HELP");
    }
    EXPECT_EQ(status_of(co_await acme->submit(kNumber, kPromo, kShortCode)), OK);
    co_await sleep_for(300ms);
  });
  EXPECT_EQ(answers_sent(t.dir), Texts{});
  EXPECT_EQ(t.redis.command("EXISTS", opt_out_key(kNumber)).integer, 0);
  EXPECT_EQ(tickets(t.redis, t.dir).size(), 0u);
  EXPECT_EQ(t.gw->log().find("\"event\":\"reply_classified\""), std::string::npos);
}

}  // namespace
}  // namespace smsgate::gateway::test
