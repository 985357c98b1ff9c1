#include <map>
#include <utility>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include <kle/controller/duration.hpp>
#include <kle/controller/options.hpp>

using kle::controller::ParseOutcome;
using namespace std::chrono_literals;

namespace {

struct Env {
  std::map<std::string, std::string> vars;
  kle::controller::GetEnv fn() {
    return [this](const char* name) -> const char* {
      auto it = vars.find(name);
      return it == vars.end() ? nullptr : it->second.c_str();
    };
  }
};

kle::controller::ParseResult parse(std::vector<std::string> args, Env env = {}) {
  args.insert(args.begin(), "leader-elector");
  std::vector<const char*> argv;
  for (auto& a : args) argv.push_back(a.c_str());
  return kle::controller::parse_options(static_cast<int>(argv.size()), argv.data(), env.fn());
}

}  // namespace

TEST_CASE("durations parse as Kubernetes flags spell them") {
  using kle::controller::parse_duration;
  CHECK(parse_duration("15s") == 15s);
  CHECK(parse_duration("500ms") == 500ms);
  CHECK(parse_duration("1m30s") == 90s);
  CHECK(parse_duration("2h") == 2h);
  CHECK(parse_duration("0") == 0ms);
  CHECK_FALSE(parse_duration("15"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("15x"));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("-1s"));
}

TEST_CASE("duration parsing is checked arithmetic: huge input is too large, never an overflow") {
  using kle::controller::parse_duration;
  std::string many;
  for (int i = 0; i < 2600; ++i) many += "1000000000h";  // each part fits; the sum does not
  CHECK_FALSE(parse_duration(many));
  CHECK_FALSE(parse_duration("9223372036854775807ms1ms"));
  CHECK_FALSE(parse_duration("99999999999999999999999h"));
  CHECK(parse_duration("1000000000h") == std::chrono::hours(1000000000));  // fits 64-bit ms
}

TEST_CASE("parse_duration with a bound: too large is told apart from malformed") {
  using kle::controller::parse_duration;
  using Status = kle::controller::ParsedDuration::Status;
  std::string many;
  for (int i = 0; i < 2600; ++i) many += "1000000000h";
  CHECK(parse_duration(many, 1h).status == Status::too_large);
  CHECK(parse_duration("1h", 1h).status == Status::ok);
  CHECK(parse_duration("59m60s", 1h).value == 1h);
  CHECK(parse_duration("1h1ms", 1h).status == Status::too_large);
  CHECK(parse_duration("99999999999999999999999hx", 1h).status == Status::malformed);
}

TEST_CASE("every duration flag has a maximum, named with the flag in one line") {
  const std::pair<const char*, const char*> cases[] = {
      {"--lease-duration", "1h"},  {"--renew-deadline", "1h"},      {"--retry-period", "1h"},
      {"--request-timeout", "1h"}, {"--reconcile-interval", "24h"}, {"--workload-grace", "1h"}};
  for (const auto& [flag, max] : cases) {
    const auto r = parse({flag, "1000000000h"});
    INFO(flag << " -> " << r.text);
    CHECK(r.outcome == ParseOutcome::error);
    CHECK(r.text == std::string(flag) + ": \"1000000000h\" exceeds the maximum of " + max);
  }
  std::string many;
  for (int i = 0; i < 2600; ++i) many += "1000000000h";
  const auto r = parse({"--reconcile-interval", many});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("--reconcile-interval") == 0);
  CHECK(r.text.find("exceeds the maximum of 24h") != std::string::npos);
  CHECK(r.text.size() < 200);  // the input is cut, not echoed whole

  CHECK(parse({"--reconcile-interval", "24h"}).outcome == ParseOutcome::run);
  CHECK(parse({"--workload-grace", "1h"}).outcome == ParseOutcome::run);
  CHECK(parse({"--lease-duration", "1h", "--renew-deadline", "40m", "--retry-period", "10m"}).outcome ==
        ParseOutcome::run);
}

TEST_CASE("the lease duration is refused unless the Lease can state it exactly") {
  auto r = parse({"--lease-duration", "71582788m31s"});  // 2^32 + 15 s, once written as 15
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("--lease-duration") == 0);
  r = parse({"--lease-duration", "15500ms"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text == "invalid timing: --lease-duration (15500ms) must be a whole number of seconds: "
                  "leaseDurationSeconds is an integer");
}

