// Session against a raw SMPP peer over 127.0.0.1: state machine, malformed
// input, window, timeouts, exactly-once completion, backpressure, keepalive.
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "net_test_util.hpp"

namespace smsgate::smpp::net::test {
namespace {

struct Pair {
  std::shared_ptr<Session> session;
  RawPeer raw;
};

class SessionTest : public ::testing::Test {
 protected:
  asio::io_context io;
  std::vector<std::string> protocol_errors;

  static SessionConfig config(Role role) {
    SessionConfig c;
    c.role = role;
    c.response_timeout = 2s;
    c.enquire_link_interval = 0ms;
    c.bind_timeout = 3s;
    c.close_timeout = 1s;
    return c;
  }

  // A session on one end of a loopback connection, a raw peer on the other.
  // `small_buffers`: the session's send and the peer's receive socket buffers
  // (to see backpressure early).
  Pair make(SessionConfig cfg, bool start = true, int small_buffers = 0) {
    auto [a, b] = socket_pair(io);
    if (small_buffers > 0) {
      a.set_option(asio::socket_base::send_buffer_size(small_buffers));
      b.set_option(asio::socket_base::receive_buffer_size(small_buffers));
    }
    auto s = Session::create(make_tcp_stream(std::move(a)), std::move(cfg));
    s->set_authenticator(test_authenticator());
    s->set_event_handler([this](Session&, const SessionEvent& e) {
      if (e.kind == SessionEvent::Kind::protocol_error) protocol_errors.emplace_back(e.detail);
    });
    if (start) s->start();
    return {s, RawPeer(std::move(b))};
  }

  // The same, with a request handler installed before start.
  Pair make(SessionConfig cfg, RequestHandler handler) {
    Pair p = make(std::move(cfg), false);
    p.session->set_request_handler(std::move(handler));
    p.session->start();
    return p;
  }

  // Sends `request` and expects its *_resp with `status`.
  static asio::awaitable<void> answered(RawPeer& raw, Pdu request, uint32_t status) {
    co_await raw.send(request);
    const Pdu r = co_await raw.expect();
    EXPECT_EQ(static_cast<uint32_t>(r.command_id), response_id_for(static_cast<uint32_t>(request.command_id)));
    EXPECT_EQ(r.command_status, status) << command_name(request.command_id);
    EXPECT_EQ(r.sequence_number, request.sequence_number);
  }

  // Runs `peer(pair)` against a session made with `cfg`, then waits until the
  // session closes the connection; expects `reason` as the close reason.
  template <class Peer>
  void expect_close(SessionConfig cfg, Error reason, Peer peer) {
    auto p = make(std::move(cfg));
    run(io, [&]() -> asio::awaitable<void> {
      co_await peer(p);
      co_await p.raw.until_closed();
    });
    EXPECT_TRUE(p.session->is_closed());
    EXPECT_EQ(p.session->close_reason(), reason);
  }

  static asio::awaitable<void> answer_bind(RawPeer& raw) {
    const Pdu bind = co_await raw.expect();
    co_await raw.send(make_response(bind));
  }

  // Binds a client-role session; the raw peer plays the SMSC.
  static asio::awaitable<void> bind_client(Session& s, RawPeer& raw, BindType type = BindType::transceiver) {
    asio::co_spawn(s.get_executor(), answer_bind(raw), asio::detached);
    Bind creds;
    creds.system_id = "esme";
    creds.password = "secret";
    const Reply r = co_await s.bind(type, creds);
    EXPECT_TRUE(r.ok()) << r.error.message();
    EXPECT_TRUE(s.is_bound());
  }
};

std::string raw_header(uint32_t length, uint32_t id, uint32_t seq) {
  std::string out;
  for (uint32_t v : {length, id, 0u, seq}) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xFF));
  }
  return out;
}

// ---------------------------------------------------------------- state machine

