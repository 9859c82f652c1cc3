// The admin HTTP server (docs/admin.md): health, Prometheus metrics, the
// dashboard's files and the ops API (opt-outs, a number's story, dead
// tickets, the closed-loop reply to a complainant, account suspensions, the
// configuration and its reload, the dashboard's data).
//
//   AdminServer admin(gateway, main_io, *config.admin);
//   admin.start();              // listens (throws boost::system::system_error)
//   admin.stop();               // closes the listener and every connection
//
// HTTP/1.1 (Boost.Beast) with coroutines on the Gateway's main io_context,
// where it runs alone with the reload and the ticket forwarder: nothing here
// touches a worker's state but by posting to that worker. It has its own
// Redis connection. Every path but /healthz, /readyz, /metrics and the
// dashboard's files needs "Authorization: Bearer <token>", the token read
// from admin.token_env at start; compared in constant time.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "config/config.hpp"
#include "redis/client.hpp"

namespace smsgate::gateway {

namespace asio = boost::asio;
class Gateway;

class AdminServer {
 public:
  static constexpr unsigned kMaxConnections = 64;            // more are closed at once
  static constexpr std::chrono::seconds kReadTimeout{15};     // a request's header and body
  static constexpr std::chrono::seconds kIdleTimeout{30};     // a kept-alive connection between requests
  static constexpr std::chrono::seconds kRequestTimeout{30};  // answering one request (Redis included)

  AdminServer(Gateway& gateway, asio::io_context& main, config::Admin config, const config::Config& full);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  void start();
  void stop();
  uint16_t port() const;

  struct Core;  // the server's state, shared with its coroutines (admin.cpp)

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace smsgate::gateway
