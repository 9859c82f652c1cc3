// The simulator core: sessions, submits, receipts, MOs, the record file.
//
// Every deliver_sm a session has to send (receipts, MOs, automatic replies,
// retries) waits in one of a few FIFO lanes of its Conn. Each lane holds
// items with one constant delay, so it is ordered by due time without a
// heap; one timer per connection wakes the drain loop at the earliest due
// item. A receipt due now on an idle connection is sent straight from the
// request handler. Nothing here logs per message.
#include "load/smsc.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "smpp/net/server.hpp"
#include "smpp/net/session.hpp"
#include "smpp/status.hpp"
#include "smpp/text.hpp"
#include "smpp/udh.hpp"

namespace smsgate::smsc {

namespace net = smpp::net;
namespace st = smpp::status;
using smpp::CommandId;
using Clock = std::chrono::steady_clock;
using error_code = boost::system::error_code;

namespace {

constexpr auto kRetryDelay = std::chrono::seconds(1);
constexpr auto kMoAnswerTimeout = std::chrono::seconds(10);
constexpr auto kRecordFlushInterval = std::chrono::milliseconds(50);

// Logs what escapes a detached coroutine instead of terminating.
void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::cerr << "smsgate-smsc: " << ex.what() << '\n';
  }
}

// ---------------------------------------------------------------- PRNG

// xoshiro256** seeded through splitmix64: fast, and the same sequence for
// the same --seed.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    for (auto& s : s_) {
      seed += 0x9E3779B97F4A7C15ull;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      s = z ^ (z >> 31);
    }
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  bool chance(double p) { return p > 0 && (p >= 1 || uniform() < p); }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  std::array<uint64_t, 4> s_{};
};

// ---------------------------------------------------------------- small values

// A string of at most N bytes stored inline: queued receipts allocate nothing.
template <std::size_t N>
struct Fixed {
  static_assert(N < 256);
  uint8_t size = 0;
  char data[N]{};
  void assign(std::string_view s) {
    size = static_cast<uint8_t>(std::min(s.size(), N));
    std::memcpy(data, s.data(), size);
  }
  bool push_back(char c) {
    if (size == N) return false;
    data[size++] = c;
    return true;
  }
  std::string_view view() const { return {data, size}; }
};

struct Addr {
  uint8_t ton = 0;
  uint8_t npi = 0;
  Fixed<65> addr;  // data_sm addresses may be 65 long
  void assign(const smpp::Address& a) {
    ton = a.ton;
    npi = a.npi;
    addr.assign(a.addr);
  }
  void store(smpp::Address& a) const {
    a.ton = ton;
    a.npi = npi;
    a.addr.assign(addr.view());
  }
};

using Id = Fixed<40>;
using Date = std::array<char, 10>;  // YYMMDDhhmm

void put2(char* p, int v) {
  p[0] = static_cast<char>('0' + v / 10 % 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// YYMMDDhhmm in local time, recomputed once a minute.
class DateCache {
 public:
  const Date& get(std::time_t t) {
    if (t / 60 != minute_) {
      minute_ = t / 60;
      std::tm tm{};
      localtime_r(&t, &tm);
      put2(&text_[0], tm.tm_year % 100);
      put2(&text_[2], tm.tm_mon + 1);
      put2(&text_[4], tm.tm_mday);
      put2(&text_[6], tm.tm_hour);
      put2(&text_[8], tm.tm_min);
    }
    return text_;
  }

 private:
  std::time_t minute_ = -1;
  Date text_{};
};

// Upper-case hex with an even number of digits ("0A1B2C").
void format_hex(uint64_t n, Id& out) {
  char tmp[16];
  std::size_t k = 0;
  do {
    tmp[k++] = "0123456789ABCDEF"[n & 15];
    n >>= 4;
  } while (n);
  if (k & 1) tmp[k++] = '0';
  out.size = 0;
  while (k) out.push_back(tmp[--k]);
}

void format_decimal(uint64_t n, Id& out, std::size_t width = 0) {
  char tmp[20];
  const auto end = std::to_chars(tmp, tmp + sizeof tmp, n).ptr;
  const auto len = static_cast<std::size_t>(end - tmp);
  out.size = 0;
  for (std::size_t i = len; i < width; ++i) out.push_back('0');
  for (const char* p = tmp; p != end; ++p) out.push_back(*p);
}

void format_uuid(Rng& rng, Id& out) {
  std::array<uint8_t, 16> b{};
  const uint64_t hi = rng.next();
  const uint64_t lo = rng.next();
  for (int i = 0; i < 8; ++i) {
    b[i] = static_cast<uint8_t>(hi >> (56 - 8 * i));
    b[8 + i] = static_cast<uint8_t>(lo >> (56 - 8 * i));
  }
  b[6] = static_cast<uint8_t>((b[6] & 0x0F) | 0x40);  // version 4
  b[8] = static_cast<uint8_t>((b[8] & 0x3F) | 0x80);  // RFC 4122 variant
  out.size = 0;
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back("0123456789abcdef"[b[i] >> 4]);
    out.push_back("0123456789abcdef"[b[i] & 15]);
  }
}

void append_hex(std::string& out, std::string_view bytes) {
  for (unsigned char c : bytes) {
    out += "0123456789abcdef"[c >> 4];
    out += "0123456789abcdef"[c & 15];
  }
}

void append_uint(std::string& out, uint64_t v) {
  char tmp[20];
  out.append(tmp, std::to_chars(tmp, tmp + sizeof tmp, v).ptr);
}

// A JSON string. UTF-8 stays as it is; bytes of a string that is not UTF-8
// are written as the Latin-1 characters they would be.
void append_json_string(std::string& out, std::string_view s) {
  const bool utf8 = smpp::valid_utf8(s);
  out += '"';
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || (c >= 0x80 && !utf8)) {
      out += "\\u00";
      out += "0123456789abcdef"[c >> 4];
      out += "0123456789abcdef"[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '"';
}

bool is_gsm_coding(uint8_t dc) { return dc == smpp::coding::smsc_default || (dc >= 0xF0 && dc <= 0xF3); }

// The first 20 characters of a message body, as GSM septets, for the text:
// field of a receipt. GSM bodies are copied (an escape pair is one
// character); others are decoded and each character that has no GSM form
// becomes '?'. Binary bodies give no text.
void receipt_text(std::string_view body, uint8_t data_coding, Fixed<40>& out) {
  constexpr std::size_t kChars = 20;
  out.size = 0;
  if (is_gsm_coding(data_coding)) {
    for (std::size_t i = 0, chars = 0; i < body.size() && chars < kChars; ++i, ++chars) {
      const auto c = static_cast<unsigned char>(body[i]);
      if (c == 0x1B) {
        if (i + 1 == body.size()) break;
        out.push_back(body[i]);
        out.push_back(body[++i]);
      } else {
        out.push_back(c < 0x80 ? body[i] : '?');
      }
    }
    return;
  }
  const auto utf8 = smpp::decode_text(body, data_coding);
  if (!utf8) return;
  std::string_view rest = *utf8;
  for (std::size_t chars = 0; !rest.empty() && chars < kChars; ++chars) {
    const auto lead = static_cast<unsigned char>(rest[0]);
    const std::size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    const auto septets = smpp::utf8_to_gsm7(rest.substr(0, len));
    if (septets && out.size + septets->size() <= sizeof out.data) {
      for (char c : *septets) out.push_back(c);
    } else {
      out.push_back('?');
    }
    rest.remove_prefix(std::min(len, rest.size()));
  }
}

// The address of an MO number: international when it looks like one (a
// leading '+' or 10+ digits), alphanumeric when not all digits.
smpp::Address address_for(std::string_view number) {
  smpp::Address a;
  const bool plus = !number.empty() && number.front() == '+';
  if (plus) number.remove_prefix(1);
  const bool digits = !number.empty() && std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; });
  a.addr = std::string(number);
  if (!digits) {
    a.ton = 5;  // alphanumeric
    a.npi = 0;
  } else {
    a.ton = plus || number.size() >= 10 ? 1 : 0;
    a.npi = 1;
  }
  return a;
}