TEST_CASE("timings are checked by the election library's rules while parsing") {
  auto r = parse({"--renew-deadline", "2s"});  // not above 1.2 x the 2s retry period
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text == "invalid timing: --renew-deadline (2000ms) must be greater than jitter x --retry-period "
                  "(1.2 x 2000ms = 2400ms)");
  r = parse({"--lease-duration", "10s"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text == "invalid timing: --lease-duration (10000ms) must be greater than --renew-deadline (10000ms)");
  r = parse({"--lease-duration", "0s"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text == "invalid timing: --lease-duration must be at least 1s, got 0ms");
}

TEST_CASE("names, label and address are checked while parsing, one line naming the flag") {
  auto r = parse({"--lease-name", "My_Lease"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("--lease-name \"My_Lease\" is not a DNS-1123 subdomain") == 0);
  r = parse({"--namespace", "a.b"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("--namespace \"a.b\" is not a DNS-1123 label") == 0);
  Env env;
  env.vars["POD_NAMESPACE"] = "Not_A_Label";
  r = parse({}, env);
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("--namespace \"Not_A_Label\"") == 0);
  r = parse({"--http-address", "not-an-address"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("--http-address") == 0);
  // A field name inside the user's text is not rewritten.
  r = parse({"--lease-name", "identity_lease_duration"});
  CHECK(r.text.find("\"identity_lease_duration\"") != std::string::npos);
  // A newline in a value would forge a second line.
  for (const char* flag : {"--lease-name", "--leader-label", "--lease-duration", "--log-level", "--namespace"}) {
    r = parse({flag, "x\n{\"level\":\"info\"}"});
    INFO(flag << " -> " << r.text);
    CHECK(r.outcome == ParseOutcome::error);
    CHECK(r.text.find('\n') == std::string::npos);
    CHECK(r.text.find("\\x0a") != std::string::npos);
  }
}

TEST_CASE("to_elector_options passes the flags on exactly") {
  const auto r = parse({"--lease-duration", "20s", "--renew-deadline", "12500ms", "--retry-period", "3s",
                        "--release-on-stop=false", "--identity", "me", "--namespace", "ns1"});
  REQUIRE(r.outcome == ParseOutcome::run);
  const auto eo = kle::controller::to_elector_options(r.options);
  CHECK(eo.lease_duration == 20s);
  CHECK(eo.renew_deadline == 12500ms);
  CHECK(eo.renew_interval == 3s);
  CHECK(eo.follower_poll == 3s);
  CHECK_FALSE(eo.release_on_stop);
  CHECK_FALSE(eo.auto_close);
  CHECK(eo.identity == "me");
  CHECK(eo.namespace_ == "ns1");
  CHECK(kle::election::resolve_timings(eo).ok());
}

TEST_CASE("defaults are client-go's timings and the documented label") {
  const auto r = parse({});
  REQUIRE(r.outcome == ParseOutcome::run);
  CHECK(r.options.lease_duration == 15s);
  CHECK(r.options.renew_deadline == 10s);
  CHECK(r.options.retry_period == 2s);
  CHECK(r.options.leader_label.key == "leader-elector/leader");
  CHECK(r.options.leader_label.value == "true");
  CHECK(r.options.http_address == "0.0.0.0:8080");
  CHECK(r.options.command.empty());
}

TEST_CASE("flags override the environment, which overrides defaults") {
  Env env;
  env.vars["LEADER_ELECTOR_LEASE_NAME"] = "from-env";
  env.vars["LEADER_ELECTOR_RETRY_PERIOD"] = "3s";
  env.vars["LEADER_ELECTOR_READINESS_FOLLOWS_LEADERSHIP"] = "true";
  const auto r = parse({"--lease-name", "from-flag"}, env);
  REQUIRE(r.outcome == ParseOutcome::run);
  CHECK(r.options.lease_name == "from-flag");
  CHECK(r.options.retry_period == 3s);
  CHECK(r.options.readiness_follows_leadership);
}

TEST_CASE("identity and namespace come from the downward API") {
  Env env;
  env.vars["POD_NAME"] = "web-7d9f-abcde";
  env.vars["POD_NAMESPACE"] = "prod";
  const auto r = parse({}, env);
  REQUIRE(r.outcome == ParseOutcome::run);
  CHECK(r.options.identity == "web-7d9f-abcde");
  CHECK(r.options.pod_name == "web-7d9f-abcde");
  CHECK(r.options.lease_namespace == "prod");
  const auto explicit_id = parse({"--identity", "me", "--namespace", "ns1"}, env);
  CHECK(explicit_id.options.identity == "me");
  CHECK(explicit_id.options.pod_name == "web-7d9f-abcde");
  CHECK(explicit_id.options.lease_namespace == "ns1");
}

TEST_CASE("everything after -- is the workload, untouched") {
  const auto r = parse({"--lease-name", "x", "--", "/bin/server", "--port", "80", "--"});
  REQUIRE(r.outcome == ParseOutcome::run);
  CHECK(r.options.command == std::vector<std::string>{"/bin/server", "--port", "80", "--"});
}

TEST_CASE("bad input is one clear error naming the flag") {
  auto r = parse({"--lease-duration", "15"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("--lease-duration") != std::string::npos);
  CHECK(r.text.find("not a duration") != std::string::npos);

  r = parse({"--lease-duration", "1500ms"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("whole number of seconds") != std::string::npos);

  r = parse({"--request-timeout", "10s"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("below --renew-deadline") != std::string::npos);

  r = parse({"--leader-label", "novalue"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("--leader-label") != std::string::npos);

  r = parse({"--log-level", "loud"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("--log-level") != std::string::npos);

  r = parse({"--no-such-flag"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("no-such-flag") != std::string::npos);

  Env env;
  env.vars["LEADER_ELECTOR_RETRY_PERIOD"] = "soon";
  r = parse({}, env);
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("--retry-period") != std::string::npos);
}

TEST_CASE("the pod selector flag scopes the cleanup, and bad input is one line naming it") {
  auto r = parse({"--pod-selector", "app.kubernetes.io/name=leader-elector,app.kubernetes.io/instance=a"});
  REQUIRE(r.outcome == ParseOutcome::run);
  CHECK(r.options.pod_selector.text() == "app.kubernetes.io/name=leader-elector,app.kubernetes.io/instance=a");
  CHECK(parse({}).options.pod_selector.empty());

  Env env;
  env.vars["LEADER_ELECTOR_POD_SELECTOR"] = "app=x";
  CHECK(parse({}, env).options.pod_selector.text() == "app=x");

  for (const char* bad : {"app", "app!=x", "a..b/x=y", "app=x,app=y"}) {
    INFO(bad);
    r = parse({"--pod-selector", bad});
    CHECK(r.outcome == ParseOutcome::error);
    CHECK(r.text.rfind("--pod-selector: ", 0) == 0);
    CHECK(r.text.find('\n') == std::string::npos);
  }
  r = parse({"--pod-selector", "leader-elector/leader=true"});
  CHECK(r.outcome == ParseOutcome::error);
  CHECK(r.text.find("leader label key") != std::string::npos);
}

TEST_CASE("help groups the flags and shows defaults") {
  const auto r = parse({"--help"});
  REQUIRE(r.outcome == ParseOutcome::help);
  for (const char* s : {"Election:", "Pod label:", "Kubernetes API:", "--lease-duration", "(=15s)", "LEADER_ELECTOR_",
                        "1s to 1h", "at most 24h", "(at most 1h)"})
    CHECK(r.text.find(s) != std::string::npos);
}

TEST_CASE("handover flags: defaults, the revision from the environment, and bounds") {
  const auto defaults = parse({});
  REQUIRE(defaults.outcome == ParseOutcome::run);
  CHECK(defaults.options.handover_newest);
  CHECK(defaults.options.handover_grace == 2s);
  CHECK(defaults.options.drain == 1s);
  const auto eo = kle::controller::to_elector_options(defaults.options);
  CHECK(eo.handover_drain == 1s);
  CHECK(eo.handover_grace == 2s);
  CHECK(eo.older_grace == 2s);

  Env env;
  env.vars["LEADER_ELECTOR_REVISION"] = "5d9f7c";
  const auto from_env = parse({"--drain=0s", "--handover-grace=500ms"}, env);
  REQUIRE(from_env.outcome == ParseOutcome::run);
  CHECK(from_env.options.revision == "5d9f7c");
  CHECK(kle::controller::to_elector_options(from_env.options).revision == "5d9f7c");
  CHECK(from_env.options.drain == 0s);

  const auto off = parse({"--handover=off", "--revision=abc"});
  REQUIRE(off.outcome == ParseOutcome::run);
  CHECK_FALSE(off.options.handover_newest);
  CHECK(kle::controller::to_elector_options(off.options).revision.empty());  // off: never held back

  const auto bad = parse({"--handover=sometimes"});
  CHECK(bad.outcome == ParseOutcome::error);
  CHECK(bad.text.find("--handover") != std::string::npos);
  const auto too_long = parse({"--drain=16s"});  // above the 15s lease
  CHECK(too_long.outcome == ParseOutcome::error);
  CHECK(too_long.text.find("--drain") != std::string::npos);
}