TEST_F(SessionTest, RequestsBeforeBindAreRejectedButEnquireLinkIsAnswered) {
  auto p = make(config(Role::server));
  run(io, [&]() -> asio::awaitable<void> {
    co_await answered(p.raw, submit("early", 7), status::ESME_RINVBNDSTS);
    co_await answered(p.raw, header_only(CommandId::unbind, 8), status::ESME_RINVBNDSTS);
    co_await answered(p.raw, header_only(CommandId::enquire_link, 9), status::ESME_ROK);
    EXPECT_EQ(p.session->state(), SessionState::open);
  });
}

TEST_F(SessionTest, UnknownCommandIdGetsGenericNack) {
  auto p = make(config(Role::server));
  run(io, [&]() -> asio::awaitable<void> {
    co_await p.raw.send_bytes(raw_header(16, 0x00000099, 5));
    const Pdu r = co_await p.raw.expect();
    EXPECT_EQ(r.command_id, CommandId::generic_nack);
    EXPECT_EQ(r.command_status, status::ESME_RINVCMDID);
    EXPECT_EQ(r.sequence_number, 5u);
    co_await answered(p.raw, header_only(CommandId::enquire_link, 6), status::ESME_ROK);  // still open
  });
  EXPECT_FALSE(p.session->is_closed());
}

TEST_F(SessionTest, GarbageBodyGetsGenericNackWithDecoderStatusAndStaysOpen) {
  std::vector<Pdu> received;
  auto p = make(config(Role::server), [&](Session& s, Pdu&& req) {
    received.push_back(req);
    s.respond(submit_resp(req.sequence_number, "m1"));
  });
  // submit_sm whose service_type C-octet string never ends.
  const std::string garbage = raw_header(16 + 8, 0x00000004, 42) + std::string(8, '\x41');
  const DecodeResult expected = decode(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(garbage.data()), garbage.size()));
  ASSERT_FALSE(expected.ok());

  run(io, [&]() -> asio::awaitable<void> {
    Pdu r = co_await p.raw.bind(BindType::transceiver, "esme", "secret");
    EXPECT_EQ(r.command_status, status::ESME_ROK);
    co_await p.raw.send_bytes(garbage);
    r = co_await p.raw.expect();
    EXPECT_EQ(r.command_id, CommandId::generic_nack);
    EXPECT_EQ(r.command_status, expected.error().status);
    EXPECT_EQ(r.sequence_number, 42u);
    co_await p.raw.send(submit("fine", 43));
    r = co_await p.raw.expect();
    EXPECT_EQ(r.command_id, CommandId::submit_sm_resp);
    EXPECT_EQ(r.sequence_number, 43u);
  });
  EXPECT_EQ(received.size(), 1u);
  EXPECT_FALSE(p.session->is_closed());
  EXPECT_FALSE(protocol_errors.empty());
}

TEST_F(SessionTest, BadCommandLengthClosesTheSession) {
  expect_close(config(Role::server), Error::framing_lost, [](Pair& p) -> asio::awaitable<void> {
    co_await p.raw.send_bytes(raw_header(8, 0x00000015, 1));
    const auto nothing = co_await p.raw.recv();
    EXPECT_FALSE(nothing);  // closed, nothing sent
  });
}

TEST_F(SessionTest, SeveralPdusInOneWriteAndOneSplitAcrossWrites) {
  auto p = make(config(Role::server));
  run(io, [&]() -> asio::awaitable<void> {
    std::string bytes;
    for (uint32_t seq = 1; seq <= 3; ++seq) bytes += encode(header_only(CommandId::enquire_link, seq));
    const std::string last = encode(header_only(CommandId::enquire_link, 4));
    co_await p.raw.send_bytes(bytes + last.substr(0, 5));
    for (uint32_t seq = 1; seq <= 3; ++seq) {
      const Pdu r = co_await p.raw.expect();
      EXPECT_EQ(r.sequence_number, seq);
    }
    co_await p.raw.send_bytes(last.substr(5));
    const Pdu r = co_await p.raw.expect();
    EXPECT_EQ(r.sequence_number, 4u);
  });
}

