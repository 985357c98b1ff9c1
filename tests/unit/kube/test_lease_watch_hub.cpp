// LeaseWatchHub against a scripted list + watch source: fan-out by name, what a new
// subscriber is shown first, cancelling one subscriber, re-listing on 410 Gone, and the end
// of the stream (the server's timeout resumes; a failure ends every watch and backs off).
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <kle/kube/lease_watch_hub.hpp>

using kle::api::ErrorKind;
using kle::api::Lease;
using kle::api::Result;
using kle::kube::LeaseList;
using kle::kube::LeaseWatchEvent;
using kle::kube::LeaseWatchHub;
using kle::kube::LeaseWatchHubOptions;
using kle::kube::LeaseWatchSource;
using Type = LeaseWatchEvent::Type;
namespace net = boost::asio;

namespace {

Lease lease(const std::string& name, const std::string& rv, const std::string& holder = "x") {
  Lease l;
  l.namespace_ = "ns";
  l.name = name;
  l.resource_version = rv;
  l.spec.holder_identity = holder;
  return l;
}

LeaseWatchEvent event(Type type, Lease l) { return {type, std::move(l)}; }

// The apiserver side: each list() answers the next scripted list; watch() stays open until
// the test ends it (or the hub cancels it) and hands the test its callback to push events.
struct ScriptedSource {
  explicit ScriptedSource(net::io_context& io) : io_(io) {}

  std::deque<Result<LeaseList>> lists;
  int list_calls = 0;
  std::vector<std::string> watched_from;
  std::function<void(const LeaseWatchEvent&)> push;  // set while a stream is open
  bool cancelled_by_hub = false;

  void end_stream(Result<void> r) {
    REQUIRE(stream_end_);
    end_with_ = std::move(r);
    stream_end_->cancel();
  }
  [[nodiscard]] bool open() const { return static_cast<bool>(push); }

  LeaseWatchSource make() {
    LeaseWatchSource s;
    s.list = [this]() -> net::awaitable<Result<LeaseList>> {
      ++list_calls;
      REQUIRE(!lists.empty());
      auto r = lists.front();
      if (lists.size() > 1) lists.pop_front();
      co_return r;
    };
    s.watch = [this](std::string from, std::function<void(const LeaseWatchEvent&)> on_event) {
      return stream(std::move(from), std::move(on_event));
    };
    return s;
  }

 private:
  net::awaitable<Result<void>> stream(std::string from, std::function<void(const LeaseWatchEvent&)> on_event) {
    watched_from.push_back(std::move(from));
    push = std::move(on_event);
    end_with_.reset();
    stream_end_.emplace(io_, net::steady_timer::time_point::max());
    boost::system::error_code ec;
    co_await stream_end_->async_wait(net::redirect_error(net::use_awaitable, ec));
    push = nullptr;
    if (!end_with_) {
      cancelled_by_hub = true;
      co_return kle::api::local_error(ErrorKind::cancelled, "stream cancelled");
    }
    co_return *end_with_;
  }

  net::io_context& io_;
  std::optional<net::steady_timer> stream_end_;
  std::optional<Result<void>> end_with_;
};

// One subscriber: its events, its watch()'s result, and a signal to cancel it.
struct Watcher {
  std::vector<LeaseWatchEvent> events;
  std::optional<Result<void>> result;
  net::cancellation_signal cancel;
};

LeaseList list_of(std::vector<Lease> items, const std::string& rv) {
  LeaseList l;
  l.items = std::move(items);
  l.resource_version = rv;
  return l;
}

// A coroutine with parameters, not a capturing lambda: the frame must own what it uses.
net::awaitable<void> watch_into(std::shared_ptr<LeaseWatchHub> hub, Watcher& w, std::string name, std::string from) {
  std::function<void(const LeaseWatchEvent&)> cb = [&w](const LeaseWatchEvent& e) { w.events.push_back(e); };
  w.result = co_await hub->watch(std::move(name), std::move(from), std::move(cb));
}

struct Fixture {
  net::io_context io;
  ScriptedSource source{io};
  std::shared_ptr<LeaseWatchHub> hub;
  std::map<std::string, Watcher> watchers;  // by a test's own key

  explicit Fixture(std::vector<Lease> items = {}, const std::string& rv = "12") {
    source.lists.emplace_back(list_of(std::move(items), rv));
    LeaseWatchHubOptions o;
    o.min_stream = std::chrono::milliseconds(0);  // the scripted streams end whenever the test says
    o.min_backoff = std::chrono::hours(1);        // so "refused during the backoff" cannot race the clock
    hub = LeaseWatchHub::create(io.get_executor(), "ns", source.make(), o);
  }

