#include <catch2/catch.hpp>

#include <kle/api/microtime.hpp>

using kle::api::format_micro_time;
using kle::api::MicroTime;
using kle::api::parse_micro_time;
using namespace std::chrono;

namespace {
MicroTime at(int y, unsigned mo, unsigned d, int h, int mi, int s, long us) {
  return sys_days{year{y} / month{mo} / day{d}} + hours(h) + minutes(mi) + seconds(s) + microseconds(us);
}
}  // namespace

TEST_CASE("MicroTime formats with exactly six fractional digits in UTC") {
  CHECK(format_micro_time(at(2026, 11, 24, 19, 37, 30, 123456)) == "2026-11-24T19:37:30.123456Z");
  CHECK(format_micro_time(at(2026, 1, 2, 3, 4, 5, 0)) == "2026-01-02T03:04:05.000000Z");
  CHECK(format_micro_time(at(2026, 1, 2, 3, 4, 5, 7)) == "2026-01-02T03:04:05.000007Z");
  CHECK(format_micro_time(MicroTime{}) == "1970-01-01T00:00:00.000000Z");
  CHECK(format_micro_time(at(2024, 2, 29, 23, 59, 59, 999999)) == "2024-02-29T23:59:59.999999Z");
  // Before the epoch the fraction still counts forward from the second.
  CHECK(format_micro_time(MicroTime{microseconds(-1)}) == "1969-12-31T23:59:59.999999Z");
}

TEST_CASE("MicroTime round-trips through its text form") {
  for (const MicroTime t : {at(2026, 11, 24, 19, 37, 30, 123456), at(2000, 2, 29, 0, 0, 0, 1), at(1999, 12, 31, 23, 59, 59, 999999),
                            MicroTime{}, at(9999, 12, 31, 23, 59, 59, 999999)}) {
    const auto parsed = parse_micro_time(format_micro_time(t));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == t);
  }
}

TEST_CASE("parsing accepts what servers and other clients write") {
  const MicroTime base = at(2026, 11, 24, 19, 37, 30, 0);
  CHECK(parse_micro_time("2026-11-24T19:37:30Z") == base);  // metav1.Time: no fraction
  CHECK(parse_micro_time("2026-11-24T19:37:30.5Z") == base + microseconds(500000));
  CHECK(parse_micro_time("2026-11-24T19:37:30.123Z") == base + microseconds(123000));
  CHECK(parse_micro_time("2026-11-24T19:37:30.123456Z") == base + microseconds(123456));
  // Nanoseconds (Go's RFC3339Nano) are truncated to microseconds.
  CHECK(parse_micro_time("2026-11-24T19:37:30.123456789Z") == base + microseconds(123456));
  CHECK(parse_micro_time("2026-11-24T19:37:30.000000999Z") == base);
}

TEST_CASE("numeric offsets are converted to UTC") {
  const MicroTime utc = at(2026, 11, 24, 19, 37, 30, 250000);
  CHECK(parse_micro_time("2026-11-24T21:37:30.25+02:00") == utc);
  CHECK(parse_micro_time("2026-11-24T14:07:30.25-05:30") == utc);
  CHECK(parse_micro_time("2026-11-24T19:37:30.25+00:00") == utc);
  CHECK(parse_micro_time("2026-11-24T19:37:30.25-00:00") == utc);
  // Crossing a day (and year) boundary.
  CHECK(parse_micro_time("2027-01-01T01:00:00+02:00") == at(2026, 12, 31, 23, 0, 0, 0));
  CHECK(format_micro_time(*parse_micro_time("2026-11-24T21:37:30.25+02:00")) == "2026-11-24T19:37:30.250000Z");
}

TEST_CASE("garbage and out-of-range times are refused") {
  const char* bad[] = {
      "",
      "garbage",
      "2026-11-24",
      "2026-11-24T19:37:30",          // no zone
      "2026-11-24 19:37:30Z",         // space instead of T
      "2026-11-24t19:37:30z",         // Go's RFC 3339 parser wants upper case
      "2026-13-01T00:00:00Z",         // month
      "2026-00-01T00:00:00Z",
      "2026-02-29T00:00:00Z",         // not a leap year
      "2026-04-31T00:00:00Z",
      "2026-11-00T00:00:00Z",
      "2026-11-24T24:00:00Z",
      "2026-11-24T19:60:00Z",
      "2026-11-24T19:37:60Z",         // leap second
      "2026-11-24T19:37:30.Z",        // dot without digits
      "2026-11-24T19:37:30.1234567890Z",  // ten digits
      "2026-11-24T19:37:30.12aZ",
      "2026-11-24T19:37:30.123456Zjunk",
      "2026-11-24T19:37:30+0200",
      "2026-11-24T19:37:30+24:00",
      "2026-11-24T19:37:30+02:60",
      "2026-11-24T19:37:30+2:00",
      "2026-11-24T19:37:30+02:00:00",
      "+2026-11-24T19:37:30Z",
      "20261-11-24T19:37:30Z",
      "2026-1-24T19:37:30Z",
      "2026-11-24T19:37:3Z",
      "２026-11-24T19:37:30Z",
  };
  for (const char* s : bad) {
    INFO(s);
    CHECK_FALSE(parse_micro_time(s).has_value());
  }
}

TEST_CASE("micro_now is close to the system clock and has microsecond precision") {
  const auto before = time_point_cast<microseconds>(system_clock::now());
  const MicroTime now = kle::api::micro_now();
  const auto after = time_point_cast<microseconds>(system_clock::now());
  CHECK(now >= before);
  CHECK(now <= after);
}
