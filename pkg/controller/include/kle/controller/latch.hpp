#pragma once
// A one-way flag a coroutine can wait for. The flag is the truth and the timer only a
// wake-up: set() before wait() is never lost (wait() reads the flag first), and set() during
// wait() cancels the latch's own timer, so no wake-up depends on another object's cancel()
// (a signal_set's, say) happening to reach a pending wait. One executor, no threads.
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kle::controller {

class Latch {
 public:
  explicit Latch(const boost::asio::any_io_executor& ex)
      : wake_(ex, boost::asio::steady_timer::time_point::max()) {}

  void set() {
    if (set_) return;
    set_ = true;
    wake_.cancel();
  }
  [[nodiscard]] bool is_set() const noexcept { return set_; }

  // Completes once set() has been called (at once if it already was).
  boost::asio::awaitable<void> wait() {
    while (!set_) {
      boost::system::error_code ignored;  // cancelled by set(), or by the executor shutting down
      co_await wake_.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ignored));
    }
  }

 private:
  boost::asio::steady_timer wake_;  // never expires: only set() ends a wait
  bool set_ = false;
};

}  // namespace kle::controller