  // Every watch ends before the io_context goes, so no coroutine frame is left to it.
  ~Fixture() {
    for (auto& [key, w] : watchers)
      if (!w.result) w.cancel.emit(net::cancellation_type::terminal);
    settle();
  }
  Fixture(const Fixture&) = delete;
  Fixture& operator=(const Fixture&) = delete;

  Watcher& subscribe(const std::string& key, const std::string& name, const std::string& from = "") {
    Watcher& w = watchers[key];
    net::co_spawn(io, watch_into(hub, w, name, from), net::bind_cancellation_slot(w.cancel.slot(), [](std::exception_ptr e) {
      if (e) std::rethrow_exception(e);
    }));
    settle();
    return w;
  }

  // Runs every handler that is ready; nothing here waits on a real clock.
  void settle() {
    io.restart();
    while (io.poll() > 0) {
    }
  }
};

}  // namespace

TEST_CASE("hub: one list and one stream serve every subscriber, each sees only its Lease", "[hub]") {
  Fixture f({lease("a", "10"), lease("b", "11")});
  auto& a = f.subscribe("a", "a");
  auto& b = f.subscribe("b", "b");
  auto& c = f.subscribe("c", "c");  // no such Lease yet
  REQUIRE(f.source.list_calls == 1);
  REQUIRE(f.source.watched_from == std::vector<std::string>{"12"});
  REQUIRE(f.hub->subscribers() == 3);
  // From "": the current state first, as ADDED; nothing for a Lease that does not exist.
  REQUIRE(a.events.size() == 1);
  CHECK(a.events[0].type == Type::added);
  CHECK(a.events[0].lease->resource_version == "10");
  REQUIRE(b.events.size() == 1);
  CHECK(b.events[0].lease->name == "b");
  CHECK(c.events.empty());

  f.source.push(event(Type::modified, lease("a", "13", "y")));
  f.source.push(event(Type::added, lease("c", "14")));
  f.settle();
  REQUIRE(a.events.size() == 2);
  CHECK(a.events[1].lease->spec.holder_identity == "y");
  CHECK(b.events.size() == 1);
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].type == Type::added);

  Lease mark;
  mark.resource_version = "15";
  f.source.push(event(Type::bookmark, mark));
  f.settle();
  CHECK(a.events.back().type == Type::bookmark);
  CHECK(b.events.back().type == Type::bookmark);
  CHECK(c.events.back().type == Type::bookmark);
  CHECK(f.hub->streams_opened() == 1);
  CHECK(f.hub->lists_made() == 1);
}

TEST_CASE("hub: every watcher of a Lease is shown the one object the stream delivered, not a copy", "[hub]") {
  // A thousand idle Electors hold the Lease their last event carried: one object per Lease,
  // shared with the hub's cache, instead of a copy each (issue 14).
  Fixture f({lease("a", "10")});
  auto& first = f.subscribe("first", "a");
  auto& second = f.subscribe("second", "a");
  REQUIRE(first.events.size() == 1);
  REQUIRE(second.events.size() == 1);
  CHECK(first.events[0].lease == second.events[0].lease);  // the listed Lease, from the cache

  const LeaseWatchEvent change = event(Type::modified, lease("a", "13", "y"));
  f.source.push(change);
  f.settle();
  REQUIRE(first.events.size() == 2);
  REQUIRE(second.events.size() == 2);
  CHECK(first.events[1].lease == change.lease);
  CHECK(second.events[1].lease == change.lease);
  // A watcher that comes later is primed with that same object from the cache.
  auto& later = f.subscribe("later", "a");
  REQUIRE(later.events.size() == 1);
  CHECK(later.events[0].lease == change.lease);
}

TEST_CASE("hub: a subscriber from a resourceVersion is shown only what changed after it", "[hub]") {
  Fixture f({lease("a", "10"), lease("b", "11")}, "12");
  auto& same = f.subscribe("same", "a", "10");
  auto& older = f.subscribe("older", "a", "9");
  auto& gone = f.subscribe("gone", "z", "5");       // z existed at 5 and is not in the list at 12
  auto& fresh = f.subscribe("fresh", "y", "50");    // y was just created at 50: not yet seen
  CHECK(same.events.empty());
  REQUIRE(older.events.size() == 1);
  CHECK(older.events[0].type == Type::modified);
  CHECK(older.events[0].lease->resource_version == "10");
  REQUIRE(gone.events.size() == 1);
  CHECK(gone.events[0].type == Type::deleted);
  CHECK(gone.events[0].lease->name == "z");
  CHECK(fresh.events.empty());  // a false DELETED would make a new leader step down
}

