#include "smpp/net/session.hpp"
#include "smpp/net/coroutine_warnings.hpp"

#include <algorithm>
#include <cstring>
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "smpp/status.hpp"

namespace smsgate::smpp::net {

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kMaxSequence = 0x7FFFFFFF;

class ErrorCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "smpp.net"; }
  std::string message(int ev) const override {
    switch (static_cast<Error>(ev)) {
      case Error::timeout: return "no response within the response timeout";
      case Error::closed: return "session closed";
      case Error::not_bound: return "not allowed in the session's state";
      case Error::window_full: return "window full";
      case Error::queue_full: return "write queue full";
      case Error::malformed_response: return "malformed response";
      case Error::framing_lost: return "framing lost (bad command_length)";
      case Error::bind_timeout: return "no bind within the bind timeout";
      case Error::enquire_link_timeout: return "enquire_link not answered";
      case Error::inactivity: return "inactivity timeout";
      case Error::unbound: return "unbound";
      case Error::bind_rejected: return "bind rejected";
      case Error::stopped: return "stopped";
      case Error::not_sent: return "closed before it was sent";
    }
    return "unknown smpp.net error";
  }
};

// SMPP 3.4 §2.3 table 2-1: may an end of `issuer` role send this request in
// state `st`? (enquire_link is also accepted while open.)
bool may_issue(Role issuer, SessionState st, CommandId id) {
  const bool tx = st == SessionState::bound_tx || st == SessionState::bound_trx;
  const bool rx = st == SessionState::bound_rx || st == SessionState::bound_trx;
  const bool esme = issuer == Role::client;
  switch (id) {
    case CommandId::bind_transmitter:
    case CommandId::bind_receiver:
    case CommandId::bind_transceiver: return esme && st == SessionState::open;
    case CommandId::outbind: return !esme && st == SessionState::open;
    case CommandId::unbind: return tx || rx;
    case CommandId::enquire_link: return st != SessionState::closed;
    case CommandId::submit_sm:
    case CommandId::submit_multi:
    case CommandId::query_sm:
    case CommandId::cancel_sm:
    case CommandId::replace_sm: return esme && tx;
    case CommandId::data_sm: return esme ? tx : rx;
    case CommandId::deliver_sm:
    case CommandId::alert_notification: return !esme && rx;
    default: return false;
  }
}

Role peer_of(Role r) { return r == Role::server ? Role::client : Role::server; }

bool is_bind(CommandId id) {
  return id == CommandId::bind_transmitter || id == CommandId::bind_receiver ||
         id == CommandId::bind_transceiver;
}

void put_be32(char* p, uint32_t v) {
  p[0] = static_cast<char>(v >> 24);
  p[1] = static_cast<char>(v >> 16);
  p[2] = static_cast<char>(v >> 8);
  p[3] = static_cast<char>(v);
}

uint32_t valid_sequence(uint32_t seq) { return (seq == 0 || seq > kMaxSequence) ? 1 : seq; }

}  // namespace

const boost::system::error_category& error_category() noexcept {
  static const ErrorCategory category;
  return category;
}

std::string_view to_string(BindType t) {
  switch (t) {
    case BindType::transmitter: return "transmitter";
    case BindType::receiver: return "receiver";
    case BindType::transceiver: return "transceiver";
  }
  return "unknown";
}

std::string_view to_string(SessionState s) {
  switch (s) {
    case SessionState::open: return "open";
    case SessionState::bound_tx: return "bound_tx";
    case SessionState::bound_rx: return "bound_rx";
    case SessionState::bound_trx: return "bound_trx";
    case SessionState::closed: return "closed";
  }
  return "unknown";
}

CommandId bind_command(BindType t) {
  switch (t) {
    case BindType::transmitter: return CommandId::bind_transmitter;
    case BindType::receiver: return CommandId::bind_receiver;
    case BindType::transceiver: break;
  }
  return CommandId::bind_transceiver;
}

std::optional<BindType> bind_type_of(CommandId id) {
  switch (static_cast<CommandId>(static_cast<uint32_t>(id) & 0x7FFFFFFFu)) {
    case CommandId::bind_transmitter: return BindType::transmitter;
    case CommandId::bind_receiver: return BindType::receiver;
    case CommandId::bind_transceiver: return BindType::transceiver;
    default: return std::nullopt;
  }
}

