// The file's shape: one Section per map, in the order docs/configuration.md
// documents them, then the checks that span sections (unique names,
// references), then the public entry points.
#include <cctype>
#include <charconv>
#include <map>
#include <ostream>
#include <set>
#include <sstream>
#include <system_error>

#include <yaml-cpp/eventhandler.h>

#include "config/config.hpp"
#include "config/policy_values.hpp"
#include "config/schema.hpp"
#include "config/url.hpp"
#include "smpp/text.hpp"

namespace smsgate::config {
namespace {

using namespace schema;

constexpr std::size_t kMaxFileSize = 16 << 20;
constexpr std::size_t kMaxSmppPassword = 8;  // SMPP 3.4: C-Octet String of at most 9 with the NUL

// ------------------------------------------------------------------ string rules

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}
bool is_printable(char c) { return c > ' ' && c < 0x7F; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// `min` to `max` characters, each `allowed`.
std::function<std::string(const std::string&)> chars(std::size_t min, std::size_t max, bool (*allowed)(char),
                                                      std::string description) {
  return [=](const std::string& s) -> std::string {
    bool ok = s.size() >= min && s.size() <= max && std::all_of(s.begin(), s.end(), allowed);
    return ok ? "" : "'" + s + "' is not " + description;
  };
}

Codec<std::string> smpp_id(std::size_t min, std::size_t max) {
  return text("a string", chars(min, max, is_printable,
                                "an SMPP id (" + std::to_string(min) + " to " + std::to_string(max) +
                                    " printable ASCII characters, no spaces)"));
}

Codec<std::string> name() {
  return text("a name", chars(1, 32, is_name_char, "a name (1 to 32 letters, digits, '-' or '_')"));
}

// ------------------------------------------------------------------ lists

std::string item(std::string_view list, std::size_t i) { return std::string(list) + "[" + std::to_string(i) + "]"; }

// Every item's `key` that was read without error differs from the others'.
// Returns every name written, valid or not (a reference to an invalid one is
// reported where it is defined, not again where it is used).
template <class T, class Get>
std::map<std::string, std::size_t> require_unique(Ctx& ctx, const std::vector<T>& items, std::string_view list,
                                                  std::string_view key, Get get) {
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < items.size(); ++i) {
    std::string path = join(item(list, i), key);
    if (!ctx.ok(path)) {
      if (auto text = ctx.text_at(path)) seen.emplace(*text, i);
      continue;
    }
    const std::string& value = get(items[i]);
    auto [first, fresh] = seen.emplace(value, i);
    if (!fresh) {
      std::string first_path = item(list, first->second);
      ctx.error(ctx.mark_of(path), "duplicate " + std::string(key) + " '" + value + "' in " + item(list, i) +
                                       " (already in " + first_path + " at line " +
                                       std::to_string(ctx.mark_of(join(first_path, key)).line + 1) + ")");
    }
  }
  return seen;
}

// ------------------------------------------------------------------ smpp

std::vector<Field<SessionTuning>> session_fields() {
  return {
      field("window", &SessionTuning::window, integer(1, 65535)),
      field("response_timeout", &SessionTuning::response_timeout, duration(Duration{1})),
      field("late_response_window", &SessionTuning::late_response_window, duration()),
      field("enquire_link_interval", &SessionTuning::enquire_link_interval, duration()),
      field("bind_timeout", &SessionTuning::bind_timeout, duration()),
      field("inactivity_timeout", &SessionTuning::inactivity_timeout, duration()),
      field("max_pdu", &SessionTuning::max_pdu, integer(1024, 16 << 20)),
  };
}

const Section<ServerTls>& server_tls_section() {
  static const Section<ServerTls> s{{
      field("cert_file", &ServerTls::cert_file, readable_file(), Need::required),
      field("key_file", &ServerTls::key_file, readable_file(), Need::required),
  }};
  return s;
}

void check_smpp(Ctx& ctx, const Value& map, Smpp& smpp) {
  const std::string tls_listen = join(map.path, "tls_listen"), tls = join(map.path, "tls");
  if (smpp.tls_listen && !smpp.tls && ctx.ok(tls_listen)) {
    ctx.error(ctx.mark_of(tls_listen), tls_listen + ": needs " + tls + " with cert_file and key_file");
  }
  if (smpp.tls && !smpp.tls_listen && ctx.ok(tls)) {
    ctx.warning(ctx.mark_of(tls), tls + " is set but " + tls_listen + " is not: nothing listens with TLS");
  }
  if (smpp.tls_listen && *smpp.tls_listen == smpp.listen) {
    ctx.error(ctx.mark_of(tls_listen), tls_listen + ": the same address as " + join(map.path, "listen"));
  }
}

const Section<Smpp>& smpp_section() {
  static const Section<Smpp> s{
      std::vector{
          field("listen", &Smpp::listen, host_port(), Need::required),
          field("tls_listen", &Smpp::tls_listen, host_port()),
          field("tls", &Smpp::tls, map_of(server_tls_section())),
      } + flatten(&Smpp::session, session_fields()),
      check_smpp};
  return s;
}

// ------------------------------------------------------------------ redis

const Section<Redis>& redis_section() {
  static const Section<Redis> s{
      std::vector{
          field("address", &Redis::address, redis_address(), Need::required),
          field("on_error", &Redis::on_error, one_of<OnRedisError>()),
      } + secret_fields(&Redis::password) +
      std::vector{field("timeout", &Redis::timeout, duration(Duration{1}))}};
  return s;
}

// ------------------------------------------------------------------ accounts and carriers

// Accounts and carriers both need one password that fits in a bind PDU.
template <class S>
void check_smpp_password(Ctx& ctx, const Value& map, S& s) {
  const Secret& secret = s.password;
  require_secret(ctx, map, secret);
  std::string key = join(map.path, secret_key(secret.source));
  if (!secret.given() || !ctx.ok(key)) return;
  if (secret.value.size() > kMaxSmppPassword) {
    ctx.error(ctx.mark_of(key), key + ": the password is " + std::to_string(secret.value.size()) +
                                    " characters; SMPP 3.4 allows at most " + std::to_string(kMaxSmppPassword));
  } else if (secret.value.find('\0') != std::string::npos) {
    ctx.error(ctx.mark_of(key), key + ": the password contains a NUL byte");
  }
}

const Section<Account>& account_section() {
  static const Section<Account> s{
      std::vector{field("system_id", &Account::system_id, smpp_id(1, 15), Need::required)} +
          secret_fields(&Account::password) +
          std::vector{
              field("traffic", &Account::traffic, one_of<Traffic>(), Need::required),
              field("max_binds", &Account::max_binds, integer(1, 1000)),
              field("max_tps", &Account::max_tps, integer(1, 1'000'000), Need::required),
              field("allowed_cidrs", &Account::allowed_cidrs,
                    list_of(cidr(), "at least one CIDR is required (0.0.0.0/0 allows every IPv4 peer)"),
                    Need::required),
              field("default_region", &Account::default_region,
                    text("a region code",
                         [](const std::string& r) -> std::string {
                           return r.empty() || is_region_code(r)
                                      ? ""
                                      : "'" + r + "' is not an ISO 3166-1 alpha-2 region code (e.g. CN, GB, US)";
                         })),
          },
      check_smpp_password<Account>};
  return s;
}

const Section<CarrierTls>& carrier_tls_section() {
  static const Section<CarrierTls> s{
      {
          field("ca_file", &CarrierTls::ca_file, readable_file()),
          field("verify", &CarrierTls::verify, boolean()),
          field("server_name", &CarrierTls::server_name,
                text("a host name",
                     [](const std::string& h) { return is_host_name(h) ? "" : "'" + h + "' is not a host name"; })),
      },
      [](Ctx& ctx, const Value& map, CarrierTls& tls) {
        if (!tls.verify) ctx.warning(ctx.mark_of(join(map.path, "verify")), map.path + ": certificate verification is off");
      }};
  return s;
}

// `tls: false`, `tls: true` (defaults) or a map.
Codec<std::optional<CarrierTls>> carrier_tls() {
  Codec<CarrierTls> map = map_of(carrier_tls_section());
  return {[map](Ctx& ctx, const Value& v) -> std::optional<std::optional<CarrierTls>> {
            bool on = false;
            if (v.node.IsScalar() && YAML::convert<bool>::decode(v.node, on)) {
              return on ? std::optional(CarrierTls{}) : std::nullopt;
            }
            if (!v.node.IsMap()) {
              ctx.fail(v, "expected true, false or a map (ca_file, verify, server_name), got " + describe(v.node));
              return std::nullopt;
            }
            return map.read(ctx, v);
          },
          [map](YAML::Emitter& e, const std::optional<CarrierTls>& tls) {
            if (tls) {
              map.write(e, *tls);
            } else {
              e << false;
            }
          }};
}

const Section<Carrier>& carrier_section() {
  static const Section<Carrier> s{
      std::vector{
          field("name", &Carrier::name, name(), Need::required),
          field("address", &Carrier::address, host_port(), Need::required),
          field("tls", &Carrier::tls, carrier_tls()),
          field("system_id", &Carrier::system_id, smpp_id(1, 15), Need::required),
      } + secret_fields(&Carrier::password) +
          std::vector{
              field("system_type", &Carrier::system_type, smpp_id(0, 12)),
              field("binds", &Carrier::binds, integer(1, 64)),
              field("window", &Carrier::window, integer(1, 65535)),
              field("max_tps", &Carrier::max_tps, integer(1, 1'000'000), Need::required),
              field("id_format", &Carrier::id_format, one_of<IdFormat>()),
              field("receipt_id_format", &Carrier::receipt_id_format, one_of<IdFormat>()),
              field("default_alphabet", &Carrier::default_alphabet, one_of<Alphabet>()),
              field("throttle_retries", &Carrier::throttle_retries, integer(0, 100)),
          },
      check_smpp_password<Carrier>};
  return s;
}

// ------------------------------------------------------------------ routes and the rest

const Section<Route>& route_section() {
  static const Section<Route> s{{
      field("prefix", &Route::prefix,
            text("a string of digits",
                 chars(0, 15, is_digit, "a route prefix (0 to 15 digits, no '+'; \"\" is the default route)")),
            Need::required),
      field("carriers", &Route::carriers, list_of(name(), "a route needs at least one carrier"), Need::required),
  }};
  return s;
}

const Section<Receipts>& receipts_section() {
  static const Section<Receipts> s{{
      field("id_map_ttl", &Receipts::id_map_ttl, duration(Duration{1000})),
      field("unknown_id_retry", &Receipts::unknown_id_retry, duration()),
  }};
  return s;
}

const Section<Log>& log_section() {
  static const Section<Log> s{{
      field("format", &Log::format, one_of<LogFormat>()),
      field("level", &Log::level, one_of<LogLevel>()),
  }};
  return s;
}

// ------------------------------------------------------------------ admin

bool is_env_name_char(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '_'; }

void check_admin(Ctx& ctx, const Value& map, Admin& a) {
  const std::string listen = join(map.path, "listen");
  const std::string& host = a.listen.host;
  const bool loopback = host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
  if (!loopback && !ctx.failed(listen)) {
    ctx.warning(ctx.mark_of(listen), listen + ": " + a.listen.to_string() +
                                         " is reachable from other hosts; only the token protects the API "
                                         "(and /metrics has none)");
  }
}

const Section<Admin>& admin_section() {
  static const Section<Admin> s{
      {
          field("listen", &Admin::listen, host_port()),
          field("token_env", &Admin::token_env,
                text("a variable name", [](const std::string& v) -> std::string {
                  const bool ok = !v.empty() && !is_digit(v[0]) && std::all_of(v.begin(), v.end(), is_env_name_char);
                  return ok ? "" : "'" + v + "' is not an environment variable name (letters, digits, '_')";
                })),
          field("max_body", &Admin::max_body, integer(1024, 64u << 20)),
      },
      check_admin};
  return s;
}

// ------------------------------------------------------------------ policy

constexpr uint32_t kVendorStatusFirst = 0x400, kVendorStatusLast = 0x4FF;

bool is_rule_name_char(char c) { return is_name_char(c) || c == '.'; }

// Cap and quiet-hours rule names; a cap's is part of its Redis key.
Codec<std::string> rule_name() {
  return text("a name", chars(1, 32, is_rule_name_char, "a rule name (1 to 32 letters, digits, '-', '_' or '.')"));
}

// Each item of the list at `list` read without error differs from the
// earlier ones (`values` as stored; the message quotes the text written).
void require_distinct(Ctx& ctx, const std::vector<std::string>& values, const std::string& list, std::string_view what) {
  std::map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < values.size(); ++i) {
    std::string path = item(list, i);
    if (!ctx.ok(path)) continue;
    auto [first, fresh] = seen.emplace(values[i], i);
    if (!fresh) {
      std::string short_list = list.substr(list.rfind('.') + 1);
      ctx.error(ctx.mark_of(path), path + ": duplicate " + std::string(what) + " '" +
                                       ctx.text_at(path).value_or(values[i]) + "' (already in " +
                                       item(short_list, first->second) + ")");
    }
  }
}

