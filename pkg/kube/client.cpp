#include <kle/kube/client.hpp>

#include <utility>

#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/verb.hpp>

#include <kle/api/json.hpp>
#include <kle/kube/transport.hpp>

namespace kle::kube {
namespace {

namespace net = boost::asio;
using http_verb = boost::beast::http::verb;
using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

constexpr std::string_view kLeases = "/apis/coordination.k8s.io/v1/namespaces/";
constexpr std::string_view kPods = "/api/v1/namespaces/";

std::string lease_path(const std::string& ns, const std::string& name = {}) {
  std::string p = std::string(kLeases) + url_encode(ns) + "/leases";
  if (!name.empty()) p += "/" + url_encode(name);
  return p;
}

std::string pod_path(const std::string& ns, const std::string& name = {}) {
  std::string p = std::string(kPods) + url_encode(ns) + "/pods";
  if (!name.empty()) p += "/" + url_encode(name);
  return p;
}

// Names travel in URL paths: an empty one would address the collection instead.
std::optional<Error> check_names(const std::string& ns, const std::string& name, std::string_view what) {
  if (ns.empty()) return api::local_error(ErrorKind::invalid, std::string(what) + ": namespace is empty");
  if (name.empty()) return api::local_error(ErrorKind::invalid, std::string(what) + ": name is empty");
  return std::nullopt;
}

// GCC 12 miscompiles a braced temporary inside a co_await expression (it relocates the
// aggregate bitwise, then frees a stale string pointer): requests are built by a function.
HttpRequest make_request(http_verb verb, std::string target, std::string body = {}, std::string content_type = {}) {
  return HttpRequest{verb, std::move(target), std::move(body), std::move(content_type)};
}

// Sends one request, tells the observer, and turns a non-2xx status into a typed error.
net::awaitable<Result<std::string>> send(Transport& transport, const RequestObserver& observer,
                                         HttpRequest req) {
  const auto verb = boost::beast::http::to_string(req.method);
  const auto start = Clock::now();
  auto res = co_await transport.request(std::move(req));
  if (observer) observer(verb, res.ok() ? res->status : 0, Clock::now() - start);
  if (!res) co_return std::move(res).error();
  if (res->status / 100 != 2) co_return api::error_from_response(res->status, res->body, res->retry_after);
  co_return std::move(res->body);
}

// Decodes one watch event line: {"type": ..., "object": ...}.
Result<void> handle_watch_line(std::string_view line,
                               const std::function<void(const LeaseWatchEvent&)>& on_event) {
  auto parsed = api::parse_json(line, "watch event", api::JsonPrune::managed_fields);
  if (!parsed) return std::move(parsed).error();
  Json& j = parsed.value();
  const auto type_it = j.find("type");
  const auto obj_it = j.find("object");
  if (!j.is_object() || type_it == j.end() || !type_it->is_string() || obj_it == j.end() || !obj_it->is_object())
    return api::local_error(ErrorKind::bad_response, "watch event without a string type and an object");
  const auto& type = type_it->get_ref<const std::string&>();
  const Json& obj = *obj_it;
  if (type == "ERROR") {
    // The object is a metav1.Status; 410 means our resourceVersion is too old (re-list).
    const auto code_it = obj.find("code");
    const int code = code_it != obj.end() && code_it->is_number_integer() ? code_it->get<int>() : 500;
    auto e = api::error_from_response(code, obj.dump(-1, ' ', false, Json::error_handler_t::replace), "");
    if (code == 410) e.kind = ErrorKind::gone;
    return e;
  }
  LeaseWatchEvent ev;
  if (type == "BOOKMARK") {
    // A bookmark carries only metadata.resourceVersion: where to resume from.
    ev.type = LeaseWatchEvent::Type::bookmark;
    api::Lease mark;
    const auto meta = obj.find("metadata");
    if (meta != obj.end() && meta->is_object()) {
      const auto rv = meta->find("resourceVersion");
      if (rv != meta->end() && rv->is_string()) mark.resource_version = rv->get<std::string>();
    }
    ev.lease = std::make_shared<const api::Lease>(std::move(mark));
    on_event(ev);
    return {};
  }
  if (type == "ADDED") ev.type = LeaseWatchEvent::Type::added;
  else if (type == "MODIFIED") ev.type = LeaseWatchEvent::Type::modified;
  else if (type == "DELETED") ev.type = LeaseWatchEvent::Type::deleted;
  else return api::local_error(ErrorKind::bad_response, "unknown watch event type \"" + type + "\"");
  auto lease = api::lease_from_json(std::move(*obj_it));
  if (!lease) return std::move(lease).error();
  ev.lease = std::make_shared<const api::Lease>(std::move(lease).value());
  on_event(ev);
  return {};
}

// Splits a streamed body into newline-delimited JSON events, across chunk boundaries.
class WatchLineSplitter {
 public:
  WatchLineSplitter(std::size_t limit, std::function<void(const LeaseWatchEvent&)> on_event)
      : limit_(limit), on_event_(std::move(on_event)) {}

