// The threading rule of kle/election/elector.hpp: an Elector is used from the thread that
// started it. Where assertions are on, a call from another thread aborts with the call's name;
// without them (NDEBUG, the release build) nothing is checked. Each case runs in a child
// process so that the abort is observed, not suffered.
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <string>
#include <thread>

#include "harness.hpp"

using namespace kle;
using namespace kle::testing;
using namespace std::chrono_literals;

namespace {

struct ChildResult {
  int status = 0;
  std::string err;
};

// Runs body in a forked child with stderr captured; the child exits 0 when body returns.
template <class Body>
ChildResult in_child(Body body) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::signal(SIGABRT, SIG_DFL);  // not Catch's handler: the parent judges the abort
    ::dup2(fds[1], STDERR_FILENO);
    ::close(fds[0]);
    body();
    std::_Exit(0);
  }
  ::close(fds[1]);
  ChildResult r;
  char buf[512];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) r.err.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  REQUIRE(::waitpid(pid, &r.status, 0) == pid);
  return r;
}

// A standalone elector started on this thread, driven until it leads, then `call` made from
// another thread.
template <class Call>
void started_then_from_another_thread(Call call) {
  boost::asio::io_context ioc;
  auto time = std::make_shared<FakeTime>();
  auto o = test_options();
  o.identity = "solo";
  election::Elector e(ioc.get_executor(), nullptr, o, std::make_shared<FakeClock>(time));
  boost::asio::co_spawn(ioc, e.start(), boost::asio::detached);
  if (!drive(ioc, *time, [&] { return e.current_leader(); }, 1s)) std::_Exit(3);
  std::thread other([&] { call(e); });
  other.join();
}

}  // namespace

TEST_CASE("threading: calls from the thread that started the elector are fine") {
  const auto r = in_child([] { started_then_from_another_thread([](election::Elector&) {}); });
  INFO("the child's stderr: " << r.err);
  CHECK(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 0);
}

TEST_CASE("threading: a getter from another thread aborts, naming the call (assertions on)") {
  const auto r = in_child([] { started_then_from_another_thread([](election::Elector& e) { (void)e.current_leader(); }); });
  INFO("the child's stderr: " << r.err);
#ifdef NDEBUG
  CHECK(WIFEXITED(r.status));  // release builds check nothing
  CHECK(WEXITSTATUS(r.status) == 0);
#else
  REQUIRE(WIFSIGNALED(r.status));
  CHECK(WTERMSIG(r.status) == SIGABRT);
  CHECK(r.err.find("current_leader() on a thread other than the one that started it") != std::string::npos);
#endif
}

TEST_CASE("threading: before start() the elector belongs to no thread yet") {
  // Constructed and subscribed on one thread, then started, run and destroyed on another:
  // the embedder's usual "build it, then hand it to the I/O thread".
  const auto r = in_child([] {
    boost::asio::io_context ioc;
    auto time = std::make_shared<FakeTime>();
    auto o = test_options();
    o.identity = "solo";
    auto e = std::make_unique<election::Elector>(ioc.get_executor(), nullptr, o, std::make_shared<FakeClock>(time));
    e->on([](election::Event, const election::LeaseState&) {});
    std::thread io_thread([&] {
      boost::asio::co_spawn(ioc, e->start(), boost::asio::detached);
      if (!drive(ioc, *time, [&] { return e->current_leader(); }, 1s)) std::_Exit(3);
      e.reset();  // destroyed where it ran, like every other call after start()
    });
    io_thread.join();
  });
  INFO("the child's stderr: " << r.err);
  CHECK(WIFEXITED(r.status));
  CHECK(WEXITSTATUS(r.status) == 0);
}
