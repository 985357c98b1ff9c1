// leader-elector: turns flags into a Controller and runs it on one io_context.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <kle/controller/controller.hpp>
#include <kle/controller/options.hpp>
#include <kle/log/logger.hpp>

#include "working_set.hpp"

#ifndef KLE_VERSION
#define KLE_VERSION "0.0.0"
#endif

namespace {

// Start-up is over well within the first trim (see working_set.hpp). The idle loop maps
// pages back in slowly (about 2.4 MiB over 5 minutes, measured in bench/RESULTS.md), so the
// trim repeats each minute: a read of /proc/self/smaps and the minor faults that follow,
// milliseconds a minute.
constexpr std::chrono::seconds kFirstTrim{20};
constexpr std::chrono::seconds kTrimPeriod{60};

void trim_after(boost::asio::steady_timer& timer, const kle::log::Logger& logger, std::chrono::seconds after) {
  timer.expires_after(after);
  timer.async_wait([&timer, &logger](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the controller has finished
    const auto r = kle::cmd::trim_working_set();
    logger.debug("resident set trimmed", {{"mappings", r.mappings}, {"heap_trimmed", r.heap_trimmed}});
    trim_after(timer, logger, kTrimPeriod);
  });
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kle;
  const auto parsed = controller::parse_options(argc, argv, [](const char* name) { return std::getenv(name); });
  switch (parsed.outcome) {
    case controller::ParseOutcome::help:
      std::fputs(parsed.text.c_str(), stdout);
      return controller::kExitOk;
    case controller::ParseOutcome::version:
      std::puts("leader-elector " KLE_VERSION);
      return controller::kExitOk;
    case controller::ParseOutcome::error:
      std::fprintf(stderr, "leader-elector: %s (see --help)\n", parsed.text.c_str());
      return controller::kExitUsage;
    case controller::ParseOutcome::run:
      break;
  }
  const auto& o = parsed.options;
  const log::Logger logger(o.log_level, o.log_format, log::stderr_sink());
  try {
    boost::asio::io_context io(1);
    controller::Controller ctl(io, o, logger);
    int code = controller::kExitFailure;
    boost::asio::steady_timer trim(io);
    trim_after(trim, logger, kFirstTrim);
    boost::asio::co_spawn(io, ctl.run(), [&](const std::exception_ptr& e, int rc) {
      trim.cancel();  // io.run() returns once the controller is done
      if (e) std::rethrow_exception(e);
      code = rc;
    });
    io.run();
    return code;
  } catch (const std::exception& e) {
    logger.error("fatal", {{"error", e.what()}});
    return controller::kExitFailure;
  }
}
