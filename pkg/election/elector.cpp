// The Elector's public surface and what its drivers share: carrying out the machine's
// effects, stopping, and failing closed. The loop's driver is in elector_loop.cpp, the
// watch's and the deadline's in elector_watch.cpp; the rules are in machine*.cpp.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "elector_impl.hpp"

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

void Latch::set() {
  set_ = true;
  if (timer_) timer_->cancel();
}

asio::awaitable<void> Latch::wait() {
  if (set_) co_return;
  if (!timer_) {
    timer_ = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
    timer_->expires_at(std::chrono::steady_clock::time_point::max());
  }
  while (!set_) {
    boost::system::error_code ec;
    co_await timer_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void OwnerThread::claim() noexcept {
#ifndef NDEBUG
  auto unowned = std::thread::id{};
  owner_.compare_exchange_strong(unowned, std::this_thread::get_id());
#endif
  check("start()");
}

void OwnerThread::check(const char* call) const noexcept {
#ifndef NDEBUG
  const auto owner = owner_.load();
  if (owner == std::thread::id{} || owner == std::this_thread::get_id()) return;
  std::fprintf(stderr,
               "kle::election::Elector: %s on a thread other than the one that started it; an Elector "
               "is used from one thread only (see Threading in kle/election/elector.hpp)\n",
               call);
  std::abort();
#else
  (void)call;
#endif
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

MachineConfig machine_config(const ElectorOptions& options, const ResolvedTimings& timings, bool standalone) {
  MachineConfig c;
  c.identity = options.identity;
  c.lease_name = options.lease_name;
  c.lease_namespace = options.namespace_;
  c.timings = timings;
  c.release_on_stop = options.release_on_stop;
  c.standalone = standalone;
  c.log = (options.log ? *options.log : log::null_logger())
              .with({{"lease", options.lease_name}, {"namespace", options.namespace_}, {"identity", options.identity}});
  c.revision = options.revision;
  c.handover_grace = options.handover_grace;
  c.older_grace = options.older_grace;
  c.handover_drain = options.handover_drain;
  return c;
}

}  // namespace

Elector::Impl::Impl(asio::any_io_executor executor, std::unique_ptr<LeaseLock> lease_lock, const ElectorOptions& opts,
                    const std::shared_ptr<Clock>& clk)
    : ex(std::move(executor)),
      lock(std::move(lease_lock)),
      observer(opts.observer),
      machine(machine_config(opts, timings_or_throw(opts), lock == nullptr)),
      auto_close(opts.auto_close),
      wait_for_leadership(opts.wait_for_leadership),
      timers(detail::timer_queue_for(ex, clk ? clk : system_clock())),
      loop_sleep(*timers, &Impl::sleep_ended, this),
      watch_wait(*timers, &Impl::watch_wait_ended, this),
      watchdog(*timers, &Impl::watchdog_due, this) {}

Elector::Impl::~Impl() {
  if (coro_timer) clock()->disarm(*coro_timer);
}

// Carries out what the machine decided besides I/O, in its order.
void Elector::Impl::flush() {
  owner.check("a step of its election loop");
  for (const Effect& e : machine.take_effects()) {
    switch (e.kind) {
      case Effect::Kind::emit: post_event(e.event, e.state); break;
      case Effect::Kind::leadership:
        if (lock) arm_watchdog();  // the deadline moved
        if (observer) observer->on_leadership(e.flag);
        break;
      case Effect::Kind::renewal:
        if (observer) observer->on_renewal(e.flag, e.latency);
        break;
      case Effect::Kind::observed_transitions:
        if (observer) observer->on_observed_transitions(e.transitions);
        break;
      case Effect::Kind::leader_known: leader_known.set(); break;
    }
  }
}

EventHandler* Elector::Impl::handler(std::uint64_t id) {
  const auto it = std::lower_bound(handlers.begin(), handlers.end(), id,
                                   [](const auto& entry, std::uint64_t key) { return entry.first < key; });
  return it != handlers.end() && it->first == id ? &it->second : nullptr;
}

// Handlers are posted, never called here, so a slow or blocking handler cannot delay a
// renewal; one unsubscribed before it runs is not called.
void Elector::Impl::post_event(Event event, const LeaseState& payload) {
  std::weak_ptr<Impl> weak = weak_from_this();
  for (const auto& entry : handlers) {
    asio::post(ex, [weak, id = entry.first, event, payload] {
      auto self = weak.lock();
      if (!self) return;
      EventHandler* found = self->handler(id);
      if (found == nullptr) return;
      EventHandler handler = *found;  // a copy: the handler may call off() on itself
      handler(event, payload);
    });
  }
}

// Ends the loop's sleep, if it sleeps. woke() is posted, as the cancelled wait's handler
// was, never run inside its waker; posted before the sleep is cancelled, so a failed post
// leaves the sleep to end at its deadline rather than never.
void Elector::Impl::wake() {
  wake_pending = true;
  if (coro_timer) coro_timer->cancel();
  if (!loop_sleep.armed()) return;
  asio::post(ex, [self = shared_from_this()] { self->woke(); });
  loop_sleep.cancel();
}

void Elector::Impl::request_stop() {
  machine.request_stop();
  // An observer that throws in flush() must not leave the loop asleep or the watch open (the
  // stop would then wait for the sleep's deadline): the stop's own steps run regardless.
  std::exception_ptr observer_error;
  try {
    flush();
  } catch (...) {
    observer_error = std::current_exception();
  }
  wake();
  disarm_watchdog();
  watch_wait.cancel();
  watch_cancel.emit(asio::cancellation_type::terminal);
  if (signals) {
    boost::system::error_code ignored;
    signals->cancel(ignored);
  }
  if (observer_error) std::rethrow_exception(observer_error);
}

// A coroutine ended with an exception (any type: a throwing log sink or observer,
// bad_alloc). The loop and its safety nets only work together, so the elector fails
// closed: it stops believing first (nothing before that can throw), then stops, which
// cancels the watch and lets the loop release the lease if it still can. The loop's end
// rethrows the first failure, out of io_context::run(): an elector that cannot keep its
// promises must not look like a healthy follower.
void Elector::Impl::fail(const std::exception_ptr& error, const char* coroutine) noexcept {
  if (!failure) failure = error;
  try {
    machine.fail_closed();
  } catch (...) {  // leadership already ended; only the leadership_lost event is lost
  }
  try {
    std::string what = "not a std::exception";
    try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {  // described above
    }
    machine.log().error("an elector coroutine failed: stepped down and stopping", {{"coroutine", coroutine}, {"error", what}});
  } catch (...) {  // the logger may be what failed
  }
  try {
    request_stop();  // flushes the leadership_lost queued by fail_closed()
  } catch (...) {  // a throwing observer: leadership has ended all the same
  }
}

// The watch or the watchdog threw. Before the loop has ended, its end rethrows the failure;
// after, nobody else will.
void Elector::Impl::safety_net_failed(const std::exception_ptr& error, const char* which) {
  fail(error, which);
  if (loop_done.is_set()) asio::post(ex, [error] { std::rethrow_exception(error); });
}

// ---- public surface

Elector::Elector(asio::any_io_executor ex, std::unique_ptr<LeaseLock> lock, ElectorOptions options,
                 const std::shared_ptr<Clock>& clock) {
  const ElectorOptions opts = checked(std::move(options), lock.get());
  impl_ = std::make_shared<Impl>(std::move(ex), std::move(lock), opts, clock);
}

Elector::~Elector() {
  // The loop owns the state; ask it to stop (and release) but never call user handlers again.
  impl_->owner.check("~Elector()");
  impl_->handlers.clear();
  if (!impl_->started) return;
  if (!impl_->machine.stopping()) {
    impl_->request_stop();
  } else {
    // Already stopping, yet the loop may still sleep (a failure whose stop an observer cut
    // short): a sleep holds nothing that keeps the Impl alive, so end it now; the release runs.
    impl_->wake();
  }
}

std::uint64_t Elector::on(EventHandler handler) {
  impl_->owner.check("on()");
  const auto id = impl_->next_handler_id++;
  impl_->handlers.emplace_back(id, std::move(handler));
  return id;
}

void Elector::off(std::uint64_t id) {
  impl_->owner.check("off()");
  std::erase_if(impl_->handlers, [id](const auto& entry) { return entry.first == id; });
}

asio::awaitable<void> Elector::start() {
  auto self = impl_;
  self->owner.claim();
  if (!self->started && !self->machine.stopping()) {
    self->started = true;
    self->spawn();
  }
  if (self->wait_for_leadership) co_await self->leader_known.wait();
}

asio::awaitable<void> Elector::stop() {
  auto self = impl_;
  self->owner.check("stop()");
  if (!self->started) {
    self->machine.request_stop();  // a never-started elector stays stopped
    self->flush();
    self->loop_done.set();
    co_return;
  }
  if (!self->machine.stopping()) {
    self->request_stop();
  } else {
    self->wake();  // as ~Elector: a stop cut short may have left the loop asleep
  }
  co_await self->loop_done.wait();
}

bool Elector::hand_over(std::string successor, std::string newest_revision) {
  impl_->owner.check("hand_over()");
  HandoverHint hint{std::move(successor), std::move(newest_revision)};
  const bool started = impl_->machine.hand_over(impl_->clock()->now(), std::move(hint));
  impl_->flush();
  impl_->wake();
  return started;
}

void Elector::resign() {
  impl_->owner.check("resign()");
  impl_->machine.resign();
  impl_->flush();
  impl_->wake();
}

void Elector::note_newest_revision(std::string revision) {
  impl_->owner.check("note_newest_revision()");
  impl_->machine.set_newest_revision(std::move(revision));
}

void Elector::set_release_hint(std::string successor, std::string newest_revision) {
  impl_->owner.check("set_release_hint()");
  impl_->machine.set_release_hint(HandoverHint{std::move(successor), std::move(newest_revision)});
}

// The getters read the machine, which the election loop writes: the same thread only.
bool Elector::current_leader() const noexcept {
  impl_->owner.check("current_leader()");
  return impl_->machine.leader();
}
const std::string& Elector::lease_name() const noexcept { return impl_->machine.config().lease_name; }
const std::string& Elector::identity() const noexcept { return impl_->machine.config().identity; }
const std::string& Elector::lease_namespace() const noexcept { return impl_->machine.config().lease_namespace; }
LeaseState Elector::lease_state() const {
  impl_->owner.check("lease_state()");
  return impl_->machine.state();
}
std::string Elector::current_holder() const {
  impl_->owner.check("current_holder()");
  return impl_->machine.state().holder;
}
std::int64_t Elector::fencing_epoch() const noexcept {
  impl_->owner.check("fencing_epoch()");
  return impl_->machine.epoch();
}
const ResolvedTimings& Elector::timings() const noexcept { return impl_->machine.config().timings; }
std::optional<Clock::time_point> Elector::last_renewal() const noexcept {
  impl_->owner.check("last_renewal()");
  return impl_->machine.last_renewal();
}

}  // namespace kle::election
