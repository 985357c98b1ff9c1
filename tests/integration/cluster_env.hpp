#pragma once
// The real cluster started by tests/cluster/up. Integration tests never skip: a missing
// KLE_CLUSTER_DIR or a missing file fails the test with a message saying what to run.
#include <chrono>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <kle/kube/config.hpp>

namespace kle::integration {

struct ClusterEnv {
  std::string dir;
  kube::ClusterConfig admin;       // cluster-admin (admin.kubeconfig)
  kube::ClusterConfig restricted;  // the chart's least-privilege service account
  std::string namespace_;          // where the restricted account has its Role
  std::string restricted_lease;    // the one lease its Role names
};

inline std::string read_cluster_file(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  std::ifstream in(path);
  if (!in.is_open()) FAIL("missing " << path << ": is the cluster up? run `tests/cluster/up`");
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string s = std::move(ss).str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

inline kube::ClusterConfig load_cluster_kubeconfig(const std::string& dir, const std::string& name) {
  auto cfg = kube::load_kubeconfig(dir + "/" + name);
  if (!cfg.ok()) FAIL("cannot load " << dir << "/" << name << ": " << cfg.error().describe());
  return std::move(cfg).value();
}

// Loaded once per process.
inline const ClusterEnv& cluster_env() {
  static const ClusterEnv env = [] {
    const char* dir = std::getenv("KLE_CLUSTER_DIR");
    if (dir == nullptr || *dir == '\0')
      FAIL("KLE_CLUSTER_DIR is not set: run `make tools && eval \"$(tests/cluster/up)\"` first");
    ClusterEnv e;
    e.dir = dir;
    e.admin = load_cluster_kubeconfig(e.dir, "admin.kubeconfig");
    e.restricted = load_cluster_kubeconfig(e.dir, "restricted.kubeconfig");
    e.namespace_ = read_cluster_file(e.dir, "namespace");
    e.restricted_lease = read_cluster_file(e.dir, "restricted-lease");
    return e;
  }();
  return env;
}

// Kills the cluster's kube-apiserver and starts it again (tests/cluster/restart-apiserver);
// returns once /readyz answers. Blocks the calling thread for the 2-3 s that takes: call it
// from a helper thread when an io_context must keep running meanwhile. Every resourceVersion
// read before it is too old to resume a watch from afterwards (410 Gone).
// restart_apiserver_status() is the thread-safe half (no Catch2 macros): it returns the
// script's wait status, 0 on success.
inline int restart_apiserver_status() {
  const std::string cmd = std::string("'") + KLE_SOURCE_DIR + "/tests/cluster/restart-apiserver' >&2";
  return std::system(cmd.c_str());  // NOLINT(cert-env33-c): a fixed test script
}
inline void restart_apiserver() {
  const int rc = restart_apiserver_status();
  if (rc != 0) FAIL("tests/cluster/restart-apiserver failed (status " << rc << ")");
}

// Runs a coroutine to completion on `io`; its exceptions (failed REQUIREs) reach the test.
template <class Body>
void run_on(boost::asio::io_context& io, Body body) {
  std::exception_ptr failure;
  bool finished = false;
  boost::asio::co_spawn(io, std::move(body), [&](std::exception_ptr e) {
    failure = e;
    finished = true;
  });
  io.run();
  io.restart();
  if (failure) std::rethrow_exception(failure);
  if (!finished) FAIL("the test coroutine never finished");
}

// Inside a test coroutine: polls `done` every 10 ms, letting the io_context run meanwhile,
// until it holds (true) or `limit` has passed (false). For waiting on one of several async
// answers whose order is not fixed, instead of assuming which comes first.
inline boost::asio::awaitable<bool> wait_until(std::function<bool()> done, std::chrono::milliseconds limit) {
  auto ex = co_await boost::asio::this_coro::executor;
  boost::asio::steady_timer timer(ex);
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) co_return false;
    timer.expires_after(std::chrono::milliseconds(10));
    boost::system::error_code ec;
    co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  }
  co_return true;
}

}  // namespace kle::integration
