#pragma once
// N electors on one fake apiserver and one virtual timeline. Every drive() checks, after
// every handler and every time jump, that at most one elector believes it leads and that a
// believing leader renewed within its renew deadline: the election's safety property.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <kle/election/elector.hpp>
#include "fakes/fake_clock.hpp"
#include "fakes/fake_lease_lock.hpp"

namespace kle::testing {

using election::Elector;
using election::ElectorOptions;
using election::Event;
using election::LeaseState;

struct Recorded {
  Event event;
  LeaseState state;
  Clock::time_point at;  // virtual time when the handler ran
};

struct Member {
  std::string identity;
  std::shared_ptr<FakeClient> client;
  std::shared_ptr<FakeClock> clock;
  std::unique_ptr<Elector> elector;
  std::vector<Recorded> events;
  bool stopped = false;

  [[nodiscard]] int count(Event e) const {
    int n = 0;
    for (const auto& r : events) n += r.event == e ? 1 : 0;
    return n;
  }
  [[nodiscard]] bool leads() const { return elector->current_leader(); }
};

// The controller's timings: lease 15s, deadline 10s, renew every 2s.
inline ElectorOptions test_options() {
  ElectorOptions o;
  o.auto_close = false;
  o.renew_interval = std::chrono::milliseconds(2000);
  o.lease_duration = std::chrono::seconds(15);
  o.renew_deadline = std::chrono::milliseconds(10000);
  return o;
}

class Harness {
 public:
  Harness() : store(std::make_shared<FakeLeaseStore>(time)) {}
  ~Harness() {
    members.clear();  // electors go before the io_context that runs their loops
  }

  Member& add(const std::string& identity, ElectorOptions options = test_options(),
              Clock::duration monotonic_offset = {}, Clock::duration wall_skew = {}) {
    auto m = std::make_unique<Member>();
    m->identity = identity;
    m->client = std::make_shared<FakeClient>();
    m->client->name = identity;
    m->clock = std::make_shared<FakeClock>(time, monotonic_offset, wall_skew);
    options.identity = identity;
    if (std::getenv("KLE_TEST_LOG") != nullptr) {
      auto t = time;
      options.log = log::Logger(log::Level::debug, log::Logger::Format::text, [t](log::Level, std::string_view line) {
        std::fprintf(stderr, "[%.3f] %.*s\n", std::chrono::duration<double>(t->elapsed()).count(),
                     static_cast<int>(line.size()), line.data());
      });
    }
    m->elector = std::make_unique<Elector>(ioc.get_executor(), std::make_unique<FakeLeaseLock>(store, m->client),
                                           options, m->clock);
    Member* raw = m.get();
    m->elector->on([raw, this](Event e, const LeaseState& s) { raw->events.push_back({e, s, time->now()}); });
    members.push_back(std::move(m));
    return *raw;
  }

  void start(Member& m) {
    boost::asio::co_spawn(ioc, m.elector->start(), boost::asio::detached);
  }
  void start_all() {
    for (auto& m : members) start(*m);
  }
  // The usual opening: `leader` starts alone and wins, then `follower` starts and both run
  // for `settle` (long enough for the follower to have seen the lease and be watching it).
  void lead_then_follow(Member& leader, Member& follower, Clock::duration settle) {
    start(leader);
    REQUIRE(run_until_leader(std::chrono::seconds(1)));
    REQUIRE(leader.leads());
    start(follower);
    run_for(settle);
  }
  // Calls stop() and drives until it completes; returns the virtual time it took.
  Clock::duration stop(Member& m, Clock::duration limit = std::chrono::seconds(30)) {
    const auto began = time->now();
    bool done = false;
    boost::asio::co_spawn(ioc, m.elector->stop(), [&done](const std::exception_ptr&) { done = true; });
    REQUIRE(run_until([&] { return done; }, limit));
    m.stopped = true;
    return time->now() - began;
  }

  [[nodiscard]] int leaders() const {
    int n = 0;
    for (const auto& m : members) n += m->leads() ? 1 : 0;
    return n;
  }
  [[nodiscard]] Member* leader() const {
    for (const auto& m : members) {
      if (m->leads()) return m.get();
    }
    return nullptr;
  }

  // The invariant, checked at every virtual instant.
  void check() {
    ++checks;
    int believers = 0;
    for (const auto& m : members) {
      if (!m->elector || !m->leads()) continue;  // a test may destroy an Elector early
      ++believers;
      const auto last = m->elector->last_renewal();
      REQUIRE(last.has_value());
      if (m->clock->now() - *last > m->elector->timings().renew_deadline) {
        FAIL("elector " << m->identity << " still leads past its renew deadline");
      }
    }
    if (believers > 1) {
      if (time->now() < overlap_allowed_until) {
        if (std::getenv("KLE_TEST_LOG") != nullptr && overlaps_allowed == 0) {
          std::fprintf(stderr, "[%.3f] OVERLAP (allowed after a deletion)\n", seconds_since_start());
        }
        ++overlaps_allowed;
        return;
      }
      FAIL("two electors believe they lead at t=" << seconds_since_start() << "s");
    }
  }

  // Deleting the Lease object voids every claim: an elector that never saw the old
  // record may create a new one while the old leader has not yet heard. Until each old
  // believer's renewal fails (its renew deadline at most) two believers are within what
  // the lease model allows; the checker counts those instants instead of failing.
  void remove_lease() {
    store->remove();
    overlap_allowed_until = time->now() + std::chrono::seconds(10);
  }

  bool run_until(const std::function<bool()>& done, Clock::duration limit) {
    return drive(ioc, *time, done, limit, [this] { check(); });
  }
  void run_for(Clock::duration d) { drive(ioc, *time, [] { return false; }, d, [this] { check(); }); }
  bool run_until_leader(Clock::duration limit = std::chrono::seconds(60)) {
    return run_until([this] { return leaders() == 1; }, limit);
  }

  [[nodiscard]] double seconds_since_start() const {
    return std::chrono::duration<double>(time->elapsed()).count();
  }

  boost::asio::io_context ioc;
  std::shared_ptr<FakeTime> time = std::make_shared<FakeTime>();
  std::shared_ptr<FakeLeaseStore> store;
  std::vector<std::unique_ptr<Member>> members;
  long checks = 0;
  long overlaps_allowed = 0;
  Clock::time_point overlap_allowed_until{};
};

// Waits for the leader's next renewal to complete; returns its send time.
inline Clock::time_point next_renewal(Harness& h, Member& m) {
  const auto before = *m.elector->last_renewal();
  REQUIRE(h.run_until([&] { return *m.elector->last_renewal() != before; }, std::chrono::seconds(3)));
  return *m.elector->last_renewal();
}

}  // namespace kle::testing
