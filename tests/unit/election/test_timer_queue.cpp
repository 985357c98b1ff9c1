// The shared timer queue (pkg/election/timer_queue.hpp): many entries on one Asio timer,
// driven by the fake clock exactly as the Electors' own timers were.
#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "election/timer_queue.hpp"
#include "fakes/fake_clock.hpp"

using namespace kle;
using namespace kle::testing;
using namespace std::chrono_literals;
using election::detail::TimerEntry;
using election::detail::TimerQueue;
using election::detail::timer_queue_for;

namespace {

struct Fired {
  int id;
  Clock::time_point at;  // the probe's clock's now() when it fired
};

// An owner of one entry that records when it fires, then runs `then`.
struct Probe {
  Probe(TimerQueue& queue, int probe_id, std::vector<Fired>& fired_log)
      : entry(queue, &Probe::fire, this), id(probe_id), log(&fired_log), clock(&queue.clock()) {}

  static void fire(void* owner) {
    auto* p = static_cast<Probe*>(owner);
    p->log->push_back({p->id, p->clock->now()});
    if (p->then) p->then();
  }

  TimerEntry entry;
  int id;
  std::vector<Fired>* log;
  Clock* clock;
  std::function<void()> then;
};

struct Setup {
  boost::asio::io_context ioc;
  std::shared_ptr<FakeTime> time = std::make_shared<FakeTime>();
  std::shared_ptr<FakeClock> clock = std::make_shared<FakeClock>(time);
  std::shared_ptr<TimerQueue> queue = timer_queue_for(ioc.get_executor(), clock);
  std::vector<Fired> fired;
  Clock::time_point t0 = clock->now();

  void run(Clock::duration d) { run_for(ioc, *time, d); }
  // What fired, in order: each probe's id and when, after t0.
  [[nodiscard]] std::vector<std::pair<int, Clock::duration>> timeline() const {
    std::vector<std::pair<int, Clock::duration>> out;
    for (const auto& f : fired) out.emplace_back(f.id, f.at - t0);
    return out;
  }
  // No wait left pending: io_context::run() would return.
  bool idle() {
    ioc.restart();
    ioc.poll();
    return ioc.stopped() && !time->next_deadline();
  }
};

}  // namespace

TEST_CASE("timer queue: entries fire at their deadlines, earliest first, ties in arming order") {
  Setup s;
  Probe a(*s.queue, 1, s.fired);
  Probe b(*s.queue, 2, s.fired);
  Probe c(*s.queue, 3, s.fired);
  Probe d(*s.queue, 4, s.fired);
  a.entry.arm(s.t0 + 3s);
  b.entry.arm(s.t0 + 1s);
  c.entry.arm(s.t0 + 2s);
  d.entry.arm(s.t0 + 2s);
  CHECK(s.queue->size() == 4);
  s.run(10s);
  CHECK(s.timeline() == std::vector<std::pair<int, Clock::duration>>{{2, 1s}, {3, 2s}, {4, 2s}, {1, 3s}});
  CHECK(!a.entry.armed());
  CHECK(s.queue->size() == 0);
  CHECK(s.idle());
}

TEST_CASE("timer queue: re-arming moves the deadline, either way, and fires once") {
  Setup s;
  Probe early(*s.queue, 1, s.fired);
  Probe late(*s.queue, 2, s.fired);
  early.entry.arm(s.t0 + 5s);
  late.entry.arm(s.t0 + 1s);
  early.entry.arm(s.t0 + 2s);  // earlier than first armed
  late.entry.arm(s.t0 + 4s);   // later than first armed
  s.run(10s);
  CHECK(s.timeline() == std::vector<std::pair<int, Clock::duration>>{{1, 2s}, {2, 4s}});
  // Re-armed from its own callback: a periodic entry.
  int ticks = 0;
  early.then = [&] {
    if (++ticks < 3) early.entry.arm(early.clock->now() + 1s);
  };
  early.entry.arm(s.clock->now() + 1s);
  s.run(10s);
  CHECK(ticks == 3);
  CHECK(s.idle());
}

