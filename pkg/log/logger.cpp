#include <kle/log/logger.hpp>

#include <chrono>
#include <cstdio>
#include <ctime>

namespace kle::log {
namespace {

// RFC 3339 UTC with milliseconds; <format> is not in GCC 12's library.
std::string timestamp() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}

void append_json_field(std::string& out, const Field& f) {
  out += ",\"";
  out += json_escape(f.key);
  out += "\":";
  if (f.quoted) {
    out += '"';
    out += json_escape(f.value);
    out += '"';
  } else {
    out += f.value;
  }
}

bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// Bare only where that reads back unambiguously: no space (in values), quote, '=', backslash
// or control character. Values come from outside (POD_NAME, a Lease's holderIdentity), so a
// newline must not start a forged line and a '" x=y' must not forge a field.
bool needs_quotes(std::string_view s, bool space_ok) {
  for (const char c : s) {
    if (c == '"' || c == '=' || c == '\\' || is_control(c) || (c == ' ' && !space_ok)) return true;
  }
  return false;
}

void append_text_value(std::string& out, std::string_view value, bool space_ok) {
  if (value.empty() || needs_quotes(value, space_ok)) {
    out += '"';
    out += json_escape(value);
    out += '"';
  } else {
    out += value;
  }
}

// Keys are the caller's literals; anything that would break key=value parsing becomes '_'.
void append_text_key(std::string& out, std::string_view key) {
  for (const char c : key) out += (c == ' ' || c == '"' || c == '=' || is_control(c)) ? '_' : c;
}

void append_text_field(std::string& out, const Field& f) {
  out += ' ';
  append_text_key(out, f.key);
  out += '=';
  append_text_value(out, f.value, false);
}

}  // namespace

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (is_control(c)) {  // DEL too: valid JSON either way, and inert on a terminal
          char esc[8];
          std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += esc;
        } else {
          out += c;
        }
    }
  }
  return out;
}

const char* to_string(Level level) noexcept {
  switch (level) {
    case Level::debug: return "debug";
    case Level::info: return "info";
    case Level::warn: return "warn";
    case Level::error: return "error";
  }
  return "info";
}

bool parse_level(std::string_view text, Level& out) {
  for (const Level l : {Level::debug, Level::info, Level::warn, Level::error}) {
    if (text == to_string(l)) {
      out = l;
      return true;
    }
  }
  if (text == "warning") {
    out = Level::warn;
    return true;
  }
  return false;
}

Logger::Logger(Level min_level, Format format, Sink sink)
    : min_level_(min_level),
      format_(format),
      bound_(std::make_shared<const Bound>(Bound{std::make_shared<Sink>(std::move(sink)), std::string()})) {}

void Logger::log(Level level, std::string_view msg, Fields fields) const {
  if (!enabled(level) || !*bound_->sink) return;
  std::string line;
  if (format_ == Format::json) {
    line = R"({"ts":")" + timestamp() + R"(","level":")" + to_string(level) + R"(","msg":")" + json_escape(msg) + '"';
    line += bound_->fields;
    for (const Field& f : fields) append_json_field(line, f);
    line += '}';
  } else {
    line = timestamp() + ' ' + to_string(level) + ' ';
    // The message keeps its spaces bare (it is for people) unless something in it needs quotes.
    append_text_value(line, msg, true);
    line += bound_->fields;
    for (const Field& f : fields) append_text_field(line, f);
  }
  (*bound_->sink)(level, line);
}

Logger Logger::with(Fields fields) const {
  Logger copy = *this;
  if (!*bound_->sink) return copy;  // writes nothing: nothing to render
  Bound bound = *bound_;
  for (const Field& f : fields) {
    if (format_ == Format::json) {
      append_json_field(bound.fields, f);
    } else {
      append_text_field(bound.fields, f);
    }
  }
  copy.bound_ = std::make_shared<const Bound>(std::move(bound));
  return copy;
}

Sink stderr_sink() {
  auto mu = std::make_shared<std::mutex>();
  return [mu](Level, std::string_view line) {
    const std::lock_guard lock(*mu);
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fputc('\n', stderr);
    std::fflush(stderr);
  };
}

// One sink shared by every copy: a process of a thousand Electors without a logger made a
// thousand empty sinks (48 bytes each, issue 14). The Logger is immutable, so sharing is safe.
Logger null_logger() {
  static const Logger none(Level::error, Logger::Format::json, Sink{});
  return none;
}

}  // namespace kle::log