SessionState bound_state(BindType t) {
  switch (t) {
    case BindType::transmitter: return SessionState::bound_tx;
    case BindType::receiver: return SessionState::bound_rx;
    case BindType::transceiver: break;
  }
  return SessionState::bound_trx;
}

Pdu make_response(CommandId request_id, uint32_t sequence, uint32_t status) {
  Pdu p;
  p.command_id = static_cast<CommandId>(response_id_for(static_cast<uint32_t>(request_id)));
  p.command_status = status;
  p.sequence_number = sequence;
  p.body = empty_body_for(p.command_id);
  return p;
}

// ---------------------------------------------------------------- Impl

// The session's coroutines and internal paths (a nested type: it sees the
// private members without widening the public header).
struct Session::Impl {
  using Self = std::shared_ptr<Session>;

  static auto redirect(error_code& ec) { return asio::redirect_error(asio::use_awaitable, ec); }

  static void emit(Session& s, SessionEvent::Kind kind, uint32_t status = 0, error_code ec = {},
                   std::string_view detail = {}) {
    if (!s.event_handler_) return;
    SessionEvent e;
    e.kind = kind;
    e.state = s.state_;
    e.status = status;
    e.error = ec;
    e.detail = detail;
    s.event_handler_(s, e);
  }

  static void set_state(Session& s, SessionState st) {
    if (s.state_ == st) return;
    s.state_ = st;
    s.closed_.store(st == SessionState::closed, std::memory_order_release);
    emit(s, SessionEvent::Kind::state_changed);
  }

  // Waits on a condition timer until cancel() (or its expiry).
  static asio::awaitable<void> wait_signal(asio::steady_timer& t) {
    error_code ec;
    co_await t.async_wait(redirect(ec));
  }

  static void wake_writer(Session& s) {
    if (s.writer_waiting_) {
      s.writer_waiting_ = false;
      s.write_signal_.cancel();
    }
  }

  // Appends one encoded PDU to the write queue. Returns its offset.
  static std::size_t append(Session& s, const Pdu& pdu) {
    const std::size_t off = s.pending_.size();
    try {
      encode(pdu, s.pending_);
    } catch (...) {
      s.pending_.resize(off);
      throw;
    }
    wake_writer(s);
    return off;
  }

  // A PDU the peer made us send (a response, a nack): counted for the
  // reader's pause, since these cannot be refused like our own requests.
  static void append_answer(Session& s, const Pdu& pdu) {
    const std::size_t off = append(s, pdu);
    s.pending_answer_bytes_ += s.pending_.size() - off;
  }

  // ---- window

  static uint32_t allocate_sequence(Session& s) {
    for (;;) {
      const uint32_t seq = s.next_seq_;
      s.next_seq_ = seq >= kMaxSequence ? 1 : seq + 1;
      if (s.slots_[seq & s.mask_].seq == 0) return seq;
    }
  }

  // Links slot `i` into the deadline-ordered list (from the back: the common
  // case, one timeout for all, appends).
  static void link(Session& s, int32_t i) {
    Slot& slot = s.slots_[static_cast<std::size_t>(i)];
    int32_t after = s.newest_;
    while (after >= 0 && s.slots_[static_cast<std::size_t>(after)].deadline > slot.deadline) {
      after = s.slots_[static_cast<std::size_t>(after)].prev;
    }
    slot.prev = after;
    slot.next = after >= 0 ? s.slots_[static_cast<std::size_t>(after)].next : s.oldest_;
    if (slot.next >= 0) s.slots_[static_cast<std::size_t>(slot.next)].prev = i;
    else s.newest_ = i;
    if (after >= 0) {
      s.slots_[static_cast<std::size_t>(after)].next = i;
    } else {
      s.oldest_ = i;
      s.timeout_signal_.cancel();  // a new earliest deadline
    }
  }

  static void unlink(Session& s, int32_t i) {
    Slot& slot = s.slots_[static_cast<std::size_t>(i)];
    if (slot.prev >= 0) s.slots_[static_cast<std::size_t>(slot.prev)].next = slot.next;
    else s.oldest_ = slot.next;
    if (slot.next >= 0) s.slots_[static_cast<std::size_t>(slot.next)].prev = slot.prev;
    else s.newest_ = slot.prev;
    slot.prev = slot.next = -1;
  }

