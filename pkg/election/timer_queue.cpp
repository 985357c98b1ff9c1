#include "timer_queue.hpp"

#include <map>
#include <mutex>
#include <utility>

#include <boost/asio/execution/context.hpp>
#include <boost/asio/execution_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>

namespace kle::election::detail {

namespace asio = boost::asio;

namespace {

// Only a cancel() ends such a wait; the shared timer is never armed for it.
constexpr Clock::time_point kNever = Clock::time_point::max();

}  // namespace

TimerEntry::~TimerEntry() { cancel(); }

void TimerEntry::arm(Clock::time_point deadline) { queue_->arm(*this, deadline); }

void TimerEntry::cancel() noexcept {
  if (!armed()) return;
  queue_->remove(*this);
  // A re-arm that fails leaves the shared timer due early, which costs one spurious
  // completion (it re-reads the clock and re-arms), never a lost entry.
  try {
    queue_->rearm();
  } catch (...) {  // described above
  }
}

TimerQueue::TimerQueue(const asio::any_io_executor& ex, std::shared_ptr<Clock> clock)
    : clock_(std::move(clock)), timer_(std::in_place, ex) {}

TimerQueue::~TimerQueue() { shutdown(); }

void TimerQueue::shutdown() noexcept {
  for (TimerEntry* entry : heap_) entry->index_ = TimerEntry::kUnarmed;
  heap_.clear();
  armed_for_.reset();
  if (!timer_) return;
  clock_->disarm(*timer_);
  timer_.reset();
}

void TimerQueue::arm(TimerEntry& entry, Clock::time_point deadline) {
  entry.deadline_ = deadline;
  entry.seq_ = next_seq_++;
  if (!timer_) return;  // shut down: nothing fires any more
  if (entry.armed()) {
    sift_up(entry.index_);
    sift_down(entry.index_);
  } else {
    heap_.push_back(&entry);
    place(entry, heap_.size() - 1);
    sift_up(entry.index_);
  }
  try {
    rearm();
  } catch (...) {
    // Not left in the heap: an entry that seems armed but has no wait behind it would look
    // like a sleep to its owner (wake() would end a sleep that is not there). Its owner sees
    // the error; the others keep their waits (a re-arm only cancels one whose completion
    // re-arms again).
    remove(entry);
    throw;
  }
}

void TimerQueue::remove(TimerEntry& entry) noexcept {
  if (!entry.armed()) return;
  const std::size_t index = entry.index_;
  entry.index_ = TimerEntry::kUnarmed;
  TimerEntry* last = heap_.back();
  heap_.pop_back();
  if (last == &entry) return;
  place(*last, index);
  sift_up(index);
  sift_down(last->index_);
}

// One completion, whatever its cause: what is due by the clock fires, earliest first, one
// entry per handler, as when each had its own timer. The others' handlers are queued at once,
// ahead of anything the first callback posts, as their timers' completions would have been;
// an io_context driver that looks between handlers (the tests' invariants) sees each step.
// An entry armed after this completion waits for the next one even when already due, as a
// fresh Asio wait would: a callback never runs inside the one that armed it, and one that
// keeps re-arming at a passed deadline lets the io_context's other handlers run meanwhile.
void TimerQueue::completed() {
  if (waits_ > 0 && --waits_ == 0) armed_for_.reset();
  if (!timer_) return;
  const auto now = clock_->now();
  const auto pass = next_seq_;
  for (std::size_t due = count_due(0, now, pass); due > 1; --due) {
    asio::post(timer_->get_executor(), [self = shared_from_this(), now, pass] { self->fire_next(now, pass); });
    ++fires_pending_;
  }
  ++fires_pending_;
  fire_next(now, pass);
}

// Fires the earliest entry due in the pass, if one still is (a callback may have cancelled,
// moved or destroyed the others meanwhile); the last fire of a pass re-arms.
void TimerQueue::fire_next(Clock::time_point now, std::uint64_t pass) {
  TimerEntry* due = nullptr;
  if (timer_ && !heap_.empty() && heap_.front()->deadline_ <= now && heap_.front()->seq_ < pass) {
    due = heap_.front();
    remove(*due);
  }
  try {
    if (due != nullptr) due->fire_(due->owner_);
  } catch (...) {
    if (--fires_pending_ == 0) rearm();  // for the entries still due: the next completion fires them
    throw;
  }
  if (--fires_pending_ == 0) rearm();
}

// The entries of the subtree at index that are due in the pass: a heap prunes at the first
// deadline not due.
std::size_t TimerQueue::count_due(std::size_t index, Clock::time_point now, std::uint64_t pass) const noexcept {
  if (index >= heap_.size() || heap_[index]->deadline_ > now) return 0;
  const std::size_t self = heap_[index]->seq_ < pass ? 1 : 0;
  return self + count_due((2 * index) + 1, now, pass) + count_due((2 * index) + 2, now, pass);
}

// Keeps the shared timer armed for the earliest entry, and waiting only while one has a deadline:
// a wait left pending would keep io_context::run() from returning.
void TimerQueue::rearm() {
  if (fires_pending_ > 0 || !timer_) return;  // the pass's last fire re-arms
  if (heap_.empty() || heap_.front()->deadline_ == kNever) {
    if (!armed_for_) return;
    armed_for_.reset();
    clock_->disarm(*timer_);
    timer_->cancel();
    return;
  }
  const auto due = heap_.front()->deadline_;
  if (armed_for_ == due) return;
  // Through the clock, so a fake one drives it; re-arming cancels the pending wait, whose
  // completion is just one more re-read of the clock.
  clock_->arm(*timer_, due);
  timer_->async_wait([self = shared_from_this()](const boost::system::error_code&) { self->completed(); });
  armed_for_ = due;
  ++waits_;
}

void TimerQueue::place(TimerEntry& entry, std::size_t index) noexcept {
  heap_[index] = &entry;
  entry.index_ = static_cast<std::uint32_t>(index);
}

bool TimerQueue::earlier(std::size_t a, std::size_t b) const noexcept {
  const TimerEntry& x = *heap_[a];
  const TimerEntry& y = *heap_[b];
  return x.deadline_ != y.deadline_ ? x.deadline_ < y.deadline_ : x.seq_ < y.seq_;
}

void TimerQueue::sift_up(std::size_t index) noexcept {
  while (index > 0) {
    const std::size_t parent = (index - 1) / 2;
    if (!earlier(index, parent)) return;
    TimerEntry& child = *heap_[index];
    place(*heap_[parent], index);
    place(child, parent);
    index = parent;
  }
}

void TimerQueue::sift_down(std::size_t index) noexcept {
  while (true) {
    const std::size_t left = (2 * index) + 1;
    if (left >= heap_.size()) return;
    std::size_t least = left;
    if (left + 1 < heap_.size() && earlier(left + 1, left)) least = left + 1;
    if (!earlier(least, index)) return;
    TimerEntry& parent = *heap_[index];
    place(*heap_[least], index);
    place(parent, least);
    index = least;
  }
}

namespace {

// The queues of one execution context, one per Clock. It holds them weakly (their Electors
// own them), so a Clock's address is reused only after its queue, which holds the Clock, is gone.
class TimerQueues final : public asio::execution_context::service {
 public:
  using key_type = TimerQueues;  // identified by type: no id object to define
  explicit TimerQueues(asio::execution_context& context) : service(context) {}