TEST_CASE("timer queue: a cancelled entry never fires, and the last cancel leaves no wait pending") {
  Setup s;
  Probe a(*s.queue, 1, s.fired);
  Probe b(*s.queue, 2, s.fired);
  a.entry.arm(s.t0 + 1s);
  b.entry.arm(s.t0 + 2s);
  a.entry.cancel();
  CHECK(!a.entry.armed());
  a.entry.cancel();  // twice is fine
  s.run(5s);
  REQUIRE(s.fired.size() == 1);
  CHECK(s.fired[0].id == 2);
  b.entry.arm(s.clock->now() + 1h);
  b.entry.cancel();
  // A pending wait would keep io_context::run() from returning, and a fake clock would still
  // know the timer.
  CHECK(s.idle());
  // A wait until cancelled (kNever) arms no timer either.
  b.entry.arm(Clock::time_point::max());
  CHECK(b.entry.armed());
  CHECK(s.idle());
  b.entry.cancel();
  CHECK(s.fired.size() == 1);
}

TEST_CASE("timer queue: a thousand entries, re-armed and cancelled at random, fire in order") {
  Setup s;
  constexpr int kCount = 1000;
  std::vector<std::unique_ptr<Probe>> probes;
  std::vector<Clock::time_point> expected(kCount);
  std::vector<bool> cancelled(kCount, false);
  std::uint32_t seed = 14;
  const auto next = [&seed] {
    seed = (seed * 1664525U) + 1013904223U;
    return seed >> 8;
  };
  for (int i = 0; i < kCount; ++i) {
    probes.push_back(std::make_unique<Probe>(*s.queue, i, s.fired));
    expected[static_cast<std::size_t>(i)] = s.t0 + std::chrono::milliseconds(next() % 60000);
    probes.back()->entry.arm(expected[static_cast<std::size_t>(i)]);
  }
  for (int i = 0; i < kCount; i += 3) {  // re-armed
    expected[static_cast<std::size_t>(i)] = s.t0 + std::chrono::milliseconds(next() % 60000);
    probes[static_cast<std::size_t>(i)]->entry.arm(expected[static_cast<std::size_t>(i)]);
  }
  for (int i = 1; i < kCount; i += 7) {  // cancelled
    probes[static_cast<std::size_t>(i)]->entry.cancel();
    cancelled[static_cast<std::size_t>(i)] = true;
  }
  s.run(61s);
  std::vector<int> times_fired(kCount, 0);
  for (std::size_t k = 0; k < s.fired.size(); ++k) {
    const auto id = static_cast<std::size_t>(s.fired[k].id);
    ++times_fired[id];
    CHECK(s.fired[k].at == expected[id]);
    if (k > 0) CHECK(s.fired[k - 1].at <= s.fired[k].at);
  }
  for (std::size_t i = 0; i < kCount; ++i) CHECK(times_fired[i] == (cancelled[i] ? 0 : 1));
  CHECK(s.queue->size() == 0);
  CHECK(s.idle());
}

TEST_CASE("timer queue: one queue per clock and io_context; two clocks keep their own time") {
  Setup s;
  auto ahead = std::make_shared<FakeClock>(s.time, 10h);  // same timeline, another monotonic epoch
  auto ahead_queue = timer_queue_for(s.ioc.get_executor(), ahead);
  CHECK(ahead_queue != s.queue);
  CHECK(timer_queue_for(s.ioc.get_executor(), s.clock) == s.queue);
  boost::asio::io_context other;
  CHECK(timer_queue_for(other.get_executor(), s.clock) != s.queue);

  Probe mine(*s.queue, 1, s.fired);
  Probe theirs(*ahead_queue, 2, s.fired);
  theirs.entry.arm(ahead->now() + 1s);
  mine.entry.arm(s.t0 + 2s);
  s.run(5s);
  CHECK(s.timeline() == std::vector<std::pair<int, Clock::duration>>{{2, 10h + 1s}, {1, 2s}});
  CHECK(s.idle());
}

