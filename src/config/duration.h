// Human durations in config files: "250ms", "2s", "5m", "1h", "1m30s".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace udpx {

// Parses a duration with units (ms, s, m, h; several may be combined: "1m30s").
// A bare number is rejected: units are required so "2" is never silently 2 ms or 2 s.
std::optional<std::chrono::milliseconds> parseDuration(std::string_view text);

// Formats as the shortest exact form: 2000ms -> "2s", 1500ms -> "1500ms", 90s -> "90s".
std::string formatDuration(std::chrono::milliseconds d);

}  // namespace udpx
