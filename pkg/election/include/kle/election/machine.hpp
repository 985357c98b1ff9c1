#pragma once
// The election loop as a sans-io state machine (issue 13), in the manner of Boost.Redis:
// every rule of the loop lives here, every input is a method that takes the time it
// happened, and what the drivers must do comes back as a value: the next I/O step of the
// loop (LoopStep), of the watch (WatchRetry), of the release (ReleaseStep), and effects to
// carry out (Effect: emit an event, tell the observer). No Asio, no clock, no I/O: the
// coroutines in elector_loop.cpp / elector_watch.cpp only perform the steps and feed the
// results back, and tests drive it step by step (tests/unit/election/test_machine*.cpp).
// docs/ELECTOR-STATES.md draws the states and who owns which data.
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <kle/api/lease.hpp>
#include <kle/api/result.hpp>
#include <kle/election/clock.hpp>
#include <kle/election/decision.hpp>
#include <kle/election/event.hpp>
#include <kle/election/lease_event.hpp>
#include <kle/election/options.hpp>
#include <kle/log/logger.hpp>

namespace kle::election {

inline constexpr Clock::time_point kNever = Clock::time_point::max();

struct MachineConfig {
  std::string identity;
  std::string lease_name;
  std::string lease_namespace;
  ResolvedTimings timings{};
  bool release_on_stop = true;
  bool standalone = false;  // no lock: lead without a lease
  log::Logger log = log::null_logger();
  // Handover (docs/HANDOVER.md): our revision (empty: unknown), how long followers hold back
  // for a preferred holder and for a newer revision, and how long a leader that hands over
  // stays stepped down (so routing can drop it) before it releases naming the successor.
  std::string revision;
  Clock::duration handover_grace{};
  Clock::duration older_grace{};
  Clock::duration handover_drain{};
};

// A planned handover: release naming `successor` (and, when known, the newest revision).
struct HandoverHint {
  std::string successor;
  std::string newest_revision;
};

// Something the drivers must do besides I/O, in the order the machine decided it.
struct Effect {
  enum class Kind {
    emit,                  // post `event` with `state` to the subscribers
    leadership,            // observer: on_leadership(flag); the watchdog re-reads its deadline
    renewal,               // observer: on_renewal(flag, latency)
    observed_transitions,  // observer: on_observed_transitions(transitions)
    leader_known,          // a start() waiting for a leader may complete
  };
  Kind kind = Kind::emit;
  Event event = Event::new_leader;
  LeaseState state;
  bool flag = false;
  Clock::duration latency{};
  std::int64_t transitions = 0;
};

// The election loop's next step.
struct LoopStep {
  enum class Kind { read, write, sleep, shutdown };
  Kind kind = Kind::sleep;
  Decision decision;        // write: what to create/update
  Clock::time_point until;  // sleep: until then (kNever: until woken) or a watch event
};

// The release on stop: read, write the release record, wait, or done.
struct ReleaseStep {
  enum class Kind { read, write, sleep, done };
  Kind kind = Kind::done;
  api::Lease record;        // write
  Clock::time_point until;  // sleep (not woken by watch events)
};

class Machine {
 public:
  explicit Machine(MachineConfig config);

  // --- the loop (run()): ask, perform, report
  LoopStep next(Clock::time_point now, api::MicroTime wall_now);
  void on_read(Clock::time_point now, const api::Result<api::Lease>& result);
  void on_write(Clock::time_point now, const api::Result<api::Lease>& result);
  void lead_standalone();
  void stop_standalone();

  // --- the watch (watch_loop()): open, events, quiet, end
  std::string on_watch_opened(Clock::time_point now);  // returns the version to watch from
  // Returns whether the loop must wake up and decide again (bookmarks and events after
  // stop() do not wake it).
  bool on_watch_event(Clock::time_point now, const LeaseEvent& event);
  void on_watch_quiet(Clock::time_point now);
  // The stream ended (not quiet): when to open the next one (now, or after a backoff).
  Clock::time_point on_watch_ended(Clock::time_point now, const api::Result<void>& result);
  [[nodiscard]] Clock::time_point watch_quiet_deadline() const;

  // --- the renew deadline (watchdog())
  [[nodiscard]] Clock::time_point leadership_deadline() const;
  void on_leadership_deadline(Clock::time_point now);

