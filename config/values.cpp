#include "config/values.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <vector>

namespace smsgate::config {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool all_digits(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_digit); }

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

// Decimal digits only, no sign; nullopt when not or when above `max`.
std::optional<uint64_t> decimal(std::string_view s, uint64_t max) {
  if (!all_digits(s) || s.size() > 19) return std::nullopt;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > max) return std::nullopt;
  return v;
}

struct Unit {
  std::string_view name;
  int64_t ms;
};
constexpr Unit kUnits[] = {{"d", 86'400'000}, {"h", 3'600'000}, {"m", 60'000}, {"s", 1'000}, {"ms", 1}};

std::optional<std::array<uint8_t, 4>> parse_v4(std::string_view s) {
  std::array<uint8_t, 4> out{};
  for (size_t i = 0; i < 4; ++i) {
    size_t dot = i < 3 ? s.find('.') : s.size();
    if (dot == std::string_view::npos) return std::nullopt;
    std::string_view part = s.substr(0, dot);
    if (part.size() > 3 || (part.size() > 1 && part[0] == '0')) return std::nullopt;
    auto v = decimal(part, 255);
    if (!v) return std::nullopt;
    out[i] = static_cast<uint8_t>(*v);
    s.remove_prefix(i < 3 ? dot + 1 : dot);
  }
  return s.empty() ? std::optional(out) : std::nullopt;
}

// Colon-separated groups of 1-4 hex digits, the last of which may be a dotted
// quad (two groups). Empty text is no group.
bool parse_v6_groups(std::string_view s, bool v4_tail, std::vector<uint16_t>& out) {
  while (!s.empty()) {
    size_t colon = s.find(':');
    std::string_view g = s.substr(0, colon);
    if (colon == std::string_view::npos && v4_tail && g.find('.') != std::string_view::npos) {
      auto q = parse_v4(g);
      if (!q) return false;
      out.push_back(static_cast<uint16_t>((*q)[0] << 8 | (*q)[1]));
      out.push_back(static_cast<uint16_t>((*q)[2] << 8 | (*q)[3]));
      return true;
    }
    if (g.empty() || g.size() > 4) return false;
    uint16_t v = 0;
    auto [end, ec] = std::from_chars(g.data(), g.data() + g.size(), v, 16);
    if (ec != std::errc() || end != g.data() + g.size()) return false;
    out.push_back(v);
    if (colon == std::string_view::npos) break;
    s.remove_prefix(colon + 1);
    if (s.empty()) return false;  // trailing ':'
  }
  return true;
}

std::optional<std::array<uint8_t, 16>> parse_v6(std::string_view s) {
  std::vector<uint16_t> head, tail;
  size_t gap = s.find("::");
  bool ok = gap == std::string_view::npos ? parse_v6_groups(s, true, head)
                                          : parse_v6_groups(s.substr(0, gap), false, head) &&
                                                parse_v6_groups(s.substr(gap + 2), true, tail);
  if (!ok) return std::nullopt;
  size_t groups = head.size() + tail.size();
  if (gap == std::string_view::npos ? groups != 8 : groups > 7) return std::nullopt;
  head.resize(8 - tail.size(), 0);
  head.insert(head.end(), tail.begin(), tail.end());
  std::array<uint8_t, 16> out{};
  for (size_t i = 0; i < 8; ++i) {
    out[2 * i] = static_cast<uint8_t>(head[i] >> 8);
    out[2 * i + 1] = static_cast<uint8_t>(head[i] & 0xFF);
  }
  return out;
}

constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};

// The same address in the family of `want`, when it has one.
std::optional<IpAddress> as_family(const IpAddress& a, IpAddress::Family want) {
  if (a.family == want) return a;
  if (want == IpAddress::Family::v6) {
    std::array<uint8_t, 16> b{};
    std::copy(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), b.begin());
    std::copy_n(a.bytes.begin(), 4, b.begin() + 12);
    return IpAddress::v6(b);
  }
  if (!std::equal(kV4MappedPrefix.begin(), kV4MappedPrefix.end(), a.bytes.begin())) return std::nullopt;
  return IpAddress::v4({a.bytes[12], a.bytes[13], a.bytes[14], a.bytes[15]});
}

// Keeps the first `bits` bits of `a`.
IpAddress masked(IpAddress a, unsigned bits) {
  for (unsigned i = 0; i < 16; ++i) {
    unsigned keep = bits > 8 * i ? std::min(8u, bits - 8 * i) : 0;
    a.bytes[i] &= static_cast<uint8_t>(keep == 0 ? 0 : 0xFF << (8 - keep));
  }
  return a;
}

constexpr std::string_view kRegions =
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV "
    "BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES "
    "ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE "
    "IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY "
    "MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU "
    "NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM "
    "SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE "
    "VG VI VN VU WF WS YE YT ZA ZM ZW";

}  // namespace

