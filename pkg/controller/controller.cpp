#include <kle/controller/controller.hpp>

#include <csignal>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <kle/controller/endpoints.hpp>
#include <kle/controller/handover.hpp>
#include <kle/controller/latch.hpp>
#include <kle/controller/workload.hpp>
#include <kle/election/elector.hpp>
#include <kle/http/server.hpp>
#include <kle/kube/client.hpp>
#include <kle/kube/config.hpp>
#include <kle/kube/lease_lock.hpp>
#include <kle/labeler/labeler.hpp>
#include <kle/metrics/registry.hpp>

namespace asio = boost::asio;

namespace kle::controller {

struct Controller::Impl {
  asio::io_context& io;
  ControllerOptions opt;
  log::Logger base_log;  // unbound: the elector adds lease/namespace/identity itself
  log::Logger log;
  std::string ns;
  std::unique_ptr<kube::Client> client;
  std::shared_ptr<metrics::Registry> metrics;
  std::shared_ptr<election::Clock> clock = election::system_clock();  // the elector's and /healthz's
  std::unique_ptr<election::Elector> elector;
  std::unique_ptr<labeler::KubePodApi> pod_api;
  std::unique_ptr<labeler::Labeler> labeler;
  std::unique_ptr<Workload> workload;
  http::Server server;
  asio::signal_set signals;
  asio::steady_timer reconcile_timer;
  Latch stop_requested;  // SIGTERM/SIGINT, request_stop() or the workload's own exit
  bool shutting_down = false;
  bool finished = false;  // run() is about to return: nothing may stay pending
  bool reconcile_running = false;
  bool reconcile_again = false;
  bool startup_done = false;  // the start-up label round has ended: /readyz may answer 200
  std::optional<int> workload_exit;  // set when CMD exited on its own

  Impl(asio::io_context& io_, ControllerOptions o, log::Logger l)
      : io(io_), opt(std::move(o)), base_log(l), log(std::move(l)), server(io_, http::ServerOptions{opt.http_address}),
        signals(io_, SIGINT, SIGTERM), reconcile_timer(io_),
        stop_requested(io_.get_executor()) {}

