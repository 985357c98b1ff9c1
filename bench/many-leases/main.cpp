// many-leases: N Electors on N Leases in one process and one io_context, for
// bench/many-leases.sh (issue #14). One Client; with --mode shared one LeaseWatchHub for all
// N (one watch), with --mode per-lease each Elector watches its own Lease (N watches).
//   many-leases --kubeconfig F --namespace NS --prefix P --count N --id ID
//               [--mode shared|per-lease] [--lease-duration S] [--renew-deadline S] [--retry-period S]
// Leases are P-0 .. P-(N-1). Prints "ready" once signals are handled, then "status ..."
// (counters below) on each SIGUSR1 (the bench reads it at the start and end of its window).
// SIGTERM/SIGINT print it once more, stop every elector (releasing what it holds), exit 0.
//   status leading=L following=F lost=X heap=B conns=C queued=Q maxq=M requests=R GET=.. PUT=.. ...
// following: Leases this process sees held by someone else; lost: leadership_lost events
// before the stop (a missed renewal deadline, or a lease taken away); heap: bytes malloc has
// handed out and not had back (mallinfo2: live data, not RSS); conns: request connections
// open; queued / maxq: requests that waited for a connection, and the most at once.
#include <malloc.h>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <kle/election/elector.hpp>
#include <kle/kube/client.hpp>
#include <kle/kube/config.hpp>
#include <kle/kube/lease_lock.hpp>
#include <kle/kube/lease_watch_hub.hpp>
#include <kle/kube/transport.hpp>

namespace net = boost::asio;
using kle::election::Elector;
using kle::election::Event;

namespace {

struct Args {
  std::string kubeconfig, ns = "default", prefix, id, mode = "shared";
  int count = 1;
  int lease_s = 15, deadline_s = 10, retry_s = 2;
};

bool parse(int argc, char** argv, Args& a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--kubeconfig") a.kubeconfig = v;
    else if (k == "--namespace") a.ns = v;
    else if (k == "--prefix") a.prefix = v;
    else if (k == "--id") a.id = v;
    else if (k == "--mode") a.mode = v;
    else if (k == "--count") a.count = std::atoi(v.c_str());
    else if (k == "--lease-duration") a.lease_s = std::atoi(v.c_str());
    else if (k == "--renew-deadline") a.deadline_s = std::atoi(v.c_str());
    else if (k == "--retry-period") a.retry_s = std::atoi(v.c_str());
    else return false;
  }
  return argc % 2 == 1 && !a.kubeconfig.empty() && !a.prefix.empty() && !a.id.empty() && a.count > 0 &&
         (a.mode == "shared" || a.mode == "per-lease");
}

struct Counters {
  int lost = 0;
  bool stopping = false;
  std::map<std::string, long, std::less<>> requests;
};

void print_status(const std::vector<std::unique_ptr<Elector>>& electors, const Counters& c, const std::string& id,
                  const kle::kube::Client& client) {
  int leading = 0;
  int following = 0;
  for (const auto& e : electors) {
    if (e->current_leader()) ++leading;
    const auto holder = e->current_holder();
    if (!holder.empty() && holder != id) ++following;
  }
  long total = 0;
  std::string verbs;
  for (const auto& [verb, n] : c.requests) {
    total += n;
    verbs += " " + verb + "=" + std::to_string(n);
  }
  const struct mallinfo2 m = mallinfo2();
  const auto& t = client.transport_stats();
  std::cout << "status leading=" << leading << " following=" << following << " lost=" << c.lost
            << " heap=" << (m.uordblks + m.hblkhd) << " conns=" << client.open_connections()
            << " queued=" << t.requests_queued << " maxq=" << t.max_queue_depth << " requests=" << total << verbs
            << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse(argc, argv, a)) {
    std::cerr << "usage: many-leases --kubeconfig F --namespace NS --prefix P --count N --id ID "
                 "[--mode shared|per-lease] [--lease-duration S] [--renew-deadline S] [--retry-period S]\n";
    return 2;
  }
  auto cluster = kle::kube::load_kubeconfig(a.kubeconfig);
  if (!cluster) {
    std::cerr << "many-leases: " << cluster.error().describe() << "\n";
    return 1;
  }
  net::io_context io;
  kle::kube::Client client(io.get_executor(), std::move(cluster).value());
  Counters counters;
  client.set_observer([&counters](std::string_view verb, int, auto) { ++counters.requests[std::string(verb)]; });
  auto hub = a.mode == "shared" ? kle::kube::LeaseWatchHub::create(client, a.ns) : nullptr;

  std::vector<std::unique_ptr<Elector>> electors;
  electors.reserve(static_cast<std::size_t>(a.count));
  for (int i = 0; i < a.count; ++i) {
    const std::string lease = a.prefix + "-" + std::to_string(i);
    auto lock = hub ? std::make_unique<kle::kube::KubeLeaseLock>(client, a.ns, lease, hub)
                    : std::make_unique<kle::kube::KubeLeaseLock>(client, a.ns, lease);
    kle::election::ElectorOptions o;
    o.identity = a.id;
    o.auto_close = false;  // one signal handler for all N, below
    o.renew_interval = std::chrono::seconds(a.retry_s);
    o.lease_duration = std::chrono::seconds(a.lease_s);
    o.renew_deadline = std::chrono::seconds(a.deadline_s);
    electors.push_back(std::make_unique<Elector>(io.get_executor(), std::move(lock), o));
    electors.back()->on([&counters](Event e, const kle::election::LeaseState&) {
      if (e == Event::leadership_lost && !counters.stopping) ++counters.lost;
    });
    net::co_spawn(io, electors.back()->start(), net::detached);
  }

  net::signal_set usr1(io, SIGUSR1);
  std::function<void()> arm_usr1 = [&]() {
    usr1.async_wait([&](const boost::system::error_code& ec, int) {
      if (ec) return;
      print_status(electors, counters, a.id, client);
      arm_usr1();
    });
  };
  arm_usr1();
  std::cout << "ready" << std::endl;  // SIGUSR1 is handled from here on (the bench waits for this line)
  net::signal_set term(io, SIGTERM, SIGINT);
  term.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    counters.stopping = true;
    print_status(electors, counters, a.id, client);
    auto left = std::make_shared<int>(a.count);
    for (auto& e : electors) {
      net::co_spawn(io, e->stop(), [&, left](const std::exception_ptr&) {
        if (--*left == 0) {
          usr1.cancel();
          client.close();
        }
      });
    }
  });
  io.run();
  return 0;
}
