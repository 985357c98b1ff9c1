#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "controller/duration.hpp"
#include "controller/options.hpp"

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

TEST_CASE("help groups the flags and shows defaults") {
  const auto r = parse({"--help"});
  REQUIRE(r.outcome == ParseOutcome::help);
  for (const char* s : {"Election:", "Pod label:", "Kubernetes API:", "--lease-duration", "(=15s)", "LEADER_ELECTOR_"})
    CHECK(r.text.find(s) != std::string::npos);
}
