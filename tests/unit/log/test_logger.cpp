#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <kle/log/logger.hpp>

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

namespace {

// Reads back the key=value fields of a text line (after "ts level msg"), undoing the JSON
// escapes inside quotes: what a log shipper's logfmt parser would do.
std::vector<std::pair<std::string, std::string>> text_fields(const std::string& line) {
  std::vector<std::pair<std::string, std::string>> out;
  std::size_t i = line.find('=');
  if (i == std::string::npos) return out;
  i = line.rfind(' ', i) + 1;
  while (i < line.size()) {
    const std::size_t eq = line.find('=', i);
    std::string key = line.substr(i, eq - i);
    std::string value;
    i = eq + 1;
    if (i < line.size() && line[i] == '"') {
      for (++i; i < line.size() && line[i] != '"'; ++i) {
        if (line[i] != '\\') {
          value += line[i];
          continue;
        }
        const char e = line[++i];
        if (e == 'u') {
          value += static_cast<char>(std::stoi(line.substr(i + 1, 4), nullptr, 16));
          i += 4;
        } else {
          value += e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e;
        }
      }
      ++i;  // the closing quote
    } else {
      const std::size_t end = line.find(' ', i);
      value = line.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i += value.size();
    }
    out.emplace_back(std::move(key), std::move(value));
    if (i < line.size() && line[i] == ' ') ++i;
  }
  return out;
}

}  // namespace

TEST_CASE("text format: a newline in POD_NAME or holderIdentity cannot forge a log line") {
  Captured out;
  // No space, quote or '=': the old format wrote such values bare, newline and all.
  const std::string pod = "web-0\n2026-01-01T00:00:00.000Z\terror\tleadership\tlost";
  const std::string holder = "x\r\n2026-01-01T00:00:00.000Z\tinfo\tforged";
  const Logger log = Logger(Level::info, Logger::Format::text, out.sink()).with({{"identity", pod}});
  log.info("new leader observed", {{"holder", holder}});
  REQUIRE(out.lines.size() == 1);
  const std::string& l = out.lines[0];
  CHECK(l.find('\n') == std::string::npos);
  CHECK(l.find('\r') == std::string::npos);
  CHECK(l.find('\t') == std::string::npos);
  CHECK(l.find(R"( identity="web-0\n2026-01-01T00:00:00.000Z\terror\tleadership\tlost")") != std::string::npos);
  const auto fields = text_fields(l);
  REQUIRE(fields.size() == 2);
  CHECK(fields[0].second == pod);
  CHECK(fields[1].second == holder);
}

TEST_CASE("text format: quotes, '=', backslashes and terminal escapes read back as one field") {
  Captured out;
  const Logger log(Level::info, Logger::Format::text, out.sink());
  const std::string quote = R"(a" leader=true x=")";
  const std::string eq = "a=b";
  const std::string backslash = R"(a\nb)";  // a literal backslash-n, not a newline
  const std::string ansi = "\x1b[2J\x7f\x01";
  log.warn("m", {{"q", quote}, {"e", eq}, {"b", backslash}, {"t", ansi}, {"plain", "pod-1"}, {"n", 3}});
  REQUIRE(out.lines.size() == 1);
  const std::string& l = out.lines[0];
  CHECK(l.find('\x1b') == std::string::npos);
  CHECK(l.find('\x7f') == std::string::npos);
  CHECK(l.find(" plain=pod-1 n=3") != std::string::npos);  // the common case stays bare
  const auto fields = text_fields(l);
  REQUIRE(fields.size() == 6);
  CHECK(fields[0] == std::pair<std::string, std::string>("q", quote));
  CHECK(fields[1] == std::pair<std::string, std::string>("e", eq));
  CHECK(fields[2] == std::pair<std::string, std::string>("b", backslash));
  CHECK(fields[3] == std::pair<std::string, std::string>("t", ansi));
}

TEST_CASE("text format: the message and the keys cannot break the line either") {
  Captured out;
  const Logger log(Level::info, Logger::Format::text, out.sink());
  log.info("leader label set", {{"pod", "a"}});
  log.info("line one\nfake=1", {{"bad key\n=", "v"}});
  REQUIRE(out.lines.size() == 2);
  CHECK(out.lines[0].find(" info leader label set pod=a") != std::string::npos);  // unchanged
  CHECK(out.lines[1].find(R"( info "line one\nfake=1" bad_key__=v)") != std::string::npos);
}

TEST_CASE("json escapes DEL as well as the C0 controls") {
  CHECK(kle::log::json_escape("\x7f\x1b") == "\\u007f\\u001b");
}
