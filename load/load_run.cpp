// The sending and counting side of smsgate-load.
//
// One io_context per thread; each bind is a net::Client on one of them with
// one sender coroutine. The sender pre-builds its submit_sm PDUs once and per
// message only rewrites the destination (and the UDH reference of a long
// message), then hands them to Session::try_request with a two-word callback.
// Counters are per thread, written only by that thread and read by the main
// thread (relaxed atomics) for the progress line. Receipts are matched to
// submits by a hash of the message id in open-addressing tables (no
// allocation per message), sharded with a mutex each when several threads may
// see the response and the receipt of one message.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <span>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "load/load.hpp"
#include "smpp/net/client.hpp"
#include "smpp/receipt.hpp"
#include "smpp/status.hpp"
#include "smpp/udh.hpp"

namespace smsgate::load {
namespace {

namespace net = smpp::net;
namespace asio = boost::asio;
using smpp::CommandId;
using smpp::MessageState;

uint64_t now_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}
constexpr uint64_t kSecond = 1'000'000'000;
uint64_t seconds_to_ns(double s) { return static_cast<uint64_t>(s * 1e9); }

// A counter written by one thread and read by others.
using Counter = std::atomic<uint64_t>;
inline void bump(Counter& c, uint64_t n = 1) { c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed); }
inline uint64_t get(const Counter& c) { return c.load(std::memory_order_relaxed); }

// ---------------------------------------------------------------- ids

// 64-bit key of a message id. Case and leading zeros are ignored, so that a
// receipt that prints the id zero-padded or in other case still matches.
uint64_t id_key(std::string_view id) {
  while (!id.empty() && id.back() == '\0') id.remove_suffix(1);
  while (id.size() > 1 && id.front() == '0') id.remove_prefix(1);
  uint64_t h = 14695981039346656037ull;  // FNV-1a, then a 64-bit finaliser
  for (unsigned char c : id) {
    if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c + 32);
    h = (h ^ c) * 1099511628211ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h ? h : 1;
}

// key -> value, open addressing with linear probing; key 0 marks a free slot.
class IdTable {
 public:
  explicit IdTable(std::size_t capacity = 1024) { rehash(std::bit_ceil(std::max<std::size_t>(capacity, 16))); }

  // False (and nothing changes) when the key is already there.
  bool insert(uint64_t key, uint64_t value) {
    if ((size_ + 1) * 2 > slots_.size()) rehash(slots_.size() * 2);
    std::size_t i = key & mask_;
    while (slots_[i].key != 0) {
      if (slots_[i].key == key) return false;
      i = (i + 1) & mask_;
    }
    slots_[i] = {key, value};
    ++size_;
    return true;
  }

  // Removes the key and returns its value.
  std::optional<uint64_t> take(uint64_t key) {
    for (std::size_t i = key & mask_; slots_[i].key != 0; i = (i + 1) & mask_) {
      if (slots_[i].key != key) continue;
      uint64_t value = slots_[i].value;
      erase_at(i);
      return value;
    }
    return std::nullopt;
  }

  // Removes every entry whose value is below `limit`; returns how many.
  std::size_t erase_below(uint64_t limit) {
    std::vector<Slot> keep;
    for (const Slot& s : slots_)
      if (s.key != 0 && s.value >= limit) keep.push_back(s);
    std::size_t removed = size_ - keep.size();
    if (removed == 0) return 0;
    std::fill(slots_.begin(), slots_.end(), Slot{});
    size_ = 0;
    for (const Slot& s : keep) insert(s.key, s.value);
    return removed;
  }

