// Many Leases in one process on the real apiserver (issue #14): 20 Leases, two electors on
// each, all 40 sharing one Client and one LeaseWatchHub. The apiserver's own gauge of open
// watches on leases must rise by exactly one, every Lease must get exactly one leader, and a
// stop() of each leader must hand over to its partner through the shared stream (faster than
// the lease expiry a follower without watch events would wait for).
// (Arguments to co_await are named variables: GCC 12 mishandles temporaries there.)
#include <catch2/catch.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <kle/election/elector.hpp>
#include "integration/cluster_env.hpp"
#include <kle/kube/client.hpp>
#include <kle/kube/lease_lock.hpp>
#include <kle/kube/lease_watch_hub.hpp>
#include <kle/kube/transport.hpp>

using namespace std::chrono_literals;
using kle::election::Elector;
using kle::election::ElectorOptions;
using kle::integration::cluster_env;
namespace net = boost::asio;

namespace {

constexpr int kLeases = 20;
constexpr auto kLease = 6s;

ElectorOptions options(const std::string& identity) {
  ElectorOptions o;
  o.identity = identity;
  o.auto_close = false;
  o.renew_interval = 500ms;
  o.lease_duration = kLease;
  o.renew_deadline = 4000ms;
  return o;
}

// apiserver_longrunning_requests{verb="WATCH",resource="leases",scope="namespace"}: the
// watches on one namespace's leases open right now, as the apiserver counts them. Only that
// scope: kube-controller-manager's garbage collector and quota monitors watch leases in every
// namespace (scope "cluster") and start or re-open those watches on their own schedule, which
// once made the count move by one in the middle of this test.
long lease_watches_in(const std::string& metrics) {
  std::istringstream in(metrics);
  long total = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("apiserver_longrunning_requests{", 0) != 0) continue;
    if (line.find("resource=\"leases\"") == std::string::npos || line.find("verb=\"WATCH\"") == std::string::npos ||
        line.find("scope=\"namespace\"") == std::string::npos)
      continue;
    total += std::strtol(line.c_str() + line.rfind(' ') + 1, nullptr, 10);
  }
  return total;
}

struct Shards {
  net::io_context io;
  std::string ns = cluster_env().namespace_;
  kle::kube::Client client;
  kle::kube::Transport metrics;
  std::shared_ptr<kle::kube::LeaseWatchHub> hub;
  std::vector<std::string> leases;
  std::vector<std::unique_ptr<Elector>> electors;  // 2 per lease: [2i] and [2i+1]

  Shards() : client(io.get_executor(), cluster_env().admin, client_options()), metrics(io.get_executor(), cluster_env().admin) {
    hub = kle::kube::LeaseWatchHub::create(client, ns);
    for (int i = 0; i < kLeases; ++i) {
      leases.push_back("shard-" + std::to_string(::getpid()) + "-" + std::to_string(i));
      for (const char* id : {"sw-a", "sw-b"}) {
        auto lock = std::make_unique<kle::kube::KubeLeaseLock>(client, ns, leases.back(), hub);
        electors.push_back(std::make_unique<Elector>(io.get_executor(), std::move(lock), options(id)));
      }
    }
  }
  ~Shards() {
    for (auto& e : electors) {
      bool done = false;
      net::co_spawn(io, e->stop(), [&](const std::exception_ptr&) { done = true; });
      run_until([&] { return done; }, 15s);
    }
    client.close();
    metrics.close();
    io.run_for(200ms);
  }
  Shards(const Shards&) = delete;
  Shards& operator=(const Shards&) = delete;

  static kle::kube::ClientOptions client_options() {
    kle::kube::ClientOptions o;
    o.request_timeout = 2000ms;
    return o;
  }

  bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (!done()) {
      if (std::chrono::steady_clock::now() > until) return false;
      if (io.stopped()) io.restart();
      io.run_for(5ms);
      no_lease_with_two_leaders();
    }
    return true;
  }
  void no_lease_with_two_leaders() const {
    for (int i = 0; i < kLeases; ++i) {
      const auto a = static_cast<std::size_t>(2 * i);
      if (electors[a] && electors[a + 1] && electors[a]->current_leader() && electors[a + 1]->current_leader())
        FAIL("two leaders on " << leases[static_cast<std::size_t>(i)]);
    }
  }
  [[nodiscard]] int leases_led() const {
    int n = 0;
    for (int i = 0; i < kLeases; ++i) {
      const auto a = static_cast<std::size_t>(2 * i);
      const bool led = (electors[a] && electors[a]->current_leader()) ||
                       (electors[a + 1] && electors[a + 1]->current_leader());
      n += led ? 1 : 0;
    }
    return n;
  }
  long lease_watches() {
    std::optional<kle::api::Result<kle::kube::HttpResponse>> out;
    net::co_spawn(
        io,
        [&]() -> net::awaitable<void> {
          kle::kube::HttpRequest req;
          req.target = "/metrics";
          auto r = co_await metrics.request(std::move(req));
          out.emplace(std::move(r));
        },
        net::detached);
    REQUIRE(run_until([&] { return out.has_value(); }, 15s));
    REQUIRE(out->ok());
    REQUIRE((*out)->status == 200);
    return lease_watches_in((*out)->body);
  }
};

}  // namespace

TEST_CASE("integration: 40 electors on 20 leases share one watch and each lease elects one leader",
          "[integration][shared-watch]") {
  Shards s;
  const long before = s.lease_watches();
  for (auto& e : s.electors) net::co_spawn(s.io, e->start(), net::detached);
  REQUIRE(s.run_until([&] { return s.leases_led() == kLeases; }, 60s));
  // Every elector has subscribed (the leader's watch stays up too).
  REQUIRE(s.run_until([&] { return s.hub->subscribers() == 2 * kLeases; }, 30s));
  CHECK(s.lease_watches() - before == 1);
  CHECK(s.hub->streams_opened() == 1);
  CHECK(s.hub->lists_made() == 1);

  // Stop every leader: each partner must take over on the release event from the shared
  // stream. Without it, the partner would wait the lease out (6 s from the last renewal seen).
  const auto stopping = std::chrono::steady_clock::now();
  std::vector<std::size_t> partners;
  int stopped = 0;
  for (std::size_t i = 0; i < s.electors.size(); ++i) {
    if (!s.electors[i]->current_leader()) continue;
    partners.push_back(i % 2 == 0 ? i + 1 : i - 1);
    net::co_spawn(s.io, s.electors[i]->stop(), [&](const std::exception_ptr&) { ++stopped; });
  }
  REQUIRE(partners.size() == static_cast<std::size_t>(kLeases));
  REQUIRE(s.run_until(
      [&] {
        for (const auto p : partners)
          if (!s.electors[p]->current_leader()) return false;
        return stopped == kLeases;
      },
      30s));
  const auto took = std::chrono::steady_clock::now() - stopping;
  INFO("all " << kLeases << " handovers took "
              << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms");
  CHECK(took < kLease - 2s);
  // The stopped electors left the hub; the stream stayed up for the others.
  CHECK(s.hub->subscribers() == static_cast<std::size_t>(kLeases));
  CHECK(s.lease_watches() - before == 1);
  CHECK(s.hub->streams_opened() == 1);

  // Once nobody is subscribed, the hub's stream is closed on the apiserver too.
  for (const auto p : partners) {
    bool done = false;
    net::co_spawn(s.io, s.electors[p]->stop(), [&](const std::exception_ptr&) { done = true; });
    REQUIRE(s.run_until([&] { return done; }, 15s));
  }
  REQUIRE(s.run_until([&] { return s.hub->subscribers() == 0; }, 15s));
  long after = 0;
  REQUIRE(s.run_until(
      [&] {
        after = s.lease_watches();
        return after == before;
      },
      20s));
  CHECK(after == before);
}
