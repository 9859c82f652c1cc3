// smsgate-smsc: command line, start-up and graceful exit. See docs/simulator.md.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <stdexcept>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/signal_set.hpp>

#include "load/smsc.hpp"

namespace smsgate::smsc {

namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  for (;;) {
    const auto pos = s.find(sep);
    out.push_back(s.substr(0, pos));
    if (pos == std::string_view::npos) return out;
    s.remove_prefix(pos + 1);
  }
}

double parse_probability(std::string_view text, std::string_view what) {
  std::size_t used = 0;
  double v = -1;
  try {
    v = std::stod(std::string(text), &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(v >= 0 && v <= 1))
    throw std::invalid_argument(std::string(what) + ": '" + std::string(text) + "' is not a number in [0, 1]");
  return v;
}

std::vector<Account> parse_accounts(std::string_view text) {
  std::vector<Account> out;
  for (auto item : split(text, ',')) {
    const auto colon = item.find(':');
    if (colon == std::string_view::npos || colon == 0)
      throw std::invalid_argument("--accounts: want user:pass[,user:pass...], got '" + std::string(item) + "'");
    out.push_back({std::string(item.substr(0, colon)), std::string(item.substr(colon + 1))});
  }
  return out;
}

std::vector<StateWeight> parse_states(std::string_view text) {
  std::vector<StateWeight> out;
  for (auto item : split(text, ',')) {
    const auto eq = item.find('=');
    const auto state = smpp::state_from_stat(item.substr(0, eq));
    if (eq == std::string_view::npos || !state)
      throw std::invalid_argument("--dlr-states: want STAT=weight (DELIVRD, UNDELIV, EXPIRED, REJECTD, DELETED, "
                                  "UNKNOWN, ACCEPTD, ENROUTE), got '" + std::string(item) + "'");
    out.push_back({*state, parse_probability(item.substr(eq + 1), "--dlr-states")});
  }
  return out;
}

AutoReply parse_auto_reply(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon + 1 == text.size())
    throw std::invalid_argument("--auto-reply: want PROB:TEXT, got '" + std::string(text) + "'");
  return {parse_probability(text.substr(0, colon), "--auto-reply"), std::string(text.substr(colon + 1))};
}

asio::awaitable<void> stop_all(asio::io_context& main, Simulator& sim, ControlServer* control) {
  if (control) control->stop();
  co_await sim.shutdown();
  main.stop();
}

}  // namespace

tcp::endpoint parse_endpoint(std::string_view text) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos) throw std::invalid_argument("want HOST:PORT, got '" + std::string(text) + "'");
  std::string host(text.substr(0, colon));
  const std::string port(text.substr(colon + 1));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  unsigned long p = 0;
  try {
    std::size_t used = 0;
    p = std::stoul(port, &used);
    if (used != port.size() || p > 65535) throw std::out_of_range(port);
  } catch (const std::exception&) {
    throw std::invalid_argument("bad port in '" + std::string(text) + "'");
  }
  if (!ec) return {address, static_cast<unsigned short>(p)};
  asio::io_context io;
  tcp::resolver resolver(io);
  const auto results = resolver.resolve(host, port, ec);
  if (ec || results.empty()) throw std::invalid_argument("cannot resolve '" + host + "': " + ec.message());
  return results.begin()->endpoint();
}

std::string format_endpoint(const tcp::endpoint& ep) {
  const auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

void write_file_atomically(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << content;
    out.close();
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw std::runtime_error("cannot rename " + tmp + " to " + path + ": " + ec.message());
}

}  // namespace smsgate::smsc

