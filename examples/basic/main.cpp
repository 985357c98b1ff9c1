// The seed readme's example in C++: one elector on the Lease "my-application-lease" that
// prints every event. Ctrl-C (SIGINT) or SIGTERM stops it and releases the lease.
//   basic [KUBECONFIG [LEASE]]
// Without a kubeconfig: $KUBECONFIG, in-cluster, ~/.kube/config; with none of them there is
// no cluster, and the elector assumes leadership and says so in its log.
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

namespace election = kle::election;

int main(int argc, char** argv) {
  boost::asio::io_context io;
  auto cfg = kle::kube::discover_config(argc > 1 ? argv[1] : "", "");
  if (!cfg.ok()) {
    std::cerr << "no cluster config: " << cfg.error().message << '\n';
    return 1;
  }

  election::ElectorOptions opt;
  opt.lease_name = argc > 2 ? argv[2] : "my-application-lease";
  const char* pod = std::getenv("POD_NAME");
  opt.identity = pod ? pod : "";  // empty: elector-{hostname}-{pid}
  opt.log = kle::log::Logger(kle::log::Level::info, kle::log::Logger::Format::text, kle::log::stderr_sink());
  if (*cfg) opt.namespace_ = (*cfg)->namespace_;  // the kubeconfig context's; empty: the default
  opt = election::with_defaults(opt);

  std::unique_ptr<kle::kube::Client> client;  // must outlive the elector: declared first
  std::unique_ptr<election::LeaseLock> lock;  // null: no cluster, assume leadership
  if (*cfg) {
    client = std::make_unique<kle::kube::Client>(io.get_executor(), **cfg);
    lock = std::make_unique<kle::kube::KubeLeaseLock>(*client, opt.namespace_, opt.lease_name);
  }
  election::Elector elector(io.get_executor(), std::move(lock), opt);

  elector.on([&elector](election::Event event, const election::LeaseState& lease) {
    std::cout << election::to_string(event) << ": holder=" << lease.holder << " epoch=" << lease.transitions
              << (elector.current_leader() ? " (I am the leader)" : " (I am not the leader)") << std::endl;
  });
  boost::asio::co_spawn(io, elector.start(), boost::asio::detached);
  io.run();  // auto_close: SIGINT/SIGTERM stop the elector and release the lease
  return 0;
}
