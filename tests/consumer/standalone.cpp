// A consumer's check that the library works with nothing but its installed headers: one
// elector in standalone mode (no LeaseLock: no cluster) must lead, then on stop() lose
// leadership, each with an event, and end its loop. Exit 0 only when all of that happened.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <kle/election/elector.hpp>

namespace asio = boost::asio;
namespace election = kle::election;

int main() {
  asio::io_context io;
  election::ElectorOptions opt;
  opt.identity = "consumer-standalone";
  opt.namespace_ = "default";
  opt.auto_close = false;
  election::Elector elector(io.get_executor(), nullptr, opt);

  std::vector<std::string> events;
  bool led = false;
  elector.on([&](election::Event e, const election::LeaseState&) {
    events.emplace_back(election::to_string(e));
    if (e == election::Event::leadership_acquired) led = elector.current_leader();
  });
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await elector.start();
        asio::steady_timer settle(io, std::chrono::milliseconds(200));  // let the posted events run
        co_await settle.async_wait(asio::use_awaitable);
        co_await elector.stop();
      },
      asio::detached);
  io.run_for(std::chrono::seconds(10));

  std::string seen;
  for (const auto& e : events) seen += e + " ";
  std::cout << "events: " << seen << "\n";
  const auto acquired = std::find(events.begin(), events.end(), "leadership_acquired");
  const bool ok = led && !elector.current_leader() && acquired != events.end() && !events.empty() &&
                  events.back() == "leadership_lost";
  std::cout << (ok ? "standalone: PASS" : "standalone: FAIL (expected leadership_acquired, then leadership_lost last)")
            << "\n";
  return ok ? 0 : 1;
}
