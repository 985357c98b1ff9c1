#pragma once
// Many timed waits on one Asio timer (internal). An idle follower Elector waits on two timers
// at once (its loop's sleep, its watch's quiet detector), and a pending Asio wait costs about
// 576 bytes of heap on top of the timer's 120 (issue 14: a thousand Leases in one process).
// So every Elector on one io_context with one Clock shares a TimerQueue: one steady_timer,
// armed through Clock::arm for the earliest deadline, and a binary heap of TimerEntry, which
// each Elector embeds. Arming an entry moves it in the heap and allocates nothing once the
// heap has grown; cancelling removes it at once, so a cancelled entry never fires late.
//
// Any completion of the shared timer (its deadline, a re-arm, a fake clock's cancel())
// re-reads clock.now() and fires every entry due by then, earliest first and one handler
// each, then re-arms for the earliest left. Everything runs on the io_context's one thread; nothing locks but the
// lookup of the queue, which an Elector makes when it is built, on any thread.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <kle/election/clock.hpp>

namespace kle::election::detail {

class TimerQueue;

// One timed wait of one owner. Fire is a plain function and owner its argument, so an entry
// costs no allocation; it is called from the io_context, never from inside arm() or cancel().
// What it throws leaves io_context::run(), as from any handler; the queue stays whole.
class TimerEntry {
 public:
  using Fire = void (*)(void* owner);

  TimerEntry(TimerQueue& queue, Fire fire, void* owner) noexcept : queue_(&queue), fire_(fire), owner_(owner) {}
  ~TimerEntry();  // cancels: an owner that goes away is never called
  TimerEntry(const TimerEntry&) = delete;
  TimerEntry& operator=(const TimerEntry&) = delete;
  TimerEntry(TimerEntry&&) = delete;
  TimerEntry& operator=(TimerEntry&&) = delete;

  // Fires once the clock reaches deadline (kNever: only a cancel() ends it). Re-arming an armed
  // entry moves its deadline. A deadline already passed fires from the io_context, soon.
  // When arming the shared timer throws (Clock::arm, an allocation), the entry is left
  // unarmed and the error propagates.
  void arm(Clock::time_point deadline);
  void cancel() noexcept;
  [[nodiscard]] bool armed() const noexcept { return index_ != kUnarmed; }
  [[nodiscard]] Clock::time_point deadline() const noexcept { return deadline_; }

 private:
  friend class TimerQueue;
  static constexpr std::uint32_t kUnarmed = UINT32_MAX;

  TimerQueue* queue_;
  Fire fire_;
  void* owner_;
  Clock::time_point deadline_{};
  std::uint64_t seq_ = 0;             // arming order: equal deadlines fire first armed, first fired
  std::uint32_t index_ = kUnarmed;    // its place in the heap
};

class TimerQueue : public std::enable_shared_from_this<TimerQueue> {
 public:
  TimerQueue(const boost::asio::any_io_executor& ex, std::shared_ptr<Clock> clock);
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;
  TimerQueue(TimerQueue&&) = delete;
  TimerQueue& operator=(TimerQueue&&) = delete;

  [[nodiscard]] Clock& clock() const noexcept { return *clock_; }
  [[nodiscard]] std::size_t size() const noexcept { return heap_.size(); }

  // The io_context is going away: forget every entry without firing it (their owners may be
  // half destroyed by now) and drop the timer while its services still exist. Arming after
  // this does nothing.
  void shutdown() noexcept;

 private:
  friend class TimerEntry;
  void arm(TimerEntry& entry, Clock::time_point deadline);
  void remove(TimerEntry& entry) noexcept;
  void completed();
  void fire_next(Clock::time_point now, std::uint64_t pass);
  [[nodiscard]] std::size_t count_due(std::size_t index, Clock::time_point now, std::uint64_t pass) const noexcept;
  void rearm();
  void place(TimerEntry& entry, std::size_t index) noexcept;
  void sift_up(std::size_t index) noexcept;
  void sift_down(std::size_t index) noexcept;
  [[nodiscard]] bool earlier(std::size_t a, std::size_t b) const noexcept;

  std::shared_ptr<Clock> clock_;
  std::optional<boost::asio::steady_timer> timer_;
  std::vector<TimerEntry*> heap_;
  std::optional<Clock::time_point> armed_for_;  // the shared timer's deadline, while it waits
  std::uint64_t next_seq_ = 0;
  std::uint32_t waits_ = 0;          // pending waits: a re-arm cancels one and starts the next
  std::uint32_t fires_pending_ = 0;  // a completion's fires not yet run: re-arm after the last
};

// The queue of every Elector on ex's execution context that uses this clock: made on first
// use, kept while an owner holds it, shut down (without firing) with the execution context.
std::shared_ptr<TimerQueue> timer_queue_for(const boost::asio::any_io_executor& ex, const std::shared_ptr<Clock>& clock);

}  // namespace kle::election::detail
