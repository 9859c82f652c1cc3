// examples/smsgate.yaml loads into the values it documents; secrets are read
// from where the file says and never rendered back.
#include <gtest/gtest.h>

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "config/config.hpp"
#include "tests/config/support.hpp"

namespace smsgate::config {
namespace {

using namespace std::chrono_literals;
using testing::ExampleSecrets;
using testing::source_path;

Config load_example() {
  ExampleSecrets::set();
  LoadResult r = load_config_file(source_path("examples/smsgate.yaml"));
  for (const auto& d : r.diagnostics) ADD_FAILURE() << format(d);
  if (!r.ok()) throw std::runtime_error("examples/smsgate.yaml does not load");
  return *r.config;
}

// A scratch folder of its own for each test (ctest runs them in parallel).
std::filesystem::path scratch_dir() {
  const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
  auto dir = std::filesystem::temp_directory_path() /
             ("smsgate-config-" + std::string(test->name()) + "-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

void write(const std::filesystem::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

// The smallest valid file, with the given text spliced into smpp:, as the
// first account's password, and after the first account.
std::string minimal(const std::string& smpp_extra = "",
                    const std::string& account_password = "    password_env: ACME_SMPP_PASSWORD\n",
                    const std::string& more_accounts = "") {
  return "node: gw1\n"
         "smpp:\n"
         "  listen: 0.0.0.0:2775\n" +
         smpp_extra +
         "redis:\n"
         "  address: unix:/run/redis.sock\n"
         "accounts:\n"
         "  - system_id: acme\n" +
         account_password +
         "    traffic: transactional\n"
         "    max_tps: 10\n"
         "    allowed_cidrs: [\"::/0\"]\n" +
         more_accounts +
         "carriers:\n"
         "  - name: c\n"
         "    address: smsc.example:2775\n"
         "    tls: true\n"
         "    system_id: gw1\n"
         "    password_env: CARRIER_A_PASSWORD\n"
         "    max_tps: 10\n"
         "routes:\n"
         "  - prefix: \"\"\n"
         "    carriers: [c]\n";
}

TEST(ConfigExample, LoadsEveryDocumentedValue) {
  Config c = load_example();
  EXPECT_EQ(c.node, "gw1");

  EXPECT_EQ(c.smpp.listen, (HostPort{"0.0.0.0", 2775}));
  EXPECT_FALSE(c.smpp.tls_listen);
  EXPECT_FALSE(c.smpp.tls);
  EXPECT_EQ(c.smpp.session, SessionTuning{});  // the example writes the defaults
  EXPECT_EQ(c.smpp.session.window, 64u);
  EXPECT_EQ(c.smpp.session.response_timeout, 10s);
  EXPECT_EQ(c.smpp.session.enquire_link_interval, 30s);
  EXPECT_EQ(c.smpp.session.bind_timeout, 10s);
  EXPECT_EQ(c.smpp.session.inactivity_timeout, 0s);
  EXPECT_EQ(c.smpp.session.max_pdu, 65536u);

  EXPECT_EQ(c.redis.address.to_string(), "127.0.0.1:6379");
  EXPECT_FALSE(c.redis.address.is_unix());
  EXPECT_EQ(c.redis.on_error, OnRedisError::reject);
  EXPECT_EQ(c.redis.password.source, Secret::Source::env);
  EXPECT_EQ(c.redis.password.reference, "REDIS_PASSWORD");
  EXPECT_EQ(c.redis.password.value, "Rd-long-redis-secret-1");
  EXPECT_EQ(c.redis.timeout, 2s);

  ASSERT_EQ(c.accounts.size(), 2u);
  const Account& acme = c.accounts[0];
  EXPECT_EQ(acme.system_id, "acme");
  EXPECT_EQ(acme.password.value, "Ac-9x!q");
  EXPECT_EQ(acme.traffic, Traffic::marketing);
  EXPECT_EQ(acme.max_binds, 4u);
  EXPECT_EQ(acme.max_tps, 500u);
  ASSERT_EQ(acme.allowed_cidrs.size(), 2u);
  EXPECT_EQ(acme.allowed_cidrs[0].to_string(), "10.0.0.0/8");
  EXPECT_EQ(acme.allowed_cidrs[1].to_string(), "127.0.0.0/8");
  EXPECT_EQ(acme.default_region, "CN");
  const Account& beta = c.accounts[1];
  EXPECT_EQ(beta.system_id, "beta-otp");
  EXPECT_EQ(beta.traffic, Traffic::transactional);
  EXPECT_EQ(beta.allowed_cidrs[1].to_string(), "2001:db8::/32");
  EXPECT_EQ(beta.default_region, "");

  ASSERT_EQ(c.carriers.size(), 2u);
  const Carrier& a = c.carriers[0];
  EXPECT_EQ(a.name, "carrier-a");
  EXPECT_EQ(a.address, (HostPort{"127.0.0.1", 2776}));
  EXPECT_FALSE(a.tls);
  EXPECT_EQ(a.system_id, "gw1");
  EXPECT_EQ(a.password.value, "Ca-5z#s");
  EXPECT_EQ(a.system_type, "");
  EXPECT_EQ(a.binds, 2u);
  EXPECT_EQ(a.window, 64u);
  EXPECT_EQ(a.max_tps, 2000u);
  EXPECT_EQ(a.id_format, IdFormat::hex);
  EXPECT_EQ(a.default_alphabet, Alphabet::gsm7);
  EXPECT_EQ(a.throttle_retries, 3u);
  const Carrier& b = c.carriers[1];
  EXPECT_EQ(b.address, (HostPort{"2001:db8::10", 3550}));
  EXPECT_EQ(b.address.to_string(), "[2001:db8::10]:3550");
  ASSERT_TRUE(b.tls);
  EXPECT_EQ(*b.tls, (CarrierTls{"", true, "smsc.carrier-b.example"}));
  EXPECT_EQ(b.binds, 1u);  // default
  EXPECT_EQ(b.id_format, IdFormat::decimal);
  EXPECT_EQ(b.default_alphabet, Alphabet::latin1);
  EXPECT_EQ(b.throttle_retries, 3u);  // default

  ASSERT_EQ(c.routes.size(), 3u);
  EXPECT_EQ(c.routes[0], (Route{"86", {"carrier-a", "carrier-b"}}));
  EXPECT_EQ(c.routes[1], (Route{"8613", {"carrier-b"}}));
  EXPECT_EQ(c.routes[2], (Route{"", {"carrier-a"}}));

  EXPECT_EQ(c.receipts.id_map_ttl, 72h);
  EXPECT_EQ(c.receipts.unknown_id_retry, 2s);
  const Replies& r = c.replies;
  EXPECT_EQ(r.default_account, "acme");
  EXPECT_TRUE(r.default_keywords);
  EXPECT_EQ(r.opt_out, (ReplyWords{{"TD", "T", "R"}, {"STOP"}, {"退订", "取消订阅"}, {"(?i)take me off"}}));
  EXPECT_EQ(r.opt_in, (ReplyWords{{"Y"}, {}, {}, {}}));
  EXPECT_EQ(r.help, (ReplyWords{{"HELP"}, {}, {}, {}}));
  EXPECT_EQ(r.complaint, (ReplyWords{{}, {}, {"投诉", "举报", "12321"}, {"(?i)report(ed)? (you|this) to"}}));
  EXPECT_EQ(r.frequent_threshold_24h, 5u);
  EXPECT_EQ(r.severity, (std::vector<std::pair<std::string, std::string>>{{"regulator_report", "urgent"},
                                                                          {"unsubscribe_failed", "high"}}));
  EXPECT_EQ(r.opt_out_confirmation, "您已成功退订，将不再收到营销短信。回复Y可重新订阅。");
  EXPECT_NE(r.opt_in_confirmation, "");
  EXPECT_NE(r.help_text, "");
  EXPECT_EQ(r.complaint_ack, "您的投诉已受理，编号 {ticket}，我们将在24小时内联系您。");
  EXPECT_EQ(r.confirmation_interval, 24h);
  EXPECT_EQ(r.complaint_rate, ComplaintRate{});  // the example writes the defaults
  EXPECT_EQ(r.reassembly_timeout, 60s);
  EXPECT_EQ(c.no_route_status, 0x08u);

  const Tickets& t = c.tickets;
  EXPECT_EQ(t.sink, TicketSink::webhook);
  EXPECT_EQ(t.webhook, "https://tickets.example.com/hooks/sms-complaints");
  EXPECT_EQ(t.secret.source, Secret::Source::env);
  EXPECT_EQ(t.secret.reference, "TICKET_WEBHOOK_SECRET");
  EXPECT_EQ(t.secret.value, "whsec_Tk-long-webhook-signing-key-1");
  Tickets defaults;
  defaults.sink = t.sink;
  defaults.webhook = t.webhook;
  defaults.secret = t.secret;
  EXPECT_EQ(t, defaults);  // the example writes the defaults for the rest

  const Policy& p = c.policy;
  EXPECT_TRUE(p.enabled);
  EXPECT_EQ(p.opt_out_scope, policy::OptOutScope::global);
  EXPECT_EQ(p.transactional_opt_out, TransactionalOptOut::enforce);
  EXPECT_EQ(p.audit_retention, 180 * 24h);
  ASSERT_EQ(p.frequency_caps.size(), 2u);
  EXPECT_EQ(p.frequency_caps[0], (policy::CapRule{"daily", policy::CapScope::recipient, 3, 24h}));
  EXPECT_EQ(p.frequency_caps[1], (policy::CapRule{"weekly-per-account", policy::CapScope::recipient_account, 10, 7 * 24h}));
  ASSERT_EQ(p.quiet_hours.size(), 2u);
  const QuietHours& cn = p.quiet_hours[0];
  EXPECT_EQ(cn.name, "cn-night");
  EXPECT_EQ(cn.regions, std::vector<std::string>{"CN"});
  EXPECT_EQ(cn.allow, "08:00-21:00");
  EXPECT_EQ(cn.days, (std::vector<std::string>{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}));
  EXPECT_EQ(cn.holidays, (std::vector<std::string>{"2026-01-01", "2026-02-17"}));
  EXPECT_EQ(cn.action, QuietAction::defer);
  EXPECT_EQ(cn.max_defer, 24h);
  const QuietHours& us = p.quiet_hours[1];
  EXPECT_EQ(us.regions, (std::vector<std::string>{"US", "CA"}));
  EXPECT_EQ(us.days.size(), 6u);
  EXPECT_TRUE(us.holidays.empty());
  EXPECT_EQ(us.action, QuietAction::reject);
  EXPECT_EQ(p.timezones, (std::vector<std::pair<std::string, std::string>>{{"86", "Asia/Shanghai"},
                                                                            {"1212", "America/New_York"}}));
  EXPECT_EQ(p.statuses, PolicyStatuses{});  // the example writes the defaults
  EXPECT_EQ(p.defer, Defer{});
  EXPECT_EQ(p.history, History{});

  EXPECT_EQ(c.log.format, LogFormat::text);
  EXPECT_EQ(c.log.level, LogLevel::info);
}

// The demo's file (scripts/demo, docs/gateway.md): loads without a
// diagnostic, with its policy, and round-trips.
TEST(ConfigExample, LoadsTheGatewayDemoWithItsPolicy) {
  ::setenv("DEMO_SMPP_PASSWORD", "demo123", 1);
  ::setenv("SMSC_PASSWORD", "smsc123", 1);
  LoadResult r = load_config_file(source_path("examples/gateway.yaml"));
  for (const auto& d : r.diagnostics) ADD_FAILURE() << format(d);
  ASSERT_TRUE(r.ok());
  const Policy& p = r.config->policy;
  EXPECT_TRUE(p.enabled);
  EXPECT_EQ(p.opt_out_scope, policy::OptOutScope::global);
  EXPECT_EQ(p.frequency_caps, (std::vector<policy::CapRule>{{"daily", policy::CapScope::recipient, 3, 24h}}));
  ASSERT_EQ(p.quiet_hours.size(), 1u);
  QuietHours cn;
  cn.name = "cn-night";
  cn.regions = {"CN"};
  cn.allow = "08:00-21:00";
  cn.action = QuietAction::defer;
  cn.max_defer = 24h;
  EXPECT_EQ(p.quiet_hours[0], cn);
  EXPECT_EQ(p.timezones, (std::vector<std::pair<std::string, std::string>>{{"86", "Asia/Shanghai"}}));
  // The answers the demo shows; tickets go to the default file sink.
  const Replies& replies = r.config->replies;
  EXPECT_EQ(replies.default_account, "demo");
  EXPECT_NE(replies.opt_out_confirmation, "");
  EXPECT_NE(replies.help_text, "");
  EXPECT_NE(replies.complaint_ack.find("{ticket}"), std::string::npos);
  EXPECT_EQ(r.config->tickets, Tickets{});

  LoadResult again = load_config_string(redacted_yaml(*r.config), "redacted.yaml");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again.config, *r.config);
}

TEST(ConfigExample, UsesPasswordEnvForEverySecret) {
  std::string text = testing::read_text(source_path("examples/smsgate.yaml"));
  for (const char* plain : {"\n  password:", "\n    password:", "password_file:"}) {
    EXPECT_EQ(text.find(plain), std::string::npos) << plain;
  }
}

TEST(ConfigExample, FillsDefaultsForOptionalKeys) {
  ExampleSecrets::set();
  LoadResult r = load_config_string(minimal(), "minimal.yaml");
  ASSERT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : format(r.diagnostics[0]));
  const Config& c = *r.config;
  EXPECT_EQ(c.smpp.session, SessionTuning{});
  EXPECT_TRUE(c.redis.address.is_unix());
  EXPECT_EQ(c.redis.address.unix_path, "/run/redis.sock");
  EXPECT_FALSE(c.redis.password.given());
  EXPECT_EQ(c.redis.on_error, OnRedisError::reject);
  EXPECT_EQ(c.accounts[0].max_binds, 1u);
  EXPECT_TRUE(c.accounts[0].allowed_cidrs[0].contains(*parse_ip("2001:db8::1")));
  ASSERT_TRUE(c.carriers[0].tls);  // tls: true
  EXPECT_EQ(*c.carriers[0].tls, CarrierTls{});
  EXPECT_EQ(c.carriers[0].id_format, IdFormat::string);
  EXPECT_EQ(c.receipts, Receipts{});
  EXPECT_EQ(c.receipts.id_map_ttl, 72h);
  EXPECT_EQ(c.replies, Replies{});
  EXPECT_EQ(c.no_route_status, 0x08u);
  EXPECT_EQ(c.tickets, Tickets{});  // tickets.jsonl beside the config
  EXPECT_EQ(c.log, Log{});
  EXPECT_FALSE(c.policy.enabled);  // no policy: section
}

TEST(ConfigRedaction, RendersNoSecretValue) {
  Config c = load_example();
  c.accounts[1].password = {Secret::Source::plain, "", "Pl41n-pw"};
  std::string yaml = redacted_yaml(c);
  for (const auto& [name, value] : ExampleSecrets::kNames) {
    EXPECT_EQ(yaml.find(value), std::string::npos) << value;
    if (std::string(name) != "BETA_SMPP_PASSWORD") {  // now a plain password
      EXPECT_NE(yaml.find(std::string("_env: ") + name + "\n"), std::string::npos) << name;
    }
  }
  EXPECT_EQ(yaml.find("Pl41n-pw"), std::string::npos);
  EXPECT_NE(yaml.find("password: <redacted>"), std::string::npos) << yaml;
}

TEST(ConfigRedaction, LoadsBackToTheSameConfig) {
  Config c = load_example();
  LoadResult again = load_config_string(redacted_yaml(c), "redacted.yaml");
  for (const auto& d : again.diagnostics) ADD_FAILURE() << format(d);
  ASSERT_TRUE(again.ok()) << redacted_yaml(c);
  EXPECT_EQ(*again.config, c);
}

TEST(ConfigRedaction, ShowsEffectiveDefaults) {
  std::string yaml = redacted_yaml(load_example());
  EXPECT_NE(yaml.find("id_map_ttl: 3d"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("no_route_status: 0x08"), std::string::npos) << yaml;
  // carrier-b writes neither window nor binds nor throttle_retries.
  EXPECT_NE(yaml.find("    window: 64\n    max_tps: 500"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("    binds: 1\n"), std::string::npos) << yaml;
}

TEST(ConfigSecrets, ReadsPasswordFileRelativeToTheConfigFileWithoutItsLineEnd) {
  ExampleSecrets::set();
  auto dir = scratch_dir();
  write(dir / "acme.secret", "s3cr3t\n");
  write(dir / "smsgate.yaml", minimal("", "    password_file: acme.secret\n"));
  LoadResult r = load_config_file(dir / "smsgate.yaml");
  ASSERT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : format(r.diagnostics[0]));
  const Secret& s = r.config->accounts[0].password;
  EXPECT_EQ(s.source, Secret::Source::file);
  EXPECT_EQ(s.value, "s3cr3t");
  EXPECT_EQ(std::filesystem::path(s.reference), dir / "acme.secret");
  std::filesystem::remove_all(dir);
}

TEST(ConfigSecrets, ReportsAnEmptyPasswordFileAndAnEmptyVariable) {
  ExampleSecrets::set();
  auto dir = scratch_dir();
  write(dir / "empty.secret", "\n");
  ::setenv("SMSGATE_TEST_EMPTY_PASSWORD", "", 1);
  std::string text = minimal("", "    password_file: " + (dir / "empty.secret").string() + "\n",
                             "  - system_id: beta\n"
                             "    password_env: SMSGATE_TEST_EMPTY_PASSWORD\n"
                             "    traffic: marketing\n"
                             "    max_tps: 1\n"
                             "    allowed_cidrs: [0.0.0.0/0]\n");
  LoadResult r = load_config_string(text, "t.yaml");
  ASSERT_EQ(r.error_count(), 2u);
  EXPECT_NE(r.diagnostics[0].message.find("is empty"), std::string::npos) << r.diagnostics[0].message;
  EXPECT_NE(r.diagnostics[1].message.find("environment variable 'SMSGATE_TEST_EMPTY_PASSWORD' is empty"),
            std::string::npos)
      << r.diagnostics[1].message;
  std::filesystem::remove_all(dir);
}

TEST(ConfigTls, LoadsServerTlsWhenBothFilesCanBeRead) {
  ExampleSecrets::set();
  auto dir = scratch_dir();
  write(dir / "tls.crt", "-----BEGIN CERTIFICATE-----\n");
  write(dir / "tls.key", "-----BEGIN PRIVATE KEY-----\n");
  write(dir / "smsgate.yaml", minimal("  tls_listen: \"[::]:3550\"\n  tls: { cert_file: tls.crt, key_file: tls.key }\n"));
  LoadResult r = load_config_file(dir / "smsgate.yaml");
  ASSERT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : format(r.diagnostics[0]));
  EXPECT_EQ(r.config->smpp.tls_listen, (HostPort{"::", 3550}));
  ASSERT_TRUE(r.config->smpp.tls);
  EXPECT_EQ(std::filesystem::path(r.config->smpp.tls->cert_file), dir / "tls.crt");
  EXPECT_EQ(std::filesystem::path(r.config->smpp.tls->key_file), dir / "tls.key");
  std::filesystem::remove_all(dir);
}

TEST(ConfigTls, ReportsATlsFileThatCannotBeReadAndSaysWhich) {
  ExampleSecrets::set();
  LoadResult r = load_config_string(
      minimal("  tls_listen: 0.0.0.0:3550\n  tls: { cert_file: /nonexistent/tls.crt, key_file: /nonexistent/tls.key }\n"),
      "t.yaml");
  ASSERT_EQ(r.error_count(), 2u);
  EXPECT_EQ(format(r.diagnostics[0]),
            "t.yaml:5:21: smpp.tls.cert_file: cannot read '/nonexistent/tls.crt': No such file or directory");
  EXPECT_EQ(r.diagnostics[1].column, 53);
  EXPECT_NE(r.diagnostics[1].message.find("smpp.tls.key_file"), std::string::npos);
}

TEST(ConfigTls, WarnsWhenACarrierDoesNotVerifyCertificates) {
  ExampleSecrets::set();
  std::string text = minimal();
  text.replace(text.find("tls: true"), 9, "tls: { verify: false }");
  LoadResult r = load_config_string(text, "t.yaml");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r.diagnostics.size(), 1u);
  EXPECT_EQ(format(r.diagnostics[0]), "t.yaml:15:20: warning: carriers[0].tls: certificate verification is off");
}

// Every map key, less the prefixes of policy.timezones (values, not keys).
void collect_keys(const YAML::Node& n, std::set<std::string>& keys) {
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      keys.insert(it->first.Scalar());
      if (it->first.Scalar() != "timezones") collect_keys(it->second, keys);
    }
  } else if (n.IsSequence()) {
    for (std::size_t i = 0; i < n.size(); ++i) collect_keys(n[i], keys);
  }
}

