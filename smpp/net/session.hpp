// One SMPP 3.4 session over a Stream (plain TCP or TLS), for either end:
//
//   Role::server - the SMSC end: waits for a bind, asks an Authenticator,
//                  answers bind_*_resp.
//   Role::client - the ESME end: sends the bind (see bind(), or Client in
//                  smpp/net/client.hpp, which connects and rebinds).
//
// THREADING: a session belongs to the executor of its stream (one io_context
// per thread is the intended deployment). Every method must be called on that
// executor, and every callback (request handler, response callbacks, event
// handler, authenticator) runs there. Nothing is locked.
//
// LIFETIME: create() returns a shared_ptr; start() keeps the session alive
// until it is closed (its coroutines hold a reference). After close, every
// outstanding request has completed exactly once and the object may be
// dropped.
//
// STATES (SMPP 3.4 §2.2): open -> bound_tx | bound_rx | bound_trx -> closed.
// A request not allowed in the current state (from this end's point of view,
// §2.3 table 2-1) is answered by the session itself with the matching *_resp
// carrying ESME_RINVBNDSTS (bind while bound: ESME_RALYBND) and never reaches
// the request handler. A local request not allowed in the current state fails
// with Error::not_bound without being sent.
//
// MALFORMED INPUT:
//   - command_length impossible (below 16 or above the limit): framing is
//     lost, the session closes (Error::framing_lost).
//   - a request that does not decode (unknown command_id, bad body): answered
//     with generic_nack carrying the decoder's status (ESME_RINVCMDID,
//     ESME_RINVMSGLEN, ...) and the sequence number from the header; the
//     session stays open. generic_nack rather than the matching *_resp: the
//     body could not be trusted, and generic_nack (§4.3) is SMPP's answer to
//     a PDU that cannot be processed.
//   - a response that does not decode: no nack (nothing answers a response);
//     the outstanding request with that sequence number, if any, completes
//     with Error::malformed_response.
//   - a response that matches no outstanding request (unknown sequence
//     number, or a command_id that is neither the matching *_resp nor
//     generic_nack): dropped (event); the request, if any, times out.
//   - outbind is not supported (dropped, event); alert_notification not
//     allowed in the state is dropped (it has no response).
//
// UNBIND from the peer: answered with unbind_resp; the session then stops
// reading and closes once that is written (close reason Error::unbound).
// Local graceful end: unbind().
//
// WINDOW: at most SessionConfig::window requests sent by this end are
// outstanding. Sequence numbers run 1..0x7FFFFFFF and wrap to 1. Each
// outstanding request completes exactly once: with its response (the matching
// *_resp or a generic_nack - check command_status), Error::timeout after
// response_timeout, or Error::closed when the session closes first.
//
// LATE WINDOW (SessionConfig::late_window, off by default): a request sent
// by try_request() with an `on_late` callback whose response timed out keeps
// its sequence number for late_window (at most late_window_max of them; the
// oldest go first). A response that comes meanwhile is handed to `on_late`
// instead of being dropped: the owner can still learn what the peer did with
// a request it already gave up on (a carrier that accepted a message after
// smsgate's timeout). `on_late` is then invoked exactly once: with that
// response, or with Error::timeout when the window ends (or the entry is
// pushed out), or Error::closed when the session closes first. The timeout
// Reply says so (late_pending); otherwise `on_late` is dropped uncalled.
//
// WRITES are coalesced: every PDU is encoded into one pending buffer at the
// moment it is queued; one writer coroutine writes the whole buffer with one
// async write while the next batch accumulates. BACKPRESSURE: when the
// pending buffer is above write_queue_limit bytes, request()/wait_writable()
// wait and try_request() fails with Error::queue_full. Responses (and nacks,
// enquire_link_resp) are never refused; instead, when the responses waiting
// in the pending buffer reach write_queue_limit bytes, the reader stops
// reading from the peer until they are written, so a peer that floods
// requests and does not read is throttled by TCP. Our own queued requests do
// not pause the reader (two ends that both write a lot must keep reading, or
// each would wait for the other). Memory per session is thus bounded by about
// 2 x write_queue_limit + one read buffer of responses.
//
// READS parse every whole PDU in the buffer before reading again. The reader
// also pauses while max_incoming_pending requests given to the request
// handler are still unanswered.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "smpp/codec.hpp"
#include "smpp/net/small_function.hpp"
#include "smpp/net/stream.hpp"
#include "smpp/pdu.hpp"

