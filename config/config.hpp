// smsgate's configuration: one YAML file read into typed, validated structs.
//
// This library knows the file's shape and each value's rules (ranges,
// formats, references between sections); it knows nothing about how the
// values are used. Standard library and yaml-cpp only, but for the policy
// and replies sections' checks (config/policy_values.cpp: smsgate_policy,
// libphonenumber's regions, the tz database's zone names, the reply
// classifier's words and RE2 patterns), the tickets URLs (config/url.cpp:
// Boost.URL) and the answers' SMS parts (smpp/text.hpp); none of them shows
// in this interface.
//
//   auto r = smsgate::config::load_config_file("/etc/smsgate/smsgate.yaml");
//   for (const auto& d : r.diagnostics) std::cerr << format(d) << '\n';
//   if (!r.ok()) return 1;
//   const Config& cfg = *r.config;
//
// Every problem in the file is reported, each with its line and column;
// warnings never stop a load. Secrets (password_env, password_file; the
// tickets' secret_env/secret_file and token_env/token_file) are read while
// loading; their values never appear in a diagnostic or in redacted_yaml().
// Every key, its type and default: docs/configuration.md.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/values.hpp"
#include "policy/rules.hpp"

namespace smsgate::config {

// ------------------------------------------------------------------ enums

enum class Traffic : uint8_t { marketing, transactional };
enum class OnRedisError : uint8_t { reject, allow };  // fail closed | fail open
// How a carrier writes message ids: as hex or decimal numbers (compared by
// value), or as text (compared case-insensitively).
enum class IdFormat : uint8_t { hex, decimal, string };
// What data_coding 0 means to a carrier.
enum class Alphabet : uint8_t { gsm7, ascii, latin1 };
enum class LogFormat : uint8_t { text, json };
enum class LogLevel : uint8_t { trace, debug, info, warn, error };
enum class QuietAction : uint8_t { defer, reject };
enum class TicketSink : uint8_t { none, file, webhook, request_tracker };
// Whether transactional accounts are held to opt-outs.
enum class TransactionalOptOut : uint8_t { enforce, skip };

// The words the file uses for each enum, in the order documented.
template <class E>
struct Names;
template <>
struct Names<Traffic> {
  static constexpr std::pair<std::string_view, Traffic> list[] = {
      {"marketing", Traffic::marketing}, {"transactional", Traffic::transactional}};
};
template <>
struct Names<OnRedisError> {
  static constexpr std::pair<std::string_view, OnRedisError> list[] = {
      {"reject", OnRedisError::reject}, {"allow", OnRedisError::allow}};
};
template <>
struct Names<IdFormat> {
  static constexpr std::pair<std::string_view, IdFormat> list[] = {
      {"hex", IdFormat::hex}, {"decimal", IdFormat::decimal}, {"string", IdFormat::string}};
};
template <>
struct Names<Alphabet> {
  static constexpr std::pair<std::string_view, Alphabet> list[] = {
      {"gsm7", Alphabet::gsm7}, {"ascii", Alphabet::ascii}, {"latin1", Alphabet::latin1}};
};
template <>
struct Names<policy::OptOutScope> {
  static constexpr std::pair<std::string_view, policy::OptOutScope> list[] = {
      {"global", policy::OptOutScope::global},
      {"account", policy::OptOutScope::account},
      {"source", policy::OptOutScope::source}};
};
template <>
struct Names<policy::CapScope> {
  static constexpr std::pair<std::string_view, policy::CapScope> list[] = {
      {"recipient", policy::CapScope::recipient},
      {"recipient+account", policy::CapScope::recipient_account},
      {"recipient+source", policy::CapScope::recipient_source}};
};
template <>
struct Names<QuietAction> {
  static constexpr std::pair<std::string_view, QuietAction> list[] = {
      {"defer", QuietAction::defer}, {"reject", QuietAction::reject}};
};
template <>
struct Names<TransactionalOptOut> {
  static constexpr std::pair<std::string_view, TransactionalOptOut> list[] = {
      {"enforce", TransactionalOptOut::enforce}, {"skip", TransactionalOptOut::skip}};
};
template <>
struct Names<LogFormat> {
  static constexpr std::pair<std::string_view, LogFormat> list[] = {
      {"text", LogFormat::text}, {"json", LogFormat::json}};
};
template <>
struct Names<LogLevel> {
  static constexpr std::pair<std::string_view, LogLevel> list[] = {
      {"trace", LogLevel::trace}, {"debug", LogLevel::debug}, {"info", LogLevel::info},
      {"warn", LogLevel::warn},   {"error", LogLevel::error}};
};

// "marketing", "gsm7", ...
template <class E>
constexpr std::string_view to_string(E e)
  requires requires { Names<E>::list; }
{
  for (const auto& [name, value] : Names<E>::list) {
    if (value == e) return name;
  }
  return "?";
}

// ------------------------------------------------------------------ secrets

// A password given as password_env, password_file or (tests only, with a
// warning) password. `value` is filled in by the loader; never log it.
struct Secret {
  enum class Source : uint8_t { none, env, file, plain };
  Source source = Source::none;
  std::string reference;  // the variable's name or the file's path; empty for plain
  std::string value;

