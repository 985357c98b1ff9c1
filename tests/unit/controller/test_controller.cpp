// The Controller end to end on one io_context, against the in-process fake apiserver: a
// follower of a lease held by others (it never writes), so every request is a GET or a watch.
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <catch2/catch.hpp>

#include <kle/api/microtime.hpp>
#include <kle/controller/controller.hpp>
#include "fakes/fake_apiserver.hpp"

namespace asio = boost::asio;
using kle::controller::Controller;
using kle::controller::ControllerOptions;
using kle::testing::FakeApiServer;
using kle::testing::FakeReply;
using kle::testing::FakeRequest;
using namespace std::chrono_literals;

namespace {

std::string lease_json(const std::string& rv, const std::string& holder) {
  // Renewed now for an hour: this controller stays a follower for the whole test.
  return R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease",)"
         R"("metadata":{"name":"lk","namespace":"ns","resourceVersion":")" + rv + R"("},)" +
         R"("spec":{"holderIdentity":")" + holder + R"(","leaseDurationSeconds":3600,"leaseTransitions":1,)" +
         R"("renewTime":")" + kle::api::format_micro_time(kle::api::micro_now()) + R"("}})";
}

// The lease is held by "other"; the first watch reports a change of holder to "other2" and
// then stays open. Later watches (reconnects) stay open with nothing to say.
struct FakeCluster {
  std::string holder = "other";
  std::string rv = "10";
  int watches = 0;
  bool pod_labelled = true;           // our pod "me", as a restarted container finds it
  std::vector<std::string> requests;  // "METHOD pod" / "METHOD lease", in order

  FakeReply pod(const FakeRequest& r) {
    requests.push_back(r.method + " pod");
    if (r.method == "PATCH") pod_labelled = false;  // the only patch the controller sends here: a clear
    const std::string labels = pod_labelled ? R"({"app":"x","leader-elector/leader":"true"})" : R"({"app":"x"})";
    return FakeReply::json(200, R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":"me","namespace":"ns",)"
                                R"("resourceVersion":"5","labels":)" + labels + "}}");
  }

  FakeReply handle(const FakeRequest& r) {
    if (r.target.find("/pods/me") != std::string::npos) return pod(r);
    requests.push_back(r.method + " lease");
    if (r.method != "GET") return FakeReply::json(409, R"({"kind":"Status","code":409,"reason":"Conflict"})");
    if (r.target.find("watch=1") == std::string::npos) return FakeReply::json(200, lease_json(rv, holder));
    FakeReply watch;
    watch.raw.emplace_back("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
    if (watches++ == 0) {
      holder = "other2";
      rv = "11";
      watch.raw.push_back(kle::testing::http_chunk(R"({"type":"MODIFIED","object":)" + lease_json(rv, holder) + "}\n"));
    }
    watch.hang = true;
    return watch;
  }
};

// A kubeconfig for the fake server, trusting the test CA.
struct TempKubeconfig {
  std::filesystem::path dir;
  std::filesystem::path file;