TEST_CASE("hub: a Lease deleted and created again reaches its watcher both times; the cache follows every Lease", "[hub]") {
  Fixture f({lease("a", "10"), lease("b", "11")}, "12");
  auto& a = f.subscribe("a", "a");
  f.source.push(event(Type::deleted, lease("a", "13")));
  f.source.push(event(Type::added, lease("a", "14", "again")));
  // Leases nobody watches are cached too: c comes and goes, d comes and stays.
  f.source.push(event(Type::added, lease("c", "15")));
  f.source.push(event(Type::deleted, lease("c", "16")));
  f.source.push(event(Type::added, lease("d", "17")));
  f.settle();
  REQUIRE(a.events.size() == 3);
  CHECK(a.events[1].type == Type::deleted);
  CHECK(a.events[2].type == Type::added);
  CHECK(a.events[2].lease->spec.holder_identity == "again");

  // Later subscribers are served from the cache, without another list.
  auto& b = f.subscribe("b", "b");
  auto& d = f.subscribe("d", "d");
  auto& c = f.subscribe("c", "c");
  auto& c_old = f.subscribe("c-old", "c", "15");
  CHECK(f.source.list_calls == 1);
  REQUIRE(b.events.size() == 1);
  CHECK(b.events[0].lease->resource_version == "11");
  REQUIRE(d.events.size() == 1);
  CHECK(d.events[0].type == Type::added);
  CHECK(d.events[0].lease->resource_version == "17");
  CHECK(c.events.empty());  // deleted before anyone watched it
  REQUIRE(c_old.events.size() == 1);
  CHECK(c_old.events[0].type == Type::deleted);  // the hub has seen past 15, and c is gone

  // The last watcher of a name leaves; its Lease stays cached for the next one.
  a.cancel.emit(net::cancellation_type::terminal);
  f.settle();
  auto& a2 = f.subscribe("a2", "a");
  REQUIRE(a2.events.size() == 1);
  CHECK(a2.events[0].lease->resource_version == "14");
  CHECK(f.source.list_calls == 1);
}

TEST_CASE("hub: cancelling one subscriber ends only its watch; the last one closes the stream", "[hub]") {
  Fixture f({lease("a", "10"), lease("b", "11")});
  auto& a = f.subscribe("a", "a");
  auto& b = f.subscribe("b", "b");
  a.cancel.emit(net::cancellation_type::terminal);
  f.settle();
  REQUIRE(a.result);
  CHECK(a.result->error().is(ErrorKind::cancelled));
  CHECK_FALSE(b.result);
  REQUIRE(f.source.open());
  f.source.push(event(Type::modified, lease("b", "13")));
  f.source.push(event(Type::modified, lease("a", "14")));
  f.settle();
  CHECK(b.events.size() == 2);
  CHECK(a.events.size() == 1);  // nothing after it left
  CHECK(f.hub->subscribers() == 1);

  b.cancel.emit(net::cancellation_type::terminal);
  f.settle();
  CHECK(b.result->error().is(ErrorKind::cancelled));
  CHECK(f.source.cancelled_by_hub);
  CHECK_FALSE(f.source.open());
  CHECK(f.hub->subscribers() == 0);

  // Nobody watched meanwhile, so the cache is gone: a new subscriber starts with a new list.
  auto& again = f.subscribe("again", "a");
  CHECK(f.source.list_calls == 2);
  REQUIRE(again.events.size() == 1);
  CHECK(again.events[0].type == Type::added);
}

TEST_CASE("hub: 410 Gone re-lists and shows each subscriber what changed, without ending any watch", "[hub]") {
  Fixture f({lease("a", "10"), lease("b", "11")}, "12");
  auto& a = f.subscribe("a", "a");
  auto& b = f.subscribe("b", "b");
  f.source.lists.clear();
  f.source.lists.emplace_back(list_of({lease("a", "20", "new-holder")}, "21"));
  f.source.end_stream(kle::api::local_error(ErrorKind::gone, "too old"));
  f.settle();
  CHECK(f.source.list_calls == 2);
  CHECK(f.source.watched_from == std::vector<std::string>{"12", "21"});
  CHECK_FALSE(a.result);
  CHECK_FALSE(b.result);
  REQUIRE(a.events.size() == 2);
  CHECK(a.events[1].type == Type::modified);
  CHECK(a.events[1].lease->spec.holder_identity == "new-holder");
  REQUIRE(b.events.size() == 2);
  CHECK(b.events[1].type == Type::deleted);
  CHECK(b.events[1].lease->resource_version == "21");
}

