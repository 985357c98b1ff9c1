#pragma once
// The deployable controller: one Elector, the leader pod label, the HTTP endpoints and an
// optional leader-only workload, all on one io_context. main() only parses flags and calls
// run(); everything that can fail at start-up fails here with one clear line.
#include <memory>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <kle/controller/options.hpp>
#include <kle/log/logger.hpp>

namespace kle::controller {

// Exit codes: 0 clean stop, 2 bad configuration, 1 runtime failure; with a workload, its
// own status.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

class Controller {
 public:
  Controller(boost::asio::io_context& io, ControllerOptions options, log::Logger log);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Runs until SIGTERM/SIGINT, request_stop() or the workload exits by itself; returns the
  // exit code. When it returns nothing of the controller's is pending any more, so the
  // io_context runs out (main() relies on that to exit).
  boost::asio::awaitable<int> run();
  // Asks run() to shut down, as SIGTERM does (for embedders and tests).
  void request_stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kle::controller
