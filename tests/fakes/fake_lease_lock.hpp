#pragma once
// An in-memory apiserver for one Lease, shared by several electors, with real
// resourceVersion semantics (a stale version conflicts), watchers that receive every
// change (with 410 Gone after a compaction), and scriptable faults per client: fail the
// next N calls, latency in virtual time, a write that lands but reports a timeout, a
// network partition, a watch stream that stalls silently. Admin edits (delete, hand-set
// holder) go through the store.
#include <algorithm>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <kle/election/lease_lock.hpp>
#include "fake_clock.hpp"

namespace kle::testing {

using election::LeaseEvent;

inline api::Error fake_error(api::ErrorKind kind, std::chrono::seconds retry_after = {}) {
  api::Error e;
  e.kind = kind;
  e.message = std::string("injected ") + api::to_string(kind);
  e.retry_after = retry_after;
  return e;
}

// Per-client script and counters; the test keeps a shared_ptr after handing the lock over.
struct FakeClient {
  enum class Op { get, create, update, watch, any };
  struct Fault {
    Op op;
    api::ErrorKind kind;
    int remaining;
    std::chrono::seconds retry_after{0};
    bool commit_anyway = false;  // the server applies the write; the caller sees the error
  };
  std::string name;
  int gets = 0, creates = 0, updates = 0, watches = 0;
  std::vector<Clock::time_point> warms;  // when LeaseLock::warm() was called (it is no request)
  Clock::duration latency{0};  // virtual time before the server handles a request
  bool partitioned = false;    // every request fails with transport; watches end
  std::vector<Fault> faults;

  void fail_next(Op op, api::ErrorKind kind, int n = 1, std::chrono::seconds retry_after = {}) {
    faults.push_back({op, kind, n, retry_after, false});
  }
  void commit_but_timeout_next(Op op) { faults.push_back({op, api::ErrorKind::timeout, 1, {}, true}); }
  std::optional<Fault> take(Op op) {
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      if (it->op != op && it->op != Op::any) continue;
      Fault f = *it;
      if (--it->remaining <= 0) faults.erase(it);
      return f;
    }
    return std::nullopt;
  }
};

class FakeLeaseStore {
 public:
  struct Watcher {
    explicit Watcher(const boost::asio::any_io_executor& ex) : wakeup(ex) {}
    const FakeClient* client = nullptr;
    std::deque<LeaseEvent> queue;
    boost::asio::steady_timer wakeup;
    bool closed = false;
    bool stalled = false;  // delivers nothing more, yet stays open (a silently dead stream)
    std::optional<api::Error> close_error;
  };
  struct Committed {
    Clock::time_point at;  // virtual time
    LeaseEvent event;
  };

  FakeLeaseStore(std::shared_ptr<FakeTime> time, std::string ns = "default", std::string name = "the-lease")
      : time_(std::move(time)), ns_(std::move(ns)), name_(std::move(name)) {}

  [[nodiscard]] const std::string& lease_namespace() const { return ns_; }
  [[nodiscard]] const std::string& lease_name() const { return name_; }
  [[nodiscard]] const std::optional<api::Lease>& lease() const { return lease_; }
  [[nodiscard]] const std::vector<Committed>& history() const { return history_; }
  [[nodiscard]] std::string holder() const {
    return lease_ ? lease_->spec.holder_identity.value_or("") : std::string();
  }
  [[nodiscard]] FakeTime& time() const { return *time_; }

  api::Result<api::Lease> get() const {
    if (!lease_) return fake_error(api::ErrorKind::not_found);
    return *lease_;
  }
  api::Result<api::Lease> create(api::Lease l) {
    if (lease_) return fake_error(api::ErrorKind::conflict);  // AlreadyExists is a 409 too
    l.uid = "uid-" + std::to_string(++uids_);
    return commit(std::move(l), LeaseEvent::Type::added);
  }
  api::Result<api::Lease> update(api::Lease l) {
    if (!lease_) return fake_error(api::ErrorKind::not_found);
    if (l.resource_version != lease_->resource_version) return fake_error(api::ErrorKind::conflict);
    l.uid = lease_->uid;
    return commit(std::move(l), LeaseEvent::Type::modified);
  }