namespace smsgate::smpp::net {

// ---------------------------------------------------------------- errors

// Session-level errors (category "smpp.net"). SMPP command_status values are
// NOT errors here: a response with a non-zero status is a response.
enum class Error {
  timeout = 1,            // no response within response_timeout
  closed,                 // the session closed before the response came
  not_bound,              // request not allowed in the current state (or session unbinding/closed)
  window_full,            // try_request: no free slot in the window
  queue_full,             // try_request: write queue above its limit
  malformed_response,     // the response to this request did not decode
  framing_lost,           // close reason: impossible command_length
  bind_timeout,           // close reason: no bind within bind_timeout (server)
  enquire_link_timeout,   // close reason: enquire_link not answered
  inactivity,             // close reason: no request from the peer within inactivity_timeout
  unbound,                // close reason: unbind exchanged (either side)
  bind_rejected,          // client: the peer answered bind with a non-zero status
  stopped,                // close reason: stop() was called
  not_sent,               // the session closed before the request was handed to the socket: the peer never saw it
};

const boost::system::error_category& error_category() noexcept;
inline error_code make_error_code(Error e) noexcept { return {static_cast<int>(e), error_category()}; }

}  // namespace smsgate::smpp::net

template <>
struct boost::system::is_error_code_enum<smsgate::smpp::net::Error> : std::true_type {};

namespace smsgate::smpp::net {

// ---------------------------------------------------------------- basics

enum class Role : uint8_t { server, client };
enum class BindType : uint8_t { transmitter, receiver, transceiver };
enum class SessionState : uint8_t { open, bound_tx, bound_rx, bound_trx, closed };

std::string_view to_string(BindType t);
std::string_view to_string(SessionState s);
CommandId bind_command(BindType t);                          // bind_transmitter, ...
std::optional<BindType> bind_type_of(CommandId bind_or_resp);  // from bind_* or bind_*_resp
SessionState bound_state(BindType t);

// A response to `request_id`/`sequence` with `status` and the empty body of
// that response type (e.g. submit_sm_resp with an empty message_id).
Pdu make_response(CommandId request_id, uint32_t sequence, uint32_t status = 0);
inline Pdu make_response(const Pdu& request, uint32_t status = 0) {
  return make_response(request.command_id, request.sequence_number, status);
}

// What a request completes with. `error` set: no response (timeout, closed,
// ...), `pdu` is empty. `error` clear: `pdu` is the response - the matching
// *_resp or a generic_nack - whose command_status may be non-zero.
struct Reply {
  error_code error;
  Pdu pdu;
  // A timeout whose request's `on_late` was kept: it will be invoked (see
  // LATE WINDOW above).
  bool late_pending = false;
  bool ok() const { return !error && pdu.command_status == 0; }
};

// Callback for try_request(): invoked exactly once, on the session's
// executor, from inside the session (reader, timer or close path). It may call
// any session method (including try_request and stop), but must not block.
using ResponseCallback = SmallFunction<void(Reply&&), 48>;

// What the server end's authenticator sees for a bind.
struct BindRequest {
  BindType type = BindType::transceiver;
  std::string system_id;
  std::string password;
  std::string system_type;
  uint8_t interface_version = 0x34;
  tcp::endpoint peer;
};

// Decides a bind: returns ESME_ROK to accept or the status to answer with
// (ESME_RINVPASWD, ESME_RINVSYSID, ESME_RBINDFAIL, ...). It is an awaitable so
// that the owner may look things up or delay a rejection; the session reads
// nothing else from the peer meanwhile. Compare passwords with
// constant_time_equal(). With no authenticator, every bind is rejected with
// ESME_RBINDFAIL.
using Authenticator = std::function<asio::awaitable<uint32_t>(BindRequest)>;

class Session;

// Incoming request (submit_sm, deliver_sm, data_sm, query_sm, cancel_sm,
// replace_sm, submit_multi, alert_notification) that the state allows. The
// owner must answer each one exactly once with session.respond(...), now or
// later, in any order (alert_notification has no response: do not answer).
// Bind, unbind and enquire_link are handled by the session itself.
using RequestHandler = std::function<void(Session& session, Pdu&& request)>;

// Non-hot-path notifications, for logging and metrics.
struct SessionEvent {
  enum class Kind : uint8_t {
    state_changed,        // `state` is the new state (bound_* after a bind, closed at the end)
    bind_decided,         // server: `status` answered to a bind from `detail` (system_id)
    protocol_error,       // a PDU was rejected or dropped: `status`, `detail` says why
    closed,               // `error` is the reason (also preceded by state_changed(closed))
  } kind = Kind::state_changed;
  SessionState state = SessionState::open;
  uint32_t status = 0;
  error_code error;
  std::string_view detail;  // valid during the call only
};
using EventHandler = std::function<void(Session& session, const SessionEvent& event)>;

// ---------------------------------------------------------------- config

struct SessionConfig {
  Role role = Role::server;