TEST_F(SessionTest, BindIsDecidedByTheAuthenticator) {
  auto p = make(config(Role::server), false);
  p.session->set_authenticator([](BindRequest req) -> asio::awaitable<uint32_t> {
    if (req.password != "secret") co_await sleep_for(50ms);  // a delayed rejection
    co_return co_await test_authenticator()(std::move(req));
  });
  p.session->start();
  run(io, [&]() -> asio::awaitable<void> {
    const auto t0 = Clock::now();
    Pdu r = co_await p.raw.bind(BindType::transmitter, "esme", "wrong", 1);
    EXPECT_EQ(r.command_id, CommandId::bind_transmitter_resp);
    EXPECT_EQ(r.command_status, status::ESME_RINVPASWD);
    EXPECT_GE(Clock::now() - t0, 50ms);
    r = co_await p.raw.bind(BindType::transmitter, "nobody", "secret", 2);
    EXPECT_EQ(r.command_status, status::ESME_RINVSYSID);
    EXPECT_EQ(p.session->state(), SessionState::open);

    r = co_await p.raw.bind(BindType::transmitter, "esme", "secret", 3);
    EXPECT_EQ(r.command_status, status::ESME_ROK);
    EXPECT_EQ(r.sequence_number, 3u);
    EXPECT_EQ(p.session->state(), SessionState::bound_tx);
    EXPECT_EQ(p.session->system_id(), "esme");
    EXPECT_EQ(p.session->bind_type(), BindType::transmitter);

    r = co_await p.raw.bind(BindType::receiver, "esme", "secret", 4);
    EXPECT_EQ(r.command_id, CommandId::bind_receiver_resp);
    EXPECT_EQ(r.command_status, status::ESME_RALYBND);
  });
}

TEST_F(SessionTest, ServerEndEnforcesTheEsmeBindType) {
  int handled = 0;
  auto p = make(config(Role::server), [&](Session&, Pdu&&) { ++handled; });
  run(io, [&]() -> asio::awaitable<void> {
    const Pdu bound = co_await p.raw.bind(BindType::receiver, "esme", "secret");
    EXPECT_EQ(bound.command_status, status::ESME_ROK);
    co_await answered(p.raw, submit("not on a receiver", 2), status::ESME_RINVBNDSTS);
    co_await answered(p.raw, deliver("an ESME does not deliver", 3), status::ESME_RINVBNDSTS);

    // The SMSC may deliver to a receiver, but not submit to it.
    EXPECT_FALSE(p.session->try_request(deliver("hello"), [](Reply&&) {}).error);
    const Pdu delivered = co_await p.raw.expect();
    EXPECT_EQ(delivered.command_id, CommandId::deliver_sm);
    EXPECT_EQ(p.session->try_request(submit("x"), [](Reply&&) {}).error, Error::not_bound);
  });
  EXPECT_EQ(handled, 0);
}

TEST_F(SessionTest, ClientEndRejectsDeliverOnATransmitter) {
  int handled = 0;
  auto p = make(config(Role::client), [&](Session&, Pdu&&) { ++handled; });
  run(io, [&]() -> asio::awaitable<void> {
    co_await bind_client(*p.session, p.raw, BindType::transmitter);
    EXPECT_EQ(p.session->state(), SessionState::bound_tx);
    co_await answered(p.raw, deliver("to a transmitter", 77), status::ESME_RINVBNDSTS);
    EXPECT_EQ(p.session->try_request(deliver("x"), [](Reply&&) {}).error, Error::not_bound);
  });
  EXPECT_EQ(handled, 0);
}

