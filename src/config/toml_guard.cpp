// findTomlHazard: strings, comments and line-ending backslashes tracked byte by byte.
#include "config/toml_guard.h"

#include <cstdint>
#include <cstdio>

namespace udpx {
namespace {

enum class In : std::uint8_t { Code, Comment, Basic, Literal, MultiBasic, MultiLiteral };

bool nonAscii(char c) noexcept { return static_cast<unsigned char>(c) >= 0x80; }
// A UTF-8 continuation byte does not start a character (columns count characters).
bool continuation(char c) noexcept { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// The code point whose UTF-8 sequence starts at text[i] (0 when it is not a valid lead byte).
char32_t decode(std::string_view text, std::size_t i) noexcept {
  const auto b = [&](std::size_t k) { return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0u; };
  const unsigned c = b(0);
  if (c < 0xC0) return 0;
  if (c < 0xE0) return static_cast<char32_t>(((c & 0x1Fu) << 6) | (b(1) & 0x3Fu));
  if (c < 0xF0) return static_cast<char32_t>(((c & 0x0Fu) << 12) | ((b(1) & 0x3Fu) << 6) | (b(2) & 0x3Fu));
  return static_cast<char32_t>(((c & 0x07u) << 18) | ((b(1) & 0x3Fu) << 12) | ((b(2) & 0x3Fu) << 6) | (b(3) & 0x3Fu));
}

// The code points on which toml++ 3.3's whitespace test is undefined (its lookup's blocks 0, 11
// and 63 of 0x3FA code points from U+00A0, but for the three it names as whitespace).
bool unsafeForToml(char32_t c) noexcept {
  if (c < 0xA0 || c > 0xFEFF || c == 0xA0 || c == 0x3000 || c == 0xFEFF) return false;
  const auto block = (static_cast<std::uint32_t>(c) - 0xA0u) / 0x3FAu;
  return block == 0 || block == 11 || block == 63;
}

// The length of the well-formed UTF-8 sequence of one scalar value (no surrogate, not overlong)
// starting at text[i], or 0.
std::size_t wellFormedLength(std::string_view text, std::size_t i) noexcept {
  const auto lead = static_cast<unsigned char>(text[i]);
  const std::size_t n = lead >= 0xC2 && lead <= 0xDF ? 2 : lead >= 0xE0 && lead <= 0xEF ? 3 : lead >= 0xF0 && lead <= 0xF4 ? 4 : 0;
  if (n == 0 || i + n > text.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if (!continuation(text[i + k])) return 0;
  }
  const char32_t c = decode(text, i);
  const char32_t least = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
  if (c < least || (c >= 0xD800 && c <= 0xDFFF) || c > 0x10FFFF) return 0;
  return n;
}

// The first code point toml++ cannot test, wherever it stands.
std::optional<TomlGuardProblem> firstUnsafe(std::string_view text) {
  // NOTE: toml++ looks ahead past where a lexer of valid TOML would see a string start (the long
  // config fuzz run found `t = 5   -   "…ж…"`), so those code points are refused everywhere but
  // in comments, which toml++ is never given (see findTomlHazard).
  {
    SourcePos at{1, 0};
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (!continuation(text[i])) ++at.col;
      if (text[i] == '\n') {
        ++at.line;
        at.col = 0;
      }
      if (const char32_t c = decode(text, i); unsafeForToml(c)) {
        char code[16];
        std::snprintf(code, sizeof code, "U+%04X", static_cast<unsigned>(c));
        return TomlGuardProblem{at, std::string("the character ") + code + " cannot be read safely by the TOML parser udpx is built with (toml++ 3.3)",
                                "in a string write it as \\u" + std::string(code + 2) +
                                    "; in a comment or elsewhere use ASCII"};
      }
    }
  }
  return std::nullopt;
}

// Strings, comments and line-ending backslashes byte by byte: the non-ASCII characters TOML
// refuses or toml++ cannot take; `masked` (the same text) gets the comments' characters masked.
std::optional<TomlGuardProblem> lex(std::string_view text, std::string& masked) {
  In in = In::Code;
  SourcePos pos{1, 0};
  // In a multi-line basic string: after a backslash (1), or skipping a line-ending backslash's
  // whitespace and line breaks (2).
  int after_backslash = 0;
  const auto starts = [&](std::size_t i, std::string_view s) { return text.substr(i, s.size()) == s; };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!continuation(c)) ++pos.col;
    if (c == '\n') {
      ++pos.line;
      pos.col = 0;
    }
    switch (in) {
      case In::Code:
        if (nonAscii(c)) {
          return TomlGuardProblem{pos, "a non-ASCII character outside a string or comment",
                                  "TOML allows them only in \"quoted\" keys and values and in # comments"};
        }
        if (c == '#') {
          in = In::Comment;
        } else if (starts(i, "\"\"\"")) {
          in = In::MultiBasic;
          i += 2;
          pos.col += 2;
        } else if (starts(i, "'''")) {
          in = In::MultiLiteral;
          i += 2;
          pos.col += 2;
        } else if (c == '"') {
          in = In::Basic;
        } else if (c == '\'') {
          in = In::Literal;
        }
        break;
      case In::Comment:
        if (c == '\n') {
          in = In::Code;
        } else if (nonAscii(c) && !continuation(c)) {
          // Invalid UTF-8 and surrogates stay, for toml++ to report.
          const std::size_t n = wellFormedLength(text, i);
          for (std::size_t k = 0; k < n; ++k) masked[i + k] = '_';
        }
        break;
      case In::Basic:
        if (c == '\\' && i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\\')) {
          ++i;
          ++pos.col;
        } else if (c == '"' || c == '\n') {
          in = In::Code;
        }
        break;
      case In::Literal:
        if (c == '\'' || c == '\n') in = In::Code;
        break;
      case In::MultiLiteral:
        if (starts(i, "'''")) {
          // Up to two more quotes belong to the string ('''a''''' is "a''").
          std::size_t n = 3;
          while (n < 5 && starts(i + n, "'")) ++n;
          i += n - 1;
          pos.col += static_cast<std::uint32_t>(n - 1);
          in = In::Code;
        }
        break;
      case In::MultiBasic:
        if (after_backslash != 0) {
          if (nonAscii(c)) {
            return TomlGuardProblem{pos, "a non-ASCII character right after a backslash in a \"\"\"string\"\"\"",
                                    "udpx's TOML parser cannot read it safely there: write it as \\uXXXX, or put "
                                    "an ASCII character before it"};
          }
          if (after_backslash == 1 && c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            after_backslash = 0;  // an escape (\n, \u...): the string goes on
            break;
          }
          after_backslash = 2;
          if (c == ' ' || c == '\t' || c == '\n' || c == '\r') break;
          after_backslash = 0;
        }
        if (c == '\\') {
          after_backslash = 1;
        } else if (starts(i, "\"\"\"")) {
          std::size_t n = 3;
          while (n < 5 && starts(i + n, "\"")) ++n;
          i += n - 1;
          pos.col += static_cast<std::uint32_t>(n - 1);
          in = In::Code;
        }
        break;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<TomlGuardProblem> findTomlHazard(std::string_view text, std::string* parse_text) {
  std::string masked(text);
  const std::optional<TomlGuardProblem> structural = lex(text, masked);
  if (auto unsafe = firstUnsafe(masked)) return unsafe;
  if (structural) return structural;
  if (parse_text != nullptr) *parse_text = std::move(masked);
  return std::nullopt;
}

}  // namespace udpx
