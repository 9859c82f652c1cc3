// Driving a test coroutine to its end on an io_context, with a time limit.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <exception>

#include <boost/asio.hpp>

// ASSERT_* returns, which a coroutine cannot: fail and co_return instead.
// (Put a co_await's result in a variable before testing it: GCC 12
// miscompiled `if (!co_await f())` in one place, a corrupted frame.)
#define CO_REQUIRE(cond)                             \
  do {                                               \
    if (!(cond)) {                                   \
      ADD_FAILURE() << "requirement failed: " #cond; \
      co_return;                                     \
    }                                                \
  } while (0)

namespace smsgate::test {

// Runs the coroutine made by `make` on `io` until it finishes; fails the test
// when it does not finish within `limit`, and rethrows what it threw.
template <class Make>
void run_coroutine(boost::asio::io_context& io, Make make, std::chrono::milliseconds limit) {
  using Clock = std::chrono::steady_clock;
  bool done = false;
  std::exception_ptr error;
  boost::asio::co_spawn(io, make(), [&](std::exception_ptr e) {
    done = true;
    error = e;
  });
  const auto deadline = Clock::now() + limit;
  io.restart();
  while (!done && Clock::now() < deadline) io.run_one_until(deadline);
  ASSERT_TRUE(done) << "test coroutine did not finish within " << limit.count() << " ms";
  if (error) std::rethrow_exception(error);
}

inline boost::asio::awaitable<void> sleep_for(std::chrono::milliseconds d) {
  boost::asio::steady_timer t(co_await boost::asio::this_coro::executor, d);
  co_await t.async_wait(boost::asio::use_awaitable);
}

}  // namespace smsgate::test
