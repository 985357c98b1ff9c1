// kube::Client against the real kube-apiserver from tests/cluster/up: Lease CRUD, conflicts,
// watch and resume, 410 for a too-old resourceVersion (after an apiserver restart), Pod
// labels, and RBAC denials.
// (GCC 12 miscompiles braced temporaries inside co_await: arguments are named variables.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "integration/cluster_env.hpp"
#include <kle/kube/client.hpp>
#include <kle/kube/transport.hpp>

using kle::api::ErrorKind;
using kle::api::Lease;
using kle::api::Result;
using kle::integration::cluster_env;
using kle::integration::run_on;
using kle::integration::wait_until;
using kle::kube::Client;
using kle::kube::LeaseWatchEvent;
namespace net = boost::asio;

namespace {

// Unique per process and call, so reruns against the same cluster do not collide.
std::string unique_name(const std::string& prefix) {
  static int counter = 0;
  return prefix + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

Lease new_lease(const std::string& ns, const std::string& name, const std::string& holder) {
  Lease l;
  l.namespace_ = ns;
  l.name = name;
  l.spec.holder_identity = holder;
  l.spec.lease_duration_seconds = 15;
  l.spec.lease_transitions = 0;
  l.spec.renew_time = kle::api::micro_now();
  return l;
}

}  // namespace

TEST_CASE("integration: lease create, get, update, stale update 409, delete", "[integration][lease]") {
  const auto& env = cluster_env();
  net::io_context io;
  Client client(io.get_executor(), env.admin);
  const std::string name = unique_name("kle-it-crud");
  run_on(io, [&]() -> net::awaitable<void> {
    auto created = co_await client.create_lease(new_lease(env.namespace_, name, "a"));
    REQUIRE(created.ok());
    CHECK(!created->resource_version.empty());
    CHECK(created->spec.holder_identity == "a");

    auto dup = co_await client.create_lease(new_lease(env.namespace_, name, "a"));
    REQUIRE_FALSE(dup.ok());
    CHECK(dup.error().kind == ErrorKind::conflict);  // AlreadyExists is a 409 too

    auto got = co_await client.get_lease(env.namespace_, name);
    REQUIRE(got.ok());
    CHECK(got->resource_version == created->resource_version);
    CHECK(got->spec.renew_time == created->spec.renew_time);  // MicroTime round-trips

    Lease next = got.value();
    next.spec.holder_identity = "b";
    next.spec.lease_transitions = 1;
    auto updated = co_await client.update_lease(next);
    REQUIRE(updated.ok());
    CHECK(updated->spec.holder_identity == "b");
    CHECK(updated->resource_version != created->resource_version);

    next.spec.holder_identity = "c";  // still carries the old resourceVersion
    auto stale = co_await client.update_lease(next);
    REQUIRE_FALSE(stale.ok());
    CHECK(stale.error().kind == ErrorKind::conflict);
    CHECK(stale.error().http_status == 409);
    CHECK_THAT(stale.error().message, Catch::Contains("the object has been modified"));

    auto deleted = co_await client.delete_lease(env.namespace_, name);
    CHECK(deleted.ok());
    auto gone = co_await client.get_lease(env.namespace_, name);
    REQUIRE_FALSE(gone.ok());
    CHECK(gone.error().kind == ErrorKind::not_found);
  });
}

TEST_CASE("integration: watch a lease, then resume from a resourceVersion", "[integration][watch]") {
  const auto& env = cluster_env();
  net::io_context io;
  Client client(io.get_executor(), env.admin);
  kle::kube::ClientOptions watch_opts;
  // A bound in case an event never comes; the test closes the watch as soon as its events are
  // in, so a generous bound costs nothing on a quiet machine and absorbs a busy one.
  watch_opts.watch_timeout = std::chrono::seconds(30);
  Client watcher(io.get_executor(), env.admin, watch_opts);
  const std::string name = unique_name("kle-it-watch");
  run_on(io, [&]() -> net::awaitable<void> {
    auto v0 = co_await client.create_lease(new_lease(env.namespace_, name, "a"));
    REQUIRE(v0.ok());
    Lease l = v0.value();
    std::vector<std::string> rvs;
    const std::array<std::string, 2> holders{"b", "c"};
    for (const auto& holder : holders) {
      l.spec.holder_identity = holder;
      auto r = co_await client.update_lease(l);
      REQUIRE(r.ok());
      l = r.value();
      rvs.push_back(l.resource_version);
    }
    // From v0 the watch replays both updates; close the watch once both arrived.
    std::vector<LeaseWatchEvent> events;
    std::function<void(const LeaseWatchEvent&)> collect = [&](const LeaseWatchEvent& e) {
      if (e.type == LeaseWatchEvent::Type::bookmark) return;
      events.push_back(e);
      if (events.size() == 2) net::post(io, [&] { watcher.close(); });
    };
    auto first = co_await watcher.watch_lease(env.namespace_, name, v0->resource_version, collect);
    CHECK((first.ok() || first.error().kind == ErrorKind::cancelled));
    REQUIRE(events.size() == 2);
    CHECK(events[0].type == LeaseWatchEvent::Type::modified);
    CHECK(events[0].lease->spec.holder_identity == "b");
    CHECK(events[1].lease->resource_version == rvs[1]);

    // Resuming from the first update's version yields only the second.
    events.clear();
    std::function<void(const LeaseWatchEvent&)> one = [&](const LeaseWatchEvent& e) {
      if (e.type == LeaseWatchEvent::Type::bookmark) return;
      events.push_back(e);
      net::post(io, [&] { watcher.close(); });
    };
    auto resumed = co_await watcher.watch_lease(env.namespace_, name, rvs[0], one);
    CHECK((resumed.ok() || resumed.error().kind == ErrorKind::cancelled));
    REQUIRE(events.size() == 1);
    CHECK(events[0].lease->resource_version == rvs[1]);
    CHECK(events[0].lease->spec.holder_identity == "c");

    auto deleted = co_await client.delete_lease(env.namespace_, name);
    CHECK(deleted.ok());
  });
}

// A young apiserver's watch cache holds every event since it started, so even
// resourceVersion "1" is replayed; a restart starts the cache afresh, as an upgrade or a
// crash does in production, and resuming a watch from before it must come back as Gone.
TEST_CASE("integration: after an apiserver restart, a watch from an older resourceVersion is 410 Gone",
          "[integration][watch][apiserver-restart]") {
  const auto& env = cluster_env();
  net::io_context io;
  Client client(io.get_executor(), env.admin);
  kle::kube::ClientOptions watch_opts;
  watch_opts.watch_timeout = std::chrono::seconds(30);  // as above: closed by the test
  Client watcher(io.get_executor(), env.admin, watch_opts);
  const std::string name = unique_name("kle-it-gone");
  std::string before;
  run_on(io, [&]() -> net::awaitable<void> {
    auto created = co_await client.create_lease(new_lease(env.namespace_, name, "a"));
    REQUIRE(created.ok());
    before = created->resource_version;
  });
  kle::integration::restart_apiserver();
  run_on(io, [&]() -> net::awaitable<void> {
    std::vector<LeaseWatchEvent> events;
    std::function<void(const LeaseWatchEvent&)> collect = [&](const LeaseWatchEvent& e) {
      if (e.type != LeaseWatchEvent::Type::bookmark) events.push_back(e);
    };
    auto stale = co_await watcher.watch_lease(env.namespace_, name, before, collect);
    REQUIRE_FALSE(stale.ok());
    CHECK(stale.error().kind == ErrorKind::gone);
    CHECK(stale.error().http_status == 410);
    CHECK_THAT(stale.error().message, Catch::Contains("too old resource version"));
    CHECK(events.empty());

    // A GET would not help: it returns the Lease's own last version, from before the
    // restart, which is just as gone. What works is what the elector does: watch without a
    // resourceVersion, which opens with the current state (ADDED) and then follows.
    auto still_gone = co_await client.get_lease(env.namespace_, name);  // over a broken pooled connection
    REQUIRE(still_gone.ok());
    auto again = co_await watcher.watch_lease(env.namespace_, name, still_gone->resource_version, collect);
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().kind == ErrorKind::gone);

    // Two answers race here: the PUT's own response and the MODIFIED event the watch delivers
    // for it. Either may come first (on a busy machine the watch often wins), so the watch is
    // closed only once both are in, and they are compared afterwards.
    std::optional<Result<Lease>> put;
    bool closing = false;
    auto close_once_both_arrived = [&] {
      if (closing || !put || events.size() < 2) return;
      closing = true;
      net::post(io, [&] { watcher.close(); });
    };
    Lease change;
    std::function<void(const LeaseWatchEvent&)> follow = [&](const LeaseWatchEvent& e) {
      if (e.type == LeaseWatchEvent::Type::bookmark) return;
      events.push_back(e);
      if (events.size() == 1) {  // the current state is in: now change it
        change = *e.lease;
        change.spec.holder_identity = "after-restart";
        net::co_spawn(io, [&]() -> net::awaitable<void> {
          auto r = co_await client.update_lease(change);
          put.emplace(std::move(r));
          close_once_both_arrived();
        }, net::detached);
      }
      close_once_both_arrived();
    };
    std::string from_now;
    auto resumed = co_await watcher.watch_lease(env.namespace_, name, from_now, follow);
    // If the watch ended some other way (the server's timeout), the PUT may still be in
    // flight and refers to this frame: let it finish before checking anything.
    const std::function<bool()> put_arrived = [&] { return put.has_value(); };
    const std::chrono::milliseconds put_limit = std::chrono::seconds(30);
    const bool put_done = co_await wait_until(put_arrived, put_limit);
    REQUIRE(put_done);
    INFO((put->ok() ? std::string("PUT ok") : put->error().describe()));
    REQUIRE(put->ok());
    CHECK((resumed.ok() || resumed.error().kind == ErrorKind::cancelled));
    REQUIRE(events.size() == 2);
    CHECK(events[0].type == LeaseWatchEvent::Type::added);
    CHECK(events[0].lease->spec.holder_identity == "a");
    CHECK(events[1].type == LeaseWatchEvent::Type::modified);
    CHECK(events[1].lease->spec.holder_identity == "after-restart");
    CHECK(events[1].lease->resource_version == (*put)->resource_version);  // the watch saw our PUT

    auto deleted = co_await client.delete_lease(env.namespace_, name);
    CHECK(deleted.ok());
  });
}

