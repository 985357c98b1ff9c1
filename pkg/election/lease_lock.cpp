// The LeaseLock's default for the callback form of the watch: the coroutine form in a
// coroutine of its own.
#include <kle/election/lease_lock.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>

namespace kle::election {

void LeaseLock::start_watch(const boost::asio::any_io_executor& ex, std::string resource_version,
                            std::function<void(const LeaseEvent&)> on_event, WatchEnd on_end,
                            boost::asio::cancellation_slot slot) {
  // co_spawn starts the coroutine through the executor, never inside this call, and reports
  // its end (value or exception) through the completion handler: on_end's contract.
  boost::asio::co_spawn(ex, watch(std::move(resource_version), std::move(on_event)),
                        boost::asio::bind_cancellation_slot(
                            slot, [on_end = std::move(on_end)](std::exception_ptr e, api::Result<void> ended) {
                              on_end(std::move(e), std::move(ended));
                            }));
}

}  // namespace kle::election
