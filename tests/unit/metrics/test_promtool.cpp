// The serialized text passes `promtool check metrics` (format and naming lint). Fails
// loudly when promtool is missing: it ships with Debian's prometheus package.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include <kle/metrics/registry.hpp>

using namespace std::chrono_literals;

namespace {

constexpr const char* kPromtool = "/usr/bin/promtool";

struct PromtoolResult {
  int exit_code = -1;
  std::string output;
};

// Feeds `text` to promtool on stdin; its stdout+stderr come back through a temp file.
PromtoolResult promtool_check(const std::string& text) {
  char out_path[] = "/tmp/kle_promtool_XXXXXX";
  const int fd = ::mkstemp(out_path);
  REQUIRE(fd >= 0);
  ::close(fd);
  const std::string cmd = std::string(kPromtool) + " check metrics >" + out_path + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "w");
  REQUIRE(pipe != nullptr);
  const auto written = std::fwrite(text.data(), 1, text.size(), pipe);
  const int status = ::pclose(pipe);
  REQUIRE(written == text.size());

  PromtoolResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (FILE* f = std::fopen(out_path, "r")) {
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) result.output.append(buf, n);
    std::fclose(f);
  }
  std::remove(out_path);
  return result;
}

}  // namespace

TEST_CASE("promtool check metrics accepts the exposition") {
  REQUIRE(::access(kPromtool, X_OK) == 0);  // missing promtool is a failure, not a skip

  kle::metrics::RegistryOptions options;
  options.lease = "my-lease";
  options.ns = "prod";
  kle::metrics::Registry registry(options);
  registry.on_leadership(true);
  registry.on_renewal(true, 12ms);
  registry.on_renewal(false, 2s);
  registry.on_observed_transitions(4);
  registry.label_action("set");
  registry.label_failure();
  registry.api_request("PUT", 200);
  registry.api_request("GET", 0);

  const auto result = promtool_check(registry.serialize());
  INFO(result.output);
  CHECK(result.exit_code == 0);
  // promtool prints lint problems (e.g. bad counter suffixes) even when it exits 0.
  CHECK(result.output.empty());
}

TEST_CASE("promtool check rejects malformed text, so the check above is meaningful") {
  REQUIRE(::access(kPromtool, X_OK) == 0);
  const auto result = promtool_check("# TYPE x counter\nx{ 1\n");
  CHECK(result.exit_code != 0);
}
