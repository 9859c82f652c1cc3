// The ESME end that keeps one session bound to a carrier: connects (TCP or
// TLS), binds, and after any failure (connect error, bind rejected, session
// closed, keepalive lost) connects and binds again with exponential backoff
// and jitter. A bind rejected with ESME_RINVPASWD / ESME_RINVSYSID /
// ESME_RBINDFAIL waits `backoff.auth_failure` before the next attempt (a wrong
// password is not retried in a tight loop). The exponential delay starts
// again from `backoff.initial` after a successful bind, so the first retry
// after a drop comes `initial` (with jitter) later.
//
// THREADING: like Session, a Client belongs to one executor; call it only
// there; its callbacks run there. Its sessions use the same executor.
//
// A pool picks a Client with is_bound() (and session()->writable()).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/steady_timer.hpp>

#include "smpp/net/session.hpp"
#include "smpp/net/stream.hpp"

namespace smsgate::smpp::net {

struct BackoffConfig {
  std::chrono::milliseconds initial{500};
  std::chrono::milliseconds max{30'000};
  double multiplier = 2.0;
  double jitter = 0.2;  // each delay is scaled by a random factor in [1-jitter, 1+jitter]
  // After ESME_RINVPASWD / ESME_RINVSYSID / ESME_RBINDFAIL.
  std::chrono::milliseconds auth_failure{60'000};
};

struct ClientConfig {
  ConnectOptions connect;  // host, port, optional TLS, connect timeout
  BindType bind_type = BindType::transceiver;
  Bind bind;               // system_id, password, system_type, address_range, ...
  SessionConfig session;   // role is forced to Role::client
  BackoffConfig backoff;
};

// Client-level notifications (non-hot-path).
struct ClientEvent {
  enum class Kind : uint8_t {
    connecting,
    connect_failed,   // `error`
    bind_failed,      // `status` (command_status) or `error` (timeout, closed)
    bound,            // `session` is bound
    disconnected,     // `error` is the session's close reason
    retry_scheduled,  // `delay` until the next attempt
  } kind = Kind::connecting;
  error_code error;
  uint32_t status = 0;
  std::chrono::milliseconds delay{0};
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  static std::shared_ptr<Client> create(asio::any_io_executor ex, ClientConfig config);

  // Installed on every session this client creates (install before start()).
  void set_request_handler(RequestHandler handler);       // deliver_sm, data_sm, ...
  void set_session_event_handler(EventHandler handler);
  void set_event_handler(std::function<void(Client&, const ClientEvent&)> handler);
  // Called when the client becomes bound (true) or stops being bound (false).
  void set_state_handler(std::function<void(Client&, bool bound)> handler);

  // Starts the connect/bind/rebind loop. Call once.
  void start();
  // Stops the loop and closes the session at once (outstanding requests
  // complete with Error::closed).
  void stop();
  // Stops the loop, unbinds gracefully (Session::unbind) and completes when
  // the session is closed.
  asio::awaitable<void> shutdown();

  bool is_bound() const;
  // The current session (bound or still binding), or null.
  const std::shared_ptr<Session>& session() const { return session_; }

  // Convenience: request on the current bound session, or Error::not_bound.
  asio::awaitable<Reply> request(Pdu pdu);

  // Attempts so far (each connect, bound or not; tests, metrics).
  uint64_t bind_attempts() const { return bind_attempts_; }
  const ClientConfig& config() const { return config_; }
  asio::any_io_executor get_executor() const { return executor_; }

 private:
  Client(asio::any_io_executor ex, ClientConfig config);
  asio::awaitable<void> run();
  std::chrono::milliseconds next_delay(bool auth_failure);
  void emit(ClientEvent::Kind kind, error_code ec = {}, uint32_t status = 0,
            std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  void set_bound(bool bound);

  asio::any_io_executor executor_;
  ClientConfig config_;
  RequestHandler request_handler_;
  EventHandler session_event_handler_;
  std::function<void(Client&, const ClientEvent&)> event_handler_;
  std::function<void(Client&, bool)> state_handler_;
  std::shared_ptr<Session> session_;
  asio::steady_timer retry_timer_;
  asio::cancellation_signal cancel_;  // stop(): aborts a connect in progress
  std::chrono::milliseconds backoff_{0};
  uint64_t bind_attempts_ = 0;
  uint64_t rng_state_ = 0;
  bool started_ = false;
  bool stopped_ = false;
  bool bound_ = false;
};

}  // namespace smsgate::smpp::net
