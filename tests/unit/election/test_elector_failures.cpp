// Defect (issue 13): the watchdog and the watch were spawned with handlers that swallowed
// every exception, and run()'s caught only std::exception. A throwing log sink, observer
// or bad_alloc silently killed a safety net. Now any elector coroutine that throws fails
// the elector closed and loudly: it stops believing at once (leadership_lost is emitted),
// stops (releasing the lease if the loop still can), and the exception leaves
// io_context::run() once the loop has ended.
#include <new>
#include <stdexcept>
#include <string_view>

#include "harness.hpp"

using namespace kle;
using namespace kle::testing;
using namespace std::chrono_literals;
using election::Event;

namespace {

// Delegates to the fake apiserver; watch() throws once armed (as an allocation would).
class ThrowingWatchLock final : public election::LeaseLock {
 public:
  ThrowingWatchLock(std::unique_ptr<election::LeaseLock> inner, std::shared_ptr<bool> armed)
      : inner_(std::move(inner)), armed_(std::move(armed)) {}
  boost::asio::awaitable<api::Result<api::Lease>> get() override { return inner_->get(); }
  boost::asio::awaitable<api::Result<api::Lease>> create(api::Lease l) override { return inner_->create(std::move(l)); }
  boost::asio::awaitable<api::Result<api::Lease>> update(api::Lease l) override { return inner_->update(std::move(l)); }
  boost::asio::awaitable<api::Result<void>> watch(std::string rv,
                                                  std::function<void(const election::LeaseEvent&)> cb) override {
    if (*armed_) throw std::bad_alloc();
    return inner_->watch(std::move(rv), std::move(cb));
  }
  [[nodiscard]] std::string lease_namespace() const override { return inner_->lease_namespace(); }
  [[nodiscard]] std::string lease_name() const override { return inner_->lease_name(); }

 private:
  std::unique_ptr<election::LeaseLock> inner_;
  std::shared_ptr<bool> armed_;
};

// Harness::add with a lock of the test's making.
Member& add_with_lock(Harness& h, const std::string& identity, std::shared_ptr<bool> armed) {
  auto m = std::make_unique<Member>();
  m->identity = identity;
  m->client = std::make_shared<FakeClient>();
  m->client->name = identity;
  m->clock = std::make_shared<FakeClock>(h.time);
  auto options = test_options();
  options.identity = identity;
  auto lock = std::make_unique<ThrowingWatchLock>(std::make_unique<FakeLeaseLock>(h.store, m->client), std::move(armed));
  m->elector = std::make_unique<Elector>(h.ioc.get_executor(), std::move(lock), options, m->clock);
  Member* raw = m.get();
  auto time = h.time;
  m->elector->on([raw, time](Event e, const LeaseState& s) { raw->events.push_back({e, s, time->now()}); });
  h.members.push_back(std::move(m));
  return *raw;
}

struct ThrowingObserver final : election::ElectorObserver {
  int renewals = 0;
  void on_renewal(bool ok, std::chrono::steady_clock::duration) override {
    if (ok && ++renewals == 3) throw 42;  // not a std::exception
  }
};

}  // namespace

TEST_CASE("failures: a log sink that throws in the watchdog steps down and fails loudly") {
  Harness h;
  auto options = test_options();
  options.log = log::Logger(log::Level::debug, log::Logger::Format::text, [](log::Level, std::string_view line) {
    if (line.find("within the renew deadline") != std::string_view::npos) throw std::runtime_error("log sink failed");
  });
  auto& a = h.add("a", options);
  auto& b = h.add("b");
  h.lead_then_follow(a, b, 5s);
  FakeLeaseLock::partition(*h.store, *a.client, true);  // a's renewals fail: the watchdog fires
  REQUIRE_THROWS_WITH(h.run_for(60s), "log sink failed");
  CHECK_FALSE(a.leads());
  CHECK(a.count(Event::leadership_lost) == 1);
  // a stopped: healed, it never leads again, and b takes over at expiry.
  FakeLeaseLock::partition(*h.store, *a.client, false);
  REQUIRE(h.run_until([&] { return b.leads(); }, 30s));
  h.run_for(60s);
  CHECK_FALSE(a.leads());
  CHECK(a.count(Event::leadership_acquired) == 1);
}

TEST_CASE("failures: a watch that throws bad_alloc stops the follower loudly") {
  Harness h;
  auto& a = h.add("a");
  auto armed = std::make_shared<bool>(false);
  auto& b = add_with_lock(h, "b", armed);
  h.lead_then_follow(a, b, 5s);
  *armed = true;
  h.store->end_watches(b.client.get(), std::nullopt);  // b reconnects: watch() throws
  REQUIRE_THROWS_AS(h.run_for(30s), std::bad_alloc);
  CHECK_FALSE(b.leads());
  h.stop(a);  // released: a running b would take it within a round trip
  h.run_for(60s);
  CHECK_FALSE(b.leads());
  CHECK(b.count(Event::leadership_acquired) == 0);
}

TEST_CASE("failures: an observer that throws a non-std exception in the loop steps down loudly") {
  Harness h;
  auto options = test_options();
  options.observer = std::make_shared<ThrowingObserver>();
  auto& a = h.add("a", options);
  h.start(a);
  REQUIRE(h.run_until_leader(1s));
  REQUIRE_THROWS_AS(h.run_for(30s), int);
  CHECK_FALSE(a.leads());
  CHECK(a.count(Event::leadership_lost) == 1);
}