  Result<void> feed(std::string_view data) {
    pending_.append(data);
    std::size_t start = 0;
    for (std::size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
      if (auto r = line(std::string_view(pending_).substr(start, nl - start)); !r) return r;
    }
    pending_.erase(0, start);
    if (pending_.size() > limit_)
      return api::local_error(ErrorKind::bad_response, "watch event exceeds " + std::to_string(limit_) + " bytes");
    return {};
  }

  // The stream ended: a last event without its newline still counts.
  Result<void> finish() { return line(pending_); }

 private:
  Result<void> line(std::string_view text) {
    while (!text.empty() && (text.back() == '\r' || text.back() == ' ')) text.remove_suffix(1);
    if (text.empty()) return {};
    return handle_watch_line(text, on_event_);
  }

  std::size_t limit_;
  std::function<void(const LeaseWatchEvent&)> on_event_;
  std::string pending_;
};

// A LeaseList: {"metadata":{"resourceVersion":...},"items":[Lease...]}.
Result<LeaseList> parse_lease_list(std::string_view body) {
  auto parsed = api::parse_json(body, "lease list", api::JsonPrune::managed_fields);
  if (!parsed) return std::move(parsed).error();
  Json& j = parsed.value();
  const auto items = j.is_object() ? j.find("items") : j.end();
  const auto meta = j.is_object() ? j.find("metadata") : j.end();
  if (!j.is_object() || meta == j.end() || !meta->is_object() || (items != j.end() && !items->is_array() && !items->is_null()))
    return api::local_error(ErrorKind::bad_response, "lease list without metadata or an items array");
  LeaseList list;
  const auto rv = meta->find("resourceVersion");
  if (rv == meta->end() || !rv->is_string() || rv->get_ref<const std::string&>().empty())
    return api::local_error(ErrorKind::bad_response, "lease list without metadata.resourceVersion");
  list.resource_version = rv->get<std::string>();
  if (items != j.end() && items->is_array()) {
    list.items.reserve(items->size());
    for (Json& item : *items) {
      auto lease = api::lease_from_json(std::move(item));
      if (!lease) return std::move(lease).error();
      list.items.push_back(std::move(lease).value());
    }
  }
  return list;
}

TransportOptions transport_options(const ClientOptions& o) {
  TransportOptions t;
  t.request_timeout = o.request_timeout;
  t.user_agent = o.user_agent;
  t.max_connections = o.max_connections;
  t.max_idle_connections = o.max_connections;
  t.log = o.log;
  return t;
}

}  // namespace

Client::Client(net::any_io_executor ex, ClusterConfig config, ClientOptions options)
    : ex_(ex),
      transport_(std::make_unique<Transport>(std::move(ex), config, transport_options(options))),
      config_(std::move(config)),
      options_(std::move(options)) {}

Client::~Client() = default;

void Client::set_observer(RequestObserver observer) { observer_ = std::move(observer); }
const ClusterConfig& Client::config() const noexcept { return config_; }
net::any_io_executor Client::executor() const noexcept { return ex_; }
void Client::close() { transport_->close(); }
const TransportStats& Client::transport_stats() const noexcept { return transport_->stats(); }
std::size_t Client::open_connections() const noexcept { return transport_->open_connections(); }

net::awaitable<Result<void>> Client::warm() { return transport_->warm(); }

net::awaitable<Result<Lease>> Client::get_lease(std::string ns, std::string name) {
  if (auto bad = check_names(ns, name, "get lease")) co_return *bad;
  auto body = co_await send(*transport_, observer_, make_request(http_verb::get, lease_path(ns, name)));
  if (!body) co_return std::move(body).error();
  co_return api::parse_lease(body.value());
}

net::awaitable<Result<Lease>> Client::create_lease(Lease lease) {
  if (auto bad = check_names(lease.namespace_, lease.name, "create lease")) co_return *bad;
  auto req = make_request(http_verb::post, lease_path(lease.namespace_), api::lease_to_json(lease).dump(),
                          "application/json");
  auto body = co_await send(*transport_, observer_, std::move(req));
  if (!body) co_return std::move(body).error();
  co_return api::parse_lease(body.value());
}

net::awaitable<Result<Lease>> Client::update_lease(Lease lease) {
  if (auto bad = check_names(lease.namespace_, lease.name, "update lease")) co_return *bad;
  // Every write is conditional: without a resourceVersion a PUT would overwrite blindly.
  if (lease.resource_version.empty())
    co_return api::local_error(ErrorKind::invalid, "update lease: metadata.resourceVersion is empty");
  auto req = make_request(http_verb::put, lease_path(lease.namespace_, lease.name),
                          api::lease_to_json(lease).dump(), "application/json");
  auto body = co_await send(*transport_, observer_, std::move(req));
  if (!body) co_return std::move(body).error();
  co_return api::parse_lease(body.value());
}

net::awaitable<Result<void>> Client::delete_lease(std::string ns, std::string name) {
  if (auto bad = check_names(ns, name, "delete lease")) co_return *bad;
  auto body = co_await send(*transport_, observer_, make_request(http_verb::delete_, lease_path(ns, name)));
  if (!body) co_return std::move(body).error();
  co_return Result<void>{};
}

net::awaitable<Result<void>> Client::watch_lease(std::string ns, std::string name, std::string resource_version,
                                                 std::function<void(const LeaseWatchEvent&)> on_event) {
  if (auto bad = check_names(ns, name, "watch lease")) co_return *bad;
  std::string target = lease_path(ns) + "?watch=1&fieldSelector=" + url_encode("metadata.name=" + name);
  co_return co_await watch_target(std::move(target), std::move(resource_version), std::move(on_event));
}

net::awaitable<Result<void>> Client::watch_leases(std::string ns, std::string resource_version,
                                                  std::function<void(const LeaseWatchEvent&)> on_event) {
  if (ns.empty()) co_return api::local_error(ErrorKind::invalid, "watch leases: namespace is empty");
  std::string target = lease_path(ns) + "?watch=1";
  co_return co_await watch_target(std::move(target), std::move(resource_version), std::move(on_event));
}

net::awaitable<Result<void>> Client::watch_target(std::string target, std::string resource_version,
                                                  std::function<void(const LeaseWatchEvent&)> on_event) {
  if (!resource_version.empty()) target += "&resourceVersion=" + url_encode(resource_version);
  target += "&timeoutSeconds=" + std::to_string(options_.watch_timeout.count()) + "&allowWatchBookmarks=true";
  // The server ends the watch after timeoutSeconds; an idle read a little longer than that
  // means the connection is dead rather than quiet.
  const auto idle = std::chrono::duration_cast<std::chrono::milliseconds>(options_.watch_timeout) +
                    std::max(options_.request_timeout, std::chrono::milliseconds(5000));
  WatchLineSplitter splitter(std::size_t{16} << 20, std::move(on_event));
  const auto start = Clock::now();
  BodySink sink = [&splitter](std::string_view d) { return splitter.feed(d); };
  auto res = co_await transport_->stream(make_request(http_verb::get, std::move(target)), idle, std::move(sink));
  if (observer_) observer_("WATCH", res.ok() ? res->status : 0, Clock::now() - start);
  if (!res) co_return std::move(res).error();
  if (res->status / 100 != 2) co_return api::error_from_response(res->status, res->body, res->retry_after);
  co_return splitter.finish();
}

net::awaitable<Result<LeaseList>> Client::list_leases(std::string ns) {
  if (ns.empty()) co_return api::local_error(ErrorKind::invalid, "list leases: namespace is empty");
  auto body = co_await send(*transport_, observer_, make_request(http_verb::get, lease_path(ns)));
  if (!body) co_return std::move(body).error();
  co_return parse_lease_list(body.value());
}

net::awaitable<Result<Pod>> Client::get_pod(std::string ns, std::string name) {
  if (auto bad = check_names(ns, name, "get pod")) co_return *bad;
  auto body = co_await send(*transport_, observer_, make_request(http_verb::get, pod_path(ns, name)));
  if (!body) co_return std::move(body).error();
  co_return api::parse_pod(body.value());
}

net::awaitable<Result<PodList>> Client::list_pods(std::string ns, std::string label_selector) {
  if (ns.empty()) co_return api::local_error(ErrorKind::invalid, "list pods: namespace is empty");
  std::string target = pod_path(ns);
  if (!label_selector.empty()) target += "?labelSelector=" + url_encode(label_selector);
  auto body = co_await send(*transport_, observer_, make_request(http_verb::get, std::move(target)));
  if (!body) co_return std::move(body).error();
  co_return api::parse_pod_list(body.value());
}

net::awaitable<Result<Pod>> Client::patch_pod_labels(std::string ns, std::string name,
                                                     std::map<std::string, std::optional<std::string>> labels) {
  if (auto bad = check_names(ns, name, "patch pod labels")) co_return *bad;
  auto req = make_request(http_verb::patch, pod_path(ns, name), api::label_merge_patch(labels),
                          "application/merge-patch+json");
  auto body = co_await send(*transport_, observer_, std::move(req));
  if (!body) co_return std::move(body).error();
  co_return api::parse_pod(body.value());
}

}  // namespace kle::kube
