// The shared watch: subscriptions and fan-out (here), the list + watch loop (run()).
// The rules a subscriber sees are in lease_watch_hub.hpp.
#include <kle/kube/lease_watch_hub.hpp>

#include <algorithm>
#include <charconv>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kle::kube {
namespace {

namespace net = boost::asio;
using SteadyClock = std::chrono::steady_clock;
using EventType = LeaseWatchEvent::Type;
using WatchEnd = election::LeaseLock::WatchEnd;

// resourceVersions are opaque to clients, but every apiserver backed by etcd issues integers;
// only then can the hub say one is newer. Unknown (nullopt) leads to the safe choice.
std::optional<bool> newer_version(const std::string& a, const std::string& b) {
  std::uint64_t x = 0;
  std::uint64_t y = 0;
  const auto ra = std::from_chars(a.data(), a.data() + a.size(), x);
  const auto rb = std::from_chars(b.data(), b.data() + b.size(), y);
  if (ra.ec != std::errc() || rb.ec != std::errc() || ra.ptr != a.data() + a.size() || rb.ptr != b.data() + b.size())
    return std::nullopt;
  return x > y;
}

// One watch() or start_watch() of one Lease. No timer and no coroutine of its own: an idle
// Elector of a thousand holds only this (issue 14).
struct Subscriber {
  Subscriber(std::string from, std::function<void(const LeaseWatchEvent&)> f, WatchEnd e)
      : rv(std::move(from)), on_event(std::move(f)), on_end(std::move(e)) {}
  // Its Lease's name: the key of its entry in the hub's map, which stays put (an
  // unordered_map never moves its elements) and stays while the subscriber is in it. Read
  // only then: not once it has ended, since fail() clears the map. No copy of its own: a
  // thousand subscribers would hold a thousand copies of the names the map holds (issue 14).
  const std::string* name = nullptr;
  std::string rv;             // the newest version it has been shown (or asked to start from)
  bool shown_missing = false; // it was told the Lease is gone (no DELETED twice)
  bool ended = false;         // on_end is posted: nothing more reaches it
  std::function<void(const LeaseWatchEvent&)> on_event;
  WatchEnd on_end;
};
using SubscriberPtr = std::shared_ptr<Subscriber>;

// One Lease name: its cached Lease (while it exists and the hub is synced) and whoever watches
// it. One map for both: a second map of subscribers by name cost each Lease of a thousand
// another node, key and vector (about 110 bytes, issue 14).
struct Entry {
  std::shared_ptr<const api::Lease> lease;  // the object every subscriber's event carries
  std::vector<SubscriberPtr> subs;
};

}  // namespace

struct LeaseWatchHub::Impl : std::enable_shared_from_this<LeaseWatchHub::Impl> {
  Impl(net::any_io_executor e, std::string n, LeaseWatchSource s, LeaseWatchHubOptions o)
      : ex(std::move(e)), ns(std::move(n)), source(std::move(s)), opts(std::move(o)), backoff(opts.min_backoff) {}

  net::any_io_executor ex;
  std::string ns;
  LeaseWatchSource source;
  LeaseWatchHubOptions opts;

  std::unordered_map<std::string, Entry> entries;
  std::string rv;  // of the last list, event or bookmark: where the stream resumes
  bool synced = false;
  bool running = false;
  std::size_t sub_count = 0;
  net::cancellation_signal stop_stream;

  std::optional<api::Error> last_error;
  SteadyClock::time_point down_until{};
  std::chrono::milliseconds backoff;
  std::uint64_t lists = 0;
  std::uint64_t streams = 0;

  void info(std::string_view msg, log::Fields f) const {
    if (opts.log) opts.log->info(msg, f);
  }
  void warn(std::string_view msg, log::Fields f) const {
    if (opts.log) opts.log->warn(msg, f);
  }

  // Every subscriber is shown the one shared object, not a copy (issue 14).
  static void deliver(Subscriber& s, EventType type, const std::shared_ptr<const api::Lease>& lease) {
    if (s.ended) return;
    const LeaseWatchEvent ev{type, lease};
    if (type != EventType::bookmark && !lease->resource_version.empty()) s.rv = lease->resource_version;
    if (type != EventType::bookmark) s.shown_missing = type == EventType::deleted;
    s.on_event(ev);
  }

