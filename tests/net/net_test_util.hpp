// Helpers for the smpp/net tests: run a coroutine on an io_context with a
// deadline, a raw SMPP peer over a plain socket, PDU factories.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <exception>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio.hpp>

#include "tests/support/run_coroutine.hpp"

#include "smpp/codec.hpp"
#include "smpp/net/server.hpp"
#include "smpp/net/session.hpp"
#include "smpp/status.hpp"

namespace smsgate::smpp::net::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// ASSERT_* returns from a void function; coroutines need co_return.
#define CO_REQUIRE(cond)                          \
  if (!(cond)) {                                  \
    ADD_FAILURE() << "requirement failed: " #cond; \
    co_return;                                    \
  }

// Runs the coroutine made by `make` on `io` until it finishes; fails the test
// when it does not finish within `limit`.
template <class Make>
void run(asio::io_context& io, Make make, std::chrono::milliseconds limit = 5000ms) {
  smsgate::test::run_coroutine(io, std::move(make), limit);
}

using smsgate::test::sleep_for;

// Counts events; a coroutine waits until a count is reached (no polling).
class Counter {
 public:
  explicit Counter(asio::io_context& io) : timer_(io, Clock::time_point::max()) {}
  void add(int n = 1) {
    value_ += n;
    timer_.cancel();
  }
  int value() const { return value_; }
  asio::awaitable<void> wait_for(int n) {
    while (value_ < n) {
      error_code ec;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }

 private:
  asio::steady_timer timer_;
  int value_ = 0;
};

// Two connected sockets over 127.0.0.1.
inline std::pair<tcp::socket, tcp::socket> socket_pair(asio::io_context& io) {
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  tcp::socket a(io);
  a.connect(acceptor.local_endpoint());
  tcp::socket b = acceptor.accept();
  return {std::move(a), std::move(b)};
}

inline Pdu header_only(CommandId id, uint32_t seq = 0, uint32_t status = 0) {
  Pdu p;
  p.command_id = id;
  p.command_status = status;
  p.sequence_number = seq;
  p.body = empty_body_for(id);
  return p;
}

inline Pdu bind_pdu(BindType type, std::string system_id, std::string password, uint32_t seq = 1) {
  Pdu p = header_only(bind_command(type), seq);
  auto& b = p.as<Bind>();
  b.system_id = std::move(system_id);
  b.password = std::move(password);
  return p;
}

inline Pdu short_message(CommandId id, std::string text, uint32_t seq = 0) {
  Pdu p = header_only(id, seq);
  auto& sm = p.as<ShortMessage>();
  sm.source = {1, 1, "12345"};
  sm.dest = {1, 1, "67890"};
  sm.short_message = std::move(text);
  return p;
}
inline Pdu submit(std::string text, uint32_t seq = 0) { return short_message(CommandId::submit_sm, std::move(text), seq); }
inline Pdu deliver(std::string text, uint32_t seq = 0) { return short_message(CommandId::deliver_sm, std::move(text), seq); }

inline Pdu submit_resp(uint32_t seq, std::string message_id, uint32_t status = 0) {
  Pdu p = header_only(CommandId::submit_sm_resp, seq, status);
  p.as<MessageIdResp>().message_id = std::move(message_id);
  return p;
}

// An SMPP peer over a plain socket, driven by the test (no Session).
class RawPeer {
 public:
  explicit RawPeer(tcp::socket socket) : socket_(std::move(socket)) { socket_.set_option(tcp::no_delay(true)); }

  asio::awaitable<void> send_bytes(std::string bytes) {
    co_await asio::async_write(socket_, asio::buffer(bytes), asio::use_awaitable);
  }
  asio::awaitable<void> send(const Pdu& p) { co_await send_bytes(encode(p)); }

  // The next PDU, or nullopt when the connection is closed.
  asio::awaitable<std::optional<Pdu>> recv() {
    for (;;) {
      std::span<const uint8_t> frame;
      const Frame f = framer_.next(frame);
      if (f.kind == Frame::frame) {
        DecodeResult r = decode(frame);
        if (!r) {
          ADD_FAILURE() << "peer sent an undecodable PDU: " << r.error().message;
          co_return std::nullopt;
        }
        co_return std::move(r.pdu());
      }
      if (f.kind == Frame::fatal) {
        ADD_FAILURE() << "peer lost framing";
        co_return std::nullopt;
      }
      if (closed_) co_return std::nullopt;  // (Asio may not report EOF twice)
      auto [ec, n] = co_await socket_.async_read_some(asio::buffer(buf_), asio::as_tuple(asio::use_awaitable));
      if (ec) {
        closed_ = true;
        co_return std::nullopt;
      }
      framer_.feed(std::string_view(buf_.data(), n));
    }
  }

  // Receives the next PDU, expecting one.
  asio::awaitable<Pdu> expect() {
    auto p = co_await recv();
    if (!p) {
      ADD_FAILURE() << "connection closed while a PDU was expected";
      co_return Pdu{};
    }
    co_return std::move(*p);
  }

  // Reads (discarding) until the connection is closed.
  asio::awaitable<void> until_closed() {
    for (;;) {  // (not `while (co_await ...)`: GCC 12 miscompiles that)
      auto p = co_await recv();
      if (!p) break;
    }
  }

  // Binds as an ESME: sends the bind, returns the response.
  asio::awaitable<Pdu> bind(BindType type, std::string system_id, std::string password, uint32_t seq = 1) {
    co_await send(bind_pdu(type, std::move(system_id), std::move(password), seq));
    co_return co_await expect();
  }

  tcp::socket& socket() { return socket_; }

 private:
  tcp::socket socket_;
  Framer framer_;
  std::array<char, 65536> buf_{};
  bool closed_ = false;
};

// An authenticator that accepts system_id "esme" with password "secret".
inline Authenticator test_authenticator() {
  return [](BindRequest req) -> asio::awaitable<uint32_t> {
    if (req.system_id != "esme") co_return status::ESME_RINVSYSID;
    co_return constant_time_equal(req.password, "secret") ? status::ESME_ROK : status::ESME_RINVPASWD;
  };
}

}  // namespace smsgate::smpp::net::test
