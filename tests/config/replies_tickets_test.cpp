// The replies: section (keywords added to the classifier's, severities, the
// answers smsgate sends, the complaint rate) and the tickets: section (one
// sink: file, webhook or Request Tracker; timeouts; due times). Values are
// checked when the file is loaded, each problem at its line and column;
// redacted_yaml writes both sections back, secrets as their names.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "config/config.hpp"
#include "tests/config/support.hpp"

namespace smsgate::config {
namespace {

using namespace std::chrono_literals;
using testing::expect_diagnostics;
using testing::ExampleSecrets;
using testing::all;
using testing::with;

constexpr const char* kRtToken = "Rt-token-9f8e7d";

void set_secrets() {
  ExampleSecrets::set();
  ::setenv("RT_TOKEN", kRtToken, 1);
}

LoadResult load(const std::string& tail, const LoadOptions& options = {}) {
  set_secrets();
  return load_config_string(with(tail), "r.yaml", options);
}

// Loads, expecting no diagnostic at all.
Config config_of(const std::string& tail) {
  LoadResult r = load(tail);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
  if (!r.ok()) throw std::runtime_error("does not load:\n" + all(r));
  return *r.config;
}

// Exactly one diagnostic, printed as `expected`.
void expect_one(const std::string& tail, const std::string& expected) {
  LoadResult r = load(tail);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(format(r.diagnostics[0]), expected);
}

// A scratch folder of its own for each test (ctest runs them in parallel).
std::filesystem::path scratch_dir() {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() /
             ("smsgate-replies-" + std::string(test->name()) + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

void write(const std::filesystem::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

constexpr const char* kFullReplies = R"(replies:
  default_account: acme
  keywords:
    defaults: false
    opt_out: { exact: [TD, T, R], leading: [STOP], phrases: [退订, 取消订阅], patterns: ["(?i)take me off"] }
    opt_in: { exact: [Y], leading: [START] }
    help: { exact: [HELP, 帮助] }
    complaint: { phrases: [投诉, 举报, "12321"], patterns: ["(?i)report(ed)? (you|this) to", "别再发了"] }
  frequent_threshold_24h: 7
  severity: { regulator_report: urgent, unsubscribe_failed: high, 频繁骚扰: high, other: normal }
  opt_out_confirmation: "您已成功退订，将不再收到营销短信。回复Y可重新订阅。"
  opt_in_confirmation: "您已重新订阅 Acme 营销短信，回复TD退订。"
  help_text: "Acme 营销短信，回复TD退订，客服电话 400-000-0000"
  complaint_ack: "您的投诉已受理，编号 {ticket}，我们将在24小时内联系您。"
  confirmation_interval: 12h
  complaint_rate: { window: 7d, warn_per_1000: 0.5, suspend_per_1000: 2.25, suspend_status: 0x4A1, min_delivered: 500 }
  reassembly_timeout: 90s
)";

Replies full_replies() {
  Replies r;
  r.default_account = "acme";
  r.default_keywords = false;
  r.opt_out = {{"TD", "T", "R"}, {"STOP"}, {"退订", "取消订阅"}, {"(?i)take me off"}};
  r.opt_in = {{"Y"}, {"START"}, {}, {}};
  r.help = {{"HELP", "帮助"}, {}, {}, {}};
  r.complaint = {{}, {}, {"投诉", "举报", "12321"}, {"(?i)report(ed)? (you|this) to", "别再发了"}};
  r.frequent_threshold_24h = 7;
  r.severity = {{"regulator_report", "urgent"}, {"unsubscribe_failed", "high"}, {"harassment", "high"},
                {"other", "normal"}};
  r.opt_out_confirmation = "您已成功退订，将不再收到营销短信。回复Y可重新订阅。";
  r.opt_in_confirmation = "您已重新订阅 Acme 营销短信，回复TD退订。";
  r.help_text = "Acme 营销短信，回复TD退订，客服电话 400-000-0000";
  r.complaint_ack = "您的投诉已受理，编号 {ticket}，我们将在24小时内联系您。";
  r.confirmation_interval = 12h;
  r.complaint_rate = {7 * 24h, 0.5, 2.25, 0x4A1, 500};
  r.reassembly_timeout = 90s;
  return r;
}

constexpr const char* kWebhook = R"(tickets:
  webhook: https://tickets.example.com/hooks/sms-complaints?source=smsgate
  secret_env: TICKET_WEBHOOK_SECRET
  timeout: 5s
  retry_for: 48h
  due:
    urgent: { first_response: 2h, resolution: 12h }
    high:   { first_response: 12h, resolution: 36h }
    normal: { first_response: 1d, resolution: 3d }
)";

constexpr const char* kRequestTracker = R"(tickets:
  request_tracker:
    url: https://rt.example.com:8443/rt
    queue: SMS Complaints
    token_env: RT_TOKEN
    custom_fields: { Category: category, Severity: severity, "Phone number": number, Account: account }
  timeout: 120s
  retry_for: 30d
)";

// ------------------------------------------------------------------ valid sections

TEST(ConfigReplies, LoadsAFullSectionIntoTheExpectedStruct) {
  Replies r = config_of(kFullReplies).replies;
  EXPECT_EQ(r.opt_out, full_replies().opt_out);
  EXPECT_EQ(r.complaint, full_replies().complaint);
  EXPECT_FALSE(r.default_keywords);
  EXPECT_EQ(r.severity, full_replies().severity);  // file order, English names
  EXPECT_EQ(r.complaint_rate, full_replies().complaint_rate);
  EXPECT_EQ(r, full_replies());
}

TEST(ConfigReplies, HasEveryDefaultWithoutTheSectionOrWhenItIsEmpty) {
  LoadResult none = load("");
  ASSERT_TRUE(none.ok()) << all(none);
  EXPECT_TRUE(none.diagnostics.empty()) << all(none);
  EXPECT_EQ(none.config->replies, Replies{});
  Replies r = config_of("replies: {}\n").replies;
  EXPECT_EQ(r, Replies{});
  EXPECT_EQ(r.default_account, "");
  EXPECT_TRUE(r.default_keywords);
  EXPECT_TRUE(r.opt_out.exact.empty());
  EXPECT_EQ(r.frequent_threshold_24h, 5u);
  EXPECT_TRUE(r.severity.empty());
  EXPECT_EQ(r.opt_out_confirmation, "");
  EXPECT_EQ(r.complaint_ack, "");
  EXPECT_EQ(r.confirmation_interval, 24h);
  EXPECT_EQ(r.complaint_rate, (ComplaintRate{24h, 1.0, 3.0, 0x404, 1000}));
  EXPECT_EQ(r.reassembly_timeout, 60s);
}

TEST(ConfigReplies, FillsDefaultsInsideEachMap) {
  Replies r = config_of(
                  "replies:\n"
                  "  keywords: {opt_out: {leading: [QUIT]}}\n"
                  "  complaint_rate: {suspend_per_1000: 10}\n")
                  .replies;
  EXPECT_TRUE(r.default_keywords);
  EXPECT_EQ(r.opt_out, (ReplyWords{{}, {"QUIT"}, {}, {}}));
  EXPECT_EQ(r.opt_in, ReplyWords{});
  EXPECT_EQ(r.complaint_rate, (ComplaintRate{24h, 1.0, 10.0, 0x404, 1000}));
}

TEST(ConfigReplies, StoresCategoriesByTheirEnglishNames) {
  Replies r = config_of("replies:\n  severity: {too_frequent: urgent, 误发短信: high, 隐私担忧: normal, 监管举报: high}\n").replies;
  EXPECT_EQ(r.severity, (std::vector<std::pair<std::string, std::string>>{{"harassment", "urgent"},
                                                                          {"wrong_recipient", "high"},
                                                                          {"privacy", "normal"},
                                                                          {"regulator_report", "high"}}));
}

TEST(ConfigReplies, AcceptsTheBoundsOfEveryRange) {
  Replies r = config_of(
                  "replies:\n"
                  "  frequent_threshold_24h: 0\n"
                  "  confirmation_interval: 0\n"
                  "  reassembly_timeout: 1s\n"
                  "  complaint_rate: {window: 1m, warn_per_1000: 0, suspend_per_1000: 1000, min_delivered: 0}\n")
                  .replies;
  EXPECT_EQ(r.frequent_threshold_24h, 0u);
  EXPECT_EQ(r.confirmation_interval, 0ms);
  EXPECT_EQ(r.reassembly_timeout, 1s);
  EXPECT_EQ(r.complaint_rate, (ComplaintRate{1min, 0.0, 1000.0, 0x404, 0}));
  r = config_of(
          "replies:\n"
          "  frequent_threshold_24h: 1000000\n"
          "  reassembly_timeout: 1h\n"
          "  complaint_rate: {window: 30d, warn_per_1000: 1000, suspend_per_1000: 0, min_delivered: 1000000000}\n")
          .replies;
  EXPECT_EQ(r.reassembly_timeout, 1h);
  EXPECT_EQ(r.complaint_rate, (ComplaintRate{30 * 24h, 1000.0, 0.0, 0x404, 1000000000}));
}

TEST(ConfigReplies, ReadsRatesWithDecimals) {
  for (auto [text, value] : {std::pair{"0.001", 0.001}, std::pair{"007", 7.0}, std::pair{"2.50", 2.5},
                             std::pair{"\"3\"", 3.0}, std::pair{"999.999", 999.999}}) {
    Replies r = config_of(std::string("replies:\n  complaint_rate: {warn_per_1000: 0, suspend_per_1000: ") + text + "}\n")
                    .replies;
    EXPECT_EQ(r.complaint_rate.suspend_per_1000, value) << text;
  }
}

// ------------------------------------------------------------------ replies: warnings

TEST(ConfigReplies, WarnsWhenTheAcknowledgementHasNoTicketReference) {
  LoadResult r = load("replies:\n  complaint_ack: \"已受理，我们将尽快联系您。\"\n");
  ASSERT_TRUE(r.ok()) << all(r);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(format(r.diagnostics[0]),
            "r.yaml:15:18: warning: replies.complaint_ack: no {ticket} in it; the recipient gets no reference to "
            "quote");
  expect_one("replies:\n  help_text: \"Call us, ticket {ticket}\"\n",
             "r.yaml:15:14: warning: replies.help_text: {ticket} is replaced only in complaint_ack; here it is sent "
             "as written");
}

TEST(ConfigReplies, WarnsWhenAnAnswerNeedsMoreThanOneSmsPart) {
  // One character GSM 7-bit lacks makes the whole text UCS-2.
  LoadResult fits = load("replies:\n  help_text: \"" + std::string(69, 'x') + "您\"\n");
  EXPECT_TRUE(fits.diagnostics.empty()) << all(fits);
  expect_one("replies:\n  help_text: \"" + std::string(70, 'x') + "您\"\n",
             "r.yaml:15:14: warning: replies.help_text: 71 UCS-2 characters (it has characters GSM 7-bit lacks) "
             "need 2 SMS parts; one part holds 70");
  LoadResult gsm = load("replies:\n  opt_out_confirmation: \"" + std::string(160, 'a') + "\"\n");
  EXPECT_TRUE(gsm.diagnostics.empty()) << all(gsm);
  expect_one("replies:\n  opt_in_confirmation: \"" + std::string(159, 'a') + "{}\"\n",
             "r.yaml:15:24: warning: replies.opt_in_confirmation: 163 GSM 7-bit characters need 2 SMS parts; one "
             "part holds 160");
  // {ticket} is not counted: its length is the ticket reference's.
  LoadResult ack = load("replies:\n  complaint_ack: \"" + std::string(62, 'x') + "{ticket}您\"\n");
  EXPECT_TRUE(ack.diagnostics.empty()) << all(ack);
  expect_one("replies:\n  complaint_ack: \"" + std::string(70, 'x') + "{ticket}您\"\n",
             "r.yaml:15:18: warning: replies.complaint_ack: 71 UCS-2 characters (it has characters GSM 7-bit lacks), "
             "not counting {ticket}, need 2 SMS parts; one part holds 70");
}

TEST(ConfigReplies, WarnsAboutPatternsWithUpperCaseLettersThatNeverMatch) {
  expect_one("replies:\n  keywords:\n    complaint: {patterns: [\"Report (you|this)\"]}\n",
             "r.yaml:16:28: warning: replies.keywords.complaint.patterns[0]: 'Report (you|this)' has upper-case "
             "letters, but patterns see the reply case-folded; write it in lower case or start it with (?i)");
  // Escapes, classes, named groups and (?i) are fine.
  Replies r = config_of(
                  "replies:\n"
                  "  keywords:\n"
                  "    opt_out: {patterns: ['\\bstop\\W+\\pL+', '\\p{Han}+退订', '(?P<Word>quit)', '(?i)Stop', "
                  "'(?si:END)', '\\x{4E0D}要', '[[:alpha:]]+ out', '\\Qa.b\\E' ]}\n")
                  .replies;
  EXPECT_EQ(r.opt_out.patterns.size(), 8u);
}

TEST(ConfigReplies, WarnsWhenNothingCanOptANumberOut) {
  expect_one("replies:\n  keywords:\n    defaults: false\n    help: {exact: [HELP]}\n",
             "r.yaml:16:15: warning: replies.keywords.defaults: false with no opt_out or complaint words: no reply "
             "opts a number out");
  EXPECT_TRUE(load("replies:\n  keywords:\n    defaults: false\n    complaint: {phrases: [投诉]}\n").diagnostics.empty());
}

TEST(ConfigReplies, WarnsAboutASuspendStatusOutsideTheVendorRange) {
  expect_one("replies:\n  complaint_rate: {suspend_status: 0x58}\n",
             "r.yaml:15:36: warning: replies.complaint_rate.suspend_status: 0x58 is outside the vendor-specific range "
             "0x0400-0x04FF; platforms may take it for a standard SMPP error");
}

// ------------------------------------------------------------------ replies: errors

TEST(ConfigReplies, ReportsEveryBadValueAtItsValue) { expect_diagnostics("replies_values.yaml"); }

TEST(ConfigReplies, ReportsKeywordsWithoutLettersOrDigitsAndPatternsRe2Rejects) {
  expect_one("replies:\n  keywords:\n    help: {exact: [HELP, \"?\"]}\n",
             "r.yaml:16:26: replies.keywords.help.exact[1]: '?' has no letters or digits");
  expect_one("replies:\n  keywords:\n    opt_out: {leading: [\"🛑\"]}\n",
             "r.yaml:16:25: replies.keywords.opt_out.leading[0]: '🛑' has no letters or digits");
  expect_one("replies:\n  keywords:\n    complaint: {patterns: [\"a{2,1}\"]}\n",
             "r.yaml:16:28: replies.keywords.complaint.patterns[0]: 'a{2,1}' does not compile: invalid repetition "
             "size: {2,1}");
  expect_one("replies:\n  keywords:\n    complaint: {patterns: ['(?<=a)b']}\n",
             "r.yaml:16:28: replies.keywords.complaint.patterns[0]: '(?<=a)b' does not compile: invalid perl "
             "operator: (?<");
}

TEST(ConfigReplies, ReportsAnUnknownCategoryOrSeverity) {
  expect_one("replies:\n  severity:\n    harrassment: high\n",
             "r.yaml:16:5: replies.severity: 'harrassment' is not a complaint category (regulator_report, "
             "unsubscribe_failed, privacy, harassment, wrong_recipient, other)");
  expect_one("replies:\n  severity:\n    none: high\n",
             "r.yaml:16:5: replies.severity: 'none' is not a complaint category (regulator_report, "
             "unsubscribe_failed, privacy, harassment, wrong_recipient, other)");
  expect_one("replies:\n  severity:\n    privacy: High\n",
             "r.yaml:16:14: replies.severity.privacy: expected one of urgent | high | normal, got 'High'");
  expect_one("replies:\n  severity: [privacy]\n",
             "r.yaml:15:13: replies.severity: expected a map of complaint category to severity (regulator_report: "
             "urgent), got a list");
}

TEST(ConfigReplies, ReportsRatesThatAreNotNumbersFrom0To1000) {
  for (const char* rate : {"-1", "1e3", ".5", "5.", "1,5", "0x10", "five", "", "1000.5", "nan", " 1", "1 "}) {
    LoadResult r = load(std::string("replies:\n  complaint_rate: {warn_per_1000: \"") + rate + "\"}\n");
    ASSERT_EQ(r.error_count(), 1u) << rate << "\n" << all(r);
    EXPECT_EQ(r.diagnostics[0].line, 15);
    EXPECT_EQ(r.diagnostics[0].column, 35);
    EXPECT_EQ(r.diagnostics[0].message.rfind("replies.complaint_rate.warn_per_1000: ", 0), 0u) << all(r);
  }
  expect_one("replies:\n  complaint_rate: {warn_per_1000: 1500}\n",
             "r.yaml:15:35: replies.complaint_rate.warn_per_1000: '1500' is more than 1000 per 1,000");
  expect_one("replies:\n  complaint_rate: {warn_per_1000: -0.5}\n",
             "r.yaml:15:35: replies.complaint_rate.warn_per_1000: '-0.5' is not a number from 0 to 1000 (such as 0.5 "
             "or 3)");
}

TEST(ConfigReplies, ReportsAWarnRateAboveTheSuspendRate) {
  expect_one("replies:\n  complaint_rate: {warn_per_1000: 4}\n",
             "r.yaml:15:35: replies.complaint_rate.warn_per_1000: warn_per_1000 (4) is above suspend_per_1000 (3); "
             "an account would be suspended before any warning");
  expect_one("replies:\n  complaint_rate:\n    suspend_per_1000: 0.5\n",
             "r.yaml:16:23: replies.complaint_rate.suspend_per_1000: warn_per_1000 (1) is above suspend_per_1000 "
             "(0.5); an account would be suspended before any warning");
  // 0 turns either off, so any order is fine then; a bad value is reported once.
  EXPECT_TRUE(load("replies:\n  complaint_rate: {warn_per_1000: 4, suspend_per_1000: 0}\n").diagnostics.empty());
  EXPECT_EQ(load("replies:\n  complaint_rate: {warn_per_1000: x, suspend_per_1000: 0.5}\n").diagnostics.size(), 1u);
}

TEST(ConfigReplies, ReportsDurationsOutOfRange) {
  expect_one("replies:\n  reassembly_timeout: 500ms\n",
             "r.yaml:15:23: replies.reassembly_timeout: must be at least 1s, got '500ms'");
  expect_one("replies:\n  reassembly_timeout: 61m\n",
             "r.yaml:15:23: replies.reassembly_timeout: duration '61m' is longer than 1h");
  expect_one("replies:\n  complaint_rate: {window: 59s}\n",
             "r.yaml:15:28: replies.complaint_rate.window: must be at least 1m, got '59s'");
  expect_one("replies:\n  complaint_rate: {window: 31d}\n",
             "r.yaml:15:28: replies.complaint_rate.window: duration '31d' is longer than 30d");
}

// ------------------------------------------------------------------ tickets: valid sections

TEST(ConfigTickets, LoadsAWebhookSink) {
  Tickets t = config_of(kWebhook).tickets;
  EXPECT_EQ(t.sink, TicketSink::webhook);
  EXPECT_EQ(t.webhook, "https://tickets.example.com/hooks/sms-complaints?source=smsgate");
  EXPECT_EQ(t.secret, (Secret{Secret::Source::env, "TICKET_WEBHOOK_SECRET", ExampleSecrets::kNames[5][1]}));
  EXPECT_EQ(t.file, "");
  EXPECT_EQ(t.request_tracker, RequestTracker{});
  EXPECT_EQ(t.timeout, 5s);
  EXPECT_EQ(t.retry_for, 48h);
  EXPECT_EQ(t.urgent, (TicketDue{2h, 12h}));
  EXPECT_EQ(t.high, (TicketDue{12h, 36h}));
  EXPECT_EQ(t.normal, (TicketDue{24h, 72h}));
}

TEST(ConfigTickets, LoadsARequestTrackerSink) {
  Tickets t = config_of(kRequestTracker).tickets;
  EXPECT_EQ(t.sink, TicketSink::request_tracker);
  const RequestTracker& rt = t.request_tracker;
  EXPECT_EQ(rt.url, "https://rt.example.com:8443/rt");
  EXPECT_EQ(rt.queue, "SMS Complaints");
  EXPECT_EQ(rt.token, (Secret{Secret::Source::env, "RT_TOKEN", kRtToken}));
  EXPECT_EQ(rt.custom_fields, (std::vector<std::pair<std::string, std::string>>{
                                  {"Category", "category"}, {"Severity", "severity"}, {"Phone number", "number"},
                                  {"Account", "account"}}));
  EXPECT_FALSE(t.secret.given());
  EXPECT_EQ(t.timeout, 120s);
  EXPECT_EQ(t.retry_for, 30 * 24h);
  EXPECT_EQ(t.urgent, (TicketDue{4h, 24h}));  // defaults
}

TEST(ConfigTickets, LoadsAFileSinkRelativeToTheConfigFile) {
  set_secrets();
  auto dir = scratch_dir();
  std::filesystem::create_directories(dir / "state");
  write(dir / "smsgate.yaml", with("tickets: {file: state/tickets.jsonl}\n"));
  LoadResult r = load_config_file(dir / "smsgate.yaml");
  ASSERT_TRUE(r.ok()) << all(r);
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
  EXPECT_EQ(r.config->tickets.sink, TicketSink::file);
  EXPECT_EQ(std::filesystem::path(r.config->tickets.file), dir / "state" / "tickets.jsonl");
  std::filesystem::remove_all(dir);
}

TEST(ConfigTickets, ReadsSecretAndTokenFiles) {
  set_secrets();
  auto dir = scratch_dir();
  write(dir / "webhook.secret", "whsec_from-a-file-0123456789abcdef\n");
  write(dir / "rt.token", "rt-from-a-file\r\n");
  LoadResult webhook = load("tickets:\n  webhook: https://h.example/x\n  secret_file: webhook.secret\n", {dir});
  ASSERT_TRUE(webhook.ok()) << all(webhook);
  EXPECT_TRUE(webhook.diagnostics.empty()) << all(webhook);
  EXPECT_EQ(webhook.config->tickets.secret,
            (Secret{Secret::Source::file, (dir / "webhook.secret").string(), "whsec_from-a-file-0123456789abcdef"}));
  LoadResult rt =
      load("tickets:\n  request_tracker: {url: \"https://rt.example\", queue: q, token_file: rt.token}\n", {dir});
  ASSERT_TRUE(rt.ok()) << all(rt);
  EXPECT_EQ(rt.config->tickets.request_tracker.token,
            (Secret{Secret::Source::file, (dir / "rt.token").string(), "rt-from-a-file"}));
  std::filesystem::remove_all(dir);
}

TEST(ConfigTickets, HasEveryDefaultWithoutTheSectionOrWhenItIsEmpty) {
  EXPECT_EQ(config_of("").tickets, Tickets{});
  Tickets t = config_of("tickets: {}\n").tickets;
  EXPECT_EQ(t, Tickets{});
  EXPECT_EQ(t.sink, TicketSink::none);  // the gateway writes tickets.jsonl beside the config
  EXPECT_EQ(t.file, "");
  EXPECT_EQ(t.timeout, 10s);
  EXPECT_EQ(t.retry_for, 72h);
  EXPECT_EQ(t.urgent, (TicketDue{4h, 24h}));
  EXPECT_EQ(t.high, (TicketDue{24h, 48h}));
  EXPECT_EQ(t.normal, (TicketDue{24h, 48h}));
}

TEST(ConfigTickets, KeepsEachSeveritysDefaultsForTheKeysNotGiven) {
  Tickets t = config_of("tickets:\n  due:\n    urgent: {resolution: 8h}\n    high: {first_response: 1h}\n    normal: {}\n")
                  .tickets;
  EXPECT_EQ(t.urgent, (TicketDue{4h, 8h}));
  EXPECT_EQ(t.high, (TicketDue{1h, 48h}));
  EXPECT_EQ(t.normal, (TicketDue{24h, 48h}));
}

TEST(ConfigTickets, AcceptsTheBoundsOfEveryRange) {
  Tickets t = config_of("tickets: {timeout: 1s, retry_for: 1m, due: {urgent: {first_response: 1ms, resolution: 1ms}}}\n")
                  .tickets;
  EXPECT_EQ(t.timeout, 1s);
  EXPECT_EQ(t.retry_for, 1min);
  EXPECT_EQ(t.urgent, (TicketDue{1ms, 1ms}));
  t = config_of("tickets: {timeout: 2m, retry_for: 30d, due: {normal: {first_response: 365d, resolution: 365d}}}\n")
          .tickets;
  EXPECT_EQ(t.timeout, 120s);
  EXPECT_EQ(t.retry_for, 30 * 24h);
}

TEST(ConfigTickets, AcceptsUrlsWithAddressesPortsAndLocalHttp) {
  for (const char* url : {"https://192.0.2.7:8443/hook", "https://[2001:db8::7]/hook", "HTTPS://Tickets.Example.COM",
                          "http://localhost:8080/hook", "http://127.0.0.1/hook", "http://[::1]:80",
                          "https://h.example/a%20b?x=1&y=2"}) {
    LoadResult r = load(std::string("tickets:\n  webhook: \"") + url + "\"\n  secret_env: TICKET_WEBHOOK_SECRET\n");
    EXPECT_TRUE(r.diagnostics.empty()) << url << "\n" << all(r);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r.config->tickets.webhook, url);
  }
}

// ------------------------------------------------------------------ tickets: warnings

TEST(ConfigTickets, WarnsAboutPlainHttpToAnotherMachine) {
  expect_one("tickets:\n  webhook: http://tickets.example.com/hook\n  secret_env: TICKET_WEBHOOK_SECRET\n",
             "r.yaml:15:12: warning: tickets.webhook: http:// sends complaints (numbers and texts) unencrypted; use "
             "https://");
  expect_one("tickets:\n  request_tracker: {url: \"http://10.0.0.8\", queue: q, token_env: RT_TOKEN}\n",
             "r.yaml:15:26: warning: tickets.request_tracker.url: http:// sends the token and complaints (numbers and "
             "texts) unencrypted; use https://");
}

TEST(ConfigTickets, WarnsWhenTheRtUrlIsNotTheBaseUrl) {
  expect_one("tickets:\n  request_tracker: {url: \"https://rt.example.com/REST/2.0/\", queue: q, token_env: RT_TOKEN}\n",
             "r.yaml:15:26: warning: tickets.request_tracker.url: give RT's base URL (https://rt.example.com); smsgate "
             "adds /REST/2.0/");
}

TEST(ConfigTickets, WarnsAboutASecretNothingUsesOrAShortOne) {
  expect_one("tickets:\n  secret_env: TICKET_WEBHOOK_SECRET\n",
             "r.yaml:15:15: warning: tickets.secret_env: only webhook requests are signed; without webhook the secret "
             "is not used");
  ::setenv("SMSGATE_TEST_SHORT_SECRET", "short-secret", 1);
  LoadResult r = load("tickets:\n  webhook: https://h.example\n  secret_env: SMSGATE_TEST_SHORT_SECRET\n");
  ASSERT_TRUE(r.ok()) << all(r);
  ASSERT_EQ(r.diagnostics.size(), 1u) << all(r);
  EXPECT_EQ(format(r.diagnostics[0]),
            "r.yaml:16:15: warning: tickets.secret_env: the signing secret is 12 bytes; use at least 24 random bytes");
}

TEST(ConfigTickets, WarnsWhenTheTicketFilesFolderDoesNotExist) {
  expect_one("tickets:\n  file: /nonexistent/smsgate/tickets.jsonl\n",
             "r.yaml:15:9: warning: tickets.file: the folder '/nonexistent/smsgate' does not exist; no ticket can be "
             "written until it does");
}

// ------------------------------------------------------------------ tickets: errors

TEST(ConfigTickets, ReportsEveryBadValueAtItsValue) { expect_diagnostics("tickets_values.yaml"); }

TEST(ConfigTickets, ReportsRequestTrackerProblemsAndASecondSink) {
  set_secrets();
  LoadResult r = expect_diagnostics("tickets_request_tracker.yaml");
  for (const Diagnostic& d : r.diagnostics) {
    EXPECT_EQ(d.message.find(":pw@"), std::string::npos) << d.message;  // user info is never quoted
    EXPECT_EQ(d.message.find(kRtToken), std::string::npos) << d.message;
  }
}

TEST(ConfigTickets, ReportsAWebhookWithoutASecretAndRtWithoutItsKeys) {
  expect_one("tickets:\n  webhook: https://h.example/hook\n",
             "r.yaml:15:3: missing secret in tickets: give secret_env or secret_file (the webhook's signing key)");
  LoadResult r = load("tickets:\n  request_tracker: {custom_fields: {}}\n");
  ASSERT_EQ(r.error_count(), 3u) << all(r);
  EXPECT_EQ(format(r.diagnostics[0]), "r.yaml:15:20: missing required key 'url' in tickets.request_tracker");
  EXPECT_EQ(format(r.diagnostics[1]), "r.yaml:15:20: missing required key 'queue' in tickets.request_tracker");
  EXPECT_EQ(format(r.diagnostics[2]),
            "r.yaml:15:20: missing token in tickets.request_tracker: give token_env or token_file (RT's "
            "authentication token)");
  expect_one("tickets:\n  request_tracker: https://rt.example.com\n",
             "r.yaml:15:20: tickets.request_tracker: expected a map, got 'https://rt.example.com'");
}

TEST(ConfigTickets, ReportsTwoSinks) {
  expect_one("tickets:\n  webhook: https://h.example/hook\n  secret_env: TICKET_WEBHOOK_SECRET\n  file: /tmp/t.jsonl\n",
             "r.yaml:17:3: give only one of file, webhook and request_tracker in tickets");
  expect_one("tickets:\n  secret_env: TICKET_WEBHOOK_SECRET\n  secret_file: /etc/smsgate/webhook.secret\n"
             "  webhook: https://h.example/hook\n",
             "r.yaml:16:3: give only one of secret_env and secret_file in tickets");
}

TEST(ConfigTickets, ReportsUrlsThatAreNotHttpUrlsWithAHost) {
  const std::pair<const char*, const char*> cases[] = {
      {"tickets.example.com/hook", "'tickets.example.com/hook' is not an http:// or https:// URL"},
      {"https//tickets.example.com", "'https//tickets.example.com' is not an http:// or https:// URL"},
      {"https://", "'https://' has no host (http:// or https://, a host and an optional port and path)"},
      {"https:///hook", "'https:///hook' has no host (http:// or https://, a host and an optional port and path)"},
      {"https:hook", "'https:hook' is not an http:// or https:// URL"},
      {"mailto:ops@example.com", "'mailto:ops@example.com' is not an http:// or https:// URL"},
      {"https://h.example:0/", "'https://h.example:0/' has a bad port '0' (1-65535)"},
      {"https://h.example:65536/", "'https://h.example:65536/' has a bad port '65536' (1-65535)"},
      {"https://h.example:/", "'https://h.example:/' has a bad port '' (1-65535)"},
      {"https://h.example/#top", "'https://h.example/#top' has a #fragment, which is never sent"},
      {"https://exa mple.com/", "'https://exa mple.com/' is not a URL (http:// or https://, a host and an optional "
                                "port and path, e.g. https://tickets.example.com/hooks/sms)"},
      {"https://h.example/a b", "'https://h.example/a b' is not a URL (http:// or https://, a host and an optional "
                                "port and path, e.g. https://tickets.example.com/hooks/sms)"},
      {"https://bad!host.example/", "'https://bad!host.example/': 'bad!host.example' is not a host name"},
      {"https://user:hunter2@h.example/",
       "the URL has user info (user:password@); give credentials as a secret, not in the URL"},
      {"", "'' is not an http:// or https:// URL"},
      {"https://h.example/a|b", "'https://h.example/a|b' is not a URL (http:// or https://, a host and an optional "
                                "port and path, e.g. https://tickets.example.com/hooks/sms)"},
  };
  for (const auto& [url, why] : cases) {
    LoadResult r = load(std::string("tickets:\n  webhook: \"") + url + "\"\n  secret_env: TICKET_WEBHOOK_SECRET\n");
    ASSERT_EQ(r.diagnostics.size(), 1u) << url << "\n" << all(r);
    EXPECT_EQ(format(r.diagnostics[0]), std::string("r.yaml:15:12: tickets.webhook: ") + why) << url;
  }
}

TEST(ConfigTickets, ReportsDurationsOutOfRangeAndDueTimesInTheWrongOrder) {
  expect_one("tickets: {timeout: 999ms}\n", "r.yaml:14:20: tickets.timeout: must be at least 1s, got '999ms'");
  expect_one("tickets: {timeout: 121s}\n", "r.yaml:14:20: tickets.timeout: duration '121s' is longer than 2m");
  expect_one("tickets: {retry_for: 59s}\n", "r.yaml:14:22: tickets.retry_for: must be at least 1m, got '59s'");
  expect_one("tickets: {retry_for: 31d}\n", "r.yaml:14:22: tickets.retry_for: duration '31d' is longer than 30d");
  expect_one("tickets:\n  due:\n    high: {resolution: 0}\n",
             "r.yaml:16:24: tickets.due.high.resolution: must be at least 1ms, got '0'");
  expect_one("tickets:\n  due:\n    high: {resolution: 12h}\n",
             "r.yaml:16:24: tickets.due.high: first_response (1d) is later than resolution (12h)");
  expect_one("tickets:\n  due:\n    urgent:\n      first_response: 2d\n      resolution: 1d\n",
             "r.yaml:17:23: tickets.due.urgent: first_response (2d) is later than resolution (1d)");
  expect_one("tickets:\n  due: {urgent: 4h}\n", "r.yaml:15:17: tickets.due.urgent: expected a map, got '4h'");
}

TEST(ConfigTickets, IsNoLongerALaterSection) {
  LoadResult r = load("tickets: {}\n");
  EXPECT_TRUE(r.diagnostics.empty()) << all(r);
}

// ------------------------------------------------------------------ round trip

void expect_round_trip(const std::string& tail, const LoadOptions& options = {}) {
  LoadResult r = load(tail, options);
  ASSERT_TRUE(r.ok()) << all(r);
  std::string yaml = redacted_yaml(*r.config);
  LoadResult again = load_config_string(yaml, "redacted.yaml", options);
  ASSERT_TRUE(again.ok()) << all(again) << yaml;
  EXPECT_EQ(again.diagnostics.size(), r.diagnostics.size()) << all(again) << yaml;
  EXPECT_EQ(again.config->replies, r.config->replies) << yaml;
  EXPECT_EQ(again.config->tickets, r.config->tickets) << yaml;
  EXPECT_EQ(*again.config, *r.config) << yaml;
}

TEST(ConfigRepliesTickets, RedactedYamlLoadsBackToTheSameSections) {
  expect_round_trip(std::string(kFullReplies) + kWebhook);
  expect_round_trip(kRequestTracker);
  expect_round_trip("tickets: {file: /tmp/smsgate-tickets.jsonl}\n");
  expect_round_trip("");
  expect_round_trip("replies: {}\ntickets: {}\n");
  // Words YAML would read otherwise, texts with line breaks and quotes.
  expect_round_trip(
      "replies:\n"
      "  keywords:\n"
      "    opt_out: {exact: [\"yes\", \"null\", \"123\", \"0x1F\", \"- n\"], phrases: [\"a, b\", \"[x]\", \"#1\", \"k: v\"]}\n"
      "    opt_in: {patterns: [\"^(?:y|yes)$\", \"[{]x\", \"'q'\", \"\\\"d\\\"\"]}\n"
      "  help_text: \"Line one\\nline two: \\\"quoted\\\" & 'single' # not a comment\"\n"
      "  complaint_ack: \"  {ticket}  \"\n"
      "  complaint_rate: {warn_per_1000: 0.1, suspend_per_1000: 0.30000000000000004}\n"
      "tickets: {webhook: \"http://localhost:8080/h?a=1&b=%5B2%5D\", secret_env: TICKET_WEBHOOK_SECRET}\n");
}

TEST(ConfigRepliesTickets, RedactedYamlRoundTripsSecretAndTokenFiles) {
  set_secrets();
  auto dir = scratch_dir();
  write(dir / "webhook.secret", "whsec_from-a-file-0123456789abcdef\n");
  write(dir / "rt.token", "rt-from-a-file\n");
  expect_round_trip("tickets:\n  webhook: https://h.example/x\n  secret_file: webhook.secret\n", {dir});
  expect_round_trip(
      "tickets:\n  request_tracker: {url: \"https://rt.example\", queue: q, token_file: rt.token, custom_fields: {A: id}}\n",
      {dir});
  std::filesystem::remove_all(dir);
}

TEST(ConfigRepliesTickets, RedactedYamlWritesSecretsByNameInTheDocumentedOrder) {
  LoadResult r = load(std::string(kFullReplies) + kWebhook);
  ASSERT_TRUE(r.ok()) << all(r);
  std::string yaml = redacted_yaml(*r.config);
  EXPECT_EQ(yaml.find(ExampleSecrets::kNames[5][1]), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("tickets:\n  webhook: https://tickets.example.com/hooks/sms-complaints?source=smsgate\n"
                      "  secret_env: TICKET_WEBHOOK_SECRET\n  timeout: 5s\n  retry_for: 2d\n  due:\n    urgent:\n"
                      "      first_response: 2h\n      resolution: 12h\n"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("  severity:\n    regulator_report: urgent\n    unsubscribe_failed: high\n    harassment: high\n"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("  complaint_rate:\n    window: 7d\n    warn_per_1000: 0.5\n    suspend_per_1000: 2.25\n"
                      "    suspend_status: 0x04A1\n    min_delivered: 500\n"),
            std::string::npos)
      << yaml;
  EXPECT_NE(yaml.find("    opt_in:\n      exact: [Y]\n      leading: [START]\n    help:"), std::string::npos) << yaml;
  // In the documented order: replies, no_route_status, policy, tickets, log.
  EXPECT_LT(yaml.find("replies:"), yaml.find("no_route_status:"));
  EXPECT_LT(yaml.find("no_route_status:"), yaml.find("tickets:"));
  EXPECT_LT(yaml.find("tickets:"), yaml.find("log:"));

  LoadResult rt = load(kRequestTracker);
  ASSERT_TRUE(rt.ok()) << all(rt);
  yaml = redacted_yaml(*rt.config);
  EXPECT_EQ(yaml.find(kRtToken), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("    token_env: RT_TOKEN\n    custom_fields:\n      Category: category\n"), std::string::npos)
      << yaml;
  EXPECT_EQ(yaml.find("webhook"), std::string::npos) << yaml;
  EXPECT_EQ(yaml.find("secret_"), std::string::npos) << yaml;
}

TEST(ConfigRepliesTickets, RedactedYamlWritesNoSinkForTheDefaultFile) {
  LoadResult r = load("");
  ASSERT_TRUE(r.ok()) << all(r);
  std::string yaml = redacted_yaml(*r.config);
  EXPECT_NE(yaml.find("tickets:\n  timeout: 10s\n  retry_for: 3d\n  due:\n"), std::string::npos) << yaml;
  // Empty word sets and severities are left out: they mean the same.
  EXPECT_NE(yaml.find("replies:\n  keywords:\n    defaults: true\n  frequent_threshold_24h: 5\n"
                      "  confirmation_interval: 1d\n"),
            std::string::npos)
      << yaml;
}

}  // namespace
}  // namespace smsgate::config
