#pragma once
// The Elector's state and its coroutines (internal). Everything runs on one executor, so
// no locking: coroutines interleave only at co_await points.
//   run()       acquire phase (decide on the watched record, write when free/expired) and
//               renew phase (PUT the cached lease every retry period), then shutdown.
//   watch_loop  follower fast path: every Lease event updates the record and wakes run();
//               a stream that goes quiet while someone else holds the lease is reconnected.
//   watchdog    steps down the moment the renew deadline passes, even mid-request.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "election/decision.hpp"
#include "election/elector.hpp"

namespace kle::election::detail {

// A one-shot flag that coroutines can wait on.
class Latch {
 public:
  explicit Latch(const boost::asio::any_io_executor& ex);
  void set();
  [[nodiscard]] bool is_set() const noexcept { return set_; }
  boost::asio::awaitable<void> wait();

 private:
  boost::asio::steady_timer timer_;
  bool set_ = false;
};

// The outcome of one create/update, as the loop needs it.
struct WriteOutcome {
  bool ok = false;
  bool retry_now = false;  // conflict / not found: re-read (or re-create) without waiting
  std::chrono::seconds retry_after{0};
};

}  // namespace kle::election::detail

namespace kle::election {

struct Elector::Impl : std::enable_shared_from_this<Elector::Impl> {
  Impl(boost::asio::any_io_executor executor, std::unique_ptr<LeaseLock> lease_lock, ElectorOptions opts,
       std::shared_ptr<Clock> clk);
  ~Impl();

  // --- configuration
  boost::asio::any_io_executor ex;
  std::unique_ptr<LeaseLock> lock;  // null: standalone
  ElectorOptions options;
  ResolvedTimings timings;
  std::shared_ptr<Clock> clock;
  log::Logger log;
  std::string lease_name;
  std::string lease_namespace;
  std::mt19937_64 rng;

  // --- subscriptions
  std::map<std::uint64_t, EventHandler> handlers;
  std::uint64_t next_handler_id = 1;

  // --- the Lease as observed
  std::optional<api::Lease> observed;  // kept as a tombstone after a delete
  bool exists = false;
  Clock::time_point observed_at{};
  std::string watch_rv;
  std::optional<std::string> reported_holder;
  // The holder's renewal cadence: the smallest gap between consecutive renewTimes of one
  // holder (a missed renewal only makes a gap longer). Paces the quiet-watch detector.
  std::optional<Clock::duration> holder_cadence;

  // --- leadership
  bool leader = false;
  std::optional<Clock::time_point> last_renewal;
  // Counts step-downs. A write remembers the count it was sent under; one sent before the
  // latest step-down never makes us leader again (see accept_write).
  std::uint64_t step_downs = 0;
  // A write whose outcome we do not know (timeout, transport): if the record later shows
  // exactly this spec, the write landed and counts as a success from `sent`.
  struct Pending {
    api::LeaseSpec spec;
    Clock::time_point sent;
    std::uint64_t step_downs = 0;  // as when sent
  };
  std::optional<Pending> uncertain;

  // --- loop state
  bool started = false;
  bool stopping = false;
  bool need_get = true;
  bool watch_up = false;
  Clock::time_point watch_active_at{};  // the current stream's start or its latest event
  int quiet_reconnects = 0;             // in a row, with no event since
  bool wake_pending = false;
  Clock::time_point next_poll{};
  Clock::time_point next_renew{};
  boost::asio::steady_timer wake_timer;
  boost::asio::steady_timer watchdog_timer;
  boost::asio::steady_timer watch_timer;
  boost::asio::steady_timer watch_quiet_timer;
  boost::asio::steady_timer release_timer;
  boost::asio::cancellation_signal watch_cancel;
  std::optional<boost::asio::signal_set> signals;
  detail::Latch loop_done;
  detail::Latch leader_known;

  // elector.cpp: events, observation, leadership bookkeeping
  [[nodiscard]] LeaseState state() const;
  [[nodiscard]] std::string observed_holder() const;
  void emit(Event event);
  void observe(const api::Lease& lease);
  void learn_cadence(const api::Lease& lease);
  void observe_deleted(const std::string& resource_version);
  void accept_write(const api::Lease& written, Clock::time_point sent, std::uint64_t sent_step_downs);
  void become_leader(const char* how);
  void step_down(const std::string& why);
  void wake();
  void request_stop();
  [[nodiscard]] Clock::duration jittered(Clock::duration d);

  // elector_loop.cpp: the election loop
  void spawn();
  boost::asio::awaitable<void> run();
  boost::asio::awaitable<void> acquire_step();
  boost::asio::awaitable<void> renew_step();
  boost::asio::awaitable<bool> refresh();
  boost::asio::awaitable<detail::WriteOutcome> write(const Decision& d);
  boost::asio::awaitable<void> shutdown();
  boost::asio::awaitable<void> release_lease(std::optional<api::Lease> held);
  boost::asio::awaitable<void> sleep_until(Clock::time_point deadline);
  boost::asio::awaitable<void> sleep_on(boost::asio::steady_timer& timer, Clock::time_point deadline);
  [[nodiscard]] DecisionInput decision_input() const;

  // elector_watch.cpp: the follower's watch and the leader's deadline
  boost::asio::awaitable<void> watch_loop();
  boost::asio::awaitable<void> watch_went_quiet();
  [[nodiscard]] Clock::time_point watch_quiet_deadline() const;
  boost::asio::awaitable<void> watchdog();
  void on_watch_event(const LeaseEvent& event);
  void arm_signals();
};

}  // namespace kle::election