// ---------------------------------------------------------------- counters

enum Counter : std::size_t {
  c_binds,
  c_bind_rejected,
  c_submits,
  c_data_sm,
  c_throttled,
  c_syserr,
  c_dlrs_sent,
  c_mos_sent,
  c_replies_sent,
  c_deliver_sm_resp_errors,
  c_deliver_retries,
  c_deliver_failed,
  c_query_sm,
  c_unsupported,
  c_drops,
  kCounterCount
};
constexpr std::array<std::string_view, kCounterCount> kCounterNames{
    "binds",          "bind_rejected",   "submits",        "data_sm",
    "throttled",      "syserr",          "dlrs_sent",      "mos_sent",
    "replies_sent",   "deliver_sm_resp_errors", "deliver_retries", "deliver_failed",
    "query_sm",       "unsupported",     "drops",
};

// Written by one thread (a worker, or main), read by any: one cache line
// group per writer, no contended read-modify-write.
struct alignas(64) Counters {
  std::array<std::atomic<uint64_t>, kCounterCount> v{};
  void add(Counter c, uint64_t n = 1) { v[c].store(v[c].load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
};

// ---------------------------------------------------------------- queued output

// The waiter of one POST /mo: completes when every part has been answered.
struct MoWaiter {
  MoWaiter(asio::any_io_executor ex, std::size_t parts) : executor(ex), timer(ex), remaining(parts) {}
  asio::any_io_executor executor;  // main
  asio::steady_timer timer;        // cancelled when done
  std::atomic<std::size_t> remaining;
  std::atomic<std::size_t> answered{0};
  std::atomic<std::size_t> ok{0};  // first answers with ESME_ROK (the peer took the part)
  bool done = false;  // main only
};

void notify(std::shared_ptr<MoWaiter>& w, bool ok) {
  if (!w) return;
  w->answered.fetch_add(1);
  if (ok) w->ok.fetch_add(1);
  if (w->remaining.fetch_sub(1) == 1) {
    asio::post(w->executor, [w] {
      w->done = true;
      w->timer.cancel();
    });
  }
  w.reset();
}

// Lanes by delay class: within one lane every item has the same delay, so
// push order is due order.
enum LaneId : uint8_t { l_responses, l_receipts, l_replies, l_retries, l_immediate, kLaneCount };

struct Outgoing {
  enum class Kind : uint8_t { response, receipt, mo, reply };
  Kind kind = Kind::receipt;
  uint8_t lane = l_receipts;
  uint8_t attempts = 0;  // deliveries the peer refused so far
  smpp::MessageState state = smpp::MessageState::delivered;
  CommandId command = CommandId::submit_sm;  // response: the request
  uint32_t sequence = 0;                     // response
  uint32_t status = 0;                       // response
  Clock::time_point due{};
  Id id;             // response: message_id; receipt: the id it carries
  Date submitted{};  // receipt
  Addr from, to;     // receipt: deliver_sm source (the submit's destination) and destination
  Fixed<40> text;    // receipt: first 20 characters as septets
  std::unique_ptr<smpp::Pdu> message;  // mo, reply: the deliver_sm
  std::shared_ptr<MoWaiter> waiter;    // mo from POST /mo
  const AutoReply* rule = nullptr;     // reply: its first part, for --reply-log (from, to: the phone, the code)
  bool any_receiver() const { return kind == Kind::mo; }
};

class Lane {
 public:
  bool empty() const { return q_.empty(); }
  Outgoing& front() { return q_.front(); }
  const Outgoing& front() const { return q_.front(); }
  void pop_front() { q_.pop_front(); }
  Clock::time_point push(Outgoing&& o) {
    if (!q_.empty() && o.due < q_.back().due) o.due = q_.back().due;  // keep the lane ordered
    q_.push_back(std::move(o));
    return q_.back().due;
  }
  void drain_to(std::vector<Outgoing>& out) {
    for (auto& o : q_) out.push_back(std::move(o));
    q_.clear();
  }

 private:
  std::deque<Outgoing> q_;
};

// The deliver_sm PDUs of one text: a single one, or the parts of a
// concatenated message (UDH or sar_ TLVs). Empty (and `error` set) when the
// text cannot be sent as asked.
std::vector<smpp::Pdu> make_messages(const smpp::Address& from, const smpp::Address& to, std::string_view text,
                                     MoSpec::Coding coding, MoSpec::Split split, uint16_t ref,
                                     std::string& error) {
  smpp::EncodedText enc;
  switch (coding) {
    case MoSpec::Coding::automatic:
      enc = smpp::encode_text(text);
      break;
    case MoSpec::Coding::gsm: {
      auto septets = smpp::utf8_to_gsm7(text);
      if (!septets) {
        error = "text has characters outside GSM 03.38";
        return {};
      }
      enc.data_coding = smpp::coding::smsc_default;
      enc.units = septets->size();
      enc.bytes = std::move(*septets);
      break;
    }
    case MoSpec::Coding::ucs2:
      enc.data_coding = smpp::coding::ucs2;
      enc.bytes = smpp::utf8_to_utf16be(text);
      enc.units = enc.bytes.size() / 2;
      break;
  }
  smpp::Pdu base;
  base.command_id = CommandId::deliver_sm;
  smpp::ShortMessage sm;
  sm.source = from;
  sm.dest = to;
  sm.data_coding = enc.data_coding;
  std::vector<smpp::Pdu> out;
  auto add = [&](std::string body) {
    smpp::Pdu p = base;
    p.body = sm;
    p.as<smpp::ShortMessage>().short_message = std::move(body);
    out.push_back(std::move(p));
    return &out.back().as<smpp::ShortMessage>();
  };
  if (split == MoSpec::Split::none) {
    if (enc.bytes.size() <= 254) {
      add(enc.bytes);
    } else {
      add({})->tlvs.set_message_payload(enc.bytes);
    }
    return out;
  }
  const auto parts = smpp::split_body(enc, 6);
  if (parts.empty() || parts.size() > 255) {
    error = "text cannot be split into 255 parts or fewer";
    return {};
  }
  if (parts.size() == 1) {
    add(std::string(parts[0]));
    return out;
  }
  const auto total = static_cast<uint8_t>(parts.size());
  for (uint8_t seq = 1; seq <= total; ++seq) {
    const std::string_view part = parts[seq - 1];
    if (split == MoSpec::Split::udh) {
      auto* m = add(smpp::build_udh(smpp::concat_udh({static_cast<uint16_t>(ref & 0xFF), total, seq, false})) +
                    std::string(part));
      m->esm_class = smpp::kEsmUdhi;
    } else {
      add(std::string(part))->tlvs.set_sar(ref, total, seq);
    }
  }
  return out;
}

// What the request handler needs of a submit_sm or data_sm.
struct SubmitView {
  CommandId command;
  const smpp::Address& source;
  const smpp::Address& dest;
  uint8_t esm_class;
  uint8_t registered_delivery;
  uint8_t data_coding;
  std::string_view short_message;  // the field as sent (empty for data_sm)
  const smpp::Tlvs& tlvs;

  // The text bytes: short_message, or message_payload when that is empty.
  std::string_view body() const {
    if (!short_message.empty()) return short_message;
    if (const auto* t = tlvs.find(smpp::tag::message_payload)) return t->value;
    return {};
  }
};

}  // namespace

// ---------------------------------------------------------------- workers

class Conn;

// One io_context and thread, with what its sessions share.
struct Worker {
  explicit Worker(uint64_t seed) : rng(seed) {
    receipt.command_id = CommandId::deliver_sm;
    smpp::ShortMessage sm;
    sm.esm_class = 0x04;  // SMSC delivery receipt
    sm.tlvs.items = {smpp::Tlv{smpp::tag::receipted_message_id, {}}, smpp::Tlv{smpp::tag::message_state, std::string(1, '\0')}};
    receipt.body = std::move(sm);
    resp.body = smpp::MessageIdResp{};
  }

