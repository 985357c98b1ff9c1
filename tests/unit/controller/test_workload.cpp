#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <catch2/catch.hpp>

#include <kle/controller/workload.hpp>

namespace asio = boost::asio;
using kle::controller::Workload;
using kle::controller::leader_env;
using namespace std::chrono_literals;

TEST_CASE("a workload that exits by itself reports its status") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/bin/sh", "-c", "exit 3"}, 1s, kle::log::null_logger());
  int reported = -1;
  w.on_unexpected_exit([&](int status) {
    reported = status;
    io.stop();
  });
  REQUIRE(w.start());
  CHECK(w.running());
  io.run_for(10s);
  CHECK(reported == 3);
  CHECK_FALSE(w.running());
}

TEST_CASE("stop() terminates the workload with SIGTERM and is not an unexpected exit") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/bin/sh", "-c", "exec sleep 60"}, 5s, kle::log::null_logger());
  bool unexpected = false;
  w.on_unexpected_exit([&](int) { unexpected = true; });
  REQUIRE(w.start());
  bool stopped = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await w.stop();
    stopped = true;
    io.stop();
  }, asio::detached);
  io.run_for(10s);
  CHECK(stopped);
  CHECK_FALSE(unexpected);
  CHECK(w.last_status() == 128 + 15);
}

TEST_CASE("a workload that ignores SIGTERM is killed after the grace period") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 1; done"}, 200ms,
             kle::log::null_logger());
  REQUIRE(w.start());
  bool stopped = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await asio::steady_timer(io, 100ms).async_wait(asio::use_awaitable);  // let the trap install
    co_await w.stop();
    stopped = true;
    io.stop();
  }, asio::detached);
  io.run_for(10s);
  CHECK(stopped);
  CHECK(w.last_status() == 128 + 9);
}

TEST_CASE("a command that cannot be spawned is reported as status 127") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/nonexistent/definitely-not-here"}, 1s, kle::log::null_logger());
  int reported = -1;
  w.on_unexpected_exit([&](int status) { reported = status; });
  CHECK_FALSE(w.start());
  CHECK_FALSE(w.running());
  CHECK(reported == 127);
}

// Leadership lost, then regained while CMD is still inside its grace period: the old child
// finishes stopping (its own status is recorded), then a new one starts; never two at once.
namespace {

// A child that announces its TERM trap is installed (READY) and, once TERMed, stays in the trap
// until the test opens GATE, then exits with `status`. The test decides when things happen, so
// nothing depends on how fast a loaded machine runs the shell.
struct GatedChild {
  std::filesystem::path dir;
  explicit GatedChild(const std::string& tag) {
    dir = std::filesystem::temp_directory_path() / ("kle-workload-" + tag + "-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~GatedChild() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  GatedChild(const GatedChild&) = delete;
  GatedChild& operator=(const GatedChild&) = delete;
  // `first` runs before anything else (e.g. to record the environment the child got).
  std::vector<std::string> argv(int status, const std::string& first = "") const {
    const std::string d = dir.string();
    return {"/bin/sh", "-c",
            first + "trap 'until [ -e " + d + "/GATE ]; do sleep 0.02; done; exit " + std::to_string(status) + "' TERM; touch " +
                d + "/READY; while :; do sleep 0.05; done"};
  }
  bool ready() const { return std::filesystem::exists(dir / "READY"); }
  void unready() const { std::filesystem::remove(dir / "READY"); }
  void open_gate() const { std::ofstream(dir / "GATE").put('x'); }
};

asio::awaitable<void> poll_until(asio::io_context& io, const std::function<bool()>& done) {
  while (!done()) co_await asio::steady_timer(io, 10ms).async_wait(asio::use_awaitable);
}

}  // namespace

TEST_CASE("start() during a stop restarts the workload once the old one has exited") {
  asio::io_context io;
  const GatedChild child("restart");
  Workload w(io.get_executor(), child.argv(7), 60s, kle::log::null_logger());
  bool unexpected = false;
  w.on_unexpected_exit([&](int) { unexpected = true; });
  REQUIRE(w.start());
  bool restarted_after_stop = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await poll_until(io, [&] { return child.ready(); });  // the trap is installed
    child.unready();
    asio::co_spawn(io, w.stop(), asio::detached);
    co_await asio::steady_timer(io, 50ms).async_wait(asio::use_awaitable);
    REQUIRE(w.running());  // held inside the TERM trap until the gate opens
    CHECK_FALSE(w.last_status().has_value());
    CHECK(w.start());      // regained: must not be lost
    child.open_gate();
    co_await poll_until(io, [&] { return w.last_status().has_value(); });
    restarted_after_stop = w.running();
    co_await poll_until(io, [&] { return child.ready(); });  // the new child's trap too
    co_await w.stop();  // the new child stops too (its trap exits 7 as well)
    io.stop();
  }, asio::detached);
  io.run_for(60s);
  CHECK(restarted_after_stop);
  CHECK_FALSE(w.running());
  CHECK(w.last_status() == 7);
  CHECK_FALSE(unexpected);
}