  explicit TempKubeconfig(const FakeApiServer& server) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kle-controller-test.XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
    file = dir / "kubeconfig";
    std::ofstream out(file);
    out << "apiVersion: v1\nkind: Config\n"
        << "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:" << server.port() << "\n"
        << "    certificate-authority: " << std::filesystem::absolute(kle::testing::testdata_dir() / "test-ca.crt").string()
        << "\n"
        << "users:\n- name: u\n  user:\n    token: test-token\n"
        << "contexts:\n- name: x\n  context: {cluster: c, user: u, namespace: ns}\n"
        << "current-context: x\n";
  }
  ~TempKubeconfig() {
    std::error_code ignored;
    std::filesystem::remove_all(dir, ignored);
  }
  TempKubeconfig(const TempKubeconfig&) = delete;
  TempKubeconfig& operator=(const TempKubeconfig&) = delete;
};

struct Run {
  std::vector<std::string> lines;
  std::vector<std::string> requests;  // what the fake apiserver was asked, in order
  bool pod_labelled = true;           // at the end
  std::optional<int> code;
  bool ran_out = false;  // io_context::run_for returned because nothing was left pending
};

// Runs a Controller until `enough(lines)`, then request_stop(); collects its log lines.
Run run_controller(std::vector<std::string> command, const std::function<bool(const std::vector<std::string>&)>& enough,
                   const std::string& pod_name = "") {
  Run run;
  asio::io_context io;
  FakeCluster cluster;
  FakeApiServer server(io, [&](const FakeRequest& r) { return cluster.handle(r); });
  const TempKubeconfig kubeconfig(server);
  ControllerOptions o;
  o.kubeconfig = kubeconfig.file.string();
  o.lease_name = "lk";
  o.lease_namespace = "ns";
  o.identity = "me";
  o.http_address = "127.0.0.1:0";
  o.command = std::move(command);
  o.pod_name = pod_name;
  auto lines = std::make_shared<std::vector<std::string>>();
  const kle::log::Logger log(kle::log::Level::info, kle::log::Logger::Format::json,
                             [lines](kle::log::Level, std::string_view line) { lines->emplace_back(line); });
  Controller controller(io, o, log);
  asio::co_spawn(io, controller.run(), [&](const std::exception_ptr& e, int code) {
    if (e) std::rethrow_exception(e);
    run.code = code;
    server.stop();
  });
  // Handlers the elector posts with a log line are queued before this poll can see the line,
  // so everything that reacts to it has run by the time stop is requested.
  asio::co_spawn(io, [&]() -> asio::awaitable<void> {
    asio::steady_timer poll(io);
    while (!enough(*lines)) {
      poll.expires_after(10ms);
      co_await poll.async_wait(asio::use_awaitable);
    }
    controller.request_stop();
  }, [](const std::exception_ptr& e) { if (e) std::rethrow_exception(e); });
  io.run_for(30s);
  run.ran_out = io.stopped();
  run.lines = *lines;
  run.requests = cluster.requests;
  run.pod_labelled = cluster.pod_labelled;
  return run;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

std::vector<std::string> matching(const std::vector<std::string>& lines, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& l : lines)
    if (l.find(needle) != std::string::npos) out.push_back(l);
  return out;
}

const std::string kNewLeader = R"("msg":"new leader observed")";

bool saw_second_holder(const std::vector<std::string>& lines) {
  for (const auto& l : matching(lines, kNewLeader))
    if (l.find(R"("holder":"other2")") != std::string::npos) return true;
  return false;
}

}  // namespace

// Issue 15, item 16: the elector logs it; the controller used to log it again.
TEST_CASE("controller: \"new leader observed\" is logged once per change of holder") {
  const Run run = run_controller({}, saw_second_holder);
  INFO(joined(run.lines));
  REQUIRE(run.code == kle::controller::kExitOk);
  const auto seen = matching(run.lines, kNewLeader);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].find(R"("holder":"other")") != std::string::npos);
  CHECK(seen[1].find(R"("holder":"other2")") != std::string::npos);
}

// Issue 15, item 3: with `-- CMD` the Workload's SIGCHLD wait kept io_context::run() (and so
// main) from ever returning after run() had completed.
TEST_CASE("controller: with a workload, nothing is left pending once run() returns") {
  const Run run = run_controller({"/bin/sh", "-c", "exit 0"}, saw_second_holder);  // never starts: a follower
  INFO(joined(run.lines));
  REQUIRE(run.code == kle::controller::kExitOk);
  CHECK(run.ran_out);
}

TEST_CASE("controller: without a workload, nothing is left pending once run() returns") {
  const Run run = run_controller({}, saw_second_holder);
  INFO(joined(run.lines));
  REQUIRE(run.code == kle::controller::kExitOk);
  CHECK(run.ran_out);
}

// Issue 11: after kill -9 the kubelet restarts the container in the same pod, still labelled
// from its last life. The controller clears that label before it campaigns: its first
// requests are the GET and the PATCH of its own pod, and only then does it read the lease.
TEST_CASE("controller: a restarted container clears its pod's stale label before reading the lease") {
  const Run run = run_controller({}, saw_second_holder, "me");
  INFO(joined(run.lines));
  REQUIRE(run.code == kle::controller::kExitOk);
  REQUIRE(run.requests.size() >= 3);
  CHECK(run.requests[0] == "GET pod");
  CHECK(run.requests[1] == "PATCH pod");
  CHECK(run.requests[2] == "GET lease");
  CHECK_FALSE(run.pod_labelled);
  CHECK(matching(run.lines, R"("msg":"leader label cleared")").size() == 1);
}