  // What a watch on this one Lease from s.rv would open with, from the cache.
  void prime(Subscriber& s) const {
    const auto it = entries.find(*s.name);
    if (it != entries.end() && it->second.lease) {
      const auto cached = it->second.lease;  // a delivery may erase the entry
      if (s.rv.empty()) return deliver(s, EventType::added, cached);
      if (newer_version(cached->resource_version, s.rv).value_or(cached->resource_version != s.rv))
        deliver(s, EventType::modified, cached);
      return;
    }
    // Gone only if the hub has seen past what the subscriber knows: a Lease it has just
    // created may simply not have reached the stream yet, and a false DELETED would make
    // its leader step down. Non-numeric versions: say nothing (the elector re-reads on conflict).
    if (s.rv.empty() || s.shown_missing || newer_version(s.rv, rv).value_or(true)) return;
    api::Lease gone;
    gone.namespace_ = ns;
    gone.name = *s.name;
    gone.resource_version = rv;
    deliver(s, EventType::deleted, std::make_shared<const api::Lease>(std::move(gone)));
  }

  void on_stream_event(const LeaseWatchEvent& ev) {
    const api::Lease& lease = *ev.lease;
    if (!lease.resource_version.empty()) rv = lease.resource_version;
    if (ev.type == EventType::bookmark) {
      // Every subscriber's stream is this one: its bookmarks are theirs (the elector's
      // quiet-stream detector counts them as signs of life).
      for (const auto& s : all_subscribers()) deliver(*s, ev.type, ev.lease);
      return;
    }
    const auto it = entries.find(lease.name);
    if (ev.type == EventType::deleted) {
      if (it == entries.end()) return;
      if (it->second.subs.empty()) {
        entries.erase(it);
        return;
      }
      it->second.lease.reset();
    } else if (it == entries.end()) {
      entries.emplace(lease.name, Entry{ev.lease, {}});
      return;
    } else {
      it->second.lease = ev.lease;
    }
    const auto targets = it->second.subs;  // a callback may unsubscribe, and erase the entry
    for (const auto& s : targets) deliver(*s, ev.type, ev.lease);
  }

  // Forgets every cached Lease (a new list comes, or none will); entries that only cached go.
  void drop_cache() {
    for (auto it = entries.begin(); it != entries.end();) {
      if (it->second.subs.empty()) {
        it = entries.erase(it);
      } else {
        it->second.lease.reset();
        ++it;
      }
    }
  }

  [[nodiscard]] std::vector<SubscriberPtr> all_subscribers() const {
    std::vector<SubscriberPtr> out;
    out.reserve(sub_count);
    for (const auto& [name, entry] : entries) out.insert(out.end(), entry.subs.begin(), entry.subs.end());
    return out;
  }

  void add(std::string name, const SubscriberPtr& s) {
    const auto it = entries.try_emplace(std::move(name)).first;
    it->second.subs.push_back(s);
    s->name = &it->first;
    ++sub_count;
    if (synced) prime(*s);
    if (!running) start();
  }

  void remove(const SubscriberPtr& s) {
    const auto it = entries.find(*s->name);
    if (it == entries.end()) return;
    auto& list = it->second.subs;
    const auto pos = std::find(list.begin(), list.end(), s);
    if (pos == list.end()) return;
    list.erase(pos);
    if (list.empty() && !it->second.lease) entries.erase(it);
    if (--sub_count == 0 && running) stop_stream.emit(net::cancellation_type::terminal);
  }

  // Ends a subscription once: on_end is posted, never called inside the call that ended it
  // (an emit(), a failing stream's coroutine, start_watch() itself).
  void finish(Subscriber& s, Result<void> how) {
    if (s.ended) return;
    s.ended = true;
    net::post(ex, [end = std::move(s.on_end), how = std::move(how)]() mutable { end(nullptr, std::move(how)); });
  }