TEST_F(SessionTest, ResponsesMayBeSentOutOfOrder) {
  std::vector<Pdu> requests;
  Counter arrived(io);
  auto p = make(config(Role::server), [&](Session&, Pdu&& req) {
    requests.push_back(std::move(req));
    arrived.add();
  });
  run(io, [&]() -> asio::awaitable<void> {
    co_await p.raw.bind(BindType::transceiver, "esme", "secret");
    for (uint32_t seq : {10u, 11u, 12u}) co_await p.raw.send(submit("m" + std::to_string(seq), seq));
    co_await arrived.wait_for(3);
    EXPECT_EQ(p.session->incoming_pending(), 3u);
    for (std::size_t i : {2u, 0u, 1u}) {
      const Pdu& req = requests[i];
      p.session->respond(submit_resp(req.sequence_number, "id-" + req.as<ShortMessage>().short_message));
    }
    EXPECT_EQ(p.session->incoming_pending(), 0u);
    for (uint32_t seq : {12u, 10u, 11u}) {
      const Pdu r = co_await p.raw.expect();
      EXPECT_EQ(r.sequence_number, seq);
      EXPECT_EQ(r.as<MessageIdResp>().message_id, "id-m" + std::to_string(seq));
    }
  });
}

// ---------------------------------------------------------------- window

TEST_F(SessionTest, WindowLimitIsHonoured) {
  auto cfg = config(Role::client);
  cfg.window = 4;
  auto p = make(cfg);
  int completed = 0;
  run(io, [&]() -> asio::awaitable<void> {
    co_await bind_client(*p.session, p.raw);
    for (int i = 0; i < 4; ++i) {
      EXPECT_FALSE(p.session->try_request(submit("w"), [&](Reply&& r) { completed += r.ok(); }).error);
    }
    EXPECT_EQ(p.session->try_request(submit("w"), [](Reply&&) {}).error, Error::window_full);
    EXPECT_FALSE(p.session->writable());

    // The awaitable API waits for a slot instead.
    Counter fifth_done(io);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      const Reply r = co_await p.session->request(submit("fifth"));
      EXPECT_TRUE(r.ok());
      fifth_done.add();
    }, asio::detached);

    std::vector<Pdu> got;
    for (int i = 0; i < 4; ++i) got.push_back(co_await p.raw.expect());
    EXPECT_EQ(p.session->outstanding(), 4u);
    EXPECT_EQ(p.session->write_queue_bytes(), 0u);  // the fifth is not queued
    co_await p.raw.send(submit_resp(got[0].sequence_number, "a"));
    const Pdu fifth = co_await p.raw.expect();
    EXPECT_EQ(fifth.as<ShortMessage>().short_message, "fifth");
    for (std::size_t i = 1; i < 4; ++i) co_await p.raw.send(submit_resp(got[i].sequence_number, "b"));
    co_await p.raw.send(submit_resp(fifth.sequence_number, "c"));
    co_await fifth_done.wait_for(1);
  });
  EXPECT_EQ(completed, 4);
  EXPECT_EQ(p.session->outstanding(), 0u);
}

TEST_F(SessionTest, SequenceNumbersWrapAfterMaximum) {
  auto p = make(config(Role::client));
  std::vector<std::string> ids;
  Counter done(io);
  run(io, [&]() -> asio::awaitable<void> {
    co_await bind_client(*p.session, p.raw);
    p.session->set_next_sequence(0x7FFFFFFE);
    for (int i = 0; i < 3; ++i) {
      p.session->try_request(submit("s"), [&](Reply&& r) {
        ids.push_back(r.pdu.as<MessageIdResp>().message_id);
        done.add();
      });
    }
    for (uint32_t expected : {0x7FFFFFFEu, 0x7FFFFFFFu, 1u}) {
      const Pdu r = co_await p.raw.expect();
      EXPECT_EQ(r.sequence_number, expected);
      co_await p.raw.send(submit_resp(r.sequence_number, std::to_string(r.sequence_number)));
    }
    co_await done.wait_for(3);
  });
  EXPECT_EQ(ids, (std::vector<std::string>{"2147483646", "2147483647", "1"}));
}