TEST_CASE("integration: pod labels are merge-patched and listed by selector", "[integration][pod]") {
  const auto& env = cluster_env();
  net::io_context io;
  kle::kube::Transport admin_raw(io.get_executor(), env.admin);  // no create_pod in Client
  Client restricted(io.get_executor(), env.restricted);           // what the controller runs as
  const std::string name = unique_name("kle-it-pod");
  const std::string label = "leader-elector/leader";
  run_on(io, [&]() -> net::awaitable<void> {
    const nlohmann::json pod = {
        {"apiVersion", "v1"}, {"kind", "Pod"},
        {"metadata", {{"name", name}, {"labels", {{"app", "kle-it"}}}}},
        {"spec",
         {{"securityContext", {{"runAsNonRoot", true}, {"runAsUser", 1000}, {"seccompProfile", {{"type", "RuntimeDefault"}}}}},
          {"containers",
           {{{"name", "c"}, {"image", "registry.invalid/pause:1"},
             {"securityContext", {{"allowPrivilegeEscalation", false}, {"capabilities", {{"drop", {"ALL"}}}}}}}}}}}};
    kle::kube::HttpRequest create{boost::beast::http::verb::post, "/api/v1/namespaces/" + env.namespace_ + "/pods",
                                  pod.dump(), "application/json"};
    auto made = co_await admin_raw.request(std::move(create));
    REQUIRE(made.ok());
    INFO(made->body);
    REQUIRE(made->status == 201);

    std::map<std::string, std::optional<std::string>> set{{label, "true"}};
    auto patched = co_await restricted.patch_pod_labels(env.namespace_, name, set);
    REQUIRE(patched.ok());
    CHECK(patched->labels.at(label) == "true");
    CHECK(patched->labels.at("app") == "kle-it");

    auto listed = co_await restricted.list_pods(env.namespace_, label + "=true,app=kle-it");
    REQUIRE(listed.ok());
    std::vector<std::string> names;
    for (const auto& p : listed->items) names.push_back(p.name);
    CHECK(std::find(names.begin(), names.end(), name) != names.end());

    std::map<std::string, std::optional<std::string>> clear{{label, std::nullopt}};
    auto cleared = co_await restricted.patch_pod_labels(env.namespace_, name, clear);
    REQUIRE(cleared.ok());
    CHECK(cleared->labels.count(label) == 0);
    auto after = co_await restricted.list_pods(env.namespace_, label + "=true,app=kle-it");
    REQUIRE(after.ok());
    for (const auto& p : after->items) CHECK(p.name != name);

    kle::kube::HttpRequest del{boost::beast::http::verb::delete_,
                               "/api/v1/namespaces/" + env.namespace_ + "/pods/" + name + "?gracePeriodSeconds=0", {}, {}};
    auto deleted = co_await admin_raw.request(std::move(del));
    REQUIRE(deleted.ok());
    CHECK(deleted->status / 100 == 2);
  });
}