  // The stream failed: every subscriber's watch ends with the error, and for a backoff
  // new subscribers are refused without a request, so their electors poll meanwhile.
  void fail(const api::Error& err) {
    warn("shared lease watch failed; its watchers fall back to polling",
         {{"namespace", ns}, {"error", err.describe()}, {"retry_ms", backoff.count()}, {"watchers", sub_count}});
    last_error = err;
    down_until = SteadyClock::now() + backoff;
    backoff = std::min(backoff * 2, opts.max_backoff);
    synced = false;
    for (const auto& s : all_subscribers()) finish(*s, err);
    entries.clear();
    sub_count = 0;
  }

  void start() {
    running = true;
    net::co_spawn(ex, run(shared_from_this()), net::bind_cancellation_slot(stop_stream.slot(), net::detached));
  }

  // The parameter keeps the Impl alive for as long as the coroutine runs.
  net::awaitable<void> run(std::shared_ptr<Impl> keep_alive);
  void start_watch(std::string name, std::string from, std::function<void(const LeaseWatchEvent&)> on_event,
                   WatchEnd on_end, net::cancellation_slot slot);
  static net::awaitable<Result<void>> subscribe(std::shared_ptr<Impl> impl, std::string name, std::string from,
                                                std::function<void(const LeaseWatchEvent&)> on_event);
};

// One list, then one stream after another from the last version seen, while anyone is
// subscribed. Cancelled (stop_stream) when the last subscriber leaves.
net::awaitable<void> LeaseWatchHub::Impl::run(std::shared_ptr<Impl> /*keep_alive*/) {
  co_await net::this_coro::throw_if_cancelled(false);
  while (sub_count > 0) {
    co_await net::this_coro::reset_cancellation_state();
    if (!synced) {
      ++lists;
      auto listed = co_await source.list();
      if (sub_count == 0) break;
      if (!listed) {
        if (listed.error().is(ErrorKind::cancelled)) continue;  // the last one left and another came
        fail(listed.error());
        break;
      }
      drop_cache();
      for (auto& lease : listed->items) {
        std::string name = lease.name;
        entries[std::move(name)].lease = std::make_shared<const api::Lease>(std::move(lease));
      }
      rv = listed->resource_version;
      synced = true;
      for (const auto& s : all_subscribers()) prime(*s);
      continue;
    }
    ++streams;
    const auto began = SteadyClock::now();
    std::function<void(const LeaseWatchEvent&)> handler = [this](const LeaseWatchEvent& ev) { on_stream_event(ev); };
    auto ended = co_await source.watch(rv, std::move(handler));
    if (sub_count == 0) break;
    if (ended) {
      if (SteadyClock::now() - began >= opts.min_stream) {
        backoff = opts.min_backoff;  // it ran: the server's timeout, resume where it stopped
        continue;
      }
      ended = api::local_error(ErrorKind::transport, "the lease watch ended as soon as it began");
    }
    if (ended.error().is(ErrorKind::gone)) {
      info("shared lease watch: resourceVersion too old; listing again", {{"namespace", ns}, {"resource_version", rv}});
      synced = false;  // subscribers stay; the new list shows them what changed
      continue;
    }
    if (ended.error().is(ErrorKind::cancelled)) continue;
    fail(ended.error());
    break;
  }
  running = false;
  if (sub_count == 0) {
    synced = false;
    drop_cache();
  }
}

void LeaseWatchHub::Impl::start_watch(std::string name, std::string from,
                                      std::function<void(const LeaseWatchEvent&)> on_event, WatchEnd on_end,
                                      net::cancellation_slot slot) {
  auto s = std::make_shared<Subscriber>(std::move(from), std::move(on_event), std::move(on_end));
  if (name.empty()) return finish(*s, api::local_error(ErrorKind::invalid, "watch lease: name is empty"));
  if (last_error && SteadyClock::now() < down_until) return finish(*s, *last_error);
  if (slot.is_connected()) {
    // Weak both ways: a handler left in the caller's signal after the end must keep nothing
    // alive, and emitting it then finds the subscription ended and does nothing.
    slot.assign([weak_hub = weak_from_this(), weak_sub = std::weak_ptr<Subscriber>(s)](net::cancellation_type) {
      auto hub = weak_hub.lock();
      auto sub = weak_sub.lock();
      if (!hub || !sub || sub->ended) return;
      hub->remove(sub);
      hub->finish(*sub, api::local_error(ErrorKind::cancelled, "lease watch cancelled"));
    });
  }
  add(std::move(name), s);  // may deliver the cached Lease, or start the stream, which may fail at once
}

