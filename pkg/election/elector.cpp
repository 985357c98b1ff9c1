// The Elector's public surface, its events and what it concludes from each observed
// record. The loop itself is in elector_loop.cpp, the watch and deadline in elector_watch.cpp.
#include <charconv>
#include <functional>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "election/elector_impl.hpp"

namespace kle::election {

namespace asio = boost::asio;

const char* to_string(Event e) noexcept {
  switch (e) {
    case Event::leadership_acquired: return "leadership_acquired";
    case Event::leadership_lost: return "leadership_lost";
    case Event::lease_renewed: return "lease_renewed";
    case Event::new_leader: return "new_leader";
  }
  return "unknown";
}

namespace detail {

Latch::Latch(const asio::any_io_executor& ex) : timer_(ex) {
  timer_.expires_at(std::chrono::steady_clock::time_point::max());
}

void Latch::set() {
  set_ = true;
  timer_.cancel();
}

asio::awaitable<void> Latch::wait() {
  while (!set_) {
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace detail

namespace {

ElectorOptions checked(ElectorOptions options, const LeaseLock* lock) {
  if (lock) {
    // The lock defines what is actually contended; the options only describe it.
    options.lease_name = lock->lease_name();
    options.namespace_ = lock->lease_namespace();
  }
  options = with_defaults(std::move(options));
  if (auto names = validate_names(options); !names) throw std::invalid_argument(names.error().message);
  return options;
}

ResolvedTimings timings_or_throw(const ElectorOptions& options) {
  auto t = resolve_timings(options);
  if (!t) throw std::invalid_argument(t.error().message);
  return t.value();
}

// resourceVersions are opaque, but the apiserver's are etcd revisions; when both parse we
// use the order to drop a watch event older than a write response we already hold.
bool older_version(const std::string& a, const std::string& b) {
  std::uint64_t x = 0;
  std::uint64_t y = 0;
  const auto ra = std::from_chars(a.data(), a.data() + a.size(), x);
  const auto rb = std::from_chars(b.data(), b.data() + b.size(), y);
  if (ra.ec != std::errc() || rb.ec != std::errc() || ra.ptr != a.data() + a.size() ||
      rb.ptr != b.data() + b.size()) {
    return false;
  }
  return x < y;
}

}  // namespace

Elector::Impl::Impl(asio::any_io_executor executor, std::unique_ptr<LeaseLock> lease_lock, ElectorOptions opts,
                    std::shared_ptr<Clock> clk)
    : ex(std::move(executor)),
      lock(std::move(lease_lock)),
      options(checked(std::move(opts), lock.get())),
      timings(timings_or_throw(options)),
      clock(clk ? std::move(clk) : system_clock()),
      log((options.log ? *options.log : log::null_logger())
              .with({{"lease", options.lease_name}, {"namespace", options.namespace_}, {"identity", options.identity}})),
      lease_name(options.lease_name),
      lease_namespace(options.namespace_),
      rng(std::hash<std::string>{}(options.identity)),
      wake_timer(ex),
      watchdog_timer(ex),
      watch_timer(ex),
      watch_quiet_timer(ex),
      release_timer(ex),
      loop_done(ex),
      leader_known(ex) {}

Elector::Impl::~Impl() {
  for (auto* t : {&wake_timer, &watchdog_timer, &watch_timer, &watch_quiet_timer, &release_timer}) clock->disarm(*t);
}

LeaseState Elector::Impl::state() const {
  LeaseState s;
  if (!lock) {
    s.holder = leader ? options.identity : std::string();
    s.lease_duration = std::chrono::duration_cast<std::chrono::seconds>(timings.lease_duration);
    return s;
  }
  if (!observed) return s;
  s.holder = observed->spec.holder_identity.value_or("");
  s.transitions = observed->spec.lease_transitions.value_or(0);
  s.acquire_time = observed->spec.acquire_time;
  s.renew_time = observed->spec.renew_time;
  s.lease_duration = std::chrono::seconds(observed->spec.lease_duration_seconds.value_or(0));
  return s;
}

std::string Elector::Impl::observed_holder() const {
  return (observed && exists) ? observed->spec.holder_identity.value_or("") : std::string();
}

// Handlers are posted, never called here, so a slow or throwing-free-but-blocking handler
// cannot delay a renewal; one unsubscribed before it runs is not called.
void Elector::Impl::emit(Event event) {
  const LeaseState payload = state();
  std::weak_ptr<Impl> weak = weak_from_this();
  for (const auto& entry : handlers) {
    asio::post(ex, [weak, id = entry.first, event, payload] {
      auto self = weak.lock();
      if (!self) return;
      auto it = self->handlers.find(id);
      if (it == self->handlers.end()) return;
      EventHandler handler = it->second;  // a copy: the handler may call off() on itself
      handler(event, payload);
    });
  }
}

// Only the pace of the quiet-watch detector depends on this: two renewTimes of one holder
// are compared with each other (never with our clock), clamped, and never judge expiry.
void Elector::Impl::learn_cadence(const api::Lease& lease) {
  if (!observed || !exists || observed_holder() != lease.spec.holder_identity.value_or("")) {
    holder_cadence.reset();  // a new holder: its cadence is not known yet
    return;
  }
  const auto& before = observed->spec.renew_time;
  const auto& after = lease.spec.renew_time;
  if (!before || !after || *after <= *before) return;
  const auto cap = std::chrono::duration_cast<std::chrono::microseconds>(timings.lease_duration);
  const Clock::duration gap = std::min<std::chrono::microseconds>(*after - *before, cap);
  if (!holder_cadence || gap < *holder_cadence) holder_cadence = gap;
}

void Elector::Impl::observe(const api::Lease& lease) {
  if (observed && exists && older_version(lease.resource_version, observed->resource_version)) return;
  learn_cadence(lease);
  const bool changed = !observed || !exists || observed->spec != lease.spec;
  observed = lease;
  exists = true;
  if (!lease.resource_version.empty()) watch_rv = lease.resource_version;
  if (changed) observed_at = clock->now();
  if (options.observer) options.observer->on_observed_transitions(lease.spec.lease_transitions.value_or(0));

  const std::string holder = lease.spec.holder_identity.value_or("");
  if (!reported_holder || *reported_holder != holder) {
    reported_holder = holder;
    log.info("new leader observed", {{"holder", holder}, {"transitions", lease.spec.lease_transitions.value_or(0)}});
    emit(Event::new_leader);
  }
  if (uncertain && lease.spec == uncertain->spec) {
    const Pending landed = *uncertain;
    uncertain.reset();
    log.info("an unconfirmed write turned out to have succeeded", {{"holder", holder}});
    accept_write(lease, landed.sent, landed.step_downs);
    return;
  }
  if (leader && holder != options.identity) step_down("the lease is now held by \"" + holder + "\"");
}

// A deleted Lease carries nobody's claim: an elector that never saw the old record may
// create a new one at once. So the leader stops believing now and re-creates the lease
// (followers that saw our record wait its term out, so we normally win it straight back).
void Elector::Impl::observe_deleted(const std::string& resource_version) {
  exists = false;
  if (!resource_version.empty()) watch_rv = resource_version;
  log.warn("lease deleted", {{"holder", observed ? observed->spec.holder_identity.value_or("") : std::string()}});
  step_down("the lease was deleted");
}

// A write landed. It counts as a renewal only if it was sent within the renew deadline:
// later than that, followers may already be counting down from an older record.
void Elector::Impl::accept_write(const api::Lease& written, Clock::time_point sent, std::uint64_t sent_step_downs) {
  observe(written);
  if (stopping) return;  // shutdown() releases a record that names us
  const auto now = clock->now();
  if (now - sent >= timings.renew_deadline) {
    if (leader) step_down("a renewal confirmed only after the renew deadline");
    log.warn("write confirmed too late to lead; waiting the term out", {});
    return;
  }
  if (observed_holder() != options.identity) return;
  if (sent_step_downs != step_downs) {
    // Sent before we gave leadership up (a renewal that stalled past the deadline and landed
    // unseen, or whose answer came late). Crediting it from its send time would be safe,
    // but it takes back what we gave up a moment ago: lost then acquired within a round
    // trip, a workload stopped and started, two transitions counted. So it is not credited:
    // the record names a stale self, and decide() makes us wait its term out like every
    // other follower (from when we saw it). Re-writing it at once instead would also be
    // safe, and would be the same flap. Leadership comes back only through a write sent
    // after the step-down, once the term is over, and then any follower may win it.
    if (!leader) log.info("a write sent before stepping down landed; not taking leadership back", {});
    return;
  }
  last_renewal = sent;
  next_renew = sent + timings.retry_period;
  if (options.observer) options.observer->on_renewal(true, now - sent);
  if (!leader) {
    become_leader("acquired");
  } else {
    log.debug("lease renewed", {{"holder", options.identity},
                                {"transitions", written.spec.lease_transitions.value_or(0)}});
    emit(Event::lease_renewed);
  }
}

void Elector::Impl::become_leader(const char* how) {
  leader = true;
  watchdog_timer.cancel();  // re-arm at the new deadline
  leader_known.set();
  const auto transitions = observed ? observed->spec.lease_transitions.value_or(0) : 0;
  log.info("leadership acquired", {{"holder", options.identity}, {"transitions", transitions}, {"how", how}});
  if (options.observer) options.observer->on_leadership(true);
  emit(Event::leadership_acquired);
}

void Elector::Impl::step_down(const std::string& why) {
  if (!leader) return;
  leader = false;
  ++step_downs;
  watchdog_timer.cancel();
  const auto transitions = observed ? observed->spec.lease_transitions.value_or(0) : 0;
  log.warn("leadership lost", {{"holder", observed_holder()}, {"transitions", transitions}, {"why", why}});
  if (options.observer) options.observer->on_leadership(false);
  emit(Event::leadership_lost);
}

void Elector::Impl::wake() {
  wake_pending = true;
  wake_timer.cancel();
}

void Elector::Impl::request_stop() {
  stopping = true;
  wake();
  watchdog_timer.cancel();
  watch_timer.cancel();
  watch_cancel.emit(asio::cancellation_type::terminal);
  if (signals) {
    boost::system::error_code ignored;
    signals->cancel(ignored);
  }
  leader_known.set();  // a start() waiting for a leader must not wait forever
}

// client-go's wait.Jitter: d + rand[0,1) x jitter x d.
Clock::duration Elector::Impl::jittered(Clock::duration d) {
  std::uniform_real_distribution<double> dist(0.0, 1.0);
  const double extra = dist(rng) * timings.jitter * static_cast<double>(d.count());
  return d + Clock::duration(static_cast<Clock::duration::rep>(extra));
}

// ---- public surface

Elector::Elector(asio::any_io_executor ex, std::unique_ptr<LeaseLock> lock, ElectorOptions options,
                 std::shared_ptr<Clock> clock)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(lock), std::move(options), std::move(clock))) {}

Elector::~Elector() {
  // The loop owns the state; ask it to stop (and release) but never call user handlers again.
  impl_->handlers.clear();
  if (impl_->started && !impl_->stopping) impl_->request_stop();
}

std::uint64_t Elector::on(EventHandler handler) {
  const auto id = impl_->next_handler_id++;
  impl_->handlers.emplace(id, std::move(handler));
  return id;
}

void Elector::off(std::uint64_t id) { impl_->handlers.erase(id); }

asio::awaitable<void> Elector::start() {
  auto self = impl_;
  if (!self->started && !self->stopping) {
    self->started = true;
    self->spawn();
  }
  if (self->options.wait_for_leadership) co_await self->leader_known.wait();
}

asio::awaitable<void> Elector::stop() {
  auto self = impl_;
  if (!self->started) {
    self->stopping = true;  // a never-started elector stays stopped
    self->loop_done.set();
    co_return;
  }
  if (!self->stopping) self->request_stop();
  co_await self->loop_done.wait();
}

bool Elector::current_leader() const noexcept { return impl_->leader; }
const std::string& Elector::lease_name() const noexcept { return impl_->lease_name; }
const std::string& Elector::identity() const noexcept { return impl_->options.identity; }
const std::string& Elector::lease_namespace() const noexcept { return impl_->lease_namespace; }
LeaseState Elector::lease_state() const { return impl_->state(); }
std::string Elector::current_holder() const { return impl_->state().holder; }
std::int64_t Elector::fencing_epoch() const noexcept {
  return impl_->observed ? impl_->observed->spec.lease_transitions.value_or(0) : 0;
}
const ResolvedTimings& Elector::timings() const noexcept { return impl_->timings; }
std::optional<Clock::time_point> Elector::last_renewal() const noexcept { return impl_->last_renewal; }

}  // namespace kle::election
