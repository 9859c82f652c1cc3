#include "redis/client.hpp"

#include <hiredis/read.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <exception>
#include <ostream>
#include <random>
#include <variant>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

namespace smsgate::redis {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

// hiredis copies what it is fed into its own buffer and, every 1 KiB it
// consumes, moves the unconsumed rest to the front: feeding it in small
// chunks keeps that move small.
constexpr std::size_t kFeedChunk = 16 * 1024;
constexpr std::size_t kParserMaxBuf = 1024 * 1024;  // hiredis frees a larger idle buffer
constexpr int kMaxArray = 1 << 24;                  // elements; more is treated as a protocol error

class ErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "redis"; }
  std::string message(int ev) const override {
    switch (static_cast<Error>(ev)) {
      case Error::not_connected: return "not connected to redis";
      case Error::timeout: return "no reply from redis within the request timeout";
      case Error::closed: return "redis connection closed";
      case Error::protocol: return "redis protocol error";
      case Error::overloaded: return "too many redis commands in flight";
      case Error::handshake_failed: return "redis connection handshake failed";
    }
    return "unknown redis error";
  }
};

// ---- RESP encoding

void put_count(std::string& out, char kind, std::size_t n) {
  char buf[24];
  buf[0] = kind;
  char* end = std::to_chars(buf + 1, buf + sizeof buf - 2, n).ptr;
  *end++ = '\r';
  *end++ = '\n';
  out.append(buf, end);
}

void put_arg(std::string& out, std::string_view arg) {
  put_count(out, '$', arg.size());
  out.append(arg);
  out.append("\r\n", 2);
}

// ---- reply parsing: hiredis builds Reply objects in place. The root is the
// parser's privdata (Client::root_); elements live in their parent's vector,
// so nothing is allocated per reply but the strings and arrays themselves.

Reply* target(const redisReadTask* task, Reply::Type type) {
  Reply* r = task->parent ? &static_cast<Reply*>(task->parent->obj)->elements[static_cast<std::size_t>(task->idx)]
                          : static_cast<Reply*>(task->privdata);
  r->type = type;
  r->integer = 0;
  r->str.clear();
  r->elements.clear();
  return r;
}

void* create_string(const redisReadTask* task, char* s, size_t len) noexcept {
  try {
    const Reply::Type type = task->type == REDIS_REPLY_ERROR    ? Reply::Type::error
                             : task->type == REDIS_REPLY_STATUS ? Reply::Type::status
                                                                : Reply::Type::string;
    Reply* r = target(task, type);
    r->str.assign(s, len);
    return r;
  } catch (...) {
    return nullptr;  // hiredis reports out of memory: the connection closes
  }
}

void* create_array(const redisReadTask* task, int n) noexcept {
  if (n < 0 || n > kMaxArray) return nullptr;
  try {
    Reply* r = target(task, Reply::Type::array);
    r->elements.resize(static_cast<std::size_t>(n));
    return r;
  } catch (...) {
    return nullptr;
  }
}

void* create_integer(const redisReadTask* task, long long v) noexcept {
  Reply* r = target(task, Reply::Type::integer);
  r->integer = v;
  return r;
}

void* create_nil(const redisReadTask* task) noexcept { return target(task, Reply::Type::nil); }

void free_object(void*) noexcept {}  // owned by Client::root_

redisReplyObjectFunctions reply_functions = {create_string, create_array, create_integer, create_nil, free_object};

void describe(std::string& out, const Reply& r) {
  switch (r.type) {
    case Reply::Type::nil: out += "(nil)"; return;
    case Reply::Type::integer: out += std::to_string(r.integer); return;
    case Reply::Type::status: out += '+'; out += r.str; return;
    case Reply::Type::error: out += '-'; out += r.str; return;
    case Reply::Type::string:
      out += '"';
      out += r.str;
      out += '"';
      return;
    case Reply::Type::array:
      out += '[';
      for (std::size_t i = 0; i < r.elements.size(); ++i) {
        if (i > 0) out += ", ";
        describe(out, r.elements[i]);
      }
      out += ']';
      return;
  }
}

}  // namespace

// ---------------------------------------------------------------- errors, replies, encoding

const boost::system::error_category& error_category() noexcept {
  static const ErrorCategory category;
  return category;
}

