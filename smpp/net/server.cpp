#include "smpp/net/server.hpp"
#include "smpp/net/coroutine_warnings.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace smsgate::smpp::net {

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = std::max(a.size(), b.size());
  unsigned diff = a.size() == b.size() ? 0u : 1u;
  for (std::size_t i = 0; i < n; ++i) {
    const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
    const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
    diff |= static_cast<unsigned>(x ^ y);
  }
  // Keep the compiler from turning the loop into an early-exit comparison.
  volatile unsigned sink = diff;
  return sink == 0;
}

std::shared_ptr<Server> Server::create(asio::any_io_executor ex, ServerConfig config) {
  return std::shared_ptr<Server>(new Server(std::move(ex), std::move(config)));
}

Server::Server(asio::any_io_executor ex, ServerConfig config)
    : executor_(std::move(ex)), config_(std::move(config)), acceptor_(executor_) {
  config_.session.role = Role::server;
}

void Server::set_authenticator(Authenticator authenticator) { authenticator_ = std::move(authenticator); }
void Server::set_session_handler(std::function<void(const std::shared_ptr<Session>&)> handler) {
  session_handler_ = std::move(handler);
}
void Server::set_executor_picker(std::function<asio::any_io_executor()> picker) { picker_ = std::move(picker); }
void Server::set_tls_failure_handler(std::function<void(const tcp::endpoint&, const error_code&)> handler) {
  tls_failure_handler_ = std::move(handler);
}

void Server::start() {
  acceptor_.open(config_.endpoint.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(config_.endpoint);
  acceptor_.listen(config_.backlog);
  local_ = acceptor_.local_endpoint();
  asio::co_spawn(executor_, [self = shared_from_this()]() { return self->accept_loop(); }, asio::detached);
}

void Server::stop() {
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  for (auto& w : sessions_) {
    if (auto s = w.lock()) asio::post(s->get_executor(), [s] { s->stop(); });
  }
  sessions_.clear();
}

std::size_t Server::session_count() {
  std::erase_if(sessions_, [](const std::weak_ptr<Session>& w) {
    auto s = w.lock();
    return !s || s->is_closed();
  });
  return sessions_.size();
}

asio::awaitable<void> Server::accept_loop() {
  auto self = shared_from_this();
  constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
  while (!stopped_) {
    asio::any_io_executor ex = picker_ ? picker_() : executor_;
    auto [ec, socket] = co_await acceptor_.async_accept(ex, tuple_awaitable);
    if (stopped_ || ec == asio::error::operation_aborted) break;
    if (ec) {  // e.g. out of file descriptors: do not spin
      asio::steady_timer pause(executor_, std::chrono::milliseconds(100));
      co_await pause.async_wait(tuple_awaitable);
      continue;
    }
    asio::co_spawn(
        ex, [self, s = std::move(socket)]() mutable { return self->setup(std::move(s)); }, asio::detached);
  }
}

// Runs on the connection's executor.
asio::awaitable<void> Server::setup(tcp::socket socket) {
  auto self = shared_from_this();
  std::unique_ptr<Stream> stream;
  if (config_.tls) {
    error_code ec;
    const tcp::endpoint peer = socket.remote_endpoint(ec);
    stream = co_await accept_tls_stream(std::move(socket), *config_.tls, config_.tls_handshake_timeout, ec);
    if (!stream) {
      if (tls_failure_handler_) {
        asio::post(executor_, [self, peer, ec] {
          if (!self->stopped_) self->tls_failure_handler_(peer, ec);
        });
      }
      co_return;
    }
  } else {
    stream = make_tcp_stream(std::move(socket));
  }
  auto session = Session::create(std::move(stream), config_.session);
  session->set_authenticator(authenticator_);
  if (session_handler_) session_handler_(session);
  session->start();
  asio::post(executor_, [self, w = std::weak_ptr<Session>(session)] {
    if (self->stopped_) {
      if (auto s = w.lock()) asio::post(s->get_executor(), [s] { s->stop(); });
      return;
    }
    self->session_count();  // prunes closed sessions
    self->sessions_.push_back(w);
  });
}

}  // namespace smsgate::smpp::net
