// A real redis-server for tests: a child process on a free loopback port, in
// its own temporary directory, killed (and the directory removed) by the
// destructor.
//
//   smsgate::test::RedisServer redis;               // started and answering
//   client_config.address = redis.address();         // "127.0.0.1:PORT"
//   redis.command("SET", "k", "v");                  // synchronous, for assertions
//   redis.stop();                                    // SIGKILL (or stop(SIGTERM))
//   redis.start();                                   // again, on the same port
//
// Defaults: --save "" --appendonly no (nothing on disk). Options: AOF in the
// temporary directory (so data survives stop()/start()), a Unix socket
// (unix_address()), requirepass, extra arguments.
//
// The child gets SIGKILL when the thread that started it ends
// (PR_SET_PDEATHSIG), so a crashed test leaves no server behind: start it
// from the test's own thread, not from a short-lived one.
//
// Uses hiredis's blocking API for command(); link smsgate_redis (it brings
// hiredis and redis::Reply).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "redis/reply.hpp"

namespace smsgate::test {

struct RedisServerOptions {
  bool unix_socket = false;  // also listen on <dir>/redis.sock
  bool aof = false;          // --appendonly yes in dir() (data survives stop()/start())
  std::string password{};    // --requirepass (command() authenticates)
  std::vector<std::string> extra_args{};  // e.g. {"--maxmemory", "10mb"}
  std::chrono::milliseconds startup_timeout{5000};
  bool start = true;  // start in the constructor
};

class RedisServer {
 public:
  explicit RedisServer(RedisServerOptions options = {}) : options_(std::move(options)) {
    char dir[] = "/tmp/smsgate-redis-XXXXXX";
    if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
    dir_ = dir;
    if (options_.start) start();
  }

  ~RedisServer() {
    stop(SIGKILL);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  // Starts the server and waits until it answers (as this process, with its
  // data set loaded). The first start picks a free port (another if that one
  // is taken meanwhile); later starts use the same port. Throws with the
  // server's log on failure.
  void start() {
    if (running()) return;
    std::string error;
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (port_ == 0 || (attempt > 0 && !started_once_)) port_ = free_port();
      if (spawn_and_wait(error)) {
        started_once_ = true;
        return;
      }
      if (started_once_) std::this_thread::sleep_for(std::chrono::milliseconds(100));  // same port: retry
    }
    throw std::runtime_error("redis-server did not start: " + error);
  }

  // Stops the server: SIGKILL (a crash) by default, or SIGTERM (an orderly
  // shutdown, which rewrites nothing with the default options). Waits for the
  // process to end.
  void stop(int signal = SIGKILL) {
    disconnect();
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

  bool running() const { return pid_ > 0; }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::string unix_path() const { return (dir_ / "redis.sock").string(); }
  std::string unix_address() const { return "unix:" + unix_path(); }
  const std::filesystem::path& dir() const { return dir_; }
  pid_t pid() const { return pid_; }

  // A synchronous command on a connection of its own (kept between calls,
  // reopened after a restart). Arguments: strings or integers. Throws on an
  // I/O error; an error reply is returned as Reply::Type::error.
  template <class... A>
  redis::Reply command(const A&... args) {
    const std::vector<std::string> argv{to_arg(args)...};
    return command_argv(argv);
  }

  redis::Reply command_argv(const std::vector<std::string>& argv) {
    if (!ctx_) ctx_ = connect_or_throw();
    std::vector<const char*> ptrs;
    std::vector<size_t> lens;
    for (const auto& a : argv) {
      ptrs.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), ptrs.data(), lens.data()));
    if (!r) {
      const std::string why = ctx_->errstr;
      disconnect();
      throw std::runtime_error("redis command failed: " + why);
    }
    redis::Reply out = to_reply(r);
    freeReplyObject(r);
    return out;
  }

