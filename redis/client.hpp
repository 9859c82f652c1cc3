// A pipelined Redis client: one connection (TCP or a Unix socket) that
// smsgate owns through Asio; hiredis only parses replies (its redisReader).
//
// THREADING: a Client belongs to one executor (one Client per thread/io_context
// is the intended deployment). Call every method there; every callback
// (command callbacks, state handler, latency observer) runs there. Nothing is
// locked.
//
// LIFETIME: create() returns a shared_ptr; start() runs the connect loop,
// which keeps the client alive until stop(). Drop it after stop().
//
// CONNECTION: start() connects, then sends AUTH (when a password is set),
// SELECT (db != 0), CLIENT SETNAME (client_name set) and PING; when all are
// answered without an error reply the client is connected(). After any
// failure (connect error, handshake error reply, read/write error, request
// timeout, unparsable reply) the connection is closed and reopened after a
// delay: backoff.initial, then multiplied by backoff.multiplier up to
// backoff.max, each scaled by a random factor in [1-jitter, 1+jitter]; a
// successful handshake resets it. An idle connection is checked with PING
// (idle_ping_interval), so connected() turns false within about
// idle_ping_interval + request_timeout of Redis dying or stalling.
//
// COMMANDS are pipelined: each is encoded into one pending buffer when issued,
// a writer coroutine writes the whole buffer with one async write, the reader
// parses every reply in what it read before reading again, and replies
// complete commands in FIFO order. Each command completes exactly once:
//   - with its reply (Result::error clear; the reply may be an error reply);
//   - Error::not_connected at once (posted, never inside the call) while not
//     connected(): nothing is queued while Redis is down, so callers apply
//     their "Redis down" policy without waiting;
//   - Error::overloaded at once when max_outstanding commands are in flight
//     (the command is refused, not queued: back off or shed load);
//   - Error::timeout when its reply has not come within request_timeout. The
//     connection is then closed and reopened (a reply stream that fell
//     behind cannot be re-synchronised); the other commands in flight on it
//     complete with Error::closed (or Error::timeout when their own deadline
//     had passed too);
//   - Error::closed when the connection fails or stop() is called first.
//
// SCRIPTS: eval() sends EVALSHA. On a NOSCRIPT error reply it sends
// SCRIPT LOAD and EVALSHA again, once (a second NOSCRIPT is the result). Many
// evals failing together (after SCRIPT FLUSH or a failover) share one
// SCRIPT LOAD. The fallback may make an eval take up to twice
// request_timeout.
#pragma once

#include <array>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "redis/reply.hpp"
#include "smpp/net/small_function.hpp"

struct redisReader;  // hiredis

namespace smsgate::redis {

namespace asio = boost::asio;

// ---------------------------------------------------------------- script

// A Lua script and its SHA1 (computed locally, as Redis does). The Client
// keeps a pointer to the Script while an eval of it is in flight: keep
// Scripts alive as long as the clients using them (they are usually static).
class Script {
 public:
  explicit Script(std::string source);
  const std::string& source() const noexcept { return source_; }
  const std::string& sha1() const noexcept { return sha1_; }  // 40 lowercase hex digits

