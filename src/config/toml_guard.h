// A lexical pass over a config's text before toml++ parses it, refusing the few inputs on which
// toml++ 3.3 (Debian 12's) reaches undefined behaviour.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"

namespace udpx {

struct TomlGuardProblem {
  SourcePos pos;
  std::string message;
  std::string hint;
};

// NOTE: toml++ 3.3's is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable() for
// most code points in U+00A1..U+0499, U+2D8E..U+3187 and U+FB06..U+FEFE (tomlplusplus issues
// #190 and #295; found again by tests/fuzz/config_fuzz.cpp). It is asked wherever whitespace may
// stand: between tokens, and in a multi-line basic string right after a backslash. TOML allows
// non-ASCII characters only inside strings and comments, so one outside them is an error anyway;
// a non-ASCII character right after a backslash (or after a line-ending backslash's line break and
// indentation) in a """string""" is valid TOML that udpx refuses, with a hint to escape it.
// Comments are never given to toml++ as written: `parse_text` gets the text with every non-ASCII
// character of a # comment replaced by one '_' per byte (lines unchanged; a comment ends its line),
// so "# Zürich office" is fine; invalid UTF-8 and surrogates stay for toml++ to report.
// nullopt: nothing toml++ could trip over in *parse_text (the text may still be invalid TOML).
std::optional<TomlGuardProblem> findTomlHazard(std::string_view text, std::string* parse_text = nullptr);

}  // namespace udpx