  // Completes the request in slot `i` (exactly once: the slot is freed
  // before the callback runs).
  static void complete(Session& s, int32_t i, Reply&& reply) {
    Slot& slot = s.slots_[static_cast<std::size_t>(i)];
    ResponseCallback cb = std::move(slot.callback);
    slot.late.reset();  // answered in time (or closed): no late answer to wait for
    unlink(s, i);
    slot.seq = 0;
    if (slot.internal) {
      slot.internal = false;
    } else {
      --s.outstanding_;
      if (s.writable_waiters_ > 0) s.writable_signal_.cancel_one();
    }
    if (s.draining_) s.drain_signal_.cancel();
    cb(std::move(reply));
  }

  // A request's response timed out: its on_late, if any, is kept for the
  // late window, then it completes with Error::timeout.
  static void time_out(Session& s, int32_t i) {
    Slot& slot = s.slots_[static_cast<std::size_t>(i)];
    Reply reply{Error::timeout, {}};
    if (slot.late && s.config_.late_window.count() > 0) {
      const auto until = Clock::now() + s.config_.late_window;
      s.late_.insert_or_assign(slot.seq, Late{slot.command, until, std::move(slot.late)});
      s.late_order_.emplace_back(slot.seq, until);
      reply.late_pending = true;
      // Bounded: the oldest give way (they hear "timeout", as at the window's end).
      while (s.late_.size() > std::max<uint32_t>(s.config_.late_window_max, 1) && end_oldest_late(s)) {
      }
    }
    complete(s, i, std::move(reply));
  }

  // Ends the oldest late entry still waiting (skipping those answered);
  // false when there is none.
  static bool end_oldest_late(Session& s) {
    while (!s.late_order_.empty()) {
      const auto [seq, until] = s.late_order_.front();
      s.late_order_.pop_front();
      const auto it = s.late_.find(seq);
      if (it == s.late_.end() || it->second.until != until) continue;
      ResponseCallback cb = std::move(it->second.callback);
      s.late_.erase(it);
      cb(Reply{Error::timeout, {}});
      return true;
    }
    return false;
  }

  // A response for a request that timed out in the late window: its on_late
  // gets it (null `pdu`: it did not decode). False when `seq` is not in the
  // window (or the command differs); `pdu` is then untouched.
  static bool take_late(Session& s, uint32_t seq, CommandId response_id, Pdu* pdu) {
    const auto it = s.late_.find(seq);
    if (it == s.late_.end()) return false;
    if (response_id != CommandId::generic_nack &&
        static_cast<uint32_t>(response_id) != response_id_for(static_cast<uint32_t>(it->second.command))) {
      return false;
    }
    ResponseCallback cb = std::move(it->second.callback);
    s.late_.erase(it);
    cb(pdu ? Reply{{}, std::move(*pdu)} : Reply{Error::malformed_response, {}});
    return true;
  }

  static error_code check_request(const Session& s, const Pdu& pdu) {
    if (s.state_ == SessionState::closed) return Error::closed;
    if (is_response(static_cast<uint32_t>(pdu.command_id))) {
      return boost::system::errc::make_error_code(boost::system::errc::invalid_argument);
    }
    if (!s.is_bound() || !may_issue(s.config_.role, s.state_, pdu.command_id)) return Error::not_bound;
    if (s.outstanding_ >= s.config_.window) return Error::window_full;
    if (s.pending_.size() >= s.config_.write_queue_limit) return Error::queue_full;
    return {};
  }

  // Queues a request; moves from `cb` only on success.
  static Sent enqueue_request(Session& s, const Pdu& pdu, ResponseCallback& cb,
                              std::chrono::milliseconds timeout, bool internal) {
    if (internal) {
      if (s.state_ == SessionState::closed) return {Error::closed, 0};
    } else if (auto ec = check_request(s, pdu)) {
      return {ec, 0};
    }
    const std::size_t off = append(s, pdu);
    const uint32_t seq = allocate_sequence(s);
    put_be32(s.pending_.data() + off + 12, seq);
    const auto i = static_cast<int32_t>(seq & s.mask_);
    Slot& slot = s.slots_[static_cast<std::size_t>(i)];
    slot.seq = seq;
    slot.command = pdu.command_id;
    slot.deadline = Clock::now() + timeout;
    slot.callback = std::move(cb);
    slot.internal = internal;
    slot.batch = s.write_batch_;
    if (!internal) ++s.outstanding_;
    link(s, i);
    return {{}, seq};
  }