  // --- handing over (the controller, or a preferred-holder annotation seen while leading):
  // step down now, wait handover_drain, then release the record naming the successor in the
  // same conditional write. False (nothing done) when not leading.
  bool hand_over(Clock::time_point now, HandoverHint hint);
  // Stop believing without releasing: the record keeps naming us (so nobody takes it) and
  // we do not take it back; stop() releases it.
  void resign();
  // The successor a stop()'s release names (empty: none).
  void set_release_hint(HandoverHint hint) { notes().release_hint = std::move(hint); }
  // The newest revision with a Ready pod, as the leader last saw it; our next renewal
  // records it (DecisionInput::newest_revision). Empty: unknown, the record is left alone.
  void set_newest_revision(std::string revision) { notes().newest_revision = std::move(revision); }

  // --- stopping (stop(), a signal, a failed coroutine) and the release
  void request_stop();
  void begin_shutdown(Clock::time_point now);
  ReleaseStep next_release(Clock::time_point now, api::MicroTime wall_now);
  void on_release_read(Clock::time_point now, const api::Result<api::Lease>& result);
  void on_release_write(Clock::time_point now, const api::Result<api::Lease>& result);
  // A coroutine failed: stop believing and stop. Leadership ends before anything that can
  // throw (no log: the logger may be what threw); leadership_lost is queued after.
  void fail_closed();

  // --- what the drivers carry out
  std::vector<Effect> take_effects();

  // --- queries
  [[nodiscard]] bool leader() const noexcept { return leader_; }
  [[nodiscard]] bool stopping() const noexcept { return stopping_; }
  [[nodiscard]] std::optional<Clock::time_point> last_renewal() const noexcept { return last_renewal_; }
  [[nodiscard]] std::int64_t epoch() const noexcept;
  [[nodiscard]] LeaseState state() const;
  [[nodiscard]] std::string observed_holder() const;
  // The Lease as last observed (a tombstone after a delete); null before the first.
  [[nodiscard]] const api::Lease* observed() const noexcept { return observed_.get(); }
  [[nodiscard]] bool watch_up() const noexcept { return watch_up_; }
  [[nodiscard]] const MachineConfig& config() const noexcept { return cfg_; }
  [[nodiscard]] const log::Logger& log() const noexcept { return cfg_.log; }
  [[nodiscard]] Clock::duration jittered(Clock::duration d);

 private:
  // An optional kept on the heap: for state that exists only for moments (a write in flight,
  // a handover), which a process of a thousand mostly idle Electors would otherwise carry
  // inline in each of them, a thousand times (issue 14). The optional's interface, as used here.
  template <class T>
  class Box {
   public:
    Box() = default;
    Box(const Box& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
    Box(Box&&) noexcept = default;
    Box& operator=(const Box& o) { return o.p_ ? (*this = *o.p_) : (reset(), *this); }
    Box& operator=(Box&&) noexcept = default;
    ~Box() = default;
    Box& operator=(T v) {
      if (p_) *p_ = std::move(v);
      else p_ = std::make_unique<T>(std::move(v));
      return *this;
    }
    void reset() noexcept { p_.reset(); }
    explicit operator bool() const noexcept { return p_ != nullptr; }
    T& operator*() const noexcept { return *p_; }
    T* operator->() const noexcept { return p_.get(); }

   private:
    std::unique_ptr<T> p_;
  };

  // An in-flight write, as the rules need it when its answer comes back.
  struct Sent {
    api::LeaseSpec spec;
    Action action = Action::none;
    Reason reason = Reason::held;
    Clock::time_point at;
    std::uint64_t step_downs = 0;  // as when sent
    bool renewing = false;
  };

  // machine.cpp: observation and leadership bookkeeping
  // Shared with the watch event it came in (and the shared watch's cache), never changed.
  using LeasePtr = std::shared_ptr<const api::Lease>;
  void observe(Clock::time_point now, LeasePtr lease);
  void learn_cadence(const api::Lease& lease);
  void observe_deleted(const std::string& resource_version);
  void accept_write(Clock::time_point now, LeasePtr written, const Sent& sent);
  void adopt_landed(Clock::time_point now, LeasePtr lease, const Sent& sent);
  void become_leader(const char* how);
  void step_down(const std::string& why);
  void emit(Event event);
  void effect(Effect::Kind kind, bool flag = false);