const Section<Policy>& opt_out_section() {
  static const Section<Policy> s{{
      field("scope", &Policy::opt_out_scope, one_of<policy::OptOutScope>()),
      field("transactional", &Policy::transactional_opt_out, one_of<TransactionalOptOut>()),
      field("audit_retention", &Policy::audit_retention,
            duration(Duration{180LL * 24 * 3600 * 1000}, Duration{3650LL * 24 * 3600 * 1000})),
  }};
  return s;
}

const Section<policy::CapRule>& cap_section() {
  static const Section<policy::CapRule> s{{
      field("name", &policy::CapRule::name, rule_name(), Need::required),
      field("per", &policy::CapRule::per, one_of<policy::CapScope>()),
      field("limit", &policy::CapRule::limit, integer(1, 1'000'000), Need::required),
      field("window", &policy::CapRule::window, duration(Duration{1}), Need::required),
  }};
  return s;
}

Codec<std::string> region_or_any() {
  return text("a region code", [](const std::string& r) -> std::string {
    if (r == "*" || policy_values::is_phone_region(r)) return "";
    std::string upper = r;
    std::transform(upper.begin(), upper.end(), upper.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (upper != r && policy_values::is_phone_region(upper)) {
      return "'" + r + "' is not a region code; write '" + upper + "'";
    }
    return "'" + r +
           "' is not a region libphonenumber knows (ISO 3166-1 alpha-2 such as CN, GB, US; \"*\" for every region)";
  });
}

Codec<std::string> weekday() {
  return from_text<std::string>(
      "a day of the week (mon, tue, wed, thu, fri, sat, sun)",
      [](std::string_view text) {
        auto day = policy_values::weekday(text);
        return day ? Parsed<std::string>(*day)
                   : Parsed<std::string>::fail("'" + std::string(text) +
                                               "' is not a day of the week (mon, tue, wed, thu, fri, sat, sun)");
      },
      [](const std::string& day) { return day; });
}

void check_quiet_hours(Ctx& ctx, const Value& map, QuietHours& q) {
  const std::string regions = join(map.path, "regions");
  require_distinct(ctx, q.regions, regions, "region");
  if (q.regions.size() > 1) {
    for (std::size_t i = 0; i < q.regions.size(); ++i) {
      std::string path = item(regions, i);
      if (ctx.ok(path) && q.regions[i] == "*") {
        ctx.warning(ctx.mark_of(path), path + ": \"*\" already matches every region; the others add nothing");
      }
    }
  }
  require_distinct(ctx, q.days, join(map.path, "days"), "day");
  require_distinct(ctx, q.holidays, join(map.path, "holidays"), "holiday");
}

const Section<QuietHours>& quiet_hours_section() {
  static const Section<QuietHours> s{
      {
          field("name", &QuietHours::name, rule_name(), Need::required),
          field("regions", &QuietHours::regions,
                list_of(region_or_any(), "at least one region is required (\"*\" for every region)")),
          field("allow", &QuietHours::allow,
                text("a time window such as 08:00-21:00",
                     [](const std::string& w) -> std::string {
                       return policy_values::is_window(w)
                                  ? ""
                                  : "'" + w +
                                        "' is not a time window (HH:MM-HH:MM or HH:MM:SS-HH:MM:SS, local time, "
                                        "00:00 to 24:00, e.g. 08:00-21:00)";
                     })),
          field("days", &QuietHours::days, list_of(weekday(), "at least one day is required")),
          field("holidays", &QuietHours::holidays,
                list_of(text("a date such as 2026-12-25",
                             [](const std::string& d) -> std::string {
                               return policy_values::is_date(d) ? "" : "'" + d + "' is not a date (YYYY-MM-DD)";
                             }))),
          field("action", &QuietHours::action, one_of<QuietAction>()),
          field("max_defer", &QuietHours::max_defer, duration(Duration{1000})),
      },
      check_quiet_hours};
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// A zone name spelled the same but for case, or a near one; or "".
std::string nearest_zone(const std::string& name) {
  const std::vector<std::string>& zones = policy_values::zone_names();
  for (const std::string& zone : zones) {
    if (lower(zone) == lower(name)) return zone;
  }
  return nearest(name, std::vector<std::string_view>(zones.begin(), zones.end()));
}

// "E.164 prefix: IANA zone" pairs, in file order.
Codec<std::vector<std::pair<std::string, std::string>>> zone_overrides() {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  return {[](Ctx& ctx, const Value& v) -> std::optional<Pairs> {
            if (!v.node.IsMap()) {
              ctx.fail(v, "expected a map of E.164 prefix to time zone (\"86\": Asia/Shanghai), got " + describe(v.node));
              return std::nullopt;
            }
            Pairs out;
            for (const Entry& e : entries_of(ctx, v)) {
              bool prefix_ok = !e.key.empty() && e.key.size() <= 15 && std::all_of(e.key.begin(), e.key.end(), is_digit);
              if (!prefix_ok) {
                ctx.error(e.key_node.Mark(), v.path + ": '" + e.key +
                                                 "' is not an E.164 prefix (1 to 15 digits, country code first, no '+')");
              }
              YAML::Mark at = e.value.IsNull() || e.value.Mark().line < 0 ? e.key_node.Mark() : e.value.Mark();
              Value child{e.value, at, e.key_node.Mark(), join(v.path, e.key)};
              ctx.remember(child);
              auto zone = scalar(ctx, child, "an IANA time zone name such as Asia/Shanghai");
              if (!zone) continue;
              if (policy_values::zone_problem(*zone)) {
                std::string guess = nearest_zone(*zone);
                ctx.fail(child, "unknown time zone '" + *zone + "' (an IANA name such as Asia/Shanghai" +
                                    (guess.empty() ? ")" : "; did you mean '" + guess + "'?)"));
                continue;
              }
              if (prefix_ok) out.emplace_back(e.key, *zone);
            }
            return out;
          },
          [](YAML::Emitter& e, const Pairs& pairs) {
            e << YAML::BeginMap;
            for (const auto& [prefix, zone] : pairs) e << YAML::Key << YAML::DoubleQuoted << prefix << YAML::Value << zone;
            e << YAML::EndMap;
          }};
}

// A status the gateway answers with; outside the vendor-specific range is
// allowed, with a warning.
Codec<uint32_t> policy_status() {
  Codec<uint32_t> c = status();
  c.read = [read = c.read](Ctx& ctx, const Value& v) -> std::optional<uint32_t> {
    auto st = read(ctx, v);
    if (st && (*st < kVendorStatusFirst || *st > kVendorStatusLast)) {
      ctx.warning(v.mark, v.path + ": " + format_status(*st) + " is outside the vendor-specific range " +
                              format_status(kVendorStatusFirst) + "-" + format_status(kVendorStatusLast) +
                              "; platforms may take it for a standard SMPP error");
    }
    return st;
  };
  return c;
}

const Section<PolicyStatuses>& statuses_section() {
  static const Section<PolicyStatuses> s{{
      field("opted_out", &PolicyStatuses::opted_out, policy_status()),
      field("frequency_cap", &PolicyStatuses::frequency_cap, policy_status()),
      field("quiet_hours", &PolicyStatuses::quiet_hours, policy_status()),
  }};
  return s;
}

const Section<Defer>& defer_section() {
  static const Section<Defer> s{{
      field("ramp", &Defer::ramp, duration()),
      field("poll_interval", &Defer::poll_interval, duration(Duration{10}, Duration{60'000})),
      field("batch", &Defer::batch, integer(1, 10'000)),
      field("lease", &Defer::lease, duration(Duration{1000})),
  }};
  return s;
}

const Section<History>& history_section() {
  static const Section<History> s{{
      field("keep", &History::keep, integer(0, 1000)),
      field("ttl", &History::ttl, duration(Duration{1})),
      field("text", &History::text, boolean()),
  }};
  return s;
}

void check_policy(Ctx& ctx, const Value& map, Policy& p) {
  require_unique(ctx, p.frequency_caps, join(map.path, "frequency_caps"), "name",
                 [](const policy::CapRule& c) -> const std::string& { return c.name; });
  require_unique(ctx, p.quiet_hours, join(map.path, "quiet_hours"), "name",
                 [](const QuietHours& q) -> const std::string& { return q.name; });
}

const Section<Policy>& policy_section() {
  static const Section<Policy> s{
      {
          nested("opt_out", opt_out_section()),
          field("frequency_caps", &Policy::frequency_caps, list_of(map_of(cap_section()))),
          field("quiet_hours", &Policy::quiet_hours, list_of(map_of(quiet_hours_section()))),
          field("timezones", &Policy::timezones, zone_overrides()),
          field("statuses", &Policy::statuses, map_of(statuses_section())),
          field("defer", &Policy::defer, map_of(defer_section())),
          field("history", &Policy::history, map_of(history_section())),
      },
      check_policy};
  return s;
}

// The section's presence turns the policy on (even `policy: {}`); it is
// written back only when on.
Field<Config> policy_field() {
  Codec<Policy> codec = map_of(policy_section());
  codec.read = [read = codec.read](Ctx& ctx, const Value& v) -> std::optional<Policy> {
    auto p = read(ctx, v);
    if (p) p->enabled = true;
    return p;
  };
  Field<Config> f = field("policy", &Config::policy, codec);
  f.write = [write = f.write](YAML::Emitter& e, const Config& c) {
    if (c.policy.enabled) write(e, c);
  };
  return f;
}

// ------------------------------------------------------------------ replies
// (after policy, whose policy_status() complaint_rate.suspend_status shares)

using Pairs = std::vector<std::pair<std::string, std::string>>;

std::string joined(const std::vector<std::string>& words, std::string_view separator) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : std::string(separator)) + w;
  return out;
}

Codec<std::string> keyword() {
  return text("a keyword", [](const std::string& w) { return policy_values::keyword_problem(w).value_or(""); });
}

// Whether an RE2 pattern has an upper-case ASCII letter that stands for
// itself and no (?i) flag: it can never match the case-folded reply.
// Escapes (\S, \pL, \p{Lu}, \x{41}, \Q...\E) and group names are skipped.
bool has_upper_case_literal(std::string_view p) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      char e = p[++i];
      if (e == 'Q') {
        std::size_t end = p.find("\\E", i + 1);
        for (std::size_t j = i + 1; j < std::min(end, p.size()); ++j) {
          if (p[j] >= 'A' && p[j] <= 'Z') return true;
        }
        if (end == std::string_view::npos) return false;
        i = end + 1;
      } else if ((e == 'p' || e == 'P' || e == 'x') && i + 1 < p.size()) {
        if (p[i + 1] == '{') {
          std::size_t end = p.find('}', i + 1);
          if (end == std::string_view::npos) return false;
          i = end;
        } else if (e != 'x') {
          ++i;  // \pL: one letter
        }
      }
    } else if (c == '(' && p.substr(i).starts_with("(?")) {
      std::size_t j = i + 2;
      if (p.substr(j).starts_with("P<") || p.substr(j).starts_with("<")) {
        std::size_t end = p.find('>', j);
        if (end == std::string_view::npos) return false;
        i = end;
        continue;
      }
      for (; j < p.size() && p[j] != ':' && p[j] != ')' && p[j] != '-'; ++j) {
        if (p[j] == 'i') return false;
      }
      i = j - 1;
    } else if (c >= 'A' && c <= 'Z') {
      return true;
    }
  }
  return false;
}

Codec<std::string> reply_pattern() {
  Codec<std::string> c = text("an RE2 pattern", [](const std::string& p) {
    return policy_values::pattern_problem(p).value_or("");
  });
  c.read = [read = c.read](Ctx& ctx, const Value& v) -> std::optional<std::string> {
    auto p = read(ctx, v);
    if (p && has_upper_case_literal(*p)) {
      ctx.warning(v.mark, v.path + ": '" + *p +
                              "' has upper-case letters, but patterns see the reply case-folded; write it in lower "
                              "case or start it with (?i)");
    }
    return p;
  };
  return c;
}

// A list field of ReplyWords, written only when it has words.
Field<ReplyWords> words_field(std::string key, std::vector<std::string> ReplyWords::*member,
                              Codec<std::vector<std::string>> list) {
  return write_unless(field(std::move(key), member, std::move(list)),
                      std::function<bool(const ReplyWords&)>(
                          [member](const ReplyWords& w) { return (w.*member).empty(); }));
}

// Patterns in one outcome's list: each is an RE2 program of up to
// policy::kPatternMaxMem, matched against every reply. A longer list is
// refused before any of it is compiled.
constexpr std::size_t kMaxReplyPatterns = 100;

Codec<std::vector<std::string>> reply_patterns() {
  Codec<std::vector<std::string>> c = list_of(reply_pattern());
  c.read = [read = c.read](Ctx& ctx, const Value& v) -> std::optional<std::vector<std::string>> {
    if (v.node.IsSequence() && v.node.size() > kMaxReplyPatterns) {
      ctx.fail(v, std::to_string(v.node.size()) + " patterns; at most " + std::to_string(kMaxReplyPatterns) +
                      " (join alternatives with |)");
      return std::nullopt;
    }
    return read(ctx, v);
  };
  return c;
}

const Section<ReplyWords>& reply_words_section() {
  static const Section<ReplyWords> s{{
      words_field("exact", &ReplyWords::exact, list_of(keyword())),
      words_field("leading", &ReplyWords::leading, list_of(keyword())),
      words_field("phrases", &ReplyWords::phrases, list_of(keyword())),
      words_field("patterns", &ReplyWords::patterns, reply_patterns()),
  }};
  return s;
}

// The words of one outcome, written only when there are some.
Field<Replies> words_of(std::string key, ReplyWords Replies::*member) {
  return write_unless(field(std::move(key), member, map_of(reply_words_section())),
                      std::function<bool(const Replies&)>(
                          [member](const Replies& r) { return r.*member == ReplyWords{}; }));
}

const Section<Replies>& keywords_section() {
  static const Section<Replies> s{{
      field("defaults", &Replies::default_keywords, boolean()),
      words_of("opt_out", &Replies::opt_out),
      words_of("opt_in", &Replies::opt_in),
      words_of("help", &Replies::help),
      words_of("complaint", &Replies::complaint),
  }};
  return s;
}

// Complaint category -> urgent | high | normal, in file order; categories
// stored by their English names.
Codec<Pairs> severities() {
  return {[](Ctx& ctx, const Value& v) -> std::optional<Pairs> {
            if (!v.node.IsMap()) {
              ctx.fail(v, "expected a map of complaint category to severity (regulator_report: urgent), got " +
                              describe(v.node));
              return std::nullopt;
            }
            Pairs out;
            std::map<std::string, std::string> given;  // category -> the name it was given as
            for (const Entry& e : entries_of(ctx, v)) {
              auto category = policy_values::complaint_category(e.key);
              if (!category) {
                ctx.error(e.key_node.Mark(), v.path + ": '" + e.key + "' is not a complaint category (" +
                                                 joined(policy_values::complaint_categories(), ", ") + ")");
              } else if (auto [first, fresh] = given.emplace(*category, e.key); !fresh) {
                ctx.error(e.key_node.Mark(), v.path + ": '" + e.key + "' is " + *category + ", already given as '" +
                                                 first->second + "'");
                category.reset();
              }
              YAML::Mark at = e.value.IsNull() || e.value.Mark().line < 0 ? e.key_node.Mark() : e.value.Mark();
              Value child{e.value, at, e.key_node.Mark(), join(v.path, e.key)};
              ctx.remember(child);
              auto severity = scalar(ctx, child, "one of urgent | high | normal");
              if (!severity) continue;
              if (!policy_values::is_severity(*severity)) {
                ctx.fail(child, "expected one of urgent | high | normal, got " + describe(e.value));
                continue;
              }
              if (category) out.emplace_back(*category, *severity);
            }
            return out;
          },
          [](YAML::Emitter& e, const Pairs& pairs) {
            e << YAML::BeginMap;
            for (const auto& [category, severity] : pairs) e << YAML::Key << category << YAML::Value << severity;
            e << YAML::EndMap;
          }};
}

// Complaints per 1,000 delivered messages: digits with an optional decimal
// part, 0 to 1000.
Parsed<double> parse_per_1000(std::string_view text) {
  auto fail = [&] {
    return Parsed<double>::fail("'" + std::string(text) + "' is not a number from 0 to 1000 (such as 0.5 or 3)");
  };
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t from = i;
    while (i < text.size() && is_digit(text[i])) ++i;
    return i > from;
  };
  if (!digits()) return fail();
  if (i < text.size() && text[i] == '.') {
    ++i;
    if (!digits()) return fail();
  }
  if (i != text.size() || text.size() > 32) return fail();
  double d = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d, std::chars_format::fixed);
  if (ec != std::errc() || end != text.data() + text.size()) return fail();
  return d;
}