  // Awaitable form of enqueue_request (the completion is posted, so the
  // awaiting coroutine never resumes inside the session's reader).
  // `on_reply` runs inline, where the response is read, before the awaiting
  // coroutine resumes (a bind must change the state before the next PDU in
  // the same read is handled).
  static asio::awaitable<Reply> await_request(Self self, Pdu pdu, std::chrono::milliseconds timeout,
                                              bool internal, std::function<void(const Reply&)> on_reply = {}) {
    Session& s = *self;
    co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(Reply)>(
        [&](auto handler) {
          ResponseCallback cb = [h = std::move(handler), sp = &s, f = &on_reply](Reply&& r) mutable {
            if (*f) (*f)(r);
            asio::post(sp->executor_, [h = std::move(h), r = std::move(r)]() mutable { std::move(h)(std::move(r)); });
          };
          const Sent sent = enqueue_request(s, pdu, cb, timeout, internal);
          if (sent.error) cb(Reply{sent.error, {}});
        },
        asio::use_awaitable);
  }

  // ---- close

  static void close(Session& s, error_code reason) {
    if (s.state_ == SessionState::closed) return;
    s.close_reason_ = reason;
    set_state(s, SessionState::closed);
    s.stream_->close();
    for (asio::steady_timer* t : {&s.write_signal_, &s.writable_signal_, &s.read_signal_, &s.timeout_signal_,
                                  &s.drain_signal_, &s.closed_signal_, &s.keepalive_timer_}) {
      t->cancel();
    }
    while (s.oldest_ >= 0) {
      const bool sent = s.slots_[static_cast<std::size_t>(s.oldest_)].batch != s.write_batch_;
      complete(s, s.oldest_, Reply{sent ? Error::closed : Error::not_sent, {}});
    }
    auto late = std::move(s.late_);
    s.late_.clear();
    s.late_order_.clear();
    for (auto& [seq, entry] : late) entry.callback(Reply{Error::closed, {}});
    emit(s, SessionEvent::Kind::closed, 0, reason);
  }

  // After unbind_resp is queued: stop reading, close once written (or at the
  // close timeout).
  static void close_after_flush(Session& s) {
    s.close_after_flush_ = true;
    s.flush_deadline_ = Clock::now() + s.config_.close_timeout;
    s.keepalive_timer_.cancel();
    wake_writer(s);
  }

  // Graceful end (unbind() and the inactivity timeout).
  static asio::awaitable<void> graceful_close(Self self, error_code reason) {
    Session& s = *self;
    if (s.unbinding_ || s.close_after_flush_) {  // already ending
      co_await s.wait_closed();
      co_return;
    }
    if (!s.is_bound()) {
      close(s, reason);
      co_return;
    }
    s.unbinding_ = true;
    s.writable_signal_.cancel();  // producers see "not bound"
    const auto deadline = Clock::now() + s.config_.close_timeout;
    while (!s.is_closed() && (s.outstanding_ > 0 || s.incoming_pending_ > 0) && Clock::now() < deadline) {
      s.draining_ = true;
      s.drain_signal_.expires_at(deadline);
      co_await wait_signal(s.drain_signal_);
      s.draining_ = false;
    }
    if (s.is_closed()) co_return;
    Pdu unbind;
    unbind.command_id = CommandId::unbind;
    unbind.body = Empty{};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    co_await await_request(self, std::move(unbind), std::max(left, std::chrono::milliseconds(1)), true);
    close(s, reason);
  }

  // ---- coroutines

  static asio::awaitable<void> writer(Self self) {
    Session& s = *self;
    while (!s.is_closed()) {
      if (s.pending_.empty()) {
        if (s.close_after_flush_) {
          close(s, Error::unbound);
          break;
        }
        s.writer_waiting_ = true;
        co_await wait_signal(s.write_signal_);
        s.writer_waiting_ = false;
        continue;
      }
      s.writing_.swap(s.pending_);
      s.pending_.clear();
      ++s.write_batch_;
      s.pending_answer_bytes_ = 0;
      if (s.queue_blocked_) {  // producers waiting for room: all may go on
        s.queue_blocked_ = false;
        s.writable_signal_.cancel();
      }
      if (s.read_paused_) s.read_signal_.cancel();
      error_code ec;
      co_await s.stream_->write_all(asio::buffer(s.writing_), ec);
      if (ec) {
        close(s, ec);
        break;
      }
      s.writing_.clear();
    }
  }

