// A bearer token is a header value: one holding CR or LF (or anything else a token cannot
// hold) would add headers to every request. Refused at start-up with the source named; a
// rotated token file with such content is refused and the last good token kept.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "fakes/fake_apiserver.hpp"
#include <kle/kube/config.hpp>
#include "kube/config_detail.hpp"
#include <kle/kube/transport.hpp>
#include <kle/log/logger.hpp>
#include "test_config_support.hpp"

using namespace std::chrono_literals;
using kle::api::ErrorKind;
using kle::api::Result;
using kle::kube::ClusterConfig;
using kle::kube::HttpRequest;
using kle::kube::HttpResponse;
using kle::kube::TokenSource;
using kle::kube::Transport;
using kle::kube::TransportOptions;
using kle::kube::detail::bearer_token_problem;
using kle::testing::FakeApiServer;
using kle::testing::FakeReply;
using kle::testing::FakeRequest;
using kle::testing::run_against;
using kle::test::EnvGuard;
using kle::test::ScratchDir;
namespace net = boost::asio;

namespace {

const std::string kInjected = "good\r\nX-Injected: yes";
const TokenSource::Clock::time_point t0{std::chrono::seconds(1000)};

HttpRequest get() { return {boost::beast::http::verb::get, "/x", {}, {}}; }
FakeReply ok_reply(const FakeRequest&) { return FakeReply::json(200, "{}"); }

// Captures every log line.
struct LogCapture {
  std::vector<std::string> lines;
  kle::log::Logger logger() {
    return kle::log::Logger(kle::log::Level::debug, kle::log::Logger::Format::json,
                            [this](kle::log::Level, std::string_view l) { lines.emplace_back(l); });
  }
};

}  // namespace

TEST_CASE("token: only visible ASCII may be sent as a bearer token", "[token]") {
  CHECK(bearer_token_problem("eyJhbGciOiJSUzI1NiJ9.e30.c2ln").empty());
  CHECK(bearer_token_problem("abcdef.0123456789abcdef").empty());  // a bootstrap token
  CHECK(bearer_token_problem("a+/=~_-:@!").empty());
  CHECK(bearer_token_problem("").empty());
  CHECK(bearer_token_problem("ab\ncd") ==
        "holds a line feed (LF) at byte 2; a bearer token may hold only visible ASCII characters");
  CHECK_THAT(bearer_token_problem("ab\rcd"), Catch::StartsWith("holds a carriage return (CR) at byte 2"));
  CHECK_THAT(bearer_token_problem("a b"), Catch::StartsWith("holds whitespace (0x20) at byte 1"));
  CHECK_THAT(bearer_token_problem("a\tb"), Catch::StartsWith("holds whitespace (0x09) at byte 1"));
  CHECK_THAT(bearer_token_problem(std::string("a\0b", 3)), Catch::StartsWith("holds a control character (0x00)"));
  CHECK_THAT(bearer_token_problem("a\x7f"), Catch::StartsWith("holds a control character (0x7f) at byte 1"));
  CHECK_THAT(bearer_token_problem("caf\xc3\xa9"), Catch::StartsWith("holds a non-ASCII byte (0xc3) at byte 3"));
}

TEST_CASE("token: a rotated token file with a line break is refused, the last good one kept", "[token]") {
  const ScratchDir dir;
  const std::string file = dir.write("token", "good\n");  // a trailing newline is still trimmed
  std::vector<std::string> refusals;
  TokenSource ts("", file, 10s, [&](const std::string& why) { refusals.push_back(why); });
  CHECK(ts.token(t0).value() == "good");
  dir.write("token", kInjected + "\n");
  CHECK(ts.token(t0 + 10s).value() == "good");
  REQUIRE(refusals.size() == 1);
  CHECK(refusals[0] == "token file " + file +
                           " holds a carriage return (CR) at byte 4; a bearer token may hold only visible ASCII "
                           "characters; keeping the last good token");
  dir.write("token", "rotated");
  CHECK(ts.token(t0 + 20s).value() == "rotated");
  CHECK(refusals.size() == 1);
}

TEST_CASE("token: with no good token yet, a refused one is an error, not an anonymous request", "[token]") {
  TokenSource bad_static(kInjected);
  const auto r = bad_static.token(t0);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::config);
  CHECK_THAT(r.error().message, Catch::StartsWith("the configured bearer token holds a carriage return (CR) at byte 4"));
  CHECK_THAT(r.error().message, !Catch::Contains("X-Injected"));

  const ScratchDir dir;
  TokenSource bad_file("", dir.write("token", "a\nb"), 10s);
  REQUIRE_FALSE(bad_file.token(t0).ok());
  dir.write("token", "fixed");
  CHECK(bad_file.token(t0 + 10s).value() == "fixed");
}

