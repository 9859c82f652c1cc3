#include "config/url.hpp"

#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include <algorithm>
#include <cctype>

namespace smsgate::config::url_values {
namespace {

constexpr std::string_view kShape = "http:// or https://, a host and an optional port and path";

std::string quoted(std::string_view text) { return "'" + std::string(text) + "'"; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

bool is_localhost(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  constexpr std::string_view suffix = ".localhost";
  return iequals(host, "localhost") ||
         (host.size() > suffix.size() && iequals(host.substr(host.size() - suffix.size()), suffix));
}

}  // namespace

Parsed<HttpUrl> parse_http_url(std::string_view text) {
  const bool http = iequals(text.substr(0, 7), "http://"), https = iequals(text.substr(0, 8), "https://");
  if (!http && !https) return Parsed<HttpUrl>::fail(quoted(text) + " is not an http:// or https:// URL");
  auto parsed = boost::urls::parse_uri(boost::urls::string_view(text.data(), text.size()));
  if (!parsed) {
    return Parsed<HttpUrl>::fail(quoted(text) + " is not a URL (" + std::string(kShape) +
                                 ", e.g. https://tickets.example.com/hooks/sms)");
  }
  const boost::urls::url_view& u = *parsed;
  HttpUrl out;
  if (u.scheme_id() == boost::urls::scheme::https) {
    out.https = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    return Parsed<HttpUrl>::fail(quoted(text) + " is not an http:// or https:// URL");
  }
  if (u.has_userinfo()) {
    // Not quoted: the user info may be a password.
    return Parsed<HttpUrl>::fail(
        "the URL has user info (user:password@); give credentials as a secret, not in the URL");
  }
  if (!u.has_authority() || u.encoded_host().empty()) {
    return Parsed<HttpUrl>::fail(quoted(text) + " has no host (" + std::string(kShape) + ")");
  }
  switch (u.host_type()) {
    case boost::urls::host_type::name: {
      const std::string host = u.host_name();
      if (!is_host_name(host)) return Parsed<HttpUrl>::fail(quoted(text) + ": '" + host + "' is not a host name");
      out.loopback = is_localhost(host);
      break;
    }
    case boost::urls::host_type::ipv4:
      out.loopback = u.host_ipv4_address().to_bytes()[0] == 127;
      break;
    case boost::urls::host_type::ipv6:
      out.loopback = u.host_ipv6_address().is_loopback();
      break;
    default:
      return Parsed<HttpUrl>::fail(quoted(text) + " has no host (" + std::string(kShape) + ")");
  }
  if (u.has_port()) {
    std::string_view port(u.port().data(), u.port().size());
    bool ok = !port.empty() && port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
      return c >= '0' && c <= '9';
    });
    unsigned long n = ok ? std::stoul(std::string(port)) : 0;
    if (!ok || n == 0 || n > 65535) {
      return Parsed<HttpUrl>::fail(quoted(text) + " has a bad port '" + std::string(port) + "' (1-65535)");
    }
  }
  if (u.has_fragment()) return Parsed<HttpUrl>::fail(quoted(text) + " has a #fragment, which is never sent");
  out.path = u.path();
  return out;
}

}  // namespace smsgate::config::url_values