TEST_CASE("hub: the server's routine end of a stream resumes from the last version seen", "[hub]") {
  Fixture f({lease("a", "10")}, "12");
  auto& a = f.subscribe("a", "a");
  f.source.push(event(Type::modified, lease("a", "17")));
  f.source.end_stream(Result<void>{});
  f.settle();
  CHECK(f.source.watched_from == std::vector<std::string>{"12", "17"});
  CHECK(f.source.list_calls == 1);
  CHECK_FALSE(a.result);
  CHECK(a.events.size() == 2);
}

TEST_CASE("hub: a failed stream ends every watch with its error and refuses new ones for the backoff", "[hub]") {
  Fixture f({lease("a", "10"), lease("b", "11")});
  auto& a = f.subscribe("a", "a");
  auto& b = f.subscribe("b", "b");
  f.source.end_stream(kle::api::local_error(ErrorKind::transport, "connection reset"));
  f.settle();
  REQUIRE(a.result);
  REQUIRE(b.result);
  CHECK(a.result->error().is(ErrorKind::transport));
  CHECK(b.result->error().is(ErrorKind::transport));
  CHECK(f.hub->subscribers() == 0);

  // Within the backoff: refused at once, no request (the elector polls meanwhile).
  auto& late = f.subscribe("late", "a");
  REQUIRE(late.result);
  CHECK(late.result->error().is(ErrorKind::transport));
  CHECK(f.source.list_calls == 1);
  CHECK(f.source.watched_from.size() == 1);
}

TEST_CASE("hub: a failed list ends the waiting watches with its error", "[hub]") {
  Fixture f;
  f.source.lists.clear();
  f.source.lists.emplace_back(kle::api::local_error(ErrorKind::forbidden, "cannot list leases"));
  auto& a = f.subscribe("a", "a");
  REQUIRE(a.result);
  CHECK(a.result->error().is(ErrorKind::forbidden));
  CHECK(f.source.watched_from.empty());
}

TEST_CASE("hub: an empty name is refused", "[hub]") {
  Fixture f;
  auto& w = f.subscribe("empty", "");
  REQUIRE(w.result);
  CHECK(w.result->error().is(ErrorKind::invalid));
  CHECK(f.source.list_calls == 0);
}

// The callback form the Elector uses (issue 14: no coroutine per idle subscriber).
TEST_CASE("hub: start_watch's end is posted, never called inside the call or the cancelling emit", "[hub]") {
  Fixture f({lease("a", "10"), lease("b", "11")});
  struct Callbacks {
    std::vector<LeaseWatchEvent> events;
    std::optional<Result<void>> result;
    std::exception_ptr error;
    bool inside = false;        // a call of ours is on the stack
    bool ended_inside = false;  // on_end came from inside it
    net::cancellation_signal cancel;
  };
  auto start = [&f](Callbacks& c, const std::string& name) {
    c.inside = true;
    f.hub->start_watch(
        name, "", [&c](const LeaseWatchEvent& e) { c.events.push_back(e); },
        [&c](std::exception_ptr e, Result<void> how) {
          c.ended_inside = c.inside;
          c.error = std::move(e);
          c.result = std::move(how);
        },
        c.cancel.slot());
    c.inside = false;
  };
  Callbacks a;
  Callbacks b;
  start(a, "a");
  start(b, "b");
  f.settle();
  REQUIRE(a.events.size() == 1);
  CHECK(a.events[0].type == Type::added);
  CHECK(f.hub->subscribers() == 2);

  // Cancelled through its slot: it leaves at once, hears of it after the emit, and b stays.
  a.inside = true;
  a.cancel.emit(net::cancellation_type::terminal);
  a.inside = false;
  CHECK(f.hub->subscribers() == 1);
  CHECK_FALSE(a.result);
  f.settle();
  REQUIRE(a.result);
  CHECK_FALSE(a.ended_inside);
  CHECK_FALSE(a.error);
  CHECK(a.result->error().is(ErrorKind::cancelled));
  f.source.push(event(Type::modified, lease("a", "14")));
  f.settle();
  CHECK(a.events.size() == 1);
  CHECK_FALSE(b.result);

  // A failed stream ends it with the error; emitting its stale slot afterwards does nothing.
  f.source.end_stream(kle::api::local_error(ErrorKind::transport, "connection reset"));
  f.settle();
  REQUIRE(b.result);
  CHECK(b.result->error().is(ErrorKind::transport));
  b.result.reset();
  b.cancel.emit(net::cancellation_type::terminal);
  f.settle();
  CHECK_FALSE(b.result);

  // Refused within the backoff: still after the call, not inside it.
  Callbacks late;
  start(late, "a");
  CHECK_FALSE(late.result);
  f.settle();
  REQUIRE(late.result);
  CHECK_FALSE(late.ended_inside);
  CHECK(late.result->error().is(ErrorKind::transport));
  CHECK(f.source.list_calls == 1);
}