TEST_CASE("a second stop() waits for the same exit and does not cut the grace period short") {
  asio::io_context io;
  const GatedChild child("second-stop");
  Workload w(io.get_executor(), child.argv(5), 60s, kle::log::null_logger());
  REQUIRE(w.start());
  int done = 0;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await poll_until(io, [&] { return child.ready(); });
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await w.stop();
      ++done;
    }, asio::detached);
    co_await asio::steady_timer(io, 50ms).async_wait(asio::use_awaitable);
    REQUIRE(w.running());  // the first stop is in its grace period, held by the gate
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await w.stop();  // e.g. shutdown while the loss-stop is in its grace period
      ++done;
    }, asio::detached);
    co_await asio::steady_timer(io, 50ms).async_wait(asio::use_awaitable);
    CHECK(done == 0);  // neither stop returned before the child exited
    child.open_gate();
    co_await poll_until(io, [&] { return done == 2; });
    io.stop();
  }, asio::detached);
  io.run_for(60s);
  CHECK(done == 2);
  CHECK(w.last_status() == 5);  // exited by itself in its grace period: not SIGKILLed (137)
}

// A controller's io_context must run out once the controller is done: the SIGCHLD wait is
// the one thing a Workload keeps pending, and close() ends it (issue 15, item 3).
TEST_CASE("after stop() and close() the io_context runs out by itself") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/bin/sh", "-c", "exec sleep 60"}, 5s, kle::log::null_logger());
  REQUIRE(w.start());
  bool stopped = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await w.stop();
    w.close();
    stopped = true;
  }, asio::detached);
  io.run_for(20s);  // no io.stop(): returns early only if nothing is left pending
  CHECK(stopped);
  CHECK(io.stopped());
  CHECK_FALSE(w.start());  // closed for good
}

TEST_CASE("hurry() turns a stop in its grace period into SIGKILL at once") {
  asio::io_context io;
  Workload w(io.get_executor(), {"/bin/sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"}, 60s,
             kle::log::null_logger());
  CHECK_FALSE(w.hurry());  // nothing to hurry
  REQUIRE(w.start());
  bool stopped = false;
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await asio::steady_timer(io, 100ms).async_wait(asio::use_awaitable);  // let the trap install
    asio::co_spawn(io, [&]() -> asio::awaitable<void> {
      co_await w.stop();
      stopped = true;
    }, asio::detached);
    co_await asio::steady_timer(io, 50ms).async_wait(asio::use_awaitable);
    CHECK(w.hurry());
    while (!stopped) co_await asio::steady_timer(io, 20ms).async_wait(asio::use_awaitable);
    io.stop();
  }, asio::detached);
  io.run_for(20s);  // far below the 60 s grace
  CHECK(stopped);
  CHECK(w.last_status() == 128 + 9);
}

namespace {

// The numbers in /proc/self/fd as the workload saw them.
std::set<std::string> fds_seen_by_workload(const std::string& listing) {
  std::set<std::string> fds;
  std::ifstream in(listing);
  for (std::string line; std::getline(in, line);) fds.insert(line);
  return fds;
}

}  // namespace