std::optional<int64_t> Reply::to_int() const noexcept {
  if (type == Type::integer) return integer;
  if (type != Type::string && type != Type::status) return std::nullopt;
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(str.data(), str.data() + str.size(), v);
  if (ec != std::errc{} || end != str.data() + str.size() || str.empty()) return std::nullopt;
  return v;
}

int64_t Reply::as_int() const {
  if (auto v = to_int()) return *v;
  throw ReplyTypeError("redis reply is not an integer: " + to_string(*this));
}

std::string_view Reply::as_string() const {
  if (type != Type::string && type != Type::status && type != Type::error) {
    throw ReplyTypeError("redis reply is not a string: " + to_string(*this));
  }
  return str;
}

std::string_view Reply::error_kind() const {
  if (type != Type::error) return {};
  const std::string_view s = str;
  return s.substr(0, s.find(' '));
}

std::string to_string(const Reply& r) {
  std::string out;
  describe(out, r);
  return out;
}

std::ostream& operator<<(std::ostream& os, const Reply& r) { return os << to_string(r); }

void append_command(std::string& out, std::span<const std::string_view> args) {
  put_count(out, '*', args.size());
  for (std::string_view a : args) put_arg(out, a);
}

std::string_view to_string(State s) {
  switch (s) {
    case State::idle: return "idle";
    case State::connecting: return "connecting";
    case State::connected: return "connected";
    case State::disconnected: return "disconnected";
    case State::stopped: return "stopped";
  }
  return "unknown";
}

// ---------------------------------------------------------------- Script

Script::Script(std::string source) : source_(std::move(source)) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(source_.data(), source_.size(), md, &len, EVP_sha1(), nullptr) != 1) {
    throw std::runtime_error("SHA1 of a redis script failed");
  }
  static constexpr char digits[] = "0123456789abcdef";
  sha1_.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    sha1_ += digits[md[i] >> 4];
    sha1_ += digits[md[i] & 15];
  }
}

// ---------------------------------------------------------------- Impl

struct Client::Impl {
  using Self = std::shared_ptr<Client>;
  using Endpoint = asio::generic::stream_protocol::endpoint;

  static asio::awaitable<void> wait_signal(asio::steady_timer& t) { co_await t.async_wait(tuple_awaitable); }

  static void set_state(Client& c, State st, error_code reason = {}, std::string_view detail = {}) {
    if (c.state_ == st) return;
    c.state_ = st;
    if (reason) c.close_reason_ = reason;
    c.state_signal_.cancel();
    if (c.state_handler_) c.state_handler_(st, reason, detail);
  }

  static void wake_writer(Client& c) {
    if (c.writer_waiting_) {
      c.writer_waiting_ = false;
      c.write_signal_.cancel();
    }
  }

  // ---- the ring of commands in flight

  static void push(Client& c, Callback&& cb, const Script* script = nullptr, uint32_t retained = 0) {
    if (c.count_ == c.ring_.size()) {
      std::vector<Pending> bigger(std::max<std::size_t>(64, 2 * c.ring_.size()));
      for (std::size_t i = 0; i < c.count_; ++i) bigger[i] = std::move(c.ring_[(c.head_ + i) & (c.ring_.size() - 1)]);
      c.ring_.swap(bigger);
      c.head_ = 0;
    }
    Pending& p = c.ring_[(c.head_ + c.count_) & (c.ring_.size() - 1)];
    p.callback = std::move(cb);
    p.queued = Clock::now();
    p.script = script;
    p.retained = retained;
    ++c.count_;
    ++c.stats_.commands;
    wake_writer(c);
  }

  // Removes the oldest command; returns its callback.
  static Callback pop(Client& c) {
    Pending& p = c.ring_[c.head_];
    Callback cb = std::move(p.callback);
    if (p.retained > 0) {
      c.retained_head_ += p.retained;
      if (c.retained_head_ == c.retained_.size()) {
        c.retained_.clear();
        c.retained_head_ = 0;
      } else if (c.retained_head_ >= 64 * 1024 && 2 * c.retained_head_ >= c.retained_.size()) {
        c.retained_.erase(0, c.retained_head_);
        c.retained_head_ = 0;
      }
    }
    p.script = nullptr;
    p.retained = 0;
    c.head_ = (c.head_ + 1) & (c.ring_.size() - 1);
    --c.count_;
    ++c.head_seq_;
    return cb;
  }

