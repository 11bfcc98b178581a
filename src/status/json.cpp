// JSON quoting and a recursive-descent parser (objects, arrays, strings with escapes,
// numbers, true/false/null), bounded in depth.
#include "status/json.h"

#include <cstdio>
#include <cstdlib>

namespace udpx::json {
namespace {

constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(std::string_view t) : t_(t) {}

  std::optional<Value> document(std::string& error) {
    Value v;
    if (!value(v, 0)) {
      error = why_ + " at byte " + std::to_string(at_);
      return std::nullopt;
    }
    skip();
    if (at_ != t_.size()) {
      error = "unexpected text after the document at byte " + std::to_string(at_);
      return std::nullopt;
    }
    return v;
  }

 private:
  void skip() {
    while (at_ < t_.size() && (t_[at_] == ' ' || t_[at_] == '\n' || t_[at_] == '\r' || t_[at_] == '\t')) ++at_;
  }
  bool fail(const char* why) {
    why_ = why;
    return false;
  }
  bool literal(std::string_view word) {
    if (t_.substr(at_, word.size()) != word) return fail("unknown literal");
    at_ += word.size();
    return true;
  }

  bool value(Value& v, int depth) {
    if (depth > kMaxDepth) return fail("nested too deeply");
    skip();
    if (at_ >= t_.size()) return fail("unexpected end");
    const char c = t_[at_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') {
      v.type = Value::Type::String;
      return string(v.string);
    }
    if (c == 't') {
      v.type = Value::Type::Bool;
      v.boolean = true;
      return literal("true");
    }
    if (c == 'f') {
      v.type = Value::Type::Bool;
      return literal("false");
    }
    if (c == 'n') return literal("null");
    return number(v);
  }

  bool number(Value& v) {
    const std::size_t start = at_;
    while (at_ < t_.size() && (std::string_view("+-0123456789.eE").find(t_[at_]) != std::string_view::npos)) ++at_;
    if (at_ == start) return fail("expected a value");
    const std::string text(t_.substr(start, at_ - start));
    char* end = nullptr;
    v.number = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) return fail("bad number");
    v.type = Value::Type::Number;
    return true;
  }

  static void utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  bool string(std::string& out) {
    ++at_;  // the opening quote
    while (at_ < t_.size()) {
      const char c = t_[at_++];
      if (c == '"') return true;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= t_.size()) break;
      const char e = t_[at_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          if (at_ + 4 > t_.size()) return fail("short \\u escape");
          const std::string hex(t_.substr(at_, 4));
          char* end = nullptr;
          const unsigned long cp = std::strtoul(hex.c_str(), &end, 16);
          if (end != hex.c_str() + 4) return fail("bad \\u escape");
          at_ += 4;
          utf8(out, static_cast<unsigned>(cp));
          break;
        }
        default: return fail("bad escape");
      }
    }
    return fail("unterminated string");
  }

  bool array(Value& v, int depth) {
    v.type = Value::Type::Array;
    ++at_;
    skip();
    if (at_ < t_.size() && t_[at_] == ']') {
      ++at_;
      return true;
    }
    while (true) {
      v.array.emplace_back();
      if (!value(v.array.back(), depth + 1)) return false;
      skip();
      if (at_ < t_.size() && t_[at_] == ',') {
        ++at_;
        continue;
      }
      if (at_ < t_.size() && t_[at_] == ']') {
        ++at_;
        return true;
      }
      return fail("expected ',' or ']'");
    }
  }

  bool object(Value& v, int depth) {
    v.type = Value::Type::Object;
    ++at_;
    skip();
    if (at_ < t_.size() && t_[at_] == '}') {
      ++at_;
      return true;
    }
    while (true) {
      skip();
      if (at_ >= t_.size() || t_[at_] != '"') return fail("expected a member name");
      std::string key;
      if (!string(key)) return false;
      skip();
      if (at_ >= t_.size() || t_[at_] != ':') return fail("expected ':'");
      ++at_;
      v.object.emplace_back(std::move(key), Value{});
      if (!value(v.object.back().second, depth + 1)) return false;
      skip();
      if (at_ < t_.size() && t_[at_] == ',') {
        ++at_;
        continue;
      }
      if (at_ < t_.size() && t_[at_] == '}') {
        ++at_;
        return true;
      }
      return fail("expected ',' or '}'");
    }
  }

  std::string_view t_;
  std::size_t at_ = 0;
  std::string why_;
};

const Value kNull{};

}  // namespace

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

Value::Value() = default;
Value::~Value() = default;
Value::Value(const Value&) = default;
Value::Value(Value&&) noexcept = default;
Value& Value::operator=(const Value&) = default;
Value& Value::operator=(Value&&) noexcept = default;

const Value& Value::operator[](std::string_view key) const noexcept {
  if (type != Type::Object) return kNull;
  for (const auto& [k, v] : object) {
    if (k == key) return v;
  }
  return kNull;
}

std::optional<Value> parse(std::string_view text, std::string& error) { return Parser(text).document(error); }

}  // namespace udpx::json
