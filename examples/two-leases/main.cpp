// Two electors on two Leases in one io_context, sharing one API client (and its connections).
//   two-leases KUBECONFIG LEASE_A LEASE_B
// Prints each elector's events, and "holding both leases" once it leads both. SIGINT/SIGTERM
// stop both electors (each has auto_close), which release their leases.
#include <array>
#include <iostream>
#include <memory>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <kle/election/elector.hpp>
#include <kle/kube/client.hpp>
#include <kle/kube/lease_lock.hpp>

#include "common.hpp"

namespace asio = boost::asio;
namespace election = kle::election;

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: two-leases KUBECONFIG LEASE_A LEASE_B\n";
    return 2;
  }
  const auto cluster = examples::load_cluster(argv[1]);
  if (!cluster) return 1;
  asio::io_context io;
  kle::kube::Client client(io.get_executor(), *cluster);  // one client: the locks share it
  const election::ElectorOptions opt = examples::elector_options(*cluster);

  std::array<std::unique_ptr<election::Elector>, 2> electors;
  bool holding_both = false;  // both handlers see both leaders: say it once per time it happens
  for (std::size_t i = 0; i < electors.size(); ++i) {
    const std::string lease = argv[2 + i];
    electors[i] = std::make_unique<election::Elector>(
        io.get_executor(), std::make_unique<kle::kube::KubeLeaseLock>(client, opt.namespace_, lease), opt);
    electors[i]->on([&electors, &holding_both, lease](election::Event event, const election::LeaseState& state) {
      std::cout << "[" << lease << "] " << election::to_string(event) << ": holder=" << state.holder
                << " epoch=" << state.transitions << std::endl;
      const bool both = electors[0]->current_leader() && electors[1]->current_leader();
      if (both && !holding_both) std::cout << "holding both leases" << std::endl;
      holding_both = both;
    });
    asio::co_spawn(io, electors[i]->start(), asio::detached);
  }
  io.run();
  return 0;
}