TEST_F(SessionTest, ResponseTimeoutCompletesOnceAndLateResponseIsDropped) {
  auto cfg = config(Role::client);
  cfg.response_timeout = 100ms;
  auto p = make(cfg);
  std::vector<Reply> replies;
  Counter done(io);
  run(io, [&]() -> asio::awaitable<void> {
    co_await bind_client(*p.session, p.raw);
    const auto t0 = Clock::now();
    p.session->try_request(submit("t"), [&](Reply&& r) {
      replies.push_back(std::move(r));
      done.add();
    });
    const Pdu req = co_await p.raw.expect();
    co_await done.wait_for(1);
    EXPECT_GE(Clock::now() - t0, 100ms);
    EXPECT_EQ(replies[0].error, Error::timeout);
    EXPECT_EQ(p.session->outstanding(), 0u);
    co_await p.raw.send(submit_resp(req.sequence_number, "late"));
    co_await p.raw.send(header_only(CommandId::enquire_link, 99));  // a round trip: the late one was read
    const Pdu pong = co_await p.raw.expect();
    EXPECT_EQ(pong.sequence_number, 99u);
  });
  EXPECT_EQ(replies.size(), 1u);
  EXPECT_FALSE(protocol_errors.empty());  // the late response was reported and dropped
}

// With a late window, a response after the timeout goes to on_late (once);
// a request never answered hears Error::timeout there when the window ends.
TEST_F(SessionTest, LateWindowHandsALateResponseToOnLateOnce) {
  auto cfg = config(Role::client);
  cfg.response_timeout = 100ms;
  cfg.late_window = 300ms;
  auto p = make(cfg);
  std::vector<Reply> replies, late;
  Counter done(io);
  run(io, [&]() -> asio::awaitable<void> {
    co_await bind_client(*p.session, p.raw);
    for (const char* text : {"answered late", "never answered"}) {
      p.session->try_request(
          submit(text), [&](Reply&& r) { replies.push_back(std::move(r)); done.add(); },
          [&](Reply&& r) { late.push_back(std::move(r)); done.add(); });
    }
    const Pdu first = co_await p.raw.expect();
    co_await p.raw.expect();
    co_await done.wait_for(2);
    EXPECT_EQ(replies[0].error, Error::timeout);
    EXPECT_TRUE(replies[0].late_pending && replies[1].late_pending);
    EXPECT_EQ(p.session->late_pending(), 2u);
    co_await p.raw.send(submit_resp(first.sequence_number, "late-id"));
    co_await p.raw.send(submit_resp(first.sequence_number, "twice"));  // no second on_late
    co_await done.wait_for(3);
    EXPECT_EQ(late.size(), 1u);
    EXPECT_FALSE(late.at(0).error);
    EXPECT_EQ(late.at(0).pdu.as<MessageIdResp>().message_id, "late-id");
    co_await done.wait_for(4);  // the other one's window ends
    EXPECT_EQ(late.at(1).error, Error::timeout);
    EXPECT_EQ(p.session->late_pending(), 0u);
  });
  EXPECT_EQ(replies.size(), 2u);
  EXPECT_EQ(late.size(), 2u);
  EXPECT_EQ(protocol_errors.size(), 1u);  // only the second answer to the same request
}