TEST_CASE("integration: the restricted account is denied other leases, naming verb and resource",
          "[integration][rbac]") {
  const auto& env = cluster_env();
  net::io_context io;
  Client admin(io.get_executor(), env.admin);
  Client restricted(io.get_executor(), env.restricted);
  const std::string other = unique_name("kle-it-other");
  run_on(io, [&]() -> net::awaitable<void> {
    auto created = co_await admin.create_lease(new_lease(env.namespace_, other, "someone"));
    REQUIRE(created.ok());

    auto got = co_await restricted.get_lease(env.namespace_, other);
    REQUIRE_FALSE(got.ok());
    CHECK(got.error().kind == ErrorKind::forbidden);
    CHECK(got.error().http_status == 403);
    CHECK_THAT(got.error().message, Catch::Contains("cannot get resource \"leases\""));

    Lease steal = created.value();
    steal.spec.holder_identity = "me";
    auto updated = co_await restricted.update_lease(steal);
    REQUIRE_FALSE(updated.ok());
    CHECK(updated.error().kind == ErrorKind::forbidden);
    CHECK_THAT(updated.error().message, Catch::Contains("cannot update resource \"leases\"") &&
                                            Catch::Contains(other));

    auto removed = co_await restricted.delete_lease(env.namespace_, env.restricted_lease);
    REQUIRE_FALSE(removed.ok());
    CHECK(removed.error().kind == ErrorKind::forbidden);  // no delete at all, even on its own lease

    auto cleanup = co_await admin.delete_lease(env.namespace_, other);
    CHECK(cleanup.ok());
  });
}

