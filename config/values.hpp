// The small value types a config file is made of (durations, SMPP statuses,
// host:port addresses, IP addresses and CIDRs) and their text forms.
//
// Each parse_* function takes the text as written and returns the value or a
// phrase saying what is wrong with it (naming the text, so never hand it a
// secret). The loader prefixes the key's path and position. Standard library
// only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace smsgate::config {

using Duration = std::chrono::milliseconds;

// A value or the reason there is none.
template <class T>
struct Parsed {
  std::optional<T> value;
  std::string error;

  Parsed(T v) : value(std::move(v)) {}
  static Parsed fail(std::string why) {
    Parsed p;
    p.error = std::move(why);
    return p;
  }
  explicit operator bool() const { return value.has_value(); }
  const T& operator*() const { return *value; }
  const T* operator->() const { return &*value; }

 private:
  Parsed() = default;
};

inline constexpr Duration kMaxDuration{365LL * 86'400'000};

// "500ms", "2s", "30m", "24h", "7d": a non-negative integer and a unit; "0"
// alone is zero. At most 365 days.
Parsed<Duration> parse_duration(std::string_view text);
// The same, at most `max` instead (a retention period of years).
Parsed<Duration> parse_duration_at_most(std::string_view text, Duration max);
// The largest unit that divides it exactly: 259200000ms -> "3d"; 0 -> "0".
std::string format_duration(Duration d);

// An SMPP command_status: decimal ("8") or hex ("0x08"), 32 bits.
Parsed<uint32_t> parse_status(std::string_view text);
std::string format_status(uint32_t status);  // "0x08", "0x0400"

struct IpAddress {
  enum class Family : uint8_t { v4, v6 };
  Family family = Family::v4;
  std::array<uint8_t, 16> bytes{};  // network order; IPv4 uses the first 4

  static IpAddress v4(std::array<uint8_t, 4> b);
  static IpAddress v6(std::array<uint8_t, 16> b);
  std::string to_string() const;  // dotted quad, or RFC 5952 IPv6
  bool operator==(const IpAddress&) const = default;
};

// Dotted quad (no leading zeros) or IPv6 (without brackets or zone).
std::optional<IpAddress> parse_ip(std::string_view text);

struct Cidr {
  IpAddress network;
  unsigned prefix_length = 0;

  // An IPv4 address also matches as ::ffff:a.b.c.d and the other way round.
  bool contains(const IpAddress& a) const;
  bool has_host_bits() const;   // 10.0.0.1/8
  Cidr normalized() const;      // host bits cleared: 10.0.0.0/8
  std::string to_string() const;
  bool operator==(const Cidr&) const = default;
};

// "10.0.0.0/8", "2001:db8::/32". The prefix length is required.
Parsed<Cidr> parse_cidr(std::string_view text);

// A TCP endpoint. `host` is a name, a dotted quad or an IPv6 address (stored
// without brackets).
struct HostPort {
  std::string host;
  uint16_t port = 0;

  std::string to_string() const;  // "[::1]:2775" for IPv6
  bool operator==(const HostPort&) const = default;
};

// "host:port", "1.2.3.4:port", "[v6]:port"; port 1-65535.
Parsed<HostPort> parse_host_port(std::string_view text);

// Where Redis listens: a TCP endpoint or a unix socket.
struct RedisAddress {
  HostPort tcp;            // when unix_path is empty
  std::string unix_path;   // absolute path, from "unix:/run/redis.sock"

  bool is_unix() const { return !unix_path.empty(); }
  std::string to_string() const;
  bool operator==(const RedisAddress&) const = default;
};

Parsed<RedisAddress> parse_redis_address(std::string_view text);

// Letters, digits, '-' and '_' in dot-separated labels of 1-63 characters.
bool is_host_name(std::string_view text);
// An assigned ISO 3166-1 alpha-2 code: "CN", "GB" (not "UK").
bool is_region_code(std::string_view text);

}  // namespace smsgate::config
