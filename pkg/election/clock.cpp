#include <kle/election/clock.hpp>

namespace kle::election {
namespace {

class SystemClock final : public Clock {
 public:
  [[nodiscard]] time_point now() const override { return std::chrono::steady_clock::now(); }
  [[nodiscard]] api::MicroTime wall_now() const override { return api::micro_now(); }
  void arm(boost::asio::steady_timer& timer, time_point deadline) override { timer.expires_at(deadline); }
};

}  // namespace

std::shared_ptr<Clock> system_clock() {
  static const auto clock = std::make_shared<SystemClock>();
  return clock;
}

}  // namespace kle::election
