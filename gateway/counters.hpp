// Every counter the gateway keeps, in one place. Each worker has its own
// Counters (written by its thread only; relaxed atomics so that any thread
// may read them); Gateway::counters() adds them up. Logged at exit.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string_view>

namespace smsgate::gateway {

#define SMSGATE_GATEWAY_COUNTERS(X)                                                                         \
  X(submit_received)          /* submit_sm from accounts */                                                 \
  X(submit_ok)                /* answered ESME_ROK with our id */                                           \
  X(submit_throttled)         /* over the account's max_tps: ESME_RTHROTTLED */                             \
  X(submit_invalid_dest)      /* destination not a phone number: ESME_RINVDSTADR */                         \
  X(submit_rejected)          /* refused by policy */                                                       \
  X(submit_no_route)          /* no bound carrier: no_route_status */                                       \
  X(submit_carrier_status)    /* a carrier's non-zero status passed back */                                \
  X(submit_carrier_lost)      /* no answer from the carrier (session dropped, timeout): ESME_RSYSERR */     \
  X(submit_carrier_dropped)   /* the carrier's bind closed before it answered: ESME_ROK, receipt UNKNOWN */ \
  X(carrier_throttle_retries) /* ESME_RTHROTTLED from a carrier, sent again after a pause */                \
  X(id_map_write_failed)      /* carrier id -> our id not written to Redis: kept in memory (id_map_backlog) */ \
  X(id_map_backlog_written)   /* ... written later, once Redis answered again */                            \
  X(id_map_backlog_dropped)   /* ... dropped (the in-memory table full, or past id_map_ttl): receipt unknown */ \
  X(submit_carrier_timeout)   /* no carrier answer in response_timeout: ESME_ROK, the answer awaited late */ \
  X(carrier_late_answers)     /* submit_sm_resp after the response timeout, taken in the late window */     \
  X(carrier_late_unknown)     /* no answer in the late window either: receipt stat:UNKNOWN to the account */ \
  X(carrier_late_refused)     /* a late answer that refused it: receipt stat:UNDELIV (the submit counted as sent) */ \
  X(last_sender_write_failed) /* recipient -> account not stored: replies go to the default account */     \
  X(receipt_received)         /* receipts from carriers */                                                  \
  X(receipt_unknown_id)       /* no mapping after receipts.unknown_id_retry: dropped (answered ESME_ROK) */ \
  X(receipt_no_id)            /* a receipt without an id: dropped */                                        \
  X(reply_received)           /* replies (MO) from carriers */                                              \
  X(reply_no_account)         /* a reply no account takes: dropped */                                       \
  X(delivered)                /* receipts and replies an account acknowledged */                            \
  X(stored)                   /* receipts and replies stored for an account without a receiver bind */     \
  X(drained)                  /* stored ones an account acknowledged later */                               \
  X(store_failed)             /* could not store (Redis down): the carrier got ESME_RX_T_APPN */            \
  X(redis_down_answers)       /* deliver_sm answered ESME_RX_T_APPN because Redis could not be read */     \
  X(policy_allowed)           /* the decide script allowed it */                                            \
  X(policy_opted_out)         /* refused: the number opted out */                                           \
  X(policy_capped)            /* refused: a frequency cap */                                                \
  X(policy_quiet_rejected)    /* refused: quiet hours (action reject, or it would expire first) */         \
  X(policy_deferred)          /* accepted and held for the end of quiet hours */                           \
  X(policy_redis_down_rejected) /* Redis could not decide: ESME_RSYSERR (redis.on_error: reject) */         \
  X(policy_redis_down_allowed)  /* Redis could not decide: sent unchecked (redis.on_error: allow) */        \
  X(deferred_released)        /* deferred messages sent on to a carrier */                                  \
  X(deferred_expired)         /* deferred messages that expired: receipt EXPIRED */                         \
  X(deferred_refused)         /* deferred messages refused at release (opted out, capped, carrier): receipt */ \
  X(deferred_unknown)         /* deferred messages whose send was cut off (bind lost, node died): receipt UNKNOWN */ \
  X(reply_classified)         /* replies classified (with a policy) */                                      \
  X(reply_incomplete)         /* long replies classified without all their parts (reassembly_timeout) */  \
  X(reply_opted_out)          /* replies that opted the number out (opt-outs and complaints) */            \
  X(reply_opted_in)           /* replies that removed a keyword opt-out */                                 \
  X(complaint_ticketed)       /* complaints written to the ticket outbox */                                \
  X(reply_answered)           /* confirmations, help texts and acknowledgements sent */                    \
  X(reply_answer_failed)      /* ... that a carrier refused or no carrier took */                         \
  X(submit_suspended)         /* marketing submits of a suspended account: complaint_rate.suspend_status */ \
  X(guard_count_failed)       /* delivered counts not written for the complaint rate guard (Redis down) */  \
  X(complaint_rate_warnings)  /* accounts that crossed warn_per_1000 (the guard, on the node that saw it) */ \
  X(accounts_suspended)       /* accounts suspended past suspend_per_1000 (by this node) */                  \
  X(accounts_resumed)         /* suspensions lifted, as this node saw them */

enum class Counter : uint8_t {
#define SMSGATE_X(name) name,
  SMSGATE_GATEWAY_COUNTERS(SMSGATE_X)
#undef SMSGATE_X
      count_
};

inline constexpr std::array<std::string_view, static_cast<std::size_t>(Counter::count_)> kCounterNames = {
#define SMSGATE_X(name) #name,
    SMSGATE_GATEWAY_COUNTERS(SMSGATE_X)
#undef SMSGATE_X
};

struct Counters {
  std::array<std::atomic<uint64_t>, static_cast<std::size_t>(Counter::count_)> values{};

  void add(Counter c, uint64_t n = 1) {
    auto& v = values[static_cast<std::size_t>(c)];
    v.store(v.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);  // one writer
  }
  uint64_t get(Counter c) const { return values[static_cast<std::size_t>(c)].load(std::memory_order_relaxed); }
};

}  // namespace smsgate::gateway
