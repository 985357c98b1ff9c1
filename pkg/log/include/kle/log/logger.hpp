#pragma once
// Structured logs: one line per event, as JSON (default) or a human format. The Logger is
// the seed's pluggable `log`: embedders pass their own sink; the elector never prints
// directly. Fields are key/value pairs; callers never pass a token (nothing here redacts).
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

namespace kle::log {

enum class Level { debug = 0, info, warn, error };

struct Field {
  std::string key;
  std::string value;
  bool quoted = true;  // false for numbers and booleans in the JSON form
  Field(std::string k, std::string v) : key(std::move(k)), value(std::move(v)) {}
  Field(std::string k, const char* v) : key(std::move(k)), value(v) {}
  Field(std::string k, std::string_view v) : key(std::move(k)), value(v) {}
  Field(std::string k, bool v) : key(std::move(k)), value(v ? "true" : "false"), quoted(false) {}
  template <class N>
    requires std::is_arithmetic_v<N>
  Field(std::string k, N v) : key(std::move(k)), value(std::to_string(v)), quoted(false) {}
};

using Fields = std::initializer_list<Field>;

// Receives complete lines (no trailing newline).
using Sink = std::function<void(Level, std::string_view line)>;

class Logger {
 public:
  enum class Format { json, text };
  Logger(Level min_level = Level::info, Format format = Format::json, Sink sink = {});

  void log(Level level, std::string_view msg, Fields fields = {}) const;
  void debug(std::string_view msg, Fields f = {}) const { log(Level::debug, msg, f); }
  void info(std::string_view msg, Fields f = {}) const { log(Level::info, msg, f); }
  void warn(std::string_view msg, Fields f = {}) const { log(Level::warn, msg, f); }
  void error(std::string_view msg, Fields f = {}) const { log(Level::error, msg, f); }

  [[nodiscard]] bool enabled(Level level) const noexcept { return level >= min_level_; }
  // A copy whose every line also carries these fields (e.g. lease, identity).
  [[nodiscard]] Logger with(Fields fields) const;

 private:
  // The sink, shared by every copy (a stateful sink stays one object), and the bound fields,
  // rendered once in format_ (fixed at construction). Behind one pointer, shared by copies:
  // every Elector holds a Logger bound to its Lease, and a process of a thousand Leases holds
  // a thousand, which without a logger are all one null Logger (issue 14).
  struct Bound {
    std::shared_ptr<Sink> sink;
    std::string fields;
  };
  Level min_level_;
  Format format_;
  std::shared_ptr<const Bound> bound_;  // never null
};

// Writes to stderr, one line at a time under a lock.
Sink stderr_sink();
// Discards everything (the no-op default for embedders who pass nothing).
Logger null_logger();

bool parse_level(std::string_view text, Level& out);
const char* to_string(Level level) noexcept;
std::string json_escape(std::string_view s);

}  // namespace kle::log