  // Only what the peer makes us write (answers) or owes us an answer for
  // pauses the reader: our own requests must not, or two ends that both
  // write a lot could each wait for the other to read.
  static bool reader_must_pause(const Session& s) {
    return s.pending_answer_bytes_ >= s.config_.write_queue_limit ||
           s.incoming_pending_ >= s.config_.max_incoming_pending;
  }

  static asio::awaitable<void> reader(Self self) {
    Session& s = *self;
    std::size_t begin = 0;
    std::size_t end = 0;
    for (;;) {
      while (!s.is_closed() && !s.close_after_flush_) {
        const std::span<const uint8_t> avail(s.rbuf_.data() + begin, end - begin);
        const Frame f = next_frame(avail, s.config_.limits);
        if (f.kind == Frame::need_more) break;
        if (f.kind == Frame::fatal) {
          emit(s, SessionEvent::Kind::protocol_error, f.error.status, Error::framing_lost, f.error.message);
          close(s, Error::framing_lost);
          co_return;
        }
        begin += f.length;
        DecodeResult r = decode(avail.first(f.length), s.config_.limits);
        if (!r) {
          on_decode_error(s, r.error());
        } else if (is_bind(r.pdu().command_id) && s.config_.role == Role::server &&
                   s.state_ == SessionState::open) {
          co_await handle_bind(self, r.pdu());
        } else {
          dispatch(s, r.pdu());
        }
      }
      if (s.is_closed() || s.close_after_flush_) co_return;

      if (begin == end) {
        begin = end = 0;
      } else if (begin > 0) {
        std::memmove(s.rbuf_.data(), s.rbuf_.data() + begin, end - begin);
        end -= begin;
        begin = 0;
      }
      if (end == s.rbuf_.size()) s.rbuf_.resize(s.rbuf_.size() * 2);  // one PDU larger than the buffer

      while (!s.is_closed() && reader_must_pause(s)) {
        s.read_paused_ = true;
        co_await wait_signal(s.read_signal_);
        s.read_paused_ = false;
      }
      if (s.is_closed()) co_return;

      error_code ec;
      const std::size_t n = co_await s.stream_->read_some(asio::buffer(s.rbuf_.data() + end, s.rbuf_.size() - end), ec);
      if (ec) {
        close(s, ec == asio::error::eof ? make_error_code(Error::closed) : ec);
        co_return;
      }
      end += n;
      s.last_rx_ = Clock::now();
    }
  }

  static void on_decode_error(Session& s, const DecodeError& err) {
    emit(s, SessionEvent::Kind::protocol_error, err.status, {}, err.message);
    if (is_response(err.command_id)) {
      const auto i = static_cast<int32_t>(err.sequence_number & s.mask_);
      const Slot& slot = s.slots_[static_cast<std::size_t>(i)];
      if (err.sequence_number != 0 && slot.seq == err.sequence_number) {
        complete(s, i, Reply{Error::malformed_response, {}});
      } else if (err.sequence_number != 0) {
        take_late(s, err.sequence_number, CommandId::generic_nack, nullptr);
      }
      return;
    }
    Pdu nack;
    nack.command_id = CommandId::generic_nack;
    nack.command_status = err.status;
    nack.sequence_number = err.sequence_number;
    nack.body = Empty{};
    append_answer(s, nack);
  }

  static void on_response(Session& s, Pdu& p) {
    const uint32_t seq = p.sequence_number;
    const auto i = static_cast<int32_t>(seq & s.mask_);
    const Slot& slot = s.slots_[static_cast<std::size_t>(i)];
    if (seq == 0 || slot.seq != seq ||
        (p.command_id != CommandId::generic_nack &&
         static_cast<uint32_t>(p.command_id) != response_id_for(static_cast<uint32_t>(slot.command)))) {
      if (seq != 0 && slot.seq != seq && !s.late_.empty()) {
        if (take_late(s, seq, p.command_id, &p)) return;
      }
      emit(s, SessionEvent::Kind::protocol_error, p.command_status, {}, "response matches no outstanding request");
      return;
    }
    complete(s, i, Reply{{}, std::move(p)});
  }