TEST(ConfigDocs, DocumentsEveryKeyTheGatewayReads) {
  ExampleSecrets::set();
  auto dir = scratch_dir();
  write(dir / "ca.pem", "-----BEGIN CERTIFICATE-----\n");
  write(dir / "a.secret", "x\n");
  Config c = load_example();
  c.smpp.tls_listen = HostPort{"::", 3550};
  c.smpp.tls = ServerTls{(dir / "ca.pem").string(), (dir / "ca.pem").string()};
  c.carriers[1].tls->ca_file = (dir / "ca.pem").string();
  c.accounts[1].password = {Secret::Source::file, (dir / "a.secret").string(), "x"};
  c.carriers[1].password = {Secret::Source::plain, "", "x"};
  std::set<std::string> keys;
  collect_keys(YAML::Load(redacted_yaml(c)), keys);
  for (const char* later : {"tickets", "admin"}) keys.insert(later);
  EXPECT_GE(keys.size(), 75u);
  for (const char* policy_key : {"policy", "opt_out", "audit_retention", "frequency_caps", "quiet_hours", "max_defer",
                                 "timezones", "statuses", "frequency_cap", "poll_interval", "history", "ttl"}) {
    EXPECT_TRUE(keys.contains(policy_key)) << policy_key;
  }
  // The keys of a Request Tracker sink and a file sink, which the example only shows in comments.
  for (const char* tickets_key : {"file", "request_tracker", "url", "queue", "token_env", "token_file", "secret_file",
                                  "custom_fields"}) {
    keys.insert(tickets_key);
  }
  for (const char* replies_key : {"keywords", "exact", "leading", "phrases", "patterns", "severity", "complaint_ack",
                                  "complaint_rate", "suspend_per_1000", "webhook", "secret_env", "due", "resolution"}) {
    EXPECT_TRUE(keys.contains(replies_key)) << replies_key;
  }
  const std::string docs = testing::read_text(source_path("docs/configuration.md"));
  for (const std::string& key : keys) {
    bool documented = docs.find("`" + key + "`") != std::string::npos || docs.find("\n## " + key + "\n") != std::string::npos;
    EXPECT_TRUE(documented) << key;
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace smsgate::config
