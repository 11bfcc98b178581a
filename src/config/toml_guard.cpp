// findTomlHazard: strings, comments and line-ending backslashes tracked byte by byte.
#include "config/toml_guard.h"

#include <cstdint>

namespace udpx {
namespace {

enum class In : std::uint8_t { Code, Comment, Basic, Literal, MultiBasic, MultiLiteral };

bool nonAscii(char c) noexcept { return static_cast<unsigned char>(c) >= 0x80; }
// A UTF-8 continuation byte does not start a character (columns count characters).
bool continuation(char c) noexcept { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

}  // namespace

std::optional<TomlGuardProblem> findTomlHazard(std::string_view text) {
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
        if (c == '\n') in = In::Code;
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

}  // namespace udpx