  static void reject(Session& s, const Pdu& p, uint32_t status, std::string_view why) {
    emit(s, SessionEvent::Kind::protocol_error, status, {}, why);
    append_answer(s, make_response(p, status));
  }

  static void dispatch(Session& s, Pdu& p) {
    if (is_response(static_cast<uint32_t>(p.command_id))) {
      on_response(s, p);
      return;
    }
    s.last_peer_request_ = s.last_rx_;
    const Role peer = peer_of(s.config_.role);
    switch (p.command_id) {
      case CommandId::enquire_link:
        append_answer(s, make_response(p));
        return;
      case CommandId::unbind:
        if (s.state_ == SessionState::open) {
          reject(s, p, status::ESME_RINVBNDSTS, "unbind while not bound");
          return;
        }
        append_answer(s, make_response(p));
        close_after_flush(s);
        return;
      case CommandId::bind_transmitter:
      case CommandId::bind_receiver:
      case CommandId::bind_transceiver:
        // (a server in state open handles binds in handle_bind)
        reject(s, p, s.config_.role == Role::server ? status::ESME_RALYBND : status::ESME_RINVBNDSTS,
               "bind not allowed");
        return;
      case CommandId::outbind:
        emit(s, SessionEvent::Kind::protocol_error, 0, {}, "outbind ignored");
        return;
      default:
        break;
    }
    if (!may_issue(peer, s.state_, p.command_id)) {
      if (p.command_id == CommandId::alert_notification) {  // has no response
        emit(s, SessionEvent::Kind::protocol_error, status::ESME_RINVBNDSTS, {}, "alert_notification dropped");
      } else {
        reject(s, p, status::ESME_RINVBNDSTS, "request not allowed in this state");
      }
      return;
    }
    if (!s.request_handler_) {
      if (p.command_id != CommandId::alert_notification) reject(s, p, status::ESME_RSYSERR, "no request handler");
      return;
    }
    if (p.command_id != CommandId::alert_notification) ++s.incoming_pending_;
    s.request_handler_(s, std::move(p));
  }

  static asio::awaitable<void> handle_bind(Self self, Pdu& p) {
    Session& s = *self;
    const BindType type = *bind_type_of(p.command_id);
    const Bind& b = p.as<Bind>();
    BindRequest req{type, b.system_id, b.password, b.system_type, b.interface_version, s.remote_};
    uint32_t result = status::ESME_RBINDFAIL;
    if (s.authenticator_) {
      try {
        result = co_await s.authenticator_(std::move(req));
      } catch (const std::exception&) {
        result = status::ESME_RSYSERR;
      }
    }
    if (s.is_closed()) co_return;
    Pdu resp = make_response(p, result);
    if (result == status::ESME_ROK) {
      BindResp body;
      body.system_id = s.config_.system_id;
      body.tlvs.set(tag::sc_interface_version, std::string(1, '\x34'));
      resp.body = std::move(body);
    }
    append_answer(s, resp);
    emit(s, SessionEvent::Kind::bind_decided, result, {}, b.system_id);
    if (result == status::ESME_ROK) {
      s.system_id_ = b.system_id;
      s.last_peer_request_ = Clock::now();
      set_state(s, bound_state(type));
      s.keepalive_timer_.cancel();  // recompute the keepalive deadlines
    }
  }

  static asio::awaitable<void> timeouts(Self self) {
    Session& s = *self;
    while (!s.is_closed()) {
      const auto now = Clock::now();
      // The late window's front: answered entries are skipped, ended ones told.
      auto next = Clock::time_point::max();
      while (!s.late_order_.empty()) {
        const auto [seq, until] = s.late_order_.front();
        const auto it = s.late_.find(seq);
        if (it == s.late_.end() || it->second.until != until) {
          s.late_order_.pop_front();
        } else if (until <= now) {
          end_oldest_late(s);
        } else {
          next = until;
          break;
        }
      }
      if (s.is_closed()) break;
      if (s.oldest_ >= 0) {
        const auto deadline = s.slots_[static_cast<std::size_t>(s.oldest_)].deadline;
        if (deadline <= now) {
          time_out(s, s.oldest_);
          continue;
        }
        next = std::min(next, deadline);
      }
      s.timeout_signal_.expires_at(next);
      co_await wait_signal(s.timeout_signal_);
    }
  }