// Issue 15, item 4: the controller's sockets (the HTTP listener, API connections) and any
// other descriptor without FD_CLOEXEC must not leak into CMD. Here: a pipe and a listening
// TCP socket, both inheritable, stand in for them.
TEST_CASE("the workload inherits only stdin, stdout and stderr") {
  int leaky[2] = {-1, -1};
  REQUIRE(::pipe(leaky) == 0);  // no O_CLOEXEC, on purpose
  asio::io_context io;
  asio::ip::tcp::acceptor listener(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  REQUIRE((::fcntl(listener.native_handle(), F_GETFD) & FD_CLOEXEC) == 0);  // what Asio gives us

  char dir_template[] = "/tmp/kle-workload-fds.XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string listing = std::string(dir_template) + "/fds";
  // exec: ls itself lists its descriptors; the one extra it has open is the directory it reads.
  Workload w(io.get_executor(), {"/bin/sh", "-c", "exec ls -1 /proc/self/fd >\"$1\"", "sh", listing}, 5s,
             kle::log::null_logger());
  int reported = -1;
  w.on_unexpected_exit([&](int status) {
    reported = status;
    io.stop();
  });
  REQUIRE(w.start());
  io.run_for(20s);
  CHECK(reported == 0);
  const auto fds = fds_seen_by_workload(listing);
  CHECK(fds == std::set<std::string>{"0", "1", "2", "3"});  // before the fix: the pipe and socket too
  ::close(leaky[0]);
  ::close(leaky[1]);
  std::filesystem::remove_all(dir_template);
}

// Issue 11, item 5: CMD gets the fencing epoch of the term it runs for, and who it runs as.
TEST_CASE("leader_env names the epoch, identity, lease and namespace") {
  CHECK(leader_env(7, "pod-0", "my-lease", "prod") ==
        std::vector<std::string>{"KLE_EPOCH=7", "KLE_IDENTITY=pod-0", "KLE_LEASE=my-lease", "KLE_NAMESPACE=prod"});
}

TEST_CASE("the workload gets the term's environment, replacing inherited variables of the same name") {
  ::setenv("KLE_EPOCH", "stale-from-the-controller-env", 1);
  ::setenv("KLE_TEST_INHERITED", "kept", 1);
  asio::io_context io;
  char dir_template[] = "/tmp/kle-workload-env.XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string out = std::string(dir_template) + "/env";
  Workload w(io.get_executor(), {"/bin/sh", "-c", "env >\"$1\"", "sh", out}, 5s, kle::log::null_logger());
  int reported = -1;
  w.on_unexpected_exit([&](int status) {
    reported = status;
    io.stop();
  });
  REQUIRE(w.start(leader_env(42, "pod-1", "lk", "ns1")));
  io.run_for(20s);
  ::unsetenv("KLE_EPOCH");
  ::unsetenv("KLE_TEST_INHERITED");
  REQUIRE(reported == 0);
  std::ifstream in(out);
  std::multiset<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.insert(line);
  std::filesystem::remove_all(dir_template);
  CHECK(lines.count("KLE_EPOCH=42") == 1);
  CHECK(lines.count("KLE_EPOCH=stale-from-the-controller-env") == 0);
  CHECK(lines.count("KLE_IDENTITY=pod-1") == 1);
  CHECK(lines.count("KLE_LEASE=lk") == 1);
  CHECK(lines.count("KLE_NAMESPACE=ns1") == 1);
  CHECK(lines.count("KLE_TEST_INHERITED=kept") == 1);
}

// A term regained while the old CMD is still stopping restarts it with the new term's epoch:
// the old epoch would let the new CMD's writes be refused, or worse, accepted as the old term's.
TEST_CASE("a restart pending from a stop gets the latest term's epoch") {
  asio::io_context io;
  const GatedChild child("restart-env");
  const std::string epochs = (child.dir / "epochs").string();
  Workload w(io.get_executor(), child.argv(0, "echo \"$KLE_EPOCH\" >>" + epochs + "; "), 60s,
             kle::log::null_logger());
  REQUIRE(w.start(leader_env(4, "me", "lk", "ns")));
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    co_await poll_until(io, [&] { return child.ready(); });
    child.unready();
    asio::co_spawn(io, w.stop(), asio::detached);
    co_await asio::steady_timer(io, 50ms).async_wait(asio::use_awaitable);
    REQUIRE(w.running());  // held in its TERM trap
    CHECK(w.start(leader_env(5, "me", "lk", "ns")));
    child.open_gate();
    co_await poll_until(io, [&] { return w.last_status().has_value() && child.ready(); });
    co_await w.stop();
    io.stop();
  }, asio::detached);
  io.run_for(60s);
  std::ifstream in(epochs);
  std::vector<std::string> seen;
  for (std::string line; std::getline(in, line);) seen.push_back(line);
  CHECK(seen == std::vector<std::string>{"4", "5"});
}
