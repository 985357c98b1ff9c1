#include <string>

#include <catch2/catch.hpp>

#include <kle/kube/config.hpp>
#include "test_config_support.hpp"

using kle::kube::TokenSource;
using kle::test::ScratchDir;
using std::chrono::seconds;

namespace {
// An arbitrary fixed origin: the source must only ever compare injected times.
const TokenSource::Clock::time_point t0{seconds(1000)};
}  // namespace

TEST_CASE("a static token is returned as is, trimmed, with no file") {
  TokenSource ts("abc\n");
  CHECK(ts.token(t0).value() == "abc");
  CHECK(ts.token(t0 + seconds(3600)).value() == "abc");
  TokenSource none("");
  CHECK(none.token(t0).value().empty());
}

TEST_CASE("a token file is read once per refresh interval") {
  const ScratchDir dir;
  const std::string file = dir.write("token", "first\n");
  TokenSource ts("", file, seconds(60));
  CHECK(ts.token(t0).value() == "first");  // trailing newline trimmed
  dir.write("token", "second\r\n \t");
  CHECK(ts.token(t0 + seconds(59)).value() == "first");  // within the interval: cached
  CHECK(ts.token(t0 + seconds(60)).value() == "second");
  dir.write("token", "third");
  CHECK(ts.token(t0 + seconds(61)).value() == "second");
  CHECK(ts.token(t0 + seconds(119)).value() == "second");
  CHECK(ts.token(t0 + seconds(120)).value() == "third");
}

TEST_CASE("a failed or empty re-read keeps the last good token") {
  const ScratchDir dir;
  const std::string file = dir.write("token", "good");
  TokenSource ts("", file, seconds(10));
  CHECK(ts.token(t0).value() == "good");
  std::filesystem::remove(file);  // kubelet swapping the projected volume's symlink
  CHECK(ts.token(t0 + seconds(10)).value() == "good");
  dir.write("token", "\n");
  CHECK(ts.token(t0 + seconds(20)).value() == "good");
  dir.write("token", "rotated");
  CHECK(ts.token(t0 + seconds(25)).value() == "good");  // a failed attempt also counts for the interval
  CHECK(ts.token(t0 + seconds(30)).value() == "rotated");
}

TEST_CASE("the file's token takes over from the static one - the static one covers an unreadable file") {
  const ScratchDir dir;
  TokenSource missing("static", dir.path("never-written"), seconds(5));
  CHECK(missing.token(t0).value() == "static");
  dir.write("never-written", "from-file");
  CHECK(missing.token(t0 + seconds(4)).value() == "static");
  CHECK(missing.token(t0 + seconds(5)).value() == "from-file");
}

TEST_CASE("surrounding whitespace is trimmed from a token file, as client-go does") {
  const ScratchDir dir;
  TokenSource ts("", dir.write("token", "  lead\n\n"), seconds(1));
  CHECK(ts.token(t0).value() == "lead");
}