  static void send_enquire_link(Session& s) {
    Pdu p;
    p.command_id = CommandId::enquire_link;
    p.body = Empty{};
    ResponseCallback cb = [&s](Reply&& r) {
      s.enquire_outstanding_ = false;
      if (r.error == Error::timeout) close(s, Error::enquire_link_timeout);
    };
    if (!enqueue_request(s, p, cb, s.config_.enquire_link_timeout, true).error) s.enquire_outstanding_ = true;
  }

  // Bind timeout, inactivity, enquire_link on idle, flush deadline.
  static asio::awaitable<void> keepalive(Self self) {
    Session& s = *self;
    using std::chrono::milliseconds;
    const auto started = Clock::now();
    while (!s.is_closed()) {
      const auto now = Clock::now();
      auto next = now + std::chrono::seconds(1);
      if (s.close_after_flush_) {
        if (now >= s.flush_deadline_) {
          close(s, Error::unbound);
          break;
        }
        next = std::min(next, s.flush_deadline_);
      } else if (s.state_ == SessionState::open) {
        if (s.config_.role == Role::server && s.config_.bind_timeout > milliseconds::zero()) {
          if (now >= started + s.config_.bind_timeout) {
            close(s, Error::bind_timeout);
            break;
          }
          next = std::min(next, started + s.config_.bind_timeout);
        }
      } else if (s.is_bound()) {
        if (s.config_.inactivity_timeout > milliseconds::zero()) {
          const auto limit = s.last_peer_request_ + s.config_.inactivity_timeout;
          if (now >= limit) {
            asio::co_spawn(s.executor_, graceful_close(self, Error::inactivity), asio::detached);
            next = now + s.config_.close_timeout;
          } else {
            next = std::min(next, limit);
          }
        }
        if (s.config_.enquire_link_interval > milliseconds::zero() && !s.enquire_outstanding_) {
          const auto due = s.last_rx_ + s.config_.enquire_link_interval;
          if (now >= due) {
            send_enquire_link(s);
            s.last_rx_ = now;  // the next one is due an interval after this one at the earliest
            next = std::min(next, now + s.config_.enquire_link_interval);
          } else {
            next = std::min(next, due);
          }
        }
      }
      s.keepalive_timer_.expires_at(next);
      co_await wait_signal(s.keepalive_timer_);
    }
  }
};

// ---------------------------------------------------------------- Session

std::shared_ptr<Session> Session::create(std::unique_ptr<Stream> stream, SessionConfig config) {
  return std::shared_ptr<Session>(new Session(std::move(stream), std::move(config)));
}

Session::Session(std::unique_ptr<Stream> stream, SessionConfig config)
    : config_(std::move(config)),
      executor_(stream->get_executor()),
      stream_(std::move(stream)),
      remote_(stream_->remote_endpoint()),
      write_signal_(executor_, Clock::time_point::max()),
      writable_signal_(executor_, Clock::time_point::max()),
      read_signal_(executor_, Clock::time_point::max()),
      timeout_signal_(executor_, Clock::time_point::max()),
      drain_signal_(executor_, Clock::time_point::max()),
      closed_signal_(executor_, Clock::time_point::max()),
      keepalive_timer_(executor_, Clock::time_point::max()) {
  config_.window = std::max<uint32_t>(config_.window, 1);
  uint32_t capacity = 16;
  while (capacity < 2 * (config_.window + 4)) capacity *= 2;
  slots_.resize(capacity);
  mask_ = capacity - 1;
  next_seq_ = valid_sequence(config_.first_sequence);
  rbuf_.resize(std::max<std::size_t>(config_.read_buffer_size, 4096));
  last_rx_ = last_peer_request_ = Clock::now();
}

Session::~Session() {
  if (stream_) stream_->close();
}

void Session::set_request_handler(RequestHandler handler) { request_handler_ = std::move(handler); }
void Session::set_event_handler(EventHandler handler) { event_handler_ = std::move(handler); }
void Session::set_authenticator(Authenticator authenticator) { authenticator_ = std::move(authenticator); }

void Session::start() {
  if (started_) return;
  started_ = true;
  auto self = shared_from_this();
  last_rx_ = last_peer_request_ = std::chrono::steady_clock::now();
  asio::co_spawn(executor_, Impl::reader(self), asio::detached);
  asio::co_spawn(executor_, Impl::writer(self), asio::detached);
  asio::co_spawn(executor_, Impl::timeouts(self), asio::detached);
  asio::co_spawn(executor_, Impl::keepalive(self), asio::detached);
}