TEST_F(SessionTest, CloseCompletesEveryOutstandingRequestOnceWithClosed) {
  auto p = make(config(Role::client));
  std::vector<int> calls(10, 0);
  std::vector<error_code> errors(10);
  Reply awaited;
  run(io, [&]() -> asio::awaitable<void> {
    co_await bind_client(*p.session, p.raw);
    for (int i = 0; i < 10; ++i) {
      p.session->try_request(submit("c"), [&, i](Reply&& r) {
        ++calls[static_cast<std::size_t>(i)];
        errors[static_cast<std::size_t>(i)] = r.error;
      });
    }
    Counter awaited_done(io);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      awaited = co_await p.session->request(submit("awaited"));
      awaited_done.add();
    }, asio::detached);
    for (int i = 0; i < 11; ++i) co_await p.raw.expect();
    p.session->stop();
    co_await p.session->wait_closed();
    co_await awaited_done.wait_for(1);
    EXPECT_EQ(p.session->try_request(submit("after"), [](Reply&&) {}).error, Error::closed);
    const auto after = co_await p.raw.recv();
    EXPECT_FALSE(after);
  });
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(calls[static_cast<std::size_t>(i)], 1);
    EXPECT_EQ(errors[static_cast<std::size_t>(i)], Error::closed);
  }
  EXPECT_EQ(awaited.error, Error::closed);
  EXPECT_EQ(p.session->close_reason(), Error::stopped);
}

// Requests still in the write queue when the session closes never reached
// the peer: they complete with not_sent (a gateway may send them elsewhere),
// unlike those already written (closed: the peer may have them).
TEST_F(SessionTest, CloseTellsRequestsNeverWrittenFromThoseThePeerMayHave) {
  auto p = make(config(Role::client));
  std::vector<error_code> written(2), unwritten(3);
  run(io, [&]() -> asio::awaitable<void> {
    co_await bind_client(*p.session, p.raw);
    for (int i = 0; i < 2; ++i) {
      p.session->try_request(submit("w"), [&, i](Reply&& r) { written[static_cast<std::size_t>(i)] = r.error; });
    }
    for (int i = 0; i < 2; ++i) co_await p.raw.expect();
    // Queued and stopped in the same turn: the writer never ran for these.
    for (int i = 0; i < 3; ++i) {
      p.session->try_request(submit("u"), [&, i](Reply&& r) { unwritten[static_cast<std::size_t>(i)] = r.error; });
    }
    p.session->stop();
    co_await p.session->wait_closed();
    const auto after = co_await p.raw.recv();
    EXPECT_FALSE(after) << "a request the session reported not sent reached the peer";
  });
  for (const auto& e : written) EXPECT_EQ(e, Error::closed);
  for (const auto& e : unwritten) EXPECT_EQ(e, Error::not_sent);
}

TEST_F(SessionTest, GenericNackAndMalformedResponsesCompleteTheRequest) {
  auto p = make(config(Role::client));
  std::vector<Reply> replies(2);
  Counter done(io);
  run(io, [&]() -> asio::awaitable<void> {
    co_await bind_client(*p.session, p.raw);
    for (int i = 0; i < 2; ++i) {
      p.session->try_request(submit("n"), [&, i](Reply&& r) {
        replies[static_cast<std::size_t>(i)] = std::move(r);
        done.add();
      });
    }
    const Pdu a = co_await p.raw.expect();
    const Pdu b = co_await p.raw.expect();
    co_await p.raw.send(header_only(CommandId::generic_nack, a.sequence_number, status::ESME_RINVCMDLEN));
    // submit_sm_resp whose message_id never ends
    co_await p.raw.send_bytes(raw_header(16 + 4, 0x80000004, b.sequence_number) + "abcd");
    co_await p.raw.send(submit_resp(12345, "nobody asked"));
    co_await done.wait_for(2);
  });
  EXPECT_FALSE(replies[0].error);
  EXPECT_EQ(replies[0].pdu.command_id, CommandId::generic_nack);
  EXPECT_EQ(replies[0].pdu.command_status, status::ESME_RINVCMDLEN);
  EXPECT_FALSE(replies[0].ok());
  EXPECT_EQ(replies[1].error, Error::malformed_response);
  EXPECT_FALSE(p.session->is_closed());
}

// ---------------------------------------------------------------- backpressure