TEST_CASE("timer queue: an entry destroyed while armed never fires, even mid-pass") {
  Setup s;
  auto gone = std::make_unique<Probe>(*s.queue, 1, s.fired);
  Probe stays(*s.queue, 2, s.fired);
  gone->entry.arm(s.t0 + 1s);
  stays.entry.arm(s.t0 + 2s);
  gone.reset();
  CHECK(s.queue->size() == 1);
  s.run(5s);
  REQUIRE(s.fired.size() == 1);
  CHECK(s.fired[0].id == 2);

  // Both due at one instant; the first to fire destroys the second.
  auto victim = std::make_unique<Probe>(*s.queue, 3, s.fired);
  Probe killer(*s.queue, 4, s.fired);
  killer.then = [&] { victim.reset(); };
  killer.entry.arm(s.clock->now() + 1s);
  victim->entry.arm(s.clock->now() + 1s);
  s.run(5s);
  REQUIRE(s.fired.size() == 2);
  CHECK(s.fired[1].id == 4);
  CHECK(victim == nullptr);
  CHECK(s.idle());
}

TEST_CASE("timer queue: an io_context destroyed with entries armed fires none of them") {
  auto time = std::make_shared<FakeTime>();
  auto clock = std::make_shared<FakeClock>(time);
  std::vector<Fired> fired;
  auto ioc = std::make_unique<boost::asio::io_context>();
  auto queue = timer_queue_for(ioc->get_executor(), clock);
  auto a = std::make_unique<Probe>(*queue, 1, fired);
  Probe b(*queue, 2, fired);
  a->entry.arm(clock->now() + 1s);
  b.entry.arm(clock->now() + 2s);
  run_for(*ioc, *time, 500ms);
  ioc.reset();  // with the wait pending: the queue shuts down, nothing fires
  CHECK(fired.empty());
  CHECK(!a->entry.armed());
  CHECK(queue->size() == 0);
  CHECK(!time->next_deadline());  // the fake clock forgot the destroyed timer
  // Owners outliving their io_context (its pending handlers held them) can still go, or arm.
  a.reset();
  b.entry.arm(clock->now() + 1s);
  CHECK(!b.entry.armed());
  time->advance(10s);
  CHECK(fired.empty());
}

TEST_CASE("timer queue: fake-clock wake-ups are cancel()s, and a re-arm's cancelled wait fires nothing early") {
  Setup s;
  Probe late(*s.queue, 1, s.fired);
  Probe early(*s.queue, 2, s.fired);
  late.entry.arm(s.t0 + 5s);
  early.entry.arm(s.t0 + 1s);  // re-arms the shared timer: the pending wait ends aborted
  s.ioc.poll();                // ... and its completion runs now, at t0
  CHECK(s.fired.empty());
  REQUIRE(s.time->next_deadline() == s.t0 + 1s);
  s.time->advance(1s);  // the fake clock cancels the timer: that is its "deadline reached"
  s.ioc.poll();
  REQUIRE(s.fired.size() == 1);
  CHECK(s.fired[0].id == 2);
  CHECK(s.time->next_deadline() == s.t0 + 5s);
  s.time->advance(10s);  // one wake-up late by far: everything due fires
  s.ioc.poll();
  REQUIRE(s.fired.size() == 2);
  CHECK(s.fired[1].at == s.t0 + 11s);
  CHECK(s.idle());
}