// ------------------------------------------------------------------ durations

Parsed<Duration> parse_duration(std::string_view text) { return parse_duration_at_most(text, kMaxDuration); }

Parsed<Duration> parse_duration_at_most(std::string_view text, Duration max) {
  const std::string hint = " (an integer and a unit: ms, s, m, h or d, e.g. 500ms, 2s, 24h)";
  if (text == "0") return Duration{0};
  size_t digits = 0;
  while (digits < text.size() && is_digit(text[digits])) ++digits;
  std::string_view number = text.substr(0, digits), unit = text.substr(digits);
  if (number.empty()) return Parsed<Duration>::fail("bad duration " + quoted(text) + hint);
  if (unit.empty()) return Parsed<Duration>::fail("duration " + quoted(text) + " has no unit" + hint);
  auto u = std::find_if(std::begin(kUnits), std::end(kUnits), [&](const Unit& x) { return x.name == unit; });
  if (u == std::end(kUnits)) {
    bool word = std::all_of(unit.begin(), unit.end(), is_alpha);
    return Parsed<Duration>::fail(word ? "unknown unit " + quoted(unit) + " in " + quoted(text) + hint
                                       : "bad duration " + quoted(text) + hint);
  }
  auto n = decimal(number, static_cast<uint64_t>(std::max<int64_t>(max.count(), 0) / u->ms));
  if (!n) return Parsed<Duration>::fail("duration " + quoted(text) + " is longer than " + format_duration(max));
  return Duration{static_cast<int64_t>(*n) * u->ms};
}

std::string format_duration(Duration d) {
  int64_t ms = d.count();
  if (ms == 0) return "0";
  for (const Unit& u : kUnits) {
    if (ms % u.ms == 0) return std::to_string(ms / u.ms) + std::string(u.name);
  }
  return std::to_string(ms) + "ms";  // unreachable: every count divides by 1
}

// ------------------------------------------------------------------ statuses

Parsed<uint32_t> parse_status(std::string_view text) {
  auto bad = [&] {
    return Parsed<uint32_t>::fail("bad command_status " + quoted(text) +
                                  " (a 32-bit integer, decimal or 0x hex, e.g. 0x08)");
  };
  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    std::string_view hex = text.substr(2);
    uint32_t v = 0;
    auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
    if (ec != std::errc() || end != hex.data() + hex.size() || hex[0] == '+' || hex[0] == '-') return bad();
    return v;
  }
  auto v = decimal(text, UINT32_MAX);
  if (!v) return bad();
  return static_cast<uint32_t>(*v);
}

std::string format_status(uint32_t status) {
  char buf[16];
  std::snprintf(buf, sizeof buf, status <= 0xFF ? "0x%02X" : "0x%04X", static_cast<unsigned>(status));
  return buf;
}

// ------------------------------------------------------------------ IP addresses

IpAddress IpAddress::v4(std::array<uint8_t, 4> b) {
  IpAddress a;
  std::copy(b.begin(), b.end(), a.bytes.begin());
  return a;
}

IpAddress IpAddress::v6(std::array<uint8_t, 16> b) {
  IpAddress a;
  a.family = Family::v6;
  a.bytes = b;
  return a;
}

std::string IpAddress::to_string() const {
  char buf[8];
  std::string out;
  if (family == Family::v4) {
    for (int i = 0; i < 4; ++i) out += (i ? "." : "") + std::to_string(bytes[i]);
    return out;
  }
  uint16_t g[8];
  for (int i = 0; i < 8; ++i) g[i] = static_cast<uint16_t>(bytes[2 * i] << 8 | bytes[2 * i + 1]);
  // RFC 5952: the longest run of two or more zero groups becomes "::".
  int best = -1, best_len = 1;
  for (int i = 0; i < 8;) {
    int j = i;
    while (j < 8 && g[j] == 0) ++j;
    if (j - i > best_len) best = i, best_len = j - i;
    i = j == i ? i + 1 : j;
  }
  for (int i = 0; i < 8; ++i) {
    if (i == best) {
      out += "::";
      i += best_len - 1;
      continue;
    }
    if (!out.empty() && out.back() != ':') out += ':';
    std::snprintf(buf, sizeof buf, "%x", static_cast<unsigned>(g[i]));
    out += buf;
  }
  return out;
}

std::optional<IpAddress> parse_ip(std::string_view text) {
  if (text.find(':') != std::string_view::npos) {
    auto b = parse_v6(text);
    return b ? std::optional(IpAddress::v6(*b)) : std::nullopt;
  }
  auto b = parse_v4(text);
  return b ? std::optional(IpAddress::v4(*b)) : std::nullopt;
}

// ------------------------------------------------------------------ CIDRs