  // Start-up: config discovery and every object. Returns an exit code on failure.
  std::optional<int> setup();
  std::optional<int> setup_elector(std::unique_ptr<election::LeaseLock> lock);
  asio::awaitable<int> serve();
  void request_stop();
  asio::awaitable<void> watch_signals();
  void finish();
  void on_event(election::Event event, const election::LeaseState& state);
  void trigger_reconcile();
  asio::awaitable<void> reconcile_rounds();
  asio::awaitable<void> periodic_reconcile();
  [[nodiscard]] bool leading() const;
  [[nodiscard]] bool following() const;
  asio::awaitable<int> shutdown();
  asio::awaitable<void> name_successor();
  asio::awaitable<void> note_newest_revision();
};

std::optional<int> Controller::Impl::setup() {
  auto discovered = kube::discover_config(opt.kubeconfig, opt.context);
  if (!discovered.ok()) {
    log.error("cannot load cluster configuration", {{"error", discovered.error().message}});
    return kExitUsage;
  }
  const std::optional<kube::ClusterConfig>& cluster = *discovered;
  ns = opt.lease_namespace;
  if (ns.empty() && cluster) ns = cluster->namespace_;
  if (ns.empty()) ns = "default";
  log = log.with({{"lease", opt.lease_name}, {"namespace", ns}});
  metrics = std::make_shared<metrics::Registry>(metrics::RegistryOptions{opt.lease_name, ns});

  std::unique_ptr<election::LeaseLock> lock;
  if (cluster) {
    log.info("using cluster", {{"source", cluster->source}, {"server", cluster->host + ":" + cluster->port}});
    kube::ClientOptions client_options;
    client_options.request_timeout = opt.request_timeout;
    client_options.log = log;  // token rotation refusals are warnings, not silence
    client = std::make_unique<kube::Client>(io.get_executor(), *cluster, client_options);
    client->set_observer(metrics->request_observer());
    lock = std::make_unique<kube::KubeLeaseLock>(*client, ns, opt.lease_name);
    if (opt.label_pods && !opt.pod_name.empty()) {
      pod_api = std::make_unique<labeler::KubePodApi>(*client, ns, opt.pod_selector);
      labeler::LabelerHooks hooks{[m = metrics](std::string_view a) { m->label_action(a); },
                                  [m = metrics] { m->label_failure(); },
                                  [m = metrics](const labeler::LabelCensus& c) {
                                    m->label_census(c.labelled, c.holder_labelled);
                                  }};
      labeler = std::make_unique<labeler::Labeler>(*pod_api, opt.pod_name, opt.leader_label, log, hooks);
    } else if (opt.label_pods) {
      log.warn("POD_NAME is not set: the leader pod will not be labelled");
    }
  } else {
    log.warn("no Kubernetes configuration found (no --kubeconfig, $KUBECONFIG, KUBERNETES_SERVICE_HOST or "
             "~/.kube/config): running standalone and assuming leadership");
  }
  if (!opt.command.empty()) {
    workload = std::make_unique<Workload>(io.get_executor(), opt.command, opt.workload_grace, log);
    workload->on_unexpected_exit([this](int status) {
      log.warn("workload exited while leading; shutting down with its status", {{"status", status}});
      workload_exit = status;
      request_stop();
    });
  }
  return setup_elector(std::move(lock));
}

std::optional<int> Controller::Impl::setup_elector(std::unique_ptr<election::LeaseLock> lock) {
  // The same conversion parse_options validated; this check stays as a backstop for a
  // namespace that only discovery (the kubeconfig context) supplied.
  election::ElectorOptions eo = to_elector_options(opt);
  eo.namespace_ = ns;
  eo.log = base_log;
  eo.observer = metrics;
  if (!labeler) eo.handover_drain = {};  // nothing routes by our label: nothing to drain
  if (eo.identity.empty()) eo.identity = election::default_identity();
  if (auto names = election::validate_names(eo); !names.ok()) {
    log.error("invalid configuration", {{"error", names.error().message}});
    return kExitUsage;
  }
  if (auto timings = election::resolve_timings(eo); !timings.ok()) {
    log.error("invalid timings", {{"error", timings.error().message}});
    return kExitUsage;
  }
  elector = std::make_unique<election::Elector>(io.get_executor(), std::move(lock), eo, clock);
  elector->on([this](election::Event e, const election::LeaseState& s) { on_event(e, s); });
  EndpointContext endpoints{elector.get(), clock.get(), metrics.get(), opt.readiness_follows_leadership};
  endpoints.started = &startup_done;
  register_endpoints(server, endpoints);
  return std::nullopt;
}

void Controller::Impl::on_event(election::Event event, const election::LeaseState& state) {
  if (shutting_down) return;
  switch (event) {
    case election::Event::leadership_acquired:
      // The event's state is the term just won: its leaseTransitions is CMD's fencing epoch.
      if (workload) workload->start(leader_env(state.transitions, elector->identity(), opt.lease_name, ns));
      trigger_reconcile();
      break;
    case election::Event::leadership_lost:
      if (workload) asio::co_spawn(io, workload->stop(), asio::detached);
      trigger_reconcile();
      break;
    case election::Event::new_leader:  // the elector logs it
    case election::Event::lease_renewed:
      break;
  }
}

bool Controller::Impl::leading() const { return !shutting_down && elector->current_leader(); }
bool Controller::Impl::following() const { return !elector->current_leader(); }

// One label round at a time, leader's or follower's; a trigger during a round schedules
// exactly one more. Each round is for the role held when it starts, and re-checks that role
// before every patch: a follower's cleanup racing a quick re-election must not strip the
// label the new leader round is about to set (or has set).
void Controller::Impl::trigger_reconcile() {
  if (!labeler) return;
  if (reconcile_running) {
    reconcile_again = true;
    return;
  }
  reconcile_running = true;
  asio::co_spawn(io, reconcile_rounds(), asio::detached);
}

asio::awaitable<void> Controller::Impl::reconcile_rounds() {
  do {
    reconcile_again = false;
    if (shutting_down) break;  // shutdown() clears our own label itself
    if (elector->current_leader()) {
      co_await labeler->reconcile_as_leader([this] { return leading(); });
      if (opt.handover_newest && pod_api) co_await note_newest_revision();
    } else {
      co_await labeler->reconcile_as_follower([this] { return following(); });
    }
  } while (reconcile_again);
  reconcile_running = false;
}

asio::awaitable<void> Controller::Impl::periodic_reconcile() {
  while (!shutting_down) {
    reconcile_timer.expires_after(opt.reconcile_interval);
    boost::system::error_code ec;
    co_await reconcile_timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec || shutting_down) co_return;
    if (elector->current_leader()) trigger_reconcile();
  }
}

// SIGTERM/SIGINT: the first asks for shutdown. One during shutdown means "hurry": the workload
// is killed without waiting out its grace period (the release still runs; it is bounded by
// the renew deadline). The loop ends with finish(), so it never keeps the io_context alive.
asio::awaitable<void> Controller::Impl::watch_signals() {
  for (;;) {
    boost::system::error_code ec;
    const int signo = co_await signals.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec || finished) co_return;
    if (!stop_requested.is_set()) {
      log.info("signal received", {{"signal", signo}});
      request_stop();
    } else if (workload && workload->hurry()) {
      log.warn("signal received while shutting down: killing the workload without waiting out its grace",
               {{"signal", signo}});
    } else {
      log.info("signal received while shutting down: already stopping", {{"signal", signo}});
    }
  }
}