std::string format_per_1000(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(d);
}

Codec<double> per_1000() {
  return from_text<double>("a number such as 0.5 or 3", parse_per_1000, format_per_1000,
                           [](const double& d, const std::string& text) -> std::string {
                             return d > 1000 ? "'" + text + "' is more than 1000 per 1,000" : "";
                           });
}

void check_complaint_rate(Ctx& ctx, const Value& map, ComplaintRate& rate) {
  const std::string warn = join(map.path, "warn_per_1000"), suspend = join(map.path, "suspend_per_1000");
  if (ctx.failed(warn) || ctx.failed(suspend)) return;
  if (rate.warn_per_1000 > 0 && rate.suspend_per_1000 > 0 && rate.warn_per_1000 > rate.suspend_per_1000) {
    const std::string& at = ctx.seen(warn) ? warn : suspend;
    ctx.error(ctx.mark_of(at), at + ": warn_per_1000 (" + format_per_1000(rate.warn_per_1000) +
                                   ") is above suspend_per_1000 (" + format_per_1000(rate.suspend_per_1000) +
                                   "); an account would be suspended before any warning");
  }
}

const Section<ComplaintRate>& complaint_rate_section() {
  static const Section<ComplaintRate> s{
      {
          field("window", &ComplaintRate::window, duration(Duration{60'000}, Duration{30LL * 24 * 3600 * 1000})),
          field("warn_per_1000", &ComplaintRate::warn_per_1000, per_1000()),
          field("suspend_per_1000", &ComplaintRate::suspend_per_1000, per_1000()),
          field("suspend_status", &ComplaintRate::suspend_status, policy_status()),
          field("min_delivered", &ComplaintRate::min_delivered, integer(0, 1'000'000'000)),
      },
      check_complaint_rate};
  return s;
}

// An answer smsgate sends; checked as a whole by check_replies.
Codec<std::string> answer() { return text("a text"); }

constexpr std::string_view kTicket = "{ticket}";

std::string without_ticket(std::string text) {
  for (std::size_t at; (at = text.find(kTicket)) != std::string::npos;) text.erase(at, kTicket.size());
  return text;
}

// One warning when `text` does not fit in one SMS as the gateway would
// encode it (GSM 7-bit when every character has a GSM form, else UCS-2).
void check_sms_length(Ctx& ctx, const std::string& path, const std::string& text) {
  const std::string counted = without_ticket(text);
  const smpp::EncodedText encoded = smpp::encode_text(counted);
  const bool ucs2 = encoded.data_coding == smpp::coding::ucs2;
  const std::size_t one_part = ucs2 ? 70 : 160;
  if (encoded.units <= one_part) return;
  ctx.warning(ctx.mark_of(path),
              path + ": " + std::to_string(encoded.units) +
                  (ucs2 ? " UCS-2 characters (it has characters GSM 7-bit lacks)" : " GSM 7-bit characters") +
                  (counted.size() != text.size() ? ", not counting {ticket}," : "") + " need " +
                  std::to_string(smpp::count_parts(counted)) + " SMS parts; one part holds " +
                  std::to_string(one_part));
}

void check_replies(Ctx& ctx, const Value& map, Replies& r) {
  const std::pair<const char*, const std::string*> texts[] = {
      {"opt_out_confirmation", &r.opt_out_confirmation},
      {"opt_in_confirmation", &r.opt_in_confirmation},
      {"help_text", &r.help_text},
      {"complaint_ack", &r.complaint_ack},
  };
  for (const auto& [key, text] : texts) {
    const std::string path = join(map.path, key);
    if (!ctx.ok(path) || text->empty()) continue;
    const bool ack = text == &r.complaint_ack;
    const bool has_ticket = text->find(kTicket) != std::string::npos;
    if (ack && !has_ticket) {
      ctx.warning(ctx.mark_of(path), path + ": no {ticket} in it; the recipient gets no reference to quote");
    } else if (!ack && has_ticket) {
      ctx.warning(ctx.mark_of(path), path + ": {ticket} is replaced only in complaint_ack; here it is sent as written");
    }
    check_sms_length(ctx, path, *text);
  }
  const std::string keywords = join(map.path, "keywords");
  const std::string defaults = join(keywords, "defaults");
  const ReplyWords& o = r.opt_out;
  if (ctx.ok(defaults) && !r.default_keywords && o.exact.empty() && o.leading.empty() && o.phrases.empty() &&
      o.patterns.empty() && r.complaint.exact.empty() && r.complaint.leading.empty() && r.complaint.phrases.empty() &&
      r.complaint.patterns.empty() && !ctx.failed(join(keywords, "opt_out")) &&
      !ctx.failed(join(keywords, "complaint"))) {
    ctx.warning(ctx.mark_of(defaults),
                defaults + ": false with no opt_out or complaint words: no reply opts a number out");
  }
}

const Section<Replies>& replies_section() {
  static const Section<Replies> s{
      {
          field("default_account", &Replies::default_account, smpp_id(0, 15)),
          nested("keywords", keywords_section()),
          field("frequent_threshold_24h", &Replies::frequent_threshold_24h, integer(0, 1'000'000)),
          write_unless(field("severity", &Replies::severity, severities()),
                       std::function<bool(const Replies&)>([](const Replies& r) { return r.severity.empty(); })),
          field("opt_out_confirmation", &Replies::opt_out_confirmation, answer()),
          field("opt_in_confirmation", &Replies::opt_in_confirmation, answer()),
          field("help_text", &Replies::help_text, answer()),
          field("complaint_ack", &Replies::complaint_ack, answer()),
          field("confirmation_interval", &Replies::confirmation_interval, duration()),
          field("complaint_rate", &Replies::complaint_rate, map_of(complaint_rate_section())),
          field("reassembly_timeout", &Replies::reassembly_timeout,
                duration(Duration{1'000}, Duration{3'600'000})),
      },
      check_replies};
  return s;
}

// ------------------------------------------------------------------ tickets

constexpr std::size_t kMinWebhookSecret = 24;

// The fields of a ticket that a Request Tracker custom field can take.
const std::vector<std::string>& ticket_fields() {
  static const std::vector<std::string> names{"id",     "category", "severity", "number",
                                              "region", "account",  "source",   "text"};
  return names;
}

std::string parent_path(const std::string& path) {
  std::size_t dot = path.rfind('.');
  return dot == std::string::npos ? std::string() : path.substr(0, dot);
}

// An http:// or https:// URL, kept as written. `carries` says what an
// http:// URL would send in the clear (a warning unless the host is local);
// `rt` adds Request Tracker's check that the REST path is not given.
Codec<std::string> http_url(std::string carries, bool rt) {
  return {[carries, rt](Ctx& ctx, const Value& v) -> std::optional<std::string> {
            auto s = scalar(ctx, v, "an http:// or https:// URL");
            if (!s) return std::nullopt;
            auto url = url_values::parse_http_url(*s);
            if (!url) {
              ctx.fail(v, url.error);
              return std::nullopt;
            }
            if (!url->https && !url->loopback) {
              ctx.warning(v.mark, v.path + ": http:// sends " + carries + " unencrypted; use https://");
            }
            if (rt && lower(url->path).find("/rest/") != std::string::npos) {
              ctx.warning(v.mark, v.path + ": give RT's base URL (https://rt.example.com); smsgate adds /REST/2.0/");
            }
            return *s;
          },
          [](YAML::Emitter& e, const std::string& s) { e << s; }};
}

// The file tickets are appended to (created when missing); stored resolved
// against the config file's folder.
Codec<std::string> ticket_file() {
  return {[](Ctx& ctx, const Value& v) -> std::optional<std::string> {
            auto s = scalar(ctx, v, "a file path");
            if (!s) return std::nullopt;
            if (s->empty()) {
              ctx.fail(v, "empty file path");
              return std::nullopt;
            }
            std::filesystem::path path = ctx.resolve(*s);
            std::error_code ec;
            if (std::filesystem::is_directory(path, ec)) {
              ctx.fail(v, "'" + path.string() + "' is a folder; give the file tickets are appended to");
              return std::nullopt;
            }
            std::filesystem::path folder = path.parent_path();
            if (!folder.empty() && !std::filesystem::is_directory(folder, ec)) {
              ctx.warning(v.mark, v.path + ": the folder '" + folder.string() +
                                      "' does not exist; no ticket can be written until it does");
            }
            return path.string();
          },
          [](YAML::Emitter& e, const std::string& s) { e << s; }};
}

// One of file, webhook and request_tracker: the first given sets the sink,
// another one is an error. Written only for its own sink.
template <class M>
Field<Tickets> sink_field(std::string key, TicketSink sink, M Tickets::*member, Codec<M> codec) {
  return {key, false,
          [sink, member, read = codec.read](Ctx& ctx, const Value& v, Tickets& t) {
            if (t.sink != TicketSink::none) {
              return ctx.error(v.key_mark, "give only one of file, webhook and request_tracker " +
                                               where(parent_path(v.path)));
            }
            t.sink = sink;  // even when invalid: the sink is not "missing"
            if (auto x = read(ctx, v)) t.*member = std::move(*x);
          },
          [key, sink, member, write = codec.write](YAML::Emitter& e, const Tickets& t) {
            if (t.sink != sink) return;
            e << YAML::Key << key << YAML::Value;
            write(e, t.*member);
          }};
}

// RT custom field name -> ticket field name, in file order.
Codec<Pairs> custom_fields() {
  return {[](Ctx& ctx, const Value& v) -> std::optional<Pairs> {
            const std::string expected = "one of " + joined(ticket_fields(), " | ");
            if (!v.node.IsMap()) {
              ctx.fail(v, "expected a map of RT custom field to ticket field (Category: category), got " +
                              describe(v.node));
              return std::nullopt;
            }
            Pairs out;
            for (const Entry& e : entries_of(ctx, v)) {
              bool name_ok = !e.key.empty();
              if (!name_ok) ctx.error(e.key_node.Mark(), v.path + ": an RT custom field needs a name");
              YAML::Mark at = e.value.IsNull() || e.value.Mark().line < 0 ? e.key_node.Mark() : e.value.Mark();
              Value child{e.value, at, e.key_node.Mark(), join(v.path, e.key)};
              ctx.remember(child);
              auto value = scalar(ctx, child, expected);
              if (!value) continue;
              const auto& fields = ticket_fields();
              if (std::find(fields.begin(), fields.end(), *value) == fields.end()) {
                ctx.fail(child, "expected " + expected + ", got " + describe(e.value));
                continue;
              }
              if (name_ok) out.emplace_back(e.key, *value);
            }
            return out;
          },
          [](YAML::Emitter& e, const Pairs& pairs) {
            e << YAML::BeginMap;
            for (const auto& [name, value] : pairs) e << YAML::Key << name << YAML::Value << value;
            e << YAML::EndMap;
          }};
}

void check_request_tracker(Ctx& ctx, const Value& map, RequestTracker& rt) {
  require_secret(ctx, map, rt.token, "token", "RT's authentication token");
  const std::string key = join(map.path, secret_key(rt.token.source, "token"));
  if (rt.token.given() && ctx.ok(key) && rt.token.value.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
    ctx.error(ctx.mark_of(key), key + ": the token contains a line break or a NUL byte; it goes in an HTTP header");
  }
}

const Section<RequestTracker>& request_tracker_section() {
  static const Section<RequestTracker> s{
      std::vector{
          field("url", &RequestTracker::url, http_url("the token and complaints (numbers and texts)", true),
                Need::required),
          field("queue", &RequestTracker::queue,
                text("a queue name",
                     [](const std::string& q) -> std::string {
                       bool ok = !q.empty() &&
                                 std::none_of(q.begin(), q.end(), [](unsigned char c) { return c < ' '; });
                       return ok ? "" : "'" + q + "' is not a queue name (a non-empty line of text)";
                     }),
                Need::required),
      } + secret_fields(&RequestTracker::token, "token", false) +
          std::vector{field("custom_fields", &RequestTracker::custom_fields, custom_fields())},
      check_request_tracker};
  return s;
}

void check_ticket_due(Ctx& ctx, const Value& map, TicketDue& due) {
  const std::string first = join(map.path, "first_response"), resolution = join(map.path, "resolution");
  if (ctx.failed(first) || ctx.failed(resolution) || due.first_response <= due.resolution) return;
  const std::string& at = ctx.seen(first) ? first : resolution;
  ctx.error(ctx.mark_of(at), map.path + ": first_response (" + format_duration(due.first_response) +
                                 ") is later than resolution (" + format_duration(due.resolution) + ")");
}

const Section<TicketDue>& ticket_due_section() {
  static const Section<TicketDue> s{
      {
          field("first_response", &TicketDue::first_response, duration(Duration{1})),
          field("resolution", &TicketDue::resolution, duration(Duration{1})),
      },
      check_ticket_due};
  return s;
}

const Section<Tickets>& due_section() {
  static const Section<Tickets> s{{
      member_map("urgent", &Tickets::urgent, ticket_due_section()),
      member_map("high", &Tickets::high, ticket_due_section()),
      member_map("normal", &Tickets::normal, ticket_due_section()),
  }};
  return s;
}

void check_tickets(Ctx& ctx, const Value& map, Tickets& t) {
  if (t.sink == TicketSink::webhook) require_secret(ctx, map, t.secret, "secret", "the webhook's signing key");
  if (!t.secret.given()) return;
  const std::string key = join(map.path, secret_key(t.secret.source, "secret"));
  if (t.sink != TicketSink::webhook) {
    ctx.warning(ctx.mark_of(key), key + ": only webhook requests are signed; without webhook the secret is not used");
  } else if (ctx.ok(key) && t.secret.value.size() < kMinWebhookSecret) {
    ctx.warning(ctx.mark_of(key), key + ": the signing secret is " + std::to_string(t.secret.value.size()) +
                                      " bytes; use at least " + std::to_string(kMinWebhookSecret) + " random bytes");
  }
}

const Section<Tickets>& tickets_section() {
  static const Section<Tickets> s{
      std::vector{
          sink_field("file", TicketSink::file, &Tickets::file, ticket_file()),
          sink_field("webhook", TicketSink::webhook, &Tickets::webhook,
                     http_url("complaints (numbers and texts)", false)),
      } + secret_fields(&Tickets::secret, "secret", false) +
          std::vector{
              sink_field("request_tracker", TicketSink::request_tracker, &Tickets::request_tracker,
                         map_of(request_tracker_section())),
              field("timeout", &Tickets::timeout, duration(Duration{1'000}, Duration{120'000})),
              field("retry_for", &Tickets::retry_for, duration(Duration{60'000}, Duration{30LL * 24 * 3600 * 1000})),
              nested("due", due_section()),
          },
      check_tickets};
  return s;
}

// ------------------------------------------------------------------ checks across sections

void check_references(Ctx& ctx, const Value&, Config& c) {
  auto accounts = require_unique(ctx, c.accounts, "accounts", "system_id",
                                 [](const Account& a) -> const std::string& { return a.system_id; });
  auto carriers = require_unique(ctx, c.carriers, "carriers", "name",
                                 [](const Carrier& x) -> const std::string& { return x.name; });
  auto prefixes = require_unique(ctx, c.routes, "routes", "prefix",
                                 [](const Route& r) -> const std::string& { return r.prefix; });

  std::set<std::string> used;
  bool routes_complete = ctx.ok("routes");
  for (std::size_t i = 0; i < c.routes.size(); ++i) {
    std::set<std::string> in_route;
    routes_complete = routes_complete && ctx.ok(join(item("routes", i), "carriers"));
    for (std::size_t j = 0; j < c.routes[i].carriers.size(); ++j) {
      std::string path = item(join(item("routes", i), "carriers"), j);
      const std::string& name = c.routes[i].carriers[j];
      if (!ctx.ok(path)) continue;
      used.insert(name);
      if (!in_route.insert(name).second) {
        ctx.error(ctx.mark_of(path), path + ": carrier '" + name + "' is already listed in " + item("routes", i));
      } else if (!carriers.contains(name)) {
        std::string known;
        for (const auto& [n, _] : carriers) known += (known.empty() ? "" : ", ") + n;
        ctx.error(ctx.mark_of(path), path + ": unknown carrier '" + name + "' (carriers: " + known + ")");
      }
    }
  }

  if (routes_complete && !c.routes.empty() && !prefixes.contains("")) {
    ctx.warning(ctx.mark_of("routes"),
                "routes: no default route (prefix \"\"); numbers no prefix matches are rejected with no_route_status");
  }
  if (routes_complete) {
    for (const auto& [name, i] : carriers) {
      if (!used.contains(name) && ctx.ok(join(item("carriers", i), "name"))) {
        std::string path = join(item("carriers", i), "name");
        ctx.warning(ctx.mark_of(path), path + ": carrier '" + name + "' is not used by any route");
      }
    }
  }
  const std::string& account = c.replies.default_account;
  if (ctx.ok("replies.default_account") && !account.empty() && !accounts.contains(account)) {
    ctx.error(ctx.mark_of("replies.default_account"), "replies.default_account: unknown account '" + account + "'");
  }
}

const Section<Config>& config_section() {
  static const Section<Config> s{
      {
          field("node", &Config::node, text("a node name", chars(1, 16, is_name_char,
                                                                 "a node name (1 to 16 letters, digits, '-' or '_')")),
                Need::required),
          field("smpp", &Config::smpp, map_of(smpp_section()), Need::required),
          field("redis", &Config::redis, map_of(redis_section()), Need::required),
          field("accounts", &Config::accounts, list_of(map_of(account_section()), "at least one account is required"),
                Need::required),
          field("carriers", &Config::carriers, list_of(map_of(carrier_section()), "at least one carrier is required"),
                Need::required),
          field("routes", &Config::routes, list_of(map_of(route_section()), "at least one route is required"),
                Need::required),
          field("receipts", &Config::receipts, map_of(receipts_section())),
          field("replies", &Config::replies, map_of(replies_section())),
          field("no_route_status", &Config::no_route_status, status()),
          policy_field(),
          field("tickets", &Config::tickets, map_of(tickets_section())),
          field("log", &Config::log, map_of(log_section())),
          field("admin", &Config::admin, map_of(admin_section())),
      },
      check_references};
  return s;
}

}  // namespace

// ------------------------------------------------------------------ entry points

std::string format(const Diagnostic& d) {
  std::string out = d.file + ":";
  if (d.line > 0) out += std::to_string(d.line) + ":" + std::to_string(d.column) + ":";
  out += d.severity == Severity::warning ? " warning: " : " ";
  return out + d.message;
}

std::size_t LoadResult::error_count() const {
  return static_cast<std::size_t>(std::count_if(diagnostics.begin(), diagnostics.end(),
                                                [](const Diagnostic& d) { return d.severity == Severity::error; }));
}

namespace {

// Aliases make a small file a large tree (each `*ref` is the whole anchored
// node again, and anchors can refer to anchors): walking it must stay
// bounded, so a document that expands past these limits is refused before
// it is read. Nodes and depth bound the walk; text bounds what reading
// copies: each value's text and its path (the keys above it, which every
// diagnostic and every remembered value repeats), so a long anchored key or
// value aliased many times cannot turn a 10 KB file into gigabytes.
constexpr std::size_t kMaxNodes = 200'000;
constexpr int kMaxDepth = 64;
constexpr std::size_t kMaxExpandedText = 16 << 20;

struct ExpansionBudget {
  std::size_t nodes = kMaxNodes;
  std::size_t text = kMaxExpandedText;
  bool text_exceeded = false;
};

// `path_bytes`: the length of the keys above `node`, as its path repeats them.
bool within_limits(const YAML::Node& node, int depth, std::size_t path_bytes, ExpansionBudget& budget) {
  if (budget.nodes == 0 || depth > kMaxDepth) return false;
  --budget.nodes;
  const std::size_t own = path_bytes + (node.IsScalar() ? node.Scalar().size() : 0) + 1;
  if (own > budget.text) {
    budget.text_exceeded = true;
    return false;
  }
  budget.text -= own;
  if (!node.IsMap() && !node.IsSequence()) return true;
  for (const auto& item : node) {
    if (node.IsMap()) {
      const std::size_t key_bytes = item.first.IsScalar() ? item.first.Scalar().size() : 0;
      if (!within_limits(item.first, depth + 1, path_bytes, budget) ||
          !within_limits(item.second, depth + 1, path_bytes + key_bytes + 1, budget)) {
        return false;
      }
    } else if (!within_limits(item, depth + 1, path_bytes + 8, budget)) {  // "[1234]."
      return false;
    }
  }
  return true;
}

// Where the file's second YAML document starts, if it has one. Counted with
// a bounded loop rather than YAML::LoadAll: on some malformed input (a ','
// at the start of a line in block context) yaml-cpp 0.7's parser returns
// the same empty document forever, and LoadAll collects them until memory
// runs out (found by fuzz_config).
class SecondDocument : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 1) first_ = mark;
    if (documents_ == 2) start_ = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
    node(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    node(mark);
  }
  void OnMapEnd() override {}

  struct Found {
    YAML::Mark at;       // the second document's content (else its "---")
    bool stuck = false;  // it starts where the first did: the parser's loop
  };
  static std::optional<Found> in(const std::string& text) {
    std::istringstream in(text);
    YAML::Parser parser(in);
    SecondDocument counter;
    for (int i = 0; i < 2 && parser.HandleNextDocument(counter); ++i) {
    }
    if (!counter.start_) return std::nullopt;
    const YAML::Mark& s = *counter.start_;
    return Found{counter.content_.value_or(s), s.pos == counter.first_.pos};
  }

 private:
  void node(const YAML::Mark& mark) {
    if (documents_ == 2 && !content_) content_ = mark;
  }

  int documents_ = 0;
  YAML::Mark first_;
  std::optional<YAML::Mark> start_, content_;
};

}  // namespace

LoadResult load_config_string(std::string_view text, std::string name, const LoadOptions& options) {
  Ctx ctx(std::move(name), options.base_dir);
  Config config;
  try {
    const std::string yaml(text);
    YAML::Node doc;
    if (auto second = SecondDocument::in(yaml); second && second->stuck) {
      ctx.error(second->at, "invalid YAML: cannot be parsed from here (a ',' outside [ ] or { }?)");
    } else if (second) {
      ctx.error(second->at, "only one YAML document is allowed; this is the second");
    } else if (doc = YAML::Load(yaml); doc.IsNull()) {
      ctx.error(YAML::Mark(), "the file is empty; expected a map with node, smpp, redis, accounts, carriers and routes");
    } else if (!doc.IsMap()) {
      ctx.error(doc.Mark(), "expected a map at the top level, got " + describe(doc));
    } else if (ExpansionBudget budget; !within_limits(doc, 0, 0, budget)) {
      if (budget.text_exceeded) {
        ctx.error(doc.Mark(), "the document expands to more than " + std::to_string(kMaxExpandedText >> 20) +
                                      " MiB of keys and values (each alias repeats its anchor's text and the "
                                      "keys above it; a long anchored key or value aliased many times?)");
      } else {
        ctx.error(doc.Mark(), "the document expands to more than " + std::to_string(kMaxNodes) +
                                      " nodes or nests deeper than " + std::to_string(kMaxDepth) +
                                      " levels (aliases of aliases?)");
      }
    } else {
      Value root{doc, doc.Mark(), doc.Mark(), ""};
      ctx.remember(root);
      read_map(ctx, root, config_section(), config);
    }
  } catch (const YAML::Exception& e) {
    ctx.error(e.mark, "invalid YAML: " + e.msg);
  }
  LoadResult r;
  if (!ctx.has_errors()) r.config = std::move(config);
  r.diagnostics = ctx.take_diagnostics();
  return r;
}

LoadResult load_config_file(const std::filesystem::path& path) {
  FileRead f = read_file(path.string(), kMaxFileSize);
  if (!f.error.empty() || f.truncated) {
    LoadResult r;
    std::string why = f.truncated ? "larger than " + std::to_string(kMaxFileSize >> 20) + " MiB" : f.error;
    r.diagnostics.push_back({path.string(), 0, 0, Severity::error, "cannot read the file: " + why});
    return r;
  }
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::absolute(path, ec).parent_path();
  return load_config_string(f.data, path.string(), {ec ? path.parent_path() : dir});
}

int check_config(const std::filesystem::path& path, std::ostream& out) {
  LoadResult r = load_config_file(path);
  for (const Diagnostic& d : r.diagnostics) out << format(d) << '\n';
  if (!r.ok()) return 1;
  std::size_t warnings = r.diagnostics.size();
  out << path.string() << ": OK (" << r.config->accounts.size() << " accounts, " << r.config->carriers.size()
      << " carriers, " << r.config->routes.size() << " routes, " << warnings << (warnings == 1 ? " warning" : " warnings")
      << ")\n";
  return 0;
}

std::string redacted_yaml(const Config& config) {
  YAML::Emitter e;
  write_map(e, config_section(), config);
  return std::string(e.c_str()) + "\n";
}

}  // namespace smsgate::config
