// The ticket forwarder (gateway/tickets.hpp, docs/tickets.md): the outbox's
// consumer loop, its Redis scripts, and the three sinks.
#include "gateway/tickets.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <system_error>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>

#include "gateway/log.hpp"
#include "policy/number.hpp"

namespace smsgate::gateway {

namespace http = boost::beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// The attempts hash outlives the last attempt by this much (then a ticket
// that was lost some other way leaves no trace behind).
constexpr milliseconds kAttemptsSlack{24LL * 3600 * 1000};
// XCLAIM ... IDLE for released entries: "idle for 30 days", taken over by the
// next XAUTOCLAIM of any node. (Redis caps IDLE at the time since the epoch.)
constexpr milliseconds kReleasedIdle{30LL * 24 * 3600 * 1000};

int64_t unix_ms() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class TicketCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tickets"; }
  std::string message(int ev) const override {
    switch (static_cast<TicketErrc>(ev)) {
      case TicketErrc::redis_error: return "Redis answered with an error";
      case TicketErrc::not_found: return "no dead ticket with that id";
      case TicketErrc::bad_reply: return "unexpected Redis reply";
    }
    return "unknown tickets error";
  }
};

// No reply, or an error reply.
error_code failure_of(const redis::Result& r) {
  if (r.error) return r.error;
  if (r.reply.is_error()) return TicketErrc::redis_error;
  return {};
}

std::string describe(const redis::Result& r) {
  if (r.error) return r.error.message();
  return redis::to_string(r.reply);
}

const std::string kMaxLen = std::to_string(kTicketStreamMaxLen);

// ---------------------------------------------------------------- scripts

// Before an attempt: is the entry still pending for this consumer? (Another
// forwarder may have taken it over while it waited here.) If so its idle
// time is reset, so that nobody takes it over during the attempt, and its
// retry state is returned: {first_ms or "", attempts, next_ms}; 0 otherwise.
// KEYS: outbox, attempts hash. ARGV: group, consumer, entry id.
const redis::Script& own_script() {
  static const redis::Script s(R"lua(
local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return 0 end
redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[3], 'JUSTID')
local h = redis.call('HMGET', KEYS[2], 'first_ms', 'attempts', 'next_ms')
return {h[1] or '', h[2] or '0', h[3] or '0'}
)lua");
  return s;
}

// Sets the idle time of the entries still pending for this consumer: 0 keeps
// the ones waiting for a retry here; a large value releases them at stop.
// Returns the ids that are no longer this consumer's.
// KEYS: outbox. ARGV: group, consumer, idle ms, entry ids...
const redis::Script& touch_script() {
  static const redis::Script s(R"lua(
local lost = {}
for i = 4, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1, ARGV[2])
  if #p == 0 then
    lost[#lost + 1] = ARGV[i]
  else
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'IDLE', ARGV[3], 'JUSTID')
  end
end
return lost
)lua");
  return s;
}

// Delivered: the entry leaves the outbox with its retry state.
// KEYS: outbox, attempts hash. ARGV: group, entry id.
const redis::Script& ack_script() {
  static const redis::Script s(R"lua(
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
return 1
)lua");
  return s;
}

// A failed attempt: counted; the ticket is dead-lettered when retry_for has
// passed since its first attempt (or `force` is "1"), else its next attempt
// is recorded. Returns {dead (0|1), attempts}.
// KEYS: outbox, attempts hash, dead-letter stream.
// ARGV: group, entry id, ticket id, ticket, error, now ms, first ms (when
// none is stored), retry_for ms, next ms, hash TTL ms, force.
const redis::Script& fail_script() {
  static const redis::Script s(R"lua(
local first = redis.call('HGET', KEYS[2], 'first_ms') or ARGV[7]
local attempts = redis.call('HINCRBY', KEYS[2], 'attempts', 1)
if ARGV[11] == '1' or tonumber(ARGV[6]) - tonumber(first) >= tonumber(ARGV[8]) then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ')lua" + kMaxLen + R"lua(', '*', 'id', ARGV[3], 'ticket', ARGV[4],
             'error', ARGV[5], 'attempts', tostring(attempts), 'first_attempt_ms', first, 'dead_ms', ARGV[6])
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
  redis.call('XDEL', KEYS[1], ARGV[2])
  redis.call('DEL', KEYS[2])
  return {1, attempts}
end
redis.call('HSET', KEYS[2], 'first_ms', first, 'last_error', ARGV[5], 'next_ms', ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[10])
return {0, attempts}
)lua");
  return s;
}

// Replay: a dead entry back to the outbox, its retry state reset. Returns
// the new outbox entry id, or nil when the dead entry is gone (replayed by
// someone else meanwhile) or belongs to another ticket.
// KEYS: dead-letter stream, outbox, attempts hash. ARGV: dead entry id, ticket id.
const redis::Script& replay_script() {
  static const redis::Script s(R"lua(
local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])
if #e == 0 then return false end
local f = e[1][2]
local id, ticket
for i = 1, #f, 2 do
  if f[i] == 'id' then id = f[i + 1] elseif f[i] == 'ticket' then ticket = f[i + 1] end
end
if id ~= ARGV[2] then return false end
local added = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ')lua" + kMaxLen + R"lua(', '*',
                         'id', id, 'ticket', ticket or '')
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[3])
return added
)lua");
  return s;
}

// Consumers of the group with nothing pending, idle longer than the expiry,
// other than the caller, are removed (in a script: none of them can read an
// entry between the check and the removal). Returns how many.
// KEYS: outbox. ARGV: group, consumer, expiry ms.
const redis::Script& cleanup_script() {
  static const redis::Script s(R"lua(
local removed = 0
for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local name, pending, idle
  for i = 1, #c, 2 do
    if c[i] == 'name' then name = c[i + 1]
    elseif c[i] == 'pending' then pending = c[i + 1]
    elseif c[i] == 'idle' then idle = c[i + 1] end
  end
  if name ~= ARGV[2] and pending == 0 and idle > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    removed = removed + 1
  end
end
return removed
)lua");
  return s;
}

// ---------------------------------------------------------------- entries