 private:
  std::string source_;
  std::string sha1_;
};

// ---------------------------------------------------------------- config

struct BackoffConfig {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{5'000};
  double multiplier = 2.0;
  double jitter = 0.2;  // each delay is scaled by a random factor in [1-jitter, 1+jitter]
};

struct ClientConfig {
  // "host:port", "[v6addr]:port", "host" (port 6379) or "unix:/path/to/socket".
  std::string address = "127.0.0.1:6379";
  std::string username;     // AUTH username password (Redis 6 ACL) when both are set
  std::string password;     // AUTH password when set
  int db = 0;               // SELECT db when not 0
  std::string client_name;  // CLIENT SETNAME when set
  std::chrono::milliseconds connect_timeout{2'000};  // per address tried (name resolution not included)
  std::chrono::milliseconds request_timeout{2'000};
  // PING when no command was in flight at two checks this far apart, so that
  // a dead or stalled server is noticed (request_timeout) without traffic.
  // Zero disables.
  std::chrono::milliseconds idle_ping_interval{1'000};
  std::size_t max_outstanding = 100'000;  // commands in flight before Error::overloaded
  std::size_t read_buffer_size = 64 * 1024;
  BackoffConfig backoff;
};

// ---------------------------------------------------------------- client

enum class State : uint8_t {
  idle,          // created, start() not called yet
  connecting,    // connecting, or handshake (AUTH/SELECT/PING) in progress
  connected,     // ready: commands are sent
  disconnected,  // waiting to reconnect (backoff)
  stopped,       // stop() was called
};
std::string_view to_string(State s);

// Command completion: invoked exactly once, on the client's executor, never
// from inside the call that issued the command. It may issue commands and
// call stop(), but must not block or throw. Small lambdas (up to 48 bytes of
// captures) are stored without a heap allocation.
using Callback = smpp::net::SmallFunction<void(Result&&), 48>;

// State changes (for /readyz and logs): the new state; for disconnected and
// stopped the reason (an Asio error, Error::timeout, Error::handshake_failed,
// ...) and, for handshake failures, Redis's error text.
using StateHandler = std::function<void(State state, error_code reason, std::string_view detail)>;

// Called with the round-trip time (queued -> reply parsed) of each replied command.
using LatencyObserver = std::function<void(std::chrono::nanoseconds rtt)>;

struct ClientStats {
  uint64_t commands = 0;      // queued, including handshake and SCRIPT LOAD
  uint64_t replies = 0;       // completed with a reply (error replies included)
  uint64_t failed = 0;        // completed with an error_code (not_connected, overloaded, closed, timeout)
  uint64_t timeouts = 0;      // of which Error::timeout
  uint64_t script_loads = 0;  // SCRIPT LOAD sent by the NOSCRIPT fallback
  uint64_t connects = 0;      // successful handshakes
  uint64_t writes = 0;        // async writes (commands / writes = write coalescing)
  std::chrono::nanoseconds latency_total{0};  // sum of round trips of `replies`
  std::chrono::nanoseconds latency_max{0};
};

namespace detail {
template <class A>
concept command_arg = std::convertible_to<const A&, std::string_view> ||
                      (std::integral<A> && !std::same_as<A, bool> && !std::same_as<A, char>);

template <class A>
std::string to_arg(const A& a) {
  if constexpr (std::integral<A>) {
    return std::to_string(a);
  } else {
    return std::string(std::string_view(a));
  }
}
}  // namespace detail

class Client : public std::enable_shared_from_this<Client> {
 public:
  // Throws std::invalid_argument for an address it cannot parse.
  static std::shared_ptr<Client> create(asio::any_io_executor ex, ClientConfig config);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Install before start().
  void set_state_handler(StateHandler handler) { state_handler_ = std::move(handler); }
  void set_latency_observer(LatencyObserver observer) { latency_observer_ = std::move(observer); }

  // Starts the connect loop. Call once.
  void start();
  // Closes the connection and ends the loop: commands in flight complete
  // with Error::closed (their callbacks run inside stop()), later ones with
  // Error::not_connected. Idempotent; safe from inside callbacks.
  void stop();

  // ---- callback API (hot path): never waits; `callback` completes as
  // described at the top. An empty `args` completes with invalid_argument.
  void command(std::span<const std::string_view> args, Callback callback);
  void command(std::initializer_list<std::string_view> args, Callback callback) {
    command(std::span<const std::string_view>(args.begin(), args.size()), std::move(callback));
  }
  void eval(const Script& script, std::span<const std::string_view> keys, std::span<const std::string_view> args,
            Callback callback);
  void eval(const Script& script, std::initializer_list<std::string_view> keys,
            std::initializer_list<std::string_view> args, Callback callback) {
    eval(script, std::span<const std::string_view>(keys.begin(), keys.size()),
         std::span<const std::string_view>(args.begin(), args.size()), std::move(callback));
  }

  // ---- awaitable API. The spans are read when the awaitable starts: await
  // it at once (`co_await client->command(argv)`).
  asio::awaitable<Result> command(std::span<const std::string_view> args);
  asio::awaitable<Result> eval(const Script& script, std::span<const std::string_view> keys,
                               std::span<const std::string_view> args = {});

  // `co_await client->command("SET", key, 42)`: strings and integers, copied
  // into the coroutine (gcc 12 rejects `co_await f({"a", "b"})`).
  template <class... A>
    requires(sizeof...(A) > 0 && (detail::command_arg<A> && ...))
  asio::awaitable<Result> command(A... args) {
    const std::array<std::string, sizeof...(A)> owned{detail::to_arg(args)...};
    std::array<std::string_view, sizeof...(A)> argv;
    for (std::size_t i = 0; i < owned.size(); ++i) argv[i] = owned[i];
    co_return co_await command(std::span<const std::string_view>(argv));
  }

  // Waits until the client is in `state` (true) or `timeout` passed / the
  // client stopped (false, unless `state` is State::stopped).
  asio::awaitable<bool> wait_for(State state, std::chrono::milliseconds timeout);

  // ---- observers
  bool connected() const { return state_ == State::connected; }
  State state() const { return state_; }
  error_code last_error() const { return close_reason_; }  // why the last connection/attempt ended
  std::size_t outstanding() const { return count_; }       // commands in flight
  const ClientStats& stats() const { return stats_; }
  const ClientConfig& config() const { return config_; }
  asio::any_io_executor get_executor() const { return executor_; }

 private:
  Client(asio::any_io_executor ex, ClientConfig config);
  struct Impl;  // coroutines and internal paths, in client.cpp
  struct ParserDeleter {
    void operator()(redisReader* r) const noexcept;
  };

  // One command in flight.
  struct Pending {
    Callback callback;  // empty for internal commands whose reply is ignored
    std::chrono::steady_clock::time_point queued;
    const Script* script = nullptr;  // EVALSHA that may fall back on NOSCRIPT
    uint32_t retained = 0;           // its encoded bytes at the head of retained_
  };

  ClientConfig config_;
  asio::any_io_executor executor_;
  std::string unix_path_;  // set for "unix:" addresses
  std::string host_;
  std::string port_;

  asio::generic::stream_protocol::socket socket_;
  asio::ip::tcp::resolver resolver_;
  std::unique_ptr<redisReader, ParserDeleter> parser_;
  Reply root_;  // the reply being parsed (the parser builds it in place)
  std::vector<char> rbuf_;

  // Encoded commands not yet written (pending_) and being written (writing_).
  std::string pending_;
  std::string writing_;
  // EVALSHA commands in flight, encoded, oldest first (for the NOSCRIPT retry).
  std::string retained_;
  std::size_t retained_head_ = 0;

  // Commands in flight, oldest first: a ring of power-of-two size.
  std::vector<Pending> ring_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  uint64_t head_seq_ = 0;  // sequence number of ring_[head_]
  // Per script: sequence number of the last SCRIPT LOAD sent.
  std::vector<std::pair<const Script*, uint64_t>> loads_;

  State state_ = State::idle;
  bool open_ = false;  // a connection is up (handshake or connected)
  bool stopped_ = false;
  bool writer_waiting_ = false;
  error_code close_reason_;
  StateHandler state_handler_;
  LatencyObserver latency_observer_;
  ClientStats stats_;

  std::chrono::milliseconds backoff_{0};
  uint64_t rng_ = 0;

  asio::steady_timer write_signal_;  // writer: pending_ became non-empty
  asio::steady_timer timeout_timer_;
  asio::steady_timer state_signal_;  // wait_for(): state changed
  asio::steady_timer retry_timer_;
};

}  // namespace smsgate::redis
