// leader-elector: turns flags into a Controller and runs it on one io_context.
#include <cstdio>
#include <cstdlib>
#include <exception>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include <kle/controller/controller.hpp>
#include <kle/controller/options.hpp>
#include <kle/log/logger.hpp>

#ifndef KLE_VERSION
#define KLE_VERSION "0.0.0"
#endif

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
    boost::asio::co_spawn(io, ctl.run(), [&](const std::exception_ptr& e, int rc) {
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
