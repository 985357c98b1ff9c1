#include <kle/api/microtime.hpp>

#include <cstdint>
#include <cstdio>

namespace kle::api {
namespace {

using std::chrono::days;
using std::chrono::microseconds;

// Reads exactly `n` ASCII digits at `pos`; nullopt when any is not a digit.
std::optional<int> digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return std::nullopt;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

bool expect(std::string_view s, std::size_t pos, char c) { return pos < s.size() && s[pos] == c; }

struct Fraction {
  std::int64_t micros = 0;
  std::size_t end = 0;  // index after the last digit (or the start when there is none)
};

// ".d{1,9}": digits beyond the sixth are truncated, as Go does when it stores MicroTime.
std::optional<Fraction> fraction(std::string_view s, std::size_t pos) {
  Fraction f{0, pos};
  if (!expect(s, pos, '.')) return f;
  std::size_t i = pos + 1;
  std::int64_t scale = 100000;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    if (i - pos > 9) return std::nullopt;
    f.micros += (s[i] - '0') * scale;
    scale /= 10;
    ++i;
  }
  if (i == pos + 1) return std::nullopt;  // "." with no digits
  f.end = i;
  return f;
}

// "Z" or "+hh:mm"/"-hh:mm" ending the string exactly; returns the offset east of UTC.
std::optional<std::chrono::minutes> zone(std::string_view s, std::size_t pos) {
  if (pos + 1 == s.size() && s[pos] == 'Z') return std::chrono::minutes(0);
  if (pos + 6 != s.size() || (s[pos] != '+' && s[pos] != '-') || s[pos + 3] != ':') return std::nullopt;
  const auto hh = digits(s, pos + 1, 2);
  const auto mm = digits(s, pos + 4, 2);
  if (!hh || !mm || *hh > 23 || *mm > 59) return std::nullopt;
  const std::chrono::minutes off(*hh * 60 + *mm);
  return s[pos] == '-' ? -off : off;
}

}  // namespace

std::string format_micro_time(MicroTime t) {
  const auto day = std::chrono::floor<days>(t);
  const std::chrono::year_month_day ymd{day};
  const std::chrono::hh_mm_ss<microseconds> hms{t - day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d.%06ldZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()), static_cast<long>(hms.subseconds().count()));
  return buf;
}

std::optional<MicroTime> parse_micro_time(std::string_view s) {
  // Fixed layout "YYYY-MM-DDTHH:MM:SS" first: 19 characters.
  const auto year = digits(s, 0, 4);
  const auto month = digits(s, 5, 2);
  const auto day = digits(s, 8, 2);
  const auto hour = digits(s, 11, 2);
  const auto minute = digits(s, 14, 2);
  const auto second = digits(s, 17, 2);
  if (!year || !month || !day || !hour || !minute || !second) return std::nullopt;
  if (!expect(s, 4, '-') || !expect(s, 7, '-') || !expect(s, 10, 'T') || !expect(s, 13, ':') || !expect(s, 16, ':')) {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year{*year}, std::chrono::month{static_cast<unsigned>(*month)},
                                        std::chrono::day{static_cast<unsigned>(*day)}};
  // Leap seconds (":60") are refused, as Go's time.Parse refuses them.
  if (!ymd.ok() || *hour > 23 || *minute > 59 || *second > 59) return std::nullopt;
  const auto frac = fraction(s, 19);
  if (!frac) return std::nullopt;
  const auto off = zone(s, frac->end);
  if (!off) return std::nullopt;
  const MicroTime local = std::chrono::sys_days{ymd} + std::chrono::hours(*hour) + std::chrono::minutes(*minute) +
                          std::chrono::seconds(*second) + microseconds(frac->micros);
  return local - *off;
}

MicroTime micro_now() {
  return std::chrono::time_point_cast<microseconds>(std::chrono::system_clock::now());
}

}  // namespace kle::api