  // The receipt deliver_sm for `o`, built in place in a reused PDU.
  const smpp::Pdu& receipt_pdu(const Outgoing& o) {
    auto& sm = receipt.as<smpp::ShortMessage>();
    o.from.store(sm.source);
    o.to.store(sm.dest);
    const bool delivered = o.state == smpp::MessageState::delivered;
    std::string& t = sm.short_message;
    t.assign("id:").append(o.id.view());
    t.append(" sub:001 dlvrd:").append(delivered ? "001" : "000");
    t.append(" submit date:").append(o.submitted.data(), o.submitted.size());
    const Date& done = dates.get(std::time(nullptr));
    t.append(" done date:").append(done.data(), done.size());
    t.append(" stat:").append(smpp::stat_text(o.state));
    t.append(" err:").append(delivered ? "000" : "001");
    t.append(" text:").append(o.text.view());
    auto& id_tlv = sm.tlvs.items[0].value;
    id_tlv.assign(o.id.view());
    id_tlv.push_back('\0');
    sm.tlvs.items[1].value[0] = static_cast<char>(o.state);
    return receipt;
  }

  // A submit_sm_resp / data_sm_resp in a reused PDU.
  const smpp::Pdu& response_pdu(CommandId request, uint32_t sequence, uint32_t status, std::string_view id) {
    resp.command_id = static_cast<CommandId>(smpp::response_id_for(static_cast<uint32_t>(request)));
    resp.sequence_number = sequence;
    resp.command_status = status;
    resp.as<smpp::MessageIdResp>().message_id.assign(id);
    return resp;
  }

  asio::io_context io{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard{io.get_executor()};
  std::thread thread;
  std::atomic<bool> finished{false};
  Rng rng;
  Counters counters;
  DateCache dates;
  smpp::Pdu receipt;
  smpp::Pdu resp;
  std::string record_line;
};

namespace {
thread_local Worker* t_worker = nullptr;
}

// ---------------------------------------------------------------- simulator state

struct Simulator::Impl {
  Impl(asio::io_context& m, Options o)
      : main(m), opt(std::move(o)), next_id(opt.id_start), flush_timer(m), drop_timer(m) {}

  // Routing (any thread).
  void add_conn(std::shared_ptr<Conn> c);
  void remove_conn(const Conn* c);
  std::vector<Outgoing> add_receiver(std::shared_ptr<Conn> c);
  std::shared_ptr<Conn> pick_receiver_locked(const std::string* system_id, const Conn* exclude);
  std::shared_ptr<Conn> pick_receiver(const std::string* system_id, const Conn* exclude = nullptr) {
    std::lock_guard lock(mu);
    return pick_receiver_locked(system_id, exclude);
  }
  // Hands deliver_sm items to a receiver bind: MOs to any, the rest to one
  // of `system_id`; parks them until one binds when there is none.
  void route(const std::string& system_id, std::vector<Outgoing>&& items, const Conn* exclude);
  void route_group(const std::string* system_id, std::vector<Outgoing>&& items, const Conn* exclude);
  std::vector<std::shared_ptr<Conn>> snapshot() {
    std::lock_guard lock(mu);
    return conns;
  }

