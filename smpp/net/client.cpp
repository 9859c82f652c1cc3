#include "smpp/net/client.hpp"
#include "smpp/net/coroutine_warnings.hpp"

#include <algorithm>
#include <exception>
#include <random>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "smpp/status.hpp"

namespace smsgate::smpp::net {

namespace {

bool is_auth_failure(uint32_t status) {
  return status == status::ESME_RINVPASWD || status == status::ESME_RINVSYSID ||
         status == status::ESME_RBINDFAIL;
}

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

std::shared_ptr<Client> Client::create(asio::any_io_executor ex, ClientConfig config) {
  return std::shared_ptr<Client>(new Client(std::move(ex), std::move(config)));
}

Client::Client(asio::any_io_executor ex, ClientConfig config)
    : executor_(std::move(ex)), config_(std::move(config)), retry_timer_(executor_) {
  config_.session.role = Role::client;
  rng_state_ = (static_cast<uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
}

void Client::set_request_handler(RequestHandler handler) { request_handler_ = std::move(handler); }
void Client::set_session_event_handler(EventHandler handler) { session_event_handler_ = std::move(handler); }
void Client::set_event_handler(std::function<void(Client&, const ClientEvent&)> handler) {
  event_handler_ = std::move(handler);
}
void Client::set_state_handler(std::function<void(Client&, bool)> handler) { state_handler_ = std::move(handler); }

void Client::start() {
  if (started_) return;
  started_ = true;
  asio::co_spawn(executor_, [self = shared_from_this()]() { return self->run(); },
                 asio::bind_cancellation_slot(cancel_.slot(), asio::detached));
}

void Client::stop() {
  stopped_ = true;
  cancel_.emit(asio::cancellation_type::terminal);
  retry_timer_.cancel();
  if (session_) session_->stop();
}

asio::awaitable<void> Client::shutdown() {
  auto self = shared_from_this();
  stopped_ = true;
  retry_timer_.cancel();
  if (auto s = session_) {
    if (s->is_bound()) co_await s->unbind();
    s->stop();
  }
  cancel_.emit(asio::cancellation_type::terminal);
}

bool Client::is_bound() const { return bound_ && session_ && session_->is_bound(); }

asio::awaitable<Reply> Client::request(Pdu pdu) {
  if (!is_bound()) co_return Reply{Error::not_bound, {}};
  auto s = session_;
  co_return co_await s->request(std::move(pdu));
}

void Client::emit(ClientEvent::Kind kind, error_code ec, uint32_t status, std::chrono::milliseconds delay) {
  if (!event_handler_) return;
  ClientEvent e;
  e.kind = kind;
  e.error = ec;
  e.status = status;
  e.delay = delay;
  event_handler_(*this, e);
}

void Client::set_bound(bool bound) {
  if (bound_ == bound) return;
  bound_ = bound;
  if (state_handler_) state_handler_(*this, bound);
}

std::chrono::milliseconds Client::next_delay(bool auth_failure) {
  const auto& b = config_.backoff;
  std::chrono::milliseconds base;
  if (auth_failure) {
    base = b.auth_failure;
  } else {
    backoff_ = backoff_.count() == 0
                   ? b.initial
                   : std::min(b.max, std::chrono::milliseconds(static_cast<int64_t>(
                                         static_cast<double>(backoff_.count()) * b.multiplier)));
    base = backoff_;
  }
  const double unit = static_cast<double>(splitmix64(rng_state_) >> 11) / static_cast<double>(1ull << 53);
  const double factor = 1.0 + b.jitter * (2.0 * unit - 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(base.count()) * factor));
}

// One connection at a time: connect, bind, serve until closed, back off, again.
asio::awaitable<void> Client::run() {
  auto self = shared_from_this();
  while (!stopped_) {
    bool auth_failure = false;
    try {
      ++bind_attempts_;
      emit(ClientEvent::Kind::connecting);
      error_code ec;
      auto stream = co_await connect_stream(executor_, config_.connect, ec);
      if (stopped_) break;
      if (!stream) {
        emit(ClientEvent::Kind::connect_failed, ec);
      } else {
        session_ = Session::create(std::move(stream), config_.session);
        session_->set_request_handler(request_handler_);
        session_->set_event_handler(session_event_handler_);
        session_->start();
        auto s = session_;
        Reply r = co_await s->bind(config_.bind_type, config_.bind);
        if (stopped_) {
          s->stop();
          break;
        }
        if (r.ok() && s->is_bound()) {
          backoff_ = std::chrono::milliseconds(0);
          set_bound(true);
          emit(ClientEvent::Kind::bound);
          co_await s->wait_closed();
          set_bound(false);
          emit(ClientEvent::Kind::disconnected, s->close_reason());
        } else {
          auth_failure = !r.error && is_auth_failure(r.pdu.command_status);
          emit(ClientEvent::Kind::bind_failed, r.error ? r.error : make_error_code(Error::bind_rejected),
               r.error ? 0 : r.pdu.command_status);
          s->stop();
        }
        session_.reset();
      }
    } catch (const std::exception&) {
      // Cancelled by stop() (operation_aborted) or an unexpected failure:
      // either way this attempt is over.
      if (session_) session_->stop();
      session_.reset();
      set_bound(false);
    }
    if (stopped_) break;
    const auto delay = next_delay(auth_failure);
    emit(ClientEvent::Kind::retry_scheduled, {}, 0, delay);
    retry_timer_.expires_after(delay);
    error_code ec;
    co_await retry_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  set_bound(false);
}

}  // namespace smsgate::smpp::net
