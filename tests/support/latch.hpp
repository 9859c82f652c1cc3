// A counter a test coroutine can wait on: callbacks count down, the test
// awaits the target (with a time limit).
#pragma once

#include <chrono>
#include <cstddef>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace smsgate::test {

namespace asio = boost::asio;

// Counts completions; wait() resumes once `target` were counted.
class Latch {
 public:
  Latch(asio::any_io_executor ex, std::size_t target) : timer_(ex), target_(target) {}
  void count_down() {
    if (++count_ >= target_) timer_.cancel();
  }
  asio::awaitable<bool> wait(std::chrono::milliseconds timeout) {
    if (count_ < target_) {
      timer_.expires_after(timeout);
      co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    co_return count_ >= target_;
  }
  std::size_t count() const { return count_; }

 private:
  asio::steady_timer timer_;
  std::size_t target_;
  std::size_t count_ = 0;
};

}  // namespace smsgate::test