  // Ids.
  void make_ids(Rng& rng, Id& message_id, Id& receipt_id) {
    const uint64_t n = next_id.fetch_add(1, std::memory_order_relaxed);
    switch (opt.id_format) {
      case IdFormat::hex: format_hex(n, message_id); break;
      case IdFormat::decimal: format_decimal(n, message_id); break;
      case IdFormat::zero_padded: format_decimal(n, message_id, 20); break;
      case IdFormat::uuid: format_uuid(rng, message_id); break;
    }
    switch (opt.receipt_id_format) {
      case ReceiptIdFormat::same: receipt_id = message_id; break;
      case ReceiptIdFormat::decimal: format_decimal(n, receipt_id); break;
      case ReceiptIdFormat::hex: format_hex(n, receipt_id); break;
    }
  }

  smpp::MessageState pick_state(Rng& rng) const {
    if (opt.dlr_states.size() == 1) return opt.dlr_states[0].state;
    double r = rng.uniform() * state_weight_total;
    for (const auto& s : opt.dlr_states) {
      if (r < s.weight) return s.state;
      r -= s.weight;
    }
    return opt.dlr_states.back().state;
  }

  // Record file.
  void record(Worker& w, const net::Session& s, const SubmitView& v, std::string_view message_id, uint32_t status);
  void flush_record();
  void log_reply(const Outgoing& o);
  asio::awaitable<void> flush_loop();
  asio::awaitable<void> drop_loop();

  void load_mo_file();
  uint64_t counter(Counter c) const {
    uint64_t n = main_counters.v[c].load(std::memory_order_relaxed);
    for (const auto& w : workers) n += w->counters.v[c].load(std::memory_order_relaxed);
    return n;
  }

  asio::io_context& main;
  Options opt;
  double state_weight_total = 1;
  std::vector<std::unique_ptr<Worker>> workers;
  std::size_t next_worker = 0;  // acceptor's picker, main only
  std::shared_ptr<net::Server> server;
  std::atomic<uint64_t> next_id;
  std::atomic<uint16_t> next_ref{1};
  Counters main_counters;
  Clock::time_point started = Clock::now();
  bool stopping = false;  // main only

  std::mutex mu;  // guards the routing state below
  std::vector<std::shared_ptr<Conn>> conns;
  std::vector<std::shared_ptr<Conn>> receivers;  // bound receiver/transceiver
  std::size_t rr = 0;
  std::unordered_map<std::string, std::vector<Outgoing>> parked;  // by system_id
  std::vector<Outgoing> parked_any;                              // MOs

  std::mutex record_mu;
  std::string record_buf;  // guarded by record_mu
  std::string record_out;  // main only
  std::FILE* record_file = nullptr;
  std::string reply_buf;  // guarded by record_mu
  std::string reply_out;  // main only
  std::FILE* reply_file = nullptr;
  asio::steady_timer flush_timer;
  asio::steady_timer drop_timer;
};

// ---------------------------------------------------------------- a connection

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(Simulator::Impl& sim, Worker& w, std::shared_ptr<net::Session> s)
      : sim_(sim), w_(w), session_(std::move(s)), timer_(session_->get_executor()) {}

  void start() {
    asio::co_spawn(session_->get_executor(), run(shared_from_this()), log_exception);
  }
  asio::any_io_executor executor() const { return session_->get_executor(); }
  net::Session& session() { return *session_; }
  const std::string& system_id() const { return system_id_; }

  void on_request(smpp::Pdu&& req);
  void on_event(const net::SessionEvent& e);
  // Queues deliveries handed over by another connection or the main thread.
  void adopt(std::vector<Outgoing>&& items) {
    for (auto& o : items) enqueue(std::move(o));
  }

 private:
  asio::awaitable<void> run(std::shared_ptr<Conn> self);
  void on_submit(const smpp::Pdu& req, const SubmitView& v);
  void auto_reply(const SubmitView& v, Clock::time_point now);
  // Sends `o` now when it is due and nothing queued is before it (any queued
  // item, with `jump`, only the window), else queues it.
  void deliver(Outgoing&& o, Clock::time_point now, bool jump = false);
  bool deliveries_empty() const;
  void enqueue(Outgoing&& o);
  void flush_due(Clock::time_point now);
  Clock::time_point next_due();
  error_code send(Outgoing& o);
  void on_reply(uint32_t slot, net::Reply&& r);
  void respond(const smpp::Pdu& req, uint32_t status) { session_->respond(net::make_response(req, status)); }

