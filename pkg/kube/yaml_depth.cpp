#include "yaml_depth.hpp"

#include <vector>

namespace kle::kube::detail {
namespace {

bool blank(char c) { return c == ' ' || c == '\t' || c == '\r'; }

class DepthScan {
 public:
  DepthScan(std::string_view text, std::size_t max_depth) : t_(text), max_(max_depth) {}

  std::optional<std::size_t> run() {
    while (pos_ < t_.size() && !deep_) line();
    if (deep_) return line_no_;
    return std::nullopt;
  }

 private:
  enum class Kind { seq, map };
  // An open block collection: the column of its entries and how deep it sits.
  struct Level {
    std::size_t col;
    Kind kind;
    std::size_t depth;
    bool open_key;  // its last key has no value on its own line yet ("key:" then "- item")
  };

  [[nodiscard]] char at(std::size_t i) const { return i < t_.size() ? t_[i] : '\0'; }
  [[nodiscard]] bool token_end(std::size_t i) const { return at(i) == '\n' || at(i) == '\0' || blank(at(i)); }
  [[nodiscard]] bool comment_at(std::size_t i) const {
    return t_[i] == '#' && (i == line_start_ || blank(t_[i - 1]));
  }
  [[nodiscard]] std::size_t depth() const { return stack_.empty() ? 0 : stack_.back().depth; }
  void check(std::size_t depth) { deep_ = deep_ || depth > max_; }
  void newline() {  // pos_ is on a '\n'
    ++pos_;
    ++line_no_;
    line_start_ = pos_;
  }
  void skip_to_eol() {
    while (pos_ < t_.size() && t_[pos_] != '\n') ++pos_;
  }

  // A block entry at `col`. The first one on a line may continue a collection opened above.
  void place(std::size_t col, Kind kind, bool first_on_line) {
    if (first_on_line) {
      while (!stack_.empty() && stack_.back().col > col) stack_.pop_back();
      while (!stack_.empty() && stack_.back().col == col) {
        const Level& top = stack_.back();
        if (top.kind == kind) return;  // the next entry of the same collection
        if (top.kind == Kind::map && kind == Kind::seq && top.open_key) break;  // "key:\n- item"
        stack_.pop_back();  // e.g. that sequence ended and its parent mapping goes on
      }
    }
    stack_.push_back(Level{col, kind, depth() + 1, false});
    check(stack_.back().depth);
  }

  void line() {
    while (at(pos_) == ' ') ++pos_;
    bool first = true, expect_node = true, awaiting_value = false;
    std::size_t token_col = 0;
    if (pos_ == line_start_ && (t_.substr(pos_, 3) == "---" || t_.substr(pos_, 3) == "...") && token_end(pos_ + 3)) {
      stack_.clear();  // a document marker
      pos_ += 3;
    }
    while (pos_ < t_.size() && !deep_) {
      const char c = t_[pos_];
      const std::size_t col = pos_ - line_start_;
      if (c == '\n') return newline();
      if (blank(c)) {
        ++pos_;
        continue;
      }
      if (comment_at(pos_)) {
        skip_to_eol();
        continue;
      }
      if (expect_node) {
        if ((c == '-' || c == '?') && token_end(pos_ + 1)) {
          place(col, c == '-' ? Kind::seq : Kind::map, first);
          first = false;
          ++pos_;
          continue;
        }
        if (c == '&' || c == '!') {  // an anchor or a tag: the node follows
          while (!token_end(pos_)) ++pos_;
          continue;
        }
        if (awaiting_value && !stack_.empty()) stack_.back().open_key = false;
        expect_node = false;
        awaiting_value = false;
        token_col = col;
        if (c == '|' || c == '>') return block_scalar();
        if (c == '[' || c == '{') {
          flow();
          continue;
        }
        if (c == '"' || c == '\'') {
          quoted(c);
          continue;
        }
      }
      if (c == ':' && token_end(pos_ + 1)) {  // what came before was a mapping key
        place(token_col, Kind::map, first);
        first = false;
        stack_.back().open_key = true;
        expect_node = awaiting_value = true;
      }
      ++pos_;
    }
  }

  // Skips a "|" or ">" scalar: the rest of this line, then every blank line and every line
  // indented deeper than the entry holding it (the whole rest at the top level).
  void block_scalar() {
    const bool top = stack_.empty();
    const std::size_t parent = top ? 0 : stack_.back().col;
    skip_to_eol();
    while (pos_ < t_.size()) {
      newline();
      std::size_t indent = 0;
      while (at(pos_ + indent) == ' ') ++indent;
      std::size_t i = pos_ + indent;
      while (blank(at(i))) ++i;
      const bool empty_line = at(i) == '\n' || at(i) == '\0';
      if (!top && !empty_line && indent <= parent) return;  // pos_ is at the next line's start
      skip_to_eol();
    }
  }

  // Skips a "[...]" or "{...}" (it may span lines), counting its nesting.
  void flow() {
    const std::size_t base = depth();
    std::size_t nested = 0;
    bool token_start = true;
    while (pos_ < t_.size() && !deep_) {
      const char c = t_[pos_];
      if (c == '\n') {
        newline();
      } else if (blank(c)) {
        ++pos_;
      } else if (comment_at(pos_)) {
        skip_to_eol();
      } else if ((c == '"' || c == '\'') && token_start) {
        quoted(c);
        token_start = false;
      } else {
        ++pos_;
        // Inside a flow collection these are always indicators (plain scalars can't hold them).
        if (c == '[' || c == '{') check(base + ++nested);
        if ((c == ']' || c == '}') && --nested == 0) return;
        token_start = c == '[' || c == '{' || c == ',' || c == ':';
      }
    }
  }

  // Skips a quoted scalar (it may span lines); pos_ is on the opening quote.
  void quoted(char q) {
    ++pos_;
    while (pos_ < t_.size()) {
      const char c = t_[pos_];
      if (c == '\n') {
        newline();
      } else if (q == '"' && c == '\\') {
        ++pos_;  // the escaped character is skipped below (a line break is counted)
        if (at(pos_) == '\n') newline();
        else if (pos_ < t_.size()) ++pos_;
      } else if (c == q && q == '\'' && at(pos_ + 1) == '\'') {
        pos_ += 2;  // '' is an escaped quote
      } else {
        ++pos_;
        if (c == q) return;
      }
    }
  }

  std::string_view t_;
  std::size_t max_;
  std::size_t pos_ = 0;
  std::size_t line_no_ = 1;
  std::size_t line_start_ = 0;
  bool deep_ = false;
  std::vector<Level> stack_;
};

}  // namespace

std::optional<std::size_t> yaml_too_deep(std::string_view text, std::size_t max_depth) {
  return DepthScan(text, max_depth).run();
}

}  // namespace kle::kube::detail