TEST_CASE("integration: the restricted account may get, update and watch its own lease", "[integration][rbac]") {
  const auto& env = cluster_env();
  net::io_context io;
  kle::kube::ClientOptions opts;
  opts.watch_timeout = std::chrono::seconds(2);
  Client restricted(io.get_executor(), env.restricted, opts);
  run_on(io, [&]() -> net::awaitable<void> {
    auto got = co_await restricted.get_lease(env.namespace_, env.restricted_lease);
    if (!got.ok()) {
      REQUIRE(got.error().kind == ErrorKind::not_found);  // create is allowed by any name
      got = co_await restricted.create_lease(new_lease(env.namespace_, env.restricted_lease, ""));
      REQUIRE(got.ok());
    }
    // Written in the released form (empty holder, 1 s) so that an elector test sharing this
    // lease afterwards is not held up by our update.
    Lease l = got.value();
    l.spec.holder_identity = "";
    l.spec.lease_duration_seconds = 1;
    // A fresh renewTime makes this a real change: a no-op update keeps the old
    // resourceVersion, which the watch below might find expired (410) on a long-lived cluster.
    l.spec.renew_time = kle::api::micro_now();
    auto updated = co_await restricted.update_lease(l);
    REQUIRE(updated.ok());
    // The watch is allowed by resourceNames because of the metadata.name field selector;
    // with nothing changing it ends when the server's timeoutSeconds (2 s) runs out.
    std::function<void(const LeaseWatchEvent&)> ignore = [](const LeaseWatchEvent&) {};
    auto watched = co_await restricted.watch_lease(env.namespace_, env.restricted_lease,
                                                   updated->resource_version, ignore);
    INFO((watched.ok() ? std::string("ok") : watched.error().describe()));
    CHECK(watched.ok());
  });
}