  Simulator::Impl& sim_;
  Worker& w_;
  std::shared_ptr<net::Session> session_;
  asio::steady_timer timer_;
  std::string system_id_;
  std::array<Lane, kLaneCount> lanes_;
  std::vector<Outgoing> inflight_;  // by slot, while the peer has not answered
  std::vector<uint32_t> free_slots_;
  std::vector<Outgoing> orphaned_;  // in flight when the session closed
  Clock::time_point wake_at_ = Clock::time_point::min();  // min: the drain loop is running
  bool can_receive_ = false;
  bool closed_ = false;
  bool blocked_ = false;  // window or write queue full
};

void Conn::on_request(smpp::Pdu&& req) {
  switch (req.command_id) {
    case CommandId::submit_sm: {
      const auto& sm = req.as<smpp::ShortMessage>();
      on_submit(req, SubmitView{req.command_id, sm.source, sm.dest, sm.esm_class, sm.registered_delivery,
                                sm.data_coding, sm.short_message, sm.tlvs});
      return;
    }
    case CommandId::data_sm: {
      const auto& d = req.as<smpp::DataSm>();
      on_submit(req, SubmitView{req.command_id, d.source, d.dest, d.esm_class, d.registered_delivery, d.data_coding,
                                {}, d.tlvs});
      return;
    }
    case CommandId::query_sm:
      w_.counters.add(c_query_sm);
      respond(req, st::ESME_RQUERYFAIL);
      return;
    case CommandId::cancel_sm:
      w_.counters.add(c_unsupported);
      respond(req, st::ESME_RCANCELFAIL);
      return;
    case CommandId::replace_sm:
      w_.counters.add(c_unsupported);
      respond(req, st::ESME_RREPLACEFAIL);
      return;
    case CommandId::alert_notification:  // has no response
      return;
    default:  // submit_multi, deliver_sm from an ESME, ...
      w_.counters.add(c_unsupported);
      respond(req, st::ESME_RINVCMDID);
      return;
  }
}

void Conn::on_submit(const smpp::Pdu& req, const SubmitView& v) {
  const Options& opt = sim_.opt;
  w_.counters.add(v.command == CommandId::submit_sm ? c_submits : c_data_sm);
  const auto now = Clock::now();

  uint32_t status = st::ESME_ROK;
  if (opt.throttle_ratio > 0 || opt.syserr_ratio > 0) {
    const double r = w_.rng.uniform();
    if (r < opt.throttle_ratio) {
      status = st::ESME_RTHROTTLED;
      w_.counters.add(c_throttled);
    } else if (r < opt.throttle_ratio + opt.syserr_ratio) {
      status = st::ESME_RSYSERR;
      w_.counters.add(c_syserr);
    }
  }
  const bool ok = status == st::ESME_ROK;
  Id message_id;
  Id receipt_id;
  if (ok) sim_.make_ids(w_.rng, message_id, receipt_id);
  if (sim_.record_file) sim_.record(w_, *session_, v, message_id.view(), status);

  // registered_delivery bits 0-1: 1 = receipt on any outcome, 2 = on failure only.
  const uint8_t rd = v.registered_delivery & 0x03;
  bool want_receipt = false;
  auto state = smpp::MessageState::delivered;
  if (ok && rd != 0) {
    state = sim_.pick_state(w_.rng);
    want_receipt = rd != 2 || state != smpp::MessageState::delivered;
  }
  const bool early = want_receipt && w_.rng.chance(opt.early_dlr_ratio);
  std::optional<Outgoing> receipt;
  if (want_receipt) {
    receipt.emplace();
    Outgoing& o = *receipt;
    o.state = state;
    o.id = receipt_id;
    o.submitted = w_.dates.get(std::time(nullptr));
    o.from.assign(v.dest);
    o.to.assign(v.source);
    std::string_view body = v.body();
    if (v.esm_class & smpp::kEsmUdhi) {
      if (auto u = smpp::parse_udh(body)) body = u->payload;
    }
    receipt_text(body, v.data_coding, o.text);
    o.due = early ? now : now + std::max(opt.dlr_delay, opt.latency);
    if (early) deliver(std::move(o), now, true);  // before the response
  }

  if (opt.latency.count() > 0) {
    Outgoing r;
    r.kind = Outgoing::Kind::response;
    r.lane = l_responses;
    r.command = v.command;
    r.sequence = req.sequence_number;
    r.status = status;
    r.id = message_id;
    r.due = now + opt.latency;
    enqueue(std::move(r));
  } else {
    session_->respond(w_.response_pdu(v.command, req.sequence_number, status, message_id.view()));
  }
  if (receipt && !early) deliver(std::move(*receipt), now);
  if (ok && !opt.auto_replies.empty()) auto_reply(v, now);
}

// With that rule's probability the recipient answers the submit's source.
void Conn::auto_reply(const SubmitView& v, Clock::time_point now) {
  double r = w_.rng.uniform();
  const AutoReply* hit = nullptr;
  for (const auto& a : sim_.opt.auto_replies) {
    if (r < a.probability) {
      hit = &a;
      break;
    }
    r -= a.probability;
  }
  if (!hit) return;
  std::string error;
  auto pdus = make_messages(v.dest, v.source, hit->text, MoSpec::Coding::automatic, MoSpec::Split::udh,
                            sim_.next_ref.fetch_add(1, std::memory_order_relaxed), error);
  for (auto& p : pdus) {
    Outgoing o;
    if (&p == &pdus.front() && sim_.reply_file) {
      o.rule = hit;
      o.from.assign(v.dest);
      o.to.assign(v.source);
    }
    o.kind = Outgoing::Kind::reply;
    o.lane = l_replies;
    o.due = now + sim_.opt.auto_reply_delay;
    o.message = std::make_unique<smpp::Pdu>(std::move(p));
    enqueue(std::move(o));
  }
}

bool Conn::deliveries_empty() const {
  for (std::size_t i = l_receipts; i < kLaneCount; ++i)
    if (!lanes_[i].empty()) return false;
  return true;
}

void Conn::deliver(Outgoing&& o, Clock::time_point now, bool jump) {
  if (o.due <= now && can_receive_ && !blocked_ && !closed_ && (jump || deliveries_empty()) && !send(o)) return;
  if (jump) o.lane = l_immediate;
  enqueue(std::move(o));
}

void Conn::enqueue(Outgoing&& o) {
  if (closed_) {
    if (o.kind == Outgoing::Kind::response) return;  // nobody to answer
    std::vector<Outgoing> one;
    one.push_back(std::move(o));
    sim_.route(system_id_, std::move(one), this);
    return;
  }
  const auto due = lanes_[o.lane].push(std::move(o));
  if (due < wake_at_) {
    wake_at_ = due;
    timer_.cancel();
  }
}

Clock::time_point Conn::next_due() {
  auto next = Clock::time_point::max();
  for (const auto& l : lanes_)
    if (!l.empty()) next = std::min(next, l.front().due);
  return next;
}

// Sends every response and delivery that is due. A tx-only bind cannot
// receive: its due deliveries go to a receiver bind of the same account.
void Conn::flush_due(Clock::time_point now) {
  Lane& responses = lanes_[l_responses];
  while (!responses.empty() && responses.front().due <= now) {
    const Outgoing& r = responses.front();
    session_->respond(w_.response_pdu(r.command, r.sequence, r.status, r.id.view()));
    responses.pop_front();
  }
  std::vector<Outgoing> forward;
  while (!blocked_) {
    Lane* next = nullptr;
    for (std::size_t i = l_receipts; i < kLaneCount; ++i) {
      Lane& l = lanes_[i];
      if (!l.empty() && l.front().due <= now && (!next || l.front().due < next->front().due)) next = &l;
    }
    if (!next) break;
    if (!can_receive_) {
      forward.push_back(std::move(next->front()));
    } else if (send(next->front())) {
      blocked_ = true;  // window or write queue full, or the session is closing
      break;
    }
    next->pop_front();
  }
  if (!forward.empty()) sim_.route(system_id_, std::move(forward), this);
}

error_code Conn::send(Outgoing& o) {
  const smpp::Pdu& pdu = o.kind == Outgoing::Kind::receipt ? w_.receipt_pdu(o) : *o.message;
  uint32_t slot;
  if (free_slots_.empty()) {
    slot = static_cast<uint32_t>(inflight_.size());
    inflight_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
  }
  const auto sent = session_->try_request(pdu, [this, slot](net::Reply&& r) { on_reply(slot, std::move(r)); });
  if (sent.error) {
    free_slots_.push_back(slot);
    return sent.error;
  }
  inflight_[slot] = std::move(o);
  return {};
}

void Conn::on_reply(uint32_t slot, net::Reply&& r) {
  Outgoing o = std::move(inflight_[slot]);
  free_slots_.push_back(slot);
  if (r.error && r.error != net::Error::timeout) {  // closed: another bind takes it
    orphaned_.push_back(std::move(o));
    return;
  }
  if (!r.error) notify(o.waiter, r.pdu.command_status == st::ESME_ROK);  // the peer answered: POST /mo may return
  if (!r.error && r.pdu.command_status == st::ESME_ROK) {
    w_.counters.add(o.kind == Outgoing::Kind::receipt ? c_dlrs_sent
                    : o.kind == Outgoing::Kind::mo    ? c_mos_sent
                                                      : c_replies_sent);
    if (o.rule) sim_.log_reply(o);
    return;
  }
  if (!r.error) w_.counters.add(c_deliver_sm_resp_errors);
  if (++o.attempts > sim_.opt.deliver_retries) {
    w_.counters.add(c_deliver_failed);
    return;
  }
  w_.counters.add(c_deliver_retries);
  o.lane = l_retries;
  o.due = Clock::now() + kRetryDelay;
  enqueue(std::move(o));
}

void Conn::on_event(const net::SessionEvent& e) {
  using Kind = net::SessionEvent::Kind;
  if (e.kind == Kind::bind_decided) {
    w_.counters.add(e.status == st::ESME_ROK ? c_binds : c_bind_rejected);
  } else if (e.kind == Kind::state_changed &&
             (e.state == net::SessionState::bound_rx || e.state == net::SessionState::bound_trx)) {
    system_id_ = session_->system_id();
    can_receive_ = true;
    adopt(sim_.add_receiver(shared_from_this()));
  } else if (e.kind == Kind::state_changed && e.state == net::SessionState::bound_tx) {
    system_id_ = session_->system_id();
  } else if (e.kind == Kind::closed && !closed_) {
    closed_ = true;
    can_receive_ = false;
    sim_.remove_conn(this);
    timer_.cancel();
  }
}

asio::awaitable<void> Conn::run(std::shared_ptr<Conn> self) {
  error_code ec;
  while (!closed_) {
    wake_at_ = Clock::time_point::min();  // running: enqueue() need not wake us
    blocked_ = false;
    flush_due(Clock::now());
    if (closed_) break;
    if (blocked_ && lanes_[l_responses].empty()) {
      if (co_await session_->wait_writable()) break;  // unbinding or closed
      continue;
    }
    // Blocked with delayed responses queued: they must not wait for the
    // peer's deliver_sm_resp, so wake for them (and retry sending then).
    wake_at_ = blocked_ ? lanes_[l_responses].front().due : next_due();
    timer_.expires_at(wake_at_);
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_await session_->wait_closed();
  closed_ = true;
  can_receive_ = false;
  sim_.remove_conn(this);
  // What this bind could not deliver goes to another bind of the account.
  std::vector<Outgoing> rest = std::move(orphaned_);
  for (std::size_t i = l_receipts; i < kLaneCount; ++i) lanes_[i].drain_to(rest);
  sim_.route(system_id_, std::move(rest), this);
}

// ---------------------------------------------------------------- routing

void Simulator::Impl::add_conn(std::shared_ptr<Conn> c) {
  std::lock_guard lock(mu);
  conns.push_back(std::move(c));
}

void Simulator::Impl::remove_conn(const Conn* c) {
  std::lock_guard lock(mu);
  auto is = [c](const std::shared_ptr<Conn>& p) { return p.get() == c; };
  std::erase_if(conns, is);
  std::erase_if(receivers, is);
}

std::vector<Outgoing> Simulator::Impl::add_receiver(std::shared_ptr<Conn> c) {
  std::vector<Outgoing> out;
  std::lock_guard lock(mu);
  if (auto it = parked.find(c->system_id()); it != parked.end()) {
    out = std::move(it->second);
    parked.erase(it);
  }
  for (auto& o : parked_any) out.push_back(std::move(o));
  parked_any.clear();
  receivers.push_back(std::move(c));
  return out;
}

std::shared_ptr<Conn> Simulator::Impl::pick_receiver_locked(const std::string* system_id, const Conn* exclude) {
  const std::size_t n = receivers.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t k = (rr + i) % n;
    const auto& c = receivers[k];
    if (c.get() != exclude && (!system_id || c->system_id() == *system_id)) {
      rr = k + 1;
      return c;
    }
  }
  return nullptr;
}

void Simulator::Impl::route(const std::string& system_id, std::vector<Outgoing>&& items, const Conn* exclude) {
  auto any = [](const Outgoing& o) { return o.any_receiver(); };
  if (std::none_of(items.begin(), items.end(), any)) return route_group(&system_id, std::move(items), exclude);
  const auto mid = std::stable_partition(items.begin(), items.end(), std::not_fn(any));
  std::vector<Outgoing> mos(std::make_move_iterator(mid), std::make_move_iterator(items.end()));
  items.erase(mid, items.end());
  route_group(nullptr, std::move(mos), exclude);
  route_group(&system_id, std::move(items), exclude);
}

void Simulator::Impl::route_group(const std::string* system_id, std::vector<Outgoing>&& items, const Conn* exclude) {
  if (items.empty()) return;
  std::shared_ptr<Conn> target;
  {
    std::lock_guard lock(mu);
    target = pick_receiver_locked(system_id, exclude);
    if (!target) {
      auto& store = system_id ? parked[*system_id] : parked_any;
      for (auto& o : items) store.push_back(std::move(o));
      return;
    }
  }
  asio::post(target->executor(), [target, items = std::move(items)]() mutable { target->adopt(std::move(items)); });
}

// ---------------------------------------------------------------- record file

void Simulator::Impl::record(Worker& w, const net::Session& s, const SubmitView& v, std::string_view message_id,
                             uint32_t status) {
  using namespace std::chrono;
  std::string& l = w.record_line;
  l.assign("{\"ts_ms\":");
  append_uint(l, static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()));
  l += v.command == CommandId::submit_sm ? ",\"command\":\"submit_sm\"" : ",\"command\":\"data_sm\"";
  l += ",\"system_id\":";
  append_json_string(l, s.system_id());
  l += ",\"message_id\":";
  append_json_string(l, message_id);
  l += ",\"status\":";
  append_uint(l, status);
  l += ",\"source\":";
  append_json_string(l, v.source.addr);
  l += ",\"source_ton\":";
  append_uint(l, v.source.ton);
  l += ",\"dest\":";
  append_json_string(l, v.dest.addr);
  l += ",\"dest_ton\":";
  append_uint(l, v.dest.ton);
  l += ",\"esm_class\":";
  append_uint(l, v.esm_class);
  l += ",\"data_coding\":";
  append_uint(l, v.data_coding);
  l += ",\"registered_delivery\":";
  append_uint(l, v.registered_delivery);
  l += ",\"short_message_hex\":\"";
  append_hex(l, v.short_message);
  std::string_view body = v.body();
  std::string_view udh;
  bool udh_ok = true;
  if (v.esm_class & smpp::kEsmUdhi) {
    if (auto u = smpp::parse_udh(body)) {
      udh = body.substr(0, u->header_length);
      body = u->payload;
    } else {
      udh_ok = false;
    }
  }
  l += "\",\"text\":";
  const auto text = udh_ok ? smpp::decode_text(body, v.data_coding) : std::nullopt;
  if (text) {
    append_json_string(l, *text);
  } else {
    l += "null";
  }
  l += ",\"udh_hex\":\"";
  append_hex(l, udh);
  l += "\",\"tlvs\":[";
  for (std::size_t i = 0; i < v.tlvs.items.size(); ++i) {
    l += i ? ",{\"tag\":" : "{\"tag\":";
    append_uint(l, v.tlvs.items[i].tag);
    l += ",\"hex\":\"";
    append_hex(l, v.tlvs.items[i].value);
    l += "\"}";
  }
  l += "]}\n";
  std::lock_guard lock(record_mu);
  record_buf += l;
}