TEST_F(SessionTest, WriteQueueStaysBoundedWhenThePeerStopsReading) {
  auto cfg = config(Role::client);
  cfg.window = 100000;
  cfg.write_queue_limit = 16 * 1024;
  cfg.response_timeout = 30s;
  auto p = make(cfg, true, 8192);
  auto& s = p.session;
  auto& raw = p.raw;

  constexpr int kTotal = 1000;  // ~250 KB: several times what the socket buffers and the queue hold
  const std::string text(200, 'x');
  int sent = 0;
  std::size_t max_queue = 0;
  std::size_t pdu_size = encode(submit(text)).size();
  bool producer_done = false;
  run(io, [&]() -> asio::awaitable<void> {
    co_await bind_client(*s, raw);
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      const Pdu pdu = submit(text);
      while (sent < kTotal) {
        const error_code ec = co_await s->wait_writable();
        if (ec) break;
        CO_REQUIRE(!s->try_request(pdu, [](Reply&&) {}).error);
        ++sent;
        max_queue = std::max(max_queue, s->write_queue_bytes());
      }
      producer_done = true;
    }, asio::detached);

    // The producer must stall: no progress for 200 ms.
    for (int last = -1; last != sent;) {
      last = sent;
      co_await sleep_for(200ms);
    }
    EXPECT_LT(sent, kTotal);
    EXPECT_FALSE(producer_done);
    EXPECT_LE(s->write_queue_bytes(), cfg.write_queue_limit + pdu_size);

    raw.socket().set_option(asio::socket_base::receive_buffer_size(1 << 20));
    int received = 0;  // the peer reads again: everything gets through
    while (received < kTotal) {
      const Pdu r = co_await raw.expect();
      CO_REQUIRE(r.command_id == CommandId::submit_sm);
      ++received;
    }
    EXPECT_TRUE(producer_done);
  }, 10000ms);
  EXPECT_EQ(sent, kTotal);
  EXPECT_LE(max_queue, cfg.write_queue_limit + pdu_size);
  s->stop();
}

TEST_F(SessionTest, ReaderPausesWhenThePeerFloodsWithoutReading) {
  auto cfg = config(Role::server);
  cfg.write_queue_limit = 8 * 1024;
  auto p = make(cfg, true, 4096);
  auto& s = p.session;
  auto& raw = p.raw;
  run(io, [&]() -> asio::awaitable<void> {
    std::string flood;
    for (uint32_t seq = 1; seq <= 100000; ++seq) flood += encode(header_only(CommandId::enquire_link, seq));
    asio::co_spawn(io, raw.send_bytes(std::move(flood)), asio::detached);  // blocks once buffers fill
    std::size_t last = 1;
    for (std::size_t q = 0; q != last;) {
      last = q;
      co_await sleep_for(200ms);
      q = s->write_queue_bytes();
    }
    EXPECT_LE(s->write_queue_bytes(), cfg.write_queue_limit + 64 * 1024);  // limit + one read buffer of resps
    EXPECT_FALSE(s->is_closed());
  });
  s->stop();
}

// ---------------------------------------------------------------- keepalive and timers

TEST_F(SessionTest, EnquireLinkOnIdleAndCloseWhenNotAnswered) {
  auto cfg = config(Role::client);
  cfg.enquire_link_interval = 100ms;
  cfg.enquire_link_timeout = 100ms;
  expect_close(cfg, Error::enquire_link_timeout, [](Pair& p) -> asio::awaitable<void> {
    co_await bind_client(*p.session, p.raw);
    const auto t0 = Clock::now();
    const Pdu first = co_await p.raw.expect();
    EXPECT_EQ(first.command_id, CommandId::enquire_link);
    EXPECT_GE(Clock::now() - t0, 90ms);
    co_await p.raw.send(make_response(first));
    const Pdu second = co_await p.raw.expect();  // idle again: another one, left unanswered
    EXPECT_EQ(second.command_id, CommandId::enquire_link);
    EXPECT_NE(second.sequence_number, first.sequence_number);
    EXPECT_GE(Clock::now() - t0, 190ms);
  });
}