// An outbox entry as read.
struct Entry {
  std::string entry_id;
  std::string id;      // the ticket id
  std::string ticket;  // its JSON
  bool gone = false;   // the entry was deleted while pending (no fields)
  int64_t next_ms = 0;  // held: when to attempt it again
};

// [entry id, [field, value, ...]] (XREADGROUP, XAUTOCLAIM).
std::optional<Entry> parse_entry(const redis::Reply& r) {
  if (!r.is_array() || r.elements.size() != 2 || !r.elements[0].is_string()) return std::nullopt;
  Entry e;
  e.entry_id = r.elements[0].str;
  const redis::Reply& fields = r.elements[1];
  if (!fields.is_array()) {
    e.gone = true;
    return e;
  }
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2) {
    const std::string& name = fields.elements[i].str;
    if (name == "id") e.id = fields.elements[i + 1].str;
    if (name == "ticket") e.ticket = fields.elements[i + 1].str;
  }
  return e;
}

int64_t field_int(const redis::Reply& r) { return r.to_int().value_or(0); }

// ---------------------------------------------------------------- signing

std::string base64(const unsigned char* data, std::size_t size) {
  std::string out(4 * ((size + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::optional<std::string> unbase64(std::string_view text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  std::size_t size = static_cast<std::size_t>(n);
  // EVP_DecodeBlock counts the padding as zero bytes.
  for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;
  out.resize(size);
  return out;
}

// Standard Webhooks: the key is the secret after "whsec_", base64-decoded.
// A secret without that prefix is used as it is (its bytes), as some
// receivers configure a plain shared string.
std::string signing_key(const std::string& secret) {
  constexpr std::string_view kPrefix = "whsec_";
  if (!secret.starts_with(kPrefix)) return secret;
  auto key = unbase64(std::string_view(secret).substr(kPrefix.size()));
  if (!key) throw std::invalid_argument("tickets.secret: a \"whsec_\" secret must be base64 after the prefix");
  return std::move(*key);
}

// "v1,<base64 of HMAC-SHA256(key, "<id>.<timestamp>.<body>")>".
std::string webhook_signature(const std::string& key, std::string_view id, std::string_view timestamp,
                              std::string_view body) {
  std::string content;
  content.reserve(id.size() + timestamp.size() + body.size() + 2);
  content.append(id).append(".").append(timestamp).append(".").append(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(content.data()),
       content.size(), mac, &size);
  return "v1," + base64(mac, size);
}

// ---------------------------------------------------------------- HTTP

struct HttpEndpoint {
  bool tls = false;
  std::string host;         // resolved, sent as SNI and verified: no brackets
  std::string port;
  std::string host_header;  // as written in the URL
  std::string path;         // path and query; never empty
  std::string origin;       // scheme://host:port, for logs (the path may hold a token)
};

// Throws std::invalid_argument, naming `what` but not the URL (it may hold
// a token).
HttpEndpoint parse_endpoint(std::string_view url, std::string_view what) {
  const auto fail = [&](std::string_view why) {
    return std::invalid_argument(std::string(what) + ": " + std::string(why));
  };
  const auto parsed = boost::urls::parse_absolute_uri(url);
  if (!parsed) throw fail("not an absolute http:// or https:// URL");
  const boost::urls::url_view& u = *parsed;
  HttpEndpoint e;
  if (u.scheme_id() == boost::urls::scheme::https) {
    e.tls = true;
  } else if (u.scheme_id() != boost::urls::scheme::http) {
    throw fail("the scheme must be http or https");
  }
  if (u.has_userinfo()) throw fail("credentials in the URL are not supported");
  if (u.encoded_host().empty()) throw fail("the URL has no host");
  e.host = u.host_type() == boost::urls::host_type::name ? std::string(u.host_name()) : std::string(u.host_address());
  e.port = u.has_port() ? std::string(u.port()) : (e.tls ? "443" : "80");
  e.host_header = std::string(u.encoded_host_and_port());
  e.path = std::string(u.encoded_path());
  if (e.path.empty()) e.path = "/";
  if (u.has_query()) e.path.append("?").append(u.encoded_query());
  e.origin = std::string(u.scheme()) + "://" + e.host_header;
  return e;
}

// What an HTTP attempt came to: a status, or why there is none.
struct HttpAnswer {
  unsigned status = 0;
  std::string reason;
  std::string error;  // set when status is 0
};

// One exchange in flight: what its deadline, or stop, closes.
struct HttpExchange {
  explicit HttpExchange(asio::any_io_executor ex) : resolver(ex), socket(ex) {}
  tcp::resolver resolver;
  tcp::socket socket;
  std::optional<asio::ssl::stream<tcp::socket>> tls;  // takes the socket over
  bool timed_out = false;
  bool aborted = false;

  bool ended() const { return timed_out || aborted; }
  void close() {
    error_code ignored;
    resolver.cancel();
    tcp::socket& s = tls ? tls->next_layer() : socket;
    s.shutdown(tcp::socket::shutdown_both, ignored);
    s.close(ignored);
  }
};

// POSTs one request per connection ("Connection: close"): tickets are few,
// and a fresh connection per attempt has no stale state to recover from.
class HttpPoster {
 public:
  HttpPoster(HttpEndpoint endpoint, milliseconds timeout, const std::string& ca_file)
      : endpoint_(std::move(endpoint)), timeout_(timeout) {
    if (!endpoint_.tls) return;
    tls_.emplace(asio::ssl::context::tls_client);
    tls_->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                      asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(tls_->native_handle(), TLS1_2_VERSION);
    error_code ec;
    if (ca_file.empty()) {
      tls_->set_default_verify_paths(ec);
    } else {
      tls_->load_verify_file(ca_file, ec);
    }
    if (ec) throw std::invalid_argument("tickets: cannot load the trusted CAs: " + ec.message());
    tls_->set_verify_mode(asio::ssl::verify_peer);
  }

  const HttpEndpoint& endpoint() const { return endpoint_; }

  // The answer's status line, within the timeout. The body is not read.
  asio::awaitable<HttpAnswer> post(http::request<http::string_body> req) {
    const auto ex = co_await asio::this_coro::executor;
    auto x = std::make_shared<HttpExchange>(ex);
    current_ = x;
    asio::steady_timer deadline(ex, timeout_);
    deadline.async_wait([weak = std::weak_ptr<HttpExchange>(x)](error_code ec) {
      if (ec) return;
      if (auto p = weak.lock()) {
        p->timed_out = true;
        p->close();
      }
    });
    HttpAnswer a = co_await exchange(*x, req);
    deadline.cancel();
    x->close();
    if (a.status == 0 && x->timed_out) a.error = "timeout after " + std::to_string(timeout_.count()) + " ms";
    if (a.status == 0 && x->aborted) a.error = "abandoned at stop";
    co_return a;
  }

  // Ends the exchange in flight, if any (stop()).
  void abort() {
    if (auto x = current_.lock()) {
      x->aborted = true;
      x->close();
    }
  }

 private:
  static HttpAnswer failed(std::string_view stage, const error_code& ec) {
    return HttpAnswer{0, {}, std::string(stage) + ": " + ec.message()};
  }

  asio::awaitable<HttpAnswer> exchange(HttpExchange& x, http::request<http::string_body>& req) {
    auto [rec, endpoints] = co_await x.resolver.async_resolve(endpoint_.host, endpoint_.port, tuple_awaitable);
    if (rec || x.ended()) co_return failed("resolve", rec ? rec : asio::error::operation_aborted);
    auto [cec, ep] = co_await asio::async_connect(x.socket, endpoints, tuple_awaitable);
    if (cec || x.ended()) co_return failed("connect", cec ? cec : asio::error::operation_aborted);
    if (!tls_) co_return co_await send(x.socket, req);

    x.tls.emplace(std::move(x.socket), *tls_);
    auto& s = *x.tls;
    error_code not_ip;
    asio::ip::make_address(endpoint_.host, not_ip);
    if (not_ip) SSL_set_tlsext_host_name(s.native_handle(), endpoint_.host.c_str());  // names only (RFC 6066 §3)
    s.set_verify_callback(asio::ssl::host_name_verification(endpoint_.host));
    auto [hec] = co_await s.async_handshake(asio::ssl::stream_base::client, tuple_awaitable);
    if (hec || x.ended()) co_return failed("tls", hec ? hec : asio::error::operation_aborted);
    co_return co_await send(s, req);
  }

  template <class Stream>
  static asio::awaitable<HttpAnswer> send(Stream& s, http::request<http::string_body>& req) {
    auto [wec, written] = co_await http::async_write(s, req, tuple_awaitable);
    if (wec) co_return failed("send", wec);
    boost::beast::flat_buffer buffer;
    http::response_parser<http::empty_body> parser;
    auto [rec, read] = co_await http::async_read_header(s, buffer, parser, tuple_awaitable);
    if (rec) co_return failed("receive", rec);
    const auto& res = parser.get();
    co_return HttpAnswer{res.result_int(), std::string(res.reason()), {}};
  }

  HttpEndpoint endpoint_;
  milliseconds timeout_;
  std::optional<asio::ssl::context> tls_;
  std::weak_ptr<HttpExchange> current_;
};

http::request<http::string_body> json_post(const HttpEndpoint& ep, std::string target, std::string body) {
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, ep.host_header);
  req.set(http::field::user_agent, "smsgate");
  req.set(http::field::content_type, "application/json");
  req.set(http::field::connection, "close");
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

// "HTTP 503 Service Unavailable". Never the body: a receiver may echo the
// ticket back, phone number and all, and this text is logged and stored.
std::string http_error(const HttpAnswer& a) {
  std::string s = "HTTP " + std::to_string(a.status);
  if (!a.reason.empty()) s.append(" ").append(a.reason);
  if (a.status >= 300 && a.status < 400) s += " (redirects are not followed)";
  return s;
}

// ---------------------------------------------------------------- sinks

struct Outcome {
  bool delivered = false;
  std::string error;
};

class Sink {
 public:
  virtual ~Sink() = default;
  virtual asio::awaitable<Outcome> deliver(const Entry& e, const json::object& ticket) = 0;
  // Ends an attempt in flight (stop()); it completes as failed.
  virtual void abort() {}
  // For the start log line: no secret, no URL path.
  virtual std::string target() const = 0;
};

// JSON lines appended to a file, each fsync'd before the entry is acked. One
// forwarder per file: a failed write is cut off again (ftruncate) so that the
// next line starts on a line of its own.
class FileSink final : public Sink {
 public:
  explicit FileSink(std::string path) : path_(std::move(path)) {}

  asio::awaitable<Outcome> deliver(const Entry& e, const json::object& ticket) override {
    // A ticket written over several lines is written again on one.
    std::string line = e.ticket.find_first_of("\r\n") == std::string::npos ? e.ticket : json::serialize(ticket);
    line += '\n';
    co_return append(line);
  }

  std::string target() const override { return "file " + path_; }

 private:
  static Outcome os_error(std::string_view what, int err) {
    return {false, std::string(what) + ": " + std::generic_category().message(err)};
  }

  Outcome append(const std::string& line) const {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return os_error("open", errno);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return os_error("stat", err);
    }
    std::size_t done = 0;
    int err = 0;
    while (done < line.size()) {
      const ssize_t n = ::write(fd, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        err = n < 0 ? errno : EIO;
        break;
      }
      done += static_cast<std::size_t>(n);
    }
    const char* stage = "write";
    if (err == 0 && ::fsync(fd) != 0) {
      err = errno;
      stage = "fsync";
    }
    if (err != 0) {
      if (::ftruncate(fd, st.st_size) != 0) {
        // Nothing more to do: the error below is what the operator sees.
      }
      ::close(fd);
      return os_error(stage, err);
    }
    if (::close(fd) != 0) return os_error("close", errno);
    // A new file: its directory entry must be durable too.
    if (st.st_size == 0) sync_directory();
    return {true, {}};
  }

  void sync_directory() const {
    auto dir = std::filesystem::path(path_).parent_path();
    if (dir.empty()) dir = ".";
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    ::fsync(fd);
    ::close(fd);
  }

  std::string path_;
};

// Standard Webhooks (https://www.standardwebhooks.com): the ticket as the
// body, signed over "<id>.<timestamp>.<body>".
class WebhookSink final : public Sink {
 public:
  WebhookSink(const config::Tickets& t, const std::string& ca_file)
      : poster_(parse_endpoint(t.webhook, "tickets.webhook"), t.timeout, ca_file),
        key_(signing_key(t.secret.value)) {}

  asio::awaitable<Outcome> deliver(const Entry& e, const json::object&) override {
    const auto& ep = poster_.endpoint();
    auto req = json_post(ep, ep.path, e.ticket);
    const std::string timestamp = std::to_string(unix_ms() / 1000);
    req.set("webhook-id", e.id);
    req.set("webhook-timestamp", timestamp);
    // No secret configured: sent unsigned (the configuration check asks for one).
    if (!key_.empty()) req.set("webhook-signature", webhook_signature(key_, e.id, timestamp, e.ticket));
    req.set("Idempotency-Key", e.id);
    const HttpAnswer a = co_await poster_.post(std::move(req));
    if (a.status == 0) co_return Outcome{false, a.error};
    if (a.status >= 200 && a.status < 300) co_return Outcome{true, {}};
    co_return Outcome{false, http_error(a)};
  }

  void abort() override { poster_.abort(); }
  std::string target() const override { return "webhook " + poster_.endpoint().origin; }

 private:
  HttpPoster poster_;
  std::string key_;
};

// The value of a ticket field: "due.resolution" looks into objects (a key
// with a dot in it is found first).
const json::value* ticket_field(const json::object& ticket, std::string_view name) {
  if (const auto* v = ticket.if_contains(name)) return v;
  const json::object* obj = &ticket;
  const json::value* v = nullptr;
  for (std::size_t start = 0;;) {
    const std::size_t dot = name.find('.', start);
    v = obj->if_contains(name.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (!v || dot == std::string_view::npos) return v;
    obj = v->if_object();
    if (!obj) return nullptr;
    start = dot + 1;
  }
}

// A scalar as text: strings as they are, the rest as JSON.
std::string scalar_text(const json::value& v) {
  if (const auto* s = v.if_string()) return std::string(*s);
  if (v.is_null()) return "-";
  return json::serialize(v);
}

std::string string_field(const json::object& ticket, std::string_view name, std::string_view fallback) {
  const auto* v = ticket.if_contains(name);
  return v && v->is_string() ? std::string(v->get_string()) : std::string(fallback);
}

// One line: scalars as text, objects as "k=v, k=v".
std::string one_line(const json::value& v) {
  if (const auto* o = v.if_object()) {
    std::string s;
    for (const auto& [k, x] : *o) {
      if (!s.empty()) s += ", ";
      s.append(k).append("=").append(x.is_structured() ? json::serialize(x) : scalar_text(x));
    }
    return s;
  }
  return v.is_structured() ? json::serialize(v) : scalar_text(v);
}

void render_field(std::string& out, std::string_view indent, std::string_view key, const json::value& v) {
  out.append(indent).append(key).append(":");
  if (const auto* o = v.if_object()) {
    out += '\n';
    const std::string deeper = std::string(indent) + "  ";
    for (const auto& [k, x] : *o) render_field(out, deeper, k, x);
    return;
  }
  if (const auto* a = v.if_array()) {
    if (a->empty()) {
      out += " -\n";
    } else if (std::none_of(a->begin(), a->end(), [](const json::value& x) { return x.is_structured(); })) {
      out += ' ';
      for (std::size_t i = 0; i < a->size(); ++i) out.append(i ? ", " : "").append(scalar_text((*a)[i]));
      out += '\n';
    } else {
      out += '\n';
      for (const auto& x : *a) out.append(indent).append("  - ").append(one_line(x)).append("\n");
    }
    return;
  }
  const std::string text = scalar_text(v);
  if (text.find('\n') == std::string::npos) {
    out.append(" ").append(text).append("\n");
    return;
  }
  out += '\n';
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t nl = std::min(text.find('\n', start), text.size());
    out.append(indent).append("  ").append(text, start, nl - start).append("\n");
    start = nl + 1;
  }
}

// The ticket for a person: every field in the order the ticket has them.
std::string ticket_text(const json::object& ticket) {
  std::string out = "SMS complaint ticket " + string_field(ticket, "id", "?") + "\n\n";
  for (const auto& [k, v] : ticket) render_field(out, "", k, v);
  return out;
}

// Request Tracker REST2: POST <url>/REST/2.0/ticket, 201 Created. RT has no
// idempotency key: an answer lost after RT created the ticket makes a second
// one (map "id" to a custom field to spot it).
class RequestTrackerSink final : public Sink {
 public:
  RequestTrackerSink(const config::Tickets& t, const std::string& ca_file)
      : config_(t.request_tracker),
        poster_(parse_endpoint(t.request_tracker.url, "tickets.request_tracker.url"), t.timeout, ca_file) {
    // The base URL may have a path (https://example.com/rt): the API is under it.
    std::string base = poster_.endpoint().path;
    if (const auto q = base.find('?'); q != std::string::npos) base.resize(q);
    while (!base.empty() && base.back() == '/') base.pop_back();
    target_ = base + "/REST/2.0/ticket";
  }

  asio::awaitable<Outcome> deliver(const Entry& e, const json::object& ticket) override {
    json::object body;
    body["Queue"] = config_.queue;
    const std::string number = string_field(ticket, "number", "");
    body["Subject"] = "[" + string_field(ticket, "severity", "normal") + "] SMS complaint " +
                      string_field(ticket, "category", "complaint") + " from " +
                      (number.empty() ? std::string("an unknown number") : policy::mask_number(number));
    body["Content"] = ticket_text(ticket);
    body["ContentType"] = "text/plain";
    json::object fields;
    for (const auto& [rt_name, field] : config_.custom_fields) {
      const json::value* v = ticket_field(ticket, field);
      if (!v || v->is_null()) continue;
      if (const auto* a = v->if_array()) {
        json::array values;  // a multi-value custom field
        for (const auto& x : *a) values.push_back(json::string(one_line(x)));
        fields[rt_name] = std::move(values);
      } else {
        fields[rt_name] = v->is_object() ? json::serialize(*v) : scalar_text(*v);
      }
    }
    if (!fields.empty()) body["CustomFields"] = std::move(fields);

    auto req = json_post(poster_.endpoint(), target_, json::serialize(body));
    req.set(http::field::authorization, "token " + config_.token.value);
    req.set(http::field::accept, "application/json");
    const HttpAnswer a = co_await poster_.post(std::move(req));
    if (a.status == 0) co_return Outcome{false, a.error};
    if (a.status == 201) co_return Outcome{true, {}};
    co_return Outcome{false, http_error(a)};
  }

  void abort() override { poster_.abort(); }
  std::string target() const override { return "request_tracker " + poster_.endpoint().origin; }

 private:
  config::RequestTracker config_;
  HttpPoster poster_;
  std::string target_;
};

std::unique_ptr<Sink> make_sink(const config::Tickets& t, const ForwarderOptions& o) {
  switch (t.sink) {
    case config::TicketSink::webhook: return std::make_unique<WebhookSink>(t, o.ca_file);
    case config::TicketSink::request_tracker: return std::make_unique<RequestTrackerSink>(t, o.ca_file);
    case config::TicketSink::file:
    case config::TicketSink::none: break;
  }
  return std::make_unique<FileSink>(t.file.empty() ? std::string("tickets.jsonl") : t.file);
}

}  // namespace

const boost::system::error_category& ticket_category() {
  static const TicketCategory category;
  return category;
}

// ---------------------------------------------------------------- outbox functions

asio::awaitable<error_code> enqueue_ticket(redis::Client& redis, std::string_view id, std::string_view json) {
  const std::array<std::string_view, 10> args{"XADD", kTicketOutbox, "MAXLEN", "~", kMaxLen,
                                               "*",    "id",         id,       "ticket", json};
  const redis::Result r = co_await redis.command(std::span<const std::string_view>(args));
  co_return failure_of(r);
}

asio::awaitable<std::pair<error_code, std::vector<DeadTicket>>> list_dead(redis::Client& redis, std::size_t count,
                                                                          std::string_view after) {
  const std::string start = after.empty() ? std::string("-") : "(" + std::string(after);
  const redis::Result r =
      co_await redis.command("XRANGE", kTicketDead, start, "+", "COUNT", std::max<std::size_t>(count, 1));
  std::vector<DeadTicket> out;
  if (const auto ec = failure_of(r)) co_return std::pair(ec, std::move(out));
  if (!r.reply.is_array()) co_return std::pair(error_code(TicketErrc::bad_reply), std::move(out));
  for (const auto& item : r.reply.elements) {
    if (!item.is_array() || item.elements.size() != 2 || !item.elements[1].is_array()) continue;
    DeadTicket d;
    d.entry_id = item.elements[0].str;
    const auto& f = item.elements[1].elements;
    for (std::size_t i = 0; i + 1 < f.size(); i += 2) {
      const std::string& name = f[i].str;
      if (name == "id") d.id = f[i + 1].str;
      else if (name == "ticket") d.ticket = f[i + 1].str;
      else if (name == "error") d.error = f[i + 1].str;
      else if (name == "attempts") d.attempts = field_int(f[i + 1]);
      else if (name == "first_attempt_ms") d.first_attempt_ms = field_int(f[i + 1]);
      else if (name == "dead_ms") d.dead_ms = field_int(f[i + 1]);
    }
    out.push_back(std::move(d));
  }
  co_return std::pair(error_code(), std::move(out));
}

asio::awaitable<error_code> replay_dead(redis::Client& redis, std::string_view id_view) {
  const std::string id(id_view);
  const std::string attempts_key = ticket_attempts_key(id);
  // Newest first, a page at a time.
  std::string end = "+";
  for (;;) {
    const redis::Result r = co_await redis.command("XREVRANGE", kTicketDead, end, "-", "COUNT", 200);
    if (const auto ec = failure_of(r)) co_return ec;
    if (!r.reply.is_array()) co_return TicketErrc::bad_reply;
    if (r.reply.elements.empty()) co_return TicketErrc::not_found;
    for (const auto& item : r.reply.elements) {
      const auto e = parse_entry(item);
      if (!e || e->id != id) continue;
      const std::array<std::string_view, 3> keys{kTicketDead, kTicketOutbox, attempts_key};
      const std::array<std::string_view, 2> args{e->entry_id, id};
      const redis::Result moved = co_await redis.eval(replay_script(), keys, args);
      if (const auto ec = failure_of(moved)) co_return ec;
      if (moved.reply.is_nil()) continue;  // replayed by someone else meanwhile: an older one?
      log_event(spdlog::level::info, "ticket_replayed", {{"ticket", id}, {"entry", moved.reply.str}});
      co_return error_code();
    }
    const auto& last = r.reply.elements.back();
    if (!last.is_array() || last.elements.empty()) co_return TicketErrc::bad_reply;
    end = "(" + last.elements[0].str;
  }
}

std::string ticket_consumer_name(std::string_view node) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string suffix;
  for (uint32_t v = rd(), i = 0; i < 6; ++i, v >>= 4) suffix += kHex[v & 0xF];
  return std::string(node) + "-" + std::to_string(::getpid()) + "-" + suffix;
}

// ---------------------------------------------------------------- the loop

// co_await results are stored before they are tested: GCC 12 miscompiled
// `if (!co_await write_ack(...))` here (the frame corrupted, SIGILL at a
// later resume).

struct TicketForwarder::Core {
  Core(asio::any_io_executor executor, redis::ClientConfig redis_config, config::Tickets t, std::string name,
       ForwarderOptions o)
      : ex(std::move(executor)),
        tickets(std::move(t)),
        consumer(std::move(name)),
        options(std::move(o)),
        sink(make_sink(tickets, options)),
        wake(ex),
        ended(ex),
        rng(std::random_device{}()) {
    // Nobody may take an entry over while its attempt can still succeed.
    claim_idle = std::max(options.claim_idle, milliseconds(tickets.timeout) + milliseconds(1'000));
    block = std::clamp(options.block, milliseconds(1), std::max(milliseconds(1), redis_config.request_timeout / 2));
    if (redis_config.client_name.empty()) redis_config.client_name = "smsgate-tickets";
    redis = redis::Client::create(ex, std::move(redis_config));
  }

  asio::any_io_executor ex;
  config::Tickets tickets;
  std::string consumer;
  ForwarderOptions options;
  milliseconds claim_idle{};
  milliseconds block{};
  std::unique_ptr<Sink> sink;
  std::shared_ptr<redis::Client> redis;
  TicketCounters counters;

  std::deque<Entry> queue;            // read or taken over, not attempted yet
  std::map<std::string, Entry> held;  // entry id -> waiting for its next attempt
  std::vector<std::pair<std::string, std::string>> unacked;  // delivered, XACK not written: entry id, ticket id
  std::string in_flight;              // the entry being attempted
  std::string claim_cursor = "0-0";
  Clock::time_point next_claim{}, next_touch{}, next_cleanup{};
  bool group_ready = false;
  bool started = false, stopping = false, aborting = false, finished = false;
  asio::steady_timer wake;   // the loop's pauses; stop() cancels it
  asio::steady_timer ended;  // stop() waits here; the loop's end cancels it
  std::mt19937_64 rng;

  static asio::awaitable<void> run(std::shared_ptr<Core> self) { co_await self->loop(); }

  asio::awaitable<void> loop() {
    log_event(spdlog::level::info, "ticket_forwarder_started", {{"consumer", consumer}, {"sink", sink->target()}});
    while (!stopping) {
      if (!redis->connected()) {
        group_ready = false;
        co_await redis->wait_for(redis::State::connected, milliseconds(1'000));
        continue;
      }
      if (!group_ready) {
        group_ready = co_await create_group();
        if (!group_ready) {
          co_await pause(milliseconds(1'000));
          continue;
        }
      }
      co_await flush_acks();
      const auto now = Clock::now();
      if (now >= next_touch) {
        co_await touch(held_ids(), milliseconds(0));
        next_touch = now + claim_idle / 3;
      }
      if (now >= next_cleanup) {
        co_await remove_idle_consumers();
        next_cleanup = now + options.cleanup_interval;
      }
      if (now >= next_claim && !full()) {
        const bool more = co_await take_over();
        next_claim = now + (more ? milliseconds(0) : options.claim_interval);
      }
      co_await attempt_queued();
      if (stopping) break;
      co_await read_new();
      co_await attempt_queued();
    }
    if (!aborting) co_await wind_down();
    log_event(spdlog::level::info, "ticket_forwarder_stopped",
              {{"consumer", consumer},
               {"delivered", std::to_string(counters.delivered.load())},
               {"dead_lettered", std::to_string(counters.dead_lettered.load())},
               {"abandoned", aborting ? "yes" : "no"}});
  }

  void finish() {
    finished = true;
    ended.cancel();
  }

  asio::awaitable<void> pause(milliseconds d) {
    wake.expires_after(d);
    co_await wake.async_wait(tuple_awaitable);
  }

  // At id 0: tickets written before the group existed are delivered too
  // (delivered ones are deleted, so 0 never means "again").
  asio::awaitable<bool> create_group() {
    const auto r = co_await redis->command("XGROUP", "CREATE", kTicketOutbox, kTicketGroup, "0", "MKSTREAM");
    if (r.ok() || (!r.error && r.reply.error_kind() == "BUSYGROUP")) co_return true;
    log_event(spdlog::level::warn, "ticket_group_failed", {{"error", describe(r)}});
    co_return false;
  }

  bool knows(const std::string& entry_id) const {
    if (entry_id == in_flight || held.contains(entry_id)) return true;
    for (const auto& e : queue) {
      if (e.entry_id == entry_id) return true;
    }
    for (const auto& [id, ticket] : unacked) {
      if (id == entry_id) return true;
    }
    return false;
  }

  std::vector<std::string> held_ids() const {
    std::vector<std::string> ids;
    for (const auto& [id, e] : held) ids.push_back(id);
    return ids;
  }

  // As many tickets wait here as may: new ones are left to other nodes.
  bool full() const { return held.size() >= std::max<std::size_t>(options.max_waiting, 1); }
  // Entries to read or take over at once: each may end up waiting here.
  std::size_t room() const {
    const std::size_t limit = std::max<std::size_t>(options.max_waiting, 1);
    return std::clamp<std::size_t>(limit - std::min(held.size(), limit), 1, std::max<uint32_t>(options.batch, 1));
  }

  void hold(Entry e) {
    held[e.entry_id] = std::move(e);
    counters.waiting.store(held.size(), std::memory_order_relaxed);
  }

  // New entries. Blocks no longer than until the next thing to do.
  asio::awaitable<void> read_new() {
    const auto now = Clock::now();
    auto wait = std::min({block, ceil_ms(next_claim - now), ceil_ms(next_touch - now)});
    if (!held.empty()) {
      int64_t first_due = held.begin()->second.next_ms;
      for (const auto& [id, e] : held) first_due = std::min(first_due, e.next_ms);
      wait = std::min(wait, milliseconds(first_due - unix_ms()));
    }
    if (full()) {  // nothing new until a waiting ticket is done with
      if (wait.count() > 0) co_await pause(wait);
      co_return;
    }
    const std::string count = std::to_string(room());
    const std::string block_ms = std::to_string(wait.count());
    std::vector<std::string_view> argv{"XREADGROUP", "GROUP", kTicketGroup, consumer, "COUNT", count};
    if (wait.count() > 0) argv.insert(argv.end(), {"BLOCK", block_ms});
    argv.insert(argv.end(), {"STREAMS", kTicketOutbox, ">"});
    const redis::Result r = co_await redis->command(std::span<const std::string_view>(argv));
    if (r.error) co_return;  // not connected, closed: the loop waits for Redis
    if (r.reply.is_error()) {
      if (r.reply.error_kind() == "NOGROUP") {
        group_ready = false;  // the stream was deleted
      } else {
        log_event(spdlog::level::warn, "ticket_read_failed", {{"error", r.reply.str}});
        co_await pause(milliseconds(1'000));
      }
      co_return;
    }
    // [[stream, [entry, ...]]] or nil.
    if (!r.reply.is_array() || r.reply.elements.empty()) co_return;
    const auto& stream = r.reply.elements[0];
    if (!stream.is_array() || stream.elements.size() != 2) co_return;
    for (const auto& item : stream.elements[1].elements) {
      if (auto e = parse_entry(item)) queue.push_back(std::move(*e));
    }
  }

  static milliseconds ceil_ms(Clock::duration d) {
    return std::max(milliseconds(0), std::chrono::ceil<milliseconds>(d));
  }

  // Entries idle in any consumer's pending list (a node that died, or this
  // one after a Redis error): XAUTOCLAIM, a page per call. True when there
  // are more pages.
  asio::awaitable<bool> take_over() {
    const redis::Result r = co_await redis->command("XAUTOCLAIM", kTicketOutbox, kTicketGroup, consumer,
                                                    claim_idle.count(), claim_cursor, "COUNT", room());
    if (!r.ok() || !r.reply.is_array() || r.reply.elements.size() < 2 || !r.reply.elements[0].is_string()) {
      if (!r.error) log_event(spdlog::level::warn, "ticket_claim_failed", {{"error", describe(r)}});
      co_return false;
    }
    claim_cursor = r.reply.elements[0].str;
    for (const auto& item : r.reply.elements[1].elements) {
      auto e = parse_entry(item);
      if (!e || knows(e->entry_id)) continue;
      counters.reclaimed.fetch_add(1, std::memory_order_relaxed);
      log_event(spdlog::level::info, "ticket_taken_over", {{"ticket", e->id}, {"entry", e->entry_id}});
      queue.push_back(std::move(*e));
    }
    co_return claim_cursor != "0-0";
  }

  // Idle times of entries still ours (0: keep them; large: release them).
  // Entries no longer ours are forgotten.
  asio::awaitable<void> touch(std::vector<std::string> ids, milliseconds idle) {
    const std::string idle_ms = std::to_string(idle.count());
    for (std::size_t at = 0; at < ids.size(); at += 100) {
      std::vector<std::string_view> args{kTicketGroup, consumer, idle_ms};
      for (std::size_t i = at; i < std::min(ids.size(), at + 100); ++i) args.push_back(ids[i]);
      const std::array<std::string_view, 1> keys{kTicketOutbox};
      const redis::Result r = co_await redis->eval(touch_script(), keys, args);
      if (!r.ok() || !r.reply.is_array()) co_return;
      for (const auto& lost : r.reply.elements) held.erase(lost.str);
    }
    counters.waiting.store(held.size(), std::memory_order_relaxed);
  }

  asio::awaitable<void> remove_idle_consumers() {
    const std::string expiry = std::to_string(options.consumer_expiry.count());
    const std::array<std::string_view, 1> keys{kTicketOutbox};
    const std::array<std::string_view, 3> args{kTicketGroup, consumer, expiry};
    const redis::Result r = co_await redis->eval(cleanup_script(), keys, args);
    if (r.ok() && r.reply.to_int().value_or(0) > 0) {
      log_event(spdlog::level::info, "ticket_consumers_removed", {{"count", std::to_string(r.reply.integer)}});
    }
  }

  // The queue, then the held entries that are due, oldest due first.
  asio::awaitable<void> attempt_queued() {
    const int64_t now = unix_ms();
    std::vector<Entry> due;
    for (auto it = held.begin(); it != held.end();) {
      if (it->second.next_ms <= now) {
        due.push_back(std::move(it->second));
        it = held.erase(it);
      } else {
        ++it;
      }
    }
    std::sort(due.begin(), due.end(), [](const Entry& a, const Entry& b) { return a.next_ms < b.next_ms; });
    for (auto& e : due) queue.push_back(std::move(e));
    counters.waiting.store(held.size(), std::memory_order_relaxed);
    while (!queue.empty() && !stopping) {
      Entry e = std::move(queue.front());
      queue.pop_front();
      co_await attempt(std::move(e));
    }
  }

  asio::awaitable<void> attempt(Entry e) {
    if (e.gone) {
      co_await ack(e);
      co_return;
    }
    if (e.id.empty() || e.ticket.empty()) {
      co_await failed(e, "outbox entry without id or ticket", unix_ms(), 0, true);
      co_return;
    }
    const int64_t start_ms = unix_ms();
    const std::string attempts_key = ticket_attempts_key(e.id);
    const std::array<std::string_view, 2> keys{kTicketOutbox, attempts_key};
    const std::array<std::string_view, 3> args{kTicketGroup, consumer, e.entry_id};
    const redis::Result own = co_await redis->eval(own_script(), keys, args);
    // A Redis error: forgotten here; it stays pending and is taken over
    // (by any node, this one included) after claim_idle.
    if (!own.ok()) co_return;
    if (!own.reply.is_array() || own.reply.elements.size() != 3) co_return;  // no longer ours
    const auto& state = own.reply.elements;
    const int64_t first_ms = state[0].to_int().value_or(start_ms);
    const int64_t attempts = state[1].to_int().value_or(0);
    const int64_t next_ms = state[2].to_int().value_or(0);
    if (next_ms > start_ms) {  // another forwarder's backoff, taken over
      e.next_ms = next_ms;
      hold(std::move(e));
      co_return;
    }
    error_code jec;
    const json::value parsed = json::parse(e.ticket, jec);
    if (jec || !parsed.is_object()) {
      co_await failed(e, "the ticket is not a JSON object", first_ms, attempts, true);
      co_return;
    }
    in_flight = e.entry_id;
    const Outcome o = co_await sink->deliver(e, parsed.get_object());
    in_flight.clear();
    if (aborting) co_return;  // abandoned by stop(): left pending, taken over later
    if (o.delivered) {
      counters.delivered.fetch_add(1, std::memory_order_relaxed);
      log_event(spdlog::level::debug, "ticket_delivered",
                {{"ticket", e.id}, {"attempt", std::to_string(attempts + 1)}});
      co_await ack(e);
      co_return;
    }
    co_await failed(e, o.error, first_ms, attempts, false);
  }

  // XACK + XDEL; kept for the next loop when Redis cannot be written.
  asio::awaitable<void> ack(const Entry& e) {
    const bool written = co_await write_ack(e.entry_id, e.id);
    if (!written) unacked.emplace_back(e.entry_id, e.id);
  }

  asio::awaitable<bool> write_ack(const std::string& entry_id, const std::string& id) {
    const std::string attempts_key = ticket_attempts_key(id);
    const std::array<std::string_view, 2> keys{kTicketOutbox, attempts_key};
    const std::array<std::string_view, 2> args{kTicketGroup, entry_id};
    const redis::Result r = co_await redis->eval(ack_script(), keys, args);
    if (!r.ok()) {
      log_event(spdlog::level::warn, "ticket_ack_failed", {{"ticket", id}, {"error", describe(r)}});
      co_return false;
    }
    co_return true;
  }

  asio::awaitable<void> flush_acks() {
    auto pending = std::move(unacked);
    unacked.clear();
    for (auto& [entry_id, id] : pending) {
      const bool written = co_await write_ack(entry_id, id);
      if (!written) unacked.emplace_back(std::move(entry_id), std::move(id));
    }
  }

  milliseconds backoff(int64_t failures) {
    double d = static_cast<double>(options.backoff_initial.count());
    for (int64_t i = 1; i < failures && d < static_cast<double>(options.backoff_max.count()); ++i) d *= 2;
    d = std::min(d, static_cast<double>(options.backoff_max.count()));
    const double j = std::clamp(options.backoff_jitter, 0.0, 1.0);
    d *= std::uniform_real_distribution<double>(1.0 - j, 1.0 + j)(rng);
    return milliseconds(static_cast<int64_t>(d));
  }

  // A failed attempt: counted in Redis, then retried later or dead-lettered.
  asio::awaitable<void> failed(Entry& e, const std::string& error, int64_t first_ms, int64_t attempts, bool force) {
    const int64_t now = unix_ms();
    const int64_t retry_for = milliseconds(tickets.retry_for).count();
    // The last attempt is made when retry_for is over, not a backoff later.
    const int64_t next = std::min(now + backoff(attempts + 1).count(), first_ms + retry_for);
    const std::string attempts_key = ticket_attempts_key(e.id);
    const std::string now_s = std::to_string(now), first_s = std::to_string(first_ms),
                      retry_s = std::to_string(retry_for), next_s = std::to_string(next),
                      ttl_s = std::to_string(retry_for + kAttemptsSlack.count());
    const std::array<std::string_view, 3> keys{kTicketOutbox, attempts_key, kTicketDead};
    const std::array<std::string_view, 11> args{kTicketGroup, e.entry_id, e.id,  e.ticket, error,        now_s,
                                                first_s,      retry_s,    next_s, ttl_s,   force ? "1" : "0"};
    const redis::Result r = co_await redis->eval(fail_script(), keys, args);
    if (!r.ok() || !r.reply.is_array() || r.reply.elements.size() != 2) {
      // Not counted: it stays pending and is taken over after claim_idle.
      log_event(spdlog::level::warn, "ticket_delivery_failed",
                {{"ticket", e.id}, {"error", error}, {"redis_error", describe(r)}});
      co_return;
    }
    const bool dead = r.reply.elements[0].to_int().value_or(0) == 1;
    const std::string count = std::to_string(r.reply.elements[1].to_int().value_or(0));
    if (dead) {
      counters.dead_lettered.fetch_add(1, std::memory_order_relaxed);
      log_event(spdlog::level::err, "ticket_dead_lettered",
                {{"ticket", e.id}, {"entry", e.entry_id}, {"attempts", count}, {"error", error}});
      co_return;
    }
    counters.retrying.fetch_add(1, std::memory_order_relaxed);
    log_event(spdlog::level::warn, "ticket_delivery_failed",
              {{"ticket", e.id}, {"attempt", count}, {"error", error}, {"retry_in_ms", std::to_string(next - now)}});
    e.next_ms = next;
    hold(std::move(e));
  }

  // Graceful end: acks written, entries still here released to other nodes.
  asio::awaitable<void> wind_down() {
    co_await flush_acks();
    std::vector<std::string> ids = held_ids();
    for (const auto& e : queue) ids.push_back(e.entry_id);
    co_await touch(std::move(ids), kReleasedIdle);
    held.clear();
    queue.clear();
    counters.waiting.store(0, std::memory_order_relaxed);
  }

  asio::awaitable<void> wait_ended(milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (!finished && Clock::now() < deadline) {
      ended.expires_at(deadline);
      co_await ended.async_wait(tuple_awaitable);
    }
  }

  // The attempt in flight abandoned, Redis closed: the loop ends at once.
  void abort() {
    aborting = stopping = true;
    wake.cancel();
    sink->abort();
    redis->stop();
  }
};

TicketForwarder::TicketForwarder(asio::any_io_executor executor, redis::ClientConfig redis, config::Tickets tickets,
                                 std::string consumer, ForwarderOptions options)
    : core_(std::make_shared<Core>(std::move(executor), std::move(redis), std::move(tickets), std::move(consumer),
                                   std::move(options))) {}

TicketForwarder::~TicketForwarder() {
  if (core_->started && !core_->finished) {
    core_->abort();
  } else {
    core_->redis->stop();
  }
}

void TicketForwarder::start() {
  if (core_->started) return;
  core_->started = true;
  core_->redis->start();
  asio::co_spawn(core_->ex, Core::run(core_), [core = core_](std::exception_ptr e) {
    if (e) {
      log_event(spdlog::level::err, "ticket_forwarder_failed", {{"consumer", core->consumer}, {"error", exception_text(e)}});
    }
    core->finish();
  });
}

asio::awaitable<void> TicketForwarder::stop(std::chrono::milliseconds grace) {
  const auto core = core_;
  if (core->started && !core->finished) {
    core->stopping = true;
    core->wake.cancel();
    co_await core->wait_ended(grace);
    if (!core->finished) {
      core->abort();
      co_await core->wait_ended(milliseconds(2'000));
    }
  }
  core->redis->stop();
}

const TicketCounters& TicketForwarder::counters() const { return core_->counters; }
const std::string& TicketForwarder::consumer() const { return core_->consumer; }

}  // namespace smsgate::gateway