// One line per automatic reply the peer accepted (its first part): what a
// test compares with what the peer did about it (opt-outs, tickets).
void Simulator::Impl::log_reply(const Outgoing& o) {
  using namespace std::chrono;
  std::string l = "{\"ts_ms\":";
  append_uint(l, static_cast<uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count()));
  l += ",\"from\":";
  append_json_string(l, o.from.addr.view());
  l += ",\"to\":";
  append_json_string(l, o.to.addr.view());
  l += ",\"text\":";
  append_json_string(l, o.rule->text);
  l += "}\n";
  std::lock_guard lock(record_mu);
  reply_buf += l;
}

void Simulator::Impl::flush_record() {
  if (reply_file) {
    {
      std::lock_guard lock(record_mu);
      reply_out.swap(reply_buf);
    }
    if (!reply_out.empty()) {
      std::fwrite(reply_out.data(), 1, reply_out.size(), reply_file);
      std::fflush(reply_file);
      reply_out.clear();
    }
  }
  if (!record_file) return;
  {
    std::lock_guard lock(record_mu);
    record_out.swap(record_buf);
  }
  if (record_out.empty()) return;
  std::fwrite(record_out.data(), 1, record_out.size(), record_file);
  std::fflush(record_file);
  record_out.clear();
}

asio::awaitable<void> Simulator::Impl::flush_loop() {
  error_code ec;
  while (!stopping) {
    flush_timer.expires_after(kRecordFlushInterval);
    co_await flush_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    flush_record();
  }
}

