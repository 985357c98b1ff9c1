// Two electors on two Leases in one io_context, sharing one API client (and its connections).
//   two-leases KUBECONFIG LEASE_A LEASE_B
// Prints each elector's events, and "holding both leases" once it leads both. SIGINT/SIGTERM
// stop both electors (each has auto_close), which release their leases.
#include <array>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <kle/election/elector.hpp>
#include <kle/kube/client.hpp>
#include <kle/kube/config.hpp>
#include <kle/kube/lease_lock.hpp>
#include <kle/log/logger.hpp>

namespace asio = boost::asio;
namespace election = kle::election;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: two-leases KUBECONFIG LEASE_A LEASE_B\n";
    return 2;
  }
  auto cfg = kle::kube::load_kubeconfig(argv[1]);
  if (!cfg.ok()) {
    std::cerr << cfg.error().message << '\n';
    return 1;
  }
  asio::io_context io;
  kle::kube::Client client(io.get_executor(), *cfg);  // one client: the locks share it

  election::ElectorOptions opt;
  const char* pod = std::getenv("POD_NAME");
  opt.identity = pod ? pod : "";
  opt.log = kle::log::Logger(kle::log::Level::info, kle::log::Logger::Format::text, kle::log::stderr_sink());
  opt = election::with_defaults(opt);
  const std::string ns = cfg->namespace_.empty() ? opt.namespace_ : cfg->namespace_;

  std::array<std::unique_ptr<election::Elector>, 2> electors;
  for (std::size_t i = 0; i < electors.size(); ++i) {
    const std::string lease = argv[2 + i];
    electors[i] = std::make_unique<election::Elector>(
        io.get_executor(), std::make_unique<kle::kube::KubeLeaseLock>(client, ns, lease), opt);
    electors[i]->on([&electors, lease](election::Event event, const election::LeaseState& state) {
      std::cout << "[" << lease << "] " << election::to_string(event) << ": holder=" << state.holder
                << " epoch=" << state.transitions << std::endl;
      if (event == election::Event::leadership_acquired && electors[0]->current_leader() &&
          electors[1]->current_leader()) {
        std::cout << "holding both leases" << std::endl;
      }
    });
    asio::co_spawn(io, electors[i]->start(), asio::detached);
  }
  io.run();
  return 0;
}