  bool given() const { return source != Source::none; }
  bool operator==(const Secret&) const = default;
};

// ------------------------------------------------------------------ sections

// Session settings for every SMPP session the gateway serves.
struct SessionTuning {
  uint32_t window = 64;
  Duration response_timeout{10'000};
  Duration late_response_window{60'000};   // carrier binds: a submit_sm_resp after the timeout still counts; 0: off
  Duration enquire_link_interval{30'000};  // 0: no keepalive
  Duration bind_timeout{10'000};           // 0: no limit
  Duration inactivity_timeout{0};          // 0: off
  uint32_t max_pdu = 65536;                // bytes, command_length included
  bool operator==(const SessionTuning&) const = default;
};

struct ServerTls {
  std::string cert_file;  // PEM; relative paths are resolved against the config file's folder
  std::string key_file;
  bool operator==(const ServerTls&) const = default;
};

struct Smpp {
  HostPort listen;
  std::optional<HostPort> tls_listen;
  std::optional<ServerTls> tls;  // set whenever tls_listen is
  SessionTuning session;         // written flat in the smpp: map
  bool operator==(const Smpp&) const = default;
};

struct Redis {
  RedisAddress address;
  OnRedisError on_error = OnRedisError::reject;
  Secret password;  // optional: source none when not given
  Duration timeout{2'000};
  bool operator==(const Redis&) const = default;
};

// A platform that binds to the gateway.
struct Account {
  std::string system_id;  // 1-15 printable ASCII characters, unique
  Secret password;
  Traffic traffic = Traffic::marketing;
  uint32_t max_binds = 1;
  uint32_t max_tps = 0;            // required; over it: ESME_RTHROTTLED
  std::vector<Cidr> allowed_cidrs; // at least one; host bits already cleared
  std::string default_region;      // ISO 3166 alpha-2, or empty: only international numbers
  bool operator==(const Account&) const = default;
};

struct CarrierTls {
  std::string ca_file;      // empty: the system's trust store
  bool verify = true;
  std::string server_name;  // empty: the address's host
  bool operator==(const CarrierTls&) const = default;
};

// An SMSC the gateway binds to.
struct Carrier {
  std::string name;  // unique
  HostPort address;
  std::optional<CarrierTls> tls;  // nullopt: plain TCP
  std::string system_id;
  Secret password;
  std::string system_type;
  uint32_t binds = 1;
  uint32_t window = 64;
  uint32_t max_tps = 0;  // required
  IdFormat id_format = IdFormat::string;       // ids in submit_sm_resp
  std::optional<IdFormat> receipt_id_format;  // ids in receipts; nullopt: id_format
  Alphabet default_alphabet = Alphabet::gsm7;
  uint32_t throttle_retries = 3;
  bool operator==(const Carrier&) const = default;

  IdFormat receipt_ids() const { return receipt_id_format.value_or(id_format); }
};

// The longest prefix of the E.164 destination (digits, no '+') wins.
struct Route {
  std::string prefix;                 // digits; "" is the default route
  std::vector<std::string> carriers;  // names of Config::carriers, first healthy wins
  bool operator==(const Route&) const = default;
};

struct Receipts {
  Duration id_map_ttl{72LL * 3600 * 1000};
  Duration unknown_id_retry{2'000};
  bool operator==(const Receipts&) const = default;
};

// Words added to the classifier's built-in ones for one outcome
// (docs/replies.md): whole-reply keywords, leading keywords, phrases
// anywhere, RE2 patterns (checked when the file loads).
struct ReplyWords {
  std::vector<std::string> exact;
  std::vector<std::string> leading;
  std::vector<std::string> phrases;
  std::vector<std::string> patterns;
  bool operator==(const ReplyWords&) const = default;
};

struct ComplaintRate {
  Duration window{24LL * 3600 * 1000};
  double warn_per_1000 = 1.0;      // complaints per 1,000 messages delivered: logged and counted
  double suspend_per_1000 = 3.0;   // the account's marketing submits are refused until ops resume it
  uint32_t suspend_status = 0x404;
  uint32_t min_delivered = 1000;   // no verdict on fewer messages than this in the window
  bool operator==(const ComplaintRate&) const = default;
};

struct Replies {
  std::string default_account;  // system_id of an account, or empty
  // keywords: { opt_out: {exact, leading, phrases, patterns}, opt_in, help, complaint }
  ReplyWords opt_out, opt_in, help, complaint;
  bool default_keywords = true;          // keywords.defaults: false uses only the words above
  uint32_t frequent_threshold_24h = 5;   // more messages than this in 24 h: a complaint is "harassment"
  std::vector<std::pair<std::string, std::string>> severity;  // category -> urgent | high | normal
  // The answers smsgate sends (transactional, from the address replied to);
  // empty: none is sent. {ticket} is replaced by the ticket's reference.
  std::string opt_out_confirmation;
  std::string opt_in_confirmation;
  std::string help_text;
  std::string complaint_ack;
  Duration confirmation_interval{24LL * 3600 * 1000};  // one confirmation per number and kind within this
  ComplaintRate complaint_rate;
  Duration reassembly_timeout{60'000};  // a long reply not complete by then is classified as it stands
  bool operator==(const Replies&) const = default;
};


struct RequestTracker {
  std::string url;          // base URL, e.g. https://rt.example.com (REST2 under /REST/2.0/)
  std::string queue;
  Secret token;             // token_env / token_file: "Authorization: token <value>"
  std::vector<std::pair<std::string, std::string>> custom_fields;  // RT custom field -> ticket field name
  bool operator==(const RequestTracker&) const = default;
};

struct TicketDue {
  Duration first_response;
  Duration resolution;
  bool operator==(const TicketDue&) const = default;
};

struct Tickets {
  TicketSink sink = TicketSink::none;  // none: tickets go to the file sink at tickets.jsonl beside the config
  std::string file;                    // sink file: JSON lines, appended
  std::string webhook;                 // sink webhook: http:// or https:// URL
  Secret secret;                       // secret_env / secret_file: the Standard Webhooks signing key
  RequestTracker request_tracker;
  Duration timeout{10'000};            // one delivery attempt
  Duration retry_for{72LL * 3600 * 1000};  // then the ticket goes to the dead-letter stream
  TicketDue urgent{Duration{4LL * 3600 * 1000}, Duration{24LL * 3600 * 1000}};
  TicketDue high{Duration{24LL * 3600 * 1000}, Duration{48LL * 3600 * 1000}};
  TicketDue normal{Duration{24LL * 3600 * 1000}, Duration{48LL * 3600 * 1000}};
  bool operator==(const Tickets&) const = default;
};

// ------------------------------------------------------------------ policy
// The file's policy: section (docs/configuration.md, "policy"). Values are
// checked here (windows, days, dates, regions, zone names); the gateway
// turns them into policy:: rules.


struct QuietHours {
  std::string name;                      // unique, [A-Za-z0-9_.-]
  std::vector<std::string> regions{"*"}; // ISO 3166 alpha-2 as libphonenumber knows them (upper case), or "*"
  std::string allow = "08:00-21:00";     // "HH:MM[:SS]-HH:MM[:SS]", local time
  std::vector<std::string> days{"mon", "tue", "wed", "thu", "fri", "sat", "sun"};  // lower-case three-letter names
  std::vector<std::string> holidays;     // "YYYY-MM-DD", local dates with nothing allowed
  QuietAction action = QuietAction::defer;
  Duration max_defer{24LL * 3600 * 1000};
  bool operator==(const QuietHours&) const = default;
};

struct PolicyStatuses {
  uint32_t opted_out = 0x401;
  uint32_t frequency_cap = 0x402;
  uint32_t quiet_hours = 0x403;
  bool operator==(const PolicyStatuses&) const = default;
};

struct Defer {
  Duration ramp{30LL * 60 * 1000};  // releases spread over this long after a window opens; 0: all at once
  Duration poll_interval{1'000};    // how often each node's scheduler looks for due messages
  uint32_t batch = 200;             // messages taken per look
  Duration lease{60'000};           // a taken message not finished by then is released again
  bool operator==(const Defer&) const = default;
};

struct History {
  uint32_t keep = 20;                        // last N messages per recipient; 0: none
  Duration ttl{90LL * 24 * 3600 * 1000};
  bool text = false;                         // keep the text itself, not only its hash
  bool operator==(const History&) const = default;
};

struct Policy {
  bool enabled = false;  // the section is present; without it nothing is checked
  policy::OptOutScope opt_out_scope = policy::OptOutScope::global;
  TransactionalOptOut transactional_opt_out = TransactionalOptOut::enforce;
  Duration audit_retention{180LL * 24 * 3600 * 1000};  // at least 180d
  std::vector<policy::CapRule> frequency_caps;
  std::vector<QuietHours> quiet_hours;
  std::vector<std::pair<std::string, std::string>> timezones;  // E.164 prefix digits -> IANA zone, file order
  PolicyStatuses statuses;
  Defer defer;
  History history;
  bool operator==(const Policy&) const = default;
};

// The admin HTTP server (docs/admin.md): runs when the section is present.
struct Admin {
  HostPort listen{"127.0.0.1", 8075};
  std::string token_env = "SMSGATE_ADMIN_TOKEN";  // the bearer token's variable; unset or empty: /api/* answers 503
  uint32_t max_body = 1 << 20;                    // bytes of a request body (a CSV import may stream more)
  bool operator==(const Admin&) const = default;
};

struct Log {
  LogFormat format = LogFormat::text;
  LogLevel level = LogLevel::info;
  bool operator==(const Log&) const = default;
};

struct Config {
  std::string node;  // [A-Za-z0-9_-], 1-16 characters
  Smpp smpp;
  Redis redis;
  std::vector<Account> accounts;
  std::vector<Carrier> carriers;
  std::vector<Route> routes;
  Receipts receipts;
  Replies replies;
  uint32_t no_route_status = 0x08;  // ESME_RSYSERR
  Policy policy;
  Tickets tickets;
  Log log;
  std::optional<Admin> admin;  // nullopt: no admin server
  bool operator==(const Config&) const = default;
};

// ------------------------------------------------------------------ loading

enum class Severity : uint8_t { error, warning };

struct Diagnostic {
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no place in the file (cannot read it)
  int column = 0;  // 1-based
  Severity severity = Severity::error;
  std::string message;
  bool operator==(const Diagnostic&) const = default;
};

// "FILE:LINE:COLUMN: message", "FILE:LINE:COLUMN: warning: message";
// "FILE: message" when line is 0.
std::string format(const Diagnostic& d);

struct LoadResult {
  std::optional<Config> config;          // set exactly when there is no error
  std::vector<Diagnostic> diagnostics;   // errors and warnings, in file order
  bool ok() const { return config.has_value(); }
  std::size_t error_count() const;
};

struct LoadOptions {
  // Relative paths in the file (password_file, TLS files) are taken from
  // here; load_config_file uses the file's folder. Empty: the working directory.
  std::filesystem::path base_dir;
};

LoadResult load_config_file(const std::filesystem::path& path);
// `name` is what diagnostics call the file.
LoadResult load_config_string(std::string_view text, std::string name, const LoadOptions& options = {});

// `smsgate check-config FILE`: prints every diagnostic to `out`, one a line,
// then "FILE: OK ..." when there is no error. Returns the exit status: 0 or 1.
int check_config(const std::filesystem::path& path, std::ostream& out);

// The effective configuration (defaults filled in) as YAML, keys in the
// documented order. Secrets appear as their password_env name or
// password_file path (secret_env, token_file ...); a plain password as
// "<redacted>". Loading it again gives the same Config (unless it held a
// plain password).
std::string redacted_yaml(const Config& config);

}  // namespace smsgate::config