  std::shared_ptr<TimerQueue> queue_for(const asio::any_io_executor& ex, const std::shared_ptr<Clock>& clock) {
    const std::lock_guard guard(mutex_);
    std::erase_if(queues_, [](const auto& entry) { return entry.second.expired(); });
    auto& slot = queues_[clock.get()];
    auto queue = slot.lock();
    if (!queue) {
      queue = std::make_shared<TimerQueue>(ex, clock);
      slot = queue;
    }
    return queue;
  }

 private:
  // Before the scheduler destroys the pending handlers (and with them, maybe, the last owners
  // of Electors, whose entries then leave an inert queue): nothing fires from here on.
  void shutdown() override {
    std::map<const Clock*, std::weak_ptr<TimerQueue>> queues;
    {
      const std::lock_guard guard(mutex_);
      queues.swap(queues_);
    }
    for (auto& [clock, weak] : queues) {
      if (auto queue = weak.lock()) queue->shutdown();
    }
  }

  std::mutex mutex_;
  std::map<const Clock*, std::weak_ptr<TimerQueue>> queues_;
};

}  // namespace

std::shared_ptr<TimerQueue> timer_queue_for(const asio::any_io_executor& ex, const std::shared_ptr<Clock>& clock) {
  auto& context = asio::query(ex, asio::execution::context);
  return asio::use_service<TimerQueues>(context).queue_for(ex, clock);
}

}  // namespace kle::election::detail
