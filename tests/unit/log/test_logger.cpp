#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "log/logger.hpp"

using kle::log::Level;
using kle::log::Logger;

namespace {
struct Captured {
  std::vector<std::string> lines;
  kle::log::Sink sink() {
    return [this](Level, std::string_view line) { lines.emplace_back(line); };
  }
};
}  // namespace

TEST_CASE("json lines carry level, message, bound and call fields") {
  Captured out;
  const Logger log = Logger(Level::info, Logger::Format::json, out.sink()).with({{"lease", "demo"}});
  log.info("leadership acquired", {{"transitions", 3}, {"leader", true}, {"holder", "pod \"a\""}});
  REQUIRE(out.lines.size() == 1);
  const std::string& l = out.lines[0];
  CHECK(l.front() == '{');
  CHECK(l.back() == '}');
  CHECK(l.find(R"("level":"info")") != std::string::npos);
  CHECK(l.find(R"("msg":"leadership acquired")") != std::string::npos);
  CHECK(l.find(R"("lease":"demo")") != std::string::npos);
  CHECK(l.find(R"("transitions":3)") != std::string::npos);
  CHECK(l.find(R"("leader":true)") != std::string::npos);
  CHECK(l.find(R"("holder":"pod \"a\"")") != std::string::npos);
}

TEST_CASE("lines below the minimum level are dropped") {
  Captured out;
  const Logger log(Level::warn, Logger::Format::text, out.sink());
  log.info("quiet");
  log.error("loud", {{"code", 409}});
  REQUIRE(out.lines.size() == 1);
  CHECK(out.lines[0].find("error loud code=409") != std::string::npos);
}

TEST_CASE("levels parse from their names") {
  Level l = Level::info;
  CHECK(kle::log::parse_level("debug", l));
  CHECK(l == Level::debug);
  CHECK(kle::log::parse_level("warning", l));
  CHECK(l == Level::warn);
  CHECK_FALSE(kle::log::parse_level("verbose", l));
}

TEST_CASE("control characters are escaped in json") {
  CHECK(kle::log::json_escape("a\nb\x01") == "a\\nb\\u0001");
}