int main(int argc, char** argv) {
  using namespace smsgate::smsc;
  namespace asio = boost::asio;

  CLI::App app{"smsgate-smsc: an SMPP 3.4 SMSC simulator for tests, demos and benchmarks (docs/simulator.md)"};
  std::string listen = "127.0.0.1:2776", accounts;
  std::string dlr_states = "DELIVRD=1", control;
  std::string control_port_file;
  std::vector<std::string> auto_replies;
  long dlr_delay_ms = 0, latency_ms = 0, drop_every_s = 0, auto_reply_delay_ms = 2000;
  Options opt;

  app.add_option("--listen", listen, "HOST:PORT for SMPP (port 0: any free port)")->capture_default_str();
  app.add_option("--port-file", opt.port_file, "write the SMPP port number to this file once listening");
  app.add_option("--accounts", accounts, "user:pass[,user:pass...]: accept only these binds (default: any)");
  app.add_option("--threads", opt.threads, "worker threads, one io_context each")->capture_default_str()->check(CLI::Range(1u, 256u));
  const std::map<std::string, IdFormat> id_formats{
      {"hex", IdFormat::hex}, {"decimal", IdFormat::decimal}, {"uuid", IdFormat::uuid}, {"zero-padded", IdFormat::zero_padded}};
  const std::map<std::string, ReceiptIdFormat> receipt_id_formats{
      {"same", ReceiptIdFormat::same}, {"decimal", ReceiptIdFormat::decimal}, {"hex", ReceiptIdFormat::hex}};
  app.add_option("--id-format", opt.id_format, "message ids: hex, decimal, uuid or zero-padded")
      ->transform(CLI::CheckedTransformer(id_formats))
      ->default_str("hex");
  app.add_option("--receipt-id-format", opt.receipt_id_format, "id in receipts: same, decimal or hex (of the same counter)")
      ->transform(CLI::CheckedTransformer(receipt_id_formats))
      ->default_str("same");
  app.add_option("--id-start", opt.id_start, "first value of the message id counter")->capture_default_str();
  app.add_option("--dlr-delay-ms", dlr_delay_ms, "delay of each delivery receipt")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--dlr-states", dlr_states, "final state mix, STAT=weight[,...]")->capture_default_str();
  app.add_option("--throttle-ratio", opt.throttle_ratio, "fraction of submits answered ESME_RTHROTTLED")->check(CLI::Range(0.0, 1.0));
  app.add_option("--syserr-ratio", opt.syserr_ratio, "fraction of submits answered ESME_RSYSERR")->check(CLI::Range(0.0, 1.0));
  app.add_option("--latency-ms", latency_ms, "delay of every submit_sm_resp/data_sm_resp")->check(CLI::NonNegativeNumber);
  app.add_option("--drop-every-s", drop_every_s, "close every connection every N seconds")->check(CLI::NonNegativeNumber);
  app.add_option("--early-dlr-ratio", opt.early_dlr_ratio, "fraction of receipts sent before the submit_sm_resp")->check(CLI::Range(0.0, 1.0));
  app.add_option("--seed", opt.seed, "PRNG seed (worker i uses seed+i)")->capture_default_str();
  app.add_option("--mo-file", opt.mo_file, "MOs to send to the first receiver bind: FROM<TAB>TO<TAB>TEXT lines");
  app.add_option("--control", control, "HOST:PORT of the HTTP control endpoint (POST /mo, GET /stats, POST /drop)");
  app.add_option("--control-port-file", control_port_file, "write the control port number to this file");
  app.add_option("--auto-reply", auto_replies, "PROB:TEXT: the recipient answers a submit with TEXT (repeatable)")
      ->allow_extra_args(false);
  app.add_option("--auto-reply-delay-ms", auto_reply_delay_ms, "delay of automatic replies")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--record", opt.record_file, "write every submit_sm/data_sm received as a JSON line to this file");
  app.add_option("--reply-log", opt.reply_log, "write every automatic reply the peer accepted as a JSON line to this file");
  app.add_option("--deliver-retries", opt.deliver_retries, "times a refused deliver_sm is sent again, 1 s apart")
      ->capture_default_str()->check(CLI::Range(0u, 255u));
  app.add_option("--window", opt.window, "deliver_sm outstanding per session")->capture_default_str()->check(CLI::Range(1u, 65536u));
  app.add_option("--system-id", opt.system_id, "system_id in bind responses")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    opt.listen = parse_endpoint(listen);
    if (!accounts.empty()) opt.accounts = parse_accounts(accounts);
    if (opt.id_format == IdFormat::uuid && opt.receipt_id_format != ReceiptIdFormat::same)
      throw std::invalid_argument("--receipt-id-format decimal/hex needs a counter id format, not uuid");
    opt.dlr_states = parse_states(dlr_states);
    if (opt.throttle_ratio + opt.syserr_ratio > 1)
      throw std::invalid_argument("--throttle-ratio plus --syserr-ratio is above 1");
    double reply_total = 0;
    for (const auto& r : auto_replies) {
      opt.auto_replies.push_back(parse_auto_reply(r));
      reply_total += opt.auto_replies.back().probability;
    }
    if (reply_total > 1) throw std::invalid_argument("--auto-reply probabilities add up to more than 1");
    opt.dlr_delay = std::chrono::milliseconds(dlr_delay_ms);
    opt.latency = std::chrono::milliseconds(latency_ms);
    opt.drop_every = std::chrono::seconds(drop_every_s);
    opt.auto_reply_delay = std::chrono::milliseconds(auto_reply_delay_ms);
  } catch (const std::exception& e) {
    std::cerr << "smsgate-smsc: " << e.what() << '\n';
    return 2;
  }

  try {
    asio::io_context main{1};
    const auto seed = opt.seed;
    const auto port_file = opt.port_file;
    Simulator sim(main, std::move(opt));
    std::unique_ptr<ControlServer> ctl;
    if (!control.empty()) {
      ctl = std::make_unique<ControlServer>(main, sim, parse_endpoint(control));
      ctl->start();
      if (!control_port_file.empty())
        write_file_atomically(control_port_file, std::to_string(ctl->local_endpoint().port()) + "\n");
    }
    sim.start();
    const auto ep = sim.local_endpoint();
    // The file first: whoever reads the line may read the file at once.
    if (!port_file.empty()) write_file_atomically(port_file, std::to_string(ep.port()) + "\n");
    std::cout << "listening on " << format_endpoint(ep) << std::endl;

    asio::signal_set signals(main, SIGINT, SIGTERM);
    signals.async_wait([&](const boost::system::error_code& ec, int) {
      if (!ec) asio::co_spawn(main, stop_all(main, sim, ctl.get()), asio::detached);
    });
    main.run();
    // Run what stopping queued (the acceptor's aborted accept holds a socket
    // of a worker's io_context, which must not outlive the Simulator).
    main.restart();
    main.poll();

    std::string summary = "smsgate-smsc: seed=" + std::to_string(seed);
    for (const auto& [name, value] : sim.stats()) summary += " " + std::string(name) + "=" + std::to_string(value);
    std::cerr << summary << std::endl;
  } catch (const std::exception& e) {
    std::cerr << "smsgate-smsc: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