  // --- admin edits (kubectl), unconditional
  void remove() {
    if (!lease_) return;
    api::Lease gone = *lease_;
    gone.resource_version = std::to_string(++revision_);
    const LeaseEvent ev{LeaseEvent::Type::deleted, std::move(gone)};
    lease_.reset();
    publish(ev);
  }
  void set_holder(const std::string& holder) {
    api::Lease l = *lease_;
    l.spec.holder_identity = holder;
    (void)commit(std::move(l), LeaseEvent::Type::modified);
  }
  // Every watch from a resourceVersion older than the current one answers 410 Gone.
  void compact() { compacted_ = revision_; }
  // As a real apiserver after a restart, or after a compaction while other objects changed:
  // the watch window starts after the Lease's own last write, so a watch from any version
  // seen so far (even the one a fresh GET returns) answers 410; only a watch from now works.
  void compact_past_lease() { compacted_ = ++revision_; }
  // The open streams of one client stall: they stay open and deliver no further event, as
  // a connection that died without a FIN or RST. A new watch from that client works.
  void stall_watches(const FakeClient* client) {
    for (auto* w : watchers_) {
      if (w->client == client) w->stalled = true;
    }
  }
  // Ends the streams of one client (or all with nullptr), with an error or cleanly.
  void end_watches(const FakeClient* client, std::optional<api::Error> error) {
    for (auto* w : watchers_) {
      if (client && w->client != client) continue;
      w->closed = true;
      w->close_error = error;
      w->wakeup.cancel();
    }
  }

  // Streams open now for one client (or all with nullptr): a test that ends a client's watch
  // waits for it to be open first, since the elector opens it beside its first request.
  [[nodiscard]] int open_watches(const FakeClient* client) const {
    return static_cast<int>(std::count_if(watchers_.begin(), watchers_.end(),
                                          [&](const Watcher* w) { return !client || w->client == client; }));
  }

  // --- used by FakeLeaseLock::watch
  api::Result<void> attach(Watcher& w, const std::string& from) {
    if (from.empty()) {
      if (lease_) w.queue.push_back({LeaseEvent::Type::added, *lease_});
    } else {
      const auto rv = std::stoull(from);
      if (rv < compacted_) return fake_error(api::ErrorKind::gone);
      for (const auto& c : history_) {
        if (std::stoull(c.event.lease->resource_version) > rv) w.queue.push_back(c.event);
      }
    }
    watchers_.push_back(&w);
    return {};
  }
  void detach(Watcher& w) { std::erase(watchers_, &w); }

 private:
  api::Result<api::Lease> commit(api::Lease l, LeaseEvent::Type type) {
    l.name = name_;
    l.namespace_ = ns_;
    l.resource_version = std::to_string(++revision_);
    lease_ = l;
    publish({type, l});
    return l;
  }
  void publish(const LeaseEvent& ev) {
    history_.push_back({time_->now(), ev});
    for (auto* w : watchers_) {
      if (w->stalled) continue;
      w->queue.push_back(ev);
      w->wakeup.cancel();
    }
  }

  std::shared_ptr<FakeTime> time_;
  std::string ns_;
  std::string name_;
  std::optional<api::Lease> lease_;
  std::uint64_t revision_ = 100;
  std::uint64_t compacted_ = 0;
  std::uint64_t uids_ = 0;
  std::vector<Committed> history_;
  std::vector<Watcher*> watchers_;
};

class FakeLeaseLock final : public election::LeaseLock {
 public:
  using Op = FakeClient::Op;
  FakeLeaseLock(std::shared_ptr<FakeLeaseStore> store, std::shared_ptr<FakeClient> client)
      : store_(std::move(store)), client_(std::move(client)) {}

