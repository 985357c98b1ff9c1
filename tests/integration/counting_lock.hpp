#pragma once
// A LeaseLock decorator for the integration tests: the real lock, counted.
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/awaitable.hpp>

#include <kle/election/lease_lock.hpp>

namespace kle::integration {

// What one elector did through its lock: GETs it sent and watch events that reached it.
struct LockStats {
  int gets = 0;
  int watch_events = 0;  // bookmarks not counted
};

// The real lock, counted. A watch event can only come through the watch, so a follower whose
// count grows has a watch that is up and delivering; and a takeover without a GET was not
// found by polling.
class CountingLock final : public kle::election::LeaseLock {
 public:
  CountingLock(std::unique_ptr<kle::election::LeaseLock> inner, std::shared_ptr<LockStats> stats)
      : inner_(std::move(inner)), stats_(std::move(stats)) {}
  boost::asio::awaitable<kle::api::Result<kle::api::Lease>> get() override {
    ++stats_->gets;
    co_return co_await inner_->get();
  }
  boost::asio::awaitable<kle::api::Result<kle::api::Lease>> create(kle::api::Lease lease) override {
    co_return co_await inner_->create(std::move(lease));
  }
  boost::asio::awaitable<kle::api::Result<kle::api::Lease>> update(kle::api::Lease lease) override {
    co_return co_await inner_->update(std::move(lease));
  }
  boost::asio::awaitable<kle::api::Result<void>> watch(
      std::string resource_version, std::function<void(const kle::election::LeaseEvent&)> on_event) override {
    std::function<void(const kle::election::LeaseEvent&)> counted =
        [stats = stats_, next = std::move(on_event)](const kle::election::LeaseEvent& e) {
          if (e.type != kle::election::LeaseEvent::Type::bookmark) ++stats->watch_events;
          next(e);
        };
    co_return co_await inner_->watch(std::move(resource_version), std::move(counted));
  }
  [[nodiscard]] std::string lease_namespace() const override { return inner_->lease_namespace(); }
  [[nodiscard]] std::string lease_name() const override { return inner_->lease_name(); }

 private:
  std::unique_ptr<kle::election::LeaseLock> inner_;
  std::shared_ptr<LockStats> stats_;
};

}  // namespace kle::integration