void Controller::Impl::request_stop() { stop_requested.set(); }

// The leader's record of the newest Ready revision (docs/HANDOVER.md, "After a crash"): one
// list of our release's pods per leader round (on leadership events and every
// --reconcile-interval); the next renewal writes it if it changed. A failed list changes nothing.
asio::awaitable<void> Controller::Impl::note_newest_revision() {
  const auto pods = co_await pod_api->list("");
  if (!pods || !leading()) co_return;
  elector->note_newest_revision(newest_ready_revision(pods.value().items));
}

// One list of our release's pods; a failure only means the release names nobody.
asio::awaitable<void> Controller::Impl::name_successor() {
  const auto pods = co_await pod_api->list("");
  if (!pods) {
    log.warn("cannot list pods to name a successor; releasing to anyone", {{"error", pods.error().describe()}});
    co_return;
  }
  const auto successor = choose_successor(pods.value().items, opt.pod_name, opt.revision);
  if (!successor) {
    log.info("no Ready pod of a revision at least as new as ours: releasing to anyone", {});
    co_return;
  }
  log.info("releasing to a successor", {{"successor", successor->pod}, {"revision", successor->revision}});
  elector->set_release_hint(successor->pod, successor->revision);
}

// Stop order (docs/HANDOVER.md): a stopping leader keeps leading, and answering as the leader,
// until the one write that ends its term. It clears its own label (the record still names it,
// so nobody else can lead or be labelled yet), stops the workload (it must be gone before
// anyone else leads), names a successor, then steps down and releases in one step (stop()).
// The successor takes the lease within one round trip of the release. Requests that kube-proxy
// still sends here afterwards get a truthful follower's answer naming the new holder for
// --drain, not a refused connection; then the endpoints close.
asio::awaitable<int> Controller::Impl::shutdown() {
  shutting_down = true;
  reconcile_timer.cancel();
  const bool was_leader = elector->current_leader();
  log.info("shutting down", {{"leader", was_leader}});
  if (labeler) co_await labeler->reconcile_as_follower([] { return true; });
  if (workload) co_await workload->stop();
  if (was_leader && opt.handover_newest && pod_api) co_await name_successor();
  co_await elector->stop();
  if (was_leader && labeler && opt.drain.count() > 0) {
    log.info("released; answering as a follower while the routing follows", {{"drain_ms", opt.drain.count()}});
    asio::steady_timer drain(io);
    drain.expires_after(opt.drain);
    boost::system::error_code ignored;
    co_await drain.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
  server.stop();
  if (client) client->close();
  if (workload_exit) co_return *workload_exit;
  if (workload && workload->last_status()) co_return *workload->last_status();
  co_return kExitOk;
}

// Every wait that outlives run() on its own: the signal watch and the workload's SIGCHLD
// wait. After this the io_context runs out, and main() returns run()'s code.
void Controller::Impl::finish() {
  finished = true;
  boost::system::error_code ignored;
  signals.cancel(ignored);
  if (workload) workload->close();
}

asio::awaitable<int> Controller::Impl::serve() {
  if (auto failed = setup()) co_return *failed;
  if (auto started = server.start(); !started.ok()) {
    log.error("cannot serve HTTP", {{"error", started.error().message}});
    co_return kExitUsage;
  }
  log.info("serving", {{"address", opt.http_address}, {"port", server.port()}});
  asio::co_spawn(io, watch_signals(), asio::detached);  // a signal during start-up counts too
  // A container restarted in its pod (kill -9, OOM) finds the label of its last life: clear
  // it before campaigning, and before /readyz lets the pod be Ready (labeler.hpp).
  if (labeler) co_await labeler->reconcile_as_follower([this] { return following(); });
  startup_done = true;
  co_await elector->start();
  asio::co_spawn(io, periodic_reconcile(), asio::detached);
  co_await stop_requested.wait();
  co_return co_await shutdown();
}

Controller::Controller(asio::io_context& io, ControllerOptions options, log::Logger log)
    : impl_(std::make_unique<Impl>(io, std::move(options), std::move(log))) {}

Controller::~Controller() = default;

asio::awaitable<int> Controller::run() {
  Impl& c = *impl_;
  const int code = co_await c.serve();
  c.finish();
  co_return code;
}

void Controller::request_stop() { impl_->request_stop(); }

}  // namespace kle::controller
