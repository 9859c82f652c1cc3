// The SMSC end: accepts TCP (optionally TLS) connections on an endpoint and
// runs a server-role Session on each. Binds are decided by the Authenticator.
//
// THREADING: the Server belongs to the executor given to create() (the
// acceptor runs there). Each accepted connection may be placed on another
// executor (set_executor_picker, e.g. round-robin over one io_context per
// thread); its session and the session handler call then run on that
// executor. stop() posts Session::stop() to each session's executor.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "smpp/net/session.hpp"
#include "smpp/net/stream.hpp"

namespace smsgate::smpp::net {

// Compares two secrets in time that depends only on their lengths (not on
// where they differ). Use it for passwords in an Authenticator.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

struct ServerConfig {
  tcp::endpoint endpoint{asio::ip::address_v4::loopback(), 0};  // port 0: any free port
  SessionConfig session;   // role is forced to Role::server
  // TLS when set (make_tls_server_context); the handshake must finish within
  // tls_handshake_timeout.
  std::shared_ptr<asio::ssl::context> tls;
  std::chrono::milliseconds tls_handshake_timeout{5'000};
  int backlog = 1024;
};

class Server : public std::enable_shared_from_this<Server> {
 public:
  static std::shared_ptr<Server> create(asio::any_io_executor ex, ServerConfig config);

  // Install before start().
  void set_authenticator(Authenticator authenticator);
  // Called for each new connection, on the session's executor, before the
  // session starts: install the request handler, event handler, keep it.
  void set_session_handler(std::function<void(const std::shared_ptr<Session>&)> handler);
  // Picks the executor for each accepted connection (default: the server's).
  void set_executor_picker(std::function<asio::any_io_executor()> picker);
  // TLS: called, on the server's executor, for each connection closed because
  // its handshake failed (not TLS at all, e.g. plain SMPP; a protocol version
  // below 1.2; no handshake within tls_handshake_timeout). No session exists.
  void set_tls_failure_handler(std::function<void(const tcp::endpoint& peer, const error_code& ec)> handler);

  // Opens, binds and listens (throws boost::system::system_error on
  // failure), then accepts until stop().
  void start();
  // Stops accepting and stops every live session (Session::stop()).
  void stop();

  // The bound endpoint (the real port when configured with port 0).
  tcp::endpoint local_endpoint() const { return local_; }
  // Sessions accepted and not yet closed (approximate across executors).
  std::size_t session_count();
  const ServerConfig& config() const { return config_; }

 private:
  Server(asio::any_io_executor ex, ServerConfig config);
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> setup(tcp::socket socket);

  asio::any_io_executor executor_;
  ServerConfig config_;
  tcp::acceptor acceptor_;
  tcp::endpoint local_;
  Authenticator authenticator_;
  std::function<void(const std::shared_ptr<Session>&)> session_handler_;
  std::function<asio::any_io_executor()> picker_;
  std::function<void(const tcp::endpoint&, const error_code&)> tls_failure_handler_;
  std::vector<std::weak_ptr<Session>> sessions_;  // touched on the server's executor only
  bool stopped_ = false;
};

}  // namespace smsgate::smpp::net