TEST_CASE("timer queue: an entry armed at a passed deadline fires from the io_context, not inside its armer") {
  Setup s;
  Probe armer(*s.queue, 1, s.fired);
  Probe past(*s.queue, 2, s.fired);
  bool posted_ran = false;
  bool past_fired_inside = false;
  past.then = [&] { past_fired_inside = !posted_ran; };
  armer.then = [&] {
    past.entry.arm(s.clock->now() - 1s);
    boost::asio::post(s.ioc, [&] { posted_ran = true; });
  };
  armer.entry.arm(s.t0 + 1s);
  s.run(2s);
  REQUIRE(s.fired.size() == 2);
  CHECK(s.fired[1].id == 2);
  CHECK(s.fired[1].at == s.t0 + 1s);
  CHECK(!past_fired_inside);  // the handler its armer posted ran first
  CHECK(s.idle());
}

TEST_CASE("timer queue: a callback that throws leaves run(), and the queue still fires the rest") {
  Setup s;
  Probe thrower(*s.queue, 1, s.fired);
  Probe next(*s.queue, 2, s.fired);
  thrower.then = [] { throw std::runtime_error("observer failed"); };
  thrower.entry.arm(s.t0 + 1s);
  next.entry.arm(s.t0 + 1s);
  CHECK_THROWS_AS(s.run(2s), std::runtime_error);
  s.run(2s);
  REQUIRE(s.fired.size() == 2);
  CHECK(s.fired[1].id == 2);
  CHECK(s.idle());
}

namespace {

// A clock whose arm() throws while `broken`: a Clock is the user's to implement.
class BrokenClock final : public Clock {
 public:
  explicit BrokenClock(std::shared_ptr<FakeClock> inner) : inner_(std::move(inner)) {}
  [[nodiscard]] time_point now() const override { return inner_->now(); }
  [[nodiscard]] api::MicroTime wall_now() const override { return inner_->wall_now(); }
  void arm(boost::asio::steady_timer& timer, time_point deadline) override {
    if (broken) throw std::runtime_error("clock broken");
    inner_->arm(timer, deadline);
  }
  void disarm(boost::asio::steady_timer& timer) noexcept override { inner_->disarm(timer); }
  bool broken = false;

 private:
  std::shared_ptr<FakeClock> inner_;
};

}  // namespace

TEST_CASE("timer queue: an arm whose timer cannot be armed leaves the entry unarmed and the others waiting") {
  boost::asio::io_context ioc;
  auto time = std::make_shared<FakeTime>();
  auto clock = std::make_shared<BrokenClock>(std::make_shared<FakeClock>(time));
  auto queue = timer_queue_for(ioc.get_executor(), clock);
  std::vector<Fired> fired;
  const auto t0 = clock->now();
  Probe first(*queue, 1, fired);
  Probe second(*queue, 2, fired);
  first.entry.arm(t0 + 5s);
  clock->broken = true;
  // Earlier than the first: the shared timer must be re-armed, and that throws.
  CHECK_THROWS_WITH(second.entry.arm(t0 + 1s), "clock broken");
  CHECK(!second.entry.armed());
  CHECK(queue->size() == 1);
  clock->broken = false;
  run_for(ioc, *time, 10s);
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].id == 1);
  CHECK(fired[0].at == t0 + 5s);
}

TEST_CASE("timer queue: on the real clock, run() returns once the entries have fired or gone") {
  boost::asio::io_context ioc;
  auto clock = election::system_clock();
  auto queue = timer_queue_for(ioc.get_executor(), clock);
  std::vector<Fired> fired;
  Probe a(*queue, 1, fired);
  Probe b(*queue, 2, fired);
  Probe c(*queue, 3, fired);
  const auto start = clock->now();
  b.entry.arm(start + 20ms);
  a.entry.arm(start + 10ms);
  c.entry.arm(start + 1h);
  c.entry.cancel();
  ioc.run();  // returns: nothing is left to wait for
  REQUIRE(fired.size() == 2);
  CHECK(fired[0].id == 1);
  CHECK(fired[0].at >= start + 10ms);
  CHECK(fired[1].at >= start + 20ms);
}
