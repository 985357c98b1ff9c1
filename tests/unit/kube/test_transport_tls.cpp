// TLS verification and credential rotation: the chain and the name are checked, the CA file
// and the token file are re-read.
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <unistd.h>

#include <boost/asio/io_context.hpp>

#include "fakes/fake_apiserver.hpp"
#include <kle/kube/transport.hpp>

using namespace std::chrono_literals;
using kle::api::ErrorKind;
using kle::api::Result;
using kle::kube::ClusterConfig;
using kle::kube::HttpRequest;
using kle::kube::HttpResponse;
using kle::kube::Transport;
using kle::kube::TransportOptions;
using kle::testing::FakeApiServer;
using kle::testing::FakeReply;
using kle::testing::FakeRequest;
using kle::testing::read_testdata;
using kle::testing::run_against;
namespace net = boost::asio;
namespace fs = std::filesystem;

namespace {

using MaybeResponse = std::optional<Result<HttpResponse>>;

HttpRequest get() { return {boost::beast::http::verb::get, "/x", {}, {}}; }

FakeReply ok_reply(const FakeRequest&) { return FakeReply::json(200, "{}"); }

// A file in a private temp directory, removed with the object.
class TempFile {
 public:
  explicit TempFile(const std::string& name) {
    static std::atomic<int> counter{0};
    dir_ = fs::temp_directory_path() /
           ("kle-transport-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(dir_);
    path_ = dir_ / name;
  }
  ~TempFile() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  void write(const std::string& content) const {
    std::ofstream out(path_, std::ios::binary | std::ios::trunc);
    out << content;
    REQUIRE(out.good());
  }
  [[nodiscard]] std::string path() const { return path_.string(); }

 private:
  fs::path dir_;
  fs::path path_;
};

MaybeResponse request_with(const std::string& cert, const std::function<void(ClusterConfig&)>& edit) {
  net::io_context io;
  FakeApiServer server(io, ok_reply, cert);
  ClusterConfig cfg = server.test_config();
  edit(cfg);
  Transport t(io.get_executor(), cfg);
  MaybeResponse out;
  run_against(io, server, [&]() -> net::awaitable<void> { out = co_await t.request(get()); });
  return out;
}

}  // namespace

TEST_CASE("tls: a server certificate from another CA is rejected", "[transport][tls]") {
  auto out = request_with("other", [](ClusterConfig&) {});
  REQUIRE_FALSE(out->ok());
  CHECK(out->error().kind == ErrorKind::transport);
  CHECK_THAT(out->error().message, Catch::Contains("TLS handshake") && Catch::Contains("certificate verify failed"));
}

TEST_CASE("tls: a certificate for another name is rejected", "[transport][tls]") {
  auto out = request_with("wrongname", [](ClusterConfig&) {});
  REQUIRE_FALSE(out->ok());
  CHECK(out->error().kind == ErrorKind::transport);
  CHECK_THAT(out->error().message, Catch::Contains("certificate verify failed"));
}

TEST_CASE("tls: the host name is checked when server_name is set", "[transport][tls]") {
  // The test certificate is valid for "localhost" as well as 127.0.0.1 ...
  auto good = request_with("test", [](ClusterConfig& c) { c.tls.server_name = "localhost"; });
  CHECK(good->ok());
  // ... but not for any other name.
  auto bad = request_with("test", [](ClusterConfig& c) { c.tls.server_name = "kubernetes.default.svc"; });
  REQUIRE_FALSE(bad->ok());
  CHECK(bad->error().kind == ErrorKind::transport);
}

TEST_CASE("tls: a malformed CA bundle is a config error", "[transport][tls]") {
  auto out = request_with("test", [](ClusterConfig& c) {
    c.tls.ca_pem = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  });
  REQUIRE_FALSE(out->ok());
  CHECK(out->error().kind == ErrorKind::config);
}

TEST_CASE("tls: the CA file is re-read before a new connection", "[transport][tls]") {
  TempFile ca("ca.crt");
  ca.write(read_testdata("other-ca.crt"));  // wrong CA at first
  net::io_context io;
  FakeApiServer server(io, [](const FakeRequest&) {
    auto r = FakeReply::json(200, "{}");
    r.close_after = true;  // every request needs a new connection (and so a CA check)
    return r;
  });
  ClusterConfig cfg = server.test_config();
  cfg.tls.ca_pem.clear();
  cfg.tls.ca_file = ca.path();
  Transport t(io.get_executor(), cfg);
  MaybeResponse before, after, unreadable;
  run_against(io, server, [&]() -> net::awaitable<void> {
    before = co_await t.request(get());
    ca.write(read_testdata("test-ca.crt"));  // the CA "rotates" to the right one
    after = co_await t.request(get());
    fs::remove(ca.path());  // mid-rotation: the last good bundle keeps serving
    unreadable = co_await t.request(get());
  });
  REQUIRE_FALSE(before->ok());
  CHECK(before->error().kind == ErrorKind::transport);
  CHECK(after->ok());
  CHECK(unreadable->ok());
}

TEST_CASE("tls: the token file is re-read at most once per refresh interval", "[transport][token]") {
  TempFile token("token");
  token.write("first\n");
  net::io_context io;
  FakeApiServer server(io, ok_reply);
  ClusterConfig cfg = server.test_config();
  cfg.token.clear();
  cfg.token_file = token.path();
  auto now = std::chrono::steady_clock::time_point{} + 1000s;
  TransportOptions opts;
  opts.token_clock = [&now] { return now; };
  Transport t(io.get_executor(), cfg, opts);
  int ok = 0;
  run_against(io, server, [&]() -> net::awaitable<void> {
    ok += (co_await t.request(get())).ok();
    token.write("second\n");
    now += 30s;  // within the refresh interval: the cached token is still used
    ok += (co_await t.request(get())).ok();
    now += 31s;  // past 60 s since the last read: the file is read again
    ok += (co_await t.request(get())).ok();
  });
  CHECK(ok == 3);
  REQUIRE(server.requests().size() == 3);
  CHECK(server.requests()[0].authorization == "Bearer first");
  CHECK(server.requests()[1].authorization == "Bearer first");
  CHECK(server.requests()[2].authorization == "Bearer second");
}
