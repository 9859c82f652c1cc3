// The http:// and https:// URLs of the tickets section (the webhook, Request
// Tracker's base URL), checked with Boost.URL (RFC 3986). Internal to the
// config library; the interface is standard library only.
#pragma once

#include <string>
#include <string_view>

#include "config/values.hpp"

namespace smsgate::config::url_values {

struct HttpUrl {
  bool https = false;
  bool loopback = false;  // localhost, 127.0.0.0/8, ::1: nothing crosses a network
  std::string path;       // decoded; "" or "/..."
};

// An absolute http:// or https:// URL (any case) with a host name, an IPv4
// address or a bracketed IPv6 address, an optional port 1-65535, a path and
// a query; no user info (credentials belong in a secret, never in a URL that
// diagnostics quote and redacted_yaml writes back) and no #fragment. The
// error quotes the URL, except when it holds user info.
Parsed<HttpUrl> parse_http_url(std::string_view text);

}  // namespace smsgate::config::url_values