asio::awaitable<void> Simulator::Impl::drop_loop() {
  error_code ec;
  while (!stopping) {
    drop_timer.expires_after(opt.drop_every);
    co_await drop_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (stopping) break;
    for (auto& c : snapshot()) {
      main_counters.add(c_drops);
      asio::post(c->executor(), [c] { c->session().stop(); });
    }
  }
}

// FROM<TAB>TO<TAB>TEXT lines, queued for the first receiver bind.
void Simulator::Impl::load_mo_file() {
  std::ifstream in(opt.mo_file);
  if (!in) throw std::runtime_error("cannot read --mo-file " + opt.mo_file);
  std::string line;
  std::vector<Outgoing> items;
  for (int n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    const auto t1 = line.find('\t');
    const auto t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
    if (t2 == std::string::npos)
      throw std::runtime_error(opt.mo_file + ":" + std::to_string(n) + ": want FROM<TAB>TO<TAB>TEXT");
    std::string error;
    auto pdus = make_messages(address_for(line.substr(0, t1)), address_for(line.substr(t1 + 1, t2 - t1 - 1)),
                              std::string_view(line).substr(t2 + 1), MoSpec::Coding::automatic, MoSpec::Split::udh,
                              next_ref.fetch_add(1), error);
    if (pdus.empty()) throw std::runtime_error(opt.mo_file + ":" + std::to_string(n) + ": " + error);
    for (auto& p : pdus) {
      Outgoing o;
      o.kind = Outgoing::Kind::mo;
      o.lane = l_immediate;
      o.message = std::make_unique<smpp::Pdu>(std::move(p));
      items.push_back(std::move(o));
    }
  }
  route_group(nullptr, std::move(items), nullptr);
}

// ---------------------------------------------------------------- Simulator

namespace {
asio::awaitable<uint32_t> ready(uint32_t v) { co_return v; }
asio::awaitable<void> unbind_conn(std::shared_ptr<Conn> c) { co_await c->session().unbind(); }
}  // namespace

Simulator::Simulator(asio::io_context& main, Options options)
    : impl_(std::make_unique<Impl>(main, std::move(options))) {
  auto& s = *impl_;
  s.state_weight_total = 0;
  for (const auto& w : s.opt.dlr_states) s.state_weight_total += w.weight;
  if (s.opt.dlr_states.empty() || s.state_weight_total <= 0) throw std::invalid_argument("--dlr-states has no weight");
  s.opt.threads = std::max(1u, s.opt.threads);
}

Simulator::~Simulator() {
  auto& s = *impl_;
  for (auto& w : s.workers) {
    w->guard.reset();
    w->io.stop();
    if (w->thread.joinable()) w->thread.join();
  }
  {
    std::lock_guard lock(s.mu);
    s.conns.clear();
    s.receivers.clear();
    s.parked.clear();
    s.parked_any.clear();
  }
  s.flush_record();
  if (s.record_file) std::fclose(s.record_file);
  if (s.reply_file) std::fclose(s.reply_file);
}

