// smsgate-load: the command line, the summary and the JSON report.
// Exit codes: 0 every submit_sm answered (and every accepted one receipted,
// when receipts are awaited); 1 something missing; 2 usage error or no bind.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include <CLI/CLI.hpp>

#include "load/load.hpp"

namespace smsgate::load {

std::string thousands(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

namespace {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

void parse_target(const std::string& target, Options& o) {
  std::size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0 || !all_digits(target.substr(colon + 1)))
    throw UsageError("--target must be HOST:PORT, got '" + target + "'");
  o.host = target.substr(0, colon);
  if (o.host.size() > 2 && o.host.front() == '[' && o.host.back() == ']') o.host = o.host.substr(1, o.host.size() - 2);
  o.port = target.substr(colon + 1);
}

void parse_dest_range(const std::string& range, Options& o) {
  std::size_t dash = range.find('-');
  std::string from = range.substr(0, dash), to = dash == std::string::npos ? "" : range.substr(dash + 1);
  if (!all_digits(from) || !all_digits(to) || from.size() > 20 || to.size() > 20)
    throw UsageError("--dest-range must be FROM-TO in digits (at most 20), got '" + range + "'");
  o.dest_from = std::stoull(from);
  o.dest_to = std::stoull(to);
  o.dest_digits = static_cast<unsigned>(from.size());
  if (o.dest_from > o.dest_to) throw UsageError("--dest-range: FROM is above TO");
}

void read_dest_file(const std::string& path, Options& o) {
  std::ifstream in(path);
  if (!in) throw UsageError("cannot read --dest-file " + path);
  std::string line;
  while (std::getline(in, line)) {
    std::size_t b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
    if (b == std::string::npos || line[b] == '#') continue;
    line = line.substr(b, e - b + 1);
    if (line.size() > 20) throw UsageError("--dest-file: '" + line + "' is longer than 20 characters");
    o.dest_list.push_back(line);
  }
  if (o.dest_list.empty()) throw UsageError("--dest-file " + path + " has no number");
}

void parse_text_mix(const std::string& spec, Options& o) {
  o.text_mix.clear();
  unsigned total = 0;
  std::stringstream in(spec);
  std::string item;
  while (std::getline(in, item, ',')) {
    std::size_t eq = item.find('=');
    std::string name = item.substr(0, eq), weight = eq == std::string::npos ? "" : item.substr(eq + 1);
    TextShare share;
    if (name == "gsm") share.kind = TextShare::gsm;
    else if (name == "ucs2") share.kind = TextShare::ucs2;
    else if (name == "long") share.kind = TextShare::long_gsm;
    else throw UsageError("--text-mix: unknown kind '" + name + "' (gsm, ucs2, long)");
    if (!all_digits(weight) || weight.size() > 6) throw UsageError("--text-mix: weight of '" + name + "' must be a number");
    share.weight = static_cast<unsigned>(std::stoul(weight));
    total += share.weight;
    o.text_mix.push_back(share);
  }
  if (total == 0) throw UsageError("--text-mix: the weights add up to 0");
}

// ---------------------------------------------------------------- report

std::string fixed(double v, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}
double per_second(uint64_t n, double s) { return s > 0 ? static_cast<double>(n) / s : 0.0; }
double us(uint64_t ns) { return static_cast<double>(ns) / 1000.0; }
std::string rate_text(double per_s) { return thousands(static_cast<uint64_t>(per_s + 0.5)) + "/s"; }

struct Rates {
  double submit = 0, ack = 0, flows = 0;
};
Rates rates_of(const Results& r) {
  double send_s = r.send_s > 0 ? r.send_s : r.elapsed_s;
  return {per_second(r.messages, send_s), per_second(r.acked, r.elapsed_s), per_second(r.dlrs_matched, r.dlr_s)};
}

// Why the run failed, or empty when it did not.
std::vector<std::string> failures(const Results& r) {
  std::vector<std::string> out;
  if (r.aborted) out.push_back("sending stopped early: " + r.abort_reason);
  if (uint64_t n = r.unanswered_total()) {
    std::string s = thousands(n) + " submit_sm without a response (";
    for (const auto& [why, count] : r.unanswered) s += (s.back() == '(' ? "" : ", ") + why + " " + thousands(count);
    out.push_back(s + ")");
  }
  if (r.dlrs_awaited && r.dlrs_missing())
    out.push_back(thousands(r.dlrs_missing()) + " accepted submit_sm without a final receipt");
  return out;
}

std::string latency_line(const Histogram& h) {
  if (h.count() == 0) return "none";
  return "p50 " + fixed(us(h.percentile(50))) + "  p90 " + fixed(us(h.percentile(90))) + "  p99 " +
         fixed(us(h.percentile(99))) + "  p99.9 " + fixed(us(h.percentile(99.9))) + "  max " + fixed(us(h.max())) +
         " us";
}

std::string counts_line(const std::map<std::string, uint64_t>& m) {
  if (m.empty()) return "none";
  std::string s;
  for (const auto& [name, n] : m) s += (s.empty() ? "" : ", ") + name + " " + thousands(n);
  return s;
}

void print_summary(const Options& o, const Results& r, std::ostream& out) {
  Rates rates = rates_of(r);
  out << "smsgate-load: " << o.host << ":" << o.port << ", " << o.binds << " bind(s) x window " << o.window << ", "
      << o.threads << " thread(s)" << (o.rate > 0 ? ", rate " + rate_text(o.rate) : "") << "\n";
  out << "  submitted    " << thousands(r.messages) << " messages, " << thousands(r.parts) << " submit_sm in "
      << fixed(r.send_s, 3) << " s: " << rate_text(rates.submit) << "\n";
  out << "  acked        " << thousands(r.acked) << " in " << fixed(r.elapsed_s, 3) << " s: " << rate_text(rates.ack) << "\n";
  out << "  errors       " << counts_line(r.errors) << "\n";
  out << "  no response  " << counts_line(r.unanswered) << "\n";
  out << "  latency      " << latency_line(r.latency) << " (submit_sm -> submit_sm_resp, " << thousands(r.latency.count())
      << " samples)\n";
  out << "  DLRs         " << thousands(r.dlrs_received) << " received (" << counts_line(r.dlrs_by_stat) << "); "
      << thousands(r.dlrs_matched) << " matched, " << thousands(r.dlrs_unmatched) << " unmatched, "
      << thousands(r.dlrs_intermediate) << " intermediate"
      << (r.dlrs_awaited ? ", " + thousands(r.dlrs_missing()) + " missing" : std::string(", not awaited")) << "\n";
  out << "  DLR latency  " << latency_line(r.dlr_latency) << " (submit_sm -> receipt)\n";
  out << "  MOs          " << thousands(r.mos) << "\n";
  out << "  flows        " << rate_text(rates.flows) << " (submit + resp + DLR + resp, first submit to last DLR in "
      << fixed(r.dlr_s, 3) << " s)\n";
  if (r.rebinds || r.duplicate_ids)
    out << "  rebinds      " << thousands(r.rebinds) << ", duplicate message ids " << thousands(r.duplicate_ids) << "\n";
  std::vector<std::string> why = failures(r);
  out << "  result       " << (why.empty() ? "OK" : "FAILED") << "\n";
  for (const std::string& w : why) out << "    " << w << "\n";
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string json_counts(const std::map<std::string, uint64_t>& m) {
  std::string s = "{";
  for (const auto& [name, n] : m) s += (s.size() > 1 ? ", " : "") + json_string(name) + ": " + std::to_string(n);
  return s + "}";
}

std::string json_latency(const Histogram& h) {
  return "{\"p50\": " + fixed(us(h.percentile(50))) + ", \"p90\": " + fixed(us(h.percentile(90))) +
         ", \"p99\": " + fixed(us(h.percentile(99))) + ", \"p999\": " + fixed(us(h.percentile(99.9))) +
         ", \"max\": " + fixed(us(h.max())) + ", \"mean\": " + fixed(h.mean() / 1000.0) +
         ", \"count\": " + std::to_string(h.count()) + "}";
}

std::string to_json(const Results& r) {
  Rates rates = rates_of(r);
  std::vector<std::string> why = failures(r);
  std::string failed = "[";
  for (const std::string& w : why) failed += (failed.size() > 1 ? ", " : "") + json_string(w);
  failed += "]";
  auto n = [](uint64_t v) { return std::to_string(v); };
  return std::string("{\n") +
         "  \"submitted\": " + n(r.messages) + ",\n" +
         "  \"parts_submitted\": " + n(r.parts) + ",\n" +
         "  \"acked\": " + n(r.acked) + ",\n" +
         "  \"errors\": " + json_counts(r.errors) + ",\n" +
         "  \"unanswered\": " + json_counts(r.unanswered) + ",\n" +
         "  \"send_s\": " + fixed(r.send_s, 6) + ",\n" +
         "  \"elapsed_s\": " + fixed(r.elapsed_s, 6) + ",\n" +
         "  \"submit_rate\": " + fixed(rates.submit, 1) + ",\n" +
         "  \"ack_rate\": " + fixed(rates.ack, 1) + ",\n" +
         "  \"latency_us\": " + json_latency(r.latency) + ",\n" +
         "  \"dlrs\": {\"awaited\": " + (r.dlrs_awaited ? "true" : "false") + ", \"received\": " + n(r.dlrs_received) +
         ", \"matched\": " + n(r.dlrs_matched) + ", \"unmatched\": " + n(r.dlrs_unmatched) +
         ", \"intermediate\": " + n(r.dlrs_intermediate) + ", \"by_stat\": " + json_counts(r.dlrs_by_stat) +
         ", \"latency_us\": " + json_latency(r.dlr_latency) + "},\n" +
         "  \"dlrs_missing\": " + n(r.dlrs_missing()) + ",\n" +
         "  \"mos_received\": " + n(r.mos) + ",\n" +
         "  \"flows_per_s\": " + fixed(rates.flows, 1) + ",\n" +
         "  \"dlr_s\": " + fixed(r.dlr_s, 6) + ",\n" +
         "  \"rebinds\": " + n(r.rebinds) + ",\n" +
         "  \"duplicate_ids\": " + n(r.duplicate_ids) + ",\n" +
         "  \"ok\": " + (why.empty() ? "true" : "false") + ",\n" +
         "  \"failures\": " + failed + "\n}\n";
}

int run_main(int argc, char** argv) {
  Options o;
  CLI::App app{"smsgate-load: an SMPP 3.4 ESME that sends submit_sm, waits for the receipts and measures"};
  std::string target, bind_type = "trx", password_env, dest_range, dest_file, text_mix, json_file;
  unsigned dest_ton = 1, dest_npi = 1, source_ton = 0, source_npi = 0, registered_delivery = 1;
  app.add_option("--target", target, "SMSC address HOST:PORT")->required();
  app.add_option("--system-id", o.system_id, "bind system_id")->capture_default_str();
  auto* pw = app.add_option("--password", o.password, "bind password");
  app.add_option("--password-env", password_env, "read the password from this environment variable")->excludes(pw);
  app.add_option("--system-type", o.system_type, "bind system_type");
  app.add_option("--bind-type", bind_type, "trx (transceiver: receipts come back) or tx")
      ->check(CLI::IsMember({"trx", "tx"}))
      ->capture_default_str();
  app.add_flag("--tls", o.tls, "connect with TLS");
  app.add_option("--tls-ca", o.tls_ca, "CA file to verify the server (default: no verification)");
  app.add_option("--binds", o.binds, "sessions")->check(CLI::Range(1u, 1000u))->capture_default_str();
  app.add_option("--window", o.window, "outstanding submit_sm per bind")->check(CLI::Range(1u, 65536u))->capture_default_str();
  app.add_option("--threads", o.threads, "io threads (binds are spread over them)")->check(CLI::Range(1u, 256u))->capture_default_str();
  app.add_option("--rate", o.rate, "submit_sm per second in total (0: as fast as the windows allow)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--count", o.count, "messages to send");
  app.add_option("--duration", o.duration_s, "seconds to send for")->check(CLI::PositiveNumber);
  auto* range = app.add_option("--dest-range", dest_range, "destinations FROM-TO (default 8613800000000-8613800009999)");
  app.add_option("--dest-file", dest_file, "destinations, one per line")->excludes(range);
  app.add_flag("--dest-random", o.dest_random, "pick destinations at random (default: in turn)");
  app.add_option("--dest-ton", dest_ton, "destination TON")->check(CLI::Range(0u, 255u))->capture_default_str();
  app.add_option("--dest-npi", dest_npi, "destination NPI")->check(CLI::Range(0u, 255u))->capture_default_str();
  app.add_option("--source", o.source, "source address")->capture_default_str();
  app.add_option("--source-ton", source_ton, "source TON")->check(CLI::Range(0u, 255u))->capture_default_str();
  app.add_option("--source-npi", source_npi, "source NPI")->check(CLI::Range(0u, 255u))->capture_default_str();
  auto* mix = app.add_option("--text-mix", text_mix, "kinds of text by weight, e.g. gsm=80,ucs2=15,long=5 (default gsm=100)");
  app.add_option("--text", o.text, "one fixed text (UTF-8; split into parts when long)")->excludes(mix);
  app.add_option("--registered-delivery", registered_delivery, "registered_delivery (1: ask for receipts)")
      ->check(CLI::Range(0u, 255u))
      ->capture_default_str();
  std::string receipt_id_format = "same";
  app.add_option("--receipt-id-format", receipt_id_format,
                 "how receipts print the submit_sm_resp id: same, decimal (of a hex id) or hex (of a decimal id)")
      ->check(CLI::IsMember({"same", "decimal", "hex"}))
      ->capture_default_str();
  app.add_option("--dlr-timeout", o.dlr_timeout_s, "seconds to wait for receipts after the last submit_sm_resp")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--response-timeout", o.response_timeout_s, "seconds to wait for a submit_sm_resp")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--json", json_file, "write the summary as JSON to this file");
  app.add_flag("--quiet", o.quiet, "no progress line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  try {
    parse_target(target, o);
    o.transmitter = bind_type == "tx";
    if (!password_env.empty()) {
      const char* v = std::getenv(password_env.c_str());
      if (!v) throw UsageError("--password-env: " + password_env + " is not set");
      o.password = v;
    }
    if (o.system_id.size() > 15 || o.password.size() > 8 || o.system_type.size() > 12)
      throw UsageError("system_id, password and system_type are at most 15, 8 and 12 characters");
    if (o.source.size() > 20) throw UsageError("--source is at most 20 characters");
    if (o.count == 0 && o.duration_s <= 0) throw UsageError("give --count N or --duration SECONDS");
    if (!dest_range.empty()) parse_dest_range(dest_range, o);
    if (!dest_file.empty()) read_dest_file(dest_file, o);
    if (!text_mix.empty()) parse_text_mix(text_mix, o);
    o.dest_ton = static_cast<uint8_t>(dest_ton);
    o.dest_npi = static_cast<uint8_t>(dest_npi);
    o.source_ton = static_cast<uint8_t>(source_ton);
    o.source_npi = static_cast<uint8_t>(source_npi);
    o.registered_delivery = static_cast<uint8_t>(registered_delivery);
    o.receipt_id_format = receipt_id_format == "decimal" ? ReceiptIdFormat::decimal
                          : receipt_id_format == "hex"   ? ReceiptIdFormat::hex
                                                         : ReceiptIdFormat::same;
    o.progress_tty = isatty(STDERR_FILENO) != 0;
  } catch (const std::exception& e) {
    std::cerr << "smsgate-load: " << e.what() << "\n";
    return 2;
  }

  Results r;
  try {
    r = run(o);
  } catch (const BindFailure& f) {
    std::cerr << "smsgate-load: " << f.message << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "smsgate-load: " << e.what() << "\n";
    return 2;
  }
  print_summary(o, r, std::cout);
  std::cout.flush();
  if (!json_file.empty()) {
    std::ofstream out(json_file);
    out << to_json(r);
    if (!out) {
      std::cerr << "smsgate-load: cannot write " << json_file << "\n";
      return 1;
    }
  }
  return failures(r).empty() ? 0 : 1;
}

}  // namespace
}  // namespace smsgate::load

int main(int argc, char** argv) { return smsgate::load::run_main(argc, argv); }