  // machine_steps.cpp: the loop's phases
  LoopStep acquire_step(Clock::time_point now, api::MicroTime wall_now);
  LoopStep renew_step(Clock::time_point now, api::MicroTime wall_now);
  [[nodiscard]] DecisionInput decision_input(Clock::time_point now, api::MicroTime wall_now) const;
  void on_write_failed(Clock::time_point now, const api::Error& err, const Sent& sent);
  [[nodiscard]] Clock::duration retry_soon() const;
  LoopStep handover_step(Clock::time_point now, api::MicroTime wall_now);
  void on_handover_write(Clock::time_point now, const api::Result<api::Lease>& result);

  // Members are grouped by size (the flags last, to keep the class compact); the comment
  // on each says which part of the loop owns it.
  MachineConfig cfg_;  // cfg_.log is the one Logger of the Elector (its drivers log through log())
  // Jitter only: minstd_rand is 8 bytes where mt19937_64 is 2.5 KiB, which a process of a
  // thousand Electors pays a thousand times (issue 14).
  std::minstd_rand rng_;
  std::vector<Effect> effects_;

  // The Lease as observed (kept as a tombstone after a delete). Shared with the watch event
  // it came in, so a follower of a shared watch holds no copy of its own (issue 14).
  LeasePtr observed_;
  Clock::time_point observed_at_{};  // when its spec last changed, by our monotonic clock
  std::string watch_rv_;
  // The holder's renewal cadence: the smallest gap between consecutive renewTimes of one
  // holder (a missed renewal only makes a gap longer). Paces the quiet-watch detector.
  std::optional<Clock::duration> holder_cadence_;

  // Leadership.
  std::optional<Clock::time_point> last_renewal_;
  // Counts step-downs. A write remembers the count it was sent under; one sent before the
  // latest step-down never makes us leader again (see accept_write).
  std::uint64_t step_downs_ = 0;
  // A write whose outcome we do not know (timeout, transport): if the record later shows
  // exactly this spec, the write landed and counts as a success from when it was sent.
  Box<Sent> uncertain_;

  // The loop.
  Box<Sent> in_flight_;                      // the write in flight
  std::optional<Clock::time_point> pause_;   // a failed step's wait, taken by next()
  Clock::time_point next_poll_{};
  Clock::time_point next_renew_{};

  // The watch.
  Clock::time_point watch_began_{};
  Clock::time_point watch_active_at_{};  // the current stream's start or its latest event
  Clock::duration watch_backoff_{};

  // A handover in progress: released when due (after the drain), given up at give_up.
  struct Handover {
    HandoverHint hint;
    Clock::time_point due;
    Clock::time_point give_up;
  };
  Box<Handover> handover_;
  // What the controller tells a leader (set_release_hint, set_newest_revision): boxed, as
  // most Electors of a process of a thousand Leases are told neither (issue 14).
  struct HandoverNotes {
    HandoverHint release_hint;
    std::string newest_revision;
  };
  Box<HandoverNotes> notes_;
  HandoverNotes& notes() {
    if (!notes_) notes_ = HandoverNotes{};
    return *notes_;
  }

  // The release on stop, made by begin_shutdown(): boxed, as every Elector of a process of a
  // thousand Leases would otherwise carry its 264 bytes from start to stop (issue 14).
  struct Release {
    std::optional<api::Lease> held;
    Clock::time_point give_up{};
    std::optional<Clock::time_point> pause;
  };
  std::unique_ptr<Release> release_;

  int quiet_reconnects_ = 0;     // watch: fruitless quiet reconnects in a row
  bool exists_ = false;          // observed: false after a delete (observed_ is a tombstone)
  bool leader_ = false;          // leadership
  bool stopping_ = false;        // loop
  bool need_get_ = true;         // loop: read before deciding (start, conflict)
  bool read_renewing_ = false;   // loop: the read in flight was the renew phase's
  bool watch_up_ = false;        // watch: a stream is open
  bool watch_from_now_ = false;  // watch: a 410 even on a watch from now backs off, not spins
  bool releasing_ = false;       // release: still trying
  bool resigned_ = false;        // loop: stepped down for a stop; never take the lease again
  bool handover_writing_ = false;  // loop: the write in flight is the handover's release
};

// The release record a handover writes: holder "", duration 1, and the hints.
api::Lease handover_record(const api::Lease& held, api::MicroTime wall_now, const HandoverHint& hint);

}  // namespace kle::election
