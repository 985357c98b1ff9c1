#pragma once
// /metrics, /healthz, /readyz and /leader. Handlers only read state the elector and the
// metrics registry already hold: a probe never waits on the API server.
#include <chrono>

#include <kle/http/server.hpp>

namespace kle::election {
class Clock;
class Elector;
}
namespace kle::metrics {
class Registry;
}

namespace kle::controller {

struct EndpointContext {
  election::Elector* elector = nullptr;
  // The clock the elector runs on: /healthz compares its last renewal with this clock's now,
  // never with steady_clock's, whose epoch an injected clock need not share.
  const election::Clock* clock = nullptr;
  metrics::Registry* metrics = nullptr;
  bool readiness_follows_leadership = false;
  // While it points at false, /readyz answers 503: the controller's start-up label round (a
  // restarted container clearing the leader label its last life left on the pod) has not
  // ended, and a Ready pod that still carries the label would get the leader's traffic.
  // Null: no such gate.
  const bool* started = nullptr;
  // Added to the lease duration before /healthz fails a leader that stopped renewing
  // (client-go's HealthzAdaptor timeout).
  std::chrono::milliseconds healthz_tolerance{10'000};
};

void register_endpoints(http::Server& server, EndpointContext ctx);
// The /leader document, exposed for tests.
http::Response leader_document(const election::Elector& elector);
// The /healthz and /readyz answers, exposed for tests.
http::Response healthz_response(const EndpointContext& ctx);
http::Response readyz_response(const EndpointContext& ctx);

}  // namespace kle::controller