void Simulator::start() {
  auto& s = *impl_;
  if (!s.opt.record_file.empty()) {
    s.record_file = std::fopen(s.opt.record_file.c_str(), "w");
    if (!s.record_file) throw std::runtime_error("cannot write --record " + s.opt.record_file);
  }
  if (!s.opt.reply_log.empty()) {
    s.reply_file = std::fopen(s.opt.reply_log.c_str(), "w");
    if (!s.reply_file) throw std::runtime_error("cannot write --reply-log " + s.opt.reply_log);
  }
  for (unsigned i = 0; i < s.opt.threads; ++i) s.workers.push_back(std::make_unique<Worker>(s.opt.seed + i));

  net::ServerConfig cfg;
  cfg.endpoint = s.opt.listen;
  cfg.session.window = s.opt.window;
  cfg.session.system_id = s.opt.system_id;
  cfg.session.close_timeout = std::chrono::milliseconds(500);
  cfg.session.max_incoming_pending = std::max<uint32_t>(4096, s.opt.window);
  s.server = net::Server::create(s.main.get_executor(), cfg);
  s.server->set_authenticator([&s](net::BindRequest req) {
    if (s.opt.accounts.empty()) return ready(st::ESME_ROK);
    for (const auto& a : s.opt.accounts) {
      if (a.system_id == req.system_id)
        return ready(net::constant_time_equal(a.password, req.password) ? st::ESME_ROK : st::ESME_RINVPASWD);
    }
    return ready(st::ESME_RINVSYSID);
  });
  s.server->set_executor_picker([&s]() -> asio::any_io_executor {
    return s.workers[s.next_worker++ % s.workers.size()]->io.get_executor();
  });
  s.server->set_session_handler([&s](const std::shared_ptr<net::Session>& session) {
    auto conn = std::make_shared<Conn>(s, *t_worker, session);
    session->set_request_handler([c = conn.get()](net::Session&, smpp::Pdu&& p) { c->on_request(std::move(p)); });
    session->set_event_handler([w = std::weak_ptr<Conn>(conn)](net::Session&, const net::SessionEvent& e) {
      if (auto c = w.lock()) c->on_event(e);
    });
    s.add_conn(conn);
    conn->start();
  });
  for (auto& w : s.workers) {
    w->thread = std::thread([wp = w.get()] {
      t_worker = wp;
      wp->io.run();
      wp->finished = true;
    });
  }
  s.server->start();
  if (!s.opt.mo_file.empty()) s.load_mo_file();
  if (s.record_file || s.reply_file) asio::co_spawn(s.main, s.flush_loop(), log_exception);
  if (s.opt.drop_every.count() > 0) asio::co_spawn(s.main, s.drop_loop(), log_exception);
}

tcp::endpoint Simulator::local_endpoint() const { return impl_->server->local_endpoint(); }

asio::awaitable<MoResult> Simulator::inject_mo(MoSpec spec) {
  auto& s = *impl_;
  std::string error;
  auto pdus = make_messages(address_for(spec.from), address_for(spec.to), spec.text, spec.coding, spec.split,
                            s.next_ref.fetch_add(1), error);
  if (pdus.empty()) co_return MoResult{400, 0, error};
  auto target = s.pick_receiver(nullptr);
  if (!target) co_return MoResult{503, 0, "no receiver bind"};
  auto waiter = std::make_shared<MoWaiter>(co_await asio::this_coro::executor, pdus.size());
  std::vector<Outgoing> items;
  for (auto& p : pdus) {
    Outgoing o;
    o.kind = Outgoing::Kind::mo;
    o.lane = l_immediate;
    o.message = std::make_unique<smpp::Pdu>(std::move(p));
    o.waiter = waiter;
    items.push_back(std::move(o));
  }
  asio::post(target->executor(), [target, items = std::move(items)]() mutable { target->adopt(std::move(items)); });
  waiter->timer.expires_after(kMoAnswerTimeout);
  if (!waiter->done) {
    error_code ec;
    co_await waiter->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  const std::size_t answered = waiter->answered.load(), ok = waiter->ok.load();
  if (waiter->done) co_return MoResult{200, answered, {}, ok};
  co_return MoResult{504, answered, "not every part was answered in time", ok};
}

std::size_t Simulator::drop_all() {
  auto conns = impl_->snapshot();
  for (auto& c : conns) {
    impl_->main_counters.add(c_drops);
    asio::post(c->executor(), [c] { c->session().stop(); });
  }
  return conns.size();
}

std::vector<std::pair<std::string_view, uint64_t>> Simulator::stats() const {
  auto& s = *impl_;
  std::vector<std::pair<std::string_view, uint64_t>> out;
  for (std::size_t i = 0; i < kCounterCount; ++i) out.emplace_back(kCounterNames[i], s.counter(static_cast<Counter>(i)));
  std::lock_guard lock(s.mu);
  out.emplace_back("connections", s.conns.size());
  out.emplace_back("receivers", s.receivers.size());
  std::size_t parked = s.parked_any.size();
  for (const auto& [id, v] : s.parked) parked += v.size();
  out.emplace_back("parked", parked);
  out.emplace_back("uptime_ms", std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - s.started).count());
  return out;
}

asio::awaitable<void> Simulator::shutdown() {
  auto& s = *impl_;
  if (s.stopping) co_return;
  s.stopping = true;
  s.flush_timer.cancel();
  s.drop_timer.cancel();
  // Unbind every session, for at most about a second.
  for (auto& c : s.snapshot()) asio::co_spawn(c->executor(), unbind_conn(c), asio::detached);
  asio::steady_timer t(s.main);
  error_code ec;
  for (auto deadline = Clock::now() + std::chrono::milliseconds(1200); Clock::now() < deadline;) {
    if (s.snapshot().empty()) break;
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (s.server) s.server->stop();
  // Let the workers finish what is queued, then stop them.
  for (auto& w : s.workers) w->guard.reset();
  for (auto deadline = Clock::now() + std::chrono::milliseconds(300); Clock::now() < deadline;) {
    if (std::all_of(s.workers.begin(), s.workers.end(), [](const auto& w) { return w->finished.load(); })) break;
    t.expires_after(std::chrono::milliseconds(10));
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  for (auto& w : s.workers) {
    w->io.stop();
    if (w->thread.joinable()) w->thread.join();
  }
  s.flush_record();
}

}  // namespace smsgate::smsc