  // The server's log (stdout/stderr of the process).
  std::string log() const {
    std::ifstream in(dir_ / "redis.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  static redis::Reply to_reply(const redisReply* r) {
    switch (r->type) {
      case REDIS_REPLY_INTEGER: return redis::Reply::make_integer(r->integer);
      case REDIS_REPLY_STATUS: return redis::Reply::make_status(std::string(r->str, r->len));
      case REDIS_REPLY_STRING: return redis::Reply::make_string(std::string(r->str, r->len));
      case REDIS_REPLY_ERROR: return redis::Reply::make_error(std::string(r->str, r->len));
      case REDIS_REPLY_ARRAY: {
        std::vector<redis::Reply> elements;
        for (size_t i = 0; i < r->elements; ++i) elements.push_back(to_reply(r->element[i]));
        return redis::Reply::make_array(std::move(elements));
      }
      default: return redis::Reply::make_nil();
    }
  }

 private:
  template <class A>
  static std::string to_arg(const A& a) {
    if constexpr (std::is_integral_v<A>) {
      return std::to_string(a);
    } else {
      return std::string(std::string_view(a));
    }
  }

  static int free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw std::runtime_error("socket failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("cannot find a free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  static std::string find_binary() {
    if (const char* env = std::getenv("SMSGATE_REDIS_SERVER")) return env;
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    for (std::string d; std::getline(dirs, d, ':');) {
      const std::string candidate = d + "/redis-server";
      if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return "/usr/bin/redis-server";
  }

  std::vector<std::string> arguments() const {
    std::vector<std::string> a = {find_binary(), "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--save", "", "--dir", dir_.string(), "--daemonize", "no",
                                  "--logfile", ""};
    if (options_.aof) {
      a.insert(a.end(), {"--appendonly", "yes", "--appendfsync", "no"});
    } else {
      a.insert(a.end(), {"--appendonly", "no"});
    }
    if (options_.unix_socket) a.insert(a.end(), {"--unixsocket", unix_path(), "--unixsocketperm", "700"});
    if (!options_.password.empty()) a.insert(a.end(), {"--requirepass", options_.password});
    a.insert(a.end(), options_.extra_args.begin(), options_.extra_args.end());
    return a;
  }

  // Starts the process on port_ and waits until it answers as itself.
  bool spawn_and_wait(std::string& error) {
    const std::vector<std::string> args = arguments();
    std::vector<char*> argv;
    for (const auto& s : args) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    const std::string log_path = (dir_ / "redis.log").string();
    const pid_t parent = ::getpid();

    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {  // child: async-signal-safe calls only
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) ::_exit(127);
      const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    pid_ = pid;

    const auto deadline = std::chrono::steady_clock::now() + options_.startup_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken, bad option, ...
        pid_ = -1;
        error = "port " + std::to_string(port_) + ": " + log();
        return false;
      }
      if (answers_as_child()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling readiness, with a deadline
    }
    error = "no answer within the startup timeout: " + log();
    stop(SIGKILL);
    return false;
  }

  // Answering, as our process (not another server that took the port), with
  // its data set loaded (AOF).
  bool answers_as_child() {
    redisContext* ctx = try_connect();
    if (!ctx) return false;
    auto* r = static_cast<redisReply*>(redisCommand(ctx, "INFO"));
    const std::string_view info = r && r->type == REDIS_REPLY_STRING ? std::string_view(r->str, r->len) : "";
    const bool ok = info.find("process_id:" + std::to_string(pid_) + "\r") != std::string_view::npos &&
                    info.find("\nloading:0\r") != std::string_view::npos;
    if (r) freeReplyObject(r);
    redisFree(ctx);
    return ok;
  }

  redisContext* try_connect() const {
    const timeval tv{5, 0};
    redisContext* ctx = redisConnectWithTimeout("127.0.0.1", port_, timeval{0, 200'000});
    if (!ctx || ctx->err) {
      if (ctx) redisFree(ctx);
      return nullptr;
    }
    redisSetTimeout(ctx, tv);
    if (!options_.password.empty()) {
      auto* r = static_cast<redisReply*>(redisCommand(ctx, "AUTH %s", options_.password.c_str()));
      const bool ok = r && r->type != REDIS_REPLY_ERROR;
      if (r) freeReplyObject(r);
      if (!ok) {
        redisFree(ctx);
        return nullptr;
      }
    }
    return ctx;
  }

  redisContext* connect_or_throw() const {
    redisContext* ctx = try_connect();
    if (!ctx) throw std::runtime_error("cannot connect to redis-server on port " + std::to_string(port_));
    return ctx;
  }

  void disconnect() {
    if (ctx_) redisFree(ctx_);
    ctx_ = nullptr;
  }

  RedisServerOptions options_;
  std::filesystem::path dir_;
  int port_ = 0;
  bool started_once_ = false;
  pid_t pid_ = -1;
  redisContext* ctx_ = nullptr;
};

}  // namespace smsgate::test