  std::size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t key = 0;
    uint64_t value = 0;
  };

  // Backward-shift deletion: later entries of the probe run move up so that
  // no tombstone is needed.
  void erase_at(std::size_t hole) {
    std::size_t j = hole;
    for (;;) {
      j = (j + 1) & mask_;
      if (slots_[j].key == 0) break;
      std::size_t home = slots_[j].key & mask_;
      // Movable when its home is not in (hole, j] (cyclically).
      bool stays = hole <= j ? (home > hole && home <= j) : (home > hole || home <= j);
      if (!stays) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    slots_[hole] = Slot{};
    --size_;
  }

  void rehash(std::size_t capacity) {
    std::vector<Slot> old(capacity);
    old.swap(slots_);
    mask_ = capacity - 1;
    size_ = 0;
    for (const Slot& s : old)
      if (s.key != 0) insert(s.key, s.value);
  }

  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

// The key of a submit_sm_resp id as its receipt will print it: as is, or in
// decimal / hex when the carrier prints receipts so (--receipt-id-format).
uint64_t receipt_key(std::string_view id, ReceiptIdFormat format) {
  if (format == ReceiptIdFormat::same) return id_key(id);
  while (!id.empty() && id.back() == '\0') id.remove_suffix(1);
  const bool from_hex = format == ReceiptIdFormat::decimal;
  uint64_t v = 0;
  for (char c : id) {
    unsigned d = c >= '0' && c <= '9' ? unsigned(c - '0')
                 : from_hex && c >= 'a' && c <= 'f' ? unsigned(c - 'a' + 10)
                 : from_hex && c >= 'A' && c <= 'F' ? unsigned(c - 'A' + 10)
                                                    : 99u;
    if (d == 99u) return id_key(id);  // not a number in that base: keep it as is
    v = v * (from_hex ? 16 : 10) + d;
  }
  char buf[24];
  int len = std::snprintf(buf, sizeof buf, from_hex ? "%llu" : "%llx", static_cast<unsigned long long>(v));
  return id_key(std::string_view(buf, static_cast<std::size_t>(len)));
}

// Accepted submits waiting for their receipt, and receipts that came before
// their submit_sm_resp (kept until `expire`). A response and its receipt
// take one shard lock each.
class Matcher {
 public:
  // `outstanding`: how many submits usually wait for their receipt at once.
  // The tables start at twice that and double when half full: a table much
  // larger than the live entries costs a cache miss per insert.
  Matcher(unsigned shards, std::size_t outstanding) {
    unsigned n = std::bit_ceil(std::max(shards, 1u));
    for (unsigned i = 0; i < n; ++i) shards_.push_back(std::make_unique<Shard>(2 * (outstanding / n) + 64));
    mask_ = n - 1;
  }

  // An accepted submit (sent at t0): the receipt's arrival time if it came first.
  std::optional<uint64_t> accepted(uint64_t key, uint64_t t0) {
    Shard& s = shard(key);
    std::lock_guard lock(s.mu);
    if (auto at = s.early.take(key)) return at;
    if (!s.pending.insert(key, t0)) duplicate_ids_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }

  // A final receipt arriving at `now` under the id keys `keys` (the TLV's,
  // the text's): the submit time when its submit is known; else it is kept
  // under keys[0] for a submit_sm_resp still to come.
  std::optional<uint64_t> receipt(std::span<const uint64_t> keys, uint64_t now) {
    for (std::size_t i = 1; i < keys.size(); ++i) {
      Shard& s = shard(keys[i]);
      std::lock_guard lock(s.mu);
      if (auto t0 = s.pending.take(keys[i])) return t0;
    }
    Shard& s = shard(keys[0]);
    std::lock_guard lock(s.mu);
    if (auto t0 = s.pending.take(keys[0])) return t0;
    if (!s.early.insert(keys[0], now)) unmatched_.fetch_add(1, std::memory_order_relaxed);  // a duplicate
    return std::nullopt;
  }

  // Receipts that came before `limit` and still match nothing become unmatched.
  void expire(uint64_t limit) {
    for (auto& s : shards_) {
      std::lock_guard lock(s->mu);
      unmatched_.fetch_add(s->early.erase_below(limit), std::memory_order_relaxed);
    }
  }
  void count_unmatched() { unmatched_.fetch_add(1, std::memory_order_relaxed); }
  uint64_t unmatched() const { return unmatched_.load(std::memory_order_relaxed); }
  uint64_t duplicate_ids() const { return duplicate_ids_.load(std::memory_order_relaxed); }

 private:
  struct Shard {
    explicit Shard(std::size_t capacity) : pending(capacity) {}
    std::mutex mu;
    IdTable pending;
    IdTable early{64};
  };
  Shard& shard(uint64_t key) { return *shards_[(key >> 40) & mask_]; }

  std::vector<std::unique_ptr<Shard>> shards_;
  std::size_t mask_ = 0;
  std::atomic<uint64_t> unmatched_{0};
  std::atomic<uint64_t> duplicate_ids_{0};
};

// ---------------------------------------------------------------- pacing

// Generic cell rate algorithm: one submit_sm per `interval`, with a burst of
// `tolerance` (20 ms) ahead of schedule: high rates wake rarely, and a
// sender woken late (a busy machine) catches up instead of losing the time.
class Pacer {
 public:
  explicit Pacer(double rate) {
    if (rate > 0) {
      interval_ = std::max<uint64_t>(1, static_cast<uint64_t>(1e9 / rate));
      tolerance_ = std::max<uint64_t>(interval_, 20'000'000);
    }
  }
  // ns to wait before the next send may go; 0 = now.
  uint64_t delay(uint64_t now) const {
    if (interval_ == 0 || tat_ <= now + tolerance_ - interval_) return 0;
    return tat_ - (now + tolerance_ - interval_);
  }
  void sent(uint64_t now) {
    if (interval_) tat_ = std::max(tat_, now) + interval_;
  }

 private:
  uint64_t interval_ = 0;
  uint64_t tolerance_ = 0;
  uint64_t tat_ = 0;  // theoretical arrival time of the next send
};

// ---------------------------------------------------------------- state

struct Shared;

// Everything one io thread counts. Counters are read by the main thread.
struct ThreadStats {
  Counter messages{0}, parts{0}, acked{0}, errors{0}, timeouts{0}, closed{0}, malformed{0};
  Counter dlrs{0}, matched{0}, intermediate{0}, mos{0}, rebinds{0};
  Counter first_send_ns{0}, last_send_ns{0}, last_resp_ns{0}, last_dlr_ns{0};
  std::array<Counter, 256> status{};     // command_status below 256
  std::array<Counter, 10> by_state{};    // MessageState 1-8; 0 none; 9 unrecognised text
  std::mutex rare_mu;                    // statuses >= 256, unrecognised stat texts
  std::map<uint32_t, uint64_t> rare_status;
  std::map<std::string, uint64_t, std::less<>> rare_stat;
  Histogram latency;                     // written by the thread; read after join
  Histogram dlr_latency;
};

struct Worker;

struct Thread {
  Thread(Shared& s, double rate) : shared(s), pacer(rate) {}
  Shared& shared;
  ThreadStats stats;
  Pacer pacer;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::vector<std::unique_ptr<Worker>> workers;  // destroyed before io
  std::thread thread;
  std::atomic<bool> finished{false};

  void on_response(net::Reply&& reply, uint64_t t0);
  void on_request(net::Session& session, smpp::Pdu&& request);
  void on_receipt(const smpp::ShortMessage& sm);
  void count_status(uint32_t status);
  void count_stat(std::optional<MessageState> state, std::string_view text);
};

struct Shared {
  explicit Shared(const Options& o)
      : options(o),
        limit(o.count ? o.count : UINT64_MAX),
        await_dlrs(!o.transmitter && (o.registered_delivery & 0x03) == 1),
        matcher(o.threads > 1 ? 64 : 1, std::size_t{o.window} * o.binds * 2) {}
  const Options& options;
  const uint64_t limit;
  const bool await_dlrs;
  Matcher matcher;
  std::atomic<uint64_t> claimed{0};
  std::atomic<bool> stop_sending{false};
  std::atomic<bool> sending{false};   // set when the senders may start
  std::atomic<unsigned> senders_done{0};
  std::atomic<int> bound{0};
  std::mutex failure_mu;
  std::string failure;                // first connect/bind failure before the start
};

// A message kind: the submit_sm of each part, pre-built.
struct Kind {
  std::vector<smpp::Pdu> parts;
  unsigned cumulative_weight = 0;
};

std::vector<Kind> build_kinds(const Options& o) {
  static constexpr std::string_view kGsm = "smsgate-load test message: the quick brown fox jumps over the lazy dog 0123456789";
  static constexpr std::string_view kUcs2 = "smsgate-load: Тестовое сообщение, 测试消息";
  std::vector<std::pair<std::string, unsigned>> texts;
  if (!o.text.empty()) {
    texts.emplace_back(o.text, 1);
  } else {
    for (const TextShare& t : o.text_mix) {
      std::string text(t.kind == TextShare::ucs2 ? kUcs2 : kGsm);
      if (t.kind == TextShare::long_gsm)
        while (text.size() < 400) text += std::string(" ") + std::string(kGsm);  // three parts
      if (t.weight) texts.emplace_back(std::move(text), t.weight);
    }
  }
  std::vector<Kind> kinds;
  unsigned cumulative = 0;
  for (const auto& [text, weight] : texts) {
    std::vector<smpp::Part> parts = smpp::split_text(text, 0);
    if (parts.empty()) throw std::invalid_argument("the text needs more than 255 parts");
    Kind k;
    for (smpp::Part& p : parts) {
      smpp::Pdu pdu;
      pdu.command_id = CommandId::submit_sm;
      smpp::ShortMessage sm;
      sm.source = {o.source_ton, o.source_npi, o.source};
      sm.dest = {o.dest_ton, o.dest_npi, {}};
      sm.dest.addr.reserve(24);
      sm.esm_class = parts.size() > 1 ? smpp::kEsmUdhi : 0;
      sm.registered_delivery = o.registered_delivery;
      sm.data_coding = p.data_coding;
      sm.short_message = std::move(p.short_message);
      pdu.body = std::move(sm);
      k.parts.push_back(std::move(pdu));
    }
    cumulative += weight;
    k.cumulative_weight = cumulative;
    kinds.push_back(std::move(k));
  }
  return kinds;
}

struct Worker {
  Worker(Thread& t, unsigned index, std::vector<Kind> k)
      : thread(t), kinds(std::move(k)), rng(0x9E3779B97F4A7C15ull * (index + 1)) {}
  Thread& thread;
  std::shared_ptr<net::Client> client;
  std::vector<Kind> kinds;
  uint64_t rng;
  uint8_t next_ref = 0;
  bool bound = false;

  uint64_t random() {  // splitmix64
    uint64_t z = (rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

  // The parts of message number `index`, destination and reference set.
  std::vector<smpp::Pdu>& prepare(uint64_t index);
  asio::awaitable<void> send_loop();
};

std::vector<smpp::Pdu>& Worker::prepare(uint64_t index) {
  const Options& o = thread.shared.options;
  Kind* kind = &kinds.front();
  if (kinds.size() > 1) {
    uint64_t w = random() % kinds.back().cumulative_weight;
    for (Kind& k : kinds)
      if (w < k.cumulative_weight) {
        kind = &k;
        break;
      }
  }
  uint64_t pick = o.dest_random ? random() : index;
  char digits[24];
  std::string_view dest;
  if (!o.dest_list.empty()) {
    dest = o.dest_list[pick % o.dest_list.size()];
  } else {
    uint64_t n = o.dest_from + pick % (o.dest_to - o.dest_from + 1);
    char* end = digits + sizeof digits;
    char* p = end;
    do {
      *--p = static_cast<char>('0' + n % 10);
      n /= 10;
    } while (n);
    while (end - p < static_cast<std::ptrdiff_t>(o.dest_digits) && p > digits) *--p = '0';
    dest = std::string_view(p, static_cast<std::size_t>(end - p));
  }
  uint8_t ref = next_ref++;
  for (smpp::Pdu& pdu : kind->parts) {
    auto& sm = pdu.as<smpp::ShortMessage>();
    sm.dest.addr.assign(dest);
    if (kind->parts.size() > 1) sm.short_message[3] = static_cast<char>(ref);  // 05 00 03 ref total seq
  }
  return kind->parts;
}

// The response callback: two words, stored inline in the session's slot.
struct OnResponse {
  Thread* thread;
  uint64_t t0;
  void operator()(net::Reply&& reply) const { thread->on_response(std::move(reply), t0); }
};

asio::awaitable<void> Worker::send_loop() {
  Shared& shared = thread.shared;
  ThreadStats& st = thread.stats;
  asio::steady_timer timer(thread.io);
  net::error_code ec;
  auto sleep = [&](uint64_t ns) {
    timer.expires_after(std::chrono::nanoseconds(ns));
    return timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  };
  constexpr uint64_t kBatch = 32;  // messages claimed at a time
  uint64_t next = 0, end = 0;
  while (!shared.stop_sending.load(std::memory_order_relaxed)) {
    if (next == end) {
      next = shared.claimed.fetch_add(kBatch, std::memory_order_relaxed);
      if (next >= shared.limit) break;
      end = std::min(next + kBatch, shared.limit);
    }
    std::vector<smpp::Pdu>& parts = prepare(next++);
    for (std::size_t i = 0; i < parts.size();) {
      if (shared.stop_sending.load(std::memory_order_relaxed)) break;
      const std::shared_ptr<net::Session>& session = client->session();
      if (!client->is_bound() || !session) {
        co_await sleep(20'000'000);  // rebinding
        continue;
      }
      if (!session->writable()) {
        std::shared_ptr<net::Session> keep = session;
        if (co_await keep->wait_writable()) co_await sleep(10'000'000);  // closing: wait for the rebind
        continue;
      }
      uint64_t t0 = now_ns();
      if (uint64_t wait = thread.pacer.delay(t0)) {
        co_await sleep(wait);
        continue;
      }
      if (session->try_request(parts[i], OnResponse{&thread, t0}).error) continue;
      thread.pacer.sent(t0);
      if (get(st.first_send_ns) == 0) st.first_send_ns.store(t0, std::memory_order_relaxed);
      st.last_send_ns.store(t0, std::memory_order_relaxed);
      bump(st.parts);
      if (++i == parts.size()) bump(st.messages);
    }
  }
  shared.senders_done.fetch_add(1);
}

// ---------------------------------------------------------------- counting

void Thread::count_status(uint32_t status) {
  bump(stats.errors);
  if (status < stats.status.size()) {
    bump(stats.status[status]);
  } else {
    std::lock_guard lock(stats.rare_mu);
    ++stats.rare_status[status];
  }
}

void Thread::count_stat(std::optional<MessageState> state, std::string_view text) {
  if (state && static_cast<unsigned>(*state) < 9) {
    bump(stats.by_state[static_cast<unsigned>(*state)]);
  } else if (text.empty()) {
    bump(stats.by_state[0]);
  } else {
    std::lock_guard lock(stats.rare_mu);
    auto it = stats.rare_stat.find(text);
    if (it == stats.rare_stat.end()) it = stats.rare_stat.emplace(std::string(text), 0).first;
    ++it->second;
  }
}

void Thread::on_response(net::Reply&& reply, uint64_t t0) {
  uint64_t now = now_ns();
  stats.last_resp_ns.store(now, std::memory_order_relaxed);
  if (reply.error) {
    const bool closed = reply.error == net::Error::closed || reply.error == net::Error::not_sent;
    bump(reply.error == net::Error::timeout ? stats.timeouts : closed ? stats.closed : stats.malformed);
    return;
  }
  stats.latency.record(now - t0);
  const smpp::Pdu& pdu = reply.pdu;
  if (pdu.command_status != 0 || pdu.command_id != CommandId::submit_sm_resp) {
    count_status(pdu.command_status ? pdu.command_status : smpp::status::ESME_RUNKNOWNERR);
    return;
  }
  bump(stats.acked);
  if (!shared.await_dlrs) return;
  const std::string& id = pdu.as<smpp::MessageIdResp>().message_id;
  if (auto arrived = shared.matcher.accepted(receipt_key(id, shared.options.receipt_id_format), t0)) {
    bump(stats.matched);
    stats.dlr_latency.record(*arrived > t0 ? *arrived - t0 : 0);
    stats.last_dlr_ns.store(std::max(*arrived, get(stats.last_dlr_ns)), std::memory_order_relaxed);
  }
}

void Thread::on_request(net::Session& session, smpp::Pdu&& request) {
  if (request.command_id == CommandId::alert_notification) return;
  session.respond(request.command_id, request.sequence_number, smpp::status::ESME_ROK);
  if (request.command_id == CommandId::deliver_sm) {
    const auto& sm = request.as<smpp::ShortMessage>();
    if (smpp::is_receipt_esm_class(sm.esm_class))
      on_receipt(sm);
    else
      bump(stats.mos);
  } else if (request.command_id == CommandId::data_sm) {
    const auto& d = request.as<smpp::DataSm>();
    if (smpp::is_receipt_esm_class(d.esm_class)) {
      smpp::ShortMessage sm;
      sm.esm_class = d.esm_class;
      sm.tlvs = d.tlvs;
      on_receipt(sm);
    } else {
      bump(stats.mos);
    }
  }
}

void Thread::on_receipt(const smpp::ShortMessage& sm) {
  uint64_t now = now_ns();
  bump(stats.dlrs);
  std::string_view tlv_id;
  std::optional<MessageState> state;
  if (const smpp::Tlv* t = sm.tlvs.find(smpp::tag::receipted_message_id)) tlv_id = t->value;
  if (const smpp::Tlv* t = sm.tlvs.find(smpp::tag::message_state); t && t->value.size() == 1)
    state = static_cast<MessageState>(static_cast<uint8_t>(t->value[0]));
  // The text is parsed only when a TLV is missing: the id or the stat.
  std::optional<smpp::Receipt> text;
  if (tlv_id.empty() || !state) {
    const smpp::Tlv* payload = sm.short_message.empty() ? sm.tlvs.find(smpp::tag::message_payload) : nullptr;
    text = smpp::parse_receipt(payload ? std::string_view(payload->value) : std::string_view(sm.short_message));
    if (text && !state) state = smpp::state_from_stat(text->stat);
  }
  count_stat(state, text ? std::string_view(text->stat) : std::string_view{});
  if ((sm.esm_class & 0x3C) == 0x20 || state == MessageState::enroute) {
    bump(stats.intermediate);
    return;
  }
  std::array<uint64_t, 2> keys;
  std::size_t n = 0;
  if (!tlv_id.empty()) keys[n++] = id_key(tlv_id);
  if (text && !text->id.empty() && (n == 0 || id_key(text->id) != keys[0])) keys[n++] = id_key(text->id);
  if (n == 0 || !shared.await_dlrs) {
    shared.matcher.count_unmatched();
    return;
  }
  auto t0 = shared.matcher.receipt(std::span(keys.data(), n), now);
  if (!t0) return;  // kept for a submit_sm_resp still to come
  bump(stats.matched);
  stats.dlr_latency.record(now > *t0 ? now - *t0 : 0);
  stats.last_dlr_ns.store(now, std::memory_order_relaxed);
}

// ---------------------------------------------------------------- the run

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_signal(int) { g_interrupted = 1; }

using Threads = std::vector<std::unique_ptr<Thread>>;

struct Totals {
  uint64_t messages = 0, parts = 0, acked = 0, errors = 0, unanswered = 0, dlrs = 0, matched = 0, mos = 0,
           rebinds = 0, last_resp_ns = 0;
  std::map<uint32_t, uint64_t> status;  // filled when asked
  uint64_t responses() const { return acked + errors + unanswered; }
};

Totals totals(const Threads& threads, bool with_status) {
  Totals t;
  for (const auto& th : threads) {
    ThreadStats& s = th->stats;
    t.messages += get(s.messages);
    t.parts += get(s.parts);
    t.acked += get(s.acked);
    t.errors += get(s.errors);
    t.unanswered += get(s.timeouts) + get(s.closed) + get(s.malformed);
    t.dlrs += get(s.dlrs);
    t.matched += get(s.matched);
    t.mos += get(s.mos);
    t.rebinds += get(s.rebinds);
    t.last_resp_ns = std::max(t.last_resp_ns, get(s.last_resp_ns));
    if (!with_status) continue;
    for (uint32_t i = 0; i < s.status.size(); ++i)
      if (uint64_t n = get(s.status[i])) t.status[i] += n;
    std::lock_guard lock(s.rare_mu);
    for (const auto& [status, n] : s.rare_status) t.status[status] += n;
  }
  return t;
}

// One line on stderr: rewritten every 500 ms on a terminal, else every 5 s.
class Progress {
 public:
  Progress(const Options& o, uint64_t start) : o_(o), start_(start), last_(start) {}

  void tick(const Threads& threads, uint64_t now, bool force = false) {
    if (o_.quiet) return;
    uint64_t period = o_.progress_tty ? kSecond / 2 : 5 * kSecond;
    if (!force && now - last_ < period) return;
    Totals t = totals(threads, true);
    double dt = static_cast<double>(now - last_) / 1e9;
    double rate = dt > 0 ? static_cast<double>(t.parts - last_parts_) / dt : 0;
    last_ = now;
    last_parts_ = t.parts;
    std::string line = format_elapsed(static_cast<double>(now - start_) / 1e9) + "  " +
                       thousands(static_cast<uint64_t>(rate)) + "/s  sent " + thousands(t.parts) + "  acked " +
                       thousands(t.acked);
    for (const auto& [status, n] : t.status) line += "  " + smpp::status::status_name(status) + " " + thousands(n);
    if (t.unanswered) line += "  no-resp " + thousands(t.unanswered);
    line += "  dlr " + thousands(t.dlrs);
    if (t.mos) line += "  mo " + thousands(t.mos);
    if (t.rebinds) line += "  rebinds " + thousands(t.rebinds);
    if (o_.progress_tty)
      std::fprintf(stderr, "\r%s\033[K", line.c_str());
    else
      std::fprintf(stderr, "%s\n", line.c_str());
    printed_ = true;
  }

  void finish(const Threads& threads, uint64_t now) {
    tick(threads, now, true);
    if (printed_ && o_.progress_tty) std::fputc('\n', stderr);
  }

 private:
  static std::string format_elapsed(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%7.1f s", s);
    return buf;
  }
  const Options& o_;
  uint64_t start_, last_, last_parts_ = 0;
  bool printed_ = false;
};

net::ClientConfig client_config(const Options& o, const std::shared_ptr<asio::ssl::context>& tls) {
  net::ClientConfig c;
  c.connect.host = o.host;
  c.connect.port = o.port;
  c.connect.tls = tls;
  c.bind_type = o.transmitter ? net::BindType::transmitter : net::BindType::transceiver;
  c.bind.system_id = o.system_id;
  c.bind.password = o.password;
  c.bind.system_type = o.system_type;
  c.session.window = o.window;
  c.session.response_timeout = std::chrono::milliseconds(static_cast<int64_t>(o.response_timeout_s * 1000));
  c.session.close_timeout = std::chrono::milliseconds(2'000);
  c.session.write_queue_limit = std::max<std::size_t>(256 * 1024, std::size_t{o.window} * 256);
  c.backoff.initial = std::chrono::milliseconds(100);
  c.backoff.max = std::chrono::milliseconds(2'000);
  c.backoff.auth_failure = std::chrono::milliseconds(2'000);
  return c;
}

void install_handlers(Worker& w) {
  Thread& th = w.thread;
  Shared& shared = th.shared;
  w.client->set_request_handler([&th](net::Session& s, smpp::Pdu&& pdu) { th.on_request(s, std::move(pdu)); });
  w.client->set_state_handler([&w, &shared](net::Client&, bool bound) {
    if (bound == w.bound) return;
    w.bound = bound;
    shared.bound.fetch_add(bound ? 1 : -1);
    if (bound && shared.sending.load()) bump(w.thread.stats.rebinds);
  });
  w.client->set_event_handler([&shared](net::Client& c, const net::ClientEvent& e) {
    using K = net::ClientEvent::Kind;
    if (shared.sending.load() || (e.kind != K::connect_failed && e.kind != K::bind_failed)) return;
    std::string why;
    if (e.kind == K::connect_failed)
      why = "cannot connect to " + c.config().connect.host + ":" + c.config().connect.port + ": " + e.error.message();
    else if (e.status)
      why = "bind rejected: " + smpp::status::status_name(e.status);
    else
      why = "bind failed: " + e.error.message();
    std::lock_guard lock(shared.failure_mu);
    if (shared.failure.empty()) shared.failure = why;
  });
}

void sleep_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

// Unbinds every client (gracefully, up to a few seconds) and joins the threads.
void shut_down(Threads& threads) {
  for (auto& th : threads) {
    asio::co_spawn(
        th->io,
        [t = th.get()]() -> asio::awaitable<void> {
          for (auto& w : t->workers) co_await w->client->shutdown();
          t->guard.reset();
        },
        asio::detached);
  }
  uint64_t deadline = now_ns() + 8 * kSecond;
  for (auto& th : threads) {
    while (!th->finished.load() && now_ns() < deadline) sleep_ms(5);
    if (!th->finished.load()) th->io.stop();
    th->thread.join();
  }
}

Results collect(Shared& shared, Threads& threads) {
  Results r;
  Totals t = totals(threads, true);
  r.messages = t.messages;
  r.parts = t.parts;
  r.acked = t.acked;
  for (const auto& [status, n] : t.status) r.errors[smpp::status::status_name(status)] += n;
  uint64_t first = UINT64_MAX, last_send = 0, last_dlr = 0;
  for (const auto& th : threads) {
    ThreadStats& s = th->stats;
    if (get(s.timeouts)) r.unanswered["timeout"] += get(s.timeouts);
    if (get(s.closed)) r.unanswered["closed"] += get(s.closed);
    if (get(s.malformed)) r.unanswered["malformed"] += get(s.malformed);
    r.dlrs_intermediate += get(s.intermediate);
    for (unsigned i = 0; i < s.by_state.size(); ++i) {
      if (uint64_t n = get(s.by_state[i]))
        r.dlrs_by_stat[i == 0 ? "NONE" : std::string(smpp::stat_text(static_cast<MessageState>(i)))] += n;
    }
    for (const auto& [stat, n] : s.rare_stat) r.dlrs_by_stat[stat] += n;
    if (get(s.first_send_ns)) first = std::min(first, get(s.first_send_ns));
    last_send = std::max(last_send, get(s.last_send_ns));
    last_dlr = std::max(last_dlr, get(s.last_dlr_ns));
    r.latency.merge(s.latency);
    r.dlr_latency.merge(s.dlr_latency);
  }
  shared.matcher.expire(UINT64_MAX);
  r.dlrs_received = t.dlrs;
  r.dlrs_matched = t.matched;
  r.dlrs_unmatched = shared.matcher.unmatched();
  r.dlrs_awaited = shared.await_dlrs;
  r.dlrs_expected = shared.await_dlrs ? t.acked : 0;
  r.mos = t.mos;
  r.rebinds = t.rebinds;
  r.duplicate_ids = shared.matcher.duplicate_ids();
  auto span = [first](uint64_t last) { return last > first && first != UINT64_MAX ? static_cast<double>(last - first) / 1e9 : 0.0; };
  r.send_s = span(last_send);
  r.elapsed_s = span(t.last_resp_ns);
  r.dlr_s = span(last_dlr);
  return r;
}

}  // namespace

Results run(const Options& o) {
  Shared shared(o);
  Threads threads;
  const unsigned nthreads = std::max(1u, std::min(o.threads, o.binds));
  for (unsigned t = 0; t < nthreads; ++t) {
    unsigned binds_here = o.binds / nthreads + (t < o.binds % nthreads ? 1 : 0);
    threads.push_back(std::make_unique<Thread>(shared, o.rate * binds_here / o.binds));
  }
  std::shared_ptr<asio::ssl::context> tls = o.tls ? net::make_tls_client_context(o.tls_ca) : nullptr;
  const std::vector<Kind> kinds = build_kinds(o);
  for (unsigned i = 0; i < o.binds; ++i) {
    Thread& th = *threads[i % nthreads];
    auto w = std::make_unique<Worker>(th, i, kinds);
    w->client = net::Client::create(th.io.get_executor(), client_config(o, tls));
    install_handlers(*w);
    th.workers.push_back(std::move(w));
  }

  auto old_int = std::signal(SIGINT, on_signal);
  auto old_term = std::signal(SIGTERM, on_signal);
  struct RestoreSignals {
    decltype(old_int) i, t;
    ~RestoreSignals() {
      std::signal(SIGINT, i);
      std::signal(SIGTERM, t);
    }
  } restore{old_int, old_term};

  for (auto& th : threads) {
    asio::post(th->io, [t = th.get()] {
      for (auto& w : t->workers) w->client->start();
    });
    th->thread = std::thread([t = th.get()] {
      t->io.run();
      t->finished.store(true);
    });
  }

  // Every bind up, or the first failure.
  const uint64_t bind_deadline = now_ns() + 15 * kSecond;
  for (;;) {
    std::string failure;
    {
      std::lock_guard lock(shared.failure_mu);
      failure = shared.failure;
    }
    if (failure.empty() && shared.bound.load() == static_cast<int>(o.binds)) break;
    if (failure.empty() && g_interrupted) failure = "interrupted while binding";
    if (failure.empty() && now_ns() > bind_deadline) failure = "bind not done within 15 s";
    if (!failure.empty()) {
      shut_down(threads);
      throw BindFailure{failure};
    }
    sleep_ms(5);
  }

  Results aborted;
  shared.sending.store(true);
  for (auto& th : threads) {
    asio::post(th->io, [t = th.get()] {
      for (auto& w : t->workers) asio::co_spawn(t->io, w->send_loop(), asio::detached);
    });
  }
  const uint64_t start = now_ns();
  Progress progress(o, start);
  auto stop = [&](const char* why) {
    if (!shared.stop_sending.exchange(true) && why) {
      aborted.aborted = true;
      aborted.abort_reason = why;
    }
  };

  // Sending, then every response.
  uint64_t unbound_since = 0;
  for (;;) {
    sleep_ms(20);
    uint64_t now = now_ns();
    progress.tick(threads, now);
    if (o.duration_s > 0 && now - start >= seconds_to_ns(o.duration_s)) stop(nullptr);
    if (g_interrupted) stop("interrupted");
    if (shared.bound.load() > 0) {
      unbound_since = 0;
    } else if (unbound_since == 0) {
      unbound_since = now;
    } else if (now - unbound_since > 10 * kSecond) {
      stop("no bind for 10 s");
    }
    Totals t = totals(threads, false);
    if (shared.senders_done.load() == o.binds && t.responses() >= t.parts) break;
  }

  // The receipts, up to dlr_timeout after the last response.
  if (shared.await_dlrs && !g_interrupted) {
    const uint64_t hold = seconds_to_ns(o.response_timeout_s) + 2 * kSecond;
    uint64_t next_expire = now_ns() + kSecond;
    for (;;) {
      Totals t = totals(threads, false);
      uint64_t now = now_ns();
      if (t.matched >= t.acked || g_interrupted) break;
      if (now - std::max(t.last_resp_ns, start) >= seconds_to_ns(o.dlr_timeout_s)) break;
      if (now >= next_expire) {
        shared.matcher.expire(now - std::min(now, hold));
        next_expire = now + kSecond;
      }
      progress.tick(threads, now);
      sleep_ms(5);
    }
  }
  progress.finish(threads, now_ns());
  shut_down(threads);

  Results r = collect(shared, threads);
  r.aborted = aborted.aborted;
  r.abort_reason = aborted.abort_reason;
  if (g_interrupted && !r.aborted) {
    r.aborted = true;
    r.abort_reason = "interrupted";
  }
  return r;
}

}  // namespace smsgate::load