TEST_F(SessionTest, BindTimeoutClosesASilentConnection) {
  auto cfg = config(Role::server);
  cfg.bind_timeout = 150ms;
  const auto t0 = Clock::now();
  expect_close(cfg, Error::bind_timeout, [](Pair&) -> asio::awaitable<void> { co_return; });
  EXPECT_GE(Clock::now() - t0, 140ms);
}

TEST_F(SessionTest, InactivityTimeoutUnbinds) {
  auto cfg = config(Role::server);
  cfg.inactivity_timeout = 150ms;
  expect_close(cfg, Error::inactivity, [](Pair& p) -> asio::awaitable<void> {
    co_await p.raw.bind(BindType::transceiver, "esme", "secret");
    const Pdu unbind = co_await p.raw.expect();
    EXPECT_EQ(unbind.command_id, CommandId::unbind);
    co_await p.raw.send(make_response(unbind));
  });
}

// ---------------------------------------------------------------- unbind

TEST_F(SessionTest, PeerUnbindIsAnsweredThenClosed) {
  expect_close(config(Role::server), Error::unbound, [](Pair& p) -> asio::awaitable<void> {
    co_await p.raw.bind(BindType::transceiver, "esme", "secret");
    co_await p.raw.send(header_only(CommandId::unbind, 5));
    const Pdu r = co_await p.raw.expect();
    EXPECT_EQ(r.command_id, CommandId::unbind_resp);
    EXPECT_EQ(r.sequence_number, 5u);
  });
}

TEST_F(SessionTest, GracefulUnbindWaitsForOutstandingResponses) {
  auto p = make(config(Role::client));
  Reply reply;
  Counter unbind_done(io);
  run(io, [&]() -> asio::awaitable<void> {
    co_await bind_client(*p.session, p.raw);
    p.session->try_request(submit("before unbind"), [&](Reply&& r) { reply = std::move(r); });
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await p.session->unbind();
      unbind_done.add();
    }, asio::detached);
    const Pdu req = co_await p.raw.expect();
    EXPECT_EQ(p.session->try_request(submit("refused"), [](Reply&&) {}).error, Error::not_bound);
    co_await sleep_for(100ms);
    EXPECT_EQ(p.raw.socket().available(), 0u);  // no unbind while a request is outstanding
    co_await p.raw.send(submit_resp(req.sequence_number, "done"));
    const Pdu unbind = co_await p.raw.expect();
    EXPECT_EQ(unbind.command_id, CommandId::unbind);
    co_await p.raw.send(make_response(unbind));
    co_await p.raw.until_closed();
    co_await unbind_done.wait_for(1);
  });
  EXPECT_TRUE(reply.ok());
  EXPECT_EQ(p.session->close_reason(), Error::unbound);
}

// ---------------------------------------------------------------- small parts

TEST(SmallFunctionTest, InlineAndHeapCallablesAreCalledAndDestroyed) {
  auto counter = std::make_shared<int>(0);
  {
    SmallFunction<int(int), 48> small = [counter](int x) { return ++*counter + x; };
    std::array<char, 200> big{};
    SmallFunction<int(int), 48> large = [counter, big](int x) { return ++*counter + x + big[0]; };
    SmallFunction<int(int), 48> moved = std::move(large);
    EXPECT_FALSE(large);
    EXPECT_EQ(small(10), 11);
    EXPECT_EQ(moved(10), 12);
    EXPECT_EQ(counter.use_count(), 3);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

TEST(ConstantTimeEqualTest, ComparesWholeStrings) {
  EXPECT_TRUE(constant_time_equal("secret", "secret"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal("secret", "secreT"));
  EXPECT_FALSE(constant_time_equal("secret", "secret1"));
  EXPECT_FALSE(constant_time_equal("secret", ""));
  EXPECT_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

}  // namespace
}  // namespace smsgate::smpp::net::test