  boost::asio::awaitable<api::Result<api::Lease>> get() override {
    ++client_->gets;
    const auto fault = client_->take(Op::get);
    co_await travel();
    if (auto e = failure(fault)) co_return *e;
    co_return store_->get();
  }
  boost::asio::awaitable<api::Result<api::Lease>> create(api::Lease lease) override {
    ++client_->creates;
    const auto fault = client_->take(Op::create);
    co_await travel();
    if (fault && fault->commit_anyway && !client_->partitioned) (void)store_->create(lease);
    if (auto e = failure(fault)) co_return *e;
    co_return store_->create(std::move(lease));
  }
  boost::asio::awaitable<api::Result<api::Lease>> update(api::Lease lease) override {
    ++client_->updates;
    const auto fault = client_->take(Op::update);
    co_await travel();
    if (fault && fault->commit_anyway && !client_->partitioned) (void)store_->update(lease);
    if (auto e = failure(fault)) co_return *e;
    co_return store_->update(std::move(lease));
  }

  boost::asio::awaitable<api::Result<void>> watch(std::string resource_version,
                                                  std::function<void(const LeaseEvent&)> on_event) override {
    ++client_->watches;
    const auto fault = client_->take(Op::watch);
    co_await travel();
    if (auto e = failure(fault)) co_return *e;
    auto ex = co_await boost::asio::this_coro::executor;
    FakeLeaseStore::Watcher w(ex);
    w.client = client_.get();
    if (auto attached = store_->attach(w, resource_version); !attached) co_return attached.error();
    struct Detach {
      FakeLeaseStore& s;
      FakeLeaseStore::Watcher& w;
      ~Detach() { s.detach(w); }
    } detach{*store_, w};
    while (true) {
      while (!w.queue.empty()) {
        const LeaseEvent ev = w.queue.front();
        w.queue.pop_front();
        on_event(ev);
      }
      if (w.closed) {
        if (w.close_error) co_return *w.close_error;
        co_return api::Result<void>{};
      }
      w.wakeup.expires_at(Clock::time_point::max());
      boost::system::error_code ec;
      co_await w.wakeup.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
      auto cs = co_await boost::asio::this_coro::cancellation_state;
      if (cs.cancelled() != boost::asio::cancellation_type::none) co_return fake_error(api::ErrorKind::cancelled);
    }
  }

  boost::asio::awaitable<void> warm() override {
    client_->warms.push_back(store_->time().now());
    co_return;
  }

  [[nodiscard]] std::string lease_namespace() const override { return store_->lease_namespace(); }
  [[nodiscard]] std::string lease_name() const override { return store_->lease_name(); }

  // Cuts this client off (or heals it); its open watches end with a transport error.
  static void partition(FakeLeaseStore& store, FakeClient& client, bool cut) {
    client.partitioned = cut;
    if (cut) store.end_watches(&client, fake_error(api::ErrorKind::transport));
  }

 private:
  // Every request suspends at least once (as real I/O does), plus the scripted latency.
  boost::asio::awaitable<void> travel() {
    auto ex = co_await boost::asio::this_coro::executor;
    if (client_->latency <= Clock::duration::zero()) {
      co_await boost::asio::post(ex, boost::asio::use_awaitable);
      co_return;
    }
    boost::asio::steady_timer t(ex);
    store_->time().arm(t, store_->time().now() + client_->latency);
    boost::system::error_code ec;
    co_await t.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    store_->time().forget(t);
  }
  std::optional<api::Error> failure(const std::optional<FakeClient::Fault>& fault) const {
    if (client_->partitioned) return fake_error(api::ErrorKind::transport);
    if (fault) return fake_error(fault->kind, fault->retry_after);
    return std::nullopt;
  }

  std::shared_ptr<FakeLeaseStore> store_;
  std::shared_ptr<FakeClient> client_;
};

}  // namespace kle::testing
