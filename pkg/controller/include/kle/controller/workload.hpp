#pragma once
// `leader-elector -- CMD ARGS`: CMD runs only while this process leads. It is started on
// acquisition, stopped (SIGTERM, then SIGKILL after a grace period) on loss, and started
// again on re-acquisition, even one that comes while the old CMD is still inside its grace
// period: it starts again as soon as the old one has exited, so two never run at once.
// Children are reaped on SIGCHLD through Asio, on the one thread. That wait is pending until
// close(), so an owner that wants its io_context to run out calls close() when done.
// CMD inherits only stdin, stdout and stderr: never the controller's sockets. Its environment
// is the controller's plus the term it runs for (leader_env below): KLE_EPOCH is the fencing
// token a workload puts on its writes.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <kle/log/logger.hpp>

namespace kle::controller {

// What CMD learns about the term it runs for, as "NAME=VALUE" entries (docs/CONTRACT.md):
// KLE_EPOCH (leaseTransitions of the term, the fencing token), KLE_IDENTITY, KLE_LEASE,
// KLE_NAMESPACE.
std::vector<std::string> leader_env(std::int64_t epoch, const std::string& identity, const std::string& lease,
                                    const std::string& ns);

class Workload {
 public:
  Workload(const boost::asio::any_io_executor& ex, std::vector<std::string> argv, std::chrono::milliseconds grace,
           log::Logger log);
  ~Workload();
  Workload(const Workload&) = delete;
  Workload& operator=(const Workload&) = delete;

  // Called when CMD exits on its own (not because stop() asked), with a shell-style
  // status: the exit code, or 128 + signal; 127 when it cannot be spawned at all.
  void on_unexpected_exit(std::function<void(int status)> handler) { on_unexpected_exit_ = std::move(handler); }

  // Starts CMD unless it runs. If it is being stopped, it is started again once it has
  // exited. False (logged) when it cannot be spawned. `env` ("NAME=VALUE") is added to the
  // inherited environment, replacing any variable of the same name; a restart that is
  // pending takes the `env` of the latest start(), i.e. of the latest term.
  bool start(std::vector<std::string> env = {});
  // SIGTERM, SIGKILL after the grace period; completes once the child is reaped. Cancels a
  // pending restart. A second stop() while one is in progress only waits for the same exit.
  boost::asio::awaitable<void> stop();
  // Forwards a signal to a running child.
  void forward(int signo) const;
  // Cuts a stop() in progress short: SIGKILL now rather than at the end of the grace period
  // (e.g. a second SIGTERM while shutting down). False, doing nothing, when none is.
  bool hurry();
  // Ends every wait this object has pending (the SIGCHLD wait above all), so the io_context
  // can run out. Call after stop(). A child still running then is killed (SIGKILL) and not
  // reaped: nothing would reap it any more. start() after close() does nothing.
  void close();

  [[nodiscard]] bool running() const noexcept { return pid_ > 0; }
  [[nodiscard]] std::optional<int> last_status() const noexcept { return last_status_; }

 private:
  boost::asio::awaitable<void> reap_loop();
  boost::asio::awaitable<void> wait_exit(int pid);
  void reap();
  bool spawn();

  boost::asio::any_io_executor ex_;
  std::vector<std::string> argv_;
  std::vector<std::string> env_;  // the current term's additions (start())
  std::chrono::milliseconds grace_;
  log::Logger log_;
  boost::asio::signal_set sigchld_;
  boost::asio::steady_timer grace_timer_;  // the SIGTERM-to-SIGKILL wait; cut short by an exit
  boost::asio::steady_timer exited_;      // never expires; cancelled on every reap to wake waiters
  int pid_ = -1;
  bool stopping_ = false;
  bool restart_pending_ = false;  // leadership came back while the old child was stopping
  // Shared with reap_loop(): a wait that completed just before the destructor ran resumes
  // after `this` is gone, and must still see that it is closed.
  std::shared_ptr<bool> closed_ = std::make_shared<bool>(false);
  std::optional<int> last_status_;
  std::function<void(int)> on_unexpected_exit_;
};

}  // namespace kle::controller
