// Counter: the declaration of one counter of a plain stats struct — the member that holds it
// and its names in the status JSON and in /metrics. Exporters iterate these lists; nothing
// else spells a counter's name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace udpx {

template <class Stats>
struct Counter {
  std::uint64_t Stats::*member;
  // Where the JSON object of the counted thing holds it: "received", or "sessions.created"
  // for a member of its sub-object "sessions".
  std::string_view json;
  // Its Prometheus family (type counter, so the name ends in _total) and that family's HELP.
  // Several counters may share a family, told apart by one label: {label="value"}.
  std::string_view metric;
  std::string_view help;
  std::string_view label = {};
  std::string_view value = {};

  // The sub-object of `json` ("sessions", or "" for none) and the key within it ("created").
  constexpr std::string_view group() const noexcept {
    const std::size_t dot = json.find('.');
    return dot == std::string_view::npos ? std::string_view{} : json.substr(0, dot);
  }
  constexpr std::string_view key() const noexcept {
    const std::size_t dot = json.find('.');
    return dot == std::string_view::npos ? json : json.substr(dot + 1);
  }
};

// An array of counters indexed by an enum (drops by reason): one JSON object keyed by the
// enum's names, one Prometheus family with the name in `label`.
struct CounterArray {
  std::string_view json;
  std::string_view metric;
  std::string_view help;
  std::string_view label;
};

}  // namespace udpx
