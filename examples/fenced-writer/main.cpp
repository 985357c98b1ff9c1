// A writer that fences its writes with the election epoch (the Lease's leaseTransitions).
//   fenced-writer KUBECONFIG LEASE JOURNAL LINES
// Once leader, it appends LINES lines "epoch <E> <identity> <n>" to JOURNAL, one every 200 ms,
// then stops (releasing the lease) and exits 0. Each line carries the epoch of the term it
// was written in, and the journal refuses a write whose epoch is older than the newest it
// holds: a leader that was replaced, but has not noticed yet, cannot overwrite its successor.
// A refused write or a lost leadership ends the run with exit status 1.
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <kle/election/elector.hpp>
#include <kle/kube/client.hpp>
#include <kle/kube/lease_lock.hpp>

#include "common.hpp"

namespace asio = boost::asio;
namespace election = kle::election;

namespace {

// The fenced resource. A real store checks the token on its side, atomically with the write
// (a conditional update, a column compared in the same transaction); a file read and then
// appended to by one process at a time stands in for that here.
class FencedJournal {
 public:
  explicit FencedJournal(std::string path) : path_(std::move(path)) {}

  // False (and nothing written) when the journal already holds a newer epoch.
  bool append(std::int64_t epoch, const std::string& text) {
    if (epoch < newest_epoch()) return false;
    std::ofstream(path_, std::ios::app) << "epoch " << epoch << ' ' << text << '\n';
    return true;
  }

 private:
  [[nodiscard]] std::int64_t newest_epoch() const {
    std::ifstream in(path_);
    std::int64_t newest = -1;
    for (std::string line; std::getline(in, line);) {
      std::istringstream fields(line);
      std::string word;
      std::int64_t epoch = -1;
      if (fields >> word >> epoch && word == "epoch" && epoch > newest) newest = epoch;
    }
    return newest;
  }

  std::string path_;
};

// Writes `lines` lines fenced with `epoch` (the epoch of the term that just began), then stops.
asio::awaitable<void> write_while_leader(election::Elector& elector, FencedJournal& journal, std::int64_t epoch,
                                         int lines, int& status) {
  asio::steady_timer pause(co_await asio::this_coro::executor);
  for (int n = 1; n <= lines; ++n) {
    if (!elector.current_leader()) {
      std::cout << "leadership lost after " << n - 1 << " lines" << std::endl;
      status = 1;
      break;
    }
    if (!journal.append(epoch, elector.identity() + " " + std::to_string(n))) {
      std::cout << "fenced: the journal holds a newer epoch than " << epoch << std::endl;
      status = 1;
      break;
    }
    std::cout << "wrote line " << n << " with epoch " << epoch << std::endl;
    pause.expires_after(std::chrono::milliseconds(200));
    co_await pause.async_wait(asio::use_awaitable);
  }
  co_await elector.stop();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: fenced-writer KUBECONFIG LEASE JOURNAL LINES\n";
    return 2;
  }
  const auto cluster = examples::load_cluster(argv[1]);
  if (!cluster) return 1;
  asio::io_context io;
  kle::kube::Client client(io.get_executor(), *cluster);
  const election::ElectorOptions opt = examples::elector_options(*cluster);
  election::Elector elector(io.get_executor(),
                            std::make_unique<kle::kube::KubeLeaseLock>(client, opt.namespace_, argv[2]), opt);

  FencedJournal journal(argv[3]);
  const int lines = std::atoi(argv[4]);
  int status = 0;
  elector.on([&](election::Event event, const election::LeaseState& lease) {
    std::cout << election::to_string(event) << ": holder=" << lease.holder << " epoch=" << lease.transitions
              << std::endl;
    if (event == election::Event::leadership_acquired) {
      asio::co_spawn(io, write_while_leader(elector, journal, lease.transitions, lines, status), asio::detached);
    }
  });
  asio::co_spawn(io, elector.start(), asio::detached);
  io.run();  // ends once the writer has stopped the elector (or a signal did)
  return status;
}