  // Outstanding requests sent by this end.
  uint32_t window = 64;
  std::chrono::milliseconds response_timeout{10'000};
  // How long a timed-out request with an on_late callback still takes its
  // response, and how many such requests are kept. Zero: off.
  std::chrono::milliseconds late_window{0};
  uint32_t late_window_max = 10'000;

  // Backpressure: pending (encoded, not yet written) bytes above which
  // producers wait; pending response bytes above which the reader pauses.
  std::size_t write_queue_limit = 256 * 1024;
  // Peer requests handed to the request handler and not yet answered above
  // which the reader pauses.
  uint32_t max_incoming_pending = 4096;

  // Keepalive: send enquire_link after this long without receiving any PDU;
  // close with Error::enquire_link_timeout when it is not answered within
  // enquire_link_timeout. Zero disables.
  std::chrono::milliseconds enquire_link_interval{30'000};
  std::chrono::milliseconds enquire_link_timeout{10'000};
  // Close (unbind first) after this long without a request from the peer
  // (enquire_link counts) while bound; meant for the server end. Zero
  // disables.
  std::chrono::milliseconds inactivity_timeout{0};
  // Server: a bind must arrive within this long after start(). Zero disables.
  std::chrono::milliseconds bind_timeout{10'000};
  // unbind(): how long to wait for outstanding requests (both directions)
  // before sending unbind, and for the unbind_resp.
  std::chrono::milliseconds close_timeout{5'000};

  // Server: system_id put in bind_*_resp.
  std::string system_id = "smsgate";

  DecodeLimits limits;
  std::size_t read_buffer_size = 64 * 1024;
  // First sequence number this end uses (tests: 0x7FFFFFFF to see the wrap).
  uint32_t first_sequence = 1;
};

// ---------------------------------------------------------------- session

class Session : public std::enable_shared_from_this<Session> {
 public:
  static std::shared_ptr<Session> create(std::unique_ptr<Stream> stream, SessionConfig config);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Install before start().
  void set_request_handler(RequestHandler handler);
  void set_event_handler(EventHandler handler);
  void set_authenticator(Authenticator authenticator);  // server role

  // Starts reading, writing and the timers. Call once.
  void start();

  // Client role: sends bind_<type> (outside the window) and waits for the
  // response. On ESME_ROK the session becomes bound_<type>. A non-zero status
  // leaves it open (the caller usually stops it). Error::not_bound when not
  // open.
  asio::awaitable<Reply> bind(BindType type, Bind credentials);

  // Sends a request and waits for its response, first waiting for a window
  // slot and write-queue room (backpressure). The sequence number is
  // assigned by the session (pdu.sequence_number is ignored). The reply's
  // error is Error::timeout, Error::closed or Error::not_bound when there is
  // no response. The completion is posted: the caller resumes outside the
  // session's reader.
  asio::awaitable<Reply> request(Pdu pdu);

  // Callback API for high rates: never waits. Encodes `pdu` at once (it is
  // not kept) and returns the sequence number used, or an error without
  // invoking `on_reply`: Error::window_full, Error::queue_full,
  // Error::not_bound, Error::closed (errc::invalid_argument for a response
  // command_id). On success `on_reply` is invoked exactly once later (never
  // from inside try_request). Typical loop:
  // `co_await wait_writable(); try_request(...);`.
  struct Sent {
    error_code error;
    uint32_t sequence = 0;
  };
  Sent try_request(const Pdu& pdu, ResponseCallback on_reply);
  // The same, with a callback for a response after the timeout (see LATE
  // WINDOW above); with late_window 0 it is dropped uncalled.
  Sent try_request(const Pdu& pdu, ResponseCallback on_reply, ResponseCallback on_late);

  // Waits until a request could be sent (a free window slot and room in the
  // write queue). Returns an error if the session is not bound/closing/closed.
  asio::awaitable<error_code> wait_writable();
  bool writable() const;

  // Answers a peer request: `response` must carry the request's sequence
  // number and the response command_id (see make_response()). Never waits;
  // returns Error::closed if the session is closed (the response is dropped).
  error_code respond(const Pdu& response);
  error_code respond(CommandId request_id, uint32_t sequence, uint32_t status) {
    return respond(make_response(request_id, sequence, status));
  }
  // Sends a PDU that has no response (alert_notification, outbind) as is.
  error_code send_unacknowledged(const Pdu& pdu);

  // Graceful end: refuses new local requests, waits (up to close_timeout) for
  // outstanding requests and unanswered peer requests, sends unbind, waits
  // for unbind_resp (up to close_timeout), closes. If not bound, just closes.
  // Completes when closed.
  asio::awaitable<void> unbind();

  // Immediate close: every outstanding request completes with Error::closed.
  // Idempotent; safe from inside any callback.
  void stop();

  // Waits until the session is closed (at once if it already is).
  asio::awaitable<void> wait_closed();

  // ---- observers
  Role role() const { return config_.role; }
  SessionState state() const { return state_; }
  bool is_bound() const;   // bound_* and not unbinding
  // Any thread: net::Server prunes closed sessions from its own executor
  // while each session runs on another (the gateway's workers).
  bool is_closed() const { return closed_.load(std::memory_order_acquire); }
  std::optional<BindType> bind_type() const;
  const std::string& system_id() const { return system_id_; }  // the account after a bind
  tcp::endpoint remote_endpoint() const { return remote_; }
  bool is_tls() const;
  error_code close_reason() const { return close_reason_; }
  uint32_t outstanding() const { return outstanding_; }
  uint32_t window() const { return config_.window; }
  uint32_t incoming_pending() const { return incoming_pending_; }
  std::size_t late_pending() const { return late_.size(); }  // timed-out requests still taking a response
  std::size_t write_queue_bytes() const { return pending_.size(); }
  const SessionConfig& config() const { return config_; }
  asio::any_io_executor get_executor() const { return executor_; }

  // Sets the next sequence number this end will use (tests).
  void set_next_sequence(uint32_t seq);

 private:
  Session(std::unique_ptr<Stream> stream, SessionConfig config);
  struct Impl;  // coroutine helpers, in session.cpp

  struct Slot {
    uint32_t seq = 0;  // 0: free
    CommandId command = CommandId::generic_nack;
    std::chrono::steady_clock::time_point deadline;
    ResponseCallback callback;
    ResponseCallback late;  // try_request's on_late: kept past a timeout
    bool internal = false;  // bind/unbind/enquire_link: outside the window
    uint64_t batch = 0;     // the write batch its bytes went into (write_batch_ then)
    int32_t prev = -1;  // send-order list, oldest first
    int32_t next = -1;
  };

  SessionConfig config_;
  asio::any_io_executor executor_;
  std::unique_ptr<Stream> stream_;
  tcp::endpoint remote_;
  RequestHandler request_handler_;
  EventHandler event_handler_;
  Authenticator authenticator_;

  SessionState state_ = SessionState::open;
  std::atomic<bool> closed_{false};  // state_ == closed, for other threads (is_closed)
  bool started_ = false;
  bool unbinding_ = false;
  bool close_after_flush_ = false;
  bool writer_waiting_ = false;
  bool read_paused_ = false;
  bool draining_ = false;
  bool queue_blocked_ = false;  // a producer waits for write-queue room
  uint32_t writable_waiters_ = 0;
  error_code close_reason_;
  std::string system_id_;

  // Window: slots indexed by seq & mask_.
  std::vector<Slot> slots_;
  uint32_t mask_ = 0;
  uint32_t outstanding_ = 0;
  uint32_t next_seq_ = 1;
  int32_t oldest_ = -1;
  int32_t newest_ = -1;
  uint32_t incoming_pending_ = 0;

  // Late window: timed-out requests by sequence number, and their order
  // (entries answered meanwhile stay in the order until they reach its front).
  struct Late {
    CommandId command = CommandId::generic_nack;
    std::chrono::steady_clock::time_point until;
    ResponseCallback callback;
  };
  std::unordered_map<uint32_t, Late> late_;
  std::deque<std::pair<uint32_t, std::chrono::steady_clock::time_point>> late_order_;

  // Write queue: encoded PDUs waiting (pending_) and being written (writing_).
  std::string pending_;
  std::string writing_;
  // Counts the writer's swaps: requests whose batch is still write_batch_
  // are in pending_, not yet handed to the socket (closed: Error::not_sent).
  uint64_t write_batch_ = 0;
  std::size_t pending_answer_bytes_ = 0;  // responses/nacks in pending_

  std::vector<uint8_t> rbuf_;
  std::chrono::steady_clock::time_point last_rx_;
  std::chrono::steady_clock::time_point last_peer_request_;
  std::chrono::steady_clock::time_point flush_deadline_;
  bool enquire_outstanding_ = false;

  // Condition-variable timers (expire at infinity; cancel() wakes waiters).
  asio::steady_timer write_signal_;     // writer: pending_ became non-empty
  asio::steady_timer writable_signal_;  // producers: window slot / queue room
  asio::steady_timer read_signal_;      // reader: backpressure lifted
  asio::steady_timer timeout_signal_;   // response timeouts: list changed
  asio::steady_timer drain_signal_;     // unbind(): outstanding work finished
  asio::steady_timer closed_signal_;    // wait_closed()
  asio::steady_timer keepalive_timer_;
};

}  // namespace smsgate::smpp::net