asio::awaitable<Reply> Session::bind(BindType type, Bind credentials) {
  auto self = shared_from_this();
  if (config_.role != Role::client || state_ != SessionState::open || unbinding_ || !started_) {
    co_return Reply{is_closed() ? Error::closed : Error::not_bound, {}};
  }
  Pdu p;
  p.command_id = bind_command(type);
  std::string system_id = credentials.system_id;
  p.body = std::move(credentials);
  // Bound as soon as the bind_resp is read: a deliver_sm right behind it in
  // the same read must find the session bound.
  auto on_bind_resp = [this, type, &system_id](const Reply& r) {
    if (!r.error && r.pdu.command_status == status::ESME_ROK && state_ == SessionState::open) {
      system_id_ = system_id;
      Impl::set_state(*this, bound_state(type));
      keepalive_timer_.cancel();
    }
  };
  co_return co_await Impl::await_request(self, std::move(p), config_.response_timeout, true, on_bind_resp);
}

asio::awaitable<Reply> Session::request(Pdu pdu) {
  auto self = shared_from_this();
  for (;;) {
    const error_code ec = co_await wait_writable();
    if (ec) co_return Reply{ec, {}};
    if (writable()) break;
  }
  co_return co_await Impl::await_request(self, std::move(pdu), config_.response_timeout, false);
}

Session::Sent Session::try_request(const Pdu& pdu, ResponseCallback on_reply) {
  return Impl::enqueue_request(*this, pdu, on_reply, config_.response_timeout, false);
}

Session::Sent Session::try_request(const Pdu& pdu, ResponseCallback on_reply, ResponseCallback on_late) {
  const Sent sent = Impl::enqueue_request(*this, pdu, on_reply, config_.response_timeout, false);
  if (!sent.error && config_.late_window.count() > 0) slots_[sent.sequence & mask_].late = std::move(on_late);
  return sent;
}

bool Session::writable() const {
  return is_bound() && outstanding_ < config_.window && pending_.size() < config_.write_queue_limit;
}

asio::awaitable<error_code> Session::wait_writable() {
  auto self = shared_from_this();
  for (;;) {
    if (is_closed()) co_return Error::closed;
    if (!is_bound()) co_return Error::not_bound;
    if (writable()) co_return error_code{};
    if (pending_.size() >= config_.write_queue_limit) queue_blocked_ = true;
    ++writable_waiters_;
    co_await Impl::wait_signal(writable_signal_);
    --writable_waiters_;
  }
}

error_code Session::respond(const Pdu& response) {
  if (is_closed()) return Error::closed;
  Impl::append_answer(*this, response);
  if (incoming_pending_ > 0 && is_response(static_cast<uint32_t>(response.command_id))) {
    --incoming_pending_;
    if (read_paused_) read_signal_.cancel();
    if (draining_) drain_signal_.cancel();
  }
  return {};
}

error_code Session::send_unacknowledged(const Pdu& pdu) {
  if (is_closed()) return Error::closed;
  Impl::append(*this, pdu);
  return {};
}

asio::awaitable<void> Session::unbind() {
  co_await Impl::graceful_close(shared_from_this(), Error::unbound);
}

void Session::stop() { Impl::close(*this, Error::stopped); }

asio::awaitable<void> Session::wait_closed() {
  auto self = shared_from_this();
  while (!is_closed()) co_await Impl::wait_signal(closed_signal_);
}

bool Session::is_bound() const {
  return (state_ == SessionState::bound_tx || state_ == SessionState::bound_rx ||
          state_ == SessionState::bound_trx) &&
         !unbinding_ && !close_after_flush_;
}

std::optional<BindType> Session::bind_type() const {
  switch (state_) {
    case SessionState::bound_tx: return BindType::transmitter;
    case SessionState::bound_rx: return BindType::receiver;
    case SessionState::bound_trx: return BindType::transceiver;
    default: return std::nullopt;
  }
}

bool Session::is_tls() const { return stream_->is_tls(); }

void Session::set_next_sequence(uint32_t seq) { next_seq_ = valid_sequence(seq); }

}  // namespace smsgate::smpp::net
