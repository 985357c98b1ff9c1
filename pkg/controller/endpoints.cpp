#include <kle/controller/endpoints.hpp>

#include <nlohmann/json.hpp>

#include <kle/election/clock.hpp>
#include <kle/election/elector.hpp>
#include <kle/election/health.hpp>
#include <kle/metrics/registry.hpp>

namespace kle::controller {
namespace {

nlohmann::json optional_time(const std::optional<api::MicroTime>& t) {
  return t ? nlohmann::json(api::format_micro_time(*t)) : nlohmann::json(nullptr);
}

}  // namespace

http::Response leader_document(const election::Elector& elector) {
  const election::LeaseState s = elector.lease_state();
  const bool leading = elector.current_leader();
  nlohmann::json doc = {
      {"holder", s.holder},
      {"identity", elector.identity()},
      {"isLeader", leading},
      // The fencing epoch of the term this process leads (the same number CMD gets as
      // KLE_EPOCH); null on a follower, which has no term to fence with.
      {"epoch", leading ? nlohmann::json(s.transitions) : nlohmann::json(nullptr)},
      {"lease", elector.lease_name()},
      {"namespace", elector.lease_namespace()},
      {"leaseTransitions", s.transitions},
      {"leaseDurationSeconds", s.lease_duration.count()},
      {"acquireTime", optional_time(s.acquire_time)},
      {"renewTime", optional_time(s.renew_time)},
  };
  return http::json_response(200, doc);
}

http::Response healthz_response(const EndpointContext& ctx) {
  const auto& e = *ctx.elector;
  const auto status = election::leader_health(e.current_leader(), e.last_renewal(), ctx.clock->now(),
                                              e.timings().lease_duration, ctx.healthz_tolerance);
  return status.healthy ? http::text_response(200, "ok\n") : http::text_response(500, status.reason + "\n");
}

http::Response readyz_response(const EndpointContext& ctx) {
  if (ctx.started != nullptr && !*ctx.started) return http::text_response(503, "starting\n");
  if (ctx.readiness_follows_leadership && !ctx.elector->current_leader())
    return http::text_response(503, "not the leader\n");
  return http::text_response(200, "ok\n");
}

void register_endpoints(http::Server& server, EndpointContext ctx) {
  server.handle("/metrics", [ctx](const http::Request&) {
    http::Response r = http::text_response(200, ctx.metrics->serialize());
    r.content_type = metrics::Registry::content_type();
    return r;
  });
  server.handle("/healthz", [ctx](const http::Request&) { return healthz_response(ctx); });
  server.handle("/readyz", [ctx](const http::Request&) { return readyz_response(ctx); });
  server.handle("/leader", [ctx](const http::Request&) { return leader_document(*ctx.elector); });
}

}  // namespace kle::controller