TEST_CASE("transport: a token with CR LF is never sent - the request fails before connecting", "[transport][token]") {
  net::io_context io;
  FakeApiServer server(io, ok_reply);
  ClusterConfig cfg = server.test_config();
  cfg.token = kInjected;
  Transport t(io.get_executor(), cfg);
  std::optional<Result<HttpResponse>> out, streamed;
  run_against(io, server, [&]() -> net::awaitable<void> {
    out = co_await t.request(get());
    // Named, not temporaries in the co_await (GCC 12, see docs/ENGINEERING.md).
    HttpRequest watch = get();
    kle::kube::BodySink sink = [](std::string_view) { return Result<void>{}; };
    streamed = co_await t.stream(std::move(watch), 1s, std::move(sink));
  });
  CHECK(server.requests().empty());  // no request arrived, so no injected header either
  CHECK(server.accepted() == 0);
  for (const auto* r : {&out, &streamed}) {
    REQUIRE_FALSE((*r)->ok());
    CHECK((*r)->error().kind == ErrorKind::config);
    CHECK_THAT((*r)->error().message, Catch::Contains("fake-apiserver") && Catch::Contains("carriage return"));
    CHECK_THAT((*r)->error().message, !Catch::Contains("X-Injected"));
  }
}

TEST_CASE("transport: a rotated token file that would inject a header is refused and logged", "[transport][token]") {
  const ScratchDir dir;
  const std::string file = dir.write("token", "first\n");
  net::io_context io;
  FakeApiServer server(io, ok_reply);
  ClusterConfig cfg = server.test_config();
  cfg.token.clear();
  cfg.token_file = file;
  auto now = std::chrono::steady_clock::time_point{} + 1000s;
  LogCapture logs;
  TransportOptions opts;
  opts.token_clock = [&now] { return now; };
  opts.log = logs.logger();
  Transport t(io.get_executor(), cfg, opts);
  int ok = 0;
  run_against(io, server, [&]() -> net::awaitable<void> {
    ok += (co_await t.request(get())).ok();
    dir.write("token", kInjected + "\n");
    now += 60s;
    ok += (co_await t.request(get())).ok();
  });
  CHECK(ok == 2);
  REQUIRE(server.requests().size() == 2);
  for (const auto& req : server.requests()) {
    CHECK(req.authorization == "Bearer first");
    CHECK_FALSE(req.header("X-Injected").has_value());
  }
  REQUIRE(logs.lines.size() == 1);
  CHECK_THAT(logs.lines[0], Catch::Contains("\"level\":\"warn\"") && Catch::Contains("refusing the re-read bearer token") &&
                                Catch::Contains(file) && Catch::Contains("keeping the last good token"));
  CHECK_THAT(logs.lines[0], !Catch::Contains("X-Injected"));  // the token's content is never logged
}

TEST_CASE("kubeconfig: a token that would inject a header is refused, naming the file and field", "[token]") {
  const ScratchDir dir;
  const auto config = [&](const std::string& user) {
    return dir.write("config",
                     "current-context: ctx\nclusters:\n- name: c\n  cluster:\n    server: https://h\n"
                     "contexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\n"
                     "users:\n- name: u\n  user:\n" + user);
  };
  const std::string inline_path = config("    token: \"good\\nX-Injected: yes\"\n");
  const auto inline_token = kle::kube::load_kubeconfig(inline_path);
  REQUIRE_FALSE(inline_token.ok());
  CHECK(inline_token.error().message == "kubeconfig " + inline_path +
                                            ": users[0].user.token: holds a line feed (LF) at byte 4; a bearer token "
                                            "may hold only visible ASCII characters");

  const std::string token_file = dir.write("token", kInjected + "\n");
  const std::string file_path = config("    tokenFile: token\n");
  const auto from_file = kle::kube::load_kubeconfig(file_path);
  REQUIRE_FALSE(from_file.ok());
  CHECK_THAT(from_file.error().message,
             Catch::StartsWith("kubeconfig " + file_path + ": users[0].user.tokenFile: " + token_file +
                               " holds a carriage return (CR) at byte 4"));

  // What was accepted before stays accepted: surrounding whitespace is trimmed.
  dir.write("token", "  good\n");
  CHECK(kle::kube::load_kubeconfig(config("    tokenFile: token\n    token: \" t\\n\"\n")).ok());
}

TEST_CASE("in-cluster: a service-account token that would inject a header is refused", "[token]") {
  EnvGuard env;
  env.set("KUBERNETES_SERVICE_HOST", "10.96.0.1");
  env.set("KUBERNETES_SERVICE_PORT", "443");
  const ScratchDir sa;
  const std::string token = sa.write("token", "eyJ9.e30.c2ln\nX-Injected: yes\n");
  sa.write("ca.crt", "-----BEGIN CERTIFICATE-----\nZHVtbXk=\n-----END CERTIFICATE-----\n");
  const auto r = kle::kube::load_in_cluster(kle::kube::InClusterPaths{sa.path()});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().kind == ErrorKind::config);
  CHECK(r.error().message == "in-cluster: service-account token: " + token +
                                 " holds a line feed (LF) at byte 13; a bearer token may hold only visible ASCII "
                                 "characters");
}