// The coroutine form over the callback form: it waits for on_end, and a cancellation of its
// own slot becomes the subscription's.
net::awaitable<Result<void>> LeaseWatchHub::Impl::subscribe(std::shared_ptr<Impl> impl, std::string name,
                                                            std::string from,
                                                            std::function<void(const LeaseWatchEvent&)> on_event) {
  struct Wait {
    explicit Wait(const net::any_io_executor& e) : timer(e, SteadyClock::time_point::max()) {}
    net::steady_timer timer;
    std::optional<Result<void>> end;
  };
  auto wait = std::make_shared<Wait>(impl->ex);
  net::cancellation_signal cancel;
  impl->start_watch(std::move(name), std::move(from), std::move(on_event),
                    [wait](const std::exception_ptr&, Result<void> how) {
                      wait->end = std::move(how);
                      wait->timer.cancel();
                    },
                    cancel.slot());
  while (!wait->end) {
    boost::system::error_code ec;
    co_await wait->timer.async_wait(net::redirect_error(net::use_awaitable, ec));
    // Our own slot cancelled the wait (terminal: the caller is stopping this watch). Passing
    // it on ends the subscription, whose on_end is posted: wait for it, uncancelled.
    if (!wait->end && (co_await net::this_coro::cancellation_state).cancelled() != net::cancellation_type::none) {
      cancel.emit(net::cancellation_type::terminal);
      co_await net::this_coro::reset_cancellation_state();
    }
  }
  co_return std::move(*wait->end);
}

std::shared_ptr<LeaseWatchHub> LeaseWatchHub::create(Client& client, std::string ns, LeaseWatchHubOptions options) {
  LeaseWatchSource source;
  source.list = [&client, ns]() { return client.list_leases(ns); };
  source.watch = [&client, ns](std::string from, std::function<void(const LeaseWatchEvent&)> on_event) {
    return client.watch_leases(ns, std::move(from), std::move(on_event));
  };
  // The stream runs on the client's executor, as every call of the Client must.
  return create(client.executor(), std::move(ns), std::move(source), std::move(options));
}

std::shared_ptr<LeaseWatchHub> LeaseWatchHub::create(net::any_io_executor ex, std::string ns, LeaseWatchSource source,
                                                     LeaseWatchHubOptions options) {
  auto impl = std::make_shared<Impl>(std::move(ex), std::move(ns), std::move(source), std::move(options));
  return std::shared_ptr<LeaseWatchHub>(new LeaseWatchHub(std::move(impl)));
}

LeaseWatchHub::LeaseWatchHub(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
LeaseWatchHub::~LeaseWatchHub() = default;

net::awaitable<Result<void>> LeaseWatchHub::watch(std::string name, std::string resource_version,
                                                  std::function<void(const LeaseWatchEvent&)> on_event) {
  // Not a coroutine itself: the frame holds the Impl, so the handle may go first.
  return Impl::subscribe(impl_, std::move(name), std::move(resource_version), std::move(on_event));
}

void LeaseWatchHub::start_watch(std::string name, std::string resource_version,
                                std::function<void(const LeaseWatchEvent&)> on_event, WatchEnd on_end,
                                boost::asio::cancellation_slot slot) {
  impl_->start_watch(std::move(name), std::move(resource_version), std::move(on_event), std::move(on_end), slot);
}

const std::string& LeaseWatchHub::lease_namespace() const noexcept { return impl_->ns; }
std::size_t LeaseWatchHub::subscribers() const noexcept { return impl_->sub_count; }
std::uint64_t LeaseWatchHub::lists_made() const noexcept { return impl_->lists; }
std::uint64_t LeaseWatchHub::streams_opened() const noexcept { return impl_->streams; }

}  // namespace kle::kube
