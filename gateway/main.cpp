// smsgate: the SMPP gateway.
//   smsgate --config FILE [--threads N] [--log-format text|json]
//   smsgate check-config FILE
// SIGHUP reloads FILE; SIGTERM / SIGINT stop gracefully (docs/gateway.md).
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <thread>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "config/config.hpp"
#include "gateway/gateway.hpp"
#include "gateway/log.hpp"

namespace {

namespace asio = boost::asio;
namespace gw = smsgate::gateway;
namespace config = smsgate::config;

constexpr auto kShutdownLimit = std::chrono::seconds(10);

// Signals stay caught until the process ends (a SIGHUP during the stop must
// not take its default action, which is to end the process at once).
void wait_for_signals(asio::signal_set& signals, gw::Gateway& gateway, asio::io_context& main, bool& stopping) {
  signals.async_wait([&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    wait_for_signals(signals, gateway, main, stopping);
    if (stopping) return;
    if (signal == SIGHUP) {
      gateway.reload();
      return;
    }
    gw::log_event(spdlog::level::info, "signal", {{"signal", signal == SIGTERM ? "SIGTERM" : "SIGINT"}});
    stopping = true;
    // A second line of defence: the process ends even if a peer never lets go.
    std::thread([] {
      std::this_thread::sleep_for(kShutdownLimit + std::chrono::seconds(5));
      gw::log_event(spdlog::level::err, "shutdown_forced");
      spdlog::default_logger()->flush();
      std::_Exit(1);
    }).detach();
    asio::co_spawn(main, gateway.shutdown(kShutdownLimit), [&main](std::exception_ptr) { main.stop(); });
  });
}

int run(const std::string& config_path, unsigned threads, const std::string& log_format) {
  auto loaded = config::load_config_file(config_path);
  for (const auto& d : loaded.diagnostics) std::cerr << config::format(d) << '\n';
  if (!loaded.ok()) return 1;
  config::Config cfg = std::move(*loaded.config);
  if (log_format == "json") cfg.log.format = config::LogFormat::json;
  if (log_format == "text") cfg.log.format = config::LogFormat::text;
  gw::setup_logging(cfg.log.format, cfg.log.level);

  asio::io_context main(1);
  asio::signal_set signals(main, SIGTERM, SIGINT, SIGHUP);
  gw::Gateway gateway(main, std::move(cfg), {.threads = threads, .config_path = config_path});
  try {
    gateway.start();
  } catch (const std::exception& e) {
    gw::log_event(spdlog::level::critical, "start_failed", {{"error", e.what()}});
    return 1;
  }
  bool stopping = false;
  wait_for_signals(signals, gateway, main, stopping);
  main.run();
  spdlog::default_logger()->flush();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"smsgate: an SMPP 3.4 gateway between marketing platforms and carriers (docs/gateway.md)"};
  std::string config_path, log_format, check_path;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  app.add_option("--config", config_path, "configuration file (docs/configuration.md)");
  app.add_option("--threads", threads, "worker threads (default: the number of cores)")->check(CLI::Range(1u, 256u));
  app.add_option("--log-format", log_format, "text or json (default: log.format of the file)")
      ->check(CLI::IsMember({"text", "json"}));
  auto* check = app.add_subcommand("check-config", "validate a configuration file: exit 0, or 1 with every problem");
  check->add_option("file", check_path, "the file")->required();
  app.require_subcommand(0, 1);
  CLI11_PARSE(app, argc, argv);

  if (*check) return config::check_config(check_path, std::cout);
  if (config_path.empty()) {
    std::cerr << "smsgate: --config FILE is required (or: smsgate check-config FILE)\n";
    return 2;
  }
  return run(config_path, threads, log_format);
}
