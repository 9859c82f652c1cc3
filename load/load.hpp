// smsgate-load: an ESME that sends submit_sm as fast as asked, waits for the
// delivery receipts and measures. load_main.cpp reads the command line and
// prints the report; load_run.cpp binds, sends and counts.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "load/histogram.hpp"

namespace smsgate::load {

struct TextShare {
  enum Kind : uint8_t { gsm, ucs2, long_gsm } kind = gsm;
  unsigned weight = 0;
};

// How receipts print the id of the submit_sm_resp: as is, or that number in
// decimal (the submit_sm_resp id being hex) or in hex (it being decimal).
enum class ReceiptIdFormat : uint8_t { same, decimal, hex };

struct Options {
  std::string host;
  std::string port;
  std::string system_id = "load";
  std::string password;
  std::string system_type;
  bool transmitter = false;  // --bind-type tx (default trx)
  bool tls = false;
  std::string tls_ca;

  unsigned binds = 1;
  unsigned window = 64;
  unsigned threads = 1;
  double rate = 0;           // submit_sm per second in total; 0 = unlimited
  uint64_t count = 0;        // messages; 0 = until duration
  double duration_s = 0;     // 0 = until count
  double dlr_timeout_s = 30;
  double response_timeout_s = 10;

  // Destinations: a range [dest_from, dest_to] printed with dest_digits
  // digits, or the numbers of a file.
  uint64_t dest_from = 8613800000000;
  uint64_t dest_to = 8613800009999;
  unsigned dest_digits = 13;
  std::vector<std::string> dest_list;
  bool dest_random = false;
  uint8_t dest_ton = 1, dest_npi = 1;
  std::string source = "10690000";
  uint8_t source_ton = 0, source_npi = 0;

  std::vector<TextShare> text_mix{{TextShare::gsm, 100}};
  std::string text;          // fixed text when not empty (overrides the mix)
  uint8_t registered_delivery = 1;
  ReceiptIdFormat receipt_id_format = ReceiptIdFormat::same;

  bool quiet = false;
  bool progress_tty = false;  // stderr is a terminal: rewrite one line
};

// What a run measured, summed over threads.
struct Results {
  uint64_t messages = 0;         // messages fully submitted (a long one once)
  uint64_t parts = 0;            // submit_sm sent
  uint64_t acked = 0;            // submit_sm_resp with ESME_ROK
  std::map<std::string, uint64_t> errors;       // other statuses, by name
  std::map<std::string, uint64_t> unanswered;   // "timeout", "closed": no response
  uint64_t dlrs_received = 0;    // every receipt deliver_sm
  uint64_t dlrs_matched = 0;     // final receipts matched to an acked submit
  uint64_t dlrs_unmatched = 0;   // receipts for no known id (or duplicates)
  uint64_t dlrs_intermediate = 0;  // ENROUTE / intermediate notifications
  std::map<std::string, uint64_t> dlrs_by_stat;
  uint64_t dlrs_expected = 0;    // acked submits whose final receipt was awaited
  uint64_t mos = 0;
  uint64_t rebinds = 0;          // binds re-established while sending
  uint64_t duplicate_ids = 0;    // submit_sm_resp message_ids seen twice
  bool dlrs_awaited = false;     // registered_delivery asks for final receipts, trx bind
  bool aborted = false;          // sending stopped early (interrupt, no bind left)
  std::string abort_reason;

  double send_s = 0;     // first submit_sm to last submit_sm sent
  double elapsed_s = 0;  // first submit_sm to last submit_sm_resp
  double dlr_s = 0;      // first submit_sm to last matched receipt
  Histogram latency;     // submit_sm -> submit_sm_resp, ns
  Histogram dlr_latency; // submit_sm -> receipt, ns

  uint64_t unanswered_total() const {
    uint64_t n = 0;
    for (const auto& [k, v] : unanswered) n += v;
    return n;
  }
  uint64_t dlrs_missing() const { return dlrs_expected > dlrs_matched ? dlrs_expected - dlrs_matched : 0; }
};

// 1234567 -> "1,234,567".
std::string thousands(uint64_t n);

// Thrown by run() when the binds cannot be established (exit code 2).
struct BindFailure {
  std::string message;
};

// Binds, sends, waits for responses and receipts, unbinds. Progress goes to
// stderr. Throws BindFailure, or std::exception on a bad option value.
Results run(const Options& options);

}  // namespace smsgate::load