bool Cidr::contains(const IpAddress& a) const {
  auto same = as_family(a, network.family);
  return same && masked(*same, prefix_length) == masked(network, prefix_length);
}

bool Cidr::has_host_bits() const { return masked(network, prefix_length) != network; }

Cidr Cidr::normalized() const { return {masked(network, prefix_length), prefix_length}; }

std::string Cidr::to_string() const { return network.to_string() + "/" + std::to_string(prefix_length); }

Parsed<Cidr> parse_cidr(std::string_view text) {
  size_t slash = text.find('/');
  std::string_view addr = text.substr(0, slash);
  auto ip = parse_ip(addr);
  bool v6 = addr.find(':') != std::string_view::npos;
  if (!ip) {
    return Parsed<Cidr>::fail("bad " + std::string(v6 ? "IPv6" : "IPv4") + " address " + quoted(addr) +
                              " in CIDR " + quoted(text));
  }
  unsigned max = v6 ? 128 : 32;
  if (slash == std::string_view::npos) {
    return Parsed<Cidr>::fail("CIDR " + quoted(text) + " has no prefix length (write " + std::string(text) + "/" +
                              std::to_string(max) + " for one address)");
  }
  std::string_view len = text.substr(slash + 1);
  auto n = decimal(len, max);
  if (!n || len.size() > 3) {
    return Parsed<Cidr>::fail("bad prefix length " + quoted(len) + " in CIDR " + quoted(text) + " (0 to " +
                              std::to_string(max) + " for " + (v6 ? "IPv6" : "IPv4") + ")");
  }
  return Cidr{*ip, static_cast<unsigned>(*n)};
}

// ------------------------------------------------------------------ host:port

std::string HostPort::to_string() const {
  bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool is_host_name(std::string_view text) {
  if (text.empty() || text.size() > 253) return false;
  while (true) {
    size_t dot = text.find('.');
    std::string_view label = text.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_') return false;
    }
    if (dot == std::string_view::npos) return true;
    text.remove_prefix(dot + 1);
  }
}

Parsed<HostPort> parse_host_port(std::string_view text) {
  using P = Parsed<HostPort>;
  const std::string what = quoted(text);
  if (text.empty()) return P::fail("empty address (expected host:port)");
  std::string_view host, port;
  if (text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return P::fail("no ']' after the IPv6 address in " + what);
    host = text.substr(1, close - 1);
    if (!parse_v6(host)) return P::fail("bad IPv6 address " + quoted(host) + " in " + what);
    std::string_view rest = text.substr(close + 1);
    if (rest.empty()) return P::fail(what + " has no port (expected [IPv6]:port)");
    if (rest.front() != ':') return P::fail("expected ':' and a port after ']' in " + what);
    port = rest.substr(1);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) return P::fail(what + " has no port (expected host:port)");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) {
      return P::fail("an IPv6 address needs brackets: [" + std::string(host) + "]:" + std::string(port));
    }
    if (host.empty()) return P::fail(what + " has no host (expected host:port)");
    bool numeric = std::all_of(host.begin(), host.end(), [](char c) { return is_digit(c) || c == '.'; });
    if (numeric && !parse_v4(host)) return P::fail("bad IPv4 address " + quoted(host) + " in " + what);
    if (!numeric && !is_host_name(host)) return P::fail("bad host name " + quoted(host) + " in " + what);
  }
  if (port.empty()) return P::fail(what + " has no port (expected host:port)");
  if (!all_digits(port)) return P::fail("bad port " + quoted(port) + " in " + what);
  auto n = decimal(port, 65535);
  if (!n || *n == 0) return P::fail("port " + std::string(port) + " is out of range (1 to 65535) in " + what);
  return HostPort{std::string(host), static_cast<uint16_t>(*n)};
}

std::string RedisAddress::to_string() const { return is_unix() ? "unix:" + unix_path : tcp.to_string(); }

Parsed<RedisAddress> parse_redis_address(std::string_view text) {
  constexpr std::string_view kUnix = "unix:";
  if (text.substr(0, kUnix.size()) == kUnix) {
    std::string_view path = text.substr(kUnix.size());
    if (path.empty() || path.front() != '/') {
      return Parsed<RedisAddress>::fail("unix socket path in " + quoted(text) + " must be absolute (unix:/run/redis.sock)");
    }
    return RedisAddress{{}, std::string(path)};
  }
  auto hp = parse_host_port(text);
  if (!hp) return Parsed<RedisAddress>::fail(hp.error + "; or unix:/path for a unix socket");
  return RedisAddress{*hp, {}};
}

bool is_region_code(std::string_view text) {
  if (text.size() != 2 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
    return false;
  }
  for (size_t i = 0; i < kRegions.size(); i += 3) {
    if (kRegions.substr(i, 2) == text) return true;
  }
  return false;
}

}  // namespace smsgate::config