  static void complete(Client& c, Callback& cb, Result&& r) {
    if (r.error) {
      ++c.stats_.failed;
      if (r.error == Error::timeout) ++c.stats_.timeouts;
    } else {
      ++c.stats_.replies;
    }
    if (cb) cb(std::move(r));
  }

  // ---- issuing commands

  // Fails a command that was not queued, outside the caller's stack.
  static void fail_soon(Client& c, Callback& cb, error_code ec) {
    ++c.stats_.failed;
    asio::post(c.executor_, [cb = std::move(cb), ec]() mutable {
      if (cb) cb(Result{ec, {}});
    });
  }

  // Whether a command may be queued now (internal: handshake, SCRIPT LOAD).
  static error_code admit(const Client& c, bool internal) {
    if (!c.open_ || (!internal && c.state_ != State::connected)) return Error::not_connected;
    if (!internal && c.count_ >= c.config_.max_outstanding) return Error::overloaded;
    return {};
  }

  static void submit(Client& c, std::span<const std::string_view> args, Callback& cb, bool internal) {
    error_code ec = admit(c, internal);
    if (!ec && args.empty()) ec = boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    if (ec) return fail_soon(c, cb, ec);
    append_command(c.pending_, args);
    push(c, std::move(cb));
  }

  // Runs `submit(callback)` and waits for the callback (resumed through a
  // post, so the waiting coroutine never runs inside the reader).
  template <class Submit>
  static asio::awaitable<Result> await_result(Self self, Submit submit) {
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Result)>(
        [&](auto handler) {
          Callback cb = [h = std::move(handler), c = self.get()](Result&& r) mutable {
            asio::post(c->executor_, [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
          };
          submit(cb);
        },
        asio::use_awaitable);
  }

  // ---- NOSCRIPT fallback

  // Whether `script` must be loaded again for the EVALSHA with sequence
  // number `seq`: not if a SCRIPT LOAD was queued after that EVALSHA (it
  // runs after whatever flushed the script, and before any retry queued now).
  static bool needs_load(Client& c, const Script* script, uint64_t seq) {
    const uint64_t load_seq = c.head_seq_ + c.count_;  // the SCRIPT LOAD about to be queued
    for (auto& [s, last] : c.loads_) {
      if (s != script) continue;
      if (last > seq) return false;
      last = load_seq;
      return true;
    }
    c.loads_.emplace_back(script, load_seq);
    return true;
  }

  // The oldest command is an EVALSHA answered NOSCRIPT: queue SCRIPT LOAD
  // (unless one is already on its way) and the same EVALSHA again, once.
  static void retry_eval(Client& c) {
    Pending& p = c.ring_[c.head_];
    const Script* script = p.script;
    const uint32_t len = p.retained;
    Callback cb = std::move(p.callback);
    if (needs_load(c, script, c.head_seq_)) {
      const std::string_view argv[] = {"SCRIPT", "LOAD", script->source()};
      append_command(c.pending_, argv);
      push(c, Callback{});
      ++c.stats_.script_loads;
    }
    c.pending_.append(c.retained_, c.retained_head_, len);  // still the oldest retained bytes
    push(c, std::move(cb));
    pop(c);  // the original (still the oldest)
  }

  // ---- connection

  static void close(Client& c, error_code reason, std::string_view detail = {},
                    Clock::time_point expired = Clock::time_point::min()) {
    if (!c.open_) return;
    c.open_ = false;
    error_code ignored;
    c.socket_.shutdown(asio::socket_base::shutdown_both, ignored);
    c.socket_.close(ignored);
    c.write_signal_.cancel();
    c.timeout_timer_.cancel();
    c.pending_.clear();
    set_state(c, c.stopped_ ? State::stopped : State::disconnected, reason, detail);
    while (c.count_ > 0) {
      const bool timed_out = c.ring_[c.head_].queued + c.config_.request_timeout <= expired;
      Callback cb = pop(c);
      complete(c, cb, Result{timed_out ? Error::timeout : Error::closed, {}});
    }
  }

  static asio::awaitable<error_code> connect(Client& c) {
    std::vector<Endpoint> endpoints;
    if (!c.unix_path_.empty()) {
      endpoints.emplace_back(asio::local::stream_protocol::endpoint(c.unix_path_));
    } else {
      auto [ec, results] = co_await c.resolver_.async_resolve(c.host_, c.port_, tuple_awaitable);
      if (ec) co_return ec;
      for (const auto& r : results) endpoints.emplace_back(r.endpoint());
    }
    using namespace asio::experimental::awaitable_operators;
    error_code ec = asio::error::host_not_found;
    for (const Endpoint& ep : endpoints) {
      if (c.stopped_) co_return asio::error::operation_aborted;
      error_code ignored;
      c.socket_.close(ignored);
      asio::steady_timer timer(c.executor_, c.config_.connect_timeout);
      auto r = co_await (c.socket_.async_connect(ep, tuple_awaitable) || timer.async_wait(tuple_awaitable));
      ec = r.index() == 0 ? std::get<0>(std::get<0>(r)) : make_error_code(asio::error::timed_out);
      if (!ec) break;
    }
    error_code ignored;
    if (ec) {
      c.socket_.close(ignored);
    } else if (c.unix_path_.empty()) {
      c.socket_.set_option(asio::ip::tcp::no_delay(true), ignored);
      c.socket_.set_option(asio::socket_base::keep_alive(true), ignored);
    }
    co_return ec;
  }

  static void open(Client& c) {
    c.open_ = true;
    c.pending_.clear();
    c.writing_.clear();
    c.retained_.clear();
    c.retained_head_ = 0;
    c.root_ = Reply{};
    c.parser_.reset(redisReaderCreateWithFunctions(&reply_functions));
    if (!c.parser_) throw std::bad_alloc();
    c.parser_->privdata = &c.root_;
    c.parser_->maxbuf = kParserMaxBuf;
  }

  static asio::awaitable<void> handshake(Self self) {
    Client& c = *self;
    std::vector<std::vector<std::string>> steps;
    if (!c.config_.password.empty()) {
      if (c.config_.username.empty()) steps.push_back({"AUTH", c.config_.password});
      else steps.push_back({"AUTH", c.config_.username, c.config_.password});
    }
    if (c.config_.db != 0) steps.push_back({"SELECT", std::to_string(c.config_.db)});
    if (!c.config_.client_name.empty()) steps.push_back({"CLIENT", "SETNAME", c.config_.client_name});
    steps.push_back({"PING"});
    for (const auto& step : steps) {
      const std::vector<std::string_view> argv(step.begin(), step.end());
      Result r = co_await await_result(self, [&](Callback& cb) { submit(c, argv, cb, true); });
      if (r.error) co_return;  // the connection closed meanwhile
      if (r.reply.is_error()) {
        close(c, Error::handshake_failed, r.reply.str);
        co_return;
      }
    }
    if (!c.open_) co_return;
    c.backoff_ = std::chrono::milliseconds(0);
    ++c.stats_.connects;
    set_state(c, State::connected);
  }

  static asio::awaitable<void> writer(Self self) {
    Client& c = *self;
    while (c.open_) {
      if (c.pending_.empty()) {
        c.writer_waiting_ = true;
        co_await wait_signal(c.write_signal_);
        c.writer_waiting_ = false;
        continue;
      }
      c.writing_.swap(c.pending_);
      c.pending_.clear();
      ++c.stats_.writes;
      auto [ec, n] = co_await asio::async_write(c.socket_, asio::buffer(c.writing_), tuple_awaitable);
      if (ec) {
        close(c, ec);
        break;
      }
      c.writing_.clear();
    }
  }

  // One whole reply is in c.root_: complete the oldest command with it.
  static void on_reply(Client& c, Clock::time_point now) {
    if (c.count_ == 0) {
      close(c, Error::protocol, "reply without a command");
      return;
    }
    Pending& p = c.ring_[c.head_];
    if (p.script && c.root_.is_error() && c.root_.error_kind() == "NOSCRIPT") {
      retry_eval(c);
      return;
    }
    const auto rtt = now - p.queued;
    c.stats_.latency_total += rtt;
    c.stats_.latency_max = std::max<std::chrono::nanoseconds>(c.stats_.latency_max, rtt);
    Callback cb = pop(c);
    if (c.latency_observer_) c.latency_observer_(rtt);
    complete(c, cb, Result{{}, std::move(c.root_)});
  }

  static asio::awaitable<void> reader(Self self) {
    Client& c = *self;
    while (c.open_) {
      auto [ec, n] = co_await c.socket_.async_read_some(asio::buffer(c.rbuf_), tuple_awaitable);
      if (!c.open_) break;
      if (ec) {
        close(c, ec == asio::error::eof ? make_error_code(Error::closed) : ec);
        break;
      }
      const auto now = Clock::now();
      for (std::size_t off = 0; off < n && c.open_;) {
        const std::size_t len = std::min(kFeedChunk, n - off);
        if (redisReaderFeed(c.parser_.get(), c.rbuf_.data() + off, len) != REDIS_OK) {
          close(c, Error::protocol, c.parser_->errstr);
          break;
        }
        off += len;
        while (c.open_) {
          void* obj = nullptr;
          if (redisReaderGetReply(c.parser_.get(), &obj) != REDIS_OK) {
            close(c, Error::protocol, c.parser_->errstr);
            break;
          }
          if (!obj) break;
          on_reply(c, now);
        }
      }
    }
  }

  // The oldest command has the earliest deadline (one timeout for all, FIFO).
  // When idle the timer still wakes every request_timeout (or
  // idle_ping_interval if shorter): a command queued meanwhile has a later
  // deadline, so none is missed and none needs to wake this coroutine. Idle
  // at two wakes in a row: PING.
  static asio::awaitable<void> timeouts(Self self) {
    Client& c = *self;
    const auto ping = c.config_.idle_ping_interval;
    const auto idle_wait = ping.count() > 0 ? std::min(ping, c.config_.request_timeout) : c.config_.request_timeout;
    bool was_idle = false;
    while (c.open_) {
      const auto now = Clock::now();
      if (c.count_ == 0) {
        if (was_idle && ping.count() > 0 && c.state_ == State::connected) {
          const std::string_view argv[] = {"PING"};
          append_command(c.pending_, argv);
          push(c, Callback{});
          was_idle = false;
          continue;
        }
        was_idle = true;
        c.timeout_timer_.expires_at(now + idle_wait);
      } else {
        was_idle = false;
        const auto deadline = c.ring_[c.head_].queued + c.config_.request_timeout;
        if (deadline <= now) {
          close(c, Error::timeout, {}, now);
          break;
        }
        c.timeout_timer_.expires_at(deadline);
      }
      co_await wait_signal(c.timeout_timer_);
    }
  }

  static std::chrono::milliseconds next_delay(Client& c) {
    const BackoffConfig& b = c.config_.backoff;
    using std::chrono::milliseconds;
    c.backoff_ = c.backoff_.count() == 0
                     ? b.initial
                     : std::min(b.max, std::chrono::duration_cast<milliseconds>(c.backoff_ * b.multiplier));
    c.rng_ ^= c.rng_ << 13;  // xorshift64
    c.rng_ ^= c.rng_ >> 7;
    c.rng_ ^= c.rng_ << 17;
    const double unit = static_cast<double>(c.rng_ >> 11) * 0x1.0p-53;
    const double factor = 1.0 + b.jitter * (2.0 * unit - 1.0);
    return milliseconds(static_cast<int64_t>(static_cast<double>(c.backoff_.count()) * factor));
  }

  // Connect, handshake, serve until closed, back off, again.
  static asio::awaitable<void> run(Self self) {
    using namespace asio::experimental::awaitable_operators;
    Client& c = *self;
    while (!c.stopped_) {
      set_state(c, State::connecting);
      const error_code ec = co_await connect(c);
      if (c.stopped_) break;
      if (ec) {
        set_state(c, State::disconnected, ec);
      } else {
        open(c);
        try {
          co_await (reader(self) && writer(self) && timeouts(self) && handshake(self));
        } catch (...) {  // a callback threw: end here, loudly (the exception leaves io_context::run)
          c.stopped_ = true;
          close(c, Error::closed);
          set_state(c, State::stopped, Error::closed);
          throw;
        }
      }
      if (c.stopped_) break;
      c.retry_timer_.expires_after(next_delay(c));
      co_await wait_signal(c.retry_timer_);
    }
  }

  // "unix:/path", "[v6]:port", "host:port", "host".
  static void parse_address(Client& c, std::string_view a) {
    const auto bad = [&] { return std::invalid_argument("bad redis address: " + std::string(a)); };
    if (a.starts_with("unix:")) {
      c.unix_path_ = a.substr(5);
      if (c.unix_path_.empty()) throw bad();
      return;
    }
    std::string_view host = a;
    std::string_view port = "6379";
    if (a.starts_with('[')) {
      const auto end = a.find(']');
      if (end == std::string_view::npos) throw bad();
      host = a.substr(1, end - 1);
      if (end + 1 < a.size()) {
        if (a[end + 1] != ':') throw bad();
        port = a.substr(end + 2);
      }
    } else if (const auto colon = a.rfind(':'); colon != std::string_view::npos) {
      if (a.find(':') != colon) throw bad();  // a bare IPv6 address needs brackets
      host = a.substr(0, colon);
      port = a.substr(colon + 1);
    }
    if (host.empty() || port.empty()) throw bad();
    c.host_ = host;
    c.port_ = port;
  }
};

// ---------------------------------------------------------------- Client

void Client::ParserDeleter::operator()(redisReader* r) const noexcept { redisReaderFree(r); }

std::shared_ptr<Client> Client::create(asio::any_io_executor ex, ClientConfig config) {
  return std::shared_ptr<Client>(new Client(std::move(ex), std::move(config)));
}

Client::Client(asio::any_io_executor ex, ClientConfig config)
    : config_(std::move(config)),
      executor_(std::move(ex)),
      socket_(executor_),
      resolver_(executor_),
      write_signal_(executor_, Clock::time_point::max()),
      timeout_timer_(executor_),
      state_signal_(executor_, Clock::time_point::max()),
      retry_timer_(executor_) {
  Impl::parse_address(*this, config_.address);
  config_.max_outstanding = std::max<std::size_t>(config_.max_outstanding, 1);
  rbuf_.resize(std::max<std::size_t>(config_.read_buffer_size, 4096));
  rng_ = (static_cast<uint64_t>(std::random_device{}()) << 32 | std::random_device{}()) | 1;
}

Client::~Client() = default;

void Client::start() {
  if (state_ != State::idle || stopped_) return;
  Impl::set_state(*this, State::connecting);
  asio::co_spawn(executor_, Impl::run(shared_from_this()), asio::detached);
}

void Client::stop() {
  if (stopped_) return;
  stopped_ = true;
  Impl::close(*this, Error::closed);
  error_code ignored;
  resolver_.cancel();
  socket_.close(ignored);
  retry_timer_.cancel();
  Impl::set_state(*this, State::stopped, Error::closed);
}

void Client::command(std::span<const std::string_view> args, Callback callback) {
  Impl::submit(*this, args, callback, false);
}

void Client::eval(const Script& script, std::span<const std::string_view> keys, std::span<const std::string_view> args,
                  Callback callback) {
  if (const error_code ec = Impl::admit(*this, false)) return Impl::fail_soon(*this, callback, ec);
  const std::size_t off = pending_.size();
  put_count(pending_, '*', 3 + keys.size() + args.size());
  put_arg(pending_, "EVALSHA");
  put_arg(pending_, script.sha1());
  char numkeys[24];
  put_arg(pending_, std::string_view(numkeys, std::to_chars(numkeys, numkeys + sizeof numkeys, keys.size()).ptr));
  for (std::string_view k : keys) put_arg(pending_, k);
  for (std::string_view a : args) put_arg(pending_, a);
  const std::size_t len = pending_.size() - off;
  retained_.append(pending_, off, len);
  Impl::push(*this, std::move(callback), &script, static_cast<uint32_t>(len));
}

asio::awaitable<Result> Client::command(std::span<const std::string_view> args) {
  return Impl::await_result(shared_from_this(), [this, args](Callback& cb) { Impl::submit(*this, args, cb, false); });
}

asio::awaitable<Result> Client::eval(const Script& script, std::span<const std::string_view> keys,
                                     std::span<const std::string_view> args) {
  return Impl::await_result(shared_from_this(), [this, &script, keys, args](Callback& cb) {
    eval(script, keys, args, std::move(cb));
  });
}

asio::awaitable<bool> Client::wait_for(State state, std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  auto self = shared_from_this();
  const auto deadline = Clock::now() + timeout;
  while (state_ != state && (state_ != State::stopped) && Clock::now() < deadline) {
    asio::steady_timer timer(executor_, deadline);
    co_await (state_signal_.async_wait(tuple_awaitable) || timer.async_wait(tuple_awaitable));
  }
  co_return state_ == state;
}

}  // namespace smsgate::redis
