#pragma once
// The Elector: the seed's surface (start/stop, events, properties) over client-go's
// algorithm. All work runs on one io_context; handlers are posted, never run inside the
// election loop, so a slow handler cannot delay a renewal.
// Failure: if any of its coroutines throws (a throwing logger or observer, bad_alloc), the
// elector fails closed and loudly: it stops leading at once (leadership_lost), stops, and
// once its loop has ended the exception is rethrown out of io_context::run().
// docs/ELECTOR-STATES.md has the states and the rules.
//
// Threading: one thread. An Elector is not thread-safe and takes no locks. Construct it and
// subscribe (on/off) anywhere; from start() on, every call, the getters and the destructor included,
// must be made on the thread that ran start(), and its io_context must be run by that one thread (event
// handlers run there too). The Electors of one io_context share one timer queue per Clock, so
// none of them may be driven from another thread either. To read its state from elsewhere,
// post to its executor. With assertions on (no NDEBUG), a call or a resumed coroutine on
// another thread aborts the process with the call's name; release builds check nothing.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include <kle/election/clock.hpp>
#include <kle/election/event.hpp>
#include <kle/election/lease_lock.hpp>
#include <kle/election/options.hpp>

namespace kle::election {

using EventHandler = std::function<void(Event, const LeaseState&)>;

class Elector {
 public:
  // Standalone mode (no cluster): pass a null lock; the elector assumes leadership and
  // says so in its log. Throws std::invalid_argument when options do not validate
  // (start-up only; use resolve_timings()/validate_names() to check without throwing).
  Elector(boost::asio::any_io_executor ex, std::unique_ptr<LeaseLock> lock, ElectorOptions options,
          const std::shared_ptr<Clock>& clock = nullptr);
  ~Elector();
  Elector(const Elector&) = delete;
  Elector& operator=(const Elector&) = delete;

  // Returns a subscription id.
  std::uint64_t on(EventHandler handler);
  void off(std::uint64_t id);

  // Idempotent. Completes at once, or once a leader is known with wait_for_leadership
  // (or stop() is called). An elector runs once: start() after stop() does nothing.
  boost::asio::awaitable<void> start();
  // Idempotent. Stops believing first (current_leader() false, leadership_lost emitted),
  // then releases a lease that names us (holder "", duration 1; re-read and retried on
  // conflict, bounded by the renew deadline), including one whose acquisition was still
  // in flight. Completes when the loop has ended.
  boost::asio::awaitable<void> stop();

  // Planned handover (docs/HANDOVER.md). Stops believing at once (leadership_lost), keeps
  // the record naming us for options.handover_drain, then releases it naming `successor`
  // (annotation kube-leader-elector.io/preferred-holder, plus newest-revision when given)
  // in one conditional write, and goes on as a follower. False when not leading.
  bool hand_over(std::string successor, std::string newest_revision = {});
  // Stops believing at once (leadership_lost) without releasing: nobody else can take the
  // record that still names us, and we never take it back. stop() then releases it. (stop()
  // alone also steps down before its release; resign() is for a caller that must stop
  // believing some time before it can release.)
  void resign();
  // The successor (and newest revision) stop()'s release names; empty: none.
  void set_release_hint(std::string successor, std::string newest_revision = {});
  // The newest revision (pod-template-hash) that has a Ready pod, as the caller last saw it.
  // While leading, the next renewal records it on the Lease (newest-revision), so followers
  // of older revisions hold back after a crash too. Empty: unknown, nothing is written.
  void note_newest_revision(std::string revision);

  [[nodiscard]] bool current_leader() const noexcept;
  [[nodiscard]] const std::string& lease_name() const noexcept;
  [[nodiscard]] const std::string& identity() const noexcept;
  [[nodiscard]] const std::string& lease_namespace() const noexcept;
  [[nodiscard]] LeaseState lease_state() const;     // holder, transitions (fencing epoch), times
  [[nodiscard]] std::string current_holder() const;
  [[nodiscard]] std::int64_t fencing_epoch() const noexcept;
  [[nodiscard]] const ResolvedTimings& timings() const noexcept;
  // Monotonic time (the Clock's) at which the last successful acquire/renew was sent;
  // nullopt when never leader, and in standalone mode (there is no lease to renew).
  [[nodiscard]] std::optional<Clock::time_point> last_renewal() const noexcept;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kle::election
